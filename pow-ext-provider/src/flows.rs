//! The provider's flows, one per action, without any framework type: checking an
//! authorization request, answering it (consent remembered, a code issued), the token
//! grants, userinfo, revocation and introspection. The consent page, its JSON answer and
//! the protocol endpoints render what these decide.

use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenClaims};
use openidconnect::{
    AccessToken, Audience, EmptyAdditionalClaims, EndUserEmail, IssuerUrl, Nonce, StandardClaims,
    SubjectIdentifier,
};
use pow_core::audit::{self, AuditEvent};
use pow_core::pages::routes::QueryParams;
use pow_core::session::CurrentSession;
use pow_core::store::OneTimeSecrets;
use pow_core::users::User;
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::clients::{ClientRegistration, GrantType};
use crate::consents::Consents;
use crate::tokens::{CodeRecord, Issued, Taken, Tokens};
use crate::{events, keys, Provider};

/// How long a consent page's request is kept for its answer: 10 minutes.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// The longest `state` or `nonce` kept (a client's value longer than this is refused).
const MAX_VALUE_LEN: usize = 512;

/// A checked authorization request, kept while the consent page waits for its answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The client's name, as the consent page shows it.
    #[serde(default)]
    pub client_name: String,
    /// For a client known by its metadata document, the host serving it: the consent page
    /// names it, since the name is the client's own claim.
    #[serde(default)]
    pub client_host: Option<String>,
    /// The client registered itself (RFC 7591): the consent page says its name is its own
    /// claim.
    #[serde(default)]
    pub unverified: bool,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// The scopes asked for (known, allowed to the client), in order, once each.
    pub scopes: Vec<String>,
    /// The client's `state`.
    pub state: Option<String>,
    /// The client's `nonce`.
    pub nonce: Option<String>,
    /// The PKCE `code_challenge` (S256).
    pub challenge: String,
    /// The resource the tokens are for (`resource`, RFC 8707).
    #[serde(default)]
    pub resource: Option<String>,
    /// `prompt=none`: answer without any page.
    pub no_prompt: bool,
    /// `prompt=consent`: ask again even with a consent remembered.
    pub ask_consent: bool,
    /// `prompt=login`: the user proves who they are again first.
    pub reauthenticate: bool,
    /// `max_age`: the longest time since the user last proved who they are, in seconds.
    pub max_age: Option<u64>,
    /// The first of `acr_values` the provider knows: the session must meet its step-up
    /// rule ([`Provider::acr_value`]).
    #[serde(default)]
    pub acr: Option<String>,
    /// The user who may answer (set when the consent page is shown).
    pub user_id: Option<i64>,
    /// The session that may answer.
    pub session_id: Option<String>,
}

/// Why an authorization request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No such client, or a redirect URI it did not register: answered on a page of
    /// ours, never by a redirect (where to would be the attacker's choice).
    Here(&'static str),
    /// Answered at the client's redirect URI with an OAuth error code.
    There {
        /// The redirect URI, checked.
        redirect_uri: String,
        /// The error code (`invalid_request`, `invalid_scope`, ...).
        error: &'static str,
        /// What was wrong.
        description: &'static str,
        /// The client's `state`.
        state: Option<String>,
    },
}

/// The client the query of `GET /oauth/authorize` names, registered or known by its
/// metadata document.
///
/// # Errors
/// The store's.
pub async fn requested_client(
    config: &PowConfig,
    provider: &Provider,
    query: &QueryParams,
) -> Result<Option<ClientRegistration>, PowError> {
    match query.get("client_id").filter(|id| !id.is_empty()) {
        Some(id) => crate::clients::resolve(config, provider, id).await,
        None => Ok(None),
    }
}

/// Checks the query of `GET /oauth/authorize` from `client` (what
/// [`requested_client`] found).
pub fn check_request(
    provider: &Provider,
    client: Option<&ClientRegistration>,
    query: &QueryParams,
) -> Result<AuthorizationRequest, Refused> {
    let get = |name: &str| query.get(name).filter(|value| !value.is_empty());
    let Some(client) = client else {
        return Err(Refused::Here("pow_provider_unknown_client"));
    };
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(Refused::Here("pow_provider_unknown_client"));
    }
    let redirect_uri = match get("redirect_uri") {
        Some(uri) if client.redirect_matches(uri) => uri.to_owned(),
        Some(_) => return Err(Refused::Here("pow_provider_bad_redirect")),
        None => match client.redirect_uris() {
            [only] if !only.starts_with("http://") => only.clone(),
            _ => return Err(Refused::Here("pow_provider_bad_redirect")),
        },
    };
    let state = get("state").map(str::to_owned);
    let there = |error, description| Refused::There {
        redirect_uri: redirect_uri.clone(),
        error,
        description,
        state: state.clone(),
    };
    if state
        .as_ref()
        .is_some_and(|state| state.len() > MAX_VALUE_LEN)
    {
        return Err(there("invalid_request", "state is too long"));
    }
    if get("response_type") != Some("code") {
        return Err(there(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if get("request").is_some() || get("request_uri").is_some() {
        return Err(there(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    let Some(challenge) = get("code_challenge") else {
        return Err(there(
            "invalid_request",
            "code_challenge (PKCE, S256) is required",
        ));
    };
    if get("code_challenge_method") != Some("S256") {
        return Err(there(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(there(
            "invalid_request",
            "code_challenge is not a S256 challenge",
        ));
    }
    let Some(scopes) = checked_scopes(provider, client, get("scope").unwrap_or_default()) else {
        return Err(there(
            "invalid_scope",
            "a scope asked for is unknown or not allowed",
        ));
    };
    let mut named = query
        .0
        .iter()
        .filter(|(name, _)| name == "resource")
        .map(|(_, value)| value);
    let resource = match (named.next(), named.next()) {
        (None, _) => None,
        (Some(uri), None) if client.may_use_resource(provider, uri) => Some(uri.clone()),
        (Some(uri), None) if provider.find_resource(uri).is_some() => {
            return Err(there(
                "invalid_target",
                "the client may not get tokens for this resource",
            ))
        }
        _ => {
            return Err(there(
                "invalid_target",
                "resource is not one this provider serves, or more than one",
            ))
        }
    };
    let nonce = get("nonce").map(str::to_owned);
    if nonce
        .as_ref()
        .is_some_and(|nonce| nonce.len() > MAX_VALUE_LEN)
    {
        return Err(there("invalid_request", "nonce is too long"));
    }
    let prompts: Vec<&str> = get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompts
        .iter()
        .any(|p| !["none", "login", "consent", "select_account"].contains(p))
    {
        return Err(there("invalid_request", "unknown prompt value"));
    }
    let no_prompt = prompts.contains(&"none");
    if no_prompt && prompts.len() > 1 {
        return Err(there("invalid_request", "prompt=none goes alone"));
    }
    let max_age = match get("max_age") {
        Some(age) => Some(
            age.parse::<u64>()
                .map_err(|_| there("invalid_request", "max_age is not a number"))?,
        ),
        None => None,
    };
    // `acr_values` is a preference list: the first one the provider maps to a rule.
    let acr = get("acr_values").and_then(|values| {
        values
            .split(' ')
            .find(|value| provider.acr_rule(value).is_some())
            .map(str::to_owned)
    });
    let client_host = client
        .is_metadata_document()
        .then(|| {
            url::Url::parse(client.id())
                .ok()?
                .host_str()
                .map(str::to_owned)
        })
        .flatten();
    Ok(AuthorizationRequest {
        client_id: client.id().to_owned(),
        client_name: client.display_name().to_owned(),
        client_host,
        unverified: client.is_dynamic(),
        redirect_uri,
        scopes,
        state,
        nonce,
        challenge: challenge.to_owned(),
        resource,
        no_prompt,
        // A client that registered itself is asked about every time: nobody vouched for it.
        ask_consent: prompts.contains(&"consent") || client.is_dynamic(),
        reauthenticate: prompts.contains(&"login"),
        max_age,
        acr,
        user_id: None,
        session_id: None,
    })
}

/// The scopes of `scope` (space-separated), once each in order, when the provider offers
/// each and the client may ask for it.
pub(crate) fn checked_scopes(
    provider: &Provider,
    client: &ClientRegistration,
    scope: &str,
) -> Option<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in scope.split(' ').filter(|s| !s.is_empty()) {
        if !provider.offered_scopes().iter().any(|have| have == scope)
            || !client.allows_scope(scope)
        {
            return None;
        }
        if !scopes.iter().any(|have| have == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Some(scopes)
}

/// The answer at the client's redirect URI: `params` with `state` and `iss` (RFC 9207).
pub fn redirect_with(
    provider: &Provider,
    config: &PowConfig,
    redirect_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &provider.issuer_of(config));
    }
    url.to_string()
}

/// The error answer of `refused` at the client's redirect URI.
pub fn error_redirect(
    provider: &Provider,
    config: &PowConfig,
    request: &AuthorizationRequest,
    error: &str,
) -> String {
    redirect_with(
        provider,
        config,
        &request.redirect_uri,
        request.state.as_deref(),
        &[("error", error)],
    )
}

/// What the authorization endpoint does next for a signed-in user.
#[derive(Debug)]
pub enum Next {
    /// Show the consent page for the request kept under `pending`.
    Consent {
        /// The id of the kept request, which the page posts back.
        pending: String,
        /// The request.
        request: AuthorizationRequest,
    },
    /// Back to the client with this URL (a code, or an error).
    Redirect(String),
}

/// When `current`'s user last proved who they are (seconds since the epoch): the last
/// password proof, else the sign-in (the session's times are in milliseconds).
pub(crate) fn auth_time(current: &CurrentSession) -> i64 {
    current
        .metadata
        .authenticated_at
        .unwrap_or(current.metadata.signed_in_at)
        / 1000
}

/// How recent a proof `prompt=login` asks for: one made for this request, on the
/// confirmation page it was sent to (so coming back with the same request goes on).
const LOGIN_PROMPT_WINDOW: u64 = 120;

/// Whether `current` is fresh enough for `request` (`max_age`, `prompt=login`).
pub fn fresh_enough(
    config: &PowConfig,
    request: &AuthorizationRequest,
    current: &CurrentSession,
) -> bool {
    let age = config.clock().now_secs().saturating_sub(auth_time(current));
    let within = |max: u64| age <= i64::try_from(max).unwrap_or(i64::MAX);
    let max_age = match request.reauthenticate {
        true => Some(
            request
                .max_age
                .map_or(LOGIN_PROMPT_WINDOW, |age| age.min(LOGIN_PROMPT_WINDOW)),
        ),
        false => request.max_age,
    };
    !current.metadata.is_impersonation() && max_age.is_none_or(within)
}

/// The next step of `request` for the signed-in `current`: a code at once when the user
/// consented to these scopes before (and `prompt=consent` is not asked), else the consent
/// page (or `consent_required` with `prompt=none`).
pub async fn decide(
    config: &PowConfig,
    provider: &Provider,
    current: &CurrentSession,
    mut request: AuthorizationRequest,
) -> Result<Next, PowError> {
    let consented = Consents::new(config)?
        .get(current.user.id, &request.client_id)
        .await?
        .is_some_and(|consent| consent.covers(&request.scopes, request.resource.as_deref()));
    if consented && !request.ask_consent {
        return issue_code(config, provider, current, &request)
            .await
            .map(Next::Redirect);
    }
    if request.no_prompt {
        return Ok(Next::Redirect(error_redirect(
            provider,
            config,
            &request,
            "consent_required",
        )));
    }
    request.user_id = Some(current.user.id);
    request.session_id = Some(current.session_id.clone());
    let pending = crate::tokens::secret("");
    pending_requests(config).put(&pending, &request).await?;
    Ok(Next::Consent { pending, request })
}

/// The kept requests awaiting an answer on the consent page.
fn pending_requests(config: &PowConfig) -> OneTimeSecrets {
    OneTimeSecrets::new(config, "pow_provider", "pending", PENDING_TTL)
}

/// The consent page's answer: `allow` or not, for the request kept under `pending`.
/// `None` when there is no such request for this session (answered, expired, another
/// session's): the page says so and nothing reaches the client.
pub async fn answer(
    config: &PowConfig,
    provider: &Provider,
    current: &CurrentSession,
    pending: &str,
    allow: bool,
) -> Result<Option<String>, PowError> {
    let requests = pending_requests(config);
    let Some(request) = requests.get::<AuthorizationRequest>(pending).await? else {
        return Ok(None);
    };
    if request.user_id != Some(current.user.id)
        || request.session_id.as_deref() != Some(current.session_id.as_str())
    {
        return Ok(None);
    }
    if requests
        .take::<AuthorizationRequest>(pending)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    if !allow {
        audit::record(
            config,
            AuditEvent::new(events::DENIED)
                .user(current.user.id)
                .detail("client", request.client_id.clone()),
        );
        return Ok(Some(error_redirect(
            provider,
            config,
            &request,
            "access_denied",
        )));
    }
    Consents::new(config)?
        .grant(
            current.user.id,
            &request.client_id,
            &request.scopes,
            request.resource.as_deref(),
        )
        .await?;
    audit::record(
        config,
        AuditEvent::new(events::CONSENTED)
            .user(current.user.id)
            .detail("client", request.client_id.clone())
            .detail("scopes", request.scopes.join(" ")),
    );
    issue_code(config, provider, current, &request)
        .await
        .map(Some)
}

/// Issues a code for `request` and answers the redirect carrying it.
async fn issue_code(
    config: &PowConfig,
    provider: &Provider,
    current: &CurrentSession,
    request: &AuthorizationRequest,
) -> Result<String, PowError> {
    let record = CodeRecord {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        user_id: current.user.id,
        scopes: request.scopes.clone(),
        nonce: request.nonce.clone(),
        challenge: request.challenge.clone(),
        resource: request.resource.clone(),
        auth_time: auth_time(current),
        // Only what the authorization endpoint checked the session meets.
        acr: request.acr.clone(),
        amr: current
            .metadata
            .methods
            .iter()
            .map(|used| used.method.as_str().to_owned())
            .collect(),
        family: String::new(),
    };
    let code = Tokens::new(config, provider).put_code(record).await?;
    Ok(redirect_with(
        provider,
        config,
        &request.redirect_uri,
        request.state.as_deref(),
        &[("code", &code)],
    ))
}

/// An OAuth error answer of the token, revocation or introspection endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The status (`400`, or `401` for `invalid_client`).
    pub status: u16,
    /// The error code.
    pub error: &'static str,
    /// What was wrong.
    pub description: &'static str,
}

impl OAuthError {
    pub(crate) fn new(error: &'static str, description: &'static str) -> Self {
        let status = if error == "invalid_client" { 401 } else { 400 };
        Self {
            status,
            error,
            description,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

/// The token endpoint's answer.
pub type TokenAnswer = Result<Value, OAuthError>;

/// The value of form field `name`, when it is there exactly once.
pub(crate) fn field<'a>(
    form: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, OAuthError> {
    let mut found = form
        .iter()
        .filter(|(have, _)| have == name)
        .map(|(_, v)| v.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(OAuthError::new(
            "invalid_request",
            "a parameter is repeated",
        ));
    }
    Ok(first.filter(|value| !value.is_empty()))
}

/// `POST /oauth/token`: the client authenticated, then its grant.
pub async fn token(
    config: &PowConfig,
    provider: &Provider,
    authorization: Option<&str>,
    form: &[(String, String)],
) -> Result<TokenAnswer, PowError> {
    let Some(client) = crate::clients::authenticate(config, provider, authorization, form).await?
    else {
        return Ok(Err(OAuthError::new(
            "invalid_client",
            "client authentication failed",
        )));
    };
    let client = &client;
    let grant = match field(form, "grant_type") {
        Ok(grant) => grant,
        Err(err) => return Ok(Err(err)),
    };
    let allowed = |grant| client.allows_grant(grant);
    let unauthorized = || {
        Ok(Err(OAuthError::new(
            "unauthorized_client",
            "the client may not use this grant",
        )))
    };
    match grant {
        Some("authorization_code") if !allowed(GrantType::AuthorizationCode) => unauthorized(),
        Some("authorization_code") => code_grant(config, provider, client, form).await,
        Some("refresh_token") => refresh_grant(config, provider, client, form).await,
        Some("client_credentials") if !allowed(GrantType::ClientCredentials) => unauthorized(),
        Some("client_credentials") => client_credentials(config, provider, client, form).await,
        Some(crate::device::GRANT_TYPE) if !allowed(GrantType::DeviceCode) => unauthorized(),
        Some(crate::device::GRANT_TYPE) => {
            crate::device::poll(config, provider, client, form).await
        }
        _ => Ok(Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type is not supported",
        ))),
    }
}

/// The `authorization_code` grant.
async fn code_grant(
    config: &PowConfig,
    provider: &Provider,
    client: &ClientRegistration,
    form: &[(String, String)],
) -> Result<TokenAnswer, PowError> {
    let fields = (|| {
        Ok::<_, OAuthError>((
            field(form, "code")?,
            field(form, "redirect_uri")?,
            field(form, "code_verifier")?,
        ))
    })();
    let (code, redirect_uri, verifier) = match fields {
        Ok((Some(code), redirect_uri, Some(verifier))) => (code, redirect_uri, verifier),
        Ok(_) => {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "code and code_verifier are required",
            )))
        }
        Err(err) => return Ok(Err(err)),
    };
    let tokens = Tokens::new(config, provider);
    let invalid = || {
        Ok(Err(OAuthError::new(
            "invalid_grant",
            "the code is invalid, expired, or was used",
        )))
    };
    let record = match tokens.redeem(code).await? {
        Taken::Fresh(record) => record,
        Taken::Reused => {
            audit::record(
                config,
                AuditEvent::new(events::REUSE_DETECTED)
                    .detail("client", client.id().to_owned())
                    .detail("reason", "code"),
            );
            return invalid();
        }
        Taken::Unknown => return invalid(),
    };
    // Taken now: a request that fails these checks used the code up all the same.
    let target = match field(form, "resource") {
        Ok(target) => target,
        Err(err) => return Ok(Err(err)),
    };
    if target.is_some_and(|uri| record.resource.as_deref() != Some(uri)) {
        return Ok(Err(OAuthError::new(
            "invalid_target",
            "resource is not the one authorized",
        )));
    }
    if record.client_id == client.id()
        && !resource_still_allowed(provider, client, &record.resource)
    {
        return Ok(Err(not_for_client()));
    }
    if record.client_id != client.id()
        || redirect_uri.is_some_and(|uri| uri != record.redirect_uri)
        || !pkce_matches(verifier, &record.challenge)
    {
        return invalid();
    }
    let offline = record.scopes.iter().any(|scope| scope == "offline_access");
    let issued = match tokens
        .issue_for_code(provider, code, &record, offline)
        .await?
    {
        Taken::Fresh(issued) => issued,
        _ => return invalid(),
    };
    audit::record(
        config,
        AuditEvent::new(events::TOKENS_ISSUED)
            .user(record.user_id)
            .detail("client", client.id().to_owned()),
    );
    token_answer(config, provider, &issued, record.nonce.as_deref()).await
}

/// The `client_credentials` grant: a confidential client acting for itself, with no user
/// and at most the scopes it was given (never `openid` or `offline_access`), no refresh
/// token.
async fn client_credentials(
    config: &PowConfig,
    provider: &Provider,
    client: &ClientRegistration,
    form: &[(String, String)],
) -> Result<TokenAnswer, PowError> {
    let (scope, resource) = match (field(form, "scope"), field(form, "resource")) {
        (Ok(scope), Ok(resource)) => (scope, resource),
        (Err(err), _) | (_, Err(err)) => return Ok(Err(err)),
    };
    let scopes = match scope {
        Some(scope) => checked_scopes(provider, client, scope),
        None => Some(client.given_scopes()),
    };
    let user_scope = |scopes: &[String]| {
        scopes
            .iter()
            .any(|s| s == "openid" || s == "offline_access")
    };
    let Some(scopes) = scopes.filter(|scopes| !user_scope(scopes)) else {
        return Ok(Err(OAuthError::new(
            "invalid_scope",
            "a scope asked for is unknown, not given to the client, or needs a user",
        )));
    };
    if let Some(refused) = resource.and_then(|uri| refused_target(provider, client, uri)) {
        return Ok(Err(refused));
    }
    let family = crate::tokens::Family {
        client_id: client.id().to_owned(),
        user_id: None,
        scopes,
        resource: resource.map(str::to_owned),
        auth_time: config.clock().now_secs(),
        acr: None,
        amr: Vec::new(),
    };
    let issued = match Tokens::new(config, provider)
        .issue_new(provider, family, false)
        .await?
    {
        Taken::Fresh(issued) => issued,
        _ => return Ok(Err(OAuthError::new("invalid_grant", "no tokens"))),
    };
    audit::record(
        config,
        AuditEvent::new(events::TOKENS_ISSUED)
            .detail("client", client.id().to_owned())
            .detail("grant", "client_credentials"),
    );
    token_answer(config, provider, &issued, None).await
}

/// The `refresh_token` grant: the token rotates; a reused one ends its family.
async fn refresh_grant(
    config: &PowConfig,
    provider: &Provider,
    client: &ClientRegistration,
    form: &[(String, String)],
) -> Result<TokenAnswer, PowError> {
    let token = match field(form, "refresh_token") {
        Ok(Some(token)) => token,
        Ok(None) => {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "refresh_token is required",
            )))
        }
        Err(err) => return Ok(Err(err)),
    };
    let invalid = || {
        Ok(Err(OAuthError::new(
            "invalid_grant",
            "the refresh token is invalid, expired, or was used",
        )))
    };
    let tokens = Tokens::new(config, provider);
    let target = match field(form, "resource") {
        Ok(target) => target,
        Err(err) => return Ok(Err(err)),
    };
    let family = match tokens.refresh_family(token).await? {
        Some(id) => tokens.family(&id).await?,
        None => None,
    };
    // Only the holder learns about its family; anyone else is answered by the rotation.
    if let Some(family) = family.filter(|family| family.client_id == client.id()) {
        if target.is_some_and(|uri| family.resource.as_deref() != Some(uri)) {
            return Ok(Err(OAuthError::new(
                "invalid_target",
                "resource is not the one authorized",
            )));
        }
        // A resource taken off the client's list since: no new token for it.
        if !resource_still_allowed(provider, client, &family.resource) {
            return Ok(Err(not_for_client()));
        }
    }
    match tokens.rotate(provider, token, client.id()).await? {
        Taken::Fresh(issued) => token_answer(config, provider, &issued, None).await,
        Taken::Reused => {
            audit::record(
                config,
                AuditEvent::new(events::REUSE_DETECTED)
                    .detail("client", client.id().to_owned())
                    .detail("reason", "refresh_token"),
            );
            invalid()
        }
        Taken::Unknown => invalid(),
    }
}

/// The refusal of a token request naming resource `uri` (RFC 8707's `invalid_target`):
/// one the provider does not serve, or one `client` may not get tokens for.
pub(crate) fn refused_target(
    provider: &Provider,
    client: &ClientRegistration,
    uri: &str,
) -> Option<OAuthError> {
    if provider.find_resource(uri).is_none() {
        return Some(OAuthError::new(
            "invalid_target",
            "resource is not one this provider serves",
        ));
    }
    (!client.may_use_resource(provider, uri)).then(not_for_client)
}

/// `invalid_target` for a resource outside the client's list.
fn not_for_client() -> OAuthError {
    OAuthError::new(
        "invalid_target",
        "the client may not get tokens for this resource",
    )
}

/// Whether tokens bound to `resource` (none: bound to no resource) may still go to
/// `client`.
fn resource_still_allowed(
    provider: &Provider,
    client: &ClientRegistration,
    resource: &Option<String>,
) -> bool {
    resource
        .as_deref()
        .is_none_or(|uri| client.may_use_resource(provider, uri))
}

/// Whether `verifier` is the PKCE verifier of S256 `challenge` (RFC 7636 §4.6).
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine as _;
    if !(43..=128).contains(&verifier.len()) {
        return false;
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    pow_core::token::secure_compare(computed.as_bytes(), challenge.as_bytes())
}

/// The token response of `issued`: the tokens, and an ID token for `openid`.
pub(crate) async fn token_answer(
    config: &PowConfig,
    provider: &Provider,
    issued: &Issued,
    nonce: Option<&str>,
) -> Result<TokenAnswer, PowError> {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.family.scopes.join(" "),
    });
    if let Some(refresh) = &issued.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    if issued.family.scopes.iter().any(|scope| scope == "openid") {
        let user = match issued.family.user_id {
            Some(id) => pow_core::flows::stored_user(config, id).await?,
            None => None,
        };
        let Some(user) = user else {
            return Ok(Err(OAuthError::new("invalid_grant", "the user is gone")));
        };
        body["id_token"] = json!(id_token(config, provider, issued, &user, nonce)?);
    }
    Ok(Ok(body))
}

/// An ID token for `issued`'s user, signed with the key ring's current key.
fn id_token(
    config: &PowConfig,
    provider: &Provider,
    issued: &Issued,
    user: &User,
    nonce: Option<&str>,
) -> Result<String, PowError> {
    let broken = |what: &str| PowError::Config(format!("the ID token cannot be made: {what}"));
    let issuer = IssuerUrl::new(provider.issuer_of(config))
        .map_err(|_| broken("the issuer is not a URL"))?;
    let now = config.clock().now();
    let ttl =
        chrono::Duration::from_std(provider.id_token_ttl).map_err(|_| broken("its lifetime"))?;
    let mut standard = StandardClaims::new(SubjectIdentifier::new(user.id.to_string()));
    if issued.family.scopes.iter().any(|scope| scope == "email") {
        let (email, verified) = email_of(user);
        standard = standard
            .set_email(email.map(EndUserEmail::new))
            .set_email_verified(Some(verified));
    }
    let claims = CoreIdTokenClaims::new(
        issuer,
        vec![Audience::new(issued.family.client_id.clone())],
        now + ttl,
        now,
        standard,
        EmptyAdditionalClaims {},
    )
    .set_nonce(nonce.map(|nonce| Nonce::new(nonce.to_owned())))
    .set_auth_time(Utc.timestamp_opt(issued.family.auth_time, 0).single())
    .set_auth_context_ref(
        issued
            .family
            .acr
            .clone()
            .map(openidconnect::AuthenticationContextClass::new),
    )
    .set_auth_method_refs((!issued.family.amr.is_empty()).then(|| {
        issued
            .family
            .amr
            .iter()
            .cloned()
            .map(openidconnect::AuthenticationMethodReference::new)
            .collect()
    }));
    let key = keys::current(config)?;
    let token = CoreIdToken::new(
        claims,
        key,
        key.algorithm().jws(),
        Some(&AccessToken::new(issued.access_token.clone())),
        None,
    )
    .map_err(|err| broken(&err.to_string()))?;
    Ok(token.to_string())
}

/// The user's address and whether it is proven.
fn email_of(user: &User) -> (Option<String>, bool) {
    let email = user.get_str("email").map(str::to_owned);
    let proven = user.get_timestamp("email_confirmed_at").is_some();
    (email, proven)
}

/// `userinfo`: the claims of the access token's user, or `None` for a token that is not
/// current (`401`).
pub async fn userinfo(
    config: &PowConfig,
    provider: &Provider,
    token: &str,
) -> Result<Option<Value>, PowError> {
    let Some(record) = Tokens::new(config, provider).access(token).await? else {
        return Ok(None);
    };
    if !record.scopes.iter().any(|scope| scope == "openid") {
        return Ok(None);
    }
    let Some(user_id) = record.user_id else {
        return Ok(None);
    };
    let Some(user) = pow_core::flows::stored_user(config, user_id).await? else {
        return Ok(None);
    };
    let mut claims = json!({ "sub": user.id.to_string() });
    if record.scopes.iter().any(|scope| scope == "email") {
        let (email, verified) = email_of(&user);
        claims["email"] = json!(email);
        claims["email_verified"] = json!(verified);
    }
    if record.scopes.iter().any(|scope| scope == "profile") {
        claims["updated_at"] = json!(user.updated_at.timestamp());
        for (claim, field) in &provider.profile_claims {
            if let Some(value) = user.fields.get(field).filter(|value| !value.is_null()) {
                claims[claim.as_str()] = value.to_json();
            }
        }
    }
    Ok(Some(claims))
}

/// The authenticated client (a confidential one when `confidential`) and the form's
/// `token`, for revocation and introspection.
async fn client_and_token<'a>(
    config: &PowConfig,
    provider: &Provider,
    authorization: Option<&str>,
    form: &'a [(String, String)],
    confidential: bool,
) -> Result<Result<(ClientRegistration, &'a str), OAuthError>, PowError> {
    let client = crate::clients::authenticate(config, provider, authorization, form)
        .await?
        .filter(|client| !confidential || client.kind() == crate::ClientKind::Confidential);
    let Some(client) = client else {
        return Ok(Err(OAuthError::new(
            "invalid_client",
            "client authentication failed",
        )));
    };
    Ok(match field(form, "token") {
        Ok(Some(token)) => Ok((client, token)),
        Ok(None) => Err(OAuthError::new("invalid_request", "token is required")),
        Err(err) => Err(err),
    })
}

/// `POST /oauth/revoke` (RFC 7009): ends the token's family when the calling client is
/// the one it was issued to; answers the same either way.
pub async fn revoke(
    config: &PowConfig,
    provider: &Provider,
    authorization: Option<&str>,
    form: &[(String, String)],
) -> Result<Result<(), OAuthError>, PowError> {
    let (client, token) =
        match client_and_token(config, provider, authorization, form, false).await? {
            Ok(found) => found,
            Err(err) => return Ok(Err(err)),
        };
    let tokens = Tokens::new(config, provider);
    let family = match tokens.access(token).await? {
        Some(record) => Some(record.family),
        None => tokens.refresh_family(token).await?,
    };
    if let Some(family) = family {
        if let Some(found) = tokens.family(&family).await? {
            if found.client_id == client.id() {
                tokens.end_family(&family).await?;
                let mut event =
                    AuditEvent::new(events::REVOKED).detail("client", client.id().to_owned());
                if let Some(user_id) = found.user_id {
                    event = event.user(user_id);
                }
                audit::record(config, event);
            }
        }
    }
    Ok(Ok(()))
}

/// `POST /oauth/introspect` (RFC 7662): a confidential client learns about a token issued
/// to it; any other token is `{"active": false}`.
pub async fn introspect(
    config: &PowConfig,
    provider: &Provider,
    authorization: Option<&str>,
    form: &[(String, String)],
) -> Result<Result<Value, OAuthError>, PowError> {
    let (client, token) =
        match client_and_token(config, provider, authorization, form, true).await? {
            Ok(found) => found,
            Err(err) => return Ok(Err(err)),
        };
    let inactive = json!({ "active": false });
    let Some(record) = Tokens::new(config, provider).access(token).await? else {
        return Ok(Ok(inactive));
    };
    if record.client_id != client.id() {
        return Ok(Ok(inactive));
    }
    Ok(Ok(json!({
        "active": true,
        "scope": record.scopes.join(" "),
        "client_id": record.client_id,
        "sub": record.user_id.map_or_else(|| record.client_id.clone(), |id| id.to_string()),
        "token_type": "Bearer",
        "aud": record.audience,
        "exp": record.expires_at,
        "iat": record.issued_at,
        "iss": provider.issuer_of(config),
    })))
}

/// A client the user allowed, as their account shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The client's id.
    pub client_id: String,
    /// The client's name.
    pub client_name: String,
    /// The scopes allowed.
    pub scopes: Vec<String>,
    /// The resources allowed (RFC 8707).
    pub resources: Vec<String>,
    /// When it was first allowed.
    pub created_at: chrono::DateTime<Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<Utc>,
}

/// The clients `user_id` allowed.
pub async fn grants(
    config: &PowConfig,
    provider: &Provider,
    user_id: i64,
) -> Result<Vec<Grant>, PowError> {
    let consents = Consents::new(config)?.of_user(user_id).await?;
    let mut grants = Vec::with_capacity(consents.len());
    for consent in consents {
        grants.push(Grant {
            client_name: crate::clients::name_of(config, provider, &consent.client_id).await?,
            client_id: consent.client_id,
            scopes: consent.scopes,
            resources: consent.resources,
            created_at: consent.created_at,
            updated_at: consent.updated_at,
        });
    }
    Ok(grants)
}

/// Withdraws the user's consent to `client_id` and ends every token that client holds for
/// them, on every server at its next use; `false` when there was no consent.
pub async fn revoke_grant(
    config: &PowConfig,
    provider: &Provider,
    user_id: i64,
    client_id: &str,
) -> Result<bool, PowError> {
    let withdrawn = Consents::new(config)?.withdraw(user_id, client_id).await?;
    Tokens::new(config, provider)
        .end_user_families(user_id, Some(client_id))
        .await?;
    if withdrawn {
        audit::record(
            config,
            AuditEvent::new(events::GRANT_REVOKED)
                .user(user_id)
                .detail("client", client_id.to_owned()),
        );
    }
    Ok(withdrawn)
}

/// The registered clients' table, for `user` when the app's admin check
/// ([`Provider::client_admins`]) accepts them; `None` for anyone else (and when no check is
/// set). Every clients page and JSON action goes through this one rule.
///
/// # Errors
/// [`PowError::Config`] when the users context is not the diesel one.
pub fn client_registry(
    config: &PowConfig,
    provider: &Provider,
    user: &User,
) -> Result<Option<crate::registry::Registry>, PowError> {
    let allowed = provider
        .client_admins
        .as_ref()
        .is_some_and(|check| check.allows(user));
    match allowed && !user.is_disabled() {
        true => crate::registry::Registry::new(config).map(Some),
        false => Ok(None),
    }
}

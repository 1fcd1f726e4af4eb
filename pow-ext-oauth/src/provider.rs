//! Providers and the protocol work: the authorization URL, the code exchange, the ID
//! token check and the profile. Every request to a provider is made by `ureq` on a
//! blocking thread (tokio's blocking pool), never on the async
//! executor, with redirects off (a provider answer never sends pow-rs elsewhere) and a
//! timeout.

// Sign-ins and links run in the actix layer; the engine alone keeps the protocol and
// the table.
#![cfg_attr(not(feature = "actix"), allow(dead_code))]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::TokenResponse as _;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse as _, TokenUrl,
};
use serde::Deserialize;

/// An HTTP exchange of the OAuth client (`openidconnect`'s request and response types).
type OidcRequest = openidconnect::http::Request<Vec<u8>>;
type OidcResponse = openidconnect::http::Response<Vec<u8>>;

use crate::OAuthError;

/// How long a discovery document (and its key set) is reused before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(10 * 60);
/// Largest provider answer read.
const MAX_BODY: u64 = 1024 * 1024;

/// How a provider signs users in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// OpenID Connect: endpoints and keys from the issuer's discovery document.
    OpenIdConnect {
        /// The issuer (`https://accounts.google.com`).
        issuer: String,
    },
    /// Plain OAuth 2.0 with a profile endpoint (GitHub).
    OAuth2 {
        authorize_url: String,
        token_url: String,
        /// Answers the profile as JSON: `id` (or `sub`), `email`, `name`.
        user_url: String,
        /// Answers `[{"email", "primary", "verified"}]` (GitHub's `/user/emails`).
        emails_url: Option<String>,
    },
}

/// One provider users can sign in with: its protocol, the app's client credentials, the
/// scopes asked for. Build it with [`Provider::openid_connect`], [`Provider::google`],
/// [`Provider::github`] or [`Provider::oauth2`], and add it with
/// [`OAuth::provider`](crate::OAuth::provider).
#[derive(Clone)]
pub struct Provider {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) protocol: Protocol,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) scopes: Vec<String>,
    discovered: Arc<Mutex<Option<(Instant, CoreProviderMetadata)>>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl PartialEq for Provider {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.protocol == other.protocol
            && self.client_id == other.client_id
            && self.client_secret == other.client_secret
            && self.scopes == other.scopes
    }
}

impl Eq for Provider {}

impl Provider {
    fn new(id: &str, name: &str, protocol: Protocol, client_id: &str, secret: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            protocol,
            client_id: client_id.to_owned(),
            client_secret: secret.to_owned(),
            scopes: Vec::new(),
            discovered: Arc::new(Mutex::new(None)),
        }
    }

    /// Any OpenID Connect provider, found through `issuer`'s discovery document
    /// (`<issuer>/.well-known/openid-configuration`). `id` names it in routes and in the
    /// `user_identities` table (`[a-z0-9_-]`), `name` on buttons. Asks for the `openid`,
    /// `email` and `profile` scopes.
    pub fn openid_connect(
        id: &str,
        name: &str,
        issuer: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Self {
        let protocol = Protocol::OpenIdConnect {
            issuer: issuer.trim_end_matches('/').to_owned(),
        };
        Self::new(id, name, protocol, client_id, client_secret).scopes(&["email", "profile"])
    }

    /// Google (OpenID Connect, issuer `https://accounts.google.com`).
    pub fn google(client_id: &str, client_secret: &str) -> Self {
        Self::openid_connect(
            "google",
            "Google",
            "https://accounts.google.com",
            client_id,
            client_secret,
        )
    }

    /// GitHub (OAuth 2.0): the profile from `https://api.github.com/user`, the address from
    /// `/user/emails` (the primary one, verified by GitHub). Asks for `read:user` and
    /// `user:email`.
    pub fn github(client_id: &str, client_secret: &str) -> Self {
        Self::oauth2(
            "github",
            "GitHub",
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
            "https://api.github.com/user",
            client_id,
            client_secret,
        )
        .emails_url("https://api.github.com/user/emails")
        .scopes(&["read:user", "user:email"])
    }

    /// A plain OAuth 2.0 provider: its authorization and token endpoints and a profile
    /// endpoint answering JSON with the account's `id` (or `sub`), `email` and `name`.
    /// Without [`emails_url`](Self::emails_url) the address counts as unverified.
    pub fn oauth2(
        id: &str,
        name: &str,
        authorize_url: &str,
        token_url: &str,
        user_url: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Self {
        let protocol = Protocol::OAuth2 {
            authorize_url: authorize_url.to_owned(),
            token_url: token_url.to_owned(),
            user_url: user_url.to_owned(),
            emails_url: None,
        };
        Self::new(id, name, protocol, client_id, client_secret)
    }

    /// For an OAuth 2.0 provider: the endpoint listing the account's addresses with their
    /// `primary` and `verified` flags (GitHub's shape). Ignored for OpenID Connect.
    pub fn emails_url(mut self, url: &str) -> Self {
        if let Protocol::OAuth2 { emails_url, .. } = &mut self.protocol {
            *emails_url = Some(url.to_owned());
        }
        self
    }

    /// Adds scopes to ask for (`openid` is always asked of OpenID Connect providers).
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        for scope in scopes {
            if !self.scopes.iter().any(|s| s == scope) {
                self.scopes.push((*scope).to_owned());
            }
        }
        self
    }

    /// The provider's id, as in routes and the `user_identities` table.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The provider's name, as on buttons.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let ok = !self.id.is_empty()
            && self.id.len() <= 32
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(format!(
                "OAuth provider id `{}` must be 1 to 32 characters from [a-z0-9_-]",
                self.id
            ));
        }
        let urls: Vec<&str> = match &self.protocol {
            Protocol::OpenIdConnect { issuer } => vec![issuer],
            Protocol::OAuth2 {
                authorize_url,
                token_url,
                user_url,
                emails_url,
            } => [authorize_url, token_url, user_url]
                .into_iter()
                .chain(emails_url.as_ref())
                .map(String::as_str)
                .collect(),
        };
        for url in urls {
            url::Url::parse(url)
                .map_err(|err| format!("OAuth provider `{}`: `{url}`: {err}", self.id))?;
        }
        Ok(())
    }
}

/// What the provider says about the account that signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The account's stable id at the provider (`sub`, GitHub's numeric id).
    pub uid: String,
    /// Its address, if the provider shared one.
    pub email: Option<String>,
    /// Whether the provider vouches for the address (`email_verified`, GitHub's verified
    /// primary address).
    pub email_verified: bool,
    /// Its display name, if shared.
    pub name: Option<String>,
}

/// A sign-in begun: where to send the browser, and what the callback needs to finish it.
pub(crate) struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// The blocking HTTP client given to the protocol crates.
#[derive(Clone)]
pub(crate) struct Http {
    agent: ureq::Agent,
}

/// Why a request to a provider failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpError(String);

impl Http {
    pub(crate) fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent("pow-rs")
            .build()
            .into();
        Self { agent }
    }

    fn call(&self, request: OidcRequest) -> Result<OidcResponse, HttpError> {
        let mut response = self
            .agent
            .run(request)
            .map_err(|err| HttpError(err.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|err| HttpError(err.to_string()))?;
        let mut out = OidcResponse::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    fn client(&self) -> impl Fn(OidcRequest) -> Result<OidcResponse, HttpError> + '_ {
        move |request| self.call(request)
    }

    /// A `GET` of a JSON resource with a bearer token.
    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        token: &AccessToken,
    ) -> Result<T, OAuthError> {
        let request = openidconnect::http::Request::get(url)
            .header("Authorization", format!("Bearer {}", token.secret()))
            .header("Accept", "application/json")
            .body(Vec::new())
            .map_err(|err| OAuthError::Malformed(err.to_string()))?;
        let response = self
            .call(request)
            .map_err(|err| OAuthError::Unreachable(err.0))?;
        if !response.status().is_success() {
            return Err(OAuthError::Refused(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        serde_json::from_slice(response.body())
            .map_err(|err| OAuthError::Malformed(format!("{url}: {err}")))
    }
}

type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

type OAuth2Client =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn redirect(redirect_uri: &str) -> Result<RedirectUrl, OAuthError> {
    RedirectUrl::new(redirect_uri.to_owned()).map_err(|err| OAuthError::Config(err.to_string()))
}

impl Provider {
    /// The discovery document, fetched at most every [`DISCOVERY_TTL`] (`fresh` forces a
    /// fetch: a key set that lacks the ID token's key may have been rotated).
    fn metadata(&self, http: &Http, fresh: bool) -> Result<CoreProviderMetadata, OAuthError> {
        let Protocol::OpenIdConnect { issuer } = &self.protocol else {
            return Err(OAuthError::Config("not an OpenID Connect provider".into()));
        };
        if !fresh {
            if let Ok(cached) = self.discovered.lock() {
                if let Some((at, metadata)) = cached.as_ref() {
                    if at.elapsed() < DISCOVERY_TTL {
                        return Ok(metadata.clone());
                    }
                }
            }
        }
        let issuer =
            IssuerUrl::new(issuer.clone()).map_err(|err| OAuthError::Config(err.to_string()))?;
        let metadata = CoreProviderMetadata::discover(&issuer, &http.client()).map_err(|err| {
            OAuthError::Unreachable(format!("discovery of {}: {err}", issuer.as_str()))
        })?;
        if let Ok(mut cached) = self.discovered.lock() {
            *cached = Some((Instant::now(), metadata.clone()));
        }
        Ok(metadata)
    }

    fn oidc_client(
        &self,
        metadata: CoreProviderMetadata,
        redirect_uri: &str,
    ) -> Result<OidcClient, OAuthError> {
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect(redirect_uri)?))
    }

    fn oauth2_client(&self, redirect_uri: &str) -> Result<OAuth2Client, OAuthError> {
        let Protocol::OAuth2 {
            authorize_url,
            token_url,
            ..
        } = &self.protocol
        else {
            return Err(OAuthError::Config("not an OAuth 2.0 provider".into()));
        };
        let bad = |err: url::ParseError| OAuthError::Config(err.to_string());
        Ok(BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            .set_auth_uri(AuthUrl::new(authorize_url.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(token_url.clone()).map_err(bad)?)
            .set_redirect_uri(redirect(redirect_uri)?))
    }

    /// Begins a sign-in: a fresh `state`, `nonce` and PKCE (S256) pair, and the URL of the
    /// provider's consent page. Blocking (discovery).
    pub(crate) fn start(&self, http: &Http, redirect_uri: &str) -> Result<Started, OAuthError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = self.scopes.iter().map(|s| Scope::new(s.clone()));
        let (url, state, nonce) = match &self.protocol {
            Protocol::OpenIdConnect { .. } => {
                let client = self.oidc_client(self.metadata(http, false)?, redirect_uri)?;
                let (url, state, nonce) = client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        CsrfToken::new_random,
                        Nonce::new_random,
                    )
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                (url, state, nonce.secret().clone())
            }
            Protocol::OAuth2 { .. } => {
                let client = self.oauth2_client(redirect_uri)?;
                let (url, state) = client
                    .authorize_url(CsrfToken::new_random)
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                (url, state, String::new())
            }
        };
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce,
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: trades `code` (with the PKCE verifier) for tokens, checks the ID
    /// token (signature by the provider's published keys, issuer, audience, expiry,
    /// `nonce`) and reads the profile. Blocking.
    pub(crate) fn finish(
        &self,
        http: &Http,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Profile, OAuthError> {
        let code = AuthorizationCode::new(code.to_owned());
        let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
        match &self.protocol {
            Protocol::OpenIdConnect { .. } => {
                self.finish_oidc(http, redirect_uri, code, verifier, nonce)
            }
            Protocol::OAuth2 {
                user_url,
                emails_url,
                ..
            } => {
                let client = self.oauth2_client(redirect_uri)?;
                let token = client
                    .exchange_code(code)
                    .set_pkce_verifier(verifier)
                    .request(&http.client())
                    .map_err(token_error)?;
                let token = token.access_token();
                let user: UserJson = http.get_json(user_url, token)?;
                let uid = user
                    .id
                    .map(|id| match id {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .or(user.sub)
                    .filter(|uid| !uid.is_empty() && uid != "null")
                    .ok_or_else(|| OAuthError::Malformed(format!("{user_url}: no account id")))?;
                let (email, email_verified) = match emails_url {
                    Some(url) => {
                        let emails: Vec<EmailJson> = http.get_json(url, token)?;
                        let primary = emails.into_iter().find(|e| e.primary && e.verified);
                        (primary.map(|e| e.email), true)
                    }
                    None => (user.email, false),
                };
                Ok(Profile {
                    uid,
                    email_verified: email_verified && email.is_some(),
                    email,
                    name: user.name,
                })
            }
        }
    }

    fn finish_oidc(
        &self,
        http: &Http,
        redirect_uri: &str,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
        nonce: &str,
    ) -> Result<Profile, OAuthError> {
        let metadata = self.metadata(http, false)?;
        let client = self.oidc_client(metadata.clone(), redirect_uri)?;
        let token = client
            .exchange_code(code)
            .map_err(|err| OAuthError::Config(err.to_string()))?
            .set_pkce_verifier(verifier)
            .request(&http.client())
            .map_err(token_error)?;
        let id_token = token
            .id_token()
            .ok_or_else(|| OAuthError::InvalidIdToken("the token answer has no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        // The engine's rule: a public-key algorithm, never `none` or HMAC.
        let algs = |metadata: &CoreProviderMetadata| -> Vec<CoreJwsSigningAlgorithm> {
            pow_core::token::public_key_algs(metadata.id_token_signing_alg_values_supported())
        };
        let verified = {
            let verifier = client.id_token_verifier().set_allowed_algs(algs(&metadata));
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verified {
            Ok(claims) => claims,
            // The key may have been rotated since discovery: fetch the keys once more.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let metadata = self.metadata(http, true)?;
                let client = self.oidc_client(metadata.clone(), redirect_uri)?;
                let verifier = client.id_token_verifier().set_allowed_algs(algs(&metadata));
                id_token
                    .claims(&verifier, &nonce)
                    .map_err(|err| OAuthError::InvalidIdToken(err.to_string()))?
                    .clone()
            }
            Err(err) => return Err(OAuthError::InvalidIdToken(err.to_string())),
        };
        let uid = claims.subject().as_str().to_owned();
        let mut email = claims.email().map(|e| e.as_str().to_owned());
        let mut email_verified = claims.email_verified().unwrap_or(false);
        let mut name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned());
        if email.is_none() {
            if let Ok(request) =
                client.user_info(token.access_token().clone(), Some(claims.subject().clone()))
            {
                let info: openidconnect::core::CoreUserInfoClaims = request
                    .request(&http.client())
                    .map_err(|err| OAuthError::Refused(format!("userinfo: {err}")))?;
                email = info.email().map(|e| e.as_str().to_owned());
                email_verified = info.email_verified().unwrap_or(false);
                if name.is_none() {
                    name = info
                        .name()
                        .and_then(|n| n.get(None))
                        .map(|n| n.as_str().to_owned());
                }
            }
        }
        Ok(Profile {
            uid,
            email_verified: email_verified && email.is_some(),
            email,
            name,
        })
    }
}

fn token_error<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    err: oauth2::RequestTokenError<RE, T>,
) -> OAuthError {
    match err {
        oauth2::RequestTokenError::ServerResponse(answer) => {
            OAuthError::Refused(format!("token endpoint: {answer:?}"))
        }
        oauth2::RequestTokenError::Request(err) => OAuthError::Unreachable(err.to_string()),
        other => OAuthError::Malformed(other.to_string()),
    }
}

#[derive(Deserialize)]
struct UserJson {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct EmailJson {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

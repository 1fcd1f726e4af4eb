//! The decisions of single sign-on, made once for pages and JSON: where an address or an
//! organization signs in, the sign-in through a connection (begun, then finished by the
//! provider's answer), the first sign-in's account and membership, enforcement, and the
//! admins' changes to a connection. Controllers only render what these return.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pow_core::audit::{self, AuditEvent, EventName};
use pow_core::outbound::OutboundClient;
use pow_core::request::RequestSource;
use pow_core::session::{SessionHandle, SessionMetadata};
use pow_core::store::OneTimeSecrets;
use pow_core::users::validation::normalize_user_id;
use pow_core::users::{Params, User, Value};
use pow_core::{PowConfig, PowError};
use pow_ext_organizations::{flows as orgs, permission, Membership, Organization, Refused};
use serde::{Deserialize, Serialize};

use crate::connections::{Connection, ConnectionSpec, Connections, Flag, Protocol};
use crate::oidc::{Claims, Discovery, OidcError, Settings};
use crate::{events, Sso, SSO};

/// How long a sign-in may take at the provider.
pub const ATTEMPT_TTL: Duration = Duration::from_secs(10 * 60);

/// The extension's state shared by its routes: the settings, the discovery cache and the
/// address-checked client.
pub(crate) struct Shared {
    pub(crate) settings: Sso,
    pub(crate) discovery: Discovery,
    pub(crate) http: OutboundClient,
}

impl Shared {
    pub(crate) fn new(settings: Sso) -> Arc<Self> {
        let http = OutboundClient::new()
            .max_bytes(256 * 1024)
            .timeout(Duration::from_secs(5))
            .allow_loopback(settings.loopback_fetches)
            .root_certificates(settings.fetch_roots.clone());
        Arc::new(Self {
            settings,
            discovery: Discovery::default(),
            http,
        })
    }
}

/// What a sign-in through a connection is for: signing someone in (to `request_path`
/// after), an admin's test, or a signed-in member's explicit link of their account.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Intent {
    /// Set when an admin tests the connection: the claims are shown, nobody signs in.
    pub(crate) test_by: Option<i64>,
    /// Set when a signed-in member links their account (sudo-fresh): the provider's
    /// subject becomes theirs whatever address it asserts.
    #[serde(default)]
    pub(crate) link_for: Option<i64>,
    /// Where to go after signing in.
    pub(crate) request_path: Option<String>,
}

impl Intent {
    /// A sign-in going to `request_path` after.
    pub(crate) fn sign_in(request_path: Option<String>) -> Self {
        Self {
            request_path,
            ..Self::default()
        }
    }

    /// Whether it may go through a connection that is off (an admin's test).
    fn works_while_off(&self) -> bool {
        self.test_by.is_some()
    }
}

/// A sign-in under way, kept in the cache store under the keyed digest of its `state`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Attempt {
    connection: String,
    nonce: String,
    pkce_verifier: String,
    redirect_uri: String,
    #[serde(flatten)]
    intent: Intent,
    /// SAML: the sealed AuthnRequest the answer must be in response to.
    #[serde(default)]
    saml_tracker: Option<String>,
}

fn attempts(config: &PowConfig) -> OneTimeSecrets {
    OneTimeSecrets::new(config, "sso", "attempt", ATTEMPT_TTL)
}

/// The enabled connection an identifier signs in through: an address at a verified
/// domain of an organization, or an organization's slug. `None` when neither has one (an
/// address then signs in as any other).
///
/// # Errors
/// The database's error.
pub async fn route(config: &PowConfig, identifier: &str) -> Result<Option<Connection>, PowError> {
    let identifier = identifier.trim();
    let org = match identifier.rsplit_once('@') {
        Some((_, domain)) => pow_ext_organizations::domains::verified_owner(config, domain).await?,
        None => orgs::by_slug(config, &identifier.to_ascii_lowercase()).await?,
    };
    let Some(org) = org else {
        return Ok(None);
    };
    Ok(Connections::new(config)?
        .of_organization(&org.id)
        .await?
        .filter(|connection| connection.enabled))
}

/// A sign-in begun: where to send the browser, and the `state` it comes back with.
#[derive(Clone, Debug)]
pub struct Begun {
    /// The provider's authorization URL.
    pub url: String,
    /// The state, which the browser's cookie session holds too.
    pub state: String,
}

/// Begins a sign-in through `connection` for `intent`, coming back to `redirect_uri`. `None` when the provider cannot be reached or the connection is not
/// usable (logged).
///
/// # Errors
/// The store's error.
pub(crate) async fn begin(
    config: &PowConfig,
    shared: &Shared,
    connection: &Connection,
    redirect_uri: String,
    intent: Intent,
) -> Result<Option<Begun>, PowError> {
    if !connection.enabled && !intent.works_while_off() {
        return Ok(None);
    }
    if connection.is_saml() {
        return begin_saml(config, connection, redirect_uri, intent).await;
    }
    let secret = Connections::new(config)?.client_secret(connection);
    let (discovery, http) = (shared.discovery.clone(), shared.http.clone());
    let (conn, uri) = (connection.clone(), redirect_uri.clone());
    let started = off_executor(move || {
        discovery.start(
            &http,
            &Settings {
                issuer: &conn.issuer,
                client_id: &conn.client_id,
                client_secret: secret,
                redirect_uri: &uri,
            },
        )
    })
    .await?;
    let started = match started {
        Ok(started) => started,
        Err(err) => {
            tracing::warn!(connection = %connection.id, error = %err, "SSO provider unavailable");
            return Ok(None);
        }
    };
    let attempt = Attempt {
        connection: connection.id.clone(),
        nonce: started.nonce,
        pkce_verifier: started.pkce_verifier,
        redirect_uri,
        intent,
        saml_tracker: None,
    };
    attempts(config).put(&started.state, &attempt).await?;
    Ok(Some(Begun {
        url: started.url,
        state: started.state,
    }))
}

/// The provider's answer, as the callback received it.
#[derive(Clone, Debug, Default)]
pub struct Callback {
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `error` (the person said no, or the provider refused).
    pub error: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
}

/// Why a sign-in through a connection ended without anyone signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Forged, replayed or expired `state`.
    State,
    /// The connection is gone or turned off.
    Disabled,
    /// The person said no at the provider, or it answered an error.
    Denied,
    /// The provider could not be reached or refused the code; or `iss` named another.
    Provider,
    /// The ID token (or the SAML answer) failed its checks.
    Token,
    /// A first sign-in whose address the provider does not vouch for, or that is not at
    /// one of the organization's verified domains: nobody is created or linked.
    Unverified,
    /// A first sign-in whose address belongs to an account that cannot be linked (the
    /// organization is full, or the address is taken by a closed or disabled account).
    NotLinked,
    /// The account is disabled.
    AccountDisabled,
    /// Another organization the person is covered by enforces its own connection.
    OtherConnection,
}

impl Refusal {
    /// The message key of its text.
    pub fn key(self) -> &'static str {
        match self {
            Refusal::State => "pow_sso_invalid_state",
            Refusal::Disabled => "pow_sso_connection_disabled",
            Refusal::Denied => "pow_sso_denied",
            Refusal::Provider => "pow_sso_provider_unavailable",
            Refusal::Token => "pow_sso_invalid_token",
            Refusal::Unverified => "pow_sso_unverified",
            Refusal::NotLinked => "pow_sso_not_linked",
            Refusal::AccountDisabled => "pow_sso_account_disabled",
            Refusal::OtherConnection => "pow_sso_other_connection",
        }
    }
}

/// What a callback came to.
#[derive(Debug)]
pub enum Finished {
    /// `user` may sign in (the caller starts the session with [`sign_in`]).
    SignIn {
        /// The user.
        user: User,
        /// The connection.
        connection: Connection,
        /// The provider's claims.
        claims: Claims,
        /// Where to go next.
        request_path: Option<String>,
    },
    /// An admin's test went through: the claims the connection gives.
    Tested {
        /// The connection (now validated).
        connection: Connection,
        /// The provider's claims.
        claims: Claims,
        /// Its organization's slug.
        slug: String,
    },
    /// A signed-in member's account was linked to the provider's subject.
    Linked {
        /// The organization's slug.
        slug: String,
    },
    /// Refused.
    Refused(Refusal),
}

/// Finishes a sign-in with the provider's answer: the attempt of `state` taken once, the
/// connection still there and on, `iss` checked, the code exchanged and the ID token
/// checked; then the identity (connection, subject) found, or a first sign-in at one of
/// the organization's verified domains linked or created, with membership.
///
/// # Errors
/// The store's or the database's error.
pub(crate) async fn finish(
    config: &PowConfig,
    shared: &Shared,
    answer: Callback,
) -> Result<Finished, PowError> {
    let Some(state) = answer.state.as_deref() else {
        return Ok(Finished::Refused(Refusal::State));
    };
    let Some(attempt) = attempts(config).take::<Attempt>(state).await? else {
        return Ok(Finished::Refused(Refusal::State));
    };
    let store = Connections::new(config)?;
    let Some(connection) = store.get(&attempt.connection).await? else {
        return Ok(Finished::Refused(Refusal::Disabled));
    };
    if !connection.enabled && !attempt.intent.works_while_off() {
        return Ok(Finished::Refused(Refusal::Disabled));
    }
    // A SAML sign-in ends at its assertion consumer service, never here.
    if connection.is_saml() || attempt.saml_tracker.is_some() {
        return Ok(Finished::Refused(Refusal::State));
    }
    if answer.error.is_some() {
        return Ok(Finished::Refused(Refusal::Denied));
    }
    // RFC 9207: an answer that names an issuer must name this connection's.
    if let Some(iss) = &answer.iss {
        if *iss != connection.issuer {
            tracing::warn!(connection = %connection.id, "SSO answer from another issuer");
            return Ok(Finished::Refused(Refusal::Provider));
        }
    }
    let Some(code) = answer.code else {
        return Ok(Finished::Refused(Refusal::Provider));
    };
    let secret = store.client_secret(&connection);
    let (discovery, http) = (shared.discovery.clone(), shared.http.clone());
    let (conn, a) = (connection.clone(), attempt.clone());
    let claims = off_executor(move || {
        discovery.finish(
            &http,
            &Settings {
                issuer: &conn.issuer,
                client_id: &conn.client_id,
                client_secret: secret,
                redirect_uri: &a.redirect_uri,
            },
            &code,
            &a.pkce_verifier,
            &a.nonce,
        )
    })
    .await?;
    let claims = match claims {
        Ok(claims) => claims,
        Err(err) => {
            tracing::warn!(connection = %connection.id, error = %err, "SSO sign-in refused");
            return Ok(Finished::Refused(match err {
                OidcError::InvalidIdToken(_) => Refusal::Token,
                _ => Refusal::Provider,
            }));
        }
    };
    conclude(config, &store, connection, claims, attempt.intent).await
}

/// What every protocol's verified answer comes to: an admin's test shown, or the identity
/// (connection, subject) found, or a first sign-in at one of the organization's verified
/// domains linked or created, with membership.
async fn conclude(
    config: &PowConfig,
    store: &Connections,
    connection: Connection,
    claims: Claims,
    intent: Intent,
) -> Result<Finished, PowError> {
    if let Some(user_id) = intent.link_for {
        return link(config, store, connection, claims, user_id).await;
    }
    if let Some(admin) = intent.test_by {
        store.mark_validated(&connection.id).await?;
        audit::record(config, event(events::TESTED, &connection).user(admin));
        let connection = store.get(&connection.id).await?.unwrap_or(connection);
        let slug = orgs::by_id(config, &connection.organization_id)
            .await?
            .map(|org| org.slug)
            .unwrap_or_default();
        return Ok(Finished::Tested {
            connection,
            claims,
            slug,
        });
    }
    let user = match store.identity(&connection.id, &claims.subject).await? {
        Some(identity) => pow_core::flows::stored_user(config, identity.user_id).await?,
        None => match first_sign_in(config, store, &connection, &claims).await? {
            Ok(user) => Some(user),
            Err(refusal) => return Ok(Finished::Refused(refusal)),
        },
    };
    let Some(user) = user else {
        return Ok(Finished::Refused(Refusal::State));
    };
    if user.is_disabled() || user.is_closed() {
        return Ok(Finished::Refused(Refusal::AccountDisabled));
    }
    // An organization that enforces its own connection is not satisfied by another
    // organization's: the sign-in policy sees the method, this sees the connection.
    let domain = address_domain(&user).unwrap_or_default();
    if let Some(enforcing) = store.enforcing(user.id, &domain).await? {
        if enforcing.id != connection.id {
            audit::record(
                config,
                event(events::REFUSED, &enforcing)
                    .user(user.id)
                    .detail("reason", "another_connection")
                    .detail("through", connection.id.clone()),
            );
            return Ok(Finished::Refused(Refusal::OtherConnection));
        }
    }
    store
        .link(
            &connection.id,
            &claims.subject,
            user.id,
            claims.email.as_deref(),
        )
        .await?;
    if connection.validated_at.is_none() {
        store.mark_validated(&connection.id).await?;
    }
    Ok(Finished::SignIn {
        user,
        connection,
        claims,
        request_path: intent.request_path,
    })
}

/// A signed-in member's explicit link: the provider's subject becomes `user_id`'s (an
/// account whose address is not at a verified domain links only this way), unless another
/// account has it. Audited, and the account's address is told.
async fn link(
    config: &PowConfig,
    store: &Connections,
    connection: Connection,
    claims: Claims,
    user_id: i64,
) -> Result<Finished, PowError> {
    let Some(user) = pow_core::flows::stored_user(config, user_id).await? else {
        return Ok(Finished::Refused(Refusal::State));
    };
    if user.is_disabled() || user.is_closed() {
        return Ok(Finished::Refused(Refusal::AccountDisabled));
    }
    if let Some(identity) = store.identity(&connection.id, &claims.subject).await? {
        if identity.user_id != user.id {
            audit::record(
                config,
                event(events::REFUSED, &connection)
                    .user(user.id)
                    .detail("reason", "subject_linked_elsewhere"),
            );
            return Ok(Finished::Refused(Refusal::NotLinked));
        }
    }
    // Only a member links: one who left since the link began does not.
    let Some(org) = orgs::by_id(config, &connection.organization_id).await? else {
        return Ok(Finished::Refused(Refusal::Disabled));
    };
    if orgs::membership(config, &user, &org.slug).await?.is_none() {
        return Ok(Finished::Refused(Refusal::NotLinked));
    }
    store
        .link(
            &connection.id,
            &claims.subject,
            user.id,
            claims.email.as_deref(),
        )
        .await?;
    audit::record(
        config,
        event(events::LINKED, &connection)
            .user(user.id)
            .detail("subject", claims.subject.clone())
            .detail("explicit", true),
    );
    crate::mail::linked(config, &org, &user).await;
    Ok(Finished::Linked { slug: org.slug })
}

/// A subject's first sign-in through `connection`: only an address the provider vouches
/// for, at one of the organization's verified domains, links the account that has it or
/// creates one; the person becomes a member with the connection's default role.
async fn first_sign_in(
    config: &PowConfig,
    store: &Connections,
    connection: &Connection,
    claims: &Claims,
) -> Result<Result<User, Refusal>, PowError> {
    let Some(email) = claims
        .email
        .as_deref()
        .map(normalize_user_id)
        .filter(|email| claims.email_verified && !email.is_empty())
    else {
        return Ok(Err(Refusal::Unverified));
    };
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(Err(Refusal::Unverified));
    };
    let domains =
        pow_ext_organizations::domains::verified_domains(config, &connection.organization_id)
            .await?;
    if !domains.iter().any(|verified| verified == domain) {
        return Ok(Err(Refusal::Unverified));
    }
    let existing = config
        .users()?
        .get_by("email", Value::Text(email.clone()))
        .await?;
    let mut created = false;
    let user = match existing {
        // An account whose address nobody proved may have been made by someone else in
        // its owner's name (with a password they keep): it is never linked silently.
        Some(user) if !address_proven(config, &user) => {
            audit::record(
                config,
                event(events::REFUSED, connection)
                    .user(user.id)
                    .detail("reason", "unproven_address"),
            );
            return Ok(Err(Refusal::NotLinked));
        }
        Some(user) => user,
        None => {
            created = true;
            let mut params = Params::new();
            params.insert("email".to_owned(), email.clone());
            if let Some(name) = &claims.name {
                params.insert("name".to_owned(), name.clone());
            }
            match pow_core::flows::provision_user(config, params, true).await? {
                Ok(user) => user,
                Err(_) => return Ok(Err(Refusal::NotLinked)),
            }
        }
    };
    if user.is_disabled() || user.is_closed() {
        return Ok(Err(Refusal::AccountDisabled));
    }
    let joined = orgs::provision_member(
        config,
        &connection.organization_id,
        &user,
        &connection.default_role,
        crate::NAME,
    )
    .await?;
    if joined.is_none() {
        if created {
            // Nothing half-made stays: the account made for this sign-in goes again.
            config.users()?.delete(&user).await?;
        }
        return Ok(Err(Refusal::NotLinked));
    }
    store
        .link(&connection.id, &claims.subject, user.id, Some(&email))
        .await?;
    audit::record(
        config,
        event(events::LINKED, connection)
            .user(user.id)
            .detail("subject", claims.subject.clone()),
    );
    Ok(Ok(user))
}

/// Whether `user`'s address is proven (by the setup's proving extension; with none, an
/// address counts as proven only when nothing could prove it anyway).
fn address_proven(config: &PowConfig, user: &User) -> bool {
    config
        .extensions()
        .address_proof()
        .is_none_or(|proof| proof.is_proven(user))
}

/// The session key naming the connection a session signed in through.
pub const CONNECTION_KEY: &str = "sso_connection";
/// The session key holding a SAML sign-in's NameID and its format.
pub const SAML_SUBJECT_KEY: &str = "sso_saml_subject";
/// The session key holding a SAML sign-in's `SessionIndex`.
pub const SAML_SESSION_KEY: &str = "sso_saml_session";

/// Starts `user`'s session through `connection` (method [`SSO`], with the provider's
/// signed `amr` and `acr` in the session's extras) and records the sign-in.
///
/// # Errors
/// `session`'s refusal to start (a sign-in policy's among them).
pub async fn sign_in<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    req: &dyn RequestSource,
    user: &User,
    connection: &Connection,
    claims: &Claims,
    session: &mut H,
) -> Result<(), H::Error> {
    let mut extra = BTreeMap::new();
    extra.insert(
        CONNECTION_KEY.to_owned(),
        serde_json::Value::from(connection.id.clone()),
    );
    if !claims.amr.is_empty() {
        extra.insert("sso_amr".to_owned(), serde_json::json!(claims.amr));
    }
    if let Some(acr) = &claims.acr {
        extra.insert("sso_acr".to_owned(), serde_json::Value::from(acr.clone()));
    }
    // SAML single logout names the subject and the provider's session.
    if let Some(format) = &claims.name_id_format {
        extra.insert(
            SAML_SUBJECT_KEY.to_owned(),
            serde_json::json!([claims.subject, format]),
        );
    }
    if let Some(index) = &claims.session_index {
        extra.insert(
            SAML_SESSION_KEY.to_owned(),
            serde_json::Value::from(index.clone()),
        );
    }
    let metadata = SessionMetadata {
        device: Some(pow_core::session::device_of(req)),
        authenticated_at: user.password_hash.is_none().then(pow_core::time::now_ms),
        extra,
        ..SessionMetadata::new().with_method(SSO)
    };
    session.start(config, user, metadata).await?;
    let mut facts = req.facts();
    facts.session = session
        .current()
        .map(|current| (current.session_id, current.user.id));
    audit::record(
        config,
        event(events::SIGNED_IN, connection)
            .request(config, &facts)
            .user(user.id),
    );
    Ok(())
}

/// A fresh random value for a `state` or a hand-off key (256 bits, URL-safe).
#[cfg(feature = "saml")]
fn random_key() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SAML: begins a sign-in at the connection's identity provider (an AuthnRequest on the
/// HTTP-Redirect binding), keeping the request sealed with the attempt under `state`,
/// which travels as the `RelayState`.
#[cfg(feature = "saml")]
async fn begin_saml(
    config: &PowConfig,
    connection: &Connection,
    redirect_uri: String,
    intent: Intent,
) -> Result<Option<Begun>, PowError> {
    let Some(metadata) = connection.saml_metadata.clone() else {
        return Ok(None);
    };
    let origin = url::Url::parse(&redirect_uri)
        .ok()
        .map(|url| url.origin().ascii_serialization());
    let urls = crate::saml::SpUrls::of(config, origin.as_deref(), &connection.organization_id);
    let state = random_key();
    let (setup, relay) = (config.clone(), state.clone());
    let started =
        off_executor(move || crate::saml::start(&setup, &metadata, &urls, &relay)).await?;
    let started = match started {
        Ok(started) => started,
        Err(err) => {
            tracing::warn!(connection = %connection.id, error = %err, "SAML sign-in not begun");
            return Ok(None);
        }
    };
    let attempt = Attempt {
        connection: connection.id.clone(),
        nonce: String::new(),
        pkce_verifier: String::new(),
        redirect_uri,
        intent,
        saml_tracker: Some(started.tracker),
    };
    attempts(config).put(&state, &attempt).await?;
    Ok(Some(Begun {
        url: started.url,
        state,
    }))
}

/// Without the `saml` feature a SAML connection (saved by a build that had it) begins
/// nothing.
#[cfg(not(feature = "saml"))]
async fn begin_saml(
    _: &PowConfig,
    connection: &Connection,
    _: String,
    _: Intent,
) -> Result<Option<Begun>, PowError> {
    tracing::warn!(connection = %connection.id, "a SAML connection needs pow-ext-sso's `saml` feature");
    Ok(None)
}

/// A SAML answer checked at the assertion consumer service, handed to the browser's
/// callback (where its cookie session is read) under a one-time key.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Handoff {
    connection: String,
    /// The `state` of the sign-in it answers (`None`: IdP-initiated).
    state: Option<String>,
    claims: Option<Claims>,
    refusal: Option<Refusal>,
    #[serde(flatten)]
    intent: Intent,
}

/// How long a checked SAML answer waits for the browser's callback.
const HANDOFF_TTL: Duration = Duration::from_secs(2 * 60);

fn handoffs(config: &PowConfig) -> OneTimeSecrets {
    OneTimeSecrets::new(config, "sso", "saml_handoff", HANDOFF_TTL)
}

/// SAML: the assertion consumer service's decision on a `SAMLResponse` posted for
/// organization `org`'s connection. The attempt of `relay_state` is taken once (its sealed request binds
/// `InResponseTo`); without one the answer is unsolicited, taken only where the
/// connection allows IdP-initiated sign-in. A connection that is gone or off refuses
/// (an admin's test excepted). The answer is verified on a blocking thread, its
/// assertion id claimed in the store. Returns the hand-off key and the `state` the
/// browser's callback must hold.
///
/// # Errors
/// The store's or the database's error.
#[cfg(feature = "saml")]
pub(crate) async fn saml_answer(
    config: &PowConfig,
    org: &str,
    origin: Option<&str>,
    response: Option<String>,
    relay_state: Option<String>,
) -> Result<(String, Option<String>), PowError> {
    let store = Connections::new(config)?;
    let connection = store.of_organization(org).await?;
    let id = connection
        .as_ref()
        .map(|c| c.id.clone())
        .unwrap_or_default();
    let attempt = match relay_state.as_deref() {
        Some(relay) if !relay.is_empty() => attempts(config).take::<Attempt>(relay).await?,
        _ => None,
    };
    let solicited = attempt.is_some();
    let (intent, tracker) = match attempt {
        Some(attempt) if attempt.connection == id => (attempt.intent, attempt.saml_tracker),
        _ => (Intent::default(), None),
    };
    let while_off = intent.works_while_off();
    let mut handoff = Handoff {
        connection: id.clone(),
        state: relay_state.filter(|_| solicited),
        claims: None,
        refusal: None,
        intent,
    };
    let refusal = match &connection {
        None => Some(Refusal::Disabled),
        Some(connection) if !connection.enabled && !while_off => Some(Refusal::Disabled),
        Some(connection) if !connection.is_saml() => Some(Refusal::State),
        // A relay state that names no attempt of this connection: forged, replayed or
        // for another connection.
        Some(_) if solicited && tracker.is_none() => Some(Refusal::State),
        Some(connection) if !solicited && !connection.idp_initiated => Some(Refusal::State),
        Some(_) if response.is_none() => Some(Refusal::Provider),
        Some(_) => None,
    };
    match (refusal, connection) {
        (Some(refusal), connection) => {
            if let Some(connection) = &connection {
                refused_answer(config, connection, refusal.key());
            }
            handoff.refusal = Some(refusal);
        }
        (None, Some(connection)) => {
            let urls = crate::saml::SpUrls::of(config, origin, org);
            let replay = crate::saml::StoreReplay::new(config);
            let setup = config.clone();
            let metadata = connection.saml_metadata.clone().unwrap_or_default();
            let idp_initiated = connection.idp_initiated;
            let response = response.unwrap_or_default();
            let checked = off_executor(move || {
                let answer = crate::saml::Answer {
                    metadata: &metadata,
                    urls: &urls,
                    idp_initiated,
                    response: &response,
                    tracker: tracker.as_deref(),
                };
                crate::saml::consume(&setup, &answer, &replay)
            })
            .await?;
            match checked {
                Ok(claims) => handoff.claims = Some(claims),
                Err(err) => {
                    tracing::warn!(connection = %connection.id, error = %err, "SAML answer refused");
                    refused_answer(config, &connection, &err.to_string());
                    handoff.refusal = Some(Refusal::Token);
                }
            }
        }
        (None, None) => handoff.refusal = Some(Refusal::Disabled),
    }
    let key = random_key();
    handoffs(config).put(&key, &handoff).await?;
    Ok((key, handoff.state))
}

/// Records a refused SAML answer with its reason.
#[cfg(feature = "saml")]
pub(crate) fn audit_refused_answer(config: &PowConfig, connection: &Connection, reason: &str) {
    refused_answer(config, connection, reason);
}

/// SAML single logout from the identity provider: every session of the user the
/// connection knows as `subject` that signed in through single sign-on ends. Audited.
///
/// # Errors
/// The store's or the database's error.
#[cfg(feature = "saml")]
pub(crate) async fn single_logout(
    config: &PowConfig,
    connection: &Connection,
    subject: &str,
) -> Result<usize, PowError> {
    let store = Connections::new(config)?;
    let Some(identity) = store.identity(&connection.id, subject).await? else {
        return Ok(0);
    };
    let mut ended = 0;
    for session in pow_core::session::user_sessions(config, identity.user_id).await? {
        if session.methods.contains(&SSO)
            && pow_core::session::end_session(config, identity.user_id, &session.id).await?
        {
            ended += 1;
        }
    }
    audit::record(
        config,
        event(events::LOGGED_OUT, connection)
            .user(identity.user_id)
            .detail("sessions", ended),
    );
    Ok(ended)
}

/// Records a refused SAML answer with its reason.
#[cfg(feature = "saml")]
fn refused_answer(config: &PowConfig, connection: &Connection, reason: &str) {
    audit::record(
        config,
        event(events::ANSWER_REFUSED, connection).detail("reason", reason.to_owned()),
    );
}

/// SAML: finishes at the browser's callback the answer handed off under `key`. A
/// solicited answer needs `state`, which the caller passes only when the browser's
/// cookie session holds it (the sign-in began in this browser); an unsolicited one needs
/// the connection to still allow IdP-initiated sign-in. The connection must still be on.
///
/// # Errors
/// The store's or the database's error.
pub(crate) async fn finish_saml(
    config: &PowConfig,
    key: &str,
    state: Option<&str>,
) -> Result<Finished, PowError> {
    let Some(handoff) = handoffs(config).take::<Handoff>(key).await? else {
        return Ok(Finished::Refused(Refusal::State));
    };
    if let Some(expected) = &handoff.state {
        if state != Some(expected.as_str()) {
            return Ok(Finished::Refused(Refusal::State));
        }
    }
    let store = Connections::new(config)?;
    let Some(connection) = store.get(&handoff.connection).await? else {
        return Ok(Finished::Refused(Refusal::Disabled));
    };
    if !connection.enabled && !handoff.intent.works_while_off() {
        return Ok(Finished::Refused(Refusal::Disabled));
    }
    if handoff.state.is_none() && !connection.idp_initiated {
        return Ok(Finished::Refused(Refusal::State));
    }
    if let Some(refusal) = handoff.refusal {
        return Ok(Finished::Refused(refusal));
    }
    let Some(claims) = handoff.claims else {
        return Ok(Finished::Refused(Refusal::Token));
    };
    conclude(config, &store, connection, claims, handoff.intent).await
}

/// An audit event about `connection`.
pub(crate) fn event(name: EventName, connection: &Connection) -> AuditEvent {
    AuditEvent::new(name)
        .detail("organization", connection.organization_id.clone())
        .detail("connection", connection.id.clone())
}

/// Runs blocking work (a provider call) on tokio's blocking pool.
async fn off_executor<T, F>(work: F) -> Result<T, PowError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| PowError::Blocking(err.to_string()))
}

// ---------------------------------------------------------------------------------------
// Admins' changes.

/// An organization, its connection and the admin's membership.
#[derive(Clone, Debug, Serialize)]
pub struct Managed {
    /// The organization.
    pub organization: Organization,
    /// Its connection, if set up.
    pub connection: Option<Connection>,
    /// The URL to register at the provider as the redirect URI.
    pub redirect_uri: String,
    /// Its verified domains (enforcement covers the members at them).
    pub verified_domains: Vec<String>,
    /// SAML (feature `saml`): what to give the identity provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml_service_provider: Option<ServiceProviderUrls>,
}

/// This app as a SAML service provider of an organization.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceProviderUrls {
    /// The entity id, which is the URL of its metadata document.
    pub entity_id: String,
    /// The assertion consumer service (HTTP-POST binding).
    pub acs_url: String,
}

/// Why an admin's change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Not a member who may manage single sign-on, or no such organization.
    Refused(Refused),
    /// The form's values (the message key of the problem).
    Invalid(&'static str),
    /// No connection set up yet.
    NoConnection,
    /// Enforcement needs a successful sign-in through the connection first.
    NotValidated,
}

impl Change {
    /// Its HTTP status, JSON error code and message key, the same on pages and in JSON.
    pub fn answer(self) -> (u16, &'static str, &'static str) {
        match self {
            Change::Refused(Refused::Forbidden) => (403, "forbidden", "pow_sso_forbidden"),
            Change::Refused(_) => (404, "not_found", "pow_sso_not_found"),
            Change::Invalid(key) => (422, "invalid_connection", key),
            Change::NoConnection => (409, "no_connection", "pow_sso_no_connection_yet"),
            Change::NotValidated => (409, "not_validated", "pow_sso_not_validated"),
        }
    }
}

/// Counts a sign-in begun from `facts`' client address against the setup's limit
/// ([`Sso::start_rate_limit`]): each one keeps a record in the cache store until it ends.
///
/// # Errors
/// [`PowError::RateLimited`] over the limit; the store's error.
pub(crate) async fn count_start(
    config: &PowConfig,
    sso: &Sso,
    facts: &dyn RequestSource,
) -> Result<(), PowError> {
    let address = facts
        .facts()
        .client_ip
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let limit = sso.start_limit;
    if pow_core::store::Limiter::new(config, "sso_start")
        .hit(limit, &address)
        .await?
    {
        return Ok(());
    }
    Err(PowError::RateLimited(pow_core::error::RateLimited {
        reason: pow_core::error::LimitReason::TooManyAttempts,
        retry_after: limit.per,
    }))
}

async fn managed_membership(
    config: &PowConfig,
    admin: &User,
    slug: &str,
) -> Result<Result<Membership, Change>, PowError> {
    Ok(orgs::authorize(config, admin, slug, permission::MANAGE_SSO)
        .await?
        .map_err(Change::Refused))
}

/// The organization `slug`'s single sign-on as its admin sees it.
///
/// # Errors
/// The database's error.
pub async fn managed(
    config: &PowConfig,
    admin: &User,
    slug: &str,
    redirect_uri: String,
) -> Result<Result<Managed, Change>, PowError> {
    let membership = match managed_membership(config, admin, slug).await? {
        Ok(membership) => membership,
        Err(change) => return Ok(Err(change)),
    };
    let org = membership.organization;
    let connection = Connections::new(config)?.of_organization(&org.id).await?;
    let verified_domains =
        pow_ext_organizations::domains::verified_domains(config, &org.id).await?;
    #[cfg(feature = "saml")]
    let saml_service_provider = {
        let origin = url::Url::parse(&redirect_uri)
            .ok()
            .map(|url| url.origin().ascii_serialization());
        let urls = crate::saml::SpUrls::of(config, origin.as_deref(), &org.id);
        Some(ServiceProviderUrls {
            entity_id: urls.entity_id,
            acs_url: urls.acs,
        })
    };
    #[cfg(not(feature = "saml"))]
    let saml_service_provider = None;
    Ok(Ok(Managed {
        organization: org,
        connection,
        redirect_uri,
        verified_domains,
        saml_service_provider,
    }))
}

/// Sets the organization's connection up or changes it (audited). The issuer must be an
/// `https` URL (or loopback `http` where the setup allows loopback fetches), the client id
/// present, the role one of the setup's below owner.
///
/// # Errors
/// The database's error.
pub async fn save(
    config: &PowConfig,
    sso: &Sso,
    admin: &User,
    slug: &str,
    spec: ConnectionSpec,
) -> Result<Result<Connection, Change>, PowError> {
    let membership = match managed_membership(config, admin, slug).await? {
        Ok(membership) => membership,
        Err(change) => return Ok(Err(change)),
    };
    let mut spec = spec;
    if spec.protocol == Protocol::Saml {
        if let Err(key) = saml_spec(sso, &mut spec).await {
            return Ok(Err(Change::Invalid(key)));
        }
    }
    if let Err(key) = check_spec(config, sso, &spec) {
        return Ok(Err(Change::Invalid(key)));
    }
    let store = Connections::new(config)?;
    let connection = store.save(&membership.organization.id, &spec).await?;
    audit::record(
        config,
        event(events::CONNECTION_SAVED, &connection)
            .user(admin.id)
            .detail("issuer", connection.issuer.clone()),
    );
    Ok(Ok(connection))
}

/// A SAML connection's settings: the identity provider's metadata, fetched from its URL
/// through the address-checked client when given one (`https`, or loopback `http` where
/// the setup allows loopback fetches; 256 KiB, 5 s), read and checked (a signing
/// certificate, an HTTP-Redirect single sign-on service); its entity id becomes the
/// connection's issuer. A document that names no signing certificate is refused: no
/// metadata turns the signature checks off.
#[cfg(feature = "saml")]
async fn saml_spec(sso: &Sso, spec: &mut ConnectionSpec) -> Result<(), &'static str> {
    if spec
        .saml_metadata
        .as_deref()
        .is_none_or(|xml| xml.trim().is_empty())
    {
        let url = spec
            .saml_metadata_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .ok_or("pow_sso_invalid_metadata")?;
        let http = OutboundClient::new()
            .max_bytes(crate::saml::MAX_METADATA as u64)
            .timeout(Duration::from_secs(5))
            .allow_loopback(sso.loopback_fetches)
            .root_certificates(sso.fetch_roots.clone());
        let fetched = http.get(url).await.map_err(|err| {
            tracing::warn!(error = %err, "SAML metadata not fetched");
            "pow_sso_metadata_unreachable"
        })?;
        if fetched.status != 200 {
            return Err("pow_sso_metadata_unreachable");
        }
        let xml = String::from_utf8(fetched.body).map_err(|_| "pow_sso_invalid_metadata")?;
        spec.saml_metadata = Some(xml);
    }
    let xml = spec.saml_metadata.clone().unwrap_or_default();
    let read = tokio::task::spawn_blocking(move || crate::saml::read_metadata(&xml))
        .await
        .map_err(|_| "pow_sso_invalid_metadata")?;
    match read {
        Ok(idp) => {
            spec.issuer = idp.entity_id;
            spec.client_id = String::new();
            spec.client_secret = None;
            Ok(())
        }
        Err(crate::saml::SamlError::NoCertificate) => Err("pow_sso_metadata_no_certificate"),
        Err(err) => {
            tracing::info!(error = %err, "SAML metadata refused");
            Err("pow_sso_invalid_metadata")
        }
    }
}

/// Without the `saml` feature no SAML connection is set up.
#[cfg(not(feature = "saml"))]
async fn saml_spec(_: &Sso, _: &mut ConnectionSpec) -> Result<(), &'static str> {
    Err("pow_sso_saml_unavailable")
}

fn check_spec(config: &PowConfig, sso: &Sso, spec: &ConnectionSpec) -> Result<(), &'static str> {
    if spec.protocol == Protocol::Saml {
        return check_role(config, spec);
    }
    let issuer = url::Url::parse(spec.issuer.trim()).map_err(|_| "pow_sso_invalid_issuer")?;
    let loopback = matches!(issuer.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let scheme_ok = issuer.scheme() == "https" || (sso.loopback_fetches && loopback);
    if !scheme_ok
        || issuer.query().is_some()
        || issuer.fragment().is_some()
        || !issuer.username().is_empty()
    {
        return Err("pow_sso_invalid_issuer");
    }
    let client_ok = !spec.client_id.trim().is_empty()
        && spec.client_id.len() <= 255
        && !spec.client_id.chars().any(char::is_control);
    if !client_ok || spec.client_secret.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err("pow_sso_invalid_client");
    }
    check_role(config, spec)
}

/// The default role is one of the setup's, below owner.
fn check_role(config: &PowConfig, spec: &ConnectionSpec) -> Result<(), &'static str> {
    let role_ok = pow_ext_organizations::Organizations::of(config).is_some_and(|settings| {
        settings.role_rank(&spec.default_role).is_some()
            && spec.default_role != pow_ext_organizations::OWNER
    });
    if !role_ok {
        return Err("pow_sso_invalid_role");
    }
    Ok(())
}

/// A switch an admin turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    /// The connection signs people in.
    Enable,
    /// It does not: every entry point refuses (enforcement ends with it).
    Disable,
    /// Members at the verified domains sign in only through it; their sessions end.
    Enforce,
    /// Enforcement ends.
    Relax,
}

/// Turns `switch` on the organization's connection (audited). Enforcing needs the
/// connection on and validated; it ends the sessions of every member at the verified
/// domains but `admin`'s own.
///
/// # Errors
/// The database's or the store's error.
pub async fn switch(
    config: &PowConfig,
    admin: &User,
    slug: &str,
    switch: Switch,
) -> Result<Result<Connection, Change>, PowError> {
    let membership = match managed_membership(config, admin, slug).await? {
        Ok(membership) => membership,
        Err(change) => return Ok(Err(change)),
    };
    let store = Connections::new(config)?;
    let Some(connection) = store.of_organization(&membership.organization.id).await? else {
        return Ok(Err(Change::NoConnection));
    };
    let (flag, on, name) = match switch {
        Switch::Enable => (Flag::Enabled, true, events::ENABLED),
        Switch::Disable => (Flag::Enabled, false, events::DISABLED),
        Switch::Enforce => (Flag::Enforced, true, events::ENFORCED),
        Switch::Relax => (Flag::Enforced, false, events::RELAXED),
    };
    if switch == Switch::Enforce && (connection.validated_at.is_none() || !connection.enabled) {
        return Ok(Err(Change::NotValidated));
    }
    store.set_flag(&connection.id, flag, on).await?;
    if switch == Switch::Disable {
        store
            .set_flag(&connection.id, Flag::Enforced, false)
            .await?;
    }
    audit::record(config, event(name, &connection).user(admin.id));
    if switch == Switch::Enforce {
        end_covered_sessions(config, &store, &connection, admin.id).await?;
    }
    let connection = store.get(&connection.id).await?.unwrap_or(connection);
    Ok(Ok(connection))
}

/// Ends every credential of the members enforcement now covers (the policy's own rule,
/// [`Connections::enforcing`]), but `spare`'s and the break-glass owner's: their next
/// request on any node is signed out.
async fn end_covered_sessions(
    config: &PowConfig,
    store: &Connections,
    connection: &Connection,
    spare: i64,
) -> Result<usize, PowError> {
    let mut ended = 0;
    for user_id in store.member_ids(&connection.organization_id).await? {
        if user_id == spare || connection.break_glass_user_id == Some(user_id) {
            continue;
        }
        let Some(user) = pow_core::flows::stored_user(config, user_id).await? else {
            continue;
        };
        let domain = address_domain(&user).unwrap_or_default();
        if store.enforcing(user.id, &domain).await?.is_some() {
            pow_core::session::revoke_user(config, &user).await?;
            ended += 1;
        }
    }
    Ok(ended)
}

/// The domain of `user`'s address, lowercased.
pub(crate) fn address_domain(user: &User) -> Option<String> {
    let email = user.email()?;
    let (_, domain) = email.rsplit_once('@')?;
    Some(domain.to_ascii_lowercase())
}

/// Names the organization's break-glass owner (`None`: nobody), who may sign in with a
/// password and a second factor while the connection is enforced. Only an owner may be
/// named, and only by an owner. Audited.
///
/// # Errors
/// The database's error.
pub async fn set_break_glass(
    config: &PowConfig,
    admin: &User,
    slug: &str,
    owner: Option<i64>,
) -> Result<Result<Connection, Change>, PowError> {
    let membership = match managed_membership(config, admin, slug).await? {
        Ok(membership) => membership,
        Err(change) => return Ok(Err(change)),
    };
    if membership.role != pow_ext_organizations::OWNER {
        return Ok(Err(Change::Refused(Refused::Forbidden)));
    }
    let org = &membership.organization;
    if let Some(owner) = owner {
        let named = orgs::membership_in(config, &org.id, owner).await?;
        if named.is_none_or(|m| m.role != pow_ext_organizations::OWNER) {
            return Ok(Err(Change::Invalid("pow_sso_break_glass_not_owner")));
        }
    }
    let store = Connections::new(config)?;
    let Some(connection) = store.of_organization(&org.id).await? else {
        return Ok(Err(Change::NoConnection));
    };
    store.set_break_glass(&connection.id, owner).await?;
    let mut record = event(events::BREAK_GLASS_NAMED, &connection).user(admin.id);
    if let Some(owner) = owner {
        record = record.detail("owner", owner.to_string());
    }
    audit::record(config, record);
    let connection = store.get(&connection.id).await?.unwrap_or(connection);
    Ok(Ok(connection))
}

/// Removes the organization's connection and its identities (audited); enforcement ends
/// with it.
///
/// # Errors
/// The database's error.
pub async fn remove(
    config: &PowConfig,
    admin: &User,
    slug: &str,
) -> Result<Result<(), Change>, PowError> {
    let membership = match managed_membership(config, admin, slug).await? {
        Ok(membership) => membership,
        Err(change) => return Ok(Err(change)),
    };
    let store = Connections::new(config)?;
    let Some(connection) = store.of_organization(&membership.organization.id).await? else {
        return Ok(Err(Change::NoConnection));
    };
    store.remove(&connection.id).await?;
    audit::record(
        config,
        event(events::CONNECTION_REMOVED, &connection).user(admin.id),
    );
    Ok(Ok(()))
}

/// The connection a signed-in member links their account through: the organization's,
/// when it is on.
///
/// # Errors
/// The database's error.
pub(crate) async fn linkable(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Result<Connection, Change>, PowError> {
    let Some(org) = orgs::by_slug(config, slug).await? else {
        return Ok(Err(Change::Refused(Refused::NotFound)));
    };
    if orgs::membership(config, user, &org.slug).await?.is_none() {
        return Ok(Err(Change::Refused(Refused::NotFound)));
    }
    Ok(Connections::new(config)?
        .of_organization(&org.id)
        .await?
        .filter(|connection| connection.enabled)
        .ok_or(Change::NoConnection))
}

/// The connection an admin tests: the organization's, on or off.
///
/// # Errors
/// The database's error.
pub(crate) async fn testable(
    config: &PowConfig,
    admin: &User,
    slug: &str,
) -> Result<Result<Connection, Change>, PowError> {
    let membership = match managed_membership(config, admin, slug).await? {
        Ok(membership) => membership,
        Err(change) => return Ok(Err(change)),
    };
    Ok(Connections::new(config)?
        .of_organization(&membership.organization.id)
        .await?
        .ok_or(Change::NoConnection))
}

//! The OAuth flows, on the engine: the work behind the pages and the JSON endpoints
//! (beginning a sign-in at a provider, finishing it, the sign-up checks and writes) and the
//! sign-in of a linked account, [`sign_in`], which a CLI, a job or a test runs without HTTP
//! with a [`StoreSession`](pow_core::session::StoreSession):
//!
//! ```
//! use pow_core::request::RequestFacts;
//! use pow_core::session::{AuthMethod, SessionHandle, StoreSession, StepUp};
//! use pow_core::users::diesel::DieselUsersContext;
//! use pow_core::PowConfig;
//! use pow_ext_oauth::{events, flow, OAuth, Provider};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let users = DieselUsersContext::connect(":memory:")?;
//! let github = Provider::github("client id", "client secret");
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
//!     .extension(OAuth::new().provider(github.clone())?)
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "a long passphrase")?;
//!
//! // Ada's linked GitHub account signs her in: the session records the method.
//! let mut session = StoreSession::new();
//! flow::sign_in(&config, &RequestFacts::default(), &ada, &github, events::SIGNED_IN, &mut session)
//!     .await?;
//! let current = session.current().expect("signed in");
//! assert_eq!(current.user.id, ada.id);
//! let recent = StepUp::any_of([AuthMethod::OAUTH], std::time::Duration::from_secs(60));
//! assert!(recent.is_met(&current.metadata, &config));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;

use pow_core::audit::{self, AuditEvent, EventName};
use pow_core::request::RequestSource;
use pow_core::session::{AuthMethod, SessionHandle, SessionMetadata};
use pow_core::users::validation::normalize_user_id;
use pow_core::users::{Changeset, Params, User, Value};
use pow_core::{PowConfig, PowError};

use crate::identities::{Identities, Identity, Insert};
use crate::provider::{Profile, Provider};
pub(crate) use crate::store::Attempt;
use crate::store::{Records, ATTEMPT};
use crate::{OAuth, OAuthError};

/// The OAuth controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_core::pipeline::{ActionId, ActionKind};

    /// `GET /auth/{provider}/new`: off to the provider to sign in.
    pub const NEW: ActionId = ActionId::new("oauth", "new", ActionKind::Other);
    /// `POST /auth/{provider}/link`: off to the provider to link an account (sudo mode).
    pub const LINK: ActionId = ActionId::new("oauth", "link", ActionKind::Other);
    /// `GET /auth/{provider}/callback`, the provider's answer, until it is read: the
    /// callback then goes on as [`SIGN_IN`], [`SIGN_UP`], [`LINKED`] or [`FAILED`].
    pub const CALLBACK: ActionId = ActionId::new("oauth", "callback", ActionKind::Other);
    /// The callback signed in a user through a linked account (sign-in callbacks run: a
    /// second factor, an unconfirmed address).
    pub const SIGN_IN: ActionId = ActionId::new("oauth", "sign_in", ActionKind::SignIn);
    /// The callback created a user from the provider's profile (sign-up callbacks run:
    /// the confirmation mail for an address the provider did not verify).
    pub const SIGN_UP: ActionId = ActionId::new("oauth", "create", ActionKind::SignUp);
    /// The callback linked an account to the signed-in user, or refused to.
    pub const LINKED: ActionId = ActionId::new("oauth", "linked", ActionKind::Other);
    /// The callback refused: denied consent, forged state, a provider error.
    pub const FAILED: ActionId = ActionId::new("oauth", "failed", ActionKind::Other);
    /// `GET /auth/identities`: the linked accounts page.
    pub const INDEX: ActionId = ActionId::new("oauth", "index", ActionKind::Show);
    /// `POST /auth/{provider}/unlink`: unlink one (sudo mode).
    pub const UNLINK: ActionId = ActionId::new("oauth", "unlink", ActionKind::Other);
    /// The JSON endpoints.
    pub const API: ActionId = ActionId::new("api_oauth", "create", ActionKind::Other);
}

/// Session metadata value of `auth_method` for a provider sign-in: `oauth:<provider>`.
pub(crate) const METHOD_KEY: &str = "auth_method";

/// Where a sign-in returns and what it is for.
pub(crate) struct Begin {
    pub redirect_uri: String,
    pub link_user: Option<i64>,
    pub request_path: Option<String>,
    pub api: bool,
}

/// A sign-in begun: the provider's consent page and the state it sends back.
pub(crate) struct Opened {
    pub url: String,
    pub state: String,
}

/// Begins a sign-in at `provider` (discovery and the authorization URL on a blocking
/// thread) and stores what the callback needs under the new state. `None` when the
/// provider cannot be reached (logged).
pub(crate) async fn open(
    config: &PowConfig,
    ext: &OAuth,
    provider: &Provider,
    begin: Begin,
) -> Result<Option<Opened>, PowError> {
    let (p, http, uri) = (
        provider.clone(),
        ext.http.clone(),
        begin.redirect_uri.clone(),
    );
    let started = match off_executor(move || p.start(&http, &uri)).await? {
        Ok(started) => started,
        Err(err) => {
            tracing::warn!(provider = provider.id(), error = %err, "OAuth provider unavailable");
            return Ok(None);
        }
    };
    let attempt = Attempt {
        provider: provider.id().to_owned(),
        link_user: begin.link_user,
        nonce: started.nonce,
        pkce_verifier: started.pkce_verifier,
        redirect_uri: begin.redirect_uri,
        request_path: begin.request_path,
        api: begin.api,
    };
    Records::new(config)
        .put(ATTEMPT, &started.state, &attempt, ext.ttl)
        .await?;
    Ok(Some(Opened {
        url: started.url,
        state: started.state,
    }))
}

/// Finishes a sign-in: trades `code` for the provider's profile (on a blocking thread) and
/// finds the identity it names, if linked. The provider's refusal comes back as `Err`
/// (logged).
pub(crate) async fn finish(
    config: &PowConfig,
    ext: &OAuth,
    provider: &Provider,
    attempt: &Attempt,
    code: String,
) -> Result<Result<(Profile, Option<Identity>), OAuthError>, PowError> {
    let (p, http, a) = (provider.clone(), ext.http.clone(), attempt.clone());
    let finished =
        off_executor(move || p.finish(&http, &a.redirect_uri, &code, &a.pkce_verifier, &a.nonce))
            .await?;
    let profile = match finished {
        Ok(profile) => profile,
        Err(err) => {
            tracing::warn!(provider = provider.id(), error = %err, "OAuth sign-in refused");
            return Ok(Err(err));
        }
    };
    let identity = identities(config)?.get(provider.id(), &profile.uid).await?;
    Ok(Ok((profile, identity)))
}

/// Takes the attempt of `state` (once: a state answers one callback) for `provider`,
/// begun on the JSON side (`api`) or in a browser; `None` for an unknown, used or expired
/// state, or one of another provider or side.
///
/// # Errors
/// The store's error.
pub(crate) async fn take_attempt(
    config: &PowConfig,
    state: &str,
    provider: &Provider,
    api: bool,
) -> Result<Option<Attempt>, PowError> {
    Ok(Records::new(config)
        .take::<Attempt>(ATTEMPT, state)
        .await?
        .filter(|attempt| attempt.provider == provider.id() && attempt.api == api))
}

/// The user a linked provider account `identity` belongs to, if it is still there.
///
/// # Errors
/// The users context's error.
pub(crate) async fn linked_user(
    config: &PowConfig,
    identity: &Identity,
) -> Result<Option<User>, PowError> {
    pow_core::flows::stored_user(config, identity.user_id).await
}

pub(crate) fn identities(config: &PowConfig) -> Result<Identities, PowError> {
    Identities::new(config)
}

/// Runs a provider request (`ureq` blocks) on tokio's blocking pool, never on the async
/// executor.
async fn off_executor<T, F>(work: F) -> Result<T, PowError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| PowError::Blocking(err.to_string()))
}

/// What a sign-up from a provider profile may do.
pub(crate) enum SignUpCheck {
    /// Create the user with this (normalized) address.
    Create(String),
    /// Mail a staged sign-up to this address.
    Staged(String),
    /// Refuse, with this message key.
    Refuse(&'static str),
}

/// The checks before a sign-up from `profile`. An address that belongs to an account is
/// never linked silently: its owner signs in first and links from the account page.
pub(crate) async fn check_sign_up(
    config: &PowConfig,
    profile: &Profile,
    staged: bool,
) -> Result<SignUpCheck, PowError> {
    let email = profile.email.as_deref().map(normalize_user_id);
    let Some(email) = email.filter(|e| !e.is_empty()) else {
        return Ok(SignUpCheck::Refuse("pow_oauth_no_email"));
    };
    if config
        .users()?
        .get_by("email", Value::Text(email.clone()))
        .await?
        .is_some()
    {
        return Ok(SignUpCheck::Refuse("pow_oauth_email_taken"));
    }
    if !profile.email_verified {
        if staged {
            return Ok(SignUpCheck::Staged(email));
        }
        if config.extensions().address_proof().is_none() {
            // Nothing would prove the address: someone else's address must not become
            // theirs through a provider that does not check it.
            return Ok(SignUpCheck::Refuse("pow_oauth_email_unverified"));
        }
    }
    Ok(SignUpCheck::Create(email))
}

/// The sign-up params from a profile: the address, and the name when shared.
pub(crate) fn sign_up_params(email: &str, profile: &Profile) -> Params {
    let mut params = Params::new();
    params.insert("email".to_owned(), email.to_owned());
    if let Some(name) = &profile.name {
        params.insert("name".to_owned(), name.clone());
    }
    params
}

/// Creates the user of `params` and links the provider account to it, or neither: a
/// refusal comes back as a message key.
pub(crate) async fn create_linked_user(
    config: &PowConfig,
    provider: &Provider,
    profile: &Profile,
    params: Params,
) -> Result<Result<User, &'static str>, PowError> {
    let email = params.get("email").cloned();
    let user = match create_user(config, params, profile.email_verified).await? {
        Ok(user) => user,
        Err(cs) if cs.errors.has("email", "taken") => return Ok(Err("pow_oauth_email_taken")),
        Err(_) => return Ok(Err("pow_oauth_sign_up_incomplete")),
    };
    let linked = identities(config)?
        .insert(provider.id(), &profile.uid, user.id, email.as_deref())
        .await;
    if matches!(linked, Ok(Insert::Linked)) {
        return Ok(Ok(user));
    }
    // Linked meanwhile by another callback, or the write failed: the new user goes
    // again, nothing half-made stays.
    config.users()?.delete(&user).await?;
    linked?;
    Ok(Err("pow_oauth_invalid_state"))
}

/// Creates the user of `params` without linking any provider account (the provider did
/// not vouch for the address: the account is linked once the address is proven). A
/// refusal comes back as a message key.
pub(crate) async fn create_unlinked_user(
    config: &PowConfig,
    params: Params,
) -> Result<Result<User, &'static str>, PowError> {
    Ok(match create_user(config, params, false).await? {
        Ok(user) => Ok(user),
        Err(cs) if cs.errors.has("email", "taken") => Err("pow_oauth_email_taken"),
        Err(_) => Err("pow_oauth_sign_up_incomplete"),
    })
}

/// A user without a password (see [`pow_core::flows::provision_user`]).
async fn create_user(
    config: &PowConfig,
    params: Params,
    verified: bool,
) -> Result<Result<User, Changeset>, PowError> {
    pow_core::flows::provision_user(config, params, verified).await
}

/// Signs the client in as `user` through `provider` (a sign-in of a linked account, or a
/// sign-up's own) and records `event` (`SIGNED_IN` or `REGISTERED`). A user who signs in
/// only through providers has no password to prove: the session is fresh (sudo mode does
/// not ask for a password they lack). A disabled user is refused by the start itself.
///
/// # Errors
/// `session`'s refusal to start, or the store's error.
pub async fn sign_in<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    req: &dyn RequestSource,
    user: &User,
    provider: &Provider,
    event: EventName,
    session: &mut H,
) -> Result<(), H::Error> {
    let mut extra = BTreeMap::new();
    extra.insert(
        METHOD_KEY.to_owned(),
        serde_json::Value::from(format!("oauth:{}", provider.id())),
    );
    let metadata = SessionMetadata {
        authenticated_at: user.password_hash.is_none().then(pow_core::time::now_ms),
        extra,
        ..SessionMetadata::new().with_method(AuthMethod::OAUTH)
    };
    session.start(config, user, metadata).await?;
    // The event names the session this sign-in started, whatever carries it.
    let mut facts = req.facts();
    facts.session = session
        .current()
        .map(|current| (current.session_id, current.user.id));
    audit::record(
        config,
        AuditEvent::new(event)
            .request(config, &facts)
            .user(user.id)
            .detail("provider", provider.id()),
    );
    Ok(())
}

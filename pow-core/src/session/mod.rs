//! Sessions, framework-free: who is signed in, the [`CredentialsCache`] that keeps
//! sessions, the [`SessionHandle`] every flow signs in and out through, step-up rules
//! ([`StepUp`]) and the authentication methods a session records ([`AuthMethod`]).
//!
//! A web framework's layer (the `pow-actix` crate's middleware and cookie session) finds
//! the session of a request and hands the flows a [`SessionHandle`]; a CLI or a test uses
//! [`StoreSession`] directly. The [`CurrentSession`] of a request is what every layer puts
//! where its handlers read it.

use std::sync::Arc;

use crate::config::PowConfig;
use crate::error::PowError;
use crate::token::generate_uuid;
use crate::users::User;

pub mod browser;
pub(crate) mod browser_session;
pub mod cookie;
mod credentials;
pub mod csrf;
pub mod devices;
pub mod flash;
mod handle;
pub mod impersonation;
mod impersonation_rule;
pub(crate) mod live;
mod live_sessions;
mod memo;
mod metadata;
mod methods;
mod outage;
mod policy;
mod records;
mod shards;
mod step_up;
#[doc(hidden)]
pub mod tokens;

pub(crate) use browser_session::{CookieQueue, HoldsBrowserSession};
pub use cookie::{cookie_key, CookieSession, CookieSessionError};
pub use credentials::CredentialsCache;
#[doc(hidden)]
pub use handle::nobody_signed_in;
pub use handle::{SessionHandle, StoreSession};
pub use impersonation::{Impersonation, Impersonator};
pub use live::{InvalidLiveSessionId, LiveEvent, LiveEvents, LiveSessionId};
pub use live_sessions::LiveSessions;
pub use metadata::{Device, RememberedInfo, SessionInfo, SessionMetadata};
pub use methods::{AuthMethod, MethodUse};
pub use policy::{admit, SignInRefusal};
pub(crate) use shards::last_dot;
pub use step_up::StepUp;

pub(crate) use crate::time::{duration_ms, now_ms};
pub(crate) use credentials::check_loaded;

/// The signed-in session of a request, kept in the request extensions.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentSession {
    /// The signed-in user, shared with the session cache (cloning it is cheap).
    pub user: Arc<User>,
    /// The live session id (after any rotation during this request).
    pub session_id: String,
    /// The session's metadata, shared with the session cache (change it with
    /// `Arc::make_mut`).
    pub metadata: Arc<SessionMetadata>,
}

/// The device of `req`: the client's address and a readable summary of its browser
/// ([`browser_summary`](crate::request::browser_summary): `"Firefox on Linux"`).
pub fn device_of(req: &dyn crate::request::RequestSource) -> Device {
    let facts = req.facts();
    Device {
        ip: facts.client_ip.map(|ip| ip.to_string()),
        user_agent: facts
            .user_agent
            .as_deref()
            .map(crate::request::browser_summary),
    }
}

/// The live sessions of the signed-in user, most recently active first.
///
/// # Errors
/// [`PowError::Store`] when the store fails.
pub async fn user_sessions(config: &PowConfig, user_id: i64) -> Result<Vec<SessionInfo>, PowError> {
    Ok(CredentialsCache::new(config).session_infos(user_id).await?)
}

/// What the enabled extensions keep that can sign `user_id` in again later (remember-me
/// families), with the name of the extension keeping each.
///
/// # Errors
/// [`PowError::Store`] when the store fails, or an extension's error.
pub(crate) async fn user_remembered(
    config: &PowConfig,
    user_id: i64,
) -> Result<Vec<(&'static str, RememberedInfo)>, PowError> {
    let mut all = Vec::new();
    for (name, source) in config.extensions().remembered() {
        for info in source.remembered(config, user_id).await? {
            all.push((*name, info));
        }
    }
    Ok(all)
}

/// Forgets one of [`user_remembered`] (the extension's name and the id it gave), ending
/// the sessions it signed in; `false` if the user has no such one.
///
/// # Errors
/// [`PowError::Store`] when the store fails, or an extension's error.
pub(crate) async fn forget_remembered(
    config: &PowConfig,
    user_id: i64,
    extension: &str,
    id: &str,
) -> Result<bool, PowError> {
    for (name, source) in config.extensions().remembered() {
        if *name == extension && source.forget(config, user_id, id).await? {
            crate::audit::record(
                config,
                crate::audit::AuditEvent::new(crate::audit::SESSIONS_REVOKED)
                    .user(user_id)
                    .detail("scope", "remembered")
                    .detail("sessions", 1),
            );
            return Ok(true);
        }
    }
    Ok(false)
}

/// Ends one session of `user_id` (its id from [`user_sessions`]) and whatever an
/// extension keeps to sign the same browser in again (its remember-me family: the one
/// whose fingerprint is the session's), so the ended browser stays signed out; `false`
/// if it was not one of theirs. An identity provider's single logout ends the sessions it
/// signed in with this.
///
/// # Errors
/// [`PowError::Store`] when the store fails, or an extension's error.
pub async fn end_session(
    config: &PowConfig,
    user_id: i64,
    session_id: &str,
) -> Result<bool, PowError> {
    let credentials = CredentialsCache::new(config);
    let Some(ended) = credentials
        .session_infos(user_id)
        .await?
        .into_iter()
        .find(|info| info.id == session_id)
    else {
        return Ok(false);
    };
    credentials.delete(session_id).await?;
    let mut remembered = 0;
    for (extension, info) in user_remembered(config, user_id).await? {
        if info.fingerprint == ended.fingerprint {
            for (name, source) in config.extensions().remembered() {
                if *name == extension && source.forget(config, user_id, &info.id).await? {
                    remembered += 1;
                }
            }
        }
    }
    crate::audit::record(
        config,
        crate::audit::AuditEvent::new(crate::audit::SESSIONS_REVOKED)
            .user(user_id)
            .detail("scope", "one")
            .detail("sessions", 1)
            .detail("remembered", remembered),
    );
    Ok(true)
}

/// Writes the record of a new session of `user` and applies
/// [`SessionConfig::max_sessions_per_user`](crate::SessionConfig::max_sessions_per_user):
/// the new session leads, the stalest go.
#[doc(hidden)]
pub async fn put_new_session(
    config: &PowConfig,
    credentials: &CredentialsCache,
    session_id: &str,
    user: &User,
    metadata: &SessionMetadata,
) -> Result<(), PowError> {
    credentials.put(session_id, user, metadata).await?;
    if let Some(max) = config.session().max_sessions_per_user {
        // Newest activity first.
        for stale in credentials.session_infos(user.id).await?.iter().skip(max) {
            if stale.id != session_id {
                credentials.delete(&stale.id).await?;
            }
        }
    }
    Ok(())
}

/// Records that the session `current` (a browser's or an API access token's) just proved
/// `method`, in the store, and returns it updated. [`AuthMethod::PASSWORD`] also makes it
/// fresh for sudo mode.
///
/// # Errors
/// [`PowError::Store`] when the store fails.
pub(crate) async fn record_session_method(
    config: &PowConfig,
    mut current: CurrentSession,
    method: AuthMethod,
) -> Result<CurrentSession, PowError> {
    let metadata = Arc::make_mut(&mut current.metadata);
    let now = config.clock().now_ms();
    metadata.record_method_at(method, now);
    if method == AuthMethod::PASSWORD {
        metadata.authenticated_at = Some(now);
    }
    CredentialsCache::new(config)
        .put(&current.session_id, &current.user, &current.metadata)
        .await?;
    Ok(current)
}

/// A new session id: a random UUID, prefixed with the setup's name.
pub(crate) fn new_session_id(config: &PowConfig) -> String {
    config.namespaced(&generate_uuid())
}

/// A new browser session's cookie id: a random UUID prefixed with the setup's name, then
/// `.` and the user's id, so that the session and its user are read in one store round
/// trip ([`cookie_user_id`]). The cookie is signed, so the user id in it is the server's.
#[doc(hidden)]
pub fn new_cookie_id(config: &PowConfig, user_id: i64) -> String {
    format!("{}.{user_id}", new_session_id(config))
}

/// The user id a cookie id names (see [`new_cookie_id`]), if it has one.
pub(crate) fn cookie_user_id(cookie_id: &str) -> Option<i64> {
    let dot = last_dot(cookie_id)?;
    cookie_id.get(dot + 1..)?.parse().ok()
}

/// The id the store keeps a browser session under: the SHA-256 of the id the cookie
/// carries, cut to 128 bits, then `.` and the user's id. A copy of the store holds no id a
/// cookie could carry. (The cookie's id is 122 random bits, so an unkeyed hash cannot be
/// reversed, and it stays valid whichever secret of the key ring signed the cookie.)
/// Prefixed with the setup's name, like every id of a named setup.
#[doc(hidden)]
pub fn stored_session_id(config: &PowConfig, cookie_id: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(cookie_id);
    // One allocation: a signed-in request computes this every time.
    let mut id = config.namespaced("");
    id.reserve(48);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&digest[..16], &mut id);
    if let Some(user_id) = cookie_user_id(cookie_id) {
        id.push('.');
        id.push_str(itoa::Buffer::new().format(user_id));
    }
    id
}

/// The cookie id that replaces `cookie_id` at a renewal with `handoff`: only a holder of
/// the old cookie can compute it, which lets a request racing the renewal move its client
/// to the new session while the store keeps nothing a cookie could carry.
pub(crate) fn next_cookie_id(config: &PowConfig, cookie_id: &str, handoff: &str) -> String {
    use base64::Engine as _;
    let mac = crate::token::hmac_sha256(cookie_id.as_bytes(), handoff.as_bytes());
    let id = config.namespaced(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac));
    match cookie_user_id(cookie_id) {
        Some(user_id) => format!("{id}.{user_id}"),
        None => id,
    }
}

/// Ends every credential of `user` because an identity provider deprovisioned them (SCIM's
/// `active: false` or `DELETE`): what [`revoke_user`] ends, and what outlives a password
/// change on purpose (each extension's
/// [`deprovisioned`](crate::extension::CredentialsRevoked::deprovisioned): API keys).
/// Every node refuses them on their next request.
///
/// # Errors
/// [`PowError::Store`] when the store fails, or an extension's error.
pub async fn deprovision(config: &PowConfig, user: &User) -> Result<usize, PowError> {
    let ended = revoke_user(config, user).await?;
    for hook in config.extensions().revocation_hooks() {
        hook.deprovisioned(config, user).await?;
    }
    Ok(ended)
}

/// Revokes every credential of `user`: all sessions in the credentials cache, every API
/// token ([`api::revoke_user_tokens`](crate::api::revoke_user_tokens)), and each enabled
/// extension's tokens (remember-me) through
/// [`CredentialsRevoked`](crate::extension::CredentialsRevoked) hooks.
/// Called on password change and reset, account deletion and "sign out everywhere".
///
/// # Errors
/// [`PowError::Store`] when the store fails, or an extension's error.
#[tracing::instrument(name = "pow.revoke_user", skip_all, fields(user_id = user.id))]
pub async fn revoke_user(config: &PowConfig, user: &User) -> Result<usize, PowError> {
    let removed = CredentialsCache::new(config)
        .delete_user_sessions(user.id)
        .await?;
    tokens::revoke_user_tokens(config, user.id).await?;
    for hook in config.extensions().revocation_hooks() {
        hook.credentials_revoked(config, user).await?;
    }
    crate::audit::record(
        config,
        crate::audit::AuditEvent::new(crate::audit::SESSIONS_REVOKED)
            .user(user.id)
            .detail("scope", "all")
            .detail("sessions", removed),
    );
    Ok(removed)
}

#[cfg(test)]
mod cookie_id_tests {
    use super::{cookie_user_id, last_dot};

    #[test]
    fn the_user_id_is_after_the_last_dot() {
        assert_eq!(cookie_user_id("setup.0f3a.42"), Some(42));
        assert_eq!(cookie_user_id("0f3a.7"), Some(7));
        assert_eq!(cookie_user_id("0f3a"), None);
        assert_eq!(cookie_user_id("0f3a."), None);
        assert_eq!(cookie_user_id("0f3a.x"), None);
        assert_eq!(cookie_user_id("é.5"), Some(5));
        assert_eq!(last_dot("a.b.c"), Some(3));
        assert_eq!(last_dot(""), None);
    }
}

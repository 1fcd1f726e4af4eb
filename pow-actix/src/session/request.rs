//! The session lifecycle of an actix request: the signed-in session in the request
//! extensions, sign-in (a new session, the cookie renewed, CSRF rotated), sign-out, sudo
//! mode's freshness.

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest};

use super::auth_middleware::request_config;
use super::extract::AsPowConfig;
use super::*;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::users::User;

/// The [`PowConfig`] serving this request, found one way everywhere in the actix layer:
/// one put into the request extensions (as tests do), else the one of the
/// [`PowSessionMiddleware`] (or API middleware) in front of it, else the one that mounted
/// the route ([`web::configure`](crate::web::configure),
/// [`api::configure`](crate::api::configure)).
pub fn config(req: &HttpRequest) -> Option<PowConfig> {
    request_config(req)
}

/// Whether the request has a signed-in user.
pub fn is_signed_in(req: &HttpRequest) -> bool {
    req.extensions().contains::<CurrentSession>()
}

/// The signed-in user, if any.
pub fn current_user(req: &HttpRequest) -> Option<Arc<User>> {
    req.extensions()
        .get::<CurrentSession>()
        .map(|current| current.user.clone())
}

/// Whether the signed-in session proved the password within the sudo window
/// ([`SessionConfig::sudo_window`](crate::SessionConfig::sudo_window)): `false` when nobody
/// is signed in, and for a session restored from a remember-me cookie.
pub fn is_fresh(req: &HttpRequest, config: &PowConfig) -> bool {
    req.extensions()
        .get::<CurrentSession>()
        .is_some_and(|current| current.metadata.is_fresh(config.session().sudo_window))
}

/// Records that the signed-in user just proved their password (a confirmation for sudo
/// mode): the session is fresh again, and has used [`AuthMethod::PASSWORD`] now.
///
/// # Errors
/// [`PowError::Config`] when nobody is signed in; [`PowError::Store`] when the store fails.
pub async fn mark_fresh(req: &HttpRequest) -> Result<(), PowError> {
    record_method(req, AuthMethod::PASSWORD).await
}

/// Records that the signed-in session just proved `method` (a step asked by a
/// [`StepUp`] rule): [`AuthMethod::PASSWORD`] also makes it fresh for sudo mode.
///
/// # Errors
/// [`PowError::Config`] when nobody is signed in; [`PowError::Store`] when the store fails.
pub async fn record_method(req: &HttpRequest, method: AuthMethod) -> Result<(), PowError> {
    require_config(req)?;
    CookieSessionHandle::new(req)?.record(method).await
}

/// The signed-in session, if any.
pub fn current_session(req: &HttpRequest) -> Option<CurrentSession> {
    req.extensions().get::<CurrentSession>().cloned()
}

pub(crate) fn require_config(req: &HttpRequest) -> Result<PowConfig, PowError> {
    config(req).ok_or_else(no_config)
}

/// The error of a request served without a setup.
pub(crate) fn no_config() -> PowError {
    PowError::Config(
        "no pow config on this request: wrap the app or scope with \
         PowSessionMiddleware::new(config), inside cookie_session_middleware(&config)"
            .into(),
    )
}

/// Signs `user` in with a new session: a new session id and fingerprint.
///
/// The current session, if any, is deleted; the whole cookie session is renewed (against
/// session fixation) and holds the new signed id; code running later in this request sees
/// the user through [`current_user`] and the extractors.
///
/// # Errors
/// [`PowError::Config`] without [`PowSessionMiddleware`] on the route,
/// [`PowError::Store`] when the store fails.
pub async fn sign_in(req: &HttpRequest, user: &User) -> Result<(), PowError> {
    sign_in_with(req, user, SessionMetadata::new()).await
}

/// Like [`sign_in`], keeping the fingerprint and extra values of `metadata` (for example
/// those carried by a remember-me cookie). Both timestamps are set to now: this starts a
/// new chain of sessions.
///
/// # Errors
/// As [`sign_in`].
#[tracing::instrument(name = "pow.sign_in", skip_all, fields(user_id = user.id))]
pub async fn sign_in_with(
    req: &HttpRequest,
    user: &User,
    metadata: SessionMetadata,
) -> Result<(), PowError> {
    require_config(req)?;
    CookieSessionHandle::new(req)?.sign_in(user, metadata).await
}

/// Signs the current session out: deletes it in the store and removes the session id
/// from the cookie session. The old cookie, replayed, is anonymous afterwards.
///
/// # Errors
/// [`PowError::Config`] without [`PowSessionMiddleware`] on the route,
/// [`PowError::Store`] when the store fails.
#[tracing::instrument(name = "pow.sign_out", skip_all)]
pub async fn sign_out(req: &HttpRequest) -> Result<(), PowError> {
    CookieSessionHandle::new(req)?.sign_out().await
}

/// Stops support access in the browser of `req`: the support-access session ends, and the
/// admin's own session, when it still exists, is the browser's again. Also puts the
/// admin back after support access ended by itself (idle, timeout). Returns whether there
/// was support access to stop or to come back from.
///
/// # Errors
/// [`PowError::Config`] without a config; [`PowError::Store`] when the store fails.
pub async fn stop_impersonation(req: &HttpRequest) -> Result<bool, PowError> {
    require_config(req)?;
    CookieSessionHandle::new(req)?.stop_impersonation().await
}

/// Deletes every session of the user (for example after a password change or when an
/// account is locked) and every API token, access and renewal tokens alike
/// ([`api::revoke_user_tokens`](crate::api::revoke_user_tokens)), and returns how many
/// sessions there were (API access tokens count as sessions). Requests in flight finish
/// as the user; their next request is anonymous.
///
/// When the setup has a users context and the user exists, this is [`revoke_user`]:
/// extensions' own tokens (remember-me cookies) are revoked too. Without one (or for a
/// user id that no longer exists) only sessions and API tokens can be found and removed.
///
/// `source` is the request (its setup) or the [`PowConfig`].
///
/// # Errors
/// [`PowError::Config`] when a request has no config, [`PowError::Store`] when the store
/// fails.
pub async fn sign_out_everywhere(
    source: &(impl AsPowConfig + ?Sized),
    user_id: i64,
) -> Result<usize, PowError> {
    let config = source.as_pow_config().ok_or_else(|| {
        PowError::Config(
            "no pow config on this request: wrap the app or scope with \
             PowSessionMiddleware::new(config)"
                .into(),
        )
    })?;
    if let Ok(users) = config.users() {
        if let Some(user) = users.get(user_id).await? {
            return revoke_user(&config, &user).await;
        }
    }
    let removed = CredentialsCache::new(&config)
        .delete_user_sessions(user_id)
        .await?;
    super::tokens::revoke_user_tokens(&config, user_id).await?;
    Ok(removed)
}

//! The session lifecycle as a service: where a flow starts and ends the sessions it
//! creates, whatever carries them.
//!
//! [`SessionHandle`] is the small trait the engine's [`flows`](crate::flows) use. The actix
//! layer implements it for a browser's cookie session
//! (pow-actix's `CookieSessionHandle`) and the API for bearer
//! token pairs (the JSON API's `ApiCall`); [`StoreSession`] keeps the
//! session in the store alone, for a CLI, a job or a test that runs a flow without HTTP.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    new_cookie_id, now_ms, put_new_session, AuthMethod, CredentialsCache, CurrentSession,
    SessionMetadata,
};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::users::User;

/// Starts and ends the sessions of one client.
///
/// A flow calls [`start`](Self::start) once it knows who signed in (a new session id,
/// against session fixation) and [`end`](Self::end) to sign the client out. The error type
/// lets a transport refuse a start in its own terms (the API's extensions refuse to issue
/// a token pair with pow-actix's `ApiError`).
///
/// The handle is `Send` and so are its futures: a flow over it runs on a multi-threaded
/// executor.
#[async_trait]
pub trait SessionHandle: Send {
    /// What a refused start or end answers; the engine's own errors convert into it.
    type Error: From<PowError> + Send;

    /// The session the client is signed in with, if any.
    fn current(&self) -> Option<CurrentSession>;

    /// Signs `user` in with a new session carrying `metadata` (its fingerprint and values;
    /// the timestamps are set to now), replacing the current one.
    ///
    /// # Errors
    /// The store's error, or the transport's refusal.
    async fn start(
        &mut self,
        config: &PowConfig,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), Self::Error>;

    /// Ends the current session; nothing to do when there is none.
    ///
    /// # Errors
    /// The store's error.
    async fn end(&mut self, config: &PowConfig) -> Result<(), Self::Error>;

    /// Records that the current session just proved `method` (a step-up, a second
    /// factor asked later): step-up rules read it; [`AuthMethod::PASSWORD`] also makes the
    /// session fresh for sudo mode.
    ///
    /// # Errors
    /// [`PowError::Config`] when nobody is signed in; the store's error.
    async fn record_method(
        &mut self,
        config: &PowConfig,
        method: AuthMethod,
    ) -> Result<(), Self::Error>;

    /// Records that the signed-in user just proved their password (sudo mode's
    /// confirmation): [`record_method`](Self::record_method) with
    /// [`AuthMethod::PASSWORD`].
    ///
    /// # Errors
    /// As [`record_method`](Self::record_method).
    async fn mark_fresh(&mut self, config: &PowConfig) -> Result<(), Self::Error> {
        self.record_method(config, AuthMethod::PASSWORD).await
    }

    /// Moves this client, signed in as an admin, into the support-access session
    /// `started` ([`impersonation::start`](super::impersonation::start) checked the rules):
    /// only a browser's cookie session can carry it (beside the admin's own); the default
    /// refuses with [`PowError::ImpersonationForbidden`].
    ///
    /// # Errors
    /// The refusal, or the cookie session's error.
    fn begin_support_access(
        &mut self,
        _started: super::impersonation::Started,
    ) -> Result<(), Self::Error> {
        Err(PowError::ImpersonationForbidden.into())
    }

    /// Stops support access (also when it ended by itself), back to the admin's own
    /// session when it still exists; whether there was support access to stop or come
    /// back from. The default has none.
    ///
    /// # Errors
    /// The store's error.
    async fn stop_support_access(&mut self, _config: &PowConfig) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

/// The error of recording a method without a signed-in session.
pub fn nobody_signed_in() -> PowError {
    PowError::Config("recording a method needs a signed-in session".into())
}

/// A session kept in the store alone: what a flow run without HTTP (a CLI, a job, a test)
/// signs in with. [`start`](SessionHandle::start) writes the session record (which the
/// session list, revocation and live revocation see like any other) and
/// [`end`](SessionHandle::end) deletes it.
///
/// ```
/// use pow_core::session::{user_sessions, SessionHandle, SessionMetadata, StoreSession};
/// use pow_core::{PowConfig, User};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = PowConfig::builder("s".repeat(64)).build()?;
/// let user = User { id: 7, password_hash: None, inserted_at: chrono::Utc::now(),
///     updated_at: chrono::Utc::now(), fields: Default::default() };
/// let mut session = StoreSession::new();
/// session.start(&config, &user, SessionMetadata::new()).await?;
/// assert_eq!(user_sessions(&config, 7).await?.len(), 1);
/// session.mark_fresh(&config).await?; // a confirmed password: sudo mode
/// assert!(session.current().unwrap().metadata.is_fresh(config.session().sudo_window));
/// session.end(&config).await?;
/// assert!(user_sessions(&config, 7).await?.is_empty());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct StoreSession {
    current: Option<CurrentSession>,
}

impl StoreSession {
    /// A client that is not signed in.
    pub fn new() -> Self {
        Self::default()
    }

    /// A client signed in with `current` (a session read from the store).
    pub fn signed_in(current: CurrentSession) -> Self {
        Self {
            current: Some(current),
        }
    }
}

#[async_trait]
impl SessionHandle for StoreSession {
    type Error = PowError;

    fn current(&self) -> Option<CurrentSession> {
        self.current.clone()
    }

    async fn start(
        &mut self,
        config: &PowConfig,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), PowError> {
        super::admit(config, user, &metadata.methods).await?;
        let credentials = CredentialsCache::new(config);
        if let Some(previous) = self.current.take() {
            credentials.delete(&previous.session_id).await?;
        }
        let now = now_ms();
        let metadata = SessionMetadata {
            inserted_at: now,
            signed_in_at: now,
            ..metadata
        };
        let session_id = new_cookie_id(config, user.id);
        put_new_session(config, &credentials, &session_id, user, &metadata).await?;
        self.current = Some(CurrentSession {
            user: Arc::new(user.clone()),
            session_id,
            metadata: Arc::new(metadata),
        });
        Ok(())
    }

    async fn end(&mut self, config: &PowConfig) -> Result<(), PowError> {
        if let Some(current) = self.current.take() {
            CredentialsCache::new(config)
                .delete(&current.session_id)
                .await?;
        }
        Ok(())
    }

    async fn record_method(
        &mut self,
        config: &PowConfig,
        method: AuthMethod,
    ) -> Result<(), PowError> {
        // Cloned, not taken: a store error leaves the client signed in as it was.
        let current = self.current.clone().ok_or_else(nobody_signed_in)?;
        self.current = Some(super::record_session_method(config, current, method).await?);
        Ok(())
    }
}

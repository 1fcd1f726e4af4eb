//! The browser's cookie session of an actix request as the engine's
//! [`SessionHandle`]: owned values read from the request (so its futures are `Send`, as the
//! engine's are), and the changes written back into the request when it is dropped.

use std::ops::{Deref, DerefMut};

use actix_web::cookie::Cookie;
use actix_web::{HttpMessage, HttpRequest};

use super::cookie_middleware::CookieSessionExt;
use super::request::no_config;
use super::response_cookies::{queue_cookie, queued_cookies, unqueue_cookie};
use super::{record_session_method, AuthMethod, CurrentSession, SessionHandle, SessionMetadata};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::request::RequestFacts;
use crate::users::User;
use pow_core::session::{browser, CookieSession};

/// What a value read from an actix request writes back into it: the signed-in session it
/// changed, the cookies it queued.
pub trait WriteBack {
    /// Writes what changed since it was read (or last written) into `req`.
    fn write_back(&mut self, req: &HttpRequest);
}

/// A value read from an actix request (a [`CookieSessionHandle`], an
/// [`ActixClient`](crate::web::ActixClient)) beside the request it writes back
/// into when dropped: hand `&mut *bound` to the engine, and the request sees the new
/// session, the queued cookies and the recorded device once the value is dropped (or at
/// [`write_back`](Self::write_back), which code that reads the request while the value
/// lives calls first).
///
/// The value itself holds no actix type, so the futures of the engine over it are `Send`.
pub struct InRequest<T: WriteBack> {
    req: HttpRequest,
    value: T,
}

impl<T: WriteBack> InRequest<T> {
    /// `value`, read from `req`, written back into it when dropped.
    pub fn new(req: &HttpRequest, value: T) -> Self {
        Self {
            req: req.clone(),
            value,
        }
    }

    /// Writes what changed so far into the request now: code that reads the request
    /// before the value is dropped (a page rendered after a sign-in) sees it.
    pub fn write_back(&mut self) {
        self.value.write_back(&self.req);
    }

    /// The request the value was read from.
    pub fn request(&self) -> &HttpRequest {
        &self.req
    }
}

impl<T: WriteBack> Deref for InRequest<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: WriteBack> DerefMut for InRequest<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: WriteBack> Drop for InRequest<T> {
    fn drop(&mut self) {
        self.value.write_back(&self.req);
    }
}

impl<T: WriteBack + std::fmt::Debug> std::fmt::Debug for InRequest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// A change of the response's cookie queue, replayed on the request.
#[derive(Clone, Debug)]
enum Queued {
    Set(Cookie<'static>),
    Drop(String),
}

/// The browser's cookie session of an actix request as a [`SessionHandle`]: starting is a
/// sign-in (a new session, the cookie renewed, CSRF rotated, the device recorded) and
/// ending is a sign-out (support access stopped first), as
/// [`sign_in_with`](super::sign_in_with) and [`sign_out`](super::sign_out) do. What the HTML
/// controllers hand to the [`flows`](crate::flows):
///
/// ```
/// # async fn handler(req: actix_web::HttpRequest, user: pow_actix::User) -> Result<(), pow_actix::PowError> {
/// use pow_actix::session::{CookieSessionHandle, SessionHandle, SessionMetadata};
///
/// let config = pow_actix::session::config(&req).unwrap();
/// let mut session = CookieSessionHandle::new(&req);
/// session.start(&config, &user, SessionMetadata::new()).await?;
/// drop(session); // the request now sees the new session
/// assert!(pow_actix::session::is_signed_in(&req));
/// # Ok(()) }
/// ```
///
/// It holds what it read of the request (the setup, the cookie session, the facts, the
/// device cookie, the signed-in session), so a flow over it is `Send`.
pub struct CookieSessionHandle {
    config: Option<PowConfig>,
    cookie: CookieSession,
    facts: RequestFacts,
    device_cookie: Option<String>,
    current: Option<CurrentSession>,
    recorded: Option<browser::RecordedDevice>,
    /// The response's cookie queue as the request had it, with this handle's changes.
    queued: Vec<Cookie<'static>>,
    /// What to write back.
    current_changed: bool,
    recorded_changed: bool,
    queue_changes: Vec<Queued>,
}

impl std::fmt::Debug for CookieSessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSessionHandle")
            .field("signed_in", &self.current.is_some())
            .finish_non_exhaustive()
    }
}

impl CookieSessionHandle {
    /// The cookie session of `req` (served by
    /// [`PowSessionMiddleware`](super::PowSessionMiddleware)), written back into it when
    /// dropped.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(req: &HttpRequest) -> InRequest<Self> {
        InRequest::new(req, Self::read(req))
    }

    /// Reads the cookie session of `req`; [`WriteBack::write_back`] writes its changes.
    pub fn read(req: &HttpRequest) -> Self {
        let config = super::config(req);
        let device_cookie = config.as_ref().and_then(|config| {
            req.cookie(&browser::device_cookie_name(config))
                .map(|cookie| cookie.value().to_owned())
        });
        let extensions = req.extensions();
        let current = extensions.get::<CurrentSession>().cloned();
        let recorded = extensions.get::<browser::RecordedDevice>().cloned();
        drop(extensions);
        Self {
            facts: crate::web::ActixRequest(req).facts(),
            cookie: req.cookie_session(),
            config,
            device_cookie,
            current,
            recorded,
            queued: queued_cookies(req),
            current_changed: false,
            recorded_changed: false,
            queue_changes: Vec::new(),
        }
    }

    /// The facts of the request, with the session signed in now.
    pub fn facts(&self) -> RequestFacts {
        let mut facts = self.facts.clone();
        facts.session = self
            .current
            .as_ref()
            .map(|current| (current.session_id.clone(), current.user.id));
        facts
    }

    /// The request's cookie session.
    pub fn cookie_session(&self) -> &CookieSession {
        &self.cookie
    }

    fn config(&self) -> Result<PowConfig, PowError> {
        self.config.clone().ok_or_else(no_config)
    }

    fn set_current(&mut self, current: Option<CurrentSession>) {
        self.current = current;
        self.current_changed = true;
    }

    /// Serves the rest of the request as `current` (nothing is stored).
    pub(crate) fn serve_once(&mut self, current: CurrentSession) {
        self.set_current(Some(current));
    }

    /// Queues `cookie` to be set on the response (see [`queue_cookie`](super::queue_cookie)).
    pub fn queue_cookie(&mut self, cookie: Cookie<'static>) {
        self.queued
            .retain(|c| c.name() != cookie.name() || c.path() != cookie.path());
        self.queued.push(cookie.clone());
        self.queue_changes.push(Queued::Set(cookie));
    }

    fn unqueue_cookie(&mut self, name: &str) {
        self.queued.retain(|c| c.name() != name);
        self.queue_changes.push(Queued::Drop(name.to_owned()));
    }

    /// The value of the cookie named `name` the response sets so far, if any.
    pub fn queued_value(&self, name: &str) -> Option<String> {
        self.queued
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }

    /// Signs `user` in with a new session carrying `metadata` (see
    /// [`sign_in_with`](super::sign_in_with)).
    ///
    /// # Errors
    /// [`PowError::Config`] without a setup; the store's error.
    pub async fn sign_in(
        &mut self,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), PowError> {
        let config = self.config()?;
        let browser = browser::Browser {
            config: &config,
            cookie: &self.cookie,
            facts: &self.facts,
            device_cookie: self.device_cookie.clone(),
        };
        let signed_in = browser::sign_in(&browser, self.current.as_ref(), user, metadata).await?;
        self.set_current(Some(signed_in.current));
        if let Some(device) = signed_in.device {
            self.recorded = Some(device);
            self.recorded_changed = true;
        }
        if let Some(cookie) = signed_in.set_cookie {
            self.queue_cookie(cookie);
        }
        Ok(())
    }

    /// Signs the current session out (see [`sign_out`](super::sign_out)).
    ///
    /// # Errors
    /// [`PowError::Config`] without a setup; the store's error.
    pub async fn sign_out(&mut self) -> Result<(), PowError> {
        let config = self.config()?;
        let recorded = self.recorded.as_ref();
        let ended = browser::end(&config, &self.cookie, self.current.as_ref(), recorded).await?;
        if ended.device_forgotten {
            if let Some(name) = self
                .recorded
                .take()
                .and_then(|r| r.cookie_name().map(str::to_owned))
            {
                self.unqueue_cookie(&name);
            }
            self.recorded_changed = true;
        }
        self.set_current(ended.current);
        Ok(())
    }

    /// Records that the signed-in session just proved `method` (see
    /// [`record_method`](super::record_method)).
    ///
    /// # Errors
    /// [`PowError::Config`] when nobody is signed in; the store's error.
    pub async fn record(&mut self, method: AuthMethod) -> Result<(), PowError> {
        let config = self.config()?;
        let current = self.current.clone().ok_or_else(super::nobody_signed_in)?;
        let current = record_session_method(&config, current, method).await?;
        self.set_current(Some(current));
        Ok(())
    }

    /// Moves this browser, signed in as an admin, into the support-access session
    /// `started` (the engine's [`browser::begin_impersonation`](pow_core::session::browser::begin_impersonation)).
    ///
    /// # Errors
    /// [`PowError::Config`] without a setup or a signed-in browser session.
    pub fn begin_support_access(
        &mut self,
        started: crate::session::impersonation::Started,
    ) -> Result<(), PowError> {
        let config = self.config()?;
        browser::begin_impersonation(&config, &self.cookie, &started)?;
        self.set_current(Some(started.session));
        Ok(())
    }

    /// Stops support access (see [`stop_impersonation`](super::stop_impersonation)).
    ///
    /// # Errors
    /// [`PowError::Config`] without a setup; the store's error.
    pub async fn stop_impersonation(&mut self) -> Result<bool, PowError> {
        let config = self.config()?;
        let stopped =
            browser::stop_impersonation(&config, &self.cookie, self.current.as_ref()).await?;
        if let browser::Stopped::Back(current) = &stopped {
            self.set_current(current.clone());
        }
        Ok(stopped.stopped())
    }
}

impl WriteBack for CookieSessionHandle {
    fn write_back(&mut self, req: &HttpRequest) {
        if std::mem::take(&mut self.current_changed) {
            match &self.current {
                Some(current) => {
                    req.extensions_mut().insert(current.clone());
                }
                None => {
                    req.extensions_mut().remove::<CurrentSession>();
                }
            }
        }
        if std::mem::take(&mut self.recorded_changed) {
            match &self.recorded {
                Some(recorded) => {
                    req.extensions_mut().insert(recorded.clone());
                }
                None => {
                    req.extensions_mut().remove::<browser::RecordedDevice>();
                }
            }
        }
        for change in std::mem::take(&mut self.queue_changes) {
            match change {
                Queued::Set(cookie) => queue_cookie(req, cookie),
                Queued::Drop(name) => unqueue_cookie(req, &name),
            }
        }
    }
}

#[async_trait::async_trait]
impl SessionHandle for CookieSessionHandle {
    type Error = PowError;

    fn begin_support_access(
        &mut self,
        started: crate::session::impersonation::Started,
    ) -> Result<(), PowError> {
        CookieSessionHandle::begin_support_access(self, started)
    }

    async fn stop_support_access(&mut self, _config: &PowConfig) -> Result<bool, PowError> {
        CookieSessionHandle::stop_impersonation(self).await
    }

    fn current(&self) -> Option<CurrentSession> {
        self.current.clone()
    }

    async fn start(
        &mut self,
        _config: &PowConfig,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), PowError> {
        self.sign_in(user, metadata).await
    }

    async fn end(&mut self, _config: &PowConfig) -> Result<(), PowError> {
        self.sign_out().await
    }

    async fn record_method(
        &mut self,
        _config: &PowConfig,
        method: AuthMethod,
    ) -> Result<(), PowError> {
        self.record(method).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send + Sync>() {}

    #[test]
    fn what_the_engine_holds_can_be_held_across_an_await_on_any_thread() {
        assert_send::<CookieSessionHandle>();
    }

    #[actix_web::test]
    async fn changes_reach_the_request_when_the_handle_is_dropped_or_written_back() {
        use actix_web::test::TestRequest;

        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let req = TestRequest::default().to_http_request();
        req.extensions_mut().insert(config.clone());
        let user = User {
            id: 7,
            password_hash: None,
            inserted_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            fields: Default::default(),
        };
        let mut session = CookieSessionHandle::new(&req);
        session
            .start(&config, &user, SessionMetadata::new())
            .await
            .unwrap();
        assert!(session.current().is_some(), "the handle sees its session");
        assert!(
            !super::super::is_signed_in(&req),
            "the request sees it once written back"
        );
        session.write_back();
        assert_eq!(super::super::current_user(&req).map(|u| u.id), Some(7));
        session.end(&config).await.unwrap();
        drop(session);
        assert!(
            !super::super::is_signed_in(&req),
            "the sign-out reached it on drop"
        );
    }
}

//! The browser's cookie session of an actix request as the engine's
//! [`SessionHandle`]: owned values read from the request (so its futures are `Send`, as the
//! engine's are), and the changes written back into the request when it is dropped.

use std::ops::{Deref, DerefMut};

use actix_web::cookie::Cookie;
use actix_web::{HttpMessage, HttpRequest};

use super::cookie_middleware::CookieSessionExt;
use super::request::no_config;
use super::response_cookies::{queue_cookie, queued_cookies, unqueue_cookie};
use super::CurrentSession;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::pipeline::Format;
use pow_core::framework::request::RequestCookies;
use pow_core::framework::session::{BrowserSession, CookieQueue, HoldsBrowserSession};
use pow_core::session::{browser, CookieSession};

/// What a value read from an actix request writes back into it: the signed-in session it
/// changed, the cookies it queued.
pub trait WriteBack {
    /// Writes what changed since it was read (or last written) into `req`.
    fn write_back(&mut self, req: &HttpRequest);
}

/// A value read from an actix request (a [`CookieSessionHandle`]) beside the request it
/// writes back
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

/// The response's cookie queue as the request had it, with the changes to replay on it.
#[derive(Debug)]
pub struct ActixQueue {
    queued: Vec<Cookie<'static>>,
    changes: Vec<Queued>,
}

impl CookieQueue for ActixQueue {
    fn queue(&mut self, cookie: Cookie<'static>) {
        self.queued
            .retain(|c| c.name() != cookie.name() || c.path() != cookie.path());
        self.queued.push(cookie.clone());
        self.changes.push(Queued::Set(cookie));
    }

    fn unqueue(&mut self, name: &str) {
        self.queued.retain(|c| c.name() != name);
        self.changes.push(Queued::Drop(name.to_owned()));
    }

    fn queued_value(&self, name: &str) -> Option<String> {
        self.queued
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }
}

/// The browser's cookie session of an actix request as a
/// [`SessionHandle`](super::SessionHandle) and as the request's
/// [`Client`](crate::pipeline::Client) (both by the engine's [`BrowserSession`], which it
/// derefs to): starting is a sign-in (a new session, the cookie renewed, CSRF rotated,
/// the device recorded) and ending is a sign-out (support access stopped first), as
/// [`sign_in_with`](super::sign_in_with) and [`sign_out`](super::sign_out) do; the flash
/// texts, the values kept in the cookie session, the request's cookies and the cookies
/// set on the response are the client's. What the HTML controllers hand to the
/// [`flows`](crate::flows) and the extensions' callbacks and request hooks:
///
/// ```
/// # async fn handler(req: actix_web::HttpRequest, user: pow_actix::User) -> Result<(), pow_actix::PowError> {
/// use pow_actix::session::{CookieSessionHandle, SessionHandle, SessionMetadata};
///
/// let config = pow_actix::session::config(&req).unwrap();
/// let mut session = CookieSessionHandle::new(&req)?;
/// session.start(&config, &user, SessionMetadata::new()).await?;
/// drop(session); // the request now sees the new session
/// assert!(pow_actix::session::is_signed_in(&req));
/// # Ok(()) }
/// ```
///
/// It holds what it read of the request (the setup, the cookie session, the facts, the
/// cookies, the signed-in session), so a flow over it is `Send`.
#[derive(Debug)]
pub struct CookieSessionHandle(BrowserSession<ActixQueue>);

impl CookieSessionHandle {
    /// The cookie session of `req` (served by
    /// [`PowSessionMiddleware`](super::PowSessionMiddleware)), written back into it when
    /// dropped.
    ///
    /// # Errors
    /// [`PowError::Config`] when no setup serves `req`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(req: &HttpRequest) -> Result<InRequest<Self>, PowError> {
        Ok(InRequest::new(req, Self::read(req)?))
    }

    /// Reads the cookie session of `req`; [`WriteBack::write_back`] writes its changes.
    ///
    /// # Errors
    /// [`PowError::Config`] when no setup serves `req`.
    pub fn read(req: &HttpRequest) -> Result<Self, PowError> {
        let config = super::config(req).ok_or_else(no_config)?;
        Ok(Self::served_by(req, config))
    }

    /// The client of `req` served by `config` for an action answered as `format` (in
    /// JSON, the browser transport's: no flash, values or response cookies), written back
    /// into the request when dropped.
    pub fn client(req: &HttpRequest, config: &PowConfig, format: Format) -> InRequest<Self> {
        let read = Self::served_by(req, config.clone());
        InRequest::new(req, Self(read.0.answered_in_json(format == Format::Json)))
    }

    /// Reads the cookie session of `req`, served by `config`.
    pub fn served_by(req: &HttpRequest, config: PowConfig) -> Self {
        let extensions = req.extensions();
        let current = extensions.get::<CurrentSession>().cloned();
        let recorded = extensions.get::<browser::RecordedDevice>().cloned();
        drop(extensions);
        let facts = super::facts::ActixRequest(req).facts();
        let queue = ActixQueue {
            queued: queued_cookies(req),
            changes: Vec::new(),
        };
        let browser = BrowserSession::new(config, req.cookie_session(), facts, queue)
            .signed_in_as(current)
            .request_cookies(request_cookies(req))
            .recorded(recorded);
        Self(browser)
    }

    /// The request's cookie session.
    pub fn cookie_session(&self) -> &CookieSession {
        &self.0.cookie
    }

    /// The value of the cookie named `name` the response sets so far, if any.
    pub fn queued_value(&self, name: &str) -> Option<String> {
        self.0.queue().queued_value(name)
    }

    /// Queues `cookie` to be set on the response (see [`queue_cookie`](super::queue_cookie)).
    pub fn queue_cookie(&mut self, cookie: Cookie<'static>) {
        self.0.queue_mut().queue(cookie);
    }
}

/// The cookies `req` carries, read as every framework layer reads them.
pub(crate) fn request_cookies(req: &HttpRequest) -> RequestCookies {
    let values = req.headers().get_all(actix_web::http::header::COOKIE);
    RequestCookies::from_headers(values.filter_map(|value| value.to_str().ok()))
}

impl Deref for CookieSessionHandle {
    type Target = BrowserSession<ActixQueue>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for CookieSessionHandle {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl HoldsBrowserSession for CookieSessionHandle {
    type Queue = ActixQueue;

    fn browser(&self) -> &BrowserSession<ActixQueue> {
        &self.0
    }

    fn browser_mut(&mut self) -> &mut BrowserSession<ActixQueue> {
        &mut self.0
    }
}

impl WriteBack for CookieSessionHandle {
    fn write_back(&mut self, req: &HttpRequest) {
        let changes = self.0.take_changes();
        match changes.current {
            Some(Some(current)) => {
                req.extensions_mut().insert(current);
            }
            Some(None) => {
                req.extensions_mut().remove::<CurrentSession>();
            }
            None => {}
        }
        match changes.device {
            Some(Some(recorded)) => {
                req.extensions_mut().insert(recorded);
            }
            Some(None) => {
                req.extensions_mut().remove::<browser::RecordedDevice>();
            }
            None => {}
        }
        for change in std::mem::take(&mut self.0.queue_mut().changes) {
            match change {
                Queued::Set(cookie) => queue_cookie(req, cookie),
                Queued::Drop(name) => unqueue_cookie(req, &name),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SessionHandle, SessionMetadata};
    use super::*;
    use crate::users::User;

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
        let mut session = CookieSessionHandle::new(&req).unwrap();
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

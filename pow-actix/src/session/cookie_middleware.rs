//! The cookie session on actix-web: the middleware that opens the session cookie of each
//! request and sets it on the response when the session changed. The format, keys and
//! memo of verified values are the engine's ([`pow_core::session::cookie`]), so every
//! framework layer reads and writes the same cookie.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::COOKIE;
use actix_web::{HttpMessage, HttpRequest};
use pow_core::session::cookie::{CookieCodec, CookieSession};

use crate::config::PowConfig;

/// The cookie session of a request or response (an empty one outside the middleware,
/// whose changes go nowhere).
pub trait CookieSessionExt {
    /// The cookie session.
    fn cookie_session(&self) -> CookieSession;
}

fn session_of(extensions: &mut actix_web::dev::Extensions) -> CookieSession {
    if let Some(session) = extensions.get::<CookieSession>() {
        return session.clone();
    }
    let session = CookieSession::default();
    extensions.insert(session.clone());
    session
}

impl CookieSessionExt for HttpRequest {
    fn cookie_session(&self) -> CookieSession {
        session_of(&mut self.extensions_mut())
    }
}

impl CookieSessionExt for ServiceRequest {
    fn cookie_session(&self) -> CookieSession {
        session_of(&mut self.extensions_mut())
    }
}

impl<B> CookieSessionExt for ServiceResponse<B> {
    fn cookie_session(&self) -> CookieSession {
        session_of(&mut self.request().extensions_mut())
    }
}

/// The cookie session middleware for `config` (see the [module docs](crate::session) and
/// [`CookieCodec::new`] for the cookie's attributes).
///
/// [`PowMiddleware`](super::PowMiddleware) wraps it outside the pow session for you. Used
/// on its own, wrap it *outside* [`PowSessionMiddleware`](super::PowSessionMiddleware),
/// i.e. call `.wrap(cookie_session_middleware(&config))` after
/// `.wrap(PowSessionMiddleware::new(..))`.
pub fn cookie_session_middleware(config: &PowConfig) -> CookieSessionMiddleware {
    CookieSessionMiddleware {
        codec: Rc::new(CookieCodec::new(config)),
    }
}

/// The cookie session middleware; see [`cookie_session_middleware`].
#[derive(Clone)]
pub struct CookieSessionMiddleware {
    codec: Rc<CookieCodec>,
}

impl std::fmt::Debug for CookieSessionMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSessionMiddleware")
            .field("name", &self.codec.name())
            .field("secure", &self.codec.secure())
            .finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for CookieSessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = CookieSessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CookieSessionService {
            service: Rc::new(service),
            codec: Rc::clone(&self.codec),
        }))
    }
}

/// The service of [`CookieSessionMiddleware`].
pub struct CookieSessionService<S> {
    service: Rc<S>,
    codec: Rc<CookieCodec>,
}

impl<S, B> Service<ServiceRequest> for CookieSessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = CookieSessionFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let codec = Rc::clone(&self.codec);
        let headers = req.headers().get_all(COOKIE).map(|value| value.as_bytes());
        let had_cookie = match codec.find(headers) {
            Some(value) => {
                let state = codec.open_remembered(value).unwrap_or_default();
                req.extensions_mut().insert(CookieSession::new(state));
                true
            }
            None => false,
        };
        CookieSessionFuture {
            fut: self.service.call(req),
            codec,
            had_cookie,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CookieSessionService`]: the route's own future, whose response gets
    /// the cookie when the session changed (nothing allocated for it).
    pub struct CookieSessionFuture<F> {
        #[pin]
        fut: F,
        codec: Rc<CookieCodec>,
        had_cookie: bool,
    }
}

impl<F, B> std::future::Future for CookieSessionFuture<F>
where
    F: std::future::Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut res = match this.fut.poll(cx) {
            std::task::Poll::Pending => return std::task::Poll::Pending,
            std::task::Poll::Ready(res) => res?,
        };
        let session = res.request().extensions().get::<CookieSession>().cloned();
        let Some(session) = session else {
            return std::task::Poll::Ready(Ok(res));
        };
        let cookie = session.response_cookie(this.codec, *this.had_cookie);
        if let Some(cookie) = cookie {
            res.response_mut().add_cookie(&cookie)?;
        }
        std::task::Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn a_request_without_the_middleware_gets_an_empty_session_whose_changes_stay_on_it() {
        let req = TestRequest::default().to_http_request();
        let session = req.cookie_session();
        assert!(session.keys().is_empty());
        session.insert("k", "v").unwrap();
        assert_eq!(
            req.cookie_session().get::<String>("k").unwrap().as_deref(),
            Some("v")
        );
    }
}

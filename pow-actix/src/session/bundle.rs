//! [`PowMiddleware`]: the cookie session and the pow session in one `.wrap`, in the only
//! order that works.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use futures_util::future::LocalBoxFuture;

use super::auth_middleware::{AuthMiddleware, AuthService, SessionSource};
use super::cookie_middleware::{cookie_session_middleware, CookieSessionService};
use super::guard::ErrorHandler;
use super::middleware::{CookieSource, PowSessionMiddleware};
use crate::config::PowConfig;

type Inner<Svc, S> = AuthService<Svc, S>;

/// Everything a browser app needs around its routes: the cookie session
/// ([`cookie_session_middleware`](super::cookie_session_middleware)) outside, the
/// [`PowSessionMiddleware`] inside it. With retired secrets in the key ring, a cookie
/// signed with one of them is read and signed again with the current secret.
///
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use pow_actix::session::PowMiddleware;
/// use pow_actix::{web, PowConfig};
///
/// # async fn run(config: PowConfig) -> std::io::Result<()> {
/// HttpServer::new(move || {
///     App::new()
///         .configure(web::configure(config.clone()))
///         .wrap(PowMiddleware::new(config.clone()))
/// })
/// .bind("127.0.0.1:8080")?
/// .run()
/// .await
/// # }
/// ```
///
/// Its type parameter is where the session comes from: the cookie session read as
/// [`PowSessionMiddleware`] does, or, for the JSON API's browser transport,
/// [`BrowserSource`](crate::api::BrowserSource).
pub struct PowMiddleware<S = CookieSource> {
    pow: AuthMiddleware<S>,
}

impl<S> Clone for PowMiddleware<S> {
    fn clone(&self) -> Self {
        Self {
            pow: self.pow.clone(),
        }
    }
}

impl<S> std::fmt::Debug for PowMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowMiddleware")
            .field("pow", &self.pow)
            .finish()
    }
}

impl<S: SessionSource> PowMiddleware<S> {
    /// The cookie session around `pow`.
    pub(crate) fn around(pow: AuthMiddleware<S>) -> Self {
        Self { pow }
    }
}

impl PowMiddleware {
    /// Both middlewares for `config`.
    pub fn new(config: PowConfig) -> Self {
        Self {
            pow: PowSessionMiddleware::new(config),
        }
    }

    /// Sets the [`ErrorHandler`] that extractors, guards and controller actions use behind
    /// this middleware, where it gives an answer (the engine's otherwise: the sign-in
    /// redirect, or JSON for a client that asks for it).
    pub fn error_handler(self, handler: impl ErrorHandler) -> Self {
        Self {
            pow: self.pow.error_handler(handler),
        }
    }
}

impl<Svc, B, S> Transform<Svc, ServiceRequest> for PowMiddleware<S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: SessionSource,
{
    type Response = <Inner<Svc, S> as Service<ServiceRequest>>::Response;
    type Error = actix_web::Error;
    type Transform = CookieSessionService<Inner<Svc, S>>;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        let pow = self.pow.new_transform(service);
        let cookie = cookie_session_middleware(self.pow.config());
        Box::pin(async move { cookie.new_transform(pow.await?).await })
    }
}

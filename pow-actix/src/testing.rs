//! Test helpers (feature `test-util`).
//!
//! - [`assign_current_user`] signs a user in for one request without a session, as if
//!   [`PowSessionMiddleware`](crate::session::PowSessionMiddleware) had loaded it; the middleware then skips its lookup.
//! - [`AssignCurrentUser`] does the same as a middleware, for tests that go through a
//!   whole app.
//! - [`sign_in_cookie`] signs a user in for real and returns the session cookie to send
//!   with later test requests.
//! - [`app`] is a fully wired app in one call: pow's routes and [`PowMiddleware`]; add
//!   your own routes to it.
//!
//! The engine's helpers (`pow_core::testing`: `create_user`, the test database and Redis,
//! `hold_hash_pool`, `field_errors`, ...) are re-exported here.
//!
//! ```
//! use actix_web::test::TestRequest;
//! use pow_actix::session::current_user;
//! use pow_actix::testing::assign_current_user;
//! use pow_actix::{PowConfig, User};
//!
//! let config = PowConfig::builder("s".repeat(64)).build().unwrap();
//! let user = User { id: 1, password_hash: None, inserted_at: chrono::Utc::now(),
//!     updated_at: chrono::Utc::now(), fields: Default::default() };
//! let req = TestRequest::get().to_http_request();
//! assign_current_user(&req, &config, user);
//! assert_eq!(current_user(&req).map(|u| u.id), Some(1));
//! ```

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse, Transform};
use actix_web::{test, web, App, HttpMessage, HttpRequest, HttpResponse};

use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::{sign_in, CurrentSession, PowMiddleware, SessionMetadata};
use crate::users::User;

#[doc(no_inline)]
pub use pow_core::testing::*;

/// Marks `user` as signed in on this request (an [`HttpRequest`] or a [`ServiceRequest`]),
/// with `config` as the request's setup. No session is stored: [`sign_out`] on such a
/// request only clears it.
///
/// [`sign_out`]: crate::session::sign_out
pub fn assign_current_user(req: &impl HttpMessage, config: &PowConfig, user: User) {
    let mut extensions = req.extensions_mut();
    extensions.insert(config.clone());
    extensions.insert(CurrentSession {
        user: std::sync::Arc::new(user),
        session_id: config.namespaced("assigned"),
        metadata: std::sync::Arc::new(SessionMetadata::new()),
    });
}

/// Middleware that runs [`assign_current_user`] on every request. Wrap it outside
/// [`PowMiddleware`] (register it after).
#[derive(Clone, Debug)]
pub struct AssignCurrentUser {
    config: PowConfig,
    user: User,
}

impl AssignCurrentUser {
    /// Assigns `user` under `config` to every request.
    pub fn new(config: PowConfig, user: User) -> Self {
        Self { config, user }
    }
}

impl<S, B> Transform<S, ServiceRequest> for AssignCurrentUser
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = AssignCurrentUserService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AssignCurrentUserService {
            service,
            assign: Rc::new(self.clone()),
        }))
    }
}

/// The service built by [`AssignCurrentUser`].
#[doc(hidden)]
pub struct AssignCurrentUserService<S> {
    service: S,
    assign: Rc<AssignCurrentUser>,
}

impl<S, B> Service<ServiceRequest> for AssignCurrentUserService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = S::Future;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        assign_current_user(&req, &self.assign.config, self.assign.user.clone());
        self.service.call(req)
    }
}

/// A fully wired app for `config`: the core and extension routes
/// ([`configure`](crate::web::configure)) behind [`PowMiddleware`]. Add routes to it with
/// `.route`/`.service`; the middleware covers them too.
///
/// ```
/// use actix_web::{test, web, HttpResponse};
/// use pow_actix::{testing, PowConfig};
///
/// # actix_web::rt::System::new().block_on(async {
/// let config = PowConfig::builder("s".repeat(64)).build().unwrap();
/// let app = test::init_service(
///     testing::app(&config).route("/ping", web::get().to(HttpResponse::Ok)),
/// )
/// .await;
/// let res = test::call_service(&app, test::TestRequest::get().uri("/session/new").to_request()).await;
/// assert!(res.status().is_success());
/// # });
/// ```
pub fn app(
    config: &PowConfig,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(crate::web::configure(config.clone()))
        .wrap(PowMiddleware::new(config.clone()))
}

/// Signs `user` in through a throwaway app set up like a real one and returns the session
/// cookie, to send with `TestRequest::cookie` to an app using the same `config`.
///
/// # Errors
/// [`PowError::Store`] if the store fails, [`PowError::Other`] if no cookie was set.
pub async fn sign_in_cookie(config: &PowConfig, user: &User) -> Result<Cookie<'static>, PowError> {
    let user = user.clone();
    let app = test::init_service(App::new().wrap(PowMiddleware::new(config.clone())).route(
        "/",
        web::post().to(move |req: HttpRequest| {
            let user = user.clone();
            async move {
                sign_in(&req, &user).await?;
                Ok::<_, crate::Error>(HttpResponse::NoContent().finish())
            }
        }),
    ))
    .await;
    let res = test::call_service(&app, test::TestRequest::post().uri("/").to_request()).await;
    if !res.status().is_success() {
        return Err(PowError::Other(format!(
            "signing in for the test failed with {}",
            res.status()
        )));
    }
    let name = &config.session().cookie_name;
    res.response()
        .cookies()
        .find(|cookie| cookie.name() == name)
        .map(Cookie::into_owned)
        .ok_or_else(|| PowError::Other(format!("no `{name}` cookie was set")))
}

//! Sessions on actix-web: the middleware that finds who is signed in, the cookie session,
//! extractors and guards. The engine's session items (`pow_actix::session`) are re-exported
//! here, so one path serves both.
//!
//! A signed-in browser holds a signed cookie session ([`CookieSession`]) in which the
//! key [`SessionConfig::session_key`](crate::SessionConfig::session_key) holds the
//! session id. The server keeps the session in the [`CredentialsCache`]: the user, when
//! the id was issued, and a fingerprint shared by every renewal of one sign-in.
//!
//! # Setup
//!
//! Two layers work together: the cookie session ([`cookie_session_middleware`])
//! loads and saves the cookie, and [`PowSessionMiddleware`] reads the session id from it
//! and loads the signed-in user, so the cookie session has to wrap the pow session.
//! [`PowMiddleware`] is both, in that order, as one value, so the order cannot be wrong:
//!
//! ```
//! use actix_web::{web, App, HttpRequest, HttpResponse};
//! use pow_actix::session::{CurrentUser, PowMiddleware};
//! use pow_actix::PowConfig;
//!
//! let config = PowConfig::builder("s".repeat(64)).build().unwrap();
//! let app = App::new()
//!     .wrap(PowMiddleware::new(config.clone()))
//!     .route("/me", web::get().to(|CurrentUser(user): CurrentUser| async move {
//!         HttpResponse::Ok().body(format!("user {}", user.id))
//!     }));
//! ```
//!
//! The pow session is an [`AuthMiddleware`] reading a [`CookieSource`]; the API's bearer
//! tokens are another [`SessionSource`] of the same middleware
//! ([`ApiAuthMiddleware`](crate::api::ApiAuthMiddleware)).
//!
//! Per request the middleware:
//!
//! 1. puts the [`PowConfig`](crate::PowConfig) into the request extensions ([`config`], [`PowRequestExt`]);
//! 2. verifies the signature of the session id before any store lookup (a forged or
//!    unsigned value costs one HMAC and counts as anonymous);
//! 3. loads the session from the [`CredentialsCache`] (missing or expired: anonymous),
//!    optionally re-reads the user from the users context
//!    ([`SessionConfig::reload_user`](crate::SessionConfig::reload_user));
//! 4. ends sessions older than the absolute lifetime (counted from the sign-in);
//! 5. rotates the session id once it is older than the renewal interval, keeping the
//!    fingerprint and sign-in time. Of parallel requests carrying the same id, exactly one
//!    rotates; the others are served as the same user, and the old id keeps answering for
//!    the new session during a one-minute grace period, so a request that raced the
//!    rotation is not signed out;
//! 6. puts the resolved [`CurrentSession`] into the request extensions;
//! 7. runs each extension's [`RequestHook`](crate::extension::RequestHook) whose cookies
//!    the request carries, in order (a
//!    remember-me cookie may sign the user in here), and once the handler answered, sets
//!    the cookies queued with [`queue_cookie`] on the response, error pages included.
//!
//! Store failures answer `503 Service Unavailable` ([`PowError::Store`](crate::PowError::Store)).
//!
//! Handlers read the user with the [`CurrentUser`] and [`MaybeUser`] extractors (or
//! [`current_user`]), and change it with [`sign_in`], [`sign_out`] and
//! [`sign_out_everywhere`]. [`RequireAuthenticated`] and [`RequireNotAuthenticated`]
//! guard whole scopes; they must be wrapped inside [`PowMiddleware`] too (on a scope or
//! resource of an app wrapped as above).
//!
//! # Two setups in one app
//!
//! A named setup (`PowConfigBuilder::name("admin")`) uses its own cookie, session key,
//! cookie signing key and store namespace. Give each setup its own scope, each wrapped in
//! its own [`PowMiddleware`]; do not nest them (one request has one cookie session):
//!
//! ```
//! # use actix_web::{web, App, HttpResponse};
//! # use pow_actix::session::{PowMiddleware, RequireAuthenticated};
//! # use pow_actix::PowConfig;
//! let users = PowConfig::builder("s".repeat(64)).build().unwrap();
//! let admins = PowConfig::builder("s".repeat(64)).name("admin").build().unwrap();
//! let app = App::new()
//!     .service(
//!         web::scope("/admin")
//!             .wrap(RequireAuthenticated::new())
//!             .wrap(PowMiddleware::new(admins.clone()))
//!             .route("", web::get().to(HttpResponse::Ok)),
//!     )
//!     .service(
//!         web::scope("")
//!             .wrap(PowMiddleware::new(users.clone()))
//!             .route("/", web::get().to(HttpResponse::Ok)),
//!     );
//! ```

#[doc(no_inline)]
pub use pow_core::session::*;

mod access;
mod auth_middleware;
mod bundle;
mod cookie_middleware;
mod extract;
pub(crate) mod facts;
pub(crate) mod guard;
mod handle;
mod middleware;
mod request;
mod response_cookies;
pub(crate) mod response_error;

pub use access::{AccessService, RequireAccess};
pub(crate) use auth_middleware::{request_config, request_setup};
#[doc(hidden)]
pub use auth_middleware::{AuthFuture, AuthService};
pub use auth_middleware::{AuthMiddleware, SessionSource, MAX_COOKIE_BYTES};
pub use bundle::PowMiddleware;
pub use cookie_middleware::{
    cookie_session_middleware, CookieSessionExt, CookieSessionFuture, CookieSessionMiddleware,
    CookieSessionService,
};
pub use extract::{AsPowConfig, CurrentUser, MaybeUser, PowRequestExt};
#[doc(hidden)]
pub use guard::GuardService;
pub use guard::{
    wants_json, ErrorHandler, RequireAuthenticated, RequireNotAuthenticated, RequireStepUp,
};
pub(crate) use handle::request_cookies;
pub use handle::{ActixQueue, CookieSessionHandle, InRequest, WriteBack};
pub use middleware::{CookieSource, PowSessionMiddleware};
pub use request::{
    config, current_session, current_user, is_fresh, is_signed_in, mark_fresh, record_method,
    sign_in, sign_in_with, sign_out, sign_out_everywhere, stop_impersonation,
};
pub use response_cookies::queue_cookie;

//! Extractors and the request extension trait.

use std::future::{ready, Ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::InternalError;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::guard::refused;
use super::{current_user, CurrentSession};
use crate::config::PowConfig;
use crate::users::User;

/// Extracts the signed-in user; without one, the request is answered by the
/// [`ErrorHandler`](super::ErrorHandler) (by default `401` JSON for JSON requests, a
/// redirect to the sign-in page otherwise). On a route without
/// [`PowSessionMiddleware`](super::PowSessionMiddleware) in front, `500` (a mistake in the
/// app's setup, logged), as on axum.
///
/// ```
/// use actix_web::HttpResponse;
/// use pow_actix::session::CurrentUser;
///
/// async fn profile(CurrentUser(user): CurrentUser) -> HttpResponse {
///     HttpResponse::Ok().body(user.email().unwrap_or_default().to_owned())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct CurrentUser(pub Arc<User>);

impl Deref for CurrentUser {
    type Target = User;

    fn deref(&self) -> &User {
        &self.0
    }
}

impl FromRequest for CurrentUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(match current_user(req) {
            Some(user) => Ok(CurrentUser(user)),
            None => {
                let response = refused(req, None, &pow_core::pipeline::Refusal::NotAuthenticated);
                Err(InternalError::from_response("not authenticated", response).into())
            }
        })
    }
}

/// Extracts the signed-in user if there is one; never fails.
#[derive(Clone, Debug)]
pub struct MaybeUser(pub Option<Arc<User>>);

impl FromRequest for MaybeUser {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(MaybeUser(current_user(req))))
    }
}

/// Session accessors on requests, for handlers, middleware and guards alike.
pub trait PowRequestExt {
    /// The signed-in user, if any.
    fn current_user(&self) -> Option<Arc<User>>;
    /// The signed-in session, if any.
    fn current_session(&self) -> Option<CurrentSession>;
    /// The [`PowConfig`] serving the request, put there by
    /// [`PowSessionMiddleware`](super::PowSessionMiddleware).
    fn pow_config(&self) -> Option<PowConfig>;
}

fn current_session_of(req: &impl HttpMessage) -> Option<CurrentSession> {
    req.extensions().get::<CurrentSession>().cloned()
}

impl PowRequestExt for HttpRequest {
    fn current_user(&self) -> Option<Arc<User>> {
        current_user(self)
    }

    fn current_session(&self) -> Option<CurrentSession> {
        current_session_of(self)
    }

    fn pow_config(&self) -> Option<PowConfig> {
        super::request_config(self)
    }
}

impl PowRequestExt for ServiceRequest {
    fn current_user(&self) -> Option<Arc<User>> {
        self.extensions()
            .get::<CurrentSession>()
            .map(|current| current.user.clone())
    }

    fn current_session(&self) -> Option<CurrentSession> {
        current_session_of(self)
    }

    fn pow_config(&self) -> Option<PowConfig> {
        super::request_config(self.request())
    }
}

/// Something that knows its [`PowConfig`]: the config itself, or a request served by
/// [`PowSessionMiddleware`](super::PowSessionMiddleware).
pub trait AsPowConfig {
    /// The config, if known.
    fn as_pow_config(&self) -> Option<PowConfig>;
}

impl AsPowConfig for PowConfig {
    fn as_pow_config(&self) -> Option<PowConfig> {
        Some(self.clone())
    }
}

impl AsPowConfig for HttpRequest {
    fn as_pow_config(&self) -> Option<PowConfig> {
        self.pow_config()
    }
}

impl AsPowConfig for ServiceRequest {
    fn as_pow_config(&self) -> Option<PowConfig> {
        self.pow_config()
    }
}

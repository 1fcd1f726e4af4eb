//! CSRF protection for forms on an actix request: the engine's
//! [`pow_core::session::csrf`] over the request's cookie session.

use crate::session::CookieSessionExt as _;
use actix_web::HttpRequest;
use pow_core::session::csrf;

/// A masked CSRF token for a form in the response to `req`. Creates the session secret on
/// first use.
pub fn csrf_token(req: &HttpRequest) -> String {
    csrf::token(&req.cookie_session())
}

/// Whether `token` (from a form field or the `x-csrf-token` header) matches the session's
/// secret. A missing secret, a missing token or a malformed token never match.
pub fn verify(req: &HttpRequest, token: Option<&str>) -> bool {
    let token = token.or_else(|| {
        req.headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
    });
    csrf::verify(&req.cookie_session(), token)
}

//! How a [`PowError`] answers an axum request: the status, `Retry-After` and plain text the
//! actix-web layer answers with; and the JSON API's error answer
//! ([`ApiError`](pow_core::api::ApiError)), as the actix-web layer sends it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pow_core::PowError;

/// The answer to `err`: its [status](PowError::http_status), `Retry-After` where it has
/// one, and the status's reason as plain text (nothing about the failure leaks).
pub fn error_response(err: &PowError) -> Response {
    err.log_answered();
    let status =
        StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        status.canonical_reason().unwrap_or("Error"),
    )
        .into_response();
    if let Some(secs) = err.retry_after_secs() {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// A [`PowError`] as an axum response: return `Result<_, pow_axum::Error>` from a handler
/// and use `?` on the engine's calls.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] pub PowError);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

/// The JSON API's error answer as an axum response: the status, the headers
/// (`Cache-Control: no-store`, `WWW-Authenticate`, `Retry-After`) and the envelope the
/// engine decides ([`ApiError::body`](pow_core::api::ApiError::body)), byte for byte what
/// the actix-web layer sends.
///
/// ```
/// use pow_axum::api::ApiError;
///
/// let res = pow_axum::api_response(&ApiError::new(404, "Not found").with_code("not_found"));
/// assert_eq!(res.status(), 404);
/// assert_eq!(res.headers()["cache-control"], "no-store");
/// ```
pub fn api_response(err: &pow_core::api::ApiError) -> Response {
    crate::api::response(pow_core::api::ApiAnswer::error(err))
}

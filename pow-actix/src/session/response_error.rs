//! How a [`PowError`] answers an actix request: an opaque page with the right status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::guard::PowErrorExt as _;
use crate::error::PowError;

/// A [`PowError`] as an actix error: handlers return [`Result`](crate::Result) and `?` any
/// pow-core call. It answers an opaque page with the error's status (`503` with
/// `Retry-After` when the service sheds load, `429` for a rate limit, `403` for a refused
/// step).
///
/// ```
/// use actix_web::HttpResponse;
/// use pow_actix::PowError;
///
/// async fn handler() -> pow_actix::Result<HttpResponse> {
///     Err(PowError::Busy)?
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] pub PowError);

impl From<crate::store::StoreError> for Error {
    fn from(err: crate::store::StoreError) -> Self {
        Self(err.into())
    }
}

impl From<crate::password::HashError> for Error {
    fn from(err: crate::password::HashError) -> Self {
        Self(err.into())
    }
}

impl From<askama::Error> for Error {
    fn from(err: askama::Error) -> Self {
        Self(err.into())
    }
}

/// A handler's result with a [`PowError`] as its error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.error_response()
    }
}

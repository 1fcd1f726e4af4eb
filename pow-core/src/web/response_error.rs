//! How a [`PowError`] answers an actix request: an opaque page with the right status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::{PowError, BUSY_RETRY_AFTER_SECS};

impl ResponseError for PowError {
    fn status_code(&self) -> StatusCode {
        match self {
            PowError::Store(_)
            | PowError::DatabaseUnavailable(_)
            | PowError::Busy
            | PowError::CaptchaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            PowError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            PowError::CaptchaInvalid => StatusCode::BAD_REQUEST,
            PowError::ReauthenticationRequired
            | PowError::StepUpRequired(_)
            | PowError::ImpersonationForbidden
            | PowError::AccountDisabled
            | PowError::AccountClosed => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        match self {
            PowError::RateLimited(limited) => {
                tracing::info!("pow request refused by a rate limit");
                res.insert_header(("Retry-After", limited.retry_after_secs().to_string()));
            }
            PowError::CaptchaInvalid
            | PowError::StepUpRequired(_)
            | PowError::ImpersonationForbidden
            | PowError::AccountClosed => {
                tracing::info!("pow request refused: {self}")
            }
            _ => {
                tracing::error!(error = %self, "pow request failed");
                // An app without a `tracing` subscriber would answer a bare error page and
                // say nowhere why (an SMTP server that is not there, say).
                if !tracing::dispatcher::has_been_set() {
                    eprintln!("pow request failed: {self}");
                }
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    res.insert_header(("Retry-After", BUSY_RETRY_AFTER_SECS.to_string()));
                }
            }
        }
        res.content_type("text/plain; charset=utf-8")
            .body(status.canonical_reason().unwrap_or("Error"))
    }
}

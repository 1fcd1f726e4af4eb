//! Flash messages: one info and one error text carried to the next page through the
//! cookie session (the engine's [`pow_core::session::flash`], on an actix request).

use crate::session::CookieSessionExt as _;
use actix_web::HttpRequest;
use pow_core::session::flash;

pub use pow_core::session::flash::Flash;

/// Queues an info text for the next page. `None` (a message that shows nothing) is a no-op.
pub fn put_info(req: &HttpRequest, text: Option<String>) {
    flash::put_info(&req.cookie_session(), text);
}

/// Queues an error text for the next page. `None` is a no-op.
pub fn put_error(req: &HttpRequest, text: Option<String>) {
    flash::put_error(&req.cookie_session(), text);
}

/// Takes the queued texts (they are shown once).
pub fn take(req: &HttpRequest) -> Flash {
    flash::take(&req.cookie_session())
}

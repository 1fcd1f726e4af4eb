//! Flash messages: one info and one error text carried to the next page through the
//! cookie session.

use crate::session::CookieSessionExt as _;
use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

const FLASH_KEY: &str = "_flash";

/// The flash texts waiting to be shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// Informational text.
    pub info: Option<String>,
    /// Error text.
    pub error: Option<String>,
}

fn update(req: &HttpRequest, f: impl FnOnce(&mut Flash)) {
    let session = req.cookie_session();
    let mut flash = session
        .get::<Flash>(FLASH_KEY)
        .ok()
        .flatten()
        .unwrap_or_default();
    f(&mut flash);
    if let Err(err) = session.insert(FLASH_KEY, &flash) {
        tracing::warn!(error = %err, "could not store flash message");
    }
}

/// Queues an info text for the next page. `None` (a message that shows nothing) is a no-op.
pub fn put_info(req: &HttpRequest, text: Option<String>) {
    if let Some(text) = text {
        update(req, |f| f.info = Some(text));
    }
}

/// Queues an error text for the next page. `None` is a no-op.
pub fn put_error(req: &HttpRequest, text: Option<String>) {
    if let Some(text) = text {
        update(req, |f| f.error = Some(text));
    }
}

/// Takes the queued texts (they are shown once).
pub fn take(req: &HttpRequest) -> Flash {
    let session = req.cookie_session();
    // Removing a key marks the session changed (and re-sends its cookie) even when the
    // key is absent: only remove a flash that is there.
    if !session.contains_key(FLASH_KEY) {
        return Flash::default();
    }
    let flash = session.remove_as::<Flash>(FLASH_KEY);
    match flash {
        Some(Ok(flash)) => flash,
        _ => Flash::default(),
    }
}

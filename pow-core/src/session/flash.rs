//! Flash messages: one info and one error text carried to the next page through the
//! cookie session, the same on every framework layer.
//!
//! ```
//! use pow_core::session::{flash, CookieSession};
//!
//! let session = CookieSession::default();
//! flash::put_error(&session, Some("Try again".into()));
//! assert_eq!(flash::take(&session).error.as_deref(), Some("Try again"));
//! assert_eq!(flash::take(&session), flash::Flash::default(), "shown once");
//! ```

use serde::{Deserialize, Serialize};

use super::cookie::CookieSession;

/// The cookie session key the texts live under.
pub(crate) const FLASH_KEY: &str = "_flash";

/// The flash texts waiting to be shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// Informational text.
    pub info: Option<String>,
    /// Error text.
    pub error: Option<String>,
}

fn update(session: &CookieSession, f: impl FnOnce(&mut Flash)) {
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
pub fn put_info(session: &CookieSession, text: Option<String>) {
    if let Some(text) = text {
        update(session, |f| f.info = Some(text));
    }
}

/// Queues an error text for the next page. `None` is a no-op.
pub fn put_error(session: &CookieSession, text: Option<String>) {
    if let Some(text) = text {
        update(session, |f| f.error = Some(text));
    }
}

/// Takes the queued texts (they are shown once).
pub fn take(session: &CookieSession) -> Flash {
    // Removing a key marks the session changed (and re-sends its cookie) even when the
    // key is absent: only remove a flash that is there.
    if !session.contains_key(FLASH_KEY) {
        return Flash::default();
    }
    match session.remove_as::<Flash>(FLASH_KEY) {
        Some(Ok(flash)) => flash,
        _ => Flash::default(),
    }
}

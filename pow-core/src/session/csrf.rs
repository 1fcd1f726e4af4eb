//! CSRF protection for forms, the same on every framework layer: a per-session secret in
//! the cookie session, sent masked in every form and checked on every state-changing
//! request.
//!
//! Each rendered form gets a fresh mask (`base64url(pad || pad XOR secret)`), so the token
//! in the page changes on every render and compression side channels cannot recover it.
//! Verification unmasks and compares in constant time.
//!
//! ```
//! use pow_core::session::{csrf, CookieSession};
//!
//! let session = CookieSession::default();
//! let token = csrf::token(&session);
//! assert!(csrf::verify(&session, Some(&token)));
//! assert!(!csrf::verify(&session, Some("forged")));
//! csrf::rotate(&session);
//! assert!(!csrf::verify(&session, Some(&token)), "a token from before a sign-in stops working");
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;

use super::cookie::CookieSession;
use crate::token::secure_compare;

/// The cookie session key the secret lives under.
pub(crate) const CSRF_KEY: &str = "_csrf";
const SECRET_LEN: usize = 32;

fn secret(session: &CookieSession, create: bool) -> Option<Vec<u8>> {
    if let Some(existing) = session
        .get::<String>(CSRF_KEY)
        .ok()
        .flatten()
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .filter(|s| s.len() == SECRET_LEN)
    {
        return Some(existing);
    }
    if !create {
        return None;
    }
    let mut fresh = vec![0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    if let Err(err) = session.insert(CSRF_KEY, URL_SAFE_NO_PAD.encode(&fresh)) {
        tracing::warn!(error = %err, "could not store CSRF secret");
    }
    Some(fresh)
}

/// Forgets the session's CSRF secret, so tokens from before stop working: at sign-in and
/// sign-out (the next form gets a new secret).
pub fn rotate(session: &CookieSession) {
    session.remove(CSRF_KEY);
}

/// A masked CSRF token for a form. Creates the session's secret on first use.
pub fn token(session: &CookieSession) -> String {
    let secret = secret(session, true).unwrap_or_default();
    let mut pad = vec![0u8; secret.len()];
    rand::rngs::OsRng.fill_bytes(&mut pad);
    let mut out = pad.clone();
    out.extend(pad.iter().zip(&secret).map(|(p, s)| p ^ s));
    URL_SAFE_NO_PAD.encode(out)
}

/// Whether `token` (from a form field or the `x-csrf-token` header) matches the session's
/// secret. A missing secret, a missing token or a malformed token never match.
pub fn verify(session: &CookieSession, token: Option<&str>) -> bool {
    let (Some(secret), Some(token)) = (secret(session, false), token) else {
        return false;
    };
    let Ok(raw) = URL_SAFE_NO_PAD.decode(token) else {
        return false;
    };
    if raw.len() != 2 * SECRET_LEN {
        return false;
    }
    let (pad, masked) = raw.split_at(SECRET_LEN);
    let unmasked: Vec<u8> = pad.iter().zip(masked).map(|(p, m)| p ^ m).collect();
    secure_compare(&unmasked, &secret)
}

//! CSRF protection for forms: a per-session secret, sent masked in every form and checked
//! on every state-changing request.
//!
//! The secret lives in the cookie session. Each rendered form gets a fresh mask
//! (`base64url(pad || pad XOR secret)`), so the token in the page changes on every render
//! and compression side channels cannot recover it. Verification unmasks and compares in
//! constant time.

use crate::session::CookieSessionExt as _;
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;

use crate::token::secure_compare;

const CSRF_KEY: &str = "_csrf";
const SECRET_LEN: usize = 32;

fn secret(req: &HttpRequest, create: bool) -> Option<Vec<u8>> {
    let session = req.cookie_session();
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
pub(crate) fn rotate(session: &crate::session::CookieSession) {
    session.remove(CSRF_KEY);
}

/// A masked CSRF token for a form in the response to `req`. Creates the session secret on
/// first use.
pub fn csrf_token(req: &HttpRequest) -> String {
    let secret = secret(req, true).unwrap_or_default();
    let mut pad = vec![0u8; secret.len()];
    rand::rngs::OsRng.fill_bytes(&mut pad);
    let mut out = pad.clone();
    out.extend(pad.iter().zip(&secret).map(|(p, s)| p ^ s));
    URL_SAFE_NO_PAD.encode(out)
}

/// Whether `token` (from a form field or the `x-csrf-token` header) matches the session's
/// secret. A missing secret, a missing token or a malformed token never match.
pub fn verify(req: &HttpRequest, token: Option<&str>) -> bool {
    let token = token.or_else(|| {
        req.headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
    });
    let (Some(secret), Some(token)) = (secret(req, false), token) else {
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

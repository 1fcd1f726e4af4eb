//! The cookie session that carries the signed session id.

use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};

use crate::config::PowConfig;

/// Salts deriving the cookie key from the secret key base; a named setup prefixes them
/// with its name, so two setups in one app sign their cookies with different keys.
const SIGNING_SALT: &str = "pow cookie session signing";
const ENCRYPTION_SALT: &str = "pow cookie session encryption";

/// The 64-byte key of the cookie session, derived from the secret key base.
///
/// Stable across restarts and workers as long as the secret key base is.
pub fn cookie_key(config: &PowConfig) -> Key {
    key_of(config, config.verifier())
}

/// The cookie keys of the retired secrets of the key ring, newest first.
pub(crate) fn retired_cookie_keys(config: &PowConfig) -> Vec<Key> {
    config
        .verifier()
        .ring()
        .skip(1)
        .map(|verifier| key_of(config, verifier))
        .collect()
}

fn key_of(config: &PowConfig, verifier: &crate::token::MessageVerifier) -> Key {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&verifier.derive_key(&config.namespaced(SIGNING_SALT)));
    bytes[32..].copy_from_slice(&verifier.derive_key(&config.namespaced(ENCRYPTION_SALT)));
    Key::from(&bytes)
}

/// The actix-session middleware pow-rs expects, configured from `config`.
///
/// - cookie name: [`SessionConfig::cookie_name`](crate::SessionConfig::cookie_name)
///   (`pow_session`, or `<name>_session` for a named setup);
/// - content signed, not encrypted: it only holds the signed session id (and whatever the
///   app puts in the session), and the signature stops tampering;
/// - `HttpOnly`, `SameSite=Lax`, path `/`, and `Secure` when
///   [`SessionConfig::cookie_secure`](crate::SessionConfig::cookie_secure) is on;
/// - a browser-session cookie (no `Max-Age`): how long a sign-in lasts is decided on the
///   server by the credentials TTL, renewal and absolute lifetime.
///
/// [`PowMiddleware`](super::PowMiddleware) wraps it outside the pow session for you. Used
/// on its own, wrap it *outside* [`PowSessionMiddleware`](super::PowSessionMiddleware),
/// i.e. call `.wrap(cookie_session_middleware(&config))` after
/// `.wrap(PowSessionMiddleware::new(..))`.
pub fn cookie_session_middleware(config: &PowConfig) -> SessionMiddleware<CookieSessionStore> {
    let session = config.session();
    SessionMiddleware::builder(CookieSessionStore::default(), cookie_key(config))
        .cookie_name(session.cookie_name.clone())
        .cookie_content_security(CookieContentSecurity::Signed)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(session.cookie_secure)
        .cookie_path("/".to_owned())
        .session_lifecycle(BrowserSession::default())
        .build()
}

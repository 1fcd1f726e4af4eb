//! Reading a compact JWS this provider signed (an ID token, a JWT access token): the
//! signature is checked against the ring's keys (current and retired, by `kid` and `alg`)
//! before anything in it is believed. The signature check itself is the key's
//! ([`openidconnect`]'s JSON web key).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pow_core::{PowConfig, PowError};
use serde::Deserialize;
use serde_json::Value;

use crate::keys;

/// The longest token read (anything longer is no token of ours).
pub(crate) const MAX_LEN: usize = 8192;

/// The JOSE header of a token of ours.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) typ: Option<String>,
    pub(crate) kid: String,
    /// Extensions the reader must understand: none of ours has any, so a token with it is
    /// refused.
    #[serde(default)]
    crit: Option<Value>,
}

/// Whether `token` has the shape of a compact JWS (three base64url parts, a JSON header).
pub(crate) fn looks_like(token: &str) -> bool {
    token.len() <= MAX_LEN
        && token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The header and payload of `token` when a key of `config`'s ring signed it; `None` for
/// anything else (malformed, another key, a bad signature, a `crit` header). An error
/// only when the keys cannot be derived.
pub(crate) fn verified(
    config: &PowConfig,
    token: &str,
) -> Result<Option<(Header, Vec<u8>)>, PowError> {
    if !looks_like(token) {
        return Ok(None);
    }
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return Ok(None);
    };
    let Some((header, payload)) = signing_input.split_once('.') else {
        return Ok(None);
    };
    let Some(header) = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Header>(&bytes).ok())
    else {
        return Ok(None);
    };
    if header.crit.is_some() {
        return Ok(None);
    }
    let ring = keys::ring(config)?;
    let Some(key) = ring
        .iter()
        .find(|key| key.kid() == header.kid && key.algorithm().name() == header.alg)
    else {
        return Ok(None);
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return Ok(None);
    };
    if !key.verifies(signing_input.as_bytes(), &signature) {
        return Ok(None);
    }
    Ok(URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .map(|payload| (header, payload)))
}

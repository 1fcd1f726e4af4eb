//! The per-address mail rate limit, counted in the cache store.
//!
//! An address has `max_mails` slots, `[digest, "0"]`, `[digest, "1"]`, ...; a mail takes
//! the first free slot, which then stays taken for the window (the store TTL). The digest
//! is a keyed hash of the normalised address, so the store never holds the address. The
//! work is the same whether or not an account has the address.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pow_core::store::{Cache, Key, StoreError};
use pow_core::token::hmac_sha256;
use pow_core::PowConfig;

use crate::tokens::now_ms;
use crate::{MailRateLimit, RATE_LIMIT_NAMESPACE};

/// Salt of the key that hashes addresses.
const DIGEST_SALT: &str = "pow_reset_password mail rate limit";

/// Counts a mail to `address`; `false` when its limit is reached (then nothing is counted).
pub(crate) async fn allow(
    config: &PowConfig,
    limit: &MailRateLimit,
    address: &str,
) -> Result<bool, StoreError> {
    let cache = Cache::new(
        config.store().clone(),
        config.namespaced(RATE_LIMIT_NAMESPACE),
        Some(limit.window()),
    );
    let digest = URL_SAFE_NO_PAD.encode(hmac_sha256(
        &config.verifier().derive_key(DIGEST_SALT),
        address.as_bytes(),
    ));
    for slot in 0..limit.max_mails() {
        let key = Key::from([digest.clone(), slot.to_string()]);
        if cache.store().get(cache.namespace(), &key).await?.is_none() {
            cache.put(&key, &now_ms()).await?;
            return Ok(true);
        }
    }
    Ok(false)
}

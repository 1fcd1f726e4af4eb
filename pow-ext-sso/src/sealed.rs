//! Secrets at rest: a connection's client secret is sealed with AES-256-GCM under a key
//! derived from the setup's key ring, and opened with whichever secret of the ring sealed
//! it (a retired one too, so rotating the ring keeps connections working; the next save
//! seals under the current secret).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pow_core::PowConfig;
use rand::RngCore as _;

/// The salt the sealing key is derived for.
const SALT: &str = "pow sso client secret";
/// The sealed form's version prefix.
const PREFIX: &str = "v1.";

/// `secret`, sealed under the current secret of `config`'s key ring: `v1.<nonce>.<sealed>`.
pub(crate) fn seal(config: &PowConfig, secret: &str) -> String {
    let key = config.verifier().derive_key(&config.namespaced(SALT));
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key));
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    // Encrypting into a Vec fails only past the cipher's length limit (64 GiB).
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
        .unwrap_or_default();
    format!(
        "{PREFIX}{}.{}",
        URL_SAFE_NO_PAD.encode(nonce),
        URL_SAFE_NO_PAD.encode(sealed)
    )
}

/// The secret `sealed` holds, opened with any secret of the key ring; `None` when none
/// opens it (a ring that lost the secret that sealed it, or a changed value).
pub(crate) fn open(config: &PowConfig, sealed: &str) -> Option<String> {
    let (nonce, body) = sealed.strip_prefix(PREFIX)?.split_once('.')?;
    let nonce = URL_SAFE_NO_PAD.decode(nonce).ok()?;
    let body = URL_SAFE_NO_PAD.decode(body).ok()?;
    if nonce.len() != 12 {
        return None;
    }
    config
        .verifier()
        .derive_keys(&config.namespaced(SALT))
        .into_iter()
        .find_map(|key| {
            let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key));
            cipher
                .decrypt(Nonce::from_slice(&nonce), body.as_slice())
                .ok()
        })
        .and_then(|opened| String::from_utf8(opened).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: &str, retired: &[(&str, &str)]) -> PowConfig {
        let mut builder = PowConfig::builder(secret.repeat(64));
        for (id, old) in retired {
            builder = builder.retired_secret_key_base(*id, old.repeat(64));
        }
        builder.build().unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_and_holds_no_clear_text() {
        let config = config("a", &[]);
        let sealed = seal(&config, "client secret 123");
        assert!(!sealed.contains("client secret"));
        assert_ne!(
            sealed,
            seal(&config, "client secret 123"),
            "a fresh nonce each time"
        );
        assert_eq!(open(&config, &sealed).as_deref(), Some("client secret 123"));
    }

    #[test]
    fn a_retired_secret_still_opens_and_another_ring_does_not() {
        let sealed = seal(&config("a", &[]), "s3cret");
        assert_eq!(
            open(&config("b", &[("old", "a")]), &sealed).as_deref(),
            Some("s3cret")
        );
        assert_eq!(open(&config("b", &[]), &sealed), None);
    }

    #[test]
    fn a_changed_value_does_not_open() {
        let config = config("a", &[]);
        let sealed = seal(&config, "s3cret");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&config, &String::from_utf8(bytes).unwrap()), None);
        assert_eq!(open(&config, "v1.x"), None);
        assert_eq!(open(&config, "plain"), None);
    }
}

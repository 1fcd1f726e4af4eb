//! The ID tokens' signing keys: Ed25519 keys derived from the setup's key ring, one per
//! secret of the ring. Every process of a setup derives the same keys (nothing is minted per
//! request or per start), the current secret's key signs, and a retired secret's key stays
//! in the JWKS so tokens it signed still verify until they expire. Each key's `kid` is a
//! digest of its public key.

use base64::Engine as _;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use ed25519_dalek::SigningKey;
use openidconnect::core::{CoreEdDsaPrivateSigningKey, CoreJsonWebKey, CoreJsonWebKeySet};
use openidconnect::{JsonWebKeyId, PrivateSigningKey as _};
use pow_core::{PowConfig, PowError};
use sha2::{Digest, Sha256};

/// The salt the signing keys are derived under.
const SALT: &str = "pow_provider id token signing key";

/// One signing key.
pub(crate) struct Key {
    /// The key, with its id.
    pub(crate) signing: CoreEdDsaPrivateSigningKey,
}

/// The keys of `config`'s ring, the current one first: derived on first use and kept
/// with the extension's settings (the ring does not change while a setup lives).
pub(crate) fn ring(config: &PowConfig) -> Result<&[Key], PowError> {
    let registered = config
        .extensions()
        .sides::<crate::Registered>()
        .find(|registered| registered.provider.is_some())
        .ok_or_else(|| PowError::Config("pow-ext-provider is not enabled in this setup".into()))?;
    let derived = registered.keys.get_or_init(|| {
        config
            .verifier()
            .derive_keys(SALT)
            .into_iter()
            .map(|seed| key(&seed).map_err(|err| err.to_string()))
            .collect()
    });
    derived
        .as_deref()
        .map_err(|err| PowError::Config(err.clone()))
}

/// The key that signs now.
pub(crate) fn current(config: &PowConfig) -> Result<&Key, PowError> {
    ring(config)?
        .first()
        .ok_or_else(|| PowError::Config("the key ring has no key".into()))
}

/// The key of a 32-byte seed.
fn key(seed: &[u8; 32]) -> Result<Key, PowError> {
    let signing = SigningKey::from_bytes(seed);
    let public = signing.verifying_key();
    let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(&Sha256::digest(public.as_bytes())[..12]);
    let pem = signing
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|err| PowError::Config(format!("the signing key does not encode: {err}")))?;
    let signing = CoreEdDsaPrivateSigningKey::from_ed25519_pem(&pem, Some(JsonWebKeyId::new(kid)))
        .map_err(|err| PowError::Config(format!("the signing key does not load: {err}")))?;
    Ok(Key { signing })
}

/// The JWKS document: the public keys of the ring.
pub(crate) fn jwks(config: &PowConfig) -> Result<serde_json::Value, PowError> {
    let keys: Vec<CoreJsonWebKey> = ring(config)?
        .iter()
        .map(|key| key.signing.as_verification_key())
        .collect();
    serde_json::to_value(CoreJsonWebKeySet::new(keys))
        .map_err(|err| PowError::Config(format!("the JWKS does not encode: {err}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_the_ring_s_and_stable() {
        let config = PowConfig::builder("s".repeat(64))
            .extension(crate::Provider::new())
            .build()
            .unwrap();
        let kid = |config: &PowConfig| {
            let key = current(config).unwrap().signing.as_verification_key();
            serde_json::to_value(key).unwrap()["kid"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(kid(&config), kid(&config));
        let jwks = jwks(&config).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["kid"], kid(&config).as_str());
        assert_eq!(keys[0]["crv"], "Ed25519");
        assert!(keys[0].get("d").is_none(), "never the private part");
        let other = PowConfig::builder("t".repeat(64))
            .extension(crate::Provider::new())
            .build()
            .unwrap();
        assert_ne!(kid(&other), kid(&config));
    }

    #[test]
    fn a_rotated_secret_s_key_stays_in_the_jwks_behind_the_new_one() {
        let old = PowConfig::builder("s".repeat(64))
            .extension(crate::Provider::new())
            .build()
            .unwrap();
        let rotated = PowConfig::builder("t".repeat(64))
            .extension(crate::Provider::new())
            .retired_secret_key_base("2026", "s".repeat(64))
            .build()
            .unwrap();
        let kid_of = |config: &PowConfig| {
            let key = current(config).unwrap().signing.as_verification_key();
            serde_json::to_value(key).unwrap()["kid"].clone()
        };
        let jwks = jwks(&rotated).unwrap();
        let kids: Vec<_> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].clone())
            .collect();
        assert_eq!(
            kids,
            vec![kid_of(&rotated), kid_of(&old)],
            "the current key signs, the old one verifies"
        );
    }
}

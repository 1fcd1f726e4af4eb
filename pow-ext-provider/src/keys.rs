//! The signing keys of ID tokens and JWT access tokens, derived from the setup's key ring,
//! one per secret of the ring: Ed25519 keys (`EdDSA`, the default) or P-256 keys (`ES256`),
//! as [`SigningAlgorithm`] chooses. Every process of a setup derives the same keys (nothing
//! is minted per request or per start), the current secret's key signs, and a retired
//! secret's key stays in the JWKS so tokens it signed still verify until they expire. Each
//! key's `kid` is a digest of its public key.

use base64::Engine as _;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use openidconnect::core::{
    CoreEdDsaPrivateSigningKey, CoreJsonCurveType, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{JsonWebKey as _, JsonWebKeyId, PrivateSigningKey, SigningError};
use pow_core::{PowConfig, PowError};
use sha2::{Digest, Sha256};

/// The salt the Ed25519 signing keys are derived under.
const SALT: &str = "pow_provider id token signing key";

/// The salt the P-256 signing keys are derived under (distinct: the two kinds of key of one
/// secret share nothing).
const ES256_SALT: &str = "pow_provider es256 signing key";

/// The algorithm the provider signs ID tokens and JWT access tokens with; the JWKS publishes
/// its keys and the discovery document advertises it alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// EdDSA with Ed25519 keys (RFC 8037). The default.
    #[default]
    EdDsa,
    /// ECDSA with P-256 and SHA-256 (`ES256`), for clients whose libraries lack EdDSA.
    Es256,
}

impl SigningAlgorithm {
    /// Its JWS name: `EdDSA` or `ES256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// Its JWS algorithm, as openidconnect names it.
    pub(crate) fn jws(self) -> CoreJwsSigningAlgorithm {
        match self {
            Self::EdDsa => CoreJwsSigningAlgorithm::EdDsa,
            Self::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        }
    }
}

/// One signing key, with its public half as a JWK.
pub(crate) struct Key {
    kid: String,
    algorithm: SigningAlgorithm,
    private: Private,
    public: CoreJsonWebKey,
}

/// A key's private half.
enum Private {
    EdDsa(CoreEdDsaPrivateSigningKey),
    Es256(p256::ecdsa::SigningKey),
}

impl Key {
    /// Its id (`kid`).
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// What it signs with.
    pub(crate) fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// Whether `signature` is its signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public
            .verify_signature(&self.algorithm.jws(), message, signature)
            .is_ok()
    }
}

impl PrivateSigningKey for Key {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        algorithm: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        if *algorithm != self.algorithm.jws() {
            return Err(SigningError::UnsupportedAlg(format!("{algorithm:?}")));
        }
        match &self.private {
            Private::EdDsa(key) => key.sign(algorithm, message),
            Private::Es256(key) => {
                use p256::ecdsa::signature::Signer as _;
                let signature: p256::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|_| SigningError::CryptoError)?;
                // JWS wants the fixed-size `r || s` form (RFC 7518 §3.4), which this is.
                Ok(signature.to_bytes().to_vec())
            }
        }
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.public.clone()
    }
}

/// The keys of `config`'s ring, the current one first: derived on first use and kept
/// with the extension's settings (the ring does not change while a setup lives).
pub(crate) fn ring(config: &PowConfig) -> Result<&[Key], PowError> {
    let registered = config
        .extensions()
        .sides::<crate::Registered>()
        .find(|registered| registered.provider.is_some())
        .ok_or_else(|| PowError::Config("pow-ext-provider is not enabled in this setup".into()))?;
    let algorithm = registered
        .provider
        .as_ref()
        .map(|provider| provider.signing_alg)
        .unwrap_or_default();
    let derived = registered
        .keys
        .get_or_init(|| derive(config, algorithm).map_err(|err| err.to_string()));
    derived
        .as_deref()
        .map_err(|err| PowError::Config(err.clone()))
}

/// The keys of `algorithm` derived from every secret of `config`'s ring, the current first.
fn derive(config: &PowConfig, algorithm: SigningAlgorithm) -> Result<Vec<Key>, PowError> {
    let salt = match algorithm {
        SigningAlgorithm::EdDsa => SALT,
        SigningAlgorithm::Es256 => ES256_SALT,
    };
    config
        .verifier()
        .derive_keys(salt)
        .iter()
        .map(|seed| key(algorithm, seed))
        .collect()
}

/// The key that signs now.
pub(crate) fn current(config: &PowConfig) -> Result<&Key, PowError> {
    ring(config)?
        .first()
        .ok_or_else(|| PowError::Config("the key ring has no key".into()))
}

/// The key of `algorithm` of a 32-byte seed.
fn key(algorithm: SigningAlgorithm, seed: &[u8; 32]) -> Result<Key, PowError> {
    match algorithm {
        SigningAlgorithm::EdDsa => ed25519_key(seed),
        SigningAlgorithm::Es256 => es256_key(seed),
    }
}

/// The `kid` of a public key's bytes.
fn kid_of(public: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12])
}

/// The Ed25519 key of a seed.
fn ed25519_key(seed: &[u8; 32]) -> Result<Key, PowError> {
    let signing = ed25519_dalek::SigningKey::from_bytes(seed);
    let kid = kid_of(signing.verifying_key().as_bytes());
    let pem = signing
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|err| PowError::Config(format!("the signing key does not encode: {err}")))?;
    let private =
        CoreEdDsaPrivateSigningKey::from_ed25519_pem(&pem, Some(JsonWebKeyId::new(kid.clone())))
            .map_err(|err| PowError::Config(format!("the signing key does not load: {err}")))?;
    let public = private.as_verification_key();
    Ok(Key {
        kid,
        algorithm: SigningAlgorithm::EdDsa,
        private: Private::EdDsa(private),
        public,
    })
}

/// The P-256 key of a seed. A seed that is not a valid scalar (zero, or not below the
/// curve's order: about one in 2^32) is hashed again until one is, so each seed still has
/// exactly one key.
fn es256_key(seed: &[u8; 32]) -> Result<Key, PowError> {
    let mut candidate: [u8; 32] = *seed;
    let mut found = None;
    for _ in 0..64 {
        if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&candidate) {
            found = Some(key);
            break;
        }
        candidate = Sha256::digest(candidate).into();
    }
    let signing =
        found.ok_or_else(|| PowError::Config("no P-256 key derives from the secret".into()))?;
    let point = signing.verifying_key().to_sec1_point(false);
    // Uncompressed: 0x04, then x and y, 32 bytes each.
    let (x, y) = match point.as_bytes() {
        [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
        _ => {
            return Err(PowError::Config(
                "the P-256 public key does not encode".into(),
            ))
        }
    };
    let kid = kid_of(point.as_bytes());
    let public = CoreJsonWebKey::new_ec(
        x.to_vec(),
        y.to_vec(),
        CoreJsonCurveType::P256,
        Some(JsonWebKeyId::new(kid.clone())),
    );
    Ok(Key {
        kid,
        algorithm: SigningAlgorithm::Es256,
        private: Private::Es256(signing),
        public,
    })
}

/// The JWKS document: the public keys of the ring.
pub(crate) fn jwks(config: &PowConfig) -> Result<serde_json::Value, PowError> {
    let keys: Vec<CoreJsonWebKey> = ring(config)?.iter().map(|key| key.public.clone()).collect();
    serde_json::to_value(CoreJsonWebKeySet::new(keys))
        .map_err(|err| PowError::Config(format!("the JWKS does not encode: {err}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(secret: &str, algorithm: SigningAlgorithm) -> PowConfig {
        PowConfig::builder(secret.repeat(64))
            .extension(crate::Provider::new().signing_algorithm(algorithm))
            .build()
            .unwrap()
    }

    fn kid(config: &PowConfig) -> String {
        current(config).unwrap().kid().to_owned()
    }

    #[test]
    fn the_keys_are_the_ring_s_and_stable() {
        let config = config("s", SigningAlgorithm::EdDsa);
        assert_eq!(kid(&config), kid(&config));
        let jwks = jwks(&config).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["kid"], kid(&config).as_str());
        assert_eq!(keys[0]["crv"], "Ed25519");
        assert!(keys[0].get("d").is_none(), "never the private part");
        let other = self::config("t", SigningAlgorithm::EdDsa);
        assert_ne!(kid(&other), kid(&config));
    }

    #[test]
    fn the_same_seed_derives_the_same_key_of_each_algorithm() {
        let seed = [7u8; 32];
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let one = key(algorithm, &seed).unwrap();
            let two = key(algorithm, &seed).unwrap();
            assert_eq!(one.kid(), two.kid(), "{algorithm:?}");
            assert_eq!(one.public, two.public, "{algorithm:?}");
            assert_ne!(
                one.kid(),
                key(algorithm, &[8u8; 32]).unwrap().kid(),
                "{algorithm:?}"
            );
        }
        assert_ne!(
            key(SigningAlgorithm::EdDsa, &seed).unwrap().kid(),
            key(SigningAlgorithm::Es256, &seed).unwrap().kid()
        );
    }

    #[test]
    fn es256_keys_are_the_ring_s_distinct_per_secret_and_sign() {
        let config = config("s", SigningAlgorithm::Es256);
        let again = self::config("s", SigningAlgorithm::Es256);
        assert_eq!(
            kid(&config),
            kid(&again),
            "every process derives the same key"
        );
        assert_ne!(
            kid(&config),
            kid(&self::config("t", SigningAlgorithm::Es256))
        );
        assert_ne!(
            kid(&config),
            kid(&self::config("s", SigningAlgorithm::EdDsa)),
            "a salt of its own"
        );
        let jwks = jwks(&config).unwrap();
        let published = &jwks["keys"][0];
        assert_eq!(published["kty"], "EC");
        assert_eq!(published["crv"], "P-256");
        assert_eq!(published["kid"], kid(&config).as_str());
        assert!(published.get("d").is_none(), "never the private part");
        let key = current(&config).unwrap();
        let signature = key
            .sign(&CoreJwsSigningAlgorithm::EcdsaP256Sha256, b"message")
            .unwrap();
        assert_eq!(signature.len(), 64, "r || s");
        assert!(key.verifies(b"message", &signature));
        assert!(!key.verifies(b"another", &signature));
        assert!(key
            .sign(&CoreJwsSigningAlgorithm::EdDsa, b"message")
            .is_err());
    }

    #[test]
    fn a_rotated_secret_s_key_stays_in_the_jwks_behind_the_new_one() {
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let old = config("s", algorithm);
            let rotated = PowConfig::builder("t".repeat(64))
                .extension(crate::Provider::new().signing_algorithm(algorithm))
                .retired_secret_key_base("2026", "s".repeat(64))
                .build()
                .unwrap();
            let jwks = jwks(&rotated).unwrap();
            let kids: Vec<_> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|key| key["kid"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                kids,
                vec![kid(&rotated), kid(&old)],
                "the current key signs, the old one verifies ({algorithm:?})"
            );
        }
    }
}

//! PBKDF2 in Pow's stored format:
//! `$pbkdf2-<digest>$<iterations>$<base64 salt>$<base64 key>`.
//!
//! Salt and key use the standard base64 alphabet with padding, so a hash with the default
//! settings (SHA-512, 210 000 iterations, 16-byte salt, 64-byte key) is 135 characters long
//! and reads the same as the hashes stored by Pow.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use sha2::{Sha224, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq as _;

use super::{HashError, PasswordHasher};

const SALT_LENGTH: usize = 16;
const KEY_LENGTH: usize = 64;
const MAX_ITERATIONS: u32 = 10_000_000;

/// The HMAC digest PBKDF2 runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pbkdf2Digest {
    /// SHA-512, Pow's default.
    #[default]
    Sha512,
    /// SHA-256.
    Sha256,
}

impl Pbkdf2Digest {
    /// The digest's name in the stored hash (`sha512`, `sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha512 => "sha512",
            Self::Sha256 => "sha256",
        }
    }
}

/// Hashes passwords with PBKDF2 in Pow's stored format.
///
/// The default is Pow's format with OWASP's current cost: PBKDF2-HMAC-SHA512, 210 000
/// iterations, a 16-byte random salt and a 64-byte key. Pow's own hashes (100 000
/// iterations) keep verifying and are re-hashed at the next sign-in.
///
/// ```
/// use pow_core::password::{PasswordHasher, Pbkdf2Digest, Pbkdf2Hasher};
///
/// let hasher = Pbkdf2Hasher::new(1_000).with_digest(Pbkdf2Digest::Sha256);
/// let hash = hasher.hash("secret1234").unwrap();
/// assert!(hash.starts_with("$pbkdf2-sha256$1000$"));
/// assert!(hasher.verify("secret1234", &hash).unwrap());
/// assert!(!hasher.verify("wrong", &hash).unwrap());
/// // A hash with fewer iterations than configured should be upgraded.
/// assert!(Pbkdf2Hasher::new(2_000)
///     .with_digest(Pbkdf2Digest::Sha256)
///     .needs_rehash(&hash));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pbkdf2Hasher {
    iterations: u32,
    digest: Pbkdf2Digest,
}

impl Default for Pbkdf2Hasher {
    /// SHA-512 and [`DEFAULT_ITERATIONS`](Self::DEFAULT_ITERATIONS).
    fn default() -> Self {
        Self::new(Self::DEFAULT_ITERATIONS)
    }
}

impl Pbkdf2Hasher {
    /// Iterations used by [`Pbkdf2Hasher::default`]: OWASP's recommendation for
    /// PBKDF2-HMAC-SHA512 (Password Storage Cheat Sheet, 2023 onwards).
    pub const DEFAULT_ITERATIONS: u32 = 210_000;
    /// Iterations of Pow's own default hasher (and of this crate's before 0.2).
    pub const POW_ITERATIONS: u32 = 100_000;
    /// Length in bytes of the random salt of a new hash, as in Pow.
    pub const SALT_LENGTH: usize = SALT_LENGTH;
    /// Length in bytes of the derived key, as in Pow. Verification always derives this
    /// many bytes, whatever the length of the stored key.
    pub const KEY_LENGTH: usize = KEY_LENGTH;
    /// The most iterations a stored hash may ask for. A hash with more is refused as
    /// malformed, so a tampered row cannot make one verification run for minutes.
    pub const MAX_ITERATIONS: u32 = MAX_ITERATIONS;

    /// A SHA-512 hasher running `iterations` rounds. Iterations must be between 1 and
    /// [`MAX_ITERATIONS`](Self::MAX_ITERATIONS), or [`hash`](PasswordHasher::hash) fails.
    pub fn new(iterations: u32) -> Self {
        Self {
            iterations,
            digest: Pbkdf2Digest::Sha512,
        }
    }

    /// Sets the digest. The default value is [`Pbkdf2Digest::Sha512`].
    pub fn with_digest(mut self, digest: Pbkdf2Digest) -> Self {
        self.digest = digest;
        self
    }

    /// The configured iterations.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The configured digest.
    pub fn digest(&self) -> Pbkdf2Digest {
        self.digest
    }
}

impl PasswordHasher for Pbkdf2Hasher {
    fn hash(&self, password: &str) -> Result<String, HashError> {
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return Err(HashError::Algorithm(format!(
                "PBKDF2 iterations must be between 1 and {MAX_ITERATIONS}, got {}",
                self.iterations
            )));
        }
        let mut salt = [0u8; SALT_LENGTH];
        OsRng
            .try_fill_bytes(&mut salt)
            .map_err(|e| HashError::Algorithm(format!("no randomness for the salt: {e}")))?;
        let digest = Digest::from(self.digest);
        let key = digest.derive(password.as_bytes(), &salt, self.iterations);
        Ok(encode(digest.name(), self.iterations, &salt, &key))
    }

    fn needs_rehash(&self, hash: &str) -> bool {
        match parse(hash) {
            Ok(parsed) => {
                parsed.digest != Digest::from(self.digest) || parsed.iterations < self.iterations
            }
            Err(_) => true,
        }
    }
}

/// Every digest a stored hash may name. Pow accepts any HMAC digest Erlang knows; these
/// are the SHA-2 ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Digest {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl From<Pbkdf2Digest> for Digest {
    fn from(digest: Pbkdf2Digest) -> Self {
        match digest {
            Pbkdf2Digest::Sha512 => Self::Sha512,
            Pbkdf2Digest::Sha256 => Self::Sha256,
        }
    }
}

impl Digest {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha224" => Some(Self::Sha224),
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sha224 => "sha224",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn derive(self, password: &[u8], salt: &[u8], iterations: u32) -> [u8; KEY_LENGTH] {
        let mut key = [0u8; KEY_LENGTH];
        match self {
            Self::Sha224 => pbkdf2::pbkdf2_hmac::<Sha224>(password, salt, iterations, &mut key),
            Self::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut key),
            Self::Sha384 => pbkdf2::pbkdf2_hmac::<Sha384>(password, salt, iterations, &mut key),
            Self::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut key),
        }
        key
    }
}

/// A stored hash, split and decoded.
struct Parsed {
    digest: Digest,
    iterations: u32,
    salt: Vec<u8>,
    key: Vec<u8>,
}

fn malformed(why: &str) -> HashError {
    HashError::Malformed(format!("PBKDF2 hash: {why}"))
}

/// Reads a stored hash with Pow's rules: split on `$` dropping empty parts, exactly four
/// parts, the first `pbkdf2-<digest>`, a decimal iteration count, and salt and key in
/// strict padded standard base64.
fn parse(hash: &str) -> Result<Parsed, HashError> {
    let mut parts = hash.split('$').filter(|part| !part.is_empty());
    let (Some(algorithm), Some(iterations), Some(salt), Some(key), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed("expected 4 `$`-separated parts"));
    };
    let digest = algorithm
        .strip_prefix("pbkdf2-")
        .ok_or_else(|| malformed("does not start with `pbkdf2-`"))?;
    let digest = Digest::from_name(digest).ok_or_else(|| malformed("unsupported digest"))?;
    if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("iterations are not a decimal integer"));
    }
    let iterations = iterations
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_ITERATIONS).contains(n))
        .ok_or_else(|| malformed("iterations out of range"))?;
    let salt = STANDARD
        .decode(salt)
        .map_err(|_| malformed("salt is not padded base64"))?;
    let key = STANDARD
        .decode(key)
        .map_err(|_| malformed("key is not padded base64"))?;
    Ok(Parsed {
        digest,
        iterations,
        salt,
        key,
    })
}

fn encode(digest: &str, iterations: u32, salt: &[u8], key: &[u8]) -> String {
    let mut out = format!("$pbkdf2-{digest}${iterations}$");
    STANDARD.encode_string(salt, &mut out);
    out.push('$');
    STANDARD.encode_string(key, &mut out);
    out
}

/// Verifies `password` against a hash in Pow's PBKDF2 format.
///
/// As in Pow, a stored key whose length is not [`Pbkdf2Hasher::KEY_LENGTH`] never matches
/// (`Ok(false)`); anything else that does not parse is [`HashError::Malformed`].
pub(super) fn verify(password: &str, hash: &str) -> Result<bool, HashError> {
    let parsed = parse(hash)?;
    let derived = parsed
        .digest
        .derive(password.as_bytes(), &parsed.salt, parsed.iterations);
    Ok(bool::from(derived.as_slice().ct_eq(parsed.key.as_slice())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SALT: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn hash_with(digest: Digest, iterations: u32, password: &str) -> String {
        let key = digest.derive(password.as_bytes(), &SALT, iterations);
        encode(digest.name(), iterations, &SALT, &key)
    }

    #[test]
    fn default_is_pows_format_at_owasps_cost() {
        let hasher = Pbkdf2Hasher::default();
        assert_eq!(hasher.iterations(), 210_000);
        assert_eq!(hasher.digest(), Pbkdf2Digest::Sha512);
    }

    #[test]
    fn round_trip_with_each_digest() {
        for digest in [Pbkdf2Digest::Sha512, Pbkdf2Digest::Sha256] {
            let hasher = Pbkdf2Hasher::new(10).with_digest(digest);
            let hash = hasher.hash("secret1234").unwrap();
            assert!(hash.starts_with(&format!("$pbkdf2-{}$10$", digest.name())));
            assert!(verify("secret1234", &hash).unwrap());
            assert!(!verify("secret1235", &hash).unwrap());
        }
    }

    #[test]
    fn salts_are_random() {
        let hasher = Pbkdf2Hasher::new(1);
        assert_ne!(hasher.hash("same").unwrap(), hasher.hash("same").unwrap());
    }

    #[test]
    fn other_sha2_digests_verify() {
        for digest in [Digest::Sha224, Digest::Sha384] {
            let hash = hash_with(digest, 3, "pw");
            assert!(verify("pw", &hash).unwrap());
            assert!(!verify("pW", &hash).unwrap());
        }
    }

    #[test]
    fn wrong_key_length_never_matches() {
        let key = Digest::Sha512.derive(b"pw", &SALT, 2);
        let short = encode("sha512", 2, &SALT, &key[..32]);
        assert!(!verify("pw", &short).unwrap());
    }

    #[test]
    fn iteration_limits_when_hashing() {
        assert!(matches!(
            Pbkdf2Hasher::new(0).hash("pw"),
            Err(HashError::Algorithm(_))
        ));
        assert!(matches!(
            Pbkdf2Hasher::new(MAX_ITERATIONS + 1).hash("pw"),
            Err(HashError::Algorithm(_))
        ));
    }

    #[test]
    fn rejects_non_decimal_iterations() {
        for iterations in ["+5", "-5", "0x10", "1e3", "0", "4294967296", " 5"] {
            let hash = format!("$pbkdf2-sha512${iterations}$AAAAAAAAAAAAAAAAAAAAAA==$AAAA");
            assert!(
                matches!(verify("pw", &hash), Err(HashError::Malformed(_))),
                "{iterations}"
            );
        }
    }

    #[test]
    fn rehash_when_iterations_below_configured() {
        let hash = hash_with(Digest::Sha512, 5, "pw");
        assert!(Pbkdf2Hasher::new(6).needs_rehash(&hash));
        assert!(!Pbkdf2Hasher::new(5).needs_rehash(&hash));
        assert!(!Pbkdf2Hasher::new(4).needs_rehash(&hash));
    }

    #[test]
    fn rehash_when_digest_differs() {
        let sha256 = hash_with(Digest::Sha256, 5, "pw");
        let sha512 = hash_with(Digest::Sha512, 5, "pw");
        let sha512_hasher = Pbkdf2Hasher::new(5);
        let sha256_hasher = Pbkdf2Hasher::new(5).with_digest(Pbkdf2Digest::Sha256);
        assert!(sha512_hasher.needs_rehash(&sha256));
        assert!(!sha512_hasher.needs_rehash(&sha512));
        assert!(sha256_hasher.needs_rehash(&sha512));
        assert!(!sha256_hasher.needs_rehash(&sha256));
        assert!(sha512_hasher.needs_rehash(&hash_with(Digest::Sha384, 5, "pw")));
    }

    #[test]
    fn rehash_when_not_pbkdf2() {
        let hasher = Pbkdf2Hasher::new(1);
        assert!(hasher.needs_rehash(
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
             kCtHi3P0ZBdwmgbnWqGj1mfqE7o/O3jgM0rvGf9+DGY"
        ));
        assert!(hasher.needs_rehash(""));
        assert!(hasher.needs_rehash("$pbkdf2-md5$1$AAAA$AAAA"));
    }
}

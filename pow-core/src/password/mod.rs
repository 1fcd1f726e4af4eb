//! Password hashing: the [`PasswordHasher`] trait, PBKDF2-SHA512 (Pow's format, the
//! default) and Argon2id (PHC strings).
//!
//! Verification recognises both formats whatever hasher is configured, so a database
//! migrated from Pow keeps working, and [`PasswordHasher::needs_rehash`] tells when a hash
//! should be upgraded after a successful sign-in.
//!
//! A stored hash that does not parse, or that asks for unreasonable costs (more than
//! 10 000 000 PBKDF2 iterations; more than 256 MiB, or 4 GiB × passes, of Argon2 memory),
//! is a [`HashError`] and never counts as a match, so a tampered row can neither sign
//! anyone in nor tie up the server.

mod argon2;
mod pbkdf2;
mod pool;
mod screening;

pub use self::argon2::{Argon2Hasher, Argon2Params};
pub use self::pbkdf2::{Pbkdf2Digest, Pbkdf2Hasher};
pub(crate) use self::pool::{ahead, clean_check, for_clean_check};
pub use self::pool::{HashPool, HashPoolOptions, PooledHasher, Queued};
#[cfg(feature = "breach-check")]
pub use self::screening::HttpRangeFetcher;
pub(crate) use self::screening::{screen, Refusal};
pub use self::screening::{BreachCheck, RangeFetcher};

/// Password length rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters. Default 8 (NIST 800-63B).
    pub min_length: usize,
    /// Maximum length in bytes. Default 4096 (caps hashing cost).
    pub max_length: usize,
    /// Refuses passwords among this many most common ones (zxcvbn's list of 30 000, with
    /// l33t and reversed spellings). Default `Some(10_000)`; `None` turns it off.
    pub common_passwords: Option<usize>,
    /// Refuses a password equal to or containing the user id (the email address, or its
    /// part before `@`). Default `true`.
    pub reject_user_id: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 4096,
            common_passwords: Some(10_000),
            reject_user_id: true,
        }
    }
}

/// Why a stored hash could not be used. A hash error never counts as a match.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The stored string is not a hash pow-rs knows how to read.
    #[error("not a valid encoded password hash: {0}")]
    Malformed(String),
    /// The hashing algorithm failed (e.g. invalid parameters).
    #[error("password hashing failed: {0}")]
    Algorithm(String),
    /// The [`HashPool`]'s queue is full: the work was refused, not done. Answered with
    /// `503 Service Unavailable` and `Retry-After`.
    #[error("too many password hashes waiting; try again shortly")]
    Busy,
}

/// Hashes and verifies passwords.
///
/// All methods are CPU-bound and block: pow-core calls them off the async executor, on the
/// setup's [`HashPool`] (see [`PowConfig::hasher`](crate::PowConfig::hasher)).
pub trait PasswordHasher: Send + Sync + 'static {
    /// Hashes `password` with this hasher's algorithm and parameters.
    fn hash(&self, password: &str) -> Result<String, HashError>;

    /// Checks `password` against a stored hash in any supported format (PBKDF2 in Pow's
    /// format, Argon2 PHC). The comparison is constant-time. A malformed hash is an error.
    fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
        verify_any(password, hash)
    }

    /// Whether `hash` was made with another algorithm or weaker parameters than this
    /// hasher uses, and should be replaced after a successful verification.
    fn needs_rehash(&self, hash: &str) -> bool;

    /// Does the work of one verification and throws the result away. Used for unknown
    /// users and users without a password, so that timing does not reveal them. Fails only
    /// when the work could not be done at all (e.g. [`HashError::Busy`]).
    fn dummy_verify(&self, password: &str) -> Result<(), HashError> {
        match self.hash(password) {
            Err(HashError::Busy) => Err(HashError::Busy),
            _ => Ok(()),
        }
    }
}

/// Verifies `password` against a PBKDF2 (`$pbkdf2-...`) or Argon2 (`$argon2...`) hash.
pub fn verify_any(password: &str, hash: &str) -> Result<bool, HashError> {
    if hash.starts_with("$pbkdf2-") {
        pbkdf2::verify(password, hash)
    } else if hash.starts_with("$argon2") {
        argon2::verify(password, hash)
    } else {
        Err(HashError::Malformed("unknown hash format".into()))
    }
}

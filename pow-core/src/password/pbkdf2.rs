//! PBKDF2 in Pow's stored format. (Being written.)
use super::{HashError, PasswordHasher};

/// Digest used by PBKDF2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pbkdf2Digest {
    /// SHA-512 (default).
    #[default]
    Sha512,
    /// SHA-256.
    Sha256,
}

/// PBKDF2 hasher.
#[derive(Clone, Debug, Default)]
pub struct Pbkdf2Hasher;

impl PasswordHasher for Pbkdf2Hasher {
    fn hash(&self, _password: &str) -> Result<String, HashError> {
        Err(HashError::Algorithm("not yet".into()))
    }
    fn needs_rehash(&self, _hash: &str) -> bool {
        false
    }
}

pub(super) fn verify(_password: &str, _hash: &str) -> Result<bool, HashError> {
    Err(HashError::Algorithm("not yet".into()))
}

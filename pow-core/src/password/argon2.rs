//! Argon2 in PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
//!
//! New hashes are Argon2id, version 0x13. Verification reads any Argon2id, Argon2i or
//! Argon2d PHC string that the `argon2` crate's own verifier accepts.
//!
//! Argon2 needs `m_cost` KiB of working memory per hash. Rather than allocating it for each
//! call, every thread keeps its buffer and reuses it for the next hash or verification on
//! that thread; buffers above 64 MiB are not kept. pow-core hashes on its
//! [`HashPool`](super::HashPool)'s few long-lived threads, so a setup keeps at most one
//! buffer per pool thread (19 MiB each with the default parameters), and a verification
//! costs the algorithm and no page faults.

use std::cell::Cell;

use ::argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use ::argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

use super::{HashError, PasswordHasher};

/// Argon2 cost parameters, re-exported from the `argon2` crate:
/// `Argon2Params::new(m_cost_kib, t_cost, p_cost, None)`.
pub use ::argon2::Params as Argon2Params;

/// Length in bytes of the random salt of a new hash.
const SALT_LENGTH: usize = 16;
/// The most memory (KiB) a hash may ask for: 256 MiB.
const MAX_M_COST: u32 = 256 * 1024;
/// The most work (`m_cost` × `t_cost`, in KiB passes) a hash may ask for.
const MAX_WORK: u64 = 4 * 1024 * 1024;
/// Working buffers up to this many 1 KiB blocks (64 MiB) stay allocated for the thread.
const MAX_RETAINED_BLOCKS: usize = 64 * 1024;

thread_local! {
    static BLOCKS: Cell<Vec<Block>> = const { Cell::new(Vec::new()) };
}

/// Hashes passwords with Argon2id into PHC strings.
///
/// The default parameters are the `argon2` crate's (and OWASP's) recommendation:
/// `m = 19456` KiB (19 MiB), `t = 2` passes, `p = 1` lane, a 32-byte output and a
/// 16-byte random salt.
///
/// Stored hashes whose memory is above 256 MiB, or whose memory × passes is above
/// 4 GiB·passes, are refused as malformed so that a tampered row cannot exhaust the
/// server; hashing with such parameters fails with [`HashError::Algorithm`].
///
/// ```
/// use pow_core::password::{Argon2Hasher, Argon2Params, PasswordHasher};
///
/// let hasher = Argon2Hasher::new(Argon2Params::new(1024, 1, 1, None).unwrap());
/// let hash = hasher.hash("secret1234").unwrap();
/// assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
/// assert!(hasher.verify("secret1234", &hash).unwrap());
/// assert!(!hasher.verify("wrong", &hash).unwrap());
/// // Hashes made with other parameters should be upgraded.
/// assert!(Argon2Hasher::default().needs_rehash(&hash));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Argon2Hasher {
    params: Params,
}

impl Argon2Hasher {
    /// An Argon2id hasher with the given cost parameters.
    pub fn new(params: Params) -> Self {
        Self { params }
    }

    /// The configured parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &str) -> Result<String, HashError> {
        let algorithm_error = |e: &dyn std::fmt::Display| HashError::Algorithm(format!("{e}"));
        check_limits(&self.params).map_err(|e| algorithm_error(&e))?;
        let mut salt = [0u8; SALT_LENGTH];
        OsRng
            .try_fill_bytes(&mut salt)
            .map_err(|e| HashError::Algorithm(format!("no randomness for the salt: {e}")))?;
        let output_len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let mut buf = [0u8; Output::MAX_LENGTH];
        let out = buf.get_mut(..output_len).ok_or_else(|| {
            HashError::Algorithm(format!(
                "Argon2 output length must be at most {} bytes",
                Output::MAX_LENGTH
            ))
        })?;
        derive(
            Algorithm::Argon2id,
            Version::V0x13,
            &self.params,
            password.as_bytes(),
            &salt,
            out,
        )
        .map_err(|e| algorithm_error(&e))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| algorithm_error(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| algorithm_error(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(out).map_err(|e| algorithm_error(&e))?),
        };
        Ok(phc.to_string())
    }

    fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(phc) = PasswordHash::new(hash) else {
            return true;
        };
        if phc.algorithm != Algorithm::Argon2id.ident()
            || phc.version.unwrap_or(Version::default().into()) != u32::from(Version::V0x13)
        {
            return true;
        }
        let Ok(stored) = Params::try_from(&phc) else {
            return true;
        };
        let configured_len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        stored.m_cost() != self.params.m_cost()
            || stored.t_cost() != self.params.t_cost()
            || stored.p_cost() != self.params.p_cost()
            || stored.output_len() != Some(configured_len)
    }
}

/// Refuses parameters that would let one hash take too much memory or time.
fn check_limits(params: &Params) -> Result<(), String> {
    let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
    if params.m_cost() > MAX_M_COST || work > MAX_WORK {
        return Err(format!(
            "Argon2 costs too high (m={}, t={}): at most m={MAX_M_COST} and m*t={MAX_WORK}",
            params.m_cost(),
            params.t_cost()
        ));
    }
    Ok(())
}

/// Runs Argon2 into `out`, reusing this thread's working memory.
fn derive(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), String> {
    let count = params.block_count();
    // Take the buffer out of the slot, so that the slot is never borrowed while hashing.
    let mut blocks = BLOCKS.try_with(Cell::take).unwrap_or_default();
    if blocks.len() < count {
        blocks
            .try_reserve_exact(count - blocks.len())
            .map_err(|e| format!("cannot allocate Argon2 memory: {e}"))?;
        blocks.resize(count, Block::default());
    }
    let memory = blocks
        .get_mut(..count)
        .ok_or_else(|| "Argon2 memory too small".to_owned())?;
    let result = Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password, salt, out, memory)
        .map_err(|e| e.to_string());
    if blocks.len() <= MAX_RETAINED_BLOCKS {
        // Fails only while the thread is exiting; the buffer is then dropped.
        let _ = BLOCKS.try_with(|slot| slot.set(blocks));
    }
    result
}

/// Verifies `password` against an Argon2 PHC string (`$argon2id$`, `$argon2i$` or
/// `$argon2d$`). The output is compared in constant time.
pub(super) fn verify(password: &str, hash: &str) -> Result<bool, HashError> {
    let malformed = |e: &dyn std::fmt::Display| HashError::Malformed(format!("Argon2 hash: {e}"));
    let phc = PasswordHash::new(hash).map_err(|e| malformed(&e))?;
    let algorithm = Algorithm::try_from(phc.algorithm).map_err(|e| malformed(&e))?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).map_err(|e| malformed(&e))?,
        None => Version::default(),
    };
    let params = Params::try_from(&phc).map_err(|e| malformed(&e))?;
    check_limits(&params).map_err(|e| malformed(&e))?;
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return Err(malformed(&"missing salt or hash"));
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|e| malformed(&e))?;
    let mut buf = [0u8; Output::MAX_LENGTH];
    let out = buf
        .get_mut(..expected.len())
        .ok_or_else(|| malformed(&"output too long"))?;
    derive(algorithm, version, &params, password.as_bytes(), salt, out)
        .map_err(|e| malformed(&e))?;
    Ok(bool::from(out.ct_eq(expected.as_bytes())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ::argon2::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn small() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    #[test]
    fn default_params_are_the_crates() {
        let params = Argon2Hasher::default().params().clone();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19_456, 2, 1)
        );
    }

    #[test]
    fn default_hash_verifies_with_the_crate() {
        let hash = Argon2Hasher::default().hash("secret1234").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let phc = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default()
            .verify_password(b"secret1234", &phc)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"secret123", &phc)
            .is_err());
    }

    #[test]
    fn own_hashes_verify_with_the_crate() {
        for params in [
            small(),
            Params::new(96, 2, 3, Some(48)).unwrap(),
            Params::new(64, 1, 2, Some(16)).unwrap(),
        ] {
            let hash = Argon2Hasher::new(params).hash("pw").unwrap();
            let phc = PasswordHash::new(&hash).unwrap();
            assert!(Argon2::default().verify_password(b"pw", &phc).is_ok());
            assert!(Argon2::default().verify_password(b"pW", &phc).is_err());
            assert!(verify("pw", &hash).unwrap());
            assert!(!verify("pW", &hash).unwrap());
        }
    }

    #[test]
    fn crate_hashes_verify_here() {
        for (algorithm, version, params) in [
            (Algorithm::Argon2id, Version::V0x13, small()),
            (Algorithm::Argon2i, Version::V0x13, small()),
            (Algorithm::Argon2d, Version::V0x13, small()),
            (Algorithm::Argon2id, Version::V0x10, small()),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(80, 3, 2, Some(64)).unwrap(),
            ),
        ] {
            let salt = SaltString::generate(&mut OsRng);
            let hash = Argon2::new(algorithm, version, params)
                .hash_password(b"secret", &salt)
                .unwrap()
                .to_string();
            assert!(verify("secret", &hash).unwrap(), "{hash}");
            assert!(!verify("secreT", &hash).unwrap(), "{hash}");
        }
    }

    #[test]
    fn buffer_is_reused_across_sizes() {
        // A larger hash after a smaller one and back again, on the same thread.
        let big = Argon2Hasher::new(Params::new(512, 1, 1, None).unwrap());
        let little = Argon2Hasher::new(small());
        let h1 = little.hash("a").unwrap();
        let h2 = big.hash("b").unwrap();
        let h3 = little.hash("c").unwrap();
        assert!(verify("a", &h1).unwrap());
        assert!(verify("b", &h2).unwrap());
        assert!(verify("c", &h3).unwrap());
    }

    #[test]
    fn costly_params_are_refused() {
        let huge = "$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(verify("pw", huge), Err(HashError::Malformed(_))));
        let slow = "$argon2id$v=19$m=19456,t=100000,p=1$c29tZXNhbHQ$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(verify("pw", slow), Err(HashError::Malformed(_))));
        let hasher = Argon2Hasher::new(Params::new(MAX_M_COST + 8, 1, 1, None).unwrap());
        assert!(matches!(hasher.hash("pw"), Err(HashError::Algorithm(_))));
    }

    #[test]
    fn malformed_hashes_are_errors() {
        for hash in [
            "$argon2id$garbage",
            "$argon2id$v=19$m=64,t=1,p=1",
            "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ",
            "$argon2id$v=18$m=64,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$argon2x$v=19$m=64,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=64,t=1,p=1,x=3$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            // Salt shorter than Argon2's 8-byte minimum.
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$!!!!",
        ] {
            assert!(
                matches!(verify("pw", hash), Err(HashError::Malformed(_))),
                "{hash}"
            );
        }
    }

    #[test]
    fn rehash_when_params_differ() {
        let hash = Argon2Hasher::new(small()).hash("pw").unwrap();
        assert!(!Argon2Hasher::new(small()).needs_rehash(&hash));
        for other in [
            Params::new(128, 1, 1, None).unwrap(),
            Params::new(64, 2, 1, None).unwrap(),
            Params::new(64, 1, 2, None).unwrap(),
            Params::new(64, 1, 1, Some(64)).unwrap(),
        ] {
            assert!(Argon2Hasher::new(other).needs_rehash(&hash));
        }
    }

    #[test]
    fn rehash_when_not_argon2id_v19() {
        let hasher = Argon2Hasher::new(small());
        for (algorithm, version) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
        ] {
            let salt = SaltString::generate(&mut OsRng);
            let hash = Argon2::new(algorithm, version, small())
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
            assert!(hasher.needs_rehash(&hash), "{hash}");
        }
        let pbkdf2 = "$pbkdf2-sha512$1$AAAAAAAAAAAAAAAAAAAAAA==$QaBkAEFKm3GXMb9xoD51qtWxJuwn+P3Q\
                      hftDS8cYcQ4z7GLcOQXRofpbtMszkz8ND3oBiq8RuEB4+T7dnDUdXw==";
        assert!(hasher.needs_rehash(pbkdf2));
        assert!(hasher.needs_rehash(""));
    }
}

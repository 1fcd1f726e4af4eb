//! The key's format: `pow_<id>_<secret>`, recognisable by secret scanners and log filters.
//!
//! - `id`: 16 lowercase hex digits, random; the key's public name (lists, audit rows).
//! - `secret`: 40 lowercase hex digits: 32 random ones, then an 8-digit check, a keyed
//!   digest of the id and the random part under the setup's key ring. A key the setup never
//!   made fails the check (one in four billion passes it by chance) before anything is
//!   looked up, so a flood of made-up keys never reaches the database.
//!
//! The database keeps a keyed hash of the secret under the key ring
//! ([`MessageVerifier::token_digest`](pow_core::token::MessageVerifier::token_digest)): a
//! dump of the table opens nothing, and a rotated secret key base keeps every key working
//! (the check and the hash are verified under every key of the ring).

use hmac::{Hmac, Mac};
use pow_core::token::{generate_uuid, secure_compare};
use pow_core::PowConfig;
use sha2::Sha256;

/// What every key starts with.
pub const PREFIX: &str = "pow_";

/// Length of the id, in hex digits.
const ID_LEN: usize = 16;
/// Length of the random part of the secret, in hex digits.
const RANDOM_LEN: usize = 32;
/// Length of the check, in hex digits.
const CHECK_LEN: usize = 8;

/// The purpose of the stored hash.
const HASH_PURPOSE: &str = "pow api key";
/// The salt of the check's key.
const CHECK_SALT: &str = "pow api key check";

/// A key as a client presented it, well formed (not yet known to be the setup's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The id.
    pub id: &'a str,
    /// The secret (random part and check).
    pub secret: &'a str,
}

/// `value` read as a key: `None` unless it has the key's exact shape.
pub fn parse(value: &str) -> Option<Presented<'_>> {
    let rest = value.trim().strip_prefix(PREFIX)?;
    if rest.len() != ID_LEN + 1 + RANDOM_LEN + CHECK_LEN || rest.as_bytes()[ID_LEN] != b'_' {
        return None;
    }
    let (id, secret) = (rest.get(..ID_LEN)?, rest.get(ID_LEN + 1..)?);
    id.bytes()
        .chain(secret.bytes())
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        .then_some(Presented { id, secret })
}

/// Whether the check of `key` was made under a key of `config`'s ring.
pub fn checks(config: &PowConfig, key: &Presented<'_>) -> bool {
    let (random, check) = key.secret.split_at(RANDOM_LEN);
    config.verifier().ring().any(|verifier| {
        let check_now = check_with(verifier.mac(CHECK_SALT), key.id, random);
        secure_compare(check_now.as_bytes(), check.as_bytes())
    })
}

/// The check of `id` and `random` under `key`: the first 32 bits of their HMAC, in hex.
fn check_with(mut mac: Hmac<Sha256>, id: &str, random: &str) -> String {
    mac.update(id.as_bytes());
    mac.update(b":");
    mac.update(random.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .take(CHECK_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new key of `config`: its id, and the whole key to show once.
pub fn generate(config: &PowConfig) -> (String, String) {
    let hex = || generate_uuid().replace('-', "");
    let id: String = hex().chars().take(ID_LEN).collect();
    let random: String = hex().chars().take(RANDOM_LEN).collect();
    let check = check_with(config.verifier().mac(CHECK_SALT), &id, &random);
    let key = format!("{PREFIX}{id}_{random}{check}");
    (id, key)
}

/// The hash the database keeps of `secret`, under the current key.
pub fn hash(config: &PowConfig, secret: &str) -> String {
    config.verifier().token_digest(HASH_PURPOSE, secret)
}

/// Whether `stored` is the hash of `secret` under a key of the ring.
pub fn matches(config: &PowConfig, secret: &str, stored: &str) -> bool {
    config
        .verifier()
        .token_digests(HASH_PURPOSE, secret)
        .iter()
        .any(|digest| secure_compare(digest.as_bytes(), stored.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: &str) -> PowConfig {
        PowConfig::builder(secret.repeat(64)).build().unwrap()
    }

    #[test]
    fn a_new_key_parses_checks_and_matches_its_hash() {
        let config = config("k");
        let (id, key) = generate(&config);
        assert!(key.starts_with("pow_"), "{key}");
        assert_eq!(key.len(), 4 + 16 + 1 + 40);
        let presented = parse(&key).unwrap();
        assert_eq!(presented.id, id);
        assert!(checks(&config, &presented));
        let stored = hash(&config, presented.secret);
        assert!(matches(&config, presented.secret, &stored));
        assert!(!matches(&config, presented.secret, &hash(&config, "other")));
    }

    #[test]
    fn made_up_and_malformed_keys_are_told_apart_without_a_lookup() {
        let config = config("k");
        let (_, key) = generate(&config);
        // Another setup's key has the shape but not the check.
        let (_, foreign) = generate(&self::config("z"));
        assert!(!checks(&config, &parse(&foreign).unwrap()));
        // One changed digit of the secret fails the check.
        let mut tampered = key.clone().into_bytes();
        let last = tampered.len() - 10;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(!checks(&config, &parse(&tampered).unwrap()));
        for malformed in [
            "",
            "pow_",
            "pow_abc_def",
            &key.to_uppercase(),
            &key.replacen("pow_", "pk_", 1),
            &format!("{key}0"),
            &key.replacen('_', "-", 2),
        ] {
            assert!(parse(malformed).is_none(), "{malformed}");
        }
    }

    #[test]
    fn keys_keep_working_after_the_secret_key_base_rotates() {
        let old = config("k");
        let (_, key) = generate(&old);
        let stored = hash(&old, parse(&key).unwrap().secret);
        let rotated = PowConfig::builder("n".repeat(64))
            .retired_secret_key_base("old", "k".repeat(64))
            .build()
            .unwrap();
        let presented = parse(&key).unwrap();
        assert!(checks(&rotated, &presented));
        assert!(matches(&rotated, presented.secret, &stored));
    }
}

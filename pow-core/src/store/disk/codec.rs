//! How keys and values are laid out in the database file.
//!
//! A key is its namespace and segments, each as a 4-byte big-endian length and the bytes
//! (`store::segments`), so keys of one namespace (and of one key prefix) sort together. A value is its expiry
//! (8 bytes, ms since the epoch, `u64::MAX` for none) and the payload. The expiry index
//! key is the expiry followed by the entry key, so expired records sort first.

use super::DiskError;
use crate::store::segments::{self, encode_segments, push_part};
use crate::store::{Key, KeyPattern};

pub(super) fn namespace_prefix(namespace: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + namespace.len());
    push_part(&mut out, namespace);
    out
}

pub(super) fn encode_key(namespace: &str, key: &Key) -> Vec<u8> {
    let mut out = namespace_prefix(namespace);
    encode_segments(&mut out, key);
    out
}

/// Decodes the segments that follow a namespace prefix.
pub(super) fn decode_segments(bytes: &[u8]) -> Result<Key, DiskError> {
    segments::decode_segments(bytes).map_err(DiskError::Corrupt)
}

pub(super) fn encode_value(expiry: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&expiry.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Splits a stored value into its expiry and payload.
pub(super) fn decode_value(stored: &[u8]) -> Result<(u64, &[u8]), DiskError> {
    let (expiry, value) = stored
        .split_first_chunk::<8>()
        .ok_or(DiskError::Corrupt("truncated value"))?;
    Ok((u64::from_be_bytes(*expiry), value))
}

pub(super) fn expiry_index_key(expiry: u64, entry_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + entry_key.len());
    out.extend_from_slice(&expiry.to_be_bytes());
    out.extend_from_slice(entry_key);
    out
}

/// Leading exact segments of `pattern`, as a key prefix.
pub(super) fn pattern_prefix(namespace: &str, pattern: &[KeyPattern]) -> Vec<u8> {
    let mut out = namespace_prefix(namespace);
    segments::pattern_prefix(&mut out, pattern);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_keep_namespaces_apart() {
        let key = Key(vec!["a".into(), "".into(), "ü:%".into()]);
        let encoded = encode_key("ns", &key);
        let ns_len = namespace_prefix("ns").len();
        assert!(encoded.starts_with(&namespace_prefix("ns")));
        assert_eq!(decode_segments(&encoded[ns_len..]).ok(), Some(key));
        // "ab" + ["c"] and "a" + ["bc"] must not share an encoding or a prefix relation.
        let one = encode_key("ab", &Key::from("c"));
        let two = encode_key("a", &Key::from("bc"));
        assert_ne!(one, two);
        assert!(!one.starts_with(&namespace_prefix("a")));
    }

    #[test]
    fn pattern_prefix_stops_at_the_first_wildcard() {
        let pattern = [
            KeyPattern::exact("User"),
            KeyPattern::Any,
            KeyPattern::exact("x"),
        ];
        let prefix = pattern_prefix("ns", &pattern);
        assert_eq!(prefix, encode_key("ns", &Key::from(["User"])));
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        assert!(decode_value(&[1, 2, 3]).is_err());
        assert!(decode_segments(&[0, 0, 0, 9, b'a']).is_err());
    }
}

//! Keys as bytes for the backends that order them (the disk and SQL stores): each segment
//! is a 4-byte big-endian length and its UTF-8 bytes, so the encoding of a key's leading
//! segments is a byte prefix of the whole key, and the keys under one prefix sort together.

use super::{Key, KeyPattern};

/// Appends `part` as one length-prefixed segment.
pub(crate) fn push_part(out: &mut Vec<u8>, part: &str) {
    // Segments longer than 4 GiB cannot reach a cache store; saturating keeps this total.
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part.as_bytes());
}

/// The segments of `key`, each length-prefixed.
pub(crate) fn encode_segments(out: &mut Vec<u8>, key: &Key) {
    for segment in key.segments() {
        push_part(out, segment);
    }
}

/// The leading exact segments of `pattern`, encoded: every key that matches starts with it.
pub(crate) fn pattern_prefix(out: &mut Vec<u8>, pattern: &[KeyPattern]) {
    for part in pattern {
        match part {
            KeyPattern::Exact(segment) => push_part(out, segment),
            KeyPattern::Any => break,
        }
    }
}

/// Decodes a run of length-prefixed segments; the error says what is wrong with them.
pub(crate) fn decode_segments(mut bytes: &[u8]) -> Result<Key, &'static str> {
    let mut segments = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or("truncated key")?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| "key segment too long")?;
        if rest.len() < len {
            return Err("truncated key");
        }
        let (segment, rest) = rest.split_at(len);
        let segment = std::str::from_utf8(segment).map_err(|_| "key segment is not UTF-8")?;
        segments.push(segment.to_owned());
        bytes = rest;
    }
    Ok(Key(segments))
}

#[cfg(feature = "sql")]
/// The smallest byte string above every string that starts with `prefix`, or `None` when
/// there is none (an empty prefix, or one of `0xff` bytes only): the exclusive upper bound
/// of a range scan over the prefix.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|byte| *byte != u8::MAX)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let key = Key(vec!["a".into(), "".into(), "ü:%".into()]);
        let mut encoded = Vec::new();
        encode_segments(&mut encoded, &key);
        assert_eq!(decode_segments(&encoded), Ok(key));
    }

    #[test]
    fn corrupt_segments_are_errors_not_panics() {
        assert!(decode_segments(&[0, 0, 0, 9, b'a']).is_err());
        assert!(decode_segments(&[0, 0]).is_err());
        assert!(decode_segments(&[0, 0, 0, 1, 0xff]).is_err());
    }

    #[cfg(feature = "sql")]
    #[test]
    fn a_prefix_ends_below_the_next_prefix() {
        assert_eq!(prefix_end(&[1, 2, 3]), Some(vec![1, 2, 4]));
        assert_eq!(prefix_end(&[1, 0xff, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
        assert_eq!(prefix_end(&[]), None);
        // Every key under the prefix sorts below its end.
        let mut prefix = Vec::new();
        pattern_prefix(&mut prefix, &[KeyPattern::exact("User"), KeyPattern::Any]);
        let mut key = Vec::new();
        encode_segments(&mut key, &Key::from(["User", "\u{10ffff}"]));
        let end = prefix_end(&prefix).unwrap_or_default();
        assert!(key.starts_with(&prefix) && key < end);
    }
}

//! How keys, namespaces and indexes are named in Redis (see [`RedisStore`](super::RedisStore)).

use crate::store::Key;

/// Start of the name of a group: `<root>_g:<first segment>:<second segment>`.
pub(super) const GROUP_MARK: &str = "_g:";

/// Where the record of a key lives in Redis.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// A key of one segment (or none): a string key of its own.
    Plain(String),
    /// A key of two or more segments: a field of the hash named by its first two segments.
    Field {
        /// The hash (`<root>_g:<a>:<b>`).
        group: String,
        /// The other segments, encoded (`%` for none).
        field: String,
    },
}

impl Place {
    /// The Redis key: the string key, or the group's hash.
    pub(super) fn redis_key(&self) -> &str {
        match self {
            Self::Plain(name) => name,
            Self::Field { group, .. } => group,
        }
    }
}

/// Where `segments` (a key of namespace `root`) live.
pub(super) fn place<S: AsRef<str>>(root: &str, segments: &[S]) -> Place {
    if segments.len() < 2 {
        let mut name = String::with_capacity(root.len() + 24);
        name.push_str(root);
        encode_segments_into(segments, &mut name);
        return Place::Plain(name);
    }
    Place::Field {
        group: group_name(root, &segments[0], &segments[1]),
        field: field_name(&segments[2..]),
    }
}

/// The hash of the keys whose first two segments are `a` and `b`.
pub(super) fn group_name(root: &str, a: impl AsRef<str>, b: impl AsRef<str>) -> String {
    let (a, b) = (a.as_ref(), b.as_ref());
    // Escapes are rare: room for the plain encoding.
    let mut name = String::with_capacity(root.len() + GROUP_MARK.len() + a.len() + b.len() + 1);
    name.push_str(root);
    name.push_str(GROUP_MARK);
    encode_segments_into(&[a, b], &mut name);
    name
}

/// The field of the segments after the first two.
pub(super) fn field_name<S: AsRef<str>>(rest: &[S]) -> String {
    let plain: usize = rest.iter().map(|segment| segment.as_ref().len() + 1).sum();
    let mut field = String::with_capacity(plain.max(1));
    encode_segments_into(rest, &mut field);
    field
}

/// The first two segments of a group, from its name after the namespace root and
/// [`GROUP_MARK`].
pub(super) fn decode_group(encoded: &str) -> Option<[String; 2]> {
    let (a, b) = encoded.split_once(':')?;
    if b.contains(':') {
        return None;
    }
    Some([percent_decode(a)?, percent_decode(b)?])
}

/// A `SCAN MATCH` pattern matching the names that start with `prefix` literally.
pub(super) fn glob_prefix(prefix: &str) -> String {
    let mut glob = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            glob.push('\\');
        }
        glob.push(c);
    }
    glob.push('*');
    glob
}

pub(super) fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "%{:02X}", u32::from(c));
}

pub(super) fn encode_namespace(namespace: &str) -> String {
    if namespace.is_empty() {
        return "%".to_owned();
    }
    let mut out = String::with_capacity(namespace.len());
    for c in namespace.chars() {
        match c {
            '%' | '{' | '}' => push_escaped(&mut out, c),
            _ => out.push(c),
        }
    }
    out
}

/// Encodes a key's segments (the part after the namespace; see [`RedisStore`]).
#[cfg(test)]
pub(super) fn encode_key(key: &Key) -> String {
    encode_segments(key.segments())
}

/// [`encode_key`] for a list of segments.
#[cfg(test)]
pub(super) fn encode_segments(segments: &[String]) -> String {
    let mut out = String::new();
    encode_segments_into(segments, &mut out);
    out
}

/// Appends the encoding of `segments` (see [`encode_key`]) to `out`.
pub(super) fn encode_segments_into<S: AsRef<str>>(segments: &[S], out: &mut String) {
    if segments.is_empty() {
        out.push('%');
        return;
    }
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let mut rest = segment.as_ref();
        if i == 0 {
            if let Some(tail) = rest.strip_prefix('_') {
                push_escaped(out, '_');
                rest = tail;
            }
        }
        // Runs between the characters to escape are copied whole (both are ASCII, so
        // every byte index found is a character boundary).
        let mut start = 0;
        for (j, byte) in rest.bytes().enumerate() {
            if byte == b'%' || byte == b':' {
                out.push_str(&rest[start..j]);
                push_escaped(out, char::from(byte));
                start = j + 1;
            }
        }
        out.push_str(&rest[start..]);
    }
}

/// Decodes [`encode_key`]'s output; `None` if it is not a valid encoding.
pub(super) fn decode_key(encoded: &str) -> Option<Key> {
    if encoded == "%" {
        return Some(Key(Vec::new()));
    }
    encoded
        .split(':')
        .map(percent_decode)
        .collect::<Option<Vec<_>>>()
        .map(Key)
}

pub(super) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Key {
        Key(parts.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn keys_round_trip_through_the_encoding() {
        let cases = [
            key(&[]),
            key(&[""]),
            key(&["", ""]),
            key(&["%"]),
            key(&["a:b", "c"]),
            key(&["a", "b:c"]),
            key(&["__index"]),
            key(&["_x", "_y"]),
            key(&["%3A"]),
            key(&["{ns}", "ünïcødé", "😀"]),
        ];
        for case in cases {
            let encoded = encode_key(&case);
            assert_eq!(decode_key(&encoded), Some(case.clone()), "{encoded}");
        }
    }

    #[test]
    fn distinct_keys_encode_distinctly() {
        let keys = [
            key(&[]),
            key(&[""]),
            key(&["", ""]),
            key(&["a:b"]),
            key(&["a", "b"]),
            key(&["%"]),
            key(&["%25"]),
        ];
        let encoded: std::collections::HashSet<String> = keys.iter().map(encode_key).collect();
        assert_eq!(encoded.len(), keys.len());
    }

    #[test]
    fn no_key_collides_with_the_index() {
        assert_eq!(encode_key(&key(&["__index"])), "%5F_index");
        assert!(!encode_key(&key(&["_"])).starts_with('_'));
        assert_eq!(encode_key(&key(&["a", "_b"])), "a:_b");
    }

    #[test]
    fn namespaces_cannot_break_the_hash_tag() {
        assert_eq!(encode_namespace("credentials"), "credentials");
        assert_eq!(encode_namespace("a}b{c%"), "a%7Db%7Bc%25");
        assert_eq!(encode_namespace(""), "%");
        assert_ne!(encode_namespace("%"), encode_namespace(""));
    }

    #[test]
    fn invalid_encodings_are_rejected() {
        assert_eq!(decode_key("%4"), None);
        assert_eq!(decode_key("%zz"), None);
        assert_eq!(decode_key("%FF"), None);
    }

    #[test]
    fn keys_of_two_segments_or_more_are_fields_of_their_group() {
        let root = "p:{ns}:";
        assert_eq!(place(root, &["a"]), Place::Plain("p:{ns}:a".into()));
        assert_eq!(place::<&str>(root, &[]), Place::Plain("p:{ns}:%".into()));
        assert_eq!(
            place(root, &["user", "7"]),
            Place::Field {
                group: "p:{ns}:_g:user:7".into(),
                field: "%".into()
            }
        );
        assert_eq!(
            place(root, &["user", "7", "session", "s:1"]),
            Place::Field {
                group: "p:{ns}:_g:user:7".into(),
                field: "session:s%3A1".into()
            }
        );
        // Segments that a naive join would confuse land in distinct groups and fields.
        assert_ne!(
            place(root, &["a:b", "c"]).redis_key(),
            place(root, &["a", "b:c"]).redis_key()
        );
        assert_eq!(place(root, &["_x", "y"]).redis_key(), "p:{ns}:_g:%5Fx:y");
        assert_eq!(
            decode_group("user:7"),
            Some(["user".to_owned(), "7".to_owned()])
        );
        assert_eq!(
            decode_group("a%3Ab:c"),
            Some(["a:b".to_owned(), "c".to_owned()])
        );
        assert_eq!(decode_group("a:b:c"), None);
        assert_eq!(decode_key("session:s%3A1"), Some(key(&["session", "s:1"])));
    }

    #[test]
    fn no_plain_key_looks_like_a_group() {
        // A plain key has one segment, whose `:` and leading `_` are escaped.
        assert!(!encode_key(&key(&["_g:a:b"])).starts_with(GROUP_MARK));
        assert!(!encode_key(&key(&["x:y"])).contains(':'));
    }

    #[test]
    fn scan_patterns_match_the_prefix_literally() {
        assert_eq!(glob_prefix("p:{ns}:"), "p:{ns}:*");
        assert_eq!(glob_prefix("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
    }
}

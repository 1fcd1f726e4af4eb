//! How keys, namespaces and indexes are named in Redis (see [`RedisStore`](super::RedisStore)).

use crate::store::{Key, KeyPattern};

/// Name of the per-namespace index entry (see [`RedisStore`](super::RedisStore)).
pub(super) const INDEX_NAME: &str = "__index";
/// Start of the name of a parent index entry: `__index:<encoded parent>`.
const PARENT_INDEX_NAME: &str = "__index:";

/// The parent index of keys whose segments but the last are `parent`, under `root` (the
/// namespace root); `None` for an empty parent (keys of one segment have no parent index).
pub(super) fn parent_index_key(root: &str, parent: &[String]) -> Option<String> {
    (!parent.is_empty()).then(|| format!("{root}{PARENT_INDEX_NAME}{}", encode_segments(parent)))
}

/// The parent index `key` belongs to, if it has one.
pub(super) fn parent_index_of(root: &str, key: &Key) -> Option<String> {
    let segments = key.segments();
    parent_index_key(root, segments.get(..segments.len().saturating_sub(1))?)
}

pub(super) fn push_escaped(out: &mut String, c: char) {
    out.push_str(&format!("%{:02X}", u32::from(c)));
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
pub(super) fn encode_key(key: &Key) -> String {
    encode_segments(key.segments())
}

/// [`encode_key`] for a list of segments.
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
        for (j, c) in segment.as_ref().chars().enumerate() {
            match c {
                '%' | ':' => push_escaped(out, c),
                '_' if i == 0 && j == 0 => push_escaped(out, c),
                _ => out.push(c),
            }
        }
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

/// How [`Store::all`] finds the candidates for a pattern (see [`RedisStore`]).
pub(super) enum Lookup {
    /// Every segment is exact: the one key they name.
    Key(Key),
    /// Exact segments and a final wildcard: the parent index of the exact ones.
    Parent(String),
    /// Anything else: the namespace index.
    Namespace,
}

impl Lookup {
    pub(super) fn for_pattern(root: &str, pattern: &[KeyPattern]) -> Self {
        let mut exact = Vec::with_capacity(pattern.len());
        for (i, segment) in pattern.iter().enumerate() {
            match segment {
                KeyPattern::Exact(s) => exact.push(s.clone()),
                KeyPattern::Any if i + 1 == pattern.len() => {
                    return parent_index_key(root, &exact).map_or(Self::Namespace, Self::Parent)
                }
                KeyPattern::Any => return Self::Namespace,
            }
        }
        Self::Key(Key(exact))
    }
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
    fn parent_indexes_are_internal_names_per_parent() {
        let root = "p:{ns}:";
        assert_eq!(parent_index_of(root, &key(&[])), None);
        assert_eq!(parent_index_of(root, &key(&["a"])), None);
        assert_eq!(
            parent_index_of(root, &key(&["user", "7", "session", "s1"])).as_deref(),
            Some("p:{ns}:__index:user:7:session")
        );
        // Parents that a naive join would confuse get distinct indexes, none of them a value.
        assert_eq!(
            parent_index_of(root, &key(&["a:b", "c"])).as_deref(),
            Some("p:{ns}:__index:a%3Ab")
        );
        assert_eq!(
            parent_index_of(root, &key(&["a", "b", "c"])).as_deref(),
            Some("p:{ns}:__index:a:b")
        );
        assert_eq!(
            parent_index_of(root, &key(&["_x", "y"])).as_deref(),
            Some("p:{ns}:__index:%5Fx")
        );
    }

    #[test]
    fn patterns_pick_the_narrowest_lookup() {
        let root = "p:{ns}:";
        let exact = KeyPattern::exact;
        let lookup = |pattern: &[KeyPattern]| match Lookup::for_pattern(root, pattern) {
            Lookup::Key(key) => format!("key {key:?}"),
            Lookup::Parent(index) => format!("parent {index}"),
            Lookup::Namespace => "namespace".to_owned(),
        };
        assert_eq!(lookup(&[]), "key Key([])");
        assert_eq!(lookup(&[exact("a"), exact("b")]), r#"key Key(["a", "b"])"#);
        assert_eq!(
            lookup(&[exact("user"), exact("7"), exact("session"), KeyPattern::Any]),
            "parent p:{ns}:__index:user:7:session"
        );
        assert_eq!(lookup(&[KeyPattern::Any]), "namespace");
        assert_eq!(lookup(&[KeyPattern::Any, exact("b")]), "namespace");
        assert_eq!(
            lookup(&[
                exact("user"),
                KeyPattern::Any,
                exact("session"),
                KeyPattern::Any
            ]),
            "namespace"
        );
    }
}

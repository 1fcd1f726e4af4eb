//! Form parameters: `user[field]` values, `_method`, `_csrf_token` and the query.

use std::collections::BTreeMap;

use actix_web::web::Bytes;

use crate::users::Params;

/// Largest form body pow-rs reads (passwords are capped at 4096 bytes; this leaves room).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A parsed form: the `user[...]` params and the top-level fields.
#[derive(Clone, Debug, Default)]
pub struct FormData {
    /// Values of `user[<name>]` fields, by name.
    pub user: Params,
    /// Every other top-level field (`_method`, `_csrf_token`, ...).
    pub other: BTreeMap<String, String>,
}

impl FormData {
    /// Parses an `application/x-www-form-urlencoded` body. Malformed input yields what
    /// could be read; it never panics.
    pub fn parse(body: &[u8]) -> Self {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        Self::from_pairs(pairs)
    }

    /// Builds from decoded key/value pairs. Later duplicates win.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut form = FormData::default();
        for (key, value) in pairs {
            match key
                .strip_prefix("user[")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                Some(name) if !name.is_empty() && !name.contains(['[', ']']) => {
                    form.user.insert(name.to_owned(), value);
                }
                _ => {
                    form.other.insert(key, value);
                }
            }
        }
        form
    }

    /// The `_method` override, upper-cased (`PATCH`, `PUT`, `DELETE`).
    pub fn method_override(&self) -> Option<String> {
        self.other
            .get("_method")
            .map(|m| m.trim().to_ascii_uppercase())
    }

    /// The submitted CSRF token.
    pub fn csrf_token(&self) -> Option<&str> {
        self.other.get("_csrf_token").map(String::as_str)
    }
}

/// Reads a form body from raw bytes (used with actix's `Bytes` extractor).
pub fn form_from_bytes(body: &Bytes) -> FormData {
    FormData::parse(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::local_path;

    #[test]
    fn parses_user_params_and_others() {
        let form = FormData::parse(
            b"user%5Bemail%5D=a%40b.c&user[password]=x+y&_method=patch&_csrf_token=t&user[a][b]=z",
        );
        assert_eq!(form.user.get("email").map(String::as_str), Some("a@b.c"));
        assert_eq!(form.user.get("password").map(String::as_str), Some("x y"));
        assert!(!form.user.contains_key("a][b"));
        assert_eq!(form.method_override().as_deref(), Some("PATCH"));
        assert_eq!(form.csrf_token(), Some("t"));
    }

    #[test]
    fn garbage_is_empty_not_a_panic() {
        let form = FormData::parse(&[0xff, 0xfe, b'=', b'%']);
        assert!(form.user.is_empty());
    }

    #[test]
    fn local_paths_only() {
        assert_eq!(local_path("/a?b=c"), Some("/a?b=c"));
        for bad in [
            "//evil.com",
            "https://evil.com",
            "/\\evil.com",
            "evil",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
    }
}

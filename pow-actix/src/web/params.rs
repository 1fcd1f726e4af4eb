//! Form parameters: `user[field]` values, `_method`, `_csrf_token` and the query.

pub use pow_core::pages::{FormData, MAX_FORM_BYTES};

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

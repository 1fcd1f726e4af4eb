//! User id normalisation and email validation, with Pow's rules and reason strings.
//!
//! [`validate_email`] checks, in order:
//!
//! 1. The address is split at its **last** `@`. Without an `@` the whole string is the
//!    domain and the local part is empty.
//! 2. Lengths: a local part over 64 characters is `"local-part too long"`, a domain over
//!    255 characters is `"domain too long"`, an empty local part is `"invalid format"`.
//! 3. A local part that is one quoted string (`"…"`, no `"` inside) is accepted as is.
//! 4. Otherwise a comment `(…)` at the start or end of the local part is dropped, and so is
//!    a quoted section making up the whole part, a leading `"…".` or a trailing `."…"`.
//!    What is left may not hold `..` (`"consective dots in local-part"`, Pow's spelling),
//!    and must be letters, marks, digits `0-9` and ``!#$%&'*+-/=?^_`{|}~.``, neither
//!    starting nor ending with a dot (`"invalid characters in local-part"`).
//! 5. The domain, less a comment at its start or end, is split on dots. An all-digit last
//!    label is `"tld cannot be all-numeric"`. Each label must be non-empty
//!    (`"dns label is too short"`), at most 63 characters (`"dns label too long"`), not
//!    begin or end with `-` (`"dns label begins with hyphen"`,
//!    `"dns label ends with hyphen"`), and be letters, marks, digits `0-9` and `-`
//!    (`"invalid characters in dns label"`).
//!
//! Unlike Pow, and as RFC 5322 requires, a comma and a leading or trailing dot are refused
//! in an unquoted local part, and control characters are refused inside quoted strings and
//! comments.
//!
//! Lengths count Unicode scalar values (`char`s), where Pow counts graphemes: a part written
//! with combining marks can reach a limit sooner than in Pow, never later.

use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
use icu_properties::CodePointMapData;

/// Normalises a user id as Pow does before storing or looking it up: surrounding whitespace
/// trimmed, then lowercased.
///
/// ```
/// use pow_core::users::validation::normalize_user_id;
/// assert_eq!(normalize_user_id(" Test@EXAMPLE.com "), "test@example.com");
/// ```
pub fn normalize_user_id(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Validates an email address with Pow's rules (see the [module docs](self)); on failure
/// returns Pow's reason, e.g. `"invalid format"` or `"dns label too long"`.
///
/// ```
/// use pow_core::users::validation::validate_email;
/// assert_eq!(validate_email("john.smith(comment)@example.com"), Ok(()));
/// assert_eq!(validate_email("noatsign"), Err("invalid format"));
/// assert_eq!(validate_email("john..doe@example.com"), Err("consective dots in local-part"));
/// ```
pub fn validate_email(email: &str) -> Result<(), &'static str> {
    let (local, domain) = match email.rfind('@') {
        Some(at) => (&email[..at], &email[at + 1..]),
        None => ("", email),
    };
    if local.chars().count() > 64 {
        return Err("local-part too long");
    }
    if domain.chars().count() > 255 {
        return Err("domain too long");
    }
    if local.is_empty() {
        return Err("invalid format");
    }
    match quoted_only(local) {
        Some(inner) if inner.chars().any(char::is_control) => {
            return Err("invalid characters in local-part")
        }
        Some(_) => {}
        None => validate_local_part(local)?,
    }
    validate_domain(domain)
}

/// Validates an address for an account that will receive mail: Pow's rules
/// ([`validate_email`]), and the mailer's own address parser (lettre's), so that no
/// account is made for an address its mails cannot be sent to. Pow accepts a few forms the
/// parser does not: comments (`john(comment)@example.com`), escaped spaces in quoted local
/// parts and domains over 253 characters; those are refused here as `"invalid format"`.
///
/// ```
/// use pow_core::users::validation::validate_deliverable_email;
/// assert_eq!(validate_deliverable_email("\"john doe\"@example.com"), Ok(()));
/// assert_eq!(validate_deliverable_email("john(comment)@example.com"), Err("invalid format"));
/// ```
pub fn validate_deliverable_email(email: &str) -> Result<(), &'static str> {
    validate_email(email)?;
    email
        .parse::<lettre::Address>()
        .map(drop)
        .map_err(|_| "invalid format")
}

/// The text between the quotes if the whole local part is `"…"` with no `"` inside.
fn quoted_only(local: &str) -> Option<&str> {
    local
        .strip_prefix('"')?
        .strip_suffix('"')
        .filter(|inner| !inner.is_empty() && !inner.contains('"'))
}

fn validate_local_part(local: &str) -> Result<(), &'static str> {
    let rest = strip_quoted(strip_comments(local));
    if rest.contains("..") {
        return Err("consective dots in local-part");
    }
    if rest.is_empty()
        || rest.starts_with('.')
        || rest.ends_with('.')
        || !rest.chars().all(is_local_char)
    {
        return Err("invalid characters in local-part");
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), &'static str> {
    let domain = strip_comments(domain);
    let tld = domain.rsplit('.').next().unwrap_or_default();
    if !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err("tld cannot be all-numeric");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("dns label is too short");
        }
        if label.chars().count() > 63 {
            return Err("dns label too long");
        }
        if label.starts_with('-') {
            return Err("dns label begins with hyphen");
        }
        if label.ends_with('-') {
            return Err("dns label ends with hyphen");
        }
        if !label
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || is_letter_or_mark(c))
        {
            return Err("invalid characters in dns label");
        }
    }
    Ok(())
}

/// Drops a comment at the very start (`(` up to the last `)`) and one at the very end
/// (from the first `(` to a final `)`). Comments holding control characters are kept, so
/// they fail the character checks.
fn strip_comments(s: &str) -> &str {
    let mut s = s;
    if let Some(rest) = s.strip_prefix('(') {
        if let Some(end) = rest.rfind(')') {
            if !has_control(&rest[..end]) {
                s = &rest[end + 1..];
            }
        }
    }
    if let Some(rest) = s.strip_suffix(')') {
        if let Some(start) = rest.find('(') {
            if !has_control(&rest[start + 1..]) {
                s = &rest[..start];
            }
        }
    }
    s
}

/// Drops a quoted section that is the whole part, a leading `"…".` (up to the last `".`)
/// and a trailing `."…"` (from the first `."`).
fn strip_quoted(s: &str) -> &str {
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if !has_control(inner) {
            return "";
        }
    }
    let mut s = s;
    if let Some(rest) = s.strip_prefix('"') {
        if let Some(end) = rest.rfind("\".") {
            if !has_control(&rest[..end]) {
                s = &rest[end + 2..];
            }
        }
    }
    if let Some(start) = s.find(".\"") {
        if let Some(inner) = s[start + 2..].strip_suffix('"') {
            if !has_control(inner) {
                s = &s[..start];
            }
        }
    }
    s
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Characters allowed in an unquoted local part. Pow also lets a comma through (its
/// character class holds the range `+-/`); RFC 5322 does not, and neither does pow-rs.
fn is_local_char(c: char) -> bool {
    c.is_ascii_digit() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || is_letter_or_mark(c)
}

/// Unicode general category Letter (`\p{L}`) or Mark (`\p{M}`).
fn is_letter_or_mark(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    GeneralCategoryGroup::Letter.contains(category) || GeneralCategoryGroup::Mark.contains(category)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize_user_id("\t uSerName \n"), "username");
        assert_eq!(normalize_user_id("ÅSA@Example.COM"), "åsa@example.com");
    }

    #[test]
    fn comments_are_dropped_only_at_the_ends() {
        assert_eq!(strip_comments("(a)john"), "john");
        assert_eq!(strip_comments("john(a)"), "john");
        assert_eq!(strip_comments("(a)john(b)"), "");
        assert_eq!(strip_comments("jo(a)hn"), "jo(a)hn");
        assert_eq!(strip_comments("(a\nb)john"), "(a\nb)john");
    }

    #[test]
    fn quoted_sections_are_dropped() {
        assert_eq!(strip_quoted("\"a\"b\""), "");
        assert_eq!(strip_quoted("\"a\".b"), "b");
        assert_eq!(strip_quoted("\"a\".\"b\".c"), "c");
        assert_eq!(strip_quoted("a.\"b\""), "a");
        // Starts and ends with a quote: Pow drops it all, as one quoted section.
        assert_eq!(strip_quoted("\"a\".b.\"c\""), "");
        assert_eq!(strip_quoted("a.\"b\".c"), "a.\"b\".c");
        assert_eq!(strip_quoted("a\"b\"c"), "a\"b\"c");
    }

    #[test]
    fn rfc_deviations_from_pow() {
        let bad_chars = Err("invalid characters in local-part");
        assert_eq!(validate_email("a,b@example.com"), bad_chars);
        assert_eq!(validate_email(".john@example.com"), bad_chars);
        assert_eq!(validate_email("john.@example.com"), bad_chars);
        assert_eq!(validate_email("(c).john@example.com"), bad_chars);
        assert_eq!(validate_email("\"a\nb\"@example.com"), bad_chars);
        assert_eq!(validate_email("john(\u{0})@example.com"), bad_chars);
        assert_eq!(validate_email("\"a,b\"@example.com"), Ok(()));
        assert_eq!(validate_email("\"a\".b@example.com"), Ok(()));
    }

    #[test]
    fn unicode_letters_and_marks() {
        // Decomposed "é": a letter then a combining mark.
        assert_eq!(validate_email("pele\u{301}@example.com"), Ok(()));
        assert_eq!(validate_email("pelé@exa\u{301}mple.com"), Ok(()));
        // Digits other than 0-9, symbols and spaces are refused.
        assert_eq!(
            validate_email("\u{967}@example.com"),
            Err("invalid characters in local-part")
        );
        assert_eq!(
            validate_email("a☃@example.com"),
            Err("invalid characters in local-part")
        );
        assert_eq!(
            validate_email("a@exa mple.com"),
            Err("invalid characters in dns label")
        );
    }

    #[test]
    fn edge_cases() {
        assert_eq!(validate_email(""), Err("invalid format"));
        assert_eq!(validate_email("@example.com"), Err("invalid format"));
        assert_eq!(validate_email("a@"), Err("dns label is too short"));
        assert_eq!(validate_email("a@123"), Err("tld cannot be all-numeric"));
        assert_eq!(
            validate_email("\"\"@example.com"),
            Err("invalid characters in local-part")
        );
        assert_eq!(validate_email("a@(comment)"), Err("dns label is too short"));
        let local = "a".repeat(64);
        assert_eq!(validate_email(&format!("{local}@example.com")), Ok(()));
        assert_eq!(
            validate_email(&format!("{local}a@example.com")),
            Err("local-part too long")
        );
        let label = "x".repeat(63);
        assert_eq!(validate_email(&format!("a@{label}.com")), Ok(()));
    }
}

//! Screening of new passwords: common passwords, the user's own id, breached passwords.

use std::fmt;
use std::sync::Arc;

use sha1::{Digest, Sha1};

use super::PasswordPolicy;

/// Longest password checked against the common-password list (every listed password is
/// far shorter; the matcher's work grows with the length).
const COMMON_CHECK_MAX_CHARS: usize = 64;
/// Shortest user id (or part of one) a password may not contain.
const MIN_USER_ID_PART: usize = 4;

/// Why a new password is refused (the validation error key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Among the most common passwords.
    Common,
    /// Equal to or containing the user id.
    ContainsUserId,
    /// Found in a breach corpus.
    Breached,
}

impl Refusal {
    /// The validation error key (`error-<key>` in the messages).
    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::ContainsUserId => "contains_user_id",
            Self::Breached => "breached",
        }
    }
}

/// Whether `password` is among the `top` most common passwords: the whole of it is one
/// entry of zxcvbn's password list (any case, l33t or reversed spelling).
pub(crate) fn is_common(password: &str, top: usize) -> bool {
    if password.chars().count() > COMMON_CHECK_MAX_CHARS {
        return false;
    }
    let entropy = zxcvbn::zxcvbn(password, &[]);
    let length = password.chars().count();
    entropy.sequence().iter().any(|m| {
        m.i == 0
            && m.j + 1 == length
            && matches!(
                &m.pattern,
                zxcvbn::matching::patterns::MatchPattern::Dictionary(d)
                    // The password list is zxcvbn's default dictionary (its type is not exported).
                    if d.dictionary_name == Default::default() && d.rank <= top
            )
    })
}

/// Whether `password` equals or contains `user_id` (or, for an email address, the part
/// before `@`), ignoring case.
pub(crate) fn contains_user_id(password: &str, user_id: &str) -> bool {
    let password = password.to_lowercase();
    let user_id = user_id.trim().to_lowercase();
    let local = user_id.split('@').next().unwrap_or_default();
    [user_id.as_str(), local]
        .iter()
        .any(|part| part.chars().count() >= MIN_USER_ID_PART && password.contains(part))
}

/// The policy's verdict on a new password (before the breach check).
pub(crate) fn screen(
    policy: &PasswordPolicy,
    password: &str,
    user_ids: &[&str],
) -> Option<Refusal> {
    if policy.reject_user_id && user_ids.iter().any(|id| contains_user_id(password, id)) {
        return Some(Refusal::ContainsUserId);
    }
    if policy
        .common_passwords
        .is_some_and(|top| is_common(password, top))
    {
        return Some(Refusal::Common);
    }
    None
}

/// Looks up one range of the k-anonymity breach API: the lines (`SUFFIX:COUNT`) of every
/// breached SHA-1 hash starting with the 5 hex digits `prefix`. Runs on a blocking thread.
pub trait RangeFetcher: Send + Sync + 'static {
    /// The range's body, or why it could not be fetched.
    ///
    /// # Errors
    /// A description of the failure (timeout, refused connection, bad status).
    fn fetch(&self, prefix: &str) -> Result<String, String>;
}

/// Refuses new passwords found in a breach corpus, asking a range API that never sees the
/// password nor its full hash (the "k-anonymity" model: only the first 5 hex digits of the
/// SHA-1 leave the server, and padded answers hide which suffix was wanted).
///
/// When the API cannot be reached, the check lets the password through (fail-open, the
/// default, logged) or refuses it ([`fail_closed`](Self::fail_closed)).
///
/// ```
/// use pow_core::password::{BreachCheck, RangeFetcher};
///
/// /// A fixed corpus: "password" (SHA-1 5BAA6 1E4C9B93F3F0682250B6CF8331B7EE68FD8).
/// struct Fixed;
/// impl RangeFetcher for Fixed {
///     fn fetch(&self, prefix: &str) -> Result<String, String> {
///         Ok(if prefix == "5BAA6" { "1E4C9B93F3F0682250B6CF8331B7EE68FD8:3861493".into() } else { String::new() })
///     }
/// }
/// let check = BreachCheck::new(Fixed);
/// assert_eq!(check.is_breached("password"), Ok(true));
/// assert_eq!(check.is_breached("a long unusual passphrase"), Ok(false));
/// ```
#[derive(Clone)]
pub struct BreachCheck {
    fetcher: Arc<dyn RangeFetcher>,
    fail_open: bool,
}

impl fmt::Debug for BreachCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreachCheck")
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

impl BreachCheck {
    /// A check asking `fetcher`; fail-open.
    pub fn new(fetcher: impl RangeFetcher) -> Self {
        Self {
            fetcher: Arc::new(fetcher),
            fail_open: true,
        }
    }

    /// A check over HTTP against `base_url` (the range is appended: the public API is
    /// `https://api.pwnedpasswords.com/range/`, which needs the `breach-check-tls` feature;
    /// a self-hosted mirror may be plain `http://`), giving up after `timeout`.
    #[cfg(feature = "breach-check")]
    pub fn http(base_url: impl Into<String>, timeout: std::time::Duration) -> Self {
        Self::new(HttpRangeFetcher::new(base_url, timeout))
    }

    /// Refuses the password when the API cannot be reached.
    pub fn fail_closed(mut self) -> Self {
        self.fail_open = false;
        self
    }

    /// Whether an unreachable API lets passwords through.
    pub fn is_fail_open(&self) -> bool {
        self.fail_open
    }

    /// Whether `password` is in the corpus.
    ///
    /// # Errors
    /// The fetcher's failure.
    pub fn is_breached(&self, password: &str) -> Result<bool, String> {
        let digest: String = Sha1::digest(password.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let (prefix, suffix) = digest.split_at(5);
        let body = self.fetcher.fetch(prefix)?;
        Ok(body.lines().any(|line| {
            let mut parts = line.trim().split(':');
            let (Some(candidate), count) = (parts.next(), parts.next()) else {
                return false;
            };
            // Padding entries have a count of 0.
            candidate.eq_ignore_ascii_case(suffix)
                && count.and_then(|c| c.trim().parse::<u64>().ok()) != Some(0)
        }))
    }

    /// The verdict used by validation: breached, or the API failed and the check is
    /// fail-closed.
    pub(crate) fn refuses(&self, password: &str) -> bool {
        match self.is_breached(password) {
            Ok(breached) => breached,
            Err(err) => {
                tracing::warn!(error = %err, fail_open = self.fail_open, "breached-password check failed");
                !self.fail_open
            }
        }
    }
}

/// [`RangeFetcher`] over HTTP with ureq (feature `breach-check`): `GET <base><prefix>`
/// with `Add-Padding: true`.
#[cfg(feature = "breach-check")]
#[derive(Debug)]
pub struct HttpRangeFetcher {
    base_url: String,
    agent: ureq::Agent,
}

#[cfg(feature = "breach-check")]
impl HttpRangeFetcher {
    /// Fetches ranges from `base_url`, each request bounded by `timeout`.
    pub fn new(base_url: impl Into<String>, timeout: std::time::Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .build()
            .into();
        Self {
            base_url: base_url.into(),
            agent,
        }
    }
}

#[cfg(feature = "breach-check")]
impl RangeFetcher for HttpRangeFetcher {
    fn fetch(&self, prefix: &str) -> Result<String, String> {
        let url = format!("{}{prefix}", self.base_url);
        self.agent
            .get(&url)
            .header("Add-Padding", "true")
            .call()
            .map_err(|err| format!("{url}: {err}"))?
            .body_mut()
            .read_to_string()
            .map_err(|err| format!("{url}: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_passwords_in_any_spelling_are_refused() {
        for common in [
            "password",
            "Password",
            "p@ssw0rd",
            "drowssap",
            "iloveyou",
            "qwertyuiop",
        ] {
            assert!(is_common(common, 10_000), "{common}");
        }
        for fine in [
            "correct horse battery staple",
            "vq8#Lm2!xT",
            "pOw-rs tests 2026",
        ] {
            assert!(!is_common(fine, 10_000), "{fine}");
        }
        // Rank cut-off: "password" is near the top, so a tiny list still has it.
        assert!(is_common("password", 10));
    }

    #[test]
    fn passwords_containing_the_user_id_are_refused() {
        assert!(contains_user_id(
            "jane.doe@example.com",
            "Jane.Doe@example.com"
        ));
        assert!(contains_user_id(
            "my jane.doe secret",
            "jane.doe@example.com"
        ));
        assert!(!contains_user_id(
            "a secret of mine",
            "jane.doe@example.com"
        ));
        // Too short a part to matter.
        assert!(!contains_user_id("bob is here", "bob@example.com"));
    }
}

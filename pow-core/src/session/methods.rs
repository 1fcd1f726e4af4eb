//! How a session was authenticated, and step-up rules over it.
//!
//! A session records each [`AuthMethod`] it used and when ([`SessionMetadata::methods`]):
//! the methods of its sign-in (a password, then a TOTP code) and those of later steps
//! (a password confirmed for sudo mode, a TOTP code asked by a step-up rule). A
//! [`StepUp`] rule asks for "any of these methods within N minutes" (RFC 9470's
//! `acr`/`max_age` pair, Kratos' `required_aal`):
//!
//! ```
//! use std::time::Duration;
//! use pow_core::session::{AuthMethod, SessionMetadata, StepUp};
//!
//! # let config = pow_core::PowConfig::builder("s".repeat(64)).build().unwrap();
//! let rule = StepUp::second_factor(Duration::from_secs(600));
//! let mut metadata = SessionMetadata::new().with_method(AuthMethod::Password);
//! assert!(!rule.is_met(&metadata, &config));
//! metadata.record_method(AuthMethod::Totp);
//! assert!(rule.is_met(&metadata, &config));
//! ```
//!
//! [`SessionMetadata::methods`]: super::SessionMetadata::methods

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::metadata::SessionMetadata;
use crate::config::PowConfig;
use crate::time::{duration_ms, now_ms};

/// A way a user proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// The account's password.
    Password,
    /// A remember-me cookie restored the session.
    RememberMe,
    /// An emailed sign-in link or code (passwordless).
    MagicLink,
    /// A sign-in through an OAuth / OpenID Connect provider.
    #[serde(rename = "oauth")]
    OAuth,
    /// A code from an authenticator app.
    Totp,
    /// One of the account's recovery codes.
    RecoveryCode,
    /// A passkey or security key with user verification (PIN, biometrics): phishing
    /// resistant and multi-factor by itself.
    Passkey,
    /// A security key without user verification: phishing resistant, one factor.
    SecurityKey,
}

impl AuthMethod {
    /// Every method, in the order of their storage codes.
    pub const ALL: [Self; 8] = [
        Self::Password,
        Self::RememberMe,
        Self::MagicLink,
        Self::OAuth,
        Self::Totp,
        Self::RecoveryCode,
        Self::Passkey,
        Self::SecurityKey,
    ];

    /// The methods that count as a second factor: a TOTP code, a recovery code, a passkey
    /// or a security key.
    pub const SECOND_FACTORS: [Self; 4] = [
        Self::Totp,
        Self::RecoveryCode,
        Self::Passkey,
        Self::SecurityKey,
    ];

    /// Its name in JSON answers and audit rows (`"totp"`, `"recovery_code"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::RememberMe => "remember_me",
            Self::MagicLink => "magic_link",
            Self::OAuth => "oauth",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
            Self::SecurityKey => "security_key",
        }
    }

    /// The method named `name` ([`as_str`](Self::as_str)).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether it is a second factor ([`SECOND_FACTORS`](Self::SECOND_FACTORS)).
    pub fn is_second_factor(self) -> bool {
        Self::SECOND_FACTORS.contains(&self)
    }

    /// Its code in the stored session record (append only).
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Password => 0,
            Self::RememberMe => 1,
            Self::MagicLink => 2,
            Self::OAuth => 3,
            Self::Totp => 4,
            Self::RecoveryCode => 5,
            Self::Passkey => 6,
            Self::SecurityKey => 7,
        }
    }

    /// The method stored as `code`, if this release knows it.
    pub(crate) fn of_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One method a session used, and when it last did (ms since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodUse {
    /// The method.
    pub method: AuthMethod,
    /// When the session last proved it.
    pub at: i64,
}

impl MethodUse {
    /// `method`, used now.
    pub fn now(method: AuthMethod) -> Self {
        Self {
            method,
            at: now_ms(),
        }
    }
}

/// A step-up rule: the session must have proved one of `methods` within `within`.
///
/// Enforce one on a controller action with [`Action::step_up`](crate::web::Action::step_up)
/// or in a handler with [`is_met`](Self::is_met). A browser that does not meet it is sent
/// to a page that performs one of the accepted methods and returns; JSON answers `403`
/// with the code `step_up_required` and the accepted methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepUp {
    methods: Vec<AuthMethod>,
    /// `None`: the setup's [`sudo_window`](crate::SessionConfig::sudo_window).
    within: Option<Duration>,
}

impl StepUp {
    /// Any of `methods` within `within` of now.
    pub fn any_of(methods: impl IntoIterator<Item = AuthMethod>, within: Duration) -> Self {
        Self {
            methods: methods.into_iter().collect(),
            within: Some(within),
        }
    }

    /// A second factor ([`AuthMethod::SECOND_FACTORS`]) within `within` of now.
    pub fn second_factor(within: Duration) -> Self {
        Self::any_of(AuthMethod::SECOND_FACTORS, within)
    }

    /// A second factor within the setup's
    /// [`sudo_window`](crate::SessionConfig::sudo_window) (10 minutes by default): what
    /// changing a second factor or a passkey asks by default.
    pub fn recent_second_factor() -> Self {
        Self {
            methods: AuthMethod::SECOND_FACTORS.to_vec(),
            within: None,
        }
    }

    /// The methods it accepts.
    pub fn methods(&self) -> &[AuthMethod] {
        &self.methods
    }

    /// How recent the method must be under `config`.
    pub fn within(&self, config: &PowConfig) -> Duration {
        self.within.unwrap_or(config.session().sudo_window)
    }

    /// Whether a session with `metadata` meets it under `config` (never an impersonation
    /// session).
    pub fn is_met(&self, metadata: &SessionMetadata, config: &PowConfig) -> bool {
        let window = duration_ms(self.within(config));
        let now = now_ms();
        !metadata.is_impersonation()
            && metadata.methods.iter().any(|used| {
                self.methods.contains(&used.method) && now.saturating_sub(used.at) <= window
            })
    }
}

impl SessionMetadata {
    /// Records that the session proved `method` now (replacing an older use of it).
    pub fn record_method(&mut self, method: AuthMethod) {
        self.record_method_at(method, now_ms());
    }

    /// Records that the session proved `method` at `at` (ms since the Unix epoch).
    pub fn record_method_at(&mut self, method: AuthMethod, at: i64) {
        match self.methods.iter_mut().find(|used| used.method == method) {
            Some(used) => used.at = used.at.max(at),
            None => self.methods.push(MethodUse { method, at }),
        }
    }

    /// This metadata with `method` recorded now.
    #[must_use]
    pub fn with_method(mut self, method: AuthMethod) -> Self {
        self.record_method(method);
        self
    }

    /// This metadata with each of `methods` recorded at its time.
    #[must_use]
    pub fn with_methods(mut self, methods: impl IntoIterator<Item = MethodUse>) -> Self {
        for used in methods {
            self.record_method_at(used.method, used.at);
        }
        self
    }

    /// When the session last proved `method`, if it did.
    pub fn method_used_at(&self, method: AuthMethod) -> Option<i64> {
        self.methods
            .iter()
            .find(|used| used.method == method)
            .map(|used| used.at)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for method in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(method.as_str()), Some(method));
            assert_eq!(AuthMethod::of_code(method.code()), Some(method));
            assert_eq!(
                serde_json::to_value(method).ok(),
                Some(serde_json::json!(method.as_str()))
            );
        }
        assert_eq!(AuthMethod::parse("sms"), None);
        assert_eq!(AuthMethod::of_code(200), None);
    }

    #[test]
    fn a_rule_wants_an_accepted_method_recent_enough() {
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let rule = StepUp::any_of([AuthMethod::Totp], Duration::from_secs(60));
        let mut metadata = SessionMetadata::new().with_method(AuthMethod::Password);
        assert!(!rule.is_met(&metadata, &config));
        metadata.record_method_at(AuthMethod::Totp, now_ms() - 61_000);
        assert!(!rule.is_met(&metadata, &config), "too old");
        metadata.record_method(AuthMethod::Totp);
        assert!(rule.is_met(&metadata, &config));
        assert_eq!(metadata.methods.len(), 2, "one entry per method");
        // An older use recorded later never moves the time back.
        metadata.record_method_at(AuthMethod::Totp, 0);
        assert!(rule.is_met(&metadata, &config));
    }
}

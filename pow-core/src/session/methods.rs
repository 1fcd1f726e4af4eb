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
//! let mut metadata = SessionMetadata::new().with_method(AuthMethod::PASSWORD);
//! assert!(!rule.is_met(&metadata, &config));
//! metadata.record_method(AuthMethod::TOTP);
//! assert!(rule.is_met(&metadata, &config));
//! ```
//!
//! [`SessionMetadata::methods`]: super::SessionMetadata::methods
//! [`StepUp`]: super::StepUp

use std::fmt;

use serde::{Deserialize, Serialize};

use super::metadata::SessionMetadata;
use crate::time::now_ms;

/// A way a user proved who they are: a registered name with a stable stored code.
///
/// The core's methods are the constants below (codes 0 to 7). An extension that adds a way
/// in or a second factor declares its own method with [`AuthMethod::new`] (a code from
/// [`AuthMethod::EXTENSION_CODES`]) and registers it with
/// [`ExtensionBuilder::auth_methods`](crate::extension::ExtensionBuilder::auth_methods);
/// sessions record it, step-up rules accept it and the session list shows it like the
/// core's own:
///
/// ```
/// use pow_core::session::AuthMethod;
///
/// const SMS: AuthMethod = AuthMethod::new("sms", 64).second_factor();
/// assert!(SMS.is_second_factor());
/// assert_eq!(AuthMethod::parse("totp"), Some(AuthMethod::TOTP));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthMethod {
    name: &'static str,
    code: u8,
    second_factor: bool,
}

impl AuthMethod {
    /// The account's password.
    pub const PASSWORD: Self = Self::new("password", 0);
    /// A remember-me cookie restored the session.
    pub const REMEMBER_ME: Self = Self::new("remember_me", 1);
    /// An emailed sign-in link or code (passwordless).
    pub const MAGIC_LINK: Self = Self::new("magic_link", 2);
    /// A sign-in through an OAuth / OpenID Connect provider.
    pub const OAUTH: Self = Self::new("oauth", 3);
    /// A code from an authenticator app.
    pub const TOTP: Self = Self::new("totp", 4).second_factor();
    /// One of the account's recovery codes.
    pub const RECOVERY_CODE: Self = Self::new("recovery_code", 5).second_factor();
    /// A passkey or security key with user verification (PIN, biometrics): phishing
    /// resistant and multi-factor by itself.
    pub const PASSKEY: Self = Self::new("passkey", 6).second_factor();
    /// A security key without user verification: phishing resistant, one factor.
    pub const SECURITY_KEY: Self = Self::new("security_key", 7).second_factor();

    /// The core's methods, in the order of their storage codes.
    pub const ALL: [Self; 8] = [
        Self::PASSWORD,
        Self::REMEMBER_ME,
        Self::MAGIC_LINK,
        Self::OAUTH,
        Self::TOTP,
        Self::RECOVERY_CODE,
        Self::PASSKEY,
        Self::SECURITY_KEY,
    ];

    /// The core's methods that count as a second factor: a TOTP code, a recovery code, a
    /// passkey or a security key. A setup's own list, with its extensions' second factors,
    /// is `Extensions::second_factor_methods`.
    pub const SECOND_FACTORS: [Self; 4] = [
        Self::TOTP,
        Self::RECOVERY_CODE,
        Self::PASSKEY,
        Self::SECURITY_KEY,
    ];

    /// The stored codes an extension's methods take theirs from (the codes below are the
    /// core's). A code is stored in session records: once used, it never changes meaning.
    pub const EXTENSION_CODES: std::ops::RangeInclusive<u8> = 64..=u8::MAX;

    /// A method named `name` (lowercase letters, digits and `_`; its name in JSON answers,
    /// audit rows and step-up refusals) stored as `code`. Register it with
    /// [`ExtensionBuilder::auth_methods`](crate::extension::ExtensionBuilder::auth_methods):
    /// the config refuses a code outside [`EXTENSION_CODES`](Self::EXTENSION_CODES), and a
    /// name or code another method has.
    pub const fn new(name: &'static str, code: u8) -> Self {
        Self {
            name,
            code,
            second_factor: false,
        }
    }

    /// This method, counted as a second factor: step-up rules asking for a recent second
    /// factor ([`StepUp::second_factor`](super::StepUp::second_factor)) accept it, and a
    /// sign-in's second step is one.
    #[must_use]
    pub const fn second_factor(self) -> Self {
        Self {
            second_factor: true,
            ..self
        }
    }

    /// Its name in JSON answers and audit rows (`"totp"`, `"recovery_code"`, …).
    pub fn as_str(self) -> &'static str {
        self.name
    }

    /// The method named `name` ([`as_str`](Self::as_str)): one of the core's, or one an
    /// extension registered.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name == name)
            .or_else(|| registered().into_iter().find(|m| m.name == name))
    }

    /// Whether it counts as a second factor (see [`second_factor`](Self::second_factor)).
    pub fn is_second_factor(self) -> bool {
        self.second_factor
    }

    /// Its code in the stored session record.
    pub fn code(self) -> u8 {
        self.code
    }

    /// The method stored as `code`, if this process knows it (the core's, or one an
    /// extension registered).
    pub(crate) fn of_code(code: u8) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.code == code)
            .or_else(|| registered().into_iter().find(|m| m.code == code))
    }

    /// Checks `method` as an extension's and makes it known to [`parse`](Self::parse) and
    /// stored records: refused for a code of the core's, a name that is not lowercase
    /// letters, digits and `_`, and a name or code another method has.
    pub(crate) fn register(method: Self) -> Result<(), String> {
        if !Self::EXTENSION_CODES.contains(&method.code) {
            return Err(format!(
                "the authentication method `{}` has the code {}: an extension's codes are 64 to 255",
                method.name, method.code
            ));
        }
        let well_formed = !method.name.is_empty()
            && method
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !well_formed {
            return Err(format!(
                "the authentication method name `{}` is not lowercase letters, digits and `_`",
                method.name
            ));
        }
        let mut known = REGISTERED
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let clash = Self::ALL
            .iter()
            .chain(known.iter())
            .find(|m| (m.name == method.name || m.code == method.code) && **m != method);
        if let Some(other) = clash {
            return Err(format!(
                "the authentication method `{}` (code {}) clashes with `{}` (code {})",
                method.name, method.code, other.name, other.code
            ));
        }
        if !known.contains(&method) {
            known.push(method);
        }
        Ok(())
    }
}

/// The methods extensions registered in this process (see [`AuthMethod::register`]): a
/// stored code or a name decodes the same whichever config reads it.
static REGISTERED: std::sync::RwLock<Vec<AuthMethod>> = std::sync::RwLock::new(Vec::new());

fn registered() -> Vec<AuthMethod> {
    REGISTERED
        .read()
        .map(|known| known.clone())
        .unwrap_or_default()
}

impl fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthMethod({})", self.name)
    }
}

impl PartialOrd for AuthMethod {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AuthMethod {
    /// By stored code.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.code.cmp(&other.code)
    }
}

impl Serialize for AuthMethod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name)
    }
}

impl<'de> Deserialize<'de> for AuthMethod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown authentication method `{name}`"))
        })
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

/// Reads a stored list of method uses, leaving out any method this process does not know
/// (one an extension no longer registers): what is left still decodes.
pub(crate) fn known_uses<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<MethodUse>, D::Error> {
    #[derive(Deserialize)]
    struct Stored<'a> {
        #[serde(borrow)]
        method: std::borrow::Cow<'a, str>,
        at: i64,
    }
    let stored = Vec::<Stored<'de>>::deserialize(deserializer)?;
    Ok(stored
        .into_iter()
        .filter_map(|used| {
            Some(MethodUse {
                method: AuthMethod::parse(&used.method)?,
                at: used.at,
            })
        })
        .collect())
}

impl SessionMetadata {
    /// Records that the session proved `method` now (replacing an older use of it).
    pub fn record_method(&mut self, method: AuthMethod) {
        self.record_method_at(method, now_ms());
    }

    /// Records that the session proved `method` at `at` (ms since the Unix epoch).
    pub(crate) fn record_method_at(&mut self, method: AuthMethod, at: i64) {
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

    use std::time::Duration;

    use super::super::StepUp;
    use super::*;
    use crate::config::PowConfig;

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
        assert_eq!(AuthMethod::parse("no_such_method"), None);
        assert_eq!(AuthMethod::of_code(199), None);
    }

    #[test]
    fn a_rule_wants_an_accepted_method_recent_enough() {
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let rule = StepUp::any_of([AuthMethod::TOTP], Duration::from_secs(60));
        let mut metadata = SessionMetadata::new().with_method(AuthMethod::PASSWORD);
        assert!(!rule.is_met(&metadata, &config));
        metadata.record_method_at(AuthMethod::TOTP, now_ms() - 61_000);
        assert!(!rule.is_met(&metadata, &config), "too old");
        metadata.record_method(AuthMethod::TOTP);
        assert!(rule.is_met(&metadata, &config));
        assert_eq!(metadata.methods.len(), 2, "one entry per method");
        // An older use recorded later never moves the time back.
        metadata.record_method_at(AuthMethod::TOTP, 0);
        assert!(rule.is_met(&metadata, &config));
    }

    #[test]
    fn an_extensions_method_is_recorded_and_read_back() {
        const CARD: AuthMethod = AuthMethod::new("smart_card", 210).second_factor();
        AuthMethod::register(CARD).unwrap();
        assert_eq!(AuthMethod::parse("smart_card"), Some(CARD));
        assert_eq!(AuthMethod::of_code(210), Some(CARD));
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let proved = SessionMetadata::new().with_method(CARD);
        assert!(StepUp::recent_second_factor().is_met(&proved, &config));
        let totp_only = StepUp::any_of([AuthMethod::TOTP], Duration::from_secs(60));
        assert!(!totp_only.is_met(&proved, &config));

        // Stored and read back, as a session record and as JSON (an API token's record).
        let stored = super::super::records::StoredSession::live(&proved);
        assert_eq!(stored.metadata().methods, proved.methods);
        let json = serde_json::to_string(&proved.methods).unwrap();
        assert!(json.contains("\"smart_card\""), "{json}");
        let back: Vec<MethodUse> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, proved.methods);
        // A method nobody registers any more is left out; the rest still decodes.
        let mut de = serde_json::Deserializer::from_str(
            r#"[{"method":"carrier_pigeon","at":1},{"method":"totp","at":2}]"#,
        );
        let known = known_uses(&mut de).unwrap();
        assert_eq!(
            known,
            vec![MethodUse {
                method: AuthMethod::TOTP,
                at: 2
            }]
        );

        // Codes and names are unique, and the core's codes are its own.
        let refused = |method| AuthMethod::register(method).unwrap_err();
        assert!(refused(AuthMethod::new("pager", 210)).contains("clashes with `smart_card`"));
        assert!(refused(AuthMethod::new("smart_card", 211)).contains("clashes"));
        assert!(refused(AuthMethod::new("pager", 4)).contains("64 to 255"));
        assert!(refused(AuthMethod::new("Pager!", 212)).contains("lowercase"));
        assert!(AuthMethod::register(CARD).is_ok(), "the same method again");
    }
}

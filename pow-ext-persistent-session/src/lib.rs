//! # pow-ext-persistent-session
//!
//! "Keep me signed in" for pow-rs (Pow's `PowPersistentSession`): a long-lived, signed
//! remember-me cookie that signs the user in again once the browser session is gone.
//!
//! **Guide**: [remember me](https://github.com/pow-rs/pow-rs/blob/main/guides/persistent-session.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! ## What it does
//!
//! - The sign-in page gets a **"Keep me signed in"** checkbox (`user[persistent_session]`,
//!   unticked unless [`ticked_by_default`](PersistentSession::ticked_by_default) is set;
//!   an unticked box posts `false`). A successful sign-in with the box ticked (or from a
//!   form without the field, as Pow does) stores a random token for the user and sets it, signed, in the `persistent_session`
//!   cookie (`<name>_persistent_session` for a named setup): `HttpOnly`, `SameSite=Lax`,
//!   path `/`, `Secure` when [`SessionConfig::cookie_secure`](pow_core::SessionConfig) is
//!   on, `Max-Age` = the token lifetime.
//! - On a request **without a signed-in user** that carries the cookie, the signature is
//!   checked first (a forged cookie never reaches the store), then the token is used:
//!   the user is re-read from the users context, signed in with a new session that keeps
//!   the fingerprint of the sign-in that created the token, and the cookie is replaced by
//!   a fresh token with a fresh lifetime. **Each token works exactly once.**
//! - Requests racing that rotation with the same cookie (a browser loading several pages
//!   at once) are served as the user for a short **grace period**, without a new token.
//! - A token presented again **after** the grace period means it was copied: every
//!   remember-me token of the user is revoked, the sessions restored from that token's
//!   chain are signed out, and nobody is signed in.
//! - Signing out deletes the token and expires the cookie; unticking the box sets no
//!   cookie (and drops an old one). A deleted user signs nobody in.
//! - When a user's credentials are revoked (password change or reset, "sign out
//!   everywhere", account deletion) all their tokens are deleted. The browser that
//!   changed its password through the account page keeps being remembered with a new
//!   token.
//!
//! Tokens live in the configured cache store (any [`Store`](pow_core::store::Store)
//! backend), namespace `persistent_session` (`<name>_persistent_session`). The extension
//! adds no routes and no database columns.
//!
//! ## Enabling it
//!
//! ```
//! use std::time::Duration;
//! use pow_actix::PowConfig;
//! use pow_ext_persistent_session::PersistentSession;
//!
//! let config = PowConfig::builder("s".repeat(64))
//!     .extension(PersistentSession::new().ttl(Duration::from_secs(14 * 24 * 3600)))
//!     .build()?;
//! assert!(config.extensions().contains("pow_persistent_session"));
//! # Ok::<_, pow_actix::PowError>(())
//! ```
//!
//! The app must be wrapped in [`PowMiddleware`](pow_actix::PowMiddleware), which runs this
//! extension's request hook and sets the cookies it queues (on every response, error
//! pages included).
//!
//! ## Settings
//!
//! | setter | default |
//! |---|---|
//! | [`ttl`](PersistentSession::ttl) | 30 days: store lifetime of a token and the cookie's `Max-Age` |
//! | [`cookie_name`](PersistentSession::cookie_name) | `config.namespaced("persistent_session")`, with the `__Host-` prefix when the base URL is https |
//! | [`max_age`](PersistentSession::max_age) | 90 days from the password sign-in |
//! | [`grace_period`](PersistentSession::grace_period) | 10 seconds |
//! | [`ticked_by_default`](PersistentSession::ticked_by_default) | `false`: the box starts unticked |
//!
//! ## Messages
//!
//! One text, `pow_persistent_session_label` (English "Keep me signed in", German and
//! French included), overridable with
//! [`PowConfigBuilder::messages_ftl`](pow_core::PowConfigBuilder::messages_ftl).
//!
//! ## Ordering
//!
//! Callbacks run in extension order and the first halt wins. Email confirmation must come
//! **before** this extension, so that a sign-in it stops (unconfirmed email) never gets a
//! remember-me cookie; it declares that requirement, so a setup listing them the other way
//! round fails at `build()`.

use std::time::Duration;

use async_trait::async_trait;
use pow_core::messages::LanguageIdentifier;
use pow_core::views::{Field, FieldType, PageBody};
use pow_core::{Extension, PowConfig, PowError, User};

mod extension;
mod flows;

/// Audit events of the extension.
pub mod events {
    use pow_core::audit::EventName;

    /// A remember-me cookie signed a user in.
    pub const USED: EventName = EventName::new("remember_me.used");
    /// A used remember-me token came back: its family was revoked.
    pub const THEFT: EventName = EventName::new("remember_me.theft_detected");
}
mod families;
mod store;

use store::{duration_ms, TokenRecord, Tokens};

/// Salt signing the remember-me cookie (Pow's module name, for token compatibility).
pub const TOKEN_SALT: &str = "Elixir.PowPersistentSession.Plug.Cookie";

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_persistent_session";

/// Name of the sign-in form field.
const FIELD: &str = "persistent_session";

/// The persistent-session ("remember me") extension. See the [crate docs](crate).
#[derive(Clone, Debug)]
pub struct PersistentSession {
    ttl: Duration,
    cookie_name: Option<String>,
    grace_period: Duration,
    max_age: Option<Duration>,
    ticked: bool,
}

impl Default for PersistentSession {
    fn default() -> Self {
        Self::new()
    }
}

impl PersistentSession {
    /// The extension with its defaults.
    pub fn new() -> Self {
        Self {
            ttl: Duration::from_secs(30 * 24 * 3600),
            cookie_name: None,
            grace_period: Duration::from_secs(10),
            max_age: Some(Duration::from_secs(90 * 24 * 3600)),
            ticked: false,
        }
    }

    /// Whether the sign-in page shows "Keep me signed in" already ticked. The default value
    /// is `false`: on a shared computer, the next person at the keyboard should not find
    /// the previous one remembered because nobody unticked a box. Pre-tick it for apps
    /// used on personal devices.
    pub fn ticked_by_default(mut self, ticked: bool) -> Self {
        self.ticked = ticked;
        self
    }

    /// How long a family of tokens may sign a browser in, counted from the password
    /// sign-in that started it: each use issues a new token, but never past this, so
    /// "remember me" cannot get around the absolute session lifetime forever. `None` has
    /// no cap. The default value is 90 days.
    pub fn max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// Whether `record`'s family is within [`max_age`](Self::max_age) at `now`.
    fn within_max_age(&self, record: &TokenRecord, now: i64) -> bool {
        let Some(max_age) = self.max_age else {
            return true;
        };
        let started = if record.family_started_at > 0 {
            record.family_started_at
        } else {
            record.issued_at
        };
        now.saturating_sub(started) < duration_ms(max_age)
    }

    /// How long a token lives, in the store and as the cookie's `Max-Age`. Each use
    /// issues a new token with a fresh lifetime. The default value is 30 days.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The cookie's name. The default value is `"persistent_session"`, prefixed with the
    /// setup's name (`"admin_persistent_session"`) for a named setup.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// How long after a token was used a request presenting it again is taken for a
    /// parallel request of the same browser (served as the user, without a new token)
    /// rather than for a replay of a copied cookie. The default value is 10 seconds.
    ///
    /// # Warning
    /// During this window a copied cookie works too; keep it short. `Duration::ZERO`
    /// treats every second use as theft, which signs users out whose browser sends
    /// parallel requests.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// The cookie name used under `config`.
    pub fn cookie_name_for(&self, config: &PowConfig) -> String {
        self.cookie_name
            .clone()
            .unwrap_or_else(|| config.cookie_name(&config.namespaced("persistent_session")))
    }

    fn tokens(&self, config: &PowConfig) -> Tokens {
        Tokens::new(config, self.ttl)
    }

    /// Deletes every remember-me token of the user and returns how many were still
    /// unused.
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn revoke_user_tokens(
        &self,
        config: &PowConfig,
        user_id: i64,
    ) -> Result<usize, PowError> {
        Ok(self.tokens(config).delete_user(user_id).await?)
    }

    /// How many unused remember-me tokens the user has (about one per remembered browser).
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn count_tokens(&self, config: &PowConfig, user_id: i64) -> Result<usize, PowError> {
        Ok(self.tokens(config).unused(user_id).await?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_pow() {
        let ext = PersistentSession::new();
        assert_eq!(ext.ttl, Duration::from_secs(2_592_000));
        assert_eq!(ext.grace_period, Duration::from_secs(10));
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        assert_eq!(ext.cookie_name_for(&config), "persistent_session");
        let named = PowConfig::builder("s".repeat(64))
            .name("admin")
            .build()
            .unwrap();
        assert_eq!(ext.cookie_name_for(&named), "admin_persistent_session");
        let custom = PersistentSession::new().cookie_name("remember_me");
        assert_eq!(custom.cookie_name_for(&named), "remember_me");
    }

    /// The sign-in page's fields once `ext`'s page extensions ran (twice) in `lang`.
    fn sign_in_fields(ext: PersistentSession, lang: &str) -> Vec<pow_core::views::Field> {
        let config = PowConfig::builder("s".repeat(64))
            .extension(ext)
            .build()
            .unwrap();
        let mut body = PageBody::Form {
            form: pow_core::views::Form::new("/session", "Sign in", "t"),
            links: Vec::new(),
            extra_forms: Vec::new(),
        };
        let lang: LanguageIdentifier = lang.parse().unwrap();
        // Twice: the checkbox is added once.
        for _ in 0..2 {
            for extend in config.extensions().page_extensions() {
                extend(
                    pow_core::views::PageId::SESSION_NEW,
                    &mut body,
                    &lang,
                    &config,
                );
            }
        }
        let PageBody::Form { form, .. } = body else {
            unreachable!()
        };
        form.fields
    }

    #[test]
    fn the_sign_in_page_gets_an_unticked_checkbox_in_each_language() {
        for (lang, label) in [
            ("en", "Keep me signed in"),
            ("de", "Angemeldet bleiben"),
            ("fr", "Rester connecté"),
        ] {
            let fields = sign_in_fields(PersistentSession::new(), lang);
            assert_eq!(fields.len(), 1);
            assert_eq!(fields[0].name, "persistent_session");
            assert_eq!(fields[0].kind, FieldType::Checkbox);
            assert_eq!(fields[0].value, "false");
            assert_eq!(fields[0].label, label);
        }
        let ticked = sign_in_fields(PersistentSession::new().ticked_by_default(true), "en");
        assert_eq!(ticked[0].value, "true");
    }
}

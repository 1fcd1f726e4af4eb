//! Translated texts: flash messages, validation errors, page and mail texts.
//!
//! Texts live in [Fluent](https://projectfluent.org) files, one per language and crate:
//! pow-core ships `locales/{en,de,fr}/core.ftl`, each extension ships its own, and an app
//! overrides any message by key with
//! [`PowConfigBuilder::messages_ftl`](crate::PowConfigBuilder::messages_ftl). Later files win
//! per key: core, then each enabled extension in config order, then the app.
//!
//! ```
//! use pow_core::messages::{negotiate, FluentMessages, Messages};
//!
//! let messages = FluentMessages::builder()
//!     .add_ftl("en", "signed_in = Welcome back!")
//!     .unwrap()
//!     .build();
//! let de = negotiate(Some("de-DE,de;q=0.9"), messages.languages());
//! assert_eq!(de.to_string(), "de");
//! assert_eq!(
//!     messages.invalid_credentials(&de).as_deref(),
//!     Some("Die Anmeldedaten haben nicht funktioniert. Bitte überprüfen Sie Ihre Angaben und versuchen Sie es erneut.")
//! );
//! // German has no `signed_in`, so the English override shows.
//! assert_eq!(messages.signed_in(&de).as_deref(), Some("Welcome back!"));
//! // Pow shows nothing after signing out.
//! assert_eq!(messages.signed_out(&de), None);
//! ```
//!
//! # Keys
//!
//! Core flash messages use Pow's function names (`invalid_credentials`, ...). Messages Pow
//! leaves empty (`signed_in`, `signed_out`, `user_has_been_created`,
//! `user_not_authenticated`, `user_already_authenticated`) are absent, so
//! [`Messages::message`] returns `None` and no flash is shown; an app adds them by override.
//! A message whose text is empty (`signed_in = { "" }`) also shows nothing, which lets an app
//! silence a message. Extension messages carry the extension's name in front
//! (`pow_reset_password_invalid_token`).
//!
//! Validation errors are `error-<key>` with `_` written as `-` (`error-blank`,
//! `error-taken`, `error-format`, `error-too-short` and `error-too-long` with `$count`,
//! `error-confirmation`, `error-invalid`); an app's own error keys are looked up the same
//! way, and `$field` holds the field name. Email format reasons are not shown, as in Pow.
//!
//! Page and mail texts ([`Messages::text`]):
//!
//! | Key | English |
//! |---|---|
//! | `label-email`, `label-username` | Email, Username |
//! | `label-password`, `label-password-confirmation`, `label-current-password` | Password, Password confirmation, Current password |
//! | `title-sign-in`, `title-register`, `title-edit-account` | Sign in, Register, Edit account |
//! | `button-sign-in`, `button-register`, `button-update`, `button-submit` | Sign in, Register, Update, Submit |
//! | `button-delete-account`, `button-sign-out` | Delete account, Sign out |
//! | `link-sign-in`, `link-register`, `link-edit-account`, `link-sign-out` | Sign in, Register, Edit account, Sign out |
//! | `form-has-errors` | Oops, something went wrong! Please check the errors below. |
//! | `mail-greeting` | Hi, |
//!
//! A user field `x_y` is labelled by `label-x-y` ([`Messages::field_label`]), falling back to
//! the humanised name (`X y`).

use std::sync::Arc;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
pub use unic_langid::LanguageIdentifier;

use crate::error::PowError;

/// One validation error on a field. `key` identifies it for translation; the default
/// English text is Ecto's (see [`ValidationError::default_message`]). A changeset's
/// errors are these ([`crate::users`] re-exports it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ValidationError {
    /// Message key: `blank`, `taken`, `format`, `too_short`, `too_long`, `confirmation`,
    /// `invalid`, or an app's own key.
    pub key: String,
    /// The count for length errors.
    pub count: Option<usize>,
    /// Why an email has an invalid format (e.g. `"dns label too long"`).
    pub reason: Option<String>,
}

impl ValidationError {
    /// An error with just a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            count: None,
            reason: None,
        }
    }

    /// An error with a count (length errors).
    pub fn with_count(key: impl Into<String>, count: usize) -> Self {
        Self {
            count: Some(count),
            ..Self::new(key)
        }
    }

    /// Ecto's English text for this error.
    pub fn default_message(&self) -> String {
        let count = self.count.unwrap_or_default();
        match self.key.as_str() {
            "blank" => "can't be blank".to_owned(),
            "taken" => "has already been taken".to_owned(),
            "format" => "has invalid format".to_owned(),
            "too_short" => format!("should be at least {count} character(s)"),
            "too_long" => format!("should be at most {count} character(s)"),
            "confirmation" => "does not match confirmation".to_owned(),
            "invalid" => "is invalid".to_owned(),
            other => other.to_owned(),
        }
    }
}

/// The Fluent files pow-core ships, as `(language, source)`.
pub const CORE_FTL: &[(&str, &str)] = &[
    ("en", include_str!("../../locales/en/core.ftl")),
    ("de", include_str!("../../locales/de/core.ftl")),
    ("fr", include_str!("../../locales/fr/core.ftl")),
];

/// A value passed to a message (`{ $name }` in Fluent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageArg {
    /// A string.
    Str(String),
    /// A number; plural rules select on it.
    Num(i64),
}

impl From<&str> for MessageArg {
    fn from(value: &str) -> Self {
        Self::Str(value.to_owned())
    }
}

impl From<String> for MessageArg {
    fn from(value: String) -> Self {
        Self::Str(value)
    }
}

impl From<i64> for MessageArg {
    fn from(value: i64) -> Self {
        Self::Num(value)
    }
}

impl From<usize> for MessageArg {
    fn from(value: usize) -> Self {
        Self::Num(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

/// Source of every user-facing text. [`FluentMessages`] is the implementation the config
/// builds; an app may supply its own with
/// [`PowConfigBuilder::messages`](crate::PowConfigBuilder::messages).
pub trait Messages: Send + Sync + 'static {
    /// Message `key` in `lang` (falling back to English), with Fluent args; `None` when the
    /// message shows nothing.
    fn message(
        &self,
        lang: &LanguageIdentifier,
        key: &str,
        args: &[(&str, MessageArg)],
    ) -> Option<String>;

    /// Languages offered, first = default (English).
    fn languages(&self) -> &[LanguageIdentifier];

    /// Flash error when a page needs a signed-in user (nothing by default).
    fn user_not_authenticated(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "user_not_authenticated", &[])
    }

    /// Flash error when a page needs a signed-out user (nothing by default).
    fn user_already_authenticated(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "user_already_authenticated", &[])
    }

    /// Flash info after signing in (nothing by default).
    fn signed_in(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "signed_in", &[])
    }

    /// Flash info after signing out (nothing by default).
    fn signed_out(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "signed_out", &[])
    }

    /// Flash error when sign-in fails.
    fn invalid_credentials(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "invalid_credentials", &[])
    }

    /// Flash info after registering (nothing by default).
    fn user_has_been_created(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "user_has_been_created", &[])
    }

    /// Flash info after the account was updated.
    fn user_has_been_updated(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "user_has_been_updated", &[])
    }

    /// Flash info after the account was deleted.
    fn user_has_been_deleted(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "user_has_been_deleted", &[])
    }

    /// Flash error when the account could not be deleted.
    fn user_could_not_be_deleted(&self, lang: &LanguageIdentifier) -> Option<String> {
        self.message(lang, "user_could_not_be_deleted", &[])
    }

    /// Page text when a sign-in (or another password check) was refused because the
    /// hashing pool's queue is full (`503`).
    fn hashing_busy(&self, lang: &LanguageIdentifier) -> String {
        self.text(lang, "hashing_busy")
    }

    /// Page text when the cache store is unreachable (`503`).
    fn service_unavailable(&self, lang: &LanguageIdentifier) -> String {
        self.text(lang, "service_unavailable")
    }

    /// A translated validation error: `error-<key>` (underscores as dashes) with `$count`
    /// and `$field`; falls back to [`ValidationError::default_message`]. Email format
    /// reasons are left out, as Pow shows none.
    fn validation_error(
        &self,
        lang: &LanguageIdentifier,
        field: &str,
        error: &ValidationError,
    ) -> String {
        let key = format!("error-{}", error.key.replace('_', "-"));
        let mut args = vec![("field", MessageArg::from(field))];
        if let Some(count) = error.count {
            args.push(("count", MessageArg::from(count)));
        }
        self.message(lang, &key, &args)
            .unwrap_or_else(|| error.default_message())
    }

    /// A page or mail text (labels, buttons, titles, links; see the module docs), falling
    /// back to English, then to the key itself.
    fn text(&self, lang: &LanguageIdentifier, key: &str) -> String {
        self.message(lang, key, &[])
            .unwrap_or_else(|| key.to_owned())
    }

    /// The label of user field `field`: `label-<field>` (underscores as dashes), falling
    /// back to the humanised field name (`date_of_birth` becomes `Date of birth`).
    fn field_label(&self, lang: &LanguageIdentifier, field: &str) -> String {
        let key = format!("label-{}", field.replace('_', "-"));
        self.message(lang, &key, &[])
            .unwrap_or_else(|| humanize(field))
    }
}

/// `date_of_birth` -> `Date of birth`.
fn humanize(field: &str) -> String {
    let spaced = field.replace('_', " ");
    let mut chars = spaced.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

type Bundle = FluentBundle<FluentResource>;

/// [`Messages`] backed by Fluent bundles, one per language. Thread safe; build it once.
pub struct FluentMessages {
    languages: Vec<LanguageIdentifier>,
    /// Same order as `languages`; index 0 is English.
    bundles: Vec<Bundle>,
}

impl std::fmt::Debug for FluentMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FluentMessages")
            .field("languages", &self.languages)
            .finish_non_exhaustive()
    }
}

impl FluentMessages {
    /// A builder that starts with pow-core's English, German and French files.
    pub fn builder() -> FluentMessagesBuilder {
        let mut builder = FluentMessagesBuilder {
            sources: Vec::new(),
        };
        for (lang, source) in CORE_FTL {
            // The core files are checked by this module's tests; a broken one is skipped
            // rather than failing every setup.
            if let Err(err) = builder.push(lang, source) {
                tracing::error!(error = %err, "pow-core's own messages failed to parse");
            }
        }
        builder
    }

    /// The bundles to try for `lang`, best first: the exact language, else one with the
    /// same language subtag, then English.
    fn chain(&self, lang: &LanguageIdentifier) -> impl Iterator<Item = &Bundle> {
        let primary = self.languages.iter().position(|l| l == lang).or_else(|| {
            self.languages
                .iter()
                .position(|l| l.language == lang.language)
        });
        let fallback = match primary {
            Some(0) => None,
            _ => Some(0),
        };
        primary
            .into_iter()
            .chain(fallback)
            .filter_map(|i| self.bundles.get(i))
    }
}

impl Messages for FluentMessages {
    fn message(
        &self,
        lang: &LanguageIdentifier,
        key: &str,
        args: &[(&str, MessageArg)],
    ) -> Option<String> {
        let fluent_args = (!args.is_empty()).then(|| {
            let mut fa = FluentArgs::with_capacity(args.len());
            for (name, value) in args {
                let value: FluentValue<'_> = match value {
                    MessageArg::Str(s) => FluentValue::from(s.as_str()),
                    MessageArg::Num(n) => FluentValue::from(*n),
                };
                fa.set(*name, value);
            }
            fa
        });
        for bundle in self.chain(lang) {
            let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
                continue;
            };
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, fluent_args.as_ref(), &mut errors);
            if !errors.is_empty() {
                tracing::warn!(key, lang = %lang, ?errors, "message formatted with errors");
            }
            return (!text.is_empty()).then(|| text.into_owned());
        }
        None
    }

    fn languages(&self) -> &[LanguageIdentifier] {
        &self.languages
    }
}

/// Builder for [`FluentMessages`]; see [`FluentMessages::builder`].
pub struct FluentMessagesBuilder {
    /// Parsed sources per language, in the order they were added; English first.
    sources: Vec<(LanguageIdentifier, Vec<FluentResource>)>,
}

impl std::fmt::Debug for FluentMessagesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FluentMessagesBuilder")
            .field(
                "languages",
                &self.sources.iter().map(|(l, _)| l).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl FluentMessagesBuilder {
    /// Adds a Fluent source for `lang` (e.g. `"de"`, `"pt-BR"`). Sources added later
    /// override earlier ones per key, so add extension files first, then the app's.
    ///
    /// # Errors
    /// [`PowError::Config`] when `lang` is not a language tag or the source has a syntax
    /// error (the message names the line).
    pub fn add_ftl(mut self, lang: &str, ftl_source: &str) -> Result<Self, PowError> {
        self.push(lang, ftl_source).map_err(PowError::Config)?;
        Ok(self)
    }

    /// Like [`add_ftl`](Self::add_ftl), naming where the source comes from in errors.
    pub(crate) fn add_ftl_from(
        mut self,
        origin: &str,
        lang: &str,
        ftl_source: &str,
    ) -> Result<Self, PowError> {
        self.push(lang, ftl_source)
            .map_err(|e| PowError::Config(format!("{origin}: {e}")))?;
        Ok(self)
    }

    fn push(&mut self, lang: &str, source: &str) -> Result<(), String> {
        let langid: LanguageIdentifier = lang
            .parse()
            .map_err(|e| format!("`{lang}` is not a language tag ({e})"))?;
        let resource = FluentResource::try_new(source.to_owned()).map_err(|(_, errors)| {
            let described: Vec<String> = errors
                .iter()
                .map(|err| format!("line {}: {err}", line_of(source, err.pos.start)))
                .collect();
            format!(
                "Fluent messages for `{lang}` do not parse: {}",
                described.join("; ")
            )
        })?;
        match self.sources.iter_mut().find(|(l, _)| *l == langid) {
            Some((_, list)) => list.push(resource),
            None => self.sources.push((langid, vec![resource])),
        }
        Ok(())
    }

    /// Builds one bundle per language. English is always first.
    pub fn build(mut self) -> FluentMessages {
        let en: LanguageIdentifier = unic_langid::langid!("en");
        match self.sources.iter().position(|(l, _)| *l == en) {
            Some(0) => {}
            Some(i) => {
                let english = self.sources.remove(i);
                self.sources.insert(0, english);
            }
            None => self.sources.insert(0, (en, Vec::new())),
        }
        let mut languages = Vec::with_capacity(self.sources.len());
        let mut bundles = Vec::with_capacity(self.sources.len());
        for (lang, resources) in self.sources {
            let mut bundle = Bundle::new_concurrent(vec![lang.clone()]);
            bundle.set_use_isolating(false);
            for resource in resources {
                bundle.add_resource_overriding(resource);
            }
            languages.push(lang);
            bundles.push(bundle);
        }
        FluentMessages { languages, bundles }
    }
}

/// 1-based line number of byte offset `pos` in `source`.
fn line_of(source: &str, pos: usize) -> usize {
    let end = pos.min(source.len());
    source
        .as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

mod negotiate;

#[cfg(test)]
use negotiate::parse_accept_language;
pub use negotiate::{negotiate, request_language};

impl<M: Messages + ?Sized> Messages for Arc<M> {
    fn message(
        &self,
        lang: &LanguageIdentifier,
        key: &str,
        args: &[(&str, MessageArg)],
    ) -> Option<String> {
        (**self).message(lang, key, args)
    }

    fn languages(&self) -> &[LanguageIdentifier] {
        (**self).languages()
    }

    fn validation_error(
        &self,
        lang: &LanguageIdentifier,
        field: &str,
        error: &ValidationError,
    ) -> String {
        (**self).validation_error(lang, field, error)
    }

    fn text(&self, lang: &LanguageIdentifier, key: &str) -> String {
        (**self).text(lang, key)
    }

    fn field_label(&self, lang: &LanguageIdentifier, field: &str) -> String {
        (**self).field_label(lang, field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_files_parse() {
        for (lang, source) in CORE_FTL {
            assert!(
                FluentResource::try_new((*source).to_owned()).is_ok(),
                "{lang} core.ftl has errors"
            );
        }
    }

    #[test]
    fn every_language_has_every_english_key() {
        let keys: Vec<&str> = CORE_FTL[0]
            .1
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k))
            .collect();
        assert!(keys.len() > 20);
        let messages = FluentMessages::builder().build();
        for lang in ["de", "fr"] {
            let lang: LanguageIdentifier = lang.parse().unwrap();
            let index = messages
                .languages()
                .iter()
                .position(|l| *l == lang)
                .unwrap();
            for key in &keys {
                assert!(
                    messages.bundles[index].has_message(key),
                    "{lang} lacks {key}"
                );
            }
        }
    }

    #[test]
    fn humanizes_field_names() {
        assert_eq!(humanize("date_of_birth"), "Date of birth");
        assert_eq!(humanize(""), "");
    }

    #[test]
    fn line_numbers_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 100), 3);
    }

    #[test]
    fn accept_language_orders_by_quality() {
        let ranges = parse_accept_language("fr;q=0.2, de;q=0.9, *;q=0.1, en;q=0, xx;q=abc");
        let tags: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        assert_eq!(tags, ["de", "fr"]);
    }
}

//! The JSON API's error answer, decided once for every framework layer: its status, code,
//! translated text, field errors, pending steps and headers, and the envelope it is sent in.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::config::PowConfig;
use crate::error::{PowError, BUSY_RETRY_AFTER_SECS};
use crate::messages::{FluentMessages, LanguageIdentifier, Messages};
use crate::store::StoreError;
use crate::users::Changeset;

use super::PendingStep;

/// The built-in API texts, consulted when the config's messages have no such key.
fn builtin() -> &'static FluentMessages {
    static BUILTIN: OnceLock<FluentMessages> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let mut builder = FluentMessages::builder();
        for (lang, source) in super::API_FTL {
            builder = match builder.add_ftl(lang, source) {
                Ok(builder) => builder,
                Err(err) => {
                    // Checked by this module's tests; never expected at run time.
                    tracing::error!(error = %err, "pow-core's API messages failed to parse");
                    return FluentMessages::builder().build();
                }
            };
        }
        builder.build()
    })
}

/// API text `key` in `lang`: the config's messages (app overrides), else the built-in
/// API texts, else the key.
pub fn text(config: Option<&PowConfig>, lang: &LanguageIdentifier, key: &str) -> String {
    config
        .and_then(|config| config.messages().message(lang, key, &[]))
        .or_else(|| builtin().message(lang, key, &[]))
        .unwrap_or_else(|| key.to_owned())
}

/// The language of an answer to a request with `facts`: the config's choice among its
/// languages, else the API's built-in texts'.
pub fn language(
    config: Option<&PowConfig>,
    facts: &crate::request::RequestFacts,
) -> LanguageIdentifier {
    match config {
        Some(config) => crate::messages::request_language(facts, config.messages()),
        None => crate::messages::request_language(facts, builtin()),
    }
}

const BAD_REQUEST: u16 = 400;
const UNAUTHORIZED: u16 = 401;
const FORBIDDEN: u16 = 403;
const UNPROCESSABLE: u16 = 422;
const TOO_MANY_REQUESTS: u16 = 429;
const INTERNAL: u16 = 500;
const UNAVAILABLE: u16 = 503;

/// An error answer of the JSON API, whatever the framework sends it: the status, a
/// client-facing (translated) message, a stable `code`, field errors, the steps still
/// pending and details, and the headers that go with them (`WWW-Authenticate`,
/// `Retry-After`, always `Cache-Control: no-store`).
///
/// [`body`](Self::body) is the envelope:
///
/// ```text
/// {"status": 422,
///  "errors": [{"code": "invalid_email", "message": "Please enter a valid e-mail address."},
///             {"code": "blank", "param": "email", "message": "can't be blank"}]}
/// ```
///
/// The first entry of `errors` is the answer's own: its stable `code` (the text's message
/// id without `api-`, `_` for `-`, where the text is the API's: `invalid_token` is
/// `api-invalid-token`) and its translated `message`. Field errors follow, each with the
/// field as `param` and the validation's message id as `code` (`blank`, `format`, `taken`,
/// `too_short`, ...). What the client needs to go on sits in `data`: the steps still
/// pending ([`pending`](ApiError::pending), answered `401`) and any
/// [`with_detail`](ApiError::with_detail) value.
///
/// Internal failures ([`PowError`]) become opaque `500` answers, the details going to the
/// log only. [`PowError::Busy`] (a saturated password-hashing pool) answers `503` with
/// `Retry-After` ([`BUSY_RETRY_AFTER_SECS`]), the code `"busy"` and the translated
/// `api-busy` text; a failing cache store answers `503` with `Retry-After` too. Converting
/// with `From` has no language, so such an error carries English text until
/// [`localized`](ApiError::localized) translates it.
///
/// ```
/// use pow_core::api::ApiError;
///
/// let err = ApiError::new(409, "Already confirmed").with_code("already_confirmed");
/// assert_eq!(err.status(), 409);
/// assert_eq!(
///     err.body(),
///     serde_json::json!({
///         "status": 409,
///         "errors": [{ "code": "already_confirmed", "message": "Already confirmed" }],
///     })
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    status: u16,
    message: String,
    errors: BTreeMap<String, Vec<String>>,
    /// The message id of each field error (`blank`), in the order of `errors`; `invalid`
    /// where none was given.
    field_codes: BTreeMap<String, Vec<String>>,
    challenge: Option<&'static str>,
    code: Option<&'static str>,
    retry_after: Option<u64>,
    /// A text key `message` still has to be translated into the request's language.
    untranslated: Option<&'static str>,
    details: BTreeMap<&'static str, serde_json::Value>,
    pending: Vec<PendingStep>,
}

/// The code of an answer that set none: the status' usual one.
fn default_code(status: u16) -> &'static str {
    match status {
        400 => "invalid_request",
        401 => "not_authenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        410 => "gone",
        422 => "invalid",
        429 => "rate_limited",
        503 => "unavailable",
        500..=599 => "server_error",
        _ => "error",
    }
}

impl ApiError {
    /// An error with the HTTP `status` and a client-facing `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: BTreeMap::new(),
            field_codes: BTreeMap::new(),
            challenge: None,
            code: None,
            retry_after: None,
            untranslated: None,
            details: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    /// An error with `status` and the text `key` in `lang` (the config's messages first,
    /// then the API's built-in texts; the key itself if neither has it).
    pub fn translated(
        config: Option<&PowConfig>,
        lang: &LanguageIdentifier,
        status: u16,
        key: &str,
    ) -> Self {
        Self::new(status, text(config, lang, key))
    }

    /// An answer whose text is the API's `key`, in English until
    /// [`localized`](Self::localized).
    fn untranslated(status: u16, key: &'static str) -> Self {
        let mut err = Self::new(status, text(None, &unic_langid::langid!("en"), key));
        err.untranslated = Some(key);
        err
    }

    /// Lists `step` as still pending (under `data.pending`), and makes the answer a `401`:
    /// the client is not signed in yet, and this is what it takes.
    pub fn pending(mut self, step: PendingStep) -> Self {
        self.status = UNAUTHORIZED;
        self.pending.push(step);
        self
    }

    /// The steps still pending.
    pub fn pending_steps(&self) -> &[PendingStep] {
        &self.pending
    }

    /// Adds a field to the answer's `data` (say a token the client needs to go on). The
    /// name `pending` is taken by [`pending`](Self::pending) and ignored here. A text, or
    /// any JSON value.
    pub fn with_detail(mut self, name: &'static str, value: impl Into<serde_json::Value>) -> Self {
        if name != "pending" {
            self.details.insert(name, value.into());
        }
        self
    }

    /// The code answered: the one set with [`with_code`](Self::with_code), else the usual
    /// one of the status (`invalid_request` for `400`, `not_found`, `invalid` for `422`,
    /// `rate_limited`, `unavailable`, ...).
    pub fn answered_code(&self) -> &'static str {
        self.code.unwrap_or_else(|| default_code(self.status))
    }

    /// Translates a text this error still carries in English (an error converted from a
    /// [`PowError`] with `From`) into `lang`, with the texts of `config`. Errors with their
    /// final text are returned unchanged.
    pub fn localized(mut self, config: Option<&PowConfig>, lang: &LanguageIdentifier) -> Self {
        if let Some(key) = self.untranslated.take() {
            self.message = text(config, lang, key);
        }
        self
    }

    /// Whether the text still waits for [`localized`](Self::localized).
    pub fn is_untranslated(&self) -> bool {
        self.untranslated.is_some()
    }

    /// Adds a stable, machine-readable `code` (`"email_confirmation_required"`), for
    /// clients that must not match on translated messages.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Asks the client to wait `seconds` before trying again (`Retry-After`). `503`
    /// answers carry one by default.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds client-facing field errors (`{"email": ["can't be blank"]}`).
    pub fn with_errors(mut self, errors: BTreeMap<String, Vec<String>>) -> Self {
        self.errors = errors;
        self
    }

    /// Asks for a bearer token with this answer (`WWW-Authenticate`).
    pub fn with_challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// `401` asking for a bearer token (`WWW-Authenticate: Bearer`), with the code
    /// `not_authenticated` and the `api-not-authenticated` text in `lang`.
    pub fn not_authenticated(config: Option<&PowConfig>, lang: &LanguageIdentifier) -> Self {
        Self::translated(config, lang, UNAUTHORIZED, "api-not-authenticated")
            .with_challenge("Bearer")
            .with_code("not_authenticated")
    }

    /// `401` for a token that is forged, expired, used or revoked
    /// (`WWW-Authenticate: Bearer error="invalid_token"`), with the code `invalid_token`
    /// and the `api-invalid-token` text in `lang`.
    pub fn invalid_token(config: Option<&PowConfig>, lang: &LanguageIdentifier) -> Self {
        Self::translated(config, lang, UNAUTHORIZED, "api-invalid-token")
            .with_challenge("Bearer error=\"invalid_token\"")
            .with_code("invalid_token")
    }

    /// `403 already_authenticated`: a signed-in client where only visitors may come.
    pub fn already_authenticated(config: Option<&PowConfig>, lang: &LanguageIdentifier) -> Self {
        Self::translated(config, lang, FORBIDDEN, "api-already-authenticated")
            .with_code("already_authenticated")
    }

    /// `401` for a wrong user id or password, with the generic `invalid_credentials` text
    /// in `lang`: it never tells which part was wrong.
    pub fn invalid_credentials(config: &PowConfig, lang: &LanguageIdentifier) -> Self {
        let message = config
            .messages()
            .invalid_credentials(lang)
            .unwrap_or_else(|| "Unauthorized".to_owned());
        Self::new(UNAUTHORIZED, message).with_code("invalid_credentials")
    }

    /// `405 method_not_allowed`, with the `api-method-not-allowed` text in `lang`: the
    /// answer of an API path to a method it does not take. The frameworks give it to such a
    /// request on every route under the API (the engine's, an extension's and the app's
    /// behind the bearer layer), keeping their `Allow` header, so that no answer of the API
    /// is without its JSON envelope.
    pub fn method_not_allowed(config: Option<&PowConfig>, lang: &LanguageIdentifier) -> Self {
        Self::translated(config, lang, 405, "api-method-not-allowed")
            .with_code("method_not_allowed")
    }

    /// `400` for a body that is not a JSON object of the expected shape.
    pub fn invalid_request(config: Option<&PowConfig>, lang: &LanguageIdentifier) -> Self {
        Self::translated(config, lang, BAD_REQUEST, "api-invalid-request")
    }

    /// `400 invalid_request` for a JSON object without the `user` object its fields go
    /// under (a flat `{"email": ..., "password": ...}`), with the `api-user-params-missing`
    /// text saying so.
    pub fn missing_user_params(config: Option<&PowConfig>, lang: &LanguageIdentifier) -> Self {
        Self::translated(config, lang, BAD_REQUEST, "api-user-params-missing")
            .with_code("invalid_request")
    }

    /// `422` with the changeset's field errors, translated into `lang`, under `message` (a
    /// text key such as `api-user-not-created`).
    pub fn validation(
        config: &PowConfig,
        lang: &LanguageIdentifier,
        message: &str,
        cs: &Changeset,
    ) -> Self {
        let errors = cs
            .errors
            .0
            .iter()
            .map(|(field, errors)| {
                let texts = errors
                    .iter()
                    .map(|e| config.messages().validation_error(lang, field, e))
                    .collect();
                (field.clone(), texts)
            })
            .collect();
        let codes = cs
            .errors
            .0
            .iter()
            .map(|(field, errors)| {
                (
                    field.clone(),
                    errors.iter().map(|e| e.key.clone()).collect(),
                )
            })
            .collect();
        let mut err =
            Self::new(UNPROCESSABLE, text(Some(config), lang, message)).with_errors(errors);
        err.field_codes = codes;
        err.code = match message {
            "api-user-not-created" => Some("user_not_created"),
            "api-user-not-updated" => Some("user_not_updated"),
            _ => None,
        };
        err
    }

    /// `422` with a field error on `field` (`blank`, or `format`) unless `value` is an
    /// address mail can reach, for endpoints that mail an address whoever owns it (a reset
    /// link, a sign-in code): they answer the same for every well-formed address, and
    /// refuse one nobody could receive. Says nothing about which accounts exist.
    ///
    /// # Errors
    /// The `422` answer, with the `api-invalid-email` text in `lang`.
    pub fn check_email(
        config: &PowConfig,
        lang: &LanguageIdentifier,
        field: &str,
        value: &str,
    ) -> Result<(), Self> {
        let value = crate::users::validation::normalize_user_id(value);
        let error = if value.is_empty() {
            crate::users::ValidationError::new("blank")
        } else if let Err(reason) = crate::users::validation::validate_deliverable_email(&value) {
            let mut error = crate::users::ValidationError::new("format");
            error.reason = Some(reason.to_owned());
            error
        } else {
            return Ok(());
        };
        let field_error = config.messages().validation_error(lang, field, &error);
        let errors = BTreeMap::from([(field.to_owned(), vec![field_error])]);
        let mut err = Self::new(UNPROCESSABLE, text(Some(config), lang, "api-invalid-email"))
            .with_code("invalid_email")
            .with_errors(errors);
        err.field_codes = BTreeMap::from([(field.to_owned(), vec![error.key])]);
        Err(err)
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field errors.
    pub fn errors(&self) -> &BTreeMap<String, Vec<String>> {
        &self.errors
    }

    /// The machine-readable code, if any.
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }

    /// The `WWW-Authenticate` challenge the answer carries, if any.
    pub fn challenge(&self) -> Option<&'static str> {
        self.challenge
    }

    /// The `Retry-After` seconds the answer carries, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match (self.retry_after, self.status) {
            (Some(seconds), _) => Some(seconds),
            (None, UNAVAILABLE) => Some(BUSY_RETRY_AFTER_SECS),
            (None, _) => None,
        }
    }

    /// The headers the answer is sent with, besides its JSON content type:
    /// `Cache-Control: no-store`, and `WWW-Authenticate` and `Retry-After` when it
    /// carries them.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("cache-control", "no-store".to_owned())];
        if let Some(challenge) = self.challenge {
            headers.push(("www-authenticate", challenge.to_owned()));
        }
        if let Some(seconds) = self.retry_after() {
            headers.push(("retry-after", seconds.to_string()));
        }
        headers
    }

    /// The JSON envelope of the answer (see the type's docs).
    pub fn body(&self) -> serde_json::Value {
        let mut errors = vec![serde_json::json!({
            "code": self.answered_code(),
            "message": self.message,
        })];
        for (field, texts) in &self.errors {
            let codes = self.field_codes.get(field);
            for (i, message) in texts.iter().enumerate() {
                let code = codes
                    .and_then(|codes| codes.get(i))
                    .map_or("invalid", String::as_str);
                errors.push(serde_json::json!({
                    "code": code,
                    "param": field,
                    "message": message,
                }));
            }
        }
        let mut body = serde_json::json!({
            "status": self.status,
            "errors": errors,
        });
        let mut data = serde_json::Map::new();
        if !self.pending.is_empty() {
            data.insert("pending".into(), serde_json::json!(self.pending));
        }
        for (name, value) in &self.details {
            data.insert((*name).to_owned(), value.clone());
        }
        if !data.is_empty() {
            body["data"] = serde_json::Value::Object(data);
        }
        body
    }

    /// The client-facing answer to `err`, without logging it.
    pub fn of_pow_error(err: &PowError) -> Self {
        match err {
            PowError::Busy => Self::untranslated(UNAVAILABLE, BUSY_KEY)
                .with_code("busy")
                .with_retry_after(BUSY_RETRY_AFTER_SECS),
            PowError::Store(_) | PowError::DatabaseUnavailable(_) => {
                Self::new(UNAVAILABLE, "Service Unavailable")
                    .with_retry_after(BUSY_RETRY_AFTER_SECS)
            }
            PowError::AccountDisabled => {
                Self::untranslated(FORBIDDEN, DISABLED_KEY).with_code("account_disabled")
            }
            PowError::AccountClosed => {
                Self::untranslated(FORBIDDEN, CLOSED_KEY).with_code("account_closed")
            }
            PowError::SignInRefused(refusal) => {
                Self::untranslated(FORBIDDEN, refusal.key).with_code("sign_in_refused")
            }
            PowError::ReauthenticationRequired => Self::untranslated(FORBIDDEN, REAUTH_KEY)
                .with_code("reauthentication_required")
                .pending(PendingStep::new("reauthenticate").methods(["password"])),
            PowError::ImpersonationForbidden => Self::untranslated(FORBIDDEN, IMPERSONATION_KEY)
                .with_code("impersonation_forbidden"),
            PowError::StepUpRequired(accepted) => Self::untranslated(FORBIDDEN, STEP_UP_KEY)
                .with_code("step_up_required")
                .pending(PendingStep::new("step_up").methods(accepted.iter().cloned())),
            PowError::Held(held) => {
                let status = if (100..=999).contains(&held.status()) {
                    held.status()
                } else {
                    UNAUTHORIZED
                };
                let mut answer = Self::new(status, held.message());
                answer.code = held.code();
                answer.pending = held.steps().to_vec();
                answer
            }
            PowError::CaptchaInvalid => {
                Self::untranslated(BAD_REQUEST, CAPTCHA_INVALID_KEY).with_code("captcha_invalid")
            }
            PowError::CaptchaUnavailable => {
                Self::untranslated(UNAVAILABLE, CAPTCHA_UNAVAILABLE_KEY)
                    .with_code("captcha_unavailable")
                    .with_retry_after(BUSY_RETRY_AFTER_SECS)
            }
            PowError::RateLimited(limited) => {
                Self::untranslated(TOO_MANY_REQUESTS, RATE_LIMITED_KEY)
                    .with_code("rate_limited")
                    .with_retry_after(limited.retry_after_secs())
            }
            _ => Self::new(INTERNAL, "Internal Server Error"),
        }
    }
}

/// Text key of the answer to [`PowError::Busy`].
const BUSY_KEY: &str = "api-busy";
/// Text key of the answer to [`PowError::AccountDisabled`].
const DISABLED_KEY: &str = "api-account-disabled";
/// Text key of the answer to [`PowError::AccountClosed`].
const CLOSED_KEY: &str = "api-account-closed";
/// Text key of the answer to [`PowError::ReauthenticationRequired`].
const REAUTH_KEY: &str = "api-reauthentication-required";
/// Text key of the answer to [`PowError::ImpersonationForbidden`].
const IMPERSONATION_KEY: &str = "api-impersonation-forbidden";
/// Text key of the answer to [`PowError::StepUpRequired`].
const STEP_UP_KEY: &str = "api-step-up-required";
/// Text key of the answer to [`PowError::CaptchaInvalid`].
const CAPTCHA_INVALID_KEY: &str = "api-captcha-invalid";
/// Text key of the answer to [`PowError::CaptchaUnavailable`].
const CAPTCHA_UNAVAILABLE_KEY: &str = "api-captcha-unavailable";
/// Text key of the answer to [`PowError::RateLimited`].
const RATE_LIMITED_KEY: &str = "api-rate-limited";

impl From<PowError> for ApiError {
    fn from(err: PowError) -> Self {
        match &err {
            // Load shedding, not a fault: no error-level log per refused request.
            PowError::Busy => tracing::warn!("pow API request refused: {err}"),
            PowError::RateLimited(_)
            | PowError::CaptchaInvalid
            | PowError::CaptchaUnavailable
            | PowError::ReauthenticationRequired
            | PowError::StepUpRequired(_)
            | PowError::ImpersonationForbidden
            | PowError::AccountDisabled
            | PowError::AccountClosed
            | PowError::SignInRefused(_)
            | PowError::Held(_) => {
                tracing::info!("pow API request refused: {err}")
            }
            _ => {
                tracing::error!(error = %err, "pow API request failed");
                // Without a `tracing` subscriber the reason would show nowhere.
                if !tracing::dispatcher::has_been_set() {
                    eprintln!("pow API request failed: {err}");
                }
            }
        }
        Self::of_pow_error(&err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        PowError::from(err).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_api_text() {
        let messages = builtin();
        let keys = [
            "api-not-authenticated",
            "api-already-authenticated",
            "api-invalid-token",
            "api-invalid-request",
            "api-user-params-missing",
            "api-invalid-email",
            "api-user-not-created",
            "api-busy",
            "api-cross-site",
            "api-method-not-allowed",
        ];
        for lang in ["en", "de", "fr"] {
            let lang: LanguageIdentifier = lang.parse().unwrap();
            for key in keys {
                let english = messages.message(&unic_langid::langid!("en"), key, &[]);
                let text = messages.message(&lang, key, &[]);
                assert!(text.is_some(), "{key} missing in {lang}");
                if lang.language.as_str() != "en" {
                    assert_ne!(text, english, "{key} is not translated to {lang}");
                }
            }
        }
    }

    #[test]
    fn busy_is_a_503_with_retry_after_translated_once_the_language_is_known() {
        let en = unic_langid::langid!("en");
        let de = unic_langid::langid!("de");
        let english = builtin().message(&en, "api-busy", &[]).unwrap();
        let german = builtin().message(&de, "api-busy", &[]).unwrap();

        let err = ApiError::from(PowError::Busy);
        assert_eq!(err.status(), 503);
        assert_eq!(err.message(), english);
        assert!(err.is_untranslated());
        assert_eq!(err.retry_after(), Some(BUSY_RETRY_AFTER_SECS));

        let err = err.localized(None, &de);
        assert!(!err.is_untranslated());
        assert_eq!(
            err.body(),
            serde_json::json!({
                "status": 503,
                "errors": [{ "code": "busy", "message": german }],
            })
        );
        assert_eq!(
            err.headers(),
            [
                ("cache-control", "no-store".to_owned()),
                ("retry-after", BUSY_RETRY_AFTER_SECS.to_string()),
            ]
        );
        // A translated error stays as it is.
        assert_eq!(err.clone().localized(None, &en), err);
    }

    #[test]
    fn other_internal_errors_stay_opaque() {
        let database = ApiError::from(PowError::DatabaseUnavailable("down".into()));
        assert_eq!(database.status(), 503);
        assert_eq!(database.message(), "Service Unavailable");
        assert_eq!(database.retry_after(), Some(BUSY_RETRY_AFTER_SECS));
        let store = ApiError::from(PowError::Store(StoreError::Backend("down".into())));
        assert_eq!(store.status(), 503);
        assert_eq!(store.code(), None);
        let other = ApiError::from(PowError::Database("secret table name".into()));
        assert_eq!(other.status(), 500);
        assert_eq!(other.message(), "Internal Server Error");
        assert_eq!(other.retry_after(), None);
    }

    #[test]
    fn sudo_and_step_up_refusals_are_a_pending_step() {
        let err = ApiError::from(PowError::ReauthenticationRequired);
        assert_eq!(err.status(), 401);
        assert_eq!(err.code(), Some("reauthentication_required"));
        assert_eq!(err.message(), "Please confirm your password first.");
        assert_eq!(
            err.pending_steps(),
            [PendingStep::new("reauthenticate").methods(["password"])]
        );
        let err = ApiError::from(PowError::StepUpRequired(vec!["totp", "webauthn"]));
        assert_eq!(err.status(), 401);
        assert_eq!(err.pending_steps()[0].step(), "step_up");
    }

    #[test]
    fn the_envelope_lists_field_errors_and_data() {
        let err = ApiError::new(422, "nope")
            .with_errors(BTreeMap::from([("email".into(), vec!["bad".into()])]))
            .with_detail("hint", "more");
        assert_eq!(
            err.body(),
            serde_json::json!({
                "status": 422,
                "errors": [
                    { "code": "invalid", "message": "nope" },
                    { "code": "invalid", "param": "email", "message": "bad" },
                ],
                "data": { "hint": "more" },
            })
        );
        let held = ApiError::new(403, "wait")
            .with_code("second_factor_required")
            .pending(
                PendingStep::new("second_factor")
                    .methods(["totp"])
                    .token("t"),
            );
        assert_eq!(held.status(), 401);
        assert_eq!(
            held.body()["data"],
            serde_json::json!({ "pending": [{ "step": "second_factor", "methods": ["totp"], "token": "t" }] })
        );
        let anonymous = ApiError::not_authenticated(None, &unic_langid::langid!("en"));
        assert_eq!(
            anonymous.headers(),
            [
                ("cache-control", "no-store".to_owned()),
                ("www-authenticate", "Bearer".to_owned()),
            ]
        );
    }
}

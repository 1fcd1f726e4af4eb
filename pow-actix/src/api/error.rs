//! JSON error answers of the API, and their texts.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::{request_language, FluentMessages, LanguageIdentifier, Messages};
use crate::session::ErrorHandler;
use crate::store::StoreError;
use crate::users::Changeset;
use pow_core::api::PendingStep;

/// `Retry-After` seconds of `503` answers; the same as the HTML side's.
pub use crate::error::BUSY_RETRY_AFTER_SECS;

/// The built-in API texts, consulted when the config's messages have no such key.
fn builtin() -> &'static FluentMessages {
    static BUILTIN: OnceLock<FluentMessages> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let mut builder = FluentMessages::builder();
        for (lang, source) in crate::api::API_FTL {
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

/// The language of the answer to `req`.
pub(crate) fn language(req: &HttpRequest, config: Option<&PowConfig>) -> LanguageIdentifier {
    match config {
        Some(config) => request_language(&crate::web::ActixRequest(req).facts(), config.messages()),
        None => request_language(&crate::web::ActixRequest(req).facts(), builtin()),
    }
}

/// API text `key` in `lang`: the config's messages (app overrides), else the built-in
/// API texts, else the key.
pub(crate) fn text(config: Option<&PowConfig>, lang: &LanguageIdentifier, key: &str) -> String {
    config
        .and_then(|config| config.messages().message(lang, key, &[]))
        .or_else(|| builtin().message(lang, key, &[]))
        .unwrap_or_else(|| key.to_owned())
}

/// An API error, answered as JSON in the API's envelope ([`answer`](super::answer) for
/// successes), with `Cache-Control: no-store`:
///
/// ```json
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
/// with `From` has no request to read the language from, so such an error carries English
/// text until [`localized`](ApiError::localized) (or [`from_pow`](ApiError::from_pow))
/// translates it. The API's own endpoints do that, and so does
/// [`ApiAuthMiddleware`](super::ApiAuthMiddleware) for the routes it wraps.
///
/// ```
/// use actix_web::http::StatusCode;
/// use actix_web::ResponseError;
/// use pow_actix::api::ApiError;
///
/// let err = ApiError::new(StatusCode::CONFLICT, "Already confirmed");
/// assert_eq!(err.status_code(), StatusCode::CONFLICT);
/// assert_eq!(err.message(), "Already confirmed");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    status: StatusCode,
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
fn default_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "not_authenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::GONE => "gone",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ if status.is_server_error() => "server_error",
        _ => "error",
    }
}

impl ApiError {
    /// An error with `status` and a client-facing `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
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

    /// Lists `step` as still pending (under `data.pending`), and makes the answer a `401`:
    /// the client is not signed in yet, and this is what it takes.
    pub fn pending(mut self, step: PendingStep) -> Self {
        self.status = StatusCode::UNAUTHORIZED;
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

    /// An error with `status` and the text `key` translated into the language of `req`
    /// (the config's messages first, then the API's built-in texts; the key itself if
    /// neither has it). For extension endpoints, whose texts are registered with the
    /// config.
    pub fn translated(req: &HttpRequest, status: StatusCode, key: &str) -> Self {
        let config = crate::session::config(req);
        let lang = language(req, config.as_ref());
        Self::new(status, text(config.as_ref(), &lang, key))
    }

    /// The code answered: the one set with [`with_code`](Self::with_code), else the usual
    /// one of the status (`invalid_request` for `400`, `not_found`, `invalid` for `422`,
    /// `rate_limited`, `unavailable`, ...).
    pub fn answered_code(&self) -> &'static str {
        self.code.unwrap_or_else(|| default_code(self.status))
    }

    /// The answer to an internal failure, with its text in the language of `req`: as
    /// `ApiError::from(err)` followed by [`localized`](Self::localized).
    pub fn from_pow(req: &HttpRequest, err: PowError) -> Self {
        Self::from(err).localized(req)
    }

    /// Translates a text this error still carries in English (an error converted from a
    /// [`PowError`] with `From`, which has no request) into the language of `req`. Errors
    /// with their final text are returned unchanged.
    pub fn localized(self, req: &HttpRequest) -> Self {
        if !self.is_untranslated() {
            return self;
        }
        let config = crate::session::config(req);
        let lang = language(req, config.as_ref());
        self.localized_in(config.as_ref(), &lang)
    }

    /// [`localized`](Self::localized) in `lang`, with the texts of `config`.
    pub(crate) fn localized_in(
        mut self,
        config: Option<&PowConfig>,
        lang: &LanguageIdentifier,
    ) -> Self {
        if let Some(key) = self.untranslated.take() {
            self.message = text(config, lang, key);
        }
        self
    }

    /// Whether the text still waits for [`localized`](Self::localized).
    pub(crate) fn is_untranslated(&self) -> bool {
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

    /// `401` asking for a bearer token (`WWW-Authenticate: Bearer`), with the code
    /// `not_authenticated` and the translated `api-not-authenticated` text; when the request
    /// came with a bearer token that [`ApiAuthMiddleware`](super::ApiAuthMiddleware) refused,
    /// [`invalid_token`](Self::invalid_token) instead.
    pub fn not_authenticated(req: &HttpRequest) -> Self {
        use actix_web::HttpMessage as _;
        if req
            .extensions()
            .get::<super::middleware::RefusedToken>()
            .is_some()
        {
            return Self::invalid_token(req);
        }
        let config = crate::session::config(req);
        let lang = language(req, config.as_ref());
        let mut err = Self::new(
            StatusCode::UNAUTHORIZED,
            text(config.as_ref(), &lang, "api-not-authenticated"),
        );
        err.challenge = Some("Bearer");
        err.code = Some("not_authenticated");
        err
    }

    /// `401` for a token that is forged, expired, used or revoked
    /// (`WWW-Authenticate: Bearer error="invalid_token"`), with the code `invalid_token`
    /// and the translated `api-invalid-token` text.
    pub fn invalid_token(req: &HttpRequest) -> Self {
        let config = crate::session::config(req);
        let lang = language(req, config.as_ref());
        let mut err = Self::new(
            StatusCode::UNAUTHORIZED,
            text(config.as_ref(), &lang, "api-invalid-token"),
        );
        err.challenge = Some("Bearer error=\"invalid_token\"");
        err.code = Some("invalid_token");
        err
    }

    /// `401` for a wrong user id or password, with the generic, translated
    /// `invalid_credentials` text: it never tells which part was wrong.
    pub fn invalid_credentials(req: &HttpRequest, config: &PowConfig) -> Self {
        let lang = language(req, Some(config));
        let message = config
            .messages()
            .invalid_credentials(&lang)
            .unwrap_or_else(|| "Unauthorized".to_owned());
        Self::new(StatusCode::UNAUTHORIZED, message).with_code("invalid_credentials")
    }

    /// `400` for a body that is not a JSON object of the expected shape.
    pub fn invalid_request(req: &HttpRequest) -> Self {
        let config = crate::session::config(req);
        let lang = language(req, config.as_ref());
        Self::new(
            StatusCode::BAD_REQUEST,
            text(config.as_ref(), &lang, "api-invalid-request"),
        )
    }

    /// `400 invalid_request` for a JSON object without the `user` object its fields go
    /// under (a flat `{"email": ..., "password": ...}`), with the `api-user-params-missing`
    /// text saying so.
    pub fn missing_user_params(req: &HttpRequest) -> Self {
        let config = crate::session::config(req);
        let lang = language(req, config.as_ref());
        Self::new(
            StatusCode::BAD_REQUEST,
            text(config.as_ref(), &lang, "api-user-params-missing"),
        )
        .with_code("invalid_request")
    }

    /// `422` with the changeset's field errors, translated, under `message` (a text key
    /// such as `api-user-not-created`).
    pub fn validation(
        req: &HttpRequest,
        config: &PowConfig,
        message: &str,
        cs: &Changeset,
    ) -> Self {
        let lang = language(req, Some(config));
        let errors = cs
            .errors
            .0
            .iter()
            .map(|(field, errors)| {
                let texts = errors
                    .iter()
                    .map(|e| config.messages().validation_error(&lang, field, e))
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
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            text(Some(config), &lang, message),
        )
        .with_errors(errors);
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
    /// The `422` answer, with the `api-invalid-email` text.
    pub fn check_email(
        req: &HttpRequest,
        config: &PowConfig,
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
        let lang = language(req, Some(config));
        let field_error = config.messages().validation_error(&lang, field, &error);
        let errors = BTreeMap::from([(field.to_owned(), vec![field_error])]);
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            text(Some(config), &lang, "api-invalid-email"),
        )
        .with_code("invalid_email")
        .with_errors(errors);
        err.field_codes = BTreeMap::from([(field.to_owned(), vec![error.key])]);
        Err(err)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
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

    /// The `Retry-After` seconds the answer carries, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match (self.retry_after, self.status) {
            (Some(seconds), _) => Some(seconds),
            (None, StatusCode::SERVICE_UNAVAILABLE) => Some(BUSY_RETRY_AFTER_SECS),
            (None, _) => None,
        }
    }

    /// The client-facing answer to `err`, without logging it.
    pub(crate) fn of_pow_error(err: &PowError) -> Self {
        match err {
            PowError::Busy => {
                let lang = unic_langid::langid!("en");
                let mut busy =
                    Self::new(StatusCode::SERVICE_UNAVAILABLE, text(None, &lang, BUSY_KEY))
                        .with_code("busy")
                        .with_retry_after(BUSY_RETRY_AFTER_SECS);
                busy.untranslated = Some(BUSY_KEY);
                busy
            }
            PowError::Store(_) | PowError::DatabaseUnavailable(_) => {
                let status = StatusCode::SERVICE_UNAVAILABLE;
                Self::new(status, status.canonical_reason().unwrap_or("Error"))
                    .with_retry_after(BUSY_RETRY_AFTER_SECS)
            }
            PowError::AccountDisabled => {
                let lang = unic_langid::langid!("en");
                let mut refused = Self::new(StatusCode::FORBIDDEN, text(None, &lang, DISABLED_KEY))
                    .with_code("account_disabled");
                refused.untranslated = Some(DISABLED_KEY);
                refused
            }
            PowError::AccountClosed => {
                let lang = unic_langid::langid!("en");
                let mut refused = Self::new(StatusCode::FORBIDDEN, text(None, &lang, CLOSED_KEY))
                    .with_code("account_closed");
                refused.untranslated = Some(CLOSED_KEY);
                refused
            }
            PowError::ReauthenticationRequired => {
                let lang = unic_langid::langid!("en");
                let mut refused = Self::new(StatusCode::FORBIDDEN, text(None, &lang, REAUTH_KEY))
                    .with_code("reauthentication_required")
                    .pending(PendingStep::new("reauthenticate").methods(["password"]));
                refused.untranslated = Some(REAUTH_KEY);
                refused
            }
            PowError::ImpersonationForbidden => {
                let lang = unic_langid::langid!("en");
                let mut refused =
                    Self::new(StatusCode::FORBIDDEN, text(None, &lang, IMPERSONATION_KEY))
                        .with_code("impersonation_forbidden");
                refused.untranslated = Some(IMPERSONATION_KEY);
                refused
            }
            PowError::StepUpRequired(accepted) => {
                let lang = unic_langid::langid!("en");
                let mut refused = Self::new(StatusCode::FORBIDDEN, text(None, &lang, STEP_UP_KEY))
                    .with_code("step_up_required")
                    .pending(PendingStep::new("step_up").methods(accepted.iter().cloned()));
                refused.untranslated = Some(STEP_UP_KEY);
                refused
            }
            PowError::Held(held) => {
                let status =
                    StatusCode::from_u16(held.status()).unwrap_or(StatusCode::UNAUTHORIZED);
                let mut answer = Self::new(status, held.message());
                answer.code = held.code();
                answer.pending = held.steps().to_vec();
                answer
            }
            PowError::CaptchaInvalid => {
                let lang = unic_langid::langid!("en");
                let mut refused = Self::new(
                    StatusCode::BAD_REQUEST,
                    text(None, &lang, CAPTCHA_INVALID_KEY),
                )
                .with_code("captcha_invalid");
                refused.untranslated = Some(CAPTCHA_INVALID_KEY);
                refused
            }
            PowError::CaptchaUnavailable => {
                let lang = unic_langid::langid!("en");
                let mut refused = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    text(None, &lang, CAPTCHA_UNAVAILABLE_KEY),
                )
                .with_code("captcha_unavailable")
                .with_retry_after(BUSY_RETRY_AFTER_SECS);
                refused.untranslated = Some(CAPTCHA_UNAVAILABLE_KEY);
                refused
            }
            PowError::RateLimited(limited) => {
                let lang = unic_langid::langid!("en");
                let mut refused = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    text(None, &lang, RATE_LIMITED_KEY),
                )
                .with_code("rate_limited")
                .with_retry_after(limited.retry_after_secs());
                refused.untranslated = Some(RATE_LIMITED_KEY);
                refused
            }
            _ => {
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                Self::new(status, status.canonical_reason().unwrap_or("Error"))
            }
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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
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
            "status": self.status.as_u16(),
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
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(challenge) = self.challenge {
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(seconds) = self.retry_after() {
            res.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        res.json(body)
    }
}

/// The [`ErrorHandler`] of API routes: always JSON, whatever the `Accept` header says.
///
/// - no signed-in user: `401` with `WWW-Authenticate: Bearer` and
///   `{"status": 401, "errors": [{"code": "not_authenticated", "message": "Not authenticated"}]}`,
///   or, when the bearer token that came was refused, the code `invalid_token`;
/// - a signed-in user where none may be: `403` with the code `already_authenticated`.
///
/// Texts are translated (`api-not-authenticated`, `api-already-authenticated`).
/// [`ApiAuthMiddleware`](super::ApiAuthMiddleware) sets it for the routes it wraps.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiErrorHandler;

impl ErrorHandler for ApiErrorHandler {
    fn not_authenticated(&self, req: &HttpRequest) -> HttpResponse {
        ApiError::not_authenticated(req).error_response()
    }

    fn already_authenticated(&self, req: &HttpRequest) -> HttpResponse {
        let config = crate::session::config(req);
        let lang = language(req, config.as_ref());
        ApiError::new(
            StatusCode::FORBIDDEN,
            text(config.as_ref(), &lang, "api-already-authenticated"),
        )
        .with_code("already_authenticated")
        .error_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::HttpMessage as _;

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

    async fn json_of(res: HttpResponse) -> serde_json::Value {
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn request(accept_language: &str) -> HttpRequest {
        actix_web::test::TestRequest::default()
            .insert_header((header::ACCEPT_LANGUAGE, accept_language))
            .to_http_request()
    }

    #[actix_web::test]
    async fn busy_is_a_translated_503_with_retry_after() {
        let english = builtin()
            .message(&unic_langid::langid!("en"), "api-busy", &[])
            .unwrap();
        let german = builtin()
            .message(&unic_langid::langid!("de"), "api-busy", &[])
            .unwrap();

        // Without a request (`?` in a handler) the text is English, waiting for a language.
        let err = ApiError::from(PowError::Busy);
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.message(), english);
        assert!(err.is_untranslated());

        let err = err.localized(&request("de-DE,de;q=0.9"));
        assert!(!err.is_untranslated());
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.headers().get(header::RETRY_AFTER).unwrap(),
            &BUSY_RETRY_AFTER_SECS.to_string()
        );
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
        assert_eq!(
            json_of(res).await,
            serde_json::json!({
                "status": 503,
                "errors": [{ "code": "busy", "message": german }],
            })
        );

        // `from_pow` translates at once; a translated error stays as it is.
        let french = ApiError::from_pow(&request("fr"), PowError::Busy);
        assert_ne!(french.message(), english);
        assert_ne!(french.message(), german);
        let again = french.clone().localized(&request("de"));
        assert_eq!(again, french);
    }

    #[actix_web::test]
    async fn an_app_override_of_the_busy_text_wins() {
        let config = PowConfig::builder("s".repeat(64))
            .messages_ftl("en", "api-busy = Queue full, come back soon.")
            .build()
            .unwrap();
        let req = request("en");
        req.extensions_mut().insert(config);
        let err = ApiError::from_pow(&req, PowError::Busy);
        assert_eq!(err.message(), "Queue full, come back soon.");
    }

    #[test]
    fn other_internal_errors_stay_opaque() {
        let database = ApiError::from(PowError::DatabaseUnavailable("down".into()));
        assert_eq!(database.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(database.message(), "Service Unavailable");
        assert_eq!(database.retry_after(), Some(BUSY_RETRY_AFTER_SECS));
        let store = ApiError::from(PowError::Store(StoreError::Backend("down".into())));
        assert_eq!(store.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(store.message(), "Service Unavailable");
        assert_eq!(store.code(), None);
        let res = store.error_response();
        assert_eq!(
            res.headers().get(header::RETRY_AFTER).unwrap(),
            &BUSY_RETRY_AFTER_SECS.to_string()
        );

        let other = ApiError::from(PowError::Database("secret table name".into()));
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(other.message(), "Internal Server Error");
        assert!(other
            .error_response()
            .headers()
            .get(header::RETRY_AFTER)
            .is_none());
    }

    #[test]
    fn sudo_refusals_are_a_pending_step() {
        let err = ApiError::from(PowError::ReauthenticationRequired);
        assert_eq!(err.status_code(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.code(), Some("reauthentication_required"));
        assert_eq!(err.message(), "Please confirm your password first.");
        assert_eq!(
            err.pending_steps(),
            [PendingStep::new("reauthenticate").methods(["password"])]
        );
        let err = ApiError::from(PowError::StepUpRequired(vec!["totp", "webauthn"]));
        assert_eq!(err.status_code(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.pending_steps()[0].step(), "step_up");
    }

    #[actix_web::test]
    async fn json_shape() {
        let res = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "nope")
            .with_errors(BTreeMap::from([("email".into(), vec!["bad".into()])]))
            .with_detail("hint", "more")
            .error_response();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
        assert_eq!(
            json_of(res).await,
            serde_json::json!({
                "status": 422,
                "errors": [
                    { "code": "invalid", "message": "nope" },
                    { "code": "invalid", "param": "email", "message": "bad" },
                ],
                "data": { "hint": "more" },
            })
        );
        let res = ApiError::new(StatusCode::FORBIDDEN, "wait")
            .with_code("second_factor_required")
            .pending(
                PendingStep::new("second_factor")
                    .methods(["totp"])
                    .token("t"),
            )
            .error_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            json_of(res).await["data"],
            serde_json::json!({ "pending": [{ "step": "second_factor", "methods": ["totp"], "token": "t" }] })
        );
    }
}

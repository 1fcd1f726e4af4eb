//! JSON error answers of the API, and their texts.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};

use super::ApiContext;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::{request_language, FluentMessages, LanguageIdentifier, Messages};
use crate::session::ErrorHandler;
use crate::store::StoreError;
use crate::users::Changeset;

/// The Fluent files of the API's own texts, as `(language, source)`: `api-not-authenticated`,
/// `api-already-authenticated`, `api-invalid-token`, `api-invalid-request` and
/// `api-user-not-created`. An app overrides them like any other key, with
/// [`PowConfigBuilder::messages_ftl`](crate::PowConfigBuilder::messages_ftl).
pub const API_FTL: &[(&str, &str)] = &[
    ("en", include_str!("locales/en.ftl")),
    ("de", include_str!("locales/de.ftl")),
    ("fr", include_str!("locales/fr.ftl")),
];

/// The built-in API texts, consulted when the config's messages have no such key.
fn builtin() -> &'static FluentMessages {
    static BUILTIN: OnceLock<FluentMessages> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let mut builder = FluentMessages::builder();
        for (lang, source) in API_FTL {
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

/// The config serving `req`: the API routes' [`ApiContext`], else the one a middleware
/// put into the request extensions.
fn config_of(req: &HttpRequest) -> Option<PowConfig> {
    req.app_data::<actix_web::web::Data<ApiContext>>()
        .map(|ctx| ctx.config().clone())
        .or_else(|| req.extensions().get::<PowConfig>().cloned())
}

/// The language of the answer to `req`.
pub(crate) fn language(req: &HttpRequest, config: Option<&PowConfig>) -> LanguageIdentifier {
    match config {
        Some(config) => request_language(req, config.messages()),
        None => request_language(req, builtin()),
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

/// An API error, answered as JSON:
/// `{"error": {"status": 422, "message": "...", "errors": {"email": ["..."]}}}` (`errors`
/// only when there are field errors), with `Cache-Control: no-store`.
///
/// Internal failures ([`PowError`]) become opaque `500` (or `503` for the store) answers;
/// the details go to the log only.
///
/// ```
/// use actix_web::http::StatusCode;
/// use actix_web::ResponseError;
/// use pow_core::api::ApiError;
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
    challenge: Option<&'static str>,
}

impl ApiError {
    /// An error with `status` and a client-facing `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: BTreeMap::new(),
            challenge: None,
        }
    }

    /// Adds client-facing field errors (`{"email": ["can't be blank"]}`).
    pub fn with_errors(mut self, errors: BTreeMap<String, Vec<String>>) -> Self {
        self.errors = errors;
        self
    }

    /// `401` asking for a bearer token (`WWW-Authenticate: Bearer`), with the translated
    /// `api-not-authenticated` text.
    pub fn not_authenticated(req: &HttpRequest) -> Self {
        let config = config_of(req);
        let lang = language(req, config.as_ref());
        let mut err = Self::new(
            StatusCode::UNAUTHORIZED,
            text(config.as_ref(), &lang, "api-not-authenticated"),
        );
        err.challenge = Some("Bearer");
        err
    }

    /// `401` for a token that is forged, expired, used or revoked
    /// (`WWW-Authenticate: Bearer error="invalid_token"`), with the translated
    /// `api-invalid-token` text.
    pub fn invalid_token(req: &HttpRequest) -> Self {
        let config = config_of(req);
        let lang = language(req, config.as_ref());
        let mut err = Self::new(
            StatusCode::UNAUTHORIZED,
            text(config.as_ref(), &lang, "api-invalid-token"),
        );
        err.challenge = Some("Bearer error=\"invalid_token\"");
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
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// `400` for a body that is not a JSON object of the expected shape.
    pub fn invalid_request(req: &HttpRequest) -> Self {
        let config = config_of(req);
        let lang = language(req, config.as_ref());
        Self::new(
            StatusCode::BAD_REQUEST,
            text(config.as_ref(), &lang, "api-invalid-request"),
        )
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
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            text(Some(config), &lang, message),
        )
        .with_errors(errors)
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
}

impl From<PowError> for ApiError {
    fn from(err: PowError) -> Self {
        tracing::error!(error = %err, "pow API request failed");
        let status = match err {
            PowError::Store(_) | PowError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, status.canonical_reason().unwrap_or("Error"))
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
        let mut body = serde_json::json!({
            "status": self.status.as_u16(),
            "message": self.message,
        });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::json!(self.errors);
        }
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(challenge) = self.challenge {
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, "5"));
        }
        res.json(serde_json::json!({ "error": body }))
    }
}

/// The [`ErrorHandler`] of API routes: always JSON, whatever the `Accept` header says.
///
/// - no signed-in user: `401` with `WWW-Authenticate: Bearer` and
///   `{"error": {"status": 401, "message": "Not authenticated"}}`;
/// - a signed-in user where none may be: `403` with
///   `{"error": {"status": 403, "message": "Already authenticated"}}`.
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
        let config = config_of(req);
        let lang = language(req, config.as_ref());
        ApiError::new(
            StatusCode::FORBIDDEN,
            text(config.as_ref(), &lang, "api-already-authenticated"),
        )
        .error_response()
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
            "api-user-not-created",
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
    fn json_shape() {
        let res = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "nope")
            .with_errors(BTreeMap::from([("email".into(), vec!["bad".into()])]))
            .error_response();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
    }
}

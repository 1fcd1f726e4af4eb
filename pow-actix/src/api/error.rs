//! JSON error answers of the API on actix-web: the engine's
//! [`pow_core::api::ApiError`] as an actix `ResponseError`, with constructors that read the
//! language from the request.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::store::StoreError;
use crate::users::Changeset;
use pow_core::api::PendingStep;

/// `Retry-After` seconds of `503` answers; the same as the HTML side's.
pub use crate::error::BUSY_RETRY_AFTER_SECS;

/// The language of the answer to `req`.
pub(crate) fn language(req: &HttpRequest, config: Option<&PowConfig>) -> LanguageIdentifier {
    pow_core::api::language(config, &crate::web::ActixRequest(req).facts())
}

/// API text `key` in `lang`: the config's messages (app overrides), else the built-in
/// API texts, else the key.
pub(crate) fn text(config: Option<&PowConfig>, lang: &LanguageIdentifier, key: &str) -> String {
    pow_core::api::text(config, lang, key)
}

/// An API error, answered as JSON in the API's envelope ([`answer`](super::answer) for
/// successes), with `Cache-Control: no-store`: the engine's
/// [`ApiError`](pow_core::api::ApiError) (which decides the status, code, texts, pending
/// steps, headers and envelope for every framework layer) as an actix `ResponseError`.
///
/// ```json
/// {"status": 422,
///  "errors": [{"code": "invalid_email", "message": "Please enter a valid e-mail address."},
///             {"code": "blank", "param": "email", "message": "can't be blank"}]}
/// ```
///
/// Converting a [`PowError`] with `From` (`?` in a handler) has no request to read the
/// language from, so such an error carries English text until
/// [`localized`](ApiError::localized) translates it.
/// The API's own endpoints do that, and so does
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
#[error(transparent)]
pub struct ApiError(pow_core::api::ApiError);

impl From<pow_core::api::ApiError> for ApiError {
    fn from(err: pow_core::api::ApiError) -> Self {
        Self(err)
    }
}

impl From<ApiError> for pow_core::api::ApiError {
    fn from(err: ApiError) -> Self {
        err.0
    }
}

impl ApiError {
    /// An error with `status` and a client-facing `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(pow_core::api::ApiError::new(status.as_u16(), message))
    }

    /// The engine's answer this is.
    pub fn engine(&self) -> &pow_core::api::ApiError {
        &self.0
    }

    /// The engine's answer `make` gives in the language of `req`, with the texts of the
    /// request's setup.
    fn in_language_of(
        req: &HttpRequest,
        make: impl FnOnce(Option<&PowConfig>, &LanguageIdentifier) -> pow_core::api::ApiError,
    ) -> Self {
        let config = crate::session::config(req);
        let lang = language(req, config.as_ref());
        Self(make(config.as_ref(), &lang))
    }

    /// Lists `step` as still pending (under `data.pending`), and makes the answer a `401`:
    /// the client is not signed in yet, and this is what it takes.
    pub fn pending(self, step: PendingStep) -> Self {
        Self(self.0.pending(step))
    }

    /// Adds a field to the answer's `data` (say a token the client needs to go on). The
    /// name `pending` is taken by [`pending`](Self::pending) and ignored here. A text, or
    /// any JSON value.
    pub fn with_detail(self, name: &'static str, value: impl Into<serde_json::Value>) -> Self {
        Self(self.0.with_detail(name, value))
    }

    /// An error with `status` and the text `key` translated into the language of `req`
    /// (the config's messages first, then the API's built-in texts; the key itself if
    /// neither has it). For extension endpoints, whose texts are registered with the
    /// config.
    pub fn translated(req: &HttpRequest, status: StatusCode, key: &str) -> Self {
        Self::in_language_of(req, |config, lang| {
            pow_core::api::ApiError::new(status.as_u16(), text(config, lang, key))
        })
    }

    /// Translates a text this error still carries in English (an error converted from a
    /// [`PowError`] with `From`, which has no request) into the language of `req`. Errors
    /// with their final text are returned unchanged.
    pub fn localized(self, req: &HttpRequest) -> Self {
        if !self.0.is_untranslated() {
            return self;
        }
        Self::in_language_of(req, |config, lang| self.0.localized(config, lang))
    }

    /// Adds a stable, machine-readable `code` (`"email_confirmation_required"`), for
    /// clients that must not match on translated messages.
    pub fn with_code(self, code: &'static str) -> Self {
        Self(self.0.with_code(code))
    }

    /// Asks the client to wait `seconds` before trying again (`Retry-After`). `503`
    /// answers carry one by default.
    pub fn with_retry_after(self, seconds: u64) -> Self {
        Self(self.0.with_retry_after(seconds))
    }

    /// Adds client-facing field errors (`{"email": ["can't be blank"]}`).
    pub fn with_errors(self, errors: BTreeMap<String, Vec<String>>) -> Self {
        Self(self.0.with_errors(errors))
    }

    /// `401` asking for a bearer token (`WWW-Authenticate: Bearer`), with the code
    /// `not_authenticated` and the translated `api-not-authenticated` text; when the request
    /// came with a bearer token that [`ApiAuthMiddleware`](super::ApiAuthMiddleware) refused,
    /// [`invalid_token`](Self::invalid_token) instead.
    pub fn not_authenticated(req: &HttpRequest) -> Self {
        use actix_web::HttpMessage as _;
        if req
            .extensions()
            .get::<crate::session::guard::RefusedToken>()
            .is_some()
        {
            return Self::invalid_token(req);
        }
        Self::in_language_of(req, pow_core::api::ApiError::not_authenticated)
    }

    /// `401` for a token that is forged, expired, used or revoked
    /// (`WWW-Authenticate: Bearer error="invalid_token"`), with the code `invalid_token`
    /// and the translated `api-invalid-token` text.
    pub fn invalid_token(req: &HttpRequest) -> Self {
        Self::in_language_of(req, pow_core::api::ApiError::invalid_token)
    }

    /// `401` for a wrong user id or password, with the generic, translated
    /// `invalid_credentials` text: it never tells which part was wrong.
    pub fn invalid_credentials(req: &HttpRequest, config: &PowConfig) -> Self {
        let lang = language(req, Some(config));
        Self(pow_core::api::ApiError::invalid_credentials(config, &lang))
    }

    /// `400` for a body that is not a JSON object of the expected shape.
    pub fn invalid_request(req: &HttpRequest) -> Self {
        Self::in_language_of(req, pow_core::api::ApiError::invalid_request)
    }

    /// `400 invalid_request` for a JSON object without the `user` object its fields go
    /// under (a flat `{"email": ..., "password": ...}`), with the `api-user-params-missing`
    /// text saying so.
    pub fn missing_user_params(req: &HttpRequest) -> Self {
        Self::in_language_of(req, pow_core::api::ApiError::missing_user_params)
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
        Self(pow_core::api::ApiError::validation(
            config, &lang, message, cs,
        ))
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
        let lang = language(req, Some(config));
        pow_core::api::ApiError::check_email(config, &lang, field, value).map_err(Self)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The client-facing answer to `err`, without logging it.
    pub(crate) fn of_pow_error(err: &PowError) -> Self {
        Self(pow_core::api::ApiError::of_pow_error(err))
    }
}

/// The engine's accessors (`message`, `errors`, `code`, `answered_code`, `retry_after`,
/// `pending_steps`, ...) read through; [`status`](ApiError::status) is actix's type.
impl std::ops::Deref for ApiError {
    type Target = pow_core::api::ApiError;

    fn deref(&self) -> &pow_core::api::ApiError {
        &self.0
    }
}

impl From<PowError> for ApiError {
    fn from(err: PowError) -> Self {
        Self(err.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self(err.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        crate::session::guard::json_answer(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header;
    use actix_web::HttpMessage as _;

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
        let english = pow_core::api::text(None, &unic_langid::langid!("en"), "api-busy");
        let german = pow_core::api::text(None, &unic_langid::langid!("de"), "api-busy");

        // Without a request (`?` in a handler) the text is English, waiting for a language.
        let err = ApiError::from(PowError::Busy);
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.message(), english);
        assert!(err.engine().is_untranslated());

        let err = err.localized(&request("de-DE,de;q=0.9"));
        assert!(!err.engine().is_untranslated());
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

        // A translated error stays as it is.
        let french = ApiError::from(PowError::Busy).localized(&request("fr"));
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
        let err = ApiError::from(PowError::Busy).localized(&req);
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

//! Guards for scopes and resources, and how they answer.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use futures_util::future::{Either, MapOk, TryFutureExt};

use super::{CookieSessionExt as _, CurrentSession};
use crate::config::PowConfig;
use crate::error::PowError;

#[doc(no_inline)]
pub use pow_core::pages::ErrorHandler;
use pow_core::pipeline::Refusal;

/// Marks a request whose bearer token was refused (forged, expired, revoked or signed
/// out), in the request extensions: its `401` answers say `invalid_token`, so that an app
/// tells "sign in again" apart from "this needs a sign-in".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RefusedToken;

/// The answer to a request refused for who is signed in (`refusal`): the guard's own
/// `explicit` handler, else the middleware's, where it gives one; else, behind the API's
/// middlewares, the API's JSON error whatever the `Accept` header; else the engine's
/// ([`access_answer`](pow_core::framework::page::access_answer)). Without a setup on the
/// request (no [`PowSessionMiddleware`](super::PowSessionMiddleware) in front), the
/// configuration error, logged: `500`, as pow-axum answers a route outside its layer.
pub(crate) fn refused(
    req: &HttpRequest,
    explicit: Option<&Arc<dyn ErrorHandler>>,
    refusal: &Refusal,
) -> HttpResponse {
    use crate::session::CookieSessionExt as _;
    let Some(config) = super::config(req) else {
        return PowErrorExt::error_response(&super::request::no_config());
    };
    let setup = super::request_setup(req);
    let handler = explicit.or_else(|| setup.and_then(|setup| setup.error_handler.as_ref()));
    let lang = crate::messages::request_language(
        &super::facts::ActixRequest(req).facts(),
        config.messages(),
    );
    let request = super::facts::page_request(req);
    let handler = handler.map(|handler| handler.as_ref());
    let bearer = (setup.is_some_and(|setup| setup.json))
        .then(|| req.extensions().contains::<RefusedToken>());
    respond(pow_core::framework::page::access_answer(
        &config,
        &lang,
        &request,
        &req.cookie_session(),
        refusal,
        handler,
        bearer,
    ))
}

/// The engine's JSON error answer as an actix response: its status, headers
/// (`Cache-Control: no-store`, `WWW-Authenticate`, `Retry-After`) and envelope.
pub(crate) fn json_answer(err: &pow_core::api::ApiError) -> HttpResponse {
    respond(pow_core::api::ApiAnswer::error(err))
}

/// The actix response of an engine's JSON answer ([`ApiAnswer`](pow_core::api::ApiAnswer)):
/// its status, headers and body.
pub fn respond(answer: pow_core::api::ApiAnswer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    for (name, value) in answer.headers {
        res.insert_header((name, value));
    }
    match answer.body {
        Some(body) => res.body(body),
        None => res.finish(),
    }
}

/// Whether the client asked for JSON: an `Accept` or `Content-Type` header naming
/// `application/json` or a `+json` type.
pub fn wants_json(req: &HttpRequest) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    pow_core::framework::page::wants_json(header(header::ACCEPT), header(header::CONTENT_TYPE))
}

/// Marks a request served by [`ApiAuthMiddleware`](crate::api::ApiAuthMiddleware) (in the
/// request extensions), so that app code can tell API requests apart; see
/// [`is_api_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiRequest;

/// Marks, in the app data, a resource mounted by
/// [`ApiContext::resource`](crate::api::ApiContext::resource).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ApiResource;

/// Whether `req` is an API request: served by
/// [`ApiAuthMiddleware`](crate::api::ApiAuthMiddleware) or routed to an endpoint registered
/// with [`ApiContext::resource`](crate::api::ApiContext::resource).
pub fn is_api_request(req: &HttpRequest) -> bool {
    req.extensions().contains::<ApiRequest>() || req.app_data::<ApiResource>().is_some()
}

/// The answer of [`RequireStepUp`] to a signed-in request that does not meet `rule` (or
/// that is support access), or `None` to let it through. JSON clients ([`wants_json`])
/// and API requests ([`is_api_request`]: a bearer token's) get the API's error answer.
fn step_up_answer(
    req: &HttpRequest,
    config: &PowConfig,
    rule: &super::StepUp,
) -> Option<HttpResponse> {
    let Some(current) = super::current_session(req) else {
        return Some(refused(req, None, &Refusal::NotAuthenticated));
    };
    pow_core::framework::page::step_up_answer(config, &current, rule, || {
        let lang = crate::messages::request_language(
            &super::facts::ActixRequest(req).facts(),
            config.messages(),
        );
        let json = wants_json(req) || is_api_request(req);
        (super::facts::page_request(req), lang, json)
    })
    .map(respond)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Require {
    SignedIn,
    Anonymous,
    StepUp(Arc<super::StepUp>),
}

/// Lets only signed-in users through; answers others with
/// the [`ErrorHandler`]'s answer (the engine's by default).
///
/// Use it on a scope or resource behind [`PowSessionMiddleware`](super::PowSessionMiddleware)
/// (without it every guard answers `500`, the app's setup being wrong, as on axum):
///
/// ```
/// # use actix_web::{web, HttpResponse};
/// use pow_actix::session::RequireAuthenticated;
/// let scope = web::scope("/account")
///     .wrap(RequireAuthenticated::new())
///     .route("", web::get().to(HttpResponse::Ok));
/// ```
#[derive(Clone, Default)]
pub struct RequireAuthenticated {
    handler: Option<Arc<dyn ErrorHandler>>,
}

impl std::fmt::Debug for RequireAuthenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireAuthenticated")
            .finish_non_exhaustive()
    }
}

impl RequireAuthenticated {
    /// The guard, answering with the middleware's [`ErrorHandler`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The guard, answering with `handler`.
    pub fn with_handler(handler: impl ErrorHandler) -> Self {
        Self {
            handler: Some(Arc::new(handler)),
        }
    }
}

/// Lets only anonymous visitors through (sign-in and registration pages); answers
/// signed-in users with the [`ErrorHandler`]'s answer (the engine's by default).
#[derive(Clone, Default)]
pub struct RequireNotAuthenticated {
    handler: Option<Arc<dyn ErrorHandler>>,
}

impl std::fmt::Debug for RequireNotAuthenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireNotAuthenticated")
            .finish_non_exhaustive()
    }
}

impl RequireNotAuthenticated {
    /// The guard, answering with the middleware's [`ErrorHandler`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The guard, answering with `handler`.
    pub fn with_handler(handler: impl ErrorHandler) -> Self {
        Self {
            handler: Some(Arc::new(handler)),
        }
    }
}

/// Lets only signed-in users whose session meets a [`StepUp`](super::StepUp) rule
/// through, like [`Action::step_up`](crate::web::Action::step_up) for a whole scope: an
/// anonymous visitor gets the [`ErrorHandler`]'s answer; a browser that does not
/// meet the rule goes to a page performing an accepted method and back; JSON gets `403
/// step_up_required` with the accepted methods; support access gets `403`.
///
/// ```
/// # use std::time::Duration;
/// # use actix_web::{web, HttpResponse};
/// use pow_actix::session::{RequireStepUp, StepUp};
/// let scope = web::scope("/payouts")
///     .wrap(RequireStepUp::new(StepUp::second_factor(Duration::from_secs(300))))
///     .route("", web::get().to(HttpResponse::Ok));
/// ```
#[derive(Clone)]
pub struct RequireStepUp {
    rule: Arc<super::StepUp>,
    handler: Option<Arc<dyn ErrorHandler>>,
}

impl std::fmt::Debug for RequireStepUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireStepUp")
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

impl RequireStepUp {
    /// The guard for `rule`, answering anonymous visitors with the middleware's
    /// [`ErrorHandler`].
    pub fn new(rule: super::StepUp) -> Self {
        Self {
            rule: Arc::new(rule),
            handler: None,
        }
    }
}

macro_rules! guard_transform {
    ($guard:ty, $require:expr) => {
        impl<S, B> Transform<S, ServiceRequest> for $guard
        where
            S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
            S::Future: 'static,
            B: 'static,
        {
            type Response = ServiceResponse<EitherBody<B>>;
            type Error = actix_web::Error;
            type Transform = GuardService<S>;
            type InitError = ();
            type Future = Ready<Result<Self::Transform, Self::InitError>>;

            fn new_transform(&self, service: S) -> Self::Future {
                ready(Ok(GuardService {
                    service,
                    require: $require(self),
                    handler: self.handler.clone(),
                }))
            }
        }
    };
}

guard_transform!(RequireAuthenticated, |_| Require::SignedIn);
guard_transform!(RequireNotAuthenticated, |_| Require::Anonymous);
guard_transform!(RequireStepUp, |guard: &RequireStepUp| Require::StepUp(
    Arc::clone(&guard.rule)
));

/// The service built by [`RequireAuthenticated`], [`RequireNotAuthenticated`] and
/// [`RequireStepUp`].
pub struct GuardService<S> {
    service: S,
    require: Require,
    handler: Option<Arc<dyn ErrorHandler>>,
}

type IntoLeft<B> = fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>;

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<
        MapOk<S::Future, IntoLeft<B>>,
        Ready<Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>,
    >;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let signed_in = req.extensions().contains::<CurrentSession>();
        let into_left: IntoLeft<B> = ServiceResponse::map_into_left_body;
        if let (Require::StepUp(rule), true) = (&self.require, signed_in) {
            let answer = match super::request_config(req.request()) {
                Some(config) => step_up_answer(req.request(), &config, rule),
                // No setup to read the rule against: refuse rather than let it through.
                None => Some(PowErrorExt::error_response(
                    &crate::error::PowError::Config(
                        "RequireStepUp needs PowSessionMiddleware in front of it".into(),
                    ),
                )),
            };
            return match answer {
                None => Either::Left(self.service.call(req).map_ok(into_left)),
                Some(answer) => {
                    Either::Right(ready(Ok(req.into_response(answer).map_into_right_body())))
                }
            };
        }
        if signed_in == (self.require != Require::Anonymous) {
            return Either::Left(self.service.call(req).map_ok(into_left));
        }
        let (req, _payload) = req.into_parts();
        let refusal = match self.require {
            Require::SignedIn | Require::StepUp(_) => Refusal::NotAuthenticated,
            Require::Anonymous => Refusal::AlreadyAuthenticated,
        };
        let response = refused(&req, self.handler.as_ref(), &refusal);
        Either::Right(ready(Ok(
            ServiceResponse::new(req, response).map_into_right_body()
        )))
    }
}

/// The actix answer of a [`PowError`] (what [`Error`](crate::web::Error) answers).
pub trait PowErrorExt {
    /// The status the error answers with.
    fn status_code(&self) -> StatusCode;
    /// The opaque page the error answers with.
    fn error_response(&self) -> HttpResponse;
}

impl PowErrorExt for PowError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        self.log_answered();
        if let Some(secs) = self.retry_after_secs() {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        res.content_type("text/plain; charset=utf-8")
            .body(status.canonical_reason().unwrap_or("Error"))
    }
}

/// The page answering `error`, when it is one a visitor should see: `503 Service
/// Unavailable` (page `"error/unavailable"`) for [`PowError::Busy`] (password hashing
/// saturated), [`PowError::Store`] (the cache store is down) and
/// [`PowError::DatabaseUnavailable`] (the users database is down), `429 Too Many Requests`
/// (page `"error/rate_limited"`) for [`PowError::RateLimited`]. A translated page with
/// `Retry-After`; `None` for other errors and for clients that ask for JSON rather than HTML.
pub fn unavailable_page(
    req: &HttpRequest,
    config: &PowConfig,
    error: &PowError,
) -> Option<HttpResponse> {
    let lang = crate::messages::request_language(
        &super::facts::ActixRequest(req).facts(),
        config.messages(),
    );
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let current = super::current_session(req);
    let cookie = req.cookie_session();
    pow_core::framework::page::error_page_answer(
        config,
        &lang,
        accept,
        &cookie,
        current.as_ref(),
        error,
    )
    .map(respond)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    /// The refusal's redirect, for `req` served by a default setup.
    fn sign_in_location(req: TestRequest) -> String {
        let req = req.to_http_request();
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        req.extensions_mut().insert(config);
        let res = refused(&req, None, &Refusal::NotAuthenticated);
        assert_eq!(res.status(), StatusCode::FOUND);
        let location = res.headers().get(header::LOCATION).unwrap();
        location.to_str().unwrap().to_owned()
    }

    #[test]
    fn request_path_only_for_local_get_paths() {
        assert_eq!(
            sign_in_location(TestRequest::get().uri("/a/b?x=1&y=%2F")),
            "/session/new?request_path=%2Fa%2Fb%3Fx%3D1%26y%3D%252F"
        );
        assert_eq!(
            sign_in_location(TestRequest::post().uri("/a/b")),
            "/session/new"
        );
        assert_eq!(
            sign_in_location(TestRequest::get().uri("//evil.example/x")),
            "/session/new"
        );
        assert!(crate::config::local_path("/").is_some());
        assert!(crate::config::local_path("/\\evil").is_none());
        assert!(crate::config::local_path("").is_none());
    }

    #[test]
    fn without_a_setup_a_refusal_is_the_configuration_error() {
        for refusal in [Refusal::NotAuthenticated, Refusal::AlreadyAuthenticated] {
            let req = TestRequest::get()
                .uri("/account")
                .insert_header((header::ACCEPT, "application/json"))
                .to_http_request();
            let res = refused(&req, None, &refusal);
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(res.headers().get(header::LOCATION).is_none());
        }
    }

    #[test]
    fn json_detection() {
        let json = TestRequest::get()
            .insert_header((header::ACCEPT, "application/json"))
            .to_http_request();
        assert!(wants_json(&json));
        let problem = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/problem+json"))
            .to_http_request();
        assert!(wants_json(&problem));
        let html = TestRequest::get()
            .insert_header((
                header::ACCEPT,
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ))
            .to_http_request();
        assert!(!wants_json(&html));
    }
}

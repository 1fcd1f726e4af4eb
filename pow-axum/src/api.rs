//! The JSON API on axum: the engine's route table ([`pow_core::api::routes`], the same one
//! pow-actix mounts) in both transports, and [`ApiLayer`], which signs in the client of a
//! bearer access token for the app's own JSON routes.
//!
//! ```
//! use axum::{routing::get, Router};
//! use pow_axum::api::{self, ApiLayer, ApiOptions, BrowserTransport};
//! use pow_axum::{CurrentUser, PowLayer};
//!
//! let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
//! let options = ApiOptions::new().browser(BrowserTransport::new());
//! let app: Router = Router::new()
//!     // POST /api/v1/registration, POST|DELETE /api/v1/session, POST /api/v1/session/renew,
//!     // every enabled extension's, and the same under /api/v1/browser (session cookie).
//!     .merge(api::router(&config, options))
//!     .route("/api/v1/me", get(|CurrentUser(user): CurrentUser| async move { format!("{}", user.id) }))
//!     // Signs in the bearer token's client for the app's routes (`/api/v1/me`).
//!     .layer(ApiLayer::new(config));
//! ```
//!
//! The bearer transport reads no cookie: keep its routes out of [`PowLayer`](crate::PowLayer)
//! (merge the API router after the layered pages, or into a router of its own) and allow
//! no credentials in a CORS policy for them. The browser transport's routes carry their own
//! [`PowLayer`](crate::PowLayer) and, before it, the check that a state-changing request
//! comes from a trusted origin (`403 cross_site_request`, before the cookie is read). The
//! answers (status, headers, envelope, texts) are the engine's ([`ApiAnswer`]), byte for
//! byte what pow-actix sends.

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
pub use pow_core::api::*;
use pow_core::framework::api::{
    bearer_of, by_path, cross_site, run, ApiCall, ApiInput, OriginFacts, TrustedOrigins,
};
use pow_core::pages::routes::{QueryParams, Verb};
use pow_core::pages::ErrorHandler;
use pow_core::session::tokens::Tokens;
use pow_core::session::CookieSession;
use pow_core::PowConfig;

use crate::extract::{Pow, RequestState, StateInner};
use crate::service::{Answer, Route, Wrap, Wrapped};

/// The JSON API of `config` with `options`: every route of the engine's table (the core's
/// and each enabled extension's) under the options' prefix, the OpenAPI document, and with
/// [`ApiOptions::browser`] the browser transport's routes under theirs. See the
/// [module](self).
pub fn router<S: Clone + Send + Sync + 'static>(
    config: &PowConfig,
    options: ApiOptions,
) -> Router<S> {
    let bearer = ApiService::new(config.clone(), options.clone());
    let mut router = transport(&bearer);
    if let (Some(browser), Some(settings)) = (bearer.browser(), options.browser_transport()) {
        let origins = Arc::new((config.clone(), TrustedOrigins::new(config, settings)));
        let screened = transport(&browser)
            .layer(crate::PowLayer::new(config.clone()))
            .layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    let origins = Arc::clone(&origins);
                    async move { screen(&origins.0, &origins.1, req, next).await }
                },
            ));
        router = router.merge(screened);
    }
    let config = config.clone();
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let config = config.clone();
            async move { json_405(&config, req, next).await }
        },
    ))
}

/// Runs `req`, and answers a bare `405` (a method the route does not take) as the API's
/// JSON answer ([`json_if_bare_405`]).
async fn json_405(config: &PowConfig, req: Request, next: Next) -> Response {
    let accept_language = req.headers().get(header::ACCEPT_LANGUAGE).cloned();
    json_if_bare_405(config, accept_language, next.run(req).await)
}

/// `res`, or for a bare `405` (axum's own, with no body) the API's JSON answer
/// ([`ApiError::method_not_allowed`]) in the language `accept_language` asks for, its
/// `Allow` header kept. Nothing is read from the request unless it is one.
fn json_if_bare_405(
    config: &PowConfig,
    accept_language: Option<HeaderValue>,
    res: Response,
) -> Response {
    if res.status() != StatusCode::METHOD_NOT_ALLOWED
        || axum::body::HttpBody::size_hint(res.body()).exact() != Some(0)
    {
        return res;
    }
    let facts = pow_core::request::RequestFacts {
        accept_language: accept_language.and_then(|v| v.to_str().ok().map(str::to_owned)),
        ..Default::default()
    };
    let lang = language(Some(config), &facts);
    let mut answer = crate::api_response(&ApiError::method_not_allowed(Some(config), &lang));
    if let Some(allow) = res.headers().get(header::ALLOW) {
        answer.headers_mut().insert(header::ALLOW, allow.clone());
    }
    answer
}

/// The routes of one transport.
fn transport<S: Clone + Send + Sync + 'static>(api: &ApiService) -> Router<S> {
    let mut router = Router::new();
    for (path, here) in by_path(api.routes()) {
        let mut methods = MethodRouter::new();
        for route in here {
            let filter = match route.verb {
                Verb::Get => MethodFilter::GET,
                Verb::Post => MethodFilter::POST,
                Verb::Patch => MethodFilter::PATCH,
                Verb::Put => MethodFilter::PUT,
                Verb::Delete => MethodFilter::DELETE,
            };
            let (route, api) = (Arc::new(route), api.clone());
            methods = methods.on(filter, move |req: Request| {
                serve(req, Arc::clone(&route), api.clone())
            });
        }
        router = router.route(&api.path(path), methods);
    }
    router
}

/// Refuses a state-changing request on the browser transport that does not come from a
/// trusted origin, before anything reads its cookie.
async fn screen(
    config: &PowConfig,
    origins: &TrustedOrigins,
    req: Request,
    next: Next,
) -> Response {
    let own = crate::facts::origin(req.method(), req.headers(), req.uri());
    let headers = req.headers();
    let allowed = origins.allows(OriginFacts {
        safe_method: matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
        origin: headers.get(header::ORIGIN).map(|v| v.to_str().ok()),
        sec_fetch_site: headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        own_origin: &own,
    });
    if allowed {
        return next.run(req).await;
    }
    tracing::info!(
        origin = ?req.headers().get(header::ORIGIN),
        "refused a cross-site request on the browser transport"
    );
    let (parts, _) = req.into_parts();
    let facts = crate::facts::read(&parts, config);
    let lang = language(Some(config), &facts);
    crate::api_response(&cross_site(Some(config), &lang))
}

/// Runs `route` of `api` for `req`.
async fn serve(mut req: Request, route: Arc<ApiRoute>, api: ApiService) -> Response {
    let path = match crate::web::path_params(&mut req, route.path).await {
        Ok(path) => path,
        Err(rejection) => return rejection,
    };
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let facts = crate::facts::read(&parts, api.config());
    let input = ApiInput {
        path,
        query: QueryParams::parse(parts.uri.query().unwrap_or_default()),
        captcha: parts
            .headers
            .get(pow_core::captcha::CAPTCHA_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let answer = if api.is_browser() {
        let Some(state) = parts.extensions.get::<RequestState>() else {
            return crate::PowRejection::MissingLayer("the browser transport").into_response();
        };
        let mut pow = Pow::read(&parts, Arc::clone(&state.0));
        let cookies = crate::extract::request_cookies(&parts.headers);
        let mut call = ApiCall::new(api, facts, body.to_vec()).browser(&mut pow, cookies);
        run(&route, &mut call, input).await
    } else {
        // Only a bearer layer's session: a cookie session never signs in a bearer request.
        let current = parts
            .extensions
            .get::<RequestState>()
            .filter(|state| state.0.bearer.is_some())
            .and_then(|state| state.0.current.clone());
        let token = authorization(&parts).map(str::to_owned);
        let mut call = ApiCall::new(api, facts, body.to_vec()).bearer(token, current);
        run(&route, &mut call, input).await
    };
    response(answer)
}

/// The bearer token of the request's `Authorization` header.
fn authorization(parts: &Parts) -> Option<&str> {
    bearer_of(parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// A success in the API's envelope, `{"status": 200, "data": ...}`, never stored: what an
/// app's own JSON route answers (as pow-actix's `api::answer`).
///
/// ```
/// let res = pow_axum::api::answer(200, serde_json::json!({ "id": 1 }));
/// assert_eq!(res.headers()["cache-control"], "no-store");
/// ```
pub fn answer(status: u16, data: impl serde::Serialize) -> Response {
    response(ApiAnswer::data(status, data))
}

/// The axum response of `answer`.
pub fn response(answer: ApiAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = match answer.body {
        Some(body) => (status, body).into_response(),
        None => status.into_response(),
    };
    for (name, value) in answer.headers {
        match HeaderValue::try_from(value) {
            Ok(value) => {
                res.headers_mut()
                    .insert(HeaderName::from_static(name), value);
            }
            Err(err) => {
                tracing::error!(error = %err, "an API answer's header is not a header value")
            }
        }
    }
    res
}

/// The tower layer of the bearer transport for the app's own JSON routes: resolves an
/// `Authorization: Bearer <access token>` once per request (signature first, then the
/// store, the revocation generation and the user), so that [`CurrentUser`](crate::CurrentUser)
/// and [`MaybeUser`](crate::MaybeUser) work as behind [`PowLayer`](crate::PowLayer). It
/// reads no cookie. A route that needs a user answers a client without one `401` in the
/// API's envelope (`WWW-Authenticate: Bearer`; the code `invalid_token` when the token that
/// came was refused), whatever its `Accept` header; a failing store answers `503`.
///
/// # Example
/// ```
/// use axum::{routing::get, Router};
/// use pow_axum::api::{self, ApiLayer, ApiOptions};
/// use pow_axum::{CurrentUser, PowConfig};
///
/// let config = PowConfig::builder("s".repeat(64)).build()?;
/// let app: Router = Router::new()
///     .route("/api/v1/me", get(|CurrentUser(user): CurrentUser| async move {
///         api::answer(200, serde_json::json!({ "id": user.id }))
///     }))
///     .layer(ApiLayer::new(config.clone()))
///     // The engine's JSON endpoints (sign-in, tokens, ...) and the OpenAPI document.
///     .merge(api::router(&config, ApiOptions::new()));
/// # Ok::<(), pow_axum::PowError>(())
/// ```
#[derive(Clone)]
pub struct ApiLayer {
    shared: Arc<Shared>,
}

struct Shared {
    config: PowConfig,
    tokens: Tokens,
    /// The app's answers to refused requests ([`ApiLayer::error_handler`]).
    error_handler: Option<Arc<dyn ErrorHandler>>,
}

impl std::fmt::Debug for ApiLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiLayer").finish_non_exhaustive()
    }
}

impl ApiLayer {
    /// The layer of `config`.
    pub fn new(config: PowConfig) -> Self {
        Self::build(config, None)
    }

    fn build(config: PowConfig, error_handler: Option<Arc<dyn ErrorHandler>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                tokens: Tokens::new(&config).with_decode_cache(),
                config,
                error_handler,
            }),
        }
    }

    /// Answers the app's routes' refused requests (the signed-in user's extractor without
    /// a valid token) with `handler`, where it gives an answer; the API's JSON `401`
    /// otherwise. See [`PowLayer::error_handler`](crate::PowLayer::error_handler).
    pub fn error_handler(self, handler: impl ErrorHandler) -> Self {
        Self::build(self.shared.config.clone(), Some(Arc::new(handler)))
    }
}

impl<S> tower_layer::Layer<S> for ApiLayer {
    type Service = ApiLayerService<S>;

    fn layer(&self, route: S) -> ApiLayerService<S> {
        Wrapped::new(route, self.clone())
    }
}

/// The service [`ApiLayer`] wraps a route in.
pub type ApiLayerService<S> = Wrapped<S, ApiLayer>;

impl Wrap for ApiLayer {
    fn wrap(&self, mut req: Request, mut inner: impl Route) -> Answer {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_of)
                .map(str::to_owned);
            let current = match &token {
                Some(token) => match shared.tokens.authenticate(token).await {
                    Ok(current) => current,
                    Err(err) => {
                        let (parts, _) = req.into_parts();
                        let facts = crate::facts::read(&parts, &shared.config);
                        let lang = language(Some(&shared.config), &facts);
                        let answer = ApiError::from(err).localized(Some(&shared.config), &lang);
                        return Ok(crate::api_response(&answer));
                    }
                },
                None => None,
            };
            let refused = token.is_some() && current.is_none();
            let accept_language = req.headers().get(header::ACCEPT_LANGUAGE).cloned();
            req.extensions_mut()
                .insert(RequestState(Arc::new(StateInner {
                    config: shared.config.clone(),
                    cookie: CookieSession::default(),
                    current,
                    queued: std::sync::Mutex::default(),
                    bearer: Some(refused),
                    error_handler: shared.error_handler.clone(),
                })));
            let res = inner.call(req).await?.into_response();
            // A method the app's route does not take: the API's JSON `405`.
            Ok(json_if_bare_405(&shared.config, accept_language, res))
        })
    }
}

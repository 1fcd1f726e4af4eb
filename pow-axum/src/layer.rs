//! [`PowLayer`]: finds who is signed in, once per request.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use pow_core::extension::RequestHook;
use pow_core::pages::routes::AssetPaths;
use pow_core::pages::ErrorHandler;
use pow_core::session::cookie::{resolve, CookieCodec, CookieSession, CookieState};
use pow_core::session::CredentialsCache;
use pow_core::{PowConfig, PowError};

use crate::extract::{request_cookies, Pow, RequestState, StateInner};
use crate::response::error_response;
use crate::service::{Answer, Route, Wrap, Wrapped};

/// The tower [`Layer`](tower_layer::Layer) of a pow-rs setup: put it on a [`Router`]
/// (`router.layer(PowLayer::new(config))`) and every route below it knows who is signed
/// in.
///
/// Per request it:
///
/// 1. opens the session cookie: the same signed format, keys and attributes as the
///    actix-web layer, so a browser signed in on one is signed in on the other;
/// 2. resolves the session in the store (missing, expired or revoked: anonymous; past the
///    absolute lifetime: ended; due for renewal: rotated, with the same grace for
///    parallel requests as on actix-web);
/// 3. puts the setup, the [`CookieSession`] and the
///    [`CurrentSession`](pow_core::session::CurrentSession) into the request's extensions
///    (one entry), where the [extractors](crate::CurrentUser) read them;
/// 4. runs the extensions' request hooks whose cookies the request carries (a remember-me
///    cookie signs the browser in again), as the actix-web layer does;
/// 5. sets the cookie on the response when the session changed, after the cookies a
///    handler or a hook queued (the device cookie of a sign-in, a rotated remember-me
///    cookie).
///
/// The request's [`RequestFacts`](pow_core::request::RequestFacts) (the client's address
/// through the setup's trusted proxies, the user agent, the languages, the origin) are
/// read by the [`Pow`](crate::Pow) extractor, not on every request. The client's address
/// needs the server's [`ConnectInfo`](axum::extract::ConnectInfo) (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`).
///
/// A store that fails answers `503 Service Unavailable` with `Retry-After`.
///
/// # Example
/// ```no_run
/// use std::net::SocketAddr;
/// use axum::{routing::get, Router};
/// use pow_axum::{CurrentUser, PowConfig, PowLayer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = PowConfig::builder("s".repeat(64)).build()?;
/// let app = Router::new()
///     .route("/me", get(|user: CurrentUser| async move { format!("user {}", user.id) }))
///     .merge(pow_axum::web::router(&config))
///     // Last: a layer wraps the routes added before it.
///     .layer(PowLayer::new(config));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
/// # Ok(())
/// # }
/// ```
///
/// [`Router`]: axum::Router
#[derive(Clone)]
pub struct PowLayer {
    shared: Arc<Shared>,
}

struct Shared {
    config: PowConfig,
    codec: CookieCodec,
    credentials: CredentialsCache,
    /// The extensions' request hooks, each with the names of the cookies it reads.
    hooks: Box<[HookWithCookies]>,
    /// The extensions' static files, answered without a session.
    assets: AssetPaths,
    /// The app's answers to refused requests ([`PowLayer::error_handler`]).
    error_handler: Option<Arc<dyn ErrorHandler>>,
}

/// A request hook and the names of the cookies it reads.
type HookWithCookies = (Arc<dyn RequestHook>, Box<[String]>);

impl std::fmt::Debug for PowLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowLayer")
            .field("cookie", &self.shared.codec)
            .finish_non_exhaustive()
    }
}

impl PowLayer {
    /// The layer of `config`.
    pub fn new(config: PowConfig) -> Self {
        Self::build(config, None)
    }

    fn build(config: PowConfig, error_handler: Option<Arc<dyn ErrorHandler>>) -> Self {
        let hooks = config
            .extensions()
            .request_hooks()
            .iter()
            .map(|hook| (Arc::clone(hook), hook.cookies(&config).into_boxed_slice()))
            .collect();
        Self {
            shared: Arc::new(Shared {
                codec: CookieCodec::new(&config),
                credentials: CredentialsCache::new(&config).with_decode_cache(),
                hooks,
                assets: AssetPaths::new(&config),
                config,
                error_handler,
            }),
        }
    }

    /// Answers requests refused for who is signed in (the signed-in user's extractor, the
    /// step-up guard's anonymous visitors, the pages' access rules) with `handler`, where
    /// it gives an answer; the engine's answer otherwise. The same trait as pow-actix's
    /// `PowMiddleware::error_handler`.
    ///
    /// ```
    /// use pow_axum::pages::{ErrorHandler, HttpAnswer, PageRequest};
    /// use pow_axum::pipeline::Refusal;
    /// use pow_axum::{messages::LanguageIdentifier, PowConfig, PowLayer};
    ///
    /// struct Teapot;
    ///
    /// impl ErrorHandler for Teapot {
    ///     fn answer(
    ///         &self,
    ///         _: &PowConfig,
    ///         _: &LanguageIdentifier,
    ///         _: &PageRequest,
    ///         _: &Refusal,
    ///     ) -> Option<HttpAnswer> {
    ///         Some(HttpAnswer::text(418, "no", None))
    ///     }
    /// }
    ///
    /// let config = PowConfig::builder("s".repeat(64)).build().unwrap();
    /// let layer = PowLayer::new(config).error_handler(Teapot);
    /// ```
    pub fn error_handler(self, handler: impl ErrorHandler) -> Self {
        Self::build(self.shared.config.clone(), Some(Arc::new(handler)))
    }

    /// The setup this layer serves.
    pub fn config(&self) -> &PowConfig {
        &self.shared.config
    }
}

impl<S> tower_layer::Layer<S> for PowLayer {
    type Service = PowService<S>;

    fn layer(&self, route: S) -> PowService<S> {
        Wrapped::new(route, self.clone())
    }
}

/// The service [`PowLayer`] wraps a route in.
pub type PowService<S> = Wrapped<S, PowLayer>;

impl Wrap for PowLayer {
    fn wrap(&self, mut req: Request, mut inner: impl Route) -> Answer {
        let shared = Arc::clone(&self.shared);
        if shared.assets.contains_either(req.uri().path()) {
            // An extension's static file (by its whole path, or its path under the mount
            // point when the layer sits in a router nested there): no session is read or
            // renewed, so no cookie rides on an answer shared caches may keep.
            return Box::pin(async move { Ok(inner.call(req).await?.into_response()) });
        }
        Box::pin(async move {
            if let Some(refused) = oversized_cookies(&req) {
                return Ok(refused);
            }
            let codec = &shared.codec;
            let cookies = req.headers().get_all(COOKIE).into_iter();
            let opened = codec
                .find(cookies.map(HeaderValue::as_bytes))
                .map(|value| codec.open_remembered(value).unwrap_or_default());
            let had_cookie = opened.is_some();
            let cookie = CookieSession::new(opened.unwrap_or_else(CookieState::empty));
            let current = if had_cookie {
                match resolve(&shared.config, &shared.credentials, &cookie).await {
                    Ok(current) => current,
                    Err(err) => return Ok(failed(req, &shared.config, &cookie, &err)),
                }
            } else {
                None
            };
            let mut state = Arc::new(StateInner {
                config: shared.config.clone(),
                cookie,
                current,
                queued: std::sync::Mutex::default(),
                bearer: None,
                error_handler: shared.error_handler.clone(),
            });
            if !shared.hooks.is_empty() {
                // Boxed: the hooks' state stays out of every request's future.
                match Box::pin(run_hooks(&shared, req, state)).await {
                    Ok((hooked, hooked_state)) => (req, state) = (hooked, hooked_state),
                    Err(err) => return Ok(error_response(&err)),
                }
            }
            req.extensions_mut()
                .insert(RequestState(Arc::clone(&state)));
            let mut res = inner.call(req).await?.into_response();
            let session_cookie = state.cookie.response_cookie(codec, had_cookie);
            let queued = RequestState(Arc::clone(&state)).take_queued();
            for cookie in queued.into_iter().chain(session_cookie) {
                match HeaderValue::try_from(cookie.to_string()) {
                    Ok(value) => {
                        res.headers_mut().append(SET_COOKIE, value);
                    }
                    Err(err) => tracing::error!(error = %err, "a cookie is not a header value"),
                }
            }
            Ok(res)
        })
    }
}

/// The `431` answer to a request with more than
/// [`MAX_COOKIE_BYTES`](pow_core::session::cookie::MAX_COOKIE_BYTES) of cookies, refused
/// before any of them is read, as on actix-web.
fn oversized_cookies(req: &Request) -> Option<Response> {
    use pow_core::session::cookie::{MAX_COOKIE_BYTES, OVERSIZED_COOKIES_TEXT};
    let total: usize = req
        .headers()
        .get_all(COOKIE)
        .iter()
        .map(HeaderValue::len)
        .sum();
    (total > MAX_COOKIE_BYTES).then(|| {
        tracing::warn!(bytes = total, "refused a request with oversized cookies");
        (
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            OVERSIZED_COOKIES_TEXT,
        )
            .into_response()
    })
}

/// The answer when the layer itself fails (the store is down): for a browser the
/// translated `503` page, as on actix-web; the error's plain answer otherwise.
fn failed(req: Request, config: &PowConfig, cookie: &CookieSession, err: &PowError) -> Response {
    let (parts, _) = req.into_parts();
    crate::web::error_page_answer(&parts, config, cookie, None, err)
        .unwrap_or_else(|| error_response(err))
}

/// Runs each extension's request hook whose cookies the request carries (a remember-me
/// cookie), in order, over the request as the engine's
/// [`Client`](pow_core::pipeline::Client), as the actix-web layer does once the session is
/// resolved: the session a hook starts is the request's, and the cookies it sets are
/// queued.
async fn run_hooks(
    shared: &Shared,
    req: Request,
    state: Arc<StateInner>,
) -> Result<(Request, Arc<StateInner>), PowError> {
    let cookies = request_cookies(req.headers());
    if cookies.is_empty() {
        return Ok((req, state));
    }
    let wanted: Vec<Arc<dyn RequestHook>> = shared
        .hooks
        .iter()
        .filter(|(_, names)| names.iter().any(|name| cookies.get(name).is_some()))
        .map(|(hook, _)| Arc::clone(hook))
        .collect();
    if wanted.is_empty() {
        return Ok((req, state));
    }
    let (parts, body) = req.into_parts();
    let mut client = Pow::read(&parts, Arc::clone(&state));
    for hook in wanted {
        hook.on_request(&shared.config, &mut client).await?;
    }
    let queued = RequestState(Arc::clone(&state)).take_queued();
    let state = Arc::new(StateInner {
        config: shared.config.clone(),
        cookie: state.cookie.clone(),
        current: client.current.take(),
        queued: std::sync::Mutex::new(queued),
        bearer: None,
        error_handler: state.error_handler.clone(),
    });
    Ok((Request::from_parts(parts, body), state))
}

//! Extractors: who is signed in, the cookie session and the setup of a request behind
//! [`PowLayer`](crate::PowLayer).

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pow_core::framework::request::RequestCookies;
use pow_core::framework::session::{BrowserSession, CookieQueue, HoldsBrowserSession};
use pow_core::pages::ErrorHandler;
use pow_core::pipeline::Refusal;
use pow_core::request::RequestFacts;
use pow_core::session::{CookieSession, CurrentSession};
use pow_core::users::User;
use pow_core::PowConfig;

/// Why an extractor refused a request.
#[derive(Debug)]
pub enum PowRejection {
    /// The route is not behind [`PowLayer`](crate::PowLayer): a mistake in the app's
    /// setup, answered `500` with a text that says so (and logged).
    MissingLayer(&'static str),
    /// A signed-in user is required: `401` with the API's error envelope for JSON
    /// requests, a redirect to the sign-in page (with the setup's flash message) for the
    /// others; both `Cache-Control: no-store`.
    NotAuthenticated(Response),
}

impl IntoResponse for PowRejection {
    fn into_response(self) -> Response {
        match self {
            Self::MissingLayer(extractor) => {
                let text = format!(
                    "pow-axum: `{extractor}` was used on a route that is not behind `PowLayer`; \
                     add `.layer(PowLayer::new(config))` to the router after this route"
                );
                tracing::error!("{text}");
                (StatusCode::INTERNAL_SERVER_ERROR, text).into_response()
            }
            Self::NotAuthenticated(res) => res,
        }
    }
}

/// What [`PowLayer`](crate::PowLayer) knows of one request, in its extensions (one entry,
/// shared with the layer, which sets the cookies once the handler answered): the cookie
/// queue of [`Pow`]'s browser session.
#[derive(Clone, Debug)]
pub struct RequestState(pub(crate) Arc<StateInner>);

pub(crate) struct StateInner {
    pub(crate) config: PowConfig,
    pub(crate) cookie: CookieSession,
    pub(crate) current: Option<CurrentSession>,
    /// Cookies to set on the response besides the session cookie (the device cookie).
    pub(crate) queued: Mutex<Vec<cookie::Cookie<'static>>>,
    /// Set by [`ApiLayer`](crate::api::ApiLayer): the session is a bearer token's, and
    /// whether a token came that was refused.
    pub(crate) bearer: Option<bool>,
    /// The app's answers to refused requests, set on the layer.
    pub(crate) error_handler: Option<Arc<dyn ErrorHandler>>,
}

impl std::fmt::Debug for StateInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateInner")
            .field("current", &self.current)
            .field("bearer", &self.bearer)
            .finish_non_exhaustive()
    }
}

/// The response's cookies, kept in the layer's state of the request.
impl CookieQueue for RequestState {
    fn queue(&mut self, cookie: cookie::Cookie<'static>) {
        let mut queued = self.0.queued.lock().unwrap_or_else(PoisonError::into_inner);
        queued.retain(|c| c.name() != cookie.name() || c.path() != cookie.path());
        queued.push(cookie);
    }

    fn unqueue(&mut self, name: &str) {
        let mut queued = self.0.queued.lock().unwrap_or_else(PoisonError::into_inner);
        queued.retain(|c| c.name() != name);
    }

    fn queued_value(&self, name: &str) -> Option<String> {
        let queued = self.0.queued.lock().unwrap_or_else(PoisonError::into_inner);
        queued
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }
}

impl RequestState {
    /// The cookies queued, in order, leaving none.
    pub(crate) fn take_queued(&self) -> Vec<cookie::Cookie<'static>> {
        std::mem::take(&mut *self.0.queued.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The state [`PowLayer`](crate::PowLayer) left on `parts`.
fn state_of(parts: &Parts, extractor: &'static str) -> Result<Arc<StateInner>, PowRejection> {
    parts
        .extensions
        .get::<RequestState>()
        .map(|state| Arc::clone(&state.0))
        .ok_or(PowRejection::MissingLayer(extractor))
}

/// The setup serving a request and the request's facts, without its browser session:
/// for an extractor of an app or an extension that checks a credential of its own (an API
/// key) and needs no more of the request than [`Pow`] reads first.
///
/// ```
/// use pow_axum::{PowFacts, PowLayer};
///
/// async fn client(PowFacts { facts, .. }: PowFacts) -> String {
///     format!("{:?}", facts.client_ip)
/// }
///
/// let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let app: axum::Router = axum::Router::new()
///     .route("/client", axum::routing::get(client))
///     .layer(PowLayer::new(config));
/// ```
#[derive(Clone, Debug)]
pub struct PowFacts {
    /// The setup of the layer serving the request.
    pub config: PowConfig,
    /// The request's facts, with the session signed in (as [`Pow`]'s).
    pub facts: RequestFacts,
}

impl<S: Send + Sync> FromRequestParts<S> for PowFacts {
    type Rejection = PowRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let state = state_of(parts, "PowFacts")?;
        let mut facts = crate::facts::read(parts, &state.config);
        facts.session = state
            .current
            .as_ref()
            .map(|current| (current.session_id.clone(), current.user.id));
        Ok(Self {
            config: state.config.clone(),
            facts,
        })
    }
}

/// The signed-in user; requests without one are refused (see
/// [`PowRejection::NotAuthenticated`]).
///
/// ```
/// use axum::{routing::get, Router};
/// use pow_axum::{CurrentUser, PowLayer};
///
/// let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let app: Router = Router::new()
///     .route("/me", get(|CurrentUser(user): CurrentUser| async move { format!("user {}", user.id) }))
///     .layer(PowLayer::new(config));
/// ```
#[derive(Clone, Debug)]
pub struct CurrentUser(pub Arc<User>);

impl Deref for CurrentUser {
    type Target = User;

    fn deref(&self) -> &User {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = PowRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let state = state_of(parts, "CurrentUser")?;
        match &state.current {
            Some(current) => Ok(Self(Arc::clone(&current.user))),
            None => Err(PowRejection::NotAuthenticated(not_authenticated(
                parts, &state,
            ))),
        }
    }
}

/// The signed-in user, if there is one.
#[derive(Clone, Debug)]
pub struct MaybeUser(pub Option<Arc<User>>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = PowRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let state = state_of(parts, "MaybeUser")?;
        Ok(Self(
            state
                .current
                .as_ref()
                .map(|current| Arc::clone(&current.user)),
        ))
    }
}

/// The request's session as the engine knows it: the setup, the signed-in session (if
/// any), the request's facts and its cookie session; it signs in and out the way the
/// actix-web layer does. It is the engine's
/// [`SessionHandle`](pow_core::session::SessionHandle) (hand `&mut pow` to a flow) and
/// [`Client`](pow_core::pipeline::Client) (to the extensions' callbacks), and it is
/// `Send`: the flows run in an axum handler as they are.
///
/// # Example
/// ```
/// use axum::response::Html;
/// use pow_axum::views::escape_html;
/// use pow_axum::Pow;
///
/// /// A page of the app's own: the last action's message and a sign-out button.
/// async fn home(pow: Pow) -> Html<String> {
///     let flash = pow.take_flash();
///     let message = flash.info.or(flash.error).unwrap_or_default();
///     let signed_in = pow.current.as_ref().map(|current| current.user.id);
///     Html(format!(
///         r#"<p>{}</p><p>user: {signed_in:?}</p>
///         <form action="/session" method="post">
///         <input type="hidden" name="_method" value="DELETE">
///         <input type="hidden" name="_csrf_token" value="{}">
///         <button>Sign out</button></form>"#,
///         escape_html(&message),
///         escape_html(&pow.csrf_token()),
///     ))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Pow {
    /// The browser's session (the engine's): its setup (`pow.config`), who is signed in
    /// (`pow.current`), the request's facts (`pow.facts`: client address through the
    /// trusted proxies, user agent, languages, origin, session) and the cookie session
    /// (`pow.cookie`: flash texts, the CSRF secret, a sign-in under way), read when this
    /// extractor ran; its sign-in and sign-out.
    browser: BrowserSession<RequestState>,
}

impl pow_core::config::ServedRequest for Pow {
    fn setup(&self) -> Result<PowConfig, pow_core::PowError> {
        Ok(self.config.clone())
    }

    fn facts(&self) -> RequestFacts {
        self.facts.clone()
    }
}

impl Deref for Pow {
    type Target = BrowserSession<RequestState>;

    fn deref(&self) -> &Self::Target {
        &self.browser
    }
}

impl DerefMut for Pow {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.browser
    }
}

impl Pow {
    /// The CSRF token for a form of your own that posts to pow-rs (the sign-out button,
    /// say): put it in a hidden `_csrf_token` field, as pow-actix's `csrf_token` does.
    ///
    /// ```
    /// async fn sign_out_button(pow: pow_axum::Pow) -> String {
    ///     format!(
    ///         r#"<form action="/session" method="post">
    ///         <input type="hidden" name="_method" value="DELETE">
    ///         <input type="hidden" name="_csrf_token" value="{}">
    ///         <button>Sign out</button></form>"#,
    ///         pow.csrf_token()
    ///     )
    /// }
    /// ```
    pub fn csrf_token(&self) -> String {
        pow_core::session::csrf::token(&self.cookie)
    }

    /// Takes the flash messages of the last action (a sign-in's "welcome back", a mailed
    /// link's "check your e-mail") to show them once, as pow-actix's `flash::take` does.
    pub fn take_flash(&self) -> pow_core::session::flash::Flash {
        pow_core::session::flash::take(&self.cookie)
    }

    /// The app's answers to refused requests, set on the layer serving this one.
    pub(crate) fn error_handler(&self) -> Option<&dyn ErrorHandler> {
        self.browser.queue().0.error_handler.as_deref()
    }
}

impl Pow {
    /// What the layer's `state` and the request `parts` say of the request.
    pub(crate) fn read(parts: &Parts, state: Arc<StateInner>) -> Self {
        let config = state.config.clone();
        let facts = crate::facts::read(parts, &config);
        let (cookie, current) = (state.cookie.clone(), state.current.clone());
        let browser = BrowserSession::new(config, cookie, facts, RequestState(state))
            .signed_in_as(current)
            .request_cookies(request_cookies(&parts.headers));
        Self { browser }
    }
}

/// The cookies the request's `Cookie` headers carry, read as every framework layer reads
/// them.
pub(crate) fn request_cookies(headers: &axum::http::HeaderMap) -> RequestCookies {
    let values = headers.get_all(header::COOKIE).into_iter();
    RequestCookies::from_headers(values.filter_map(|value| value.to_str().ok()))
}

impl<S: Send + Sync> FromRequestParts<S> for Pow {
    type Rejection = PowRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let state = state_of(parts, "Pow")?;
        Ok(Self::read(parts, state))
    }
}

/// The browser's session on axum, as the engine's flows take it (a
/// [`SessionHandle`](pow_core::session::SessionHandle) by the engine's
/// [`BrowserSession`] it holds): starting is
/// [`sign_in`](BrowserSession::sign_in), ending [`sign_out`](BrowserSession::sign_out), and
/// a method proved later is recorded on the signed-in session. By the same, the request's
/// [`Client`](pow_core::pipeline::Client) for the extensions' callbacks and request
/// hooks: the cookie session's flash texts and values, the request's cookies, cookies set
/// on the response.
///
/// ```
/// use axum::{extract::Form, routing::post, Router};
/// use pow_axum::flows::{self, SignIn};
/// use pow_axum::users::Params;
/// use pow_axum::{Pow, PowLayer};
///
/// async fn sign_in(mut pow: Pow, Form(params): Form<Params>) -> &'static str {
///     let (config, facts) = (pow.config.clone(), pow.facts.clone());
///     match flows::sign_in(&config, &facts, params, &mut pow).await {
///         Ok(SignIn::SignedIn(_)) => "signed in",
///         _ => "not signed in",
///     }
/// }
///
/// let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let app: Router = Router::new()
///     .route("/session", post(sign_in))
///     .layer(PowLayer::new(config));
/// ```
impl HoldsBrowserSession for Pow {
    type Queue = RequestState;

    fn browser(&self) -> &BrowserSession<RequestState> {
        &self.browser
    }

    fn browser_mut(&mut self) -> &mut BrowserSession<RequestState> {
        &mut self.browser
    }
}

/// Whether the request asks for JSON (`Accept` or `Content-Type` naming JSON), as the
/// actix-web layer decides it.
pub fn wants_json(parts: &Parts) -> bool {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    pow_core::framework::page::wants_json(header(header::ACCEPT), header(header::CONTENT_TYPE))
}

/// The answer when a signed-in user is required (see [`PowRejection::NotAuthenticated`]):
/// the layer's [`ErrorHandler`]'s, else the engine's.
pub(crate) fn not_authenticated(parts: &Parts, state: &StateInner) -> Response {
    let config = &state.config;
    let facts = crate::facts::read(parts, config);
    let request = crate::facts::page_request(parts);
    let handler = state.error_handler.as_deref();
    let refusal = Refusal::NotAuthenticated;
    let lang = pow_core::messages::request_language(&facts, config.messages());
    crate::api::response(pow_core::framework::page::access_answer(
        config,
        &lang,
        &request,
        &state.cookie,
        &refusal,
        handler,
        state.bearer,
    ))
}

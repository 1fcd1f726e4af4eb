//! The JSON API's route table, the same on every framework: each [`ApiRoute`] is a method,
//! a path under the API prefix, an action, its requirements and an engine controller over
//! a [`Step`] and an [`ApiClient`]. A framework layer reads the request into an
//! [`ApiCall`], picks the route, and writes the [`ApiAnswer`] that [`run`] gives back:
//!
//! ```text
//! the body's user params (400) -> guard (access, support access, sudo, step-up)
//!   -> rate limits -> CAPTCHA -> before_process (each extension) -> the action
//!   -> audit -> before_respond (each extension) -> the answer, translated
//! ```
//!
//! Extensions add theirs with
//! [`ExtensionBuilder::api_route`](crate::extension::ExtensionBuilder::api_route).
//!
//! ```
//! use pow_core::api::routes::{ApiRoute, Reply};
//! use pow_core::pages::routes::Verb;
//! use pow_core::pipeline::{ActionId, ActionKind};
//!
//! const PING: ActionId = ActionId::new("api_ping", "show", ActionKind::Show);
//!
//! let route = ApiRoute::new(Verb::Get, "/ping", PING, |_, _| {
//!     Box::pin(async { Ok(Reply::ok(serde_json::json!({ "pong": true }))) })
//! })
//! .signed_in();
//! assert_eq!(route.path, "/ping");
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::{ApiAction, ApiError, ApiService};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::pages::routes::{PathParams, QueryParams, Verb};
use crate::pipeline::{
    self, ActionId, ActionRequest, Before, Client, ClientCookie, FlashKind, Format, Halt, Refusal,
    Requirements, Step, Stop,
};
use crate::request::{RequestCookies, RequestFacts, RequestSource};
use crate::session::tokens::TokenPair;
use crate::session::{CurrentSession, SessionHandle, SessionMetadata};
use crate::users::{Params, User};

/// What an API controller's run comes to.
pub type ApiFuture<'a> = BoxFuture<'a, Result<Reply, ApiError>>;

/// An API controller: the action over the step and the client.
pub type ApiAct =
    Arc<dyn for<'a> Fn(&'a mut Step, &'a mut dyn ApiClient) -> ApiFuture<'a> + Send + Sync>;

/// The controller of a JSON route that runs the async function `$act(step, call,
/// &settings, args…)` over an extension's settings `$ext` (an `Arc`), cloned into each
/// run, as [`page_act!`](crate::page_act) does for pages:
///
/// ```
/// use std::sync::Arc;
/// use pow_core::api::routes::{ApiClient, ApiRoute, Reply};
/// use pow_core::api::ApiError;
/// use pow_core::pages::routes::Verb;
/// use pow_core::pipeline::{ActionId, ActionKind, Step};
///
/// struct Greeting(String);
///
/// async fn hello(_: &mut Step, _: &mut dyn ApiClient, g: &Greeting) -> Result<Reply, ApiError> {
///     Ok(Reply::ok(serde_json::json!({ "hello": g.0 })))
/// }
///
/// const HELLO: ActionId = ActionId::new("api_hello", "show", ActionKind::Show);
/// let settings = Arc::new(Greeting("world".into()));
/// let route = ApiRoute::new(Verb::Get, "/hello", HELLO, pow_core::api_act!(settings, hello));
/// ```
#[macro_export]
macro_rules! api_act {
    ($ext:expr, $act:path $(, $arg:expr)*) => {{
        let ext = ::std::sync::Arc::clone(&$ext);
        move |step: &mut $crate::pipeline::Step, call: &mut dyn $crate::api::routes::ApiClient| {
            let ext = ::std::sync::Arc::clone(&ext);
            ::std::boxed::Box::pin(async move { $act(step, call, &ext $(, $arg)*).await })
                as $crate::api::routes::ApiFuture<'_>
        }
    }};
}

/// How a route reads the body's `user` object before the pipeline runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserParams {
    /// It does not: the controller reads the body itself.
    #[default]
    Unread,
    /// A body without a `user` object answers `400`.
    Required,
    /// A body without one has no params; a body that is not a JSON object, or a `user`
    /// that is not an object, answers `400` ([`user_params`]).
    Optional,
}

/// One JSON route: see the [module](self).
#[derive(Clone)]
pub struct ApiRoute {
    /// The method.
    pub verb: Verb,
    /// The path under the API prefix, with `{name}` for a path segment (`/sessions/{id}`).
    pub path: &'static str,
    /// The extension serving it (`None`: the core).
    pub extension: Option<&'static str>,
    /// The action it runs.
    pub action: ActionId,
    /// What the action asks of its client (access, sudo, step-up, CAPTCHA).
    pub requirements: Requirements,
    /// Whether and how the body's `user` object is read before the pipeline runs (its
    /// params are the step's, so the rate limits see the identifier typed).
    pub user_params: UserParams,
    /// A CAPTCHA only for some bodies (a password check, not a mailed link's token):
    /// asked for when this says so of the body, as [`captcha`](Self::captcha) asks always.
    pub captcha_when: Option<fn(&[u8]) -> bool>,
    /// Whether only the bearer transport serves it (token renewal).
    pub bearer_only: bool,
    /// The controller.
    pub act: ApiAct,
}

impl std::fmt::Debug for ApiRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRoute")
            .field("verb", &self.verb)
            .field("path", &self.path)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl ApiRoute {
    /// A route of `verb` at `path` (under the prefix) running `action` with `act`, open to
    /// anyone, on both transports.
    pub fn new<F>(verb: Verb, path: &'static str, action: ActionId, act: F) -> Self
    where
        F: for<'a> Fn(&'a mut Step, &'a mut dyn ApiClient) -> ApiFuture<'a> + Send + Sync + 'static,
    {
        Self {
            verb,
            path,
            extension: None,
            action,
            requirements: Requirements::default(),
            user_params: UserParams::Unread,
            captcha_when: None,
            bearer_only: false,
            act: Arc::new(act),
        }
    }

    /// Served by the extension `name`.
    pub fn of_extension(mut self, name: &'static str) -> Self {
        self.extension = Some(name);
        self
    }

    crate::rule_builders!();

    fn rules(mut self, add: impl FnOnce(Requirements) -> Requirements) -> Self {
        self.requirements = add(std::mem::take(&mut self.requirements));
        self
    }

    /// Reads the body's `user` object before the pipeline; a body without one answers
    /// `400` ([`UserParams::Required`]).
    pub fn with_user_params(mut self) -> Self {
        self.user_params = UserParams::Required;
        self
    }

    /// Reads the body's `user` object before the pipeline, if it has one
    /// ([`UserParams::Optional`]).
    pub fn with_optional_user_params(mut self) -> Self {
        self.user_params = UserParams::Optional;
        self
    }

    /// Asks for the setup's CAPTCHA when `asks` says so of the body (see
    /// [`captcha_when`](Self::captcha_when)).
    pub fn captcha_when(mut self, asks: fn(&[u8]) -> bool) -> Self {
        self.captcha_when = Some(asks);
        self
    }

    /// Served on the bearer transport only.
    pub fn bearer_only(mut self) -> Self {
        self.bearer_only = true;
        self
    }
}

/// What an API controller answers: the API's envelope, no content, or an error answer
/// the pipeline goes on with (a wrong password is counted as a failed sign-in).
#[derive(Debug)]
pub struct Reply {
    status: u16,
    body: ReplyBody,
}

#[derive(Debug)]
enum ReplyBody {
    Envelope(Value, Option<Value>),
    Empty,
    Error(Box<ApiError>),
    Document(Value),
    Redirect(String),
    Download(String, &'static str, Vec<u8>),
}

impl Reply {
    /// `200 {"status": 200, "data": data}`.
    pub fn ok(data: impl serde::Serialize) -> Self {
        Self::data(200, data)
    }

    /// `status` with `{"status": status, "data": data}`.
    pub fn data(status: u16, data: impl serde::Serialize) -> Self {
        Self {
            status,
            body: ReplyBody::Envelope(serde_json::json!(data), None),
        }
    }

    /// `200` with `data` and `meta`: what describes the data rather than being it
    /// (`{"available": false}`, a count).
    pub fn with_meta(data: impl serde::Serialize, meta: Value) -> Self {
        Self {
            status: 200,
            body: ReplyBody::Envelope(serde_json::json!(data), Some(meta)),
        }
    }

    /// `204 No Content`.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: ReplyBody::Empty,
        }
    }

    /// The error answer `err`, as an answer: the pipeline runs to its end (the audit, the
    /// failure count, `before_respond`).
    pub fn refused(err: ApiError) -> Self {
        Self {
            status: err.status(),
            body: ReplyBody::Error(Box::new(err)),
        }
    }

    /// `200` with `document` as it is, outside the envelope (the OpenAPI document).
    pub fn document(document: Value) -> Self {
        Self {
            status: 200,
            body: ReplyBody::Document(document),
        }
    }

    /// `200` with a file to save rather than data (an account's export): `content_type`,
    /// `Content-Disposition: attachment` with `filename`, never stored.
    pub fn download(filename: &str, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status: 200,
            body: ReplyBody::Download(filename.to_owned(), content_type, body),
        }
    }

    /// The token answer of `pair` with more fields in `data` (the extensions'
    /// [`extend_token_data`](super::TokenHooks::extend_token_data)): the two tokens win
    /// over fields of the same name.
    pub fn tokens(pair: &TokenPair, mut data: serde_json::Map<String, Value>) -> Self {
        data.insert(
            "access_token".to_owned(),
            Value::String(pair.access_token.clone()),
        );
        data.insert(
            "renewal_token".to_owned(),
            Value::String(pair.renewal_token.clone()),
        );
        Self::ok(data)
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The answer of an envelope reply.
    fn envelope(self) -> ApiAnswer {
        match self.body {
            ReplyBody::Envelope(data, meta) => {
                let mut body = serde_json::json!({ "status": self.status, "data": data });
                if let Some(meta) = meta {
                    body["meta"] = meta;
                }
                ApiAnswer::json(self.status, &body, true)
            }
            _ => ApiAnswer::json(self.status, &Value::Null, true),
        }
    }

    /// The answer, with `err`'s texts in `lang`.
    fn answer(self, config: &PowConfig, lang: &LanguageIdentifier) -> ApiAnswer {
        match self.body {
            body @ ReplyBody::Envelope(..) => Reply {
                status: self.status,
                body,
            }
            .envelope(),
            ReplyBody::Empty => ApiAnswer {
                status: self.status,
                headers: vec![("cache-control", "no-store".to_owned())],
                body: None,
            },
            ReplyBody::Error(err) => ApiAnswer::error(&err.localized(Some(config), lang)),
            ReplyBody::Document(document) => ApiAnswer::json(self.status, &document, false),
            ReplyBody::Download(filename, content_type, body) => ApiAnswer {
                status: self.status,
                headers: vec![
                    ("content-type", content_type.to_owned()),
                    (
                        "cache-control",
                        "no-cache, no-store, must-revalidate".to_owned(),
                    ),
                    (
                        "content-disposition",
                        crate::pages::Answer::attachment(&filename),
                    ),
                ],
                body: Some(body),
            },
            ReplyBody::Redirect(location) => ApiAnswer {
                status: self.status,
                headers: vec![
                    ("location", location),
                    ("cache-control", "no-store".to_owned()),
                ],
                body: None,
            },
        }
    }
}

/// The HTTP answer of a JSON route, for the framework to send: status, headers and body
/// (the pages' [`HttpAnswer`](crate::pages::HttpAnswer): a framework writes both alike).
pub type ApiAnswer = crate::pages::HttpAnswer;

impl ApiAnswer {
    /// A success in the API's envelope, `{"status": status, "data": data}`, never stored:
    /// what an app's own JSON route answers, as the engine's do.
    ///
    /// ```
    /// use pow_core::api::ApiAnswer;
    ///
    /// let answer = ApiAnswer::data(202, serde_json::json!({ "message": "Sent." }));
    /// assert_eq!(answer.status, 202);
    /// assert!(answer.headers.contains(&("cache-control", "no-store".to_owned())));
    /// ```
    pub fn data(status: u16, data: impl serde::Serialize) -> Self {
        Reply::data(status, data).envelope()
    }

    /// [`data`](Self::data) with `meta`: what describes the data rather than being it.
    pub fn data_with_meta(status: u16, data: impl serde::Serialize, meta: Value) -> Self {
        Reply {
            status,
            body: ReplyBody::Envelope(serde_json::json!(data), Some(meta)),
        }
        .envelope()
    }

    /// `value` as JSON with `status`; never stored when `private`.
    fn json(status: u16, value: &Value, private: bool) -> Self {
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if private {
            headers.push(("cache-control", "no-store".to_owned()));
            headers.push(("pragma", "no-cache".to_owned()));
        }
        Self {
            status,
            headers,
            body: Some(serde_json::to_vec(value).unwrap_or_default()),
        }
    }
}

/// The client of a JSON route, as its controller sees it: a [`Client`] whose
/// [`session`](Client::session) is the API's (a bearer token pair, or on the browser
/// transport the session cookie), and what the API adds.
pub trait ApiClient: Client {
    /// The API serving the request.
    fn api(&self) -> &ApiService;

    /// The request's body.
    fn body(&self) -> &[u8];

    /// The request's bearer token, on the bearer transport.
    fn bearer_token(&self) -> Option<&str>;

    /// The session, for a flow that signs the client in for `action`: a pair it issues is
    /// issued after every extension's [`before_issue`](super::TokenHooks::before_issue).
    fn signing_in(&mut self, action: ApiAction) -> &mut dyn SessionHandle<Error = PowError>;

    /// The answer of a flow that signed the client in: the token pair with the
    /// extensions' token data (on the browser transport, the data alone).
    ///
    /// # Errors
    /// [`PowError::Config`] when the flow started no session.
    fn issued(&self) -> Result<Reply, ApiError>;

    /// `401` for a request without a signed-in session: `invalid_token` when it came with
    /// a bearer token that was refused, else `not_authenticated`.
    fn not_authenticated(&self, lang: &LanguageIdentifier) -> ApiError;
}

/// The framework-free [`ApiClient`]: what a framework layer read of the request (facts,
/// body, bearer token and its session, or the browser's cookie session).
pub struct ApiCall<'c> {
    api: ApiService,
    facts: RequestFacts,
    body: Vec<u8>,
    bearer: Option<String>,
    /// The bearer token's session (the bearer transport).
    current: Option<CurrentSession>,
    current_changed: bool,
    /// The cookie session (the browser transport).
    browser: Option<&'c mut (dyn SessionHandle<Error = PowError> + Send + Sync)>,
    cookies: RequestCookies,
    action: ApiAction,
    issued: Option<Issued>,
}

/// What a sign-in of this request gave the client.
enum Issued {
    /// A token pair, with the extensions' data.
    Pair(TokenPair, serde_json::Map<String, Value>),
    /// A cookie session (the browser transport), with the extensions' data.
    Cookie(serde_json::Map<String, Value>),
}

impl std::fmt::Debug for ApiCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCall")
            .field("api", &self.api)
            .field("browser", &self.browser.is_some())
            .finish_non_exhaustive()
    }
}

impl<'c> ApiCall<'c> {
    /// A request to `api` with `facts` and `body`, carrying no credentials yet.
    pub fn new(api: ApiService, facts: RequestFacts, body: Vec<u8>) -> Self {
        Self {
            api,
            facts,
            body,
            bearer: None,
            current: None,
            current_changed: false,
            browser: None,
            cookies: RequestCookies::default(),
            action: ApiAction::SignIn,
            issued: None,
        }
    }

    /// The bearer transport's credentials: the request's bearer `token`, and its session
    /// when a layer resolved it already (else [`resolve`](Self::resolve) does).
    pub fn bearer(mut self, token: Option<String>, current: Option<CurrentSession>) -> Self {
        self.bearer = token;
        self.current = current;
        self
    }

    /// The browser transport's credentials: the cookie `session` and the request's
    /// cookies.
    pub fn browser(
        mut self,
        session: &'c mut (dyn SessionHandle<Error = PowError> + Send + Sync),
        cookies: RequestCookies,
    ) -> Self {
        self.browser = Some(session);
        self.cookies = cookies;
        self
    }

    /// Resolves the bearer token's session when no layer did.
    ///
    /// # Errors
    /// The store's error.
    pub async fn resolve(&mut self) -> Result<(), PowError> {
        if self.browser.is_none() && self.current.is_none() {
            if let Some(token) = &self.bearer {
                self.current = self.api.authenticate(token).await?;
            }
        }
        Ok(())
    }

    /// The bearer session, when this request changed it (a method recorded): the layer
    /// serves the rest of the request with it.
    pub fn changed_session(&self) -> Option<&CurrentSession> {
        self.current.as_ref().filter(|_| self.current_changed)
    }

    fn lang(&self) -> LanguageIdentifier {
        super::language(Some(self.api.config()), &self.facts)
    }
}

impl RequestSource for ApiCall<'_> {
    fn facts(&self) -> RequestFacts {
        let mut facts = self.facts.clone();
        facts.session = self
            .current()
            .map(|current| (current.session_id.clone(), current.user.id));
        facts
    }
}

impl Client for ApiCall<'_> {
    fn session(&mut self) -> &mut dyn SessionHandle<Error = PowError> {
        self
    }

    // A JSON client shows no flash and keeps no values or cookies: its answers are data.
    fn flash(&mut self, _kind: FlashKind, _text: Option<String>) {}

    fn discard_flash(&mut self) {}

    fn value(&self, _key: &str) -> Option<String> {
        None
    }

    fn set_value(&mut self, _key: &str, _value: &str) -> Result<(), PowError> {
        Ok(())
    }

    fn remove_value(&mut self, _key: &str) {}

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.get(name).map(str::to_owned)
    }

    fn sent_cookie(&self, _name: &str) -> Option<String> {
        None
    }

    fn set_cookie(&mut self, _cookie: ClientCookie) {}

    fn serve_once(&mut self, current: CurrentSession) {
        if self.browser.is_none() {
            self.current = Some(current);
            self.current_changed = true;
        }
    }
}

impl ApiClient for ApiCall<'_> {
    fn api(&self) -> &ApiService {
        &self.api
    }

    fn body(&self) -> &[u8] {
        &self.body
    }

    fn bearer_token(&self) -> Option<&str> {
        self.bearer.as_deref()
    }

    fn signing_in(&mut self, action: ApiAction) -> &mut dyn SessionHandle<Error = PowError> {
        self.action = action;
        self
    }

    fn issued(&self) -> Result<Reply, ApiError> {
        match &self.issued {
            Some(Issued::Pair(pair, data)) => Ok(Reply::tokens(pair, data.clone())),
            Some(Issued::Cookie(data)) => Ok(Reply::ok(data.clone())),
            None => Err(PowError::Config("a signed-in flow issued no token pair".into()).into()),
        }
    }

    fn not_authenticated(&self, lang: &LanguageIdentifier) -> ApiError {
        let config = Some(self.api.config());
        if self.bearer.is_some() && self.current.is_none() && self.browser.is_none() {
            ApiError::invalid_token(config, lang)
        } else {
            ApiError::not_authenticated(config, lang)
        }
    }
}

#[async_trait]
impl SessionHandle for ApiCall<'_> {
    type Error = PowError;

    fn current(&self) -> Option<CurrentSession> {
        match &self.browser {
            Some(browser) => browser.current(),
            None => self.current.clone(),
        }
    }

    async fn start(
        &mut self,
        config: &PowConfig,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), PowError> {
        let lang = self.lang();
        // (The browser transport admits in its own start, below.)
        if self.browser.is_none() {
            crate::session::admit(config, user, &metadata.methods).await?;
        }
        let data = self
            .api
            .prepare_issue(&self.facts, &lang, user, self.action, &metadata.methods)
            .await?;
        if let Some(browser) = &mut self.browser {
            browser.start(config, user, metadata).await?;
            self.issued = Some(Issued::Cookie(data));
            return Ok(());
        }
        // The new pair replaces the one the client used (an account change).
        if self.action == ApiAction::AccountUpdate {
            if let Some(token) = &self.bearer {
                self.api.tokens().sign_out(token).await?;
            }
        }
        let pair = self
            .api
            .issue_tokens(self.current.as_ref(), &self.facts, user, metadata.methods)
            .await?;
        self.issued = Some(Issued::Pair(pair, data));
        // A browser's sign-in mails its own new-device notice (the cookie session's).
        if self.action == ApiAction::SignIn {
            self.api.notify_sign_in(&self.facts, &lang, user).await;
        }
        Ok(())
    }

    async fn end(&mut self, config: &PowConfig) -> Result<(), PowError> {
        if let Some(browser) = &mut self.browser {
            self.issued = None;
            return browser.end(config).await;
        }
        if let Some(Issued::Pair(pair, _)) = self.issued.take() {
            self.api.tokens().sign_out(&pair.access_token).await?;
            return Ok(());
        }
        if let Some(token) = &self.bearer {
            if self.api.tokens().sign_out(token).await? {
                crate::audit::record(
                    config,
                    crate::audit::AuditEvent::new(crate::audit::API_TOKEN_REVOKED)
                        .request(config, &self.facts),
                );
            }
        }
        Ok(())
    }

    async fn record_method(
        &mut self,
        config: &PowConfig,
        method: crate::session::AuthMethod,
    ) -> Result<(), PowError> {
        // The browser transport's session is the cookie session; a bearer token's is the
        // access token's record: both are the request's current session.
        if let Some(browser) = &mut self.browser {
            return browser.record_method(config, method).await;
        }
        let current = self
            .current
            .clone()
            .ok_or_else(crate::session::nobody_signed_in)?;
        self.current = Some(crate::session::record_session_method(config, current, method).await?);
        self.current_changed = true;
        Ok(())
    }
}

/// What a framework read of a request besides the [`ApiCall`]: the path's segments, the
/// query, and the CAPTCHA answer header.
#[derive(Clone, Debug, Default)]
pub struct ApiInput {
    /// The route's path segments.
    pub path: PathParams,
    /// The query string's pairs.
    pub query: QueryParams,
    /// The [`CAPTCHA_HEADER`](crate::captcha::CAPTCHA_HEADER) of the request.
    pub captcha: Option<String>,
}

/// Runs `route` for `call` through the pipeline (see the [module](self)) and answers,
/// errors translated into the request's language.
pub async fn run(route: &ApiRoute, call: &mut ApiCall<'_>, input: ApiInput) -> ApiAnswer {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "pow.action",
        action = %route.action,
        user_id = tracing::field::Empty
    );
    let config = call.api.config().clone();
    let lang = call.lang();
    match run_traced(route, call, input, &config, &lang)
        .instrument(span)
        .await
    {
        Ok(reply) => reply.answer(&config, &lang),
        Err(err) => ApiAnswer::error(&err.localized(Some(&config), &lang)),
    }
}

async fn run_traced(
    route: &ApiRoute,
    call: &mut ApiCall<'_>,
    input: ApiInput,
    config: &PowConfig,
    lang: &LanguageIdentifier,
) -> Result<Reply, ApiError> {
    let params = match route.user_params {
        UserParams::Required => required_user_params(config, lang, &call.body)?,
        UserParams::Optional => {
            user_params(&call.body).ok_or_else(|| ApiError::invalid_request(Some(config), lang))?
        }
        UserParams::Unread => Params::default(),
    };
    call.resolve().await?;
    let current = call.current();
    let mut requirements = route.requirements.clone();
    requirements.captcha =
        requirements.captcha || route.captcha_when.is_some_and(|asks| asks(&call.body));
    let mut step = Step::new(config, route.action, params, lang.clone());
    step.format = Format::Json;
    step.current_user = current.as_ref().map(|c| User::clone(&c.user));
    step.assigns.insert(input.path);
    step.assigns.insert(input.query);
    let request = ActionRequest {
        requirements,
        safe: route.verb == Verb::Get,
        captcha_answer: input.captcha,
        ..ActionRequest::default()
    };
    let mut host = JsonHost { step, call };
    let admission = match pipeline::before_action(&mut host, current.as_ref(), request).await? {
        Before::Go(admission) => admission,
        Before::Stop(Stop::Halted(halt)) => return Ok(halted(halt)),
        Before::Stop(Stop::Refused(Refusal::NotAuthenticated)) => {
            return Err(host.call.not_authenticated(lang))
        }
        Before::Stop(Stop::Refused(Refusal::AlreadyAuthenticated)) => {
            return Err(ApiError::already_authenticated(Some(config), lang))
        }
        Before::Stop(Stop::Refused(refusal)) => return Err(refusal.error().into()),
        // No form and no page to go back to on JSON.
        Before::Stop(Stop::BadForm(_) | Stop::Back(_)) => {
            return Err(ApiError::invalid_request(Some(config), lang))
        }
    };
    let reply = admission
        .run((route.act)(&mut host.step, &mut *host.call))
        .await?;
    match pipeline::after_action(&mut host, admission, true).await? {
        Some(halt) => Ok(halted(halt)),
        None => Ok(reply),
    }
}

/// The JSON side of an action the engine runs: its step and the request's [`ApiCall`].
struct JsonHost<'s, 'a> {
    step: Step,
    call: &'s mut ApiCall<'a>,
}

impl pipeline::ActionHost for JsonHost<'_, '_> {
    fn step(&mut self) -> &mut Step {
        &mut self.step
    }

    fn split(&mut self) -> (&mut Step, &mut dyn Client) {
        (&mut self.step, &mut *self.call)
    }
}

/// The answer to a callback that halted a JSON action.
fn halted(halt: Halt) -> Reply {
    match halt {
        Halt::Redirect(location) => Reply {
            status: 302,
            body: ReplyBody::Redirect(location),
        },
        Halt::NotFound => Reply::refused(ApiError::new(404, "Not found").with_code("not_found")),
        Halt::Status(status, text) => Reply::refused(ApiError::new(status, text)),
    }
}

/// The `user` params of a body whose fields all go under `user` (sign-up, sign-in,
/// re-authentication, account changes); `400 invalid_request` when the body is not a
/// JSON object, has no `user` object (a flat `{"email": ...}` is the client's mistake,
/// which answering it as wrong credentials would hide), or a value is an array or object.
///
/// # Errors
/// The `400` answer.
pub(crate) fn required_user_params(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    body: &[u8],
) -> Result<Params, ApiError> {
    let invalid = || ApiError::invalid_request(Some(config), lang);
    let value: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
    let Some(object) = value.as_object() else {
        return Err(invalid());
    };
    match object.get("user") {
        None | Some(Value::Null) => Err(ApiError::missing_user_params(Some(config), lang)),
        Some(Value::Object(user)) => params_of(user).ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// Reads the `user` object of a JSON body (`{"user": {"email": "...", ...}}`) as params.
///
/// Strings are taken as they are, numbers and booleans as their JSON text; `null` values
/// and a missing `user` are left out. `None` when the body is not a JSON object, `user`
/// is not an object, or a value is an array or object.
///
/// ```
/// use pow_core::api::user_params;
///
/// let params = user_params(br#"{"user": {"email": "a@example.com", "age": 7}}"#).unwrap();
/// assert_eq!(params["email"], "a@example.com");
/// assert_eq!(params["age"], "7");
/// assert!(user_params(b"user[email]=a").is_none());
/// assert!(user_params(br#"{"user": {"email": ["a"]}}"#).is_none());
/// ```
pub fn user_params(body: &[u8]) -> Option<Params> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match value.as_object()?.get("user") {
        None | Some(Value::Null) => Some(Params::new()),
        Some(Value::Object(user)) => params_of(user),
        Some(_) => None,
    }
}

/// The members of a `user` object as params; `None` for an array or object value.
fn params_of(user: &serde_json::Map<String, Value>) -> Option<Params> {
    let mut params = Params::new();
    for (name, value) in user {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) => return None,
        };
        params.insert(name.clone(), text);
    }
    Some(params)
}

/// Reads a JSON body that must be an object into `T` (a struct of the endpoint's fields);
/// anything else (not JSON, an array or a string, missing or mistyped fields) answers
/// `400` ([`ApiError::invalid_request`]). Serde would read a struct from an array too;
/// this does not.
///
/// # Errors
/// The `400` answer.
pub fn json_body<T: serde::de::DeserializeOwned>(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    body: &[u8],
) -> Result<T, ApiError> {
    let invalid = || ApiError::invalid_request(Some(config), lang);
    let value: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
    if !value.is_object() {
        return Err(invalid());
    }
    serde_json::from_value(value).map_err(|_| invalid())
}

/// Longest bearer token considered; ours are about 110 characters. Longer values are
/// anonymous without any work.
pub(crate) const MAX_BEARER_LEN: usize = 1024;

/// The token of an `Authorization` header's value `Bearer <token>` (scheme
/// case-insensitive), if it is one.
///
/// ```
/// use pow_core::api::routes::bearer_of;
///
/// assert_eq!(bearer_of("Bearer abc.def.ghi"), Some("abc.def.ghi"));
/// assert_eq!(bearer_of("bearer  abc "), Some("abc"));
/// assert_eq!(bearer_of("Basic dXNlcjpwYXNz"), None);
/// assert_eq!(bearer_of("Bearer "), None);
/// ```
pub fn bearer_of(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_BEARER_LEN)
        .then_some(token)
}

/// The routes of `routes` at each path, in first-seen order, for a framework that mounts
/// one handler per path.
pub fn by_path(routes: &[ApiRoute]) -> Vec<(&'static str, Vec<ApiRoute>)> {
    let mut paths: Vec<(&'static str, Vec<ApiRoute>)> = Vec::new();
    for route in routes {
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, here)) => here.push(route.clone()),
            None => paths.push((route.path, vec![route.clone()])),
        }
    }
    paths
}

/// The registration of extensions' JSON routes, and where the setup's are read.
impl crate::extension::ExtensionBuilder {
    /// A JSON route the extension serves, written once on the engine
    /// ([`ApiRoute`]): every framework layer mounts it with
    /// the core's, under the API prefix, on both transports.
    pub fn api_route(&mut self, route: ApiRoute) -> &mut Self {
        let name = self.name();
        self.add(route.of_extension(name))
    }
}

impl crate::extension::Extensions {
    /// The JSON routes the extensions serve
    /// ([`ExtensionBuilder::api_route`](crate::extension::ExtensionBuilder::api_route)), in
    /// order.
    pub fn api_routes(&self) -> &[ApiRoute] {
        self.all()
    }
}

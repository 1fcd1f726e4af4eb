//! The JSON API's route table, the same on every framework: each [`ApiRoute`] is a method,
//! a path under the API prefix, an action, its requirements and an engine controller over
//! a [`Step`] and an [`ApiClient`]. A framework layer reads the request into an
//! [`ApiCall`](crate::framework::api::ApiCall), picks the route, and writes the
//! [`ApiAnswer`] that [`run`](crate::framework::api::run) gives back:
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

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::{ApiAction, ApiError, ApiService};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::pages::routes::Verb;
use crate::pipeline::{ActionId, Client, Halt, Requirements, Step};
use crate::session::tokens::TokenPair;
use crate::session::SessionHandle;
use crate::users::Params;

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
    /// The answer to a callback that halted a JSON action.
    pub(crate) fn halted(halt: Halt) -> Self {
        match halt {
            Halt::Redirect(location) => Reply {
                status: 302,
                body: ReplyBody::Redirect(location),
            },
            Halt::NotFound => {
                Reply::refused(ApiError::new(404, "Not found").with_code("not_found"))
            }
            Halt::Status(status, text) => Reply::refused(ApiError::new(status, text)),
        }
    }

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
    pub(crate) fn answer(self, config: &PowConfig, lang: &LanguageIdentifier) -> ApiAnswer {
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

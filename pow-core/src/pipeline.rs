//! The engine half of an action: the state an action shares with the extensions'
//! callbacks ([`Step`]), what a callback decides ([`Flow`], [`Halt`]), and what it may change
//! of the client ([`Client`]), without a web framework.
//!
//! A framework layer parses the request, checks CSRF, builds a [`Step`], runs the action
//! with the extensions' [`Callbacks`] around it, and renders
//! the outcome: a page, a redirect, or JSON. A callback sees the step and the client (its
//! session, flash texts, values and cookies) and never the request, so one callback serves
//! every framework.
//!
//! ```
//! use pow_core::extension::{Extension, ExtensionBuilder};
//! use pow_core::pipeline::{ActionKind, Callbacks, Client, Flow, Halt, Step};
//! use pow_core::PowError;
//!
//! /// Sends every new user to a welcome page.
//! struct Welcome;
//!
//! #[async_trait::async_trait]
//! impl Callbacks for Welcome {
//!     async fn before_respond(
//!         &self,
//!         step: &mut Step,
//!         _client: &mut dyn Client,
//!     ) -> Result<Flow, PowError> {
//!         if step.id.kind() == ActionKind::SignUp && step.user.is_some() && !step.is_json() {
//!             return Ok(Flow::Halt(Halt::Redirect("/welcome".into())));
//!         }
//!         Ok(Flow::Continue)
//!     }
//! }
//!
//! impl Extension for Welcome {
//!     fn name(&self) -> &'static str {
//!         "welcome"
//!     }
//!     fn build(&self, ext: &mut ExtensionBuilder) {
//!         ext.callbacks(Welcome);
//!     }
//! }
//! # pow_core::PowConfig::builder("s".repeat(64)).extension(Welcome).build()?;
//! # Ok::<(), PowError>(())
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{PowConfig, RouteContext};
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::request::RequestFacts;
use crate::request::RequestSource;
use crate::session::{CurrentSession, SessionHandle, StoreSession};
use crate::users::{Changeset, Params, User};

mod browser_client;
pub(crate) mod run;

pub(crate) use run::ActionHost;
pub use run::{
    admit, finish, step_up_refusal, Access, ActionRequest, Before, PostedForm, Refusal,
    Requirements, Stop,
};
pub(crate) use run::{after_action, before_action};

/// What an action does, in terms other extensions can hook into without naming the crate
/// that defines the action (email confirmation treats every [`SignIn`](Self::SignIn) alike,
/// whichever controller signs the user in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionKind {
    /// Shows a page or state; changes nothing.
    Show,
    /// Signs a user in (a password, a second step, a mailed link, a provider, a passkey).
    SignIn,
    /// Signs the client out.
    SignOut,
    /// Creates a user and signs them in.
    SignUp,
    /// Completes the sign-up of an existing row (an accepted invitation).
    CompleteSignUp,
    /// Changes the signed-in user's account.
    UpdateUser,
    /// Deletes the signed-in user's account.
    DeleteUser,
    /// Confirms the signed-in user's password (sudo mode).
    Reauthenticate,
    /// Anything else.
    Other,
}

/// Identifies a controller action: its controller, its name and its [`ActionKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActionId {
    controller: &'static str,
    action: &'static str,
    kind: ActionKind,
}

impl ActionId {
    /// `controller#action`, doing `kind`.
    pub const fn new(controller: &'static str, action: &'static str, kind: ActionKind) -> Self {
        Self {
            controller,
            action,
            kind,
        }
    }

    /// The controller's name (`"session"`).
    pub const fn controller(&self) -> &'static str {
        self.controller
    }

    /// The action's name (`"create"`).
    pub const fn action(&self) -> &'static str {
        self.action
    }

    /// What the action does.
    pub const fn kind(&self) -> ActionKind {
        self.kind
    }
}

impl std::fmt::Display for ActionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.controller, self.action)
    }
}

/// How an action answers: HTML pages and redirects, or JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Pages, forms and redirects for browsers (cookie session, CSRF-checked forms).
    #[default]
    Html,
    /// JSON for API clients (bearer tokens, no cookies, so no CSRF).
    Json,
}

/// Typed values callbacks pass between `before_process` and `before_respond` of one
/// action, one per type. Values are `Send + Sync`, so a step can be held across an
/// `.await` on a multi-threaded executor.
#[derive(Default)]
pub struct Assigns(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl Assigns {
    /// Stores `value`, returning the value of its type stored before.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.0
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|old| *old))
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>())?.downcast_ref()
    }

    /// Takes the value of type `T` out.
    pub fn remove<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.0
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast().ok().map(|old| *old))
    }
}

impl std::fmt::Debug for Assigns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assigns").finish_non_exhaustive()
    }
}

/// What a callback decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next callback and the action.
    Continue,
    /// Stop here: the framework layer answers with this.
    Halt(Halt),
}

/// The answer of a callback that stops an action, as every framework layer renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Halt {
    /// Send the browser to this local path (`302`, never cached).
    Redirect(String),
    /// Answer `404 Not Found`, as for a route that does not exist.
    NotFound,
    /// Answer with this status code and text (a plain text page, or JSON's error
    /// envelope): `Halt::Status(429, "Too many failed sign-ins".into())`.
    Status(u16, String),
}

/// One action on its way through the pipeline: who asked, with what, and, after the
/// action, what came of it. What the extensions' callbacks see.
#[derive(Debug)]
pub struct Step {
    /// The setup serving the action.
    pub config: PowConfig,
    /// Which action this is.
    pub id: ActionId,
    /// The submitted `user[...]` params.
    pub params: Params,
    /// The language of the response.
    pub lang: LanguageIdentifier,
    /// The user signed in when the action started (none on signed-out-only actions); see
    /// [`signed_in`](Self::signed_in).
    pub current_user: Option<User>,
    /// After the action: the signed-in, created or updated user.
    pub user: Option<User>,
    /// After a failed action: the changeset with its errors.
    pub changeset: Option<Changeset>,
    /// The validated local path to return to after sign-in, if any.
    pub request_path: Option<String>,
    /// The page the action was asked from (a `GET`'s path and query), for the routes.
    pub current_page: Option<String>,
    /// Typed values callbacks pass between `before_process` and `before_respond`.
    pub assigns: Assigns,
    /// Whether the action answers HTML or JSON.
    pub format: Format,
}

impl Step {
    /// A new step of action `id` with `params`, answering in `lang` as HTML.
    pub fn new(config: &PowConfig, id: ActionId, params: Params, lang: LanguageIdentifier) -> Self {
        Self {
            config: config.clone(),
            id,
            params,
            lang,
            current_user: None,
            user: None,
            changeset: None,
            request_path: None,
            current_page: None,
            assigns: Assigns::default(),
            format: Format::Html,
        }
    }

    /// Whether the action answers JSON (an API endpoint). Callbacks that answer with pages,
    /// redirects or cookies leave JSON actions alone.
    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// Whether this is `controller#action`.
    pub fn is(&self, id: ActionId) -> bool {
        self.id == id
    }

    /// The context the routes backend needs.
    pub fn routes_ctx(&self) -> RouteContext<'_> {
        RouteContext {
            current_page: self.current_page.as_deref(),
            mount: self.config.mount_path(),
            request_path: self.request_path.as_deref(),
        }
    }

    /// A message of the setup's messages backend in the response's language (`None` when
    /// the key is unknown or its text is empty).
    pub fn message(&self, key: &str) -> Option<String> {
        self.config.messages().message(&self.lang, key, &[])
    }

    /// A text of the setup's messages backend in the response's language (the key itself
    /// when unknown).
    pub fn text(&self, key: &str) -> String {
        self.config.messages().text(&self.lang, key)
    }

    /// The value of the route's `{name}` path segment (empty when it has none).
    pub fn path_param(&self, name: &str) -> String {
        self.assigns
            .get::<crate::pages::routes::PathParams>()
            .and_then(|path| path.get(name))
            .unwrap_or_default()
            .to_owned()
    }

    /// The user signed in when the action started.
    ///
    /// # Errors
    /// [`PowError::Config`] when nobody is signed in (an action open to anyone asked).
    pub fn signed_in(&self) -> Result<&User, PowError> {
        self.current_user.as_ref().ok_or_else(|| {
            PowError::Config(format!(
                "action {} needs a signed-in user: run it with Action::signed_in",
                self.id
            ))
        })
    }
}

/// A flash text's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashKind {
    /// Information (neutral).
    Info,
    /// An error.
    Error,
}

/// A cookie the response sets (a browser's; JSON clients keep none): `HttpOnly`, path `/`,
/// `SameSite=Lax`, `Secure` as the setup says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCookie {
    /// Its name.
    pub name: String,
    /// Its value; empty when it is removed.
    pub value: String,
    /// How long it lives: `None` for the browser's session, zero to remove it.
    pub max_age: Option<Duration>,
}

impl ClientCookie {
    /// A cookie `name` with `value`, kept for `max_age`.
    pub fn new(name: impl Into<String>, value: impl Into<String>, max_age: Duration) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            max_age: Some(max_age),
        }
    }

    /// Removes cookie `name` from the browser.
    pub fn removal(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: String::new(),
            max_age: Some(Duration::ZERO),
        }
    }

    /// The cookie as every framework layer sets it: `HttpOnly`, path `/`, `SameSite=Lax`,
    /// `Secure` when `secure` (the setup's `cookie_secure`); a zero lifetime expires it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pow_core::pipeline::ClientCookie;
    ///
    /// let set = ClientCookie::new("remember_me", "v", Duration::from_secs(60)).to_cookie(true);
    /// assert_eq!(set.to_string(), "remember_me=v; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=60");
    /// ```
    pub fn to_cookie(&self, secure: bool) -> cookie::Cookie<'static> {
        let mut built = cookie::Cookie::build(self.name.clone(), self.value.clone())
            .path("/")
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(secure);
        if let Some(max_age) = self.max_age {
            let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            built = built.max_age(cookie::time::Duration::seconds(seconds));
        }
        let mut built = built.finish();
        if self.max_age.is_some_and(|age| age.is_zero()) {
            built.make_removal();
        }
        built
    }
}

/// What a callback may read and change of the client an action answers, whatever the
/// framework: the request's facts, the client's session, flash texts for the next page,
/// values kept with the browser's session (signed, server-readable) and cookies.
///
/// The framework layer implements it over what it read of its request (the client is
/// `Send + Sync`, as [`RequestSource`] is, so a callback's future is `Send`); on JSON
/// actions the browser-only parts (flash, values, cookies) do nothing.
pub trait Client: RequestSource {
    /// The client's session: sign it out, start a new one, record a method.
    fn session(&mut self) -> &mut dyn SessionHandle<Error = PowError>;

    /// The session the client is signed in with now.
    fn current_session(&mut self) -> Option<CurrentSession> {
        self.session().current()
    }

    /// Queues a flash text for the next page (`None`, a message that shows nothing, is a
    /// no-op).
    fn flash(&mut self, kind: FlashKind, text: Option<String>);

    /// Drops the flash texts queued so far.
    fn discard_flash(&mut self);

    /// A value kept with the browser's session.
    fn value(&self, key: &str) -> Option<String>;

    /// Keeps `value` with the browser's session under `key`.
    ///
    /// # Errors
    /// When the session cannot hold it.
    fn set_value(&mut self, key: &str, value: &str) -> Result<(), PowError>;

    /// Drops the value under `key`.
    fn remove_value(&mut self, key: &str);

    /// The value of the request's cookie `name`.
    fn cookie(&self, name: &str) -> Option<String>;

    /// The value this response sets for cookie `name` so far, if it sets one (an empty
    /// value for a removal).
    fn sent_cookie(&self, name: &str) -> Option<String>;

    /// Sets (or removes) a cookie with the response.
    fn set_cookie(&mut self, cookie: ClientCookie);

    /// Serves the rest of this request as `current` without storing a session (a request
    /// that raced the rotation of the credential it carried: it is answered as the user,
    /// and the next request uses the rotated credential).
    fn serve_once(&mut self, current: CurrentSession);
}

/// A [`Client`] without HTTP: the request's facts, a [`StoreSession`], and a browser kept in
/// memory (flash texts, session values, cookies). For a test, a CLI or a job that runs
/// callbacks, request hooks or flows that take a client, as [`StoreSession`] serves flows
/// that take a session. [`next_request`](Self::next_request) comes back as a browser does:
/// with the cookies the last answer set and the same session values.
///
/// ```
/// use pow_core::pipeline::{Client, ClientCookie, FlashKind, MemoryClient};
/// use pow_core::request::RequestFacts;
///
/// let mut browser = MemoryClient::new(RequestFacts::default());
/// browser.set_cookie(ClientCookie::new("remember_me", "token", std::time::Duration::from_secs(60)));
/// browser.flash(FlashKind::Info, Some("Signed in".into()));
/// assert_eq!(browser.flashes, [(FlashKind::Info, "Signed in".to_owned())]);
/// let next = browser.next_request();
/// assert_eq!(next.cookie("remember_me").as_deref(), Some("token"));
/// assert!(next.flashes.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct MemoryClient {
    /// The request's facts (the session is added from [`session`](Self::session)).
    pub facts: RequestFacts,
    /// The client's session.
    pub session: StoreSession,
    /// The flash texts queued by this request, in order.
    pub flashes: Vec<(FlashKind, String)>,
    values: HashMap<String, String>,
    cookies: HashMap<String, String>,
    sent: Vec<ClientCookie>,
}

impl MemoryClient {
    /// A client that is not signed in, sends no cookie and has `facts`.
    pub fn new(facts: RequestFacts) -> Self {
        Self {
            facts,
            ..Self::default()
        }
    }

    /// The same browser's next request: the cookies it holds after this answer (those set
    /// added or replaced, those removed or expired gone), its session values and session,
    /// no flash texts.
    pub fn next_request(self) -> Self {
        let mut cookies = self.cookies;
        for cookie in self.sent {
            if cookie.max_age == Some(Duration::ZERO) {
                cookies.remove(&cookie.name);
            } else {
                cookies.insert(cookie.name, cookie.value);
            }
        }
        Self {
            facts: self.facts,
            session: self.session,
            flashes: Vec::new(),
            values: self.values,
            cookies,
            sent: Vec::new(),
        }
    }

    /// The same browser with its session gone (expired, or ended elsewhere) but its cookies
    /// kept: what a remember-me cookie is for.
    pub fn without_session(mut self) -> Self {
        self.session = StoreSession::new();
        self
    }
}

impl RequestSource for MemoryClient {
    fn facts(&self) -> RequestFacts {
        let mut facts = self.facts.clone();
        facts.session = self
            .session
            .current()
            .map(|current| (current.session_id, current.user.id));
        facts
    }
}

impl Client for MemoryClient {
    fn session(&mut self) -> &mut dyn SessionHandle<Error = PowError> {
        &mut self.session
    }

    fn flash(&mut self, kind: FlashKind, text: Option<String>) {
        if let Some(text) = text {
            self.flashes.push((kind, text));
        }
    }

    fn discard_flash(&mut self) {
        self.flashes.clear();
    }

    fn value(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned()
    }

    fn set_value(&mut self, key: &str, value: &str) -> Result<(), PowError> {
        self.values.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    fn remove_value(&mut self, key: &str) {
        self.values.remove(key);
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.get(name).cloned()
    }

    fn sent_cookie(&self, name: &str) -> Option<String> {
        self.sent
            .iter()
            .rev()
            .find(|cookie| cookie.name == name)
            .map(|cookie| cookie.value.clone())
    }

    fn set_cookie(&mut self, cookie: ClientCookie) {
        self.sent.push(cookie);
    }

    fn serve_once(&mut self, current: CurrentSession) {
        self.session = StoreSession::signed_in(current);
    }
}

/// Callbacks around actions: they see the action's [`Step`] (the params, and after the
/// action the user or the failed changeset) and its [`Client`] (the session, flash texts,
/// values, cookies), and may halt with a [`Halt`] every framework renders. The core's
/// actions run them for `session#new|create|delete` and
/// `registration#new|create|edit|update|delete`; extensions' actions run them for their own
/// (e.g. `invitation#update`), so extensions hook into each other through these documented
/// names only. Framework-free: one implementation serves every framework layer.
///
/// The futures are `Send` (the step and the client are), so callbacks run on any executor:
/// implement the trait with `#[async_trait::async_trait]`.
#[async_trait]
pub trait Callbacks: Send + Sync + 'static {
    /// Runs before an action.
    async fn before_process(
        &self,
        _step: &mut Step,
        _client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        Ok(Flow::Continue)
    }

    /// Runs after an action, before the response.
    async fn before_respond(
        &self,
        _step: &mut Step,
        _client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        Ok(Flow::Continue)
    }
}

/// Work on requests after the framework layer resolved the session, with or without a
/// signed-in user (e.g. signing a user in from a remember-me cookie), over the request's
/// [`Client`]. It runs on requests that carry one of its [`cookies`](RequestHook::cookies),
/// so a request with no cookie of interest costs nothing. Framework-free: one hook serves
/// every framework layer.
#[async_trait]
pub trait RequestHook: Send + Sync + 'static {
    /// The names of the cookies the hook reads, under `config`. Read once, when the
    /// middleware is set up.
    fn cookies(&self, config: &PowConfig) -> Vec<String>;

    /// Runs on a request that carries one of [`cookies`](Self::cookies).
    ///
    /// # Errors
    /// The store's or users context's error: the request is answered with it.
    async fn on_request(&self, config: &PowConfig, client: &mut dyn Client)
        -> Result<(), PowError>;
}

/// The registration of [`Callbacks`] and [`RequestHook`]s, and where the setup's are read.
impl crate::extension::ExtensionBuilder {
    /// Callbacks around actions (see [`Callbacks`]).
    pub fn callbacks(&mut self, callbacks: impl Callbacks) -> &mut Self {
        self.add::<Arc<dyn Callbacks>>(Arc::new(callbacks))
    }

    /// Work on requests carrying the hook's cookies (see [`RequestHook`]).
    pub fn request_hook(&mut self, hook: impl RequestHook) -> &mut Self {
        self.add::<Arc<dyn RequestHook>>(Arc::new(hook))
    }
}

impl crate::extension::Extensions {
    /// The callbacks around actions, in extension order.
    pub fn callbacks(&self) -> &[Arc<dyn Callbacks>] {
        self.all()
    }

    /// The request hooks, in extension order.
    pub fn request_hooks(&self) -> &[Arc<dyn RequestHook>] {
        self.all()
    }
}

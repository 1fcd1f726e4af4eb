//! The page routes as one table ([`PageRoute`]): the method, the path, the action, what it
//! requires and the engine controller that answers it. Every framework layer mounts the
//! same table (pow-actix's `web::configure`, pow-axum's `web::router`), so a page cannot
//! exist on one framework and not on the other, and a test can list both and compare.
//!
//! ```
//! use pow_core::pages::routes::{self, Verb};
//!
//! let config = pow_core::PowConfig::builder("s".repeat(64)).build()?;
//! let table = routes::page_routes(&config);
//! assert!(table.iter().any(|r| r.verb == Verb::Post && r.path == "/session"));
//! # Ok::<(), pow_core::PowError>(())
//! ```

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use super::params::{PathParams, QueryParams, WantsJson};
use super::{account, core, Answer};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::pipeline::{ActionId, Client, Requirements, Step};
use crate::session::CurrentSession;

/// An HTTP method of a page route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// `GET` (and `HEAD`).
    Get,
    /// `POST`.
    Post,
    /// `PATCH`, or a `POST` whose form says `_method=PATCH`.
    Patch,
    /// `PUT`, or a `POST` whose form says `_method=PUT`.
    Put,
    /// `DELETE`, or a `POST` whose form says `_method=DELETE`.
    Delete,
}

impl Verb {
    /// The method's name (`"GET"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    /// The verb of the HTTP method `method` (`"GET"`; `"HEAD"` runs the `GET`), the one
    /// mapping both framework layers use; `None` for a method no route takes.
    ///
    /// ```
    /// use pow_core::pages::routes::Verb;
    /// assert_eq!(Verb::of_method("HEAD"), Some(Verb::Get));
    /// assert_eq!(Verb::of_method("OPTIONS"), None);
    /// ```
    pub fn of_method(method: &str) -> Option<Self> {
        match method {
            "GET" | "HEAD" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PATCH" => Some(Self::Patch),
            "PUT" => Some(Self::Put),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }

    /// The verb a posted form's `_method` field names (`PATCH`, `PUT`, `DELETE`).
    pub(crate) fn of_override(method: &str) -> Option<Self> {
        match method {
            "PATCH" => Some(Self::Patch),
            "PUT" => Some(Self::Put),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// What an engine controller's run comes to, as a page route holds it.
pub type ActFuture<'a> = BoxFuture<'a, Result<Answer, PowError>>;

/// An engine controller: the action over the step and the client.
pub type Act = Arc<dyn for<'a> Fn(&'a mut Step, &'a mut dyn Client) -> ActFuture<'a> + Send + Sync>;

/// The controller of a page route that runs the async function `$act(step, client,
/// &settings, args…)` over an extension's settings `$ext` (an `Arc`), cloned into each
/// run:
///
/// ```
/// use std::sync::Arc;
/// use pow_core::pages::routes::{PageRoute, Verb};
/// use pow_core::pages::Answer;
/// use pow_core::pipeline::{ActionId, ActionKind, Client, Step};
/// use pow_core::PowError;
///
/// struct Greeting(String);
///
/// async fn hello(_: &mut Step, _: &mut dyn Client, g: &Greeting) -> Result<Answer, PowError> {
///     Ok(Answer::Redirect(format!("/hello/{}", g.0)))
/// }
///
/// const HELLO: ActionId = ActionId::new("hello", "create", ActionKind::Other);
/// let settings = Arc::new(Greeting("world".into()));
/// let route = PageRoute::new(Verb::Post, "/hello", HELLO, pow_core::page_act!(settings, hello));
/// ```
#[macro_export]
macro_rules! page_act {
    ($ext:expr, $act:path $(, $arg:expr)*) => {{
        let ext = ::std::sync::Arc::clone(&$ext);
        move |step: &mut $crate::pipeline::Step, client: &mut dyn $crate::pipeline::Client| {
            let ext = ::std::sync::Arc::clone(&ext);
            ::std::boxed::Box::pin(async move { $act(step, client, &ext $(, $arg)*).await })
                as $crate::pages::routes::ActFuture<'_>
        }
    }};
}

/// A static file an extension serves beside its pages (a page's script): the same on every
/// framework, outside the action pipeline, `200` with its type, cached an hour, never
/// sniffed; `GET` and `HEAD` only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asset {
    /// The path under the setup's mount point (the routes backend may move it, as it moves
    /// the extension's pages).
    pub path: &'static str,
    /// The extension serving it.
    pub extension: &'static str,
    /// Its media type (`text/javascript; charset=utf-8`).
    pub content_type: &'static str,
    /// The file.
    pub body: &'static str,
}

impl Asset {
    /// The `Cache-Control` an asset is answered with.
    pub const CACHE_CONTROL: &'static str = "public, max-age=3600";

    /// Where the asset is mounted under the setup's mount point.
    pub fn mounted_path(&self, config: &PowConfig) -> String {
        config.routes().extension_route(self.extension, self.path)
    }
}

/// Where a setup's [`Asset`]s are served, mount point included: the framework layers
/// answer these paths without reading or renewing a session, so no session cookie (a
/// renewed id, a remembered sign-in) rides on an answer that shared caches may keep.
///
/// ```
/// let config = pow_core::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let assets = pow_core::pages::routes::AssetPaths::new(&config);
/// assert!(!assets.contains("/session/new"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct AssetPaths {
    /// Each asset's path under the mount point, and its whole path.
    paths: Box<[(String, String)]>,
}

impl AssetPaths {
    /// The asset paths of `config`'s extensions.
    pub fn new(config: &PowConfig) -> Self {
        let paths = config
            .extensions()
            .assets()
            .iter()
            .map(|asset| {
                let under = asset.mounted_path(config);
                let whole = format!("{}{under}", config.mount_path());
                (under, whole)
            })
            .collect();
        Self { paths }
    }

    /// Whether `path` (a request's whole path) is an asset's.
    pub fn contains(&self, path: &str) -> bool {
        self.paths.iter().any(|(_, whole)| whole == path)
    }

    /// Whether `path` is an asset's whole path, or its path under the mount point (what a
    /// layer inside a router nested at the mount point sees).
    pub fn contains_either(&self, path: &str) -> bool {
        self.paths
            .iter()
            .any(|(under, whole)| whole == path || under == path)
    }
}

/// One page route: see the [module](self).
#[derive(Clone)]
pub struct PageRoute {
    /// The method.
    pub verb: Verb,
    /// The path under the setup's mount point, with `{name}` for a path segment
    /// (`/session/new`, `/session/unlock/{token}`); an extension's is its default, which
    /// the routes backend may move ([`Routes::extension_route`](crate::config::Routes::extension_route)).
    pub path: &'static str,
    /// The extension serving it (`None`: the core).
    pub extension: Option<&'static str>,
    /// The action it runs.
    pub action: ActionId,
    /// What the action asks of its client (access, sudo, step-up, CAPTCHA).
    pub requirements: Requirements,
    /// Whether it reads a posted form (CSRF-checked): every route but a `GET`.
    pub form: bool,
    /// Whether a `HEAD` request runs it as a `GET`: only for a route that shows a page and
    /// does nothing else ([`PageRoute::show`]). A `GET` with an effect (a mailed link that
    /// confirms an address) answers `HEAD` with `405`, so a link checker's `HEAD` cannot
    /// use a link up.
    pub head: bool,
    /// The controller.
    pub act: Act,
    /// A rule that depends on who asks: adjusts [`requirements`](Self::requirements) for
    /// the request's signed-in session before the access check (see
    /// [`requirements_for`](Self::requirements_for)).
    pub refine: Option<Refine>,
}

/// Adjusts a route's requirements for a request's signed-in session (`None`: nobody).
pub type Refine = fn(&PowConfig, Option<&CurrentSession>, Requirements) -> Requirements;

impl std::fmt::Debug for PageRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageRoute")
            .field("verb", &self.verb)
            .field("path", &self.path)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl PageRoute {
    /// A route of `verb` at `path` running `action` with the controller `act`, open to
    /// anyone; every verb but `GET` reads a form.
    pub fn new<F>(verb: Verb, path: &'static str, action: ActionId, act: F) -> Self
    where
        F: for<'a> Fn(&'a mut Step, &'a mut dyn Client) -> ActFuture<'a> + Send + Sync + 'static,
    {
        Self {
            verb,
            path,
            extension: None,
            action,
            requirements: Requirements::default(),
            form: verb != Verb::Get,
            head: false,
            act: Arc::new(act),
            refine: None,
        }
    }

    /// A `GET` route that shows the page `answer` builds.
    pub fn show(path: &'static str, action: ActionId, answer: fn() -> Answer) -> Self {
        let mut route = Self::new(Verb::Get, path, action, move |_, _| {
            Box::pin(async move { Ok(answer()) })
        });
        route.head = true;
        route
    }

    /// A route of extension `name`, whose path the routes backend may move.
    pub fn of_extension(mut self, name: &'static str) -> Self {
        self.extension = Some(name);
        self
    }

    /// Where the route is mounted under the setup's mount point: its path, or for an
    /// extension's route where the routes backend puts it.
    pub fn mounted_path(&self, config: &PowConfig) -> String {
        match self.extension {
            Some(name) => config.routes().extension_route(name, self.path),
            None => self.path.to_owned(),
        }
    }

    /// Adjusts the requirements per request with `refine` (closing an account asks for
    /// sudo mode, except from an account without a password, which proves itself by a
    /// mailed link).
    pub fn refined_by(mut self, refine: Refine) -> Self {
        self.refine = Some(refine);
        self
    }

    /// The requirements for a request signed in with `current`: the route's, adjusted by
    /// its [`refine`](Self::refine) rule.
    pub fn requirements_for(
        &self,
        config: &PowConfig,
        current: Option<&CurrentSession>,
    ) -> Requirements {
        match self.refine {
            Some(refine) => refine(config, current, self.requirements.clone()),
            None => self.requirements.clone(),
        }
    }

    crate::rule_builders!();

    fn rules(mut self, add: impl FnOnce(Requirements) -> Requirements) -> Self {
        self.requirements = add(std::mem::take(&mut self.requirements));
        self
    }
}

/// The core's page routes (the sign-in, sign-up, account, sessions, activity and password
/// confirmation pages), then each enabled extension's.
pub fn page_routes(config: &PowConfig) -> Vec<PageRoute> {
    use Verb::{Delete, Patch, Post, Put};
    let mut routes = vec![
        PageRoute::show("/session/new", core::SESSION_NEW, core::new_session).signed_out(),
        PageRoute::new(Post, "/session", core::SESSION_CREATE, |s, c| {
            Box::pin(core::create_session(s, c))
        })
        .signed_out()
        .captcha(),
        PageRoute::new(Delete, "/session", core::SESSION_DELETE, |s, c| {
            Box::pin(core::delete_session(s, c))
        })
        .signed_in(),
        PageRoute::show("/session/confirm", core::SESSION_CONFIRM, core::confirm).signed_in(),
        PageRoute::new(
            Post,
            "/session/confirm",
            core::SESSION_CONFIRM_CREATE,
            |s, c| Box::pin(core::create_confirm(s, c)),
        )
        .signed_in(),
        PageRoute::show(
            "/registration/new",
            core::REGISTRATION_NEW,
            core::new_registration,
        )
        .signed_out(),
        PageRoute::show(
            "/registration/edit",
            core::REGISTRATION_EDIT,
            core::edit_registration,
        )
        .sudo(),
        PageRoute::new(
            Verb::Get,
            "/registration/sessions",
            core::REGISTRATION_SESSIONS,
            |s, c| Box::pin(account::sessions(s, c)),
        )
        .signed_in(),
        PageRoute::new(
            Post,
            "/registration/sessions",
            core::REGISTRATION_SESSIONS_END,
            |s, c| Box::pin(account::end_sessions(s, c)),
        )
        .sudo(),
        PageRoute::new(
            Verb::Get,
            "/registration/activity",
            core::REGISTRATION_ACTIVITY,
            |s, c| Box::pin(account::activity(s, c)),
        )
        .signed_in(),
        PageRoute::new(Post, "/registration", core::REGISTRATION_CREATE, |s, c| {
            Box::pin(core::create_registration(s, c))
        })
        .signed_out()
        .captcha(),
    ];
    for verb in [Patch, Put] {
        routes.push(
            PageRoute::new(verb, "/registration", core::REGISTRATION_UPDATE, |s, c| {
                Box::pin(core::update_registration(s, c))
            })
            .sudo(),
        );
    }
    routes.push(
        PageRoute::new(
            Delete,
            "/registration",
            core::REGISTRATION_DELETE,
            |s, c| Box::pin(core::delete_registration(s, c)),
        )
        .sudo(),
    );
    if config.impersonation().is_some() {
        routes.extend(super::impersonation::routes());
    }
    routes.extend(config.extensions().page_routes().iter().cloned());
    routes
}

/// The routes of `table` grouped by where they are mounted ([`PageRoute::mounted_path`]),
/// in order: what a framework mounts as one resource per path.
pub fn by_path(config: &PowConfig, table: &[PageRoute]) -> Vec<(String, Vec<PageRoute>)> {
    let mut grouped: Vec<(String, Vec<PageRoute>)> = Vec::new();
    for route in table {
        let path = route.mounted_path(config);
        match grouped.iter_mut().find(|(at, _)| *at == path) {
            Some((_, routes)) => routes.push(route.clone()),
            None => grouped.push((path, vec![route.clone()])),
        }
    }
    grouped
}

/// The verbs of `routes` (the routes at one path), in order, without repeats.
pub(crate) fn verbs(routes: &[PageRoute]) -> Vec<Verb> {
    let mut verbs: Vec<Verb> = routes.iter().map(|route| route.verb).collect();
    verbs.sort();
    verbs.dedup();
    verbs
}

/// The methods a framework mounts at a path with `routes`: their `verbs`, and `POST`
/// where a `PATCH`, `PUT` or `DELETE` route is there, since HTML forms reach those by
/// posting a `_method` field.
pub fn methods(routes: &[PageRoute]) -> Vec<Verb> {
    let mut methods = verbs(routes);
    if methods
        .iter()
        .any(|verb| matches!(verb, Verb::Patch | Verb::Put | Verb::Delete))
    {
        methods.push(Verb::Post);
        methods.sort();
        methods.dedup();
    }
    methods
}

/// Whether a `HEAD` request at a path with `routes` runs its `GET` route (see
/// [`PageRoute::head`]).
pub fn answers_head(routes: &[PageRoute]) -> bool {
    routes
        .iter()
        .any(|route| route.verb == Verb::Get && route.head)
}

/// The `Allow` header of a path with `routes`, for a `405` answer (with `HEAD` where
/// [`answers_head`]).
pub fn allow(routes: &[PageRoute]) -> String {
    let mut names = Vec::new();
    for verb in verbs(routes) {
        names.push(verb.as_str());
        if verb == Verb::Get && answers_head(routes) {
            names.push("HEAD");
        }
    }
    names.join(",")
}

/// The `405` answer of a path whose `routes` take other methods: [`allow`] as `Allow`, no
/// body.
///
/// ```
/// let answer = pow_core::pages::routes::not_allowed(&[]);
/// assert_eq!((answer.status, answer.header("allow")), (405, Some("")));
/// ```
pub fn not_allowed(routes: &[PageRoute]) -> super::HttpAnswer {
    super::HttpAnswer {
        status: 405,
        headers: vec![("allow", allow(routes))],
        body: None,
    }
}

/// Puts what a route's controller reads of its request into `assigns` (the step's): the
/// path's `{name}` segments, the query parameters, and [`WantsJson`] when the client asked
/// for JSON.
pub fn assign_request(
    assigns: &mut crate::pipeline::Assigns,
    path: PathParams,
    query: QueryParams,
    json: bool,
) {
    assigns.insert(path);
    assigns.insert(query);
    if json {
        assigns.insert(WantsJson);
    }
}

/// The route a request of `verb` at one path runs among `candidates` (the routes at that
/// path): a `POST` whose form names another method in `_method` runs that method's route
/// (the `POST` route when there is none).
pub fn pick<'a>(
    candidates: &'a [PageRoute],
    verb: Verb,
    method_override: Option<&str>,
) -> Option<&'a PageRoute> {
    let find = |verb: Verb| candidates.iter().find(|route| route.verb == verb);
    match (verb, method_override.and_then(Verb::of_override)) {
        (Verb::Post, Some(other)) => find(other).or_else(|| find(Verb::Post)),
        _ => find(verb),
    }
}

/// The registration of extensions' page routes and static files, and where the setup's
/// are read.
impl crate::extension::ExtensionBuilder {
    /// A static file the extension serves beside its pages (a page's script), mounted by
    /// every framework layer ([`Asset`]).
    pub fn asset(&mut self, asset: Asset) -> &mut Self {
        self.add(asset)
    }

    /// A page route the extension serves, written once on the engine
    /// ([`PageRoute`]): every framework layer mounts it
    /// with the core's, under the setup's mount point.
    pub fn page_route(&mut self, route: PageRoute) -> &mut Self {
        self.add(route)
    }
}

impl crate::extension::Extensions {
    /// The static files the enabled extensions serve
    /// ([`ExtensionBuilder::asset`](crate::extension::ExtensionBuilder::asset)), in order.
    pub fn assets(&self) -> &[Asset] {
        self.all()
    }

    /// The page routes the enabled extensions serve
    /// ([`ExtensionBuilder::page_route`](crate::extension::ExtensionBuilder::page_route)),
    /// in order.
    pub fn page_routes(&self) -> &[PageRoute] {
        self.all()
    }
}

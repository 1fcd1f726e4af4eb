//! The JSON side's context, its extension trait and its routes.

use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use pow_core::pages::routes::Verb;

use super::error::ApiError;
use super::options::ApiOptions;
use super::*;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::session::tokens::TokenPair;
use crate::session::{CurrentSession, MethodUse};
use crate::users::User;

/// The JSON side of an extension: its routes under the API prefix, its part of the
/// OpenAPI document, and its [`TokenHooks`] (engine code, the same on every framework
/// layer: refuse a pair, add token data, list pending steps, describe settings). Object
/// safe; every method but [`name`](ApiExtension::name) has a default that does nothing.
///
/// ```
/// use actix_web::web;
/// use pow_actix::api::{ApiContext, ApiExtension, ApiOptions, Held, Issue, TokenHooks};
/// use pow_actix::PowError;
///
/// struct Ping;
///
/// impl ApiExtension for Ping {
///     fn name(&self) -> &'static str {
///         "ping"
///     }
///
///     fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
///         // GET /api/v1/ping
///         cfg.service(api.resource("/ping").route(web::get().to(|| async { "pong" })));
///     }
///
///     fn hooks(&self) -> Option<&dyn TokenHooks> {
///         Some(self)
///     }
/// }
///
/// #[async_trait::async_trait]
/// impl TokenHooks for Ping {
///     async fn before_issue(&self, issue: &Issue<'_>) -> Result<(), PowError> {
///         if issue.user.get_str("locked_at").is_some() {
///             return Err(Held::new(403, "Account locked").into());
///         }
///         Ok(())
///     }
/// }
///
/// let options = ApiOptions::new().extension(Ping);
/// ```
pub trait ApiExtension: Send + Sync + 'static {
    /// A name for logs, e.g. `"pow_reset_password"`.
    fn name(&self) -> &'static str;

    /// Registers the extension's JSON routes, typically with [`ApiContext::resource`] so
    /// their handlers can extract the [`ApiContext`].
    fn configure(&self, _cfg: &mut ServiceConfig, _api: &ApiContext) {}

    /// The extension's part of the OpenAPI 3.1 document
    /// ([`ApiContext::openapi`]): `{"paths": {...}, "components": {...}, "tags": [...]}`,
    /// paths under the prefix, components that may refer to the core's
    /// (`#/components/schemas/Error`, `#/components/responses/TokenPair`). Ship it as a
    /// JSON file and parse it with [`openapi_fragment`](super::openapi_fragment). The
    /// default is none: the routes go undocumented, which
    /// [`ApiContext::undocumented_routes`] reports.
    fn openapi(&self) -> Option<serde_json::Value> {
        None
    }

    /// The extension's say in issuing tokens (engine code every framework layer runs),
    /// if it has one. The default is none.
    fn hooks(&self) -> Option<&dyn TokenHooks> {
        None
    }
}

/// The mounted API: one transport's [`ApiService`] (config, options, token operations,
/// the engine's route table and the document) and the actix JSON sides. Handlers
/// registered with [`ApiContext::resource`] extract it as an argument.
#[derive(Clone)]
pub struct ApiContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    /// This transport's API.
    service: ApiService,
    options: ApiOptions,
    /// What wraps each route of the browser transport (built once per context; on the
    /// bearer transport's, never used).
    browser_middleware: super::BrowserMiddleware,
    /// The paths registered with [`ApiContext::resource`].
    routes: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The actix JSON sides of the config's extensions, in config order, then those added
    /// with [`ApiOptions::extension`]; an added one replaces the config's of the same name.
    extensions: Vec<Arc<dyn ApiExtension>>,
}

impl std::fmt::Debug for ApiContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiContext")
            .field("service", &self.inner.service)
            .field("options", &self.inner.options)
            .finish()
    }
}

/// An actix JSON side's hooks, as the engine runs them.
struct HooksOf(Arc<dyn ApiExtension>);

#[async_trait::async_trait]
impl TokenHooks for HooksOf {
    async fn before_issue(&self, issue: &Issue<'_>) -> Result<(), PowError> {
        match self.0.hooks() {
            Some(hooks) => hooks.before_issue(issue).await,
            None => Ok(()),
        }
    }

    async fn extend_token_data(
        &self,
        issue: &Issue<'_>,
        data: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), PowError> {
        match self.0.hooks() {
            Some(hooks) => hooks.extend_token_data(issue, data).await,
            None => Ok(()),
        }
    }

    async fn taken_sign_up(&self, config: &PowConfig, lang: &LanguageIdentifier) -> Option<Held> {
        self.0.hooks()?.taken_sign_up(config, lang).await
    }

    async fn pending_steps(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<Vec<PendingStep>, PowError> {
        match self.0.hooks() {
            Some(hooks) => hooks.pending_steps(config, user).await,
            None => Ok(Vec::new()),
        }
    }

    fn describe(&self, config: &PowConfig) -> Option<serde_json::Value> {
        self.0.hooks()?.describe(config)
    }
}

impl ApiContext {
    /// The context of `config` with `options`.
    pub fn new(config: PowConfig, options: ApiOptions) -> Self {
        let mut extensions: Vec<Arc<dyn ApiExtension>> =
            crate::extension::ActixExtensions::api(config.extensions())
                .cloned()
                .collect();
        for added in &options.extensions {
            match extensions.iter_mut().find(|e| e.name() == added.name()) {
                Some(slot) => *slot = Arc::clone(added),
                None => extensions.push(Arc::clone(added)),
            }
        }
        let sides = extensions
            .iter()
            .map(|ext| ApiSide {
                name: ext.name(),
                hooks: ext
                    .hooks()
                    .is_some()
                    .then(|| Arc::new(HooksOf(Arc::clone(ext))) as Arc<dyn TokenHooks>),
                openapi: ext.openapi(),
            })
            .collect();
        let service = ApiService::with_sides(config.clone(), options.engine.clone(), sides);
        Self::of(service, options, extensions)
    }

    fn of(
        service: ApiService,
        options: ApiOptions,
        extensions: Vec<Arc<dyn ApiExtension>>,
    ) -> Self {
        let transport = options
            .engine
            .browser_transport()
            .cloned()
            .unwrap_or_default();
        let browser_middleware = super::browser_middleware(service.config().clone(), &transport);
        Self {
            inner: Arc::new(ContextInner {
                service,
                options,
                browser_middleware,
                routes: std::sync::Mutex::default(),
                extensions,
            }),
        }
    }

    /// This transport's API, as the engine serves it.
    pub fn service(&self) -> &ApiService {
        &self.inner.service
    }

    /// The setup.
    pub fn config(&self) -> &PowConfig {
        self.inner.service.config()
    }

    /// The route prefix (`"/api/v1"` by default, `""` at the root; the browser
    /// transport's own on its context).
    pub fn prefix(&self) -> &str {
        self.inner.service.prefix()
    }

    /// `suffix` under the prefix: `path("/session")` is `"/api/v1/session"`.
    pub fn path(&self, suffix: &str) -> String {
        self.inner.service.path(suffix)
    }

    /// Whether this is the browser transport's context: sign-ins set the session cookie
    /// and answer no tokens ([`ApiOptions::browser`]).
    pub fn is_browser(&self) -> bool {
        self.inner.service.is_browser()
    }

    /// The browser transport's context beside this one, when the options ask for it.
    fn browser_context(&self) -> Option<ApiContext> {
        let service = self.inner.service.browser()?;
        Some(Self::of(
            service,
            self.inner.options.clone(),
            self.inner.extensions.clone(),
        ))
    }

    /// How long renewal tokens live.
    pub fn renewal_ttl(&self) -> Duration {
        self.inner.service.renewal_ttl()
    }

    /// How long a used renewal token may come again without revoking its chain.
    pub fn renewal_replay_grace(&self) -> Duration {
        self.inner.service.renewal_replay_grace()
    }

    /// A resource at `suffix` under the prefix, carrying this context (so handlers can
    /// extract it) and the body size limit.
    ///
    /// On the browser transport's context the resource is wrapped in a
    /// [`BrowserMiddleware`](super::BrowserMiddleware) (cookie session, trusted origins).
    pub fn resource(
        &self,
        suffix: &str,
    ) -> actix_web::Resource<
        impl ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<impl MessageBody>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
    > {
        if let Ok(mut routes) = self.inner.routes.lock() {
            routes.insert(suffix.to_owned());
        }
        web::resource(self.path(suffix))
            .app_data(web::Data::new(self.clone()))
            .app_data(web::Data::new(self.config().clone()))
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            // A method the path does not take: the API's JSON `405`, not an empty one.
            .wrap(actix_web::middleware::from_fn(
                |req: ServiceRequest, next: actix_web::middleware::Next<_>| async move {
                    let res = next.call(req).await?;
                    Ok::<_, actix_web::Error>(match super::middleware::method_not_allowed(res) {
                        Ok(answered) => answered,
                        Err(res) => res.map_into_left_body(),
                    })
                },
            ))
            .wrap(actix_web::middleware::Condition::new(
                self.is_browser(),
                self.inner.browser_middleware.clone(),
            ))
    }

    /// Issues a new token pair for `user`, starting a new sign-in from the device of `req`
    /// (address and user agent, for the session list) that proved `methods` now (what
    /// [`StepUp`](crate::session::StepUp) rules read), without running the extensions'
    /// [`TokenHooks`]: for an app page that hands a signed-in browser a pair (a "connect
    /// the CLI" page). A flow that signs a client in runs as an engine JSON route
    /// ([`ApiClient::signing_in`](pow_core::api::ApiClient::signing_in)), which runs them.
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn issue_tokens(
        &self,
        req: &actix_web::HttpRequest,
        user: &User,
        methods: Vec<MethodUse>,
    ) -> Result<TokenPair, PowError> {
        let current = req.extensions().get::<CurrentSession>().cloned();
        let facts = crate::web::ActixRequest(req).facts();
        self.inner
            .service
            .issue_tokens(current.as_ref(), &facts, user, methods)
            .await
    }

    /// The signed-in session of an API request: the one [`ApiAuthMiddleware`] resolved,
    /// else that of the request's bearer access token (so endpoints work without the
    /// middleware too). `None` for a missing, forged, expired or revoked token.
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails (as an [`ApiError`], `503`).
    pub async fn current_session(
        &self,
        req: &HttpRequest,
    ) -> Result<Option<CurrentSession>, ApiError> {
        if let Some(current) = req.extensions().get::<CurrentSession>().cloned() {
            return Ok(Some(current));
        }
        let Some(token) = bearer_token(req.headers()) else {
            return Ok(None);
        };
        Ok(self.inner.service.authenticate(token).await?)
    }

    /// The bearer session of `req`, put into the request extensions where the action
    /// pipeline looks for the signed-in user (sudo mode, step-up rules, rate limits,
    /// callbacks); `401` without a valid access token. For extension endpoints of signed-in
    /// clients, before [`run`](Self::run) or [`run_action`](Self::run_action).
    ///
    /// # Errors
    /// `401` without a session; the store's error.
    pub async fn signed_in(&self, req: &HttpRequest) -> Result<CurrentSession, ApiError> {
        let current = self
            .current_session(req)
            .await?
            .ok_or_else(|| ApiError::not_authenticated(req))?;
        req.extensions_mut().insert(current.clone());
        Ok(current)
    }

    /// The actix JSON sides of the extensions, in the order they run.
    pub fn extensions(&self) -> &[Arc<dyn ApiExtension>] {
        &self.inner.extensions
    }

    /// The OpenAPI 3.1 document of this API (built once): the core's endpoints, each JSON
    /// extension's, the app's ([`ApiOptions::openapi_fragment`]), with the answers any
    /// endpoint may give (`429`, `503`, and `400` for a body) added where missing. Served at
    /// [`ApiOptions::openapi_path`].
    ///
    /// # Errors
    /// [`PowError::Config`] when two contributions document one operation or component
    /// differently.
    pub fn openapi(&self) -> Result<&serde_json::Value, PowError> {
        self.inner.service.openapi()
    }

    /// The JSON routes mounted so far (the engine's, and those registered with
    /// [`resource`](Self::resource) by the extensions) that the
    /// [OpenAPI document](Self::openapi) does not list: empty when every route is
    /// documented. A test of an app calls it once the routes are mounted:
    ///
    /// ```
    /// use pow_actix::api::{self, ApiContext, ApiOptions};
    /// use pow_actix::PowConfig;
    ///
    /// let config = PowConfig::builder("s".repeat(64)).build().unwrap();
    /// let api = ApiContext::new(config, ApiOptions::new());
    /// let _app = actix_web::App::new().configure(|cfg| api::register(cfg, &api));
    /// assert_eq!(api.undocumented_routes().unwrap(), Vec::<String>::new());
    /// ```
    ///
    /// # Errors
    /// The document's error.
    pub fn undocumented_routes(&self) -> Result<Vec<String>, PowError> {
        let documented = pow_core::api::documented_paths(self.openapi()?);
        let mut missing = self.inner.service.undocumented_routes()?;
        let routes = self
            .inner
            .routes
            .lock()
            .map(|routes| routes.clone())
            .unwrap_or_default();
        missing.extend(
            routes
                .into_iter()
                .filter(|route| !documented.contains(route)),
        );
        missing.sort();
        missing.dedup();
        Ok(missing)
    }
}

impl FromRequest for ApiContext {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            req.app_data::<web::Data<ApiContext>>()
                .map(|data| data.get_ref().clone())
                .ok_or_else(|| {
                    PowError::Config(
                        "no ApiContext for this route: register it with \
                         pow_actix::api::configure or ApiContext::resource"
                            .into(),
                    )
                    .into()
                }),
        )
    }
}

/// Registers the JSON endpoints (see the [module docs](crate::api)) and each
/// [`ApiExtension`]'s routes, for `config`. Use it with `App::configure` or
/// `Scope::configure`.
pub fn configure(config: PowConfig, options: ApiOptions) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg: &mut ServiceConfig| {
        let api = ApiContext::new(config, options);
        register(cfg, &api);
    }
}

/// Registers the JSON endpoints of `api` (as [`configure`] does), for a caller that keeps
/// the context: to check its routes against its document
/// ([`ApiContext::undocumented_routes`]).
///
/// With [`ApiOptions::browser`], the same routes again under the browser transport's
/// prefix (all but `POST /session/renew` and the document).
pub fn register(cfg: &mut ServiceConfig, api: &ApiContext) {
    register_transport(cfg, api);
    if let Some(browser) = api.browser_context() {
        register_transport(cfg, &browser);
    }
}

/// The routes of one transport: the engine's table (the core's and the extensions'
/// engine routes), then the actix JSON sides' own.
fn register_transport(cfg: &mut ServiceConfig, api: &ApiContext) {
    for (path, here) in pow_core::api::routes::by_path(api.service().routes()) {
        let mut resource = api.resource(path);
        for route in here {
            let method = match route.verb {
                Verb::Get => web::get(),
                Verb::Post => web::post(),
                Verb::Patch => web::patch(),
                Verb::Put => web::put(),
                Verb::Delete => web::delete(),
            };
            let route = Arc::new(route);
            resource = resource.route(method.to(move |req: HttpRequest, body: web::Bytes| {
                super::serve::serve(req, body, Arc::clone(&route))
            }));
        }
        cfg.service(resource);
    }
    for ext in &api.inner.extensions {
        ext.configure(cfg, api);
    }
}

/// Whether `req` is an API request: served by [`ApiAuthMiddleware`] or routed to an
/// endpoint registered with [`ApiContext::resource`].
pub fn is_api_request(req: &HttpRequest) -> bool {
    req.extensions().contains::<ApiRequest>() || req.app_data::<web::Data<ApiContext>>().is_some()
}

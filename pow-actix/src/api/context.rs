//! The JSON side's context, its extension trait and its routes.

use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::error::ApiError;
use super::options::ApiOptions;
use super::*;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::request::RequestFacts;
use crate::session::tokens::{TokenPair, Tokens};
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

/// The mounted API: config, options and token operations. Handlers registered with
/// [`ApiContext::resource`] extract it as an argument.
#[derive(Clone)]
pub struct ApiContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    config: PowConfig,
    options: ApiOptions,
    /// Where the routes are mounted: the options' prefix, or the browser transport's.
    prefix: String,
    /// Whether this is the browser transport's context.
    browser: bool,
    /// What wraps each route of the browser transport (built once per context; on the
    /// bearer transport's, never used).
    browser_middleware: super::BrowserMiddleware,
    tokens: Tokens,
    /// The paths registered with [`ApiContext::resource`].
    routes: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The OpenAPI document, built once.
    openapi: std::sync::OnceLock<Result<serde_json::Value, String>>,
    /// The JSON sides of the config's extensions, in config order, then those added with
    /// [`ApiOptions::extension`]; an added one replaces the config's of the same name.
    extensions: Vec<Arc<dyn ApiExtension>>,
}

impl std::fmt::Debug for ApiContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiContext")
            .field("config", &self.inner.config)
            .field("options", &self.inner.options)
            .finish()
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
        Self {
            inner: Arc::new(ContextInner {
                tokens: Tokens::new(&config),
                prefix: options.prefix.clone(),
                browser: false,
                browser_middleware: options
                    .browser
                    .clone()
                    .unwrap_or_default()
                    .middleware(config.clone()),
                config,
                options,
                extensions,
                routes: std::sync::Mutex::default(),
                openapi: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The setup.
    pub fn config(&self) -> &PowConfig {
        &self.inner.config
    }

    /// The route prefix (`"/api/v1"` by default, `""` at the root; the browser
    /// transport's own on its context).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// `suffix` under the prefix: `path("/session")` is `"/api/v1/session"`.
    pub fn path(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.inner.prefix)
    }

    /// Whether this is the browser transport's context: sign-ins set the session cookie
    /// and answer no tokens ([`ApiOptions::browser`]).
    pub fn is_browser(&self) -> bool {
        self.inner.browser
    }

    /// Where the browser transport's routes are mounted, when the options ask for it.
    pub(crate) fn browser_prefix(&self) -> Option<String> {
        let transport = self.inner.options.browser.as_ref()?;
        Some(
            transport
                .prefix
                .clone()
                .unwrap_or_else(|| format!("{}/browser", self.inner.options.prefix)),
        )
    }

    /// The browser transport's context beside this one, when the options ask for it.
    fn browser_context(&self) -> Option<ApiContext> {
        let prefix = self.browser_prefix()?;
        Some(Self {
            inner: Arc::new(ContextInner {
                config: self.inner.config.clone(),
                options: self.inner.options.clone(),
                prefix,
                browser: true,
                browser_middleware: self.inner.browser_middleware.clone(),
                tokens: Tokens::new(&self.inner.config),
                routes: std::sync::Mutex::default(),
                openapi: std::sync::OnceLock::new(),
                extensions: self.inner.extensions.clone(),
            }),
        })
    }

    /// How long renewal tokens live.
    pub fn renewal_ttl(&self) -> Duration {
        self.inner.options.renewal_ttl
    }

    /// How long a used renewal token may come again without revoking its chain.
    pub fn renewal_replay_grace(&self) -> Duration {
        self.inner.options.replay_grace
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
            .wrap(actix_web::middleware::Condition::new(
                self.inner.browser,
                self.inner.browser_middleware.clone(),
            ))
    }

    /// The session of the JSON request `req` as a
    /// [`SessionHandle`](crate::session::SessionHandle), for a flow that signs the client in
    /// (a second factor, a mailed code): a pair it issues is issued for `action`, after
    /// every extension's [`TokenHooks::before_issue`]. Answer with
    /// [`signed_in`](Self::signed_in).
    pub fn session(
        &self,
        req: &HttpRequest,
        action: ApiAction,
    ) -> crate::session::InRequest<super::BearerSession> {
        super::BearerSession::new(self, req, action)
    }

    /// The answer of a flow that signed the client in through `session`: the token pair
    /// with the extensions' token data (on the browser transport, the data alone).
    ///
    /// # Errors
    /// [`PowError::Config`] when the flow started no session.
    pub fn issued(
        &self,
        req: &HttpRequest,
        session: &super::BearerSession,
    ) -> Result<actix_web::HttpResponse, ApiError> {
        super::controllers::issued(req, session)
    }

    /// Mails `user` the "new API client signed in" security notice (when notices are on),
    /// in `lang`, naming the device of `facts`.
    pub(crate) async fn notify_sign_in(
        &self,
        facts: &RequestFacts,
        lang: &LanguageIdentifier,
        user: &User,
    ) {
        let to = user.email().unwrap_or_default();
        crate::mailer::send_notice(
            self.config(),
            facts,
            lang,
            to,
            crate::mailer::Notice::ApiTokenIssued,
        )
        .await;
    }

    /// Issues a new token pair for `user`, starting a new sign-in from the device of `req`
    /// (address and user agent, for the session list) that proved `methods` now (what
    /// [`StepUp`](crate::session::StepUp) rules read), without running the extensions'
    /// [`TokenHooks`]: for an app page that hands a signed-in browser a pair (a "connect
    /// the CLI" page). A flow that signs a client in uses [`session`](Self::session),
    /// which runs them.
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
        self.issue_tokens_from(current.as_ref(), &facts, user, methods)
            .await
    }

    /// [`issue_tokens`](Self::issue_tokens) for a client signed in with `current` whose
    /// request has `facts`.
    pub(crate) async fn issue_tokens_from(
        &self,
        current: Option<&CurrentSession>,
        facts: &RequestFacts,
        user: &User,
        methods: Vec<MethodUse>,
    ) -> Result<TokenPair, PowError> {
        // Support access is the admin's browser session: nothing outlives it.
        if current.is_some_and(|current| current.metadata.is_impersonation()) {
            return Err(PowError::ImpersonationForbidden);
        }
        if user.is_closed() {
            return Err(PowError::AccountClosed);
        }
        let generation = self.inner.tokens.generation(user.id).await?;
        let device = crate::session::device_of(facts);
        let pair = self
            .inner
            .tokens
            .issue(
                user,
                None,
                Some(device),
                methods,
                generation,
                self.renewal_ttl(),
            )
            .await?;
        crate::audit::record(
            self.config(),
            crate::audit::AuditEvent::new(crate::audit::API_TOKEN_ISSUED).user(user.id),
        );
        Ok(pair)
    }

    /// The extensions' token hooks, in the order they run.
    pub(crate) fn hooks(&self) -> Vec<&dyn TokenHooks> {
        self.inner
            .extensions
            .iter()
            .filter_map(|ext| ext.hooks())
            .collect()
    }

    /// The answer hiding a sign-up refused for a taken user id, if a hook gives one (see
    /// [`TokenHooks::taken_sign_up`]).
    pub(crate) async fn taken_sign_up(&self, req: &HttpRequest) -> Option<ApiError> {
        let lang = error::language(req, Some(self.config()));
        pow_core::api::taken_sign_up(&self.hooks(), self.config(), &lang)
            .await
            .map(|held| ApiError::from_pow(req, held.into()))
    }

    /// Runs every extension's [`TokenHooks::before_issue`], then collects their
    /// [`TokenHooks::extend_token_data`], for a pair issued to `user` for `action` by a
    /// sign-in that proved `methods`: the data of the token answer.
    ///
    /// # Errors
    /// The first refusing or failing hook's answer.
    pub(crate) async fn prepare_issue(
        &self,
        facts: &RequestFacts,
        lang: &LanguageIdentifier,
        user: &User,
        action: ApiAction,
        methods: &[MethodUse],
    ) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
        let issue = Issue {
            config: self.config(),
            req: facts,
            lang,
            user,
            action,
            methods,
        };
        pow_core::api::prepare_issue(&self.hooks(), &issue)
            .await
            .map_err(|err| ApiError::from(err).localized_in(Some(self.config()), lang))
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
        Ok(self.inner.tokens.authenticate(token).await?)
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

    pub(crate) fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    pub(crate) fn options(&self) -> &ApiOptions {
        &self.inner.options
    }

    /// The JSON sides of the extensions, in the order they run.
    pub fn extensions(&self) -> &[Arc<dyn ApiExtension>] {
        &self.inner.extensions
    }

    /// The OpenAPI 3.1 document of this API (built once): the core's endpoints, each JSON
    /// extension's ([`ApiExtension::openapi`]), the app's
    /// ([`ApiOptions::openapi_fragment`]), with the answers any endpoint may give (`429`,
    /// `503`, and `400` for a body) added where missing. Served at
    /// [`ApiOptions::openapi_path`].
    ///
    /// # Errors
    /// [`PowError::Config`] when two contributions document one operation or component
    /// differently.
    pub fn openapi(&self) -> Result<&serde_json::Value, PowError> {
        self.inner
            .openapi
            .get_or_init(|| super::openapi::document(self).map_err(|err| err.to_string()))
            .as_ref()
            .map_err(|err| PowError::Config(err.clone()))
    }

    /// The JSON routes registered so far with [`resource`](Self::resource) (by
    /// [`configure`] and the extensions) that the [OpenAPI document](Self::openapi) does not
    /// list: empty when every route is documented. A test of an app calls it once the
    /// routes are mounted:
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
        let documented = super::openapi::documented_paths(self.openapi()?);
        let routes = self
            .inner
            .routes
            .lock()
            .map(|routes| routes.clone())
            .unwrap_or_default();
        Ok(routes
            .into_iter()
            .filter(|route| !documented.contains(route))
            .collect())
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

/// The routes of one transport.
fn register_transport(cfg: &mut ServiceConfig, api: &ApiContext) {
    {
        let api = api.clone();
        cfg.service(
            api.resource("/registration")
                .route(web::post().to(controllers::registration_create))
                .route(web::patch().to(controllers::registration_update))
                .route(web::put().to(controllers::registration_update))
                .route(web::delete().to(controllers::registration_delete)),
        )
        .service(api.resource("/config").route(web::get().to(info::config)))
        .service(
            api.resource("/session")
                .route(web::get().to(info::session))
                .route(web::post().to(controllers::session_create))
                .route(web::delete().to(controllers::session_delete)),
        )
        .service(
            api.resource("/activity")
                .route(web::get().to(info::activity)),
        )
        .service(
            api.resource("/session/unlock")
                .route(web::post().to(info::unlock)),
        )
        .service(
            api.resource("/session/reauthenticate")
                .route(web::post().to(controllers::session_reauthenticate)),
        )
        .service(
            api.resource("/sessions")
                .route(web::get().to(sessions::index)),
        )
        .service(
            api.resource("/sessions/{id}")
                .route(web::delete().to(sessions::delete)),
        );
        if !api.is_browser() {
            cfg.service(
                api.resource("/session/renew")
                    .route(web::post().to(controllers::session_renew)),
            );
        }
        for ext in &api.inner.extensions {
            ext.configure(cfg, &api);
        }
        if let Some(path) = api
            .inner
            .options
            .openapi_path
            .clone()
            .filter(|_| !api.is_browser())
        {
            cfg.service(
                api.resource(&path)
                    .route(web::get().to(super::info::openapi)),
            );
        }
    }
}

/// Whether `req` is an API request: served by [`ApiAuthMiddleware`] or routed to an
/// endpoint registered with [`ApiContext::resource`].
pub fn is_api_request(req: &HttpRequest) -> bool {
    req.extensions().contains::<ApiRequest>() || req.app_data::<web::Data<ApiContext>>().is_some()
}

//! The JSON side's context, its extension trait and its routes.

use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use async_trait::async_trait;

use super::error::{ApiError, PendingStep};
use super::options::ApiOptions;
use super::*;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::tokens::{TokenPair, Tokens};
use crate::session::{CurrentSession, MethodUse};
use crate::users::User;

/// The JSON side of an extension: its routes under the API prefix, and a say in issuing
/// tokens. Object safe; every method but [`name`](ApiExtension::name) has a default that
/// does nothing.
///
/// The hooks receive the request (neither `Send` nor `Sync`), so implement the trait with
/// `#[async_trait::async_trait(?Send)]`:
///
/// ```
/// use actix_web::http::StatusCode;
/// use actix_web::{web, HttpRequest, HttpResponse};
/// use pow_actix::api::{ApiAction, ApiContext, ApiError, ApiExtension, ApiOptions};
/// use pow_actix::User;
///
/// struct Ping;
///
/// #[async_trait::async_trait(?Send)]
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
///     async fn before_issue(
///         &self,
///         _req: &HttpRequest,
///         _api: &ApiContext,
///         user: &User,
///         _action: ApiAction,
///     ) -> Result<(), ApiError> {
///         if user.get_str("locked_at").is_some() {
///             return Err(ApiError::new(StatusCode::FORBIDDEN, "Account locked"));
///         }
///         Ok(())
///     }
/// }
///
/// let options = ApiOptions::new().extension(Ping);
/// ```
#[async_trait(?Send)]
pub trait ApiExtension: Send + Sync + 'static {
    /// A name for logs, e.g. `"pow_reset_password"`.
    fn name(&self) -> &'static str;

    /// Registers the extension's JSON routes, typically with [`ApiContext::resource`] so
    /// their handlers can extract the [`ApiContext`].
    fn configure(&self, _cfg: &mut ServiceConfig, _api: &ApiContext) {}

    /// Runs before a token pair is issued for `user`; an error is answered instead of the
    /// pair. After a registration the user stays created; on a renewal the renewal token
    /// is used up either way.
    async fn before_issue(
        &self,
        _req: &HttpRequest,
        _api: &ApiContext,
        _user: &User,
        _action: ApiAction,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// A sign-up was refused only because the user id is taken, and the setup hides which
    /// accounts exist ([`prevent_user_enumeration`](crate::PowConfig::prevent_user_enumeration)):
    /// return the answer a sign-up with a new address would get, if it gives no tokens
    /// (email confirmation in strict mode: "confirm your address"). `None` (the default)
    /// lets the `422` through.
    async fn taken_sign_up(&self, _req: &HttpRequest, _api: &ApiContext) -> Option<ApiError> {
        None
    }

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

    /// What a client should know of this extension's settings, listed by `GET /config`
    /// under `extension_details.<name>` (say the OAuth providers, or which second factors
    /// exist), so that a client is written once for every setup. Never a secret. The
    /// default is nothing.
    fn describe(&self, _api: &ApiContext) -> Option<serde_json::Value> {
        None
    }

    /// The steps still pending for the signed-in `user`, listed by `GET /session` under
    /// `data.pending` (say `confirm_email` for an unconfirmed address that may sign in
    /// meanwhile). `user` is the session's copy: an extension whose columns change
    /// outside the session reads the stored row itself. The default is none.
    async fn pending_steps(
        &self,
        _req: &HttpRequest,
        _api: &ApiContext,
        _user: &User,
    ) -> Result<Vec<PendingStep>, ApiError> {
        Ok(Vec::new())
    }

    /// Adds fields to the `data` object of the token answer for `user`, next to
    /// `access_token` and `renewal_token` (which always keep their values), say
    /// `"email_confirmed": false`. Runs once every extension's
    /// [`before_issue`](Self::before_issue) passed, before the pair is issued; an error
    /// is answered instead of the pair.
    async fn extend_token_data(
        &self,
        _req: &HttpRequest,
        _api: &ApiContext,
        _user: &User,
        _action: ApiAction,
        _data: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ApiError> {
        Ok(())
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
    /// every extension's [`before_issue`](ApiExtension::before_issue). Answer with
    /// [`signed_in`](Self::signed_in).
    pub fn session<'a>(
        &'a self,
        req: &'a HttpRequest,
        action: ApiAction,
    ) -> super::BearerSession<'a> {
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
        session: &super::BearerSession<'_>,
    ) -> Result<actix_web::HttpResponse, ApiError> {
        super::controllers::issued(req, session)
    }

    /// Mails `user` the "new API client signed in" security notice (when notices are on).
    pub(crate) async fn notify_sign_in(&self, req: &HttpRequest, user: &User) {
        let lang = error::language(req, Some(self.config()));
        let to = user.email().unwrap_or_default();
        crate::mailer::send_notice(
            self.config(),
            &crate::web::ActixRequest(req),
            &lang,
            to,
            crate::mailer::Notice::ApiTokenIssued,
        )
        .await;
    }

    /// Issues a new token pair for `user`, starting a new sign-in from the device of `req`
    /// (address and user agent, for the session list) that proved `methods` now (what
    /// [`StepUp`](crate::session::StepUp) rules read). For extension endpoints
    /// that sign a user in; run [`before_issue`](Self::before_issue) and
    /// [`token_data`](Self::token_data) first, and answer with [`token_response_with`].
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn issue_tokens(
        &self,
        req: &actix_web::HttpRequest,
        user: &User,
        methods: Vec<MethodUse>,
    ) -> Result<TokenPair, PowError> {
        // Support access is the admin's browser session: nothing outlives it.
        if req
            .extensions()
            .get::<CurrentSession>()
            .is_some_and(|current| current.metadata.is_impersonation())
        {
            return Err(PowError::ImpersonationForbidden);
        }
        if user.is_closed() {
            return Err(PowError::AccountClosed);
        }
        let generation = self.inner.tokens.generation(user.id).await?;
        let device = crate::session::device_of(&crate::web::ActixRequest(req));
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

    /// The answer hiding a sign-up refused for a taken user id, if an extension gives one
    /// (see [`ApiExtension::taken_sign_up`]).
    pub(crate) async fn taken_sign_up(&self, req: &HttpRequest) -> Option<ApiError> {
        for ext in &self.inner.extensions {
            if let Some(answer) = ext.taken_sign_up(req, self).await {
                return Some(answer);
            }
        }
        None
    }

    /// Runs every extension's [`ApiExtension::before_issue`], in order; the first error
    /// wins.
    ///
    /// # Errors
    /// The refusing extension's [`ApiError`].
    pub async fn before_issue(
        &self,
        req: &HttpRequest,
        user: &User,
        action: ApiAction,
    ) -> Result<(), ApiError> {
        for ext in &self.inner.extensions {
            ext.before_issue(req, self, user, action).await?;
        }
        Ok(())
    }

    /// Collects every extension's [`ApiExtension::extend_token_data`], in order, for the
    /// token answer of `user`.
    ///
    /// # Errors
    /// The first failing extension's [`ApiError`].
    pub async fn token_data(
        &self,
        req: &HttpRequest,
        user: &User,
        action: ApiAction,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
        let mut data = serde_json::Map::new();
        for ext in &self.inner.extensions {
            ext.extend_token_data(req, self, user, action, &mut data)
                .await?;
        }
        Ok(data)
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

/// The methods of the sign-in a request is issuing a token pair for, kept in the request
/// extensions while the API extensions' [`before_issue`](ApiExtension::before_issue) run.
#[derive(Clone)]
struct SignInMethods(Vec<MethodUse>);

/// Records what the sign-in `req` issues tokens for proved, for [`sign_in_methods`].
pub(crate) fn set_sign_in_methods(req: &HttpRequest, methods: &[MethodUse]) {
    req.extensions_mut().insert(SignInMethods(methods.to_vec()));
}

/// What the sign-in that `req` is issuing a token pair for proved (a password, a mailed
/// code, …), for an extension's [`before_issue`](ApiExtension::before_issue) that holds the
/// sign-in back for a further step and needs to carry them over.
pub fn sign_in_methods(req: &HttpRequest) -> Vec<MethodUse> {
    req.extensions()
        .get::<SignInMethods>()
        .map(|methods| methods.0.clone())
        .unwrap_or_default()
}

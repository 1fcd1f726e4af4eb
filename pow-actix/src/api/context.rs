//! The JSON API's context and its routes.

use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use pow_core::pages::routes::Verb;

use super::error::ApiError;
use super::*;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::tokens::TokenPair;
use crate::session::{CurrentSession, MethodUse};
use crate::users::User;

/// The mounted API: one transport's [`ApiService`] (config, options, token operations,
/// the engine's route table and the document) and the routes mounted on it. Handlers
/// registered with [`ApiContext::resource`] extract it as an argument.
#[derive(Clone)]
pub struct ApiContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    /// This transport's API.
    service: ApiService,
    /// What wraps each route of the browser transport (built once per context; on the
    /// bearer transport's, never used).
    browser_middleware: super::BrowserMiddleware,
    /// The paths registered with [`ApiContext::resource`].
    routes: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl std::fmt::Debug for ApiContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiContext")
            .field("service", &self.inner.service)
            .finish()
    }
}

impl ApiContext {
    /// The context of `config` with `options`.
    pub fn new(config: PowConfig, options: ApiOptions) -> Self {
        Self::of(ApiService::new(config, options))
    }

    fn of(service: ApiService) -> Self {
        let transport = service
            .options()
            .browser_transport()
            .cloned()
            .unwrap_or_default();
        let browser_middleware = super::browser_middleware(service.config().clone(), &transport);
        Self {
            inner: Arc::new(ContextInner {
                service,
                browser_middleware,
                routes: std::sync::Mutex::default(),
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
        Some(Self::of(service))
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
            .app_data(crate::session::guard::ApiResource)
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
    /// [`resource`](Self::resource)) that the
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
        let documented = pow_core::framework::api::documented_paths(self.openapi()?);
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
/// enabled extension's, for `config`. Use it with `App::configure` or
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

/// The routes of one transport: the engine's table (the core's and the extensions').
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
}

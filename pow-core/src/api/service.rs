//! [`ApiService`]: the JSON API of one setup on one transport, as every framework mounts
//! it: its settings, its token operations, the extensions' hooks and its route table.

use std::sync::Arc;
use std::time::Duration;

use super::routes::ApiRoute;
use super::{ApiError, ApiOptions, Issue, TokenHooks};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::request::RequestFacts;
use crate::session::tokens::{TokenPair, Tokens};
use crate::session::{CurrentSession, MethodUse};
use crate::users::User;

/// The JSON API of a setup on one transport (bearer tokens, or the browser transport's
/// session cookie): what a framework layer mounts. Cheap to clone.
///
/// ```
/// use pow_core::api::{ApiOptions, ApiService};
///
/// let config = pow_core::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let api = ApiService::new(config, ApiOptions::new());
/// assert_eq!(api.path("/session"), "/api/v1/session");
/// assert!(api.routes().iter().any(|route| route.path == "/session/renew"));
/// assert!(api.browser().is_none());
/// ```
#[derive(Clone)]
pub struct ApiService {
    inner: Arc<Inner>,
}

struct Inner {
    config: PowConfig,
    options: ApiOptions,
    /// Where this transport's routes are mounted.
    prefix: String,
    /// Whether this is the browser transport.
    browser: bool,
    tokens: Tokens,
    /// The JSON sides (token hooks, document fragments), in the order they run.
    sides: Vec<ApiSide>,
    /// The routes of this transport: the core's, then each enabled extension's.
    routes: Vec<ApiRoute>,
    /// The OpenAPI document, built once.
    openapi: std::sync::OnceLock<Result<serde_json::Value, String>>,
}

/// An extension's JSON side, besides its routes: its say in issuing tokens and its part
/// of the OpenAPI document. Registered with
/// [`ExtensionBuilder::api_hooks`](crate::extension::ExtensionBuilder::api_hooks) and
/// [`ExtensionBuilder::api_document`](crate::extension::ExtensionBuilder::api_document).
#[derive(Clone)]
pub struct ApiSide {
    /// The extension's name.
    pub name: &'static str,
    /// Its token hooks, if any.
    pub hooks: Option<Arc<dyn TokenHooks>>,
    /// Its part of the OpenAPI document, if any.
    pub openapi: Option<serde_json::Value>,
}

impl ApiSide {
    /// The side of extension `name`, without hooks or document.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            hooks: None,
            openapi: None,
        }
    }
}

impl std::fmt::Debug for ApiSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSide")
            .field("name", &self.name)
            .field("hooks", &self.hooks.is_some())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiService")
            .field("prefix", &self.inner.prefix)
            .field("browser", &self.inner.browser)
            .finish_non_exhaustive()
    }
}

impl ApiService {
    /// The bearer transport's API of `config` with `options`: the core's routes, and those,
    /// the token hooks and the document of every enabled extension.
    pub fn new(config: PowConfig, options: ApiOptions) -> Self {
        Self::with_sides(config, options, Vec::new())
    }

    /// [`new`](Self::new), with more JSON sides after the extensions' (a framework
    /// layer's own); one named like an extension's replaces it.
    pub(crate) fn with_sides(config: PowConfig, options: ApiOptions, more: Vec<ApiSide>) -> Self {
        let mut sides: Vec<ApiSide> = config.extensions().api_sides().cloned().collect();
        for added in more {
            match sides.iter_mut().find(|have| have.name == added.name) {
                Some(slot) => *slot = added,
                None => sides.push(added),
            }
        }
        let prefix = options.prefix.clone();
        Self::build(config, options, prefix, false, sides)
    }

    fn build(
        config: PowConfig,
        options: ApiOptions,
        prefix: String,
        browser: bool,
        sides: Vec<ApiSide>,
    ) -> Self {
        let routes = super::core::api_routes(&config, &options, browser);
        Self {
            inner: Arc::new(Inner {
                tokens: Tokens::new(&config),
                config,
                options,
                prefix,
                browser,
                sides,
                routes,
                openapi: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The browser transport's API beside this one, when the options ask for it.
    pub fn browser(&self) -> Option<ApiService> {
        let prefix = self.inner.options.browser_prefix()?;
        Some(Self::build(
            self.inner.config.clone(),
            self.inner.options.clone(),
            prefix,
            true,
            self.inner.sides.clone(),
        ))
    }

    /// The setup.
    pub fn config(&self) -> &PowConfig {
        &self.inner.config
    }

    /// The settings.
    pub fn options(&self) -> &ApiOptions {
        &self.inner.options
    }

    /// Where this transport's routes are mounted (`"/api/v1"` by default, `""` at the
    /// root; the browser transport's own prefix on its service).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// `suffix` under the prefix: `path("/session")` is `"/api/v1/session"`.
    pub fn path(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.inner.prefix)
    }

    /// Whether this is the browser transport: sign-ins set the session cookie and answer
    /// no tokens.
    pub fn is_browser(&self) -> bool {
        self.inner.browser
    }

    /// The routes of this transport, in the order they are mounted.
    pub fn routes(&self) -> &[ApiRoute] {
        &self.inner.routes
    }

    /// The token operations.
    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// How long renewal tokens live.
    pub fn renewal_ttl(&self) -> Duration {
        self.inner.options.renewal_ttl
    }

    /// How long a used renewal token may come again without revoking its chain.
    pub fn renewal_replay_grace(&self) -> Duration {
        self.inner.options.replay_grace
    }

    /// The JSON sides, in the order their hooks run.
    pub fn sides(&self) -> &[ApiSide] {
        &self.inner.sides
    }

    /// The token hooks, in the order they run, by extension name.
    pub fn hooks(&self) -> impl Iterator<Item = (&'static str, &'_ dyn TokenHooks)> + '_ {
        self.inner.sides.iter().filter_map(|side| {
            let hooks: &dyn TokenHooks = &**side.hooks.as_ref()?;
            Some((side.name, hooks))
        })
    }

    /// The OpenAPI 3.1 document of this API (built once): the core's endpoints, each
    /// extension's, the app's ([`ApiOptions::openapi_fragment`]), with the answers any
    /// endpoint may give (`429`, `503`, and `400` for a body) added where missing.
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

    /// The routes this API mounts that its [OpenAPI document](Self::openapi) does not
    /// list: empty when every route is documented.
    ///
    /// # Errors
    /// The document's error.
    pub fn undocumented_routes(&self) -> Result<Vec<String>, PowError> {
        let documented = super::openapi::documented_paths(self.openapi()?);
        let mut missing: Vec<String> = self
            .inner
            .routes
            .iter()
            .map(|route| route.path.to_owned())
            .filter(|path| !documented.contains(path))
            .collect();
        missing.dedup();
        Ok(missing)
    }

    /// The token hooks, in the order they run.
    pub(crate) fn hook_list(&self) -> Vec<&dyn TokenHooks> {
        self.hooks().map(|(_, hooks)| hooks).collect()
    }

    /// The session of a bearer `token`: `None` for a forged, expired or revoked one.
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn authenticate(&self, token: &str) -> Result<Option<CurrentSession>, PowError> {
        self.inner.tokens.authenticate(token).await
    }

    /// Runs every hook's [`TokenHooks::before_issue`], then collects their
    /// [`TokenHooks::extend_token_data`], for a pair issued to `user` for `action` by a
    /// sign-in that proved `methods`: the data of the token answer.
    ///
    /// # Errors
    /// The first refusing or failing hook's error.
    pub(crate) async fn prepare_issue(
        &self,
        facts: &RequestFacts,
        lang: &LanguageIdentifier,
        user: &User,
        action: super::ApiAction,
        methods: &[MethodUse],
    ) -> Result<serde_json::Map<String, serde_json::Value>, PowError> {
        let issue = Issue {
            config: self.config(),
            req: facts,
            lang,
            user,
            action,
            methods,
        };
        super::prepare_issue(&self.hook_list(), &issue).await
    }

    /// The answer hiding a sign-up refused for a taken user id, if a hook gives one (see
    /// [`TokenHooks::taken_sign_up`]).
    pub async fn taken_sign_up(&self, lang: &LanguageIdentifier) -> Option<ApiError> {
        super::taken_sign_up(&self.hook_list(), self.config(), lang)
            .await
            .map(|held| ApiError::from(PowError::from(held)).localized(Some(self.config()), lang))
    }

    /// Issues a new token pair for `user`, starting a new sign-in from the device of
    /// `facts` that proved `methods` now, without running the token hooks: for an app
    /// page that hands a signed-in browser a pair (a "connect the CLI" page). `current`
    /// is the session asking, if any: support access gets no pair.
    ///
    /// # Errors
    /// [`PowError::ImpersonationForbidden`] during support access,
    /// [`PowError::AccountClosed`] for a closed account, [`PowError::Store`] when the store
    /// fails.
    pub async fn issue_tokens(
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
}

/// The registration of an extension's JSON side, and where the setup's are read.
impl crate::extension::ExtensionBuilder {
    /// The extension's say in issuing API tokens ([`TokenHooks`](super::TokenHooks):
    /// refuse a pair, add token data, list pending steps, describe settings), run by every
    /// framework layer.
    pub fn api_hooks(&mut self, hooks: impl super::TokenHooks) -> &mut Self {
        let name = self.name();
        self.side::<Option<ApiSide>>()
            .get_or_insert_with(|| ApiSide::new(name))
            .hooks = Some(Arc::new(hooks));
        self
    }

    /// The extension's part of the OpenAPI document: `{"paths": {...}, "components":
    /// {...}, "tags": [...]}`, paths under the prefix (see
    /// [`openapi_fragment`](crate::api::openapi_fragment)).
    pub fn api_document(&mut self, fragment: Option<serde_json::Value>) -> &mut Self {
        let name = self.name();
        self.side::<Option<ApiSide>>()
            .get_or_insert_with(|| ApiSide::new(name))
            .openapi = fragment;
        self
    }
}

impl crate::extension::Extensions {
    /// The extensions' JSON sides (token hooks, OpenAPI fragments), in order.
    pub(crate) fn api_sides(&self) -> impl Iterator<Item = &ApiSide> {
        self.sides::<Option<ApiSide>>().flatten()
    }
}

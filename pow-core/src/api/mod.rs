//! A JSON API with bearer tokens: sign-up, sign-in, renewal and sign-out for mobile and
//! single-page clients, following Pow's API guide.
//!
//! A client signs in and gets two signed tokens:
//!
//! - an **access token**, sent as `Authorization: Bearer <access token>` on every API
//!   request. It is a session in the [`CredentialsCache`](crate::session::CredentialsCache)
//!   and lives as long as one
//!   ([`credentials_ttl`](crate::SessionConfig::credentials_ttl), 30 minutes by default);
//! - a **renewal token**, kept by the client and sent (also as a bearer token) to
//!   `POST <prefix>/session/renew` when the access token has expired. It answers a new
//!   pair, works **once**, and lives 30 days ([`ApiOptions::renewal_ttl`]).
//!
//! Both are random UUIDs signed like every pow-rs token ([`crate::token`]), each with its
//! own salt ([`ACCESS_TOKEN_SALT`], [`RENEWAL_TOKEN_SALT`]): the signature is checked before
//! any lookup, and one kind of token never passes for the other.
//!
//! # Setup
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use pow_core::api::{self, ApiAuthMiddleware, ApiOptions};
//! use pow_core::session::RequireAuthenticated;
//! use pow_core::{CurrentUser, PowConfig};
//!
//! async fn me(CurrentUser(user): CurrentUser) -> HttpResponse {
//!     HttpResponse::Ok().json(serde_json::json!({ "data": { "email": user.email() } }))
//! }
//!
//! let config = PowConfig::builder("s".repeat(64)).build().unwrap();
//! let app = App::new()
//!     // POST /api/v1/registration, POST|DELETE /api/v1/session, POST /api/v1/session/renew
//!     .configure(api::configure(config.clone(), ApiOptions::new()))
//!     .service(
//!         web::resource("/api/v1/me")
//!             .wrap(RequireAuthenticated::new())
//!             .route(web::get().to(me)),
//!     )
//!     // Loads the user of the bearer token for every route of the app.
//!     .wrap(ApiAuthMiddleware::new(config.clone()));
//! ```
//!
//! [`ApiAuthMiddleware`] puts the signed-in [`CurrentSession`] and the [`PowConfig`] into
//! the request extensions exactly as [`PowSessionMiddleware`](crate::PowSessionMiddleware)
//! does, so [`CurrentUser`](crate::CurrentUser), [`MaybeUser`](crate::MaybeUser),
//! [`current_user`](crate::session::current_user) and
//! [`RequireAuthenticated`](crate::session::RequireAuthenticated) work unchanged. Behind
//! it, failed guards answer JSON ([`ApiErrorHandler`]) even without an `Accept` header.
//! The endpoints themselves read the bearer token directly, so they work whether or not
//! the middleware wraps them.
//!
//! # Endpoints
//!
//! Bodies are JSON; user params go under `user`. Successful sign-up, sign-in and renewal
//! answer `200` with `{"data": {"access_token": "...", "renewal_token": "..."}}` and
//! `Cache-Control: no-store`. Errors answer
//! `{"error": {"status": N, "message": "...", "code": "...", "errors": {"field": ["..."]}}}`
//! ([`ApiError`]; `code` and `errors` only when there are some), with texts translated for
//! the request's `Accept-Language`.
//!
//! | Route | Body / token | Answer |
//! |---|---|---|
//! | `POST <prefix>/registration` | `{"user": {"email", "password", "password_confirmation", ...}}` | a pair; `422` with per-field errors |
//! | `POST <prefix>/session` | `{"user": {"email", "password"}}` | a pair; `401` with the generic `invalid_credentials` text |
//! | `DELETE <prefix>/session` | access or renewal token | `{"data": {}}`; both tokens of the pair are revoked |
//! | `POST <prefix>/session/renew` | renewal token | a new pair; `401` `Invalid token` |
//!
//! A body that is not a JSON object answers `400`. The default prefix is `/api/v1`
//! ([`ApiOptions::prefix`]).
//!
//! When the service sheds load ([`PowError::Busy`], e.g. a full password-hashing queue),
//! any endpoint answers `503` with `Retry-After: 5` ([`BUSY_RETRY_AFTER_SECS`]) and
//! `{"error": {"status": 503, "message": "<translated api-busy text>", "code": "busy"}}`;
//! clients should wait that long before trying again. A cache store that is down answers
//! `503` too.
//!
//! # Renewal and revocation
//!
//! Renewing consumes the renewal token ([`Store::take`](crate::store::Store::take): of two
//! concurrent renewals with one token exactly one succeeds) and **deletes the access token
//! issued with it**, as Pow's guide does: after a renewal only the new pair works. The new
//! pair continues the sign-in (same fingerprint and sign-in time), so the
//! [absolute session lifetime](crate::SessionConfig::absolute_lifetime) (14 days by
//! default) caps a chain of renewals as it caps browser sessions; set it to `None` for
//! Pow's behaviour (renewals forever).
//!
//! [`revoke_user`](crate::session::revoke_user), which pow-rs runs on a password change or
//! reset and account deletion, and
//! [`sign_out_everywhere`](crate::session::sign_out_everywhere) also revoke every API
//! token of the user ([`revoke_user_tokens`]), renewal tokens included, at once: the user
//! moves to a new revocation generation that every token is checked against, so even a
//! pair issued by a request racing the revocation is refused. The access tokens, as
//! sessions, are listed by
//! [`CredentialsCache::sessions`](crate::session::CredentialsCache::sessions) next to the
//! browser sessions; their metadata holds an `api_renewal_token` entry.
//!
//! # Why there is no CSRF protection
//!
//! CSRF works because browsers attach cookies to cross-site requests by themselves. These
//! endpoints authenticate with the `Authorization` header only, which a browser never adds
//! on its own and which a page from another origin cannot set on a request to this one
//! without CORS permission; the token answers are in response bodies, which another origin
//! cannot read. So a forged cross-site request carries no credentials, and signing a
//! victim in to an attacker's account gives the attacker nothing. This only holds while
//! API routes accept no cookie: do not wrap them in the cookie session middlewares, and do
//! not allow credentials (cookies) in a CORS policy for them.
//!
//! # Extensions
//!
//! Every endpoint runs through the same action pipeline as the HTML controllers
//! ([`Action`](crate::web::Action), see [`ApiContext::run`]): each enabled
//! [`Extension`](crate::Extension)'s `before_process` and `before_respond` see the API's
//! [`actions`] with [`Controller::is_json`](crate::web::Controller::is_json) set (callbacks
//! that answer with pages, redirects or cookies leave those alone), and changeset hooks
//! run as part of creating a user.
//!
//! Token issuing has its own hooks, on the extension's JSON side, an [`ApiExtension`]:
//! enabling an extension in the config enables its JSON side too
//! ([`ExtensionBuilder::api`](crate::extension::ExtensionBuilder::api)); [`ApiOptions::extension`] adds one or
//! replaces the config's with other settings. It registers routes under the prefix
//! ([`ApiContext::resource`]), may refuse to issue tokens ([`ApiExtension::before_issue`],
//! e.g. until an email address is confirmed) and may add fields to token answers
//! ([`ApiExtension::extend_token_data`]). The reset-password and email-confirmation
//! extensions ship one each (`ResetPassword::api`, `EmailConfirmation::api`). Links in the
//! mails they send point wherever a [`LinkTemplate`] says, so that a mobile or single-page
//! app can open them.
//!
//! # Texts
//!
//! Besides the core's `invalid_credentials` and validation errors, the API uses the keys
//! `api-not-authenticated`, `api-already-authenticated`, `api-invalid-token`,
//! `api-invalid-request`, `api-user-not-created` and `api-busy` ([`API_FTL`]: English,
//! German, French), overridable with
//! [`PowConfigBuilder::messages_ftl`](crate::PowConfigBuilder::messages_ftl).

use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use async_trait::async_trait;

use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::CurrentSession;
use crate::users::User;

mod controllers;
mod error;
mod link;
mod middleware;
mod sessions;
pub use sessions::{authenticate, revoke_user_tokens};
pub(crate) mod tokens;

pub use controllers::{actions, token_response, token_response_with, user_params};
pub use error::{ApiError, ApiErrorHandler, API_FTL, BUSY_RETRY_AFTER_SECS};
pub use link::LinkTemplate;
pub use middleware::{bearer_token, ApiAuthMiddleware, ApiRequest, BearerSource};
pub use tokens::TokenPair;
mod options;
pub use options::{ApiOptions, DEFAULT_REPLAY_GRACE};

use tokens::Tokens;

/// Salt of access tokens.
pub const ACCESS_TOKEN_SALT: &str = "pow_core.api.access";
/// Salt of renewal tokens.
pub const RENEWAL_TOKEN_SALT: &str = "pow_core.api.renewal";
/// The default route prefix.
pub const DEFAULT_PREFIX: &str = "/api/v1";
/// The default lifetime of renewal tokens: 30 days.
pub const DEFAULT_RENEWAL_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest lifetime of renewal tokens: 365 days. Longer settings are capped.
pub const MAX_RENEWAL_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Largest request body the endpoints read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a token pair is about to be issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiAction {
    /// A user just signed up (the user exists already).
    Registration,
    /// A user signed in with a user id and password.
    SignIn,
    /// A renewal token was exchanged for a new pair.
    Renewal,
}

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
/// use pow_core::api::{ApiAction, ApiContext, ApiError, ApiExtension, ApiOptions};
/// use pow_core::User;
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
    tokens: Tokens,
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
        let mut extensions: Vec<Arc<dyn ApiExtension>> = config.extensions().api().to_vec();
        for added in &options.extensions {
            match extensions.iter_mut().find(|e| e.name() == added.name()) {
                Some(slot) => *slot = Arc::clone(added),
                None => extensions.push(Arc::clone(added)),
            }
        }
        Self {
            inner: Arc::new(ContextInner {
                tokens: Tokens::new(&config),
                config,
                options,
                extensions,
            }),
        }
    }

    /// The setup.
    pub fn config(&self) -> &PowConfig {
        &self.inner.config
    }

    /// The route prefix (`"/api/v1"` by default, `""` at the root).
    pub fn prefix(&self) -> &str {
        &self.inner.options.prefix
    }

    /// `suffix` under the prefix: `path("/session")` is `"/api/v1/session"`.
    pub fn path(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.inner.options.prefix)
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
    pub fn resource(&self, suffix: &str) -> actix_web::Resource {
        web::resource(self.path(suffix))
            .app_data(web::Data::new(self.clone()))
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
    }

    /// The whole answer of a sign-in for `user`: every extension's
    /// [`before_issue`](ApiExtension::before_issue), their token data, a new pair
    /// ([`issue_tokens`](Self::issue_tokens)) and the token answer. For extension endpoints
    /// that sign a user in (a second factor, a mailed code).
    ///
    /// # Errors
    /// A refusing extension's [`ApiError`], or the store's error.
    pub async fn sign_in_response(
        &self,
        req: &actix_web::HttpRequest,
        user: &User,
        action: ApiAction,
    ) -> Result<actix_web::HttpResponse, ApiError> {
        self.before_issue(req, user, action).await?;
        let data = self.token_data(req, user, action).await?;
        let pair = self.issue_tokens(req, user).await?;
        if action != ApiAction::Registration {
            self.notify_sign_in(req, user).await;
        }
        Ok(token_response_with(&pair, data))
    }

    /// Mails `user` the "new API client signed in" security notice (when notices are on).
    pub(crate) async fn notify_sign_in(&self, req: &HttpRequest, user: &User) {
        let lang = error::language(req, Some(self.config()));
        let to = user.email().unwrap_or_default();
        crate::mailer::send_notice(
            self.config(),
            req,
            &lang,
            to,
            crate::mailer::Notice::ApiTokenIssued,
        )
        .await;
    }

    /// Issues a new token pair for `user`, starting a new sign-in from the device of `req`
    /// (address and user agent, for the session list). For extension endpoints
    /// that sign a user in; run [`before_issue`](Self::before_issue) and
    /// [`token_data`](Self::token_data) first, and answer with [`token_response_with`].
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn issue_tokens(
        &self,
        req: &actix_web::HttpRequest,
        user: &User,
    ) -> Result<TokenPair, PowError> {
        let generation = self.inner.tokens.generation(user.id).await?;
        let device = crate::session::device_of(req, self.config());
        let pair = self
            .inner
            .tokens
            .issue(user, None, Some(device), generation, self.renewal_ttl())
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

    pub(crate) fn tokens(&self) -> &Tokens {
        &self.inner.tokens
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
                         pow_core::api::configure or ApiContext::resource"
                            .into(),
                    )
                    .into()
                }),
        )
    }
}

/// Registers the JSON endpoints (see the [module docs](self)) and each
/// [`ApiExtension`]'s routes, for `config`. Use it with `App::configure` or
/// `Scope::configure`.
pub fn configure(config: PowConfig, options: ApiOptions) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg: &mut ServiceConfig| {
        let api = ApiContext::new(config, options);
        cfg.service(
            api.resource("/registration")
                .route(web::post().to(controllers::registration_create)),
        )
        .service(
            api.resource("/session")
                .route(web::post().to(controllers::session_create))
                .route(web::delete().to(controllers::session_delete)),
        )
        .service(
            api.resource("/session/renew")
                .route(web::post().to(controllers::session_renew)),
        )
        .service(
            api.resource("/sessions")
                .route(web::get().to(sessions::index)),
        )
        .service(
            api.resource("/sessions/{id}")
                .route(web::delete().to(sessions::delete)),
        );
        for ext in &api.inner.extensions {
            ext.configure(cfg, &api);
        }
    }
}

/// Whether `req` is an API request: served by [`ApiAuthMiddleware`] or routed to an
/// endpoint registered with [`ApiContext::resource`].
pub fn is_api_request(req: &HttpRequest) -> bool {
    req.extensions().contains::<ApiRequest>() || req.app_data::<web::Data<ApiContext>>().is_some()
}

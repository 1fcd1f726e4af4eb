//! [`PowConfig`]: one value per setup, passed explicitly (no global state).
//!
//! ```
//! use pow_core::PowConfig;
//! let config = PowConfig::builder("a".repeat(64))
//!     .user_id_field("email")
//!     .build()
//!     .unwrap();
//! assert_eq!(config.user_id_field(), "email");
//! assert!(PowConfig::builder("too short").build().is_err());
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::error::PowError;
use crate::extension::Extensions;
use crate::mailer::{MailViews, Mailer};
use crate::messages::Messages;
use crate::password::{HashPool, PasswordHasher};
use crate::store::Store;
use crate::token::MessageVerifier;
use crate::users::{FieldDef, UserSchema, UsersContext};
use crate::views::Views;

/// Minimum length of the secret key base, in bytes.
pub const MIN_SECRET_KEY_BASE_LEN: usize = 64;

pub use crate::password::PasswordPolicy;

/// Session lifetimes and cookie settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Key inside the cookie session that holds the signed session token. Default `"auth"`
    /// (`"<name>_auth"` for a named setup).
    pub session_key: String,
    /// Name of the session cookie. Default `"pow_session"` (`"<name>_session"`).
    pub cookie_name: String,
    /// A session token older than this is rotated on the next request. `None` never
    /// rotates; `Some(ZERO)` rotates on every request. Default 15 minutes.
    pub ttl_renewal: Option<Duration>,
    /// How long a session token lives in the store without being renewed. Default 30 minutes.
    pub credentials_ttl: Duration,
    /// Cap on how long a chain of renewals may live from the original sign-in. `None` has
    /// no cap (Pow's behaviour). Default 14 days.
    pub absolute_lifetime: Option<Duration>,
    /// Whether cookies carry the `Secure` attribute. Default `true`, unless the setup's
    /// [`base_url`](PowConfigBuilder::base_url) is a plain `http://` URL.
    pub cookie_secure: bool,
    /// Re-read the user from the users context on every request. Default `false`.
    pub reload_user: bool,
    /// How long after proving their password a user may take sensitive actions (change
    /// password or email, delete the account) without confirming it again: sudo mode.
    /// Sessions restored from a remember-me cookie are never fresh. Default 10 minutes.
    pub sudo_window: Duration,
    /// Most sessions (browsers and API token pairs) a user may have at once; a browser
    /// sign-in past it ends the least recently active ones. `None` (the default) has no cap.
    pub max_sessions_per_user: Option<usize>,
}

/// A pow-rs setup: secrets, user schema, policies, backends and extensions.
///
/// Cheap to clone (an `Arc` inside). Build it once, outside `HttpServer::new`, and share it.
/// Start with [`PowConfig::builder`]; [`PowConfigBuilder`] lists every setting by purpose.
///
/// ```
/// use pow_core::users::diesel::DieselUsersContext;
/// use pow_core::PowConfig;
///
/// let users = DieselUsersContext::connect(":memory:")?; // "sqlite://app.db" in a real app
/// let config = PowConfig::builder("x".repeat(64)) // SECRET_KEY_BASE in a real app
///     .users(users.clone())
///     .base_url("https://example.com")
///     .build()?;
/// users.migrate(&config)?;
///
/// // A clone is the same setup: give one to each actix worker.
/// let worker = config.clone();
/// assert_eq!(worker.user_id_field(), "email");
/// assert_eq!(worker.base_url(), Some("https://example.com"));
/// // Served over https, the session cookie is `Secure` and gets the `__Host-` prefix.
/// assert!(worker.session().cookie_secure);
/// assert_eq!(worker.session().cookie_name, "__Host-pow_session");
/// // Blocking code (seeds, a CLI, tests) reaches the users context through it.
/// assert!(worker.users_context().is_ok());
/// # Ok::<(), pow_core::PowError>(())
/// ```
#[derive(Clone)]
pub struct PowConfig {
    inner: Arc<Inner>,
}

struct Inner {
    name: Option<String>,
    verifier: MessageVerifier,
    secret_key_base: Vec<u8>,
    user_schema: UserSchema,
    rate_limits: crate::limits::RateLimits,
    in_flight: Arc<crate::limits::InFlight>,
    live: Arc<crate::session::live::LiveBus>,
    audit: Arc<crate::audit::Auditor>,
    captcha: Option<crate::captcha::Captcha>,
    impersonation: Option<crate::session::Impersonation>,
    session: SessionConfig,
    extensions: Extensions,
    users: Option<Arc<dyn UsersContext>>,
    store: Arc<dyn Store>,
    clock: crate::time::Clock,
    prevent_user_enumeration: bool,
    security_notices: bool,
    new_device_notices: bool,
    messages: Arc<dyn Messages>,
    mailer: Arc<dyn Mailer>,
    views: Arc<dyn Views>,
    mail_views: Arc<dyn MailViews>,
    routes: Arc<dyn Routes>,
    mount_path: String,
    base_url: Option<String>,
    frontend_links: std::collections::BTreeMap<crate::link::LinkKind, crate::link::LinkTemplate>,
}

impl std::fmt::Debug for PowConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowConfig")
            .field("name", &self.inner.name)
            .field("user_id_field", &self.inner.user_schema.user_id_field)
            .field("table", &self.inner.user_schema.table)
            .field("extensions", &self.inner.extensions.names())
            .finish_non_exhaustive()
    }
}

impl PowConfig {
    /// Starts a builder. `secret_key_base` signs every token and cookie; it must be at
    /// least 64 bytes of random data, kept secret and stable across restarts.
    pub fn builder(secret_key_base: impl Into<Vec<u8>>) -> PowConfigBuilder {
        PowConfigBuilder::new(secret_key_base.into())
    }

    /// The setup's name (`None` for the default setup).
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Prefixes `base` with the setup's name (`"<name>_<base>"`), as Pow's `otp_app` does.
    pub fn namespaced(&self, base: &str) -> String {
        match &self.inner.name {
            Some(name) => format!("{name}_{base}"),
            None => base.to_owned(),
        }
    }

    /// The token signer.
    pub fn verifier(&self) -> &MessageVerifier {
        &self.inner.verifier
    }

    /// The secret key base.
    pub fn secret_key_base(&self) -> &[u8] {
        &self.inner.secret_key_base
    }

    /// The user id field (`"email"` by default).
    pub fn user_id_field(&self) -> &str {
        self.inner.user_schema.user_id_field()
    }

    /// The users' settings (table, user id field, fields, password rules and hasher,
    /// changeset hooks): what a [`UsersContext`] and a [`Changeset`](crate::users::Changeset)
    /// take.
    pub fn user_schema(&self) -> &UserSchema {
        &self.inner.user_schema
    }

    /// The users table (`"users"` by default).
    pub fn table(&self) -> &str {
        self.inner.user_schema.table()
    }

    /// Password rules.
    pub fn password_policy(&self) -> PasswordPolicy {
        self.inner.user_schema.password_policy()
    }

    /// Rate limits and the account lockout.
    pub fn rate_limits(&self) -> &crate::limits::RateLimits {
        &self.inner.rate_limits
    }

    /// Password checks under way per client (see
    /// [`RateLimits::max_in_flight_per_client`](crate::limits::RateLimits::max_in_flight_per_client)).
    pub(crate) fn in_flight(&self) -> &Arc<crate::limits::InFlight> {
        &self.inner.in_flight
    }

    /// The bus that announces ended sessions ([`LiveSessions`](crate::session::LiveSessions)).
    pub(crate) fn live_bus(&self) -> &Arc<crate::session::live::LiveBus> {
        &self.inner.live
    }

    /// The audit log.
    pub fn audit(&self) -> &crate::audit::Auditor {
        &self.inner.audit
    }

    /// The breached-password check, when configured.
    pub fn breach_check(&self) -> Option<&crate::password::BreachCheck> {
        self.inner.user_schema.breach_check()
    }

    /// The support-access setting, if impersonation is on.
    pub fn impersonation(&self) -> Option<&crate::session::Impersonation> {
        self.inner.impersonation.as_ref()
    }

    /// The CAPTCHA setting, if one is configured.
    pub fn captcha(&self) -> Option<&crate::captcha::Captcha> {
        self.inner.captcha.as_ref()
    }

    /// The password hasher: the configured one, running on the setup's [`HashPool`]. Its
    /// methods block until a pool thread has done the work (call them off the async
    /// executor) and fail with [`HashError::Busy`](crate::password::HashError::Busy) when
    /// the pool's queue is full.
    pub fn hasher(&self) -> &dyn PasswordHasher {
        self.inner.user_schema.hasher()
    }

    /// The pool password hashing runs on.
    pub fn hash_pool(&self) -> &HashPool {
        self.inner.user_schema.hash_pool()
    }

    /// Every extra user field: the user id field when it is not `email`... in order: the
    /// app's fields, then each extension's.
    pub fn user_fields(&self) -> &[FieldDef] {
        self.inner.user_schema.fields()
    }

    /// Session settings.
    pub fn session(&self) -> &SessionConfig {
        &self.inner.session
    }

    /// The enabled extensions, in order.
    pub fn extensions(&self) -> &Extensions {
        &self.inner.extensions
    }

    /// The users context itself, whose methods block: for code that runs off the async
    /// executor (CLI tools, seeds, tests). Async code uses [`users`](Self::users).
    ///
    /// # Errors
    /// [`PowError::Config`] if none was set with [`PowConfigBuilder::users`].
    pub fn users_context(&self) -> Result<&Arc<dyn UsersContext>, PowError> {
        self.inner.users.as_ref().ok_or_else(|| {
            PowError::Config("no users context: call PowConfigBuilder::users(...)".into())
        })
    }

    /// The cache store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock the setup's lifetimes and freshness checks read (the system's unless
    /// [`PowConfigBuilder::clock`] set another).
    pub fn clock(&self) -> &crate::time::Clock {
        &self.inner.clock
    }

    /// Whether responses hide whether an account exists (default `true`).
    pub fn prevent_user_enumeration(&self) -> bool {
        self.inner.prevent_user_enumeration
    }

    /// Whether users get security notice mails
    /// ([`mailer::send_notice`](crate::mailer::send_notice)).
    pub fn security_notices(&self) -> bool {
        self.inner.security_notices
    }

    /// Whether a browser sign-in from a device the user has not signed in from before
    /// mails them a notice (with [`security_notices`](Self::security_notices) on).
    pub fn new_device_notices(&self) -> bool {
        self.inner.new_device_notices && self.inner.security_notices
    }

    /// Translated texts: core, extensions' and the app's.
    pub fn messages(&self) -> &dyn Messages {
        self.inner.messages.as_ref()
    }

    /// The mailer extensions send mails through.
    pub fn mailer(&self) -> &dyn Mailer {
        self.inner.mailer.as_ref()
    }

    /// The page renderer.
    pub fn views(&self) -> &dyn Views {
        self.inner.views.as_ref()
    }

    /// The mail renderer.
    pub fn mail_views(&self) -> &dyn MailViews {
        self.inner.mail_views.as_ref()
    }

    /// The routes backend.
    pub fn routes(&self) -> &dyn Routes {
        self.inner.routes.as_ref()
    }

    /// Where the setup's routes are mounted (`""` at the root).
    pub fn mount_path(&self) -> &str {
        &self.inner.mount_path
    }

    /// The public base URL used for links in mails, if configured.
    pub fn base_url(&self) -> Option<&str> {
        self.inner.base_url.as_deref()
    }

    /// The name of a cookie pow-rs (or an extension) sets for path `/` without a domain:
    /// `base` prefixed with `__Host-` when the base URL is https and cookies are `Secure`
    /// (browsers then only accept it `Secure`, for `/`, from this exact host).
    pub fn cookie_name(&self, base: &str) -> String {
        match self.base_url() {
            Some(url) if url.starts_with("https://") && self.session().cookie_secure => {
                format!("__Host-{base}")
            }
            _ => base.to_owned(),
        }
    }

    /// The routes backend's context outside a request: the mount point, no page to come
    /// back to.
    pub fn route_context(&self) -> RouteContext<'_> {
        RouteContext {
            current_page: None,
            mount: self.mount_path(),
            request_path: None,
        }
    }

    /// The link a mail of `kind` carries for `signed_token`: the app's frontend when
    /// [`PowConfigBuilder::frontend_link`] set a template for `kind`, else `html_link()`
    /// (the server's own page for the token, built only when needed).
    ///
    /// ```
    /// use pow_core::api::{LinkKind, LinkTemplate};
    /// use pow_core::PowConfig;
    ///
    /// let config = PowConfig::builder("s".repeat(64))
    ///     .base_url("https://api.example.com")
    ///     .frontend_link(LinkKind::UNLOCK, LinkTemplate::new("https://app.example.com/unlock#{token}")?)
    ///     .build()?;
    /// let html = || "https://api.example.com/session/unlock/t".to_owned();
    /// assert_eq!(config.mail_link(LinkKind::UNLOCK, "t", html), "https://app.example.com/unlock#t");
    /// assert!(config.frontend_link(LinkKind::UNLOCK).is_some());
    /// # Ok::<_, pow_core::PowError>(())
    /// ```
    pub fn mail_link(
        &self,
        kind: crate::link::LinkKind,
        signed_token: &str,
        html_link: impl FnOnce() -> String,
    ) -> String {
        match self.inner.frontend_links.get(&kind) {
            Some(template) => template.url(signed_token),
            None => html_link(),
        }
    }

    /// The frontend template of mailed links of `kind`, if the setup has one.
    pub fn frontend_link(&self, kind: crate::link::LinkKind) -> Option<&crate::link::LinkTemplate> {
        self.inner.frontend_links.get(&kind)
    }

    /// Every frontend template of the setup, by kind.
    #[cfg(test)]
    pub(crate) fn frontend_links(
        &self,
    ) -> impl Iterator<Item = (crate::link::LinkKind, &crate::link::LinkTemplate)> + '_ {
        self.inner.frontend_links.iter().map(|(k, t)| (*k, t))
    }

    /// An absolute URL for `path` (for mails): the configured base URL, else the request's
    /// scheme and host (with a warning: configure `base_url` in production so a forged
    /// `Host` header cannot redirect links in mails).
    pub fn url_for(&self, req: &dyn crate::request::RequestSource, path: &str) -> String {
        match &self.inner.base_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => {
                tracing::warn!(
                    "no base_url configured: building a mail link from the request's Host header"
                );
                let origin = req.facts().origin;
                format!("{}{path}", origin.unwrap_or_default())
            }
        }
    }
}

/// A request as an app's handler holds it, for the conveniences extensions offer an app
/// (a staged sign-up started from the app's own route): the setup that serves it and its
/// facts. Each framework layer implements it for its request (pow-actix's
/// `web::ActixRequest`, pow-axum's `Pow`), so one method serves both.
///
/// ```
/// use pow_core::config::ServedRequest;
/// use pow_core::request::RequestFacts;
/// use pow_core::{PowConfig, PowError};
///
/// /// A request filled by hand (a CLI, a job).
/// struct ByHand(PowConfig);
///
/// impl ServedRequest for ByHand {
///     fn setup(&self) -> Result<PowConfig, PowError> {
///         Ok(self.0.clone())
///     }
///     fn facts(&self) -> RequestFacts {
///         RequestFacts::default()
///     }
/// }
///
/// let config = PowConfig::builder("s".repeat(64)).build()?;
/// assert!(ByHand(config).setup().is_ok());
/// # Ok::<(), PowError>(())
/// ```
pub trait ServedRequest {
    /// The setup serving the request.
    ///
    /// # Errors
    /// [`PowError::Config`] when no setup serves it (a route outside pow-rs's layer).
    fn setup(&self) -> Result<PowConfig, PowError>;

    /// The request's facts, as the flows read them.
    fn facts(&self) -> crate::request::RequestFacts;
}

mod builder;
mod routes;

pub use builder::PowConfigBuilder;
pub use routes::{
    extension_path, local_path, request_path_param, return_path, returning_to, DefaultRoutes,
    RouteContext, Routes,
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frontend_links_need_a_kind_the_setup_mails() {
        use crate::link::{LinkKind, LinkTemplate};
        let template = || LinkTemplate::new("https://app.example.com/x?t={token}").unwrap();
        let err = PowConfig::builder("s".repeat(64))
            .frontend_link(LinkKind::new("reset_password"), template())
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("`reset_password`"), "{err}");
        assert!(err.to_string().contains("unlock"), "{err}");
        let config = PowConfig::builder("s".repeat(64))
            .frontend_link(LinkKind::UNLOCK, template())
            .build()
            .unwrap();
        let html = || "html".to_owned();
        assert_eq!(
            config.mail_link(LinkKind::UNLOCK, "abc", html),
            "https://app.example.com/x?t=abc"
        );
        assert_eq!(
            config.mail_link(LinkKind::new("other"), "abc", html),
            "html"
        );
        assert_eq!(config.frontend_links().count(), 1);
    }

    fn secure(f: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder) -> bool {
        f(PowConfig::builder("k".repeat(64)))
            .build()
            .unwrap()
            .session()
            .cookie_secure
    }

    #[test]
    fn cookies_are_secure_unless_the_base_url_is_plain_http_or_told_otherwise() {
        assert!(secure(|b| b));
        assert!(secure(|b| b.base_url("https://example.com")));
        assert!(!secure(|b| b.base_url("http://localhost:8080")));
        assert!(secure(|b| b
            .base_url("http://localhost:8080")
            .cookie_secure(true)));
        assert!(!secure(|b| b.cookie_secure(false)));
    }
}

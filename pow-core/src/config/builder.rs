//! [`PowConfigBuilder`]: every setting of a setup, with its default, and the checks
//! `build()` runs.

use std::sync::Arc;
use std::time::Duration;

use super::{DefaultRoutes, Routes};
use super::{Inner, PasswordPolicy, PowConfig, SessionConfig, MIN_SECRET_KEY_BASE_LEN};
use crate::error::PowError;
use crate::extension::{Extension, Extensions};
use crate::mailer::{DefaultMailViews, LogMailer, MailViews, Mailer};
use crate::messages::{FluentMessages, Messages};
use crate::password::{HashPool, HashPoolOptions, PasswordHasher, Pbkdf2Hasher};
use crate::store::{MemoryStore, Store};
use crate::token::MessageVerifier;
use crate::users::{ChangesetHook, FieldDef, FieldKind, UserSchema, UsersContext};
use crate::views::{DefaultViews, PageId, Views};

/// Builder for [`PowConfig`], started by [`PowConfig::builder`] with the secret key base.
///
/// Only the secret is required; every setter says its default and when to change it. The
/// setters are grouped below by what they are for: users and passwords, sessions and
/// cookies, mail and messages, abuse protection, extensions and routes, and the advanced
/// ones. [`build`](Self::build) checks the whole and says what to fix.
///
/// ```
/// use std::time::Duration;
/// use pow_core::mailer::MemoryMailer;
/// use pow_core::users::diesel::DieselUsersContext;
/// use pow_core::{PasswordPolicy, PowConfig};
///
/// let users = DieselUsersContext::connect(":memory:")?; // "sqlite://app.db" in a real app
/// let config = PowConfig::builder("x".repeat(64)) // SECRET_KEY_BASE in a real app
///     // Users and passwords
///     .users(users.clone())
///     .password_policy(PasswordPolicy { min_length: 12, ..PasswordPolicy::default() })
///     // Sessions and cookies
///     .session_absolute_lifetime(Some(Duration::from_secs(7 * 24 * 3600)))
///     // Mail and messages
///     .mailer(MemoryMailer::new())
///     .base_url("https://example.com")
///     .messages_ftl("en", "signed_in = Welcome back!")
///     .build()?;
/// users.migrate(&config)?;
///
/// assert_eq!(config.password_policy().min_length, 12);
/// assert_eq!(config.session().absolute_lifetime, Some(Duration::from_secs(7 * 24 * 3600)));
///
/// // `build` refuses a setup that would go wrong later, and says why: here a mailer
/// // without the public URL its links need.
/// let refused = PowConfig::builder("x".repeat(64)).mailer(MemoryMailer::new()).build();
/// assert!(refused.unwrap_err().to_string().contains("base_url"));
/// # Ok::<(), pow_core::PowError>(())
/// ```
pub struct PowConfigBuilder {
    secret_key_base: Vec<u8>,
    retired_secrets: Vec<(String, Vec<u8>)>,
    name: Option<String>,
    user_id_field: String,
    table: String,
    password_policy: PasswordPolicy,
    rate_limits: crate::limits::RateLimits,
    breach_check: Option<crate::password::BreachCheck>,
    captcha: Option<crate::captcha::Captcha>,
    impersonation: Option<crate::session::Impersonation>,
    audit: Option<crate::audit::Auditor>,
    hasher: Arc<dyn PasswordHasher>,
    hash_pool: Option<HashPool>,
    hash_pool_options: HashPoolOptions,
    user_fields: Vec<FieldDef>,
    hooks: Vec<Arc<dyn ChangesetHook>>,
    session: Option<SessionConfig>,
    ttl_renewal: Option<Duration>,
    credentials_ttl: Duration,
    absolute_lifetime: Option<Duration>,
    cookie_secure: Option<bool>,
    reload_user: bool,
    sudo_window: Duration,
    user_disabling: bool,
    max_sessions_per_user: Option<usize>,
    extensions: Vec<Arc<dyn Extension>>,
    users: Option<Arc<dyn UsersContext>>,
    store: Option<Arc<dyn Store>>,
    store_deadline: Duration,
    clock: crate::time::Clock,
    outage_grace: Option<Duration>,
    prevent_user_enumeration: bool,
    security_notices: bool,
    new_device_notices: bool,
    messages: Option<Arc<dyn Messages>>,
    messages_ftl: Vec<(String, String)>,
    mailer: Option<Arc<dyn Mailer>>,
    views: Option<Arc<dyn Views>>,
    mail_views: Option<Arc<dyn MailViews>>,
    routes: Option<Arc<dyn Routes>>,
    mount_path: String,
    base_url: Option<String>,
    frontend_links: std::collections::BTreeMap<crate::link::LinkKind, crate::link::LinkTemplate>,
}

/// # Building
///
/// Every setter below returns the builder, so they chain in any order; `build` checks the
/// whole and says what to fix.
impl PowConfigBuilder {
    pub(super) fn new(secret_key_base: Vec<u8>) -> Self {
        Self {
            secret_key_base,
            retired_secrets: Vec::new(),
            name: None,
            user_id_field: "email".into(),
            table: "users".into(),
            password_policy: PasswordPolicy::default(),
            rate_limits: crate::limits::RateLimits::default(),
            breach_check: None,
            captcha: None,
            impersonation: None,
            audit: None,
            hasher: Arc::new(Pbkdf2Hasher::default()),
            hash_pool: None,
            hash_pool_options: HashPoolOptions::default(),
            user_fields: Vec::new(),
            hooks: Vec::new(),
            session: None,
            ttl_renewal: Some(Duration::from_secs(15 * 60)),
            credentials_ttl: Duration::from_secs(30 * 60),
            absolute_lifetime: Some(Duration::from_secs(14 * 24 * 3600)),
            cookie_secure: None,
            reload_user: false,
            sudo_window: Duration::from_secs(10 * 60),
            user_disabling: true,
            max_sessions_per_user: None,
            extensions: Vec::new(),
            users: None,
            store: None,
            store_deadline: crate::store::DEFAULT_STORE_DEADLINE,
            clock: crate::time::Clock::system(),
            outage_grace: None,
            prevent_user_enumeration: true,
            security_notices: true,
            new_device_notices: true,
            messages: None,
            messages_ftl: Vec::new(),
            mailer: None,
            views: None,
            mail_views: None,
            routes: None,
            mount_path: String::new(),
            base_url: None,
            frontend_links: std::collections::BTreeMap::new(),
        }
    }

    /// Checks the settings and builds the config.
    ///
    /// # Errors
    /// [`PowError::Config`] when the secret key base is shorter than 64 bytes, a mailer is
    /// set and the account lock is on (its notice carries a link) without a
    /// [`base_url`](Self::base_url), two
    /// extensions share a name, a field is declared twice, a password policy is empty, a
    /// Fluent file does not parse, or [`messages_ftl`](Self::messages_ftl) is combined
    /// with custom [`messages`](Self::messages).
    pub fn build(self) -> Result<PowConfig, PowError> {
        if self.secret_key_base.len() < MIN_SECRET_KEY_BASE_LEN {
            return Err(PowError::Config(format!(
                "secret_key_base has to be at least {MIN_SECRET_KEY_BASE_LEN} bytes (got {}); \
                 generate one with `openssl rand -base64 48`",
                self.secret_key_base.len()
            )));
        }
        if let Some((id, _)) = self
            .retired_secrets
            .iter()
            .find(|(_, secret)| secret.len() < MIN_SECRET_KEY_BASE_LEN)
        {
            return Err(PowError::Config(format!(
                "the retired secret {id:?} is shorter than {MIN_SECRET_KEY_BASE_LEN} bytes"
            )));
        }
        let policy = self.password_policy;
        if policy.min_length == 0 || policy.min_length > policy.max_length {
            return Err(PowError::Config(format!(
                "password policy needs 0 < min_length <= max_length (got {}..={})",
                policy.min_length, policy.max_length
            )));
        }
        if self.user_id_field.is_empty() {
            return Err(PowError::Config("user_id_field must not be empty".into()));
        }
        let extensions = Extensions::new(self.extensions)?;
        if let Some(views) = &self.views {
            for page in views.pages() {
                if !extensions.is_page(page) {
                    let mut known: Vec<&str> = extensions.pages().map(PageId::as_str).collect();
                    known.sort_unstable();
                    return Err(PowError::Config(format!(
                        "views: no page `{page}` is rendered by the core or an enabled \
                         extension (known: {})",
                        known.join(", ")
                    )));
                }
            }
        }
        for kind in self.frontend_links.keys() {
            let known = *kind == crate::link::LinkKind::UNLOCK
                || extensions.mail_links().any(|(_, k)| k == *kind);
            if !known {
                let mut kinds: Vec<_> = extensions.mail_links().map(|(_, k)| k.as_str()).collect();
                kinds.push(crate::link::LinkKind::UNLOCK.as_str());
                return Err(PowError::Config(format!(
                    "frontend_link: no enabled extension mails a `{kind}` link (known: {})",
                    kinds.join(", ")
                )));
            }
        }
        // Links in mails must not follow the request's Host header (link poisoning).
        if self.base_url.is_none() {
            if let Some((ext, _)) = extensions.mails().next() {
                return Err(PowError::Config(format!(
                    "{ext} sends mails with links: set PowConfigBuilder::base_url (the app's \
                     public URL, e.g. \"https://example.com\") so that no request's Host \
                     header can choose where those links point"
                )));
            }
        }
        // The core's own lock notice carries an unlock link: with a mailer that delivers,
        // it needs the base URL as well.
        if self.base_url.is_none() && self.mailer.is_some() && self.rate_limits.lockout.is_some() {
            return Err(PowError::Config(
                "the account lock mails its owner an unlock link: set PowConfigBuilder::base_url \
                 (the app's public URL, e.g. \"https://example.com\") so that no request's Host \
                 header can choose where that link points, or turn RateLimits::lockout off"
                    .into(),
            ));
        }
        if let Some(lockout) = self.rate_limits.lockout {
            let max = crate::limits::MAX_FACTOR_FAILURES;
            if lockout.max_factor_failures == 0 || lockout.max_factor_failures > max {
                return Err(PowError::Config(format!(
                    "Lockout::max_factor_failures has to be between 1 and {max} (got {})",
                    lockout.max_factor_failures
                )));
            }
        }
        let mut user_fields = Vec::new();
        if self.user_id_field != "email" {
            user_fields.push(
                FieldDef::new(self.user_id_field.clone(), FieldKind::Text)
                    .castable()
                    .unique(),
            );
        } else {
            user_fields.push(FieldDef::new("email", FieldKind::Text).castable().unique());
        }
        if self.user_disabling {
            user_fields.push(FieldDef::new(
                crate::users::DISABLED_AT_FIELD,
                FieldKind::Timestamp,
            ));
        }
        user_fields.extend(self.user_fields);
        user_fields.extend(extensions.user_fields().cloned());
        let mut hooks: Vec<_> = extensions.changeset_hooks().cloned().collect();
        hooks.extend(self.hooks);
        let mut seen = std::collections::BTreeSet::new();
        for field in &user_fields {
            if !seen.insert(field.name.clone()) {
                return Err(PowError::Config(format!(
                    "user field `{}` is declared twice (by the app or an extension)",
                    field.name
                )));
            }
        }
        extensions.validate(&user_fields)?;
        let messages = match self.messages {
            Some(custom) => {
                if !self.messages_ftl.is_empty() {
                    return Err(PowError::Config(
                        "messages_ftl overrides only apply to the built-in Fluent messages; \
                         drop them or add them to your custom Messages"
                            .into(),
                    ));
                }
                custom
            }
            None => {
                let mut builder = FluentMessages::builder();
                for (ext, lang, ftl) in extensions.messages() {
                    builder = builder.add_ftl_from(&format!("extension `{ext}`"), lang, ftl)?;
                }
                for (lang, ftl) in &self.messages_ftl {
                    builder = builder.add_ftl_from("messages_ftl", lang, ftl)?;
                }
                let built = builder.build();
                // Every event an extension records has a label on the activity page.
                let default_lang: crate::messages::LanguageIdentifier = "en"
                    .parse()
                    .map_err(|_| PowError::Config("the default language does not parse".into()))?;
                for (ext, event) in extensions.audit_events() {
                    let key = event.label_key();
                    if crate::messages::Messages::message(&built, &default_lang, &key, &[])
                        .is_none()
                    {
                        return Err(PowError::Config(format!(
                            "extension `{ext}` records audit event `{event}` but its messages \
                             have no `{key}` label"
                        )));
                    }
                }
                Arc::new(built)
            }
        };
        let name = self.name;
        let prefixed = |base: &str| match &name {
            Some(n) => format!("{n}_{base}"),
            None => base.to_owned(),
        };
        let https = self
            .base_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"));
        let defaults = self.session.is_none();
        let mut session = self.session.unwrap_or_else(|| SessionConfig {
            session_key: prefixed("auth"),
            cookie_name: {
                let base = match &name {
                    Some(n) => format!("{n}_session"),
                    None => "pow_session".into(),
                };
                base
            },
            ttl_renewal: self.ttl_renewal,
            credentials_ttl: self.credentials_ttl,
            absolute_lifetime: self.absolute_lifetime,
            cookie_secure: self.cookie_secure.unwrap_or_else(|| {
                !self
                    .base_url
                    .as_deref()
                    .is_some_and(|url| url.starts_with("http://"))
            }),
            reload_user: self.reload_user,
            sudo_window: self.sudo_window,
            max_sessions_per_user: self.max_sessions_per_user,
        });
        // Over https the `__Host-` prefix makes browsers refuse the cookie unless it is
        // `Secure`, for path `/` and without a domain: no sibling domain or plain http page
        // can plant or shadow it (ASVS 5.0 3.3.3).
        if defaults && https && session.cookie_secure {
            session.cookie_name = format!("__Host-{}", session.cookie_name);
        }
        if session.credentials_ttl > Duration::from_secs(30 * 60) {
            tracing::warn!(
                "credentials_ttl value for sessions should be no longer than 30 minutes to \
                 prevent session hijack, please consider lowering the value"
            );
        }
        let store = crate::store::Watched::wrap(
            self.store
                .unwrap_or_else(|| Arc::new(MemoryStore::new().with_clock(&self.clock))),
            self.store_deadline,
        );
        let live = crate::session::live::LiveBus::new(
            &*store,
            &match &name {
                Some(n) => format!("{n}_credentials"),
                None => "credentials".to_owned(),
            },
            self.outage_grace,
        );
        let verifier = MessageVerifier::with_retired(
            &self.secret_key_base,
            &self
                .retired_secrets
                .iter()
                .map(|(id, secret)| (id.as_str(), secret.as_slice()))
                .collect::<Vec<_>>(),
        );
        Ok(PowConfig {
            inner: Arc::new(Inner {
                verifier: verifier.clone(),
                secret_key_base: self.secret_key_base,
                name,
                user_schema: UserSchema {
                    table: self.table,
                    user_id_field: self.user_id_field,
                    fields: user_fields,
                    password_policy: policy,
                    breach_check: self.breach_check,
                    hasher: self
                        .hash_pool
                        .unwrap_or_else(|| HashPool::new(self.hash_pool_options))
                        .hasher_arc(self.hasher),
                    hooks,
                    verifier,
                    insert_pace: crate::users::InsertPace::default(),
                },
                rate_limits: self.rate_limits,
                in_flight: Arc::default(),
                live: Arc::new(live),
                audit: Arc::new(self.audit.unwrap_or_default()),
                captcha: self.captcha,
                impersonation: self.impersonation,
                session,
                extensions,
                users: self.users,
                store,
                clock: self.clock,
                prevent_user_enumeration: self.prevent_user_enumeration,
                security_notices: self.security_notices,
                new_device_notices: self.new_device_notices,
                messages,
                mailer: self.mailer.unwrap_or_else(|| Arc::new(LogMailer)),
                views: self.views.unwrap_or_else(|| Arc::new(DefaultViews)),
                mail_views: self
                    .mail_views
                    .unwrap_or_else(|| Arc::new(DefaultMailViews)),
                routes: self.routes.unwrap_or_else(|| Arc::new(DefaultRoutes)),
                mount_path: self.mount_path,
                base_url: self.base_url,
                frontend_links: self.frontend_links,
            }),
        })
    }
}

/// # Users and passwords
///
/// Where users live, what they sign in with, the app's own fields and checks, and how
/// passwords are judged and stored.
impl PowConfigBuilder {
    /// The users context: where users are read and written, usually a
    /// [`DieselUsersContext`](crate::users::diesel::DieselUsersContext) on SQLite or PostgreSQL.
    /// No default, and `build` does not ask for one; but every request that needs a user
    /// (sign-up, sign-in, a signed-in page) then fails with `500` and an error in the log naming
    /// this setter. Keep a clone to run [`migrate`](crate::users::diesel::DieselUsersContext::migrate).
    pub fn users(mut self, users: impl UsersContext) -> Self {
        self.users = Some(Arc::new(users));
        self
    }

    /// The same as [`users`](Self::users), for a context the app already holds as an
    /// `Arc<dyn UsersContext>` (a wrapper chosen at runtime, one context shared by two setups).
    pub fn users_arc(mut self, users: Arc<dyn UsersContext>) -> Self {
        self.users = Some(users);
        self
    }

    /// The field users sign in with. The default is `"email"` (validated as an email);
    /// `"username"` also works.
    pub fn user_id_field(mut self, field: impl Into<String>) -> Self {
        self.user_id_field = field.into();
        self
    }

    /// The users table. The default is `"users"`, the table the bundled migration creates
    /// ([`DieselUsersContext::migrate`](crate::users::diesel::DieselUsersContext::migrate)
    /// refuses another name): change it only with a users table of your own making.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Adds an app-defined user column, e.g. `FieldDef::new("name", FieldKind::Text).castable()`
    /// for a name typed on the sign-up form. The app's own migration creates the column
    /// ([`migrate_with`](crate::users::diesel::DieselUsersContext::migrate_with)); validate it in
    /// a [`changeset_hook`](Self::changeset_hook). None by default.
    pub fn user_field(mut self, field: FieldDef) -> Self {
        self.user_fields.push(field);
        self
    }

    /// Adds an app changeset hook, run on every sign-up and account change after the extensions'
    /// hooks: validate the app's own fields there (required, length, format) or set
    /// server-side ones. None by default.
    pub fn changeset_hook(mut self, hook: impl ChangesetHook) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Whether users can be disabled ([`admin::disable_user`](crate::admin::disable_user)):
    /// the users table then has the core `disabled_at` column (the core migrations add
    /// it). Turn it off for a hand-made users table without that column. The default is
    /// `true`.
    pub fn user_disabling(mut self, enabled: bool) -> Self {
        self.user_disabling = enabled;
        self
    }

    /// Password rules: length, common passwords, the user id inside the password. The default
    /// ([`PasswordPolicy::default`]) is 8 characters to 4096 bytes, refusing the 10 000 most
    /// common passwords and passwords that contain the user id.
    pub fn password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.password_policy = policy;
        self
    }

    /// The password hasher. The default is PBKDF2-SHA512 with 210 000 iterations, Pow's format
    /// (a Pow app's hashes keep working).
    /// [`Argon2Hasher`](crate::password::Argon2Hasher) is the alternative; stored hashes of the
    /// other algorithm keep working and are re-hashed on the next sign-in. In tests,
    /// `Pbkdf2Hasher::new(1)` keeps sign-ups fast; never in production.
    pub fn hasher(mut self, hasher: impl PasswordHasher) -> Self {
        self.hasher = Arc::new(hasher);
        self
    }
}

/// # Sessions and cookies
///
/// Where sessions live, how long they last, how their cookie is sent, and when a user must
/// prove their password again.
impl PowConfigBuilder {
    /// The cache store: sessions, API and remember-me tokens, mailed-link tokens, rate-limit
    /// counters. The default is a new [`MemoryStore`]: fast, but lost on restart (everybody is
    /// signed out) and private to one process. Use a shared store (`store::RedisStore`,
    /// feature `redis`, or [`SqlStore`](crate::store::SqlStore) on PostgreSQL) as soon as
    /// more than one process serves the app, or `store::DiskStore` (feature `disk`) or a
    /// `SqlStore` on SQLite for one process that keeps sessions across restarts. A store
    /// on another server gets a deadline on every call ([`store_deadline`](Self::store_deadline)).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock lifetimes and freshness checks read: [`Clock::system`](crate::time::Clock::system)
    /// (the default), or for tests a [`Clock::adjustable`](crate::time::Clock::adjustable)
    /// one, moved forward to see a lifetime end. The default store follows it; give a
    /// store of your own the same clock ([`MemoryStore::with_clock`]).
    pub fn clock(mut self, clock: crate::time::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How long one call to a store on another server (Redis, SQL, your own) may take
    /// before the request that made it answers `503` with `Retry-After` and the store's
    /// [`health`](crate::store::Store::health) says degraded. The default is
    /// [`DEFAULT_STORE_DEADLINE`](crate::store::DEFAULT_STORE_DEADLINE) (2 seconds); stores
    /// in the process ([`Store::in_process`]) have none.
    pub fn store_deadline(mut self, deadline: Duration) -> Self {
        self.store_deadline = deadline.max(Duration::from_millis(1));
        self
    }

    /// While the store does not answer, let a signed-in request through on this process's
    /// copy of its session if the store gave it within `grace` (off by default: every
    /// request that needs the store answers `503`). Only session reads: sign-ins,
    /// sign-outs, one-time values and limits still fail closed. A copy goes as soon as
    /// this process learns its session ended (its own sign-outs, other servers' through
    /// the store's broadcast); a session ended on another server whose message had not
    /// arrived when the store went away stays usable here for `grace` at most. Keep it
    /// short (a minute); it costs a map update per signed-in request.
    pub fn session_outage_grace(mut self, grace: Duration) -> Self {
        self.outage_grace = Some(grace);
        self
    }

    /// Rotation interval of session tokens. The default is 15 minutes; `None` never rotates.
    pub fn session_ttl_renewal(mut self, ttl: Option<Duration>) -> Self {
        self.ttl_renewal = ttl;
        self
    }

    /// Store TTL of session tokens. The default is 30 minutes.
    ///
    /// # Warning
    /// Longer values widen the window in which a stolen session cookie works; use the
    /// persistent-session extension for long sign-ins instead.
    pub fn credentials_ttl(mut self, ttl: Duration) -> Self {
        self.credentials_ttl = ttl;
        self
    }

    /// Cap on the lifetime of a chain of session renewals. The default is 14 days; `None`
    /// lets an active session live forever (Pow's behaviour).
    pub fn session_absolute_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }

    /// Whether cookies are marked `Secure` (sent over HTTPS only). The default is `true`,
    /// unless [`base_url`](Self::base_url) is a plain `http://` URL (local development);
    /// browsers also accept `Secure` cookies from `http://localhost`.
    pub fn cookie_secure(mut self, secure: bool) -> Self {
        self.cookie_secure = Some(secure);
        self
    }

    /// How long a password proof keeps a session fresh for sensitive actions (see
    /// [`SessionConfig::sudo_window`]). The default is 10 minutes.
    pub fn sudo_window(mut self, window: Duration) -> Self {
        self.sudo_window = window;
        self
    }

    /// Caps the sessions (browsers and API token pairs) a user may have at once; a browser
    /// sign-in past the cap ends the least recently active ones (see
    /// [`SessionConfig::max_sessions_per_user`]). The default is no cap; `Some(0)` counts as 1.
    pub fn max_sessions_per_user(mut self, max: Option<usize>) -> Self {
        self.max_sessions_per_user = max.map(|m| m.max(1));
        self
    }

    /// Re-reads the user from the users context on every signed-in request instead of using
    /// the copy stored with the session; a deleted user is then signed out at once. The
    /// default is `false`: no query per request. Turn it on when code outside pow-rs changes
    /// users (a role, a name) and every page must see the change on the next request.
    pub fn reload_user(mut self, reload: bool) -> Self {
        self.reload_user = reload;
        self
    }

    /// Overrides every session setting at once with a whole [`SessionConfig`]. The individual
    /// setters of this group (renewal, lifetimes, `Secure`, sudo window, session cap, reload)
    /// are then ignored, and the cookie gets no automatic `__Host-` prefix. Rarely needed: the
    /// default is built from those setters and [`name`](Self::name).
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = Some(session);
        self
    }
}

/// # Mail and messages
///
/// How mails are sent and where their links point, which notices users get, and every text
/// of the pages and mails.
impl PowConfigBuilder {
    /// The mailer. The default is [`LogMailer`], which sends nothing: it prints each mail (links
    /// included) to the terminal (stderr) when the app installs no `tracing` subscriber, and
    /// logs it at `info` through `tracing` otherwise. Fine on a developer's machine; set a real
    /// one ([`SmtpMailer`](crate::mailer::SmtpMailer)) in production, and
    /// [`MemoryMailer`](crate::mailer::MemoryMailer) in tests. With a mailer set, the account
    /// lock's notice (on by default) needs [`base_url`](Self::base_url) for its link:
    /// [`build`](Self::build) checks.
    pub fn mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// The same as [`mailer`](Self::mailer), for a mailer the app already holds as an
    /// `Arc<dyn Mailer>`.
    pub fn mailer_arc(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// The public base URL for links in mails, e.g. `"https://example.com"`. The default is
    /// none: links use the request's scheme and host, which a client controls; set this in
    /// production.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The mail renderer: replace one mail's template by name (see [`MailViews`]). The
    /// default is [`DefaultMailViews`], the built-in layout for every mail.
    pub fn mail_views(mut self, mail_views: impl MailViews) -> Self {
        self.mail_views = Some(Arc::new(mail_views));
        self
    }

    /// Whether users get a mail when their password or email address changes (with when, from
    /// which address and browser, and what to do if it was not them), and when a second factor
    /// or an API sign-in changes their account. The default is `true`; turn it off only when
    /// the app sends such notices itself.
    pub fn security_notices(mut self, enabled: bool) -> Self {
        self.security_notices = enabled;
        self
    }

    /// Mails a notice when a browser signs in to an account from a device it was not
    /// signed in from before: when, from where, which browser, and a link to the session
    /// list. A long-lived, signed device cookie tells devices apart; the first device of
    /// an account (the sign-in after a sign-up) is not announced. On by default; needs
    /// [`security_notices`](Self::security_notices).
    pub fn new_device_notices(mut self, enabled: bool) -> Self {
        self.new_device_notices = enabled;
        self
    }

    /// Replaces every text with `messages`. The default is a
    /// [`FluentMessages`] built from pow-core's English, German and French files, each
    /// enabled extension's files, then the overrides given to
    /// [`messages_ftl`](Self::messages_ftl).
    pub fn messages(mut self, messages: impl Messages) -> Self {
        self.messages = Some(Arc::new(messages));
        self
    }

    /// Overrides messages of language `lang` by key with a Fluent source, e.g.
    /// `.messages_ftl("en", "invalid_credentials = Nope.")` or
    /// `.messages_ftl("en", "signed_in = Welcome back!")` to show a message Pow leaves
    /// empty. Applied in order after the core and extension files; a new language
    /// (`"es"`) is offered too. Checked by [`build`](Self::build).
    pub fn messages_ftl(mut self, lang: &str, ftl: &str) -> Self {
        self.messages_ftl.push((lang.to_owned(), ftl.to_owned()));
        self
    }
}

/// # Abuse protection
///
/// Rate limits and the account lock, what answers reveal, breached passwords, CAPTCHAs and
/// the audit log. All on by default except the breach check and the CAPTCHA.
impl PowConfigBuilder {
    /// Rate limits and the account lockout ([`limits`](crate::limits)). The default is
    /// [`RateLimits::default`](crate::limits::RateLimits::default): on, with the limits a
    /// careful service would pick; [`RateLimits::disabled`](crate::limits::RateLimits::disabled)
    /// turns them off.
    pub fn rate_limits(mut self, limits: crate::limits::RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Whether answers hide whether an account exists where the extensions would tell
    /// (password reset, email confirmation on sign-up, invitations). The default is `true`;
    /// `false` gives plainer answers ("No account exists for the provided email.") and
    /// tells anyone who asks which addresses have accounts.
    pub fn prevent_user_enumeration(mut self, prevent: bool) -> Self {
        self.prevent_user_enumeration = prevent;
        self
    }

    /// Refuses new passwords found in a breach corpus (see
    /// [`BreachCheck`](crate::password::BreachCheck)). Off by default.
    pub fn breach_check(mut self, check: crate::password::BreachCheck) -> Self {
        self.breach_check = Some(check);
        self
    }

    /// Asks for a CAPTCHA answer on sign-up, sign-in and the actions extensions mark as
    /// bot targets (see [`captcha`](crate::captcha)). Off by default.
    pub fn captcha(mut self, captcha: crate::captcha::Captcha) -> Self {
        self.captcha = Some(captcha);
        self
    }

    /// Where audit events go ([`audit`](crate::audit)): sign-ins, failures, locks, password and
    /// email changes. The default logs them with `tracing`
    /// ([`TracingSink`](crate::audit::TracingSink)); `DieselAuditSink` keeps them in the
    /// database, where the activity page (`/registration/activity`) reads a user's recent
    /// events.
    pub fn audit(mut self, auditor: crate::audit::Auditor) -> Self {
        self.audit = Some(auditor);
        self
    }
}

/// # Extensions, routes and pages
///
/// What the setup serves: extensions, where the routes live, how pages look and where mailed
/// links lead.
impl PowConfigBuilder {
    /// Enables an extension, e.g. `ResetPassword::new()` from `pow-ext-reset-password`: its
    /// routes, fields, migrations, messages and callbacks come with it. Order matters: callbacks
    /// run in the order extensions are added, and [`build`](Self::build) refuses an order an
    /// extension forbids. None by default.
    pub fn extension(mut self, extension: impl Extension) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// The routes backend: the paths of pow-rs's pages and where each action redirects. The
    /// default is [`DefaultRoutes`] (Pow's paths: `/session/new`, `/registration/new`, ...,
    /// back to `/` after sign-in); replace it to rename paths or send users elsewhere.
    pub fn routes(mut self, routes: impl Routes) -> Self {
        self.routes = Some(Arc::new(routes));
        self
    }

    /// Where the routes are mounted, when the app puts them in a scope (e.g. `"/admin"`), so
    /// redirects and links point inside it. The default is `""` (the root); a trailing `/` is
    /// dropped.
    pub fn mount_path(mut self, path: impl Into<String>) -> Self {
        self.mount_path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// The page renderer (sign-up, sign-in, account and every extension's pages). The default is
    /// [`DefaultViews`], plain HTML with a small stylesheet; replace it to render pages in the
    /// app's own layout (see the guide on routes, messages and pages). [`build`](Self::build)
    /// refuses views whose [`pages`](Views::pages) name a page nobody renders.
    pub fn views(mut self, views: impl Views) -> Self {
        self.views = Some(Arc::new(views));
        self
    }

    /// Points the mailed links of `kind` at the app's own frontend (a single-page app's
    /// route, a mobile app's universal link) instead of the server's HTML pages: the link
    /// becomes `template` with the signed token in place of `{token}`, and the frontend
    /// sends the token to the JSON endpoint of that flow (see
    /// [`LinkKind`](crate::link::LinkKind) and each extension's `LINK` constants). Mails
    /// sent from HTML and JSON flows alike follow it. The default for every kind is the
    /// server's page under [`base_url`](Self::base_url).
    /// [`build`](Self::build) refuses a kind neither the core nor an enabled extension
    /// sends.
    pub fn frontend_link(
        mut self,
        kind: crate::link::LinkKind,
        template: crate::link::LinkTemplate,
    ) -> Self {
        self.frontend_links.insert(kind, template);
        self
    }
}

/// # Advanced
///
/// Several setups in one app, rotating the secret, the password hashing pool and support
/// access. The defaults suit a single app.
impl PowConfigBuilder {
    /// Names the setup (e.g. `"admin"`), which prefixes the session key, cookie names and store
    /// namespaces so that two setups in one app (users and admins) never see each other's
    /// sessions. The default is unnamed; name a setup only when the app has more than one.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a retired secret to the key ring, known as `id` in logs. New cookies, tokens and
    /// keyed hashes use the secret given to [`PowConfig::builder`]; retired secrets (in the
    /// order added, newest first) still verify what they signed: session cookies, session
    /// and API tokens, mailed links, CSRF tokens, keyed hashes. Put the old secret here when
    /// you change `secret_key_base`, keep it for as long as anything it signed may come back
    /// (the longest of the mailed-link, remember-me and session lifetimes), then drop it.
    /// To take over a Pow app's links, add Pow's `secret_key_base` here.
    pub fn retired_secret_key_base(
        mut self,
        id: impl Into<String>,
        secret: impl Into<Vec<u8>>,
    ) -> Self {
        self.retired_secrets.push((id.into(), secret.into()));
        self
    }

    /// Sizing of this setup's password hashing pool ([`HashPool`]). The default
    /// ([`HashPoolOptions::default`]) is one thread per CPU (at most 8) at nice 10, with
    /// up to 16 hashes per thread waiting; beyond that sign-ins get `503` + `Retry-After`.
    pub fn hash_pool_options(mut self, options: HashPoolOptions) -> Self {
        self.hash_pool_options = options;
        self
    }

    /// Runs this setup's hashing on `pool`, e.g. one pool shared by an admins setup and a
    /// users setup so that together they never use more than its threads. Overrides
    /// [`hash_pool_options`](Self::hash_pool_options).
    pub fn hash_pool(mut self, pool: HashPool) -> Self {
        self.hash_pool = Some(pool);
        self
    }

    /// Lets admins open support access to users' accounts ("sign in as", see
    /// [`session::impersonation`](crate::session::impersonation)). Off by default.
    pub fn impersonation(mut self, impersonation: crate::session::Impersonation) -> Self {
        self.impersonation = Some(impersonation);
        self
    }
}

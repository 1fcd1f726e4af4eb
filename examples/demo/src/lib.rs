//! The pow-rs demo app: sign-up, sign-in, account edit, roles and every extension, on a
//! SQLite file (or PostgreSQL) and an in-memory cache store.
//!
//! Settings come from the environment (see [`Settings::from_env`]); `main.rs` only reads
//! them and starts the server, so tests build the very same app.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpRequest, HttpResponse};
use askama::Template;
use pow_actix::audit::{self, AuditQuery, Auditor, DieselAuditSink, FanOut, TracingSink};
use pow_actix::mailer::{BackgroundMailer, FileMailer, LogMailer, Mailer, MemoryMailer};
use pow_actix::password::Argon2Hasher;
use pow_actix::session::{Impersonation, MaybeUser, PowMiddleware, RequireAuthenticated};
use pow_actix::store::{DiskStore, MemoryStore, RedisStore, SqlStore, Store};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::{Changeset, ChangesetAction, FieldDef, FieldKind, User, UserSchema};
use pow_actix::{Migrations, PowConfig, PowError};
use pow_ext_email_confirmation::EmailConfirmation;
use pow_ext_invitation::Invitation;
use pow_ext_persistent_session::PersistentSession;
use pow_ext_reset_password::ResetPassword;

mod live;

/// The demo's own migration: the `name` and `role` user columns.
pub static DEMO_MIGRATIONS: Migrations = Migrations {
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
};

/// Settings read from the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `DATABASE_URL`; default `sqlite://pow-demo.db`.
    pub database_url: String,
    /// `BIND`; default `127.0.0.1:8080`.
    pub bind: String,
    /// `SECRET_KEY_BASE`; if unset, generated once into `.secret_key_base`.
    pub secret_key_base: String,
    /// `POW_MAIL_DIR`: when set, mails are written there as `.eml`; otherwise logged
    /// (or kept for the development mailbox, see `dev_mailbox`).
    pub mail_dir: Option<PathBuf>,
    /// `POW_DEV_MAILBOX=1`: keep mails in memory and show them at `/dev/mailbox`. For
    /// development only: it shows every mail, sign-in and reset links included, so it
    /// needs a loopback `BIND` and answers only requests that no proxy forwarded. Off by
    /// default: mails are logged.
    pub dev_mailbox: bool,
    /// `BASE_URL` for links in mails; default `http://<BIND>`.
    pub base_url: String,
    /// `ADMIN_EMAILS`: comma-separated emails that get the `admin` role on sign-up.
    pub admin_emails: Vec<String>,
    /// `POW_CACHE` (or `POW_STORE`): `memory` (default), `redis` (with `REDIS_URL` and
    /// `REDIS_PREFIX`), `disk` (with `POW_CACHE_DIR`) or `sql` (a table in `DATABASE_URL`).
    pub cache: CacheSetting,
    /// `POW_LOCAL_CACHE`: with `redis`, or `sql` on PostgreSQL, keep up to this many
    /// records that signed-in requests read in memory (the stores' local read caches, kept
    /// right by Redis' or PostgreSQL's messages). Off when unset.
    pub local_cache: Option<usize>,
    /// `POW_DEMO_OIDC_ISSUER`, `POW_DEMO_OIDC_CLIENT_ID`, `POW_DEMO_OIDC_CLIENT_SECRET` (and
    /// optionally `POW_DEMO_OIDC_NAME`): an OpenID Connect provider to sign in with. Its
    /// redirect URL is `<BASE_URL>/auth/oidc/callback`.
    pub oidc: Option<OidcSettings>,
}

/// An OpenID Connect provider for the demo's "Continue with …" button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcSettings {
    /// The issuer URL (discovery is read from `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// The name on the button; default `Single sign-on`.
    pub name: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

/// The users' database when `DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "sqlite://pow-demo.db";

/// `POW_CACHE`, or its other name `POW_STORE`; both set must agree.
fn cache_setting(env: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, PowError> {
    match (env("POW_CACHE"), env("POW_STORE")) {
        (Some(cache), Some(store)) if cache.trim() != store.trim() => Err(PowError::Config(
            format!("POW_CACHE (`{cache}`) and POW_STORE (`{store}`) name different stores"),
        )),
        (cache, store) => Ok(cache.or(store).map(|v| v.trim().to_owned())),
    }
}

/// Which cache store the demo uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheSetting {
    /// In-process memory: sessions are lost on restart and not shared.
    Memory,
    /// Redis: shared by every process, survives app restarts.
    Redis {
        /// `REDIS_URL`; default `redis://127.0.0.1:6379/`.
        url: String,
        /// `REDIS_PREFIX`, the start of every key the demo writes; default `pow_demo`. Apps
        /// (or test runs) sharing one Redis keep apart with prefixes of their own.
        prefix: String,
    },
    /// An embedded database in this folder: survives restarts, one process.
    Disk(PathBuf),
    /// The users' database (`DATABASE_URL`), in a table of its own: with PostgreSQL,
    /// shared by every process with no other service to run.
    Sql(String),
}

impl CacheSetting {
    /// Opens the store, with a local read cache of `local_cache` records when given.
    ///
    /// # Errors
    /// When Redis is unreachable or the disk store cannot be opened, or a local cache is
    /// asked of a store without one.
    pub async fn open(&self, local_cache: Option<usize>) -> Result<Arc<dyn Store>, PowError> {
        let max_age = std::time::Duration::from_secs(60);
        if local_cache.is_some() && matches!(self, CacheSetting::Memory | CacheSetting::Disk(_)) {
            return Err(PowError::Config(
                "POW_LOCAL_CACHE needs POW_CACHE=redis or sql (on PostgreSQL)".into(),
            ));
        }
        Ok(match self {
            CacheSetting::Memory => MemoryStore::shared(),
            CacheSetting::Redis { url, prefix } => {
                let mut options = pow_actix::store::RedisStoreOptions::new().prefix(prefix);
                if let Some(capacity) = local_cache {
                    options = options.local_cache(capacity).local_cache_max_age(max_age);
                }
                Arc::new(RedisStore::connect_with_options(url, options).await?)
            }
            // Opening a file or a database blocks: off the async executor.
            CacheSetting::Disk(dir) => {
                let dir = dir.clone();
                blocking(move || {
                    std::fs::create_dir_all(&dir).map_err(|e| {
                        PowError::Config(format!(
                            "cannot create POW_CACHE_DIR {}: {e}",
                            dir.display()
                        ))
                    })?;
                    Ok(Arc::new(DiskStore::open(dir.join("pow-cache.redb"))?) as Arc<dyn Store>)
                })
                .await?
            }
            CacheSetting::Sql(url) => {
                let url = url.clone();
                blocking(move || {
                    let store = SqlStore::connect(&url)?;
                    store.migrate()?;
                    Ok(match local_cache {
                        Some(capacity) => Arc::new(store.with_local_cache(capacity, max_age)?),
                        None => Arc::new(store) as Arc<dyn Store>,
                    })
                })
                .await?
            }
        })
    }
}

/// Runs `work` on the blocking thread pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PowError> + Send + 'static,
) -> Result<T, PowError> {
    actix_web::rt::task::spawn_blocking(work)
        .await
        .map_err(|err| PowError::Blocking(err.to_string()))?
}

impl Settings {
    /// Reads the settings. A missing `SECRET_KEY_BASE` is generated into
    /// `.secret_key_base` in the working directory, with a warning.
    ///
    /// # Errors
    /// When the secret file cannot be read or written.
    pub fn from_env() -> Result<Self, PowError> {
        Self::from_vars(|key| std::env::var(key).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read through `var`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env); also when `POW_DEV_MAILBOX` is on with a `BIND`
    /// that is not a loopback address, or with `POW_MAIL_DIR`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, PowError> {
        let env = |key: &str| var(key).filter(|v| !v.trim().is_empty());
        let bind = env("BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        let secret_key_base = match env("SECRET_KEY_BASE") {
            Some(secret) => secret,
            None => secret_from_file(Path::new(".secret_key_base"))?,
        };
        let dev_mailbox = match env("POW_DEV_MAILBOX").as_deref().map(str::trim) {
            None | Some("0" | "off" | "false") => false,
            Some("1" | "on" | "true") => true,
            Some(other) => {
                return Err(PowError::Config(format!(
                    "POW_DEV_MAILBOX must be 1 or 0 (got `{other}`)"
                )))
            }
        };
        if dev_mailbox {
            if !is_loopback_bind(&bind) {
                return Err(PowError::Config(format!(
                    "POW_DEV_MAILBOX shows every mail the demo sends, sign-in links included: \
                     it needs a loopback BIND such as 127.0.0.1:8080 (got `{bind}`)"
                )));
            }
            if env("POW_MAIL_DIR").is_some() {
                return Err(PowError::Config(
                    "set POW_DEV_MAILBOX or POW_MAIL_DIR, not both".into(),
                ));
            }
        }
        Ok(Self {
            dev_mailbox,
            database_url: env("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            base_url: env("BASE_URL").unwrap_or_else(|| format!("http://{bind}")),
            bind,
            secret_key_base,
            mail_dir: env("POW_MAIL_DIR").map(PathBuf::from),
            admin_emails: env("ADMIN_EMAILS")
                .map(|v| v.split(',').map(|e| e.trim().to_lowercase()).collect())
                .unwrap_or_default(),
            local_cache: match env("POW_LOCAL_CACHE") {
                None => None,
                Some(text) => {
                    Some(text.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        PowError::Config(format!(
                            "POW_LOCAL_CACHE must be a number of records (got `{text}`)"
                        ))
                    })?)
                }
            },
            cache: match cache_setting(&env)?.as_deref() {
                None | Some("memory") => CacheSetting::Memory,
                Some("redis") => CacheSetting::Redis {
                    url: env("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379/".into()),
                    prefix: env("REDIS_PREFIX").unwrap_or_else(|| "pow_demo".into()),
                },
                Some("disk") => CacheSetting::Disk(
                    env("POW_CACHE_DIR")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| "pow-cache".into()),
                ),
                Some("sql") => CacheSetting::Sql(
                    env("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
                ),
                Some(other) => {
                    return Err(PowError::Config(format!(
                        "POW_CACHE must be memory, redis, disk or sql (got `{other}`)"
                    )))
                }
            },
            oidc: match (
                env("POW_DEMO_OIDC_ISSUER"),
                env("POW_DEMO_OIDC_CLIENT_ID"),
                env("POW_DEMO_OIDC_CLIENT_SECRET"),
            ) {
                (Some(issuer), Some(client_id), Some(client_secret)) => Some(OidcSettings {
                    issuer,
                    name: env("POW_DEMO_OIDC_NAME").unwrap_or_else(|| "Single sign-on".into()),
                    client_id,
                    client_secret,
                }),
                (None, None, None) => None,
                _ => {
                    return Err(PowError::Config(
                        "set all of POW_DEMO_OIDC_ISSUER, POW_DEMO_OIDC_CLIENT_ID and \
                         POW_DEMO_OIDC_CLIENT_SECRET, or none"
                            .into(),
                    ))
                }
            },
        })
    }
}

/// Whether `bind` (`host:port`) listens on a loopback address only.
fn is_loopback_bind(bind: &str) -> bool {
    let host = bind
        .rsplit_once(':')
        .map_or(bind, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The mailbox the development preview shows, when [`Settings::dev_mailbox`] is on.
pub fn dev_mailbox(settings: &Settings) -> Option<MemoryMailer> {
    settings.dev_mailbox.then(MemoryMailer::new)
}

/// Which password hasher new hashes use (`POW_HASHER`). Sign-in verifies both formats
/// whichever is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HasherSetting {
    /// PBKDF2-SHA512 with 210 000 iterations, Pow's format (the default).
    #[default]
    Pbkdf2,
    /// Argon2id with the `argon2` crate's default costs (19 MiB, 2 passes).
    Argon2,
}

/// Server settings that do not change the app: `WORKERS` (actix worker threads; default
/// one per CPU) and `POW_HASHER` (`pbkdf2`, the default, or `argon2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerSettings {
    /// `WORKERS`: how many actix workers serve requests; `None` for actix's default.
    pub workers: Option<usize>,
    /// `POW_HASHER`: the password hasher.
    pub hasher: HasherSetting,
    /// `POW_RATE_LIMITS=off` turns the rate limits and lockout off (for load benchmarks
    /// that sign in from one address all the time); on by default.
    pub rate_limits_off: bool,
}

impl ServerSettings {
    /// Reads `WORKERS` and `POW_HASHER`.
    ///
    /// # Errors
    /// When `WORKERS` is not a positive number or `POW_HASHER` is not `pbkdf2` or `argon2`.
    pub fn from_env() -> Result<Self, PowError> {
        Self::from_vars(|key| std::env::var(key).ok())
    }

    /// Reads the settings from `var` (the environment, or a map in tests).
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, PowError> {
        let env = |key: &str| var(key).filter(|v| !v.trim().is_empty());
        let workers = match env("WORKERS") {
            None => None,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(PowError::Config(format!(
                        "WORKERS must be a positive number (got `{v}`)"
                    )))
                }
            },
        };
        let hasher = match env("POW_HASHER").as_deref().map(str::trim) {
            None | Some("pbkdf2") => HasherSetting::Pbkdf2,
            Some("argon2") => HasherSetting::Argon2,
            Some(other) => {
                return Err(PowError::Config(format!(
                    "POW_HASHER must be pbkdf2 or argon2 (got `{other}`)"
                )))
            }
        };
        let rate_limits_off = match env("POW_RATE_LIMITS").as_deref().map(str::trim) {
            None | Some("on") => false,
            Some("off") => true,
            Some(other) => {
                return Err(PowError::Config(format!(
                    "POW_RATE_LIMITS must be on or off (got `{other}`)"
                )))
            }
        };
        Ok(Self {
            workers,
            hasher,
            rate_limits_off,
        })
    }
}

/// Writes `contents` to a new file only its owner can read (0600 on Unix).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// Reads the secret from `path`, generating 64 random bytes (base64) there on first use.
fn secret_from_file(path: &Path) -> Result<String, PowError> {
    use base64::Engine as _;
    use rand::RngCore;
    if let Ok(secret) = std::fs::read_to_string(path) {
        let secret = secret.trim().to_owned();
        if !secret.is_empty() {
            return Ok(secret);
        }
    }
    let mut bytes = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::STANDARD.encode(bytes);
    write_private(path, &secret).map_err(|e| {
        PowError::Config(format!(
            "cannot write {}: {e}; set SECRET_KEY_BASE instead",
            path.display()
        ))
    })?;
    tracing::warn!(
        "SECRET_KEY_BASE is not set: generated one into {} (set SECRET_KEY_BASE in production)",
        path.display()
    );
    Ok(secret)
}

/// The demo's changeset rules for its own fields: `name` is required on sign-up and at
/// most 100 characters; `role` is set by the server (admin for `ADMIN_EMAILS`).
fn demo_changeset(admin_emails: Vec<String>) -> impl Fn(&mut Changeset, &UserSchema) + Send + Sync {
    move |cs: &mut Changeset, _: &UserSchema| {
        if matches!(
            cs.action,
            ChangesetAction::Create | ChangesetAction::Update | ChangesetAction::CompleteSignUp
        ) {
            if cs.action != ChangesetAction::Update {
                cs.validate_required("name");
            }
            cs.validate_length("name", 1, 100);
        }
        if cs.action == ChangesetAction::Create {
            let email = cs
                .field("email")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            // Users who sign up themselves start their own team, named after them.
            cs.put_change("team", format!("team of {email}"));
            let role = if admin_emails.contains(&email) {
                "admin"
            } else {
                "user"
            };
            cs.put_change("role", role);
        }
    }
}

/// Builds the demo's setup: config, users context (migrated) and mailer.
///
/// # Errors
/// When the database cannot be reached or migrated, or a setting is invalid.
pub fn build(
    settings: &Settings,
    store: Arc<dyn Store>,
    mailer: Option<Arc<dyn Mailer>>,
) -> Result<PowConfig, PowError> {
    build_with_hasher(settings, HasherSetting::default(), store, mailer)
}

/// [`build`] with the given password hasher.
///
/// # Errors
/// As [`build`].
pub fn build_with_hasher(
    settings: &Settings,
    hasher: HasherSetting,
    store: Arc<dyn Store>,
    mailer: Option<Arc<dyn Mailer>>,
) -> Result<PowConfig, PowError> {
    let server = ServerSettings {
        hasher,
        ..ServerSettings::default()
    };
    build_for_server(settings, &server, store, mailer)
}

/// [`build`] with the server's settings (hasher, rate limits).
///
/// # Errors
/// As [`build`].
pub fn build_for_server(
    settings: &Settings,
    server: &ServerSettings,
    store: Arc<dyn Store>,
    mailer: Option<Arc<dyn Mailer>>,
) -> Result<PowConfig, PowError> {
    let hasher = server.hasher;
    let users = DieselUsersContext::connect(&settings.database_url)?;
    let mailer: Arc<dyn Mailer> = match (mailer, &settings.mail_dir) {
        (Some(mailer), _) => mailer,
        // Off the request path, with retries: answers never wait for (or reveal) a mail.
        (None, Some(dir)) => Arc::new(BackgroundMailer::new(FileMailer::new(
            dir,
            "pow-rs demo <no-reply@localhost>",
        )?)),
        (None, None) => Arc::new(BackgroundMailer::new(LogMailer)),
    };
    let passwordless = pow_ext_passwordless::Passwordless::new().sign_up(true);
    let mut builder = PowConfig::builder(settings.secret_key_base.clone());
    if hasher == HasherSetting::Argon2 {
        builder = builder.hasher(Argon2Hasher::default());
    }
    if server.rate_limits_off {
        builder = builder.rate_limits(pow_actix::limits::RateLimits::disabled());
    }
    if let Some(oidc) = &settings.oidc {
        // "Continue with …" on the sign-in and sign-up pages; unverified addresses take
        // the passwordless staged sign-up.
        let oauth = pow_ext_oauth::OAuth::new()
            .provider(pow_ext_oauth::Provider::openid_connect(
                "oidc",
                &oidc.name,
                &oidc.issuer,
                &oidc.client_id,
                &oidc.client_secret,
            ))
            .map_err(|err| PowError::Config(err.to_string()))?
            .staged_sign_up(true);
        builder = builder.extension(oauth);
    }
    let config = builder
        .users(users.clone())
        .store(store)
        .mailer_arc(mailer)
        .base_url(settings.base_url.clone())
        // Authentication events in the database (the admin page lists them) and the log.
        .audit(Auditor::new(FanOut::new(vec![
            Box::new(DieselAuditSink::new(users.database().clone())),
            Box::new(TracingSink),
        ])))
        .user_field(FieldDef::new("name", FieldKind::Text).castable().required())
        .user_field(FieldDef::new("role", FieldKind::Text))
        .user_field(FieldDef::new("team", FieldKind::Text))
        .changeset_hook(demo_changeset(settings.admin_emails.clone()))
        // Support access: admins open a user's account from the admin page, with a
        // reason; the user is mailed a notice and sees it in their activity.
        .impersonation(
            Impersonation::new(|admin| admin.get_str("role") == Some("admin")).notify_user(true),
        )
        // Extensions, in order: email confirmation and two-factor must come before
        // persistent sessions, so a sign-in they stop gets no remember-me cookie.
        .extension(ResetPassword::new())
        .extension(EmailConfirmation::new())
        .extension(pow_ext_two_factor::TwoFactor::new().issuer("pow-rs demo"))
        // Sign-in by emailed link or code; unknown addresses may sign up that way.
        .extension(passwordless.clone())
        // Passkeys, security keys as a second factor, passkey-only accounts.
        .extension(passkeys(&settings.base_url)?)
        .extension(PersistentSession::new())
        .extension(
            Invitation::new()
                // Only admins may invite (Pow's user-roles guide) ...
                .who_may_invite(|inviter| inviter.get_str("role") == Some("admin"))
                // ... and invitees join the inviter's team (Pow's "parent organization" guide).
                .carry_fields(|inviter, invitee| {
                    if let Some(team) = inviter.get_str("team") {
                        invitee.put_change("team", team);
                    }
                }),
        )
        // Users close their own accounts (14 days to change their mind, then
        // `purge_closed_accounts` erases them) and download their data.
        .extension(pow_ext_account::Account::new())
        // Scoped API keys for scripts, made on the account's "API keys" page.
        .extension(pow_ext_api_keys::ApiKeys::new().scopes(["profile:read"]))
        // The app as an OpenID provider: a command-line tool signs in through it (loopback
        // redirect, PKCE); the account page links "Applications", which lists and revokes
        // what the user allowed. Admins register more clients at /oauth/clients.
        .extension(
            pow_ext_provider::Provider::new()
                .client(
                    pow_ext_provider::ClientRegistration::public("demo-cli")
                        .name("pow-rs demo CLI")
                        .redirect_uri("http://127.0.0.1/callback"),
                )
                .client_admins(is_admin),
        )
        // Organizations with members, roles and invitations: the account page links
        // "Organizations"; closed ones wait 14 days before their purge, as accounts do.
        // Their admins prove domains with a DNS TXT record (looked up over DNS over HTTPS).
        .extension(
            pow_ext_organizations::Organizations::new()
                .close_grace(std::time::Duration::from_secs(14 * 24 * 3600))
                .domains(pow_ext_organizations::domains::DohResolver::cloudflare()),
        )
        // Single sign-on per organization: an organization's admins connect its OpenID
        // provider at /organizations/<slug>/sso; "Sign in with your organization" on the
        // sign-in page routes an address at a verified domain to it.
        .extension(pow_ext_sso::Sso::new())
        // SCIM provisioning per organization: its admins make a token at
        // /organizations/<slug>/scim and give it, with <base URL>/scim/v2, to their
        // identity provider.
        .extension(pow_ext_scim::Scim::new())
        .build()?;
    users.migrate_with(&config, &[&DEMO_MIGRATIONS])?;
    Ok(config)
}

/// The demo's passkeys. The relying party is the base URL's host; a loopback address
/// becomes `localhost`, since browsers take no IP address as a relying party id: open the
/// demo at `http://localhost:<port>` to use passkeys.
fn passkeys(base_url: &str) -> Result<pow_ext_passkeys::Passkeys, PowError> {
    let url = url::Url::parse(base_url).map_err(|err| PowError::Config(err.to_string()))?;
    let port = url
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let (rp_id, origin) = match url.host() {
        Some(url::Host::Domain(domain)) => (
            domain.to_owned(),
            format!("{}://{domain}{port}", url.scheme()),
        ),
        _ => (
            "localhost".to_owned(),
            format!("{}://localhost{port}", url.scheme()),
        ),
    };
    let local = rp_id == "localhost";
    pow_ext_passkeys::Passkeys::new(&rp_id, &origin)
        // On localhost, whatever port the demo was started on.
        .map(|passkeys| passkeys.rp_name("pow-rs demo").allow_any_port(local))
        .map_err(|err| PowError::Config(err.to_string()))
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{{ css|safe }}</style></head>
<body class="pow-page-demo"><main class="pow">
<h1>{{ title }}</h1>
{% for p in paragraphs %}<p class="pow-text">{{ p }}</p>{% endfor %}
<ul class="pow-links">{% for l in links %}<li><a href="{{ l.0 }}">{{ l.1 }}</a></li>{% endfor %}</ul>
{% if let Some(token) = sign_out_token %}
<form class="pow-form" action="/session" method="post"><input type="hidden" name="_method" value="DELETE">
<input type="hidden" name="_csrf_token" value="{{ token }}"><button type="submit">Sign out</button></form>
{% endif %}{% if let Some(token) = support_token %}
<form class="pow-form" action="/impersonation" method="post">
<input type="hidden" name="_csrf_token" value="{{ token }}">
<label for="support-user">User id</label><input id="support-user" name="user[user_id]" inputmode="numeric" required>
<label for="support-reason">Reason</label><input id="support-reason" name="user[reason]" required>
<button type="submit">Open support access</button></form>
{% endif %}{% if live %}
<p class="pow-text" id="live-state" role="status">Live connection: needs JavaScript.</p>
<script>
const state = document.getElementById("live-state");
const source = new EventSource("/live/events");
source.addEventListener("open", () => { state.textContent = "Live connection: open."; });
source.addEventListener("ended", () => {
  source.close();
  state.textContent = "Live connection: ended, this session was signed out.";
});
</script>{% endif %}
</main></body></html>"#
)]
struct DemoPage {
    title: String,
    css: &'static str,
    paragraphs: Vec<String>,
    links: Vec<(String, String)>,
    sign_out_token: Option<String>,
    /// The admin page's support-access form (its CSRF token).
    support_token: Option<String>,
    live: bool,
}

fn page(
    req: &HttpRequest,
    title: &str,
    paragraphs: Vec<String>,
    signed_in: bool,
) -> pow_actix::Result<HttpResponse> {
    page_with(req, title, paragraphs, signed_in, false)
}

/// [`page`], with the live connection's script when `live`.
fn page_with(
    req: &HttpRequest,
    title: &str,
    paragraphs: Vec<String>,
    signed_in: bool,
    live: bool,
) -> pow_actix::Result<HttpResponse> {
    let html = render_page(title, paragraphs, signed_in, live, || {
        pow_actix::web::csrf::csrf_token(req)
    })?;
    let mut res = HttpResponse::Ok();
    for header in pow_actix::web::page_security_headers() {
        res.insert_header(header);
    }
    // Pages that show who is signed in must not be kept by caches or the back button.
    if signed_in {
        res.insert_header(pow_actix::web::no_store());
    }
    Ok(res.content_type("text/html; charset=utf-8").body(html))
}

/// One of the demo's own pages as HTML, the same on every framework: `title`, its
/// `paragraphs`, the links for a visitor or a signed-in user, a sign-out button (and on the
/// admin page the support-access form) with a CSRF token from `csrf_token`, and the live
/// connection's script when `live`. Pages showing who is signed in are answered
/// `no-store`.
///
/// # Errors
/// The template's error.
pub fn render_page(
    title: &str,
    paragraphs: Vec<String>,
    signed_in: bool,
    live: bool,
    csrf_token: impl Fn() -> String,
) -> Result<String, askama::Error> {
    let mut links = vec![
        ("/".to_owned(), "Home".to_owned()),
        ("/protected".into(), "Protected page".into()),
        ("/admin".into(), "Admin page".into()),
    ];
    if signed_in {
        links.push(("/live".into(), "Live connection".into()));
        links.push(("/registration/edit".into(), "Edit account".into()));
        links.push(("/invitations/new".into(), "Invite someone (admins)".into()));
    } else {
        links.push(("/session/new".into(), "Sign in".into()));
        links.push(("/registration/new".into(), "Register".into()));
    }
    DemoPage {
        title: title.to_owned(),
        css: pow_actix::views::STYLESHEET,
        paragraphs,
        links,
        sign_out_token: signed_in.then(&csrf_token),
        support_token: (title == ADMIN_TITLE).then(&csrf_token),
        live,
    }
    .render()
}

/// The home page's text: the flash, then who is signed in (their name, address and team).
pub fn home_paragraphs(
    flash: pow_actix::session::flash::Flash,
    user: Option<&User>,
) -> Vec<String> {
    let mut paragraphs: Vec<String> = flash.info.into_iter().chain(flash.error).collect();
    match user {
        Some(u) => {
            let email = u.email().unwrap_or_default();
            let name = u.get_str("name").unwrap_or("no name");
            let admin = is_admin(u);
            // Teams only matter to invitations: admins invite people into their team, and
            // invitees join their inviter's. Everybody else's team is just their own.
            let team = u
                .get_str("team")
                .filter(|team| admin || *team != format!("team of {email}"));
            paragraphs.push(match team {
                Some(team) => format!("Signed in as {name} ({email}), {team}."),
                None => format!("Signed in as {name} ({email})."),
            });
            if admin {
                paragraphs.push("People you invite join your team.".to_owned());
            }
        }
        None => paragraphs.push("You are not signed in.".into()),
    }
    paragraphs
}

/// Whether `user` has the demo's admin role.
pub fn is_admin(user: &User) -> bool {
    user.get_str("role") == Some("admin")
}

/// The protected page's text for `user`.
pub fn protected_text(user: &User) -> String {
    format!(
        "Only signed-in users see this. Hello, {}!",
        user.email().unwrap_or_default()
    )
}

/// The live page's text.
pub const LIVE_TEXT: &str = "This page keeps a live connection open. Sign out in another tab, \
                             or end this session from the session list, and it ends within a second.";

/// The admin page's lines: the latest sign-in events of every user, from the audit log's
/// query API.
///
/// # Errors
/// The audit log's error.
pub async fn admin_lines(config: &PowConfig) -> Result<Vec<String>, PowError> {
    let events = config
        .audit()
        .query(AuditQuery {
            names: vec![
                audit::SIGN_IN_SUCCEEDED,
                audit::SIGN_IN_FAILED,
                audit::LOCKED,
            ],
            limit: 20,
            ..AuditQuery::default()
        })
        .await?;
    let mut lines = vec![
        "Only admins see this.".to_owned(),
        "Latest sign-ins:".to_owned(),
    ];
    lines.extend(events.iter().map(|event| {
        format!(
            "{} {} user {} from {} {}",
            event.at.format("%Y-%m-%d %H:%M:%S"),
            event.name,
            event
                .user_id
                .map_or_else(|| "?".to_owned(), |id| id.to_string()),
            event.ip.as_deref().unwrap_or("?"),
            event
                .detail
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or(""),
        )
    }));
    Ok(lines)
}

async fn home(req: HttpRequest, user: MaybeUser) -> pow_actix::Result<HttpResponse> {
    let flash = pow_actix::web::flash::take(&req);
    let paragraphs = home_paragraphs(flash, user.0.as_deref());
    page(&req, "pow-rs demo", paragraphs, user.0.is_some())
}

async fn protected(
    req: HttpRequest,
    user: pow_actix::CurrentUser,
) -> pow_actix::Result<HttpResponse> {
    page(&req, "Protected page", vec![protected_text(&user)], true)
}

async fn admin(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    let config = pow_actix::web::route_config(&req)?;
    let lines = admin_lines(&config).await?;
    page(&req, ADMIN_TITLE, lines, true)
}

/// The admin page's title (the page that carries the support-access form).
pub const ADMIN_TITLE: &str = "Admin page";

/// Role guard (Pow's user-roles guide): lets `admin` users through, answers 403 to others.
async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let admin = pow_actix::session::current_user(req.request()).is_some_and(|u| is_admin(&u));
    if admin {
        Ok(next.call(req).await?.map_into_left_body())
    } else {
        let res = HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("Admins only.");
        Ok(req.into_response(res).map_into_right_body())
    }
}

/// The demo app for `config`.
pub fn app(
    config: PowConfig,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_with_mailbox(config, None)
}

/// The demo app for `config`, with the development mailbox preview at `/dev/mailbox` when
/// mails are kept in `mailbox`.
pub fn app_with_mailbox(
    config: PowConfig,
    mailbox: Option<MemoryMailer>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(pow_actix::web::configure(config.clone()))
        .configure(|cfg| {
            if let Some(outbox) = mailbox {
                pow_actix::web::mailbox_preview(outbox)(cfg);
            }
        })
        .route("/", web::get().to(home))
        .service(
            web::scope("/protected")
                .wrap(RequireAuthenticated::new())
                .route("", web::get().to(protected)),
        )
        .service(live::scope())
        .service(
            web::scope("/admin")
                .wrap(from_fn(require_admin))
                .wrap(RequireAuthenticated::new())
                .route("", web::get().to(admin)),
        )
        .wrap(PowMiddleware::new(config.clone()))
}

/// What a demo server runs with: its settings, the setup built from them, and the
/// development mailbox when mails are kept for it.
pub struct Server {
    /// The settings read from the environment.
    pub settings: Settings,
    /// The server's own settings (workers, hasher, rate limits).
    pub server: ServerSettings,
    /// The setup.
    pub config: PowConfig,
    /// The development mailbox (`POW_DEV_MAILBOX=1`, loopback only).
    pub mailbox: Option<MemoryMailer>,
}

/// Logs to standard output, filtered by `RUST_LOG` (`info` by default): what every demo
/// server starts with, whichever framework serves it.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

/// Reads the settings from the environment, opens the cache store and builds the setup as
/// every demo server does (with `POW_DEV_MAILBOX=1`, on a loopback bind only, mails stay in
/// memory for `/dev/mailbox`; otherwise they are logged, or written to `POW_MAIL_DIR`), and
/// says in the log where mails go.
///
/// # Errors
/// An invalid setting, a store or database that cannot be reached.
pub async fn server_from_env() -> std::io::Result<Server> {
    let settings = Settings::from_env().map_err(std::io::Error::other)?;
    let server = ServerSettings::from_env().map_err(std::io::Error::other)?;
    let store = settings
        .cache
        .open(settings.local_cache)
        .await
        .map_err(std::io::Error::other)?;
    let mailbox = dev_mailbox(&settings);
    let mailer = mailbox
        .clone()
        .map(|outbox| Arc::new(BackgroundMailer::new(outbox)) as Arc<dyn Mailer>);
    let config =
        build_for_server(&settings, &server, store, mailer).map_err(std::io::Error::other)?;
    let preview = pow_actix::pages::mailbox::MAILBOX_PATH;
    match (&mailbox, &settings.mail_dir) {
        (Some(_), _) => tracing::warn!(
            "development mailbox (POW_DEV_MAILBOX=1): every mail the demo sends, sign-in \
             links included, at http://{}{preview} for requests from this machine only; never \
             expose it",
            settings.bind,
        ),
        (None, Some(dir)) => tracing::info!("mails are written to {}", dir.display()),
        (None, None) => tracing::info!(
            "mails are written to this log; set POW_DEV_MAILBOX=1 to read them at {preview} \
             (loopback BIND only)"
        ),
    }
    Ok(Server {
        settings,
        server,
        config,
        mailbox,
    })
}

/// Erases the closed accounts and organizations whose grace period is over, now and then
/// every hour (the demo's job runner; an app may run `pow accounts purge` from cron instead).
pub async fn purge_closed_accounts(config: PowConfig) {
    let account = pow_ext_account::Account::new();
    let mut hourly = actix_web::rt::time::interval(std::time::Duration::from_secs(60 * 60));
    loop {
        hourly.tick().await;
        match account.purge_due(&config, chrono::Utc::now()).await {
            Ok(purge) if purge.erased.is_empty() && purge.failed.is_empty() => {}
            Ok(purge) => tracing::info!(
                erased = purge.erased.len(),
                failed = purge.failed.len(),
                "closed accounts purged"
            ),
            Err(err) => tracing::error!(error = %err, "purging closed accounts failed"),
        }
        match pow_ext_organizations::flows::purge_due(&config, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "closed organizations purged"),
            Err(err) => tracing::error!(error = %err, "purging closed organizations failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_settings(vars: &[(&str, &str)]) -> Result<ServerSettings, PowError> {
        ServerSettings::from_vars(|key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn server_settings_default_to_actix_workers_and_pbkdf2() {
        let settings = server_settings(&[("WORKERS", " "), ("POW_HASHER", "")]);
        assert_eq!(settings.ok(), Some(ServerSettings::default()));
        assert_eq!(ServerSettings::default().workers, None);
        assert_eq!(ServerSettings::default().hasher, HasherSetting::Pbkdf2);
    }

    #[test]
    fn server_settings_read_workers_and_hasher() {
        let settings = server_settings(&[("WORKERS", "1"), ("POW_HASHER", "argon2")]);
        assert_eq!(
            settings.ok(),
            Some(ServerSettings {
                workers: Some(1),
                hasher: HasherSetting::Argon2,
                rate_limits_off: false,
            })
        );
        let settings = server_settings(&[("POW_HASHER", "pbkdf2")]);
        assert_eq!(settings.ok().map(|s| s.hasher), Some(HasherSetting::Pbkdf2));
    }

    #[test]
    fn server_settings_refuse_bad_values() {
        for vars in [
            [("WORKERS", "0"), ("POW_HASHER", "pbkdf2")],
            [("WORKERS", "many"), ("POW_HASHER", "pbkdf2")],
            [("WORKERS", "2"), ("POW_HASHER", "bcrypt")],
        ] {
            assert!(
                matches!(server_settings(&vars), Err(PowError::Config(_))),
                "{vars:?}"
            );
        }
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, PowError> {
        let mut vars = vars.to_vec();
        vars.push((
            "SECRET_KEY_BASE",
            "s3cr3t-key-base-for-the-settings-test-only-0123456789",
        ));
        Settings::from_vars(|key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_sql_store_is_the_users_database_under_either_name() {
        let url = "postgres://app@db/app";
        for name in ["POW_CACHE", "POW_STORE"] {
            let read = settings(&[(name, "sql"), ("DATABASE_URL", url)]);
            assert_eq!(
                read.ok().map(|s| s.cache),
                Some(CacheSetting::Sql(url.into()))
            );
        }
        let default = settings(&[("POW_STORE", "sql")]).ok().map(|s| s.cache);
        assert_eq!(
            default,
            Some(CacheSetting::Sql(DEFAULT_DATABASE_URL.into()))
        );
        let same = settings(&[("POW_STORE", "redis"), ("POW_CACHE", "redis")]);
        assert!(matches!(
            same.map(|s| s.cache),
            Ok(CacheSetting::Redis { .. })
        ));
        let differ = settings(&[("POW_STORE", "sql"), ("POW_CACHE", "redis")]);
        assert!(matches!(differ, Err(PowError::Config(_))));
        let unknown = settings(&[("POW_STORE", "mongo")]);
        assert!(matches!(unknown, Err(PowError::Config(_))));
    }
}

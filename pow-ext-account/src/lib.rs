//! # pow-ext-account
//!
//! Account lifecycle for pow-rs: the owner **closes** the account (every credential ends at
//! once, erasure is scheduled after a grace period), may **reopen** it until then, the app's
//! job **erases** due accounts across every extension, and the owner **exports** their data.
//!
//! **Guide**: [closing, reopening, erasing and exporting accounts](https://github.com/pow-rs/pow-rs/blob/main/guides/account.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! - **Close** (`POST /account/close`, `POST <api>/account/close`): needs sudo mode, or for
//!   an account without a password, a link mailed to its address. In one step the account
//!   is marked closed (`closed_at`), its erasure scheduled (`erase_after`, 14 days by
//!   default, [`Account::grace_period`]; zero erases at once), and every session, API and
//!   renewal token and remember-me token ends. Nothing signs it in any more: the core
//!   refuses to start a session for a closed account, and links mailed before (reset,
//!   confirmation, passwordless, invitations it sent) find nothing. A notice mail carries a
//!   link that reopens it.
//! - **Reopen**: a password sign-in during the grace period is offered reactivation and
//!   nothing else (`/account/reactivate`); the mailed link reopens it too.
//! - **Erase**: [`Account::purge_due`] (and `pow accounts purge`) erases the accounts whose
//!   time has come with [`pow_core::admin::erase_account`]: each extension's data through
//!   its erase hook ([`UserData`]), the cache-store records, the audit events' ids (a keyed
//!   hash stays), then the row (deleted, or anonymised: [`Account::anonymise_rows`]). Each
//!   step can run again, so an interrupted purge finishes on the next run, and a second
//!   purge does nothing. The app adds its own tables with [`Account::erase_hook`].
//! - **Export** (`GET /account/export`, `GET <api>/account/export`, `pow users export`):
//!   sudo mode, rate-limited; the document of [`pow_core::admin::export_user`], described by
//!   `schema/export.schema.json` in this crate.
//!
//! ```
//! use std::time::Duration;
//! use pow_ext_account::Account;
//!
//! let account = Account::new().grace_period(Duration::from_secs(30 * 24 * 60 * 60));
//! let config = pow_actix::PowConfig::builder("a".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(account)
//!     .build()?;
//! assert!(config.user_fields().iter().any(|f| f.name == "closed_at"));
//! # Ok::<_, pow_actix::PowError>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pow_core::admin::RowErasure;
use pow_core::audit::{self, AuditEvent};
use pow_core::extension::{ExtensionBuilder, SqlMigration, UserData};
use pow_core::messages::{LanguageIdentifier, MessageArg};
use pow_core::store::{Limit, Limiter};
use pow_core::users::{Changes, FieldDef, FieldKind, User, Value, CLOSED_AT_FIELD};
use pow_core::{Extension, PowConfig, PowError};

/// The JSON endpoints on the engine's routes, served by every framework.
mod api;
mod flows;
mod mail;
/// The pages on the engine's page routes, served by every framework.
mod pages;
mod purge;

pub use flows::actions;
pub use purge::Purge;

/// The extension's name.
pub const NAME: &str = "pow_account";

/// The column holding when the account is erased.
pub const ERASE_AFTER_FIELD: &str = "erase_after";

/// How long a closed account can be reopened by default: 14 days.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// The notice mail of a closed account, with the link that reopens it.
pub const MAIL_CLOSED: &str = "account/closed";
/// The mail asking an account without a password to confirm its closing.
pub const MAIL_CONFIRM: &str = "account/confirm_close";

/// The kind of the closing notice's reactivation link, for
/// [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link): the
/// frontend sends the token to `POST <api>/account/reactivate` as `{"token": ...}`.
pub const REACTIVATE_LINK: pow_core::api::LinkKind =
    pow_core::api::LinkKind::new("account_reactivate");

/// The kind of the closing confirmation's link (mailed to an account without a password),
/// for [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link): the
/// frontend sends the token to `POST <api>/account/close/{token}`.
pub const CLOSE_LINK: pow_core::api::LinkKind = pow_core::api::LinkKind::new("account_close");

/// How long the mailed closing confirmation works.
pub const CONFIRM_TTL: Duration = Duration::from_secs(30 * 60);

/// How many data exports one user may download: 5 per hour.
pub const EXPORT_LIMIT: Limit = Limit::new(5, Duration::from_secs(60 * 60));

fn export_limiter(config: &PowConfig) -> Limiter {
    Limiter::new(config, "account_export")
}

/// Salt of the signed reactivation link.
const REACTIVATE_SALT: &str = "pow account reactivation";
/// Salt of the signed closing confirmation link.
const CONFIRM_SALT: &str = "pow account close confirmation";

/// The extension's migrations: `closed_at` and `erase_after` on the users table.
pub const MIGRATIONS: &[SqlMigration] = &[pow_core::sql_migration!(
    "20261101000000",
    "add_pow_account_to_users",
    portable
)];

/// The extension's messages (en, de, fr).
pub const FTL: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-account.ftl")),
    ("de", include_str!("../locales/de/pow-ext-account.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-account.ftl")),
];

/// The audit events the extension records.
pub mod events {
    use pow_core::audit::EventName;

    /// The owner closed the account (`detail.erase_after`: when it is erased, ms).
    pub const CLOSED: EventName = EventName::new("account.closed");
    /// The owner reopened a closed account (`detail.by`: `sign_in` or `link`).
    pub const REACTIVATED: EventName = EventName::new("account.reactivated");
    /// An account was erased: recorded without the user id, under the keyed hash its
    /// other events now carry.
    pub const ERASED: EventName = EventName::new("account.erased");
    /// The owner downloaded their data.
    pub const EXPORTED: EventName = EventName::new("account.exported");
}

/// The account extension (see the crate docs). Cheap to clone.
#[derive(Clone)]
pub struct Account {
    grace: Duration,
    row: RowErasure,
    hooks: Vec<Arc<dyn UserData>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("grace", &self.grace)
            .field("row", &self.row)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl Default for Account {
    fn default() -> Self {
        Self::new()
    }
}

/// What closing an account came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Closed; erased at this time unless reopened before.
    Scheduled(DateTime<Utc>),
    /// Erased at once (a grace period of zero).
    Erased,
}

impl Account {
    /// Closing with the default grace period ([`DEFAULT_GRACE_PERIOD`]), rows deleted at
    /// erasure.
    pub fn new() -> Self {
        Self {
            grace: DEFAULT_GRACE_PERIOD,
            row: RowErasure::Delete,
            hooks: Vec::new(),
        }
    }

    /// How long a closed account can be reopened before it is erased; zero erases it as
    /// it closes.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Keeps erased accounts' rows, emptied (see [`RowErasure::Anonymise`]), for the app's
    /// tables that point at them.
    pub fn anonymise_rows(mut self) -> Self {
        self.row = RowErasure::Anonymise;
        self
    }

    /// Adds the app's own erase and export hook, for its own tables about users: it runs
    /// with the extensions' hooks, and its export goes under this extension's name.
    pub fn erase_hook(mut self, hook: impl UserData) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// The grace period.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Closes `user`'s account: marks it closed, schedules its erasure, ends every
    /// credential, and mails the notice with the reactivation link in `lang` (when the
    /// account has an address). With a grace period of zero the account is erased now.
    ///
    /// # Errors
    /// The users context's, the store's or the mailer's error.
    pub async fn close(
        &self,
        config: &PowConfig,
        user: &User,
        lang: &LanguageIdentifier,
    ) -> Result<Closed, PowError> {
        let now = Utc::now();
        let grace = chrono::Duration::from_std(self.grace).unwrap_or(chrono::Duration::MAX);
        let erase_after = now
            .checked_add_signed(grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut changes = Changes::new();
        changes.insert(CLOSED_AT_FIELD.to_owned(), Value::Timestamp(now));
        changes.insert(ERASE_AFTER_FIELD.to_owned(), Value::Timestamp(erase_after));
        let closed = pow_core::admin::update_user(config, user, changes).await?;
        pow_core::session::revoke_user(config, &closed).await?;
        audit::record(
            config,
            AuditEvent::new(events::CLOSED)
                .user(closed.id)
                .detail("erase_after", erase_after.timestamp_millis()),
        );
        if self.grace.is_zero() {
            self.erase(config, &closed).await?;
            return Ok(Closed::Erased);
        }
        if let Some(to) = closed.email() {
            let url = self.reactivation_url(config, &closed);
            mail::closed(config, lang, to, &url, erase_after).await?;
        }
        Ok(Closed::Scheduled(erase_after))
    }

    /// Reopens a closed account (the owner proved it: their password, or the mailed link):
    /// the erasure is cancelled. Returns the user as stored.
    ///
    /// Closing and reopening run without HTTP too. Here closing ends the session Ada had
    /// open, and the mailed link reopens the account, which a new
    /// [`StoreSession`](pow_core::session::StoreSession) then signs in to:
    ///
    /// ```
    /// use pow_core::mailer::MemoryMailer;
    /// use pow_core::messages::LanguageIdentifier;
    /// use pow_core::session::{user_sessions, AuthMethod, SessionHandle, SessionMetadata, StoreSession};
    /// use pow_core::users::diesel::DieselUsersContext;
    /// use pow_core::PowConfig;
    /// use pow_ext_account::{Account, Closed};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (users, mailer, account) = (DieselUsersContext::connect(":memory:")?, MemoryMailer::new(), Account::new());
    /// let config = PowConfig::builder("s".repeat(64))
    ///     .base_url("https://example.com")
    ///     .users(users.clone())
    ///     .mailer(mailer.clone())
    ///     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
    ///     .extension(account.clone())
    ///     .build()?;
    /// users.migrate(&config)?;
    /// let ada = pow_core::testing::create_user(&config, "ada@example.com", "a long passphrase")?;
    /// let password = || SessionMetadata::new().with_method(AuthMethod::PASSWORD);
    /// StoreSession::new().start(&config, &ada, password()).await?;
    ///
    /// let lang: LanguageIdentifier = "en".parse()?;
    /// assert!(matches!(account.close(&config, &ada, &lang).await?, Closed::Scheduled(_)));
    /// assert!(user_sessions(&config, ada.id).await?.is_empty());
    ///
    /// let mail = mailer.last_to("ada@example.com").expect("the closing notice");
    /// let url = mail.text.split_whitespace().find(|w| w.starts_with("https://")).unwrap();
    /// let token = url.rsplit('/').next().unwrap();
    /// let closed = account.find_by_link(&config, token).await?.expect("still closed");
    /// let open = account.reactivate(&config, &closed, "link").await?;
    /// let mut session = StoreSession::new();
    /// session.start(&config, &open, password()).await?;
    /// assert_eq!(user_sessions(&config, ada.id).await?.len(), 1);
    /// // The link of a reopened account finds nothing.
    /// assert!(account.find_by_link(&config, token).await?.is_none());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The users context's error.
    pub async fn reactivate(
        &self,
        config: &PowConfig,
        user: &User,
        by: &'static str,
    ) -> Result<User, PowError> {
        let mut changes = Changes::new();
        changes.insert(CLOSED_AT_FIELD.to_owned(), Value::Null);
        changes.insert(ERASE_AFTER_FIELD.to_owned(), Value::Null);
        let open = pow_core::admin::update_user(config, user, changes).await?;
        audit::record(
            config,
            AuditEvent::new(events::REACTIVATED)
                .user(open.id)
                .detail("by", by),
        );
        Ok(open)
    }

    /// The closed account a reactivation link stands for: the signature is checked first,
    /// then the account must still be closed since the same moment (a link of an earlier
    /// closing finds nothing).
    ///
    /// # Errors
    /// The users context's error.
    pub async fn find_by_link(
        &self,
        config: &PowConfig,
        signed: &str,
    ) -> Result<Option<User>, PowError> {
        find_signed(config, REACTIVATE_SALT, signed, None, |user, at| {
            user.get_timestamp(CLOSED_AT_FIELD)
                .is_some_and(|closed| closed.timestamp_millis() == at)
        })
        .await
    }

    /// The signed token of `user`'s reactivation link: it names the user and the moment
    /// the account closed.
    pub fn reactivation_token(&self, config: &PowConfig, user: &User) -> String {
        let closed = user
            .get_timestamp(CLOSED_AT_FIELD)
            .map_or(0, |at| at.timestamp_millis());
        config
            .verifier()
            .sign_token(REACTIVATE_SALT, &format!("{}.{closed}", user.id))
    }

    fn reactivation_url(&self, config: &PowConfig, user: &User) -> String {
        let token = self.reactivation_token(config, user);
        config.mail_link(REACTIVATE_LINK, &token, || {
            let path = pow_core::config::extension_path(
                config,
                NAME,
                REACTIVATE_LINK_PATH,
                &[("token", &token)],
            );
            absolute(config, &path)
        })
    }

    /// Mails `user` (an account without a password) the link that confirms closing it.
    ///
    /// # Errors
    /// [`PowError::Config`] for an account without an address; the mailer's error.
    pub async fn request_close(
        &self,
        config: &PowConfig,
        user: &User,
        lang: &LanguageIdentifier,
    ) -> Result<(), PowError> {
        let to = user
            .email()
            .ok_or_else(|| PowError::Config("closing by mail needs an address".into()))?;
        let payload = format!("{}.{}", user.id, Utc::now().timestamp_millis());
        let token = config.verifier().sign_token(CONFIRM_SALT, &payload);
        let url = config.mail_link(CLOSE_LINK, &token, || {
            let path = pow_core::config::extension_path(
                config,
                NAME,
                CONFIRM_LINK_PATH,
                &[("token", &token)],
            );
            absolute(config, &path)
        });
        mail::confirm_close(config, lang, to, &url).await
    }

    /// The user a closing confirmation link stands for, while it is fresh
    /// ([`CONFIRM_TTL`]) and the account open.
    ///
    /// # Errors
    /// The users context's error.
    pub async fn find_by_confirmation(
        &self,
        config: &PowConfig,
        signed: &str,
    ) -> Result<Option<User>, PowError> {
        find_signed(
            config,
            CONFIRM_SALT,
            signed,
            Some(CONFIRM_TTL),
            |user, _| !user.is_closed(),
        )
        .await
    }

    /// Erases `user`'s account now ([`pow_core::admin::erase_account`] with this
    /// extension's row setting) and records it under the keyed hash the audit events
    /// carry.
    ///
    /// # Errors
    /// The first failing step's error; running it again finishes.
    pub async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        export_limiter(config).reset(&user.id.to_string()).await?;
        let subject = pow_core::admin::erase_account(config, user, self.row).await?;
        let mut event = AuditEvent::new(events::ERASED);
        event.identifier_hash = Some(subject);
        audit::record(config, event);
        // Written before the purge reports: a job reading the log next finds it.
        config.audit().flush().await
    }

    /// `user`'s data export ([`pow_core::admin::export_user`]) for the owner, at most
    /// [`EXPORT_LIMIT`] per user: each one reads every extension's data and the audit log.
    ///
    /// # Errors
    /// [`PowError::RateLimited`] past the limit; an extension's or the store's error.
    pub async fn export(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<serde_json::Value, PowError> {
        let allowed = export_limiter(config)
            .hit(EXPORT_LIMIT, &user.id.to_string())
            .await?;
        if !allowed {
            return Err(PowError::RateLimited(pow_core::limits::RateLimited {
                reason: pow_core::limits::LimitReason::TooManyAttempts,
                retry_after: EXPORT_LIMIT.per,
            }));
        }
        let export = pow_core::admin::export_user(config, user).await?;
        audit::record(config, AuditEvent::new(events::EXPORTED).user(user.id));
        Ok(export)
    }

    /// Erases every closed account whose grace period is over at `now`; see [`Purge`].
    /// Safe to run from several processes and again after a failure.
    ///
    /// # Errors
    /// The database's error when the due accounts cannot be listed; an account that fails
    /// to erase is reported in [`Purge::failed`] and the others go on.
    pub async fn purge_due(
        &self,
        config: &PowConfig,
        now: DateTime<Utc>,
    ) -> Result<Purge, PowError> {
        purge::run(self, config, now).await
    }

    /// The date an account is erased on, as the pages and mails write it.
    pub fn erase_date(user: &User) -> Option<DateTime<Utc>> {
        user.get_timestamp(ERASE_AFTER_FIELD)
    }
}

/// The reactivation link, relative to the mount path.
pub(crate) const REACTIVATE_LINK_PATH: &str = "/account/reactivate/{token}";
/// The closing confirmation link, relative to the mount path.
pub(crate) const CONFIRM_LINK_PATH: &str = "/account/close/{token}";

/// The user of a signed `"<id>.<ms>"` token under `salt`, younger than `ttl` when given,
/// for whom `valid(user, ms)` holds.
async fn find_signed(
    config: &PowConfig,
    salt: &str,
    signed: &str,
    ttl: Option<Duration>,
    valid: impl Fn(&User, i64) -> bool,
) -> Result<Option<User>, PowError> {
    let Some((id, at, _)) = signed_parts(config, salt, signed) else {
        return Ok(None);
    };
    if let Some(ttl) = ttl {
        let age = Utc::now().timestamp_millis().saturating_sub(at);
        if age < 0 || u128::try_from(age).unwrap_or(u128::MAX) > ttl.as_millis() {
            return Ok(None);
        }
    }
    let user = config.users()?.get(id).await?;
    Ok(user.filter(|user| valid(user, at)))
}

/// The user id, the time (ms) and the rest of a signed `"<id>.<ms>[.<rest>]"` token under
/// `salt`, once its signature holds.
pub(crate) fn signed_parts(
    config: &PowConfig,
    salt: &str,
    signed: &str,
) -> Option<(i64, i64, String)> {
    let payload = config.verifier().verify_token(salt, signed)?;
    let mut parts = payload.splitn(3, '.');
    let id = parts.next()?.parse().ok()?;
    let at = parts.next()?.parse().ok()?;
    Some((id, at, parts.next().unwrap_or_default().to_owned()))
}

/// `path` under the config's base URL, for a mailed link.
fn absolute(config: &PowConfig, path: &str) -> String {
    let base = config.base_url().unwrap_or_default().trim_end_matches('/');
    format!("{base}{path}")
}

/// `date` as the pages and mails write it (`2026-12-08`).
pub(crate) fn date_arg(date: DateTime<Utc>) -> MessageArg {
    MessageArg::Str(date.format("%Y-%m-%d").to_string())
}

/// The pages the extension renders, registered in its `build` (restyle them with
/// custom [`Views`](pow_core::views::Views)).
pub const PAGES: [pow_core::views::PageId; 2] = [
    pow_core::views::PageId::new("account/close"),
    pow_core::views::PageId::new("account/reactivate"),
];

impl Extension for Account {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.pages(PAGES);
        ext.user_fields([
            FieldDef::new(CLOSED_AT_FIELD, FieldKind::Timestamp),
            FieldDef::new(ERASE_AFTER_FIELD, FieldKind::Timestamp),
        ])
        .migrations(MIGRATIONS)
        .messages(FTL.iter().copied())
        .mails([MAIL_CLOSED, MAIL_CONFIRM])
        .mail_links([REACTIVATE_LINK, CLOSE_LINK])
        .audit_events([
            events::CLOSED,
            events::REACTIVATED,
            events::ERASED,
            events::EXPORTED,
        ]);
        for hook in &self.hooks {
            ext.user_data(HookRef(Arc::clone(hook)));
        }
        ext.callbacks(self.clone())
            .page_extension(flows::account_links);
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        ext.api_document(pow_core::api::openapi_fragment(
            NAME,
            include_str!("../openapi.json"),
        ));
    }
}

/// One of the app's hooks, registered as the extension's.
struct HookRef(Arc<dyn UserData>);

#[async_trait::async_trait]
impl UserData for HookRef {
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        self.0.export(config, user).await
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        self.0.erase(config, user).await
    }
}

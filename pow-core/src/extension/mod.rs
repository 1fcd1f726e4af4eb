//! The extension trait and registry.
//!
//! An extension is a value implementing [`Extension`]; enabling it is adding it to the
//! config with [`PowConfigBuilder::extension`](crate::PowConfigBuilder::extension), in order.
//! Through the trait it contributes user fields and changeset rules, migrations, routes,
//! messages, mails, controller callbacks and its JSON side, and declares what it requires
//! (fields, other extensions, its place in the list), checked when the config is built.
//! The core never names an extension.

use std::sync::Arc;

use actix_web::web::ServiceConfig;
use actix_web::HttpRequest;
use async_trait::async_trait;

use crate::api::ApiExtension;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::users::{ChangesetHook, FieldDef, User};
use crate::views::PageBody;
use crate::web::{Controller, Flow};

/// Embedded SQL migrations of one crate, one set per database backend.
///
/// Versions order migrations across crates: the core's come first, extensions use later
/// timestamps. Build it with `diesel_migrations::embed_migrations!`.
pub struct Migrations {
    /// Migrations for SQLite.
    pub sqlite: diesel_migrations::EmbeddedMigrations,
    /// Migrations for PostgreSQL.
    pub postgres: diesel_migrations::EmbeddedMigrations,
}

/// One migration's SQL text, for tools that export migrations (`pow export migrations`) so
/// an app can keep them in its own migrations folder. Build it with [`sql_migration!`](crate::sql_migration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlMigration {
    /// The version (`20260102000000`), as the embedded migration's.
    pub version: &'static str,
    /// The name after the version.
    pub name: &'static str,
    /// SQLite `up.sql`.
    pub sqlite_up: &'static str,
    /// SQLite `down.sql`.
    pub sqlite_down: &'static str,
    /// PostgreSQL `up.sql`.
    pub postgres_up: &'static str,
    /// PostgreSQL `down.sql`.
    pub postgres_down: &'static str,
}

impl SqlMigration {
    /// `up.sql` and `down.sql` for `backend` (`"sqlite"` or `"postgres"`).
    pub fn for_backend(&self, backend: &str) -> Option<(&'static str, &'static str)> {
        match backend {
            "sqlite" => Some((self.sqlite_up, self.sqlite_down)),
            "postgres" => Some((self.postgres_up, self.postgres_down)),
            _ => None,
        }
    }
}

/// A [`SqlMigration`] from the calling crate's `migrations/{sqlite,postgres}/<version>_<name>/`
/// folders (the ones `embed_migrations!` reads).
#[macro_export]
macro_rules! sql_migration {
    ($version:literal, $name:literal) => {
        $crate::extension::SqlMigration {
            version: $version,
            name: $name,
            sqlite_up: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/",
                $version,
                "_",
                $name,
                "/up.sql"
            )),
            sqlite_down: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/",
                $version,
                "_",
                $name,
                "/down.sql"
            )),
            postgres_up: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/postgres/",
                $version,
                "_",
                $name,
                "/up.sql"
            )),
            postgres_down: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/postgres/",
                $version,
                "_",
                $name,
                "/down.sql"
            )),
        }
    };
}

/// The core's migrations as SQL text (see [`SqlMigration`]).
pub const CORE_SQL_MIGRATIONS: &[SqlMigration] = &[
    sql_migration!("00000000000001", "create_users"),
    sql_migration!("00000000000002", "create_audit_events"),
    sql_migration!("00000000000003", "add_disabled_at_to_users"),
];

/// Every migration of `config` (the core's and its extensions'), in the order
/// [`migrate`](crate::users::diesel::DieselUsersContext::migrate) applies them.
pub fn all_sql_migrations(config: &PowConfig) -> Vec<SqlMigration> {
    let mut all: Vec<SqlMigration> = CORE_SQL_MIGRATIONS.to_vec();
    for ext in config.extensions().iter() {
        all.extend(ext.migration_sql());
    }
    all.sort_by_key(|m| m.version);
    all
}

/// A pow-rs extension. Object safe; every method but [`name`](Extension::name) has a
/// default that contributes nothing.
///
/// Controller callbacks see a [`Controller`] with the request, the params, and after the
/// action the user or the failed changeset; they may halt with their own response. Core
/// controllers run them for `session#new|create|delete` and
/// `registration#new|create|edit|update|delete`; extension controllers run them for their
/// own actions (e.g. `invitation#update`), so extensions can hook into each other through
/// these documented names only.
///
/// The hooks receive the request (`HttpRequest` is neither `Send` nor `Sync`), so their
/// futures are not `Send`: implement the trait with `#[async_trait::async_trait(?Send)]`.
#[async_trait(?Send)]
pub trait Extension: Send + Sync + 'static {
    /// Unique name, e.g. `"pow_reset_password"`. Two extensions with one name are refused.
    fn name(&self) -> &'static str;

    /// The SQL text of this extension's migrations (the same as [`migrations`](Self::migrations)),
    /// for export. Build each with [`sql_migration!`](crate::sql_migration).
    fn migration_sql(&self) -> Vec<SqlMigration> {
        Vec::new()
    }

    /// User columns this extension adds (its migrations create them).
    fn user_fields(&self) -> Vec<FieldDef> {
        Vec::new()
    }

    /// Rules this extension adds to user changesets.
    fn changeset_hook(&self) -> Option<Arc<dyn ChangesetHook>> {
        None
    }

    /// Migrations this extension needs, run after the core's, in extension order.
    fn migrations(&self) -> Option<&'static Migrations> {
        None
    }

    /// Fluent sources, as `(language, ftl)` pairs. Keys are prefixed with the extension's
    /// name (`pow_reset_password_invalid_token`); an app overrides them like core keys.
    fn messages(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// What this extension needs from the setup: user fields, other extensions, its place
    /// in the list. [`PowConfigBuilder::build`](crate::PowConfigBuilder::build) refuses a
    /// setup that breaks one, with a message naming the fix.
    fn requirements(&self) -> Vec<Requirement> {
        Vec::new()
    }

    /// The extension's JSON side, if it has one: enabling the extension in the config
    /// enables it for the API ([`crate::api::configure`]) too.
    fn api(&self) -> Option<Arc<dyn ApiExtension>> {
        None
    }

    /// Names of the mails this extension sends (`"reset_password/reset_password"`), each
    /// rendered through [`MailViews`](crate::mailer::MailViews), where an app can replace
    /// its template.
    fn mails(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Registers the extension's routes. Called by [`crate::web::configure`].
    fn configure(&self, _cfg: &mut ServiceConfig, _config: &PowConfig) {}

    /// Adds fields or links to a page before it renders (e.g. a "Forgot password?" link on
    /// `session/new`).
    fn extend_page(
        &self,
        _page: &str,
        _body: &mut PageBody,
        _lang: &LanguageIdentifier,
        _config: &PowConfig,
    ) {
    }

    /// Runs before a controller action.
    async fn before_process(&self, _ctl: &mut Controller) -> Result<Flow, PowError> {
        Ok(Flow::Continue)
    }

    /// Runs after a controller action, before the response.
    async fn before_respond(&self, _ctl: &mut Controller) -> Result<Flow, PowError> {
        Ok(Flow::Continue)
    }

    /// Runs on every request after the session middleware resolved the session, with or
    /// without a signed-in user (e.g. to sign a user in from a remember-me cookie), when
    /// [`handles_requests`](Self::handles_requests) says so.
    async fn on_request(&self, _req: &HttpRequest, _config: &PowConfig) -> Result<(), PowError> {
        Ok(())
    }

    /// Whether [`on_request`](Self::on_request) has anything to do. The session middleware
    /// calls it only on extensions that answer `true`, and a request without a session
    /// cookie, in a setup where none does, reaches its route with nothing allocated for it.
    /// The default is `true`, so an `on_request` is never skipped by mistake; an extension
    /// without one answers `false`.
    fn handles_requests(&self) -> bool {
        true
    }

    /// The user's credentials were revoked (password changed or reset, account deleted,
    /// "sign out everywhere"): drop any tokens the extension keeps for the user.
    async fn on_credentials_revoked(
        &self,
        _config: &PowConfig,
        _user: &User,
    ) -> Result<(), PowError> {
        Ok(())
    }

    /// What the extension keeps that can sign the user in again later (remember-me
    /// families), for the user's session list.
    async fn remembered(
        &self,
        _config: &PowConfig,
        _user_id: i64,
    ) -> Result<Vec<crate::session::RememberedInfo>, PowError> {
        Ok(Vec::new())
    }

    /// Forgets one of [`remembered`](Self::remembered) by its id, and ends the sessions it
    /// signed in; `false` when the user has no such one.
    async fn forget(
        &self,
        _config: &PowConfig,
        _user_id: i64,
        _id: &str,
    ) -> Result<bool, PowError> {
        Ok(false)
    }
}

mod registry;

pub use registry::{Extensions, Requirement};

//! Migrating a database for a setup: the core's migrations, the enabled extensions' and
//! the app's, in one run.

use super::migrate::CORE_MIGRATIONS;
use super::{run_migrations, DieselUsersContext};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::users::Migrations;

impl DieselUsersContext {
    /// Creates the users table and applies each enabled extension's migrations, in one
    /// run ordered by version. Migrations already applied are skipped, so running it on
    /// every start is safe. See [`migrate_with`](Self::migrate_with).
    ///
    /// The config comes first: the extensions it enables bring their own migrations.
    ///
    /// ```
    /// use pow_core::users::diesel::DieselUsersContext;
    /// use pow_core::users::{UsersContext, Value};
    /// use pow_core::PowConfig;
    ///
    /// let users = DieselUsersContext::connect(":memory:")?;
    /// let config = PowConfig::builder("x".repeat(64)).users(users.clone()).build()?;
    /// users.migrate(&config)?;
    /// users.migrate(&config)?; // on every start: nothing left to do the second time
    ///
    /// // The users table is there, and empty.
    /// let nobody = users.get_by(config.user_schema(), "email", &Value::from("jane@example.com"))?;
    /// assert!(nobody.is_none());
    ///
    /// // The bundled migration creates `users` keyed by `email`, nothing else.
    /// let members = PowConfig::builder("x".repeat(64)).table("members").build()?;
    /// assert!(users.migrate(&members).is_err());
    /// # Ok::<(), pow_core::PowError>(())
    /// ```
    ///
    /// # Errors
    /// As [`migrate_with`](Self::migrate_with).
    pub fn migrate(&self, config: &PowConfig) -> Result<(), PowError> {
        self.migrate_with(config, &[])
    }

    /// Like [`migrate`](Self::migrate), with the app's own migration sets merged into the
    /// same run (for example the columns of the app's user fields).
    ///
    /// The whole run is one transaction, so either every pending migration applies or
    /// none; concurrent runs wait for each other (PostgreSQL advisory lock, SQLite write
    /// lock).
    ///
    /// # Errors
    /// [`PowError::Config`] when the config's table is not `users` or its user id field is
    /// not `email` (the bundled migration creates exactly that: write your own migration
    /// for another shape), or when two migrations share a version;
    /// [`PowError::Database`] when a migration fails (nothing is applied then).
    pub fn migrate_with(
        &self,
        config: &PowConfig,
        app_migrations: &[&'static Migrations],
    ) -> Result<(), PowError> {
        if config.table() != "users" || config.user_id_field() != "email" {
            return Err(PowError::Config(format!(
                "the bundled migrations create table `users` with user id field `email`, but \
                 this config uses table `{}` and user id field `{}`; create that table with \
                 your own migration instead",
                config.table(),
                config.user_id_field()
            )));
        }
        let sets: Vec<&'static Migrations> = std::iter::once(&CORE_MIGRATIONS)
            .chain(app_migrations.iter().copied())
            .collect();
        let extension_sql: Vec<_> = config.extensions().migrations().copied().collect();
        run_migrations(
            &self.db,
            self.schema.as_deref(),
            &sets,
            &extension_sql,
            "users",
        )
    }
}

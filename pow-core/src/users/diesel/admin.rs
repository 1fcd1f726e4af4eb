//! Admin-tool reads of a [`DieselUsersContext`]: all users, applied migrations.

use diesel_migrations::MigrationHarness;

use super::{checkout, decode_user, Database, DieselUsersContext};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::users::User;

impl DieselUsersContext {
    /// Users by id, `limit` of them after skipping `offset` (for admin tools).
    ///
    /// # Errors
    /// [`PowError::Database`] when the query fails.
    pub fn list(&self, config: &PowConfig, limit: u32, offset: u32) -> Result<Vec<User>, PowError> {
        let stmt = self.table(config.user_schema())?.list(limit, offset);
        self.db
            .load(stmt)?
            .iter()
            .map(|row| decode_user(config.user_schema(), row))
            .collect()
    }

    /// The versions of the migrations applied to this database (diesel's bookkeeping).
    ///
    /// # Errors
    /// [`PowError::Database`] when the database cannot be read.
    pub fn applied_migrations(&self) -> Result<Vec<String>, PowError> {
        fn versions<C: MigrationHarness<DB>, DB: ::diesel::backend::Backend>(
            conn: &mut C,
        ) -> Result<Vec<String>, PowError> {
            conn.applied_migrations()
                .map(|list| list.iter().map(ToString::to_string).collect())
                .map_err(|err| PowError::Database(err.to_string()))
        }
        match &self.db {
            #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
            Database::Unavailable(never) => match *never {},
            #[cfg(feature = "sqlite")]
            Database::Sqlite(pool) => versions(&mut *checkout(pool)?),
            #[cfg(feature = "postgres")]
            Database::Postgres(pool) => versions(&mut *checkout(pool)?),
        }
    }
}

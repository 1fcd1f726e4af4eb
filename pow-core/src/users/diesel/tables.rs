//! [`Tables`]: an extension's own tables beside the users table.

use super::{Database, DieselUsersContext};
use crate::config::PowConfig;
use crate::error::PowError;

/// The database of the users table, for an extension that keeps tables of its own beside
/// it (`pow-ext-oauth`'s `user_identities`): the same pool and PostgreSQL schema, and
/// [`run`](Self::run) to query them off the async executor. Cheap to clone.
#[derive(Clone)]
pub struct Tables {
    database: Database,
    schema: Option<String>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Tables {
    /// The tables beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] naming `owner` when the users context is not
    /// [`DieselUsersContext`] (nor wraps one, see
    /// [`UsersContext::diesel`](crate::users::UsersContext::diesel)).
    pub fn of(config: &PowConfig, owner: &str) -> Result<Self, PowError> {
        let users = config.users_context()?;
        let diesel: &DieselUsersContext = users.diesel().ok_or_else(|| {
            PowError::Config(format!(
                "{owner} keeps tables beside the users table, which needs the diesel users \
                 context (DieselUsersContext)"
            ))
        })?;
        Ok(Self {
            database: diesel.database().clone(),
            schema: diesel.schema().map(str::to_owned),
        })
    }

    /// `name` as the queries must spell it: qualified with the users table's PostgreSQL
    /// schema when it has one (`"tenant".name`).
    pub fn table(&self, name: &str) -> String {
        match &self.schema {
            // Checked as an identifier by `DieselUsersContext::with_schema`.
            Some(schema) => format!("\"{schema}\".{name}"),
            None => name.to_owned(),
        }
    }

    /// The connection pool.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Runs `work` with the pool on the blocking thread pool, never on the async executor.
    ///
    /// # Errors
    /// What `work` returns, or [`PowError::Blocking`] if it panicked.
    pub async fn run<T, F>(&self, work: F) -> Result<T, PowError>
    where
        F: FnOnce(&Database) -> Result<T, PowError> + Send + 'static,
        T: Send + 'static,
    {
        let database = self.database.clone();
        crate::users::run_blocking(move || work(&database)).await
    }
}

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

/// Runs `$body` with `$conn` bound to a pooled connection of `$db` (a
/// [`Database`](crate::users::diesel::Database)), whichever backend it is: the body is
/// compiled once per backend, so a diesel query written once runs on SQLite and
/// PostgreSQL. Evaluates to the body's `Result<_, PowError>`; a failed checkout returns
/// [`PowError::DatabaseUnavailable`](crate::PowError) from the enclosing function.
///
/// For extensions with tables of their own ([`Tables::run`] hands the closure the
/// database); needs pow-core's `sqlite` and `postgres` features.
#[macro_export]
macro_rules! with_connection {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            $crate::users::diesel::Database::Sqlite(pool) => {
                let mut guard = $crate::users::diesel::checkout(pool)?;
                let $conn = &mut *guard;
                $body
            }
            $crate::users::diesel::Database::Postgres(pool) => {
                let mut guard = $crate::users::diesel::checkout(pool)?;
                let $conn = &mut *guard;
                $body
            }
            #[allow(unreachable_patterns)]
            _ => Err($crate::PowError::Config(
                "this table needs the SQLite or PostgreSQL users context".into(),
            )),
        }
    };
}

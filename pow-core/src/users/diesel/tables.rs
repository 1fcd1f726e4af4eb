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
/// compiled once per backend pow-core is built with (its `sqlite` and `postgres`
/// features, which the app chooses), so a diesel query written once runs on SQLite and
/// PostgreSQL, and an SQLite-only app never compiles the PostgreSQL client. Evaluates to
/// the body's `Result<_, PowError>`; a failed checkout returns
/// [`PowError::DatabaseUnavailable`](crate::PowError) from the enclosing function.
///
/// For extensions with tables of their own ([`Tables::run`] hands the closure the
/// database). A row type an extension loads on either backend bounds itself with
/// [`QueryRow`](crate::users::diesel::QueryRow).
#[macro_export]
macro_rules! with_connection {
    ($db:expr, $conn:ident => $body:expr) => {{
        let db: &$crate::users::diesel::Database = &*$db;
        'connection: {
            $crate::__with_sqlite_connection!('connection, db, $conn => $body);
            $crate::__with_postgres_connection!('connection, db, $conn => $body);
            Err($crate::PowError::Config(
                "this table needs the SQLite or PostgreSQL users context".into(),
            ))
        }
    }};
}

/// One backend's case of [`with_connection!`]: `$body` over a connection of `$variant`'s
/// pool, as the labelled block's value.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_backend_connection {
    ($variant:ident, $label:lifetime, $db:ident, $conn:ident => $body:expr) => {
        #[allow(irrefutable_let_patterns)]
        if let $crate::users::diesel::Database::$variant(pool) = $db {
            let mut guard = $crate::users::diesel::checkout(pool)?;
            let $conn = &mut *guard;
            break $label($body);
        }
    };
}

/// The SQLite case of [`with_connection!`], present when pow-core has SQLite.
#[cfg(feature = "sqlite")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_sqlite_connection {
    ($label:lifetime, $db:ident, $conn:ident => $body:expr) => {
        $crate::__with_backend_connection!(Sqlite, $label, $db, $conn => $body)
    };
}

/// Without SQLite in pow-core: nothing.
#[cfg(not(feature = "sqlite"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_sqlite_connection {
    ($label:lifetime, $db:ident, $conn:ident => $body:expr) => {};
}

/// The PostgreSQL case of [`with_connection!`], present when pow-core has PostgreSQL.
#[cfg(feature = "postgres")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_postgres_connection {
    ($label:lifetime, $db:ident, $conn:ident => $body:expr) => {
        $crate::__with_backend_connection!(Postgres, $label, $db, $conn => $body)
    };
}

/// Without PostgreSQL in pow-core: nothing.
#[cfg(not(feature = "postgres"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_postgres_connection {
    ($label:lifetime, $db:ident, $conn:ident => $body:expr) => {};
}

/// A value bound to a statement of [`sql_bound!`](crate::sql_bound): an extension's table
/// queries with a list of values decided at run time (a filter, a partial update).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlParam {
    /// Text.
    Text(String),
    /// Text or `NULL`.
    OptText(Option<String>),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit integer or `NULL`.
    OptInt(Option<i64>),
    /// A boolean.
    Bool(bool),
    /// A timestamp (UTC, as the tables keep it).
    At(chrono::NaiveDateTime),
    /// A timestamp or `NULL`.
    OptAt(Option<chrono::NaiveDateTime>),
}

/// `sql`, boxed for the backend of `conn` (what [`sql_bound!`](crate::sql_bound) binds to).
pub fn boxed_for<C: ::diesel::Connection>(
    _conn: &C,
    sql: &str,
) -> ::diesel::query_builder::BoxedSqlQuery<'static, C::Backend, ::diesel::query_builder::SqlQuery>
{
    ::diesel::sql_query(sql.to_owned()).into_boxed()
}

/// `$sql` for the backend of `$conn` (the connection [`with_connection!`](crate::with_connection)
/// binds), with `$params` (an iterator of [`SqlParam`]) bound in order: write `$1`, `$2`, ...
/// in the order they appear (SQLite numbers them so). Evaluates to a boxed diesel query to
/// `.execute(conn)` or `.load::<Row>(conn)`. The calling crate depends on `diesel`.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use diesel::RunQueryDsl as _;
/// use pow_core::users::diesel::{query_error, Database, SqlParam};
///
/// let db = Database::connect(":memory:")?;
/// db.batch_execute("CREATE TABLE notes (id BIGINT, body TEXT)")?;
/// let params = vec![SqlParam::Int(1), SqlParam::Text("hello".into())];
/// let inserted = pow_core::with_connection!(&db, conn => {
///     pow_core::sql_bound!(conn, "INSERT INTO notes (id, body) VALUES ($1, $2)", params)
///         .execute(conn)
///         .map_err(query_error)
/// })?;
/// assert_eq!(inserted, 1);
/// # }
/// # Ok::<_, pow_core::PowError>(())
/// ```
#[macro_export]
macro_rules! sql_bound {
    ($conn:expr, $sql:expr, $params:expr) => {{
        let mut query = $crate::users::diesel::boxed_for($conn, $sql);
        for param in $params {
            query = match param {
                $crate::users::diesel::SqlParam::Text(value) => {
                    query.bind::<::diesel::sql_types::Text, _>(value)
                }
                $crate::users::diesel::SqlParam::OptText(value) => {
                    query.bind::<::diesel::sql_types::Nullable<::diesel::sql_types::Text>, _>(value)
                }
                $crate::users::diesel::SqlParam::Int(value) => {
                    query.bind::<::diesel::sql_types::BigInt, _>(value)
                }
                $crate::users::diesel::SqlParam::OptInt(value) => query
                    .bind::<::diesel::sql_types::Nullable<
                    ::diesel::sql_types::BigInt,
                >, _>(value),
                $crate::users::diesel::SqlParam::Bool(value) => {
                    query.bind::<::diesel::sql_types::Bool, _>(value)
                }
                $crate::users::diesel::SqlParam::At(value) => {
                    query.bind::<::diesel::sql_types::Timestamp, _>(value)
                }
                $crate::users::diesel::SqlParam::OptAt(value) => query
                    .bind::<::diesel::sql_types::Nullable<::diesel::sql_types::Timestamp>, _>(
                        value,
                    ),
            };
        }
        query
    }};
}

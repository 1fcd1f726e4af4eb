//! The diesel users context: users in SQLite or PostgreSQL through an r2d2 pool.
//!
//! [`DieselUsersContext::connect`] picks the backend from the URL: `postgres://` and
//! `postgresql://` go to PostgreSQL, anything else (`sqlite://path`, a file path,
//! `:memory:`) to SQLite. Both backends are compiled in by the default `sqlite` and
//! `postgres` features.
//!
//! [`DieselUsersContext::migrate`] creates the users table and applies the migrations of
//! every enabled extension, in one run ordered by version. Running it again is a no-op.
//!
//! ```
//! # fn main() -> Result<(), pow_core::PowError> {
//! use pow_core::users::diesel::DieselUsersContext;
//! use pow_core::users::{Params, UsersContext, Value};
//! use pow_core::PowConfig;
//!
//! let users = DieselUsersContext::connect(":memory:")?;
//! let config = PowConfig::builder("a".repeat(64)).build()?;
//! users.migrate(&config)?;
//! assert!(users
//!     .get_by(config.user_schema(), "email", &Value::from("nobody@example.com"))?
//!     .is_none());
//! # Ok(())
//! # }
//! ```
//!
//! Every method blocks: from async code, call them through the
//! [`Users`](crate::users::Users) handle (`config.users()?`).
//!
//! The users table has dynamic columns (the app's and the extensions' [`FieldDef`]s), so
//! queries are built at runtime. Table, schema and column names must be plain identifiers
//! (`[a-z_][a-z0-9_]*`) and are quoted; values are always bound as parameters.
//!
//! [`FieldDef`]: crate::users::FieldDef

// With neither backend (the `sql` feature alone) the module is a shell that compiles: its
// code after a match on the backend is unreachable and its helpers unused.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(unused, unreachable_code)
)]

mod admin;
mod connect;
mod migrate;
mod queries;
mod setup;
mod sql;
mod tables;
pub use tables::{boxed_for, SqlParam, Tables};

/// A row type read by [`with_connection!`](crate::with_connection) on every backend
/// pow-core is built with: `QueryableByName` for each (derive it; the derive is generic).
/// An extension bounds a generic row reader with it, and builds with whichever backends
/// the app chose.
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub trait QueryRow:
    ::diesel::QueryableByName<::diesel::sqlite::Sqlite> + ::diesel::QueryableByName<::diesel::pg::Pg>
{
}
#[cfg(all(feature = "sqlite", feature = "postgres"))]
impl<R> QueryRow for R where
    R: ::diesel::QueryableByName<::diesel::sqlite::Sqlite>
        + ::diesel::QueryableByName<::diesel::pg::Pg>
{
}

/// A row type read by [`with_connection!`](crate::with_connection) on every backend
/// pow-core is built with (here SQLite).
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
pub trait QueryRow: ::diesel::QueryableByName<::diesel::sqlite::Sqlite> {}
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
impl<R> QueryRow for R where R: ::diesel::QueryableByName<::diesel::sqlite::Sqlite> {}

/// A row type read by [`with_connection!`](crate::with_connection) on every backend
/// pow-core is built with (here PostgreSQL).
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
pub trait QueryRow: ::diesel::QueryableByName<::diesel::pg::Pg> {}
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
impl<R> QueryRow for R where R: ::diesel::QueryableByName<::diesel::pg::Pg> {}

/// A row type read by [`with_connection!`](crate::with_connection): without a backend in
/// pow-core, any type (no query runs).
#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
pub trait QueryRow {}
#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
impl<R> QueryRow for R {}

#[cfg(feature = "postgres")]
use connect::connect_postgres;
#[cfg(feature = "sqlite")]
use connect::connect_sqlite;
#[cfg(feature = "sqlite")]
pub use connect::SqlitePragmas;

use std::time::Duration;

use ::diesel::connection::SimpleConnection;
use ::diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use ::diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
use ::diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use self::migrate::{CombinedMigrations, DuplicateVersion};
use self::sql::{decode_user, Dialect, JsonRow, Statement, Table};
use super::{User, Value};
use crate::error::PowError;
use crate::users::Migrations;
use crate::users::UserSchema;

#[cfg(feature = "postgres")]
use ::diesel::pg::{Pg, PgConnection};
#[cfg(feature = "sqlite")]
use ::diesel::sqlite::{Sqlite, SqliteConnection};

/// An r2d2 pool of SQLite connections.
#[cfg(feature = "sqlite")]
pub type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

/// An r2d2 pool of PostgreSQL connections.
#[cfg(feature = "postgres")]
pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// How long to wait for SQLite's write lock before giving up, in milliseconds.
#[cfg(feature = "sqlite")]
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

/// How long to wait for a pooled SQLite connection (a file: a wait is for the write lock
/// or a busy pool, never for a server).
#[cfg(feature = "sqlite")]
const POOL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request waits for a pooled PostgreSQL connection before it is answered
/// `503` with `Retry-After`: a server that is down is told within about a second, and the
/// pool's reconnection attempts (which back off up to half this) pick a restarted server
/// up within half a second.
#[cfg(feature = "postgres")]
const PG_POOL_TIMEOUT: Duration = Duration::from_secs(1);

/// Key of the PostgreSQL advisory lock that serialises concurrent migration runs.
#[cfg(feature = "postgres")]
const PG_MIGRATION_LOCK: i64 = 0x0070_6f77_5f6d_6967;

/// A connection pool to one of the supported databases. Cheap to clone (the pool is
/// shared).
#[derive(Clone)]
#[non_exhaustive]
pub enum Database {
    /// SQLite. Build pools with [`SqlitePragmas`] as the connection customizer.
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
    /// Never built: stands for the backends when pow-core has neither (its `sql` feature
    /// alone), so the code that matches on the backend compiles.
    #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
    #[doc(hidden)]
    Unavailable(std::convert::Infallible),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
            Database::Unavailable(never) => match *never {},
            #[cfg(feature = "sqlite")]
            Database::Sqlite(pool) => f
                .debug_tuple("Database::Sqlite")
                .field(&pool.state())
                .finish(),
            #[cfg(feature = "postgres")]
            Database::Postgres(pool) => f
                .debug_tuple("Database::Postgres")
                .field(&pool.state())
                .finish(),
        }
    }
}

impl Database {
    /// Whether this is a PostgreSQL pool (a query that locks rows with `FOR UPDATE` runs
    /// only there; SQLite has one writer).
    pub fn is_postgres(&self) -> bool {
        #[cfg(feature = "postgres")]
        if matches!(self, Database::Postgres(_)) {
            return true;
        }
        false
    }

    /// Opens a pool for `database_url`.
    ///
    /// `postgres://` and `postgresql://` URLs open PostgreSQL. Anything else opens SQLite:
    /// `sqlite://path`, `sqlite:path`, a plain file path, a `file:` URI, or `:memory:` (a
    /// private in-memory database held by a pool of one connection, lost when the pool is
    /// dropped). SQLite connections get `foreign_keys=ON`, `busy_timeout=5000` and, for
    /// files, `journal_mode=WAL`.
    ///
    /// # Errors
    /// [`PowError::Database`] when the database cannot be reached or opened (the message
    /// says what to check); [`PowError::Config`] when the URL needs a backend this build
    /// leaves out.
    pub fn connect(database_url: &str) -> Result<Self, PowError> {
        let url = database_url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return connect_postgres(url);
            #[cfg(not(feature = "postgres"))]
            return Err(PowError::Config(
                "a PostgreSQL URL was given but pow-core was built without its `postgres` \
                 feature; enable it in Cargo.toml"
                    .into(),
            ));
        }
        #[cfg(feature = "sqlite")]
        return connect_sqlite(url);
        #[cfg(not(feature = "sqlite"))]
        return Err(PowError::Config(format!(
            "`{url}` is not a PostgreSQL URL (postgres://...) and pow-core was built without \
             its `sqlite` feature"
        )));
    }

    /// Runs raw SQL statements (separated by `;`) on one pooled connection, with no
    /// parameters: for an app's own schema changes and seeds, never for user input.
    ///
    /// # Errors
    /// [`PowError::Database`] when a statement fails or no connection is available.
    pub fn batch_execute(&self, sql: &str) -> Result<(), PowError> {
        let done: Result<(), DieselError> = match self {
            #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
            Database::Unavailable(never) => match *never {},
            #[cfg(feature = "sqlite")]
            Database::Sqlite(pool) => checkout(pool)?.batch_execute(sql),
            #[cfg(feature = "postgres")]
            Database::Postgres(pool) => checkout(pool)?.batch_execute(sql),
        };
        done.map_err(query_error)
    }

    /// The backend's name: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
            Database::Unavailable(never) => match *never {},
            #[cfg(feature = "sqlite")]
            Database::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => "postgres",
        }
    }

    fn dialect(&self) -> Dialect {
        match self {
            #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
            Database::Unavailable(never) => match *never {},
            #[cfg(feature = "sqlite")]
            Database::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `stmt` and returns the JSON text of each row it yields.
    fn load(&self, stmt: Statement) -> Result<Vec<String>, DbError> {
        let rows: Result<Vec<JsonRow>, DieselError> = match self {
            #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
            Database::Unavailable(never) => match *never {},
            #[cfg(feature = "sqlite")]
            Database::Sqlite(pool) => stmt
                .into_query::<Sqlite>()
                .load(&mut *checkout(pool).map_err(DbError::Pool)?),
            #[cfg(feature = "postgres")]
            Database::Postgres(pool) => stmt
                .into_query::<Pg>()
                .load(&mut *checkout(pool).map_err(DbError::Pool)?),
        };
        let rows = rows.map_err(DbError::Query)?;
        Ok(rows.into_iter().map(|row| row.data).collect())
    }

    /// Runs `stmt` and returns the number of rows it touched.
    fn execute(&self, stmt: Statement) -> Result<usize, DbError> {
        let touched: Result<usize, DieselError> = match self {
            #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
            Database::Unavailable(never) => match *never {},
            #[cfg(feature = "sqlite")]
            Database::Sqlite(pool) => stmt
                .into_query::<Sqlite>()
                .execute(&mut *checkout(pool).map_err(DbError::Pool)?),
            #[cfg(feature = "postgres")]
            Database::Postgres(pool) => stmt
                .into_query::<Pg>()
                .execute(&mut *checkout(pool).map_err(DbError::Pool)?),
        };
        touched.map_err(DbError::Query)
    }
}

/// A connection from `pool`, or [`PowError::DatabaseUnavailable`] saying why there is none: for
/// extensions keeping tables of their own on the users context's pool
/// ([`UsersContext::diesel`](crate::users::UsersContext::diesel)).
///
/// # Errors
/// [`PowError::DatabaseUnavailable`] when the pool has no connection to give within its
/// checkout timeout (the server is down, or the pool too small for the load).
pub fn checkout<C>(
    pool: &Pool<ConnectionManager<C>>,
) -> Result<PooledConnection<ConnectionManager<C>>, PowError>
where
    C: ::diesel::r2d2::R2D2Connection + Send + 'static,
{
    pool.get().map_err(|err| {
        PowError::DatabaseUnavailable(format!(
            "no database connection available: {err}; the pool may be too small for the load \
             or the server unreachable"
        ))
    })
}

/// A failed query, before it is mapped to the caller's error type.
enum DbError {
    Pool(PowError),
    Query(DieselError),
}

impl From<DbError> for PowError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Pool(err) => err,
            DbError::Query(err) => query_error(err),
        }
    }
}

/// A failed query as a [`PowError`]: SQLite's write lock held past the busy timeout is
/// [`PowError::Busy`] (the client may retry), a connection that broke (the server went
/// away) [`PowError::DatabaseUnavailable`], anything else [`PowError::Database`].
pub fn query_error(err: DieselError) -> PowError {
    use ::diesel::result::DatabaseErrorKind;
    match &err {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => {
            tracing::warn!(error = %err, "the users database connection broke");
            PowError::DatabaseUnavailable(err.to_string())
        }
        // SQLite's write lock stayed taken past the busy timeout: ask the client to retry.
        DieselError::DatabaseError(_, info) if info.message().contains("database is locked") => {
            tracing::warn!(error = %err, "SQLite database stayed locked past the busy timeout");
            PowError::Busy
        }
        _ => PowError::Database(err.to_string()),
    }
}

/// The users context backed by diesel. See the [module docs](self).
///
/// Cheap to clone: clones share the pool.
#[derive(Clone, Debug)]
pub struct DieselUsersContext {
    db: Database,
    schema: Option<String>,
}

impl DieselUsersContext {
    /// Connects to `database_url` (see [`Database::connect`] for the accepted forms).
    ///
    /// `postgres://...` and `postgresql://...` open PostgreSQL; anything else opens SQLite:
    /// `sqlite://app.db` or a plain path in an app, `:memory:` in tests and examples (a
    /// private database, gone when the last clone is dropped). Connect once at start-up and
    /// give a clone to [`PowConfigBuilder::users`](crate::PowConfigBuilder::users); clones
    /// share the pool.
    ///
    /// ```
    /// use pow_core::users::diesel::DieselUsersContext;
    ///
    /// let users = DieselUsersContext::connect(":memory:")?; // "sqlite://app.db" in a real app
    /// assert_eq!(users.database().backend(), "sqlite");
    ///
    /// // A clone uses the same pool: here, the same in-memory database.
    /// let clone = users.clone();
    /// clone.database().batch_execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")?;
    /// users.database().batch_execute("INSERT INTO notes (id) VALUES (1)")?;
    /// # Ok::<(), pow_core::PowError>(())
    /// ```
    ///
    /// # Errors
    /// As [`Database::connect`].
    pub fn connect(database_url: &str) -> Result<Self, PowError> {
        Database::connect(database_url).map(Self::new)
    }

    /// Uses an existing pool.
    pub fn new(database: Database) -> Self {
        Self {
            db: database,
            schema: None,
        }
    }

    /// The connection pool.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The PostgreSQL schema the users table is read from, if one was set with
    /// [`with_schema`](Self::with_schema).
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// A context over the same pool that reads and writes the users table of PostgreSQL
    /// schema `schema` (`"schema"."users"`): one schema per tenant.
    /// [`migrate`](Self::migrate) on it creates the schema and its tables.
    ///
    /// Migrations run with the tenant schema first on the `search_path` (new tables and
    /// the migrations record go there) and `public` after it, so they can use types and
    /// functions installed in `public` (e.g. `citext`).
    ///
    /// # Errors
    /// [`PowError::Config`] when `schema` is not a plain identifier, is a system schema
    /// (`public`, `information_schema`, `pg_*`), or on SQLite, which has no schemas.
    pub fn with_schema(&self, schema: &str) -> Result<Self, PowError> {
        sql::check_identifier("schema", schema)?;
        let lower = schema.to_ascii_lowercase();
        if lower == "public" || lower == "information_schema" || lower.starts_with("pg_") {
            return Err(PowError::Config(format!(
                "schema `{schema}` is a system schema; tenant schemas need names of their own"
            )));
        }
        if self.db.dialect() != Dialect::Postgres {
            return Err(PowError::Config(format!(
                "schema prefixes need PostgreSQL; this context uses {} (use one database \
                 file per tenant instead)",
                self.db.backend()
            )));
        }
        Ok(Self {
            db: self.db.clone(),
            schema: Some(schema.to_owned()),
        })
    }

    fn table<'a>(&self, schema: &'a UserSchema) -> Result<Table<'a>, PowError> {
        Table::new(self.db.dialect(), schema, self.schema.as_deref())
    }
}

/// Applies the pending migrations of `sets` and `extension_sql` to `db` in one
/// transaction, ordered by version (on PostgreSQL under an advisory lock, so that servers
/// starting together run them once, with `schema` first on the `search_path` when given).
/// `what` names the migrations in errors and logs.
pub(crate) fn run_migrations(
    db: &Database,
    schema: Option<&str>,
    sets: &[&'static Migrations],
    extension_sql: &[crate::users::SqlMigration],
    what: &str,
) -> Result<(), PowError> {
    let _ = schema;
    let result = match db {
        #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
        Database::Unavailable(never) => match *never {},
        #[cfg(feature = "sqlite")]
        Database::Sqlite(pool) => {
            let source = combine(sets, |m| &m.sqlite, extension_sql, "sqlite");
            let mut conn = checkout(pool)?;
            conn.immediate_transaction(|conn| run_pending(conn, source))
        }
        #[cfg(feature = "postgres")]
        Database::Postgres(pool) => {
            let source = combine(sets, |m| &m.postgres, extension_sql, "postgres");
            let mut conn = checkout(pool)?;
            conn.transaction(|conn| {
                conn.batch_execute(&format!(
                    "SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK});"
                ))?;
                if let Some(schema) = schema {
                    let schema = sql::quote(schema);
                    conn.batch_execute(&format!(
                        "CREATE SCHEMA IF NOT EXISTS {schema}; \
                         SET LOCAL search_path TO {schema}, public;"
                    ))?;
                }
                run_pending(conn, source)
            })
        }
    };
    match result {
        Ok(0) => Ok(()),
        Ok(applied) => {
            tracing::info!(applied, what, "applied pow migrations");
            Ok(())
        }
        Err(MigrateError::Query(err)) => Err(PowError::Database(format!(
            "{what} migrations failed, none applied: {err}"
        ))),
        Err(MigrateError::Config(err)) => Err(PowError::Config(err)),
        Err(MigrateError::Migration(err)) => Err(PowError::Database(format!(
            "{what} migrations failed, none applied: {err}"
        ))),
    }
}

fn combine(
    sets: &[&'static Migrations],
    pick: impl Fn(&'static Migrations) -> &'static EmbeddedMigrations,
    extensions: &[crate::users::SqlMigration],
    backend: &str,
) -> CombinedMigrations {
    CombinedMigrations::new(sets.iter().map(|m| pick(m)).collect(), extensions, backend)
}

/// Why a migration run failed.
enum MigrateError {
    /// A statement failed.
    Query(DieselError),
    /// The migration sets do not fit together.
    Config(String),
    /// The harness failed (a migration's SQL, or its bookkeeping).
    Migration(String),
}

impl From<DieselError> for MigrateError {
    fn from(err: DieselError) -> Self {
        Self::Query(err)
    }
}

/// Applies the pending migrations of `source`; returns how many ran.
fn run_pending<C, DB>(conn: &mut C, source: CombinedMigrations) -> Result<usize, MigrateError>
where
    C: MigrationHarness<DB>,
    DB: ::diesel::backend::Backend,
{
    conn.run_pending_migrations(source)
        .map(|applied| applied.len())
        .map_err(|err| match err.downcast_ref::<DuplicateVersion>() {
            Some(DuplicateVersion(msg)) => MigrateError::Config(msg.clone()),
            None => MigrateError::Migration(err.to_string()),
        })
}

/// The user field a unique violation is about, from the index or constraint name
/// (`users_email_index`), PostgreSQL's detail (`Key (email)=...`) or SQLite's message
/// (`UNIQUE constraint failed: users.email`).
fn unique_field(schema: &UserSchema, info: &dyn DatabaseErrorInformation) -> Option<String> {
    let table = schema.table();
    let fields = schema.fields();
    let known = |column: &str| {
        fields
            .iter()
            .find(|f| f.name == column)
            .map(|f| f.name.clone())
    };
    let by_index = |index: &str| {
        fields
            .iter()
            .find(|f| {
                index == format!("{table}_{}_index", f.name)
                    || index == format!("{table}_{}_key", f.name)
            })
            .or_else(|| {
                // Another naming scheme: the longest unique field named inside it.
                fields
                    .iter()
                    .filter(|f| f.unique && index.contains(&format!("_{}_", f.name)))
                    .max_by_key(|f| f.name.len())
            })
            .map(|f| f.name.clone())
    };
    if let Some(field) = info.constraint_name().and_then(by_index) {
        return Some(field);
    }
    if let Some(column) = info
        .details()
        .and_then(|d| d.strip_prefix("Key ("))
        .and_then(|rest| rest.split_once(")="))
        .map(|(column, _)| column)
    {
        if let Some(field) = known(column) {
            return Some(field);
        }
    }
    let rest = info.message().strip_prefix("UNIQUE constraint failed: ")?;
    if let Some(index) = rest
        .strip_prefix("index '")
        .and_then(|r| r.strip_suffix('\''))
    {
        return by_index(index);
    }
    match rest.split(", ").collect::<Vec<_>>().as_slice() {
        [column] => known(column.rsplit('.').next().unwrap_or(column)),
        _ => None,
    }
}

//! Opening connection pools: SQLite (file or memory, with its pragmas) and PostgreSQL.

#[allow(unused_imports)]
use super::*;

/// Sets SQLite's pragmas on every connection a pool opens: `foreign_keys=ON`,
/// `busy_timeout=5000` and, for file databases, `journal_mode=WAL`.
///
/// [`Database::connect`] installs it; pass it to
/// [`Builder::connection_customizer`](diesel::r2d2::Builder::connection_customizer) when
/// building a pool yourself.
#[cfg(feature = "sqlite")]
#[derive(Clone, Copy, Debug)]
pub struct SqlitePragmas {
    /// Whether to switch the database to write-ahead logging (not for `:memory:`).
    pub wal: bool,
}

#[cfg(feature = "sqlite")]
impl SqlitePragmas {
    fn apply(&self, conn: &mut SqliteConnection) -> Result<(), DieselError> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;"
        ))?;
        if self.wal {
            conn.batch_execute("PRAGMA journal_mode = WAL;")?;
        }
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
impl ::diesel::r2d2::CustomizeConnection<SqliteConnection, ::diesel::r2d2::Error>
    for SqlitePragmas
{
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), ::diesel::r2d2::Error> {
        self.apply(conn).map_err(::diesel::r2d2::Error::QueryError)
    }
}

#[cfg(feature = "sqlite")]
pub(super) fn connect_sqlite(url: &str) -> Result<Database, PowError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let memory = path.is_empty() || path == ":memory:";
    let path = if memory { ":memory:" } else { path };
    let pragmas = SqlitePragmas { wal: !memory };
    let builder = Pool::builder()
        .connection_timeout(POOL_TIMEOUT)
        .connection_customizer(Box::new(pragmas));
    let builder = if memory {
        // Each SQLite connection to `:memory:` is its own database: keep exactly one,
        // forever.
        builder
            .max_size(1)
            .min_idle(Some(1))
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        // Open once up front: a missing directory or a locked file gets a clear error
        // instead of a pool timeout, and WAL is switched on before the pool races to.
        let mut conn = SqliteConnection::establish(path)
            .map_err(|err| sqlite_open_error(path, &err.to_string()))?;
        pragmas
            .apply(&mut conn)
            .map_err(|err| sqlite_open_error(path, &err.to_string()))?;
        builder
    };
    builder
        .build(ConnectionManager::new(path))
        .map(Database::Sqlite)
        .map_err(|err| sqlite_open_error(path, &err.to_string()))
}

#[cfg(feature = "sqlite")]
fn sqlite_open_error(path: &str, err: &str) -> PowError {
    PowError::Database(format!(
        "could not open the SQLite database at `{path}`: {err}; check that the directory \
         exists and is writable"
    ))
}

#[cfg(feature = "postgres")]
pub(super) fn connect_postgres(url: &str) -> Result<Database, PowError> {
    let shown = redact_url(url);
    let fail = |err: &dyn std::fmt::Display| {
        PowError::Database(format!(
            "could not connect to PostgreSQL at {shown}: {}; check that the server is \
             running, the database exists and the URL's user and password are right",
            err.to_string().trim()
        ))
    };
    // Connect once up front so that a wrong URL fails fast with the server's own reason.
    PgConnection::establish(url).map_err(|err| fail(&err))?;
    // Connections open as the load asks for them (up to the pool's 10), not all ten at
    // once: an app with several pools (a schema each, say) stays within the server's
    // connection limit, and one that is idle holds one.
    Pool::builder()
        .connection_timeout(PG_POOL_TIMEOUT)
        .min_idle(Some(1))
        .build(ConnectionManager::new(url))
        .map(Database::Postgres)
        .map_err(|err| fail(&err))
}

/// The URL without its password, for messages.
#[cfg(feature = "postgres")]
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Setting a password only fails for URLs that cannot have one.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "the configured URL".to_owned(),
    }
}

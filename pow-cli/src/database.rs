//! Opening the app's users database for the commands that read or change it, and
//! `pow migrate`, which creates its tables the way the app's `migrate()` does.
//!
//! Every command but `pow migrate` expects a database the app (or `pow migrate`) has
//! migrated: a SQLite path that does not exist is refused before connecting (connecting
//! would create an empty file), and a database without the users table is refused with the
//! way to make it.

use std::path::PathBuf;

use clap::ValueEnum as _;
use pow_core::extension::all_sql_migrations;
use pow_core::users::diesel::DieselUsersContext;
use pow_core::PowConfig;

use crate::{Ext, Failure, Setup};

/// The file of a SQLite database URL (`sqlite://path`, `sqlite:path`, a plain path or a
/// `file:` URI), or `None` for PostgreSQL and in-memory databases.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let Some(uri) = path.strip_prefix("file:") else {
        return Some(PathBuf::from(path));
    };
    let (file, query) = uri.split_once('?').unwrap_or((uri, ""));
    if file.is_empty() || file == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
        return None;
    }
    // `file:///path` and `file://localhost/path`: the path starts after the authority.
    match file.strip_prefix("//") {
        Some(rest) => rest
            .split_once('/')
            .map(|(_, after)| PathBuf::from(format!("/{after}"))),
        None => Some(PathBuf::from(file)),
    }
}

/// `url` with its password (if any) masked, for messages.
fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, query) = match rest.split_once('?') {
        Some((authority, query)) => (authority, format!("?{query}")),
        None => (rest, String::new()),
    };
    match authority.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{query}")
        }
        _ => url.to_owned(),
    }
}

/// The name `--extensions` takes for `ext`.
pub(crate) fn ext_name(ext: Ext) -> String {
    ext.to_possible_value()
        .map(|value| value.get_name().to_owned())
        .unwrap_or_default()
}

/// What to do about a database without pow-rs' tables.
fn migrate_hint(setup: &Setup) -> String {
    let extensions: Vec<String> = setup.extensions.list().into_iter().map(ext_name).collect();
    let extensions = if extensions.is_empty() {
        String::new()
    } else {
        format!(" --extensions {}", extensions.join(","))
    };
    format!(
        "start the app once (it runs its migrations) or run `pow migrate --database-url {}{extensions}`",
        shown_url(setup.database_url.trim())
    )
}

/// Connects to `setup`'s database, refusing a SQLite file that does not exist (connecting
/// would leave an empty one behind).
pub(crate) fn connect_existing(setup: &Setup) -> Result<DieselUsersContext, Failure> {
    if let Some(file) = sqlite_file(&setup.database_url) {
        if !file.exists() {
            return Err(Failure(format!(
                "no SQLite database at `{}`: {}",
                file.display(),
                migrate_hint(setup)
            )));
        }
    }
    open(&setup.database_url)
}

/// Connects to the database at `url`, for a command that ends soon after. PostgreSQL gets a
/// pool that keeps no idle connection in reserve: the app's pool refills its reserve on a
/// background thread after each checkout, and a process that exits while that thread is
/// inside libpq's connect crashes (SIGSEGV in the TLS library's exit handlers). Here every
/// connection opens on the command's own request, so none is half-made when it ends.
pub(crate) fn open(url: &str) -> Result<DieselUsersContext, Failure> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        use diesel::r2d2::{ConnectionManager, Pool};
        let pool = Pool::builder()
            .min_idle(Some(0))
            .max_size(4)
            .connection_timeout(std::time::Duration::from_secs(10))
            .build_unchecked(ConnectionManager::<diesel::PgConnection>::new(url));
        // Connect once now, so a wrong URL fails with the server's reason.
        pool.get().map_err(|err| {
            Failure(format!(
                "could not connect to PostgreSQL at {}: {err}",
                shown_url(url)
            ))
        })?;
        return Ok(DieselUsersContext::new(
            pow_core::users::diesel::Database::Postgres(pool),
        ));
    }
    Ok(DieselUsersContext::connect(url)?)
}

/// Fails with the way to create it when the database has no users table.
pub(crate) fn require_users_table(
    setup: &Setup,
    users: &DieselUsersContext,
    config: &PowConfig,
) -> Result<(), Failure> {
    // The table name comes from the config, never from input.
    let probe = format!("SELECT 1 FROM \"{}\" WHERE 1 = 0", config.table());
    match users.database().batch_execute(&probe) {
        Ok(()) => Ok(()),
        Err(err) => {
            let text = err.to_string();
            // SQLite: `no such table: users`; PostgreSQL: `relation "users" does not exist`.
            if text.contains("no such table") || text.contains("does not exist") {
                Err(Failure(format!(
                    "the database has no {} table yet: {}",
                    config.table(),
                    migrate_hint(setup)
                )))
            } else {
                Err(err.into())
            }
        }
    }
}

/// `pow migrate`: runs the migrations the app's `migrate()` runs with these extensions
/// (recording the same versions), and prints the ones it applied.
pub(crate) fn migrate(setup: &Setup) -> Result<(), Failure> {
    let users = open(&setup.database_url)?;
    let config = crate::config(&setup.extensions.list(), Some(users.clone()), None)?;
    let before = users.applied_migrations().unwrap_or_default();
    users.migrate(&config)?;
    let mut applied = 0;
    for migration in all_sql_migrations(&config) {
        if !before.iter().any(|version| version == migration.version) {
            crate::say!("applied {}_{}", migration.version, migration.name);
            applied += 1;
        }
    }
    if applied == 0 {
        crate::say!("nothing to apply: every migration is already recorded");
    } else {
        crate::say!("{applied} migration(s) applied");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_of_every_url_form() {
        let file = |url: &str| sqlite_file(url).map(|p| p.display().to_string());
        assert_eq!(file("app.db").as_deref(), Some("app.db"));
        assert_eq!(file("sqlite://app.db").as_deref(), Some("app.db"));
        assert_eq!(file("sqlite:///tmp/app.db").as_deref(), Some("/tmp/app.db"));
        assert_eq!(file("sqlite:app.db").as_deref(), Some("app.db"));
        assert_eq!(file("file:app.db?mode=rwc").as_deref(), Some("app.db"));
        assert_eq!(file("file:///tmp/app.db").as_deref(), Some("/tmp/app.db"));
        assert_eq!(file("file:mem?mode=memory&cache=shared"), None);
        assert_eq!(file(":memory:"), None);
        assert_eq!(file("sqlite://:memory:"), None);
        assert_eq!(file("postgres://u@h/db"), None);
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            shown_url("postgres://app:secret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(
            shown_url("postgres://app:p@ss@db/app?sslmode=require"),
            "postgres://app:***@db/app?sslmode=require"
        );
        assert_eq!(shown_url("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(shown_url("app.db"), "app.db");
    }
}

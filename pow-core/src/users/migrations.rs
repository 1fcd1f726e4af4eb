//! Migrations as declarations: the core's, an app's and each extension's, run by the
//! users context and exported by `pow export migrations`.

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
/// an app can keep them in its own migrations folder. Build it with [`sql_migration!`](crate::sql_migration); extensions register theirs with
/// [`ExtensionBuilder::migrations`](crate::extension::ExtensionBuilder::migrations).
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

//! Merging the core's and the extensions' migrations into one version-ordered run.

use ::diesel::backend::Backend;
use ::diesel::migration::{Migration, MigrationSource};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use crate::extension::Migrations;

/// The core migrations: the `users` table with `email` and its unique index.
pub(crate) static CORE_MIGRATIONS: Migrations = Migrations {
    sqlite: embed_migrations!("migrations/sqlite"),
    postgres: embed_migrations!("migrations/postgres"),
};

/// Several embedded migration sets seen as one source.
///
/// The harness orders the pending migrations of the whole set by version, so a core
/// migration always runs before an extension's later one, whichever set it came from.
pub(crate) struct CombinedMigrations {
    sources: Vec<&'static EmbeddedMigrations>,
}

impl CombinedMigrations {
    /// Merges `sources`.
    pub(crate) fn new(sources: Vec<&'static EmbeddedMigrations>) -> Self {
        Self { sources }
    }
}

impl<DB: Backend> MigrationSource<DB> for CombinedMigrations {
    fn migrations(&self) -> ::diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        let mut all: Vec<Box<dyn Migration<DB>>> = Vec::new();
        let mut seen = std::collections::BTreeMap::new();
        for source in &self.sources {
            for migration in MigrationSource::<DB>::migrations(*source)? {
                let version = migration.name().version().to_string();
                let name = migration.name().to_string();
                if let Some(other) = seen.insert(version.clone(), name.clone()) {
                    return Err(Box::new(DuplicateVersion(format!(
                        "migrations `{other}` and `{name}` share the version {version}; give \
                         each migration a unique timestamp"
                    ))));
                }
                all.push(migration);
            }
        }
        Ok(all)
    }
}

/// Two merged migrations share a version, so one of them would never run.
#[derive(Debug)]
pub(crate) struct DuplicateVersion(pub(crate) String);

impl std::fmt::Display for DuplicateVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DuplicateVersion {}

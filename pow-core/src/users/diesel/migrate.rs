//! Merging the core's and the extensions' migrations into one version-ordered run.

use ::diesel::backend::Backend;
use ::diesel::connection::BoxableConnection;
use ::diesel::migration::{
    Migration, MigrationMetadata, MigrationName, MigrationSource, MigrationVersion,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use crate::users::{Migrations, SqlMigration};

/// The core migrations: the `users` table with `email` and its unique index.
pub(crate) static CORE_MIGRATIONS: Migrations = Migrations {
    sqlite: embed_migrations!("migrations/sqlite"),
    postgres: embed_migrations!("migrations/postgres"),
};

/// Several migration sets seen as one source: embedded ones (the core's, the app's) and
/// the extensions' SQL migrations for one backend.
///
/// The harness orders the pending migrations of the whole set by version, so a core
/// migration always runs before an extension's later one, whichever set it came from.
pub(crate) struct CombinedMigrations {
    sources: Vec<&'static EmbeddedMigrations>,
    sql: Vec<SqlStep>,
}

impl CombinedMigrations {
    /// Merges `sources` and the `backend` (`"sqlite"`, `"postgres"`) side of `sql`.
    pub(crate) fn new(
        sources: Vec<&'static EmbeddedMigrations>,
        sql: &[SqlMigration],
        backend: &str,
    ) -> Self {
        let sql = sql
            .iter()
            .filter_map(|m| {
                let (up, down) = m.for_backend(backend)?;
                Some(SqlStep {
                    name: format!("{}_{}", m.version, m.name),
                    version: m.version,
                    up,
                    down,
                })
            })
            .collect();
        Self { sources, sql }
    }
}

/// One extension migration, run from its SQL text.
#[derive(Clone)]
struct SqlStep {
    name: String,
    version: &'static str,
    up: &'static str,
    down: &'static str,
}

impl std::fmt::Display for SqlStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl MigrationName for SqlStep {
    fn version(&self) -> MigrationVersion<'_> {
        MigrationVersion::from(self.version)
    }
}

impl MigrationMetadata for SqlStep {}

impl<DB: Backend> Migration<DB> for SqlStep {
    fn run(&self, conn: &mut dyn BoxableConnection<DB>) -> ::diesel::migration::Result<()> {
        conn.batch_execute(self.up)?;
        Ok(())
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<DB>) -> ::diesel::migration::Result<()> {
        conn.batch_execute(self.down)?;
        Ok(())
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        self
    }

    fn name(&self) -> &dyn MigrationName {
        self
    }
}

impl<DB: Backend> MigrationSource<DB> for CombinedMigrations {
    fn migrations(&self) -> ::diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        let mut all: Vec<Box<dyn Migration<DB>>> = Vec::new();
        let mut seen = std::collections::BTreeMap::new();
        let mut from_sources = Vec::new();
        for source in &self.sources {
            from_sources.extend(MigrationSource::<DB>::migrations(*source)?);
        }
        let steps = self
            .sql
            .iter()
            .map(|step| Box::new(step.clone()) as Box<dyn Migration<DB>>);
        for migration in from_sources.into_iter().chain(steps) {
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

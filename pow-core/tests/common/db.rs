//! Fresh, isolated databases for users-context tests.
//!
//! SQLite: a new database file under the temp directory, removed afterwards.
//! PostgreSQL: a new schema (`pow_test_<uuid>`) in the database named by
//! `POW_TEST_DATABASE_URL`, selected through the connection's `search_path` and dropped
//! afterwards, so tests running in parallel never see each other's tables.

#![allow(dead_code)]

use std::path::PathBuf;

use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{connection::SimpleConnection, Connection, RunQueryDsl};
use pow_core::users::diesel::DieselUsersContext;

/// The variable naming the PostgreSQL test database.
pub const PG_URL_VAR: &str = "POW_TEST_DATABASE_URL";

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A temporary schema in the PostgreSQL test database.
    Postgres,
}

/// Where a test gets its databases from.
#[derive(Clone, Debug)]
pub struct TestEnv {
    /// The backend.
    pub backend: Backend,
    pg_base_url: Option<String>,
}

impl TestEnv {
    /// SQLite.
    pub fn sqlite() -> Self {
        Self {
            backend: Backend::Sqlite,
            pg_base_url: None,
        }
    }

    /// PostgreSQL, when `POW_TEST_DATABASE_URL` is set. Otherwise prints a notice and
    /// returns `None`, or panics when `CI` is set: CI never skips PostgreSQL silently.
    pub fn postgres(test: &str) -> Option<Self> {
        match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => Some(Self {
                backend: Backend::Postgres,
                pg_base_url: Some(url),
            }),
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{PG_URL_VAR} is not set but CI is: set it to a PostgreSQL URL (e.g. \
                     postgres://postgres@127.0.0.1:5432/test) so that `{test}` runs"
                );
                pow_core::testing::skipped(&format!(
                    "set {PG_URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) to run \
                     its PostgreSQL half"
                ));
                None
            }
        }
    }

    /// A new, empty database of this backend.
    pub fn db(&self) -> TestDb {
        match self.backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!(
                    "pow_test_{}.sqlite3",
                    uuid::Uuid::new_v4().simple()
                ));
                let url = format!("sqlite://{}", path.display());
                let ctx = DieselUsersContext::connect(&url).unwrap();
                TestDb {
                    ctx,
                    url,
                    cleanup: Cleanup::File(path),
                }
            }
            Backend::Postgres => {
                let base = self.pg_base_url.clone().unwrap();
                let schema = unique_schema("pow_test");
                admin(&base, &format!("CREATE SCHEMA {schema}"));
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
                let cleanup = Cleanup::Schemas {
                    base,
                    schemas: vec![schema],
                };
                let ctx = DieselUsersContext::connect(&url).unwrap();
                TestDb { ctx, url, cleanup }
            }
        }
    }
}

/// A schema name no other test uses.
pub fn unique_schema(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Runs `sql` on a fresh connection to `url`.
fn admin(url: &str, sql: &str) {
    let mut conn = PgConnection::establish(url).unwrap();
    conn.batch_execute(sql).unwrap();
}

/// Whether `name` (possibly schema-qualified) names a table.
fn relation_exists(conn: &mut PgConnection, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let rows: Vec<Exists> = diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS found")
        .bind::<diesel::sql_types::Text, _>(name)
        .load(conn)
        .unwrap();
    rows[0].found
}

/// One isolated database, removed on drop (also when the test panics).
pub struct TestDb {
    /// A users context connected to it.
    pub ctx: DieselUsersContext,
    /// Its URL.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Schemas { base: String, schemas: Vec<String> },
}

impl TestDb {
    /// Drops `schema` (PostgreSQL) too when this database is dropped.
    pub fn drop_schema_later(&mut self, schema: &str) {
        if let Cleanup::Schemas { schemas, .. } = &mut self.cleanup {
            schemas.push(schema.to_owned());
        }
    }

    /// The number of rows in `table`, read on a connection of its own.
    pub fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let query = diesel::sql_query(sql);
        let rows: Vec<Count> = match &self.cleanup {
            Cleanup::File(path) => {
                let mut conn = SqliteConnection::establish(&path.display().to_string()).unwrap();
                query.load(&mut conn).unwrap()
            }
            Cleanup::Schemas { .. } => {
                let mut conn = PgConnection::establish(&self.url).unwrap();
                query.load(&mut conn).unwrap()
            }
        };
        rows[0].n
    }

    /// The schema this database lives in (PostgreSQL): the one its connections'
    /// `search_path` selects, playing the part of `public`.
    pub fn schema(&self) -> Option<&str> {
        match &self.cleanup {
            Cleanup::File(_) => None,
            Cleanup::Schemas { schemas, .. } => schemas.first().map(String::as_str),
        }
    }

    /// The versions recorded in `schema`'s own `__diesel_schema_migrations`, in order,
    /// or `None` when that schema has no such table (PostgreSQL, read on a connection of
    /// its own).
    pub fn migration_versions(&self, schema: &str) -> Option<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct Version {
            #[diesel(sql_type = diesel::sql_types::Text)]
            version: String,
        }
        let mut conn = self.pg();
        let table = format!("\"{schema}\".__diesel_schema_migrations");
        if !relation_exists(&mut conn, &table) {
            return None;
        }
        let sql = format!("SELECT CAST(version AS TEXT) AS version FROM {table} ORDER BY version");
        let rows: Vec<Version> = diesel::sql_query(sql).load(&mut conn).unwrap();
        Some(rows.into_iter().map(|row| row.version).collect())
    }

    /// The columns of `schema.table`, sorted; empty when there is no such table
    /// (PostgreSQL).
    pub fn columns(&self, schema: &str, table: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Column {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let query = diesel::sql_query(
            "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY column_name COLLATE \"C\"",
        )
        .bind::<diesel::sql_types::Text, _>(schema)
        .bind::<diesel::sql_types::Text, _>(table);
        let rows: Vec<Column> = query.load(&mut self.pg()).unwrap();
        rows.into_iter().map(|row| row.name).collect()
    }

    /// A new PostgreSQL connection with this database's `search_path`.
    fn pg(&self) -> PgConnection {
        match &self.cleanup {
            Cleanup::File(_) => panic!("not a PostgreSQL database"),
            Cleanup::Schemas { .. } => PgConnection::establish(&self.url).unwrap(),
        }
    }

    /// The column definition of an auto-incrementing 64-bit primary key.
    pub fn id_column(&self) -> &'static str {
        match self.cleanup {
            Cleanup::File(_) => "id INTEGER PRIMARY KEY AUTOINCREMENT",
            Cleanup::Schemas { .. } => "id BIGSERIAL PRIMARY KEY",
        }
    }

    /// The SQL type of a 64-bit integer column.
    pub fn bigint(&self) -> &'static str {
        match self.cleanup {
            Cleanup::File(_) => "INTEGER",
            Cleanup::Schemas { .. } => "BIGINT",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Schemas { base, schemas } => {
                if let Ok(mut conn) = PgConnection::establish(base) {
                    for schema in schemas {
                        let _ =
                            conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                    }
                }
            }
        }
    }
}

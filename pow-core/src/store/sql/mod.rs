//! A cache store in the app's SQL database (SQLite or PostgreSQL, through the users
//! context's diesel pool): see [`SqlStore`].

// With neither backend (the `sql` feature alone) the store is a shell that compiles: the
// code after a match on the backend is unreachable.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(unused, unreachable_code)
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::diesel::sql_types::{BigInt, Binary, Nullable, Text};
use ::diesel::{Connection, QueryableByName, RunQueryDsl};
use async_trait::async_trait;
use diesel_migrations::embed_migrations;

use super::segments::{decode_segments, encode_segments, pattern_prefix, prefix_end};
use super::sweeper::Sweeper;
use super::{parse_counter, Broadcast, Key, KeyPattern, Record, Store, StoreError};
use crate::error::PowError;
use crate::users::diesel::{query_error, Database};
use crate::users::Migrations;
use crate::with_connection;

#[cfg(feature = "postgres")]
mod near;
#[cfg(feature = "postgres")]
mod notify;

/// The migrations that create the store's table (`pow_store`), for
/// [`DieselUsersContext::migrate_with`](crate::users::diesel::DieselUsersContext::migrate_with)
/// when the store shares the users' database; [`SqlStore::migrate`] runs them alone.
pub static SQL_STORE_MIGRATIONS: Migrations = Migrations {
    sqlite: embed_migrations!("migrations/store/sqlite"),
    postgres: embed_migrations!("migrations/store/postgres"),
};

/// Most expired records one sweep statement removes.
const SWEEP_BATCH: i64 = 1_000;
/// Times [`Store::incr`] starts over when the record it locked was removed in between.
const INCR_ATTEMPTS: usize = 3;

/// A [`Store`] in a SQL database: PostgreSQL for several servers with no other service than
/// the database, SQLite for one server that wants its sessions to outlive a restart.
///
/// Records live in one table, `pow_store` (create it with [`migrate`](Self::migrate) or
/// [`SQL_STORE_MIGRATIONS`]). The store can share the users context's pool
/// ([`new`](Self::new) with `users.database().clone()`) or open its own
/// ([`connect`](Self::connect)). Every query runs on tokio's blocking pool, never on the
/// async executor.
///
/// - Expiry is read from the database's clock, so servers whose clocks drift agree on
///   when a record ends. An expired record is never returned; a background thread
///   deletes expired records ([`DEFAULT_SWEEP_INTERVAL`](Self::DEFAULT_SWEEP_INTERVAL)),
///   with a statement that checks the expiry again on each row it deletes, so a record
///   renewed meanwhile stays.
/// - `take` is one `DELETE … RETURNING`, `insert_if_absent` one `INSERT … ON CONFLICT DO
///   UPDATE … WHERE` (that replaces only an expired record), `incr` a locked read and
///   write in one transaction: each is one step for concurrent callers on every server.
/// - On PostgreSQL, [`Store::broadcast`] is `LISTEN`/`NOTIFY`: live revocation reaches
///   every server without Redis (one pooled connection per subscribed channel listens).
///   SQLite has none: its servers are one process.
/// - On PostgreSQL, [`with_local_cache`](Self::with_local_cache) keeps the records
///   signed-in requests read in memory, dropped by the notification the table's trigger
///   sends for each change.
///
/// ```
/// use std::sync::Arc;
/// use pow_core::store::{SqlStore, Store};
/// use pow_core::users::diesel::DieselUsersContext;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // One database for users and the store ("postgres://…" for several servers).
/// let users = DieselUsersContext::connect(":memory:")?;
/// let store = SqlStore::new(users.database().clone())?;
/// store.migrate()?;
/// let config = pow_core::PowConfig::builder("x".repeat(64))
///     .users(users)
///     .store(Arc::new(store))
///     .build()?;
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqlStore {
    db: Database,
    // Shared by the clones: the sweep stops when the last one is dropped.
    sweeper: Arc<Sweeper>,
    #[cfg(feature = "postgres")]
    broadcast: Option<Arc<notify::PgBroadcast>>,
    /// The local read cache, if enabled ([`with_local_cache`](Self::with_local_cache)).
    #[cfg(feature = "postgres")]
    near: Option<Arc<near::SqlNear>>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.db.backend())
            .field("sweep_interval", &self.sweeper.interval)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// How often expired records are deleted when no interval is given: once a minute.
    pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

    /// Opens a pool for `database_url` (the forms of
    /// [`Database::connect`](crate::users::diesel::Database::connect)) and a store on it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached or opened (the
    /// message says what to check).
    pub fn connect(database_url: &str) -> Result<Self, StoreError> {
        let database = Database::connect(database_url).map_err(|err| match err {
            PowError::Database(msg) => StoreError::Unavailable(msg),
            other => store_error(other),
        })?;
        Self::new(database)
    }

    /// A store on `database` (a pool it may share with the users context), with the
    /// background sweep at [`DEFAULT_SWEEP_INTERVAL`](Self::DEFAULT_SWEEP_INTERVAL).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the sweep thread cannot start.
    pub fn new(database: Database) -> Result<Self, StoreError> {
        Self::with_sweep_interval(database, Self::DEFAULT_SWEEP_INTERVAL)
    }

    /// Like [`new`](Self::new), with the interval between background sweeps.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_sweep_interval(database: Database, interval: Duration) -> Result<Self, StoreError> {
        let swept = database.clone();
        let sweeper = Sweeper::start("pow-sql-store-sweep", interval, move || {
            if let Err(err) = sweep(&swept) {
                tracing::warn!(error = %err, "SQL store sweep failed");
            }
        })?;
        Ok(Self {
            #[cfg(feature = "postgres")]
            broadcast: notify::PgBroadcast::of(&database).map(Arc::new),
            #[cfg(feature = "postgres")]
            near: None,
            db: database,
            sweeper: Arc::new(sweeper),
        })
    }

    /// Keeps the records that signed-in requests read (sessions and their users, through
    /// [`Store::get_many_shared`]) in this process, up to `capacity` values and for
    /// `max_age` at most, so that a request whose records did not change costs no query.
    /// The table's trigger (created by [`migrate`](Self::migrate)) sends a PostgreSQL
    /// notification for every change of a live record, whoever makes it (a server, the
    /// `pow` command, SQL by hand), which drops the value here; this process's own writes
    /// drop it at once. Until this store listens, and again whenever its listening
    /// connection is lost, nothing is served from memory.
    /// A change made on another server is seen here when its notification arrives (within
    /// milliseconds on one network), not before: leave the cache off where that matters
    /// more than one query per request.
    ///
    /// # Errors
    /// [`StoreError::Backend`] on SQLite (its processes have no notifications to keep a
    /// cache right), or when the listening thread cannot start.
    pub fn with_local_cache(
        mut self,
        capacity: usize,
        max_age: Duration,
    ) -> Result<Self, StoreError> {
        #[cfg(feature = "postgres")]
        if let Some(broadcast) = &self.broadcast {
            self.near = Some(near::SqlNear::start(broadcast, capacity, max_age)?);
            return Ok(self);
        }
        let _ = (&mut self, capacity, max_age);
        Err(StoreError::Backend(
            "the SQL store's local cache needs PostgreSQL: it is kept right by notifications"
                .into(),
        ))
    }

    /// Creates the store's table if it is not there, and on PostgreSQL the trigger that
    /// tells local caches about changes (blocking: call it at start-up). Safe to run from
    /// several servers at once and again later.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached,
    /// [`StoreError::Backend`] when a migration fails (nothing is applied then).
    pub fn migrate(&self) -> Result<(), StoreError> {
        crate::users::diesel::run_migrations(
            &self.db,
            None,
            &[&SQL_STORE_MIGRATIONS],
            &[],
            "cache store",
        )
        .map_err(store_error)
    }

    /// The connection pool.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Whether the local cache ([`with_local_cache`](Self::with_local_cache)) serves from
    /// memory now: it is on and its listener listens.
    pub fn local_cache_serving(&self) -> bool {
        #[cfg(feature = "postgres")]
        if let Some(near) = &self.near {
            return near.serving().is_some();
        }
        false
    }

    /// Deletes every expired record now and returns how many went. The background sweep
    /// does this on its own.
    ///
    /// # Errors
    /// As any query ([`StoreError::Unavailable`] when the database cannot be reached).
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        self.blocking(sweep).await
    }

    /// Number of rows in the table, expired ones not yet deleted included.
    ///
    /// # Errors
    /// As any query.
    pub async fn stored_records(&self) -> Result<u64, StoreError> {
        self.blocking(|db| {
            let sql = Sql::new(db, "SELECT COUNT(*) AS n FROM pow_store");
            let row: Count = with_connection!(db, conn => {
                ::diesel::sql_query(sql.text()).get_result(conn).map_err(query_error)
            })?;
            Ok(u64::try_from(row.n).unwrap_or(0))
        })
        .await
    }

    /// [`Store::get_many_shared`] through the local cache: what it holds is served from
    /// memory, the rest read (with the time each record has left) and kept.
    #[cfg(feature = "postgres")]
    async fn get_many_cached(
        &self,
        near: &Arc<near::SqlNear>,
        namespace: &str,
        keys: &[&[&str]],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        let encoded: Vec<Vec<u8>> = keys
            .iter()
            .map(|segments| {
                let mut out = Vec::new();
                for segment in *segments {
                    super::segments::push_part(&mut out, segment);
                }
                out
            })
            .collect();
        let cache_keys: Vec<Vec<u8>> = encoded
            .iter()
            .map(|key| near::cache_key(namespace, key))
            .collect();
        let now = std::time::Instant::now();
        let mut found: Vec<Option<Arc<[u8]>>> = match near.serving() {
            Some(cache) => cache_keys.iter().map(|key| cache.get(key, now)).collect(),
            None => vec![None; keys.len()],
        };
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| found[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(found);
        }
        // Taken before the read: a change told while it is in flight keeps it out.
        let generation = near.serving().map(|cache| cache.generation());
        let read_at = std::time::Instant::now();
        let namespace = namespace.to_owned();
        let wanted: Vec<Vec<u8>> = missing.iter().map(|&i| encoded[i].clone()).collect();
        let rows = self
            .blocking(move |db| {
                load_keys::<TtlRow>(
                    db,
                    &namespace,
                    &wanted,
                    "key, value, CAST(COALESCE(expires_at - {now}, -1) AS BIGINT) AS ttl_ms",
                )
            })
            .await?;
        for row in rows {
            let Some(&i) = missing.iter().find(|&&i| encoded[i] == row.key) else {
                continue;
            };
            let value: Arc<[u8]> = Arc::from(row.value);
            found[i] = Some(Arc::clone(&value));
            let ttl = match u64::try_from(row.ttl_ms) {
                Ok(0) => continue,
                Ok(ms) => Duration::from_millis(ms),
                Err(_) => Duration::MAX,
            };
            if let (Some(cache), Some(generation)) = (near.serving(), generation) {
                cache.fill(generation, &cache_keys[i], value, read_at, ttl);
            }
        }
        Ok(found)
    }

    /// What a write tells the local caches (nothing without one).
    fn on_change(&self) -> OnChange {
        OnChange {
            #[cfg(feature = "postgres")]
            near: self.near.clone(),
        }
    }

    /// Runs `work` with the pool on the blocking thread pool.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, PowError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|err| StoreError::Backend(format!("SQL store task failed: {err}")))?
            .map_err(store_error)
    }
}

/// Tells the local caches about the records a write changed.
struct OnChange {
    #[cfg(feature = "postgres")]
    near: Option<Arc<near::SqlNear>>,
}

impl OnChange {
    /// After a write of `keys` (encoded) in `namespace` (from a blocking thread).
    fn changed<'k>(&self, namespace: &str, keys: impl IntoIterator<Item = &'k [u8]>) {
        #[cfg(feature = "postgres")]
        if let Some(near) = &self.near {
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .map(|key| near::cache_key(namespace, key))
                .collect();
            near.changed(&keys);
            return;
        }
        let _ = (namespace, keys.into_iter());
    }
}

/// A [`PowError`] of the database as the store's error: a server that cannot be reached
/// (or an SQLite file locked past its busy timeout) is unavailable, anything else a backend
/// failure.
fn store_error(err: PowError) -> StoreError {
    match err {
        PowError::DatabaseUnavailable(msg) => StoreError::Unavailable(msg),
        PowError::Busy => StoreError::Unavailable("the SQLite database stayed locked".into()),
        PowError::Store(err) => err,
        other => StoreError::Backend(other.to_string()),
    }
}

/// SQL text written once with `?` placeholders and `{now}` (the database's clock in
/// milliseconds since the epoch), in the connection's dialect: PostgreSQL numbers its
/// placeholders (`$1`, `$2`, …).
struct Sql(String);

impl Sql {
    fn new(db: &Database, template: &str) -> Self {
        let postgres = db.is_postgres();
        let now = if postgres {
            "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)"
        } else {
            "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
        };
        let template = template.replace("{now}", now);
        if !postgres {
            return Self(template);
        }
        let mut text = String::with_capacity(template.len() + 8);
        let mut n = 0;
        for c in template.chars() {
            if c == '?' {
                n += 1;
                text.push('$');
                text.push_str(&n.to_string());
            } else {
                text.push(c);
            }
        }
        Self(text)
    }

    fn text(&self) -> &str {
        &self.0
    }
}

/// The condition of a live record.
const LIVE: &str = "(expires_at IS NULL OR expires_at > {now})";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ValueRow {
    #[diesel(sql_type = Binary)]
    value: Vec<u8>,
}

#[derive(QueryableByName)]
struct KeyValueRow {
    #[diesel(sql_type = Binary)]
    key: Vec<u8>,
    #[diesel(sql_type = Binary)]
    value: Vec<u8>,
}

/// A record read with the milliseconds it has left (`-1`: no expiry).
#[cfg(feature = "postgres")]
#[derive(QueryableByName)]
struct TtlRow {
    #[diesel(sql_type = Binary)]
    key: Vec<u8>,
    #[diesel(sql_type = Binary)]
    value: Vec<u8>,
    #[diesel(sql_type = BigInt)]
    ttl_ms: i64,
}

/// A record read with whether it is live.
#[derive(QueryableByName)]
struct StateRow {
    #[diesel(sql_type = Binary)]
    value: Vec<u8>,
    #[diesel(sql_type = BigInt)]
    live: i64,
}

fn encode(key: &Key) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.segments().iter().map(|s| s.len() + 4).sum());
    encode_segments(&mut out, key);
    out
}

/// A TTL in whole milliseconds (rounded up), `None` for no expiry.
fn ttl_ms(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|ttl| i64::try_from(crate::time::duration_ms_ceil(ttl)).unwrap_or(i64::MAX))
}

/// The live records of `keys` in `namespace`, as rows of `columns` (SQL with `{now}`).
fn load_keys<R>(
    db: &Database,
    namespace: &str,
    keys: &[Vec<u8>],
    columns: &str,
) -> Result<Vec<R>, PowError>
where
    R: crate::users::diesel::QueryRow + 'static,
{
    let marks = vec!["?"; keys.len()].join(", ");
    let sql = Sql::new(
        db,
        &format!(
            "SELECT {columns} FROM pow_store \
             WHERE namespace = ? AND key IN ({marks}) AND {LIVE}"
        ),
    );
    with_connection!(db, conn => {
        let mut query = ::diesel::sql_query(sql.text())
            .into_boxed()
            .bind::<Text, _>(namespace.to_owned());
        for key in keys {
            query = query.bind::<Binary, _>(key.clone());
        }
        query.load(conn).map_err(query_error)
    })
}

/// Deletes expired records, a batch at a time; returns how many went.
fn sweep(db: &Database) -> Result<usize, PowError> {
    // The outer condition is checked again on each row as it is deleted: a record renewed
    // after the inner query read it stays.
    let sql = Sql::new(
        db,
        "DELETE FROM pow_store WHERE (namespace, key) IN \
         (SELECT namespace, key FROM pow_store WHERE expires_at <= {now} LIMIT ?) \
         AND expires_at <= {now}",
    );
    let mut removed = 0;
    loop {
        let batch: usize = with_connection!(db, conn => {
            ::diesel::sql_query(sql.text())
                .bind::<BigInt, _>(SWEEP_BATCH)
                .execute(conn)
                .map_err(query_error)
        })?;
        removed += batch;
        if i64::try_from(batch).unwrap_or(i64::MAX) < SWEEP_BATCH {
            return Ok(removed);
        }
    }
}

/// The upsert that writes one record, replacing any value and restarting its TTL.
const UPSERT: &str = "INSERT INTO pow_store (namespace, key, value, expires_at) \
     VALUES (?, ?, ?, {now} + ?) \
     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, \
     expires_at = excluded.expires_at";

#[async_trait]
impl Store for SqlStore {
    async fn put(
        &self,
        namespace: &str,
        records: Vec<Record>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let namespace = namespace.to_owned();
        let ttl = ttl_ms(ttl);
        let on_change = self.on_change();
        self.blocking(move |db| {
            let sql = Sql::new(db, UPSERT);
            let keys: Vec<Vec<u8>> = records.iter().map(|(key, _)| encode(key)).collect();
            with_connection!(db, conn => conn.transaction(|conn| {
                for (key, (_, value)) in keys.iter().zip(&records) {
                    ::diesel::sql_query(sql.text())
                        .bind::<Text, _>(&namespace)
                        .bind::<Binary, _>(key)
                        .bind::<Binary, _>(value)
                        .bind::<Nullable<BigInt>, _>(ttl)
                        .execute(conn)?;
                }
                Ok(())
            }).map_err(query_error))?;
            on_change.changed(&namespace, keys.iter().map(Vec::as_slice));
            Ok(())
        })
        .await
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let namespace = namespace.to_owned();
        let key = encode(key);
        self.blocking(move |db| {
            let sql = Sql::new(
                db,
                &format!("SELECT value FROM pow_store WHERE namespace = ? AND key = ? AND {LIVE}"),
            );
            let rows: Vec<ValueRow> = with_connection!(db, conn => {
                ::diesel::sql_query(sql.text())
                    .bind::<Text, _>(&namespace)
                    .bind::<Binary, _>(&key)
                    .load(conn)
                    .map_err(query_error)
            })?;
            Ok(rows.into_iter().next().map(|row| row.value))
        })
        .await
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[Key],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let namespace = namespace.to_owned();
        let keys: Vec<Vec<u8>> = keys.iter().map(encode).collect();
        self.blocking(move |db| {
            let rows: Vec<KeyValueRow> = load_keys(db, &namespace, &keys, "key, value")?;
            let mut found: HashMap<Vec<u8>, Vec<u8>> =
                rows.into_iter().map(|row| (row.key, row.value)).collect();
            Ok(keys.iter().map(|key| found.remove(key)).collect())
        })
        .await
    }

    async fn get_many_shared(
        &self,
        namespace: &str,
        keys: &[&[&str]],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        #[cfg(feature = "postgres")]
        if let Some(near) = &self.near {
            if near.serving().is_some() {
                return self.get_many_cached(near, namespace, keys).await;
            }
        }
        super::shared_through_get_many(self, namespace, keys).await
    }

    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError> {
        let namespace = namespace.to_owned();
        let key = encode(key);
        let on_change = self.on_change();
        self.blocking(move |db| {
            let sql = Sql::new(db, "DELETE FROM pow_store WHERE namespace = ? AND key = ?");
            with_connection!(db, conn => {
                ::diesel::sql_query(sql.text())
                    .bind::<Text, _>(&namespace)
                    .bind::<Binary, _>(&key)
                    .execute(conn)
                    .map(drop)
                    .map_err(query_error)
            })?;
            on_change.changed(&namespace, [key.as_slice()]);
            Ok(())
        })
        .await
    }

    async fn all(
        &self,
        namespace: &str,
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        let namespace = namespace.to_owned();
        let pattern = pattern.to_vec();
        self.blocking(move |db| {
            let mut prefix = Vec::new();
            pattern_prefix(&mut prefix, &pattern);
            let end = prefix_end(&prefix);
            let upper = if end.is_some() { " AND key < ?" } else { "" };
            let sql = Sql::new(
                db,
                &format!(
                    "SELECT key, value FROM pow_store \
                     WHERE namespace = ? AND key >= ?{upper} AND {LIVE}"
                ),
            );
            let rows: Vec<KeyValueRow> = with_connection!(db, conn => {
                let mut query = ::diesel::sql_query(sql.text())
                    .into_boxed()
                    .bind::<Text, _>(namespace.clone())
                    .bind::<Binary, _>(prefix.clone());
                if let Some(end) = &end {
                    query = query.bind::<Binary, _>(end.clone());
                }
                query.load(conn).map_err(query_error)
            })?;
            let mut records = Vec::with_capacity(rows.len());
            for row in rows {
                let key = decode_segments(&row.key).map_err(|what| {
                    PowError::Store(StoreError::Backend(format!(
                        "SQL store: corrupt record ({what})"
                    )))
                })?;
                if key.matches(&pattern) {
                    records.push((key, row.value));
                }
            }
            Ok(records)
        })
        .await
    }

    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let namespace = namespace.to_owned();
        let key = encode(key);
        let on_change = self.on_change();
        self.blocking(move |db| {
            let sql = Sql::new(
                db,
                &format!(
                    "DELETE FROM pow_store WHERE namespace = ? AND key = ? \
                     RETURNING value, CAST(CASE WHEN {LIVE} THEN 1 ELSE 0 END AS BIGINT) AS live"
                ),
            );
            let rows: Vec<StateRow> = with_connection!(db, conn => {
                ::diesel::sql_query(sql.text())
                    .bind::<Text, _>(&namespace)
                    .bind::<Binary, _>(&key)
                    .load(conn)
                    .map_err(query_error)
            })?;
            if !rows.is_empty() {
                on_change.changed(&namespace, [key.as_slice()]);
            }
            Ok(rows
                .into_iter()
                .find(|row| row.live == 1)
                .map(|row| row.value))
        })
        .await
    }

    async fn insert_if_absent(
        &self,
        namespace: &str,
        (key, value): Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let namespace = namespace.to_owned();
        let key = encode(&key);
        let ttl = ttl_ms(ttl);
        let on_change = self.on_change();
        self.blocking(move |db| {
            // Inserts, or replaces a record that has expired; a live one is left alone and
            // no row is touched.
            let sql = Sql::new(
                db,
                "INSERT INTO pow_store (namespace, key, value, expires_at) \
                 VALUES (?, ?, ?, {now} + ?) \
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, \
                 expires_at = excluded.expires_at \
                 WHERE pow_store.expires_at IS NOT NULL AND pow_store.expires_at <= {now}",
            );
            let touched: usize = with_connection!(db, conn => {
                ::diesel::sql_query(sql.text())
                    .bind::<Text, _>(&namespace)
                    .bind::<Binary, _>(&key)
                    .bind::<Binary, _>(&value)
                    .bind::<Nullable<BigInt>, _>(ttl)
                    .execute(conn)
                    .map_err(query_error)
            })?;
            if touched == 1 {
                on_change.changed(&namespace, [key.as_slice()]);
            }
            Ok(touched == 1)
        })
        .await
    }

    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        let namespace = namespace.to_owned();
        let key = encode(key);
        let ttl = ttl_ms(ttl);
        let on_change = self.on_change();
        self.blocking(move |db| {
            let fresh = by.to_string().into_bytes();
            // A new counter is inserted as it is; otherwise the record is read under a
            // row lock (PostgreSQL) or the write lock the insert took (SQLite), and
            // rewritten in the same transaction.
            let insert = Sql::new(
                db,
                "INSERT INTO pow_store (namespace, key, value, expires_at) \
                 VALUES (?, ?, ?, {now} + ?) ON CONFLICT (namespace, key) DO NOTHING",
            );
            let lock = if db.is_postgres() { " FOR UPDATE" } else { "" };
            let read = Sql::new(
                db,
                &format!(
                    "SELECT value, CAST(CASE WHEN {LIVE} THEN 1 ELSE 0 END AS BIGINT) AS live \
                     FROM pow_store WHERE namespace = ? AND key = ?{lock}"
                ),
            );
            let update_value = Sql::new(
                db,
                "UPDATE pow_store SET value = ? WHERE namespace = ? AND key = ?",
            );
            let restart = Sql::new(
                db,
                "UPDATE pow_store SET value = ?, expires_at = {now} + ? \
                 WHERE namespace = ? AND key = ?",
            );
            for _ in 0..INCR_ATTEMPTS {
                let counted: Option<Result<u64, StoreError>> = with_connection!(db, conn => conn
                    .transaction(|conn| {
                        let inserted = ::diesel::sql_query(insert.text())
                            .bind::<Text, _>(&namespace)
                            .bind::<Binary, _>(&key)
                            .bind::<Binary, _>(&fresh)
                            .bind::<Nullable<BigInt>, _>(ttl)
                            .execute(conn)?;
                        if inserted == 1 {
                            return Ok(Some(Ok(by)));
                        }
                        let rows: Vec<StateRow> = ::diesel::sql_query(read.text())
                            .bind::<Text, _>(&namespace)
                            .bind::<Binary, _>(&key)
                            .load(conn)?;
                        // Taken or swept between the two statements: start over.
                        let Some(row) = rows.into_iter().next() else {
                            return Ok(None);
                        };
                        if row.live != 1 {
                            ::diesel::sql_query(restart.text())
                                .bind::<Binary, _>(&fresh)
                                .bind::<Nullable<BigInt>, _>(ttl)
                                .bind::<Text, _>(&namespace)
                                .bind::<Binary, _>(&key)
                                .execute(conn)?;
                            return Ok(Some(Ok(by)));
                        }
                        let count = match parse_counter(&row.value) {
                            Ok(count) => count.saturating_add(by),
                            Err(err) => return Ok(Some(Err(err))),
                        };
                        ::diesel::sql_query(update_value.text())
                            .bind::<Binary, _>(count.to_string().into_bytes())
                            .bind::<Text, _>(&namespace)
                            .bind::<Binary, _>(&key)
                            .execute(conn)?;
                        Ok(Some(Ok(count)))
                    })
                    .map_err(query_error))?;
                let counted = counted
                    .map(|counted| counted.map_err(PowError::Store))
                    .transpose()?;
                if let Some(count) = counted {
                    on_change.changed(&namespace, [key.as_slice()]);
                    return Ok(count);
                }
            }
            Err(PowError::Store(StoreError::Backend(
                "SQL store: the counter kept being removed while it was incremented".into(),
            )))
        })
        .await
    }

    fn broadcast(&self) -> Option<Arc<dyn Broadcast>> {
        #[cfg(feature = "postgres")]
        if let Some(broadcast) = &self.broadcast {
            return Some(Arc::clone(broadcast) as Arc<dyn Broadcast>);
        }
        None
    }
}

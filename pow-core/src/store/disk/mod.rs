//! Embedded on-disk cache-store backend (feature `disk`): see [`DiskStore`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::sweeper::Sweeper;
use super::{parse_counter, Key, KeyPattern, Record, Store, StoreError};
use crate::time::{duration_ms_ceil, now_ms_unsigned as now_ms};

mod codec;
use codec::{
    decode_segments, decode_value, encode_key, encode_value, expiry_index_key, namespace_prefix,
    pattern_prefix,
};

const ENTRIES: TableDefinition<'static, &[u8], &[u8]> = TableDefinition::new("entries");
const EXPIRIES: TableDefinition<'static, &[u8], ()> = TableDefinition::new("expiries");

/// Expiry value meaning "never expires".
const NO_EXPIRY: u64 = u64::MAX;
/// Most expired records removed by one sweep transaction.
const SWEEP_BATCH: usize = 10_000;

/// Failures inside a blocking database task.
#[derive(Debug)]
enum DiskError {
    Db(redb::Error),
    Corrupt(&'static str),
    NotCounter,
}

macro_rules! from_redb {
    ($($ty:ty),*) => {$(
        impl From<$ty> for DiskError {
            fn from(err: $ty) -> Self {
                Self::Db(err.into())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::StorageError,
    redb::TransactionError,
    redb::TableError,
    redb::CommitError,
    redb::DatabaseError
);

impl From<DiskError> for StoreError {
    fn from(err: DiskError) -> Self {
        match err {
            DiskError::Db(redb::Error::DatabaseAlreadyOpen) => StoreError::Backend(
                "disk store: the database file is already open (by another DiskStore or \
                 another process); open it once and share the store"
                    .to_owned(),
            ),
            DiskError::Db(err) => StoreError::Backend(format!("disk store: {err}")),
            DiskError::NotCounter => {
                StoreError::Backend("disk store: the value under this key is not a counter".into())
            }
            DiskError::Corrupt(what) => {
                StoreError::Backend(format!("disk store: corrupt record ({what})"))
            }
        }
    }
}

/// A [`Store`] in one embedded database file (feature `disk`), on [redb](https://docs.rs/redb).
///
/// For a single server that wants sessions and tokens to survive a restart without running
/// Redis. Every write is committed durably before it returns, so an acknowledged write
/// survives a crash or `kill -9`.
///
/// ```no_run
/// use std::sync::Arc;
/// use pow_core::store::DiskStore;
///
/// # fn run() -> Result<(), pow_core::store::StoreError> {
/// let store = DiskStore::open("/var/lib/myapp/pow-cache.redb")?;
/// // let config = pow_core::PowConfig::builder(..).store(Arc::new(store)).build()?;
/// # let _ = Arc::new(store);
/// # Ok(())
/// # }
/// ```
///
/// # Layout
///
/// One redb file holds two tables:
///
/// - `entries`: key = namespace and key segments, each written as a 4-byte big-endian length
///   followed by its UTF-8 bytes; value = expiry (8-byte big-endian milliseconds since the
///   epoch, `u64::MAX` for none) followed by the stored bytes. Because the encoding of the
///   leading segments is a byte prefix of the whole key, [`Store::all`] only reads the range
///   of keys sharing the pattern's leading exact segments.
/// - `expiries`: key = expiry followed by the `entries` key, for every record with a TTL.
///   Sweeping reads this table from the start up to "now", so reclaiming costs time in
///   proportion to what expired, not to the size of the store.
///
/// A read never returns an expired value, even before it is reclaimed. Expired records are
/// reclaimed when the store is opened and then by a background thread at a fixed interval
/// (see [`DiskStore::open_with_sweep_interval`]); the thread stops when the store is dropped.
/// All database work runs on tokio's blocking thread pool, never on the async executor.
pub struct DiskStore {
    // Declared first so that dropping the store stops the sweeper before the database closes.
    sweeper: Sweeper,
    db: Arc<Database>,
    path: PathBuf,
}

impl fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .field("sweep_interval", &self.sweeper.interval)
            .finish_non_exhaustive()
    }
}

impl DiskStore {
    /// How often expired records are reclaimed when no interval is given: once a minute.
    pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

    /// Opens (or creates) the database at `path`, reclaims the records that expired while it
    /// was closed, and starts the background sweep with [`Self::DEFAULT_SWEEP_INTERVAL`].
    ///
    /// This blocks on disk I/O: call it at startup. A file can be open in one store at a
    /// time; a second open fails with [`StoreError::Backend`]. A new file is created readable
    /// by its owner only (0600 on Unix): it holds session records.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_sweep_interval(path, Self::DEFAULT_SWEEP_INTERVAL)
    }

    /// Like [`Self::open`], with the interval between background sweeps.
    pub fn open_with_sweep_interval(
        path: impl AsRef<Path>,
        sweep_interval: Duration,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        restrict_to_owner(&path)?;
        let db = Database::create(&path).map_err(DiskError::from)?;
        let txn = db.begin_write().map_err(DiskError::from)?;
        txn.open_table(ENTRIES).map_err(DiskError::from)?;
        txn.open_table(EXPIRIES).map_err(DiskError::from)?;
        txn.commit().map_err(DiskError::from)?;
        let db = Arc::new(db);
        sweep(&db, now_ms())?;
        let swept = Arc::clone(&db);
        let sweeper = Sweeper::start("pow-disk-store-sweep", sweep_interval, move || {
            if let Err(err) = sweep(&swept, now_ms()) {
                tracing::warn!(error = %StoreError::from(err), "disk store sweep failed");
            }
        })?;
        Ok(Self { sweeper, db, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reclaims every expired record now and returns how many were removed. The background
    /// sweep does this on its own; call it to reclaim space at a moment of your choosing.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        self.blocking(|db| sweep(db, now_ms())).await
    }

    /// Number of records on disk, including expired ones not yet reclaimed.
    pub async fn stored_records(&self) -> Result<u64, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read()?;
            let entries = txn.open_table(ENTRIES)?;
            Ok(entries.len()?)
        })
        .await
    }

    /// Runs `work` on the blocking thread pool.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, DiskError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|err| StoreError::Backend(format!("disk store task failed: {err}")))?
            .map_err(StoreError::from)
    }
}

/// Expiry in ms since the epoch for a TTL starting `now` (rounded up to whole ms).
fn expiry_for(now: u64, ttl: Option<Duration>) -> u64 {
    match ttl {
        None => NO_EXPIRY,
        Some(ttl) => {
            let ms = duration_ms_ceil(ttl);
            // Saturating at u64::MAX means "never", which is what a TTL that long amounts to.
            now.saturating_add(ms)
        }
    }
}

fn is_live(expiry: u64, now: u64) -> bool {
    expiry > now
}

type Entries<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;
type Expiries<'t> = redb::Table<'t, &'static [u8], ()>;

/// Writes `value` under `entry_key` with `expiry`, keeping the expiry index in step.
fn write_entry(
    entries: &mut Entries<'_>,
    expiries: &mut Expiries<'_>,
    entry_key: &[u8],
    expiry: u64,
    value: &[u8],
) -> Result<(), DiskError> {
    let stored = encode_value(expiry, value);
    let old_expiry = match entries.insert(entry_key, stored.as_slice())? {
        Some(old) => Some(decode_value(old.value())?.0),
        None => None,
    };
    if let Some(old) = old_expiry.filter(|e| *e != NO_EXPIRY) {
        expiries.remove(expiry_index_key(old, entry_key).as_slice())?;
    }
    if expiry != NO_EXPIRY {
        expiries.insert(expiry_index_key(expiry, entry_key).as_slice(), ())?;
    }
    Ok(())
}

/// Runs `update` on the live entry under `entry_key` (its expiry and value, or `None`) in
/// one write transaction; a returned `(expiry, value)` replaces it. redb serialises write
/// transactions, so the read and the write are one step.
fn update_entry<T>(
    db: &Database,
    entry_key: &[u8],
    update: impl FnOnce(Option<(u64, &[u8])>, u64) -> Result<(Option<(u64, Vec<u8>)>, T), DiskError>,
) -> Result<T, DiskError> {
    let now = now_ms();
    let txn = db.begin_write()?;
    let result = {
        let mut entries = txn.open_table(ENTRIES)?;
        let mut expiries = txn.open_table(EXPIRIES)?;
        let current = match entries.get(entry_key)? {
            Some(stored) => {
                let (expiry, value) = decode_value(stored.value())?;
                is_live(expiry, now).then(|| (expiry, value.to_vec()))
            }
            None => None,
        };
        let (next, result) = update(
            current
                .as_ref()
                .map(|(expiry, value)| (*expiry, value.as_slice())),
            now,
        )?;
        if let Some((expiry, value)) = next {
            write_entry(&mut entries, &mut expiries, entry_key, expiry, &value)?;
        }
        result
    };
    txn.commit()?;
    Ok(result)
}

/// Removes `entry_key` from both tables inside `txn`; returns its live value, if any.
fn remove_entry(
    txn: &redb::WriteTransaction,
    entry_key: &[u8],
    now: u64,
) -> Result<Option<Vec<u8>>, DiskError> {
    let mut entries = txn.open_table(ENTRIES)?;
    let removed = match entries.remove(entry_key)? {
        Some(stored) => {
            let (expiry, value) = decode_value(stored.value())?;
            Some((expiry, is_live(expiry, now).then(|| value.to_vec())))
        }
        None => None,
    };
    let Some((expiry, value)) = removed else {
        return Ok(None);
    };
    if expiry != NO_EXPIRY {
        let mut expiries = txn.open_table(EXPIRIES)?;
        expiries.remove(expiry_index_key(expiry, entry_key).as_slice())?;
    }
    Ok(value)
}

/// Reclaims every record that expired at or before `now`; returns how many were removed.
fn sweep(db: &Database, now: u64) -> Result<usize, DiskError> {
    // Index keys below `(now + 1) ++ []` are exactly those with expiry <= now.
    let upper = now.saturating_add(1).to_be_bytes();
    let mut removed = 0;
    loop {
        let txn = db.begin_write()?;
        let batch = {
            let mut expiries = txn.open_table(EXPIRIES)?;
            let due: Vec<Vec<u8>> = expiries
                .range::<&[u8]>(..upper.as_slice())?
                .take(SWEEP_BATCH)
                .map(|item| item.map(|(k, _)| k.value().to_vec()))
                .collect::<Result<_, _>>()?;
            let mut entries = txn.open_table(ENTRIES)?;
            for index_key in &due {
                expiries.remove(index_key.as_slice())?;
                let (expiry, entry_key) = index_key
                    .split_first_chunk::<8>()
                    .ok_or(DiskError::Corrupt("truncated expiry index key"))?;
                // The index and the entry are updated together, so the entry's expiry matches;
                // checking keeps a damaged index from deleting a live record.
                let stale = match entries.get(entry_key)? {
                    Some(stored) => decode_value(stored.value())?.0 == u64::from_be_bytes(*expiry),
                    None => false,
                };
                if stale {
                    entries.remove(entry_key)?;
                    removed += 1;
                }
            }
            due.len()
        };
        txn.commit()?;
        if batch < SWEEP_BATCH {
            return Ok(removed);
        }
    }
}

#[async_trait]
impl Store for DiskStore {
    fn in_process(&self) -> bool {
        true
    }

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
        self.blocking(move |db| {
            let expiry = expiry_for(now_ms(), ttl);
            let txn = db.begin_write()?;
            {
                let mut entries = txn.open_table(ENTRIES)?;
                let mut expiries = txn.open_table(EXPIRIES)?;
                for (key, value) in &records {
                    let entry_key = encode_key(&namespace, key);
                    write_entry(&mut entries, &mut expiries, &entry_key, expiry, value)?;
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let entry_key = encode_key(namespace, key);
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let entries = txn.open_table(ENTRIES)?;
            let Some(stored) = entries.get(entry_key.as_slice())? else {
                return Ok(None);
            };
            let (expiry, value) = decode_value(stored.value())?;
            Ok(is_live(expiry, now_ms()).then(|| value.to_vec()))
        })
        .await
    }

    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError> {
        let entry_key = encode_key(namespace, key);
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            remove_entry(&txn, &entry_key, now_ms())?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn all(
        &self,
        namespace: &str,
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        let ns_len = namespace_prefix(namespace).len();
        let prefix = pattern_prefix(namespace, pattern);
        let pattern = pattern.to_vec();
        self.blocking(move |db| {
            let now = now_ms();
            let txn = db.begin_read()?;
            let entries = txn.open_table(ENTRIES)?;
            let mut records = Vec::new();
            for item in entries.range::<&[u8]>(prefix.as_slice()..)? {
                let (stored_key, stored) = item?;
                let stored_key = stored_key.value();
                if !stored_key.starts_with(&prefix) {
                    break;
                }
                let (expiry, value) = decode_value(stored.value())?;
                if !is_live(expiry, now) {
                    continue;
                }
                let key = decode_segments(&stored_key[ns_len..])?;
                if key.matches(&pattern) {
                    records.push((key, value.to_vec()));
                }
            }
            Ok(records)
        })
        .await
    }

    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let entry_key = encode_key(namespace, key);
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            let value = remove_entry(&txn, &entry_key, now_ms())?;
            txn.commit()?;
            Ok(value)
        })
        .await
    }

    async fn insert_if_absent(
        &self,
        namespace: &str,
        (key, value): Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let entry_key = encode_key(namespace, &key);
        self.blocking(move |db| {
            update_entry(db, &entry_key, |current, now| {
                Ok(match current {
                    Some(_) => (None, false),
                    None => (Some((expiry_for(now, ttl), value)), true),
                })
            })
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
        let entry_key = encode_key(namespace, key);
        self.blocking(move |db| {
            update_entry(db, &entry_key, |current, now| {
                let (expiry, count) = match current {
                    Some((expiry, value)) => {
                        let count = parse_counter(value).map_err(|_| DiskError::NotCounter)?;
                        (expiry, count.saturating_add(by))
                    }
                    None => (expiry_for(now, ttl), by),
                };
                Ok((Some((expiry, count.to_string().into_bytes())), count))
            })
        })
        .await
    }
}

/// Creates the file at `path`, if it does not exist, readable and writable by its owner only;
/// an existing file keeps its permissions.
fn restrict_to_owner(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(StoreError::Backend(format!(
            "cannot create {}: {err}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_round_up_and_saturate() {
        assert_eq!(expiry_for(1_000, None), NO_EXPIRY);
        assert_eq!(expiry_for(1_000, Some(Duration::from_micros(1))), 1_001);
        assert_eq!(expiry_for(1_000, Some(Duration::MAX)), NO_EXPIRY);
        assert!(!is_live(expiry_for(1_000, Some(Duration::ZERO)), 1_000));
    }
}

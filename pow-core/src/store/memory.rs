//! In-memory store on a concurrent cache with per-entry expiry.
//!
//! Values live in a [`moka`] cache keyed by (namespace, key). Each entry carries its own
//! TTL, which restarts whenever the key is put again; an expired entry is never returned,
//! and the cache reclaims it during its routine maintenance. A sorted index of keys next
//! to the cache lets [`Store::all`] visit only the keys that share the pattern's leading
//! exact segments, so listing one user's sessions does not scan every session.
//!
//! The store lives in one process: entries are lost on restart and not shared between
//! nodes. Use a shared backend (Redis, a database) when running several nodes.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use moka::sync::Cache as MokaCache;
use moka::{Equivalent, Expiry};

use super::{parse_counter, Key, KeyPattern, Record, Store, StoreError};

/// Default bound on the bytes the store holds (keys and values): 256 MiB.
pub const DEFAULT_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes an entry is counted for besides its key and value (bookkeeping).
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// Longest TTL the store applies; longer ones are clamped (the cache refuses durations
/// that could overflow its clock).
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A key inside one namespace (owned form, stored in the cache and the index).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct NsKey {
    namespace: String,
    key: Key,
}

/// Borrowed form of [`NsKey`] for lookups without allocating. Its derived `Hash` feeds
/// the same data in the same order as `NsKey`'s (`&str` hashes as `String`).
#[derive(Hash)]
struct NsKeyRef<'a> {
    namespace: &'a str,
    key: &'a Key,
}

impl Equivalent<SharedKey> for NsKeyRef<'_> {
    fn equivalent(&self, other: &SharedKey) -> bool {
        self.namespace == other.namespace && *self.key == other.key
    }
}

/// A key as the cache and the index hold it: one allocation, shared by both.
type SharedKey = Arc<NsKey>;

impl NsKey {
    /// The shared form of `key` in `namespace`, its strings trimmed to their length.
    fn shared(namespace: &str, mut key: Key) -> SharedKey {
        for segment in &mut key.0 {
            segment.shrink_to_fit();
        }
        key.0.shrink_to_fit();
        Arc::new(NsKey {
            namespace: namespace.to_owned(),
            key,
        })
    }
}

#[derive(Clone)]
struct Entry {
    /// Shared, so reading an entry out of the cache copies no bytes until the caller's
    /// own copy, and sized exactly (a `Vec` from a serializer carries spare capacity).
    value: Arc<[u8]>,
    ttl: Option<Duration>,
    /// When the TTL runs out. The cache hides expired entries from reads, but hands them
    /// out on removal; `take` checks this.
    expires_at: Option<Instant>,
}

/// Expires each entry after its own TTL, counted from its latest put.
struct EntryExpiry;

impl Expiry<SharedKey, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &SharedKey,
        value: &Entry,
        _at: Instant,
    ) -> Option<Duration> {
        value.ttl
    }

    fn expire_after_update(
        &self,
        _key: &SharedKey,
        value: &Entry,
        _at: Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        value.ttl
    }
}

/// In-memory [`Store`], the default backend.
///
/// Safe to share between all actix workers; clone the `Arc` from [`MemoryStore::shared`].
/// Memory is bounded by the TTLs: expired entries are reclaimed as the store is used.
/// Records put with `ttl: None` stay until deleted.
///
/// ```
/// use std::time::Duration;
/// use pow_core::store::{Key, MemoryStore, Store};
///
/// # actix_web::rt::System::new().block_on(async {
/// let store = MemoryStore::new();
/// let key = Key::from(["session", "abc"]);
/// store.put("credentials", vec![(key.clone(), b"1".to_vec())], Some(Duration::from_secs(60))).await?;
/// assert_eq!(store.take("credentials", &key).await?, Some(b"1".to_vec()));
/// assert_eq!(store.get("credentials", &key).await?, None);
/// # Ok::<_, pow_core::store::StoreError>(())
/// # }).unwrap();
/// ```
pub struct MemoryStore {
    entries: MokaCache<SharedKey, Entry>,
    /// Superset of the live keys, sorted; used by [`Store::all`].
    ///
    /// Invariant: a put inserts into the cache, then into the index; a key leaves the index
    /// only under the write lock after the cache was seen without it. So every live key is
    /// in the index once its put has returned.
    index: RwLock<BTreeSet<SharedKey>>,
    /// Keys the cache dropped on its own (expiry), waiting to leave the index.
    evicted: Arc<Mutex<Vec<SharedKey>>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A new, empty store holding at most [`DEFAULT_CAPACITY_BYTES`].
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY_BYTES)
    }

    /// A new, empty store holding at most about `max_bytes` of keys and values. Past it
    /// the least useful entries are evicted (moka's TinyLFU policy) instead of memory
    /// growing without bound: a flood of anonymous requests then costs some users their
    /// sessions, never the process.
    pub fn with_capacity(max_bytes: u64) -> Self {
        let evicted: Arc<Mutex<Vec<SharedKey>>> = Arc::default();
        let sink = Arc::clone(&evicted);
        let entries = MokaCache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &SharedKey, entry: &Entry| {
                let key_bytes: usize =
                    key.namespace.len() + key.key.0.iter().map(String::len).sum::<usize>();
                let bytes = key_bytes + entry.value.len() + ENTRY_OVERHEAD_BYTES;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .expire_after(EntryExpiry)
            .eviction_listener(move |key: Arc<SharedKey>, _value, cause| {
                // Replaced and explicitly removed keys are handled by the caller.
                if matches!(cause, RemovalCause::Expired | RemovalCause::Size) {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(SharedKey::clone(&key));
                }
            })
            .build();
        Self {
            entries,
            index: RwLock::default(),
            evicted,
        }
    }

    /// A new store behind an `Arc<dyn Store>`, as [`PowConfig`](crate::PowConfig) takes it.
    pub fn shared() -> Arc<dyn Store> {
        Arc::new(Self::new())
    }

    /// Approximate number of entries held, including expired ones not yet reclaimed.
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Approximate bytes held (keys, values and bookkeeping), as counted against the
    /// capacity. Pending evictions are applied first.
    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    fn lookup<'a>(namespace: &'a str, key: &'a Key) -> NsKeyRef<'a> {
        NsKeyRef { namespace, key }
    }

    /// Removes keys from the index that the cache no longer holds.
    fn forget(&self, keys: impl IntoIterator<Item = SharedKey>) {
        let mut keys = keys.into_iter().peekable();
        if keys.peek().is_none() {
            return;
        }
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if !self.entries.contains_key(&key) {
                index.remove(&key);
            }
        }
    }

    /// Drops index entries of keys the cache expired since the last call.
    fn sweep_evicted(&self) {
        let dead = match self.evicted.try_lock() {
            Ok(mut dead) if !dead.is_empty() => std::mem::take(&mut *dead),
            _ => return,
        };
        self.forget(dead);
    }

    fn insert(&self, namespace: &str, key: Key, value: Vec<u8>, ttl: Option<Duration>) {
        let ns_key = NsKey::shared(namespace, key);
        self.entries.insert(
            SharedKey::clone(&ns_key),
            Self::new_entry(value, ttl, Instant::now()),
        );
        self.index_key(ns_key);
    }

    fn new_entry(value: Vec<u8>, ttl: Option<Duration>, now: Instant) -> Entry {
        let ttl = ttl.map(|t| t.min(MAX_TTL));
        Entry {
            value: Arc::from(value),
            ttl,
            expires_at: ttl.and_then(|ttl| now.checked_add(ttl)),
        }
    }

    /// Adds `ns_key` to the index after its value went into the cache (see `index`).
    fn index_key(&self, ns_key: SharedKey) {
        let known = self
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&ns_key);
        if !known {
            self.index
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ns_key);
        }
    }

    /// Runs `update` on the live entry under `ns_key` (or `None`) while holding the cache's
    /// lock for that key; a returned entry replaces it. Returns what `update` reported.
    fn compute<T>(
        &self,
        ns_key: &SharedKey,
        update: impl FnOnce(Option<&Entry>, Instant) -> (Option<Entry>, T),
    ) -> Result<T, StoreError> {
        let mut report = None;
        self.entries
            .entry_by_ref(ns_key)
            .and_compute_with(|current| {
                let now = Instant::now();
                let live = current
                    .as_ref()
                    .map(|entry| entry.value())
                    .filter(|entry| entry.expires_at.is_none_or(|at| at > now));
                let (next, result) = update(live, now);
                report = Some(result);
                match next {
                    Some(entry) => Op::Put(entry),
                    None => Op::Nop,
                }
            });
        report.ok_or_else(|| StoreError::Backend("memory store: the update did not run".into()))
    }

    fn remove(&self, namespace: &str, key: &Key) -> Option<Vec<u8>> {
        let removed = self.entries.remove(&Self::lookup(namespace, key));
        self.forget([NsKey::shared(namespace, key.clone())]);
        removed
            .filter(|entry| entry.expires_at.is_none_or(|at| at > Instant::now()))
            .map(|entry| entry.value.to_vec())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn put(
        &self,
        namespace: &str,
        records: Vec<Record>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        for (key, value) in records {
            self.insert(namespace, key, value, ttl);
        }
        self.sweep_evicted();
        Ok(())
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .entries
            .get(&Self::lookup(namespace, key))
            .map(|entry| entry.value.to_vec()))
    }

    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError> {
        self.remove(namespace, key);
        Ok(())
    }

    async fn all(
        &self,
        namespace: &str,
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        self.sweep_evicted();
        let prefix: Vec<String> = pattern
            .iter()
            .map_while(|p| match p {
                KeyPattern::Exact(s) => Some(s.clone()),
                KeyPattern::Any => None,
            })
            .collect();
        let start = NsKey {
            namespace: namespace.to_owned(),
            key: Key(prefix),
        };
        let candidates: Vec<SharedKey> = {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            index
                .range::<NsKey, _>((Bound::Included(&start), Bound::Unbounded))
                .take_while(|k| k.namespace == start.namespace && k.key.0.starts_with(&start.key.0))
                .filter(|k| k.key.matches(pattern))
                .cloned()
                .collect()
        };
        let mut records = Vec::with_capacity(candidates.len());
        let mut stale = Vec::new();
        for candidate in candidates {
            match self.entries.get(&candidate) {
                Some(entry) => records.push((candidate.key.clone(), entry.value.to_vec())),
                None => stale.push(candidate),
            }
        }
        self.forget(stale);
        Ok(records)
    }

    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.remove(namespace, key))
    }

    async fn insert_if_absent(
        &self,
        namespace: &str,
        (key, value): Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let ns_key = NsKey::shared(namespace, key);
        let inserted = self.compute(&ns_key, |current, now| match current {
            Some(_) => (None, false),
            None => (Some(Self::new_entry(value, ttl, now)), true),
        })?;
        if inserted {
            self.index_key(ns_key);
        }
        self.sweep_evicted();
        Ok(inserted)
    }

    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        let ns_key = NsKey::shared(namespace, key.clone());
        let count = self.compute(&ns_key, |current, now| {
            let Some(current) = current else {
                return (
                    Some(Self::new_entry(by.to_string().into_bytes(), ttl, now)),
                    Ok(by),
                );
            };
            let count = match parse_counter(&current.value) {
                Ok(count) => count.saturating_add(by),
                Err(err) => return (None, Err(err)),
            };
            // Keep the window: the cache restarts an updated entry's TTL, so hand it what
            // is left of the current one.
            let entry = Entry {
                value: Arc::from(count.to_string().into_bytes()),
                ttl: current
                    .expires_at
                    .map(|at| at.saturating_duration_since(now)),
                expires_at: current.expires_at,
            };
            (Some(entry), Ok(count))
        })??;
        self.index_key(ns_key);
        self.sweep_evicted();
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    #[actix_rt::test]
    async fn index_forgets_deleted_and_expired_keys() {
        let store = MemoryStore::new();
        let ttl = Some(Duration::from_millis(30));
        store
            .put("ns", vec![(Key::from(["a", "1"]), b"x".to_vec())], ttl)
            .await
            .unwrap();
        store
            .put("ns", vec![(Key::from(["a", "2"]), b"y".to_vec())], None)
            .await
            .unwrap();
        store.delete("ns", &Key::from(["a", "2"])).await.unwrap();
        assert_eq!(store.index.read().unwrap().len(), 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while store
            .get("ns", &Key::from(["a", "1"]))
            .await
            .unwrap()
            .is_some()
        {
            assert!(Instant::now() < deadline, "entry never expired");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let all = store
            .all("ns", &[KeyPattern::exact("a"), KeyPattern::Any])
            .await
            .unwrap();
        assert!(all.is_empty());
        assert!(store.index.read().unwrap().is_empty());
    }

    #[actix_rt::test]
    async fn capacity_bounds_memory_and_evicted_keys_leave_the_index() {
        let store = MemoryStore::with_capacity(64 * 1024);
        for i in 0..1_000 {
            let key = Key::from(["anonymous", &i.to_string()]);
            store
                .put(
                    "ns",
                    vec![(key, vec![7; 1024])],
                    Some(Duration::from_secs(3600)),
                )
                .await
                .unwrap();
        }
        assert!(
            store.weighted_size() <= 64 * 1024,
            "{}",
            store.weighted_size()
        );
        let listed = store
            .all("ns", &[KeyPattern::exact("anonymous"), KeyPattern::Any])
            .await
            .unwrap();
        assert!(listed.len() < 70, "{} listed", listed.len());
        // Listing dropped the evicted keys from the index.
        assert_eq!(store.index.read().unwrap().len(), listed.len());
        // What remains still reads back whole.
        for (_, value) in listed {
            assert_eq!(value, vec![7; 1024]);
        }
    }

    #[test]
    fn borrowed_key_hashes_like_owned_key() {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let owned = NsKey::shared("ns", Key::from(["a", "b"]));
        let borrowed = MemoryStore::lookup("ns", &owned.key);
        // The cache hashes its `Arc<NsKey>` keys as the `NsKey` inside.
        assert_eq!(state.hash_one(&owned), state.hash_one(&borrowed));
        assert!(borrowed.equivalent(&owned));
        assert!(!MemoryStore::lookup("other", &owned.key).equivalent(&owned));
    }
}

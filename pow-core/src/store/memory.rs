//! In-memory store: sorted maps of flat keys, with per-entry expiry and a memory bound.
//!
//! Entries live in a few shards, each a sorted map from a key flattened into one byte
//! string (the namespace's number in the shard, then each segment, length-prefixed),
//! followed by its expiry, to the shared value. The shard is chosen by the namespace and
//! the key's first two segments: one user's `["user", id, ...]` keys share a shard, and
//! keys sharing leading segments are one range of it, so [`Store::all`] visits only the
//! keys that share the pattern's leading exact segments. An entry costs its key and value
//! plus about 100 bytes (its slot in the map, the value's reference counts, the
//! allocator's headers).
//!
//! A put restarts the entry's TTL; an expired entry is never returned. There is no
//! background thread: expired entries are reclaimed when met, and each write sweeps a few
//! entries on from where the previous one stopped. Past its capacity the store evicts
//! expired entries first, then ordinary records closest to expiry, and only when no
//! ordinary record is left in sight the security records: counters
//! ([`Store::incr`]: rate limits, failure budgets) and claims ([`Store::insert_if_absent`]:
//! locks, used codes and steps). A flood of ordinary writes cannot make the store forget
//! that a client was refused.
//!
//! The store lives in one process: entries are lost on restart and not shared between
//! nodes. Use a shared backend (Redis, a database) when running several nodes.

use std::borrow::Borrow;
// Picks a shard only (the maps are ordered, not hashed): a fast seeded hash is enough.
use foldhash::fast::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{parse_counter, Key, KeyPattern, Record, Store, StoreError};

/// Default bound on the bytes the store holds (keys and values): 256 MiB.
pub const DEFAULT_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes an entry is counted for besides its key and value: its slot in the map, the
/// value's reference counts, the expiry and the allocator's headers.
const ENTRY_OVERHEAD_BYTES: u64 = 96;

/// Number of shards (a power of two).
const SHARDS: usize = 16;
/// Entries of one shard examined per sweep step, and per shard in an eviction round.
const SCAN_STEP: usize = 16;
/// Steps a write's sweep takes at most: it goes on while a quarter of the entries it
/// examined had expired.
const SWEEP_MAX_STEPS: usize = 4;
/// Expiry of an entry without TTL.
const NEVER: u64 = u64::MAX;
/// Room left before an encoded key for its namespace's number (a LEB128 `u32`).
const ID_ROOM: usize = 5;

/// The entries of one shard: encoded key (see [`encode_segments`]) to value.
type Map = BTreeMap<EntryKey, Arc<[u8]>>;

/// How an entry ranks for eviction past the capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Class {
    /// A record written with [`Store::put`]: evicted first, closest to expiry first.
    Record = 0,
    /// A counter ([`Store::incr`]) or a claim ([`Store::insert_if_absent`]): rate limits,
    /// failure budgets, locks and used codes. Evicted only when no record is in sight.
    Security = 1,
}

/// Bytes an [`EntryKey`] keeps after the encoded key: the expiry and the class.
const ENTRY_TAIL: usize = 9;

/// A key as a shard holds it: the encoded key, then its expiry (8 bytes, big-endian) and
/// its [`Class`] (1 byte), in one allocation. Compared, and looked up, by the encoded key
/// alone.
struct EntryKey(Box<[u8]>);

impl EntryKey {
    fn new(key: &[u8], expires: u64, class: Class) -> Self {
        let mut bytes = Vec::with_capacity(key.len() + ENTRY_TAIL);
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(&expires.to_be_bytes());
        bytes.push(class as u8);
        Self(bytes.into_boxed_slice())
    }

    fn parts(&self) -> (&[u8], u64) {
        let (key, tail) = self.0.split_at(self.0.len().saturating_sub(ENTRY_TAIL));
        (
            key,
            tail.get(..8)
                .and_then(|expires| <[u8; 8]>::try_from(expires).ok())
                .map_or(0, u64::from_be_bytes),
        )
    }

    fn class(&self) -> Class {
        match self.0.last() {
            Some(1) => Class::Security,
            _ => Class::Record,
        }
    }

    fn key(&self) -> &[u8] {
        // Every comparison of a lookup reads it: a slice, nothing decoded.
        &self.0[..self.0.len().saturating_sub(ENTRY_TAIL)]
    }

    /// Nanoseconds after the store's epoch at which the entry expires ([`NEVER`]: none).
    fn expires(&self) -> u64 {
        self.parts().1
    }

    fn live(&self, now: u64) -> bool {
        self.expires() > now
    }
}

impl Borrow<[u8]> for EntryKey {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

impl PartialEq for EntryKey {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for EntryKey {}

impl PartialOrd for EntryKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EntryKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key())
    }
}

/// The namespaces of one shard's keys, numbered: a key starts with its namespace's number
/// rather than its name. A number is freed with the namespace's last key in the shard.
#[derive(Default)]
struct Namespaces {
    ids: HashMap<Box<str>, u32, RandomState>,
    /// By number: the name and its number of keys; `None` when free.
    names: Vec<Option<(Box<str>, u64)>>,
    free: Vec<u32>,
}

impl Namespaces {
    fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The number of `name`, given one if it has none (it must then gain a key).
    fn id_or_insert(&mut self, name: &str) -> u32 {
        if let Some(id) = self.id(name) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.names.push(None);
                u32::try_from(self.names.len() - 1).unwrap_or(u32::MAX)
            }
        };
        if let Some(slot) = self.names.get_mut(id as usize) {
            *slot = Some((name.into(), 0));
        }
        self.ids.insert(name.into(), id);
        id
    }

    fn add_key(&mut self, id: u32) {
        if let Some(Some((_, keys))) = self.names.get_mut(id as usize) {
            *keys += 1;
        }
    }

    fn remove_key(&mut self, id: u32) {
        let Some(slot) = self.names.get_mut(id as usize) else {
            return;
        };
        if let Some((name, keys)) = slot {
            *keys = keys.saturating_sub(1);
            if *keys == 0 {
                self.ids.remove(&**name);
                *slot = None;
                self.free.push(id);
            }
        }
    }
}

#[derive(Default)]
struct ShardData {
    map: Map,
    namespaces: Namespaces,
    /// The last key a sweep or an eviction round examined; the next one goes on after it
    /// (empty: from the first key).
    cursor: Vec<u8>,
}

/// One shard, on a cache line of its own.
#[derive(Default)]
#[repr(align(64))]
struct Shard(RwLock<ShardData>);

/// An entry to evict: its shard, key and expiry.
type Victim = (usize, Box<[u8]>, u64);

/// What a [`MemoryStore::scan`] saw.
struct Scan {
    examined: usize,
    expired: usize,
    /// For each [`Class`] (by its number), the live entry closest to expiry, if one
    /// expires before the bound given.
    candidates: [Option<(Box<[u8]>, u64)>; 2],
}

/// In-memory [`Store`], the default backend.
///
/// Safe to share between all actix workers; clone the `Arc` from [`MemoryStore::shared`].
/// Memory is bounded by the TTLs and the capacity: expired entries are reclaimed as the
/// store is used, and past the capacity entries are evicted. Records put with `ttl: None`
/// stay until deleted or evicted.
///
/// ```
/// use std::time::Duration;
/// use pow_core::store::{Key, MemoryStore, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = Key::from(["session", "abc"]);
/// store.put("credentials", vec![(key.clone(), b"1".to_vec())], Some(Duration::from_secs(60))).await?;
/// assert_eq!(store.take("credentials", &key).await?, Some(b"1".to_vec()));
/// assert_eq!(store.get("credentials", &key).await?, None);
/// # Ok::<_, pow_core::store::StoreError>(())
/// # }).unwrap();
/// ```
pub struct MemoryStore {
    shards: [Shard; SHARDS],
    /// Picks a key's shard; seeded per store, so keys cannot be chosen to crowd one shard.
    hasher: RandomState,
    /// Origin of the expiry times.
    epoch: Instant,
    /// Moves the store's time ahead of `epoch` (an adjustable clock's offset).
    clock: crate::time::Clock,
    max_bytes: u64,
    /// Bytes held, as counted against `max_bytes`; changed under the shard's write lock.
    bytes: AtomicU64,
    /// The shard the next write sweeps.
    next_sweep: AtomicUsize,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entry_count())
            .field("weighted_size", &self.weighted_size())
            .field("max_bytes", &self.max_bytes)
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

    /// A new, empty store holding at most about `max_bytes` of keys, values and a fixed
    /// overhead per entry. A write that goes past it evicts entries: the expired ones
    /// first, then the live ones closest to expiry (for one TTL, the least recently
    /// written) among a sample of each shard. A flood of anonymous requests then costs
    /// some users their sessions, never the process.
    pub fn with_capacity(max_bytes: u64) -> Self {
        Self {
            shards: std::array::from_fn(|_| Shard::default()),
            hasher: RandomState::default(),
            epoch: Instant::now(),
            clock: crate::time::Clock::system(),
            max_bytes,
            bytes: AtomicU64::new(0),
            next_sweep: AtomicUsize::new(0),
        }
    }

    /// The store with its entries' lifetimes read on `clock`: given a
    /// [`Clock::adjustable`](crate::time::Clock::adjustable), moving it forward ends the
    /// entries whose TTL it passes, as time would.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use pow_core::store::{Key, MemoryStore, Store};
    /// use pow_core::time::Clock;
    ///
    /// let clock = Clock::adjustable();
    /// let store = MemoryStore::new().with_clock(&clock);
    /// let key = Key::from(["code"]);
    /// store.put("codes", vec![(key.clone(), b"1".to_vec())], Some(Duration::from_secs(60))).await?;
    /// clock.advance(Duration::from_secs(59));
    /// assert!(store.get("codes", &key).await?.is_some());
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(store.get("codes", &key).await?, None);
    /// # Ok::<_, pow_core::store::StoreError>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: &crate::time::Clock) -> Self {
        self.clock = clock.clone();
        self
    }

    /// A new store behind an `Arc<dyn Store>`, as [`PowConfig`](crate::PowConfig) takes it.
    pub fn shared() -> Arc<dyn Store> {
        Arc::new(Self::new())
    }

    /// Number of entries held, including expired ones not yet reclaimed.
    pub fn entry_count(&self) -> u64 {
        (0..SHARDS)
            .map(|shard| self.read(shard).map.len() as u64)
            .sum()
    }

    /// The namespaces holding entries (expired ones not yet reclaimed included), sorted:
    /// with [`Store::all`], what a test reads to check that nothing of a user is left.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..SHARDS)
            .flat_map(|shard| {
                self.read(shard)
                    .namespaces
                    .names
                    .iter()
                    .flatten()
                    .map(|(name, _)| name.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Bytes held (keys, values and a fixed overhead per entry), as counted against the
    /// capacity, including expired entries not yet reclaimed.
    pub fn weighted_size(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The live value under `key`, shared with the store instead of copied.
    pub(crate) fn get_shared(&self, namespace: &str, key: &Key) -> Option<Arc<[u8]>> {
        self.get_shared_at(namespace, &key.0)
    }

    /// [`get_shared`](Self::get_shared) for a key given as its segments.
    fn get_shared_at<S: AsRef<str>>(&self, namespace: &str, segments: &[S]) -> Option<Arc<[u8]>> {
        let shard = self.shard_of(namespace, segments);
        let mut encoded = encode_segments(segments);
        let now = self.now();
        {
            let data = self.read(shard);
            let id = data.namespaces.id(namespace)?;
            match data.map.get_key_value(with_id(&mut encoded, id)) {
                None => return None,
                Some((entry, value)) if entry.live(now) => return Some(Arc::clone(value)),
                Some(_) => {}
            }
        }
        // Expired: reclaim it now, unless it was written again meanwhile.
        let mut data = self.write(shard);
        if let Some(id) = data.namespaces.id(namespace) {
            let encoded = with_id(&mut encoded, id);
            if data
                .map
                .get_key_value(encoded)
                .is_some_and(|(entry, _)| !entry.live(now))
            {
                self.remove_entry(&mut data, encoded);
            }
        }
        None
    }

    /// The live values under `keys`, in order. Keys that share their first two segments
    /// (a user's records) live in one shard: they are read under one lock.
    fn get_many_at(&self, namespace: &str, keys: &[&[&str]]) -> Vec<Option<Arc<[u8]>>> {
        let now = self.now();
        let mut values = Vec::with_capacity(keys.len());
        let mut expired = false;
        let mut rest = keys;
        while let Some((first, _)) = rest.split_first() {
            let group = first.get(..2).unwrap_or(first);
            let same = rest
                .iter()
                .take_while(|key| key.get(..2).unwrap_or(key) == group)
                .count()
                .max(1);
            let (batch, after) = rest.split_at(same);
            rest = after;
            let data = self.read(self.shard_of(namespace, first));
            let id = data.namespaces.id(namespace);
            for segments in batch {
                let value = id.and_then(|id| {
                    let mut encoded = encode_segments(segments);
                    match data.map.get_key_value(with_id(&mut encoded, id)) {
                        Some((entry, value)) if entry.live(now) => Some(Arc::clone(value)),
                        Some(_) => {
                            expired = true;
                            None
                        }
                        None => None,
                    }
                });
                values.push(value);
            }
        }
        if expired {
            // Reclaimed one by one (rare): each read again under its shard's write lock.
            for (value, segments) in values.iter_mut().zip(keys) {
                if value.is_none() {
                    *value = self.get_shared_at(namespace, segments);
                }
            }
        }
        values
    }

    fn read(&self, shard: usize) -> RwLockReadGuard<'_, ShardData> {
        self.shards[shard]
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, shard: usize) -> RwLockWriteGuard<'_, ShardData> {
        self.shards[shard]
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard of a key: a hash of its namespace and first two segments.
    fn shard_of<S: AsRef<str>>(&self, namespace: &str, segments: &[S]) -> usize {
        let segment = |i: usize| segments.get(i).map(AsRef::as_ref);
        (self.hasher.hash_one((namespace, segment(0), segment(1))) as usize) & (SHARDS - 1)
    }

    /// Nanoseconds since the store's epoch.
    fn now(&self) -> u64 {
        let elapsed = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(NEVER);
        elapsed.saturating_add(self.clock.offset_nanos())
    }

    fn expiry(now: u64, ttl: Option<Duration>) -> u64 {
        ttl.map_or(NEVER, |ttl| {
            now.saturating_add(u64::try_from(ttl.as_nanos()).unwrap_or(NEVER))
        })
    }

    fn weight(key_len: usize, value_len: usize) -> u64 {
        (key_len + value_len) as u64 + ENTRY_OVERHEAD_BYTES
    }

    /// Stores an entry in a locked shard (replacing the key's entry, if any), keeping the
    /// byte and namespace counts. `encoded` comes from [`encode_segments`].
    fn insert_entry(
        &self,
        data: &mut ShardData,
        namespace: &str,
        encoded: &mut [u8],
        value: Arc<[u8]>,
        expires: u64,
        class: Class,
    ) {
        let id = data.namespaces.id_or_insert(namespace);
        let key = with_id(encoded, id);
        self.bytes
            .fetch_add(Self::weight(key.len(), value.len()), Ordering::Relaxed);
        // Removed first: `insert` would keep the old key, and its expiry.
        match data.map.remove(key) {
            Some(old) => {
                self.bytes
                    .fetch_sub(Self::weight(key.len(), old.len()), Ordering::Relaxed);
            }
            None => data.namespaces.add_key(id),
        }
        data.map.insert(EntryKey::new(key, expires, class), value);
    }

    /// The live entry of a locked shard under `encoded` (from [`encode_segments`]), if any.
    fn live_entry<'a>(
        data: &'a ShardData,
        namespace: &str,
        encoded: &mut [u8],
        now: u64,
    ) -> Option<(&'a EntryKey, &'a Arc<[u8]>)> {
        let id = data.namespaces.id(namespace)?;
        data.map
            .get_key_value(with_id(encoded, id))
            .filter(|(entry, _)| entry.live(now))
    }

    /// Removes an entry of a locked shard, keeping the byte and namespace counts; returns
    /// its value and expiry.
    fn remove_entry(&self, data: &mut ShardData, key: &[u8]) -> Option<(Arc<[u8]>, u64)> {
        let (entry, value) = data.map.remove_entry(key)?;
        self.bytes
            .fetch_sub(Self::weight(key.len(), value.len()), Ordering::Relaxed);
        if let Some((id, _)) = split_id(key) {
            data.namespaces.remove_key(id);
        }
        Some((value, entry.expires()))
    }

    /// Examines up to `budget` entries of a locked shard, going on from its cursor (and
    /// round to its first key): removes the expired ones and reports, for each [`Class`],
    /// the live one closest to expiry if it expires before that class's bound in `before`
    /// (`None`: any).
    fn scan(
        &self,
        data: &mut ShardData,
        now: u64,
        budget: usize,
        before: [Option<u64>; 2],
    ) -> Scan {
        let budget = budget.min(data.map.len());
        let mut cursor = std::mem::take(&mut data.cursor);
        let (after, wrapped) = if cursor.is_empty() {
            (Bound::Unbounded, Bound::Excluded(&cursor[..]))
        } else {
            (Bound::Excluded(&cursor[..]), Bound::Included(&cursor[..]))
        };
        let entries = data
            .map
            .range::<[u8], _>((after, Bound::Unbounded))
            .chain(data.map.range::<[u8], _>((Bound::Unbounded, wrapped)))
            .take(budget);
        let (mut dead, mut best, mut candidates, mut last) =
            (Vec::new(), before, [None, None], None);
        for (entry, _) in entries {
            let (key, expires) = entry.parts();
            last = Some(key);
            let class = entry.class() as usize;
            if expires <= now {
                dead.push(Box::<[u8]>::from(key));
            } else if best[class].is_none_or(|best| expires < best) {
                best[class] = Some(expires);
                candidates[class] = Some(key);
            }
        }
        let candidates =
            [0, 1].map(|class| candidates[class].map(Box::<[u8]>::from).zip(best[class]));
        cursor.clear();
        cursor.extend_from_slice(last.unwrap_or_default());
        data.cursor = cursor;
        for key in &dead {
            self.remove_entry(data, key);
        }
        Scan {
            examined: budget,
            expired: dead.len(),
            candidates,
        }
    }

    /// After a write: sweeps the next shard for expired entries, a step at a time while a
    /// quarter of what it examined had expired, then evicts if the store is over capacity.
    fn after_write(&self) {
        let now = self.now();
        let shard = self.next_sweep.fetch_add(1, Ordering::Relaxed) & (SHARDS - 1);
        {
            let mut data = self.write(shard);
            for _ in 0..SWEEP_MAX_STEPS {
                let scan = self.scan(&mut data, now, SCAN_STEP, [Some(0); 2]);
                if scan.examined < SCAN_STEP || scan.expired * 4 < scan.examined {
                    break;
                }
            }
        }
        self.make_room();
    }

    fn over_capacity(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) > self.max_bytes
    }

    /// Evicts entries until the store is back within its capacity. Each round examines
    /// [`SCAN_STEP`] entries of every shard from its cursor, removes the expired ones, and
    /// if that was not enough evicts the live record closest to expiry among those seen
    /// (as Redis' `volatile-ttl` does on a sample), or, when the round saw no record, the
    /// security entry closest to expiry: bounded work for each write, and the cursors move
    /// on, so every entry is in some round's sample.
    fn make_room(&self) {
        let first = self.next_sweep.load(Ordering::Relaxed);
        while self.over_capacity() {
            let now = self.now();
            // Per class: the shard, key and expiry of the entry to evict.
            let mut victims: [Option<Victim>; 2] = [None, None];
            for offset in 0..SHARDS {
                let shard = (first + offset) & (SHARDS - 1);
                let before =
                    [0, 1].map(|class| victims[class].as_ref().map(|(_, _, expires)| *expires));
                let scan = self.scan(&mut self.write(shard), now, SCAN_STEP, before);
                for (class, candidate) in scan.candidates.into_iter().enumerate() {
                    if let Some((key, expires)) = candidate {
                        victims[class] = Some((shard, key, expires));
                    }
                }
                if !self.over_capacity() {
                    return;
                }
            }
            let [record, security] = victims;
            let Some((shard, key, expires)) = record.or(security) else {
                return;
            };
            let mut data = self.write(shard);
            // Unless it was written again since the round saw it.
            if data
                .map
                .get_key_value(&key[..])
                .is_some_and(|(entry, _)| entry.expires() == expires)
            {
                self.remove_entry(&mut data, &key);
            }
        }
    }

    fn get_copy(&self, namespace: &str, key: &Key) -> Option<Vec<u8>> {
        self.get_shared(namespace, key).map(|value| value.to_vec())
    }

    /// Removes `key` and returns its value if it was live.
    fn remove(&self, namespace: &str, key: &Key) -> Option<Vec<u8>> {
        let shard = self.shard_of(namespace, &key.0);
        let mut encoded = encode_segments(&key.0);
        let value = {
            let mut data = self.write(shard);
            let now = self.now();
            let id = data.namespaces.id(namespace)?;
            self.remove_entry(&mut data, with_id(&mut encoded, id))
                .filter(|(_, expires)| *expires > now)
        };
        value.map(|(value, _)| value.to_vec())
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn in_process(&self) -> bool {
        true
    }

    async fn put(
        &self,
        namespace: &str,
        records: Vec<Record>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut entries: Vec<(usize, EncodedKey, Arc<[u8]>)> = records
            .into_iter()
            .map(|(key, value)| {
                let shard = self.shard_of(namespace, &key.0);
                (shard, encode_segments(&key.0), Arc::from(value))
            })
            .collect();
        // Stable: of two records for one key, the later one wins.
        entries.sort_by_key(|(shard, _, _)| *shard);
        {
            // Every shard written stays locked until all the records are in, so readers
            // see all of them or none. Locks are taken in shard order: no deadlock.
            let mut locked: Vec<(usize, RwLockWriteGuard<'_, ShardData>)> = Vec::new();
            let expires = Self::expiry(self.now(), ttl);
            for (shard, mut encoded, value) in entries {
                if locked.last().map(|(locked, _)| *locked) != Some(shard) {
                    locked.push((shard, self.write(shard)));
                }
                if let Some((_, data)) = locked.last_mut() {
                    self.insert_entry(data, namespace, &mut encoded, value, expires, Class::Record);
                }
            }
        }
        self.after_write();
        Ok(())
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_copy(namespace, key))
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[Key],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        Ok(keys
            .iter()
            .map(|key| self.get_copy(namespace, key))
            .collect())
    }

    async fn get_many_shared(
        &self,
        namespace: &str,
        keys: &[&[&str]],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        Ok(self.get_many_at(namespace, keys))
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
        let leading: Vec<&str> = pattern
            .iter()
            .map_while(|p| match p {
                KeyPattern::Exact(s) => Some(s.as_str()),
                KeyPattern::Any => None,
            })
            .collect();
        // A key's shard depends on its first two segments only: when the pattern fixes
        // them, every match is in one shard.
        let shards = if leading.len() >= pattern.len().min(2) {
            let shard = self.shard_of(namespace, &leading);
            shard..shard + 1
        } else {
            0..SHARDS
        };
        let mut prefix = encode_segments(&leading);
        let now = self.now();
        let mut records = Vec::new();
        for shard in shards {
            let (mut found, mut expired) = (Vec::new(), Vec::new());
            {
                let data = self.read(shard);
                let Some(id) = data.namespaces.id(namespace) else {
                    continue;
                };
                let prefix = with_id(&mut prefix, id);
                let matches = data
                    .map
                    .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
                    .map(|(entry, value)| (entry.parts(), value))
                    .take_while(|((key, _), _)| key.starts_with(prefix))
                    .filter(|((key, _), _)| matches_pattern(key, pattern));
                for ((key, expires), value) in matches {
                    if expires > now {
                        found.push((decode_key(key), Arc::clone(value)));
                    } else {
                        expired.push(Box::<[u8]>::from(key));
                    }
                }
            }
            records.extend(found.into_iter().map(|(key, value)| (key, value.to_vec())));
            if !expired.is_empty() {
                let mut data = self.write(shard);
                for key in expired {
                    if data
                        .map
                        .get_key_value(&key[..])
                        .is_some_and(|(entry, _)| !entry.live(now))
                    {
                        self.remove_entry(&mut data, &key);
                    }
                }
            }
        }
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
        let shard = self.shard_of(namespace, &key.0);
        let mut encoded = encode_segments(&key.0);
        let inserted = {
            let mut data = self.write(shard);
            let now = self.now();
            let taken = Self::live_entry(&data, namespace, &mut encoded, now).is_some();
            if !taken {
                let expires = Self::expiry(now, ttl);
                self.insert_entry(
                    &mut data,
                    namespace,
                    &mut encoded,
                    value.into(),
                    expires,
                    Class::Security,
                );
            }
            !taken
        };
        self.after_write();
        Ok(inserted)
    }

    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        let shard = self.shard_of(namespace, &key.0);
        let mut encoded = encode_segments(&key.0);
        let count = {
            let mut data = self.write(shard);
            let now = self.now();
            let current = Self::live_entry(&data, namespace, &mut encoded, now);
            let (count, expires) = match current {
                // A live counter keeps its expiry: a fixed window.
                Some((entry, value)) => (parse_counter(value)?.saturating_add(by), entry.expires()),
                None => (by, Self::expiry(now, ttl)),
            };
            let mut digits = [0; 20];
            let digits = decimal(count, &mut digits);
            if current.is_some() {
                // The live entry keeps its key and expiry: only its value changes, in place
                // when no reader holds it. No entry is added, so no sweep is due.
                let key = with_id(&mut encoded, data.namespaces.id(namespace).unwrap_or(0));
                if let Some(slot) = data.map.get_mut(key) {
                    match Arc::get_mut(slot).filter(|bytes| bytes.len() == digits.len()) {
                        Some(bytes) => bytes.copy_from_slice(digits),
                        None => {
                            let old_len = slot.len() as u64;
                            *slot = Arc::from(digits);
                            self.bytes.fetch_add(digits.len() as u64, Ordering::Relaxed);
                            self.bytes.fetch_sub(old_len, Ordering::Relaxed);
                        }
                    }
                    return Ok(count);
                }
            }
            let value: Arc<[u8]> = Arc::from(digits);
            self.insert_entry(
                &mut data,
                namespace,
                &mut encoded,
                value,
                expires,
                Class::Security,
            );
            count
        };
        self.after_write();
        Ok(count)
    }
}

/// `value` in decimal, written into `buf`: the digits.
fn decimal(mut value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buf[start..];
        }
    }
}

/// `value` in LEB128 (7 bits a byte, low first; the high bit marks a next byte): the
/// bytes and how many of them are used.
fn varint(mut value: u64) -> ([u8; 10], usize) {
    let mut bytes = [0; 10];
    if value < 0x80 {
        // The common case: a short segment's length.
        bytes[0] = value as u8;
        return (bytes, 1);
    }
    let mut len = 0;
    for byte in &mut bytes {
        *byte = (value & 0x7f) as u8;
        value >>= 7;
        len += 1;
        if value == 0 {
            break;
        }
        *byte |= 0x80;
    }
    (bytes, len)
}

/// Reads a LEB128 number off the front of `bytes`.
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate() {
        value |= u64::from(byte & 0x7f).checked_shl(7 * u32::try_from(i).ok()?)?;
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// The segments of a key, each length-prefixed, after [`ID_ROOM`] bytes left for
/// [`with_id`]. No two lists of segments share an encoding, and the keys that start with
/// given segments are the ones whose encoding starts with theirs: one range of a shard.
fn encode_segments<S: AsRef<str>>(segments: &[S]) -> EncodedKey {
    let len: usize = segments
        .iter()
        .map(|s| varint_len(s.as_ref().len()) + s.as_ref().len())
        .sum();
    // Sized exactly, then written in place (faster than growing a `SmallVec` piece by piece).
    let mut encoded = if ID_ROOM + len <= STACK_KEY {
        EncodedKey::from_buf_and_len([0; STACK_KEY], ID_ROOM + len)
    } else {
        EncodedKey::from_vec(vec![0; ID_ROOM + len])
    };
    let mut rest = &mut encoded[ID_ROOM..];
    for segment in segments {
        let segment = segment.as_ref().as_bytes();
        let (prefix, used) = varint(segment.len() as u64);
        for part in [&prefix[..used], segment] {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(part.len());
            head.copy_from_slice(part);
            rest = tail;
        }
    }
    encoded
}

/// Bytes of `len` as a LEB128 number.
fn varint_len(len: usize) -> usize {
    let bits = usize::BITS - len.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

/// Bytes of a key encoded on the stack.
const STACK_KEY: usize = 96;

/// A key being encoded: on the stack when it is short (a lookup then allocates nothing).
type EncodedKey = smallvec::SmallVec<[u8; STACK_KEY]>;

/// The key encoded by [`encode_segments`] in the namespace numbered `id`: the number,
/// then the segments.
fn with_id(encoded: &mut [u8], id: u32) -> &[u8] {
    let (number, used) = varint(u64::from(id));
    let start = ID_ROOM - used;
    encoded[start..ID_ROOM].copy_from_slice(&number[..used]);
    &encoded[start..]
}

/// The namespace number of a key, and its encoded segments.
fn split_id(key: &[u8]) -> Option<(u32, &[u8])> {
    let (id, segments) = read_varint(key)?;
    Some((u32::try_from(id).ok()?, segments))
}

/// The segments of a key (after its namespace number).
struct Segments<'a>(&'a [u8]);

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = read_varint(self.0)?;
        let (segment, rest) = rest.split_at_checked(usize::try_from(len).ok()?)?;
        self.0 = rest;
        Some(segment)
    }
}

fn segments_of(key: &[u8]) -> Segments<'_> {
    Segments(split_id(key).map_or(&[][..], |(_, segments)| segments))
}

/// The [`Key`] of a stored key.
fn decode_key(key: &[u8]) -> Key {
    Key(segments_of(key)
        .map(|segment| String::from_utf8_lossy(segment).into_owned())
        .collect())
}

/// Whether a stored key matches `pattern` (see [`Key::matches`]).
fn matches_pattern(key: &[u8], pattern: &[KeyPattern]) -> bool {
    let mut segments = segments_of(key);
    pattern.iter().all(|p| {
        segments.next().is_some_and(|segment| match p {
            KeyPattern::Exact(s) => s.as_bytes() == segment,
            KeyPattern::Any => true,
        })
    }) && segments.next().is_none()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

    fn key(parts: &[&str]) -> Key {
        Key(parts.iter().map(|s| (*s).to_owned()).collect())
    }

    /// Polls `done` until it holds, failing after a few seconds.
    async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn varint_len_is_the_length_varint_writes() {
        for len in [
            0usize,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            usize::MAX,
        ] {
            assert_eq!(varint_len(len), varint(len as u64).1, "{len}");
        }
    }

    #[tokio::test]
    async fn deleted_and_expired_keys_leave_the_store() {
        let store = MemoryStore::new();
        let ttl = Some(Duration::from_millis(30));
        store
            .put("ns", vec![(key(&["a", "1"]), b"x".to_vec())], ttl)
            .await
            .unwrap();
        store
            .put("ns", vec![(key(&["a", "2"]), b"y".to_vec())], None)
            .await
            .unwrap();
        store.delete("ns", &key(&["a", "2"])).await.unwrap();
        assert_eq!(store.entry_count(), 1);
        // Reading an expired entry reclaims it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.get("ns", &key(&["a", "1"])).await.unwrap().is_some() {
            assert!(Instant::now() < deadline, "entry never expired");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(store.entry_count(), 0);
        assert_eq!(store.weighted_size(), 0);
        let all = store
            .all("ns", &[KeyPattern::exact("a"), KeyPattern::Any])
            .await
            .unwrap();
        assert!(all.is_empty());
    }

    #[tokio::test]
    async fn capacity_bounds_memory_and_evicted_keys_are_gone() {
        let store = MemoryStore::with_capacity(64 * 1024);
        for i in 0..1_000 {
            let key = key(&["anonymous", &i.to_string()]);
            store
                .put("ns", vec![(key, vec![7; 1024])], HOUR)
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
        assert!(listed.len() > 40, "{} listed", listed.len());
        assert_eq!(store.entry_count(), listed.len() as u64);
        // What remains still reads back whole, and nothing else does.
        let mut readable = 0;
        for i in 0..1_000 {
            if let Some(value) = store
                .get("ns", &key(&["anonymous", &i.to_string()]))
                .await
                .unwrap()
            {
                assert_eq!(value, vec![7; 1024]);
                readable += 1;
            }
        }
        assert_eq!(readable, listed.len());
        // The latest entries are the ones kept: the others expire sooner.
        assert!(store
            .get("ns", &key(&["anonymous", "999"]))
            .await
            .unwrap()
            .is_some());
    }

    /// What one `["k", "NN"]` record of 100 bytes weighs (the eviction tests' unit).
    async fn weight_of_a_fixed_entry() -> u64 {
        let probe = MemoryStore::new();
        probe
            .put("ns", vec![(key(&["k", "00"]), vec![1; 100])], None)
            .await
            .unwrap();
        probe.weighted_size()
    }

    #[tokio::test]
    async fn a_counter_counts_in_place_and_a_reader_keeps_what_it_read() {
        let store = MemoryStore::new();
        let k = key(&["c", "n"]);
        let minute = Some(Duration::from_secs(60));
        for n in 1..=9 {
            assert_eq!(store.incr("ns", &k, 1, minute).await.unwrap(), n);
        }
        let size = store.weighted_size();
        // A reader holds the value: the next count leaves it as it was.
        let held = store.get_shared("ns", &k).unwrap();
        // Nine to ten takes one more digit, and the store counts the byte.
        assert_eq!(store.incr("ns", &k, 1, minute).await.unwrap(), 10);
        assert_eq!(&*held, b"9");
        assert_eq!(store.weighted_size(), size + 1);
        drop(held);
        // As many digits, still held: replaced, not overwritten.
        let held = store.get_shared("ns", &k).unwrap();
        assert_eq!(store.incr("ns", &k, 5, minute).await.unwrap(), 15);
        assert_eq!(&*held, b"10");
        drop(held);
        // Not held: overwritten in place.
        assert_eq!(store.incr("ns", &k, 1, minute).await.unwrap(), 16);
        assert_eq!(store.get("ns", &k).await.unwrap(), Some(b"16".to_vec()));
        assert_eq!(store.weighted_size(), size + 1);
        store.delete("ns", &k).await.unwrap();
        assert_eq!(store.weighted_size(), 0);
    }

    #[tokio::test]
    async fn eviction_keeps_counters_and_claims_while_records_are_in_sight() {
        let name = |i: usize| format!("{i:02}");
        let weight = weight_of_a_fixed_entry().await;
        let store = MemoryStore::with_capacity(12 * weight);
        let minute = Some(Duration::from_secs(60));
        // Short-lived security entries: a failure counter and a claim, the first to
        // expire of all.
        store
            .incr("ns", &key(&["c", "01"]), 5, minute)
            .await
            .unwrap();
        assert!(store
            .insert_if_absent("ns", (key(&["c", "02"]), vec![1]), minute)
            .await
            .unwrap());
        // A flood of ordinary records that live longer.
        for i in 0..40 {
            store
                .put("ns", vec![(key(&["k", &name(i)]), vec![1; 100])], HOUR)
                .await
                .unwrap();
        }
        assert!(store.weighted_size() <= 12 * weight);
        assert_eq!(
            store.get("ns", &key(&["c", "01"])).await.unwrap(),
            Some(b"5".to_vec()),
            "the counter outlives the flood"
        );
        assert!(
            !store
                .insert_if_absent("ns", (key(&["c", "02"]), vec![1]), minute)
                .await
                .unwrap(),
            "the claim outlives the flood"
        );
        // With no record left to evict, security entries go too: the bound holds.
        let store = MemoryStore::with_capacity(4 * weight);
        for i in 0..20 {
            store
                .incr("ns", &key(&["c", &name(i)]), 1, minute)
                .await
                .unwrap();
        }
        assert!(store.weighted_size() <= 4 * weight);
    }

    #[tokio::test]
    async fn eviction_takes_expired_entries_first_then_the_closest_to_expiry() {
        // Fixed-width names: every entry weighs the same.
        let name = |i: usize| format!("{i:02}");
        let weight = weight_of_a_fixed_entry().await;

        // Room for 12 entries: 6 that will have expired, 3 expiring soon, 3 later. Fewer
        // than an eviction round examines in a shard, so every round sees all of them.
        let store = MemoryStore::with_capacity(12 * weight);
        let start = Instant::now();
        let put = |i: usize, ttl: Option<Duration>| {
            store.put("ns", vec![(key(&["k", &name(i)]), vec![1; 100])], ttl)
        };
        for i in 0..6 {
            put(i, Some(Duration::from_millis(20))).await.unwrap();
        }
        let expired = Instant::now() + Duration::from_millis(21);
        for i in 6..9 {
            put(i, HOUR).await.unwrap();
        }
        for i in 9..12 {
            put(i, HOUR.map(|hour| hour * 2)).await.unwrap();
        }
        if start.elapsed() < Duration::from_millis(20) {
            assert_eq!(store.entry_count(), 12);
        }
        tokio::time::sleep(expired.saturating_duration_since(Instant::now())).await;
        // Six more entries: the expired ones make room.
        for i in 12..18 {
            put(i, HOUR.map(|hour| hour * 2)).await.unwrap();
        }
        assert!(store.weighted_size() <= 12 * weight);
        for i in 6..18 {
            assert!(
                store.get_shared("ns", &key(&["k", &name(i)])).is_some(),
                "{i}"
            );
        }
        // Three more: the live entries closest to expiry go.
        for i in 18..21 {
            put(i, HOUR.map(|hour| hour * 2)).await.unwrap();
        }
        assert!(store.weighted_size() <= 12 * weight);
        for i in 6..21 {
            let kept = store.get_shared("ns", &key(&["k", &name(i)])).is_some();
            assert_eq!(kept, i >= 9, "{i}");
        }
    }

    #[tokio::test]
    async fn writes_sweep_expired_entries() {
        let store = MemoryStore::new();
        for i in 0..1_000 {
            store
                .put(
                    "ns",
                    vec![(key(&["k", &i.to_string()]), vec![0; 64])],
                    Some(Duration::from_millis(20)),
                )
                .await
                .unwrap();
        }
        let full = store.entry_count();
        assert!(full > 1, "{full}");
        // No reads: only the writes' sweeps reclaim.
        let mut ticks = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.entry_count() > 1 {
            assert!(Instant::now() < deadline, "{} entries", store.entry_count());
            store
                .put("other", vec![(key(&["tick"]), Vec::new())], None)
                .await
                .unwrap();
            ticks += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(ticks > 1);
        let probe = MemoryStore::new();
        probe
            .put("other", vec![(key(&["tick"]), Vec::new())], None)
            .await
            .unwrap();
        assert_eq!(store.weighted_size(), probe.weighted_size());
    }

    #[tokio::test]
    async fn all_stays_within_the_prefix() {
        let store = MemoryStore::new();
        let records = |keys: &[&[&str]]| -> Vec<Record> {
            keys.iter()
                .map(|k| (key(k), k.join("/").into_bytes()))
                .collect()
        };
        store
            .put(
                "ns",
                records(&[
                    &["user"],
                    &["user", "1"],
                    &["user", "1", "session", "a"],
                    &["user", "1", "session", "a", "x"],
                    &["user", "1", "session"],
                    &["user", "10", "session", "b"],
                    &["user1", "session", "c"],
                ]),
                HOUR,
            )
            .await
            .unwrap();
        // Namespaces that a plain concatenation would confuse with "ns" + ["user", ...].
        for namespace in ["n", "nsuser", "ns1", "n\u{2}su"] {
            store
                .put(
                    namespace,
                    records(&[&["user", "1", "session", "z"], &["suser", "1"]]),
                    HOUR,
                )
                .await
                .unwrap();
        }
        let listed = |pattern: Vec<KeyPattern>| {
            let store = &store;
            async move {
                let mut keys: Vec<String> = store
                    .all("ns", &pattern)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(key, value)| {
                        assert_eq!(key.0.join("/").into_bytes(), value);
                        key.0.join("/")
                    })
                    .collect();
                keys.sort();
                keys
            }
        };
        let (exact, any) = (KeyPattern::exact, || KeyPattern::Any);
        assert_eq!(
            listed(vec![exact("user"), exact("1"), exact("session"), any()]).await,
            ["user/1/session/a"]
        );
        assert_eq!(listed(vec![exact("user"), any()]).await, ["user/1"]);
        assert_eq!(listed(vec![exact("user")]).await, ["user"]);
        assert_eq!(
            listed(vec![exact("user"), exact("1"), any()]).await,
            ["user/1/session"]
        );
        assert_eq!(
            listed(vec![exact("user"), any(), exact("session"), any()]).await,
            ["user/1/session/a", "user/10/session/b"]
        );
        assert_eq!(
            listed(vec![any(), any(), any()]).await,
            ["user/1/session", "user1/session/c"]
        );
        assert!(listed(vec![exact("use"), any()]).await.is_empty());
        assert!(listed(vec![exact("suser"), any()]).await.is_empty());
        assert!(listed(vec![]).await.is_empty());
    }

    #[test]
    fn one_users_keys_share_a_shard() {
        let store = MemoryStore::new();
        let user = store.shard_of("credentials", &["user", "42"]);
        assert_eq!(
            user,
            store.shard_of("credentials", &["user", "42", "session", "a"])
        );
        assert_eq!(
            user,
            store.shard_of("credentials", &["user", "42", "chain", "c"])
        );
        // Sessions spread over the shards.
        let spread: std::collections::BTreeSet<usize> = (0..200)
            .map(|i| store.shard_of("credentials", &["session", &i.to_string()]))
            .collect();
        assert!(spread.len() > SHARDS / 2, "{spread:?}");
    }

    #[test]
    fn encoded_keys_keep_segments_apart() {
        let long = "x".repeat(300);
        let cases: [(u32, Vec<&str>); 8] = [
            (0, vec!["a", "b"]),
            (0, vec!["ab"]),
            (0, vec!["a", "b", ""]),
            (0, vec!["", "a", "b"]),
            (1, vec!["a", "b"]),
            (300, vec!["a", "b"]),
            (0, vec![long.as_str(), "b"]),
            (0, vec![]),
        ];
        let encoded: Vec<Vec<u8>> = cases
            .iter()
            .map(|(id, parts)| with_id(&mut encode_segments(parts), *id).to_vec())
            .collect();
        for (i, ((id, parts), bytes)) in cases.iter().zip(&encoded).enumerate() {
            assert_eq!(split_id(bytes).unwrap().0, *id);
            assert_eq!(decode_key(bytes), key(parts));
            for (j, other) in encoded.iter().enumerate() {
                assert_eq!(i == j, bytes == other, "{i} {j}");
            }
        }
        // A key starts with the encoding of its leading segments, and only its own.
        let encode = |parts: &[&str]| with_id(&mut encode_segments(parts), 7).to_vec();
        let full = encode(&["a", "b", "c"]);
        assert!(full.starts_with(&encode(&["a", "b"])));
        assert!(!full.starts_with(&encode(&["a", "bc"])));
        assert!(!encode(&["ab", "c"]).starts_with(&encode(&["a"])));
        // The expiry rides along with the key, which alone orders and finds the entry.
        let entry = EntryKey::new(&full, 42, Class::Security);
        assert_eq!(entry.parts(), (&full[..], 42));
        assert_eq!(entry.class(), Class::Security);
        assert!(entry == EntryKey::new(&full, NEVER, Class::Record));
        assert_eq!(
            EntryKey::new(&full, NEVER, Class::Record).class(),
            Class::Record
        );
    }

    #[tokio::test]
    async fn namespace_numbers_are_freed_with_their_last_key() {
        let store = MemoryStore::new();
        let k = key(&["user", "1"]);
        let shard = store.shard_of("a", &k.0);
        let namespaces = |store: &MemoryStore| store.read(shard).namespaces.ids.len();
        store
            .put("a", vec![(k.clone(), b"1".to_vec())], None)
            .await
            .unwrap();
        assert_eq!(namespaces(&store), 1);
        store
            .put("a", vec![(k.clone(), b"2".to_vec())], None)
            .await
            .unwrap();
        store.delete("a", &k).await.unwrap();
        assert_eq!(namespaces(&store), 0);
        // Every way out frees it: take, expiry met by a read, counters.
        store.incr("a", &k, 1, None).await.unwrap();
        assert_eq!(store.take("a", &k).await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(namespaces(&store), 0);
        store
            .put(
                "a",
                vec![(k.clone(), b"3".to_vec())],
                Some(Duration::from_millis(5)),
            )
            .await
            .unwrap();
        eventually("never expired", || store.get_shared("a", &k).is_none()).await;
        assert_eq!(namespaces(&store), 0);
        assert_eq!(store.weighted_size(), 0);
        // A freed number goes to the next new namespace.
        let mut numbers = Namespaces::default();
        let (a, b) = (numbers.id_or_insert("a"), numbers.id_or_insert("b"));
        numbers.add_key(a);
        numbers.add_key(b);
        numbers.add_key(a);
        numbers.remove_key(a);
        assert_eq!(numbers.id("a"), Some(a));
        numbers.remove_key(a);
        assert_eq!(numbers.id("a"), None);
        assert_eq!(numbers.id_or_insert("c"), a);
        assert_eq!(numbers.id("b"), Some(b));
    }

    #[tokio::test]
    async fn get_shared_returns_the_stored_allocation() {
        let store = MemoryStore::new();
        let k = key(&["session", "a"]);
        assert!(store.get_shared("ns", &k).is_none());
        store
            .put("ns", vec![(k.clone(), b"value".to_vec())], HOUR)
            .await
            .unwrap();
        let first = store.get_shared("ns", &k).unwrap();
        let second = store.get_shared("ns", &k).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(&first[..], b"value");
        assert!(store.get_shared("other", &k).is_none());
        // A put stores a new value; the old one stays valid for its holders.
        store
            .put(
                "ns",
                vec![(k.clone(), b"new".to_vec())],
                Some(Duration::from_millis(10)),
            )
            .await
            .unwrap();
        let third = store.get_shared("ns", &k).unwrap();
        assert!(!Arc::ptr_eq(&first, &third));
        assert_eq!(&first[..], b"value");
        eventually("value never expired", || {
            store.get_shared("ns", &k).is_none()
        })
        .await;
    }
}

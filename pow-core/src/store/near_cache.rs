//! A local read cache in front of a store on another server: values kept in this process
//! until the store says they changed (the Redis store's tracking messages, the SQL store's
//! PostgreSQL notifications), this process changed them, or they expire.
//!
//! Three rules keep a stale value from being served for longer than a message takes to
//! arrive, whatever the store:
//!
//! - A read only fills the cache when no invalidation came between its start and its
//!   answer (a generation counter moves with every invalidation), so a value overtaken by
//!   a change while in flight is never kept.
//! - The store removes the keys it writes as soon as the write is done, so this process sees
//!   its own changes on its next request without waiting for a message.
//! - A lost channel (messages may have been missed) empties the cache. Every value also
//!   expires with its record and after `max_age` at the latest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

struct Entry<V: ?Sized> {
    value: Arc<V>,
    expires: Instant,
}

type Shard<V> = HashMap<Box<[u8]>, Entry<V>, foldhash::fast::RandomState>;

/// Values read from a store, kept until invalidated; keys are the store's own bytes.
pub(crate) struct NearCache<V: ?Sized> {
    shards: Box<[Mutex<Shard<V>>]>,
    hasher: foldhash::fast::RandomState,
    /// Moves with every invalidation: a read that saw it move does not fill.
    generation: AtomicU64,
    per_shard: usize,
    max_age: Duration,
}

impl<V: ?Sized> NearCache<V> {
    /// A cache of at most `capacity` values, none kept longer than `max_age`.
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            generation: AtomicU64::new(0),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            max_age,
        }
    }

    fn shard(&self, key: &[u8]) -> std::sync::MutexGuard<'_, Shard<V>> {
        use std::hash::BuildHasher as _;
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live value of `key`, if cached.
    pub(crate) fn get(&self, key: &[u8], now: Instant) -> Option<Arc<V>> {
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(entry) if entry.expires > now => Some(Arc::clone(&entry.value)),
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    /// Where a read that may fill the cache starts: pass it to [`fill`](Self::fill).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `value` (read at `read_at`, with `ttl` left in the store) unless an
    /// invalidation came since `generation`.
    pub(crate) fn fill(
        &self,
        generation: u64,
        key: &[u8],
        value: Arc<V>,
        read_at: Instant,
        ttl: Duration,
    ) {
        let ttl = ttl.min(self.max_age);
        let mut shard = self.shard(key);
        // Checked under the shard's lock, which an invalidation takes after moving the
        // generation: either it is seen here, or its removal comes after this insert.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            shard.retain(|_, entry| entry.expires > read_at);
            if shard.len() >= self.per_shard {
                shard.clear();
            }
        }
        shard.insert(
            key.into(),
            Entry {
                value,
                expires: read_at + ttl,
            },
        );
    }

    /// Forgets `key` (the store changed it, or this process did).
    pub(crate) fn invalidate(&self, key: &[u8]) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.shard(key).remove(key);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for shard in self.shards.iter() {
            shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// How many values are held (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

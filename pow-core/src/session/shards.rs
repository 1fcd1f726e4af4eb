//! A map keyed by session ids, in a few shards behind their own locks, emptied shard by
//! shard when full: what the decode cache and the outage copies keep per session.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

const SHARDS: usize = 16;

/// Keyed by session ids, which only a resolved session puts here: a fast hash is enough.
type Shard<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// Values by session id, at most `capacity` over all shards (a full shard is emptied before
/// a new id goes in): no per-read bookkeeping.
pub(crate) struct SessionShards<V> {
    shards: Box<[RwLock<Shard<V>>]>,
    per_shard: usize,
}

impl<V: Clone> SessionShards<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// The shard of `id`, by the last character of its hash part (ids are hashes, so
    /// that character is random).
    fn shard(&self, id: &str) -> &RwLock<Shard<V>> {
        let hash_part = last_dot(id).and_then(|dot| id.get(..dot)).unwrap_or(id);
        let byte = hash_part.as_bytes().last().copied().unwrap_or(0);
        &self.shards[usize::from(byte) % SHARDS]
    }

    pub(crate) fn get(&self, id: &str) -> Option<V> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &str) {
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    pub(crate) fn insert(&self, id: String, value: V) {
        let mut shard = self
            .shard(&id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&id) {
            shard.clear();
        }
        shard.insert(id, value);
    }

    /// Keeps the values `keep` says yes to, in every shard.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&V) -> bool) {
        for shard in self.shards.iter() {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, value| keep(value));
        }
    }
}

/// The byte index of the last `.` in `id`: a plain backwards byte scan (the ids on the
/// hot path are short ASCII), where `rsplit_once` may go through the generic searcher.
pub(crate) fn last_dot(id: &str) -> Option<usize> {
    id.bytes().rposition(|b| b == b'.')
}

//! The local read cache of a [`RedisStore`](super::RedisStore) (see
//! [`RedisStoreOptions::local_cache`](super::RedisStoreOptions::local_cache)): values read by
//! [`Store::get_many_shared`](crate::store::Store::get_many_shared) are kept in this process
//! and served from here until Redis says they changed.
//!
//! It rests on Redis' server-assisted client-side caching (`CLIENT TRACKING`, Redis 6+,
//! RESP3): every read that fills the cache runs on one connection of its own, in one
//! pipeline behind `CLIENT TRACKING ON`, so Redis remembers the keys it read and pushes an
//! invalidation message on that connection as soon as any client changes, deletes or
//! expires one of them. The message removes the key here.
//!
//! Three rules keep a stale value from ever being served for longer than a message takes
//! to arrive:
//!
//! - A read only fills the cache when no invalidation arrived between its start and its
//!   answer (a generation counter moves with every message), so a value overtaken by a
//!   change while in flight is never kept.
//! - Writes through this store remove their keys here as soon as Redis confirmed them, so
//!   this process sees its own changes on its next request without waiting for a message.
//! - A lost connection (messages may have been missed) empties the cache; so does
//!   `FLUSHALL`/`FLUSHDB`. Every value also expires with its Redis TTL (read with `PTTL` in
//!   the same pipeline) and after [`max_age`](NearCache::new) at the latest.
//!
//! What it does not give: another process's change reaches this one after Redis' message
//! does (typically well under a millisecond on one network), not before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{PushInfo, PushKind, Value};

use super::map_error;
use crate::store::StoreError;

const SHARDS: usize = 16;

type Shard = HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>;

struct Entry {
    value: Arc<[u8]>,
    expires: Instant,
}

/// Values read from Redis, kept until Redis invalidates them.
pub(super) struct NearCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::RandomState,
    /// Moves with every invalidation message: a read that saw it move does not fill.
    generation: AtomicU64,
    per_shard: usize,
    max_age: Duration,
}

impl NearCache {
    /// A cache of at most `capacity` values, none kept longer than `max_age`.
    pub(super) fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            generation: AtomicU64::new(0),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            max_age,
        }
    }

    fn shard(&self, key: &[u8]) -> std::sync::MutexGuard<'_, Shard> {
        use std::hash::BuildHasher as _;
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live value of `key`, if cached.
    pub(super) fn get(&self, key: &[u8], now: Instant) -> Option<Arc<[u8]>> {
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
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `value` (read at `read_at`, with `pttl_ms` left in Redis) unless an
    /// invalidation arrived since `generation`.
    pub(super) fn fill(
        &self,
        generation: u64,
        key: &[u8],
        value: Arc<[u8]>,
        read_at: Instant,
        pttl_ms: i64,
    ) {
        let ttl = match u64::try_from(pttl_ms) {
            Ok(ms) => Duration::from_millis(ms).min(self.max_age),
            // -1: no expiry in Redis; -2: gone already.
            Err(_) if pttl_ms == -1 => self.max_age,
            Err(_) => return,
        };
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

    /// Forgets `key` (Redis changed it, or this process did).
    pub(super) fn invalidate(&self, key: &[u8]) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.shard(key).remove(key);
    }

    /// Forgets everything.
    pub(super) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for shard in self.shards.iter() {
            shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// Applies one message pushed by Redis on the tracking connection.
    pub(super) fn on_push(&self, info: &PushInfo) {
        match info.kind {
            PushKind::Invalidate => match info.data.first() {
                Some(Value::Array(keys)) => {
                    for key in keys {
                        match key {
                            Value::BulkString(key) => self.invalidate(key),
                            Value::SimpleString(key) => self.invalidate(key.as_bytes()),
                            _ => self.clear(),
                        }
                    }
                }
                // FLUSHALL / FLUSHDB, or a shape this code does not know: forget it all.
                _ => self.clear(),
            },
            // Messages may have been missed while the connection was down.
            PushKind::Disconnection => self.clear(),
            _ => {}
        }
    }

    /// How many values are held (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// The cache and the connection its reads go through.
pub(super) struct Tracked {
    pub(super) cache: Arc<NearCache>,
    conn: ConnectionManager,
}

impl Tracked {
    /// Opens the tracking connection of `client` (which speaks RESP3: see
    /// [`resp3_client`](super::resp3_client)); its messages go to `cache`.
    pub(super) async fn connect(
        client: ::redis::Client,
        config: ConnectionManagerConfig,
        cache: NearCache,
    ) -> Result<Self, StoreError> {
        let cache = Arc::new(cache);
        let messages = Arc::clone(&cache);
        let config = config.set_push_sender(move |info: PushInfo| {
            messages.on_push(&info);
            Ok::<(), std::convert::Infallible>(())
        });
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(map_error)?;
        Ok(Self { cache, conn })
    }

    /// The values of `names`, from the cache where it has them all, else read from Redis
    /// (and kept). `None` for a missing key; missing keys are never cached.
    pub(super) async fn get_many(
        &self,
        names: &[&[u8]],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        let now = Instant::now();
        let cached: Vec<Option<Arc<[u8]>>> =
            names.iter().map(|name| self.cache.get(name, now)).collect();
        if cached.iter().all(Option::is_some) {
            return Ok(cached);
        }
        let generation = self.cache.generation();
        let read_at = Instant::now();
        let mut pipe = ::redis::pipe();
        pipe.cmd("CLIENT").arg("TRACKING").arg("ON").ignore();
        pipe.cmd("MGET").arg(names);
        for name in names {
            pipe.cmd("PTTL").arg(*name);
        }
        let mut conn = self.conn.clone();
        let mut replies: Vec<Value> = match pipe.query_async(&mut conn).await {
            Ok(replies) => replies,
            Err(err) => {
                // Whatever this connection had tracked may be lost with it.
                self.cache.clear();
                return Err(map_error(err));
            }
        };
        if replies.len() != names.len() + 1 {
            return Err(StoreError::Backend(
                "redis: unexpected reply to a tracked read".into(),
            ));
        }
        let pttls: Vec<i64> = replies
            .drain(1..)
            .map(|reply| ::redis::from_redis_value(reply).unwrap_or(-2))
            .collect();
        let values: Vec<Option<Vec<u8>>> = replies
            .pop()
            .map(::redis::from_redis_value)
            .transpose()
            .map_err(|err| StoreError::Backend(format!("redis: {err}")))?
            .unwrap_or_default();
        if values.len() != names.len() {
            return Err(StoreError::Backend(
                "redis: unexpected reply to a tracked read".into(),
            ));
        }
        Ok(values
            .into_iter()
            .zip(names.iter().zip(pttls))
            .map(|(value, (name, pttl))| {
                let value: Arc<[u8]> = Arc::from(value?);
                self.cache
                    .fill(generation, name, Arc::clone(&value), read_at, pttl);
                Some(value)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(kind: PushKind, data: Vec<Value>) -> PushInfo {
        PushInfo { kind, data }
    }

    #[test]
    fn a_value_lives_until_invalidated_or_expired() {
        let cache = NearCache::new(100, Duration::from_secs(60));
        let now = Instant::now();
        let generation = cache.generation();
        cache.fill(generation, b"k", Arc::from(&b"v"[..]), now, 1_000);
        assert_eq!(cache.get(b"k", now).as_deref(), Some(&b"v"[..]));
        assert_eq!(
            cache.get(b"k", now + Duration::from_secs(2)),
            None,
            "Redis TTL"
        );

        cache.fill(cache.generation(), b"k", Arc::from(&b"v"[..]), now, -1);
        assert!(cache.get(b"k", now + Duration::from_secs(59)).is_some());
        assert_eq!(
            cache.get(b"k", now + Duration::from_secs(61)),
            None,
            "max age"
        );

        cache.fill(cache.generation(), b"k", Arc::from(&b"v"[..]), now, 1_000);
        cache.on_push(&push(
            PushKind::Invalidate,
            vec![Value::Array(vec![Value::BulkString(b"k".to_vec())])],
        ));
        assert_eq!(cache.get(b"k", now), None, "invalidated");
    }

    #[test]
    fn a_read_overtaken_by_an_invalidation_does_not_fill() {
        let cache = NearCache::new(100, Duration::from_secs(60));
        let now = Instant::now();
        let generation = cache.generation();
        // The key changes while the read is in flight.
        cache.on_push(&push(
            PushKind::Invalidate,
            vec![Value::Array(vec![Value::BulkString(b"k".to_vec())])],
        ));
        cache.fill(generation, b"k", Arc::from(&b"old"[..]), now, 1_000);
        assert_eq!(cache.get(b"k", now), None);
        // A key that vanished between its read and its PTTL is not kept either.
        cache.fill(cache.generation(), b"gone", Arc::from(&b"x"[..]), now, -2);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn flushes_and_lost_connections_forget_everything() {
        let cache = NearCache::new(100, Duration::from_secs(60));
        let now = Instant::now();
        for kind in [PushKind::Invalidate, PushKind::Disconnection] {
            cache.fill(cache.generation(), b"a", Arc::from(&b"1"[..]), now, 1_000);
            cache.fill(cache.generation(), b"b", Arc::from(&b"2"[..]), now, 1_000);
            assert_eq!(cache.len(), 2);
            let data = match kind {
                PushKind::Invalidate => vec![Value::Nil],
                _ => Vec::new(),
            };
            cache.on_push(&push(kind, data));
            assert_eq!(cache.len(), 0);
        }
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = NearCache::new(32, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..1_000u32 {
            cache.fill(
                cache.generation(),
                &i.to_be_bytes(),
                Arc::from(&b"v"[..]),
                now,
                10_000,
            );
        }
        assert!(cache.len() <= 32, "{}", cache.len());
    }
}

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

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{PushInfo, PushKind, Value};

use super::keys::Place;
use super::{field_live, map_error, split_field};
use crate::store::StoreError;
use crate::time::now_ms_unsigned as now_ms;

/// What one Redis key holds: a value of its own, or a group's live fields.
#[derive(Debug)]
pub(super) enum Cached {
    /// A string key's value.
    Plain(Arc<[u8]>),
    /// A group's fields.
    Group(Box<[CachedField]>),
}

/// A field of a cached group: name, expiry (ms since the epoch, 0 for none), record.
pub(super) type CachedField = (Box<str>, u64, Arc<[u8]>);

impl Cached {
    /// The record of `place` in this key, if live at `now_ms`.
    fn read(&self, place: &Place, now_ms: u64) -> Option<Arc<[u8]>> {
        match (self, place) {
            (Self::Plain(value), Place::Plain(_)) => Some(Arc::clone(value)),
            (Self::Group(fields), Place::Field { field, .. }) => fields
                .iter()
                .find(|(name, at, _)| **name == **field && field_live(*at, now_ms))
                .map(|(_, _, value)| Arc::clone(value)),
            _ => None,
        }
    }
}

/// The local cache of Redis keys.
pub(super) type NearCache = crate::store::near_cache::NearCache<Cached>;

/// Keeps `value` (read at `read_at`, with `pttl_ms` left in Redis: `-1` for no expiry,
/// `-2` for gone) unless an invalidation arrived since `generation`.
pub(super) fn fill(
    cache: &NearCache,
    generation: u64,
    key: &[u8],
    value: Arc<Cached>,
    read_at: Instant,
    pttl_ms: i64,
) {
    let ttl = match u64::try_from(pttl_ms) {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) if pttl_ms == -1 => Duration::MAX,
        Err(_) => return,
    };
    cache.fill(generation, key, value, read_at, ttl);
}

/// Applies one message pushed by Redis on the tracking connection.
pub(super) fn on_push(cache: &NearCache, info: &PushInfo) {
    match info.kind {
        PushKind::Invalidate => match info.data.first() {
            Some(Value::Array(keys)) => {
                for key in keys {
                    match key {
                        Value::BulkString(key) => cache.invalidate(key),
                        Value::SimpleString(key) => cache.invalidate(key.as_bytes()),
                        _ => cache.clear(),
                    }
                }
            }
            // FLUSHALL / FLUSHDB, or a shape this code does not know: forget it all.
            _ => cache.clear(),
        },
        // Messages may have been missed while the connection was down.
        PushKind::Disconnection => cache.clear(),
        _ => {}
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
            on_push(&messages, &info);
            Ok::<(), std::convert::Infallible>(())
        });
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(map_error)?;
        Ok(Self { cache, conn })
    }

    /// The records at `places`, from the cache where it has every key they live in, else
    /// read from Redis (and kept). `None` for a missing or expired record; keys holding
    /// nothing are never cached.
    pub(super) async fn get_many(
        &self,
        places: &[Place],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        let now = Instant::now();
        // The Redis keys the places live in, each once (a session and its user share one).
        let mut keys: Vec<&Place> = Vec::with_capacity(places.len());
        for place in places {
            if !keys
                .iter()
                .any(|seen| seen.redis_key() == place.redis_key())
            {
                keys.push(place);
            }
        }
        let mut found: Vec<Option<Arc<Cached>>> = keys
            .iter()
            .map(|place| self.cache.get(place.redis_key().as_bytes(), now))
            .collect();
        if found.iter().any(Option::is_none) {
            self.read(&keys, &mut found).await?;
        }
        let now_ms = now_ms();
        Ok(places
            .iter()
            .map(|place| {
                let index = keys
                    .iter()
                    .position(|key| key.redis_key() == place.redis_key())?;
                found.get(index)?.as_ref()?.read(place, now_ms)
            })
            .collect())
    }

    /// Reads the keys not `found` yet on the tracking connection, and keeps them.
    async fn read(
        &self,
        keys: &[&Place],
        found: &mut [Option<Arc<Cached>>],
    ) -> Result<(), StoreError> {
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| found[i].is_none()).collect();
        let generation = self.cache.generation();
        let read_at = Instant::now();
        let mut pipe = ::redis::pipe();
        pipe.cmd("CLIENT").arg("TRACKING").arg("ON").ignore();
        for &i in &missing {
            match keys[i] {
                Place::Plain(name) => pipe.cmd("GET").arg(name),
                Place::Field { group, .. } => pipe.cmd("HGETALL").arg(group),
            };
        }
        for &i in &missing {
            pipe.cmd("PTTL").arg(keys[i].redis_key());
        }
        let mut conn = self.conn.clone();
        let replies: Vec<Value> = match pipe.query_async(&mut conn).await {
            Ok(replies) => replies,
            Err(err) => {
                // Whatever this connection had tracked may be lost with it.
                self.cache.clear();
                return Err(map_error(err));
            }
        };
        if replies.len() != missing.len() * 2 {
            return Err(StoreError::Backend(
                "redis: unexpected reply to a tracked read".into(),
            ));
        }
        let (values, pttls) = replies.split_at(missing.len());
        let parse_error = |err: ::redis::ParsingError| StoreError::Backend(format!("redis: {err}"));
        for ((&i, value), pttl) in missing.iter().zip(values).zip(pttls) {
            let cached = match keys[i] {
                Place::Plain(_) => {
                    let value: Option<Vec<u8>> =
                        ::redis::from_redis_value_ref(value).map_err(parse_error)?;
                    value.map(|value| Cached::Plain(Arc::from(value)))
                }
                Place::Field { .. } => {
                    let fields: Vec<(String, Vec<u8>)> =
                        ::redis::from_redis_value_ref(value).map_err(parse_error)?;
                    let fields: Box<[CachedField]> = fields
                        .into_iter()
                        .filter_map(|(name, stored)| {
                            let (expires_at, record) = split_field(&stored)?;
                            Some((name.into(), expires_at, Arc::from(record)))
                        })
                        .collect();
                    (!fields.is_empty()).then_some(Cached::Group(fields))
                }
            };
            let Some(cached) = cached else { continue };
            let cached = Arc::new(cached);
            let pttl: i64 = ::redis::from_redis_value_ref(pttl).unwrap_or(-2);
            fill(
                &self.cache,
                generation,
                keys[i].redis_key().as_bytes(),
                Arc::clone(&cached),
                read_at,
                pttl,
            );
            found[i] = Some(cached);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(value: &[u8]) -> Arc<Cached> {
        Arc::new(Cached::Plain(Arc::from(value)))
    }

    fn bytes(cached: Option<Arc<Cached>>) -> Option<Vec<u8>> {
        match cached.as_deref() {
            Some(Cached::Plain(value)) => Some(value.to_vec()),
            _ => None,
        }
    }

    fn push(kind: PushKind, data: Vec<Value>) -> PushInfo {
        PushInfo { kind, data }
    }

    #[test]
    fn a_value_lives_until_invalidated_or_expired() {
        let cache = NearCache::new(100, Duration::from_secs(60));
        let now = Instant::now();
        let generation = cache.generation();
        fill(&cache, generation, b"k", plain(b"v"), now, 1_000);
        assert_eq!(bytes(cache.get(b"k", now)), Some(b"v".to_vec()));
        assert!(
            cache.get(b"k", now + Duration::from_secs(2)).is_none(),
            "Redis TTL"
        );

        fill(&cache, cache.generation(), b"k", plain(b"v"), now, -1);
        assert!(cache.get(b"k", now + Duration::from_secs(59)).is_some());
        assert!(
            cache.get(b"k", now + Duration::from_secs(61)).is_none(),
            "max age"
        );

        fill(&cache, cache.generation(), b"k", plain(b"v"), now, 1_000);
        on_push(
            &cache,
            &push(
                PushKind::Invalidate,
                vec![Value::Array(vec![Value::BulkString(b"k".to_vec())])],
            ),
        );
        assert!(cache.get(b"k", now).is_none(), "invalidated");
    }

    #[test]
    fn a_read_overtaken_by_an_invalidation_does_not_fill() {
        let cache = NearCache::new(100, Duration::from_secs(60));
        let now = Instant::now();
        let generation = cache.generation();
        // The key changes while the read is in flight.
        on_push(
            &cache,
            &push(
                PushKind::Invalidate,
                vec![Value::Array(vec![Value::BulkString(b"k".to_vec())])],
            ),
        );
        fill(&cache, generation, b"k", plain(b"old"), now, 1_000);
        assert!(cache.get(b"k", now).is_none());
        // A key that vanished between its read and its PTTL is not kept either.
        fill(&cache, cache.generation(), b"gone", plain(b"x"), now, -2);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn flushes_and_lost_connections_forget_everything() {
        let cache = NearCache::new(100, Duration::from_secs(60));
        let now = Instant::now();
        for kind in [PushKind::Invalidate, PushKind::Disconnection] {
            fill(&cache, cache.generation(), b"a", plain(b"1"), now, 1_000);
            fill(&cache, cache.generation(), b"b", plain(b"2"), now, 1_000);
            assert_eq!(cache.len(), 2);
            let data = match kind {
                PushKind::Invalidate => vec![Value::Nil],
                _ => Vec::new(),
            };
            on_push(&cache, &push(kind, data));
            assert_eq!(cache.len(), 0);
        }
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = NearCache::new(32, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..1_000u32 {
            fill(
                &cache,
                cache.generation(),
                &i.to_be_bytes(),
                plain(b"v"),
                now,
                10_000,
            );
        }
        assert!(cache.len() <= 32, "{}", cache.len());
    }
}

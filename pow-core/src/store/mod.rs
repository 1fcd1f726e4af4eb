//! The cache store: a pluggable key-value backend with TTLs.
//!
//! Sessions, remember-me tokens and reset tokens live in a [`Store`]. pow-core ships an
//! in-memory backend ([`MemoryStore`], the default); other backends implement the same
//! methods (four required; `take`, `insert_if_absent` and `incr` as one atomic step each)
//! and prove it by running the conformance suite exported behind the
//! `test-util` feature (`pow_core::store::conformance`).
//!
//! Keys are lists of string segments ([`Key`]) stored under a namespace; [`Store::all`]
//! matches keys of the same length whose segments equal the pattern's, where
//! [`KeyPattern::Any`] matches any one segment. Values are opaque bytes; [`Cache`] adds
//! JSON (de)serialisation, a namespace and a TTL on top.
//!
//! ```
//! use std::time::Duration;
//! use pow_core::store::{Cache, Key, MemoryStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let cache = Cache::new(MemoryStore::shared(), "reset_token", Some(Duration::from_secs(7200)));
//! cache.put(&Key::from(["abc"]), &42u32).await?;
//! assert_eq!(cache.get::<u32>(&Key::from(["abc"])).await?, Some(42));
//! # Ok::<_, pow_core::store::StoreError>(())
//! # }).unwrap();
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod memory;
pub use memory::{MemoryStore, DEFAULT_CAPACITY_BYTES};
mod limit;
pub use limit::Limit;
mod limiter;
pub use limiter::{Limiter, LIMIT_NAMESPACE};
mod user_index;
pub use user_index::{decode_record, UserIndex};
mod claim;
pub use claim::Claim;
mod one_time;
pub use one_time::OneTimeSecrets;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreOptions};
#[cfg(any(feature = "redis", feature = "postgres"))]
mod near_cache;
#[cfg(any(feature = "disk", feature = "sql"))]
mod segments;
#[cfg(feature = "sql")]
mod sql;
#[cfg(any(feature = "disk", feature = "sql"))]
mod sweeper;
#[cfg(feature = "sql")]
pub use self::sql::{SqlStore, SQL_STORE_MIGRATIONS};
#[cfg(feature = "disk")]
mod disk;
#[cfg(feature = "disk")]
pub use self::disk::DiskStore;

#[cfg(feature = "test-util")]
pub mod conformance;
mod watch;
pub(crate) use watch::Watched;
pub use watch::{StoreHealth, DEFAULT_STORE_DEADLINE};

pub use crate::error::StoreError;

/// A store key: a non-empty list of segments, stored under a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key(pub Vec<String>);

impl Key {
    /// The key's segments.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Returns a new key with `segment` appended.
    pub fn join(&self, segment: impl Into<String>) -> Key {
        let mut parts = self.0.clone();
        parts.push(segment.into());
        Key(parts)
    }

    /// Whether this key matches `pattern` (same length, each segment equal or wildcard).
    pub fn matches(&self, pattern: &[KeyPattern]) -> bool {
        self.0.len() == pattern.len()
            && self.0.iter().zip(pattern).all(|(seg, pat)| match pat {
                KeyPattern::Any => true,
                KeyPattern::Exact(s) => s == seg,
            })
    }
}

impl<S: Into<String>, const N: usize> From<[S; N]> for Key {
    fn from(parts: [S; N]) -> Self {
        Key(parts.into_iter().map(Into::into).collect())
    }
}

impl From<&str> for Key {
    fn from(part: &str) -> Self {
        Key(vec![part.to_owned()])
    }
}

impl From<String> for Key {
    fn from(part: String) -> Self {
        Key(vec![part])
    }
}

/// One segment of a pattern for [`Store::all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPattern {
    /// Matches a segment equal to this string.
    Exact(String),
    /// Matches any one segment (Pow's `:_`).
    Any,
}

impl KeyPattern {
    /// Shorthand for [`KeyPattern::Exact`].
    pub fn exact(s: impl Into<String>) -> Self {
        Self::Exact(s.into())
    }
}

/// A record: key and raw value.
pub type Record = (Key, Vec<u8>);

/// Messages between the processes sharing one store (see [`Store::broadcast`]).
///
/// Delivery is best effort: a process that is disconnected when a message is published
/// misses it. Callers that must not miss an event check the store as well.
#[async_trait]
pub trait Broadcast: Send + Sync + 'static {
    /// Sends `message` to every subscriber of `channel`, in every process.
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), StoreError>;

    /// Calls `deliver` with every message later published on `channel` (by any process,
    /// this one included) until the process ends, and returns once the subscription is in
    /// place (or its first attempt failed). The subscription reconnects by itself after a
    /// failure and then delivers an empty message: messages may have been missed.
    async fn subscribe(&self, channel: &str, deliver: Deliver) -> Result<(), StoreError>;
}

/// The receiving end of a [`Broadcast`] subscription: called with each message.
pub type Deliver = Arc<dyn Fn(&[u8]) + Send + Sync + 'static>;

/// A cache-store backend.
///
/// Backends must be safe to share between all actix workers (`Send + Sync`), and must
/// keep namespaces fully apart: a key in one namespace is never seen through another.
///
/// The config holds one ([`PowConfigBuilder::store`](crate::PowConfigBuilder::store),
/// [`PowConfig::store`](crate::PowConfig::store)); extensions and app code reach it as an
/// `Arc<dyn Store>`, whatever the backend. Here the default [`MemoryStore`], through the
/// trait:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use pow_core::store::{Key, KeyPattern, MemoryStore, Store};
/// use pow_core::PowConfig;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store: Arc<dyn Store> = MemoryStore::shared();
/// let config = PowConfig::builder("x".repeat(64)).store(store.clone()).build()?;
/// let store = config.store(); // the same store, as every part of pow-rs sees it
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// runtime.block_on(async {
///     let minute = Some(Duration::from_secs(60));
///     let key = Key::from(["invite", "abc"]);
///     store.put("demo", vec![(key.clone(), b"jane".to_vec())], minute).await?;
///     assert_eq!(store.get("demo", &key).await?, Some(b"jane".to_vec()));
///     // Namespaces are apart.
///     assert_eq!(store.get("other", &key).await?, None);
///     // Patterns match key segments; `Any` matches one segment.
///     let invites = store.all("demo", &[KeyPattern::exact("invite"), KeyPattern::Any]).await?;
///     assert_eq!(invites.len(), 1);
///     // `take` removes and returns in one step: a single-use token works once.
///     assert_eq!(store.take("demo", &key).await?, Some(b"jane".to_vec()));
///     assert_eq!(store.take("demo", &key).await?, None);
///     // Counters for rate limits.
///     let hits = Key::from("hits");
///     assert_eq!(store.incr("demo", &hits, 1, minute).await?, 1);
///     assert_eq!(store.incr("demo", &hits, 1, minute).await?, 2);
///     Ok::<_, pow_core::store::StoreError>(())
/// })?;
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores every record under `namespace`. A put replaces an existing value and restarts
    /// its TTL. `ttl: None` keeps the records until deleted. The records of one call are
    /// written together: a reader never sees some of them without the others longer than
    /// the backend's consistency window.
    async fn put(
        &self,
        namespace: &str,
        records: Vec<Record>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;

    /// Returns the value under `key`, or `None`. An expired value is never returned, even
    /// before the backend has reclaimed it.
    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError>;

    /// The values under `keys`, in their order (`None` for a missing or expired key), in one
    /// round trip where the backend can: a signed-in request reads its session and its user
    /// this way. The default calls [`get`](Self::get) for each key.
    async fn get_many(
        &self,
        namespace: &str,
        keys: &[Key],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(namespace, key).await?);
        }
        Ok(values)
    }

    /// [`get_many`](Self::get_many) for keys given as borrowed segments, with the values
    /// shared: a backend that keeps values in this process (the [`MemoryStore`]) reads
    /// without building a [`Key`] and hands out its own copy of each value instead of
    /// copying the bytes, so a signed-in request reads its records without allocating for
    /// them. The default builds the keys and calls [`get_many`](Self::get_many).
    async fn get_many_shared(
        &self,
        namespace: &str,
        keys: &[&[&str]],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        shared_through_get_many(self, namespace, keys).await
    }

    /// Removes `key`. Removing a missing key succeeds.
    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError>;

    /// Returns every live record of `namespace` whose key matches `pattern` (same number of
    /// segments; each equal, or [`KeyPattern::Any`]). Order is unspecified.
    async fn all(&self, namespace: &str, pattern: &[KeyPattern])
        -> Result<Vec<Record>, StoreError>;

    /// Removes `key` and returns the value it had, as one step: of two concurrent calls for
    /// the same key at most one gets the value. Single-use tokens rely on this. The default
    /// is a get followed by a delete; backends that can do it atomically should override it.
    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.get(namespace, key).await?;
        if value.is_some() {
            self.delete(namespace, key).await?;
        }
        Ok(value)
    }

    /// Stores `record` only if its key holds no live value, as one step: of concurrent
    /// calls for the same key exactly one returns `true`. Claims (one sign-up per address,
    /// one use per code) rely on this. The default returns [`StoreError::Unsupported`].
    async fn insert_if_absent(
        &self,
        namespace: &str,
        record: Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let _ = (namespace, record, ttl);
        Err(StoreError::Unsupported("insert_if_absent"))
    }

    /// Adds `by` to the counter under `key` and returns the new count, as one step: `n`
    /// concurrent calls with `by = 1` return `n` distinct counts. A missing or expired
    /// counter starts from 0 and expires `ttl` after this call; later increments keep that
    /// expiry (a fixed window). Counters are stored as decimal text, so [`Store::get`]
    /// reads them and [`Store::delete`] resets them; incrementing a value that is not a
    /// counter is a [`StoreError::Backend`] error. Rate limits rely on this. The default
    /// returns [`StoreError::Unsupported`].
    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        let _ = (namespace, key, by, ttl);
        Err(StoreError::Unsupported("incr"))
    }

    /// The channel to the other processes sharing this store, if the backend has one
    /// ([`RedisStore`] publishes through Redis pub/sub). Live session revocation
    /// ([`LiveSessions`](crate::session::LiveSessions)) uses it to reach every node. The
    /// default is `None`: a process-local store has nobody else to tell.
    fn broadcast(&self) -> Option<Arc<dyn Broadcast>> {
        None
    }

    /// Whether the backend lives in this process and so cannot be away ([`MemoryStore`],
    /// [`DiskStore`]). The default, `false`, puts the store behind the config's outage
    /// mode: a deadline on every call
    /// ([`PowConfigBuilder::store_deadline`](crate::PowConfigBuilder::store_deadline)) and
    /// a [`health`](Self::health) that says when it stopped answering.
    fn in_process(&self) -> bool {
        false
    }

    /// How the store is doing, from this process's calls: degraded while the last call had
    /// no answer. Read it through the config's store
    /// ([`PowConfig::store`](crate::PowConfig::store)), which keeps it for a store on
    /// another server; the default says healthy.
    fn health(&self) -> StoreHealth {
        StoreHealth::default()
    }
}

/// [`Store::get_many_shared`] through [`Store::get_many`]: the keys built, the values
/// shared (the trait's default, for backends that override it for one case only).
pub(crate) async fn shared_through_get_many<S: Store + ?Sized>(
    store: &S,
    namespace: &str,
    keys: &[&[&str]],
) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
    let keys: Vec<Key> = keys
        .iter()
        .map(|segments| Key(segments.iter().map(|s| (*s).to_owned()).collect()))
        .collect();
    Ok(store
        .get_many(namespace, &keys)
        .await?
        .into_iter()
        .map(|value| value.map(Arc::from))
        .collect())
}

/// Parses a counter written by [`Store::incr`].
pub fn parse_counter(value: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Backend("the value under this key is not a counter".to_owned()))
}

/// A typed view on a [`Store`]: one namespace, one TTL, JSON values.
#[derive(Clone)]
pub struct Cache {
    store: Arc<dyn Store>,
    namespace: String,
    ttl: Option<Duration>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Creates a typed view on `store`.
    pub fn new(store: Arc<dyn Store>, namespace: impl Into<String>, ttl: Option<Duration>) -> Self {
        Self {
            store,
            namespace: namespace.into(),
            ttl,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The TTL applied to puts.
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// The backend.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Stores one value.
    pub async fn put<T: Serialize + ?Sized>(&self, key: &Key, value: &T) -> Result<(), StoreError> {
        self.put_many(vec![(key.clone(), serde_json::to_vec(value)?)])
            .await
    }

    /// Stores several raw records in one call.
    pub async fn put_many(&self, records: Vec<Record>) -> Result<(), StoreError> {
        self.store.put(&self.namespace, records, self.ttl).await
    }

    /// Reads one value.
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        match self.store.get(&self.namespace, key).await? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Removes one value.
    pub async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.store.delete(&self.namespace, key).await
    }

    /// Removes one value and returns it (see [`Store::take`]).
    pub async fn take<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        match self.store.take(&self.namespace, key).await? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores one value unless the key holds one (see [`Store::insert_if_absent`]).
    pub async fn insert_if_absent<T: Serialize + ?Sized>(
        &self,
        key: &Key,
        value: &T,
    ) -> Result<bool, StoreError> {
        let record = (key.clone(), serde_json::to_vec(value)?);
        self.store
            .insert_if_absent(&self.namespace, record, self.ttl)
            .await
    }

    /// Adds `by` to a counter whose window is this cache's TTL (see [`Store::incr`]).
    pub async fn incr(&self, key: &Key, by: u64) -> Result<u64, StoreError> {
        self.store.incr(&self.namespace, key, by, self.ttl).await
    }

    /// The current value of a counter, 0 when it is missing or expired.
    pub async fn counter(&self, key: &Key) -> Result<u64, StoreError> {
        match self.store.get(&self.namespace, key).await? {
            Some(bytes) => parse_counter(&bytes),
            None => Ok(0),
        }
    }

    /// Every record matching `pattern`, decoded.
    pub async fn all<T: DeserializeOwned>(
        &self,
        pattern: &[KeyPattern],
    ) -> Result<Vec<(Key, T)>, StoreError> {
        self.store
            .all(&self.namespace, pattern)
            .await?
            .into_iter()
            .map(|(k, v)| Ok((k, serde_json::from_slice(&v)?)))
            .collect()
    }
}

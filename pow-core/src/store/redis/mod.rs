//! Redis cache-store backend (feature `redis`): see [`RedisStore`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, ServerErrorKind};
use async_trait::async_trait;

use super::{Key, KeyPattern, Record, Store, StoreError};
use crate::time::{duration_ms_ceil, now_ms_unsigned as now_ms};

mod keys;
mod near;
mod options;
mod pubsub;
mod scripts;
use keys::{decode_key, encode_key, encode_namespace, parent_index_of, Lookup, INDEX_NAME};
pub use options::RedisStoreOptions;
use scripts::{refresh_index, INCR, INDEX_GRACE_MS, INSERT_IF_ABSENT, PRUNE_VANISHED};

/// TTLs longer than this (about a century) are stored without expiry.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;
/// Largest number of keys fetched by one `MGET`.
const MGET_CHUNK: usize = 500;

/// A connection to one server or to a cluster.
#[derive(Clone)]
enum Connection {
    Single(Arc<SingleServer>),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let result = match self {
            Self::Single(server) => cmd.query_async(&mut server.connection().await).await,
            Self::Cluster(conn) => cmd.query_async(&mut conn.clone()).await,
        };
        result.map_err(map_error)
    }

    async fn query_pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, StoreError> {
        let result = match self {
            Self::Single(server) => pipe.query_async(&mut server.connection().await).await,
            Self::Cluster(conn) => pipe.query_async(&mut conn.clone()).await,
        };
        result.map_err(map_error)
    }
}

/// One Redis server, with a connection of its own for every thread that runs requests.
///
/// A connection's I/O runs as a task on the runtime that opened it. Shared by all actix
/// workers, one connection would run on the thread that built the store, and every
/// command would hop to that thread and back (two wake-ups). So each worker thread opens
/// its own connection on first use (under its own runtime), and commands stay on the
/// thread that sends them. A connection is only used under the runtime that opened it
/// (another runtime on the same thread gets one of its own). Until a thread's connection
/// is open (or while opening it fails; it is tried again after [`LOCAL_RETRY`]), and
/// outside any runtime, commands go through the shared connection.
struct SingleServer {
    /// Tells this store's connections apart from other stores' in a thread.
    id: u64,
    client: ::redis::Client,
    config: ConnectionManagerConfig,
    shared: ConnectionManager,
}

/// How long a thread whose own connection could not be opened waits before trying again.
const LOCAL_RETRY: Duration = Duration::from_secs(5);

/// A thread's own connection to one [`SingleServer`], under one runtime.
struct LocalConnection {
    store: u64,
    /// The runtime whose task drives the connection: it is used only while that runtime
    /// runs this thread's code (a thread may hold several runtimes, as tests do).
    runtime_id: tokio::runtime::Id,
    server: std::sync::Weak<SingleServer>,
    /// A task that never ends, on the runtime the connection was opened on: finished once
    /// that runtime shut down (a test's), when the connection is dead too.
    runtime: tokio::task::JoinHandle<()>,
    state: LocalState,
}

impl Drop for LocalConnection {
    fn drop(&mut self) {
        self.runtime.abort();
    }
}

enum LocalState {
    /// Being opened since then (a request that was cancelled while opening it leaves this
    /// behind: it is tried again after [`LOCAL_RETRY`]).
    Opening(std::time::Instant),
    Open(ConnectionManager),
    Failed(std::time::Instant),
}

thread_local! {
    static LOCAL_CONNECTIONS: std::cell::RefCell<Vec<LocalConnection>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl SingleServer {
    fn new(
        client: ::redis::Client,
        config: ConnectionManagerConfig,
        shared: ConnectionManager,
    ) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            client,
            config,
            shared,
        }
    }

    /// The connection for a command sent from this thread.
    async fn connection(self: &Arc<Self>) -> ConnectionManager {
        enum Next {
            Use(ConnectionManager),
            Open,
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.shared.clone();
        };
        let runtime_id = runtime.id();
        let next = LOCAL_CONNECTIONS.with(|locals| {
            let mut locals = locals.borrow_mut();
            // Forget connections of dropped stores and of runtimes that shut down.
            locals.retain(|local| local.server.strong_count() > 0 && !local.runtime.is_finished());
            let mine =
                |local: &LocalConnection| local.store == self.id && local.runtime_id == runtime_id;
            match locals
                .iter()
                .find(|local| mine(local))
                .map(|local| &local.state)
            {
                Some(LocalState::Open(conn)) => Next::Use(conn.clone()),
                Some(LocalState::Opening(at) | LocalState::Failed(at))
                    if at.elapsed() < LOCAL_RETRY =>
                {
                    Next::Use(self.shared.clone())
                }
                _ => {
                    locals.retain(|local| !mine(local));
                    locals.push(LocalConnection {
                        store: self.id,
                        runtime_id,
                        server: Arc::downgrade(self),
                        runtime: runtime.spawn(std::future::pending::<()>()),
                        state: LocalState::Opening(std::time::Instant::now()),
                    });
                    Next::Open
                }
            }
        });
        if let Next::Use(conn) = next {
            return conn;
        }
        let opened =
            ConnectionManager::new_with_config(self.client.clone(), self.config.clone()).await;
        let (state, conn) = match opened {
            Ok(conn) => (LocalState::Open(conn.clone()), conn),
            Err(err) => {
                tracing::warn!(error = %err, "cannot open this thread's Redis connection yet; using the shared one");
                (
                    LocalState::Failed(std::time::Instant::now()),
                    self.shared.clone(),
                )
            }
        };
        LOCAL_CONNECTIONS.with(|locals| {
            if let Some(local) = locals
                .borrow_mut()
                .iter_mut()
                .find(|local| local.store == self.id && local.runtime_id == runtime_id)
            {
                local.state = state;
            }
        });
        conn
    }
}

/// A [`Store`] on one Redis server or a Redis Cluster (feature `redis`).
///
/// ```no_run
/// use std::sync::Arc;
/// use pow_core::store::RedisStore;
///
/// # async fn run() -> Result<(), pow_core::store::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379/", "pow").await?;
/// // let config = pow_core::PowConfig::builder(..).store(Arc::new(store)).build()?;
/// # let _ = Arc::new(store);
/// # Ok(())
/// # }
/// ```
///
/// # Key layout
///
/// Every record of namespace `ns` lives in its own Redis string key:
///
/// ```text
/// <prefix>:{<ns>}:<segment>:<segment>:...     the value, written with SET ... PX <ttl>
/// <prefix>:{<ns>}:__index                     sorted set: member = encoded key,
///                                             score = expiry in ms since the epoch, or +inf
/// <prefix>:{<ns>}:__index:<parent>            the same, for the keys of two or more segments
///                                             whose segments but the last encode to <parent>
/// ```
///
/// - The namespace sits in a Redis Cluster *hash tag* (`{...}`), so all keys of a namespace,
///   including its indexes, hash to one cluster slot. That is what lets one `MULTI`/`EXEC`
///   transaction write a batch of records together with their index entries, and lets
///   [`Store::all`] read them back with one `MGET`, on a single server and on a cluster alike.
/// - Inside the namespace, `%`, `{` and `}` are written `%25`, `%7B`, `%7D` (so the hash tag
///   always closes where it should); an empty namespace is written `%`.
/// - Inside a segment, `%` is written `%25` and `:` is written `%3A`, so the `:` between
///   segments is unambiguous. A `_` opening the first segment is written `%5F`, which keeps
///   the names `<prefix>:{<ns>}:_...` free for internal entries such as the indexes. A key
///   with no segments is written `%`.
/// - TTLs are enforced by Redis itself (`SET ... PX`), so [`Store::get`] never sees an expired
///   value. The indexes only serve [`Store::all`], which must not scan the keyspace: it reads
///   the index members that may still be live, filters them by the pattern, and fetches their
///   values with `MGET`, dropping the ones Redis has already expired. Index members whose
///   expiry lies more than a minute in the past are removed on every write and every
///   [`Store::all`] (the minute absorbs clock differences between application servers;
///   liveness itself is always decided by Redis), so an index does not grow without bound.
///   Members whose value vanished before its expiry (evicted by a `maxmemory` policy) are
///   pruned by [`Store::all`] when it meets them.
/// - Which index [`Store::all`] reads depends on the pattern. A pattern of exact segments is
///   one key: a plain `GET`. A pattern whose segments are exact but for a wildcard at the end
///   (`["user", "7", "session", Any]`: one user's sessions) reads the parent index of its
///   exact segments, so it costs time in proportion to the live keys under that parent.
///   Any other pattern reads the namespace index, in proportion to the live keys of the
///   namespace. No call costs time in proportion to the whole keyspace.
/// - An index expires a minute after its latest member (and persists while a member has no
///   expiry); every write to it sets that again, so the index of a parent or namespace that
///   is never written again disappears by itself.
/// - A put with a zero TTL removes the records; TTLs are rounded up to whole milliseconds,
///   and a TTL longer than a century is stored without expiry.
/// - Puts, deletes and takes update value and indexes in one `MULTI`/`EXEC` transaction; a
///   take uses `GETDEL` (Redis 6.2 or newer), so of two concurrent takes only one gets the
///   value. `insert_if_absent` (`SET NX`) and `incr` (`INCRBY`, with the TTL set only when
///   the counter is created) run as one Lua script each, together with their index entries.
///
/// # Failures
///
/// Refused connections, I/O errors, timeouts and cluster-down answers map to
/// [`StoreError::Unavailable`] (requests answer 503). Connection attempts and replies are
/// bounded by [`RedisStoreOptions`] timeouts, and the store reconnects by itself once Redis is
/// reachable again.
///
/// Cloning is cheap: clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    /// The local read cache, if enabled ([`RedisStoreOptions::local_cache`]).
    near: Option<Arc<near::Tracked>>,
    prefix: Arc<str>,
    /// Where pub/sub subscriptions connect (the server, or the first cluster node).
    subscriber: ::redis::Client,
}

/// A client for `url`: over TLS for `rediss://` URLs (with the certificates of `options`,
/// if any), refusing TLS settings on a plain `redis://` URL rather than ignoring them.
fn open_client(url: &str, options: &RedisStoreOptions) -> Result<::redis::Client, StoreError> {
    let tls_url = url
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("rediss://");
    #[cfg(feature = "redis-tls")]
    if let Some(tls) = &options.tls {
        if !tls_url {
            return Err(StoreError::Backend(
                "TLS certificates were given for a plain `redis://` URL: use `rediss://`"
                    .to_owned(),
            ));
        }
        return ::redis::Client::build_with_tls(url, tls.certificates()).map_err(map_error);
    }
    #[cfg(not(feature = "redis-tls"))]
    {
        // Without the feature there are no TLS settings to read.
        let _ = options;
        if tls_url {
            return Err(StoreError::Backend(
                "`rediss://` URLs need pow-core's `redis-tls` feature".to_owned(),
            ));
        }
    }
    ::redis::Client::open(url).map_err(map_error)
}

/// `client` speaking RESP3, which lets Redis push invalidation messages on the connection
/// that reads (for the local read cache).
fn resp3_client(
    client: &::redis::Client,
    options: &RedisStoreOptions,
) -> Result<::redis::Client, StoreError> {
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(::redis::ProtocolVersion::RESP3);
    let info = info.set_redis_settings(settings);
    #[cfg(feature = "redis-tls")]
    if let Some(tls) = &options.tls {
        return ::redis::Client::build_with_tls(info, tls.certificates()).map_err(map_error);
    }
    #[cfg(not(feature = "redis-tls"))]
    let _ = options;
    ::redis::Client::open(info).map_err(map_error)
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.conn {
            Connection::Single(_) => "single",
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    /// The key prefix used when none is given.
    pub const DEFAULT_PREFIX: &'static str = "pow";

    /// Connects to one Redis server, e.g. `redis://127.0.0.1:6379/`, with default timeouts.
    ///
    /// Fails with [`StoreError::Unavailable`] if the server cannot be reached, and with
    /// [`StoreError::Backend`] if the URL or prefix is invalid.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::connect_with_options(url, RedisStoreOptions::new().prefix(prefix)).await
    }

    /// Connects to one Redis server with explicit options.
    pub async fn connect_with_options(
        url: &str,
        options: RedisStoreOptions,
    ) -> Result<Self, StoreError> {
        let prefix = checked_prefix(&options.prefix)?;
        let client = open_client(url, &options)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(options.reconnect_attempts)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(map_error)?;
        let near = match options.local_cache {
            0 => None,
            capacity => {
                let cache = near::NearCache::new(capacity, options.local_cache_max_age);
                let tracking = resp3_client(&client, &options)?;
                Some(Arc::new(
                    near::Tracked::connect(tracking, config.clone(), cache).await?,
                ))
            }
        };
        Ok(Self {
            conn: Connection::Single(Arc::new(SingleServer::new(client.clone(), config, manager))),
            near,
            prefix,
            subscriber: client,
        })
    }

    /// Connects to a Redis Cluster through any of its nodes (`redis://host:port/` each), with
    /// default timeouts.
    pub async fn connect_cluster<S: AsRef<str>>(
        urls: &[S],
        prefix: &str,
    ) -> Result<Self, StoreError> {
        Self::connect_cluster_with_options(urls, RedisStoreOptions::new().prefix(prefix)).await
    }

    /// Connects to a Redis Cluster with explicit options.
    pub async fn connect_cluster_with_options<S: AsRef<str>>(
        urls: &[S],
        options: RedisStoreOptions,
    ) -> Result<Self, StoreError> {
        let prefix = checked_prefix(&options.prefix)?;
        if options.local_cache > 0 {
            return Err(StoreError::Backend(
                "the Redis store's local cache works with a single server, not a cluster: \
                 leave `local_cache` unset for a cluster"
                    .to_owned(),
            ));
        }
        if urls.is_empty() {
            return Err(StoreError::Backend(
                "a Redis Cluster needs at least one node URL".to_owned(),
            ));
        }
        let retries = u32::try_from(options.reconnect_attempts).unwrap_or(u32::MAX);
        // Every node's URL is checked against the TLS settings the same way.
        for url in urls {
            open_client(url.as_ref(), &options)?;
        }
        let builder = ClusterClient::builder(urls.iter().map(|url| url.as_ref()))
            .connection_timeout(options.connection_timeout)
            .response_timeout(options.response_timeout)
            .retries(retries)
            .min_retry_wait(50)
            .max_retry_wait(500);
        #[cfg(feature = "redis-tls")]
        let builder = match &options.tls {
            Some(tls) => builder.certs(tls.certificates()),
            None => builder,
        };
        let client = builder.build().map_err(map_error)?;
        let conn = client.get_async_connection().await.map_err(map_error)?;
        // PUBLISH reaches every node of a cluster, so subscribing on one node is enough.
        let subscriber = open_client(urls[0].as_ref(), &options)?;
        Ok(Self {
            conn: Connection::Cluster(conn),
            near: None,
            prefix,
            subscriber,
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:{<ns>}:` — the start shared by every key of `namespace`.
    fn namespace_root(&self, namespace: &str) -> String {
        format!("{}:{{{}}}:", self.prefix, encode_namespace(namespace))
    }

    /// Drops `names` (full key names) from the local read cache, once a write to them has
    /// been answered, so this process reads its own write on its next request.
    fn forget<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        if let Some(near) = &self.near {
            for name in names {
                near.cache.invalidate(name.as_bytes());
            }
        }
    }

    fn index_key(&self, namespace: &str) -> String {
        self.namespace_root(namespace) + INDEX_NAME
    }

    /// Adds to `pipe` an `EVAL` of `script` (see [`INSERT_IF_ABSENT`]) for `key` with `arg`
    /// and `ttl`, followed by the refresh of the key's indexes; only the script's reply counts.
    fn eval_indexed(
        &self,
        script: &str,
        namespace: &str,
        key: &Key,
        arg: &[u8],
        ttl: Option<Duration>,
    ) -> Pipeline {
        let root = self.namespace_root(namespace);
        let index = self.index_key(namespace);
        let parent = parent_index_of(&root, key);
        let member = encode_key(key);
        let now = now_ms();
        // A zero TTL would be refused by Redis; one millisecond expires just as surely.
        let ttl = ttl_ms(ttl).map(|ms| ms.max(1));
        let score = ttl.map_or_else(
            || "+inf".to_owned(),
            |ms| now.saturating_add(ms).to_string(),
        );
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .cmd("EVAL")
            .arg(script)
            .arg(3)
            .arg(format!("{root}{member}"))
            .arg(&index)
            .arg(parent.as_deref().unwrap_or(&index))
            .arg(arg)
            .arg(ttl.map(|ms| ms.to_string()).unwrap_or_default())
            .arg(&member)
            .arg(score);
        for index in std::iter::once(&index).chain(parent.as_ref()) {
            pipe.add_command(refresh_index(index, now)).ignore();
        }
        pipe
    }

    /// Adds to `pipe` the removal of `member` (encoding `key`) from its indexes, and their
    /// refresh (see [`REFRESH_INDEX`]); every added command's reply is ignored.
    fn remove_from_indexes(
        &self,
        pipe: &mut Pipeline,
        namespace: &str,
        root: &str,
        key: &Key,
        member: &str,
    ) {
        let now = now_ms();
        let indexes = std::iter::once(self.index_key(namespace)).chain(parent_index_of(root, key));
        for index in indexes {
            pipe.cmd("ZREM").arg(&index).arg(member).ignore();
            pipe.add_command(refresh_index(&index, now)).ignore();
        }
    }
}

fn checked_prefix(prefix: &str) -> Result<Arc<str>, StoreError> {
    if prefix.contains(['{', '}']) {
        return Err(StoreError::Backend(format!(
            "the Redis key prefix {prefix:?} must not contain '{{' or '}}' \
             (they would break the cluster hash tag); choose another prefix"
        )));
    }
    Ok(Arc::from(prefix))
}

/// Maps a driver error: anything that means "Redis cannot answer now" is `Unavailable`.
fn map_error(err: RedisError) -> StoreError {
    let unavailable = err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_cluster_error()
        || matches!(
            err.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::MasterDown
                        | ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                )
        );
    if unavailable {
        StoreError::Unavailable(format!("redis: {err}"))
    } else {
        StoreError::Backend(format!("redis: {err}"))
    }
}

/// The TTL in whole milliseconds, rounded up; `None` for no expiry.
fn ttl_ms(ttl: Option<Duration>) -> Option<u64> {
    let ms = duration_ms_ceil(ttl?);
    (ms <= MAX_TTL_MS).then_some(ms)
}

#[async_trait]
impl Store for RedisStore {
    fn broadcast(&self) -> Option<Arc<dyn super::Broadcast>> {
        Some(Arc::new(pubsub::RedisBroadcast::new(self.clone())))
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
        let root = self.namespace_root(namespace);
        let index = self.index_key(namespace);
        let now = now_ms();
        let ttl = ttl_ms(ttl);
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        // Parent index -> the members this put adds to or removes from it, in first-seen order.
        let mut parents: Vec<(String, Vec<String>)> = Vec::new();
        let mut members = Vec::with_capacity(records.len());
        for (key, _) in &records {
            let member = encode_key(key);
            if let Some(parent) = parent_index_of(&root, key) {
                match parents.iter_mut().find(|(name, _)| *name == parent) {
                    Some((_, list)) => list.push(member.clone()),
                    None => parents.push((parent, vec![member.clone()])),
                }
            }
            members.push(member);
        }

        if ttl == Some(0) {
            // Expires at once: the put replaces the value with nothing.
            let keys: Vec<String> = members.iter().map(|m| format!("{root}{m}")).collect();
            pipe.cmd("DEL").arg(&keys).ignore();
            pipe.cmd("ZREM").arg(&index).arg(&members).ignore();
            for (parent, list) in &parents {
                pipe.cmd("ZREM").arg(parent).arg(list).ignore();
            }
        } else {
            let score = match ttl {
                Some(ms) => now.saturating_add(ms).to_string(),
                None => "+inf".to_owned(),
            };
            let mut zadd = ::redis::cmd("ZADD");
            zadd.arg(&index);
            for ((_, value), member) in records.iter().zip(&members) {
                let set = pipe.cmd("SET").arg(format!("{root}{member}")).arg(value);
                if let Some(ms) = ttl {
                    set.arg("PX").arg(ms);
                }
                set.ignore();
                zadd.arg(&score).arg(member);
            }
            pipe.add_command(zadd).ignore();
            for (parent, list) in &parents {
                let zadd = pipe.cmd("ZADD").arg(parent);
                for member in list {
                    zadd.arg(&score).arg(member);
                }
                zadd.ignore();
            }
        }
        pipe.add_command(refresh_index(&index, now)).ignore();
        for (parent, _) in &parents {
            pipe.add_command(refresh_index(parent, now)).ignore();
        }
        let result = self.conn.query_pipe::<()>(&pipe).await;
        let names: Vec<String> = members.iter().map(|m| format!("{root}{m}")).collect();
        self.forget(names.iter().map(String::as_str));
        result
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let data_key = self.namespace_root(namespace) + &encode_key(key);
        self.conn.query(::redis::cmd("GET").arg(data_key)).await
    }

    /// One `MGET`: the keys of a namespace share its hash tag, so a cluster serves them from
    /// one node.
    async fn get_many(
        &self,
        namespace: &str,
        keys: &[Key],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let root = self.namespace_root(namespace);
        let mut cmd = ::redis::cmd("MGET");
        for key in keys {
            cmd.arg(format!("{root}{}", encode_key(key)));
        }
        self.conn.query(&cmd).await
    }

    /// One `MGET` whose key names are built in one buffer, with no [`Key`] in between.
    async fn get_many_shared(
        &self,
        namespace: &str,
        keys: &[&[&str]],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let root = self.namespace_root(namespace);
        if let Some(near) = &self.near {
            let names: Vec<String> = keys
                .iter()
                .map(|segments| {
                    let mut name = root.clone();
                    keys::encode_segments_into(segments, &mut name);
                    name
                })
                .collect();
            let names: Vec<&[u8]> = names.iter().map(|name| name.as_bytes()).collect();
            return near.get_many(&names).await;
        }
        let mut cmd = ::redis::cmd("MGET");
        let mut name = String::with_capacity(root.len() + 64);
        for segments in keys {
            name.clear();
            name.push_str(&root);
            keys::encode_segments_into(segments, &mut name);
            cmd.arg(name.as_str());
        }
        let values: Vec<Option<Vec<u8>>> = self.conn.query(&cmd).await?;
        Ok(values
            .into_iter()
            .map(|value| value.map(Arc::from))
            .collect())
    }

    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError> {
        let root = self.namespace_root(namespace);
        let member = encode_key(key);
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(format!("{root}{member}"))
            .ignore();
        self.remove_from_indexes(&mut pipe, namespace, &root, key, &member);
        let result = self.conn.query_pipe::<()>(&pipe).await;
        self.forget([format!("{root}{member}").as_str()]);
        result
    }

    async fn all(
        &self,
        namespace: &str,
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        let root = self.namespace_root(namespace);
        let namespace_index = self.index_key(namespace);
        let index = match Lookup::for_pattern(&root, pattern) {
            Lookup::Key(key) => {
                let value: Option<Vec<u8>> = self
                    .conn
                    .query(::redis::cmd("GET").arg(format!("{root}{}", encode_key(&key))))
                    .await?;
                return Ok(value.map(|value| (key, value)).into_iter().collect());
            }
            Lookup::Parent(parent) => parent,
            Lookup::Namespace => namespace_index.clone(),
        };
        let cutoff = format!("({}", now_ms().saturating_sub(INDEX_GRACE_MS));

        let mut pipe = ::redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(&cutoff)
            .ignore()
            .cmd("ZRANGEBYSCORE")
            .arg(&index)
            .arg(&cutoff)
            .arg("+inf");
        let (members,): (Vec<String>,) = self.conn.query_pipe(&pipe).await?;

        let wanted: Vec<(Key, String)> = members
            .into_iter()
            .filter_map(|member| {
                let key = decode_key(&member)?;
                key.matches(pattern).then_some((key, member))
            })
            .collect();

        let mut records = Vec::with_capacity(wanted.len());
        let mut vanished = Vec::new();
        for chunk in wanted.chunks(MGET_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(|(_, m)| format!("{root}{m}")).collect();
            let values: Vec<Option<Vec<u8>>> =
                self.conn.query(::redis::cmd("MGET").arg(&keys)).await?;
            for ((key, member), value) in chunk.iter().zip(values) {
                match value {
                    Some(value) => records.push((key.clone(), value)),
                    None => vanished.push((key, member.as_str())),
                }
            }
        }

        // Members whose value is gone but whose index score still says "live" (the value was
        // evicted, or expired within the grace period): drop them from both of their indexes
        // if the value is still gone.
        for chunk in vanished.chunks(MGET_CHUNK) {
            let mut eval = ::redis::cmd("EVAL");
            eval.arg(PRUNE_VANISHED)
                .arg(chunk.len() * 2 + 1)
                .arg(&namespace_index);
            for (key, member) in chunk {
                let parent = parent_index_of(&root, key);
                eval.arg(format!("{root}{member}"))
                    .arg(parent.as_deref().unwrap_or(&namespace_index));
            }
            for (_, member) in chunk {
                eval.arg(*member);
            }
            self.conn.query::<()>(&eval).await?;
        }
        Ok(records)
    }

    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let root = self.namespace_root(namespace);
        let member = encode_key(key);
        let mut pipe = ::redis::pipe();
        pipe.atomic().cmd("GETDEL").arg(format!("{root}{member}"));
        self.remove_from_indexes(&mut pipe, namespace, &root, key, &member);
        let result = self.conn.query_pipe(&pipe).await;
        self.forget([format!("{root}{member}").as_str()]);
        let (value,): (Option<Vec<u8>>,) = result?;
        Ok(value)
    }

    async fn insert_if_absent(
        &self,
        namespace: &str,
        (key, value): Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let pipe = self.eval_indexed(INSERT_IF_ABSENT, namespace, &key, &value, ttl);
        let result = self.conn.query_pipe(&pipe).await;
        self.forget([(self.namespace_root(namespace) + &encode_key(&key)).as_str()]);
        let (stored,): (i64,) = result?;
        Ok(stored == 1)
    }

    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        // INCRBY takes a signed 64-bit increment.
        let by = by.min(i64::MAX.unsigned_abs()).to_string();
        let pipe = self.eval_indexed(INCR, namespace, key, by.as_bytes(), ttl);
        let result = self.conn.query_pipe(&pipe).await;
        self.forget([(self.namespace_root(namespace) + &encode_key(key)).as_str()]);
        let (count,): (i64,) = result?;
        u64::try_from(count).map_err(|_| {
            StoreError::Backend("redis: the value under this key is not a counter".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_milliseconds() {
        assert_eq!(ttl_ms(None), None);
        assert_eq!(ttl_ms(Some(Duration::ZERO)), Some(0));
        assert_eq!(ttl_ms(Some(Duration::from_micros(1))), Some(1));
        assert_eq!(ttl_ms(Some(Duration::from_millis(1500))), Some(1500));
        assert_eq!(ttl_ms(Some(Duration::MAX)), None);
    }

    #[test]
    fn prefixes_with_braces_are_rejected() {
        assert!(checked_prefix("pow").is_ok());
        assert!(checked_prefix("app{x}").is_err());
    }
}

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
use keys::{
    decode_group, decode_key, encode_namespace, field_name, glob_prefix, group_name, place, Place,
    GROUP_MARK,
};
pub use options::RedisStoreOptions;
use scripts::{GROUP_GRACE_MS, INCR_FIELD, INCR_PLAIN, INSERT_FIELD_IF_ABSENT, PUT_FIELDS};

/// TTLs longer than this (about a century) are stored without expiry.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;

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
/// A key of one segment is a Redis string key of its own; a key of two segments or more is
/// a field of the hash named by its first two segments (its *group*), so that a user's
/// records (`["user", id]`, `["user", id, "session", …]`, …) live in one hash:
///
/// ```text
/// <prefix>:{<ns>}:<segment>                   the value, written with SET ... PX <ttl>
/// <prefix>:{<ns>}:_g:<first>:<second>         hash: field = the other segments (`%` for
///                                             none), value = expiry (8 bytes, big-endian
///                                             ms since the epoch, 0 for none) + the value
/// ```
///
/// - The namespace sits in a Redis Cluster *hash tag* (`{...}`), so all keys of a namespace
///   hash to one cluster slot. That is what lets one `MULTI`/`EXEC` transaction write a
///   batch of records, on a single server and on a cluster alike.
/// - Inside the namespace, `%`, `{` and `}` are written `%25`, `%7B`, `%7D` (so the hash tag
///   always closes where it should); an empty namespace is written `%`.
/// - Inside a segment, `%` is written `%25` and `:` is written `%3A`, so the `:` between
///   segments is unambiguous. A `_` opening the first segment is written `%5F`, which keeps
///   the names `<prefix>:{<ns>}:_...` free for the groups. A key with no segments is
///   written `%`.
/// - String keys' TTLs are enforced by Redis (`SET ... PX`). A field's expiry is stored with
///   it and judged by the reader (the application server's clock): an expired field is
///   never returned, listed or taken. Every write to a group drops its expired fields and
///   lets the hash expire a minute after its last live field (the minute absorbs clock
///   differences between servers), or persist while a field has no expiry. A group of more
///   than 128 fields drops the expired ones among 16 random fields and only extends its
///   TTL, so that a write costs the same however large a group grew.
/// - No index: [`Store::all`] with the first two segments exact reads their group
///   (`HGETALL`: one user's records, in proportion to them); a pattern of exact segments is
///   one read; any other pattern scans the namespace (`SCAN MATCH`, in proportion to the
///   keys of the server or of the cluster node holding the namespace). pow-rs lists only
///   within a group.
/// - A signed-in request reads its session and its user with one `HMGET` of their group.
/// - A put with a zero TTL removes the records; TTLs are rounded up to whole milliseconds,
///   and a TTL longer than a century is stored without expiry.
/// - Puts are one `MULTI`/`EXEC` transaction (a Lua script per group). A take is `GETDEL`
///   (Redis 6.2 or newer), or `HGET` and `HDEL` in one transaction, so of two concurrent
///   takes only one gets the value. `insert_if_absent` is `SET NX` or a Lua script; `incr`
///   a Lua script (`INCRBY` for a string key; a field counts in Lua numbers, exactly up to
///   2^53), the TTL set only when the counter is created.
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

    /// Drops `names` (Redis keys) from the local read cache, once a write to them has been
    /// answered, so this process reads its own write on its next request.
    fn forget<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        if let Some(near) = &self.near {
            for name in names {
                near.cache.invalidate(name.as_bytes());
            }
        }
    }

    /// Every Redis key of the namespace whose root is `root` that starts with `start`
    /// (`SCAN`: in proportion to the keys of the server, or of the cluster node holding the
    /// namespace).
    async fn scan(&self, root: &str, start: &str) -> Result<Vec<String>, StoreError> {
        let glob = glob_prefix(&format!("{root}{start}"));
        // On a cluster the namespace's hash tag puts all of its keys on one node: find it
        // once, then page through that node alone.
        let route = match &self.conn {
            Connection::Single(_) => None,
            Connection::Cluster(_) => {
                let slot: u16 = self
                    .conn
                    .query(::redis::cmd("CLUSTER").arg("KEYSLOT").arg(root))
                    .await?;
                Some(::redis::cluster_routing::RoutingInfo::SingleNode(
                    ::redis::cluster_routing::SingleNodeRoutingInfo::SpecificNode(
                        ::redis::cluster_routing::Route::new(
                            slot,
                            ::redis::cluster_routing::SlotAddr::Master,
                        ),
                    ),
                ))
            }
        };
        let mut names = std::collections::BTreeSet::new();
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = ::redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&glob)
                .arg("COUNT")
                .arg(1000);
            let (next, batch): (u64, Vec<String>) = match (&self.conn, &route) {
                (Connection::Cluster(conn), Some(route)) => {
                    let value = conn
                        .clone()
                        .route_command(cmd, route.clone())
                        .await
                        .map_err(map_error)?;
                    ::redis::from_redis_value(value)
                        .map_err(|err| StoreError::Backend(format!("redis: {err}")))?
                }
                _ => self.conn.query(&cmd).await?,
            };
            names.extend(batch);
            if next == 0 {
                return Ok(names.into_iter().collect());
            }
            cursor = next;
        }
    }

    /// The live records of `group` (whose first two segments are `head`) matching
    /// `pattern` (all of the pattern, the first two segments included).
    async fn group_records(
        &self,
        group: &str,
        head: &[String; 2],
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        let fields: Vec<(String, Vec<u8>)> =
            self.conn.query(::redis::cmd("HGETALL").arg(group)).await?;
        let now = now_ms();
        Ok(fields
            .into_iter()
            .filter_map(|(field, value)| {
                let rest = decode_key(&field)?;
                let key = Key(head.iter().cloned().chain(rest.0).collect());
                let value = open_field(&value, now)?.to_vec();
                key.matches(pattern).then_some((key, value))
            })
            .collect())
    }
}

/// A field's stored value: its expiry (ms since the epoch, 0 for none) and the record.
fn field_value(expires_at: u64, value: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(8 + value.len());
    stored.extend_from_slice(&expires_at.to_be_bytes());
    stored.extend_from_slice(value);
    stored
}

/// A field's stored value split into its expiry and its record (`None` if it is not one).
pub(super) fn split_field(stored: &[u8]) -> Option<(u64, &[u8])> {
    let (head, value) = stored.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*head), value))
}

/// Whether a field expiring at `expires_at` (0: never) is live at `now`.
pub(super) fn field_live(expires_at: u64, now: u64) -> bool {
    expires_at == 0 || expires_at > now
}

/// The record of a field's stored value, unless it expired by `now` (or is not one).
fn open_field(stored: &[u8], now: u64) -> Option<&[u8]> {
    let (expires_at, value) = split_field(stored)?;
    field_live(expires_at, now).then_some(value)
}

/// When a record written now with `ttl` (in ms; `None` for none) expires, as a field's
/// expiry.
fn expiry_of(ttl: Option<u64>, now: u64) -> u64 {
    ttl.map_or(0, |ms| now.saturating_add(ms.max(1)))
}

/// An `EVAL` of `script` on `group` with the time arguments every group script takes.
fn group_eval(script: &str, group: &str, now: u64) -> Cmd {
    let mut eval = ::redis::cmd("EVAL");
    eval.arg(script)
        .arg(1)
        .arg(group)
        .arg(now)
        .arg(GROUP_GRACE_MS);
    eval
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
        let now = now_ms();
        let ttl = ttl_ms(ttl);
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        // Group -> its fields and values, in first-seen order.
        let mut groups: Vec<(String, Vec<(String, Vec<u8>)>)> = Vec::new();
        // The keys to drop from the local read cache, if there is one.
        let mut touched = Vec::new();
        for (key, value) in records {
            let place = place(&root, key.segments());
            if self.near.is_some() {
                touched.push(place.redis_key().to_owned());
            }
            match place {
                Place::Plain(name) if ttl == Some(0) => {
                    pipe.cmd("DEL").arg(name).ignore();
                }
                Place::Plain(name) => {
                    let set = pipe.cmd("SET").arg(name).arg(value);
                    if let Some(ms) = ttl {
                        set.arg("PX").arg(ms);
                    }
                    set.ignore();
                }
                Place::Field { group, field } if ttl == Some(0) => {
                    pipe.cmd("HDEL").arg(group).arg(field).ignore();
                }
                Place::Field { group, field } => {
                    let stored = field_value(expiry_of(ttl, now), &value);
                    match groups.iter_mut().find(|(name, _)| *name == group) {
                        Some((_, fields)) => fields.push((field, stored)),
                        None => groups.push((group, vec![(field, stored)])),
                    }
                }
            }
        }
        for (group, fields) in &groups {
            let mut eval = group_eval(&PUT_FIELDS, group, now);
            for (field, stored) in fields {
                eval.arg(field).arg(stored);
            }
            pipe.add_command(eval).ignore();
        }
        let result = self.conn.query_pipe::<()>(&pipe).await;
        self.forget(touched.iter().map(String::as_str));
        result
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        match place(&self.namespace_root(namespace), key.segments()) {
            Place::Plain(name) => self.conn.query(::redis::cmd("GET").arg(name)).await,
            Place::Field { group, field } => {
                let stored: Option<Vec<u8>> = self
                    .conn
                    .query(::redis::cmd("HGET").arg(group).arg(field))
                    .await?;
                Ok(stored.and_then(|stored| Some(open_field(&stored, now_ms())?.to_vec())))
            }
        }
    }

    /// One round trip: an `HMGET` when the keys share a group (a session and its user do),
    /// else a pipeline of reads. The keys of a namespace share its hash tag, so a cluster
    /// serves them from one node.
    async fn get_many(
        &self,
        namespace: &str,
        keys: &[Key],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let root = self.namespace_root(namespace);
        let places: Vec<Place> = keys
            .iter()
            .map(|key| place(&root, key.segments()))
            .collect();
        self.read_places(&places).await
    }

    /// [`get_many`](Self::get_many) from segments, through the local read cache when it is
    /// on.
    async fn get_many_shared(
        &self,
        namespace: &str,
        keys: &[&[&str]],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        let root = self.namespace_root(namespace);
        let places: Vec<Place> = keys.iter().map(|segments| place(&root, segments)).collect();
        if let Some(near) = &self.near {
            return near.get_many(&places).await;
        }
        Ok(self
            .read_places(&places)
            .await?
            .into_iter()
            .map(|value| value.map(Arc::from))
            .collect())
    }

    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError> {
        let place = place(&self.namespace_root(namespace), key.segments());
        let result = match &place {
            Place::Plain(name) => self.conn.query::<()>(::redis::cmd("DEL").arg(name)).await,
            Place::Field { group, field } => {
                self.conn
                    .query::<()>(::redis::cmd("HDEL").arg(group).arg(field))
                    .await
            }
        };
        self.forget([place.redis_key()]);
        result
    }

    /// Keys of two or more segments whose first two are exact read one group (`HGETALL`);
    /// an exact key is one read; any other pattern scans the namespace's keys (`SCAN`), in
    /// proportion to the keys of the server.
    async fn all(
        &self,
        namespace: &str,
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        let root = self.namespace_root(namespace);
        let exact: Option<Vec<String>> = pattern
            .iter()
            .map(|segment| match segment {
                KeyPattern::Exact(s) => Some(s.clone()),
                KeyPattern::Any => None,
            })
            .collect();
        if let Some(segments) = exact {
            let key = Key(segments);
            let value = self.get(namespace, &key).await?;
            return Ok(value.map(|value| (key, value)).into_iter().collect());
        }
        if let [KeyPattern::Exact(a), KeyPattern::Exact(b), ..] = pattern {
            let group = group_name(&root, a, b);
            return self
                .group_records(&group, &[a.clone(), b.clone()], pattern)
                .await;
        }
        let start = match pattern {
            [KeyPattern::Exact(a), _, ..] => format!("{GROUP_MARK}{}:", field_name(&[a])),
            [_, _, ..] => GROUP_MARK.to_owned(),
            _ => String::new(),
        };
        let mut records = Vec::new();
        for name in self.scan(&root, &start).await? {
            let Some(rest) = name.strip_prefix(&root) else {
                continue;
            };
            if let Some(group) = rest.strip_prefix(GROUP_MARK) {
                let Some(head) = decode_group(group) else {
                    continue;
                };
                let head_matches = pattern.len() >= 2 && Key(head.to_vec()).matches(&pattern[..2]);
                if head_matches {
                    records.extend(self.group_records(&name, &head, pattern).await?);
                }
            } else if !rest.starts_with('_') {
                // A key of its own (internal names start with `_`); only keys of one
                // segment are (names of another layout are not this store's).
                let Some(key) = decode_key(rest) else {
                    continue;
                };
                if key.segments().len() <= 1 && key.matches(pattern) {
                    let value: Option<Vec<u8>> =
                        self.conn.query(::redis::cmd("GET").arg(&name)).await?;
                    records.extend(value.map(|value| (key, value)));
                }
            }
        }
        Ok(records)
    }

    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let place = place(&self.namespace_root(namespace), key.segments());
        let result = match &place {
            Place::Plain(name) => {
                self.conn
                    .query::<Option<Vec<u8>>>(::redis::cmd("GETDEL").arg(name))
                    .await
            }
            Place::Field { group, field } => {
                // One transaction: of two concurrent takes, only one reads the value.
                let mut pipe = ::redis::pipe();
                pipe.atomic()
                    .cmd("HGET")
                    .arg(group)
                    .arg(field)
                    .cmd("HDEL")
                    .arg(group)
                    .arg(field)
                    .ignore();
                self.conn
                    .query_pipe::<(Option<Vec<u8>>,)>(&pipe)
                    .await
                    .map(|(stored,)| {
                        stored.and_then(|stored| Some(open_field(&stored, now_ms())?.to_vec()))
                    })
            }
        };
        self.forget([place.redis_key()]);
        result
    }

    async fn insert_if_absent(
        &self,
        namespace: &str,
        (key, value): Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let place = place(&self.namespace_root(namespace), key.segments());
        // A zero TTL would be refused by Redis; one millisecond expires just as surely.
        let ttl = ttl_ms(ttl).map(|ms| ms.max(1));
        let result = match &place {
            Place::Plain(name) => {
                let mut set = ::redis::cmd("SET");
                set.arg(name).arg(&value).arg("NX");
                if let Some(ms) = ttl {
                    set.arg("PX").arg(ms);
                }
                self.conn
                    .query::<Option<String>>(&set)
                    .await
                    .map(|reply| reply.is_some())
            }
            Place::Field { group, field } => {
                let now = now_ms();
                let mut eval = group_eval(&INSERT_FIELD_IF_ABSENT, group, now);
                eval.arg(field)
                    .arg(field_value(expiry_of(ttl, now), &value));
                self.conn
                    .query::<i64>(&eval)
                    .await
                    .map(|stored| stored == 1)
            }
        };
        self.forget([place.redis_key()]);
        result
    }

    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        let place = place(&self.namespace_root(namespace), key.segments());
        let ttl = ttl_ms(ttl).map(|ms| ms.max(1));
        let result = match &place {
            Place::Plain(name) => {
                // INCRBY takes a signed 64-bit increment.
                let by = by.min(i64::MAX.unsigned_abs());
                let mut eval = ::redis::cmd("EVAL");
                eval.arg(INCR_PLAIN)
                    .arg(1)
                    .arg(name)
                    .arg(by)
                    .arg(ttl.map(|ms| ms.to_string()).unwrap_or_default());
                self.conn.query::<i64>(&eval).await
            }
            Place::Field { group, field } => {
                // Counted in Lua numbers: exact up to 2^53.
                let by = by.min(1 << 53);
                let now = now_ms();
                let mut eval = group_eval(&INCR_FIELD, group, now);
                eval.arg(field)
                    .arg(by)
                    .arg(&expiry_of(ttl, now).to_be_bytes()[..]);
                self.conn.query::<i64>(&eval).await
            }
        };
        self.forget([place.redis_key()]);
        u64::try_from(result?).map_err(|_| {
            StoreError::Backend("redis: the value under this key is not a counter".into())
        })
    }
}

impl RedisStore {
    /// The values at `places`, in one round trip.
    async fn read_places(&self, places: &[Place]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let now = now_ms();
        // The common case, a session and its user: one HMGET.
        if let Some(Place::Field { group, .. }) = places.first() {
            let fields: Option<Vec<&str>> = places
                .iter()
                .map(|place| match place {
                    Place::Field { group: g, field } if g == group => Some(field.as_str()),
                    _ => None,
                })
                .collect();
            if let Some(fields) = fields {
                let stored: Vec<Option<Vec<u8>>> = self
                    .conn
                    .query(::redis::cmd("HMGET").arg(group).arg(&fields))
                    .await?;
                return Ok(stored
                    .into_iter()
                    .map(|stored| Some(open_field(&stored?, now)?.to_vec()))
                    .collect());
            }
        }
        if places.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for place in places {
            match place {
                Place::Plain(name) => pipe.cmd("GET").arg(name),
                Place::Field { group, field } => pipe.cmd("HGET").arg(group).arg(field),
            };
        }
        let stored: Vec<Option<Vec<u8>>> = self.conn.query_pipe(&pipe).await?;
        Ok(places
            .iter()
            .zip(stored)
            .map(|(place, stored)| match place {
                Place::Plain(_) => stored,
                Place::Field { .. } => Some(open_field(&stored?, now)?.to_vec()),
            })
            .collect())
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

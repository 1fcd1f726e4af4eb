//! Redis cache-store backend (feature `redis`): see [`RedisStore`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, ServerErrorKind};
use async_trait::async_trait;

use super::{Key, KeyPattern, Record, Store, StoreError};

/// Index members that expired longer ago than this are removed from the index.
const INDEX_GRACE_MS: u64 = 60_000;
/// TTLs longer than this (about a century) are stored without expiry.
const MAX_TTL_MS: u128 = 100 * 365 * 24 * 60 * 60 * 1000;
/// Largest number of keys fetched by one `MGET`.
const MGET_CHUNK: usize = 500;
/// Name of the per-namespace index entry (see [`RedisStore`]).
const INDEX_NAME: &str = "__index";
/// Start of the name of a parent index entry: `__index:<encoded parent>` (see [`RedisStore`]).
const PARENT_INDEX_NAME: &str = "__index:";

/// Removes index members whose value key no longer exists, e.g. after an eviction by Redis'
/// `maxmemory` policy. KEYS[1] is the namespace index; for the i-th member (ARGV[i]),
/// KEYS[2i] is its value key and KEYS[2i+1] its parent index (or the namespace index again
/// for a key without parent). Checking inside the script keeps a concurrent put of the same
/// key safe.
const PRUNE_VANISHED: &str = r"
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[2 * i]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2 * i + 1], ARGV[i])
  end
end
return 0
";

/// Keeps an index (KEYS[1]) from outliving its members: drops members whose expiry (the
/// score) lies before ARGV[1], then lets the index expire ARGV[3] ms after its latest member,
/// counted from now (ARGV[2], ms since the epoch), or persist while a member has no expiry.
/// Every write to an index runs it, so an index nobody writes or reads again still goes.
const REFRESH_INDEX: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  return 0
end
if last[2] == 'inf' or last[2] == '+inf' then
  redis.call('PERSIST', KEYS[1])
else
  local ms = math.ceil(tonumber(last[2]) - tonumber(ARGV[2]) + tonumber(ARGV[3]))
  if ms < 1 then
    ms = 1
  end
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ms))
end
return 0
";

/// Connection settings for [`RedisStore`].
#[derive(Clone, Debug)]
pub struct RedisStoreOptions {
    prefix: String,
    connection_timeout: Duration,
    response_timeout: Duration,
    reconnect_attempts: usize,
}

impl Default for RedisStoreOptions {
    fn default() -> Self {
        Self {
            prefix: RedisStore::DEFAULT_PREFIX.to_owned(),
            connection_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            reconnect_attempts: 2,
        }
    }
}

impl RedisStoreOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefix of every key the store writes. Give each application sharing one Redis its own
    /// prefix. It must not contain `{` or `}`. The default value is `"pow"`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Longest wait for a TCP connection to a Redis server. The default value is 2 seconds.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Longest wait for the reply to a command. The default value is 2 seconds.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many times a lost connection is retried (with a short backoff) before a command
    /// fails with [`StoreError::Unavailable`]. Later commands try again. The default value is 2.
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }
}

/// A connection to one server or to a cluster.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let result = match self {
            Self::Single(conn) => cmd.query_async(&mut conn.clone()).await,
            Self::Cluster(conn) => cmd.query_async(&mut conn.clone()).await,
        };
        result.map_err(map_error)
    }

    async fn query_pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, StoreError> {
        let result = match self {
            Self::Single(conn) => pipe.query_async(&mut conn.clone()).await,
            Self::Cluster(conn) => pipe.query_async(&mut conn.clone()).await,
        };
        result.map_err(map_error)
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
///   value.
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
    prefix: Arc<str>,
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
        let client = ::redis::Client::open(url).map_err(map_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(options.reconnect_attempts)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(map_error)?;
        Ok(Self {
            conn: Connection::Single(manager),
            prefix,
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
        if urls.is_empty() {
            return Err(StoreError::Backend(
                "a Redis Cluster needs at least one node URL".to_owned(),
            ));
        }
        let retries = u32::try_from(options.reconnect_attempts).unwrap_or(u32::MAX);
        let client = ClusterClient::builder(urls.iter().map(|url| url.as_ref()))
            .connection_timeout(options.connection_timeout)
            .response_timeout(options.response_timeout)
            .retries(retries)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .build()
            .map_err(map_error)?;
        let conn = client.get_async_connection().await.map_err(map_error)?;
        Ok(Self {
            conn: Connection::Cluster(conn),
            prefix,
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

    fn index_key(&self, namespace: &str) -> String {
        self.namespace_root(namespace) + INDEX_NAME
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

/// The parent index of keys whose segments but the last are `parent`, under `root` (the
/// namespace root); `None` for an empty parent (keys of one segment have no parent index).
fn parent_index_key(root: &str, parent: &[String]) -> Option<String> {
    (!parent.is_empty()).then(|| format!("{root}{PARENT_INDEX_NAME}{}", encode_segments(parent)))
}

/// The parent index `key` belongs to, if it has one.
fn parent_index_of(root: &str, key: &Key) -> Option<String> {
    let segments = key.segments();
    parent_index_key(root, segments.get(..segments.len().saturating_sub(1))?)
}

/// `EVAL` of [`REFRESH_INDEX`] for `index`.
fn refresh_index(index: &str, now: u64) -> Cmd {
    let mut eval = ::redis::cmd("EVAL");
    eval.arg(REFRESH_INDEX)
        .arg(1)
        .arg(index)
        .arg(now.saturating_sub(INDEX_GRACE_MS))
        .arg(now)
        .arg(INDEX_GRACE_MS);
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The TTL in whole milliseconds, rounded up; `None` for no expiry.
fn ttl_ms(ttl: Option<Duration>) -> Option<u64> {
    let ttl = ttl?;
    let ms = ttl.as_nanos().div_ceil(1_000_000);
    if ms > MAX_TTL_MS {
        return None;
    }
    u64::try_from(ms).ok()
}

fn push_escaped(out: &mut String, c: char) {
    out.push_str(&format!("%{:02X}", u32::from(c)));
}

fn encode_namespace(namespace: &str) -> String {
    if namespace.is_empty() {
        return "%".to_owned();
    }
    let mut out = String::with_capacity(namespace.len());
    for c in namespace.chars() {
        match c {
            '%' | '{' | '}' => push_escaped(&mut out, c),
            _ => out.push(c),
        }
    }
    out
}

/// Encodes a key's segments (the part after the namespace; see [`RedisStore`]).
fn encode_key(key: &Key) -> String {
    encode_segments(key.segments())
}

/// [`encode_key`] for a list of segments.
fn encode_segments(segments: &[String]) -> String {
    if segments.is_empty() {
        return "%".to_owned();
    }
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        for (j, c) in segment.chars().enumerate() {
            match c {
                '%' | ':' => push_escaped(&mut out, c),
                '_' if i == 0 && j == 0 => push_escaped(&mut out, c),
                _ => out.push(c),
            }
        }
    }
    out
}

/// Decodes [`encode_key`]'s output; `None` if it is not a valid encoding.
fn decode_key(encoded: &str) -> Option<Key> {
    if encoded == "%" {
        return Some(Key(Vec::new()));
    }
    encoded
        .split(':')
        .map(percent_decode)
        .collect::<Option<Vec<_>>>()
        .map(Key)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// How [`Store::all`] finds the candidates for a pattern (see [`RedisStore`]).
enum Lookup {
    /// Every segment is exact: the one key they name.
    Key(Key),
    /// Exact segments and a final wildcard: the parent index of the exact ones.
    Parent(String),
    /// Anything else: the namespace index.
    Namespace,
}

impl Lookup {
    fn for_pattern(root: &str, pattern: &[KeyPattern]) -> Self {
        let mut exact = Vec::with_capacity(pattern.len());
        for (i, segment) in pattern.iter().enumerate() {
            match segment {
                KeyPattern::Exact(s) => exact.push(s.clone()),
                KeyPattern::Any if i + 1 == pattern.len() => {
                    return parent_index_key(root, &exact).map_or(Self::Namespace, Self::Parent)
                }
                KeyPattern::Any => return Self::Namespace,
            }
        }
        Self::Key(Key(exact))
    }
}

#[async_trait]
impl Store for RedisStore {
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
        self.conn.query_pipe::<()>(&pipe).await
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let data_key = self.namespace_root(namespace) + &encode_key(key);
        self.conn.query(::redis::cmd("GET").arg(data_key)).await
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
        self.conn.query_pipe::<()>(&pipe).await
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
        let (value,): (Option<Vec<u8>>,) = self.conn.query_pipe(&pipe).await?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Key {
        Key(parts.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn keys_round_trip_through_the_encoding() {
        let cases = [
            key(&[]),
            key(&[""]),
            key(&["", ""]),
            key(&["%"]),
            key(&["a:b", "c"]),
            key(&["a", "b:c"]),
            key(&["__index"]),
            key(&["_x", "_y"]),
            key(&["%3A"]),
            key(&["{ns}", "ünïcødé", "😀"]),
        ];
        for case in cases {
            let encoded = encode_key(&case);
            assert_eq!(decode_key(&encoded), Some(case.clone()), "{encoded}");
        }
    }

    #[test]
    fn distinct_keys_encode_distinctly() {
        let keys = [
            key(&[]),
            key(&[""]),
            key(&["", ""]),
            key(&["a:b"]),
            key(&["a", "b"]),
            key(&["%"]),
            key(&["%25"]),
        ];
        let encoded: std::collections::HashSet<String> = keys.iter().map(encode_key).collect();
        assert_eq!(encoded.len(), keys.len());
    }

    #[test]
    fn no_key_collides_with_the_index() {
        assert_eq!(encode_key(&key(&["__index"])), "%5F_index");
        assert!(!encode_key(&key(&["_"])).starts_with('_'));
        assert_eq!(encode_key(&key(&["a", "_b"])), "a:_b");
    }

    #[test]
    fn namespaces_cannot_break_the_hash_tag() {
        assert_eq!(encode_namespace("credentials"), "credentials");
        assert_eq!(encode_namespace("a}b{c%"), "a%7Db%7Bc%25");
        assert_eq!(encode_namespace(""), "%");
        assert_ne!(encode_namespace("%"), encode_namespace(""));
    }

    #[test]
    fn invalid_encodings_are_rejected() {
        assert_eq!(decode_key("%4"), None);
        assert_eq!(decode_key("%zz"), None);
        assert_eq!(decode_key("%FF"), None);
    }

    #[test]
    fn ttls_round_up_to_milliseconds() {
        assert_eq!(ttl_ms(None), None);
        assert_eq!(ttl_ms(Some(Duration::ZERO)), Some(0));
        assert_eq!(ttl_ms(Some(Duration::from_micros(1))), Some(1));
        assert_eq!(ttl_ms(Some(Duration::from_millis(1500))), Some(1500));
        assert_eq!(ttl_ms(Some(Duration::MAX)), None);
    }

    #[test]
    fn parent_indexes_are_internal_names_per_parent() {
        let root = "p:{ns}:";
        assert_eq!(parent_index_of(root, &key(&[])), None);
        assert_eq!(parent_index_of(root, &key(&["a"])), None);
        assert_eq!(
            parent_index_of(root, &key(&["user", "7", "session", "s1"])).as_deref(),
            Some("p:{ns}:__index:user:7:session")
        );
        // Parents that a naive join would confuse get distinct indexes, none of them a value.
        assert_eq!(
            parent_index_of(root, &key(&["a:b", "c"])).as_deref(),
            Some("p:{ns}:__index:a%3Ab")
        );
        assert_eq!(
            parent_index_of(root, &key(&["a", "b", "c"])).as_deref(),
            Some("p:{ns}:__index:a:b")
        );
        assert_eq!(
            parent_index_of(root, &key(&["_x", "y"])).as_deref(),
            Some("p:{ns}:__index:%5Fx")
        );
    }

    #[test]
    fn patterns_pick_the_narrowest_lookup() {
        let root = "p:{ns}:";
        let exact = KeyPattern::exact;
        let lookup = |pattern: &[KeyPattern]| match Lookup::for_pattern(root, pattern) {
            Lookup::Key(key) => format!("key {key:?}"),
            Lookup::Parent(index) => format!("parent {index}"),
            Lookup::Namespace => "namespace".to_owned(),
        };
        assert_eq!(lookup(&[]), "key Key([])");
        assert_eq!(lookup(&[exact("a"), exact("b")]), r#"key Key(["a", "b"])"#);
        assert_eq!(
            lookup(&[exact("user"), exact("7"), exact("session"), KeyPattern::Any]),
            "parent p:{ns}:__index:user:7:session"
        );
        assert_eq!(lookup(&[KeyPattern::Any]), "namespace");
        assert_eq!(lookup(&[KeyPattern::Any, exact("b")]), "namespace");
        assert_eq!(
            lookup(&[
                exact("user"),
                KeyPattern::Any,
                exact("session"),
                KeyPattern::Any
            ]),
            "namespace"
        );
    }

    #[test]
    fn prefixes_with_braces_are_rejected() {
        assert!(checked_prefix("pow").is_ok());
        assert!(checked_prefix("app{x}").is_err());
    }
}

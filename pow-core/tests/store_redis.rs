//! Tests of the Redis cache-store backend (`--features redis`).
//!
//! Set `POW_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379/`) to run them. Without it they
//! print a notice and pass, except under `CI`, where a missing variable fails the run. The
//! cluster and restart tests also start their own `redis-server` processes on loopback ports
//! 30000-49999, so they need `redis-server` and `redis-cli` on `PATH` (required under `CI`).
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[path = "support/scratch.rs"]
mod scratch;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pow_core::store::{
    conformance, Key, KeyPattern, RedisStore, RedisStoreOptions, Store, StoreError,
};
use redis_cluster::{
    free_port_pair, redis_binaries_available, RedisCluster, RedisServer, ScratchDir,
};

/// The Redis URL under test, or `None` (with a notice) when the tests should be skipped.
fn redis_url() -> Option<String> {
    match std::env::var("POW_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("POW_TEST_REDIS_URL must be set when CI is set (e.g. redis://127.0.0.1:6379/)")
        }
        _ => {
            pow_core::testing::skipped(
                "POW_TEST_REDIS_URL is not set: the Redis store test did not run",
            );
            None
        }
    }
}

/// Whether the tests that start their own servers can run (they need the same opt-in).
fn local_servers_enabled() -> bool {
    if redis_url().is_none() {
        return false;
    }
    if redis_binaries_available() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "redis-server and redis-cli must be on PATH when CI is set"
    );
    pow_core::testing::skipped(
        "redis-server/redis-cli not on PATH: the local-server Redis test did not run",
    );
    false
}

/// A key prefix of its own for each test, so parallel runs never collide.
fn unique_prefix() -> String {
    format!("pow-test-{}", pow_core::token::generate_uuid())
}

async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn raw<T: redis::FromRedisValue>(
    conn: &mut redis::aio::MultiplexedConnection,
    cmd: &redis::Cmd,
) -> T {
    cmd.query_async(conn).await.unwrap()
}

fn key(parts: &[&str]) -> Key {
    Key(parts.iter().map(|s| (*s).to_owned()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_single_node() {
    let Some(url) = redis_url() else { return };
    let store = RedisStore::connect(&url, &unique_prefix()).await.unwrap();
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn key_layout() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let store = RedisStore::connect(&url, &prefix).await.unwrap();
    let mut conn = raw_connection(&url).await;
    let root = format!("{prefix}:{{credentials}}:");

    let before = now_ms();
    store
        .put(
            "credentials",
            vec![
                (key(&["user", "7"]), b"user".to_vec()),
                (key(&["user", "7", "session", "s:1"]), b"session".to_vec()),
                (key(&["token"]), b"plain".to_vec()),
                (key(&["a:b", "_c"]), b"odd".to_vec()),
            ],
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    store
        .put(
            "credentials",
            vec![(key(&["__index"]), b"forever".to_vec())],
            None,
        )
        .await
        .unwrap();

    // Keys of one segment: string keys of their own, whose TTL Redis enforces.
    let get = |k: String| redis::cmd("GET").arg(k).clone();
    let value: Option<Vec<u8>> = raw(&mut conn, &get(format!("{root}token"))).await;
    assert_eq!(value.as_deref(), Some(&b"plain"[..]));
    let value: Option<Vec<u8>> = raw(&mut conn, &get(format!("{root}%5F_index"))).await;
    assert_eq!(value.as_deref(), Some(&b"forever"[..]));
    let pttl: i64 = raw(&mut conn, redis::cmd("PTTL").arg(format!("{root}token"))).await;
    assert!((59_000..=60_000).contains(&pttl), "PTTL {pttl}");

    // Keys of two segments or more: fields of the hash of their first two segments, each
    // value behind its expiry (8 bytes, ms since the epoch).
    let group: Vec<(String, Vec<u8>)> = raw(
        &mut conn,
        redis::cmd("HGETALL").arg(format!("{root}_g:user:7")),
    )
    .await;
    let mut group = group;
    group.sort();
    assert_eq!(group.len(), 2, "{group:?}");
    assert_eq!(group[0].0, "%");
    assert_eq!(&group[0].1[8..], b"user");
    assert_eq!(group[1].0, "session:s%3A1");
    assert_eq!(&group[1].1[8..], b"session");
    let expiry = u64::from_be_bytes(group[0].1[..8].try_into().unwrap());
    assert!(expiry >= before + 60_000 && expiry <= now_ms() + 60_000);
    // The hash lives a minute longer than its last field.
    let pttl: i64 = raw(
        &mut conn,
        redis::cmd("PTTL").arg(format!("{root}_g:user:7")),
    )
    .await;
    assert!((119_000..=120_000).contains(&pttl), "group PTTL {pttl}");
    let odd: Vec<(String, Vec<u8>)> = raw(
        &mut conn,
        redis::cmd("HGETALL").arg(format!("{root}_g:a%3Ab:_c")),
    )
    .await;
    assert_eq!(odd.len(), 1);
    assert_eq!(odd[0].0, "%");
    // No index: a session and its user are all a user's records cost.
    let keys: Vec<String> = raw(&mut conn, redis::cmd("KEYS").arg(format!("{prefix}:*"))).await;
    assert_eq!(keys.len(), 4, "{keys:?}");

    // Deletes and takes remove fields; an empty group leaves nothing behind.
    store
        .delete("credentials", &key(&["user", "7"]))
        .await
        .unwrap();
    let taken = store
        .take("credentials", &key(&["user", "7", "session", "s:1"]))
        .await
        .unwrap();
    assert_eq!(taken.as_deref(), Some(&b"session"[..]));
    assert_eq!(
        store
            .take("credentials", &key(&["user", "7", "session", "s:1"]))
            .await
            .unwrap(),
        None
    );
    let taken = store.take("credentials", &key(&["__index"])).await.unwrap();
    assert_eq!(taken.as_deref(), Some(&b"forever"[..]));
    store
        .delete("credentials", &key(&["a:b", "_c"]))
        .await
        .unwrap();
    store.delete("credentials", &key(&["token"])).await.unwrap();
    let left: Vec<String> = raw(&mut conn, redis::cmd("KEYS").arg(format!("{prefix}:*"))).await;
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}

#[tokio::test]
async fn fields_expire_on_their_own() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let store = RedisStore::connect(&url, &prefix).await.unwrap();
    let mut conn = raw_connection(&url).await;
    let group = format!("{prefix}:{{ns}}:_g:user:7");
    let user = key(&["user", "7"]);
    let claim = key(&["user", "7", "renewing", "s1"]);
    store
        .put(
            "ns",
            vec![(user.clone(), b"user".to_vec())],
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let short = Duration::from_millis(30);
    store
        .put("ns", vec![(claim.clone(), b"claim".to_vec())], Some(short))
        .await
        .unwrap();
    let written = Instant::now();
    assert_eq!(
        store.get("ns", &claim).await.unwrap().as_deref(),
        Some(&b"claim"[..])
    );

    tokio::time::sleep_until((written + short + Duration::from_millis(5)).into()).await;
    // Expired while its group lives on: never read, listed or taken again...
    assert_eq!(store.get("ns", &claim).await.unwrap(), None);
    let pattern = [
        KeyPattern::exact("user"),
        KeyPattern::exact("7"),
        KeyPattern::exact("renewing"),
        KeyPattern::Any,
    ];
    assert!(store.all("ns", &pattern).await.unwrap().is_empty());
    assert_eq!(store.take("ns", &claim).await.unwrap(), None);
    // ... and free to be claimed again.
    assert!(store
        .insert_if_absent("ns", (claim.clone(), b"again".to_vec()), Some(short))
        .await
        .unwrap());
    tokio::time::sleep(short + Duration::from_millis(5)).await;
    // The next write to the group drops the expired field.
    store
        .put(
            "ns",
            vec![(user.clone(), b"user2".to_vec())],
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let fields: Vec<String> = raw(&mut conn, redis::cmd("HKEYS").arg(&group)).await;
    assert_eq!(fields, vec!["%".to_owned()]);
    assert_eq!(
        store.get("ns", &user).await.unwrap().as_deref(),
        Some(&b"user2"[..])
    );
}

#[tokio::test]
async fn a_large_group_costs_the_same_per_write() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let store = RedisStore::connect(&url, &prefix).await.unwrap();
    let mut conn = raw_connection(&url).await;
    let group = format!("{prefix}:{{ns}}:_g:user:7");
    let long = Some(Duration::from_secs(60));
    store
        .put("ns", vec![(key(&["user", "7"]), b"user".to_vec())], long)
        .await
        .unwrap();
    let short = Duration::from_millis(30);
    let tokens: Vec<(Key, Vec<u8>)> = (0..200)
        .map(|i| (key(&["user", "7", "token", &i.to_string()]), b"t".to_vec()))
        .collect();
    store.put("ns", tokens, Some(short)).await.unwrap();
    let written = Instant::now();
    // Past the size settled whole, a short-lived write only ever extends the group's TTL.
    let pttl: i64 = raw(&mut conn, redis::cmd("PTTL").arg(&group)).await;
    assert!(pttl > 110_000, "PTTL {pttl}");

    tokio::time::sleep_until((written + short + Duration::from_millis(5)).into()).await;
    let tokens = [
        KeyPattern::exact("user"),
        KeyPattern::exact("7"),
        KeyPattern::exact("token"),
        KeyPattern::Any,
    ];
    assert!(
        store.all("ns", &tokens).await.unwrap().is_empty(),
        "expired fields are not listed"
    );
    // Each write drops the expired fields among a sample.
    let before: i64 = raw(&mut conn, redis::cmd("HLEN").arg(&group)).await;
    assert_eq!(before, 201);
    store
        .put(
            "ns",
            vec![(key(&["user", "7", "x", "y"]), b"z".to_vec())],
            long,
        )
        .await
        .unwrap();
    let after: i64 = raw(&mut conn, redis::cmd("HLEN").arg(&group)).await;
    assert!(after < before, "{after} fields left");
    assert_eq!(
        store
            .get("ns", &key(&["user", "7"]))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"user"[..])
    );
}

#[tokio::test]
async fn listing_reads_one_group_or_scans_the_namespace() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let store = RedisStore::connect(&url, &prefix).await.unwrap();
    let session = |user: &str, id: &str| key(&["user", user, "session", id]);

    let mut records: Vec<(Key, Vec<u8>)> = (0..200)
        .map(|i| (session(&format!("other{i}"), "s"), b"x".to_vec()))
        .collect();
    records.push((session("7", "s1"), b"a".to_vec()));
    records.push((session("7", "s2"), b"b".to_vec()));
    // Same group, other lengths or names: not in the listing.
    records.push((key(&["user", "7", "session"]), b"short".to_vec()));
    records.push((key(&["user", "7", "session", "s3", "x"]), b"long".to_vec()));
    records.push((key(&["user", "7", "renewing", "s1"]), b"claim".to_vec()));
    records.push((key(&["user", "7"]), b"user".to_vec()));
    records.push((key(&["single"]), b"one".to_vec()));
    store
        .put("credentials", records, Some(Duration::from_secs(60)))
        .await
        .unwrap();

    let pattern = [
        KeyPattern::exact("user"),
        KeyPattern::exact("7"),
        KeyPattern::exact("session"),
        KeyPattern::Any,
    ];
    let mut got = store.all("credentials", &pattern).await.unwrap();
    got.sort();
    assert_eq!(
        got,
        vec![
            (session("7", "s1"), b"a".to_vec()),
            (session("7", "s2"), b"b".to_vec()),
        ]
    );
    // Across groups: the namespace's keys are scanned.
    let across_users = [
        KeyPattern::exact("user"),
        KeyPattern::Any,
        KeyPattern::exact("session"),
        KeyPattern::Any,
    ];
    assert_eq!(
        store.all("credentials", &across_users).await.unwrap().len(),
        202
    );
    let users = [KeyPattern::exact("user"), KeyPattern::Any];
    assert_eq!(
        store.all("credentials", &users).await.unwrap(),
        vec![(key(&["user", "7"]), b"user".to_vec())]
    );
    assert_eq!(
        store.all("credentials", &[KeyPattern::Any]).await.unwrap(),
        vec![(key(&["single"]), b"one".to_vec())]
    );
    // Another namespace sees none of it.
    assert!(store.all("other", &across_users).await.unwrap().is_empty());
    // A pattern of exact segments reads the one key.
    assert_eq!(
        store
            .all(
                "credentials",
                &[
                    KeyPattern::exact("user"),
                    KeyPattern::exact("7"),
                    KeyPattern::exact("session")
                ]
            )
            .await
            .unwrap(),
        vec![(key(&["user", "7", "session"]), b"short".to_vec())]
    );
}

#[tokio::test]
async fn zero_ttl_put_removes_the_value() {
    let Some(url) = redis_url() else { return };
    let store = RedisStore::connect(&url, &unique_prefix()).await.unwrap();
    let k = key(&["k"]);
    store
        .put("ns", vec![(k.clone(), b"v".to_vec())], None)
        .await
        .unwrap();
    store
        .put("ns", vec![(k.clone(), b"w".to_vec())], Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(store.get("ns", &k).await.unwrap(), None);
    assert!(store
        .all("ns", &[KeyPattern::Any])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn prefix_with_braces_is_rejected() {
    let Some(url) = redis_url() else { return };
    let err = RedisStore::connect(&url, "app{1}").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

#[tokio::test]
async fn nothing_listening_is_unavailable_quickly() {
    if redis_url().is_none() {
        return;
    }
    // A port that was just free: nothing listens there.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let options = RedisStoreOptions::new()
        .prefix(unique_prefix())
        .connection_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let err = RedisStore::connect_with_options(&format!("redis://127.0.0.1:{port}/"), options)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let err = RedisStore::connect_cluster(&[format!("redis://127.0.0.1:{port}/")], "pow")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_server_is_unavailable_within_the_response_timeout() {
    if redis_url().is_none() {
        return;
    }
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
        }
    });
    let options = RedisStoreOptions::new()
        .prefix(unique_prefix())
        .connection_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300))
        .reconnect_attempts(1);
    let started = Instant::now();
    let err = RedisStore::connect_with_options(&format!("redis://127.0.0.1:{port}/"), options)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_single_node_with_local_cache() {
    let Some(url) = redis_url() else { return };
    let options = RedisStoreOptions::new()
        .prefix(unique_prefix())
        .local_cache(1_000);
    let store = RedisStore::connect_with_options(&url, options)
        .await
        .unwrap();
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn a_cluster_store_refuses_the_local_cache() {
    let options = RedisStoreOptions::new().local_cache(10);
    let err = RedisStore::connect_cluster_with_options(&["redis://127.0.0.1:1/"], options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("single server"), "{err}");
}

/// Reads `k` through the hot-path read until it answers `expected`, for at most two
/// seconds (Redis' invalidation message travels on its own).
async fn read_until(store: &RedisStore, k: &[&str], expected: Option<&[u8]>) -> Duration {
    let started = Instant::now();
    loop {
        // A connection killed under it answers `Unavailable` once, then reconnects.
        let got = match store.get_many_shared("ns", &[k]).await {
            Ok(got) => Some(got.into_iter().next().flatten()),
            Err(StoreError::Unavailable(_)) => None,
            Err(err) => panic!("{err:?}"),
        };
        if got.as_ref().is_some_and(|got| got.as_deref() == expected) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still {got:?}, expected {expected:?}"
        );
        tokio::task::yield_now().await;
    }
}

async fn hgetall_calls(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = raw(conn, redis::cmd("INFO").arg("commandstats")).await;
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_hgetall:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_cache_serves_reads_until_redis_says_they_changed() {
    if !local_servers_enabled() {
        return;
    }
    // A server of its own, so that its command counts are this test's.
    let dir = ScratchDir::new("redis-local-cache");
    let server = RedisServer::start(dir.path(), free_port_pair(), false);
    let prefix = unique_prefix();
    let cached = RedisStore::connect_with_options(
        &server.url(),
        RedisStoreOptions::new().prefix(&prefix).local_cache(100),
    )
    .await
    .unwrap();
    // Another process's store on the same Redis.
    let other = RedisStore::connect(&server.url(), &prefix).await.unwrap();
    let mut admin = raw_connection(&server.url()).await;
    let k: &[&str] = &["user", "7"];
    let put = |store: &RedisStore, value: &'static [u8]| {
        let store = store.clone();
        async move {
            store
                .put(
                    "ns",
                    vec![(key(&["user", "7"]), value.to_vec())],
                    Some(Duration::from_secs(60)),
                )
                .await
                .unwrap()
        }
    };

    put(&other, b"v1").await;
    let before = hgetall_calls(&mut admin).await;
    for _ in 0..20 {
        let got = cached.get_many_shared("ns", &[k]).await.unwrap();
        assert_eq!(got[0].as_deref(), Some(&b"v1"[..]));
    }
    assert_eq!(
        hgetall_calls(&mut admin).await - before,
        1,
        "one read from Redis, then the cache"
    );

    // Changed and deleted elsewhere: Redis' message drops the kept value.
    put(&other, b"v2").await;
    read_until(&cached, k, Some(b"v2")).await;
    other.delete("ns", &key(&["user", "7"])).await.unwrap();
    read_until(&cached, k, None).await;

    // This process's own write is seen on the very next read.
    put(&cached, b"v3").await;
    let got = cached.get_many_shared("ns", &[k]).await.unwrap();
    assert_eq!(got[0].as_deref(), Some(&b"v3"[..]));
    put(&cached, b"v4").await;
    let got = cached.get_many_shared("ns", &[k]).await.unwrap();
    assert_eq!(got[0].as_deref(), Some(&b"v4"[..]));

    // A lost connection loses Redis' memory of what was read: the cache is emptied, so a
    // change made while nobody was told is still seen.
    let _: () = raw(
        &mut admin,
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes"),
    )
    .await;
    // The user's record, written behind the store's back (no expiry).
    let _: () = raw(
        &mut admin,
        redis::cmd("HSET")
            .arg(format!("{prefix}:{{ns}}:_g:user:7"))
            .arg("%")
            .arg([&[0u8; 8][..], b"v5"].concat()),
    )
    .await;
    read_until(&cached, k, Some(b"v5")).await;

    // FLUSHALL empties it too.
    let _: () = raw(&mut admin, &redis::cmd("FLUSHALL")).await;
    read_until(&cached, k, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_when_redis_comes_back() {
    if !local_servers_enabled() {
        return;
    }
    let dir = ScratchDir::new("redis-restart");
    let port = free_port_pair();
    let mut server = RedisServer::start(dir.path(), port, false);
    let options = RedisStoreOptions::new()
        .prefix(unique_prefix())
        .connection_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500));
    let store = RedisStore::connect_with_options(&server.url(), options)
        .await
        .unwrap();
    let k = key(&["session"]);
    store
        .put("ns", vec![(k.clone(), b"v".to_vec())], None)
        .await
        .unwrap();

    server.kill();
    // The first command may see the dropped connection, later ones the refused reconnect:
    // both are `Unavailable`, and each answers within the bounded timeouts.
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.get("ns", &k).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }

    let _server = RedisServer::start(dir.path(), port, false);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.get("ns", &k).await {
            // The restarted server has no persistence, so the value is gone.
            Ok(value) => {
                assert_eq!(value, None);
                break;
            }
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("store did not recover: {err:?}"),
        }
    }
    store
        .put("ns", vec![(k.clone(), b"again".to_vec())], None)
        .await
        .unwrap();
    assert_eq!(
        store.get("ns", &k).await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cluster() {
    if !local_servers_enabled() {
        return;
    }
    let started = Instant::now();
    let cluster = RedisCluster::start(3);
    let cluster_ready = started.elapsed();

    let store = RedisStore::connect_cluster(&cluster.urls(), &unique_prefix())
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let suite_started = Instant::now();
    conformance::run_all(Arc::clone(&store)).await;
    let suite = suite_started.elapsed();

    // The namespaces used above spread over the cluster: check that a batch whose namespace
    // lives on each node works, i.e. the hash tag really routes whole namespaces.
    let mut slots_seen = std::collections::HashSet::new();
    let mut conn = raw_connection(&cluster.urls()[0]).await;
    for i in 0..30 {
        let ns = format!("ns{i}");
        let records = vec![
            (key(&["a"]), b"1".to_vec()),
            (key(&["b", "c"]), b"2".to_vec()),
        ];
        store
            .put(&ns, records, Some(Duration::from_secs(60)))
            .await
            .unwrap();
        let mut got = store.all(&ns, &[KeyPattern::Any]).await.unwrap();
        got.extend(
            store
                .all(&ns, &[KeyPattern::Any, KeyPattern::Any])
                .await
                .unwrap(),
        );
        assert_eq!(got.len(), 2, "namespace {ns}");
        assert_eq!(
            store
                .all(&ns, &[KeyPattern::exact("b"), KeyPattern::Any])
                .await
                .unwrap(),
            vec![(key(&["b", "c"]), b"2".to_vec())],
            "parent index of namespace {ns}"
        );
        store.delete(&ns, &key(&["b", "c"])).await.unwrap();
        assert!(store
            .all(&ns, &[KeyPattern::exact("b"), KeyPattern::Any])
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.take(&ns, &key(&["a"])).await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        let slot: i64 = raw(
            &mut conn,
            redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(format!("x:{{{ns}}}:y")),
        )
        .await;
        slots_seen.insert(slot);
    }
    // `redis-cli --cluster create` gives each of the 3 masters a third of the 16384 slots.
    let nodes_used: std::collections::HashSet<i64> =
        slots_seen.iter().map(|slot| slot * 3 / 16_384).collect();
    assert_eq!(
        nodes_used.len(),
        3,
        "the namespaces should spread over every master"
    );

    eprintln!(
        "redis cluster test: cluster up in {cluster_ready:?}, conformance suite in {suite:?}, \
         total {:?}",
        started.elapsed()
    );
    drop(cluster);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Each thread sends its commands over a connection of its own, opened under the runtime
/// that first used the store there. A runtime that shut down takes its connections with it:
/// a later runtime on the same thread (as in a test suite) opens a new one instead of
/// waiting on a dead one, and other threads are not affected.
#[test]
fn survives_the_runtime_that_first_used_it_on_a_thread() {
    let Some(url) = redis_url() else { return };
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    // Reads `k` under `rt`, failing (not hanging) if that wait is on a connection no
    // runtime drives.
    let read_within = |rt: &tokio::runtime::Runtime, store: &RedisStore, k: &Key, why: &str| {
        let read = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), store.get("ns", k)).await
        });
        read.unwrap_or_else(|_| panic!("{why}")).unwrap()
    };
    let first = runtime();
    let store = Arc::new(
        first
            .block_on(RedisStore::connect(&url, &unique_prefix()))
            .unwrap(),
    );
    let k = key(&["user", "1"]);
    first
        .block_on(store.put("ns", vec![(k.clone(), b"one".to_vec())], None))
        .unwrap();
    assert_eq!(
        first.block_on(store.get("ns", &k)).unwrap().as_deref(),
        Some(&b"one"[..])
    );
    drop(first);

    let second = runtime();
    assert_eq!(
        read_within(&second, &store, &k, "a dead runtime's connection was used").as_deref(),
        Some(&b"one"[..])
    );

    // Another thread, its own runtime and connection, sees the same data and writes too.
    let other = Arc::clone(&store);
    let k2 = k.clone();
    std::thread::spawn(move || {
        runtime().block_on(async {
            assert_eq!(
                other.get("ns", &k2).await.unwrap().as_deref(),
                Some(&b"one"[..])
            );
            other
                .put("ns", vec![(k2, b"two".to_vec())], None)
                .await
                .unwrap();
        });
    })
    .join()
    .unwrap();
    assert_eq!(
        second.block_on(store.get("ns", &k)).unwrap().as_deref(),
        Some(&b"two"[..])
    );
    // Two runtimes alive on one thread, taking turns: each uses a connection it drives.
    let third = runtime();
    for rt in [&second, &third, &second, &third] {
        assert_eq!(
            read_within(rt, &store, &k, "another runtime's connection was used").as_deref(),
            Some(&b"two"[..])
        );
    }
    second.block_on(store.delete("ns", &k)).unwrap();
}

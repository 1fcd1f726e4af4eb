//! Tests of the SQL cache-store backend on SQLite and PostgreSQL.
//!
//! The PostgreSQL half needs `POW_TEST_DATABASE_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); without it, it prints a notice and passes,
//! except under `CI`, where a missing variable fails the run. Each test works in a database
//! of its own (a file, or a schema).
#![cfg(all(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/db.rs"]
mod db;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use db::{TestDb, TestEnv};
use pow_core::store::{conformance, Key, SqlStore, Store, SQL_STORE_MIGRATIONS};
use pow_core::PowConfig;

/// Interval long enough that no background sweep runs during a test that does not want one.
const NO_SWEEP: Duration = Duration::from_secs(3600);

/// The backends under test: SQLite always, PostgreSQL when its URL is set.
fn backends(test: &str) -> Vec<TestEnv> {
    let mut envs = vec![TestEnv::sqlite()];
    envs.extend(TestEnv::postgres(test));
    envs
}

/// A store on a fresh database, its table created.
fn store(db: &TestDb) -> SqlStore {
    let store = SqlStore::with_sweep_interval(db.ctx.database().clone(), NO_SWEEP).unwrap();
    store.migrate().unwrap();
    store
}

fn key(parts: &[&str]) -> Key {
    Key(parts.iter().map(|s| (*s).to_owned()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sqlite() {
    let db = TestEnv::sqlite().db();
    conformance::run_all(Arc::new(store(&db))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_postgres() {
    let Some(env) = TestEnv::postgres("conformance_postgres") else {
        return;
    };
    let db = env.db();
    conformance::run_all(Arc::new(store(&db))).await;
}

/// Two servers on one database: what one writes, takes or counts, the other sees at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_on_one_database_share_every_record() {
    for env in backends("two_pools_on_one_database_share_every_record") {
        let db = env.db();
        let one = store(&db);
        let other = SqlStore::connect(&db.url).unwrap();
        let (k, ns) = (key(&["session", "a"]), "sessions");
        one.put(
            ns,
            vec![(k.clone(), b"v".to_vec())],
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
        assert_eq!(other.get(ns, &k).await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(other.take(ns, &k).await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(one.get(ns, &k).await.unwrap(), None, "{:?}", env.backend);
        let minute = Some(Duration::from_secs(60));
        assert_eq!(one.incr("limits", &k, 1, minute).await.unwrap(), 1);
        assert_eq!(other.incr("limits", &k, 1, minute).await.unwrap(), 2);
    }
}

/// The sweep deletes what expired, and only that: a record renewed before the sweep, one
/// without a TTL and one with time left all stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_deletes_expired_records_only() {
    for env in backends("the_sweep_deletes_expired_records_only") {
        let db = env.db();
        let store = store(&db);
        let short = Some(Duration::from_millis(50));
        let long = Some(Duration::from_secs(60));
        let expiring: Vec<_> = (0..5)
            .map(|i| (key(&["gone", &i.to_string()]), b"x".to_vec()))
            .collect();
        store.put("ns", expiring, short).await.unwrap();
        store
            .put("ns", vec![(key(&["renewed"]), b"1".to_vec())], short)
            .await
            .unwrap();
        store
            .put("ns", vec![(key(&["kept"]), b"2".to_vec())], long)
            .await
            .unwrap();
        store
            .put("ns", vec![(key(&["forever"]), b"3".to_vec())], None)
            .await
            .unwrap();
        store
            .put("ns", vec![(key(&["renewed"]), b"4".to_vec())], long)
            .await
            .unwrap();
        let expired_by = Instant::now() + Duration::from_millis(120);
        tokio::time::sleep_until(expired_by.into()).await;
        assert_eq!(store.stored_records().await.unwrap(), 8);
        assert_eq!(store.sweep().await.unwrap(), 5, "{:?}", env.backend);
        assert_eq!(store.stored_records().await.unwrap(), 3);
        for (name, value) in [("renewed", b"4"), ("kept", b"2"), ("forever", b"3")] {
            assert_eq!(
                store.get("ns", &key(&[name])).await.unwrap(),
                Some(value.to_vec()),
                "{name} on {:?}",
                env.backend
            );
        }
        assert_eq!(store.sweep().await.unwrap(), 0);
    }
}

/// The background sweep runs by itself at its interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_sweep_runs_by_itself() {
    let db = TestEnv::sqlite().db();
    store(&db);
    let store = SqlStore::with_sweep_interval(db.ctx.database().clone(), Duration::from_millis(50))
        .unwrap();
    store
        .put(
            "ns",
            vec![(key(&["a"]), b"x".to_vec())],
            Some(Duration::from_millis(10)),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.stored_records().await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "the expired record was never swept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The store's migrations run alone, again, and beside the users' migrations on one
/// database, in either order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_alone_again_and_beside_the_users_migrations() {
    for env in backends("migrations_run_alone_again_and_beside_the_users_migrations") {
        let config = PowConfig::builder("k".repeat(64)).build().unwrap();
        let db = env.db();
        let store = store(&db);
        store.migrate().unwrap();
        db.ctx
            .migrate_with(&config, &[&SQL_STORE_MIGRATIONS])
            .unwrap();
        db.ctx.migrate(&config).unwrap();
        assert_eq!(db.count("pow_store"), 0);
        assert_eq!(db.count("users"), 0);

        let other = env.db();
        other
            .ctx
            .migrate_with(&config, &[&SQL_STORE_MIGRATIONS])
            .unwrap();
        SqlStore::new(other.ctx.database().clone())
            .unwrap()
            .migrate()
            .unwrap();
        assert_eq!(other.count("pow_store"), 0);
    }
}

/// A store whose database is gone answers `Unavailable` (a 503), not a backend error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable() {
    // Nothing listens on port 1; the pool's first connection fails at once.
    let err = SqlStore::connect("postgres://postgres@127.0.0.1:1/none").unwrap_err();
    assert!(
        matches!(err, pow_core::store::StoreError::Unavailable(_)),
        "{err:?}"
    );
}

/// On PostgreSQL, the store's broadcast reaches a listener on another pool, in order, and
/// a listener whose connection is cut listens again and says it may have missed messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifications_reach_other_pools_and_survive_a_cut_connection() {
    let Some(env) = TestEnv::postgres("postgres_notifications_reach_other_pools") else {
        return;
    };
    let db = env.db();
    let publisher = store(&db);
    let listener = SqlStore::connect(&db.url).unwrap();
    assert!(
        SqlStore::connect(&TestEnv::sqlite().db().url)
            .unwrap()
            .broadcast()
            .is_none(),
        "SQLite has no broadcast"
    );
    let channel = format!("test:{}", pow_core::token::generate_uuid());
    let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = Arc::clone(&received);
    listener
        .broadcast()
        .unwrap()
        .subscribe(
            &channel,
            Arc::new(move |message: &[u8]| sink.lock().unwrap().push(message.to_vec())),
        )
        .await
        .unwrap();
    let sent = Instant::now();
    for message in [b"one".as_slice(), b"two", &[0, 255, 7]] {
        publisher
            .broadcast()
            .unwrap()
            .publish(&channel, message)
            .await
            .unwrap();
    }
    let wait_for = |count: usize| {
        let received = Arc::clone(&received);
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while received.lock().unwrap().len() < count {
                assert!(Instant::now() < deadline, "messages did not arrive");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    wait_for(3).await;
    println!("three notifications arrived in {:?}", sent.elapsed());
    assert_eq!(
        *received.lock().unwrap(),
        vec![b"one".to_vec(), b"two".to_vec(), vec![0, 255, 7]]
    );

    // Cut every listening connection of this database: the listener comes back and
    // delivers an empty message first (messages may have been missed).
    use diesel::{Connection, RunQueryDsl};
    let mut admin = diesel::pg::PgConnection::establish(&db.url).unwrap();
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'pow-store-listener:' || current_schema()",
    )
    .execute(&mut admin)
    .unwrap();
    wait_for(4).await;
    assert_eq!(received.lock().unwrap()[3], Vec::<u8>::new());
    publisher
        .broadcast()
        .unwrap()
        .publish(&channel, b"after")
        .await
        .unwrap();
    wait_for(5).await;
    assert_eq!(received.lock().unwrap()[4], b"after".to_vec());
}

/// A store with its local cache on, once it listens (its listener connects in the
/// background).
async fn cached(db: &TestDb) -> SqlStore {
    let store = store(db)
        .with_local_cache(10_000, Duration::from_secs(60))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.local_cache_serving() {
        assert!(Instant::now() < deadline, "the local cache never listened");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_postgres_with_the_local_cache() {
    let Some(env) = TestEnv::postgres("conformance_postgres_with_the_local_cache") else {
        return;
    };
    let db = env.db();
    conformance::run_all(Arc::new(cached(&db).await)).await;
}

/// The local cache serves from memory, and drops a value as soon as anybody changes its
/// record: another server, SQL by hand, this process; a lost listener empties it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_cache_serves_from_memory_and_hears_every_change() {
    assert!(
        SqlStore::connect(&TestEnv::sqlite().db().url)
            .unwrap()
            .with_local_cache(10, Duration::from_secs(1))
            .is_err(),
        "SQLite has no notifications to keep a cache right"
    );
    let Some(env) = TestEnv::postgres("the_local_cache_serves_from_memory") else {
        return;
    };
    let db = env.db();
    let near = cached(&db).await;
    let other = SqlStore::connect(&db.url).unwrap();
    let read = |key: &'static str| {
        let near = near.clone();
        async move {
            near.get_many_shared("credentials", &[&["session", key]])
                .await
                .unwrap()
                .remove(0)
                .map(|value| value.to_vec())
        }
    };
    let put = |store: &SqlStore, key: &'static str, value: &'static [u8]| {
        let store = store.clone();
        async move {
            store
                .put(
                    "credentials",
                    vec![(key_of(key), value.to_vec())],
                    Some(Duration::from_secs(60)),
                )
                .await
                .unwrap();
        }
    };
    let wait_for = |key: &'static str, want: Option<&'static [u8]>| async move {
        let started = Instant::now();
        while read(key).await.as_deref() != want {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{key} never became {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        started.elapsed()
    };
    use diesel::{Connection, RunQueryDsl};
    let mut admin = diesel::pg::PgConnection::establish(&db.url).unwrap();
    let sql = |admin: &mut diesel::pg::PgConnection, sql: &str| {
        diesel::sql_query(sql).execute(admin).unwrap();
    };

    // Served from memory: a change the trigger does not tell is not seen.
    put(&other, "a", b"1").await;
    assert_eq!(read("a").await.as_deref(), Some(&b"1"[..]));
    sql(
        &mut admin,
        "ALTER TABLE pow_store DISABLE TRIGGER pow_store_changed",
    );
    sql(&mut admin, "DELETE FROM pow_store");
    assert_eq!(
        read("a").await.as_deref(),
        Some(&b"1"[..]),
        "served from memory"
    );
    sql(
        &mut admin,
        "ALTER TABLE pow_store ENABLE TRIGGER pow_store_changed",
    );

    // Another server's change, and SQL by hand, are heard.
    put(&other, "b", b"1").await;
    assert_eq!(read("b").await.as_deref(), Some(&b"1"[..]));
    put(&other, "b", b"2").await;
    let took = wait_for("b", Some(b"2")).await;
    println!("another server's change was seen {took:?} after it");
    other.delete("credentials", &key_of("b")).await.unwrap();
    wait_for("b", None).await;
    put(&other, "c", b"1").await;
    assert_eq!(read("c").await.as_deref(), Some(&b"1"[..]));
    sql(&mut admin, "DELETE FROM pow_store");
    wait_for("c", None).await;

    // This process's own writes are seen at once.
    put(&near, "d", b"1").await;
    assert_eq!(read("d").await.as_deref(), Some(&b"1"[..]));
    assert_eq!(
        near.take("credentials", &key_of("d")).await.unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(read("d").await, None, "at once");

    // A record in memory expires with its TTL (nothing tells the cache: no trigger fires
    // for an expiry).
    other
        .put(
            "credentials",
            vec![(key_of("e"), b"1".to_vec())],
            Some(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let put_at = Instant::now();
    assert_eq!(read("e").await.as_deref(), Some(&b"1"[..]));
    wait_for("e", None).await;
    assert!(
        put_at.elapsed() >= Duration::from_millis(900),
        "gone before its TTL"
    );

    // A lost listener: nothing is served until it listens again, and it hears again.
    put(&other, "f", b"1").await;
    assert_eq!(read("f").await.as_deref(), Some(&b"1"[..]));
    sql(
        &mut admin,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'pow-store-listener:' || current_schema()",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while near.local_cache_serving() {
        assert!(
            Instant::now() < deadline,
            "the lost listener was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    while !near.local_cache_serving() {
        assert!(
            Instant::now() < deadline,
            "the listener never listened again"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(read("f").await.as_deref(), Some(&b"1"[..]));
    put(&other, "f", b"2").await;
    wait_for("f", Some(b"2")).await;
}

fn key_of(name: &str) -> Key {
    key(&["session", name])
}

//! Memory held per active session.
//!
//! Run with `cargo bench -p pow-core --bench session_memory` (add `--features redis` and
//! set `BENCH_REDIS_URL` to measure Redis as well). It fills a [`MemoryStore`] through
//! [`CredentialsCache::put`], as a sign-in does, with `BENCH_SESSIONS` sessions (default
//! 100 000; 1 000 when run as a test, without `--bench`), each of its own user: a row as
//! the demo app stores it with every extension enabled (email, name, role, team,
//! confirmation and invitation columns, a PBKDF2 hash).
//! The resident set size of the process is read from `/proc/self/statm` before and after
//! the fill, with every session still held; the difference over the session count is the
//! cost of one session (its two records, their keys, the store's index and the cache's
//! bookkeeping). Each user has one session, so the shared user record is not amortised:
//! this is the figure for many distinct users.
//!
//! With `BENCH_REDIS_URL` (and the `redis` feature), the same sessions are then written to
//! Redis under a private key prefix, and the growth of Redis' `used_memory` (`INFO
//! memory`) over the session count is reported; the keys are deleted afterwards. Other
//! clients writing to the same Redis at the same time skew that figure.
//!
//! Every figure is also printed on a line `result session_memory.<name> <value>`.

// A benchmark aborts loudly when its setup fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pow_core::session::{CredentialsCache, SessionMetadata};
use pow_core::store::{Key, MemoryStore, Store};
use pow_core::token::generate_uuid;
use pow_core::users::Value;
use pow_core::User;

const NAMESPACE: &str = "credentials";
/// The default credentials TTL.
const TTL: Duration = Duration::from_secs(30 * 60);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A user row as the demo app holds it after sign-up and email confirmation.
fn realistic_user(id: i64) -> User {
    let now = chrono::Utc::now();
    let email = format!("user{id}@example.com");
    let fields = BTreeMap::from([
        ("email".to_owned(), Value::Text(email.clone())),
        ("name".to_owned(), Value::Text(format!("User Number {id}"))),
        ("role".to_owned(), Value::Text("user".into())),
        ("team".to_owned(), Value::Text(format!("team of {email}"))),
        ("email_confirmation_token".to_owned(), Value::Null),
        ("email_confirmation_token_sent_at".to_owned(), Value::Null),
        ("email_confirmed_at".to_owned(), Value::Timestamp(now)),
        ("unconfirmed_email".to_owned(), Value::Null),
        ("invitation_token".to_owned(), Value::Null),
        ("invitation_sent_at".to_owned(), Value::Null),
        ("invitation_accepted_at".to_owned(), Value::Null),
        ("invited_by_id".to_owned(), Value::Null),
    ]);
    // The length and alphabet of a stored PBKDF2-SHA512 hash (135 characters).
    let password_hash = format!(
        "$pbkdf2-sha512$100000${}==${}==",
        "A".repeat(22),
        "B".repeat(86)
    );
    User {
        id,
        password_hash: Some(password_hash),
        inserted_at: now,
        updated_at: now,
        fields,
    }
}

/// Resident set size of this process in bytes (`/proc/self/statm`).
fn rss_bytes(page_size: u64) -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("resident pages in /proc/self/statm");
    pages * page_size
}

/// The page size, from `getconf PAGESIZE` (4 KiB if that fails).
fn page_size() -> u64 {
    std::process::Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// Puts `count` sessions (users `first..first + count`) into `cache`, `concurrency` at a
/// time; returns one of the session ids.
async fn fill(cache: &CredentialsCache, first: i64, count: usize, concurrency: usize) -> String {
    use futures_util::stream::{self, StreamExt as _};
    let mut puts = stream::iter(0..count)
        .map(|i| async move {
            let user = realistic_user(first + i as i64);
            // Shaped as pow-rs stores a browser session's id: 22 characters of a hash (128
            // bits in base64url), then `.` and the user's id.
            let session_id = format!("{}.{}", &generate_uuid().replace('-', "")[..22], user.id);
            cache
                .put(&session_id, &user, &SessionMetadata::new())
                .await
                .unwrap();
            session_id
        })
        .buffer_unordered(concurrency.max(1));
    let mut sample = String::new();
    while let Some(id) = puts.next().await {
        if sample.is_empty() {
            sample = id;
        }
    }
    sample
}

/// Bytes of the two records of session `id` (of user `user_id`), keys included.
async fn record_bytes(store: &dyn Store, id: &str, user_id: i64) -> (usize, usize) {
    let uid = user_id.to_string();
    let keys = [
        Key::from(["user", uid.as_str(), "session", id]),
        Key::from(["user", uid.as_str()]),
    ];
    let (mut values, mut key_bytes) = (0, 0);
    for key in &keys {
        let value = store.get(NAMESPACE, key).await.unwrap().expect("record");
        values += value.len();
        key_bytes += key.segments().iter().map(String::len).sum::<usize>();
    }
    (values, key_bytes)
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) a thousand
    // sessions check that everything runs.
    let full = std::env::args().any(|arg| arg == "--bench");
    let sessions = if full {
        env_or("BENCH_SESSIONS", 100_000).max(1)
    } else {
        1_000
    };
    let page = page_size();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let cache = CredentialsCache::with_store(Arc::clone(&store), NAMESPACE, TTL);
    // Warm the allocator, the runtime and the store with a few sessions of other users,
    // so that one-time setup does not count.
    let warm = runtime.block_on(fill(&cache, 1_000_000_000, 1_000, 1));
    let (values, keys) = runtime.block_on(record_bytes(store.as_ref(), &warm, 1_000_000_000));

    let before = rss_bytes(page);
    let started = Instant::now();
    let sample = runtime.block_on(fill(&cache, 1, sessions, 1));
    let elapsed = started.elapsed();
    let after = rss_bytes(page);
    // Every session is still there: the store and the cache are alive and nothing expired.
    let found = runtime.block_on(cache.get(&sample)).unwrap();
    assert!(found.is_some(), "the sessions are still in the store");
    let per_session = after.saturating_sub(before) as f64 / sessions as f64;
    println!(
        "memory store: {sessions} sessions, RSS {:.1} MiB -> {:.1} MiB: {per_session:.0} bytes \
         per session (records hold {values} value + {keys} key bytes; {} entries; filled in {:.1} s)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        memory.entry_count(),
        elapsed.as_secs_f64(),
    );
    println!("result session_memory.sessions {sessions}");
    println!("result session_memory.memory_rss_bytes_per_session {per_session:.0}");
    println!("result session_memory.record_value_bytes {values}");
    println!("result session_memory.record_key_bytes {keys}");

    match std::env::var("BENCH_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(url) => redis_bytes(&runtime, &url, sessions),
        None => println!("redis: skipped (set BENCH_REDIS_URL)"),
    }
    // Dropped only now, after every measurement.
    drop(cache);
    drop(store);
}

#[cfg(feature = "redis")]
fn redis_bytes(runtime: &tokio::runtime::Runtime, url: &str, sessions: usize) {
    use pow_core::store::RedisStore;

    // Short, as a deployment's prefix would be (`pow`): every key carries it.
    let prefix = format!("psm{}", std::process::id());
    let client = redis::Client::open(url).unwrap();
    let mut admin = client.get_connection().unwrap();
    let used_memory = |con: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory in INFO memory")
    };
    let store: Arc<dyn Store> =
        Arc::new(runtime.block_on(RedisStore::connect(url, &prefix)).unwrap());
    let cache = CredentialsCache::with_store(Arc::clone(&store), NAMESPACE, TTL);
    let before = used_memory(&mut admin);
    let started = Instant::now();
    runtime.block_on(fill(&cache, 1, sessions, 64));
    let elapsed = started.elapsed();
    let after = used_memory(&mut admin);
    let per_session = after.saturating_sub(before) as f64 / sessions as f64;

    // Clean up: every key under the private prefix.
    let mut deleted = 0usize;
    let keys: Vec<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg(format!("{prefix}:*"))
        .arg("COUNT")
        .arg(1000)
        .clone()
        .iter(&mut admin)
        .unwrap()
        .map(|key| key.unwrap())
        .collect();
    for chunk in keys.chunks(1000) {
        let n: usize = redis::cmd("UNLINK").arg(chunk).query(&mut admin).unwrap();
        deleted += n;
    }
    println!(
        "redis: {sessions} sessions, used_memory {:.1} MiB -> {:.1} MiB: {per_session:.0} bytes \
         per session (filled in {:.1} s; {deleted} keys deleted afterwards)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        elapsed.as_secs_f64(),
    );
    println!("result session_memory.redis_bytes_per_session {per_session:.0}");
}

#[cfg(not(feature = "redis"))]
fn redis_bytes(_runtime: &tokio::runtime::Runtime, _url: &str, _sessions: usize) {
    println!("redis: skipped (build with --features redis)");
}

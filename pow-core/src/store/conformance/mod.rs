//! Conformance suite for [`Store`] backends (feature `test-util`).
//!
//! Every backend runs the same checks: [`run_all`] calls each public test function of
//! this module in turn, and the functions can be called one by one to get one test per
//! property. Each check works in namespaces of its own (random names), so several suites
//! may run against one shared server at once; records that have no TTL are deleted at the
//! end of their check.
//!
//! The checks need a Tokio runtime (`#[tokio::test]` or `#[actix_web::test]`); a
//! multi-threaded one (`#[tokio::test(flavor = "multi_thread")]`) also exercises real
//! parallelism in the concurrency checks. Failures panic with a message naming the
//! property that does not hold.
//!
//! ```no_run
//! # async fn demo() {
//! use pow_core::store::{conformance, MemoryStore};
//! conformance::run_all(MemoryStore::shared()).await;
//! # }
//! ```

// A failed check has to panic with a clear message: that is how a test reports failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;
use tokio::sync::Barrier;

use super::{Key, KeyPattern, Record, Store};
use crate::token::generate_uuid;

mod atomic;
mod listing;
pub use atomic::{
    incr_counts, incr_is_atomic, incr_window_is_fixed, insert_if_absent_claims_once,
    insert_if_absent_is_atomic, take_is_atomic, take_returns_and_removes,
};
pub use listing::{
    all_patterns, all_skips_expired, keys_with_special_characters, namespaces_isolated,
};

/// TTL for records whose expiry is not under test, so a shared backend cleans up even if a
/// check fails halfway.
const LONG_TTL: Duration = Duration::from_secs(120);
/// Short TTL used by the expiry checks.
const SHORT_TTL: Duration = Duration::from_millis(150);
/// How long a backend may take to stop returning an expired value in the polling checks.
const EXPIRY_DEADLINE: Duration = Duration::from_secs(10);
/// Clock slack allowed before an expired value must be gone at once.
const EXPIRY_SLACK: Duration = Duration::from_millis(100);
/// Interval between polls.
const POLL: Duration = Duration::from_millis(10);

/// Runs every check of this module against `store`.
pub async fn run_all(store: Arc<dyn Store>) {
    let store = &store;
    get_missing_is_none(store).await;
    put_then_get(store).await;
    get_many_reads_in_order(store).await;
    put_replaces_value(store).await;
    ttl_expiry(store).await;
    expired_value_never_returned(store).await;
    replace_restarts_ttl(store).await;
    no_ttl_outlives_short_ttl(store).await;
    delete_removes(store).await;
    delete_missing_ok(store).await;
    all_patterns(store).await;
    all_skips_expired(store).await;
    keys_with_special_characters(store).await;
    namespaces_isolated(store).await;
    take_returns_and_removes(store).await;
    take_is_atomic(store).await;
    insert_if_absent_claims_once(store).await;
    insert_if_absent_is_atomic(store).await;
    incr_counts(store).await;
    incr_is_atomic(store).await;
    incr_window_is_fixed(store).await;
    concurrent_puts(store).await;
    concurrent_puts_same_key(store).await;
    realistic_value_sizes(store).await;
    binary_values(store).await;
    batch_put(store).await;
}

fn namespace(check: &str) -> String {
    format!("conformance_{check}_{}", generate_uuid())
}

fn key(parts: &[&str]) -> Key {
    Key(parts.iter().map(|s| (*s).to_owned()).collect())
}

fn pattern(parts: &[Option<&str>]) -> Vec<KeyPattern> {
    parts
        .iter()
        .map(|p| p.map_or(KeyPattern::Any, KeyPattern::exact))
        .collect()
}

fn sorted(mut records: Vec<Record>) -> Vec<Record> {
    records.sort();
    records
}

/// Polls until `key` is gone, panicking after [`EXPIRY_DEADLINE`].
async fn wait_until_gone(store: &Arc<dyn Store>, ns: &str, key: &Key, what: &str) {
    let deadline = Instant::now() + EXPIRY_DEADLINE;
    loop {
        if store.get(ns, key).await.unwrap().is_none() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: value still returned {EXPIRY_DEADLINE:?} after its TTL"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Sleeps until `instant`.
async fn sleep_until(instant: Instant) {
    let now = Instant::now();
    if instant > now {
        tokio::time::sleep(instant - now).await;
    }
}

/// A missing key reads as `None`, in a namespace that was never written too.
pub async fn get_missing_is_none(store: &Arc<dyn Store>) {
    let ns = namespace("get_missing");
    assert_eq!(store.get(&ns, &key(&["nope"])).await.unwrap(), None);
    assert!(store.all(&ns, &pattern(&[None])).await.unwrap().is_empty());
}

/// A put value reads back unchanged.
pub async fn put_then_get(store: &Arc<dyn Store>) {
    let ns = namespace("put_get");
    let k = key(&["a", "b"]);
    store
        .put(&ns, vec![(k.clone(), b"value".to_vec())], Some(LONG_TTL))
        .await
        .unwrap();
    assert_eq!(store.get(&ns, &k).await.unwrap(), Some(b"value".to_vec()));
    // A key of the same segments joined differently is another key.
    assert_eq!(store.get(&ns, &key(&["a"])).await.unwrap(), None);
    assert_eq!(store.get(&ns, &key(&["ab"])).await.unwrap(), None);
    assert_eq!(store.get(&ns, &key(&["a", "b", "c"])).await.unwrap(), None);
}

/// `get_many` (and `get_many_shared`) answer each key in order, `None` for missing and
/// expired ones.
pub async fn get_many_reads_in_order(store: &Arc<dyn Store>) {
    let ns = namespace("get_many");
    store
        .put(
            &ns,
            vec![
                (key(&["a"]), b"1".to_vec()),
                (key(&["b", "c"]), b"2".to_vec()),
            ],
            Some(LONG_TTL),
        )
        .await
        .unwrap();
    store
        .put(&ns, vec![(key(&["gone"]), b"3".to_vec())], Some(SHORT_TTL))
        .await
        .unwrap();
    wait_until_gone(store, &ns, &key(&["gone"]), "get_many").await;
    let keys = [
        key(&["b", "c"]),
        key(&["nope"]),
        key(&["a"]),
        key(&["gone"]),
    ];
    assert_eq!(
        store.get_many(&ns, &keys).await.unwrap(),
        vec![Some(b"2".to_vec()), None, Some(b"1".to_vec()), None]
    );
    assert!(store.get_many(&ns, &[]).await.unwrap().is_empty());
    // The same through `get_many_shared`, keys as borrowed segments.
    let shared = store
        .get_many_shared(&ns, &[&["b", "c"], &["nope"], &["a"], &["gone"]])
        .await
        .unwrap();
    assert_eq!(
        shared.iter().map(|v| v.as_deref()).collect::<Vec<_>>(),
        vec![Some(&b"2"[..]), None, Some(&b"1"[..]), None]
    );
    // Another namespace sees none of them.
    let other = namespace("get_many_other");
    assert_eq!(
        store.get_many(&other, &[key(&["a"])]).await.unwrap(),
        vec![None]
    );
}

/// A second put of a key replaces its value.
pub async fn put_replaces_value(store: &Arc<dyn Store>) {
    let ns = namespace("put_replaces");
    let k = key(&["k"]);
    for value in [&b"first"[..], b"second", b""] {
        store
            .put(&ns, vec![(k.clone(), value.to_vec())], Some(LONG_TTL))
            .await
            .unwrap();
        assert_eq!(store.get(&ns, &k).await.unwrap().as_deref(), Some(value));
    }
}

/// A value with a short TTL is readable at first and gone after the TTL.
pub async fn ttl_expiry(store: &Arc<dyn Store>) {
    let ns = namespace("ttl_expiry");
    let k = key(&["short"]);
    let ttl = Duration::from_millis(400);
    let start = Instant::now();
    store
        .put(&ns, vec![(k.clone(), b"v".to_vec())], Some(ttl))
        .await
        .unwrap();
    let read = store.get(&ns, &k).await.unwrap();
    if start.elapsed() < ttl {
        assert_eq!(read, Some(b"v".to_vec()), "value gone before its TTL");
    }
    wait_until_gone(store, &ns, &k, "ttl_expiry").await;
    assert!(
        start.elapsed() + EXPIRY_SLACK >= ttl,
        "value expired after {:?}, before its TTL of {ttl:?}",
        start.elapsed()
    );
}

/// Once its TTL has passed, a value is never returned by `get`, `all` or `take`, whether
/// or not the backend has reclaimed it yet.
pub async fn expired_value_never_returned(store: &Arc<dyn Store>) {
    let ns = namespace("expired_never_returned");
    let k = key(&["gone", "1"]);
    store
        .put(&ns, vec![(k.clone(), b"v".to_vec())], Some(SHORT_TTL))
        .await
        .unwrap();
    sleep_until(Instant::now() + SHORT_TTL + EXPIRY_SLACK).await;
    assert_eq!(
        store.get(&ns, &k).await.unwrap(),
        None,
        "`get` returned a value past its TTL"
    );
    assert!(
        store
            .all(&ns, &pattern(&[Some("gone"), None]))
            .await
            .unwrap()
            .is_empty(),
        "`all` returned a value past its TTL"
    );
    assert_eq!(
        store.take(&ns, &k).await.unwrap(),
        None,
        "`take` returned a value past its TTL"
    );
}

/// A put restarts the TTL with the new put's value: a longer TTL keeps the key past the
/// first expiry, a shorter one ends it early, and `None` keeps it.
pub async fn replace_restarts_ttl(store: &Arc<dyn Store>) {
    let ns = namespace("replace_restarts_ttl");

    let longer = key(&["longer"]);
    let first_put = Instant::now();
    store
        .put(&ns, vec![(longer.clone(), b"1".to_vec())], Some(SHORT_TTL))
        .await
        .unwrap();
    store
        .put(&ns, vec![(longer.clone(), b"2".to_vec())], Some(LONG_TTL))
        .await
        .unwrap();
    sleep_until(first_put + SHORT_TTL + EXPIRY_SLACK).await;
    assert_eq!(
        store.get(&ns, &longer).await.unwrap(),
        Some(b"2".to_vec()),
        "a re-put with a longer TTL did not restart the TTL"
    );

    let shorter = key(&["shorter"]);
    store
        .put(&ns, vec![(shorter.clone(), b"1".to_vec())], Some(LONG_TTL))
        .await
        .unwrap();
    store
        .put(&ns, vec![(shorter.clone(), b"2".to_vec())], Some(SHORT_TTL))
        .await
        .unwrap();
    wait_until_gone(store, &ns, &shorter, "re-put with a shorter TTL").await;

    let cleared = key(&["cleared"]);
    let first_put = Instant::now();
    store
        .put(&ns, vec![(cleared.clone(), b"1".to_vec())], Some(SHORT_TTL))
        .await
        .unwrap();
    store
        .put(&ns, vec![(cleared.clone(), b"2".to_vec())], None)
        .await
        .unwrap();
    sleep_until(first_put + SHORT_TTL + EXPIRY_SLACK).await;
    assert_eq!(
        store.get(&ns, &cleared).await.unwrap(),
        Some(b"2".to_vec()),
        "a re-put without TTL kept the old TTL"
    );
    store.delete(&ns, &cleared).await.unwrap();
    store.delete(&ns, &longer).await.unwrap();
}

/// A record put without TTL outlives one put with a short TTL at the same time.
pub async fn no_ttl_outlives_short_ttl(store: &Arc<dyn Store>) {
    let ns = namespace("no_ttl");
    let forever = key(&["forever"]);
    let short = key(&["short"]);
    store
        .put(&ns, vec![(forever.clone(), b"f".to_vec())], None)
        .await
        .unwrap();
    store
        .put(&ns, vec![(short.clone(), b"s".to_vec())], Some(SHORT_TTL))
        .await
        .unwrap();
    wait_until_gone(store, &ns, &short, "no_ttl_outlives_short_ttl").await;
    assert_eq!(store.get(&ns, &forever).await.unwrap(), Some(b"f".to_vec()));
    store.delete(&ns, &forever).await.unwrap();
    assert_eq!(store.get(&ns, &forever).await.unwrap(), None);
}

/// `delete` removes a key and leaves its neighbours.
pub async fn delete_removes(store: &Arc<dyn Store>) {
    let ns = namespace("delete");
    let a = key(&["user", "1"]);
    let b = key(&["user", "2"]);
    store
        .put(
            &ns,
            vec![(a.clone(), b"a".to_vec()), (b.clone(), b"b".to_vec())],
            Some(LONG_TTL),
        )
        .await
        .unwrap();
    store.delete(&ns, &a).await.unwrap();
    assert_eq!(store.get(&ns, &a).await.unwrap(), None);
    assert_eq!(store.get(&ns, &b).await.unwrap(), Some(b"b".to_vec()));
    assert_eq!(
        store
            .all(&ns, &pattern(&[Some("user"), None]))
            .await
            .unwrap(),
        vec![(b.clone(), b"b".to_vec())]
    );
    // A deleted key can be written again.
    store
        .put(&ns, vec![(a.clone(), b"again".to_vec())], Some(LONG_TTL))
        .await
        .unwrap();
    assert_eq!(store.get(&ns, &a).await.unwrap(), Some(b"again".to_vec()));
}

/// Deleting a key that does not exist (or no longer exists) succeeds.
pub async fn delete_missing_ok(store: &Arc<dyn Store>) {
    let ns = namespace("delete_missing");
    let k = key(&["never", "written"]);
    store.delete(&ns, &k).await.unwrap();
    store
        .put(&ns, vec![(k.clone(), b"v".to_vec())], Some(LONG_TTL))
        .await
        .unwrap();
    store.delete(&ns, &k).await.unwrap();
    store.delete(&ns, &k).await.unwrap();
    assert_eq!(store.get(&ns, &k).await.unwrap(), None);
}

/// Many tasks putting different keys at once: every record is stored.
pub async fn concurrent_puts(store: &Arc<dyn Store>) {
    const TASKS: usize = 32;
    const KEYS: usize = 20;
    let ns = Arc::new(namespace("concurrent_puts"));
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (store, ns, barrier) = (Arc::clone(store), Arc::clone(&ns), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                for i in 0..KEYS {
                    let k = key(&["task", &t.to_string(), &i.to_string()]);
                    store
                        .put(
                            &ns,
                            vec![(k, format!("{t}/{i}").into_bytes())],
                            Some(LONG_TTL),
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let all = store
        .all(&ns, &pattern(&[Some("task"), None, None]))
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        TASKS * KEYS,
        "records lost under concurrent puts"
    );
    for (k, v) in all {
        let expected = format!("{}/{}", k.0[1], k.0[2]);
        assert_eq!(v, expected.into_bytes(), "value of {k:?}");
    }
}

/// Many tasks putting one key at once: the result is one of the written values, whole.
pub async fn concurrent_puts_same_key(store: &Arc<dyn Store>) {
    const TASKS: usize = 16;
    let ns = Arc::new(namespace("concurrent_same_key"));
    let k = key(&["contended"]);
    let value_of = |t: usize| vec![u8::try_from(t).unwrap_or(0); 4096];
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (store, ns, k, barrier) = (
                Arc::clone(store),
                Arc::clone(&ns),
                k.clone(),
                Arc::clone(&barrier),
            );
            let value = value_of(t);
            tokio::spawn(async move {
                barrier.wait().await;
                for _ in 0..10 {
                    store
                        .put(&ns, vec![(k.clone(), value.clone())], Some(LONG_TTL))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let value = store.get(&ns, &k).await.unwrap().expect("value missing");
    assert!(
        (0..TASKS).any(|t| value == value_of(t)),
        "value is not one of the written values"
    );
    assert_eq!(
        store.all(&ns, &pattern(&[None])).await.unwrap().len(),
        1,
        "one key must hold one record"
    );
}

/// Values of realistic sizes (4 KiB, like a cached user, and 1 MiB) round-trip unchanged.
pub async fn realistic_value_sizes(store: &Arc<dyn Store>) {
    let ns = namespace("value_sizes");
    let mut rng = rand::thread_rng();
    for size in [4 * 1024, 1024 * 1024] {
        let mut value = vec![0u8; size];
        rng.fill_bytes(&mut value);
        let k = key(&["size", &size.to_string()]);
        store
            .put(&ns, vec![(k.clone(), value.clone())], Some(LONG_TTL))
            .await
            .unwrap();
        let got = store.get(&ns, &k).await.unwrap().expect("value missing");
        assert!(got == value, "{size}-byte value changed in the store");
        let all = store
            .all(&ns, &pattern(&[Some("size"), Some(&size.to_string())]))
            .await
            .unwrap();
        assert!(
            all.len() == 1 && all[0].1 == value,
            "{size}-byte value changed in `all`"
        );
        assert!(store.take(&ns, &k).await.unwrap() == Some(value));
    }
}

/// Values are opaque bytes: every byte value, invalid UTF-8 and the empty value survive.
pub async fn binary_values(store: &Arc<dyn Store>) {
    let ns = namespace("binary_values");
    let every_byte: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let cases: Vec<(Key, Vec<u8>)> = vec![
        (key(&["every_byte"]), every_byte),
        (key(&["invalid_utf8"]), vec![0xff, 0xfe, 0xc0, 0x00]),
        (key(&["empty"]), Vec::new()),
        (key(&["json"]), br#"{"a":[1,2,"\u0000"]}"#.to_vec()),
    ];
    store.put(&ns, cases.clone(), Some(LONG_TTL)).await.unwrap();
    for (k, v) in &cases {
        assert_eq!(store.get(&ns, k).await.unwrap().as_ref(), Some(v), "{k:?}");
    }
    assert_eq!(
        sorted(store.all(&ns, &pattern(&[None])).await.unwrap()),
        sorted(cases)
    );
}

/// One put of several records stores all of them with the call's TTL.
pub async fn batch_put(store: &Arc<dyn Store>) {
    let ns = namespace("batch_put");
    let batch = |name: &str| -> Vec<Record> {
        (0..5u8)
            .map(|i| (key(&[name, &i.to_string()]), vec![i; 64]))
            .collect()
    };
    let records = batch("kept");
    store
        .put(&ns, records.clone(), Some(LONG_TTL))
        .await
        .unwrap();
    let expected: BTreeMap<Key, Vec<u8>> = records.into_iter().collect();
    let got: BTreeMap<Key, Vec<u8>> = store
        .all(&ns, &pattern(&[Some("kept"), None]))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(got, expected, "a batch put did not store every record");

    let short = batch("short");
    store
        .put(&ns, short.clone(), Some(SHORT_TTL))
        .await
        .unwrap();
    for (k, _) in &short {
        wait_until_gone(store, &ns, k, "batch_put TTL").await;
    }
    assert!(store
        .all(&ns, &pattern(&[Some("short"), None]))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .all(&ns, &pattern(&[Some("kept"), None]))
            .await
            .unwrap()
            .len(),
        5
    );
}

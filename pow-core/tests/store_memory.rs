//! The store conformance suite and memory-specific checks on `MemoryStore`.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pow_core::store::{conformance, Key, KeyPattern, MemoryStore, Store};

fn store() -> Arc<dyn Store> {
    MemoryStore::shared()
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                conformance::$name(&store()).await;
            }
        )*
    };
}

conformance_tests!(
    get_missing_is_none,
    put_then_get,
    put_replaces_value,
    ttl_expiry,
    expired_value_never_returned,
    replace_restarts_ttl,
    no_ttl_outlives_short_ttl,
    delete_removes,
    delete_missing_ok,
    all_patterns,
    all_skips_expired,
    keys_with_special_characters,
    namespaces_isolated,
    take_returns_and_removes,
    take_is_atomic,
    insert_if_absent_claims_once,
    insert_if_absent_is_atomic,
    incr_counts,
    incr_is_atomic,
    incr_window_is_fixed,
    concurrent_puts,
    concurrent_puts_same_key,
    realistic_value_sizes,
    binary_values,
    batch_put,
);

/// The whole suite in one go on one shared store, as other backends run it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_on_one_store() {
    conformance::run_all(store()).await;
}

/// Past its TTL an entry is gone for every reader at once, before the cache's maintenance
/// has reclaimed it (no maintenance runs between the put and the reads).
#[tokio::test]
async fn expired_entry_not_returned_before_reclaim() {
    let store = MemoryStore::new();
    let key = Key::from(["k"]);
    let ttl = Duration::from_millis(40);
    store
        .put("ns", vec![(key.clone(), b"v".to_vec())], Some(ttl))
        .await
        .unwrap();
    let put_at = Instant::now();
    tokio::time::sleep(ttl + Duration::from_millis(20)).await;
    assert!(put_at.elapsed() > ttl);
    assert_eq!(store.get("ns", &key).await.unwrap(), None);
    assert_eq!(store.take("ns", &key).await.unwrap(), None);
    assert!(store
        .all("ns", &[KeyPattern::Any])
        .await
        .unwrap()
        .is_empty());
}

/// Many threads (not tasks) racing `take` on the same keys: one winner per key.
#[test]
fn take_from_os_threads_has_one_winner() {
    const THREADS: usize = 8;
    const KEYS: usize = 200;
    let store = Arc::new(MemoryStore::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for i in 0..KEYS {
        rt.block_on(store.put(
            "ns",
            vec![(Key::from(["t", &i.to_string()]), vec![1])],
            None,
        ))
        .unwrap();
    }
    let barrier = Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                barrier.wait();
                (0..KEYS)
                    .filter(|i| {
                        rt.block_on(store.take("ns", &Key::from(["t", &i.to_string()])))
                            .unwrap()
                            .is_some()
                    })
                    .count()
            })
        })
        .collect();
    let won: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(won, KEYS);
}

/// Expired entries are reclaimed: after many short-lived puts the store shrinks back.
#[tokio::test]
async fn expired_entries_are_reclaimed() {
    let store = MemoryStore::new();
    for i in 0..2000 {
        store
            .put(
                "ns",
                vec![(Key::from(["k", &i.to_string()]), vec![0; 128])],
                Some(Duration::from_millis(20)),
            )
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Writes drive the cache's maintenance.
        store
            .put("other", vec![(Key::from(["tick"]), vec![])], None)
            .await
            .unwrap();
        let count = store.entry_count();
        if count == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not reclaimed: {count} entries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! The application's store passes pow-core's store conformance suite.

use std::sync::Arc;
use std::time::Duration;

use example_custom_store::AppStore;
use pow_actix::store::{conformance, Key, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_store_conformance_suite() {
    conformance::run_all(Arc::new(AppStore::new())).await;
}

#[tokio::test]
async fn expired_entries_are_reclaimed() {
    let store = AppStore::new();
    let ttl = Duration::from_millis(20);
    store
        .put("ns", vec![(Key::from("old"), b"v".to_vec())], Some(ttl))
        .await
        .unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(5)).await;
    // Enough writes to trigger the periodic sweep; each replaces the same key.
    for _ in 0..256 {
        store
            .put("ns", vec![(Key::from("new"), b"v".to_vec())], None)
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 1, "the expired entry was reclaimed");
}

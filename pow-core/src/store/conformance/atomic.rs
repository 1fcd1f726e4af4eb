//! Checks of the one-step operations: `take`, `insert_if_absent` and `incr`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Barrier;

use super::{
    key, namespace, pattern, sleep_until, wait_until_gone, EXPIRY_SLACK, LONG_TTL, SHORT_TTL,
};
use crate::store::{Key, Store, StoreError};

/// Runs `tasks` copies of `work` at once (released together by a barrier) and returns
/// their results in task order.
async fn race<T, F, Fut>(tasks: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            let fut = work(t);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks);
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

/// `take` returns the value once and removes it.
pub async fn take_returns_and_removes(store: &Arc<dyn Store>) {
    let ns = namespace("take");
    let k = key(&["token", "t"]);
    assert_eq!(store.take(&ns, &k).await.unwrap(), None);
    store
        .put(&ns, vec![(k.clone(), b"v".to_vec())], Some(LONG_TTL))
        .await
        .unwrap();
    assert_eq!(store.take(&ns, &k).await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.take(&ns, &k).await.unwrap(), None);
    assert_eq!(store.get(&ns, &k).await.unwrap(), None);
    assert!(store
        .all(&ns, &pattern(&[Some("token"), None]))
        .await
        .unwrap()
        .is_empty());
}

/// Of many concurrent `take`s of one key, exactly one gets the value, across repeated
/// rounds.
pub async fn take_is_atomic(store: &Arc<dyn Store>) {
    const TAKERS: usize = 16;
    const ROUNDS: usize = 20;
    let ns = Arc::new(namespace("take_atomic"));
    for round in 0..ROUNDS {
        let k = key(&["single_use", &round.to_string()]);
        store
            .put(&ns, vec![(k.clone(), b"prize".to_vec())], Some(LONG_TTL))
            .await
            .unwrap();
        let taken = race(TAKERS, |_| {
            let (store, ns, k) = (Arc::clone(store), Arc::clone(&ns), k.clone());
            async move { store.take(&ns, &k).await.unwrap() }
        })
        .await;
        let mut winners = 0;
        for value in taken.into_iter().flatten() {
            assert_eq!(value, b"prize");
            winners += 1;
        }
        assert_eq!(winners, 1, "round {round}: {winners} takers got the value");
    }
}

/// `insert_if_absent` stores into a free key only: not over a live value, again after a
/// delete or an expiry; what it stores reads and lists like a put.
pub async fn insert_if_absent_claims_once(store: &Arc<dyn Store>) {
    let ns = namespace("insert_if_absent");
    let k = key(&["claim", "a"]);
    let claim = |value: &[u8], ttl| store.insert_if_absent(&ns, (k.clone(), value.to_vec()), ttl);
    assert!(
        claim(b"first", Some(LONG_TTL)).await.unwrap(),
        "free key not claimed"
    );
    assert!(
        !claim(b"second", Some(LONG_TTL)).await.unwrap(),
        "claimed twice"
    );
    assert_eq!(store.get(&ns, &k).await.unwrap(), Some(b"first".to_vec()));
    assert_eq!(
        store
            .all(&ns, &pattern(&[Some("claim"), None]))
            .await
            .unwrap(),
        vec![(k.clone(), b"first".to_vec())],
        "a claimed record must be listed"
    );
    store.delete(&ns, &k).await.unwrap();
    assert!(
        claim(b"third", Some(SHORT_TTL)).await.unwrap(),
        "not claimable after delete"
    );
    wait_until_gone(store, &ns, &k, "insert_if_absent with a TTL").await;
    assert!(
        claim(b"fourth", None).await.unwrap(),
        "not claimable after expiry"
    );
    assert_eq!(store.get(&ns, &k).await.unwrap(), Some(b"fourth".to_vec()));
    store.delete(&ns, &k).await.unwrap();
}

/// Of many concurrent `insert_if_absent`s of one key exactly one succeeds, and the stored
/// value is the winner's, across repeated rounds.
pub async fn insert_if_absent_is_atomic(store: &Arc<dyn Store>) {
    const TASKS: usize = 16;
    const ROUNDS: usize = 20;
    let ns = Arc::new(namespace("insert_if_absent_atomic"));
    for round in 0..ROUNDS {
        let k = key(&["claim", &round.to_string()]);
        let won = race(TASKS, |t| {
            let (store, ns, k) = (Arc::clone(store), Arc::clone(&ns), k.clone());
            let record = (k, t.to_string().into_bytes());
            async move {
                store
                    .insert_if_absent(&ns, record, Some(LONG_TTL))
                    .await
                    .unwrap()
            }
        })
        .await;
        let winners: Vec<usize> = (0..TASKS).filter(|t| won[*t]).collect();
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(
            store.get(&ns, &k).await.unwrap(),
            Some(winners[0].to_string().into_bytes()),
            "round {round}: the stored value is not the winner's"
        );
    }
}

/// `incr` starts a missing counter at the increment, adds to a live one, stores decimal
/// text, starts over after a delete, and refuses a value that is not a counter.
pub async fn incr_counts(store: &Arc<dyn Store>) {
    let ns = namespace("incr");
    let k = key(&["count", "a"]);
    assert_eq!(store.incr(&ns, &k, 1, Some(LONG_TTL)).await.unwrap(), 1);
    assert_eq!(store.incr(&ns, &k, 5, Some(LONG_TTL)).await.unwrap(), 6);
    assert_eq!(store.get(&ns, &k).await.unwrap(), Some(b"6".to_vec()));
    assert_eq!(
        store
            .all(&ns, &pattern(&[Some("count"), None]))
            .await
            .unwrap(),
        vec![(k.clone(), b"6".to_vec())],
        "a counter must be listed"
    );
    store.delete(&ns, &k).await.unwrap();
    assert_eq!(
        store.incr(&ns, &k, 2, None).await.unwrap(),
        2,
        "not reset by delete"
    );
    store.delete(&ns, &k).await.unwrap();

    let text = key(&["count", "text"]);
    store
        .put(
            &ns,
            vec![(text.clone(), b"{\"a\":1}".to_vec())],
            Some(LONG_TTL),
        )
        .await
        .unwrap();
    let err = store.incr(&ns, &text, 1, Some(LONG_TTL)).await;
    assert!(
        matches!(err, Err(StoreError::Backend(_))),
        "incrementing a value that is not a counter must fail, got {err:?}"
    );
    assert_eq!(
        store.get(&ns, &text).await.unwrap(),
        Some(b"{\"a\":1}".to_vec())
    );
}

/// Many tasks incrementing one counter at once: every increment counts once, and each
/// call sees a distinct total.
pub async fn incr_is_atomic(store: &Arc<dyn Store>) {
    const TASKS: usize = 16;
    const EACH: u64 = 25;
    let ns = Arc::new(namespace("incr_atomic"));
    let k = key(&["hits"]);
    let seen = race(TASKS, |_| {
        let (store, ns, k) = (Arc::clone(store), Arc::clone(&ns), k.clone());
        async move {
            let mut seen = Vec::new();
            for _ in 0..EACH {
                seen.push(store.incr(&ns, &k, 1, Some(LONG_TTL)).await.unwrap());
            }
            seen
        }
    })
    .await;
    let total = u64::try_from(TASKS).unwrap() * EACH;
    let distinct: BTreeSet<u64> = seen.into_iter().flatten().collect();
    assert_eq!(
        distinct,
        (1..=total).collect::<BTreeSet<u64>>(),
        "increments were lost or counted twice"
    );
    assert_eq!(
        store.get(&ns, &k).await.unwrap(),
        Some(total.to_string().into_bytes())
    );
}

/// A counter's TTL runs from its first increment: later increments neither restart nor
/// extend it (a fixed window), and the next increment after expiry starts a new window.
pub async fn incr_window_is_fixed(store: &Arc<dyn Store>) {
    let ns = namespace("incr_window");
    let k: Key = key(&["window"]);
    let window = Duration::from_millis(400);
    let opened = Instant::now();
    assert_eq!(store.incr(&ns, &k, 1, Some(window)).await.unwrap(), 1);
    sleep_until(opened + window / 2).await;
    let second = store.incr(&ns, &k, 1, Some(window)).await.unwrap();
    if opened.elapsed() < window {
        assert_eq!(second, 2, "the counter restarted inside its window");
    }
    sleep_until(opened + window + EXPIRY_SLACK).await;
    assert_eq!(
        store.get(&ns, &k).await.unwrap(),
        None,
        "a later increment extended the window"
    );
    assert_eq!(
        store.incr(&ns, &k, 1, Some(window)).await.unwrap(),
        1,
        "a new window must start from zero"
    );
    store.delete(&ns, &k).await.unwrap();
}

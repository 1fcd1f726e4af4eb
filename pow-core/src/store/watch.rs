//! The outage mode of a store on another server: every call has a deadline, and the store's
//! health (answering, or degraded since when) is kept where an app can read it.
//!
//! [`PowConfigBuilder::build`](crate::PowConfigBuilder::build) puts every store that is not
//! in the process ([`Store::in_process`]) behind [`Watched`]. A call that fails with
//! [`StoreError::Unavailable`], or that has no answer within the deadline, marks the store
//! degraded; the next call that gets an answer marks it healthy again. Nothing retries: the
//! request that met the failure answers `503` with `Retry-After`, and the next request tries
//! the store again, so service comes back by itself as soon as the store does.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::{Broadcast, Key, KeyPattern, Record, Store, StoreError};

/// How long a call to a store on another server may take before it counts as unavailable,
/// unless the config says otherwise
/// ([`PowConfigBuilder::store_deadline`](crate::PowConfigBuilder::store_deadline)).
pub const DEFAULT_STORE_DEADLINE: Duration = Duration::from_secs(2);

/// How a store is doing, from the calls this process made ([`Store::health`]).
///
/// ```
/// use pow_core::store::{MemoryStore, Store};
///
/// let health = MemoryStore::shared().health();
/// assert!(!health.degraded);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreHealth {
    /// The last call had no answer: requests that need the store answer `503`.
    pub degraded: bool,
    /// When the store stopped answering, while it is degraded.
    pub since: Option<SystemTime>,
    /// Calls that had no answer, since the process started.
    pub failed_calls: u64,
    /// Times the store came back after being degraded.
    pub recoveries: u64,
}

/// The shared state behind [`StoreHealth`].
#[derive(Debug, Default)]
struct HealthState {
    degraded: AtomicBool,
    since_ms: AtomicU64,
    failed_calls: AtomicU64,
    recoveries: AtomicU64,
}

impl HealthState {
    fn failed(&self, err: &StoreError) {
        self.failed_calls.fetch_add(1, Ordering::Relaxed);
        if !self.degraded.swap(true, Ordering::AcqRel) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            self.since_ms.store(now, Ordering::Release);
            tracing::error!(
                error = %err,
                "the cache store does not answer: requests that need it answer 503 until it does"
            );
        }
    }

    fn answered(&self) {
        // The common case costs one load.
        if self.degraded.load(Ordering::Acquire) && self.degraded.swap(false, Ordering::AcqRel) {
            self.recoveries.fetch_add(1, Ordering::Relaxed);
            let since = self.since_ms.swap(0, Ordering::AcqRel);
            let down_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .saturating_sub(since);
            tracing::warn!(down_ms, "the cache store answers again");
        }
    }

    fn snapshot(&self) -> StoreHealth {
        let degraded = self.degraded.load(Ordering::Acquire);
        let since_ms = self.since_ms.load(Ordering::Acquire);
        StoreHealth {
            degraded,
            since: (degraded && since_ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(since_ms)),
            failed_calls: self.failed_calls.load(Ordering::Relaxed),
            recoveries: self.recoveries.load(Ordering::Relaxed),
        }
    }
}

/// A store on another server, with a deadline on every call and its health kept.
pub(crate) struct Watched {
    inner: Arc<dyn Store>,
    deadline: Duration,
    health: HealthState,
}

impl Watched {
    /// `store` behind a deadline, unless it lives in this process (it cannot be away).
    pub(crate) fn wrap(store: Arc<dyn Store>, deadline: Duration) -> Arc<dyn Store> {
        if store.in_process() {
            return store;
        }
        Arc::new(Self {
            inner: store,
            deadline,
            health: HealthState::default(),
        })
    }

    /// Runs `call` within the deadline and keeps the health up to date.
    async fn watch<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(self.deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {:?}",
                self.deadline
            ))),
        };
        match &result {
            Err(err @ StoreError::Unavailable(_)) => self.health.failed(err),
            _ => self.health.answered(),
        }
        result
    }
}

#[async_trait]
impl Store for Watched {
    async fn put(
        &self,
        namespace: &str,
        records: Vec<Record>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.watch(self.inner.put(namespace, records, ttl)).await
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        self.watch(self.inner.get(namespace, key)).await
    }

    async fn get_many(
        &self,
        namespace: &str,
        keys: &[Key],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.watch(self.inner.get_many(namespace, keys)).await
    }

    async fn get_many_shared(
        &self,
        namespace: &str,
        keys: &[&[&str]],
    ) -> Result<Vec<Option<Arc<[u8]>>>, StoreError> {
        self.watch(self.inner.get_many_shared(namespace, keys))
            .await
    }

    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError> {
        self.watch(self.inner.delete(namespace, key)).await
    }

    async fn all(
        &self,
        namespace: &str,
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        self.watch(self.inner.all(namespace, pattern)).await
    }

    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        self.watch(self.inner.take(namespace, key)).await
    }

    async fn insert_if_absent(
        &self,
        namespace: &str,
        record: Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.watch(self.inner.insert_if_absent(namespace, record, ttl))
            .await
    }

    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        self.watch(self.inner.incr(namespace, key, by, ttl)).await
    }

    fn broadcast(&self) -> Option<Arc<dyn Broadcast>> {
        self.inner.broadcast()
    }

    fn in_process(&self) -> bool {
        false
    }

    fn health(&self) -> StoreHealth {
        self.health.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that can be switched off: every call then fails as unavailable.
    #[derive(Default)]
    struct Switch {
        inner: crate::store::MemoryStore,
        down: AtomicBool,
    }

    impl Switch {
        fn check(&self) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("switched off".into()));
            }
            Ok(())
        }
    }

    #[async_trait]
    impl Store for Switch {
        async fn put(
            &self,
            ns: &str,
            records: Vec<Record>,
            ttl: Option<Duration>,
        ) -> Result<(), StoreError> {
            self.check()?;
            self.inner.put(ns, records, ttl).await
        }
        async fn get(&self, ns: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
            self.check()?;
            self.inner.get(ns, key).await
        }
        async fn delete(&self, ns: &str, key: &Key) -> Result<(), StoreError> {
            self.check()?;
            self.inner.delete(ns, key).await
        }
        async fn all(&self, ns: &str, pattern: &[KeyPattern]) -> Result<Vec<Record>, StoreError> {
            self.check()?;
            self.inner.all(ns, pattern).await
        }
    }

    #[tokio::test]
    async fn a_failed_call_degrades_and_the_next_answer_recovers() {
        let switch = Arc::new(Switch::default());
        let store = Watched::wrap(switch.clone(), DEFAULT_STORE_DEADLINE);
        let key = Key::from("k");
        assert_eq!(store.health(), StoreHealth::default());
        switch.down.store(true, Ordering::SeqCst);
        assert!(store.get("ns", &key).await.is_err());
        assert!(store.get("ns", &key).await.is_err());
        let down = store.health();
        assert!(down.degraded && down.since.is_some());
        assert_eq!((down.failed_calls, down.recoveries), (2, 0));
        switch.down.store(false, Ordering::SeqCst);
        assert_eq!(store.get("ns", &key).await.ok(), Some(None));
        let up = store.health();
        assert!(!up.degraded && up.since.is_none());
        assert_eq!((up.failed_calls, up.recoveries), (2, 1));
    }

    #[tokio::test]
    async fn a_call_past_the_deadline_is_unavailable() {
        struct Stalled;
        #[async_trait]
        impl Store for Stalled {
            async fn put(
                &self,
                _: &str,
                _: Vec<Record>,
                _: Option<Duration>,
            ) -> Result<(), StoreError> {
                std::future::pending().await
            }
            async fn get(&self, _: &str, _: &Key) -> Result<Option<Vec<u8>>, StoreError> {
                std::future::pending().await
            }
            async fn delete(&self, _: &str, _: &Key) -> Result<(), StoreError> {
                Ok(())
            }
            async fn all(&self, _: &str, _: &[KeyPattern]) -> Result<Vec<Record>, StoreError> {
                Ok(Vec::new())
            }
        }
        let store = Watched::wrap(Arc::new(Stalled), Duration::from_millis(20));
        let err = store.get("ns", &Key::from("k")).await.err();
        assert!(matches!(err, Some(StoreError::Unavailable(_))), "{err:?}");
        assert!(store.health().degraded);
        // The next call that gets an answer ends the outage.
        assert!(store.delete("ns", &Key::from("k")).await.is_ok());
        assert!(!store.health().degraded);
    }

    #[test]
    fn stores_in_the_process_are_not_wrapped() {
        let memory: Arc<dyn Store> = crate::store::MemoryStore::shared();
        let wrapped = Watched::wrap(Arc::clone(&memory), DEFAULT_STORE_DEADLINE);
        assert!(Arc::ptr_eq(&memory, &wrapped));
    }
}

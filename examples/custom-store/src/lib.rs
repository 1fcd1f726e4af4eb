//! An application-owned cache-store backend for pow-rs.
//!
//! pow-core keeps sessions, remember-me and reset tokens in a [`Store`]. It ships an
//! in-memory store, and Redis and on-disk stores behind features; any other place your
//! application already trusts can hold them too. Writing a backend takes three steps:
//!
//! 1. Implement [`Store`]: `put`, `get`, `delete` and `all`. Each method's documentation
//!    states its contract; the ones that matter for security are that an expired value is
//!    never returned, that namespaces never see each other's keys, and that a put restarts
//!    the TTL.
//! 2. Override [`Store::take`] when the backend can remove-and-return in one step (here:
//!    under one lock). Single-use tokens rely on it: of two concurrent takes, at most one
//!    may get the value.
//! 3. Run the conformance suite on it, from a test, with pow-core's `test-util` feature as a
//!    dev-dependency (see `tests/conformance.rs` in this crate):
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use example_custom_store::AppStore;
//! use pow_actix::store::conformance;
//!
//! conformance::run_all(Arc::new(AppStore::new())).await;
//! # }
//! ```
//!
//! Then hand it to the configuration (see `src/main.rs`):
//!
//! ```no_run
//! # fn demo() -> Result<(), pow_actix::PowError> {
//! use std::sync::Arc;
//! use example_custom_store::AppStore;
//!
//! let secret_key_base = std::env::var("SECRET_KEY_BASE").expect("64 random bytes");
//! let config = pow_actix::PowConfig::builder(secret_key_base)
//!     .store(Arc::new(AppStore::new()))
//!     .build()?;
//! # Ok(())
//! # }
//! ```
//!
//! [`AppStore`] itself is the smallest honest backend: a `HashMap` per namespace behind a
//! `Mutex`, each value stored with its expiry instant.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pow_actix::store::{parse_counter, Key, KeyPattern, Record, Store, StoreError};

/// Expired entries are reclaimed once every this many writes.
const SWEEP_EVERY: u64 = 256;

struct Entry {
    value: Vec<u8>,
    /// `None`: kept until deleted.
    expires_at: Option<Instant>,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        !matches!(self.expires_at, Some(at) if now >= at)
    }
}

#[derive(Default)]
struct State {
    namespaces: HashMap<String, HashMap<Key, Entry>>,
    writes_since_sweep: u64,
}

impl State {
    /// Drops every expired entry (and namespaces left empty).
    fn sweep(&mut self, now: Instant) {
        for entries in self.namespaces.values_mut() {
            entries.retain(|_, entry| entry.is_live(now));
        }
        self.namespaces.retain(|_, entries| !entries.is_empty());
    }
}

/// An in-process [`Store`]: one `HashMap` per namespace behind a `Mutex`.
///
/// Expired values are never returned; they are reclaimed every few hundred writes.
#[derive(Default)]
pub struct AppStore {
    state: Mutex<State>,
}

impl AppStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries held, including expired ones not yet reclaimed.
    pub fn len(&self) -> usize {
        self.lock().namespaces.values().map(HashMap::len).sum()
    }

    /// Whether the store holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the map consistent (every update
        // is a single insert or remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for AppStore {
    async fn put(
        &self,
        namespace: &str,
        records: Vec<Record>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        // A TTL too long to represent means "never expires".
        let expires_at = ttl.and_then(|ttl| now.checked_add(ttl));
        let mut state = self.lock();
        let entries = state.namespaces.entry(namespace.to_owned()).or_default();
        for (key, value) in records {
            entries.insert(key, Entry { value, expires_at });
        }
        state.writes_since_sweep += 1;
        if state.writes_since_sweep >= SWEEP_EVERY {
            state.writes_since_sweep = 0;
            state.sweep(now);
        }
        Ok(())
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let state = self.lock();
        Ok(state
            .namespaces
            .get(namespace)
            .and_then(|entries| entries.get(key))
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.value.clone()))
    }

    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError> {
        if let Some(entries) = self.lock().namespaces.get_mut(namespace) {
            entries.remove(key);
        }
        Ok(())
    }

    async fn all(
        &self,
        namespace: &str,
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        let now = Instant::now();
        let state = self.lock();
        let Some(entries) = state.namespaces.get(namespace) else {
            return Ok(Vec::new());
        };
        Ok(entries
            .iter()
            .filter(|(key, entry)| entry.is_live(now) && key.matches(pattern))
            .map(|(key, entry)| (key.clone(), entry.value.clone()))
            .collect())
    }

    /// Removes and returns under one lock, so concurrent takes cannot both win.
    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        Ok(state
            .namespaces
            .get_mut(namespace)
            .and_then(|entries| entries.remove(key))
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.value))
    }

    /// Checks and stores under one lock, so of concurrent claims exactly one wins.
    async fn insert_if_absent(
        &self,
        namespace: &str,
        (key, value): Record,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        let entries = state.namespaces.entry(namespace.to_owned()).or_default();
        if entries.get(&key).is_some_and(|entry| entry.is_live(now)) {
            return Ok(false);
        }
        let expires_at = ttl.and_then(|ttl| now.checked_add(ttl));
        entries.insert(key, Entry { value, expires_at });
        Ok(true)
    }

    /// Reads and writes the counter under one lock; the first increment sets the expiry
    /// and later ones keep it.
    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        let entries = state.namespaces.entry(namespace.to_owned()).or_default();
        let (count, expires_at) = match entries.get(key).filter(|entry| entry.is_live(now)) {
            Some(entry) => (
                parse_counter(&entry.value)?.saturating_add(by),
                entry.expires_at,
            ),
            None => (by, ttl.and_then(|ttl| now.checked_add(ttl))),
        };
        let value = count.to_string().into_bytes();
        entries.insert(key.clone(), Entry { value, expires_at });
        Ok(count)
    }
}

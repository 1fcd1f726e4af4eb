//! [`Claim`]: a short exclusive right, taken atomically in the cache store, so that of
//! several requests racing to use one thing (an invitation, a confirmation link) exactly
//! one writes.

use std::sync::Arc;
use std::time::Duration;

use super::{Key, Store, StoreError};
use crate::config::PowConfig;

/// The right to act on one thing for the length of one request, held in the cache store
/// (taken with [`Store::insert_if_absent`], so every node sharing the store agrees).
///
/// Take it, re-read what the request works on, write, then release it: a request that
/// loses the race finds the claim taken, and one that comes later finds the write.
///
/// ```
/// # async fn demo(config: &pow_core::PowConfig) -> Result<(), pow_core::store::StoreError> {
/// use pow_core::store::Claim;
///
/// let claim = Claim::new(config, "invitation", ["accept", "42"]);
/// if claim.take().await? {
///     // ... read the row again, write ...
///     claim.release().await?;
/// }
/// # Ok(()) }
/// ```
pub struct Claim {
    store: Arc<dyn Store>,
    namespace: String,
    key: Key,
}

impl Claim {
    /// Longest time a claim is held if its request dies before releasing it.
    pub const TTL: Duration = Duration::from_secs(30);

    /// The claim on `key` in the app's `namespace` (prefixed like every cache namespace).
    pub fn new<I, S>(config: &PowConfig, namespace: &str, key: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced(namespace),
            key: Key(key.into_iter().map(Into::into).collect()),
        }
    }

    /// Takes the claim: `true` when this caller holds it now, `false` when another does.
    ///
    /// # Errors
    /// When the store cannot be reached.
    pub async fn take(&self) -> Result<bool, StoreError> {
        self.store
            .insert_if_absent(
                &self.namespace,
                (self.key.clone(), b"1".to_vec()),
                Some(Self::TTL),
            )
            .await
    }

    /// Gives the claim back, for the next request to find the result of the write.
    ///
    /// # Errors
    /// When the store cannot be reached (the claim then expires after [`TTL`](Self::TTL)).
    pub async fn release(&self) -> Result<(), StoreError> {
        self.store.delete(&self.namespace, &self.key).await
    }
}

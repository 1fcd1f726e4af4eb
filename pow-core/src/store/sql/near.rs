//! The SQL store's local read cache on PostgreSQL (see
//! [`SqlStore::with_local_cache`](super::SqlStore::with_local_cache)): the shared
//! [`NearCache`] kept right by the notifications `pow_store`'s trigger sends for every
//! change of a live record, whoever makes it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::notify::{Channel, Heard, PgBroadcast};
use crate::store::near_cache::NearCache;
use crate::store::segments::push_part;
use crate::store::StoreError;

/// The cache, whether it may serve, and the channel its invalidations travel on.
pub(crate) struct SqlNear {
    cache: NearCache<[u8]>,
    /// Serving from memory is only right while the listener listens.
    listening: AtomicBool,
}

impl SqlNear {
    /// A cache of `capacity` values (none older than `max_age`) and its listener.
    pub(crate) fn start(
        broadcast: &Arc<PgBroadcast>,
        capacity: usize,
        max_age: Duration,
    ) -> Result<Arc<Self>, StoreError> {
        let near = Arc::new(Self {
            cache: NearCache::new(capacity, max_age),
            listening: AtomicBool::new(false),
        });
        // The listener outlives nothing it needs: once the store is gone, it hears for
        // nobody.
        let weak = Arc::downgrade(&near);
        broadcast.listen(
            Channel::Changes,
            Box::new(move |heard| {
                if let Some(near) = weak.upgrade() {
                    near.hear(&heard);
                }
            }),
        )?;
        Ok(near)
    }

    fn hear(&self, heard: &Heard<'_>) {
        match heard {
            Heard::Listening => {
                // Whatever changed while nobody listened is unknown: start empty.
                self.cache.clear();
                self.listening.store(true, Ordering::Release);
            }
            Heard::Lost(_) => {
                self.listening.store(false, Ordering::Release);
                self.cache.clear();
            }
            Heard::Message(payload) => match decode(payload) {
                Some(key) => self.cache.invalidate(&key),
                None => self.cache.clear(),
            },
        }
    }

    /// The cache, while it may serve.
    pub(crate) fn serving(&self) -> Option<&NearCache<[u8]>> {
        self.listening
            .load(Ordering::Acquire)
            .then_some(&self.cache)
    }

    /// After this process wrote `keys` (cache keys, [`cache_key`]): drops them here at
    /// once, before the trigger's notification comes back.
    pub(crate) fn changed(&self, keys: &[Vec<u8>]) {
        for key in keys {
            self.cache.invalidate(key);
        }
    }
}

/// The cache key of a record: its namespace and encoded key.
pub(crate) fn cache_key(namespace: &str, encoded_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + namespace.len() + encoded_key.len());
    push_part(&mut out, namespace);
    out.extend_from_slice(encoded_key);
    out
}

/// The cache key a trigger's payload names (`<namespace hex>.<key hex>`); `None` for a
/// payload this code cannot read.
fn decode(payload: &str) -> Option<Vec<u8>> {
    let (namespace, key) = payload.split_once('.')?;
    let namespace = String::from_utf8(hex(namespace)?).ok()?;
    Some(cache_key(&namespace, &hex(key)?))
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_payloads_name_cache_keys() {
        // What the trigger sends for namespace "credentials" and key bytes 00 01 ff.
        let payload = "63726564656e7469616c73.0001ff";
        assert_eq!(
            decode(payload),
            Some(cache_key("credentials", &[0, 1, 0xff]))
        );
        assert_eq!(decode("6e73."), Some(cache_key("ns", &[])));
        for bad in ["", "6e73", "6e7.00", "zz.00", "6e73.0", "ff.00"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}

//! [`OneTimeSecrets`]: short-lived records under the keyed digest of a secret, taken once.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode_record, Key, Limit, Limiter, Store, StoreError, UserIndex};
use crate::config::PowConfig;
use crate::token::MessageVerifier;

/// Rule name of the counters of tries at one-time records.
const ATTEMPTS_RULE: &str = "one_time_attempts";

/// Short-lived records in the cache store, each kept under the keyed digest of a secret
/// only its holder knows (a link token, a code id, an OAuth `state`) and taken at most
/// once: of concurrent takers, one gets the record.
///
/// The digest is HMAC-SHA256 under a key derived from the secret key base for the
/// record's purpose, so a dump of the store holds nothing a request could present; a
/// record written under a retired secret of the key ring is still found.
///
/// A record that stands for something guessable (a short code mailed or shown to its
/// holder) counts the tries at it with [`attempt`](Self::attempt): past the maximum the
/// record is dropped, so guessing ends with it.
///
/// ```
/// # async fn example(config: pow_core::PowConfig) -> Result<(), pow_core::store::StoreError> {
/// use std::time::Duration;
/// use pow_core::store::OneTimeSecrets;
///
/// let attempts = OneTimeSecrets::new(&config, "my_ext", "attempt", Duration::from_secs(300));
/// let secret = pow_core::token::generate_uuid(); // handed to the client
/// attempts.put(&secret, &"what the secret stands for").await?;
/// let record: Option<String> = attempts.take(&secret).await?;
/// assert_eq!(record.as_deref(), Some("what the secret stands for"));
/// assert_eq!(attempts.take::<String>(&secret).await?, None); // once
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct OneTimeSecrets {
    store: Arc<dyn Store>,
    namespace: String,
    verifier: MessageVerifier,
    purpose: &'static str,
    ttl: Duration,
    attempts: Limiter,
}

impl std::fmt::Debug for OneTimeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneTimeSecrets")
            .field("namespace", &self.namespace)
            .field("purpose", &self.purpose)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl OneTimeSecrets {
    /// Records of `purpose` in the store namespace `namespace` (namespaced per setup, see
    /// [`PowConfig::namespaced`]), each living `ttl`.
    pub fn new(config: &PowConfig, namespace: &str, purpose: &'static str, ttl: Duration) -> Self {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced(namespace),
            verifier: config.verifier().clone(),
            purpose,
            ttl,
            attempts: Limiter::new(config, ATTEMPTS_RULE),
        }
    }

    /// The store key of `secret` under one digest.
    fn key(&self, digest: String) -> Key {
        Key(vec![self.purpose.to_owned(), digest])
    }

    /// The keys `secret` may be stored under: its digest under each secret of the key
    /// ring, the current one first.
    fn keys(&self, secret: &str) -> impl Iterator<Item = Key> + '_ {
        self.verifier
            .token_digests(self.purpose, secret)
            .into_iter()
            .map(|digest| self.key(digest))
    }

    /// Keeps `record` under `secret` for the TTL (replacing what was there).
    ///
    /// # Errors
    /// When the store fails or the record does not serialize.
    pub async fn put<T: Serialize + ?Sized>(
        &self,
        secret: &str,
        record: &T,
    ) -> Result<(), StoreError> {
        self.put_for(secret, record, self.ttl).await
    }

    /// Keeps `record` under `secret` for `ttl` instead of the records' TTL (to put a taken
    /// record back for the rest of its life, say).
    ///
    /// # Errors
    /// When the store fails or the record does not serialize.
    pub async fn put_for<T: Serialize + ?Sized>(
        &self,
        secret: &str,
        record: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.key(self.verifier.token_digest(self.purpose, secret));
        self.store
            .put(
                &self.namespace,
                vec![(key, serde_json::to_vec(record)?)],
                Some(ttl),
            )
            .await
    }

    /// Keeps `record` under `secret` for the TTL, noted in `user_id`'s index (under the
    /// secret's digest, never the secret), so [`forget_user`](Self::forget_user) ends it: a
    /// record about a user that must not outlive the account (a pending sign-in, say).
    ///
    /// # Errors
    /// When the store fails or the record does not serialize.
    pub async fn put_for_user<T: Serialize + ?Sized>(
        &self,
        user_id: i64,
        secret: &str,
        record: &T,
    ) -> Result<(), StoreError> {
        let digest = self.verifier.token_digest(self.purpose, secret);
        let index = UserIndex::new(self.purpose).key(user_id, &digest);
        let records = vec![
            (self.key(digest), serde_json::to_vec(record)?),
            (index, b"1".to_vec()),
        ];
        self.store
            .put(&self.namespace, records, Some(self.ttl))
            .await
    }

    /// Drops every record of `user_id` kept with [`put_for_user`](Self::put_for_user), and
    /// the index (an erased account).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn forget_user(&self, user_id: i64) -> Result<(), StoreError> {
        let index = UserIndex::new(self.purpose);
        let noted = self
            .store
            .all(&self.namespace, &index.pattern(user_id))
            .await?;
        for (key, _) in noted {
            if let Some(digest) = key.0.get(3) {
                let record = self.key(digest.clone());
                self.store.delete(&self.namespace, &record).await?;
            }
            self.store.delete(&self.namespace, &key).await?;
        }
        Ok(())
    }

    /// How long records live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes the record under `secret`: of concurrent callers at most one gets it.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn take<T: DeserializeOwned>(&self, secret: &str) -> Result<Option<T>, StoreError> {
        for key in self.keys(secret) {
            if let Some(bytes) = self.store.take(&self.namespace, &key).await? {
                return Ok(decode_record(&bytes, self.purpose));
            }
        }
        Ok(None)
    }

    /// Reads the record under `secret` without taking it.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn get<T: DeserializeOwned>(&self, secret: &str) -> Result<Option<T>, StoreError> {
        for key in self.keys(secret) {
            if let Some(bytes) = self.store.get(&self.namespace, &key).await? {
                return Ok(decode_record(&bytes, self.purpose));
            }
        }
        Ok(None)
    }

    /// Counts one try at the record under `secret` (a code typed for it, say), at most `max`
    /// in the record's lifetime: `false` once over, and the record is then dropped. Count
    /// each try before checking it, whether the record exists or not (an unknown secret
    /// costs the same).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn attempt(&self, secret: &str, max: u32) -> Result<bool, StoreError> {
        // The limiter keys its counters by a keyed hash of the subject: the store holds no
        // secret, and each namespace and purpose counts apart.
        let subject = format!("{}\n{}\n{secret}", self.namespace, self.purpose);
        let window = self.ttl.max(Duration::from_secs(1));
        if self.attempts.hit(Limit::new(max, window), &subject).await? {
            return Ok(true);
        }
        self.delete(secret).await?;
        Ok(false)
    }

    /// Drops the record under `secret`, if any.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn delete(&self, secret: &str) -> Result<(), StoreError> {
        for key in self.keys(secret) {
            self.store.delete(&self.namespace, &key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn config(secret: &str, store: &Arc<dyn Store>, retired: Option<&str>) -> PowConfig {
        let mut builder = PowConfig::builder(secret.repeat(64)).store(Arc::clone(store));
        if let Some(old) = retired {
            builder = builder.retired_secret_key_base("old", old.repeat(64));
        }
        builder.build().unwrap()
    }

    #[tokio::test]
    async fn a_record_is_taken_once_and_found_across_a_key_change() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let old = config("a", &store, None);
        let ttl = Duration::from_secs(60);
        let records = OneTimeSecrets::new(&old, "test", "grant", ttl);
        records.put("s3cret", &7_u32).await.unwrap();
        assert_eq!(records.get::<u32>("s3cret").await.unwrap(), Some(7));
        assert_eq!(records.take::<u32>("wrong").await.unwrap(), None);

        // The store keeps the keyed digest only: the secret itself opens nothing there.
        let bare = Key(vec!["grant".to_owned(), "s3cret".to_owned()]);
        let namespace = old.namespaced("test");
        assert_eq!(store.get(&namespace, &bare).await.unwrap(), None);

        // After a key change, with the old secret retired, the record is still found; once.
        let new = config("b", &store, Some("a"));
        let records = OneTimeSecrets::new(&new, "test", "grant", ttl);
        assert_eq!(records.take::<u32>("s3cret").await.unwrap(), Some(7));
        assert_eq!(records.take::<u32>("s3cret").await.unwrap(), None);

        // Another purpose does not see it.
        records.put("s3cret", &8_u32).await.unwrap();
        let other = OneTimeSecrets::new(&new, "test", "other", ttl);
        assert_eq!(other.take::<u32>("s3cret").await.unwrap(), None);
        records.delete("s3cret").await.unwrap();
        assert_eq!(records.get::<u32>("s3cret").await.unwrap(), None);
    }

    #[tokio::test]
    async fn tries_past_the_maximum_drop_the_record() {
        let store: Arc<dyn Store> = MemoryStore::shared();
        let config = config("a", &store, None);
        let codes = OneTimeSecrets::new(&config, "t", "code", Duration::from_secs(60));
        let other = OneTimeSecrets::new(&config, "t", "other", Duration::from_secs(60));
        codes.put("id", &"grant").await.unwrap();
        other.put("id", &"grant").await.unwrap();
        for _ in 0..3 {
            assert!(codes.attempt("id", 3).await.unwrap());
        }
        assert_eq!(
            codes.get::<String>("id").await.unwrap().as_deref(),
            Some("grant")
        );
        assert!(
            !codes.attempt("id", 3).await.unwrap(),
            "the fourth try is refused"
        );
        assert_eq!(
            codes.get::<String>("id").await.unwrap(),
            None,
            "and the record is gone"
        );
        // Another purpose counts apart.
        assert!(other.attempt("id", 3).await.unwrap());
        assert_eq!(
            other.get::<String>("id").await.unwrap().as_deref(),
            Some("grant")
        );
    }
}

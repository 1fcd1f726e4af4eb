//! Verified keys' records in the cache store: what spares a request with a key its two
//! database reads (the key and its owner). A record is written after a request read both
//! from the database, and dropped whenever either may have changed: the key revoked,
//! rotated or renamed, the owner's credentials revoked (a disabled, closed or erased
//! account, a changed password, "sign out everywhere"). It lives a minute at most, so the
//! owner as the record shows them is never older than that. An organization's key is
//! never recorded: its maker's membership is read on every request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pow_core::store::{Key, Limiter, Store, StoreError};
use pow_core::token::secure_compare;
use pow_core::users::User;
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};

use crate::flows::Authenticated;
use crate::StoredKey;

/// How long a record lives.
const TTL: Duration = Duration::from_secs(60);

/// A verified key and its owner, as the cache store keeps them (the key's keyed hash, never
/// its secret; the owner without their password hash or secret fields).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) user_id: i64,
    pub(crate) name: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) secret_hash: String,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub(crate) created_at: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub(crate) expires_at: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub(crate) revoked_at: Option<DateTime<Utc>>,
    pub(crate) user: User,
}

impl Record {
    /// The record of `key` (a user's own) and its owner `user`.
    pub(crate) fn of(config: &PowConfig, key: &StoredKey, user: &User) -> Self {
        let mut user = user.clone();
        if user.password_hash.is_some() {
            user.password_hash = Some(String::new());
        }
        for field in config.user_schema().fields() {
            if field.secret {
                user.fields.remove(&field.name);
            }
        }
        Self {
            user_id: key.user_id,
            name: key.name.clone(),
            scopes: key.scopes.clone(),
            secret_hash: key.secret_hash.clone(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
            user,
        }
    }

    /// The key it records, of id `id`.
    fn key(&self, id: &str) -> StoredKey {
        StoredKey {
            id: id.to_owned(),
            user_id: self.user_id,
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            secret_hash: self.secret_hash.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
            organization_id: None,
        }
    }
}

/// The records of `config`'s setup, in the cache store.
#[derive(Clone)]
pub(crate) struct Records {
    store: Arc<dyn Store>,
    namespace: String,
}

impl Records {
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced("api_key_records"),
        }
    }

    /// The record of the key `id`, as the store holds it (undecoded, shared with a store
    /// that keeps values in this process).
    async fn get(&self, id: &str) -> Result<Option<Arc<[u8]>>, PowError> {
        let mut found = self
            .store
            .get_many_shared(&self.namespace, &[&[id]])
            .await?;
        Ok(found.pop().flatten())
    }

    /// Records the key `id`.
    pub(crate) async fn put(&self, id: &str, record: &Record) -> Result<(), PowError> {
        let bytes = serde_json::to_vec(record).map_err(StoreError::from)?;
        Ok(self
            .store
            .put(&self.namespace, vec![(Key::from([id]), bytes)], Some(TTL))
            .await?)
    }

    /// Drops the record of the key `id`.
    pub(crate) async fn forget(&self, id: &str) -> Result<(), PowError> {
        Ok(self.store.delete(&self.namespace, &Key::from([id])).await?)
    }
}

/// A record as this process decoded it, with the secret that last matched its hash.
pub(crate) struct Decoded {
    bytes: Arc<[u8]>,
    /// The key.
    pub(crate) key: StoredKey,
    /// Its owner.
    pub(crate) user: Arc<User>,
    /// What a request with it gets.
    pub(crate) authenticated: Arc<Authenticated>,
    /// Its rate limit counter.
    pub(crate) counter: Key,
    secret: OnceLock<Box<str>>,
}

impl Decoded {
    /// Whether `secret` is the key's: compared in constant time with the secret that
    /// matched this very record before, else hashed and compared with the record's hash.
    pub(crate) fn verifies(&self, config: &PowConfig, secret: &str) -> bool {
        if let Some(known) = self.secret.get() {
            return secure_compare(known.as_bytes(), secret.as_bytes());
        }
        let matches = crate::key::matches(config, secret, &self.key.secret_hash);
        if matches {
            let _ = self.secret.set(secret.into());
        }
        matches
    }
}

/// Entries each of the process's maps holds at most; a full map is emptied (no per-read
/// bookkeeping).
const HOT_CAPACITY: usize = 16_384;

/// A map of at most [`HOT_CAPACITY`] entries, read under a shared lock.
struct Memo<K, V>(RwLock<HashMap<K, V, foldhash::fast::RandomState>>);

impl<K: std::hash::Hash + Eq, V: Clone> Memo<K, V> {
    fn new() -> Self {
        Self(RwLock::default())
    }

    fn get<Q: std::hash::Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn remove<Q: std::hash::Hash + Eq + ?Sized>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
    {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn insert(&self, key: K, value: V) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= HOT_CAPACITY && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, value);
    }
}

/// What one process keeps between the requests of a setup: the rate limiter, the clients'
/// counter keys (keyed digests of their addresses, computed once) and decoded records.
/// The store stays the source of truth: a record is read on every request and its decoded
/// copy used only while the store holds the very same bytes, so a revocation anywhere is
/// seen on the next request. It keeps secrets that matched a record's hash (as the
/// process's memo of verified app tokens does), compared in constant time.
pub(crate) struct Hot {
    /// The counters of keys and clients.
    pub(crate) limiter: Limiter,
    /// The records.
    pub(crate) records: Records,
    clients: Memo<Option<IpAddr>, Arc<Key>>,
    decoded: Memo<Box<str>, Arc<Decoded>>,
}

impl Hot {
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self {
            limiter: Limiter::new(config, RULE),
            records: Records::new(config),
            clients: Memo::new(),
            decoded: Memo::new(),
        }
    }

    /// The counter of the client at `ip`.
    pub(crate) fn client_counter(&self, ip: Option<IpAddr>) -> Arc<Key> {
        if let Some(counter) = self.clients.get(&ip) {
            return counter;
        }
        let subject = ip.map_or_else(|| "client unknown".to_owned(), |ip| format!("client {ip}"));
        let counter = Arc::new(self.limiter.counter(&subject));
        self.clients.insert(ip, Arc::clone(&counter));
        counter
    }

    /// The counter of the key `id` (a random id, no personal data: kept as it is).
    pub(crate) fn key_counter(id: &str) -> Key {
        Key::from([RULE, "key", id])
    }

    /// The counter of secrets presented for the key `id` that were not its own.
    pub(crate) fn failed_counter(id: &str) -> Key {
        Key::from([RULE, "failed", id])
    }

    /// The key `id` as this process last decoded it (which the store may no longer hold:
    /// see [`record`](Self::record)).
    pub(crate) fn decoded(&self, id: &str) -> Option<Arc<Decoded>> {
        self.decoded.get(id)
    }

    /// Drops the record of the key `id` from the store, and this process's decoded copy.
    pub(crate) async fn forget(&self, id: &str) -> Result<(), PowError> {
        self.decoded.remove(id);
        self.records.forget(id).await
    }

    /// The record of the key `id`, decoded (once per version of it the store holds);
    /// `known` is [`decoded`](Self::decoded)'s answer.
    pub(crate) async fn record(
        &self,
        id: &str,
        known: Option<Arc<Decoded>>,
    ) -> Result<Option<Arc<Decoded>>, PowError> {
        let Some(bytes) = self.records.get(id).await? else {
            if known.is_some() {
                // Gone from the store (revoked, its owner's credentials revoked, erased):
                // its owner's data leaves this process's memory too.
                self.decoded.remove(id);
            }
            return Ok(None);
        };
        if let Some(decoded) = known {
            if Arc::ptr_eq(&decoded.bytes, &bytes) || decoded.bytes == bytes {
                return Ok(Some(decoded));
            }
        }
        let Ok(record) = serde_json::from_slice::<Record>(&bytes) else {
            // Not a record this version wrote: read from the database instead.
            return Ok(None);
        };
        let key = record.key(id);
        let user = Arc::new(record.user);
        let decoded = Arc::new(Decoded {
            authenticated: Arc::new(crate::flows::authenticated(&key, Arc::clone(&user), None)),
            counter: Self::key_counter(id),
            key,
            user,
            bytes,
            secret: OnceLock::new(),
        });
        self.decoded.insert(id.into(), Arc::clone(&decoded));
        Ok(Some(decoded))
    }
}

/// Drops the record of the key `id` from the store and this process's copy of it (the
/// other processes drop theirs on their next request with the key).
pub(crate) async fn forget(config: &PowConfig, id: &str) -> Result<(), PowError> {
    match crate::Registered::of(config) {
        Some(registered) => registered.hot(config).forget(id).await,
        None => Records::new(config).forget(id).await,
    }
}

/// The rule's name in the limiter's counters.
const RULE: &str = "api_keys";

/// Drops the records of every key of a user whose credentials were revoked: their next
/// request reads the key and the account from the database again.
pub(crate) struct ForgetOnRevocation;

#[async_trait::async_trait]
impl pow_core::extension::CredentialsRevoked for ForgetOnRevocation {
    async fn credentials_revoked(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        for id in crate::store::Keys::new(config)?
            .ids_of_user(user.id)
            .await?
        {
            forget(config, &id).await?;
        }
        Ok(())
    }

    /// A deprovisioned user's keys are revoked (a password change keeps them; an identity
    /// provider's deprovisioning does not).
    async fn deprovisioned(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        for id in crate::store::Keys::new(config)?
            .ids_of_user(user.id)
            .await?
        {
            crate::flows::revoke(config, user, &id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    fn record(config: &PowConfig) -> Record {
        let now = Utc::now();
        let key = StoredKey {
            id: "0123456789abcdef".into(),
            user_id: 7,
            name: "CI".into(),
            scopes: vec!["read".into()],
            secret_hash: "hash".into(),
            created_at: now,
            expires_at: now + chrono::Duration::days(1),
            last_used_at: None,
            revoked_at: None,
            organization_id: None,
        };
        let user = User {
            id: 7,
            password_hash: None,
            inserted_at: now,
            updated_at: now,
            fields: Default::default(),
        };
        Record::of(config, &key, &user)
    }

    /// A record dropped here, or gone from the store through another process, takes its
    /// owner's data out of this process's memory.
    #[tokio::test]
    async fn a_record_gone_from_the_store_leaves_the_process() {
        let config = PowConfig::builder("r".repeat(64))
            .base_url("http://localhost")
            .extension(crate::ApiKeys::new())
            .build()
            .unwrap();
        let hot = crate::Registered::of(&config).unwrap().hot(&config);
        let id = "0123456789abcdef";
        for forgotten_here in [true, false] {
            hot.records.put(id, &record(&config)).await.unwrap();
            let decoded = hot.record(id, hot.decoded(id)).await.unwrap().unwrap();
            assert_eq!(decoded.user.id, 7);
            // The same bytes: the same decoded copy.
            let again = hot.record(id, hot.decoded(id)).await.unwrap().unwrap();
            assert!(Arc::ptr_eq(&decoded, &again));
            if forgotten_here {
                forget(&config, id).await.unwrap();
                assert!(hot.decoded(id).is_none());
            } else {
                // Another process dropped it: this one notices on its next read.
                hot.records.forget(id).await.unwrap();
                assert!(hot.decoded(id).is_some());
            }
            assert!(hot.record(id, hot.decoded(id)).await.unwrap().is_none());
            assert!(hot.decoded(id).is_none());
        }
    }
}

//! Verified keys' records in the cache store: what spares a request with a key its two
//! database reads (the key and its owner). A record is written after a request read both
//! from the database, and dropped whenever either may have changed: the key revoked,
//! rotated or renamed, the owner's credentials revoked (a disabled, closed or erased
//! account, a changed password, "sign out everywhere"). It lives a minute at most, so the
//! owner as the record shows them is never older than that. An organization's key is
//! never recorded: its maker's membership is read on every request.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pow_core::store::{Cache, Key};
use pow_core::users::User;
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};

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
    pub(crate) fn key(&self, id: &str) -> StoredKey {
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

/// The records of `config`'s setup.
#[derive(Clone)]
pub(crate) struct Records(Cache);

impl Records {
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self(Cache::new(
            Arc::clone(config.store()),
            config.namespaced("api_key_records"),
            Some(TTL),
        ))
    }

    fn key(id: &str) -> Key {
        Key::from([id])
    }

    /// The record of the key `id`.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<Record>, PowError> {
        Ok(self.0.get(&Self::key(id)).await?)
    }

    /// Records the key `id`.
    pub(crate) async fn put(&self, id: &str, record: &Record) -> Result<(), PowError> {
        Ok(self.0.put(&Self::key(id), record).await?)
    }

    /// Drops the record of the key `id`.
    pub(crate) async fn forget(&self, id: &str) -> Result<(), PowError> {
        Ok(self.0.delete(&Self::key(id)).await?)
    }
}

/// Drops the records of every key of a user whose credentials were revoked: their next
/// request reads the key and the account from the database again.
pub(crate) struct ForgetOnRevocation;

#[async_trait::async_trait]
impl pow_core::extension::CredentialsRevoked for ForgetOnRevocation {
    async fn credentials_revoked(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        let records = Records::new(config);
        for id in crate::store::Keys::new(config)?
            .ids_of_user(user.id)
            .await?
        {
            records.forget(&id).await?;
        }
        Ok(())
    }
}

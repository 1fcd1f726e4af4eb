//! Reset tokens in the cache store.
//!
//! A token is a random UUID kept under `[uuid]` in the `reset_token` namespace; its record
//! names the user and carries a stamp of the account's state (a keyed hash of the user id,
//! email and password hash). The link carries the UUID signed with [`TOKEN_SALT`].

use std::time::Duration;

pub(crate) use pow_core::time::{duration_ms, now_ms};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pow_core::store::{Cache, Key, StoreError};
use pow_core::token::{hmac_sha256, secure_compare};
use pow_core::{PowConfig, PowError, User};
use serde::{Deserialize, Serialize};

use crate::{TOKEN_NAMESPACE, TOKEN_SALT};

/// Salt of the key that stamps token records with the account's state.
const STAMP_SALT: &str = "pow_reset_password token stamp";

/// The purpose of the keyed hash reset tokens are stored under.
const DIGEST_PURPOSE: &str = "reset_password";

/// How long the throwaway record written for unknown addresses lives.
const DECOY_TTL: Duration = Duration::from_secs(60);

/// What the store keeps for one token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    /// The user the token resets.
    user_id: i64,
    /// [`stamp`] of the user when the token was issued.
    stamp: String,
    /// When the token expires, in ms since the Unix epoch (the store's TTL enforces it
    /// too; this survives a restore after a failed write).
    expires_at: i64,
}

/// A token that checked out: its store key, record and the user, freshly read.
pub(crate) struct Loaded {
    pub key: Key,
    pub record: TokenRecord,
    pub user: User,
}

/// The reset tokens of one setup.
pub(crate) struct ResetTokens {
    cache: Cache,
}

impl ResetTokens {
    pub(crate) fn new(config: &PowConfig, ttl: Duration) -> Self {
        Self {
            cache: Cache::new(
                config.store().clone(),
                config.namespaced(TOKEN_NAMESPACE),
                Some(ttl),
            ),
        }
    }

    /// Stores `token` for `user` and returns it signed, for the link.
    pub(crate) async fn issue(
        &self,
        config: &PowConfig,
        user: &User,
        token: &str,
    ) -> Result<String, PowError> {
        let ttl = self.cache.ttl().unwrap_or_default();
        let record = TokenRecord {
            user_id: user.id,
            stamp: stamp(config, user),
            expires_at: now_ms().saturating_add(duration_ms(ttl)),
        };
        // Kept under a keyed hash: the store holds no usable token.
        let key = Key::from(config.verifier().token_digest(DIGEST_PURPOSE, token));
        self.cache.put(&key, &record).await?;
        Ok(config.verifier().sign_token(TOKEN_SALT, token))
    }

    /// The store write done instead of [`issue`](Self::issue) when no token is issued, so
    /// that both cases cost the same. The record lives under a key no link can name and
    /// expires soon.
    pub(crate) async fn decoy(&self, config: &PowConfig, token: &str) -> Result<(), PowError> {
        let record = TokenRecord {
            user_id: 0,
            // Same cost as a real stamp; the value is never compared.
            stamp: URL_SAFE_NO_PAD.encode(hmac_sha256(
                &config.verifier().derive_key(STAMP_SALT),
                token.as_bytes(),
            )),
            expires_at: now_ms(),
        };
        let value = serde_json::to_vec(&record).map_err(StoreError::from)?;
        self.cache
            .store()
            .put(
                self.cache.namespace(),
                vec![(
                    Key::from([
                        "decoy".to_owned(),
                        config.verifier().token_digest(DIGEST_PURPOSE, token),
                    ]),
                    value,
                )],
                Some(DECOY_TTL),
            )
            .await?;
        Ok(())
    }

    /// Checks a signed token from a link: the signature first, then the store, then the
    /// user (read from the users context) and the account's stamp. `None` when any of
    /// them fails.
    pub(crate) async fn load(
        &self,
        config: &PowConfig,
        signed: &str,
    ) -> Result<Option<Loaded>, PowError> {
        let Some(token) = config.verifier().verify_token(TOKEN_SALT, signed) else {
            return Ok(None);
        };
        let mut found = None;
        for digest in config.verifier().token_digests(DIGEST_PURPOSE, &token) {
            let key = Key::from(digest);
            match self.cache.get::<TokenRecord>(&key).await {
                Ok(Some(record)) => {
                    found = Some((key, record));
                    break;
                }
                Ok(None) => {}
                Err(StoreError::Serde(err)) => {
                    tracing::warn!(error = %err, "ignoring an unreadable reset token record");
                    return Ok(None);
                }
                Err(err) => return Err(err.into()),
            }
        }
        let Some((key, record)) = found else {
            return Ok(None);
        };
        if record.expires_at <= now_ms() {
            return Ok(None);
        }
        let Some(user) = config.users()?.get(record.user_id).await? else {
            return Ok(None);
        };
        // Any secret of the key ring: a link mailed before a key change still works.
        let keys = config.verifier().derive_keys(STAMP_SALT);
        let matches = keys.iter().fold(false, |found, key| {
            found | secure_compare(stamp_with(key, &user).as_bytes(), record.stamp.as_bytes())
        });
        if !matches {
            return Ok(None);
        }
        Ok(Some(Loaded { key, record, user }))
    }

    /// Takes the token out of the store; `false` if it was already gone (another request
    /// used it).
    pub(crate) async fn consume(&self, key: &Key) -> Result<bool, PowError> {
        match self.cache.take::<TokenRecord>(key).await {
            Ok(found) => Ok(found.is_some()),
            // Taken all the same: the record is gone and can't be used.
            Err(StoreError::Serde(_)) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Puts a consumed token back after the password could not be saved, for the rest of
    /// its lifetime. Failures are logged: the user can still ask for a new link.
    pub(crate) async fn restore(&self, key: &Key, record: &TokenRecord) {
        let left = record.expires_at.saturating_sub(now_ms());
        let Ok(left) = u64::try_from(left) else {
            return;
        };
        if left == 0 {
            return;
        }
        let restore = Cache::new(
            self.cache.store().clone(),
            self.cache.namespace(),
            Some(Duration::from_millis(left)),
        );
        if let Err(err) = restore.put(key, record).await {
            tracing::warn!(error = %err, "could not restore a reset token");
        }
    }
}

/// A keyed hash of the account's state: id, email and password hash. A token works only
/// while it matches, so changing the password or the email kills every link out there.
fn stamp(config: &PowConfig, user: &User) -> String {
    stamp_with(&config.verifier().derive_key(STAMP_SALT), user)
}

/// [`stamp`] under one key of the ring.
fn stamp_with(key: &[u8], user: &User) -> String {
    let mut message = Vec::with_capacity(128);
    message.extend_from_slice(&user.id.to_be_bytes());
    for part in [
        user.email().unwrap_or_default(),
        user.password_hash.as_deref().unwrap_or_default(),
    ] {
        message.extend_from_slice(&(part.len() as u64).to_be_bytes());
        message.extend_from_slice(part.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(hmac_sha256(key, &message))
}

//! Reset tokens in the cache store.
//!
//! A token is a random UUID whose record is kept under its keyed digest
//! ([`OneTimeSecrets`]) in the `reset_token` namespace; the record names the user and
//! carries a stamp of the account's state (a keyed hash of the user id, email and password
//! hash). The link carries the UUID signed with [`TOKEN_SALT`].

use std::time::Duration;

pub(crate) use pow_core::time::{duration_ms, now_ms};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pow_core::store::{Cache, Key, OneTimeSecrets, StoreError};
use pow_core::token::{hmac_sha256, secure_compare};
use pow_core::{PowConfig, PowError, User};
use serde::{Deserialize, Serialize};

use crate::{TOKEN_NAMESPACE, TOKEN_SALT};

/// Salt of the key that stamps token records with the account's state.
const STAMP_SALT: &str = "pow_reset_password token stamp";

/// The purpose of the keyed hash reset tokens are stored under.
const DIGEST_PURPOSE: &str = "reset_password";

/// The purpose of the throwaway records written for unknown addresses: no link names them.
const DECOY_PURPOSE: &str = "reset_password_decoy";

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

/// Where a loaded token's record was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Under `[purpose, digest]`, as [`OneTimeSecrets`] keeps records.
    Current,
    /// Under `[digest]`, as releases before 0.2 kept them: links mailed before an upgrade
    /// keep working for their lifetime. Remove in the release after.
    Legacy,
}

/// A token that checked out: the token, its record and the user, freshly read.
pub(crate) struct Loaded {
    token: String,
    layout: Layout,
    pub record: TokenRecord,
    pub user: User,
}

/// The reset tokens of one setup: [`OneTimeSecrets`] under the keyed digest of each
/// token, so a copy of the store holds no usable link.
pub(crate) struct ResetTokens {
    secrets: OneTimeSecrets,
    decoys: OneTimeSecrets,
    legacy: Cache,
}

impl ResetTokens {
    pub(crate) fn new(config: &PowConfig, ttl: Duration) -> Self {
        Self {
            secrets: OneTimeSecrets::new(config, TOKEN_NAMESPACE, DIGEST_PURPOSE, ttl),
            decoys: OneTimeSecrets::new(config, TOKEN_NAMESPACE, DECOY_PURPOSE, DECOY_TTL),
            legacy: Cache::new(
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
        let record = TokenRecord {
            user_id: user.id,
            stamp: stamp(config, user),
            expires_at: now_ms().saturating_add(duration_ms(self.secrets.ttl())),
        };
        self.secrets.put(token, &record).await?;
        Ok(config.verifier().sign_token(TOKEN_SALT, token))
    }

    /// The store write done instead of [`issue`](Self::issue) when no token is issued, so
    /// that both cases cost the same. The record lives under a purpose no link looks up
    /// and expires soon.
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
        self.decoys.put(token, &record).await?;
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
        let found = match self.secrets.get::<TokenRecord>(&token).await? {
            Some(record) => Some((Layout::Current, record)),
            None => self
                .legacy_record(config, &token)
                .await?
                .map(|record| (Layout::Legacy, record)),
        };
        let Some((layout, record)) = found else {
            return Ok(None);
        };
        if record.expires_at <= now_ms() {
            return Ok(None);
        }
        // A closed account's links find nothing: closing ends every way in.
        let Some(user) = config
            .users()?
            .get(record.user_id)
            .await?
            .filter(|user| !user.is_closed())
        else {
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
        Ok(Some(Loaded {
            token,
            layout,
            record,
            user,
        }))
    }

    /// A record kept under the layout of releases before 0.2.
    async fn legacy_record(
        &self,
        config: &PowConfig,
        token: &str,
    ) -> Result<Option<TokenRecord>, PowError> {
        for digest in config.verifier().token_digests(DIGEST_PURPOSE, token) {
            match self.legacy.get::<TokenRecord>(&Key::from(digest)).await {
                Ok(Some(record)) => return Ok(Some(record)),
                Ok(None) => {}
                Err(StoreError::Serde(err)) => {
                    tracing::warn!(error = %err, "ignoring an unreadable reset token record");
                    return Ok(None);
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(None)
    }

    /// Takes the token out of the store; `false` if it was already gone (another request
    /// used it).
    pub(crate) async fn consume(
        &self,
        config: &PowConfig,
        loaded: &Loaded,
    ) -> Result<bool, PowError> {
        if loaded.layout == Layout::Current {
            return Ok(self
                .secrets
                .take::<serde_json::Value>(&loaded.token)
                .await?
                .is_some());
        }
        for digest in config
            .verifier()
            .token_digests(DIGEST_PURPOSE, &loaded.token)
        {
            match self.legacy.take::<TokenRecord>(&Key::from(digest)).await {
                Ok(Some(_)) => return Ok(true),
                Ok(None) => {}
                // Taken all the same: the record is gone and can't be used.
                Err(StoreError::Serde(_)) => return Ok(false),
                Err(err) => return Err(err.into()),
            }
        }
        Ok(false)
    }

    /// Puts a consumed token back after the password could not be saved, for the rest of
    /// its lifetime (in the current layout). Failures are logged: the user can still ask
    /// for a new link.
    pub(crate) async fn restore(&self, loaded: &Loaded) {
        let left = loaded.record.expires_at.saturating_sub(now_ms());
        let Ok(left) = u64::try_from(left) else {
            return;
        };
        if left == 0 {
            return;
        }
        let put = self
            .secrets
            .put_for(&loaded.token, &loaded.record, Duration::from_millis(left));
        if let Err(err) = put.await {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use pow_core::password::Pbkdf2Hasher;
    use pow_core::users::diesel::DieselUsersContext;

    use super::*;

    #[tokio::test]
    async fn a_link_stored_in_the_old_layout_still_works_once() {
        let users = DieselUsersContext::connect(":memory:").unwrap();
        let config = PowConfig::builder("s".repeat(64))
            .users(users.clone())
            .hasher(Pbkdf2Hasher::new(1))
            .build()
            .unwrap();
        users.migrate(&config).unwrap();
        let user =
            pow_actix::testing::create_user(&config, "a@example.com", "long password").unwrap();
        let tokens = ResetTokens::new(&config, Duration::from_secs(600));
        // What a release before 0.2 wrote: the record under `[digest]`.
        let token = "0d7e8c1f-legacy";
        let record = TokenRecord {
            user_id: user.id,
            stamp: stamp(&config, &user),
            expires_at: now_ms() + 600_000,
        };
        let old_key = Key::from(config.verifier().token_digest(DIGEST_PURPOSE, token));
        tokens.legacy.put(&old_key, &record).await.unwrap();
        let signed = config.verifier().sign_token(TOKEN_SALT, token);

        let loaded = tokens.load(&config, &signed).await.unwrap().unwrap();
        assert_eq!(loaded.user.id, user.id);
        assert!(tokens.consume(&config, &loaded).await.unwrap());
        assert!(!tokens.consume(&config, &loaded).await.unwrap(), "once");
        assert!(tokens.load(&config, &signed).await.unwrap().is_none());

        // A restored token comes back in the current layout.
        tokens.restore(&loaded).await;
        let again = tokens.load(&config, &signed).await.unwrap().unwrap();
        assert_eq!(again.layout, Layout::Current);
    }
}

//! Remember-me tokens in the cache store.
//!
//! Each token writes three records in one batch, in the namespace
//! `config.namespaced("persistent_session")`, under the token's id `t`: a keyed hash of the
//! token ([`MessageVerifier::token_digest`](pow_core::token::MessageVerifier::token_digest)),
//! never the token itself, so a copy of the store holds no usable remember-me token:
//!
//! 1. `["token", t]`: the [`TokenRecord`] (owner, family, session metadata, and once used,
//!    when);
//! 2. `["claim", t]`: a marker whose atomic [`Store::take`](pow_core::store::Store::take)
//!    decides which request may use the token: each token works exactly once;
//! 3. `["user", user_id, "token", t]`: the owner's index, to revoke all of a user's tokens.
//!
//! A used token keeps its record (with `used_at` set) until it would have expired, so a
//! replay can be told apart from a request that raced the rotation.

// Issuing and using tokens happen on the cookie side; the engine alone keeps listing and
// revoking them.
#![cfg_attr(not(feature = "actix"), allow(dead_code))]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pow_core::session::Device;
use pow_core::store::{decode_record, Key, Record, Store, StoreError, UserIndex};
use pow_core::PowConfig;
use serde::{Deserialize, Serialize};

/// What the store knows about one token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    /// The owner.
    pub user_id: i64,
    /// Id of the chain of tokens started by one sign-in; rotation keeps it.
    pub family: String,
    /// Fingerprint of the sessions this chain signs in (kept across restores).
    pub fingerprint: String,
    /// Extra session metadata carried into restored sessions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
    /// When the token was issued, in milliseconds since the Unix epoch.
    pub issued_at: i64,
    /// When the family started (the password sign-in that asked to be remembered), in
    /// milliseconds since the Unix epoch; kept by rotation. 0 in records written before it
    /// existed (their `issued_at` counts instead).
    #[serde(default)]
    pub family_started_at: i64,
    /// When the token was used, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<i64>,
    /// Where the family was started, for the session list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
}

/// An entry of a user's token index.
#[derive(Serialize, Deserialize)]
struct IndexEntry {
    family: String,
}

/// The index of each user's remember-me tokens.
const TOKENS: UserIndex = UserIndex::new("token");

fn token_key(token: &str) -> Key {
    Key(vec!["token".to_owned(), token.to_owned()])
}

fn claim_key(token: &str) -> Key {
    Key(vec!["claim".to_owned(), token.to_owned()])
}

pub(crate) use pow_core::time::{duration_ms, now_ms};

/// The token records of one setup.
pub(crate) struct Tokens {
    store: Arc<dyn Store>,
    namespace: String,
    ttl: Duration,
    verifier: pow_core::token::MessageVerifier,
}

/// The purpose of the keyed hash a token is stored under.
const DIGEST_PURPOSE: &str = "persistent_session";

impl Tokens {
    /// The tokens of `config`, living `ttl` from issue.
    pub(crate) fn new(config: &PowConfig, ttl: Duration) -> Self {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced("persistent_session"),
            ttl,
            verifier: config.verifier().clone(),
        }
    }

    /// The id a new token is stored under: its keyed hash, so the store holds no usable
    /// token. Every other method takes ids, never the cookie's token.
    pub(crate) fn id(&self, token: &str) -> String {
        self.verifier.token_digest(DIGEST_PURPOSE, token)
    }

    /// The id of a token from a cookie: its keyed hash under the secret of the key ring
    /// that stored it (the current one unless a record exists under a retired one).
    pub(crate) async fn find_id(&self, token: &str) -> Result<String, StoreError> {
        let ids = self.verifier.token_digests(DIGEST_PURPOSE, token);
        if ids.len() > 1 {
            for id in &ids {
                if self.get(id).await?.is_some() {
                    return Ok(id.clone());
                }
            }
        }
        Ok(ids.into_iter().next().unwrap_or_default())
    }

    /// How long `record` has left to live at `now`, or `None` when its time is up.
    pub(crate) fn remaining(&self, record: &TokenRecord, now: i64) -> Option<Duration> {
        let age = now.saturating_sub(record.issued_at).max(0);
        let left = duration_ms(self.ttl).saturating_sub(age);
        u64::try_from(left)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
    }

    /// Stores a new, unused token.
    pub(crate) async fn insert(&self, token: &str, record: &TokenRecord) -> Result<(), StoreError> {
        let records: Vec<Record> = vec![
            (token_key(token), serde_json::to_vec(record)?),
            (claim_key(token), serde_json::to_vec(&true)?),
            (
                TOKENS.key(record.user_id, token),
                serde_json::to_vec(&IndexEntry {
                    family: record.family.clone(),
                })?,
            ),
        ];
        self.store
            .put(&self.namespace, records, Some(self.ttl))
            .await
    }

    /// Takes the token's claim: of concurrent callers at most one gets `true`.
    pub(crate) async fn claim(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .take(&self.namespace, &claim_key(token))
            .await?
            .is_some())
    }

    /// The token's record, used or not.
    pub(crate) async fn get(&self, token: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self
            .store
            .get(&self.namespace, &token_key(token))
            .await?
            .and_then(|bytes| decode_record(&bytes, "remember-me token")))
    }

    /// Records that the token was used at `now`; the record lives on for `remaining`.
    pub(crate) async fn mark_used(
        &self,
        token: &str,
        record: &TokenRecord,
        now: i64,
        remaining: Duration,
    ) -> Result<(), StoreError> {
        let used = TokenRecord {
            used_at: Some(now),
            ..record.clone()
        };
        self.store
            .put(
                &self.namespace,
                vec![(token_key(token), serde_json::to_vec(&used)?)],
                Some(remaining),
            )
            .await
    }

    /// Puts a claimed token back as unused, for `remaining` (when its use failed halfway).
    pub(crate) async fn release(
        &self,
        token: &str,
        record: &TokenRecord,
        remaining: Duration,
    ) -> Result<(), StoreError> {
        let unused = TokenRecord {
            used_at: None,
            ..record.clone()
        };
        let records: Vec<Record> = vec![
            (token_key(token), serde_json::to_vec(&unused)?),
            (claim_key(token), serde_json::to_vec(&true)?),
        ];
        self.store
            .put(&self.namespace, records, Some(remaining))
            .await
    }

    /// Deletes one token, used or not. Deleting a missing token succeeds.
    pub(crate) async fn delete(&self, token: &str) -> Result<(), StoreError> {
        if let Some(record) = self.get(token).await? {
            self.store
                .delete(&self.namespace, &TOKENS.key(record.user_id, token))
                .await?;
        }
        self.store
            .delete(&self.namespace, &claim_key(token))
            .await?;
        self.store.delete(&self.namespace, &token_key(token)).await
    }

    /// The tokens in the user's index (used ones included), with their family.
    async fn index(&self, user_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        Ok(TOKENS
            .entries::<IndexEntry>(&*self.store, &self.namespace, user_id)
            .await?
            .into_iter()
            .filter_map(|(token, entry)| Some((token, entry?.family)))
            .collect())
    }

    /// Deletes every token of the user, used or not, and returns how many were unused.
    pub(crate) async fn delete_user(&self, user_id: i64) -> Result<usize, StoreError> {
        let mut unused = 0;
        for (token, _) in self.index(user_id).await? {
            if self.get(&token).await?.is_some_and(|r| r.used_at.is_none()) {
                unused += 1;
            }
            self.store
                .delete(&self.namespace, &claim_key(&token))
                .await?;
            self.store
                .delete(&self.namespace, &token_key(&token))
                .await?;
            self.store
                .delete(&self.namespace, &TOKENS.key(user_id, &token))
                .await?;
        }
        Ok(unused)
    }

    /// The user's unused tokens with their records: one per live family.
    pub(crate) async fn unused(
        &self,
        user_id: i64,
    ) -> Result<Vec<(String, TokenRecord)>, StoreError> {
        let mut out = Vec::new();
        for (token, _) in self.index(user_id).await? {
            if let Some(record) = self.get(&token).await?.filter(|r| r.used_at.is_none()) {
                out.push((token, record));
            }
        }
        Ok(out)
    }

    /// Deletes every token of one family of the user, used or not; returns how many
    /// there were.
    pub(crate) async fn delete_family(
        &self,
        user_id: i64,
        family: &str,
    ) -> Result<usize, StoreError> {
        let mut deleted = 0;
        for (token, _) in self
            .index(user_id)
            .await?
            .into_iter()
            .filter(|(_, f)| f == family)
        {
            self.delete(&token).await?;
            deleted += 1;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pow_core::store::MemoryStore;

    fn tokens(ttl: Duration) -> Tokens {
        let config = PowConfig::builder("s".repeat(64))
            .store(MemoryStore::shared())
            .build()
            .unwrap();
        Tokens::new(&config, ttl)
    }

    fn record(user_id: i64, issued_at: i64) -> TokenRecord {
        TokenRecord {
            user_id,
            family: "family".into(),
            fingerprint: "fingerprint".into(),
            extra: BTreeMap::new(),
            issued_at,
            family_started_at: issued_at,
            used_at: None,
            device: None,
        }
    }

    #[tokio::test]
    async fn a_token_is_claimed_once() {
        let tokens = tokens(Duration::from_secs(60));
        tokens.insert("t", &record(1, now_ms())).await.unwrap();
        assert!(tokens.claim("t").await.unwrap());
        assert!(!tokens.claim("t").await.unwrap());
        assert!(tokens.get("t").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn deleting_a_user_removes_used_and_unused_tokens() {
        let tokens = tokens(Duration::from_secs(60));
        let now = now_ms();
        tokens.insert("a", &record(1, now)).await.unwrap();
        tokens.insert("b", &record(1, now)).await.unwrap();
        tokens.insert("c", &record(2, now)).await.unwrap();
        tokens
            .mark_used("a", &record(1, now), now, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(tokens.unused(1).await.unwrap().len(), 1);
        assert_eq!(tokens.delete_user(1).await.unwrap(), 1);
        assert!(tokens.get("a").await.unwrap().is_none());
        assert!(tokens.get("b").await.unwrap().is_none());
        assert!(!tokens.claim("b").await.unwrap());
        assert_eq!(tokens.unused(2).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn release_makes_a_claimed_token_usable_again() {
        let tokens = tokens(Duration::from_secs(60));
        let rec = record(1, now_ms());
        tokens.insert("t", &rec).await.unwrap();
        assert!(tokens.claim("t").await.unwrap());
        tokens
            .mark_used("t", &rec, now_ms(), Duration::from_secs(60))
            .await
            .unwrap();
        tokens
            .release("t", &rec, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(tokens.get("t").await.unwrap(), Some(rec));
        assert!(tokens.claim("t").await.unwrap());
    }

    #[test]
    fn remaining_lifetime_counts_from_issue() {
        let tokens = tokens(Duration::from_secs(10));
        let rec = record(1, 1_000);
        assert_eq!(
            tokens.remaining(&rec, 4_000),
            Some(Duration::from_millis(7_000))
        );
        assert_eq!(tokens.remaining(&rec, 11_000), None);
        assert_eq!(tokens.remaining(&rec, 50_000), None);
    }
}

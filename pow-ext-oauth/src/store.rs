//! The extension's short-lived records in the cache store (namespace `oauth`,
//! `<name>_oauth` for a named setup), each under the SHA-256 of a secret only its holder
//! knows, and taken atomically, so each works once:
//!
//! - `["attempt", sha256(state)]`: a sign-in under way (the nonce, the PKCE verifier, the
//!   provider, the user who is linking). The browser holds the state in its cookie session
//!   (or the API client holds it) and the provider sends it back.
//! - `["pending", sha256(id)]`: a provider account waiting for a staged sign-up
//!   ([`pending`](crate::pending)).

use std::sync::Arc;
use std::time::Duration;

use pow_core::store::{decode_record, Key, Store, StoreError};
use pow_core::PowConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A sign-in under way.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Attempt {
    pub provider: String,
    /// Set when a signed-in user is linking an account.
    pub link_user: Option<i64>,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    /// Where to go after signing in (the sign-in page's `request_path`).
    #[serde(default)]
    pub request_path: Option<String>,
    /// Begun through the JSON API (its callback is the API's, not a browser's).
    #[serde(default)]
    pub api: bool,
}

/// Record kind of [`Attempt`]s.
pub(crate) const ATTEMPT: &str = "attempt";

pub(crate) struct Records {
    store: Arc<dyn Store>,
    namespace: String,
}

fn key(kind: &str, secret: &str) -> Key {
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Key(vec![kind.to_owned(), hex])
}

impl Records {
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced("oauth"),
        }
    }

    /// Keeps `record` of `kind` under `secret` for `ttl`.
    pub(crate) async fn put<T: Serialize>(
        &self,
        kind: &str,
        secret: &str,
        record: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.store
            .put(
                &self.namespace,
                vec![(key(kind, secret), serde_json::to_vec(record)?)],
                Some(ttl),
            )
            .await
    }

    /// Takes the record of `kind` under `secret`: of concurrent callers at most one gets it.
    pub(crate) async fn take<T: DeserializeOwned>(
        &self,
        kind: &str,
        secret: &str,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .store
            .take(&self.namespace, &key(kind, secret))
            .await?
            .and_then(|bytes| decode_record(&bytes, kind)))
    }
}

//! Sign-ins under way, in the cache store (namespace `oauth`, `<name>_oauth` for a named
//! setup): `["attempt", sha256(state)]` holds what the callback needs (the nonce, the PKCE
//! verifier, the provider, the user who is linking). The `state` itself is never stored:
//! the browser holds it in its cookie session and the provider sends it back; the record
//! is taken atomically, so a callback works once.

use std::sync::Arc;
use std::time::Duration;

use pow_core::store::{decode_record, Key, Store, StoreError};
use pow_core::PowConfig;
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

pub(crate) struct Attempts {
    store: Arc<dyn Store>,
    namespace: String,
}

fn key(state: &str) -> Key {
    let digest = Sha256::digest(state.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Key(vec!["attempt".to_owned(), hex])
}

impl Attempts {
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced("oauth"),
        }
    }

    pub(crate) async fn put(
        &self,
        state: &str,
        attempt: &Attempt,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.store
            .put(
                &self.namespace,
                vec![(key(state), serde_json::to_vec(attempt)?)],
                Some(ttl),
            )
            .await
    }

    /// Takes the attempt of `state`: of concurrent callers at most one gets it.
    pub(crate) async fn take(&self, state: &str) -> Result<Option<Attempt>, StoreError> {
        Ok(self
            .store
            .take(&self.namespace, &key(state))
            .await?
            .and_then(|bytes| decode_record(&bytes, "OAuth sign-in")))
    }
}

//! The extension's short-lived records in the cache store (namespace `oauth`,
//! `<name>_oauth` for a named setup), each under the keyed digest of a secret only its
//! holder knows ([`OneTimeSecrets`]), and taken atomically, so each works once:
//!
//! - `["attempt", digest(state)]`: a sign-in under way (the nonce, the PKCE verifier, the
//!   provider, the user who is linking). The browser holds the state in its cookie session
//!   (or the API client holds it) and the provider sends it back.
//! - `["pending", digest(id)]`: a provider account waiting for a staged sign-up
//!   ([`pending`](crate::pending)).

use std::time::Duration;

use pow_core::store::{OneTimeSecrets, StoreError};
use pow_core::PowConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
    config: PowConfig,
}

impl Records {
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self {
            config: config.clone(),
        }
    }

    fn of(&self, kind: &'static str, ttl: Duration) -> OneTimeSecrets {
        OneTimeSecrets::new(&self.config, "oauth", kind, ttl)
    }

    /// Keeps `record` of `kind` under `secret` for `ttl`.
    pub(crate) async fn put<T: Serialize>(
        &self,
        kind: &'static str,
        secret: &str,
        record: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.of(kind, ttl).put(secret, record).await
    }

    /// Takes the record of `kind` under `secret`: of concurrent callers at most one gets it.
    pub(crate) async fn take<T: DeserializeOwned>(
        &self,
        kind: &'static str,
        secret: &str,
    ) -> Result<Option<T>, StoreError> {
        self.of(kind, Duration::ZERO).take(secret).await
    }
}

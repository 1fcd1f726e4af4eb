//! Short-lived records in the cache store, namespace `two_factor` (`<name>_two_factor` for a
//! named setup):
//!
//! - `["pending", keyed hash of id]`: a sign-in waiting for its second step (the user, and whether the
//!   browser asked to be remembered), for [`TwoFactor::pending_ttl`](crate::TwoFactor::pending_ttl),
//!   noted under `["user", user id, "pending", keyed hash of id]` so erasing the account
//!   ends it;
//! - `["enrol", user id]`: the secret being set up, until confirmed with a first code;
//! - `["step", user id, step]`: a time step whose code was used (claimed atomically, so a
//!   code works once);
//! - `["recovery", user id, hash]`: a recovery code being used (claimed atomically).

use std::sync::Arc;
use std::time::Duration;

use pow_core::session::MethodUse;
use pow_core::store::{Key, OneTimeSecrets, Store, StoreError};
use pow_core::token::generate_uuid;
use pow_core::PowConfig;
use serde::{Deserialize, Serialize};

use crate::totp::STEP;

/// How long a claimed step is remembered: past the last moment its code is accepted.
const STEP_CLAIM_TTL: Duration = Duration::from_secs(4 * STEP);
/// How long a claimed recovery code is remembered (the user row drops it at once; this
/// only has to outlive concurrent requests).
const RECOVERY_CLAIM_TTL: Duration = Duration::from_secs(3600);
/// How long a secret waits for its first code.
const ENROL_TTL: Duration = Duration::from_secs(15 * 60);

/// A sign-in waiting for its second step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub user_id: i64,
    /// Whether the browser asked to be remembered (the sign-in form's checkbox).
    #[serde(default)]
    pub persist: bool,
    /// What the first step proved (a password, a mailed link), carried into the session.
    #[serde(default)]
    pub methods: Vec<MethodUse>,
}

/// The extension's records of one setup.
pub(crate) struct Records {
    config: PowConfig,
    store: Arc<dyn Store>,
    namespace: String,
}

fn key<const N: usize>(parts: [&str; N]) -> Key {
    Key(parts.iter().map(|p| (*p).to_owned()).collect())
}

impl Records {
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self {
            config: config.clone(),
            store: Arc::clone(config.store()),
            namespace: config.namespaced("two_factor"),
        }
    }

    /// The pending sign-ins, kept under a keyed hash of their id ([`OneTimeSecrets`]).
    fn pending_records(&self, ttl: Duration) -> OneTimeSecrets {
        OneTimeSecrets::new(&self.config, "two_factor", "pending", ttl)
    }

    /// Stores a pending sign-in and returns its id.
    pub(crate) async fn start(
        &self,
        pending: &Pending,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let id = generate_uuid();
        self.pending_records(ttl)
            .put_for_user(pending.user_id, &id, pending)
            .await?;
        Ok(id)
    }

    /// Ends every pending sign-in of `user_id` and drops a secret being set up (an erased
    /// account).
    pub(crate) async fn forget_user(&self, user_id: i64) -> Result<(), StoreError> {
        self.pending_records(Duration::ZERO)
            .forget_user(user_id)
            .await?;
        self.store
            .delete(&self.namespace, &key(["enrol", &user_id.to_string()]))
            .await
    }

    /// The pending sign-in `id`, if it is still waiting.
    pub(crate) async fn pending(&self, id: &str) -> Result<Option<Pending>, StoreError> {
        self.pending_records(Duration::ZERO).get(id).await
    }

    /// Ends the pending sign-in `id`: of concurrent callers at most one gets it.
    /// Counts one try at the pending sign-in `id`: `false` past `max`, and it is then gone.
    pub(crate) async fn attempt(
        &self,
        id: &str,
        ttl: Duration,
        max: u32,
    ) -> Result<bool, StoreError> {
        self.pending_records(ttl).attempt(id, max).await
    }

    pub(crate) async fn finish(&self, id: &str) -> Result<Option<Pending>, StoreError> {
        self.pending_records(Duration::ZERO).take(id).await
    }

    /// The secret being set up for the user, or a new one (kept for the enrolment time).
    pub(crate) async fn enrol_secret(&self, user_id: i64) -> Result<String, StoreError> {
        let k = key(["enrol", &user_id.to_string()]);
        if let Some(secret) = self
            .store
            .get(&self.namespace, &k)
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok())
        {
            return Ok(secret);
        }
        let secret = crate::totp::new_secret();
        self.store
            .put(
                &self.namespace,
                vec![(k, secret.clone().into_bytes())],
                Some(ENROL_TTL),
            )
            .await?;
        Ok(secret)
    }

    /// Takes the secret being set up (once it is confirmed).
    pub(crate) async fn take_enrol_secret(
        &self,
        user_id: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .take(&self.namespace, &key(["enrol", &user_id.to_string()]))
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok()))
    }

    /// Claims the code of time step `step` for the user: `false` when it was used already.
    pub(crate) async fn claim_step(&self, user_id: i64, step: u64) -> Result<bool, StoreError> {
        self.store
            .insert_if_absent(
                &self.namespace,
                (
                    key(["step", &user_id.to_string(), &step.to_string()]),
                    b"1".to_vec(),
                ),
                Some(STEP_CLAIM_TTL),
            )
            .await
    }

    /// Claims a recovery code (by its hash) for the user: `false` when it is being used.
    pub(crate) async fn claim_recovery(
        &self,
        user_id: i64,
        hash: &str,
    ) -> Result<bool, StoreError> {
        self.store
            .insert_if_absent(
                &self.namespace,
                (key(["recovery", &user_id.to_string(), hash]), b"1".to_vec()),
                Some(RECOVERY_CLAIM_TTL),
            )
            .await
    }
}

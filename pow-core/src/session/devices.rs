//! Known devices: the browsers each user signed in from, so that a sign-in from another
//! one can be announced ([`PowConfigBuilder::new_device_notices`]).
//!
//! A browser carries a long-lived device cookie holding a random id, signed; the store
//! keeps, per user, keyed hashes of the ids seen (namespace `devices`, one record per
//! user, [`MAX_DEVICES`] at most, kept for [`DEVICE_TTL`] after the last sign-in). A copy of
//! the store names no device a cookie could carry.
//!
//! [`PowConfigBuilder::new_device_notices`]: crate::PowConfigBuilder::new_device_notices

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::PowConfig;
use crate::store::{Cache, Key, StoreError};

/// How long a device stays known after its last sign-in, and the device cookie's
/// lifetime: 365 days.
pub const DEVICE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The most devices kept per user; the one unseen longest goes first.
pub const MAX_DEVICES: usize = 50;

/// Salt of the device cookie's signature.
pub(crate) const DEVICE_SALT: &str = "pow_core.device";

/// Purpose of the keyed hash a device id is kept under.
const DEVICE_PURPOSE: &str = "device";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Known {
    /// `(keyed hash of the device id, last sign-in in ms)`, most recent last.
    devices: Vec<(String, i64)>,
}

/// What a sign-in from a device came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The user signed in from this device before.
    Known,
    /// The device is new to a user who signed in from others before: announce it.
    New,
    /// The user's first device (the sign-in right after a sign-up, an invitation or an
    /// account made by an admin): nothing to announce.
    First,
}

/// The known devices of a setup's users.
#[derive(Clone, Debug)]
pub struct KnownDevices {
    cache: Cache,
    config: PowConfig,
}

impl KnownDevices {
    /// The known devices under `config`.
    pub fn new(config: &PowConfig) -> Self {
        Self {
            cache: Cache::new(
                config.store().clone(),
                config.namespaced("devices"),
                Some(DEVICE_TTL),
            ),
            config: config.clone(),
        }
    }

    /// Records a sign-in of `user_id` from the device `device_id` and says whether it was
    /// known before.
    ///
    /// # Errors
    /// The store's error.
    pub async fn signed_in(&self, user_id: i64, device_id: &str) -> Result<Seen, StoreError> {
        let key = Key(vec![user_id.to_string()]);
        let mut known: Known = self.cache.get(&key).await?.unwrap_or_default();
        let digests = self
            .config
            .verifier()
            .token_digests(DEVICE_PURPOSE, device_id);
        let now = crate::time::now_ms();
        let found = known
            .devices
            .iter()
            .position(|(digest, _)| digests.iter().any(|d| d == digest));
        let seen = match found {
            Some(at) => {
                known.devices.remove(at);
                Seen::Known
            }
            None if known.devices.is_empty() => Seen::First,
            None => Seen::New,
        };
        // The current secret's hash, at the end: the most recent sign-in.
        let current = digests.into_iter().next().unwrap_or_default();
        known.devices.push((current, now));
        if known.devices.len() > MAX_DEVICES {
            let excess = known.devices.len() - MAX_DEVICES;
            known.devices.drain(..excess);
        }
        self.cache.put(&key, &known).await?;
        Ok(seen)
    }

    /// Forgets the device `device_id` of `user_id` (a sign-in that did not stand: the
    /// sign-up's own sign-in that email confirmation ends at once, say).
    ///
    /// # Errors
    /// The store's error.
    pub(crate) async fn forget_device(
        &self,
        user_id: i64,
        device_id: &str,
    ) -> Result<(), StoreError> {
        let key = Key(vec![user_id.to_string()]);
        let Some(mut known) = self.cache.get::<Known>(&key).await? else {
            return Ok(());
        };
        let digests = self
            .config
            .verifier()
            .token_digests(DEVICE_PURPOSE, device_id);
        known
            .devices
            .retain(|(digest, _)| !digests.iter().any(|d| d == digest));
        match known.devices.is_empty() {
            true => self.cache.delete(&key).await,
            false => self.cache.put(&key, &known).await,
        }
    }

    /// Forgets every device of `user_id` (an erased account).
    ///
    /// # Errors
    /// The store's error.
    pub async fn forget_user(&self, user_id: i64) -> Result<(), StoreError> {
        self.cache.delete(&Key(vec![user_id.to_string()])).await
    }
}

//! A provider account waiting for its address to be proven: the browser that began it
//! holds a random id in its cookie session, the store holds `["pending", digest(id)]`
//! with the provider account and the address. Two things prove it ([`Slot`]): the
//! passwordless extension's staged sign-up creating the user, or the e-mail confirmation
//! link of the user the provider signed up. Done in that browser, for that address, the
//! account is linked. Another browser doing it (someone who got a mail they did not ask
//! for: the owner of the address) links nothing.

use std::time::Duration;

use pow_core::pipeline::Client;
use pow_core::token::generate_uuid;
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};

use crate::store::Records;

/// Record kind of [`Pending`] links.
const PENDING: &str = "pending";

/// What will prove the address of a pending link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A staged sign-up (the passwordless extension's).
    Staged,
    /// The e-mail confirmation link of the user the provider signed up.
    Confirmation,
}

impl Slot {
    /// How long the link waits: past the staged sign-up link's own lifetime, or as long
    /// as a confirmation link works by default (48 hours).
    fn ttl(self) -> Duration {
        match self {
            Slot::Staged => Duration::from_secs(60 * 60),
            Slot::Confirmation => Duration::from_secs(48 * 3600),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Pending {
    pub provider: String,
    pub uid: String,
    pub email: String,
    /// The user the provider signed up, when the user exists already (confirmation).
    #[serde(default)]
    pub user_id: Option<i64>,
}

fn session_key(config: &PowConfig, slot: Slot) -> String {
    config.namespaced(match slot {
        Slot::Staged => "pow_oauth_pending",
        Slot::Confirmation => "pow_oauth_pending_confirmation",
    })
}

/// Remembers the provider account `pending` in this browser, until `slot` proves its
/// address.
pub(crate) async fn put(
    client: &mut dyn Client,
    config: &PowConfig,
    slot: Slot,
    pending: &Pending,
) -> Result<(), PowError> {
    let id = generate_uuid();
    Records::new(config)
        .put(PENDING, &id, pending, slot.ttl())
        .await?;
    client.set_value(&session_key(config, slot), &id)
}

/// Takes the provider account this browser left waiting for `slot`, if any.
pub(crate) async fn take(
    client: &mut dyn Client,
    config: &PowConfig,
    slot: Slot,
) -> Result<Option<Pending>, PowError> {
    let key = session_key(config, slot);
    let Some(id) = client.value(&key) else {
        return Ok(None);
    };
    client.remove_value(&key);
    Ok(Records::new(config).take(PENDING, &id).await?)
}

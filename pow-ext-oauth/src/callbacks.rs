//! What the extension does when another action proved an address: unlink provider
//! accounts linked without proof, link the one waiting in this browser.

use async_trait::async_trait;
use pow_core::extension::{AddressProven, Callbacks, ProvenBy};
use pow_core::web::{Controller, Flow};
use pow_core::PowError;

use crate::{events, identities, pending, OAuth};

#[async_trait(?Send)]
impl Callbacks for OAuth {
    async fn before_respond(&self, ctl: &mut Controller) -> Result<Flow, PowError> {
        let Some(proven) = ctl.assigns.get::<AddressProven>().copied() else {
            return Ok(Flow::Continue);
        };
        if proven.first {
            drop_unproven_identities(ctl, proven.user_id).await?;
        }
        match proven.by {
            ProvenBy::StagedSignUp if self.staged_sign_up => {
                link_pending(ctl, pending::Slot::Staged).await?;
            }
            ProvenBy::ConfirmationLink => link_pending(ctl, pending::Slot::Confirmation).await?,
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

/// An account's address was proven for the first time: provider accounts linked before
/// were linked by whoever signed up, without proof of the mailbox (rows written before
/// links waited for the proof, or a soft-mode user linking while unconfirmed). They go,
/// so a stranger who signed up with the owner's address keeps no way in. A provider
/// account waiting in this very browser is linked right after ([`link_pending`]).
async fn drop_unproven_identities(ctl: &mut Controller, user_id: i64) -> Result<(), PowError> {
    let dropped = identities::Identities::new(&ctl.config)?
        .delete_all(user_id)
        .await?;
    for provider in dropped {
        tracing::warn!(
            user.id = user_id,
            provider = %provider,
            "provider account linked before the address was proven: unlinked"
        );
        pow_core::audit::record(
            &ctl.config,
            pow_core::audit::AuditEvent::new(events::UNLINKED)
                .request(&ctl.config, &ctl.req)
                .user(user_id)
                .detail("provider", provider.as_str())
                .detail("reason", "address_proven"),
        );
    }
    Ok(())
}

/// The address of a provider account left waiting in this browser was proven here (a
/// staged sign-up finished, or the signed-up user's address confirmed): link the account.
async fn link_pending(ctl: &mut Controller, slot: pending::Slot) -> Result<(), PowError> {
    let Some(user) = ctl.user.clone() else {
        return Ok(());
    };
    let proven = ctl
        .config
        .extensions()
        .address_proof()
        .is_some_and(|proof| proof.is_proven(&user));
    if slot == pending::Slot::Confirmation && !proven {
        return Ok(());
    }
    let Some(pending) = pending::take(&ctl.req, &ctl.config, slot).await? else {
        return Ok(());
    };
    if user.email() != Some(pending.email.as_str())
        || pending.user_id.is_some_and(|id| id != user.id)
    {
        return Ok(());
    }
    identities::Identities::new(&ctl.config)?
        .insert(
            &pending.provider,
            &pending.uid,
            user.id,
            Some(pending.email.as_str()),
        )
        .await?;
    Ok(())
}

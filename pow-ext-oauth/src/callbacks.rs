//! What the extension does when another action proved an address: unlink provider
//! accounts linked without proof, link the one waiting in this browser.

use async_trait::async_trait;
use pow_core::extension::{AddressProven, Callbacks, ProvenBy};
use pow_core::pipeline::{Client, Flow, Step};
use pow_core::PowError;

use crate::{events, identities, pending, OAuth};

#[async_trait]
impl Callbacks for OAuth {
    async fn before_respond(
        &self,
        step: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        let Some(proven) = step.assigns.get::<AddressProven>().copied() else {
            return Ok(Flow::Continue);
        };
        if proven.first {
            drop_unproven_identities(step, client, proven.user_id).await?;
        }
        match proven.by {
            ProvenBy::StagedSignUp if self.staged_sign_up => {
                link_pending(step, client, pending::Slot::Staged).await?;
            }
            ProvenBy::ConfirmationLink => {
                link_pending(step, client, pending::Slot::Confirmation).await?;
            }
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
async fn drop_unproven_identities(
    step: &Step,
    client: &dyn Client,
    user_id: i64,
) -> Result<(), PowError> {
    let dropped = identities::Identities::new(&step.config)?
        .delete_all(user_id)
        .await?;
    for provider in dropped {
        tracing::warn!(
            user.id = user_id,
            provider = %provider,
            "provider account linked before the address was proven: unlinked"
        );
        pow_core::audit::record(
            &step.config,
            pow_core::audit::AuditEvent::new(events::UNLINKED)
                .request(&step.config, client)
                .user(user_id)
                .detail("provider", provider.as_str())
                .detail("reason", "address_proven"),
        );
    }
    Ok(())
}

/// The address of a provider account left waiting in this browser was proven here (a
/// staged sign-up finished, or the signed-up user's address confirmed): link the account.
async fn link_pending(
    step: &Step,
    client: &mut dyn Client,
    slot: pending::Slot,
) -> Result<(), PowError> {
    let Some(user) = step.user.clone() else {
        return Ok(());
    };
    let proven = step
        .config
        .extensions()
        .address_proof()
        .is_some_and(|proof| proof.is_proven(&user));
    if slot == pending::Slot::Confirmation && !proven {
        return Ok(());
    }
    let Some(pending) = pending::take(client, &step.config, slot).await? else {
        return Ok(());
    };
    if user.email() != Some(pending.email.as_str())
        || pending.user_id.is_some_and(|id| id != user.id)
    {
        return Ok(());
    }
    identities::Identities::new(&step.config)?
        .insert(
            &pending.provider,
            &pending.uid,
            user.id,
            Some(pending.email.as_str()),
        )
        .await?;
    Ok(())
}

//! Remember-me families in the user's session list: listing and forgetting them.

use pow_core::session::{self, CredentialsCache};
use pow_core::{PowConfig, PowError};

use crate::store::now_ms;
use crate::PersistentSession;

impl PersistentSession {
    /// The user's live remember-me families, for the session list.
    pub(crate) async fn families(
        &self,
        config: &PowConfig,
        user_id: i64,
    ) -> Result<Vec<session::RememberedInfo>, PowError> {
        let now = now_ms();
        Ok(self
            .tokens(config)
            .unused(user_id)
            .await?
            .into_iter()
            .map(|(_, record)| record)
            .filter(|record| self.within_max_age(record, now))
            .map(|record| session::RememberedInfo {
                created_at: if record.family_started_at > 0 {
                    record.family_started_at
                } else {
                    record.issued_at
                },
                id: record.family,
                fingerprint: record.fingerprint,
                device: record.device.unwrap_or_default(),
            })
            .collect())
    }

    /// Forgets one family of the user and signs out the sessions it restored.
    pub(crate) async fn forget_family(
        &self,
        config: &PowConfig,
        user_id: i64,
        family: &str,
    ) -> Result<bool, PowError> {
        let Some(info) = self
            .families(config, user_id)
            .await?
            .into_iter()
            .find(|info| info.id == family)
        else {
            return Ok(false);
        };
        self.tokens(config).delete_family(user_id, family).await?;
        end_chain_sessions(config, user_id, &info.fingerprint).await?;
        Ok(true)
    }
}

/// Signs out the user's sessions with `fingerprint` (one chain of sign-ins).
pub(crate) async fn end_chain_sessions(
    config: &PowConfig,
    user_id: i64,
    fingerprint: &str,
) -> Result<(), PowError> {
    let credentials = CredentialsCache::new(config);
    for id in credentials.sessions(user_id).await? {
        if let Some((_, metadata)) = credentials.get(&id).await? {
            if metadata.fingerprint == fingerprint {
                credentials.delete(&id).await?;
            }
        }
    }
    Ok(())
}

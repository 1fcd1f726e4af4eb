//! [`LiveSessions`]: live revocation for the sessions of one setup, over its event bus.

use std::fmt;
use std::time::Duration;

use super::live::{LiveEvents, LiveSessionId, DEFAULT_RECHECK};
use super::CurrentSession;
use crate::config::PowConfig;
use crate::error::PowError;

impl CurrentSession {
    /// The stable id of this session for long-lived connections.
    pub fn live_id(&self) -> LiveSessionId {
        LiveSessionId::of(self.user.id, &self.metadata.fingerprint)
    }
}

/// Live revocation for one setup: see the [module documentation](crate::session).
#[derive(Clone)]
pub struct LiveSessions {
    config: PowConfig,
    recheck: Duration,
}

impl fmt::Debug for LiveSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSessions")
            .field("recheck", &self.recheck)
            .finish_non_exhaustive()
    }
}

impl LiveSessions {
    /// Live revocation for the sessions of `config`.
    pub fn new(config: &PowConfig) -> Self {
        Self {
            config: config.clone(),
            recheck: DEFAULT_RECHECK,
        }
    }

    /// How often [`ended`](Self::ended) also checks the store (default
    /// 30 seconds): the longest an expired session, or one whose event a
    /// disconnected node missed, stays open.
    #[must_use]
    pub fn recheck_every(mut self, interval: Duration) -> Self {
        self.recheck = interval.max(Duration::from_millis(10));
        self
    }

    /// Whether the session still exists: one listing of the user's sessions.
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn is_still_valid(&self, id: &LiveSessionId) -> Result<bool, PowError> {
        Ok(super::CredentialsCache::new(&self.config)
            .chain_alive(id)
            .await?)
    }

    /// Every ended session of this setup from now on, on any node.
    pub async fn events(&self) -> LiveEvents {
        self.config.live_bus().events().await
    }

    /// Resolves once the session has ended (at once if it already has). While the store
    /// cannot be reached the session counts as alive: it cannot be used for new requests
    /// then anyway, and the check is repeated.
    pub async fn ended(&self, id: &LiveSessionId) {
        // Subscribe first, then check: an end between the two is not missed.
        let mut events = self.events().await;
        let mut recheck = tokio::time::interval(self.recheck);
        loop {
            tokio::select! {
                event = events.next() => match event.ends(id) {
                    Some(true) => return,
                    Some(false) => {}
                    None => if self.is_gone(id).await { return },
                },
                _ = recheck.tick() => if self.is_gone(id).await { return },
            }
        }
    }

    async fn is_gone(&self, id: &LiveSessionId) -> bool {
        match self.is_still_valid(id).await {
            Ok(valid) => !valid,
            Err(err) => {
                tracing::warn!(error = %err, "cannot check a live session");
                false
            }
        }
    }
}

//! Recording through a setup: the events' keyed hashes under the setup's secret, and the
//! setup's [`Auditor`] as the place events go.

use super::{AuditEvent, Auditor, Pending, Work};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::request::{RequestFacts, RequestSource};
use crate::token::keyed_digest;

impl AuditEvent {
    /// Sets the identifier typed, hashed with `config`'s audit key.
    pub fn identifier(mut self, config: &PowConfig, identifier: &str) -> Self {
        self.identifier_hash = Some(keyed_hash(config, "identifier", identifier));
        self
    }

    /// Takes the client's address, user agent and session from `req`.
    pub fn request(mut self, config: &PowConfig, req: &dyn RequestSource) -> Self {
        let facts = req.facts();
        self.ip = facts.client_ip.map(|ip| ip.to_string());
        self.user_agent = facts
            .user_agent
            .as_deref()
            .map(RequestFacts::user_agent_summary);
        if let Some((session, user)) = facts.session {
            self.session_hash = Some(keyed_hash(config, "session", &session));
            self.user_id = self.user_id.or(Some(user));
        }
        self
    }
}

impl Auditor {
    /// Anonymises user `user_id`'s events
    /// ([`AuditSink::anonymise_user`](super::AuditSink::anonymise_user)) under the keyed
    /// hash of the id, after the events queued before this call are written (so none of
    /// them comes back with the id). Returns how many events changed.
    ///
    /// # Errors
    /// The sink's failure, or [`PowError::Blocking`] when the audit thread is gone.
    pub(crate) async fn anonymise_user(
        &self,
        config: &PowConfig,
        user_id: i64,
    ) -> Result<usize, PowError> {
        let subject = erased_subject(config, user_id);
        self.ask(move |done| Work::Anonymise {
            user_id,
            subject,
            done,
        })
        .await?
    }
}

/// A short keyed hash (16 bytes, base64url) of `value`, so logs can be correlated without
/// holding the value.
pub(crate) fn keyed_hash(config: &PowConfig, purpose: &str, value: &str) -> String {
    let key = config
        .verifier()
        .derive_key(&format!("pow audit {purpose}"));
    let mut digest = keyed_digest(&key, value);
    // 22 characters (about 128 bits) are plenty to correlate records.
    digest.truncate(22);
    digest
}

/// What an erased user's events carry in place of the id (see
/// `Auditor::anonymise_user`): a keyed hash, the same for every event of the user, that
/// nobody without the setup's secret can tie back to the id.
pub fn erased_subject(config: &PowConfig, user_id: i64) -> String {
    keyed_hash(config, "erased user", &user_id.to_string())
}

/// Records `event` through `config`'s [`Auditor`].
pub fn record(config: &PowConfig, event: AuditEvent) {
    config.audit().record(event);
}

/// Records `event`, completed off the request path by `complete` (which may block: it runs
/// on the audit thread), for details that need a lookup.
pub(crate) fn record_with(
    config: &PowConfig,
    event: AuditEvent,
    complete: impl FnOnce(&mut AuditEvent) + Send + 'static,
) {
    config.audit().send(Pending {
        event,
        complete: Some(Box::new(complete)),
    });
}

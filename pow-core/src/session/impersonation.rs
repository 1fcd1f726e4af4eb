//! Support access ("sign in as"): an admin works in a user's account through a separate,
//! short, audited session that can never do what needs the user's own proof.
//!
//! The rules, whoever starts one (pow-actix's routes, or an app's own
//! admin tool through [`start`]):
//!
//! - only an admin (the app's [`Impersonation::new`] check) with a fresh session (sudo
//!   mode) starts one, with a reason; yourself, disabled users, closed accounts, other
//!   admins (unless [`allow_admin_targets`](Impersonation::allow_admin_targets)) and a
//!   session that is already one are refused, and each refusal is audited;
//! - the session records the admin, the admin's own session and the reason
//!   ([`Impersonator`]); it ends after [`idle_timeout`](Impersonation::idle_timeout)
//!   without a request (15 minutes by default), at
//!   [`absolute_timeout`](Impersonation::absolute_timeout) (30 minutes, at most an hour),
//!   and as soon as the admin's own session ends (signed out, revoked, the admin disabled)
//!   or the admin is no longer one;
//! - sudo mode and step-up rules are never met inside it (password, email, second-factor
//!   and passkey changes, session revocation, account deletion and data export answer
//!   `403 impersonation_forbidden`), and no API token pair is issued from it;
//! - the user's session list does not show it; the user's activity does ("support
//!   access"), and the user may be mailed a notice.
//!
//! ```
//! use std::time::Duration;
//! use pow_core::session::Impersonation;
//!
//! let support = Impersonation::new(|admin| admin.get_str("role") == Some("support"))
//!     .idle_timeout(Duration::from_secs(10 * 60));
//! let config = pow_core::PowConfig::builder("s".repeat(64)).impersonation(support).build()?;
//! assert!(config.impersonation().is_some());
//! # Ok::<_, pow_core::PowError>(())
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use super::impersonation_rule::{Impersonation, MAX_IMPERSONATION};
use super::{new_cookie_id, CredentialsCache, CurrentSession, Device, SessionMetadata};
use crate::audit::{self, AuditEvent, EventName};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::time::{duration_ms, now_ms};
use crate::users::User;

/// The session metadata key ([`SessionMetadata::extra`]) holding an impersonation
/// session's [`Impersonator`].
pub const IMPERSONATION_KEY: &str = "pow_impersonation";

/// The longest reason kept, in characters.
const MAX_REASON_CHARS: usize = 500;

/// How often, at most, a request writes an impersonation session's last activity.
const ACTIVITY_WRITE_EVERY_MS: i64 = 15_000;

/// What an impersonation session records about who opened it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impersonator {
    /// The admin's user id.
    pub admin_id: i64,
    /// The id the store keeps the admin's own session under: the impersonation ends with it.
    pub admin_session: String,
    /// Why, as the admin gave it.
    pub reason: String,
    /// When it started (ms since the Unix epoch).
    pub started_at: i64,
    /// The last request in it (ms since the Unix epoch, written at most every 15 s).
    pub last_seen_at: i64,
    /// When it ends whatever happens (ms since the Unix epoch).
    pub ends_at: i64,
    /// How long it may go without a request (ms).
    pub idle_ms: i64,
}

impl SessionMetadata {
    /// The admin behind this session, when it is an impersonation session.
    pub fn impersonator(&self) -> Option<Impersonator> {
        serde_json::from_value(self.extra.get(IMPERSONATION_KEY)?.clone()).ok()
    }

    /// Whether this is an impersonation session (cheap: one map lookup).
    pub fn is_impersonation(&self) -> bool {
        self.extra.contains_key(IMPERSONATION_KEY)
    }
}

/// Why an impersonation was refused; each is audited, and answers `403` with its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Impersonation is off in this setup, or the starter is not an admin.
    NotAllowed,
    /// No reason was given.
    NoReason,
    /// No such user.
    UnknownUser,
    /// The admin chose themselves.
    Yourself,
    /// The user is disabled.
    Disabled,
    /// The user closed their account (the account extension): it is as good as gone.
    Closed,
    /// The user is an admin too, and the setup does not allow that.
    Admin,
    /// The starter's session is an impersonation session itself.
    Nested,
}

impl Refusal {
    /// Its code in JSON answers and audit rows.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotAllowed => "not_allowed",
            Self::NoReason => "reason_required",
            Self::UnknownUser => "unknown_user",
            Self::Yourself => "yourself",
            Self::Disabled => "disabled_user",
            Self::Closed => "closed_user",
            Self::Admin => "admin_target",
            Self::Nested => "nested",
        }
    }
}

/// A started impersonation: the new session, and the cookie id that carries it.
#[derive(Debug)]
pub struct Started {
    /// The impersonation session (its user is the impersonated one).
    pub session: CurrentSession,
    /// The id a browser cookie carries for it (the store keeps a hash of it).
    pub cookie_id: String,
}

/// Starts an impersonation of `target_id` by the admin signed in with `admin`, for
/// `reason`, from `device`. Checks every rule of the [module docs](self) but sudo mode,
/// which is the caller's (the actix route runs with pow-actix's `Action::sudo`).
///
/// # Errors
/// The users context's or the store's error. A refusal is `Ok(Err(_))`, audited.
pub async fn start(
    config: &PowConfig,
    admin: &CurrentSession,
    target_id: i64,
    reason: &str,
    device: Device,
) -> Result<Result<Started, Refusal>, PowError> {
    let refused = |refusal: Refusal| {
        audit::record(
            config,
            AuditEvent::new(audit::IMPERSONATION_DENIED)
                .user(target_id)
                .detail("actor_id", admin.user.id)
                .detail("refusal", refusal.code()),
        );
        Ok(Err(refusal))
    };
    let Some(policy) = config.impersonation() else {
        return refused(Refusal::NotAllowed);
    };
    if admin.metadata.is_impersonation() {
        return refused(Refusal::Nested);
    }
    if !policy.is_admin(&admin.user) || admin.user.is_disabled() {
        return refused(Refusal::NotAllowed);
    }
    let reason: String = reason.trim().chars().take(MAX_REASON_CHARS).collect();
    if reason.is_empty() {
        return refused(Refusal::NoReason);
    }
    if target_id == admin.user.id {
        return refused(Refusal::Yourself);
    }
    let Some(target) = config.users()?.get(target_id).await? else {
        return refused(Refusal::UnknownUser);
    };
    if target.is_disabled() {
        return refused(Refusal::Disabled);
    }
    if target.is_closed() {
        return refused(Refusal::Closed);
    }
    if !policy.admin_targets && policy.is_admin(&target) {
        return refused(Refusal::Admin);
    }
    let now = now_ms();
    let impersonator = Impersonator {
        admin_id: admin.user.id,
        admin_session: admin.session_id.clone(),
        reason: reason.clone(),
        started_at: now,
        last_seen_at: now,
        ends_at: now.saturating_add(duration_ms(policy.absolute())),
        idle_ms: duration_ms(policy.idle()),
    };
    let mut metadata = SessionMetadata {
        // Nothing was proved in it: never fresh, no methods.
        authenticated_at: None,
        device: Some(device),
        ..SessionMetadata::new()
    };
    metadata.extra.insert(
        IMPERSONATION_KEY.to_owned(),
        serde_json::to_value(&impersonator).map_err(|e| PowError::Other(e.to_string()))?,
    );
    let cookie_id = new_cookie_id(config, target.id);
    let session_id = super::stored_session_id(config, &cookie_id);
    // Not through the per-user session cap: support access never pushes out one of the
    // user's own sessions.
    CredentialsCache::new(config)
        .put(&session_id, &target, &metadata)
        .await?;
    audit::record(
        config,
        AuditEvent::new(audit::IMPERSONATION_STARTED)
            .user(target.id)
            .detail("actor_id", admin.user.id)
            .detail("reason", reason),
    );
    Ok(Ok(Started {
        session: CurrentSession {
            user: Arc::new(target),
            session_id,
            metadata: Arc::new(metadata),
        },
        cookie_id,
    }))
}

/// Ends the impersonation session `current` (deletes it) and returns the id the admin's
/// own session is stored under; `None` when `current` is not one.
///
/// # Errors
/// The store's error.
pub async fn stop(
    config: &PowConfig,
    current: &CurrentSession,
) -> Result<Option<String>, PowError> {
    let Some(impersonator) = current.metadata.impersonator() else {
        return Ok(None);
    };
    CredentialsCache::new(config)
        .delete(&current.session_id)
        .await?;
    ended(
        config,
        audit::IMPERSONATION_STOPPED,
        current.user.id,
        &impersonator,
        "stopped",
    );
    Ok(Some(impersonator.admin_session))
}

fn ended(config: &PowConfig, name: EventName, user_id: i64, by: &Impersonator, why: &str) {
    audit::record(
        config,
        AuditEvent::new(name)
            .user(user_id)
            .detail("actor_id", by.admin_id)
            .detail("ended", why),
    );
}

/// The per-request rules of an impersonation session `session_id` (user `user_id`):
/// `false` once it has to end (idle, past its end, the admin's own session gone or no
/// longer an admin's), after deleting it; otherwise its activity is kept.
pub(crate) async fn still_valid(
    config: &PowConfig,
    credentials: &CredentialsCache,
    session_id: &str,
    user: &User,
    metadata: &SessionMetadata,
    now: i64,
) -> Result<bool, PowError> {
    let Some(mut by) = metadata.impersonator() else {
        // Unreadable: end it rather than serve it without its limits.
        credentials.delete(session_id).await?;
        return Ok(false);
    };
    let why = if now > by.ends_at {
        Some("timeout")
    } else if now.saturating_sub(by.last_seen_at) > by.idle_ms {
        Some("idle")
    } else {
        match credentials.get(&by.admin_session).await? {
            None => Some("admin_session_ended"),
            Some((admin, admin_metadata)) => {
                let lifetime = config.session().absolute_lifetime.map(duration_ms);
                let admin_over = lifetime
                    .is_some_and(|max| now.saturating_sub(admin_metadata.signed_in_at) > max);
                let still_admin = admin.id == by.admin_id
                    && !admin.is_disabled()
                    && config.impersonation().is_some_and(|p| p.is_admin(&admin));
                (admin_over || !still_admin).then_some("admin_session_ended")
            }
        }
    };
    if let Some(why) = why {
        credentials.delete(session_id).await?;
        ended(config, audit::IMPERSONATION_ENDED, user.id, &by, why);
        return Ok(false);
    }
    if now.saturating_sub(by.last_seen_at) >= ACTIVITY_WRITE_EVERY_MS {
        by.last_seen_at = now;
        let mut metadata = metadata.clone();
        metadata.extra.insert(
            IMPERSONATION_KEY.to_owned(),
            serde_json::to_value(&by).map_err(|e| PowError::Other(e.to_string()))?,
        );
        credentials.put(session_id, user, &metadata).await?;
    }
    Ok(true)
}

//! The names of the events pow-rs and its extensions record.

use super::EventName;

/// A password sign-in succeeded.
pub const SIGN_IN_SUCCEEDED: EventName = EventName::new("sign_in.succeeded");
/// A password sign-in failed; `detail.reason` is `wrong_password`, `unknown_user`,
/// `rate_limited`, `locked` or `unconfirmed`.
pub const SIGN_IN_FAILED: EventName = EventName::new("sign_in.failed");
/// A user signed out.
pub const SIGNED_OUT: EventName = EventName::new("session.signed_out");
/// Sessions were revoked (`detail.count`, `detail.scope`).
pub const SESSIONS_REVOKED: EventName = EventName::new("session.revoked");
/// A request was refused by a rate limit (`detail.action`).
pub const RATE_LIMITED: EventName = EventName::new("request.rate_limited");
/// A session id was rotated (renewal).
pub const SESSION_RENEWED: EventName = EventName::new("session.renewed");
/// An API token pair was issued (`detail.for`: `sign_in` or `registration`).
pub const API_TOKEN_ISSUED: EventName = EventName::new("api_token.issued");
/// An API token pair was renewed.
pub const API_TOKEN_RENEWED: EventName = EventName::new("api_token.renewed");
/// An API token pair was revoked by its holder (sign-out).
pub const API_TOKEN_REVOKED: EventName = EventName::new("api_token.revoked");
/// A user signed up.
pub const REGISTERED: EventName = EventName::new("account.registered");
/// A user changed their account (`detail.password`, `detail.fields`).
pub const ACCOUNT_UPDATED: EventName = EventName::new("account.updated");
/// A user's password changed (account page, reset, accepted invitation).
pub const PASSWORD_CHANGED: EventName = EventName::new("account.password_changed");
/// A user deleted their account.
pub const ACCOUNT_DELETED: EventName = EventName::new("account.deleted");
/// An admin disabled the user (every session ended).
pub const ACCOUNT_DISABLED: EventName = EventName::new("account.disabled");
/// An admin enabled the user again.
pub const ACCOUNT_ENABLED: EventName = EventName::new("account.enabled");
/// An identifier was locked after too many failed sign-ins.
pub const LOCKED: EventName = EventName::new("lockout.locked");
/// A lock was lifted (`detail.by`: `link` or `reset`).
pub const UNLOCKED: EventName = EventName::new("lockout.unlocked");
/// An admin started support access to a user's account (`user_id`: the user;
/// `detail.actor_id`: the admin; `detail.reason`).
pub const IMPERSONATION_STARTED: EventName = EventName::new("impersonation.started");
/// The admin stopped support access (`detail.actor_id`: the admin).
pub const IMPERSONATION_STOPPED: EventName = EventName::new("impersonation.stopped");
/// Support access ended by itself (`detail.ended`: `idle`, `timeout` or
/// `admin_session_ended`).
pub const IMPERSONATION_ENDED: EventName = EventName::new("impersonation.ended");
/// Support access was refused (`detail.refusal`: its code; `detail.actor_id`: who asked).
pub const IMPERSONATION_DENIED: EventName = EventName::new("impersonation.denied");
/// Every name above, for translation tables and filters.
pub const ALL_EVENTS: &[EventName] = &[
    SIGN_IN_SUCCEEDED,
    SIGN_IN_FAILED,
    SIGNED_OUT,
    SESSIONS_REVOKED,
    SESSION_RENEWED,
    API_TOKEN_ISSUED,
    API_TOKEN_RENEWED,
    API_TOKEN_REVOKED,
    RATE_LIMITED,
    REGISTERED,
    ACCOUNT_UPDATED,
    PASSWORD_CHANGED,
    ACCOUNT_DELETED,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    LOCKED,
    UNLOCKED,
    IMPERSONATION_STARTED,
    IMPERSONATION_STOPPED,
    IMPERSONATION_ENDED,
    IMPERSONATION_DENIED,
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::ALL_EVENTS;

    #[test]
    fn every_event_reads_in_every_language() {
        let config = crate::PowConfig::builder("n".repeat(64)).build().unwrap();
        for lang in ["en", "de", "fr"] {
            let lang = lang.parse().unwrap();
            for event in ALL_EVENTS {
                let key = event.label_key();
                assert!(
                    config.messages().message(&lang, &key, &[]).is_some(),
                    "{key} missing in {lang}"
                );
            }
        }
    }
}

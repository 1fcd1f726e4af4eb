//! What is stored with a session and what the session list shows.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::now_ms;
use crate::token::generate_uuid;

/// Metadata stored with a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionMetadata {
    /// When this session id was issued, in milliseconds since the Unix epoch. Reset on
    /// every renewal.
    pub inserted_at: i64,
    /// Random id of the chain of sessions started by one sign-in, kept through renewals
    /// (and carried into sessions restored from a remember-me cookie). A new session with
    /// the same fingerprint replaces the user's older ones.
    pub fingerprint: String,
    /// When the chain started (the sign-in), in milliseconds since the Unix epoch. The
    /// absolute session lifetime counts from here.
    pub signed_in_at: i64,
    /// When the user last proved their password in this session (ms since the Unix epoch):
    /// the password sign-in, or a later confirmation. `None` for a session restored from a
    /// remember-me cookie until the password is confirmed. Sudo mode
    /// (pow-actix's `Action::sudo`) counts from here.
    #[serde(default)]
    pub authenticated_at: Option<i64>,
    /// The device the chain was signed in from (address, user agent), for the user's list
    /// of sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    /// The methods the session proved and when each last did (its sign-in's, then later
    /// steps'): what [`StepUp`](super::StepUp) rules read. Sessions stored by releases
    /// before it have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<super::MethodUse>,
    /// App- or extension-defined values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl SessionMetadata {
    /// Metadata for a fresh sign-in: both timestamps now, a new fingerprint, no methods
    /// (record the sign-in's with [`with_method`](Self::with_method)), no extras.
    pub fn new() -> Self {
        let now = now_ms();
        Self {
            inserted_at: now,
            fingerprint: generate_uuid(),
            signed_in_at: now,
            authenticated_at: Some(now),
            device: None,
            methods: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Whether the password was proved within `window` of now (sudo mode): never for a
    /// session restored from a remember-me cookie, nor for an impersonation session.
    pub fn is_fresh(&self, window: Duration) -> bool {
        let window = crate::time::duration_ms(window);
        !self.is_impersonation()
            && self
                .authenticated_at
                .is_some_and(|at| now_ms().saturating_sub(at) <= window)
    }

    /// Metadata for a fresh sign-in that keeps `fingerprint` (for example one carried over
    /// from a remember-me cookie).
    pub fn with_fingerprint(fingerprint: impl Into<String>) -> Self {
        Self {
            fingerprint: fingerprint.into(),
            ..Self::new()
        }
    }
}

impl Default for SessionMetadata {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a session was signed in from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The client's browser, as people read it (`"Firefox on Linux"`, see
    /// [`browser_summary`](crate::request::browser_summary)); sessions stored by releases
    /// before it hold the start of the raw `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// One live session of a user, as the session list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id.
    pub id: String,
    /// When the chain was signed in (ms since the Unix epoch).
    pub signed_in_at: i64,
    /// When its id was last renewed: the user was active then (ms since the Unix epoch).
    pub last_seen_at: i64,
    /// Where it was signed in from.
    pub device: Device,
    /// Whether it is an API client's token pair rather than a browser.
    pub api: bool,
    /// How it signed in: the methods proved by its sign-in (a password, then a TOTP code;
    /// a passkey), in the order of [`AuthMethod::ALL`](super::AuthMethod::ALL). Later
    /// confirmations (sudo mode, step-ups) are not listed.
    pub methods: Vec<super::AuthMethod>,
    /// The fingerprint of its chain ([`SessionMetadata::fingerprint`]): the sessions one
    /// sign-in started, and the remember-me family that sign-in asked for.
    pub fingerprint: String,
}

/// Something other than a session that can sign a user in again later, kept by an
/// extension (a remember-me cookie's family of tokens), as the session list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RememberedInfo {
    /// The extension's id for it (the [`Extension::name`](crate::Extension::name) of the
    /// extension is kept beside it by the session list).
    pub id: String,
    /// The fingerprint of the sessions it signs in ([`SessionMetadata::fingerprint`]).
    pub fingerprint: String,
    /// When it was created (the sign-in that asked to be remembered), in ms since the
    /// Unix epoch.
    pub created_at: i64,
    /// Where it was created.
    pub device: Device,
}

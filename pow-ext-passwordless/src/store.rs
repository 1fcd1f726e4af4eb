//! The extension's records in the cache store, namespace `passwordless`
//! (`<name>_passwordless`), each living [`Passwordless::ttl`](crate::Passwordless::ttl):
//!
//! - `["link", keyed hash of the token]`: an emailed link (sign-in, sign-up or staged
//!   sign-up). Only a keyed hash of the token is stored, so a copy of the store cannot be
//!   used to sign in; the link is taken atomically when used.
//! - `["code", keyed hash of the id]`: an emailed code, found through the signed `id` the
//!   asking browser (or API client) holds; it stores a keyed hash of the code.
//!
//! Both are [`OneTimeSecrets`].

use std::time::Duration;

use pow_core::store::{OneTimeSecrets, StoreError};
use pow_core::token::keyed_digest;
use pow_core::users::Params;
use pow_core::PowConfig;
use serde::{Deserialize, Serialize};

/// What a link or code does when used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Purpose {
    /// Signs an existing user in.
    SignIn,
    /// Creates the user (passwordless sign-up), then signs them in.
    SignUp,
    /// Opens the rest of a staged sign-up form.
    Staged,
}

/// An emailed link or code.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Grant {
    /// The address it was sent to (normalised): it only works for this address.
    pub email: String,
    pub purpose: Purpose,
    /// For codes: the keyed hash of the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_hash: Option<String>,
    /// For staged sign-ups: values the app passed in to prefill the form.
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub prefill: Params,
}

pub(crate) struct Records {
    links: OneTimeSecrets,
    codes: OneTimeSecrets,
    /// The key of every secret of the ring, the current one first (for code hashes).
    keys: Vec<[u8; 32]>,
}

impl Records {
    pub(crate) fn new(config: &PowConfig, ttl: Duration) -> Self {
        Self {
            links: OneTimeSecrets::new(config, "passwordless", "link", ttl),
            codes: OneTimeSecrets::new(config, "passwordless", "code", ttl),
            keys: config.verifier().derive_keys("pow passwordless"),
        }
    }

    /// The keyed hash a code is kept as in its grant.
    pub(crate) fn hash(&self, secret: &str) -> String {
        self.hashes(secret).next().unwrap_or_default()
    }

    /// The code's keyed hash under each key of the ring, the current one first.
    pub(crate) fn hashes<'a>(&'a self, secret: &'a str) -> impl Iterator<Item = String> + 'a {
        self.keys.iter().map(move |key| keyed_digest(key, secret))
    }

    pub(crate) async fn put_link(&self, token: &str, grant: &Grant) -> Result<(), StoreError> {
        self.links.put(token, grant).await
    }

    pub(crate) async fn put_code(&self, id: &str, grant: &Grant) -> Result<(), StoreError> {
        self.codes.put(id, grant).await
    }

    /// The link's grant, left in place (to show a form first).
    pub(crate) async fn link(&self, token: &str) -> Result<Option<Grant>, StoreError> {
        self.links.get(token).await
    }

    /// Uses the link: of concurrent callers at most one gets its grant.
    pub(crate) async fn take_link(&self, token: &str) -> Result<Option<Grant>, StoreError> {
        self.links.take(token).await
    }

    pub(crate) async fn code(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        self.codes.get(id).await
    }

    /// Uses the code: of concurrent callers at most one gets its grant.
    /// Counts one try at the code `id`: `false` past `max`, and the code is then gone.
    pub(crate) async fn code_attempt(&self, id: &str, max: u32) -> Result<bool, StoreError> {
        self.codes.attempt(id, max).await
    }

    pub(crate) async fn take_code(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        self.codes.take(id).await
    }
}

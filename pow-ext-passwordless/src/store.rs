//! The extension's records in the cache store, namespace `passwordless`
//! (`<name>_passwordless`), each living [`Passwordless::ttl`](crate::Passwordless::ttl):
//!
//! - `["link", keyed hash of the token]`: an emailed link (sign-in, sign-up or staged
//!   sign-up). Only a keyed hash of the token is stored, so a copy of the store cannot be
//!   used to sign in; the link is taken atomically when used.
//! - `["code", id]`: an emailed code, found through the signed `id` the asking browser (or
//!   API client) holds; it stores a keyed hash of the code.

use std::sync::Arc;
use std::time::Duration;

use pow_core::store::{decode_record, Key, Store, StoreError};
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
    store: Arc<dyn Store>,
    namespace: String,
    /// The key of every secret of the ring, the current one first.
    keys: Vec<[u8; 32]>,
    ttl: Duration,
}

impl Records {
    pub(crate) fn new(config: &PowConfig, ttl: Duration) -> Self {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced("passwordless"),
            keys: config.verifier().derive_keys("pow passwordless"),
            ttl,
        }
    }

    /// The keyed hash under which a secret (a link token, a code) is stored.
    pub(crate) fn hash(&self, secret: &str) -> String {
        self.hashes(secret).next().unwrap_or_default()
    }

    /// The secret's keyed hash under each key of the ring, the current one first.
    pub(crate) fn hashes<'a>(&'a self, secret: &'a str) -> impl Iterator<Item = String> + 'a {
        self.keys.iter().map(move |key| keyed_digest(key, secret))
    }

    fn link_key(&self, token: &str) -> Key {
        Key(vec!["link".to_owned(), self.hash(token)])
    }

    /// The store keys a link may sit under: one per key of the ring.
    fn link_keys<'a>(&'a self, token: &'a str) -> impl Iterator<Item = Key> + 'a {
        self.hashes(token)
            .map(|hash| Key(vec!["link".to_owned(), hash]))
    }

    fn code_key(id: &str) -> Key {
        Key(vec!["code".to_owned(), id.to_owned()])
    }

    async fn put(&self, key: Key, grant: &Grant) -> Result<(), StoreError> {
        self.store
            .put(
                &self.namespace,
                vec![(key, serde_json::to_vec(grant)?)],
                Some(self.ttl),
            )
            .await
    }

    pub(crate) async fn put_link(&self, token: &str, grant: &Grant) -> Result<(), StoreError> {
        self.put(self.link_key(token), grant).await
    }

    pub(crate) async fn put_code(&self, id: &str, grant: &Grant) -> Result<(), StoreError> {
        self.put(Self::code_key(id), grant).await
    }

    fn decode(bytes: Option<Vec<u8>>) -> Option<Grant> {
        bytes.and_then(|bytes| decode_record(&bytes, "passwordless grant"))
    }

    /// The link's grant, left in place (to show a form first).
    pub(crate) async fn link(&self, token: &str) -> Result<Option<Grant>, StoreError> {
        for key in self.link_keys(token) {
            if let Some(grant) = Self::decode(self.store.get(&self.namespace, &key).await?) {
                return Ok(Some(grant));
            }
        }
        Ok(None)
    }

    /// Uses the link: of concurrent callers at most one gets its grant.
    pub(crate) async fn take_link(&self, token: &str) -> Result<Option<Grant>, StoreError> {
        for key in self.link_keys(token) {
            if let Some(grant) = Self::decode(self.store.take(&self.namespace, &key).await?) {
                return Ok(Some(grant));
            }
        }
        Ok(None)
    }

    pub(crate) async fn code(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        Ok(Self::decode(
            self.store.get(&self.namespace, &Self::code_key(id)).await?,
        ))
    }

    /// Uses the code: of concurrent callers at most one gets its grant.
    pub(crate) async fn take_code(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        Ok(Self::decode(
            self.store
                .take(&self.namespace, &Self::code_key(id))
                .await?,
        ))
    }
}

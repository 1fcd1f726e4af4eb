//! Per-user indexes: list (and revoke) all of one user's records of a kind.

use serde::de::DeserializeOwned;

use super::{Key, KeyPattern, Store, StoreError};

/// One kind of per-user index in a namespace: under `["user", user_id, kind, id]` a small
/// entry about record `id`, so all of a user's records of this kind (sessions, API tokens,
/// remember-me tokens) are listed from one index instead of a scan of the namespace.
///
/// ```
/// use pow_core::store::{Key, UserIndex};
///
/// const SESSIONS: UserIndex = UserIndex::new("session");
/// assert_eq!(SESSIONS.key(7, "abc"), Key::from(["user", "7", "session", "abc"]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserIndex {
    kind: &'static str,
}

impl UserIndex {
    /// The index of records of `kind` (one key segment, such as `"session"`).
    pub const fn new(kind: &'static str) -> Self {
        Self { kind }
    }

    /// The index entry of record `id` of the user.
    pub fn key(&self, user_id: i64, id: &str) -> Key {
        Key(vec![
            "user".to_owned(),
            user_id.to_string(),
            self.kind.to_owned(),
            id.to_owned(),
        ])
    }

    /// The pattern that lists every entry of the user.
    pub fn pattern(&self, user_id: i64) -> [KeyPattern; 4] {
        [
            KeyPattern::exact("user"),
            KeyPattern::Exact(user_id.to_string()),
            KeyPattern::exact(self.kind),
            KeyPattern::Any,
        ]
    }

    /// Every entry of the user in `namespace`, as `(id, entry)`; an entry that does not
    /// decode is logged and given as `None`, so callers can still clean up after it.
    ///
    /// # Errors
    /// The store's error.
    pub async fn entries<T: DeserializeOwned>(
        &self,
        store: &dyn Store,
        namespace: &str,
        user_id: i64,
    ) -> Result<Vec<(String, Option<T>)>, StoreError> {
        let records = store.all(namespace, &self.pattern(user_id)).await?;
        Ok(records
            .into_iter()
            .filter_map(|(key, bytes)| {
                let id = key.0.into_iter().nth(3)?;
                Some((id, decode_record(&bytes, self.kind)))
            })
            .collect())
    }
}

/// Decodes a stored JSON value. An undecodable one (written by an incompatible version,
/// say) is logged and counts as absent, so it ends one session or token instead of failing
/// every request that meets it.
pub fn decode_record<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Option<T> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(error = %err, "ignoring an undecodable {what} record in the cache store");
            None
        }
    }
}

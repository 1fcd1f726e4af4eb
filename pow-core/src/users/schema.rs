//! The users' own settings, handed to the users context and changesets instead of the
//! whole config.

use std::sync::Arc;

use super::changeset::ChangesetHook;
use super::FieldDef;
use crate::password::{BreachCheck, HashPool, PasswordHasher, PasswordPolicy, PooledHasher};
use crate::token::MessageVerifier;

/// What the users layer needs of a setup: the table, the user id field, every extra
/// field, the password rules and hasher, the changeset hooks, and the key ring that
/// digests column tokens.
///
/// The config builds it and holds it ([`PowConfig::user_schema`](crate::PowConfig::user_schema));
/// a [`UsersContext`](super::UsersContext), a [`Changeset`](super::Changeset) and a
/// [`ChangesetHook`] take it rather than the whole config.
///
/// ```
/// let config = pow_core::PowConfig::builder("x".repeat(64)).build()?;
/// let schema = config.user_schema();
/// assert_eq!(schema.table(), "users");
/// assert_eq!(schema.user_id_field(), "email");
/// let params = pow_core::users::sign_up_params(schema, "jane@example.com", "correct horse");
/// assert_eq!(params["email"], "jane@example.com");
/// # Ok::<(), pow_core::PowError>(())
/// ```
pub struct UserSchema {
    pub(crate) table: String,
    pub(crate) user_id_field: String,
    pub(crate) fields: Vec<FieldDef>,
    pub(crate) password_policy: PasswordPolicy,
    pub(crate) breach_check: Option<BreachCheck>,
    pub(crate) hasher: PooledHasher,
    pub(crate) hooks: Vec<Arc<dyn ChangesetHook>>,
    pub(crate) verifier: MessageVerifier,
    pub(crate) insert_pace: super::InsertPace,
}

impl std::fmt::Debug for UserSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSchema")
            .field("table", &self.table)
            .field("user_id_field", &self.user_id_field)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl UserSchema {
    /// The users table (`"users"` by default).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The user id field (`"email"` by default).
    pub fn user_id_field(&self) -> &str {
        &self.user_id_field
    }

    /// Every extra user field: the user id field when it is not `email`, then the app's
    /// fields, then each extension's.
    pub fn fields(&self) -> &[FieldDef] {
        &self.fields
    }

    /// Password rules.
    pub fn password_policy(&self) -> PasswordPolicy {
        self.password_policy
    }

    /// The breached-password check, when configured.
    pub fn breach_check(&self) -> Option<&BreachCheck> {
        self.breach_check.as_ref()
    }

    /// The password hasher, running on the setup's [`HashPool`]: its methods block until a
    /// pool thread has done the work (call them off the async executor).
    pub fn hasher(&self) -> &dyn PasswordHasher {
        &self.hasher
    }

    /// How long recent written inserts took: a refused insert is held as long (see
    /// [`InsertPace`](super::InsertPace)).
    pub fn insert_pace(&self) -> &super::InsertPace {
        &self.insert_pace
    }

    /// The pool password hashing runs on.
    pub fn hash_pool(&self) -> &HashPool {
        self.hasher.pool()
    }

    /// Changeset hooks: each extension's (config order), then the app's.
    pub fn hooks(&self) -> &[Arc<dyn ChangesetHook>] {
        &self.hooks
    }

    /// The key ring that digests one-time column tokens
    /// ([`new_column_token`](super::new_column_token) and friends).
    pub fn verifier(&self) -> &MessageVerifier {
        &self.verifier
    }
}

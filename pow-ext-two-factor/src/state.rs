//! What a user's row says about the second factor.

use pow_core::users::User;

use crate::{ENABLED_AT_FIELD, RECOVERY_CODES_FIELD, SECRET_FIELD};

/// Whether `user` has a second factor.
pub fn is_enabled(user: &User) -> bool {
    user.get(ENABLED_AT_FIELD).is_some_and(|v| !v.is_null()) && user.get_str(SECRET_FIELD).is_some()
}

/// The stored hashes of the user's unused recovery codes.
pub(crate) fn recovery_hashes(user: &User) -> Vec<String> {
    user.get_str(RECOVERY_CODES_FIELD)
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// How many recovery codes the user has left.
pub fn recovery_codes_left(user: &User) -> usize {
    recovery_hashes(user).len()
}

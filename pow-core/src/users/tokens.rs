//! Tokens kept in a user column (email confirmation, invitation) as keyed hashes.
//!
//! The link carries the raw token, signed; the column holds only
//! [`MessageVerifier::token_digest`](crate::token::MessageVerifier::token_digest) of it, so a
//! copy of the users table opens no link. Rows written by Pow hold the raw UUID: those
//! keep working until used.

use super::{User, UsersContext, Value};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::token::{generate_uuid, secure_compare};

/// A fresh token for a user column under `purpose`: the raw token (for the link, never
/// stored) and the value to store.
pub fn new_column_token(config: &PowConfig, purpose: &str) -> (String, String) {
    let raw = generate_uuid();
    let stored = config.verifier().token_digest(purpose, &raw);
    (raw, stored)
}

/// A value for a token column that no link can match: for rows that need a token in the
/// column (its presence means "pending") before the first link is issued.
pub fn placeholder_column_token(config: &PowConfig, purpose: &str) -> String {
    new_column_token(config, purpose).1
}

/// The user whose `field` holds `token`: as its keyed hash under `purpose` (with any
/// secret of the key ring), or, for a row written by Pow, as the raw UUID. Blocking.
///
/// Call it with the token from a link whose signature was verified.
///
/// # Errors
/// When the database fails.
pub fn get_by_column_token(
    users: &dyn UsersContext,
    config: &PowConfig,
    field: &str,
    purpose: &str,
    token: &str,
) -> Result<Option<User>, PowError> {
    let mut candidates = config.verifier().token_digests(purpose, token);
    // Pow stored its UUID tokens as issued; pow-rs never stores a UUID in these columns.
    if uuid::Uuid::try_parse(token).is_ok() {
        candidates.push(token.to_owned());
    }
    for candidate in candidates {
        let Some(user) = users.get_by(config, field, &Value::Text(candidate.clone()))? else {
            continue;
        };
        let stored = user.get_str(field).unwrap_or_default();
        if secure_compare(stored.as_bytes(), candidate.as_bytes()) {
            return Ok(Some(user));
        }
    }
    Ok(None)
}

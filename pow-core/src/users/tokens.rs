//! Tokens kept in a user column (email confirmation, invitation) as keyed hashes.
//!
//! The link carries the raw token, signed; the column holds
//! [`MessageVerifier::token_digest`](crate::token::MessageVerifier::token_digest) of it
//! (after the token's nonce, for tokens bound to a user and an address), never the token,
//! so a copy of the users table opens no link. Rows written by Pow hold the raw UUID:
//! those keep working until used.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::UserSchema;
use super::{User, UsersContext, Value};
use crate::error::PowError;
use crate::token::{generate_uuid, hmac_sha256, secure_compare};

/// A fresh token for a user column under `purpose`: the raw token (for the link, never
/// stored) and the value to store.
pub fn new_column_token(schema: &UserSchema, purpose: &str) -> (String, String) {
    let raw = generate_uuid();
    let stored = schema.verifier().token_digest(purpose, &raw);
    (raw, stored)
}

/// A new token for a user column under `purpose`, bound to `user_id` and the address
/// `bound_to` (the one the link is mailed to): the raw token (for the link, never stored)
/// and the value to store. The raw token is a random nonce and a keyed MAC of the nonce,
/// the user and the address; the column keeps the nonce and a keyed hash of the raw
/// token. A copy of the table yields no link (the MAC needs the secret key base), and
/// [`reissued_column_token`] gives the same link again for a mail sent again.
pub fn issue_column_token(
    schema: &UserSchema,
    purpose: &str,
    user_id: i64,
    bound_to: &str,
) -> (String, String) {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let raw = bound_token(schema, purpose, &nonce, user_id, bound_to);
    let stored = format!(
        "{nonce}{NONCE_SEPARATOR}{}",
        schema.verifier().token_digest(purpose, &raw)
    );
    (raw, stored)
}

/// The raw token of the link whose column value is `stored`, when it was issued by
/// [`issue_column_token`] for the same user and address under the current secret: a
/// mail sent again carries the same link as the earlier ones, so they keep working.
/// `None` for anything else (another address, a retired secret, a placeholder, a Pow
/// row); mint a new token then.
pub fn reissued_column_token(
    schema: &UserSchema,
    purpose: &str,
    user_id: i64,
    bound_to: &str,
    stored: &str,
) -> Option<String> {
    let (nonce, digest) = stored.split_once(NONCE_SEPARATOR)?;
    let raw = bound_token(schema, purpose, nonce, user_id, bound_to);
    let expected = schema.verifier().token_digest(purpose, &raw);
    secure_compare(expected.as_bytes(), digest.as_bytes()).then_some(raw)
}

/// Separates the nonce from the keyed hash in a stored column token.
const NONCE_SEPARATOR: char = '$';
/// Separates the nonce from the MAC in a raw column token.
const MAC_SEPARATOR: char = '.';

fn bound_token(
    schema: &UserSchema,
    purpose: &str,
    nonce: &str,
    user_id: i64,
    bound_to: &str,
) -> String {
    let key = schema
        .verifier()
        .derive_key(&format!("pow bound token {purpose}"));
    let mut message = Vec::with_capacity(8 + 2 * 8 + nonce.len() + bound_to.len());
    for part in [nonce.as_bytes(), bound_to.as_bytes()] {
        message.extend_from_slice(&(part.len() as u64).to_be_bytes());
        message.extend_from_slice(part);
    }
    message.extend_from_slice(&user_id.to_be_bytes());
    let mac = URL_SAFE_NO_PAD.encode(hmac_sha256(&key, &message));
    format!("{nonce}{MAC_SEPARATOR}{mac}")
}

/// A value for a token column that no link can match: for rows that need a token in the
/// column (its presence means "pending") before the first link is issued.
pub fn placeholder_column_token(schema: &UserSchema, purpose: &str) -> String {
    new_column_token(schema, purpose).1
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
    schema: &UserSchema,
    field: &str,
    purpose: &str,
    token: &str,
) -> Result<Option<User>, PowError> {
    let mut candidates = schema.verifier().token_digests(purpose, token);
    // A token of `issue_column_token`: its row holds the nonce beside the keyed hash.
    if let Some((nonce, _)) = token.split_once(MAC_SEPARATOR) {
        let bound: Vec<String> = candidates
            .iter()
            .map(|digest| format!("{nonce}{NONCE_SEPARATOR}{digest}"))
            .collect();
        candidates.splice(0..0, bound);
    }
    // Pow stored its UUID tokens as issued; pow-rs never stores a UUID in these columns.
    if uuid::Uuid::try_parse(token).is_ok() {
        candidates.push(token.to_owned());
    }
    for candidate in candidates {
        let Some(user) = users.get_by(schema, field, &Value::Text(candidate.clone()))? else {
            continue;
        };
        let stored = user.get_str(field).unwrap_or_default();
        if secure_compare(stored.as_bytes(), candidate.as_bytes()) {
            return Ok(Some(user));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PowConfig;

    fn config(secret: &str) -> PowConfig {
        PowConfig::builder(secret.repeat(64)).build().unwrap()
    }

    #[test]
    fn a_bound_token_is_given_again_only_for_its_user_and_address() {
        let config = config("s");
        let (raw, stored) = issue_column_token(config.user_schema(), "confirm", 7, "a@example.com");
        assert!(!stored.contains(raw.split_once('.').unwrap().1));
        let again =
            reissued_column_token(config.user_schema(), "confirm", 7, "a@example.com", &stored);
        assert_eq!(again.as_deref(), Some(raw.as_str()));
        for (purpose, id, to) in [
            ("confirm", 8, "a@example.com"),
            ("confirm", 7, "b@example.com"),
            ("invite", 7, "a@example.com"),
        ] {
            assert_eq!(
                reissued_column_token(config.user_schema(), purpose, id, to, &stored),
                None
            );
        }
        // Another secret, a placeholder, a Pow UUID: nothing to give again.
        let other = super::tests::config("t");
        assert_eq!(
            reissued_column_token(other.user_schema(), "confirm", 7, "a@example.com", &stored),
            None
        );
        let placeholder = placeholder_column_token(config.user_schema(), "confirm");
        assert_eq!(
            reissued_column_token(
                config.user_schema(),
                "confirm",
                7,
                "a@example.com",
                &placeholder
            ),
            None
        );
        // Two issues never share a token.
        let (second, _) = issue_column_token(config.user_schema(), "confirm", 7, "a@example.com");
        assert_ne!(second, raw);
    }
}

//! The extension's user columns, its changeset rules and the confirm step.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pow_core::users::validation::normalize_user_id;
use pow_core::users::{
    issue_column_token, placeholder_column_token, reissued_column_token, Changes, Changeset,
    ChangesetAction, ChangesetHook, FieldDef, FieldKind, User, UserSchema, Value,
};
use pow_core::PowConfig;

/// Column holding the current confirmation token (unique; `NULL` once confirmed).
pub const TOKEN_FIELD: &str = "email_confirmation_token";
/// Column holding when the current token was issued (for expiry).
pub const TOKEN_SENT_AT_FIELD: &str = "email_confirmation_token_sent_at";
/// Column holding when the email address was last confirmed.
pub const CONFIRMED_AT_FIELD: &str = "email_confirmed_at";
/// Column holding a new address waiting for confirmation.
pub const UNCONFIRMED_EMAIL_FIELD: &str = "unconfirmed_email";
/// The email column the extension confirms.
pub(crate) const EMAIL_FIELD: &str = "email";

/// The columns the extension's migration adds. None can be set from form params.
pub(crate) fn user_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::new(TOKEN_FIELD, FieldKind::Text)
            .unique()
            .not_exported(),
        FieldDef::new(TOKEN_SENT_AT_FIELD, FieldKind::Timestamp),
        FieldDef::new(CONFIRMED_AT_FIELD, FieldKind::Timestamp),
        FieldDef::new(UNCONFIRMED_EMAIL_FIELD, FieldKind::Text),
    ]
}

fn present(user: &User, field: &str) -> bool {
    user.get(field).is_some_and(|v| !v.is_null())
}

/// Whether `user` still has to confirm the address it signed up with: no pending address
/// change, a token, and never confirmed. Users without a token (created before the
/// extension was enabled, or invited) count as confirmed.
pub(crate) fn is_unconfirmed(user: &User) -> bool {
    !present(user, UNCONFIRMED_EMAIL_FIELD)
        && present(user, TOKEN_FIELD)
        && !present(user, CONFIRMED_AT_FIELD)
}

/// Whether a new address is waiting for confirmation (both the address and a token set).
pub fn has_pending_change(user: &User) -> bool {
    present(user, UNCONFIRMED_EMAIL_FIELD) && present(user, TOKEN_FIELD)
}

/// The address the confirmation mail goes to: the pending new address, else the email.
pub(crate) fn recipient(user: &User) -> Option<&str> {
    user.get_str(UNCONFIRMED_EMAIL_FIELD)
        .or_else(|| user.get_str(EMAIL_FIELD))
}

/// Whether the user's token is too old to confirm with. A token without an issue time
/// counts as expired when tokens expire.
pub(crate) fn token_expired(user: &User, ttl: Option<Duration>, now: DateTime<Utc>) -> bool {
    let Some(ttl) = ttl else {
        return false;
    };
    match user.get_timestamp(TOKEN_SENT_AT_FIELD) {
        Some(sent_at) => age(sent_at, now) >= ttl,
        None => true,
    }
}

fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    // A timestamp in the future (clock skew between servers) counts as brand new.
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

/// Purpose of the keyed hash a confirmation token is stored as.
pub(crate) const TOKEN_PURPOSE: &str = "email_confirmation";

/// A new token for `user`'s link, bound to the address it is mailed to (see
/// [`issue_column_token`]): the raw token for the link and the changes storing it with
/// `issued_at`. `None` when the user has no address to send to.
pub(crate) fn token_changes(
    config: &PowConfig,
    user: &User,
    issued_at: DateTime<Utc>,
) -> Option<(String, Changes)> {
    let to = recipient(user)?;
    let (raw, stored) = issue_column_token(config.user_schema(), TOKEN_PURPOSE, user.id, to);
    let mut changes = Changes::new();
    changes.insert(TOKEN_FIELD.into(), Value::Text(stored));
    changes.insert(TOKEN_SENT_AT_FIELD.into(), Value::Timestamp(issued_at));
    Some((raw, changes))
}

/// The raw token of the link `user`'s row holds now, when it is still valid: a mail sent
/// again carries the same link as the earlier ones, so they keep working. `None` when the
/// row holds no such token (the sign-up placeholder, a token for another address or
/// issued under a retired secret) or the token expired.
pub(crate) fn current_token(
    config: &PowConfig,
    user: &User,
    ttl: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<String> {
    let stored = user.get_str(TOKEN_FIELD)?;
    if token_expired(user, ttl, now) {
        return None;
    }
    reissued_column_token(
        config.user_schema(),
        TOKEN_PURPOSE,
        user.id,
        recipient(user)?,
        stored,
    )
}

/// How long `user`'s current link still works (`None`: it never expires).
pub(crate) fn remaining_validity(
    user: &User,
    ttl: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let ttl = ttl?;
    let age = user
        .get_timestamp(TOKEN_SENT_AT_FIELD)
        .map_or(Duration::ZERO, |sent_at| age(sent_at, now));
    Some(ttl.saturating_sub(age))
}

/// A token no link matches, and its issue time, as changes: marks the address as
/// waiting for confirmation. The mail replaces it with a token it links to.
fn pending_token_changes(schema: &UserSchema, now: DateTime<Utc>) -> Changes {
    let mut changes = Changes::new();
    changes.insert(
        TOKEN_FIELD.into(),
        Value::Text(placeholder_column_token(schema, TOKEN_PURPOSE)),
    );
    changes.insert(TOKEN_SENT_AT_FIELD.into(), Value::Timestamp(now));
    changes
}

/// The changes that confirm `user`: a pending address becomes the email; a never
/// confirmed user gets a confirmation time. The token is always cleared (single use).
pub(crate) fn confirm_changes(user: &User, now: DateTime<Utc>) -> Changes {
    let mut changes = Changes::new();
    changes.insert(TOKEN_FIELD.into(), Value::Null);
    changes.insert(TOKEN_SENT_AT_FIELD.into(), Value::Null);
    if let Some(new_email) = user.get_str(UNCONFIRMED_EMAIL_FIELD) {
        changes.insert(EMAIL_FIELD.into(), Value::Text(new_email.to_owned()));
        changes.insert(UNCONFIRMED_EMAIL_FIELD.into(), Value::Null);
        changes.insert(CONFIRMED_AT_FIELD.into(), Value::Timestamp(now));
    } else if !present(user, CONFIRMED_AT_FIELD) {
        changes.insert(CONFIRMED_AT_FIELD.into(), Value::Timestamp(now));
    }
    changes
}

/// The extension's changeset rules (only on otherwise valid changesets):
///
/// - sign-up: a new token (one no link matches: each mail stores the keyed hash of the
///   token it links to, see `mail::send`);
/// - account edit or invitation accept with a new email: the stored email stays, the new
///   one waits in `unconfirmed_email` with a new token (only when it differs from the one
///   already waiting). A user who never confirmed has no confirmed address to keep: the
///   email changes right away and a new token is issued, so the user stays unconfirmed;
/// - the stored email submitted again while a change is pending: the change is dropped.
pub(crate) struct EmailConfirmationHook;

impl ChangesetHook for EmailConfirmationHook {
    fn changeset(&self, cs: &mut Changeset, schema: &UserSchema) {
        if !cs.is_valid() {
            return;
        }
        match cs.action {
            ChangesetAction::Create => cs.changes.extend(pending_token_changes(schema, Utc::now())),
            ChangesetAction::Update | ChangesetAction::CompleteSignUp => email_edit(cs, schema),
            _ => {}
        }
    }
}

fn email_edit(cs: &mut Changeset, schema: &UserSchema) {
    let Some(user) = cs.data.clone() else {
        return;
    };
    match cs.changes.get(EMAIL_FIELD).cloned() {
        None => {
            // The email was submitted unchanged. Only a pending change is reverted: an
            // unconfirmed user must not become confirmed by re-submitting its address.
            let resubmitted = cs
                .params
                .get(EMAIL_FIELD)
                .map(|raw| normalize_user_id(raw))
                .is_some_and(|email| Some(email.as_str()) == user.get_str(EMAIL_FIELD));
            if resubmitted && present(&user, UNCONFIRMED_EMAIL_FIELD) {
                cs.put_change(UNCONFIRMED_EMAIL_FIELD, Value::Null);
                cs.put_change(TOKEN_FIELD, Value::Null);
                cs.put_change(TOKEN_SENT_AT_FIELD, Value::Null);
            }
        }
        Some(Value::Text(new_email)) => {
            if is_unconfirmed(&user) {
                cs.changes.extend(pending_token_changes(schema, Utc::now()));
                return;
            }
            cs.changes.remove(EMAIL_FIELD);
            if user.get_str(UNCONFIRMED_EMAIL_FIELD) != Some(new_email.as_str()) {
                cs.put_change(UNCONFIRMED_EMAIL_FIELD, new_email);
                cs.changes.extend(pending_token_changes(schema, Utc::now()));
            }
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pow_core::password::{PasswordHasher, Pbkdf2Hasher};
    use pow_core::users::Params;

    const PASSWORD: &str = "secret1234";

    fn config() -> PowConfig {
        PowConfig::builder("k".repeat(64))
            .base_url("http://localhost")
            .hasher(Pbkdf2Hasher::new(1))
            .extension(crate::EmailConfirmation::new())
            .build()
            .unwrap()
    }

    fn user(fields: &[(&str, Value)]) -> User {
        let mut user = User {
            id: 1,
            password_hash: Some(Pbkdf2Hasher::new(1).hash(PASSWORD).unwrap()),
            inserted_at: Utc::now(),
            updated_at: Utc::now(),
            fields: Default::default(),
        };
        user.fields
            .insert(EMAIL_FIELD.into(), Value::from("old@example.com"));
        for def in user_fields() {
            user.fields.insert(def.name, Value::Null);
        }
        for (k, v) in fields {
            user.fields.insert((*k).into(), v.clone());
        }
        user
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Account-edit params: `email` plus the current password.
    fn edit(email: &str) -> Params {
        params(&[("email", email), ("current_password", PASSWORD)])
    }

    fn confirmed() -> User {
        user(&[(CONFIRMED_AT_FIELD, Value::Timestamp(Utc::now()))])
    }

    #[test]
    fn sign_up_gets_a_token() {
        let config = config();
        let cs = Changeset::create(
            config.user_schema(),
            &params(&[
                ("email", "new@example.com"),
                ("password", "secret1234"),
                ("password_confirmation", "secret1234"),
            ]),
        );
        assert!(cs.is_valid());
        assert!(matches!(cs.changes.get(TOKEN_FIELD), Some(Value::Text(t)) if t.len() == 43));
        assert!(matches!(
            cs.changes.get(TOKEN_SENT_AT_FIELD),
            Some(Value::Timestamp(_))
        ));
        assert_eq!(cs.changes.get(UNCONFIRMED_EMAIL_FIELD), None);
    }

    #[test]
    fn invalid_sign_up_is_left_alone() {
        let config = config();
        let cs = Changeset::create(
            config.user_schema(),
            &params(&[("email", "new@example.com")]),
        );
        assert!(!cs.is_valid());
        assert_eq!(cs.changes.get(TOKEN_FIELD), None);
    }

    #[test]
    fn email_change_waits_in_unconfirmed_email() {
        let config = config();
        let cs = Changeset::update(
            config.user_schema(),
            &confirmed(),
            &edit(" New@Example.com "),
        );
        assert!(cs.is_valid(), "{:?}", cs.errors);
        assert_eq!(cs.changes.get(EMAIL_FIELD), None);
        assert_eq!(
            cs.changes.get(UNCONFIRMED_EMAIL_FIELD),
            Some(&Value::from("new@example.com"))
        );
        assert!(matches!(cs.changes.get(TOKEN_FIELD), Some(Value::Text(_))));
    }

    #[test]
    fn same_pending_address_keeps_its_token() {
        let config = config();
        let pending = user(&[
            (CONFIRMED_AT_FIELD, Value::Timestamp(Utc::now())),
            (UNCONFIRMED_EMAIL_FIELD, Value::from("new@example.com")),
            (TOKEN_FIELD, Value::from("t")),
        ]);
        let cs = Changeset::update(config.user_schema(), &pending, &edit("new@example.com"));
        assert!(cs.is_valid());
        assert!(cs.changes.is_empty(), "{:?}", cs.changes);
    }

    #[test]
    fn resubmitting_the_stored_email_reverts_a_pending_change() {
        let config = config();
        let pending = user(&[
            (CONFIRMED_AT_FIELD, Value::Timestamp(Utc::now())),
            (UNCONFIRMED_EMAIL_FIELD, Value::from("new@example.com")),
            (TOKEN_FIELD, Value::from("t")),
        ]);
        let cs = Changeset::update(config.user_schema(), &pending, &edit("old@example.com"));
        assert_eq!(cs.changes.get(TOKEN_FIELD), Some(&Value::Null));
        assert_eq!(cs.changes.get(UNCONFIRMED_EMAIL_FIELD), Some(&Value::Null));
    }

    #[test]
    fn resubmitting_the_stored_email_does_not_confirm() {
        let config = config();
        let unconfirmed = user(&[(TOKEN_FIELD, Value::from("t"))]);
        let cs = Changeset::update(config.user_schema(), &unconfirmed, &edit("old@example.com"));
        assert!(cs.changes.is_empty(), "{:?}", cs.changes);
    }

    #[test]
    fn never_confirmed_user_changes_email_and_stays_unconfirmed() {
        let config = config();
        let unconfirmed = user(&[(TOKEN_FIELD, Value::from("t"))]);
        let cs = Changeset::update(config.user_schema(), &unconfirmed, &edit("new@example.com"));
        assert_eq!(
            cs.changes.get(EMAIL_FIELD),
            Some(&Value::from("new@example.com"))
        );
        assert_eq!(cs.changes.get(UNCONFIRMED_EMAIL_FIELD), None);
        let token = cs.changes.get(TOKEN_FIELD).and_then(Value::as_str);
        assert!(token.is_some_and(|t| t != "t"));
    }

    #[test]
    fn confirm_moves_the_pending_address() {
        let now = Utc::now();
        let pending = user(&[
            (UNCONFIRMED_EMAIL_FIELD, Value::from("new@example.com")),
            (TOKEN_FIELD, Value::from("t")),
        ]);
        let changes = confirm_changes(&pending, now);
        assert_eq!(
            changes.get(EMAIL_FIELD),
            Some(&Value::from("new@example.com"))
        );
        assert_eq!(changes.get(UNCONFIRMED_EMAIL_FIELD), Some(&Value::Null));
        assert_eq!(changes.get(TOKEN_FIELD), Some(&Value::Null));
        assert_eq!(
            changes.get(CONFIRMED_AT_FIELD),
            Some(&Value::Timestamp(now))
        );
    }

    #[test]
    fn confirmation_states() {
        assert!(is_unconfirmed(&user(&[(TOKEN_FIELD, Value::from("t"))])));
        assert!(!is_unconfirmed(&user(&[])), "no token counts as confirmed");
        assert!(!is_unconfirmed(&user(&[
            (TOKEN_FIELD, Value::from("t")),
            (CONFIRMED_AT_FIELD, Value::Timestamp(Utc::now())),
        ])));
    }

    #[test]
    fn expiry() {
        let now = Utc::now();
        let ttl = Some(Duration::from_secs(3600));
        let issued = |mins: i64| {
            user(&[
                (TOKEN_FIELD, Value::from("t")),
                (
                    TOKEN_SENT_AT_FIELD,
                    Value::Timestamp(now - chrono::Duration::minutes(mins)),
                ),
            ])
        };
        assert!(!token_expired(&issued(10), ttl, now));
        assert!(token_expired(&issued(61), ttl, now));
        assert!(!token_expired(&issued(10_000), None, now));
        assert!(token_expired(
            &user(&[(TOKEN_FIELD, Value::from("t"))]),
            ttl,
            now
        ));
    }
}

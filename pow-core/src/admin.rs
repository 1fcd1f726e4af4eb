//! Administering users from an app's own admin pages or jobs: their sessions, revocation,
//! and changes that live sessions see at once.
//!
//! ```
//! use pow_core::admin;
//! use pow_core::users::{Changes, Value};
//!
//! # async fn promote(config: &pow_core::PowConfig, user: &pow_core::User) -> Result<(), pow_core::PowError> {
//! let mut changes = Changes::new();
//! changes.insert("role".into(), Value::from("admin"));
//! // The user's signed-in sessions see the new role on their next request.
//! admin::update_user(config, user, changes).await?;
//! for session in admin::user_sessions(config, user.id).await? {
//!     println!("{:?} last active {}", session.device.user_agent, session.last_seen_at);
//! }
//! admin::revoke_sessions(config, user).await?;
//! # Ok(())
//! # }
//! ```

use crate::config::PowConfig;
use crate::error::PowError;
/// Support access ("sign in as"): [`impersonation::start`] and [`impersonation::stop`]
/// for an app's own admin tool; the actix routes are `POST /impersonation` and
/// `POST /impersonation/stop`.
pub use crate::session::impersonation;
use crate::session::{CredentialsCache, SessionInfo};
use crate::users::{Changes, User, Value, DISABLED_AT_FIELD};

/// The user's live sessions (browsers and API access tokens), most recently active first.
///
/// # Errors
/// [`PowError::Store`] when the store fails.
pub async fn user_sessions(config: &PowConfig, user_id: i64) -> Result<Vec<SessionInfo>, PowError> {
    crate::session::user_sessions(config, user_id).await
}

/// Ends every session, API token and remember-me token of `user` at once; returns how many
/// sessions there were.
///
/// # Errors
/// [`PowError::Store`] when the store fails, or an extension's error.
pub async fn revoke_sessions(config: &PowConfig, user: &User) -> Result<usize, PowError> {
    crate::session::revoke_user(config, user).await
}

/// Disables `user`: no sign-in of any kind is accepted for them any more (password,
/// remember-me, API), and every session, API token and remember-me token they have ends at
/// once. Returns the updated user.
///
/// # Errors
/// [`PowError::Config`] when user disabling is off
/// ([`PowConfigBuilder::user_disabling`](crate::PowConfigBuilder::user_disabling)); the
/// users context's or the store's error.
pub async fn disable_user(config: &PowConfig, user: &User) -> Result<User, PowError> {
    set_disabled(config, user, Value::Timestamp(chrono::Utc::now())).await
}

/// Lets a disabled user sign in again.
///
/// # Errors
/// As [`disable_user`].
pub async fn enable_user(config: &PowConfig, user: &User) -> Result<User, PowError> {
    set_disabled(config, user, Value::Null).await
}

async fn set_disabled(config: &PowConfig, user: &User, value: Value) -> Result<User, PowError> {
    if !config
        .user_fields()
        .iter()
        .any(|f| f.name == DISABLED_AT_FIELD)
    {
        return Err(PowError::Config(
            "user disabling is off: turn PowConfigBuilder::user_disabling on".into(),
        ));
    }
    let disabling = !matches!(value, Value::Null);
    let mut changes = Changes::new();
    changes.insert(DISABLED_AT_FIELD.to_owned(), value);
    let updated = update_user(config, user, changes).await?;
    let name = if disabling {
        crate::audit::ACCOUNT_DISABLED
    } else {
        crate::audit::ACCOUNT_ENABLED
    };
    crate::audit::record(config, crate::audit::AuditEvent::new(name).user(user.id));
    if disabling {
        revoke_sessions(config, &updated).await?;
    }
    Ok(updated)
}

/// Writes `changes` to `user` (no validation: the caller is trusted, as an admin is) and
/// refreshes the copy every live session of the user holds, so a changed role or flag
/// applies on their next request instead of when the session ends.
///
/// # Errors
/// The users context's error; [`PowError::Store`] when the store fails.
pub async fn update_user(
    config: &PowConfig,
    user: &User,
    changes: Changes,
) -> Result<User, PowError> {
    let updated = config
        .users()?
        .update_fields(user, changes)
        .await
        .map_err(|err| PowError::Database(err.to_string()))?;
    CredentialsCache::new(config).update_user(&updated).await?;
    Ok(updated)
}

/// The user's data, for a data export: the row (its id, timestamps and every exported
/// column; never the password hash nor a column marked
/// [`not_exported`](crate::users::FieldDef::not_exported)) and, under each extension's
/// name, what the extension keeps about the user elsewhere
/// ([`UserData::export`](crate::extension::UserData::export)).
///
/// # Errors
/// An extension's error.
pub async fn export_user(config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
    let mut row = serde_json::Map::new();
    row.insert("id".into(), user.id.into());
    row.insert("inserted_at".into(), user.inserted_at.to_rfc3339().into());
    row.insert("updated_at".into(), user.updated_at.to_rfc3339().into());
    for field in config.user_fields().iter().filter(|field| field.exported) {
        if let Some(value) = user.get(&field.name) {
            row.insert(field.name.clone(), value.to_json());
        }
    }
    let mut extensions = serde_json::Map::new();
    for (name, data) in config.extensions().user_data() {
        extensions.insert((*name).to_owned(), data.export(config, user).await?);
    }
    Ok(serde_json::json!({ "user": row, "extensions": extensions }))
}

/// Deletes what each extension keeps about `user` outside the row
/// ([`UserData::erase`](crate::extension::UserData::erase)), in extension order. Deleting
/// the row and ending the sessions are the caller's steps.
///
/// # Errors
/// An extension's error; the extensions before it have erased their part.
pub async fn erase_extension_data(config: &PowConfig, user: &User) -> Result<(), PowError> {
    for (_, data) in config.extensions().user_data() {
        data.erase(config, user).await?;
    }
    Ok(())
}

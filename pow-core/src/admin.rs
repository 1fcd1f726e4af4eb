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

/// The version of [`export_user`]'s document; `schema/export.schema.json` in the account
/// extension's crate describes it.
pub const EXPORT_SCHEMA_VERSION: u32 = 1;

/// The user's data, for a data export (GDPR article 20), as one JSON document:
/// - `schema_version` ([`EXPORT_SCHEMA_VERSION`]) and `exported_at`;
/// - `user`: the row (its id, timestamps and every exported column; never the password
///   hash nor a column marked [`not_exported`](crate::users::FieldDef::not_exported));
/// - `sessions`: the live sessions and API clients, by when and where (never their ids);
/// - `audit_events`: what the audit log holds about them (never its keyed hashes);
/// - `extensions`: under each extension's name, what it keeps about the user elsewhere
///   ([`UserData::export`](crate::extension::UserData::export));
/// - `omissions`: what was left out and why, so the reader knows the document is whole.
///
/// # Errors
/// An extension's or the store's error.
pub async fn export_user(config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
    use serde_json::json;
    let mut row = serde_json::Map::new();
    row.insert("id".into(), user.id.into());
    row.insert("inserted_at".into(), user.inserted_at.to_rfc3339().into());
    row.insert("updated_at".into(), user.updated_at.to_rfc3339().into());
    let mut omissions = vec![json!({
        "item": "user.password_hash",
        "reason": "secret",
    })];
    for field in config.user_fields() {
        if !field.exported {
            omissions.push(json!({ "item": format!("user.{}", field.name), "reason": "secret" }));
        } else if let Some(value) = user.get(&field.name) {
            row.insert(field.name.clone(), value.to_json());
        }
    }
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339()
    };
    let sessions: Vec<serde_json::Value> = user_sessions(config, user.id)
        .await?
        .into_iter()
        .map(|session| {
            json!({
                "signed_in_at": at(session.signed_in_at),
                "last_seen_at": at(session.last_seen_at),
                "ip": session.device.ip,
                "user_agent": session.device.user_agent,
                "api": session.api,
            })
        })
        .collect();
    omissions.push(json!({ "item": "sessions.id", "reason": "secret" }));
    let query = crate::audit::AuditQuery {
        user_id: Some(user.id),
        limit: 10_000,
        ..crate::audit::AuditQuery::default()
    };
    let audit_events = match config.audit().query(query).await {
        Ok(events) => events
            .into_iter()
            .map(|event| {
                json!({
                    "name": event.name,
                    "at": event.at.to_rfc3339(),
                    "ip": event.ip,
                    "user_agent": event.user_agent,
                    "detail": event.detail,
                })
            })
            .collect(),
        Err(_) => {
            omissions.push(json!({
                "item": "audit_events",
                "reason": "unavailable",
            }));
            Vec::new()
        }
    };
    omissions.push(json!({ "item": "audit_events.identifier_hash", "reason": "secret" }));
    omissions.push(json!({ "item": "audit_events.session_hash", "reason": "secret" }));
    let mut extensions = serde_json::Map::new();
    for (name, data) in config.extensions().user_data() {
        let part = data.export(config, user).await?;
        // An extension with several hooks: their objects merge under its name.
        match (extensions.get_mut(*name), part) {
            (Some(serde_json::Value::Object(kept)), serde_json::Value::Object(more)) => {
                kept.extend(more);
            }
            (_, part) => {
                extensions.insert((*name).to_owned(), part);
            }
        }
    }
    Ok(json!({
        "schema_version": EXPORT_SCHEMA_VERSION,
        "exported_at": chrono::Utc::now().to_rfc3339(),
        "user": row,
        "sessions": sessions,
        "audit_events": audit_events,
        "extensions": extensions,
        "omissions": omissions,
    }))
}

/// What erasing an account does with the users row, once everything else is gone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowErasure {
    /// The row is deleted (the default).
    #[default]
    Delete,
    /// The row stays, for the app's own tables that point at it, with nothing personal:
    /// the user id field becomes `erased-<id>`, the password hash and every other
    /// declared column are cleared, and the account stays closed. Columns that cannot be
    /// empty (`NOT NULL` without a default) make the erasure fail: declare them nullable.
    Anonymise,
}

/// Erases the account of `user`, in an order that can be run again after a failure at
/// any step: every credential ends ([`revoke_sessions`]), each extension erases its data
/// ([`erase_extension_data`]: tables, records, what the app registered), the devices
/// they signed in from are forgotten, their audit events keep only a keyed hash of the
/// id (`Auditor::anonymise_user`), and last the
/// row goes (or is anonymised, see [`RowErasure`]). Returns the keyed hash the audit
/// events now carry.
///
/// # Errors
/// The first step's error; the steps before it are done, and running it again finishes.
pub async fn erase_account(
    config: &PowConfig,
    user: &User,
    row: RowErasure,
) -> Result<String, PowError> {
    end_account_data(config, user).await?;
    config.audit().anonymise_user(config, user.id).await?;
    let users = config.users()?;
    match row {
        RowErasure::Delete => users.delete(user).await?,
        RowErasure::Anonymise => {
            let mut changes = Changes::new();
            let id_field = config.user_id_field();
            for field in config.user_fields() {
                if field.name != id_field && field.name != crate::users::CLOSED_AT_FIELD {
                    changes.insert(field.name.clone(), Value::Null);
                }
            }
            changes.insert("password_hash".to_owned(), Value::Null);
            changes.insert(
                id_field.to_owned(),
                Value::from(format!("erased-{}", user.id)),
            );
            users
                .update_fields(user, changes)
                .await
                .map_err(|err| PowError::Database(err.to_string()))?;
        }
    }
    forget_ended_account(config, user).await?;
    Ok(crate::audit::erased_subject(config, user.id))
}

/// The steps every path that ends an account runs before its row goes (account deletion
/// by its owner and erasure alike), in this order: every credential ends while what it
/// is found by still exists (sessions, token pairs, and what extensions revoke, such as
/// API keys), each extension erases its data ([`erase_extension_data`]: the organization
/// extension passes ownership on there), and the devices are forgotten.
///
/// # Errors
/// The first step's error; the steps before it are done, and running it again finishes.
pub(crate) async fn end_account_data(config: &PowConfig, user: &User) -> Result<(), PowError> {
    crate::session::revoke_user(config, user).await?;
    erase_extension_data(config, user).await?;
    crate::session::devices::KnownDevices::new(config)
        .forget_user(user.id)
        .await
        .map_err(PowError::from)
}

/// The last step of ending an account, after its row went: sessions a request raced in
/// while the steps ran end here, with the cached copy of the user and the token
/// revocation marker.
///
/// # Errors
/// The store's error.
pub(crate) async fn forget_ended_account(config: &PowConfig, user: &User) -> Result<(), PowError> {
    CredentialsCache::new(config).forget_user(user.id).await?;
    crate::session::tokens::forget_user_tokens(config, user.id).await
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

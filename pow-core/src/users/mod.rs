//! Users: the [`User`] record, field definitions, changesets and the [`UsersContext`] trait.
//!
//! A user has the core columns (`id`, the user id field, `password_hash`, `inserted_at`,
//! `updated_at`) plus any number of extra fields contributed by extensions (for example
//! `email_confirmed_at`) and by the app (for example `name` and `role`), declared as
//! [`FieldDef`]s in the config. Extra fields are read back through [`User::get`] and
//! friends, so an app adds columns without forking pow-core.
//!
//! Writes go through a [`Changeset`]: the validated set of changes built from form params,
//! carrying Ecto-style field errors that the messages backend translates.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::PowError;

mod changeset;
mod context;
#[cfg(feature = "sql")]
pub mod diesel;
mod handle;
mod migrations;
mod pace;
mod schema;
mod tokens;
pub mod validation;
pub use tokens::{
    get_by_column_token, issue_column_token, new_column_token, placeholder_column_token,
    reissued_column_token,
};

pub use changeset::{Changeset, ChangesetAction, ChangesetHook, ValidationError, ValidationErrors};
pub use context::{UsersContext, WriteError};
pub use handle::Users;
pub use migrations::{Migrations, SqlMigration};
pub use pace::InsertPace;
pub use schema::UserSchema;

/// Form or JSON parameters for a user (`user[email]`, `user[password]`, ...), by field name.
pub type Params = BTreeMap<String, String>;

/// The params of a sign-up (`UsersContext::create`) under `schema`'s user id field, with the
/// password confirmed: for seeding, admin tools and tests.
pub fn sign_up_params(schema: &UserSchema, user_id: &str, password: &str) -> Params {
    [
        (schema.user_id_field(), user_id),
        ("password", password),
        ("password_confirmation", password),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The type of an extra user column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldKind {
    /// Text (`VARCHAR`/`TEXT`).
    Text,
    /// 64-bit integer.
    Int,
    /// Boolean.
    Bool,
    /// UTC timestamp.
    Timestamp,
}

/// The core column that marks a user disabled (see [`User::is_disabled`]).
pub const DISABLED_AT_FIELD: &str = "disabled_at";

/// The column that marks an account closed by its owner (see [`User::is_closed`]); the
/// account extension adds it.
pub const CLOSED_AT_FIELD: &str = "closed_at";

/// An extra user column, declared by an extension or the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// Column name.
    pub name: String,
    /// Column type.
    pub kind: FieldKind,
    /// Whether the value may be set from registration/account form params
    /// (`user[<name>]`). Fields that only the server sets (tokens, timestamps) say `false`.
    pub castable: bool,
    /// Whether the column has a unique index (a violation becomes
    /// "has already been taken" on this field).
    pub unique: bool,
    /// Whether the sign-up form marks the input `required` (the browser then refuses an
    /// empty one). Validation stays the changeset's (a hook's `validate_required`).
    pub required: bool,
    /// Whether the value is a secret (a TOTP seed, say) that, like the password hash, never
    /// leaves the users table: the session cache keeps an empty text in its place, so
    /// "is it set" still reads right from a signed-in user, but nothing else does.
    pub secret: bool,
    /// Whether the value goes into the user's data export
    /// ([`admin::export_user`](crate::admin::export_user)). `false` for what lets someone
    /// sign in or prove a factor (token digests, seeds, recovery code hashes).
    pub exported: bool,
}

impl FieldDef {
    /// A server-side field of `kind`, not settable from form params.
    pub fn new(name: impl Into<String>, kind: FieldKind) -> Self {
        Self {
            name: name.into(),
            kind,
            castable: false,
            unique: false,
            required: false,
            secret: false,
            exported: true,
        }
    }

    /// Marks the sign-up form's input `required` (validate it in a changeset hook too).
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Allows the field to be set from form params.
    pub fn castable(mut self) -> Self {
        self.castable = true;
        self
    }

    /// Marks the column as unique.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Marks the value secret: it is never copied into the session cache (see
    /// [`secret`](Self::secret)) nor exported. Read it from the users context.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self.exported = false;
        self
    }

    /// Keeps the value out of the user's data export (see [`exported`](Self::exported)):
    /// a token digest or a recovery code hash, which the session cache may still hold.
    pub fn not_exported(mut self) -> Self {
        self.exported = false;
        self
    }
}

/// A value of a user field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// UTC timestamp.
    Timestamp(DateTime<Utc>),
}

impl Value {
    /// The value as plain JSON (a timestamp as RFC 3339), for exports.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Text(text) => serde_json::Value::from(text.as_str()),
            Self::Int(int) => serde_json::Value::from(*int),
            Self::Bool(flag) => serde_json::Value::from(*flag),
            Self::Timestamp(at) => serde_json::Value::from(at.to_rfc3339()),
        }
    }

    /// The text, if this is a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the value is `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(t: DateTime<Utc>) -> Self {
        Value::Timestamp(t)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Column changes to write: field name to new value.
pub type Changes = BTreeMap<String, Value>;

/// A user row.
///
/// `fields` holds every column but `id`, `password_hash` and the timestamps: the user id
/// field (`email` by default), and each extension and app field.
///
/// In a handler the signed-in user comes from the `CurrentUser` and `MaybeUser`
/// extractors (a `CurrentUser` derefs to `User`); elsewhere from the [`UsersContext`].
///
/// ```
/// use pow_core::password::Pbkdf2Hasher;
/// use pow_core::users::diesel::DieselUsersContext;
/// use pow_core::users::{sign_up_params, UsersContext, Value};
/// use pow_core::PowConfig;
///
/// let users = DieselUsersContext::connect(":memory:")?;
/// let config = PowConfig::builder("x".repeat(64))
///     .users(users.clone())
///     .hasher(Pbkdf2Hasher::new(1)) // tests only: fast, weak hashing
///     .build()?;
/// users.migrate(&config)?;
/// let schema = config.user_schema();
/// let params = sign_up_params(schema, "jane@example.com", "correct horse battery");
/// let jane = users.create(schema, &params)?.expect("a valid sign-up");
///
/// // The core columns are fields of the struct...
/// assert!(jane.id > 0);
/// assert!(jane.password_hash.is_some());
/// // ...every other column is read by name, typed.
/// assert_eq!(jane.email(), Some("jane@example.com"));
/// assert_eq!(jane.user_id(schema), Some("jane@example.com"));
/// assert_eq!(jane.get("email"), Some(&Value::from("jane@example.com")));
/// assert_eq!(jane.get_timestamp("disabled_at"), None); // the core's `disabled_at`, NULL
/// assert!(!jane.is_disabled());
/// // The password hash never shows in logs.
/// assert!(format!("{jane:?}").contains("[redacted]"));
/// # Ok::<(), pow_core::PowError>(())
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Stored password hash; `None` for users without a password (e.g. invited). A user
    /// read from a session (the cache store) has `Some("")` instead of the hash: the hash
    /// is never cached, so read the row from the users context to check a password.
    pub password_hash: Option<String>,
    /// When the row was inserted.
    pub inserted_at: DateTime<Utc>,
    /// When the row was last updated.
    pub updated_at: DateTime<Utc>,
    /// All other columns, by name.
    pub fields: BTreeMap<String, Value>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .field("inserted_at", &self.inserted_at)
            .field("updated_at", &self.updated_at)
            .field("fields", &self.fields)
            .finish()
    }
}

impl User {
    /// A user of id `id` without password or fields, made now (for the crate's tests).
    #[cfg(test)]
    pub(crate) fn bare(id: i64) -> Self {
        let now = chrono::Utc::now();
        Self {
            id,
            password_hash: None,
            inserted_at: now,
            updated_at: now,
            fields: BTreeMap::new(),
        }
    }

    /// The value of a field, or `None` if the user has no such field.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// The text value of a field, or `None` if missing, `NULL` or not text.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }

    /// The timestamp value of a field.
    pub fn get_timestamp(&self, field: &str) -> Option<DateTime<Utc>> {
        match self.fields.get(field) {
            Some(Value::Timestamp(t)) => Some(*t),
            _ => None,
        }
    }

    /// The integer value of a field.
    pub fn get_int(&self, field: &str) -> Option<i64> {
        match self.fields.get(field) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        }
    }

    /// The user's email: the `email` field if there is one.
    pub fn email(&self) -> Option<&str> {
        self.get_str("email")
    }

    /// Whether an admin disabled this user ([`admin::disable_user`](crate::admin::disable_user)):
    /// no sign-in of any kind is accepted for them.
    pub fn is_disabled(&self) -> bool {
        self.get_timestamp(DISABLED_AT_FIELD).is_some()
    }

    /// Whether the user closed their account (the account extension): nothing signs them
    /// in; a password sign-in is offered reactivation until the account is erased.
    pub fn is_closed(&self) -> bool {
        self.get_timestamp(CLOSED_AT_FIELD).is_some()
    }

    /// The value of the schema's user id field (e.g. the email).
    pub fn user_id<'a>(&'a self, schema: &UserSchema) -> Option<&'a str> {
        self.get_str(schema.user_id_field())
    }
}

/// Runs blocking work on tokio's blocking thread pool, never on the async executor. Code
/// outside the users and store internals goes through [`Users`] instead.
pub(crate) async fn run_blocking<T, F>(f: F) -> Result<T, PowError>
where
    F: FnOnce() -> Result<T, PowError> + Send + 'static,
    T: Send + 'static,
{
    // A clean password check's hashes go ahead in the pool (see `Admission::run`).
    let clean = crate::password::clean_check();
    tokio::task::spawn_blocking(move || crate::password::ahead(clean, f))
        .await
        .map_err(|err| PowError::Blocking(err.to_string()))?
}

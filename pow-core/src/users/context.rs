//! The [`UsersContext`] trait: how pow-core reads and writes users.

use super::validation::normalize_user_id;
use super::UserSchema;
use super::{Changes, Changeset, Params, User, ValidationError, Value};
use crate::error::PowError;
use crate::password::HashError;

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A unique index on this field refused the value (also when two writes race).
    #[error("unique constraint violated on `{0}`")]
    Unique(String),
    /// Any other failure.
    #[error(transparent)]
    Other(#[from] PowError),
}

/// The user store. The diesel implementation is [`DieselUsersContext`](super::diesel::DieselUsersContext);
/// an app implements this trait to keep users elsewhere, or wraps the default one to add
/// logic.
///
/// Every method blocks (database queries, password hashing): pow-core calls them through
/// the async [`Users`](super::Users) handle, never on the async executor. Implementors only
/// provide the five storage methods; sign-in, sign-up and account edits are provided on
/// top of them and may be overridden.
///
/// ```
/// use pow_core::password::Pbkdf2Hasher;
/// use pow_core::users::diesel::DieselUsersContext;
/// use pow_core::users::{sign_up_params, Params, UsersContext, Value};
/// use pow_core::PowConfig;
///
/// let users = DieselUsersContext::connect(":memory:")?;
/// let config = PowConfig::builder("x".repeat(64))
///     .users(users.clone())
///     .hasher(Pbkdf2Hasher::new(1)) // tests only: fast, weak hashing
///     .build()?;
/// users.migrate(&config)?;
/// let schema = config.user_schema();
///
/// // Sign-up: params validated, password hashed, row inserted.
/// let params = sign_up_params(schema, "jane@example.com", "correct horse battery");
/// let jane = users.create(schema, &params)?.expect("a valid sign-up");
///
/// // Invalid params come back as a changeset with errors; nothing is written.
/// let short = sign_up_params(schema, "joe@example.com", "short");
/// let changeset = users.create(schema, &short)?.unwrap_err();
/// assert!(!changeset.is_valid());
/// assert!(!changeset.errors.get("password").is_empty());
///
/// // Read by any column, check a password.
/// let found = users.get_by(schema, "email", &Value::from("jane@example.com"))?;
/// assert_eq!(found.map(|user| user.id), Some(jane.id));
/// let sign_in: Params = [("email", "jane@example.com"), ("password", "correct horse battery")]
///     .map(|(k, v)| (k.to_owned(), v.to_owned()))
///     .into();
/// assert_eq!(users.authenticate(schema, &sign_in)?.map(|user| user.id), Some(jane.id));
/// # Ok::<(), pow_core::PowError>(())
/// ```
///
/// From async code (a handler), go through the config's handle instead:
/// `config.users()?.get(id).await`.
pub trait UsersContext: Send + Sync + 'static {
    /// The diesel context behind this one, if any: extensions that keep tables of their
    /// own beside the users table (`pow-ext-oauth`'s `user_identities`) use its pool and
    /// schema. A context that wraps [`DieselUsersContext`](super::diesel::DieselUsersContext)
    /// forwards this to it; the default is `None`.
    #[cfg(feature = "sql")]
    fn diesel(&self) -> Option<&super::diesel::DieselUsersContext> {
        None
    }

    /// The user whose `field` equals `value` (`"id"` selects by primary key), or `None`.
    fn get_by(
        &self,
        schema: &UserSchema,
        field: &str,
        value: &Value,
    ) -> Result<Option<User>, PowError>;

    /// Inserts a user with `changes` (which may include `password_hash`).
    fn insert(&self, schema: &UserSchema, changes: &Changes) -> Result<User, WriteError>;

    /// Writes `changes` to `user`'s row and returns the updated user. `updated_at` is set
    /// by the implementation.
    fn update_fields(
        &self,
        schema: &UserSchema,
        user: &User,
        changes: &Changes,
    ) -> Result<User, WriteError>;

    /// Deletes `user`'s row.
    fn delete(&self, schema: &UserSchema, user: &User) -> Result<(), PowError>;

    /// Every user whose `field` equals `value` (used for listings like invited users).
    fn list_by(
        &self,
        schema: &UserSchema,
        field: &str,
        value: &Value,
    ) -> Result<Vec<User>, PowError>;

    /// The user with primary key `id`.
    fn get(&self, schema: &UserSchema, id: i64) -> Result<Option<User>, PowError> {
        self.get_by(schema, "id", &Value::Int(id))
    }

    /// Checks a user id and password.
    ///
    /// The same hashing work is done for an unknown user, a user without a password and
    /// a wrong password, so response times do not tell them apart. On success, a hash made
    /// with an older algorithm or weaker parameters is re-hashed with the configured hasher.
    fn authenticate(&self, schema: &UserSchema, params: &Params) -> Result<Option<User>, PowError> {
        let field = schema.user_id_field();
        let (Some(raw_id), Some(password)) = (params.get(field), params.get("password")) else {
            return Ok(None);
        };
        let user_id = normalize_user_id(raw_id);
        let user = if user_id.is_empty() {
            None
        } else {
            self.get_by(schema, field, &Value::Text(user_id))?
        };
        let hasher = schema.hasher();
        let Some((user, hash)) = user.and_then(|u| u.password_hash.clone().map(|h| (u, h))) else {
            hasher.dummy_verify(password)?;
            return Ok(None);
        };
        match hasher.verify(password, &hash) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(err @ HashError::Malformed(_)) => {
                tracing::error!(user.id = user.id, error = %err, "stored password hash is malformed");
                return Ok(None);
            }
            Err(err) => return Err(err.into()),
        }
        if hasher.needs_rehash(&hash) {
            let new_hash = hasher.hash(password)?;
            let mut changes = Changes::new();
            changes.insert("password_hash".into(), Value::Text(new_hash));
            match self.update_fields(schema, &user, &changes) {
                Ok(updated) => return Ok(Some(updated)),
                Err(err) => {
                    tracing::warn!(user.id = user.id, error = %err, "password re-hash failed")
                }
            }
        }
        Ok(Some(user))
    }

    /// Signs a user up: validates `params` ([`Changeset::create`]) and inserts.
    fn create(
        &self,
        schema: &UserSchema,
        params: &Params,
    ) -> Result<Result<User, Changeset>, PowError> {
        self.apply(schema, Changeset::create(schema, params))
    }

    /// Edits an account: validates `params` ([`Changeset::update`]) and writes.
    fn update(
        &self,
        schema: &UserSchema,
        user: &User,
        params: &Params,
    ) -> Result<Result<User, Changeset>, PowError> {
        self.apply(schema, Changeset::update(schema, user, params))
    }

    /// Writes a changeset: an invalid one comes back unchanged; a new password is hashed;
    /// a unique violation becomes a `taken` error on its field, after as long as a
    /// written insert takes ([`InsertPace`](super::InsertPace)).
    fn apply(
        &self,
        schema: &UserSchema,
        mut cs: Changeset,
    ) -> Result<Result<User, Changeset>, PowError> {
        if cs.is_hashing_busy() {
            return Err(PowError::Busy);
        }
        if !cs.is_valid() {
            return Ok(Err(cs));
        }
        let mut changes = cs.changes.clone();
        if let Some(password) = cs.password.take() {
            changes.insert(
                "password_hash".into(),
                Value::Text(schema.hasher().hash(&password)?),
            );
        }
        let result = match &cs.data {
            Some(user) if changes.is_empty() => Ok(user.clone()),
            Some(user) => self.update_fields(schema, user, &changes),
            None => {
                // A refused insert lasts as long as a written one: where the refusal
                // is hidden, its speed would tell a taken user id from a new one.
                let started = std::time::Instant::now();
                let inserted = self.insert(schema, &changes);
                match &inserted {
                    Ok(_) => schema.insert_pace().written(started.elapsed()),
                    Err(WriteError::Unique(_)) => schema.insert_pace().hold_refused(started),
                    Err(WriteError::Other(_)) => {}
                }
                inserted
            }
        };
        match result {
            Ok(user) => Ok(Ok(user)),
            Err(WriteError::Unique(field)) => {
                cs.add_error(field, ValidationError::new("taken"));
                Ok(Err(cs))
            }
            Err(WriteError::Other(err)) => Err(err),
        }
    }
}

//! [`Users`]: the async handle over the blocking [`UsersContext`].

use std::sync::Arc;

use super::{
    get_by_column_token, Changes, Changeset, Params, User, UsersContext, Value, WriteError,
};
use crate::config::PowConfig;
use crate::error::PowError;

/// The users context as async calls: each one moves its work to tokio's blocking pool
/// (never the async executor) and awaits it, so callers do not clone and spawn
/// themselves. Cheap to clone; get it from [`PowConfig::users`].
///
/// ```
/// # async fn example(config: pow_core::PowConfig) -> Result<(), pow_core::PowError> {
/// let users = config.users()?;
/// if let Some(user) = users.get(1).await? {
///     println!("{:?}", user.email());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Users {
    context: Arc<dyn UsersContext>,
    config: PowConfig,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

impl Users {
    pub(crate) fn new(context: Arc<dyn UsersContext>, config: PowConfig) -> Self {
        Self { context, config }
    }

    /// The blocking context behind the handle, for code that already runs off the
    /// executor (CLI tools, seeds, tests).
    pub fn context(&self) -> &Arc<dyn UsersContext> {
        &self.context
    }

    /// Runs `work` with the context and the config on the blocking pool: for steps that
    /// read and write in one go (re-read a row, then write it) without an await between.
    ///
    /// # Errors
    /// What `work` returns, or [`PowError::Blocking`] if it panicked.
    pub async fn run<T, F>(&self, work: F) -> Result<T, PowError>
    where
        F: FnOnce(&dyn UsersContext, &PowConfig) -> Result<T, PowError> + Send + 'static,
        T: Send + 'static,
    {
        let (context, config) = (self.context.clone(), self.config.clone());
        super::run_blocking(move || work(&*context, &config)).await
    }

    /// The user with primary key `id`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: i64) -> Result<Option<User>, PowError> {
        self.run(move |users, config| users.get(config.user_schema(), id))
            .await
    }

    /// The user whose `field` equals `value` (`"id"` selects by primary key).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get_by(
        &self,
        field: &str,
        value: impl Into<Value>,
    ) -> Result<Option<User>, PowError> {
        let (field, value) = (field.to_owned(), value.into());
        self.run(move |users, config| users.get_by(config.user_schema(), &field, &value))
            .await
    }

    /// Every user whose `field` equals `value`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list_by(
        &self,
        field: &str,
        value: impl Into<Value>,
    ) -> Result<Vec<User>, PowError> {
        let (field, value) = (field.to_owned(), value.into());
        self.run(move |users, config| users.list_by(config.user_schema(), &field, &value))
            .await
    }

    /// The user whose `field` holds `token` under `purpose` (see
    /// [`get_by_column_token`]). Call it with a token whose signature was verified.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get_by_column_token(
        &self,
        field: &str,
        purpose: &str,
        token: &str,
    ) -> Result<Option<User>, PowError> {
        let (field, purpose, token) = (field.to_owned(), purpose.to_owned(), token.to_owned());
        self.run(move |users, config| {
            get_by_column_token(users, config.user_schema(), &field, &purpose, &token)
        })
        .await
    }

    /// Inserts a user with `changes`.
    ///
    /// # Errors
    /// [`WriteError::Unique`] when a unique index refuses a value.
    pub async fn insert(&self, changes: Changes) -> Result<User, WriteError> {
        let result = self
            .run(move |users, config| Ok(users.insert(config.user_schema(), &changes)))
            .await;
        result?
    }

    /// Writes `changes` to `user`'s row and returns the row as written.
    ///
    /// # Errors
    /// [`WriteError::Unique`] when a unique index refuses a value.
    pub async fn update_fields(&self, user: &User, changes: Changes) -> Result<User, WriteError> {
        let user = user.clone();
        let result = self
            .run(move |users, config| {
                Ok(users.update_fields(config.user_schema(), &user, &changes))
            })
            .await;
        result?
    }

    /// Deletes `user`'s row.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn delete(&self, user: &User) -> Result<(), PowError> {
        let user = user.clone();
        self.run(move |users, config| users.delete(config.user_schema(), &user))
            .await
    }

    /// Checks a user id and password (see [`UsersContext::authenticate`]).
    ///
    /// # Errors
    /// When the database or the hasher fails.
    pub async fn authenticate(&self, params: Params) -> Result<Option<User>, PowError> {
        self.run(move |users, config| users.authenticate(config.user_schema(), &params))
            .await
    }

    /// Signs a user up (see [`UsersContext::create`]).
    ///
    /// # Errors
    /// When the database or the hasher fails; an invalid changeset comes back as
    /// `Ok(Err(changeset))`.
    pub async fn create(&self, params: Params) -> Result<Result<User, Changeset>, PowError> {
        self.run(move |users, config| users.create(config.user_schema(), &params))
            .await
    }

    /// Edits `user`'s account (see [`UsersContext::update`]).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub async fn update(
        &self,
        user: &User,
        params: Params,
    ) -> Result<Result<User, Changeset>, PowError> {
        let user = user.clone();
        self.run(move |users, config| users.update(config.user_schema(), &user, &params))
            .await
    }

    /// Writes a changeset (see [`UsersContext::apply`]).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub async fn apply(&self, changeset: Changeset) -> Result<Result<User, Changeset>, PowError> {
        self.run(move |users, config| users.apply(config.user_schema(), changeset))
            .await
    }
}

impl PowConfig {
    /// The users, as an async handle: `config.users()?.get(id).await`.
    ///
    /// # Errors
    /// [`PowError::Config`] if no context was set with
    /// [`PowConfigBuilder::users`](crate::PowConfigBuilder::users).
    pub fn users(&self) -> Result<Users, PowError> {
        Ok(Users::new(self.users_context()?.clone(), self.clone()))
    }
}

//! Changesets: validated user changes with field errors, as in Pow/Ecto.

use std::collections::BTreeMap;

use serde::Serialize;

use super::validation::{normalize_user_id, validate_deliverable_email};
use super::UserSchema;
use super::{Changes, FieldKind, Params, User, Value};
use crate::password::HashError;

/// What a changeset is for; hooks use it to act only where they should.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangesetAction {
    /// A new user signs up (or is created by the app).
    Create,
    /// A signed-in user edits the account (current password required).
    Update,
    /// A new password without the current one, proven some other way (a reset link, say).
    SetPassword,
    /// A user created on someone's behalf (an invitation, an admin), without a password.
    Provision,
    /// A user created beforehand (provisioned) completes the sign-up: the sign-up rules
    /// run against the existing row, password required.
    CompleteSignUp,
    /// Server-side field changes (tokens, timestamps); no validation.
    Internal,
}

pub use crate::messages::ValidationError;

/// Field errors of a changeset, by field name, in insertion order per field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ValidationErrors(pub BTreeMap<String, Vec<ValidationError>>);

impl ValidationErrors {
    /// Adds an error to `field`.
    pub fn add(&mut self, field: impl Into<String>, error: ValidationError) {
        self.0.entry(field.into()).or_default().push(error);
    }

    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors of one field.
    pub fn get(&self, field: &str) -> &[ValidationError] {
        self.0.get(field).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether `field` has an error with `key`.
    pub fn has(&self, field: &str, key: &str) -> bool {
        self.get(field).iter().any(|e| e.key == key)
    }
}

/// A hook that takes part in building changesets (extensions and apps use it to cast and
/// validate their own fields, or to adjust core ones).
pub trait ChangesetHook: Send + Sync + 'static {
    /// Adjusts `changeset`; runs after the core rules. Hooks run in registration order:
    /// extensions first (in config order), then the app's.
    fn changeset(&self, changeset: &mut Changeset, schema: &UserSchema);
}

impl<F> ChangesetHook for F
where
    F: Fn(&mut Changeset, &UserSchema) + Send + Sync + 'static,
{
    fn changeset(&self, changeset: &mut Changeset, schema: &UserSchema) {
        self(changeset, schema)
    }
}

/// A set of validated changes to a user, with field errors.
///
/// Its `Debug` output leaves out every password (params whose name contains `password`,
/// and [`password`](Self::password)), so a logged changeset never leaks one.
#[derive(Clone)]
pub struct Changeset {
    /// What the changeset is for.
    pub action: ChangesetAction,
    /// The stored user, for updates.
    pub data: Option<User>,
    /// The submitted params (normalised user id included).
    pub params: Params,
    /// Column changes to write.
    pub changes: Changes,
    /// The new plain-text password; hashed when the changeset is applied. Never stored.
    pub password: Option<String>,
    /// Field errors.
    pub errors: ValidationErrors,
    /// The current password could not be checked because hashing is saturated; applying
    /// the changeset then fails with [`PowError::Busy`](crate::PowError::Busy).
    hashing_busy: bool,
}

impl std::fmt::Debug for Changeset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let params: std::collections::BTreeMap<&str, &str> = self
            .params
            .iter()
            .map(|(k, v)| {
                let shown = if k.contains("password") {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("Changeset")
            .field("action", &self.action)
            .field("data", &self.data.as_ref().map(|user| user.id))
            .field("params", &params)
            .field("changes", &self.changes)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl Changeset {
    /// An empty changeset.
    pub fn new(action: ChangesetAction, data: Option<User>, params: Params) -> Self {
        Self {
            action,
            data,
            params,
            changes: Changes::new(),
            password: None,
            errors: ValidationErrors::default(),
            hashing_busy: false,
        }
    }

    /// Sign-up: user id (normalised, email-validated, required), extra castable fields,
    /// password (required, length, confirmation), then the hooks.
    pub fn create(schema: &UserSchema, params: &Params) -> Self {
        let mut cs = Self::new(ChangesetAction::Create, None, params.clone());
        cs.cast_user_id(schema);
        cs.cast_fields(schema);
        cs.validate_password(schema, true);
        cs.run_hooks(schema);
        cs
    }

    /// Account edit: like [`create`](Self::create), but the password is optional and the
    /// current password is required (and checked) when the user has one. Checking it runs
    /// the password hasher: call this off the async executor.
    pub fn update(schema: &UserSchema, user: &User, params: &Params) -> Self {
        let mut cs = Self::new(ChangesetAction::Update, Some(user.clone()), params.clone());
        cs.cast_user_id(schema);
        cs.cast_fields(schema);
        cs.validate_password(schema, user.password_hash.is_none());
        cs.validate_current_password(schema);
        cs.run_hooks(schema);
        cs
    }

    /// Server-side changes without validation (tokens, timestamps).
    pub fn internal(user: Option<&User>, changes: Changes) -> Self {
        let mut cs = Self::new(ChangesetAction::Internal, user.cloned(), Params::new());
        cs.changes = changes;
        cs
    }

    /// Whether the changeset has no errors.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Whether a password check was refused because hashing is saturated. The changeset
    /// is then neither valid nor invalid: [`UsersContext::apply`](super::UsersContext::apply)
    /// fails with [`PowError::Busy`](crate::PowError::Busy) and callers answer `503`.
    pub(crate) fn is_hashing_busy(&self) -> bool {
        self.hashing_busy
    }

    /// A submitted param, if present and not blank.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// The value `field` will have after the change: the change if any, else the stored one.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.changes
            .get(name)
            .or_else(|| self.data.as_ref().and_then(|u| u.get(name)))
    }

    /// Sets a change.
    pub fn put_change(&mut self, field: impl Into<String>, value: impl Into<Value>) {
        self.changes.insert(field.into(), value.into());
    }

    /// Adds an error.
    pub fn add_error(&mut self, field: impl Into<String>, error: ValidationError) {
        self.errors.add(field, error);
    }

    /// Adds a `blank` error unless `field` has a non-null value after the change.
    pub fn validate_required(&mut self, field: &str) {
        let present = match self.field(field) {
            None | Some(Value::Null) => false,
            Some(Value::Text(s)) => !s.trim().is_empty(),
            Some(_) => true,
        };
        if !present {
            self.add_error(field, ValidationError::new("blank"));
        }
    }

    /// Adds an `invalid` error if the text value of `field` (when changed) is not one of
    /// `allowed`.
    pub fn validate_inclusion(&mut self, field: &str, allowed: &[&str]) {
        if let Some(Value::Text(s)) = self.changes.get(field) {
            if !allowed.contains(&s.as_str()) {
                self.add_error(field, ValidationError::new("invalid"));
            }
        }
    }

    /// Adds a length error if the text value of `field` (when changed) is outside
    /// `min..=max` characters.
    pub fn validate_length(&mut self, field: &str, min: usize, max: usize) {
        if let Some(Value::Text(s)) = self.changes.get(field) {
            let n = s.chars().count();
            if n < min {
                self.add_error(field, ValidationError::with_count("too_short", min));
            } else if n > max {
                self.add_error(field, ValidationError::with_count("too_long", max));
            }
        }
    }

    /// Adds a `format` error (with the reason) unless `email` is valid and deliverable
    /// ([`validate_deliverable_email`]).
    fn check_email(&mut self, field: &str, email: &str) {
        if let Err(reason) = validate_deliverable_email(email) {
            let mut err = ValidationError::new("format");
            err.reason = Some(reason.to_owned());
            self.add_error(field, err);
        }
    }

    /// Casts the user id field from the params: trimmed and lowercased, email-validated
    /// when the field is `email`, required. Changesets built outside the core (e.g. an
    /// invitation, which takes the user id only) start with this.
    pub fn cast_user_id(&mut self, schema: &UserSchema) {
        let field = schema.user_id_field().to_owned();
        if let Some(raw) = self.params.get(&field) {
            let value = normalize_user_id(raw);
            let unchanged = self
                .data
                .as_ref()
                .and_then(|u| u.get_str(&field))
                .is_some_and(|stored| stored == value);
            if !unchanged {
                if field == "email" && !value.is_empty() {
                    self.check_email(&field, &value);
                }
                self.put_change(field.clone(), value);
            }
        }
        self.validate_required(&field);
    }

    /// Casts the app's and extensions' castable fields from the params, with their
    /// validations (required, format, uniqueness checked on write).
    pub fn cast_fields(&mut self, schema: &UserSchema) {
        let castable: Vec<_> = schema
            .fields()
            .iter()
            .filter(|f| f.castable && f.name != schema.user_id_field())
            .cloned()
            .collect();
        for def in castable {
            let Some(raw) = self.params.get(&def.name).cloned() else {
                continue;
            };
            let value = match def.kind {
                FieldKind::Text => {
                    if def.name == "email" {
                        let email = normalize_user_id(&raw);
                        if !email.is_empty() {
                            self.check_email(&def.name, &email);
                        }
                        Value::Text(email)
                    } else {
                        Value::Text(raw.trim().to_owned())
                    }
                }
                FieldKind::Int => match raw.trim().parse() {
                    Ok(n) => Value::Int(n),
                    Err(_) => {
                        self.add_error(&def.name, ValidationError::new("invalid"));
                        continue;
                    }
                },
                FieldKind::Bool => Value::Bool(matches!(raw.trim(), "true" | "1" | "on")),
                FieldKind::Timestamp => match chrono::DateTime::parse_from_rfc3339(raw.trim()) {
                    Ok(t) => Value::Timestamp(t.with_timezone(&chrono::Utc)),
                    Err(_) => {
                        self.add_error(&def.name, ValidationError::new("invalid"));
                        continue;
                    }
                },
            };
            let same = self.data.as_ref().and_then(|u| u.get(&def.name)) == Some(&value);
            if !same {
                self.put_change(def.name.clone(), value);
            }
        }
    }

    /// Validates `password` (length, confirmation); required when `required`.
    pub fn validate_password(&mut self, schema: &UserSchema, required: bool) {
        let password = self
            .params
            .get("password")
            .filter(|p| !p.is_empty())
            .cloned();
        match password {
            None if required => self.add_error("password", ValidationError::new("blank")),
            None => {}
            Some(password) => {
                let policy = schema.password_policy();
                if password.chars().count() < policy.min_length {
                    self.add_error(
                        "password",
                        ValidationError::with_count("too_short", policy.min_length),
                    );
                } else if password.len() > policy.max_length {
                    self.add_error(
                        "password",
                        ValidationError::with_count("too_long", policy.max_length),
                    );
                }
                if !self.errors.0.contains_key("password") {
                    self.screen_password(schema, &password);
                }
                if self.params.get("password_confirmation") != Some(&password) {
                    self.add_error(
                        "password_confirmation",
                        ValidationError::new("confirmation"),
                    );
                }
                self.password = Some(password);
            }
        }
    }

    /// Refuses a common password, one that contains the user id, or (with a
    /// [`BreachCheck`](crate::password::BreachCheck) configured) a breached one. The breach
    /// check asks a remote API: like hashing, it runs off the async executor.
    fn screen_password(&mut self, schema: &UserSchema, password: &str) {
        let field = schema.user_id_field();
        let typed = self.params.get(field).map(String::as_str);
        let stored = self.data.as_ref().and_then(|user| user.get_str(field));
        let ids: Vec<&str> = typed.into_iter().chain(stored).collect();
        let refusal =
            crate::password::screen(&schema.password_policy(), password, &ids).or_else(|| {
                schema
                    .breach_check()
                    .filter(|check| check.refuses(password))
                    .map(|_| crate::password::Refusal::Breached)
            });
        if let Some(refusal) = refusal {
            self.add_error("password", ValidationError::new(refusal.key()));
        }
    }

    fn validate_current_password(&mut self, schema: &UserSchema) {
        let Some(hash) = self.data.as_ref().and_then(|u| u.password_hash.clone()) else {
            return;
        };
        match self
            .params
            .get("current_password")
            .filter(|p| !p.is_empty())
        {
            None => self.add_error("current_password", ValidationError::new("blank")),
            Some(current) => match schema.hasher().verify(current, &hash) {
                Ok(true) => {}
                Err(HashError::Busy) => self.hashing_busy = true,
                Ok(false) | Err(_) => {
                    self.add_error("current_password", ValidationError::new("invalid"))
                }
            },
        }
    }

    /// Runs the extension hooks (config order), then the app's hooks.
    pub fn run_hooks(&mut self, schema: &UserSchema) {
        for hook in schema.hooks() {
            hook.changeset(self, schema);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    #[test]
    fn debug_output_never_shows_a_password() {
        let config = crate::PowConfig::builder("d".repeat(64)).build().unwrap();
        let params: Params = [
            ("email", "jane@example.com"),
            ("password", "hunter2 secret words"),
            ("password_confirmation", "hunter2 secret words"),
            ("current_password", "older secret words"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let shown = format!("{:?}", Changeset::create(config.user_schema(), &params));
        assert!(shown.contains("jane@example.com"), "{shown}");
        assert!(!shown.contains("secret words"), "{shown}");
    }
}

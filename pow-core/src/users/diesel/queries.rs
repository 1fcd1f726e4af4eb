//! The users context's queries on diesel: [`DieselUsersContext`] as a [`UsersContext`].

use super::*;
use crate::users::{Changes, UsersContext, WriteError};

impl DieselUsersContext {
    fn write_error(schema: &UserSchema, err: DbError) -> WriteError {
        if let DbError::Query(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            info,
        )) = &err
        {
            if let Some(field) = unique_field(schema, info.as_ref()) {
                return WriteError::Unique(field);
            }
        }
        WriteError::Other(err.into())
    }
}

impl UsersContext for DieselUsersContext {
    fn diesel(&self) -> Option<&DieselUsersContext> {
        Some(self)
    }

    fn get_by(
        &self,
        schema: &UserSchema,
        field: &str,
        value: &Value,
    ) -> Result<Option<User>, PowError> {
        let stmt = self.table(schema)?.select(field, value, Some(1))?;
        self.db
            .load(stmt)?
            .first()
            .map(|row| decode_user(schema, row))
            .transpose()
    }

    fn insert(&self, schema: &UserSchema, changes: &Changes) -> Result<User, WriteError> {
        let stmt = self.table(schema)?.insert(changes, sql::now())?;
        let rows = self
            .db
            .load(stmt)
            .map_err(|err| Self::write_error(schema, err))?;
        let row = rows
            .first()
            .ok_or_else(|| PowError::Database("INSERT returned no row".into()))?;
        Ok(decode_user(schema, row)?)
    }

    fn update_fields(
        &self,
        schema: &UserSchema,
        user: &User,
        changes: &Changes,
    ) -> Result<User, WriteError> {
        let stmt = self.table(schema)?.update(user.id, changes, sql::now())?;
        let rows = self
            .db
            .load(stmt)
            .map_err(|err| Self::write_error(schema, err))?;
        let row = rows.first().ok_or_else(|| {
            PowError::Database(format!(
                "user {} cannot be updated: it no longer exists",
                user.id
            ))
        })?;
        Ok(decode_user(schema, row)?)
    }

    fn delete(&self, schema: &UserSchema, user: &User) -> Result<(), PowError> {
        let stmt = self.table(schema)?.delete(user.id);
        self.db.execute(stmt)?;
        Ok(())
    }

    fn list_by(
        &self,
        schema: &UserSchema,
        field: &str,
        value: &Value,
    ) -> Result<Vec<User>, PowError> {
        let stmt = self.table(schema)?.select(field, value, None)?;
        self.db
            .load(stmt)?
            .iter()
            .map(|row| decode_user(schema, row))
            .collect()
    }
}

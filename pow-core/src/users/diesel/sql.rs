//! Runtime SQL for the dynamic users table: identifier checks, statements with bound
//! values, and decoding rows read back as one JSON text column.
//!
//! Identifiers (table, schema and column names) are checked against `[a-z_][a-z0-9_]*`
//! and quoted; values are always bound, never written into the SQL text.

use ::diesel::backend::Backend;
use ::diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use ::diesel::serialize::ToSql;
use ::diesel::sql_types::{BigInt, Bool, HasSqlType, Nullable, Text, Timestamp};
use ::diesel::QueryableByName;
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde_json::Value as Json;

use crate::error::PowError;
use crate::users::UserSchema;
use crate::users::{Changes, FieldKind, User, Value};

/// Longest identifier PostgreSQL keeps without truncating.
const MAX_IDENTIFIER_LEN: usize = 63;

/// Columns every users table has, besides the configured fields.
const CORE_COLUMNS: [(&str, FieldKind); 4] = [
    ("id", FieldKind::Int),
    ("password_hash", FieldKind::Text),
    ("inserted_at", FieldKind::Timestamp),
    ("updated_at", FieldKind::Timestamp),
];

/// The SQL flavour a statement is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: `?` placeholders, `json_object`.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    /// PostgreSQL: `$n` placeholders, `row_to_json`.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// Alias of the users table in every statement.
const ROW_ALIAS: &str = "\"pow_user\"";

/// Checks that `name` is a plain lowercase SQL identifier.
///
/// # Errors
/// [`PowError::Config`] naming `what` and the offending name.
pub(crate) fn check_identifier(what: &str, name: &str) -> Result<(), PowError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= MAX_IDENTIFIER_LEN {
        Ok(())
    } else {
        Err(PowError::Config(format!(
            "{what} `{name}` is not a valid SQL identifier: use 1 to {MAX_IDENTIFIER_LEN} \
             characters from [a-z0-9_], not starting with a digit"
        )))
    }
}

/// `name` in double quotes. Only call on names that passed [`check_identifier`].
pub(crate) fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

/// The type of column `name`: a core column or a configured user field.
///
/// # Errors
/// [`PowError::Config`] when the config declares no such field.
pub(crate) fn field_kind(schema: &UserSchema, name: &str) -> Result<FieldKind, PowError> {
    CORE_COLUMNS
        .iter()
        .find(|(core, _)| *core == name)
        .map(|(_, kind)| *kind)
        .or_else(|| {
            schema
                .fields()
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.kind)
        })
        .ok_or_else(|| {
            PowError::Config(format!(
                "unknown user field `{name}`: declare it with \
                 PowConfigBuilder::user_field(FieldDef::new(\"{name}\", ...)) and add the column \
                 in a migration"
            ))
        })
}

/// A value bound to a placeholder, typed by the column it goes to (a `NULL` keeps the
/// column's type, which PostgreSQL needs).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Timestamp(Option<NaiveDateTime>),
}

impl Bind {
    /// Converts `value` for column `field` of type `kind`.
    ///
    /// # Errors
    /// [`PowError::Config`] when the value does not fit the column's type.
    pub(crate) fn new(field: &str, kind: FieldKind, value: &Value) -> Result<Self, PowError> {
        Ok(match (kind, value) {
            (FieldKind::Text, Value::Text(s)) => Bind::Text(Some(s.clone())),
            (FieldKind::Text, Value::Null) => Bind::Text(None),
            (FieldKind::Int, Value::Int(n)) => Bind::Int(Some(*n)),
            (FieldKind::Int, Value::Null) => Bind::Int(None),
            (FieldKind::Bool, Value::Bool(b)) => Bind::Bool(Some(*b)),
            (FieldKind::Bool, Value::Null) => Bind::Bool(None),
            (FieldKind::Timestamp, Value::Timestamp(t)) => Bind::Timestamp(Some(t.naive_utc())),
            (FieldKind::Timestamp, Value::Null) => Bind::Timestamp(None),
            (kind, value) => {
                return Err(PowError::Config(format!(
                    "user field `{field}` is declared as {kind:?} but was given {}",
                    value_kind(value)
                )))
            }
        })
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Text(_) => "a text value",
        Value::Int(_) => "an integer",
        Value::Bool(_) => "a boolean",
        Value::Timestamp(_) => "a timestamp",
    }
}

/// SQL text and the values bound to its placeholders, in order.
#[derive(Debug)]
pub(crate) struct Statement {
    dialect: Dialect,
    pub(crate) sql: String,
    pub(crate) binds: Vec<Bind>,
}

impl Statement {
    fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            sql: String::new(),
            binds: Vec::new(),
        }
    }

    /// Adds a bound value and returns its placeholder.
    fn placeholder(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        match self.dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${}", self.binds.len()),
        }
    }

    /// Boxes the statement as a diesel query with every value bound.
    pub(crate) fn into_query<DB>(self) -> BoxedSqlQuery<'static, DB, SqlQuery>
    where
        DB: Backend
            + HasSqlType<Text>
            + HasSqlType<BigInt>
            + HasSqlType<Bool>
            + HasSqlType<Timestamp>,
        Option<String>: ToSql<Nullable<Text>, DB>,
        Option<i64>: ToSql<Nullable<BigInt>, DB>,
        Option<bool>: ToSql<Nullable<Bool>, DB>,
        Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
    {
        let mut query = ::diesel::sql_query(self.sql).into_boxed::<DB>();
        for bind in self.binds {
            query = match bind {
                Bind::Text(v) => query.bind::<Nullable<Text>, _>(v),
                Bind::Int(v) => query.bind::<Nullable<BigInt>, _>(v),
                Bind::Bool(v) => query.bind::<Nullable<Bool>, _>(v),
                Bind::Timestamp(v) => query.bind::<Nullable<Timestamp>, _>(v),
            };
        }
        query
    }
}

/// One row read back as a JSON object in text form.
#[derive(QueryableByName, Debug)]
pub(crate) struct JsonRow {
    /// The row's columns as a JSON object.
    #[diesel(sql_type = Text)]
    pub(crate) data: String,
}

/// Builds the statements for one users table.
pub(crate) struct Table<'a> {
    dialect: Dialect,
    users: &'a UserSchema,
    /// The quoted, possibly schema-qualified table name.
    name: String,
}

impl<'a> Table<'a> {
    /// The configured users table, qualified with `schema` when given.
    ///
    /// # Errors
    /// [`PowError::Config`] when the table, schema or a field name is not a plain
    /// identifier.
    pub(crate) fn new(
        dialect: Dialect,
        users: &'a UserSchema,
        schema: Option<&str>,
    ) -> Result<Self, PowError> {
        check_identifier("users table", users.table())?;
        for field in users.fields() {
            check_identifier("user field", &field.name)?;
        }
        let name = match schema {
            Some(schema) => {
                check_identifier("schema", schema)?;
                format!("{}.{}", quote(schema), quote(users.table()))
            }
            None => quote(users.table()),
        };
        Ok(Self {
            dialect,
            users,
            name,
        })
    }

    /// The expression that reads a whole row as JSON text, named `data`.
    fn row_json(&self) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let pairs = CORE_COLUMNS
                    .iter()
                    .map(|(name, _)| *name)
                    .chain(self.users.fields().iter().map(|f| f.name.as_str()))
                    // Unqualified: SQLite's RETURNING does not see the table alias.
                    .map(|name| format!("'{name}', {}", quote(name)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("CAST(json_object({pairs}) AS TEXT) AS data")
            }
            Dialect::Postgres => format!("CAST(row_to_json({ROW_ALIAS}) AS TEXT) AS data"),
        }
    }

    /// `"field" = <bind>`, or `"field" IS NULL` for a `NULL` value (which `=` never
    /// matches).
    fn condition(&self, stmt: &mut Statement, field: &str, value: &Value) -> Result<(), PowError> {
        let kind = field_kind(self.users, field)?;
        let bind = Bind::new(field, kind, value)?;
        if value.is_null() {
            stmt.sql += &format!("{ROW_ALIAS}.{} IS NULL", quote(field));
        } else {
            let ph = stmt.placeholder(bind);
            stmt.sql += &format!("{ROW_ALIAS}.{} = {ph}", quote(field));
        }
        Ok(())
    }

    /// Rows whose `field` equals `value`, oldest first, at most `limit` of them.
    pub(crate) fn select(
        &self,
        field: &str,
        value: &Value,
        limit: Option<u32>,
    ) -> Result<Statement, PowError> {
        let mut stmt = Statement::new(self.dialect);
        stmt.sql = format!(
            "SELECT {} FROM {} AS {ROW_ALIAS} WHERE ",
            self.row_json(),
            self.name
        );
        self.condition(&mut stmt, field, value)?;
        stmt.sql += &format!(" ORDER BY {ROW_ALIAS}.\"id\"");
        if let Some(limit) = limit {
            stmt.sql += &format!(" LIMIT {limit}");
        }
        Ok(stmt)
    }

    /// Every row, by id, `limit` of them from the `offset`-th.
    pub(crate) fn list(&self, limit: u32, offset: u32) -> Statement {
        let mut stmt = Statement::new(self.dialect);
        stmt.sql = format!(
            "SELECT {} FROM {} AS {ROW_ALIAS} ORDER BY {ROW_ALIAS}.\"id\" LIMIT {limit} OFFSET {offset}",
            self.row_json(),
            self.name
        );
        stmt
    }

    /// Checks `changes` and converts them to `(column, bind)` pairs.
    fn columns(&self, changes: &Changes) -> Result<Vec<(String, Bind)>, PowError> {
        changes
            .iter()
            .map(|(field, value)| {
                if matches!(field.as_str(), "id" | "inserted_at" | "updated_at") {
                    return Err(PowError::Config(format!(
                        "user field `{field}` is managed by the users context and cannot be \
                         written"
                    )));
                }
                let kind = field_kind(self.users, field)?;
                Ok((quote(field), Bind::new(field, kind, value)?))
            })
            .collect()
    }

    /// Inserts a row with `changes`, stamped `now`, returning it.
    pub(crate) fn insert(
        &self,
        changes: &Changes,
        now: NaiveDateTime,
    ) -> Result<Statement, PowError> {
        let mut columns = self.columns(changes)?;
        columns.push(("\"inserted_at\"".into(), Bind::Timestamp(Some(now))));
        columns.push(("\"updated_at\"".into(), Bind::Timestamp(Some(now))));
        let mut stmt = Statement::new(self.dialect);
        let mut names = Vec::with_capacity(columns.len());
        let mut placeholders = Vec::with_capacity(columns.len());
        for (name, bind) in columns {
            names.push(name);
            placeholders.push(stmt.placeholder(bind));
        }
        stmt.sql = format!(
            "INSERT INTO {} AS {ROW_ALIAS} ({}) VALUES ({}) RETURNING {}",
            self.name,
            names.join(", "),
            placeholders.join(", "),
            self.row_json()
        );
        Ok(stmt)
    }

    /// Writes `changes` and `updated_at = now` to the row with primary key `id`,
    /// returning it.
    pub(crate) fn update(
        &self,
        id: i64,
        changes: &Changes,
        now: NaiveDateTime,
    ) -> Result<Statement, PowError> {
        let mut columns = self.columns(changes)?;
        columns.push(("\"updated_at\"".into(), Bind::Timestamp(Some(now))));
        let mut stmt = Statement::new(self.dialect);
        let mut sets = Vec::with_capacity(columns.len());
        for (name, bind) in columns {
            let ph = stmt.placeholder(bind);
            sets.push(format!("{name} = {ph}"));
        }
        let id_ph = stmt.placeholder(Bind::Int(Some(id)));
        stmt.sql = format!(
            "UPDATE {} AS {ROW_ALIAS} SET {} WHERE {ROW_ALIAS}.\"id\" = {id_ph} RETURNING {}",
            self.name,
            sets.join(", "),
            self.row_json()
        );
        Ok(stmt)
    }

    /// Deletes the row with primary key `id`.
    pub(crate) fn delete(&self, id: i64) -> Statement {
        let mut stmt = Statement::new(self.dialect);
        let ph = stmt.placeholder(Bind::Int(Some(id)));
        stmt.sql = format!(
            "DELETE FROM {} AS {ROW_ALIAS} WHERE {ROW_ALIAS}.\"id\" = {ph}",
            self.name
        );
        stmt
    }
}

/// The current time as stored: UTC, truncated to microseconds (the precision both
/// backends keep).
pub(crate) fn now() -> NaiveDateTime {
    Utc::now().trunc_subsecs(6).naive_utc()
}

/// Decodes a row read as JSON into a [`User`].
///
/// # Errors
/// [`PowError::Database`] when the row misses a column or a value does not fit its
/// declared type (the message names the column).
pub(crate) fn decode_user(schema: &UserSchema, json: &str) -> Result<User, PowError> {
    let Json::Object(mut row) = serde_json::from_str::<Json>(json)
        .map_err(|err| PowError::Database(format!("users row is not valid JSON: {err}")))?
    else {
        return Err(PowError::Database("users row is not a JSON object".into()));
    };
    let mut take = |name: &str| {
        row.remove(name).ok_or_else(|| {
            PowError::Database(format!(
                "column `{name}` is missing from table `{}`; run the migrations that add it",
                schema.table()
            ))
        })
    };
    let id = match decode(take("id")?, "id", FieldKind::Int)? {
        Value::Int(id) => id,
        _ => return Err(PowError::Database("users row has a NULL `id`".into())),
    };
    let password_hash = match decode(take("password_hash")?, "password_hash", FieldKind::Text)? {
        Value::Text(hash) => Some(hash),
        _ => None,
    };
    let mut timestamp = |name: &str| match decode(take(name)?, name, FieldKind::Timestamp)? {
        Value::Timestamp(t) => Ok(t),
        _ => Err(PowError::Database(format!("users row has a NULL `{name}`"))),
    };
    let inserted_at = timestamp("inserted_at")?;
    let updated_at = timestamp("updated_at")?;
    let mut fields = std::collections::BTreeMap::new();
    for def in schema.fields() {
        let value = decode(take(&def.name)?, &def.name, def.kind)?;
        fields.insert(def.name.clone(), value);
    }
    Ok(User {
        id,
        password_hash,
        inserted_at,
        updated_at,
        fields,
    })
}

/// Decodes one JSON value of column `name`, declared as `kind`.
fn decode(json: Json, name: &str, kind: FieldKind) -> Result<Value, PowError> {
    let mismatch = |json: &Json| {
        PowError::Database(format!(
            "column `{name}` holds {json}, which does not fit its declared type {kind:?}"
        ))
    };
    match (kind, json) {
        (_, Json::Null) => Ok(Value::Null),
        (FieldKind::Text, Json::String(s)) => Ok(Value::Text(s)),
        (FieldKind::Int, Json::Number(n)) => n
            .as_i64()
            .map(Value::Int)
            .ok_or_else(|| mismatch(&Json::Number(n.clone()))),
        (FieldKind::Bool, Json::Bool(b)) => Ok(Value::Bool(b)),
        // SQLite stores booleans as 0 and 1.
        (FieldKind::Bool, Json::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Value::Bool(false)),
            Some(1) => Ok(Value::Bool(true)),
            _ => Err(mismatch(&Json::Number(n))),
        },
        (FieldKind::Timestamp, Json::String(s)) => parse_timestamp(&s)
            .map(Value::Timestamp)
            .ok_or_else(|| mismatch(&Json::String(s))),
        (_, json) => Err(mismatch(&json)),
    }
}

/// Parses a stored timestamp: `YYYY-MM-DD HH:MM:SS[.f]` or the ISO `T` form, naive (taken
/// as UTC) or with an offset.
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())
        .map(|naive| naive.and_utc())
        .or_else(|| {
            // PostgreSQL renders a `timestamptz` as `...+00`, without minutes.
            ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"]
                .iter()
                .find_map(|fmt| DateTime::parse_from_str(text, fmt).ok())
                .map(|t| t.with_timezone(&Utc))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(check_identifier("t", "users").is_ok());
        assert!(check_identifier("t", "_a1").is_ok());
        for bad in [
            "",
            "1a",
            "Users",
            "us-ers",
            "a\"b",
            "a b",
            "a;drop",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(check_identifier("t", bad), Err(PowError::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn timestamps() {
        let expect = |s: &str| parse_timestamp(s).map(|t| t.to_rfc3339());
        assert_eq!(
            expect("2024-05-06 07:08:09"),
            Some("2024-05-06T07:08:09+00:00".into())
        );
        assert_eq!(
            expect("2024-05-06 07:08:09.123456"),
            Some("2024-05-06T07:08:09.123456+00:00".into())
        );
        assert_eq!(
            expect("2024-05-06T07:08:09.5"),
            Some("2024-05-06T07:08:09.500+00:00".into())
        );
        assert_eq!(
            expect("2024-05-06T09:08:09+02:00"),
            Some("2024-05-06T07:08:09+00:00".into())
        );
        assert_eq!(
            expect("2024-05-06T07:08:09+00"),
            Some("2024-05-06T07:08:09+00:00".into())
        );
        assert_eq!(expect("yesterday"), None);
    }

    #[test]
    fn decodes_values() {
        assert_eq!(
            decode(Json::from(1), "b", FieldKind::Bool).ok(),
            Some(Value::Bool(true))
        );
        assert_eq!(
            decode(Json::Bool(false), "b", FieldKind::Bool).ok(),
            Some(Value::Bool(false))
        );
        assert_eq!(
            decode(Json::Null, "t", FieldKind::Text).ok(),
            Some(Value::Null)
        );
        assert!(decode(Json::from(2), "b", FieldKind::Bool).is_err());
        assert!(decode(Json::from("x"), "n", FieldKind::Int).is_err());
        assert!(decode(Json::from(1.5), "n", FieldKind::Int).is_err());
    }
}

//! The `user_identities` table: which provider account belongs to which user.

use ::diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::users::diesel::{checkout, query_error, Database, DieselUsersContext};
use pow_core::{PowConfig, PowError};

/// One provider account linked to a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The provider's id (`"google"`).
    pub provider: String,
    /// The account's id at the provider.
    pub uid: String,
    /// The user it signs in.
    pub user_id: i64,
    /// The address the provider gave when it was linked, for the account page.
    pub email: Option<String>,
    /// When it was linked.
    pub inserted_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    provider: String,
    #[diesel(sql_type = Text)]
    uid: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
}

impl From<Row> for Identity {
    fn from(row: Row) -> Self {
        Self {
            provider: row.provider,
            uid: row.uid,
            user_id: row.user_id,
            email: row.email,
            inserted_at: row.inserted_at.and_utc(),
        }
    }
}

/// What came of a link.
#[derive(Debug)]
pub(crate) enum Insert {
    Linked,
    /// The provider account is linked already (to this user or another).
    Taken,
}

/// The table, on the users context's pool and schema.
pub(crate) struct Identities {
    db: Database,
    table: String,
}

const COLUMNS: &str = "provider, uid, user_id, email, inserted_at";

/// Runs `$body` with `$conn` bound to a pooled connection of either backend.
macro_rules! with_conn {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            Database::Sqlite(pool) => {
                let mut guard = checkout(pool)?;
                let $conn = &mut *guard;
                $body
            }
            Database::Postgres(pool) => {
                let mut guard = checkout(pool)?;
                let $conn = &mut *guard;
                $body
            }
            _ => Err(PowError::Config(
                "user identities need the SQLite or PostgreSQL users context".into(),
            )),
        }
    };
}

impl Identities {
    /// The table beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub(crate) fn new(config: &PowConfig) -> Result<Self, PowError> {
        let users = config.users()?;
        let diesel: &DieselUsersContext = users.diesel().ok_or_else(|| {
            PowError::Config(
                "pow-ext-oauth keeps linked accounts in the `user_identities` table, which \
                 needs the diesel users context (DieselUsersContext)"
                    .into(),
            )
        })?;
        let table = match diesel.schema() {
            // Checked as an identifier by `with_schema`.
            Some(schema) => format!("\"{schema}\".user_identities"),
            None => "user_identities".to_owned(),
        };
        Ok(Self {
            db: diesel.database().clone(),
            table,
        })
    }

    /// The identity `uid` at `provider`, if linked.
    pub(crate) fn get(&self, provider: &str, uid: &str) -> Result<Option<Identity>, PowError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE provider = $1 AND uid = $2",
            self.table
        );
        let rows: Vec<Row> = with_conn!(&self.db, conn => ::diesel::sql_query(&sql)
            .bind::<Text, _>(provider)
            .bind::<Text, _>(uid)
            .load(conn)
            .map_err(query_error))?;
        Ok(rows.into_iter().next().map(Identity::from))
    }

    /// The user's identities, oldest first.
    pub(crate) fn for_user(&self, user_id: i64) -> Result<Vec<Identity>, PowError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE user_id = $1 ORDER BY inserted_at, provider, uid",
            self.table
        );
        let rows: Vec<Row> = with_conn!(&self.db, conn => ::diesel::sql_query(&sql)
            .bind::<BigInt, _>(user_id)
            .load(conn)
            .map_err(query_error))?;
        Ok(rows.into_iter().map(Identity::from).collect())
    }

    /// Links `uid` at `provider` to the user, unless it is linked already (the unique index
    /// decides between concurrent links).
    pub(crate) fn insert(
        &self,
        provider: &str,
        uid: &str,
        user_id: i64,
        email: Option<&str>,
    ) -> Result<Insert, PowError> {
        let sql = format!(
            "INSERT INTO {} (provider, uid, user_id, email, inserted_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            self.table
        );
        let now = Utc::now().naive_utc();
        let result: Result<usize, ::diesel::result::Error> = with_conn!(&self.db, conn => Ok(::diesel::sql_query(&sql)
                .bind::<Text, _>(provider)
                .bind::<Text, _>(uid)
                .bind::<BigInt, _>(user_id)
                .bind::<Nullable<Text>, _>(email)
                .bind::<Timestamp, _>(now)
                .bind::<Timestamp, _>(now)
                .execute(conn)))?;
        match result {
            Ok(_) => Ok(Insert::Linked),
            Err(::diesel::result::Error::DatabaseError(
                ::diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => Ok(Insert::Taken),
            Err(err) => Err(query_error(err)),
        }
    }

    /// Unlinks `uid` at `provider` from the user; `false` when the user has no such link.
    pub(crate) fn delete(&self, provider: &str, uid: &str, user_id: i64) -> Result<bool, PowError> {
        let sql = format!(
            "DELETE FROM {} WHERE provider = $1 AND uid = $2 AND user_id = $3",
            self.table
        );
        let deleted: usize = with_conn!(&self.db, conn => ::diesel::sql_query(&sql)
            .bind::<Text, _>(provider)
            .bind::<Text, _>(uid)
            .bind::<BigInt, _>(user_id)
            .execute(conn)
            .map_err(query_error))?;
        Ok(deleted > 0)
    }
}

//! The `user_identities` table: which provider account belongs to which user.

// Sign-ins and links run in the actix layer; the engine alone keeps the protocol and
// the table.
#![cfg_attr(not(feature = "actix"), allow(dead_code))]

use ::diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::users::diesel::{query_error, Database, Tables};
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

/// The table, on the users context's pool and schema. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Identities {
    tables: Tables,
    table: String,
}

const COLUMNS: &str = "provider, uid, user_id, email, inserted_at";

use pow_core::with_connection as with_conn;

impl Identities {
    /// The table beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub(crate) fn new(config: &PowConfig) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-oauth (the `user_identities` table)")?;
        let table = tables.table("user_identities");
        Ok(Self { tables, table })
    }

    /// The identity `uid` at `provider`, if linked.
    pub(crate) async fn get(
        &self,
        provider: &str,
        uid: &str,
    ) -> Result<Option<Identity>, PowError> {
        let (this, provider, uid) = (self.clone(), provider.to_owned(), uid.to_owned());
        self.tables
            .run(move |db| this.get_now(db, &provider, &uid))
            .await
    }

    /// The user's identities, oldest first.
    pub(crate) async fn for_user(&self, user_id: i64) -> Result<Vec<Identity>, PowError> {
        let this = self.clone();
        self.tables
            .run(move |db| this.for_user_now(db, user_id))
            .await
    }

    /// Links `uid` at `provider` to the user, unless it is linked already (the unique index
    /// decides between concurrent links).
    pub(crate) async fn insert(
        &self,
        provider: &str,
        uid: &str,
        user_id: i64,
        email: Option<&str>,
    ) -> Result<Insert, PowError> {
        let this = self.clone();
        let (provider, uid, email) = (
            provider.to_owned(),
            uid.to_owned(),
            email.map(str::to_owned),
        );
        self.tables
            .run(move |db| this.insert_now(db, &provider, &uid, user_id, email.as_deref()))
            .await
    }

    /// Unlinks `uid` at `provider` from the user; `false` when the user has no such link.
    pub(crate) async fn delete(
        &self,
        provider: &str,
        uid: &str,
        user_id: i64,
    ) -> Result<bool, PowError> {
        let (this, provider, uid) = (self.clone(), provider.to_owned(), uid.to_owned());
        self.tables
            .run(move |db| this.delete_now(db, &provider, &uid, user_id))
            .await
    }

    /// Unlinks every identity of the user; returns the providers they were at.
    pub(crate) async fn delete_all(&self, user_id: i64) -> Result<Vec<String>, PowError> {
        let this = self.clone();
        self.tables
            .run(move |db| {
                let mut dropped = Vec::new();
                for identity in this.for_user_now(db, user_id)? {
                    if this.delete_now(db, &identity.provider, &identity.uid, user_id)? {
                        dropped.push(identity.provider);
                    }
                }
                Ok(dropped)
            })
            .await
    }

    fn get_now(
        &self,
        db: &Database,
        provider: &str,
        uid: &str,
    ) -> Result<Option<Identity>, PowError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE provider = $1 AND uid = $2",
            self.table
        );
        let rows: Vec<Row> = with_conn!(db, conn => ::diesel::sql_query(&sql)
            .bind::<Text, _>(provider)
            .bind::<Text, _>(uid)
            .load(conn)
            .map_err(query_error))?;
        Ok(rows.into_iter().next().map(Identity::from))
    }

    fn for_user_now(&self, db: &Database, user_id: i64) -> Result<Vec<Identity>, PowError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE user_id = $1 ORDER BY inserted_at, provider, uid",
            self.table
        );
        let rows: Vec<Row> = with_conn!(db, conn => ::diesel::sql_query(&sql)
            .bind::<BigInt, _>(user_id)
            .load(conn)
            .map_err(query_error))?;
        Ok(rows.into_iter().map(Identity::from).collect())
    }

    fn insert_now(
        &self,
        db: &Database,
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
        let result: Result<usize, ::diesel::result::Error> = with_conn!(db, conn => Ok(::diesel::sql_query(&sql)
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

    fn delete_now(
        &self,
        db: &Database,
        provider: &str,
        uid: &str,
        user_id: i64,
    ) -> Result<bool, PowError> {
        let sql = format!(
            "DELETE FROM {} WHERE provider = $1 AND uid = $2 AND user_id = $3",
            self.table
        );
        let deleted: usize = with_conn!(db, conn => ::diesel::sql_query(&sql)
            .bind::<Text, _>(provider)
            .bind::<Text, _>(uid)
            .bind::<BigInt, _>(user_id)
            .execute(conn)
            .map_err(query_error))?;
        Ok(deleted > 0)
    }
}

/// The user's linked provider accounts, for the data export and erasure.
pub(crate) struct LinkedAccounts;

#[async_trait::async_trait]
impl pow_core::extension::UserData for LinkedAccounts {
    async fn export(
        &self,
        config: &PowConfig,
        user: &pow_core::User,
    ) -> Result<serde_json::Value, PowError> {
        let linked = Identities::new(config)?.for_user(user.id).await?;
        let linked: Vec<_> = linked
            .into_iter()
            .map(|identity| {
                serde_json::json!({
                    "provider": identity.provider,
                    "uid": identity.uid,
                    "email": identity.email,
                    "linked_at": identity.inserted_at.to_rfc3339(),
                })
            })
            .collect();
        Ok(serde_json::json!({ "identities": linked }))
    }

    async fn erase(&self, config: &PowConfig, user: &pow_core::User) -> Result<(), PowError> {
        Identities::new(config)?.delete_all(user.id).await?;
        Ok(())
    }
}

//! The `api_keys` table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ::diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::users::diesel::{query_error, Tables};
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use serde::Serialize;

/// How many queries `config`'s `api_keys` table has served in this process: what shows
/// that a flood of made-up keys never reaches the database. `0` without the extension.
pub fn queries(config: &PowConfig) -> u64 {
    crate::Registered::of(config).map_or(0, |registered| registered.queries.load(Ordering::Relaxed))
}

/// One API key, as stored (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredKey {
    /// Its id (the public part of the key).
    pub id: String,
    /// The user who owns it.
    #[serde(skip)]
    pub user_id: i64,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// The keyed hash of its secret.
    #[serde(skip)]
    pub secret_hash: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The organization it acts for (its maker's membership), if it is an organization's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

impl StoredKey {
    /// Whether it works at `now`: neither revoked nor expired.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none_or(|at| at > now) && self.expires_at > now
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    scopes: String,
    #[diesel(sql_type = Text)]
    secret_hash: String,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    expires_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_used_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    revoked_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    organization_id: Option<String>,
}

impl From<Row> for StoredKey {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            secret_hash: row.secret_hash,
            created_at: row.inserted_at.and_utc(),
            expires_at: row.expires_at.and_utc(),
            last_used_at: row.last_used_at.map(|at| at.and_utc()),
            revoked_at: row.revoked_at.map(|at| at.and_utc()),
            organization_id: row.organization_id,
        }
    }
}

const COLUMNS: &str = "id, user_id, name, scopes, secret_hash, inserted_at, expires_at, \
                       last_used_at, revoked_at, organization_id";

/// The table, on the users context's pool and schema. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Keys {
    tables: Tables,
    table: String,
    queries: Arc<AtomicU64>,
}

impl Keys {
    /// The table beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub(crate) fn new(config: &PowConfig) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-api-keys (the `api_keys` table)")?;
        let table = tables.table("api_keys");
        let queries = crate::Registered::of(config)
            .map(|registered| Arc::clone(&registered.queries))
            .unwrap_or_default();
        Ok(Self {
            tables,
            table,
            queries,
        })
    }

    /// Runs `sql` with one text or id parameter and reads the rows.
    async fn select(
        &self,
        condition: &'static str,
        param: Param,
    ) -> Result<Vec<StoredKey>, PowError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE {condition}", self.table);
        let queries = Arc::clone(&self.queries);
        self.tables
            .run(move |db| {
                queries.fetch_add(1, Ordering::Relaxed);
                let rows: Vec<Row> = match &param {
                    Param::Id(id) => with_conn!(db, conn => ::diesel::sql_query(&sql)
                        .bind::<Text, _>(id)
                        .load(conn)
                        .map_err(query_error))?,
                    Param::User(user_id) => with_conn!(db, conn => ::diesel::sql_query(&sql)
                        .bind::<BigInt, _>(*user_id)
                        .load(conn)
                        .map_err(query_error))?,
                };
                Ok(rows.into_iter().map(StoredKey::from).collect())
            })
            .await
    }

    /// The key `id`, whoever owns it.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<StoredKey>, PowError> {
        let rows = self.select("id = $1", Param::Id(id.to_owned())).await?;
        Ok(rows.into_iter().next())
    }

    /// The user's own keys (not those they made for an organization), newest first.
    pub(crate) async fn for_user(&self, user_id: i64) -> Result<Vec<StoredKey>, PowError> {
        self.select(
            "user_id = $1 AND organization_id IS NULL ORDER BY inserted_at DESC, id",
            Param::User(user_id),
        )
        .await
    }

    /// The keys of the organization `org_id`, newest first.
    pub(crate) async fn for_organization(&self, org_id: &str) -> Result<Vec<StoredKey>, PowError> {
        self.select(
            "organization_id = $1 ORDER BY inserted_at DESC, id",
            Param::Id(org_id.to_owned()),
        )
        .await
    }

    /// The ids of every key `user_id` made (their own and their organizations').
    pub(crate) async fn ids_of_user(&self, user_id: i64) -> Result<Vec<String>, PowError> {
        let keys = self.select("user_id = $1", Param::User(user_id)).await?;
        Ok(keys.into_iter().map(|key| key.id).collect())
    }

    /// Stores `key`.
    pub(crate) async fn insert(&self, key: StoredKey) -> Result<(), PowError> {
        let sql = format!(
            "INSERT INTO {} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8)",
            self.table
        );
        let queries = Arc::clone(&self.queries);
        self.tables
            .run(move |db| {
                queries.fetch_add(1, Ordering::Relaxed);
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Text, _>(&key.id)
                    .bind::<BigInt, _>(key.user_id)
                    .bind::<Text, _>(&key.name)
                    .bind::<Text, _>(key.scopes.join(" "))
                    .bind::<Text, _>(&key.secret_hash)
                    .bind::<Timestamp, _>(key.created_at.naive_utc())
                    .bind::<Timestamp, _>(key.expires_at.naive_utc())
                    .bind::<Nullable<Text>, _>(key.organization_id.as_deref())
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(())
            })
            .await
    }

    /// Runs an `UPDATE ... SET <set> WHERE id = $2 AND user_id = $3 <and>`, `value` being
    /// `$1` (SQLite numbers parameters in the order they appear); whether a row changed.
    async fn update(
        &self,
        set: &'static str,
        and: &'static str,
        id: &str,
        user_id: i64,
        value: Value,
    ) -> Result<bool, PowError> {
        let sql = format!(
            "UPDATE {} SET {set} WHERE id = $2 AND user_id = $3 {and}",
            self.table
        );
        let id = id.to_owned();
        let queries = Arc::clone(&self.queries);
        self.tables
            .run(move |db| {
                queries.fetch_add(1, Ordering::Relaxed);
                let changed: usize = match &value {
                    Value::Text(text) => with_conn!(db, conn => ::diesel::sql_query(&sql)
                        .bind::<Text, _>(text)
                        .bind::<Text, _>(&id)
                        .bind::<BigInt, _>(user_id)
                        .execute(conn)
                        .map_err(query_error))?,
                    Value::At(at) => with_conn!(db, conn => ::diesel::sql_query(&sql)
                        .bind::<Timestamp, _>(at.naive_utc())
                        .bind::<Text, _>(&id)
                        .bind::<BigInt, _>(user_id)
                        .execute(conn)
                        .map_err(query_error))?,
                };
                Ok(changed > 0)
            })
            .await
    }

    /// Renames the user's own key `id`; whether they had one.
    pub(crate) async fn rename(
        &self,
        id: &str,
        user_id: i64,
        name: &str,
    ) -> Result<bool, PowError> {
        self.update(
            "name = $1",
            "AND organization_id IS NULL",
            id,
            user_id,
            Value::Text(name.to_owned()),
        )
        .await
    }

    /// Revokes the user's own key `id` from `at` (now, or the end of a rotation's overlap);
    /// whether they had one that was not revoked already.
    pub(crate) async fn revoke(
        &self,
        id: &str,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, PowError> {
        self.update(
            "revoked_at = $1",
            "AND revoked_at IS NULL AND organization_id IS NULL",
            id,
            user_id,
            Value::At(at),
        )
        .await
    }

    /// Revokes the key `id` of the organization `org_id` now; whether it had one that was
    /// not revoked already.
    pub(crate) async fn revoke_in_organization(
        &self,
        id: &str,
        org_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, PowError> {
        let sql = format!(
            "UPDATE {} SET revoked_at = $1 WHERE id = $2 AND organization_id = $3 \
             AND revoked_at IS NULL",
            self.table
        );
        let (id, org_id) = (id.to_owned(), org_id.to_owned());
        let queries = Arc::clone(&self.queries);
        self.tables
            .run(move |db| {
                queries.fetch_add(1, Ordering::Relaxed);
                let changed: usize = with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Timestamp, _>(at.naive_utc())
                    .bind::<Text, _>(&id)
                    .bind::<Text, _>(&org_id)
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(changed > 0)
            })
            .await
    }

    /// Records that the key `id` of `user_id` was used at `at`.
    pub(crate) async fn touch(
        &self,
        id: &str,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), PowError> {
        self.update("last_used_at = $1", "", id, user_id, Value::At(at))
            .await
            .map(|_| ())
    }

    /// Deletes every key of the user.
    pub(crate) async fn delete_for_user(&self, user_id: i64) -> Result<(), PowError> {
        let sql = format!("DELETE FROM {} WHERE user_id = $1", self.table);
        let queries = Arc::clone(&self.queries);
        self.tables
            .run(move |db| {
                queries.fetch_add(1, Ordering::Relaxed);
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<BigInt, _>(user_id)
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(())
            })
            .await
    }
}

/// The parameter of a select.
enum Param {
    Id(String),
    User(i64),
}

/// The value of an update.
enum Value {
    Text(String),
    At(DateTime<Utc>),
}

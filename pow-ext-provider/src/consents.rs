//! The `oauth_consents` table: what each user allowed each client.

use ::diesel::sql_types::{BigInt, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::users::diesel::{query_error, Tables};
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use serde::Serialize;

/// A user's consent to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// The client.
    pub client_id: String,
    /// The scopes allowed.
    pub scopes: Vec<String>,
    /// The resources (RFC 8707) the client may get tokens for; none: only tokens bound to
    /// no resource.
    pub resources: Vec<String>,
    /// When it was first given.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Consent {
    /// Whether it covers every one of `scopes`, for `resource` (none: tokens bound to no
    /// resource).
    pub fn covers(&self, scopes: &[String], resource: Option<&str>) -> bool {
        scopes.iter().all(|scope| self.scopes.contains(scope))
            && resource.is_none_or(|uri| self.resources.iter().any(|have| have == uri))
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    client_id: String,
    #[diesel(sql_type = Text)]
    scopes: String,
    #[diesel(sql_type = Text)]
    resources: String,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
}

impl From<Row> for Consent {
    fn from(row: Row) -> Self {
        Self {
            client_id: row.client_id,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            resources: row
                .resources
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            created_at: row.inserted_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// The table, on the users context's pool and schema.
#[derive(Clone)]
pub(crate) struct Consents {
    tables: Tables,
    table: String,
}

impl Consents {
    /// The table beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub(crate) fn new(config: &PowConfig) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-provider (the `oauth_consents` table)")?;
        let table = tables.table("oauth_consents");
        Ok(Self { tables, table })
    }

    /// The user's consents, by client.
    pub(crate) async fn of_user(&self, user_id: i64) -> Result<Vec<Consent>, PowError> {
        let sql = format!(
            "SELECT client_id, scopes, resources, inserted_at, updated_at FROM {} \
             WHERE user_id = $1 \
             ORDER BY client_id",
            self.table
        );
        self.tables
            .run(move |db| {
                let rows: Vec<Row> = with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<BigInt, _>(user_id)
                    .load(conn)
                    .map_err(query_error))?;
                Ok(rows.into_iter().map(Consent::from).collect())
            })
            .await
    }

    /// The user's consent to `client_id`, if any.
    pub(crate) async fn get(
        &self,
        user_id: i64,
        client_id: &str,
    ) -> Result<Option<Consent>, PowError> {
        Ok(self
            .of_user(user_id)
            .await?
            .into_iter()
            .find(|consent| consent.client_id == client_id))
    }

    /// Records that the user allowed `client_id` the `scopes`, for `resource` when one is
    /// named (with what they allowed it before).
    pub(crate) async fn grant(
        &self,
        user_id: i64,
        client_id: &str,
        scopes: &[String],
        resource: Option<&str>,
    ) -> Result<(), PowError> {
        let (mut all, mut resources) = self
            .get(user_id, client_id)
            .await?
            .map(|consent| (consent.scopes, consent.resources))
            .unwrap_or_default();
        for scope in scopes {
            if !all.contains(scope) {
                all.push(scope.clone());
            }
        }
        all.sort();
        if let Some(uri) = resource.filter(|uri| !resources.iter().any(|have| have == uri)) {
            resources.push(uri.to_owned());
            resources.sort();
        }
        let sql = format!(
            "INSERT INTO {} (user_id, client_id, scopes, resources, inserted_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, \
             resources = excluded.resources, updated_at = excluded.updated_at",
            self.table
        );
        let client_id = client_id.to_owned();
        let now = Utc::now().naive_utc();
        self.tables
            .run(move |db| {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<BigInt, _>(user_id)
                    .bind::<Text, _>(&client_id)
                    .bind::<Text, _>(all.join(" "))
                    .bind::<Text, _>(resources.join(" "))
                    .bind::<Timestamp, _>(now)
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(())
            })
            .await
    }

    /// The users who allowed `client_id`.
    pub(crate) async fn users_of(&self, client_id: &str) -> Result<Vec<i64>, PowError> {
        #[derive(QueryableByName)]
        struct UserRow {
            #[diesel(sql_type = BigInt)]
            user_id: i64,
        }
        let sql = format!("SELECT user_id FROM {} WHERE client_id = $1", self.table);
        let client_id = client_id.to_owned();
        self.tables
            .run(move |db| {
                let rows: Vec<UserRow> = with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Text, _>(&client_id)
                    .load(conn)
                    .map_err(query_error))?;
                Ok(rows.into_iter().map(|row| row.user_id).collect())
            })
            .await
    }

    /// Withdraws the user's consent to `client_id`; whether there was one.
    pub(crate) async fn withdraw(&self, user_id: i64, client_id: &str) -> Result<bool, PowError> {
        let sql = format!(
            "DELETE FROM {} WHERE user_id = $1 AND client_id = $2",
            self.table
        );
        let client_id = client_id.to_owned();
        self.tables
            .run(move |db| {
                let deleted: usize = with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<BigInt, _>(user_id)
                    .bind::<Text, _>(&client_id)
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(deleted > 0)
            })
            .await
    }

    /// Deletes every consent of the user.
    pub(crate) async fn delete_user(&self, user_id: i64) -> Result<(), PowError> {
        let sql = format!("DELETE FROM {} WHERE user_id = $1", self.table);
        self.tables
            .run(move |db| {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<BigInt, _>(user_id)
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(())
            })
            .await
    }
}

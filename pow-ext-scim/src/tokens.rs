//! The bearer tokens of an organization's identity provider (`scim_tokens`).
//!
//! A token is `scim_` and a value signed under the key ring holding the token's id and a
//! random secret: a made-up or altered token fails the signature before anything is looked
//! up. The table keeps a keyed hash of the token (under the ring, so rotating the secret
//! key base keeps tokens working); it is shown once, when made.

use ::diesel::sql_types::{Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::token::secure_compare;
use pow_core::users::diesel::{query_error, SqlParam, Tables};
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use rand::RngCore as _;
use serde::Serialize;

/// What every token starts with.
pub const PREFIX: &str = "scim_";
/// The salt of the token's signature.
const SIGN_SALT: &str = "pow scim token";
/// The purpose of the stored hash.
const HASH_PURPOSE: &str = "pow scim token";

/// A token, as its organization's admins see it (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Its id.
    pub id: String,
    /// The organization whose users and groups it reaches.
    pub organization_id: String,
    /// Its name (the provider it was made for), in audit rows.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops (stopped) working: a revocation, or the end of a rotation's overlap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    organization_id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    digest: String,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_used_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    revoked_at: Option<NaiveDateTime>,
}

impl Row {
    fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id.clone(),
            organization_id: self.organization_id.clone(),
            name: self.name.clone(),
            created_at: self.inserted_at.and_utc(),
            last_used_at: self.last_used_at.map(|at| at.and_utc()),
            revoked_at: self.revoked_at.map(|at| at.and_utc()),
        }
    }
}

const COLUMNS: &str = "id, organization_id, name, digest, inserted_at, last_used_at, revoked_at";

/// Now, to the second (as the tables keep it).
pub(crate) fn now() -> NaiveDateTime {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0)
        .unwrap_or(now)
        .naive_utc()
}

/// The `scim_tokens` table. Cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    config: PowConfig,
    tables: Tables,
    table: String,
    orgs: String,
}

impl Tokens {
    /// The table beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub fn new(config: &PowConfig) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-scim (the `scim_tokens` table)")?;
        Ok(Self {
            config: config.clone(),
            table: tables.table("scim_tokens"),
            orgs: tables.table("organizations"),
            tables,
        })
    }

    async fn rows(&self, condition: &str, params: Vec<SqlParam>) -> Result<Vec<Row>, PowError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE {condition}", self.table);
        self.tables
            .run(move |db| -> Result<Vec<Row>, PowError> {
                with_conn!(db, conn => pow_core::sql_bound!(conn, &sql, params).load::<Row>(conn).map_err(query_error))
            })
            .await
    }

    async fn execute(&self, sql: String, params: Vec<SqlParam>) -> Result<usize, PowError> {
        self.tables
            .run(move |db| -> Result<usize, PowError> {
                with_conn!(db, conn => pow_core::sql_bound!(conn, &sql, params).execute(conn).map_err(query_error))
            })
            .await
    }

    /// The tokens of `org_id` that work (or still work until a rotation's overlap ends),
    /// oldest first.
    ///
    /// # Errors
    /// The database's.
    pub async fn list(&self, org_id: &str) -> Result<Vec<TokenInfo>, PowError> {
        let rows = self
            .rows(
                "organization_id = $1 AND (revoked_at IS NULL OR revoked_at > $2) ORDER BY inserted_at",
                vec![SqlParam::Text(org_id.to_owned()), SqlParam::At(now())],
            )
            .await?;
        Ok(rows.iter().map(Row::info).collect())
    }

    /// Makes a token named `name` for `org_id`: its record, and its value (shown this
    /// once).
    ///
    /// # Errors
    /// The database's.
    pub async fn create(
        &self,
        org_id: &str,
        name: &str,
        by: Option<i64>,
    ) -> Result<(TokenInfo, String), PowError> {
        let id = pow_core::token::generate_uuid();
        let mut random = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut random);
        let inner = format!("{id}.{}", URL_SAFE_NO_PAD.encode(random));
        let token = format!(
            "{PREFIX}{}",
            self.config.verifier().sign_token(SIGN_SALT, &inner)
        );
        let digest = self.config.verifier().token_digest(HASH_PURPOSE, &token);
        let now = now();
        let sql = format!(
            "INSERT INTO {} (id, organization_id, name, digest, created_by, inserted_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            self.table
        );
        self.execute(
            sql,
            vec![
                SqlParam::Text(id.clone()),
                SqlParam::Text(org_id.to_owned()),
                SqlParam::Text(name.to_owned()),
                SqlParam::Text(digest),
                SqlParam::OptInt(by),
                SqlParam::At(now),
            ],
        )
        .await?;
        let info = TokenInfo {
            id,
            organization_id: org_id.to_owned(),
            name: name.to_owned(),
            created_at: now.and_utc(),
            last_used_at: None,
            revoked_at: None,
        };
        Ok((info, token))
    }

    /// Ends token `id` of `org_id` after `overlap` (at once for zero); `false` when
    /// `org_id` has no such working token (nor, with an overlap, one not yet rotated).
    ///
    /// # Errors
    /// The database's.
    pub async fn revoke(
        &self,
        org_id: &str,
        id: &str,
        overlap: std::time::Duration,
    ) -> Result<bool, PowError> {
        let now = now();
        let until = now + chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::zero());
        // An overlap is given once: a token already rotated keeps its end.
        let (still, mut params) = if overlap.is_zero() {
            (
                "(revoked_at IS NULL OR revoked_at > $4)",
                vec![SqlParam::At(now)],
            )
        } else {
            ("revoked_at IS NULL", Vec::new())
        };
        let sql = format!(
            "UPDATE {} SET revoked_at = $1 WHERE id = $2 AND organization_id = $3 AND {still}",
            self.table
        );
        params.splice(
            0..0,
            [
                SqlParam::At(until),
                SqlParam::Text(id.to_owned()),
                SqlParam::Text(org_id.to_owned()),
            ],
        );
        let changed = self.execute(sql, params).await?;
        Ok(changed > 0)
    }

    /// The working token `presented` is: its signature checked before any lookup, then its
    /// record by id and its keyed hash (under every secret of the ring). Notes its use, at
    /// most once a minute.
    ///
    /// # Errors
    /// The database's.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<TokenInfo>, PowError> {
        let Some(signed) = presented.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        let Some(inner) = self.config.verifier().verify_token(SIGN_SALT, signed) else {
            return Ok(None);
        };
        let Some((id, _)) = inner.split_once('.') else {
            return Ok(None);
        };
        let now = now();
        // Its organization must be open: a closed one's provider reaches nothing.
        let condition = format!(
            "id = $1 AND (revoked_at IS NULL OR revoked_at > $2) AND EXISTS \
             (SELECT 1 FROM {} o WHERE o.id = organization_id AND o.closed_at IS NULL)",
            self.orgs
        );
        let rows = self
            .rows(
                &condition,
                vec![SqlParam::Text(id.to_owned()), SqlParam::At(now)],
            )
            .await?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let matches = self
            .config
            .verifier()
            .token_digests(HASH_PURPOSE, presented)
            .iter()
            .any(|digest| secure_compare(digest.as_bytes(), row.digest.as_bytes()));
        if !matches {
            return Ok(None);
        }
        let stale = row
            .last_used_at
            .is_none_or(|at| now - at > chrono::Duration::seconds(60));
        if stale {
            let sql = format!("UPDATE {} SET last_used_at = $1 WHERE id = $2", self.table);
            self.execute(sql, vec![SqlParam::At(now), SqlParam::Text(row.id.clone())])
                .await?;
        }
        Ok(Some(row.info()))
    }
}

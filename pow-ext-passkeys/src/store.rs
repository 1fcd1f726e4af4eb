//! The `passkeys` table.

use ::diesel::connection::Connection;
use ::diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::users::diesel::{query_error, Database, Tables};
use pow_core::{PowConfig, PowError};
use serde::Serialize;
use webauthn_rs::prelude::Credential;

use crate::PasskeyError;

/// The storage format of [`StoredPasskey::credential`] this release writes: `1`, the
/// relying party's credential record of webauthn-rs 0.6 as JSON. Every format a release
/// wrote stays readable; `tests/fixtures` holds a row of each.
pub const FORMAT: i32 = 1;

/// What a stored credential is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A passkey: signs in alone, with user verification (PIN, biometrics).
    Passkey,
    /// A security key: only ever a second factor, user verification not required.
    SecurityKey,
}

impl Kind {
    /// Its name in the table and in JSON (`"passkey"`, `"security_key"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::SecurityKey => "security_key",
        }
    }

    /// The kind named `name`; anything unknown is a security key (a second factor only,
    /// never a sign-in of its own).
    pub fn parse(name: &str) -> Self {
        if name == "passkey" {
            Self::Passkey
        } else {
            Self::SecurityKey
        }
    }
}

/// One passkey of a user, as stored.
#[derive(Clone, Debug, Serialize)]
pub struct StoredPasskey {
    /// Its row id (what the pages and endpoints name it by).
    pub id: i64,
    /// The user it signs in.
    #[serde(skip)]
    pub user_id: i64,
    /// The credential's id, base64url.
    pub credential_id: String,
    /// The random handle authenticators keep for the user.
    #[serde(skip)]
    pub user_handle: String,
    /// The name its owner gave it.
    pub name: String,
    /// What it is for: signing in alone, or only as a second factor.
    pub kind: Kind,
    /// The site (relying party id) it was made for: it signs in only there.
    pub rp_id: String,
    /// The storage format of `credential`.
    #[serde(skip)]
    pub format: i32,
    /// The credential record (public key, counter, flags), in `format`.
    #[serde(skip)]
    pub credential: String,
    /// The signature counter last seen (0: the authenticator keeps none).
    pub sign_count: i64,
    /// Whether its enrolment verified the user (PIN, biometrics).
    pub user_verified: bool,
    /// Whether it may be synced to other devices.
    pub backup_eligible: bool,
    /// Whether it is synced (backed up) now.
    pub backup_state: bool,
    /// How the browser can reach it (`usb`, `internal`, `hybrid`, …), if it said.
    pub transports: Vec<String>,
    /// The authenticator model's AAGUID, when its attestation named one.
    pub aaguid: Option<String>,
    /// When it was enrolled.
    #[serde(rename = "created_at")]
    pub inserted_at: DateTime<Utc>,
    /// When it last signed in.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl StoredPasskey {
    /// The credential record, read from its storage format.
    ///
    /// # Errors
    /// [`PasskeyError::UnreadableCredential`] for a format this release does not know or a
    /// record it cannot read.
    pub fn read_credential(&self) -> Result<Credential, PasskeyError> {
        match self.format {
            FORMAT => serde_json::from_str(&self.credential)
                .map_err(|err| PasskeyError::UnreadableCredential(err.to_string())),
            other => Err(PasskeyError::UnreadableCredential(format!(
                "unknown storage format {other}"
            ))),
        }
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    credential_id: String,
    #[diesel(sql_type = Text)]
    user_handle: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    rp_id: String,
    #[diesel(sql_type = Integer)]
    format: i32,
    #[diesel(sql_type = Text)]
    credential: String,
    #[diesel(sql_type = BigInt)]
    sign_count: i64,
    #[diesel(sql_type = Bool)]
    user_verified: bool,
    #[diesel(sql_type = Bool)]
    backup_eligible: bool,
    #[diesel(sql_type = Bool)]
    backup_state: bool,
    #[diesel(sql_type = Nullable<Text>)]
    transports: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    aaguid: Option<String>,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_used_at: Option<NaiveDateTime>,
}

impl From<Row> for StoredPasskey {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            credential_id: row.credential_id,
            user_handle: row.user_handle,
            name: row.name,
            kind: Kind::parse(&row.kind),
            rp_id: row.rp_id,
            format: row.format,
            credential: row.credential,
            sign_count: row.sign_count,
            user_verified: row.user_verified,
            backup_eligible: row.backup_eligible,
            backup_state: row.backup_state,
            transports: row
                .transports
                .map(|list| list.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            aaguid: row.aaguid,
            inserted_at: row.inserted_at.and_utc(),
            last_used_at: row.last_used_at.map(|at| at.and_utc()),
        }
    }
}

/// A passkey to store.
#[derive(Clone, Debug)]
pub(crate) struct NewPasskey {
    pub(crate) user_id: i64,
    pub(crate) credential_id: String,
    pub(crate) user_handle: String,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) rp_id: String,
    pub(crate) credential: String,
    pub(crate) sign_count: i64,
    pub(crate) user_verified: bool,
    pub(crate) backup_eligible: bool,
    pub(crate) backup_state: bool,
    pub(crate) transports: Option<String>,
    pub(crate) aaguid: Option<String>,
}

/// What came of a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deleted {
    Done,
    /// The user has no such passkey.
    NotFound,
    /// It is the last way into an account without a password.
    Last,
}

/// The table, on the users context's pool and schema. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Passkeys {
    tables: Tables,
    table: String,
    users: String,
}

const COLUMNS: &str = "id, user_id, credential_id, user_handle, name, kind, rp_id, format, \
                       credential, \
                       sign_count, user_verified, backup_eligible, backup_state, transports, \
                       aaguid, inserted_at, last_used_at";

use pow_core::with_connection as with_conn;

impl Passkeys {
    /// The table beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub(crate) fn new(config: &PowConfig) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-passkeys (the `passkeys` table)")?;
        let table = tables.table("passkeys");
        let users = tables.table("users");
        Ok(Self {
            tables,
            table,
            users,
        })
    }

    /// The user's passkeys, oldest first.
    pub(crate) async fn for_user(&self, user_id: i64) -> Result<Vec<StoredPasskey>, PowError> {
        let this = self.clone();
        self.tables
            .run(move |db| this.select(db, "user_id = $1 ORDER BY id", user_id))
            .await
    }

    /// The passkey `id` of the user.
    pub(crate) async fn get(
        &self,
        id: i64,
        user_id: i64,
    ) -> Result<Option<StoredPasskey>, PowError> {
        Ok(self
            .for_user(user_id)
            .await?
            .into_iter()
            .find(|passkey| passkey.id == id))
    }

    /// The passkey whose credential id is `credential_id` (base64url), whoever owns it.
    pub(crate) async fn by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<StoredPasskey>, PowError> {
        let (this, credential_id) = (self.clone(), credential_id.to_owned());
        self.tables
            .run(move |db| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM {} WHERE credential_id = $1",
                    this.table
                );
                let rows: Vec<Row> = with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Text, _>(&credential_id)
                    .load(conn)
                    .map_err(query_error))?;
                Ok(rows.into_iter().next().map(StoredPasskey::from))
            })
            .await
    }

    fn select(
        &self,
        db: &Database,
        condition: &str,
        user_id: i64,
    ) -> Result<Vec<StoredPasskey>, PowError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE {condition}", self.table);
        let rows: Vec<Row> = with_conn!(db, conn => ::diesel::sql_query(&sql)
            .bind::<BigInt, _>(user_id)
            .load(conn)
            .map_err(query_error))?;
        Ok(rows.into_iter().map(StoredPasskey::from).collect())
    }

    /// Stores `new`; `None` when its credential id is stored already (for any user: the
    /// unique index decides between concurrent enrolments).
    pub(crate) async fn insert(&self, new: NewPasskey) -> Result<Option<i64>, PowError> {
        let this = self.clone();
        self.tables.run(move |db| this.insert_now(db, &new)).await
    }

    fn insert_now(&self, db: &Database, new: &NewPasskey) -> Result<Option<i64>, PowError> {
        let sql = format!(
            "INSERT INTO {} (user_id, credential_id, user_handle, name, kind, rp_id, format, \
             credential, sign_count, user_verified, backup_eligible, backup_state, transports, \
             aaguid, inserted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            self.table
        );
        let now = Utc::now().naive_utc();
        let result: Result<usize, ::diesel::result::Error> = with_conn!(db, conn => Ok(::diesel::sql_query(&sql)
            .bind::<BigInt, _>(new.user_id)
            .bind::<Text, _>(&new.credential_id)
            .bind::<Text, _>(&new.user_handle)
            .bind::<Text, _>(&new.name)
            .bind::<Text, _>(new.kind.as_str())
            .bind::<Text, _>(&new.rp_id)
            .bind::<Integer, _>(FORMAT)
            .bind::<Text, _>(&new.credential)
            .bind::<BigInt, _>(new.sign_count)
            .bind::<Bool, _>(new.user_verified)
            .bind::<Bool, _>(new.backup_eligible)
            .bind::<Bool, _>(new.backup_state)
            .bind::<Nullable<Text>, _>(new.transports.as_deref())
            .bind::<Nullable<Text>, _>(new.aaguid.as_deref())
            .bind::<Timestamp, _>(now)
            .execute(conn)))?;
        match result {
            Ok(_) => {}
            Err(::diesel::result::Error::DatabaseError(
                ::diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => return Ok(None),
            Err(err) => return Err(query_error(err)),
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE credential_id = $1",
            self.table
        );
        let rows: Vec<Row> = with_conn!(db, conn => ::diesel::sql_query(&sql)
            .bind::<Text, _>(&new.credential_id)
            .load(conn)
            .map_err(query_error))?;
        Ok(rows.into_iter().next().map(|row| row.id))
    }

    /// Renames the user's passkey `id`; `false` when the user has no such passkey.
    pub(crate) async fn rename(&self, id: i64, user_id: i64, name: &str) -> Result<bool, PowError> {
        let (this, name) = (self.clone(), name.to_owned());
        self.tables
            .run(move |db| {
                let sql = format!(
                    "UPDATE {} SET name = $1 WHERE id = $2 AND user_id = $3",
                    this.table
                );
                let updated: usize = with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Text, _>(&name)
                    .bind::<BigInt, _>(id)
                    .bind::<BigInt, _>(user_id)
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(updated > 0)
            })
            .await
    }

    /// Deletes the user's passkey `id`, unless it is the last one of an account without a
    /// password (`keep_last`). The check and the delete run in one transaction holding the
    /// user's row, so two concurrent deletes cannot remove the last two.
    pub(crate) async fn delete(
        &self,
        id: i64,
        user_id: i64,
        keep_last: bool,
    ) -> Result<Deleted, PowError> {
        let this = self.clone();
        self.tables
            .run(move |db| {
                let lock = format!("SELECT id FROM {} WHERE id = $1 FOR UPDATE", this.users);
                let count = format!(
                    "SELECT {COLUMNS} FROM {} WHERE user_id = $1 ORDER BY id",
                    this.table
                );
                let delete = format!("DELETE FROM {} WHERE id = $1 AND user_id = $2", this.table);
                // Two concurrent deletes cannot both pass the count: PostgreSQL holds the
                // user's row for the count and the delete; SQLite has one writer, and a
                // transaction whose read went stale fails rather than write.
                let lock_row = db.is_postgres();
                with_conn!(db, conn => conn
                    .transaction::<Deleted, ::diesel::result::Error, _>(|conn| {
                        if lock_row {
                            ::diesel::sql_query(&lock)
                                .bind::<BigInt, _>(user_id)
                                .execute(conn)?;
                        }
                        let rows: Vec<Row> = ::diesel::sql_query(&count)
                            .bind::<BigInt, _>(user_id)
                            .load(conn)?;
                        if !rows.iter().any(|row| row.id == id) {
                            return Ok(Deleted::NotFound);
                        }
                        if keep_last && rows.len() <= 1 {
                            return Ok(Deleted::Last);
                        }
                        ::diesel::sql_query(&delete)
                            .bind::<BigInt, _>(id)
                            .bind::<BigInt, _>(user_id)
                            .execute(conn)?;
                        Ok(Deleted::Done)
                    })
                    .map_err(query_error))
            })
            .await
    }

    /// Records a sign-in with passkey `id`: its counter moves from `seen` to `count` and its
    /// record is replaced, only if the counter still is `seen` (compare and swap). `false`
    /// when another sign-in moved it first.
    pub(crate) async fn record_use(
        &self,
        id: i64,
        seen: i64,
        count: i64,
        backup_state: bool,
        credential: String,
    ) -> Result<bool, PowError> {
        let this = self.clone();
        self.tables
            .run(move |db| {
                let sql = format!(
                    "UPDATE {} SET sign_count = $1, backup_state = $2, credential = $3, \
                     format = $4, last_used_at = $5 WHERE id = $6 AND sign_count = $7",
                    this.table
                );
                let now = Utc::now().naive_utc();
                let updated: usize = with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<BigInt, _>(count)
                    .bind::<Bool, _>(backup_state)
                    .bind::<Text, _>(&credential)
                    .bind::<Integer, _>(FORMAT)
                    .bind::<Timestamp, _>(now)
                    .bind::<BigInt, _>(id)
                    .bind::<BigInt, _>(seen)
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(updated > 0)
            })
            .await
    }

    /// Deletes every passkey of the user.
    pub(crate) async fn delete_all(&self, user_id: i64) -> Result<usize, PowError> {
        let this = self.clone();
        self.tables
            .run(move |db| {
                let sql = format!("DELETE FROM {} WHERE user_id = $1", this.table);
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<BigInt, _>(user_id)
                    .execute(conn)
                    .map_err(query_error))
            })
            .await
    }
}

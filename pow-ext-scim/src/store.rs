//! The `scim_users` and `scim_groups` tables: what an organization's provider wrote, kept
//! as its SCIM resources (their attributes beyond the account's), with the columns lookups
//! and the uniqueness rules need.

use ::diesel::result::{DatabaseErrorKind, Error as DieselError};
use ::diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::users::diesel::{query_error, SqlParam, Tables};
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use serde_json::Value;

use crate::tokens::now;

/// A provisioned user of an organization.
#[derive(Clone, Debug, PartialEq)]
pub struct ScimUser {
    /// Its SCIM id (random).
    pub id: String,
    /// The organization.
    pub organization_id: String,
    /// The account it stands for.
    pub user_id: i64,
    /// `userName`.
    pub user_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `active`.
    pub active: bool,
    /// The provisioning made the account (deactivating it disables it, where the setup
    /// lets accounts be disabled).
    pub managed: bool,
    /// The resource as last written (without `id` and `meta`).
    pub resource: Value,
    /// Its version, for `meta.version` (the ETag).
    pub version: i64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A pushed group of an organization.
#[derive(Clone, Debug, PartialEq)]
pub struct ScimGroup {
    /// Its SCIM id (random).
    pub id: String,
    /// The organization.
    pub organization_id: String,
    /// `displayName`.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The organization role its members get (set by the organization's admins).
    pub role: Option<String>,
    /// The team its members are put in (set by the organization's admins).
    pub team_id: Option<String>,
    /// The resource as last written (its `members` among it).
    pub resource: Value,
    /// Its version.
    pub version: i64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl ScimGroup {
    /// The SCIM ids of its members.
    pub fn member_ids(&self) -> Vec<String> {
        self.resource
            .get("members")
            .and_then(Value::as_array)
            .map(|members| {
                members
                    .iter()
                    .filter_map(|member| member.get("value").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    organization_id: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    user_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Bool)]
    active: bool,
    #[diesel(sql_type = Bool)]
    managed: bool,
    #[diesel(sql_type = Text)]
    resource: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
}

impl From<UserRow> for ScimUser {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            user_id: row.user_id,
            user_name: row.user_name,
            external_id: row.external_id,
            active: row.active,
            managed: row.managed,
            resource: serde_json::from_str(&row.resource).unwrap_or(Value::Null),
            version: row.version,
            created_at: row.inserted_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

#[derive(QueryableByName)]
struct GroupRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    organization_id: String,
    #[diesel(sql_type = Text)]
    display_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    role: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    team_id: Option<String>,
    #[diesel(sql_type = Text)]
    resource: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
}

impl From<GroupRow> for ScimGroup {
    fn from(row: GroupRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            display_name: row.display_name,
            external_id: row.external_id,
            role: row.role,
            team_id: row.team_id,
            resource: serde_json::from_str(&row.resource).unwrap_or(Value::Null),
            version: row.version,
            created_at: row.inserted_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

const USER_COLUMNS: &str = "id, organization_id, user_id, user_name, external_id, active, \
    managed, resource, version, inserted_at, updated_at";
const GROUP_COLUMNS: &str = "id, organization_id, display_name, external_id, role, team_id, \
    resource, version, inserted_at, updated_at";

/// A write refused by a uniqueness rule (`userName` or the account taken in the
/// organization, a group's `displayName`), or by a version that moved on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// Another resource of the organization has that value.
    Taken,
    /// The resource changed since it was read (or is gone).
    Changed,
}

/// The tables. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    tables: Tables,
    users: String,
    groups: String,
    /// The most rows a list reads.
    max_rows: usize,
}

impl Store {
    /// The tables beside `config`'s users table; lists read at most `max_rows` rows.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub fn new(config: &PowConfig, max_rows: usize) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-scim (the `scim_users` table)")?;
        Ok(Self {
            users: tables.table("scim_users"),
            groups: tables.table("scim_groups"),
            tables,
            max_rows,
        })
    }

    async fn user_rows(
        &self,
        condition: &str,
        params: Vec<SqlParam>,
    ) -> Result<Vec<ScimUser>, PowError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM {} WHERE {condition} LIMIT {}",
            self.users, self.max_rows
        );
        let rows: Vec<UserRow> = self
            .tables
            .run(move |db| -> Result<Vec<UserRow>, PowError> {
                with_conn!(db, conn => pow_core::sql_bound!(conn, &sql, params).load::<UserRow>(conn).map_err(query_error))
            })
            .await?;
        Ok(rows.into_iter().map(ScimUser::from).collect())
    }

    async fn group_rows(
        &self,
        condition: &str,
        params: Vec<SqlParam>,
    ) -> Result<Vec<ScimGroup>, PowError> {
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM {} WHERE {condition} LIMIT {}",
            self.groups, self.max_rows
        );
        let rows: Vec<GroupRow> = self
            .tables
            .run(move |db| -> Result<Vec<GroupRow>, PowError> {
                with_conn!(db, conn => pow_core::sql_bound!(conn, &sql, params).load::<GroupRow>(conn).map_err(query_error))
            })
            .await?;
        Ok(rows.into_iter().map(ScimGroup::from).collect())
    }

    /// Runs a write: the rows it changed, or `None` when a uniqueness rule refused it.
    async fn write(&self, sql: String, params: Vec<SqlParam>) -> Result<Option<usize>, PowError> {
        self.tables
            .run(move |db| -> Result<Option<usize>, PowError> {
                with_conn!(db, conn => match pow_core::sql_bound!(conn, &sql, params).execute(conn) {
                    Ok(changed) => Ok(Some(changed)),
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
                    Err(err) => Err(query_error(err)),
                })
            })
            .await
    }

    /// The organization's users, oldest first (at most the store's row limit).
    ///
    /// # Errors
    /// The database's.
    pub async fn users(&self, org_id: &str) -> Result<Vec<ScimUser>, PowError> {
        self.user_rows(
            "organization_id = $1 ORDER BY inserted_at, id",
            vec![SqlParam::Text(org_id.to_owned())],
        )
        .await
    }

    /// The organization's user `id`.
    ///
    /// # Errors
    /// The database's.
    pub async fn user(&self, org_id: &str, id: &str) -> Result<Option<ScimUser>, PowError> {
        Ok(self
            .user_rows(
                "organization_id = $1 AND id = $2",
                vec![
                    SqlParam::Text(org_id.to_owned()),
                    SqlParam::Text(id.to_owned()),
                ],
            )
            .await?
            .into_iter()
            .next())
    }

    /// The provisioned users that stand for account `user_id`, in any organization.
    ///
    /// # Errors
    /// The database's.
    pub async fn users_of_account(&self, user_id: i64) -> Result<Vec<ScimUser>, PowError> {
        self.user_rows("user_id = $1", vec![SqlParam::Int(user_id)])
            .await
    }

    /// Keeps a new provisioned user.
    pub(crate) async fn insert_user(
        &self,
        user: &ScimUser,
    ) -> Result<Result<(), Conflict>, PowError> {
        let sql = format!(
            "INSERT INTO {} ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            self.users
        );
        let at = now();
        let written = self
            .write(
                sql,
                vec![
                    SqlParam::Text(user.id.clone()),
                    SqlParam::Text(user.organization_id.clone()),
                    SqlParam::Int(user.user_id),
                    SqlParam::Text(user.user_name.clone()),
                    SqlParam::OptText(user.external_id.clone()),
                    SqlParam::Bool(user.active),
                    SqlParam::Bool(user.managed),
                    SqlParam::Text(user.resource.to_string()),
                    SqlParam::Int(1),
                    SqlParam::At(at),
                    SqlParam::At(at),
                ],
            )
            .await?;
        Ok(written.map(drop).ok_or(Conflict::Taken))
    }

    /// Writes `user` over the stored one of its `version` (bumping it).
    pub(crate) async fn update_user(
        &self,
        user: &ScimUser,
    ) -> Result<Result<(), Conflict>, PowError> {
        let sql = format!(
            "UPDATE {} SET user_name = $1, external_id = $2, active = $3, resource = $4, \
             version = version + 1, updated_at = $5 \
             WHERE organization_id = $6 AND id = $7 AND version = $8",
            self.users
        );
        let written = self
            .write(
                sql,
                vec![
                    SqlParam::Text(user.user_name.clone()),
                    SqlParam::OptText(user.external_id.clone()),
                    SqlParam::Bool(user.active),
                    SqlParam::Text(user.resource.to_string()),
                    SqlParam::At(now()),
                    SqlParam::Text(user.organization_id.clone()),
                    SqlParam::Text(user.id.clone()),
                    SqlParam::Int(user.version),
                ],
            )
            .await?;
        Ok(match written {
            None => Err(Conflict::Taken),
            Some(0) => Err(Conflict::Changed),
            Some(_) => Ok(()),
        })
    }

    /// Forgets the organization's user `id`; `false` when there is none.
    pub(crate) async fn delete_user(&self, org_id: &str, id: &str) -> Result<bool, PowError> {
        let sql = format!(
            "DELETE FROM {} WHERE organization_id = $1 AND id = $2",
            self.users
        );
        let written = self
            .write(
                sql,
                vec![
                    SqlParam::Text(org_id.to_owned()),
                    SqlParam::Text(id.to_owned()),
                ],
            )
            .await?;
        Ok(written.unwrap_or(0) > 0)
    }

    /// Forgets every provisioned user of account `user_id` (an erased account).
    pub(crate) async fn forget_account(&self, user_id: i64) -> Result<(), PowError> {
        let sql = format!("DELETE FROM {} WHERE user_id = $1", self.users);
        self.write(sql, vec![SqlParam::Int(user_id)])
            .await
            .map(drop)
    }

    /// The organization's groups, oldest first.
    ///
    /// # Errors
    /// The database's.
    pub async fn groups(&self, org_id: &str) -> Result<Vec<ScimGroup>, PowError> {
        self.group_rows(
            "organization_id = $1 ORDER BY inserted_at, id",
            vec![SqlParam::Text(org_id.to_owned())],
        )
        .await
    }

    /// The organization's group `id`.
    ///
    /// # Errors
    /// The database's.
    pub async fn group(&self, org_id: &str, id: &str) -> Result<Option<ScimGroup>, PowError> {
        Ok(self
            .group_rows(
                "organization_id = $1 AND id = $2",
                vec![
                    SqlParam::Text(org_id.to_owned()),
                    SqlParam::Text(id.to_owned()),
                ],
            )
            .await?
            .into_iter()
            .next())
    }

    /// Keeps a new group.
    pub(crate) async fn insert_group(
        &self,
        group: &ScimGroup,
    ) -> Result<Result<(), Conflict>, PowError> {
        let sql = format!(
            "INSERT INTO {} ({GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            self.groups
        );
        let at = now();
        let written = self
            .write(
                sql,
                vec![
                    SqlParam::Text(group.id.clone()),
                    SqlParam::Text(group.organization_id.clone()),
                    SqlParam::Text(group.display_name.clone()),
                    SqlParam::OptText(group.external_id.clone()),
                    SqlParam::OptText(group.role.clone()),
                    SqlParam::OptText(group.team_id.clone()),
                    SqlParam::Text(group.resource.to_string()),
                    SqlParam::Int(1),
                    SqlParam::At(at),
                    SqlParam::At(at),
                ],
            )
            .await?;
        Ok(written.map(drop).ok_or(Conflict::Taken))
    }

    /// Writes `group` over the stored one of its `version` (its role stays the admins').
    pub(crate) async fn update_group(
        &self,
        group: &ScimGroup,
    ) -> Result<Result<(), Conflict>, PowError> {
        let sql = format!(
            "UPDATE {} SET display_name = $1, external_id = $2, resource = $3, \
             version = version + 1, updated_at = $4 \
             WHERE organization_id = $5 AND id = $6 AND version = $7",
            self.groups
        );
        let written = self
            .write(
                sql,
                vec![
                    SqlParam::Text(group.display_name.clone()),
                    SqlParam::OptText(group.external_id.clone()),
                    SqlParam::Text(group.resource.to_string()),
                    SqlParam::At(now()),
                    SqlParam::Text(group.organization_id.clone()),
                    SqlParam::Text(group.id.clone()),
                    SqlParam::Int(group.version),
                ],
            )
            .await?;
        Ok(match written {
            None => Err(Conflict::Taken),
            Some(0) => Err(Conflict::Changed),
            Some(_) => Ok(()),
        })
    }

    /// Maps the organization's group `id` onto `role` (`None`: no role).
    pub(crate) async fn set_group_role(
        &self,
        org_id: &str,
        id: &str,
        role: Option<String>,
    ) -> Result<bool, PowError> {
        self.set_group_column(org_id, id, "role", role).await
    }

    /// Maps the organization's group `id` onto team `team_id` (`None`: no team).
    pub(crate) async fn set_group_team(
        &self,
        org_id: &str,
        id: &str,
        team_id: Option<String>,
    ) -> Result<bool, PowError> {
        self.set_group_column(org_id, id, "team_id", team_id).await
    }

    async fn set_group_column(
        &self,
        org_id: &str,
        id: &str,
        column: &'static str,
        role: Option<String>,
    ) -> Result<bool, PowError> {
        let sql = format!(
            "UPDATE {} SET {column} = $1, updated_at = $2 WHERE organization_id = $3 AND id = $4",
            self.groups
        );
        let written = self
            .write(
                sql,
                vec![
                    SqlParam::OptText(role),
                    SqlParam::At(now()),
                    SqlParam::Text(org_id.to_owned()),
                    SqlParam::Text(id.to_owned()),
                ],
            )
            .await?;
        Ok(written.unwrap_or(0) > 0)
    }

    /// Forgets the organization's group `id`; `false` when there is none.
    pub(crate) async fn delete_group(&self, org_id: &str, id: &str) -> Result<bool, PowError> {
        let sql = format!(
            "DELETE FROM {} WHERE organization_id = $1 AND id = $2",
            self.groups
        );
        let written = self
            .write(
                sql,
                vec![
                    SqlParam::Text(org_id.to_owned()),
                    SqlParam::Text(id.to_owned()),
                ],
            )
            .await?;
        Ok(written.unwrap_or(0) > 0)
    }
}

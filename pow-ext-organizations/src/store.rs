//! The `organizations`, `organization_members` and `organization_invitations` tables.
//!
//! Every change of who owns an organization (a role change, a removal, leaving, erasing
//! an account) runs in one transaction that first writes the organization's row: a row
//! lock on PostgreSQL, the database's write lock on SQLite. Of concurrent changes each then
//! counts the owners left after the one before it, so the last owner always stays.

use ::diesel::backend::Backend;
use ::diesel::connection::Connection;
use ::diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use ::diesel::query_dsl::methods::ExecuteDsl;
use ::diesel::query_dsl::LoadQuery;
use ::diesel::result::{DatabaseErrorKind, Error as DieselError};
use ::diesel::serialize::ToSql;
use ::diesel::sql_types::{BigInt, HasSqlType, Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::users::diesel::{query_error, Tables};
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use serde::Serialize;

use crate::{Organizations, OWNER};

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Organization {
    /// Its id (random, stable).
    pub id: String,
    /// Its unique slug, in links.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was closed, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

/// A user's membership: the organization and their role in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Membership {
    /// The organization.
    pub organization: Organization,
    /// The member's role.
    pub role: String,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
    /// When they last made it their active organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<DateTime<Utc>>,
}

/// A member of an organization, as its member list shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The user's id.
    pub user_id: i64,
    /// Their address, if they have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Their role.
    pub role: String,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}

/// An invitation, as stored (never its link).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Invitation {
    /// Its id: names it in lists and to revoke it, never a link.
    pub id: String,
    /// The organization's id.
    #[serde(skip)]
    pub organization_id: String,
    /// The invited address.
    pub email: String,
    /// The role it grants.
    pub role: String,
    /// Who invited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<i64>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its links stop working.
    pub expires_at: DateTime<Utc>,
    /// When it was accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Invitation {
    /// Whether it can still be accepted at `now`.
    pub fn is_pending(&self, now: DateTime<Utc>) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A bound value.
#[derive(Clone, Debug)]
pub(crate) enum P {
    Text(String),
    Int(Option<i64>),
    At(Option<NaiveDateTime>),
}

impl From<&str> for P {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for P {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<i64> for P {
    fn from(id: i64) -> Self {
        Self::Int(Some(id))
    }
}

impl From<DateTime<Utc>> for P {
    fn from(at: DateTime<Utc>) -> Self {
        Self::At(Some(at.naive_utc()))
    }
}

/// `sql` with `params` bound in order (`$1`, `$2`, ... written in the order they appear:
/// SQLite numbers them so).
pub(crate) fn bound<DB>(sql: &str, params: &[P]) -> BoxedSqlQuery<'static, DB, SqlQuery>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    String: ToSql<Text, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
{
    let mut query = ::diesel::sql_query(sql.to_owned()).into_boxed::<DB>();
    for param in params {
        query = match param.clone() {
            P::Text(text) => query.bind::<Text, _>(text),
            P::Int(id) => query.bind::<Nullable<BigInt>, _>(id),
            P::At(at) => query.bind::<Nullable<Timestamp>, _>(at),
        };
    }
    query
}

/// Runs a statement; how many rows it changed.
pub(crate) fn execute<C>(conn: &mut C, sql: &str, params: &[P]) -> Result<usize, DieselError>
where
    C: Connection,
    C::Backend: HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    String: ToSql<Text, C::Backend>,
    Option<i64>: ToSql<Nullable<BigInt>, C::Backend>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, C::Backend>,
    BoxedSqlQuery<'static, C::Backend, SqlQuery>: ExecuteDsl<C>,
{
    bound::<C::Backend>(sql, params).execute(conn)
}

/// Runs a query and reads its rows.
pub(crate) fn load<C, R>(conn: &mut C, sql: &str, params: &[P]) -> Result<Vec<R>, DieselError>
where
    C: Connection,
    C::Backend: HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    String: ToSql<Text, C::Backend>,
    Option<i64>: ToSql<Nullable<BigInt>, C::Backend>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, C::Backend>,
    for<'a> BoxedSqlQuery<'static, C::Backend, SqlQuery>: LoadQuery<'a, C, R>,
{
    bound::<C::Backend>(sql, params).load(conn)
}

#[derive(QueryableByName)]
struct OrgRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    closed_at: Option<NaiveDateTime>,
}

impl From<OrgRow> for Organization {
    fn from(row: OrgRow) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            created_at: row.inserted_at.and_utc(),
            closed_at: row.closed_at.map(|at| at.and_utc()),
        }
    }
}

#[derive(QueryableByName)]
struct MembershipRow {
    #[diesel(embed)]
    org: OrgRow,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Timestamp)]
    joined_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    activated_at: Option<NaiveDateTime>,
}

impl From<MembershipRow> for Membership {
    fn from(row: MembershipRow) -> Self {
        Self {
            organization: row.org.into(),
            role: row.role,
            joined_at: row.joined_at.and_utc(),
            activated_at: row.activated_at.map(|at| at.and_utc()),
        }
    }
}

#[derive(QueryableByName)]
struct MemberRow {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
}

#[derive(QueryableByName)]
struct InvitationRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    organization_id: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    invited_by: Option<i64>,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    expires_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    accepted_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    revoked_at: Option<NaiveDateTime>,
}

impl From<InvitationRow> for Invitation {
    fn from(row: InvitationRow) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            email: row.email,
            role: row.role,
            invited_by: row.invited_by,
            created_at: row.inserted_at.and_utc(),
            expires_at: row.expires_at.and_utc(),
            accepted_at: row.accepted_at.map(|at| at.and_utc()),
            revoked_at: row.revoked_at.map(|at| at.and_utc()),
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

const ORG: &str = "o.id, o.slug, o.name, o.inserted_at, o.closed_at";
const INVITATION: &str = "id, organization_id, email, role, invited_by, inserted_at, \
                          expires_at, accepted_at, revoked_at";

/// A change of one member, decided and applied under the organization's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Their role becomes this.
    Role(String),
    /// They are removed (or leave).
    Remove,
}

/// Why a change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The organization, or the member, does not exist (or the actor is not a member).
    NotFound,
    /// The actor may not: a missing permission, or a target ranked at or above them.
    Forbidden,
    /// It would leave the organization without an owner.
    LastOwner,
    /// The role is not one the app declares.
    UnknownRole,
    /// The organization has as many members (or pending invitations) as it may.
    Full,
    /// The invited address is not an address.
    InvalidEmail,
    /// Another extension's [`InvitationRule`](crate::InvitationRule) refuses the address:
    /// the message key of why.
    ByRule(&'static str),
}

/// What joining (through an invitation or a domain) came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Joined {
    /// The user is a member now, with this role.
    Member(String),
    /// The user already was one (the invitation is used up).
    Already,
    /// The invitation is no longer pending.
    Gone,
    /// The organization is full.
    Full,
}

/// The tables, on the users context's pool and schema. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) tables: Tables,
    pub(crate) orgs: String,
    pub(crate) members: String,
    invitations: String,
    pub(crate) teams: String,
    pub(crate) team_members: String,
}

/// Now, to the second (as the tables keep it).
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

/// The statement that locks organization `$1` for the rest of the transaction.
pub(crate) fn lock_sql(orgs: &str) -> String {
    format!("UPDATE {orgs} SET updated_at = updated_at WHERE id = $1")
}

impl Store {
    /// The tables beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub(crate) fn new(config: &PowConfig) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-organizations (the `organizations` tables)")?;
        Ok(Self {
            orgs: tables.table("organizations"),
            members: tables.table("organization_members"),
            invitations: tables.table("organization_invitations"),
            teams: tables.table("organization_teams"),
            team_members: tables.table("organization_team_members"),
            tables,
        })
    }

    /// Reads organizations.
    async fn orgs(&self, condition: String, params: Vec<P>) -> Result<Vec<Organization>, PowError> {
        let sql = format!("SELECT {ORG} FROM {} o WHERE {condition}", self.orgs);
        let rows: Vec<OrgRow> = self.rows(sql, params).await?;
        Ok(rows.into_iter().map(Organization::from).collect())
    }

    /// Runs a query and reads its rows, off the async executor.
    pub(crate) async fn rows<R>(&self, sql: String, params: Vec<P>) -> Result<Vec<R>, PowError>
    where
        R: pow_core::users::diesel::QueryRow + Send + 'static,
    {
        self.tables
            .run(move |db| with_conn!(db, conn => load(conn, &sql, &params).map_err(query_error)))
            .await
    }

    /// The members of `rows` (`(user_id, role, joined)`), with their addresses read from
    /// the users table in one blocking task.
    pub(crate) async fn with_emails(
        config: &PowConfig,
        rows: Vec<(i64, String, NaiveDateTime)>,
    ) -> Result<Vec<Member>, PowError> {
        config
            .users()?
            .run(move |users, cfg| {
                let mut members = Vec::with_capacity(rows.len());
                for (user_id, role, joined) in rows {
                    let email = users
                        .get(cfg.user_schema(), user_id)?
                        .and_then(|user| user.email().map(str::to_owned));
                    members.push(Member {
                        user_id,
                        email,
                        role,
                        joined_at: joined.and_utc(),
                    });
                }
                Ok(members)
            })
            .await
    }

    /// Runs one statement; how many rows it changed.
    pub(crate) async fn exec(&self, sql: String, params: Vec<P>) -> Result<usize, PowError> {
        self.tables
            .run(
                move |db| with_conn!(db, conn => execute(conn, &sql, &params).map_err(query_error)),
            )
            .await
    }

    /// The statement taking user `$1` out of every team of organization `$2`.
    fn leave_teams_sql(&self) -> String {
        format!(
            "DELETE FROM {} WHERE user_id = $1 AND team_id IN \
             (SELECT id FROM {} WHERE organization_id = $2)",
            self.team_members, self.teams
        )
    }

    /// The open organization of `slug`.
    pub(crate) async fn by_slug(&self, slug: &str) -> Result<Option<Organization>, PowError> {
        let found = self
            .orgs(
                "o.slug = $1 AND o.closed_at IS NULL".into(),
                vec![slug.into()],
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// The open organization `id`.
    pub(crate) async fn by_id(&self, id: &str) -> Result<Option<Organization>, PowError> {
        let found = self
            .orgs("o.id = $1 AND o.closed_at IS NULL".into(), vec![id.into()])
            .await?;
        Ok(found.into_iter().next())
    }

    /// Creates `org` with `owner` as its owner; `false` when its slug is taken.
    pub(crate) async fn create(&self, org: Organization, owner: i64) -> Result<bool, PowError> {
        let insert_org = format!(
            "INSERT INTO {} (id, slug, name, inserted_at, updated_at, closed_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
            self.orgs
        );
        let insert_member = format!(
            "INSERT INTO {} (organization_id, user_id, role, inserted_at, activated_at) \
             VALUES ($1, $2, $3, $4, $5)",
            self.members
        );
        self.tables
            .run(move |db| {
                let at = P::from(org.created_at);
                with_conn!(db, conn => {
                    let result = conn.transaction::<_, DieselError, _>(|conn| {
                        execute(conn, &insert_org, &[
                            org.id.as_str().into(), org.slug.as_str().into(),
                            org.name.as_str().into(), at.clone(), at.clone(),
                        ])?;
                        execute(conn, &insert_member, &[
                            org.id.as_str().into(), owner.into(), OWNER.into(), at.clone(),
                            at.clone(),
                        ])
                    });
                    match result {
                        Ok(_) => Ok(true),
                        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                            Ok(false)
                        }
                        Err(err) => Err(query_error(err)),
                    }
                })
            })
            .await
    }

    /// `user_id`'s memberships in open organizations, by name.
    pub(crate) async fn memberships(&self, user_id: i64) -> Result<Vec<Membership>, PowError> {
        self.membership_rows(
            "m.user_id = $1 ORDER BY o.name, o.slug",
            vec![user_id.into()],
        )
        .await
    }

    /// `user_id`'s membership in the open organization `org_id`.
    pub(crate) async fn membership(
        &self,
        org_id: &str,
        user_id: i64,
    ) -> Result<Option<Membership>, PowError> {
        let rows = self
            .membership_rows(
                "m.organization_id = $1 AND m.user_id = $2",
                vec![org_id.into(), user_id.into()],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn membership_rows(
        &self,
        condition: &str,
        params: Vec<P>,
    ) -> Result<Vec<Membership>, PowError> {
        let sql = format!(
            "SELECT {ORG}, m.role, m.inserted_at AS joined_at, m.activated_at \
             FROM {} m JOIN {} o ON o.id = m.organization_id \
             WHERE o.closed_at IS NULL AND {condition}",
            self.members, self.orgs
        );
        let rows: Vec<MembershipRow> = self.rows(sql, params).await?;
        Ok(rows.into_iter().map(Membership::from).collect())
    }

    /// The members of `org_id`, in the order they joined, with their addresses.
    pub(crate) async fn members(
        &self,
        config: &PowConfig,
        org_id: &str,
    ) -> Result<Vec<Member>, PowError> {
        let sql = format!(
            "SELECT user_id, role, inserted_at FROM {} WHERE organization_id = $1 \
             ORDER BY inserted_at, user_id",
            self.members
        );
        let rows: Vec<MemberRow> = self.rows(sql, vec![P::from(org_id)]).await?;
        let rows = rows
            .into_iter()
            .map(|r| (r.user_id, r.role, r.inserted_at))
            .collect();
        Self::with_emails(config, rows).await
    }

    /// Renames `org_id`.
    pub(crate) async fn rename(&self, org_id: &str, name: &str) -> Result<bool, PowError> {
        let sql = format!(
            "UPDATE {} SET name = $1, updated_at = $2 WHERE id = $3 AND closed_at IS NULL",
            self.orgs
        );
        let changed = self
            .exec(sql, vec![name.into(), now().into(), org_id.into()])
            .await?;
        Ok(changed > 0)
    }

    /// Closes `org_id` at `at`; whether it was open.
    pub(crate) async fn close(&self, org_id: &str, at: DateTime<Utc>) -> Result<bool, PowError> {
        let sql = format!(
            "UPDATE {} SET closed_at = $1, updated_at = $2 WHERE id = $3 AND closed_at IS NULL",
            self.orgs
        );
        Ok(self
            .exec(sql, vec![at.into(), at.into(), org_id.into()])
            .await?
            > 0)
    }

    /// Deletes the organizations closed before `before` (their members and invitations
    /// go with them); their ids.
    pub(crate) async fn purge_closed(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<String>, PowError> {
        let due = self
            .orgs(
                "o.closed_at IS NOT NULL AND o.closed_at <= $1".into(),
                vec![before.into()],
            )
            .await?;
        let sql = format!(
            "DELETE FROM {} WHERE id = $1 AND closed_at IS NOT NULL",
            self.orgs
        );
        let mut purged = Vec::new();
        for org in due {
            if self.exec(sql.clone(), vec![org.id.as_str().into()]).await? > 0 {
                purged.push(org.id);
            }
        }
        Ok(purged)
    }

    /// Records that `user_id` made `org_id` their active organization at `at`.
    pub(crate) async fn activate(
        &self,
        org_id: &str,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), PowError> {
        let sql = format!(
            "UPDATE {} SET activated_at = $1 WHERE organization_id = $2 AND user_id = $3",
            self.members
        );
        self.exec(sql, vec![at.into(), org_id.into(), user_id.into()])
            .await
            .map(|_| ())
    }

    /// Changes member `target` of `org_id` as `actor` (none: the system, for an erasure),
    /// under the organization's lock: `allowed` decides from the actor's and the target's
    /// roles as stored now, then the owners left are counted.
    pub(crate) async fn change(
        &self,
        org_id: &str,
        actor: Option<i64>,
        target: i64,
        change: Change,
        allowed: impl Fn(Option<&str>, &str, &Change) -> Result<(), Refused> + Send + 'static,
    ) -> Result<Result<String, Refused>, PowError> {
        let lock = lock_sql(&self.orgs);
        let role_of = format!(
            "SELECT role AS label FROM {} WHERE organization_id = $1 AND user_id = $2",
            self.members
        );
        let owners = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE organization_id = $1 AND role = $2",
            self.members
        );
        let update = format!(
            "UPDATE {} SET role = $1 WHERE organization_id = $2 AND user_id = $3",
            self.members
        );
        let delete = format!(
            "DELETE FROM {} WHERE organization_id = $1 AND user_id = $2",
            self.members
        );
        let leave_teams = self.leave_teams_sql();
        let org_id = org_id.to_owned();
        self.tables
            .run(move |db| {
                with_conn!(db, conn => conn.transaction::<_, DieselError, _>(|conn| {
                    if execute(conn, &lock, &[org_id.as_str().into()])? == 0 {
                        return Ok(Err(Refused::NotFound));
                    }
                    let role = |conn: &mut _, user: i64| -> Result<Option<String>, DieselError> {
                        let rows: Vec<TextRow> =
                            load(conn, &role_of, &[org_id.as_str().into(), user.into()])?;
                        Ok(rows.into_iter().next().map(|row| row.label))
                    };
                    let actor_role = match actor {
                        Some(actor) => match role(conn, actor)? {
                            Some(role) => Some(role),
                            None => return Ok(Err(Refused::NotFound)),
                        },
                        None => None,
                    };
                    let Some(target_role) = role(conn, target)? else {
                        return Ok(Err(Refused::NotFound));
                    };
                    if let Err(refused) = allowed(actor_role.as_deref(), &target_role, &change) {
                        return Ok(Err(refused));
                    }
                    let stays_owner = matches!(&change, Change::Role(role) if role == OWNER);
                    if target_role == OWNER && !stays_owner {
                        let counted: Vec<Count> =
                            load(conn, &owners, &[org_id.as_str().into(), OWNER.into()])?;
                        if counted.first().map_or(0, |c| c.n) <= 1 {
                            return Ok(Err(Refused::LastOwner));
                        }
                    }
                    match &change {
                        Change::Role(role) => execute(conn, &update, &[
                            role.as_str().into(), org_id.as_str().into(), target.into(),
                        ])?,
                        Change::Remove => {
                            execute(conn, &leave_teams, &[target.into(), org_id.as_str().into()])?;
                            execute(conn, &delete, &[org_id.as_str().into(), target.into()])?
                        }
                    };
                    Ok(Ok(target_role))
                }).map_err(query_error))
            })
            .await
    }

    /// Makes `user_id` a member of `org_id` with `role` (a domain's join), under the
    /// organization's lock and within `max_members`; `remove` runs in the same transaction
    /// with `$1` the organization's id and `$2` the user's (a join request's deletion).
    pub(crate) async fn add_member(
        &self,
        org_id: &str,
        user_id: i64,
        role: &str,
        max_members: usize,
        remove: Option<String>,
    ) -> Result<Joined, PowError> {
        let lock = lock_sql(&self.orgs);
        let is_member = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE organization_id = $1 AND user_id = $2",
            self.members
        );
        let count = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE organization_id = $1",
            self.members
        );
        let insert = format!(
            "INSERT INTO {} (organization_id, user_id, role, inserted_at, activated_at) \
             VALUES ($1, $2, $3, $4, $5)",
            self.members
        );
        let (org_id, role) = (org_id.to_owned(), role.to_owned());
        let max = i64::try_from(max_members).unwrap_or(i64::MAX);
        self.tables
            .run(move |db| {
                with_conn!(db, conn => conn.transaction::<_, DieselError, _>(|conn| {
                    if execute(conn, &lock, &[org_id.as_str().into()])? == 0 {
                        return Ok(Joined::Gone);
                    }
                    let ids = [P::from(org_id.as_str()), P::from(user_id)];
                    let member: Vec<Count> = load(conn, &is_member, &ids)?;
                    if member.first().map_or(0, |c| c.n) > 0 {
                        if let Some(remove) = &remove {
                            execute(conn, remove, &ids)?;
                        }
                        return Ok(Joined::Already);
                    }
                    let members: Vec<Count> = load(conn, &count, &[org_id.as_str().into()])?;
                    if members.first().map_or(0, |c| c.n) >= max {
                        return Ok(Joined::Full);
                    }
                    execute(conn, &insert, &[
                        org_id.as_str().into(), user_id.into(), role.as_str().into(),
                        now().into(), P::At(None),
                    ])?;
                    if let Some(remove) = &remove {
                        execute(conn, remove, &ids)?;
                    }
                    Ok(Joined::Member(role.clone()))
                }).map_err(query_error))
            })
            .await
    }

    /// Makes `user_id` a member of `org_id` through the pending invitation `invitation`,
    /// under the organization's lock (the invitation is used up either way).
    pub(crate) async fn join(
        &self,
        org_id: &str,
        invitation: &str,
        user_id: i64,
        max_members: usize,
    ) -> Result<Joined, PowError> {
        let lock = lock_sql(&self.orgs);
        let pending = format!(
            "SELECT {INVITATION} FROM {} WHERE id = $1 AND organization_id = $2 \
             AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
            self.invitations
        );
        let is_member = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE organization_id = $1 AND user_id = $2",
            self.members
        );
        let count = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE organization_id = $1",
            self.members
        );
        let used = format!(
            "UPDATE {} SET accepted_at = $1 WHERE id = $2",
            self.invitations
        );
        let insert = format!(
            "INSERT INTO {} (organization_id, user_id, role, inserted_at, activated_at) \
             VALUES ($1, $2, $3, $4, $5)",
            self.members
        );
        let org_id = org_id.to_owned();
        let invitation = invitation.to_owned();
        let max = i64::try_from(max_members).unwrap_or(i64::MAX);
        self.tables
            .run(move |db| {
                let now = P::from(now());
                with_conn!(db, conn => conn.transaction::<_, DieselError, _>(|conn| {
                    if execute(conn, &lock, &[org_id.as_str().into()])? == 0 {
                        return Ok(Joined::Gone);
                    }
                    let rows: Vec<InvitationRow> = load(conn, &pending, &[
                        invitation.as_str().into(), org_id.as_str().into(), now.clone(),
                    ])?;
                    let Some(row) = rows.into_iter().next() else {
                        return Ok(Joined::Gone);
                    };
                    let member: Vec<Count> =
                        load(conn, &is_member, &[org_id.as_str().into(), user_id.into()])?;
                    if member.first().map_or(0, |c| c.n) > 0 {
                        execute(conn, &used, &[now.clone(), invitation.as_str().into()])?;
                        return Ok(Joined::Already);
                    }
                    let members: Vec<Count> = load(conn, &count, &[org_id.as_str().into()])?;
                    if members.first().map_or(0, |c| c.n) >= max {
                        return Ok(Joined::Full);
                    }
                    execute(conn, &insert, &[
                        org_id.as_str().into(), user_id.into(), row.role.as_str().into(),
                        now.clone(), P::At(None),
                    ])?;
                    execute(conn, &used, &[now.clone(), invitation.as_str().into()])?;
                    Ok(Joined::Member(row.role))
                }).map_err(query_error))
            })
            .await
    }

    /// Stores `invitation` unless `org_id` has `max` pending ones already (under the
    /// organization's lock); whether it was stored.
    pub(crate) async fn invite(
        &self,
        invitation: Invitation,
        max: usize,
    ) -> Result<bool, PowError> {
        let lock = lock_sql(&self.orgs);
        let pending = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE organization_id = $1 AND accepted_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $2",
            self.invitations
        );
        let insert = format!(
            "INSERT INTO {} ({INVITATION}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)",
            self.invitations
        );
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.tables
            .run(move |db| {
                let inv = invitation;
                with_conn!(db, conn => conn.transaction::<_, DieselError, _>(|conn| {
                    if execute(conn, &lock, &[inv.organization_id.as_str().into()])? == 0 {
                        return Ok(false);
                    }
                    let counted: Vec<Count> = load(conn, &pending, &[
                        inv.organization_id.as_str().into(), now().into(),
                    ])?;
                    if counted.first().map_or(0, |c| c.n) >= max {
                        return Ok(false);
                    }
                    execute(conn, &insert, &[
                        inv.id.as_str().into(), inv.organization_id.as_str().into(),
                        inv.email.as_str().into(), inv.role.as_str().into(),
                        P::Int(inv.invited_by),
                        inv.created_at.into(), inv.expires_at.into(),
                    ])?;
                    Ok(true)
                }).map_err(query_error))
            })
            .await
    }

    /// Reads invitations.
    async fn invitation_rows(
        &self,
        condition: &str,
        params: Vec<P>,
    ) -> Result<Vec<Invitation>, PowError> {
        let sql = format!(
            "SELECT {INVITATION} FROM {} WHERE {condition}",
            self.invitations
        );
        let rows: Vec<InvitationRow> = self.rows(sql, params).await?;
        Ok(rows.into_iter().map(Invitation::from).collect())
    }

    /// The invitation `id` of `org_id`.
    pub(crate) async fn invitation(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<Invitation>, PowError> {
        let rows = self
            .invitation_rows(
                "id = $1 AND organization_id = $2",
                vec![id.into(), org_id.into()],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The invitation `id`, whichever organization it is of.
    pub(crate) async fn invitation_by_id(&self, id: &str) -> Result<Option<Invitation>, PowError> {
        let rows = self.invitation_rows("id = $1", vec![id.into()]).await?;
        Ok(rows.into_iter().next())
    }

    /// The pending invitations of `org_id`, newest first.
    pub(crate) async fn pending(&self, org_id: &str) -> Result<Vec<Invitation>, PowError> {
        self.invitation_rows(
            "organization_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL \
             AND expires_at > $2 ORDER BY inserted_at DESC, id",
            vec![org_id.into(), now().into()],
        )
        .await
    }

    /// Revokes the pending invitation `id` of `org_id`; whether there was one.
    pub(crate) async fn revoke(&self, org_id: &str, id: &str) -> Result<bool, PowError> {
        let sql = format!(
            "UPDATE {} SET revoked_at = $1 WHERE id = $2 AND organization_id = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
            self.invitations
        );
        Ok(self
            .exec(sql, vec![now().into(), id.into(), org_id.into()])
            .await?
            > 0)
    }

    /// Takes `user_id` out of every organization, passing each one's ownership on when
    /// they are its last owner (to the member of the highest rank, the longest-standing
    /// first) or closing it when nobody is left; the organizations whose ownership passed
    /// (with the new owner) and those closed.
    pub(crate) async fn erase_member(
        &self,
        settings: &Organizations,
        user_id: i64,
    ) -> Result<Vec<(String, Option<i64>)>, PowError> {
        let lock = lock_sql(&self.orgs);
        let of_user = format!(
            "SELECT organization_id AS label FROM {} WHERE user_id = $1",
            self.members
        );
        let others = format!(
            "SELECT user_id, role, inserted_at FROM {} WHERE organization_id = $1 \
             AND user_id <> $2 ORDER BY inserted_at, user_id",
            self.members
        );
        let promote = format!(
            "UPDATE {} SET role = $1 WHERE organization_id = $2 AND user_id = $3",
            self.members
        );
        let close = format!(
            "UPDATE {} SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL",
            self.orgs
        );
        let delete = format!(
            "DELETE FROM {} WHERE organization_id = $1 AND user_id = $2",
            self.members
        );
        let leave_teams = self.leave_teams_sql();
        let settings = settings.clone();
        self.tables
            .run(move |db| {
                with_conn!(db, conn => {
                    let orgs: Vec<TextRow> =
                        load(conn, &of_user, &[user_id.into()]).map_err(query_error)?;
                    let mut changed = Vec::new();
                    for org in orgs {
                        let org_id = org.label;
                        let outcome = conn.transaction(|conn| {
                            execute(conn, &lock, &[org_id.as_str().into()])?;
                            let rest: Vec<MemberRow> =
                                load(conn, &others, &[org_id.as_str().into(), user_id.into()])?;
                            let mine: Vec<MemberRow> = load(
                                conn,
                                &others.replace("user_id <> $2", "user_id = $2"),
                                &[org_id.as_str().into(), user_id.into()],
                            )?;
                            let was_owner = mine.first().is_some_and(|m| m.role == OWNER);
                            let mut outcome = None;
                            if was_owner && !rest.iter().any(|m| m.role == OWNER) {
                                let heir = rest.iter().max_by_key(|m| {
                                    (
                                        settings.role_rank(&m.role).unwrap_or(0),
                                        std::cmp::Reverse((m.inserted_at, m.user_id)),
                                    )
                                });
                                match heir {
                                    Some(heir) => {
                                        execute(conn, &promote, &[
                                            OWNER.into(), org_id.as_str().into(), heir.user_id.into(),
                                        ])?;
                                        outcome = Some((org_id.clone(), Some(heir.user_id)));
                                    }
                                    None => {
                                        execute(conn, &close, &[now().into(), org_id.as_str().into()])?;
                                        outcome = Some((org_id.clone(), None));
                                    }
                                }
                            }
                            execute(conn, &leave_teams, &[user_id.into(), org_id.as_str().into()])?;
                            execute(conn, &delete, &[org_id.as_str().into(), user_id.into()])?;
                            Ok::<_, DieselError>(outcome)
                        });
                        if let Some(done) = outcome.map_err(query_error)? {
                            changed.push(done);
                        }
                    }
                    Ok(changed)
                })
            })
            .await
    }
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    label: String,
}

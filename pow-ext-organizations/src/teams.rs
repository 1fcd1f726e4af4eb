//! Teams inside an organization, when [`Organizations::teams`] turns them on: named groups
//! of the organization's members, each member with a team role (`lead`, `member`, or one
//! the app declares with [`Organizations::team_role`]).
//!
//! - Members with `teams:manage` (admins and above by default) create, rename and delete
//!   teams and manage every team's members; a team's lead manages the team roles ranked
//!   below theirs; anyone may leave a team.
//! - Only members of the organization are in its teams: nobody joins a team through an
//!   invitation, and leaving or being removed from the organization takes a member out of
//!   its teams in the same transaction.
//!
//! ```
//! use pow_ext_organizations::{flows, teams, Organizations};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let users = pow_core::users::diesel::DieselUsersContext::connect(":memory:")?;
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .extension(pow_ext_email_confirmation::EmailConfirmation::new())
//!     .extension(Organizations::new().teams(true))
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "correct horse")?;
//! flows::create(&config, &ada, "Acme", "acme").await?.unwrap();
//!
//! let team = teams::create(&config, &ada, "acme", "Platform").await?.unwrap();
//! teams::set_role(&config, &ada, "acme", &team.id, ada.id, "lead").await?.unwrap();
//! let members = teams::members(&config, &ada, "acme", &team.id).await?.unwrap();
//! assert_eq!(members[0].role, "lead");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use ::diesel::connection::Connection as _;
use ::diesel::result::{DatabaseErrorKind, Error as DieselError};
use ::diesel::sql_types::{BigInt, Text, Timestamp};
use ::diesel::QueryableByName;
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::audit::{self, AuditEvent};
use pow_core::users::diesel::query_error;
use pow_core::users::User;
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use serde::Serialize;

use crate::store::{execute, load, now, Store, P};
use crate::{events, flows, permission, Member, Membership, Organizations, Refused};

/// Longest team name.
pub const MAX_NAME: usize = 100;

/// A team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Team {
    /// Its id (random, stable).
    pub id: String,
    /// Its name, unique in its organization.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Why a team was not created or renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// The name is empty or longer than [`MAX_NAME`].
    Name,
    /// Another team of the organization has the name.
    Taken,
    /// The organization has as many teams as it may.
    Full,
}

#[derive(QueryableByName)]
struct TeamRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
}

impl From<TeamRow> for Team {
    fn from(row: TeamRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: row.inserted_at.and_utc(),
        }
    }
}

#[derive(QueryableByName)]
struct TeamMemberRow {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn settings(config: &PowConfig) -> Result<&Organizations, PowError> {
    Organizations::of(config)
        .ok_or_else(|| PowError::Config("the Organizations extension is not enabled".into()))
}

fn valid_name(name: &str) -> Option<&str> {
    let name = name.trim();
    (!name.is_empty() && name.chars().count() <= MAX_NAME).then_some(name)
}

fn event(name: pow_core::audit::EventName, actor: &User, org: &str, team: &str) -> AuditEvent {
    AuditEvent::new(name)
        .user(actor.id)
        .detail("organization", org.to_owned())
        .detail("team", team.to_owned())
}

/// `user`'s membership of `slug` when teams are on.
async fn member_of(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Option<Membership>, PowError> {
    if !settings(config)?.has_teams() {
        return Ok(None);
    }
    flows::membership(config, user, slug).await
}

/// `user`'s membership of `slug`, when their role allows managing teams.
async fn manager(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Result<Membership, Refused>, PowError> {
    match member_of(config, user, slug).await? {
        None => Ok(Err(Refused::NotFound)),
        Some(m) if settings(config)?.allows(&m.role, permission::MANAGE_TEAMS) => Ok(Ok(m)),
        Some(_) => Ok(Err(Refused::Forbidden)),
    }
}

/// The team `team_id` of organization `org_id`.
async fn team(store: &Store, org_id: &str, team_id: &str) -> Result<Option<Team>, PowError> {
    let sql = format!(
        "SELECT id, name, inserted_at FROM {} WHERE id = $1 AND organization_id = $2",
        store.teams
    );
    let params = vec![P::from(team_id), P::from(org_id)];
    let rows: Vec<TeamRow> = store.rows(sql, params).await?;
    Ok(rows.into_iter().next().map(Team::from))
}

/// The teams of `slug`, by name, for one of its members.
///
/// # Errors
/// The database's error.
pub async fn list(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Result<Vec<Team>, Refused>, PowError> {
    let Some(membership) = member_of(config, user, slug).await? else {
        return Ok(Err(Refused::NotFound));
    };
    let store = Store::new(config)?;
    let sql = format!(
        "SELECT id, name, inserted_at FROM {} WHERE organization_id = $1 ORDER BY name, id",
        store.teams
    );
    let params = vec![P::from(membership.organization.id.as_str())];
    let rows: Vec<TeamRow> = store.rows(sql, params).await?;
    Ok(Ok(rows.into_iter().map(Team::from).collect()))
}

/// Creates the team `name` in `slug` (`teams:manage`; at most the setting's number of
/// teams). Audited.
///
/// # Errors
/// The database's error.
pub async fn create(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    name: &str,
) -> Result<Result<Team, Result<Refused, Invalid>>, PowError> {
    let membership = match manager(config, actor, slug).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(Ok(refused))),
    };
    let Some(name) = valid_name(name) else {
        return Ok(Err(Err(Invalid::Name)));
    };
    let org_id = membership.organization.id;
    let store = Store::new(config)?;
    let team = Team {
        id: pow_core::token::generate_uuid(),
        name: name.to_owned(),
        created_at: now(),
    };
    let lock = crate::store::lock_sql(&store.orgs);
    let count = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE organization_id = $1",
        store.teams
    );
    let insert = format!(
        "INSERT INTO {} (id, organization_id, name, inserted_at) VALUES ($1, $2, $3, $4)",
        store.teams
    );
    let max = i64::try_from(settings(config)?.max_teams).unwrap_or(i64::MAX);
    let (row, org) = (team.clone(), org_id.clone());
    // Counted and written behind the organization's lock: concurrent creations stay
    // within the cap.
    let outcome: Result<(), Invalid> = store
        .tables
        .run(move |db| {
            with_conn!(db, conn => {
                let result = conn.transaction::<_, DieselError, _>(|conn| {
                    if execute(conn, &lock, &[org.as_str().into()])? == 0 {
                        return Ok(Err(Invalid::Full));
                    }
                    let counted: Vec<Count> = load(conn, &count, &[org.as_str().into()])?;
                    if counted.first().map_or(0, |c| c.n) >= max {
                        return Ok(Err(Invalid::Full));
                    }
                    let params = [
                        row.id.as_str().into(), org.as_str().into(), row.name.as_str().into(),
                        row.created_at.into(),
                    ];
                    execute(conn, &insert, &params)?;
                    Ok(Ok(()))
                });
                match result {
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        Ok(Err(Invalid::Taken))
                    }
                    other => other.map_err(query_error),
                }
            })
        })
        .await?;
    if let Err(invalid) = outcome {
        return Ok(Err(Err(invalid)));
    }
    audit::record(
        config,
        event(events::TEAM_CREATED, actor, &org_id, &team.id),
    );
    Ok(Ok(team))
}

/// Renames the team `team_id` of `slug` (`teams:manage`). Audited.
///
/// # Errors
/// The database's error.
pub async fn rename(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    team_id: &str,
    name: &str,
) -> Result<Result<Team, Result<Refused, Invalid>>, PowError> {
    let membership = match manager(config, actor, slug).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(Ok(refused))),
    };
    let Some(name) = valid_name(name) else {
        return Ok(Err(Err(Invalid::Name)));
    };
    let org_id = membership.organization.id;
    let store = Store::new(config)?;
    let Some(mut found) = team(&store, &org_id, team_id).await? else {
        return Ok(Err(Ok(Refused::NotFound)));
    };
    let sql = format!(
        "UPDATE {} SET name = $1 WHERE id = $2 AND organization_id = $3",
        store.teams
    );
    let params = vec![P::from(name), P::from(team_id), P::from(org_id.as_str())];
    let renamed: Result<(), Result<Refused, Invalid>> = store
        .tables
        .run(move |db| {
            with_conn!(db, conn => match execute(conn, &sql, &params) {
                Ok(0) => Ok(Err(Ok(Refused::NotFound))),
                Ok(_) => Ok(Ok(())),
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    Ok(Err(Err(Invalid::Taken)))
                }
                Err(err) => Err(query_error(err)),
            })
        })
        .await?;
    if let Err(refused) = renamed {
        return Ok(Err(refused));
    }
    audit::record(config, event(events::TEAM_RENAMED, actor, &org_id, team_id));
    found.name = name.to_owned();
    Ok(Ok(found))
}

/// Deletes the team `team_id` of `slug` (`teams:manage`); its members stay in the
/// organization. Audited.
///
/// # Errors
/// The database's error.
pub async fn delete(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    team_id: &str,
) -> Result<Result<(), Refused>, PowError> {
    let membership = match manager(config, actor, slug).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let org_id = membership.organization.id;
    let store = Store::new(config)?;
    let sql = format!(
        "DELETE FROM {} WHERE id = $1 AND organization_id = $2",
        store.teams
    );
    if store
        .exec(sql, vec![team_id.into(), org_id.as_str().into()])
        .await?
        == 0
    {
        return Ok(Err(Refused::NotFound));
    }
    audit::record(config, event(events::TEAM_DELETED, actor, &org_id, team_id));
    Ok(Ok(()))
}

/// The members of the team `team_id` of `slug`, with their team roles, for a member of the
/// organization.
///
/// # Errors
/// The database's error.
pub async fn members(
    config: &PowConfig,
    user: &User,
    slug: &str,
    team_id: &str,
) -> Result<Result<Vec<Member>, Refused>, PowError> {
    let Some(membership) = member_of(config, user, slug).await? else {
        return Ok(Err(Refused::NotFound));
    };
    let store = Store::new(config)?;
    if team(&store, &membership.organization.id, team_id)
        .await?
        .is_none()
    {
        return Ok(Err(Refused::NotFound));
    }
    Ok(Ok(team_members(config, &store, team_id).await?))
}

async fn team_members(
    config: &PowConfig,
    store: &Store,
    team_id: &str,
) -> Result<Vec<Member>, PowError> {
    let sql = format!(
        "SELECT user_id, role, inserted_at FROM {} WHERE team_id = $1 ORDER BY inserted_at, user_id",
        store.team_members
    );
    let params = vec![P::from(team_id)];
    let rows: Vec<TeamMemberRow> = store.rows(sql, params).await?;
    let rows = rows
        .into_iter()
        .map(|row| (row.user_id, row.role, row.inserted_at))
        .collect();
    Store::with_emails(config, rows).await
}

/// The team role of `user_id` in `team_id`.
async fn role_in(store: &Store, team_id: &str, user_id: i64) -> Result<Option<String>, PowError> {
    let sql = format!(
        "SELECT role FROM {} WHERE team_id = $1 AND user_id = $2",
        store.team_members
    );
    let params = vec![P::from(team_id), P::from(user_id)];
    let rows: Vec<RoleRow> = store.rows(sql, params).await?;
    Ok(rows.into_iter().next().map(|row| row.role))
}

/// The rule of teams: `teams:manage` may anything; anyone leaves a team; a team's lead (a
/// team role ranked as `lead` or above) changes the team roles ranked below theirs into
/// team roles ranked below theirs, never their own.
fn may(
    settings: &Organizations,
    leaving: bool,
    org_role: &str,
    own: Option<&str>,
    (from, to): (Option<&str>, Option<&str>),
) -> bool {
    if settings.allows(org_role, permission::MANAGE_TEAMS) {
        return true;
    }
    if leaving && to.is_none() {
        return true;
    }
    let Some(own) = own else {
        return false;
    };
    let rank = |role: &str| settings.team_role_rank(role).unwrap_or(0);
    let mine = rank(own);
    let below = |role: Option<&str>| role.is_none_or(|role| rank(role) < mine);
    !leaving && mine >= rank(crate::TEAM_LEAD) && below(from) && below(to)
}

#[derive(QueryableByName)]
struct RoleRow {
    #[diesel(sql_type = Text)]
    role: String,
}

/// Where a team change comes from: a member (`actor`, by [`may`]'s rule) or a provisioning
/// extension (no actor: the extension checked its caller).
#[derive(Clone, Copy)]
enum By<'a> {
    Member(&'a User),
    Provisioning,
}

/// Puts `target` in the team `team_id` of the organization (`slug`, or `org_id` for a
/// provisioning) with the team role `to`, or takes them out (`to` none): one transaction
/// behind the organization's lock reads the organization's and the team's roles as
/// stored, checks [`may`] for a member's change, then writes; a target who is not a member
/// of the organization is [`Refused::NotFound`].
async fn change(
    config: &PowConfig,
    by: By<'_>,
    org: Result<&str, &str>,
    team_id: &str,
    target: i64,
    to: Option<&str>,
) -> Result<Result<String, Refused>, PowError> {
    let settings = settings(config)?.clone();
    if !settings.has_teams() {
        return Ok(Err(Refused::NotFound));
    }
    if to.is_some_and(|role| settings.team_role_rank(role).is_none()) {
        return Ok(Err(Refused::UnknownRole));
    }
    let store = Store::new(config)?;
    let found = match org {
        Ok(slug) => store.by_slug(slug).await?,
        Err(org_id) => store.by_id(org_id).await?,
    };
    let Some(org) = found else {
        return Ok(Err(Refused::NotFound));
    };
    let lock = crate::store::lock_sql(&store.orgs);
    let team_of_org = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE id = $1 AND organization_id = $2",
        store.teams
    );
    let org_role = format!(
        "SELECT role FROM {} WHERE organization_id = $1 AND user_id = $2",
        store.members
    );
    let team_role = format!(
        "SELECT role FROM {} WHERE team_id = $1 AND user_id = $2",
        store.team_members
    );
    let update = format!(
        "UPDATE {} SET role = $1 WHERE team_id = $2 AND user_id = $3",
        store.team_members
    );
    let insert = format!(
        "INSERT INTO {} (team_id, user_id, role, inserted_at) VALUES ($1, $2, $3, $4)",
        store.team_members
    );
    let delete = format!(
        "DELETE FROM {} WHERE team_id = $1 AND user_id = $2",
        store.team_members
    );
    let (org_id, team_id) = (org.id.clone(), team_id.to_owned());
    let actor_id = match by {
        By::Member(actor) => Some(actor.id),
        By::Provisioning => None,
    };
    let to = to.map(str::to_owned);
    store
        .tables
        .run(move |db| {
            with_conn!(db, conn => conn.transaction::<_, DieselError, _>(|conn| {
                if execute(conn, &lock, &[org_id.as_str().into()])? == 0 {
                    return Ok(Err(Refused::NotFound));
                }
                let teams: Vec<Count> =
                    load(conn, &team_of_org, &[team_id.as_str().into(), org_id.as_str().into()])?;
                if teams.first().map_or(0, |c| c.n) == 0 {
                    return Ok(Err(Refused::NotFound));
                }
                let role = |conn: &mut _, sql: &str, scope: &str, user: i64| -> Result<Option<String>, DieselError> {
                    let rows: Vec<RoleRow> = load(conn, sql, &[scope.into(), user.into()])?;
                    Ok(rows.into_iter().next().map(|row| row.role))
                };
                if role(conn, &org_role, &org_id, target)?.is_none() {
                    return Ok(Err(Refused::NotFound));
                }
                let from = role(conn, &team_role, &team_id, target)?;
                if to.is_none() && from.is_none() {
                    return Ok(Err(Refused::NotFound));
                }
                if let Some(actor_id) = actor_id {
                    let Some(actor_org) = role(conn, &org_role, &org_id, actor_id)? else {
                        return Ok(Err(Refused::NotFound));
                    };
                    let own = role(conn, &team_role, &team_id, actor_id)?;
                    let leaving = actor_id == target;
                    let change = (from.as_deref(), to.as_deref());
                    if !may(&settings, leaving, &actor_org, own.as_deref(), change) {
                        return Ok(Err(Refused::Forbidden));
                    }
                }
                if from == to {
                    return Ok(Ok(org_id.clone()));
                }
                match (&from, &to) {
                    (_, None) => {
                        execute(conn, &delete, &[team_id.as_str().into(), target.into()])?;
                    }
                    (Some(_), Some(to)) => {
                        execute(conn, &update, &[
                            to.as_str().into(), team_id.as_str().into(), target.into(),
                        ])?;
                    }
                    (None, Some(to)) => {
                        execute(conn, &insert, &[
                            team_id.as_str().into(), target.into(), to.as_str().into(),
                            now().into(),
                        ])?;
                    }
                }
                Ok(Ok(org_id.clone()))
            }).map_err(query_error))
        })
        .await
}

/// Puts member `target` of `slug` in the team `team_id` with the team role `role`, or
/// changes their team role: only members of the organization (anyone else is
/// [`Refused::NotFound`]), by the rule of [`teams`](self). Audited.
///
/// # Errors
/// The database's error.
pub async fn set_role(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    team_id: &str,
    target: i64,
    role: &str,
) -> Result<Result<(), Refused>, PowError> {
    let org_id = match change(
        config,
        By::Member(actor),
        Ok(slug),
        team_id,
        target,
        Some(role),
    )
    .await?
    {
        Ok(org_id) => org_id,
        Err(refused) => return Ok(Err(refused)),
    };
    audit::record(
        config,
        event(events::TEAM_ROLE_CHANGED, actor, &org_id, team_id)
            .detail("member", target.to_string())
            .detail("role", role.to_owned()),
    );
    Ok(Ok(()))
}

/// Takes `target` out of the team `team_id` of `slug` (or `actor` leaves it), by the rule of
/// [`teams`](self). Audited.
///
/// # Errors
/// The database's error.
pub async fn remove(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    team_id: &str,
    target: i64,
) -> Result<Result<(), Refused>, PowError> {
    let org_id = match change(config, By::Member(actor), Ok(slug), team_id, target, None).await? {
        Ok(org_id) => org_id,
        Err(refused) => return Ok(Err(refused)),
    };
    audit::record(
        config,
        event(events::TEAM_MEMBER_REMOVED, actor, &org_id, team_id)
            .detail("member", target.to_string()),
    );
    Ok(Ok(()))
}

/// Puts member `user_id` of the organization `org_id` in its team `team_id` with the team
/// role `role`, or takes them out (`None`), as a provisioning extension does (SCIM's group
/// mapping): no actor's rule, only the organization's membership. Audited with
/// `detail.by`; a change to what is already so records nothing.
///
/// # Errors
/// The database's error.
pub async fn provision(
    config: &PowConfig,
    org_id: &str,
    team_id: &str,
    user_id: i64,
    role: Option<&str>,
    by: &str,
) -> Result<Result<(), Refused>, PowError> {
    let before = of_member(config, org_id, user_id)
        .await?
        .into_iter()
        .find(|(team, _)| team.id == team_id)
        .map(|(_, role)| role);
    if before.as_deref() == role {
        return Ok(Ok(()));
    }
    if let Err(refused) = change(
        config,
        By::Provisioning,
        Err(org_id),
        team_id,
        user_id,
        role,
    )
    .await?
    {
        return Ok(Err(refused));
    }
    let event = match role {
        Some(role) => AuditEvent::new(events::TEAM_ROLE_CHANGED).detail("role", role.to_owned()),
        None => AuditEvent::new(events::TEAM_MEMBER_REMOVED),
    };
    audit::record(
        config,
        event
            .detail("organization", org_id.to_owned())
            .detail("team", team_id.to_owned())
            .detail("member", user_id.to_string())
            .detail("by", by.to_owned()),
    );
    Ok(Ok(()))
}

/// Whether `actor` may manage the members of the team `team_id` of `membership`'s
/// organization: `teams:manage`, or its lead.
pub(crate) async fn manages(
    config: &PowConfig,
    membership: &Membership,
    actor: i64,
    team_id: &str,
) -> Result<bool, PowError> {
    let settings = settings(config)?;
    if settings.allows(&membership.role, permission::MANAGE_TEAMS) {
        return Ok(true);
    }
    let store = Store::new(config)?;
    let own = role_in(&store, team_id, actor).await?;
    let rank = |role: &str| settings.team_role_rank(role).unwrap_or(0);
    Ok(own.is_some_and(|own| rank(&own) >= rank(crate::TEAM_LEAD)))
}

/// The teams of `user_id` in the open organization `org_id`, with their team roles (the
/// active member's teams, for an app's checks); none when teams are off.
///
/// # Errors
/// The database's error.
pub async fn of_member(
    config: &PowConfig,
    org_id: &str,
    user_id: i64,
) -> Result<Vec<(Team, String)>, PowError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(embed)]
        team: TeamRow,
        #[diesel(sql_type = Text)]
        role: String,
    }
    let store = Store::new(config)?;
    if !settings(config)?.has_teams() || store.by_id(org_id).await?.is_none() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT t.id, t.name, t.inserted_at, m.role FROM {} t JOIN {} m ON m.team_id = t.id \
         WHERE t.organization_id = $1 AND m.user_id = $2 ORDER BY t.name, t.id",
        store.teams, store.team_members
    );
    let params = vec![P::from(org_id), P::from(user_id)];
    let rows: Vec<Row> = store.rows(sql, params).await?;
    Ok(rows
        .into_iter()
        .map(|row| (Team::from(row.team), row.role))
        .collect())
}

//! The `sso_connections` and `sso_identities` tables: one connection per organization, and
//! the people signed in through it, keyed on (connection, the provider's subject).

use ::diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::users::diesel::{query_error, SqlParam, Tables};
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use serde::Serialize;

use crate::sealed;

/// A single sign-on connection of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// Its id (random, stable): in its sign-in links.
    pub id: String,
    /// The organization it belongs to.
    pub organization_id: String,
    /// `"oidc"` or `"saml"`.
    pub protocol: String,
    /// The OpenID provider's issuer (`https://acme.okta.com`), or the SAML identity
    /// provider's entity id.
    pub issuer: String,
    /// The app's client id at the provider.
    pub client_id: String,
    /// Whether a client secret is kept (it is never shown again).
    pub has_client_secret: bool,
    /// The role of a member its first sign-in adds.
    pub default_role: String,
    /// SAML: whether the identity provider may sign people in unasked (IdP-initiated).
    pub idp_initiated: bool,
    /// Whether it signs people in.
    pub enabled: bool,
    /// Whether members at the organization's verified domains may sign in only through it.
    pub enforced: bool,
    /// When someone last signed in through it with these settings (or tested it): what
    /// enforcement needs first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validated_at: Option<DateTime<Utc>>,
    /// The owner who may still sign in with a password and a second factor while it is
    /// enforced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass_user_id: Option<i64>,
    /// When it was set up.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub(crate) sealed_secret: Option<String>,
    /// SAML: the identity provider's metadata as imported (its certificates pinned).
    #[serde(skip)]
    pub(crate) saml_metadata: Option<String>,
}

impl Connection {
    /// Whether it is a SAML 2.0 connection.
    pub fn is_saml(&self) -> bool {
        self.protocol == Protocol::Saml.as_str()
    }
}

/// The protocol a connection speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect (discovery at the issuer, code flow with PKCE).
    #[default]
    Oidc,
    /// SAML 2.0 (the identity provider's metadata; feature `saml`).
    Saml,
}

impl Protocol {
    /// Its name as stored and in JSON: `oidc`, `saml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Oidc => "oidc",
            Protocol::Saml => "saml",
        }
    }

    /// The protocol named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "" | "oidc" => Some(Protocol::Oidc),
            "saml" => Some(Protocol::Saml),
            _ => None,
        }
    }
}

/// What an admin sets on a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionSpec {
    /// The protocol.
    pub protocol: Protocol,
    /// The issuer URL (OpenID Connect; for SAML the metadata's entity id is taken).
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// A new client secret; `None` keeps the one kept.
    pub client_secret: Option<String>,
    /// The role of members its first sign-ins add.
    pub default_role: String,
    /// SAML: the identity provider's metadata document (`None` keeps the one kept).
    pub saml_metadata: Option<String>,
    /// SAML: where to fetch the metadata from (the flows fetch it into `saml_metadata`).
    pub saml_metadata_url: Option<String>,
    /// SAML: whether IdP-initiated sign-in is allowed (off by default).
    pub idp_initiated: bool,
}

impl ConnectionSpec {
    /// The settings as a form or a JSON body gives them, by field name (`protocol`,
    /// `issuer`, `client_id`, `client_secret`, `default_role`, `metadata_url`,
    /// `metadata_xml`, `idp_initiated`): blank values are absent, the role defaults to
    /// member. `None` for an unknown protocol.
    pub fn from_fields(field: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let given = |name: &str| {
            field(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        Some(Self {
            protocol: Protocol::parse(&given("protocol").unwrap_or_default())?,
            issuer: given("issuer").unwrap_or_default(),
            client_id: given("client_id").unwrap_or_default(),
            client_secret: given("client_secret"),
            default_role: given("default_role")
                .unwrap_or_else(|| pow_ext_organizations::MEMBER.to_owned()),
            saml_metadata: given("metadata_xml"),
            saml_metadata_url: given("metadata_url"),
            idp_initiated: given("idp_initiated")
                .is_some_and(|value| matches!(value.as_str(), "true" | "on" | "1")),
        })
    }
}

/// A person signed in through a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The connection.
    pub connection_id: String,
    /// The provider's subject.
    pub subject: String,
    /// The user.
    pub user_id: i64,
    /// The address the provider asserted at the last sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The first sign-in.
    pub created_at: DateTime<Utc>,
    /// The last sign-in.
    pub last_sign_in_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    organization_id: String,
    #[diesel(sql_type = Text)]
    protocol: String,
    #[diesel(sql_type = Text)]
    issuer: String,
    #[diesel(sql_type = Text)]
    client_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    client_secret: Option<String>,
    #[diesel(sql_type = Text)]
    default_role: String,
    #[diesel(sql_type = Nullable<Text>)]
    saml_metadata: Option<String>,
    #[diesel(sql_type = Bool)]
    idp_initiated: bool,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Bool)]
    enforced: bool,
    #[diesel(sql_type = Nullable<Timestamp>)]
    validated_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<BigInt>)]
    break_glass_user_id: Option<i64>,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
}

const COLUMNS: &str = "c.id, c.organization_id, c.protocol, c.issuer, c.client_id, \
    c.client_secret, c.default_role, c.saml_metadata, c.idp_initiated, c.enabled, c.enforced, c.validated_at, \
    c.break_glass_user_id, c.inserted_at, c.updated_at";

impl From<Row> for Connection {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            organization_id: row.organization_id,
            protocol: row.protocol,
            issuer: row.issuer,
            client_id: row.client_id,
            has_client_secret: row.client_secret.is_some(),
            default_role: row.default_role,
            idp_initiated: row.idp_initiated,
            enabled: row.enabled,
            enforced: row.enforced,
            validated_at: row.validated_at.map(|at| at.and_utc()),
            break_glass_user_id: row.break_glass_user_id,
            created_at: row.inserted_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            sealed_secret: row.client_secret,
            saml_metadata: row.saml_metadata,
        }
    }
}

#[derive(QueryableByName)]
struct IdentityRow {
    #[diesel(sql_type = Text)]
    connection_id: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    last_sign_in_at: NaiveDateTime,
}

impl From<IdentityRow> for Identity {
    fn from(row: IdentityRow) -> Self {
        Self {
            connection_id: row.connection_id,
            subject: row.subject,
            user_id: row.user_id,
            email: row.email,
            created_at: row.inserted_at.and_utc(),
            last_sign_in_at: row.last_sign_in_at.and_utc(),
        }
    }
}

#[derive(QueryableByName)]
struct UserIdRow {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
}

/// Now, to the second (as the tables keep it).
fn now() -> NaiveDateTime {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0)
        .unwrap_or(now)
        .naive_utc()
}

/// The tables, on the users context's pool and schema. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    config: PowConfig,
    tables: Tables,
    connections: String,
    identities: String,
    members: String,
    domains: String,
    orgs: String,
}

impl Connections {
    /// The tables beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub fn new(config: &PowConfig) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-sso (the `sso_connections` table)")?;
        Ok(Self {
            config: config.clone(),
            connections: tables.table("sso_connections"),
            identities: tables.table("sso_identities"),
            members: tables.table("organization_members"),
            domains: tables.table("organization_domains"),
            orgs: tables.table("organizations"),
            tables,
        })
    }

    async fn rows(
        &self,
        condition: String,
        params: Vec<SqlParam>,
    ) -> Result<Vec<Connection>, PowError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} c WHERE {condition}",
            self.connections
        );
        let rows: Vec<Row> = self
            .tables
            .run(move |db| -> Result<Vec<Row>, PowError> {
                with_conn!(db, conn => pow_core::sql_bound!(conn, &sql, params).load::<Row>(conn).map_err(query_error))
            })
            .await?;
        Ok(rows.into_iter().map(Connection::from).collect())
    }

    /// The connection `id`.
    ///
    /// # Errors
    /// The database's.
    pub async fn get(&self, id: &str) -> Result<Option<Connection>, PowError> {
        Ok(self
            .rows("c.id = $1".into(), vec![SqlParam::Text(id.to_owned())])
            .await?
            .into_iter()
            .next())
    }

    /// The connection of organization `org_id`.
    ///
    /// # Errors
    /// The database's.
    pub async fn of_organization(&self, org_id: &str) -> Result<Option<Connection>, PowError> {
        Ok(self
            .rows(
                "c.organization_id = $1".into(),
                vec![SqlParam::Text(org_id.to_owned())],
            )
            .await?
            .into_iter()
            .next())
    }

    /// The enforced connection that covers `user_id` with address domain `domain`: of an
    /// open organization they are a member of, which verified `domain` or through whose
    /// connection they signed in before (a member cannot leave it by changing address).
    ///
    /// # Errors
    /// The database's.
    pub async fn enforcing(
        &self,
        user_id: i64,
        domain: &str,
    ) -> Result<Option<Connection>, PowError> {
        let condition = format!(
            "c.enforced = TRUE AND c.enabled = TRUE \
             AND EXISTS (SELECT 1 FROM {orgs} o WHERE o.id = c.organization_id AND o.closed_at IS NULL) \
             AND EXISTS (SELECT 1 FROM {members} m WHERE m.organization_id = c.organization_id AND m.user_id = $1) \
             AND (EXISTS (SELECT 1 FROM {domains} d WHERE d.organization_id = c.organization_id \
                     AND d.domain = $2 AND d.verified_at IS NOT NULL) \
                  OR EXISTS (SELECT 1 FROM {identities} i WHERE i.connection_id = c.id AND i.user_id = $3))",
            orgs = self.orgs,
            members = self.members,
            domains = self.domains,
            identities = self.identities,
        );
        Ok(self
            .rows(
                condition,
                vec![
                    SqlParam::Int(user_id),
                    SqlParam::Text(domain.to_ascii_lowercase()),
                    SqlParam::Int(user_id),
                ],
            )
            .await?
            .into_iter()
            .next())
    }

    /// Sets organization `org_id`'s connection up (or changes it): a changed issuer or
    /// client id needs a new successful sign-in before enforcement, so it ends the
    /// validation and the enforcement; a new secret is sealed under the key ring.
    ///
    /// # Errors
    /// The database's.
    pub async fn save(&self, org_id: &str, spec: &ConnectionSpec) -> Result<Connection, PowError> {
        // Kept exactly as given: discovery and `iss` compare issuers as strings.
        let issuer = spec.issuer.trim().to_owned();
        let sealed = spec
            .client_secret
            .as_deref()
            .filter(|secret| !secret.is_empty())
            .map(|secret| sealed::seal(&self.config, secret));
        let now = now();
        let existing = self.of_organization(org_id).await?;
        let (sql, params): (String, Vec<SqlParam>) = match &existing {
            Some(old) => {
                // Another provider (or another certificate) must prove itself again.
                let changed = old.issuer != issuer
                    || old.client_id != spec.client_id
                    || old.protocol != spec.protocol.as_str()
                    || (spec.saml_metadata.is_some() && old.saml_metadata != spec.saml_metadata);
                let sql = format!(
                    "UPDATE {} SET issuer = $1, client_id = $2, client_secret = COALESCE($3, client_secret), \
                     default_role = $4, updated_at = $5, protocol = $6, \
                     saml_metadata = COALESCE($7, saml_metadata), idp_initiated = $8{} WHERE id = $9",
                    self.connections,
                    if changed {
                        ", validated_at = NULL, enforced = FALSE"
                    } else {
                        ""
                    }
                );
                (
                    sql,
                    vec![
                        SqlParam::Text(issuer),
                        SqlParam::Text(spec.client_id.clone()),
                        SqlParam::OptText(sealed),
                        SqlParam::Text(spec.default_role.clone()),
                        SqlParam::At(now),
                        SqlParam::Text(spec.protocol.as_str().to_owned()),
                        SqlParam::OptText(spec.saml_metadata.clone()),
                        SqlParam::Bool(spec.idp_initiated),
                        SqlParam::Text(old.id.clone()),
                    ],
                )
            }
            None => {
                let sql = format!(
                    "INSERT INTO {} (id, organization_id, protocol, issuer, client_id, client_secret, \
                     default_role, saml_metadata, idp_initiated, enabled, enforced, inserted_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, FALSE, $10, $11)",
                    self.connections
                );
                (
                    sql,
                    vec![
                        SqlParam::Text(pow_core::token::generate_uuid()),
                        SqlParam::Text(org_id.to_owned()),
                        SqlParam::Text(spec.protocol.as_str().to_owned()),
                        SqlParam::Text(issuer),
                        SqlParam::Text(spec.client_id.clone()),
                        SqlParam::OptText(sealed),
                        SqlParam::Text(spec.default_role.clone()),
                        SqlParam::OptText(spec.saml_metadata.clone()),
                        SqlParam::Bool(spec.idp_initiated),
                        SqlParam::At(now),
                        SqlParam::At(now),
                    ],
                )
            }
        };
        self.execute(sql, params).await?;
        self.of_organization(org_id)
            .await?
            .ok_or_else(|| PowError::Database("the saved connection is gone".into()))
    }

    /// Sets column `column` (`enabled`, `enforced`) of connection `id`.
    pub(crate) async fn set_flag(&self, id: &str, column: Flag, on: bool) -> Result<(), PowError> {
        let sql = format!(
            "UPDATE {} SET {} = $1, updated_at = $2 WHERE id = $3",
            self.connections,
            column.name()
        );
        self.execute(
            sql,
            vec![
                SqlParam::Bool(on),
                SqlParam::At(now()),
                SqlParam::Text(id.to_owned()),
            ],
        )
        .await
        .map(drop)
    }

    /// Records a successful sign-in through connection `id` with its current settings.
    pub(crate) async fn mark_validated(&self, id: &str) -> Result<(), PowError> {
        let sql = format!(
            "UPDATE {} SET validated_at = $1 WHERE id = $2",
            self.connections
        );
        self.execute(
            sql,
            vec![SqlParam::At(now()), SqlParam::Text(id.to_owned())],
        )
        .await
        .map(drop)
    }

    /// Names the break-glass owner of connection `id` (`None`: nobody).
    pub(crate) async fn set_break_glass(
        &self,
        id: &str,
        user_id: Option<i64>,
    ) -> Result<(), PowError> {
        let sql = format!(
            "UPDATE {} SET break_glass_user_id = $1, updated_at = $2 WHERE id = $3",
            self.connections
        );
        self.execute(
            sql,
            vec![
                SqlParam::OptInt(user_id),
                SqlParam::At(now()),
                SqlParam::Text(id.to_owned()),
            ],
        )
        .await
        .map(drop)
    }

    /// Removes connection `id` and its identities.
    pub(crate) async fn remove(&self, id: &str) -> Result<bool, PowError> {
        let identities = format!("DELETE FROM {} WHERE connection_id = $1", self.identities);
        self.execute(identities, vec![SqlParam::Text(id.to_owned())])
            .await?;
        let sql = format!("DELETE FROM {} WHERE id = $1", self.connections);
        Ok(self
            .execute(sql, vec![SqlParam::Text(id.to_owned())])
            .await?
            > 0)
    }

    /// The client secret of `connection`, opened; `None` when it has none or the key ring
    /// no longer opens it.
    pub(crate) fn client_secret(&self, connection: &Connection) -> Option<String> {
        sealed::open(&self.config, connection.sealed_secret.as_deref()?)
    }

    /// The user signed in through `connection_id` as `subject`.
    ///
    /// # Errors
    /// The database's.
    pub async fn identity(
        &self,
        connection_id: &str,
        subject: &str,
    ) -> Result<Option<Identity>, PowError> {
        let sql = format!(
            "SELECT connection_id, subject, user_id, email, inserted_at, last_sign_in_at \
             FROM {} WHERE connection_id = $1 AND subject = $2",
            self.identities
        );
        let (connection_id, subject) = (connection_id.to_owned(), subject.to_owned());
        let rows: Vec<IdentityRow> = self
            .tables
            .run(move |db| -> Result<Vec<IdentityRow>, PowError> {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Text, _>(&connection_id)
                    .bind::<Text, _>(&subject)
                    .load::<IdentityRow>(conn)
                    .map_err(query_error))
            })
            .await?;
        Ok(rows.into_iter().next().map(Identity::from))
    }

    /// Links `subject` at `connection_id` to `user_id` (or records another sign-in of it).
    pub(crate) async fn link(
        &self,
        connection_id: &str,
        subject: &str,
        user_id: i64,
        email: Option<&str>,
    ) -> Result<(), PowError> {
        let now = now();
        let update = format!(
            "UPDATE {} SET email = $1, last_sign_in_at = $2 WHERE connection_id = $3 AND subject = $4 AND user_id = $5",
            self.identities
        );
        let updated = self
            .execute(
                update,
                vec![
                    SqlParam::OptText(email.map(str::to_owned)),
                    SqlParam::At(now),
                    SqlParam::Text(connection_id.to_owned()),
                    SqlParam::Text(subject.to_owned()),
                    SqlParam::Int(user_id),
                ],
            )
            .await?;
        if updated > 0 {
            return Ok(());
        }
        let insert = format!(
            "INSERT INTO {} (connection_id, subject, user_id, email, inserted_at, last_sign_in_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            self.identities
        );
        self.execute(
            insert,
            vec![
                SqlParam::Text(connection_id.to_owned()),
                SqlParam::Text(subject.to_owned()),
                SqlParam::Int(user_id),
                SqlParam::OptText(email.map(str::to_owned)),
                SqlParam::At(now),
                SqlParam::At(now),
            ],
        )
        .await
        .map(drop)
    }

    /// The identities of `user_id`.
    ///
    /// # Errors
    /// The database's.
    pub async fn identities_of(&self, user_id: i64) -> Result<Vec<Identity>, PowError> {
        let sql = format!(
            "SELECT connection_id, subject, user_id, email, inserted_at, last_sign_in_at \
             FROM {} WHERE user_id = $1 ORDER BY inserted_at",
            self.identities
        );
        let rows: Vec<IdentityRow> = self
            .tables
            .run(move |db| -> Result<Vec<IdentityRow>, PowError> {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<BigInt, _>(user_id)
                    .load::<IdentityRow>(conn)
                    .map_err(query_error))
            })
            .await?;
        Ok(rows.into_iter().map(Identity::from).collect())
    }

    /// Forgets the identities of `user_id` (an erased account).
    pub(crate) async fn forget_user(&self, user_id: i64) -> Result<(), PowError> {
        let sql = format!("DELETE FROM {} WHERE user_id = $1", self.identities);
        self.execute(sql, vec![SqlParam::Int(user_id)])
            .await
            .map(drop)
    }

    /// The members of organization `org_id`.
    pub(crate) async fn member_ids(&self, org_id: &str) -> Result<Vec<i64>, PowError> {
        self.members_where(org_id, None).await
    }

    /// The members of organization `org_id` with `role`.
    pub(crate) async fn member_ids_with_role(
        &self,
        org_id: &str,
        role: &str,
    ) -> Result<Vec<i64>, PowError> {
        self.members_where(org_id, Some(role.to_owned())).await
    }

    async fn members_where(
        &self,
        org_id: &str,
        role: Option<String>,
    ) -> Result<Vec<i64>, PowError> {
        let mut sql = format!(
            "SELECT user_id FROM {} WHERE organization_id = $1",
            self.members
        );
        let mut params = vec![SqlParam::Text(org_id.to_owned())];
        if let Some(role) = role {
            sql.push_str(" AND role = $2");
            params.push(SqlParam::Text(role));
        }
        sql.push_str(" ORDER BY user_id");
        let rows: Vec<UserIdRow> = self
            .tables
            .run(move |db| -> Result<Vec<UserIdRow>, PowError> {
                with_conn!(db, conn => pow_core::sql_bound!(conn, &sql, params).load::<UserIdRow>(conn).map_err(query_error))
            })
            .await?;
        Ok(rows.into_iter().map(|row| row.user_id).collect())
    }

    /// Runs a statement; the rows it changed.
    async fn execute(&self, sql: String, params: Vec<SqlParam>) -> Result<usize, PowError> {
        self.tables
            .run(move |db| -> Result<usize, PowError> {
                with_conn!(db, conn => pow_core::sql_bound!(conn, &sql, params).execute(conn).map_err(query_error))
            })
            .await
    }
}

/// A connection's switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flag {
    Enabled,
    Enforced,
}

impl Flag {
    fn name(self) -> &'static str {
        match self {
            Flag::Enabled => "enabled",
            Flag::Enforced => "enforced",
        }
    }
}

//! Verified domains, when the app gives the extension a DNS resolver
//! ([`Organizations::domains`]): an organization claims a domain, proves it with a DNS TXT
//! record, and chooses who may join through it.
//!
//! - A member with `domains:manage` (admins and above by default) adds a domain: a name
//!   below a public suffix (`example.com`, `eng.example.com`; never `com` or `co.uk`, by
//!   the Public Suffix List). The answer holds the TXT record to publish:
//!   `_pow-verification.<domain>` with the value `pow-verification=<token>`.
//! - Verifying asks the resolver ([`TxtResolver`]) for that record; a verified domain
//!   belongs to one organization at a time.
//! - Its join policy: `off` (the default), `request` (a user asks, a member with
//!   `members:invite` approves or denies) or `automatic` (a user joins at once as a member).
//!   Either way only users whose **proven** address is at the domain.
//!
//! ```
//! use std::sync::Arc;
//! use pow_ext_organizations::domains::{self, JoinPolicy, StaticTxt};
//! use pow_ext_organizations::{flows, Organizations};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let dns = StaticTxt::new();
//! let users = pow_core::users::diesel::DieselUsersContext::connect(":memory:")?;
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .extension(pow_ext_email_confirmation::EmailConfirmation::new())
//!     .extension(Organizations::new().domains(dns.clone()))
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@acme.test", "correct horse")?;
//! flows::create(&config, &ada, "Acme", "acme").await?.unwrap();
//!
//! let domain = domains::add(&config, &ada, "acme", "acme.test").await?.unwrap();
//! dns.set(&domain.record_name(), [domain.record_value()]);
//! let verified = domains::verify(&config, &ada, "acme", &domain.id).await?.unwrap();
//! assert!(verified.verified_at.is_some());
//! domains::set_policy(&config, &ada, "acme", &domain.id, JoinPolicy::Automatic).await?.unwrap();
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ::diesel::result::{DatabaseErrorKind, Error as DieselError};
use ::diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use ::diesel::QueryableByName;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::audit::{self, AuditEvent};
use pow_core::users::diesel::query_error;
use pow_core::users::User;
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};

use crate::store::{execute, load, now, Joined, Store, P};
use crate::{events, flows, permission, Membership, Organization, Organizations, Refused};

/// The label of the TXT record below the domain: `_pow-verification.<domain>`.
pub const RECORD_LABEL: &str = "_pow-verification";
/// The prefix of the TXT record's value: `pow-verification=<token>`.
pub const RECORD_PREFIX: &str = "pow-verification=";

/// Looks up DNS TXT records: what proves a domain. The app gives one to
/// [`Organizations::domains`]; the `doh` feature has [`DohResolver`] (DNS over HTTPS),
/// and [`StaticTxt`] answers from a table (tests, and records an operator checked by hand).
#[async_trait]
pub trait TxtResolver: Send + Sync + 'static {
    /// The TXT records of `name` (each record's strings joined); empty when it has none.
    ///
    /// # Errors
    /// When the lookup fails (unreachable resolver, an answer it cannot read).
    async fn txt(&self, name: &str) -> Result<Vec<String>, PowError>;
}

/// TXT records from a table, set with [`StaticTxt::set`]. Clones share the table.
#[derive(Clone, Debug, Default)]
pub struct StaticTxt(Arc<Mutex<BTreeMap<String, Vec<String>>>>);

impl StaticTxt {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records of `name` become `records`.
    pub fn set<S: Into<String>>(&self, name: &str, records: impl IntoIterator<Item = S>) {
        let records = records.into_iter().map(Into::into).collect();
        if let Ok(mut table) = self.0.lock() {
            table.insert(name.to_ascii_lowercase(), records);
        }
    }
}

#[async_trait]
impl TxtResolver for StaticTxt {
    async fn txt(&self, name: &str) -> Result<Vec<String>, PowError> {
        let table = self
            .0
            .lock()
            .map_err(|_| PowError::Other("the TXT table is poisoned".into()))?;
        Ok(table
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(feature = "doh")]
pub use doh::DohResolver;

#[cfg(feature = "doh")]
mod doh {
    use std::time::Duration;

    use async_trait::async_trait;
    use pow_core::PowError;
    use serde::Deserialize;

    use super::TxtResolver;

    /// The longest answer read.
    const MAX_BODY: u64 = 64 * 1024;

    /// TXT lookups over DNS over HTTPS, with the JSON API of public resolvers (Cloudflare's
    /// and Google's `?name=<name>&type=TXT`, `Accept: application/dns-json`), through the
    /// blocking HTTP client on tokio's blocking pool.
    ///
    /// ```
    /// let dns = pow_ext_organizations::domains::DohResolver::cloudflare();
    /// let organizations = pow_ext_organizations::Organizations::new().domains(dns);
    /// ```
    #[derive(Clone)]
    pub struct DohResolver {
        endpoint: String,
        agent: ureq::Agent,
    }

    impl std::fmt::Debug for DohResolver {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("DohResolver")
                .field("endpoint", &self.endpoint)
                .finish_non_exhaustive()
        }
    }

    impl DohResolver {
        /// Lookups at `endpoint` (`https://cloudflare-dns.com/dns-query`), each within 5
        /// seconds.
        pub fn new(endpoint: impl Into<String>) -> Self {
            let agent = ureq::Agent::config_builder()
                .max_redirects(0)
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .user_agent("pow-rs")
                .build()
                .into();
            Self {
                endpoint: endpoint.into(),
                agent,
            }
        }

        /// Cloudflare's resolver.
        pub fn cloudflare() -> Self {
            Self::new("https://cloudflare-dns.com/dns-query")
        }

        /// Google's resolver.
        pub fn google() -> Self {
            Self::new("https://dns.google/resolve")
        }

        fn lookup(&self, name: &str) -> Result<Vec<String>, PowError> {
            let fail = |why: String| PowError::Other(format!("DNS lookup of {name}: {why}"));
            let mut response = self
                .agent
                .get(&self.endpoint)
                .query("name", name)
                .query("type", "TXT")
                .header("Accept", "application/dns-json")
                .call()
                .map_err(|err| fail(err.to_string()))?;
            if !response.status().is_success() {
                return Err(fail(format!("the resolver answered {}", response.status())));
            }
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(|err| fail(err.to_string()))?;
            let answer: Answer =
                serde_json::from_slice(&body).map_err(|err| fail(err.to_string()))?;
            // 0: an answer; 3 (NXDOMAIN): no such name, so no record.
            match answer.status {
                0 | 3 => {}
                status => return Err(fail(format!("DNS status {status}"))),
            }
            Ok(answer
                .answer
                .into_iter()
                .filter(|record| record.kind == 16)
                .map(|record| super::txt_data(&record.data))
                .collect())
        }
    }

    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Status")]
        status: u32,
        #[serde(rename = "Answer", default)]
        answer: Vec<Record>,
    }

    #[derive(Deserialize)]
    struct Record {
        #[serde(rename = "type")]
        kind: u16,
        data: String,
    }

    #[async_trait]
    impl TxtResolver for DohResolver {
        async fn txt(&self, name: &str) -> Result<Vec<String>, PowError> {
            let resolver = self.clone();
            let name = name.to_owned();
            tokio::task::spawn_blocking(move || resolver.lookup(&name))
                .await
                .map_err(|err| PowError::Other(format!("a DNS lookup failed: {err}")))?
        }
    }
}

/// A TXT record's data as resolvers print it (`"part one" "part two"`, or bare), its
/// strings joined.
#[cfg_attr(not(feature = "doh"), allow(dead_code))]
fn txt_data(data: &str) -> String {
    let data = data.trim();
    if !data.starts_with('"') {
        return data.to_owned();
    }
    let mut out = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in data.chars() {
        match (quoted, escaped, c) {
            (true, true, c) => {
                out.push(c);
                escaped = false;
            }
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (true, false, c) => out.push(c),
            (false, _, _) => {}
        }
    }
    out
}

/// Who may join an organization through a verified domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinPolicy {
    /// Nobody (the default).
    Off,
    /// A user asks; a member who may invite (`members:invite`) approves or denies.
    Request,
    /// A user joins at once, as a member.
    Automatic,
}

impl JoinPolicy {
    fn code(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Request => "request",
            Self::Automatic => "automatic",
        }
    }

    /// The policy named `code` (`off`, `request`, `automatic`).
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "off" => Some(Self::Off),
            "request" => Some(Self::Request),
            "automatic" => Some(Self::Automatic),
            _ => None,
        }
    }
}

/// A domain an organization claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// Its id.
    pub id: String,
    /// The domain (`example.com`).
    pub domain: String,
    /// The token the TXT record holds.
    pub token: String,
    /// Who may join through it (once verified).
    pub join_policy: JoinPolicy,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
}

impl Domain {
    /// The name of the TXT record to publish: `_pow-verification.<domain>`.
    pub fn record_name(&self) -> String {
        format!("{RECORD_LABEL}.{}", self.domain)
    }

    /// The value of the TXT record: `pow-verification=<token>`.
    pub fn record_value(&self) -> String {
        format!("{RECORD_PREFIX}{}", self.token)
    }
}

/// Why a domain was not added or verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Not a domain name, or a public suffix (`com`, `co.uk`) rather than a name below one.
    Domain,
    /// The organization claims it already.
    Claimed,
    /// The TXT record is not there (or holds another token).
    NotProven,
    /// Another organization verified it.
    Taken,
}

/// A request to join through a domain, as admins see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JoinRequest {
    /// The user's id.
    pub user_id: i64,
    /// Their address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When they asked.
    pub requested_at: DateTime<Utc>,
}

/// What asking to join came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Joining {
    /// The user is a member now (automatic).
    Joined(Membership),
    /// The request waits for an admin.
    Requested,
    /// The organization is full.
    Full,
}

#[derive(QueryableByName)]
struct DomainRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    domain: String,
    #[diesel(sql_type = Text)]
    token: String,
    #[diesel(sql_type = Text)]
    join_policy: String,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    verified_at: Option<NaiveDateTime>,
}

impl From<DomainRow> for Domain {
    fn from(row: DomainRow) -> Self {
        Self {
            id: row.id,
            domain: row.domain,
            token: row.token,
            join_policy: JoinPolicy::parse(&row.join_policy).unwrap_or(JoinPolicy::Off),
            created_at: row.inserted_at.and_utc(),
            verified_at: row.verified_at.map(|at| at.and_utc()),
        }
    }
}

#[derive(QueryableByName)]
struct RequestRow {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
}

#[derive(QueryableByName)]
struct OrgIdRow {
    #[diesel(sql_type = Text)]
    organization_id: String,
}

const COLUMNS: &str = "id, domain, token, join_policy, inserted_at, verified_at";

/// The domain tables' names.
struct Tables {
    store: Store,
    domains: String,
    requests: String,
}

impl Tables {
    fn new(config: &PowConfig) -> Result<Self, PowError> {
        let store = Store::new(config)?;
        Ok(Self {
            domains: store.tables.table("organization_domains"),
            requests: store.tables.table("organization_join_requests"),
            store,
        })
    }

    async fn domains(&self, condition: &str, params: Vec<P>) -> Result<Vec<Domain>, PowError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE {condition}", self.domains);
        let rows: Vec<DomainRow> = self.store.rows(sql, params).await?;
        Ok(rows.into_iter().map(Domain::from).collect())
    }

    async fn domain(&self, org_id: &str, id: &str) -> Result<Option<Domain>, PowError> {
        let found = self
            .domains(
                "id = $1 AND organization_id = $2",
                vec![id.into(), org_id.into()],
            )
            .await?;
        Ok(found.into_iter().next())
    }
}

fn settings(config: &PowConfig) -> Result<&Organizations, PowError> {
    Organizations::of(config)
        .ok_or_else(|| PowError::Config("the Organizations extension is not enabled".into()))
}

fn event(name: pow_core::audit::EventName, actor: &User, org: &str) -> AuditEvent {
    AuditEvent::new(name)
        .user(actor.id)
        .detail("organization", org.to_owned())
}

/// `user`'s membership of `slug` when domains are on, with `permission` when given.
async fn allowed(
    config: &PowConfig,
    user: &User,
    slug: &str,
    permission: Option<&str>,
) -> Result<Result<Membership, Refused>, PowError> {
    let settings = settings(config)?;
    if settings.resolver().is_none() {
        return Ok(Err(Refused::NotFound));
    }
    match flows::membership(config, user, slug).await? {
        None => Ok(Err(Refused::NotFound)),
        Some(m) if permission.is_none_or(|p| settings.allows(&m.role, p)) => Ok(Ok(m)),
        Some(_) => Ok(Err(Refused::Forbidden)),
    }
}

/// `domain` as stored: lowercase, without a final dot, when it is a name of letters,
/// digits and inner dashes below a public suffix.
pub fn normalize(domain: &str) -> Option<String> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() || domain.len() > 253 {
        return None;
    }
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    // At or below a registrable name: never a public suffix itself.
    let registrable = psl::domain_str(&domain).is_some();
    (labels_ok && registrable).then_some(domain)
}

/// The domains `slug` claims (`domains:manage`), with their tokens.
///
/// # Errors
/// The database's error.
pub async fn list(
    config: &PowConfig,
    actor: &User,
    slug: &str,
) -> Result<Result<Vec<Domain>, Refused>, PowError> {
    let membership = match allowed(config, actor, slug, Some(permission::MANAGE_DOMAINS)).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let tables = Tables::new(config)?;
    let org = membership.organization.id;
    Ok(Ok(tables
        .domains("organization_id = $1 ORDER BY domain", vec![org.into()])
        .await?))
}

/// Claims `domain` for `slug` (`domains:manage`): its token, to publish as a TXT record
/// ([`Domain::record_name`], [`Domain::record_value`]). Audited.
///
/// # Errors
/// The database's error.
pub async fn add(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    domain: &str,
) -> Result<Result<Domain, Result<Refused, Invalid>>, PowError> {
    let membership = match allowed(config, actor, slug, Some(permission::MANAGE_DOMAINS)).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(Ok(refused))),
    };
    let Some(name) = normalize(domain) else {
        return Ok(Err(Err(Invalid::Domain)));
    };
    let tables = Tables::new(config)?;
    let org = membership.organization.id;
    let added = Domain {
        id: pow_core::token::generate_uuid(),
        domain: name,
        token: pow_core::token::generate_uuid().replace('-', ""),
        join_policy: JoinPolicy::Off,
        created_at: now(),
        verified_at: None,
    };
    let sql = format!(
        "INSERT INTO {} (id, organization_id, domain, token, join_policy, inserted_at, \
         verified_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        tables.domains
    );
    let params = vec![
        P::from(added.id.as_str()),
        P::from(org.as_str()),
        P::from(added.domain.as_str()),
        P::from(added.token.as_str()),
        P::from(added.join_policy.code()),
        P::from(added.created_at),
    ];
    let stored: bool = tables
        .store
        .tables
        .run(move |db| {
            with_conn!(db, conn => match execute(conn, &sql, &params) {
                Ok(_) => Ok(true),
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
                Err(err) => Err(query_error(err)),
            })
        })
        .await?;
    if !stored {
        return Ok(Err(Err(Invalid::Claimed)));
    }
    audit::record(
        config,
        event(events::DOMAIN_ADDED, actor, &org).detail("domain", added.domain.clone()),
    );
    Ok(Ok(added))
}

/// Verifies the domain `id` of `slug` (`domains:manage`): the resolver must find its TXT
/// record; a domain another organization verified is refused. Audited.
///
/// # Errors
/// The resolver's or the database's error.
pub async fn verify(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    id: &str,
) -> Result<Result<Domain, Result<Refused, Invalid>>, PowError> {
    let membership = match allowed(config, actor, slug, Some(permission::MANAGE_DOMAINS)).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(Ok(refused))),
    };
    let org = membership.organization.id;
    let tables = Tables::new(config)?;
    let Some(mut domain) = tables.domain(&org, id).await? else {
        return Ok(Err(Ok(Refused::NotFound)));
    };
    if domain.verified_at.is_some() {
        return Ok(Ok(domain));
    }
    let Some(resolver) = settings(config)?.resolver() else {
        return Ok(Err(Ok(Refused::NotFound)));
    };
    let records = resolver.txt(&domain.record_name()).await?;
    let expected = domain.record_value();
    if !records.iter().any(|record| record.trim() == expected) {
        return Ok(Err(Err(Invalid::NotProven)));
    }
    let at = now();
    let sql = format!(
        "UPDATE {} SET verified_at = $1 WHERE id = $2 AND organization_id = $3",
        tables.domains
    );
    let params = vec![P::from(at), P::from(id), P::from(org.as_str())];
    let verified: Result<(), Result<Refused, Invalid>> = tables
        .store
        .tables
        .run(move |db| {
            with_conn!(db, conn => match execute(conn, &sql, &params) {
                // Given up meanwhile.
                Ok(0) => Ok(Err(Ok(Refused::NotFound))),
                Ok(_) => Ok(Ok(())),
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    Ok(Err(Err(Invalid::Taken)))
                }
                Err(err) => Err(query_error(err)),
            })
        })
        .await?;
    if let Err(refused) = verified {
        return Ok(Err(refused));
    }
    audit::record(
        config,
        event(events::DOMAIN_VERIFIED, actor, &org).detail("domain", domain.domain.clone()),
    );
    domain.verified_at = Some(at);
    Ok(Ok(domain))
}

/// Sets who may join `slug` through the domain `id` (`domains:manage`); it counts once the
/// domain is verified.
///
/// # Errors
/// The database's error.
pub async fn set_policy(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    id: &str,
    policy: JoinPolicy,
) -> Result<Result<(), Refused>, PowError> {
    let membership = match allowed(config, actor, slug, Some(permission::MANAGE_DOMAINS)).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let org = membership.organization.id;
    let tables = Tables::new(config)?;
    let sql = format!(
        "UPDATE {} SET join_policy = $1 WHERE id = $2 AND organization_id = $3",
        tables.domains
    );
    let changed = tables
        .store
        .exec(
            sql,
            vec![policy.code().into(), id.into(), org.as_str().into()],
        )
        .await?;
    if changed == 0 {
        return Ok(Err(Refused::NotFound));
    }
    audit::record(
        config,
        event(events::DOMAIN_POLICY_CHANGED, actor, &org)
            .detail("domain_id", id.to_owned())
            .detail("policy", policy.code()),
    );
    Ok(Ok(()))
}

/// Gives up the domain `id` of `slug` (`domains:manage`). Audited.
///
/// # Errors
/// The database's error.
pub async fn remove(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    id: &str,
) -> Result<Result<(), Refused>, PowError> {
    let membership = match allowed(config, actor, slug, Some(permission::MANAGE_DOMAINS)).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let org = membership.organization.id;
    let tables = Tables::new(config)?;
    let sql = format!(
        "DELETE FROM {} WHERE id = $1 AND organization_id = $2",
        tables.domains
    );
    if tables
        .store
        .exec(sql, vec![id.into(), org.as_str().into()])
        .await?
        == 0
    {
        return Ok(Err(Refused::NotFound));
    }
    audit::record(
        config,
        event(events::DOMAIN_REMOVED, actor, &org).detail("domain_id", id.to_owned()),
    );
    Ok(Ok(()))
}

/// The domain of `user`'s proven address, if it has one.
fn proven_domain(config: &PowConfig, user: &User) -> Option<String> {
    let proof = config.extensions().address_proof()?;
    if !proof.is_proven(user) {
        return None;
    }
    let email = user.email()?;
    let (_, domain) = email.rsplit_once('@')?;
    Some(domain.to_ascii_lowercase())
}

/// The open organization that verified `domain` (a verified domain belongs to one
/// organization at a time), for another extension that routes by address (single
/// sign-on's identifier-first sign-in).
///
/// # Errors
/// The database's error.
pub async fn verified_owner(
    config: &PowConfig,
    domain: &str,
) -> Result<Option<Organization>, PowError> {
    let Some(domain) = normalize(domain) else {
        return Ok(None);
    };
    let tables = Tables::new(config)?;
    let sql = format!(
        "SELECT organization_id FROM {} WHERE domain = $1 AND verified_at IS NOT NULL",
        tables.domains
    );
    let rows: Vec<OrgIdRow> = tables
        .store
        .rows(sql, vec![P::from(domain.as_str())])
        .await?;
    match rows.into_iter().next() {
        Some(row) => tables.store.by_id(&row.organization_id).await,
        None => Ok(None),
    }
}

/// The domains the organization `org_id` verified, for another extension's rules
/// (single sign-on enforcement covers the members at them).
///
/// # Errors
/// The database's error.
pub async fn verified_domains(config: &PowConfig, org_id: &str) -> Result<Vec<String>, PowError> {
    let tables = Tables::new(config)?;
    Ok(tables
        .domains(
            "organization_id = $1 AND verified_at IS NOT NULL ORDER BY domain",
            vec![org_id.into()],
        )
        .await?
        .into_iter()
        .map(|domain| domain.domain)
        .collect())
}

/// The open organizations `user` may join through the verified domain of their proven
/// address (its policy `request` or `automatic`), which they are not a member of, with the
/// policy.
///
/// # Errors
/// The database's error.
pub async fn joinable(
    config: &PowConfig,
    user: &User,
) -> Result<Vec<(Organization, JoinPolicy)>, PowError> {
    if settings(config)?.resolver().is_none() {
        return Ok(Vec::new());
    }
    // The row as stored: a proof or an address change since the session began counts.
    let Some(user) = config.users()?.get(user.id).await? else {
        return Ok(Vec::new());
    };
    let Some(domain) = proven_domain(config, &user) else {
        return Ok(Vec::new());
    };
    let tables = Tables::new(config)?;
    let sql = format!(
        "SELECT organization_id FROM {} WHERE domain = $1 AND verified_at IS NOT NULL \
         AND join_policy <> $2",
        tables.domains
    );
    let params = vec![P::from(domain.as_str()), P::from(JoinPolicy::Off.code())];
    let rows: Vec<OrgIdRow> = tables.store.rows(sql, params).await?;
    let mut out = Vec::new();
    for row in rows {
        if tables
            .store
            .membership(&row.organization_id, user.id)
            .await?
            .is_some()
        {
            continue;
        }
        let Some(org) = tables.store.by_id(&row.organization_id).await? else {
            continue;
        };
        let policy = tables
            .domains(
                "organization_id = $1 AND domain = $2",
                vec![org.id.as_str().into(), domain.as_str().into()],
            )
            .await?
            .first()
            .map_or(JoinPolicy::Off, |d| d.join_policy);
        out.push((org, policy));
    }
    Ok(out)
}

/// `user` joins `slug` through the verified domain of their proven address: at once as a
/// member when its policy is `automatic`, as a request a member who may invite decides
/// when it is `request`; [`Refused::NotFound`] when no such domain lets them. Audited.
///
/// # Errors
/// The database's error.
pub async fn join(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Result<Joining, Refused>, PowError> {
    let settings = settings(config)?;
    let store = Store::new(config)?;
    let Some(org) = store.by_slug(slug).await? else {
        return Ok(Err(Refused::NotFound));
    };
    let Some((_, policy)) = joinable(config, user)
        .await?
        .into_iter()
        .find(|(candidate, _)| candidate.id == org.id)
    else {
        return Ok(Err(Refused::NotFound));
    };
    let tables = Tables::new(config)?;
    match policy {
        JoinPolicy::Off => Ok(Err(Refused::NotFound)),
        JoinPolicy::Automatic => {
            let joined = store
                .add_member(&org.id, user.id, crate::MEMBER, settings.max_members, None)
                .await?;
            finish_join(config, &store, &org, user, joined, user).await
        }
        JoinPolicy::Request => {
            let sql = format!(
                "INSERT INTO {} (organization_id, user_id, inserted_at) VALUES ($1, $2, $3)",
                tables.requests
            );
            let params = vec![P::from(org.id.as_str()), P::from(user.id), P::from(now())];
            let asked = tables
                .store
                .tables
                .run(move |db| {
                    with_conn!(db, conn => match execute(conn, &sql, &params) {
                        Ok(_) => Ok(true),
                        // Asked before: the same answer.
                        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                            Ok(false)
                        }
                        Err(err) => Err(query_error(err)),
                    })
                })
                .await?;
            if asked {
                audit::record(config, event(events::JOIN_REQUESTED, user, &org.id));
            }
            Ok(Ok(Joining::Requested))
        }
    }
}

async fn finish_join(
    config: &PowConfig,
    store: &Store,
    org: &Organization,
    user: &User,
    joined: Joined,
    actor: &User,
) -> Result<Result<Joining, Refused>, PowError> {
    match joined {
        Joined::Member(role) => audit::record(
            config,
            event(events::JOINED, actor, &org.id)
                .detail("member", user.id.to_string())
                .detail("role", role),
        ),
        Joined::Already => {}
        Joined::Full => return Ok(Ok(Joining::Full)),
        Joined::Gone => return Ok(Err(Refused::NotFound)),
    }
    match store.membership(&org.id, user.id).await? {
        Some(membership) => Ok(Ok(Joining::Joined(membership))),
        None => Ok(Err(Refused::NotFound)),
    }
}

/// The requests to join `slug` waiting for an admin (`members:invite`), oldest first.
///
/// # Errors
/// The database's error.
pub async fn requests(
    config: &PowConfig,
    actor: &User,
    slug: &str,
) -> Result<Result<Vec<JoinRequest>, Refused>, PowError> {
    let membership = match allowed(config, actor, slug, Some(permission::INVITE)).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let tables = Tables::new(config)?;
    let sql = format!(
        "SELECT user_id, inserted_at FROM {} WHERE organization_id = $1 \
         ORDER BY inserted_at, user_id",
        tables.requests
    );
    let params = vec![P::from(membership.organization.id.as_str())];
    let rows: Vec<RequestRow> = tables.store.rows(sql, params).await?;
    let users = config.users()?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let email = users
            .get(row.user_id)
            .await?
            .and_then(|user| user.email().map(str::to_owned));
        out.push(JoinRequest {
            user_id: row.user_id,
            email,
            requested_at: row.inserted_at.and_utc(),
        });
    }
    Ok(Ok(out))
}

/// Decides the request of `user_id` to join `slug` (`members:invite`): approved, they
/// are a member (within the cap) if the domain still lets them ask (verified, its policy
/// `request`, their proven address at it; else the request goes as [`Refused::NotFound`]);
/// denied, the request goes. Audited.
///
/// # Errors
/// The database's error.
pub async fn decide(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    user_id: i64,
    approve: bool,
) -> Result<Result<Option<Joining>, Refused>, PowError> {
    let settings = settings(config)?;
    let membership = match allowed(config, actor, slug, Some(permission::INVITE)).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let org = membership.organization;
    let tables = Tables::new(config)?;
    let exists = format!(
        "SELECT user_id, inserted_at FROM {} WHERE organization_id = $1 AND user_id = $2",
        tables.requests
    );
    let params = vec![P::from(org.id.as_str()), P::from(user_id)];
    let found: Vec<RequestRow> = tables
        .store
        .tables
        .run(move |db| with_conn!(db, conn => load(conn, &exists, &params).map_err(query_error)))
        .await?;
    if found.is_empty() {
        return Ok(Err(Refused::NotFound));
    }
    let delete = format!(
        "DELETE FROM {} WHERE organization_id = $1 AND user_id = $2",
        tables.requests
    );
    if !approve {
        tables
            .store
            .exec(delete, vec![org.id.as_str().into(), user_id.into()])
            .await?;
        audit::record(
            config,
            event(events::JOIN_DENIED, actor, &org.id).detail("member", user_id.to_string()),
        );
        return Ok(Ok(None));
    }
    // The domain must still let them ask: verified, its policy `request`, their proven
    // address at it. A request it no longer allows goes.
    let Some(user) = config.users()?.get(user_id).await? else {
        return Ok(Err(Refused::NotFound));
    };
    let allowed = joinable(config, &user)
        .await?
        .into_iter()
        .any(|(candidate, policy)| candidate.id == org.id && policy == JoinPolicy::Request);
    if !allowed {
        tables
            .store
            .exec(delete, vec![org.id.as_str().into(), user_id.into()])
            .await?;
        return Ok(Err(Refused::NotFound));
    }
    let joined = tables
        .store
        .add_member(
            &org.id,
            user_id,
            crate::MEMBER,
            settings.max_members,
            Some(delete),
        )
        .await?;
    finish_join(config, &tables.store, &org, &user, joined, actor)
        .await
        .map(|outcome| outcome.map(Some))
}

/// The requests to join `user_id` has made, for their export.
pub(crate) async fn requests_of(
    config: &PowConfig,
    user_id: i64,
) -> Result<Vec<serde_json::Value>, PowError> {
    let tables = Tables::new(config)?;
    let sql = format!(
        "SELECT r.organization_id, r.inserted_at FROM {} r WHERE r.user_id = $1 \
         ORDER BY r.inserted_at",
        tables.requests
    );
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        organization_id: String,
        #[diesel(sql_type = Timestamp)]
        inserted_at: NaiveDateTime,
    }
    let params = vec![P::from(user_id)];
    let rows: Vec<Row> = tables.store.rows(sql, params).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let slug = tables
            .store
            .by_id(&row.organization_id)
            .await?
            .map(|org| org.slug);
        out.push(serde_json::json!({
            "organization": slug,
            "requested_at": row.inserted_at.and_utc(),
        }));
    }
    Ok(out)
}

/// Deletes every request to join `user_id` has made (their erasure).
pub(crate) async fn forget_requests(config: &PowConfig, user_id: i64) -> Result<(), PowError> {
    let tables = Tables::new(config)?;
    let sql = format!("DELETE FROM {} WHERE user_id = $1", tables.requests);
    tables
        .store
        .exec(sql, vec![user_id.into()])
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_suffixes_and_malformed_names_are_refused() {
        assert_eq!(normalize("Example.COM."), Some("example.com".into()));
        assert_eq!(
            normalize("eng.example.co.uk"),
            Some("eng.example.co.uk".into())
        );
        for refused in [
            "com",
            "co.uk",
            "github.io",
            "",
            "exa mple.com",
            "-a.com",
            "a..com",
        ] {
            assert_eq!(normalize(refused), None, "{refused}");
        }
    }

    #[test]
    fn txt_data_joins_quoted_strings() {
        assert_eq!(
            txt_data("\"pow-verification=ab\" \"cd\""),
            "pow-verification=abcd"
        );
        assert_eq!(txt_data("plain"), "plain");
        assert_eq!(txt_data("\"a \\\"quoted\\\" b\""), "a \"quoted\" b");
    }
}

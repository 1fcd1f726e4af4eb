//! Clients registered at run time, kept in the `oauth_clients` table: by the `pow provider`
//! commands, by an admin on the clients page (HTML and JSON), or by a client itself through
//! dynamic registration (RFC 7591) when the provider takes it. The same rules as the
//! setup's clients apply ([`ClientRegistration`]'s checks); a secret is generated here,
//! shown once, and kept only as a keyed hash under the key ring. A rotation keeps the
//! previous secret working for an overlap, and a secret can expire.
//!
//! ```no_run
//! # async fn run(config: &pow_core::PowConfig, provider: &pow_ext_provider::Provider)
//! # -> Result<(), pow_core::PowError> {
//! use pow_ext_provider::registry::{ClientSpec, Registry};
//! use pow_ext_provider::ClientKind;
//!
//! let spec = ClientSpec::new(ClientKind::Confidential)
//!     .name("Partner portal")
//!     .redirect_uri("https://partner.example/callback");
//! match Registry::new(config)?.register(provider, spec, false, None).await? {
//!     Ok(created) => println!("{}: {}", created.client.id, created.secret.unwrap_or_default()),
//!     Err(refused) => eprintln!("{refused}"),
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use ::diesel::sql_types::{Bool, Nullable, Text, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, NaiveDateTime, Utc};
use pow_core::audit::{self, AuditEvent};
use pow_core::token::secure_compare;
use pow_core::users::diesel::{query_error, Tables};
use pow_core::with_connection as with_conn;
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};

use crate::clients::{ClientKind, ClientRegistration, GrantType};
use crate::{events, Provider};

/// The purpose the secrets' keyed hashes are taken under.
const SECRET_PURPOSE: &str = "pow_provider client secret";

/// The prefix of generated client ids.
const ID_PREFIX: &str = "powc_";

/// The prefix of generated client secrets (secret scanners find them by it).
pub const SECRET_PREFIX: &str = "powcs_";

/// A dynamically registered client never used is collected after this long.
const NEVER_USED: Duration = Duration::from_secs(24 * 3600);
/// A dynamically registered client not used for this long is collected.
const LONG_UNUSED: Duration = Duration::from_secs(90 * 24 * 3600);
/// `last_used_at` is written at most this often per client.
const USE_GRANULARITY: Duration = Duration::from_secs(3600);

/// The most redirect URIs a client registers.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The most resources a client is allowed.
pub const MAX_RESOURCES: usize = 20;
/// The longest client name kept.
pub const MAX_NAME_LEN: usize = 100;

/// What to register: the same settings as [`ClientRegistration`], with the secret
/// generated rather than given.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Its id; generated (`powc_…`) when none is given.
    #[serde(default)]
    pub id: Option<String>,
    /// The name the consent page shows.
    #[serde(default)]
    pub name: Option<String>,
    /// Public or confidential (`"public"`, `"confidential"`).
    pub kind: Option<ClientKind>,
    /// Its redirect URIs, compared exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where the browser may go back after the client sends it to sign out.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for; every scope offered when none are named.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Its grants besides the authorization code (`"device_code"`, `"client_credentials"`),
    /// among those the provider allows registered clients
    /// ([`Provider::registered_client_grants`]).
    #[serde(default)]
    pub grants: Vec<GrantType>,
    /// The declared resources it may get tokens for (RFC 8707); none by default: then its
    /// tokens are bound to no resource ([`ClientRegistration::resource`]).
    #[serde(default)]
    pub resources: Vec<String>,
    /// How long a confidential client's secret works, in days; forever when none is given.
    #[serde(default)]
    pub secret_days: Option<u32>,
}

impl ClientSpec {
    /// A client of `kind`, with nothing else set yet.
    pub fn new(kind: ClientKind) -> Self {
        Self {
            kind: Some(kind),
            ..Self::default()
        }
    }

    /// Sets its id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the name the consent page shows.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a redirect URI.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Sets the scopes it may ask for.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a grant.
    pub fn grant(mut self, grant: GrantType) -> Self {
        if !self.grants.contains(&grant) {
            self.grants.push(grant);
        }
        self
    }

    /// Adds a resource it may get tokens for.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        let uri = uri.into();
        if !self.resources.contains(&uri) {
            self.resources.push(uri);
        }
        self
    }

    /// Lets the secret work for `days`.
    pub fn secret_days(mut self, days: u32) -> Self {
        self.secret_days = Some(days);
        self
    }
}

/// A registered client as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredClient {
    /// Its id.
    pub id: String,
    /// The name the consent page shows.
    pub name: Option<String>,
    /// Public or confidential.
    pub kind: ClientKind,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Its post-logout redirect URIs (RP-initiated logout).
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for; `None`: every scope offered.
    pub scopes: Option<Vec<String>>,
    /// Its grants.
    pub grants: Vec<GrantType>,
    /// The resources it may get tokens for.
    pub resources: Vec<String>,
    /// Whether it registered itself (RFC 7591).
    pub dynamic: bool,
    /// When its secret stops working, if it does.
    pub secret_expires_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still works.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last got tokens (to the hour).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A client just registered, with its secret: the only time the secret is seen.
#[derive(Clone, Debug, Serialize)]
pub struct Created {
    /// The client.
    pub client: StoredClient,
    /// A confidential client's secret, to hand over now.
    pub secret: Option<String>,
}

/// Why a registration is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A setting the registration rules do not allow.
    #[error("{0}")]
    Invalid(String),
    /// A client with that id exists (in the setup or the table).
    #[error("a client with this id exists")]
    Taken,
}

/// The secrets a stored client's token requests are checked against.
#[derive(Clone, Debug)]
pub(crate) struct StoredSecret {
    current: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    previous: Option<String>,
    previous_until: Option<DateTime<Utc>>,
    /// Whether `last_used_at` is old enough to be written again.
    pub(crate) use_stale: bool,
}

impl StoredSecret {
    /// A secret that is only there for the registration checks.
    fn checked() -> Self {
        Self {
            current: Some(String::new()),
            expires_at: None,
            previous: None,
            previous_until: None,
            use_stale: false,
        }
    }

    /// Whether `secret` is the current (unexpired) secret or the previous one within its
    /// overlap, under any key of the ring; every candidate compared in constant time.
    pub(crate) fn matches(&self, config: &PowConfig, secret: &str) -> bool {
        let now = config.clock().now();
        let digests = config.verifier().token_digests(SECRET_PURPOSE, secret);
        fn live(
            stored: Option<&str>,
            until: Option<DateTime<Utc>>,
            now: DateTime<Utc>,
        ) -> Option<&str> {
            stored.filter(|_| until.is_none_or(|until| until > now))
        }
        let candidates = [
            live(self.current.as_deref(), self.expires_at, now),
            // A previous secret works only until its overlap ends.
            live(
                self.previous.as_deref(),
                self.previous_until.or(Some(now)),
                now,
            ),
        ];
        let mut found = false;
        for stored in candidates.into_iter().flatten() {
            for digest in &digests {
                found |= secure_compare(digest.as_bytes(), stored.as_bytes());
            }
        }
        found
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    client_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    redirect_uris: String,
    #[diesel(sql_type = Text)]
    post_logout_redirect_uris: String,
    #[diesel(sql_type = Nullable<Text>)]
    scopes: Option<String>,
    #[diesel(sql_type = Text)]
    grants: String,
    #[diesel(sql_type = Text)]
    resources: String,
    #[diesel(sql_type = Nullable<Text>)]
    secret_digest: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    secret_expires_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    previous_secret_digest: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    previous_secret_until: Option<NaiveDateTime>,
    #[diesel(sql_type = Bool)]
    dynamic: bool,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_used_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Timestamp)]
    inserted_at: NaiveDateTime,
}

const COLUMNS: &str = "client_id, name, kind, redirect_uris, post_logout_redirect_uris, scopes, grants, resources, \
    secret_digest, secret_expires_at, previous_secret_digest, previous_secret_until, dynamic, last_used_at, \
    inserted_at";

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn kind_name(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Public => "public",
        ClientKind::Confidential => "confidential",
    }
}

impl Row {
    fn client(&self) -> StoredClient {
        StoredClient {
            id: self.client_id.clone(),
            name: self.name.clone(),
            kind: match self.kind.as_str() {
                "confidential" => ClientKind::Confidential,
                _ => ClientKind::Public,
            },
            redirect_uris: words(&self.redirect_uris),
            post_logout_redirect_uris: words(&self.post_logout_redirect_uris),
            scopes: self.scopes.as_deref().map(words),
            grants: words(&self.grants)
                .iter()
                .filter_map(|name| GrantType::from_name(name))
                .collect(),
            resources: words(&self.resources),
            dynamic: self.dynamic,
            secret_expires_at: self.secret_expires_at.map(|at| at.and_utc()),
            previous_secret_until: self.previous_secret_until.map(|at| at.and_utc()),
            created_at: self.inserted_at.and_utc(),
            last_used_at: self.last_used_at.map(|at| at.and_utc()),
        }
    }

    fn secret(&self) -> StoredSecret {
        let stale = chrono::Duration::from_std(USE_GRANULARITY).unwrap_or_default();
        StoredSecret {
            current: self.secret_digest.clone(),
            expires_at: self.secret_expires_at.map(|at| at.and_utc()),
            previous: self.previous_secret_digest.clone(),
            previous_until: self.previous_secret_until.map(|at| at.and_utc()),
            use_stale: self
                .last_used_at
                .is_none_or(|at| at.and_utc() + stale < Utc::now()),
        }
    }
}

/// The registration of `client`, as the token and authorization endpoints use it.
fn registration(client: &StoredClient, secret: StoredSecret) -> ClientRegistration {
    let mut registration = match client.kind {
        ClientKind::Public => ClientRegistration::public(client.id.clone()),
        ClientKind::Confidential => ClientRegistration::stored_confidential(client.id.clone()),
    };
    if let Some(name) = &client.name {
        registration = registration.name(name.clone());
    }
    for uri in &client.redirect_uris {
        registration = registration.redirect_uri(uri.clone());
    }
    for uri in &client.post_logout_redirect_uris {
        registration = registration.post_logout_redirect_uri(uri.clone());
    }
    if let Some(scopes) = &client.scopes {
        registration = registration.allowed_scopes(scopes.clone());
    }
    for grant in &client.grants {
        registration = registration.with_grant(*grant);
    }
    for uri in &client.resources {
        registration = registration.resource(uri.clone());
    }
    registration.stored(secret, client.dynamic)
}

/// The `oauth_clients` table, on the users context's pool and schema.
pub struct Registry {
    config: PowConfig,
    tables: Tables,
    table: String,
}

impl Registry {
    /// The table beside `config`'s users table.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one.
    pub fn new(config: &PowConfig) -> Result<Self, PowError> {
        let tables = Tables::of(config, "pow-ext-provider (the `oauth_clients` table)")?;
        let table = tables.table("oauth_clients");
        Ok(Self {
            config: config.clone(),
            tables,
            table,
        })
    }

    async fn rows(&self, filter: &'static str, id: Option<String>) -> Result<Vec<Row>, PowError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} {filter} ORDER BY client_id",
            self.table
        );
        self.tables
            .run(move |db| {
                with_conn!(db, conn => match &id {
                    Some(id) => ::diesel::sql_query(&sql).bind::<Text, _>(id).load::<Row>(conn),
                    None => ::diesel::sql_query(&sql).load::<Row>(conn),
                }
                .map_err(query_error))
            })
            .await
    }

    /// Every registered client, by id.
    ///
    /// # Errors
    /// The database's.
    pub async fn list(&self) -> Result<Vec<StoredClient>, PowError> {
        Ok(self.rows("", None).await?.iter().map(Row::client).collect())
    }

    /// The registered client `id`.
    ///
    /// # Errors
    /// The database's.
    pub async fn get(&self, id: &str) -> Result<Option<StoredClient>, PowError> {
        Ok(self
            .rows("WHERE client_id = $1", Some(id.to_owned()))
            .await?
            .first()
            .map(Row::client))
    }

    /// The registration of client `id`, as the endpoints check it: with only the grants
    /// `provider` lets registered clients use now.
    pub(crate) async fn find(
        &self,
        provider: &Provider,
        id: &str,
    ) -> Result<Option<ClientRegistration>, PowError> {
        Ok(self
            .rows("WHERE client_id = $1", Some(id.to_owned()))
            .await?
            .first()
            .map(|row| {
                let mut client = row.client();
                client
                    .grants
                    .retain(|grant| provider.registered_grants.contains(grant));
                registration(&client, row.secret())
            }))
    }

    /// Registers `spec` with `provider`'s rules (`dynamic`: the client registered itself,
    /// RFC 7591): the registration, with a confidential client's secret to show once, or
    /// why it is refused.
    ///
    /// # Errors
    /// The database's.
    pub async fn register(
        &self,
        provider: &Provider,
        spec: ClientSpec,
        dynamic: bool,
        by: Option<i64>,
    ) -> Result<Result<Created, Refusal>, PowError> {
        let kind = spec.kind.unwrap_or(ClientKind::Public);
        if spec.redirect_uris.len() > MAX_REDIRECT_URIS
            || spec.post_logout_redirect_uris.len() > MAX_REDIRECT_URIS
        {
            return Ok(Err(Refusal::Invalid(format!(
                "at most {MAX_REDIRECT_URIS} redirect URIs"
            ))));
        }
        if spec.resources.len() > MAX_RESOURCES
            || spec.resources.iter().any(|uri| {
                uri.len() > 2048 || uri.chars().any(|c| c.is_whitespace() || c.is_control())
            })
        {
            return Ok(Err(Refusal::Invalid(format!(
                "at most {MAX_RESOURCES} resources, each a URI without spaces"
            ))));
        }
        if spec.name.as_deref().is_some_and(|name| {
            name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
        }) {
            return Ok(Err(Refusal::Invalid(format!(
                "a name has at most {MAX_NAME_LEN} characters, none of them control characters"
            ))));
        }
        if let Some(grant) = spec
            .grants
            .iter()
            .find(|grant| !provider.registered_grants.contains(grant))
        {
            return Ok(Err(Refusal::Invalid(format!(
                "the provider does not let registered clients use the {} grant",
                grant.name()
            ))));
        }
        let now = self.config.clock().now();
        let client = StoredClient {
            id: spec.id.unwrap_or_else(|| {
                let random = crate::tokens::secret("");
                format!("{ID_PREFIX}{}", &random[..random.len().min(22)])
            }),
            name: spec.name.filter(|name| !name.trim().is_empty()),
            kind,
            redirect_uris: spec.redirect_uris,
            post_logout_redirect_uris: spec.post_logout_redirect_uris,
            scopes: spec.scopes,
            grants: spec.grants,
            resources: spec.resources,
            dynamic,
            secret_expires_at: match (kind, spec.secret_days) {
                (ClientKind::Confidential, Some(days)) => {
                    Some(now + chrono::Duration::days(i64::from(days)))
                }
                _ => None,
            },
            previous_secret_until: None,
            created_at: now,
            last_used_at: None,
        };
        let secret =
            (kind == ClientKind::Confidential).then(|| crate::tokens::secret(SECRET_PREFIX));
        let checked = registration(&client, StoredSecret::checked());
        if let Err(problem) = checked.check(provider.offered_scopes(), provider.resources()) {
            return Ok(Err(Refusal::Invalid(problem)));
        }
        if provider.find(&client.id).is_some()
            || crate::metadata_document::is_document_url(provider, &client.id)
        {
            return Ok(Err(Refusal::Taken));
        }
        let digest = secret.as_deref().map(|secret| self.digest(secret));
        let sql = format!(
            "INSERT INTO {} (client_id, name, kind, redirect_uris, post_logout_redirect_uris, \
             scopes, grants, resources, secret_digest, secret_expires_at, dynamic, inserted_at, \
             updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (client_id) DO NOTHING",
            self.table
        );
        let row = client.clone();
        let inserted: usize = self
            .tables
            .run(move |db| -> Result<usize, PowError> {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Text, _>(&row.id)
                    .bind::<Nullable<Text>, _>(&row.name)
                    .bind::<Text, _>(kind_name(row.kind))
                    .bind::<Text, _>(row.redirect_uris.join(" "))
                    .bind::<Text, _>(row.post_logout_redirect_uris.join(" "))
                    .bind::<Nullable<Text>, _>(row.scopes.as_ref().map(|scopes| scopes.join(" ")))
                    .bind::<Text, _>(row.grants.iter().map(|grant| grant.name()).collect::<Vec<_>>().join(" "))
                    .bind::<Text, _>(row.resources.join(" "))
                    .bind::<Nullable<Text>, _>(&digest)
                    .bind::<Nullable<Timestamp>, _>(row.secret_expires_at.map(|at| at.naive_utc()))
                    .bind::<Bool, _>(row.dynamic)
                    .bind::<Timestamp, _>(now.naive_utc())
                    .execute(conn)
                    .map_err(query_error))
            })
            .await?;
        if inserted == 0 {
            return Ok(Err(Refusal::Taken));
        }
        self.audit(events::CLIENT_REGISTERED, by, &client.id, dynamic);
        Ok(Ok(Created { client, secret }))
    }

    /// Records `name` for client `id`, done by user `by` (none: the command line or the
    /// client itself).
    fn audit(&self, name: pow_core::audit::EventName, by: Option<i64>, id: &str, dynamic: bool) {
        let mut event = AuditEvent::new(name).detail("client", id.to_owned());
        if dynamic {
            event = event.detail("dynamic", true);
        }
        if let Some(user) = by {
            event = event.user(user);
        }
        audit::record(&self.config, event);
    }

    /// The keyed hash kept of `secret`, under the ring's current key.
    fn digest(&self, secret: &str) -> String {
        self.config.verifier().token_digest(SECRET_PURPOSE, secret)
    }

    /// Gives confidential client `id` a new secret, returned to show once; the previous one
    /// keeps working for `overlap` (none: it ends now), and the new one for `days` when
    /// given. `None` when there is no such confidential client.
    ///
    /// # Errors
    /// The database's.
    pub async fn rotate_secret(
        &self,
        id: &str,
        overlap: Duration,
        days: Option<u32>,
        by: Option<i64>,
    ) -> Result<Option<String>, PowError> {
        let secret = crate::tokens::secret(SECRET_PREFIX);
        let digest = self.digest(&secret);
        let now = self.config.clock().now();
        let until = now + chrono::Duration::from_std(overlap).unwrap_or_default();
        let expires = days.map(|days| now + chrono::Duration::days(i64::from(days)));
        let sql = format!(
            // (SQLite numbers the parameters in the order they appear.)
            "UPDATE {} SET previous_secret_digest = secret_digest, previous_secret_until = $1, \
             secret_digest = $2, secret_expires_at = $3, updated_at = $4 \
             WHERE client_id = $5 AND kind = 'confidential'",
            self.table
        );
        let client = id.to_owned();
        let updated: usize = self
            .tables
            .run(move |db| -> Result<usize, PowError> {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Timestamp, _>(until.naive_utc())
                    .bind::<Text, _>(&digest)
                    .bind::<Nullable<Timestamp>, _>(expires.map(|at| at.naive_utc()))
                    .bind::<Timestamp, _>(now.naive_utc())
                    .bind::<Text, _>(&client)
                    .execute(conn)
                    .map_err(query_error))
            })
            .await?;
        if updated == 0 {
            return Ok(None);
        }
        self.audit(events::CLIENT_SECRET_ROTATED, by, id, false);
        Ok(Some(secret))
    }

    /// Removes client `id`: its secret stops working, and every token it holds for a user
    /// who allowed it ends (at its next use, on every server). An access token it got for
    /// itself (client credentials) lives out its few minutes. Whether there was one.
    ///
    /// # Errors
    /// The database's, the store's.
    pub async fn remove(
        &self,
        provider: &Provider,
        id: &str,
        by: Option<i64>,
    ) -> Result<bool, PowError> {
        let sql = format!("DELETE FROM {} WHERE client_id = $1", self.table);
        let client = id.to_owned();
        let deleted: usize = self
            .tables
            .run(move |db| -> Result<usize, PowError> {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Text, _>(&client)
                    .execute(conn)
                    .map_err(query_error))
            })
            .await?;
        let consents = crate::consents::Consents::new(&self.config)?;
        for user in consents.users_of(id).await? {
            crate::flows::revoke_grant(&self.config, provider, user, id).await?;
        }
        if deleted > 0 {
            self.audit(events::CLIENT_REMOVED, by, id, false);
        }
        Ok(deleted > 0)
    }

    /// Notes that client `id` got tokens now.
    pub(crate) async fn mark_used(&self, id: &str) -> Result<(), PowError> {
        let sql = format!(
            "UPDATE {} SET last_used_at = $1 WHERE client_id = $2",
            self.table
        );
        let id = id.to_owned();
        let now = self.config.clock().now().naive_utc();
        self.tables
            .run(move |db| {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Timestamp, _>(now)
                    .bind::<Text, _>(&id)
                    .execute(conn)
                    .map_err(query_error))?;
                Ok(())
            })
            .await
    }

    /// Removes the dynamically registered clients nobody uses: never used a day after
    /// registering, or unused for 90 days. How many went.
    ///
    /// # Errors
    /// The database's.
    pub async fn collect_unused(&self) -> Result<usize, PowError> {
        let now = self.config.clock().now();
        let never = now - chrono::Duration::from_std(NEVER_USED).unwrap_or_default();
        let long = now - chrono::Duration::from_std(LONG_UNUSED).unwrap_or_default();
        let sql = format!(
            "DELETE FROM {} WHERE dynamic = $1 AND ((last_used_at IS NULL AND inserted_at < $2) \
             OR last_used_at < $3)",
            self.table
        );
        self.tables
            .run(move |db| -> Result<usize, PowError> {
                with_conn!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Bool, _>(true)
                    .bind::<Timestamp, _>(never.naive_utc())
                    .bind::<Timestamp, _>(long.naive_utc())
                    .execute(conn)
                    .map_err(query_error))
            })
            .await
    }
}

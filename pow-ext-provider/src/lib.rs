//! # pow-ext-provider
//!
//! Makes the app an OAuth 2.1 authorization server and OpenID provider: its own users sign
//! in to other software (single-page and mobile apps, partner integrations, command-line
//! tools, AI agents reaching an MCP server) through it.
//!
//! **Guide**: [Your app as an identity provider](https://github.com/pow-rs/pow-rs/blob/main/guides/provider.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! - **Clients** are registered by the app ([`ClientRegistration`]): public (PKCE only) or
//!   confidential (a secret, kept as a keyed hash), each with its exact redirect URIs
//!   (`https`, loopback `http` with any port for native apps, private-use schemes; never
//!   `javascript:`, `data:`, or a fragment: refused when the setup is built), the
//!   scopes it may ask for and the resources it may get tokens for (none by default;
//!   clients known by a metadata document or registered by themselves get only the
//!   resources open to them, [`Resource::open_to_self_described_clients`]).
//! - **Authorization code with PKCE**: `S256` is required (`plain` is neither accepted
//!   nor advertised); `state` and `nonce` pass through; `iss` is on every authorization
//!   response (RFC 9207); `prompt=none` answers `login_required` or `consent_required`
//!   rather than showing a page, `prompt=consent` asks again. The consent page names the
//!   client, the host it sends the browser back to and each scope, with a deny button;
//!   a consent is remembered per user, client, scopes and resources (a request for
//!   another resource asks again). A support-access session cannot consent. Codes live
//!   60 seconds and are taken once, atomically: a second redemption ends every token the
//!   first one issued.
//! - **Tokens**: opaque access tokens (kept as keyed hashes in the cache store, so
//!   introspection and revocation are always current), or JWT access tokens (RFC 9068) for
//!   a resource that asks for them ([`Resource::jwt_access_tokens`], recorded in the store
//!   all the same), ID tokens signed with an Ed25519 (or, with
//!   [`Provider::signing_algorithm`], P-256) key derived from the key ring (`kid` from the
//!   public key; a retired secret's key stays in the JWKS so tokens it signed still
//!   verify), refresh tokens that rotate on every use, whose reuse ends the whole family.
//!   Revocation (RFC 7009) and introspection (RFC 7662) answer only the client the token
//!   was issued to. A user's disabling, closing, erasure, password reset or "sign out
//!   everywhere" ends every token.
//! - **Registered at run time**: clients kept in the `oauth_clients` table ([`registry`]),
//!   managed by `pow provider clients`, an admin page, or dynamic registration; their
//!   secrets generated, shown once, kept as keyed hashes, rotated with an overlap.
//! - **Discovery**: `/.well-known/openid-configuration` and
//!   `/.well-known/oauth-authorization-server` advertise exactly what is on.
//!
//! ```
//! use pow_ext_provider::{ClientRegistration, Provider};
//!
//! let provider = Provider::new()
//!     .client(ClientRegistration::public("cli").redirect_uri("http://127.0.0.1/callback"))
//!     .client(
//!         ClientRegistration::confidential("partner", "a secret of 32 characters or more....")
//!             .redirect_uri("https://partner.example/callback"),
//!     );
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(provider)
//!     .build()?;
//! assert!(config.extensions().contains("pow_provider"));
//! # Ok::<_, pow_core::PowError>(())
//! ```
//!
//! ## Endpoints
//!
//! | Method | Path | |
//! |---|---|---|
//! | `GET` | `/oauth/authorize` | the authorization endpoint: the consent page, or back to the client |
//! | `POST` | `/oauth/authorize` | the consent page's answer (allow or deny) |
//! | `POST` | `/oauth/token` | `authorization_code` and `refresh_token` grants |
//! | `GET`, `POST` | `/oauth/userinfo` | the signed-in user's claims, by access token |
//! | `POST` | `/oauth/revoke` | RFC 7009 |
//! | `POST` | `/oauth/introspect` | RFC 7662 (confidential clients) |
//! | `GET` | `/oauth/jwks` | the public keys of ID tokens |
//! | `GET` | `/.well-known/openid-configuration`, `/.well-known/oauth-authorization-server` | discovery |
//! | `GET`, `POST` | `/oauth/logout` | RP-initiated logout ([`logout`]) |
//! | `GET`, `POST` | `/oauth/clients` | with [`Provider::client_admins`]: the [`registry`]'s clients |
//! | `POST` | `/oauth/register` | with [`Provider::dynamic_registration`]: RFC 7591 ([`dynamic`]) |
//!
//! The consent page answers JSON to a client that asks for it (`Accept: application/json`):
//! the client, its redirect host and the scopes, and the form's fields to post back.
//!
//! ## Features
#![doc = document_features::document_features!()]

use std::sync::Arc;
use std::time::Duration;

use pow_core::extension::{ExtensionBuilder, SqlMigration, UserData};
use pow_core::session::{AuthMethod, StepUp};
use pow_core::store::Limit;
use pow_core::users::User;
use pow_core::{Extension, PowConfig, PowError};

mod access_jwt;
mod api;
mod clients;
mod consents;
pub mod device;
pub mod dynamic;
pub mod endpoints;
pub mod flows;
mod jws;
mod keys;
pub mod logout;
mod metadata_document;
pub mod pages;
pub mod registry;
pub mod resource;
mod tokens;

pub use clients::{ClientKind, ClientRegistration, GrantType};
pub use keys::SigningAlgorithm;
pub use resource::{Resource, ResourceAccess, ResourceGuard};

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_provider";

/// The extension's migrations: the `oauth_consents` and `oauth_clients` tables.
pub const MIGRATIONS: &[SqlMigration] = &[
    pow_core::sql_migration!("20271101000000", "create_oauth_consents", portable),
    pow_core::sql_migration!("20271120000000", "create_oauth_clients", portable),
    pow_core::sql_migration!("20271220000000", "add_resources_to_oauth_clients", portable),
    pow_core::sql_migration!(
        "20271220000001",
        "add_resources_to_oauth_consents",
        portable
    ),
];

/// The extension's Fluent files, as `(language, source)`.
pub const FTL: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-provider.ftl")),
    ("de", include_str!("../locales/de/pow-ext-provider.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-provider.ftl")),
];

/// The scopes every provider offers: `openid` (an ID token), `profile`, `email` and
/// `offline_access` (a refresh token).
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The extension's audit events.
pub mod events {
    use pow_core::audit::EventName;

    /// A user allowed a client (`detail.client`, `detail.scopes`).
    pub const CONSENTED: EventName = EventName::new("provider.consented");
    /// A user refused a client (`detail.client`).
    pub const DENIED: EventName = EventName::new("provider.denied");
    /// A code was exchanged for tokens (`detail.client`).
    pub const TOKENS_ISSUED: EventName = EventName::new("provider.tokens_issued");
    /// A code or refresh token was presented again: every token of its family ended
    /// (`detail.client`, `detail.reason`).
    pub const REUSE_DETECTED: EventName = EventName::new("provider.reuse_detected");
    /// A client revoked a token (`detail.client`).
    pub const REVOKED: EventName = EventName::new("provider.revoked");
    /// A user withdrew a client's access from their account (`detail.client`).
    pub const GRANT_REVOKED: EventName = EventName::new("provider.grant_revoked");
    /// A client was registered (`detail.client`; `detail.dynamic` when it registered
    /// itself; the admin as the user when one did).
    pub const CLIENT_REGISTERED: EventName = EventName::new("provider.client_registered");
    /// A registered client got a new secret (`detail.client`).
    pub const CLIENT_SECRET_ROTATED: EventName = EventName::new("provider.client_secret_rotated");
    /// A registered client was removed (`detail.client`).
    pub const CLIENT_REMOVED: EventName = EventName::new("provider.client_removed");
}

/// The provider extension and its settings. Each setter says its default.
#[derive(Clone, Debug)]
pub struct Provider {
    clients: Vec<ClientRegistration>,
    resources: Vec<Resource>,
    scopes: Vec<String>,
    issuer: Option<String>,
    code_ttl: Duration,
    access_ttl: Duration,
    refresh_ttl: Duration,
    id_token_ttl: Duration,
    pub(crate) metadata_documents: bool,
    pub(crate) loopback_fetches: bool,
    pub(crate) fetch_roots: Vec<Vec<u8>>,
    pub(crate) device_interval: u64,
    pub(crate) endpoint_limit: Limit,
    pub(crate) signing_alg: SigningAlgorithm,
    pub(crate) registered_grants: Vec<GrantType>,
    pub(crate) dynamic_registration: Option<Limit>,
    pub(crate) client_admins: Option<AdminCheck>,
    pub(crate) acr_rules: Vec<(String, StepUp)>,
    /// The `profile` scope's claims read from user fields: (claim, field).
    pub(crate) profile_claims: Vec<(String, String)>,
}

/// The claims of OpenID Connect's `profile` scope that a user field may give
/// ([`Provider::profile_claim`]); `updated_at` is always given, from the user's row.
pub const PROFILE_CLAIMS: &[&str] = &[
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
];

/// The app's check of who may manage the registered clients.
#[derive(Clone)]
pub(crate) struct AdminCheck(Arc<dyn Fn(&User) -> bool + Send + Sync>);

impl AdminCheck {
    /// Whether `user` may.
    pub(crate) fn allows(&self, user: &User) -> bool {
        (self.0)(user)
    }
}

impl std::fmt::Debug for AdminCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminCheck")
    }
}

impl Default for Provider {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            resources: Vec::new(),
            scopes: STANDARD_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            issuer: None,
            code_ttl: Duration::from_secs(60),
            access_ttl: Duration::from_secs(600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            id_token_ttl: Duration::from_secs(600),
            metadata_documents: false,
            loopback_fetches: false,
            fetch_roots: Vec::new(),
            device_interval: 5,
            endpoint_limit: Limit::new(300, Duration::from_secs(60)),
            signing_alg: SigningAlgorithm::EdDsa,
            registered_grants: vec![GrantType::AuthorizationCode],
            dynamic_registration: None,
            client_admins: None,
            acr_rules: vec![
                ("mfa".to_owned(), StepUp::recent_second_factor()),
                (
                    "phr".to_owned(),
                    StepUp::any_of(
                        [AuthMethod::PASSKEY, AuthMethod::SECURITY_KEY],
                        Duration::from_secs(600),
                    ),
                ),
            ],
            profile_claims: Vec::new(),
        }
    }
}

impl Provider {
    /// No client yet; the standard scopes ([`STANDARD_SCOPES`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a client.
    pub fn client(mut self, client: ClientRegistration) -> Self {
        self.clients.push(client);
        self
    }

    /// Declares a resource server the provider issues tokens for (an API, an MCP server):
    /// a client names it with `resource` and the tokens it gets work there only.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// The declared resources.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The declared resource at `uri`.
    pub(crate) fn find_resource(&self, uri: &str) -> Option<&Resource> {
        self.resources.iter().find(|resource| resource.uri() == uri)
    }

    /// Adds scopes of the app's own (`"notes:read"`) to the standard ones.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        for scope in scopes {
            let scope = scope.into();
            if !self.scopes.contains(&scope) {
                self.scopes.push(scope);
            }
        }
        self
    }

    /// The issuer identifier (`https://example.com`). The default is the setup's
    /// `base_url` with its mount point.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into().trim_end_matches('/').to_owned());
        self
    }

    /// How long an access token lives. The default is 10 minutes.
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// What ID tokens and JWT access tokens are signed with: the keys of that algorithm are
    /// derived from the key ring, published in the JWKS and advertised alone by discovery.
    /// The default is [`SigningAlgorithm::EdDsa`].
    pub fn signing_algorithm(mut self, algorithm: SigningAlgorithm) -> Self {
        self.signing_alg = algorithm;
        self
    }

    /// How long a refresh token family lives without use. The default is 30 days.
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Accepts clients that identify themselves by the URL of their metadata document
    /// (CIMD), as MCP clients do: fetched through the engine's address-checked client, at
    /// most 5 KiB in 2 seconds, kept per its `Cache-Control` (at most an hour), public
    /// clients only. The default is off: only registered clients.
    pub fn client_metadata_documents(mut self, accept: bool) -> Self {
        self.metadata_documents = accept;
        self
    }

    /// Lets metadata documents be fetched from loopback addresses (and over plain `http`
    /// there): for development and tests only. The default is off.
    pub fn allow_loopback_fetches(mut self, allow: bool) -> Self {
        self.loopback_fetches = allow;
        self
    }

    /// Trusts only these root certificates (DER) when fetching metadata documents: a
    /// private CA's, or a test's. The default is the public web's roots.
    pub fn fetch_root_certificates(mut self, roots: Vec<Vec<u8>>) -> Self {
        self.fetch_roots = roots;
        self
    }

    /// How long a device waits between polls of the token endpoint (at least a second);
    /// a device that polls sooner is told `slow_down`. The default is 5 seconds.
    pub fn device_poll_interval(mut self, interval: Duration) -> Self {
        self.device_interval = interval.as_secs().max(1);
        self
    }

    /// Requests a client address may send the token, device authorization, revocation
    /// and introspection endpoints together, counted before anything is read; over it,
    /// `429` with `Retry-After`. The default is 300 a minute.
    pub fn endpoint_rate_limit(mut self, limit: Limit) -> Self {
        self.endpoint_limit = limit;
        self
    }

    /// The grants clients registered at run time (by the `pow provider` commands or the
    /// clients page, see [`registry`]) may be given besides the authorization code:
    /// [`GrantType::DeviceCode`], [`GrantType::ClientCredentials`]. The default is the
    /// authorization code alone.
    pub fn registered_client_grants(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.registered_grants = vec![GrantType::AuthorizationCode];
        for grant in grants {
            if !self.registered_grants.contains(&grant) {
                self.registered_grants.push(grant);
            }
        }
        self
    }

    /// Lets clients register themselves (RFC 7591) at `POST /oauth/register`: public
    /// clients only (PKCE, no secret), the authorization code grant only, each registration
    /// counted per client address against `limit`; their consent is asked every time, and
    /// a client unused a day after registering (or for 90 days) is removed. MCP clients
    /// that predate metadata documents need it. The default is off.
    pub fn dynamic_registration(mut self, limit: Limit) -> Self {
        self.dynamic_registration = Some(limit);
        self
    }

    /// Opens the clients page (`/oauth/clients`, HTML and JSON) to the users `is_admin`
    /// accepts (the app's own role check): they register clients, rotate secrets and
    /// remove clients, each after proving who they are again (sudo). The default is no
    /// page: clients are registered in the setup or with `pow provider`.
    pub fn client_admins(
        mut self,
        is_admin: impl Fn(&User) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.client_admins = Some(AdminCheck(Arc::new(is_admin)));
        self
    }

    /// Gives the `profile` scope's claim `claim` (one of [`PROFILE_CLAIMS`]: `name`,
    /// `preferred_username`, `locale`, …) from the user field `field`, at `userinfo`. A
    /// user without a value for it goes without the claim. Whatever is mapped, `profile`
    /// gives `updated_at` (the user's row, seconds since the epoch).
    ///
    /// ```
    /// let provider = pow_ext_provider::Provider::new()
    ///     .profile_claim("name", "display_name")
    ///     .profile_claim("preferred_username", "username");
    /// # let _ = provider;
    /// ```
    pub fn profile_claim(mut self, claim: impl Into<String>, field: impl Into<String>) -> Self {
        self.profile_claims.push((claim.into(), field.into()));
        self
    }

    /// Maps the `acr_values` value `name` onto a step-up rule of the engine: a client that
    /// asks for it gets a code only once the session meets `rule` (the user is sent to
    /// the rule's page and comes back; `prompt=none` answers `interaction_required`, and
    /// `unmet_authentication_requirements` when no page can meet it), and its ID token
    /// carries `acr` = `name`. The defaults: `mfa` (a second factor within the sudo
    /// window) and `phr` (a passkey or security key within 10 minutes). Unknown values are
    /// ignored, as OpenID Connect has it.
    pub fn acr_value(mut self, name: impl Into<String>, rule: StepUp) -> Self {
        let name = name.into();
        self.acr_rules.retain(|(have, _)| *have != name);
        self.acr_rules.push((name, rule));
        self
    }

    /// The step-up rule of the `acr_values` value `name`.
    pub(crate) fn acr_rule(&self, name: &str) -> Option<&StepUp> {
        self.acr_rules
            .iter()
            .find(|(have, _)| have == name)
            .map(|(_, rule)| rule)
    }

    /// The registered clients.
    pub fn clients(&self) -> &[ClientRegistration] {
        &self.clients
    }

    /// The scopes offered.
    pub fn offered_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether some client may use `grant` (the discovery document advertises it then).
    pub(crate) fn any_client_allows(&self, grant: GrantType) -> bool {
        self.registered_grants.contains(&grant)
            || self.clients.iter().any(|client| client.allows_grant(grant))
    }

    /// The client with id `id`.
    pub(crate) fn find(&self, id: &str) -> Option<&ClientRegistration> {
        self.clients.iter().find(|client| client.id() == id)
    }

    /// The issuer of `config`'s tokens.
    pub fn issuer_of(&self, config: &PowConfig) -> String {
        match &self.issuer {
            Some(issuer) => issuer.clone(),
            None => {
                let base = config.base_url().unwrap_or("http://localhost");
                let mount = config.mount_path().trim_end_matches('/');
                format!("{}{mount}", base.trim_end_matches('/'))
            }
        }
    }

    /// The settings enabled in `config`, if the extension is.
    pub fn of(config: &PowConfig) -> Option<&Provider> {
        config
            .extensions()
            .sides::<Registered>()
            .find_map(|registered| registered.provider.as_ref())
    }

    /// Checks the registrations: client ids once each, redirect URIs and scopes allowed.
    fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for client in &self.clients {
            if !seen.insert(client.id()) {
                return Err(format!("client `{}` is registered twice", client.id()));
            }
            client.check(&self.scopes, &self.resources)?;
        }
        let mut claims = std::collections::BTreeSet::new();
        for (claim, _) in &self.profile_claims {
            if !PROFILE_CLAIMS.contains(&claim.as_str()) {
                return Err(format!(
                    "`{claim}` is no claim of the `profile` scope (known: {})",
                    PROFILE_CLAIMS.join(", ")
                ));
            }
            if !claims.insert(claim) {
                return Err(format!("the profile claim `{claim}` is mapped twice"));
            }
        }
        let mut uris = std::collections::BTreeSet::new();
        for resource in &self.resources {
            if !uris.insert(resource.uri()) {
                return Err(format!("resource `{}` is declared twice", resource.uri()));
            }
            resource.check_setting(&self.scopes)?;
        }
        Ok(())
    }
}

/// The settings, kept in the builder's type map.
#[derive(Default)]
pub(crate) struct Registered {
    pub(crate) provider: Option<Provider>,
    /// The signing keys, derived from the setup's key ring on first use.
    pub(crate) keys: std::sync::OnceLock<Result<Vec<keys::Key>, String>>,
}

impl Extension for Provider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        if let Err(problem) = self.check() {
            ext.invalid(problem);
        }
        ext.side::<Registered>().provider = Some(self.clone());
        ext.migrations(MIGRATIONS)
            .messages(FTL.iter().copied())
            .audit_events([
                events::CONSENTED,
                events::DENIED,
                events::TOKENS_ISSUED,
                events::REUSE_DETECTED,
                events::REVOKED,
                events::GRANT_REVOKED,
                events::CLIENT_REGISTERED,
                events::CLIENT_SECRET_ROTATED,
                events::CLIENT_REMOVED,
            ])
            .user_table("oauth_consents", "user_id")
            .user_data(ConsentData)
            .on_credentials_revoked(tokens::EndOnRevocation);
        ext.pages([
            pages::CONSENT_PAGE,
            pages::ERROR_PAGE,
            pages::GRANTS_PAGE,
            pages::device::DEVICE_PAGE,
            pages::device::DEVICE_CONFIRM_PAGE,
            pages::clients::CLIENTS_PAGE,
            pages::logout::LOGOUT_PAGE,
        ])
        .page_extension(pages::account_link);
        let shared = Arc::new(self.clone());
        for route in pages::page_routes(&shared) {
            ext.page_route(route);
        }
        for route in api::api_routes(&shared) {
            ext.api_route(route);
        }
        ext.api_document(pow_core::api::openapi_fragment(
            NAME,
            include_str!("../openapi.json"),
        ));
        for route in endpoints::routes(&shared) {
            ext.endpoint(route);
        }
    }
}

/// The consents in the account's export; consents and tokens gone with its erasure.
struct ConsentData;

#[async_trait::async_trait]
impl UserData for ConsentData {
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        let consents = consents::Consents::new(config)?.of_user(user.id).await?;
        Ok(serde_json::json!(consents))
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        tokens::end_user(config, user.id).await?;
        consents::Consents::new(config)?.delete_user(user.id).await
    }
}

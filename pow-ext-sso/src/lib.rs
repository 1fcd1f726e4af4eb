//! # pow-ext-sso
//!
//! Enterprise single sign-on per organization: an organization's admins connect the
//! company's identity provider (Okta, Microsoft Entra ID, Google Workspace, Keycloak, ADFS)
//! over OpenID Connect or, with the `saml` feature, SAML 2.0; its staff sign in through
//! it, and the organization can make it the only way in for them.
//!
//! **Guide**: [Single sign-on for organizations](https://github.com/pow-rs/pow-rs/blob/main/guides/sso.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! - **A connection belongs to one organization** (pow-ext-organizations) and only its
//!   owners and admins manage it (`sso:manage`, HTML and JSON). Its client secret is kept
//!   sealed under the key ring; discovery, keys and the code exchange go through the
//!   engine's address-checked client (private, loopback and link-local addresses refused,
//!   no redirects, answers capped). PKCE (S256), `state`, `nonce` and RFC 9207's `iss` are
//!   checked on every sign-in; ID tokens signed with `none` or an HMAC are refused.
//! - **Identifier-first**: `/sso` takes an address or an organization's slug; an address
//!   at a verified domain of an organization with a connection that is on goes to it.
//! - **Identities are keyed on (connection, subject)**, never on the address. A first
//!   sign-in links or creates the account only for an address the provider vouches for at
//!   one of the organization's verified domains, and makes it a member with the
//!   connection's default role. Anything else is refused. A member whose address is
//!   elsewhere links their account by an explicit step: signed in and sudo-fresh,
//!   `POST /organizations/{slug}/sso/link` sends them through the provider, and the
//!   account's address is told.
//! - **Enforcement** (a [sign-in policy](pow_core::extension::SignInPolicy) of the engine,
//!   so it holds on every path: password, magic link, passkey, social sign-in, remember-me,
//!   API token renewal, invitations): members at the organization's verified domains sign
//!   in only through the connection, and turning it on ends their sessions. It can be
//!   turned on only after a sign-in (or an admin's test) went through. A named owner keeps
//!   a break-glass way in: password and a second factor, audited.
//! - **SAML 2.0** (feature `saml`): the identity provider's metadata by URL (fetched through
//!   the same client) or as a document, a signing certificate required and pinned;
//!   SP-initiated sign-in with the request kept server-side (`InResponseTo`), signed
//!   assertions only (SHA-1 refused), exactly one, audience, destination, recipient,
//!   issuer and times checked, assertion ids single-use in the cache store; IdP-initiated
//!   sign-in only where a connection allows it; with `Sso::saml_key`, signed requests and
//!   encrypted assertions; single logout both ways (HTTP-Redirect).
//! - Sessions record the method `sso` and the provider's signed `amr`/`acr`.
//! - A connection that is off refuses at every entry point (start, callback, and SAML's
//!   assertion consumer service).
//!
//! ```
//! use pow_ext_email_confirmation::EmailConfirmation;
//! use pow_ext_organizations::domains::StaticTxt;
//! use pow_ext_organizations::Organizations;
//! use pow_ext_sso::Sso;
//!
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(EmailConfirmation::new())
//!     // Organizations prove their domains with a DNS TXT record (a DoH resolver in
//!     // production): enforcement and first sign-ins cover verified domains only.
//!     .extension(Organizations::new().domains(StaticTxt::new()))
//!     .extension(Sso::new())
//!     .build()?;
//! assert!(config.extensions().contains("pow_sso"));
//! # Ok::<_, pow_core::PowError>(())
//! ```
//!
//! ## Endpoints
//!
//! | Method | Path | |
//! |---|---|---|
//! | `GET`, `POST` | `/sso` | identifier-first: an address or an organization's slug, off to its provider |
//! | `GET` | `/sso/callback` | the provider's answer (the redirect URI to register there) |
//! | `GET` | `/sso/saml/{organization id}/metadata` | SAML: this app's service provider metadata (its entity id) |
//! | `POST` | `/sso/saml/{organization id}/acs` | SAML: the assertion consumer service (HTTP-POST) |
//! | `GET` | `/sso/saml/{organization id}/slo` | SAML: single logout (HTTP-Redirect), both ways |
//! | `GET`, `POST` | `/organizations/{slug}/sso` | the organization's connection (owners and admins) |
//! | `POST` | `/organizations/{slug}/sso/{switch}` | `enable`, `disable`, `enforce`, `relax`, `test`, `break-glass`, `remove`; `link` (any member, their own account) |
//!
//! JSON under the API prefix: `POST <api>/sso/route`, and
//! `GET`/`PUT`/`DELETE <api>/organizations/{slug}/sso` with
//! `POST <api>/organizations/{slug}/sso/{switch}`.
//!
//! ## Features
#![doc = document_features::document_features!()]

use async_trait::async_trait;
use pow_core::extension::{ExtensionBuilder, Requirement, SignInPolicy, SqlMigration, UserData};
use pow_core::session::{AuthMethod, SignInRefusal};
use pow_core::store::Limit;
use pow_core::users::User;
use pow_core::{Extension, PowConfig, PowError};
use pow_ext_organizations::{InvitationRule, InvitationRules, Organization};

mod api;
pub mod connections;
pub mod flows;
mod mail;
pub mod oidc;
pub mod pages;
#[cfg(feature = "saml")]
pub mod saml;
mod sealed;

pub use connections::{Connection, ConnectionSpec, Connections, Identity};
pub use oidc::Claims;

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_sso";

/// The mail every owner gets when the break-glass owner signs in around enforcement.
pub const MAIL_BREAK_GLASS: &str = "sso/break_glass";

/// The mail a member gets when their account is linked to an organization's identity
/// provider by the explicit step.
pub const MAIL_LINKED: &str = "sso/linked";

/// A sign-in through an organization's identity provider.
pub const SSO: AuthMethod = AuthMethod::new("sso", 64);

/// The extension's migrations: the `sso_connections` and `sso_identities` tables.
pub const MIGRATIONS: &[SqlMigration] = &[
    pow_core::sql_migration!("20271201000000", "create_sso", portable),
    pow_core::sql_migration!("20271205000000", "sso_saml", portable),
];

/// The extension's Fluent files, as `(language, source)`.
pub const FTL: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-sso.ftl")),
    ("de", include_str!("../locales/de/pow-ext-sso.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-sso.ftl")),
];

/// The extension's audit events (`detail.organization`, `detail.connection` on each).
pub mod events {
    use pow_core::audit::EventName;

    /// A connection was set up or changed (`detail.issuer`).
    pub const CONNECTION_SAVED: EventName = EventName::new("sso.connection_saved");
    /// A connection was removed.
    pub const CONNECTION_REMOVED: EventName = EventName::new("sso.connection_removed");
    /// A connection was turned on.
    pub const ENABLED: EventName = EventName::new("sso.enabled");
    /// A connection was turned off.
    pub const DISABLED: EventName = EventName::new("sso.disabled");
    /// Enforcement was turned on.
    pub const ENFORCED: EventName = EventName::new("sso.enforced");
    /// Enforcement was turned off.
    pub const RELAXED: EventName = EventName::new("sso.relaxed");
    /// An admin's test sign-in went through.
    pub const TESTED: EventName = EventName::new("sso.tested");
    /// A break-glass owner was named (`detail.owner`) or unnamed.
    pub const BREAK_GLASS_NAMED: EventName = EventName::new("sso.break_glass_named");
    /// The break-glass owner signed in around enforcement.
    pub const BREAK_GLASS_USED: EventName = EventName::new("sso.break_glass_used");
    /// A user signed in through a connection.
    pub const SIGNED_IN: EventName = EventName::new("sso.signed_in");
    /// A first sign-in linked (or created) an account (`detail.subject`).
    pub const LINKED: EventName = EventName::new("sso.linked");
    /// A sign-in was refused because the organization enforces its connection.
    pub const REFUSED: EventName = EventName::new("sso.refused");
    /// A SAML answer was refused at the assertion consumer service (`detail.reason`:
    /// the check that failed).
    pub const ANSWER_REFUSED: EventName = EventName::new("sso.answer_refused");
    /// The identity provider logged a user out (SAML single logout; `detail.sessions`:
    /// how many ended).
    pub const LOGGED_OUT: EventName = EventName::new("sso.logged_out");
}

/// The single sign-on extension and its settings. Each setter says its default.
#[derive(Clone, Debug)]
pub struct Sso {
    pub(crate) loopback_fetches: bool,
    pub(crate) fetch_roots: Vec<Vec<u8>>,
    pub(crate) start_limit: Limit,
    #[cfg(feature = "saml")]
    pub(crate) saml_key: Option<SamlKey>,
}

impl Default for Sso {
    fn default() -> Self {
        Self {
            loopback_fetches: false,
            fetch_roots: Vec::new(),
            start_limit: Limit::new(30, std::time::Duration::from_secs(60)),
            #[cfg(feature = "saml")]
            saml_key: None,
        }
    }
}

/// The app's SAML service provider key and certificate (PEM), set with
/// `Sso::saml_key` (feature `saml`). Its `Debug` shows neither.
#[derive(Clone)]
#[cfg(feature = "saml")]
pub struct SamlKey {
    pub(crate) private_key_pem: String,
    pub(crate) certificate_pem: String,
}

#[cfg(feature = "saml")]
impl std::fmt::Debug for SamlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SamlKey(..)")
    }
}

impl Sso {
    /// The defaults: providers reached over `https` at public addresses only.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sign-ins a client address may begin (`POST /sso`, `POST <api>/sso/route`)
    /// in the limit's window; over it, `429` with `Retry-After`. The default is 30 a
    /// minute.
    pub fn start_rate_limit(mut self, limit: Limit) -> Self {
        self.start_limit = limit;
        self
    }

    /// Lets connections reach providers at loopback addresses (and over plain `http`
    /// there): for development and tests only. The default is off.
    pub fn allow_loopback_fetches(mut self, allow: bool) -> Self {
        self.loopback_fetches = allow;
        self
    }

    /// Trusts only these root certificates (DER) when reaching providers: a private CA's.
    /// The default is the public web's roots.
    pub fn fetch_root_certificates(mut self, roots: Vec<Vec<u8>>) -> Self {
        self.fetch_roots = roots;
        self
    }

    /// SAML (feature `saml`): the app's service provider key (an RSA key, PKCS#8 or
    /// PKCS#1 PEM) and its certificate (PEM). With it, AuthnRequests are signed and the
    /// service provider metadata offers the certificate for encryption, so identity
    /// providers may encrypt their assertions (AES-GCM under RSA-OAEP with SHA-256 or
    /// stronger; AES-CBC and `rsa-oaep-mgf1p` with SHA-1 are refused; the assertion
    /// inside must be signed itself); single logout messages are signed too. Default:
    /// none (requests unsigned, assertions in clear, still signed).
    #[cfg(feature = "saml")]
    pub fn saml_key(
        mut self,
        private_key_pem: impl Into<String>,
        certificate_pem: impl Into<String>,
    ) -> Self {
        self.saml_key = Some(SamlKey {
            private_key_pem: private_key_pem.into(),
            certificate_pem: certificate_pem.into(),
        });
        self
    }

    /// The settings enabled in `config`, if the extension is.
    pub fn of(config: &PowConfig) -> Option<&Sso> {
        config
            .extensions()
            .sides::<Registered>()
            .find_map(|registered| registered.0.as_ref())
    }
}

/// The settings, kept in the builder's type map.
#[derive(Default)]
pub(crate) struct Registered(Option<Sso>);

impl Extension for Sso {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.side::<Registered>().0 = Some(self.clone());
        ext.requires(Requirement::Extension {
            name: pow_ext_organizations::NAME,
            why: "a single sign-on connection belongs to an organization",
        });
        ext.migrations(MIGRATIONS)
            .messages(FTL.iter().copied())
            .auth_methods([SSO])
            .mails([MAIL_BREAK_GLASS, MAIL_LINKED])
            .audit_events([
                events::CONNECTION_SAVED,
                events::CONNECTION_REMOVED,
                events::ENABLED,
                events::DISABLED,
                events::ENFORCED,
                events::RELAXED,
                events::TESTED,
                events::BREAK_GLASS_NAMED,
                events::BREAK_GLASS_USED,
                events::SIGNED_IN,
                events::LINKED,
                events::REFUSED,
                events::ANSWER_REFUSED,
                events::LOGGED_OUT,
            ])
            .user_table("sso_identities", "user_id")
            .user_data(IdentityData)
            .sign_in_policy(Enforcement);
        ext.side::<InvitationRules>().add(OnlyVerifiedDomains);
        ext.pages([pages::SSO_PAGE, pages::MANAGE_PAGE, pages::TESTED_PAGE])
            .page_extension(pages::sign_in_link);
        let shared = flows::Shared::new(self.clone());
        for route in pages::page_routes(&shared) {
            ext.page_route(route);
        }
        for route in api::api_routes(&shared) {
            ext.api_route(route);
        }
        #[cfg(feature = "saml")]
        {
            for route in saml::endpoint_routes() {
                ext.endpoint(route);
            }
            ext.callbacks(saml::SignOutAtIdp);
        }
        ext.api_document(pow_core::api::openapi_fragment(
            NAME,
            include_str!("../openapi.json"),
        ));
    }
}

/// Enforcement: a member at a verified domain of an organization that enforces its
/// connection signs in only through it (or, as its named break-glass owner, with a
/// password and a second factor).
struct Enforcement;

#[async_trait]
impl SignInPolicy for Enforcement {
    async fn check(
        &self,
        config: &PowConfig,
        user: &User,
        methods: &[AuthMethod],
    ) -> Result<Option<SignInRefusal>, PowError> {
        if methods.contains(&SSO) {
            return Ok(None);
        }
        let domain = flows::address_domain(user).unwrap_or_default();
        let Some(connection) = Connections::new(config)?
            .enforcing(user.id, &domain)
            .await?
        else {
            return Ok(None);
        };
        let break_glass = connection.break_glass_user_id == Some(user.id)
            && methods.contains(&AuthMethod::PASSWORD)
            && methods.iter().any(|method| method.is_second_factor());
        if break_glass {
            pow_core::audit::record(
                config,
                flows::event(events::BREAK_GLASS_USED, &connection).user(user.id),
            );
            // The owners hear of it once an hour at most (an API token renewal asks again).
            let once = Limit::new(1, std::time::Duration::from_secs(3600));
            if pow_core::store::Limiter::new(config, "sso_break_glass_notice")
                .hit(once, &user.id.to_string())
                .await?
            {
                mail::break_glass(config, &connection, user).await?;
            }
            return Ok(None);
        }
        pow_core::audit::record(
            config,
            flows::event(events::REFUSED, &connection)
                .user(user.id)
                .detail(
                    "methods",
                    methods
                        .iter()
                        .map(|method| method.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
        );
        Ok(Some(SignInRefusal {
            key: "pow_sso_required",
            policy: "pow_sso enforcement",
        }))
    }
}

/// While an organization enforces its connection, only addresses at its verified domains
/// may be invited (anyone else would be a member outside single sign-on).
struct OnlyVerifiedDomains;

#[async_trait]
impl InvitationRule for OnlyVerifiedDomains {
    async fn check(
        &self,
        config: &PowConfig,
        organization: &Organization,
        email: &str,
    ) -> Result<Option<&'static str>, PowError> {
        let connection = Connections::new(config)?
            .of_organization(&organization.id)
            .await?;
        if !connection.is_some_and(|connection| connection.enabled && connection.enforced) {
            return Ok(None);
        }
        let domain = email
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_ascii_lowercase())
            .unwrap_or_default();
        let verified =
            pow_ext_organizations::domains::verified_domains(config, &organization.id).await?;
        Ok((!verified.contains(&domain)).then_some("pow_sso_invitation_outside_domains"))
    }
}

/// The identities in the account's export; gone with its erasure.
struct IdentityData;

#[async_trait]
impl UserData for IdentityData {
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        let identities = Connections::new(config)?.identities_of(user.id).await?;
        Ok(serde_json::json!(identities))
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        Connections::new(config)?.forget_user(user.id).await
    }
}

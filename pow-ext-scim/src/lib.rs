//! # pow-ext-scim
//!
//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) for organizations: a company's identity
//! provider (Microsoft Entra ID, Okta, any SCIM client) creates, updates and removes the
//! organization's members, and pushes groups that map onto its roles. When someone
//! leaves, their access ends on their next request, on every server.
//!
//! **Guide**: [Provisioning with SCIM](https://github.com/pow-rs/pow-rs/blob/main/guides/scim.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! - **One organization per token.** An organization's admins (`provisioning:manage`)
//!   make bearer tokens on its provisioning page (HTML and JSON): shown once, kept as keyed
//!   hashes, signed so a made-up token is refused before any lookup, rotated with a day's
//!   overlap, counted against a rate limit each. A token reaches its own organization's
//!   users and groups only: anything else is `404`.
//! - **Users** at the organization's verified domains only: a user links the account with
//!   its proven address or makes one, and becomes a member with the default role.
//!   `active: false` or `DELETE` ends the membership (an account the provisioning made is
//!   disabled, where the setup lets accounts be disabled) and every session, remember-me
//!   family, API token and key and provider grant of the account, on its next request
//!   everywhere. The organization's last owner is never deprovisioned (`409`).
//! - **Groups** map onto roles (an admin sets the mapping); membership changes apply on
//!   the next request.
//! - **Dialects**: case-insensitive `op`s, `"True"`/`"False"` strings, a filtered
//!   `replace` that matches nothing, `manager` as a string, `emails[type eq "work"].value`
//!   (see [`patch`]); filters with `eq`, `ne`, `co`, `sw`, `ew`, `pr`, `gt`..., `and`, `or`,
//!   `not` and value paths (see [`filter`]), `startIndex`/`count`, `attributes`, ETags.
//!
//! ```
//! use pow_ext_email_confirmation::EmailConfirmation;
//! use pow_ext_organizations::domains::StaticTxt;
//! use pow_ext_organizations::Organizations;
//! use pow_ext_scim::Scim;
//!
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(EmailConfirmation::new())
//!     .extension(Organizations::new().domains(StaticTxt::new()))
//!     .extension(Scim::new())
//!     .build()?;
//! assert!(config.extensions().contains("pow_scim"));
//! # Ok::<_, pow_core::PowError>(())
//! ```
//!
//! ## Endpoints
//!
//! | Method | Path | |
//! |---|---|---|
//! | `GET` | `/scim/v2/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` | discovery |
//! | `GET`, `POST` | `/scim/v2/Users` | list (filter, page) and provision |
//! | `GET`, `PUT`, `PATCH`, `DELETE` | `/scim/v2/Users/{id}` | a provisioned user |
//! | `GET`, `POST` | `/scim/v2/Groups` | list and create |
//! | `GET`, `PUT`, `PATCH`, `DELETE` | `/scim/v2/Groups/{id}` | a group |
//! | `GET` | `/organizations/{slug}/scim` | the organization's provisioning page |
//! | `POST` | `/organizations/{slug}/scim/tokens`, `.../tokens/rotate`, `.../tokens/revoke`, `.../groups/role` | its forms (sudo mode) |
//!
//! JSON under the API prefix: `GET <api>/organizations/{slug}/scim`,
//! `POST <api>/organizations/{slug}/scim/tokens`, `POST .../tokens/{id}/rotate`,
//! `DELETE .../tokens/{id}`, `PUT .../groups/{id}/role`.
//!
//! ## Features
#![doc = document_features::document_features!()]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pow_core::extension::{ExtensionBuilder, Requirement, SqlMigration, UserData};
use pow_core::store::Limit;
use pow_core::users::User;
use pow_core::{Extension, PowConfig, PowError};

pub mod admin;
mod api;
pub mod endpoints;
pub mod filter;
pub mod pages;
pub mod patch;
pub mod provision;
pub mod schemas;
pub mod store;
pub mod tokens;

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_scim";

/// The extension's migrations: `scim_tokens`, `scim_users`, `scim_groups`.
pub const MIGRATIONS: &[SqlMigration] = &[pow_core::sql_migration!(
    "20271210000000",
    "create_scim",
    portable
)];

/// The extension's Fluent files, as `(language, source)`.
pub const FTL: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-scim.ftl")),
    ("de", include_str!("../locales/de/pow-ext-scim.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-scim.ftl")),
];

/// The extension's audit events (`detail.organization` on each; `detail.token`, the
/// token's name, on the provider's writes).
pub mod events {
    use pow_core::audit::EventName;

    /// A user was provisioned (`detail.scim_id`).
    pub const USER_PROVISIONED: EventName = EventName::new("scim.user_provisioned");
    /// A user's attributes were written.
    pub const USER_UPDATED: EventName = EventName::new("scim.user_updated");
    /// A user was deactivated: membership and credentials ended.
    pub const USER_DEACTIVATED: EventName = EventName::new("scim.user_deactivated");
    /// A user was activated again.
    pub const USER_REACTIVATED: EventName = EventName::new("scim.user_reactivated");
    /// A user was deleted.
    pub const USER_DELETED: EventName = EventName::new("scim.user_deleted");
    /// The last owner was kept: a deprovisioning was refused.
    pub const LAST_OWNER_KEPT: EventName = EventName::new("scim.last_owner_kept");
    /// A group was created or written (`detail.group`).
    pub const GROUP_WRITTEN: EventName = EventName::new("scim.group_written");
    /// A group was deleted.
    pub const GROUP_DELETED: EventName = EventName::new("scim.group_deleted");
    /// An admin mapped a group onto a role (`detail.group`, `detail.role`).
    pub const GROUP_MAPPED: EventName = EventName::new("scim.group_mapped");
    /// An admin made a token (`detail.token`).
    pub const TOKEN_CREATED: EventName = EventName::new("scim.token_created");
    /// An admin rotated a token.
    pub const TOKEN_ROTATED: EventName = EventName::new("scim.token_rotated");
    /// An admin revoked a token.
    pub const TOKEN_REVOKED: EventName = EventName::new("scim.token_revoked");

    /// Every event, as the provisioning page lists them.
    pub const PROVISIONING: &[EventName] = &[
        USER_PROVISIONED,
        USER_UPDATED,
        USER_DEACTIVATED,
        USER_REACTIVATED,
        USER_DELETED,
        LAST_OWNER_KEPT,
        GROUP_WRITTEN,
        GROUP_DELETED,
        GROUP_MAPPED,
        TOKEN_CREATED,
        TOKEN_ROTATED,
        TOKEN_REVOKED,
    ];
}

/// The SCIM extension and its settings. Each setter says its default.
#[derive(Clone, Debug)]
pub struct Scim {
    pub(crate) default_role: String,
    pub(crate) max_resources: usize,
    pub(crate) token_limit: Limit,
}

impl Default for Scim {
    fn default() -> Self {
        Self {
            default_role: pow_ext_organizations::MEMBER.to_owned(),
            max_resources: 10_000,
            token_limit: Limit::new(600, Duration::from_secs(60)),
        }
    }
}

impl Scim {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The role a provisioned user's membership starts with (and falls back to when the
    /// organization maps groups and they are in none): a role of the organizations below
    /// owner (the setup refuses `owner`). The default is `member`.
    pub fn default_role(mut self, role: impl Into<String>) -> Self {
        self.default_role = role.into();
        self
    }

    /// The most users (and groups) one organization may have provisioned: a provider's
    /// write past it is refused (`409`), and lists read at most this many. The default is
    /// 10,000.
    pub fn max_resources(mut self, max: usize) -> Self {
        self.max_resources = max.max(1);
        self
    }

    /// Requests one token may make in the limit's window; over it, `429` with
    /// `Retry-After`. The default is 600 a minute.
    pub fn token_rate_limit(mut self, limit: Limit) -> Self {
        self.token_limit = limit;
        self
    }

    /// The settings enabled in `config`, if the extension is.
    pub fn of(config: &PowConfig) -> Option<&Scim> {
        config
            .extensions()
            .sides::<Registered>()
            .find_map(|registered| registered.0.as_ref())
    }
}

/// The settings, kept in the builder's type map.
#[derive(Default)]
pub(crate) struct Registered(Option<Scim>);

impl Extension for Scim {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        if self.default_role == pow_ext_organizations::OWNER {
            ext.invalid(
                "Scim::default_role: provisioning never makes owners; use a role below owner",
            );
        }
        ext.side::<Registered>().0 = Some(self.clone());
        ext.requires(Requirement::Extension {
            name: pow_ext_organizations::NAME,
            why: "a SCIM token provisions an organization's members",
        });
        ext.migrations(MIGRATIONS)
            .messages(FTL.iter().copied())
            .audit_events(events::PROVISIONING.iter().copied())
            .user_table("scim_users", "user_id")
            .user_data(ProvisionedData(self.max_resources));
        ext.pages([pages::PROVISIONING_PAGE]);
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

/// The account's provisioned records in its export (the provider's attributes of it);
/// gone with its erasure.
struct ProvisionedData(usize);

#[async_trait]
impl UserData for ProvisionedData {
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        let records = store::Store::new(config, self.0)?
            .users_of_account(user.id)
            .await?;
        Ok(serde_json::json!(records
            .iter()
            .map(|record| serde_json::json!({
                "organization_id": record.organization_id,
                "id": record.id,
                "userName": record.user_name,
                "active": record.active,
                "attributes": record.resource,
            }))
            .collect::<Vec<_>>()))
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        store::Store::new(config, self.0)?
            .forget_account(user.id)
            .await
    }
}

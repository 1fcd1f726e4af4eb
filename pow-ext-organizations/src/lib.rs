//! # pow-ext-organizations
//!
//! Organizations: groups of users with roles, invitations and an active organization per
//! session, the gate of every business feature after them.
//!
//! **Guide**: [Organizations](https://github.com/pow-rs/pow-rs/blob/main/guides/organizations.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! - A signed-in user creates an organization (a unique slug and a name) and becomes its
//!   owner; it can be renamed, closed (its purge follows after a grace period) and listed
//!   among "my organizations".
//! - **Roles**: `owner`, `admin` and `member` are built in, each with a rank; the app
//!   declares more ([`Organizations::role`]) and decides what each may do with a small
//!   [`Permissions`] trait. A member manages only roles below their own rank (an owner,
//!   every role). **The last owner can never be removed, demoted or leave**: every change
//!   of owners runs in one transaction that locks the organization's row first; erasing an
//!   account passes its organizations' ownership on (or closes those it was alone in).
//! - **Invitations** are bound to an address and a declared role, sent as a single-use link
//!   whose secret only the mail holds (the cache store keeps the invitation's id under its
//!   keyed digest; the table's ids are not links), expiring after 48 hours by default, and
//!   accepted only by a signed-in user whose *proven* address is the invited one (signing
//!   up through the link proves it). Re-sending mails a new link and keeps the first one
//!   valid; inviting a member, or an address with an account, answers alike.
//! - **The active organization** belongs to the session (switch it; the last one chosen is
//!   the member's default after their next sign-in). It is read with the membership as
//!   stored on every request that asks for it, so a removed member's sessions lose it on
//!   their next request.
//! - **Teams** (when [`Organizations::teams`] turns them on): groups inside an organization
//!   with roles of their own (`lead`, `member`, and the app's), made of the organization's
//!   members only ([`teams`]).
//! - **Verified domains** (when [`Organizations::domains`] gives a DNS resolver): an
//!   organization proves a domain with a TXT record, and users whose proven address is at
//!   it may join, at once or by a request an admin approves ([`domains`]). Public suffixes
//!   are refused.
//! - Caps: 100 members, 100 pending invitations and 50 teams per organization by default.
//!
//! ```
//! use pow_ext_organizations::Organizations;
//!
//! let organizations = Organizations::new().role("billing", 150);
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(pow_ext_email_confirmation::EmailConfirmation::new())
//!     .extension(organizations)
//!     .build()?;
//! assert!(config.extensions().contains("pow_organizations"));
//! # Ok::<_, pow_core::PowError>(())
//! ```
//!
//! ## Pages
//!
//! `GET /organizations` lists the user's organizations (switch, create); `GET
//! /organizations/{slug}` shows one: its members and their roles, invitations, rename,
//! leave and close, each offered to the roles that may ([`pages`]). The invitation link
//! opens `GET /organization-invitations/{token}`.
//!
//! ## JSON API
//!
//! | Method | Path | Action |
//! |---|---|---|
//! | `GET` | `<api>/organizations` | the user's organizations, with their role and the active one |
//! | `POST` | `<api>/organizations` | `{"name", "slug"}`: `201`, the creator is its owner |
//! | `GET` | `<api>/organizations/{slug}` | one of them (a member's view) |
//! | `PATCH` | `<api>/organizations/{slug}` | `{"name"}` (`organization:update`) |
//! | `DELETE` | `<api>/organizations/{slug}` | closes it (`organization:close`, sudo mode) |
//! | `POST` | `<api>/organizations/{slug}/activate` | makes it the session's active organization |
//! | `GET` | `<api>/organizations/{slug}/members` | its members |
//! | `PATCH` | `<api>/organizations/{slug}/members/{user_id}` | `{"role"}` (`members:manage`) |
//! | `DELETE` | `<api>/organizations/{slug}/members/{user_id}` | removes a member (`members:manage`) |
//! | `POST` | `<api>/organizations/{slug}/leave` | the user leaves |
//! | `GET` | `<api>/organizations/{slug}/invitations` | pending invitations (`members:invite`) |
//! | `POST` | `<api>/organizations/{slug}/invitations` | `{"email", "role"}`: `202` (`members:invite`) |
//! | `DELETE` | `<api>/organizations/{slug}/invitations/{id}` | revokes one |
//! | `POST` | `<api>/organizations/{slug}/invitations/{id}/resend` | mails a new link |
//! | `GET` | `<api>/organization-invitations/{token}` | what the link invites to |
//! | `POST` | `<api>/organization-invitations/{token}` | accepts it: signed in, or `{"password", "password_confirmation"}` to sign up |
//!
//! With teams on: `GET`/`POST <api>/organizations/{slug}/teams`, `PATCH`/`DELETE
//! .../teams/{team}`, `GET .../teams/{team}/members`, `PUT`/`DELETE
//! .../teams/{team}/members/{user_id}` ([`teams`]). With domains on: `GET
//! <api>/organizations/joinable`, `GET`/`POST .../{slug}/domains`, `POST
//! .../domains/{id}/verify`, `PATCH`/`DELETE .../domains/{id}`, `POST .../{slug}/join`, `GET
//! .../join-requests`, `POST .../join-requests/{user_id}/approve` and `/deny` ([`domains`]).
//!
//! ## Features
#![doc = document_features::document_features!()]

use std::sync::Arc;
use std::time::Duration;

use pow_core::extension::principal::{
    self, OwningPrincipal, PrincipalMembership, PrincipalRefusal,
};
use pow_core::extension::{Capability, ExtensionBuilder, Requirement, SqlMigration, UserData};
use pow_core::users::User;
use pow_core::{Extension, PowConfig, PowError};

pub mod active;
mod api;
pub mod domains;
pub mod flows;
mod mail;
pub mod pages;
mod store;
pub mod teams;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;

pub use store::{Invitation, Member, Membership, Organization, Refused};

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_organizations";

/// The extension's migrations: the `organizations`, `organization_members` and
/// `organization_invitations` tables, the teams' (`organization_teams`,
/// `organization_team_members`) and the domains' (`organization_domains`,
/// `organization_join_requests`), made whether teams and domains are on or not.
pub const MIGRATIONS: &[SqlMigration] = &[
    pow_core::sql_migration!("20270201000000", "create_organizations", portable),
    pow_core::sql_migration!("20270201000001", "create_organization_teams", portable),
    pow_core::sql_migration!("20270201000002", "create_organization_domains", portable),
];

/// The invitation mail.
pub const MAIL_INVITATION: &str = "organizations/invitation";

/// The built-in owner role: everything, and only owners make or unmake owners.
pub const OWNER: &str = "owner";
/// The built-in admin role: renames, invites and manages the members below it.
pub const ADMIN: &str = "admin";
/// The built-in member role.
pub const MEMBER: &str = "member";
/// The built-in team lead role: manages the team's members below it.
pub const TEAM_LEAD: &str = "lead";
/// The built-in team member role.
pub const TEAM_MEMBER: &str = "member";
/// Teams an organization may have by default.
pub const DEFAULT_MAX_TEAMS: usize = 50;

/// How long an invitation link works by default: 48 hours.
pub const DEFAULT_INVITATION_TTL: Duration = Duration::from_secs(48 * 3600);
/// Members an organization may have by default.
pub const DEFAULT_MAX_MEMBERS: usize = 100;
/// Pending invitations an organization may have by default.
pub const DEFAULT_MAX_PENDING_INVITATIONS: usize = 100;
/// How long a closed organization waits before its purge by default: 30 days.
pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The extension's Fluent files, as `(language, source)`.
pub const FTL: &[(&str, &str)] = &[
    (
        "en",
        include_str!("../locales/en/pow-ext-organizations.ftl"),
    ),
    (
        "de",
        include_str!("../locales/de/pow-ext-organizations.ftl"),
    ),
    (
        "fr",
        include_str!("../locales/fr/pow-ext-organizations.ftl"),
    ),
];

/// The built-in permissions the extension's own actions check (an app's permissions are
/// its own strings).
pub mod permission {
    /// Rename the organization.
    pub const UPDATE: &str = "organization:update";
    /// Close the organization.
    pub const CLOSE: &str = "organization:close";
    /// Invite people, list, revoke and re-send invitations.
    pub const INVITE: &str = "members:invite";
    /// Change members' roles and remove members (below the actor's own rank).
    pub const MANAGE_MEMBERS: &str = "members:manage";
    /// Create, rename and delete teams, and manage every team's members.
    pub const MANAGE_TEAMS: &str = "teams:manage";
    /// Claim, verify and give up domains, and set who may join through them.
    pub const MANAGE_DOMAINS: &str = "domains:manage";
    /// Make, list and revoke the organization's API keys (with `pow-ext-api-keys`).
    pub const MANAGE_API_KEYS: &str = "api_keys:manage";
    /// Manage the organization's single sign-on (pow-ext-sso's connection and enforcement).
    pub const MANAGE_SSO: &str = "sso:manage";
    /// Manage the organization's provisioning (pow-ext-scim's tokens and group mapping).
    pub const MANAGE_PROVISIONING: &str = "provisioning:manage";
}

/// The extension's audit events (`detail.organization`: the organization's id).
pub mod events {
    use pow_core::audit::EventName;

    /// An organization was created.
    pub const CREATED: EventName = EventName::new("organization.created");
    /// An organization was renamed.
    pub const RENAMED: EventName = EventName::new("organization.renamed");
    /// An organization was closed.
    pub const CLOSED: EventName = EventName::new("organization.closed");
    /// A closed organization was purged.
    pub const PURGED: EventName = EventName::new("organization.purged");
    /// A member's role changed (`detail.member`, `detail.role`).
    pub const ROLE_CHANGED: EventName = EventName::new("organization.role_changed");
    /// A member was removed (`detail.member`), or left.
    pub const MEMBER_REMOVED: EventName = EventName::new("organization.member_removed");
    /// Ownership passed on when the last owner's account was erased (`detail.member`).
    pub const OWNERSHIP_PASSED: EventName = EventName::new("organization.ownership_passed");
    /// Someone was invited (`detail.invitation`, `detail.role`).
    pub const INVITED: EventName = EventName::new("organization.invited");
    /// An invitation was revoked.
    pub const INVITATION_REVOKED: EventName = EventName::new("organization.invitation_revoked");
    /// A member joined: an invitation accepted (`detail.invitation`, `detail.role`), or
    /// through a domain (`detail.member`, `detail.role`).
    pub const JOINED: EventName = EventName::new("organization.joined");
    /// A team was created (`detail.team`).
    pub const TEAM_CREATED: EventName = EventName::new("organization.team_created");
    /// A team was renamed (`detail.team`).
    pub const TEAM_RENAMED: EventName = EventName::new("organization.team_renamed");
    /// A team was deleted (`detail.team`).
    pub const TEAM_DELETED: EventName = EventName::new("organization.team_deleted");
    /// Someone was added to a team, or their team role changed (`detail.team`,
    /// `detail.member`, `detail.role`).
    pub const TEAM_ROLE_CHANGED: EventName = EventName::new("organization.team_role_changed");
    /// Someone left or was taken out of a team (`detail.team`, `detail.member`).
    pub const TEAM_MEMBER_REMOVED: EventName = EventName::new("organization.team_member_removed");
    /// A domain was claimed (`detail.domain`).
    pub const DOMAIN_ADDED: EventName = EventName::new("organization.domain_added");
    /// A domain was verified by its TXT record (`detail.domain`).
    pub const DOMAIN_VERIFIED: EventName = EventName::new("organization.domain_verified");
    /// A domain's join policy changed (`detail.domain_id`, `detail.policy`).
    pub const DOMAIN_POLICY_CHANGED: EventName =
        EventName::new("organization.domain_policy_changed");
    /// A domain was given up (`detail.domain_id`).
    pub const DOMAIN_REMOVED: EventName = EventName::new("organization.domain_removed");
    /// A user asked to join through a domain.
    pub const JOIN_REQUESTED: EventName = EventName::new("organization.join_requested");
    /// A request to join was denied (`detail.member`).
    pub const JOIN_DENIED: EventName = EventName::new("organization.join_denied");
}

/// What a member with a role may do: the app's rules, a small trait rather than a rules
/// engine. The default ([`RankPermissions`]) gives the built-in permissions by rank.
///
/// ```
/// use pow_ext_organizations::{permission, Organizations, Permissions, RankPermissions};
///
/// struct Billing;
///
/// impl Permissions for Billing {
///     fn allows(&self, settings: &Organizations, role: &str, permission: &str) -> bool {
///         match permission {
///             "invoices:read" => matches!(role, "billing" | "owner"),
///             _ => RankPermissions.allows(settings, role, permission),
///         }
///     }
/// }
///
/// let settings = Organizations::new().role("billing", 150).permissions(Billing);
/// assert!(settings.allows("billing", "invoices:read"));
/// assert!(!settings.allows("admin", "invoices:read"));
/// assert!(settings.allows("admin", permission::INVITE));
/// ```
pub trait Permissions: Send + Sync + 'static {
    /// Whether a member with `role` may do `permission`.
    fn allows(&self, settings: &Organizations, role: &str, permission: &str) -> bool;
}

/// The default permissions: closing needs an owner; renaming, inviting, managing members,
/// teams, domains, the organization's API keys, its single sign-on and its provisioning an
/// admin or above; anything else is refused.
#[derive(Clone, Copy, Debug, Default)]
pub struct RankPermissions;

impl Permissions for RankPermissions {
    fn allows(&self, settings: &Organizations, role: &str, permission: &str) -> bool {
        let needed = match permission {
            permission::CLOSE => OWNER,
            permission::UPDATE
            | permission::INVITE
            | permission::MANAGE_MEMBERS
            | permission::MANAGE_TEAMS
            | permission::MANAGE_DOMAINS
            | permission::MANAGE_API_KEYS
            | permission::MANAGE_SSO
            | permission::MANAGE_PROVISIONING => ADMIN,
            _ => return false,
        };
        settings.at_least(role, needed)
    }
}

/// A rule another extension sets on who may be invited to an organization (pow-ext-sso:
/// while an organization enforces its single sign-on, only addresses at its verified
/// domains). Register one with [`InvitationRules::add`] on the extension builder's side
/// ([`ExtensionBuilder::side`](pow_core::extension::ExtensionBuilder::side)); every
/// invitation is checked when it is made and again when its link is used.
#[async_trait::async_trait]
pub trait InvitationRule: Send + Sync + 'static {
    /// `None` when `email` may be invited to `organization`; else the message key of the
    /// refusal.
    ///
    /// # Errors
    /// The rule's own store or database failure: the invitation is refused.
    async fn check(
        &self,
        config: &PowConfig,
        organization: &Organization,
        email: &str,
    ) -> Result<Option<&'static str>, PowError>;
}

/// The invitation rules an extension registers (see [`InvitationRule`]).
#[derive(Default)]
pub struct InvitationRules(Vec<Arc<dyn InvitationRule>>);

impl InvitationRules {
    /// Adds `rule`.
    pub fn add(&mut self, rule: impl InvitationRule) -> &mut Self {
        self.0.push(Arc::new(rule));
        self
    }

    /// The message key of the first rule of `config` that refuses `email` for
    /// `organization`, if any.
    pub(crate) async fn refusal(
        config: &PowConfig,
        organization: &Organization,
        email: &str,
    ) -> Result<Option<&'static str>, PowError> {
        for rules in config.extensions().sides::<InvitationRules>() {
            for rule in &rules.0 {
                if let Some(key) = rule.check(config, organization, email).await? {
                    return Ok(Some(key));
                }
            }
        }
        Ok(None)
    }
}

/// A role and its rank: a higher rank manages the lower ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// Its name (`"admin"`).
    pub name: String,
    /// Its rank: owner 300, admin 200, member 100.
    pub rank: u16,
}

/// The organizations extension and its settings. Each setter says its default.
#[derive(Clone)]
pub struct Organizations {
    roles: Vec<Role>,
    permissions: Arc<dyn Permissions>,
    max_members: usize,
    max_pending_invitations: usize,
    invitation_ttl: Duration,
    close_grace: Duration,
    teams: bool,
    team_roles: Vec<Role>,
    max_teams: usize,
    resolver: Option<Arc<dyn domains::TxtResolver>>,
}

impl std::fmt::Debug for Organizations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Organizations")
            .field("roles", &self.roles)
            .field("max_members", &self.max_members)
            .field("max_pending_invitations", &self.max_pending_invitations)
            .field("invitation_ttl", &self.invitation_ttl)
            .field("close_grace", &self.close_grace)
            .field("teams", &self.teams)
            .field("team_roles", &self.team_roles)
            .field("max_teams", &self.max_teams)
            .field("domains", &self.resolver.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Organizations {
    fn default() -> Self {
        let role = |name: &str, rank| Role {
            name: name.to_owned(),
            rank,
        };
        Self {
            roles: vec![role(OWNER, 300), role(ADMIN, 200), role(MEMBER, 100)],
            permissions: Arc::new(RankPermissions),
            max_members: DEFAULT_MAX_MEMBERS,
            max_pending_invitations: DEFAULT_MAX_PENDING_INVITATIONS,
            invitation_ttl: DEFAULT_INVITATION_TTL,
            close_grace: DEFAULT_CLOSE_GRACE,
            teams: false,
            team_roles: vec![role(TEAM_LEAD, 200), role(TEAM_MEMBER, 100)],
            max_teams: DEFAULT_MAX_TEAMS,
            resolver: None,
        }
    }
}

impl Organizations {
    /// The defaults: the three built-in roles, [`RankPermissions`], 100 members and 100
    /// pending invitations per organization, 48-hour invitation links, 30 days of grace
    /// before a closed organization's purge, no teams (50 per organization when on), no
    /// domains.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a role of the app's with its rank (owner 300, admin 200, member 100): a
    /// member manages only the roles ranked below their own. Declaring a built-in role's
    /// name again changes nothing; the owner's rank stays the highest.
    pub fn role(mut self, name: impl Into<String>, rank: u16) -> Self {
        let name = name.into();
        if self.role_rank(&name).is_none() {
            self.roles.push(Role {
                name,
                rank: rank.min(299),
            });
            self.roles.sort_by_key(|role| std::cmp::Reverse(role.rank));
        }
        self
    }

    /// What each role may do. The default is [`RankPermissions`].
    pub fn permissions(mut self, permissions: impl Permissions) -> Self {
        self.permissions = Arc::new(permissions);
        self
    }

    /// The most members an organization may have. The default is 100.
    pub fn max_members(mut self, max: usize) -> Self {
        self.max_members = max.max(1);
        self
    }

    /// The most pending invitations an organization may have. The default is 100.
    pub fn max_pending_invitations(mut self, max: usize) -> Self {
        self.max_pending_invitations = max;
        self
    }

    /// How long an invitation link works. The default is 48 hours.
    pub fn invitation_ttl(mut self, ttl: Duration) -> Self {
        self.invitation_ttl = ttl;
        self
    }

    /// How long a closed organization waits before [`flows::purge_due`] deletes it. The
    /// default is 30 days.
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// Teams inside each organization, with their own roles ([`teams`](mod@crate::teams)). The
    /// default is off.
    pub fn teams(mut self, on: bool) -> Self {
        self.teams = on;
        self
    }

    /// Declares a team role of the app's with its rank (lead 200, member 100): a team's
    /// lead manages the team roles ranked below theirs.
    pub fn team_role(mut self, name: impl Into<String>, rank: u16) -> Self {
        let name = name.into();
        if self.team_role_rank(&name).is_none() {
            self.team_roles.push(Role { name, rank });
            self.team_roles
                .sort_by_key(|role| std::cmp::Reverse(role.rank));
        }
        self
    }

    /// The most teams an organization may have (at least 1). The default is 50.
    pub fn max_teams(mut self, max: usize) -> Self {
        self.max_teams = max.max(1);
        self
    }

    /// Verified domains ([`domains`]), proven by DNS TXT records that `resolver` looks up
    /// (`domains::DohResolver` with the `doh` feature). The default is off.
    pub fn domains(mut self, resolver: impl domains::TxtResolver) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// The resolver of verified domains, when they are on.
    pub fn resolver(&self) -> Option<&Arc<dyn domains::TxtResolver>> {
        self.resolver.as_ref()
    }

    /// Whether teams are on.
    pub fn has_teams(&self) -> bool {
        self.teams
    }

    /// The team roles, highest rank first.
    pub fn team_roles(&self) -> &[Role] {
        &self.team_roles
    }

    /// The rank of the team role `role`, if it is declared.
    pub fn team_role_rank(&self, role: &str) -> Option<u16> {
        self.team_roles
            .iter()
            .find(|r| r.name == role)
            .map(|r| r.rank)
    }

    /// The roles, highest rank first.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The rank of `role`, if it is declared.
    pub fn role_rank(&self, role: &str) -> Option<u16> {
        self.roles.iter().find(|r| r.name == role).map(|r| r.rank)
    }

    /// Whether `role` ranks at least as high as `needed` (both declared).
    pub fn at_least(&self, role: &str, needed: &str) -> bool {
        match (self.role_rank(role), self.role_rank(needed)) {
            (Some(have), Some(need)) => have >= need,
            _ => false,
        }
    }

    /// Whether a member with `role` may do `permission` ([`Permissions`]).
    pub fn allows(&self, role: &str, permission: &str) -> bool {
        self.permissions.allows(self, role, permission)
    }

    /// The settings enabled in `config`, if the extension is.
    pub fn of(config: &PowConfig) -> Option<&Organizations> {
        config
            .extensions()
            .sides::<Registered>()
            .find_map(|registered| registered.0.as_ref())
    }
}

/// The settings of a setup, kept in the builder's type map.
#[derive(Default)]
pub(crate) struct Registered(Option<Organizations>);

impl Extension for Organizations {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.side::<Registered>().0 = Some(self.clone());
        ext.requires(Requirement::Capability {
            capability: Capability::AddressProof,
            why: "an invitation is accepted by the owner of the invited address, proven",
        });
        ext.migrations(MIGRATIONS)
            .messages(FTL.iter().copied())
            .mails([MAIL_INVITATION])
            .audit_events([
                events::CREATED,
                events::RENAMED,
                events::CLOSED,
                events::PURGED,
                events::ROLE_CHANGED,
                events::MEMBER_REMOVED,
                events::OWNERSHIP_PASSED,
                events::INVITED,
                events::INVITATION_REVOKED,
                events::JOINED,
                events::TEAM_CREATED,
                events::TEAM_RENAMED,
                events::TEAM_DELETED,
                events::TEAM_ROLE_CHANGED,
                events::TEAM_MEMBER_REMOVED,
                events::DOMAIN_ADDED,
                events::DOMAIN_VERIFIED,
                events::DOMAIN_POLICY_CHANGED,
                events::DOMAIN_REMOVED,
                events::JOIN_REQUESTED,
                events::JOIN_DENIED,
            ])
            .user_table("organization_members", "user_id")
            .user_table("organization_team_members", "user_id")
            .user_table("organization_join_requests", "user_id")
            .user_data(MemberData)
            .keeps_user_data()
            .owning_principal(Principal);
        ext.pages([
            pages::PAGE,
            pages::ORGANIZATION_PAGE,
            pages::INVITATION_PAGE,
            pages::TEAM_PAGE,
        ])
        .page_extension(pages::account_link);
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        ext.api_document(self.document());
    }
}

impl Organizations {
    /// The OpenAPI fragment of the routes this setup serves: without the teams' or the
    /// domains' operations when they are off.
    fn document(&self) -> Option<serde_json::Value> {
        let mut fragment = pow_core::api::openapi_fragment(NAME, include_str!("../openapi.json"))?;
        if let Some(paths) = fragment
            .get_mut("paths")
            .and_then(serde_json::Value::as_object_mut)
        {
            paths.retain(|path, _| {
                let team = path.contains("/teams");
                let domain = path.contains("/domains")
                    || path.contains("/join")
                    || path.ends_with("/joinable");
                (self.teams || !team) && (self.resolver.is_some() || !domain)
            });
        }
        Some(fragment)
    }
}

/// Organizations as accounts that own credentials, for the extensions that make them (an
/// organization's API keys) through the core.
struct Principal;

impl Principal {
    fn membership(m: Membership) -> PrincipalMembership {
        PrincipalMembership {
            id: m.organization.id,
            slug: m.organization.slug,
            role: m.role,
            joined_at: m.joined_at,
        }
    }
}

#[async_trait::async_trait]
impl OwningPrincipal for Principal {
    fn kind(&self) -> &'static str {
        principal::ORGANIZATION
    }

    fn home(&self) -> (&'static str, &'static str) {
        (NAME, "/organizations")
    }

    fn forbidden_message(&self) -> &'static str {
        "pow_organizations_forbidden"
    }

    async fn membership(
        &self,
        config: &PowConfig,
        id: &str,
        user_id: i64,
    ) -> Result<Option<PrincipalMembership>, PowError> {
        Ok(flows::membership_in(config, id, user_id)
            .await?
            .map(Self::membership))
    }

    async fn authorize(
        &self,
        config: &PowConfig,
        user: &User,
        slug: &str,
        permission: &str,
    ) -> Result<Result<PrincipalMembership, PrincipalRefusal>, PowError> {
        let Some(settings) = Organizations::of(config) else {
            return Ok(Err(PrincipalRefusal::NotFound));
        };
        Ok(match flows::membership(config, user, slug).await? {
            None => Err(PrincipalRefusal::NotFound),
            Some(m) if settings.allows(&m.role, permission) => Ok(Self::membership(m)),
            Some(_) => Err(PrincipalRefusal::Forbidden),
        })
    }
}

/// A user's memberships (and teams) in their export; their erasure passes ownership on.
struct MemberData;

#[async_trait::async_trait]
impl UserData for MemberData {
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        let memberships = flows::memberships(config, user).await?;
        let mut teams = Vec::new();
        for membership in &memberships {
            for (team, role) in
                crate::teams::of_member(config, &membership.organization.id, user.id).await?
            {
                teams.push(serde_json::json!({
                    "organization": membership.organization.slug,
                    "team": team.name,
                    "role": role,
                }));
            }
        }
        let join_requests = crate::domains::requests_of(config, user.id).await?;
        Ok(serde_json::json!({
            "memberships": memberships,
            "teams": teams,
            "join_requests": join_requests,
        }))
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        crate::domains::forget_requests(config, user.id).await?;
        flows::erase_member(config, user).await
    }
}

/// The settings, shared by the routes.
pub(crate) type Shared = Arc<Organizations>;

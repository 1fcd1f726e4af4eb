//! What an organization's admins do with its provisioning (`provisioning:manage`), once for
//! the page and the JSON: the tokens (made and shown once, rotated with an overlap,
//! revoked), the groups' mapping onto roles, and the last provisioning events.

use std::time::Duration;

use pow_core::audit::{self, AuditEvent, AuditQuery};
use pow_core::users::User;
use pow_core::{PowConfig, PowError};
use pow_ext_organizations::{flows as orgs, permission, Organization, Refused};
use serde::Serialize;

use crate::store::Store;
use crate::tokens::{TokenInfo, Tokens};
use crate::{events, Scim};

/// How long a rotated token keeps working beside its successor: a day.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// A group as its organization's admins see it.
#[derive(Clone, Debug, Serialize)]
pub struct GroupInfo {
    /// Its SCIM id.
    pub id: String,
    /// Its name.
    pub display_name: String,
    /// The role its members get, if mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The team its members are put in, if mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// How many members it has.
    pub members: usize,
}

/// A provisioning event, as the page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct EventInfo {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// What (`scim.user_provisioned`, ...).
    pub name: String,
    /// The token's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The account, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

/// An organization's provisioning as its admins see it.
#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    /// The organization.
    pub organization: Organization,
    /// The SCIM root URL to give the provider.
    pub base_url: String,
    /// The tokens that work.
    pub tokens: Vec<TokenInfo>,
    /// The groups the provider pushed.
    pub groups: Vec<GroupInfo>,
    /// The last provisioning events, newest first (empty when the setup's audit sink
    /// cannot be queried).
    pub events: Vec<EventInfo>,
}

/// The organization of `slug`, when `admin` may manage its provisioning.
async fn managed_org(
    config: &PowConfig,
    admin: &User,
    slug: &str,
) -> Result<Result<Organization, Refused>, PowError> {
    Ok(
        orgs::authorize(config, admin, slug, permission::MANAGE_PROVISIONING)
            .await?
            .map(|membership| membership.organization),
    )
}

fn event(name: pow_core::audit::EventName, admin: &User, org: &str) -> AuditEvent {
    AuditEvent::new(name)
        .user(admin.id)
        .detail("organization", org.to_owned())
}

/// The overview of `slug`'s provisioning; `base_url` is the SCIM root to show.
///
/// # Errors
/// The database's or the audit sink's.
pub async fn overview(
    config: &PowConfig,
    scim: &Scim,
    admin: &User,
    slug: &str,
    base_url: String,
) -> Result<Result<Overview, Refused>, PowError> {
    let org = match managed_org(config, admin, slug).await? {
        Ok(org) => org,
        Err(refused) => return Ok(Err(refused)),
    };
    let tokens = Tokens::new(config)?.list(&org.id).await?;
    let groups = Store::new(config, scim.max_resources)?
        .groups(&org.id)
        .await?
        .into_iter()
        .map(|group| GroupInfo {
            members: group.member_ids().len(),
            id: group.id,
            display_name: group.display_name,
            role: group.role,
            team_id: group.team_id,
        })
        .collect();
    let query = AuditQuery {
        names: events::PROVISIONING.to_vec(),
        limit: 500,
        ..AuditQuery::default()
    };
    // A sink that cannot be queried (the default one logs) lists nothing.
    let recorded = match config.audit().query(query).await {
        Ok(recorded) => recorded,
        Err(err) => {
            tracing::debug!(error = %err, "the audit sink cannot be queried");
            Vec::new()
        }
    };
    let events = recorded
        .into_iter()
        .filter(|event| {
            event.detail.get("organization").and_then(|v| v.as_str()) == Some(org.id.as_str())
        })
        .take(20)
        .map(|event| EventInfo {
            at: event.at,
            token: event
                .detail
                .get("token")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            name: event.name,
            user_id: event.user_id,
        })
        .collect();
    Ok(Ok(Overview {
        organization: org,
        base_url,
        tokens,
        groups,
        events,
    }))
}

/// Makes a token named `name` for `slug`: its record and value (shown this once).
/// Audited.
///
/// # Errors
/// The database's.
pub async fn create_token(
    config: &PowConfig,
    admin: &User,
    slug: &str,
    name: &str,
) -> Result<Result<(TokenInfo, String), Refused>, PowError> {
    let org = match managed_org(config, admin, slug).await? {
        Ok(org) => org,
        Err(refused) => return Ok(Err(refused)),
    };
    let name = match name.trim() {
        "" => "SCIM",
        name => name,
    };
    let name: String = name.chars().take(100).collect();
    let made = Tokens::new(config)?
        .create(&org.id, &name, Some(admin.id))
        .await?;
    audit::record(
        config,
        event(events::TOKEN_CREATED, admin, &org.id).detail("token", made.0.name.clone()),
    );
    Ok(Ok(made))
}

/// A new token in place of `id` (same name), the old one working for
/// [`ROTATION_OVERLAP`] more; `None` when `slug` has no such token. Audited.
///
/// # Errors
/// The database's.
pub async fn rotate_token(
    config: &PowConfig,
    admin: &User,
    slug: &str,
    id: &str,
) -> Result<Result<Option<(TokenInfo, String)>, Refused>, PowError> {
    let org = match managed_org(config, admin, slug).await? {
        Ok(org) => org,
        Err(refused) => return Ok(Err(refused)),
    };
    let tokens = Tokens::new(config)?;
    let Some(old) = tokens
        .list(&org.id)
        .await?
        .into_iter()
        .find(|token| token.id == id)
    else {
        return Ok(Ok(None));
    };
    if !tokens.revoke(&org.id, id, ROTATION_OVERLAP).await? {
        return Ok(Ok(None));
    }
    let made = tokens.create(&org.id, &old.name, Some(admin.id)).await?;
    audit::record(
        config,
        event(events::TOKEN_ROTATED, admin, &org.id).detail("token", old.name),
    );
    Ok(Ok(Some(made)))
}

/// Revokes token `id` of `slug` at once; `false` when it has no such token. Audited.
///
/// # Errors
/// The database's.
pub async fn revoke_token(
    config: &PowConfig,
    admin: &User,
    slug: &str,
    id: &str,
) -> Result<Result<bool, Refused>, PowError> {
    let org = match managed_org(config, admin, slug).await? {
        Ok(org) => org,
        Err(refused) => return Ok(Err(refused)),
    };
    let tokens = Tokens::new(config)?;
    let name = tokens
        .list(&org.id)
        .await?
        .into_iter()
        .find(|token| token.id == id)
        .map(|token| token.name);
    let revoked = tokens.revoke(&org.id, id, Duration::ZERO).await?;
    if revoked {
        audit::record(
            config,
            event(events::TOKEN_REVOKED, admin, &org.id).detail("token", name.unwrap_or_default()),
        );
    }
    Ok(Ok(revoked))
}

/// Maps group `id` of `slug` onto `role` (a role of the setup below owner; `None`: no
/// role); its members get it on their next request. `Ok(false)` for no such group,
/// [`Refused::UnknownRole`] for a role that cannot be mapped. Audited.
///
/// # Errors
/// The database's.
pub async fn map_group(
    config: &PowConfig,
    scim: &Scim,
    admin: &User,
    slug: &str,
    id: &str,
    role: Option<String>,
) -> Result<Result<bool, Refused>, PowError> {
    let org = match managed_org(config, admin, slug).await? {
        Ok(org) => org,
        Err(refused) => return Ok(Err(refused)),
    };
    if let Some(role) = &role {
        let allowed = pow_ext_organizations::Organizations::of(config)
            .is_some_and(|settings| settings.role_rank(role).is_some())
            && role != pow_ext_organizations::OWNER;
        if !allowed {
            return Ok(Err(Refused::UnknownRole));
        }
    }
    let mapped = crate::provision::map_group(config, scim, &org.id, id, role.clone()).await?;
    if mapped {
        audit::record(
            config,
            event(events::GROUP_MAPPED, admin, &org.id)
                .detail("group", id.to_owned())
                .detail("role", role.unwrap_or_default()),
        );
    }
    Ok(Ok(mapped))
}

/// Maps group `id` of `slug` onto one of its teams (`None`: no team); its members are put
/// in it (as team members) on their next request, and leave it when they leave the group.
/// `Ok(false)` for no such group, [`Refused::NotFound`] for a team of no such
/// organization's. Audited.
///
/// # Errors
/// The database's.
pub async fn map_group_team(
    config: &PowConfig,
    scim: &Scim,
    admin: &User,
    slug: &str,
    id: &str,
    team_id: Option<String>,
) -> Result<Result<bool, Refused>, PowError> {
    let org = match managed_org(config, admin, slug).await? {
        Ok(org) => org,
        Err(refused) => return Ok(Err(refused)),
    };
    if let Some(team) = &team_id {
        let teams = match pow_ext_organizations::teams::list(config, admin, slug).await? {
            Ok(teams) => teams,
            Err(refused) => return Ok(Err(refused)),
        };
        if !teams.iter().any(|have| have.id == *team) {
            return Ok(Err(Refused::NotFound));
        }
    }
    let mapped =
        crate::provision::map_group_team(config, scim, &org.id, id, team_id.clone()).await?;
    if mapped {
        audit::record(
            config,
            event(events::GROUP_MAPPED, admin, &org.id)
                .detail("group", id.to_owned())
                .detail("team", team_id.unwrap_or_default()),
        );
    }
    Ok(Ok(mapped))
}

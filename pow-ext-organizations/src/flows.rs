//! The extension's flows, on the engine: organizations, members and roles, invitations
//! and erasure. A page, a JSON endpoint, a CLI or a test runs the same code, and every
//! rule (who may do what, the last owner, the caps) lives here once:
//!
//! ```
//! use pow_ext_organizations::{flows, Organizations, Refused};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let users = pow_core::users::diesel::DieselUsersContext::connect(":memory:")?;
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .extension(pow_ext_email_confirmation::EmailConfirmation::new())
//!     .extension(Organizations::new())
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "correct horse")?;
//!
//! let acme = flows::create(&config, &ada, "Acme", "acme").await?.unwrap();
//! // The last owner can neither leave nor be demoted.
//! let left = flows::leave(&config, &ada, "acme").await?;
//! assert_eq!(left, Err(Refused::LastOwner));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use chrono::{DateTime, Utc};
use pow_core::audit::{self, AuditEvent};
use pow_core::config::extension_path;
use pow_core::messages::LanguageIdentifier;
use pow_core::session::SessionHandle;
use pow_core::store::OneTimeSecrets;
use pow_core::users::{Changeset, Params, User};
use pow_core::{PowConfig, PowError};

use crate::store::{now, Change, Joined, Store};
use crate::{
    events, permission, Invitation, Member, Membership, Organization, Organizations, Refused, NAME,
    OWNER,
};

/// Longest organization name.
pub const MAX_NAME: usize = 100;
/// Shortest and longest slug.
pub const SLUG_LENGTH: std::ops::RangeInclusive<usize> = 2..=40;

/// The path of the invitation page; `{token}` is the link's.
pub const INVITATION_PATH: &str = "/organization-invitations/{token}";

/// The salt of the invitation links' signatures.
const LINK_SALT: &str = "pow_organizations invitation";

/// Why an organization was not created or renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// The name is empty or longer than [`MAX_NAME`].
    Name,
    /// The slug is not 2 to 40 of `a-z`, `0-9` and inner `-`.
    Slug,
    /// Another organization has the slug.
    SlugTaken,
}

fn settings(config: &PowConfig) -> Result<&Organizations, PowError> {
    Organizations::of(config)
        .ok_or_else(|| PowError::Config("the Organizations extension is not enabled".into()))
}

fn valid_name(name: &str) -> Option<&str> {
    let name = name.trim();
    (!name.is_empty() && name.chars().count() <= MAX_NAME).then_some(name)
}

/// The user field invitations are addressed by.
const EMAIL: &str = "email";

/// Longest address.
const MAX_EMAIL: usize = 254;

/// Whether `email` looks like an address: something on both sides of one `@`, no spaces,
/// at most 254 characters (the mail proves the rest).
fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && email.len() <= MAX_EMAIL
        && !email.chars().any(char::is_whitespace)
}

/// Slugs the routes use as words of their own.
const RESERVED: &[&str] = &["joinable", "switch"];

/// Whether `slug` has a slug's shape (and is not a word the routes use).
pub fn valid_slug(slug: &str) -> bool {
    !RESERVED.contains(&slug)
        && SLUG_LENGTH.contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

fn event(name: pow_core::audit::EventName, actor: Option<i64>, org: &str) -> AuditEvent {
    let event = AuditEvent::new(name).detail("organization", org.to_owned());
    match actor {
        Some(actor) => event.user(actor),
        None => event,
    }
}

/// Creates the organization `name` with `slug`; `user` is its owner, and it becomes their
/// default organization. Audited.
///
/// # Errors
/// The database's error.
pub async fn create(
    config: &PowConfig,
    user: &User,
    name: &str,
    slug: &str,
) -> Result<Result<Organization, Invalid>, PowError> {
    let Some(name) = valid_name(name) else {
        return Ok(Err(Invalid::Name));
    };
    let slug = slug.trim();
    if !valid_slug(slug) {
        return Ok(Err(Invalid::Slug));
    }
    let org = Organization {
        id: pow_core::token::generate_uuid(),
        slug: slug.to_owned(),
        name: name.to_owned(),
        created_at: now(),
        closed_at: None,
    };
    if !Store::new(config)?.create(org.clone(), user.id).await? {
        return Ok(Err(Invalid::SlugTaken));
    }
    audit::record(config, event(events::CREATED, Some(user.id), &org.id));
    Ok(Ok(org))
}

/// `user`'s memberships in open organizations, by name.
///
/// # Errors
/// The database's error.
pub async fn memberships(config: &PowConfig, user: &User) -> Result<Vec<Membership>, PowError> {
    Store::new(config)?.memberships(user.id).await
}

/// The membership of `user_id` in the open organization `org_id` (by its id), as stored
/// now: what another extension checks for a credential bound to an organization (an
/// organization's API key works while its maker is a member).
///
/// # Errors
/// The database's error.
pub async fn membership_in(
    config: &PowConfig,
    org_id: &str,
    user_id: i64,
) -> Result<Option<Membership>, PowError> {
    Store::new(config)?.membership(org_id, user_id).await
}

/// `user`'s membership in the open organization of `slug`: what a member sees of it.
/// `None` for a slug of no organization and for one they are not a member of alike.
///
/// # Errors
/// The database's error.
pub async fn membership(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Option<Membership>, PowError> {
    let store = Store::new(config)?;
    match store.by_slug(slug).await? {
        Some(org) => store.membership(&org.id, user.id).await,
        None => Ok(None),
    }
}

/// The open organization of `slug`, for another extension that routes by it (single
/// sign-on by organization).
///
/// # Errors
/// The database's error.
pub async fn by_slug(config: &PowConfig, slug: &str) -> Result<Option<Organization>, PowError> {
    Store::new(config)?.by_slug(slug).await
}

/// The open organization of id `org_id`.
///
/// # Errors
/// The database's error.
pub async fn by_id(config: &PowConfig, org_id: &str) -> Result<Option<Organization>, PowError> {
    Store::new(config)?.by_id(org_id).await
}

/// Removes `user_id` from the open organization `org_id` as a provisioning extension does
/// (SCIM's deprovisioning), never its last owner ([`Refused::LastOwner`], under the same
/// lock as every other change of who owns it). Audited as
/// [`events::MEMBER_REMOVED`] with `detail.by`.
///
/// # Errors
/// The database's error.
pub async fn deprovision_member(
    config: &PowConfig,
    org_id: &str,
    user_id: i64,
    by: &str,
) -> Result<Result<(), Refused>, PowError> {
    provisioned_change(config, org_id, user_id, Change::Remove, by).await
}

/// Gives member `user_id` of `org_id` the role `role` as a provisioning extension does
/// (SCIM's group mapping), never the last owner's demotion. Audited as
/// [`events::ROLE_CHANGED`] with `detail.by`.
///
/// # Errors
/// The database's error.
pub async fn provision_role(
    config: &PowConfig,
    org_id: &str,
    user_id: i64,
    role: &str,
    by: &str,
) -> Result<Result<(), Refused>, PowError> {
    if settings(config)?.role_rank(role).is_none() {
        return Ok(Err(Refused::UnknownRole));
    }
    provisioned_change(config, org_id, user_id, Change::Role(role.to_owned()), by).await
}

async fn provisioned_change(
    config: &PowConfig,
    org_id: &str,
    user_id: i64,
    change: Change,
    by: &str,
) -> Result<Result<(), Refused>, PowError> {
    let store = Store::new(config)?;
    // No actor: the provisioning extension checked its caller; only the owner rule holds.
    let applied = store
        .change(org_id, None, user_id, change.clone(), |_, _, _| Ok(()))
        .await?;
    let previous = match applied {
        Ok(previous) => previous,
        Err(refused) => return Ok(Err(refused)),
    };
    let event = match &change {
        Change::Role(role) if *role == previous => return Ok(Ok(())),
        Change::Role(role) => event(events::ROLE_CHANGED, None, org_id)
            .detail("member", user_id.to_string())
            .detail("role", role.clone()),
        Change::Remove => {
            event(events::MEMBER_REMOVED, None, org_id).detail("member", user_id.to_string())
        }
    };
    audit::record(config, event.detail("by", by.to_owned()));
    Ok(Ok(()))
}

/// `user`'s membership of `slug` when their role allows `permission`; else
/// [`Refused::NotFound`] (not a member, or no such organization) or [`Refused::Forbidden`]:
/// the check another extension's organization pages make (pow-ext-sso's, with
/// [`permission::MANAGE_SSO`]).
///
/// # Errors
/// The database's error.
pub async fn authorize(
    config: &PowConfig,
    user: &User,
    slug: &str,
    permission: &str,
) -> Result<Result<Membership, Refused>, PowError> {
    allowed(config, user, slug, permission).await
}

/// Makes `user` a member of the open organization `org_id` with `role`, as a provisioning
/// extension does (single sign-on's first sign-in at a verified domain, SCIM): audited as
/// [`events::JOINED`] with the user as actor and `detail.by` the
/// provisioning extension. An existing membership is kept as it is. `None` when the
/// organization is closed, full, or `role` is not one of the setup's roles.
///
/// # Errors
/// The database's error.
pub async fn provision_member(
    config: &PowConfig,
    org_id: &str,
    user: &User,
    role: &str,
    by: &str,
) -> Result<Option<Membership>, PowError> {
    let settings = settings(config)?;
    if settings.role_rank(role).is_none() {
        return Ok(None);
    }
    let store = Store::new(config)?;
    let joined = store
        .add_member(org_id, user.id, role, settings.max_members, None)
        .await?;
    match joined {
        crate::store::Joined::Member(role) => audit::record(
            config,
            AuditEvent::new(crate::events::JOINED)
                .user(user.id)
                .detail("organization", org_id.to_owned())
                .detail("member", user.id.to_string())
                .detail("role", role)
                .detail("by", by.to_owned()),
        ),
        crate::store::Joined::Already => {}
        crate::store::Joined::Full | crate::store::Joined::Gone => return Ok(None),
    }
    store.membership(org_id, user.id).await
}

/// `user`'s membership of `slug`, when their role allows `permission`.
async fn allowed(
    config: &PowConfig,
    user: &User,
    slug: &str,
    permission: &str,
) -> Result<Result<Membership, Refused>, PowError> {
    let Some(membership) = membership(config, user, slug).await? else {
        return Ok(Err(Refused::NotFound));
    };
    if settings(config)?.allows(&membership.role, permission) {
        Ok(Ok(membership))
    } else {
        Ok(Err(Refused::Forbidden))
    }
}

/// Renames the organization of `slug` (`organization:update`). Audited.
///
/// # Errors
/// The database's error.
pub async fn rename(
    config: &PowConfig,
    user: &User,
    slug: &str,
    name: &str,
) -> Result<Result<Organization, Result<Refused, Invalid>>, PowError> {
    let membership = match allowed(config, user, slug, permission::UPDATE).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(Ok(refused))),
    };
    let Some(name) = valid_name(name) else {
        return Ok(Err(Err(Invalid::Name)));
    };
    let mut org = membership.organization;
    if !Store::new(config)?.rename(&org.id, name).await? {
        return Ok(Err(Ok(Refused::NotFound)));
    }
    audit::record(config, event(events::RENAMED, Some(user.id), &org.id));
    org.name = name.to_owned();
    Ok(Ok(org))
}

/// Closes the organization of `slug` (`organization:close`): it disappears for its members
/// at once, and [`purge_due`] deletes it after the grace period. Audited.
///
/// # Errors
/// The database's error.
pub async fn close(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Result<(), Refused>, PowError> {
    let membership = match allowed(config, user, slug, permission::CLOSE).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let org = membership.organization;
    if !Store::new(config)?.close(&org.id, now()).await? {
        return Ok(Err(Refused::NotFound));
    }
    audit::record(config, event(events::CLOSED, Some(user.id), &org.id));
    Ok(Ok(()))
}

/// Deletes the organizations closed longer ago than the grace period at `at` (their
/// memberships and invitations with them); how many. Run it from a job, as the account
/// extension's purge is. Audited.
///
/// # Errors
/// The database's error.
pub async fn purge_due(config: &PowConfig, at: DateTime<Utc>) -> Result<usize, PowError> {
    let grace =
        chrono::Duration::from_std(settings(config)?.close_grace).unwrap_or(chrono::Duration::MAX);
    let before = at
        .checked_sub_signed(grace)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let purged = Store::new(config)?.purge_closed(before).await?;
    for id in &purged {
        audit::record(config, event(events::PURGED, None, id));
    }
    Ok(purged.len())
}

/// The members of the organization of `slug`, for one of them.
///
/// # Errors
/// The database's error.
pub async fn members(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Result<Vec<Member>, Refused>, PowError> {
    let Some(membership) = membership(config, user, slug).await? else {
        return Ok(Err(Refused::NotFound));
    };
    Ok(Ok(Store::new(config)?
        .members(config, &membership.organization.id)
        .await?))
}

/// The rule of changing a member: an actor with `members:manage` changes the roles ranked
/// below their own into roles ranked below their own; an owner changes every role (owners
/// too, their own among them). Leaving (the actor removes themselves) needs nothing.
/// Checked under the organization's lock with the roles as stored.
fn may_change(
    settings: &Organizations,
    actor: Option<&str>,
    leaving: bool,
    target: &str,
    change: &Change,
) -> Result<(), Refused> {
    if let Change::Role(role) = change {
        if settings.role_rank(role).is_none() {
            return Err(Refused::UnknownRole);
        }
    }
    let Some(actor) = actor else {
        return Ok(());
    };
    if leaving && *change == Change::Remove {
        return Ok(());
    }
    if !settings.allows(actor, permission::MANAGE_MEMBERS) {
        return Err(Refused::Forbidden);
    }
    if actor == OWNER {
        return Ok(());
    }
    let rank = |role: &str| settings.role_rank(role).unwrap_or(0);
    let below = |role: &str| rank(role) < rank(actor);
    let to_below = match change {
        Change::Role(role) => below(role),
        Change::Remove => true,
    };
    if below(target) && to_below {
        Ok(())
    } else {
        Err(Refused::Forbidden)
    }
}

/// Applies `change` to member `target` of `slug` as `actor`.
async fn change_member(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    target: i64,
    change: Change,
) -> Result<Result<(), Refused>, PowError> {
    let settings = settings(config)?.clone();
    let store = Store::new(config)?;
    let Some(org) = store.by_slug(slug).await? else {
        return Ok(Err(Refused::NotFound));
    };
    let leaving = actor.id == target;
    let rule = move |actor: Option<&str>, target: &str, change: &Change| {
        may_change(&settings, actor, leaving, target, change)
    };
    let applied = store
        .change(&org.id, Some(actor.id), target, change.clone(), rule)
        .await?;
    if applied.is_err() {
        return Ok(applied.map(|_| ()));
    }
    let event = match &change {
        Change::Role(role) => event(events::ROLE_CHANGED, Some(actor.id), &org.id)
            .detail("member", target.to_string())
            .detail("role", role.clone()),
        Change::Remove => event(events::MEMBER_REMOVED, Some(actor.id), &org.id)
            .detail("member", target.to_string()),
    };
    audit::record(config, event);
    Ok(Ok(()))
}

/// Gives member `target` of `slug` the role `role` (`members:manage`, within the rule of
/// ranks; never the last owner's demotion). Audited.
///
/// # Errors
/// The database's error.
pub async fn change_role(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    target: i64,
    role: &str,
) -> Result<Result<(), Refused>, PowError> {
    change_member(config, actor, slug, target, Change::Role(role.to_owned())).await
}

/// Removes member `target` from `slug` (`members:manage`, within the rule of ranks; never
/// the last owner): their sessions lose the organization on their next request. Audited.
///
/// # Errors
/// The database's error.
pub async fn remove(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    target: i64,
) -> Result<Result<(), Refused>, PowError> {
    change_member(config, actor, slug, target, Change::Remove).await
}

/// `user` leaves `slug` (never its last owner). Audited.
///
/// # Errors
/// The database's error.
pub async fn leave(
    config: &PowConfig,
    user: &User,
    slug: &str,
) -> Result<Result<(), Refused>, PowError> {
    change_member(config, user, slug, user.id, Change::Remove).await
}

/// Takes `user` out of every organization for their account's erasure: the ownership of
/// those they were the last owner of passes to the member of the highest rank (the
/// longest-standing first), and those nobody else belongs to close. Audited.
///
/// # Errors
/// The store's or the database's error.
pub async fn erase_member(config: &PowConfig, user: &User) -> Result<(), PowError> {
    let settings = settings(config)?;
    for (org, heir) in Store::new(config)?.erase_member(settings, user.id).await? {
        let recorded = match heir {
            Some(heir) => {
                event(events::OWNERSHIP_PASSED, None, &org).detail("member", heir.to_string())
            }
            None => event(events::CLOSED, None, &org),
        };
        audit::record(config, recorded);
    }
    crate::active::forget(config, user.id).await
}

/// An invitation's link: a signed single-use secret whose record, in the cache store under
/// its keyed digest, names the invitation.
fn links(config: &PowConfig, settings: &Organizations) -> OneTimeSecrets {
    OneTimeSecrets::new(config, NAME, "invitation", settings.invitation_ttl)
}

/// Mails a new link of `invitation` to its address, within the address's share of such
/// mails (3 an hour, [`within_mail_share`](pow_core::mailer::within_mail_share)): any
/// user can make an organization and name its mails' subject, so a re-sent invitation is
/// no way to flood an address. Past the share nothing is sent and the answer is the same.
async fn send_link(
    config: &PowConfig,
    settings: &Organizations,
    org: &Organization,
    invitation: &Invitation,
    lang: &LanguageIdentifier,
) -> Result<(), PowError> {
    if !pow_core::mailer::within_mail_share(
        config,
        "organization_invitation_mail",
        &invitation.email,
    )
    .await?
    {
        tracing::info!("organization invitation not mailed: the address had its share of mails");
        return Ok(());
    }
    let secret = pow_core::token::generate_uuid();
    links(config, settings).put(&secret, &invitation.id).await?;
    let token = config.verifier().sign_token(LINK_SALT, &secret);
    let path = extension_path(config, NAME, INVITATION_PATH, &[("token", &token)]);
    let url = format!("{}{path}", config.base_url().unwrap_or_default());
    let hours = (invitation.expires_at - now()).num_hours().max(1);
    crate::mail::invitation(config, lang, invitation, org, &url, hours).await;
    Ok(())
}

/// Invites `email` to `slug` with `role` (`members:invite`; a declared role ranked below
/// the inviter's, any role for an owner): stores the invitation and mails its link.
/// Inviting someone who is a member already sends nothing, and inviting an address with a
/// pending invitation re-sends that one (its role stays: revoke it to invite with another):
/// the answer is the same for every address, with an account or not. Audited.
///
/// # Errors
/// The store's, database's or mailer's error.
pub async fn invite(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    email: &str,
    role: &str,
    lang: &LanguageIdentifier,
) -> Result<Result<(), Refused>, PowError> {
    let settings = settings(config)?;
    let membership = match allowed(config, actor, slug, permission::INVITE).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let email = email.trim().to_lowercase();
    if !valid_email(&email) {
        return Ok(Err(Refused::InvalidEmail));
    }
    let Some(rank) = settings.role_rank(role) else {
        return Ok(Err(Refused::UnknownRole));
    };
    if membership.role != OWNER && rank >= settings.role_rank(&membership.role).unwrap_or(0) {
        return Ok(Err(Refused::Forbidden));
    }
    let org = membership.organization;
    if let Some(key) = crate::InvitationRules::refusal(config, &org, &email).await? {
        return Ok(Err(Refused::ByRule(key)));
    }
    let store = Store::new(config)?;
    // A member already: nothing to send, and the same answer.
    let existing = config.users()?.get_by(EMAIL, email.as_str()).await?;
    if let Some(user) = existing {
        if store.membership(&org.id, user.id).await?.is_some() {
            return Ok(Ok(()));
        }
    }
    let pending = store.pending(&org.id).await?;
    if let Some(open) = pending.iter().find(|open| open.email == email) {
        send_link(config, settings, &org, open, lang).await?;
        return Ok(Ok(()));
    }
    let ttl = chrono::Duration::from_std(settings.invitation_ttl).unwrap_or(chrono::Duration::MAX);
    let created_at = now();
    let invitation = Invitation {
        id: pow_core::token::generate_uuid(),
        organization_id: org.id.clone(),
        email,
        role: role.to_owned(),
        invited_by: Some(actor.id),
        created_at,
        expires_at: created_at + ttl,
        accepted_at: None,
        revoked_at: None,
    };
    if !store
        .invite(invitation.clone(), settings.max_pending_invitations)
        .await?
    {
        return Ok(Err(Refused::Full));
    }
    audit::record(
        config,
        event(events::INVITED, Some(actor.id), &org.id)
            .detail("invitation", invitation.id.clone())
            .detail("role", invitation.role.clone()),
    );
    send_link(config, settings, &org, &invitation, lang).await?;
    Ok(Ok(()))
}

/// The pending invitations of `slug` (`members:invite`), newest first.
///
/// # Errors
/// The database's error.
pub async fn invitations(
    config: &PowConfig,
    actor: &User,
    slug: &str,
) -> Result<Result<Vec<Invitation>, Refused>, PowError> {
    match allowed(config, actor, slug, permission::INVITE).await? {
        Ok(membership) => Ok(Ok(Store::new(config)?
            .pending(&membership.organization.id)
            .await?)),
        Err(refused) => Ok(Err(refused)),
    }
}

/// Revokes the pending invitation `id` of `slug` (`members:invite`): its links stop
/// working. Audited.
///
/// # Errors
/// The database's error.
pub async fn revoke_invitation(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    id: &str,
) -> Result<Result<(), Refused>, PowError> {
    let membership = match allowed(config, actor, slug, permission::INVITE).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let org = membership.organization;
    if !Store::new(config)?.revoke(&org.id, id).await? {
        return Ok(Err(Refused::NotFound));
    }
    audit::record(
        config,
        event(events::INVITATION_REVOKED, Some(actor.id), &org.id).detail("invitation", id),
    );
    Ok(Ok(()))
}

/// Mails the pending invitation `id` of `slug` again (`members:invite`): a new link, and the
/// first one keeps working.
///
/// # Errors
/// The store's, database's or mailer's error.
pub async fn resend_invitation(
    config: &PowConfig,
    actor: &User,
    slug: &str,
    id: &str,
    lang: &LanguageIdentifier,
) -> Result<Result<(), Refused>, PowError> {
    let membership = match allowed(config, actor, slug, permission::INVITE).await? {
        Ok(membership) => membership,
        Err(refused) => return Ok(Err(refused)),
    };
    let org = membership.organization;
    let found = Store::new(config)?.invitation(&org.id, id).await?;
    match found.filter(|invitation| invitation.is_pending(now())) {
        Some(invitation) => {
            send_link(config, settings(config)?, &org, &invitation, lang).await?;
            Ok(Ok(()))
        }
        None => Ok(Err(Refused::NotFound)),
    }
}

/// What an invitation link invites to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Invited {
    /// The invitation.
    pub invitation: Invitation,
    /// The organization.
    pub organization: Organization,
}

/// The pending invitation of the link `token`: its signature is checked before anything
/// is looked up, and a used, revoked or expired one is `None` like a made-up one.
///
/// # Errors
/// The store's or the database's error.
pub async fn invited(config: &PowConfig, token: &str) -> Result<Option<Invited>, PowError> {
    let settings = settings(config)?;
    let Some(secret) = config.verifier().verify_token(LINK_SALT, token) else {
        return Ok(None);
    };
    let Some(id) = links(config, settings).get::<String>(&secret).await? else {
        return Ok(None);
    };
    let store = Store::new(config)?;
    let Some(invitation) = store.invitation_by_id(&id).await? else {
        return Ok(None);
    };
    if !invitation.is_pending(now()) {
        return Ok(None);
    }
    let Some(organization) = store.by_id(&invitation.organization_id).await? else {
        return Ok(None);
    };
    // A rule that came in since (single sign-on enforced, say) holds for the link too.
    if crate::InvitationRules::refusal(config, &organization, &invitation.email)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    Ok(Some(Invited {
        invitation,
        organization,
    }))
}

/// What accepting an invitation came to.
#[derive(Clone, Debug)]
pub enum Accepted {
    /// The user is a member now (or was one already).
    Joined(Membership),
    /// No pending invitation has this link (made up, used, revoked or expired).
    Gone,
    /// The signed-in user's address is not the invited one, or is not proven.
    WrongUser,
    /// The organization is full.
    Full,
    /// Signing up through the link: an account has the invited address already (sign in
    /// and open the link again).
    SignInFirst,
    /// Signing up through the link: the params were refused.
    Invalid(Changeset),
}

/// Whether `user`'s proven address is `email`.
fn proves(config: &PowConfig, user: &User, email: &str) -> bool {
    let proven = config
        .extensions()
        .address_proof()
        .is_some_and(|proof| proof.is_proven(user));
    proven
        && user
            .email()
            .is_some_and(|own| own.eq_ignore_ascii_case(email))
}

/// Joins through `invited` and uses the link up.
async fn join(
    config: &PowConfig,
    settings: &Organizations,
    user: &User,
    invited: Invited,
    secret: &str,
) -> Result<Accepted, PowError> {
    let store = Store::new(config)?;
    let org = invited.organization;
    let joined = store
        .join(
            &org.id,
            &invited.invitation.id,
            user.id,
            settings.max_members,
        )
        .await?;
    match joined {
        Joined::Member(role) => {
            links(config, settings).delete(secret).await?;
            audit::record(
                config,
                event(events::JOINED, Some(user.id), &org.id)
                    .detail("invitation", invited.invitation.id.clone())
                    .detail("role", role),
            );
        }
        Joined::Already => links(config, settings).delete(secret).await?,
        Joined::Gone => return Ok(Accepted::Gone),
        Joined::Full => return Ok(Accepted::Full),
    }
    match store.membership(&org.id, user.id).await? {
        Some(membership) => Ok(Accepted::Joined(membership)),
        None => Ok(Accepted::Gone),
    }
}

/// Accepts the invitation of the link `token` as the signed-in `user`, whose proven
/// address must be the invited one (anyone else is refused, and the link stays valid for
/// its owner).
///
/// # Errors
/// The store's or the database's error.
pub async fn accept(config: &PowConfig, user: &User, token: &str) -> Result<Accepted, PowError> {
    let settings = settings(config)?;
    let Some(invited) = invited(config, token).await? else {
        return Ok(Accepted::Gone);
    };
    // The row as stored: a proof or an address change since the session began counts.
    let Some(user) = config.users()?.get(user.id).await? else {
        return Ok(Accepted::WrongUser);
    };
    if !proves(config, &user, &invited.invitation.email) {
        return Ok(Accepted::WrongUser);
    }
    let secret = link_secret(config, token);
    join(config, settings, &user, invited, &secret).await
}

fn link_secret(config: &PowConfig, token: &str) -> String {
    config
        .verifier()
        .verify_token(LINK_SALT, token)
        .unwrap_or_default()
}

/// Signs up through the link `token`: an account with the invited address and `params`'
/// password (and confirmation) is made, its address proven (the link came to it), the
/// invitation accepted, and the client signed in through `session` once it is a member. An
/// address with an account already answers [`Accepted::SignInFirst`].
///
/// # Errors
/// The store's or the database's error, or `session`'s refusal to start.
pub async fn accept_signing_up<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    token: &str,
    mut params: Params,
    session: &mut H,
) -> Result<Accepted, H::Error> {
    let settings = settings(config)?;
    let Some(invited) = invited(config, token).await? else {
        return Ok(Accepted::Gone);
    };
    let users = config.users()?;
    if users
        .get_by(EMAIL, invited.invitation.email.as_str())
        .await?
        .is_some()
    {
        return Ok(Accepted::SignInFirst);
    }
    params.insert(EMAIL.to_owned(), invited.invitation.email.clone());
    let user = match users.create(params).await? {
        Ok(user) => user,
        Err(changeset) if pow_core::flows::only_taken(config, &changeset) => {
            return Ok(Accepted::SignInFirst)
        }
        Err(changeset) => return Ok(Accepted::Invalid(changeset)),
    };
    let user = match config.extensions().address_proof() {
        Some(proof) => {
            let proof = std::sync::Arc::clone(proof);
            users
                .run(move |users, cfg| proof.mark_proven(users, cfg, &user))
                .await?
        }
        None => user,
    };
    let secret = link_secret(config, token);
    let accepted = join(config, settings, &user, invited, &secret).await?;
    // Signed in only once a member: a link used up by a racing accept, or a full
    // organization, leaves an account to sign in to the usual way.
    if matches!(accepted, Accepted::Joined(_)) {
        pow_core::flows::start_signed_up(config, &user, session).await?;
    }
    Ok(accepted)
}

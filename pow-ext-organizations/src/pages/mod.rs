//! The organizations pages, on the engine (every framework mounts them). Each action is
//! one call of a flow, answered with a redirect and a flash, or the page again with the
//! form's errors:
//!
//! - `GET /organizations` (signed in): the user's organizations, each with a switch button
//!   (the active one marked), and a form creating one; `POST /organizations` creates,
//!   `POST /organizations/switch` switches;
//! - `GET /organizations/{slug}` (a member): its members and pending invitations, with the
//!   forms the member's role allows (rename, invite, change a role, remove, revoke, re-send,
//!   close) and leave; each posts to `/organizations/{slug}/<action>`; closing needs sudo
//!   mode;
//! - `GET /organization-invitations/{token}`: what the link invites to, with an accept
//!   button for a signed-in user, or a sign-up form (the address is the invited one) and a
//!   sign-in link for a signed-out visitor; `POST` to the same path accepts.

mod domain_pages;
mod membership;
mod organizations;
mod team_pages;

use std::sync::Arc;

use pow_core::config::extension_path;
use pow_core::pages::routes::{PageRoute, Verb};
use pow_core::pages::{extra_fields, form, new_password_fields, Answer, Page};
use pow_core::pipeline::{ActionId, ActionKind, Client, FlashKind, Step};
use pow_core::session::CookieSession;
use pow_core::users::{Params, User};
use pow_core::views::{Field, FieldType, Form, Link, PageBody, PageId};
use pow_core::PowError;

use self::domain_pages::*;
use self::membership::*;
use self::organizations::*;
use self::team_pages::*;

use crate::domains::{self, Domain, JoinPolicy, JoinRequest, Joining};
use crate::flows::{self, Accepted, Invalid, Invited, INVITATION_PATH};
use crate::{
    active, permission, Invitation, Member, Membership, Organization, Organizations, Refused, NAME,
};

/// The list of the user's organizations.
pub const PAGE: PageId = PageId::new("organizations");
/// One organization.
pub const ORGANIZATION_PAGE: PageId = PageId::new("organizations/show");
/// An invitation link's page.
pub const INVITATION_PAGE: PageId = PageId::new("organizations/invitation");
/// A team's page.
pub const TEAM_PAGE: PageId = PageId::new("organizations/team");

const fn action(name: &'static str, kind: ActionKind) -> ActionId {
    ActionId::new("organizations", name, kind)
}

/// The pages' actions.
pub mod actions {
    use super::{action, ActionId, ActionKind};

    /// `GET /organizations`.
    pub const INDEX: ActionId = action("index", ActionKind::Show);
    /// `POST /organizations`.
    pub const CREATE: ActionId = action("create", ActionKind::Other);
    /// `POST /organizations/switch`.
    pub const SWITCH: ActionId = action("switch", ActionKind::Other);
    /// `GET /organizations/{slug}`.
    pub const SHOW: ActionId = action("show", ActionKind::Show);
    /// `POST /organizations/{slug}/rename`.
    pub const RENAME: ActionId = action("rename", ActionKind::Other);
    /// `POST /organizations/{slug}/invite`.
    pub const INVITE: ActionId = action("invite", ActionKind::Other);
    /// `POST /organizations/{slug}/role`.
    pub const ROLE: ActionId = action("role", ActionKind::Other);
    /// `POST /organizations/{slug}/remove`.
    pub const REMOVE: ActionId = action("remove", ActionKind::Other);
    /// `POST /organizations/{slug}/leave`.
    pub const LEAVE: ActionId = action("leave", ActionKind::Other);
    /// `POST /organizations/{slug}/close`.
    pub const CLOSE: ActionId = action("close", ActionKind::Other);
    /// `POST /organizations/{slug}/revoke`.
    pub const REVOKE: ActionId = action("revoke_invitation", ActionKind::Other);
    /// `POST /organizations/{slug}/resend`.
    pub const RESEND: ActionId = action("resend_invitation", ActionKind::Other);
    /// `GET /organization-invitations/{token}`.
    pub const INVITED: ActionId = action("invited", ActionKind::Show);
    /// `POST /organization-invitations/{token}`.
    pub const ACCEPT: ActionId = action("accept", ActionKind::Other);
    /// `POST /organizations/{slug}/teams`.
    pub const CREATE_TEAM: ActionId = action("create_team", ActionKind::Other);
    /// `GET /organizations/{slug}/teams/{team}`.
    pub const TEAM: ActionId = action("team", ActionKind::Show);
    /// `POST /organizations/{slug}/teams/{team}/members`.
    pub const SET_TEAM_ROLE: ActionId = action("set_team_role", ActionKind::Other);
    /// `POST /organizations/{slug}/teams/{team}/remove`.
    pub const REMOVE_TEAM_MEMBER: ActionId = action("remove_team_member", ActionKind::Other);
    /// `POST /organizations/{slug}/teams/{team}/delete`.
    pub const DELETE_TEAM: ActionId = action("delete_team", ActionKind::Other);
    /// `POST /organizations/{slug}/domains`.
    pub const ADD_DOMAIN: ActionId = action("add_domain", ActionKind::Other);
    /// `POST /organizations/{slug}/domains/verify`.
    pub const VERIFY_DOMAIN: ActionId = action("verify_domain", ActionKind::Other);
    /// `POST /organizations/{slug}/domains/policy`.
    pub const DOMAIN_POLICY: ActionId = action("domain_policy", ActionKind::Other);
    /// `POST /organizations/{slug}/domains/remove`.
    pub const REMOVE_DOMAIN: ActionId = action("remove_domain", ActionKind::Other);
    /// `POST /organizations/{slug}/join`.
    pub const JOIN: ActionId = action("join", ActionKind::Other);
    /// `POST /organizations/{slug}/requests/approve`.
    pub const APPROVE: ActionId = action("approve_join", ActionKind::Other);
    /// `POST /organizations/{slug}/requests/deny`.
    pub const DENY: ActionId = action("deny_join", ActionKind::Other);
}

const TEAM: &str = "/organizations/{slug}/teams/{team}";

const ONE: &str = "/organizations/{slug}";

/// The routes.
pub(crate) fn page_routes(ext: &Organizations) -> Vec<PageRoute> {
    let ext = Arc::new(ext.clone());
    let mut routes = vec![
        PageRoute::new(
            Verb::Get,
            "/organizations",
            actions::INDEX,
            pow_core::page_act!(ext, index),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            "/organizations",
            actions::CREATE,
            pow_core::page_act!(ext, create),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            "/organizations/switch",
            actions::SWITCH,
            pow_core::page_act!(ext, switch),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Get,
            ONE,
            actions::SHOW,
            pow_core::page_act!(ext, show),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/rename",
            actions::RENAME,
            pow_core::page_act!(ext, rename),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/invite",
            actions::INVITE,
            pow_core::page_act!(ext, invite),
        )
        .owner_only(),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/role",
            actions::ROLE,
            pow_core::page_act!(ext, role),
        )
        .owner_only(),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/remove",
            actions::REMOVE,
            pow_core::page_act!(ext, remove),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/leave",
            actions::LEAVE,
            pow_core::page_act!(ext, leave),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/close",
            actions::CLOSE,
            pow_core::page_act!(ext, close),
        )
        .sudo(),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/revoke",
            actions::REVOKE,
            pow_core::page_act!(ext, revoke),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/resend",
            actions::RESEND,
            pow_core::page_act!(ext, resend),
        )
        .owner_only(),
        PageRoute::new(
            Verb::Get,
            INVITATION_PATH,
            actions::INVITED,
            pow_core::page_act!(ext, invited),
        ),
        PageRoute::new(
            Verb::Post,
            INVITATION_PATH,
            actions::ACCEPT,
            pow_core::page_act!(ext, accept),
        )
        .no_support_access(),
    ];
    if ext.resolver().is_some() {
        routes.extend([
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/domains",
                actions::ADD_DOMAIN,
                pow_core::page_act!(ext, add_domain),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/domains/verify",
                actions::VERIFY_DOMAIN,
                pow_core::page_act!(ext, verify_domain),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/domains/policy",
                actions::DOMAIN_POLICY,
                pow_core::page_act!(ext, domain_policy),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/domains/remove",
                actions::REMOVE_DOMAIN,
                pow_core::page_act!(ext, remove_domain),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/join",
                actions::JOIN,
                pow_core::page_act!(ext, join),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/requests/approve",
                actions::APPROVE,
                pow_core::page_act!(ext, approve),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/requests/deny",
                actions::DENY,
                pow_core::page_act!(ext, deny),
            )
            .signed_in(),
        ]);
    }
    if ext.has_teams() {
        routes.extend([
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/teams",
                actions::CREATE_TEAM,
                pow_core::page_act!(ext, create_team),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Get,
                TEAM,
                actions::TEAM,
                pow_core::page_act!(ext, team),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/teams/{team}/members",
                actions::SET_TEAM_ROLE,
                pow_core::page_act!(ext, set_team_role),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/teams/{team}/remove",
                actions::REMOVE_TEAM_MEMBER,
                pow_core::page_act!(ext, remove_team_member),
            )
            .signed_in(),
            PageRoute::new(
                Verb::Post,
                "/organizations/{slug}/teams/{team}/delete",
                actions::DELETE_TEAM,
                pow_core::page_act!(ext, delete_team),
            )
            .signed_in(),
        ]);
    }
    routes
        .into_iter()
        .map(|route| route.of_extension(NAME))
        .collect()
}

/// The "Organizations" link on the account page.
pub(crate) fn account_link(
    page: PageId,
    body: &mut PageBody,
    lang: &pow_core::messages::LanguageIdentifier,
    config: &pow_core::PowConfig,
) {
    if page != "registration/edit" {
        return;
    }
    if let PageBody::Form { links, .. } = body {
        links.push(Link::new(
            extension_path(config, NAME, "/organizations", &[]),
            config.messages().text(lang, "pow_organizations_title"),
        ));
    }
}

fn list_path(step: &Step) -> String {
    extension_path(&step.config, NAME, "/organizations", &[])
}

fn org_path(step: &Step, slug: &str, action: &str) -> String {
    extension_path(&step.config, NAME, ONE, &[("slug", slug)]) + action
}

fn input(step: &Step, name: &str, label: &str, kind: FieldType) -> Field {
    Field::new(name, step.text(label), kind)
        .value(step.params.get(name).cloned().unwrap_or_default())
}

fn hidden(name: &str, value: impl Into<String>) -> Field {
    Field::new(name, "", FieldType::Hidden).value(value)
}

/// A one-button form acting on what `about` says.
fn button(
    cookie: &CookieSession,
    action: String,
    mut fields: Vec<Field>,
    about: &str,
    label: String,
) -> Form {
    fields.push(Field::note("about", about).value(format!("{label}: {about}")));
    form(cookie, action, None, fields, label)
}

/// The flash of a refusal.
fn refusal_text(step: &Step, refused: Refused) -> String {
    step.text(match refused {
        Refused::NotFound => "pow_organizations_not_found",
        Refused::Forbidden => "pow_organizations_forbidden",
        Refused::LastOwner => "pow_organizations_last_owner",
        Refused::UnknownRole => "pow_organizations_unknown_role",
        Refused::Full => "pow_organizations_full",
        Refused::InvalidEmail => "pow_organizations_invalid_email",
        Refused::ByRule(key) => key,
    })
}

/// Redirects to the organization's page, with the outcome's flash.
fn back(step: &Step, client: &mut dyn Client, outcome: Result<(), Refused>, done: &str) -> Answer {
    let slug = step.path_param("slug");
    match outcome {
        Ok(()) => {
            client.flash(FlashKind::Info, Some(step.text(done)));
            Answer::Redirect(org_path(step, &slug, ""))
        }
        Err(Refused::NotFound) => {
            client.flash(
                FlashKind::Error,
                Some(refusal_text(step, Refused::NotFound)),
            );
            Answer::Redirect(list_path(step))
        }
        Err(refused) => {
            client.flash(FlashKind::Error, Some(refusal_text(step, refused)));
            Answer::Redirect(org_path(step, &slug, ""))
        }
    }
}

fn fingerprint(client: &mut dyn Client) -> String {
    client
        .current_session()
        .map(|current| current.metadata.fingerprint.clone())
        .unwrap_or_default()
}

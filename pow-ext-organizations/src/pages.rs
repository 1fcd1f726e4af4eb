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

use std::sync::Arc;

use pow_core::config::extension_path;
use pow_core::pages::routes::{PageRoute, Verb};
use pow_core::pages::{extra_fields, form, new_password_fields, Answer, Page};
use pow_core::pipeline::{ActionId, ActionKind, Client, FlashKind, Step};
use pow_core::session::CookieSession;
use pow_core::users::{Params, User};
use pow_core::views::{Field, FieldType, Form, Link, PageBody, PageId};
use pow_core::PowError;

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

/// The list page; `errors` are a refused create form's.
fn list_page(
    step: &Step,
    cookie: &CookieSession,
    memberships: &[Membership],
    active: Option<&str>,
    joinable: &[(Organization, JoinPolicy)],
    errors: &[(&'static str, String)],
) -> Page {
    let errors_of = |name: &str| {
        errors
            .iter()
            .filter(|(field, _)| *field == name)
            .map(|(_, text)| text.clone())
            .collect::<Vec<_>>()
    };
    let create = form(
        cookie,
        list_path(step),
        None,
        vec![
            input(step, "name", "pow_organizations_name", FieldType::Text)
                .errors(errors_of("name")),
            input(step, "slug", "pow_organizations_slug", FieldType::Text)
                .errors(errors_of("slug")),
        ],
        step.text("pow_organizations_create"),
    );
    let switch = step.text("pow_organizations_switch");
    let mut extra_forms: Vec<Form> = memberships
        .iter()
        .map(|m| {
            let mut about = format!(
                "{} ({}): {}",
                m.organization.name, m.organization.slug, m.role
            );
            if active == Some(m.organization.id.as_str()) {
                about = format!("{about} — {}", step.text("pow_organizations_active"));
            }
            let path = extension_path(&step.config, NAME, "/organizations/switch", &[]);
            button(
                cookie,
                path,
                vec![hidden("slug", m.organization.slug.clone())],
                &about,
                switch.clone(),
            )
        })
        .collect();
    for (org, policy) in joinable {
        let label = match policy {
            JoinPolicy::Automatic => step.text("pow_organizations_join"),
            _ => step.text("pow_organizations_ask_to_join"),
        };
        let about = format!("{}: {}", step.text("pow_organizations_joinable"), org.name);
        extra_forms.push(button(
            cookie,
            org_path(step, &org.slug, "/join"),
            Vec::new(),
            &about,
            label,
        ));
    }
    let links = memberships
        .iter()
        .map(|m| {
            Link::new(
                org_path(step, &m.organization.slug, ""),
                m.organization.name.clone(),
            )
        })
        .collect();
    let mut page = Page::new(
        PAGE,
        "pow_organizations_title",
        PageBody::Form {
            form: create,
            links,
            extra_forms,
        },
    );
    if memberships.is_empty() {
        page.info = Some(step.text("pow_organizations_none"));
    }
    page
}

/// `GET /organizations`.
async fn index(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let memberships = flows::memberships(&step.config, &user).await?;
    let active = active::current(&step.config, &user, &fingerprint(client)).await?;
    let active = active.map(|m| m.organization.id);
    let joinable = domains::joinable(&step.config, &user).await?;
    Ok(Answer::render(move |step, cookie| {
        Ok(list_page(
            step,
            cookie,
            &memberships,
            active.as_deref(),
            &joinable,
            &[],
        ))
    }))
}

/// `POST /organizations`: creates one, then shows it.
async fn create(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let name = step.params.get("name").cloned().unwrap_or_default();
    let slug = step.params.get("slug").cloned().unwrap_or_default();
    match flows::create(&step.config, &user, &name, &slug).await? {
        Ok(org) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_created")),
            );
            Ok(Answer::Redirect(org_path(step, &org.slug, "")))
        }
        Err(refused) => {
            let memberships = flows::memberships(&step.config, &user).await?;
            let (field, key) = match refused {
                Invalid::Name => ("name", "pow_organizations_invalid_name"),
                Invalid::Slug => ("slug", "pow_organizations_invalid_slug"),
                Invalid::SlugTaken => ("slug", "pow_organizations_slug_taken"),
            };
            Ok(Answer::render(move |step, cookie| {
                let errors = [(field, step.text(key))];
                Ok(list_page(step, cookie, &memberships, None, &[], &errors).with_status(422))
            }))
        }
    }
}

/// `POST /organizations/switch`.
async fn switch(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.params.get("slug").cloned().unwrap_or_default();
    let fingerprint = fingerprint(client);
    match active::switch(&step.config, &user, &fingerprint, &slug).await? {
        Some(_) => client.flash(
            FlashKind::Info,
            Some(step.text("pow_organizations_switched")),
        ),
        None => client.flash(
            FlashKind::Error,
            Some(refusal_text(step, Refused::NotFound)),
        ),
    }
    Ok(Answer::Redirect(list_path(step)))
}

/// What the organization's page shows.
struct Shown {
    membership: Membership,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    teams: Option<Vec<crate::teams::Team>>,
    domains: Option<Vec<Domain>>,
    requests: Option<Vec<JoinRequest>>,
    settings: Organizations,
    user_id: i64,
}

fn org_page(step: &Step, cookie: &CookieSession, shown: &Shown) -> Page {
    let org = &shown.membership.organization;
    let role = &shown.membership.role;
    let may = |permission: &str| shown.settings.allows(role, permission);
    let path = |action: &str| org_path(step, &org.slug, action);
    let mut extra_forms = Vec::new();
    let remove = step.text("pow_organizations_remove");
    let change = step.text("pow_organizations_change_role");
    for member in &shown.members {
        let who = member
            .email
            .clone()
            .unwrap_or_else(|| member.user_id.to_string());
        let about = format!("{who}: {}", member.role);
        if may(permission::MANAGE_MEMBERS) && member.user_id != shown.user_id {
            let id = hidden("user_id", member.user_id.to_string());
            let role_field = Field::new(
                "role",
                format!("{about} — {}", step.text("pow_organizations_role")),
                FieldType::Text,
            )
            .value(member.role.clone());
            extra_forms.push(form(
                cookie,
                path("/role"),
                None,
                vec![id.clone(), role_field],
                change.clone(),
            ));
            extra_forms.push(button(
                cookie,
                path("/remove"),
                vec![id],
                &about,
                remove.clone(),
            ));
        } else {
            extra_forms.push(form(
                cookie,
                String::new(),
                None,
                vec![Field::note("about", about)],
                String::new(),
            ));
        }
    }
    if may(permission::INVITE) {
        let roles = shown
            .settings
            .roles()
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        extra_forms.push(form(
            cookie,
            path("/invite"),
            None,
            vec![
                input(step, "email", "pow_organizations_email", FieldType::Email),
                Field::new(
                    "role",
                    format!("{} ({roles})", step.text("pow_organizations_role")),
                    FieldType::Text,
                )
                .value(crate::MEMBER),
            ],
            step.text("pow_organizations_invite"),
        ));
        let revoke = step.text("pow_organizations_revoke");
        let resend = step.text("pow_organizations_resend");
        for invitation in &shown.invitations {
            let about = format!(
                "{} ({}) — {}",
                invitation.email,
                invitation.role,
                step.text("pow_organizations_invited")
            );
            let id = hidden("id", invitation.id.clone());
            extra_forms.push(button(
                cookie,
                path("/resend"),
                vec![id.clone()],
                &about,
                resend.clone(),
            ));
            extra_forms.push(button(
                cookie,
                path("/revoke"),
                vec![id],
                &about,
                revoke.clone(),
            ));
        }
    }
    if may(permission::UPDATE) {
        extra_forms.push(form(
            cookie,
            path("/rename"),
            None,
            vec![
                Field::new("name", step.text("pow_organizations_name"), FieldType::Text)
                    .value(org.name.clone()),
            ],
            step.text("pow_organizations_rename"),
        ));
    }
    extra_forms.push(button(
        cookie,
        path("/leave"),
        Vec::new(),
        &org.name,
        step.text("pow_organizations_leave"),
    ));
    if may(permission::CLOSE) {
        extra_forms.push(button(
            cookie,
            path("/close"),
            Vec::new(),
            &org.name,
            step.text("pow_organizations_close"),
        ));
    }
    let mut links = vec![Link::new(
        list_path(step),
        step.text("pow_organizations_title"),
    )];
    // The organization's API keys, served by pow-ext-api-keys when it is enabled.
    if may(permission::MANAGE_API_KEYS) && step.config.extensions().contains("pow_api_keys") {
        links.push(Link::new(
            path("/api-keys"),
            step.text("pow_organizations_api_keys"),
        ));
    }
    if let Some(teams) = &shown.teams {
        for team in teams {
            let label = format!("{}: {}", step.text("pow_organizations_team"), team.name);
            links.push(Link::new(team_path(step, &org.slug, &team.id, ""), label));
        }
        if may(permission::MANAGE_TEAMS) {
            extra_forms.push(form(
                cookie,
                path("/teams"),
                None,
                vec![input(
                    step,
                    "name",
                    "pow_organizations_team_name",
                    FieldType::Text,
                )],
                step.text("pow_organizations_create_team"),
            ));
        }
    }
    if let Some(domains) = &shown.domains {
        domain_forms(step, cookie, &org.slug, domains, &mut extra_forms);
    }
    if let Some(requests) = &shown.requests {
        let (approve, deny) = (
            step.text("pow_organizations_approve"),
            step.text("pow_organizations_deny"),
        );
        for request in requests {
            let who = request
                .email
                .clone()
                .unwrap_or_else(|| request.user_id.to_string());
            let about = format!("{}: {who}", step.text("pow_organizations_join_requests"));
            let id = hidden("user_id", request.user_id.to_string());
            extra_forms.push(button(
                cookie,
                path("/requests/approve"),
                vec![id.clone()],
                &about,
                approve.clone(),
            ));
            extra_forms.push(button(
                cookie,
                path("/requests/deny"),
                vec![id],
                &about,
                deny.clone(),
            ));
        }
    }
    let mut page = Page::new(
        ORGANIZATION_PAGE,
        "pow_organizations_title",
        PageBody::Form {
            form: form(cookie, String::new(), None, Vec::new(), String::new()),
            links,
            extra_forms,
        },
    );
    page.info = Some(format!("{} ({}): {}", org.name, org.slug, role));
    page
}

/// `GET /organizations/{slug}`: a member's view.
async fn show(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let Some(membership) = flows::membership(&step.config, &user, &slug).await? else {
        client.flash(
            FlashKind::Error,
            Some(refusal_text(step, Refused::NotFound)),
        );
        return Ok(Answer::Stop(list_path(step)));
    };
    let members = flows::members(&step.config, &user, &slug)
        .await?
        .unwrap_or_default();
    let invitations = flows::invitations(&step.config, &user, &slug)
        .await?
        .unwrap_or_default();
    let teams = crate::teams::list(&step.config, &user, &slug).await?.ok();
    let domains = domains::list(&step.config, &user, &slug).await?.ok();
    let requests = domains::requests(&step.config, &user, &slug).await?.ok();
    let shown = Shown {
        membership,
        members,
        invitations,
        teams,
        domains,
        requests,
        settings: ext.clone(),
        user_id: user.id,
    };
    Ok(Answer::render(move |step, cookie| {
        Ok(org_page(step, cookie, &shown))
    }))
}

fn form_value(step: &Step, name: &str) -> String {
    step.params.get(name).cloned().unwrap_or_default()
}

/// `POST /organizations/{slug}/rename`.
async fn rename(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = flows::rename(
        &step.config,
        &user,
        &step.path_param("slug"),
        &form_value(step, "name"),
    )
    .await?;
    Ok(match outcome {
        Ok(_) => back(step, client, Ok(()), "pow_organizations_renamed"),
        Err(Ok(refused)) => back(step, client, Err(refused), ""),
        Err(Err(_)) => {
            client.flash(
                FlashKind::Error,
                Some(step.text("pow_organizations_invalid_name")),
            );
            Answer::Redirect(org_path(step, &step.path_param("slug"), ""))
        }
    })
}

/// `POST /organizations/{slug}/invite`: the same answer for every address.
async fn invite(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let email = form_value(step, "email");
    let lang = step.lang.clone();
    let outcome = flows::invite(
        &step.config,
        &user,
        &step.path_param("slug"),
        &email,
        &form_value(step, "role"),
        &lang,
    )
    .await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_invitation_sent",
    ))
}

fn target(step: &Step) -> i64 {
    form_value(step, "user_id").parse().unwrap_or(0)
}

/// `POST /organizations/{slug}/role`.
async fn role(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = flows::change_role(
        &step.config,
        &user,
        &step.path_param("slug"),
        target(step),
        &form_value(step, "role"),
    )
    .await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_role_changed",
    ))
}

/// `POST /organizations/{slug}/remove`.
async fn remove(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome =
        flows::remove(&step.config, &user, &step.path_param("slug"), target(step)).await?;
    Ok(back(step, client, outcome, "pow_organizations_removed"))
}

/// `POST /organizations/{slug}/leave`: back to the list.
async fn leave(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    match flows::leave(&step.config, &user, &step.path_param("slug")).await? {
        Ok(()) => {
            client.flash(FlashKind::Info, Some(step.text("pow_organizations_left")));
            Ok(Answer::Redirect(list_path(step)))
        }
        Err(refused) => Ok(back(step, client, Err(refused), "")),
    }
}

/// `POST /organizations/{slug}/close` (sudo mode): back to the list.
async fn close(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    match flows::close(&step.config, &user, &step.path_param("slug")).await? {
        Ok(()) => {
            client.flash(FlashKind::Info, Some(step.text("pow_organizations_closed")));
            Ok(Answer::Redirect(list_path(step)))
        }
        Err(refused) => Ok(back(step, client, Err(refused), "")),
    }
}

/// `POST /organizations/{slug}/revoke`.
async fn revoke(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = flows::revoke_invitation(
        &step.config,
        &user,
        &step.path_param("slug"),
        &form_value(step, "id"),
    )
    .await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_invitation_revoked",
    ))
}

/// `POST /organizations/{slug}/resend`.
async fn resend(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let lang = step.lang.clone();
    let outcome = flows::resend_invitation(
        &step.config,
        &user,
        &step.path_param("slug"),
        &form_value(step, "id"),
        &lang,
    )
    .await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_invitation_sent",
    ))
}

/// The invitation page: an accept button for `signed_in`, else the sign-up form.
fn invitation_page(
    step: &Step,
    cookie: &CookieSession,
    invited: &Invited,
    signed_in: bool,
    status: u16,
) -> Page {
    let token = step.path_param("token");
    let action = extension_path(&step.config, NAME, INVITATION_PATH, &[("token", &token)]);
    let about = step
        .config
        .messages()
        .message(
            &step.lang,
            "pow_organizations_invitation_about",
            &[
                ("organization", invited.organization.name.clone().into()),
                ("role", invited.invitation.role.clone().into()),
                ("email", invited.invitation.email.clone().into()),
            ],
        )
        .unwrap_or_default();
    let (form, links) = if signed_in {
        let accept = button(
            cookie,
            action,
            Vec::new(),
            &about,
            step.text("pow_organizations_accept"),
        );
        (accept, Vec::new())
    } else {
        let changeset = step.changeset.as_ref();
        let mut fields = vec![Field::note("about", about)];
        // The app's fields, as the registration form shows them (the address is the
        // invitation's).
        fields.extend(
            extra_fields(&step.config, &step.lang, &step.params, changeset, None)
                .into_iter()
                .filter(|field| field.name != "email"),
        );
        fields.extend(new_password_fields(
            &step.config,
            &step.lang,
            changeset,
            true,
        ));
        let sign_up = form(
            cookie,
            action,
            None,
            fields,
            step.text("pow_organizations_sign_up"),
        );
        let sign_in = step.config.routes().session_path(&step.routes_ctx(), "new");
        (
            sign_up,
            vec![Link::new(
                sign_in,
                step.text("pow_organizations_sign_in_first"),
            )],
        )
    };
    Page::new(
        INVITATION_PAGE,
        "pow_organizations_invitation_title",
        PageBody::Form {
            form,
            links,
            extra_forms: Vec::new(),
        },
    )
    .with_status(status)
}

/// The page of a made-up, used, revoked or expired link.
fn gone(step: &Step, client: &mut dyn Client) -> Answer {
    client.flash(
        FlashKind::Error,
        Some(step.text("pow_organizations_invitation_gone")),
    );
    Answer::Stop(list_path(step))
}

/// `GET /organization-invitations/{token}`.
async fn invited(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let Some(invited) = flows::invited(&step.config, &step.path_param("token")).await? else {
        return Ok(gone(step, client));
    };
    let signed_in = client.current_session().is_some();
    Ok(Answer::render(move |step, cookie| {
        Ok(invitation_page(step, cookie, &invited, signed_in, 200))
    }))
}

/// `POST /organization-invitations/{token}`: accepts as the signed-in user, or signs up.
async fn accept(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let token = step.path_param("token");
    let signed_in: Option<User> = match client.current_session() {
        Some(current) => pow_core::flows::stored_user(&step.config, current.user.id).await?,
        None => None,
    };
    let accepted = match &signed_in {
        Some(user) => flows::accept(&step.config, user, &token).await?,
        None => {
            // The app's user fields as on every sign-up path (the address is the
            // invitation's, whatever the form says).
            let mut params: Params = step.params.clone();
            for name in ["password", "password_confirmation"] {
                params.insert(name.to_owned(), form_value(step, name));
            }
            let config = step.config.clone();
            flows::accept_signing_up(&config, &token, params, client.session()).await?
        }
    };
    match accepted {
        Accepted::Joined(membership) => {
            client.flash(FlashKind::Info, Some(step.text("pow_organizations_joined")));
            Ok(Answer::Redirect(org_path(
                step,
                &membership.organization.slug,
                "",
            )))
        }
        Accepted::Gone => Ok(gone(step, client)),
        Accepted::Full => {
            client.flash(FlashKind::Error, Some(refusal_text(step, Refused::Full)));
            Ok(Answer::Stop(list_path(step)))
        }
        Accepted::WrongUser => {
            client.flash(
                FlashKind::Error,
                Some(step.text("pow_organizations_wrong_user")),
            );
            Ok(Answer::Stop(list_path(step)))
        }
        Accepted::SignInFirst => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_sign_in_first")),
            );
            let sign_in = step.config.routes().session_path(&step.routes_ctx(), "new");
            Ok(Answer::Stop(sign_in))
        }
        Accepted::Invalid(changeset) => {
            step.changeset = Some(changeset);
            let Some(invited) = flows::invited(&step.config, &token).await? else {
                return Ok(gone(step, client));
            };
            Ok(Answer::render(move |step, cookie| {
                Ok(invitation_page(step, cookie, &invited, false, 422))
            }))
        }
    }
}

fn team_path(step: &Step, slug: &str, team: &str, action: &str) -> String {
    extension_path(&step.config, NAME, TEAM, &[("slug", slug), ("team", team)]) + action
}

/// Redirects to the team's page, with the outcome's flash.
fn back_to_team(
    step: &Step,
    client: &mut dyn Client,
    outcome: Result<(), Refused>,
    done: &str,
) -> Answer {
    match outcome {
        Ok(()) => {
            client.flash(FlashKind::Info, Some(step.text(done)));
            let (slug, team) = (step.path_param("slug"), step.path_param("team"));
            Answer::Redirect(team_path(step, &slug, &team, ""))
        }
        Err(refused) => {
            client.flash(FlashKind::Error, Some(refusal_text(step, refused)));
            Answer::Redirect(org_path(step, &step.path_param("slug"), ""))
        }
    }
}

/// `POST /organizations/{slug}/teams`: creates a team, then shows it.
async fn create_team(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let name = form_value(step, "name");
    match crate::teams::create(&step.config, &user, &slug, &name).await? {
        Ok(team) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_team_created")),
            );
            Ok(Answer::Redirect(team_path(step, &slug, &team.id, "")))
        }
        Err(Ok(refused)) => Ok(back(step, client, Err(refused), "")),
        Err(Err(invalid)) => {
            let key = match invalid {
                crate::teams::Invalid::Name => "pow_organizations_invalid_team_name",
                crate::teams::Invalid::Taken => "pow_organizations_team_taken",
                crate::teams::Invalid::Full => "pow_organizations_full",
            };
            client.flash(FlashKind::Error, Some(step.text(key)));
            Ok(Answer::Redirect(org_path(step, &slug, "")))
        }
    }
}

/// `GET /organizations/{slug}/teams/{team}`: its members, with the forms the viewer may use.
async fn team(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let (slug, team_id) = (step.path_param("slug"), step.path_param("team"));
    let teams = crate::teams::list(&step.config, &user, &slug).await?;
    let Some(team) = teams
        .ok()
        .and_then(|teams| teams.into_iter().find(|t| t.id == team_id))
    else {
        client.flash(
            FlashKind::Error,
            Some(refusal_text(step, Refused::NotFound)),
        );
        return Ok(Answer::Stop(list_path(step)));
    };
    let members = crate::teams::members(&step.config, &user, &slug, &team_id)
        .await?
        .unwrap_or_default();
    let Some(membership) = flows::membership(&step.config, &user, &slug).await? else {
        return Ok(Answer::Stop(list_path(step)));
    };
    let may = Manages {
        members: crate::teams::manages(&step.config, &membership, user.id, &team_id).await?,
        team: ext.allows(&membership.role, permission::MANAGE_TEAMS),
        viewer: user.id,
    };
    let roles = ext
        .team_roles()
        .iter()
        .map(|r| r.name.clone())
        .collect::<Vec<_>>();
    Ok(Answer::render(move |step, cookie| {
        Ok(team_page(
            step, cookie, &slug, &team, &members, &roles, &may,
        ))
    }))
}

/// What the viewer of a team's page may do.
struct Manages {
    /// Manage its members (`teams:manage`, or its lead).
    members: bool,
    /// Delete it (`teams:manage`).
    team: bool,
    /// The viewer's id: they may leave.
    viewer: i64,
}

fn team_page(
    step: &Step,
    cookie: &CookieSession,
    slug: &str,
    team: &crate::teams::Team,
    members: &[Member],
    roles: &[String],
    may: &Manages,
) -> Page {
    let path = |action: &str| team_path(step, slug, &team.id, action);
    let remove = step.text("pow_organizations_remove");
    let leave = step.text("pow_organizations_leave");
    let mut extra_forms: Vec<Form> = members
        .iter()
        .map(|member| {
            let who = member
                .email
                .clone()
                .unwrap_or_else(|| member.user_id.to_string());
            let about = format!("{who}: {}", member.role);
            let id = hidden("user_id", member.user_id.to_string());
            if member.user_id == may.viewer {
                button(cookie, path("/remove"), vec![id], &about, leave.clone())
            } else if may.members {
                button(cookie, path("/remove"), vec![id], &about, remove.clone())
            } else {
                form(
                    cookie,
                    String::new(),
                    None,
                    vec![Field::note("about", about)],
                    String::new(),
                )
            }
        })
        .collect();
    if may.team {
        extra_forms.push(button(
            cookie,
            path("/delete"),
            Vec::new(),
            &team.name,
            step.text("pow_organizations_delete_team"),
        ));
    }
    let add = if !may.members {
        form(cookie, String::new(), None, Vec::new(), String::new())
    } else {
        form(
            cookie,
            path("/members"),
            None,
            vec![
                input(step, "email", "pow_organizations_email", FieldType::Email),
                Field::new(
                    "role",
                    format!(
                        "{} ({})",
                        step.text("pow_organizations_role"),
                        roles.join(" ")
                    ),
                    FieldType::Text,
                )
                .value(crate::TEAM_MEMBER),
            ],
            step.text("pow_organizations_set_team_role"),
        )
    };
    let mut page = Page::new(
        TEAM_PAGE,
        "pow_organizations_team",
        PageBody::Form {
            form: add,
            links: vec![Link::new(org_path(step, slug, ""), slug.to_owned())],
            extra_forms,
        },
    );
    page.info = Some(team.name.clone());
    page
}

/// `POST /organizations/{slug}/teams/{team}/members`: puts the organization's member of the
/// form's address in the team with the form's role (or changes their role).
async fn set_team_role(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let (slug, team) = (step.path_param("slug"), step.path_param("team"));
    let email = form_value(step, "email").trim().to_lowercase();
    let members = flows::members(&step.config, &user, &slug)
        .await?
        .unwrap_or_default();
    let target = members
        .iter()
        .find(|m| {
            m.email
                .as_deref()
                .is_some_and(|own| own.eq_ignore_ascii_case(&email))
        })
        .map_or(0, |m| m.user_id);
    let role = form_value(step, "role");
    let outcome = crate::teams::set_role(&step.config, &user, &slug, &team, target, &role).await?;
    Ok(back_to_team(
        step,
        client,
        outcome,
        "pow_organizations_role_changed",
    ))
}

/// `POST /organizations/{slug}/teams/{team}/remove`.
async fn remove_team_member(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let (slug, team) = (step.path_param("slug"), step.path_param("team"));
    let outcome = crate::teams::remove(&step.config, &user, &slug, &team, target(step)).await?;
    Ok(back_to_team(
        step,
        client,
        outcome,
        "pow_organizations_removed",
    ))
}

/// `POST /organizations/{slug}/teams/{team}/delete`: back to the organization.
async fn delete_team(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let (slug, team) = (step.path_param("slug"), step.path_param("team"));
    let outcome = crate::teams::delete(&step.config, &user, &slug, &team).await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_team_deleted",
    ))
}

/// The domain rows of the organization's page: each with its state (and the TXT record to
/// publish until verified), verify, policy and remove forms; then the form adding one.
fn domain_forms(
    step: &Step,
    cookie: &CookieSession,
    slug: &str,
    domains: &[Domain],
    forms: &mut Vec<Form>,
) {
    let path = |action: &str| org_path(step, slug, action);
    for domain in domains {
        let state = match domain.verified_at {
            Some(_) => step.text("pow_organizations_domain_verified"),
            None => step
                .config
                .messages()
                .message(
                    &step.lang,
                    "pow_organizations_unverified",
                    &[
                        ("name", domain.record_name().into()),
                        ("value", domain.record_value().into()),
                    ],
                )
                .unwrap_or_default(),
        };
        let about = format!("{}: {}", domain.domain, state);
        let id = hidden("id", domain.id.clone());
        if domain.verified_at.is_none() {
            forms.push(button(
                cookie,
                path("/domains/verify"),
                vec![id.clone()],
                &about,
                step.text("pow_organizations_verify"),
            ));
        }
        let policy = Field::new(
            "join_policy",
            format!(
                "{} — {}",
                domain.domain,
                step.text("pow_organizations_join_policy")
            ),
            FieldType::Text,
        )
        .value(
            serde_json::to_value(domain.join_policy)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        );
        forms.push(form(
            cookie,
            path("/domains/policy"),
            None,
            vec![id.clone(), policy],
            step.text("pow_organizations_set_policy"),
        ));
        forms.push(button(
            cookie,
            path("/domains/remove"),
            vec![id],
            &about,
            step.text("pow_organizations_remove"),
        ));
    }
    forms.push(form(
        cookie,
        path("/domains"),
        None,
        vec![input(
            step,
            "domain",
            "pow_organizations_domain",
            FieldType::Text,
        )],
        step.text("pow_organizations_add_domain"),
    ));
}

fn domain_refusal(step: &Step, client: &mut dyn Client, invalid: domains::Invalid) -> Answer {
    let key = match invalid {
        domains::Invalid::Domain => "pow_organizations_invalid_domain",
        domains::Invalid::Claimed => "pow_organizations_domain_claimed",
        domains::Invalid::NotProven => "pow_organizations_domain_not_proven",
        domains::Invalid::Taken => "pow_organizations_domain_taken",
    };
    client.flash(FlashKind::Error, Some(step.text(key)));
    Answer::Redirect(org_path(step, &step.path_param("slug"), ""))
}

/// `POST /organizations/{slug}/domains`.
async fn add_domain(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let domain = form_value(step, "domain");
    Ok(
        match domains::add(&step.config, &user, &step.path_param("slug"), &domain).await? {
            Ok(_) => back(step, client, Ok(()), "pow_organizations_domain_added"),
            Err(Ok(refused)) => back(step, client, Err(refused), ""),
            Err(Err(invalid)) => domain_refusal(step, client, invalid),
        },
    )
}

/// `POST /organizations/{slug}/domains/verify`.
async fn verify_domain(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let id = form_value(step, "id");
    Ok(
        match domains::verify(&step.config, &user, &step.path_param("slug"), &id).await? {
            Ok(_) => back(step, client, Ok(()), "pow_organizations_domain_verified"),
            Err(Ok(refused)) => back(step, client, Err(refused), ""),
            Err(Err(invalid)) => domain_refusal(step, client, invalid),
        },
    )
}

/// `POST /organizations/{slug}/domains/policy`.
async fn domain_policy(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let id = form_value(step, "id");
    let Some(policy) = JoinPolicy::parse(form_value(step, "join_policy").trim()) else {
        client.flash(
            FlashKind::Error,
            Some(step.text("pow_organizations_invalid_policy")),
        );
        return Ok(Answer::Redirect(org_path(
            step,
            &step.path_param("slug"),
            "",
        )));
    };
    let outcome =
        domains::set_policy(&step.config, &user, &step.path_param("slug"), &id, policy).await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_policy_changed",
    ))
}

/// `POST /organizations/{slug}/domains/remove`.
async fn remove_domain(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let id = form_value(step, "id");
    let outcome = domains::remove(&step.config, &user, &step.path_param("slug"), &id).await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_domain_removed",
    ))
}

/// The answer of joining, or of an approval.
fn joining(
    step: &Step,
    client: &mut dyn Client,
    outcome: Result<Joining, Refused>,
    to: String,
) -> Answer {
    match outcome {
        Ok(Joining::Joined(membership)) => {
            client.flash(FlashKind::Info, Some(step.text("pow_organizations_joined")));
            Answer::Redirect(if to.is_empty() {
                org_path(step, &membership.organization.slug, "")
            } else {
                to
            })
        }
        Ok(Joining::Requested) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_join_requested")),
            );
            Answer::Redirect(list_path(step))
        }
        Ok(Joining::Full) => {
            client.flash(FlashKind::Error, Some(refusal_text(step, Refused::Full)));
            Answer::Redirect(if to.is_empty() { list_path(step) } else { to })
        }
        Err(refused) => {
            client.flash(FlashKind::Error, Some(refusal_text(step, refused)));
            Answer::Redirect(list_path(step))
        }
    }
}

/// `POST /organizations/{slug}/join`: through the domain of the user's proven address.
async fn join(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = domains::join(&step.config, &user, &step.path_param("slug")).await?;
    Ok(joining(step, client, outcome, String::new()))
}

/// `POST /organizations/{slug}/requests/approve`.
async fn approve(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let outcome = domains::decide(&step.config, &user, &slug, target(step), true).await?;
    let to = org_path(step, &slug, "");
    Ok(match outcome {
        Ok(Some(Joining::Joined(_))) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_request_approved")),
            );
            Answer::Redirect(to)
        }
        Ok(Some(joined)) => joining(step, client, Ok(joined), to),
        Ok(None) => back(step, client, Ok(()), "pow_organizations_joined"),
        Err(refused) => back(step, client, Err(refused), ""),
    })
}

/// `POST /organizations/{slug}/requests/deny`.
async fn deny(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let outcome = domains::decide(&step.config, &user, &slug, target(step), false).await?;
    Ok(back(
        step,
        client,
        outcome.map(|_| ()),
        "pow_organizations_join_denied",
    ))
}

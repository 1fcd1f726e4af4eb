//! The JSON endpoints, on the engine: every framework layer serves them from the config's
//! route table, under the API prefix, on both transports. Each is one call of a flow, so
//! the pages and the API follow the same rules and answer alike.

use std::sync::Arc;

use pow_core::api::routes::{json_body, ApiClient, ApiRoute, Reply};
use pow_core::api::{ApiAction, ApiError};
use pow_core::pages::routes::Verb;
use pow_core::pipeline::{ActionId, ActionKind, Step};
use pow_core::users::User;
use serde::Deserialize;
use serde_json::json;

use crate::domains::{self, Domain, JoinPolicy, Joining};
use crate::flows::{self, Accepted, Invalid};
use crate::{active, teams, Organizations, Refused, Shared};

/// The extension's JSON actions.
pub mod actions {
    use super::{ActionId, ActionKind};

    const fn action(name: &'static str, kind: ActionKind) -> ActionId {
        ActionId::new("api_organizations", name, kind)
    }

    /// `GET <api>/organizations`.
    pub const INDEX: ActionId = action("index", ActionKind::Show);
    /// `POST <api>/organizations`.
    pub const CREATE: ActionId = action("create", ActionKind::Other);
    /// `GET <api>/organizations/{slug}`.
    pub const SHOW: ActionId = action("show", ActionKind::Show);
    /// `PATCH <api>/organizations/{slug}`.
    pub const UPDATE: ActionId = action("update", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}`.
    pub const CLOSE: ActionId = action("close", ActionKind::Other);
    /// `POST <api>/organizations/{slug}/activate`.
    pub const ACTIVATE: ActionId = action("activate", ActionKind::Other);
    /// `GET <api>/organizations/{slug}/members`.
    pub const MEMBERS: ActionId = action("members", ActionKind::Show);
    /// `PATCH <api>/organizations/{slug}/members/{user_id}`.
    pub const CHANGE_ROLE: ActionId = action("change_role", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}/members/{user_id}`.
    pub const REMOVE: ActionId = action("remove", ActionKind::Other);
    /// `POST <api>/organizations/{slug}/leave`.
    pub const LEAVE: ActionId = action("leave", ActionKind::Other);
    /// `GET <api>/organizations/{slug}/invitations`.
    pub const INVITATIONS: ActionId = action("invitations", ActionKind::Show);
    /// `POST <api>/organizations/{slug}/invitations`.
    pub const INVITE: ActionId = action("invite", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}/invitations/{id}`.
    pub const REVOKE: ActionId = action("revoke_invitation", ActionKind::Other);
    /// `POST <api>/organizations/{slug}/invitations/{id}/resend`.
    pub const RESEND: ActionId = action("resend_invitation", ActionKind::Other);
    /// `GET <api>/organization-invitations/{token}`.
    pub const INVITED: ActionId = action("invited", ActionKind::Show);
    /// `POST <api>/organization-invitations/{token}`.
    pub const ACCEPT: ActionId = action("accept", ActionKind::Other);
    /// `GET <api>/organizations/{slug}/teams`.
    pub const TEAMS: ActionId = action("teams", ActionKind::Show);
    /// `POST <api>/organizations/{slug}/teams`.
    pub const CREATE_TEAM: ActionId = action("create_team", ActionKind::Other);
    /// `PATCH <api>/organizations/{slug}/teams/{team}`.
    pub const RENAME_TEAM: ActionId = action("rename_team", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}/teams/{team}`.
    pub const DELETE_TEAM: ActionId = action("delete_team", ActionKind::Other);
    /// `GET <api>/organizations/{slug}/teams/{team}/members`.
    pub const TEAM_MEMBERS: ActionId = action("team_members", ActionKind::Show);
    /// `PUT <api>/organizations/{slug}/teams/{team}/members/{user_id}`.
    pub const SET_TEAM_ROLE: ActionId = action("set_team_role", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}/teams/{team}/members/{user_id}`.
    pub const REMOVE_TEAM_MEMBER: ActionId = action("remove_team_member", ActionKind::Other);
    /// `GET <api>/organizations/{slug}/domains`.
    pub const DOMAINS: ActionId = action("domains", ActionKind::Show);
    /// `POST <api>/organizations/{slug}/domains`.
    pub const ADD_DOMAIN: ActionId = action("add_domain", ActionKind::Other);
    /// `POST <api>/organizations/{slug}/domains/{id}/verify`.
    pub const VERIFY_DOMAIN: ActionId = action("verify_domain", ActionKind::Other);
    /// `PATCH <api>/organizations/{slug}/domains/{id}`.
    pub const DOMAIN_POLICY: ActionId = action("domain_policy", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}/domains/{id}`.
    pub const REMOVE_DOMAIN: ActionId = action("remove_domain", ActionKind::Other);
    /// `GET <api>/organizations/joinable`.
    pub const JOINABLE: ActionId = action("joinable", ActionKind::Show);
    /// `POST <api>/organizations/{slug}/join`.
    pub const JOIN: ActionId = action("join", ActionKind::Other);
    /// `GET <api>/organizations/{slug}/join-requests`.
    pub const JOIN_REQUESTS: ActionId = action("join_requests", ActionKind::Show);
    /// `POST <api>/organizations/{slug}/join-requests/{user_id}/approve`.
    pub const APPROVE: ActionId = action("approve_join", ActionKind::Other);
    /// `POST <api>/organizations/{slug}/join-requests/{user_id}/deny`.
    pub const DENY: ActionId = action("deny_join", ActionKind::Other);
}

/// The routes.
pub(crate) fn api_routes(ext: &Organizations) -> Vec<ApiRoute> {
    let ext: Shared = Arc::new(ext.clone());
    let mut routes = vec![
        ApiRoute::new(
            Verb::Get,
            "/organizations",
            actions::INDEX,
            pow_core::api_act!(ext, index),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/organizations",
            actions::CREATE,
            pow_core::api_act!(ext, create),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Get,
            "/organizations/{slug}",
            actions::SHOW,
            pow_core::api_act!(ext, show),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Patch,
            "/organizations/{slug}",
            actions::UPDATE,
            pow_core::api_act!(ext, update),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Delete,
            "/organizations/{slug}",
            actions::CLOSE,
            pow_core::api_act!(ext, close),
        )
        .sudo(),
        ApiRoute::new(
            Verb::Post,
            "/organizations/{slug}/activate",
            actions::ACTIVATE,
            pow_core::api_act!(ext, activate),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Get,
            "/organizations/{slug}/members",
            actions::MEMBERS,
            pow_core::api_act!(ext, members),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Patch,
            "/organizations/{slug}/members/{user_id}",
            actions::CHANGE_ROLE,
            pow_core::api_act!(ext, change_role),
        )
        .owner_only(),
        ApiRoute::new(
            Verb::Delete,
            "/organizations/{slug}/members/{user_id}",
            actions::REMOVE,
            pow_core::api_act!(ext, remove),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/organizations/{slug}/leave",
            actions::LEAVE,
            pow_core::api_act!(ext, leave),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Get,
            "/organizations/{slug}/invitations",
            actions::INVITATIONS,
            pow_core::api_act!(ext, invitations),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/organizations/{slug}/invitations",
            actions::INVITE,
            pow_core::api_act!(ext, invite),
        )
        .owner_only(),
        ApiRoute::new(
            Verb::Delete,
            "/organizations/{slug}/invitations/{id}",
            actions::REVOKE,
            pow_core::api_act!(ext, revoke),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/organizations/{slug}/invitations/{id}/resend",
            actions::RESEND,
            pow_core::api_act!(ext, resend),
        )
        .owner_only(),
        ApiRoute::new(
            Verb::Get,
            "/organization-invitations/{token}",
            actions::INVITED,
            pow_core::api_act!(ext, invited),
        ),
        ApiRoute::new(
            Verb::Post,
            "/organization-invitations/{token}",
            actions::ACCEPT,
            pow_core::api_act!(ext, accept),
        )
        .no_support_access(),
    ];
    if ext.resolver().is_some() {
        // Before `/organizations/{slug}`: a table matches in order.
        routes.insert(
            0,
            ApiRoute::new(
                Verb::Get,
                "/organizations/joinable",
                actions::JOINABLE,
                pow_core::api_act!(ext, joinable),
            )
            .signed_in(),
        );
        routes.extend([
            ApiRoute::new(
                Verb::Get,
                "/organizations/{slug}/domains",
                actions::DOMAINS,
                pow_core::api_act!(ext, domains_index),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Post,
                "/organizations/{slug}/domains",
                actions::ADD_DOMAIN,
                pow_core::api_act!(ext, add_domain),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Post,
                "/organizations/{slug}/domains/{id}/verify",
                actions::VERIFY_DOMAIN,
                pow_core::api_act!(ext, verify_domain),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Patch,
                "/organizations/{slug}/domains/{id}",
                actions::DOMAIN_POLICY,
                pow_core::api_act!(ext, domain_policy),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Delete,
                "/organizations/{slug}/domains/{id}",
                actions::REMOVE_DOMAIN,
                pow_core::api_act!(ext, remove_domain),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Post,
                "/organizations/{slug}/join",
                actions::JOIN,
                pow_core::api_act!(ext, join),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Get,
                "/organizations/{slug}/join-requests",
                actions::JOIN_REQUESTS,
                pow_core::api_act!(ext, join_requests),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Post,
                "/organizations/{slug}/join-requests/{user_id}/approve",
                actions::APPROVE,
                pow_core::api_act!(ext, approve),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Post,
                "/organizations/{slug}/join-requests/{user_id}/deny",
                actions::DENY,
                pow_core::api_act!(ext, deny),
            )
            .signed_in(),
        ]);
    }
    if ext.has_teams() {
        routes.extend([
            ApiRoute::new(
                Verb::Get,
                "/organizations/{slug}/teams",
                actions::TEAMS,
                pow_core::api_act!(ext, teams),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Post,
                "/organizations/{slug}/teams",
                actions::CREATE_TEAM,
                pow_core::api_act!(ext, create_team),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Patch,
                "/organizations/{slug}/teams/{team}",
                actions::RENAME_TEAM,
                pow_core::api_act!(ext, rename_team),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Delete,
                "/organizations/{slug}/teams/{team}",
                actions::DELETE_TEAM,
                pow_core::api_act!(ext, delete_team),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Get,
                "/organizations/{slug}/teams/{team}/members",
                actions::TEAM_MEMBERS,
                pow_core::api_act!(ext, team_members),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Put,
                "/organizations/{slug}/teams/{team}/members/{user_id}",
                actions::SET_TEAM_ROLE,
                pow_core::api_act!(ext, set_team_role),
            )
            .signed_in(),
            ApiRoute::new(
                Verb::Delete,
                "/organizations/{slug}/teams/{team}/members/{user_id}",
                actions::REMOVE_TEAM_MEMBER,
                pow_core::api_act!(ext, remove_team_member),
            )
            .signed_in(),
        ]);
    }
    routes
}

/// The signed-in user, as stored now.
async fn signed_in(step: &Step, call: &mut dyn ApiClient) -> Result<User, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(|| call.not_authenticated(&step.lang))?;
    pow_core::flows::stored_user(&step.config, current.user.id)
        .await?
        .ok_or_else(|| call.not_authenticated(&step.lang))
}

/// The path's `name`.
fn slug(step: &Step) -> String {
    step.path_param("slug")
}

/// The answer of a refusal.
fn refused(step: &Step, refused: Refused) -> ApiError {
    let (status, code, key) = match refused {
        Refused::NotFound => (404, "not_found", "pow_organizations_not_found"),
        Refused::Forbidden => (403, "forbidden", "pow_organizations_forbidden"),
        Refused::LastOwner => (409, "last_owner", "pow_organizations_last_owner"),
        Refused::UnknownRole => (422, "unknown_role", "pow_organizations_unknown_role"),
        Refused::Full => (409, "organization_full", "pow_organizations_full"),
        Refused::InvalidEmail => (422, "invalid_email", "pow_organizations_invalid_email"),
        Refused::ByRule(key) => (422, "refused_by_rule", key),
    };
    let answer = ApiError::translated(Some(&step.config), &step.lang, status, key).with_code(code);
    let param = match refused {
        Refused::UnknownRole => "role",
        Refused::InvalidEmail | Refused::ByRule(_) => "email",
        _ => return answer,
    };
    answer.with_errors([(param.to_owned(), vec![step.text(key)])].into())
}

/// `422` for a refused name or slug.
fn invalid(step: &Step, invalid: Invalid) -> ApiError {
    let (key, param) = match invalid {
        Invalid::Name => ("pow_organizations_invalid_name", "name"),
        Invalid::Slug => ("pow_organizations_invalid_slug", "slug"),
        Invalid::SlugTaken => ("pow_organizations_slug_taken", "slug"),
    };
    let text = step.text(key);
    ApiError::new(422, text.clone())
        .with_code("invalid_organization")
        .with_errors([(param.to_owned(), vec![text])].into())
}

fn done(outcome: Result<(), Refused>, step: &Step) -> Result<Reply, ApiError> {
    match outcome {
        Ok(()) => Ok(Reply::ok(json!({}))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `GET <api>/organizations`: the user's organizations, the session's active one marked.
async fn index(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let fingerprint = call
        .current_session()
        .map(|current| current.metadata.fingerprint.clone())
        .unwrap_or_default();
    let active = active::current(&step.config, &user, &fingerprint).await?;
    let active = active.map(|m| m.organization.id);
    let list: Vec<_> = flows::memberships(&step.config, &user)
        .await?
        .into_iter()
        .map(|m| {
            let is_active = active.as_deref() == Some(m.organization.id.as_str());
            json!({
                "organization": m.organization,
                "role": m.role,
                "joined_at": m.joined_at,
                "active": is_active,
            })
        })
        .collect();
    Ok(Reply::ok(json!(list)))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    slug: String,
}

/// `POST <api>/organizations`: `201` with the organization, its creator its owner.
async fn create(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: CreateBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    match flows::create(&step.config, &user, &body.name, &body.slug).await? {
        Ok(org) => Ok(Reply::data(201, org)),
        Err(refusal) => Err(invalid(step, refusal)),
    }
}

/// `GET <api>/organizations/{slug}`: the organization and the user's role.
async fn show(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    match flows::membership(&step.config, &user, &slug(step)).await? {
        Some(membership) => Ok(Reply::ok(json!(membership))),
        None => Err(refused(step, Refused::NotFound)),
    }
}

#[derive(Deserialize)]
struct RenameBody {
    name: String,
}

/// `PATCH <api>/organizations/{slug}`: renames it.
async fn update(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: RenameBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    match flows::rename(&step.config, &user, &slug(step), &body.name).await? {
        Ok(org) => Ok(Reply::ok(json!(org))),
        Err(Ok(refusal)) => Err(refused(step, refusal)),
        Err(Err(refusal)) => Err(invalid(step, refusal)),
    }
}

/// `DELETE <api>/organizations/{slug}` (sudo mode): closes it.
async fn close(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let outcome = flows::close(&step.config, &user, &slug(step)).await?;
    done(outcome, step)
}

/// `POST <api>/organizations/{slug}/activate`: the session's active organization.
async fn activate(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let fingerprint = call
        .current_session()
        .map(|current| current.metadata.fingerprint.clone())
        .unwrap_or_default();
    match active::switch(&step.config, &user, &fingerprint, &slug(step)).await? {
        Some(membership) => Ok(Reply::ok(json!(membership))),
        None => Err(refused(step, Refused::NotFound)),
    }
}

/// `GET <api>/organizations/{slug}/members`.
async fn members(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    match flows::members(&step.config, &user, &slug(step)).await? {
        Ok(members) => Ok(Reply::ok(json!(members))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// The `{user_id}` of the path; a malformed one names nobody.
fn target(step: &Step) -> i64 {
    step.path_param("user_id").parse().unwrap_or(0)
}

#[derive(Deserialize)]
struct RoleBody {
    role: String,
}

/// `PATCH <api>/organizations/{slug}/members/{user_id}`: `{"role"}`.
async fn change_role(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: RoleBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    let outcome =
        flows::change_role(&step.config, &user, &slug(step), target(step), &body.role).await?;
    done(outcome, step)
}

/// `DELETE <api>/organizations/{slug}/members/{user_id}`.
async fn remove(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let outcome = flows::remove(&step.config, &user, &slug(step), target(step)).await?;
    done(outcome, step)
}

/// `POST <api>/organizations/{slug}/leave`.
async fn leave(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let outcome = flows::leave(&step.config, &user, &slug(step)).await?;
    done(outcome, step)
}

/// `GET <api>/organizations/{slug}/invitations`: the pending ones.
async fn invitations(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    match flows::invitations(&step.config, &user, &slug(step)).await? {
        Ok(list) => Ok(Reply::ok(json!(list))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

#[derive(Deserialize)]
struct InviteBody {
    email: String,
    role: String,
}

/// `POST <api>/organizations/{slug}/invitations`: `202`, whoever the address is.
async fn invite(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: InviteBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    let lang = step.lang.clone();
    match flows::invite(
        &step.config,
        &user,
        &slug(step),
        &body.email,
        &body.role,
        &lang,
    )
    .await?
    {
        Ok(()) => Ok(Reply::data(202, json!({}))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `DELETE <api>/organizations/{slug}/invitations/{id}`.
async fn revoke(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let outcome =
        flows::revoke_invitation(&step.config, &user, &slug(step), &step.path_param("id")).await?;
    done(outcome, step)
}

/// `POST <api>/organizations/{slug}/invitations/{id}/resend`: `202`.
async fn resend(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let lang = step.lang.clone();
    let id = step.path_param("id");
    match flows::resend_invitation(&step.config, &user, &slug(step), &id, &lang).await? {
        Ok(()) => Ok(Reply::data(202, json!({}))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `404 invalid_invitation`: a made-up, used, revoked or expired link alike.
fn gone(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        404,
        "pow_organizations_invitation_gone",
    )
    .with_code("invalid_invitation")
}

/// `GET <api>/organization-invitations/{token}`: what the link invites to.
async fn invited(
    step: &mut Step,
    _: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    match flows::invited(&step.config, &step.path_param("token")).await? {
        Some(invited) => Ok(Reply::ok(json!({
            "organization": { "name": invited.organization.name, "slug": invited.organization.slug },
            "email": invited.invitation.email,
            "role": invited.invitation.role,
            "expires_at": invited.invitation.expires_at,
        }))),
        None => Err(gone(step)),
    }
}

#[derive(Deserialize, Default)]
struct SignUpBody {
    password: Option<String>,
    password_confirmation: Option<String>,
}

/// `POST <api>/organization-invitations/{token}`: a signed-in user accepts (their proven
/// address must be the invited one: `403 wrong_user` else); a signed-out client signs up
/// with `{"password", "password_confirmation"}` (and the app's user fields under `user`,
/// as the registration takes them) and is signed in (a token pair, or the
/// browser's session).
async fn accept(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let token = step.path_param("token");
    if call.current_session().is_some() {
        let user = signed_in(step, call).await?;
        let accepted = flows::accept(&step.config, &user, &token).await?;
        return accepted_answer(step, accepted).map(|membership| Reply::ok(json!(membership)));
    }
    let body: SignUpBody = match call.body() {
        [] => SignUpBody::default(),
        body => json_body(&step.config, &step.lang, body)?,
    };
    // The app's user fields, as every sign-up path takes them (`{"user": {...}}`; the
    // address is the invitation's).
    let mut params = pow_core::api::user_params(call.body())
        .ok_or_else(|| ApiError::invalid_request(Some(&step.config), &step.lang))?;
    params.insert("password".into(), body.password.unwrap_or_default());
    params.insert(
        "password_confirmation".into(),
        body.password_confirmation.unwrap_or_default(),
    );
    let config = step.config.clone();
    let session = call.signing_in(ApiAction::Registration);
    let accepted = flows::accept_signing_up(&config, &token, params, session).await?;
    accepted_answer(step, accepted)?;
    call.issued()
}

/// The membership of an accepted invitation, or the refusal's answer.
fn accepted_answer(step: &mut Step, accepted: Accepted) -> Result<crate::Membership, ApiError> {
    match accepted {
        Accepted::Joined(membership) => Ok(membership),
        Accepted::Gone => Err(gone(step)),
        Accepted::WrongUser => Err(ApiError::translated(
            Some(&step.config),
            &step.lang,
            403,
            "pow_organizations_wrong_user",
        )
        .with_code("wrong_user")),
        Accepted::Full => Err(refused(step, Refused::Full)),
        Accepted::SignInFirst => Err(ApiError::translated(
            Some(&step.config),
            &step.lang,
            409,
            "pow_organizations_sign_in_first",
        )
        .with_code("sign_in_first")),
        Accepted::Invalid(changeset) => {
            let answer =
                ApiError::validation(&step.config, &step.lang, "api-user-not-created", &changeset);
            step.changeset = Some(changeset);
            Err(answer)
        }
    }
}

/// `422` for a refused team name.
fn invalid_team(step: &Step, invalid: teams::Invalid) -> ApiError {
    let (status, code, key) = match invalid {
        teams::Invalid::Name => (422, "invalid_team", "pow_organizations_invalid_team_name"),
        teams::Invalid::Taken => (422, "invalid_team", "pow_organizations_team_taken"),
        teams::Invalid::Full => (409, "organization_full", "pow_organizations_full"),
    };
    let text = step.text(key);
    let answer = ApiError::new(status, text.clone()).with_code(code);
    if status == 422 {
        return answer.with_errors([("name".to_owned(), vec![text])].into());
    }
    answer
}

fn team_of(step: &Step) -> String {
    step.path_param("team")
}

/// `GET <api>/organizations/{slug}/teams`.
async fn teams(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    match teams::list(&step.config, &user, &slug(step)).await? {
        Ok(list) => Ok(Reply::ok(json!(list))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

#[derive(Deserialize)]
struct TeamBody {
    name: String,
}

/// `POST <api>/organizations/{slug}/teams`: `201` with the team.
async fn create_team(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: TeamBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    match teams::create(&step.config, &user, &slug(step), &body.name).await? {
        Ok(team) => Ok(Reply::data(201, team)),
        Err(Ok(refusal)) => Err(refused(step, refusal)),
        Err(Err(invalid)) => Err(invalid_team(step, invalid)),
    }
}

/// `PATCH <api>/organizations/{slug}/teams/{team}`: `{"name"}`.
async fn rename_team(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: TeamBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    let team = team_of(step);
    match teams::rename(&step.config, &user, &slug(step), &team, &body.name).await? {
        Ok(team) => Ok(Reply::ok(team)),
        Err(Ok(refusal)) => Err(refused(step, refusal)),
        Err(Err(invalid)) => Err(invalid_team(step, invalid)),
    }
}

/// `DELETE <api>/organizations/{slug}/teams/{team}`.
async fn delete_team(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let outcome = teams::delete(&step.config, &user, &slug(step), &team_of(step)).await?;
    done(outcome, step)
}

/// `GET <api>/organizations/{slug}/teams/{team}/members`.
async fn team_members(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    match teams::members(&step.config, &user, &slug(step), &team_of(step)).await? {
        Ok(members) => Ok(Reply::ok(json!(members))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `PUT <api>/organizations/{slug}/teams/{team}/members/{user_id}`: `{"role"}`.
async fn set_team_role(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: RoleBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    let (slug, team) = (slug(step), team_of(step));
    let outcome =
        teams::set_role(&step.config, &user, &slug, &team, target(step), &body.role).await?;
    done(outcome, step)
}

/// `DELETE <api>/organizations/{slug}/teams/{team}/members/{user_id}`.
async fn remove_team_member(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let (slug, team) = (slug(step), team_of(step));
    let outcome = teams::remove(&step.config, &user, &slug, &team, target(step)).await?;
    done(outcome, step)
}

/// A domain as the API shows it: with the TXT record to publish.
fn domain_json(domain: &Domain) -> serde_json::Value {
    let mut value = json!(domain);
    value["record"] = json!({ "name": domain.record_name(), "value": domain.record_value() });
    value
}

/// The answer of a refused domain.
fn invalid_domain(step: &Step, invalid: domains::Invalid) -> ApiError {
    let (status, code, key) = match invalid {
        domains::Invalid::Domain => (422, "invalid_domain", "pow_organizations_invalid_domain"),
        domains::Invalid::Claimed => (422, "invalid_domain", "pow_organizations_domain_claimed"),
        domains::Invalid::NotProven => (
            422,
            "domain_not_proven",
            "pow_organizations_domain_not_proven",
        ),
        domains::Invalid::Taken => (409, "domain_taken", "pow_organizations_domain_taken"),
    };
    let text = step.text(key);
    let answer = ApiError::new(status, text.clone()).with_code(code);
    if code == "invalid_domain" {
        return answer.with_errors([("domain".to_owned(), vec![text])].into());
    }
    answer
}

/// `GET <api>/organizations/{slug}/domains`.
async fn domains_index(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    match domains::list(&step.config, &user, &slug(step)).await? {
        Ok(list) => Ok(Reply::ok(json!(list
            .iter()
            .map(domain_json)
            .collect::<Vec<_>>()))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

#[derive(Deserialize)]
struct DomainBody {
    domain: String,
}

/// `POST <api>/organizations/{slug}/domains`: `201` with the TXT record to publish.
async fn add_domain(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: DomainBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    match domains::add(&step.config, &user, &slug(step), &body.domain).await? {
        Ok(domain) => Ok(Reply::data(201, domain_json(&domain))),
        Err(Ok(refusal)) => Err(refused(step, refusal)),
        Err(Err(invalid)) => Err(invalid_domain(step, invalid)),
    }
}

/// `POST <api>/organizations/{slug}/domains/{id}/verify`.
async fn verify_domain(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let id = step.path_param("id");
    match domains::verify(&step.config, &user, &slug(step), &id).await? {
        Ok(domain) => Ok(Reply::ok(domain_json(&domain))),
        Err(Ok(refusal)) => Err(refused(step, refusal)),
        Err(Err(invalid)) => Err(invalid_domain(step, invalid)),
    }
}

#[derive(Deserialize)]
struct PolicyBody {
    join_policy: JoinPolicy,
}

/// `PATCH <api>/organizations/{slug}/domains/{id}`: `{"join_policy"}`.
async fn domain_policy(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let body: PolicyBody = json_body(&step.config, &step.lang, call.body())?;
    let user = signed_in(step, call).await?;
    let id = step.path_param("id");
    let outcome =
        domains::set_policy(&step.config, &user, &slug(step), &id, body.join_policy).await?;
    done(outcome, step)
}

/// `DELETE <api>/organizations/{slug}/domains/{id}`.
async fn remove_domain(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let id = step.path_param("id");
    let outcome = domains::remove(&step.config, &user, &slug(step), &id).await?;
    done(outcome, step)
}

/// `GET <api>/organizations/joinable`: the organizations the user may join through the
/// domain of their proven address.
async fn joinable(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let list: Vec<_> = domains::joinable(&step.config, &user)
        .await?
        .into_iter()
        .map(|(org, policy)| {
            json!({
                "organization": { "name": org.name, "slug": org.slug },
                "join_policy": policy,
            })
        })
        .collect();
    Ok(Reply::ok(json!(list)))
}

/// `POST <api>/organizations/{slug}/join`: `200` with the membership (automatic), `202`
/// for a request an admin decides.
async fn join(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    joining_answer(step, domains::join(&step.config, &user, &slug(step)).await?)
}

fn joining_answer(step: &Step, outcome: Result<Joining, Refused>) -> Result<Reply, ApiError> {
    match outcome {
        Ok(Joining::Joined(membership)) => Ok(Reply::ok(json!(membership))),
        Ok(Joining::Requested) => Ok(Reply::data(202, json!({ "requested": true }))),
        Ok(Joining::Full) => Err(refused(step, Refused::Full)),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `GET <api>/organizations/{slug}/join-requests`.
async fn join_requests(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    match domains::requests(&step.config, &user, &slug(step)).await? {
        Ok(list) => Ok(Reply::ok(json!(list))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `POST <api>/organizations/{slug}/join-requests/{user_id}/approve`.
async fn approve(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let outcome = domains::decide(&step.config, &user, &slug(step), target(step), true).await?;
    match outcome {
        Ok(Some(joining)) => joining_answer(step, Ok(joining)),
        Ok(None) => Ok(Reply::ok(json!({}))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `POST <api>/organizations/{slug}/join-requests/{user_id}/deny`.
async fn deny(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Organizations,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let outcome = domains::decide(&step.config, &user, &slug(step), target(step), false).await?;
    done(outcome.map(|_| ()), step)
}

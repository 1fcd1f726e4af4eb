//! The JSON side of the provisioning page, on the engine: every framework layer serves it
//! under the API prefix, on both transports.

use std::sync::Arc;

use pow_core::api::routes::{json_body, ApiClient, ApiRoute, Reply};
use pow_core::api::ApiError;
use pow_core::pages::routes::Verb;
use pow_core::pipeline::{ActionId, ActionKind, Step};
use pow_core::users::User;
use pow_ext_organizations::Refused;
use serde::Deserialize;
use serde_json::json;

use crate::{admin, Scim};

/// The extension's JSON actions.
pub mod actions {
    use super::{ActionId, ActionKind};

    /// `GET <api>/organizations/{slug}/scim`.
    pub const SHOW: ActionId = ActionId::new("api_scim", "show", ActionKind::Show);
    /// `POST <api>/organizations/{slug}/scim/tokens`.
    pub const TOKEN_CREATE: ActionId = ActionId::new("api_scim", "token_create", ActionKind::Other);
    /// `POST <api>/organizations/{slug}/scim/tokens/{id}/rotate`.
    pub const TOKEN_ROTATE: ActionId = ActionId::new("api_scim", "token_rotate", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}/scim/tokens/{id}`.
    pub const TOKEN_REVOKE: ActionId = ActionId::new("api_scim", "token_revoke", ActionKind::Other);
    /// `PUT <api>/organizations/{slug}/scim/groups/{id}/role`.
    pub const GROUP_ROLE: ActionId = ActionId::new("api_scim", "group_role", ActionKind::Other);
    /// `PUT <api>/organizations/{slug}/scim/groups/{id}/team`.
    pub const GROUP_TEAM: ActionId = ActionId::new("api_scim", "group_team", ActionKind::Other);
}

/// The routes.
pub(crate) fn api_routes(scim: &Arc<Scim>) -> Vec<ApiRoute> {
    let ext = Arc::clone(scim);
    let change = |route: ApiRoute| route.signed_in().sudo().no_support_access();
    vec![
        ApiRoute::new(
            Verb::Get,
            "/organizations/{slug}/scim",
            actions::SHOW,
            pow_core::api_act!(ext, show),
        )
        .signed_in()
        .no_support_access(),
        change(ApiRoute::new(
            Verb::Post,
            "/organizations/{slug}/scim/tokens",
            actions::TOKEN_CREATE,
            pow_core::api_act!(ext, create_token),
        )),
        change(ApiRoute::new(
            Verb::Post,
            "/organizations/{slug}/scim/tokens/{id}/rotate",
            actions::TOKEN_ROTATE,
            pow_core::api_act!(ext, rotate_token),
        )),
        change(ApiRoute::new(
            Verb::Delete,
            "/organizations/{slug}/scim/tokens/{id}",
            actions::TOKEN_REVOKE,
            pow_core::api_act!(ext, revoke_token),
        )),
        change(ApiRoute::new(
            Verb::Put,
            "/organizations/{slug}/scim/groups/{id}/role",
            actions::GROUP_ROLE,
            pow_core::api_act!(ext, group_role),
        )),
        change(ApiRoute::new(
            Verb::Put,
            "/organizations/{slug}/scim/groups/{id}/team",
            actions::GROUP_TEAM,
            pow_core::api_act!(ext, group_team),
        )),
    ]
}

fn admin_user(step: &Step, call: &mut dyn ApiClient) -> Result<User, ApiError> {
    call.current_session()
        .map(|current| (*current.user).clone())
        .ok_or_else(|| call.not_authenticated(&step.lang))
}

fn refused(step: &Step, refused: Refused) -> ApiError {
    let (status, code, key) = match refused {
        Refused::Forbidden => (403, "forbidden", "pow_scim_forbidden"),
        Refused::UnknownRole => (422, "unknown_role", "pow_scim_unknown_role"),
        _ => (404, "not_found", "pow_scim_not_found"),
    };
    ApiError::translated(Some(&step.config), &step.lang, status, key).with_code(code)
}

fn not_found(step: &Step, key: &str) -> ApiError {
    ApiError::translated(Some(&step.config), &step.lang, 404, key).with_code("not_found")
}

/// `GET <api>/organizations/{slug}/scim`: the SCIM URL, the tokens (never their values),
/// the groups and the last events.
async fn show(step: &mut Step, call: &mut dyn ApiClient, scim: &Scim) -> Result<Reply, ApiError> {
    let admin = admin_user(step, call)?;
    let facts = call.facts();
    let url = crate::pages::scim_url(step, facts.origin.as_deref());
    match admin::overview(&step.config, scim, &admin, &step.path_param("slug"), url).await? {
        Ok(overview) => Ok(Reply::ok(overview)),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

#[derive(Deserialize, Default)]
struct TokenBody {
    #[serde(default)]
    name: String,
}

/// `POST <api>/organizations/{slug}/scim/tokens` (sudo mode): `201` with the token and
/// its value, shown this once.
async fn create_token(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Scim,
) -> Result<Reply, ApiError> {
    let body: TokenBody = if call.body().is_empty() {
        TokenBody::default()
    } else {
        json_body(&step.config, &step.lang, call.body())?
    };
    let admin = admin_user(step, call)?;
    match admin::create_token(&step.config, &admin, &step.path_param("slug"), &body.name).await? {
        Ok((info, token)) => Ok(Reply::data(201, json!({ "token": info, "value": token }))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `POST <api>/organizations/{slug}/scim/tokens/{id}/rotate` (sudo mode): the new token and
/// its value; the old one works for a day more.
async fn rotate_token(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Scim,
) -> Result<Reply, ApiError> {
    let admin = admin_user(step, call)?;
    match admin::rotate_token(
        &step.config,
        &admin,
        &step.path_param("slug"),
        &step.path_param("id"),
    )
    .await?
    {
        Ok(Some((info, token))) => Ok(Reply::ok(json!({
            "token": info,
            "value": token,
            "previous_token_works_for": admin::ROTATION_OVERLAP.as_secs(),
        }))),
        Ok(None) => Err(not_found(step, "pow_scim_token_not_found")),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `DELETE <api>/organizations/{slug}/scim/tokens/{id}` (sudo mode).
async fn revoke_token(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &Scim,
) -> Result<Reply, ApiError> {
    let admin = admin_user(step, call)?;
    match admin::revoke_token(
        &step.config,
        &admin,
        &step.path_param("slug"),
        &step.path_param("id"),
    )
    .await?
    {
        Ok(true) => Ok(Reply::ok(json!({ "revoked": true }))),
        Ok(false) => Err(not_found(step, "pow_scim_token_not_found")),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

#[derive(Deserialize)]
struct RoleBody {
    role: Option<String>,
}

/// `PUT <api>/organizations/{slug}/scim/groups/{id}/role` (sudo mode): `{"role": "admin"}`
/// (or `null`): the group's members get it on their next request.
async fn group_role(
    step: &mut Step,
    call: &mut dyn ApiClient,
    scim: &Scim,
) -> Result<Reply, ApiError> {
    let body: RoleBody = json_body(&step.config, &step.lang, call.body())?;
    let admin = admin_user(step, call)?;
    let role = body.role.filter(|role| !role.trim().is_empty());
    match admin::map_group(
        &step.config,
        scim,
        &admin,
        &step.path_param("slug"),
        &step.path_param("id"),
        role,
    )
    .await?
    {
        Ok(true) => Ok(Reply::ok(json!({ "mapped": true }))),
        Ok(false) => Err(not_found(step, "pow_scim_group_not_found")),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

#[derive(Deserialize)]
struct TeamBody {
    team_id: Option<String>,
}

/// `PUT <api>/organizations/{slug}/scim/groups/{id}/team` (sudo mode): `{"team_id": "…"}`
/// (or `null`): the group's members are put in that team on their next request.
async fn group_team(
    step: &mut Step,
    call: &mut dyn ApiClient,
    scim: &Scim,
) -> Result<Reply, ApiError> {
    let body: TeamBody = json_body(&step.config, &step.lang, call.body())?;
    let admin = admin_user(step, call)?;
    let team = body.team_id.filter(|team| !team.trim().is_empty());
    match admin::map_group_team(
        &step.config,
        scim,
        &admin,
        &step.path_param("slug"),
        &step.path_param("id"),
        team,
    )
    .await?
    {
        Ok(true) => Ok(Reply::ok(json!({ "mapped": true }))),
        Ok(false) => Err(not_found(step, "pow_scim_group_not_found")),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

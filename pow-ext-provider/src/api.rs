//! The JSON endpoints of a signed-in user's applications, on the engine: every framework
//! layer serves them under the API prefix, on both transports (a token pair or the
//! browser's cookie).

use std::sync::Arc;

use pow_core::api::routes::{json_body, ApiClient, ApiRoute, Reply};
use pow_core::api::ApiError;
use pow_core::pages::routes::Verb;
use pow_core::pipeline::{ActionId, ActionKind, Step};

use crate::{flows, Provider};

/// The extension's JSON actions.
pub mod actions {
    use super::{ActionId, ActionKind};

    /// `GET <api>/oauth/grants`.
    pub const GRANTS: ActionId = ActionId::new("api_provider", "grants", ActionKind::Show);
    /// `DELETE <api>/oauth/grants/{client}`.
    pub const REVOKE_GRANT: ActionId =
        ActionId::new("api_provider", "revoke_grant", ActionKind::Other);
    /// `GET <api>/oauth/clients`.
    pub const CLIENTS: ActionId = ActionId::new("api_provider", "clients", ActionKind::Show);
    /// `POST <api>/oauth/clients`.
    pub const CLIENT_CREATE: ActionId =
        ActionId::new("api_provider", "client_create", ActionKind::Other);
    /// `POST <api>/oauth/clients/{client}/secret`.
    pub const CLIENT_ROTATE: ActionId =
        ActionId::new("api_provider", "client_rotate", ActionKind::Other);
    /// `DELETE <api>/oauth/clients/{client}`.
    pub const CLIENT_REMOVE: ActionId =
        ActionId::new("api_provider", "client_remove", ActionKind::Other);
}

/// The routes.
pub(crate) fn api_routes(ext: &Arc<Provider>) -> Vec<ApiRoute> {
    let mut routes = vec![
        ApiRoute::new(
            Verb::Get,
            "/oauth/grants",
            actions::GRANTS,
            pow_core::api_act!(ext, grants),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Delete,
            "/oauth/grants/{client}",
            actions::REVOKE_GRANT,
            pow_core::api_act!(ext, revoke_grant),
        )
        .signed_in()
        .no_support_access(),
    ];
    if ext.client_admins.is_some() {
        routes.extend([
            ApiRoute::new(
                Verb::Get,
                "/oauth/clients",
                actions::CLIENTS,
                pow_core::api_act!(ext, clients),
            )
            .signed_in()
            .no_support_access(),
            ApiRoute::new(
                Verb::Post,
                "/oauth/clients",
                actions::CLIENT_CREATE,
                pow_core::api_act!(ext, create_client),
            )
            .signed_in()
            .sudo()
            .no_support_access(),
            ApiRoute::new(
                Verb::Post,
                "/oauth/clients/{client}/secret",
                actions::CLIENT_ROTATE,
                pow_core::api_act!(ext, rotate_secret),
            )
            .signed_in()
            .sudo()
            .no_support_access(),
            ApiRoute::new(
                Verb::Delete,
                "/oauth/clients/{client}",
                actions::CLIENT_REMOVE,
                pow_core::api_act!(ext, remove_client),
            )
            .signed_in()
            .sudo()
            .no_support_access(),
        ]);
    }
    routes
}

/// The registered clients' table for the signed-in admin: `403 forbidden` for anyone
/// else.
async fn registry(
    step: &Step,
    call: &mut dyn ApiClient,
    ext: &Provider,
) -> Result<(crate::registry::Registry, i64), ApiError> {
    let current = call
        .current_session()
        .ok_or_else(|| call.not_authenticated(&step.lang))?;
    match flows::client_registry(&step.config, ext, &current.user)? {
        Some(registry) => Ok((registry, current.user.id)),
        None => Err(ApiError::translated(
            Some(&step.config),
            &step.lang,
            403,
            "pow_provider_clients_forbidden",
        )
        .with_code("forbidden")),
    }
}

/// `404 not_found` for a client that is not registered.
fn client_not_found(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        404,
        "pow_provider_client_not_found",
    )
    .with_code("not_found")
}

/// `GET <api>/oauth/clients`: the registered clients (never a secret).
async fn clients(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Provider,
) -> Result<Reply, ApiError> {
    let (registry, _) = registry(step, call, ext).await?;
    Ok(Reply::ok(registry.list().await?))
}

/// `POST <api>/oauth/clients` (sudo mode): registers a client; `201` with the client and,
/// for a confidential one, its secret (shown this once); `422` with why not.
async fn create_client(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Provider,
) -> Result<Reply, ApiError> {
    let spec: crate::registry::ClientSpec = json_body(&step.config, &step.lang, call.body())?;
    let (registry, by) = registry(step, call, ext).await?;
    match registry.register(ext, spec, false, Some(by)).await? {
        Ok(created) => Ok(Reply::data(201, created)),
        Err(refusal) => {
            let code = match refusal {
                crate::registry::Refusal::Taken => "taken",
                crate::registry::Refusal::Invalid(_) => "invalid_client",
            };
            Err(ApiError::new(422, refusal.to_string()).with_code(code))
        }
    }
}

/// `POST <api>/oauth/clients/{client}/secret` (sudo mode): a new secret, shown this once;
/// the previous one works for a day more.
async fn rotate_secret(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Provider,
) -> Result<Reply, ApiError> {
    let (registry, by) = registry(step, call, ext).await?;
    let client = step.path_param("client");
    let overlap = crate::pages::clients::ROTATION_OVERLAP;
    match registry
        .rotate_secret(&client, overlap, None, Some(by))
        .await?
    {
        Some(secret) => Ok(Reply::ok(serde_json::json!({
            "client_id": client,
            "secret": secret,
            "previous_secret_works_for": overlap.as_secs(),
        }))),
        None => Err(client_not_found(step)),
    }
}

/// `DELETE <api>/oauth/clients/{client}` (sudo mode): removes the client and ends its
/// tokens.
async fn remove_client(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Provider,
) -> Result<Reply, ApiError> {
    let (registry, by) = registry(step, call, ext).await?;
    let client = step.path_param("client");
    match registry.remove(ext, &client, Some(by)).await? {
        true => Ok(Reply::ok(serde_json::json!({ "removed": true }))),
        false => Err(client_not_found(step)),
    }
}

/// The signed-in user's id.
fn user_id(step: &Step, call: &mut dyn ApiClient) -> Result<i64, ApiError> {
    call.current_session()
        .map(|current| current.user.id)
        .ok_or_else(|| call.not_authenticated(&step.lang))
}

/// `GET <api>/oauth/grants`: the clients the user allowed.
async fn grants(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Provider,
) -> Result<Reply, ApiError> {
    let user = user_id(step, call)?;
    Ok(Reply::ok(flows::grants(&step.config, ext, user).await?))
}

/// `DELETE <api>/oauth/grants/{client}`: withdraws the consent and ends the client's
/// tokens; `404 not_found` when the client has none.
async fn revoke_grant(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Provider,
) -> Result<Reply, ApiError> {
    let user = user_id(step, call)?;
    let client = step.path_param("client");
    if flows::revoke_grant(&step.config, ext, user, &client).await? {
        return Ok(Reply::ok(serde_json::json!({ "revoked": true })));
    }
    Err(ApiError::translated(
        Some(&step.config),
        &step.lang,
        404,
        "pow_provider_grant_not_found",
    )
    .with_code("not_found"))
}

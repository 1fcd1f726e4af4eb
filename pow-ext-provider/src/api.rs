//! The JSON endpoints of a signed-in user's applications, on the engine: every framework
//! layer serves them under the API prefix, on both transports (a token pair or the
//! browser's cookie).

use std::sync::Arc;

use pow_core::api::routes::{ApiClient, ApiRoute, Reply};
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
}

/// The routes.
pub(crate) fn api_routes(ext: &Arc<Provider>) -> Vec<ApiRoute> {
    vec![
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
    ]
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

//! The JSON endpoints that manage a signed-in user's keys, on the engine: every framework
//! layer serves them from the config's route table, under the API prefix, on both
//! transports. A key never manages keys: these routes take a session (a token pair or the
//! browser's cookie), and making or rotating a key needs a sudo-fresh one.

use std::sync::Arc;
use std::time::Duration;

use pow_core::api::routes::{json_body, ApiClient, ApiRoute, Reply};
use pow_core::api::ApiError;
#[cfg(feature = "organizations")]
use pow_core::extension::principal::PrincipalRefusal;
use pow_core::pages::routes::Verb;
use pow_core::pipeline::{ActionId, ActionKind, Step};
use serde::Deserialize;
use serde_json::json;

use crate::flows::{self, Created, Invalid};
use crate::{ApiKeys, Shared};

/// The extension's JSON actions.
pub mod actions {
    use super::{ActionId, ActionKind};

    /// `GET <api>/api-keys`.
    pub const INDEX: ActionId = ActionId::new("api_api_keys", "index", ActionKind::Show);
    /// `POST <api>/api-keys`.
    pub const CREATE: ActionId = ActionId::new("api_api_keys", "create", ActionKind::Other);
    /// `PATCH <api>/api-keys/{id}`.
    pub const UPDATE: ActionId = ActionId::new("api_api_keys", "update", ActionKind::Other);
    /// `DELETE <api>/api-keys/{id}`.
    pub const DELETE: ActionId = ActionId::new("api_api_keys", "delete", ActionKind::Other);
    /// `POST <api>/api-keys/{id}/rotate`.
    pub const ROTATE: ActionId = ActionId::new("api_api_keys", "rotate", ActionKind::Other);
    /// `GET <api>/organizations/{slug}/api-keys`.
    #[cfg(feature = "organizations")]
    pub const ORGANIZATION_INDEX: ActionId =
        ActionId::new("api_api_keys", "organization_index", ActionKind::Show);
    /// `POST <api>/organizations/{slug}/api-keys`.
    #[cfg(feature = "organizations")]
    pub const ORGANIZATION_CREATE: ActionId =
        ActionId::new("api_api_keys", "organization_create", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}/api-keys/{id}`.
    #[cfg(feature = "organizations")]
    pub const ORGANIZATION_DELETE: ActionId =
        ActionId::new("api_api_keys", "organization_delete", ActionKind::Other);
}

/// The routes.
pub(crate) fn api_routes(ext: &ApiKeys) -> Vec<ApiRoute> {
    let ext: Shared = Arc::new(ext.clone());
    #[allow(unused_mut)]
    let mut routes = vec![
        ApiRoute::new(
            Verb::Get,
            "/api-keys",
            actions::INDEX,
            pow_core::api_act!(ext, index),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/api-keys",
            actions::CREATE,
            pow_core::api_act!(ext, create),
        )
        .sudo(),
        ApiRoute::new(
            Verb::Patch,
            "/api-keys/{id}",
            actions::UPDATE,
            pow_core::api_act!(ext, rename),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Delete,
            "/api-keys/{id}",
            actions::DELETE,
            pow_core::api_act!(ext, revoke),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/api-keys/{id}/rotate",
            actions::ROTATE,
            pow_core::api_act!(ext, rotate),
        )
        .sudo(),
    ];
    #[cfg(feature = "organizations")]
    routes.extend([
        ApiRoute::new(
            Verb::Get,
            "/organizations/{slug}/api-keys",
            actions::ORGANIZATION_INDEX,
            pow_core::api_act!(ext, organization_index),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/organizations/{slug}/api-keys",
            actions::ORGANIZATION_CREATE,
            pow_core::api_act!(ext, organization_create),
        )
        .sudo(),
        ApiRoute::new(
            Verb::Delete,
            "/organizations/{slug}/api-keys/{id}",
            actions::ORGANIZATION_DELETE,
            pow_core::api_act!(ext, organization_delete),
        )
        .signed_in(),
    ]);
    routes
}

/// The signed-in user, as stored now.
async fn owner(step: &Step, call: &mut dyn ApiClient) -> Result<pow_core::users::User, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(|| call.not_authenticated(&step.lang))?;
    pow_core::flows::stored_user(&step.config, current.user.id)
        .await?
        .ok_or_else(|| call.not_authenticated(&step.lang))
}

/// `404 not_found` for a key the user does not have.
fn not_found(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        404,
        "pow_api_keys_not_found",
    )
    .with_code("not_found")
}

/// `422` for a refused name, scope or lifetime.
fn invalid(step: &Step, invalid: &Invalid) -> ApiError {
    let (key, param) = match invalid {
        Invalid::Name => ("pow_api_keys_invalid_name", "name"),
        Invalid::Scope(_) => ("pow_api_keys_invalid_scope", "scopes"),
        Invalid::Lifetime => ("pow_api_keys_invalid_lifetime", "expires_in_days"),
    };
    let text = step.text(key);
    ApiError::new(422, text.clone())
        .with_code("invalid_api_key")
        .with_errors([(param.to_owned(), vec![text])].into())
}

/// The answer of a key just made: `201`, the key itself once.
fn created(made: Created) -> Reply {
    Reply::data(201, made)
}

/// `GET <api>/api-keys`: the user's keys, newest first, with the scopes the app offers.
async fn index(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &ApiKeys,
) -> Result<Reply, ApiError> {
    let user = owner(step, call).await?;
    let keys = flows::list(&step.config, &user).await?;
    Ok(Reply::with_meta(
        keys,
        json!({ "scopes": ext.declared_scopes() }),
    ))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<u64>,
}

impl CreateBody {
    /// The key's lifetime, when the body sets one.
    fn ttl(&self) -> Option<Duration> {
        self.expires_in_days
            .map(|days| Duration::from_secs(days.saturating_mul(24 * 3600)))
    }

    /// The scopes asked for.
    fn scopes(&self) -> Vec<&str> {
        self.scopes.iter().map(String::as_str).collect()
    }
}

/// `POST <api>/api-keys` (sudo mode): makes a key.
async fn create(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &ApiKeys,
) -> Result<Reply, ApiError> {
    let body: CreateBody = json_body(&step.config, &step.lang, call.body())?;
    let user = owner(step, call).await?;
    let (ttl, scopes) = (body.ttl(), body.scopes());
    match flows::create_in(
        &step.config,
        ext,
        &user,
        &body.name,
        &scopes,
        ttl,
        &step.lang,
    )
    .await?
    {
        Ok(made) => {
            step.user = Some(user);
            Ok(created(made))
        }
        Err(refused) => Err(invalid(step, &refused)),
    }
}

#[derive(Deserialize)]
struct RenameBody {
    name: String,
}

/// `PATCH <api>/api-keys/{id}`: renames a key.
async fn rename(step: &mut Step, call: &mut dyn ApiClient, _: &ApiKeys) -> Result<Reply, ApiError> {
    let body: RenameBody = json_body(&step.config, &step.lang, call.body())?;
    let user = owner(step, call).await?;
    match flows::rename(&step.config, &user, &step.path_param("id"), &body.name).await? {
        Ok(true) => Ok(Reply::ok(json!({}))),
        Ok(false) => Err(not_found(step)),
        Err(refused) => Err(invalid(step, &refused)),
    }
}

/// `DELETE <api>/api-keys/{id}`: revokes a key at once.
async fn revoke(step: &mut Step, call: &mut dyn ApiClient, _: &ApiKeys) -> Result<Reply, ApiError> {
    let user = owner(step, call).await?;
    if flows::revoke(&step.config, &user, &step.path_param("id")).await? {
        Ok(Reply::ok(json!({})))
    } else {
        Err(not_found(step))
    }
}

#[derive(Deserialize, Default)]
struct RotateBody {
    overlap_secs: Option<u64>,
}

/// `POST <api>/api-keys/{id}/rotate` (sudo mode): a new key in place of this one.
async fn rotate(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &ApiKeys,
) -> Result<Reply, ApiError> {
    let body: RotateBody = match call.body() {
        [] => RotateBody::default(),
        body => json_body(&step.config, &step.lang, body)?,
    };
    let user = owner(step, call).await?;
    let overlap = Duration::from_secs(body.overlap_secs.unwrap_or(0));
    match flows::rotate(&step.config, ext, &user, &step.path_param("id"), overlap).await? {
        Some(made) => Ok(created(made)),
        None => Err(not_found(step)),
    }
}

/// The answer of an organization's refusal (in the words of the extension that keeps
/// organizations).
#[cfg(feature = "organizations")]
fn refused(step: &Step, refused: PrincipalRefusal) -> ApiError {
    match (refused, organizations(step)) {
        (PrincipalRefusal::Forbidden, Some(organizations)) => ApiError::translated(
            Some(&step.config),
            &step.lang,
            403,
            organizations.forbidden_message(),
        )
        .with_code("forbidden"),
        _ => not_found(step),
    }
}

/// The extension that keeps organizations, if one is enabled.
#[cfg(feature = "organizations")]
fn organizations(step: &Step) -> Option<&Arc<dyn pow_core::extension::principal::OwningPrincipal>> {
    step.config
        .extensions()
        .owning_principal(pow_core::extension::principal::ORGANIZATION)
}

/// `GET <api>/organizations/{slug}/api-keys`: the organization's keys (`api_keys:manage`).
#[cfg(feature = "organizations")]
async fn organization_index(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &ApiKeys,
) -> Result<Reply, ApiError> {
    let user = owner(step, call).await?;
    match flows::list_for_organization(&step.config, &user, &step.path_param("slug")).await? {
        Ok(keys) => Ok(Reply::with_meta(
            keys,
            json!({ "scopes": ext.declared_scopes() }),
        )),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

/// `POST <api>/organizations/{slug}/api-keys` (sudo mode): a key of the organization.
#[cfg(feature = "organizations")]
async fn organization_create(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &ApiKeys,
) -> Result<Reply, ApiError> {
    let body: CreateBody = json_body(&step.config, &step.lang, call.body())?;
    let user = owner(step, call).await?;
    let (ttl, scopes) = (body.ttl(), body.scopes());
    let slug = step.path_param("slug");
    let lang = step.lang.clone();
    let made = flows::create_for_organization(
        &step.config,
        ext,
        &user,
        &slug,
        &body.name,
        &scopes,
        ttl,
        &lang,
    )
    .await?;
    match made {
        Ok(made) => {
            step.user = Some(user);
            Ok(created(made))
        }
        Err(Ok(refusal)) => Err(refused(step, refusal)),
        Err(Err(refusal)) => Err(invalid(step, &refusal)),
    }
}

/// `DELETE <api>/organizations/{slug}/api-keys/{id}`: revokes one at once.
#[cfg(feature = "organizations")]
async fn organization_delete(
    step: &mut Step,
    call: &mut dyn ApiClient,
    _: &ApiKeys,
) -> Result<Reply, ApiError> {
    let user = owner(step, call).await?;
    let (slug, id) = (step.path_param("slug"), step.path_param("id"));
    match flows::revoke_for_organization(&step.config, &user, &slug, &id).await? {
        Ok(()) => Ok(Reply::ok(json!({}))),
        Err(refusal) => Err(refused(step, refusal)),
    }
}

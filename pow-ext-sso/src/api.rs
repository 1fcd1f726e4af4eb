//! The JSON side, on the engine: every framework layer serves it under the API prefix, on
//! both transports (a token pair or the browser's cookie). The decisions are the flows';
//! these map them to replies.

use std::sync::Arc;

use pow_core::api::routes::{json_body, ApiClient, ApiRoute, Reply};
use pow_core::api::ApiError;
use pow_core::pages::routes::Verb;
use pow_core::pipeline::{ActionId, ActionKind, Step};
use pow_core::users::User;
use serde::Deserialize;
use serde_json::json;

use crate::connections::ConnectionSpec;
use crate::flows::{self, Change, Shared, Switch};

/// The extension's JSON actions.
pub mod actions {
    use super::{ActionId, ActionKind};

    /// `POST <api>/sso/route`.
    pub const ROUTE: ActionId = ActionId::new("api_sso", "route", ActionKind::Other);
    /// `GET <api>/organizations/{slug}/sso`.
    pub const SHOW: ActionId = ActionId::new("api_sso", "show", ActionKind::Show);
    /// `PUT <api>/organizations/{slug}/sso`.
    pub const SAVE: ActionId = ActionId::new("api_sso", "save", ActionKind::Other);
    /// `DELETE <api>/organizations/{slug}/sso`.
    pub const REMOVE: ActionId = ActionId::new("api_sso", "remove", ActionKind::Other);
    /// `POST <api>/organizations/{slug}/sso/{switch}`.
    pub const SWITCH: ActionId = ActionId::new("api_sso", "switch", ActionKind::Other);
}

/// The routes.
pub(crate) fn api_routes(shared: &Arc<Shared>) -> Vec<ApiRoute> {
    let ext = Arc::clone(shared);
    vec![
        ApiRoute::new(
            Verb::Post,
            "/sso/route",
            actions::ROUTE,
            pow_core::api_act!(ext, route),
        ),
        ApiRoute::new(
            Verb::Get,
            "/organizations/{slug}/sso",
            actions::SHOW,
            pow_core::api_act!(ext, show),
        )
        .signed_in()
        .no_support_access(),
        ApiRoute::new(
            Verb::Put,
            "/organizations/{slug}/sso",
            actions::SAVE,
            pow_core::api_act!(ext, save),
        )
        .signed_in()
        .sudo()
        .no_support_access(),
        ApiRoute::new(
            Verb::Delete,
            "/organizations/{slug}/sso",
            actions::REMOVE,
            pow_core::api_act!(ext, remove),
        )
        .signed_in()
        .sudo()
        .no_support_access(),
        ApiRoute::new(
            Verb::Post,
            "/organizations/{slug}/sso/{switch}",
            actions::SWITCH,
            pow_core::api_act!(ext, switch),
        )
        .signed_in()
        .sudo()
        .no_support_access(),
    ]
}

#[derive(Deserialize)]
struct RouteBody {
    identifier: String,
}

/// `POST <api>/sso/route`: whether an address (or an organization's slug) signs in through
/// single sign-on, and which organization's. A browser then posts it to `/sso`.
async fn route(
    step: &mut Step,
    call: &mut dyn ApiClient,
    shared: &Shared,
) -> Result<Reply, ApiError> {
    let facts = call.facts();
    flows::count_start(&step.config, &shared.settings, &facts).await?;
    let body: RouteBody = json_body(&step.config, &step.lang, call.body())?;
    let connection = flows::route(&step.config, &body.identifier).await?;
    let organization = match &connection {
        Some(connection) => {
            pow_ext_organizations::flows::by_id(&step.config, &connection.organization_id)
                .await?
                .map(|org| org.slug)
        }
        None => None,
    };
    Ok(Reply::ok(json!({
        "sso": organization.is_some(),
        "organization": organization,
        "start": pow_core::config::extension_path(&step.config, crate::NAME, crate::pages::SSO_PATH, &[]),
    })))
}

/// The signed-in admin.
fn admin(step: &Step, call: &mut dyn ApiClient) -> Result<User, ApiError> {
    call.current_session()
        .map(|current| (*current.user).clone())
        .ok_or_else(|| call.not_authenticated(&step.lang))
}

/// The API error of a refused change.
fn refused(step: &Step, change: Change) -> ApiError {
    let (status, code, key) = change.answer();
    ApiError::translated(Some(&step.config), &step.lang, status, key).with_code(code)
}

/// `GET <api>/organizations/{slug}/sso`: the organization's connection (never its secret),
/// the redirect URI to register and the verified domains.
async fn show(step: &mut Step, call: &mut dyn ApiClient, _: &Shared) -> Result<Reply, ApiError> {
    let admin = admin(step, call)?;
    let slug = step.path_param("slug");
    let facts = call.facts();
    let redirect_uri = crate::pages::callback_url(&step.config, &facts);
    match flows::managed(&step.config, &admin, &slug, redirect_uri).await? {
        Ok(managed) => Ok(Reply::ok(managed)),
        Err(change) => Err(refused(step, change)),
    }
}

#[derive(Deserialize)]
struct SaveBody {
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    default_role: Option<String>,
    #[serde(default)]
    metadata_url: Option<String>,
    #[serde(default)]
    metadata_xml: Option<String>,
    #[serde(default)]
    idp_initiated: bool,
}

/// `PUT <api>/organizations/{slug}/sso` (sudo mode): sets the connection up or changes it.
async fn save(
    step: &mut Step,
    call: &mut dyn ApiClient,
    shared: &Shared,
) -> Result<Reply, ApiError> {
    let body: SaveBody = json_body(&step.config, &step.lang, call.body())?;
    let admin = admin(step, call)?;
    let slug = step.path_param("slug");
    let spec = ConnectionSpec::from_fields(|name| match name {
        "protocol" => body.protocol.clone(),
        "issuer" => body.issuer.clone(),
        "client_id" => body.client_id.clone(),
        "client_secret" => body.client_secret.clone(),
        "default_role" => body.default_role.clone(),
        "metadata_url" => body.metadata_url.clone(),
        "metadata_xml" => body.metadata_xml.clone(),
        "idp_initiated" => Some(body.idp_initiated.to_string()),
        _ => None,
    })
    .ok_or_else(|| refused(step, Change::Invalid("pow_sso_invalid_protocol")))?;
    match flows::save(&step.config, &shared.settings, &admin, &slug, spec).await? {
        Ok(connection) => Ok(Reply::ok(connection)),
        Err(change) => Err(refused(step, change)),
    }
}

/// `DELETE <api>/organizations/{slug}/sso` (sudo mode): removes the connection.
async fn remove(step: &mut Step, call: &mut dyn ApiClient, _: &Shared) -> Result<Reply, ApiError> {
    let admin = admin(step, call)?;
    let slug = step.path_param("slug");
    match flows::remove(&step.config, &admin, &slug).await? {
        Ok(()) => Ok(Reply::ok(json!({ "removed": true }))),
        Err(change) => Err(refused(step, change)),
    }
}

#[derive(Deserialize, Default)]
struct SwitchBody {
    #[serde(default)]
    owner: Option<i64>,
}

/// `POST <api>/organizations/{slug}/sso/{switch}` (sudo mode): `enable`, `disable`,
/// `enforce`, `relax`, or `break-glass` with `{"owner": <user id or null>}`. A test needs a
/// browser: it is the page's.
async fn switch(step: &mut Step, call: &mut dyn ApiClient, _: &Shared) -> Result<Reply, ApiError> {
    let admin = admin(step, call)?;
    let slug = step.path_param("slug");
    let turned = match step.path_param("switch").as_str() {
        "enable" => Switch::Enable,
        "disable" => Switch::Disable,
        "enforce" => Switch::Enforce,
        "relax" => Switch::Relax,
        "break-glass" => {
            let body: SwitchBody = if call.body().is_empty() {
                SwitchBody::default()
            } else {
                json_body(&step.config, &step.lang, call.body())?
            };
            return match flows::set_break_glass(&step.config, &admin, &slug, body.owner).await? {
                Ok(connection) => Ok(Reply::ok(connection)),
                Err(change) => Err(refused(step, change)),
            };
        }
        _ => {
            return Err(refused(
                step,
                Change::Refused(pow_ext_organizations::Refused::NotFound),
            ))
        }
    };
    match flows::switch(&step.config, &admin, &slug, turned).await? {
        Ok(connection) => Ok(Reply::ok(connection)),
        Err(change) => Err(refused(step, change)),
    }
}

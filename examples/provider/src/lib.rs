//! An app acting as an OpenID provider and a protected MCP server, on axum: its users sign
//! in to other software through it, and an AI agent reaches its MCP server at `/mcp` with a
//! token it got there.
//!
//! - The provider ([`provider`]): a command-line client registered in the config (loopback
//!   redirect, PKCE, the device grant as well), clients known by their metadata documents
//!   (as MCP clients identify themselves), and the MCP server declared as a resource.
//! - The MCP server ([`app`]'s `POST /mcp`): every request goes through the resource's
//!   guard ([`Resource::guard`] in pow-axum's `RequireAccess`); the refusal (`401` with
//!   `resource_metadata`, `403 insufficient_scope`) is sent as it is. It answers the few JSON-RPC methods an MCP
//!   client needs to list and call its one tool, `whoami`, which names the user the token
//!   acts for. (An app with a real MCP server puts its SDK's handler behind the same check.)
//!
//! ```
//! let settings = example_provider::Settings {
//!     bind: "127.0.0.1:8080".into(),
//!     base_url: "http://127.0.0.1:8080".into(),
//!     database_url: ":memory:".into(),
//!     secret_key_base: "s".repeat(64),
//! };
//! let (config, resource) = example_provider::build(&settings, |provider| provider)?;
//! assert_eq!(resource.uri(), "http://127.0.0.1:8080/mcp");
//! let _app: axum::Router = example_provider::app(config, resource);
//! # Ok::<_, pow_axum::PowError>(())
//! ```

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use pow_axum::{PowConfig, PowError, PowLayer, RequireAccess};
use pow_ext_provider::{ClientRegistration, Provider, Resource, ResourceAccess};
use serde_json::{json, Value};

/// The scope the MCP server's tool asks for.
pub const SCOPE: &str = "notes:read";

/// Where the example listens and what it is called.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The address it listens on (`BIND`, default `127.0.0.1:8080`).
    pub bind: String,
    /// Its address as clients use it: the issuer (`BASE_URL`, default `http://<bind>`).
    pub base_url: String,
    /// The SQLite file (`DATABASE_URL`, default `pow-provider.db`).
    pub database_url: String,
    /// The secret key base (`SECRET_KEY_BASE`; random for each run if unset).
    pub secret_key_base: String,
}

impl Settings {
    /// The settings from the environment.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        Self {
            base_url: var("BASE_URL").unwrap_or_else(|| format!("http://{bind}")),
            bind,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "pow-provider.db".to_owned()),
            secret_key_base: var("SECRET_KEY_BASE").unwrap_or_else(|| {
                tracing::warn!("SECRET_KEY_BASE is not set: using a random secret for this run");
                (0..4).map(|_| pow_axum::token::generate_uuid()).collect()
            }),
        }
    }
}

/// The provider: a CLI client, metadata documents, the MCP server as a resource.
pub fn provider(base_url: &str) -> (Provider, Resource) {
    let mcp = Resource::new(format!("{}/mcp", base_url.trim_end_matches('/')))
        .name("Notes MCP server")
        .scopes([SCOPE])
        // MCP clients are known by their metadata documents: nobody registered them.
        .open_to_self_described_clients(true);
    let provider = Provider::new()
        .scopes([SCOPE])
        .resource(mcp.clone())
        .client_metadata_documents(true)
        .client(
            ClientRegistration::public("notes-cli")
                .name("Notes CLI")
                .redirect_uri("http://127.0.0.1/callback")
                // After signing out through the provider (RP-initiated logout), back here.
                .post_logout_redirect_uri("http://127.0.0.1/signed-out")
                .device_grant(),
        );
    (provider, mcp)
}

/// The setup: SQLite users, the in-memory store, the provider as `tweak` leaves it.
///
/// # Errors
/// The setup's.
pub fn build(
    settings: &Settings,
    tweak: impl FnOnce(Provider) -> Provider,
) -> Result<(PowConfig, Resource), PowError> {
    let users = pow_axum::users::diesel::DieselUsersContext::connect(&settings.database_url)?;
    let (provider, resource) = provider(&settings.base_url);
    let config = PowConfig::builder(settings.secret_key_base.clone())
        .base_url(settings.base_url.clone())
        .users(users.clone())
        .store(Arc::new(pow_axum::store::MemoryStore::new()))
        .extension(tweak(provider))
        .build()?;
    users.migrate(&config)?;
    Ok((config, resource))
}

/// The app: the pages (sign-in, consent, the account's applications) and the provider's
/// endpoints, and the MCP server at `POST /mcp`.
pub fn app(config: PowConfig, resource: Resource) -> axum::Router {
    // The MCP server: the resource's guard in front, the access handed to the handler.
    let mcp = axum::routing::post(
        |Extension(access): Extension<ResourceAccess>, body: Bytes| async move {
            mcp_answer(&body, &access)
        },
    )
    .route_layer(RequireAccess::new(config.clone(), resource.guard([SCOPE])));
    axum::Router::new()
        .merge(pow_axum::web::router(&config))
        .route("/mcp", mcp)
        .layer(PowLayer::new(config))
}

/// The MCP server's answer to one JSON-RPC message from `access`: `initialize`,
/// `tools/list` and `tools/call` of `whoami`; a notification is accepted with `202`.
pub fn mcp_answer(body: &[u8], access: &ResourceAccess) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(id) = message.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "pow-rs example", "version": env!("CARGO_PKG_VERSION") },
        }),
        "tools/list" => json!({ "tools": [{
            "name": "whoami",
            "description": "The user the token acts for.",
            "inputSchema": { "type": "object", "properties": {} },
        }]}),
        "tools/call" if message["params"]["name"] == "whoami" => json!({ "content": [{
            "type": "text",
            "text": match access.user_id {
                Some(id) => format!("user:{id}"),
                None => format!("client:{}", access.client_id),
            },
        }]}),
        _ => {
            let error = json!({ "code": -32601, "message": "method not found" });
            return axum::Json(json!({ "jsonrpc": "2.0", "id": id, "error": error }))
                .into_response();
        }
    };
    axum::Json(json!({ "jsonrpc": "2.0", "id": id, "result": result })).into_response()
}

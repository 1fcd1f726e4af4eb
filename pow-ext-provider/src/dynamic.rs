//! Dynamic client registration (RFC 7591), when the provider takes it
//! ([`Provider::dynamic_registration`]): a client posts its metadata to
//! `POST /oauth/register` and gets a `client_id`. Only what a public client needs is
//! accepted: redirect URIs under the registration rules, the authorization code grant
//! (with refresh tokens), `token_endpoint_auth_method` `none`, a name and scopes the
//! provider offers. Registrations are counted per client address; the consent page is shown
//! to such a client every time; clients nobody uses are removed as new ones register.

use std::collections::BTreeSet;

use pow_core::store::Limiter;
use pow_core::{PowConfig, PowError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::registry::{ClientSpec, Refusal, Registry};
use crate::{ClientKind, Provider};

/// `POST`: the registration endpoint.
pub const REGISTER_PATH: &str = "/oauth/register";

/// The metadata a client registers with; anything else it sends is ignored.
#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// A refused registration: the HTTP status and the error body of RFC 7591 §3.2.2 (or
/// `429` over the limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `400`, or `429` over the limit.
    pub status: u16,
    /// `invalid_redirect_uri`, `invalid_client_metadata`, or `slow_down`.
    pub error: &'static str,
    /// What was wrong.
    pub description: String,
}

impl Refused {
    fn metadata(description: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: "invalid_client_metadata",
            description: description.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

/// Registers the client `body` describes, for a request from `address`: the registration
/// response (`201`), or why not.
///
/// # Errors
/// The database's, the store's.
pub async fn register(
    config: &PowConfig,
    provider: &Provider,
    body: &[u8],
    address: &str,
) -> Result<Result<Value, Refused>, PowError> {
    let Some(limit) = provider.dynamic_registration else {
        return Ok(Err(Refused::metadata("dynamic registration is off")));
    };
    if !Limiter::new(config, "provider_registration")
        .hit(limit, address)
        .await?
    {
        return Ok(Err(Refused {
            status: 429,
            error: "slow_down",
            description: "too many registrations from this address".to_owned(),
        }));
    }
    let metadata: Metadata = match serde_json::from_slice(body) {
        Ok(metadata) => metadata,
        Err(_) => return Ok(Err(Refused::metadata("the body is not a JSON object"))),
    };
    let spec = match spec_of(provider, metadata) {
        Ok(spec) => spec,
        Err(refused) => return Ok(Err(refused)),
    };
    let registry = Registry::new(config)?;
    registry.collect_unused().await?;
    match registry.register(provider, spec, true, None).await? {
        Ok(created) => {
            let client = created.client;
            let mut answer = json!({
                "client_id": client.id,
                "client_id_issued_at": client.created_at.timestamp(),
                "redirect_uris": client.redirect_uris,
                "post_logout_redirect_uris": client.post_logout_redirect_uris,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            });
            if let Some(name) = client.name {
                answer["client_name"] = json!(name);
            }
            if let Some(scopes) = client.scopes {
                answer["scope"] = json!(scopes.join(" "));
            }
            Ok(Ok(answer))
        }
        Err(Refusal::Invalid(problem)) if problem.contains("redirect") => Ok(Err(Refused {
            status: 400,
            error: "invalid_redirect_uri",
            description: problem,
        })),
        Err(refusal) => Ok(Err(Refused::metadata(refusal.to_string()))),
    }
}

/// The registration `metadata` asks for, if the provider allows it.
fn spec_of(provider: &Provider, metadata: Metadata) -> Result<ClientSpec, Refused> {
    match metadata.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(_) => {
            return Err(Refused::metadata(
                "only public clients register here: token_endpoint_auth_method is none",
            ))
        }
    }
    let grants: BTreeSet<String> = metadata
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned()])
        .into_iter()
        .collect();
    if grants.is_empty()
        || grants
            .iter()
            .any(|grant| !matches!(grant.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(Refused::metadata(
            "grant_types: authorization_code and refresh_token only",
        ));
    }
    if metadata
        .response_types
        .is_some_and(|types| types.iter().any(|kind| kind != "code"))
    {
        return Err(Refused::metadata("response_types: code only"));
    }
    if metadata.redirect_uris.is_empty() {
        return Err(Refused {
            status: 400,
            error: "invalid_redirect_uri",
            description: "a client registers at least one redirect URI".to_owned(),
        });
    }
    let scopes = match metadata.scope {
        Some(scope) => {
            let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
            if let Some(unknown) = scopes
                .iter()
                .find(|scope| !provider.offered_scopes().contains(scope))
            {
                return Err(Refused::metadata(format!(
                    "the provider does not offer the scope {unknown}"
                )));
            }
            Some(scopes)
        }
        None => None,
    };
    let mut spec = ClientSpec::new(ClientKind::Public);
    spec.name = metadata.client_name;
    spec.redirect_uris = metadata.redirect_uris;
    spec.post_logout_redirect_uris = metadata.post_logout_redirect_uris;
    spec.scopes = scopes;
    Ok(spec)
}

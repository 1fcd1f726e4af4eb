//! The provider's protocol endpoints on the engine
//! ([`endpoints`](pow_core::pages::endpoints)): discovery, the JWKS, the token endpoint,
//! userinfo, revocation and introspection. Each reads the neutral request, runs its flow
//! and answers the protocol's JSON; every framework layer mounts them.

use std::sync::Arc;

use pow_core::api::routes::bearer_of;
use pow_core::config::extension_path;
use pow_core::pages::endpoints::{EndpointRequest, EndpointRoute};
use pow_core::pages::routes::Verb;
use pow_core::pages::HttpAnswer;
use pow_core::{PowConfig, PowError};
use serde_json::{json, Value};

use crate::flows::{self, OAuthError};
use crate::pages::AUTHORIZE_PATH;
use crate::{Provider, NAME};

/// `POST`: the token endpoint.
pub const TOKEN_PATH: &str = "/oauth/token";
/// `GET`/`POST`: userinfo.
pub const USERINFO_PATH: &str = "/oauth/userinfo";
/// `POST`: revocation (RFC 7009).
pub const REVOKE_PATH: &str = "/oauth/revoke";
/// `POST`: introspection (RFC 7662).
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
/// `POST`: the device authorization endpoint (RFC 8628).
pub use crate::device::DEVICE_AUTHORIZATION_PATH;
/// `GET`: the JWKS.
pub const JWKS_PATH: &str = "/oauth/jwks";
/// `GET`: OpenID Connect discovery.
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
/// `GET`: OAuth authorization server metadata (RFC 8414).
pub const AUTHORIZATION_SERVER_PATH: &str = "/.well-known/oauth-authorization-server";

/// How long a client may keep the JWKS and the discovery document: 5 minutes, short
/// enough for a key rotation's grace period.
const PUBLIC_CACHE: &str = "public, max-age=300";

/// What a token answer is sent with: never stored (RFC 6749 §5.1).
const NO_STORE: &str = "no-store";

/// The endpoints.
pub(crate) fn routes(ext: &Arc<Provider>) -> Vec<EndpointRoute> {
    type Handler =
        fn(PowConfig, Arc<Provider>, EndpointRequest) -> pow_core::pages::endpoints::EndpointFuture;
    let table: [(Verb, &'static str, Handler); 9] = [
        (Verb::Get, OPENID_CONFIGURATION_PATH, |c, p, r| {
            Box::pin(async move { discovery(&c, &p, &r) })
        }),
        (Verb::Get, AUTHORIZATION_SERVER_PATH, |c, p, r| {
            Box::pin(async move { discovery(&c, &p, &r) })
        }),
        (Verb::Post, DEVICE_AUTHORIZATION_PATH, |c, p, r| {
            Box::pin(async move { device_authorization(&c, &p, &r).await })
        }),
        (Verb::Get, JWKS_PATH, |c, _, _| {
            Box::pin(async move { jwks(&c) })
        }),
        (Verb::Post, TOKEN_PATH, |c, p, r| {
            Box::pin(async move { token(&c, &p, &r).await })
        }),
        (Verb::Get, USERINFO_PATH, |c, p, r| {
            Box::pin(async move { userinfo(&c, &p, &r).await })
        }),
        (Verb::Post, USERINFO_PATH, |c, p, r| {
            Box::pin(async move { userinfo(&c, &p, &r).await })
        }),
        (Verb::Post, REVOKE_PATH, |c, p, r| {
            Box::pin(async move { revoke(&c, &p, &r).await })
        }),
        (Verb::Post, INTROSPECT_PATH, |c, p, r| {
            Box::pin(async move { introspect(&c, &p, &r).await })
        }),
    ];
    let mut routes: Vec<EndpointRoute> = table
        .into_iter()
        .map(|(verb, path, handler)| {
            let ext = Arc::clone(ext);
            EndpointRoute::new(verb, path, move |config, request| {
                handler(config, Arc::clone(&ext), request)
            })
        })
        .collect();
    if ext.dynamic_registration.is_some() {
        let ext = Arc::clone(ext);
        routes.push(EndpointRoute::new(
            Verb::Post,
            crate::dynamic::REGISTER_PATH,
            move |config, request| {
                let ext = Arc::clone(&ext);
                Box::pin(async move { register(&config, &ext, &request).await })
            },
        ));
    }
    // Each resource's metadata (RFC 9728), at its own path.
    for resource in ext.resources() {
        let (ext, resource) = (Arc::clone(ext), resource.clone());
        routes.push(EndpointRoute::new(
            Verb::Get,
            resource.metadata_path(),
            move |config, _| {
                let doc = resource.metadata(&config, &ext);
                Box::pin(async move { HttpAnswer::json_document(200, &doc, Some(PUBLIC_CACHE)) })
            },
        ));
    }
    routes
}

/// The absolute URL of the extension's route `pattern`.
pub fn url(config: &PowConfig, pattern: &str) -> String {
    let base = config
        .base_url()
        .unwrap_or("http://localhost")
        .trim_end_matches('/');
    format!("{base}{}", extension_path(config, NAME, pattern, &[]))
}

/// The answer to an engine failure: `503`/`500` as the protocol's JSON, never stored.
fn failed(err: &PowError) -> HttpAnswer {
    err.log_answered();
    let status = err.http_status();
    let error = if status == 503 {
        "temporarily_unavailable"
    } else {
        "server_error"
    };
    HttpAnswer::json_document(status, &json!({ "error": error }), Some(NO_STORE))
}

/// An OAuth error answer; `401` with a challenge for `invalid_client`.
fn oauth_error(err: &OAuthError, request: &EndpointRequest) -> HttpAnswer {
    let mut answer = HttpAnswer::json_document(err.status, &err.body(), Some(NO_STORE));
    if err.status == 401 {
        let scheme = match request.header("authorization") {
            Some(value) if value.trim_start().to_ascii_lowercase().starts_with("basic") => "Basic",
            _ => "Bearer",
        };
        answer
            .headers
            .push(("www-authenticate", format!("{scheme} realm=\"oauth\"")));
    }
    answer
}

/// The form of a `POST` to the token, device, revocation or introspection endpoint, or
/// the answer refusing it: `429` when the client's address is over the provider's limit
/// (counted before anything else is read), `400` to a body that is not a form.
async fn form_of(
    config: &PowConfig,
    provider: &Provider,
    request: &EndpointRequest,
) -> Result<Vec<(String, String)>, HttpAnswer> {
    let address = request
        .facts
        .client_ip
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let limiter = pow_core::store::Limiter::new(config, "provider_endpoints");
    match limiter.hit(provider.endpoint_limit, &address).await {
        Ok(true) => {}
        Ok(false) => {
            let body = json!({ "error": "slow_down", "error_description": "too many requests from this address" });
            let mut answer = HttpAnswer::json_document(429, &body, Some(NO_STORE));
            let retry = provider.endpoint_limit.per.as_secs().max(1);
            answer.headers.push(("retry-after", retry.to_string()));
            return Err(answer);
        }
        Err(err) => return Err(failed(&PowError::from(err))),
    }
    request.form().ok_or_else(|| {
        let err = OAuthError {
            status: 400,
            error: "invalid_request",
            description: "the body must be application/x-www-form-urlencoded",
        };
        oauth_error(&err, request)
    })
}

/// The discovery document: only what is on.
pub fn metadata(config: &PowConfig, provider: &Provider) -> Value {
    let mut doc = json!({
        "issuer": provider.issuer_of(config),
        "authorization_endpoint": url(config, AUTHORIZE_PATH),
        "token_endpoint": url(config, TOKEN_PATH),
        "userinfo_endpoint": url(config, USERINFO_PATH),
        "jwks_uri": url(config, JWKS_PATH),
        "revocation_endpoint": url(config, REVOKE_PATH),
        "introspection_endpoint": url(config, INTROSPECT_PATH),
        "scopes_supported": provider.offered_scopes(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [provider.signing_alg.name()],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims_supported(provider),
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if provider.metadata_documents {
        doc["client_id_metadata_document_supported"] = json!(true);
    }
    if provider.any_client_allows(crate::GrantType::ClientCredentials) {
        if let Some(grants) = doc["grant_types_supported"].as_array_mut() {
            grants.push(json!("client_credentials"));
        }
    }
    let acr: Vec<&str> = provider
        .acr_rules
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    doc["acr_values_supported"] = json!(acr);
    doc["end_session_endpoint"] = json!(url(config, crate::logout::LOGOUT_PATH));
    if provider.dynamic_registration.is_some() {
        doc["registration_endpoint"] = json!(url(config, crate::dynamic::REGISTER_PATH));
    }
    if provider.any_client_allows(crate::GrantType::DeviceCode) {
        doc["device_authorization_endpoint"] = json!(url(config, DEVICE_AUTHORIZATION_PATH));
        if let Some(grants) = doc["grant_types_supported"].as_array_mut() {
            grants.push(json!(crate::device::GRANT_TYPE));
        }
    }
    doc
}

fn discovery(config: &PowConfig, provider: &Provider, _: &EndpointRequest) -> HttpAnswer {
    HttpAnswer::json_document(200, &metadata(config, provider), Some(PUBLIC_CACHE))
}

/// A flow's answer to a form endpoint: `200` with its JSON, never stored (`Pragma:
/// no-cache` as well where tokens are in it), its OAuth error, or the engine's failure.
fn answered(
    outcome: Result<Result<Value, OAuthError>, PowError>,
    request: &EndpointRequest,
    tokens: bool,
) -> HttpAnswer {
    match outcome {
        Ok(Ok(body)) => {
            let mut answer = HttpAnswer::json_document(200, &body, Some(NO_STORE));
            if tokens {
                answer.headers.push(("pragma", "no-cache".to_owned()));
            }
            answer
        }
        Ok(Err(err)) => oauth_error(&err, request),
        Err(err) => failed(&err),
    }
}

/// `POST /oauth/register` (RFC 7591): a JSON body; `201` with the client's registration.
async fn register(
    config: &PowConfig,
    provider: &Provider,
    request: &EndpointRequest,
) -> HttpAnswer {
    let json = request.header("content-type").is_some_and(|kind| {
        kind.trim()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    if !json {
        let body = json!({ "error": "invalid_client_metadata", "error_description": "the body must be application/json" });
        return HttpAnswer::json_document(400, &body, Some(NO_STORE));
    }
    let address = request
        .facts
        .client_ip
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    match crate::dynamic::register(config, provider, &request.body, &address).await {
        Ok(Ok(body)) => HttpAnswer::json_document(201, &body, Some(NO_STORE)),
        Ok(Err(refused)) => {
            let mut answer =
                HttpAnswer::json_document(refused.status, &refused.body(), Some(NO_STORE));
            if refused.status == 429 {
                if let Some(limit) = provider.dynamic_registration {
                    let retry = limit.per.as_secs().max(1);
                    answer.headers.push(("retry-after", retry.to_string()));
                }
            }
            answer
        }
        Err(err) => failed(&err),
    }
}

fn jwks(config: &PowConfig) -> HttpAnswer {
    match crate::keys::jwks(config) {
        Ok(document) => {
            let mut answer = HttpAnswer::json_document(200, &document, Some(PUBLIC_CACHE));
            answer.headers[0].1 = "application/jwk-set+json".to_owned();
            answer
        }
        Err(err) => failed(&err),
    }
}

async fn token(config: &PowConfig, provider: &Provider, request: &EndpointRequest) -> HttpAnswer {
    let form = match form_of(config, provider, request).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let outcome = flows::token(config, provider, request.header("authorization"), &form).await;
    answered(outcome, request, true)
}

async fn userinfo(
    config: &PowConfig,
    provider: &Provider,
    request: &EndpointRequest,
) -> HttpAnswer {
    let token = request.header("authorization").and_then(bearer_of);
    let claims = match token {
        Some(token) => flows::userinfo(config, provider, token).await,
        None => Ok(None),
    };
    match claims {
        Ok(Some(claims)) => HttpAnswer::json_document(200, &claims, Some(NO_STORE)),
        Ok(None) => {
            let challenge = match token {
                Some(_) => "Bearer error=\"invalid_token\"",
                None => "Bearer",
            };
            let mut answer = HttpAnswer::json_document(
                401,
                &json!({ "error": "invalid_token" }),
                Some(NO_STORE),
            );
            answer
                .headers
                .push(("www-authenticate", challenge.to_owned()));
            answer
        }
        Err(err) => failed(&err),
    }
}

async fn device_authorization(
    config: &PowConfig,
    provider: &Provider,
    request: &EndpointRequest,
) -> HttpAnswer {
    let form = match form_of(config, provider, request).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let authenticated =
        crate::clients::authenticate(config, provider, request.header("authorization"), &form)
            .await;
    let client = match authenticated {
        Ok(client) => client,
        Err(err) => return failed(&err),
    };
    let Some(client) = client else {
        let err = OAuthError::new("invalid_client", "client authentication failed");
        return oauth_error(&err, request);
    };
    let facts = &request.facts;
    let from = match (facts.client_ip, facts.user_agent.as_deref()) {
        (Some(ip), Some(agent)) => format!(
            "{ip} ({})",
            pow_core::request::RequestFacts::user_agent_summary(agent)
        ),
        (Some(ip), None) => ip.to_string(),
        (None, _) => "?".to_owned(),
    };
    let outcome = crate::device::start(config, provider, &client, &form, from).await;
    answered(outcome, request, false)
}

async fn revoke(config: &PowConfig, provider: &Provider, request: &EndpointRequest) -> HttpAnswer {
    let form = match form_of(config, provider, request).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let outcome = flows::revoke(config, provider, request.header("authorization"), &form).await;
    answered(
        outcome.map(|revoked| revoked.map(|()| json!({}))),
        request,
        false,
    )
}

async fn introspect(
    config: &PowConfig,
    provider: &Provider,
    request: &EndpointRequest,
) -> HttpAnswer {
    let form = match form_of(config, provider, request).await {
        Ok(form) => form,
        Err(answer) => return answer,
    };
    let outcome = flows::introspect(config, provider, request.header("authorization"), &form).await;
    answered(outcome, request, false)
}

/// The claims the provider can give: the ID token's, `email`'s, and `profile`'s
/// (`updated_at` and the mapped ones).
fn claims_supported(provider: &Provider) -> Vec<&str> {
    let mut claims = vec![
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "email",
        "email_verified",
        "updated_at",
    ];
    claims.extend(
        provider
            .profile_claims
            .iter()
            .map(|(claim, _)| claim.as_str()),
    );
    claims
}

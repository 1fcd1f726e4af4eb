//! Resource servers over HTTP, on actix-web and on axum: a client names the resource
//! (RFC 8707) and its tokens work there only; the resource's metadata (RFC 9728) names the
//! authorization server; a refused request gets `401` with `WWW-Authenticate: Bearer
//! resource_metadata=…` (no token, a token for another resource or none, a revoked one) or
//! `403 insufficient_scope`; an unknown resource is refused at authorization and a
//! different one at the token endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::{Client, Response};
use pow_actix::PowConfig;
use pow_ext_provider::{ClientRegistration, Provider, Resource};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;
use common::{authorize, param};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "http://127.0.0.1/callback";
const MCP: &str = "http://127.0.0.1/mcp";
const API: &str = "http://127.0.0.1/api";
const ROBOT_SECRET: &str = "a robot's secret of thirty-two characters";
const VERIFIER: &str = "a-pkce-verifier-of-forty-three-characters-or-more-0123";

struct Harness {
    pages: SocketAddr,
    mcp: SocketAddr,
    user_id: i64,
}

fn mcp() -> Resource {
    Resource::new(MCP).name("Notes MCP").scopes(["notes:read"])
}

/// Who a token is: `<client>:<user id>`, `-` for no user.
fn who(access: &pow_ext_provider::ResourceAccess) -> String {
    let user = access
        .user_id
        .map_or_else(|| "-".to_owned(), |id| id.to_string());
    format!("{}:{user}", access.client_id)
}

/// `POST /mcp` on the test's framework: the resource's check, the refusal sent as it is.
fn serve_mcp(config: PowConfig) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
            use actix_web::{web, App, HttpRequest, HttpResponse};
            App::new().app_data(web::Data::new(config.clone())).route(
                "/mcp",
                web::post().to(
                    |req: HttpRequest, config: web::Data<PowConfig>| async move {
                        let header = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok());
                        match mcp().check(&config, header, &["notes:read"]).await {
                            Ok(access) => HttpResponse::Ok().body(who(&access)),
                            Err(refused) => pow_actix::api::respond(refused),
                        }
                    },
                ),
            )
        }),
        pow_testkit::Framework::Axum => {
            use axum::extract::State;
            use axum::http::HeaderMap;
            use axum::response::IntoResponse;
            let app = axum::Router::new()
                .route(
                    "/mcp",
                    axum::routing::post(
                        |State(config): State<PowConfig>, headers: HeaderMap| async move {
                            let header = headers.get("authorization").and_then(|v| v.to_str().ok());
                            match mcp().check(&config, header, &["notes:read"]).await {
                                Ok(access) => who(&access).into_response(),
                                Err(refused) => pow_axum::api::response(refused),
                            }
                        },
                    ),
                )
                .with_state(config);
            pow_testkit::serve_axum(app)
        }
    }
}

fn start() -> Harness {
    let users = pow_testkit::sqlite("provider-resource");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .extension(
            Provider::new()
                .scopes(["notes:read", "notes:write"])
                .resource(mcp())
                .resource(Resource::new(API))
                .client(
                    ClientRegistration::public("agent")
                        .redirect_uri(REDIRECT)
                        .resource(MCP)
                        .resource(API),
                )
                .client(
                    ClientRegistration::confidential("robot", ROBOT_SECRET)
                        .allowed_scopes(["notes:read"])
                        .client_credentials()
                        .resource(MCP),
                ),
        )
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    Harness {
        pages: pow_testkit::serve(config.clone()),
        mcp: serve_mcp(config),
        user_id: user.id,
    }
}

fn authorize_path(scope: &str, resource: Option<&str>) -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", "agent"),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(resource) = resource {
        params.push(("resource", resource));
    }
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(params).unwrap()
    )
}

fn token(h: &Harness, form: &[(&str, &str)]) -> (u16, Value) {
    let res = Client::new(h.pages).post("/oauth/token", form);
    (res.status, serde_json::from_str(&res.body).unwrap())
}

/// An access token of `scope` for `resource`.
fn access_token(h: &Harness, browser: &mut Client, scope: &str, resource: Option<&str>) -> String {
    let location = authorize(browser, &authorize_path(scope, resource));
    let code = param(&location, "code").unwrap_or_else(|| panic!("{location}"));
    let (status, tokens) = token(
        h,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "agent"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn call_mcp(h: &Harness, token: Option<&str>) -> Response {
    let mut client = Client::new(h.mcp);
    if let Some(token) = token {
        client
            .headers
            .push(("authorization".into(), format!("Bearer {token}")));
    }
    client.post("/mcp", &[])
}

fn a_token_for_the_resource_works_there_only() {
    let h = start();
    // The metadata names the authorization server.
    let mut visitor = Client::new(h.pages);
    let res = visitor.get("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(res.status, 200);
    let doc: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(doc["resource"], MCP);
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!(["http://localhost"])
    );
    assert_eq!(doc["scopes_supported"], serde_json::json!(["notes:read"]));
    assert_eq!(doc["resource_name"], "Notes MCP");
    // Without a token: where to learn how to get one.
    let refused = call_mcp(&h, None);
    assert_eq!(refused.status, 401);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(
            "resource_metadata=\"http://localhost/.well-known/oauth-protected-resource/mcp\""
        ),
        "{challenge}"
    );
    let mut browser = Client::new(h.pages);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let token = access_token(&h, &mut browser, "notes:read", Some(MCP));
    let res = call_mcp(&h, Some(&token));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body, format!("agent:{}", h.user_id));
    // A token for another resource, or for none, is refused here.
    for other in [Some(API), None] {
        let token = access_token(&h, &mut browser, "notes:read", other);
        let res = call_mcp(&h, Some(&token));
        assert_eq!(res.status, 401, "{other:?}");
        assert!(res
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""));
    }
    // A token without the scope: 403.
    let token = access_token(&h, &mut browser, "notes:write", Some(MCP));
    let res = call_mcp(&h, Some(&token));
    assert_eq!(res.status, 403);
    assert!(res
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));
    // A made-up token.
    assert_eq!(call_mcp(&h, Some("powat_madeup")).status, 401);
}

fn a_resource_the_provider_does_not_serve_is_refused() {
    let h = start();
    let mut browser = Client::new(h.pages);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let res = browser.get(&authorize_path(
        "notes:read",
        Some("https://elsewhere.example/mcp"),
    ));
    assert_eq!(
        param(res.location(), "error").as_deref(),
        Some("invalid_target")
    );
    // At the token endpoint, only the resource authorized.
    let location = authorize(&mut browser, &authorize_path("notes:read", Some(MCP)));
    let code = param(&location, "code").unwrap();
    let (status, body) = token(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "agent"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("resource", API),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
}

fn a_client_acting_for_itself_gets_what_it_was_given_and_no_more() {
    let h = start();
    let as_robot = |form: &[(&str, &str)]| {
        let mut client = Client::new(h.pages);
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("robot:{ROBOT_SECRET}"));
        client
            .headers
            .push(("authorization".into(), format!("Basic {basic}")));
        let res = client.post("/oauth/token", form);
        (
            res.status,
            serde_json::from_str::<Value>(&res.body).unwrap(),
        )
    };
    let (status, tokens) = as_robot(&[("grant_type", "client_credentials"), ("resource", MCP)]);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "notes:read");
    assert!(tokens.get("refresh_token").is_none() && tokens.get("id_token").is_none());
    let access = tokens["access_token"].as_str().unwrap();
    let res = call_mcp(&h, Some(access));
    assert_eq!((res.status, res.body.as_str()), (200, "robot:-"), "no user");
    // Nothing it was not given, nothing that needs a user.
    for scope in ["notes:write", "openid", "offline_access"] {
        let (status, body) = as_robot(&[("grant_type", "client_credentials"), ("scope", scope)]);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope")),
            "{scope}"
        );
    }
    // Its token has no user to tell about.
    let mut client = Client::new(h.pages);
    client
        .headers
        .push(("authorization".into(), format!("Bearer {access}")));
    assert_eq!(client.get("/oauth/userinfo").status, 401);
    // A public client, or one without the grant, gets nothing.
    let (status, body) = token(
        &h,
        &[("grant_type", "client_credentials"), ("client_id", "agent")],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

/// A remembered consent covers the resources the user allowed the client, no other: a
/// request for another resource shows the consent page again; one for a resource allowed
/// before goes straight back with a code.
fn a_consent_covers_only_the_resources_allowed() {
    let h = start();
    let mut browser = Client::new(h.pages);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let first = browser.get(&authorize_path("notes:read", Some(MCP)));
    assert_eq!(first.status, 200, "the first time: {}", first.body);
    let location = authorize(&mut browser, &authorize_path("notes:read", Some(MCP)));
    assert!(param(&location, "code").is_some(), "{location}");
    // Another resource, the same client and scopes: asked again.
    let other = browser.get(&authorize_path("notes:read", Some(API)));
    assert_eq!(other.status, 200, "asked again for another resource");
    assert!(other.body.contains("user[request]"), "{}", other.body);
    // The resource allowed: no page.
    let again = browser.get(&authorize_path("notes:read", Some(MCP)));
    assert_eq!(again.status, 302, "{}", again.body);
    assert!(param(again.location(), "code").is_some());
    // Once the other one is allowed too, both go straight through.
    authorize(&mut browser, &authorize_path("notes:read", Some(API)));
    for resource in [MCP, API] {
        let res = browser.get(&authorize_path("notes:read", Some(resource)));
        assert_eq!(res.status, 302, "{resource}");
    }
    // The account's applications list what was allowed, resources included.
    let page = browser.get("/oauth/grants");
    assert!(
        page.body.contains(&format!("for {API}, {MCP}")),
        "{}",
        page.body
    );
    browser
        .headers
        .push(("accept".into(), "application/json".into()));
    let grants = browser.get("/oauth/grants");
    assert_eq!(grants.status, 200, "{}", grants.body);
    let grants: Value = serde_json::from_str(&grants.body).unwrap();
    assert_eq!(
        grants["grants"][0]["resources"],
        serde_json::json!([API, MCP]),
        "{grants}"
    );
}

pow_testkit::on_both!(
    a_consent_covers_only_the_resources_allowed,
    a_client_acting_for_itself_gets_what_it_was_given_and_no_more,
    a_token_for_the_resource_works_there_only,
    a_resource_the_provider_does_not_serve_is_refused,
);

//! JWT access tokens (RFC 9068) and ES256 keys over HTTP, on actix-web and on axum: a
//! resource that asks for JWTs gets tokens typed `at+jwt`, signed with a key the JWKS
//! publishes and bound to it by `aud`; its guard accepts them, every other resource refuses
//! them; they stay revocable (RFC 7009) and end with their family when a refresh token is
//! reused, at the guard and at introspection alike; a refresh or the client credentials
//! grant gets JWTs again. An ES256 provider advertises ES256, publishes P-256 keys and signs
//! ID tokens and JWT access tokens with them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{AccessToken, AccessTokenHash, ClientId, IssuerUrl, JsonWebKey as _, Nonce};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::{Client, Response};
use pow_actix::PowConfig;
use pow_ext_provider::{ClientRegistration, Provider, Resource, ResourceAccess, SigningAlgorithm};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;
use common::{authorize, param};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const ISSUER: &str = "http://localhost";
/// The resource that asks for JWTs.
const MCP: &str = "http://127.0.0.1/mcp";
/// A resource with opaque tokens.
const API: &str = "http://127.0.0.1/api";
const REDIRECT: &str = "https://partner.example/cb";
const PARTNER_SECRET: &str = "partner-secret-of-forty-characters-long!";
const ROBOT_SECRET: &str = "a robot's secret of thirty-two characters";
const VERIFIER: &str = "a-pkce-verifier-of-forty-three-characters-or-more-0123";
const NONCE: &str = "n0nce";

struct Harness {
    pages: SocketAddr,
    guards: SocketAddr,
    user_id: i64,
}

/// The resources, by the path their guard is served at.
fn resources() -> Vec<(&'static str, Resource)> {
    vec![
        (
            "/mcp",
            Resource::new(MCP)
                .scopes(["notes:read"])
                .jwt_access_tokens(),
        ),
        ("/api", Resource::new(API).scopes(["notes:read"])),
    ]
}

/// Who a token is: `<client>:<user id>`, `-` for no user.
fn who(access: &ResourceAccess) -> String {
    let user = access
        .user_id
        .map_or_else(|| "-".to_owned(), |id| id.to_string());
    format!("{}:{user}", access.client_id)
}

/// `POST /mcp` and `POST /api` on the test's framework: each resource's guard
/// (`RequireAccess`) in front of a handler that says who the access is.
fn serve_guards(config: PowConfig) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
            use actix_web::{web, App, HttpResponse};
            let mut app = App::new();
            for (path, resource) in resources() {
                let guard = resource.guard(["notes:read"]);
                app = app.service(
                    web::resource(path)
                        .wrap(pow_actix::session::RequireAccess::new(
                            config.clone(),
                            guard,
                        ))
                        .route(
                            web::post().to(|access: web::ReqData<ResourceAccess>| async move {
                                HttpResponse::Ok().body(who(&access))
                            }),
                        ),
                );
            }
            app
        }),
        pow_testkit::Framework::Axum => {
            use axum::Extension;
            let mut app = axum::Router::new();
            for (path, resource) in resources() {
                let guard = resource.guard(["notes:read"]);
                app = app.route(
                    path,
                    axum::routing::post(
                        |Extension(access): Extension<ResourceAccess>| async move { who(&access) },
                    )
                    .route_layer(pow_axum::RequireAccess::new(config.clone(), guard)),
                );
            }
            pow_testkit::serve_axum(app)
        }
    }
}

fn start(algorithm: SigningAlgorithm) -> Harness {
    let users = pow_testkit::sqlite("provider-jwt-access");
    start_on(
        algorithm,
        users,
        MemoryStore::shared(),
        Ring::new(&"k".repeat(64)),
    )
}

/// A key ring: the secret that signs, and the retired one kept beside it.
struct Ring {
    current: String,
    retired: Option<String>,
}

impl Ring {
    fn new(current: &str) -> Self {
        Self {
            current: current.to_owned(),
            retired: None,
        }
    }
}

/// The setup on `users` and `store` with the key ring `ring` (the user is created by the
/// first setup on `users`).
fn start_on(
    algorithm: SigningAlgorithm,
    users: pow_actix::users::diesel::DieselUsersContext,
    store: Arc<dyn pow_core::store::Store>,
    ring: Ring,
) -> Harness {
    let mut provider = Provider::new()
        .scopes(["notes:read"])
        .signing_algorithm(algorithm)
        .client(
            ClientRegistration::confidential("partner", PARTNER_SECRET)
                .redirect_uri(REDIRECT)
                .allowed_scopes(["openid", "email", "offline_access", "notes:read"])
                .resource(MCP)
                .resource(API),
        )
        .client(
            ClientRegistration::confidential("robot", ROBOT_SECRET)
                .allowed_scopes(["notes:read"])
                .client_credentials()
                .resource(MCP)
                .resource(API),
        );
    for (_, resource) in resources() {
        provider = provider.resource(resource);
    }
    let mut builder = PowConfig::builder(ring.current)
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url(ISSUER)
        .store(store)
        .extension(provider);
    if let Some(retired) = ring.retired {
        builder = builder.retired_secret_key_base("before", retired);
    }
    let config = builder.build().unwrap();
    users.migrate(&config).unwrap();
    let user_id = match pow_actix::testing::create_user(&config, EMAIL, PASSWORD) {
        Ok(user) => user.id,
        Err(_) => {
            let email = pow_core::users::Value::from(EMAIL);
            let context = config.users_context().unwrap();
            let user = context.get_by(config.user_schema(), "email", &email);
            user.unwrap().unwrap().id
        }
    };
    Harness {
        pages: pow_testkit::serve(config.clone()),
        guards: serve_guards(config),
        user_id,
    }
}

fn authorize_path(scope: &str, resource: &str) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let params = vec![
        ("response_type", "code"),
        ("client_id", "partner"),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("nonce", NONCE),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", resource),
    ];
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(params).unwrap()
    )
}

/// A `POST` of `form` to `path` as client `id` with `secret` (HTTP Basic).
fn post_as(h: &Harness, path: &str, id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut client = Client::new(h.pages);
    let basic = STANDARD.encode(format!("{id}:{secret}"));
    client
        .headers
        .push(("authorization".into(), format!("Basic {basic}")));
    let res = client.post(path, form);
    (
        res.status,
        serde_json::from_str(&res.body).unwrap_or(Value::Null),
    )
}

fn as_partner(h: &Harness, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    post_as(h, path, "partner", PARTNER_SECRET, form)
}

/// The partner's tokens of `scope` for `resource`, through a signed-in browser.
fn tokens_for(h: &Harness, scope: &str, resource: &str) -> Value {
    let mut browser = Client::new(h.pages);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let location = authorize(&mut browser, &authorize_path(scope, resource));
    let code = param(&location, "code").unwrap_or_else(|| panic!("{location}"));
    let (status, tokens) = as_partner(
        h,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// `POST` to a guard (`/mcp`, `/api`) with `token`.
fn call(h: &Harness, path: &str, token: &str) -> Response {
    let mut client = Client::new(h.guards);
    client
        .headers
        .push(("authorization".into(), format!("Bearer {token}")));
    client.post(path, &[])
}

fn introspect(h: &Harness, token: &str) -> Value {
    let (status, info) = as_partner(h, "/oauth/introspect", &[("token", token)]);
    assert_eq!(status, 200, "{info}");
    info
}

fn userinfo(h: &Harness, token: &str) -> u16 {
    let mut client = Client::new(h.pages);
    client
        .headers
        .push(("authorization".into(), format!("Bearer {token}")));
    client.get("/oauth/userinfo").status
}

fn jwks(h: &Harness) -> CoreJsonWebKeySet {
    let res = Client::new(h.pages).get("/oauth/jwks");
    assert_eq!(res.status, 200);
    serde_json::from_str(&res.body).unwrap()
}

/// A part of a JWT, decoded.
fn part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The claims of JWT `token`, its signature checked against the JWKS's key its `kid`
/// names: the check a resource server of its own makes.
fn verified_claims(h: &Harness, token: &str) -> Value {
    let header = part(token, 0);
    let jwks = jwks(h);
    let key = jwks
        .keys()
        .iter()
        .find(|key| key.key_id().map(|id| id.as_str()) == header["kid"].as_str())
        .unwrap_or_else(|| panic!("no key {} in the JWKS", header["kid"]));
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone()).unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    key.verify_signature(
        &alg,
        input.as_bytes(),
        &URL_SAFE_NO_PAD.decode(signature).unwrap(),
    )
    .expect("the JWKS verifies it");
    part(token, 1)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn a_jwt_access_token_verifies_against_the_jwks_and_works_at_its_resource_only() {
    let h = start(SigningAlgorithm::EdDsa);
    let tokens = tokens_for(&h, "openid notes:read", MCP);
    let access = tokens["access_token"].as_str().unwrap();
    let header = part(access, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(
        header["kid"],
        part(tokens["id_token"].as_str().unwrap(), 0)["kid"],
        "the key that signs ID tokens"
    );
    let claims = verified_claims(&h, access);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], h.user_id.to_string());
    assert_eq!(claims["aud"], MCP);
    assert_eq!(claims["client_id"], "partner");
    assert_eq!(claims["scope"], "openid notes:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!((now() - 120..=now()).contains(&claims["auth_time"].as_i64().unwrap()));
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 32));
    // Its resource's guard accepts it; introspection and userinfo know it.
    let res = call(&h, "/mcp", access);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body, format!("partner:{}", h.user_id));
    let info = introspect(&h, access);
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["aud"], MCP);
    assert_eq!(info["sub"], h.user_id.to_string());
    assert_eq!(info["exp"], claims["exp"]);
    assert_eq!(userinfo(&h, access), 200);
    // Another resource refuses it.
    let res = call(&h, "/api", access);
    assert_eq!(res.status, 401);
    assert!(res
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    // The other resource's tokens stay opaque, and the JWT resource refuses them.
    let opaque = tokens_for(&h, "notes:read", API);
    let opaque = opaque["access_token"].as_str().unwrap();
    assert!(opaque.starts_with("powat_"), "{opaque}");
    assert_eq!(call(&h, "/api", opaque).status, 200);
    assert_eq!(call(&h, "/mcp", opaque).status, 401);
    // A JWT whose claims were changed (another audience) no longer verifies.
    let mut changed = claims.clone();
    changed["aud"] = Value::from(API);
    let parts: Vec<&str> = access.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&changed).unwrap()),
        parts[2]
    );
    assert_eq!(call(&h, "/api", &forged).status, 401);
    assert_eq!(introspect(&h, &forged)["active"], false);
    // Its ID token (`at_hash` over the JWT) is unchanged in kind.
    assert_eq!(
        part(tokens["id_token"].as_str().unwrap(), 0)["alg"],
        "EdDSA"
    );
}

fn a_revoked_jwt_is_refused_at_its_next_use() {
    let h = start(SigningAlgorithm::EdDsa);
    let tokens = tokens_for(&h, "openid notes:read offline_access", MCP);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(call(&h, "/mcp", access).status, 200);
    // Another client's revocation does nothing.
    let (status, _) = post_as(
        &h,
        "/oauth/revoke",
        "robot",
        ROBOT_SECRET,
        &[("token", access)],
    );
    assert_eq!(status, 200);
    assert_eq!(call(&h, "/mcp", access).status, 200);
    // Its own client's ends its family: the JWT (still signed, not expired) and the
    // refresh token with it.
    let (status, _) = as_partner(&h, "/oauth/revoke", &[("token", access)]);
    assert_eq!(status, 200);
    let res = call(&h, "/mcp", access);
    assert_eq!(res.status, 401);
    assert!(res
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    assert_eq!(introspect(&h, access)["active"], false);
    assert_eq!(userinfo(&h, access), 401);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = as_partner(
        &h,
        "/oauth/token",
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    );
    assert_eq!(status, 400);
}

fn a_refresh_issues_a_jwt_again_and_a_reused_refresh_token_ends_them() {
    let h = start(SigningAlgorithm::EdDsa);
    let tokens = tokens_for(&h, "notes:read offline_access", MCP);
    let first = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, rotated) = as_partner(&h, "/oauth/token", &form);
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["access_token"].as_str().unwrap();
    assert_eq!(part(second, 0)["typ"], "at+jwt");
    let claims = verified_claims(&h, second);
    assert_eq!(claims["aud"], MCP);
    assert_ne!(claims["jti"], part(first, 1)["jti"]);
    for token in [first, second] {
        assert_eq!(call(&h, "/mcp", token).status, 200);
        assert_eq!(introspect(&h, token)["active"], true);
    }
    // The spent refresh token again: the family ends, both JWTs with it.
    let (status, refused) = as_partner(&h, "/oauth/token", &form);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    for token in [first, second] {
        assert_eq!(call(&h, "/mcp", token).status, 401);
        assert_eq!(introspect(&h, token)["active"], false);
    }
}

fn a_client_acting_for_itself_gets_a_jwt_naming_it() {
    let h = start(SigningAlgorithm::EdDsa);
    let (status, tokens) = post_as(
        &h,
        "/oauth/token",
        "robot",
        ROBOT_SECRET,
        &[("grant_type", "client_credentials"), ("resource", MCP)],
    );
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = verified_claims(&h, access);
    assert_eq!(claims["sub"], "robot");
    assert_eq!(claims["client_id"], "robot");
    assert!(claims.get("auth_time").is_none(), "no user, no auth_time");
    let res = call(&h, "/mcp", access);
    assert_eq!((res.status, res.body.as_str()), (200, "robot:-"));
    assert_eq!(call(&h, "/api", access).status, 401);
}

fn an_es256_provider_signs_with_p256_keys() {
    let h = start(SigningAlgorithm::Es256);
    let mut client = Client::new(h.pages);
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = serde_json::from_str(&client.get(path).body).unwrap();
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["ES256"]),
            "{path}"
        );
    }
    let published: Value = serde_json::from_str(&client.get("/oauth/jwks").body).unwrap();
    let keys = published["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert!(keys[0].get("d").is_none(), "never the private part");
    let tokens = tokens_for(&h, "openid email notes:read", MCP);
    // The ID token, checked as a relying party does.
    let id_token: CoreIdToken = tokens["id_token"].as_str().unwrap().parse().unwrap();
    let header = part(tokens["id_token"].as_str().unwrap(), 0);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], keys[0]["kid"]);
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new("partner".into()),
        IssuerUrl::new(ISSUER.into()).unwrap(),
        jwks(&h),
    )
    .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&verifier, &Nonce::new(NONCE.into()))
        .expect("the ID token verifies against the JWKS");
    assert_eq!(claims.subject().as_str(), h.user_id.to_string());
    // `at_hash` is over the (JWT) access token, with ES256's hash.
    let access = tokens["access_token"].as_str().unwrap();
    let expected = AccessTokenHash::from_token(
        &AccessToken::new(access.to_owned()),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    // The JWT access token is ES256 too, and works at its resource.
    assert_eq!(part(access, 0)["alg"], "ES256");
    assert_eq!(verified_claims(&h, access)["aud"], MCP);
    assert_eq!(call(&h, "/mcp", access).status, 200);
}

/// A key rotation over HTTP: the new key signs at once; the JWKS publishes it first and
/// keeps the retired one while the ring holds its secret, so tokens signed before still
/// verify (against the JWKS and at the guard); once the ring lets it go, they are refused.
fn a_rotated_key_verifies_its_tokens_while_the_ring_keeps_it() {
    let users = pow_testkit::sqlite("provider-jwt-rotation");
    let store = MemoryStore::shared();
    let (old, new) = ("o".repeat(64), "n".repeat(64));
    let before = start_on(
        SigningAlgorithm::EdDsa,
        users.clone(),
        Arc::clone(&store),
        Ring::new(&old),
    );
    let tokens = tokens_for(&before, "openid notes:read", MCP);
    let access = tokens["access_token"].as_str().unwrap();
    let old_kid = part(access, 0)["kid"].clone();
    let kids = |h: &Harness| -> Vec<Value> {
        jwks(h)
            .keys()
            .iter()
            .map(|key| Value::from(key.key_id().unwrap().as_str()))
            .collect()
    };
    assert_eq!(kids(&before), vec![old_kid.clone()]);

    let rotated = start_on(
        SigningAlgorithm::EdDsa,
        users.clone(),
        Arc::clone(&store),
        Ring {
            current: new.clone(),
            retired: Some(old),
        },
    );
    let fresh = tokens_for(&rotated, "openid notes:read", MCP);
    let new_kid = part(fresh["access_token"].as_str().unwrap(), 0)["kid"].clone();
    assert_ne!(new_kid, old_kid, "the new key signs");
    assert_eq!(part(fresh["id_token"].as_str().unwrap(), 0)["kid"], new_kid);
    assert_eq!(kids(&rotated), vec![new_kid.clone(), old_kid.clone()]);
    assert_eq!(verified_claims(&rotated, access)["aud"], MCP);
    let res = call(&rotated, "/mcp", access);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(introspect(&rotated, access)["active"], true);

    let after = start_on(SigningAlgorithm::EdDsa, users, store, Ring::new(&new));
    assert_eq!(kids(&after), vec![new_kid]);
    assert_eq!(call(&after, "/mcp", access).status, 401);
    assert_eq!(introspect(&after, access)["active"], false);
    let still = call(&after, "/mcp", fresh["access_token"].as_str().unwrap());
    assert_eq!(still.status, 200, "{}", still.body);
}

pow_testkit::on_both!(
    a_rotated_key_verifies_its_tokens_while_the_ring_keeps_it,
    a_jwt_access_token_verifies_against_the_jwks_and_works_at_its_resource_only,
    a_revoked_jwt_is_refused_at_its_next_use,
    a_refresh_issues_a_jwt_again_and_a_reused_refresh_token_ends_them,
    a_client_acting_for_itself_gets_a_jwt_naming_it,
    an_es256_provider_signs_with_p256_keys,
);

//! The provider over HTTP, on actix-web and on axum from one source, on SQLite and
//! PostgreSQL (the races and refresh reuse on Redis and the SQL cache store too):
//! discovery and the JWKS, the authorization code flow with PKCE through the consent page,
//! tokens, userinfo, refresh rotation, and every refusal: unknown clients and redirect URIs
//! (never redirected to), PKCE missing or `plain`, `prompt=none`, deny, a
//! code redeemed twice (its tokens end) or many times at once (one token set, then all
//! ended), a reused refresh token (its family ends), revocation and introspection scoped
//! to the client, support access, a disabled user's tokens, every other end of an
//! account's credentials (password change, sign out everywhere, deletion, erasure), and
//! the export and erasure of the grants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, User};
use pow_core::time::Clock;
use pow_ext_provider::{ClientRegistration, Provider};
use serde_json::Value;
use sha2::{Digest, Sha256};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const SECRET: &str = "partner-secret-of-forty-characters-long!";
const SPA_REDIRECT: &str = "https://notes.example/callback";
const CLI_REDIRECT: &str = "http://127.0.0.1/callback";
const SIGNED_OUT: &str = "https://notes.example/signed-out";
const VERIFIER: &str = "a-pkce-verifier-of-forty-three-characters-or-more-0123";

struct Harness {
    config: PowConfig,
    addr: SocketAddr,
    user: User,
}

fn provider() -> Provider {
    Provider::new()
        .scopes(["notes:read"])
        .profile_claim("preferred_username", "email")
        .acr_value(
            "pwd",
            pow_core::session::StepUp::any_of(
                [pow_core::session::AuthMethod::PASSWORD],
                Duration::from_secs(600),
            ),
        )
        .client(
            ClientRegistration::public("notes-web")
                .name("Notes for the web")
                .redirect_uri(SPA_REDIRECT)
                .post_logout_redirect_uri(SIGNED_OUT),
        )
        .client(ClientRegistration::public("cli").redirect_uri(CLI_REDIRECT))
        .client(
            ClientRegistration::confidential("partner", SECRET)
                .redirect_uri("https://partner.example/cb")
                .allowed_scopes(["openid", "email", "offline_access"]),
        )
}

fn start(users: DieselUsersContext) -> Harness {
    let clock = Clock::adjustable();
    let store = Arc::new(MemoryStore::new().with_clock(&clock));
    start_with(users, store, clock)
}

/// The setup on `users` with the cache store `store`, where the tokens live.
fn start_on(users: DieselUsersContext, store: Arc<dyn pow_core::store::Store>) -> Harness {
    start_with(users, store, Clock::system())
}

fn start_with(
    users: DieselUsersContext,
    store: Arc<dyn pow_core::store::Store>,
    clock: Clock,
) -> Harness {
    let config = PowConfig::builder("k".repeat(64))
        .clock(clock.clone())
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(store)
        .user_disabling(true)
        .extension(provider())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config.clone());
    Harness { config, addr, user }
}

fn sqlite() -> Harness {
    start(pow_testkit::sqlite("provider"))
}

/// The provider's OpenID discovery document.
fn discovery(h: &Harness) -> Value {
    let res = Client::new(h.addr).get("/.well-known/openid-configuration");
    assert_eq!(res.status, 200, "{}", res.body);
    serde_json::from_str(&res.body).unwrap()
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The query of an authorization request of `client` to `redirect`, with `extra`.
fn authorize_path(client: &str, redirect: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let challenge = challenge(VERIFIER);
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", "st4te"),
        ("nonce", "n0nce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.retain(|(name, _)| !extra.iter().any(|(have, _)| have == name));
    params.extend(extra.iter().copied().filter(|(_, value)| !value.is_empty()));
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(params).unwrap()
    )
}

/// The query parameters of a redirect's location.
fn query_of(location: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

fn param(location: &str, name: &str) -> Option<String> {
    query_of(location)
        .into_iter()
        .find(|(have, _)| have == name)
        .map(|(_, value)| value)
}

/// A signed-in browser.
fn browser(h: &Harness) -> Client {
    let mut client = Client::new(h.addr);
    let res = client.sign_in(EMAIL, PASSWORD);
    assert_eq!(res.status, 302, "{}", res.body);
    client
}

/// Through the consent page (allowing, unless the user consented before) to the
/// client's redirect: its location.
fn consent(client: &mut Client, path: &str) -> String {
    let page = client.get(path);
    if page.status == 302 {
        return page.location().to_owned();
    }
    assert_eq!(page.status, 200, "{}", page.body);
    let pending = hidden(&page, "request");
    let res = client.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[request]", &pending),
            ("user[decision]", "allow"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    res.location().to_owned()
}

/// The value of the page's first hidden field `name`.
fn hidden(page: &Response, name: &str) -> String {
    let marker = format!("name=\"user[{name}]\" value=\"");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {}", page.body))
        + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].to_owned()
}

/// A token request with `form`, as client `basic` (id, secret) when given.
fn token(h: &Harness, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut client = Client::new(h.addr);
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        client
            .headers
            .push(("authorization".into(), format!("Basic {encoded}")));
    }
    let res = client.post("/oauth/token", form);
    assert_eq!(
        res.header("cache-control"),
        Some("no-store"),
        "{}",
        res.body
    );
    (res.status, serde_json::from_str(&res.body).unwrap())
}

fn redeem(h: &Harness, code: &str) -> (u16, Value) {
    token(
        h,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "notes-web"),
            ("code", code),
            ("redirect_uri", SPA_REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
}

fn userinfo(h: &Harness, access: &str) -> (u16, String) {
    let mut client = Client::new(h.addr);
    client
        .headers
        .push(("authorization".into(), format!("Bearer {access}")));
    let res = client.get("/oauth/userinfo");
    (res.status, res.body)
}

/// A code for the SPA client with `scope`, through the consent page.
fn code_for(_: &Harness, browser: &mut Client, scope: &str) -> String {
    let location = consent(
        browser,
        &authorize_path("notes-web", SPA_REDIRECT, scope, &[]),
    );
    assert!(location.starts_with(SPA_REDIRECT), "{location}");
    param(&location, "code").expect("a code")
}

fn discovery_and_jwks_advertise_only_what_is_on() {
    let h = sqlite();
    let mut client = Client::new(h.addr);
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let res = client.get(path);
        assert_eq!(res.status, 200, "{path}");
        let doc: Value = serde_json::from_str(&res.body).unwrap();
        assert_eq!(doc["issuer"], "http://localhost");
        assert_eq!(doc["token_endpoint"], "http://localhost/oauth/token");
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["EdDSA"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert!(!res.body.contains("plain"));
        // Off here: no device grant, client credentials, metadata documents or
        // registration is advertised.
        let grants = doc["grant_types_supported"].as_array().unwrap();
        assert!(
            !grants.iter().any(|grant| grant == "client_credentials"
                || grant == "urn:ietf:params:oauth:grant-type:device_code"),
            "{grants:?}"
        );
        for absent in [
            "device_authorization_endpoint",
            "client_id_metadata_document_supported",
            "registration_endpoint",
        ] {
            assert!(doc.get(absent).is_none(), "{absent}");
        }
        assert!(res.header("cache-control").unwrap().contains("max-age"));
    }
    let jwks = client.get("/oauth/jwks");
    assert_eq!(jwks.status, 200);
    assert_eq!(
        jwks.header("content-type"),
        Some("application/jwk-set+json")
    );
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let doc: Value = serde_json::from_str(&jwks.body).unwrap();
    let key = &doc["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert!(key["kid"].is_string());
    assert!(
        key.get("d").is_none(),
        "the private part is never published"
    );
    // A method the endpoint does not take.
    let res = client.request("DELETE", "/oauth/token", None);
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("POST"));
}

fn the_code_flow_issues_tokens_that_work_and_rotate() {
    let h = sqlite();
    let mut browser = browser(&h);
    let page = browser.get(&authorize_path(
        "notes-web",
        SPA_REDIRECT,
        "openid email offline_access",
        &[],
    ));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Notes for the web"), "the client's name");
    assert!(
        page.body.contains("https://notes.example"),
        "where it sends the browser"
    );
    assert!(page.body.contains("See your email address"), "each scope");
    assert!(page.body.contains("Deny"));
    let location = consent(
        &mut browser,
        &authorize_path(
            "notes-web",
            SPA_REDIRECT,
            "openid email offline_access",
            &[],
        ),
    );
    assert_eq!(param(&location, "state").as_deref(), Some("st4te"));
    assert_eq!(param(&location, "iss").as_deref(), Some("http://localhost"));
    let code = param(&location, "code").unwrap();
    let (status, tokens) = redeem(&h, &code);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], h.user.id.to_string());
    assert_eq!(claims["aud"], serde_json::json!(["notes-web"]));
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["email"], EMAIL);
    assert!(claims["at_hash"].is_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(
        (now - 120..=now).contains(&auth_time),
        "auth_time {auth_time} is the sign-in, in seconds"
    );
    let (status, body) = userinfo(&h, access);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(EMAIL));
    // The refresh token rotates: the new pair works, the old refresh token is spent.
    let refresh_form = |token: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", "notes-web".to_owned()),
            ("refresh_token", token.to_owned()),
        ]
    };
    let form = refresh_form(refresh);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, rotated) = token(&h, None, &pairs);
    assert_eq!(status, 200, "{rotated}");
    let new_access = rotated["access_token"].as_str().unwrap();
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    assert_eq!(userinfo(&h, new_access).0, 200);
    // The old refresh token again: refused, and the whole family ends.
    let (status, refused) = token(&h, None, &pairs);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(userinfo(&h, new_access).0, 401);
    assert_eq!(userinfo(&h, access).0, 401);
    // The consent is remembered: the next request goes straight back with a code.
    let again = browser.get(&authorize_path(
        "notes-web",
        SPA_REDIRECT,
        "openid email",
        &[],
    ));
    assert_eq!(again.status, 302);
    assert!(param(again.location(), "code").is_some());
    // `prompt=login` right after a sign-in goes on (the proof is fresh); `max_age` too.
    let fresh = browser.get(&authorize_path(
        "notes-web",
        SPA_REDIRECT,
        "openid",
        &[("prompt", "login"), ("max_age", "600")],
    ));
    assert_eq!(fresh.status, 302);
    assert!(
        param(fresh.location(), "code").is_some(),
        "{}",
        fresh.location()
    );
    // `prompt=consent` asks again.
    let asked = browser.get(&authorize_path(
        "notes-web",
        SPA_REDIRECT,
        "openid",
        &[("prompt", "consent")],
    ));
    assert_eq!(asked.status, 200);
}

fn a_code_redeemed_twice_ends_what_it_issued() {
    let h = sqlite();
    let mut browser = browser(&h);
    let code = code_for(&h, &mut browser, "openid offline_access");
    let (status, tokens) = redeem(&h, &code);
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&h, &access).0, 200);
    let (status, refused) = redeem(&h, &code);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo(&h, &access).0,
        401,
        "the first redemption's tokens end"
    );
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = token(
        &h,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "notes-web"),
            ("refresh_token", refresh),
        ],
    );
    assert_eq!(status, 400);
}

async fn parallel_redemptions_issue_one_token_set_then_end_it() {
    race_for_a_code(sqlite(), true).await;
}

/// The same race with the consents in PostgreSQL.
async fn parallel_redemptions_on_postgres() {
    let Some(users) = pow_testkit::postgres("provider_race") else {
        return;
    };
    let h = tokio::task::spawn_blocking(move || start(users))
        .await
        .unwrap();
    race_for_a_code(h, true).await;
}

/// The same race with the codes and tokens in Redis.
async fn parallel_redemptions_on_redis() {
    let Some(h) = tokio::task::spawn_blocking(on_redis).await.unwrap() else {
        return;
    };
    // Over the network, the losers' reuse marks can land before the winner's tokens are
    // issued: then the winner's are ended as well, and nobody gets a token set.
    race_for_a_code(h, false).await;
}

/// A harness on SQLite users with the Redis cache store, or `None` (with a notice) when
/// `POW_TEST_REDIS_URL` is unset outside CI.
fn on_redis() -> Option<Harness> {
    let url = pow_core::testing::test_redis_url()?;
    let prefix = format!("pow-provider-{}", pow_core::token::generate_uuid());
    let store = pow_core::testing::test_redis_store(&url, &prefix).unwrap();
    Some(start_on(pow_testkit::sqlite("provider-redis"), store))
}

/// Many parallel redemptions of one code: one token set at most (exactly one when
/// `one_wins`: with an in-process store the winner issues before a loser is answered),
/// every other answer `invalid_grant`, then every token of it ended.
async fn race_for_a_code(h: Harness, one_wins: bool) {
    let addr = h.addr;
    let code = tokio::task::spawn_blocking({
        let h = Harness {
            config: h.config.clone(),
            addr: h.addr,
            user: h.user.clone(),
        };
        move || {
            let mut browser = browser(&h);
            code_for(&h, &mut browser, "openid")
        }
    })
    .await
    .unwrap();
    let body = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("client_id", "notes-web"),
        ("code", code.as_str()),
        ("redirect_uri", SPA_REDIRECT),
        ("code_verifier", VERIFIER),
    ])
    .unwrap();
    let headers = vec![(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let attempts =
        (0..12).map(|_| pow_testkit::http(addr, "POST", "/oauth/token", &headers, body.as_bytes()));
    let answers = futures_util::future::join_all(attempts).await;
    let won: Vec<_> = answers
        .iter()
        .filter(|answer| answer.status == 200)
        .collect();
    match one_wins {
        true => assert_eq!(won.len(), 1, "one redemption of {}", answers.len()),
        false => assert!(won.len() <= 1, "{} redemptions won", won.len()),
    }
    assert!(answers.iter().all(|answer| answer.status == 200
        || (answer.status == 400 && answer.json()["error"] == "invalid_grant")));
    for winner in won {
        let access = winner.json()["access_token"].as_str().unwrap().to_owned();
        let auth = vec![("authorization".to_owned(), format!("Bearer {access}"))];
        let info = pow_testkit::http(addr, "GET", "/oauth/userinfo", &auth, b"").await;
        assert_eq!(info.status, 401, "the others ended the winner's tokens");
    }
    // And the code is spent.
    let late = pow_testkit::http(addr, "POST", "/oauth/token", &headers, body.as_bytes()).await;
    assert_eq!(late.status, 400);
}

fn requests_that_cannot_go_back_are_answered_here() {
    let h = sqlite();
    let mut browser = browser(&h);
    let unknown = browser.get(&authorize_path("nobody", SPA_REDIRECT, "openid", &[]));
    assert_eq!(unknown.status, 400);
    assert!(unknown.header("location").is_none());
    assert!(unknown.body.contains("not known here"));
    let elsewhere = browser.get(&authorize_path(
        "notes-web",
        "https://evil.example/cb",
        "openid",
        &[],
    ));
    assert_eq!(elsewhere.status, 400);
    assert!(elsewhere.header("location").is_none());
    // A loopback redirect of a native client matches on any port, nothing else does.
    let native = browser.get(&authorize_path(
        "cli",
        "http://127.0.0.1:49152/callback",
        "openid",
        &[],
    ));
    assert_eq!(native.status, 200);
    let other_path = browser.get(&authorize_path(
        "cli",
        "http://127.0.0.1:49152/other",
        "openid",
        &[],
    ));
    assert_eq!(other_path.status, 400);
}

fn refusals_go_back_to_the_client_with_an_error_and_iss() {
    let h = sqlite();
    let mut browser = browser(&h);
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("code_challenge", "")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("scope", "openid admin")], "invalid_scope"),
        (&[("prompt", "none login")], "invalid_request"),
    ];
    for (extra, error) in cases {
        let res = browser.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", extra));
        assert_eq!(res.status, 302, "{extra:?}");
        let location = res.location();
        assert!(location.starts_with(SPA_REDIRECT), "{location}");
        assert_eq!(
            param(location, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(param(location, "state").as_deref(), Some("st4te"));
        assert_eq!(param(location, "iss").as_deref(), Some("http://localhost"));
    }
    // A scope the client may not ask for.
    let res = browser.get(&authorize_path(
        "partner",
        "https://partner.example/cb",
        "openid notes:read",
        &[],
    ));
    assert_eq!(
        param(res.location(), "error").as_deref(),
        Some("invalid_scope")
    );
    // `prompt=none` without a consent: `consent_required`, no page.
    let res = browser.get(&authorize_path(
        "notes-web",
        SPA_REDIRECT,
        "openid",
        &[("prompt", "none")],
    ));
    assert_eq!(
        param(res.location(), "error").as_deref(),
        Some("consent_required")
    );
    // Deny.
    let page = browser.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", &[]));
    let pending = hidden(&page, "request");
    let res = browser.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[request]", &pending),
            ("user[decision]", "deny"),
        ],
    );
    assert_eq!(
        param(res.location(), "error").as_deref(),
        Some("access_denied")
    );
    // The same pending request again: answered already.
    let res = browser.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[request]", &pending),
            ("user[decision]", "allow"),
        ],
    );
    assert_eq!(res.status, 400);
    // Signed out: `prompt=none` answers `login_required`; otherwise off to sign in and back.
    let mut visitor = Client::new(h.addr);
    let res = visitor.get(&authorize_path(
        "notes-web",
        SPA_REDIRECT,
        "openid",
        &[("prompt", "none")],
    ));
    assert_eq!(
        param(res.location(), "error").as_deref(),
        Some("login_required")
    );
    let res = visitor.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", &[]));
    assert_eq!(res.status, 302);
    assert!(
        res.location()
            .starts_with("/session/new?request_path=%2Foauth%2Fauthorize"),
        "{}",
        res.location()
    );
}

fn the_token_endpoint_refuses_what_does_not_match() {
    let h = sqlite();
    let mut browser = browser(&h);
    // The wrong verifier uses the code up.
    let code = code_for(&h, &mut browser, "openid");
    let (status, body) = token(
        &h,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "notes-web"),
            ("code", &code),
            (
                "code_verifier",
                "another-verifier-of-forty-three-characters-or-more-99",
            ),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(redeem(&h, &code).0, 400);
    // Another client's code.
    let code = code_for(&h, &mut browser, "openid");
    let (status, _) = token(
        &h,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "cli"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(status, 400);
    // A confidential client with a wrong secret, or none.
    let (status, body) = token(
        &h,
        Some(("partner", "wrong")),
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) = token(
        &h,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "partner"),
            ("refresh_token", "x"),
        ],
    );
    assert_eq!(status, 401);
    // Repeated parameters, an unknown grant.
    let (status, body) = token(
        &h,
        None,
        &[
            ("client_id", "cli"),
            ("grant_type", "password"),
            ("grant_type", "password"),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = token(
        &h,
        None,
        &[("client_id", "cli"), ("grant_type", "password")],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

fn revocation_and_introspection_answer_only_the_token_s_client() {
    let h = sqlite();
    let mut browser = browser(&h);
    let location = consent(
        &mut browser,
        &authorize_path(
            "partner",
            "https://partner.example/cb",
            "openid offline_access",
            &[],
        ),
    );
    let code = param(&location, "code").unwrap();
    let (status, tokens) = token(
        &h,
        Some(("partner", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let (_, info) = token_like(
        &h,
        "/oauth/introspect",
        Some(("partner", SECRET)),
        &[("token", access)],
    );
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "partner");
    // A public client may not introspect, nor revoke another client's token.
    let (status, _) = token_like(
        &h,
        "/oauth/introspect",
        None,
        &[("client_id", "cli"), ("token", access)],
    );
    assert_eq!(status, 401);
    let (status, _) = token_like(
        &h,
        "/oauth/revoke",
        None,
        &[("client_id", "cli"), ("token", access)],
    );
    assert_eq!(status, 200, "RFC 7009: the same answer either way");
    assert_eq!(
        userinfo(&h, access).0,
        200,
        "another client's revocation does nothing"
    );
    // Its own client revokes it: the family ends, the refresh token with it.
    let (status, _) = token_like(
        &h,
        "/oauth/revoke",
        Some(("partner", SECRET)),
        &[("token", access)],
    );
    assert_eq!(status, 200);
    assert_eq!(userinfo(&h, access).0, 401);
    let (_, info) = token_like(
        &h,
        "/oauth/introspect",
        Some(("partner", SECRET)),
        &[("token", access)],
    );
    assert_eq!(info["active"], false);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = token(
        &h,
        Some(("partner", SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    );
    assert_eq!(status, 400);
}

/// A `POST` of `form` to `path` as the token endpoint's are sent.
fn token_like(
    h: &Harness,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut client = Client::new(h.addr);
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        client
            .headers
            .push(("authorization".into(), format!("Basic {encoded}")));
    }
    let res = client.post(path, form);
    (
        res.status,
        serde_json::from_str(&res.body).unwrap_or(Value::Null),
    )
}

fn a_disabled_user_s_tokens_end() {
    let h = sqlite();
    let mut browser = browser(&h);
    let code = code_for(&h, &mut browser, "openid");
    let (_, tokens) = redeem(&h, &code);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&h, access).0, 200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(pow_core::admin::disable_user(&h.config, &h.user))
        .unwrap();
    assert_eq!(userinfo(&h, access).0, 401);
}

fn the_consent_page_answers_json_to_a_client_that_asks() {
    let h = sqlite();
    let mut browser = browser(&h);
    browser
        .headers
        .push(("accept".into(), "application/json".into()));
    let res = browser.get(&authorize_path(
        "notes-web",
        SPA_REDIRECT,
        "openid email",
        &[],
    ));
    assert_eq!(res.status, 200, "{}", res.body);
    let body: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["client"]["name"], "Notes for the web");
    assert_eq!(body["redirect_host"], "https://notes.example");
    assert_eq!(body["scopes"], serde_json::json!(["openid", "email"]));
    assert!(body["request"].is_string());
}

fn the_flow_runs_on_postgres() {
    let Some(users) = pow_testkit::postgres("provider") else {
        return;
    };
    let h = start(users);
    let mut browser = browser(&h);
    let code = code_for(&h, &mut browser, "openid");
    let (status, tokens) = redeem(&h, &code);
    assert_eq!(status, 200, "{tokens}");
    // The consent is kept in PostgreSQL: the next request skips the page.
    let again = browser.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", &[]));
    assert_eq!(again.status, 302);
}

fn the_account_lists_and_revokes_what_it_allowed() {
    let users = pow_testkit::sqlite("provider-grants");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .extension(provider())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = pow_testkit::serve_with_api(config.clone(), pow_core::api::ApiOptions::new());
    let h = Harness { config, addr, user };
    let mut browser = browser(&h);
    let code = code_for(&h, &mut browser, "openid offline_access");
    let (_, tokens) = redeem(&h, &code);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // The account page links to the applications page, which lists the client.
    let account = browser.get("/registration/edit");
    assert!(
        account.body.contains("/oauth/grants"),
        "the account page links to it"
    );
    let page = browser.get("/oauth/grants");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Notes for the web"));
    // The JSON API, with a token pair of the app's own API.
    let pair = browser.request("POST", "/token", Some(String::new()));
    let pair: Value = serde_json::from_str(&pair.body).unwrap();
    let api_token = pair["access_token"].as_str().unwrap().to_owned();
    let mut api = Client::new(h.addr);
    api.headers
        .push(("authorization".into(), format!("Bearer {api_token}")));
    let listed = api.get("/api/v1/oauth/grants");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed: Value = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(listed["data"][0]["client_id"], "notes-web");
    assert_eq!(
        listed["data"][0]["scopes"],
        serde_json::json!(["offline_access", "openid"])
    );
    // Revoked on the page: the client's tokens end, and it asks for consent again.
    let res = browser.post(
        "/oauth/grants/revoke",
        &[("_csrf_token", &page.csrf()), ("user[client]", "notes-web")],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(userinfo(&h, &access).0, 401);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = token(
        &h,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "notes-web"),
            ("refresh_token", refresh),
        ],
    );
    assert_eq!(status, 400);
    let again = browser.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", &[]));
    assert_eq!(again.status, 200, "the consent page again");
    // Through the API: nothing left to revoke.
    let gone = api.request("DELETE", "/api/v1/oauth/grants/notes-web", None);
    assert_eq!(gone.status, 404, "{}", gone.body);
}

/// The claims of the ID token in `tokens` (read, not verified: the tests of the JWKS do).
fn id_token_claims(tokens: &Value) -> Value {
    let id_token = tokens["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `acr_values` maps onto the engine's step-up rules: the first value the provider knows
/// must be met by the session; the ID token names it, with the methods the session proved;
/// a rule no page can meet answers `unmet_authentication_requirements`.
fn acr_values_map_onto_step_up_rules() {
    let h = sqlite();
    let doc = discovery(&h);
    assert_eq!(
        doc["acr_values_supported"],
        serde_json::json!(["mfa", "phr", "pwd"])
    );
    let mut browser = browser(&h);
    let location = consent(
        &mut browser,
        &authorize_path(
            "notes-web",
            SPA_REDIRECT,
            "openid",
            &[("acr_values", "gold pwd")],
        ),
    );
    let code = param(&location, "code").unwrap_or_else(|| panic!("{location}"));
    let (status, tokens) = redeem(&h, &code);
    assert_eq!(status, 200, "{tokens}");
    let claims = id_token_claims(&tokens);
    assert_eq!(claims["acr"], "pwd");
    assert_eq!(claims["amr"], serde_json::json!(["password"]));
    // No second factor in this setup: `mfa` cannot be met, with or without a prompt.
    for extra in [
        &[("acr_values", "mfa")][..],
        &[("acr_values", "mfa"), ("prompt", "none")],
    ] {
        let res = browser.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", extra));
        assert_eq!(res.status, 302, "{}", res.body);
        assert_eq!(
            param(res.location(), "error").as_deref(),
            Some("unmet_authentication_requirements"),
            "{}",
            res.location()
        );
    }
    // Without `acr_values`, no `acr` claim.
    let location = consent(
        &mut browser,
        &authorize_path("notes-web", SPA_REDIRECT, "openid", &[]),
    );
    let (_, tokens) = redeem(&h, &param(&location, "code").unwrap());
    let claims = id_token_claims(&tokens);
    assert!(claims.get("acr").is_none(), "{claims}");
}

/// `max_age` and `prompt=login` against a sign-in that has aged: the user proves their
/// password again (or, with `prompt=none`, the client hears `login_required`), then the
/// request goes on and the ID token's `auth_time` is the new proof.
fn a_stale_sign_in_proves_itself_again() {
    let h = sqlite();
    let mut browser = browser(&h);
    // Consented once, while fresh.
    code_for(&h, &mut browser, "openid");
    h.config.clock().advance(Duration::from_secs(10 * 60));
    let none = browser.get(&authorize_path(
        "notes-web",
        SPA_REDIRECT,
        "openid",
        &[("max_age", "300"), ("prompt", "none")],
    ));
    assert_eq!(
        param(none.location(), "error").as_deref(),
        Some("login_required"),
        "{}",
        none.location()
    );
    for extra in [&[("max_age", "300")][..], &[("prompt", "login")]] {
        let path = authorize_path("notes-web", SPA_REDIRECT, "openid", extra);
        let asked = browser.get(&path);
        assert_eq!(asked.status, 302, "{}", asked.body);
        let confirm = asked.location().to_owned();
        assert!(confirm.starts_with("/session/confirm?"), "{confirm}");
        let csrf = browser.get(&confirm).csrf();
        let proved = browser.post(
            &confirm,
            &[("_csrf_token", &csrf), ("user[password]", PASSWORD)],
        );
        assert_eq!(proved.status, 302, "{}", proved.body);
        assert_eq!(proved.location(), path);
        let back = browser.get(&path);
        let code = param(back.location(), "code")
            .unwrap_or_else(|| panic!("{} {}", back.status, back.location()));
        let (status, tokens) = redeem(&h, &code);
        assert_eq!(status, 200, "{tokens}");
        let auth_time = id_token_claims(&tokens)["auth_time"].as_i64().unwrap();
        assert!(
            h.config.clock().now_secs() - auth_time < 60,
            "auth_time {auth_time} is the new proof"
        );
        // The next stale request asks again.
        h.config.clock().advance(Duration::from_secs(10 * 60));
    }
}

/// `profile` gives `updated_at` and the claims mapped onto user fields, at `userinfo`;
/// discovery lists them; without the scope, none of them.
fn the_profile_scope_gives_its_claims() {
    let h = sqlite();
    let doc = discovery(&h);
    let supported = doc["claims_supported"].as_array().unwrap();
    for claim in ["updated_at", "preferred_username", "email", "acr"] {
        assert!(supported.contains(&Value::from(claim)), "{claim}: {doc}");
    }
    let mut browser = browser(&h);
    for (scope, given) in [("openid profile", true), ("openid", false)] {
        let code = code_for(&h, &mut browser, scope);
        let (_, tokens) = redeem(&h, &code);
        let (status, body) = userinfo(&h, tokens["access_token"].as_str().unwrap());
        assert_eq!(status, 200, "{body}");
        let claims: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(claims["sub"], h.user.id.to_string());
        match given {
            true => {
                assert_eq!(claims["preferred_username"], EMAIL, "{claims}");
                assert_eq!(claims["updated_at"], h.user.updated_at.timestamp());
            }
            false => {
                assert!(claims.get("preferred_username").is_none(), "{claims}");
                assert!(claims.get("updated_at").is_none(), "{claims}");
            }
        }
    }
}

/// A code presented again long after (its reuse mark, ten minutes, gone) still ends the
/// tokens its first redemption issued: the family is found from the code itself. Another
/// code's tokens go on.
fn a_code_presented_again_later_still_ends_its_tokens() {
    let h = sqlite();
    let mut browser = browser(&h);
    let refresh_of = |code: &str| {
        let (status, tokens) = redeem(&h, code);
        assert_eq!(status, 200, "{tokens}");
        tokens["refresh_token"].as_str().unwrap().to_owned()
    };
    let reused = code_for(&h, &mut browser, "openid offline_access");
    let reused_refresh = refresh_of(&reused);
    let other = code_for(&h, &mut browser, "openid offline_access");
    let other_refresh = refresh_of(&other);
    h.config.clock().advance(Duration::from_secs(11 * 60));
    let (status, refused) = redeem(&h, &reused);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let refresh = |token: &str| {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", "notes-web"),
            ("refresh_token", token),
        ];
        self::token(&h, None, &form).0
    };
    assert_eq!(refresh(&reused_refresh), 400, "ended with its code");
    assert_eq!(
        refresh(&other_refresh),
        200,
        "another code's family goes on"
    );
}

/// A code lives a minute: redeemed after it, it is unknown.
fn a_code_lives_a_minute() {
    let h = sqlite();
    let mut browser = browser(&h);
    let late = code_for(&h, &mut browser, "openid");
    h.config.clock().advance(Duration::from_secs(61));
    let (status, refused) = redeem(&h, &late);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant")),
        "{refused}"
    );
    let timely = code_for(&h, &mut browser, "openid");
    h.config.clock().advance(Duration::from_secs(55));
    let (status, tokens) = redeem(&h, &timely);
    assert_eq!(status, 200, "{tokens}");
    // The access token ends with its lifetime too.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&h, access).0, 200);
    // (Ten minutes, the default access lifetime, since it was issued.)
    h.config.clock().advance(Duration::from_secs(600));
    assert_eq!(userinfo(&h, access).0, 401);
}

/// RP-initiated logout: the hint is checked (signed by the provider, naming the client),
/// the return address must be registered, the user confirms (a link alone signs nobody
/// out), then the session ends and the browser goes back with `state`.
fn rp_initiated_logout_asks_then_signs_out() {
    let h = sqlite();
    let doc = discovery(&h);
    assert_eq!(doc["end_session_endpoint"], "http://localhost/oauth/logout");
    let mut browser = browser(&h);
    let code = code_for(&h, &mut browser, "openid");
    let (_, tokens) = redeem(&h, &code);
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let logout = |hint: &str, client: &str, uri: &str| {
        let params = [
            ("id_token_hint", hint),
            ("client_id", client),
            ("post_logout_redirect_uri", uri),
            ("state", "bye"),
        ];
        let params: Vec<_> = params.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        format!(
            "/oauth/logout?{}",
            serde_urlencoded::to_string(params).unwrap()
        )
    };
    // Refused on a page of ours: another address, a forged hint, another client's hint.
    let res = browser.get(&logout(&hint, "", "https://evil.example/out"));
    assert_eq!(res.status, 400, "{}", res.body);
    let mut forged = hint.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(browser.get(&logout(&forged, "", SIGNED_OUT)).status, 400);
    assert_eq!(browser.get(&logout(&hint, "cli", SIGNED_OUT)).status, 400);
    assert_eq!(
        browser.get(&logout("", "", SIGNED_OUT)).status,
        400,
        "no client named"
    );
    // The confirmation: still signed in until the user answers.
    let page = browser.get(&logout(&hint, "notes-web", SIGNED_OUT));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Notes for the web"), "{}", page.body);
    assert_eq!(browser.get("/oauth/grants").status, 200, "still signed in");
    let res = browser.post(
        "/oauth/logout",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[id_token_hint]", &hint),
            ("user[client_id]", "notes-web"),
            ("user[post_logout_redirect_uri]", SIGNED_OUT),
            ("user[state]", "bye"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), format!("{SIGNED_OUT}?state=bye"));
    assert_eq!(browser.get("/oauth/grants").status, 302, "signed out");
    // Signed out already: straight back; without an address, the page says so.
    let res = browser.get(&logout(&hint, "", SIGNED_OUT));
    assert_eq!(
        (res.status, res.location()),
        (302, "https://notes.example/signed-out?state=bye")
    );
    let res = browser.get("/oauth/logout");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("You are signed out."), "{}", res.body);
}

/// RP-initiated logout for a client that asks for JSON: what the confirmation shows and
/// the fields to post back, then `signed_out` with where the browser goes; a refusal is
/// `400 invalid_request`.
fn rp_initiated_logout_answers_json() {
    let h = sqlite();
    let mut browser = browser(&h);
    let code = code_for(&h, &mut browser, "openid");
    let (_, tokens) = redeem(&h, &code);
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let query = serde_urlencoded::to_string([
        ("id_token_hint", hint.as_str()),
        ("client_id", "notes-web"),
        ("post_logout_redirect_uri", SIGNED_OUT),
        ("state", "bye"),
    ])
    .unwrap();
    let csrf = browser.get(&format!("/oauth/logout?{query}")).csrf();
    browser
        .headers
        .push(("accept".into(), "application/json".into()));
    let res = browser.get("/oauth/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example");
    assert_eq!(res.status, 400, "{}", res.body);
    let refused: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(refused["error"], "invalid_request");
    let res = browser.get(&format!("/oauth/logout?{query}"));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let shown: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(shown["client"]["name"], "Notes for the web");
    assert_eq!(shown["redirect_to"], format!("{SIGNED_OUT}?state=bye"));
    assert_eq!(shown["confirm"]["id_token_hint"], hint);
    assert_eq!(browser.get("/oauth/grants").status, 200, "still signed in");
    let mut form = vec![("_csrf_token".to_owned(), csrf)];
    for (name, value) in shown["confirm"].as_object().unwrap() {
        form.push((format!("user[{name}]"), value.as_str().unwrap().to_owned()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let res = browser.post("/oauth/logout", &form);
    assert_eq!(res.status, 200, "{}", res.body);
    let done: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(done["signed_out"], true);
    assert_eq!(done["redirect_to"], format!("{SIGNED_OUT}?state=bye"));
    assert_eq!(browser.get("/oauth/grants").status, 401, "signed out");
    // Nobody signed in: the same answer at once.
    let res = browser.get(&format!("/oauth/logout?{query}"));
    let done: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!((res.status, &done["signed_out"]), (200, &Value::Bool(true)));
}

const PARTNER_REDIRECT: &str = "https://partner.example/cb";

/// The partner's tokens (`openid offline_access`) for `browser`'s user.
fn partner_tokens(h: &Harness, browser: &mut Client) -> Value {
    let location = consent(
        browser,
        &authorize_path("partner", PARTNER_REDIRECT, "openid offline_access", &[]),
    );
    let code = param(&location, "code").unwrap_or_else(|| panic!("{location}"));
    let (status, tokens) = token(
        h,
        Some(("partner", SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", PARTNER_REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// What the provider says of the partner's `tokens`: whether introspection finds the
/// access token active, and the status of a refresh.
fn partner_tokens_state(h: &Harness, tokens: &Value) -> (bool, u16) {
    let access = tokens["access_token"].as_str().unwrap();
    let mut client = Client::new(h.addr);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("partner:{SECRET}"));
    client
        .headers
        .push(("authorization".into(), format!("Basic {basic}")));
    let res = client.post("/oauth/introspect", &[("token", access)]);
    assert_eq!(res.status, 200, "{}", res.body);
    let body: Value = serde_json::from_str(&res.body).unwrap();
    let (refreshed, _) = token(
        h,
        Some(("partner", SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    );
    (body["active"] == true, refreshed)
}

/// A way an account's credentials end, as the test drives it.
type EndOfCredentials = fn(&Harness, &mut Client);

/// Runs `work` to its end on a runtime of its own.
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// Every way an account's credentials end ends the provider's tokens too: a password
/// change (the account page over HTTP; a password reset ends credentials through the same
/// engine hook, `revoke_user`, and pow-ext-reset-password is not in this suite), "sign out
/// everywhere", closing the account (its deletion on the account page) and erasure.
/// Introspection then says inactive and a refresh is refused.
fn every_end_of_an_account_s_credentials_ends_its_tokens() {
    let ways: [(&str, EndOfCredentials); 4] = [
        ("password change", |_, browser| {
            let csrf = browser.get("/registration/edit").csrf();
            let res = browser.post(
                "/registration",
                &[
                    ("_csrf_token", csrf.as_str()),
                    ("_method", "PATCH"),
                    ("user[current_password]", PASSWORD),
                    ("user[password]", "a new password, long enough"),
                    ("user[password_confirmation]", "a new password, long enough"),
                ],
            );
            assert_eq!(res.status, 302, "{}", res.body);
        }),
        ("sign out everywhere", |h, _| {
            block_on(pow_actix::session::sign_out_everywhere(
                &h.config, h.user.id,
            ))
            .unwrap();
        }),
        ("account deleted", |_, browser| {
            let csrf = browser.get("/registration/edit").csrf();
            let res = browser.post(
                "/registration",
                &[("_csrf_token", csrf.as_str()), ("_method", "DELETE")],
            );
            assert_eq!(res.status, 302, "{}", res.body);
        }),
        ("erased", |h, _| {
            block_on(pow_core::admin::erase_account(
                &h.config,
                &h.user,
                pow_core::admin::RowErasure::Delete,
            ))
            .unwrap();
        }),
    ];
    for (way, end) in ways {
        let h = start(pow_testkit::sqlite(&format!(
            "provider-lifecycle-{}",
            way.replace(' ', "-")
        )));
        let mut browser = browser(&h);
        let live = partner_tokens(&h, &mut browser);
        assert_eq!(
            partner_tokens_state(&h, &live),
            (true, 200),
            "{way}: before"
        );
        let tokens = partner_tokens(&h, &mut browser);
        end(&h, &mut browser);
        assert_eq!(partner_tokens_state(&h, &tokens), (false, 400), "{way}");
    }
}

/// The account's export holds its grants (client, scopes, resources); its erasure removes
/// them.
fn the_export_holds_the_grants_and_erasure_removes_them() {
    let h = sqlite();
    let mut browser = browser(&h);
    partner_tokens(&h, &mut browser);
    let export = block_on(pow_core::admin::export_user(&h.config, &h.user)).unwrap();
    let grants = &export["extensions"]["pow_provider"];
    assert_eq!(grants[0]["client_id"], "partner", "{export}");
    assert_eq!(
        grants[0]["scopes"],
        serde_json::json!(["offline_access", "openid"])
    );
    block_on(pow_core::admin::erase_extension_data(&h.config, &h.user)).unwrap();
    let export = block_on(pow_core::admin::export_user(&h.config, &h.user)).unwrap();
    assert_eq!(
        export["extensions"]["pow_provider"],
        serde_json::json!([]),
        "{export}"
    );
    // Nothing remembered: the consent page again.
    let again = browser.get(&authorize_path(
        "partner",
        PARTNER_REDIRECT,
        "openid offline_access",
        &[],
    ));
    assert_eq!(again.status, 200, "{}", again.body);
}

/// A reused refresh token ends its family: the rotated token and the access token it came
/// with stop working too.
fn refresh_reuse_ends_the_family(h: &Harness) {
    let mut browser = browser(h);
    let code = code_for(h, &mut browser, "openid offline_access");
    let (status, tokens) = redeem(h, &code);
    assert_eq!(status, 200, "{tokens}");
    let refresh = |token: &str| {
        token_request(
            h,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "notes-web"),
                ("refresh_token", token),
            ],
        )
    };
    let first = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) = refresh(first);
    assert_eq!(status, 200, "{rotated}");
    let access = rotated["access_token"].as_str().unwrap();
    assert_eq!(userinfo(h, access).0, 200);
    let (status, reused) = refresh(first);
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(rotated["refresh_token"].as_str().unwrap());
    assert_eq!(status, 400, "the rotated token ended with its family");
    assert_eq!(userinfo(h, access).0, 401, "and so did its access token");
}

/// A token request of a public client.
fn token_request(h: &Harness, form: &[(&str, &str)]) -> (u16, Value) {
    token(h, None, form)
}

fn refresh_reuse_on_postgres() {
    let Some(users) = pow_testkit::postgres("provider_reuse") else {
        return;
    };
    refresh_reuse_ends_the_family(&start(users));
}

fn refresh_reuse_on_redis() {
    let Some(h) = on_redis() else {
        return;
    };
    refresh_reuse_ends_the_family(&h);
}

/// A harness on PostgreSQL users with the SQL cache store on the same database, or `None`
/// (with a notice) when `POW_TEST_DATABASE_URL` is unset outside CI.
fn on_sql_store() -> Option<Harness> {
    let users = pow_testkit::postgres("provider_sql_store")?;
    let store = pow_core::store::SqlStore::new(users.database().clone()).unwrap();
    // The store's table is shared by the tests of this process: created once.
    static MIGRATED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut migrated = MIGRATED.lock().unwrap_or_else(|err| err.into_inner());
    if !*migrated {
        store.migrate().unwrap();
        *migrated = true;
    }
    drop(migrated);
    Some(start_on(users, Arc::new(store)))
}

/// Refresh reuse with the tokens in the SQL cache store.
fn refresh_reuse_on_the_sql_store() {
    let Some(h) = on_sql_store() else {
        return;
    };
    refresh_reuse_ends_the_family(&h);
}

/// The race for a code with the codes and tokens in the SQL cache store: one token set
/// at most (a server store, as Redis), none surviving.
async fn parallel_redemptions_on_the_sql_store() {
    let Some(h) = tokio::task::spawn_blocking(on_sql_store).await.unwrap() else {
        return;
    };
    race_for_a_code(h, false).await;
}

/// A support-access session (an admin in a user's account) cannot consent for the user:
/// the authorization endpoint refuses it even where the user consented before (no code is
/// issued silently), and the consent and revoke forms refuse it too.
fn support_access_cannot_consent() {
    const ADMIN: &str = "admin@example.com";
    let users = pow_testkit::sqlite("provider-support");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .impersonation(pow_core::session::Impersonation::new(|admin| {
            admin.email() == Some(ADMIN)
        }))
        .extension(provider())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    pow_actix::testing::create_user(&config, ADMIN, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config.clone());
    let h = Harness { config, addr, user };
    // The user consents to the web client themself.
    let mut own = browser(&h);
    code_for(&h, &mut own, "openid");
    // The admin opens the user's account.
    let mut admin = Client::new(h.addr);
    assert_eq!(admin.sign_in(ADMIN, PASSWORD).status, 302);
    let csrf = admin.get("/registration/edit").csrf();
    let user_id = h.user.id.to_string();
    let res = admin.post(
        "/impersonation",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[user_id]", user_id.as_str()),
            ("user[reason]", "a ticket"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    // A client the user allowed: still no code for support access.
    for (client, redirect) in [("notes-web", SPA_REDIRECT), ("cli", CLI_REDIRECT)] {
        let res = admin.get(&authorize_path(client, redirect, "openid", &[]));
        assert_eq!(res.status, 403, "{client}: {}", res.body);
        assert!(res.header("location").is_none(), "{client}: no code");
    }
    let csrf = admin.get("/oauth/grants").csrf();
    for (path, fields) in [
        (
            "/oauth/authorize",
            &[("user[request]", "pending"), ("user[decision]", "allow")][..],
        ),
        ("/oauth/grants/revoke", &[("user[client]", "notes-web")][..]),
    ] {
        let mut form = vec![("_csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        let res = admin.post(path, &form);
        assert_eq!(res.status, 403, "{path}: {}", res.body);
    }
    // The user's consent is untouched.
    let again = own.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", &[]));
    assert_eq!(again.status, 302, "{}", again.body);
}

/// The consent page's answer belongs to the session it was shown to: another session of
/// the same user (or another user) posting its request is refused and the request stays
/// for the right one; answered in JSON, it gives the client's redirect with the code.
fn the_consent_answer_belongs_to_the_session_that_asked() {
    let h = sqlite();
    let mut asked = browser(&h);
    asked
        .headers
        .push(("accept".into(), "application/json".into()));
    let res = asked.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", &[]));
    assert_eq!(res.status, 200, "{}", res.body);
    let body: Value = serde_json::from_str(&res.body).unwrap();
    let pending = body["request"].as_str().unwrap().to_owned();
    // Another session of the same user.
    let mut other = browser(&h);
    let csrf = other.get("/registration/edit").csrf();
    let res = other.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[request]", pending.as_str()),
            ("user[decision]", "allow"),
        ],
    );
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.header("location").is_none());
    // The session it was shown to answers, in JSON.
    let accept = asked.headers.pop().unwrap();
    let csrf = asked.get("/registration/edit").csrf();
    asked.headers.push(accept);
    let res = asked.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[request]", pending.as_str()),
            ("user[decision]", "allow"),
        ],
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let answer: Value = serde_json::from_str(&res.body).unwrap();
    let to = answer["redirect_to"].as_str().unwrap();
    assert!(to.starts_with(SPA_REDIRECT), "{to}");
    let code = param(to, "code").unwrap();
    assert_eq!(redeem(&h, &code).0, 200);
}

/// A consent covers the client it was given to, no other: another client with the same
/// scopes is asked about, and `prompt=none` answers it `consent_required`.
fn a_consent_to_one_client_covers_no_other() {
    let h = sqlite();
    let mut browser = browser(&h);
    code_for(&h, &mut browser, "openid");
    let same = browser.get(&authorize_path("notes-web", SPA_REDIRECT, "openid", &[]));
    assert_eq!(same.status, 302, "remembered for its client");
    let other = browser.get(&authorize_path("cli", CLI_REDIRECT, "openid", &[]));
    assert_eq!(other.status, 200, "asked for another client");
    let silent = browser.get(&authorize_path(
        "cli",
        CLI_REDIRECT,
        "openid",
        &[("prompt", "none")],
    ));
    assert_eq!(
        param(silent.location(), "error").as_deref(),
        Some("consent_required")
    );
}

pow_testkit::on_both!(
    a_consent_to_one_client_covers_no_other,
    the_consent_answer_belongs_to_the_session_that_asked,
    the_main_events_are_audited,
    support_access_cannot_consent,
    refresh_reuse_on_postgres,
    refresh_reuse_on_redis,
    refresh_reuse_on_the_sql_store,
    every_end_of_an_account_s_credentials_ends_its_tokens,
    the_export_holds_the_grants_and_erasure_removes_them,
    acr_values_map_onto_step_up_rules,
    a_stale_sign_in_proves_itself_again,
    a_code_lives_a_minute,
    a_code_presented_again_later_still_ends_its_tokens,
    the_profile_scope_gives_its_claims,
    rp_initiated_logout_asks_then_signs_out,
    rp_initiated_logout_answers_json,
    the_form_endpoints_are_limited_per_address,
    the_account_lists_and_revokes_what_it_allowed,
    discovery_and_jwks_advertise_only_what_is_on,
    the_code_flow_issues_tokens_that_work_and_rotate,
    a_code_redeemed_twice_ends_what_it_issued,
    requests_that_cannot_go_back_are_answered_here,
    refusals_go_back_to_the_client_with_an_error_and_iss,
    the_token_endpoint_refuses_what_does_not_match,
    revocation_and_introspection_answer_only_the_token_s_client,
    a_disabled_user_s_tokens_end,
    the_consent_page_answers_json_to_a_client_that_asks,
    the_flow_runs_on_postgres,
);

mod parallel {
    pow_testkit::on_both!(async parallel_redemptions_issue_one_token_set_then_end_it);
    use super::parallel_redemptions_issue_one_token_set_then_end_it;
}

mod parallel_on_postgres {
    pow_testkit::on_both!(async parallel_redemptions_on_postgres);
    use super::parallel_redemptions_on_postgres;
}

mod parallel_on_redis {
    pow_testkit::on_both!(async parallel_redemptions_on_redis);
    use super::parallel_redemptions_on_redis;
}

mod parallel_on_the_sql_store {
    pow_testkit::on_both!(async parallel_redemptions_on_the_sql_store);
    use super::parallel_redemptions_on_the_sql_store;
}

#[test]
fn a_javascript_redirect_a_duplicate_client_or_an_unknown_claim_is_refused_at_build() {
    for provider in [
        Provider::new().client(ClientRegistration::public("x").redirect_uri("javascript:alert(1)")),
        Provider::new()
            .client(ClientRegistration::public("x").redirect_uri(SPA_REDIRECT))
            .client(ClientRegistration::public("x").redirect_uri(SPA_REDIRECT)),
        Provider::new().profile_claim("shoe_size", "email"),
        Provider::new()
            .profile_claim("nickname", "email")
            .profile_claim("nickname", "email"),
    ] {
        let err = PowConfig::builder("k".repeat(64))
            .extension(provider)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("pow_provider"), "{err}");
    }
}

#[test]
fn the_openapi_document_describes_every_json_route() {
    // With the clients page on, so its JSON routes are mounted and checked too.
    let config = PowConfig::builder("k".repeat(64))
        .extension(provider().client_admins(|_| true))
        .build()
        .unwrap();
    let api = pow_core::api::ApiService::new(config, pow_core::api::ApiOptions::new());
    assert_eq!(api.undocumented_routes().unwrap(), Vec::<String>::new());
    let doc = api.openapi().unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["ProviderGrant"]["properties"]["resources"].is_object());
    assert!(schemas["ProviderClient"]["properties"]["resources"].is_object());
    assert!(schemas["ProviderClientSpec"]["properties"]["resources"].is_object());
    // Each clients route with its method.
    let paths = doc["paths"].as_object().unwrap();
    let path = |tail: &str| {
        paths
            .iter()
            .find(|(path, _)| path.ends_with(tail))
            .map(|(_, item)| item.clone())
            .unwrap_or_else(|| panic!("no {tail} in {:?}", paths.keys()))
    };
    let clients = path("/oauth/clients");
    assert!(clients["get"].is_object() && clients["post"].is_object());
    assert!(path("/oauth/clients/{client}/secret")["post"].is_object());
    assert!(path("/oauth/clients/{client}")["delete"].is_object());
}

/// The main events land in the audit log: a consent, tokens issued, a code presented
/// again, a revocation, a grant withdrawn, a client registered.
fn the_main_events_are_audited() {
    use pow_actix::audit::{AuditQuery, Auditor, DieselAuditSink};
    let users = pow_testkit::sqlite("provider-audit");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .audit(Auditor::new(DieselAuditSink::new(users.database().clone())))
        .extension(provider())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config.clone());
    let h = Harness { config, addr, user };
    let mut browser = browser(&h);
    let code = code_for(&h, &mut browser, "openid");
    assert_eq!(redeem(&h, &code).0, 200);
    assert_eq!(redeem(&h, &code).0, 400, "the code again");
    let code = code_for(&h, &mut browser, "openid");
    let (_, tokens) = redeem(&h, &code);
    let access = tokens["access_token"].as_str().unwrap();
    let res = Client::new(h.addr).post(
        "/oauth/revoke",
        &[("client_id", "notes-web"), ("token", access)],
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let page = browser.get("/oauth/grants");
    let res = browser.post(
        "/oauth/grants/revoke",
        &[("_csrf_token", &page.csrf()), ("user[client]", "notes-web")],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let registry = pow_ext_provider::registry::Registry::new(&h.config).unwrap();
    let spec = pow_ext_provider::registry::ClientSpec::new(pow_ext_provider::ClientKind::Public)
        .id("registered")
        .redirect_uri(SPA_REDIRECT);
    block_on(registry.register(&provider(), spec, false, None))
        .unwrap()
        .unwrap();
    block_on(h.config.audit().flush()).unwrap();
    let events = h
        .config
        .audit()
        .sink()
        .query(&AuditQuery::default())
        .unwrap();
    let found = |name: &str, detail: (&str, &str)| {
        events
            .iter()
            .find(|event| event.name == name && event.detail[detail.0] == detail.1)
            .unwrap_or_else(|| panic!("no {name} with {detail:?} in {events:?}"))
    };
    for name in [
        "provider.consented",
        "provider.tokens_issued",
        "provider.revoked",
        "provider.grant_revoked",
    ] {
        let event = found(name, ("client", "notes-web"));
        assert_eq!(event.user_id, Some(h.user.id), "{name}");
    }
    found("provider.reuse_detected", ("reason", "code"));
    found("provider.client_registered", ("client", "registered"));
    // No token or code is in the log.
    let dump = serde_json::to_string(&events).unwrap();
    assert!(!dump.contains(access) && !dump.contains(&code));
}

/// The token endpoint counts each client address before it reads anything: over the
/// limit, `429` with `Retry-After`, whatever the request.
fn the_form_endpoints_are_limited_per_address() {
    let users = pow_testkit::sqlite("provider-limit");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .extension(provider().endpoint_rate_limit(pow_actix::store::Limit::new(
            3,
            std::time::Duration::from_secs(60),
        )))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let addr = pow_testkit::serve(config);
    let mut client = Client::new(addr);
    let statuses: Vec<u16> = (0..4)
        .map(|_| {
            client
                .post(
                    "/oauth/token",
                    &[("client_id", "cli"), ("grant_type", "refresh_token")],
                )
                .status
        })
        .collect();
    assert_eq!(statuses, [400, 400, 400, 429]);
    let res = client.post("/oauth/revoke", &[("client_id", "cli"), ("token", "x")]);
    assert_eq!(res.status, 429, "one count for every form endpoint");
    assert_eq!(res.header("retry-after"), Some("60"));
}

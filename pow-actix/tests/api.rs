//! The JSON API over HTTP: registration, sign-in, bearer authentication, renewal,
//! sign-out, revocation, errors and the extension point.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::{web, App, HttpResponse};
use pow_actix::api::{self, ApiAuthMiddleware, ApiContext, ApiError};
use pow_actix::password::{HashPoolOptions, Pbkdf2Hasher};
use pow_actix::session::{self, CredentialsCache};
use pow_actix::store::KeyPattern;
use pow_actix::testing::RacingPasswordChange;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::Value;
use pow_actix::{PowConfig, PowConfigBuilder, PowError, User};
use pow_core::api::ApiOptions;
use serde_json::json;

const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const INVALID_CREDENTIALS: &str =
    "The provided login details did not work. Please verify your credentials, and try again.";

fn setup_with(f: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder) -> PowConfig {
    let db = std::env::temp_dir().join(format!(
        "pow-api-test-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = f(PowConfig::builder(SECRET)
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1)))
    .build()
    .unwrap();
    users.migrate(&config).unwrap();
    config
}

fn setup() -> PowConfig {
    setup_with(|b| b)
}

macro_rules! app {
    ($config:expr) => {
        app!($config, ApiOptions::new())
    };
    ($config:expr, $options:expr) => {{
        let config: PowConfig = $config.clone();
        pow_testkit::serve_api(config, $options)
    }};
}

struct Res {
    status: StatusCode,
    headers: HeaderMap,
    json: serde_json::Value,
}

impl Res {
    fn access(&self) -> String {
        self.json["data"]["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token in {}", self.json))
            .to_owned()
    }

    fn renewal(&self) -> String {
        self.json["data"]["renewal_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no renewal token in {}", self.json))
            .to_owned()
    }

    fn message(&self) -> &str {
        self.json["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
    }
}

/// Sends `req` to the app at `addr` over HTTP.
async fn send(addr: &SocketAddr, req: actix_web::dev::ServiceRequest) -> Res {
    let answer = pow_testkit::send(*addr, req).await;
    let status = StatusCode::from_u16(answer.status).unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in &answer.headers {
        headers.append(
            header::HeaderName::try_from(name.as_str()).unwrap(),
            header::HeaderValue::try_from(value.as_str()).unwrap(),
        );
    }
    let json = if answer.body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&answer.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({status}): {}",
                String::from_utf8_lossy(&answer.body)
            )
        })
    };
    Res {
        status,
        headers,
        json,
    }
}

fn bearer(req: TestRequest, token: &str) -> TestRequest {
    req.insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
}

fn registration(email: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/registration")
        .set_json(json!({ "user": {
            "email": email,
            "password": password,
            "password_confirmation": password,
        }}))
}

fn sign_in(email: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/session")
        .set_json(json!({ "user": { "email": email, "password": password } }))
}

fn renew(token: &str) -> TestRequest {
    bearer(TestRequest::post().uri("/api/v1/session/renew"), token)
}

fn sign_out(token: &str) -> TestRequest {
    bearer(TestRequest::delete().uri("/api/v1/session"), token)
}

fn get_me(token: &str) -> TestRequest {
    bearer(TestRequest::get().uri("/api/v1/me"), token)
}

fn find_user(config: &PowConfig, email: &str) -> User {
    config
        .users_context()
        .unwrap()
        .get_by(
            config.user_schema(),
            "email",
            &Value::Text(email.to_owned()),
        )
        .unwrap()
        .expect("user exists")
}

/// Asserts the protected endpoint answers `401` JSON for `token`.
macro_rules! assert_rejected {
    ($app:expr, $token:expr) => {{
        let res = send($app, get_me($token).to_srv_request()).await;
        // A token that came but is no good says so, apart from no token at all: the
        // app knows to sign in again.
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.json);
        assert_eq!(
            res.json["errors"][0]["code"], "invalid_token",
            "{}",
            res.json
        );
        assert_eq!(res.message(), "Invalid token");
        assert_eq!(
            res.headers.get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer error=\"invalid_token\""
        );
    }};
}

async fn register_sign_in_renew_and_sign_out() {
    let config = setup();
    let app = app!(config);

    let res = send(
        &app,
        registration("Alice@Example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_eq!(
        res.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store",
        "token answers are never cached"
    );
    let registered = res.access();
    assert!(registered.starts_with("SFMyNTY."));
    let res = send(&app, get_me(&registered).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json["data"]["email"], "alice@example.com");

    // Sign in: a second, independent pair.
    let res = send(
        &app,
        sign_in("alice@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    let (access, renewal) = (res.access(), res.renewal());
    assert_ne!(access, registered);
    let res = send(&app, get_me(&access).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json["data"]["email"], "alice@example.com");

    // Renew: a new pair; the renewal token works once, the old access token is deleted
    // (as in Pow's API guide).
    let res = send(&app, renew(&renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    let (access2, renewal2) = (res.access(), res.renewal());
    assert_ne!(access2, access);
    assert_ne!(renewal2, renewal);
    let res = send(&app, renew(&renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.message(), "Invalid token");
    assert_eq!(
        res.headers.get(header::WWW_AUTHENTICATE).unwrap(),
        "Bearer error=\"invalid_token\""
    );
    assert_rejected!(&app, &access);
    let res = send(&app, get_me(&access2).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);

    // The registration pair is untouched by the other sign-in's renewal.
    let res = send(&app, get_me(&registered).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);

    // Sign out: both tokens of that pair stop working; the other pair does not.
    let res = send(&app, sign_out(&access2).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json, json!({ "status": 200, "data": {} }));
    assert_rejected!(&app, &access2);
    let res = send(&app, renew(&renewal2).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = send(&app, get_me(&registered).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);

    // Signing out again (or with a dead token) is a no-op that still answers 200.
    let res = send(&app, sign_out(&access2).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn guards_answer_json_without_an_accept_header() {
    let config = setup();
    let app = app!(config);
    let res = send(&app, TestRequest::get().uri("/api/v1/me").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
    assert_eq!(res.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(
        res.json,
        json!({ "status": 401, "errors": [
            { "code": "not_authenticated", "message": "Not authenticated" }
        ] })
    );

    // Translated for the client's language.
    let req = TestRequest::get()
        .uri("/api/v1/me")
        .insert_header((header::ACCEPT_LANGUAGE, "de-DE,de;q=0.9"))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.message(), "Nicht angemeldet");

    // MaybeUser sees no one.
    let res = send(
        &app,
        TestRequest::get().uri("/api/v1/whoami").to_srv_request(),
    )
    .await;
    assert_eq!(res.json["data"]["id"], serde_json::Value::Null);
}

async fn wrong_credentials_get_the_generic_message() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("bob@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);

    let wrong_password = send(
        &app,
        sign_in("bob@example.com", "wrong-one").to_srv_request(),
    )
    .await;
    let unknown_user = send(
        &app,
        sign_in("nobody@example.com", "secret123").to_srv_request(),
    )
    .await;
    for res in [&wrong_password, &unknown_user] {
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.json,
            json!({ "status": 401, "errors": [
                { "code": "invalid_credentials", "message": INVALID_CREDENTIALS }
            ] })
        );
    }

    let req = sign_in("bob@example.com", "wrong-one")
        .insert_header((header::ACCEPT_LANGUAGE, "fr"))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let french = config
        .messages()
        .invalid_credentials(&"fr".parse().unwrap())
        .unwrap();
    assert_eq!(res.message(), french);
    assert_ne!(french, INVALID_CREDENTIALS);
}

async fn registration_errors_are_per_field_and_translated() {
    let config = setup();
    let app = app!(config);

    let req = TestRequest::post()
        .uri("/api/v1/registration")
        .set_json(json!({ "user": {
            "email": "not an email",
            "password": "short",
            "password_confirmation": "different",
        }}))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.json);
    assert_eq!(res.json["status"], 422);
    assert_eq!(res.message(), "Couldn't create user");
    let errors = |field| pow_actix::testing::field_errors(&res.json, field);
    assert_eq!(errors("email"), json!(["has invalid format"]));
    assert_eq!(
        errors("password"),
        json!(["should be at least 8 characters"])
    );
    assert_eq!(
        errors("password_confirmation"),
        json!(["does not match confirmation"])
    );
    // Each field error carries the validation's message id.
    let codes: Vec<&serde_json::Value> = res.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["param"] == "password")
        .map(|e| &e["code"])
        .collect();
    assert_eq!(codes, [&json!("too_short")]);
    assert_eq!(res.json["errors"][0]["code"], "user_not_created");

    // Blank fields, in German.
    let req = TestRequest::post()
        .uri("/api/v1/registration")
        .insert_header((header::ACCEPT_LANGUAGE, "de"))
        .set_json(json!({ "user": {} }))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.message(), "Das Konto konnte nicht angelegt werden");
    assert_eq!(
        pow_actix::testing::field_errors(&res.json, "email"),
        json!(["darf nicht leer sein"])
    );

    // A taken email.
    let res = send(
        &app,
        registration("carol@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send(
        &app,
        registration("Carol@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        pow_actix::testing::field_errors(&res.json, "email"),
        json!(["has already been taken"])
    );
}

async fn malformed_bodies_are_bad_requests() {
    let config = setup();
    let app = app!(config);
    let bodies: [&[u8]; 5] = [
        b"",
        b"user[email]=a@example.com&user[password]=secret123",
        b"[1, 2]",
        br#"{"user": "a@example.com"}"#,
        br#"{"user": {"email": {"nested": true}}}"#,
    ];
    for path in ["/api/v1/registration", "/api/v1/session"] {
        for body in bodies {
            let req = TestRequest::post()
                .uri(path)
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(body.to_vec())
                .to_srv_request();
            let res = send(&app, req).await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{path} {body:?}");
            assert_eq!(res.json["status"], 400);
        }
    }
}

/// A method a path does not take answers the API's JSON envelope (`405`,
/// `method_not_allowed`, translated) with its `Allow` header, on the engine's routes and on
/// the app's own behind the bearer layer alike. Before, both frameworks answered an empty
/// body.
async fn a_method_a_path_does_not_take_answers_json() {
    let config = setup();
    let addr = app!(config);
    let token = send(
        &addr,
        registration("alice@example.com", "secret123").to_srv_request(),
    )
    .await
    .access();
    for (method, path) in [("DELETE", "/api/v1/config"), ("POST", "/api/v1/me")] {
        let req = TestRequest::default()
            .method(actix_web::http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .insert_header((header::ACCEPT_LANGUAGE, "de"));
        let req = bearer(req, &token).to_srv_request();
        let res = send(&addr, req).await;
        assert_eq!(
            res.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{path}: {}",
            res.json
        );
        assert_eq!(
            res.json["errors"][0]["code"], "method_not_allowed",
            "{path}"
        );
        assert_eq!(
            res.json["errors"][0]["message"], "Diese Adresse nimmt diese Methode nicht an.",
            "{path}"
        );
        let allow = res
            .headers
            .get(header::ALLOW)
            .map(|v| v.to_str().unwrap().to_lowercase());
        assert!(allow.is_some_and(|allow| allow.contains("get")), "{path}");
    }
}

async fn tampered_and_mismatched_tokens_are_anonymous() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("dave@example.com", "secret123").to_srv_request(),
    )
    .await;
    let (access, renewal) = (res.access(), res.renewal());

    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    // Another payload under the original signature.
    let forged_payload = {
        let mut p = parts.clone();
        p[1] = "b3RoZXItaWQ".into();
        p.join(".")
    };
    // A flipped signature character.
    let last = parts[2].pop().unwrap();
    parts[2].push(if last == 'A' { 'B' } else { 'A' });
    let forged_signature = parts.join(".");
    let wrong_key = pow_actix::token::MessageVerifier::new(&[b'x'; 64])
        .sign_token(api::ACCESS_TOKEN_SALT, "whatever");

    for token in [
        forged_payload.as_str(),
        forged_signature.as_str(),
        wrong_key.as_str(),
        "garbage",
        // A renewal token is no access token, and the reverse.
        renewal.as_str(),
    ] {
        assert_rejected!(&app, token);
    }
    let res = send(&app, renew(&access).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = send(&app, renew(&forged_signature).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    // Other schemes and a missing token.
    let req = TestRequest::get()
        .uri("/api/v1/me")
        .insert_header((header::AUTHORIZATION, format!("Basic {access}")))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.json["errors"][0]["code"], "not_authenticated");
    let res = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/session/renew")
            .to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    // A browser session id signed for cookies does not pass as an access token.
    let session_id = CredentialsCache::new(&config)
        .sessions(find_user(&config, "dave@example.com").id)
        .await
        .unwrap()
        .remove(0);
    let as_cookie = config
        .verifier()
        .sign_token(pow_actix::token::SESSION_SALT, &session_id);
    assert_rejected!(&app, &as_cookie);

    // None of this hurt the real pair.
    let res = send(&app, get_me(&access).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send(&app, renew(&renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn revoke_user_kills_every_token_of_the_user() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("erin@example.com", "secret123").to_srv_request(),
    )
    .await;
    let first = (res.access(), res.renewal());
    let res = send(
        &app,
        sign_in("erin@example.com", "secret123").to_srv_request(),
    )
    .await;
    let second = (res.access(), res.renewal());
    let res = send(
        &app,
        registration("frank@example.com", "secret123").to_srv_request(),
    )
    .await;
    let other = (res.access(), res.renewal());

    let erin = find_user(&config, "erin@example.com");
    let removed = session::revoke_user(&config, &erin).await.unwrap();
    assert_eq!(removed, 2, "both access tokens were sessions of the user");

    for (access, renewal) in [&first, &second] {
        assert_rejected!(&app, access);
        let res = send(&app, renew(renewal).to_srv_request()).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // Other users keep theirs.
    let res = send(&app, get_me(&other.0).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);

    // Signing in again works, and those tokens are valid.
    let res = send(
        &app,
        sign_in("erin@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send(&app, get_me(&res.access()).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn sign_out_everywhere_revokes_renewal_tokens_too() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("olga@example.com", "secret123").to_srv_request(),
    )
    .await;
    let first = (res.access(), res.renewal());
    let res = send(
        &app,
        sign_in("olga@example.com", "secret123").to_srv_request(),
    )
    .await;
    let second = (res.access(), res.renewal());
    let res = send(
        &app,
        registration("paul@example.com", "secret123").to_srv_request(),
    )
    .await;
    let other = (res.access(), res.renewal());

    let olga = find_user(&config, "olga@example.com");
    let removed = session::sign_out_everywhere(&config, olga.id)
        .await
        .unwrap();
    assert_eq!(removed, 2, "both access tokens were sessions of the user");

    for (access, renewal) in [&first, &second] {
        assert_rejected!(&app, access);
        // A renewal token would otherwise sign the user back in.
        let res = send(&app, renew(renewal).to_srv_request()).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.json);
    }
    let stored = config
        .store()
        .all(
            &config.namespaced("api_renewal"),
            &[
                KeyPattern::exact("user"),
                KeyPattern::Exact(olga.id.to_string()),
                KeyPattern::exact("token"),
                KeyPattern::Any,
            ],
        )
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");

    // Other users keep theirs.
    let res = send(&app, get_me(&other.0).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send(&app, renew(&other.1).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);

    // Signing in again works.
    let res = send(
        &app,
        sign_in("olga@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send(&app, renew(&res.renewal()).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn revocation_also_beats_records_written_after_it() {
    // A pair stored by a request racing the revocation (its records written back after
    // the revocation deleted them) is still refused.
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("gina@example.com", "secret123").to_srv_request(),
    )
    .await;
    let (access, renewal) = (res.access(), res.renewal());

    let store = config.store().clone();
    let mut snapshot = Vec::new();
    for base in ["credentials", "api_renewal"] {
        let namespace = config.namespaced(base);
        for len in [2, 4] {
            let pattern = vec![KeyPattern::Any; len];
            for record in store.all(&namespace, &pattern).await.unwrap() {
                snapshot.push((namespace.clone(), record));
            }
        }
    }
    assert!(snapshot.len() >= 4, "{snapshot:?}");

    let gina = find_user(&config, "gina@example.com");
    session::revoke_user(&config, &gina).await.unwrap();
    for (namespace, record) in snapshot {
        store
            .put(&namespace, vec![record], Some(Duration::from_secs(600)))
            .await
            .unwrap();
    }

    assert_rejected!(&app, &access);
    let res = send(&app, renew(&renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn a_renewal_token_works_once_under_concurrent_use() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("hank@example.com", "secret123").to_srv_request(),
    )
    .await;
    let renewal = res.renewal();

    let attempts: Vec<_> = (0..100)
        .map(|_| send(&app, renew(&renewal).to_srv_request()))
        .collect();
    let results = futures_util::future::join_all(attempts).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one renewal succeeds");
    assert!(results
        .iter()
        .all(|r| r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED));
}

async fn signing_out_with_the_renewal_token_revokes_the_pair() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("ivy@example.com", "secret123").to_srv_request(),
    )
    .await;
    let (access, renewal) = (res.access(), res.renewal());
    let res = send(&app, sign_out(&renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_rejected!(&app, &access);
    let res = send(&app, renew(&renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn renewal_needs_the_user_to_still_exist() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("jo@example.com", "secret123").to_srv_request(),
    )
    .await;
    let renewal = res.renewal();
    let jo = find_user(&config, "jo@example.com");
    config
        .users_context()
        .unwrap()
        .delete(config.user_schema(), &jo)
        .unwrap();
    let res = send(&app, renew(&renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn renewal_tokens_live_in_their_namespace_with_the_configured_ttl() {
    let config = setup_with(|b| b.name("mobile"));
    let app = app!(
        config,
        ApiOptions::new()
            .prefix("/mobile/")
            .renewal_ttl(Duration::from_secs(3600))
    );
    let req = TestRequest::post()
        .uri("/mobile/registration")
        .set_json(json!({ "user": {
            "email": "kim@example.com",
            "password": "secret123",
            "password_confirmation": "secret123",
        }}))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    let records = config
        .store()
        .all(
            "mobile_api_renewal",
            &[KeyPattern::exact("token"), KeyPattern::Any],
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    let id = records[0].0.segments()[1].clone();
    let token = config
        .verifier()
        .verify_token(api::RENEWAL_TOKEN_SALT, &res.renewal())
        .unwrap();
    assert!(token.starts_with("mobile_"), "{token}");
    // Stored under a keyed hash of the token, with the chain it continues in clear.
    let (secret, chain) = token.rsplit_once('~').unwrap();
    assert!(!id.contains(secret), "{id}");
    assert!(id.ends_with(&format!("~{chain}")), "{id}");
    // The default prefix is not mounted.
    let res = send(
        &app,
        registration("lee@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

/// Refuses tokens to `blocked@example.com` and adds `GET <prefix>/ping`: an extension's
/// JSON side, written once on the engine.
struct Gatekeeper;

const PING: pow_actix::pipeline::ActionId =
    pow_actix::pipeline::ActionId::new("api_ping", "show", pow_actix::pipeline::ActionKind::Show);

impl pow_actix::extension::Extension for Gatekeeper {
    fn name(&self) -> &'static str {
        "gatekeeper"
    }

    fn build(&self, ext: &mut pow_actix::extension::ExtensionBuilder) {
        use pow_core::api::routes::{ApiRoute, Reply};
        ext.api_route(ApiRoute::new(
            pow_core::pages::routes::Verb::Get,
            "/ping",
            PING,
            |_, call| {
                let prefix = call.api().prefix().to_owned();
                Box::pin(
                    async move { Ok(Reply::document(json!({ "prefix": prefix, "api": true }))) },
                )
            },
        ))
        .api_hooks(Gatekeeper);
    }
}

#[async_trait::async_trait]
impl api::TokenHooks for Gatekeeper {
    async fn before_issue(&self, issue: &api::Issue<'_>) -> Result<(), pow_actix::PowError> {
        if issue.user.email() == Some("blocked@example.com") {
            let message = format!("Blocked ({:?})", issue.action);
            return Err(api::Held::new(403, message).into());
        }
        Ok(())
    }

    async fn extend_token_data(
        &self,
        issue: &api::Issue<'_>,
        data: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), pow_actix::PowError> {
        data.insert(
            "gate".into(),
            json!(format!("{:?} {}", issue.action, issue.user.id)),
        );
        // Cannot replace the tokens.
        data.insert("access_token".into(), json!("forged"));
        Ok(())
    }
}

async fn api_extensions_add_routes_and_can_refuse_tokens() {
    let config = setup_with(|b| b.extension(Gatekeeper));
    let app = app!(config);

    let res = send(
        &app,
        TestRequest::get().uri("/api/v1/ping").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json, json!({ "prefix": "/api/v1", "api": true }));

    let res = send(
        &app,
        registration("blocked@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        res.json,
        json!({ "status": 403, "errors": [
            { "code": "forbidden", "message": "Blocked (Registration)" }
        ] })
    );
    // The account exists; signing in is refused too.
    let res = send(
        &app,
        sign_in("blocked@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.message(), "Blocked (SignIn)");

    let res = send(
        &app,
        registration("mia@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let mia = find_user(&config, "mia@example.com");
    assert_eq!(res.json["data"]["gate"], format!("Registration {}", mia.id));
    let access = res.access();
    assert_ne!(access, "forged");
    let me = send(&app, get_me(&access).to_srv_request()).await;
    assert_eq!(me.status, StatusCode::OK);

    let res = send(&app, renew(&res.renewal()).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json["data"]["gate"], format!("Renewal {}", mia.id));
    let res = send(
        &app,
        sign_in("mia@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.json["data"]["gate"], format!("SignIn {}", mia.id));
}

async fn a_password_change_racing_a_sign_in_wins() {
    let db = std::env::temp_dir().join(format!(
        "pow-api-test-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let inner = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let racing = RacingPasswordChange::new(inner.clone());
    let config = PowConfig::builder(SECRET)
        .users(racing.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .build()
        .unwrap();
    inner.migrate(&config).unwrap();
    let app = app!(config);

    let res = send(
        &app,
        registration("nina@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let registered = res.access();

    racing.arm(&config);
    let res = send(
        &app,
        sign_in("nina@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.json);
    assert_eq!(res.message(), INVALID_CREDENTIALS);
    assert_rejected!(&app, &registered);
    let nina = find_user(&config, "nina@example.com");
    assert!(CredentialsCache::new(&config)
        .sessions(nina.id)
        .await
        .unwrap()
        .is_empty());

    // The new password works.
    let res = send(
        &app,
        sign_in("nina@example.com", RacingPasswordChange::NEW_PASSWORD).to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
}

/// Asserts `res` is the API's busy answer, with `message`.
fn assert_busy(res: &Res, message: &str) {
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.json);
    assert_eq!(
        res.headers.get(header::RETRY_AFTER).unwrap(),
        &api::BUSY_RETRY_AFTER_SECS.to_string()
    );
    assert_eq!(
        res.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
    assert_eq!(
        res.json,
        json!({ "status": 503, "errors": [{ "code": "busy", "message": message }] })
    );
}

#[actix_web::test]
async fn busy_answers_a_translated_503_with_retry_after() {
    let db = std::env::temp_dir().join(format!(
        "pow-api-test-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    // One hashing thread and no queue: holding that thread makes every sign-in busy.
    let config = PowConfig::builder(SECRET)
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .hash_pool_options(HashPoolOptions::default().threads(1).queue(0))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let english = "The service is busy right now. Please try again in a few seconds.";
    let german =
        "Der Dienst ist gerade ausgelastet. Bitte versuchen Sie es in ein paar Sekunden erneut.";

    // Routes of the app behind the middleware: a handler failing with a `PowError`, and
    // one converting it to an `ApiError` with `?`.
    let served = config.clone();
    let app = pow_actix::test_client::serve(move || {
        let config = served.clone();
        App::new()
            .configure(api::configure(config.clone(), ApiOptions::new()))
            .route(
                "/api/v1/pow-error",
                web::get()
                    .to(|| async { Err::<HttpResponse, _>(pow_actix::Error(PowError::Busy)) }),
            )
            .route(
                "/api/v1/api-error",
                web::get().to(|| async {
                    let failed: Result<(), PowError> = Err(PowError::Busy);
                    failed?;
                    Ok::<_, ApiError>(HttpResponse::Ok().finish())
                }),
            )
            .wrap(ApiAuthMiddleware::new(config.clone()))
    });

    let res = send(
        &app,
        registration("quinn@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);

    let (release, held) = pow_actix::testing::hold_hash_pool(&config).unwrap();
    let res = send(
        &app,
        sign_in("quinn@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_busy(&res, english);
    let req = sign_in("quinn@example.com", "secret123")
        .insert_header((header::ACCEPT_LANGUAGE, "de-DE,de;q=0.9"))
        .to_srv_request();
    assert_busy(&send(&app, req).await, german);
    let req = registration("rosa@example.com", "secret123")
        .insert_header((header::ACCEPT_LANGUAGE, "de"))
        .to_srv_request();
    assert_busy(&send(&app, req).await, german);
    for path in ["/api/v1/pow-error", "/api/v1/api-error"] {
        let req = TestRequest::get()
            .uri(path)
            .insert_header((header::ACCEPT_LANGUAGE, "de"))
            .to_srv_request();
        assert_busy(&send(&app, req).await, german);
    }

    // The same endpoints without the middleware still answer the translated JSON.
    let served = config.clone();
    let bare = pow_actix::test_client::serve(move || {
        App::new().configure(api::configure(served.clone(), ApiOptions::new()))
    });
    let req = sign_in("quinn@example.com", "secret123")
        .insert_header((header::ACCEPT_LANGUAGE, "de"))
        .to_srv_request();
    assert_busy(&send(&bare, req).await, german);

    // Once the load is gone, signing in works again.
    drop(release);
    held.wait().unwrap();
    let res = send(
        &app,
        sign_in("quinn@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn a_used_renewal_token_replayed_later_revokes_the_chain() {
    let config = setup();
    // No grace: any replay counts as a copy.
    let app = app!(
        config,
        ApiOptions::new().renewal_replay_grace(Duration::ZERO)
    );
    let res = send(
        &app,
        registration("copy@example.com", "secret123").to_srv_request(),
    )
    .await;
    let first_renewal = res.renewal();
    let res = send(&app, renew(&first_renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    let (access, renewal) = (res.access(), res.renewal());
    let res = send(&app, get_me(&access).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);

    // The thief replays the first renewal token: refused, and the owner's current pair is
    // revoked with it.
    let res = send(&app, renew(&first_renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_rejected!(&app, &access);
    let res = send(&app, renew(&renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn a_renewal_token_sent_twice_at_once_revokes_nothing() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("twice@example.com", "secret123").to_srv_request(),
    )
    .await;
    let first_renewal = res.renewal();
    let res = send(&app, renew(&first_renewal).to_srv_request()).await;
    let access = res.access();
    // Within the grace (5 s by default), the repeated request is only refused.
    let res = send(&app, renew(&first_renewal).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = send(&app, get_me(&access).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK, "the new pair lives on");
}

/// A body whose fields are not under `user` (`{"email": ..., "password": ...}`) is the
/// client's mistake: `400 invalid_request` with a text that says where the fields go, not
/// `401 invalid_credentials` (which would send the client hunting for a wrong password).
async fn a_body_without_the_user_object_is_told_where_the_fields_go() {
    let config = setup();
    let app = app!(config);
    let res = send(
        &app,
        registration("flat@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    let access = res.access();

    let flat_sign_in = json!({ "email": "flat@example.com", "password": "secret123" });
    let flat_sign_up = json!({
        "email": "other@example.com",
        "password": "secret123",
        "password_confirmation": "secret123",
    });
    // (method, path, body, signed in)
    let cases = [
        ("POST", "/api/v1/session", flat_sign_in.clone(), false),
        (
            "POST",
            "/api/v1/session",
            json!({ "user": null, "email": "flat@example.com" }),
            false,
        ),
        ("POST", "/api/v1/session", json!({}), false),
        ("POST", "/api/v1/registration", flat_sign_up, false),
        (
            "POST",
            "/api/v1/session/reauthenticate",
            json!({ "password": "secret123" }),
            true,
        ),
        (
            "PATCH",
            "/api/v1/registration",
            json!({ "current_password": "secret123" }),
            true,
        ),
    ];
    for (method, path, body, signed_in) in cases {
        let mut req = TestRequest::default()
            .method(method.parse().unwrap())
            .uri(path)
            .set_json(&body);
        if signed_in {
            req = bearer(req, &access);
        }
        let res = send(&app, req.to_srv_request()).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}: {}",
            res.json
        );
        assert_eq!(res.json["status"], 400);
        assert_eq!(
            res.json["errors"][0]["code"], "invalid_request",
            "{}",
            res.json
        );
        assert_eq!(
            res.message(),
            "Invalid request: the fields go under \"user\", a JSON object in the body"
        );
    }
    // In the request's language.
    let req = TestRequest::post()
        .uri("/api/v1/session")
        .insert_header((header::ACCEPT_LANGUAGE, "de"))
        .set_json(&flat_sign_in);
    let res = send(&app, req.to_srv_request()).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.message().starts_with("Ungültige Anfrage"),
        "{}",
        res.json
    );
    assert!(res.message().contains("\"user\""), "{}", res.json);

    // Nothing was signed up, and the same fields under `user` sign in.
    let res = send(
        &app,
        sign_in("other@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = send(
        &app,
        sign_in("flat@example.com", "secret123").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}

/// The core's document, with the browser transport that adds a second server: every
/// success answer says what it holds, and no text carries a run of spaces (a Rust string
/// continued over lines without `\`).
#[actix_web::test]
async fn the_document_describes_every_success_answer() {
    use pow_actix::testing::{doubled_spaces, undescribed_successes};
    let config = setup();
    for options in [
        ApiOptions::new(),
        ApiOptions::new().browser(api::BrowserTransport::new()),
    ] {
        let api = ApiContext::new(config.clone(), options);
        let doc = api.openapi().unwrap();
        assert_eq!(undescribed_successes(doc), Vec::<String>::new());
        assert_eq!(doubled_spaces(doc), Vec::<String>::new());
    }
    // The walk does catch a bare object.
    let bare = json!({ "paths": { "/x": { "get": { "responses": { "200": {
        "description": "x",
        "content": { "application/json": { "schema": {
            "type": "object",
            "properties": { "status": { "type": "integer" }, "data": { "type": "object" } }
        } } }
    } } } } } });
    assert_eq!(undescribed_successes(&bare).len(), 1);
}

pow_testkit::on_both!(
    async register_sign_in_renew_and_sign_out,
    guards_answer_json_without_an_accept_header,
    wrong_credentials_get_the_generic_message,
    registration_errors_are_per_field_and_translated,
    malformed_bodies_are_bad_requests,
    a_method_a_path_does_not_take_answers_json,
    tampered_and_mismatched_tokens_are_anonymous,
    revoke_user_kills_every_token_of_the_user,
    sign_out_everywhere_revokes_renewal_tokens_too,
    revocation_also_beats_records_written_after_it,
    a_renewal_token_works_once_under_concurrent_use,
    signing_out_with_the_renewal_token_revokes_the_pair,
    renewal_needs_the_user_to_still_exist,
    renewal_tokens_live_in_their_namespace_with_the_configured_ttl,
    api_extensions_add_routes_and_can_refuse_tokens,
    a_password_change_racing_a_sign_in_wins,
    a_used_renewal_token_replayed_later_revokes_the_chain,
    a_renewal_token_sent_twice_at_once_revokes_nothing,
    a_body_without_the_user_object_is_told_where_the_fields_go,
);

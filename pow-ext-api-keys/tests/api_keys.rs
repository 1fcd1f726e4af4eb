//! API keys over HTTP, on actix-web and on axum from one source, on SQLite and PostgreSQL:
//! a signed-in user makes a key (sudo mode), a script uses it on an app route that asks
//! for a scope (as a bearer token or `X-Api-Key`), and unknown, malformed, expired,
//! revoked and wrong-scope keys are refused with distinct codes; a flood of made-up keys
//! never reaches the database; keys of a disabled or erased account stop working at once;
//! a key never meets sudo mode; rename, rotation (with and without overlap), the rate
//! limit, `last_used` written once a minute, and the account's export and erasure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::{Limit, MemoryStore};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowConfigBuilder, User};
use pow_core::api::ApiOptions;
use pow_ext_api_keys::ApiKeys;
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";

fn sqlite() -> DieselUsersContext {
    pow_testkit::sqlite("api-keys")
}

/// A PostgreSQL users context in a schema of its own, or `None` (with a notice) when
/// `POW_TEST_DATABASE_URL` is unset outside CI.
fn postgres() -> Option<DieselUsersContext> {
    pow_testkit::postgres("api_keys")
}

struct Harness {
    config: PowConfig,
    addr: SocketAddr,
    user: User,
    mailer: pow_actix::mailer::MemoryMailer,
}

fn keys() -> ApiKeys {
    ApiKeys::new().scopes(["reports:read", "reports:write"])
}

fn start(users: DieselUsersContext, keys: ApiKeys) -> Harness {
    start_with(users, keys, |b| b)
}

fn start_with(
    users: DieselUsersContext,
    keys: ApiKeys,
    tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> Harness {
    let mailer = pow_actix::mailer::MemoryMailer::new();
    let config = tweak(
        PowConfig::builder("k".repeat(64))
            .users(users.clone())
            .mailer(Arc::new(mailer.clone()))
            .hasher(Pbkdf2Hasher::new(1))
            .base_url("http://localhost")
            .store(Arc::new(MemoryStore::new()))
            .user_disabling(true)
            .extension(keys),
    )
    .build()
    .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = serve(config.clone());
    Harness {
        config,
        addr,
        user,
        mailer,
    }
}

/// The JSON API and an app route that needs a key with `reports:read`, on the test's
/// framework.
fn serve(config: PowConfig) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
            use actix_web::{web, App, HttpResponse};
            use pow_ext_api_keys::actix::ApiKey;
            App::new()
                .app_data(web::Data::new(config.clone()))
                .configure(pow_actix::api::configure(config.clone(), ApiOptions::new()))
                .route(
                    "/reports",
                    web::get().to(|key: ApiKey| async move {
                        key.scope("reports:read")?;
                        Ok::<_, pow_actix::api::ApiError>(
                            HttpResponse::Ok().body(reports_of(&key.key)),
                        )
                    }),
                )
        }),
        pow_testkit::Framework::Axum => {
            use axum::response::IntoResponse;
            use axum::routing::get;
            use pow_ext_api_keys::axum::ApiKey;
            let reports = axum::Router::new()
                .route(
                    "/reports",
                    get(|key: ApiKey| async move {
                        if let Err(refused) = key.scope("reports:read") {
                            return refused;
                        }
                        reports_of(&key.key).into_response()
                    }),
                )
                .layer(pow_axum::ApiLayer::new(config.clone()));
            pow_testkit::serve_axum(
                pow_axum::api::router(&config, ApiOptions::new()).merge(reports),
            )
        }
    }
}

/// What `/reports` answers a key: its owner, and the organization (with its maker's role)
/// an organization's key acts for.
fn reports_of(key: &pow_ext_api_keys::flows::Authenticated) -> String {
    let organization = key
        .organization
        .as_ref()
        .map(|org| format!(" for {} as {}", org.slug, org.role))
        .unwrap_or_default();
    format!("reports of {}{organization}", key.user.id)
}

fn json_client(addr: SocketAddr, token: Option<&str>) -> Client {
    let mut c = Client::new(addr);
    c.headers
        .push(("Content-Type".into(), "application/json".into()));
    if let Some(token) = token {
        c.headers
            .push(("Authorization".into(), format!("Bearer {token}")));
    }
    c
}

fn json_of(res: &Response) -> Value {
    serde_json::from_str(&res.body)
        .unwrap_or_else(|_| panic!("JSON ({}): {}", res.status, res.body))
}

fn call(c: &mut Client, method: &str, path: &str, body: Value) -> Response {
    let body = (method != "GET").then(|| body.to_string());
    c.request(method, path, body)
}

/// An access token of a fresh password sign-in (sudo mode).
fn sign_in(addr: SocketAddr) -> String {
    let mut c = json_client(addr, None);
    let res = call(
        &mut c,
        "POST",
        "/api/v1/session",
        json!({ "user": { "email": EMAIL, "password": PASSWORD } }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    json_of(&res)["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Makes a key with `scopes` over JSON; its answer's data.
fn make_key(addr: SocketAddr, token: &str, scopes: &[&str]) -> Value {
    let mut c = json_client(addr, Some(token));
    let res = call(
        &mut c,
        "POST",
        "/api/v1/api-keys",
        json!({ "name": "CI", "scopes": scopes }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    json_of(&res)["data"].clone()
}

/// `GET /reports` with `key` as a bearer token.
fn report(addr: SocketAddr, key: &str) -> Response {
    json_client(addr, Some(key)).get("/reports")
}

/// The key of a [`make_key`] answer.
fn key_of(made: &Value) -> String {
    made["key"].as_str().unwrap().to_owned()
}

/// Asserts `res` refuses with `status` and the error `code`.
fn assert_refused(res: &Response, status: u16, expected: &str) {
    assert_eq!(
        (res.status, code(res).as_str()),
        (status, expected),
        "{}",
        res.body
    );
}

fn code(res: &Response) -> String {
    json_of(res)["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn a_key_is_made_once_and_opens_a_scoped_route(users: DieselUsersContext) {
    let h = start(users, keys());
    let token = sign_in(h.addr);
    let made = make_key(h.addr, &token, &["reports:read"]);
    let key = made["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pow_"), "{key}");
    assert_eq!(made["scopes"], json!(["reports:read"]));
    // The owner is told.
    let notice = h
        .mailer
        .deliveries()
        .into_iter()
        .find(|mail| mail.subject == "An API key was made for your account")
        .expect("a notice");
    assert_eq!(notice.to, EMAIL);
    assert!(notice.text.contains("“CI”"), "{}", notice.text);
    // As a bearer token, and as `X-Api-Key`.
    let res = report(h.addr, &key);
    assert_eq!(
        (res.status, res.body.as_str()),
        (200, format!("reports of {}", h.user.id).as_str())
    );
    let mut c = Client::new(h.addr);
    c.headers.push(("X-Api-Key".into(), key.clone()));
    assert_eq!(c.get("/reports").status, 200);
    // The list never shows the key again, nor any secret.
    let mut c = json_client(h.addr, Some(&token));
    let listed = call(&mut c, "GET", "/api/v1/api-keys", Value::Null);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(!listed.body.contains(&key[20..]), "{}", listed.body);
    assert!(!listed.body.contains("secret"), "{}", listed.body);
    let listed = json_of(&listed);
    assert_eq!(listed["data"][0]["id"], made["id"]);
    assert_eq!(
        listed["meta"]["scopes"],
        json!(["reports:read", "reports:write"])
    );
    assert!(listed["data"][0]["last_used_at"].is_string(), "{listed}");
}

fn a_key_is_made_once_and_opens_a_scoped_route_on_sqlite() {
    a_key_is_made_once_and_opens_a_scoped_route(sqlite());
}

fn a_key_is_made_once_and_opens_a_scoped_route_on_postgres() {
    if let Some(users) = postgres() {
        a_key_is_made_once_and_opens_a_scoped_route(users);
    }
}

fn refused_keys_get_distinct_codes(users: DieselUsersContext) {
    let h = start(users, keys());
    let token = sign_in(h.addr);
    let writer = make_key(h.addr, &token, &["reports:write"]);
    let writer = writer["key"].as_str().unwrap();
    // Wrong scope.
    let res = report(h.addr, writer);
    assert_refused(&res, 403, "insufficient_scope");
    // Malformed, and made up (the right shape, not this setup's).
    let mut c = Client::new(h.addr);
    c.headers.push(("X-Api-Key".into(), "pow_not-a-key".into()));
    let res = c.get("/reports");
    assert_refused(&res, 401, "api_key_malformed");
    let made_up = format!("pow_{}_{}", "0".repeat(16), "0".repeat(40));
    let res = report(h.addr, &made_up);
    assert_refused(&res, 401, "api_key_unknown");
    // Expired.
    let reader = make_key(h.addr, &token, &["reports:read"]);
    let id = reader["id"].as_str().unwrap().to_owned();
    let reader = reader["key"].as_str().unwrap().to_owned();
    assert_eq!(report(h.addr, &reader).status, 200);
    expire(&h.config, &id);
    let res = report(h.addr, &reader);
    assert_refused(&res, 401, "api_key_expired");
    // Revoked, over JSON.
    let reader = make_key(h.addr, &token, &["reports:read"]);
    let id = reader["id"].as_str().unwrap();
    let reader = reader["key"].as_str().unwrap();
    let mut c = json_client(h.addr, Some(&token));
    assert_eq!(
        call(
            &mut c,
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            json!({})
        )
        .status,
        200
    );
    let res = report(h.addr, reader);
    assert_refused(&res, 401, "api_key_revoked");
    assert_eq!(
        call(
            &mut c,
            "DELETE",
            &format!("/api/v1/api-keys/{id}"),
            json!({})
        )
        .status,
        404
    );
    // No key at all.
    let res = json_client(h.addr, None).get("/reports");
    assert_refused(&res, 401, "api_key_malformed");
}

fn refused_keys_get_distinct_codes_on_sqlite() {
    refused_keys_get_distinct_codes(sqlite());
}

fn refused_keys_get_distinct_codes_on_postgres() {
    if let Some(users) = postgres() {
        refused_keys_get_distinct_codes(users);
    }
}

/// Moves the key's expiry into the past, as time would.
fn expire(config: &PowConfig, id: &str) {
    use diesel::RunQueryDsl as _;
    let tables = pow_core::users::diesel::Tables::of(config, "tests").unwrap();
    let sql = format!(
        "UPDATE {} SET expires_at = '2000-01-01 00:00:00' WHERE id = '{id}'",
        tables.table("api_keys")
    );
    actix_web::rt::System::new()
        .block_on(tables.run(move |db| {
            pow_core::with_connection!(db, conn => diesel::sql_query(&sql)
                .execute(conn)
                .map_err(pow_core::users::diesel::query_error))?;
            Ok(())
        }))
        .unwrap();
    // Behind the API's back: drop the key's record too, as every flow that changes a key
    // does.
    let namespace = config.namespaced("api_key_records");
    actix_web::rt::System::new()
        .block_on(
            config
                .store()
                .delete(&namespace, &pow_core::store::Key::from([id])),
        )
        .unwrap();
}

fn a_flood_of_invalid_keys_never_reaches_the_database() {
    let h = start(sqlite(), keys());
    for n in 0..50 {
        let made_up = format!("pow_{n:016x}_{}", "a".repeat(40));
        let res = report(h.addr, &made_up);
        assert_eq!(code(&res), "api_key_unknown");
        let res = report(h.addr, &format!("pow_{n}"));
        assert_eq!(code(&res), "api_key_malformed");
    }
    assert_eq!(
        pow_ext_api_keys::queries(&h.config),
        0,
        "no lookup for 100 invalid keys"
    );
}

fn keys_die_with_their_owner() {
    let h = start(sqlite(), keys());
    let token = sign_in(h.addr);
    let key = key_of(&make_key(h.addr, &token, &["reports:read"]));
    assert_eq!(report(h.addr, &key).status, 200);
    let rt = actix_web::rt::System::new();
    let disabled = rt
        .block_on(pow_core::admin::disable_user(&h.config, &h.user))
        .unwrap();
    let res = report(h.addr, &key);
    assert_refused(&res, 401, "api_key_revoked");
    rt.block_on(pow_core::admin::enable_user(&h.config, &disabled))
        .unwrap();
    assert_eq!(report(h.addr, &key).status, 200, "back with the account");
    // Erased: the keys are gone with the rest.
    rt.block_on(pow_core::admin::erase_extension_data(&h.config, &h.user))
        .unwrap();
    let res = report(h.addr, &key);
    assert_refused(&res, 401, "api_key_unknown");
}

fn a_closed_accounts_keys_stop_at_once() {
    let account = pow_ext_account::Account::new();
    let h = start_with(sqlite(), keys(), |b| b.extension(account.clone()));
    let token = sign_in(h.addr);
    let key = key_of(&make_key(h.addr, &token, &["reports:read"]));
    assert_eq!(report(h.addr, &key).status, 200);
    let lang = pow_core::messages::LanguageIdentifier::default();
    actix_web::rt::System::new()
        .block_on(account.close(&h.config, &h.user, &lang))
        .unwrap();
    let res = report(h.addr, &key);
    assert_refused(&res, 401, "api_key_revoked");
}

fn a_key_never_meets_sudo_mode_nor_manages_keys() {
    let h = start(sqlite(), keys());
    let token = sign_in(h.addr);
    let key = key_of(&make_key(
        h.addr,
        &token,
        &["reports:read", "reports:write"],
    ));
    // A key is no session: making another key with it is refused.
    let mut c = json_client(h.addr, Some(&key));
    let res = call(
        &mut c,
        "POST",
        "/api/v1/api-keys",
        json!({ "name": "x", "scopes": ["reports:read"] }),
    );
    assert_eq!(res.status, 401, "{}", res.body);
    let res = call(&mut c, "GET", "/api/v1/session", Value::Null);
    assert_eq!(res.status, 401, "{}", res.body);
}

fn making_a_key_needs_a_fresh_session_and_declared_scopes() {
    let h = start_with(sqlite(), keys(), |b| b.sudo_window(Duration::ZERO));
    let token = sign_in(h.addr);
    let mut c = json_client(h.addr, Some(&token));
    let res = call(
        &mut c,
        "POST",
        "/api/v1/api-keys",
        json!({ "name": "CI", "scopes": ["reports:read"] }),
    );
    // The engine's sudo refusal: a pending step.
    assert_refused(&res, 401, "reauthentication_required");

    let h = start(sqlite(), keys());
    let token = sign_in(h.addr);
    let mut c = json_client(h.addr, Some(&token));
    for (body, param) in [
        (json!({ "name": "CI", "scopes": ["admin"] }), "scopes"),
        (json!({ "name": "CI", "scopes": [] }), "scopes"),
        (json!({ "name": " ", "scopes": ["reports:read"] }), "name"),
        (
            json!({ "name": "CI", "scopes": ["reports:read"], "expires_in_days": 400 }),
            "expires_in_days",
        ),
    ] {
        let res = call(&mut c, "POST", "/api/v1/api-keys", body.clone());
        assert_eq!(
            (res.status, code(&res)),
            (422, "invalid_api_key".into()),
            "{body}: {}",
            res.body
        );
        assert_eq!(json_of(&res)["errors"][1]["param"], param, "{}", res.body);
    }
    let listed = call(&mut c, "GET", "/api/v1/api-keys", Value::Null);
    assert_eq!(json_of(&listed)["data"], json!([]), "nothing was made");
}

fn keys_are_renamed_and_rotated() {
    let h = start(sqlite(), keys());
    let token = sign_in(h.addr);
    let made = make_key(h.addr, &token, &["reports:read"]);
    let (id, old) = (made["id"].as_str().unwrap(), made["key"].as_str().unwrap());
    let mut c = json_client(h.addr, Some(&token));
    let res = call(
        &mut c,
        "PATCH",
        &format!("/api/v1/api-keys/{id}"),
        json!({ "name": "deploy" }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    // With an overlap, both keys work until it ends.
    let res = call(
        &mut c,
        "POST",
        &format!("/api/v1/api-keys/{id}/rotate"),
        json!({ "overlap_secs": 3600 }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let rotated = json_of(&res)["data"].clone();
    assert_eq!(rotated["name"], "deploy");
    assert_eq!(rotated["scopes"], json!(["reports:read"]));
    let new = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(report(h.addr, old).status, 200);
    assert_eq!(report(h.addr, &new).status, 200);
    // Without one, the old key stops at once.
    let new_id = rotated["id"].as_str().unwrap();
    let res = call(
        &mut c,
        "POST",
        &format!("/api/v1/api-keys/{new_id}/rotate"),
        json!({}),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let newest = json_of(&res)["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(code(&report(h.addr, &new)), "api_key_revoked");
    assert_eq!(report(h.addr, &newest).status, 200);
    // Another user's key, or none: not found.
    let res = call(
        &mut c,
        "POST",
        "/api/v1/api-keys/0000000000000000/rotate",
        json!({}),
    );
    assert_eq!(res.status, 404, "{}", res.body);
}

fn the_rate_limit_counts_each_request_once() {
    let h = start(
        sqlite(),
        keys().rate_limit(Limit::new(3, Duration::from_secs(60))),
    );
    let token = sign_in(h.addr);
    let key = key_of(&make_key(h.addr, &token, &["reports:read"]));
    for _ in 0..3 {
        assert_eq!(report(h.addr, &key).status, 200);
    }
    let res = report(h.addr, &key);
    assert_refused(&res, 429, "rate_limited");
}

fn last_use_is_written_once_a_minute() {
    let h = start(sqlite(), keys());
    let token = sign_in(h.addr);
    let key = key_of(&make_key(h.addr, &token, &["reports:read"]));
    let before = pow_ext_api_keys::queries(&h.config);
    assert_eq!(report(h.addr, &key).status, 200);
    // The lookup, the first use written, and the lookup again once the key is recorded.
    assert_eq!(pow_ext_api_keys::queries(&h.config) - before, 3);
    assert_eq!(report(h.addr, &key).status, 200);
    // Verified within the minute: from its record, no query (and no use written).
    assert_eq!(pow_ext_api_keys::queries(&h.config) - before, 3);
}

/// Two processes of one app share the cache store and the database: a key revoked
/// through one is refused by the other on its next request, however often the other has
/// just seen it.
fn a_key_revoked_by_another_process_stops_on_the_next_request() {
    let store: Arc<dyn pow_core::store::Store> = Arc::new(MemoryStore::new());
    let users = sqlite();
    let shared = Arc::clone(&store);
    let h = start_with(users.clone(), keys(), move |b| b.store(shared));
    let other = PowConfig::builder("k".repeat(64))
        .users(users)
        .base_url("http://localhost")
        .store(store)
        .extension(keys())
        .build()
        .unwrap();
    let token = sign_in(h.addr);
    let made = make_key(h.addr, &token, &["reports:read"]);
    let (id, key) = (made["id"].as_str().unwrap(), key_of(&made));
    for _ in 0..3 {
        assert_eq!(report(h.addr, &key).status, 200);
    }
    let revoked = actix_web::rt::System::new()
        .block_on(pow_ext_api_keys::flows::revoke(&other, &h.user, id))
        .unwrap();
    assert!(revoked);
    assert_refused(&report(h.addr, &key), 401, "api_key_revoked");
}

fn the_export_lists_keys_without_secrets() {
    let h = start(sqlite(), keys());
    let token = sign_in(h.addr);
    let made = make_key(h.addr, &token, &["reports:read"]);
    let export = actix_web::rt::System::new()
        .block_on(pow_core::admin::export_user(&h.config, &h.user))
        .unwrap();
    let text = export.to_string();
    assert!(text.contains(made["id"].as_str().unwrap()), "{text}");
    assert!(text.contains("reports:read"), "{text}");
    assert!(
        !text.contains(&made["key"].as_str().unwrap()[21..]),
        "{text}"
    );
}

/// The account's page: a key made there is shown once and works on the API, a refused
/// scope is told, revoking ends it; a stale session confirms its password first.
fn the_page_makes_shows_once_and_revokes_keys() {
    let h = start(sqlite(), keys());
    let pages = pow_testkit::serve(h.config.clone());
    let mut browser = Client::new(pages);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    // The account page links to it.
    let account = browser.get("/registration/edit");
    assert!(
        account.body.contains(r#"href="/api-keys""#),
        "{}",
        account.body
    );
    let listed = browser.get("/api-keys");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.body.contains("No API keys yet."), "{}", listed.body);
    let csrf = listed.csrf();
    let refused = browser.post(
        "/api-keys",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[name]", "CI"),
            ("user[scopes]", "admin"),
        ],
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("Choose scopes this app offers."),
        "{}",
        refused.body
    );
    let made = browser.post(
        "/api-keys",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[name]", "CI"),
            ("user[scopes]", "reports:read"),
        ],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    assert!(made.body.contains("it is shown once"), "{}", made.body);
    let at = made.body.find("pow_").expect("the key on the page");
    let key = made.body[at..at + 61].to_owned();
    assert_eq!(report(h.addr, &key).status, 200, "{key}");
    // Shown once: the list holds no secret.
    let listed = browser.get("/api-keys");
    assert!(!listed.body.contains(&key), "{}", listed.body);
    assert!(listed.body.contains("CI (reports:read)"), "{}", listed.body);
    let id = &key[4..20];
    let csrf = listed.csrf();
    let revoked = browser.post(
        "/api-keys/revoke",
        &[("_csrf_token", csrf.as_str()), ("user[id]", id)],
    );
    assert_eq!(
        (revoked.status, revoked.location()),
        (302, "/api-keys"),
        "{}",
        revoked.body
    );
    assert_eq!(code(&report(h.addr, &key)), "api_key_revoked");

    // A session past the sudo window confirms its password before a key is made.
    let stale = start_with(sqlite(), keys(), |b| b.sudo_window(Duration::ZERO));
    let mut browser = Client::new(pow_testkit::serve(stale.config.clone()));
    browser.sign_in(EMAIL, PASSWORD);
    let csrf = browser.get("/api-keys").csrf();
    let res = browser.post(
        "/api-keys",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[name]", "CI"),
            ("user[scopes]", "reports:read"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(
        res.location().starts_with("/session/confirm"),
        "{}",
        res.location()
    );
}

/// A signed-in API client's token of `email`.
fn sign_in_as(addr: SocketAddr, email: &str) -> String {
    let mut c = json_client(addr, None);
    let res = call(
        &mut c,
        "POST",
        "/api/v1/session",
        json!({ "user": { "email": email, "password": PASSWORD } }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    json_of(&res)["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn organization_keys_act_for_the_organization_while_their_maker_belongs(users: DieselUsersContext) {
    use pow_ext_organizations::Organizations;
    let h = start_with(users, keys(), |b| {
        b.extension(pow_ext_email_confirmation::EmailConfirmation::new())
            .extension(Organizations::new())
    });
    let api = |token: &str, method: &str, path: &str, body: Value| {
        let mut c = json_client(h.addr, Some(token));
        call(&mut c, method, &format!("/api/v1{path}"), body)
    };
    pow_ext_email_confirmation::confirm_user(&h.config, &h.user).unwrap();
    let ada = sign_in(h.addr);
    let res = api(
        &ada,
        "POST",
        "/organizations",
        json!({ "name": "Acme", "slug": "acme" }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    // Bob joins as an admin, Carl as a member, by invitation.
    let mut joined = Vec::new();
    for (email, role) in [("bob@example.com", "admin"), ("carl@example.com", "member")] {
        let user = pow_actix::testing::create_user(&h.config, email, PASSWORD).unwrap();
        let user = pow_ext_email_confirmation::confirm_user(&h.config, &user).unwrap();
        let res = api(
            &ada,
            "POST",
            "/organizations/acme/invitations",
            json!({ "email": email, "role": role }),
        );
        assert_eq!(res.status, 202, "{}", res.body);
        let mail = h
            .mailer
            .deliveries()
            .into_iter()
            .rev()
            .find(|m| m.to == email)
            .unwrap();
        let at = mail.text.find("/organization-invitations/").unwrap();
        let link: String = mail.text[at + 26..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let token = sign_in_as(h.addr, email);
        let res = api(
            &token,
            "POST",
            &format!("/organization-invitations/{link}"),
            json!({}),
        );
        assert_eq!(res.status, 200, "{}", res.body);
        joined.push((user, token));
    }
    let (bob, bob_token) = &joined[0];
    let (_, carl_token) = &joined[1];
    // An admin makes a key of the organization; a member may not.
    let res = api(
        bob_token,
        "POST",
        "/organizations/acme/api-keys",
        json!({ "name": "CI", "scopes": ["reports:read"] }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let made = json_of(&res)["data"].clone();
    let key = key_of(&made);
    assert!(made["organization_id"].is_string(), "{made}");
    let res = api(
        carl_token,
        "POST",
        "/organizations/acme/api-keys",
        json!({ "name": "x", "scopes": ["reports:read"] }),
    );
    assert_refused(&res, 403, "forbidden");
    assert_refused(
        &api(
            carl_token,
            "GET",
            "/organizations/acme/api-keys",
            Value::Null,
        ),
        403,
        "forbidden",
    );
    // It acts for the organization, with its maker's role; it is no personal key of theirs.
    let res = report(h.addr, &key);
    assert_eq!(res.body, format!("reports of {} for acme as admin", bob.id));
    let own = json_of(&api(bob_token, "GET", "/api-keys", Value::Null))["data"].clone();
    assert_eq!(own, json!([]));
    let listed = json_of(&api(
        &ada,
        "GET",
        "/organizations/acme/api-keys",
        Value::Null,
    ))["data"]
        .clone();
    assert_eq!(listed[0]["id"], made["id"]);
    // Limited by its maker's role as it stands: a demotion counts at once ...
    let res = api(
        &ada,
        "PATCH",
        &format!("/organizations/acme/members/{}", bob.id),
        json!({ "role": "member" }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        report(h.addr, &key).body,
        format!("reports of {} for acme as member", bob.id)
    );
    // ... and the removal of its maker ends it.
    let res = api(
        &ada,
        "DELETE",
        &format!("/organizations/acme/members/{}", bob.id),
        json!({}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_refused(&report(h.addr, &key), 401, "api_key_revoked");
    // Invited back (in a later second than the key was made: the tables keep seconds),
    // the maker does not bring the key back: the removal ended it for good.
    let made_at = chrono::DateTime::parse_from_rfc3339(made["created_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    while chrono::Utc::now().timestamp() <= made_at {
        std::thread::sleep(Duration::from_millis(20));
    }
    let res = api(
        &ada,
        "POST",
        "/organizations/acme/invitations",
        json!({ "email": "bob@example.com", "role": "admin" }),
    );
    assert_eq!(res.status, 202, "{}", res.body);
    let mail = h
        .mailer
        .deliveries()
        .into_iter()
        .rev()
        .find(|m| m.to == "bob@example.com")
        .unwrap();
    let at = mail.text.find("/organization-invitations/").unwrap();
    let link: String = mail.text[at + 26..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let res = api(
        bob_token,
        "POST",
        &format!("/organization-invitations/{link}"),
        json!({}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_refused(&report(h.addr, &key), 401, "api_key_revoked");
    let listed = json_of(&api(
        &ada,
        "GET",
        "/organizations/acme/api-keys",
        Value::Null,
    ))["data"]
        .clone();
    let old = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == made["id"])
        .unwrap();
    assert!(!old["revoked_at"].is_null(), "listed as revoked: {old}");
    // Revoked by the organization's endpoint.
    let res = api(
        &ada,
        "POST",
        "/organizations/acme/api-keys",
        json!({ "name": "Deploy", "scopes": ["reports:read"] }),
    );
    let made = json_of(&res)["data"].clone();
    assert_eq!(report(h.addr, &key_of(&made)).status, 200);
    let path = format!(
        "/organizations/acme/api-keys/{}",
        made["id"].as_str().unwrap()
    );
    assert_eq!(api(&ada, "DELETE", &path, json!({})).status, 200);
    assert_refused(&report(h.addr, &key_of(&made)), 401, "api_key_revoked");
    // The organization's closure ends its keys.
    let res = api(
        &ada,
        "POST",
        "/organizations/acme/api-keys",
        json!({ "name": "Nightly", "scopes": ["reports:read"] }),
    );
    let nightly = key_of(&json_of(&res)["data"]);
    assert_eq!(report(h.addr, &nightly).status, 200);
    assert_eq!(
        api(&ada, "DELETE", "/organizations/acme", json!({})).status,
        200
    );
    assert_refused(&report(h.addr, &nightly), 401, "api_key_revoked");
}

fn organization_keys_act_for_the_organization_while_their_maker_belongs_on_sqlite() {
    organization_keys_act_for_the_organization_while_their_maker_belongs(sqlite());
}

fn organization_keys_act_for_the_organization_while_their_maker_belongs_on_postgres() {
    if let Some(users) = postgres() {
        organization_keys_act_for_the_organization_while_their_maker_belongs(users);
    }
}

/// Made-up secrets naming a real key's id (the visible part of a key, the one that
/// reaches logs), from several clients, are refused and counted apart: the owner's next
/// request with the real key is served. Before, they spent the key's own limit and the
/// owner got `429`.
fn made_up_secrets_naming_a_key_never_lock_its_owner_out() {
    let h = start_with(
        sqlite(),
        keys().rate_limit(Limit::new(3, Duration::from_secs(60))),
        |b| {
            b.rate_limits(pow_actix::limits::RateLimits {
                trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
                ..pow_actix::limits::RateLimits::default()
            })
        },
    );
    let token = sign_in(h.addr);
    let made = make_key(h.addr, &token, &["reports:read"]);
    let id = made["id"].as_str().unwrap();
    let from = |ip: &str, key: &str| {
        let mut c = json_client(h.addr, Some(key));
        c.headers.push(("X-Forwarded-For".into(), ip.into()));
        c.get("/reports")
    };
    for n in 0..9 {
        let forged = format!("pow_{id}_{:040x}", n);
        let res = from(&format!("198.51.100.{}", n % 3 + 1), &forged);
        assert!(
            matches!(code(&res).as_str(), "api_key_unknown" | "rate_limited"),
            "{}",
            res.body
        );
    }
    let res = from("203.0.113.9", &key_of(&made));
    assert_eq!(res.status, 200, "{}", res.body);
}

/// Steps the record of the key `id` back so that its last use is over a minute old, as a
/// record written just before the minute's end is (behind the API's back, as another
/// process would leave it).
fn age_record(config: &PowConfig, id: &str) {
    let namespace = config.namespaced("api_key_records");
    let key = pow_core::store::Key::from([id]);
    let rt = actix_web::rt::System::new();
    let bytes = rt
        .block_on(config.store().get(&namespace, &key))
        .unwrap()
        .expect("a record of the key");
    let mut record: Value = serde_json::from_slice(&bytes).unwrap();
    let old = chrono::Utc::now().timestamp_millis() - 61_000;
    record["last_used_at"] = json!(old);
    rt.block_on(config.store().put(
        &namespace,
        vec![(key, serde_json::to_vec(&record).unwrap())],
        Some(Duration::from_secs(60)),
    ))
    .unwrap();
}

/// The owner disabled by another process (its revocation never reached this store), and
/// the key used as its record's minute ends: the use written then does not give the
/// record, and the owner as it was read, a new minute. Before, it did, and under steady
/// traffic the key worked about two minutes after the owner was disabled.
fn a_last_use_written_never_renews_a_stale_owner() {
    let h = start(sqlite(), keys());
    let token = sign_in(h.addr);
    let made = make_key(h.addr, &token, &["reports:read"]);
    let (id, key) = (made["id"].as_str().unwrap(), key_of(&made));
    assert_eq!(report(h.addr, &key).status, 200);
    // Disabled in the database alone, as the CLI without the app's store does.
    let mut changes = pow_core::users::Changes::new();
    changes.insert(
        "disabled_at".to_owned(),
        pow_core::users::Value::Timestamp(chrono::Utc::now()),
    );
    actix_web::rt::System::new()
        .block_on(h.config.users().unwrap().update_fields(&h.user, changes))
        .unwrap();
    age_record(&h.config, id);
    // Within the bound, from the record: served, and its last use written.
    assert_eq!(report(h.addr, &key).status, 200);
    // The record was not renewed: the next request reads the owner again.
    assert_refused(&report(h.addr, &key), 401, "api_key_revoked");
}

/// An account deleted by its owner takes its keys along on the next request: the keys'
/// records are dropped while the keys can still be found. Before, the row went first
/// (the keys by cascade) and the record kept the key working for up to two minutes.
fn a_deleted_owners_key_stops_at_once() {
    let h = start(sqlite(), keys());
    let token = sign_in(h.addr);
    let key = key_of(&make_key(h.addr, &token, &["reports:read"]));
    assert_eq!(report(h.addr, &key).status, 200);
    assert_eq!(report(h.addr, &key).status, 200, "from its record");
    let mut c = json_client(h.addr, Some(&token));
    let res = call(&mut c, "DELETE", "/api/v1/registration", json!({}));
    assert_eq!(res.status, 204, "{}", res.body);
    assert_eq!(report(h.addr, &key).status, 401);
}

pow_testkit::on_both!(
    the_page_makes_shows_once_and_revokes_keys,
    a_key_is_made_once_and_opens_a_scoped_route_on_sqlite,
    a_key_is_made_once_and_opens_a_scoped_route_on_postgres,
    refused_keys_get_distinct_codes_on_sqlite,
    refused_keys_get_distinct_codes_on_postgres,
    a_flood_of_invalid_keys_never_reaches_the_database,
    keys_die_with_their_owner,
    a_closed_accounts_keys_stop_at_once,
    a_key_never_meets_sudo_mode_nor_manages_keys,
    making_a_key_needs_a_fresh_session_and_declared_scopes,
    keys_are_renamed_and_rotated,
    the_rate_limit_counts_each_request_once,
    last_use_is_written_once_a_minute,
    a_key_revoked_by_another_process_stops_on_the_next_request,
    the_export_lists_keys_without_secrets,
    organization_keys_act_for_the_organization_while_their_maker_belongs_on_sqlite,
    organization_keys_act_for_the_organization_while_their_maker_belongs_on_postgres,
    made_up_secrets_naming_a_key_never_lock_its_owner_out,
    a_last_use_written_never_renews_a_stale_owner,
    a_deleted_owners_key_stops_at_once,
);

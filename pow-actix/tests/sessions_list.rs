//! The user's list of sessions over HTTP, on memory and Redis: two browsers with their user
//! agents, "this device" marked; ending one needs a fresh password and signs that browser
//! out on its next request; "end all others" keeps only this one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::{MemoryStore, Store};
use pow_actix::test_client::{serve, Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;

const PASSWORD: &str = "correct horse battery";

fn start(store: Arc<dyn Store>) -> std::net::SocketAddr {
    start_with(store, None)
}

fn start_with(store: Arc<dyn Store>, max_sessions: Option<usize>) -> std::net::SocketAddr {
    let db = std::env::temp_dir().join(format!(
        "pow-sessions-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("s".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(store)
        .max_sessions_per_user(max_sessions)
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "alice@example.com", PASSWORD).unwrap();
    pow_testkit::serve(config.clone())
}

fn browser(addr: std::net::SocketAddr, agent: &str) -> Client {
    let mut c = Client::new(addr);
    c.headers.push(("User-Agent".to_owned(), agent.to_owned()));
    assert_eq!(c.sign_in("alice@example.com", PASSWORD).location(), "/");
    c
}

/// The hidden value of the form on `page` whose button mentions `needle`.
fn form_value(page: &Response, needle: &str) -> String {
    let form = page
        .body
        .split("<form")
        .find(|form| form.contains(needle))
        .unwrap_or_else(|| panic!("no form mentions {needle}: {}", page.body));
    let at = form
        .find("name=\"user[session]\" value=\"")
        .expect("a session field")
        + "name=\"user[session]\" value=\"".len();
    form[at..at + form[at..].find('"').unwrap()].to_owned()
}

fn signed_in(c: &mut Client) -> bool {
    c.get("/registration/edit").status == 200
}

fn lists_and_ends_sessions(store: Arc<dyn Store>) {
    let addr = start(store);
    let mut firefox = browser(
        addr,
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    );
    let mut safari = browser(
        addr,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) \
         Version/17.1 Safari/605.1.15",
    );
    let mut curl = browser(addr, "curl/8.5");

    let page = firefox.get("/registration/sessions");
    assert_eq!(page.status, 200);
    // Browsers by name and system, not by raw user agent; an HTTP library by its own.
    assert!(page.body.contains("Firefox on Linux"), "{}", page.body);
    assert!(page.body.contains("Safari on Mac OSX"), "{}", page.body);
    assert!(page.body.contains("curl/8.5"), "{}", page.body);
    assert!(!page.body.contains("Gecko/20100101"), "{}", page.body);
    assert!(page.body.contains("End (this device): Firefox on Linux"));
    assert!(!page.body.contains("End (this device): Safari"));

    let safari_handle = form_value(&page, "Safari on Mac OSX");
    let csrf = page.csrf();
    let res = firefox.post(
        "/registration/sessions",
        &[("_csrf_token", &csrf), ("user[session]", &safari_handle)],
    );
    assert_eq!(res.location(), "/registration/sessions");
    // The page the answer leads to says what was done, and still says what the page is.
    let page = firefox.get("/registration/sessions");
    assert!(page.body.contains("One session ended."), "{}", page.body);
    assert!(
        page.body
            .contains("These devices are signed in to your account."),
        "{}",
        page.body
    );
    assert!(!signed_in(&mut safari), "ended on its next request");
    assert!(signed_in(&mut firefox));
    assert!(signed_in(&mut curl));
    // A forged handle ends nothing.
    let csrf = firefox.get("/registration/sessions").csrf();
    firefox.post(
        "/registration/sessions",
        &[("_csrf_token", &csrf), ("user[session]", "not-a-handle")],
    );
    assert!(signed_in(&mut curl));

    let csrf = firefox.get("/registration/sessions").csrf();
    let res = firefox.post(
        "/registration/sessions",
        &[("_csrf_token", &csrf), ("user[scope]", "others")],
    );
    assert_eq!(res.location(), "/registration/sessions");
    assert!(!signed_in(&mut curl));
    assert!(signed_in(&mut firefox));
    let page = firefox.get("/registration/sessions");
    assert_eq!(
        page.body.matches("<form").count(),
        2,
        "end-others and this device"
    );
}

fn lists_and_ends_sessions_on_memory() {
    lists_and_ends_sessions(MemoryStore::shared());
}

fn lists_and_ends_sessions_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-sessions-{}", pow_actix::token::generate_uuid());
    lists_and_ends_sessions(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

/// An app serving the JSON API on a fresh SQLite file where alice exists: its config,
/// address and database file.
fn api_app() -> (PowConfig, std::net::SocketAddr, std::path::PathBuf) {
    let db = std::env::temp_dir().join(format!("pow-api-{}.db", pow_actix::token::generate_uuid()));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("s".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "alice@example.com", PASSWORD).unwrap();
    let served = config.clone();
    let addr = serve(move || {
        actix_web::App::new().configure(pow_actix::api::configure(
            served.clone(),
            pow_actix::api::ApiOptions::new(),
        ))
    });
    (config, addr, db)
}

/// Disabling ends API tokens too, and the API refuses the sign-in with a stable code.
#[test]
fn disabling_ends_api_tokens_and_refuses_api_sign_in() {
    let (config, addr, db) = api_app();
    let user = config
        .users_context()
        .unwrap()
        .get_by(config.user_schema(), "email", &"alice@example.com".into())
        .unwrap()
        .unwrap();
    let mut c = Client::new(addr);
    let body = format!(r#"{{"user": {{"email": "alice@example.com", "password": "{PASSWORD}"}}}}"#);
    let res = c.request("POST", "/api/v1/session", Some(body.clone()));
    assert_eq!(res.status, 200, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let access = json["data"]["access_token"].as_str().unwrap().to_owned();

    let system = actix_web::rt::System::new();
    assert!(system
        .block_on(pow_actix::api::authenticate(&config, &access))
        .unwrap()
        .is_some());
    system
        .block_on(pow_actix::admin::disable_user(&config, &user))
        .unwrap();
    assert!(
        system
            .block_on(pow_actix::api::authenticate(&config, &access))
            .unwrap()
            .is_none(),
        "the token ended with the disabling"
    );
    let res = c.request("POST", "/api/v1/session", Some(body));
    assert_eq!(res.status, 403, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(json["errors"][0]["code"], "account_disabled");
    let _ = std::fs::remove_file(db);
}

/// The JSON session list: the caller's own pair shows as current; ending a session by its
/// handle signs that client out.
#[test]
fn the_api_lists_and_ends_sessions() {
    let (config, addr, db) = api_app();
    let token = |c: &mut Client| -> String {
        let body =
            format!(r#"{{"user": {{"email": "alice@example.com", "password": "{PASSWORD}"}}}}"#);
        let res = c.request("POST", "/api/v1/session", Some(body));
        let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
        json["data"]["access_token"].as_str().unwrap().to_owned()
    };
    let (mut phone, mut laptop) = (Client::new(addr), Client::new(addr));
    phone
        .headers
        .push(("User-Agent".to_owned(), "PhoneApp/3.1".to_owned()));
    let phone_token = token(&mut phone);
    let laptop_token = token(&mut laptop);
    laptop
        .headers
        .push(("Authorization".to_owned(), format!("Bearer {laptop_token}")));
    let list = laptop.get("/api/v1/sessions");
    assert_eq!(list.status, 200, "{}", list.body);
    let json: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    let sessions = json["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let phone = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(phone["kind"], "api");
    assert_eq!(
        phone["user_agent"], "PhoneApp/3.1",
        "the device of a token pair"
    );
    assert_eq!(phone["ip"], "127.0.0.1");
    let phone_id = phone["id"].as_str().unwrap().to_owned();
    assert!(!list.body.contains(&phone_token), "handles, never tokens");

    let system = actix_web::rt::System::new();
    assert!(system
        .block_on(pow_actix::api::authenticate(&config, &phone_token))
        .unwrap()
        .is_some());
    let res = laptop.request("DELETE", &format!("/api/v1/sessions/{phone_id}"), None);
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(system
        .block_on(pow_actix::api::authenticate(&config, &phone_token))
        .unwrap()
        .is_none());
    let res = laptop.request("DELETE", "/api/v1/sessions/unknown", None);
    assert_eq!(res.status, 404);
    let _ = std::fs::remove_file(db);
}

/// With a cap of two sessions, a third sign-in ends the least recently active one.
fn a_session_cap_ends_the_stalest_session() {
    let addr = start_with(MemoryStore::shared(), Some(2));
    let mut first = browser(addr, "first");
    let mut second = browser(addr, "second");
    assert!(signed_in(&mut first));
    let mut third = browser(addr, "third");
    assert!(signed_in(&mut third));
    assert!(signed_in(&mut second));
    assert!(!signed_in(&mut first), "the stalest session ended");
}

pow_testkit::on_both!(
    lists_and_ends_sessions_on_memory,
    lists_and_ends_sessions_on_redis,
    a_session_cap_ends_the_stalest_session,
);

//! The API's browser transport, as a single-page app on the same site sees it: the same
//! routes under `/api/v1/browser`, signed in by the session cookie (never a token in a
//! body), every state change refused without a trusted `Origin` (or the browser's own
//! `Sec-Fetch-Site: same-origin`), the cookie renewed on sign-in and on a new password,
//! and neither transport accepting the other's credentials.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, User};
use pow_core::api::{ApiOptions, BrowserTransport};
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";
/// The config's base URL, whose origin the transport trusts.
const SITE: &str = "http://localhost";
/// A front end on another host, trusted explicitly.
const APP: &str = "https://app.example.com";

fn start() -> (PowConfig, SocketAddr, User) {
    let db = std::env::temp_dir().join(format!(
        "pow-api-browser-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("b".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(MemoryMailer::new()))
        .base_url(SITE)
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let options = ApiOptions::new().browser(BrowserTransport::new().trusted_origin(APP));
    let addr = pow_testkit::serve_api(config.clone(), options);
    (config, addr, user)
}

/// A browser page of `origin` (`None`: a client that sends no `Origin`).
fn browser(addr: SocketAddr, origin: Option<&str>) -> Client {
    let mut c = Client::new(addr);
    c.headers
        .push(("Content-Type".into(), "application/json".into()));
    if let Some(origin) = origin {
        c.headers.push(("Origin".into(), origin.into()));
    }
    c
}

fn call(c: &mut Client, method: &str, path: &str, body: Value) -> Response {
    let body = (method != "GET").then(|| body.to_string());
    c.request(method, path, body)
}

fn json_of(res: &Response) -> Value {
    serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("JSON: {}", res.body))
}

fn credentials(password: &str) -> Value {
    json!({"user": {"email": EMAIL, "password": password}})
}

/// Signs `page` in on the browser transport with the right password.
fn sign_in(page: &mut Client) -> Response {
    call(
        page,
        "POST",
        "/api/v1/browser/session",
        credentials(PASSWORD),
    )
}

fn session_cookie(c: &Client) -> Option<String> {
    c.cookies
        .iter()
        .find(|(name, _)| name.contains("session"))
        .map(|(_, value)| value.clone())
}

fn a_page_of_the_site_signs_in_with_the_cookie() {
    let (_config, addr, _user) = start();
    let mut page = browser(addr, Some(SITE));

    let res = sign_in(&mut page);
    assert_eq!(res.status, 200, "{}", res.body);
    let data = &json_of(&res)["data"];
    assert!(data.is_object(), "{}", res.body);
    assert!(
        data.get("access_token").is_none(),
        "no token in the body: {}",
        res.body
    );
    assert!(data.get("renewal_token").is_none(), "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let set_cookie = res
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .expect("a session cookie");
    assert!(set_cookie.contains("httponly"), "{set_cookie}");
    assert!(set_cookie.contains("samesite"), "{set_cookie}");
    let first = session_cookie(&page).expect("a session cookie");

    // The cookie signs the page in, on reads and on writes.
    let res = call(&mut page, "GET", "/api/v1/browser/session", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(json_of(&res)["data"]["user"]["email"], EMAIL);
    let res = call(&mut page, "GET", "/api/v1/browser/sessions", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    let res = call(
        &mut page,
        "POST",
        "/api/v1/browser/session/reauthenticate",
        json!({"user": {"password": PASSWORD}}),
    );
    assert_eq!(res.status, 204, "{}", res.body);

    // A new password ends the other sessions and moves this one to a new cookie.
    let res = call(
        &mut page,
        "PATCH",
        "/api/v1/browser/registration",
        json!({"user": {
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirmation": NEW_PASSWORD,
        }}),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(json_of(&res)["data"].get("access_token").is_none());
    let second = session_cookie(&page).expect("a session cookie");
    assert_ne!(first, second, "a new session id after a new password");
    let mut stale = browser(addr, Some(SITE));
    stale.cookies = page.cookies.clone();
    stale.cookies.insert(
        page.cookies
            .keys()
            .find(|name| name.contains("session"))
            .unwrap()
            .clone(),
        first,
    );
    let res = call(&mut stale, "GET", "/api/v1/browser/session", json!({}));
    assert_eq!(
        res.status, 401,
        "the old cookie is signed out: {}",
        res.body
    );
    let res = call(&mut page, "GET", "/api/v1/browser/session", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);

    // Sign-out ends the session; the cookie no longer signs anyone in.
    let kept = page.cookies.clone();
    let res = call(&mut page, "DELETE", "/api/v1/browser/session", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    let mut replay = browser(addr, Some(SITE));
    replay.cookies = kept;
    let res = call(&mut replay, "GET", "/api/v1/browser/session", json!({}));
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(json_of(&res)["errors"][0]["code"], "not_authenticated");
}

fn state_changes_from_untrusted_pages_are_refused() {
    let (_config, addr, _user) = start();

    // Sign-in itself (against being signed in to someone else's account), from another
    // site, from a sandboxed frame, and from a client that says nothing of its page.
    for origin in [Some("https://evil.test"), Some("null"), None] {
        let mut page = browser(addr, origin);
        let res = sign_in(&mut page);
        assert_eq!(res.status, 403, "{origin:?}: {}", res.body);
        assert_eq!(json_of(&res)["errors"][0]["code"], "cross_site_request");
        assert!(session_cookie(&page).is_none(), "{origin:?}: no session");
    }
    // A browser's own same-origin fetch needs no `Origin`; a trusted front end passes.
    let mut same = browser(addr, None);
    same.headers
        .push(("Sec-Fetch-Site".into(), "same-origin".into()));
    let res = sign_in(&mut same);
    assert_eq!(res.status, 200, "{}", res.body);
    let mut app = browser(addr, Some(APP));
    let res = sign_in(&mut app);
    assert_eq!(res.status, 200, "{}", res.body);

    // A signed-in cookie sent by another site's page changes nothing...
    let mut forged = browser(addr, Some("https://evil.test"));
    forged.cookies = app.cookies.clone();
    for (method, path, body) in [
        ("DELETE", "/api/v1/browser/session", json!({})),
        ("DELETE", "/api/v1/browser/registration", json!({})),
        (
            "PATCH",
            "/api/v1/browser/registration",
            json!({"user": {"email": "thief@example.com", "current_password": PASSWORD}}),
        ),
    ] {
        let res = call(&mut forged, method, path, body);
        assert_eq!(res.status, 403, "{method} {path}: {}", res.body);
        assert_eq!(json_of(&res)["errors"][0]["code"], "cross_site_request");
    }
    // ...and the session is still there, as is the account.
    let res = call(&mut app, "GET", "/api/v1/browser/session", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(json_of(&res)["data"]["user"]["email"], EMAIL);
}

fn each_transport_takes_only_its_own_credentials() {
    let (_config, addr, _user) = start();
    let mut page = browser(addr, Some(SITE));
    let res = sign_in(&mut page);
    assert_eq!(res.status, 200, "{}", res.body);

    // The bearer transport ignores the cookie (it needs no CSRF defence because of that).
    let res = call(&mut page, "GET", "/api/v1/session", json!({}));
    assert_eq!(res.status, 401, "{}", res.body);
    // Tokens come from the bearer transport alone, and renewal is served there only.
    let mut app = browser(addr, None);
    let res = call(&mut app, "POST", "/api/v1/session", credentials(PASSWORD));
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(json_of(&res)["data"]["access_token"].is_string());
    let res = call(
        &mut page,
        "POST",
        "/api/v1/browser/session/renew",
        json!({}),
    );
    assert_eq!(res.status, 404, "{}", res.body);
    // Both sign-ins are in the session list, seen from the browser.
    let res = call(&mut page, "GET", "/api/v1/browser/sessions", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    let sessions = json_of(&res)["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(sessions.len(), 2, "{}", res.body);
}

/// The browser transport signs a client in by the session cookie alone: an app's bearer
/// token opens none of its routes, even where the app's bearer layer wraps them. Before,
/// actix-web answered them `200` there and axum `401`.
fn the_browser_transport_takes_no_bearer_token() {
    let (config, _, _) = start();
    let options = ApiOptions::new().browser(BrowserTransport::new().trusted_origin(APP));
    let addr = pow_testkit::serve_api_behind_bearer_layer(config, options);
    let mut app = browser(addr, None);
    let res = call(&mut app, "POST", "/api/v1/session", credentials(PASSWORD));
    assert_eq!(res.status, 200, "{}", res.body);
    let token = json_of(&res)["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bearer = browser(addr, Some(SITE));
    bearer
        .headers
        .push(("Authorization".into(), format!("Bearer {token}")));
    assert_eq!(
        call(&mut bearer, "GET", "/api/v1/session", json!({})).status,
        200
    );
    for path in ["/api/v1/browser/session", "/api/v1/browser/sessions"] {
        let res = call(&mut bearer, "GET", path, json!({}));
        assert_eq!(res.status, 401, "{path}: {}", res.body);
    }
}

fn a_browser_signs_up_and_the_document_lists_both_transports() {
    let (_config, addr, _user) = start();
    let mut page = browser(addr, Some(SITE));
    let body = json!({"user": {
        "email": "grace@example.com",
        "password": PASSWORD,
        "password_confirmation": PASSWORD,
    }});
    let res = call(&mut page, "POST", "/api/v1/browser/registration", body);
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(json_of(&res)["data"].get("access_token").is_none());
    let res = call(&mut page, "GET", "/api/v1/browser/session", json!({}));
    assert_eq!(json_of(&res)["data"]["user"]["email"], "grace@example.com");

    let res = call(&mut page, "GET", "/api/v1/openapi.json", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    let doc = json_of(&res);
    let servers: Vec<&str> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["url"].as_str())
        .collect();
    assert_eq!(servers, ["/api/v1", "/api/v1/browser"]);
    assert_eq!(
        doc["components"]["securitySchemes"]["sessionCookie"]["in"],
        "cookie"
    );
    assert!(doc["paths"]["/sessions"]["get"]["security"]
        .as_array()
        .unwrap()
        .contains(&json!({"sessionCookie": []})));
    // One document, served once.
    let res = call(&mut page, "GET", "/api/v1/browser/openapi.json", json!({}));
    assert_eq!(res.status, 404);
}

pow_testkit::on_both!(
    a_page_of_the_site_signs_in_with_the_cookie,
    state_changes_from_untrusted_pages_are_refused,
    each_transport_takes_only_its_own_credentials,
    the_browser_transport_takes_no_bearer_token,
    a_browser_signs_up_and_the_document_lists_both_transports,
);

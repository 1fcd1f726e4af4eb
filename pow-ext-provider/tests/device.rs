//! The device authorization grant (RFC 8628) over HTTP, on actix-web and on axum: a device
//! asks for codes and polls (`authorization_pending`, then `slow_down` when too fast); the
//! user enters the code signed in, sees the client and where the request came from, and
//! allows; one poll gets the tokens, once, however many poll at once; a refusal answers
//! `access_denied`; the confirmation is bound to the session that entered the code; code
//! entries are limited; a client without the grant is refused; an approved device is a
//! grant on the account's applications page, revocable there, and ends with its client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::{Client, Response};
use pow_actix::PowConfig;
use pow_core::time::Clock;
use pow_ext_provider::registry::{ClientSpec, Registry};
use pow_ext_provider::{ClientKind, ClientRegistration, GrantType, Provider, Resource};
use serde_json::Value;

const EMAIL: &str = "ada@example.com";
const OTHER: &str = "bob@example.com";
const PASSWORD: &str = "correct horse battery";

fn start() -> SocketAddr {
    start_with_config().1
}

/// The setup (registered clients may be given the device grant) and its address.
fn start_with_config() -> (PowConfig, SocketAddr) {
    let users = pow_testkit::sqlite("provider-device");
    // Moved forward by the tests of intervals and expiry.
    let clock = Clock::adjustable();
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .clock(clock.clone())
        .store(Arc::new(MemoryStore::new().with_clock(&clock)))
        .extension(
            Provider::new()
                .registered_client_grants([GrantType::DeviceCode])
                .client(
                    ClientRegistration::public("tv")
                        .name("Living-room TV")
                        .device_grant(),
                )
                .client(ClientRegistration::public("web").redirect_uri("https://web.example/cb")),
        )
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    pow_actix::testing::create_user(&config, OTHER, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config.clone());
    (config, addr)
}

fn post(addr: SocketAddr, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut client = Client::new(addr);
    client
        .headers
        .push(("user-agent".into(), "TV/1.0 (Linux)".into()));
    let res = client.post(path, form);
    (
        res.status,
        serde_json::from_str(&res.body).unwrap_or(Value::Null),
    )
}

/// A device's request for codes: (device code, user code).
fn codes(addr: SocketAddr, scope: &str) -> (String, String) {
    let (status, body) = post(
        addr,
        "/oauth/device_authorization",
        &[("client_id", "tv"), ("scope", scope)],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verification_uri"], "http://localhost/oauth/device");
    assert_eq!(body["interval"], 5);
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    assert_eq!(
        body["verification_uri_complete"],
        format!("http://localhost/oauth/device?user_code={user_code}")
    );
    (body["device_code"].as_str().unwrap().to_owned(), user_code)
}

fn poll(addr: SocketAddr, device_code: &str) -> (u16, Value) {
    post(
        addr,
        "/oauth/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "tv"),
            ("device_code", device_code),
        ],
    )
}

fn browser(addr: SocketAddr, email: &str) -> Client {
    let mut client = Client::new(addr);
    assert_eq!(client.sign_in(email, PASSWORD).status, 302);
    client
}

/// The value of the page's hidden field `name`.
fn hidden(page: &Response, name: &str) -> String {
    let marker = format!("name=\"user[{name}]\" value=\"");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name}: {}", page.body))
        + marker.len();
    page.body[start..start + page.body[start..].find('"').unwrap()].to_owned()
}

/// Enters `user_code` on the page: the confirmation page.
fn enter(browser: &mut Client, user_code: &str) -> Response {
    let page = browser.get(&format!(
        "/oauth/device?user_code={}",
        user_code.replace(' ', "+")
    ));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(user_code), "the code is filled in");
    browser.post(
        "/oauth/device",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[user_code]", user_code),
        ],
    )
}

fn answer(browser: &mut Client, confirm: &Response, decision: &str) -> Response {
    let pending = hidden(confirm, "request");
    browser.post(
        "/oauth/device/confirm",
        &[
            ("_csrf_token", &confirm.csrf()),
            ("user[request]", &pending),
            ("user[decision]", decision),
        ],
    )
}

fn a_device_connects_once_the_user_allows_it() {
    let addr = start();
    let discovery = Client::new(addr).get("/.well-known/openid-configuration");
    let doc: Value = serde_json::from_str(&discovery.body).unwrap();
    assert_eq!(
        doc["device_authorization_endpoint"],
        "http://localhost/oauth/device_authorization"
    );
    let (device_code, user_code) = codes(addr, "openid offline_access");
    let (status, body) = poll(addr, &device_code);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (_, body) = poll(addr, &device_code);
    assert_eq!(body["error"], "slow_down", "polled again at once");
    let mut browser = browser(addr, EMAIL);
    // Typed in lowercase with spaces: the same code.
    let typed = user_code.to_lowercase().replace('-', " ");
    let confirm = enter(&mut browser, &typed);
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("Living-room TV"), "names the client");
    assert!(
        confirm.body.contains("127.0.0.1 ("),
        "says where the request came from"
    );
    let done = answer(&mut browser, &confirm, "allow");
    assert_eq!(done.status, 302, "{}", done.body);
    let (status, tokens) = poll(addr, &device_code);
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
    assert!(tokens["refresh_token"].is_string());
    assert!(tokens["id_token"].is_string());
    let mut api = Client::new(addr);
    let access = tokens["access_token"].as_str().unwrap();
    api.headers
        .push(("authorization".into(), format!("Bearer {access}")));
    assert_eq!(api.get("/oauth/userinfo").status, 200);
    // Once only.
    let (status, body) = poll(addr, &device_code);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token"))
    );
    // The code is spent: entering it again finds nothing.
    let again = enter(&mut browser, &user_code);
    assert_eq!(again.status, 422);
}

/// The interval and the expiry run on the setup's clock: a poll after the interval is
/// pending, not too fast; once the request's lifetime has passed, polls hear
/// `expired_token` and the code can no longer be entered.
fn a_device_request_expires() {
    let (config, addr) = start_with_config();
    let (status, body) = post(
        addr,
        "/oauth/device_authorization",
        &[("client_id", "tv"), ("scope", "openid")],
    );
    assert_eq!(status, 200, "{body}");
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    let lifetime = body["expires_in"].as_u64().unwrap();
    assert!((60..=1800).contains(&lifetime), "{lifetime}");
    assert_eq!(poll(addr, &device_code).1["error"], "authorization_pending");
    config.clock().advance(Duration::from_secs(5));
    assert_eq!(
        poll(addr, &device_code).1["error"],
        "authorization_pending",
        "polled after the interval"
    );
    config.clock().advance(Duration::from_secs(lifetime));
    let (status, body) = poll(addr, &device_code);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token")),
        "{body}"
    );
    let mut browser = browser(addr, EMAIL);
    assert_eq!(enter(&mut browser, &user_code).status, 422);
}

fn a_refusal_reaches_the_device() {
    let addr = start();
    let (device_code, user_code) = codes(addr, "openid");
    let mut browser = browser(addr, EMAIL);
    let confirm = enter(&mut browser, &user_code);
    assert_eq!(answer(&mut browser, &confirm, "deny").status, 302);
    let (status, body) = poll(addr, &device_code);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
}

fn the_confirmation_belongs_to_the_session_that_entered_the_code() {
    let addr = start();
    let (device_code, user_code) = codes(addr, "openid");
    let mut ada = browser(addr, EMAIL);
    let confirm = enter(&mut ada, &user_code);
    // Another signed-in user, or another session of Ada's, posts Ada's confirmation:
    // nothing happens.
    let pending = hidden(&confirm, "request");
    for email in [OTHER, EMAIL] {
        let mut someone = browser(addr, email);
        let page = someone.get("/oauth/device");
        let res = someone.post(
            "/oauth/device/confirm",
            &[
                ("_csrf_token", &page.csrf()),
                ("user[request]", &pending),
                ("user[decision]", "allow"),
            ],
        );
        assert_eq!(res.status, 400, "{email}: {}", res.body);
        // Still waiting (a second poll this soon is also told to slow down).
        let (status, body) = poll(addr, &device_code);
        assert_eq!(status, 400, "{email}: {body}");
        assert!(
            body["error"] == "authorization_pending" || body["error"] == "slow_down",
            "{email}: {body}"
        );
    }
    // Ada's own answer still counts.
    assert_eq!(answer(&mut ada, &confirm, "allow").status, 302);
}

fn code_entries_are_limited_and_unknown_grants_refused() {
    let addr = start();
    let mut browser = browser(addr, EMAIL);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(enter(&mut browser, "BCDF-GHJK").status);
    }
    assert_eq!(statuses[..10], [422; 10]);
    assert_eq!(statuses[10], 429, "the eleventh try in ten minutes");
    // A client without the device grant.
    let (status, body) = post(addr, "/oauth/device_authorization", &[("client_id", "web")]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body) = post(
        addr,
        "/oauth/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "web"),
            ("device_code", "powdc_x"),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    // The TV cannot use the authorization code flow it was not given.
    let res = browser.get("/oauth/authorize?response_type=code&client_id=tv&scope=openid");
    assert_eq!(res.status, 400);
}

async fn concurrent_polls_get_the_tokens_once() {
    let addr = start();
    let (device_code, user_code) = tokio::task::spawn_blocking(move || {
        let (device_code, user_code) = codes(addr, "openid");
        let mut browser = browser(addr, EMAIL);
        let confirm = enter(&mut browser, &user_code);
        assert_eq!(answer(&mut browser, &confirm, "allow").status, 302);
        (device_code, user_code)
    })
    .await
    .unwrap();
    let _ = user_code;
    let body = serde_urlencoded::to_string([
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", "tv"),
        ("device_code", device_code.as_str()),
    ])
    .unwrap();
    let headers = vec![(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let polls =
        (0..12).map(|_| pow_testkit::http(addr, "POST", "/oauth/token", &headers, body.as_bytes()));
    let answers = futures_util::future::join_all(polls).await;
    let won = answers.iter().filter(|answer| answer.status == 200).count();
    assert_eq!(won, 1, "one poll of {} gets the tokens", answers.len());
}

/// The tokens `client` gets on a device once `browser`'s user allows it.
fn device_tokens(addr: SocketAddr, browser: &mut Client, client: &str) -> Value {
    let (status, body) = post(
        addr,
        "/oauth/device_authorization",
        &[("client_id", client), ("scope", "openid offline_access")],
    );
    assert_eq!(status, 200, "{body}");
    let user_code = body["user_code"].as_str().unwrap().to_owned();
    let device_code = body["device_code"].as_str().unwrap().to_owned();
    let confirm = enter(browser, &user_code);
    let allowed = answer(browser, &confirm, "allow");
    assert_eq!(allowed.status, 302, "{}", allowed.body);
    let (status, tokens) = post(
        addr,
        "/oauth/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client),
            ("device_code", &device_code),
        ],
    );
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// Whether `tokens` still work: the access token at userinfo, the refresh token at the
/// token endpoint (for `client`).
fn still_work(addr: SocketAddr, client: &str, tokens: &Value) -> (u16, u16) {
    let mut bearer = Client::new(addr);
    let access = tokens["access_token"].as_str().unwrap();
    bearer
        .headers
        .push(("authorization".into(), format!("Bearer {access}")));
    let info = bearer.get("/oauth/userinfo").status;
    let refreshed = post(
        addr,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    );
    (info, refreshed.0)
}

/// An approved device is the user's grant like any other: listed on the account's
/// applications page (HTML and JSON), where withdrawing it ends the device's tokens; and
/// removing a registered client ends the tokens its devices got.
fn a_device_grant_is_listed_and_revocable() {
    let (config, addr) = start_with_config();
    let mut ada = browser(addr, EMAIL);
    let tokens = device_tokens(addr, &mut ada, "tv");
    assert_eq!(still_work(addr, "tv", &tokens), (200, 200));
    let page = ada.get("/oauth/grants");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Living-room TV"), "{}", page.body);
    let mut json = browser(addr, EMAIL);
    json.headers
        .push(("accept".into(), "application/json".into()));
    let listed: Value = serde_json::from_str(&json.get("/oauth/grants").body).unwrap();
    assert_eq!(listed["grants"][0]["client_id"], "tv", "{listed}");
    assert_eq!(
        listed["grants"][0]["scopes"],
        serde_json::json!(["offline_access", "openid"])
    );
    // A fresh pair (the refresh above rotated the first): withdrawn on the page, it ends.
    let tokens = device_tokens(addr, &mut ada, "tv");
    assert_eq!(still_work(addr, "tv", &tokens).0, 200);
    let res = ada.post(
        "/oauth/grants/revoke",
        &[("_csrf_token", &page.csrf()), ("user[client]", "tv")],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(still_work(addr, "tv", &tokens), (401, 400));

    // A registered device client, removed: its devices' tokens end.
    let provider = Provider::of(&config).unwrap();
    let registry = Registry::new(&config).unwrap();
    let spec = ClientSpec::new(ClientKind::Public)
        .id("kiosk")
        .grant(GrantType::DeviceCode);
    block_on(registry.register(provider, spec, false, None))
        .unwrap()
        .unwrap();
    let tokens = device_tokens(addr, &mut ada, "kiosk");
    assert_eq!(still_work(addr, "kiosk", &tokens).0, 200);
    let tokens = device_tokens(addr, &mut ada, "kiosk");
    assert!(block_on(registry.remove(provider, "kiosk", None)).unwrap());
    let (info, refreshed) = still_work(addr, "kiosk", &tokens);
    assert_eq!(info, 401, "the access token ends with its client");
    assert_ne!(refreshed, 200, "and so does the refresh token");
}

/// Runs `work` to its end on a runtime of its own.
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// A resource taken off a registered client's list while its device waits for the user:
/// the approved request gets no token for it.
fn a_resource_taken_off_the_list_is_not_issued_to_a_device() {
    const API: &str = "https://localhost/api";
    let users = pow_testkit::sqlite("provider-device-resource");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .extension(
            Provider::new()
                .registered_client_grants([GrantType::DeviceCode])
                .resource(Resource::new(API)),
        )
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config.clone());
    let provider = Provider::of(&config).unwrap();
    let registry = Registry::new(&config).unwrap();
    let spec = ClientSpec::new(ClientKind::Public)
        .id("kiosk")
        .grant(GrantType::DeviceCode)
        .resource(API);
    block_on(registry.register(provider, spec, false, None))
        .unwrap()
        .unwrap();
    let (status, body) = post(
        addr,
        "/oauth/device_authorization",
        &[("client_id", "kiosk"), ("resource", API)],
    );
    assert_eq!(status, 200, "{body}");
    let mut ada = browser(addr, EMAIL);
    let confirm = enter(&mut ada, body["user_code"].as_str().unwrap());
    assert_eq!(answer(&mut ada, &confirm, "allow").status, 302);
    let table = pow_core::users::diesel::Tables::of(&config, "test")
        .unwrap()
        .table("oauth_clients");
    users
        .database()
        .batch_execute(&format!("UPDATE {table} SET resources = ''"))
        .unwrap();
    let (status, tokens) = post(
        addr,
        "/oauth/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "kiosk"),
            ("device_code", body["device_code"].as_str().unwrap()),
        ],
    );
    assert_eq!(
        (status, tokens["error"].as_str()),
        (400, Some("invalid_target")),
        "{tokens}"
    );
}

pow_testkit::on_both!(
    a_resource_taken_off_the_list_is_not_issued_to_a_device,
    a_device_request_expires,
    a_device_grant_is_listed_and_revocable,
    a_device_connects_once_the_user_allows_it,
    a_refusal_reaches_the_device,
    the_confirmation_belongs_to_the_session_that_entered_the_code,
    code_entries_are_limited_and_unknown_grants_refused,
);

mod concurrent {
    pow_testkit::on_both!(async concurrent_polls_get_the_tokens_once);
    use super::concurrent_polls_get_the_tokens_once;
}

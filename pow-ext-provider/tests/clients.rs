//! Clients registered at run time, over HTTP on actix-web and axum from one source: the
//! clients page and its JSON twin (admins only, sudo for changes, a secret shown once and
//! kept as a keyed hash), secret rotation with an overlap, a removal that ends the
//! client's tokens, a secret that survives a key-ring rotation, and dynamic registration
//! (off by default; when on: public clients only, counted per address, consent asked every
//! time, unused clients collected). On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::{Limit, MemoryStore};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;
use pow_core::time::Clock;
use pow_ext_provider::registry::{ClientSpec, Registry};
use pow_ext_provider::{ClientKind, ClientRegistration, GrantType, Provider, Resource};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ADMIN: &str = "admin@example.com";
const USER: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "https://partner.example/cb";
const VERIFIER: &str = "a-pkce-verifier-of-forty-three-characters-or-more-0123";

fn provider() -> Provider {
    Provider::new()
        .scopes(["reports:read"])
        .registered_client_grants([GrantType::ClientCredentials])
        .client_admins(|user| user.email() == Some(ADMIN))
}

struct App {
    config: PowConfig,
    addr: SocketAddr,
    users: DieselUsersContext,
}

fn start_with(
    users: DieselUsersContext,
    secret: &str,
    retired: Option<&str>,
    provider: Provider,
) -> App {
    // Moved forward to see a secret's lifetime end.
    let clock = Clock::adjustable();
    let mut builder = PowConfig::builder(secret.to_owned())
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .clock(clock.clone())
        .store(Arc::new(MemoryStore::new().with_clock(&clock)))
        .extension(provider);
    if let Some(old) = retired {
        builder = builder.retired_secret_key_base("2026-old", old.to_owned());
    }
    let config = builder.build().unwrap();
    users.migrate(&config).unwrap();
    let addr = pow_testkit::serve_with_api(config.clone(), pow_core::api::ApiOptions::new());
    App {
        config,
        addr,
        users,
    }
}

fn start(users: DieselUsersContext) -> App {
    let app = start_with(users, &"k".repeat(64), None, provider());
    for email in [ADMIN, USER] {
        pow_actix::testing::create_user(&app.config, email, PASSWORD).unwrap();
    }
    app
}

fn browser(app: &App, email: &str) -> Client {
    let mut client = Client::new(app.addr);
    let res = client.sign_in(email, PASSWORD);
    assert_eq!(res.status, 302, "{}", res.body);
    client
}

/// The value of the page's input `name`.
fn input(page: &Response, name: &str) -> String {
    let marker = format!("name=\"user[{name}]\"");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {}", page.body));
    let rest = &page.body[at..];
    let start = rest.find("value=\"").unwrap() + "value=\"".len();
    let end = rest[start..].find('"').unwrap() + start;
    rest[start..end].to_owned()
}

/// A token request with `form`, authenticated as `id`:`secret` by HTTP Basic.
fn token(app: &App, id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut client = Client::new(app.addr);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    client
        .headers
        .push(("authorization".into(), format!("Basic {encoded}")));
    let res = client.post("/oauth/token", form);
    (res.status, serde_json::from_str(&res.body).unwrap())
}

fn robot_token(app: &App, id: &str, secret: &str) -> u16 {
    token(
        app,
        id,
        secret,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "reports:read"),
        ],
    )
    .0
}

/// A bearer of the app's own API for `browser`'s user.
fn api(app: &App, browser: &mut Client) -> Client {
    let pair = browser.request("POST", "/token", Some(String::new()));
    let pair: Value = serde_json::from_str(&pair.body).unwrap();
    let mut api = Client::new(app.addr);
    let bearer = pair["access_token"].as_str().unwrap();
    api.headers
        .push(("authorization".into(), format!("Bearer {bearer}")));
    api.headers
        .push(("content-type".into(), "application/json".into()));
    api
}

/// A code for `client` through the consent page, as `browser`'s user.
fn code_for(browser: &mut Client, client: &str, redirect: &str) -> String {
    let page = browser.get(&authorize_path(client, redirect, &[]));
    assert_eq!(page.status, 200, "{}", page.body);
    let res = browser.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[request]", &input(&page, "request")),
            ("user[decision]", "allow"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let location = url::Url::parse(res.location()).unwrap();
    location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap()
}

fn authorize_path(client: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", "openid offline_access"),
        ("state", "st4te"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(params).unwrap()
    )
}

/// Admins register, rotate and remove clients on the page and in JSON; nobody else can;
/// a secret is shown once and works; the previous one works during the overlap only; a
/// removed client's tokens end.
fn admins_manage_registered_clients_on_the_page_and_in_json() {
    let app = start(pow_testkit::sqlite("provider-clients"));
    // Someone else: 403 on the page and in JSON.
    let mut user = browser(&app, USER);
    assert_eq!(user.get("/oauth/clients").status, 403);
    let mut user_api = api(&app, &mut user);
    let refused = user_api.request("GET", "/api/v1/oauth/clients", None);
    assert_eq!(refused.status, 403, "{}", refused.body);

    // The admin registers a confidential client on the page: its secret shows once.
    let mut admin = browser(&app, ADMIN);
    let page = admin.get("/oauth/clients");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("cache-control").unwrap().contains("no-store"),
        "never stored"
    );
    let made = admin.post(
        "/oauth/clients",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[name]", "Partner portal"),
            ("user[redirect_uris]", REDIRECT),
            (
                "user[post_logout_redirect_uris]",
                "https://partner.example/signed-out",
            ),
            ("user[scopes]", "openid offline_access"),
            ("user[confidential]", "true"),
        ],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let secret = input(&made, "secret");
    assert!(secret.starts_with("powcs_"), "{secret}");
    let listed = admin.get("/oauth/clients");
    assert!(listed.body.contains("Partner portal"));
    assert!(!listed.body.contains(&secret), "shown once only");
    let stored = Registry::new(&app.config).unwrap();
    let clients = block_on(stored.list()).unwrap();
    let id = clients[0].id.clone();
    // Kept as a keyed hash: the secret is nowhere in the table.
    let dump = format!("{:?}", table_text(&app));
    assert!(!dump.contains(&secret) && dump.contains(&id));

    // A refused registration: 422 with the rule, nothing registered.
    let bad = admin.post(
        "/oauth/clients",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[name]", "Bad"),
            ("user[redirect_uris]", "javascript:alert(1)"),
        ],
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(block_on(stored.list()).unwrap().len(), 1);

    // The client completes a code flow with its secret.
    let mut ada = browser(&app, USER);
    let code = code_for(&mut ada, &id, REDIRECT);
    let redeem = |secret: &str, code: &str| {
        token(
            &app,
            &id,
            secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
    };
    let (status, tokens) = redeem("powcs_wrong", &code);
    assert_eq!(status, 401, "{tokens}");
    let (status, tokens) = redeem(&secret, &code);
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // The user's applications page names it by its registered name.
    assert!(ada.get("/oauth/grants").body.contains("Partner portal"));
    // Its registered post-logout address is the only one its logout may go back to.
    let logout = |uri: &str| {
        let query = serde_urlencoded::to_string([
            ("client_id", id.as_str()),
            ("post_logout_redirect_uri", uri),
        ])
        .unwrap();
        format!("/oauth/logout?{query}")
    };
    assert_eq!(
        ada.get(&logout("https://partner.example/signed-out"))
            .status,
        200
    );
    assert_eq!(
        ada.get(&logout("https://partner.example/elsewhere")).status,
        400
    );

    // Rotated in JSON: both secrets work during the overlap.
    let mut admin_api = api(&app, &mut admin);
    let listed = admin_api.request("GET", "/api/v1/oauth/clients", None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed: Value = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(listed["data"][0]["kind"], "confidential");
    assert!(listed["data"][0].get("secret").is_none());
    let rotated = admin_api.request(
        "POST",
        &format!("/api/v1/oauth/clients/{id}/secret"),
        Some(String::new()),
    );
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let rotated: Value = serde_json::from_str(&rotated.body).unwrap();
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    let refresh_with = |secret: &str, refresh: &str| {
        token(
            &app,
            &id,
            secret,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
    };
    let (status, tokens) = refresh_with(&secret, &refresh);
    assert_eq!(
        status, 200,
        "the previous secret during the overlap: {tokens}"
    );
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, tokens) = refresh_with(&new_secret, &refresh);
    assert_eq!(status, 200, "the new secret: {tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    // A rotation without overlap ends the previous secret at once.
    let newest = block_on(stored.rotate_secret(&id, Duration::ZERO, None, None)).unwrap();
    let newest = newest.unwrap();
    assert_eq!(refresh_with(&new_secret, &refresh).0, 401);
    let (status, tokens) = refresh_with(&newest, &refresh);
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access = tokens["access_token"]
        .as_str()
        .map_or(access, str::to_owned);

    // A JSON registration: 201 with the client and its secret; a taken id: 422.
    let body = json!({ "id": "reports-robot", "kind": "confidential", "scopes": ["reports:read"], "grants": ["client_credentials"] });
    let made = admin_api.request("POST", "/api/v1/oauth/clients", Some(body.to_string()));
    assert_eq!(made.status, 201, "{}", made.body);
    let made: Value = serde_json::from_str(&made.body).unwrap();
    let robot_secret = made["data"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(robot_token(&app, "reports-robot", &robot_secret), 200);
    let again = admin_api.request("POST", "/api/v1/oauth/clients", Some(body.to_string()));
    assert_eq!(again.status, 422, "{}", again.body);
    // A grant the provider does not let registered clients use: refused.
    let device =
        json!({ "kind": "public", "redirect_uris": [REDIRECT], "grants": ["device_code"] });
    let refused = admin_api.request("POST", "/api/v1/oauth/clients", Some(device.to_string()));
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        user_api
            .request("POST", "/api/v1/oauth/clients", Some(body.to_string()))
            .status,
        403
    );

    // Removed on the page: its secret and every token it holds end.
    let page = admin.get("/oauth/clients");
    let removed = admin.post(
        "/oauth/clients/remove",
        &[("_csrf_token", &page.csrf()), ("user[client]", &id)],
    );
    assert_eq!(removed.status, 302, "{}", removed.body);
    assert_eq!(refresh_with(&newest, &refresh).0, 401);
    let mut bearer = Client::new(app.addr);
    bearer
        .headers
        .push(("authorization".into(), format!("Bearer {access}")));
    assert_eq!(
        bearer.get("/oauth/userinfo").status,
        401,
        "its access token ended"
    );
    let gone = admin_api.request("DELETE", &format!("/api/v1/oauth/clients/{id}"), None);
    assert_eq!(gone.status, 404, "{}", gone.body);
    let robot = admin_api.request("DELETE", "/api/v1/oauth/clients/reports-robot", None);
    assert_eq!(robot.status, 200, "{}", robot.body);
    assert_eq!(robot_token(&app, "reports-robot", &robot_secret), 401);
}

/// The clients table's name, in the users table's schema.
fn table(app: &App) -> String {
    pow_core::users::diesel::Tables::of(&app.config, "test")
        .unwrap()
        .table("oauth_clients")
}

/// The table's rows as text, to look for a secret in.
fn table_text(app: &App) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    let sql = format!(
        "SELECT client_id || ' ' || COALESCE(secret_digest, '') AS text FROM {}",
        table(app)
    );
    let load = || -> Result<Vec<Row>, pow_core::PowError> {
        pow_core::with_connection!(app.users.database(), conn => {
            use diesel::RunQueryDsl as _;
            diesel::sql_query(&sql).load(conn).map_err(pow_core::users::diesel::query_error)
        })
    };
    let rows = load().unwrap();
    rows.into_iter()
        .map(|row| row.text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A secret kept under the key ring's current key still works once that key is retired
/// for a new one.
fn a_registered_secret_survives_a_key_rotation() {
    let users = pow_testkit::sqlite("provider-clients-ring");
    let (old, new) = ("o".repeat(64), "n".repeat(64));
    let before = start_with(users.clone(), &old, None, provider());
    let spec = ClientSpec::new(ClientKind::Confidential)
        .id("robot")
        .scopes(["reports:read"])
        .grant(GrantType::ClientCredentials);
    let created = block_on(Registry::new(&before.config).unwrap().register(
        &provider(),
        spec,
        false,
        None,
    ))
    .unwrap()
    .unwrap();
    let secret = created.secret.unwrap();
    assert_eq!(robot_token(&before, "robot", &secret), 200);
    let after = start_with(users.clone(), &new, Some(&old), provider());
    assert_eq!(
        robot_token(&after, "robot", &secret),
        200,
        "under the retired key"
    );
    let forgotten = start_with(users, &new, None, provider());
    assert_eq!(
        robot_token(&forgotten, "robot", &secret),
        401,
        "the old key dropped"
    );
}

/// Off by default; when on: public clients only, under the registration rules, counted
/// per address; such a client is asked for consent every time, its page says it
/// registered itself, and clients nobody uses are collected.
fn dynamic_registration_takes_public_clients_only() {
    let off = start(pow_testkit::sqlite("provider-dcr-off"));
    let mut anyone = Client::new(off.addr);
    anyone
        .headers
        .push(("content-type".into(), "application/json".into()));
    let body = json!({ "redirect_uris": ["http://127.0.0.1/callback"], "client_name": "Agent" });
    let res = anyone.request("POST", "/oauth/register", Some(body.to_string()));
    assert_eq!(res.status, 404, "off by default: {}", res.body);
    let doc: Value =
        serde_json::from_str(&anyone.get("/.well-known/openid-configuration").body).unwrap();
    assert!(doc.get("registration_endpoint").is_none());

    let users = pow_testkit::sqlite("provider-dcr");
    let app = start_with(
        users,
        &"k".repeat(64),
        None,
        provider().dynamic_registration(Limit::new(3, Duration::from_secs(3600))),
    );
    pow_actix::testing::create_user(&app.config, USER, PASSWORD).unwrap();
    let mut anyone = Client::new(app.addr);
    anyone
        .headers
        .push(("content-type".into(), "application/json".into()));
    let doc: Value =
        serde_json::from_str(&anyone.get("/.well-known/openid-configuration").body).unwrap();
    assert_eq!(
        doc["registration_endpoint"],
        "http://localhost/oauth/register"
    );
    let register = |client: &mut Client, body: Value| {
        let res = client.request("POST", "/oauth/register", Some(body.to_string()));
        assert_eq!(res.header("cache-control"), Some("no-store"));
        (
            res.status,
            serde_json::from_str::<Value>(&res.body).unwrap(),
        )
    };
    let (status, answer) = register(
        &mut anyone,
        json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic" }),
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let (status, answer) = register(
        &mut anyone,
        json!({ "redirect_uris": ["javascript:alert(1)"] }),
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );
    let (status, answer) = register(
        &mut anyone,
        json!({ "redirect_uris": [REDIRECT], "client_name": "Agent", "grant_types": ["authorization_code", "refresh_token"] }),
    );
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["token_endpoint_auth_method"], "none");
    assert!(answer.get("client_secret").is_none());
    let id = answer["client_id"].as_str().unwrap().to_owned();
    // Over the limit (3 an hour from this address, the refused ones counted too).
    let (status, answer) = register(&mut anyone, json!({ "redirect_uris": [REDIRECT] }));
    assert_eq!((status, answer["error"].as_str()), (429, Some("slow_down")));

    // The consent page says it registered itself, and comes back every time.
    let mut ada = browser(&app, USER);
    let page = ada.get(&authorize_path(&id, REDIRECT, &[]));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("registered itself"), "{}", page.body);
    let code = code_for(&mut ada, &id, REDIRECT);
    let (status, tokens) = {
        let mut client = Client::new(app.addr);
        let res = client.post(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &id),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        );
        (res.status, res.body)
    };
    assert_eq!(status, 200, "{tokens}");
    let again = ada.get(&authorize_path(&id, REDIRECT, &[]));
    assert_eq!(again.status, 200, "asked again, never skipped");
    let silent = ada.get(&authorize_path(&id, REDIRECT, &[("prompt", "none")]));
    assert_eq!(silent.status, 302);
    assert!(
        silent.location().contains("error=consent_required"),
        "{}",
        silent.location()
    );

    // Collected: a day old and never used, or long unused; a used one stays.
    let registry = Registry::new(&app.config).unwrap();
    let spec = ClientSpec::new(ClientKind::Public)
        .id("stale")
        .redirect_uri(REDIRECT);
    block_on(registry.register(&provider(), spec, true, None))
        .unwrap()
        .unwrap();
    app.users
        .database()
        .batch_execute(&format!(
            "UPDATE {} SET inserted_at = '2020-01-01 00:00:00' WHERE client_id = 'stale'",
            table(&app)
        ))
        .unwrap();
    assert_eq!(block_on(registry.collect_unused()).unwrap(), 1);
    let left: Vec<String> = block_on(registry.list())
        .unwrap()
        .into_iter()
        .map(|client| client.id)
        .collect();
    assert_eq!(left, vec![id], "the used one stays");
}

/// The registrations are kept in PostgreSQL the same way.
fn registered_clients_run_on_postgres() {
    let Some(users) = pow_testkit::postgres("provider_clients") else {
        return;
    };
    let app = start(users);
    let registry = Registry::new(&app.config).unwrap();
    let spec = ClientSpec::new(ClientKind::Confidential)
        .id("robot")
        .scopes(["reports:read"])
        .grant(GrantType::ClientCredentials)
        .secret_days(30);
    let created = block_on(registry.register(&provider(), spec, false, None))
        .unwrap()
        .unwrap();
    assert!(created.client.secret_expires_at.is_some());
    let secret = created.secret.unwrap();
    assert_eq!(robot_token(&app, "robot", &secret), 200);
    let listed = block_on(registry.list()).unwrap();
    assert!(listed[0].last_used_at.is_some(), "its use is noted");
    app.users
        .database()
        .batch_execute(&format!(
            "UPDATE {} SET secret_expires_at = '2020-01-01 00:00:00'",
            table(&app)
        ))
        .unwrap();
    assert_eq!(
        robot_token(&app, "robot", &secret),
        401,
        "an expired secret"
    );
    assert!(block_on(registry.remove(&provider(), "robot", None)).unwrap());
}

/// A declared resource open to clients nobody vouched for (metadata documents, dynamic
/// registration), and one that is not.
const OPEN: &str = "https://localhost/mcp";
const CLOSED: &str = "https://localhost/reports";

/// Where `browser`'s authorization request for `client` with `extra` goes: the consent
/// page (`"consent"`), or the OAuth error at the client's redirect URI.
fn outcome(browser: &mut Client, client: &str, extra: &[(&str, &str)]) -> String {
    let res = browser.get(&authorize_path(client, REDIRECT, extra));
    if res.status == 200 {
        return "consent".to_owned();
    }
    assert_eq!(res.status, 302, "{}", res.body);
    let location = url::Url::parse(res.location()).unwrap();
    location
        .query_pairs()
        .find(|(name, _)| name == "error")
        .map(|(_, error)| error.into_owned())
        .unwrap_or_else(|| format!("no error in {location}"))
}

/// Registered clients get tokens only for the resources on their list, at the
/// authorization, token (code, refresh, client credentials) and device endpoints; a
/// registered client without a list gets none; a client nobody vouched for only those of
/// the resources open to such clients. The list is set in the setup, on the clients page
/// and in JSON, and checked against the declared resources.
fn clients_get_tokens_only_for_their_resources() {
    let users = pow_testkit::sqlite("provider-client-resources");
    let app = start_with(
        users,
        &"k".repeat(64),
        None,
        provider()
            .registered_client_grants([GrantType::ClientCredentials, GrantType::DeviceCode])
            .dynamic_registration(Limit::new(10, Duration::from_secs(3600)))
            .resource(Resource::new(OPEN).open_to_self_described_clients(true))
            .resource(Resource::new(CLOSED))
            .client(
                ClientRegistration::public("bare")
                    .redirect_uri(REDIRECT)
                    .device_grant(),
            )
            .client(
                ClientRegistration::public("limited")
                    .redirect_uri(REDIRECT)
                    .resource(CLOSED)
                    .device_grant(),
            ),
    );
    for email in [ADMIN, USER] {
        pow_actix::testing::create_user(&app.config, email, PASSWORD).unwrap();
    }
    let mut ada = browser(&app, USER);
    // The authorization endpoint: only the client's own resources; none without a list.
    for (client, resource, expected) in [
        ("limited", CLOSED, "consent"),
        ("limited", OPEN, "invalid_target"),
        ("bare", CLOSED, "invalid_target"),
        ("bare", OPEN, "invalid_target"),
    ] {
        assert_eq!(
            outcome(&mut ada, client, &[("resource", resource)]),
            expected,
            "{client} {resource}"
        );
    }
    assert_eq!(
        outcome(&mut ada, "bare", &[]),
        "consent",
        "no resource named"
    );
    // The device endpoint alike.
    let device = |client: &str, resource: &str| {
        let res = Client::new(app.addr).post(
            "/oauth/device_authorization",
            &[("client_id", client), ("resource", resource)],
        );
        let body: Value = serde_json::from_str(&res.body).unwrap();
        (res.status, body["error"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(device("limited", CLOSED).0, 200);
    assert_eq!(device("limited", OPEN), (400, "invalid_target".to_owned()));
    assert_eq!(device("bare", CLOSED), (400, "invalid_target".to_owned()));

    // In JSON: a confidential client limited to CLOSED, for client credentials.
    let mut admin = browser(&app, ADMIN);
    let mut admin_api = api(&app, &mut admin);
    let spec = json!({
        "kind": "confidential",
        "scopes": ["reports:read"],
        "grants": ["client_credentials"],
        "resources": [CLOSED],
    });
    let made = admin_api.request("POST", "/api/v1/oauth/clients", Some(spec.to_string()));
    assert_eq!(made.status, 201, "{}", made.body);
    let made: Value = serde_json::from_str(&made.body).unwrap();
    assert_eq!(made["data"]["client"]["resources"], json!([CLOSED]));
    let robot = made["data"]["client"]["id"].as_str().unwrap().to_owned();
    let secret = made["data"]["secret"].as_str().unwrap().to_owned();
    let for_itself = |resource: &str| {
        let (status, body) = token(
            &app,
            &robot,
            &secret,
            &[("grant_type", "client_credentials"), ("resource", resource)],
        );
        (status, body["error"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(for_itself(CLOSED).0, 200);
    assert_eq!(for_itself(OPEN), (400, "invalid_target".to_owned()));
    // A resource the provider does not declare is refused at registration.
    let undeclared =
        json!({ "redirect_uris": [REDIRECT], "resources": ["https://elsewhere.example/x"] });
    let refused = admin_api.request(
        "POST",
        "/api/v1/oauth/clients",
        Some(undeclared.to_string()),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    let listed = admin_api.request("GET", "/api/v1/oauth/clients", None);
    let listed: Value = serde_json::from_str(&listed.body).unwrap();
    let listed = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|client| client["id"] == robot.as_str())
        .unwrap();
    assert_eq!(listed["resources"], json!([CLOSED]));

    // On the page: a public client limited to CLOSED.
    let page = admin.get("/oauth/clients");
    assert!(page.body.contains("user[resources]"), "{}", page.body);
    let made = admin.post(
        "/oauth/clients",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[name]", "Reports app"),
            ("user[redirect_uris]", REDIRECT),
            ("user[resources]", CLOSED),
        ],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let registry = Registry::new(&app.config).unwrap();
    let reports = block_on(registry.list())
        .unwrap()
        .into_iter()
        .find(|client| client.name.as_deref() == Some("Reports app"))
        .unwrap();
    assert_eq!(reports.resources, [CLOSED]);
    assert_eq!(
        outcome(&mut ada, &reports.id, &[("resource", OPEN)]),
        "invalid_target"
    );
    // Its tokens for CLOSED refresh while CLOSED is on its list, and no longer after.
    let page = ada.get(&authorize_path(
        &reports.id,
        REDIRECT,
        &[("resource", CLOSED)],
    ));
    assert_eq!(page.status, 200, "{}", page.body);
    let allowed = ada.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[request]", &input(&page, "request")),
            ("user[decision]", "allow"),
        ],
    );
    let location = url::Url::parse(allowed.location()).unwrap();
    let code = location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap();
    let public = |form: &[(&str, &str)]| {
        let res = Client::new(app.addr).post("/oauth/token", form);
        (
            res.status,
            serde_json::from_str::<Value>(&res.body).unwrap(),
        )
    };
    let (status, tokens) = public(&[
        ("grant_type", "authorization_code"),
        ("client_id", &reports.id),
        ("code", &code),
        ("code_verifier", VERIFIER),
    ]);
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, tokens) = public(&[
        ("grant_type", "refresh_token"),
        ("client_id", &reports.id),
        ("refresh_token", &refresh),
        ("resource", OPEN),
    ]);
    assert_eq!(
        (status, tokens["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let (status, tokens) = public(&[
        ("grant_type", "refresh_token"),
        ("client_id", &reports.id),
        ("refresh_token", &refresh),
    ]);
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    app.users
        .database()
        .batch_execute(&format!("UPDATE {} SET resources = ''", table(&app)))
        .unwrap();
    let (status, tokens) = public(&[
        ("grant_type", "refresh_token"),
        ("client_id", &reports.id),
        ("refresh_token", &refresh),
    ]);
    assert_eq!(
        (status, tokens["error"].as_str()),
        (400, Some("invalid_target"))
    );

    // A client that registered itself: the open resource only.
    let mut anyone = Client::new(app.addr);
    anyone
        .headers
        .push(("content-type".into(), "application/json".into()));
    let body = json!({ "redirect_uris": [REDIRECT], "client_name": "Agent" });
    let res = anyone.request("POST", "/oauth/register", Some(body.to_string()));
    assert_eq!(res.status, 201, "{}", res.body);
    let agent: Value = serde_json::from_str(&res.body).unwrap();
    let agent = agent["client_id"].as_str().unwrap();
    assert_eq!(outcome(&mut ada, agent, &[("resource", OPEN)]), "consent");
    assert_eq!(
        outcome(&mut ada, agent, &[("resource", CLOSED)]),
        "invalid_target"
    );
}

/// The clients page gives a client grants and a secret lifetime (what the CLI and JSON
/// give): the list shows them, the grant works, the secret ends after its days; an
/// unknown grant or a lifetime that is no number of days is refused.
fn the_page_sets_grants_and_a_secret_lifetime() {
    let app = start(pow_testkit::sqlite("provider-clients-grants"));
    let mut admin = browser(&app, ADMIN);
    let csrf = admin.get("/oauth/clients").csrf();
    let register = |admin: &mut Client, grants: &str, days: &str| {
        admin.post(
            "/oauth/clients",
            &[
                ("_csrf_token", &csrf),
                ("user[name]", "Report robot"),
                ("user[redirect_uris]", REDIRECT),
                ("user[scopes]", "reports:read"),
                ("user[confidential]", "true"),
                ("user[grants]", grants),
                ("user[secret_days]", days),
            ],
        )
    };
    for (grants, days) in [("implicit", "1"), ("client_credentials", "soon")] {
        let refused = register(&mut admin, grants, days);
        assert_eq!(refused.status, 422, "{grants} {days}: {}", refused.body);
    }
    let stored = Registry::new(&app.config).unwrap();
    assert!(block_on(stored.list()).unwrap().is_empty());
    let made = register(&mut admin, "client_credentials", "1");
    assert_eq!(made.status, 200, "{}", made.body);
    let secret = input(&made, "secret");
    let clients = block_on(stored.list()).unwrap();
    assert_eq!(clients[0].grants, vec![GrantType::ClientCredentials]);
    assert!(clients[0].secret_expires_at.is_some());
    let listed = admin.get("/oauth/clients").body;
    assert!(listed.contains("grants: client_credentials"), "{listed}");
    assert!(listed.contains("secret works until"), "{listed}");
    let id = clients[0].id.clone();
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "reports:read"),
    ];
    let (status, tokens) = token(&app, &id, &secret, &form);
    assert_eq!(status, 200, "{tokens}");
    app.config
        .clock()
        .advance(Duration::from_secs(2 * 24 * 3600));
    let (status, refused) = token(&app, &id, &secret, &form);
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client")),
        "{refused}"
    );
}

pow_testkit::on_both!(
    the_page_sets_grants_and_a_secret_lifetime,
    clients_get_tokens_only_for_their_resources,
    admins_manage_registered_clients_on_the_page_and_in_json,
    a_registered_secret_survives_a_key_rotation,
    dynamic_registration_takes_public_clients_only,
    registered_clients_run_on_postgres,
);

/// Runs `work` to its end on a runtime of its own.
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

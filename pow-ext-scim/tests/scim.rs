//! SCIM provisioning over HTTP on actix-web and axum from one source, on SQLite and
//! PostgreSQL: tokens made on the organization's page (shown once, signed, rotated with an
//! overlap), users provisioned only at verified domains, filters and pages, PATCH in the
//! Entra and Okta dialects (recorded sequences in `tests/fixtures`), deprovisioning that
//! ends a browser session and an API token on the next request (on a second node sharing
//! Redis too), the last owner kept under concurrent deprovisioning, groups mapped onto
//! roles, and a token that reaches no other organization.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use pow_actix::store::MemoryStore;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;
use pow_ext_organizations::domains::StaticTxt;
use pow_ext_scim::Scim;
use serde_json::{json, Value};

mod common;
use common::{block_on, organization, user, PASSWORD};

const OWNER: &str = "olga@acme.example";
const OTHER_OWNER: &str = "oscar@globex.example";

struct App {
    config: PowConfig,
    addr: SocketAddr,
}

fn start_on(users: DieselUsersContext, store: Arc<dyn pow_core::store::Store>) -> App {
    let txt = StaticTxt::new();
    let config = common::config(&users, store, &txt, "http://localhost", Scim::new());
    users.migrate(&config).unwrap();
    organization(&config, &txt, OWNER, "acme", "acme.example");
    organization(&config, &txt, OTHER_OWNER, "globex", "globex.example");
    let addr = pow_testkit::serve_with_api(config.clone(), pow_core::api::ApiOptions::new());
    App { config, addr }
}

fn start(users: DieselUsersContext) -> App {
    start_on(users, Arc::new(MemoryStore::new()))
}

fn browser(app: &App, email: &str) -> Client {
    let mut client = Client::new(app.addr);
    let res = client.sign_in(email, PASSWORD);
    assert_eq!(res.status, 302, "{}", res.body);
    client
}

fn signed_in(client: &mut Client) -> bool {
    client.get("/me").body.starts_with("user:")
}

/// A JSON API client with a token pair of `browser`'s user.
fn api(app: &App, browser: &mut Client) -> Client {
    let pair = browser.request("POST", "/token", Some(String::new()));
    assert_eq!(pair.status, 200, "{}", pair.body);
    let pair: Value = serde_json::from_str(&pair.body).unwrap();
    let mut api = Client::new(app.addr);
    api.headers.push((
        "authorization".into(),
        format!("Bearer {}", pair["access_token"].as_str().unwrap()),
    ));
    api.headers
        .push(("content-type".into(), "application/json".into()));
    api
}

/// A SCIM token of `slug`, made by its owner `owner` over JSON (shown once).
fn scim_token(app: &App, owner: &str, slug: &str) -> String {
    let mut owner_browser = browser(app, owner);
    let mut owner_api = api(app, &mut owner_browser);
    let made = owner_api.request(
        "POST",
        &format!("/api/v1/organizations/{slug}/scim/tokens"),
        Some(json!({ "name": "Entra" }).to_string()),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let made: Value = serde_json::from_str(&made.body).unwrap();
    made["data"]["value"].as_str().unwrap().to_owned()
}

/// A SCIM client with `token`.
fn scim(app: &App, token: &str) -> Client {
    common::scim_client(app.addr, token)
}

fn call(client: &mut Client, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let res = client.request(
        method,
        &format!("/scim/v2{path}"),
        body.map(|b| b.to_string()),
    );
    let json = if res.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("not JSON: {}", res.body))
    };
    if res.status != 204 && res.status != 401 {
        assert_eq!(
            res.header("content-type"),
            Some("application/scim+json"),
            "{method} {path}"
        );
    }
    (res.status, json)
}

fn new_user(email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "externalId": format!("ext-{email}"),
        "name": { "givenName": "Ada", "familyName": "Lovelace" },
        "emails": [{ "value": email, "type": "work", "primary": true }],
        "active": true,
    })
}

fn role_in(app: &App, email: &str, slug: &str) -> Option<String> {
    let user = block_on(
        app.config
            .users()
            .unwrap()
            .get_by("email", pow_core::users::Value::Text(email.to_owned())),
    )
    .unwrap()?;
    block_on(pow_ext_organizations::flows::membership(
        &app.config,
        &user,
        slug,
    ))
    .unwrap()
    .map(|membership| membership.role)
}

/// Users: provisioned at verified domains only, found by filters, paged, replaced, patched
/// and deleted; the discovery documents; tokens that are made up, revoked or rotated.
fn users_are_provisioned_and_found(users: DieselUsersContext) {
    // The audit sink of these tests keeps no PostgreSQL schema: events are listed on SQLite.
    let events_kept = users.schema().is_none();
    let app = start(users);
    let token = scim_token(&app, OWNER, "acme");
    let mut idp = scim(&app, &token);

    let (status, config) = call(&mut idp, "GET", "/ServiceProviderConfig", None);
    assert_eq!(status, 200);
    assert_eq!(config["patch"]["supported"], true);
    let (status, kinds) = call(&mut idp, "GET", "/ResourceTypes", None);
    assert_eq!(status, 200);
    assert_eq!(kinds["totalResults"], 2);
    let (status, schemas) = call(&mut idp, "GET", "/Schemas", None);
    assert_eq!(status, 200);
    assert_eq!(schemas["totalResults"], 3);

    // Not at a verified domain: refused, nothing made.
    let (status, refused) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("eve@evil.example")),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["scimType"], "invalidValue");
    assert_eq!(
        refused["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );

    let (status, ada) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("ada@acme.example")),
    );
    assert_eq!(status, 201, "{ada}");
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    assert_eq!(ada["meta"]["resourceType"], "User");
    assert_eq!(
        role_in(&app, "ada@acme.example", "acme").as_deref(),
        Some("member")
    );
    let (status, again) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("ada@acme.example")),
    );
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["scimType"], "uniqueness");
    for email in ["bob@acme.example", "cy@acme.example"] {
        assert_eq!(
            call(&mut idp, "POST", "/Users", Some(new_user(email))).0,
            201
        );
    }

    let filtered = |idp: &mut Client, filter: &str| {
        let path = format!("/Users?filter={}", url_encode(filter));
        let (status, list) = call(idp, "GET", &path, None);
        assert_eq!(status, 200, "{filter}: {list}");
        list
    };
    assert_eq!(
        filtered(&mut idp, "userName eq \"ADA@acme.example\"")["totalResults"],
        1
    );
    assert_eq!(
        filtered(&mut idp, "userName eq \"nobody@acme.example\"")["totalResults"],
        0
    );
    assert_eq!(
        filtered(&mut idp, "emails[type eq \"work\" and value sw \"b\"]")["totalResults"],
        1
    );
    assert_eq!(
        filtered(&mut idp, "externalId eq \"ext-cy@acme.example\"")["totalResults"],
        1
    );
    assert_eq!(
        filtered(
            &mut idp,
            "userName co \"acme\" and not (userName sw \"ada\")"
        )["totalResults"],
        2
    );
    let (status, bad) = call(
        &mut idp,
        "GET",
        &format!("/Users?filter={}", url_encode("userName eq")),
        None,
    );
    assert_eq!(status, 400);
    assert_eq!(bad["scimType"], "invalidFilter");
    let (_, page) = call(&mut idp, "GET", "/Users?startIndex=2&count=1", None);
    assert_eq!(page["totalResults"], 3);
    assert_eq!(page["itemsPerPage"], 1);
    assert_eq!(page["startIndex"], 2);
    let (_, projected) = call(
        &mut idp,
        "GET",
        &format!("/Users/{ada_id}?attributes=userName"),
        None,
    );
    assert!(projected.get("emails").is_none() && projected["userName"] == "ada@acme.example");

    // PUT replaces; a stale ETag is refused.
    let mut replaced = new_user("ada@acme.example");
    replaced["displayName"] = json!("Countess Ada");
    let (status, put) = call(
        &mut idp,
        "PUT",
        &format!("/Users/{ada_id}"),
        Some(replaced.clone()),
    );
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["displayName"], "Countess Ada");
    assert_eq!(put["meta"]["version"], "W/\"2\"");
    idp.headers.push(("if-match".into(), "W/\"1\"".into()));
    let (status, _) = call(&mut idp, "PUT", &format!("/Users/{ada_id}"), Some(replaced));
    assert_eq!(status, 412);
    idp.headers.pop();

    // Made-up, revoked and rotated tokens.
    let mut forged = scim(&app, &format!("{token}x"));
    assert_eq!(call(&mut forged, "GET", "/Users", None).0, 401);
    let mut nobody = scim(&app, "scim_bm90IGEgdG9rZW4");
    assert_eq!(call(&mut nobody, "GET", "/Users", None).0, 401);
    let mut owner_browser = browser(&app, OWNER);
    let mut owner_api = api(&app, &mut owner_browser);
    let shown: Value = serde_json::from_str(
        &owner_api
            .request("GET", "/api/v1/organizations/acme/scim", None)
            .body,
    )
    .unwrap();
    let token_id = shown["data"]["tokens"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{shown}"))
        .to_owned();
    assert!(!shown.to_string().contains(&token), "never shown again");
    let listed: Vec<&str> = shown["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["name"].as_str())
        .collect();
    if events_kept {
        assert!(listed.contains(&"scim.user_provisioned"), "{listed:?}");
        assert_eq!(shown["data"]["events"][0]["token"], "Entra", "{shown}");
    }
    let rotated: Value = serde_json::from_str(
        &owner_api
            .request(
                "POST",
                &format!("/api/v1/organizations/acme/scim/tokens/{token_id}/rotate"),
                Some(String::new()),
            )
            .body,
    )
    .unwrap();
    let new_token = rotated["data"]["value"].as_str().unwrap().to_owned();
    let twice = owner_api.request(
        "POST",
        &format!("/api/v1/organizations/acme/scim/tokens/{token_id}/rotate"),
        Some(String::new()),
    );
    assert_eq!(
        twice.status, 404,
        "a rotated token's overlap is not extended"
    );
    assert_eq!(
        call(&mut idp, "GET", "/Users", None).0,
        200,
        "the old one works a day more"
    );
    let mut fresh = scim(&app, &new_token);
    assert_eq!(call(&mut fresh, "GET", "/Users", None).0, 200);
    let revoked = owner_api.request(
        "DELETE",
        &format!("/api/v1/organizations/acme/scim/tokens/{token_id}"),
        None,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(
        call(&mut idp, "GET", "/Users", None).0,
        401,
        "revoked at once"
    );

    // DELETE deprovisions and forgets.
    let (status, _) = call(&mut fresh, "DELETE", &format!("/Users/{ada_id}"), None);
    assert_eq!(status, 204);
    assert_eq!(
        call(&mut fresh, "GET", &format!("/Users/{ada_id}"), None).0,
        404
    );
    assert_eq!(role_in(&app, "ada@acme.example", "acme"), None);
}

/// A token reaches its own organization only: another's users are `404`.
fn a_token_reaches_its_organization_only(users: DieselUsersContext) {
    let app = start(users);
    let acme = scim_token(&app, OWNER, "acme");
    let globex = scim_token(&app, OTHER_OWNER, "globex");
    let mut acme_idp = scim(&app, &acme);
    let mut globex_idp = scim(&app, &globex);
    let (_, ada) = call(
        &mut acme_idp,
        "POST",
        "/Users",
        Some(new_user("ada@acme.example")),
    );
    let ada_id = ada["id"].as_str().unwrap();
    assert_eq!(
        call(&mut globex_idp, "GET", &format!("/Users/{ada_id}"), None).0,
        404
    );
    assert_eq!(
        call(
            &mut globex_idp,
            "PATCH",
            &format!("/Users/{ada_id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": "active", "value": false }],
            }))
        )
        .0,
        404
    );
    assert_eq!(
        call(&mut globex_idp, "DELETE", &format!("/Users/{ada_id}"), None).0,
        404
    );
    let (_, list) = call(&mut globex_idp, "GET", "/Users", None);
    assert_eq!(list["totalResults"], 0);
    // Nor can it provision at the other organization's domain.
    assert_eq!(
        call(
            &mut globex_idp,
            "POST",
            "/Users",
            Some(new_user("bob@acme.example"))
        )
        .0,
        400
    );
    assert_eq!(
        role_in(&app, "ada@acme.example", "acme").as_deref(),
        Some("member")
    );
    // A closed organization's provider reaches nothing.
    let oscar = block_on(app.config.users().unwrap().get_by(
        "email",
        pow_core::users::Value::Text(OTHER_OWNER.to_owned()),
    ))
    .unwrap()
    .unwrap();
    block_on(pow_ext_organizations::flows::close(
        &app.config,
        &oscar,
        "globex",
    ))
    .unwrap()
    .unwrap();
    assert_eq!(call(&mut globex_idp, "GET", "/Users", None).0, 401);
}

/// `active: false` (Entra's string form) ends the browser session and the API token of the
/// account on their next request, and disables the account the provisioning made; `true`
/// again brings the membership back.
fn deprovisioning_ends_every_credential(users: DieselUsersContext) {
    let app = start(users);
    let token = scim_token(&app, OWNER, "acme");
    let mut idp = scim(&app, &token);
    // Carol has an account of her own: linked, not made.
    user(&app.config, "carol@acme.example");
    let (_, carol) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("carol@acme.example")),
    );
    let carol_id = carol["id"].as_str().unwrap().to_owned();
    let mut carol_browser = browser(&app, "carol@acme.example");
    let carol_user = block_on(app.config.users().unwrap().get_by(
        "email",
        pow_core::users::Value::Text("carol@acme.example".to_owned()),
    ))
    .unwrap()
    .unwrap();
    let carol_key = block_on(pow_ext_api_keys::flows::create(
        &app.config,
        &pow_ext_api_keys::ApiKeys::new().scopes(["reports:read"]),
        &carol_user,
        "script",
        &["reports:read"],
        None,
    ))
    .unwrap()
    .unwrap()
    .key;
    let carol_facts = pow_core::request::RequestFacts::default();
    let carol_key_works = || {
        block_on(pow_ext_api_keys::flows::authenticate(
            &app.config,
            &carol_key,
            &carol_facts,
        ))
        .unwrap()
        .is_ok()
    };
    assert!(carol_key_works());
    let mut carol_api = api(&app, &mut carol_browser);
    assert_eq!(
        carol_api.request("GET", "/api/v1/session", None).status,
        200
    );
    let (status, patched) = call(
        &mut idp,
        "PATCH",
        &format!("/Users/{carol_id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Replace", "path": "active", "value": "False" }],
        })),
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["active"], false);
    assert!(!signed_in(&mut carol_browser), "the browser session ended");
    assert!(!carol_key_works(), "and her API key");
    assert_eq!(
        carol_api.request("GET", "/api/v1/session", None).status,
        401,
        "and the API token"
    );
    assert_eq!(role_in(&app, "carol@acme.example", "acme"), None);
    // Her own account still signs in (it was not made by the provisioning).
    let mut again = browser(&app, "carol@acme.example");
    assert!(signed_in(&mut again));
    // Okta's reactivation.
    let (status, _) = call(
        &mut idp,
        "PATCH",
        &format!("/Users/{carol_id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "value": { "active": true } }],
        })),
    );
    assert_eq!(status, 200);
    assert_eq!(
        role_in(&app, "carol@acme.example", "acme").as_deref(),
        Some("member")
    );

    // Dan's account is made by the provisioning: deactivating disables it.
    let (_, dan) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("dan@acme.example")),
    );
    let dan_id = dan["id"].as_str().unwrap().to_owned();
    // Dan's API key (a script of his) works until the deactivation.
    let dan_before = block_on(app.config.users().unwrap().get_by(
        "email",
        pow_core::users::Value::Text("dan@acme.example".to_owned()),
    ))
    .unwrap()
    .unwrap();
    let key_settings = pow_ext_api_keys::ApiKeys::new().scopes(["reports:read"]);
    let key = block_on(pow_ext_api_keys::flows::create(
        &app.config,
        &key_settings,
        &dan_before,
        "script",
        &["reports:read"],
        None,
    ))
    .unwrap()
    .unwrap()
    .key;
    let facts = pow_core::request::RequestFacts::default();
    let key_works = || {
        block_on(pow_ext_api_keys::flows::authenticate(
            &app.config,
            &key,
            &facts,
        ))
        .unwrap()
        .is_ok()
    };
    assert!(key_works());
    let (status, _) = call(
        &mut idp,
        "PATCH",
        &format!("/Users/{dan_id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "value": { "active": false } }],
        })),
    );
    assert_eq!(status, 200);
    let dan_user = block_on(app.config.users().unwrap().get_by(
        "email",
        pow_core::users::Value::Text("dan@acme.example".to_owned()),
    ))
    .unwrap()
    .unwrap();
    assert!(
        dan_user.is_disabled(),
        "an account the provisioning made is disabled"
    );
    assert!(!key_works(), "and its API key refused on its next use");
}

/// The same on two nodes sharing Redis: the session signed in on one is refused on its
/// next request there once the other deprovisions.
fn deprovisioning_reaches_every_node() {
    let Some(url) = pow_core::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-scim-{}", pow_core::token::generate_uuid());
    let store: Arc<dyn pow_core::store::Store> =
        Arc::new(block_on(pow_core::store::RedisStore::connect(&url, &prefix)).unwrap());
    let users = pow_testkit::sqlite("scim-nodes");
    let first = start_on(users.clone(), Arc::clone(&store));
    // A second node: its own setup and server over the same users and store.
    let txt = StaticTxt::new();
    let second_config = common::config(
        &users,
        Arc::clone(&store),
        &txt,
        "http://localhost",
        Scim::new(),
    );
    let second = App {
        addr: pow_testkit::serve_with_api(second_config.clone(), pow_core::api::ApiOptions::new()),
        config: second_config,
    };
    let token = scim_token(&first, OWNER, "acme");
    let mut idp = scim(&second, &token);
    user(&first.config, "carol@acme.example");
    let (_, carol) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("carol@acme.example")),
    );
    let mut on_first = browser(&first, "carol@acme.example");
    assert!(signed_in(&mut on_first));
    let (status, _) = call(
        &mut idp,
        "DELETE",
        &format!("/Users/{}", carol["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 204);
    assert!(
        !signed_in(&mut on_first),
        "refused on the other node's next request"
    );
}

/// And on a node of another process sharing the users database and Redis: Carol signs in
/// there; this process deprovisions her; her next request there is signed out.
fn deprovisioning_reaches_another_process() {
    let Some(url) = pow_core::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-scim-{}", pow_core::token::generate_uuid());
    let store: Arc<dyn pow_core::store::Store> =
        Arc::new(block_on(pow_core::store::RedisStore::connect(&url, &prefix)).unwrap());
    let db = std::env::temp_dir().join(format!(
        "pow-scim-process-{}.db",
        pow_core::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let first = start_on(users, store);
    let framework = match pow_testkit::framework() {
        pow_testkit::Framework::Actix => "actix",
        pow_testkit::Framework::Axum => "axum",
    };
    let mut child = pow_testkit::Tool::start(
        "the second node",
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "scim_node_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("POW_SCIM_NODE_DB", &db)
            .env("POW_SCIM_NODE_PREFIX", &prefix)
            .env("POW_SCIM_NODE_FRAMEWORK", framework),
    );
    let addr: SocketAddr = loop {
        let line = child.line("its address");
        // The harness may have printed the test's name on the same line.
        if let Some((_, addr)) = line.split_once("node=") {
            break addr.trim().parse().unwrap();
        }
    };
    let second = App {
        config: first.config.clone(),
        addr,
    };
    let token = scim_token(&first, OWNER, "acme");
    let mut idp = scim(&first, &token);
    user(&first.config, "carol@acme.example");
    let (_, carol) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("carol@acme.example")),
    );
    let mut there = browser(&second, "carol@acme.example");
    assert!(signed_in(&mut there), "signed in on the other process");
    let (status, _) = call(
        &mut idp,
        "DELETE",
        &format!("/Users/{}", carol["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 204);
    assert!(!signed_in(&mut there), "refused there on the next request");
    // Its stdin closes and it is stopped.
    drop(child);
}

/// The node [`deprovisioning_reaches_another_process`] starts in a process of its own
/// (this test binary again, asked for this test alone): the setup over the SQLite file and
/// Redis prefix it is given, served until its stdin closes. Run alone it does nothing.
#[test]
#[ignore = "the second process of deprovisioning_reaches_another_process"]
fn scim_node_child() {
    let (Ok(db), Ok(prefix)) = (
        std::env::var("POW_SCIM_NODE_DB"),
        std::env::var("POW_SCIM_NODE_PREFIX"),
    ) else {
        return;
    };
    let Some(url) = pow_core::testing::test_redis_url() else {
        return;
    };
    let store: Arc<dyn pow_core::store::Store> =
        Arc::new(block_on(pow_core::store::RedisStore::connect(&url, &prefix)).unwrap());
    let users = DieselUsersContext::connect(&db).unwrap();
    let txt = StaticTxt::new();
    let config = common::config(&users, store, &txt, "http://localhost", Scim::new());
    pow_testkit::set_framework(match std::env::var("POW_SCIM_NODE_FRAMEWORK").as_deref() {
        Ok("axum") => pow_testkit::Framework::Axum,
        _ => pow_testkit::Framework::Actix,
    });
    let addr = pow_testkit::serve(config);
    println!("node={addr}");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut rest);
}

/// The last owner is never deprovisioned: of two owners deprovisioned at once, one stays.
fn the_last_owner_stays(users: DieselUsersContext) {
    let app = start(users);
    let token = scim_token(&app, OWNER, "acme");
    let mut idp = scim(&app, &token);
    let (_, olga) = call(&mut idp, "POST", "/Users", Some(new_user(OWNER)));
    let (_, otto) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("otto@acme.example")),
    );
    // Otto becomes an owner too.
    let otto_user = block_on(app.config.users().unwrap().get_by(
        "email",
        pow_core::users::Value::Text("otto@acme.example".to_owned()),
    ))
    .unwrap()
    .unwrap();
    let org = block_on(pow_ext_organizations::flows::by_slug(&app.config, "acme"))
        .unwrap()
        .unwrap();
    block_on(pow_ext_organizations::flows::provision_role(
        &app.config,
        &org.id,
        otto_user.id,
        "owner",
        "test",
    ))
    .unwrap()
    .unwrap();
    let ids = [
        olga["id"].as_str().unwrap().to_owned(),
        otto["id"].as_str().unwrap().to_owned(),
    ];
    let handles: Vec<_> = ids
        .iter()
        .map(|id| {
            let mut client = scim(&app, &token);
            let id = id.clone();
            std::thread::spawn(move || call(&mut client, "DELETE", &format!("/Users/{id}"), None))
        })
        .collect();
    let outcomes: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let statuses: Vec<u16> = outcomes.iter().map(|(status, _)| *status).collect();
    assert!(
        statuses.contains(&204) && statuses.contains(&409),
        "{outcomes:?}"
    );
    let kept = outcomes.iter().find(|(status, _)| *status == 409).unwrap();
    assert_eq!(kept.1["scimType"], "mutability");
    // The one left: deactivating it is refused and its record stays active.
    let (_, left) = call(&mut idp, "GET", "/Users", None);
    let left_id = left["Resources"][0]["id"].as_str().unwrap().to_owned();
    let (status, refused) = call(
        &mut idp,
        "PATCH",
        &format!("/Users/{left_id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "path": "active", "value": false }],
        })),
    );
    assert_eq!(status, 409, "{refused}");
    let (_, still) = call(&mut idp, "GET", &format!("/Users/{left_id}"), None);
    assert_eq!(still["active"], true, "the record goes back");
    let owners = [OWNER, "otto@acme.example"]
        .iter()
        .filter(|email| role_in(&app, email, "acme").as_deref() == Some("owner"))
        .count();
    assert_eq!(owners, 1, "exactly one owner stays");
}

/// Groups map onto roles: members of a group mapped to `admin` become admins, and
/// leaving it brings them back to the default role.
fn groups_map_onto_roles(users: DieselUsersContext) {
    let app = start(users);
    let token = scim_token(&app, OWNER, "acme");
    let mut idp = scim(&app, &token);
    let (_, ada) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("ada@acme.example")),
    );
    let (_, bob) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("bob@acme.example")),
    );
    let (ada_id, bob_id) = (ada["id"].as_str().unwrap(), bob["id"].as_str().unwrap());
    let (status, group) = call(
        &mut idp,
        "POST",
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Admins",
            "members": [{ "value": ada_id }],
        })),
    );
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap().to_owned();
    let (status, unknown) = call(
        &mut idp,
        "POST",
        "/Groups",
        Some(json!({
            "displayName": "Strangers", "members": [{ "value": "not-a-user" }],
        })),
    );
    assert_eq!(status, 400, "{unknown}");
    // The owner maps it onto `admin`.
    let mut owner_browser = browser(&app, OWNER);
    let mut owner_api = api(&app, &mut owner_browser);
    let mapped = owner_api.request(
        "PUT",
        &format!("/api/v1/organizations/acme/scim/groups/{group_id}/role"),
        Some(json!({ "role": "admin" }).to_string()),
    );
    assert_eq!(mapped.status, 200, "{}", mapped.body);
    assert_eq!(
        role_in(&app, "ada@acme.example", "acme").as_deref(),
        Some("admin")
    );
    let owner_role = owner_api.request(
        "PUT",
        &format!("/api/v1/organizations/acme/scim/groups/{group_id}/role"),
        Some(json!({ "role": "owner" }).to_string()),
    );
    assert_eq!(owner_role.status, 422, "no group makes owners");
    // Membership changes: Bob in, Ada out.
    let (status, patched) = call(
        &mut idp,
        "PATCH",
        &format!("/Groups/{group_id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                { "op": "add", "path": "members", "value": [{ "value": bob_id }] },
                { "op": "remove", "path": format!("members[value eq \"{ada_id}\"]") },
            ],
        })),
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        role_in(&app, "bob@acme.example", "acme").as_deref(),
        Some("admin")
    );
    assert_eq!(
        role_in(&app, "ada@acme.example", "acme").as_deref(),
        Some("member")
    );
    // Deactivated and back: Bob gets the role of the group he is still in.
    for active in [false, true] {
        let (status, _) = call(
            &mut idp,
            "PATCH",
            &format!("/Users/{bob_id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": "active", "value": active }],
            })),
        );
        assert_eq!(status, 200);
    }
    assert_eq!(
        role_in(&app, "bob@acme.example", "acme").as_deref(),
        Some("admin")
    );
    let (status, _) = call(&mut idp, "DELETE", &format!("/Groups/{group_id}"), None);
    assert_eq!(status, 204);
    assert_eq!(
        role_in(&app, "bob@acme.example", "acme").as_deref(),
        Some("member")
    );
}

/// Groups fill teams: an admin maps a group onto a team, its provisioned members join it
/// and leave it with the group; someone an admin put in the team by hand stays.
fn groups_fill_teams(users: DieselUsersContext) {
    let app = start(users);
    let token = scim_token(&app, OWNER, "acme");
    let mut idp = scim(&app, &token);
    let owner = block_on(
        app.config
            .users()
            .unwrap()
            .get_by("email", pow_core::users::Value::Text(OWNER.to_owned())),
    )
    .unwrap()
    .unwrap();
    let team = block_on(pow_ext_organizations::teams::create(
        &app.config,
        &owner,
        "acme",
        "Engineering",
    ))
    .unwrap()
    .unwrap();
    let carol = user(&app.config, "carol@acme.example");
    let org = block_on(pow_ext_organizations::flows::by_slug(&app.config, "acme"))
        .unwrap()
        .unwrap();
    block_on(pow_ext_organizations::flows::provision_member(
        &app.config,
        &org.id,
        &carol,
        "member",
        "test",
    ))
    .unwrap()
    .unwrap();
    block_on(pow_ext_organizations::teams::set_role(
        &app.config,
        &owner,
        "acme",
        &team.id,
        carol.id,
        "member",
    ))
    .unwrap()
    .unwrap();
    let (_, ada) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("ada@acme.example")),
    );
    let (_, bob) = call(
        &mut idp,
        "POST",
        "/Users",
        Some(new_user("bob@acme.example")),
    );
    let (ada_id, bob_id) = (ada["id"].as_str().unwrap(), bob["id"].as_str().unwrap());
    let (_, group) = call(
        &mut idp,
        "POST",
        "/Groups",
        Some(json!({
            "displayName": "Eng", "members": [{ "value": ada_id }],
        })),
    );
    let group_id = group["id"].as_str().unwrap().to_owned();
    let in_team = |email: &str| {
        let user = block_on(
            app.config
                .users()
                .unwrap()
                .get_by("email", pow_core::users::Value::Text(email.to_owned())),
        )
        .unwrap()
        .unwrap();
        block_on(pow_ext_organizations::teams::of_member(
            &app.config,
            &org.id,
            user.id,
        ))
        .unwrap()
        .iter()
        .any(|(have, _)| have.id == team.id)
    };
    let mut owner_browser = browser(&app, OWNER);
    let mut owner_api = api(&app, &mut owner_browser);
    let mapped = owner_api.request(
        "PUT",
        &format!("/api/v1/organizations/acme/scim/groups/{group_id}/team"),
        Some(json!({ "team_id": team.id }).to_string()),
    );
    assert_eq!(mapped.status, 200, "{}", mapped.body);
    assert!(in_team("ada@acme.example"), "the group's member joins");
    let elsewhere = owner_api.request(
        "PUT",
        &format!("/api/v1/organizations/acme/scim/groups/{group_id}/team"),
        Some(json!({ "team_id": "no-such-team" }).to_string()),
    );
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.body);
    let (status, _) = call(
        &mut idp,
        "PATCH",
        &format!("/Groups/{group_id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                { "op": "add", "path": "members", "value": [{ "value": bob_id }] },
                { "op": "remove", "path": format!("members[value eq \"{ada_id}\"]") },
            ],
        })),
    );
    assert_eq!(status, 200);
    assert!(in_team("bob@acme.example"));
    assert!(!in_team("ada@acme.example"), "leaves with the group");
    assert!(
        in_team("carol@acme.example"),
        "a hand-made membership stays"
    );
    assert_eq!(
        call(&mut idp, "DELETE", &format!("/Groups/{group_id}"), None).0,
        204
    );
    assert!(!in_team("bob@acme.example"));
    assert!(in_team("carol@acme.example"));
}

/// The provisioning page: its admins see the SCIM URL and make a token (shown once, then
/// working); a member may not, nor may anyone of another organization.
fn the_page_makes_tokens(users: DieselUsersContext) {
    let app = start(users);
    let mut owner = browser(&app, OWNER);
    let page = owner.get("/organizations/acme/scim");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("http://localhost/scim/v2"),
        "{}",
        page.body
    );
    let made = owner.post(
        "/organizations/acme/scim/tokens",
        &[("_csrf_token", &page.csrf()), ("user[name]", "Okta")],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let at = made
        .body
        .find("value=\"scim_")
        .expect("the token, shown once")
        + "value=\"".len();
    let token = &made.body[at..at + made.body[at..].find('"').unwrap()];
    let mut idp = scim(&app, token);
    assert_eq!(call(&mut idp, "GET", "/Users", None).0, 200);
    let again = owner.get("/organizations/acme/scim");
    assert!(!again.body.contains(token), "never shown again");
    let member = user(&app.config, "mo@acme.example");
    let org = block_on(pow_ext_organizations::flows::by_slug(&app.config, "acme"))
        .unwrap()
        .unwrap();
    block_on(pow_ext_organizations::flows::provision_member(
        &app.config,
        &org.id,
        &member,
        "member",
        "test",
    ))
    .unwrap()
    .unwrap();
    let mut mo = browser(&app, "mo@acme.example");
    assert_eq!(mo.get("/organizations/acme/scim").status, 403);
    let mut stranger = browser(&app, OTHER_OWNER);
    assert_eq!(stranger.get("/organizations/acme/scim").status, 404);
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sqlite() -> DieselUsersContext {
    pow_testkit::sqlite("scim")
}

fn provisioned() {
    users_are_provisioned_and_found(sqlite());
}
fn provisioned_on_postgres() {
    if let Some(users) = pow_testkit::postgres("scim") {
        users_are_provisioned_and_found(users);
    }
}
fn isolated() {
    a_token_reaches_its_organization_only(sqlite());
}
fn deprovisioned() {
    deprovisioning_ends_every_credential(sqlite());
}
fn deprovisioned_on_postgres() {
    if let Some(users) = pow_testkit::postgres("scim") {
        deprovisioning_ends_every_credential(users);
    }
}
fn last_owner() {
    the_last_owner_stays(sqlite());
}
fn last_owner_on_postgres() {
    if let Some(users) = pow_testkit::postgres("scim") {
        the_last_owner_stays(users);
    }
}
fn groups() {
    groups_map_onto_roles(sqlite());
}
fn page() {
    the_page_makes_tokens(sqlite());
}
fn teams() {
    groups_fill_teams(sqlite());
}

pow_testkit::on_both!(
    provisioned,
    provisioned_on_postgres,
    isolated,
    deprovisioned,
    deprovisioned_on_postgres,
    deprovisioning_reaches_every_node,
    deprovisioning_reaches_another_process,
    last_owner,
    last_owner_on_postgres,
    groups,
    page,
    teams,
);

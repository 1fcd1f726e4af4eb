//! Live revocation over HTTP, on memory and Redis: a session's live id stays the same
//! through renewals; signing out, ending it from the session list, changing the password
//! and disabling the account each announce its end within a second; `ended` resolves at
//! once for a session that is already gone; and with Redis, a second node hears the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::{current_session, LiveEvent, LiveSessionId, LiveSessions};
use pow_actix::store::{MemoryStore, Store};
use pow_actix::test_client::{serve, Client};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;

const PASSWORD: &str = "correct horse battery";
const EMAIL: &str = "alice@example.com";
/// How soon an end must be heard.
const WITHIN: Duration = Duration::from_secs(1);

/// A config on `store` and the SQLite file `db` (created and migrated when new).
fn config(store: Arc<dyn Store>, db: &std::path::Path) -> PowConfig {
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("s".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(store)
        .session_ttl_renewal(Some(Duration::ZERO))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    config
}

fn new_db() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("pow-live-{}.db", pow_actix::token::generate_uuid()))
}

/// Serves the core pages plus `/live-id`, which answers the session's live id.
fn start(config: &PowConfig) -> SocketAddr {
    let config = config.clone();
    serve(move || {
        pow_actix::testing::app(&config).route(
            "/live-id",
            web::get().to(|req: HttpRequest| async move {
                current_session(&req)
                    .map(|session| session.live_id().to_string())
                    .unwrap_or_default()
            }),
        )
    })
}

fn live_id(c: &mut Client) -> LiveSessionId {
    c.get("/live-id").body.parse().expect("signed in")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Subscribes on `live`, runs `act`, and returns the first event that concerns `id`.
fn event_after(
    rt: &tokio::runtime::Runtime,
    live: &LiveSessions,
    id: &LiveSessionId,
    act: impl FnOnce(),
) -> LiveEvent {
    let mut events = rt.block_on(live.events());
    act();
    rt.block_on(async {
        tokio::time::timeout(WITHIN, async {
            loop {
                let event = events.next().await;
                if event.ends(id) != Some(false) {
                    return event;
                }
            }
        })
        .await
        .expect("the end is announced within a second")
    })
}

fn announces_every_end(store: Arc<dyn Store>) {
    let db = new_db();
    let config = config(store, &db);
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = start(&config);
    let rt = runtime();
    let live = LiveSessions::new(&config);

    // Renewals (every request here) keep the live id and its validity.
    let mut browser = Client::new(addr);
    browser.sign_in(EMAIL, PASSWORD);
    let id = live_id(&mut browser);
    assert_eq!(id.user_id, user.id);
    assert_eq!(live_id(&mut browser), id, "stable through renewals");
    assert!(rt.block_on(live.is_still_valid(&id)).unwrap());

    // Sign-out.
    let event = event_after(&rt, &live, &id, || {
        let csrf = browser.get("/registration/edit").csrf();
        browser.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")]);
    });
    assert_eq!(event, LiveEvent::Ended(id.clone()));
    assert!(!rt.block_on(live.is_still_valid(&id)).unwrap());
    // Already gone: resolves at once.
    rt.block_on(async { tokio::time::timeout(WITHIN, live.ended(&id)).await })
        .expect("ended at once");

    // Ended from another browser's session list.
    let mut phone = Client::new(addr);
    phone
        .headers
        .push(("User-Agent".into(), "Phone/1.0".into()));
    phone.sign_in(EMAIL, PASSWORD);
    let phone_id = live_id(&mut phone);
    let mut laptop = Client::new(addr);
    laptop.sign_in(EMAIL, PASSWORD);
    let event = event_after(&rt, &live, &phone_id, || {
        let csrf = laptop.get("/registration/sessions").csrf();
        laptop.post(
            "/registration/sessions",
            &[("_csrf_token", &csrf), ("user[scope]", "others")],
        );
    });
    assert_eq!(event, LiveEvent::Ended(phone_id.clone()));

    // A password change ends every session, this one included.
    let laptop_id = live_id(&mut laptop);
    let watcher = {
        let (live, laptop_id) = (live.clone(), laptop_id.clone());
        rt.spawn(async move { live.ended(&laptop_id).await })
    };
    let csrf = laptop.get("/registration/edit").csrf();
    let res = laptop.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("_method", "PATCH"),
            ("user[email]", EMAIL),
            ("user[current_password]", PASSWORD),
            ("user[password]", "a new correct horse"),
            ("user[password_confirmation]", "a new correct horse"),
        ],
    );
    assert!(res.status < 400, "{}: {}", res.status, res.body);
    rt.block_on(async { tokio::time::timeout(WITHIN, watcher).await })
        .expect("the watcher of the old session resolved")
        .unwrap();

    // Disabling the account ends the session it has now.
    let laptop_id = live_id(&mut laptop);
    assert!(rt.block_on(live.is_still_valid(&laptop_id)).unwrap());
    let user = config
        .users_context()
        .unwrap()
        .get(config.user_schema(), user.id)
        .unwrap()
        .unwrap();
    let event = event_after(&rt, &live, &laptop_id, || {
        rt.block_on(pow_actix::admin::disable_user(&config, &user))
            .unwrap();
    });
    assert_eq!(event, LiveEvent::AllEnded { user_id: user.id });
    assert!(!rt.block_on(live.is_still_valid(&laptop_id)).unwrap());
    let _ = std::fs::remove_file(db);
}

#[test]
fn announces_every_end_on_memory() {
    announces_every_end(Arc::new(MemoryStore::new()));
}

#[test]
fn announces_every_end_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-live-{}", pow_actix::token::generate_uuid());
    announces_every_end(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

/// Two nodes sharing one Redis and one database: a session signed out on one node ends the
/// live connection watching it on the other.
#[test]
fn another_node_hears_the_end_through_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-live-{}", pow_actix::token::generate_uuid());
    let db = new_db();
    let node_a = config(
        pow_actix::testing::test_redis_store(&url, &prefix).unwrap(),
        &db,
    );
    let node_b = config(
        pow_actix::testing::test_redis_store(&url, &prefix).unwrap(),
        &db,
    );
    pow_actix::testing::create_user(&node_a, EMAIL, PASSWORD).unwrap();
    let (addr_a, addr_b) = (start(&node_a), start(&node_b));

    let mut browser = Client::new(addr_a);
    browser.sign_in(EMAIL, PASSWORD);
    let id = live_id(&mut browser);
    let rt = runtime();
    let live_b = LiveSessions::new(&node_b);
    assert!(rt.block_on(live_b.is_still_valid(&id)).unwrap());
    let event = event_after(&rt, &live_b, &id, || {
        // The same browser, through node B's door is not needed: node A signs it out.
        let mut on_a = Client::new(addr_a);
        on_a.cookies = browser.cookies.clone();
        let csrf = on_a.get("/registration/edit").csrf();
        on_a.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")]);
    });
    assert_eq!(event, LiveEvent::Ended(id.clone()));
    let mut on_b = Client::new(addr_b);
    on_b.cookies = browser.cookies.clone();
    assert_eq!(on_b.get("/live-id").body, "", "signed out on node B too");
    let _ = std::fs::remove_file(db);
}

/// An API client's renewals keep its live id valid and announce nothing; its sign-out
/// ends it.
#[test]
fn api_renewals_continue_the_live_session() {
    let db = new_db();
    let config = config(Arc::new(MemoryStore::new()), &db);
    pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let served = config.clone();
    let addr = serve(move || {
        actix_web::App::new().configure(pow_actix::api::configure(
            served.clone(),
            pow_actix::api::ApiOptions::new(),
        ))
    });
    let rt = runtime();
    let live = LiveSessions::new(&config);
    let mut client = Client::new(addr);
    let body = format!(r#"{{"user": {{"email": "{EMAIL}", "password": "{PASSWORD}"}}}}"#);
    let res = client.request("POST", "/api/v1/session", Some(body));
    let pair: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let session_of = |access: &str| {
        rt.block_on(pow_actix::api::authenticate(&config, access))
            .unwrap()
            .expect("a valid access token")
    };
    let id = session_of(pair["data"]["access_token"].as_str().unwrap()).live_id();

    let mut events = rt.block_on(live.events());
    let mut renewal = pair["data"]["renewal_token"].as_str().unwrap().to_owned();
    let mut access = String::new();
    for _ in 0..2 {
        client.headers = vec![("Authorization".into(), format!("Bearer {renewal}"))];
        let res = client.request("POST", "/api/v1/session/renew", Some(String::new()));
        assert_eq!(res.status, 200, "{}", res.body);
        let pair: serde_json::Value = serde_json::from_str(&res.body).unwrap();
        renewal = pair["data"]["renewal_token"].as_str().unwrap().to_owned();
        access = pair["data"]["access_token"].as_str().unwrap().to_owned();
        assert_eq!(session_of(&access).live_id(), id, "the same live session");
        assert!(rt.block_on(live.is_still_valid(&id)).unwrap());
    }
    // Nothing was announced by the renewals (events are sent before the answer).
    assert_eq!(events.try_next(), None);
    client.headers = vec![("Authorization".into(), format!("Bearer {access}"))];
    let res = client.request("DELETE", "/api/v1/session", None);
    assert!(res.status < 300, "{}: {}", res.status, res.body);
    let event = rt
        .block_on(async { tokio::time::timeout(WITHIN, events.next()).await })
        .expect("the sign-out is announced");
    assert_eq!(event, LiveEvent::Ended(id.clone()));
    assert!(!rt.block_on(live.is_still_valid(&id)).unwrap());
    let _ = std::fs::remove_file(db);
}

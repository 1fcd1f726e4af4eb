//! The account over JSON, as an app client sees it: re-authentication (sudo mode) with a
//! wrong and a right password, a change of password that answers a new pair and ends the
//! old one, validation errors, and deletion, each refused without a fresh session; what
//! `GET /config`, `GET /session` and `GET /activity` tell a client; the lock notice's
//! token unlocking over JSON, once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use pow_actix::audit::{Auditor, DieselAuditSink};
use pow_actix::limits::{Lockout, RateLimits};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::{AuthMethod, CredentialsCache};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowConfigBuilder, User};
use pow_core::api::ApiOptions;
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";

fn start() -> (PowConfig, SocketAddr, User) {
    let (config, addr, user, _) = start_with(|b, _| b);
    (config, addr, user)
}

/// [`start`] with more settings (given the users database), and the mailer.
fn start_with(
    tweak: impl FnOnce(PowConfigBuilder, &DieselUsersContext) -> PowConfigBuilder,
) -> (PowConfig, SocketAddr, User, MemoryMailer) {
    let db = std::env::temp_dir().join(format!(
        "pow-api-account-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let builder = PowConfig::builder("j".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost");
    let config = tweak(builder, &users).build().unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = pow_testkit::serve_api(config.clone(), ApiOptions::new());
    (config, addr, user, mailer)
}

fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Value) -> Response {
    let mut c = Client::new(addr);
    c.headers
        .push(("Content-Type".into(), "application/json".into()));
    if let Some(token) = token {
        c.headers
            .push(("Authorization".into(), format!("Bearer {token}")));
    }
    // A GET carries no body (the server would read it as the next request).
    let body = (method != "GET").then(|| body.to_string());
    c.request(method, path, body)
}

fn json_of(res: &Response) -> Value {
    serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("JSON: {}", res.body))
}

fn sign_in(addr: SocketAddr, password: &str) -> Response {
    let body = json!({"user": {"email": EMAIL, "password": password}});
    call(addr, "POST", "/api/v1/session", None, body)
}

fn access_token(res: &Response) -> String {
    json_of(res)["data"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a pair: {}", res.body))
        .to_owned()
}

/// Moves the password proof of every session of `user` back an hour (past sudo mode).
fn stale(config: &PowConfig, user: &User) {
    actix_web::rt::System::new().block_on(async {
        let cache = CredentialsCache::new(config);
        for id in cache.sessions(user.id).await.unwrap() {
            let (user, mut metadata) = cache.get(&id).await.unwrap().unwrap();
            metadata.authenticated_at = Some(pow_actix::time::now_ms() - 3_600_000);
            cache.put(&id, &user, &metadata).await.unwrap();
        }
    });
}

fn me(addr: SocketAddr, token: &str) -> u16 {
    call(addr, "GET", "/api/v1/sessions", Some(token), json!({})).status
}

fn reauthentication_then_a_new_password_then_deletion() {
    let (config, addr, user) = start();
    let token = access_token(&sign_in(addr, PASSWORD));
    stale(&config, &user);

    // Not fresh: the account answers 401 until the password is proved again.
    let change = json!({"user": {
        "current_password": PASSWORD,
        "password": NEW_PASSWORD,
        "password_confirmation": NEW_PASSWORD,
    }});
    let res = call(
        addr,
        "PATCH",
        "/api/v1/registration",
        Some(&token),
        change.clone(),
    );
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(
        json_of(&res)["errors"][0]["code"],
        "reauthentication_required"
    );
    let res = call(
        addr,
        "DELETE",
        "/api/v1/registration",
        Some(&token),
        json!({}),
    );
    assert_eq!(res.status, 401, "{}", res.body);

    let reauth = |password: &str| {
        let body = json!({"user": {"password": password}});
        call(
            addr,
            "POST",
            "/api/v1/session/reauthenticate",
            Some(&token),
            body,
        )
    };
    let res = reauth("not the password");
    assert_eq!(res.status, 401, "{}", res.body);
    let message = json_of(&res)["errors"][0]["message"].clone();
    assert!(
        message.as_str().unwrap().contains("login details"),
        "{message}"
    );
    let res = call(
        addr,
        "POST",
        "/api/v1/session/reauthenticate",
        None,
        json!({"user": {"password": PASSWORD}}),
    );
    assert_eq!(res.status, 401, "no session: {}", res.body);
    let res = reauth(PASSWORD);
    assert_eq!(res.status, 204, "{}", res.body);
    // The session records the password, for step-up rules too.
    let session = actix_web::rt::System::new()
        .block_on(pow_actix::api::authenticate(&config, &token))
        .unwrap()
        .unwrap();
    assert!(session
        .metadata
        .method_used_at(AuthMethod::PASSWORD)
        .is_some());

    // Invalid params: field errors, nothing changed, the pair still works.
    let bad = json!({"user": {
        "current_password": PASSWORD,
        "password": "short",
        "password_confirmation": "short",
    }});
    let res = call(addr, "PATCH", "/api/v1/registration", Some(&token), bad);
    assert_eq!(res.status, 422, "{}", res.body);
    assert!(
        !pow_actix::testing::field_errors(&json_of(&res), "password")[0].is_null(),
        "{}",
        res.body
    );
    assert_eq!(me(addr, &token), 200);

    // A new password: a new pair in place of the old one; the old password is over.
    let res = call(addr, "PATCH", "/api/v1/registration", Some(&token), change);
    assert_eq!(res.status, 200, "{}", res.body);
    let fresh = access_token(&res);
    assert_ne!(fresh, token);
    assert_eq!(me(addr, &token), 401, "the old pair ended");
    assert_eq!(me(addr, &fresh), 200);
    assert_eq!(sign_in(addr, PASSWORD).status, 401);
    assert_eq!(sign_in(addr, NEW_PASSWORD).status, 200);

    // Deletion (the new pair is fresh): every pair ends, the row is gone.
    let other = access_token(&sign_in(addr, NEW_PASSWORD));
    let res = call(
        addr,
        "DELETE",
        "/api/v1/registration",
        Some(&fresh),
        json!({}),
    );
    assert_eq!(res.status, 204, "{}", res.body);
    assert_eq!(me(addr, &fresh), 401);
    assert_eq!(me(addr, &other), 401);
    assert!(config
        .users_context()
        .unwrap()
        .get_by(config.user_schema(), "email", &EMAIL.into())
        .unwrap()
        .is_none());
}

fn an_address_change_keeps_the_client_signed_in() {
    let (_config, addr, _user) = start();
    let token = access_token(&sign_in(addr, PASSWORD));
    let body = json!({"user": {"current_password": PASSWORD, "email": "ada@example.org"}});
    let res = call(addr, "PUT", "/api/v1/registration", Some(&token), body);
    assert_eq!(res.status, 200, "{}", res.body);
    let fresh = access_token(&res);
    assert_eq!(me(addr, &token), 401, "replaced");
    assert_eq!(me(addr, &fresh), 200);
    // Without a token: 401.
    let res = call(addr, "DELETE", "/api/v1/registration", None, json!({}));
    assert_eq!(res.status, 401, "{}", res.body);
}

fn the_config_and_the_session_say_where_a_client_stands() {
    let (config, addr, user) = start();
    let res = call(addr, "GET", "/api/v1/config", None, json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    let data = &json_of(&res)["data"];
    assert_eq!(data["user_id_field"], "email");
    assert_eq!(data["password"]["min_length"], 8);
    assert_eq!(data["password"]["max_length"], 4096);
    assert_eq!(data["sudo_window_secs"], 600);
    assert_eq!(data["extensions"], json!([]));
    assert_eq!(data["extension_details"], json!({}));
    assert!(data["browser_transport"].is_null());
    assert!(data["captcha"].is_null());

    let res = call(addr, "GET", "/api/v1/session", None, json!({}));
    assert_eq!(res.status, 401, "{}", res.body);
    let token = access_token(&sign_in(addr, PASSWORD));
    let session = |token: &str| {
        let res = call(addr, "GET", "/api/v1/session", Some(token), json!({}));
        assert_eq!(res.status, 200, "{}", res.body);
        json_of(&res)["data"].clone()
    };
    let data = session(&token);
    assert_eq!(data["user"]["id"], user.id);
    assert_eq!(data["user"]["email"], EMAIL);
    assert_eq!(data["session"]["methods"][0]["method"], "password");
    assert_eq!(data["session"]["sudo"]["fresh"], true);
    assert!(data["session"]["sudo"]["until"].as_i64().unwrap() > pow_actix::time::now_ms());
    assert_eq!(data["pending"], json!([]));
    stale(&config, &user);
    let data = session(&token);
    assert_eq!(data["session"]["sudo"]["fresh"], false);
    assert!(data["session"]["sudo"]["until"].is_null());
}

fn the_activity_lists_the_accounts_events() {
    // Without a queryable audit log: nothing, and it says so.
    let (_config, addr, _user) = start();
    let token = access_token(&sign_in(addr, PASSWORD));
    let res = call(addr, "GET", "/api/v1/activity", Some(&token), json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(json_of(&res)["meta"]["available"], false);
    assert_eq!(json_of(&res)["data"], json!([]));
    assert_eq!(
        call(addr, "GET", "/api/v1/activity", None, json!({})).status,
        401
    );

    // With the audit table: the sign-in, labelled in the client's language.
    let (_config, addr, _user, _) = start_with(|b, users| {
        b.audit(Auditor::new(DieselAuditSink::new(users.database().clone())))
    });
    let token = access_token(&sign_in(addr, PASSWORD));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let event = loop {
        let res = call(addr, "GET", "/api/v1/activity", Some(&token), json!({}));
        let json = json_of(&res);
        assert_eq!(json["meta"]["available"], true, "{}", res.body);
        let signed_in = json["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|event| event["name"] == "sign_in.succeeded")
            .cloned();
        if let Some(event) = signed_in {
            break event;
        }
        // The audit log writes from a thread of its own.
        assert!(std::time::Instant::now() < deadline, "{}", res.body);
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(
        event["label"].as_str().is_some_and(|l| !l.is_empty()),
        "{event}"
    );
    assert!(event["at"].as_str().unwrap().contains('T'), "{event}");
}

fn the_lock_notices_token_unlocks_over_json() {
    // The notice's link opens the app's frontend, which sends the token on.
    let frontend = "https://app.example.com/unlock#";
    let (_config, addr, _user, mailer) = start_with(|b, _| {
        b.frontend_link(
            pow_actix::api::LinkKind::UNLOCK,
            pow_actix::api::LinkTemplate::new(format!("{frontend}{{token}}")).unwrap(),
        )
        .rate_limits(RateLimits {
            sign_in_per_ip: None,
            sign_in_failures: None,
            lockout: Some(Lockout {
                max_failures: 3,
                ..Lockout::default()
            }),
            ..RateLimits::default()
        })
    });
    for _ in 0..3 {
        assert_eq!(sign_in(addr, "wrong password").status, 401);
    }
    assert_eq!(sign_in(addr, PASSWORD).status, 429, "locked");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mail = loop {
        let notice = mailer
            .last_to(EMAIL)
            .filter(|m| m.subject.contains("locked"));
        if let Some(mail) = notice {
            break mail;
        }
        // The notice is mailed after the answer.
        assert!(std::time::Instant::now() < deadline, "no lock notice");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(!mail.text.contains("/session/unlock/"), "{}", mail.text);
    let at = mail.text.find(frontend).expect("a link") + frontend.len();
    let token: String = mail.text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let unlock = |token: &str| {
        let body = json!({ "token": token });
        call(addr, "POST", "/api/v1/session/unlock", None, body)
    };
    let res = unlock("forged");
    assert_eq!(res.status, 400, "{}", res.body);
    assert_eq!(json_of(&res)["errors"][0]["code"], "invalid_token");
    let res = unlock(&token);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(sign_in(addr, PASSWORD).status, 200);
    let res = unlock(&token);
    assert_eq!(res.status, 400, "once: {}", res.body);
}

pow_testkit::on_both!(
    reauthentication_then_a_new_password_then_deletion,
    an_address_change_keeps_the_client_signed_in,
    the_config_and_the_session_say_where_a_client_stands,
    the_activity_lists_the_accounts_events,
    the_lock_notices_token_unlocks_over_json,
);

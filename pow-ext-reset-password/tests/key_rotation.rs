//! Key rotation over HTTP: a session cookie, an API access token and a mailed reset link
//! issued under secret A keep working once the key ring is [B, A], and stop working once
//! it is [B]. Each ring is a new server over the same users database and cache store.
//! And a copy of the store holds no usable reset token. On both frameworks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::{MemoryStore, Store};
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;
use pow_core::api::ApiOptions;
use pow_ext_reset_password::{MailDelivery, ResetPassword};

const PASSWORD: &str = "correct horse battery";

struct Shared {
    db: PathBuf,
    store: Arc<dyn Store>,
    mailer: MemoryMailer,
}

/// A server whose key ring is `current` then `retired`, on the test's framework: its
/// pages (with `GET /me`) and its JSON API.
struct Server {
    config: PowConfig,
    pages: SocketAddr,
    api: SocketAddr,
}

fn start(shared: &Shared, current: &str, retired: &[&str]) -> Server {
    let users = DieselUsersContext::connect(&shared.db.display().to_string()).unwrap();
    let mut builder = PowConfig::builder(current.repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(Arc::clone(&shared.store))
        .mailer(shared.mailer.clone())
        .base_url("http://localhost")
        .extension(ResetPassword::new().mail_delivery(MailDelivery::Inline));
    for id in retired {
        builder = builder.retired_secret_key_base(*id, id.repeat(64));
    }
    let config = builder.build().unwrap();
    users.migrate(&config).unwrap();
    Server {
        pages: pow_testkit::serve(config.clone()),
        api: pow_testkit::serve_api(config.clone(), ApiOptions::new()),
        config,
    }
}

/// A browser on `addr` holding `cookies`.
fn browser(addr: SocketAddr, cookies: &BTreeMap<String, String>) -> Client {
    let mut c = Client::new(addr);
    c.cookies = cookies.clone();
    c
}

fn access_token_works(config: &PowConfig, token: &str) -> bool {
    actix_web::rt::System::new()
        .block_on(pow_actix::api::authenticate(config, token))
        .unwrap()
        .is_some()
}

fn what_a_retired_key_signed_works_until_it_leaves_the_ring() {
    let shared = Shared {
        db: std::env::temp_dir().join(format!(
            "pow-key-rotation-{}.db",
            pow_actix::token::generate_uuid()
        )),
        store: Arc::new(MemoryStore::new()),
        mailer: MemoryMailer::new(),
    };

    // Under A: a browser session, an API token, a mailed reset link.
    let Server {
        config: config_a,
        pages: addr,
        api,
    } = start(&shared, "a", &[]);
    let user = pow_actix::testing::create_user(&config_a, "ada@example.com", PASSWORD).unwrap();
    let signed_in = format!("user:{}", user.id);
    let mut c = Client::new(addr);
    c.sign_in("ada@example.com", PASSWORD);
    assert_eq!(c.get("/me").body, signed_in);
    let cookies_a = c.cookies.clone();
    let body = serde_json::json!({ "user": { "email": "ada@example.com", "password": PASSWORD } });
    let res = Client::new(api).request("POST", "/api/v1/session", Some(body.to_string()));
    assert_eq!(res.status, 200, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let access = json["data"]["access_token"].as_str().unwrap().to_owned();
    let mut anonymous = Client::new(addr);
    let page = anonymous.get("/reset-password/new");
    let res = anonymous.post(
        "/reset-password",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "ada@example.com"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let mail = shared.mailer.last_to("ada@example.com").unwrap();
    assert_eq!(mail.subject, "Reset password link");
    let link = mail
        .text
        .lines()
        .find_map(|l| l.strip_prefix("http://localhost"))
        .expect("a reset link")
        .to_owned();

    // Under [B, A]: all three still work, and a form posts (its CSRF secret too).
    let Server {
        config: config_ba,
        pages: addr,
        ..
    } = start(&shared, "b", &["a"]);
    let mut c = browser(addr, &cookies_a);
    assert_eq!(c.get("/me").body, signed_in, "cookie signed under A");
    let page = c.get("/registration/edit");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(access_token_works(&config_ba, &access));
    let form = Client::new(addr).get(&link);
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains(r#"name="user[password]""#));
    // What B signs now, B alone verifies.
    let fresh = config_ba.verifier().sign_token("salt", "t");
    assert!(config_a.verifier().verify_token("salt", &fresh).is_none());

    // Under [B]: none of them.
    let Server {
        config: config_b,
        pages: addr,
        ..
    } = start(&shared, "b", &[]);
    let mut c = browser(addr, &cookies_a);
    assert_eq!(c.get("/me").body, "anonymous", "cookie signed under A");
    assert!(!access_token_works(&config_b, &access));
    let res = Client::new(addr).get(&link);
    assert_eq!(res.location(), "/reset-password/new", "link signed under A");
}

#[test]
fn a_short_retired_secret_is_refused() {
    let err = PowConfig::builder("b".repeat(64))
        .retired_secret_key_base("old", "short")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("\"old\""), "{err}");
}

fn the_store_holds_no_usable_reset_token() {
    let shared = Shared {
        db: std::env::temp_dir().join(format!(
            "pow-reset-at-rest-{}.db",
            pow_actix::token::generate_uuid()
        )),
        store: Arc::new(MemoryStore::new()),
        mailer: MemoryMailer::new(),
    };
    let Server {
        config,
        pages: addr,
        ..
    } = start(&shared, "a", &[]);
    pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    let mut c = Client::new(addr);
    let page = c.get("/reset-password/new");
    c.post(
        "/reset-password",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "ada@example.com"),
        ],
    );
    let link = shared
        .mailer
        .last_to("ada@example.com")
        .unwrap()
        .text
        .lines()
        .find_map(|l| l.strip_prefix("http://localhost"))
        .expect("a reset link")
        .to_owned();
    let dumped = actix_web::rt::System::new()
        .block_on(pow_actix::testing::dumped_strings(
            &*shared.store,
            pow_ext_reset_password::TOKEN_NAMESPACE,
        ))
        .unwrap();
    assert!(!dumped.is_empty());
    for candidate in &dumped {
        let signed = config
            .verifier()
            .sign_token(pow_ext_reset_password::TOKEN_SALT, candidate);
        let res = c.get(&format!("/reset-password/{signed}"));
        assert_eq!(res.location(), "/reset-password/new", "{candidate}");
    }
    assert_eq!(c.get(&link).status, 200, "the mailed link works");
}

pow_testkit::on_both!(
    what_a_retired_key_signed_works_until_it_leaves_the_ring,
    the_store_holds_no_usable_reset_token,
);

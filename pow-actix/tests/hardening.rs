//! Hardening found by a security review: pages refuse framing and sniffing, the CSRF secret
//! changes at sign-in and sign-out, and the disk store's file is private to its owner.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::{serve, Client};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;

const PASSWORD: &str = "correct horse battery";

fn start() -> std::net::SocketAddr {
    let db =
        std::env::temp_dir().join(format!("pow-hard-{}.db", pow_actix::token::generate_uuid()));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("h".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    serve(move || pow_actix::testing::app(&config))
}

#[test]
fn pages_refuse_framing_and_sniffing() {
    let addr = start();
    for path in ["/session/new", "/registration/new"] {
        let res = Client::new(addr).get(path);
        assert_eq!(res.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            res.header("content-security-policy"),
            Some("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(
            res.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(res.header("cache-control").unwrap().contains("no-store"));
    }
}

#[test]
fn the_csrf_secret_changes_at_sign_in_and_sign_out() {
    let addr = start();
    let mut c = Client::new(addr);
    let before = c.get("/registration/new").csrf();
    assert_eq!(c.sign_in("ada@example.com", PASSWORD).location(), "/");
    // A token from before the sign-in no longer works for the signed-in session.
    let res = c.post(
        "/session",
        &[("_csrf_token", before.as_str()), ("_method", "DELETE")],
    );
    assert_eq!(res.status, 403);
    let during = c.get("/registration/edit").csrf();
    let res = c.post(
        "/session",
        &[("_csrf_token", during.as_str()), ("_method", "DELETE")],
    );
    assert_eq!(res.status, 302, "signed out");
    // ...and one from the signed-in session does not work after the sign-out.
    let csrf_field = [
        ("_csrf_token", during.as_str()),
        ("user[email]", "ada@example.com"),
        ("user[password]", PASSWORD),
    ];
    assert_eq!(c.post("/session", &csrf_field).status, 403);
}

#[cfg(unix)]
#[test]
fn the_disk_store_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::temp_dir().join(format!(
        "pow-private-{}.redb",
        pow_actix::token::generate_uuid()
    ));
    let store = pow_actix::store::DiskStore::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    drop(store);
    let _ = std::fs::remove_file(path);
}

/// An extension that mails links.
struct Mails;

impl pow_actix::Extension for Mails {
    fn name(&self) -> &'static str {
        "mails"
    }

    fn build(&self, ext: &mut pow_actix::extension::ExtensionBuilder) {
        ext.mails(["mails/link"]);
    }
}

/// Without `base_url`, links in mails would follow the request's `Host` header: a config
/// with an extension that mails links is refused.
#[test]
fn mail_links_need_a_base_url() {
    let err = PowConfig::builder("h".repeat(64))
        .extension(Mails)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("base_url"), "{err}");
    assert!(PowConfig::builder("h".repeat(64))
        .extension(Mails)
        .base_url("https://example.com")
        .build()
        .is_ok());
}

/// Over https the session cookie takes the `__Host-` prefix, with the attributes it needs.
#[test]
fn https_cookies_take_the_host_prefix() {
    let db =
        std::env::temp_dir().join(format!("pow-host-{}.db", pow_actix::token::generate_uuid()));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("h".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("https://example.com")
        .build()
        .unwrap();
    assert_eq!(config.session().cookie_name, "__Host-pow_session");
    assert_eq!(
        config.cookie_name("persistent_session"),
        "__Host-persistent_session"
    );
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    let addr = serve(move || pow_actix::testing::app(&config));
    let res = Client::new(addr).sign_in("ada@example.com", PASSWORD);
    let cookie = res
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("__Host-pow_session="))
        .map(|(_, v)| v.clone())
        .expect("the session cookie");
    for attribute in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    // Plain http keeps the plain names.
    let plain = PowConfig::builder("h".repeat(64))
        .base_url("http://localhost")
        .build()
        .unwrap();
    assert_eq!(plain.session().cookie_name, "pow_session");
}

fn notices_app(enabled: bool) -> (std::net::SocketAddr, pow_actix::mailer::MemoryMailer) {
    let (addr, mailer, _) = app_with(enabled, std::sync::Arc::new(MemoryStore::new()));
    (addr, mailer)
}

/// Pages and JSON API over `store`, with Ada signed up, notices `enabled`; returns the
/// address, the mailbox and Ada's password hash.
fn app_with(
    enabled: bool,
    store: std::sync::Arc<dyn pow_actix::store::Store>,
) -> (
    std::net::SocketAddr,
    pow_actix::mailer::MemoryMailer,
    String,
) {
    let db = std::env::temp_dir().join(format!(
        "pow-notice-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = pow_actix::mailer::MemoryMailer::new();
    let config = PowConfig::builder("h".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(store)
        .mailer(std::sync::Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .security_notices(enabled)
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    let addr = serve(move || {
        pow_actix::testing::app(&config).configure(pow_actix::api::configure(
            config.clone(),
            pow_actix::api::ApiOptions::new(),
        ))
    });
    (addr, mailer, user.password_hash.unwrap_or_default())
}

fn edit(c: &mut Client, fields: &[(&str, &str)]) {
    let csrf = c.get("/registration/edit").csrf();
    let mut form = vec![
        ("_csrf_token", csrf.as_str()),
        ("_method", "PATCH"),
        ("user[current_password]", PASSWORD),
    ];
    form.extend_from_slice(fields);
    let res = c.post("/registration", &form);
    assert_eq!(res.status, 302, "{}", res.body);
}

/// Changing the password or the address mails a notice (to the old address for an address
/// change), in the user's language, saying from where; none when notices are off.
#[test]
fn account_changes_send_security_notices() {
    let (addr, mailer) = notices_app(true);
    let mut c = Client::new(addr);
    c.headers
        .push(("User-Agent".into(), "NoticeBrowser/1.0".into()));
    c.accept_language = Some("de".into());
    c.sign_in("ada@example.com", PASSWORD);
    edit(
        &mut c,
        &[
            ("user[email]", "ada@example.com"),
            ("user[password]", "a new passphrase here"),
            ("user[password_confirmation]", "a new passphrase here"),
        ],
    );
    let mail = mailer.last_to("ada@example.com").expect("a notice");
    assert_eq!(mail.subject, "Ihr Passwort wurde geändert");
    assert!(mail.text.contains("NoticeBrowser/1.0"), "{}", mail.text);
    assert!(mail.text.contains("127.0.0.1"), "{}", mail.text);

    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("_method", "PATCH"),
            ("user[current_password]", "a new passphrase here"),
            ("user[email]", "ada.new@example.com"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let mail = mailer
        .last_to("ada@example.com")
        .expect("a notice to the old address");
    assert_eq!(mail.subject, "Ihre E-Mail-Adresse wurde geändert");
    assert!(mail.text.contains("ada.new@example.com"), "{}", mail.text);
    assert_eq!(mailer.count_to("ada.new@example.com"), 0);

    let (addr, mailer) = notices_app(false);
    let mut c = Client::new(addr);
    c.sign_in("ada@example.com", PASSWORD);
    edit(
        &mut c,
        &[
            ("user[email]", "ada@example.com"),
            ("user[password]", "a new passphrase here"),
            ("user[password_confirmation]", "a new passphrase here"),
        ],
    );
    assert_eq!(mailer.count_to("ada@example.com"), 0, "notices off");
}

/// An API sign-in mails a "new API client" notice in the client's language; an API sign-up
/// (the user's own new account) does not.
#[test]
fn api_sign_in_sends_a_security_notice() {
    let (addr, mailer) = notices_app(true);
    let mut api = Client::new(addr);
    api.accept_language = Some("fr".into());
    let body = serde_json::json!({ "user": { "email": "new@example.com", "password": PASSWORD,
        "password_confirmation": PASSWORD } });
    let res = api.request("POST", "/api/v1/registration", Some(body.to_string()));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        mailer.count_to("new@example.com"),
        0,
        "no notice for a sign-up"
    );

    let body = serde_json::json!({ "user": { "email": "ada@example.com", "password": PASSWORD } });
    let res = api.request("POST", "/api/v1/session", Some(body.to_string()));
    assert_eq!(res.status, 200, "{}", res.body);
    let mail = mailer.last_to("ada@example.com").expect("a notice");
    assert_eq!(mail.subject, "Un nouveau client API s'est connecté");
    assert!(mail.text.contains("127.0.0.1"), "{}", mail.text);

    let (addr, mailer) = notices_app(false);
    let res = Client::new(addr).request("POST", "/api/v1/session", Some(body.to_string()));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(mailer.count_to("ada@example.com"), 0, "notices off");
}

/// Signs in over HTML and JSON with `store`, then reads every record of the credentials
/// namespace back: the password hash is in none of them. The account page still asks for
/// the current password, and changing only the address sends no "password changed" notice.
fn no_password_hash_in_the_cache(store: std::sync::Arc<dyn pow_actix::store::Store>) {
    use pow_actix::store::KeyPattern;
    let (addr, mailer, hash) = app_with(true, std::sync::Arc::clone(&store));
    let mut c = Client::new(addr);
    c.sign_in("ada@example.com", PASSWORD);
    let body = serde_json::json!({ "user": { "email": "ada@example.com", "password": PASSWORD } });
    let res = Client::new(addr).request("POST", "/api/v1/session", Some(body.to_string()));
    assert_eq!(res.status, 200, "{}", res.body);

    let system = actix_web::rt::System::new();
    let mut records = Vec::new();
    for len in 1..=4 {
        let pattern = vec![KeyPattern::Any; len];
        records.extend(system.block_on(store.all("credentials", &pattern)).unwrap());
    }
    assert!(
        records
            .iter()
            .any(|(_, v)| String::from_utf8_lossy(v).contains("ada@example.com")),
        "the cached user is among the records read"
    );
    for (key, value) in &records {
        assert!(
            !String::from_utf8_lossy(value).contains(&hash),
            "{key:?} holds the password hash"
        );
    }

    assert!(c
        .get("/registration/edit")
        .body
        .contains("current_password"));
    mailer.clear();
    edit(&mut c, &[("user[email]", "ada.new@example.com")]);
    let subjects: Vec<String> = mailer.deliveries().into_iter().map(|m| m.subject).collect();
    assert_eq!(subjects, vec!["Your email address was changed".to_owned()]);
}

#[test]
fn no_password_hash_in_the_memory_cache() {
    no_password_hash_in_the_cache(std::sync::Arc::new(MemoryStore::new()));
}

#[test]
fn no_password_hash_in_the_redis_cache() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-no-hash-{}", pow_actix::token::generate_uuid());
    no_password_hash_in_the_cache(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

/// A copy of the store holds no usable API token: every string in the token and session
/// records, signed as an access token or a renewal token with the app's own secret, is
/// refused; the real pair still works.
#[test]
fn the_store_holds_no_usable_api_token() {
    let store: std::sync::Arc<dyn pow_actix::store::Store> =
        std::sync::Arc::new(MemoryStore::new());
    let (addr, _, _) = app_with(true, std::sync::Arc::clone(&store));
    let body = serde_json::json!({ "user": { "email": "ada@example.com", "password": PASSWORD } });
    let res = Client::new(addr).request("POST", "/api/v1/session", Some(body.to_string()));
    assert_eq!(res.status, 200, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let (access, renewal) = (
        json["data"]["access_token"].as_str().unwrap().to_owned(),
        json["data"]["renewal_token"].as_str().unwrap().to_owned(),
    );
    let config = PowConfig::builder("h".repeat(64)).build().unwrap();
    let system = actix_web::rt::System::new();
    let mut dumped = Vec::new();
    for namespace in ["api_renewal", "credentials"] {
        dumped.extend(
            system
                .block_on(pow_actix::testing::dumped_strings(&*store, namespace))
                .unwrap(),
        );
    }
    let raw_access = config
        .verifier()
        .verify_token(pow_actix::api::ACCESS_TOKEN_SALT, &access)
        .unwrap();
    assert!(
        !dumped.contains(&raw_access),
        "the access token is not stored"
    );
    let bearer = |token: &str| {
        let mut c = Client::new(addr);
        c.headers
            .push(("Authorization".into(), format!("Bearer {token}")));
        c
    };
    for candidate in &dumped {
        let forged = config
            .verifier()
            .sign_token(pow_actix::api::ACCESS_TOKEN_SALT, candidate);
        let res = bearer(&forged).request("GET", "/api/v1/sessions", None);
        assert_eq!(res.status, 401, "{candidate}");
    }
    let res = bearer(&access).request("GET", "/api/v1/sessions", None);
    assert_eq!(res.status, 200, "{}", res.body);
    let res = bearer(&renewal).request("POST", "/api/v1/session/renew", None);
    assert_eq!(res.status, 200, "{}", res.body);
    // (A renewal token of a live chain that is not its current one revokes the chain, so
    // the real pair is checked first.)
    for candidate in &dumped {
        let forged = config
            .verifier()
            .sign_token(pow_actix::api::RENEWAL_TOKEN_SALT, candidate);
        let res = bearer(&forged).request("POST", "/api/v1/session/renew", None);
        assert_eq!(res.status, 401, "{candidate}");
    }
}

//! The hashing pool over HTTP: when its queue is full, sign-in, registration and account
//! edits answer a translated `503` page with `Retry-After` at once, and change nothing;
//! once the pool has room again everything works.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_actix::password::{HashPoolOptions, Pbkdf2Hasher};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;

struct Harness {
    client: Client,
    config: PowConfig,
    db: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.db);
    }
}

fn start() -> Harness {
    let db = std::env::temp_dir().join(format!(
        "pow-hashing-pool-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("h".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        // One hash at a time and none waiting: a single held job fills the pool.
        .hash_pool_options(HashPoolOptions::default().threads(1).queue(0))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let served = config.clone();
    let addr = pow_testkit::serve(served.clone());
    Harness {
        client: Client::new(addr),
        config,
        db,
    }
}

fn sign_in(c: &mut Client, email: &str, password: &str) -> Response {
    let csrf = c.get("/session/new").csrf();
    c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[password]", password),
        ],
    )
}

fn register(c: &mut Client, email: &str, password: &str) -> Response {
    let csrf = c.get("/registration/new").csrf();
    c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[password]", password),
            ("user[password_confirmation]", password),
        ],
    )
}

fn assert_unavailable(res: &Response, text: &str) {
    assert_eq!(res.status, 503, "{}", res.body);
    assert_eq!(res.header("retry-after"), Some("5"));
    assert!(res
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    assert!(res
        .header("cache-control")
        .unwrap_or_default()
        .contains("no-store"));
    assert!(res.body.contains(text), "{}", res.body);
}

fn a_full_hashing_queue_answers_503_and_changes_nothing() {
    let mut h = start();
    assert_eq!(
        register(&mut h.client, "ann@example.com", "secret1234").status,
        302
    );
    h.client.cookies.clear();

    let (release, held) = pow_actix::testing::hold_hash_pool(&h.config).unwrap();

    // Sign-in: refused at once with the translated page, in the client's language.
    h.client.accept_language = Some("de".into());
    let res = sign_in(&mut h.client, "ann@example.com", "secret1234");
    assert_unavailable(&res, "Gerade werden zu viele Anmeldungen verarbeitet.");
    h.client.accept_language = None;
    // An unknown user gets the same answer (no enumeration through the busy path).
    let res = sign_in(&mut h.client, "nobody@example.com", "secret1234");
    assert_unavailable(&res, "Too many sign-ins are being processed right now.");
    assert_eq!(
        h.client.get("/registration/edit").status,
        302,
        "not signed in"
    );

    // Registration: refused, and no account is created.
    let res = register(&mut h.client, "bob@example.com", "secret1234");
    assert_unavailable(&res, "Too many sign-ins");

    drop(release);
    held.wait().unwrap();
    assert_eq!(h.config.hash_pool().pending(), 0);

    // Room again: the refused registration never happened, so it can be done now.
    assert_eq!(
        register(&mut h.client, "bob@example.com", "secret1234").status,
        302
    );
    h.client.cookies.clear();
    let res = sign_in(&mut h.client, "ann@example.com", "secret1234");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(h.client.get("/registration/edit").status, 200);
}

fn account_edit_with_a_full_queue_is_503_not_a_wrong_password() {
    let mut h = start();
    assert_eq!(
        register(&mut h.client, "cat@example.com", "secret1234").status,
        302
    );
    let csrf = h.client.get("/registration/edit").csrf();
    let form = [
        ("_csrf_token", csrf.as_str()),
        ("_method", "PATCH"),
        ("user[email]", "cat2@example.com"),
        ("user[current_password]", "secret1234"),
    ];

    let (release, held) = pow_actix::testing::hold_hash_pool(&h.config).unwrap();
    let res = h.client.post("/registration", &form);
    assert_unavailable(&res, "Too many sign-ins");
    drop(release);
    held.wait().unwrap();

    // The email did not change while refused; now the same edit goes through.
    let csrf = h.client.get("/registration/edit").csrf();
    let mut form = form;
    form[0].1 = csrf.as_str();
    let res = h.client.post("/registration", &form);
    assert_eq!(res.status, 302, "{}", res.body);
    h.client.cookies.clear();
    assert_eq!(
        sign_in(&mut h.client, "cat@example.com", "secret1234").status,
        200
    );
    assert_eq!(
        sign_in(&mut h.client, "cat2@example.com", "secret1234").status,
        302
    );
}

fn only_busy_and_store_errors_become_the_page_and_only_for_html_clients() {
    use actix_web::test::TestRequest;
    use pow_actix::store::StoreError;
    use pow_actix::web::unavailable_page;
    use pow_actix::PowError;

    let config = PowConfig::builder("h".repeat(64)).build().unwrap();
    let html = TestRequest::default()
        .insert_header(("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"))
        .to_http_request();
    let page = unavailable_page(&html, &config, &PowError::Busy).unwrap();
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers().get("retry-after").unwrap(), "5");
    let store_down = PowError::Store(StoreError::Unavailable("connection refused".into()));
    assert_eq!(
        unavailable_page(&html, &config, &store_down)
            .unwrap()
            .status(),
        503
    );
    assert!(unavailable_page(&html, &config, &PowError::Other("x".into())).is_none());

    let json = TestRequest::default()
        .insert_header(("Accept", "application/json"))
        .to_http_request();
    assert!(unavailable_page(&json, &config, &PowError::Busy).is_none());
    let no_accept = TestRequest::default().to_http_request();
    assert!(unavailable_page(&no_accept, &config, &PowError::Busy).is_some());
}

pow_testkit::on_both!(
    a_full_hashing_queue_answers_503_and_changes_nothing,
    account_edit_with_a_full_queue_is_503_not_a_wrong_password,
    only_busy_and_store_errors_become_the_page_and_only_for_html_clients,
);

//! Drives the demo app over real HTTP with a cookie jar: sign up, sign out, sign in,
//! edit the account, delete it; CSRF and language checks.

use std::sync::Arc;

use pow_core::mailer::MemoryMailer;
use pow_core::test_client::{serve, Client, Response};

fn settings(admins: &[&str]) -> example_demo::Settings {
    let db = std::env::temp_dir().join(format!("pow-demo-test-{}.db", uuid_like()));
    example_demo::Settings {
        database_url: db.display().to_string(),
        bind: "127.0.0.1:0".into(),
        secret_key_base: "x".repeat(64),
        mail_dir: None,
        base_url: "http://localhost".into(),
        admin_emails: admins.iter().map(|s| s.to_string()).collect(),
        cache: example_demo::CacheSetting::Memory,
    }
}

fn uuid_like() -> String {
    pow_core::token::generate_uuid()
}

fn start(admins: &[&str]) -> (Client, MemoryMailer) {
    let mailer = MemoryMailer::new();
    let config = example_demo::build(
        &settings(admins),
        pow_core::store::MemoryStore::shared(),
        Some(Arc::new(mailer.clone())),
    )
    .unwrap();
    (
        Client::new(serve(move || example_demo::app(config.clone()))),
        mailer,
    )
}

fn register(c: &mut Client, email: &str, password: &str) -> Response {
    let csrf = c.get("/registration/new").csrf();
    c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[name]", "Alice"),
            ("user[password]", password),
            ("user[password_confirmation]", password),
        ],
    )
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

fn sign_out(c: &mut Client) -> Response {
    let csrf = c.get("/").csrf();
    c.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")])
}

#[test]
fn full_account_lifecycle_over_http() {
    let (mut c, _mailer) = start(&[]);

    // Auth pages are not cached.
    let page = c.get("/registration/new");
    assert_eq!(page.status, 200);
    assert!(page
        .header("cache-control")
        .unwrap_or_default()
        .contains("no-store"));

    // Sign up: signed in right away.
    let res = register(&mut c, "Alice@Example.com", "correct horse");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    let home = c.get("/");
    assert!(
        home.body.contains("Signed in as Alice (alice@example.com)"),
        "{}",
        home.body
    );
    assert_eq!(c.get("/protected").status, 200);

    // Sign out: the protected page redirects to sign-in with request_path.
    let res = sign_out(&mut c);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    let res = c.get("/protected");
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new?request_path=%2Fprotected");

    // A wrong password shows the generic message and keeps the email, not the password.
    let res = sign_in(&mut c, "alice@example.com", "wrong password");
    assert_eq!(res.status, 200);
    assert!(res.body.contains(
        "The provided login details did not work. Please verify your credentials, and try again."
    ));
    assert!(res.body.contains("alice@example.com"));
    assert!(!res.body.contains("wrong password"));
    // An unknown user gets the very same page text.
    let unknown = sign_in(&mut c, "nobody@example.com", "wrong password");
    assert!(unknown
        .body
        .contains("The provided login details did not work."));

    // Sign in with request_path brings the user back.
    let csrf = c.get("/session/new?request_path=%2Fprotected").csrf();
    let res = c.post(
        "/session?request_path=%2Fprotected",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "alice@example.com"),
            ("user[password]", "correct horse"),
        ],
    );
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/protected");

    // Edit: the current password is required.
    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("_method", "PATCH"),
            ("user[email]", "alice2@example.com"),
            ("user[current_password]", "nope nope"),
        ],
    );
    assert_eq!(res.status, 200);
    assert!(res.body.contains("is invalid"), "{}", res.body);
    let csrf = res.csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("_method", "PATCH"),
            ("user[email]", "alice2@example.com"),
            ("user[current_password]", "correct horse"),
            ("user[password]", "battery staple"),
            ("user[password_confirmation]", "battery staple"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/registration/edit");
    let edit = c.get("/registration/edit");
    assert!(
        edit.body.contains("Your account has been updated."),
        "{}",
        edit.body
    );
    assert!(c.get("/").body.contains("alice2@example.com"));

    // The new credentials work, the old ones don't.
    sign_out(&mut c);
    assert_eq!(
        sign_in(&mut c, "alice@example.com", "correct horse").status,
        200
    );
    assert_eq!(
        sign_in(&mut c, "alice2@example.com", "correct horse").status,
        200
    );
    assert_eq!(
        sign_in(&mut c, "alice2@example.com", "battery staple").status,
        302
    );

    // Delete the account.
    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/registration",
        &[("_csrf_token", &csrf), ("_method", "DELETE")],
    );
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    let page = c.get("/session/new");
    assert!(page
        .body
        .contains("Your account has been deleted. Sorry to see you go!"));
    assert_eq!(
        sign_in(&mut c, "alice2@example.com", "battery staple").status,
        200
    );
}

#[test]
fn registration_errors_are_shown_per_field() {
    let (mut c, _) = start(&[]);
    let csrf = c.get("/registration/new").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "not-an-email"),
            ("user[password]", "short"),
            ("user[password_confirmation]", "other"),
        ],
    );
    assert_eq!(res.status, 200);
    assert!(res.body.contains("has invalid format"), "{}", res.body);
    assert!(res.body.contains("should be at least 8 character(s)"));
    assert!(res.body.contains("does not match confirmation"));
    assert!(
        res.body.contains("can&#39;t be blank") || res.body.contains("can&#x27;t be blank"),
        "{}",
        res.body
    );
}

#[test]
fn posts_without_a_csrf_token_are_rejected() {
    let (mut c, _) = start(&[]);
    c.get("/registration/new");
    let res = c.post(
        "/registration",
        &[
            ("user[email]", "eve@example.com"),
            ("user[password]", "secret123"),
            ("user[password_confirmation]", "secret123"),
        ],
    );
    assert_eq!(res.status, 403);
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", "forged"),
            ("user[email]", "eve@example.com"),
            ("user[password]", "secret123"),
            ("user[password_confirmation]", "secret123"),
        ],
    );
    assert_eq!(res.status, 403);
    // Nothing was created.
    assert_eq!(sign_in(&mut c, "eve@example.com", "secret123").status, 200);
}

#[test]
fn german_accept_language_gets_german_messages() {
    let (mut c, _) = start(&[]);
    c.accept_language = Some("de-DE,de;q=0.9,en;q=0.5".into());
    let res = sign_in(&mut c, "nobody@example.com", "whatever1");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("lang=\"de"), "{}", res.body);
    assert!(!res.body.contains("The provided login details did not work"));
}

#[test]
fn admin_page_needs_the_admin_role() {
    let (mut c, _) = start(&["boss@example.com"]);
    register(&mut c, "user@example.com", "password1");
    assert_eq!(c.get("/admin").status, 403);
    sign_out(&mut c);
    register(&mut c, "boss@example.com", "password1");
    let res = c.get("/admin");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Only admins see this."));
}

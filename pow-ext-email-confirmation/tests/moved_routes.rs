//! An app moves the extension's pages through the routes backend, on actix-web and on
//! axum: they are served where it puts them, and the mailed links follow.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_actix::mailer::{Mail, MemoryMailer};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::{UsersContext as _, Value};
use pow_actix::web::Routes;
use pow_actix::PowConfig;
use pow_ext_email_confirmation::{is_confirmed, EmailConfirmation, NAME, UNCONFIRMED_EMAIL_FIELD};

const PASSWORD: &str = "correct horse";

/// Serves the confirmation pages under `/email/...`.
struct MovedRoutes;

impl Routes for MovedRoutes {
    fn extension_route(&self, extension: &str, pattern: &str) -> String {
        match (extension, pattern) {
            (NAME, "/confirm-email/{token}") => "/email/confirm/{token}".to_owned(),
            (NAME, "/confirm-email/cancel/{token}") => "/email/cancel/{token}".to_owned(),
            _ => pattern.to_owned(),
        }
    }
}

/// The path of the first link in `mail`.
fn link(mail: &Mail) -> String {
    mail.text
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://localhost"))
        .unwrap_or_else(|| panic!("no link in {}", mail.text))
        .to_owned()
}

fn moved_routes_are_served_and_linked() {
    let db = std::env::temp_dir().join(format!(
        "pow-email-confirmation-moved-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let config = PowConfig::builder("m".repeat(64))
        .users(users.clone())
        .mailer(mailer.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .routes(MovedRoutes)
        .extension(EmailConfirmation::new())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = |email: &str| {
        users
            .get_by(config.user_schema(), "email", &Value::from(email))
            .unwrap()
            .unwrap()
    };
    let mut c = Client::new(pow_testkit::serve(config.clone()));

    // Sign up: the link in the mail is the moved route's, and it confirms.
    let csrf = c.get("/registration/new").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "jane@example.com"),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let confirm = link(&mailer.last_to("jane@example.com").unwrap());
    assert!(confirm.starts_with("/email/confirm/"), "{confirm}");
    let token = confirm.strip_prefix("/email/confirm/").unwrap();
    assert_eq!(c.get(&format!("/confirm-email/{token}")).status, 404);
    assert!(!is_confirmed(&user("jane@example.com")));
    let res = c.get(&confirm);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    assert!(is_confirmed(&user("jane@example.com")));

    // An address change: the notice's cancel link is the moved route's, and its page
    // posts there.
    let csrf = c.get("/session/new").csrf();
    let res = c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "jane@example.com"),
            ("user[password]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("_method", "PATCH"),
            ("user[email]", "new@example.com"),
            ("user[current_password]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let cancel = link(&mailer.last_to("jane@example.com").unwrap());
    assert!(cancel.starts_with("/email/cancel/"), "{cancel}");
    let token = cancel.strip_prefix("/email/cancel/").unwrap();
    assert_eq!(c.get(&format!("/confirm-email/cancel/{token}")).status, 404);
    let page = c.get(&cancel);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("action=\"{cancel}\"")),
        "{}",
        page.body
    );
    let res = c.post(&cancel, &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/registration/edit");
    assert_eq!(
        user("jane@example.com").get(UNCONFIRMED_EMAIL_FIELD),
        Some(&Value::Null)
    );
    let _ = std::fs::remove_file(db);
}

pow_testkit::on_both!(moved_routes_are_served_and_linked);

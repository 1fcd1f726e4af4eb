//! A password reset lands in the audit table: requested (the address as a keyed hash),
//! completed, the password change and the sessions it ended, with no token or address.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use pow_actix::audit::{AuditQuery, Auditor, DieselAuditSink};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;
use pow_ext_reset_password::{MailDelivery, ResetPassword};

fn a_reset_is_recorded_without_secrets() {
    let db = std::env::temp_dir().join(format!(
        "pow-reset-audit-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let config = PowConfig::builder("r".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(mailer.clone())
        .base_url("http://localhost")
        .extension(ResetPassword::new().mail_delivery(MailDelivery::Inline))
        .audit(Auditor::new(DieselAuditSink::new(users.database().clone())))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let alice =
        pow_actix::testing::create_user(&config, "alice@example.com", "old password").unwrap();
    let mut c = Client::new(pow_testkit::serve(config.clone()));

    let csrf = c.get("/reset-password/new").csrf();
    c.post(
        "/reset-password",
        &[("_csrf_token", &csrf), ("user[email]", "alice@example.com")],
    );
    let mail = mailer.last_to("alice@example.com").expect("a reset mail");
    let link = mail
        .text
        .lines()
        .find(|l| l.starts_with("http://localhost/reset-password/"))
        .unwrap()
        .trim_start_matches("http://localhost")
        .to_owned();
    let csrf = c.get(&link).csrf();
    let body = format!(
        "_csrf_token={csrf}&user%5Bpassword%5D=a+new+passphrase&user%5Bpassword_confirmation%5D=a+new+passphrase"
    );
    assert_eq!(c.request("PUT", &link, Some(body)).status, 302);

    let deadline = Instant::now() + Duration::from_secs(10);
    while config.audit().written() < 4 {
        assert!(
            Instant::now() < deadline,
            "{} written",
            config.audit().written()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut events = config.audit().sink().query(&AuditQuery::default()).unwrap();
    events.reverse();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "password_reset.requested",
            "password_reset.completed",
            "account.password_changed",
            "session.revoked",
        ]
    );
    assert!(events[0].identifier_hash.is_some());
    assert!(events[1..].iter().all(|e| e.user_id == Some(alice.id)));
    assert_eq!(events[2].detail["by"], "reset");
    let dump = serde_json::to_string(&events).unwrap();
    let token = link
        .trim_start_matches("/reset-password/")
        .trim_end_matches("/edit");
    for secret in [
        "alice@example.com",
        "a new passphrase",
        "old password",
        token,
    ] {
        assert!(!dump.contains(secret), "{secret} leaked: {dump}");
    }
    let _ = std::fs::remove_file(db);
}

pow_testkit::on_both!(a_reset_is_recorded_without_secrets);

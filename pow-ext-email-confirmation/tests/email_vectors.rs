//! Every email address of the shared vectors (`pow-core/tests/data/vectors.json`) through
//! registration and a real mail (lettre's file transport): each is either refused with a
//! form error, nothing created, or the account is made and its confirmation mail written.
//! Never a 500, never an account whose mail cannot be sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use pow_actix::mailer::FileMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::validation::normalize_user_id;
use pow_actix::users::{UsersContext as _, Value};
use pow_actix::PowConfig;
use pow_ext_email_confirmation::EmailConfirmation;

fn every_vector_is_refused_or_gets_its_mail() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("../../pow-core/tests/data/vectors.json")).unwrap();
    let mut emails: Vec<String> = vectors["email_valid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    emails.extend(
        vectors["email_invalid_with_reason"]
            .as_array()
            .unwrap()
            .iter()
            .map(|case| case["email"].as_str().unwrap().to_owned()),
    );
    emails.push("\"john doe\"@example.com".to_owned());

    let dir =
        std::env::temp_dir().join(format!("pow-vectors-{}", pow_actix::token::generate_uuid()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("users.db");
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("v".repeat(64))
        .base_url("http://localhost")
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        // Seventy sign-ups from one address: the per-client limits would stop them.
        .rate_limits(pow_actix::limits::RateLimits::disabled())
        .mailer(Arc::new(
            FileMailer::new(dir.join("mail"), "pow <pow@example.com>").unwrap(),
        ))
        .extension(EmailConfirmation::new())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let addr = pow_testkit::serve(config.clone());

    let (mut created, mut refused) = (0, 0);
    for email in &emails {
        let mut c = Client::new(addr);
        let csrf = c.get("/registration/new").csrf();
        let res = c.post(
            "/registration",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", email),
                ("user[password]", "correct horse battery"),
                ("user[password_confirmation]", "correct horse battery"),
            ],
        );
        let stored = users
            .get_by(
                config.user_schema(),
                "email",
                &Value::Text(normalize_user_id(email)),
            )
            .unwrap();
        match res.status {
            302 => {
                assert!(stored.is_some(), "{email}: created");
                created += 1;
            }
            200 => {
                assert!(res.body.contains("pow-errors"), "{email}: a form error");
                assert!(stored.is_none(), "{email}: nothing created");
                refused += 1;
            }
            status => panic!("{email}: {status} {}", res.body),
        }
    }
    eprintln!("{created} accounts with their mail, {refused} refused");
    let mails = std::fs::read_dir(dir.join("mail")).unwrap().count();
    assert_eq!(mails, created, "one confirmation mail per account");
    assert!(
        created >= 30,
        "the plain addresses are accepted ({created})"
    );
    assert!(
        refused >= 28,
        "the invalid ones, and the undeliverable ones ({refused})"
    );
    let quoted = "\"john doe\"@example.com";
    assert!(users
        .get_by(
            config.user_schema(),
            "email",
            &Value::Text(quoted.to_owned())
        )
        .unwrap()
        .is_some());
    let _ = std::fs::remove_dir_all(dir);
}

pow_testkit::on_both!(every_vector_is_refused_or_gets_its_mail);

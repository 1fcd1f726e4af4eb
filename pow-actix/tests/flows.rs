//! The core's flows run without HTTP: a store-only session handle and request facts filled
//! by hand, as a CLI or a job would run them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use pow_actix::flows::{self, AccountDeletion, AccountUpdate, SignIn, SignUp};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::request::RequestFacts;
use pow_actix::session::{user_sessions, SessionHandle, StoreSession};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::{Params, UsersContext};
use pow_actix::{PowConfig, User};

const PASSWORD: &str = "correct horse battery";

fn setup_with(users: impl UsersContext, migrate: &DieselUsersContext) -> (PowConfig, MemoryMailer) {
    let mailer = MemoryMailer::new();
    let config = PowConfig::builder("f".repeat(64))
        .users(users)
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .build()
        .unwrap();
    migrate.migrate(&config).unwrap();
    (config, mailer)
}

fn database() -> DieselUsersContext {
    let db = std::env::temp_dir().join(format!(
        "pow-flows-{}.db",
        pow_actix::token::generate_uuid()
    ));
    DieselUsersContext::connect(&db.display().to_string()).unwrap()
}

fn setup() -> (PowConfig, MemoryMailer) {
    let users = database();
    setup_with(users.clone(), &users)
}

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn credentials(email: &str, password: &str) -> Params {
    params(&[("email", email), ("password", password)])
}

fn sign_up_params(email: &str) -> Params {
    params(&[
        ("email", email),
        ("password", PASSWORD),
        ("password_confirmation", PASSWORD),
    ])
}

fn facts() -> RequestFacts {
    RequestFacts {
        client_ip: Some("203.0.113.7".parse().unwrap()),
        user_agent: Some("FlowTest/1.0".into()),
        ..RequestFacts::default()
    }
}

async fn signed_up(config: &PowConfig, email: &str) -> (User, StoreSession) {
    let mut session = StoreSession::new();
    match flows::sign_up(config, sign_up_params(email), &mut session)
        .await
        .unwrap()
    {
        SignUp::SignedUp(user) => (user, session),
        SignUp::Invalid(cs) => panic!("sign-up refused: {:?}", cs.errors),
    }
}

/// Signs in as Ada with `password` through `session`.
async fn sign_in(config: &PowConfig, password: &str, session: &mut StoreSession) -> SignIn {
    flows::sign_in(
        config,
        &facts(),
        credentials("ada@example.com", password),
        session,
    )
    .await
    .unwrap()
}

#[actix_web::test]
async fn sign_up_and_sign_in_start_sessions_that_sign_out_ends() {
    let (config, _) = setup();
    let (ada, mut first) = signed_up(&config, "ada@example.com").await;
    assert_eq!(first.current().unwrap().user.id, ada.id);
    assert_eq!(user_sessions(&config, ada.id).await.unwrap().len(), 1);

    let mut second = StoreSession::new();
    let outcome = sign_in(&config, PASSWORD, &mut second).await;
    assert_eq!(outcome, SignIn::SignedIn(ada.clone()));
    let sessions = user_sessions(&config, ada.id).await.unwrap();
    assert_eq!(sessions.len(), 2);
    // The session records the device the request facts name.
    let id = second.current().unwrap().session_id;
    let info = sessions.iter().find(|info| info.id == id).unwrap();
    assert_eq!(info.device.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(info.device.user_agent.as_deref(), Some("FlowTest/1.0"));

    flows::sign_out(&config, &mut first).await.unwrap();
    assert!(first.current().is_none());
    let left = user_sessions(&config, ada.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, id);
}

#[actix_web::test]
async fn a_wrong_password_an_unknown_user_and_a_disabled_account_sign_nobody_in() {
    let (config, _) = setup();
    let (ada, _) = signed_up(&config, "ada@example.com").await;
    let mut session = StoreSession::new();
    for attempt in [
        credentials("ada@example.com", "not the password"),
        credentials("nobody@example.com", PASSWORD),
    ] {
        let outcome = flows::sign_in(&config, &facts(), attempt, &mut session)
            .await
            .unwrap();
        assert_eq!(outcome, SignIn::InvalidCredentials);
        assert!(session.current().is_none());
    }

    pow_actix::admin::disable_user(&config, &ada).await.unwrap();
    let outcome = sign_in(&config, PASSWORD, &mut session).await;
    assert_eq!(outcome, SignIn::Disabled);
    assert!(session.current().is_none());
    assert!(user_sessions(&config, ada.id).await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_taken_address_is_refused_as_taken_alone() {
    let (config, _) = setup();
    signed_up(&config, "ada@example.com").await;
    let mut session = StoreSession::new();
    let SignUp::Invalid(cs) =
        flows::sign_up(&config, sign_up_params("ada@example.com"), &mut session)
            .await
            .unwrap()
    else {
        panic!("a taken address signed up");
    };
    assert!(flows::only_taken(&config, &cs));
    assert!(session.current().is_none());

    let short = params(&[("email", "bo@example.com"), ("password", "short")]);
    let SignUp::Invalid(cs) = flows::sign_up(&config, short, &mut session).await.unwrap() else {
        panic!("a short password signed up");
    };
    assert!(!flows::only_taken(&config, &cs));
}

#[actix_web::test]
async fn a_new_password_ends_every_other_session_and_mails_a_notice() {
    let (config, mailer) = setup();
    let (ada, mut here) = signed_up(&config, "ada@example.com").await;
    let mut elsewhere = StoreSession::new();
    let outcome = sign_in(&config, PASSWORD, &mut elsewhere).await;
    assert!(matches!(outcome, SignIn::SignedIn(_)));
    let old_here = here.current().unwrap().session_id;

    // A wrong current password changes nothing.
    let wrong = params(&[
        ("current_password", "not the password"),
        ("password", "a brand new secret"),
        ("password_confirmation", "a brand new secret"),
    ]);
    let outcome = flows::update_account(&config, &facts(), &ada, wrong, &mut here)
        .await
        .unwrap();
    assert!(matches!(outcome, AccountUpdate::Invalid(_)));
    assert_eq!(user_sessions(&config, ada.id).await.unwrap().len(), 2);

    let change = params(&[
        ("current_password", PASSWORD),
        ("password", "a brand new secret"),
        ("password_confirmation", "a brand new secret"),
    ]);
    let outcome = flows::update_account(&config, &facts(), &ada, change, &mut here)
        .await
        .unwrap();
    let AccountUpdate::Updated {
        user,
        password_changed,
        email_changed,
    } = outcome
    else {
        panic!("the change was refused");
    };
    assert!(password_changed && !email_changed);
    // Only the session the flow started stays: the old ones, here and elsewhere, ended.
    let sessions = user_sessions(&config, ada.id).await.unwrap();
    assert_eq!(sessions.len(), 1);
    let new_here = here.current().unwrap();
    assert_eq!(sessions[0].id, new_here.session_id);
    assert_ne!(new_here.session_id, old_here);
    assert_eq!(new_here.user.id, user.id);
    assert_eq!(mailer.count_to("ada@example.com"), 1);

    // The new password signs in, the old one no longer does.
    let outcome = sign_in(&config, PASSWORD, &mut elsewhere).await;
    assert_eq!(outcome, SignIn::InvalidCredentials);
    let outcome = sign_in(&config, "a brand new secret", &mut elsewhere).await;
    assert!(matches!(outcome, SignIn::SignedIn(_)));
}

#[actix_web::test]
async fn a_new_address_mails_the_old_one() {
    let (config, mailer) = setup();
    let (ada, mut session) = signed_up(&config, "ada@example.com").await;
    let change = params(&[("current_password", PASSWORD), ("email", "ada@example.org")]);
    let outcome = flows::update_account(&config, &facts(), &ada, change, &mut session)
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        AccountUpdate::Updated {
            email_changed: true,
            password_changed: false,
            ..
        }
    ));
    let notice = mailer.last_to("ada@example.com").unwrap();
    assert!(notice.text.contains("ada@example.org"), "{}", notice.text);
    assert_eq!(
        session.current().unwrap().user.email(),
        Some("ada@example.org")
    );
}

#[actix_web::test]
async fn deleting_the_account_ends_every_session() {
    let (config, _) = setup();
    let (ada, mut session) = signed_up(&config, "ada@example.com").await;
    let mut other = StoreSession::new();
    sign_in(&config, PASSWORD, &mut other).await;
    assert_eq!(user_sessions(&config, ada.id).await.unwrap().len(), 2);

    let devices = pow_actix::session::devices::KnownDevices::new(&config);
    devices.signed_in(ada.id, "laptop").await.unwrap();
    let outcome = flows::delete_account(&config, &ada, &mut session)
        .await
        .unwrap();
    // The devices are forgotten: the laptop is the first device of a new user with the id.
    assert_eq!(
        devices.signed_in(ada.id, "laptop").await.unwrap(),
        pow_actix::session::devices::Seen::First
    );
    assert!(matches!(outcome, AccountDeletion::Deleted));
    assert!(session.current().is_none());
    assert!(user_sessions(&config, ada.id).await.unwrap().is_empty());
    assert!(config.users().unwrap().get(ada.id).await.unwrap().is_none());
}

#[actix_web::test]
async fn a_password_changed_during_the_check_ends_the_new_session() {
    let inner = database();
    let racing = pow_actix::testing::RacingPasswordChange::new(inner.clone());
    let (config, _) = setup_with(racing.clone(), &inner);
    let (ada, mut first) = signed_up(&config, "ada@example.com").await;
    flows::sign_out(&config, &mut first).await.unwrap();

    racing.arm(&config);
    let mut session = StoreSession::new();
    let outcome = sign_in(&config, PASSWORD, &mut session).await;
    assert_eq!(outcome, SignIn::InvalidCredentials);
    assert!(session.current().is_none());
    assert!(user_sessions(&config, ada.id).await.unwrap().is_empty());
}

//! New-device notices: a sign-in from a browser the account was not used on before mails
//! one notice (in the user's language, with a readable browser summary and a link to the
//! session list); the first device of an account and known devices mail nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use pow_actix::mailer::{Mail, MemoryMailer};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowConfigBuilder};

const PASSWORD: &str = "correct horse battery";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

fn start(tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder) -> (SocketAddr, MemoryMailer) {
    let db = std::env::temp_dir().join(format!(
        "pow-new-device-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let builder = PowConfig::builder("d".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost");
    let config = tweak(builder).build().unwrap();
    users.migrate(&config).unwrap();
    let addr = pow_testkit::serve(config.clone());
    (addr, mailer)
}

fn browser(addr: SocketAddr, user_agent: &str) -> Client {
    let mut c = Client::new(addr);
    c.headers.push(("User-Agent".into(), user_agent.into()));
    c
}

fn sign_up(c: &mut Client, email: &str) {
    let csrf = c.get("/registration/new").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[email]", email),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
}

/// Signs in again after the browser session ended (the device cookie stays).
fn sign_in_again(c: &mut Client, email: &str) {
    c.cookies.remove("pow_session");
    let res = c.sign_in(email, PASSWORD);
    assert_eq!(res.status, 302, "{}", res.body);
}

fn new_device_notices(mailer: &MemoryMailer, lang_subject: &str) -> Vec<Mail> {
    mailer
        .deliveries()
        .into_iter()
        .filter(|mail| mail.subject == lang_subject)
        .collect()
}

const SUBJECT: &str = "New sign-in to your account";

fn a_sign_in_from_a_new_browser_mails_one_notice() {
    let (addr, mailer) = start(|b| b);
    let mut laptop = browser(addr, FIREFOX);
    sign_up(&mut laptop, "ada@example.com");
    assert!(
        laptop.cookies.contains_key("device"),
        "{:?}",
        laptop.cookies
    );
    // The first device of the account, then the same device again: nothing to announce.
    sign_in_again(&mut laptop, "ada@example.com");
    assert!(new_device_notices(&mailer, SUBJECT).is_empty());

    let mut phone = browser(addr, IPHONE);
    let res = phone.sign_in("ada@example.com", PASSWORD);
    assert_eq!(res.status, 302);
    let notices = new_device_notices(&mailer, SUBJECT);
    assert_eq!(notices.len(), 1);
    let notice = &notices[0];
    assert_eq!(notice.to, "ada@example.com");
    assert!(notice.text.contains("Safari on iPhone"), "{}", notice.text);
    assert!(notice.text.contains("127.0.0.1"), "{}", notice.text);
    assert!(
        notice
            .text
            .contains("http://localhost/registration/sessions"),
        "{}",
        notice.text
    );

    // The phone is known now.
    sign_in_again(&mut phone, "ada@example.com");
    sign_in_again(&mut laptop, "ada@example.com");
    assert_eq!(new_device_notices(&mailer, SUBJECT).len(), 1);

    // The session list names browsers, not raw user agents.
    let sessions = laptop.get("/registration/sessions").body;
    assert!(sessions.contains("Firefox on Linux"), "{sessions}");
    assert!(sessions.contains("Safari on iPhone"), "{sessions}");
    assert!(!sessions.contains("Gecko/20100101"), "{sessions}");
}

fn a_forged_device_cookie_counts_as_a_new_device() {
    let (addr, mailer) = start(|b| b);
    let mut laptop = browser(addr, FIREFOX);
    sign_up(&mut laptop, "bo@example.com");
    let mut other = browser(addr, FIREFOX);
    // A copy of the laptop's cookie value with its signature broken.
    let mut forged = laptop.cookies["device"].clone();
    forged.push('x');
    other.cookies.insert("device".into(), forged);
    other.sign_in("bo@example.com", PASSWORD);
    assert_eq!(new_device_notices(&mailer, SUBJECT).len(), 1);
}

fn the_notice_is_in_the_users_language() {
    let (addr, mailer) = start(|b| b);
    let mut laptop = browser(addr, FIREFOX);
    sign_up(&mut laptop, "cy@example.com");
    let mut phone = browser(addr, IPHONE);
    phone.accept_language = Some("de".into());
    phone.sign_in("cy@example.com", PASSWORD);
    assert_eq!(
        new_device_notices(&mailer, "Neue Anmeldung bei Ihrem Konto").len(),
        1
    );
}

fn notices_can_be_switched_off() {
    for tweak in [
        (|b: PowConfigBuilder| b.new_device_notices(false)) as fn(_) -> _,
        |b: PowConfigBuilder| b.security_notices(false),
    ] {
        let (addr, mailer) = start(tweak);
        let mut laptop = browser(addr, FIREFOX);
        sign_up(&mut laptop, "di@example.com");
        let mut phone = browser(addr, IPHONE);
        phone.sign_in("di@example.com", PASSWORD);
        assert!(new_device_notices(&mailer, SUBJECT).is_empty());
        assert!(!phone.cookies.contains_key("device"));
    }
}

pow_testkit::on_both!(
    a_sign_in_from_a_new_browser_mails_one_notice,
    a_forged_device_cookie_counts_as_a_new_device,
    the_notice_is_in_the_users_language,
    notices_can_be_switched_off,
);

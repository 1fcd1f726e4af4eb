//! Email confirmation over real HTTP, on actix-web and on axum: sign-up, confirmation
//! links, sign-in before confirming, email changes, taken addresses, tampered and expired
//! tokens, soft mode and the resend limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse};
use pow_actix::mailer::{Mail, MemoryMailer};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::current_user;
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::{Changes, User, UsersContext, Value};
use pow_actix::PowConfig;
use pow_ext_email_confirmation::CANCEL_SALT;
use pow_ext_email_confirmation::{
    confirm_user, is_confirmed, EmailConfirmation, CONFIRMED_AT_FIELD, TOKEN_FIELD, TOKEN_SALT,
    TOKEN_SENT_AT_FIELD, UNCONFIRMED_EMAIL_FIELD,
};

const PASSWORD: &str = "correct horse";
const REQUIRED: &str = "You'll need to confirm your e-mail before you can sign in. An e-mail confirmation link has been sent to you.";
const REQUIRED_FOR_UPDATE: &str = "You'll need to confirm the e-mail before it's updated. An e-mail confirmation link has been sent to you.";
const SENT: &str =
    "Please confirm your e-mail address. An e-mail confirmation link has been sent to you.";
const CONFIRMED: &str = "The email address has been confirmed.";
const FAILED: &str = "The email address couldn't be confirmed.";
const INVALID: &str = "The confirmation token is invalid or has expired.";
const CHANGE_REQUESTED: &str = "A change of your email address was requested";
const CANCELLED: &str = "The change of the email address was cancelled.";

/// The home page's text: the queued flash, who is signed in and whether their address is
/// confirmed (as their session sees it).
fn home_text(flash: pow_core::session::flash::Flash, user: Option<&User>) -> String {
    format!(
        "info: {}\nerror: {}\nuser: {}\nconfirmed: {}\n",
        flash.info.unwrap_or_default(),
        flash.error.unwrap_or_default(),
        user.and_then(|u| u.email()).unwrap_or("none"),
        user.is_some_and(is_confirmed),
    )
}

/// A plain-text page showing the queued flash and who is signed in (actix-web).
async fn home(req: HttpRequest) -> HttpResponse {
    let flash = pow_actix::web::flash::take(&req);
    let user = current_user(&req);
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(home_text(flash, user.as_deref()))
}

/// The same page on axum.
async fn axum_home(pow: pow_axum::Pow) -> impl axum::response::IntoResponse {
    let flash = pow_core::session::flash::take(&pow.cookie);
    let user = pow.current.as_ref().map(|current| &*current.user);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        home_text(flash, user),
    )
}

fn app(
    config: PowConfig,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    pow_actix::testing::app(&config).route("/", web::get().to(home))
}

/// Serves pow-rs at the root with the home page `/`, on the framework the test runs on
/// ([`pow_testkit::framework`]): the pages of [`pow_testkit::serve`], and the home page,
/// which the tests read the flash and the signed-in user from.
fn serve(config: PowConfig) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || app(config.clone())),
        pow_testkit::Framework::Axum => pow_testkit::serve_axum(
            pow_axum::web::router(&config)
                .route("/", axum::routing::get(axum_home))
                .layer(pow_axum::PowLayer::new(config)),
        ),
    }
}

struct Setup {
    addr: std::net::SocketAddr,
    client: Client,
    mailer: MemoryMailer,
    config: PowConfig,
}

impl Setup {
    fn new(ext: EmailConfirmation) -> Self {
        Self::with(ext, true)
    }

    fn with(ext: EmailConfirmation, prevent_user_enumeration: bool) -> Self {
        let db = std::env::temp_dir().join(format!(
            "pow-email-confirmation-{}.db",
            pow_actix::token::generate_uuid()
        ));
        let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
        let mailer = MemoryMailer::new();
        let config = PowConfig::builder("x".repeat(64))
            .users(users.clone())
            .mailer(mailer.clone())
            .hasher(Pbkdf2Hasher::new(1))
            .base_url("http://localhost")
            .prevent_user_enumeration(prevent_user_enumeration)
            .extension(ext)
            .build()
            .unwrap();
        users.migrate(&config).unwrap();
        let addr = serve(config.clone());
        Self {
            addr,
            client: Client::new(addr),
            mailer,
            config,
        }
    }

    /// Another browser on the same server.
    fn other_client(&self) -> Client {
        Client::new(self.addr)
    }

    fn user(&self, email: &str) -> User {
        self.config
            .users_context()
            .unwrap()
            .get_by(self.config.user_schema(), "email", &Value::from(email))
            .unwrap()
            .unwrap_or_else(|| panic!("no user {email}"))
    }

    fn update(&self, user: &User, changes: &[(&str, Value)]) -> User {
        let changes: Changes = changes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.config
            .users_context()
            .unwrap()
            .update_fields(self.config.user_schema(), user, &changes)
            .unwrap()
    }

    fn last_mail(&self, to: &str) -> Mail {
        self.mailer
            .last_to(to)
            .unwrap_or_else(|| panic!("no mail to {to}"))
    }

    /// A confirmed user, signed out.
    fn confirmed_user(&mut self, email: &str) -> User {
        let res = register(&mut self.client, email);
        assert_eq!(res.status, 302, "{}", res.body);
        confirm_user(&self.config, &self.user(email)).unwrap()
    }
}

/// The home page's lines, as `(info, error, user, confirmed)`.
struct Home {
    info: String,
    error: String,
    user: String,
    confirmed: bool,
}

fn home_page(c: &mut Client) -> Home {
    let body = c.get("/").body;
    let line = |prefix: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_default()
            .to_owned()
    };
    Home {
        info: line("info: "),
        error: line("error: "),
        user: line("user: "),
        confirmed: line("confirmed: ") == "true",
    }
}

fn register(c: &mut Client, email: &str) -> Response {
    let csrf = c.get("/registration/new").csrf();
    c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    )
}

fn sign_in(c: &mut Client, email: &str) -> Response {
    let csrf = c.get("/session/new").csrf();
    c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[password]", PASSWORD),
        ],
    )
}

fn sign_out(c: &mut Client) -> Response {
    let csrf = c.get("/registration/edit").csrf();
    c.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")])
}

fn change_email(c: &mut Client, email: &str) -> Response {
    let csrf = c.get("/registration/edit").csrf();
    c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("_method", "PATCH"),
            ("user[email]", email),
            ("user[current_password]", PASSWORD),
        ],
    )
}

/// The path of the confirmation link in `mail`, checking both bodies carry it.
fn link_path(mail: &Mail) -> String {
    let start = mail
        .text
        .find("http://localhost/confirm-email/")
        .unwrap_or_else(|| panic!("no link in {}", mail.text));
    let url: String = mail.text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(
        mail.html.contains(&format!("href=\"{url}\"")),
        "{}",
        mail.html
    );
    url.trim_start_matches("http://localhost").to_owned()
}

fn sign_up_mails_a_link_and_does_not_sign_in() {
    let mut s = Setup::new(EmailConfirmation::new());
    let res = register(&mut s.client, "Jane@Example.com");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    let home = home_page(&mut s.client);
    assert_eq!(home.info, REQUIRED);
    assert_eq!(home.user, "none");
    // Not signed in: the account page sends to sign-in.
    assert_eq!(s.client.get("/registration/edit").status, 302);

    assert_eq!(s.mailer.deliveries().len(), 1);
    let mail = s.last_mail("jane@example.com");
    assert_eq!(mail.subject, "Confirm your email address");
    assert!(mail.text.starts_with("Hi,"), "{}", mail.text);
    assert!(mail.text.contains("48 hours"), "{}", mail.text);
    let path = link_path(&mail);
    let user = s.user("jane@example.com");
    let signed = path.strip_prefix("/confirm-email/").unwrap();
    let raw = s
        .config
        .verifier()
        .verify_token(TOKEN_SALT, signed)
        .unwrap();
    // The row holds the keyed hash of the link's token, not the token.
    assert_ne!(user.get_str(TOKEN_FIELD), Some(raw.as_str()));
    // The row holds the token's nonce and keyed hash, never the token (nor its MAC).
    let stored = user.get_str(TOKEN_FIELD).unwrap();
    let (nonce, mac) = raw.split_once('.').unwrap();
    let digest = s.config.verifier().token_digest("email_confirmation", &raw);
    assert_eq!(stored, format!("{nonce}${digest}"));
    assert!(!stored.contains(mac), "{stored}");
    assert!(!is_confirmed(&user));
    assert!(user.get_timestamp(TOKEN_SENT_AT_FIELD).is_some());
}

fn confirmation_link_confirms_once_and_sign_in_works() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let path = link_path(&s.last_mail("jane@example.com"));

    let res = s.client.get(&path);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    assert_eq!(home_page(&mut s.client).info, CONFIRMED);
    let user = s.user("jane@example.com");
    assert!(is_confirmed(&user));
    assert_eq!(user.get(TOKEN_FIELD), Some(&Value::Null));
    assert!(user.get_timestamp(CONFIRMED_AT_FIELD).is_some());

    let res = sign_in(&mut s.client, "jane@example.com");
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/");
    let home = home_page(&mut s.client);
    assert_eq!(home.user, "jane@example.com");
    assert!(home.confirmed);
    assert_eq!(
        s.mailer.deliveries().len(),
        1,
        "no mail on a confirmed sign-in"
    );

    // The link works once; signed in, the redirect goes to the account page.
    let res = s.client.get(&path);
    assert_eq!(res.location(), "/registration/edit");
    assert_eq!(home_page(&mut s.client).error, INVALID);
}

fn sign_in_before_confirming_is_halted_and_mails_again() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let first = link_path(&s.last_mail("jane@example.com"));

    let res = sign_in(&mut s.client, "jane@example.com");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    let home = home_page(&mut s.client);
    assert_eq!(home.info, REQUIRED);
    assert_eq!(home.user, "none");
    assert_eq!(s.client.get("/registration/edit").status, 302);

    // Sent again with the same link: people click the first mail they find, and a
    // second mail must not break it while it is valid.
    assert_eq!(s.mailer.count_to("jane@example.com"), 2);
    let second = link_path(&s.last_mail("jane@example.com"));
    assert_eq!(second, first);

    // A wrong password gets the usual error and no mail.
    let csrf = s.client.get("/session/new").csrf();
    let res = s.client.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "jane@example.com"),
            ("user[password]", "wrong password"),
        ],
    );
    assert_eq!(res.status, 200);
    assert_eq!(s.mailer.count_to("jane@example.com"), 2);

    let mut other = s.other_client();
    other.get(&first);
    assert_eq!(
        home_page(&mut other).info,
        CONFIRMED,
        "the first mail's link"
    );
    other.get(&second);
    assert_eq!(home_page(&mut other).error, INVALID, "used once");
}

fn the_first_mails_link_confirms_after_a_second_mail() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let first = link_path(&s.last_mail("jane@example.com"));
    // Signing in before confirming mails the link again.
    sign_in(&mut s.client, "jane@example.com");
    assert_eq!(s.mailer.count_to("jane@example.com"), 2);
    let second = s.last_mail("jane@example.com");
    assert!(second.text.contains("hours"), "{}", second.text);

    s.client.get(&first);
    assert_eq!(home_page(&mut s.client).info, CONFIRMED);
    assert!(is_confirmed(&s.user("jane@example.com")));
}

fn a_mail_after_the_link_expired_carries_a_new_link() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let first = link_path(&s.last_mail("jane@example.com"));
    let user = s.user("jane@example.com");
    let issued = chrono::Utc::now() - chrono::Duration::hours(49);
    s.update(&user, &[(TOKEN_SENT_AT_FIELD, Value::Timestamp(issued))]);

    sign_in(&mut s.client, "jane@example.com");
    let second = link_path(&s.last_mail("jane@example.com"));
    assert_ne!(second, first);
    s.client.get(&first);
    assert_eq!(home_page(&mut s.client).error, INVALID);
    s.client.get(&second);
    assert_eq!(home_page(&mut s.client).info, CONFIRMED);
}

fn email_change_waits_for_the_new_address() {
    let mut s = Setup::new(EmailConfirmation::new());
    s.confirmed_user("old@example.com");
    sign_in(&mut s.client, "old@example.com");
    s.mailer.clear();

    let res = change_email(&mut s.client, "New@Example.com");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/registration/edit");
    let home = home_page(&mut s.client);
    assert_eq!(home.info, REQUIRED_FOR_UPDATE);
    assert_eq!(home.user, "old@example.com", "still signed in, old address");

    let user = s.user("old@example.com");
    assert_eq!(
        user.get_str(UNCONFIRMED_EMAIL_FIELD),
        Some("new@example.com")
    );
    assert!(is_confirmed(&user));
    assert_eq!(s.mailer.count_to("old@example.com"), 1, "only the notice");
    assert_eq!(s.last_mail("old@example.com").subject, CHANGE_REQUESTED);
    let path = link_path(&s.last_mail("new@example.com"));

    // Confirming while signed in switches the address in the session it was opened in.
    let res = s.client.get(&path);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/registration/edit");
    let home = home_page(&mut s.client);
    assert_eq!(home.info, CONFIRMED);
    assert_eq!(home.user, "new@example.com");
    let notice = s.last_mail("old@example.com");
    assert_eq!(notice.subject, "Your email address was changed");
    assert!(notice.text.contains("new@example.com"), "{}", notice.text);
    let user = s.user("new@example.com");
    assert_eq!(user.get(UNCONFIRMED_EMAIL_FIELD), Some(&Value::Null));
    assert_eq!(user.get(TOKEN_FIELD), Some(&Value::Null));

    sign_out(&mut s.client);
    assert_eq!(sign_in(&mut s.client, "old@example.com").status, 200);
    assert_eq!(sign_in(&mut s.client, "new@example.com").status, 302);
    assert_eq!(home_page(&mut s.client).user, "new@example.com");
}

fn resubmitting_the_current_address_drops_a_pending_change() {
    let mut s = Setup::new(EmailConfirmation::new());
    s.confirmed_user("old@example.com");
    sign_in(&mut s.client, "old@example.com");
    change_email(&mut s.client, "new@example.com");
    let path = link_path(&s.last_mail("new@example.com"));

    let res = change_email(&mut s.client, "old@example.com");
    assert_eq!(res.status, 302);
    assert_eq!(
        home_page(&mut s.client).info,
        "Your account has been updated."
    );
    let user = s.user("old@example.com");
    assert_eq!(user.get(UNCONFIRMED_EMAIL_FIELD), Some(&Value::Null));
    assert_eq!(user.get(TOKEN_FIELD), Some(&Value::Null));
    assert!(is_confirmed(&user));

    s.client.get(&path);
    assert_eq!(home_page(&mut s.client).error, INVALID);
    assert_eq!(s.user("old@example.com").id, user.id);
}

fn confirming_fails_cleanly_when_the_new_address_was_taken_meanwhile() {
    let mut s = Setup::new(EmailConfirmation::new());
    s.confirmed_user("old@example.com");
    sign_in(&mut s.client, "old@example.com");
    change_email(&mut s.client, "wanted@example.com");
    let path = link_path(&s.last_mail("wanted@example.com"));

    // Someone else registers the address before the link is opened.
    let mut other = s.other_client();
    assert_eq!(register(&mut other, "wanted@example.com").status, 302);

    let res = s.client.get(&path);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/registration/edit");
    let home = home_page(&mut s.client);
    assert_eq!(home.error, FAILED);
    assert_eq!(home.user, "old@example.com");
    let user = s.user("old@example.com");
    assert_eq!(
        user.get_str(UNCONFIRMED_EMAIL_FIELD),
        Some("wanted@example.com")
    );
    assert_ne!(s.user("wanted@example.com").id, user.id);
}

fn registering_a_taken_email_looks_like_success_and_tells_the_owner() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    assert_eq!(s.mailer.count_to("jane@example.com"), 1);

    let mut other = s.other_client();
    let res = register(&mut other, "jane@example.com");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    let home = home_page(&mut other);
    assert_eq!(home.info, REQUIRED);
    assert_eq!(home.user, "none");
    // No confirmation link: the owner is told of the attempt instead (in the background,
    // so the answer takes no longer), and that is the only new mail.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.mailer.count_to("jane@example.com") < 2 {
        assert!(std::time::Instant::now() < deadline, "no notice arrived");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mails: Vec<_> = s
        .mailer
        .deliveries()
        .into_iter()
        .filter(|m| m.to == "jane@example.com")
        .collect();
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[1].subject,
        "Someone tried to register with your email address"
    );
}

/// The names of the cookies a response sets (and the ones it removes, with `-`).
fn set_cookies(res: &Response) -> Vec<String> {
    let mut names: Vec<String> = res
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| {
            let name = v.split('=').next().unwrap_or_default().trim();
            let removed = v.to_ascii_lowercase().contains("max-age=0");
            format!("{}{name}", if removed { "-" } else { "" })
        })
        .collect();
    names.sort();
    names
}

/// A sign-up of a new address and one of a taken address set the same cookies: the
/// sign-up's own sign-in, which strict confirmation ends at once, leaves no device cookie
/// (and no known device) that would tell the two apart.
fn a_new_and_a_taken_address_set_the_same_cookies() {
    let s = Setup::new(EmailConfirmation::new());
    pow_actix::testing::create_user(&s.config, "taken@example.com", PASSWORD).unwrap();
    let mut fresh = s.other_client();
    let new = register(&mut fresh, "new@example.com");
    let mut other = s.other_client();
    let taken = register(&mut other, "taken@example.com");
    assert_eq!((new.status, taken.status), (302, 302));
    assert_eq!(set_cookies(&new), set_cookies(&taken));
    assert!(!set_cookies(&new).iter().any(|c| c.contains("device")));
    // The first sign-in after confirming is the account's first device: no notice.
    let confirm = link_path(&s.last_mail("new@example.com"));
    fresh.get(&confirm);
    let mails = s.mailer.count_to("new@example.com");
    let res = sign_in(&mut fresh, "new@example.com");
    assert_eq!(res.status, 302);
    assert!(set_cookies(&res).iter().any(|c| c.contains("device")));
    assert_eq!(
        s.mailer.count_to("new@example.com"),
        mails,
        "no new-device notice"
    );
}

fn taken_email_is_shown_when_enumeration_protection_is_off() {
    let mut s = Setup::with(EmailConfirmation::new(), false);
    register(&mut s.client, "jane@example.com");
    let mut other = s.other_client();
    let res = register(&mut other, "jane@example.com");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("has already been taken"), "{}", res.body);
    assert_eq!(s.mailer.count_to("jane@example.com"), 1);
}

fn tampered_and_unknown_tokens_are_refused() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let path = link_path(&s.last_mail("jane@example.com"));

    let mut tampered = path.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let res = s.client.get(&tampered);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    assert_eq!(home_page(&mut s.client).error, INVALID);

    // A well-signed token nobody holds.
    let unknown = s
        .config
        .verifier()
        .sign_token(TOKEN_SALT, &pow_actix::token::generate_uuid());
    s.client.get(&format!("/confirm-email/{unknown}"));
    assert_eq!(home_page(&mut s.client).error, INVALID);

    // The right token signed for another purpose.
    let raw = s
        .config
        .verifier()
        .verify_token(TOKEN_SALT, path.strip_prefix("/confirm-email/").unwrap())
        .unwrap();
    let other_salt = s
        .config
        .verifier()
        .sign_token("Elixir.PowResetPassword.Plug", &raw);
    s.client.get(&format!("/confirm-email/{other_salt}"));
    assert_eq!(home_page(&mut s.client).error, INVALID);
    // What the row holds, signed as a link: a copy of the table confirms nothing.
    let stored = s.user("jane@example.com");
    let stored = s
        .config
        .verifier()
        .sign_token(TOKEN_SALT, stored.get_str(TOKEN_FIELD).unwrap());
    s.client.get(&format!("/confirm-email/{stored}"));
    assert_eq!(home_page(&mut s.client).error, INVALID);
    s.client.get("/confirm-email/garbage");
    assert_eq!(home_page(&mut s.client).error, INVALID);

    assert!(!is_confirmed(&s.user("jane@example.com")));
    // The genuine link still works.
    s.client.get(&path);
    assert_eq!(home_page(&mut s.client).info, CONFIRMED);
}

fn expired_tokens_are_refused_and_a_sign_in_mails_a_fresh_one() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let old_path = link_path(&s.last_mail("jane@example.com"));
    let user = s.user("jane@example.com");
    let issued = chrono::Utc::now() - chrono::Duration::hours(49);
    s.update(&user, &[(TOKEN_SENT_AT_FIELD, Value::Timestamp(issued))]);

    s.client.get(&old_path);
    assert_eq!(home_page(&mut s.client).error, INVALID);
    assert!(!is_confirmed(&s.user("jane@example.com")));

    sign_in(&mut s.client, "jane@example.com");
    assert_eq!(home_page(&mut s.client).info, REQUIRED);
    let new_path = link_path(&s.last_mail("jane@example.com"));
    assert_ne!(new_path, old_path);
    s.client.get(&new_path);
    assert_eq!(home_page(&mut s.client).info, CONFIRMED);
    assert!(is_confirmed(&s.user("jane@example.com")));
}

fn without_expiry_old_tokens_still_work() {
    let mut s = Setup::new(EmailConfirmation::new().token_ttl(None));
    register(&mut s.client, "jane@example.com");
    let mail = s.last_mail("jane@example.com");
    assert!(!mail.text.contains("valid for"), "{}", mail.text);
    let user = s.user("jane@example.com");
    let issued = chrono::Utc::now() - chrono::Duration::days(400);
    s.update(&user, &[(TOKEN_SENT_AT_FIELD, Value::Timestamp(issued))]);
    s.client.get(&link_path(&mail));
    assert_eq!(home_page(&mut s.client).info, CONFIRMED);
}

fn soft_mode_lets_unconfirmed_users_sign_in() {
    let mut s = Setup::new(EmailConfirmation::new().soft(true));
    let res = register(&mut s.client, "jane@example.com");
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/");
    let home = home_page(&mut s.client);
    assert_eq!(home.info, SENT);
    assert_eq!(home.user, "jane@example.com");
    assert!(!home.confirmed);
    let first = link_path(&s.last_mail("jane@example.com"));

    sign_out(&mut s.client);
    assert_eq!(sign_in(&mut s.client, "jane@example.com").status, 302);
    let home = home_page(&mut s.client);
    assert_eq!(home.user, "jane@example.com");
    assert!(!home.confirmed);
    assert_eq!(
        s.mailer.count_to("jane@example.com"),
        1,
        "no mail on sign-in"
    );

    // Re-submitting the address does not confirm it.
    change_email(&mut s.client, "jane@example.com");
    assert!(!is_confirmed(&s.user("jane@example.com")));

    // A user who never confirmed changes the address at once, and stays unconfirmed.
    let res = change_email(&mut s.client, "jane2@example.com");
    assert_eq!(res.status, 302, "{}", res.body);
    let home = home_page(&mut s.client);
    assert_eq!(home.info, SENT);
    assert_eq!(home.user, "jane2@example.com");
    assert!(!home.confirmed);
    // ...and changing it back does not confirm either.
    change_email(&mut s.client, "jane@example.com");
    assert!(!home_page(&mut s.client).confirmed);
    change_email(&mut s.client, "jane2@example.com");
    let user = s.user("jane2@example.com");
    assert!(!is_confirmed(&user));
    assert_eq!(user.get(UNCONFIRMED_EMAIL_FIELD), Some(&Value::Null));

    // Only the newest link works.
    s.client.get(&first);
    assert_eq!(home_page(&mut s.client).error, INVALID);
    s.client.get(&link_path(&s.last_mail("jane2@example.com")));
    let home = home_page(&mut s.client);
    assert_eq!(home.info, CONFIRMED);
    assert!(home.confirmed);
}

fn mails_per_address_are_limited() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    for _ in 0..4 {
        let res = sign_in(&mut s.client, "jane@example.com");
        assert_eq!(res.status, 302);
        // Over the limit the answer is the same; only the mail is left out.
        assert_eq!(home_page(&mut s.client).info, REQUIRED);
    }
    assert_eq!(s.mailer.count_to("jane@example.com"), 3);

    // The limit is per address.
    register(&mut s.client, "john@example.com");
    assert_eq!(s.mailer.count_to("john@example.com"), 1);
}

fn resend_limit_is_configurable() {
    let limit = pow_actix::store::Limit {
        max: 1,
        per: Duration::from_secs(60),
    };
    let mut s = Setup::new(EmailConfirmation::new().resend_limit(Some(limit)));
    register(&mut s.client, "jane@example.com");
    sign_in(&mut s.client, "jane@example.com");
    assert_eq!(s.mailer.count_to("jane@example.com"), 1);

    let mut s = Setup::new(EmailConfirmation::new().resend_limit(None));
    register(&mut s.client, "jane@example.com");
    for _ in 0..5 {
        sign_in(&mut s.client, "jane@example.com");
    }
    assert_eq!(s.mailer.count_to("jane@example.com"), 6);
}

fn mail_and_flash_follow_the_request_language() {
    let mut s = Setup::new(EmailConfirmation::new());
    s.client.accept_language = Some("de-DE,de;q=0.9".into());
    register(&mut s.client, "jane@example.com");
    let mail = s.last_mail("jane@example.com");
    assert_eq!(mail.subject, "Bestätigen Sie Ihre E-Mail-Adresse");
    assert!(mail.text.contains("48 Stunden"), "{}", mail.text);
    assert!(home_page(&mut s.client)
        .info
        .starts_with("Sie müssen Ihre E-Mail-Adresse bestätigen"));

    s.client.accept_language = Some("fr".into());
    s.client.get(&link_path(&mail));
    assert_eq!(
        home_page(&mut s.client).info,
        "L'adresse e-mail a été confirmée."
    );
}

fn users_created_before_the_extension_count_as_confirmed() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let user = s.user("jane@example.com");
    // As a row from before the extension: no token, never confirmed.
    let user = s.update(
        &user,
        &[
            (TOKEN_FIELD, Value::Null),
            (TOKEN_SENT_AT_FIELD, Value::Null),
        ],
    );
    assert!(is_confirmed(&user));
    assert_eq!(sign_in(&mut s.client, "jane@example.com").status, 302);
    assert_eq!(home_page(&mut s.client).user, "jane@example.com");
}

/// Runs when `POW_TEST_DATABASE_URL` is set (always on CI).
#[test]
fn migrations_run_on_postgres() {
    let Some(url) = pow_actix::testing::test_database_url() else {
        return;
    };
    let base = DieselUsersContext::connect(&url).unwrap();
    let schema = format!(
        "pow_ec_{}",
        pow_actix::token::generate_uuid().replace('-', "")
    );
    let users = base.with_schema(&schema).unwrap();
    let config = PowConfig::builder("x".repeat(64))
        .base_url("http://localhost")
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .extension(EmailConfirmation::new())
        .build()
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        users.migrate(&config).unwrap();
        users.migrate(&config).unwrap();
        let params = [
            ("email", "jane@example.com"),
            ("password", PASSWORD),
            ("password_confirmation", PASSWORD),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let jane = users
            .create(config.user_schema(), &params)
            .unwrap()
            .unwrap();
        assert!(!is_confirmed(&jane));
        assert!(jane.get_timestamp(TOKEN_SENT_AT_FIELD).is_some());
        let token = jane.get(TOKEN_FIELD).unwrap().clone();
        let found = users
            .get_by(config.user_schema(), TOKEN_FIELD, &token)
            .unwrap()
            .unwrap();
        assert_eq!(found.id, jane.id);
        let jane = confirm_user(&config, &jane).unwrap();
        assert!(is_confirmed(&jane));
        assert!(jane.get_timestamp(CONFIRMED_AT_FIELD).is_some());
    }));
    base.database()
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The path of the cancel link in the notice `mail`.
fn cancel_path(mail: &Mail) -> String {
    assert_eq!(mail.subject, CHANGE_REQUESTED);
    let path = link_path(mail);
    assert!(path.starts_with("/confirm-email/cancel/"), "{path}");
    path
}

/// Opens a cancel link in `c` and presses its button.
fn cancel(c: &mut Client, path: &str) -> Response {
    let page = c.get(path);
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    c.post(path, &[("_csrf_token", csrf.as_str())])
}

fn the_current_address_can_cancel_a_pending_change() {
    let mut s = Setup::new(EmailConfirmation::new());
    s.confirmed_user("old@example.com");
    sign_in(&mut s.client, "old@example.com");
    s.mailer.clear();
    change_email(&mut s.client, "thief@example.com");
    let confirm_link = link_path(&s.last_mail("thief@example.com"));
    let notice = s.last_mail("old@example.com");
    assert!(notice.text.contains("thief@example.com"), "{}", notice.text);
    let path = cancel_path(&notice);

    // Following the link (as a mail scanner would) cancels nothing.
    let mut owner = s.other_client();
    assert!(owner.get(&path).body.contains("Cancel the change"));
    let user = s.user("old@example.com");
    assert_eq!(
        user.get_str(UNCONFIRMED_EMAIL_FIELD),
        Some("thief@example.com")
    );

    let res = cancel(&mut owner, &path);
    assert_eq!(res.location(), "/session/new");
    assert_eq!(home_page(&mut owner).info, CANCELLED);
    let user = s.user("old@example.com");
    assert_eq!(user.get(UNCONFIRMED_EMAIL_FIELD), Some(&Value::Null));
    assert_eq!(user.get(TOKEN_FIELD), Some(&Value::Null));

    // The confirmation link and the cancel link are both used up.
    let mut thief = s.other_client();
    thief.get(&confirm_link);
    assert_eq!(home_page(&mut thief).error, INVALID);
    assert_eq!(s.user("old@example.com").id, user.id);
    cancel(&mut owner, &path);
    assert_eq!(home_page(&mut owner).error, INVALID);
    // A forged cancel link reaches nothing.
    let forged = format!("{}x", path);
    cancel(&mut owner, &forged);
    assert_eq!(home_page(&mut owner).error, INVALID);
}

/// The extension's pages answer as every page does, on either framework: the cancel
/// link's page with the page headers, its button checked for the CSRF token, `405` with
/// `Allow` for a method the path does not take, and the confirmation link's redirect never
/// stored.
fn the_extension_pages_answer_as_pages_do() {
    let mut s = Setup::new(EmailConfirmation::new());
    s.confirmed_user("old@example.com");
    sign_in(&mut s.client, "old@example.com");
    change_email(&mut s.client, "new@example.com");
    let path = cancel_path(&s.last_mail("old@example.com"));

    let mut owner = s.other_client();
    let page = owner.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for (name, value) in pow_core::pages::PAGE_HEADERS {
        assert_eq!(page.header(name), Some(value), "{name}");
    }
    assert!(
        page.body.contains(&format!("action=\"{path}\"")),
        "{}",
        page.body
    );

    let res = owner.post(&path, &[("_csrf_token", "forged")]);
    assert_eq!(res.status, 403);
    assert_eq!(
        s.user("old@example.com").get_str(UNCONFIRMED_EMAIL_FIELD),
        Some("new@example.com"),
        "nothing cancelled"
    );
    let res = owner.request("PUT", &path, None);
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET,POST"));

    let res = owner.get(&link_path(&s.last_mail("new@example.com")));
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(home_page(&mut owner).info, CONFIRMED);
}

/// Two changes in flight: the first address's link and cancel link are superseded; only
/// the latest address confirms, and its notice's cancel link is the one that works.
fn only_the_latest_of_two_pending_changes_confirms() {
    let mut s = Setup::new(EmailConfirmation::new());
    s.confirmed_user("old@example.com");
    sign_in(&mut s.client, "old@example.com");
    s.mailer.clear();
    change_email(&mut s.client, "first@example.com");
    let first = link_path(&s.last_mail("first@example.com"));
    let first_cancel = cancel_path(&s.last_mail("old@example.com"));
    change_email(&mut s.client, "second@example.com");
    let second = link_path(&s.last_mail("second@example.com"));
    assert_ne!(first, second, "a new address gets a new token");

    let mut other = s.other_client();
    other.get(&first);
    assert_eq!(home_page(&mut other).error, INVALID, "superseded address");
    cancel(&mut other, &first_cancel);
    assert_eq!(
        home_page(&mut other).error,
        INVALID,
        "superseded cancel link"
    );
    let user = s.user("old@example.com");
    assert_eq!(
        user.get_str(UNCONFIRMED_EMAIL_FIELD),
        Some("second@example.com")
    );

    other.get(&second);
    assert_eq!(home_page(&mut other).info, CONFIRMED);
    assert_eq!(s.user("second@example.com").id, user.id);
    assert!(s
        .config
        .users_context()
        .unwrap()
        .get_by(
            s.config.user_schema(),
            "email",
            &Value::from("first@example.com")
        )
        .unwrap()
        .is_none());
}

/// Two accounts ask for the same new address: the first confirmation wins, the second
/// fails cleanly and leaves its account as it was.
fn two_accounts_claiming_one_address_get_it_once() {
    let mut s = Setup::new(EmailConfirmation::new());
    s.confirmed_user("x@example.com");
    let y_id = s.confirmed_user("y@example.com").id;
    let mut x = s.other_client();
    let mut y = s.other_client();
    sign_in(&mut x, "x@example.com");
    sign_in(&mut y, "y@example.com");
    s.mailer.clear();
    change_email(&mut x, "wanted@example.com");
    let x_link = link_path(&s.last_mail("wanted@example.com"));
    change_email(&mut y, "wanted@example.com");
    let y_link = link_path(&s.last_mail("wanted@example.com"));
    assert_ne!(x_link, y_link);

    y.get(&y_link);
    assert_eq!(home_page(&mut y).info, CONFIRMED);
    x.get(&x_link);
    let home = home_page(&mut x);
    assert_eq!(home.error, FAILED);
    assert_eq!(home.user, "x@example.com");
    assert_eq!(s.user("wanted@example.com").id, y_id);
    assert_eq!(home_page(&mut y).user, "wanted@example.com");
    let loser = s.user("x@example.com");
    assert_eq!(
        loser.get_str(UNCONFIRMED_EMAIL_FIELD),
        Some("wanted@example.com"),
        "the pending change stays for the owner to drop"
    );
}

/// The users table holds no usable confirmation or cancel link: every string read back
/// from a pending sign-up's and a pending change's rows, signed as either link, changes
/// nothing, while the mailed links work.
fn the_users_table_confirms_and_cancels_nothing() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let jane_link = link_path(&s.last_mail("jane@example.com"));
    s.confirmed_user("old@example.com");
    let mut owner = s.other_client();
    sign_in(&mut owner, "old@example.com");
    change_email(&mut owner, "new@example.com");
    let change_link = link_path(&s.last_mail("new@example.com"));
    let rows = [s.user("jane@example.com"), s.user("old@example.com")];
    let dumped: Vec<String> = rows
        .iter()
        .flat_map(|row| row.fields.values())
        .filter_map(|value| value.as_str().map(str::to_owned))
        .collect();
    for row in &rows {
        let token = row.get_str(TOKEN_FIELD).unwrap();
        assert!(dumped.iter().any(|v| v == token), "the dump holds {token}");
    }
    let mut c = s.other_client();
    for value in &dumped {
        let signed = s.config.verifier().sign_token(TOKEN_SALT, value);
        c.get(&format!("/confirm-email/{signed}"));
        assert_eq!(home_page(&mut c).error, INVALID, "{value}");
        let signed = s.config.verifier().sign_token(CANCEL_SALT, value);
        cancel(&mut c, &format!("/confirm-email/cancel/{signed}"));
        assert_eq!(home_page(&mut c).error, INVALID, "{value}");
    }
    assert!(!is_confirmed(&s.user("jane@example.com")));
    assert_eq!(
        s.user("old@example.com").get_str(UNCONFIRMED_EMAIL_FIELD),
        Some("new@example.com")
    );
    c.get(&jane_link);
    assert_eq!(home_page(&mut c).info, CONFIRMED);
    c.get(&change_link);
    assert_eq!(home_page(&mut c).info, CONFIRMED);
    assert_eq!(s.user("new@example.com").id, rows[1].id);
}

/// A row written by Pow keeps the raw UUID in `email_confirmation_token`: the link Pow
/// mailed (signed with Pow's salt and the same secret) confirms once, then is refused.
fn confirmation_links_mailed_by_pow_work_once() {
    let mut s = Setup::new(EmailConfirmation::new());
    register(&mut s.client, "jane@example.com");
    let pow_rs_link = link_path(&s.last_mail("jane@example.com"));
    // Pow's tokens are UUIDs, as generate_uuid makes them; the issue time is set as the
    // migration guide says.
    let raw = pow_actix::token::generate_uuid();
    s.update(
        &s.user("jane@example.com"),
        &[(TOKEN_FIELD, Value::from(raw.as_str()))],
    );
    let pow_link = format!(
        "/confirm-email/{}",
        s.config.verifier().sign_token(TOKEN_SALT, &raw)
    );
    let mut c = s.other_client();
    c.get(&pow_rs_link);
    assert_eq!(home_page(&mut c).error, INVALID, "the row was rewritten");
    c.get(&pow_link);
    assert_eq!(home_page(&mut c).info, CONFIRMED);
    assert!(is_confirmed(&s.user("jane@example.com")));
    c.get(&pow_link);
    assert_eq!(home_page(&mut c).error, INVALID);
}

/// Moves the password proof of every session of `user` an hour back: the sessions stay
/// signed in, but are past the sudo window.
fn age_sessions(config: &PowConfig, user: &User) {
    use pow_actix::session::CredentialsCache;
    actix_web::rt::System::new().block_on(async {
        let credentials = CredentialsCache::new(config);
        let ids = credentials.sessions(user.id).await.unwrap();
        assert!(!ids.is_empty(), "signed in");
        for id in ids {
            let (cached, mut metadata) = credentials.get(&id).await.unwrap().unwrap();
            metadata.authenticated_at = Some(metadata.authenticated_at.unwrap() - 3_600_000);
            credentials.put(&id, &cached, &metadata).await.unwrap();
        }
    });
}

/// A confirmation link proves the mailbox, not the password: opening it while signed in
/// keeps the session as it was, so a sensitive page still asks for the password.
fn confirming_while_signed_in_does_not_make_the_session_fresh() {
    let mut s = Setup::new(EmailConfirmation::new().soft(true));
    let res = register(&mut s.client, "jane@example.com");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(home_page(&mut s.client).user, "jane@example.com");
    let link = link_path(&s.last_mail("jane@example.com"));
    age_sessions(&s.config, &s.user("jane@example.com"));
    let res = s.client.get("/registration/edit");
    assert_eq!(res.status, 302, "the aged session is not fresh");
    assert!(
        res.location().starts_with("/session/confirm"),
        "{}",
        res.location()
    );

    let res = s.client.get(&link);
    assert_eq!(res.location(), "/registration/edit");
    let home = home_page(&mut s.client);
    assert_eq!(home.info, CONFIRMED);
    assert_eq!(home.user, "jane@example.com", "still signed in");
    assert!(home.confirmed, "the session sees the confirmation");
    let res = s.client.get("/registration/edit");
    assert_eq!(
        res.status, 302,
        "the confirmation link must not make the session fresh: {}",
        res.body
    );
    assert!(
        res.location().starts_with("/session/confirm"),
        "{}",
        res.location()
    );
}

pow_testkit::on_both!(
    sign_up_mails_a_link_and_does_not_sign_in,
    confirmation_link_confirms_once_and_sign_in_works,
    sign_in_before_confirming_is_halted_and_mails_again,
    the_first_mails_link_confirms_after_a_second_mail,
    a_mail_after_the_link_expired_carries_a_new_link,
    email_change_waits_for_the_new_address,
    resubmitting_the_current_address_drops_a_pending_change,
    confirming_fails_cleanly_when_the_new_address_was_taken_meanwhile,
    registering_a_taken_email_looks_like_success_and_tells_the_owner,
    a_new_and_a_taken_address_set_the_same_cookies,
    taken_email_is_shown_when_enumeration_protection_is_off,
    tampered_and_unknown_tokens_are_refused,
    expired_tokens_are_refused_and_a_sign_in_mails_a_fresh_one,
    without_expiry_old_tokens_still_work,
    soft_mode_lets_unconfirmed_users_sign_in,
    mails_per_address_are_limited,
    resend_limit_is_configurable,
    mail_and_flash_follow_the_request_language,
    users_created_before_the_extension_count_as_confirmed,
    the_current_address_can_cancel_a_pending_change,
    the_extension_pages_answer_as_pages_do,
    only_the_latest_of_two_pending_changes_confirms,
    two_accounts_claiming_one_address_get_it_once,
    the_users_table_confirms_and_cancels_nothing,
    confirmation_links_mailed_by_pow_work_once,
    confirming_while_signed_in_does_not_make_the_session_fresh,
);

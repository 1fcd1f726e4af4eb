//! The passwordless extension over HTTP, on memory and Redis: sign-in by link (used once),
//! by code (bound to the browser, five tries), identical answers for known and unknown
//! addresses, the per-address mail limit, passwordless sign-up, staged sign-up with a
//! prefilled form ending in a confirmed user, sessions that are not fresh, and the JSON
//! code sign-in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use pow_core::mailer::MemoryMailer;
use pow_core::password::Pbkdf2Hasher;
use pow_core::session::MaybeUser;
use pow_core::store::{MemoryStore, Store};
use pow_core::test_client::{serve, Client, Response};
use pow_core::users::diesel::DieselUsersContext;
use pow_core::users::{FieldDef, FieldKind, Params};
use pow_core::PowConfig;
use pow_ext_email_confirmation::EmailConfirmation;
use pow_ext_passwordless::Passwordless;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";

struct Harness {
    config: PowConfig,
    addr: SocketAddr,
    mailer: MemoryMailer,
}

async fn me(user: MaybeUser) -> HttpResponse {
    HttpResponse::Ok().body(match user.0 {
        Some(user) => format!("user:{}", user.email().unwrap_or_default()),
        None => "anonymous".to_owned(),
    })
}

/// An app's own route starting a staged sign-up with a prefilled name.
async fn start_staged(req: HttpRequest, ext: web::Data<Passwordless>) -> HttpResponse {
    let mut prefill = Params::new();
    prefill.insert("name".into(), "Ada Lovelace".into());
    ext.start_staged_sign_up(&req, "new@example.com", prefill)
        .await
        .unwrap();
    HttpResponse::Ok().body("started")
}

fn start(store: Arc<dyn Store>, ext: Passwordless) -> Harness {
    let db = std::env::temp_dir().join(format!(
        "pow-passwordless-{}.db",
        pow_core::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let config = PowConfig::builder("p".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(store)
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .user_field(FieldDef::new("name", FieldKind::Text).castable())
        .extension(EmailConfirmation::new())
        .extension(ext.clone())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    users
        .database()
        .batch_execute("ALTER TABLE users ADD COLUMN name VARCHAR NULL;")
        .unwrap();
    let user = pow_core::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    pow_ext_email_confirmation::confirm_user(&config, &user).unwrap();
    let served = config.clone();
    let addr = serve(move || {
        pow_core::testing::app(&served)
            .configure(pow_core::api::configure(
                served.clone(),
                pow_core::api::ApiOptions::new(),
            ))
            .app_data(web::Data::new(ext.clone()))
            .route("/me", web::get().to(me))
            .route("/start-staged", web::get().to(start_staged))
    });
    Harness {
        config,
        addr,
        mailer,
    }
}

fn ask(c: &mut Client, path: &str, email: &str) -> Response {
    let page = c.get(path);
    assert_eq!(page.status, 200, "{}", page.body);
    let res = c.post(
        path,
        &[("_csrf_token", &page.csrf()), ("user[email]", email)],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    res
}

/// The path of the link to this server in the last mail to `to`.
fn mailed_path(h: &Harness, to: &str) -> String {
    let mail = h.mailer.last_to(to).expect("a mail");
    let start = mail.text.find("http://localhost/").expect("a link") + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| i + start);
    mail.text[start..end].to_owned()
}

fn mailed_code(h: &Harness, to: &str) -> String {
    let mail = h.mailer.last_to(to).expect("a mail");
    mail.text
        .split_whitespace()
        .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .expect("a code")
        .to_owned()
}

fn use_link(c: &mut Client, path: &str) -> Response {
    let page = c.get(path);
    assert_eq!(page.status, 200, "a GET uses nothing: {}", page.body);
    c.post(path, &[("_csrf_token", &page.csrf())])
}

fn enter_code(c: &mut Client, code: &str) -> Response {
    let page = c.get("/passwordless/code");
    c.post(
        "/passwordless/code/verify",
        &[("_csrf_token", &page.csrf()), ("user[code]", code)],
    )
}

fn whoami(c: &mut Client) -> String {
    c.get("/me").body
}

fn flows(store: Arc<dyn Store>) {
    let h = start(store, Passwordless::new());

    // By link, once; the session is not fresh.
    let mut c = Client::new(h.addr);
    assert!(c
        .get("/session/new")
        .body
        .contains("href=\"/passwordless\""));
    ask(&mut c, "/passwordless", EMAIL);
    let link = mailed_path(&h, EMAIL);
    assert!(link.starts_with("/passwordless/link/"), "{link}");
    assert_eq!(use_link(&mut c, &link).location(), "/");
    assert_eq!(whoami(&mut c), format!("user:{EMAIL}"));
    assert_eq!(
        c.get("/registration/edit").location(),
        "/session/confirm?request_path=%2Fregistration%2Fedit",
        "a magic link is not a password"
    );
    let mut again = Client::new(h.addr);
    assert_eq!(use_link(&mut again, &link).location(), "/passwordless");
    assert_eq!(whoami(&mut again), "anonymous", "the link was used");

    // By code: another browser cannot use it; the asking browser can, once.
    let mut browser = Client::new(h.addr);
    assert_eq!(
        ask(&mut browser, "/passwordless/code", EMAIL).location(),
        "/passwordless/code"
    );
    let code = mailed_code(&h, EMAIL);
    let mut other = Client::new(h.addr);
    assert!(enter_code(&mut other, &code)
        .body
        .contains("That code is not valid."));
    assert_eq!(whoami(&mut other), "anonymous");
    assert_eq!(enter_code(&mut browser, &code).location(), "/");
    assert_eq!(whoami(&mut browser), format!("user:{EMAIL}"));

    // Five wrong codes kill it: the right one fails after them.
    let mut guesser = Client::new(h.addr);
    ask(&mut guesser, "/passwordless/code", EMAIL);
    let code = mailed_code(&h, EMAIL);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        enter_code(&mut guesser, wrong);
    }
    let res = enter_code(&mut guesser, &code);
    assert_eq!(res.location(), "/passwordless");
    assert!(guesser
        .get("/passwordless")
        .body
        .contains("Too many wrong codes."));
    assert_eq!(whoami(&mut guesser), "anonymous");
}

#[test]
fn flows_on_memory() {
    flows(Arc::new(MemoryStore::new()));
}

#[test]
fn flows_on_redis() {
    let Some(url) = pow_core::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-passwordless-{}", pow_core::token::generate_uuid());
    flows(pow_core::testing::test_redis_store(&url, &prefix).unwrap());
}

/// Known and unknown addresses get the same answers; only the known one gets mail; and
/// the per-address limit stops a flood.
#[test]
fn answers_are_identical_and_mail_is_limited() {
    let h = start(Arc::new(MemoryStore::new()), Passwordless::new());
    for path in ["/passwordless", "/passwordless/code"] {
        let mut known = Client::new(h.addr);
        let mut unknown = Client::new(h.addr);
        let form = if path == "/passwordless" {
            path
        } else {
            "/passwordless/code/new"
        };
        let a = {
            let page = known.get(form);
            known.post(
                path,
                &[("_csrf_token", &page.csrf()), ("user[email]", EMAIL)],
            )
        };
        let b = {
            let page = unknown.get(form);
            unknown.post(
                path,
                &[
                    ("_csrf_token", &page.csrf()),
                    ("user[email]", "nobody@example.com"),
                ],
            )
        };
        assert_eq!((a.status, a.location()), (b.status, b.location()));
    }
    assert_eq!(h.mailer.count_to("nobody@example.com"), 0);
    // The flash is the same text: ask again and compare the pages after the redirect.
    let mut known = Client::new(h.addr);
    let mut unknown = Client::new(h.addr);
    let res = ask(&mut known, "/passwordless", EMAIL);
    let known_page = known.get(res.location()).body;
    let res = ask(&mut unknown, "/passwordless", "nobody@example.com");
    let unknown_page = unknown.get(res.location()).body;
    let strip_csrf = |page: &str| {
        page.split("name=\"_csrf_token\" value=\"")
            .map(|part| part.split_once('"').map_or(part, |(_, rest)| rest))
            .collect::<String>()
    };
    assert_eq!(strip_csrf(&known_page), strip_csrf(&unknown_page));
    assert!(known_page.contains("If the address can sign in, we have sent it a link."));

    // Three mails per address and hour: the 4th, 5th and 6th requests send nothing.
    let before = h.mailer.count_to(EMAIL);
    assert_eq!(before, 3, "two link mails and one code mail so far");
    let mut flood = Client::new(h.addr);
    for _ in 0..3 {
        ask(&mut flood, "/passwordless", EMAIL);
    }
    assert_eq!(h.mailer.count_to(EMAIL), 3);
}

/// With sign-up on, an unknown address's link creates the account, confirmed.
#[test]
fn a_link_can_sign_up_an_unknown_address() {
    let h = start(
        Arc::new(MemoryStore::new()),
        Passwordless::new().sign_up(true),
    );
    let mut c = Client::new(h.addr);
    ask(&mut c, "/passwordless", "newcomer@example.com");
    let link = mailed_path(&h, "newcomer@example.com");
    assert_eq!(use_link(&mut c, &link).location(), "/");
    assert_eq!(whoami(&mut c), "user:newcomer@example.com");
    let user = h
        .config
        .users()
        .unwrap()
        .get_by(&h.config, "email", &"newcomer@example.com".into())
        .unwrap()
        .unwrap();
    assert!(user.password_hash.is_none(), "no password");
    // An address no mailer can take gets the same answer, not an error, and no account.
    let mut odd = Client::new(h.addr);
    assert_eq!(
        ask(&mut odd, "/passwordless", "john(comment)@example.com").location(),
        "/passwordless"
    );
    assert!(pow_ext_email_confirmation::is_confirmed(&user));
    assert!(user.get("email_confirmed_at").is_some_and(|v| !v.is_null()));

    // The account page sets a first password; then the password signs in too.
    let page = c.get("/registration/edit");
    assert_eq!(page.status, 200, "{}", page.body);
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", &page.csrf()),
            ("_method", "PATCH"),
            ("user[email]", "newcomer@example.com"),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let mut later = Client::new(h.addr);
    assert_eq!(
        later.sign_in("newcomer@example.com", PASSWORD).location(),
        "/"
    );
    assert_eq!(whoami(&mut later), "user:newcomer@example.com");
}

/// Staged sign-up: the app starts it with a payload; the mailed link opens the form
/// prefilled; completing it makes a confirmed user with the kept fields.
#[test]
fn a_staged_sign_up_keeps_the_prefilled_fields() {
    let h = start(Arc::new(MemoryStore::new()), Passwordless::new());
    let mut c = Client::new(h.addr);
    assert_eq!(c.get("/start-staged").body, "started");
    let link = mailed_path(&h, "new@example.com");
    assert!(link.starts_with("/passwordless/sign-up/"), "{link}");
    let page = c.get(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("value=\"Ada Lovelace\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("new@example.com is confirmed"));
    // A too-short password: the form again, the link still works.
    let res = c.post(
        &link,
        &[
            ("_csrf_token", &page.csrf()),
            ("user[name]", "Ada Lovelace"),
            ("user[password]", "short"),
            ("user[password_confirmation]", "short"),
        ],
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let res = c.post(
        &link,
        &[
            ("_csrf_token", &res.csrf()),
            ("user[name]", "Ada Lovelace"),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut c), "user:new@example.com");
    let user = h
        .config
        .users()
        .unwrap()
        .get_by(&h.config, "email", &"new@example.com".into())
        .unwrap()
        .unwrap();
    assert_eq!(user.get_str("name"), Some("Ada Lovelace"));
    assert!(pow_ext_email_confirmation::is_confirmed(&user));
    assert!(user.password_hash.is_some());
    // Used once.
    let mut again = Client::new(h.addr);
    assert_eq!(again.get(&link).location(), "/passwordless");
    // The staged form for a known address sends a sign-in link instead, answered alike.
    ask(&mut again, "/passwordless/sign-up", EMAIL);
    assert!(mailed_path(&h, EMAIL).starts_with("/passwordless/link/"));
}

/// The JSON code sign-in: same answer for every address, a token pair for the right code.
#[test]
fn an_api_client_signs_in_with_a_code() {
    let h = start(Arc::new(MemoryStore::new()), Passwordless::new());
    let mut api = Client::new(h.addr);
    let ask = |api: &mut Client, email: &str| {
        let body = serde_json::json!({ "email": email }).to_string();
        api.request("POST", "/api/v1/passwordless/code", Some(body))
    };
    let unknown = ask(&mut api, "nobody@example.com");
    let res = ask(&mut api, EMAIL);
    assert_eq!(res.status, 202, "{}", res.body);
    assert_eq!(unknown.status, 202);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let other: serde_json::Value = serde_json::from_str(&unknown.body).unwrap();
    assert_eq!(json["data"]["message"], other["data"]["message"]);
    assert!(
        other["data"]["code_token"].is_string(),
        "a token for unknown addresses too"
    );
    let token = json["data"]["code_token"].as_str().unwrap();
    let verify = |api: &mut Client, token: &str, code: &str| {
        let body = serde_json::json!({ "code_token": token, "code": code }).to_string();
        api.request("POST", "/api/v1/passwordless/code/verify", Some(body))
    };
    let code = mailed_code(&h, EMAIL);
    let res = verify(
        &mut api,
        other["data"]["code_token"].as_str().unwrap(),
        &code,
    );
    assert_eq!(res.status, 401, "the code belongs to its own token");
    let res = verify(&mut api, token, &code);
    assert_eq!(res.status, 200, "{}", res.body);
    let pair: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let access = pair["data"]["access_token"].as_str().unwrap();
    let session = actix_web::rt::System::new()
        .block_on(pow_core::api::authenticate(&h.config, access))
        .unwrap()
        .unwrap();
    assert_eq!(session.user.email(), Some(EMAIL));
    assert_eq!(verify(&mut api, token, &code).status, 401, "used once");
}

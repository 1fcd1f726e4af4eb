//! The passwordless extension over HTTP, on memory and Redis: sign-in by link (used once),
//! by code (bound to the browser, five tries), identical answers for known and unknown
//! addresses, the per-address mail limit, passwordless sign-up, staged sign-up with a
//! prefilled form ending in a confirmed user, sessions that are not fresh, and the JSON
//! code sign-in. Every suite, pages and JSON, runs on actix-web and on axum
//! ([`pow_testkit::on_both!`]).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use pow_actix::limits::{Lockout, RateLimits};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::MaybeUser;
use pow_actix::store::{MemoryStore, Store};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::{FieldDef, FieldKind, Params};
use pow_actix::{PowConfig, PowConfigBuilder};
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

/// The same page on axum.
async fn axum_me(pow_axum::MaybeUser(user): pow_axum::MaybeUser) -> String {
    match user {
        Some(user) => format!("user:{}", user.email().unwrap_or_default()),
        None => "anonymous".to_owned(),
    }
}

/// The prefill of the app's staged sign-up: a name.
fn prefill() -> Params {
    let mut prefill = Params::new();
    prefill.insert("name".into(), "Ada Lovelace".into());
    prefill
}

/// An app's own route starting a staged sign-up with a prefilled name.
async fn start_staged(req: HttpRequest, ext: web::Data<Passwordless>) -> HttpResponse {
    let req = pow_actix::web::ActixRequest(&req);
    ext.start_staged_sign_up(&req, "new@example.com", prefill())
        .await
        .unwrap();
    HttpResponse::Ok().body("started")
}

/// The same route on axum: the same method, with the request's `Pow`.
async fn axum_start_staged(pow: pow_axum::Pow, ext: Passwordless) -> &'static str {
    ext.start_staged_sign_up(&pow, "new@example.com", prefill())
        .await
        .unwrap();
    "started"
}

/// Serves the setup on the framework the test runs on ([`pow_testkit::framework`]): the
/// pages, `/me`, `/start-staged` and the JSON endpoints under `/api/v1`.
fn serve(config: PowConfig, ext: Passwordless) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
            pow_actix::testing::app(&config)
                .configure(pow_actix::api::configure(
                    config.clone(),
                    pow_actix::api::ApiOptions::new(),
                ))
                .app_data(web::Data::new(ext.clone()))
                .route("/me", web::get().to(me))
                .route("/start-staged", web::get().to(start_staged))
        }),
        pow_testkit::Framework::Axum => pow_testkit::serve_axum(
            pow_axum::web::router(&config)
                .route("/me", axum::routing::get(axum_me))
                .route(
                    "/start-staged",
                    axum::routing::get(move |pow: pow_axum::Pow| {
                        axum_start_staged(pow, ext.clone())
                    }),
                )
                .layer(pow_axum::PowLayer::new(config.clone()))
                .merge(pow_axum::api::router(
                    &config,
                    pow_axum::api::ApiOptions::new(),
                )),
        ),
    }
}

fn start(store: Arc<dyn Store>, ext: Passwordless) -> Harness {
    start_with(store, ext, |b| b)
}

/// [`start`] with more settings.
fn start_with(
    store: Arc<dyn Store>,
    ext: Passwordless,
    tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> Harness {
    let db = std::env::temp_dir().join(format!(
        "pow-passwordless-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let builder = PowConfig::builder("p".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(store)
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .user_field(FieldDef::new("name", FieldKind::Text).castable())
        .extension(EmailConfirmation::new())
        .extension(ext.clone());
    let config = tweak(builder).build().unwrap();
    users.migrate(&config).unwrap();
    users
        .database()
        .batch_execute("ALTER TABLE users ADD COLUMN name VARCHAR NULL;")
        .unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    pow_ext_email_confirmation::confirm_user(&config, &user).unwrap();
    let addr = serve(config.clone(), ext);
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

fn flows_on_memory() {
    flows(Arc::new(MemoryStore::new()));
}

fn flows_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-passwordless-{}", pow_actix::token::generate_uuid());
    flows(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

/// Known and unknown addresses get the same answers; only the known one gets mail; and
/// the per-address limit stops a flood.
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
        .users_context()
        .unwrap()
        .get_by(
            h.config.user_schema(),
            "email",
            &"newcomer@example.com".into(),
        )
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
        .users_context()
        .unwrap()
        .get_by(h.config.user_schema(), "email", &"new@example.com".into())
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

/// The staged sign-up over JSON, the link opening the app: the same answer for a known
/// and an unknown address, the proven address read without using the link, field errors
/// that keep it working, then a registration's token pair; the link works once.
fn an_api_client_completes_a_staged_sign_up() {
    let app = "https://app.example.com/join#{token}";
    let h = start_with(Arc::new(MemoryStore::new()), Passwordless::new(), |b| {
        b.frontend_link(
            pow_ext_passwordless::SIGN_UP_LINK,
            pow_actix::api::LinkTemplate::new(app).unwrap(),
        )
    });
    let mut api = Client::new(h.addr);
    let json = |res: &Response| -> serde_json::Value {
        serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("JSON: {}", res.body))
    };
    let start = |api: &mut Client, email: &str| {
        let body = serde_json::json!({ "email": email }).to_string();
        api.request("POST", "/api/v1/passwordless/sign-up", Some(body))
    };
    let new = start(&mut api, "grace@example.com");
    let known = start(&mut api, EMAIL);
    assert_eq!(new.status, 202, "{}", new.body);
    assert_eq!((known.status, json(&known)), (202, json(&new)));
    // The known address gets a sign-in link (to the server), the new one the app's link.
    assert!(mailed_path(&h, EMAIL).starts_with("/passwordless/link/"));
    let mail = h.mailer.last_to("grace@example.com").expect("a mail");
    let token = mail
        .text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("https://app.example.com/join#"))
        .unwrap_or_else(|| panic!("the app's link in {}", mail.text))
        .to_owned();
    let path = format!("/api/v1/passwordless/sign-up/{token}");

    let res = api.request("GET", &path, None);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(json(&res)["data"]["email"], "grace@example.com");
    let complete = |api: &mut Client, user: serde_json::Value| {
        let body = serde_json::json!({ "user": user }).to_string();
        api.request("POST", &path, Some(body))
    };
    let res = complete(
        &mut api,
        serde_json::json!({ "name": "Grace", "password": PASSWORD, "password_confirmation": "other" }),
    );
    assert_eq!(res.status, 422, "{}", res.body);
    assert_eq!(json(&res)["errors"][0]["code"], "user_not_created");
    assert!(pow_actix::testing::field_errors(&json(&res), "password_confirmation")[0].is_string());
    let res = complete(
        &mut api,
        serde_json::json!({ "name": "Grace", "password": PASSWORD, "password_confirmation": PASSWORD }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let access = json(&res)["data"]["access_token"]
        .as_str()
        .expect("a pair")
        .to_owned();
    // Signed in, confirmed, fresh (the password was just chosen), nothing pending.
    api.headers
        .push(("Authorization".into(), format!("Bearer {access}")));
    let res = api.request("GET", "/api/v1/session", None);
    assert_eq!(res.status, 200, "{}", res.body);
    let session = json(&res)["data"].clone();
    assert_eq!(session["user"]["email"], "grace@example.com");
    assert_eq!(session["session"]["sudo"]["fresh"], true);
    assert_eq!(session["pending"], serde_json::json!([]));
    // The link is used up.
    let mut other = Client::new(h.addr);
    assert_eq!(other.request("GET", &path, None).status, 401);
    let res = complete(&mut other, serde_json::json!({ "name": "Mallory" }));
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(json(&res)["errors"][0]["code"], "invalid_token");
}

/// The JSON code sign-in: same answer for every address, a token pair for the right code.
fn an_api_client_signs_in_with_a_code() {
    let h = start(Arc::new(MemoryStore::new()), Passwordless::new());
    let mut api = Client::new(h.addr);
    let ask = |api: &mut Client, email: &str| {
        let body = serde_json::json!({ "email": email }).to_string();
        api.request("POST", "/api/v1/passwordless/code", Some(body))
    };
    // An address nobody could receive is refused, on either route, and mails nothing.
    for path in ["/api/v1/passwordless/code", "/api/v1/passwordless/link"] {
        for email in ["", "  ", "not an address"] {
            let body = serde_json::json!({ "email": email }).to_string();
            let res = api.request("POST", path, Some(body));
            assert_eq!(res.status, 422, "{email:?}: {}", res.body);
            let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
            assert_eq!(json["errors"][0]["code"], "invalid_email");
            assert!(
                pow_actix::testing::field_errors(&json, "email")[0].is_string(),
                "{}",
                res.body
            );
        }
    }
    assert!(h.mailer.deliveries().is_empty());
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
        .block_on(pow_actix::api::authenticate(&h.config, access))
        .unwrap()
        .unwrap();
    assert_eq!(session.user.email(), Some(EMAIL));
    assert_eq!(verify(&mut api, token, &code).status, 401, "used once");
}

fn api_ask(api: &mut Client, email: &str) -> serde_json::Value {
    let body = serde_json::json!({ "email": email }).to_string();
    let res = api.request("POST", "/api/v1/passwordless/code", Some(body));
    assert_eq!(res.status, 202, "{}", res.body);
    serde_json::from_str(&res.body).unwrap()
}

fn api_verify(api: &mut Client, token: &str, code: &str) -> Response {
    let body = serde_json::json!({ "code_token": token, "code": code }).to_string();
    api.request("POST", "/api/v1/passwordless/code/verify", Some(body))
}

/// The keyed hashes of the codes the store holds.
fn stored_code_hashes(h: &Harness, store: &dyn Store) -> Vec<String> {
    let namespace = h.config.namespaced("passwordless");
    let pattern = [
        pow_actix::store::KeyPattern::Any,
        pow_actix::store::KeyPattern::Any,
    ];
    actix_web::rt::System::new()
        .block_on(store.all(&namespace, &pattern))
        .unwrap()
        .into_iter()
        .filter_map(|(_, value)| serde_json::from_slice::<serde_json::Value>(&value).ok())
        .filter_map(|grant| grant["code_hash"].as_str().map(str::to_owned))
        .collect()
}

/// A code whose mail the per-address limit stopped is never a usable code: whatever code
/// the store could answer to, its token gets nothing. (Before, the code was stored and a
/// guesser collected usable codes for an address without any mail going out.)
fn a_code_that_was_not_mailed_cannot_be_used() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let one_mail = Passwordless::new().mail_limit(Some(pow_actix::store::Limit::new(
        1,
        std::time::Duration::from_secs(3600),
    )));
    let h = start(Arc::clone(&store), one_mail);
    let mut api = Client::new(h.addr);
    let mailed = api_ask(&mut api, EMAIL);
    let mailed_code = mailed_code(&h, EMAIL);
    let refused = api_ask(&mut api, EMAIL);
    assert_eq!(
        h.mailer.count_to(EMAIL),
        1,
        "the limit stopped the second mail"
    );
    assert_eq!(
        mailed["data"]["message"], refused["data"]["message"],
        "same answer"
    );
    let token = refused["data"]["code_token"]
        .as_str()
        .expect("a token all the same");

    // Find every code the store would accept (as a guesser eventually would) and try it.
    let keys = h.config.verifier().derive_keys("pow passwordless");
    let known = pow_actix::token::keyed_digest(&keys[0], &mailed_code);
    let unknown: Vec<String> = stored_code_hashes(&h, store.as_ref())
        .into_iter()
        .filter(|hash| *hash != known)
        .collect();
    for hash in unknown.clone() {
        let code = (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|code| pow_actix::token::keyed_digest(&keys[0], code) == hash)
            .expect("a six-digit code");
        let res = api_verify(&mut api, token, &code);
        assert_eq!(
            res.status, 401,
            "a never-mailed code signed in: {}",
            res.body
        );
    }
    assert!(unknown.is_empty(), "the store knows only the mailed code");
    let res = api_verify(&mut api, token, &mailed_code);
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(
        api_verify(
            &mut api,
            mailed["data"]["code_token"].as_str().unwrap(),
            &mailed_code
        )
        .status,
        200,
        "the mailed code works"
    );
}

/// No per-address mail limit in the way, and a lock after 3 wrong codes (or passwords).
fn lock_after_three(b: PowConfigBuilder) -> PowConfigBuilder {
    b.rate_limits(RateLimits {
        sign_in_per_ip: None,
        sign_in_failures: None,
        mails_per_ip: None,
        lockout: Some(Lockout {
            max_failures: 3,
            max_factor_failures: 3,
            ..Lockout::default()
        }),
        ..RateLimits::default()
    })
}

fn lock_notice(h: &Harness) -> pow_actix::mailer::Mail {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(mail) = h
            .mailer
            .last_to(EMAIL)
            .filter(|m| m.subject.contains("locked"))
        {
            return mail;
        }
        assert!(std::time::Instant::now() < deadline, "no lock notice");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// Wrong codes count against the address across codes and browsers; the budget used up
/// locks the account: its codes, its links and its password are refused, and the owner is
/// told.
fn wrong_codes_lock_the_account(store: Arc<dyn Store>) {
    let h = start_with(
        store,
        Passwordless::new().mail_limit(None),
        lock_after_three,
    );
    let mut first = Client::new(h.addr);
    ask(&mut first, "/passwordless/code", EMAIL);
    let code = mailed_code(&h, EMAIL);
    for _ in 0..2 {
        let res = enter_code(&mut first, wrong(&code));
        assert!(res.body.contains("That code is not valid."), "{}", res.body);
    }
    // A new code, in another browser: the same budget.
    let mut second = Client::new(h.addr);
    ask(&mut second, "/passwordless/code", EMAIL);
    let code = mailed_code(&h, EMAIL);
    let res = enter_code(&mut second, wrong(&code));
    assert!(res.body.contains("That code is not valid."), "{}", res.body);

    let res = enter_code(&mut second, &code);
    assert_eq!(res.status, 429, "locked after 3 wrong codes: {}", res.body);
    assert_eq!(whoami(&mut second), "anonymous");
    let notice = lock_notice(&h);
    assert!(
        notice.text.contains("wrong sign-in code"),
        "{}",
        notice.text
    );

    // A fresh code, a fresh link, the password: all refused while locked.
    let mut third = Client::new(h.addr);
    ask(&mut third, "/passwordless/code", EMAIL);
    assert_eq!(enter_code(&mut third, &mailed_code(&h, EMAIL)).status, 429);
    ask(&mut third, "/passwordless", EMAIL);
    let link = mailed_path(&h, EMAIL);
    assert_eq!(use_link(&mut third, &link).status, 429);
    assert_eq!(whoami(&mut third), "anonymous");
    assert_eq!(third.sign_in(EMAIL, PASSWORD).status, 429);
    let mut api = Client::new(h.addr);
    let asked = api_ask(&mut api, EMAIL);
    let res = api_verify(
        &mut api,
        asked["data"]["code_token"].as_str().unwrap(),
        &mailed_code(&h, EMAIL),
    );
    assert_eq!(res.status, 429, "{}", res.body);
}

fn wrong_codes_lock_the_account_on_memory() {
    wrong_codes_lock_the_account(Arc::new(MemoryStore::new()));
}

fn wrong_codes_lock_the_account_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-passwordless-{}", pow_actix::token::generate_uuid());
    wrong_codes_lock_the_account(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

/// A right code clears the count: wrong codes do not add up across sign-ins.
fn a_right_code_clears_the_failures() {
    let h = start_with(
        Arc::new(MemoryStore::new()),
        Passwordless::new().mail_limit(None),
        lock_after_three,
    );
    for round in 0..3 {
        let mut c = Client::new(h.addr);
        ask(&mut c, "/passwordless/code", EMAIL);
        let code = mailed_code(&h, EMAIL);
        for _ in 0..2 {
            enter_code(&mut c, wrong(&code));
        }
        assert_eq!(enter_code(&mut c, &code).location(), "/", "round {round}");
        assert_eq!(whoami(&mut c), format!("user:{EMAIL}"));
    }
}

/// A link mailed to a locked account (locked by wrong passwords) signs nobody in.
fn a_locked_accounts_link_is_refused() {
    let h = start_with(
        Arc::new(MemoryStore::new()),
        Passwordless::new().mail_limit(None),
        lock_after_three,
    );
    let mut c = Client::new(h.addr);
    for _ in 0..3 {
        c.sign_in(EMAIL, "wrong password");
    }
    assert_eq!(c.sign_in(EMAIL, PASSWORD).status, 429, "locked");
    ask(&mut c, "/passwordless", EMAIL);
    let link = mailed_path(&h, EMAIL);
    assert_eq!(use_link(&mut c, &link).status, 429);
    assert_eq!(whoami(&mut c), "anonymous");
    let mut api = Client::new(h.addr);
    ask(&mut c, "/passwordless", EMAIL);
    let link = mailed_path(&h, EMAIL);
    let res = api.request("POST", &format!("/api/v1{link}"), None);
    assert_eq!(res.status, 429, "{}", res.body);
}

/// Known and unknown addresses are counted and locked alike, so the lock tells nobody
/// which addresses have an account (the code of an unknown address never works, but
/// guessing at it is answered the same).
fn known_and_unknown_addresses_lock_alike() {
    let h = start_with(
        Arc::new(MemoryStore::new()),
        Passwordless::new().mail_limit(None),
        lock_after_three,
    );
    let mut statuses = Vec::new();
    for email in [EMAIL, "nobody@example.com"] {
        let mut c = Client::new(h.addr);
        ask(&mut c, "/passwordless/code", email);
        let guess = if email == EMAIL {
            wrong(&mailed_code(&h, EMAIL))
        } else {
            "000000"
        };
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(enter_code(&mut c, guess).status);
        }
        statuses.push(answers);
    }
    assert_eq!(statuses[0], [200, 200, 200, 429], "the known address locks");
    assert_eq!(statuses[0], statuses[1], "and the unknown one alike");
}

/// With a CAPTCHA configured, asking for a link needs a valid answer: without one nothing
/// is mailed.
fn a_configured_captcha_guards_link_requests() {
    let h = start_with(Arc::new(MemoryStore::new()), Passwordless::new(), |b| {
        b.captcha(pow_actix::captcha::Captcha::new(
            pow_actix::testing::TestCaptcha,
        ))
    });
    let mut c = Client::new(h.addr);
    let page = c.get("/passwordless");
    assert!(
        page.body.contains(r#"<div class="test-captcha""#),
        "{}",
        page.body
    );
    let res = c.post(
        "/passwordless",
        &[("_csrf_token", &page.csrf()), ("user[email]", EMAIL)],
    );
    assert_eq!(res.status, 400, "{}", res.body);
    assert_eq!(h.mailer.count_to(EMAIL), 0);

    let page = c.get("/passwordless");
    let res = c.post(
        "/passwordless",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", EMAIL),
            ("test-captcha-response", "pass"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(mailed_path(&h, EMAIL).starts_with("/passwordless/link/"));
}

/// With a CAPTCHA configured, a JSON request for a code needs the answer in
/// `X-Captcha-Response`: without it, `400 captcha_invalid` and no mail.
fn a_configured_captcha_guards_json_code_requests() {
    let h = start_with(Arc::new(MemoryStore::new()), Passwordless::new(), |b| {
        b.captcha(pow_actix::captcha::Captcha::new(
            pow_actix::testing::TestCaptcha,
        ))
    });
    let mut api = Client::new(h.addr);
    let body = serde_json::json!({ "email": EMAIL }).to_string();
    let res = api.request("POST", "/api/v1/passwordless/code", Some(body.clone()));
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("captcha_invalid"), "{}", res.body);
    assert_eq!(h.mailer.count_to(EMAIL), 0);

    api.headers
        .push(("X-Captcha-Response".into(), "pass".into()));
    let res = api.request("POST", "/api/v1/passwordless/code", Some(body));
    assert_eq!(res.status, 202, "{}", res.body);
    assert_eq!(h.mailer.count_to(EMAIL), 1);
}

pow_testkit::on_both!(
    flows_on_memory,
    flows_on_redis,
    answers_are_identical_and_mail_is_limited,
    a_link_can_sign_up_an_unknown_address,
    a_staged_sign_up_keeps_the_prefilled_fields,
    wrong_codes_lock_the_account_on_memory,
    wrong_codes_lock_the_account_on_redis,
    a_right_code_clears_the_failures,
    a_locked_accounts_link_is_refused,
    known_and_unknown_addresses_lock_alike,
    a_configured_captcha_guards_link_requests,
    an_api_client_completes_a_staged_sign_up,
    an_api_client_signs_in_with_a_code,
    a_code_that_was_not_mailed_cannot_be_used,
    a_configured_captcha_guards_json_code_requests,
);

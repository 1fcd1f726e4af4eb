//! CAPTCHA on sign-up and sign-in, HTML and JSON, against a local fake `siteverify`
//! service (never the internet): valid and missing answers, a refused answer, the client's
//! address passed on, a verifier that never answers (fail closed, and open when asked).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::test as atest;
use actix_web::{web, App, HttpResponse};
use pow_actix::captcha::{Captcha, SiteVerify};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::{serve, Client};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;
use serde_json::json;

const PASSWORD: &str = "correct horse battery";
const SECRET: &str = "test-secret";

/// What the fake service was sent: `(secret, response, remoteip)` per verification.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// A `siteverify` service on loopback: an answer of `pass` with the right secret
/// succeeds, anything else fails. Returns its URL and what it saw.
fn fake_siteverify() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let addr = serve(move || {
        let log = Arc::clone(&log);
        App::new().route(
            "/siteverify",
            web::post().to(move |form: web::Form<Vec<(String, String)>>| {
                let log = Arc::clone(&log);
                async move {
                    let get =
                        |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                    let (secret, response) = (
                        get("secret").unwrap_or_default(),
                        get("response").unwrap_or_default(),
                    );
                    let success = secret == SECRET && response == "pass";
                    log.lock()
                        .unwrap()
                        .push((secret, response, get("remoteip")));
                    HttpResponse::Ok().json(json!({ "success": success, "hostname": "localhost" }))
                }
            }),
        )
    });
    (format!("http://{addr}/siteverify"), seen)
}

/// A service that accepts connections and never answers.
fn silent_service() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    format!("http://{addr}/siteverify")
}

fn config(captcha: Captcha) -> PowConfig {
    setup(Some(captcha))
}

/// A fresh SQLite file with Ada, and `captcha` if any.
fn setup(captcha: Option<Captcha>) -> PowConfig {
    let db = std::env::temp_dir().join(format!(
        "pow-captcha-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mut builder = PowConfig::builder("c".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1));
    if let Some(captcha) = captcha {
        builder = builder.captcha(captcha);
    }
    let config = builder.build().unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    config
}

fn turnstile(url: &str) -> SiteVerify {
    SiteVerify::turnstile("site-key-1", SECRET).verify_url(url)
}

fn start(config: PowConfig) -> SocketAddr {
    pow_testkit::serve(config.clone())
}

fn sign_up(c: &mut Client, email: &str, answer: Option<&str>) -> pow_actix::test_client::Response {
    let csrf = c.get("/registration/new").csrf();
    let mut form = vec![
        ("_csrf_token", csrf.as_str()),
        ("user[email]", email),
        ("user[password]", PASSWORD),
        ("user[password_confirmation]", PASSWORD),
    ];
    if let Some(answer) = answer {
        form.push(("cf-turnstile-response", answer));
    }
    c.post("/registration", &form)
}

fn sign_in(c: &mut Client, answer: Option<&str>) -> pow_actix::test_client::Response {
    let csrf = c.get("/session/new").csrf();
    let mut form = vec![
        ("_csrf_token", csrf.as_str()),
        ("user[email]", "ada@example.com"),
        ("user[password]", PASSWORD),
    ];
    if let Some(answer) = answer {
        form.push(("cf-turnstile-response", answer));
    }
    c.post("/session", &form)
}

#[test]
fn the_forms_carry_the_widget() {
    let (url, _) = fake_siteverify();
    let addr = start(config(Captcha::new(turnstile(&url))));
    let mut c = Client::new(addr);
    for page in ["/session/new", "/registration/new"] {
        let body = c.get(page).body;
        assert!(
            body.contains(r#"<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>"#),
            "{body}"
        );
        let widget = r#"<div class="cf-turnstile" data-sitekey="site-key-1"></div>"#;
        let form_end = body.find("</form>").unwrap();
        assert!(
            body[..form_end].contains(widget),
            "{page}: the widget is inside the form"
        );
    }
}

#[test]
fn a_sign_up_needs_a_valid_answer() {
    let (url, seen) = fake_siteverify();
    let addr = start(config(Captcha::new(turnstile(&url))));
    let mut c = Client::new(addr);
    c.headers
        .push(("Referer".into(), format!("http://{addr}/registration/new")));

    // No answer: back to the form with an error, and the service was not asked.
    let res = sign_up(&mut c, "bo@example.com", None);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/registration/new");
    assert!(c.get("/registration/new").body.contains("not a robot"));
    assert!(seen.lock().unwrap().is_empty());
    assert!(!c.cookies.contains_key("pow_session") || c.get("/registration/edit").status != 200);

    // A refused answer: the same, after asking.
    let res = sign_up(&mut c, "bo@example.com", Some("bot"));
    assert_eq!(res.location(), "/registration/new");
    assert_eq!(seen.lock().unwrap().len(), 1);

    // A valid one signs up; the service got the secret, the answer and the address.
    let res = sign_up(&mut c, "bo@example.com", Some("pass"));
    assert_eq!(res.status, 302);
    assert_ne!(res.location(), "/registration/new");
    assert_eq!(c.get("/registration/edit").status, 200);
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last,
        (
            SECRET.to_owned(),
            "pass".to_owned(),
            Some("127.0.0.1".to_owned())
        )
    );
}

#[test]
fn a_sign_in_without_a_local_referer_is_a_bad_request() {
    let (url, _) = fake_siteverify();
    let addr = start(config(Captcha::new(turnstile(&url))));
    let mut c = Client::new(addr);
    let res = sign_in(&mut c, None);
    assert_eq!(res.status, 400);
    assert_eq!(
        c.get("/registration/edit").status,
        302,
        "nobody is signed in"
    );
    let res = sign_in(&mut c, Some("pass"));
    assert_eq!(res.status, 302);
    assert_eq!(c.get("/registration/edit").status, 200);
}

fn a_verifier_that_never_answers_fails_closed() {
    let url = silent_service();
    let captcha = Captcha::new(turnstile(&url)).timeout(Duration::from_millis(300));
    let addr = start(config(captcha));
    let mut c = Client::new(addr);
    c.headers
        .push(("Referer".into(), format!("http://{addr}/session/new")));
    let res = sign_in(&mut c, Some("pass"));
    assert_eq!(res.location(), "/session/new");
    assert!(c
        .get("/session/new")
        .body
        .contains("not available right now"));
    assert_eq!(
        c.get("/registration/edit").status,
        302,
        "nobody is signed in"
    );
    c.headers.clear();
    let res = sign_in(&mut c, Some("pass"));
    assert_eq!(res.status, 503);
    assert!(res.header("retry-after").is_some());
}

fn fail_open_lets_requests_through_while_the_verifier_is_down() {
    let url = silent_service();
    let captcha = Captcha::new(turnstile(&url))
        .timeout(Duration::from_millis(300))
        .fail_open(true);
    let addr = start(config(captcha));
    let mut c = Client::new(addr);
    let res = sign_in(&mut c, Some("anything"));
    assert_eq!(res.status, 302);
    assert_eq!(c.get("/registration/edit").status, 200);
}

#[test]
fn answers_solved_on_another_site_are_refused() {
    let (url, _) = fake_siteverify();
    let verifier = turnstile(&url).hostname("example.com");
    let addr = start(config(Captcha::new(verifier)));
    let mut c = Client::new(addr);
    let res = sign_in(&mut c, Some("pass"));
    assert_eq!(res.status, 400, "the fake service reports localhost");
}

#[actix_web::test]
async fn json_clients_send_the_answer_in_a_header() {
    let (url, _) = fake_siteverify();
    let config = config(Captcha::new(turnstile(&url)));
    let app = atest::init_service(App::new().configure(pow_actix::api::configure(
        config.clone(),
        pow_actix::api::ApiOptions::new(),
    )))
    .await;
    let body = json!({ "user": { "email": "ada@example.com", "password": PASSWORD } });

    let res = atest::call_service(
        &app,
        atest::TestRequest::post()
            .uri("/api/v1/session")
            .set_json(&body)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 400);
    let answer: serde_json::Value = atest::read_body_json(res).await;
    assert_eq!(answer["errors"][0]["code"], "captcha_invalid");

    let res = atest::call_service(
        &app,
        atest::TestRequest::post()
            .uri("/api/v1/session")
            .insert_header(("X-Captcha-Response", "pass"))
            .set_json(&body)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = atest::read_body_json(res).await;
    assert!(answer["data"]["access_token"].is_string());

    // Sign-up too.
    let res = atest::call_service(
        &app,
        atest::TestRequest::post()
            .uri("/api/v1/registration")
            .set_json(json!({ "user": {
                "email": "cy@example.com",
                "password": PASSWORD,
                "password_confirmation": PASSWORD,
            } }))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn json_answers_503_when_the_verifier_never_answers() {
    let url = silent_service();
    let config = config(Captcha::new(turnstile(&url)).timeout(Duration::from_millis(300)));
    let app = atest::init_service(App::new().configure(pow_actix::api::configure(
        config.clone(),
        pow_actix::api::ApiOptions::new(),
    )))
    .await;
    let res = atest::call_service(
        &app,
        atest::TestRequest::post()
            .uri("/api/v1/session")
            .insert_header(("X-Captcha-Response", "pass"))
            .set_json(json!({ "user": { "email": "ada@example.com", "password": PASSWORD } }))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 503);
    let answer: serde_json::Value = atest::read_body_json(res).await;
    assert_eq!(answer["errors"][0]["code"], "captcha_unavailable");
}

fn without_a_captcha_nothing_changes() {
    let config = setup(None);
    let addr = start(config);
    let mut c = Client::new(addr);
    assert!(!c.get("/session/new").body.contains("<script"));
    assert_eq!(sign_in(&mut c, None).status, 302);
}

pow_testkit::on_both!(
    a_verifier_that_never_answers_fails_closed,
    fail_open_lets_requests_through_while_the_verifier_is_down,
    without_a_captcha_nothing_changes,
);

//! The reset-password JSON endpoints over HTTP: asking for a link, checking it, setting
//! the new password; enumeration, tampered and used tokens, revocation of API tokens,
//! link templates, the rate limit, languages and background mail. Every test runs on
//! actix-web and on axum (`on_both!` at the end).
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::http::{header, StatusCode};
use actix_web::test::TestRequest;
use pow_actix::api::{self, LinkTemplate};
use pow_actix::mailer::{Mail, MemoryMailer};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::Limit;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowConfigBuilder};
use pow_ext_reset_password::{MailDelivery, ResetPassword};
use serde_json::{json, Value};

const SENT: &str = "If an account for the provided email exists, an email with reset instructions will be sent to you. Please check your inbox.";
const EXPIRED: &str = "The reset token has expired.";
const UPDATED: &str = "The password has been updated.";
const NOT_UPDATED: &str = "The password could not be updated.";
const INVALID_CREDENTIALS: &str =
    "The provided login details did not work. Please verify your credentials, and try again.";

/// A config with a fresh SQLite file, a fast hasher, `mailer` and `ext` enabled;
/// `alice@example.com` (password `old password`) exists.
fn config(
    ext: &ResetPassword,
    mailer: &MemoryMailer,
    tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> PowConfig {
    let db = std::env::temp_dir().join(format!(
        "pow-reset-password-api-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let builder = PowConfig::builder("r".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(mailer.clone())
        .base_url("http://localhost")
        .extension(ext.clone());
    let config = tweak(builder).build().unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "alice@example.com", "old password").unwrap();
    config
}

/// Serves the JSON API of `config`, with the app's own `GET /api/v1/me` behind the bearer
/// layer, on the test's framework.
macro_rules! app {
    ($config:expr) => {{
        let config: PowConfig = $config.clone();
        pow_testkit::serve_api(config, pow_core::api::ApiOptions::new())
    }};
}

struct Res {
    status: StatusCode,
    headers: header::HeaderMap,
    json: Value,
}

impl Res {
    fn message(&self) -> &str {
        self.json["errors"][0]["message"]
            .as_str()
            .or_else(|| self.json["data"]["message"].as_str())
            .unwrap_or_default()
    }
}

async fn send(app: &SocketAddr, req: ServiceRequest) -> Res {
    let answer = pow_testkit::send(*app, req).await;
    let status = StatusCode::from_u16(answer.status).unwrap();
    let mut headers = header::HeaderMap::new();
    for (name, value) in &answer.headers {
        headers.append(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            header::HeaderValue::from_str(value).unwrap(),
        );
    }
    let json = answer.json();
    Res {
        status,
        headers,
        json,
    }
}

fn ask(email: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/reset-password")
        .set_json(json!({ "user": { "email": email } }))
}

fn check(token: &str) -> TestRequest {
    TestRequest::get().uri(&format!("/api/v1/reset-password/{token}"))
}

fn set(token: &str, password: &str, confirmation: &str) -> TestRequest {
    TestRequest::patch()
        .uri(&format!("/api/v1/reset-password/{token}"))
        .set_json(json!({ "user": {
            "password": password,
            "password_confirmation": confirmation,
        }}))
}

fn sign_in(password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/session")
        .set_json(json!({ "user": { "email": "alice@example.com", "password": password } }))
}

fn bearer(req: TestRequest, token: &Value) -> TestRequest {
    req.insert_header((
        header::AUTHORIZATION,
        format!("Bearer {}", token.as_str().unwrap()),
    ))
}

/// The link in the newest mail to `to`: the line of its text starting with `prefix`.
fn link_in_mail(mail: &Mail, prefix: &str) -> String {
    let url = mail
        .text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} link in {}", mail.text))
        .to_owned();
    assert!(mail.html.contains(&format!("href=\"{url}\"")));
    url
}

/// The token of the HTML page link in the newest mail to alice.
fn token_in_mail(mailer: &MemoryMailer) -> String {
    let mail = mailer.last_to("alice@example.com").expect("a reset mail");
    link_in_mail(&mail, "http://localhost/reset-password/")
        .trim_start_matches("http://localhost/reset-password/")
        .to_owned()
}

fn inline() -> ResetPassword {
    ResetPassword::new().mail_delivery(MailDelivery::Inline)
}

async fn reset_over_json_end_to_end() {
    let ext = inline();
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| b);
    let app = app!(config);

    // Two pairs from before the reset, on two devices.
    let phone = send(&app, sign_in("old password").to_srv_request()).await;
    assert_eq!(phone.status, StatusCode::OK, "{}", phone.json);
    let laptop = send(&app, sign_in("old password").to_srv_request()).await;

    let res = send(&app, ask("Alice@Example.com ").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_eq!(
        res.json,
        json!({ "status": 200, "data": { "message": SENT } })
    );
    assert_eq!(res.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    // One reset mail (the two sign-ins above each sent a "new API client" notice).
    let subjects: Vec<String> = mailer.deliveries().into_iter().map(|m| m.subject).collect();
    assert_eq!(
        subjects,
        [
            "A new API client signed in",
            "A new API client signed in",
            "Reset password link"
        ]
    );
    let token = token_in_mail(&mailer);

    // The link works (more than once) until it is used.
    for _ in 0..2 {
        let res = send(&app, check(&token).to_srv_request()).await;
        assert_eq!(
            (res.status, &res.json),
            (StatusCode::OK, &json!({ "status": 200, "data": {} }))
        );
    }

    // Invalid params: per-field errors; the token stays valid.
    let res = send(
        &app,
        set(&token, "new password", "other password").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.json);
    assert_eq!(
        res.json,
        json!({ "status": 422, "errors": [
            { "code": "invalid", "message": NOT_UPDATED },
            {
                "code": "confirmation",
                "param": "password_confirmation",
                "message": "does not match confirmation",
            },
        ]})
    );
    let res = send(&app, set(&token, "short", "short").to_srv_request()).await;
    assert_eq!(
        pow_actix::testing::field_errors(&res.json, "password"),
        json!(["should be at least 8 characters"])
    );
    assert_eq!(
        send(&app, check(&token).to_srv_request()).await.status,
        StatusCode::OK
    );

    // PUT works like PATCH.
    let put = TestRequest::put()
        .uri(&format!("/api/v1/reset-password/{token}"))
        .set_json(json!({ "user": {
            "password": "new password",
            "password_confirmation": "new password",
        }}))
        .to_srv_request();
    let res = send(&app, put).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_eq!(
        res.json,
        json!({ "status": 200, "data": { "message": UPDATED } })
    );

    // Every pair from before the reset is revoked, renewal tokens included.
    for pair in [&phone.json["data"], &laptop.json["data"]] {
        let res = send(
            &app,
            bearer(TestRequest::get().uri("/api/v1/me"), &pair["access_token"]).to_srv_request(),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        let res = send(
            &app,
            bearer(
                TestRequest::post().uri("/api/v1/session/renew"),
                &pair["renewal_token"],
            )
            .to_srv_request(),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }

    // The old password is refused, the new one works.
    let res = send(&app, sign_in("old password").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.message(), INVALID_CREDENTIALS);
    let res = send(&app, sign_in("new password").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send(
        &app,
        bearer(
            TestRequest::get().uri("/api/v1/me"),
            &res.json["data"]["access_token"],
        )
        .to_srv_request(),
    )
    .await;
    assert_eq!(res.json["data"]["email"], "alice@example.com");

    // The token worked once.
    let res = send(
        &app,
        set(&token, "third password", "third password").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(
        res.json,
        json!({ "status": 404, "errors": [{ "code": "invalid_token", "message": EXPIRED }] })
    );
    assert_eq!(
        send(&app, check(&token).to_srv_request()).await.status,
        StatusCode::NOT_FOUND
    );
    let res = send(&app, sign_in("third password").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn unknown_addresses_get_the_same_answer_and_no_mail() {
    let ext = inline();
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| b);
    let app = app!(config);

    let known = send(&app, ask("alice@example.com").to_srv_request()).await;
    let unknown = send(&app, ask("nobody@example.com").to_srv_request()).await;
    assert_eq!(unknown.status, known.status);
    assert_eq!(unknown.json, known.json);
    assert_eq!(mailer.deliveries().len(), 1);

    // A missing email is refused as no address (it tells nothing about accounts).
    let req = TestRequest::post()
        .uri("/api/v1/reset-password")
        .set_json(json!({ "user": {} }))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.json);
    assert_eq!(res.json["errors"][0]["code"], "invalid_email");

    // In German.
    let req = ask("nobody@example.com")
        .insert_header((header::ACCEPT_LANGUAGE, "de"))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.message().starts_with("Falls ein Konto"), "{}", res.json);

    // Not JSON.
    let req = TestRequest::post()
        .uri("/api/v1/reset-password")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload("user[email]=alice@example.com")
        .to_srv_request();
    assert_eq!(send(&app, req).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(mailer.deliveries().len(), 1);
}

async fn without_enumeration_protection_unknown_addresses_are_named() {
    let ext = inline();
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| b.prevent_user_enumeration(false));
    let app = app!(config);
    let res = send(&app, ask("nobody@example.com").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.json["errors"][0]["code"], "user_not_found");
    assert_eq!(
        res.message(),
        "No account exists for the provided email. Please try again."
    );
    let res = send(&app, ask("alice@example.com").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn tampered_and_foreign_tokens_are_rejected() {
    let ext = inline();
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| b);
    let app = app!(config);
    send(&app, ask("alice@example.com").to_srv_request()).await;
    let token = token_in_mail(&mailer);

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let other_payload = {
        let mut p = parts.clone();
        p[1] = "b3RoZXItaWQ".into();
        p.join(".")
    };
    let last = parts[2].pop().unwrap();
    parts[2].push(if last == 'A' { 'B' } else { 'A' });
    let flipped_signature = parts.join(".");
    let uuid = String::from_utf8(base64_url_decode(token.split('.').nth(1).unwrap())).unwrap();
    // The right id, signed for another purpose.
    let other_salt = config.verifier().sign_token(api::RENEWAL_TOKEN_SALT, &uuid);
    let wrong_key = pow_actix::token::MessageVerifier::new(&[b'x'; 64])
        .sign_token(pow_ext_reset_password::TOKEN_SALT, &uuid);
    // An API access token is no reset token.
    let pair = send(&app, sign_in("old password").to_srv_request()).await;
    let access = pair.json["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    for bad in [
        other_payload.as_str(),
        flipped_signature.as_str(),
        other_salt.as_str(),
        wrong_key.as_str(),
        access.as_str(),
        &uuid,
        "garbage",
    ] {
        let res = send(&app, check(bad).to_srv_request()).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(res.json["errors"][0]["code"], "invalid_token");
        let res = send(
            &app,
            set(bad, "new password", "new password").to_srv_request(),
        )
        .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(res.message(), EXPIRED);
    }
    let res = send(&app, sign_in("new password").to_srv_request()).await;
    assert_eq!(
        res.status,
        StatusCode::UNAUTHORIZED,
        "no forgery got through"
    );

    // The real token still works, and the translation follows the client.
    let req = set(&token, "x", "x")
        .insert_header((header::ACCEPT_LANGUAGE, "fr"))
        .to_srv_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.message(), "Le mot de passe n’a pas pu être mis à jour.");
    let res = send(
        &app,
        set(&token, "new password", "new password").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

async fn a_link_template_points_mails_at_the_client() {
    // Set on the JSON side, or for the setup (the pages' mails follow that one too).
    for setup_wide in [false, true] {
        link_template_points_mails_at_the_client(setup_wide).await;
    }
}

async fn link_template_points_mails_at_the_client(setup_wide: bool) {
    let mailer = MemoryMailer::new();
    let template = LinkTemplate::new("https://app.example.com/reset?token={token}").unwrap();
    let config = if setup_wide {
        config(&inline(), &mailer, |b| {
            b.frontend_link(pow_ext_reset_password::LINK, template)
        })
    } else {
        config(&inline().api_link_template(template), &mailer, |b| b)
    };
    let app = app!(config);

    send(&app, ask("alice@example.com").to_srv_request()).await;
    let mail = mailer.last_to("alice@example.com").unwrap();
    let url = link_in_mail(&mail, "https://app.example.com/reset?token=");
    let token = url.trim_start_matches("https://app.example.com/reset?token=");
    assert!(!mail.text.contains("http://localhost"), "{}", mail.text);

    let res = send(
        &app,
        set(token, "new password", "new password").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    let res = send(&app, sign_in("new password").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn the_mail_rate_limit_holds_over_json() {
    let ext = inline().mail_rate_limit(Some(Limit::new(2, Duration::from_secs(3600))));
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| b);
    let app = app!(config);
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(
            send(&app, ask("alice@example.com").to_srv_request())
                .await
                .json,
        );
    }
    assert_eq!(mailer.count_to("alice@example.com"), 2);
    assert!(answers
        .iter()
        .all(|a| *a == json!({ "status": 200, "data": { "message": SENT } })));
}

async fn sessions_can_be_kept_on_reset() {
    let ext = inline().revoke_sessions(false);
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| b);
    let app = app!(config);
    let pair = send(&app, sign_in("old password").to_srv_request()).await;
    send(&app, ask("alice@example.com").to_srv_request()).await;
    let token = token_in_mail(&mailer);
    let res = send(
        &app,
        set(&token, "new password", "new password").to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = send(
        &app,
        bearer(
            TestRequest::get().uri("/api/v1/me"),
            &pair.json["data"]["access_token"],
        )
        .to_srv_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
}

async fn background_delivery_is_the_default_over_json_too() {
    let ext = ResetPassword::new();
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| b);
    let app = app!(config);
    let res = send(&app, ask("alice@example.com").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
    // The mail goes out in a task of its own on the server's thread, after the answer.
    mailer
        .next_to("alice@example.com", 0, Duration::from_secs(30))
        .await
        .expect("the reset mail is delivered");
    let token = token_in_mail(&mailer);
    let res = send(&app, check(&token).to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK);
}

/// With a CAPTCHA configured, a JSON reset request needs the answer in
/// `X-Captcha-Response`: without it, `400 captcha_invalid` and no mail.
async fn a_configured_captcha_guards_json_reset_requests() {
    let ext = inline();
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| {
        b.captcha(pow_actix::captcha::Captcha::new(
            pow_actix::testing::TestCaptcha,
        ))
    });
    let app = app!(config);

    let res = send(&app, ask("alice@example.com").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.json);
    assert_eq!(res.json["errors"][0]["code"], "captcha_invalid");
    assert_eq!(mailer.count_to("alice@example.com"), 0);

    let res = send(
        &app,
        ask("alice@example.com")
            .insert_header(("X-Captcha-Response", "pass"))
            .to_srv_request(),
    )
    .await;
    assert!(res.status.is_success(), "{}", res.json);
    assert_eq!(mailer.count_to("alice@example.com"), 1);
}

async fn an_address_nobody_could_receive_is_refused() {
    let ext = inline();
    let mailer = MemoryMailer::new();
    let config = config(&ext, &mailer, |b| b);
    let app = app!(config);
    for email in ["", " ", "alice", "alice@"] {
        let res = send(&app, ask(email).to_srv_request()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email:?}: {}",
            res.json
        );
        assert_eq!(res.json["errors"][0]["code"], "invalid_email");
        assert_eq!(res.message(), "Please enter a valid e-mail address.");
        assert!(
            pow_actix::testing::field_errors(&res.json, "email")[0].is_string(),
            "{}",
            res.json
        );
    }
    assert!(mailer.deliveries().is_empty());
    let res = send(&app, ask("nobody@example.com").to_srv_request()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
}

pow_testkit::on_both!(
    async reset_over_json_end_to_end,
    unknown_addresses_get_the_same_answer_and_no_mail,
    without_enumeration_protection_unknown_addresses_are_named,
    tampered_and_foreign_tokens_are_rejected,
    a_link_template_points_mails_at_the_client,
    the_mail_rate_limit_holds_over_json,
    sessions_can_be_kept_on_reset,
    background_delivery_is_the_default_over_json_too,
    a_configured_captcha_guards_json_reset_requests,
    an_address_nobody_could_receive_is_refused,
);

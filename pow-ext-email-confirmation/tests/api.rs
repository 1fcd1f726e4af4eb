//! The email-confirmation side of the JSON API over HTTP: strict mode refusing tokens,
//! soft mode flagging them, confirming with the mailed token, the signed-in user's state
//! and resend, tampered tokens, taken addresses, link templates and the resend limit.
//! Every test runs on actix-web and on axum (`on_both!` at the end).
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use actix_web::http::{header, StatusCode};
use actix_web::test::TestRequest;
use pow_actix::api::LinkTemplate;
use pow_actix::mailer::{Mail, MemoryMailer};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::{Params, User, Value};
use pow_actix::PowConfig;
use pow_ext_email_confirmation::{
    confirm_user, is_confirmed, EmailConfirmation, TOKEN_FIELD, TOKEN_SALT,
};
use serde_json::{json, Value as Json};

const PASSWORD: &str = "correct horse";
const REQUIRED: &str = "You'll need to confirm your e-mail before you can sign in. An e-mail confirmation link has been sent to you.";
const REQUIRED_FOR_UPDATE: &str = "You'll need to confirm the e-mail before it's updated. An e-mail confirmation link has been sent to you.";
const SENT: &str =
    "Please confirm your e-mail address. An e-mail confirmation link has been sent to you.";
const NOT_CONFIRMED: &str =
    "Your e-mail address isn't confirmed yet. Please open the link in the confirmation e-mail.";
const CONFIRMED: &str = "The email address has been confirmed.";
const FAILED: &str = "The email address couldn't be confirmed.";
const INVALID: &str = "The confirmation token is invalid or has expired.";

struct Setup {
    config: PowConfig,
    mailer: MemoryMailer,
}

impl Setup {
    fn new(ext: &EmailConfirmation) -> Self {
        let db = std::env::temp_dir().join(format!(
            "pow-email-confirmation-api-{}.db",
            pow_actix::token::generate_uuid()
        ));
        let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
        let mailer = MemoryMailer::new();
        let config = PowConfig::builder("x".repeat(64))
            .users(users.clone())
            .mailer(mailer.clone())
            .hasher(Pbkdf2Hasher::new(1))
            .base_url("http://localhost")
            .extension(ext.clone())
            .build()
            .unwrap();
        users.migrate(&config).unwrap();
        Self { config, mailer }
    }

    fn user(&self, email: &str) -> User {
        self.config
            .users_context()
            .unwrap()
            .get_by(self.config.user_schema(), "email", &Value::from(email))
            .unwrap()
            .unwrap_or_else(|| panic!("no user {email}"))
    }

    /// How many mails went to `to`, the "new API client" security notices aside.
    fn confirmations(&self, to: &str) -> usize {
        self.mailer
            .deliveries()
            .iter()
            .filter(|m| m.to == to && !m.subject.contains("API"))
            .count()
    }

    fn last_mail(&self, to: &str) -> Mail {
        self.mailer
            .last_to(to)
            .unwrap_or_else(|| panic!("no mail to {to}"))
    }
}

/// Serves the JSON API of the setup, with the app's own `GET /api/v1/me` behind the bearer
/// layer, on the test's framework.
macro_rules! app {
    ($setup:expr) => {{
        let config: PowConfig = $setup.config.clone();
        pow_testkit::serve_api(config, pow_core::api::ApiOptions::new())
    }};
}

async fn send(app: &SocketAddr, req: ServiceRequest) -> (StatusCode, Json) {
    let answer = pow_testkit::send(*app, req).await;
    (StatusCode::from_u16(answer.status).unwrap(), answer.json())
}

fn register(email: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/registration")
        .set_json(json!({ "user": {
            "email": email,
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        }}))
}

fn sign_in(email: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/session")
        .set_json(json!({ "user": { "email": email, "password": PASSWORD } }))
}

fn confirm(token: &str) -> TestRequest {
    TestRequest::post().uri(&format!("/api/v1/confirm-email/{token}"))
}

fn bearer(req: TestRequest, token: &Json) -> TestRequest {
    req.insert_header((
        header::AUTHORIZATION,
        format!("Bearer {}", token.as_str().unwrap()),
    ))
}

fn state(access: &Json) -> TestRequest {
    bearer(TestRequest::get().uri("/api/v1/confirm-email"), access)
}

fn resend(access: &Json) -> TestRequest {
    bearer(TestRequest::post().uri("/api/v1/confirm-email"), access)
}

/// The signed token of the link starting with `prefix` in `mail`.
fn token_in(mail: &Mail, prefix: &str) -> String {
    let start = mail
        .text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {}", mail.text));
    let url: String = mail.text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(mail.html.contains(&format!("href=\"{url}\"")));
    url.trim_start_matches(prefix).to_owned()
}

fn html_token(mail: &Mail) -> String {
    token_in(mail, "http://localhost/confirm-email/")
}

fn error(code: &str, status: u16, message: &str) -> Json {
    let mut answer = json!({ "status": status, "errors": [{ "code": code, "message": message }] });
    if code == "email_confirmation_required" {
        answer["status"] = json!(401);
        answer["data"] =
            json!({ "pending": [{ "step": "confirm_email", "methods": ["email_link"] }] });
    }
    answer
}

async fn strict_mode_refuses_tokens_until_the_address_is_confirmed() {
    let ext = EmailConfirmation::new();
    let s = Setup::new(&ext);
    let app = app!(s);

    // Sign-up: the account is made and the link mailed, but no tokens.
    let (status, body) = send(&app, register("Jane@Example.com").to_srv_request()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body, error("email_confirmation_required", 401, REQUIRED));
    let jane = s.user("jane@example.com");
    assert!(!is_confirmed(&jane));
    let mail = s.last_mail("jane@example.com");
    assert_eq!(mail.subject, "Confirm your email address");
    let token = html_token(&mail);
    // The row holds the keyed hash of the link's token, not the token.
    let raw = s
        .config
        .verifier()
        .verify_token(TOKEN_SALT, &token)
        .unwrap();
    // The row holds the token's nonce and keyed hash, never the token (nor its MAC).
    let stored = jane.get_str(TOKEN_FIELD).unwrap();
    let (nonce, mac) = raw.split_once('.').unwrap();
    let digest = s.config.verifier().token_digest("email_confirmation", &raw);
    assert_eq!(stored, format!("{nonce}${digest}"));
    assert!(!stored.contains(mac), "{stored}");

    // Sign-in before confirming: refused, and the link is mailed again, in German here.
    let req = sign_in("jane@example.com")
        .insert_header((header::ACCEPT_LANGUAGE, "de"))
        .to_srv_request();
    let (status, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["code"], "email_confirmation_required");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Sie müssen Ihre E-Mail-Adresse bestätigen"),
        "{body}"
    );
    assert_eq!(s.confirmations("jane@example.com"), 2);
    let resent = s.last_mail("jane@example.com");
    assert_eq!(resent.subject, "Bestätigen Sie Ihre E-Mail-Adresse");
    // The mail sent again carries the same link: the first one keeps working.
    assert_eq!(html_token(&resent), token);
    // A wrong password is still just a wrong password.
    let req = TestRequest::post()
        .uri("/api/v1/session")
        .set_json(json!({ "user": { "email": "jane@example.com", "password": "nope" } }))
        .to_srv_request();
    assert_eq!(send(&app, req).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.confirmations("jane@example.com"), 2);

    // Confirm with the mailed token; it works once.
    let (status, body) = send(&app, confirm(&token).to_srv_request()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "status": 200, "data": {
            "email": "jane@example.com",
            "email_confirmed": true,
            "unconfirmed_email": null,
            "message": CONFIRMED,
        }})
    );
    assert!(is_confirmed(&s.user("jane@example.com")));
    let (status, body) = send(&app, confirm(&token).to_srv_request()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, error("invalid_token", 404, INVALID));

    // Now signing in works.
    let (status, body) = send(&app, sign_in("jane@example.com").to_srv_request()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_confirmed"], true);
    let access = &body["data"]["access_token"];
    let (status, me) = send(
        &app,
        bearer(TestRequest::get().uri("/api/v1/me"), access).to_srv_request(),
    )
    .await;
    assert_eq!(
        (status, &me["data"]["email"]),
        (StatusCode::OK, &json!("jane@example.com"))
    );
    let (status, body) = send(&app, state(access).to_srv_request()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "status": 200, "data": {
            "email": "jane@example.com",
            "email_confirmed": true,
            "unconfirmed_email": null,
        }})
    );
}

async fn tampered_and_foreign_tokens_do_not_confirm() {
    let ext = EmailConfirmation::new();
    let s = Setup::new(&ext);
    let app = app!(s);
    send(&app, register("jane@example.com").to_srv_request()).await;
    send(&app, register("joe@example.com").to_srv_request()).await;
    let token = html_token(&s.last_mail("jane@example.com"));
    let raw = s
        .config
        .verifier()
        .verify_token(TOKEN_SALT, &token)
        .unwrap();
    // What the row holds, signed as a link: it opens nothing.
    let stored = s.config.verifier().sign_token(
        TOKEN_SALT,
        s.user("jane@example.com").get_str(TOKEN_FIELD).unwrap(),
    );

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let last = parts[2].pop().unwrap();
    parts[2].push(if last == 'A' { 'B' } else { 'A' });
    let flipped = parts.join(".");
    let other_salt = s
        .config
        .verifier()
        .sign_token("Elixir.PowResetPassword.Plug", &raw);
    let wrong_key =
        pow_actix::token::MessageVerifier::new(&[b'k'; 64]).sign_token(TOKEN_SALT, &raw);
    let unknown = s
        .config
        .verifier()
        .sign_token(TOKEN_SALT, &pow_actix::token::generate_uuid());
    for bad in [
        flipped.as_str(),
        other_salt.as_str(),
        wrong_key.as_str(),
        unknown.as_str(),
        stored.as_str(),
        raw.as_str(),
        "garbage",
    ] {
        let (status, body) = send(&app, confirm(bad).to_srv_request()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(body, error("invalid_token", 404, INVALID));
    }
    assert!(!is_confirmed(&s.user("jane@example.com")));
    assert!(!is_confirmed(&s.user("joe@example.com")));

    // The real one still works, for its own user only.
    assert_eq!(
        send(&app, confirm(&token).to_srv_request()).await.0,
        StatusCode::OK
    );
    assert!(is_confirmed(&s.user("jane@example.com")));
    assert!(!is_confirmed(&s.user("joe@example.com")));
}

async fn soft_mode_issues_tokens_and_tells_the_user() {
    let ext = EmailConfirmation::new().soft(true);
    let s = Setup::new(&ext);
    let app = app!(s);

    // Sign-up: tokens, flagged, and the link mailed.
    let (status, body) = send(&app, register("jane@example.com").to_srv_request()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_confirmed"], false);
    assert_eq!(body["data"]["email_confirmation_message"], SENT);
    assert_eq!(s.confirmations("jane@example.com"), 1);
    let access = body["data"]["access_token"].clone();
    let renewal = body["data"]["renewal_token"].clone();

    // The signed-in user is told, on request.
    let (status, body) = send(&app, state(&access).to_srv_request()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "status": 200, "data": {
            "email": "jane@example.com",
            "email_confirmed": false,
            "unconfirmed_email": null,
            "message": NOT_CONFIRMED,
        }})
    );
    // The session lists the step still pending.
    let session = || bearer(TestRequest::get().uri("/api/v1/session"), &access).to_srv_request();
    let (status, body) = send(&app, session()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["pending"],
        json!([{ "step": "confirm_email", "methods": ["email_link"] }])
    );
    // Only the signed-in user.
    let (status, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/confirm-email")
            .to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["message"], "Not authenticated");
    let (status, _) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/confirm-email")
            .to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Sign-in: tokens, flagged; no mail (as the HTML sign-in in soft mode).
    let (status, body) = send(&app, sign_in("jane@example.com").to_srv_request()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email_confirmed"], false);
    assert_eq!(body["data"]["email_confirmation_message"], NOT_CONFIRMED);
    assert_eq!(s.confirmations("jane@example.com"), 1);

    // Resend, then confirm with the newest link.
    let (status, body) = send(&app, resend(&access).to_srv_request()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["message"], SENT);
    assert_eq!(body["data"]["email_confirmed"], false);
    assert_eq!(s.confirmations("jane@example.com"), 2);
    let token = html_token(&s.last_mail("jane@example.com"));
    assert_eq!(
        send(&app, confirm(&token).to_srv_request()).await.0,
        StatusCode::OK
    );

    // The same access token now sees a confirmed user, and renewals say so.
    let (_, body) = send(&app, state(&access).to_srv_request()).await;
    assert_eq!(body["data"]["email_confirmed"], true);
    assert_eq!(body["data"].get("message"), None);
    let (_, body) = send(&app, session()).await;
    assert_eq!(
        body["data"]["pending"],
        json!([]),
        "nothing pending once confirmed"
    );
    let (status, body) = send(
        &app,
        bearer(TestRequest::post().uri("/api/v1/session/renew"), &renewal).to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email_confirmed"], true);
    assert_eq!(body["data"].get("email_confirmation_message"), None);

    // Nothing left to confirm: no mail.
    let (_, body) = send(&app, resend(&body["data"]["access_token"]).to_srv_request()).await;
    assert_eq!(body["data"]["email_confirmed"], true);
    assert_eq!(body["data"].get("message"), None);
    assert_eq!(s.confirmations("jane@example.com"), 2);
}

async fn a_pending_address_change_is_reported_resent_and_can_be_taken_meanwhile() {
    let ext = EmailConfirmation::new();
    let s = Setup::new(&ext);
    let app = app!(s);
    send(&app, register("jane@example.com").to_srv_request()).await;
    let jane = confirm_user(&s.config, &s.user("jane@example.com")).unwrap();

    // Jane asks for a new address (as the account page would).
    let params: Params = [("email", "new@example.com"), ("current_password", PASSWORD)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    s.config
        .users_context()
        .unwrap()
        .update(s.config.user_schema(), &jane, &params)
        .unwrap()
        .unwrap();

    let (status, body) = send(&app, sign_in("jane@example.com").to_srv_request()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a pending change does not block sign-in"
    );
    let access = body["data"]["access_token"].clone();
    let (_, body) = send(&app, state(&access).to_srv_request()).await;
    assert_eq!(
        body,
        json!({ "status": 200, "data": {
            "email": "jane@example.com",
            "email_confirmed": true,
            "unconfirmed_email": "new@example.com",
            "message": REQUIRED_FOR_UPDATE,
        }})
    );
    let session = bearer(TestRequest::get().uri("/api/v1/session"), &access).to_srv_request();
    let (_, body) = send(&app, session).await;
    assert_eq!(
        body["data"]["pending"],
        json!([{ "step": "confirm_email_change", "methods": ["email_link"] }])
    );
    let (_, body) = send(&app, resend(&access).to_srv_request()).await;
    assert_eq!(body["data"]["message"], REQUIRED_FOR_UPDATE);
    let token = html_token(&s.last_mail("new@example.com"));

    // Someone else takes the address before Jane confirms it.
    send(&app, register("new@example.com").to_srv_request()).await;
    let (status, body) = send(&app, confirm(&token).to_srv_request()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body, error("email_taken", 409, FAILED));
    assert_eq!(s.user("jane@example.com").id, jane.id);
}

/// An address change over JSON mails as the account page does: the link to the new
/// address, a notice with a cancel link to the current one; the cancel link's token drops
/// the change over JSON, once.
async fn an_address_change_over_json_can_be_cancelled_over_json() {
    let ext = EmailConfirmation::new();
    let s = Setup::new(&ext);
    let app = app!(s);
    send(&app, register("jane@example.com").to_srv_request()).await;
    confirm_user(&s.config, &s.user("jane@example.com")).unwrap();
    let (_, body) = send(&app, sign_in("jane@example.com").to_srv_request()).await;
    let access = body["data"]["access_token"].clone();

    let change = TestRequest::patch()
        .uri("/api/v1/registration")
        .set_json(json!({
            "user": {"email": "new@example.com", "current_password": PASSWORD}
        }));
    let (status, body) = send(&app, bearer(change, &access).to_srv_request()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["data"]["access_token"].clone();
    let (_, body) = send(&app, state(&access).to_srv_request()).await;
    assert_eq!(body["data"]["unconfirmed_email"], "new@example.com");
    // The new address got its link, the current one the notice.
    html_token(&s.last_mail("new@example.com"));
    let cancel = token_in(
        &s.last_mail("jane@example.com"),
        "http://localhost/confirm-email/cancel/",
    );

    let cancel_request =
        |token: &str| TestRequest::post().uri(&format!("/api/v1/confirm-email/cancel/{token}"));
    let (status, body) = send(&app, cancel_request("forged").to_srv_request()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["errors"][0]["code"], "invalid_token");
    let (status, body) = send(&app, cancel_request(&cancel).to_srv_request()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email"], "jane@example.com");
    assert_eq!(body["data"]["unconfirmed_email"], Json::Null);
    assert!(s
        .user("jane@example.com")
        .get_str("unconfirmed_email")
        .is_none());
    let (status, _) = send(&app, cancel_request(&cancel).to_srv_request()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "once");
}

async fn a_link_template_points_mails_at_the_client() {
    let template = LinkTemplate::new("myapp://confirm-email/{token}").unwrap();
    let ext = EmailConfirmation::new().api_link_template(template);
    let s = Setup::new(&ext);
    let app = app!(s);
    send(&app, register("jane@example.com").to_srv_request()).await;
    let mail = s.last_mail("jane@example.com");
    assert!(!mail.text.contains("http://localhost"), "{}", mail.text);
    let token = token_in(&mail, "myapp://confirm-email/");
    assert_eq!(
        send(&app, confirm(&token).to_srv_request()).await.0,
        StatusCode::OK
    );
    let (status, _) = send(&app, sign_in("jane@example.com").to_srv_request()).await;
    assert_eq!(status, StatusCode::OK);
}

async fn refused_sign_ins_respect_the_resend_limit() {
    let ext = EmailConfirmation::new().resend_limit(Some(pow_actix::store::Limit {
        max: 2,
        per: Duration::from_secs(3600),
    }));
    let s = Setup::new(&ext);
    let app = app!(s);
    send(&app, register("jane@example.com").to_srv_request()).await;
    for _ in 0..3 {
        let (status, body) = send(&app, sign_in("jane@example.com").to_srv_request()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, error("email_confirmation_required", 401, REQUIRED));
    }
    assert_eq!(s.confirmations("jane@example.com"), 2);
}

/// Strict mode over JSON: signing up with a taken address gets the very answer a new
/// address gets; no confirmation link is mailed, the owner is told of the attempt.
async fn a_taken_address_signs_up_like_a_new_one() {
    let ext = EmailConfirmation::new();
    let s = Setup::new(&ext);
    let app = app!(s);
    let new = send(&app, register("jane@example.com").to_srv_request()).await;
    let mails = s.mailer.deliveries().len();
    let taken = send(&app, register("Jane@Example.com").to_srv_request()).await;
    assert_eq!(new, taken);
    assert_eq!(taken.0, StatusCode::UNAUTHORIZED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.mailer.deliveries().len() == mails {
        assert!(std::time::Instant::now() < deadline, "no notice arrived");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let new_mails = &s.mailer.deliveries()[mails..];
    assert_eq!(new_mails.len(), 1, "{new_mails:?}");
    assert_eq!(
        new_mails[0].subject,
        "Someone tried to register with your email address"
    );
}

/// Soft mode over JSON signs a new user in at once (a token pair), which a taken address
/// cannot mimic without handing out tokens: the taken address keeps its `422` (as
/// documented in the guide), and nobody is mailed or signed in.
async fn soft_mode_answers_a_taken_address_with_422() {
    let ext = EmailConfirmation::new().soft(true);
    let s = Setup::new(&ext);
    let app = app!(s);
    let (status, new) = send(&app, register("jane@example.com").to_srv_request()).await;
    assert_eq!(status, StatusCode::OK, "{new}");
    assert!(new["data"]["access_token"].is_string(), "{new}");
    let mails = s.mailer.deliveries().len();
    let (status, taken) = send(&app, register("Jane@Example.com").to_srv_request()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{taken}");
    assert!(
        taken.to_string().contains("has already been taken"),
        "{taken}"
    );
    assert!(taken.get("data").is_none(), "no tokens: {taken}");
    assert_eq!(
        s.mailer.deliveries().len(),
        mails,
        "no mail for the taken address"
    );
}

pow_testkit::on_both!(
    async strict_mode_refuses_tokens_until_the_address_is_confirmed,
    tampered_and_foreign_tokens_do_not_confirm,
    soft_mode_issues_tokens_and_tells_the_user,
    a_pending_address_change_is_reported_resent_and_can_be_taken_meanwhile,
    an_address_change_over_json_can_be_cancelled_over_json,
    a_link_template_points_mails_at_the_client,
    refused_sign_ins_respect_the_resend_limit,
    a_taken_address_signs_up_like_a_new_one,
    soft_mode_answers_a_taken_address_with_422,
);

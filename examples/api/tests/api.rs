//! Drives the API example end to end: the OpenAPI document, sign-up with email
//! confirmation, the protected endpoint, renewal, sign-out, sign-out everywhere, password
//! reset and errors.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use pow_core::mailer::{Mail, MemoryMailer};
use pow_core::password::Pbkdf2Hasher;
use pow_ext_email_confirmation::EmailConfirmation;
use pow_ext_reset_password::ResetPassword;
use serde_json::{json, Value};

const APP_URL: &str = "https://app.example.com";

fn settings() -> example_api::Settings {
    let db = std::env::temp_dir().join(format!(
        "pow-api-example-test-{}.db",
        pow_core::token::generate_uuid()
    ));
    example_api::Settings {
        database_url: db.display().to_string(),
        bind: "127.0.0.1:0".into(),
        secret_key_base: "k".repeat(64),
        app_url: format!("{APP_URL}/"),
        reset_password: ResetPassword::new(),
        email_confirmation: EmailConfirmation::new(),
    }
}

/// Builds the example's app as `main` does, with a fast hasher and an in-memory mailer.
macro_rules! start {
    ($settings:expr) => {{
        let settings: example_api::Settings = $settings;
        let mailer = MemoryMailer::new();
        let config = example_api::build(&settings, |b| {
            b.hasher(Pbkdf2Hasher::new(1)).mailer(mailer.clone())
        })
        .unwrap();
        let options = example_api::api_options(&settings).unwrap();
        let app = test::init_service(example_api::app(config, options)).await;
        (app, mailer)
    }};
}

/// The token of the link to `page` of the client app in the newest mail to `to`.
fn token_in_mail(mailer: &MemoryMailer, to: &str, page: &str) -> String {
    let mail: Mail = mailer
        .last_to(to)
        .unwrap_or_else(|| panic!("no mail to {to}"));
    let prefix = format!("{APP_URL}/{page}?token=");
    let url = mail
        .text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} link in {}", mail.text));
    assert!(mail.html.contains(&format!("href=\"{url}\"")));
    url.trim_start_matches(&prefix).to_owned()
}

/// Waits for a reset mail to `to` beyond the `before` mails it had, which goes out in a
/// task of its own on this thread.
async fn reset_mail_token(mailer: &MemoryMailer, to: &str, before: usize) -> String {
    for _ in 0..10_000 {
        if mailer.count_to(to) > before {
            break;
        }
        actix_web::rt::task::yield_now().await;
    }
    token_in_mail(mailer, to, "reset-password")
}

fn registration(email: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/registration")
        .set_json(json!({ "user": {
            "email": email,
            "password": password,
            "password_confirmation": password,
        }}))
}

fn session(email: &str, password: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/session")
        .set_json(json!({ "user": { "email": email, "password": password } }))
}

async fn send<S, R, B>(app: &S, req: R) -> (StatusCode, Value, String)
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(app, req).await;
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = test::read_body(res).await;
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json, content_type)
}

fn bearer(req: TestRequest, token: &Value) -> TestRequest {
    req.insert_header((
        header::AUTHORIZATION,
        format!("Bearer {}", token.as_str().unwrap()),
    ))
}

#[actix_web::test]
async fn the_example_works_end_to_end() {
    let (app, mailer) = start!(settings());

    // The OpenAPI document describes every route the app serves.
    let res = test::call_service(
        &app,
        TestRequest::get().uri("/api/v1/openapi.yaml").to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert_eq!(doc, example_api::OPENAPI);
    assert!(doc.starts_with("openapi: 3."));
    for path in [
        "/registration:",
        "/session:",
        "/session/renew:",
        "/two-factor/verify:",
        "/passwordless/code:",
        "/passwordless/code/verify:",
        "/passwordless/link:",
        "/passwordless/link/{token}:",
        "/confirm-email:",
        "/confirm-email/{token}:",
        "/reset-password:",
        "/reset-password/{token}:",
        "/me:",
        "/me/sessions:",
        "/sessions:",
        "/sessions/{id}:",
        "/session/reauthenticate:",
        "/config:",
        "/activity:",
        "/session/unlock:",
        "/two-factor:",
        "/two-factor/recovery-codes:",
        "/confirm-email/cancel/{token}:",
        "/two-factor/step-up:",
        "/account/close:",
        "/account/reactivate:",
        "/account/export:",
        "/openapi.yaml:",
    ] {
        assert!(
            doc.contains(&format!("\n  {path}\n")),
            "{path} is documented"
        );
    }

    // Sign up: the account is made, but there are no tokens before the address is
    // confirmed; signing in is refused the same way.
    let (status, body, _) = send(
        &app,
        registration("ada@example.com", "analytical").to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "email_confirmation_required");
    let (status, body, _) = send(&app, session("ada@example.com", "analytical").to_request()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"]["message"],
        "You'll need to confirm your e-mail before you can sign in. An e-mail confirmation link has been sent to you."
    );

    // The mailed link opens the client app, which confirms with its token.
    let token = token_in_mail(&mailer, "ada@example.com", "confirm-email");
    let (status, body, _) = send(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/confirm-email/{token}"))
            .to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_confirmed"], true);

    // Now signing in answers a pair.
    let (status, body, _) = send(&app, session("ada@example.com", "analytical").to_request()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_confirmed"], true);
    let pair = body["data"].clone();

    // The protected endpoint, with and without the access token.
    let (status, body, content_type) = send(
        &app,
        bearer(TestRequest::get().uri("/api/v1/me"), &pair["access_token"]).to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email"], "ada@example.com");
    assert_eq!(content_type, "application/json");
    let (status, body, content_type) =
        send(&app, TestRequest::get().uri("/api/v1/me").to_request()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        body,
        json!({ "error": { "status": 401, "message": "Not authenticated" } })
    );

    // Renew: new pair; the old tokens are done.
    let renew = |token: &Value| {
        bearer(TestRequest::post().uri("/api/v1/session/renew"), token).to_request()
    };
    let (status, body, _) = send(&app, renew(&pair["renewal_token"])).await;
    assert_eq!(status, StatusCode::OK);
    let renewed = body["data"].clone();
    let (status, _, _) = send(&app, renew(&pair["renewal_token"])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let me = |token: &Value| bearer(TestRequest::get().uri("/api/v1/me"), token).to_request();
    assert_eq!(
        send(&app, me(&pair["access_token"])).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, me(&renewed["access_token"])).await.0,
        StatusCode::OK
    );

    // Sign out.
    let (status, body, _) = send(
        &app,
        bearer(
            TestRequest::delete().uri("/api/v1/session"),
            &renewed["access_token"],
        )
        .to_request(),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "data": {} })));
    assert_eq!(
        send(&app, me(&renewed["access_token"])).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, renew(&renewed["renewal_token"])).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Wrong password: the generic message.
    let sign_in = |password: &str| {
        TestRequest::post()
            .uri("/api/v1/session")
            .set_json(json!({ "user": { "email": "ada@example.com", "password": password } }))
            .to_request()
    };
    let (status, body, _) = send(&app, sign_in("babbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["error"]["message"],
        "The provided login details did not work. Please verify your credentials, and try again."
    );

    // Two sign-ins: the session list shows both API clients, the caller's marked.
    let (_, first, _) = send(&app, sign_in("analytical")).await;
    let (_, second, _) = send(&app, sign_in("analytical")).await;
    let (status, list, _) = send(
        &app,
        bearer(
            TestRequest::get().uri("/api/v1/sessions"),
            &first["data"]["access_token"],
        )
        .to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let sessions = list["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    assert!(sessions.iter().all(|s| s["kind"] == "api"));
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    // Sign out everywhere: both pairs are revoked.
    let (status, _, _) = send(
        &app,
        bearer(
            TestRequest::delete().uri("/api/v1/me/sessions"),
            &first["data"]["access_token"],
        )
        .to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for pair in [&first["data"], &second["data"]] {
        assert_eq!(
            send(&app, me(&pair["access_token"])).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(&app, renew(&pair["renewal_token"])).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    // Validation errors per field.
    let req = TestRequest::post()
        .uri("/api/v1/registration")
        .set_json(json!({ "user": { "email": "ada", "password": "x" } }))
        .to_request();
    let (status, body, _) = send(&app, req).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = &body["error"]["errors"];
    assert_eq!(errors["email"], json!(["has invalid format"]));
    assert_eq!(
        errors["password"],
        json!(["should be at least 8 character(s)"])
    );
}

/// Signs up `email` and confirms it through the mailed link.
macro_rules! confirmed_user {
    ($app:expr, $mailer:expr, $email:expr, $password:expr) => {{
        let (status, _, _) = send($app, registration($email, $password).to_request()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let token = token_in_mail($mailer, $email, "confirm-email");
        let (status, _, _) = send(
            $app,
            TestRequest::post()
                .uri(&format!("/api/v1/confirm-email/{token}"))
                .to_request(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }};
}

#[actix_web::test]
async fn a_forgotten_password_is_reset_through_the_client_app() {
    let (app, mailer) = start!(settings());
    confirmed_user!(&app, &mailer, "grace@example.com", "cobol-1959");
    let (_, body, _) = send(
        &app,
        session("grace@example.com", "cobol-1959").to_request(),
    )
    .await;
    let old_pair = body["data"].clone();

    // Ask for a link: the same answer for known and unknown addresses.
    let ask = |email: &str| {
        TestRequest::post()
            .uri("/api/v1/reset-password")
            .set_json(json!({ "user": { "email": email } }))
            .to_request()
    };
    let mails = mailer.count_to("grace@example.com");
    let (status, known, _) = send(&app, ask("grace@example.com")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, unknown, _) = send(&app, ask("nobody@example.com")).await;
    assert_eq!(known, unknown);
    assert_eq!(
        known["data"]["message"],
        "If an account for the provided email exists, an email with reset instructions will be sent to you. Please check your inbox."
    );

    // The mailed link opens the client app with the token.
    let token = reset_mail_token(&mailer, "grace@example.com", mails).await;
    let path = format!("/api/v1/reset-password/{token}");
    let (status, _, _) = send(&app, TestRequest::get().uri(&path).to_request()).await;
    assert_eq!(status, StatusCode::OK);
    let set = |password: &str, confirmation: &str| {
        TestRequest::patch()
            .uri(&path)
            .set_json(json!({ "user": {
                "password": password,
                "password_confirmation": confirmation,
            }}))
            .to_request()
    };
    let (status, body, _) = send(&app, set("new-password", "typo-password")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["errors"]["password_confirmation"],
        json!(["does not match confirmation"])
    );
    let (status, body, _) = send(&app, set("new-password", "new-password")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["message"], "The password has been updated.");

    // The tokens from before are revoked; the old password is refused, the new one works.
    let me = |token: &Value| bearer(TestRequest::get().uri("/api/v1/me"), token).to_request();
    assert_eq!(
        send(&app, me(&old_pair["access_token"])).await.0,
        StatusCode::UNAUTHORIZED
    );
    let renew = bearer(
        TestRequest::post().uri("/api/v1/session/renew"),
        &old_pair["renewal_token"],
    )
    .to_request();
    assert_eq!(send(&app, renew).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &app,
        session("grace@example.com", "cobol-1959").to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body, _) = send(
        &app,
        session("grace@example.com", "new-password").to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        send(&app, me(&body["data"]["access_token"])).await.0,
        StatusCode::OK
    );

    // The token worked once; a tampered one never does.
    let (status, body, _) = send(&app, set("third-password", "third-password")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "invalid_token");
    let tampered = format!("{}x", token);
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/reset-password/{tampered}"))
            .to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn tampered_confirmation_tokens_are_rejected() {
    let (app, mailer) = start!(settings());
    let (status, _, _) = send(
        &app,
        registration("alan@example.com", "enigma-1936").to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let token = token_in_mail(&mailer, "alan@example.com", "confirm-email");
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let confirm = |token: &str| {
        TestRequest::post()
            .uri(&format!("/api/v1/confirm-email/{token}"))
            .to_request()
    };
    let (status, body, _) = send(&app, confirm(&tampered)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "error": {
            "status": 404,
            "message": "The confirmation token is invalid or has expired.",
            "code": "invalid_token",
        }})
    );
    let (status, _, _) = send(
        &app,
        session("alan@example.com", "enigma-1936").to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "still unconfirmed");
    // The refused sign-in mailed the link again, the same one: the first mail's token
    // still confirms, once.
    assert_eq!(
        token_in_mail(&mailer, "alan@example.com", "confirm-email"),
        token
    );
    assert_eq!(send(&app, confirm(&token)).await.0, StatusCode::OK);
    assert_eq!(send(&app, confirm(&token)).await.0, StatusCode::NOT_FOUND);
    let (status, _, _) = send(
        &app,
        session("alan@example.com", "enigma-1936").to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn in_soft_mode_an_unconfirmed_user_is_signed_in_and_told() {
    let mut settings = settings();
    settings.email_confirmation = EmailConfirmation::new().soft(true);
    let (app, mailer) = start!(settings);

    let (status, body, _) = send(
        &app,
        registration("barbara@example.com", "liskov-1987").to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_confirmed"], false);
    assert_eq!(
        body["data"]["email_confirmation_message"],
        "Please confirm your e-mail address. An e-mail confirmation link has been sent to you."
    );
    let access = body["data"]["access_token"].clone();
    let state = || bearer(TestRequest::get().uri("/api/v1/confirm-email"), &access).to_request();
    let (status, body, _) = send(&app, state()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email_confirmed"], false);

    let token = token_in_mail(&mailer, "barbara@example.com", "confirm-email");
    let (status, _, _) = send(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/confirm-email/{token}"))
            .to_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body, _) = send(&app, state()).await;
    assert_eq!(body["data"]["email_confirmed"], true);
}

//! Drives the API example end to end, on actix-web (`examples/api`) and on its axum twin
//! (`examples/api-axum`) from this one source, over HTTP: the OpenAPI document, sign-up
//! with email confirmation, the protected endpoint, renewal, sign-out, sign-out
//! everywhere, password reset and errors.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::test::TestRequest;
use pow_actix::mailer::{Mail, MemoryMailer};
use pow_actix::password::Pbkdf2Hasher;
use pow_ext_email_confirmation::EmailConfirmation;
use pow_ext_reset_password::ResetPassword;
use serde_json::{json, Value};

const APP_URL: &str = "https://app.example.com";

fn settings() -> example_api::Settings {
    let db = std::env::temp_dir().join(format!(
        "pow-api-example-test-{}.db",
        pow_actix::token::generate_uuid()
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

/// Builds the example's app as `main` does, with a fast hasher and an in-memory mailer,
/// and serves it on the test's framework: the actix-web example or its axum twin.
macro_rules! start {
    ($settings:expr) => {{
        let settings: example_api::Settings = $settings;
        let mailer = MemoryMailer::new();
        let config = example_api::build(&settings, |b| {
            b.hasher(Pbkdf2Hasher::new(1)).mailer(mailer.clone())
        })
        .unwrap();
        let options = example_api::api_options(&settings).unwrap();
        let api = pow_axum::api::ApiService::new(config.clone(), options.clone());
        let _ = DOCUMENT.set(api.openapi().unwrap().clone());
        let app: SocketAddr = match pow_testkit::framework() {
            pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
                example_api::app(config.clone(), options.clone())
            }),
            pow_testkit::Framework::Axum => {
                pow_testkit::serve_axum(example_api_axum::app(config, options))
            }
        };
        (app, mailer)
    }};
}

/// An answer over HTTP: status, headers and body.
struct Answer {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(have, _)| have.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `Set-Cookie` headers' `(name, value)` pairs.
    fn cookies(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, value)| {
                let pair = value.split(';').next()?;
                let (name, value) = pair.split_once('=')?;
                Some((name.trim().to_owned(), value.to_owned()))
            })
            .collect()
    }
}

/// Sends the test request `req` to the app at `addr` over HTTP.
async fn call(addr: &SocketAddr, req: actix_web::dev::ServiceRequest) -> Answer {
    let answer = pow_testkit::send(*addr, req).await;
    Answer {
        status: StatusCode::from_u16(answer.status).unwrap(),
        headers: answer.headers,
        body: answer.body,
    }
}

/// The OpenAPI document of the example's setup, which [`send`] checks every answer
/// against.
static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();

/// The operation of `doc` that serves `method` `path` (`/api/v1/...`), if documented.
fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    let path = path.split('?').next().unwrap_or_default();
    let path = path.strip_prefix("/api/v1")?;
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .iter()
        .find_map(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment);
            matches
                .then(|| item.get(method.to_ascii_lowercase()))
                .flatten()
        })
}

/// `value` with its `$ref` into `doc` followed (again, while it is one).
fn resolved<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        value = doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} is not in the document"));
    }
    value
}

/// Checks an answer against the document: the operation is documented, lists `status`,
/// and `body` (JSON) fits the schema of that answer.
fn conforms(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let Some(operation) = operation(doc, method, path) else {
        panic!("{method} {path} is not in the OpenAPI document");
    };
    let responses = &operation["responses"];
    let Some(answer) = responses
        .get(status.as_str())
        .or_else(|| responses.get("default"))
    else {
        panic!("{method} {path} answered {status}, which the document does not list: {body}");
    };
    let answer = resolved(doc, answer);
    let Some(schema) = answer.pointer("/content/application~1json/schema") else {
        return;
    };
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_resource(
            "urn:pow:openapi",
            jsonschema::Resource::from_contents(doc.clone()),
        )
        .build(&rebase(schema))
        .unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: the answer does not fit the document: {errors:?}\n{body}"
    );
}

/// `schema` with its local references pointed at the document resource.
fn rebase(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) if r.starts_with('#') => {
                        (k.clone(), Value::String(format!("urn:pow:openapi{r}")))
                    }
                    _ => (k.clone(), rebase(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(rebase).collect()),
        other => other.clone(),
    }
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
/// task of its own on the server's thread.
async fn reset_mail_token(mailer: &MemoryMailer, to: &str, before: usize) -> String {
    mailer
        .next_to(to, before, Duration::from_secs(30))
        .await
        .expect("the reset mail is delivered");
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

/// Sends `req` and checks the answer against the OpenAPI document.
async fn send(
    app: &SocketAddr,
    req: actix_web::dev::ServiceRequest,
) -> (StatusCode, Value, String) {
    let (method, path) = (req.method().to_string(), req.uri().to_string());
    let res = call(app, req).await;
    let status = res.status;
    let content_type = res.header("content-type").unwrap_or_default().to_owned();
    let json = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
    if let Some(doc) = DOCUMENT.get() {
        conforms(doc, &method, &path, status, &json);
    }
    (status, json, content_type)
}

fn bearer(req: TestRequest, token: &Value) -> TestRequest {
    req.insert_header((
        header::AUTHORIZATION,
        format!("Bearer {}", token.as_str().unwrap()),
    ))
}

async fn the_example_works_end_to_end() {
    let (app, mailer) = start!(settings());

    // The OpenAPI document: generated, 3.1, and every JSON route is in it.
    let (status, doc, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/openapi.json")
            .to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&doc, DOCUMENT.get().unwrap());
    assert_eq!(doc["openapi"], "3.1.0");
    let settings = settings();
    let config = example_api::build(&settings, |b| b).unwrap();
    let api = pow_axum::api::ApiService::new(config, example_api::api_options(&settings).unwrap());
    assert_eq!(api.undocumented_routes().unwrap(), Vec::<String>::new());
    // Every documented operation answers, as documented, even to a bare request.
    let mut operations = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method = match method.as_str() {
                "get" => actix_web::http::Method::GET,
                "post" => actix_web::http::Method::POST,
                "put" => actix_web::http::Method::PUT,
                "patch" => actix_web::http::Method::PATCH,
                "delete" => actix_web::http::Method::DELETE,
                _ => continue,
            };
            let req = TestRequest::default()
                .method(method.clone())
                .uri(&format!("/api/v1{path}"));
            let req = if method == actix_web::http::Method::GET {
                req
            } else {
                req.set_json(json!({}))
            };
            // `send` fails on an answer the document does not list (a 404 or 405 of a
            // route that is not there among them) or one that does not fit its schema.
            send(&app, req.to_srv_request()).await;
            operations += 1;
        }
    }
    assert!(operations >= 45, "{operations} operations");

    // Sign up: the account is made, but there are no tokens before the address is
    // confirmed; signing in is refused the same way.
    let (status, body, _) = send(
        &app,
        registration("ada@example.com", "analytical").to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["errors"][0]["code"], "email_confirmation_required");
    let (status, body, _) = send(
        &app,
        session("ada@example.com", "analytical").to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["errors"][0]["message"],
        "You'll need to confirm your e-mail before you can sign in. An e-mail confirmation link has been sent to you."
    );

    // The mailed link opens the client app, which confirms with its token.
    let token = token_in_mail(&mailer, "ada@example.com", "confirm-email");
    let (status, body, _) = send(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/confirm-email/{token}"))
            .to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_confirmed"], true);

    // Now signing in answers a pair.
    let (status, body, _) = send(
        &app,
        session("ada@example.com", "analytical").to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_confirmed"], true);
    let pair = body["data"].clone();

    // The protected endpoint, with and without the access token.
    let (status, body, content_type) = send(
        &app,
        bearer(TestRequest::get().uri("/api/v1/me"), &pair["access_token"]).to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email"], "ada@example.com");
    assert_eq!(content_type, "application/json");
    let (status, body, content_type) =
        send(&app, TestRequest::get().uri("/api/v1/me").to_srv_request()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        body,
        json!({ "status": 401, "errors": [
            { "code": "not_authenticated", "message": "Not authenticated" }
        ] })
    );

    // Renew: new pair; the old tokens are done.
    let renew = |token: &Value| {
        bearer(TestRequest::post().uri("/api/v1/session/renew"), token).to_srv_request()
    };
    let (status, body, _) = send(&app, renew(&pair["renewal_token"])).await;
    assert_eq!(status, StatusCode::OK);
    let renewed = body["data"].clone();
    let (status, _, _) = send(&app, renew(&pair["renewal_token"])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let me = |token: &Value| bearer(TestRequest::get().uri("/api/v1/me"), token).to_srv_request();
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
        .to_srv_request(),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "status": 200, "data": {} }))
    );
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
            .to_srv_request()
    };
    let (status, body, _) = send(&app, sign_in("babbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["errors"][0]["message"],
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
        .to_srv_request(),
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
        .to_srv_request(),
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
        .to_srv_request();
    let (status, body, _) = send(&app, req).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = |field| pow_actix::testing::field_errors(&body, field);
    assert_eq!(errors("email"), json!(["has invalid format"]));
    assert_eq!(
        errors("password"),
        json!(["should be at least 8 characters"])
    );
}

/// Signs up `email` and confirms it through the mailed link.
macro_rules! confirmed_user {
    ($app:expr, $mailer:expr, $email:expr, $password:expr) => {{
        let (status, _, _) = send($app, registration($email, $password).to_srv_request()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let token = token_in_mail($mailer, $email, "confirm-email");
        let (status, _, _) = send(
            $app,
            TestRequest::post()
                .uri(&format!("/api/v1/confirm-email/{token}"))
                .to_srv_request(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }};
}

async fn a_forgotten_password_is_reset_through_the_client_app() {
    let (app, mailer) = start!(settings());
    confirmed_user!(&app, &mailer, "grace@example.com", "cobol-1959");
    let (_, body, _) = send(
        &app,
        session("grace@example.com", "cobol-1959").to_srv_request(),
    )
    .await;
    let old_pair = body["data"].clone();

    // Ask for a link: the same answer for known and unknown addresses.
    let ask = |email: &str| {
        TestRequest::post()
            .uri("/api/v1/reset-password")
            .set_json(json!({ "user": { "email": email } }))
            .to_srv_request()
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
    let (status, _, _) = send(&app, TestRequest::get().uri(&path).to_srv_request()).await;
    assert_eq!(status, StatusCode::OK);
    let set = |password: &str, confirmation: &str| {
        TestRequest::patch()
            .uri(&path)
            .set_json(json!({ "user": {
                "password": password,
                "password_confirmation": confirmation,
            }}))
            .to_srv_request()
    };
    let (status, body, _) = send(&app, set("new-password", "typo-password")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        pow_actix::testing::field_errors(&body, "password_confirmation"),
        json!(["does not match confirmation"])
    );
    let (status, body, _) = send(&app, set("new-password", "new-password")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["message"], "The password has been updated.");

    // The tokens from before are revoked; the old password is refused, the new one works.
    let me = |token: &Value| bearer(TestRequest::get().uri("/api/v1/me"), token).to_srv_request();
    assert_eq!(
        send(&app, me(&old_pair["access_token"])).await.0,
        StatusCode::UNAUTHORIZED
    );
    let renew = bearer(
        TestRequest::post().uri("/api/v1/session/renew"),
        &old_pair["renewal_token"],
    )
    .to_srv_request();
    assert_eq!(send(&app, renew).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(
        &app,
        session("grace@example.com", "cobol-1959").to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body, _) = send(
        &app,
        session("grace@example.com", "new-password").to_srv_request(),
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
    assert_eq!(body["errors"][0]["code"], "invalid_token");
    let tampered = format!("{}x", token);
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/reset-password/{tampered}"))
            .to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn tampered_confirmation_tokens_are_rejected() {
    let (app, mailer) = start!(settings());
    let (status, _, _) = send(
        &app,
        registration("alan@example.com", "enigma-1936").to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = token_in_mail(&mailer, "alan@example.com", "confirm-email");
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let confirm = |token: &str| {
        TestRequest::post()
            .uri(&format!("/api/v1/confirm-email/{token}"))
            .to_srv_request()
    };
    let (status, body, _) = send(&app, confirm(&tampered)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({ "status": 404, "errors": [{
            "code": "invalid_token",
            "message": "The confirmation token is invalid or has expired.",
        }]})
    );
    let (status, _, _) = send(
        &app,
        session("alan@example.com", "enigma-1936").to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "still unconfirmed");
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
        session("alan@example.com", "enigma-1936").to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn in_soft_mode_an_unconfirmed_user_is_signed_in_and_told() {
    let mut settings = settings();
    settings.email_confirmation = EmailConfirmation::new().soft(true);
    let (app, mailer) = start!(settings);

    let (status, body, _) = send(
        &app,
        registration("barbara@example.com", "liskov-1987").to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email_confirmed"], false);
    assert_eq!(
        body["data"]["email_confirmation_message"],
        "Please confirm your e-mail address. An e-mail confirmation link has been sent to you."
    );
    let access = body["data"]["access_token"].clone();
    let state =
        || bearer(TestRequest::get().uri("/api/v1/confirm-email"), &access).to_srv_request();
    let (status, body, _) = send(&app, state()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email_confirmed"], false);

    let token = token_in_mail(&mailer, "barbara@example.com", "confirm-email");
    let (status, _, _) = send(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/confirm-email/{token}"))
            .to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body, _) = send(&app, state()).await;
    assert_eq!(body["data"]["email_confirmed"], true);
}

/// A TOTP code of `secret` for a 30-second step no earlier code used.
/// A code of a time step this test has not used yet, among the three the server accepts.
/// The step before the current one is taken only while the current step has more than
/// five seconds left: taken at its end, the server may read it a step later, when it is
/// no longer accepted. Otherwise the next step is waited for.
fn totp(secret: &str, used: &mut Vec<u64>) -> String {
    loop {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (now, left) = (secs / 30, 30 - secs % 30);
        let older = (left > 5).then(|| now - 1);
        let step = [Some(now + 1), Some(now), older]
            .into_iter()
            .flatten()
            .find(|s| !used.contains(s));
        if let Some(step) = step {
            used.push(step);
            return pow_ext_two_factor::totp::code_at(secret, step * 30).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_secs(left));
    }
}

/// How a client of the walk proves who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// An app: `/api/v1`, bearer tokens.
    Bearer,
    /// A single-page app of the client's site: `/api/v1/browser`, the session cookie.
    Cookie,
}

/// One client of the walk (a phone, a laptop): its transport and its credential.
#[derive(Clone, Debug)]
struct Client {
    transport: Transport,
    token: Option<Value>,
    cookie: Option<(String, String)>,
}

impl Client {
    fn new(transport: Transport) -> Self {
        Self {
            transport,
            token: None,
            cookie: None,
        }
    }

    /// A JSON request to `path` under the transport's prefix, with the credential; a
    /// browser's pages send their origin.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> actix_web::dev::ServiceRequest {
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
        let prefix = match self.transport {
            Transport::Bearer => "/api/v1",
            Transport::Cookie => "/api/v1/browser",
        };
        let mut req = TestRequest::default()
            .method(method)
            .uri(&format!("{prefix}{path}"));
        if let Some(token) = &self.token {
            req = bearer(req, token);
        }
        if self.transport == Transport::Cookie {
            req = req.insert_header((header::ORIGIN, APP_URL));
            if let Some((name, value)) = &self.cookie {
                req = req.insert_header((header::COOKIE, format!("{name}={value}")));
            }
        }
        if let Some(body) = body {
            req = req.set_json(body);
        }
        req.to_srv_request()
    }

    /// Sends a request as this client, checks the answer against the OpenAPI document and
    /// keeps what a sign-in gave: the new access token, or the new session cookie.
    async fn send(
        &mut self,
        app: &SocketAddr,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let req = self.request(method, path, body);
        let res = call(app, req).await;
        let status = res.status;
        if let Some(cookie) = res
            .cookies()
            .into_iter()
            .find(|(name, _)| name.contains("session"))
        {
            self.cookie = (!cookie.1.is_empty()).then_some(cookie);
        }
        let json: Value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
        if let Some(doc) = DOCUMENT.get() {
            conforms(doc, method, &format!("/api/v1{path}"), status, &json);
        }
        match self.transport {
            Transport::Bearer => {
                if let Some(token) = json["data"].get("access_token") {
                    self.token = Some(token.clone());
                }
            }
            Transport::Cookie => assert!(
                json["data"].get("access_token").is_none(),
                "no token reaches a browser: {json}"
            ),
        }
        (status, json)
    }
}

/// The headless walk a single-page or mobile client takes, by JSON only (every answer
/// checked against the OpenAPI document): what the server offers, sign-up, confirmation,
/// a sign-in with a second factor pending, its verification, the session list and one
/// session revoked, re-authentication, a new password, an invitation accepted, sign-out;
/// then a reset and a passwordless sign-in; unknown addresses answered as known ones.
async fn walk(app: &SocketAddr, mailer: &MemoryMailer, transport: Transport) {
    let email = "walk@example.com";
    let password = "correct horse battery";
    let user =
        |email: &str, password: &str| json!({ "user": { "email": email, "password": password } });
    let mut anonymous = Client::new(transport);

    // What the server offers, before anything else.
    let (status, offered) = anonymous.send(app, "GET", "/config", None).await;
    assert_eq!(status, StatusCode::OK, "{offered}");
    assert_eq!(offered["data"]["browser_transport"], "/api/v1/browser");
    let extensions = offered["data"]["extensions"].as_array().unwrap();
    assert!(extensions.contains(&json!("pow_two_factor")), "{offered}");

    // Sign-up answers "confirm first" for a new and a taken address alike.
    let sign_up = json!({ "user": {
        "email": email, "password": password, "password_confirmation": password,
    }});
    let (status, new) = anonymous
        .send(app, "POST", "/registration", Some(sign_up.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{new}");
    assert_eq!(new["errors"][0]["code"], "email_confirmation_required");
    let confirm = token_in_mail(mailer, email, "confirm-email");
    let (status, taken) = anonymous
        .send(app, "POST", "/registration", Some(sign_up))
        .await;
    assert_eq!((status, &taken), (StatusCode::UNAUTHORIZED, &new));
    let (status, _) = anonymous
        .send(app, "POST", &format!("/confirm-email/{confirm}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // The phone signs in and turns on a second factor.
    let mut phone = Client::new(transport);
    let (status, answer) = phone
        .send(app, "POST", "/session", Some(user(email, password)))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(phone.token.is_some() || phone.cookie.is_some());
    let (status, enrol) = phone.send(app, "GET", "/two-factor", None).await;
    assert_eq!(status, StatusCode::OK, "{enrol}");
    let secret = enrol["data"]["secret"].as_str().unwrap().to_owned();
    let mut used = Vec::new();
    let code = totp(&secret, &mut used);
    let (status, on) = phone
        .send(app, "POST", "/two-factor", Some(json!({ "code": code })))
        .await;
    assert_eq!(status, StatusCode::OK, "{on}");

    // The laptop's sign-in has a step pending: the second factor, with what it accepts.
    let mut laptop = Client::new(transport);
    let (status, pending) = laptop
        .send(app, "POST", "/session", Some(user(email, password)))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{pending}");
    assert_eq!(pending["errors"][0]["code"], "second_factor_required");
    assert!(
        pending["data"]["pending"][0]["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("totp")),
        "{pending}"
    );
    assert!(laptop.token.is_none() && laptop.cookie.is_none(), "not yet");
    let token = pending["data"]["pending"][0]["token"].clone();
    let verify = json!({ "second_factor_token": token, "code": totp(&secret, &mut used) });
    let (status, answer) = laptop
        .send(app, "POST", "/two-factor/verify", Some(verify))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // Fresh from a password and a code: new recovery codes, the account's events and its
    // export, each answer checked against its schema.
    let (status, codes) = laptop
        .send(app, "POST", "/two-factor/recovery-codes", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    assert!(!codes["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .is_empty());
    let (status, events) = laptop.send(app, "GET", "/activity", None).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert!(events["meta"]["available"].is_boolean(), "{events}");
    let (status, export) = laptop.send(app, "GET", "/account/export", None).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["user"]["email"], email);

    // An API key for a script: made once (fresh session), it reads the reports as its
    // owner, with the header of either kind; revoked, it reads nothing.
    let key = json!({ "name": "nightly report", "scopes": ["reports:read"] });
    let (status, made) = laptop.send(app, "POST", "/api-keys", Some(key)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (id, key) = (made["data"]["id"].clone(), made["data"]["key"].clone());
    let key = key.as_str().unwrap();
    for header in ["x-api-key", "authorization"] {
        let value = match header {
            "authorization" => format!("Bearer {key}"),
            _ => key.to_owned(),
        };
        let req = TestRequest::get()
            .uri("/api/v1/reports")
            .insert_header((header, value))
            .to_srv_request();
        let (status, report, _) = send(app, req).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["data"]["email"], email);
    }
    let (status, revoked) = laptop
        .send(
            app,
            "DELETE",
            &format!("/api-keys/{}", id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    let req = TestRequest::get()
        .uri("/api/v1/reports")
        .insert_header(("x-api-key", key))
        .to_srv_request();
    let (status, refused, _) = send(app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["errors"][0]["code"], "api_key_revoked");

    // The session list shows both; the laptop ends the phone's.
    let (status, list) = laptop.send(app, "GET", "/sessions", None).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = list["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = laptop
        .send(app, "DELETE", &format!("/sessions/{other}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, signed_out) = phone.send(app, "GET", "/session", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the phone is signed out");
    // An app is told its token is dead (sign in again); a browser is simply signed out.
    let code = match transport {
        Transport::Bearer => "invalid_token",
        Transport::Cookie => "not_authenticated",
    };
    assert_eq!(signed_out["errors"][0]["code"], code);

    // Re-authentication, then a new password: a new credential replaces the laptop's.
    let (status, _) = laptop
        .send(
            app,
            "POST",
            "/session/reauthenticate",
            Some(json!({ "user": { "password": "wrong password" } })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = laptop
        .send(
            app,
            "POST",
            "/session/reauthenticate",
            Some(json!({ "user": { "password": password } })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let new_password = "battery staple horse correct";
    let change = json!({ "user": {
        "current_password": password,
        "password": new_password,
        "password_confirmation": new_password,
    } });
    let mut before = laptop.clone();
    let (status, changed) = laptop
        .send(app, "PATCH", "/registration", Some(change))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (status, _) = before.send(app, "GET", "/session", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old credential is replaced"
    );
    let (status, who) = laptop.send(app, "GET", "/session", None).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["data"]["user"]["email"], email);

    // An invitation: the laptop invites, the link opens the client app, which shows and
    // accepts it; the invitee is signed in. An address with an account looks the same.
    let invitee = "guest@example.com";
    let invite = |email: &str| Some(json!({ "user": { "email": email } }));
    let (status, invited) = laptop
        .send(app, "POST", "/invitations", invite(invitee))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{invited}");
    let (status, again) = laptop
        .send(app, "POST", "/invitations", invite(email))
        .await;
    assert_eq!((status, &again), (StatusCode::ACCEPTED, &invited));
    let token = token_in_mail(mailer, invitee, "invitation");
    let mut guest = Client::new(transport);
    let (status, shown) = guest
        .send(app, "GET", &format!("/invitations/{token}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["data"]["user"]["email"], invitee);
    let accept = json!({ "user": {
        "email": invitee, "password": password, "password_confirmation": password,
    } });
    let (status, accepted) = guest
        .send(app, "PATCH", &format!("/invitations/{token}"), Some(accept))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (status, who) = guest.send(app, "GET", "/session", None).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["data"]["user"]["email"], invitee);

    // Sign out: the credential is done.
    let mut kept = laptop.clone();
    let (status, _) = laptop.send(app, "DELETE", "/session", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = kept.send(app, "GET", "/session", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Reset: known and unknown addresses get the same answer; the link opens the app.
    let before = mailer.count_to(email);
    let ask = |email: &str| Some(json!({ "user": { "email": email } }));
    let (status, known) = anonymous
        .send(app, "POST", "/reset-password", ask(email))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, unknown) = anonymous
        .send(app, "POST", "/reset-password", ask("nobody@example.com"))
        .await;
    assert_eq!((status, &unknown), (StatusCode::OK, &known));
    let reset = reset_mail_token(mailer, email, before).await;
    let body = json!({ "user": { "password": password, "password_confirmation": password } });
    let (status, _) = anonymous
        .send(
            app,
            "PATCH",
            &format!("/reset-password/{reset}"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Passwordless: a code for a known and an unknown address alike; the known one's code
    // signs in, past the second factor.
    let ask = |email: &str| Some(json!({ "email": email }));
    let (status, known) = anonymous
        .send(app, "POST", "/passwordless/code", ask(email))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, unknown) = anonymous
        .send(app, "POST", "/passwordless/code", ask("nobody@example.com"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(known["data"]["message"], unknown["data"]["message"]);
    assert!(unknown["data"]["code_token"].is_string());
    let mail = mailer.last_to(email).unwrap();
    let code: String = mail
        .text
        .split_whitespace()
        .find(|w| w.len() >= 6 && w.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("a code in {}", mail.text))
        .to_owned();
    let body = json!({ "code_token": known["data"]["code_token"], "code": code });
    let mut tablet = Client::new(transport);
    let (status, pending) = tablet
        .send(app, "POST", "/passwordless/code/verify", Some(body))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{pending}");
    assert_eq!(pending["errors"][0]["code"], "second_factor_required");
    let verify = json!({
        "second_factor_token": pending["data"]["pending"][0]["token"],
        "code": totp(&secret, &mut used),
    });
    let (status, answer) = tablet
        .send(app, "POST", "/two-factor/verify", Some(verify))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, who) = tablet.send(app, "GET", "/session", None).await;
    assert_eq!(status, StatusCode::OK, "{who}");
}

/// The walk as a mobile app takes it: bearer tokens.
async fn a_client_walks_every_flow_by_json() {
    let (app, mailer) = start!(settings());
    walk(&app, &mailer, Transport::Bearer).await;
}

/// The same walk as a single-page app of the client's site takes it: the session cookie,
/// its origin on every state change.
async fn a_browser_walks_every_flow_by_json() {
    let (app, mailer) = start!(settings());
    walk(&app, &mailer, Transport::Cookie).await;
}

/// A page of another site gets nowhere on the browser transport, not even a sign-in.
async fn the_browser_transport_refuses_other_sites() {
    let (app, _mailer) = start!(settings());
    let req = TestRequest::post()
        .uri("/api/v1/browser/session")
        .insert_header((header::ORIGIN, "https://evil.example"))
        .set_json(json!({ "user": { "email": "a@example.com", "password": "whatever it is" } }))
        .to_srv_request();
    let res = call(&app, req).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.cookies().is_empty());
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(body["errors"][0]["code"], "cross_site_request");
}

/// Every success answer of the served document, and of the OAuth extension's part (which
/// the example does not enable), says what it holds, so that a client generated from it
/// can read `data` (`.ci/typescript.sh` type-checks one); and no text has a run of spaces.
async fn every_success_answer_says_what_it_holds() {
    use pow_actix::testing::{doubled_spaces, undescribed_successes, untyped_objects};
    let (app, _mailer) = start!(settings());
    let (status, doc, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/openapi.json")
            .to_srv_request(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(undescribed_successes(&doc), Vec::<String>::new());
    assert_eq!(doubled_spaces(&doc), Vec::<String>::new());
    // Every object, request bodies and nested members too, says what it holds: WebAuthn's
    // credential and options, an event's detail (`.ci/typescript.sh` sends a credential).
    assert_eq!(untyped_objects(&doc), Vec::<String>::new());
    assert!(
        doc["servers"].as_array().unwrap().len() == 2,
        "both transports' servers are checked"
    );

    let oauth: Value =
        serde_json::from_str(include_str!("../../../pow-ext-oauth/openapi.json")).unwrap();
    let settings = settings();
    let config = example_api::build(&settings, |b| b).unwrap();
    let options = example_api::api_options(&settings)
        .unwrap()
        .openapi_fragment(oauth);
    let api = pow_axum::api::ApiService::new(config, options);
    let with_oauth = api.openapi().unwrap();
    assert!(with_oauth["paths"]["/auth/{provider}/callback"].is_object());
    assert_eq!(undescribed_successes(with_oauth), Vec::<String>::new());
    assert_eq!(untyped_objects(with_oauth), Vec::<String>::new());

    // The walk catches a bare object, in the envelope or outside it.
    let bare = |schema: Value| {
        json!({ "paths": { "/x": { "get": { "responses": { "200": {
            "description": "x",
            "content": { "application/json": { "schema": schema } }
        } } } } } })
    };
    let enveloped = json!({ "type": "object", "properties": { "data": { "type": "object" } } });
    assert_eq!(undescribed_successes(&bare(enveloped)).len(), 1);
    assert_eq!(
        undescribed_successes(&bare(json!({ "type": "object" }))).len(),
        1
    );

    // The account export's schema is the one the extension ships as a file.
    let mut shipped: Value = serde_json::from_str(include_str!(
        "../../../pow-ext-account/schema/export.schema.json"
    ))
    .unwrap();
    let shipped = shipped.as_object_mut().unwrap();
    shipped.remove("$schema");
    shipped.remove("$id");
    assert_eq!(
        &Value::Object(shipped.clone()),
        &doc["components"]["schemas"]["AccountExport"]
    );
}

/// A sign-in or sign-up whose fields are not under `user` is told so (`400`), as the
/// document says.
async fn a_flat_body_answers_the_documented_400() {
    let (app, _mailer) = start!(settings());
    for (path, body) in [
        (
            "/api/v1/session",
            json!({ "email": "ada@example.com", "password": "analytical" }),
        ),
        (
            "/api/v1/registration",
            json!({
                "email": "ada@example.com",
                "password": "analytical",
                "password_confirmation": "analytical",
            }),
        ),
    ] {
        let req = TestRequest::post()
            .uri(path)
            .set_json(body)
            .to_srv_request();
        let (status, body, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["errors"][0]["code"], "invalid_request");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("\"user\""),
            "{body}"
        );
    }
}

pow_testkit::on_both!(
    async the_example_works_end_to_end,
    a_forgotten_password_is_reset_through_the_client_app,
    tampered_confirmation_tokens_are_rejected,
    in_soft_mode_an_unconfirmed_user_is_signed_in_and_told,
    a_client_walks_every_flow_by_json,
    a_browser_walks_every_flow_by_json,
    the_browser_transport_refuses_other_sites,
    every_success_answer_says_what_it_holds,
    a_flat_body_answers_the_documented_400,
);

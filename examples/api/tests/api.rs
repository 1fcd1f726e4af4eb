//! Drives the API example end to end: the OpenAPI document, sign-up, the protected
//! endpoint, renewal, sign-out, sign-out everywhere and errors.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use pow_core::password::Pbkdf2Hasher;
use serde_json::{json, Value};

fn settings() -> example_api::Settings {
    let db = std::env::temp_dir().join(format!(
        "pow-api-example-test-{}.db",
        pow_core::token::generate_uuid()
    ));
    example_api::Settings {
        database_url: db.display().to_string(),
        bind: "127.0.0.1:0".into(),
        secret_key_base: "k".repeat(64),
    }
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
    let config = example_api::build(&settings(), |b| b.hasher(Pbkdf2Hasher::new(1))).unwrap();
    let app = test::init_service(example_api::app(config)).await;

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
        "/me:",
        "/me/sessions:",
        "/openapi.yaml:",
    ] {
        assert!(
            doc.contains(&format!("\n  {path}\n")),
            "{path} is documented"
        );
    }

    // Sign up.
    let req = TestRequest::post()
        .uri("/api/v1/registration")
        .set_json(json!({ "user": {
            "email": "ada@example.com",
            "password": "analytical",
            "password_confirmation": "analytical",
        }}))
        .to_request();
    let (status, body, _) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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

    // Two sign-ins, then sign out everywhere: both pairs are revoked.
    let (_, first, _) = send(&app, sign_in("analytical")).await;
    let (_, second, _) = send(&app, sign_in("analytical")).await;
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

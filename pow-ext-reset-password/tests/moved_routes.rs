//! An app moves the extension's routes through the routes backend; the links follow.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::test;
use pow_actix::web::Routes;
use pow_actix::PowConfig;
use pow_ext_reset_password::{ResetPassword, NAME};

/// Serves the reset pages under `/password/...`.
struct MovedRoutes;

impl Routes for MovedRoutes {
    fn extension_route(&self, extension: &str, pattern: &str) -> String {
        match (extension, pattern) {
            (NAME, "/reset-password/new") => "/password/forgot".to_owned(),
            (NAME, "/reset-password/{token}") => "/password/reset/{token}".to_owned(),
            (NAME, "/reset-password") => "/password".to_owned(),
            _ => pattern.to_owned(),
        }
    }
}

#[actix_web::test]
async fn moved_routes_are_served_and_linked() {
    let config = PowConfig::builder("r".repeat(64))
        .base_url("http://localhost")
        .routes(MovedRoutes)
        .extension(ResetPassword::new())
        .build()
        .unwrap();
    let app = test::init_service(pow_actix::testing::app(&config)).await;

    let sign_in = test::call_and_read_body(
        &app,
        test::TestRequest::get().uri("/session/new").to_request(),
    )
    .await;
    let sign_in = String::from_utf8(sign_in.to_vec()).unwrap();
    assert!(sign_in.contains("href=\"/password/forgot\""), "{sign_in}");

    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/password/forgot")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let form = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(form.contains("action=\"/password\""), "{form}");

    let old = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/reset-password/new")
            .to_request(),
    )
    .await;
    assert_eq!(old.status(), 404);

    // A bad token on the moved edit route is handled by the extension.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/password/reset/bogus")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers().get("location").unwrap(), "/password/forgot");
}

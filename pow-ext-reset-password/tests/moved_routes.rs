//! An app moves the extension's routes through the routes backend; the links follow.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_actix::test_client::Client;
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

fn moved_routes_are_served_and_linked() {
    let config = PowConfig::builder("r".repeat(64))
        .base_url("http://localhost")
        .routes(MovedRoutes)
        .extension(ResetPassword::new())
        .build()
        .unwrap();
    let mut client = Client::new(pow_testkit::serve(config));

    let sign_in = client.get("/session/new").body;
    assert!(sign_in.contains("href=\"/password/forgot\""), "{sign_in}");

    let res = client.get("/password/forgot");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("action=\"/password\""), "{}", res.body);

    assert_eq!(client.get("/reset-password/new").status, 404);

    // A bad token on the moved edit route is handled by the extension.
    let res = client.get("/password/reset/bogus");
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/password/forgot");
}

pow_testkit::on_both!(moved_routes_are_served_and_linked);

//! A remember-me token rotated by a request whose route then fails with a 503 page (a busy
//! hashing pool, a store outage) still reaches the browser: the new cookie is on the error
//! page, so its next use is the legitimate one, not a replay that looks like theft.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::cookie::Cookie;
use actix_web::dev::ServiceResponse;
use actix_web::{test, web, HttpResponse};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{MaybeUser, PowConfig, PowError};
use pow_ext_persistent_session::PersistentSession;

const REMEMBER: &str = "persistent_session";

fn config() -> PowConfig {
    let db = std::env::temp_dir().join(format!(
        "pow-persistent-error-pages-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("e".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .extension(PersistentSession::new())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "alice@example.com", "secret password").unwrap();
    config
}

fn cookie<B>(res: &ServiceResponse<B>, name: &str) -> Option<Cookie<'static>> {
    res.response()
        .cookies()
        .find(|c| c.name() == name)
        .map(|c| c.into_owned())
}

/// `/busy` fails the way a saturated hashing pool does; `/who` says who is signed in.
async fn busy() -> pow_actix::Result<HttpResponse> {
    Err(PowError::Busy.into())
}

async fn who(user: MaybeUser) -> HttpResponse {
    let email = user.0.and_then(|u| u.email().map(str::to_owned));
    HttpResponse::Ok().body(email.unwrap_or_else(|| "nobody".to_owned()))
}

#[actix_web::test]
async fn a_503_page_carries_the_rotated_remember_me_cookie() {
    let config = config();
    let app = test::init_service(
        pow_actix::testing::app(&config)
            .route("/busy", web::get().to(busy))
            .route("/who", web::get().to(who)),
    )
    .await;

    // Sign in with "remember me".
    let page = test::call_service(
        &app,
        test::TestRequest::get().uri("/session/new").to_request(),
    )
    .await;
    let session = cookie(&page, &config.session().cookie_name).unwrap();
    let body = String::from_utf8(test::read_body(page).await.to_vec()).unwrap();
    let start = body.find("name=\"_csrf_token\" value=\"").unwrap() + 26;
    let csrf = body[start..start + body[start..].find('"').unwrap()].to_owned();
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/session")
            .cookie(session)
            .set_form([
                ("_csrf_token", csrf.as_str()),
                ("user[email]", "alice@example.com"),
                ("user[password]", "secret password"),
                ("user[persistent_session]", "true"),
            ])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 302);
    let first = cookie(&res, REMEMBER).unwrap();

    // A new browser session with only the remember-me cookie hits a busy route: the token
    // is used and rotated, and the answer is the 503 page with the new token.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/busy")
            .cookie(first.clone())
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 503);
    let rotated = cookie(&res, REMEMBER).expect("the 503 page dropped the rotated cookie");
    assert_ne!(rotated.value(), first.value());

    // The rotated token signs the browser in again later; the old one is used up.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/who")
            .cookie(rotated)
            .to_request(),
    )
    .await;
    assert_eq!(test::read_body(res).await, "alice@example.com");
}

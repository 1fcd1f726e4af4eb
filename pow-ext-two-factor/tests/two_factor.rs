//! The two-factor extension over HTTP, on memory and Redis: enrolment with a code computed
//! from the page's key, sign-in in two steps (password alone is not enough), TOTP codes
//! used once per step, recovery codes used once, attempts limited, remember-me issued only
//! after the second step and restoring without one, settings in sudo mode, and the JSON
//! two-step sign-in. Every suite, pages and JSON, runs on actix-web and on axum
//! ([`pow_testkit::on_both!`]).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use pow_actix::api::{ApiAuthMiddleware, ApiError};
use pow_actix::limits::{Lockout, RateLimits};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::{MaybeUser, RequireStepUp, StepUp};
use pow_actix::store::{MemoryStore, Store};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::web::{Action, ActionId, ActionKind, Outcome};
use pow_actix::{PowConfig, PowConfigBuilder};
use pow_ext_persistent_session::PersistentSession;
use pow_ext_two_factor::totp::code_at;
use pow_ext_two_factor::TwoFactor;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REMEMBER: &str = "persistent_session";
const SESSION: &str = "pow_session";

async fn me(user: MaybeUser) -> HttpResponse {
    HttpResponse::Ok().body(match user.0 {
        Some(user) => format!("user:{}", user.id),
        None => "anonymous".to_owned(),
    })
}

/// The same page on axum.
async fn axum_me(pow_axum::MaybeUser(user): pow_axum::MaybeUser) -> String {
    match user {
        Some(user) => format!("user:{}", user.id),
        None => "anonymous".to_owned(),
    }
}

/// The same page behind the step-up rule on axum, with the same `Action` rules.
async fn axum_sensitive(req: axum::extract::Request) -> axum::response::Response {
    use axum::extract::FromRequestParts as _;
    use axum::response::IntoResponse as _;
    const ID: ActionId = ActionId::new("app", "sensitive", ActionKind::Other);
    let (mut parts, _) = req.into_parts();
    let pow = match pow_axum::Pow::from_request_parts(&mut parts, &()).await {
        Ok(pow) => pow,
        Err(rejection) => return rejection.into_response(),
    };
    let sensitive: pow_axum::web::Act = Box::new(|_, _| {
        Box::pin(async {
            Ok(pow_core::pages::Answer::Text {
                status: 200,
                text: "sensitive".into(),
            })
        })
    });
    pow_axum::web::Action::new(ID)
        .step_up(StepUp::recent_second_factor())
        .run(pow, &parts, sensitive)
        .await
}

/// A page behind a step-up rule (a second factor within the sudo window), as HTML and as
/// JSON.
async fn sensitive(req: actix_web::HttpRequest) -> pow_actix::Result<HttpResponse> {
    const ID: ActionId = ActionId::new("app", "sensitive", ActionKind::Other);
    Action::new(ID)
        .step_up(StepUp::recent_second_factor())
        .run(&req, async |_| {
            Ok(Outcome::Respond(HttpResponse::Ok().body("sensitive")))
        })
        .await
}

async fn sensitive_json(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    const ID: ActionId = ActionId::new("app_api", "sensitive", ActionKind::Other);
    let config = pow_actix::session::config(&req).expect("a config");
    Action::new(ID)
        .json()
        .config(config)
        .step_up(StepUp::recent_second_factor())
        .run(&req, async |_| {
            Ok::<_, ApiError>(Outcome::Respond(HttpResponse::Ok().body("sensitive")))
        })
        .await
}

/// Serves the pages, `GET /me` and the JSON API with two-factor and
/// remember-me enabled, on the test's framework.
fn start(store: Arc<dyn Store>) -> (PowConfig, SocketAddr, MemoryMailer) {
    start_with(store, |b| b)
}

/// [`start`] with more settings.
fn start_with(
    store: Arc<dyn Store>,
    tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> (PowConfig, SocketAddr, MemoryMailer) {
    let db = std::env::temp_dir().join(format!(
        "pow-two-factor-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let builder = PowConfig::builder("t".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .store(store)
        .extension(TwoFactor::new().issuer("pow-rs tests"))
        .extension(PersistentSession::new());
    let config = tweak(builder).build().unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = serve(config.clone());
    (config, addr, mailer)
}

/// Serves the setup on the framework the test runs on ([`pow_testkit::framework`]): the
/// pages, `/me`, `/sensitive` and `/guarded`, the JSON endpoints under `/api/v1` and the
/// app's own JSON route `/app-api/sensitive` (behind the bearer layer).
fn serve(config: PowConfig) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
            pow_actix::testing::app(&config)
                .configure(pow_actix::api::configure(
                    config.clone(),
                    pow_actix::api::ApiOptions::new(),
                ))
                .route("/me", web::get().to(me))
                .route("/sensitive", web::get().to(sensitive))
                .service(
                    web::scope("/guarded")
                        .wrap(RequireStepUp::new(StepUp::recent_second_factor()))
                        .route("", web::get().to(me)),
                )
                .service(
                    web::scope("/app-api")
                        .wrap(ApiAuthMiddleware::new(config.clone()))
                        .route("/sensitive", web::get().to(sensitive_json)),
                )
        }),
        pow_testkit::Framework::Axum => {
            use axum::routing::get;
            // On axum, `/sensitive` is an `Action` with the step-up rule, as on actix-web;
            // `/guarded` and the app's JSON route are guarded by the layer.
            let guard = || pow_axum::RequireStepUp::new(StepUp::recent_second_factor());
            // The app's own JSON route, behind the bearer layer (no cookie session).
            let app_api = axum::Router::new()
                .route(
                    "/app-api/sensitive",
                    get(|| async { "sensitive" }).route_layer(guard()),
                )
                .layer(pow_axum::ApiLayer::new(config.clone()));
            pow_testkit::serve_axum(
                pow_axum::web::router(&config)
                    .route("/me", get(axum_me))
                    .route("/sensitive", get(axum_sensitive))
                    .route("/guarded", get(axum_me).route_layer(guard()))
                    .layer(pow_axum::PowLayer::new(config.clone()))
                    .merge(pow_axum::api::router(
                        &config,
                        pow_axum::api::ApiOptions::new(),
                    ))
                    .merge(app_api),
            )
        }
    }
}

/// An app client signed in with the password (before any second factor), sending its
/// access token with every request.
fn app_client(addr: SocketAddr) -> Client {
    let mut app = Client::new(addr);
    let body = format!(r#"{{"user": {{"email": "{EMAIL}", "password": "{PASSWORD}"}}}}"#);
    let res = app.request("POST", "/api/v1/session", Some(body));
    assert_eq!(res.status, 200, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let bearer = format!("Bearer {}", json["data"]["access_token"].as_str().unwrap());
    app.headers.push(("Authorization".into(), bearer));
    app
}

/// The test user as stored now.
fn stored_user(config: &PowConfig) -> pow_actix::User {
    config
        .users_context()
        .unwrap()
        .get_by(config.user_schema(), "email", &EMAIL.into())
        .unwrap()
        .unwrap()
}

fn sign_in(c: &mut Client, remember: bool) -> Response {
    let csrf = c.get("/session/new").csrf();
    let persist = if remember { "true" } else { "false" };
    c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", EMAIL),
            ("user[password]", PASSWORD),
            ("user[persistent_session]", persist),
        ],
    )
}

fn sign_out(c: &mut Client) {
    let csrf = c.get("/registration/edit").csrf();
    c.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")]);
}

fn whoami(c: &mut Client) -> String {
    c.get("/me").body
}

fn verify(c: &mut Client, code: &str) -> Response {
    let page = c.get("/two-factor/verify");
    assert_eq!(page.status, 200, "{}", page.body);
    let persist = if page.body.contains("value=\"true\"") {
        "true"
    } else {
        "false"
    };
    c.post(
        "/two-factor/verify",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[code]", code),
            ("user[persistent_session]", persist),
        ],
    )
}

/// The text after `marker` made of `allowed` characters.
fn text_after(body: &str, marker: &str, allowed: impl Fn(char) -> bool) -> String {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {body}"))
        + marker.len();
    body[at..].chars().take_while(|c| allowed(*c)).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A code of a step the server accepts now and that was not used (`used` steps), preferring
/// the next step so that a step boundary passing meanwhile keeps it valid.
/// The step before the current one is taken only while the current step has more than
/// five seconds left (taken at its end, the server may read it when it is no longer
/// accepted); otherwise the next step is waited for.
fn fresh_code(secret: &str, used: &mut Vec<u64>) -> String {
    loop {
        let secs = now();
        let (current, left) = (secs / 30, 30 - secs % 30);
        let older = (left > 5).then(|| current - 1);
        let step = [Some(current + 1), Some(current), older]
            .into_iter()
            .flatten()
            .find(|s| !used.contains(s));
        if let Some(step) = step {
            used.push(step);
            return code_at(secret, step * 30).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_secs(left));
    }
}

/// Enrols the signed-in browser; returns the key and the recovery codes.
fn enrol(c: &mut Client, used: &mut Vec<u64>) -> (String, Vec<String>) {
    let page = c.get("/two-factor");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code drawn on the server");
    let key = text_after(&page.body, "Key: ", |c| c.is_ascii_alphanumeric());
    assert!(key.len() >= 32, "{key}");
    // A wrong first code turns nothing on.
    let res = c.post(
        "/two-factor",
        &[("_csrf_token", &page.csrf()), ("user[code]", "000000")],
    );
    assert!(res.body.contains("That code is not valid."), "{}", res.body);
    let res = c.post(
        "/two-factor",
        &[
            ("_csrf_token", &res.csrf()),
            ("user[code]", &fresh_code(&key, used)),
        ],
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.body.contains("Your recovery codes"), "{}", res.body);
    let codes: Vec<String> = res
        .body
        .split("<p class=\"pow-text\">")
        .skip(1)
        .map(|p| p[..p.find('<').unwrap()].to_owned())
        .filter(|p| p.len() == 11 && p.as_bytes()[5] == b'-')
        .collect();
    assert_eq!(codes.len(), 10, "{}", res.body);
    (key, codes)
}

fn two_steps(store: Arc<dyn Store>) {
    let (config, addr, mailer) = start(Arc::clone(&store));
    let mut used = Vec::new();
    let mut c = Client::new(addr);
    assert_eq!(
        sign_in(&mut c, false).location(),
        "/",
        "no second factor yet"
    );
    let (key, codes) = enrol(&mut c, &mut used);
    let notice = mailer.last_to(EMAIL).expect("a notice: two-factor on");
    assert_eq!(notice.subject, "Two-factor authentication was turned on");
    let user = stored_user(&config);
    assert!(pow_ext_two_factor::is_enabled(&user));
    assert!(!user
        .get_str("totp_recovery_codes")
        .unwrap()
        .contains(&codes[0]));
    sign_out(&mut c);

    // The password alone is not enough.
    let res = sign_in(&mut c, false);
    assert_eq!(res.location(), "/two-factor/verify");
    assert_eq!(whoami(&mut c), "anonymous");
    let res = verify(&mut c, "123456");
    assert!(res.body.contains("That code is not valid."), "{}", res.body);
    assert_eq!(whoami(&mut c), "anonymous");
    // The code used at enrolment was used: refused again in its step.
    let enrol_code = code_at(&key, used[0] * 30).unwrap();
    let res = verify(&mut c, &enrol_code);
    assert!(
        res.body.contains("That code is not valid."),
        "replayed: {}",
        res.body
    );
    let code = fresh_code(&key, &mut used);
    assert_eq!(verify(&mut c, &code).location(), "/");
    assert_eq!(whoami(&mut c), format!("user:{}", user.id));
    sign_out(&mut c);

    // The same code again, in a new sign-in: refused.
    sign_in(&mut c, false);
    let res = verify(&mut c, &code);
    assert!(
        res.body.contains("That code is not valid."),
        "replayed: {}",
        res.body
    );
    // A recovery code works once (any case, without the dash).
    let typed = codes[0].to_lowercase().replace('-', "");
    assert_eq!(verify(&mut c, &typed).location(), "/");
    assert_eq!(whoami(&mut c), format!("user:{}", user.id));
    sign_out(&mut c);
    sign_in(&mut c, false);
    let res = verify(&mut c, &codes[0]);
    assert!(res.body.contains("That code is not valid."), "{}", res.body);

    // Five codes per pending sign-in (one was tried above): the sixth attempt ends it, even
    // with a right code.
    for _ in 0..4 {
        verify(&mut c, "000000");
    }
    let res = verify(&mut c, &codes[1]);
    assert_eq!(res.location(), "/session/new");
    assert!(c.get("/session/new").body.contains("Too many wrong codes."));
    assert_eq!(c.get("/two-factor/verify").location(), "/session/new");

    // A pending sign-in belongs to its browser.
    sign_in(&mut c, false);
    let mut other = Client::new(addr);
    assert_eq!(other.get("/two-factor/verify").location(), "/session/new");

    // Remember me: the cookie comes only with the second step; restoring asks nothing more.
    let mut laptop = Client::new(addr);
    sign_in(&mut laptop, true);
    assert!(
        !laptop.cookies.contains_key(REMEMBER),
        "not before the second step"
    );
    assert_eq!(verify(&mut laptop, &codes[2]).location(), "/");
    assert!(laptop.cookies.contains_key(REMEMBER));
    laptop.cookies.remove(SESSION);
    assert_eq!(whoami(&mut laptop), format!("user:{}", user.id));
    // ...but its settings need the password first (sudo mode).
    assert_eq!(
        laptop.get("/two-factor").location(),
        "/session/confirm?request_path=%2Ftwo-factor"
    );

    // The JSON two-step sign-in.
    let mut api = Client::new(addr);
    let body = format!(r#"{{"user": {{"email": "{EMAIL}", "password": "{PASSWORD}"}}}}"#);
    let res = api.request("POST", "/api/v1/session", Some(body));
    assert_eq!(res.status, 401, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(json["errors"][0]["code"], "second_factor_required");
    assert!(
        json["data"].get("access_token").is_none(),
        "no tokens: {}",
        res.body
    );
    assert_eq!(json["data"]["pending"][0]["step"], "second_factor");
    let token = json["data"]["pending"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let attempt = |api: &mut Client, token: &str, code: &str| {
        let body = serde_json::json!({ "second_factor_token": token, "code": code });
        api.request("POST", "/api/v1/two-factor/verify", Some(body.to_string()))
    };
    let res = attempt(&mut api, &token, "000000");
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(res.body.contains("invalid_code"));
    let res = attempt(&mut api, &token, &fresh_code(&key, &mut used));
    assert_eq!(res.status, 200, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let access = json["data"]["access_token"].as_str().unwrap();
    let system = actix_web::rt::System::new();
    let session = system
        .block_on(pow_actix::api::authenticate(&config, access))
        .unwrap()
        .expect("a valid access token");
    assert_eq!(session.user.id, user.id);
    let notice = mailer.last_to(EMAIL).expect("a notice: new API client");
    assert_eq!(notice.subject, "A new API client signed in");
    // The token was used.
    let res = attempt(&mut api, &token, &codes[3]);
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(res.body.contains("invalid_token"));

    // Settings: new recovery codes replace the old ones; turning it off needs no code.
    let mut desk = Client::new(addr);
    sign_in(&mut desk, false);
    assert_eq!(verify(&mut desk, &codes[4]).location(), "/");
    // Signed in with a second factor: the session cache holds the user, but not the seed.
    let dumped = actix_web::rt::System::new()
        .block_on(pow_actix::testing::dumped_strings(
            store.as_ref(),
            "credentials",
        ))
        .unwrap();
    assert!(dumped.iter().any(|s| s.contains(EMAIL)), "{dumped:?}");
    assert!(
        dumped.iter().all(|s| !s.contains(&key)),
        "the TOTP seed is in the session cache"
    );
    let page = desk.get("/two-factor");
    assert!(
        page.body.contains("You have 7 recovery codes left."),
        "{}",
        page.body
    );
    let res = desk.post(
        "/two-factor/recovery-codes",
        &[("_csrf_token", &page.csrf())],
    );
    assert!(res.body.contains("Your recovery codes"), "{}", res.body);
    let notice = mailer.last_to(EMAIL).expect("a notice: new codes");
    assert_eq!(notice.subject, "New recovery codes were created");
    let page = desk.get("/two-factor");
    assert!(page.body.contains("You have 10 recovery codes left."));
    let res = desk.post("/two-factor/disable", &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.location(), "/registration/edit");
    let notice = mailer.last_to(EMAIL).expect("a notice: two-factor off");
    assert_eq!(notice.subject, "Two-factor authentication was turned off");
    sign_out(&mut desk);
    assert_eq!(sign_in(&mut desk, false).location(), "/", "one step again");
}

fn step_up_rules_want_a_recent_second_factor() {
    let (config, addr, _mailer) = start(Arc::new(MemoryStore::new()));
    let mut used = Vec::new();
    // An app client signed in with the password alone, before the second factor existed.
    let mut app = app_client(addr);

    // A browser signed in with the password; enrolling proves the new factor, not the
    // person: the session is still a password-only one.
    let mut c = Client::new(addr);
    assert_eq!(sign_in(&mut c, false).location(), "/");
    let (key, codes) = enrol(&mut c, &mut used);
    let res = c.get("/sensitive");
    assert_eq!(
        res.location(),
        "/two-factor/step-up?request_path=%2Fsensitive"
    );
    // The same rule as a guard on a scope.
    let res = c.get("/guarded");
    assert_eq!(
        res.location(),
        "/two-factor/step-up?request_path=%2Fguarded"
    );
    let res = Client::new(addr).get("/guarded");
    assert_eq!(res.location(), "/session/new?request_path=%2Fguarded");
    // The extension's own changes ask the same: turning it off is refused for now.
    let page = c.get("/two-factor");
    let res = c.post("/two-factor/disable", &[("_csrf_token", &page.csrf())]);
    assert!(
        res.location().starts_with("/two-factor/step-up"),
        "{}",
        res.location()
    );
    let user = stored_user(&config);
    assert!(pow_ext_two_factor::is_enabled(&user), "still on");

    // The step: a wrong code is refused, a right one returns to the page.
    let page = c.get("/two-factor/step-up?request_path=%2Fsensitive");
    assert_eq!(page.status, 200, "{}", page.body);
    let action = "/two-factor/step-up?request_path=%2Fsensitive";
    let res = c.post(
        action,
        &[("_csrf_token", &page.csrf()), ("user[code]", "000000")],
    );
    assert!(res.body.contains("That code is not valid."), "{}", res.body);
    let code = fresh_code(&key, &mut used);
    let res = c.post(
        action,
        &[("_csrf_token", &res.csrf()), ("user[code]", &code)],
    );
    assert_eq!(res.location(), "/sensitive");
    let res = c.get("/sensitive");
    assert_eq!((res.status, res.body.as_str()), (200, "sensitive"));
    assert_eq!(c.get("/guarded").status, 200);

    // JSON: a pending step naming what is accepted, then the step, then the page.
    let res = app.get("/app-api/sensitive");
    assert_eq!(res.status, 401, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(json["errors"][0]["code"], "step_up_required");
    assert_eq!(
        json["data"]["pending"][0]["methods"],
        serde_json::json!(["totp", "recovery_code", "passkey", "security_key"])
    );
    let step = |app: &mut Client, code: &str| {
        let body = serde_json::json!({ "code": code }).to_string();
        app.request("POST", "/api/v1/two-factor/step-up", Some(body))
    };
    let res = step(&mut app, &code);
    assert_eq!(res.status, 401, "a used code: {}", res.body);
    assert!(res.body.contains("invalid_code"), "{}", res.body);
    let res = step(&mut app, &codes[0]);
    assert_eq!(res.status, 204, "{}", res.body);
    let res = app.get("/app-api/sensitive");
    assert_eq!((res.status, res.body.as_str()), (200, "sensitive"));
    // Without a session there is nothing to step up.
    let res = Client::new(addr).request(
        "POST",
        "/api/v1/two-factor/step-up",
        Some(r#"{"code": "000000"}"#.into()),
    );
    assert_eq!(res.status, 401, "{}", res.body);
}

fn an_app_client_enrols_and_manages_its_second_factor() {
    let (_config, addr, _mailer) = start(Arc::new(MemoryStore::new()));
    let mut used = Vec::new();
    let mut app = app_client(addr);
    let send = |app: &mut Client, method: &str, path: &str, body: Option<serde_json::Value>| {
        let res = app.request(method, path, body.map(|b| b.to_string()));
        let json = serde_json::from_str(&res.body).unwrap_or(serde_json::Value::Null);
        (res.status, json)
    };

    // Enrolment: the secret and the app's URL, then the first code.
    let (status, json) = send(&mut app, "GET", "/api/v1/two-factor", None);
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["enabled"], false);
    let secret = json["data"]["secret"].as_str().unwrap().to_owned();
    assert!(json["data"]["otpauth_url"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    let code = |code: &str| Some(serde_json::json!({ "code": code }));
    let (status, json) = send(&mut app, "POST", "/api/v1/two-factor", code("000000"));
    assert_eq!(
        (status, &json["errors"][0]["code"]),
        (422, &serde_json::json!("invalid_code"))
    );
    let first = fresh_code(&secret, &mut used);
    let (status, json) = send(&mut app, "POST", "/api/v1/two-factor", code(&first));
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["recovery_codes"].as_array().unwrap().len(), 10);
    let (_, json) = send(&mut app, "GET", "/api/v1/two-factor", None);
    assert_eq!(
        json["data"],
        serde_json::json!({"enabled": true, "recovery_codes_left": 10})
    );

    // Changing it wants the second factor proved, not only enrolled.
    let (status, json) = send(&mut app, "POST", "/api/v1/two-factor/recovery-codes", None);
    assert_eq!(
        (status, &json["errors"][0]["code"]),
        (401, &serde_json::json!("step_up_required"))
    );
    let (status, _) = send(&mut app, "DELETE", "/api/v1/two-factor", None);
    assert_eq!(status, 401);
    let step = fresh_code(&secret, &mut used);
    let (status, _) = send(&mut app, "POST", "/api/v1/two-factor/step-up", code(&step));
    assert_eq!(status, 204);
    let (status, json) = send(&mut app, "POST", "/api/v1/two-factor/recovery-codes", None);
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["data"]["recovery_codes"].as_array().unwrap().len(), 10);
    let (status, json) = send(&mut app, "DELETE", "/api/v1/two-factor", None);
    assert_eq!(
        (status, &json["data"]["enabled"]),
        (200, &serde_json::json!(false))
    );
    let (_, json) = send(&mut app, "GET", "/api/v1/two-factor", None);
    assert_eq!(json["data"]["enabled"], false);

    // Without a token: 401.
    let res = Client::new(addr).request("GET", "/api/v1/two-factor", None);
    assert_eq!(res.status, 401, "{}", res.body);
}

fn two_steps_on_memory() {
    two_steps(Arc::new(MemoryStore::new()));
}

/// Erasing an account ends its sign-in waiting for the second step at once (and the
/// store keeps nothing of it), rather than leaving it until it expires.
fn erasing_ends_pending_sign_ins(store: Arc<dyn Store>) {
    use pow_actix::store::KeyPattern;
    let (config, addr, _) = start(Arc::clone(&store));
    let mut c = Client::new(addr);
    assert_eq!(sign_in(&mut c, false).status, 302);
    let mut used = Vec::new();
    enrol(&mut c, &mut used);
    sign_out(&mut c);
    let res = sign_in(&mut c, false);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut c), "anonymous");
    assert_eq!(c.get("/two-factor/verify").status, 200);
    let namespace = config.namespaced("two_factor");
    let system = actix_web::rt::System::new();
    let count = |pattern: Vec<KeyPattern>| {
        system
            .block_on(store.all(&namespace, &pattern))
            .unwrap()
            .len()
    };
    let pending = || vec![KeyPattern::exact("pending"), KeyPattern::Any];
    let noted = || {
        vec![
            KeyPattern::exact("user"),
            KeyPattern::Any,
            KeyPattern::exact("pending"),
            KeyPattern::Any,
        ]
    };
    assert_eq!((count(pending()), count(noted())), (1, 1));
    let user = stored_user(&config);
    system
        .block_on(pow_actix::admin::erase_account(
            &config,
            &user,
            pow_actix::admin::RowErasure::Delete,
        ))
        .unwrap();
    assert_eq!((count(pending()), count(noted())), (0, 0));
    // The browser's second step finds nothing to finish.
    let page = c.get("/two-factor/verify");
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(whoami(&mut c), "anonymous");
}

fn erasing_ends_pending_sign_ins_on_memory() {
    erasing_ends_pending_sign_ins(Arc::new(MemoryStore::new()));
}

fn erasing_ends_pending_sign_ins_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-two-factor-{}", pow_actix::token::generate_uuid());
    erasing_ends_pending_sign_ins(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

fn two_steps_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-two-factor-{}", pow_actix::token::generate_uuid());
    two_steps(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

/// The account page links to the settings, in each language.
fn the_account_page_links_to_the_settings() {
    let (_, addr, _) = start(Arc::new(MemoryStore::new()));
    for (lang, text) in [
        ("en", "Two-factor authentication"),
        ("de", "Zwei-Faktor-Authentifizierung"),
        ("fr", "Authentification à deux facteurs"),
    ] {
        let mut c = Client::new(addr);
        c.accept_language = Some(lang.to_owned());
        sign_in(&mut c, false);
        let page = c.get("/registration/edit");
        assert!(
            page.body
                .contains(&format!("<a href=\"/two-factor\">{text}</a>")),
            "{lang}: {}",
            page.body
        );
    }
}

/// One code sent by two browsers at once, each with its own pending sign-in: one signs in.
fn a_code_signs_in_once_under_concurrent_use() {
    let (_, addr, _) = start(Arc::new(MemoryStore::new()));
    let mut used = Vec::new();
    let mut c = Client::new(addr);
    sign_in(&mut c, false);
    let (key, _) = enrol(&mut c, &mut used);
    let code = fresh_code(&key, &mut used);
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut browser = Client::new(addr);
            sign_in(&mut browser, false);
            let page = browser.get("/two-factor/verify");
            let (barrier, code) = (Arc::clone(&barrier), code.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let res = browser.post(
                    "/two-factor/verify",
                    &[("_csrf_token", &page.csrf()), ("user[code]", &code)],
                );
                res.location() == "/"
            })
        })
        .collect();
    let signed_in = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(signed_in, 1);
}

/// The limits of the lock tests: no per-client limits in the way (every test client comes
/// from 127.0.0.1), a lock after 3 wrong passwords or 3 wrong codes.
fn lock_after_three(b: PowConfigBuilder) -> PowConfigBuilder {
    b.rate_limits(RateLimits {
        sign_in_per_ip: None,
        sign_in_failures: None,
        lockout: Some(Lockout {
            max_failures: 3,
            max_factor_failures: 3,
            ..Lockout::default()
        }),
        ..RateLimits::default()
    })
}

/// Waits for the lock notice the server sends after its answer.
fn lock_notice(mailer: &MemoryMailer) -> pow_actix::mailer::Mail {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(mail) = mailer
            .last_to(EMAIL)
            .filter(|m| m.subject.contains("locked"))
        {
            return mail;
        }
        assert!(std::time::Instant::now() < deadline, "no lock notice");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn unlock_path(mail: &pow_actix::mailer::Mail) -> String {
    let at = mail
        .text
        .find("http://localhost/session/unlock/")
        .expect("a link")
        + "http://localhost".len();
    mail.text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

/// The unlock link is not a way around the second factor: it lifts the lock, and the
/// sign-in after it still asks for the code.
fn the_unlock_link_still_asks_for_the_second_factor() {
    let (_, addr, mailer) = start_with(Arc::new(MemoryStore::new()), lock_after_three);
    let mut used = Vec::new();
    let mut owner = Client::new(addr);
    sign_in(&mut owner, false);
    let (key, _) = enrol(&mut owner, &mut used);
    sign_out(&mut owner);

    let mut attacker = Client::new(addr);
    for _ in 0..3 {
        attacker.sign_in(EMAIL, "wrong password");
    }
    assert_eq!(sign_in(&mut attacker, false).status, 429, "locked");
    let link = unlock_path(&lock_notice(&mailer));

    let res = attacker.get(&link);
    assert_eq!(
        res.location(),
        "/session/new",
        "unlocked, to the sign-in page"
    );
    assert_eq!(
        whoami(&mut attacker),
        "anonymous",
        "the link signs nobody in"
    );
    assert_eq!(
        attacker.get("/two-factor").location(),
        "/session/new?request_path=%2Ftwo-factor",
        "no settings without a sign-in"
    );
    assert_eq!(
        sign_in(&mut attacker, false).location(),
        "/two-factor/verify",
        "the password alone is still not enough"
    );
    assert_eq!(whoami(&mut attacker), "anonymous");
    assert_eq!(
        verify(&mut attacker, &fresh_code(&key, &mut used)).location(),
        "/"
    );
    assert_ne!(whoami(&mut attacker), "anonymous");
}

/// An audit sink that keeps the events it is given.
#[derive(Clone, Default)]
struct Kept(Arc<std::sync::Mutex<Vec<pow_actix::audit::AuditEvent>>>);

impl pow_actix::audit::AuditSink for Kept {
    fn write(&self, events: &[pow_actix::audit::AuditEvent]) -> Result<(), pow_actix::PowError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

impl Kept {
    /// Waits for an event named `name`.
    fn wait_for(&self, name: &str) -> pow_actix::audit::AuditEvent {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(event) = self.0.lock().unwrap().iter().find(|e| e.name == name) {
                return event.clone();
            }
            assert!(std::time::Instant::now() < deadline, "no {name} event");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// Wrong codes count against the account across pending sign-ins: a correct password
/// starts a new pending sign-in but does not clear them, and the budget used up locks the
/// account (the right code and the password are refused, the owner is told, the audit log
/// says why).
fn wrong_codes_lock_the_account(store: Arc<dyn Store>) {
    let kept = Kept::default();
    let sink = kept.clone();
    let (_, addr, mailer) = start_with(store, |b| {
        lock_after_three(b).audit(pow_actix::audit::Auditor::new(sink))
    });
    let mut used = Vec::new();
    let mut c = Client::new(addr);
    sign_in(&mut c, false);
    let (key, _) = enrol(&mut c, &mut used);
    sign_out(&mut c);

    let mut attacker = Client::new(addr);
    assert_eq!(
        sign_in(&mut attacker, false).location(),
        "/two-factor/verify"
    );
    for _ in 0..2 {
        let res = verify(&mut attacker, "000000");
        assert!(res.body.contains("That code is not valid."), "{}", res.body);
    }
    // The password again: a new pending sign-in, the same budget.
    assert_eq!(
        sign_in(&mut attacker, false).location(),
        "/two-factor/verify"
    );
    let res = verify(&mut attacker, "000001");
    assert!(res.body.contains("That code is not valid."), "{}", res.body);

    // Locked: this pending sign-in is refused even with the right code...
    let page = attacker.get("/two-factor/verify");
    let res = attacker.post(
        "/two-factor/verify",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[code]", &fresh_code(&key, &mut used)),
        ],
    );
    assert_eq!(res.status, 429, "the third wrong code locked: {}", res.body);
    assert_eq!(whoami(&mut attacker), "anonymous");
    // ...and so is the password, from any browser.
    let mut owner = Client::new(addr);
    assert_eq!(sign_in(&mut owner, false).status, 429);
    let notice = lock_notice(&mailer);
    assert!(
        notice.text.contains("wrong sign-in code"),
        "{}",
        notice.text
    );
    let locked = kept.wait_for("lockout.locked");
    assert_eq!(locked.detail["by"], "second_factor");

    // The JSON second step is refused too.
    let mut api = Client::new(addr);
    let body = format!(r#"{{"user": {{"email": "{EMAIL}", "password": "{PASSWORD}"}}}}"#);
    let res = api.request("POST", "/api/v1/session", Some(body));
    assert_eq!(res.status, 429, "{}", res.body);
}

fn wrong_codes_lock_the_account_on_memory() {
    wrong_codes_lock_the_account(Arc::new(MemoryStore::new()));
}

fn wrong_codes_lock_the_account_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-two-factor-{}", pow_actix::token::generate_uuid());
    wrong_codes_lock_the_account(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

/// A passed second factor clears the failures; the JSON second step counts them too.
fn a_right_code_clears_the_failures() {
    let (_, addr, _) = start_with(Arc::new(MemoryStore::new()), lock_after_three);
    let mut used = Vec::new();
    let mut c = Client::new(addr);
    sign_in(&mut c, false);
    let (key, codes) = enrol(&mut c, &mut used);
    sign_out(&mut c);

    for (round, recovery) in codes.iter().enumerate().take(3) {
        sign_in(&mut c, false);
        for _ in 0..2 {
            verify(&mut c, "000000");
        }
        // A recovery code (a TOTP step works once; three rounds would need three steps).
        let res = verify(&mut c, recovery);
        assert_eq!(res.location(), "/", "round {round}: not locked");
        sign_out(&mut c);
    }

    // The JSON second step: two wrong codes there, one in the browser, and it locks.
    let mut api = Client::new(addr);
    let body = format!(r#"{{"user": {{"email": "{EMAIL}", "password": "{PASSWORD}"}}}}"#);
    let res = api.request("POST", "/api/v1/session", Some(body.clone()));
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let token = json["data"]["pending"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let body = serde_json::json!({ "second_factor_token": token, "code": "000000" });
        let res = api.request("POST", "/api/v1/two-factor/verify", Some(body.to_string()));
        assert_eq!(res.status, 401, "{}", res.body);
    }
    sign_in(&mut c, false);
    verify(&mut c, "000000");
    let body = serde_json::json!({
        "second_factor_token": token,
        "code": fresh_code(&key, &mut used),
    });
    let res = api.request("POST", "/api/v1/two-factor/verify", Some(body.to_string()));
    assert_eq!(res.status, 429, "{}", res.body);
    assert!(res.body.contains("rate_limited"), "{}", res.body);
}

/// Completing a sign-up signs in too: an invited user who has a second factor (an
/// administrator set it up) is asked for the code after choosing a password.
fn completing_a_sign_up_asks_for_the_second_factor() {
    let (config, addr, mailer) = start_with(Arc::new(MemoryStore::new()), |b| {
        b.extension(pow_ext_invitation::Invitation::new())
    });
    let mut alice = Client::new(addr);
    sign_in(&mut alice, false);
    let page = alice.get("/invitations/new");
    let res = alice.post(
        "/invitations",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "bob@example.com"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let mail = mailer.last_to("bob@example.com").expect("an invitation");
    let at = mail.text.find("http://localhost/invitations/").unwrap() + "http://localhost".len();
    let edit: String = mail.text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let users = config.users_context().unwrap();
    let bob = users
        .get_by(config.user_schema(), "email", &"bob@example.com".into())
        .unwrap()
        .unwrap();
    let mut changes = pow_actix::users::Changes::new();
    changes.insert("totp_secret".to_owned(), secret.into());
    changes.insert(
        "totp_enabled_at".to_owned(),
        pow_actix::users::Value::Timestamp(chrono::Utc::now()),
    );
    users
        .update_fields(config.user_schema(), &bob, &changes)
        .unwrap();

    let mut browser = Client::new(addr);
    let page = browser.get(&edit);
    assert_eq!(page.status, 200, "{}", page.body);
    let res = browser.post(
        edit.trim_end_matches("/edit"),
        &[
            ("_csrf_token", &page.csrf()),
            ("_method", "PATCH"),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(
        res.location(),
        "/two-factor/verify",
        "the second step comes first: {}",
        res.body
    );
    assert_eq!(whoami(&mut browser), "anonymous");
    let mut used = Vec::new();
    assert_eq!(
        verify(&mut browser, &fresh_code(secret, &mut used)).location(),
        "/"
    );
    assert_eq!(whoami(&mut browser), format!("user:{}", bob.id));
}

/// A second-factor sign-in of one user left pending, then a password sign-in of another
/// in the same browser: the second user gets nothing of the first's (no pending step, no
/// method), and the first's right code is not taken in the second's session.
fn a_switched_sign_in_carries_nothing_over() {
    let (config, addr, _) = start(Arc::new(MemoryStore::new()));
    let other = pow_actix::testing::create_user(&config, "bob@example.com", PASSWORD).unwrap();
    let mut used = Vec::new();
    let mut c = Client::new(addr);
    sign_in(&mut c, false);
    let (key, _) = enrol(&mut c, &mut used);
    sign_out(&mut c);

    assert_eq!(sign_in(&mut c, false).location(), "/two-factor/verify");
    let csrf = c.get("/session/new").csrf();
    let res = c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "bob@example.com"),
            ("user[password]", PASSWORD),
        ],
    );
    assert_eq!(res.location(), "/", "{}", res.body);
    assert_eq!(whoami(&mut c), format!("user:{}", other.id));
    // No pending step of the first user's is left to answer.
    assert_ne!(c.get("/two-factor/verify").status, 200);
    let code = fresh_code(&key, &mut used);
    let csrf = c.get("/registration/edit").csrf();
    c.post(
        "/two-factor/verify",
        &[("_csrf_token", &csrf), ("user[code]", &code)],
    );
    assert_eq!(whoami(&mut c), format!("user:{}", other.id));
    // The code was not even looked at: its owner signs in with it afterwards.
    sign_out(&mut c);
    assert_eq!(sign_in(&mut c, false).location(), "/two-factor/verify");
    assert_eq!(verify(&mut c, &code).location(), "/");
    assert_ne!(whoami(&mut c), format!("user:{}", other.id));
}

pow_testkit::on_both!(
    two_steps_on_memory,
    two_steps_on_redis,
    step_up_rules_want_a_recent_second_factor,
    an_app_client_enrols_and_manages_its_second_factor,
    erasing_ends_pending_sign_ins_on_memory,
    erasing_ends_pending_sign_ins_on_redis,
    the_account_page_links_to_the_settings,
    a_code_signs_in_once_under_concurrent_use,
    the_unlock_link_still_asks_for_the_second_factor,
    wrong_codes_lock_the_account_on_memory,
    wrong_codes_lock_the_account_on_redis,
    a_right_code_clears_the_failures,
    completing_a_sign_up_asks_for_the_second_factor,
    a_switched_sign_in_carries_nothing_over,
);

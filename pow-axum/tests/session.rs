//! The axum layer over a real setup (SQLite users, in-memory store): it reads the session
//! cookie the actix-web layer writes and the other way round, refuses what the actix-web
//! layer refuses, and says plainly when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use actix_web::{test as actix_test, web, App, HttpResponse};
use axum::body::Body;
use axum::extract::Form;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::routing::post as post_route;
use axum::Router;
use http_body_util::BodyExt as _;
use pow_axum::{
    CurrentUser, MaybeUser, Pow, PowConfig, PowConfigBuilder, PowError, PowLayer, RequireStepUp,
};
use pow_core::flows::{self, SignIn};
use pow_core::mailer::MemoryMailer;
use pow_core::password::Pbkdf2Hasher;
use pow_core::session::{
    impersonation, AuthMethod, Impersonation, SessionHandle as _, SessionMetadata, StepUp,
};
use pow_core::testing::ProbeStore;
use pow_core::users::diesel::DieselUsersContext;
use pow_core::users::{Params, User};
use pow_ext_persistent_session::PersistentSession;
use tower::ServiceExt as _;

/// A setup on a fresh SQLite database with one user.
fn setup(renew_every: Option<Duration>) -> (PowConfig, User) {
    setup_with("x", renew_every)
}

fn setup_with(secret: &str, renew_every: Option<Duration>) -> (PowConfig, User) {
    setup_mailing(secret, renew_every, MemoryMailer::new())
}

fn setup_mailing(
    secret: &str,
    renew_every: Option<Duration>,
    mailer: MemoryMailer,
) -> (PowConfig, User) {
    setup_built(secret, |builder| {
        builder
            .session_ttl_renewal(renew_every)
            .mailer(mailer)
            .base_url("https://app.example")
    })
}

/// A setup of `secret` on a fresh SQLite database with one user, its builder `extend`ed.
fn setup_built(
    secret: &str,
    extend: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> (PowConfig, User) {
    let db = std::env::temp_dir().join(format!(
        "pow-axum-session-{}.db",
        pow_core::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let builder = PowConfig::builder(secret.repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1));
    let config = extend(builder).build().unwrap();
    users.migrate(&config).unwrap();
    let user = pow_core::testing::create_user(&config, "ada@example.com", "correct horse battery")
        .unwrap();
    (config, user)
}

/// Signs `user` in through an actix-web app of `config`: the session cookie's value, and
/// the `Cookie` header that carries it.
async fn signed_in(config: &PowConfig, user: &User) -> (String, String) {
    let cookie = pow_actix::testing::sign_in_cookie(config, user)
        .await
        .unwrap();
    let header = format!("{}={}", cookie.name(), cookie.value());
    (cookie.value().to_owned(), header)
}

/// Who an axum app of `config` serves the `Cookie` header `cookie` as (`GET /maybe`).
async fn who(config: &PowConfig, cookie: Option<&str>) -> String {
    call(router(config), "/maybe", cookie, &[]).await.body
}

fn router(config: &PowConfig) -> Router {
    routes().layer(PowLayer::new(config.clone()))
}

fn routes() -> Router {
    Router::new()
        .route(
            "/me",
            get(|CurrentUser(user): CurrentUser| async move { user.id.to_string() }),
        )
        .route(
            "/maybe",
            get(|MaybeUser(user): MaybeUser| async move {
                user.map_or_else(|| "nobody".to_owned(), |user| user.id.to_string())
            }),
        )
        .route(
            "/facts",
            get(|pow: Pow| async move {
                format!(
                    "{:?} {}",
                    pow.facts.session.as_ref().map(|(_, user)| *user),
                    pow.facts.origin.clone().unwrap_or_default()
                )
            }),
        )
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    /// The value of the session cookie the answer sets, if it sets one.
    fn session_cookie(&self, config: &PowConfig) -> Option<String> {
        let prefix = format!("{}=", config.session().cookie_name);
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&prefix))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
    }
}

async fn call(app: Router, uri: &str, cookie: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    send(app, Request::get(uri), cookie, headers).await
}

async fn post(app: Router, uri: &str, cookie: Option<&str>) -> Answer {
    send(app, Request::post(uri), cookie, &[]).await
}

async fn send(
    app: Router,
    req: axum::http::request::Builder,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = req.header(header::HOST, "app.example");
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    answer(app, req.body(Body::empty()).unwrap()).await
}

/// What `app` answers to `req`.
async fn answer(app: Router, req: Request<Body>) -> Answer {
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// `GET /me` on an actix-web app of `config`, with the session cookie `value`.
async fn actix_me(config: &PowConfig, value: &str) -> (u16, String) {
    let app = actix_test::init_service(
        App::new()
            .wrap(pow_actix::PowMiddleware::new(config.clone()))
            .route(
                "/me",
                web::get().to(
                    |pow_actix::CurrentUser(user): pow_actix::CurrentUser| async move {
                        HttpResponse::Ok().body(user.id.to_string())
                    },
                ),
            ),
    )
    .await;
    let req = actix_test::TestRequest::get()
        .uri("/me")
        .insert_header(("accept", "application/json"))
        .cookie(actix_web::cookie::Cookie::new(
            config.session().cookie_name.clone(),
            value.to_owned(),
        ))
        .to_request();
    let res = actix_test::call_service(&app, req).await;
    let status = res.status().as_u16();
    let body = actix_test::read_body(res).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[actix_rt::test]
async fn a_browser_signed_in_on_actix_web_is_signed_in_on_axum() {
    let (config, user) = setup(None);
    let (_, header) = signed_in(&config, &user).await;

    let me = call(router(&config), "/me", Some(&header), &[]).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body, user.id.to_string());
    assert_eq!(
        me.session_cookie(&config),
        None,
        "an unchanged session sets no cookie"
    );

    let facts = call(router(&config), "/facts", Some(&header), &[]).await;
    assert_eq!(facts.body, format!("Some({}) http://app.example", user.id));
}

#[actix_rt::test]
async fn without_a_session_json_gets_401_and_pages_a_redirect() {
    let (config, _) = setup(None);
    let json = call(
        router(&config),
        "/me",
        None,
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(json.status, StatusCode::UNAUTHORIZED);
    assert_eq!(json.headers[header::CACHE_CONTROL], "no-store");
    let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(body["errors"][0]["code"], "not_authenticated");
    let (status, actix_body) = actix_me(&config, "not-a-session").await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::from_str::<serde_json::Value>(&actix_body).unwrap(),
        "one envelope on both frameworks"
    );

    let page = call(router(&config), "/me?tab=1", None, &[]).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    let location = page.headers[header::LOCATION].to_str().unwrap();
    assert_eq!(location, "/session/new?request_path=%2Fme%3Ftab%3D1");

    let maybe = call(router(&config), "/maybe", None, &[]).await;
    assert_eq!(maybe.body, "nobody");
    assert_eq!(
        maybe.session_cookie(&config),
        None,
        "nothing to remember, no cookie"
    );
}

#[actix_rt::test]
async fn a_tampered_or_foreign_cookie_is_nobody() {
    let (config, user) = setup(None);
    let (value, _) = signed_in(&config, &user).await;
    let mut forged = value.into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let name = &config.session().cookie_name;
    let forged = format!("{name}={}", String::from_utf8(forged).unwrap());
    assert_eq!(who(&config, Some(&forged)).await, "nobody");

    // A cookie signed with another secret key base is not read.
    let (other, other_user) = setup_with("y", None);
    let (_, foreign) = signed_in(&other, &other_user).await;
    assert_eq!(who(&other, Some(&foreign)).await, other_user.id.to_string());
    assert_eq!(who(&config, Some(&foreign)).await, "nobody");
}

#[actix_rt::test]
async fn a_revoked_session_ends_on_axum_at_once() {
    let (config, user) = setup(None);
    let (_, header) = signed_in(&config, &user).await;
    assert_eq!(who(&config, Some(&header)).await, user.id.to_string());
    pow_core::session::revoke_user(&config, &user)
        .await
        .unwrap();
    assert_eq!(who(&config, Some(&header)).await, "nobody");
}

#[actix_rt::test]
async fn a_session_renewed_on_axum_is_read_by_actix_web() {
    let (config, user) = setup(Some(Duration::ZERO));
    let (value, header) = signed_in(&config, &user).await;

    let renewed = call(router(&config), "/me", Some(&header), &[]).await;
    assert_eq!(renewed.body, user.id.to_string());
    let old = value;
    let value = renewed
        .session_cookie(&config)
        .expect("a session due for renewal moves to a new id");
    assert_ne!(value, old);
    let set = renewed.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );

    assert_eq!(actix_me(&config, &value).await, (200, user.id.to_string()));
    // The old id keeps answering during the rotation's grace, for a request that raced it.
    assert_eq!(actix_me(&config, &old).await.0, 200);
}

#[tokio::test]
async fn an_extractor_without_the_layer_says_what_is_missing() {
    let answer = call(routes(), "/me", None, &[]).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.body.contains("PowLayer"), "{}", answer.body);
    assert!(answer.body.contains("CurrentUser"), "{}", answer.body);
    assert_eq!(
        call(routes(), "/maybe", None, &[]).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

/// `POST /sign_in` signs the one user in, `POST /sign_out` signs out, both through [`Pow`].
fn signing_routes() -> Router {
    routes()
        .route(
            "/sign_in",
            post_route(|mut pow: Pow| async move {
                let user = pow
                    .config
                    .users()?
                    .get_by("email", "ada@example.com")
                    .await?
                    .ok_or_else(|| PowError::Other("no user".into()))?;
                pow.sign_in(&user, SessionMetadata::new()).await?;
                let current = pow
                    .current
                    .as_ref()
                    .map(|current| current.user.id.to_string());
                Ok::<_, pow_axum::Error>(current.unwrap_or_default())
            }),
        )
        .route(
            "/sign_out",
            post_route(|mut pow: Pow| async move {
                pow.sign_out().await?;
                Ok::<_, pow_axum::Error>(format!("out {}", pow.current.is_none()))
            }),
        )
}

#[actix_rt::test]
async fn a_sign_in_on_axum_is_read_by_actix_web_and_a_sign_out_ends_it_on_both() {
    let mailer = MemoryMailer::new();
    let (config, user) = setup_mailing("x", None, mailer.clone());
    let app = || signing_routes().layer(PowLayer::new(config.clone()));
    let name = config.session().cookie_name.clone();

    let first = post(app(), "/sign_in", None).await;
    assert_eq!(
        first.body,
        user.id.to_string(),
        "the handler sees the new session"
    );
    let value = first
        .session_cookie(&config)
        .expect("a sign-in sets the session cookie");
    let device = pow_core::session::browser::device_cookie_name(&config);
    let set: Vec<&str> = first
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with(&format!("{device}="))),
        "{set:?}"
    );
    assert_eq!(actix_me(&config, &value).await, (200, user.id.to_string()));
    assert_eq!(
        mailer.count_to("ada@example.com"),
        0,
        "the first device is not announced"
    );

    // Another browser (no device cookie) is a new device: announced by mail.
    let second = post(app(), "/sign_in", None).await;
    assert!(second.session_cookie(&config).is_some());
    assert_eq!(mailer.count_to("ada@example.com"), 1);

    let out = post(app(), "/sign_out", Some(&format!("{name}={value}"))).await;
    assert_eq!(out.body, "out true");
    assert_eq!(
        out.session_cookie(&config).as_deref(),
        Some(""),
        "the cookie is removed"
    );
    assert_eq!(actix_me(&config, &value).await.0, 401);
    let maybe = call(
        router(&config),
        "/maybe",
        Some(&format!("{name}={value}")),
        &[],
    )
    .await;
    assert_eq!(maybe.body, "nobody");
}

#[actix_rt::test]
async fn a_store_that_is_down_answers_503_with_retry_after_on_both() {
    let store = ProbeStore::new();
    let (config, user) = setup_built("x", |builder| builder.store(store.clone()));
    let (value, header) = signed_in(&config, &user).await;
    assert_eq!(who(&config, Some(&header)).await, user.id.to_string());

    store.set_down(true);
    let down = call(
        router(&config),
        "/maybe",
        Some(&header),
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.body
    );
    assert_eq!(down.headers[header::RETRY_AFTER], "5");
    assert_eq!(down.body, "Service Unavailable");
    assert_eq!(
        actix_me(&config, &value).await,
        (503, "Service Unavailable".to_owned()),
        "actix-web answers the same"
    );
    // Without a session cookie there is nothing to look up: the page is served.
    assert_eq!(who(&config, None).await, "nobody");
}

/// An axum app of `config` whose handlers run the engine's flows with [`Pow`] as the session
/// handle and client: `POST /session` signs in (`flows::sign_in`), `POST /remember` signs
/// in and asks the remember-me extension to remember the browser.
fn engine_routes(remember_me: PersistentSession) -> Router {
    async fn sign_in(pow: &mut Pow, params: Params) -> Option<User> {
        let (config, facts) = (pow.config.clone(), pow.facts.clone());
        match flows::sign_in(&config, &facts, params, pow).await.unwrap() {
            SignIn::SignedIn(user) => Some(user),
            _ => None,
        }
    }
    routes()
        .route(
            "/session",
            post_route(|mut pow: Pow, Form(params): Form<Params>| async move {
                match sign_in(&mut pow, params).await {
                    Some(user) => format!("signed in {}", user.id),
                    None => "not signed in".to_owned(),
                }
            }),
        )
        .route(
            "/remember",
            post_route(|mut pow: Pow, Form(params): Form<Params>| async move {
                let Some(user) = sign_in(&mut pow, params).await else {
                    return "not signed in".to_owned();
                };
                let config = pow.config.clone();
                remember_me
                    .remember(&mut pow, &config, &user)
                    .await
                    .unwrap();
                format!("remembered {}", user.id)
            }),
        )
}

/// `POST uri` with the form `body`.
async fn post_form(app: Router, uri: &str, body: &str) -> Answer {
    let req = Request::post(uri)
        .header(header::HOST, "app.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    answer(app, req).await
}

/// The value of cookie `name` an answer sets, if it sets one.
fn set_cookie(answer: &Answer, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&prefix))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
}

const RIGHT: &str = "email=ada%40example.com&password=correct+horse+battery";

#[actix_rt::test]
async fn an_engine_flow_signs_in_from_an_axum_handler() {
    let (config, user) = setup(None);
    let app = || engine_routes(PersistentSession::new()).layer(PowLayer::new(config.clone()));

    let wrong = post_form(app(), "/session", "email=ada%40example.com&password=nope").await;
    assert_eq!(wrong.body, "not signed in");
    assert_eq!(
        wrong.session_cookie(&config),
        None,
        "a refused sign-in sets no session"
    );

    let answer = post_form(app(), "/session", RIGHT).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, format!("signed in {}", user.id));
    let value = answer
        .session_cookie(&config)
        .expect("the sign-in sets the session cookie");
    let header = format!("{}={value}", config.session().cookie_name);
    assert_eq!(who(&config, Some(&header)).await, user.id.to_string());
    assert_eq!(
        actix_me(&config, &value).await,
        (200, user.id.to_string()),
        "the session the flow started on axum is the actix-web layer's too"
    );
}

#[actix_rt::test]
async fn a_remember_me_cookie_signs_the_browser_in_again_on_axum() {
    let remember_me = PersistentSession::new();
    let (config, user) = setup_built("x", |builder| builder.extension(remember_me.clone()));
    let app = || engine_routes(remember_me.clone()).layer(PowLayer::new(config.clone()));
    let name = remember_me.cookie_name_for(&config);

    let answer = post_form(app(), "/remember", RIGHT).await;
    assert_eq!(answer.body, format!("remembered {}", user.id));
    let token = set_cookie(&answer, &name).expect("the extension sets its cookie");
    let set = answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap()
        .to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"));

    // A browser that kept only the remember-me cookie (its session ended).
    let back = call(app(), "/maybe", Some(&format!("{name}={token}")), &[]).await;
    assert_eq!(
        back.body,
        user.id.to_string(),
        "the request hook signed it in"
    );
    let session = back
        .session_cookie(&config)
        .expect("a new session cookie is set");
    let rotated = set_cookie(&back, &name).expect("the remember-me cookie is rotated");
    assert_ne!(rotated, token);
    assert_eq!(
        actix_me(&config, &session).await,
        (200, user.id.to_string())
    );

    let forged = call(app(), "/maybe", Some(&format!("{name}={token}x")), &[]).await;
    assert_eq!(forged.body, "nobody");
    assert_eq!(
        set_cookie(&forged, &name).as_deref(),
        Some(""),
        "a forged cookie is expired"
    );
}

/// The rule of the `/guarded` routes: the password proved within five minutes.
fn step_up_rule() -> StepUp {
    StepUp::any_of([AuthMethod::PASSWORD], Duration::from_secs(300))
}

/// `GET /guarded` behind pow-actix's `RequireStepUp` of [`step_up_rule`], with the session
/// cookie `value`: the status, `Location` and body.
async fn actix_guarded(config: &PowConfig, value: Option<&str>, json: bool) -> Answer {
    let app = actix_test::init_service(
        App::new()
            .wrap(pow_actix::PowMiddleware::new(config.clone()))
            .service(
                web::scope("/guarded")
                    .wrap(pow_actix::session::RequireStepUp::new(step_up_rule()))
                    .route(
                        "",
                        web::get().to(|| async { HttpResponse::Ok().body("guarded") }),
                    ),
            ),
    )
    .await;
    let mut req = actix_test::TestRequest::get().uri("/guarded");
    if let Some(value) = value {
        req = req.cookie(actix_web::cookie::Cookie::new(
            config.session().cookie_name.clone(),
            value.to_owned(),
        ));
    }
    if json {
        req = req.insert_header(("accept", "application/json"));
    }
    let res = actix_test::call_service(&app, req.to_request()).await;
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in res.headers() {
        headers.append(
            header::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            header::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    let body = actix_test::read_body(res).await;
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// An axum app of `config`: `/guarded` behind [`RequireStepUp`] of [`step_up_rule`], the
/// sign-in routes, and `POST /fresh`, which records the password on the session (sudo
/// mode's confirmation) through `Pow` as the engine's session handle.
fn guarded_router(config: &PowConfig) -> Router {
    Router::new()
        .route("/guarded", get(|| async { "guarded" }))
        .route_layer(RequireStepUp::new(step_up_rule()))
        .merge(signing_routes())
        .route(
            "/fresh",
            post_route(|mut pow: Pow| async move {
                let config = pow.config.clone();
                pow.mark_fresh(&config).await?;
                Ok::<_, pow_axum::Error>("fresh")
            }),
        )
        .layer(PowLayer::new(config.clone()))
}

#[actix_rt::test]
async fn a_step_up_rule_is_answered_on_axum_as_on_actix_web() {
    let (config, user) = setup(None);
    let axum_guarded = |cookie: Option<String>, json: bool| {
        let headers: &[(&str, &str)] = if json {
            &[("accept", "application/json")]
        } else {
            &[]
        };
        let app = guarded_router(&config);
        async move { call(app, "/guarded", cookie.as_deref(), headers).await }
    };
    let location = |answer: &Answer| {
        answer
            .headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
    };

    // Nobody signed in: refused as `CurrentUser` refuses, on both.
    let anonymous = axum_guarded(None, false).await;
    let actix = actix_guarded(&config, None, false).await;
    assert_eq!(anonymous.status, StatusCode::FOUND);
    assert_eq!(
        (anonymous.status, location(&anonymous)),
        (actix.status, location(&actix))
    );

    // Signed in without proving the password: sent to confirm it, and back.
    let signed_in = post(guarded_router(&config), "/sign_in", None).await;
    assert_eq!(signed_in.body, user.id.to_string());
    let value = signed_in.session_cookie(&config).unwrap();
    let cookie = format!("{}={value}", config.session().cookie_name);
    let page = axum_guarded(Some(cookie.clone()), false).await;
    let actix = actix_guarded(&config, Some(&value), false).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        location(&page).as_deref(),
        Some("/session/confirm?request_path=%2Fguarded")
    );
    assert_eq!(
        (page.status, location(&page)),
        (actix.status, location(&actix))
    );
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");

    let json = axum_guarded(Some(cookie.clone()), true).await;
    let actix = actix_guarded(&config, Some(&value), true).await;
    assert_eq!(json.status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(body["errors"][0]["code"], "step_up_required");
    assert_eq!(
        body["data"]["pending"][0]["methods"],
        serde_json::json!(["password"])
    );
    assert_eq!(actix.status, json.status);
    assert_eq!(
        body,
        serde_json::from_str::<serde_json::Value>(&actix.body).unwrap(),
        "one answer on both frameworks"
    );

    // Once the password is proved (a flow's `mark_fresh` on `Pow`), both let it through.
    let fresh = post(guarded_router(&config), "/fresh", Some(&cookie)).await;
    assert_eq!(fresh.body, "fresh");
    let through = axum_guarded(Some(cookie), false).await;
    assert_eq!(
        (through.status, through.body.as_str()),
        (StatusCode::OK, "guarded")
    );
    let actix = actix_guarded(&config, Some(&value), false).await;
    assert_eq!(
        (actix.status, actix.body.as_str()),
        (StatusCode::OK, "guarded")
    );
}

#[actix_rt::test]
async fn signing_out_of_support_access_on_axum_brings_the_admin_back() {
    let support = Impersonation::new(|user: &User| user.email() == Some("admin@example.com"));
    let (config, ada) = setup_built("x", |builder| builder.impersonation(support));
    let admin =
        pow_core::testing::create_user(&config, "admin@example.com", "correct horse battery")
            .unwrap();
    let app = || {
        let admin = admin.clone();
        signing_routes()
            .route(
                "/sign_in_admin",
                post_route(|mut pow: Pow| async move {
                    pow.sign_in(&admin, SessionMetadata::new()).await?;
                    Ok::<_, pow_axum::Error>("admin")
                }),
            )
            .route(
                "/support",
                post_route(move |mut pow: Pow| async move {
                    let config = pow.config.clone();
                    let admin = pow
                        .current
                        .clone()
                        .ok_or_else(|| PowError::Other("nobody".into()))?;
                    let device = pow_core::session::device_of(&pow.facts);
                    let started = impersonation::start(&config, &admin, ada.id, "ticket 7", device)
                        .await?
                        .map_err(|refusal| PowError::Other(format!("{refusal:?}")))?;
                    pow.begin_support_access(started)?;
                    let as_user = pow.current.as_ref().map(|c| c.user.id).unwrap_or_default();
                    Ok::<_, pow_axum::Error>(as_user.to_string())
                }),
            )
            .layer(PowLayer::new(config.clone()))
    };
    let cookie_of = |answer: &Answer, before: &str| {
        answer.session_cookie(&config).map_or_else(
            || before.to_owned(),
            |value| format!("{}={value}", config.session().cookie_name),
        )
    };

    let signed_in = post(app(), "/sign_in_admin", None).await;
    assert_eq!(signed_in.body, "admin");
    let cookie = cookie_of(&signed_in, "");
    let support = post(app(), "/support", Some(&cookie)).await;
    assert_eq!(support.body, ada.id.to_string(), "{}", support.body);
    let cookie = cookie_of(&support, &cookie);
    assert_eq!(
        call(app(), "/maybe", Some(&cookie), &[]).await.body,
        ada.id.to_string()
    );

    let out = post(app(), "/sign_out", Some(&cookie)).await;
    assert_eq!(
        out.body, "out false",
        "the browser is the admin's again, not signed out"
    );
    let cookie = cookie_of(&out, &cookie);
    assert_eq!(
        call(app(), "/maybe", Some(&cookie), &[]).await.body,
        admin.id.to_string()
    );
}

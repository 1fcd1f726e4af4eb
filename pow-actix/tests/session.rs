//! Sessions end to end: middleware, sign-in/out, renewal, guards, extractors, two setups.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use async_trait::async_trait;
use chrono::Utc;
use pow_actix::pages::HttpAnswer;
use pow_actix::pipeline::Refusal;
use pow_actix::session::CookieSessionExt as _;
use pow_actix::session::{
    self, CredentialsCache, CurrentUser, MaybeUser, PowMiddleware, RequireAuthenticated,
    RequireNotAuthenticated, SessionMetadata,
};
use pow_actix::store::{conformance, Key, MemoryStore, Store};
use pow_actix::users::{Changes, UserSchema, Value, WriteError};
use pow_actix::{PowConfig, PowConfigBuilder, PowError, PowRequestExt, User, UsersContext};
use pow_core::framework::page::PageRequest;

#[path = "../benches/support/http1.rs"]
mod http1;

const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn user(id: i64) -> User {
    User {
        id,
        password_hash: None,
        inserted_at: Utc::now(),
        updated_at: Utc::now(),
        fields: BTreeMap::from([(
            "email".to_owned(),
            Value::Text(format!("user{id}@example.com")),
        )]),
    }
}

fn config_with(f: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder) -> PowConfig {
    f(PowConfig::builder(SECRET)).build().unwrap()
}

fn config() -> PowConfig {
    config_with(|b| b)
}

async fn sign_in_route(req: HttpRequest, id: web::Path<i64>) -> pow_actix::Result<HttpResponse> {
    session::sign_in(&req, &user(*id)).await?;
    Ok(HttpResponse::Ok().body("signed in"))
}

async fn sign_out_route(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    session::sign_out(&req).await?;
    Ok(HttpResponse::Ok().body("signed out"))
}

async fn sign_out_everywhere_route(
    req: HttpRequest,
    CurrentUser(user): CurrentUser,
) -> pow_actix::Result<HttpResponse> {
    let count = session::sign_out_everywhere(&req, user.id).await?;
    Ok(HttpResponse::Ok().body(count.to_string()))
}

async fn show_flash(req: HttpRequest) -> HttpResponse {
    let flash = pow_actix::web::flash::take(&req);
    HttpResponse::Ok().body(format!("error: {}", flash.error.unwrap_or_default()))
}

async fn whoami(MaybeUser(user): MaybeUser) -> HttpResponse {
    HttpResponse::Ok().body(user.map_or_else(|| "anon".to_owned(), |u| u.id.to_string()))
}

async fn email(CurrentUser(user): CurrentUser) -> HttpResponse {
    HttpResponse::Ok().body(user.email().unwrap_or_default().to_owned())
}

async fn visit(req: HttpRequest) -> HttpResponse {
    req.cookie_session().insert("visited", true).unwrap();
    HttpResponse::Ok().finish()
}

/// Puts a raw value under the session key, as a forged cookie session would hold it.
async fn inject(req: HttpRequest, body: String) -> HttpResponse {
    let config = session::config(&req).unwrap();
    req.cookie_session()
        .insert(config.session().session_key.clone(), body)
        .unwrap();
    HttpResponse::Ok().finish()
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign_in/{id}", web::post().to(sign_in_route))
        .route("/sign_out", web::post().to(sign_out_route))
        .route(
            "/sign_out_everywhere",
            web::post().to(sign_out_everywhere_route),
        )
        .route("/whoami", web::get().to(whoami))
        .route("/flash", web::get().to(show_flash))
        .route("/email", web::get().to(email))
        .route("/visit", web::get().to(visit))
        .route("/inject", web::post().to(inject))
        .service(
            web::scope("/protected")
                .wrap(RequireAuthenticated::new())
                .route("", web::get().to(whoami))
                .route("", web::post().to(whoami)),
        )
        .service(
            web::scope("/guest")
                .wrap(RequireNotAuthenticated::new())
                .route("", web::get().to(whoami)),
        );
}

macro_rules! app {
    ($config:expr) => {{
        let config: PowConfig = $config.clone();
        test::init_service(
            App::new()
                .wrap(PowMiddleware::new(config.clone()))
                .configure(routes),
        )
        .await
    }};
}

fn session_cookie<B>(res: &ServiceResponse<B>, config: &PowConfig) -> Option<Cookie<'static>> {
    res.response()
        .cookies()
        .find(|c| c.name() == config.session().cookie_name)
        .map(Cookie::into_owned)
}

async fn body<B: MessageBody>(res: ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
}

/// Sends `req` and returns status, body and any new session cookie.
async fn send<S, R, B>(
    app: &S,
    config: &PowConfig,
    req: R,
) -> (StatusCode, String, Option<Cookie<'static>>)
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(app, req).await;
    let new_cookie = session_cookie(&res, config);
    (res.status(), body(res).await, new_cookie)
}

fn with_cookie(req: TestRequest, cookie: Option<&Cookie<'static>>) -> TestRequest {
    match cookie {
        Some(cookie) => req.cookie(cookie.clone()),
        None => req,
    }
}

/// GET `path` with an optional cookie: `(status, body, new session cookie)`.
macro_rules! get {
    ($app:expr, $config:expr, $path:expr, $cookie:expr) => {
        send(
            $app,
            $config,
            with_cookie(TestRequest::get().uri($path), $cookie).to_request(),
        )
        .await
    };
}

/// POST `path` with an optional cookie.
macro_rules! post {
    ($app:expr, $config:expr, $path:expr, $cookie:expr) => {
        send(
            $app,
            $config,
            with_cookie(TestRequest::post().uri($path), $cookie).to_request(),
        )
        .await
    };
}

/// POSTs to a sign-in route and returns the session cookie.
macro_rules! signed_in_at {
    ($app:expr, $config:expr, $path:expr) => {{
        let (status, _, cookie) = post!($app, $config, $path, None);
        assert_eq!(status, StatusCode::OK);
        cookie.expect("sign-in sets the session cookie")
    }};
}

/// Signs user `id` in and returns the session cookie.
macro_rules! signed_in {
    ($app:expr, $config:expr, $id:expr) => {
        signed_in_at!($app, $config, &format!("/sign_in/{}", $id))
    };
}

#[actix_web::test]
async fn sign_in_then_protected_page() {
    let config = config();
    let app = app!(config);
    let (status, _, _) = get!(&app, &config, "/protected", None);
    assert_eq!(status, StatusCode::FOUND);

    let cookie = signed_in!(&app, &config, 1);
    assert!(cookie.http_only().unwrap_or(false));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.same_site(), Some(actix_web::cookie::SameSite::Lax));
    assert!(cookie.max_age().is_none(), "browser-session cookie");
    let (status, body, _) = get!(&app, &config, "/protected", Some(&cookie));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    let (_, body, _) = get!(&app, &config, "/email", Some(&cookie));
    assert_eq!(body, "user1@example.com");
}

#[actix_web::test]
async fn tampered_cookie_is_anonymous() {
    let config = config();
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);
    let value = cookie.value();
    // Flip one character of the cookie's signature, then one of its content.
    for at in [0, value.len() - 2] {
        let mut bytes = value.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = Cookie::new(
            config.session().cookie_name.clone(),
            String::from_utf8(bytes).unwrap(),
        );
        let (_, body, _) = get!(&app, &config, "/whoami", Some(&tampered));
        assert_eq!(body, "anon", "tampered at {at}");
    }
}

#[actix_web::test]
async fn unsigned_cookie_is_anonymous() {
    let config = config();
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);
    // The cookie content without its signature prefix (44 base64 characters of HMAC).
    let unsigned = Cookie::new(
        config.session().cookie_name.clone(),
        cookie.value()[44..].to_owned(),
    );
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&unsigned));
    assert_eq!(body, "anon");
}

#[actix_web::test]
async fn forged_session_id_is_rejected_before_any_store_read() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let probe = pow_actix::testing::ProbeStore::new();
    let config = config_with(|b| b.store(probe.clone()).session_ttl_renewal(None));
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);
    let name = config.session().cookie_name.clone();
    let (payload, tag) = cookie.value().split_once('.').unwrap();
    let state: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    let key = &config.session().session_key;
    assert!(state.contains_key(key), "the cookie holds the session id");

    // The same state signed by another secret, a changed state under the real tag, a
    // flipped tag, no tag at all.
    // Another app with another secret, on the same store.
    let other = PowConfig::builder("x".repeat(64))
        .store(probe.clone())
        .build()
        .unwrap();
    let other_app = app!(other);
    let foreign = signed_in!(&other_app, &other, 1);
    let mut changed = state.clone();
    changed.insert(
        key.clone(),
        serde_json::to_string("someone-else.1").unwrap(),
    );
    let changed = b64.encode(serde_json::to_vec(&changed).unwrap());
    let mut flipped = tag.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let forgeries = [
        foreign.value().to_owned(),
        format!("{changed}.{tag}"),
        format!("{payload}.{}", String::from_utf8(flipped).unwrap()),
        payload.to_owned(),
    ];
    let genuine_reads = {
        let before = probe.gets();
        let (_, body, _) = get!(&app, &config, "/whoami", Some(&cookie));
        assert_eq!(body, "1");
        probe.gets() - before
    };
    assert!(genuine_reads > 0);
    for forged in forgeries {
        let forged_cookie = Cookie::new(name.clone(), forged.clone());
        let before = probe.gets();
        let (_, body, _) = get!(&app, &config, "/whoami", Some(&forged_cookie));
        assert_eq!(body, "anon", "forged {forged:?}");
        assert_eq!(
            probe.gets(),
            before,
            "forged cookie {forged:?} reached the store"
        );
    }
    // An id the app itself writes (a validly signed cookie) that was never issued: looked
    // up, found nowhere.
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/inject")
            .cookie(cookie.clone())
            .set_payload(format!("{}.1", pow_actix::token::generate_uuid()))
            .to_request(),
    )
    .await;
    let injected = session_cookie(&res, &config).unwrap();
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&injected));
    assert_eq!(body, "anon");
    // The genuine cookie still works.
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&cookie));
    assert_eq!(body, "1");
}

#[actix_web::test]
async fn expired_session_is_anonymous() {
    let ttl = Duration::from_millis(300);
    let config = config_with(|b| b.credentials_ttl(ttl).session_ttl_renewal(None));
    let app = app!(config);
    let started = Instant::now();
    let cookie = signed_in!(&app, &config, 1);
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&cookie));
    if started.elapsed() < ttl {
        assert_eq!(body, "1");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body, new_cookie) = get!(&app, &config, "/whoami", Some(&cookie));
        assert!(
            new_cookie.is_none(),
            "an anonymous request leaves the cookie alone"
        );
        if body == "anon" {
            break;
        }
        assert!(Instant::now() < deadline, "session outlived its TTL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() >= ttl);
}

#[actix_web::test]
async fn sign_out_is_server_side() {
    let config = config();
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);
    let (status, _, after) = post!(&app, &config, "/sign_out", Some(&cookie));
    assert_eq!(status, StatusCode::OK);
    let after = after.expect("sign-out rewrites the cookie");
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&after));
    assert_eq!(body, "anon");
    // Replaying the cookie from before the sign-out does not sign back in.
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&cookie));
    assert_eq!(body, "anon");
    assert!(CredentialsCache::new(&config)
        .sessions(1)
        .await
        .unwrap()
        .is_empty());
}

#[actix_web::test]
async fn renewal_rotates_the_session_id() {
    let config = config_with(|b| b.session_ttl_renewal(Some(Duration::ZERO)));
    let app = app!(config);
    let credentials = CredentialsCache::new(&config);
    let first = signed_in!(&app, &config, 1);
    let first_id = credentials.sessions(1).await.unwrap();
    let (_, fp_before) = credentials.get(&first_id[0]).await.unwrap().unwrap();

    let (status, body, renewed) = get!(&app, &config, "/protected", Some(&first));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    let renewed = renewed.expect("renewal writes a new cookie");
    assert_ne!(renewed.value(), first.value());
    let second_id = credentials.sessions(1).await.unwrap();
    assert_eq!(second_id.len(), 1, "one live session after renewal");
    assert_ne!(second_id, first_id);
    let (_, meta) = credentials.get(&second_id[0]).await.unwrap().unwrap();
    assert_eq!(meta.fingerprint, fp_before.fingerprint);
    assert_eq!(meta.signed_in_at, fp_before.signed_in_at);
    assert!(meta.inserted_at >= fp_before.inserted_at);

    // The renewed cookie keeps working (and keeps rotating).
    let (_, body, third) = get!(&app, &config, "/protected", Some(&renewed));
    assert_eq!(body, "1");
    assert!(third.is_some());
}

#[actix_web::test]
async fn requests_racing_a_renewal_stay_signed_in() {
    let config = config_with(|b| b.session_ttl_renewal(Some(Duration::ZERO)));
    let app = app!(config);
    let credentials = CredentialsCache::new(&config);
    let old = signed_in!(&app, &config, 1);

    // Two requests carrying the pre-renewal cookie: the first rotates the id...
    let (_, body, renewed) = get!(&app, &config, "/protected", Some(&old));
    assert_eq!(body, "1");
    let renewed = renewed.unwrap();
    let live = credentials.sessions(1).await.unwrap();
    // ...the second, still holding the old id, is served and moved to the live id.
    let (status, body, moved) = get!(&app, &config, "/protected", Some(&old));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    let moved = moved.expect("the old id is moved to the live one");
    assert_eq!(
        credentials.sessions(1).await.unwrap(),
        live,
        "a request with a rotated id does not rotate again"
    );
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&moved));
    assert_eq!(body, "1");
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&renewed));
    assert_eq!(body, "1");

    // Signing out from the old id ends the live session too.
    post!(&app, &config, "/sign_out", Some(&old));
    for cookie in [&old, &renewed, &moved] {
        let (_, body, _) = get!(&app, &config, "/whoami", Some(cookie));
        assert_eq!(body, "anon");
    }
}

/// Parallel requests on a real multi-threaded server, all carrying the same pre-renewal
/// cookie: all are served as the user and exactly one live session remains.
#[actix_web::test]
async fn concurrent_requests_with_one_pre_renewal_cookie() {
    const CLIENTS: usize = 12;
    let config = config_with(|b| b.session_ttl_renewal(Some(Duration::ZERO)));
    let server_config = config.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(PowMiddleware::new(server_config.clone()))
            .configure(routes)
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let name = config.session().cookie_name.clone();
    let results = tokio::task::spawn_blocking(move || {
        let mut client = http1::Client::connect(addr).unwrap();
        let res = client.request("POST", "/sign_in/7", None).unwrap();
        let cookie = res.set_cookie(&name).unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(CLIENTS));
        let threads: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (cookie, barrier, name) = (cookie.clone(), Arc::clone(&barrier), name.clone());
                std::thread::spawn(move || {
                    let mut client = http1::Client::connect(addr).unwrap();
                    barrier.wait();
                    let res = client.request("GET", "/protected", Some(&cookie)).unwrap();
                    (res.status, res.body_str(), res.set_cookie(&name))
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        // Every cookie handed out during the race keeps working afterwards.
        let after: Vec<_> = results
            .iter()
            .filter_map(|(_, _, set)| set.as_deref())
            .map(|set| {
                client
                    .request("GET", "/whoami", Some(set))
                    .unwrap()
                    .body_str()
            })
            .collect();
        (results, after)
    })
    .await
    .unwrap();
    handle.stop(false).await;

    let (results, after) = results;
    for (status, body, _) in &results {
        assert_eq!((*status, body.as_str()), (200, "7"));
    }
    assert!(!after.is_empty(), "the renewal handed out a cookie");
    for body in after {
        assert_eq!(
            body, "7",
            "a cookie handed out during the race was signed out"
        );
    }
    assert_eq!(
        CredentialsCache::new(&config)
            .sessions(7)
            .await
            .unwrap()
            .len(),
        1,
        "exactly one rotation won"
    );
}

#[actix_web::test]
async fn sign_in_renews_the_cookie_session() {
    let config = config();
    let app = app!(config);
    // A cookie session that exists before sign-in (possibly planted by an attacker).
    let (_, _, planted) = get!(&app, &config, "/visit", None);
    let planted = planted.unwrap();
    let (_, _, signed) = post!(&app, &config, "/sign_in/1", Some(&planted));
    let signed = signed.unwrap();
    assert_ne!(signed.value(), planted.value());
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&planted));
    assert_eq!(body, "anon", "the planted cookie grants nothing");

    // Signing in again (another user) replaces the previous session server-side.
    let (_, _, second) = post!(&app, &config, "/sign_in/2", Some(&signed));
    let second = second.unwrap();
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&second));
    assert_eq!(body, "2");
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&signed));
    assert_eq!(body, "anon", "the previous session was deleted");
    assert!(CredentialsCache::new(&config)
        .sessions(1)
        .await
        .unwrap()
        .is_empty());
}

#[actix_web::test]
async fn absolute_lifetime_ends_a_renewed_session() {
    let lifetime = Duration::from_millis(400);
    let config = config_with(|b| {
        b.session_ttl_renewal(Some(Duration::ZERO))
            .session_absolute_lifetime(Some(lifetime))
    });
    let app = app!(config);
    let started = Instant::now();
    let mut cookie = signed_in!(&app, &config, 1);
    let mut renewals = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body, next) = get!(&app, &config, "/whoami", Some(&cookie));
        if body == "anon" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "session outlived its absolute lifetime"
        );
        if let Some(next) = next {
            cookie = next;
            renewals += 1;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started.elapsed() >= lifetime);
    assert!(renewals > 0, "the session was renewed while it lived");
    assert!(CredentialsCache::new(&config)
        .sessions(1)
        .await
        .unwrap()
        .is_empty());
}

#[actix_web::test]
async fn guard_redirects_into_the_mount_path_with_the_flash_message() {
    let config = config_with(|b| {
        b.mount_path("/admin")
            .messages_ftl("en", "user_not_authenticated = Please sign in first.")
    });
    let app = app!(config);
    let res = test::call_service(&app, TestRequest::get().uri("/protected").to_request()).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        res.headers().get(header::LOCATION).unwrap(),
        "/admin/session/new?request_path=%2Fprotected"
    );
    // The flash rides in the session cookie to the next page.
    let cookie = res
        .response()
        .cookies()
        .find(|c| c.name() == config.session().cookie_name)
        .map(|c| c.into_owned())
        .expect("the flash is stored in the session");
    let req = with_cookie(TestRequest::get().uri("/flash"), Some(&cookie));
    let res = test::call_service(&app, req.to_request()).await;
    assert_eq!(body(res).await, "error: Please sign in first.");
}

#[actix_web::test]
async fn guard_redirects_html_and_answers_json() {
    let config = config();
    let app = app!(config);
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/protected?tab=a%20b&x=1")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        res.headers().get(header::LOCATION).unwrap(),
        "/session/new?request_path=%2Fprotected%3Ftab%3Da%2520b%26x%3D1"
    );

    let res = test::call_service(&app, TestRequest::post().uri("/protected").to_request()).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/session/new");

    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/protected")
            .insert_header((header::ACCEPT, "application/json"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let json: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(
        json,
        serde_json::json!({"status": 401, "errors": [
            {"code": "not_authenticated", "message": "Not authenticated"}
        ]})
    );

    // The extractor answers the same way without a guard.
    let res = test::call_service(&app, TestRequest::get().uri("/email").to_request()).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/email")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn not_authenticated_guard() {
    let config = config();
    let app = app!(config);
    let (status, body, _) = get!(&app, &config, "/guest", None);
    assert_eq!((status, body.as_str()), (StatusCode::OK, "anon"));
    let cookie = signed_in!(&app, &config, 1);
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/guest")
            .cookie(cookie.clone())
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/");
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/guest")
            .cookie(cookie)
            .insert_header((header::ACCEPT, "application/json"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// Answers a refused request `418` with who it wanted ("no user", "has user"), but for the
/// account page, which keeps the engine's answer.
struct TeapotHandler;

impl session::ErrorHandler for TeapotHandler {
    fn answer(
        &self,
        _config: &PowConfig,
        _lang: &pow_actix::messages::LanguageIdentifier,
        request: &PageRequest,
        refusal: &Refusal,
    ) -> Option<HttpAnswer> {
        if request.path_and_query.starts_with("/registration/edit") {
            return None;
        }
        let text = match refusal {
            Refusal::AlreadyAuthenticated => "has user",
            _ => "no user",
        };
        Some(HttpAnswer::text(418, text, Some("no-store")))
    }
}

/// A setup over a new SQLite file, for a suite served on a port.
fn served_config(suite: &str) -> PowConfig {
    let users = pow_testkit::sqlite(suite);
    let config = PowConfig::builder(SECRET)
        .users(users.clone())
        .hasher(pow_actix::password::Pbkdf2Hasher::new(1))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    config
}

/// One error handler, set on the session layer of either framework, answers every refusal
/// for who is signed in: an extractor's and a guard's (`/protected`), a page's access rule
/// both ways (`/session/new` signed in); where it gives no answer, the engine's stands.
fn an_error_handler_answers_refusals_alike() {
    let config = served_config("error-handler");
    pow_actix::testing::create_user(&config, "ann@example.com", "correct horse battery").unwrap();
    let addr = pow_testkit::serve_with_error_handler(config.clone(), Arc::new(TeapotHandler));
    let mut c = pow_actix::test_client::Client::new(addr);

    let res = c.get("/protected");
    assert_eq!((res.status, res.body.as_str()), (418, "no user"));
    let res = c.get("/registration/edit");
    assert_eq!(
        res.status, 302,
        "the engine's answer where the handler gives none"
    );
    assert!(
        res.location().starts_with("/session/new"),
        "{}",
        res.location()
    );

    assert_eq!(
        c.sign_in("ann@example.com", "correct horse battery").status,
        302
    );
    assert_eq!(c.get("/protected").body, "secret");
    let res = c.get("/session/new");
    assert_eq!((res.status, res.body.as_str()), (418, "has user"));
}

/// The bearer layer takes the same handler for the app's own JSON routes.
fn an_error_handler_answers_the_api_s_refusals_alike() {
    let config = served_config("error-handler-api");
    let addr = pow_testkit::serve_api_with_error_handler(
        config,
        pow_actix::api::ApiOptions::new(),
        Arc::new(TeapotHandler),
    );
    let mut c = pow_actix::test_client::Client::new(addr);
    let res = c.get("/api/v1/me");
    assert_eq!((res.status, res.body.as_str()), (418, "no user"));
    // The API's own routes answer as the engine's JSON runner decides.
    let res = c.get("/api/v1/sessions");
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(res.body.contains("not_authenticated"), "{}", res.body);
}

pow_testkit::on_both!(
    an_error_handler_answers_refusals_alike,
    an_error_handler_answers_the_api_s_refusals_alike,
);

/// A guard's own handler goes before the middleware's (actix-web's guards).
#[actix_web::test]
async fn a_guard_s_own_error_handler_answers_first() {
    let config = config();
    let explicit = test::init_service(
        App::new().wrap(PowMiddleware::new(config.clone())).service(
            web::scope("/p")
                .wrap(RequireAuthenticated::with_handler(TeapotHandler))
                .route("", web::get().to(whoami)),
        ),
    )
    .await;
    let (status, body, _) = get!(&explicit, &config, "/p", None);
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::IM_A_TEAPOT, "no user")
    );
}

#[actix_web::test]
async fn two_setups_do_not_share_sessions() {
    let users = config();
    let admins = config_with(|b| b.name("admin"));
    assert_ne!(users.session().cookie_name, admins.session().cookie_name);
    let app = test::init_service(
        App::new()
            .service(
                web::scope("/admin")
                    .wrap(PowMiddleware::new(admins.clone()))
                    .configure(routes),
            )
            .service(
                web::scope("")
                    .wrap(PowMiddleware::new(users.clone()))
                    .configure(routes),
            ),
    )
    .await;
    let admin_cookie = signed_in_at!(&app, &admins, "/admin/sign_in/1");
    let user_cookie = signed_in_at!(&app, &users, "/sign_in/2");

    let (_, body, _) = get!(&app, &admins, "/admin/whoami", Some(&admin_cookie));
    assert_eq!(body, "1");
    let (_, body, _) = get!(&app, &users, "/whoami", Some(&user_cookie));
    assert_eq!(body, "2");
    // Each cookie means nothing to the other setup...
    let (_, body, _) = get!(&app, &users, "/whoami", Some(&admin_cookie));
    assert_eq!(body, "anon");
    let (_, body, _) = get!(&app, &admins, "/admin/whoami", Some(&user_cookie));
    assert_eq!(body, "anon");
    // ...even under the other setup's cookie name (different signing keys).
    let renamed = Cookie::new(
        users.session().cookie_name.clone(),
        admin_cookie.value().to_owned(),
    );
    let (_, body, _) = get!(&app, &users, "/whoami", Some(&renamed));
    assert_eq!(body, "anon");
    // Each request knows its setup.
    assert_eq!(
        CredentialsCache::new(&admins)
            .sessions(1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(CredentialsCache::new(&users)
        .sessions(1)
        .await
        .unwrap()
        .is_empty());
}

#[actix_web::test]
async fn sign_out_everywhere_ends_every_session() {
    let config = config();
    let app = app!(config);
    let laptop = signed_in!(&app, &config, 1);
    let phone = signed_in!(&app, &config, 1);
    let other_user = signed_in!(&app, &config, 2);
    // The worker now knows the laptop's cookie value as verified: that must not outlive
    // the session behind it.
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&laptop));
    assert_eq!(body, "1");
    let (status, body, _) = post!(&app, &config, "/sign_out_everywhere", Some(&phone));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2"));
    for cookie in [&laptop, &phone] {
        let (_, body, _) = get!(&app, &config, "/whoami", Some(cookie));
        assert_eq!(body, "anon");
    }
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&other_user));
    assert_eq!(body, "2");
}

#[actix_web::test]
async fn store_failure_answers_503() {
    let probe = pow_actix::testing::ProbeStore::new();
    let config = config_with(|b| b.store(probe.clone()));
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);
    probe.set_down(true);
    let (status, _, _) = get!(&app, &config, "/whoami", Some(&cookie));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = post!(&app, &config, "/sign_in/2", None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Anonymous requests without a cookie never touch the store.
    let (status, body, _) = get!(&app, &config, "/whoami", None);
    assert_eq!((status, body.as_str()), (StatusCode::OK, "anon"));
    probe.set_down(false);
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&cookie));
    assert_eq!(body, "1");
}

/// Users kept in a map, for `reload_user`.
#[derive(Default)]
struct MapUsers(Mutex<HashMap<i64, User>>);

impl UsersContext for MapUsers {
    fn get_by(&self, _: &UserSchema, field: &str, value: &Value) -> Result<Option<User>, PowError> {
        match (field, value) {
            ("id", Value::Int(id)) => Ok(self.0.lock().unwrap().get(id).cloned()),
            _ => Ok(None),
        }
    }
    fn insert(&self, _: &UserSchema, _: &Changes) -> Result<User, WriteError> {
        Err(WriteError::Other(PowError::Other("read only".into())))
    }
    fn update_fields(&self, _: &UserSchema, _: &User, _: &Changes) -> Result<User, WriteError> {
        Err(WriteError::Other(PowError::Other("read only".into())))
    }
    fn delete(&self, _: &UserSchema, _: &User) -> Result<(), PowError> {
        Ok(())
    }
    fn list_by(&self, _: &UserSchema, _: &str, _: &Value) -> Result<Vec<User>, PowError> {
        Ok(Vec::new())
    }
}

#[actix_web::test]
async fn reload_user_reads_the_users_context() {
    let users = Arc::new(MapUsers::default());
    users.0.lock().unwrap().insert(1, user(1));
    let config = config_with(|b| b.users_arc(users.clone()).reload_user(true));
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);

    let mut changed = user(1);
    changed
        .fields
        .insert("email".into(), Value::Text("new@example.com".into()));
    users.0.lock().unwrap().insert(1, changed);
    let (_, body, _) = get!(&app, &config, "/email", Some(&cookie));
    assert_eq!(body, "new@example.com");

    users.0.lock().unwrap().remove(&1);
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&cookie));
    assert_eq!(body, "anon");
    assert!(CredentialsCache::new(&config)
        .sessions(1)
        .await
        .unwrap()
        .is_empty());
}

/// The middleware keeps decoded sessions between requests; a changed record in the store
/// still shows on the next request.
#[actix_web::test]
async fn updated_user_record_shows_on_the_next_request() {
    let config = config();
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);
    let (_, body, _) = get!(&app, &config, "/email", Some(&cookie));
    assert_eq!(body, "user1@example.com");
    let mut changed = user(1);
    changed
        .fields
        .insert("email".into(), Value::Text("changed@example.com".into()));
    CredentialsCache::new(&config)
        .update_user(&changed)
        .await
        .unwrap();
    let (_, body, _) = get!(&app, &config, "/email", Some(&cookie));
    assert_eq!(body, "changed@example.com");
    // Deleting the session in the store ends it at once, cached or not.
    let id = CredentialsCache::new(&config).sessions(1).await.unwrap()[0].clone();
    CredentialsCache::new(&config).delete(&id).await.unwrap();
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&cookie));
    assert_eq!(body, "anon");
}

#[actix_web::test]
async fn credentials_cache_records() {
    let config = config();
    let cache = CredentialsCache::new(&config);
    let alice = user(1);
    let laptop = SessionMetadata::new();
    cache.put("s1", &alice, &laptop).await.unwrap();
    // A new session with the same fingerprint replaces the old one.
    cache.put("s2", &alice, &laptop).await.unwrap();
    assert!(cache.get("s1").await.unwrap().is_none());
    let phone = SessionMetadata::new();
    cache.put("s3", &alice, &phone).await.unwrap();
    let mut sessions = cache.sessions(1).await.unwrap();
    sessions.sort();
    assert_eq!(sessions, ["s2", "s3"]);

    // The user record is shared: an update shows through every session.
    let mut renamed = alice.clone();
    renamed
        .fields
        .insert("email".into(), Value::Text("alice@example.com".into()));
    cache.update_user(&renamed).await.unwrap();
    for id in ["s2", "s3"] {
        let (u, _) = cache.get(id).await.unwrap().unwrap();
        assert_eq!(u.email(), Some("alice@example.com"));
    }
    let (_, meta) = cache.get("s3").await.unwrap().unwrap();
    assert_eq!(meta, phone);

    cache.delete("s2").await.unwrap();
    cache.delete("missing").await.unwrap();
    assert_eq!(cache.sessions(1).await.unwrap(), ["s3"]);
    assert_eq!(cache.delete_user_sessions(1).await.unwrap(), 1);
    assert!(cache.get("s3").await.unwrap().is_none());
    assert_eq!(cache.delete_user_sessions(1).await.unwrap(), 0);

    // Records live in the setup's namespace with the configured TTL.
    let admin = config_with(|b| b.name("admin"));
    let admin_cache = CredentialsCache::new(&admin);
    admin_cache.put("s9", &alice, &laptop).await.unwrap();
    assert!(CredentialsCache::new(&config)
        .get("s9")
        .await
        .unwrap()
        .is_none());
    assert!(admin
        .store()
        .get("admin_credentials", &Key::from(["session", "s9"]))
        .await
        .unwrap()
        .is_some());
}

#[actix_web::test]
async fn test_helpers() {
    let config = config();
    let req = TestRequest::get().to_http_request();
    pow_actix::testing::assign_current_user(&req, &config, user(5));
    assert_eq!(session::current_user(&req).map(|u| u.id), Some(5));
    assert_eq!(req.current_user().map(|u| u.id), Some(5));
    assert!(req.pow_config().is_some());

    // Assigned up front, the middleware skips its lookup.
    let app = test::init_service(
        App::new()
            .wrap(PowMiddleware::new(config.clone()))
            .wrap(pow_actix::testing::AssignCurrentUser::new(
                config.clone(),
                user(6),
            ))
            .configure(routes),
    )
    .await;
    let (_, body, _) = get!(&app, &config, "/protected", None);
    assert_eq!(body, "6");

    let app = app!(config);
    let cookie = pow_actix::testing::sign_in_cookie(&config, &user(8))
        .await
        .unwrap();
    let (_, body, _) = get!(&app, &config, "/protected", Some(&cookie));
    assert_eq!(body, "8");
}

#[actix_web::test]
async fn sign_in_without_middleware_is_a_config_error() {
    let req = TestRequest::get().to_http_request();
    let err = session::sign_in(&req, &user(1)).await.unwrap_err();
    assert!(matches!(err, PowError::Config(_)), "{err}");
    assert!(session::current_user(&req).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conformance() {
    conformance::run_all(MemoryStore::shared()).await;
}

#[actix_web::test]
async fn reading_an_empty_flash_does_not_resend_the_session_cookie() {
    let config = config();
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);
    let (status, body, resent) = get!(&app, &config, "/flash", Some(&cookie));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "error: "));
    assert!(resent.is_none(), "no flash, no session change: {resent:?}");
}

/// A copy of the store holds no usable session id: every string of the credentials
/// namespace (live sessions, a session rotated moments ago with its handoff nonce, the
/// user's index), signed with the app's own secret and put in a cookie, is anonymous; the
/// real cookies, including the one from before the renewal, still work.
#[actix_web::test]
async fn the_store_holds_no_usable_session_id() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = config_with(|b| {
        b.store(Arc::clone(&store))
            .session_ttl_renewal(Some(Duration::ZERO))
    });
    let app = app!(config);
    let first = signed_in!(&app, &config, 1);
    let (_, body, renewed) = get!(&app, &config, "/protected", Some(&first));
    assert_eq!(body, "1");
    let renewed = renewed.expect("the renewal rotates the id");
    let dumped = pow_actix::testing::dumped_strings(&*store, &config.namespaced("credentials"))
        .await
        .unwrap();
    let live = CredentialsCache::new(&config).sessions(1).await.unwrap();
    assert!(
        dumped.contains(&live[0]),
        "the dump holds the stored session id"
    );
    for candidate in &dumped {
        // Put in a validly signed cookie as the id itself: nothing in the store is an id a
        // cookie could carry.
        let res = test::call_service(
            &app,
            TestRequest::post()
                .uri("/inject")
                .set_payload(candidate.clone())
                .to_request(),
        )
        .await;
        let forged = session_cookie(&res, &config).unwrap();
        let (_, body, _) = get!(&app, &config, "/whoami", Some(&forged));
        assert_eq!(body, "anon", "{candidate}");
    }
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&renewed));
    assert_eq!(body, "1");
    let (_, body, moved) = get!(&app, &config, "/whoami", Some(&first));
    assert_eq!(
        body, "1",
        "the pre-renewal cookie works during the grace period"
    );
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&moved.unwrap()));
    assert_eq!(body, "1", "and is moved to the live session");
}

/// A signed-in request reads its session and its user in one store round trip (the user id
/// travels in the signed cookie), and only the session's own user is served.
#[actix_web::test]
async fn a_signed_in_request_is_one_store_read() {
    let probe = pow_actix::testing::ProbeStore::new();
    let config = config_with(|b| b.store(probe.clone()).session_ttl_renewal(None));
    let app = app!(config);
    let cookie = signed_in!(&app, &config, 1);
    let before = probe.reads();
    let (status, body, _) = get!(&app, &config, "/protected", Some(&cookie));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    assert_eq!(probe.reads() - before, 1);
    // A second user's session reads its own user, never the first one's.
    let other = signed_in!(&app, &config, 2);
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&other));
    assert_eq!(body, "2");
    let (_, body, _) = get!(&app, &config, "/whoami", Some(&cookie));
    assert_eq!(body, "1");
}

/// An extension whose request hook counts the requests it saw.
struct Hook {
    seen: Arc<AtomicUsize>,
}

impl pow_actix::Extension for Hook {
    fn name(&self) -> &'static str {
        "hook"
    }

    fn build(&self, ext: &mut pow_actix::extension::ExtensionBuilder) {
        ext.request_hook(CountingHook {
            seen: Arc::clone(&self.seen),
        });
    }
}

struct CountingHook {
    seen: Arc<AtomicUsize>,
}

#[async_trait]
impl pow_actix::extension::RequestHook for CountingHook {
    fn cookies(&self, _config: &PowConfig) -> Vec<String> {
        vec!["hook_cookie".to_owned()]
    }

    async fn on_request(
        &self,
        _config: &PowConfig,
        _client: &mut dyn pow_actix::pipeline::Client,
    ) -> Result<(), PowError> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// An extension with no request hook.
struct Quiet;

impl pow_actix::Extension for Quiet {
    fn name(&self) -> &'static str {
        "quiet"
    }

    fn build(&self, _ext: &mut pow_actix::extension::ExtensionBuilder) {}
}

/// A request hook runs on the requests that carry its cookie, with or without a session,
/// and on no other; the route sees the setup either way.
#[actix_web::test]
async fn request_hooks_run_on_requests_carrying_their_cookies() {
    let seen = Arc::new(AtomicUsize::new(0));
    let config = PowConfig::builder("h".repeat(64))
        .extension(Hook {
            seen: Arc::clone(&seen),
        })
        .extension(Quiet)
        .build()
        .unwrap();
    let app = test::init_service(App::new().wrap(PowMiddleware::new(config.clone())).route(
        "/",
        web::get().to(|req: HttpRequest| async move {
            let names = req.pow_config().map(|config| config.extensions().names());
            HttpResponse::Ok().body(format!("{names:?}"))
        }),
    ))
    .await;
    for _ in 0..3 {
        let res = test::call_service(&app, TestRequest::get().uri("/").to_request()).await;
        let body = test::read_body(res).await;
        assert_eq!(body, r#"Some(["hook", "quiet"])"#);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0, "no cookie, no hook");
    for _ in 0..2 {
        let req = TestRequest::get()
            .uri("/")
            .cookie(actix_web::cookie::Cookie::new("hook_cookie", "1"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(config.extensions().request_hooks().len(), 1);
}

/// Without a session cookie and without request hooks, the route still finds its setup.
#[actix_web::test]
async fn a_request_without_session_still_knows_its_setup() {
    let config = PowConfig::builder("h".repeat(64)).build().unwrap();
    let app = test::init_service(App::new().wrap(PowMiddleware::new(config.clone())).route(
        "/",
        web::get().to(|req: HttpRequest| async move {
            let namespaced =
                pow_actix::session::config(&req).map(|config| config.namespaced("credentials"));
            HttpResponse::Ok().body(format!("{namespaced:?}"))
        }),
    ))
    .await;
    let res = test::call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(test::read_body(res).await, r#"Some("credentials")"#);
}

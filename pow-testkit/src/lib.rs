//! The HTTP suites' harness: [`serve`] starts an app of one setup on the framework the
//! running test was started for ([`Framework`]), and [`on_both!`] runs each listed test
//! once on actix-web and once on axum. The suites speak HTTP to a loopback socket (with
//! pow-actix's test client), so one source proves both frameworks. [`Gate`] is a sign-in
//! policy a test closes and opens, to prove a way of signing in is admitted by the
//! engine's policies. [`Tool`] runs an independent implementation beside a test (a
//! provider, a client) and waits for what it prints within a bound.
//!
//! ```no_run
//! fn signs_in() {
//!     let config = pow_core::PowConfig::builder("s".repeat(64)).build().unwrap();
//!     let addr = pow_testkit::serve(config);
//!     let mut client = pow_actix::test_client::Client::new(addr);
//!     assert_eq!(client.get("/session/new").status, 200);
//! }
//!
//! pow_testkit::on_both!(signs_in);
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;

use pow_core::pages::ErrorHandler;
use pow_core::PowConfig;

pub mod eml;
mod gate;
pub mod tool;
pub use gate::{Gate, GATE_REFUSED, GATE_REFUSED_TEXT};
pub use tool::Tool;

#[doc(hidden)]
pub use actix_web::rt as __rt;

/// A users context on a new SQLite file in the temporary directory, named after `suite`
/// (`pow-<suite>-<uuid>.db`).
pub fn sqlite(suite: &str) -> pow_core::users::diesel::DieselUsersContext {
    let db = std::env::temp_dir().join(format!(
        "pow-{suite}-{}.db",
        pow_core::token::generate_uuid()
    ));
    pow_core::users::diesel::DieselUsersContext::connect(&db.display().to_string()).unwrap()
}

/// A PostgreSQL users context in a new schema of its own (`pow_<suite>_<uuid>`), or `None`
/// (with a notice) when `POW_TEST_DATABASE_URL` is unset outside CI (in CI it must be set).
pub fn postgres(suite: &str) -> Option<pow_core::users::diesel::DieselUsersContext> {
    let url = pow_core::testing::test_database_url()?;
    let schema = format!(
        "pow_{suite}_{}",
        pow_core::token::generate_uuid().replace('-', "")
    );
    // A pool of its own, of at most 4 connections opened as needed: a suite's many pools
    // (one a test, kept by its servers until the process ends) stay within the server's
    // connection limit.
    let manager = diesel::r2d2::ConnectionManager::<diesel::PgConnection>::new(url);
    let pool = diesel::r2d2::Pool::builder()
        .max_size(4)
        .min_idle(Some(0))
        .build(manager)
        .unwrap();
    let database = pow_core::users::diesel::Database::Postgres(pool);
    Some(
        pow_core::users::diesel::DieselUsersContext::new(database)
            .with_schema(&schema)
            .unwrap(),
    )
}

/// Busy-loop threads, `per_cpu` per CPU, that keep every CPU busy at normal priority in
/// the test's own process (and so in its process group and session, which a child process
/// it starts shares) until dropped, and for a minute at most, should a test hang.
pub struct CpuLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuLoad {
    /// Starts the threads.
    pub fn start(per_cpu: usize) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let threads = (0..cpus * per_cpu)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0_u64;
                    while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                        }
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The framework serving a test's app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    /// `pow-actix`.
    Actix,
    /// `pow-axum`.
    Axum,
}

thread_local! {
    static FRAMEWORK: Cell<Framework> = const { Cell::new(Framework::Actix) };
}

/// The framework this test thread serves its apps on ([`on_both!`] sets it).
pub fn framework() -> Framework {
    FRAMEWORK.with(Cell::get)
}

/// Serves this thread's apps on `framework` from now on.
pub fn set_framework(framework: Framework) {
    FRAMEWORK.with(|cell| cell.set(framework));
}

/// Serves `config`'s pages, under its mount path, with the session layer and three pages
/// of the app's own, on the test's [`framework`], on a loopback port: `GET /protected`
/// (`secret` for signed-in users, the sign-in redirect for others), `GET /me`
/// (`user:<id>`, or `anonymous`) and `POST /token` (an API token pair for the signed-in
/// browser's user, as a "connect the CLI" page hands one out; the API's error otherwise).
pub fn serve(config: PowConfig) -> SocketAddr {
    serve_on(framework(), config)
}

/// The body of `GET /me`.
fn me(id: Option<i64>) -> String {
    match id {
        Some(id) => format!("user:{id}"),
        None => "anonymous".to_owned(),
    }
}

/// `POST /token` on actix-web.
async fn actix_token(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, pow_actix::api::ApiError> {
    use pow_actix::api::{ApiContext, ApiError, ApiOptions};
    let config = pow_actix::session::config(&req).expect("a config");
    let api = ApiContext::new(config, ApiOptions::new());
    let user =
        pow_actix::session::current_user(&req).ok_or_else(|| ApiError::not_authenticated(&req))?;
    let pair = api.issue_tokens(&req, &user, Vec::new()).await?;
    Ok(actix_web::HttpResponse::Ok().json(pair))
}

/// `POST /token` on axum.
async fn axum_token(pow: pow_axum::Pow) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use pow_core::api::{language, ApiError, ApiOptions, ApiService};
    let config = pow.config.clone();
    let lang = language(Some(&config), &pow.facts);
    let Some(current) = pow.current.clone() else {
        return pow_axum::api_response(&ApiError::not_authenticated(Some(&config), &lang));
    };
    let api = ApiService::new(config.clone(), ApiOptions::new());
    match api
        .issue_tokens(Some(&current), &pow.facts, &current.user, Vec::new())
        .await
    {
        Ok(pair) => axum::Json(pair).into_response(),
        Err(err) => pow_axum::api_response(&ApiError::from(err).localized(Some(&config), &lang)),
    }
}

/// [`serve`] on `framework`.
pub fn serve_on(framework: Framework, config: PowConfig) -> SocketAddr {
    serve_app(framework, config, None, None)
}

/// [`serve`] with `handler` answering refused requests, set on the session layer
/// (pow-actix's `PowMiddleware::error_handler`, pow-axum's `PowLayer::error_handler`).
pub fn serve_with_error_handler(config: PowConfig, handler: Arc<dyn ErrorHandler>) -> SocketAddr {
    serve_app(framework(), config, None, Some(handler))
}

/// [`serve`]'s pages and routes and, on the same port, `config`'s JSON API with `options`
/// (both transports when the options ask for the browser one), on the test's [`framework`]:
/// for a suite that drives a browser and a JSON client against one app.
pub fn serve_with_api(config: PowConfig, options: pow_core::api::ApiOptions) -> SocketAddr {
    serve_app(framework(), config, Some(options), None)
}

/// The app of [`serve`] on `framework`, with the JSON API of `api` and the refusals'
/// `handler` when given.
fn serve_app(
    framework: Framework,
    config: PowConfig,
    api: Option<pow_core::api::ApiOptions>,
    handler: Option<Arc<dyn ErrorHandler>>,
) -> SocketAddr {
    let mount = config.mount_path().to_owned();
    match framework {
        Framework::Actix => pow_actix::test_client::serve(move || {
            use actix_web::{web, App, HttpResponse};
            let (config, api) = (config.clone(), api.clone());
            let session = pow_actix::session::PowMiddleware::new(config.clone());
            let session = match &handler {
                Some(handler) => session.error_handler(Arc::clone(handler)),
                None => session,
            };
            // `/protected` first: a scope mounted at the root takes every path after it.
            App::new()
                .configure(|cfg| {
                    if let Some(options) = api {
                        pow_actix::api::configure(config.clone(), options)(cfg);
                    }
                })
                .route(
                    "/me",
                    web::get().to(
                        |pow_actix::MaybeUser(user): pow_actix::MaybeUser| async move {
                            HttpResponse::Ok().body(me(user.map(|user| user.id)))
                        },
                    ),
                )
                .route("/token", web::post().to(actix_token))
                .service(
                    web::scope("/protected")
                        .wrap(pow_actix::session::RequireAuthenticated::new())
                        .route(
                            "",
                            web::get().to(|| async { HttpResponse::Ok().body("secret") }),
                        ),
                )
                .service(web::scope(&mount).configure(pow_actix::web::configure(config.clone())))
                .wrap(session)
        }),
        Framework::Axum => {
            use axum::routing::get;
            let pages = pow_axum::web::router(&config);
            let mut app = match mount.as_str() {
                "" => axum::Router::new().merge(pages),
                mount => axum::Router::new().nest(mount, pages),
            }
            .route(
                "/protected",
                get(|_: pow_axum::CurrentUser| async { "secret" }),
            )
            .route(
                "/me",
                get(
                    |pow_axum::MaybeUser(user): pow_axum::MaybeUser| async move {
                        me(user.map(|user| user.id))
                    },
                ),
            )
            .route("/token", axum::routing::post(axum_token))
            .layer(match handler {
                Some(handler) => pow_axum::PowLayer::new(config.clone()).error_handler(handler),
                None => pow_axum::PowLayer::new(config.clone()),
            });
            if let Some(options) = api {
                app = app.merge(pow_axum::api::router(&config, options));
            }
            serve_axum(app)
        }
    }
}

/// Serves `config`'s JSON API with `options` (both transports when the options ask for the
/// browser one) on the test's [`framework`], on a loopback port, with two routes of the
/// app's own behind the bearer layer: `GET /api/v1/me` (`{"data": {"email": ...}}` for
/// the signed-in user, the API's `401` for others) and `GET /api/v1/whoami`
/// (`{"data": {"id": ...}}`, `null` for nobody).
pub fn serve_api(config: PowConfig, options: pow_core::api::ApiOptions) -> SocketAddr {
    serve_api_answering(config, options, None)
}

/// [`serve_api`] with `handler` answering the app's routes' refused requests, set on the
/// bearer layer (pow-actix's `ApiAuthMiddleware::error_handler`, pow-axum's
/// `ApiLayer::error_handler`).
pub fn serve_api_with_error_handler(
    config: PowConfig,
    options: pow_core::api::ApiOptions,
    handler: Arc<dyn ErrorHandler>,
) -> SocketAddr {
    serve_api_answering(config, options, Some(handler))
}

fn serve_api_answering(
    config: PowConfig,
    options: pow_core::api::ApiOptions,
    handler: Option<Arc<dyn ErrorHandler>>,
) -> SocketAddr {
    match framework() {
        Framework::Actix => pow_actix::test_client::serve(move || {
            use actix_web::{web, App, HttpResponse};
            use pow_actix::{CurrentUser, MaybeUser};
            App::new()
                .configure(pow_actix::api::configure(config.clone(), options.clone()))
                .service(
                    web::scope("/api/v1")
                        .service(
                            web::resource("/me")
                                .wrap(pow_actix::session::RequireAuthenticated::new())
                                .route(web::get().to(|CurrentUser(user): CurrentUser| async move {
                                    HttpResponse::Ok()
                                        .json(serde_json::json!({ "data": { "email": user.email() } }))
                                })),
                        )
                        .route(
                            "/whoami",
                            web::get().to(|MaybeUser(user): MaybeUser| async move {
                                HttpResponse::Ok()
                                    .json(serde_json::json!({ "data": { "id": user.map(|u| u.id) } }))
                            }),
                        )
                        .wrap(match &handler {
                            Some(handler) => pow_actix::api::ApiAuthMiddleware::new(config.clone())
                                .error_handler(Arc::clone(handler)),
                            None => pow_actix::api::ApiAuthMiddleware::new(config.clone()),
                        }),
                )
        }),
        Framework::Axum => {
            use axum::routing::get;
            use pow_axum::{CurrentUser, MaybeUser};
            let own = axum::Router::new()
                .route(
                    "/api/v1/me",
                    get(|CurrentUser(user): CurrentUser| async move {
                        axum::Json(serde_json::json!({ "data": { "email": user.email() } }))
                    }),
                )
                .route(
                    "/api/v1/whoami",
                    get(|MaybeUser(user): MaybeUser| async move {
                        axum::Json(serde_json::json!({ "data": { "id": user.map(|u| u.id) } }))
                    }),
                )
                .layer(match handler {
                    Some(handler) => pow_axum::ApiLayer::new(config.clone()).error_handler(handler),
                    None => pow_axum::ApiLayer::new(config.clone()),
                });
            serve_axum(pow_axum::api::router(&config, options).merge(own))
        }
    }
}

/// Serves `config`'s JSON API with `options` on the test's [`framework`], with the app's
/// bearer layer around every route, the browser transport's too (as the example apps
/// have it: pow-actix's `ApiAuthMiddleware` around the app, pow-axum's `ApiLayer`).
pub fn serve_api_behind_bearer_layer(
    config: PowConfig,
    options: pow_core::api::ApiOptions,
) -> SocketAddr {
    match framework() {
        Framework::Actix => pow_actix::test_client::serve(move || {
            actix_web::App::new()
                .configure(pow_actix::api::configure(config.clone(), options.clone()))
                .wrap(pow_actix::api::ApiAuthMiddleware::new(config.clone()))
        }),
        Framework::Axum => serve_axum(
            pow_axum::api::router(&config, options).layer(pow_axum::ApiLayer::new(config.clone())),
        ),
    }
}

/// Forwards every connection to `listener` to `target`, in threads of its own: so an app
/// can be told the address it will be reached at (an issuer, a resource's URL) before it is
/// served on a port of its own.
pub fn forward(listener: std::net::TcpListener, target: SocketAddr) {
    use std::net::{Shutdown, TcpStream};
    std::thread::spawn(move || {
        for inbound in listener.incoming().flatten() {
            let Ok(outbound) = TcpStream::connect(target) else {
                continue;
            };
            let (Ok(mut in_read), Ok(mut out_write)) = (inbound.try_clone(), outbound.try_clone())
            else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut in_read, &mut out_write);
                let _ = out_write.shutdown(Shutdown::Write);
            });
            let (mut out_read, mut in_write) = (outbound, inbound);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut out_read, &mut in_write);
                let _ = in_write.shutdown(Shutdown::Write);
            });
        }
    });
}

/// Serves the axum `app` on a loopback port (with the client's address, as an app
/// serves it), on a runtime of its own.
pub fn serve_axum(app: axum::Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
    });
    rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap()
}

/// The answer of [`http`]: status, headers (in order) and body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers, as received.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON; panics, showing the status and body, when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) to `addr` without blocking the test's
/// runtime, so that requests joined in one test run at once: `target` is the path and
/// query, `headers` go as given (add `Content-Type` for a body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    // The length and host are this request's own.
    let own = |name: &str| {
        name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("host")
    };
    for (name, value) in headers.iter().filter(|(name, _)| !own(name)) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" && method != "HEAD" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw, method == "HEAD")
}

/// Sends actix-web's test request `req` (built with `TestRequest::to_srv_request`: method,
/// path and query, headers, body) to the app at `addr` over HTTP ([`http`]), whichever
/// framework serves it.
pub async fn send(addr: SocketAddr, mut req: actix_web::dev::ServiceRequest) -> Answer {
    use actix_web::HttpMessage as _;
    use futures_util::StreamExt as _;
    let method = req.method().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    let mut payload = req.take_payload();
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    http(addr, &method, &target, &headers, &body).await
}

/// A raw HTTP/1.1 answer, read to its end.
fn parse(raw: &[u8], head_only: bool) -> Answer {
    let (status, headers, body) = pow_actix::test_client::parse_raw(raw, head_only);
    Answer {
        status,
        headers,
        body,
    }
}

/// Runs each named test function (a plain `fn()` of the suite, without `#[test]`) once on
/// actix-web (`on_actix::<name>`) and once on axum (`on_axum::<name>`): the function's
/// [`serve`] calls serve on that framework. With `async` first, the functions are
/// `async fn()`s, each run to its end on an actix-web system of its own.
#[macro_export]
macro_rules! on_both {
    (async $($name:ident),* $(,)?) => {
        mod on_actix {
            $(
                #[test]
                fn $name() {
                    $crate::set_framework($crate::Framework::Actix);
                    $crate::__rt::System::new().block_on(super::$name())
                }
            )*
        }
        mod on_axum {
            $(
                #[test]
                fn $name() {
                    $crate::set_framework($crate::Framework::Axum);
                    $crate::__rt::System::new().block_on(super::$name())
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod on_actix {
            $(
                #[test]
                fn $name() {
                    $crate::set_framework($crate::Framework::Actix);
                    super::$name()
                }
            )*
        }
        mod on_axum {
            $(
                #[test]
                fn $name() {
                    $crate::set_framework($crate::Framework::Axum);
                    super::$name()
                }
            )*
        }
    };
}

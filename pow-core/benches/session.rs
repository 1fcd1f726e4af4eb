//! Throughput of a route behind the session layer, against the same route without it.
//!
//! Run with `cargo bench -p pow-core --bench session`. One actix server (2 workers, the
//! in-memory store) serves `/base/protected` (no middleware) and `/app/protected` (cookie session,
//! `PowSessionMiddleware`, `RequireAuthenticated` and the `CurrentUser` extractor). Client
//! threads drive each route over keep-alive connections in alternating rounds, and the
//! medians are reported:
//!
//! ```text
//! unauthenticated: X req/s, authenticated: Y req/s, ratio: Z%
//! ```
//!
//! `BENCH_REQUESTS` (per round, default 10 000), `BENCH_CLIENTS` (default 4) and
//! `BENCH_ROUNDS` (default 10) tune the run; each round also stops after 10 seconds.

// A benchmark aborts loudly when its setup fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use pow_core::session::{
    self, cookie_session_middleware, CurrentUser, PowSessionMiddleware, RequireAuthenticated,
};
use pow_core::users::Value;
use pow_core::{PowConfig, PowError, User};

#[path = "support/http1.rs"]
mod http1;

const ROUND_LIMIT: Duration = Duration::from_secs(10);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bench_user() -> User {
    let mut fields = BTreeMap::new();
    fields.insert("email".to_owned(), Value::Text("bench@example.com".into()));
    fields.insert("name".to_owned(), Value::Text("Bench Marker".into()));
    User {
        id: 1,
        password_hash: Some(format!("$pbkdf2-sha512$100000${}", "x".repeat(110))),
        inserted_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        fields,
    }
}

/// The same route shape without pow-rs: `/base/protected`, no middleware.
fn baseline() -> actix_web::Scope {
    web::scope("/base").service(web::scope("/protected").route("", web::get().to(plain)))
}

async fn plain() -> HttpResponse {
    HttpResponse::Ok().body("hello")
}

async fn protected(CurrentUser(user): CurrentUser) -> HttpResponse {
    std::hint::black_box(&user);
    HttpResponse::Ok().body("hello")
}

async fn sign_in(req: HttpRequest) -> Result<HttpResponse, PowError> {
    session::sign_in(&req, &bench_user()).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Starts the server on its own thread; returns its address and a stop handle.
fn start_server(config: PowConfig) -> (SocketAddr, actix_web::dev::ServerHandle) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new().service(baseline()).service(
                    web::scope("/app")
                        .wrap(PowSessionMiddleware::new(config.clone()))
                        .wrap(cookie_session_middleware(&config))
                        .route("/sign_in", web::post().to(sign_in))
                        .service(
                            web::scope("/protected")
                                .wrap(RequireAuthenticated::new())
                                .route("", web::get().to(protected)),
                        ),
                )
            })
            .workers(2)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).unwrap();
            server.await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// One round: `clients` threads share `requests` GETs of `path`; returns requests/s.
fn round(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    clients: usize,
    requests: usize,
) -> f64 {
    let remaining = Arc::new(AtomicUsize::new(requests));
    let barrier = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (remaining, barrier) = (Arc::clone(&remaining), Arc::clone(&barrier));
            let (path, cookie) = (path.to_owned(), cookie.map(str::to_owned));
            std::thread::spawn(move || {
                let mut client = http1::Client::connect(addr).unwrap();
                // Warm the connection.
                let res = client.request("GET", &path, cookie.as_deref()).unwrap();
                assert_eq!(res.status, 200, "{path}: {}", res.body_str());
                barrier.wait();
                let started = Instant::now();
                let mut done = 0usize;
                while started.elapsed() < ROUND_LIMIT
                    && remaining
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let res = client.request("GET", &path, cookie.as_deref()).unwrap();
                    assert_eq!(res.status, 200);
                    done += 1;
                }
                done
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let done: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    done as f64 / started.elapsed().as_secs_f64()
}

/// CPU cost per request without the network: the same two routes called in-process
/// through `actix_web::test`, alternating batches. Returns (plain, protected) in µs.
fn in_process(config: &PowConfig, cookie: &str, batches: usize, per_batch: usize) -> (f64, f64) {
    use actix_web::test;
    actix_web::rt::System::new().block_on(async {
        let app = test::init_service(
            App::new().service(baseline()).service(
                web::scope("/app")
                    .wrap(PowSessionMiddleware::new(config.clone()))
                    .wrap(cookie_session_middleware(config))
                    .service(
                        web::scope("/protected")
                            .wrap(RequireAuthenticated::new())
                            .route("", web::get().to(protected)),
                    ),
            ),
        )
        .await;
        let (mut plain_us, mut auth_us) = (Vec::new(), Vec::new());
        for _ in 0..batches {
            let started = Instant::now();
            for _ in 0..per_batch {
                let res = test::call_service(
                    &app,
                    test::TestRequest::get().uri("/base/protected").to_request(),
                )
                .await;
                assert!(res.status().is_success());
            }
            plain_us.push(started.elapsed().as_secs_f64() * 1e6 / per_batch as f64);
            let started = Instant::now();
            for _ in 0..per_batch {
                let req = test::TestRequest::get()
                    .uri("/app/protected")
                    .insert_header((actix_web::http::header::COOKIE, cookie))
                    .to_request();
                let res = test::call_service(&app, req).await;
                assert!(res.status().is_success());
            }
            auth_us.push(started.elapsed().as_secs_f64() * 1e6 / per_batch as f64);
        }
        (median(&mut plain_us), median(&mut auth_us))
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let requests = env_or("BENCH_REQUESTS", 10_000);
    let clients = env_or("BENCH_CLIENTS", 4);
    let rounds = env_or("BENCH_ROUNDS", 10);

    let config = PowConfig::builder("b".repeat(64)).build().unwrap();
    let name = config.session().cookie_name.clone();
    let (addr, handle) = start_server(config.clone());

    let mut client = http1::Client::connect(addr).unwrap();
    let res = client.request("POST", "/app/sign_in", None).unwrap();
    assert_eq!(res.status, 200);
    let cookie = res
        .set_cookie(&name)
        .expect("sign-in sets the session cookie");

    let (mut plain_rates, mut auth_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        // Alternate which route goes first, so drifting load on the machine hits both.
        let (plain, auth) = if i % 2 == 0 {
            let plain = round(addr, "/base/protected", None, clients, requests);
            (
                plain,
                round(addr, "/app/protected", Some(&cookie), clients, requests),
            )
        } else {
            let auth = round(addr, "/app/protected", Some(&cookie), clients, requests);
            (
                round(addr, "/base/protected", None, clients, requests),
                auth,
            )
        };
        println!(
            "round {:>2}: unauthenticated {plain:>7.0} req/s, authenticated {auth:>7.0} req/s",
            i + 1
        );
        plain_rates.push(plain);
        auth_rates.push(auth);
        ratios.push(auth / plain);
    }
    println!(
        "unauthenticated: {:.0} req/s, authenticated: {:.0} req/s, ratio: {:.1}% \
         (medians of {rounds} paired rounds, {requests} requests each, {clients} clients)",
        median(&mut plain_rates),
        median(&mut auth_rates),
        100.0 * median(&mut ratios)
    );
    actix_web::rt::System::new().block_on(handle.stop(true));

    let (plain_us, auth_us) = in_process(&config, &cookie, 10, 5_000);
    println!(
        "in-process (no network): unauthenticated {plain_us:.2} µs/request, authenticated \
         {auth_us:.2} µs/request, session layer {:.2} µs/request",
        auth_us - plain_us
    );
}

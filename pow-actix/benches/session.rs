//! Throughput of a route behind the session layer, against the same route without it.
//!
//! Run with `cargo bench -p pow-core --bench session`. One actix server (the in-memory
//! store) serves `/base/protected` (no middleware) and `/app/protected` (cookie session,
//! `PowSessionMiddleware`, `RequireAuthenticated` and the `CurrentUser` extractor), in the
//! same scope shape. Client threads in the same process drive each route over
//! keep-alive connections in alternating rounds; the report gives medians:
//!
//! ```text
//! unauthenticated: X req/s, authenticated: Y req/s, ratio: Z% (wall clock ...)
//! per CPU-second: unauthenticated: X req/s, authenticated: Y req/s, ratio: Z% (...)
//! in-process CPU per request (no network): one line per layer
//! ```
//!
//! The CPU-second figures divide requests by the CPU time of the process's threads
//! (server and clients, Linux only), which holds up better than wall-clock rates on a
//! machine busy with other work. The in-process lines time the same route through
//! `actix_web::test` with each layer added in turn.
//!
//! Tuning: `BENCH_REQUESTS` (per round, default 10 000), `BENCH_CLIENTS` (default 4),
//! `BENCH_WORKERS` (server workers, default 2), `BENCH_ROUNDS` (default 10; each round
//! also stops after 10 seconds) and `BENCH_IN_PROCESS` (requests per in-process batch,
//! default 5 000).

// A benchmark aborts loudly when its setup fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use pow_actix::session::{
    self, cookie_session_middleware, CurrentUser, PowMiddleware, RequireAuthenticated,
};
use pow_actix::users::Value;
use pow_actix::{PowConfig, User};

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

async fn sign_in(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
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
                        .wrap(PowMiddleware::new(config.clone()))
                        .route("/sign_in", web::post().to(sign_in))
                        .service(
                            web::scope("/protected")
                                .wrap(RequireAuthenticated::new())
                                .route("", web::get().to(protected)),
                        ),
                )
            })
            .workers(env_or("BENCH_WORKERS", 2))
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

/// Nanoseconds each thread of this process has run on a CPU, by thread id (Linux
/// `/proc/self/task/*/schedstat`; empty elsewhere).
fn thread_cpu_ns() -> HashMap<String, u64> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return HashMap::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let ns = stat.split_whitespace().next()?.parse().ok()?;
            Some((task.file_name().to_string_lossy().into_owned(), ns))
        })
        .collect()
}

/// What one round measured.
struct Round {
    /// Requests per second of wall time.
    per_sec: f64,
    /// CPU time of the whole process (server and clients) per request, in µs; `None`
    /// where threads' CPU time cannot be read.
    cpu_us: Option<f64>,
}

/// One round: `clients` threads share `requests` GETs of `path`.
fn round(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    clients: usize,
    requests: usize,
) -> Round {
    let remaining = Arc::new(AtomicUsize::new(requests));
    // Start together; then, once finished, wait until the CPU time was read before exiting.
    let start = Arc::new(Barrier::new(clients + 1));
    let finished = Arc::new(Barrier::new(clients + 1));
    let sampled = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let remaining = Arc::clone(&remaining);
            let (start, finished, sampled) = (
                Arc::clone(&start),
                Arc::clone(&finished),
                Arc::clone(&sampled),
            );
            let (path, cookie) = (path.to_owned(), cookie.map(str::to_owned));
            std::thread::spawn(move || {
                let mut client = http1::Client::connect(addr).unwrap();
                // Warm the connection.
                let res = client.request("GET", &path, cookie.as_deref()).unwrap();
                assert_eq!(res.status, 200, "{path}: {}", res.body_str());
                start.wait();
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
                finished.wait();
                sampled.wait();
                done
            })
        })
        .collect();
    let cpu_before = thread_cpu_ns();
    start.wait();
    let started = Instant::now();
    finished.wait();
    let elapsed = started.elapsed();
    let cpu_after = thread_cpu_ns();
    sampled.wait();
    let done: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let cpu_ns: u64 = cpu_after
        .iter()
        .filter_map(|(tid, after)| Some(after.saturating_sub(*cpu_before.get(tid)?)))
        .sum();
    Round {
        per_sec: done as f64 / elapsed.as_secs_f64(),
        cpu_us: (cpu_ns > 0 && done > 0).then(|| cpu_ns as f64 / 1e3 / done as f64),
    }
}

/// CPU cost per request without the network, layer by layer: the route called in-process
/// through `actix_web::test`, every request carrying the session cookie, in alternating
/// batches. Returns the median µs/request of each layer in [`LAYERS`] order.
fn in_process(config: &PowConfig, cookie: &str, batches: usize, per_batch: usize) -> Vec<f64> {
    use actix_web::test;
    actix_web::rt::System::new().block_on(async {
        let protected_scope = || {
            web::scope("/protected")
                .wrap(RequireAuthenticated::new())
                .route("", web::get().to(protected))
        };
        let app = test::init_service(
            App::new()
                .service(baseline())
                .service(
                    web::scope("/cookie")
                        .wrap(cookie_session_middleware(config))
                        .service(web::scope("/protected").route("", web::get().to(plain))),
                )
                .service(
                    web::scope("/pow")
                        .wrap(PowMiddleware::new(config.clone()))
                        .service(web::scope("/protected").route("", web::get().to(plain))),
                )
                .service(
                    web::scope("/app")
                        .wrap(PowMiddleware::new(config.clone()))
                        .service(protected_scope()),
                ),
        )
        .await;
        let mut samples = vec![Vec::new(); LAYERS.len()];
        for _ in 0..batches {
            for ((_, path), samples) in LAYERS.iter().zip(&mut samples) {
                let started = Instant::now();
                for _ in 0..per_batch {
                    let req = test::TestRequest::get()
                        .uri(path)
                        .insert_header((actix_web::http::header::COOKIE, cookie))
                        .to_request();
                    let res = test::call_service(&app, req).await;
                    assert!(res.status().is_success(), "{path}");
                }
                samples.push(started.elapsed().as_secs_f64() * 1e6 / per_batch as f64);
            }
        }
        samples.iter_mut().map(|s| median(s)).collect()
    })
}

/// The in-process layers: what runs, and the route.
const LAYERS: [(&str, &str); 4] = [
    ("no middleware", "/base/protected"),
    ("+ cookie session", "/cookie/protected"),
    ("+ PowSessionMiddleware", "/pow/protected"),
    ("+ guard and CurrentUser", "/app/protected"),
];

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

    let mut plain_rates = Vec::new();
    let mut auth_rates = Vec::new();
    let mut ratios = Vec::new();
    let mut plain_cpu = Vec::new();
    let mut auth_cpu = Vec::new();
    for i in 0..rounds {
        // Alternate which route goes first, so drifting load on the machine hits both.
        let run_plain = || round(addr, "/base/protected", None, clients, requests);
        let run_auth = || round(addr, "/app/protected", Some(&cookie), clients, requests);
        let (plain, auth) = if i % 2 == 0 {
            let plain = run_plain();
            (plain, run_auth())
        } else {
            let auth = run_auth();
            (run_plain(), auth)
        };
        println!(
            "round {:>2}: unauthenticated {:>7.0} req/s ({:.1} µs CPU/req), \
             authenticated {:>7.0} req/s ({:.1} µs CPU/req)",
            i + 1,
            plain.per_sec,
            plain.cpu_us.unwrap_or(f64::NAN),
            auth.per_sec,
            auth.cpu_us.unwrap_or(f64::NAN),
        );
        plain_rates.push(plain.per_sec);
        auth_rates.push(auth.per_sec);
        ratios.push(auth.per_sec / plain.per_sec);
        plain_cpu.extend(plain.cpu_us);
        auth_cpu.extend(auth.cpu_us);
    }
    println!(
        "unauthenticated: {:.0} req/s, authenticated: {:.0} req/s, ratio: {:.1}% \
         (wall clock; medians of {rounds} paired rounds, {requests} requests each, {clients} clients)",
        median(&mut plain_rates),
        median(&mut auth_rates),
        100.0 * median(&mut ratios)
    );
    if !plain_cpu.is_empty() && !auth_cpu.is_empty() {
        let (plain_cpu, auth_cpu) = (median(&mut plain_cpu), median(&mut auth_cpu));
        println!(
            "per CPU-second: unauthenticated: {:.0} req/s, authenticated: {:.0} req/s, \
             ratio: {:.1}% (process CPU time incl. clients: {plain_cpu:.1} vs {auth_cpu:.1} µs/request)",
            1e6 / plain_cpu,
            1e6 / auth_cpu,
            100.0 * plain_cpu / auth_cpu
        );
    }
    actix_web::rt::System::new().block_on(handle.stop(true));

    let layers = in_process(&config, &cookie, 10, env_or("BENCH_IN_PROCESS", 5_000));
    println!("in-process CPU per request (no network):");
    let mut previous = None;
    for ((layer, _), us) in LAYERS.iter().zip(layers) {
        match previous {
            Some(before) => println!("  {layer:<26} {us:>6.2} µs  ({:+.2} µs)", us - before),
            None => println!("  {layer:<26} {us:>6.2} µs"),
        }
        previous = Some(us);
    }
}

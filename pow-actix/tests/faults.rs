//! Faults with real processes: a Redis server of the test's own stopped under load and
//! started again, and a PostgreSQL cluster of the test's own restarted, as the users'
//! database and as the SQL cache store. Requests that need the lost service get a
//! translated 503 within the store's deadline (never a panic, never a signed-in answer for
//! a session that was signed out, never a one-time token used twice), pages that need no
//! store still work, and service resumes by itself. Recovery times are printed. (The disk
//! store's SIGKILL test is `store_disk.rs::writes_survive_sigkill`.)
//!
//! Needs `redis-server`, and PostgreSQL's `initdb`/`pg_ctl` (run as the `postgres` user
//! when the test runs as root). Without them the tests print a notice and pass, except
//! under `CI`, where a missing program fails the run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;

const RECOVERY_DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
const PASSWORD: &str = "correct horse battery";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The path of `program`, or `None` with a notice (a failure under `CI`).
fn program(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    let found = candidates
        .iter()
        .map(PathBuf::from)
        .chain(std::env::var_os("PATH").into_iter().flat_map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        }))
        .find(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is needed by the fault tests under CI"
        );
        pow_core::testing::skipped(&format!("{name} not found: the fault test did not run"));
    }
    found
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(POLL);
    }
}

/// A Redis server on its own port, keeping nothing on disk; killed on drop.
struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    fn start(binary: PathBuf) -> Self {
        let mut server = Self {
            binary,
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    fn restart(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn users_db() -> (DieselUsersContext, PathBuf) {
    let db = std::env::temp_dir().join(format!(
        "pow-faults-{}.db",
        pow_actix::token::generate_uuid()
    ));
    (
        DieselUsersContext::connect(&db.display().to_string()).unwrap(),
        db,
    )
}

fn signed_in(c: &mut Client) -> u16 {
    c.get("/registration/edit").status
}

/// Polls `probe` until it gives `want`; returns how long that took.
fn recovers(want: u16, mut probe: impl FnMut() -> u16) -> Duration {
    let started = Instant::now();
    loop {
        let got = probe();
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < RECOVERY_DEADLINE,
            "still {got} after {RECOVERY_DEADLINE:?}"
        );
        std::thread::sleep(POLL);
    }
}

fn redis_stopped_under_load_answers_503_then_recovers() {
    let Some(binary) = program("redis-server", &["/usr/bin/redis-server"]) else {
        return;
    };
    let mut redis = RedisServer::start(binary);
    let (users, db) = users_db();
    let config = PowConfig::builder("f".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .rate_limits(pow_actix::limits::RateLimits::disabled())
        .store(pow_actix::testing::test_redis_store(&redis.url(), "pow-faults").unwrap())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    let served = config.clone();
    let addr: SocketAddr = pow_testkit::serve(served.clone());

    let mut browser = Client::new(addr);
    browser.sign_in("ada@example.com", PASSWORD);
    let mut signed_out = Client::new(addr);
    signed_out.sign_in("ada@example.com", PASSWORD);
    let old_cookies = signed_out.cookies.clone();
    let csrf = signed_out.get("/registration/edit").csrf();
    signed_out.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")]);
    assert_eq!(signed_in(&mut browser), 200);

    // Load from a few clients while Redis goes away.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, cookies) = (std::sync::Arc::clone(&stop), browser.cookies.clone());
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut c = Client::new(addr);
                    c.cookies = cookies.clone();
                    statuses.push(c.get("/registration/edit").status);
                }
                statuses
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    redis.kill();
    let down = Instant::now();
    // While it is down: a translated 503, for the signed-in browser and for the cookie
    // that was signed out (never a signed-in page).
    let res = Client::new(addr).get("/session/new");
    assert_eq!(res.status, 200, "pages that need no store still work");
    for cookies in [&browser.cookies, &old_cookies] {
        let mut c = Client::new(addr);
        c.cookies = cookies.clone();
        c.accept_language = Some("de".into());
        let res = c.get("/registration/edit");
        assert_eq!(res.status, 503, "{}", res.body);
        assert!(res.header("retry-after").is_some());
        assert!(
            res.body.contains("<html lang=\"de\">"),
            "translated: {}",
            res.body
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    redis.restart();
    let restarted = Instant::now();
    // The restarted Redis kept nothing: sessions are gone, and the store answers again.
    let took = recovers(302, || Client::new(addr).get("/registration/edit").status);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses: Vec<u16> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| [200, 302, 503].contains(s)),
        "only pages, redirects and 503s under load: {statuses:?}"
    );
    assert!(statuses.contains(&503) && statuses.contains(&200));
    let mut again = Client::new(addr);
    assert_eq!(again.sign_in("ada@example.com", PASSWORD).location(), "/");
    assert_eq!(signed_in(&mut again), 200);
    let mut old = Client::new(addr);
    old.cookies = old_cookies;
    assert_eq!(signed_in(&mut old), 302, "the signed-out cookie stays out");
    eprintln!(
        "Redis: down {:?}; service back {took:?} after the restart ({} requests under load)",
        restarted - down,
        statuses.len()
    );
    let _ = std::fs::remove_file(db);
}

/// A PostgreSQL cluster in a temporary directory, on its own port; stopped on drop.
struct PgCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn start(bin: PathBuf) -> Self {
        let dir =
            std::env::temp_dir().join(format!("pow-pg-{}", pow_actix::token::generate_uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY-free check: initdb refuses to run as root.
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let cluster = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&cluster.dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let status = cluster
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(cluster.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        cluster.pg_ctl("start");
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let status = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(self.data())
            .args(["-o", &options, "-m", "fast", "-w", "-l"])
            .arg(self.dir.join("log"))
            .arg(action)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {action} failed");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_bin() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|versions| {
            versions
                .filter_map(Result::ok)
                .map(|v| v.path().join("bin"))
                .find(|bin| bin.join("pg_ctl").is_file())
        });
    if found.is_none() {
        program("pg_ctl", &[])?;
    }
    found.or_else(|| program("pg_ctl", &[]).and_then(|p| p.parent().map(Path::to_path_buf)))
}

fn postgres_restarted_the_pool_recovers() {
    let Some(bin) = pg_bin() else {
        return;
    };
    let cluster = PgCluster::start(bin);
    let users = DieselUsersContext::connect(&cluster.url()).unwrap();
    let config = PowConfig::builder("g".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .rate_limits(pow_actix::limits::RateLimits::disabled())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    let served = config.clone();
    let addr = pow_testkit::serve(served.clone());
    let sign_in = || {
        Client::new(addr)
            .sign_in("ada@example.com", PASSWORD)
            .status
    };
    assert_eq!(sign_in(), 302);

    cluster.pg_ctl("stop");
    let mut browser = Client::new(addr);
    let csrf = browser.get("/session/new").csrf();
    let started = Instant::now();
    let down = browser.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "ada@example.com"),
            ("user[password]", PASSWORD),
        ],
    );
    let answered = started.elapsed();
    eprintln!(
        "PostgreSQL down: a sign-in answered {} in {answered:?}",
        down.status
    );
    assert_eq!(down.status, 503, "no sign-in without the database");
    assert_eq!(down.header("retry-after"), Some("5"));
    assert!(
        down.body.contains("temporarily unavailable"),
        "a translated page: {}",
        down.body
    );
    // The pool's checkout timeout (1 s) plus a little: never the old 30 s.
    assert!(
        answered < Duration::from_secs(3),
        "answered in {answered:?}"
    );
    cluster.pg_ctl("start");
    let took = recovers(302, sign_in);
    eprintln!("PostgreSQL: sign-ins work again {took:?} after the restart");
    assert!(took < Duration::from_secs(3), "recovered in {took:?}");
}

/// The store's deadline in the outage scenario: every answer comes within it and a margin.
const STORE_DEADLINE: Duration = Duration::from_secs(1);

/// Whether the store comes back with what it had.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Comes {
    BackWithItsRecords,
    BackEmpty,
}

/// One store outage, for any store: `set_up(false)` takes it away, `set_up(true)` brings
/// it back. While it is away, a signed-in request, a sign-in (HTML and JSON), and the
/// redemption of a one-time renewal token each answer a translated `503` with
/// `Retry-After` within the deadline, pages that need no store answer, and the store's
/// health says degraded. Once it is back, service resumes with no restart; a store that
/// kept its records keeps the session signed in and lets the renewal token be used once,
/// exactly; one that lost them signs everybody out.
fn store_outage(
    name: &str,
    store: std::sync::Arc<dyn pow_actix::store::Store>,
    set_up: &mut dyn FnMut(bool),
    comes: Comes,
) {
    let (users, db) = users_db();
    let config = PowConfig::builder("o".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .rate_limits(pow_actix::limits::RateLimits::disabled())
        .store(store)
        .store_deadline(STORE_DEADLINE)
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    let pages = pow_testkit::serve(config.clone());
    let api = pow_testkit::serve_api(config.clone(), pow_core::api::ApiOptions::new());
    let mut browser = Client::new(pages);
    assert_eq!(browser.sign_in("ada@example.com", PASSWORD).status, 302);
    assert_eq!(signed_in(&mut browser), 200);
    let api_sign_in = || {
        let body =
            serde_json::json!({ "user": { "email": "ada@example.com", "password": PASSWORD } });
        Client::new(api).request("POST", "/api/v1/session", Some(body.to_string()))
    };
    let res = api_sign_in();
    assert_eq!(res.status, 200, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let renewal = json["data"]["renewal_token"].as_str().unwrap().to_owned();
    let renew = |token: &str| {
        let mut c = Client::new(api);
        c.headers
            .push(("Authorization".into(), format!("Bearer {token}")));
        c.request("POST", "/api/v1/session/renew", None)
    };
    assert!(!config.store().health().degraded);

    set_up(false);
    let down = Instant::now();
    let timed = |what: &str, res: &dyn Fn() -> pow_actix::test_client::Response| {
        let started = Instant::now();
        let res = res();
        let took = started.elapsed();
        assert!(
            took < STORE_DEADLINE + Duration::from_secs(2),
            "{name}: {what} answered after {took:?}"
        );
        res
    };
    let page = timed("a page without a session", &|| {
        Client::new(pages).get("/session/new")
    });
    assert_eq!(
        page.status, 200,
        "{name}: pages that need no store still work"
    );
    let cookies = browser.cookies.clone();
    let res = timed("a signed-in request", &|| {
        let mut c = Client::new(pages);
        c.cookies = cookies.clone();
        c.accept_language = Some("de".into());
        c.get("/registration/edit")
    });
    assert_eq!(res.status, 503, "{name}: {}", res.body);
    assert_eq!(res.header("retry-after"), Some("5"));
    assert!(
        res.body.contains("<html lang=\"de\">"),
        "translated: {}",
        res.body
    );
    let res = timed("an HTML sign-in", &|| {
        let mut c = Client::new(pages);
        let csrf = c.get("/session/new").csrf();
        c.post(
            "/session",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", "ada@example.com"),
                ("user[password]", PASSWORD),
            ],
        )
    });
    assert_eq!(res.status, 503, "{name}: no sign-in without the store");
    let res = timed("a JSON sign-in", &api_sign_in);
    assert_eq!(res.status, 503, "{name}: {}", res.body);
    assert_eq!(res.header("retry-after"), Some("5"));
    let res = timed("a renewal token's redemption", &|| renew(&renewal));
    assert_eq!(res.status, 503, "{name}: {}", res.body);
    let health = config.store().health();
    assert!(
        health.degraded && health.since.is_some(),
        "{name}: {health:?}"
    );

    set_up(true);
    let restarted = Instant::now();
    let expect = match comes {
        Comes::BackWithItsRecords => 200,
        Comes::BackEmpty => 302,
    };
    let took = recovers(expect, || {
        let mut c = Client::new(pages);
        c.cookies = cookies.clone();
        signed_in(&mut c)
    });
    match comes {
        Comes::BackWithItsRecords => {
            // Nothing was used while the store was away: the token works once, exactly.
            let res = renew(&renewal);
            assert_eq!(res.status, 200, "{name}: {}", res.body);
            assert_eq!(
                renew(&renewal).status,
                401,
                "{name}: a one-time token, used twice"
            );
        }
        Comes::BackEmpty => assert_eq!(renew(&renewal).status, 401, "{name}"),
    }
    let mut again = Client::new(pages);
    assert_eq!(again.sign_in("ada@example.com", PASSWORD).location(), "/");
    assert_eq!(signed_in(&mut again), 200);
    assert_eq!(api_sign_in().status, 200);
    let health = config.store().health();
    assert!(
        !health.degraded && health.recoveries >= 1,
        "{name}: {health:?}"
    );
    eprintln!(
        "{name}: down {:?}; service back {took:?} after the restart",
        restarted - down
    );
    let _ = std::fs::remove_file(db);
}

fn redis_store_outage_fails_closed_and_recovers() {
    let Some(binary) = program("redis-server", &["/usr/bin/redis-server"]) else {
        return;
    };
    let mut redis = RedisServer::start(binary);
    let store = pow_actix::testing::test_redis_store(&redis.url(), "pow-outage").unwrap();
    store_outage(
        "Redis",
        store,
        &mut |up| if up { redis.restart() } else { redis.kill() },
        Comes::BackEmpty,
    );
}

fn sql_store_outage_fails_closed_and_recovers() {
    let Some(bin) = pg_bin() else {
        return;
    };
    let cluster = PgCluster::start(bin);
    let store = pow_actix::store::SqlStore::connect(&cluster.url()).unwrap();
    store.migrate().unwrap();
    store_outage(
        "SQL store (PostgreSQL)",
        std::sync::Arc::new(store),
        &mut |up| cluster.pg_ctl(if up { "start" } else { "stop" }),
        Comes::BackWithItsRecords,
    );
}

/// With `session_outage_grace`, a signed-in request whose session this process read
/// within the grace passes while the store is away; a session this process ended does
/// not, nor does anything else that needs the store. Without a grace (the default) or past
/// it, the same request answers `503`.
fn a_session_read_within_the_grace_passes_an_outage() {
    for (grace, passes) in [(Duration::from_secs(60), true), (Duration::ZERO, false)] {
        let probe = pow_actix::testing::ProbeStore::new();
        let (users, db) = users_db();
        let config = PowConfig::builder("p".repeat(64))
            .users(users.clone())
            .hasher(Pbkdf2Hasher::new(1))
            .rate_limits(pow_actix::limits::RateLimits::disabled())
            .store(probe.clone())
            .session_outage_grace(grace)
            .build()
            .unwrap();
        users.migrate(&config).unwrap();
        pow_actix::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
        let addr = pow_testkit::serve(config.clone());
        let (mut kept, mut ended) = (Client::new(addr), Client::new(addr));
        for c in [&mut kept, &mut ended] {
            assert_eq!(c.sign_in("ada@example.com", PASSWORD).status, 302);
            assert_eq!(signed_in(c), 200);
        }
        let ended_cookies = ended.cookies.clone();
        let csrf = ended.get("/registration/edit").csrf();
        ended.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")]);

        probe.set_down(true);
        let res = kept.get("/registration/edit");
        if passes {
            assert_eq!(res.status, 200, "within the grace: {}", res.body);
            assert!(res.body.contains("ada@example.com"), "{}", res.body);
        } else {
            assert_eq!(res.status, 503, "past the grace");
        }
        let mut old = Client::new(addr);
        old.cookies = ended_cookies;
        assert_eq!(signed_in(&mut old), 503, "an ended session never passes");
        let mut other = Client::new(addr);
        let csrf = other.get("/session/new").csrf();
        let res = other.post(
            "/session",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", "ada@example.com"),
                ("user[password]", PASSWORD),
            ],
        );
        assert_eq!(res.status, 503, "no sign-in without the store");
        probe.set_down(false);
        assert_eq!(signed_in(&mut kept), 200);
        let _ = std::fs::remove_file(db);
    }
}

pow_testkit::on_both!(
    a_session_read_within_the_grace_passes_an_outage,
    redis_stopped_under_load_answers_503_then_recovers,
    postgres_restarted_the_pool_recovers,
    redis_store_outage_fails_closed_and_recovers,
    sql_store_outage_fails_closed_and_recovers,
);

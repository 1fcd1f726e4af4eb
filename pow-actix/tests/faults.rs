//! Faults with real processes: a Redis server of the test's own stopped under load and
//! started again, and a PostgreSQL cluster of the test's own restarted. Requests that need
//! the lost service get a translated 503 (never a panic, never a signed-in answer for a
//! session that was signed out), and service resumes by itself. Recovery times are printed.
//! (The disk store's SIGKILL test is `store_disk.rs::writes_survive_sigkill`.)
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

pow_testkit::on_both!(
    redis_stopped_under_load_answers_503_then_recovers,
    postgres_restarted_the_pool_recovers,
);

//! The getting-started guide's complete app: the guide shows exactly `src/main.rs`, and
//! the built binary signs a user up, in and out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pow_actix::test_client::Client;

const SECTION: &str = "## Mounting the routes and the session middleware";

fn main_rs() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/main.rs")).unwrap()
}

/// The first Rust block of the guide's section on mounting the routes.
fn guide_block() -> String {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../guides/getting-started.md"
    ))
    .unwrap();
    let section = guide
        .find(SECTION)
        .unwrap_or_else(|| panic!("getting-started.md has a section `{SECTION}`"));
    let rest = &guide[section..];
    let fence = rest
        .find("\n```rust")
        .expect("the section has a Rust block")
        + 1;
    let code = &rest[fence..];
    let code = &code[code.find('\n').unwrap() + 1..];
    let end = code.find("\n```").expect("the block ends");
    code[..=end].to_owned()
}

#[test]
fn the_guide_shows_the_example_app() {
    let block = guide_block();
    let main_rs = main_rs();
    assert!(main_rs.contains("fn main"), "{main_rs}");
    if block.trim_end() != main_rs.trim_end() {
        let first = block
            .lines()
            .zip(main_rs.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| block.lines().count().min(main_rs.lines().count()));
        panic!(
            "examples/first-app/src/main.rs differs from the app in guides/getting-started.md \
             (`{SECTION}`), first at line {}:\n guide: {:?}\n example: {:?}\nCopy the \
             guide's block into src/main.rs (or the other way round).",
            first + 1,
            block.lines().nth(first),
            main_rs.lines().nth(first)
        );
    }
}

/// The app's process, killed when dropped (a failed assertion included).
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Where the app listens: a free port when it reads `BIND`, else the address it binds.
fn address(main_rs: &str) -> (SocketAddr, bool) {
    if main_rs.contains("\"BIND\"") {
        let free = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        return (free, true);
    }
    let start = main_rs.find(".bind(\"").expect("the app binds an address") + 7;
    let end = start + main_rs[start..].find('"').unwrap();
    (main_rs[start..end].parse().unwrap(), false)
}

#[test]
fn the_first_app_signs_up_signs_in_and_out() {
    let (addr, from_env) = address(&main_rs());
    // The address is the guide's own when it is hard-coded: runs of this test in other
    // processes wait for this one.
    let lock_dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(lock_dir).unwrap();
    let lock = File::create(lock_dir.join("first-app.lock")).unwrap();
    if !from_env {
        lock.lock().unwrap();
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
            "{addr}, the address the guide's app binds, is taken by another program"
        );
    }

    // A folder of its own: the app opens `sqlite://app.db` in its current folder.
    let dir = std::env::temp_dir().join(format!("pow-first-app-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("server.log");
    let out = File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_example-first-app"))
        .current_dir(&dir)
        .env("SECRET_KEY_BASE", "s".repeat(64))
        .env("BIND", addr.to_string())
        .env("DATABASE_URL", dir.join("app.db"))
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut server = Server { child, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("the app exited ({status}):\n{}", server.log());
        }
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the app did not listen on {addr} within 60s:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut browser = Client::new(addr);
    assert_eq!(browser.get("/").body, "Not signed in");
    assert!(
        !server.log().contains("SECRET_KEY_BASE"),
        "{}",
        server.log()
    );
    let res = browser.get("/dashboard");
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new?request_path=%2Fdashboard");

    // Sign up: signed in at once (no email confirmation in this app).
    let csrf = browser.get("/registration/new").csrf();
    let res = browser.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[email]", "jane@example.com"),
            ("user[password]", "correct horse battery"),
            ("user[password_confirmation]", "correct horse battery"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    let home = browser.get("/").body;
    assert!(home.starts_with("Signed in as user "), "{home}");
    // No message waits: pow-core's own sign-up leaves none (email confirmation would).
    assert_eq!(home.lines().count(), 1, "{home}");
    assert_eq!(browser.get("/dashboard").body, "Hello, jane@example.com");

    let sign_out = |browser: &mut Client| {
        // The CSRF token of a signed-in page of pow-rs.
        let csrf = browser.get("/registration/edit").csrf();
        let res = browser.post(
            "/session",
            &[("_method", "DELETE"), ("_csrf_token", csrf.as_str())],
        );
        assert_eq!(res.status, 302);
        assert_eq!(res.location(), "/session/new");
    };
    sign_out(&mut browser);
    assert_eq!(browser.get("/").body, "Not signed in");
    assert_eq!(browser.get("/dashboard").status, 302);

    // Sign in, open the dashboard, sign out.
    let res = browser.sign_in("jane@example.com", "correct horse battery");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    let dashboard = browser.get("/dashboard");
    assert_eq!(dashboard.status, 200);
    assert_eq!(dashboard.body, "Hello, jane@example.com");
    sign_out(&mut browser);
    assert_eq!(browser.get("/dashboard").status, 302);

    drop(server);
    drop(lock);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_secret_the_first_app_stops_and_says_why() {
    let dir = std::env::temp_dir().join(format!("pow-first-app-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("server.log");
    let out = File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_example-first-app"))
        .current_dir(&dir)
        .env_remove("SECRET_KEY_BASE")
        // Were it to start after all, it would not take the guide's address.
        .env("BIND", "127.0.0.1:0")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut server = Server { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the app kept running without SECRET_KEY_BASE:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    assert!(
        server.log().contains("SECRET_KEY_BASE"),
        "the error names the variable: {}",
        server.log()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

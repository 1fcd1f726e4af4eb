//! The guides' complete first apps: getting-started.md shows exactly `src/main.rs` (on
//! actix-web), axum.md exactly `src/axum.rs`, and each built binary signs a user up, in
//! and out with the same answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pow_actix::test_client::Client;

/// The apps: the guide, its section whose first Rust block is the app, the app's source
/// file and its binary.
const APPS: [(&str, &str, &str, &str); 2] = [
    (
        "getting-started.md",
        "## Mounting the routes and the session middleware",
        "src/main.rs",
        env!("CARGO_BIN_EXE_example-first-app"),
    ),
    (
        "axum.md",
        "## A first app",
        "src/axum.rs",
        env!("CARGO_BIN_EXE_example-first-app-axum"),
    ),
];

fn source(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

/// The first Rust block of the guide's section.
fn guide_block(guide: &str, section: &str) -> String {
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../guides")
            .join(guide),
    )
    .unwrap();
    let at = guide
        .find(section)
        .unwrap_or_else(|| panic!("the guide has a section `{section}`"));
    let rest = &guide[at..];
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
fn the_guides_show_the_example_apps() {
    for (guide, section, file, _) in APPS {
        let block = guide_block(guide, section);
        let app = source(file);
        assert!(app.contains("fn main"), "{app}");
        if block.trim_end() != app.trim_end() {
            let first = block
                .lines()
                .zip(app.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| block.lines().count().min(app.lines().count()));
            panic!(
                "examples/first-app/{file} differs from the app in guides/{guide} \
                 (`{section}`), first at line {}:\n guide: {:?}\n example: {:?}\nCopy the \
                 guide's block into {file} (or the other way round).",
                first + 1,
                block.lines().nth(first),
                app.lines().nth(first)
            );
        }
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
    let (_, _, file, binary) = APPS[0];
    signs_up_signs_in_and_out(file, binary);
}

#[test]
fn the_first_axum_app_signs_up_signs_in_and_out() {
    let (_, _, file, binary) = APPS[1];
    signs_up_signs_in_and_out(file, binary);
}

/// A newcomer's journey through the app of `file`, built as `binary`.
fn signs_up_signs_in_and_out(file: &str, binary: &str) {
    let (addr, from_env) = address(&source(file));
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
    let child = Command::new(binary)
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
    let home = browser.get("/").body;
    assert!(home.starts_with("<p>Not signed in</p>"), "{home}");
    // The ways in, from the home page.
    assert!(home.contains(r#"href="/registration/new""#), "{home}");
    assert!(home.contains(r#"href="/session/new""#), "{home}");
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
    assert!(home.starts_with("<p>Signed in as user "), "{home}");
    // No message waits: pow-core's own sign-up leaves none (email confirmation would).
    assert_eq!(home.matches("<p>").count(), 1, "{home}");
    assert_eq!(browser.get("/dashboard").body, "Hello, jane@example.com");

    // Sign out with the home page's form.
    let sign_out = |browser: &mut Client| {
        let home = browser.get("/");
        assert!(home.body.contains("Sign out"), "{}", home.body);
        let csrf = home.csrf();
        let res = browser.post(
            "/session",
            &[("_method", "DELETE"), ("_csrf_token", csrf.as_str())],
        );
        assert_eq!(res.status, 302);
        assert_eq!(res.location(), "/session/new");
    };
    sign_out(&mut browser);
    assert!(browser.get("/").body.starts_with("<p>Not signed in</p>"));
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
    for (_, _, _, binary) in APPS {
        let dir =
            std::env::temp_dir().join(format!("pow-first-app-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("server.log");
        let out = File::create(&log).unwrap();
        let child = Command::new(binary)
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
}

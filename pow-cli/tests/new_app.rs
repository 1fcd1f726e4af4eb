//! `pow new`: the files it writes, and the app it makes, driven over HTTP as a newcomer
//! would use it (sign up, confirm, sign in, sign out, reset).
//!
//! The two apps under test are kept in the workspace as `examples/new-app` and
//! `examples/new-app-every-extension`: each test checks that `pow new` writes exactly their
//! `src/main.rs` and `Cargo.toml` (with the checkout's path made relative, and without the
//! sections that make a standalone app its own workspace), then runs the example's binary in
//! the folder `pow new` wrote, with that folder's `.env`. So the apps build with the
//! workspace's libraries instead of a dependency tree of their own; CI checks each with only
//! its own `Cargo.toml` (`cargo check -p new-app`). After changing what `pow new` writes,
//! `UPDATE_EXAMPLES=1 cargo test -p pow-cli --test new_app` rewrites the examples.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use pow_actix::test_client::Client;

fn pow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pow"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace().join(dir),
        None => workspace().join("target"),
    }
}

/// A fresh folder that no other test run uses at the same time.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pow-new-{name}-{}", uuid::Uuid::new_v4().simple()))
}

/// `rustfmt --check` on a generated file, when rustfmt is installed: a new app starts out
/// formatted.
fn assert_formatted(path: &Path) {
    let Ok(out) = Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(path)
        .output()
    else {
        eprintln!("rustfmt not found: {} not checked", path.display());
        return;
    };
    assert!(
        out.status.success(),
        "{} is not formatted:\n{}",
        path.display(),
        text(&out.stdout)
    );
}

#[test]
fn new_writes_an_app_and_refuses_a_non_empty_folder() {
    let tmp = scratch("files");
    let app = tmp.join("My App");
    let app_str = app.display().to_string();
    let out = pow(&["new", &app_str]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for step in [
        "cd ",
        "cargo run",
        "http://127.0.0.1:8080",
        "mail/",
        "--path",
    ] {
        assert!(stdout.contains(step), "next steps name {step}: {stdout}");
    }
    // Until the crates are published, an app made without --path cannot build: said.
    assert!(
        stdout.contains("not\npublished yet") || stdout.contains("not published yet"),
        "{stdout}"
    );
    assert!(stdout.contains("pow-actix = { git = "), "{stdout}");

    let cargo_toml = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("name = \"my-app\""), "{cargo_toml}");
    assert!(cargo_toml.contains("pow-actix = { version = \"0.1\""));
    for ext in ["reset-password", "email-confirmation", "persistent-session"] {
        assert!(cargo_toml.contains(&format!("pow-ext-{ext} = {{ version = \"0.1\" }}")));
    }
    assert!(!cargo_toml.contains("pow-ext-two-factor"));
    let main_rs = std::fs::read_to_string(app.join("src/main.rs")).unwrap();
    let confirmation = main_rs
        .find(".extension(EmailConfirmation::new())")
        .unwrap();
    let persistent = main_rs
        .find(".extension(PersistentSession::new())")
        .unwrap();
    assert!(confirmation < persistent, "email confirmation comes first");
    assert!(main_rs.contains(".extension(ResetPassword::new())"));
    assert!(main_rs.contains("pow_actix::web::flash::take(&req)"));
    assert_formatted(&app.join("src/main.rs"));

    let env = std::fs::read_to_string(app.join(".env")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(app.join(".env"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the secret key base is its owner's alone"
        );
    }
    let secret = env
        .lines()
        .find_map(|line| line.strip_prefix("SECRET_KEY_BASE="))
        .unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(secret)
            .unwrap()
            .len(),
        64
    );
    let gitignore = std::fs::read_to_string(app.join(".gitignore")).unwrap();
    for ignored in ["/target/", "*.db", ".env", "/mail/"] {
        assert!(gitignore.lines().any(|line| line == ignored), "{gitignore}");
    }
    assert!(!app.join("templates").exists());

    // A second run would overwrite the app: refused, and nothing changes.
    let again = pow(&["new", &app_str]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("not empty"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read_to_string(app.join(".env")).unwrap(), env);

    // Organizations without a way to prove addresses: refused before anything is written.
    let unproven = tmp.join("unproven");
    let out = pow(&[
        "new",
        &unproven.display().to_string(),
        "--extensions",
        "organizations,api-keys",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("email-confirmation"),
        "{}",
        text(&out.stderr)
    );
    assert!(!unproven.exists());

    // Other extensions, the templates, a name of its own, an empty folder that exists.
    let other = tmp.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_str = other.display().to_string();
    let out = pow(&[
        "new",
        &other_str,
        "--extensions",
        "two-factor,passkeys",
        "--templates",
        "--name",
        "shop",
        "--path",
        workspace().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cargo_toml = std::fs::read_to_string(other.join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("name = \"shop\""));
    let core = workspace().join("pow-actix");
    assert!(
        cargo_toml.contains(&format!("pow-actix = {{ path = \"{}\"", core.display())),
        "{cargo_toml}"
    );
    assert!(cargo_toml.contains("pow-ext-two-factor = { path = "));
    assert!(!cargo_toml.contains("pow-ext-reset-password"));
    let main_rs = std::fs::read_to_string(other.join("src/main.rs")).unwrap();
    assert!(main_rs.contains(".extension(TwoFactor::new().issuer(APP_NAME))"));
    assert!(main_rs.contains("const APP_NAME: &str = \"shop\";"));
    assert!(main_rs.contains(".extension(passkeys)"));
    assert_formatted(&other.join("src/main.rs"));
    assert!(
        std::fs::read_to_string(other.join("templates/pow/page.html"))
            .unwrap()
            .contains("<html")
    );
    assert!(other.join("templates/pow/mail/layout.txt").is_file());
    // The templates are a start for the app's own views: the app does not read them, and
    // both the folder and the next steps say so.
    let readme = std::fs::read_to_string(other.join("templates/pow/README.md")).unwrap();
    assert!(
        readme.contains("the app does not read this folder"),
        "{readme}"
    );
    assert!(
        text(&out.stdout).contains("does not read them"),
        "{}",
        text(&out.stdout)
    );

    // On axum: pow-axum and axum, the same pages and settings.
    let on_axum = tmp.join("on-axum");
    let out = pow(&["new", &on_axum.display().to_string(), "--framework", "axum"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("pow-rs and axum"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("pow-axum = { git = "),
        "{}",
        text(&out.stdout)
    );
    let cargo_toml = std::fs::read_to_string(on_axum.join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains("pow-axum = { version = \"0.1\""),
        "{cargo_toml}"
    );
    assert!(!cargo_toml.contains("actix"), "{cargo_toml}");
    let main_rs = std::fs::read_to_string(on_axum.join("src/main.rs")).unwrap();
    assert!(
        main_rs.contains(".layer(PowLayer::new(config))"),
        "{main_rs}"
    );
    assert!(!main_rs.contains("actix"), "{main_rs}");
    assert_formatted(&on_axum.join("src/main.rs"));

    // Usage errors and bad input.
    let not_a_checkout = pow(&[
        "new",
        &tmp.join("x").display().to_string(),
        "--path",
        &app_str,
    ]);
    assert_eq!(not_a_checkout.status.code(), Some(1));
    assert!(text(&not_a_checkout.stderr).contains("no pow-rs checkout"));
    let bad_name = pow(&["new", &tmp.join("9lives").display().to_string()]);
    assert_eq!(bad_name.status.code(), Some(1));
    assert!(text(&bad_name.stderr).contains("--name"));
    assert_eq!(
        pow(&[
            "new",
            &tmp.join("y").display().to_string(),
            "--extensions",
            "nope"
        ])
        .status
        .code(),
        Some(2)
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Holds a lock file for the lifetime of a test: runs of the same test in other processes
/// wait, since they write the app into the same folder and run it there.
struct Lock(#[allow(dead_code)] File);

fn lock(name: &str) -> Lock {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).unwrap();
    let file = File::create(dir.join(format!("{name}.lock"))).unwrap();
    file.lock().unwrap();
    Lock(file)
}

/// What `pow new` wrote for the example `name` must be the example's file `path`: fails,
/// or with `UPDATE_EXAMPLES` set rewrites the example.
fn assert_example_file(name: &str, path: &str, written: &str) {
    let example = workspace().join("examples").join(name).join(path);
    let kept = std::fs::read_to_string(&example).unwrap_or_default();
    if kept == written {
        return;
    }
    if std::env::var_os("UPDATE_EXAMPLES").is_some() {
        std::fs::create_dir_all(example.parent().unwrap()).unwrap();
        std::fs::write(&example, written).unwrap();
        eprintln!("rewrote {}", example.display());
        return;
    }
    panic!(
        "`pow new` no longer writes {}: run `UPDATE_EXAMPLES=1 cargo test -p pow-cli --test \
         new_app` and commit the example.\n--- written:\n{written}",
        example.display()
    );
}

/// `pow new <dir> --path <workspace> <args>`, checked against the workspace's example of
/// the same name; returns the example's binary, built with the workspace's libraries.
fn generate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    let workspace = workspace();
    let dir_str = dir.display().to_string();
    let mut all = vec!["new", &dir_str, "--path", workspace.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = pow(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let main_rs = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    assert_example_file(name, "src/main.rs", &main_rs);
    // The example is a workspace member: the checkout's path relative to it, and no
    // `[workspace]` or profile of its own (a standalone app's last sections).
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let standalone = "\n# An app of its own";
    let at = cargo_toml
        .find(standalone)
        .expect("a new app is a workspace of its own");
    assert!(cargo_toml[at..].contains("\n[workspace]\n"), "{cargo_toml}");
    // `pow new --path` writes the checkout's canonical path.
    let checkout = std::fs::canonicalize(&workspace).unwrap();
    let member = cargo_toml[..=at].replace(&format!("\"{}/", checkout.display()), "\"../../");
    assert_example_file(name, "Cargo.toml", &member);
    example_binary(name)
}

/// The example app `name`'s binary: the examples built at once, once per test process,
/// with the workspace's packages and features, so that the libraries `cargo test
/// --workspace --all-features` built are reused.
fn example_binary(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    // Other processes building at the same time wait on cargo's own lock of the folder.
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let started = Instant::now();
        let mut build = Command::new(cargo);
        // What cargo set for this test is not the build's environment: build scripts that
        // watch these (ring watches CARGO_MANIFEST_DIR) would run again, and their
        // dependents be compiled again.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let set_for_tests = [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&key.as_ref());
            if set_for_tests || key.starts_with("CARGO_PKG_") || key.starts_with("CARGO_BIN_") {
                build.env_remove(key.as_ref());
            }
        }
        let status = build
            .args([
                "build",
                "--offline",
                "--quiet",
                "--workspace",
                "--all-features",
                "--bin",
                "new-app",
                "--bin",
                "new-app-every-extension",
                "--bin",
                "new-app-axum",
                // A test target (this one, built already): with it the dev-dependencies'
                // features count, as in `cargo test`, so no library is built again.
                "--test",
                "new_app",
            ])
            .current_dir(workspace())
            .env("CARGO_TARGET_DIR", target_dir())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .unwrap();
        assert!(status.success(), "the example apps build");
        eprintln!(
            "built the example apps in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    });
    target_dir()
        .join("debug")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
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
    /// Starts `binary` in `dir` on a free loopback port and waits until it accepts
    /// connections.
    fn start(binary: &Path, dir: &Path) -> (Self, SocketAddr) {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let log = dir.join("server.log");
        let out = File::create(&log).unwrap();
        let child = Command::new(binary)
            .current_dir(dir)
            .env("BIND", addr.to_string())
            // The app's own .env is what is under test.
            .env_remove("SECRET_KEY_BASE")
            .env_remove("DATABASE_URL")
            .env_remove("BASE_URL")
            .env_remove("MAIL_DIR")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut server = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the app exited ({status}):\n{}", server.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return (server, addr);
            }
            assert!(
                Instant::now() < deadline,
                "the app did not listen within 60s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Waits for a new mail to `to` with `subject` in the app's `mail/` folder and returns the
/// path of the first link in it that starts with `prefix` (relative to the server).
fn wait_for_link(
    server: &Server,
    dir: &Path,
    seen: &mut HashSet<PathBuf>,
    to: &str,
    subject: &str,
    prefix: &str,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        for path in paths {
            if !seen.insert(path.clone()) {
                continue;
            }
            let eml = std::fs::read_to_string(&path).unwrap();
            if !eml.contains(&format!("To: {to}\r\n"))
                || !eml.contains(&format!("Subject: {subject}\r\n"))
            {
                continue;
            }
            let body = pow_testkit::eml::text_part(&eml).expect("a text part");
            let link = body
                .split_whitespace()
                .find_map(|word| word.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix} link in:\n{body}"));
            return link.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no mail \"{subject}\" to {to} in {} within 30s:\n{}",
            dir.display(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sign_up(browser: &mut Client, email: &str, password: &str) -> pow_actix::test_client::Response {
    let csrf = browser.get("/registration/new").csrf();
    browser.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[email]", email),
            ("user[password]", password),
            ("user[password_confirmation]", password),
        ],
    )
}

#[test]
fn the_new_app_signs_up_confirms_signs_in_and_resets() {
    signs_up_confirms_signs_in_and_resets("new-app", &[]);
}

#[test]
fn the_new_axum_app_signs_up_confirms_signs_in_and_resets() {
    signs_up_confirms_signs_in_and_resets("new-app-axum", &["--framework", "axum"]);
}

/// The journey of a newcomer through the app `pow new <args>` writes, kept as the example
/// `name`: the same steps and answers on either framework.
fn signs_up_confirms_signs_in_and_resets(name: &str, args: &[&str]) {
    let _lock = lock(name);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let binary = generate(&dir, name, args);
    let (server, addr) = Server::start(&binary, &dir);
    let origin = format!("http://{addr}");
    let mail = dir.join("mail");
    let mut seen = HashSet::new();
    let mut browser = Client::new(addr);

    let home = browser.get("/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("You are not signed in."));
    assert!(home.body.contains(r#"href="/registration/new""#));
    assert!(home.body.contains(r#"href="/session/new""#));
    assert_eq!(browser.get("/dashboard").status, 302);

    // Sign up: not signed in until the address is confirmed, and `/` says so.
    let res = sign_up(&mut browser, "jane@example.com", "correct horse battery");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    let home = browser.get("/");
    assert!(
        home.body
            .contains("need to confirm your e-mail before you can sign in"),
        "{}",
        home.body
    );
    assert!(home.body.contains("You are not signed in."));

    // The confirmation link, from the mail written to mail/ (and printed to stderr).
    let link = wait_for_link(
        &server,
        &mail,
        &mut seen,
        "jane@example.com",
        "Confirm your email address",
        &origin,
    );
    assert!(link.starts_with("/confirm-email/"), "{link}");
    assert!(server.log().contains("---- mail to jane@example.com"));
    let res = browser.get(&link);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    assert!(browser
        .get("/session/new")
        .body
        .contains("The email address has been confirmed."));

    // Sign in, see `/` and the dashboard signed in, sign out with the home page's form.
    let res = browser.sign_in("jane@example.com", "correct horse battery");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    let home = browser.get("/");
    assert!(
        home.body.contains("Signed in as jane@example.com."),
        "{}",
        home.body
    );
    assert!(browser
        .get("/dashboard")
        .body
        .contains("Hello, jane@example.com!"));
    let csrf = home.csrf();
    let res = browser.post(
        "/session",
        &[("_method", "DELETE"), ("_csrf_token", csrf.as_str())],
    );
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    assert!(browser.get("/").body.contains("You are not signed in."));

    // Forgot the password: request a link, follow it, choose a new password.
    let csrf = browser.get("/reset-password/new").csrf();
    let res = browser.post(
        "/reset-password",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[email]", "jane@example.com"),
        ],
    );
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    let link = wait_for_link(
        &server,
        &mail,
        &mut seen,
        "jane@example.com",
        "Reset password link",
        &origin,
    );
    assert!(link.starts_with("/reset-password/"), "{link}");
    let form = browser.get(&link);
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    let res = browser.post(
        &link,
        &[
            ("_csrf_token", csrf.as_str()),
            ("_method", "PATCH"),
            ("user[password]", "a new secret phrase"),
            ("user[password_confirmation]", "a new secret phrase"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");

    // The old password no longer works; the new one does.
    let res = browser.sign_in("jane@example.com", "correct horse battery");
    assert_eq!(res.status, 200);
    let res = browser.sign_in("jane@example.com", "a new secret phrase");
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(browser
        .get("/")
        .body
        .contains("Signed in as jane@example.com."));

    // The database and the mails are where the app says; the mails (sign-in links) are
    // their owner's alone.
    assert!(dir.join("app.db").is_file());
    #[cfg(unix)]
    for mail in std::fs::read_dir(dir.join("mail")).unwrap() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = mail.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(server);
}

#[test]
fn a_new_app_with_every_extension_builds_and_serves() {
    let _lock = lock("new-app-every-extension");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-app-every-extension");
    let every = "reset-password,email-confirmation,two-factor,passwordless,passkeys,\
                 persistent-session,invitation,oauth,account,organizations,api-keys,provider";
    let binary = generate(
        &dir,
        "new-app-every-extension",
        &["--extensions", every, "--templates"],
    );
    let (server, addr) = Server::start(&binary, &dir);
    let mut browser = Client::new(addr);
    assert!(browser.get("/").body.contains("You are not signed in."));
    let sign_in = browser.get("/session/new");
    assert_eq!(sign_in.status, 200);
    assert!(
        sign_in.body.contains("/reset-password/new"),
        "{}",
        sign_in.body
    );
    assert_eq!(browser.get("/registration/new").status, 200);
    // The organizations' and the API keys' pages are mounted, for signed-in users only.
    for page in ["/organizations", "/api-keys"] {
        let res = browser.get(page);
        assert_eq!(res.status, 302, "{page}: {}", res.body);
        assert!(
            res.location().starts_with("/session/new"),
            "{page}: {}",
            res.location()
        );
    }
    // The provider's discovery document is served.
    let discovery = browser.get("/.well-known/openid-configuration");
    assert_eq!(discovery.status, 200, "{}", discovery.body);
    assert!(discovery.body.contains("\"issuer\""), "{}", discovery.body);
    drop(server);
}

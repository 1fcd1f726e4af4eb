//! The demo in a real browser: headless Chromium through chromedriver (WebDriver, with the
//! `fantoccini` crate), **with JavaScript turned off**. One user registers, confirms the
//! address from the mail, signs in with "keep me signed in", changes the password, signs
//! out, resets the password by mail, invites someone, and the invitee accepts. On every
//! page: each visible input has a label, field errors are linked with `aria-describedby`,
//! and Tab moves through the form in order. A failing step saves a screenshot under
//! `target/browser-screenshots/`.
//!
//! A second journey turns JavaScript on and gives the browser chromedriver's virtual
//! authenticator: a user enrols a passkey on the passkeys page, signs out, and signs in
//! with the passkey alone.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver`; `.ci/run`
//! installs them). Without them the tests print a notice and pass, except under `CI`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use pow_actix::mailer::MemoryMailer;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "valid passphrase 1";

type Failure = Box<dyn std::error::Error>;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free port, killed on drop.
struct Driver(Child, u16);

impl Driver {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Listening is not ready: a session asked for too early can be reset. Wait for
        // WebDriver's status to say so.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Self::ready(port) {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child, port)
    }

    /// Whether the driver on `port` answers `GET /status` with `"ready": true`.
    fn ready(port: u16) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let request =
            format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err()
            || stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .is_err()
        {
            return false;
        }
        // The driver may keep the connection open after its answer: read until the
        // answer is whole (its JSON closed), the connection ends, or the timeout.
        let mut answer = Vec::new();
        let mut chunk = [0_u8; 1024];
        while let Ok(n @ 1..) = stream.read(&mut chunk) {
            answer.extend_from_slice(&chunk[..n]);
            if answer.ends_with(b"}}") {
                break;
            }
        }
        String::from_utf8_lossy(&answer)
            .replace(' ', "")
            .contains("\"ready\":true")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The browser steps, with the page they are on for screenshots.
struct Browser {
    c: Client,
    base: String,
}

impl Browser {
    async fn goto(&self, path: &str) -> Result<(), Failure> {
        Ok(self.c.goto(&format!("{}{path}", self.base)).await?)
    }

    async fn path(&self) -> Result<String, Failure> {
        let url = self.c.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    async fn fill(&self, name: &str, value: &str) -> Result<(), Failure> {
        let input = self
            .c
            .find(Locator::Css(&format!("input[name='user[{name}]']")))
            .await?;
        input.clear().await?;
        input.send_keys(value).await?;
        Ok(())
    }

    /// Clicks the submit button of the form whose button reads `label`.
    async fn submit(&self, label: &str) -> Result<(), Failure> {
        for button in self
            .c
            .find_all(Locator::Css("form button[type=submit]"))
            .await?
        {
            if button.text().await?.trim() == label {
                button.click().await?;
                // Without JavaScript every submit loads a new page: wait until the old
                // one's button is gone before looking at the new one.
                let deadline = Instant::now() + Duration::from_secs(10);
                while button.tag_name().await.is_ok() {
                    if Instant::now() > deadline {
                        return Err(format!("{label:?} did not load a new page").into());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                return Ok(());
            }
        }
        Err(format!("no button reads {label:?} on {}", self.path().await?).into())
    }

    async fn text(&self) -> Result<String, Failure> {
        Ok(self.c.find(Locator::Css("main")).await?.text().await?)
    }

    async fn expect_text(&self, needle: &str) -> Result<(), Failure> {
        let text = self.text().await?;
        if text.contains(needle) {
            Ok(())
        } else {
            Err(format!("{:?} not on {}: {text}", needle, self.path().await?).into())
        }
    }

    /// Every visible input has a `<label for>`; invalid ones point at their errors.
    async fn check_labels(&self) -> Result<(), Failure> {
        let page = self.path().await?;
        for input in self
            .c
            .find_all(Locator::Css("input:not([type=hidden])"))
            .await?
        {
            let id = input
                .attr("id")
                .await?
                .ok_or(format!("an input without id on {page}"))?;
            let labels = self
                .c
                .find_all(Locator::Css(&format!("label[for='{id}']")))
                .await?;
            if labels.is_empty() {
                return Err(format!("input {id} has no label on {page}").into());
            }
            if input.attr("aria-invalid").await?.as_deref() == Some("true") {
                let described = input
                    .attr("aria-describedby")
                    .await?
                    .ok_or(format!("invalid {id} without aria-describedby on {page}"))?;
                let errors = self
                    .c
                    .find(Locator::Css(&format!("#{described}")))
                    .await?
                    .text()
                    .await?;
                if errors.trim().is_empty() {
                    return Err(format!("{id}'s errors are empty on {page}").into());
                }
            }
        }
        Ok(())
    }

    /// Tab from the first field of the first form visits its fields in document order.
    async fn check_focus_order(&self) -> Result<(), Failure> {
        let fields = self
            .c
            .find_all(Locator::Css(
                "main form:first-of-type input:not([type=hidden]), main form:first-of-type button",
            ))
            .await?;
        let Some(first) = fields.first() else {
            return Ok(());
        };
        first.click().await?;
        let mut expected = Vec::new();
        for field in &fields {
            expected.push(field.attr("name").await?.unwrap_or_else(|| "button".into()));
        }
        let mut seen = Vec::new();
        for _ in 0..fields.len() {
            let active = self.c.active_element().await?;
            seen.push(
                active
                    .attr("name")
                    .await?
                    .unwrap_or_else(|| "button".into()),
            );
            active.send_keys("\u{e004}").await?;
        }
        // A checkbox's hidden twin and the label are not in the tab order; compare the
        // order of what was focused.
        if seen != expected {
            return Err(format!(
                "focus order {seen:?}, fields {expected:?} on {}",
                self.path().await?
            )
            .into());
        }
        Ok(())
    }

    async fn checked_page(&self) -> Result<(), Failure> {
        self.check_labels().await?;
        self.check_focus_order().await
    }
}

/// The path of the first link to the demo in the last mail to `to`.
fn mailed_path(mailer: &MemoryMailer, to: &str) -> Result<String, Failure> {
    let mail = mailer.last_to(to).ok_or(format!("no mail to {to}"))?;
    let start = mail.text.find("http://localhost/").ok_or("no link")? + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| i + start);
    Ok(mail.text[start..end].to_owned())
}

async fn journey(b: &Browser, mailer: &MemoryMailer) -> Result<(), Failure> {
    let email = "ada@example.com";
    // Register: a mismatched confirmation first shows linked errors.
    b.goto("/registration/new").await?;
    b.checked_page().await?;
    b.fill("email", email).await?;
    b.fill("name", "Ada").await?;
    b.fill("password", PASSWORD).await?;
    b.fill("password_confirmation", "something else").await?;
    b.submit("Register").await?;
    b.expect_text("does not match").await?;
    b.check_labels().await?;
    b.fill("password", PASSWORD).await?;
    b.fill("password_confirmation", PASSWORD).await?;
    b.submit("Register").await?;
    b.expect_text("confirm").await?;

    // Confirm from the mail, then sign in with "keep me signed in".
    b.goto(&mailed_path(mailer, email)?).await?;
    b.goto("/session/new").await?;
    b.checked_page().await?;
    b.fill("email", email).await?;
    b.fill("password", PASSWORD).await?;
    let keep =
        b.c.find(Locator::Css(
            "input[type=checkbox][name='user[persistent_session]']",
        ))
        .await?;
    if !keep.is_selected().await? {
        keep.click().await?;
    }
    b.submit("Sign in").await?;
    b.expect_text("Signed in as Ada").await?;
    let cookies = b.c.get_all_cookies().await?;
    if !cookies.iter().any(|c| c.name() == "persistent_session") {
        return Err("no remember-me cookie".into());
    }

    // Change the password.
    b.goto("/registration/edit").await?;
    b.checked_page().await?;
    b.fill("current_password", PASSWORD).await?;
    b.fill("password", "valid passphrase 2").await?;
    b.fill("password_confirmation", "valid passphrase 2")
        .await?;
    b.submit("Update").await?;
    b.goto("/").await?;
    b.submit("Sign out").await?;
    if b.path().await? != "/session/new" {
        return Err("signing out leads to the sign-in page".into());
    }

    // Reset the password by mail.
    b.goto("/reset-password/new").await?;
    b.checked_page().await?;
    b.fill("email", email).await?;
    b.submit("Send reset link").await?;
    b.goto(&mailed_path(mailer, email)?).await?;
    b.checked_page().await?;
    b.fill("password", "valid passphrase 3").await?;
    b.fill("password_confirmation", "valid passphrase 3")
        .await?;
    b.submit("Save new password").await?;
    b.goto("/session/new").await?;
    b.fill("email", email).await?;
    b.fill("password", "valid passphrase 3").await?;
    b.submit("Sign in").await?;
    b.expect_text("Signed in as Ada").await?;

    // Invite someone (Ada is an admin), then accept as the invitee.
    b.goto("/invitations/new").await?;
    b.checked_page().await?;
    b.fill("email", "eve@example.com").await?;
    b.submit("Send invitation").await?;
    b.goto("/").await?;
    b.submit("Sign out").await?;
    b.c.delete_all_cookies().await?;
    b.goto(&mailed_path(mailer, "eve@example.com")?).await?;
    b.checked_page().await?;
    b.fill("name", "Eve").await?;
    b.fill("password", "valid passphrase 4").await?;
    b.fill("password_confirmation", "valid passphrase 4")
        .await?;
    b.submit("Accept invitation").await?;
    b.goto("/").await?;
    b.expect_text("Signed in as Eve (eve@example.com), team of ada@example.com.")
        .await?;
    Ok(())
}

/// Whether chromium and chromedriver are here (they must be under `CI`).
fn browser_installed() -> bool {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver are needed under CI (.ci/run installs them)"
        );
        pow_actix::testing::skipped(
            "chromium/chromedriver not installed: the browser test did not run",
        );
        return false;
    }
    true
}

/// The demo (SQLite, memory store, memory mailer) in headless Chromium, JavaScript on or
/// off, opened at `host`: runs `journey`, saving a screenshot `<name>-failure.png` when it
/// fails.
fn in_browser(
    name: &str,
    javascript: bool,
    host: &str,
    admin_emails: Vec<String>,
    journey: impl AsyncFnOnce(&Browser, &MemoryMailer) -> Result<(), Failure>,
) {
    if !browser_installed() {
        return;
    }
    let db = std::env::temp_dir().join(format!(
        "pow-browser-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let settings = example_demo::Settings {
        database_url: db.display().to_string(),
        bind: "127.0.0.1:0".into(),
        secret_key_base: "b".repeat(64),
        mail_dir: None,
        dev_mailbox: false,
        base_url: "http://localhost".into(),
        admin_emails,
        cache: example_demo::CacheSetting::Memory,
        local_cache: None,
        oidc: None,
    };
    let mailer = MemoryMailer::new();
    let config = example_demo::build(
        &settings,
        pow_actix::store::MemoryStore::shared(),
        Some(Arc::new(mailer.clone())),
    )
    .unwrap();
    // The actix-web demo, or its axum twin, as the test runs (`on_both!` below).
    let addr: SocketAddr = match pow_testkit::framework() {
        pow_testkit::Framework::Actix => {
            pow_actix::test_client::serve(move || example_demo::app(config.clone()))
        }
        pow_testkit::Framework::Axum => {
            pow_testkit::serve_axum(example_demo_axum::app(config, None))
        }
    };
    let driver = Driver::start();
    let profile = std::env::temp_dir().join(format!(
        "pow-chromium-{}",
        pow_actix::token::generate_uuid()
    ));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if !javascript {
            args.push("--blink-settings=scriptEnabled=false".to_owned());
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.1))
            .await
            .expect("a browser session");
        let b = Browser {
            c,
            base: format!("http://{host}:{}", addr.port()),
        };
        let started = Instant::now();
        let result = journey(&b, &mailer).await;
        if let Err(err) = &result {
            let dir =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
            let _ = std::fs::create_dir_all(&dir);
            if let Ok(png) = b.c.screenshot().await {
                let file = dir.join(format!("{name}-failure.png"));
                let _ = std::fs::write(&file, png);
                eprintln!("screenshot of the failing page: {}", file.display());
            }
            eprintln!("failed at {:?}: {err}", b.path().await.ok());
        }
        let _ = b.c.close().await;
        eprintln!("browser {name} took {:?}", started.elapsed());
        result.map_err(|e| e.to_string())
    });
    let _ = std::fs::remove_dir_all(&profile);
    let _ = std::fs::remove_file(&db);
    outcome.unwrap();
}

fn a_user_goes_through_every_page_without_javascript() {
    let admins = vec!["ada@example.com".to_owned()];
    in_browser("journey", false, "127.0.0.1", admins, journey);
}

/// chromedriver's virtual authenticator (the WebDriver WebAuthn extension): a platform
/// authenticator with discoverable credentials and user verification that always passes.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

async fn passkey_journey(b: &Browser, mailer: &MemoryMailer) -> Result<(), Failure> {
    let email = "grace@example.com";
    b.c.issue_cmd(AddVirtualAuthenticator).await?;
    b.goto("/registration/new").await?;
    b.fill("email", email).await?;
    b.fill("name", "Grace").await?;
    b.fill("password", PASSWORD).await?;
    b.fill("password_confirmation", PASSWORD).await?;
    b.submit("Register").await?;
    b.goto(&mailed_path(mailer, email)?).await?;
    b.goto("/session/new").await?;
    b.fill("email", email).await?;
    b.fill("password", PASSWORD).await?;
    b.submit("Sign in").await?;
    b.expect_text("Signed in as Grace").await?;

    // Enrol: the page's script asks the authenticator and posts its answer.
    b.goto("/passkeys").await?;
    b.check_labels().await?;
    b.fill("name", "This browser").await?;
    b.submit("Add a passkey").await?;
    // The list is behind a second factor now that the account has one: the session
    // proved the password only, so the passkey is asked for.
    if b.path().await? != "/passkeys/step-up?request_path=%2Fpasskeys" {
        return Err(format!("no step-up: {}", b.path().await?).into());
    }
    b.submit("Use a passkey or security key").await?;
    b.expect_text("This browser").await?;

    b.goto("/").await?;
    b.submit("Sign out").await?;
    b.c.delete_all_cookies().await?;

    // Sign in with the passkey alone, no address typed. The page offers the browser's
    // passkeys in the address field's autofill too (conditional mediation), which the
    // virtual authenticator answers at once: either way the page signs in.
    b.goto("/passkeys/sign-in").await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.path().await? == "/passkeys/sign-in" {
        if Instant::now() > deadline {
            return Err("the passkey sign-in page did not sign in".into());
        }
        if let Ok(button) = b.c.find(Locator::Css("form button[type=submit]")).await {
            let _ = button.click().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.goto("/").await?;
    b.expect_text("Signed in as Grace").await?;
    Ok(())
}

fn a_user_enrols_a_passkey_and_signs_in_with_it() {
    // Passkeys want a domain: the browser opens the demo as localhost.
    in_browser("passkeys", true, "localhost", Vec::new(), passkey_journey);
}

pow_testkit::on_both!(
    a_user_goes_through_every_page_without_javascript,
    a_user_enrols_a_passkey_and_signs_in_with_it,
);

//! Drives the reset-password flow over real HTTP with a cookie jar: request a link, open
//! it, set a new password; enumeration, tampering, rate limit, sessions and languages.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pow_actix::mailer::{Mail, Mailer, MemoryMailer};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::Limit;
use pow_actix::store::{Key, KeyPattern, MemoryStore, Record, Store, StoreError};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowConfigBuilder, PowError};
use pow_ext_reset_password::{MailDelivery, ResetPassword};

const SENT: &str = "If an account for the provided email exists, an email with reset instructions will be sent to you. Please check your inbox.";
const EXPIRED: &str = "The reset token has expired.";
const UPDATED: &str = "The password has been updated.";
const NOT_FOUND: &str = "No account exists for the provided email. Please try again.";
const INVALID_CREDENTIALS: &str = "The provided login details did not work.";

struct Setup {
    addr: SocketAddr,
    mailer: MemoryMailer,
}

impl Setup {
    fn client(&self) -> Client {
        Client::new(self.addr)
    }
}

/// A config with a fresh SQLite file, a fast hasher and `mailer`; `alice@example.com`
/// (password `old password`) exists.
fn config(
    ext: ResetPassword,
    mailer: Arc<dyn Mailer>,
    tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> PowConfig {
    let db = std::env::temp_dir().join(format!(
        "pow-reset-password-test-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let builder = PowConfig::builder("r".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer_arc(mailer)
        .base_url("http://localhost")
        .extension(ext);
    let config = tweak(builder).build().unwrap();
    users.migrate(&config).unwrap();
    create_user(&config, "alice@example.com", "old password");
    config
}

fn create_user(config: &PowConfig, email: &str, password: &str) {
    pow_actix::testing::create_user(config, email, password).unwrap();
}

/// Serves pow-rs at the root with a `/protected` page for signed-in users, on the
/// framework the test runs on.
fn serve_app(config: PowConfig) -> SocketAddr {
    pow_testkit::serve(config)
}

fn start_with(
    ext: ResetPassword,
    tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> Setup {
    let mailer = MemoryMailer::new();
    let config = config(ext, Arc::new(mailer.clone()), tweak);
    Setup {
        addr: serve_app(config),
        mailer,
    }
}

fn inline() -> ResetPassword {
    ResetPassword::new().mail_delivery(MailDelivery::Inline)
}

fn start() -> Setup {
    start_with(inline(), |b| b)
}

fn request_reset(c: &mut Client, email: &str) -> Response {
    let page = c.get("/reset-password/new");
    assert_eq!(page.status, 200, "{}", page.body);
    c.post(
        "/reset-password",
        &[("_csrf_token", &page.csrf()), ("user[email]", email)],
    )
}

fn sign_in(c: &mut Client, email: &str, password: &str) -> Response {
    let csrf = c.get("/session/new").csrf();
    c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[password]", password),
        ],
    )
}

/// The path of the reset link in the newest mail to `to`.
fn link_in_mail(mailer: &MemoryMailer, to: &str) -> String {
    let mail = mailer.last_to(to).expect("a reset mail");
    let url = mail
        .text
        .lines()
        .find(|l| l.starts_with("http://localhost/reset-password/"))
        .expect("the mail holds the link");
    assert!(
        mail.html.contains(&format!("href=\"{url}\"")),
        "{}",
        mail.html
    );
    url.trim_start_matches("http://localhost").to_owned()
}

fn flash(res: &Response, kind: &str) -> Option<String> {
    let marker = format!("<div class=\"pow-flash pow-flash-{kind}\" role=\"alert\">");
    let start = res.body.find(&marker)? + marker.len();
    let end = res.body[start..].find("</div>")? + start;
    Some(res.body[start..end].to_owned())
}

/// Follows a redirect and returns the page's flash of `kind`.
fn follow_flash(c: &mut Client, res: &Response, kind: &str) -> Option<String> {
    assert_eq!(res.status, 302, "{}", res.body);
    flash(&c.get(res.location()), kind)
}

fn set_password(
    c: &mut Client,
    path: &str,
    method: &str,
    password: &str,
    confirm: &str,
) -> Response {
    let csrf = c.get(path).csrf();
    c.post(
        path,
        &[
            ("_csrf_token", &csrf),
            ("_method", method),
            ("user[password]", password),
            ("user[password_confirmation]", confirm),
        ],
    )
}

fn reset_flow_end_to_end() {
    let app = start();

    // A session signed in before the reset.
    let mut other = app.client();
    assert_eq!(
        sign_in(&mut other, "alice@example.com", "old password").location(),
        "/"
    );
    assert_eq!(other.get("/protected").status, 200);

    // The sign-in page links to the form.
    let mut c = app.client();
    let sign_in_page = c.get("/session/new");
    assert!(sign_in_page
        .body
        .contains(r#"<a href="/reset-password/new">Forgot password?</a>"#));

    // The form asks for the email; the address is normalised.
    let page = c.get("/reset-password/new");
    assert!(page.body.contains(r#"name="user[email]""#), "{}", page.body);
    assert!(page.header("cache-control").unwrap().contains("no-store"));
    let res = request_reset(&mut c, "  Alice@Example.COM ");
    assert_eq!(res.location(), "/session/new");
    assert_eq!(follow_flash(&mut c, &res, "info").as_deref(), Some(SENT));

    // The mail: subject, greeting, the absolute link.
    let mail = app.mailer.last_to("alice@example.com").unwrap();
    assert_eq!(mail.subject, "Reset password link");
    assert!(mail.text.starts_with("Hi,\n\n"), "{}", mail.text);
    assert!(mail.text.contains("2 hours"), "{}", mail.text);
    let link = link_in_mail(&app.mailer, "alice@example.com");
    assert!(link.starts_with("/reset-password/SFMyNTY."), "{link}");

    // The link opens the form, more than once.
    for _ in 0..2 {
        let edit = c.get(&link);
        assert_eq!(edit.status, 200, "{}", edit.body);
        assert!(edit.body.contains(r#"name="user[password]""#));
        assert!(edit.body.contains(r#"name="user[password_confirmation]""#));
        assert!(edit.body.contains(&format!(r#"action="{link}""#)));
        assert_eq!(edit.header("referrer-policy"), Some("no-referrer"));
    }

    // A mismatched confirmation shows the error and keeps the token.
    let res = set_password(&mut c, &link, "PATCH", "new password", "something else");
    assert_eq!(res.status, 200);
    assert!(
        res.body.contains("does not match confirmation"),
        "{}",
        res.body
    );
    assert_eq!(c.get(&link).status, 200);

    // The reset.
    let res = set_password(&mut c, &link, "PATCH", "new password", "new password");
    assert_eq!(res.location(), "/session/new");
    assert_eq!(follow_flash(&mut c, &res, "info").as_deref(), Some(UPDATED));
    // Not signed in by the reset.
    assert_eq!(c.get("/protected").status, 302);

    // The link is used up.
    let res = c.get(&link);
    assert_eq!(res.location(), "/reset-password/new");
    assert_eq!(
        follow_flash(&mut c, &res, "error").as_deref(),
        Some(EXPIRED)
    );
    let res = set_password_direct(&mut c, &link, "another password");
    assert_eq!(res.location(), "/reset-password/new");

    // The session from before the reset is signed out.
    assert_eq!(other.get("/protected").status, 302);

    // Old password fails, new one works.
    let res = sign_in(&mut c, "alice@example.com", "old password");
    assert_eq!(res.status, 200);
    assert!(res.body.contains(INVALID_CREDENTIALS));
    let res = sign_in(&mut c, "alice@example.com", "new password");
    assert_eq!(res.location(), "/");
    assert_eq!(c.get("/protected").status, 200);
}

/// Submits with a real PUT request (no `_method`), with a CSRF token from the request
/// form.
fn set_password_direct(c: &mut Client, path: &str, password: &str) -> Response {
    let csrf = c.get("/reset-password/new").csrf();
    put_password(c, path, &csrf, password)
}

fn put_password(c: &mut Client, path: &str, csrf: &str, password: &str) -> Response {
    let body = format!(
        "_csrf_token={csrf}&user%5Bpassword%5D={p}&user%5Bpassword_confirmation%5D={p}",
        p = password.replace(' ', "+")
    );
    c.request("PUT", path, Some(body))
}

fn put_and_post_with_method_override_both_update() {
    let app = start();
    let mut c = app.client();
    request_reset(&mut c, "alice@example.com");
    let link = link_in_mail(&app.mailer, "alice@example.com");
    let res = set_password_direct(&mut c, &link, "put password");
    assert_eq!(res.location(), "/session/new", "{}", res.body);
    assert_eq!(
        sign_in(&mut c, "alice@example.com", "put password").location(),
        "/"
    );

    let mut c = app.client();
    request_reset(&mut c, "alice@example.com");
    let link = link_in_mail(&app.mailer, "alice@example.com");
    let res = set_password(&mut c, &link, "PUT", "post password", "post password");
    assert_eq!(res.location(), "/session/new");
    assert_eq!(
        sign_in(&mut c, "alice@example.com", "post password").location(),
        "/"
    );

    // A POST without an override is not an update.
    let mut c = app.client();
    request_reset(&mut c, "alice@example.com");
    let link = link_in_mail(&app.mailer, "alice@example.com");
    let csrf = c.get(&link).csrf();
    let res = c.post(
        &link,
        &[
            ("_csrf_token", &csrf),
            ("user[password]", "third password"),
            ("user[password_confirmation]", "third password"),
        ],
    );
    assert_eq!(res.status, 405);
    assert_eq!(c.get(&link).status, 200);
}

fn unknown_email_looks_like_a_known_one() {
    let app = start();
    let mut known = app.client();
    let known_res = request_reset(&mut known, "alice@example.com");
    let mut unknown = app.client();
    let unknown_res = request_reset(&mut unknown, "nobody@example.com");

    assert_eq!(known_res.status, unknown_res.status);
    assert_eq!(known_res.location(), unknown_res.location());
    assert_eq!(known_res.body, unknown_res.body);
    let known_flash = follow_flash(&mut known, &known_res, "info");
    let unknown_flash = follow_flash(&mut unknown, &unknown_res, "info");
    assert_eq!(known_flash.as_deref(), Some(SENT));
    assert_eq!(known_flash, unknown_flash);

    assert_eq!(app.mailer.count_to("nobody@example.com"), 0);
    assert_eq!(app.mailer.deliveries().len(), 1);
}

fn enumeration_off_says_no_account_exists() {
    let app = start_with(inline(), |b| b.prevent_user_enumeration(false));
    let mut c = app.client();
    let res = request_reset(&mut c, "nobody@example.com");
    assert_eq!(res.status, 200);
    assert_eq!(flash(&res, "error").as_deref(), Some(NOT_FOUND));
    assert!(
        res.body.contains(r#"value="nobody@example.com""#),
        "{}",
        res.body
    );
    assert!(app.mailer.deliveries().is_empty());

    // A known address still gets its mail.
    let res = request_reset(&mut c, "alice@example.com");
    assert_eq!(follow_flash(&mut c, &res, "info").as_deref(), Some(SENT));
    assert_eq!(app.mailer.count_to("alice@example.com"), 1);
}

fn tampered_tokens_are_expired() {
    let app = start();
    let mut c = app.client();
    request_reset(&mut c, "alice@example.com");
    let link = link_in_mail(&app.mailer, "alice@example.com");
    let signed = link.trim_start_matches("/reset-password/");
    let (protected_payload, signature) = signed.rsplit_once('.').unwrap();

    // A flipped signature character.
    let mut bytes = signature.as_bytes().to_vec();
    bytes[0] = if bytes[0] == b'A' { b'B' } else { b'A' };
    let flipped = format!(
        "/reset-password/{protected_payload}.{}",
        String::from_utf8(bytes).unwrap()
    );
    // The same token signed for sessions instead of reset links.
    let payload = protected_payload.split('.').nth(1).unwrap();
    let token = String::from_utf8(base64_url_decode(payload)).unwrap();
    let wrong_salt = pow_actix::token::MessageVerifier::new("r".repeat(64).as_bytes())
        .sign_token(pow_actix::token::SESSION_SALT, &token);
    // A random token, signed correctly but never issued.
    let never_issued = pow_actix::token::MessageVerifier::new("r".repeat(64).as_bytes())
        .sign_token(
            pow_ext_reset_password::TOKEN_SALT,
            &pow_actix::token::generate_uuid(),
        );

    for bad in [
        flipped,
        format!("/reset-password/{wrong_salt}"),
        format!("/reset-password/{never_issued}"),
        "/reset-password/garbage".to_owned(),
    ] {
        let res = c.get(&bad);
        assert_eq!(res.location(), "/reset-password/new", "{bad}");
        assert_eq!(
            follow_flash(&mut c, &res, "error").as_deref(),
            Some(EXPIRED)
        );
        let res = set_password(&mut c, &link, "PATCH", "x", "x");
        assert_eq!(res.status, 200, "the real link still works");
        let res = set_password_direct(&mut c, &bad, "hacked password");
        assert_eq!(res.location(), "/reset-password/new", "{bad}");
    }
    // Nothing changed the password.
    assert_eq!(
        sign_in(&mut c, "alice@example.com", "old password").location(),
        "/"
    );
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn a_reset_kills_every_other_link() {
    let app = start();
    let mut c = app.client();
    request_reset(&mut c, "alice@example.com");
    let first = link_in_mail(&app.mailer, "alice@example.com");
    request_reset(&mut c, "alice@example.com");
    let second = link_in_mail(&app.mailer, "alice@example.com");
    assert_ne!(first, second);
    assert_eq!(c.get(&first).status, 200);

    let res = set_password(&mut c, &second, "PATCH", "new password", "new password");
    assert_eq!(res.location(), "/session/new");
    let res = c.get(&first);
    assert_eq!(
        follow_flash(&mut c, &res, "error").as_deref(),
        Some(EXPIRED)
    );
}

fn fourth_mail_in_an_hour_is_not_sent_but_looks_the_same() {
    let app = start();
    let mut c = app.client();
    let mut responses = Vec::new();
    for _ in 0..4 {
        let res = request_reset(&mut c, "alice@example.com");
        let text = follow_flash(&mut c, &res, "info");
        responses.push((res.status, res.location().to_owned(), text));
    }
    assert_eq!(app.mailer.count_to("alice@example.com"), 3);
    assert!(
        responses.iter().all(|r| *r == responses[0]),
        "{responses:?}"
    );
    assert_eq!(responses[0].2.as_deref(), Some(SENT));

    // The address is normalised before it is counted.
    let res = request_reset(&mut c, " ALICE@example.com");
    assert_eq!(res.location(), "/session/new");
    assert_eq!(app.mailer.count_to("alice@example.com"), 3);
}

fn rate_limit_is_per_address_and_configurable() {
    let mailer = MemoryMailer::new();
    let config = config(
        inline().mail_rate_limit(Some(Limit::new(1, Duration::from_secs(600)))),
        Arc::new(mailer.clone()),
        |b| b,
    );
    create_user(&config, "bob@example.com", "bob password");
    let app = Setup {
        addr: serve_app(config),
        mailer,
    };
    let mut c = app.client();
    request_reset(&mut c, "alice@example.com");
    request_reset(&mut c, "alice@example.com");
    request_reset(&mut c, "bob@example.com");
    assert_eq!(app.mailer.count_to("alice@example.com"), 1);
    assert_eq!(app.mailer.count_to("bob@example.com"), 1);

    // Without a limit every request sends.
    let app = start_with(inline().mail_rate_limit(None), |b| b);
    let mut c = app.client();
    for _ in 0..5 {
        request_reset(&mut c, "alice@example.com");
    }
    assert_eq!(app.mailer.count_to("alice@example.com"), 5);
}

/// Requests racing for one address never pass the limit together: the count is one atomic
/// increment in the store.
fn concurrent_requests_never_pass_the_limit() {
    const RACERS: usize = 12;
    let app = start();
    let barrier = Arc::new(std::sync::Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let (mut c, barrier) = (app.client(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let csrf = c.get("/reset-password/new").csrf();
                barrier.wait();
                c.post(
                    "/reset-password",
                    &[("_csrf_token", &csrf), ("user[email]", "alice@example.com")],
                )
                .status
            })
        })
        .collect();
    for racer in racers {
        assert_eq!(racer.join().unwrap(), 302);
    }
    assert_eq!(app.mailer.count_to("alice@example.com"), 3);
}

fn signed_in_users_are_sent_away() {
    let app = start();
    let mut other = app.client();
    request_reset(&mut other, "alice@example.com");
    let link = link_in_mail(&app.mailer, "alice@example.com");

    let mut c = app.client();
    assert_eq!(
        sign_in(&mut c, "alice@example.com", "old password").location(),
        "/"
    );
    let res = c.get("/reset-password/new");
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/");
    assert_eq!(c.get(&link).location(), "/");
    // A valid CSRF token from a page for signed-in users.
    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/reset-password",
        &[("_csrf_token", &csrf), ("user[email]", "alice@example.com")],
    );
    assert_eq!(res.location(), "/");
    let res = put_password(&mut c, &link, &csrf, "new password");
    assert_eq!(res.location(), "/");
    assert_eq!(app.mailer.count_to("alice@example.com"), 1);
    // The link still works for a signed-out visitor.
    assert_eq!(other.get(&link).status, 200);
}

fn csrf_is_required() {
    let app = start();
    let mut c = app.client();
    c.get("/reset-password/new");
    let res = c.post("/reset-password", &[("user[email]", "alice@example.com")]);
    assert_eq!(res.status, 403);
    assert!(app.mailer.deliveries().is_empty());

    request_reset(&mut c, "alice@example.com");
    let link = link_in_mail(&app.mailer, "alice@example.com");
    let res = c.post(
        &link,
        &[
            ("_method", "PATCH"),
            ("user[password]", "new password"),
            ("user[password_confirmation]", "new password"),
        ],
    );
    assert_eq!(res.status, 403);
    assert_eq!(
        sign_in(&mut c, "alice@example.com", "old password").location(),
        "/"
    );
}

fn sessions_can_be_kept_on_reset() {
    let app = start_with(inline().revoke_sessions(false), |b| b);
    let mut other = app.client();
    sign_in(&mut other, "alice@example.com", "old password");
    let mut c = app.client();
    request_reset(&mut c, "alice@example.com");
    let link = link_in_mail(&app.mailer, "alice@example.com");
    let res = set_password(&mut c, &link, "PATCH", "new password", "new password");
    assert_eq!(res.location(), "/session/new");
    assert_eq!(other.get("/protected").status, 200);
}

fn pages_and_mail_follow_the_language() {
    let app = start();
    let mut c = app.client();
    c.accept_language = Some("de-DE,de;q=0.9".into());
    assert!(c.get("/session/new").body.contains("Passwort vergessen?"));
    assert!(c
        .get("/reset-password/new")
        .body
        .contains("Passwort zurücksetzen"));
    let res = request_reset(&mut c, "alice@example.com");
    let info = follow_flash(&mut c, &res, "info").unwrap();
    assert!(info.starts_with("Falls ein Konto"), "{info}");
    let mail = app.mailer.last_to("alice@example.com").unwrap();
    assert_eq!(mail.subject, "Link zum Zurücksetzen des Passworts");
    assert!(mail.text.starts_with("Hallo,"), "{}", mail.text);
    assert!(mail.text.contains("2 Stunden"), "{}", mail.text);

    c.accept_language = Some("fr".into());
    let link = link_in_mail(&app.mailer, "alice@example.com");
    let res = set_password(&mut c, &link, "PATCH", "new password", "new password");
    assert_eq!(
        follow_flash(&mut c, &res, "info").as_deref(),
        Some("Le mot de passe a été mis à jour.")
    );
}

fn links_stay_under_the_mount_path() {
    let mailer = MemoryMailer::new();
    let config = config(inline(), Arc::new(mailer.clone()), |b| {
        b.mount_path("/auth")
    });
    let addr = serve_app(config);
    let mut c = Client::new(addr);
    assert!(c
        .get("/auth/session/new")
        .body
        .contains(r#"href="/auth/reset-password/new""#));
    let page = c.get("/auth/reset-password/new");
    assert!(page.body.contains(r#"action="/auth/reset-password""#));
    let res = c.post(
        "/auth/reset-password",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "alice@example.com"),
        ],
    );
    assert_eq!(res.location(), "/auth/session/new");
    let mail = mailer.last_to("alice@example.com").unwrap();
    let url = mail
        .text
        .lines()
        .find(|l| l.starts_with("http://localhost/auth/reset-password/SFMyNTY."))
        .unwrap();
    let path = url.trim_start_matches("http://localhost");
    let res = c.get(&format!("{path}x"));
    assert_eq!(res.location(), "/auth/reset-password/new");
    assert_eq!(c.get(path).status, 200);
}

/// Forwards every mail to a channel, to wait for background deliveries.
struct ChannelMailer(Mutex<mpsc::Sender<Mail>>);

#[async_trait]
impl Mailer for ChannelMailer {
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        self.0
            .lock()
            .unwrap()
            .send(mail)
            .map_err(|e| PowError::Mailer(e.to_string()))
    }
}

fn background_delivery_is_the_default_and_delivers() {
    let (tx, rx) = mpsc::channel();
    let config = config(
        ResetPassword::new(),
        Arc::new(ChannelMailer(Mutex::new(tx))),
        |b| b,
    );
    let mut c = Client::new(serve_app(config));
    let res = request_reset(&mut c, "alice@example.com");
    assert_eq!(res.location(), "/session/new");
    let mail = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(mail.to, "alice@example.com");
    let url = mail
        .text
        .lines()
        .find(|l| l.starts_with("http://localhost/reset-password/"))
        .unwrap();
    assert_eq!(
        c.get(url.trim_start_matches("http://localhost")).status,
        200
    );
    request_reset(&mut c, "nobody@example.com");
    request_reset(&mut c, "alice@example.com");
    let next = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(
        next.to, "alice@example.com",
        "no mail for the unknown address"
    );
}

/// One recorded put: namespace, number of key segments, TTL.
type Put = (String, usize, Option<Duration>);

/// A memory store that records every put.
#[derive(Clone, Default)]
struct RecordingStore {
    inner: Arc<MemoryStore>,
    puts: Arc<Mutex<Vec<Put>>>,
}

impl RecordingStore {
    fn puts_in(&self, namespace: &str) -> Vec<(usize, Option<Duration>)> {
        self.puts
            .lock()
            .unwrap()
            .iter()
            .filter(|(ns, _, _)| ns == namespace)
            .map(|(_, len, ttl)| (*len, *ttl))
            .collect()
    }

    fn clear(&self) {
        self.puts.lock().unwrap().clear();
    }
}

#[async_trait]
impl Store for RecordingStore {
    async fn put(
        &self,
        namespace: &str,
        records: Vec<Record>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        for (key, _) in &records {
            self.puts
                .lock()
                .unwrap()
                .push((namespace.to_owned(), key.segments().len(), ttl));
        }
        self.inner.put(namespace, records, ttl).await
    }

    async fn get(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(namespace, key).await
    }

    async fn delete(&self, namespace: &str, key: &Key) -> Result<(), StoreError> {
        self.inner.delete(namespace, key).await
    }

    async fn all(
        &self,
        namespace: &str,
        pattern: &[KeyPattern],
    ) -> Result<Vec<Record>, StoreError> {
        self.inner.all(namespace, pattern).await
    }

    async fn take(&self, namespace: &str, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.take(namespace, key).await
    }

    async fn incr(
        &self,
        namespace: &str,
        key: &Key,
        by: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, StoreError> {
        self.puts
            .lock()
            .unwrap()
            .push((namespace.to_owned(), key.segments().len(), ttl));
        self.inner.incr(namespace, key, by, ttl).await
    }
}

fn tokens_and_counts_live_in_the_store_with_their_ttls() {
    let store = RecordingStore::default();
    let mailer = MemoryMailer::new();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let config = config(inline(), Arc::new(mailer.clone()), |b| {
        b.store(shared).name("shop")
    });
    let mut c = Client::new(serve_app(config));
    let hour = Some(Duration::from_secs(3600));
    // Mail requests per client, then mails per address.
    let minute = Some(Duration::from_secs(60));

    request_reset(&mut c, "alice@example.com");
    assert_eq!(
        store.puts_in("shop_reset_token"),
        [(2, Some(Duration::from_secs(7200)))]
    );
    assert_eq!(store.puts_in("shop_limit"), [(2, minute), (2, hour)]);
    assert_eq!(mailer.count_to("alice@example.com"), 1);

    // An unknown address costs the same kinds of writes: a count and a throwaway record.
    store.clear();
    request_reset(&mut c, "nobody@example.com");
    let decoy = store.puts_in("shop_reset_token");
    assert_eq!(decoy.len(), 1);
    assert_eq!(decoy[0].0, 2, "under a purpose no link looks up");
    assert_eq!(decoy[0].1, Some(Duration::from_secs(60)));
    assert_eq!(store.puts_in("shop_limit"), [(2, minute), (2, hour)]);
    assert!(store.puts_in("reset_token").is_empty());
}

fn of_two_concurrent_submits_exactly_one_succeeds() {
    let app = start_with(inline().mail_rate_limit(None), |b| b);
    for round in 0..5 {
        let mut requester = app.client();
        request_reset(&mut requester, "alice@example.com");
        let link = link_in_mail(&app.mailer, "alice@example.com");
        let password = format!("password number {round}");
        let mut clients: Vec<(Client, String)> = (0..2)
            .map(|_| {
                let mut c = app.client();
                let csrf = c.get(&link).csrf();
                (c, csrf)
            })
            .collect();
        let barrier = std::sync::Barrier::new(2);
        let locations: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = clients
                .iter_mut()
                .map(|(c, csrf)| {
                    let (barrier, link, password) = (&barrier, &link, &password);
                    s.spawn(move || {
                        barrier.wait();
                        put_password(c, link, csrf, password).location().to_owned()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = locations.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["/reset-password/new", "/session/new"],
            "round {round}"
        );
        assert_eq!(
            sign_in(&mut app.client(), "alice@example.com", &password).location(),
            "/"
        );
    }
}

/// One reset link used by a hundred browsers at once: exactly one sets the password, the
/// others are told the link is no longer valid; no server error.
fn of_a_hundred_concurrent_submits_exactly_one_succeeds() {
    const RACERS: usize = 100;
    let app = start_with(inline().mail_rate_limit(None), |b| {
        b.rate_limits(pow_actix::limits::RateLimits::disabled())
    });
    let mut requester = app.client();
    request_reset(&mut requester, "alice@example.com");
    let link = link_in_mail(&app.mailer, "alice@example.com");
    let mut clients: Vec<(Client, String)> = (0..RACERS)
        .map(|_| {
            let mut c = app.client();
            let csrf = c.get(&link).csrf();
            (c, csrf)
        })
        .collect();
    let barrier = std::sync::Barrier::new(RACERS);
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(i, (c, csrf))| {
                let (barrier, link) = (&barrier, &link);
                s.spawn(move || {
                    barrier.wait();
                    let res = put_password(c, link, csrf, &format!("new password {i:03}"));
                    (res.status, res.location().to_owned())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        answers.iter().all(|(status, _)| *status < 500),
        "{answers:?}"
    );
    let winners: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, (_, location))| location == "/session/new")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert!(answers
        .iter()
        .filter(|(_, location)| location != "/session/new")
        .all(|(_, location)| location == "/reset-password/new"));
    let password = format!("new password {:03}", winners[0]);
    assert_eq!(
        sign_in(&mut app.client(), "alice@example.com", &password).location(),
        "/"
    );
    // One security notice, for the one reset that happened.
    let notices = app
        .mailer
        .deliveries()
        .into_iter()
        .filter(|m| m.to == "alice@example.com" && m.subject == "Your password was changed")
        .count();
    assert_eq!(notices, 1);
}

/// With a CAPTCHA configured, the request page carries the widget and a request without a
/// valid answer mails nothing.
fn a_configured_captcha_guards_the_reset_request() {
    let setup = start_with(inline(), |b| {
        b.captcha(pow_actix::captcha::Captcha::new(
            pow_actix::testing::TestCaptcha,
        ))
    });
    let mut c = Client::new(setup.addr);
    let page = c.get("/reset-password/new");
    assert!(
        page.body.contains(r#"<div class="test-captcha""#),
        "{}",
        page.body
    );
    for answer in [None, Some("bot")] {
        let csrf = page.csrf();
        let mut form = vec![
            ("_csrf_token", csrf.as_str()),
            ("user[email]", "alice@example.com"),
        ];
        if let Some(answer) = answer {
            form.push(("test-captcha-response", answer));
        }
        let res = c.post("/reset-password", &form);
        assert_eq!(res.status, 400, "{}", res.body);
    }
    assert_eq!(setup.mailer.count_to("alice@example.com"), 0);

    let page = c.get("/reset-password/new");
    let res = c.post(
        "/reset-password",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "alice@example.com"),
            ("test-captcha-response", "pass"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(setup.mailer.count_to("alice@example.com"), 1);
}

pow_testkit::on_both!(
    reset_flow_end_to_end,
    put_and_post_with_method_override_both_update,
    unknown_email_looks_like_a_known_one,
    enumeration_off_says_no_account_exists,
    tampered_tokens_are_expired,
    a_reset_kills_every_other_link,
    fourth_mail_in_an_hour_is_not_sent_but_looks_the_same,
    rate_limit_is_per_address_and_configurable,
    concurrent_requests_never_pass_the_limit,
    signed_in_users_are_sent_away,
    csrf_is_required,
    sessions_can_be_kept_on_reset,
    pages_and_mail_follow_the_language,
    links_stay_under_the_mount_path,
    background_delivery_is_the_default_and_delivers,
    tokens_and_counts_live_in_the_store_with_their_ttls,
    of_two_concurrent_submits_exactly_one_succeeds,
    of_a_hundred_concurrent_submits_exactly_one_succeeds,
    a_configured_captcha_guards_the_reset_request,
);

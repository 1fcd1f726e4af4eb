//! Drives an app with the persistent-session extension over real HTTP: remember-me
//! sign-in, closed browsers, token rotation and replay, sign-out, revocation, parallel
//! requests and extension ordering. The tests named in `on_both!` at the end run on
//! actix-web and on axum.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use async_trait::async_trait;
use pow_actix::extension::{Callbacks, ExtensionBuilder};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::MaybeUser;
use pow_actix::test_client::{serve, Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::User;
use pow_actix::web::Flow;
use pow_actix::{Extension, PowConfig, PowConfigBuilder, PowError};
use pow_ext_persistent_session::PersistentSession;

const COOKIE: &str = "persistent_session";
const SESSION_COOKIE: &str = "pow_session";
const PASSWORD: &str = "correct horse battery";

struct Harness {
    addr: SocketAddr,
    config: PowConfig,
    ext: PersistentSession,
}

impl Harness {
    fn client(&self) -> Client {
        Client::new(self.addr)
    }

    fn create_user(&self, email: &str) -> User {
        pow_actix::testing::create_user(&self.config, email, PASSWORD).unwrap()
    }

    fn count_tokens(&self, user: &User) -> usize {
        actix_web::rt::System::new()
            .block_on(self.ext.count_tokens(&self.config, user.id))
            .unwrap()
    }
}

/// Who `GET /me` says is signed in.
fn who(user: Option<&User>) -> String {
    match user {
        Some(user) => format!("user:{}", user.email().unwrap_or_default()),
        None => "anonymous".to_owned(),
    }
}

async fn me(user: MaybeUser) -> HttpResponse {
    HttpResponse::Ok().body(who(user.0.as_deref()))
}

/// [`me`] on axum.
async fn axum_me(pow_axum::MaybeUser(user): pow_axum::MaybeUser) -> String {
    who(user.as_deref())
}

/// `GET /busy` fails the way a saturated hashing pool does.
async fn busy() -> pow_actix::Result<HttpResponse> {
    Err(PowError::Busy.into())
}

/// [`busy`] on axum.
async fn axum_busy() -> Result<String, pow_axum::Error> {
    Err(PowError::Busy.into())
}

fn start(ext: PersistentSession) -> Harness {
    start_with(ext.clone(), |builder| builder.extension(ext))
}

/// Serves core routes, the extensions `extend` enables and `GET /me`, on a fresh SQLite
/// database and in-memory store.
fn start_with(
    ext: PersistentSession,
    extend: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> Harness {
    let db = std::env::temp_dir().join(format!(
        "pow-persistent-session-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let builder = PowConfig::builder("x".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1));
    let config = extend(builder).build().unwrap();
    users.migrate(&config).unwrap();
    let addr = serve_pages(&config);
    Harness { addr, config, ext }
}

/// Serves the pages of `config`, `GET /me` and `GET /busy` on the suite's framework.
fn serve_pages(config: &PowConfig) -> SocketAddr {
    let served = config.clone();
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => serve(move || {
            pow_actix::testing::app(&served)
                .route("/me", web::get().to(me))
                .route("/busy", web::get().to(busy))
        }),
        pow_testkit::Framework::Axum => pow_testkit::serve_axum(
            pow_axum::web::router(&served)
                .route("/me", axum::routing::get(axum_me))
                .route("/busy", axum::routing::get(axum_busy))
                .layer(pow_axum::PowLayer::new(served.clone())),
        ),
    }
}

/// Serves the JSON API of `config` on the suite's framework.
fn serve_api(config: &PowConfig) -> SocketAddr {
    let served = config.clone();
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => serve(move || {
            actix_web::App::new().configure(pow_actix::api::configure(
                served.clone(),
                pow_actix::api::ApiOptions::new(),
            ))
        }),
        pow_testkit::Framework::Axum => pow_testkit::serve_axum(pow_axum::api::router(
            &served,
            pow_axum::api::ApiOptions::new(),
        )),
    }
}

/// Signs in through the form. `persistent` is what the checkbox posts: a browser sends
/// the hidden `false` and, when ticked, `true` after it.
fn sign_in(c: &mut Client, email: &str, persistent: Option<bool>) -> Response {
    let csrf = c.get("/session/new").csrf();
    let mut form = vec![
        ("_csrf_token", csrf.as_str()),
        ("user[email]", email),
        ("user[password]", PASSWORD),
    ];
    if let Some(ticked) = persistent {
        form.push(("user[persistent_session]", "false"));
        if ticked {
            form.push(("user[persistent_session]", "true"));
        }
    }
    let res = c.post("/session", &form);
    assert_eq!(res.status, 302, "{}", res.body);
    res
}

fn sign_out(c: &mut Client) -> Response {
    let csrf = c.get("/registration/edit").csrf();
    c.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")])
}

fn whoami(c: &mut Client) -> String {
    c.get("/me").body
}

/// The `Set-Cookie` header for `name` in `res`, if any.
fn set_cookie<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn remembered(c: &Client) -> String {
    c.cookies
        .get(COOKIE)
        .cloned()
        .expect("a remember-me cookie")
}

/// A browser holding only the given cookies.
fn browser(h: &Harness, cookies: &[(&str, &str)]) -> Client {
    let mut c = h.client();
    c.cookies = cookies
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<BTreeMap<_, _>>();
    c
}

/// Every second use is a replay: no waiting in tests.
fn strict() -> PersistentSession {
    PersistentSession::new().grace_period(Duration::ZERO)
}

fn a_ticked_box_keeps_the_user_signed_in_after_the_browser_closes() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();

    let res = sign_in(&mut c, "alice@example.com", Some(true));
    let header = set_cookie(&res, COOKIE).expect("the sign-in sets the remember-me cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(
            header.contains(attribute),
            "{attribute} missing in {header}"
        );
    }
    // No plain-http base URL configured: cookies are `Secure` by default.
    assert!(header.contains("; Secure"), "{header}");
    let first = remembered(&c);
    assert_eq!(h.count_tokens(&alice), 1);

    // The browser closes: its session cookie is gone, the remember-me cookie stays.
    c.cookies.remove(SESSION_COOKIE);
    let res = c.get("/me");
    assert_eq!(res.body, "user:alice@example.com");
    let rotated = set_cookie(&res, COOKIE).expect("the token is rotated");
    assert!(rotated.contains("Max-Age=2592000"), "{rotated}");
    let second = remembered(&c);
    assert_ne!(first, second);
    assert!(c.cookies.contains_key(SESSION_COOKIE), "a new session");
    assert_eq!(h.count_tokens(&alice), 1);

    // The new session carries on without touching the token.
    let res = c.get("/me");
    assert_eq!(res.body, "user:alice@example.com");
    assert!(set_cookie(&res, COOKIE).is_none());

    // Closing the browser again works with the rotated token.
    c.cookies.remove(SESSION_COOKIE);
    assert_eq!(whoami(&mut c), "user:alice@example.com");
    assert_ne!(remembered(&c), second);

    // The first token was used up: replayed alone, it signs nobody in and is dropped.
    let mut old = browser(&h, &[(COOKIE, &first)]);
    let res = old.get("/me");
    assert_eq!(res.body, "anonymous");
    assert!(set_cookie(&res, COOKIE).is_some_and(|v| v.contains("Max-Age=0")));
    assert!(!old.cookies.contains_key(COOKIE));
}

fn replaying_a_used_token_revokes_the_family() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut owner = h.client();
    sign_in(&mut owner, "alice@example.com", Some(true));
    let stolen = remembered(&owner);

    // The owner comes back first and gets a new token.
    owner.cookies.remove(SESSION_COOKIE);
    assert_eq!(whoami(&mut owner), "user:alice@example.com");
    assert_eq!(h.count_tokens(&alice), 1);

    // The copy is replayed later: nobody is signed in and every token is revoked.
    let mut thief = browser(&h, &[(COOKIE, &stolen)]);
    assert_eq!(whoami(&mut thief), "anonymous");
    assert!(!thief.cookies.contains_key(COOKIE));
    assert_eq!(h.count_tokens(&alice), 0);

    // The session restored from that chain is signed out too, and the owner's newest
    // token no longer works: the cookie is dropped.
    assert!(owner.cookies.contains_key(COOKIE));
    let res = owner.get("/me");
    assert_eq!(res.body, "anonymous");
    assert!(set_cookie(&res, COOKIE).is_some_and(|v| v.contains("Max-Age=0")));
    assert!(!owner.cookies.contains_key(COOKIE));
}

fn a_thief_who_uses_the_token_first_is_signed_out_when_the_owner_returns() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut owner = h.client();
    sign_in(&mut owner, "alice@example.com", Some(true));
    let mut thief = browser(&h, &[(COOKIE, &remembered(&owner))]);

    // Another browser of the same user, remembered on its own.
    let mut laptop = h.client();
    sign_in(&mut laptop, "alice@example.com", Some(true));
    assert_eq!(h.count_tokens(&alice), 2);

    assert_eq!(whoami(&mut thief), "user:alice@example.com");
    let thief_token = remembered(&thief);

    // The owner's browser restarts and presents the token the thief already used.
    owner.cookies.remove(SESSION_COOKIE);
    assert_eq!(whoami(&mut owner), "anonymous");

    // The thief's session (same chain) is gone, and so is the token it was given.
    assert_eq!(whoami(&mut thief), "anonymous");
    assert!(!thief.cookies.contains_key(COOKIE));
    let mut thief = browser(&h, &[(COOKIE, &thief_token)]);
    assert_eq!(whoami(&mut thief), "anonymous");

    // Every remember-me token of the user is revoked; other sessions are left alone.
    assert_eq!(h.count_tokens(&alice), 0);
    assert_eq!(whoami(&mut laptop), "user:alice@example.com");
    laptop.cookies.remove(SESSION_COOKIE);
    assert_eq!(whoami(&mut laptop), "anonymous");
}

fn signing_out_deletes_the_token_and_expires_the_cookie() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();
    sign_in(&mut c, "alice@example.com", Some(true));
    let token = remembered(&c);
    assert_eq!(h.count_tokens(&alice), 1);

    let res = sign_out(&mut c);
    assert_eq!(res.status, 302, "{}", res.body);
    let header = set_cookie(&res, COOKIE).expect("the cookie is expired");
    assert!(header.contains("Max-Age=0"), "{header}");
    assert!(!c.cookies.contains_key(COOKIE));
    assert_eq!(h.count_tokens(&alice), 0);
    assert_eq!(whoami(&mut c), "anonymous");

    let mut replay = browser(&h, &[(COOKIE, &token)]);
    assert_eq!(whoami(&mut replay), "anonymous");
}

fn an_unticked_box_sets_no_cookie() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();

    // The sign-in page offers the box, unticked, with a hidden `false` posted when it
    // stays unticked.
    let page = c.get("/session/new");
    assert!(
        page.body
            .contains(r#"<input type="hidden" name="user[persistent_session]" value="false">"#),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(r#"name="user[persistent_session]" value="true">"#));
    assert!(!page.body.contains(r#"value="true" checked"#));
    assert!(page.body.contains("Keep me signed in"));
    c.accept_language = Some("de".into());
    assert!(c.get("/session/new").body.contains("Angemeldet bleiben"));
    c.accept_language = Some("fr".into());
    assert!(c.get("/session/new").body.contains("Rester connecté"));
    c.accept_language = None;

    let res = sign_in(&mut c, "alice@example.com", Some(false));
    assert!(set_cookie(&res, COOKIE).is_none());
    assert!(!c.cookies.contains_key(COOKIE));
    assert_eq!(h.count_tokens(&alice), 0);
    assert_eq!(whoami(&mut c), "user:alice@example.com");
    c.cookies.remove(SESSION_COOKIE);
    assert_eq!(whoami(&mut c), "anonymous");

    // Without the field at all the default is to remember.
    let mut other = h.client();
    let res = sign_in(&mut other, "alice@example.com", None);
    assert!(set_cookie(&res, COOKIE).is_some());
    assert_eq!(h.count_tokens(&alice), 1);
}

fn the_box_can_start_ticked() {
    let h = start(strict().ticked_by_default(true));
    let mut c = h.client();
    let page = c.get("/session/new");
    assert!(
        page.body
            .contains(r#"name="user[persistent_session]" value="true" checked"#),
        "{}",
        page.body
    );
}

fn a_named_setup_uses_its_own_cookie_and_token_prefix() {
    let ext = PersistentSession::new();
    let h = start_with(ext.clone(), |builder| {
        builder.name("admin").cookie_secure(true).extension(ext)
    });
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();
    let res = sign_in(&mut c, "alice@example.com", Some(true));
    assert!(set_cookie(&res, COOKIE).is_none());
    let header = set_cookie(&res, "admin_persistent_session").expect("the named cookie");
    assert!(header.contains("Secure"), "{header}");
    let signed = c.cookies["admin_persistent_session"].clone();
    let token = h
        .config
        .verifier()
        .verify_token(pow_ext_persistent_session::TOKEN_SALT, &signed)
        .unwrap();
    assert!(token.starts_with("admin_"), "{token}");
    assert_eq!(h.count_tokens(&alice), 1);

    c.cookies.remove("admin_session");
    assert_eq!(whoami(&mut c), "user:alice@example.com");
    assert_ne!(c.cookies["admin_persistent_session"], signed);
}

fn changing_the_password_revokes_the_tokens_of_other_browsers_on_memory() {
    changing_the_password_revokes_the_tokens_of_other_browsers(
        pow_actix::store::MemoryStore::shared(),
    );
}

fn changing_the_password_revokes_the_tokens_of_other_browsers_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-remember-{}", pow_actix::token::generate_uuid());
    changing_the_password_revokes_the_tokens_of_other_browsers(
        pow_actix::testing::test_redis_store(&url, &prefix).unwrap(),
    );
}

/// Also: a session restored from the cookie must confirm the password before changing it.
fn changing_the_password_revokes_the_tokens_of_other_browsers(
    store: Arc<dyn pow_actix::store::Store>,
) {
    let ext = strict();
    let h = start_with(ext.clone(), |builder| builder.extension(ext).store(store));
    let alice = h.create_user("alice@example.com");
    let mut phone = h.client();
    let mut laptop = h.client();
    sign_in(&mut phone, "alice@example.com", Some(true));
    sign_in(&mut laptop, "alice@example.com", Some(true));
    assert_eq!(h.count_tokens(&alice), 2);
    let phone_token = remembered(&phone);

    let csrf = laptop.get("/registration/edit").csrf();
    let res = laptop.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("_method", "PATCH"),
            ("user[current_password]", PASSWORD),
            ("user[email]", "alice@example.com"),
            ("user[password]", "a brand new secret"),
            ("user[password_confirmation]", "a brand new secret"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);

    // The phone is signed out and its token no longer works.
    assert_eq!(whoami(&mut phone), "anonymous");
    assert!(!phone.cookies.contains_key(COOKIE));
    let mut phone = browser(&h, &[(COOKIE, &phone_token)]);
    assert_eq!(whoami(&mut phone), "anonymous");

    // The laptop that changed the password is remembered with a new token.
    assert_eq!(h.count_tokens(&alice), 1);
    laptop.cookies.remove(SESSION_COOKIE);
    assert_eq!(whoami(&mut laptop), "user:alice@example.com");

    // A session restored from the cookie is not fresh: the account page asks for the
    // password first (sudo mode), then returns.
    let res = laptop.get("/registration/edit");
    assert_eq!(
        res.location(),
        "/session/confirm?request_path=%2Fregistration%2Fedit"
    );
    let csrf = laptop.get(res.location()).csrf();
    let wrong = laptop.post(
        "/session/confirm?request_path=%2Fregistration%2Fedit",
        &[("_csrf_token", csrf.as_str()), ("user[password]", "not it")],
    );
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("That password is not correct."));
    let res = laptop.post(
        "/session/confirm?request_path=%2Fregistration%2Fedit",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[password]", "a brand new secret"),
        ],
    );
    assert_eq!(res.location(), "/registration/edit");

    // An update that keeps the password keeps the tokens.
    let csrf = laptop.get("/registration/edit").csrf();
    let before = remembered(&laptop);
    let res = laptop.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("_method", "PATCH"),
            ("user[current_password]", "a brand new secret"),
            ("user[email]", "alice@example.com"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(set_cookie(&res, COOKIE).is_none());
    assert_eq!(remembered(&laptop), before);
    assert_eq!(h.count_tokens(&alice), 1);
}

fn a_deleted_user_signs_nobody_in() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();
    sign_in(&mut c, "alice@example.com", Some(true));
    assert_eq!(h.count_tokens(&alice), 1);

    // Deleted behind pow's back (an admin task): the token finds no user.
    h.config
        .users_context()
        .unwrap()
        .delete(h.config.user_schema(), &alice)
        .unwrap();
    c.cookies.remove(SESSION_COOKIE);
    let res = c.get("/me");
    assert_eq!(res.body, "anonymous");
    assert!(set_cookie(&res, COOKIE).is_some_and(|v| v.contains("Max-Age=0")));
    assert_eq!(h.count_tokens(&alice), 0);

    // Deleting the account through the app drops the tokens and the cookie.
    let bob = h.create_user("bob@example.com");
    let mut c = h.client();
    sign_in(&mut c, "bob@example.com", Some(true));
    let token = remembered(&c);
    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/registration",
        &[("_csrf_token", csrf.as_str()), ("_method", "DELETE")],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(set_cookie(&res, COOKIE).is_some_and(|v| v.contains("Max-Age=0")));
    assert_eq!(h.count_tokens(&bob), 0);
    let mut replay = browser(&h, &[(COOKIE, &token)]);
    assert_eq!(whoami(&mut replay), "anonymous");
}

fn parallel_requests_with_one_cookie_are_all_signed_in() {
    const PARALLEL: usize = 4;
    let h = start(PersistentSession::new());
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();
    sign_in(&mut c, "alice@example.com", Some(true));
    let token = remembered(&c);

    let barrier = Arc::new(Barrier::new(PARALLEL));
    let threads: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let mut tab = browser(&h, &[(COOKIE, &token)]);
            std::thread::spawn(move || {
                barrier.wait();
                let res = tab.get("/me");
                (res, tab)
            })
        })
        .collect();
    let results: Vec<(Response, Client)> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    for (res, _) in &results {
        assert_eq!(res.body, "user:alice@example.com");
        // Nobody is signed out.
        assert!(!set_cookie(res, COOKIE).is_some_and(|v| v.contains("Max-Age=0")));
    }
    let rotated: Vec<&Client> = results
        .iter()
        .filter(|(res, _)| set_cookie(res, COOKIE).is_some())
        .map(|(_, tab)| tab)
        .collect();
    assert_eq!(rotated.len(), 1, "exactly one request uses the token");
    assert_eq!(h.count_tokens(&alice), 1);

    // The browser that got the new token goes on with it.
    let mut winner = browser(&h, &[(COOKIE, &remembered(rotated[0]))]);
    assert_eq!(whoami(&mut winner), "user:alice@example.com");

    // Within the grace period the old token still serves the user, without a new token
    // and without revoking anything.
    let mut late = browser(&h, &[(COOKIE, &token)]);
    let res = late.get("/me");
    assert_eq!(res.body, "user:alice@example.com");
    assert!(set_cookie(&res, COOKIE).is_none());
    assert_eq!(h.count_tokens(&alice), 1);
}

fn forged_cookies_sign_nobody_in() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();
    sign_in(&mut c, "alice@example.com", Some(true));
    let token = remembered(&c);

    // Same payload, broken signature.
    let (head, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{head}.AAAA");
    let mut replay = browser(&h, &[(COOKIE, &forged)]);
    let res = replay.get("/me");
    assert_eq!(res.body, "anonymous");
    assert!(set_cookie(&res, COOKIE).is_some_and(|v| v.contains("Max-Age=0")));

    // A valid signature for another purpose (the session salt) does not work either.
    let raw = h
        .config
        .verifier()
        .verify_token(pow_ext_persistent_session::TOKEN_SALT, &token)
        .unwrap();
    let other = h
        .config
        .verifier()
        .sign_token("Elixir.Pow.Plug.Session", &raw);
    let mut replay = browser(&h, &[(COOKIE, &other)]);
    assert_eq!(whoami(&mut replay), "anonymous");

    // The real token was never touched.
    assert_eq!(h.count_tokens(&alice), 1);
    let mut owner = browser(&h, &[(COOKIE, &token)]);
    assert_eq!(whoami(&mut owner), "user:alice@example.com");
}

/// Stops every sign-in, as email confirmation does for unconfirmed users.
struct HaltSignIn;

impl Extension for HaltSignIn {
    fn name(&self) -> &'static str {
        "halt_sign_in"
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.callbacks(HaltSignIn);
    }
}

#[async_trait]
impl Callbacks for HaltSignIn {
    async fn before_respond(
        &self,
        step: &mut pow_actix::pipeline::Step,
        client: &mut dyn pow_actix::pipeline::Client,
    ) -> Result<Flow, PowError> {
        if step.is(pow_actix::web::actions::SESSION_CREATE) && step.user.is_some() {
            client.session().end(&step.config).await?;
            return Ok(Flow::Halt(pow_actix::pipeline::Halt::Redirect("/".into())));
        }
        Ok(Flow::Continue)
    }
}

fn a_sign_in_halted_by_an_earlier_extension_gets_no_cookie() {
    let ext = PersistentSession::new();
    let h = start_with(ext.clone(), |builder| {
        builder.extension(HaltSignIn).extension(ext)
    });
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();
    let res = sign_in(&mut c, "alice@example.com", Some(true));
    assert_eq!(res.location(), "/");
    assert!(set_cookie(&res, COOKIE).is_none());
    assert_eq!(h.count_tokens(&alice), 0);
    assert_eq!(whoami(&mut c), "anonymous");
}

fn sign_out_everywhere_revokes_remember_me_tokens_too() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut phone = h.client();
    sign_in(&mut phone, "alice@example.com", Some(true));
    assert_eq!(h.count_tokens(&alice), 1);
    let phone_token = remembered(&phone);

    let removed = actix_web::rt::System::new()
        .block_on(pow_actix::session::sign_out_everywhere(&h.config, alice.id))
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(h.count_tokens(&alice), 0);
    // Neither the session nor the remember-me cookie signs the phone in any more.
    assert_eq!(whoami(&mut phone), "anonymous");
    let mut phone = browser(&h, &[(COOKIE, &phone_token)]);
    assert_eq!(whoami(&mut phone), "anonymous");
}

/// A family of tokens stops signing the browser in once it is older than `max_age`,
/// counted from the password sign-in: remember-me cannot outlast the cap by rotating.
fn a_family_older_than_max_age_no_longer_signs_in() {
    let h = start(strict().max_age(Some(Duration::ZERO)));
    h.create_user("alice@example.com");
    let mut c = h.client();
    sign_in(&mut c, "alice@example.com", Some(true));
    assert!(!remembered(&c).is_empty());
    c.cookies.remove(SESSION_COOKIE);
    assert_eq!(whoami(&mut c), "anonymous");
    assert!(!c.cookies.contains_key(COOKIE), "the cookie is expired too");

    // Without a cap (and by default) the same browser is restored.
    let h = start(strict().max_age(None));
    h.create_user("alice@example.com");
    let mut c = h.client();
    sign_in(&mut c, "alice@example.com", Some(true));
    c.cookies.remove(SESSION_COOKIE);
    assert_eq!(whoami(&mut c), "user:alice@example.com");
}

/// The hidden `user[remembered]` value of the form on `page` whose button mentions
/// `needle`.
fn remembered_handle(page: &Response, needle: &str) -> String {
    let form = page
        .body
        .split("<form")
        .find(|form| form.contains(needle))
        .unwrap_or_else(|| panic!("no form mentions {needle}: {}", page.body));
    let marker = "name=\"user[remembered]\" value=\"";
    let at = form.find(marker).expect("a remembered field") + marker.len();
    form[at..at + form[at..].find('"').unwrap()].to_owned()
}

/// The session list shows remembered browsers with their user agent; forgetting one from
/// another browser signs that browser out for good, cookie and session alike.
fn a_remembered_browser_is_listed_and_forgotten_from_another() {
    let h = start(strict());
    h.create_user("alice@example.com");
    let mut laptop = h.client();
    laptop
        .headers
        .push(("User-Agent".to_owned(), "Laptop/1.0".to_owned()));
    sign_in(&mut laptop, "alice@example.com", Some(true));
    let cookie = remembered(&laptop);
    let mut phone = h.client();
    phone
        .headers
        .push(("User-Agent".to_owned(), "Phone/2.0".to_owned()));
    sign_in(&mut phone, "alice@example.com", Some(false));

    let page = phone.get("/registration/sessions");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("Forget remembered browser: Laptop/1.0 (127.0.0.1)"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Forget remembered browser: Phone/2.0"),
        "the phone asked not to be remembered"
    );
    let handle = remembered_handle(&page, "Forget remembered browser: Laptop/1.0");
    let res = phone.post(
        "/registration/sessions",
        &[("_csrf_token", &page.csrf()), ("user[remembered]", &handle)],
    );
    assert_eq!(res.location(), "/registration/sessions");
    let page = phone.get("/registration/sessions");
    assert!(
        !page.body.contains("Forget remembered browser"),
        "{}",
        page.body
    );

    assert_eq!(whoami(&mut laptop), "anonymous", "its session ended too");
    let mut closed = browser(&h, &[(COOKIE, &cookie)]);
    assert_eq!(
        whoami(&mut closed),
        "anonymous",
        "its cookie signs nobody in"
    );
    assert_eq!(whoami(&mut phone), "user:alice@example.com");
}

/// Disabling a user through the admin API ends their browser session, their remember-me
/// cookie and their API client at once.
fn disabling_ends_every_credential(store: Arc<dyn pow_actix::store::Store>) {
    let ext = strict();
    let h = start_with(ext.clone(), |builder| builder.extension(ext).store(store));
    let alice = h.create_user("alice@example.com");
    let api = serve_api(&h.config);

    let mut browser_c = h.client();
    sign_in(&mut browser_c, "alice@example.com", Some(true));
    let cookie = remembered(&browser_c);
    let mut client = Client::new(api);
    let body = format!(r#"{{"user": {{"email": "alice@example.com", "password": "{PASSWORD}"}}}}"#);
    let res = client.request("POST", "/api/v1/session", Some(body));
    assert_eq!(res.status, 200, "{}", res.body);
    let pair: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let access = pair["data"]["access_token"].as_str().unwrap().to_owned();
    client.headers = vec![("Authorization".into(), format!("Bearer {access}"))];
    assert_eq!(client.get("/api/v1/sessions").status, 200);

    actix_web::rt::System::new()
        .block_on(pow_actix::admin::disable_user(&h.config, &alice))
        .unwrap();
    assert_eq!(
        whoami(&mut browser_c),
        "anonymous",
        "the browser session ended"
    );
    let mut closed = browser(&h, &[(COOKIE, &cookie)]);
    assert_eq!(
        whoami(&mut closed),
        "anonymous",
        "the remember-me cookie ended"
    );
    assert_eq!(h.count_tokens(&alice), 0);
    assert_eq!(
        client.get("/api/v1/sessions").status,
        401,
        "the API client ended"
    );
}

fn disabling_ends_every_credential_on_memory() {
    disabling_ends_every_credential(pow_actix::store::MemoryStore::shared());
}

fn disabling_ends_every_credential_on_redis() {
    let Some(url) = pow_actix::testing::test_redis_url() else {
        return;
    };
    let prefix = format!("pow-remember-{}", pow_actix::token::generate_uuid());
    disabling_ends_every_credential(pow_actix::testing::test_redis_store(&url, &prefix).unwrap());
}

/// A copy of the store holds no usable remember-me token: every string in it, signed as a
/// cookie with the app's own secret, restores nobody; the real cookie still does.
fn the_store_holds_no_usable_token() {
    let h = start(PersistentSession::new());
    h.create_user("ada@example.com");
    let mut c = h.client();
    sign_in(&mut c, "ada@example.com", Some(true));
    let cookie = remembered(&c);
    let dumped = actix_web::rt::System::new()
        .block_on(pow_actix::testing::dumped_strings(
            &**h.config.store(),
            "persistent_session",
        ))
        .unwrap();
    assert!(dumped.len() > 3, "{dumped:?}");
    let verifier = h.config.verifier();
    let token = verifier
        .verify_token(pow_ext_persistent_session::TOKEN_SALT, &cookie)
        .unwrap();
    assert!(!dumped.contains(&token), "the token itself is not stored");
    for candidate in &dumped {
        let mut thief = h.client();
        thief.cookies.insert(
            COOKIE.to_owned(),
            verifier.sign_token(pow_ext_persistent_session::TOKEN_SALT, candidate),
        );
        assert_eq!(whoami(&mut thief), "anonymous", "{candidate}");
    }
    let mut owner = h.client();
    owner.cookies.insert(COOKIE.to_owned(), cookie);
    assert_eq!(whoami(&mut owner), "user:ada@example.com");
}

/// The hidden `user[<field>]` value of the form on `page` whose button mentions `needle`.
fn form_value(page: &Response, needle: &str, field: &str) -> String {
    let form = page
        .body
        .split("<form")
        .find(|form| form.contains(needle))
        .unwrap_or_else(|| panic!("no form mentions {needle}: {}", page.body));
    let marker = format!("name=\"user[{field}]\" value=\"");
    let at = form.find(&marker).expect("the field") + marker.len();
    form[at..at + form[at..].find('"').unwrap()].to_owned()
}

/// Two browsers of alice: a laptop that asked to be remembered and a phone that did not.
fn laptop_and_phone(h: &Harness) -> (User, Client, Client) {
    let alice = h.create_user("alice@example.com");
    let mut laptop = h.client();
    laptop
        .headers
        .push(("User-Agent".to_owned(), "Laptop/1.0".to_owned()));
    sign_in(&mut laptop, "alice@example.com", Some(true));
    let mut phone = h.client();
    phone
        .headers
        .push(("User-Agent".to_owned(), "Phone/2.0".to_owned()));
    sign_in(&mut phone, "alice@example.com", Some(false));
    (alice, laptop, phone)
}

/// "End" on a remembered browser's session ends its remember-me family too: its next
/// request is not signed in again from the cookie.
fn ending_a_remembered_session_ends_its_family() {
    let h = start(strict());
    let (alice, mut laptop, mut phone) = laptop_and_phone(&h);
    let page = phone.get("/registration/sessions");
    let handle = form_value(&page, "End: Laptop/1.0", "session");
    let res = phone.post(
        "/registration/sessions",
        &[("_csrf_token", &page.csrf()), ("user[session]", &handle)],
    );
    assert_eq!(res.location(), "/registration/sessions");
    assert!(
        laptop.cookies.contains_key(COOKIE),
        "the laptop still holds its cookie"
    );
    assert_eq!(
        whoami(&mut laptop),
        "anonymous",
        "the remember-me cookie signed the ended browser in again"
    );
    let page = phone.get("/registration/sessions");
    assert!(
        !page.body.contains("Forget remembered browser"),
        "{}",
        page.body
    );
    assert_eq!(whoami(&mut phone), "user:alice@example.com");
    assert_eq!(h.count_tokens(&alice), 0, "no remember-me token is left");
}

/// "End all other sessions" ends the other browsers' remember-me families and keeps this
/// browser's own.
fn ending_all_other_sessions_ends_their_families() {
    let h = start(strict());
    let (alice, mut laptop, mut phone) = laptop_and_phone(&h);
    let page = phone.get("/registration/sessions");
    let res = phone.post(
        "/registration/sessions",
        &[("_csrf_token", &page.csrf()), ("user[scope]", "others")],
    );
    assert_eq!(res.location(), "/registration/sessions");
    assert_eq!(whoami(&mut laptop), "anonymous");
    assert_eq!(whoami(&mut phone), "user:alice@example.com");
    assert_eq!(h.count_tokens(&alice), 0, "no remember-me token is left");
}

fn a_data_export_lists_remembered_browsers_without_tokens_and_erasure_forgets_them() {
    let h = start(strict());
    let alice = h.create_user("alice@example.com");
    let mut c = h.client();
    c.headers
        .push(("user-agent".into(), "Export Browser/1.0".into()));
    sign_in(&mut c, "alice@example.com", Some(true));
    let cookie = remembered(&c);
    assert_eq!(h.count_tokens(&alice), 1);

    let rt = actix_web::rt::System::new();
    let export = rt
        .block_on(pow_actix::admin::export_user(&h.config, &alice))
        .unwrap();
    let browsers = &export["extensions"]["pow_persistent_session"]["remembered_browsers"];
    assert_eq!(browsers.as_array().map(Vec::len), Some(1), "{export}");
    assert_eq!(browsers[0]["user_agent"], "Export Browser/1.0", "{export}");
    let text = export.to_string();
    let token = cookie.split('.').next().unwrap_or_default();
    assert!(!text.contains(token), "no token in the export: {text}");

    rt.block_on(pow_actix::admin::erase_extension_data(&h.config, &alice))
        .unwrap();
    assert_eq!(h.count_tokens(&alice), 0);
    // The browser's cookie no longer signs anybody in.
    c.cookies.remove(SESSION_COOKIE);
    assert_eq!(c.get("/me").body, "anonymous");
}

/// A remember-me token rotated by a request whose route then fails with a 503 page (a busy
/// hashing pool, a store outage) still reaches the browser: the new cookie is on the error
/// page, so its next use is the legitimate one, not a replay that looks like theft.
fn a_503_page_carries_the_rotated_remember_me_cookie() {
    let h = start(strict());
    h.create_user("alice@example.com");
    let mut c = h.client();
    sign_in(&mut c, "alice@example.com", Some(true));
    let first = remembered(&c);

    // A new browser session with only the remember-me cookie hits a busy route: the token
    // is used and rotated, and the answer is the 503 page with the new token.
    let mut closed = browser(&h, &[(COOKIE, &first)]);
    let res = closed.get("/busy");
    assert_eq!(res.status, 503, "{}", res.body);
    let rotated = set_cookie(&res, COOKIE).expect("the 503 page dropped the rotated cookie");
    assert!(
        !rotated.starts_with(&format!("{COOKIE}={first};")),
        "{rotated}"
    );

    // The rotated token signs the browser in again later; the old one is used up.
    let rotated = remembered(&closed);
    assert_ne!(rotated, first);
    let mut later = browser(&h, &[(COOKIE, &rotated)]);
    assert_eq!(whoami(&mut later), "user:alice@example.com");
}

/// A sign-in policy holds on every way in, from one place in the engine: a password
/// sign-in (a `403` page with the policy's text), a remembered sign-in (the cookie signs
/// nobody in and is expired), the JSON API's sign-in and its token renewal (`403`,
/// `sign_in_refused`); others are not touched.
fn a_sign_in_policy_holds_on_every_way_in() {
    // Refuses mallory while closed.
    let gate = pow_testkit::Gate::new("mallory@example.com");
    let ext = strict();
    let h = {
        let (ext, gate) = (ext.clone(), gate.clone());
        start_with(ext.clone(), move |builder| {
            builder.extension(ext).extension(gate)
        })
    };
    h.create_user("mallory@example.com");
    h.create_user("alice@example.com");
    let mut phone = h.client();
    sign_in(&mut phone, "mallory@example.com", Some(true));
    let cookie = remembered(&phone);
    gate.close();

    // A password sign-in: refused with the policy's text, nobody signed in.
    let mut c = h.client();
    let csrf = c.get("/session/new").csrf();
    let res = c.post(
        "/session",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[email]", "mallory@example.com"),
            ("user[password]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(
        res.body.contains("single sign-on of your company"),
        "{}",
        res.body
    );
    assert_eq!(whoami(&mut c), "anonymous");
    // Others sign in as before.
    let mut other = h.client();
    sign_in(&mut other, "alice@example.com", None);
    assert_eq!(whoami(&mut other), "user:alice@example.com");
    // The remember-me cookie alone: nobody, and the cookie goes.
    let mut restored = browser(&h, &[(COOKIE, &cookie)]);
    assert_eq!(whoami(&mut restored), "anonymous");
    assert!(
        !restored.cookies.contains_key(COOKIE),
        "the cookie is expired"
    );

    // The JSON API: a sign-in, and the renewal of a pair issued before the policy held.
    gate.open();
    let api = pow_testkit::serve_with_api(h.config.clone(), pow_core::api::ApiOptions::new());
    let mut client = Client::new(api);
    client
        .headers
        .push(("content-type".into(), "application/json".into()));
    let body =
        serde_json::json!({ "user": { "email": "mallory@example.com", "password": PASSWORD } });
    let pair = client.request("POST", "/api/v1/session", Some(body.to_string()));
    assert_eq!(pair.status, 200, "{}", pair.body);
    let pair: serde_json::Value = serde_json::from_str(&pair.body).unwrap();
    let renewal = pair["data"]["renewal_token"].as_str().unwrap().to_owned();
    gate.close();
    let refused = client.request("POST", "/api/v1/session", Some(body.to_string()));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("sign_in_refused"), "{}", refused.body);
    let mut renewing = Client::new(api);
    renewing
        .headers
        .push(("authorization".into(), format!("Bearer {renewal}")));
    let refused = renewing.request("POST", "/api/v1/session/renew", Some(String::new()));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("sign_in_refused"), "{}", refused.body);
}

pow_testkit::on_both!(
    a_sign_in_policy_holds_on_every_way_in,
    a_503_page_carries_the_rotated_remember_me_cookie,
    a_ticked_box_keeps_the_user_signed_in_after_the_browser_closes,
    replaying_a_used_token_revokes_the_family,
    a_thief_who_uses_the_token_first_is_signed_out_when_the_owner_returns,
    signing_out_deletes_the_token_and_expires_the_cookie,
    an_unticked_box_sets_no_cookie,
    the_box_can_start_ticked,
    a_named_setup_uses_its_own_cookie_and_token_prefix,
    changing_the_password_revokes_the_tokens_of_other_browsers_on_memory,
    changing_the_password_revokes_the_tokens_of_other_browsers_on_redis,
    a_deleted_user_signs_nobody_in,
    parallel_requests_with_one_cookie_are_all_signed_in,
    forged_cookies_sign_nobody_in,
    a_sign_in_halted_by_an_earlier_extension_gets_no_cookie,
    sign_out_everywhere_revokes_remember_me_tokens_too,
    a_family_older_than_max_age_no_longer_signs_in,
    a_remembered_browser_is_listed_and_forgotten_from_another,
    disabling_ends_every_credential_on_memory,
    disabling_ends_every_credential_on_redis,
    the_store_holds_no_usable_token,
    ending_a_remembered_session_ends_its_family,
    ending_all_other_sessions_ends_their_families,
    a_data_export_lists_remembered_browsers_without_tokens_and_erasure_forgets_them,
);

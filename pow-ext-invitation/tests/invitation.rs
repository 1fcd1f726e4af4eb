//! Drives the invitation routes over real HTTP: invite, mail, accept, reuse, permissions,
//! expiry, the inviter relation, carried fields and username setups. The pages are page
//! routes of the engine, and so are the JSON endpoints: the tests named in `on_both!` at
//! the end run on actix-web and on axum.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpRequest, HttpResponse};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use pow_actix::mailer::{Mail, Mailer, MemoryMailer};
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::{serve, Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::Params;
use pow_actix::users::{Changes, FieldDef, FieldKind, Value};
use pow_actix::web::Routes;
use pow_actix::{MaybeUser, PowConfig, PowConfigBuilder, PowError, User};
use pow_core::request::RequestFacts;
use pow_ext_invitation::flows::accept_url;
use pow_ext_invitation::{
    invited_by, invited_users, Invitation, INVITATION_ACCEPTED_AT, INVITATION_SALT,
    INVITATION_SENT_AT, INVITATION_TOKEN, INVITED_BY_ID, NAME,
};

const PASSWORD: &str = "correct horse battery";

// ----- harness -----------------------------------------------------------------------

async fn home(req: HttpRequest, user: MaybeUser) -> HttpResponse {
    let flash = pow_actix::web::flash::take(&req);
    let config = pow_actix::session::config(&req);
    let who = match (&user.0, &config) {
        (Some(u), Some(c)) => u.user_id(c.user_schema()).unwrap_or("?").to_owned(),
        _ => "nobody".to_owned(),
    };
    HttpResponse::Ok().body(format!(
        "signed in as {who}; info: {}; error: {}",
        flash.info.unwrap_or_default(),
        flash.error.unwrap_or_default()
    ))
}

/// The home page on axum, as [`home`] answers it on actix-web.
async fn axum_home(pow: pow_axum::Pow) -> String {
    let flash = pow_core::session::flash::take(&pow.cookie);
    let who = match &pow.current {
        Some(current) => current
            .user
            .user_id(pow.config.user_schema())
            .unwrap_or("?")
            .to_owned(),
        None => "nobody".to_owned(),
    };
    format!(
        "signed in as {who}; info: {}; error: {}",
        flash.info.unwrap_or_default(),
        flash.error.unwrap_or_default()
    )
}

fn app(
    config: PowConfig,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    pow_actix::testing::app(&config)
        .configure(pow_actix::api::configure(
            config.clone(),
            pow_actix::api::ApiOptions::new(),
        ))
        .route("/", web::get().to(home))
}

/// Where the test's users live; removed on drop.
enum Db {
    Sqlite(PathBuf),
    Postgres { base: String, schema: String },
}

impl Db {
    fn sqlite() -> Self {
        Db::Sqlite(std::env::temp_dir().join(format!(
            "pow-invitation-test-{}.db",
            pow_actix::token::generate_uuid()
        )))
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(path) => path.display().to_string(),
            Db::Postgres { base, schema } => {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-csearch_path%3D{schema}")
            }
        }
    }

    fn execute(&self, sql: &str) {
        match self {
            Db::Sqlite(path) => {
                let mut conn =
                    diesel::sqlite::SqliteConnection::establish(&path.display().to_string())
                        .unwrap();
                conn.batch_execute(sql).unwrap();
            }
            Db::Postgres { .. } => {
                let mut conn = diesel::pg::PgConnection::establish(&self.url()).unwrap();
                conn.batch_execute(sql).unwrap();
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        match self {
            Db::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Db::Postgres { base, schema } => {
                if let Ok(mut conn) = diesel::pg::PgConnection::establish(base) {
                    let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }
}

struct Harness {
    addr: std::net::SocketAddr,
    mailer: MemoryMailer,
    config: PowConfig,
    _db: Db,
}

impl Harness {
    fn client(&self) -> Client {
        Client::new(self.addr)
    }

    fn user(&self, field: &str, value: &str) -> User {
        self.config
            .users_context()
            .unwrap()
            .get_by(self.config.user_schema(), field, &Value::from(value))
            .unwrap()
            .unwrap_or_else(|| panic!("no user with {field} = {value}"))
    }

    fn set(&self, user: &User, field: &str, value: Value) -> User {
        let mut changes = Changes::new();
        changes.insert(field.to_owned(), value);
        self.config
            .users_context()
            .unwrap()
            .update_fields(self.config.user_schema(), user, &changes)
            .unwrap()
    }

    fn invite_link(&self, to: &str) -> String {
        let mail = self
            .mailer
            .last_to(to)
            .unwrap_or_else(|| panic!("no mail to {to}"));
        link_path(&mail.text)
    }
}

/// Options of one test setup.
struct Setup {
    ext: Invitation,
    db: Db,
    builder: Box<dyn FnOnce(PowConfigBuilder) -> PowConfigBuilder>,
    /// Runs instead of the bundled migrations (own table shape), or after them.
    sql: Option<(&'static str, bool)>,
    /// Written inserts take this much longer ([`pow_core::testing::SlowInserts`]).
    slow_inserts: Option<Duration>,
}

impl Setup {
    fn new(ext: Invitation) -> Self {
        Self {
            ext,
            db: Db::sqlite(),
            builder: Box::new(|b| b),
            sql: None,
            slow_inserts: None,
        }
    }

    fn start(self) -> Harness {
        let mailer = MemoryMailer::new();
        let users = DieselUsersContext::connect(&self.db.url()).unwrap();
        let builder = PowConfig::builder("i".repeat(64));
        let builder = match self.slow_inserts {
            Some(delay) => builder.users(pow_core::testing::SlowInserts::new(users.clone(), delay)),
            None => builder.users(users.clone()),
        };
        let builder = builder
            .hasher(Pbkdf2Hasher::new(1))
            .mailer(mailer.clone())
            .base_url("http://localhost")
            .extension(self.ext);
        let config = (self.builder)(builder).build().unwrap();
        match self.sql {
            Some((sql, true)) => self.db.execute(sql),
            Some((sql, false)) => {
                users.migrate(&config).unwrap();
                self.db.execute(sql);
            }
            None => users.migrate(&config).unwrap(),
        }
        let served = config.clone();
        let addr = match pow_testkit::framework() {
            pow_testkit::Framework::Actix => serve(move || app(served.clone())),
            // The engine's page routes and the home page on axum, and the JSON API.
            pow_testkit::Framework::Axum => pow_testkit::serve_axum(
                pow_axum::web::router(&served)
                    .route("/", axum::routing::get(axum_home))
                    .route(
                        "/protected",
                        axum::routing::get(|_: pow_axum::CurrentUser| async { "secret" }),
                    )
                    .layer(pow_axum::PowLayer::new(served.clone()))
                    .merge(pow_axum::api::router(
                        &served,
                        pow_axum::api::ApiOptions::new(),
                    )),
            ),
        };
        Harness {
            addr,
            mailer,
            config,
            _db: self.db,
        }
    }
}

fn start(ext: Invitation) -> Harness {
    Setup::new(ext).start()
}

// ----- browsing helpers --------------------------------------------------------------

/// The text of an HTML page with askama's numeric escapes undone.
fn text(res: &Response) -> String {
    let mut out = String::with_capacity(res.body.len());
    let mut rest = res.body.as_str();
    while let Some(start) = rest.find("&#") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(';').and_then(|end| {
            after[..end]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .map(|c| (c, end))
        }) {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("&#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
}

/// The path of the `http://localhost/invitations/...` link in a mail or page.
fn link_path(body: &str) -> String {
    let start = body
        .find("http://localhost/invitations/")
        .expect("a link to the invitation");
    let link: String = body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '<' && *c != '"')
        .collect();
    link.trim_start_matches("http://localhost").to_owned()
}

fn register(c: &mut Client, field: &str, id: &str) -> Response {
    let csrf = c.get("/registration/new").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            (&format!("user[{field}]"), id),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    res
}

fn invite(c: &mut Client, field: &str, id: &str) -> Response {
    let page = c.get("/invitations/new");
    assert_eq!(page.status, 200, "{}", page.body);
    c.post(
        "/invitations",
        &[
            ("_csrf_token", &page.csrf()),
            (&format!("user[{field}]"), id),
        ],
    )
}

fn accept(c: &mut Client, edit_path: &str, fields: &[(&str, &str)]) -> Response {
    let page = c.get(edit_path);
    assert_eq!(page.status, 200, "{}", page.body);
    let update = edit_path.trim_end_matches("/edit");
    let csrf = page.csrf();
    let mut form = vec![("_csrf_token", csrf.as_str()), ("_method", "PATCH")];
    form.extend_from_slice(fields);
    c.post(update, &form)
}

/// A password and its matching confirmation.
const GOOD_PASSWORDS: [(&str, &str); 2] = [
    ("user[password]", PASSWORD),
    ("user[password_confirmation]", PASSWORD),
];

/// Follows the invalid-invitation redirect and returns the sign-in page's text.
fn assert_invalid(c: &mut Client, res: &Response) {
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");
    let page = c.get("/session/new");
    assert!(
        text(&page).contains("The invitation doesn't exist."),
        "{}",
        page.body
    );
}

// ----- tests -------------------------------------------------------------------------

fn invite_mail_accept_sign_in_and_no_reuse() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");

    let page = alice.get("/invitations/new");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"name="user[email]""#));
    assert!(!page.body.contains(r#"name="user[password]""#));

    let res = invite(&mut alice, "email", " Bob@Example.com ");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/invitations/new");
    let page = alice.get("/invitations/new");
    assert!(text(&page).contains("An e-mail with invitation link has been sent."));

    let mail = h
        .mailer
        .last_to("bob@example.com")
        .expect("invitation mail");
    assert_eq!(mail.subject, "You've been invited");
    assert!(mail.text.starts_with("Hi,"), "{}", mail.text);
    assert!(mail.text.contains("alice@example.com"), "{}", mail.text);
    let edit = h.invite_link("bob@example.com");
    assert!(edit.starts_with("/invitations/SFMyNTY.") && edit.ends_with("/edit"));
    assert!(mail.html.contains(&format!("http://localhost{edit}")));

    // The invited user exists without a password and cannot sign in yet.
    let bob_row = h.user("email", "bob@example.com");
    assert!(bob_row.password_hash.is_none());
    assert_eq!(
        bob_row.get_int(INVITED_BY_ID),
        Some(h.user("email", "alice@example.com").id)
    );

    let mut bob = h.client();
    let form = bob.get(&edit);
    assert_eq!(form.status, 200);
    assert!(form
        .header("cache-control")
        .unwrap_or_default()
        .contains("no-store"));
    assert!(form.body.contains(r#"value="bob@example.com""#));
    assert!(form.body.contains(r#"name="user[password_confirmation]""#));

    // A mismatched confirmation shows the form again; the link still works.
    let bad = [
        ("user[password]", PASSWORD),
        ("user[password_confirmation]", "something else"),
    ];
    let res = accept(&mut bob, &edit, &bad);
    assert_eq!(res.status, 200);
    assert!(
        res.body.contains("does not match confirmation"),
        "{}",
        res.body
    );
    assert_eq!(h.user("email", "bob@example.com").password_hash, None);
    let res = accept(&mut bob, &edit, &GOOD_PASSWORDS);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    assert!(bob
        .get("/")
        .body
        .starts_with("signed in as bob@example.com"));

    let bob_row = h.user("email", "bob@example.com");
    assert!(bob_row.password_hash.is_some());
    assert!(bob_row.get_timestamp(INVITATION_ACCEPTED_AT).is_some());

    // Signed in, the invitee pages send the user away.
    let res = bob.get(&edit);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/");

    // The link works once.
    let mut stranger = h.client();
    let res = stranger.get(&edit);
    assert_invalid(&mut stranger, &res);
    let csrf = stranger.get("/session/new").csrf();
    let update = edit.trim_end_matches("/edit");
    let res = stranger.post(
        update,
        &[
            ("_csrf_token", &csrf),
            ("_method", "PUT"),
            ("user[email]", "bob@example.com"),
            ("user[password]", "another password"),
            ("user[password_confirmation]", "another password"),
        ],
    );
    assert_invalid(&mut stranger, &res);
    assert_eq!(
        h.user("email", "bob@example.com").password_hash,
        bob_row.password_hash
    );

    // The invitee signs in with the chosen password.
    let mut again = h.client();
    let csrf = again.get("/session/new").csrf();
    let res = again.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "bob@example.com"),
            ("user[password]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
}

fn invited_by_relation_is_stored() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    invite(&mut alice, "email", "bob@example.com");
    invite(&mut alice, "email", "carol@example.com");
    let mut dave = h.client();
    register(&mut dave, "email", "dave@example.com");
    invite(&mut dave, "email", "erin@example.com");

    let rt = actix_web::rt::Runtime::new().unwrap();
    let alice_row = h.user("email", "alice@example.com");
    let mut invited: Vec<String> = rt
        .block_on(invited_users(&h.config, &alice_row))
        .unwrap()
        .iter()
        .filter_map(|u| u.email().map(str::to_owned))
        .collect();
    invited.sort();
    assert_eq!(invited, ["bob@example.com", "carol@example.com"]);

    let bob_row = h.user("email", "bob@example.com");
    let inviter = rt.block_on(invited_by(&h.config, &bob_row)).unwrap();
    assert_eq!(inviter.map(|u| u.id), Some(alice_row.id));
    assert_eq!(
        rt.block_on(invited_by(&h.config, &alice_row)).unwrap(),
        None
    );

    // Deleting the inviter keeps the invited users.
    h.config
        .users_context()
        .unwrap()
        .delete(h.config.user_schema(), &alice_row)
        .unwrap();
    assert_eq!(
        h.user("email", "bob@example.com").get_int(INVITED_BY_ID),
        None
    );
}

/// Inviting an address that has an account answers exactly like inviting a new one, and
/// does the same work: one invitation mail composed and queued (to the owner, with a
/// sign-in link instead of an accept link), so neither the answer nor its timing tells
/// which addresses have accounts.
fn inviting_a_taken_email_answers_and_works_like_a_new_one() {
    let h = start(Invitation::new());
    let mut carol = h.client();
    register(&mut carol, "email", "carol@example.com");
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");

    let observe = |alice: &mut Client, to: &str| {
        let before = h.mailer.deliveries().len();
        let res = invite(alice, "email", to);
        let page = alice.get(res.location());
        let queued = h.mailer.deliveries().len() - before;
        // The page as shown, but for its fresh CSRF token.
        let shown = text(&page).replace(&page.csrf(), "");
        (res.status, res.location().to_owned(), shown, queued)
    };
    let new = observe(&mut alice, "dave@example.com");
    let taken = observe(&mut alice, "Carol@example.com");
    assert_eq!(new.0, 302);
    assert_eq!(new.1, "/invitations/new");
    assert!(new
        .2
        .contains("An e-mail with invitation link has been sent."));
    assert_eq!(new, taken, "the same answer and the same mails queued");
    assert_eq!(taken.3, 1, "one mail queued either way");

    let to_new = h.mailer.last_to("dave@example.com").unwrap();
    let to_owner = h
        .mailer
        .last_to("carol@example.com")
        .expect("a mail to the owner");
    assert_eq!(to_new.subject, to_owner.subject);
    assert!(
        to_owner.text.contains("alice@example.com"),
        "{}",
        to_owner.text
    );
    assert!(
        to_owner.text.contains("http://localhost/session/new"),
        "the owner is sent to sign in: {}",
        to_owner.text
    );
    assert!(
        !to_owner.text.contains("/invitations/"),
        "{}",
        to_owner.text
    );
    // The owner's account is untouched and opens no invitation.
    let carol_row = h.user("email", "carol@example.com");
    assert!(carol_row.get_str(INVITATION_TOKEN).is_none());
    assert!(carol_row.password_hash.is_some());

    // Other errors show the form.
    let res = invite(&mut alice, "email", "not an address");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("has invalid format"), "{}", res.body);
    let res = invite(&mut alice, "email", "");
    assert_eq!(res.status, 200);
    assert!(text(&res).contains("can't be blank"), "{}", res.body);
}

/// Inviting an address with an account answers as fast as inviting a new one: the
/// insert refused as taken is held as long as a written one takes. Written inserts are
/// made slow here, so a refusal that comes back at once would show.
fn a_taken_address_takes_as_long_to_invite_as_a_new_one() {
    const WRITE: Duration = Duration::from_millis(300);
    let mut setup = Setup::new(Invitation::new());
    setup.slow_inserts = Some(WRITE);
    let h = setup.start();
    let mut carol = h.client();
    register(&mut carol, "email", "carol@example.com");
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");

    let mut timed = |to: &str| {
        let page = alice.get("/invitations/new");
        assert_eq!(page.status, 200, "{}", page.body);
        let started = std::time::Instant::now();
        let res = alice.post(
            "/invitations",
            &[("_csrf_token", &page.csrf()), ("user[email]", to)],
        );
        (res.status, res.location().to_owned(), started.elapsed())
    };
    let new = timed("dave@example.com");
    let taken = timed("carol@example.com");
    assert_eq!((new.0, &new.1), (taken.0, &taken.1), "the same answer");
    assert!(new.2 >= WRITE, "a new address was written in {:?}", new.2);
    assert!(
        taken.2 >= WRITE,
        "a taken address was answered in {:?}, a written insert takes {WRITE:?}",
        taken.2
    );
}

fn taken_email_is_shown_without_enumeration_protection() {
    let mut setup = Setup::new(Invitation::new());
    setup.builder = Box::new(|b| b.prevent_user_enumeration(false));
    let h = setup.start();
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    let res = invite(&mut alice, "email", "alice@example.com");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("has already been taken"), "{}", res.body);
    assert!(h.mailer.deliveries().is_empty());
}

fn signed_out_users_cannot_invite() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    invite(&mut alice, "email", "bob@example.com");
    let show = h.invite_link("bob@example.com").replace("/edit", "");

    let mut anon = h.client();
    let res = anon.get("/invitations/new");
    assert_eq!(res.status, 302);
    assert_eq!(
        res.location(),
        "/session/new?request_path=%2Finvitations%2Fnew"
    );
    let csrf = anon.get("/session/new").csrf();
    let res = anon.post(
        "/invitations",
        &[("_csrf_token", &csrf), ("user[email]", "eve@example.com")],
    );
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    let res = anon.get(&show);
    assert_eq!(res.status, 302);
    assert!(res.location().starts_with("/session/new?request_path="));
    assert_eq!(h.mailer.count_to("eve@example.com"), 0);
}

fn who_may_invite_refusal_is_forbidden() {
    let ext = Invitation::new().who_may_invite(|u| u.email() == Some("admin@example.com"));
    let h = start(ext);
    let mut admin = h.client();
    register(&mut admin, "email", "admin@example.com");
    let mut bob = h.client();
    register(&mut bob, "email", "bob@example.com");

    let res = bob.get("/invitations/new");
    assert_eq!(res.status, 403);
    assert!(res.body.contains("You are not allowed to invite users."));
    let csrf = bob.get("/registration/edit").csrf();
    let res = bob.post(
        "/invitations",
        &[("_csrf_token", &csrf), ("user[email]", "eve@example.com")],
    );
    assert_eq!(res.status, 403);
    assert!(h
        .config
        .users_context()
        .unwrap()
        .get_by(
            h.config.user_schema(),
            "email",
            &Value::from("eve@example.com")
        )
        .unwrap()
        .is_none());
    assert!(h.mailer.deliveries().is_empty());

    let res = invite(&mut admin, "email", "carol@example.com");
    assert_eq!(res.status, 302);
    let show = h.invite_link("carol@example.com").replace("/edit", "");
    assert_eq!(admin.get(&show).status, 200);
    assert_eq!(bob.get(&show).status, 403);
}

fn expired_invitations_are_rejected() {
    let h = start(Invitation::new().token_ttl(Some(Duration::from_secs(3600))));
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    invite(&mut alice, "email", "bob@example.com");
    let edit = h.invite_link("bob@example.com");

    let mut bob = h.client();
    assert_eq!(bob.get(&edit).status, 200);
    let form = bob.get(&edit);

    let row = h.user("email", "bob@example.com");
    let sent = chrono::Utc::now() - chrono::Duration::minutes(61);
    h.set(&row, INVITATION_SENT_AT, Value::Timestamp(sent));

    let res = bob.get(&edit);
    assert_invalid(&mut bob, &res);
    // A form opened before the expiry cannot be submitted after it either.
    let res = bob.post(
        edit.trim_end_matches("/edit"),
        &[
            ("_csrf_token", &form.csrf()),
            ("_method", "PATCH"),
            ("user[email]", "bob@example.com"),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_invalid(&mut bob, &res);
    assert!(h.user("email", "bob@example.com").password_hash.is_none());
}

fn forged_tokens_csrf_and_methods() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");

    // No CSRF token: refused, nothing created.
    let res = alice.post("/invitations", &[("user[email]", "bob@example.com")]);
    assert_eq!(res.status, 403);
    assert!(h.mailer.deliveries().is_empty());

    invite(&mut alice, "email", "bob@example.com");
    let edit = h.invite_link("bob@example.com");

    // A token signed with another salt, unsigned, or tampered with, is refused.
    let signed = edit
        .strip_prefix("/invitations/")
        .and_then(|p| p.strip_suffix("/edit"))
        .unwrap();
    let raw = h
        .config
        .verifier()
        .verify_token(INVITATION_SALT, signed)
        .unwrap();
    let wrong_salt = h.config.verifier().sign_token("Elixir.Other", &raw);
    let mut anon = h.client();
    let res = anon.get(&format!("/invitations/{wrong_salt}/edit"));
    assert_invalid(&mut anon, &res);
    let res = anon.get(&format!("/invitations/{raw}/edit"));
    assert_invalid(&mut anon, &res);
    let tampered = edit.replacen("SFMyNTY.", "SFMyNTY.x", 1);
    let res = anon.get(&tampered);
    assert_invalid(&mut anon, &res);

    // POST to the invitation without `_method` is not an update.
    let csrf = anon.get(&edit).csrf();
    let res = anon.post(
        edit.trim_end_matches("/edit"),
        &[("_csrf_token", &csrf), ("user[password]", PASSWORD)],
    );
    assert_eq!(res.status, 405);
    // PATCH without a CSRF token is refused.
    let res = anon.post(
        edit.trim_end_matches("/edit"),
        &[("_method", "PATCH"), ("user[password]", PASSWORD)],
    );
    assert_eq!(res.status, 403);
    assert!(h.user("email", "bob@example.com").password_hash.is_none());
}

fn carry_fields_copies_from_the_inviter() {
    let ext = Invitation::new().carry_fields(|inviter, cs| {
        if let Some(org) = inviter.get_int("organization_id") {
            cs.put_change("organization_id", org);
        }
    });
    let mut setup = Setup::new(ext);
    setup.builder = Box::new(|b| b.user_field(FieldDef::new("organization_id", FieldKind::Int)));
    setup.sql = Some((
        "ALTER TABLE users ADD COLUMN organization_id INTEGER NULL;",
        false,
    ));
    let h = setup.start();
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    // Set after sign-in: the session's copy of alice is stale, the row is not.
    let alice_row = h.user("email", "alice@example.com");
    h.set(&alice_row, "organization_id", Value::Int(42));

    invite(&mut alice, "email", "bob@example.com");
    let bob = h.user("email", "bob@example.com");
    assert_eq!(bob.get_int("organization_id"), Some(42));

    // The carried field survives acceptance.
    let mut bob_client = h.client();
    let res = accept(
        &mut bob_client,
        &h.invite_link("bob@example.com"),
        &GOOD_PASSWORDS,
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(
        h.user("email", "bob@example.com")
            .get_int("organization_id"),
        Some(42)
    );
}

/// A users table keyed by `username`, without an `email` column.
const USERNAME_TABLE: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username VARCHAR NOT NULL,
    password_hash VARCHAR NULL,
    inserted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    invitation_token VARCHAR NULL,
    invitation_sent_at TIMESTAMP NULL,
    invitation_accepted_at TIMESTAMP NULL,
    invited_by_id INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    disabled_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX users_username_index ON users (username);
CREATE UNIQUE INDEX users_invitation_token_index ON users (invitation_token);
";

fn username_setup_shows_the_link_to_hand_over() {
    let mut setup = Setup::new(Invitation::new());
    setup.builder = Box::new(|b| b.user_id_field("username"));
    setup.sql = Some((USERNAME_TABLE, true));
    let h = setup.start();
    let mut alice = h.client();
    register(&mut alice, "username", "alice");

    let page = alice.get("/invitations/new");
    assert!(page.body.contains(r#"name="user[username]""#));
    let res = invite(&mut alice, "username", "Bob");
    assert_eq!(res.status, 302, "{}", res.body);
    let show = res.location().to_owned();
    assert!(show.starts_with("/invitations/SFMyNTY."), "{show}");
    assert!(h.mailer.deliveries().is_empty());

    let page = alice.get(&show);
    assert_eq!(page.status, 200);
    let edit = link_path(&page.body);
    assert_eq!(edit, format!("{show}/edit"));

    let mut bob = h.client();
    let form = bob.get(&edit);
    assert!(form.body.contains(r#"value="bob""#), "{}", form.body);
    let res = accept(&mut bob, &edit, &GOOD_PASSWORDS);
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(bob.get("/").body.starts_with("signed in as bob"));
    assert_eq!(
        h.user("username", "bob").get_int(INVITED_BY_ID),
        Some(h.user("username", "alice").id)
    );
}

fn mail_and_pages_follow_the_inviters_language() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    alice.accept_language = Some("de-DE,de;q=0.9".into());
    register(&mut alice, "email", "alice@example.com");
    let page = alice.get("/invitations/new");
    assert!(page.body.contains("Benutzer einladen"));
    invite(&mut alice, "email", "bob@example.com");
    let mail = h.mailer.last_to("bob@example.com").unwrap();
    assert_eq!(mail.subject, "Sie wurden eingeladen");
    assert!(mail.text.contains("alice@example.com hat Sie eingeladen"));

    let mut bob = h.client();
    bob.accept_language = Some("fr".into());
    let form = bob.get(&h.invite_link("bob@example.com"));
    assert!(text(&form).contains("Accepter l'invitation"));
}

/// The PostgreSQL migration and the main flow, in a schema of its own. Runs when
/// `POW_TEST_DATABASE_URL` is set (e.g. postgres://postgres@127.0.0.1:5432/test).
fn postgres_invite_and_accept() {
    let Some(base) = pow_actix::testing::test_database_url() else {
        return;
    };
    let schema = format!("pow_invitation_test_{}", uuid_simple());
    let mut admin = diesel::pg::PgConnection::establish(&base).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let mut setup = Setup::new(Invitation::new());
    setup.db = Db::Postgres { base, schema };
    let h = setup.start();

    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    let res = invite(&mut alice, "email", "bob@example.com");
    assert_eq!(res.status, 302, "{}", res.body);
    let edit = h.invite_link("bob@example.com");
    let mut bob = h.client();
    let res = accept(&mut bob, &edit, &GOOD_PASSWORDS);
    assert_eq!(res.status, 302, "{}", res.body);
    let res = bob.get("/");
    assert!(res.body.starts_with("signed in as bob@example.com"));
    let mut stranger = h.client();
    let res = stranger.get(&edit);
    assert_invalid(&mut stranger, &res);

    let rt = actix_web::rt::Runtime::new().unwrap();
    let alice_row = h.user("email", "alice@example.com");
    let invited = rt.block_on(invited_users(&h.config, &alice_row)).unwrap();
    assert_eq!(invited.len(), 1);
    assert_eq!(invited[0].email(), Some("bob@example.com"));
    // A second invitation token must differ (unique index) and the duplicate is refused.
    invite(&mut alice, "email", "carol@example.com");
    let carol = h.user("email", "carol@example.com");
    let bob_row = h.user("email", "bob@example.com");
    let err = h
        .config
        .users_context()
        .unwrap()
        .update_fields(h.config.user_schema(), &carol, &token_change(&bob_row))
        .unwrap_err();
    assert!(
        matches!(err, pow_actix::users::WriteError::Unique(ref f) if f == "invitation_token"),
        "{err:?}"
    );
}

/// Changes giving a user `other`'s invitation token.
fn token_change(other: &User) -> Changes {
    let mut changes = Changes::new();
    changes.insert(
        "invitation_token".into(),
        other.get("invitation_token").unwrap().clone(),
    );
    changes
}

fn uuid_simple() -> String {
    pow_actix::token::generate_uuid().replace('-', "")
}

fn sqlite_token_index_is_unique() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    invite(&mut alice, "email", "bob@example.com");
    invite(&mut alice, "email", "carol@example.com");
    let bob = h.user("email", "bob@example.com");
    let carol = h.user("email", "carol@example.com");
    assert_ne!(bob.get("invitation_token"), carol.get("invitation_token"));
    let err = h
        .config
        .users_context()
        .unwrap()
        .update_fields(h.config.user_schema(), &carol, &token_change(&bob))
        .unwrap_err();
    assert!(
        matches!(err, pow_actix::users::WriteError::Unique(ref f) if f == "invitation_token"),
        "{err:?}"
    );
}

/// A mailer that always fails, like an unreachable SMTP relay.
struct FailingMailer;

#[async_trait::async_trait]
impl Mailer for FailingMailer {
    async fn deliver(&self, _mail: Mail) -> Result<(), PowError> {
        Err(PowError::Mailer("relay unreachable".into()))
    }
}

fn mail_failure_falls_back_to_the_show_page() {
    let mut setup = Setup::new(Invitation::new());
    setup.builder = Box::new(|b| b.mailer(FailingMailer));
    let h = setup.start();
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    let res = invite(&mut alice, "email", "bob@example.com");
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(
        res.location().starts_with("/invitations/SFMyNTY."),
        "{}",
        res.location()
    );
    let page = alice.get(res.location());
    assert_eq!(page.status, 200);
    assert!(text(&page).contains("The invitation e-mail could not be sent."));
    let edit = link_path(&page.body);
    assert_eq!(edit, format!("{}/edit", res.location()));
    assert_eq!(h.client().get(&edit).status, 200);
}

/// An invitee whose password was set another way (a reset link) can no longer be taken over
/// through the invitation link.
fn a_password_set_elsewhere_ends_the_invitation() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    assert_eq!(invite(&mut alice, "email", "bob@example.com").status, 302);
    let link = h.invite_link("bob@example.com");
    let bob = h.user("email", "bob@example.com");
    let mut page_opened = h.client();
    let page = page_opened.get(&link);
    assert_eq!(page.status, 200);
    // Bob resets his password (the reset extension writes the hash the same way).
    let hash = h.config.hasher().hash("bob's own password").unwrap();
    h.set(&bob, "password_hash", Value::from(hash));
    let mut later = h.client();
    let res = later.get(&link);
    assert_invalid(&mut later, &res);
    // A form opened before the reset cannot write either.
    let update = link.trim_end_matches("/edit");
    let csrf = page.csrf();
    let mut form = vec![("_csrf_token", csrf.as_str()), ("_method", "PATCH")];
    form.extend_from_slice(&GOOD_PASSWORDS);
    let res = page_opened.post(update, &form);
    assert_eq!(res.location(), "/session/new", "{}", res.body);
    let mut signer = h.client();
    assert_eq!(
        signer
            .sign_in("bob@example.com", "bob's own password")
            .location(),
        "/"
    );
}

/// Of ten accepts of one invitation at once, exactly one sets the password.
fn concurrent_accepts_write_once() {
    const RACERS: usize = 10;
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    assert_eq!(invite(&mut alice, "email", "bob@example.com").status, 302);
    let link = h.invite_link("bob@example.com");
    let update = link.trim_end_matches("/edit").to_owned();
    let mut clients: Vec<(Client, String)> = (0..RACERS)
        .map(|_| {
            let mut c = h.client();
            let csrf = c.get(&link).csrf();
            (c, csrf)
        })
        .collect();
    let barrier = std::sync::Barrier::new(RACERS);
    let locations: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(i, (c, csrf))| {
                let (barrier, update) = (&barrier, &update);
                s.spawn(move || {
                    let password = format!("racing password {i:02}");
                    barrier.wait();
                    c.post(
                        update,
                        &[
                            ("_csrf_token", csrf.as_str()),
                            ("_method", "PATCH"),
                            ("user[password]", &password),
                            ("user[password_confirmation]", &password),
                        ],
                    )
                    .location()
                    .to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = locations
        .iter()
        .enumerate()
        .filter(|(_, l)| l.as_str() != "/session/new")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{locations:?}");
    let password = format!("racing password {:02}", winners[0]);
    let mut signer = h.client();
    assert_eq!(signer.sign_in("bob@example.com", &password).location(), "/");
}

/// The users table holds no usable invitation: every string read back from the invitee's
/// and the inviter's rows, signed as an invitation link, is refused, while the mailed link
/// works.
fn the_users_table_opens_no_invitation() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    assert_eq!(invite(&mut alice, "email", "bob@example.com").status, 302);
    let link = h.invite_link("bob@example.com");
    let rows = [
        h.user("email", "alice@example.com"),
        h.user("email", "bob@example.com"),
    ];
    let dumped: Vec<String> = rows
        .iter()
        .flat_map(|row| row.fields.values())
        .filter_map(|value| value.as_str().map(str::to_owned))
        .collect();
    assert!(
        dumped
            .iter()
            .any(|v| rows[1].get_str(INVITATION_TOKEN) == Some(v)),
        "the dump holds the stored token"
    );
    let mut anon = h.client();
    for value in &dumped {
        let signed = h.config.verifier().sign_token(INVITATION_SALT, value);
        let res = anon.get(&format!("/invitations/{signed}/edit"));
        assert_invalid(&mut anon, &res);
    }
    assert_eq!(anon.get(&link).status, 200);
}

/// A row written by Pow keeps the raw UUID in `invitation_token`: the link Pow mailed
/// (signed with Pow's salt and the same secret) is accepted once, then refused.
fn invitations_made_by_pow_are_accepted_once() {
    let h = start(Invitation::new());
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    assert_eq!(invite(&mut alice, "email", "bob@example.com").status, 302);
    let bob = h.user("email", "bob@example.com");
    // Pow's tokens are UUIDs, as generate_uuid makes them.
    let raw = pow_actix::token::generate_uuid();
    h.set(&bob, INVITATION_TOKEN, Value::from(raw.as_str()));
    let pow_link = format!(
        "/invitations/{}/edit",
        h.config.verifier().sign_token(INVITATION_SALT, &raw)
    );
    // The link mailed by pow-rs before the row was rewritten no longer works.
    let mut stale = h.client();
    let res = stale.get(&h.invite_link("bob@example.com"));
    assert_invalid(&mut stale, &res);

    let mut bob_client = h.client();
    let res = accept(&mut bob_client, &pow_link, &GOOD_PASSWORDS);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_ne!(res.location(), "/session/new");
    let mut again = h.client();
    let res = again.get(&pow_link);
    assert_invalid(&mut again, &res);
}

/// The path of the first link to this server in the last mail to `to`.
fn mailed_path(h: &Harness, to: &str) -> String {
    let mail = h.mailer.last_to(to).expect("a mail");
    let start = mail.text.find("http://localhost/").expect("a link") + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| i + start);
    mail.text[start..end].to_owned()
}

/// An invitee who never set a password but signed in another way (a magic link) and then
/// turned on a second factor: the old invitation link must neither set a password nor
/// sign anyone in, since that would skip the second factor.
fn an_invitation_ends_once_the_invitee_signed_in_another_way() {
    use pow_ext_two_factor::{TwoFactor, ENABLED_AT_FIELD, SECRET_FIELD};
    let mut setup = Setup::new(Invitation::new());
    setup.builder = Box::new(|b| {
        b.extension(pow_ext_passwordless::Passwordless::new())
            .extension(TwoFactor::new())
    });
    let h = setup.start();
    let mut alice = h.client();
    register(&mut alice, "email", "alice@example.com");
    assert_eq!(invite(&mut alice, "email", "bob@example.com").status, 302);
    let link = h.invite_link("bob@example.com");
    // Whoever holds the mail opens the form early.
    let mut mallory = h.client();
    let early = mallory.get(&link);
    assert_eq!(early.status, 200, "{}", early.body);

    // Bob signs in by magic link instead of accepting.
    let mut bob = h.client();
    let page = bob.get("/passwordless");
    let res = bob.post(
        "/passwordless",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "bob@example.com"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let magic = mailed_path(&h, "bob@example.com");
    assert!(magic.starts_with("/passwordless/link/"), "{magic}");
    let page = bob.get(&magic);
    let res = bob.post(&magic, &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(bob
        .get("/")
        .body
        .starts_with("signed in as bob@example.com"));
    // ...and turns on a second factor.
    let bob_row = h.user("email", "bob@example.com");
    let mut changes = Changes::new();
    changes.insert(
        SECRET_FIELD.to_owned(),
        Value::from("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
    );
    changes.insert(
        ENABLED_AT_FIELD.to_owned(),
        Value::Timestamp(chrono::Utc::now()),
    );
    h.config
        .users_context()
        .unwrap()
        .update_fields(h.config.user_schema(), &bob_row, &changes)
        .unwrap();
    // Bob signs out: no session of his is left.
    let csrf = bob.get("/invitations/new").csrf();
    let res = bob.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(bob.get("/").body.starts_with("signed in as nobody"));

    // The old link is refused, opened afresh or submitted from the early form.
    let mut later = h.client();
    let res = later.get(&link);
    assert_invalid(&mut later, &res);
    let update = link.trim_end_matches("/edit");
    let csrf = early.csrf();
    let mut form = vec![("_csrf_token", csrf.as_str()), ("_method", "PATCH")];
    form.extend_from_slice(&GOOD_PASSWORDS);
    let res = mallory.post(update, &form);
    assert_invalid(&mut mallory, &res);
    assert!(mallory.get("/").body.starts_with("signed in as nobody"));
    assert_eq!(h.user("email", "bob@example.com").password_hash, None);
}

// ----- JSON --------------------------------------------------------------------------

const API: &str = "/api/v1";
const FRONTEND: &str = "https://app.example.com/invitation?token=";

fn json(res: &Response) -> serde_json::Value {
    serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("not JSON: {}", res.body))
}

fn api(c: &mut Client, method: &str, path: &str, body: serde_json::Value) -> Response {
    c.request(method, &format!("{API}{path}"), Some(body.to_string()))
}

/// An app client signed in over JSON with `email`'s password.
fn app_client(h: &Harness, email: &str) -> Client {
    let mut c = h.client();
    let user = serde_json::json!({ "user": { "email": email, "password": PASSWORD } });
    let res = api(&mut c, "POST", "/session", user);
    assert_eq!(res.status, 200, "{}", res.body);
    let token = json(&res)["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    c.headers
        .push(("Authorization".into(), format!("Bearer {token}")));
    c
}

fn invite_json(c: &mut Client, email: &str) -> Response {
    api(
        c,
        "POST",
        "/invitations",
        serde_json::json!({ "user": { "email": email } }),
    )
}

/// Inviting one address again and again is no mail cannon: at most three invitation
/// mails an hour go to an address, and the answer stays the same. Before, 20 invitations
/// sent 20 mails.
fn repeated_invitations_keep_to_the_addresss_share_of_mails() {
    let h = start(Invitation::new());
    pow_actix::testing::create_user(&h.config, "alice@example.com", PASSWORD).unwrap();
    let mut alice = app_client(&h, "alice@example.com");
    for _ in 0..8 {
        let res = invite_json(&mut alice, "target@example.com");
        assert!(res.status < 300, "{}", res.body);
    }
    let sent = h
        .mailer
        .deliveries()
        .iter()
        .filter(|mail| mail.to == "target@example.com")
        .count();
    assert_eq!(sent, 3);
}

fn an_app_client_invites_and_the_invitee_accepts_over_json() {
    let mut setup = Setup::new(
        Invitation::new().who_may_invite(|u| u.get_str("email") != Some("carol@example.com")),
    );
    setup.builder = Box::new(|b| {
        b.frontend_link(
            pow_ext_invitation::LINK,
            pow_actix::api::LinkTemplate::new(format!("{FRONTEND}{{token}}")).unwrap(),
        )
    });
    let h = setup.start();
    // Enabled, the JSON side is in the API's OpenAPI document.
    let context =
        pow_actix::api::ApiContext::new(h.config.clone(), pow_actix::api::ApiOptions::new());
    let _app = App::new().configure(|cfg| pow_actix::api::register(cfg, &context));
    assert_eq!(context.undocumented_routes().unwrap(), Vec::<String>::new());
    let doc = context.openapi().unwrap();
    assert!(doc["paths"]["/invitations/{token}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["InvitationLink"].is_object());
    for email in ["alice@example.com", "carol@example.com", "dave@example.com"] {
        pow_actix::testing::create_user(&h.config, email, PASSWORD).unwrap();
    }

    // Signed out, or not allowed to invite: refused.
    let mut anonymous = h.client();
    assert_eq!(invite_json(&mut anonymous, "bob@example.com").status, 401);
    let mut carol = app_client(&h, "carol@example.com");
    let res = invite_json(&mut carol, "bob@example.com");
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(json(&res)["errors"][0]["code"], "invitation_not_allowed");
    assert!(h.mailer.last_to("bob@example.com").is_none());

    // Invited: the mail's link opens the app's frontend with the token.
    let mut alice = app_client(&h, "alice@example.com");
    let res = invite_json(&mut alice, " Bob@Example.com ");
    assert_eq!(res.status, 202, "{}", res.body);
    let invited = json(&res);
    assert_eq!(
        invited["data"]["message"],
        "An e-mail with invitation link has been sent."
    );
    let mail = h
        .mailer
        .last_to("bob@example.com")
        .expect("invitation mail");
    let start = mail.text.find(FRONTEND).expect("a link to the frontend");
    let token: String = mail.text[start + FRONTEND.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(!mail.text.contains("http://localhost/invitations/"));

    // An address that has an account answers the same, and its owner gets a sign-in link.
    let res = invite_json(&mut alice, "dave@example.com");
    assert_eq!(res.status, 202, "{}", res.body);
    assert_eq!(json(&res), invited);
    let mail = h
        .mailer
        .last_to("dave@example.com")
        .expect("look-alike mail");
    assert!(
        mail.text.contains("http://localhost/session/new"),
        "{}",
        mail.text
    );
    assert!(!mail.text.contains(FRONTEND));

    // Field errors.
    let res = invite_json(&mut alice, "not an address");
    assert_eq!(res.status, 422, "{}", res.body);
    assert!(
        pow_actix::testing::field_errors(&json(&res), "email")[0].is_string(),
        "{}",
        res.body
    );

    // The invitee's frontend reads the invitation, then accepts it.
    let mut bob = h.client();
    let res = bob.get(&format!("{API}/invitations/{token}"));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(json(&res)["data"]["user"]["email"], "bob@example.com");
    assert!(json(&res)["data"]["expires_at"].is_string());
    let res = bob.get(&format!("{API}/invitations/forged.token.here"));
    assert_eq!(res.status, 404, "{}", res.body);
    assert_eq!(json(&res)["errors"][0]["code"], "invalid_invitation");

    let path = format!("/invitations/{token}");
    let mismatch = serde_json::json!({ "user": {
        "password": PASSWORD, "password_confirmation": "something else entirely" } });
    let res = api(&mut bob, "PATCH", &path, mismatch);
    assert_eq!(res.status, 422, "{}", res.body);
    assert!(pow_actix::testing::field_errors(&json(&res), "password_confirmation")[0].is_string());

    let good = serde_json::json!({ "user": {
        "password": PASSWORD, "password_confirmation": PASSWORD } });
    let res = api(&mut bob, "PATCH", &path, good.clone());
    assert_eq!(res.status, 200, "{}", res.body);
    let access = json(&res)["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut signed_in = h.client();
    signed_in
        .headers
        .push(("Authorization".into(), format!("Bearer {access}")));
    let res = signed_in.get(&format!("{API}/session"));
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        json(&res)["data"]["user"]["email"],
        "bob@example.com",
        "{}",
        res.body
    );
    let bob_row = h.user("email", "bob@example.com");
    assert!(bob_row.get_timestamp(INVITATION_ACCEPTED_AT).is_some());

    // The link works once.
    let res = api(&mut bob, "PATCH", &path, good);
    assert_eq!(res.status, 404, "{}", res.body);
    assert_eq!(bob.get(&format!("{API}{path}")).status, 404);
}

fn an_invitee_without_an_address_gets_the_link_to_hand_over() {
    let mut setup = Setup::new(Invitation::new());
    setup.builder = Box::new(|b| b.user_id_field("username"));
    setup.sql = Some((USERNAME_TABLE, true));
    let h = setup.start();
    let mut alice = h.client();
    register(&mut alice, "username", "alice");
    let res = api(
        &mut alice,
        "POST",
        "/session",
        serde_json::json!({ "user": { "username": "alice", "password": PASSWORD } }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let access = json(&res)["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .headers
        .push(("Authorization".into(), format!("Bearer {access}")));
    let res = api(
        &mut alice,
        "POST",
        "/invitations",
        serde_json::json!({ "user": { "username": "bob" } }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let data = &json(&res)["data"];
    let token = data["token"].as_str().unwrap();
    assert_eq!(
        data["url"].as_str().unwrap(),
        format!("http://localhost/invitations/{token}/edit")
    );
    let res = alice.get(&format!("{API}/invitations/{token}"));
    assert_eq!(
        json(&res)["data"]["user"]["username"],
        "bob",
        "{}",
        res.body
    );
}

// ----- the accept form, on actix-web and on axum -------------------------------------

/// Invites `email` on `inviter`'s behalf from code, as an admin tool does (no mail): the
/// signed token of the invitation's link.
fn invite_from_code(h: &Harness, inviter: &User, email: &str) -> String {
    let params = Params::from([("email".to_owned(), email.to_owned())]);
    let users = h.config.users_context().unwrap();
    Invitation::new()
        .invite(&**users, &h.config, inviter, &params)
        .unwrap()
        .unwrap()
        .signed_token
}

/// The accept form of a pending invitation, for signed-out visitors only: the invitee's
/// address and the password fields, posting `PATCH` to the invitation, in the visitor's
/// language and never stored; a forged, tampered or expired link, the sign-in page saying
/// the invitation doesn't exist.
fn the_accept_form() {
    let h = start(Invitation::new().token_ttl(Some(Duration::from_secs(3600))));
    let alice = pow_actix::testing::create_user(&h.config, "alice@example.com", PASSWORD).unwrap();
    let token = invite_from_code(&h, &alice, "bob@example.com");
    let edit = format!("/invitations/{token}/edit");

    let mut bob = h.client();
    let form = bob.get(&edit);
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body.contains(r#"value="bob@example.com""#),
        "{}",
        form.body
    );
    assert!(form.body.contains(r#"name="user[password]""#));
    assert!(form.body.contains(r#"name="user[password_confirmation]""#));
    assert!(
        form.body
            .contains(&format!(r#"action="/invitations/{token}""#)),
        "{}",
        form.body
    );
    assert!(form.body.contains(r#"value="PATCH""#), "{}", form.body);
    assert!(form
        .header("cache-control")
        .unwrap_or_default()
        .contains("no-store"));
    assert_eq!(form.header("x-frame-options"), Some("DENY"));
    let mut french = h.client();
    french.accept_language = Some("fr".into());
    assert!(text(&french.get(&edit)).contains("Accepter l'invitation"));

    // Opening the link is a GET only: a link checker's HEAD is refused.
    let res = bob.request("HEAD", &edit, None);
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET"));

    // Tampered, unsigned or signed with another salt: no invitation.
    let mut anon = h.client();
    let tampered = edit.replacen("SFMyNTY.", "SFMyNTY.x", 1);
    let res = anon.get(&tampered);
    assert_invalid(&mut anon, &res);
    let raw = h
        .config
        .verifier()
        .verify_token(INVITATION_SALT, &token)
        .unwrap();
    let res = anon.get(&format!("/invitations/{raw}/edit"));
    assert_invalid(&mut anon, &res);
    let wrong_salt = h.config.verifier().sign_token("Elixir.Other", &raw);
    let res = anon.get(&format!("/invitations/{wrong_salt}/edit"));
    assert_invalid(&mut anon, &res);

    // Signed in, the form sends the user away.
    let mut signed_in = h.client();
    assert_eq!(signed_in.sign_in("alice@example.com", PASSWORD).status, 302);
    let res = signed_in.get(&edit);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/");

    // Expired: the link no longer opens the form.
    let row = h.user("email", "bob@example.com");
    let sent = chrono::Utc::now() - chrono::Duration::minutes(61);
    h.set(&row, INVITATION_SENT_AT, Value::Timestamp(sent));
    let res = bob.get(&edit);
    assert_invalid(&mut bob, &res);
}

/// Serves the accept form under `/join/{token}`.
struct MovedRoutes;

impl Routes for MovedRoutes {
    fn extension_route(&self, extension: &str, pattern: &str) -> String {
        match (extension, pattern) {
            (NAME, "/invitations/{token}/edit") => "/join/{token}".to_owned(),
            _ => pattern.to_owned(),
        }
    }
}

/// A routes backend moves the accept form: it is served where the backend puts it, and
/// the invitation's link follows.
fn a_moved_accept_form_is_served_and_linked() {
    let mut setup = Setup::new(Invitation::new());
    setup.builder = Box::new(|b| b.routes(MovedRoutes));
    let h = setup.start();
    let alice = pow_actix::testing::create_user(&h.config, "alice@example.com", PASSWORD).unwrap();
    let token = invite_from_code(&h, &alice, "bob@example.com");
    let link = accept_url(&RequestFacts::default(), &h.config, &token);
    assert_eq!(link, format!("http://localhost/join/{token}"));

    let mut bob = h.client();
    assert_eq!(bob.get(&format!("/invitations/{token}/edit")).status, 404);
    let form = bob.get(&format!("/join/{token}"));
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body.contains(r#"value="bob@example.com""#),
        "{}",
        form.body
    );
}

pow_testkit::on_both!(
    postgres_invite_and_accept,
    an_invitation_ends_once_the_invitee_signed_in_another_way,
    the_accept_form,
    a_moved_accept_form_is_served_and_linked,
    invite_mail_accept_sign_in_and_no_reuse,
    invited_by_relation_is_stored,
    inviting_a_taken_email_answers_and_works_like_a_new_one,
    a_taken_address_takes_as_long_to_invite_as_a_new_one,
    taken_email_is_shown_without_enumeration_protection,
    signed_out_users_cannot_invite,
    who_may_invite_refusal_is_forbidden,
    expired_invitations_are_rejected,
    forged_tokens_csrf_and_methods,
    carry_fields_copies_from_the_inviter,
    username_setup_shows_the_link_to_hand_over,
    mail_and_pages_follow_the_inviters_language,
    sqlite_token_index_is_unique,
    mail_failure_falls_back_to_the_show_page,
    a_password_set_elsewhere_ends_the_invitation,
    concurrent_accepts_write_once,
    the_users_table_opens_no_invitation,
    invitations_made_by_pow_are_accepted_once,
    an_app_client_invites_and_the_invitee_accepts_over_json,
    repeated_invitations_keep_to_the_addresss_share_of_mails,
    an_invitee_without_an_address_gets_the_link_to_hand_over,
);

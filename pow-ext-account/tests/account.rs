//! The account extension over HTTP, on SQLite and PostgreSQL: closing ends every credential
//! (cookie, remember-me, bearer and renewal tokens, reset, passwordless and invitation
//! links), a password sign-in during the grace period offers reactivation and nothing
//! else, the mailed link reopens too; a purge erases every row and store key of the user
//! (checked against the database's own foreign-key catalogue and the extensions' declared
//! tables), is a no-op the second time and finishes after an interrupted run; the export
//! validates against its JSON Schema and holds nothing secret-shaped; an extension with
//! per-user data and no erase hook is refused at `build()`.
//!
//! Every test runs once on actix-web and once on axum (`pow_testkit::on_both!` at the end):
//! the suites that need the JSON API serve it beside the pages on one port
//! (`pow_testkit::serve_with_api`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use pow_actix::audit::{Auditor, DieselAuditSink};
use pow_actix::extension::{ExtensionBuilder, UserData};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::{KeyPattern, MemoryStore, Store};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::{checkout, Database, DieselUsersContext};
use pow_actix::{Extension, PowConfig, PowConfigBuilder, PowError, User};
use pow_ext_account::Account;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REMEMBER: &str = "persistent_session";

struct Harness {
    config: PowConfig,
    addr: SocketAddr,
    mailer: MemoryMailer,
    store: Arc<MemoryStore>,
    users: DieselUsersContext,
}

/// The app's own table about users, erased by its hook; `fail` makes the hook fail once
/// (an interrupted purge).
#[derive(Clone)]
struct Notes {
    users: DieselUsersContext,
    fail: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl UserData for Notes {
    async fn export(&self, _: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        Ok(serde_json::json!({ "notes": count(&self.users, "app_notes", "user_id", user.id) }))
    }

    async fn erase(&self, _: &PowConfig, user: &User) -> Result<(), PowError> {
        if self.fail.swap(false, Ordering::SeqCst) {
            return Err(PowError::Other("the notes store is down".into()));
        }
        execute(
            &self.users,
            &format!(
                "DELETE FROM {} WHERE user_id = {}",
                table(&self.users, "app_notes"),
                user.id
            ),
        );
        Ok(())
    }
}

fn table(users: &DieselUsersContext, name: &str) -> String {
    match users.schema() {
        Some(schema) => format!("\"{schema}\".{name}"),
        None => name.to_owned(),
    }
}

fn execute(users: &DieselUsersContext, sql: &str) {
    match users.database() {
        Database::Sqlite(pool) => {
            diesel::sql_query(sql)
                .execute(&mut *checkout(pool).unwrap())
                .unwrap();
        }
        Database::Postgres(pool) => {
            diesel::sql_query(sql)
                .execute(&mut *checkout(pool).unwrap())
                .unwrap();
        }
        _ => unreachable!(),
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(users: &DieselUsersContext, name: &str, column: &str, id: i64) -> i64 {
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {} WHERE {column} = {id}",
        table(users, name)
    );
    let rows: Vec<Count> = match users.database() {
        Database::Sqlite(pool) => diesel::sql_query(sql).load(&mut *checkout(pool).unwrap()),
        Database::Postgres(pool) => diesel::sql_query(sql).load(&mut *checkout(pool).unwrap()),
        _ => unreachable!(),
    }
    .unwrap();
    rows[0].n
}

#[derive(QueryableByName)]
struct Reference {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

/// Every `(table, column)` the database's own catalogue says references `users`.
fn foreign_keys(users: &DieselUsersContext) -> Vec<(String, String)> {
    let rows: Vec<Reference> = match users.database() {
        Database::Sqlite(pool) => diesel::sql_query(
            "SELECT m.name AS table_name, p.\"from\" AS column_name FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) p WHERE m.type = 'table' AND p.\"table\" = 'users'",
        )
        .load(&mut *checkout(pool).unwrap()),
        Database::Postgres(pool) => diesel::sql_query(format!(
            "SELECT CAST(kcu.table_name AS TEXT) AS table_name, \
                    CAST(kcu.column_name AS TEXT) AS column_name \
             FROM information_schema.table_constraints tc \
             JOIN information_schema.key_column_usage kcu \
               ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema \
             JOIN information_schema.constraint_column_usage ccu \
               ON tc.constraint_name = ccu.constraint_name AND tc.table_schema = ccu.table_schema \
             WHERE tc.constraint_type = 'FOREIGN KEY' AND ccu.table_name = 'users' \
               AND tc.table_schema = '{}'",
            users.schema().unwrap()
        ))
        .load(&mut *checkout(pool).unwrap()),
        _ => unreachable!(),
    }
    .unwrap();
    rows.into_iter()
        .map(|r| (r.table_name, r.column_name))
        .collect()
}

fn start(users: DieselUsersContext, audit: bool) -> Harness {
    start_with(
        users,
        audit,
        Account::new(),
        Arc::default(),
        pow_ext_oauth::OAuth::new(),
        |b| b,
    )
}

fn start_with(
    users: DieselUsersContext,
    audit: bool,
    account: Account,
    fail: Arc<AtomicBool>,
    oauth: pow_ext_oauth::OAuth,
    customize: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> Harness {
    let mailer = MemoryMailer::new();
    let store = Arc::new(MemoryStore::new());
    let notes = Notes {
        users: users.clone(),
        fail,
    };
    let mut builder = PowConfig::builder("t".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .store(store.clone() as Arc<dyn Store>)
        .extension(
            pow_ext_reset_password::ResetPassword::new()
                .mail_delivery(pow_ext_reset_password::MailDelivery::Inline),
        )
        .extension(pow_ext_passwordless::Passwordless::new())
        .extension(pow_ext_invitation::Invitation::new())
        .extension(pow_ext_two_factor::TwoFactor::new())
        .extension(pow_ext_persistent_session::PersistentSession::new())
        .extension(oauth)
        .extension(account.erase_hook(notes));
    builder = customize(builder);
    if audit {
        builder = builder.audit(Auditor::new(DieselAuditSink::new(users.database().clone())));
    }
    let config = builder.build().unwrap();
    users.migrate(&config).unwrap();
    execute(
        &users,
        &format!(
            "CREATE TABLE {} (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES {} (id))",
            table(&users, "app_notes"),
            table(&users, "users")
        ),
    );
    let addr = pow_testkit::serve_with_api(
        config.clone(),
        pow_core::api::ApiOptions::new().browser(pow_core::api::BrowserTransport::new()),
    );
    Harness {
        config,
        addr,
        mailer,
        store,
        users,
    }
}

fn sqlite() -> DieselUsersContext {
    pow_testkit::sqlite("account")
}

fn postgres() -> Option<DieselUsersContext> {
    pow_testkit::postgres("account")
}

fn stored(h: &Harness, id: i64) -> Option<User> {
    h.config
        .users_context()
        .unwrap()
        .get(h.config.user_schema(), id)
        .unwrap()
}

fn sign_in(c: &mut Client, email: &str, remember: bool) -> Response {
    let csrf = c.get("/session/new").csrf();
    c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[password]", PASSWORD),
            (
                "user[persistent_session]",
                if remember { "true" } else { "false" },
            ),
        ],
    )
}

/// The path of the first link to this server in the last mail to `to`.
fn mailed_path(h: &Harness, to: &str) -> String {
    link_in(&h.mailer, to)
}

/// The path of the first link to this server in the last mail `mailer` sent to `to`.
fn link_in(mailer: &MemoryMailer, to: &str) -> String {
    let mail = mailer.last_to(to).expect("a mail");
    let start = mail.text.find("http://localhost/").expect("a link") + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| i + start);
    mail.text[start..end].to_owned()
}

/// A JSON client signed in with the password: its access and renewal tokens.
fn api_pair(h: &Harness) -> (String, String) {
    let mut app = Client::new(h.addr);
    let body = format!(r#"{{"user": {{"email": "{EMAIL}", "password": "{PASSWORD}"}}}}"#);
    let res = app.request("POST", "/api/v1/session", Some(body));
    assert_eq!(res.status, 200, "{}", res.body);
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    (
        json["data"]["access_token"].as_str().unwrap().to_owned(),
        json["data"]["renewal_token"].as_str().unwrap().to_owned(),
    )
}

fn bearer(h: &Harness, method: &str, path: &str, token: &str) -> Response {
    let mut app = Client::new(h.addr);
    app.headers
        .push(("Authorization".into(), format!("Bearer {token}")));
    app.request(method, path, None)
}

fn whoami(c: &mut Client) -> String {
    c.get("/me").body
}

fn close(c: &mut Client) -> Response {
    let page = c.get("/account/close");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("14 days") || page.body.contains("erased"),
        "{}",
        page.body
    );
    c.post("/account/close", &[("_csrf_token", &page.csrf())])
}

fn closing_ends_every_credential(users: DieselUsersContext) {
    let h = start(users, false);
    let ada = pow_actix::testing::create_user(&h.config, EMAIL, PASSWORD).unwrap();

    // Every kind of credential, issued before the account closes.
    let mut browser = Client::new(h.addr);
    assert_eq!(sign_in(&mut browser, EMAIL, false).status, 302);
    assert_eq!(whoami(&mut browser), format!("user:{}", ada.id));
    let mut laptop = Client::new(h.addr);
    assert_eq!(sign_in(&mut laptop, EMAIL, true).status, 302);
    let mut remembered = Client::new(h.addr);
    remembered.cookies.insert(
        REMEMBER.into(),
        laptop
            .cookies
            .get(REMEMBER)
            .expect("a remember-me cookie")
            .clone(),
    );
    // The remember-me cookie alone signs in (before the closing).
    assert_eq!(whoami(&mut remembered), format!("user:{}", ada.id));
    let (access, renewal) = api_pair(&h);
    assert_eq!(bearer(&h, "GET", "/api/v1/session", &access).status, 200);
    let mut other = Client::new(h.addr);
    let page = other.get("/reset-password/new");
    other.post(
        "/reset-password",
        &[("_csrf_token", &page.csrf()), ("user[email]", EMAIL)],
    );
    let reset_link = mailed_path(&h, EMAIL);
    assert!(reset_link.starts_with("/reset-password/"), "{reset_link}");
    assert_eq!(other.get(&reset_link).status, 200);
    let page = other.get("/passwordless");
    other.post(
        "/passwordless",
        &[("_csrf_token", &page.csrf()), ("user[email]", EMAIL)],
    );
    let passwordless_link = mailed_path(&h, EMAIL);
    assert!(
        passwordless_link.starts_with("/passwordless/link/"),
        "{passwordless_link}"
    );
    let page = browser.get("/invitations/new");
    let res = browser.post(
        "/invitations",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "bob@example.com"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let invitation_link = mailed_path(&h, "bob@example.com");

    // Close: the browser is signed out and told when the account goes.
    let res = close(&mut browser);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");
    let page = browser.get("/session/new");
    assert!(
        page.body.contains("Your account is closed"),
        "{}",
        page.body
    );
    let closed = stored(&h, ada.id).unwrap();
    assert!(closed.is_closed());
    let erase_after = Account::erase_date(&closed).unwrap();
    let grace = erase_after - closed.get_timestamp("closed_at").unwrap();
    assert_eq!(grace.num_days(), 14);
    let notice = h.mailer.last_to(EMAIL).unwrap();
    assert!(notice.subject.contains("closed"), "{}", notice.subject);
    let reactivation_link = mailed_path(&h, EMAIL);
    assert!(
        reactivation_link.starts_with("/account/reactivate/"),
        "{reactivation_link}"
    );

    // Every credential fails.
    assert_eq!(whoami(&mut browser), "anonymous");
    assert_eq!(whoami(&mut remembered), "anonymous");
    assert_eq!(bearer(&h, "GET", "/api/v1/session", &access).status, 401);
    assert_eq!(
        bearer(&h, "POST", "/api/v1/session/renew", &renewal).status,
        401
    );
    let mut stranger = Client::new(h.addr);
    // The reset link's form is gone (it rendered before the closing).
    assert_eq!(stranger.get(&reset_link).status, 302);
    let page = stranger.get(&passwordless_link);
    let res = stranger.post(&passwordless_link, &[("_csrf_token", &page.csrf())]);
    assert_ne!(res.location(), "/", "{}", res.body);
    assert_eq!(whoami(&mut stranger), "anonymous");
    let res = stranger.get(&invitation_link);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");
    let body = format!(r#"{{"user": {{"email": "{EMAIL}", "password": "{PASSWORD}"}}}}"#);
    let res = Client::new(h.addr).request("POST", "/api/v1/session", Some(body));
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(res.body.contains("account_closed"), "{}", res.body);

    // A password sign-in offers reactivation, and nothing else.
    let mut back = Client::new(h.addr);
    let res = sign_in(&mut back, EMAIL, false);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/account/reactivate");
    assert_eq!(whoami(&mut back), "anonymous");
    assert!(!back.cookies.contains_key(REMEMBER));
    let page = back.get("/account/reactivate");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains(&erase_after.format("%Y-%m-%d").to_string()));
    // A wrong password is not offered anything.
    let mut wrong = Client::new(h.addr);
    let csrf = wrong.get("/session/new").csrf();
    let res = wrong.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", EMAIL),
            ("user[password]", "wrong password!"),
        ],
    );
    assert_eq!(res.status, 200);
    assert_eq!(wrong.get("/account/reactivate").status, 302);
    let res = back.post("/account/reactivate", &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut back), format!("user:{}", ada.id));
    assert!(!stored(&h, ada.id).unwrap().is_closed());
    assert!(Account::erase_date(&stored(&h, ada.id).unwrap()).is_none());
    // The link of that closing is spent with it.
    let res = Client::new(h.addr).get(&reactivation_link);
    assert_eq!(res.status, 302);

    // Closed again, the mailed link reopens without signing in.
    assert_eq!(close(&mut back).status, 302);
    let link = mailed_path(&h, EMAIL);
    let mut mailbox = Client::new(h.addr);
    let page = mailbox.get(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    let res = mailbox.post(&link, &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut mailbox), "anonymous");
    assert!(!stored(&h, ada.id).unwrap().is_closed());
    assert_eq!(sign_in(&mut mailbox, EMAIL, false).location(), "/");
}

fn closing_ends_every_credential_on_sqlite() {
    closing_ends_every_credential(sqlite());
}

fn closing_ends_every_credential_on_postgres() {
    if let Some(users) = postgres() {
        closing_ends_every_credential(users);
    }
}

/// What of user `id` the store still holds: key segments naming the id (sessions,
/// indexes) and JSON values with it as `user_id`.
async fn store_keys_of(store: &MemoryStore, id: i64) -> Vec<String> {
    let mut found = Vec::new();
    let named = |segment: &str| segment == id.to_string() || segment.ends_with(&format!(".{id}"));
    for namespace in store.namespaces() {
        for len in 1..=6 {
            let pattern = vec![KeyPattern::Any; len];
            for (key, value) in store.all(&namespace, &pattern).await.unwrap() {
                let json: Option<serde_json::Value> = serde_json::from_slice(&value).ok();
                let owned = json
                    .as_ref()
                    .and_then(|v| v.get("user_id"))
                    .and_then(serde_json::Value::as_i64)
                    == Some(id);
                if key.segments().iter().any(|s| named(s)) || owned {
                    found.push(format!("{namespace}: {:?}", key.segments()));
                }
            }
        }
    }
    found
}

fn purge_erases_everything(users: DieselUsersContext, audit: bool) {
    let fail = Arc::new(AtomicBool::new(false));
    let h = start_with(
        users,
        audit,
        Account::new(),
        fail.clone(),
        pow_ext_oauth::OAuth::new(),
        |b| b,
    );
    let ada = pow_actix::testing::create_user(&h.config, EMAIL, PASSWORD).unwrap();
    let eve = pow_actix::testing::create_user(&h.config, "eve@example.com", PASSWORD).unwrap();
    // Data in every place: sessions, remember-me, API tokens, a linked provider account,
    // an invitation sent (pending) and one accepted, the app's own table.
    let mut browser = Client::new(h.addr);
    sign_in(&mut browser, EMAIL, true);
    api_pair(&h);
    let page = browser.get("/invitations/new");
    browser.post(
        "/invitations",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "bob@example.com"),
        ],
    );
    let bob = h
        .config
        .users_context()
        .unwrap()
        .get_by(h.config.user_schema(), "email", &"bob@example.com".into())
        .unwrap()
        .unwrap();
    let mut changes = pow_actix::users::Changes::new();
    changes.insert("invited_by_id".into(), ada.id.into());
    actix_web::rt::System::new()
        .block_on(pow_actix::admin::update_user(&h.config, &eve, changes))
        .unwrap();
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S");
    execute(
        &h.users,
        &format!(
            "INSERT INTO {} (user_id, provider, uid, email, inserted_at, updated_at) \
             VALUES ({}, 'corp', 'ada-at-corp', '{EMAIL}', '{now}', '{now}')",
            table(&h.users, "user_identities"),
            ada.id
        ),
    );
    execute(
        &h.users,
        &format!(
            "INSERT INTO {} (id, user_id) VALUES (1, {})",
            table(&h.users, "app_notes"),
            ada.id
        ),
    );

    // The export first: it validates and holds nothing secret-shaped.
    let mut res = browser.get("/account/export");
    if res.status == 302 {
        res = browser.get("/account/export");
    }
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let export: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    check_export(&export, &ada);

    // Closed: not due yet, so a purge leaves it.
    close(&mut browser);
    let system = actix_web::rt::System::new();
    let account = Account::new();
    let purge = system
        .block_on(account.purge_due(&h.config, chrono::Utc::now()))
        .unwrap();
    assert!(purge.erased.is_empty(), "{purge:?}");
    assert!(stored(&h, ada.id).is_some());

    // Due: the first purge is interrupted by the app's hook, the second finishes.
    let later = chrono::Utc::now() + chrono::Duration::days(15);
    fail.store(true, Ordering::SeqCst);
    let purge = system
        .block_on(account_of(&h).purge_due(&h.config, later))
        .unwrap();
    assert_eq!(purge.failed.len(), 1, "{purge:?}");
    assert!(stored(&h, ada.id).is_some(), "the row goes last");
    let purge = system
        .block_on(account_of(&h).purge_due(&h.config, later))
        .unwrap();
    assert_eq!(purge.erased, vec![ada.id], "{purge:?}");
    assert!(purge.failed.is_empty(), "{purge:?}");
    assert!(stored(&h, ada.id).is_none());
    let again = system
        .block_on(account_of(&h).purge_due(&h.config, later))
        .unwrap();
    assert!(
        again.erased.is_empty() && again.failed.is_empty(),
        "{again:?}"
    );

    // No row references the user: every foreign key the database knows, and every table
    // an extension declared.
    let mut references = foreign_keys(&h.users);
    assert!(
        references.iter().any(|(t, _)| t == "user_identities")
            && references.iter().any(|(t, _)| t == "app_notes"),
        "{references:?}"
    );
    for (_, declared) in h.config.extensions().user_tables() {
        references.push((declared.table.to_owned(), declared.column.to_owned()));
    }
    references.push(("users".into(), "id".into()));
    for (name, column) in &references {
        assert_eq!(count(&h.users, name, column, ada.id), 0, "{name}.{column}");
    }
    // Pending invitees of hers are gone; accepted ones stay, unlinked.
    assert!(stored(&h, bob.id).is_none());
    let eve = stored(&h, eve.id).unwrap();
    assert_eq!(eve.get_int("invited_by_id"), None);
    // No store key of hers remains.
    let left = system.block_on(store_keys_of(&h.store, ada.id));
    assert!(left.is_empty(), "{left:?}");
    if audit {
        let sink = DieselAuditSink::new(h.users.database().clone());
        let kept = pow_actix::audit::AuditSink::query(
            &sink,
            &pow_actix::audit::AuditQuery {
                user_id: Some(ada.id),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(kept.is_empty(), "{kept:?}");
        let subject = pow_actix::audit::erased_subject(&h.config, ada.id);
        let all = pow_actix::audit::AuditSink::query(
            &sink,
            &pow_actix::audit::AuditQuery {
                limit: 10_000,
                ..Default::default()
            },
        )
        .unwrap();
        let hers: Vec<_> = all
            .iter()
            .filter(|e| e.identifier_hash.as_deref() == Some(subject.as_str()))
            .collect();
        assert!(hers.iter().any(|e| e.name == "account.closed"), "{all:?}");
        assert!(hers.iter().any(|e| e.name == "account.erased"), "{all:?}");
        assert!(hers
            .iter()
            .all(|e| e.ip.is_none() && e.user_agent.is_none()));
    }
}

fn account_of(_h: &Harness) -> Account {
    Account::new()
}

fn check_export(export: &serde_json::Value, user: &User) {
    assert_eq!(export["schema_version"], 1);
    assert_eq!(export["user"]["id"], user.id);
    assert_eq!(export["user"]["email"], EMAIL);
    assert!(
        export["sessions"].as_array().unwrap().len() >= 2,
        "{export}"
    );
    assert_eq!(
        export["extensions"]["pow_oauth"]["identities"][0]["provider"], "corp",
        "{export}"
    );
    assert_eq!(export["extensions"]["pow_account"]["notes"], 1, "{export}");
    assert_eq!(
        export["extensions"]["pow_invitation"]["invitations_sent"], 2,
        "{export}"
    );
    let omitted: Vec<&str> = export["omissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["item"].as_str())
        .collect();
    assert!(omitted.contains(&"user.password_hash"), "{omitted:?}");
    assert!(omitted.contains(&"user.totp_secret"), "{omitted:?}");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/export.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(export)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{export}");
    // Nothing shaped like a hash, a secret or a token: long runs of base64 or hex.
    let mut strings = Vec::new();
    collect_strings(export, &mut strings);
    for s in strings {
        let shaped = s.len() >= 20
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.' | '$')
            })
            && s.chars().any(|c| c.is_ascii_digit())
            && !s.contains('@');
        assert!(!shaped, "a secret-shaped value in the export: {s}");
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn purge_erases_everything_on_sqlite() {
    purge_erases_everything(sqlite(), true);
}

fn purge_erases_everything_on_postgres() {
    if let Some(users) = postgres() {
        purge_erases_everything(users, false);
    }
}

/// An extension with a table about users and no erase hook.
struct Forgetful;

impl Extension for Forgetful {
    fn name(&self) -> &'static str {
        "forgetful"
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.user_table("forgetful_things", "user_id");
    }
}

#[test]
fn an_extension_with_user_data_and_no_erase_hook_is_refused() {
    let err = PowConfig::builder("t".repeat(64))
        .extension(Forgetful)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("forgetful"), "{err}");
    assert!(
        err.to_string().contains("ExtensionBuilder::user_data"),
        "{err}"
    );
}

fn an_app_client_closes_reopens_and_exports_over_json() {
    let h = start(sqlite(), false);
    let ada = pow_actix::testing::create_user(&h.config, EMAIL, PASSWORD).unwrap();
    let (access, _) = api_pair(&h);

    let export = bearer(&h, "GET", "/api/v1/account/export", &access);
    assert_eq!(export.status, 200, "{}", export.body);
    let json: serde_json::Value = serde_json::from_str(&export.body).unwrap();
    assert_eq!(json["user"]["id"], ada.id);
    assert_eq!(
        bearer(&h, "GET", "/api/v1/account/export", "not-a-token").status,
        401
    );

    let res = bearer(&h, "POST", "/api/v1/account/close", &access);
    assert_eq!(res.status, 200, "{}", res.body);
    let closed: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&res.body).unwrap()["data"].clone();
    assert!(closed["erase_after"].is_string(), "{closed}");
    assert_eq!(bearer(&h, "GET", "/api/v1/session", &access).status, 401);

    let credentials =
        |password: &str| format!(r#"{{"user": {{"email": "{EMAIL}", "password": "{password}"}}}}"#);
    let mut app = Client::new(h.addr);
    let res = app.request("POST", "/api/v1/session", Some(credentials(PASSWORD)));
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(res.body.contains("account_closed"), "{}", res.body);
    let res = app.request(
        "POST",
        "/api/v1/account/reactivate",
        Some(credentials("not the password")),
    );
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(stored(&h, ada.id).unwrap().is_closed());
    let res = app.request(
        "POST",
        "/api/v1/account/reactivate",
        Some(credentials(PASSWORD)),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(!stored(&h, ada.id).unwrap().is_closed());
    // An open account is answered as a wrong password is: no oracle for passwords.
    let res = app.request(
        "POST",
        "/api/v1/account/reactivate",
        Some(credentials(PASSWORD)),
    );
    let wrong = app.request(
        "POST",
        "/api/v1/account/reactivate",
        Some(credentials("not the password")),
    );
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(res.body, wrong.body);
    let res = app.request("POST", "/api/v1/session", Some(credentials(PASSWORD)));
    assert_eq!(res.status, 200, "{}", res.body);

    // A mailed link's token reopens too.
    let (access, _) = api_pair(&h);
    assert_eq!(
        bearer(&h, "POST", "/api/v1/account/close", &access).status,
        200
    );
    let link = mailed_path(&h, EMAIL);
    let token = link.trim_start_matches("/account/reactivate/");
    let res = app.request(
        "POST",
        "/api/v1/account/reactivate",
        Some(format!(r#"{{"token": "{token}x"}}"#)),
    );
    assert_eq!(res.status, 401, "{}", res.body);
    let res = app.request(
        "POST",
        "/api/v1/account/reactivate",
        Some(format!(r#"{{"token": "{token}"}}"#)),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(!stored(&h, ada.id).unwrap().is_closed());
}

/// An account without a password closes over JSON through the mailed confirmation when
/// its session is not fresh: `202`, then the link's token closes it, once.
fn an_app_client_without_a_password_closes_by_mail() {
    let h = start(sqlite(), false);
    let ada = pow_actix::testing::create_user(&h.config, EMAIL, PASSWORD).unwrap();
    let (access, _) = api_pair(&h);
    execute(
        &h.users,
        &format!(
            "UPDATE users SET password_hash = NULL WHERE id = {}",
            ada.id
        ),
    );
    // The sign-in was an hour ago: not fresh.
    actix_web::rt::System::new().block_on(async {
        let cache = pow_actix::session::CredentialsCache::new(&h.config);
        for id in cache.sessions(ada.id).await.unwrap() {
            let (user, mut metadata) = cache.get(&id).await.unwrap().unwrap();
            metadata.authenticated_at = Some(pow_actix::time::now_ms() - 3_600_000);
            cache.put(&id, &user, &metadata).await.unwrap();
        }
    });

    let res = bearer(&h, "POST", "/api/v1/account/close", &access);
    assert_eq!(res.status, 202, "{}", res.body);
    let answer: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(answer["data"]["confirmation_sent"], true, "{answer}");
    assert!(
        !stored(&h, ada.id).unwrap().is_closed(),
        "not before the link"
    );
    let link = mailed_path(&h, EMAIL);
    let token = link
        .strip_prefix("/account/close/")
        .unwrap_or_else(|| panic!("the confirmation link: {link}"))
        .to_owned();

    let mut app = Client::new(h.addr);
    let close = |app: &mut Client, token: &str| {
        app.request("POST", &format!("/api/v1/account/close/{token}"), None)
    };
    let res = close(&mut app, &format!("{token}x"));
    assert_eq!(res.status, 401, "{}", res.body);
    assert!(res.body.contains("invalid_token"), "{}", res.body);
    assert!(!stored(&h, ada.id).unwrap().is_closed());
    let res = close(&mut app, &token);
    assert_eq!(res.status, 200, "{}", res.body);
    let answer: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(answer["data"]["closed"], true, "{answer}");
    assert!(stored(&h, ada.id).unwrap().is_closed());
    assert_eq!(bearer(&h, "GET", "/api/v1/session", &access).status, 401);
    // A closed account's link closes nothing more.
    assert_eq!(close(&mut app, &token).status, 401);
}

/// The local path of an absolute URL to this server.
fn local(url: &str) -> String {
    url.trim_start_matches("http://localhost").to_owned()
}

fn a_provider_signs_no_closed_account_in() {
    use pow_ext_oauth::testing::{FakeProvider, Login, CLIENT_ID, CLIENT_SECRET};
    let provider = FakeProvider::start();
    provider.login_as(Login::new("ada-at-fake", EMAIL));
    let oauth = pow_ext_oauth::OAuth::new()
        .provider(pow_ext_oauth::Provider::openid_connect(
            "fake",
            "Fake",
            &provider.issuer(),
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .unwrap();
    let h = start_with(
        sqlite(),
        false,
        Account::new(),
        Arc::default(),
        oauth,
        |b| b,
    );
    let ada = pow_actix::testing::create_user(&h.config, EMAIL, PASSWORD).unwrap();
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S");
    execute(
        &h.users,
        &format!(
            "INSERT INTO user_identities (user_id, provider, uid, email, inserted_at, updated_at) \
             VALUES ({}, 'fake', 'ada-at-fake', '{EMAIL}', '{now}', '{now}')",
            ada.id
        ),
    );
    let provider_sign_in = |browser: &mut Client| {
        let res = browser.get("/auth/fake/new");
        assert_eq!(res.status, 302, "{}", res.body);
        let mut at_provider = Client::new(provider.addr);
        let back = at_provider.get(&res.location().replace(&provider.issuer(), ""));
        assert_eq!(back.status, 302, "{}", back.body);
        browser.get(&local(back.location()))
    };
    let mut browser = Client::new(h.addr);
    provider_sign_in(&mut browser);
    assert_eq!(whoami(&mut browser), format!("user:{}", ada.id));

    let mut with_password = Client::new(h.addr);
    sign_in(&mut with_password, EMAIL, false);
    assert_eq!(close(&mut with_password).location(), "/session/new");
    assert!(stored(&h, ada.id).unwrap().is_closed());
    assert_eq!(whoami(&mut browser), "anonymous");
    let mut again = Client::new(h.addr);
    let res = provider_sign_in(&mut again);
    assert_ne!(res.status, 500, "{}", res.body);
    assert_eq!(whoami(&mut again), "anonymous");
}

fn a_closed_accounts_address_change_link_finds_nothing() {
    let users = sqlite();
    let mailer = MemoryMailer::new();
    let config = PowConfig::builder("t".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .extension(pow_ext_email_confirmation::EmailConfirmation::new())
        .extension(Account::new())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let ada = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let mut changes = pow_actix::users::Changes::new();
    changes.insert(
        "email_confirmed_at".into(),
        pow_actix::users::Value::Timestamp(chrono::Utc::now()),
    );
    actix_web::rt::System::new()
        .block_on(pow_actix::admin::update_user(&config, &ada, changes))
        .unwrap();
    let addr = pow_testkit::serve(config.clone());
    let mut c = Client::new(addr);
    assert_eq!(sign_in(&mut c, EMAIL, false).location(), "/");
    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("_method", "PATCH"),
            ("user[email]", "new@example.com"),
            ("user[current_password]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let mail = mailer
        .last_to("new@example.com")
        .expect("a confirmation mail");
    let start = mail.text.find("http://localhost/confirm-email/").unwrap();
    let link: String = mail.text[start + "http://localhost".len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    assert_eq!(close(&mut c).location(), "/session/new");
    let res = Client::new(addr).get(&link);
    assert_eq!(res.status, 302, "{}", res.body);
    let stored = config
        .users_context()
        .unwrap()
        .get(config.user_schema(), ada.id)
        .unwrap()
        .unwrap();
    assert_eq!(stored.email(), Some(EMAIL), "the change was not confirmed");
}

/// A `siteverify` service on loopback (a stand-in for the CAPTCHA provider, not the app):
/// the answer `pass` succeeds, anything else fails.
fn fake_siteverify() -> String {
    use actix_web::{web, HttpResponse};
    let addr = pow_actix::test_client::serve(|| {
        actix_web::App::new().route(
            "/siteverify",
            web::post().to(|form: web::Form<Vec<(String, String)>>| async move {
                let pass = form.iter().any(|(k, v)| k == "response" && v == "pass");
                HttpResponse::Ok().json(serde_json::json!({ "success": pass }))
            }),
        )
    });
    format!("http://{addr}/siteverify")
}

/// Reopening over JSON checks a password, so it asks for the CAPTCHA as a sign-in does,
/// and the right password of an open account is answered as a wrong one: the route is no
/// CAPTCHA-free oracle for credential stuffing.
fn reactivating_by_password_asks_for_the_captcha_and_hides_open_accounts() {
    use pow_actix::captcha::{Captcha, SiteVerify};
    let captcha =
        Captcha::new(SiteVerify::turnstile("site-key", "secret").verify_url(fake_siteverify()));
    let h = start_with(
        sqlite(),
        false,
        Account::new(),
        Arc::default(),
        pow_ext_oauth::OAuth::new(),
        |b| b.captcha(captcha),
    );
    pow_actix::testing::create_user(&h.config, EMAIL, PASSWORD).unwrap();
    let mut app = Client::new(h.addr);
    let body = |password: &str| {
        Some(serde_json::json!({ "user": { "email": EMAIL, "password": password } }).to_string())
    };
    let res = app.request("POST", "/api/v1/account/reactivate", body(PASSWORD));
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("captcha_invalid"), "{}", res.body);
    app.headers = vec![("X-Captcha-Response".into(), "fail".into())];
    let res = app.request("POST", "/api/v1/account/reactivate", body(PASSWORD));
    assert_eq!(res.status, 400, "{}", res.body);
    app.headers = vec![("X-Captcha-Response".into(), "pass".into())];
    let right = app.request("POST", "/api/v1/account/reactivate", body(PASSWORD));
    let wrong = app.request(
        "POST",
        "/api/v1/account/reactivate",
        body("not the password"),
    );
    assert_eq!(right.status, 401, "{}", right.body);
    assert_eq!(right.body, wrong.body);
}

/// Support access neither closes the account (by sudo mode or by the mailed confirmation
/// of an account without a password, HTML and JSON alike) nor starts for an account its
/// owner closed.
fn support_access_closes_nothing_and_skips_closed_accounts() {
    use pow_actix::session::Impersonation;
    let staff = |user: &User| {
        user.email()
            .is_some_and(|email| email.ends_with("@staff.example"))
    };
    let h = start_with(
        sqlite(),
        true,
        Account::new(),
        Arc::default(),
        pow_ext_oauth::OAuth::new(),
        move |b| b.impersonation(Impersonation::new(staff)),
    );
    let admin_email = "root@staff.example";
    let root = pow_actix::testing::create_user(&h.config, admin_email, PASSWORD).unwrap();
    let ada = pow_actix::testing::create_user(&h.config, EMAIL, PASSWORD).unwrap();
    // Ada has no password: closing asks for a mailed confirmation.
    execute(
        &h.users,
        &format!(
            "UPDATE {} SET password_hash = NULL WHERE id = {}",
            table(&h.users, "users"),
            ada.id
        ),
    );
    let mut admin = Client::new(h.addr);
    assert_eq!(sign_in(&mut admin, admin_email, false).status, 302);
    let impersonate = |admin: &mut Client, id: i64| {
        let csrf = admin.get("/registration/sessions").csrf();
        let id = id.to_string();
        admin.post(
            "/impersonation",
            &[
                ("_csrf_token", csrf.as_str()),
                ("user[user_id]", id.as_str()),
                ("user[reason]", "ticket 7"),
            ],
        )
    };
    assert_eq!(impersonate(&mut admin, ada.id).status, 302);
    assert_eq!(whoami(&mut admin), format!("user:{}", ada.id));
    let mails = h.mailer.count_to(EMAIL);
    // HTML: refused.
    assert_eq!(close(&mut admin).status, 403);
    // JSON on the browser transport (the support cookie): refused as well, no mail.
    admin.headers = vec![("Origin".into(), format!("http://{}", h.addr))];
    let res = admin.request("POST", "/api/v1/browser/account/close", Some("{}".into()));
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(res.body.contains("impersonation_forbidden"), "{}", res.body);
    admin.headers.clear();
    assert_eq!(
        h.mailer.count_to(EMAIL),
        mails,
        "no closing confirmation mailed"
    );
    assert!(!stored(&h, ada.id).unwrap().is_closed());

    // Once Ada closed her account, support access to it does not start.
    let mut admin = Client::new(h.addr);
    assert_eq!(sign_in(&mut admin, admin_email, false).status, 302);
    let now = chrono::Utc::now().naive_utc().format("%Y-%m-%d %H:%M:%S");
    execute(
        &h.users,
        &format!(
            "UPDATE {} SET closed_at = '{now}' WHERE id = {}",
            table(&h.users, "users"),
            ada.id
        ),
    );
    let res = impersonate(&mut admin, ada.id);
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(whoami(&mut admin), format!("user:{}", root.id));
}

// The pages on the engine's page routes (closing, the export, reactivation, the mailed
// links), on actix-web and on axum alike: each test below runs once on each (`on_both!` at
// the end). Most close the account through the engine, to start from a closed one.

/// A setup served on the test's framework by `pow_testkit::serve`: its pages under the
/// mount path and `GET /protected` for signed-in users.
struct Site {
    config: PowConfig,
    addr: SocketAddr,
    mailer: MemoryMailer,
    users: DieselUsersContext,
    account: Account,
}

fn site(customize: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder) -> Site {
    let users = sqlite();
    let mailer = MemoryMailer::new();
    let account = Account::new();
    let builder = PowConfig::builder("t".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .extension(pow_ext_persistent_session::PersistentSession::new())
        .extension(account.clone());
    let config = customize(builder).build().unwrap();
    users.migrate(&config).unwrap();
    let addr = pow_testkit::serve(config.clone());
    Site {
        config,
        addr,
        mailer,
        users,
        account,
    }
}

impl Site {
    fn client(&self) -> Client {
        Client::new(self.addr)
    }

    fn user(&self, email: &str) -> User {
        pow_actix::testing::create_user(&self.config, email, PASSWORD).unwrap()
    }

    fn stored(&self, id: i64) -> User {
        self.config
            .users_context()
            .unwrap()
            .get(self.config.user_schema(), id)
            .unwrap()
            .unwrap()
    }

    /// Closes `user`'s account as the closing page does; the notice mail carries the
    /// reactivation link.
    fn close(&self, user: &User) -> chrono::DateTime<chrono::Utc> {
        let lang = "en".parse().unwrap();
        let closed = actix_web::rt::System::new()
            .block_on(self.account.close(&self.config, user, &lang))
            .unwrap();
        match closed {
            pow_ext_account::Closed::Scheduled(at) => at,
            pow_ext_account::Closed::Erased => panic!("erased at once"),
        }
    }
}

fn is_signed_in(c: &mut Client) -> bool {
    c.get("/protected").status == 200
}

/// The value of the page's hidden field `name`.
fn hidden(page: &Response, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.body.find(&marker).expect("the hidden field") + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].to_owned()
}

/// Submits the reactivation page as a browser does: its CSRF token and remember-me choice.
fn reopen(c: &mut Client, page: &Response, path: &str) -> Response {
    let persist = hidden(page, "user[persistent_session]");
    c.post(
        path,
        &[
            ("_csrf_token", &page.csrf()),
            ("user[persistent_session]", &persist),
        ],
    )
}

fn a_password_sign_in_of_a_closed_account_offers_reactivation() {
    let site = site(|b| b);
    let ada = site.user(EMAIL);
    let erase_after = site.close(&ada);
    let reactivation_link = link_in(&site.mailer, EMAIL);
    assert!(
        reactivation_link.starts_with("/account/reactivate/"),
        "{reactivation_link}"
    );

    let mut back = site.client();
    let res = sign_in(&mut back, EMAIL, false);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/account/reactivate");
    assert!(!is_signed_in(&mut back));
    assert!(!back.cookies.contains_key(REMEMBER));
    let page = back.get("/account/reactivate");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page.body.contains("Reopen your account"), "{}", page.body);
    assert!(page
        .body
        .contains(&erase_after.format("%Y-%m-%d").to_string()));
    assert!(
        page.body.contains("action=\"/account/reactivate\""),
        "{}",
        page.body
    );

    // A wrong password is not offered anything.
    let mut wrong = site.client();
    let csrf = wrong.get("/session/new").csrf();
    let res = wrong.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", EMAIL),
            ("user[password]", "wrong password!"),
        ],
    );
    assert_eq!(res.status, 200);
    let res = wrong.get("/account/reactivate");
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    let told = wrong.get("/session/new").body;
    assert!(told.contains("This link is not valid any more."), "{told}");
    let res = wrong.post("/account/reactivate", &[("_csrf_token", &csrf)]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(site.stored(ada.id).is_closed());

    // Without the CSRF token, nothing happens.
    let res = back.post("/account/reactivate", &[]);
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(site.stored(ada.id).is_closed());

    assert_eq!(hidden(&page, "user[persistent_session]"), "false");
    let res = reopen(&mut back, &page, "/account/reactivate");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/");
    assert!(is_signed_in(&mut back));
    assert!(!back.cookies.contains_key(REMEMBER));
    let reopened = site.stored(ada.id);
    assert!(!reopened.is_closed());
    assert!(Account::erase_date(&reopened).is_none());
    // Signed in now: the page is for visitors.
    assert_eq!(back.get("/account/reactivate").status, 302);
    // The link of that closing is spent with it.
    let res = site.client().get(&reactivation_link);
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
}

fn reactivation_keeps_the_sign_ins_remember_me_choice() {
    let site = site(|b| b);
    let ada = site.user(EMAIL);
    site.close(&ada);
    let mut back = site.client();
    assert_eq!(
        sign_in(&mut back, EMAIL, true).location(),
        "/account/reactivate"
    );
    assert!(!back.cookies.contains_key(REMEMBER));
    let page = back.get("/account/reactivate");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(hidden(&page, "user[persistent_session]"), "true");
    let res = reopen(&mut back, &page, "/account/reactivate");
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(back.cookies.contains_key(REMEMBER), "{:?}", res.headers);
    // The remember-me cookie alone signs the reopened account in.
    let mut remembered = site.client();
    remembered
        .cookies
        .insert(REMEMBER.into(), back.cookies[REMEMBER].clone());
    assert!(is_signed_in(&mut remembered));
}

fn the_mailed_link_reopens_without_signing_in() {
    let site = site(|b| b);
    let ada = site.user(EMAIL);
    let erase_after = site.close(&ada);
    let link = link_in(&site.mailer, EMAIL);
    let mut mailbox = site.client();

    let res = mailbox.get(&format!("{link}x"));
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");
    let told = mailbox.get("/session/new").body;
    assert!(told.contains("This link is not valid any more."), "{told}");

    let page = mailbox.get(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains(&erase_after.format("%Y-%m-%d").to_string()));
    assert!(
        page.body.contains(&format!("action=\"{link}\"")),
        "{}",
        page.body
    );
    assert_eq!(mailbox.post(&link, &[]).status, 403);
    assert!(site.stored(ada.id).is_closed());
    let res = mailbox.post(&link, &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");
    let told = mailbox.get("/session/new").body;
    assert!(
        told.contains("Your account is open again. You can sign in."),
        "{told}"
    );
    assert!(!is_signed_in(&mut mailbox));
    assert!(!site.stored(ada.id).is_closed());
    // Spent: the account is open.
    assert_eq!(mailbox.get(&link).status, 302);
    assert_eq!(sign_in(&mut mailbox, EMAIL, false).location(), "/");
}

fn an_account_without_a_password_closes_by_the_mailed_confirmation() {
    let site = site(|b| b);
    let ada = site.user(EMAIL);
    site.user("bob@example.com");
    execute(
        &site.users,
        &format!(
            "UPDATE users SET password_hash = NULL WHERE id = {}",
            ada.id
        ),
    );
    let ada = site.stored(ada.id);
    let lang = "en".parse().unwrap();
    actix_web::rt::System::new()
        .block_on(site.account.request_close(&site.config, &ada, &lang))
        .unwrap();
    let link = link_in(&site.mailer, EMAIL);
    assert!(link.starts_with("/account/close/"), "{link}");

    // The link works in any browser, and signs it out: here Bob's.
    let mut browser = site.client();
    assert_eq!(sign_in(&mut browser, "bob@example.com", false).status, 302);
    assert!(is_signed_in(&mut browser));
    let res = browser.get(&format!("{link}x"));
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");
    let page = browser.get(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Close your account"), "{}", page.body);
    assert!(
        page.body.contains(&format!("action=\"{link}\"")),
        "{}",
        page.body
    );
    assert_eq!(browser.post(&link, &[]).status, 403);
    assert!(!site.stored(ada.id).is_closed());
    let res = browser.post(&link, &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");
    assert!(!is_signed_in(&mut browser));
    let told = browser.get("/session/new").body;
    assert!(told.contains("Your account is closed"), "{told}");
    let closed = site.stored(ada.id);
    assert!(closed.is_closed());
    let grace = Account::erase_date(&closed).unwrap() - closed.get_timestamp("closed_at").unwrap();
    assert_eq!(grace.num_days(), 14);
    // A closed account's confirmation closes nothing more.
    assert_eq!(site.client().get(&link).status, 302);
    let notice = site.mailer.last_to(EMAIL).unwrap();
    assert!(notice.subject.contains("closed"), "{}", notice.subject);
}

fn the_pages_stay_under_the_mount_path() {
    let site = site(|b| b.mount_path("/auth"));
    let ada = site.user(EMAIL);
    site.close(&ada);
    let link = link_in(&site.mailer, EMAIL);
    assert!(link.starts_with("/auth/account/reactivate/"), "{link}");
    let mut c = site.client();
    let page = c.get(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("action=\"{link}\"")),
        "{}",
        page.body
    );
    let res = c.post(&link, &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/auth/session/new");
    assert!(!site.stored(ada.id).is_closed());

    site.close(&site.stored(ada.id));
    let csrf = c.get("/auth/session/new").csrf();
    let res = c.post(
        "/auth/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", EMAIL),
            ("user[password]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/auth/account/reactivate");
    let page = c.get("/auth/account/reactivate");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("action=\"/auth/account/reactivate\""),
        "{}",
        page.body
    );
    assert_eq!(
        reopen(&mut c, &page, "/auth/account/reactivate").status,
        302
    );
    assert!(is_signed_in(&mut c));
}

/// Moves the extension's pages through the routes backend.
struct MovedRoutes;

impl pow_actix::web::Routes for MovedRoutes {
    fn extension_route(&self, extension: &str, pattern: &str) -> String {
        match (extension, pattern) {
            (pow_ext_account::NAME, "/account/reactivate") => "/reopen".to_owned(),
            (pow_ext_account::NAME, "/account/reactivate/{token}") => "/reopen/{token}".to_owned(),
            (pow_ext_account::NAME, "/account/close/{token}") => "/goodbye/{token}".to_owned(),
            _ => pattern.to_owned(),
        }
    }
}

fn moved_routes_are_served_and_linked() {
    let site = site(|b| b.routes(MovedRoutes));
    let ada = site.user(EMAIL);
    site.close(&ada);
    let link = link_in(&site.mailer, EMAIL);
    let token = link
        .strip_prefix("/reopen/")
        .unwrap_or_else(|| panic!("the moved link: {link}"))
        .to_owned();
    let mut c = site.client();
    assert_eq!(c.get(&format!("/account/reactivate/{token}")).status, 404);
    let page = c.get(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("action=\"{link}\"")),
        "{}",
        page.body
    );

    assert_eq!(sign_in(&mut c, EMAIL, false).location(), "/reopen");
    let page = c.get("/reopen");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("action=\"/reopen\""), "{}", page.body);
    assert_eq!(reopen(&mut c, &page, "/reopen").status, 302);
    assert!(!site.stored(ada.id).is_closed());

    let lang = "en".parse().unwrap();
    actix_web::rt::System::new()
        .block_on(site.account.request_close(&site.config, &ada, &lang))
        .unwrap();
    let link = link_in(&site.mailer, EMAIL);
    assert!(link.starts_with("/goodbye/"), "{link}");
    let page = site.client().get(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("action=\"{link}\"")),
        "{}",
        page.body
    );
}

fn the_export_downloads_and_the_closing_page_closes_in_sudo_mode() {
    let site = site(|b| b);
    site.user(EMAIL);
    let mut c = site.client();
    assert_eq!(sign_in(&mut c, EMAIL, false).status, 302);
    // Fresh from the sign-in: sudo mode holds.
    let export = c.get("/account/export");
    assert_eq!(export.status, 200, "{}", export.body);
    assert_eq!(
        export.header("content-disposition"),
        Some("attachment; filename=\"pow-account-export.json\"")
    );
    assert_eq!(export.header("content-type"), Some("application/json"));
    assert!(export
        .header("cache-control")
        .unwrap_or_default()
        .contains("no-store"));
    let data: serde_json::Value = serde_json::from_str(&export.body).unwrap();
    assert!(export.body.contains(EMAIL), "{data}");
    // The closing page, a forged token, then the form.
    let page = c.get("/account/close");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("action=\"/account/close\""),
        "{}",
        page.body
    );
    assert_eq!(
        c.post("/account/close", &[("_csrf_token", "forged")])
            .status,
        403
    );
    let res = c.post("/account/close", &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/session/new");
    assert!(!is_signed_in(&mut c), "closing signs this browser out");
    // The account is closed: a password sign-in offers reactivation, not a session.
    let res = sign_in(&mut c, EMAIL, false);
    assert_eq!(res.location(), "/account/reactivate");
    assert!(!is_signed_in(&mut c));
}

pow_testkit::on_both!(
    closing_ends_every_credential_on_sqlite,
    closing_ends_every_credential_on_postgres,
    purge_erases_everything_on_sqlite,
    purge_erases_everything_on_postgres,
    an_app_client_closes_reopens_and_exports_over_json,
    an_app_client_without_a_password_closes_by_mail,
    a_provider_signs_no_closed_account_in,
    a_closed_accounts_address_change_link_finds_nothing,
    reactivating_by_password_asks_for_the_captcha_and_hides_open_accounts,
    support_access_closes_nothing_and_skips_closed_accounts,
    a_password_sign_in_of_a_closed_account_offers_reactivation,
    the_export_downloads_and_the_closing_page_closes_in_sudo_mode,
    reactivation_keeps_the_sign_ins_remember_me_choice,
    the_mailed_link_reopens_without_signing_in,
    an_account_without_a_password_closes_by_the_mailed_confirmation,
    the_pages_stay_under_the_mount_path,
    moved_routes_are_served_and_linked,
);

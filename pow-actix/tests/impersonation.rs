//! Support access ("sign in as") over HTTP: an admin opens a user's account with a reason,
//! sees the banner, is refused what needs the user's own proof (a password change, an API
//! token pair) with the impersonation code, and stops back into their own session; idle
//! and absolute expiry, the admin's own session ending and the admin being disabled each
//! end it; every refused target, a nested start and a `GET` are refused; the audit rows
//! name the admin and the user; the user's session list does not show it, their activity
//! does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pow_actix::audit::{self, AuditEvent, AuditQuery, Auditor, DieselAuditSink, EventName};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::{self, CredentialsCache, Impersonation, Impersonator};
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowConfigBuilder, User};

const PASSWORD: &str = "correct horse battery";
const ADMIN: &str = "alice@staff.example";
const OTHER_ADMIN: &str = "bob@staff.example";
const USER: &str = "ada@example.com";

struct Setup {
    config: PowConfig,
    addr: SocketAddr,
    mailer: MemoryMailer,
    admin: User,
    user: User,
    other_admin: User,
}

fn start(tweak: impl FnOnce(Impersonation) -> Impersonation) -> Setup {
    start_with(tweak, |b| b)
}

fn start_with(
    tweak: impl FnOnce(Impersonation) -> Impersonation,
    builder: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> Setup {
    let db = std::env::temp_dir().join(format!(
        "pow-impersonation-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let support = tweak(Impersonation::new(|user: &User| {
        user.email()
            .is_some_and(|email| email.ends_with("@staff.example"))
    }));
    let config = builder(
        PowConfig::builder("i".repeat(64))
            .users(users.clone())
            .hasher(Pbkdf2Hasher::new(1))
            .mailer(Arc::new(mailer.clone()))
            .base_url("http://localhost")
            .user_disabling(true)
            .audit(Auditor::new(DieselAuditSink::new(users.database().clone())))
            .impersonation(support),
    )
    .build()
    .unwrap();
    users.migrate(&config).unwrap();
    let admin = pow_actix::testing::create_user(&config, ADMIN, PASSWORD).unwrap();
    let other_admin = pow_actix::testing::create_user(&config, OTHER_ADMIN, PASSWORD).unwrap();
    let user = pow_actix::testing::create_user(&config, USER, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config.clone());
    Setup {
        config,
        addr,
        mailer,
        admin,
        user,
        other_admin,
    }
}

fn signed_in(addr: SocketAddr, email: &str) -> Client {
    let mut c = Client::new(addr);
    let res = c.sign_in(email, PASSWORD);
    assert_eq!(res.status, 302, "{}", res.body);
    c
}

fn impersonate(c: &mut Client, user_id: i64, reason: &str) -> Response {
    let csrf = c.get("/registration/sessions").csrf();
    let id = user_id.to_string();
    c.post(
        "/impersonation",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[user_id]", id.as_str()),
            ("user[reason]", reason),
        ],
    )
}

fn stop(c: &mut Client) -> Response {
    // A signed-out browser (support access ended by itself) takes a token from the
    // sign-in page.
    let page = c.get("/registration/sessions");
    let csrf = if page.status == 200 {
        page.csrf()
    } else {
        c.get("/session/new").csrf()
    };
    c.post("/impersonation/stop", &[("_csrf_token", csrf.as_str())])
}

fn whoami(c: &mut Client) -> String {
    c.get("/me").body
}

/// The events named `name`, oldest first, once at least `count` were written (the audit
/// log writes from a thread of its own).
fn events(config: &PowConfig, name: EventName, count: usize) -> Vec<AuditEvent> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let query = AuditQuery {
            names: vec![name],
            ..AuditQuery::default()
        };
        let mut found = config.audit().sink().query(&query).unwrap();
        if found.len() >= count {
            found.reverse();
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "{name}: {found:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The impersonation session of `user_id` in the store: its id and metadata.
fn stored(
    config: &PowConfig,
    user_id: i64,
) -> Option<(String, pow_actix::session::SessionMetadata)> {
    actix_web::rt::System::new().block_on(async {
        let cache = CredentialsCache::new(config);
        for id in cache.sessions(user_id).await.unwrap() {
            if let Some((_, metadata)) = cache.get(&id).await.unwrap() {
                if metadata.is_impersonation() {
                    return Some((id, metadata));
                }
            }
        }
        None
    })
}

/// Rewrites the impersonation session of `user_id` with `change` applied to its record of
/// the admin (moving its clock back, as if time had passed).
fn age(config: &PowConfig, user: &User, change: impl FnOnce(&mut Impersonator)) {
    let (id, mut metadata) = stored(config, user.id).expect("an impersonation session");
    let mut by = metadata.impersonator().unwrap();
    change(&mut by);
    metadata.extra.insert(
        session::impersonation::IMPERSONATION_KEY.to_owned(),
        serde_json::to_value(&by).unwrap(),
    );
    actix_web::rt::System::new()
        .block_on(CredentialsCache::new(config).put(&id, user, &metadata))
        .unwrap();
}

fn an_admin_works_as_a_user_and_comes_back() {
    let s = start(|p| p.notify_user(true));
    let mut desk = signed_in(s.addr, ADMIN);
    let mut own = signed_in(s.addr, USER);
    assert_eq!(whoami(&mut desk), format!("user:{}", s.admin.id));

    let res = impersonate(&mut desk, s.user.id, "ticket #4711: cannot find invoices");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut desk), format!("user:{}", s.user.id));
    // The banner, with its stop button.
    let page = desk.get("/registration/sessions");
    assert!(page.body.contains("pow-impersonation"), "{}", page.body);
    assert!(page.body.contains(&format!("in {USER}")), "{}", page.body);
    assert!(page.body.contains("/impersonation/stop"), "{}", page.body);
    // The user was told, with the reason.
    let notice = s.mailer.last_to(USER).expect("a support-access notice");
    assert_eq!(notice.subject, "Support opened your account");
    assert!(notice.text.contains("ticket #4711"), "{}", notice.text);

    // What needs the user's own proof is refused with its code: the account page...
    let res = desk.get("/registration/edit");
    assert_eq!(res.status, 403);
    assert!(
        res.body.contains("not possible during support access"),
        "{}",
        res.body
    );
    // ...a password change...
    let csrf = page.csrf();
    let res = desk.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("_method", "PATCH"),
            ("user[current_password]", PASSWORD),
            ("user[password]", "a new password 123"),
            ("user[password_confirmation]", "a new password 123"),
        ],
    );
    assert_eq!(res.status, 403, "{}", res.body);
    // ...confirming the (user's) password does not make it fresh...
    desk.post(
        "/session/confirm",
        &[("_csrf_token", csrf.as_str()), ("user[password]", PASSWORD)],
    );
    let csrf = desk.get("/registration/sessions").csrf();
    let res = desk.post(
        "/registration",
        &[("_csrf_token", csrf.as_str()), ("_method", "DELETE")],
    );
    assert_eq!(res.status, 403, "account deletion: {}", res.body);
    // ...and so is a token pair, as JSON with the impersonation code.
    desk.headers
        .push(("Accept".into(), "application/json".into()));
    let res = desk.request("POST", "/token", Some(String::new()));
    desk.headers.pop();
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(res.body.contains("impersonation_forbidden"), "{}", res.body);
    assert!(!res.body.contains("access_token"), "{}", res.body);

    // The user's own session list does not show it; their activity does.
    let sessions = actix_web::rt::System::new()
        .block_on(session::user_sessions(&s.config, s.user.id))
        .unwrap();
    assert_eq!(
        sessions.len(),
        1,
        "only the user's own browser: {sessions:?}"
    );
    let activity = own.get("/registration/activity");
    assert!(
        activity.body.contains("Support access started"),
        "{}",
        activity.body
    );
    assert_eq!(whoami(&mut own), format!("user:{}", s.user.id), "untouched");

    // Stop: back in the admin's own session, not signed out.
    let res = stop(&mut desk);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut desk), format!("user:{}", s.admin.id));
    assert!(
        stored(&s.config, s.user.id).is_none(),
        "the session is gone"
    );
    let page = desk.get("/registration/sessions");
    assert!(!page.body.contains("pow-impersonation"), "{}", page.body);

    // The audit rows: the user as subject, the admin as actor, the reason.
    let started = events(&s.config, audit::IMPERSONATION_STARTED, 1);
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].user_id, Some(s.user.id));
    assert_eq!(started[0].detail["actor_id"], s.admin.id);
    assert_eq!(
        started[0].detail["reason"],
        "ticket #4711: cannot find invoices"
    );
    let stopped = events(&s.config, audit::IMPERSONATION_STOPPED, 1);
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].user_id, Some(s.user.id));
    assert_eq!(stopped[0].detail["actor_id"], s.admin.id);
}

fn signing_out_of_support_access_returns_to_the_admin() {
    let s = start(|p| p);
    let mut desk = signed_in(s.addr, ADMIN);
    impersonate(&mut desk, s.user.id, "checking a setting");
    let csrf = desk.get("/registration/sessions").csrf();
    desk.post(
        "/session",
        &[("_csrf_token", csrf.as_str()), ("_method", "DELETE")],
    );
    assert_eq!(whoami(&mut desk), format!("user:{}", s.admin.id));
    assert!(stored(&s.config, s.user.id).is_none());
}

fn idle_and_absolute_limits_end_it() {
    let s = start(|p| p);
    let mut desk = signed_in(s.addr, ADMIN);
    impersonate(&mut desk, s.user.id, "idle check");
    let (_, metadata) = stored(&s.config, s.user.id).unwrap();
    let by = metadata.impersonator().unwrap();
    assert_eq!(by.idle_ms, 15 * 60 * 1000, "15 minutes idle by default");
    assert_eq!(
        by.ends_at - by.started_at,
        30 * 60 * 1000,
        "30 minutes in all"
    );
    assert_eq!(by.admin_id, s.admin.id);
    // 16 minutes without a request.
    age(&s.config, &s.user, |by| by.last_seen_at -= 16 * 60 * 1000);
    assert_eq!(whoami(&mut desk), "anonymous");
    let ended = events(&s.config, audit::IMPERSONATION_ENDED, 1);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].detail["ended"], "idle");
    assert_eq!(ended[0].detail["actor_id"], s.admin.id);
    // Stop after it ended by itself still brings the admin back.
    stop(&mut desk);
    assert_eq!(whoami(&mut desk), format!("user:{}", s.admin.id));

    // Active all along, but past its end.
    impersonate(&mut desk, s.user.id, "absolute check");
    age(&s.config, &s.user, |by| {
        by.ends_at = pow_actix::time::now_ms() - 1
    });
    assert_eq!(whoami(&mut desk), "anonymous");
    let ended = events(&s.config, audit::IMPERSONATION_ENDED, 2);
    assert_eq!(ended[1].detail["ended"], "timeout");

    // Settings are capped at an hour.
    let capped = Impersonation::new(|_| true)
        .idle_timeout(Duration::from_secs(7200))
        .absolute_timeout(Duration::from_secs(7200));
    assert_eq!(capped.idle(), Duration::from_secs(3600));
    assert_eq!(capped.absolute(), Duration::from_secs(3600));
}

fn the_admins_own_session_bounds_it() {
    let s = start(|p| p);
    // The admin is disabled: the impersonation ends on its next request.
    let mut desk = signed_in(s.addr, ADMIN);
    impersonate(&mut desk, s.user.id, "before the admin is disabled");
    assert_eq!(whoami(&mut desk), format!("user:{}", s.user.id));
    actix_web::rt::System::new()
        .block_on(pow_actix::admin::disable_user(&s.config, &s.admin))
        .unwrap();
    assert_eq!(whoami(&mut desk), "anonymous");
    let ended = events(&s.config, audit::IMPERSONATION_ENDED, 1);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].detail["ended"], "admin_session_ended");
    assert!(stored(&s.config, s.user.id).is_none());
    // Nothing to come back to.
    stop(&mut desk);
    assert_eq!(whoami(&mut desk), "anonymous");

    // The other admin's sessions are revoked ("sign out everywhere"): same.
    let s = start(|p| p.allow_admin_targets(false));
    let mut desk = signed_in(s.addr, OTHER_ADMIN);
    impersonate(&mut desk, s.user.id, "before a revocation");
    actix_web::rt::System::new()
        .block_on(pow_actix::admin::revoke_sessions(&s.config, &s.other_admin))
        .unwrap();
    assert_eq!(whoami(&mut desk), "anonymous");
}

fn refused_starts_are_refused_and_audited() {
    let s = start(|p| p);
    let mut desk = signed_in(s.addr, ADMIN);
    let refusal = |c: &mut Client, id: i64, reason: &str| {
        c.headers.push(("Accept".into(), "application/json".into()));
        let res = impersonate(c, id, reason);
        c.headers.pop();
        assert_eq!(res.status, 403, "{}", res.body);
        let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
        assert_eq!(json["errors"][0]["code"], "impersonation_refused");
        json["data"]["refusal"].as_str().unwrap().to_owned()
    };
    assert_eq!(refusal(&mut desk, s.admin.id, "me"), "yourself");
    assert_eq!(
        refusal(&mut desk, s.other_admin.id, "an admin"),
        "admin_target"
    );
    assert_eq!(refusal(&mut desk, s.user.id, "   "), "reason_required");
    assert_eq!(refusal(&mut desk, 987_654, "nobody"), "unknown_user");
    let disabled =
        pow_actix::testing::create_user(&s.config, "gone@example.com", PASSWORD).unwrap();
    actix_web::rt::System::new()
        .block_on(pow_actix::admin::disable_user(&s.config, &disabled))
        .unwrap();
    assert_eq!(refusal(&mut desk, disabled.id, "disabled"), "disabled_user");
    // A user who is not an admin.
    let mut plain = signed_in(s.addr, USER);
    assert_eq!(refusal(&mut plain, s.admin.id, "let me in"), "not_allowed");
    // Nested: from inside support access.
    let res = impersonate(&mut desk, s.user.id, "first");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(refusal(&mut desk, disabled.id, "second"), "nested");
    assert_eq!(whoami(&mut desk), format!("user:{}", s.user.id));
    stop(&mut desk);
    // Nothing starts one with GET, nor without the CSRF token.
    assert_eq!(
        desk.get("/impersonation?user[user_id]=3&user[reason]=x")
            .status,
        405
    );
    let res = desk.post(
        "/impersonation",
        &[("user[user_id]", "3"), ("user[reason]", "no token")],
    );
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(whoami(&mut desk), format!("user:{}", s.admin.id));
    // Every refusal is audited with who asked.
    let denied = events(&s.config, audit::IMPERSONATION_DENIED, 7);
    let codes: Vec<&str> = denied
        .iter()
        .map(|event| event.detail["refusal"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "yourself",
            "admin_target",
            "reason_required",
            "unknown_user",
            "disabled_user",
            "not_allowed",
            "nested"
        ]
    );
    assert_eq!(denied[5].detail["actor_id"], s.user.id);
    assert_eq!(events(&s.config, audit::IMPERSONATION_STARTED, 1).len(), 1);

    // Admin targets when the app allows them.
    let s = start(|p| p.allow_admin_targets(true));
    let mut desk = signed_in(s.addr, ADMIN);
    assert_eq!(
        impersonate(&mut desk, s.other_admin.id, "allowed").status,
        302
    );
    assert_eq!(whoami(&mut desk), format!("user:{}", s.other_admin.id));
}

fn starting_needs_a_fresh_admin_session_and_the_setting() {
    // Off: no route.
    let db = std::env::temp_dir().join(format!(
        "pow-impersonation-off-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("o".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, ADMIN, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config);
    let mut desk = signed_in(addr, ADMIN);
    assert_eq!(impersonate(&mut desk, 2, "off").status, 404);

    // A session that proved the password longer ago than the sudo window is sent to
    // confirm it first.
    let s = start(|p| p);
    let mut desk = signed_in(s.addr, ADMIN);
    actix_web::rt::System::new().block_on(async {
        let cache = CredentialsCache::new(&s.config);
        for id in cache.sessions(s.admin.id).await.unwrap() {
            let (user, mut metadata) = cache.get(&id).await.unwrap().unwrap();
            metadata.authenticated_at = Some(0);
            cache.put(&id, &user, &metadata).await.unwrap();
        }
    });
    let res = impersonate(&mut desk, s.user.id, "not fresh");
    assert_eq!(res.location(), "/session/confirm");
    assert_eq!(whoami(&mut desk), format!("user:{}", s.admin.id));
}

pow_testkit::on_both!(
    an_admin_works_as_a_user_and_comes_back,
    signing_out_of_support_access_returns_to_the_admin,
    idle_and_absolute_limits_end_it,
    the_admins_own_session_bounds_it,
    refused_starts_are_refused_and_audited,
    starting_needs_a_fresh_admin_session_and_the_setting,
);

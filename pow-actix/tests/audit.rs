//! The audit log over HTTP, on SQLite and PostgreSQL: sign-ins (failed and successful) and
//! revocations land in the table with the right fields and no secret; a flooded buffer
//! drops events but never holds a request up; the activity page lists a user's events in
//! their language.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../pow-core/tests/common/db.rs"]
mod db;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use db::{TestDb, TestEnv};
use pow_actix::audit::{AuditEvent, AuditQuery, AuditSink, Auditor, DieselAuditSink};
use pow_actix::limits::RateLimits;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::{Client, Response};
use pow_actix::{PowConfig, PowError};

const PASSWORD: &str = "correct horse battery";

struct App {
    client_addr: std::net::SocketAddr,
    config: PowConfig,
    _db: TestDb,
}

fn start(env: &TestEnv, auditor: impl FnOnce(&TestDb) -> Auditor) -> App {
    let db = env.db();
    let config = PowConfig::builder("a".repeat(64))
        .users(db.ctx.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .rate_limits(RateLimits {
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..RateLimits::default()
        })
        .audit(auditor(&db))
        .build()
        .unwrap();
    db.ctx.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "alice@example.com", PASSWORD).unwrap();
    let served = config.clone();
    let client_addr = pow_testkit::serve(served.clone());
    App {
        client_addr,
        config,
        _db: db,
    }
}

fn table(db: &TestDb) -> Auditor {
    Auditor::new(DieselAuditSink::new(db.ctx.database().clone()))
}

fn client(app: &App) -> Client {
    let mut c = Client::new(app.client_addr);
    c.headers
        .push(("X-Forwarded-For".to_owned(), "198.51.100.23".to_owned()));
    c.headers
        .push(("User-Agent".to_owned(), "AuditTest/1.0 (X11)".to_owned()));
    c
}

fn sign_in(c: &mut Client, email: &str, password: &str) -> Response {
    c.sign_in(email, password)
}

/// Waits until the sink has taken `count` events.
fn written(config: &PowConfig, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while config.audit().written() < count {
        assert!(
            Instant::now() < deadline,
            "only {} events written",
            config.audit().written()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn events(config: &PowConfig) -> Vec<AuditEvent> {
    let mut events = config.audit().sink().query(&AuditQuery::default()).unwrap();
    events.reverse();
    events
}

fn records_sign_ins_and_revocations(env: &TestEnv) {
    let app = start(env, table);
    let mut c = client(&app);
    assert_eq!(
        sign_in(&mut c, "alice@example.com", "wrong password").status,
        200
    );
    assert_eq!(
        sign_in(&mut c, "nobody@example.com", "wrong password").status,
        200
    );
    assert_eq!(
        sign_in(&mut c, "Alice@Example.com", PASSWORD).location(),
        "/"
    );
    let cookie = c.cookies.values().cloned().collect::<Vec<_>>().join(";");
    let alice = app
        .config
        .users_context()
        .unwrap()
        .get_by(
            app.config.user_schema(),
            "email",
            &"alice@example.com".into(),
        )
        .unwrap()
        .unwrap();
    actix_web::rt::System::new()
        .block_on(pow_actix::session::revoke_user(&app.config, &alice))
        .unwrap();
    written(&app.config, 4);

    let events = events(&app.config);
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sign_in.failed",
            "sign_in.failed",
            "sign_in.succeeded",
            "session.revoked"
        ]
    );
    let (wrong, unknown, ok, revoked) = (&events[0], &events[1], &events[2], &events[3]);
    assert_eq!(wrong.detail["reason"], "wrong_password");
    assert_eq!(wrong.user_id, Some(alice.id));
    assert_eq!(unknown.detail["reason"], "unknown_user");
    assert_eq!(unknown.user_id, None);
    assert!(unknown.identifier_hash.is_some());
    assert_ne!(wrong.identifier_hash, unknown.identifier_hash);
    assert_eq!(ok.user_id, Some(alice.id));
    assert_eq!(
        ok.identifier_hash, wrong.identifier_hash,
        "normalised before hashing"
    );
    for event in [wrong, unknown, ok] {
        assert_eq!(event.ip.as_deref(), Some("198.51.100.23"));
        assert_eq!(event.user_agent.as_deref(), Some("AuditTest/1.0 (X11)"));
        assert_eq!(event.detail["action"], "session#create");
    }
    assert!(ok.session_hash.is_some(), "the new session, as a hash");
    assert_eq!(revoked.user_id, Some(alice.id));
    assert_eq!(revoked.detail["sessions"], 1);

    // Nothing secret: no password, address, session cookie or hash in any column.
    let dump = serde_json::to_string(&events).unwrap();
    for secret in [
        PASSWORD,
        "wrong password",
        "alice@example.com",
        "nobody@example.com",
    ] {
        assert!(!dump.contains(secret), "{secret} leaked: {dump}");
    }
    for part in cookie.split(';').filter(|p| p.len() > 16) {
        assert!(!dump.contains(part), "the session cookie leaked");
    }
    assert!(!dump.contains(alice.password_hash.as_deref().unwrap()));
}

fn records_sign_ins_and_revocations_on_sqlite() {
    records_sign_ins_and_revocations(&TestEnv::sqlite());
}

fn records_sign_ins_and_revocations_on_postgres() {
    if let Some(env) = TestEnv::postgres("records_sign_ins_and_revocations_on_postgres") {
        records_sign_ins_and_revocations(&env);
    }
}

/// A sink that holds every write until released.
#[derive(Clone, Default)]
struct Held {
    gate: Arc<Mutex<()>>,
}

impl AuditSink for Held {
    fn write(&self, _events: &[AuditEvent]) -> Result<(), PowError> {
        let _open = self
            .gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(())
    }
}

fn a_flooded_buffer_drops_events_and_never_holds_requests() {
    let held = Held::default();
    let gate = held.gate.lock().unwrap();
    let sink = held.clone();
    let app = start(&TestEnv::sqlite(), move |_| Auditor::new(sink).buffer(2));
    let mut c = client(&app);
    // Every answer comes while the sink is stuck on its first write.
    for i in 0..10 {
        let ghost = format!("ghost{i}@example.com");
        assert_eq!(sign_in(&mut c, &ghost, "wrong password").status, 200);
    }
    assert!(
        app.config.audit().dropped() >= 7,
        "{}",
        app.config.audit().dropped()
    );
    drop(gate);
}

fn the_activity_page_lists_the_users_events_in_their_language() {
    let app = start(&TestEnv::sqlite(), table);
    let mut c = client(&app);
    sign_in(&mut c, "alice@example.com", "wrong password");
    assert_eq!(
        sign_in(&mut c, "alice@example.com", PASSWORD).location(),
        "/"
    );
    written(&app.config, 2);
    c.accept_language = Some("de".to_owned());
    let page = c.get("/registration/activity");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Letzte Aktivitäten"), "{}", page.body);
    let signed_in = page.body.find("Angemeldet").expect("the sign-in");
    let failed = page
        .body
        .find("Fehlgeschlagene Anmeldung")
        .expect("the failure");
    assert!(signed_in < failed, "newest first");
    assert!(page.body.contains("198.51.100.23"));
    // Signed out: no page.
    let mut stranger = client(&app);
    assert_eq!(stranger.get("/registration/activity").status, 302);
}

pow_testkit::on_both!(
    records_sign_ins_and_revocations_on_sqlite,
    records_sign_ins_and_revocations_on_postgres,
    a_flooded_buffer_drops_events_and_never_holds_requests,
    the_activity_page_lists_the_users_events_in_their_language,
);

//! Many clients at once over real sockets: 1 000 registrations of one address on SQLite and
//! on PostgreSQL make exactly one user and never a 5xx.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../pow-core/tests/common/db.rs"]
mod db;

use std::sync::{Arc, Barrier};

use db::TestEnv;
use pow_actix::limits::RateLimits;
use pow_actix::password::{HashPoolOptions, Pbkdf2Hasher};
use pow_actix::test_client::Client;
use pow_actix::users::{UsersContext as _, Value};
use pow_actix::PowConfig;

/// Client threads, each sending `PER_THREAD` registrations (after one barrier).
const THREADS: usize = 50;
const PER_THREAD: usize = 20;
const EMAIL: &str = "race@example.com";

fn registrations_of_one_address(env: &TestEnv) {
    let db = env.db();
    let config = PowConfig::builder("c".repeat(64))
        .users(db.ctx.clone())
        .hasher(Pbkdf2Hasher::new(1))
        // A thousand sign-ups from one client: the per-client limits would stop them.
        .rate_limits(RateLimits::disabled())
        // Room for every client in flight: the default queue (16 per hashing thread) sheds
        // load past it with a 503 "busy" page, by design; this test is about uniqueness.
        .hash_pool_options(HashPoolOptions::default().queue(THREADS * 2))
        .build()
        .unwrap();
    db.ctx.migrate(&config).unwrap();
    let served = config.clone();
    let addr = pow_testkit::serve(served.clone());

    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // Forms first, so the registrations themselves start together.
                let mut forms: Vec<(Client, String)> = (0..PER_THREAD)
                    .map(|_| {
                        let mut c = Client::new(addr);
                        let csrf = c.get("/registration/new").csrf();
                        (c, csrf)
                    })
                    .collect();
                barrier.wait();
                forms
                    .iter_mut()
                    .map(|(c, csrf)| {
                        let res = c.post(
                            "/registration",
                            &[
                                ("_csrf_token", csrf.as_str()),
                                ("user[email]", EMAIL),
                                ("user[password]", "correct horse battery"),
                                ("user[password_confirmation]", "correct horse battery"),
                            ],
                        );
                        res.status
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(statuses.len(), THREADS * PER_THREAD);
    let errors: Vec<&u16> = statuses.iter().filter(|s| **s >= 500).collect();
    let mut kinds = std::collections::BTreeMap::new();
    for s in &statuses {
        *kinds.entry(*s).or_insert(0) += 1;
    }
    assert!(
        errors.is_empty(),
        "{} answers were 5xx: {kinds:?}",
        errors.len()
    );
    let created = statuses.iter().filter(|s| **s == 302).count();
    assert_eq!(created, 1, "exactly one registration succeeds");
    assert!(statuses.iter().all(|s| *s == 302 || *s == 200));
    assert!(db
        .ctx
        .get_by(
            config.user_schema(),
            "email",
            &Value::Text(EMAIL.to_owned())
        )
        .unwrap()
        .is_some());
}

fn a_thousand_registrations_of_one_address_on_sqlite() {
    registrations_of_one_address(&TestEnv::sqlite());
}

fn a_thousand_registrations_of_one_address_on_postgres() {
    let Some(env) = TestEnv::postgres("a_thousand_registrations_of_one_address_on_postgres") else {
        return;
    };
    registrations_of_one_address(&env);
}

pow_testkit::on_both!(
    a_thousand_registrations_of_one_address_on_sqlite,
    a_thousand_registrations_of_one_address_on_postgres,
);

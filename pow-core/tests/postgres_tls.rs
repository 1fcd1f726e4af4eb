//! PostgreSQL over TLS (`--features postgres-tls`): the bundled libpq, built with OpenSSL,
//! encrypts the connection when the URL asks for it and verifies the server when told to.
//!
//! Runs against `POW_TEST_DATABASE_URL` (required when `CI` is set), whose server must
//! accept TLS (Debian's PostgreSQL does, with its generated certificate).
#![cfg(feature = "postgres-tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::pg::PgConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use pow_core::password::Pbkdf2Hasher;
use pow_core::users::diesel::DieselUsersContext;
use pow_core::users::{sign_up_params, UsersContext, Value};
use pow_core::PowConfig;

/// The test database's URL with `params` added, or `None` (with a notice) when unset.
fn url_with(params: &str) -> Option<String> {
    match std::env::var("POW_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let sep = if url.contains('?') { '&' } else { '?' };
            Some(format!("{}{sep}{params}", url.trim()))
        }
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "POW_TEST_DATABASE_URL must be set when CI is set"
            );
            pow_core::testing::skipped(
                "POW_TEST_DATABASE_URL is not set: the PostgreSQL TLS test did not run",
            );
            None
        }
    }
}

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ssl: bool,
}

/// Whether the server sees this connection as TLS.
fn is_tls(conn: &mut PgConnection) -> bool {
    let rows: Vec<Ssl> =
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .load(conn)
            .unwrap();
    rows.first().is_some_and(|row| row.ssl)
}

/// `sslmode=require` gives an encrypted connection, and the users context works over it.
#[test]
fn the_users_context_works_over_tls() {
    let Some(url) = url_with("sslmode=require") else {
        return;
    };
    let mut conn = PgConnection::establish(&url).unwrap();
    assert!(is_tls(&mut conn), "the connection is encrypted");
    let Some(plain) = url_with("sslmode=disable") else {
        return;
    };
    let mut conn = PgConnection::establish(&plain).unwrap();
    assert!(
        !is_tls(&mut conn),
        "the check tells plain connections apart"
    );

    let base = DieselUsersContext::connect(&url).unwrap();
    let schema = format!("pow_tls_{}", uuid::Uuid::new_v4().simple());
    let users = base.with_schema(&schema).unwrap();
    let config = PowConfig::builder("t".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .build()
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        users.migrate(&config).unwrap();
        let params = sign_up_params(
            config.user_schema(),
            "tls@example.com",
            "correct horse battery",
        );
        let created = users
            .create(config.user_schema(), &params)
            .unwrap()
            .unwrap();
        let found = users
            .get_by(
                config.user_schema(),
                "email",
                &Value::from("tls@example.com"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(found.id, created.id);
    }));
    base.database()
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// `sslmode=verify-full` checks the server's certificate against `sslrootcert`: a CA that
/// did not sign it makes the connection fail.
#[test]
fn verify_full_refuses_a_server_the_ca_did_not_sign() {
    let dir = std::env::temp_dir().join(format!("pow-pg-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let Some(url) = url_with(&format!(
        "sslmode=verify-full&sslrootcert={}",
        ca_path.display()
    )) else {
        return;
    };
    let err = DieselUsersContext::connect(&url).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    let message = err.to_string();
    assert!(message.contains("certificate"), "{message}");
}

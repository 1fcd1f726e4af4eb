//! The `pow` binary, run as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use pow_core::users::UsersContext as _;

fn pow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pow"))
        .args(args)
        .output()
        .unwrap()
}

/// `pow <args>` with the app's `SECRET_KEY_BASE` (the one of [`full_config`]) set.
fn pow_with_secret(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pow"))
        .args(args)
        .env("SECRET_KEY_BASE", "c".repeat(64))
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every extension pow-rs ships, for `--extensions` (which defaults to none).
const ALL: &str = "reset-password,email-confirmation,two-factor,passwordless,passkeys,\
                   persistent-session,invitation,oauth,account,organizations,api-keys,provider";

/// `pow users create` of `ops@example.com` on `url`, with `extra` arguments.
fn create_operator(url: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "users",
        "create",
        "--database-url",
        url,
        "--email",
        "ops@example.com",
        "--password",
        "a long operator passphrase",
    ];
    args.extend_from_slice(extra);
    pow(&args)
}

fn temp_db() -> PathBuf {
    std::env::temp_dir().join(format!("pow-cli-{}.db", uuid::Uuid::new_v4().simple()))
}

#[test]
fn help_secret_and_usage_errors() {
    let help = pow(&["users", "create", "--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("--password-stdin"));
    let secret = pow(&["gen", "secret"]);
    assert!(secret.status.success());
    assert_eq!(stdout(&secret).trim().len(), 88, "64 bytes in base64");
    assert_ne!(stdout(&secret), stdout(&pow(&["gen", "secret"])));
    assert_eq!(
        pow(&["gen", "secret", "--bytes", "16"]).status.code(),
        Some(1)
    );
    assert_eq!(
        pow(&["export", "migrations"]).status.code(),
        Some(2),
        "--backend is required"
    );
    assert_eq!(pow(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn exported_templates_and_messages_are_files_to_start_from() {
    let out =
        std::env::temp_dir().join(format!("pow-cli-export-{}", uuid::Uuid::new_v4().simple()));
    let out_str = out.display().to_string();
    assert!(pow(&["export", "templates", "--out", &out_str])
        .status
        .success());
    assert!(std::fs::read_to_string(out.join("page.html"))
        .unwrap()
        .contains("<html"));
    assert!(out.join("mail/layout.txt").exists());
    assert!(pow(&["export", "messages", "--out", &out_str])
        .status
        .success());
    assert!(std::fs::read_to_string(out.join("de/core.ftl"))
        .unwrap()
        .contains("error-blank"));
    assert!(out.join("fr/api.ftl").exists());
    let ext = pow(&[
        "export",
        "messages",
        "--extension",
        "reset-password",
        "--out",
        &out_str,
    ]);
    assert!(ext.status.success(), "{}", stderr(&ext));
    assert!(std::fs::read_dir(out.join("en")).unwrap().count() >= 3);
    let _ = std::fs::remove_dir_all(out);
}

/// SQLite: the exported SQL builds the schema `migrate()` builds.
#[test]
fn exported_sqlite_migrations_match_migrate() {
    let out = std::env::temp_dir().join(format!("pow-cli-mig-{}", uuid::Uuid::new_v4().simple()));
    let export = pow(&[
        "export",
        "migrations",
        "--backend",
        "sqlite",
        "--extensions",
        ALL,
        "--out",
        &out.display().to_string(),
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    // Written files are said, not silent.
    assert!(
        stdout(&export).contains(&format!("wrote 18 migrations to {}", out.display())),
        "{}",
        stdout(&export)
    );
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    assert_eq!(
        folders.len(),
        18,
        "core (3), email confirmation, two-factor, passkeys, invitation, oauth, account, \
         organizations (3), API keys (2), provider (4)"
    );

    let by_hand = temp_db();
    let mut conn = diesel::SqliteConnection::establish(&by_hand.display().to_string()).unwrap();
    for folder in &folders {
        conn.batch_execute(&std::fs::read_to_string(folder.join("up.sql")).unwrap())
            .unwrap();
    }
    let migrated = temp_db();
    let users =
        pow_core::users::diesel::DieselUsersContext::connect(&migrated.display().to_string())
            .unwrap();
    let config = full_config(users.clone());
    users.migrate(&config).unwrap();
    let mut other = diesel::SqliteConnection::establish(&migrated.display().to_string()).unwrap();
    assert_eq!(sqlite_schema(&mut conn), sqlite_schema(&mut other));
    for db in [by_hand, migrated] {
        let _ = std::fs::remove_file(db);
    }
    let _ = std::fs::remove_dir_all(out);
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SchemaRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    item: String,
}

fn sqlite_schema(conn: &mut diesel::SqliteConnection) -> Vec<SchemaRow> {
    diesel::sql_query(
        "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') AS item FROM sqlite_master \
         WHERE name NOT LIKE '__diesel%' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .load(conn)
    .unwrap()
}

fn full_config(users: pow_core::users::diesel::DieselUsersContext) -> pow_core::PowConfig {
    pow_core::PowConfig::builder("c".repeat(64))
        .users(users)
        .base_url("http://localhost")
        .extension(pow_ext_reset_password::ResetPassword::new())
        .extension(pow_ext_email_confirmation::EmailConfirmation::new())
        .extension(pow_ext_two_factor::TwoFactor::new())
        .extension(pow_ext_passkeys::Passkeys::new("localhost", "http://localhost").unwrap())
        .extension(pow_ext_persistent_session::PersistentSession::new())
        .extension(pow_ext_invitation::Invitation::new())
        .extension(pow_ext_oauth::OAuth::new())
        .extension(pow_ext_account::Account::new())
        .extension(pow_ext_organizations::Organizations::new())
        .extension(pow_ext_api_keys::ApiKeys::new())
        .extension(pow_ext_provider::Provider::new())
        .build()
        .unwrap()
}

fn pg_url() -> Option<String> {
    match std::env::var("POW_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("POW_TEST_DATABASE_URL must be set in CI"),
        _ => {
            pow_core::testing::skipped(
                "POW_TEST_DATABASE_URL is not set: the PostgreSQL export test did not run",
            );
            None
        }
    }
}

/// PostgreSQL: the printed SQL, applied to an empty schema (as `psql` would), gives the
/// columns and indexes `migrate()` gives.
#[test]
fn exported_postgres_migrations_match_migrate() {
    let Some(base) = pg_url() else { return };
    let export = pow(&[
        "export",
        "migrations",
        "--backend",
        "postgres",
        "--extensions",
        ALL,
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let sql = stdout(&export);
    let by_hand = format!("pow_cli_{}", uuid::Uuid::new_v4().simple());
    let migrated = format!("pow_cli_{}", uuid::Uuid::new_v4().simple());
    let mut admin = diesel::PgConnection::establish(&base).unwrap();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA {by_hand}; CREATE SCHEMA {migrated}"
        ))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = |schema: &str| format!("{base}{sep}options=-csearch_path%3D{schema}");
    let mut conn = diesel::PgConnection::establish(&url(&by_hand)).unwrap();
    conn.batch_execute(&sql).unwrap();
    let users = pow_core::users::diesel::DieselUsersContext::connect(&url(&migrated)).unwrap();
    users.migrate(&full_config(users.clone())).unwrap();
    let mut schema = |schema: &str| -> Vec<SchemaRow> {
        diesel::sql_query(format!(
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
             || ' ' || replace(COALESCE(column_default, ''), '{schema}.', '') AS item FROM information_schema.columns \
             WHERE table_schema = '{schema}' AND table_name NOT LIKE '__diesel%' \
             UNION ALL SELECT replace(indexdef, '{schema}.', '') FROM pg_indexes \
             WHERE schemaname = '{schema}' AND tablename NOT LIKE '__diesel%' ORDER BY 1"
        ))
        .load(&mut admin)
        .unwrap()
    };
    let (a, b) = (schema(&by_hand), schema(&migrated));
    admin
        .batch_execute(&format!(
            "DROP SCHEMA {by_hand} CASCADE; DROP SCHEMA {migrated} CASCADE"
        ))
        .unwrap();
    assert!(a.len() > 10);
    assert_eq!(a, b);
}

/// `pow check` spots a database without the migrations; `pow users create` makes a user who
/// then signs in over HTTP; `disable` refuses their sign-in until `enable`.
#[test]
fn users_created_by_the_cli_sign_in() {
    let db = temp_db();
    let url = db.display().to_string();
    let users = pow_core::users::diesel::DieselUsersContext::connect(&url).unwrap();
    let check = pow(&["check", "--database-url", &url, "--extensions", ALL]);
    assert_eq!(check.status.code(), Some(1));
    assert!(stdout(&check).contains("00000000000001_create_users is not applied"));

    let config = full_config(users.clone());
    users.migrate(&config).unwrap();
    let check = pow(&["check", "--database-url", &url, "--extensions", ALL]);
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );

    let mut create = Command::new(env!("CARGO_BIN_EXE_pow"))
        .args([
            "users",
            "create",
            "--database-url",
            &url,
            "--email",
            "Ops@Example.com",
            "--password-stdin",
            "--extensions",
            "email-confirmation",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long operator passphrase\n")
        .unwrap();
    let created = create.wait_with_output().unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let weak = pow(&[
        "users",
        "create",
        "--database-url",
        &url,
        "--email",
        "x@example.com",
        "--password",
        "password",
    ]);
    assert_eq!(weak.status.code(), Some(1));

    let list = pow(&["users", "list", "--database-url", &url]);
    assert!(stdout(&list).contains("ops@example.com"));

    // Email confirmation is on, and the CLI confirmed the address: sign-in works.
    let served = config.clone();
    let addr = pow_actix::test_client::serve(move || pow_actix::testing::app(&served));
    let mut c = pow_actix::test_client::Client::new(addr);
    let csrf = c.get("/session/new").csrf();
    let res = c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "ops@example.com"),
            ("user[password]", "a long operator passphrase"),
        ],
    );
    assert_eq!(res.location(), "/", "{}", res.body);

    let disable = pow(&[
        "users",
        "disable",
        "--database-url",
        &url,
        "--email",
        "ops@example.com",
    ]);
    assert!(disable.status.success(), "{}", stderr(&disable));
    let mut fresh = pow_actix::test_client::Client::new(addr);
    let refused = fresh.sign_in("ops@example.com", "a long operator passphrase");
    assert!(
        refused.body.contains("This account is disabled."),
        "{}",
        refused.body
    );
    let enable = pow(&[
        "users",
        "enable",
        "--database-url",
        &url,
        "--email",
        "ops@example.com",
    ]);
    assert!(enable.status.success(), "{}", stderr(&enable));
    let res = fresh.sign_in("ops@example.com", "a long operator passphrase");
    assert_eq!(res.location(), "/");
    let _ = std::fs::remove_file(db);
}

#[test]
fn users_export_and_accounts_purge() {
    use pow_core::audit::{AuditEvent, AuditQuery, AuditSink, DieselAuditSink};
    let db = temp_db();
    let url = db.display().to_string();
    let users = pow_core::users::diesel::DieselUsersContext::connect(&url).unwrap();
    let config = full_config(users.clone());
    users.migrate(&config).unwrap();
    let ada =
        pow_actix::testing::create_user(&config, "ada@example.com", "a long passphrase").unwrap();
    let sink = DieselAuditSink::new(users.database().clone());
    sink.write(&[AuditEvent::new(pow_core::audit::SIGN_IN_SUCCEEDED).user(ada.id)])
        .unwrap();

    let export = pow(&[
        "users",
        "export",
        "--database-url",
        &url,
        &ada.id.to_string(),
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let json: serde_json::Value = serde_json::from_str(&stdout(&export)).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["user"]["email"], "ada@example.com");
    assert_eq!(json["audit_events"][0]["name"], "sign_in.succeeded");
    let missing = pow(&["users", "export", "--database-url", &url, "999"]);
    assert_eq!(missing.status.code(), Some(1));

    // Without the app's secret the purge could not find what is keyed with it: refused.
    let purge_args = [
        "accounts",
        "purge",
        "--database-url",
        &url,
        "--extensions",
        ALL,
    ];
    let unkeyed = Command::new(env!("CARGO_BIN_EXE_pow"))
        .args(purge_args)
        .env_remove("SECRET_KEY_BASE")
        .output()
        .unwrap();
    assert_eq!(unkeyed.status.code(), Some(1));
    assert!(
        stderr(&unkeyed).contains("SECRET_KEY_BASE"),
        "{}",
        stderr(&unkeyed)
    );

    // Not closed: the purge leaves it. Closed and due: erased, once.
    let purge = pow_with_secret(&[
        "accounts",
        "purge",
        "--database-url",
        &url,
        "--extensions",
        ALL,
    ]);
    assert!(purge.status.success(), "{}", stderr(&purge));
    assert!(
        stdout(&purge).contains("0 erased, 0 failed"),
        "{}",
        stdout(&purge)
    );
    let mut changes = pow_core::users::Changes::new();
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    changes.insert(
        "closed_at".into(),
        pow_core::users::Value::Timestamp(yesterday),
    );
    changes.insert(
        "erase_after".into(),
        pow_core::users::Value::Timestamp(yesterday),
    );
    users
        .update_fields(config.user_schema(), &ada, &changes)
        .unwrap();
    let purge = pow_with_secret(&[
        "accounts",
        "purge",
        "--database-url",
        &url,
        "--extensions",
        ALL,
    ]);
    assert!(purge.status.success(), "{}", stderr(&purge));
    assert!(
        stdout(&purge).contains(&format!("erased {}", ada.id)),
        "{}",
        stdout(&purge)
    );
    assert!(users.get(config.user_schema(), ada.id).unwrap().is_none());
    let theirs = sink
        .query(&AuditQuery {
            user_id: Some(ada.id),
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(theirs.is_empty(), "{theirs:?}");
    let again = pow_with_secret(&[
        "accounts",
        "purge",
        "--database-url",
        &url,
        "--extensions",
        ALL,
    ]);
    assert!(
        stdout(&again).contains("0 erased, 0 failed"),
        "{}",
        stdout(&again)
    );
}

/// A config with no extension: the core only (what `--extensions` defaults to).
fn core_config(users: pow_core::users::diesel::DieselUsersContext) -> pow_core::PowConfig {
    pow_core::PowConfig::builder("c".repeat(64))
        .users(users)
        .base_url("http://localhost")
        .build()
        .unwrap()
}

/// A SQLite file with the core's migrations only.
fn core_db() -> (PathBuf, pow_core::users::diesel::DieselUsersContext) {
    let db = temp_db();
    let users =
        pow_core::users::diesel::DieselUsersContext::connect(&db.display().to_string()).unwrap();
    users.migrate(&core_config(users.clone())).unwrap();
    (db, users)
}

/// Asserts `output` failed with the hint to run the migrations first.
fn assert_needs_migrations(output: &Output) {
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&output.status);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{} (signal {signal:?})",
        stderr(output)
    );
    let err = stderr(output);
    assert!(err.contains("start the app once"), "{err}");
    assert!(err.contains("pow migrate --database-url"), "{err}");
    assert!(!err.contains("no such table"), "{err}");
}

/// On a database nobody migrated, `users create` and `users list` say how to get the
/// table, and leave no SQLite file behind; `pow migrate` makes it, as the app's
/// `migrate()` would, and then they work.
#[test]
fn a_fresh_sqlite_database_asks_for_migrate_and_stays_absent() {
    let db = temp_db();
    for url in [
        db.display().to_string(),
        format!("sqlite://{}", db.display()),
    ] {
        let list = pow(&["users", "list", "--database-url", &url]);
        assert_needs_migrations(&list);
        assert!(!db.exists(), "`users list` created {}", db.display());
        let create = pow(&[
            "users",
            "create",
            "--database-url",
            &url,
            "--email",
            "ops@example.com",
            "--password",
            "a long operator passphrase",
        ]);
        assert_needs_migrations(&create);
        assert!(!db.exists(), "`users create` created {}", db.display());
        let check = pow(&["check", "--database-url", &url]);
        assert_needs_migrations(&check);
        assert!(!db.exists(), "`check` created {}", db.display());
    }

    // A database file without the table (an app that never started).
    let url = format!("sqlite://{}", db.display());
    drop(pow_core::users::diesel::DieselUsersContext::connect(&url).unwrap());
    let list = pow(&["users", "list", "--database-url", &url]);
    assert_needs_migrations(&list);
    assert!(
        stderr(&list).contains("the database has no users table yet"),
        "{}",
        stderr(&list)
    );

    let migrate = pow(&[
        "migrate",
        "--database-url",
        &url,
        "--extensions",
        "email-confirmation,invitation",
    ]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    assert!(
        stdout(&migrate).contains("00000000000001_create_users"),
        "{}",
        stdout(&migrate)
    );
    // The versions the app's own `migrate()` would record: it finds nothing to do.
    let users = pow_core::users::diesel::DieselUsersContext::connect(&url).unwrap();
    let config = pow_core::PowConfig::builder("c".repeat(64))
        .users(users.clone())
        .base_url("http://localhost")
        .extension(pow_ext_email_confirmation::EmailConfirmation::new())
        .extension(pow_ext_invitation::Invitation::new())
        .build()
        .unwrap();
    let recorded = users.applied_migrations().unwrap();
    assert_eq!(
        recorded.len(),
        pow_core::extension::all_sql_migrations(&config).len()
    );
    users.migrate(&config).unwrap();
    assert_eq!(users.applied_migrations().unwrap(), recorded);
    let again = pow(&[
        "migrate",
        "--database-url",
        &url,
        "--extensions",
        "email-confirmation,invitation",
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        !stdout(&again).contains("00000000000001_create_users"),
        "{}",
        stdout(&again)
    );

    let create = create_operator(&url, &["--extensions", "email-confirmation,invitation"]);
    assert!(create.status.success(), "{}", stderr(&create));
    let list = pow(&["users", "list", "--database-url", &url]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(stdout(&list).contains("ops@example.com"));
    let _ = std::fs::remove_file(db);
}

/// PostgreSQL: the same on an empty schema.
#[test]
fn a_fresh_postgres_schema_asks_for_migrate() {
    let Some(base) = pg_url() else { return };
    let schema = format!("pow_cli_{}", uuid::Uuid::new_v4().simple());
    let mut admin = diesel::PgConnection::establish(&base).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let list = pow(&["users", "list", "--database-url", &url]);
    let create = create_operator(&url, &[]);
    let migrate = pow(&["migrate", "--database-url", &url]);
    let after = create_operator(&url, &[]);
    let listed = pow(&["users", "list", "--database-url", &url]);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
    assert_needs_migrations(&list);
    assert!(stderr(&list).contains("the database has no users table yet"));
    assert_needs_migrations(&create);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    assert!(after.status.success(), "{}", stderr(&after));
    assert!(stdout(&listed).contains("ops@example.com"));
}

/// The printed SQL records each version as diesel's harness does, so the app's
/// `migrate()` afterwards finds nothing to apply instead of failing on `users`.
#[test]
fn printed_sqlite_migrations_record_their_versions() {
    let export = pow(&[
        "export",
        "migrations",
        "--backend",
        "sqlite",
        "--extensions",
        ALL,
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let db = temp_db();
    let url = db.display().to_string();
    let mut conn = diesel::SqliteConnection::establish(&url).unwrap();
    conn.batch_execute(&stdout(&export)).unwrap();
    drop(conn);

    let users = pow_core::users::diesel::DieselUsersContext::connect(&url).unwrap();
    let config = full_config(users.clone());
    let mut expected: Vec<String> = pow_core::extension::all_sql_migrations(&config)
        .iter()
        .map(|m| m.version.to_owned())
        .collect();
    expected.sort();
    let mut recorded = users.applied_migrations().unwrap();
    recorded.sort();
    assert_eq!(recorded, expected);
    users.migrate(&config).unwrap();
    let mut after = users.applied_migrations().unwrap();
    after.sort();
    assert_eq!(after, expected, "migrate() applied nothing new");
    let check = pow(&["check", "--database-url", &url, "--extensions", ALL]);
    assert!(check.status.success(), "{}", stdout(&check));
    let _ = std::fs::remove_file(db);
}

/// PostgreSQL: the same, through `psql`'s way of running the printed SQL.
#[test]
fn printed_postgres_migrations_record_their_versions() {
    let Some(base) = pg_url() else { return };
    let export = pow(&[
        "export",
        "migrations",
        "--backend",
        "postgres",
        "--extensions",
        ALL,
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let schema = format!("pow_cli_{}", uuid::Uuid::new_v4().simple());
    let mut admin = diesel::PgConnection::establish(&base).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let applied = diesel::PgConnection::establish(&url)
        .unwrap()
        .batch_execute(&stdout(&export));
    let users = pow_core::users::diesel::DieselUsersContext::connect(&url).unwrap();
    let config = full_config(users.clone());
    let recorded = users.applied_migrations();
    let migrated = users.migrate(&config);
    let after = users.applied_migrations();
    drop(users);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
    applied.unwrap();
    let recorded = recorded.unwrap();
    assert_eq!(
        recorded.len(),
        pow_core::extension::all_sql_migrations(&config).len()
    );
    migrated.unwrap();
    assert_eq!(after.unwrap().len(), recorded.len());
}

/// `--extensions` means the core only unless given, and names the extensions it takes.
#[test]
fn extensions_default_to_none_and_are_listed() {
    let names = ALL.split(',').map(str::trim).collect::<Vec<_>>();
    for args in [
        &["users", "list", "--help"][..],
        &["migrate", "--help"][..],
        &["export", "migrations", "--help"][..],
    ] {
        let help = pow(args);
        assert!(help.status.success(), "{args:?}: {}", stderr(&help));
        for name in &names {
            assert!(stdout(&help).contains(name), "{args:?}: {}", stdout(&help));
        }
        assert!(
            stdout(&help).contains("none by default"),
            "{args:?}: {}",
            stdout(&help)
        );
    }
    let unknown = pow(&[
        "check",
        "--database-url",
        "x.db",
        "--extensions",
        "frobnicate",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    for name in &names {
        assert!(stderr(&unknown).contains(name), "{}", stderr(&unknown));
    }

    // Without --extensions: the core's migrations only.
    let out = std::env::temp_dir().join(format!("pow-cli-mig-{}", uuid::Uuid::new_v4().simple()));
    let export = pow(&[
        "export",
        "migrations",
        "--backend",
        "sqlite",
        "--out",
        &out.display().to_string(),
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        3,
        "the core's three"
    );
    let _ = std::fs::remove_dir_all(out);

    // A core-only app's database is complete, and users are made and listed on it.
    let (db, _users) = core_db();
    let url = db.display().to_string();
    let check = pow(&["check", "--database-url", &url]);
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    let create = create_operator(&url, &[]);
    assert!(create.status.success(), "{}", stderr(&create));
    let list = pow(&["users", "list", "--database-url", &url]);
    assert!(
        stdout(&list).contains("ops@example.com"),
        "{}",
        stderr(&list)
    );
    let _ = std::fs::remove_file(db);
}

/// A refused user shows the sentences the sign-up page shows, not message ids.
#[test]
fn validation_errors_are_the_pages_sentences() {
    let (db, users) = core_db();
    let url = db.display().to_string();
    let config = core_config(users);
    let messages = config.messages();
    let en = messages.languages()[0].clone();
    let sentence = |field: &str, key: &str| {
        format!(
            "{} {}",
            messages.field_label(&en, field),
            messages.validation_error(&en, field, &pow_core::users::ValidationError::new(key))
        )
    };
    let weak = pow(&[
        "users",
        "create",
        "--database-url",
        &url,
        "--email",
        "not an address",
        "--password",
        "password",
    ]);
    assert_eq!(weak.status.code(), Some(1));
    let err = stderr(&weak);
    assert!(err.contains(&sentence("password", "common")), "{err}");
    assert!(err.contains(&sentence("email", "format")), "{err}");
    assert!(!err.contains("password: common"), "{err}");
    let _ = std::fs::remove_file(db);
}

/// A reader that stops early (`pow export migrations | head -n 1`) ends the output quietly,
/// as it ends a Unix tool: no panic message, a successful exit. The pipe's read end is
/// closed before `pow` starts, so its first write finds no reader.
#[test]
fn output_to_a_reader_that_went_away_ends_quietly() {
    let export = ["export", "migrations", "--backend", "sqlite"];
    for args in [&export[..], &["gen", "secret"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_pow"))
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = stderr(&out);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
    }
}

/// `pow store migrate` creates the SQL store's table, `pow store check` says whether a
/// store answers, and `pow users revoke-sessions --sql-store` ends the sessions an app keeps
/// there.
#[test]
fn the_sql_store_is_created_checked_and_its_sessions_revoked() {
    let (db, users) = core_db();
    let url = db.display().to_string();
    let check = pow(&["store", "check", "--sql-store", &url]);
    assert_eq!(check.status.code(), Some(1), "no table yet");
    assert!(
        stderr(&check).contains("the store does not answer"),
        "{}",
        stderr(&check)
    );
    let migrate = pow(&["store", "migrate", &url]);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    assert_eq!(
        pow(&["store", "migrate", &url]).status.code(),
        Some(0),
        "again"
    );
    let check = pow(&["store", "check", "--sql-store", &url]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stdout(&check).contains("ok: the store answers"));
    let unreachable = pow(&["store", "check", "--redis-url", "redis://127.0.0.1:1/"]);
    assert_eq!(unreachable.status.code(), Some(1));

    let store = pow_core::store::SqlStore::connect(&url).unwrap();
    let config = pow_core::PowConfig::builder("c".repeat(64))
        .users(users)
        .base_url("http://localhost")
        .store(std::sync::Arc::new(store))
        .build()
        .unwrap();
    pow_actix::testing::create_user(&config, "ops@example.com", "a long operator passphrase")
        .unwrap();
    let served = config.clone();
    let addr = pow_actix::test_client::serve(move || pow_actix::testing::app(&served));
    let mut c = pow_actix::test_client::Client::new(addr);
    c.sign_in("ops@example.com", "a long operator passphrase");
    assert_eq!(c.get("/registration/edit").status, 200);
    let revoke = pow(&[
        "users",
        "revoke-sessions",
        "--database-url",
        &url,
        "--email",
        "ops@example.com",
        "--sql-store",
        &url,
    ]);
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    assert!(
        stdout(&revoke).contains("revoked 1 sessions"),
        "{}",
        stdout(&revoke)
    );
    assert_eq!(c.get("/registration/edit").status, 302, "signed out");
    let _ = std::fs::remove_file(db);
}

/// `pow provider clients`: a client registered, listed, its secret rotated (the previous
/// one kept for the overlap) and removed; without the app's secret, refused.
#[test]
fn provider_clients_are_managed_from_the_command_line() {
    let db = temp_db();
    let url = db.display().to_string();
    let users = pow_core::users::diesel::DieselUsersContext::connect(&url).unwrap();
    let config = full_config(users.clone());
    users.migrate(&config).unwrap();
    let setup = ["--database-url", url.as_str(), "--extensions", ALL];

    let unkeyed = Command::new(env!("CARGO_BIN_EXE_pow"))
        .args(["provider", "clients", "list"])
        .args(setup)
        .env_remove("SECRET_KEY_BASE")
        .output()
        .unwrap();
    assert_eq!(unkeyed.status.code(), Some(1));
    assert!(stderr(&unkeyed).contains("SECRET_KEY_BASE"));

    let bad = pow_with_secret(
        &[
            &["provider", "clients", "add"][..],
            &setup,
            &["--id", "x", "--redirect-uri", "javascript:alert(1)"],
        ]
        .concat(),
    );
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    assert!(
        stderr(&bad).contains("never a redirect URI"),
        "{}",
        stderr(&bad)
    );

    let add = pow_with_secret(
        &[
            &["provider", "clients", "add"][..],
            &setup,
            &[
                "--id",
                "reports",
                "--name",
                "Reports robot",
                "--confidential",
                "--scopes",
                "reports:read",
                "--grants",
                "client-credentials",
                "--secret-days",
                "90",
                "--post-logout-redirect-uri",
                "https://reports.example/signed-out",
            ],
        ]
        .concat(),
    );
    assert!(add.status.success(), "{}", stderr(&add));
    let secret_of = |output: &Output| {
        stdout(output)
            .lines()
            .find_map(|line| line.split("(shown once): ").nth(1).map(str::to_owned))
            .unwrap()
    };
    let first = secret_of(&add);
    assert!(first.starts_with("powcs_"), "{}", stdout(&add));

    let list = pow_with_secret(&[&["provider", "clients", "list"][..], &setup].concat());
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(
        stdout(&list).contains("reports confidential \"Reports robot\""),
        "{}",
        stdout(&list)
    );
    assert!(
        stdout(&list).contains("secret expires"),
        "{}",
        stdout(&list)
    );
    assert!(
        !stdout(&list).contains(&first),
        "never a secret in a listing"
    );

    let rotate = pow_with_secret(
        &[
            &["provider", "clients", "rotate-secret"][..],
            &setup,
            &["--id", "reports", "--overlap-hours", "2"],
        ]
        .concat(),
    );
    assert!(rotate.status.success(), "{}", stderr(&rotate));
    let second = secret_of(&rotate);
    assert_ne!(first, second);
    let list = pow_with_secret(&[&["provider", "clients", "list"][..], &setup].concat());
    assert!(
        stdout(&list).contains("previous secret until"),
        "{}",
        stdout(&list)
    );

    // Both secrets work during the overlap, for a setup with the app's secret.
    let provider = pow_ext_provider::Provider::new()
        .scopes(["reports:read"])
        .registered_client_grants([pow_ext_provider::GrantType::ClientCredentials]);
    let app = pow_core::PowConfig::builder("c".repeat(64))
        .users(users)
        .base_url("http://localhost")
        .extension(provider)
        .build()
        .unwrap();
    let addr = pow_testkit::serve(app);
    for secret in [&first, &second] {
        let mut client = pow_actix::test_client::Client::new(addr);
        let basic = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("reports:{secret}"),
        );
        client
            .headers
            .push(("authorization".into(), format!("Basic {basic}")));
        let res = client.post("/oauth/token", &[("grant_type", "client_credentials")]);
        assert_eq!(res.status, 200, "{}", res.body);
    }

    // Removing needs the app's cache store, where the tokens live.
    let remove = pow_with_secret(
        &[
            &["provider", "clients", "remove"][..],
            &setup,
            &["--id", "reports"],
        ]
        .concat(),
    );
    assert_eq!(remove.status.code(), Some(1));
    assert!(
        stderr(&remove).contains("cache store"),
        "{}",
        stderr(&remove)
    );
    let store = temp_db();
    let store_url = store.display().to_string();
    let made = pow(&["store", "migrate", &store_url]);
    assert!(made.status.success(), "{}", stderr(&made));
    let remove = pow_with_secret(
        &[
            &["provider", "clients", "remove"][..],
            &setup,
            &["--id", "reports", "--sql-store", &store_url],
        ]
        .concat(),
    );
    assert!(remove.status.success(), "{}", stderr(&remove));
    let list = pow_with_secret(&[&["provider", "clients", "list"][..], &setup].concat());
    assert!(
        stdout(&list).contains("no registered client"),
        "{}",
        stdout(&list)
    );
    for file in [db, store] {
        let _ = std::fs::remove_file(file);
    }
}

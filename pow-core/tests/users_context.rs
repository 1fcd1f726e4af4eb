//! The diesel users context, on SQLite always and on PostgreSQL when
//! `POW_TEST_DATABASE_URL` is set (required when `CI` is set).
//!
//! Every case is written once, in `cases`, and run on both backends, except the
//! PostgreSQL schema (multitenancy) cases, which SQLite has no counterpart for.
#![cfg(all(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "common/db.rs"]
mod db;

use std::sync::{Arc, Barrier};

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_migrations::embed_migrations;
use pow_core::extension::{Extension, ExtensionBuilder, Migrations, SqlMigration};
use pow_core::password::Pbkdf2Hasher;
use pow_core::users::diesel::{Database, DieselUsersContext};
use pow_core::users::{
    Changes, Changeset, FieldDef, FieldKind, Params, User, UserSchema, UsersContext, Value,
    WriteError,
};
use pow_core::{PowConfig, PowConfigBuilder, PowError};

use db::{Backend, TestEnv};

const SECRET: &str =
    "secret_key_base_for_tests_secret_key_base_for_tests_secret_key_base_for_tests";

fn builder() -> PowConfigBuilder {
    PowConfig::builder(SECRET).hasher(Pbkdf2Hasher::new(1))
}

fn config() -> PowConfig {
    builder().build().unwrap()
}

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn signup(email: &str, password: &str) -> Params {
    params(&[
        ("email", email),
        ("password", password),
        ("password_confirmation", password),
    ])
}

/// Creates a user that must be valid.
fn create(ctx: &DieselUsersContext, config: &PowConfig, email: &str, password: &str) -> User {
    match ctx
        .create(config.user_schema(), &signup(email, password))
        .unwrap()
    {
        Ok(user) => user,
        Err(cs) => panic!("unexpected changeset errors: {:?}", cs.errors),
    }
}

/// The changeset of a create that must be refused.
fn refused(ctx: &DieselUsersContext, config: &PowConfig, params: &Params) -> Changeset {
    match ctx.create(config.user_schema(), params).unwrap() {
        Ok(user) => panic!("unexpectedly created {user:?}"),
        Err(cs) => cs,
    }
}

fn email(value: &str) -> Value {
    Value::Text(value.to_owned())
}

/// A test extension with a migration (version 2026...) that adds two columns.
struct TestExtension;

const TEST_EXTENSION_MIGRATIONS: &[SqlMigration] = &[SqlMigration {
    version: "20260101000000",
    name: "add_test_extension_columns",
    sqlite_up: include_str!(
        "common/migrations/ext/sqlite/20260101000000_add_test_extension_columns/up.sql"
    ),
    sqlite_down: include_str!(
        "common/migrations/ext/sqlite/20260101000000_add_test_extension_columns/down.sql"
    ),
    postgres_up: include_str!(
        "common/migrations/ext/postgres/20260101000000_add_test_extension_columns/up.sql"
    ),
    postgres_down: include_str!(
        "common/migrations/ext/postgres/20260101000000_add_test_extension_columns/down.sql"
    ),
}];

/// App migrations whose version clashes with the core's.
static CLASHING_MIGRATIONS: Migrations = Migrations {
    sqlite: embed_migrations!("tests/common/migrations/app/sqlite"),
    postgres: embed_migrations!("tests/common/migrations/app/postgres"),
};

/// An app's own migrations (version 2026...) adding a `display_name` column.
static APP_FIELD_MIGRATIONS: Migrations = Migrations {
    sqlite: embed_migrations!("tests/common/migrations/app_fields/sqlite"),
    postgres: embed_migrations!("tests/common/migrations/app_fields/postgres"),
};

/// The versions of the core's, `TestExtension`'s and `APP_FIELD_MIGRATIONS`' migrations.
const CORE_VERSION: &str = "00000000000001";
/// The core's second migration: the audit table.
const AUDIT_VERSION: &str = "00000000000002";
/// The core's third migration: `users.disabled_at`.
const DISABLED_VERSION: &str = "00000000000003";
const EXTENSION_VERSION: &str = "20260101000000";
const APP_VERSION: &str = "20260201000000";

/// `Some` list of owned versions, as `TestDb::migration_versions` returns them.
fn versions(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|v| (*v).to_owned()).collect())
}

/// Signs in with `email` and `password`; the id of the user signed in.
fn login(ctx: &DieselUsersContext, config: &PowConfig, email: &str, password: &str) -> Option<i64> {
    ctx.authenticate(
        config.user_schema(),
        &params(&[("email", email), ("password", password)]),
    )
    .unwrap()
    .map(|user| user.id)
}

/// Inserts a user without a password, as an invitation does.
fn invite(ctx: &DieselUsersContext, config: &PowConfig, address: &str) -> User {
    let mut changes = Changes::new();
    changes.insert("email".into(), email(address));
    ctx.insert(config.user_schema(), &changes).unwrap()
}

impl Extension for TestExtension {
    fn name(&self) -> &'static str {
        "test_extension"
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.user_fields([
            FieldDef::new("test_token", FieldKind::Text).unique(),
            FieldDef::new("test_confirmed_at", FieldKind::Timestamp),
        ])
        .migrations(TEST_EXTENSION_MIGRATIONS);
    }
}

mod cases {
    use super::*;

    pub fn migrate_twice_is_a_noop(env: &TestEnv) {
        let db = env.db();
        let config = config();
        db.ctx.migrate(&config).unwrap();
        let user = create(&db.ctx, &config, "test@example.com", "secret1234");
        db.ctx.migrate(&config).unwrap();
        let again = db.ctx.get(config.user_schema(), user.id).unwrap();
        assert_eq!(again, Some(user));
        assert_eq!(db.count("__diesel_schema_migrations"), 3);
        assert_eq!(db.count("users"), 1);
        // Versions applied by others (e.g. the app's own migrations) are left alone.
        db.ctx
            .database()
            .batch_execute(
                "INSERT INTO __diesel_schema_migrations (version) VALUES ('99990101000000')",
            )
            .unwrap();
        db.ctx.migrate(&config).unwrap();
        assert_eq!(db.count("__diesel_schema_migrations"), 4);
    }

    pub fn extension_migrations_run_after_the_core(env: &TestEnv) {
        let db = env.db();
        let config = builder().extension(TestExtension).build().unwrap();
        db.ctx.migrate(&config).unwrap();
        db.ctx.migrate(&config).unwrap();
        assert_eq!(db.count("__diesel_schema_migrations"), 4);
        let user = create(&db.ctx, &config, "test@example.com", "secret1234");
        assert_eq!(user.get("test_token"), Some(&Value::Null));
        assert_eq!(user.get("test_confirmed_at"), Some(&Value::Null));

        // A config without the extension keeps working on the same table.
        let plain = config_plain();
        db.ctx.migrate(&plain).unwrap();
        assert!(db.ctx.get(plain.user_schema(), user.id).unwrap().is_some());
    }

    fn config_plain() -> PowConfig {
        config()
    }

    pub fn clashing_versions_are_refused(env: &TestEnv) {
        let db = env.db();
        let err = db
            .ctx
            .migrate_with(&config(), &[&CLASHING_MIGRATIONS])
            .unwrap_err();
        match err {
            PowError::Config(msg) => assert!(msg.contains("00000000000001"), "{msg}"),
            other => panic!("expected a config error, got {other:?}"),
        }
        // Nothing was applied.
        let config = config();
        assert!(db
            .ctx
            .get_by(config.user_schema(), "email", &email("a@b.c"))
            .is_err());
    }

    pub fn migrate_refuses_other_table_shapes(env: &TestEnv) {
        let db = env.db();
        let username = builder().user_id_field("username").build().unwrap();
        assert!(matches!(
            db.ctx.migrate(&username),
            Err(PowError::Config(msg)) if msg.contains("username")
        ));
        let table = builder().table("admins").build().unwrap();
        assert!(matches!(db.ctx.migrate(&table), Err(PowError::Config(_))));
    }

    pub fn create_user(env: &TestEnv) {
        let db = env.db();
        let config = config();
        db.ctx.migrate(&config).unwrap();
        let before = chrono::Utc::now() - chrono::Duration::seconds(5);
        let user = create(&db.ctx, &config, " Test@Example.com ", "secret1234");
        assert_eq!(user.email(), Some("test@example.com"));
        let hash = user.password_hash.clone().unwrap();
        assert!(hash.starts_with("$pbkdf2-sha512$1$"), "{hash}");
        assert_eq!(hash.split('$').filter(|p| !p.is_empty()).count(), 4);
        assert!(user.inserted_at >= before);
        assert!(user.inserted_at <= chrono::Utc::now());
        assert_eq!(user.inserted_at, user.updated_at);
        assert!(user.id > 0);

        let by_email = db
            .ctx
            .get_by(config.user_schema(), "email", &email("test@example.com"));
        assert_eq!(by_email.unwrap().as_ref(), Some(&user));
        assert_eq!(
            db.ctx.get(config.user_schema(), user.id).unwrap().as_ref(),
            Some(&user)
        );
        let listed = db
            .ctx
            .list_by(config.user_schema(), "email", &email("test@example.com"));
        assert_eq!(listed.unwrap(), vec![user.clone()]);

        let second = create(&db.ctx, &config, "other@example.com", "secret1234");
        assert!(second.id > user.id);
    }

    pub fn duplicate_email_is_taken(env: &TestEnv) {
        let db = env.db();
        let config = config();
        db.ctx.migrate(&config).unwrap();
        create(&db.ctx, &config, "test@example.com", "secret1234");
        let cs = refused(&db.ctx, &config, &signup("Test@Example.com", "secret1234"));
        assert!(cs.errors.has("email", "taken"), "{:?}", cs.errors);
        assert_eq!(
            db.ctx
                .list_by(config.user_schema(), "email", &email("test@example.com"))
                .unwrap()
                .len(),
            1
        );
    }

    pub fn concurrent_signups_with_one_email(env: &TestEnv) {
        let db = env.db();
        let config = config();
        db.ctx.migrate(&config).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let ctx = db.ctx.clone();
                let config = config.clone();
                let barrier = barrier.clone();
                let address = if i == 0 {
                    "race@example.com"
                } else {
                    "RACE@example.com"
                };
                std::thread::spawn(move || {
                    barrier.wait();
                    ctx.create(config.user_schema(), &signup(address, "secret1234"))
                        .unwrap()
                        .map_err(Box::new)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let created = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(created, 1, "exactly one sign-up wins");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(loser.errors.has("email", "taken"), "{:?}", loser.errors);
    }

    pub fn field_errors(env: &TestEnv) {
        let db = env.db();
        let config = config();
        db.ctx.migrate(&config).unwrap();

        let cs = refused(&db.ctx, &config, &signup("  ", "secret1234"));
        assert!(cs.errors.has("email", "blank"), "{:?}", cs.errors);

        let cs = refused(&db.ctx, &config, &signup("not-an-email", "secret1234"));
        assert!(cs.errors.has("email", "format"), "{:?}", cs.errors);

        let cs = refused(&db.ctx, &config, &signup("a@example.com", "short"));
        assert_eq!(cs.errors.get("password")[0].key, "too_short");
        assert_eq!(cs.errors.get("password")[0].count, Some(8));

        let long = "x".repeat(4097);
        let cs = refused(&db.ctx, &config, &signup("a@example.com", &long));
        assert_eq!(cs.errors.get("password")[0].key, "too_long");
        assert_eq!(cs.errors.get("password")[0].count, Some(4096));

        let mut mismatch = signup("a@example.com", "secret1234");
        mismatch.insert("password_confirmation".into(), "secret12345".into());
        let cs = refused(&db.ctx, &config, &mismatch);
        assert!(cs.errors.has("password_confirmation", "confirmation"));

        let cs = refused(&db.ctx, &config, &params(&[("email", "a@example.com")]));
        assert!(cs.errors.has("password", "blank"));

        assert!(db
            .ctx
            .get_by(config.user_schema(), "email", &email("a@example.com"))
            .unwrap()
            .is_none());
    }

    pub fn authenticate(env: &TestEnv) {
        let db = env.db();
        let config = config();
        db.ctx.migrate(&config).unwrap();
        let user = create(&db.ctx, &config, "test@example.com", "secret1234");
        let login = |id: &str, password: &str| {
            db.ctx
                .authenticate(
                    config.user_schema(),
                    &params(&[("email", id), ("password", password)]),
                )
                .unwrap()
        };
        assert_eq!(login("test@example.com", "secret1234"), Some(user.clone()));
        assert_eq!(
            login(" TEST@example.COM ", "secret1234"),
            Some(user.clone())
        );
        assert_eq!(login("test@example.com", "wrong password"), None);
        assert_eq!(login("unknown@example.com", "secret1234"), None);
        assert_eq!(login("", "secret1234"), None);
        assert_eq!(
            db.ctx
                .authenticate(
                    config.user_schema(),
                    &params(&[("email", "test@example.com")])
                )
                .unwrap(),
            None
        );

        // A user without a password (e.g. invited) never signs in.
        let mut changes = Changes::new();
        changes.insert("email".into(), email("invited@example.com"));
        let invited = db.ctx.insert(config.user_schema(), &changes).unwrap();
        assert_eq!(invited.password_hash, None);
        assert_eq!(login("invited@example.com", ""), None);
        assert_eq!(login("invited@example.com", "secret1234"), None);
    }

    pub fn update_account(env: &TestEnv) {
        let db = env.db();
        let config = config();
        db.ctx.migrate(&config).unwrap();
        let user = create(&db.ctx, &config, "test@example.com", "secret1234");

        let change = |extra: &[(&str, &str)]| {
            let mut p = params(&[
                ("email", "new@example.com"),
                ("password", "newsecret99"),
                ("password_confirmation", "newsecret99"),
            ]);
            p.extend(params(extra));
            db.ctx
                .update(config.user_schema(), &user, &p)
                .unwrap()
                .map_err(Box::new)
        };
        let cs = change(&[]).unwrap_err();
        assert!(cs.errors.has("current_password", "blank"));
        let cs = change(&[("current_password", "wrong password")]).unwrap_err();
        assert!(cs.errors.has("current_password", "invalid"));
        assert_eq!(
            db.ctx.get(config.user_schema(), user.id).unwrap(),
            Some(user.clone())
        );

        let updated = change(&[("current_password", "secret1234")]).unwrap();
        assert_eq!(updated.id, user.id);
        assert_eq!(updated.email(), Some("new@example.com"));
        assert_ne!(updated.password_hash, user.password_hash);
        assert_eq!(updated.inserted_at, user.inserted_at);
        assert!(updated.updated_at >= user.updated_at);
        assert_eq!(
            db.ctx.get(config.user_schema(), user.id).unwrap(),
            Some(updated.clone())
        );

        let login = |id: &str, password: &str| {
            db.ctx
                .authenticate(
                    config.user_schema(),
                    &params(&[("email", id), ("password", password)]),
                )
                .unwrap()
                .map(|u| u.id)
        };
        assert_eq!(login("new@example.com", "newsecret99"), Some(user.id));
        assert_eq!(login("new@example.com", "secret1234"), None);
        assert_eq!(login("test@example.com", "secret1234"), None);

        // Taking another user's email is refused.
        create(&db.ctx, &config, "other@example.com", "secret1234");
        let p = params(&[
            ("email", "other@example.com"),
            ("current_password", "newsecret99"),
        ]);
        let cs = db
            .ctx
            .update(config.user_schema(), &updated, &p)
            .unwrap()
            .unwrap_err();
        assert!(cs.errors.has("email", "taken"), "{:?}", cs.errors);
    }

    pub fn delete_and_lookups(env: &TestEnv) {
        let db = env.db();
        let config = config();
        db.ctx.migrate(&config).unwrap();
        let user = create(&db.ctx, &config, "test@example.com", "secret1234");
        let other = create(&db.ctx, &config, "other@example.com", "secret1234");
        db.ctx.delete(config.user_schema(), &user).unwrap();
        assert_eq!(db.ctx.get(config.user_schema(), user.id).unwrap(), None);
        assert_eq!(
            db.ctx
                .get_by(config.user_schema(), "email", &email("test@example.com"))
                .unwrap(),
            None
        );
        assert!(db
            .ctx
            .get(config.user_schema(), other.id)
            .unwrap()
            .is_some());

        assert_eq!(db.ctx.get(config.user_schema(), 123_456).unwrap(), None);
        assert_eq!(
            db.ctx
                .get_by(config.user_schema(), "email", &email("nobody@example.com"))
                .unwrap(),
            None
        );
        // Values are bound, never spliced into the SQL.
        assert_eq!(
            db.ctx
                .get_by(config.user_schema(), "email", &email("x' OR '1'='1"))
                .unwrap(),
            None
        );
        match db.ctx.get_by(config.user_schema(), "nickname", &email("x")) {
            Err(PowError::Config(msg)) => assert!(msg.contains("nickname"), "{msg}"),
            other => panic!("expected a config error, got {other:?}"),
        }
        assert!(matches!(
            db.ctx.get_by(config.user_schema(), "id", &email("1")),
            Err(PowError::Config(_))
        ));
        let mut changes = Changes::new();
        changes.insert("nickname".into(), email("x"));
        assert!(matches!(
            db.ctx.insert(config.user_schema(), &changes),
            Err(WriteError::Other(PowError::Config(msg))) if msg.contains("nickname")
        ));
        let mut changes = Changes::new();
        changes.insert("id".into(), Value::Int(7));
        assert!(matches!(
            db.ctx.update_fields(config.user_schema(), &other, &changes),
            Err(WriteError::Other(PowError::Config(_)))
        ));
        let bad_table = builder().table("users; DROP TABLE users").build().unwrap();
        assert!(matches!(
            db.ctx.get(bad_table.user_schema(), 1),
            Err(PowError::Config(_))
        ));
        assert!(db
            .ctx
            .get(config.user_schema(), other.id)
            .unwrap()
            .is_some());
    }

    pub fn custom_fields(env: &TestEnv) {
        let db = env.db();
        let config = builder()
            .user_field(FieldDef::new("name", FieldKind::Text).castable())
            .user_field(FieldDef::new("role", FieldKind::Text).castable())
            .changeset_hook(|cs: &mut Changeset, _: &UserSchema| {
                cs.validate_required("name");
                cs.validate_inclusion("role", &["user", "admin"]);
            })
            .build()
            .unwrap();
        db.ctx.migrate(&config).unwrap();
        db.ctx
            .database()
            .batch_execute(
                "ALTER TABLE users ADD COLUMN name VARCHAR NULL; \
                 ALTER TABLE users ADD COLUMN role VARCHAR NULL;",
            )
            .unwrap();

        let mut p = signup("jane@example.com", "secret1234");
        p.insert("role".into(), "root".into());
        let cs = refused(&db.ctx, &config, &p);
        assert!(cs.errors.has("name", "blank"), "{:?}", cs.errors);
        assert!(cs.errors.has("role", "invalid"), "{:?}", cs.errors);

        p.insert("name".into(), " Jane ".into());
        p.insert("role".into(), "admin".into());
        let user = match db.ctx.create(config.user_schema(), &p).unwrap() {
            Ok(user) => user,
            Err(cs) => panic!("{:?}", cs.errors),
        };
        assert_eq!(user.get_str("name"), Some("Jane"));
        assert_eq!(user.get_str("role"), Some("admin"));
        let read = db
            .ctx
            .get_by(config.user_schema(), "email", &email("jane@example.com"))
            .unwrap()
            .unwrap();
        assert_eq!(read.get_str("name"), Some("Jane"));
        assert_eq!(read.get_str("role"), Some("admin"));
        assert_eq!(
            db.ctx
                .list_by(config.user_schema(), "role", &email("admin"))
                .unwrap(),
            vec![read]
        );
    }

    pub fn field_kinds_round_trip(env: &TestEnv) {
        let db = env.db();
        let config = builder()
            .user_field(FieldDef::new("confirmed_at", FieldKind::Timestamp))
            .user_field(FieldDef::new("login_count", FieldKind::Int))
            .user_field(FieldDef::new("locked", FieldKind::Bool))
            .build()
            .unwrap();
        db.ctx.migrate(&config).unwrap();
        db.ctx
            .database()
            .batch_execute(&format!(
                "ALTER TABLE users ADD COLUMN confirmed_at TIMESTAMP NULL; \
                 ALTER TABLE users ADD COLUMN login_count {} NULL; \
                 ALTER TABLE users ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;",
                db.bigint()
            ))
            .unwrap();
        let user = create(&db.ctx, &config, "test@example.com", "secret1234");
        assert_eq!(user.get("confirmed_at"), Some(&Value::Null));
        assert_eq!(user.get("login_count"), Some(&Value::Null));
        assert_eq!(user.get("locked"), Some(&Value::Bool(false)));

        let at = chrono::DateTime::parse_from_rfc3339("2024-02-29T23:59:58.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut changes = Changes::new();
        changes.insert("confirmed_at".into(), Value::Timestamp(at));
        changes.insert("login_count".into(), Value::Int(i64::MAX));
        changes.insert("locked".into(), Value::Bool(true));
        let updated = db
            .ctx
            .update_fields(config.user_schema(), &user, &changes)
            .unwrap();
        assert_eq!(updated.get_timestamp("confirmed_at"), Some(at));
        assert_eq!(updated.get_int("login_count"), Some(i64::MAX));
        assert_eq!(updated.get("locked"), Some(&Value::Bool(true)));
        assert_eq!(
            db.ctx.get(config.user_schema(), user.id).unwrap(),
            Some(updated.clone())
        );
        assert_eq!(
            db.ctx
                .list_by(config.user_schema(), "confirmed_at", &Value::Timestamp(at))
                .unwrap(),
            vec![updated.clone()]
        );
        assert_eq!(
            db.ctx
                .list_by(config.user_schema(), "locked", &Value::Bool(true))
                .unwrap()
                .len(),
            1
        );

        // NULL lookups match NULL columns.
        let other = create(&db.ctx, &config, "other@example.com", "secret1234");
        assert_eq!(
            db.ctx
                .list_by(config.user_schema(), "confirmed_at", &Value::Null)
                .unwrap(),
            vec![other]
        );

        let mut wrong = Changes::new();
        wrong.insert("login_count".into(), email("many"));
        assert!(matches!(
            db.ctx.update_fields(config.user_schema(), &updated, &wrong),
            Err(WriteError::Other(PowError::Config(_)))
        ));
    }

    pub fn unique_extension_field(env: &TestEnv) {
        let db = env.db();
        let config = builder().extension(TestExtension).build().unwrap();
        db.ctx.migrate(&config).unwrap();
        let a = create(&db.ctx, &config, "a@example.com", "secret1234");
        let b = create(&db.ctx, &config, "b@example.com", "secret1234");
        let mut changes = Changes::new();
        changes.insert("test_token".into(), email("token-1"));
        db.ctx
            .update_fields(config.user_schema(), &a, &changes)
            .unwrap();
        match db.ctx.update_fields(config.user_schema(), &b, &changes) {
            Err(WriteError::Unique(field)) => assert_eq!(field, "test_token"),
            other => panic!("expected a unique violation, got {other:?}"),
        }
        let found = db
            .ctx
            .get_by(config.user_schema(), "test_token", &email("token-1"))
            .unwrap();
        assert_eq!(found.map(|u| u.id), Some(a.id));
    }

    pub fn username_setup(env: &TestEnv) {
        let db = env.db();
        let config = builder().user_id_field("username").build().unwrap();
        db.ctx
            .database()
            .batch_execute(&format!(
                "CREATE TABLE users ({}, username VARCHAR NOT NULL, password_hash VARCHAR NULL, \
                 inserted_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, \
                 disabled_at TIMESTAMP NULL); \
                 CREATE UNIQUE INDEX users_username_index ON users (username);",
                db.id_column()
            ))
            .unwrap();
        let signup = |name: &str| {
            params(&[
                ("username", name),
                ("password", "secret1234"),
                ("password_confirmation", "secret1234"),
            ])
        };
        let user = db
            .ctx
            .create(config.user_schema(), &signup(" Alice "))
            .unwrap()
            .unwrap();
        assert_eq!(user.user_id(config.user_schema()), Some("alice"));
        assert_eq!(user.email(), None);
        let cs = db
            .ctx
            .create(config.user_schema(), &signup("ALICE"))
            .unwrap()
            .unwrap_err();
        assert!(cs.errors.has("username", "taken"), "{:?}", cs.errors);
        let login = db
            .ctx
            .authenticate(
                config.user_schema(),
                &params(&[("username", "ALICE"), ("password", "secret1234")]),
            )
            .unwrap();
        assert_eq!(login.map(|u| u.id), Some(user.id));
    }

    pub fn rehash_on_sign_in(env: &TestEnv) {
        let db = env.db();
        let weak = config();
        db.ctx.migrate(&weak).unwrap();
        let user = create(&db.ctx, &weak, "test@example.com", "secret1234");
        assert!(user
            .password_hash
            .as_deref()
            .unwrap()
            .starts_with("$pbkdf2-sha512$1$"));

        let strong = PowConfig::builder(SECRET)
            .hasher(Pbkdf2Hasher::new(2))
            .build()
            .unwrap();
        let signed_in = db
            .ctx
            .authenticate(
                strong.user_schema(),
                &params(&[("email", "test@example.com"), ("password", "secret1234")]),
            )
            .unwrap()
            .unwrap();
        let new_hash = signed_in.password_hash.clone().unwrap();
        assert!(new_hash.starts_with("$pbkdf2-sha512$2$"), "{new_hash}");
        let stored = db.ctx.get(strong.user_schema(), user.id).unwrap().unwrap();
        assert_eq!(stored.password_hash, Some(new_hash));
        // The upgraded hash still signs in, under both configs.
        for config in [&strong, &weak] {
            let again = db
                .ctx
                .authenticate(
                    config.user_schema(),
                    &params(&[("email", "test@example.com"), ("password", "secret1234")]),
                )
                .unwrap();
            assert_eq!(again.map(|u| u.id), Some(user.id));
        }
    }

    pub fn two_configs_are_separate(env: &TestEnv) {
        let users_db = env.db();
        let admins_db = env.db();
        let users = config();
        let admins = builder().name("admin").build().unwrap();
        users_db.ctx.migrate(&users).unwrap();
        admins_db.ctx.migrate(&admins).unwrap();

        let user = create(&users_db.ctx, &users, "test@example.com", "secret1234");
        assert_eq!(
            admins_db
                .ctx
                .get_by(admins.user_schema(), "email", &email("test@example.com"))
                .unwrap(),
            None
        );
        let login = params(&[("email", "test@example.com"), ("password", "secret1234")]);
        assert_eq!(
            admins_db
                .ctx
                .authenticate(admins.user_schema(), &login)
                .unwrap(),
            None
        );

        let admin = create(&admins_db.ctx, &admins, "test@example.com", "other-secret");
        assert_eq!(
            users_db
                .ctx
                .authenticate(users.user_schema(), &login)
                .unwrap()
                .map(|u| u.id),
            Some(user.id)
        );
        let admin_login = params(&[("email", "test@example.com"), ("password", "other-secret")]);
        assert_eq!(
            admins_db
                .ctx
                .authenticate(admins.user_schema(), &admin_login)
                .unwrap()
                .map(|u| u.id),
            Some(admin.id)
        );
        assert_eq!(
            users_db
                .ctx
                .authenticate(users.user_schema(), &admin_login)
                .unwrap(),
            None
        );
    }

    pub fn schema_prefix(env: &TestEnv) {
        let mut db = env.db();
        let config = config();
        if env.backend == Backend::Sqlite {
            assert!(matches!(
                db.ctx.with_schema("tenant"),
                Err(PowError::Config(_))
            ));
            return;
        }
        assert!(matches!(
            db.ctx.with_schema("Tenant\"; --"),
            Err(PowError::Config(_))
        ));
        for system in ["public", "information_schema", "pg_catalog", "PG_TEMP"] {
            assert!(
                matches!(db.ctx.with_schema(system), Err(PowError::Config(_))),
                "{system}"
            );
        }
        let schema = db::unique_schema("pow_tenant");
        db.drop_schema_later(&schema);
        let tenant = db.ctx.with_schema(&schema).unwrap();
        assert_eq!(tenant.schema(), Some(schema.as_str()));
        tenant.migrate(&config).unwrap();
        tenant.migrate(&config).unwrap();
        db.ctx.migrate(&config).unwrap();

        let user = create(&tenant, &config, "test@example.com", "secret1234");
        assert_eq!(
            tenant
                .get(config.user_schema(), user.id)
                .unwrap()
                .map(|u| u.id),
            Some(user.id)
        );
        assert_eq!(
            db.ctx
                .get_by(config.user_schema(), "email", &email("test@example.com"))
                .unwrap(),
            None
        );
        // The same email is free in the default schema, and taken again in the tenant's.
        create(&db.ctx, &config, "test@example.com", "secret1234");
        let cs = refused(&tenant, &config, &signup("test@example.com", "secret1234"));
        assert!(cs.errors.has("email", "taken"));
    }

    pub fn schema_prefix_extension_migrations(env: &TestEnv) {
        assert_eq!(env.backend, Backend::Postgres);
        let mut db = env.db();
        let default = db.schema().unwrap().to_owned();
        let schema = db::unique_schema("pow_tenant");
        db.drop_schema_later(&schema);
        let tenant = db.ctx.with_schema(&schema).unwrap();
        let plain = config();
        let full = builder()
            .extension(TestExtension)
            .user_field(FieldDef::new("display_name", FieldKind::Text).castable())
            .build()
            .unwrap();
        let core_columns = [
            "disabled_at",
            "email",
            "id",
            "inserted_at",
            "password_hash",
            "updated_at",
        ];

        db.ctx.migrate(&plain).unwrap();
        assert_eq!(
            db.migration_versions(&default),
            versions(&[CORE_VERSION, AUDIT_VERSION, DISABLED_VERSION])
        );
        assert_eq!(db.migration_versions(&schema), None);

        // The default schema's bookkeeping does not count for the tenant: everything runs.
        tenant
            .migrate_with(&full, &[&APP_FIELD_MIGRATIONS])
            .unwrap();
        let all = versions(&[
            CORE_VERSION,
            AUDIT_VERSION,
            DISABLED_VERSION,
            EXTENSION_VERSION,
            APP_VERSION,
        ]);
        assert_eq!(db.migration_versions(&schema), all);
        tenant
            .migrate_with(&full, &[&APP_FIELD_MIGRATIONS])
            .unwrap();
        tenant.migrate(&full).unwrap();
        tenant.migrate(&plain).unwrap();
        assert_eq!(db.migration_versions(&schema), all);

        // Nothing was recorded or created outside the tenant's schema.
        assert_eq!(
            db.migration_versions(&default),
            versions(&[CORE_VERSION, AUDIT_VERSION, DISABLED_VERSION])
        );
        assert_eq!(db.columns(&default, "users"), core_columns);
        let public = db.migration_versions("public").unwrap_or_default();
        assert!(
            !public
                .iter()
                .any(|v| v == EXTENSION_VERSION || v == APP_VERSION),
            "{public:?}"
        );
        let mut tenant_columns = core_columns.to_vec();
        tenant_columns.extend(["display_name", "test_confirmed_at", "test_token"]);
        tenant_columns.sort_unstable();
        assert_eq!(db.columns(&schema, "users"), tenant_columns);

        // The new columns are in use through the tenant's context.
        let mut p = signup("jane@example.com", "secret1234");
        p.insert("display_name".into(), "Jane".into());
        let jane = match tenant.create(full.user_schema(), &p).unwrap() {
            Ok(user) => user,
            Err(cs) => panic!("unexpected changeset errors: {:?}", cs.errors),
        };
        assert_eq!(jane.get_str("display_name"), Some("Jane"));
        assert_eq!(jane.get("test_token"), Some(&Value::Null));
        let mut token = Changes::new();
        token.insert("test_token".into(), email("token-1"));
        let jane = tenant
            .update_fields(full.user_schema(), &jane, &token)
            .unwrap();
        let bob = create(&tenant, &full, "bob@example.com", "secret1234");
        match tenant.update_fields(full.user_schema(), &bob, &token) {
            Err(WriteError::Unique(field)) => assert_eq!(field, "test_token"),
            other => panic!("expected a unique violation, got {other:?}"),
        }
        assert_eq!(
            tenant
                .get_by(full.user_schema(), "test_token", &email("token-1"))
                .unwrap(),
            Some(jane)
        );
        // The default schema has none of the tenant's columns.
        assert!(matches!(
            db.ctx
                .get_by(full.user_schema(), "test_token", &email("token-1")),
            Err(PowError::Database(_))
        ));

        // Migrating the default schema afterwards records the rest there, in its own table.
        db.ctx
            .migrate_with(&full, &[&APP_FIELD_MIGRATIONS])
            .unwrap();
        assert_eq!(db.migration_versions(&default), all);
        assert_eq!(db.migration_versions(&schema), all);
        assert_eq!(db.columns(&default, "users"), tenant_columns);
        assert_eq!(
            db.ctx
                .get_by(full.user_schema(), "test_token", &email("token-1"))
                .unwrap(),
            None
        );
    }

    pub fn schema_prefix_writes_stay_in_the_tenant(env: &TestEnv) {
        assert_eq!(env.backend, Backend::Postgres);
        let mut db = env.db();
        let schema = db::unique_schema("pow_tenant");
        db.drop_schema_later(&schema);
        let tenant = db.ctx.with_schema(&schema).unwrap();
        let tenant_users = format!("{schema}.users");
        let config = config();
        db.ctx.migrate(&config).unwrap();
        tenant.migrate(&config).unwrap();

        let home = create(&db.ctx, &config, "jane@example.com", "home-secret");
        let jane = create(&tenant, &config, "jane@example.com", "tenant-secret");
        // Both tables number their rows from 1: a statement that missed the schema would
        // reach the other table's row with the same id.
        assert_eq!(jane.id, home.id);
        let bob = create(&tenant, &config, "bob@example.com", "secret1234");

        // update_fields
        let mut changes = Changes::new();
        changes.insert("email".into(), email("jane@tenant.example"));
        let renamed = tenant
            .update_fields(config.user_schema(), &jane, &changes)
            .unwrap();
        assert_eq!(renamed.id, jane.id);
        assert_eq!(renamed.email(), Some("jane@tenant.example"));
        assert_eq!(
            tenant.get(config.user_schema(), jane.id).unwrap(),
            Some(renamed.clone())
        );
        assert_eq!(
            db.ctx.get(config.user_schema(), home.id).unwrap(),
            Some(home.clone())
        );
        assert_eq!(
            db.ctx
                .get_by(config.user_schema(), "email", &email("jane@tenant.example"))
                .unwrap(),
            None
        );

        // list_by
        let invited_a = invite(&tenant, &config, "a@example.com");
        let invited_b = invite(&tenant, &config, "b@example.com");
        let invited_home = invite(&db.ctx, &config, "c@example.com");
        assert_eq!(
            tenant
                .list_by(config.user_schema(), "password_hash", &Value::Null)
                .unwrap(),
            vec![invited_a, invited_b]
        );
        assert_eq!(
            db.ctx
                .list_by(config.user_schema(), "password_hash", &Value::Null)
                .unwrap(),
            vec![invited_home.clone()]
        );
        assert_eq!(
            tenant
                .list_by(config.user_schema(), "email", &email("jane@example.com"))
                .unwrap(),
            vec![]
        );
        assert_eq!(
            db.ctx
                .list_by(config.user_schema(), "email", &email("jane@example.com"))
                .unwrap(),
            vec![home.clone()]
        );

        // authenticate
        assert_eq!(
            login(&tenant, &config, "jane@tenant.example", "tenant-secret"),
            Some(jane.id)
        );
        assert_eq!(
            login(&tenant, &config, "jane@example.com", "home-secret"),
            None
        );
        assert_eq!(
            login(&db.ctx, &config, "jane@example.com", "home-secret"),
            Some(home.id)
        );
        assert_eq!(
            login(&db.ctx, &config, "jane@tenant.example", "tenant-secret"),
            None
        );
        // A re-hash on sign-in writes the tenant's row only.
        let strong = PowConfig::builder(SECRET)
            .hasher(Pbkdf2Hasher::new(2))
            .build()
            .unwrap();
        let upgraded = tenant
            .authenticate(
                strong.user_schema(),
                &params(&[
                    ("email", "jane@tenant.example"),
                    ("password", "tenant-secret"),
                ]),
            )
            .unwrap()
            .unwrap();
        let new_hash = upgraded.password_hash.clone().unwrap();
        assert!(new_hash.starts_with("$pbkdf2-sha512$2$"), "{new_hash}");
        assert_eq!(
            tenant.get(config.user_schema(), jane.id).unwrap(),
            Some(upgraded.clone())
        );
        assert_eq!(
            db.ctx.get(config.user_schema(), home.id).unwrap(),
            Some(home.clone())
        );

        // delete
        assert_eq!(db.count(&tenant_users), 4);
        assert_eq!(db.count("users"), 2);
        tenant.delete(config.user_schema(), &upgraded).unwrap();
        assert_eq!(tenant.get(config.user_schema(), jane.id).unwrap(), None);
        assert_eq!(db.count(&tenant_users), 3);
        assert_eq!(
            db.ctx.get(config.user_schema(), home.id).unwrap(),
            Some(home.clone())
        );
        assert_eq!(
            login(&db.ctx, &config, "jane@example.com", "home-secret"),
            Some(home.id)
        );
        // And the other way round.
        assert_eq!(invited_home.id, bob.id);
        db.ctx.delete(config.user_schema(), &invited_home).unwrap();
        assert_eq!(
            db.ctx.get(config.user_schema(), invited_home.id).unwrap(),
            None
        );
        assert_eq!(
            tenant.get(config.user_schema(), bob.id).unwrap(),
            Some(bob.clone())
        );
        assert_eq!(db.count(&tenant_users), 3);
        assert_eq!(db.count("users"), 1);
    }

    pub fn two_tenant_schemas(env: &TestEnv) {
        assert_eq!(env.backend, Backend::Postgres);
        let mut db = env.db();
        // One connection for both tenants, so every statement of one runs in the same
        // session as the other's (cached statements, `SET LOCAL search_path`).
        let pool = Pool::builder()
            .max_size(1)
            .build(ConnectionManager::<PgConnection>::new(db.url.clone()))
            .unwrap();
        let shared = DieselUsersContext::new(Database::Postgres(pool));
        let (schema_a, schema_b) = (
            db::unique_schema("pow_tenant_a"),
            db::unique_schema("pow_tenant_b"),
        );
        db.drop_schema_later(&schema_a);
        db.drop_schema_later(&schema_b);
        let a = shared.with_schema(&schema_a).unwrap();
        let b = shared.with_schema(&schema_b).unwrap();
        let config = builder().extension(TestExtension).build().unwrap();
        a.migrate(&config).unwrap();
        b.migrate(&config).unwrap();
        a.migrate(&config).unwrap();
        b.migrate(&config).unwrap();
        let expected = versions(&[
            CORE_VERSION,
            AUDIT_VERSION,
            DISABLED_VERSION,
            EXTENSION_VERSION,
        ]);
        assert_eq!(db.migration_versions(&schema_a), expected);
        assert_eq!(db.migration_versions(&schema_b), expected);
        let default = db.schema().unwrap();
        assert_eq!(db.migration_versions(default), None);
        assert_eq!(db.columns(default, "users"), Vec::<String>::new());

        // The same email in both, with different passwords.
        let in_a = create(&a, &config, "jane@example.com", "secret-of-a");
        let in_b = create(&b, &config, "jane@example.com", "secret-of-b");
        assert_eq!(in_a.id, in_b.id);
        assert_ne!(in_a.password_hash, in_b.password_hash);
        let cs = refused(&b, &config, &signup("JANE@example.com", "secret1234"));
        assert!(cs.errors.has("email", "taken"), "{:?}", cs.errors);
        assert_eq!(
            login(&a, &config, "jane@example.com", "secret-of-a"),
            Some(in_a.id)
        );
        assert_eq!(login(&a, &config, "jane@example.com", "secret-of-b"), None);
        assert_eq!(
            login(&b, &config, "jane@example.com", "secret-of-b"),
            Some(in_b.id)
        );
        assert_eq!(login(&b, &config, "jane@example.com", "secret-of-a"), None);

        // The extension's unique index is per schema too.
        let mut token = Changes::new();
        token.insert("test_token".into(), email("token-1"));
        let in_a = a
            .update_fields(config.user_schema(), &in_a, &token)
            .unwrap();
        let in_b = b
            .update_fields(config.user_schema(), &in_b, &token)
            .unwrap();
        let bob = create(&a, &config, "bob@example.com", "secret1234");
        match a.update_fields(config.user_schema(), &bob, &token) {
            Err(WriteError::Unique(field)) => assert_eq!(field, "test_token"),
            other => panic!("expected a unique violation, got {other:?}"),
        }
        let found = |ctx: &DieselUsersContext| {
            ctx.get_by(config.user_schema(), "test_token", &email("token-1"))
                .unwrap()
        };
        assert_eq!(found(&a), Some(in_a.clone()));
        assert_eq!(found(&b), Some(in_b.clone()));

        // Deleting in one leaves the other.
        a.delete(config.user_schema(), &in_a).unwrap();
        assert_eq!(a.get(config.user_schema(), in_a.id).unwrap(), None);
        assert_eq!(found(&a), None);
        assert_eq!(
            b.get(config.user_schema(), in_b.id).unwrap(),
            Some(in_b.clone())
        );
        assert_eq!(login(&a, &config, "jane@example.com", "secret-of-a"), None);
        assert_eq!(
            login(&b, &config, "jane@example.com", "secret-of-b"),
            Some(in_b.id)
        );
        assert_eq!(db.count(&format!("{schema_a}.users")), 1);
        assert_eq!(db.count(&format!("{schema_b}.users")), 1);
        // The email is free again in `a` only.
        let again = create(&a, &config, "jane@example.com", "new-secret-of-a");
        assert!(again.id > bob.id);
        let cs = refused(&b, &config, &signup("jane@example.com", "secret1234"));
        assert!(cs.errors.has("email", "taken"), "{:?}", cs.errors);

        // The tenants' migrations left the shared connection's own schema alone: migrating
        // the plain context now fills that schema, and only it.
        shared.migrate(&config).unwrap();
        assert_eq!(db.migration_versions(default), expected);
        assert_eq!(db.count("users"), 0);
        assert_eq!(
            shared
                .get_by(config.user_schema(), "email", &email("jane@example.com"))
                .unwrap(),
            None
        );
        let home = create(&shared, &config, "jane@example.com", "home-secret");
        assert_eq!(
            login(&shared, &config, "jane@example.com", "home-secret"),
            Some(home.id)
        );
        assert_eq!(login(&b, &config, "jane@example.com", "home-secret"), None);
        assert_eq!(db.migration_versions(&schema_a), expected);
        assert_eq!(db.count(&format!("{schema_b}.users")), 1);
    }

    pub fn schema_prefix_concurrent_migrations(env: &TestEnv) {
        assert_eq!(env.backend, Backend::Postgres);
        let mut db = env.db();
        let schema = db::unique_schema("pow_tenant");
        db.drop_schema_later(&schema);
        let tenant = db.ctx.with_schema(&schema).unwrap();
        let config = builder().extension(TestExtension).build().unwrap();
        let barrier = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (tenant, config, barrier) = (tenant.clone(), config.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    tenant.migrate(&config)
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap().unwrap();
        }
        assert_eq!(
            db.migration_versions(&schema),
            versions(&[
                CORE_VERSION,
                AUDIT_VERSION,
                DISABLED_VERSION,
                EXTENSION_VERSION
            ])
        );
        create(&tenant, &config, "jane@example.com", "secret1234");
        assert_eq!(db.count(&format!("{schema}.users")), 1);
    }
}

/// Runs every case of the first list on both backends and every case of the second
/// (schemas, which only PostgreSQL has) on PostgreSQL.
macro_rules! suite {
    (both: [$($case:ident),* $(,)?], postgres_only: [$($pg_case:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    crate::cases::$case(&crate::db::TestEnv::sqlite());
                }
            )*
        }

        mod postgres {
            $(
                #[test]
                fn $case() {
                    if let Some(env) = crate::db::TestEnv::postgres(stringify!($case)) {
                        crate::cases::$case(&env);
                    }
                }
            )*
            $(
                #[test]
                fn $pg_case() {
                    if let Some(env) = crate::db::TestEnv::postgres(stringify!($pg_case)) {
                        crate::cases::$pg_case(&env);
                    }
                }
            )*
        }
    };
}

suite!(
    both: [
        migrate_twice_is_a_noop,
        extension_migrations_run_after_the_core,
        clashing_versions_are_refused,
        migrate_refuses_other_table_shapes,
        create_user,
        duplicate_email_is_taken,
        concurrent_signups_with_one_email,
        field_errors,
        authenticate,
        update_account,
        delete_and_lookups,
        custom_fields,
        field_kinds_round_trip,
        unique_extension_field,
        username_setup,
        rehash_on_sign_in,
        two_configs_are_separate,
        schema_prefix,
    ],
    postgres_only: [
        schema_prefix_extension_migrations,
        schema_prefix_writes_stay_in_the_tenant,
        two_tenant_schemas,
        schema_prefix_concurrent_migrations,
    ],
);

#[test]
fn memory_database_keeps_its_data_across_calls() {
    let ctx = DieselUsersContext::connect(":memory:").unwrap();
    let config = config();
    ctx.migrate(&config).unwrap();
    let user = create(&ctx, &config, "test@example.com", "secret1234");
    assert_eq!(ctx.get(config.user_schema(), user.id).unwrap(), Some(user));
    assert_eq!(ctx.database().backend(), "sqlite");
}

#[test]
fn connection_errors_say_what_to_check() {
    let err = DieselUsersContext::connect("postgres://pow:hunter2@127.0.0.1:1/nope").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PowError::Database(_)), "{msg}");
    assert!(msg.contains("could not connect to PostgreSQL at"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");

    let missing = std::env::temp_dir()
        .join(format!("pow_missing_{}", uuid::Uuid::new_v4().simple()))
        .join("users.sqlite3");
    let err = DieselUsersContext::connect(&missing.display().to_string()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("could not open the SQLite database"), "{msg}");
}

#[test]
fn works_from_async_code_through_the_users_handle() {
    let ctx = DieselUsersContext::connect(":memory:").unwrap();
    let config = config();
    ctx.migrate(&config).unwrap();
    let config = builder().users(ctx).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let users = config.users().unwrap();
        let created = users
            .create(signup("async@example.com", "secret1234"))
            .await
            .unwrap();
        let user = created.unwrap();
        let found = users.get_by("email", "async@example.com").await.unwrap();
        assert_eq!(found.as_ref(), Some(&user));
        assert_eq!(users.get(user.id).await.unwrap(), Some(user.clone()));
        let authenticated = users
            .authenticate(signup("async@example.com", "secret1234"))
            .await
            .unwrap();
        assert_eq!(authenticated.map(|u| u.id), Some(user.id));
        users.delete(&user).await.unwrap();
        assert_eq!(users.get(user.id).await.unwrap(), None);
    });
}

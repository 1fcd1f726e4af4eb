//! `pow`: the pow-rs command line.
//!
//! **Guide**: [the `pow` command](https://github.com/pow-rs/pow-rs/blob/main/guides/cli.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! - `pow gen secret`: a secret key base;
//! - `pow export migrations|templates|messages`: the SQL, templates and Fluent files pow-rs
//!   embeds, to keep in an app's own migrations or to start overriding;
//! - `pow users create|confirm|disable|enable|revoke-sessions|list`: user administration
//!   on a database (and the Redis or SQL store for sessions);
//! - `pow check`: whether a database has every migration and column the setup needs;
//! - `pow migrate`: the migrations the app's `migrate()` runs, for a database the app has
//!   not started on yet;
//! - `pow store migrate|check`: the SQL store's table; whether a Redis or SQL store answers.
//!
//! Every command has `--help`. Exit codes: 0 done, 1 failed (the message says why), 2 a
//! usage error.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pow_core::extension::{all_sql_migrations, SqlMigration};
use pow_core::users::diesel::DieselUsersContext;
use pow_core::users::{Changes, UsersContext, Value};
use pow_core::{PowConfig, PowError, User};

mod database;
mod new;
mod provider;

#[derive(Parser)]
#[command(name = "pow", version, about = "The pow-rs command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate secrets.
    #[command(subcommand)]
    Gen(Gen),
    /// Write out what pow-rs embeds: migrations, templates, messages.
    #[command(subcommand)]
    Export(Export),
    /// Administer users.
    #[command(subcommand)]
    Users(Users),
    /// Closed accounts (the account extension).
    #[command(subcommand)]
    Accounts(Accounts),
    /// Check that a database has every migration and column the extensions need.
    Check(Setup),
    /// Run the migrations the app's `migrate()` runs with these extensions (creating the
    /// tables of a fresh database); the versions are recorded the same way, so the app
    /// then finds nothing to apply.
    Migrate(Setup),
    /// Create a new app: Cargo.toml, src/main.rs, .env and .gitignore, ready for `cargo run`.
    New(new::New),
    /// The cache store: create the SQL store's table, or check that a store answers.
    #[command(subcommand)]
    Store(StoreCommand),
    /// The OAuth provider (pow-ext-provider): its registered clients.
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Create the SQL store's table (`pow_store`) in a database, as `SqlStore::migrate`
    /// does at start; running it again changes nothing.
    Migrate {
        /// The database (`postgres://...`, `sqlite://path`).
        database_url: String,
    },
    /// Whether the store answers: writes, reads and deletes one record; exit code 1 with
    /// the reason when it does not.
    Check(Store),
}

#[derive(Subcommand)]
enum Gen {
    /// A random secret key base (base64), for `PowConfig::builder`.
    Secret {
        /// Random bytes (at least 64).
        #[arg(long, default_value_t = 64)]
        bytes: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The extensions pow-rs ships.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Ext {
    ResetPassword,
    EmailConfirmation,
    TwoFactor,
    Passwordless,
    Passkeys,
    PersistentSession,
    Invitation,
    Oauth,
    Account,
    Organizations,
    ApiKeys,
    Provider,
}

impl Ext {
    /// Every extension, in the order a config must enable them.
    const ALL: [Ext; 12] = [
        Ext::ResetPassword,
        Ext::EmailConfirmation,
        Ext::TwoFactor,
        Ext::Passwordless,
        Ext::Passkeys,
        Ext::PersistentSession,
        Ext::Invitation,
        Ext::Oauth,
        Ext::Account,
        Ext::Organizations,
        Ext::ApiKeys,
        Ext::Provider,
    ];
}

#[derive(Args)]
struct Extensions {
    /// The extensions the app enables (comma-separated); none by default (the core only).
    #[arg(long, value_enum, value_delimiter = ',')]
    extensions: Vec<Ext>,
}

impl Extensions {
    /// The chosen extensions, in the order a config must enable them.
    fn list(&self) -> Vec<Ext> {
        Ext::ALL
            .into_iter()
            .filter(|ext| self.extensions.contains(ext))
            .collect()
    }
}

#[derive(Subcommand)]
enum Export {
    /// The SQL migrations (`<version>_<name>/up.sql` and `down.sql`), in the order
    /// `migrate()` applies them. Without `--out`, printed one after the other.
    Migrations {
        /// The database.
        #[arg(long, value_enum)]
        backend: Backend,
        #[command(flatten)]
        extensions: Extensions,
        /// A folder to write them to (diesel's layout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The page and mail templates and the stylesheet.
    Templates {
        /// The folder to write them to.
        #[arg(long)]
        out: PathBuf,
    },
    /// The Fluent message files, per language.
    Messages {
        /// Only this extension's (the core's and the API's by default).
        #[arg(long, value_enum)]
        extension: Option<Ext>,
        /// The folder to write them to.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
struct Setup {
    /// The users database: `postgres://...` or a SQLite path.
    #[arg(long)]
    database_url: String,
    #[command(flatten)]
    extensions: Extensions,
}

#[derive(Args)]
struct Account {
    #[command(flatten)]
    setup: Setup,
    /// The user's email address.
    #[arg(long)]
    email: String,
}

#[derive(Subcommand)]
enum Users {
    /// Create a user (with a confirmed address when email confirmation is on).
    Create {
        #[command(flatten)]
        account: Account,
        /// The password (visible to other local users: prefer `--password-stdin`).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Mark a user's email address confirmed.
    Confirm(Account),
    /// Disable a user: every sign-in is refused; with `--redis-url` their sessions, API
    /// tokens and remember-me tokens end at once.
    Disable {
        #[command(flatten)]
        account: Account,
        #[command(flatten)]
        store: Store,
    },
    /// Enable a user `disable` disabled: they may sign in again (a lockout after failed
    /// sign-ins ends by itself, or with the unlock link mailed to the user).
    Enable(Account),
    /// End every session, API token and remember-me token of a user (in the Redis or SQL
    /// store).
    RevokeSessions {
        #[command(flatten)]
        account: Account,
        #[command(flatten)]
        store: Store,
    },
    /// List users: id, email, created.
    List(Setup),
    /// Print a user's data export (JSON, `schema/export.schema.json` of pow-ext-account).
    Export {
        #[command(flatten)]
        setup: Setup,
        #[command(flatten)]
        store: Store,
        /// The user's id.
        id: i64,
    },
}

#[derive(Subcommand)]
enum Accounts {
    /// Erase every closed account whose grace period is over: each extension's data, the
    /// store's records (with `--redis-url`), the audit events' ids, then the row. Safe to
    /// run again; an account that fails is reported and taken up by the next run.
    Purge {
        #[command(flatten)]
        setup: Setup,
        #[command(flatten)]
        store: Store,
        /// Keep the rows, emptied, instead of deleting them.
        #[arg(long)]
        anonymise: bool,
    },
}

#[derive(Args, Default)]
struct Store {
    /// The Redis store the app uses (sessions in an in-memory store end with the process).
    #[arg(long, conflicts_with = "sql_store")]
    redis_url: Option<String>,
    /// The store's key prefix.
    #[arg(long, default_value = "pow")]
    redis_prefix: String,
    /// The SQL store the app uses (`SqlStore`): the URL of the database that holds its
    /// `pow_store` table, usually the users' database.
    #[arg(long, value_name = "DATABASE_URL")]
    sql_store: Option<String>,
}

impl Store {
    /// The app's store, when `--redis-url` or `--sql-store` is given.
    async fn open(&self) -> Result<Option<Arc<dyn pow_core::store::Store>>, Failure> {
        if let Some(url) = &self.sql_store {
            let store = pow_core::store::SqlStore::connect(url)
                .map_err(|err| Failure(format!("cannot open the SQL store: {err}")))?;
            return Ok(Some(Arc::new(store)));
        }
        match &self.redis_url {
            Some(url) => Ok(Some(Arc::new(
                connect_redis(url, &self.redis_prefix).await?,
            ))),
            None => Ok(None),
        }
    }

    fn none() -> Self {
        Self {
            redis_url: None,
            redis_prefix: "pow".to_owned(),
            sql_store: None,
        }
    }
}

async fn connect_redis(url: &str, prefix: &str) -> Result<pow_core::store::RedisStore, Failure> {
    pow_core::store::RedisStore::connect(url, prefix)
        .await
        .map_err(|err| Failure(format!("cannot reach Redis: {err}")))
}

/// A failure: the message for standard error.
struct Failure(String);

impl From<PowError> for Failure {
    fn from(err: PowError) -> Self {
        Self(err.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Self(err.to_string())
    }
}

/// Writes a line to standard output (see [`say_line`]).
macro_rules! say {
    () => {
        $crate::say_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::say_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Writes `line` and a newline to standard output. A reader that went away
/// (`pow export migrations | head`) ends the program quietly and successfully, as the
/// broken pipe ends a Unix tool; any other write error ends it with a message.
fn say_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(err) = written {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("pow: writing to standard output failed: {err}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("pow: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Gen(Gen::Secret { bytes }) => {
            if bytes < 64 {
                return Err(Failure("a secret key base needs at least 64 bytes".into()));
            }
            say!("{}", new::random_secret(bytes));
            Ok(())
        }
        Command::Export(export) => run_export(export),
        Command::Users(users) => run_users(users),
        Command::Accounts(accounts) => run_accounts(accounts),
        Command::Check(setup) => check(&setup),
        Command::Migrate(setup) => database::migrate(&setup),
        Command::New(args) => new::run(args),
        Command::Store(command) => store_command(command),
        Command::Provider(command) => provider::run(command),
    }
}

fn store_command(command: StoreCommand) -> Result<(), Failure> {
    match command {
        StoreCommand::Migrate { database_url } => {
            let store = pow_core::store::SqlStore::connect(&database_url)
                .map_err(|err| Failure(format!("cannot open the SQL store: {err}")))?;
            store
                .migrate()
                .map_err(|err| Failure(format!("cannot create the SQL store's table: {err}")))?;
            say!("ok: the SQL store's table is there");
            Ok(())
        }
        StoreCommand::Check(store) => {
            let system = actix_rt::System::new();
            system.block_on(async {
                let Some(store) = store.open().await? else {
                    return Err(Failure("give --redis-url or --sql-store".into()));
                };
                let key = pow_core::store::Key::from(pow_core::token::generate_uuid());
                let probe = async {
                    let minute = Some(std::time::Duration::from_secs(60));
                    store
                        .put("pow_check", vec![(key.clone(), b"ok".to_vec())], minute)
                        .await?;
                    let read = store.get("pow_check", &key).await?;
                    store.delete("pow_check", &key).await?;
                    Ok::<_, pow_core::store::StoreError>(read)
                };
                match probe.await {
                    Ok(Some(value)) if value == b"ok" => {
                        say!("ok: the store answers");
                        Ok(())
                    }
                    Ok(_) => Err(Failure("the store did not return what was written".into())),
                    Err(err) => Err(Failure(format!("the store does not answer: {err}"))),
                }
            })
        }
    }
}

/// A config with the chosen extensions, for reading and writing users (no request is ever
/// served with it, so its secret is a placeholder).
fn config(
    extensions: &[Ext],
    users: Option<DieselUsersContext>,
    store: Option<Arc<dyn pow_core::store::Store>>,
) -> Result<PowConfig, Failure> {
    Ok(builder(extensions, users, store).build()?)
}

/// The builder of [`config`], to add to.
fn builder(
    extensions: &[Ext],
    users: Option<DieselUsersContext>,
    store: Option<Arc<dyn pow_core::store::Store>>,
) -> pow_core::PowConfigBuilder {
    let secret = std::env::var("SECRET_KEY_BASE").unwrap_or_else(|_| "pow-cli ".repeat(8));
    // A one-shot tool: its hashes run at the process's own priority, so work beside it in
    // the same shell slows `pow users create` down instead of starving it.
    let mut builder = PowConfig::builder(secret)
        .base_url("http://localhost")
        .hash_pool_options(pow_core::password::HashPoolOptions::default().nice(0));
    if let Some(users) = users {
        builder = builder.users(users);
    }
    if let Some(store) = store {
        builder = builder.store(store);
    }
    for ext in extensions {
        builder = match ext {
            Ext::ResetPassword => builder.extension(pow_ext_reset_password::ResetPassword::new()),
            Ext::EmailConfirmation => {
                builder.extension(pow_ext_email_confirmation::EmailConfirmation::new())
            }
            Ext::TwoFactor => builder.extension(pow_ext_two_factor::TwoFactor::new()),
            Ext::Passwordless => builder.extension(pow_ext_passwordless::Passwordless::new()),
            // The relying party is the app's business; the CLI needs the table and texts.
            Ext::Passkeys => match pow_ext_passkeys::Passkeys::new("localhost", "http://localhost")
            {
                Ok(passkeys) => builder.extension(passkeys),
                Err(_) => builder,
            },
            Ext::PersistentSession => {
                builder.extension(pow_ext_persistent_session::PersistentSession::new())
            }
            Ext::Invitation => builder.extension(pow_ext_invitation::Invitation::new()),
            // Providers are the app's business; the CLI needs the table and the texts.
            Ext::Oauth => builder.extension(pow_ext_oauth::OAuth::new()),
            Ext::Account => builder.extension(account_extension(false)),
            Ext::Organizations => builder.extension(pow_ext_organizations::Organizations::new()),
            // Scopes are the app's business; the CLI needs the table, the texts and the
            // erase and export hooks.
            Ext::ApiKeys => builder.extension(pow_ext_api_keys::ApiKeys::new()),
            // Clients and scopes are the app's business; the CLI needs the tables, the texts
            // and the erase and export hooks (`pow provider` adds its own settings).
            Ext::Provider => builder.extension(pow_ext_provider::Provider::new()),
        };
    }
    builder
}

fn write(path: &Path, contents: &str) -> Result<(), Failure> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let written = if path.file_name().is_some_and(|name| name == ".env") {
        write_private(path, contents)
    } else {
        std::fs::write(path, contents)
    };
    written.map_err(|err| Failure(format!("cannot write {}: {err}", path.display())))
}

/// Writes a file only its owner can read (mode `0600` on Unix): `.env` holds the app's
/// `SECRET_KEY_BASE`.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // An existing file keeps its mode through `open`: set it.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(contents.as_bytes())
}

fn run_export(export: Export) -> Result<(), Failure> {
    match export {
        Export::Migrations {
            backend,
            extensions,
            out,
        } => {
            let config = config(&extensions.list(), None, None)?;
            if out.is_none() {
                say!("{}", sql_header(backend));
            }
            let migrations = all_sql_migrations(&config);
            for migration in &migrations {
                export_migration(migration, backend, out.as_deref())?;
            }
            match &out {
                None => say!("COMMIT;"),
                Some(dir) => say!("wrote {} migrations to {}", migrations.len(), dir.display()),
            }
            Ok(())
        }
        Export::Templates { out } => {
            for (path, source) in pow_core::views::TEMPLATE_SOURCES {
                write(&out.join(path), source)?;
            }
            say!(
                "wrote {} files to {}",
                pow_core::views::TEMPLATE_SOURCES.len(),
                out.display()
            );
            Ok(())
        }
        Export::Messages { extension, out } => {
            let files: Vec<(String, String)> = match extension {
                None => pow_core::messages::CORE_FTL
                    .iter()
                    .map(|(lang, ftl)| (format!("{lang}/core.ftl"), (*ftl).to_owned()))
                    .chain(
                        pow_core::api::API_FTL
                            .iter()
                            .map(|(lang, ftl)| (format!("{lang}/api.ftl"), (*ftl).to_owned())),
                    )
                    .collect(),
                Some(ext) => {
                    let config = config(&[ext], None, None)?;
                    config
                        .extensions()
                        .messages()
                        .map(|(name, lang, ftl)| (format!("{lang}/{name}.ftl"), ftl.to_owned()))
                        .collect()
                }
            };
            for (path, ftl) in &files {
                write(&out.join(path), ftl)?;
            }
            say!("wrote {} files to {}", files.len(), out.display());
            Ok(())
        }
    }
}

/// diesel's bookkeeping table, as its migration harness creates it
/// (`diesel::migration::setup_migration_table.sql`): `migrate()` and diesel's CLI read the
/// applied versions from it.
const DIESEL_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);";

/// The start of the printed SQL: one transaction, and diesel's bookkeeping table.
fn sql_header(backend: Backend) -> String {
    format!(
        "-- pow-rs migrations for {}, in the order migrate() applies them, in one transaction.\n\
         -- Each records its version in __diesel_schema_migrations as migrate() does, so the\n\
         -- app's migrate() then finds nothing to apply.\n\
         BEGIN;\n\
         {DIESEL_MIGRATIONS_TABLE}\n",
        backend.name()
    )
}

fn export_migration(
    migration: &SqlMigration,
    backend: Backend,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let Some((up, down)) = migration.for_backend(backend.name()) else {
        return Err(Failure(format!("no SQL for {}", backend.name())));
    };
    let folder = format!("{}_{}", migration.version, migration.name);
    match out {
        Some(out) => {
            write(&out.join(&folder).join("up.sql"), up)?;
            write(&out.join(&folder).join("down.sql"), down)?;
        }
        None => {
            say!("-- {folder}/up.sql");
            say!("{}", up.trim_end());
            // The version is the crate's own (digits), never input.
            say!(
                "INSERT INTO __diesel_schema_migrations (version) VALUES ('{}');",
                migration.version
            );
            say!();
        }
    }
    Ok(())
}

/// The users context on `setup`'s database and a config for it; the database must exist
/// and have the users table.
fn open(setup: &Setup) -> Result<(DieselUsersContext, PowConfig), Failure> {
    let users = database::connect_existing(setup)?;
    let config = config(&setup.extensions.list(), Some(users.clone()), None)?;
    database::require_users_table(setup, &users, &config)?;
    Ok((users, config))
}

fn find(users: &DieselUsersContext, config: &PowConfig, email: &str) -> Result<User, Failure> {
    let email = pow_core::users::validation::normalize_user_id(email);
    users
        .get_by(config.user_schema(), "email", &Value::Text(email.clone()))?
        .ok_or_else(|| Failure(format!("no user with the email {email}")))
}

/// Whether the users table has `column` (a name from the config or a constant, never
/// from input).
fn has_column(users: &DieselUsersContext, config: &PowConfig, column: &str) -> bool {
    users
        .database()
        .batch_execute(&format!(
            "SELECT \"{column}\" FROM \"{}\" WHERE 1 = 0",
            config.table()
        ))
        .is_ok()
}

fn run_users(command: Users) -> Result<(), Failure> {
    match command {
        Users::Create {
            account,
            password,
            password_stdin,
        } => {
            let password = match (password, password_stdin) {
                (Some(password), _) => password,
                (None, true) => {
                    let mut line = String::new();
                    std::io::stdin().read_to_string(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
                (None, false) => {
                    return Err(Failure("give --password or --password-stdin".into()));
                }
            };
            let (users, config) = open(&account.setup)?;
            let params =
                pow_core::users::sign_up_params(config.user_schema(), &account.email, &password);
            let user = users
                .create(config.user_schema(), &params)?
                .map_err(|changeset| refused(&config, &changeset))?;
            if account
                .setup
                .extensions
                .list()
                .contains(&Ext::EmailConfirmation)
            {
                confirm(&users, &config, &user)?;
            }
            say!(
                "created user {} ({})",
                user.id,
                user.email().unwrap_or_default()
            );
            Ok(())
        }
        Users::Confirm(account) => {
            let (users, config) = open(&account.setup)?;
            let user = find(&users, &config, &account.email)?;
            confirm(&users, &config, &user)?;
            say!("confirmed {}", account.email);
            Ok(())
        }
        Users::Disable { account, store } => {
            let user = run_admin(&account, &store, true)?;
            say!("disabled {}", user.email().unwrap_or_default());
            Ok(())
        }
        Users::Enable(account) => {
            let user = run_admin(&account, &Store::none(), false)?;
            say!("enabled {}", user.email().unwrap_or_default());
            Ok(())
        }
        Users::RevokeSessions { account, store } => {
            let (users, config) = open(&account.setup)?;
            let user = find(&users, &config, &account.email)?;
            if store.redis_url.is_none() && store.sql_store.is_none() {
                return Err(Failure(
                    "give --redis-url or --sql-store: sessions live in the app's cache store"
                        .into(),
                ));
            }
            let removed = revoke(&account.setup, &user, &store)?;
            say!("revoked {removed} sessions of {}", account.email);
            Ok(())
        }
        Users::Export { setup, store, id } => {
            let export = with_store(&setup, &store, async |config| {
                let user = config
                    .users()?
                    .get(id)
                    .await?
                    .ok_or_else(|| Failure(format!("no user with the id {id}")))?;
                Ok(pow_core::admin::export_user(config, &user).await?)
            })?;
            say!("{export:#}");
            Ok(())
        }
        Users::List(setup) => {
            let (users, config) = open(&setup)?;
            let mut offset = 0;
            loop {
                let page = users.list(&config, 500, offset)?;
                for user in &page {
                    say!(
                        "{}\t{}\t{}",
                        user.id,
                        user.email().unwrap_or_default(),
                        user.inserted_at.format("%Y-%m-%d %H:%M")
                    );
                }
                if page.len() < 500 {
                    return Ok(());
                }
                offset += 500;
            }
        }
    }
}

/// Why a user was not created, in the sentences the sign-up page shows (the field's
/// label, then its translated English error), never message ids.
fn refused(config: &PowConfig, changeset: &pow_core::users::Changeset) -> Failure {
    let messages = config.messages();
    let en = messages.languages().first().cloned().unwrap_or_default();
    let mut errors = Vec::new();
    for (field, field_errors) in &changeset.errors.0 {
        let label = messages.field_label(&en, field);
        for error in field_errors {
            errors.push(format!(
                "{label} {}",
                messages.validation_error(&en, field, error)
            ));
        }
    }
    Failure(format!("user not created: {}", errors.join("; ")))
}

/// The account extension as the CLI enables it (its grace period does not matter here).
fn account_extension(anonymise: bool) -> pow_ext_account::Account {
    let account = pow_ext_account::Account::new();
    if anonymise {
        account.anonymise_rows()
    } else {
        account
    }
}

/// Runs `work` with a config on the setup's database, its audit table as the audit sink
/// (so erasure reaches it), and the app's Redis store when given; the audit events it
/// wrote are flushed before it returns.
fn with_store<T>(
    setup: &Setup,
    store: &Store,
    work: impl AsyncFnOnce(&PowConfig) -> Result<T, Failure>,
) -> Result<T, Failure> {
    with_setup(setup, store, |builder| builder, work)
}

/// [`with_store`], with `extend` adding to the setup's builder (an extension's own
/// settings) before it is built.
fn with_setup<T>(
    setup: &Setup,
    store: &Store,
    extend: impl FnOnce(pow_core::PowConfigBuilder) -> pow_core::PowConfigBuilder,
    work: impl AsyncFnOnce(&PowConfig) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let system = actix_rt::System::new();
    system.block_on(async {
        let users = database::connect_existing(setup)?;
        let redis = store.open().await?;
        let audit = pow_core::audit::Auditor::new(pow_core::audit::DieselAuditSink::new(
            users.database().clone(),
        ));
        let config = extend(builder(
            &setup.extensions.list(),
            Some(users.clone()),
            redis,
        ))
        .audit(audit)
        .build()?;
        database::require_users_table(setup, &users, &config)?;
        let result = work(&config).await;
        config.audit().flush().await?;
        result
    })
}

fn run_accounts(command: Accounts) -> Result<(), Failure> {
    match command {
        Accounts::Purge {
            setup,
            store,
            anonymise,
        } => {
            if !setup.extensions.list().contains(&Ext::Account) {
                return Err(Failure(
                    "the account extension is not in --extensions: give the app's extensions, \
                     `account` among them (every one of them erases its data)"
                        .into(),
                ));
            }
            // The audit log and the store key what they keep of an address with the app's
            // secret: under another one, the purge would erase the rows and miss those.
            if !std::env::var("SECRET_KEY_BASE").is_ok_and(|secret| !secret.trim().is_empty()) {
                return Err(Failure(
                    "set SECRET_KEY_BASE to the app's: the audit log and the store key what \
                     they keep of an address with it, so without it the purge could not find \
                     that data to erase"
                        .into(),
                ));
            }
            let purge = with_store(&setup, &store, async |config| {
                Ok(account_extension(anonymise)
                    .purge_due(config, chrono::Utc::now())
                    .await?)
            })?;
            for id in &purge.erased {
                say!("erased {id}");
            }
            for (id, error) in &purge.failed {
                eprintln!("failed {id}: {error}");
            }
            say!(
                "{} erased, {} failed",
                purge.erased.len(),
                purge.failed.len()
            );
            if purge.failed.is_empty() {
                Ok(())
            } else {
                Err(Failure(format!(
                    "{} account(s) not erased: run the purge again",
                    purge.failed.len()
                )))
            }
        }
    }
}

fn confirm(users: &DieselUsersContext, config: &PowConfig, user: &User) -> Result<(), Failure> {
    let mut changes = Changes::new();
    changes.insert(
        "email_confirmed_at".into(),
        Value::Timestamp(chrono::Utc::now()),
    );
    changes.insert("email_confirmation_token".into(), Value::Null);
    users
        .update_fields(config.user_schema(), user, &changes)
        .map_err(|err| Failure(format!("cannot confirm: {err}")))?;
    Ok(())
}

/// Disables or enables the account's user through `pow_core::admin` (the app's Redis store,
/// when given, so their sessions end too).
fn run_admin(account: &Account, store: &Store, disable: bool) -> Result<User, Failure> {
    let system = actix_rt::System::new();
    system.block_on(async {
        let users = database::connect_existing(&account.setup)?;
        let redis = store.open().await?;
        let config = config(&account.setup.extensions.list(), Some(users.clone()), redis)?;
        database::require_users_table(&account.setup, &users, &config)?;
        let user = find(&users, &config, &account.email)?;
        let updated = if disable {
            pow_core::admin::disable_user(&config, &user).await?
        } else {
            pow_core::admin::enable_user(&config, &user).await?
        };
        Ok(updated)
    })
}

fn revoke(setup: &Setup, user: &User, store: &Store) -> Result<usize, Failure> {
    let system = actix_rt::System::new();
    system.block_on(async {
        let store = store.open().await?;
        let users = database::open(&setup.database_url)?;
        let config = config(&setup.extensions.list(), Some(users), store)?;
        Ok(pow_core::session::revoke_user(&config, user).await?)
    })
}

fn check(setup: &Setup) -> Result<(), Failure> {
    // A database without the users table is reported below, migration by migration.
    let users = database::connect_existing(setup)?;
    let config = config(&setup.extensions.list(), Some(users.clone()), None)?;
    let applied = users.applied_migrations().unwrap_or_default();
    let mut problems = Vec::new();
    for migration in all_sql_migrations(&config) {
        if !applied.iter().any(|v| v == migration.version) {
            problems.push(format!(
                "migration {}_{} is not applied",
                migration.version, migration.name
            ));
        }
    }
    for field in config.user_fields() {
        if !has_column(&users, &config, &field.name) {
            problems.push(format!("the users table has no `{}` column", field.name));
        }
    }
    if problems.is_empty() {
        say!("ok: every migration is applied and every column is there");
        return Ok(());
    }
    for problem in &problems {
        say!("{problem}");
    }
    Err(Failure(format!(
        "{} problem(s): start the app once (it runs its migrations), run `pow migrate` with \
         the same --database-url and --extensions, or apply `pow export migrations`",
        problems.len()
    )))
}

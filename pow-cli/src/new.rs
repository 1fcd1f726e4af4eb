//! `pow new`: a new actix-web or axum app with pow-rs, ready for `cargo run`, the way
//! `mix pow.install` or Devise's generators start an app.
//!
//! It writes `Cargo.toml` (pow-rs by version, or by path to a checkout with `--path`),
//! `src/main.rs` (SQLite file database, in-memory cache store, a development mailer that
//! prints each mail and keeps it in `mail/`, a home page showing the flash message and who
//! is signed in, a page for signed-in users), `.env` (a fresh `SECRET_KEY_BASE`),
//! `.gitignore`, and with `--templates` the page and mail templates.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Args;
use rand::RngCore as _;

use crate::{Ext, Failure};

const MAIN_RS: &str = include_str!("../templates/new/main.rs.tmpl");
const CARGO_TOML: &str = include_str!("../templates/new/Cargo.toml.tmpl");
const MAIN_RS_AXUM: &str = include_str!("../templates/new/main-axum.rs.tmpl");
const CARGO_TOML_AXUM: &str = include_str!("../templates/new/Cargo-axum.toml.tmpl");

/// What `templates/pow/README.md` says: the app does not read these files by itself.
const TEMPLATES_README: &str = "\
# pow-rs' templates, to start your own pages

These are the sources of the pages and mails pow-rs renders. pow-rs compiles its own copy
into the app: the app does not read this folder, and editing a file here changes nothing
until your code renders it.

- To restyle, keep pow-rs' pages and add your stylesheet (the `pow-*` classes are stable).
- To use your own layout, copy the pages you want into your app's templates (askama reads
  the same syntax), render them in a `Views` implementation and hand it to
  `PowConfig::builder(..).views(..)`; pages you do not list keep pow-rs' look.
- Mails work the same way through `MailViews` (`.mail_views(..)`).

guides/routes-messages-pages.md and guides/mailer.md show both, with the data each page
receives.
";

/// Whether the pow-rs crates are on crates.io: until they are, an app that depends on
/// them by version does not build, and `pow new` without `--path` says so.
const PUBLISHED: bool = false;

/// The web framework a new app is written on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Framework {
    /// actix-web, through `pow-actix`.
    Actix,
    /// axum, through `pow-axum`.
    Axum,
}

impl Framework {
    /// The pow-rs crate of the framework.
    fn package(self) -> &'static str {
        match self {
            Framework::Actix => "pow-actix",
            Framework::Axum => "pow-axum",
        }
    }

    /// The framework's name as its users write it.
    fn label(self) -> &'static str {
        match self {
            Framework::Actix => "actix-web",
            Framework::Axum => "axum",
        }
    }

    /// The templates of `src/main.rs` and `Cargo.toml`.
    fn templates(self) -> (&'static str, &'static str) {
        match self {
            Framework::Actix => (MAIN_RS, CARGO_TOML),
            Framework::Axum => (MAIN_RS_AXUM, CARGO_TOML_AXUM),
        }
    }
}
const ENV: &str = include_str!("../templates/new/env.tmpl");
const GITIGNORE: &str = include_str!("../templates/new/gitignore.tmpl");

/// The extensions a new app enables unless told otherwise.
pub(crate) const DEFAULT_EXTENSIONS: [Ext; 3] = [
    Ext::ResetPassword,
    Ext::EmailConfirmation,
    Ext::PersistentSession,
];

#[derive(Args)]
pub(crate) struct New {
    /// The folder to create (missing or empty); its name is the crate's.
    dir: PathBuf,
    /// The web framework the app is written on.
    #[arg(long, value_enum, default_value_t = Framework::Actix)]
    framework: Framework,
    /// A pow-rs checkout to depend on by path (until the crates are published); without
    /// it the app depends on version 0.1.
    #[arg(long, value_name = "CHECKOUT")]
    path: Option<PathBuf>,
    /// The extensions to enable (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = DEFAULT_EXTENSIONS
    )]
    extensions: Vec<Ext>,
    /// Also write pow-rs' page and mail templates to `templates/pow/`, to start restyling.
    #[arg(long)]
    templates: bool,
    /// The crate's name (default: the folder's name).
    #[arg(long)]
    name: Option<String>,
}

/// What the generated code says and needs for one extension.
struct ExtCode {
    /// The crate (`pow-ext-reset-password`).
    package: &'static str,
    /// The path of its type (`pow_ext_reset_password::ResetPassword`).
    path: &'static str,
    /// The value handed to `.extension(...)`.
    value: &'static str,
    /// Comment lines above it.
    comment: &'static str,
    /// For the first line of `src/main.rs` and the summary.
    label: &'static str,
}

fn code(ext: Ext, framework: Framework) -> ExtCode {
    let (package, path, value, comment, label) = match ext {
        Ext::ResetPassword => (
            "pow-ext-reset-password",
            "pow_ext_reset_password::ResetPassword",
            "ResetPassword::new()",
            "\"Forgot password?\" on the sign-in page: a mailed link to choose a new one.",
            "reset password",
        ),
        Ext::EmailConfirmation => (
            "pow-ext-email-confirmation",
            "pow_ext_email_confirmation::EmailConfirmation",
            "EmailConfirmation::new()",
            "New users confirm their address from a mailed link before they sign in.",
            "email confirmation",
        ),
        Ext::TwoFactor => (
            "pow-ext-two-factor",
            "pow_ext_two_factor::TwoFactor",
            "TwoFactor::new().issuer(APP_NAME)",
            "A TOTP second factor with recovery codes, set up from the account page; the\n\
             authenticator app lists it under the app's name.",
            "two-factor",
        ),
        Ext::Passwordless => (
            "pow-ext-passwordless",
            "pow_ext_passwordless::Passwordless",
            "Passwordless::new()",
            "Sign-in by a mailed link or code.",
            "passwordless",
        ),
        Ext::Passkeys => (
            "pow-ext-passkeys",
            "pow_ext_passkeys::Passkeys",
            "passkeys",
            "Passkeys (WebAuthn), for the site set above.",
            "passkeys",
        ),
        Ext::PersistentSession => (
            "pow-ext-persistent-session",
            "pow_ext_persistent_session::PersistentSession",
            "PersistentSession::new()",
            "\"Keep me signed in\"; its tokens live in the cache store (memory here).",
            "persistent session",
        ),
        Ext::Invitation => (
            "pow-ext-invitation",
            "pow_ext_invitation::Invitation",
            "Invitation::new()",
            "Signed-in users invite others, who then choose their own password.",
            "invitation",
        ),
        Ext::Oauth => (
            "pow-ext-oauth",
            "pow_ext_oauth::OAuth",
            "OAuth::new()",
            "Sign-in with OAuth / OpenID Connect providers: add them with\n\
             `OAuth::new().provider(pow_ext_oauth::Provider::github(id, secret))?`\n\
             (guides/oauth.md).",
            "OAuth",
        ),
        Ext::Account => (
            "pow-ext-account",
            "pow_ext_account::Account",
            "Account::new()",
            "Users close their own accounts; `pow accounts purge` (from cron) erases them\n\
             once the grace period is over.",
            "account",
        ),
        Ext::Organizations => (
            "pow-ext-organizations",
            "pow_ext_organizations::Organizations",
            "Organizations::new()",
            "Organizations: members with roles, invitations by mail; users make and manage\n\
             theirs from the account page (guides/organizations.md).",
            "organizations",
        ),
        Ext::ApiKeys => (
            "pow-ext-api-keys",
            "pow_ext_api_keys::ApiKeys",
            "ApiKeys::new().scopes([\"read\"])",
            match framework {
                Framework::Actix => {
                    "API keys for scripts, made from the account page with the scopes declared \
                     here;\na handler checks one with `pow_ext_api_keys::actix::ApiKey` (feature \
                     \"actix\",\nguides/api-keys.md)."
                }
                Framework::Axum => {
                    "API keys for scripts, made from the account page with the scopes declared \
                     here;\na handler checks one with `pow_ext_api_keys::axum::ApiKey` (feature \
                     \"axum\",\nguides/api-keys.md)."
                }
            },
            "API keys",
        ),
        Ext::Provider => (
            "pow-ext-provider",
            "pow_ext_provider::Provider",
            "Provider::new()",
            "The app as an OAuth 2.1 / OpenID provider for other software: register clients\n\
             in the setup or with `pow provider clients add` (guides/provider.md).",
            "OAuth provider",
        ),
    };
    ExtCode {
        package,
        path,
        value,
        comment,
        label,
    }
}

/// The passkeys' relying party, set up before the config.
const PASSKEYS_SETUP: &str = r#"
    // Passkeys belong to a domain, and browsers take no IP address as one: open the app
    // at http://localhost:<port> to use them. In production:
    // Passkeys::new("example.com", "https://example.com").
    let port = bind.rsplit(':').next().unwrap_or("8080");
    let passkeys = Passkeys::new("localhost", &format!("http://localhost:{port}"))?;
"#;

/// A random secret key base: 64 bytes in base64, as `pow gen secret` prints.
pub(crate) fn secret_key_base() -> String {
    random_secret(64)
}

/// `bytes` random bytes from the system's generator, base64-encoded (`pow gen secret`).
pub(crate) fn random_secret(bytes: usize) -> String {
    let mut secret = vec![0; bytes];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    STANDARD.encode(secret)
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The crate name for `dir` (or `--name`): lowercase letters, digits, `-` and `_`,
/// starting with a letter.
fn crate_name(given: Option<&str>, dir: &Path) -> Result<String, Failure> {
    let name = match given {
        Some(name) => name.to_owned(),
        None => {
            let absolute = std::path::absolute(dir)?;
            let Some(last) = absolute.file_name().and_then(|n| n.to_str()) else {
                return Err(Failure(format!(
                    "cannot name a crate after {}: give --name",
                    dir.display()
                )));
            };
            last.to_ascii_lowercase()
                .chars()
                .map(|c| match c {
                    'a'..='z' | '0'..='9' | '-' | '_' => c,
                    _ => '-',
                })
                .collect()
        }
    };
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'));
    if valid {
        Ok(name)
    } else {
        Err(Failure(format!(
            "`{name}` is no crate name (lowercase letters, digits, `-`, `_`, starting with \
             a letter): give --name"
        )))
    }
}

/// Where the pow-rs crates come from: `path = "<checkout>/<crate>"` or `version = "0.1"`.
fn source(checkout: Option<&Path>, package: &str) -> Result<String, Failure> {
    match checkout {
        Some(checkout) => {
            let dir = checkout.join(package);
            let Some(dir) = dir.to_str() else {
                return Err(Failure(format!("{} is no UTF-8 path", checkout.display())));
            };
            Ok(format!("path = {}", toml_string(dir)))
        }
        None => Ok("version = \"0.1\"".to_owned()),
    }
}

/// The files of the app, as `(path, contents)`.
fn files(
    name: &str,
    framework: Framework,
    extensions: &[Ext],
    checkout: Option<&Path>,
) -> Result<Vec<(String, String)>, Failure> {
    let codes: Vec<ExtCode> = extensions.iter().map(|ext| code(*ext, framework)).collect();
    let (main_rs, cargo_toml) = framework.templates();

    let mut dependencies = String::new();
    for code in &codes {
        let _ = writeln!(
            dependencies,
            "{} = {{ {} }}",
            code.package,
            source(checkout, code.package)?
        );
    }
    let cargo_toml = cargo_toml
        .replace("{{source}}", &source(checkout, framework.package())?)
        .replace("{{dependencies}}", &dependencies)
        .replace("{{name}}", name);

    let mut paths: Vec<&str> = codes.iter().map(|code| code.path).collect();
    paths.sort_unstable();
    let uses: String = paths.iter().map(|path| format!("use {path};\n")).collect();
    let mut chain = String::new();
    for code in &codes {
        for line in code.comment.lines() {
            let _ = writeln!(chain, "        // {}", line.trim());
        }
        let _ = writeln!(chain, "        .extension({})", code.value);
    }
    let setup = if extensions.contains(&Ext::Passkeys) {
        PASSKEYS_SETUP
    } else {
        ""
    };
    let features: Vec<&str> = ["sign-up", "sign-in"]
        .into_iter()
        .chain(codes.iter().map(|code| code.label))
        .collect();
    let main_rs = main_rs
        .replace("{{uses}}", &uses)
        .replace("{{setup}}", setup)
        .replace("{{extensions}}", &chain)
        .replace(
            "{{features}}",
            &doc_comment(&format!("What it does: {}.", features.join(", "))),
        )
        .replace("{{name}}", name);

    let env = ENV
        .replace("{{secret}}", &secret_key_base())
        .replace("{{name}}", name);
    Ok(vec![
        ("Cargo.toml".to_owned(), cargo_toml),
        ("src/main.rs".to_owned(), main_rs),
        (".env".to_owned(), env),
        (".gitignore".to_owned(), GITIGNORE.to_owned()),
    ])
}

/// `text` as `//! ` lines of at most 92 characters.
fn doc_comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > 88 {
            let _ = writeln!(out, "//! {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "//! {line}");
    }
    out
}

/// Fails unless `dir` is missing or an empty folder.
fn check_empty(dir: &Path) -> Result<(), Failure> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(Failure(format!(
            "{} exists and is no folder",
            dir.display()
        )));
    }
    let mut entries = std::fs::read_dir(dir)
        .map_err(|err| Failure(format!("cannot read {}: {err}", dir.display())))?;
    if entries.next().is_some() {
        return Err(Failure(format!(
            "{} is not empty: `pow new` writes only into a new or empty folder",
            dir.display()
        )));
    }
    Ok(())
}

/// The pow-rs checkout at `path`, absolute.
fn checkout(path: &Path) -> Result<PathBuf, Failure> {
    let absolute = std::fs::canonicalize(path)
        .map_err(|err| Failure(format!("--path {}: {err}", path.display())))?;
    if !absolute.join("pow-core").join("Cargo.toml").is_file() {
        return Err(Failure(format!(
            "--path {}: no pow-rs checkout there (no pow-core/Cargo.toml)",
            path.display()
        )));
    }
    Ok(absolute)
}

pub(crate) fn run(new: New) -> Result<(), Failure> {
    check_empty(&new.dir)?;
    let name = crate_name(new.name.as_deref(), &new.dir)?;
    let checkout = new.path.as_deref().map(checkout).transpose()?;
    // In the order a config must enable them (email confirmation before persistent
    // session), each once.
    let extensions: Vec<Ext> = Ext::ALL
        .into_iter()
        .filter(|ext| new.extensions.contains(ext))
        .collect();
    if extensions.contains(&Ext::Organizations) && !extensions.contains(&Ext::EmailConfirmation) {
        return Err(Failure(
            "organizations admit invited people by their proven address: add \
             email-confirmation to --extensions"
                .to_owned(),
        ));
    }
    for (path, contents) in files(&name, new.framework, &extensions, checkout.as_deref())? {
        crate::write(&new.dir.join(path), &contents)?;
    }
    if new.templates {
        let out = new.dir.join("templates").join("pow");
        crate::run_export(crate::Export::Templates { out: out.clone() })?;
        crate::write(&out.join("README.md"), TEMPLATES_README)?;
    }
    let steps = next_steps(
        &name,
        &new.dir,
        new.framework,
        &extensions,
        checkout.is_some(),
        new.templates,
    );
    // Every paragraph of the text ends its line: `say!` adds the last newline.
    crate::say!("{}", steps.trim_end_matches('\n'));
    Ok(())
}

/// What was written and what to do next.
fn next_steps(
    name: &str,
    dir: &Path,
    framework: Framework,
    extensions: &[Ext],
    by_path: bool,
    templates: bool,
) -> String {
    let labels: Vec<&str> = extensions
        .iter()
        .map(|ext| code(*ext, framework).label)
        .collect();
    let mut text = format!(
        "\nCreated {name} in {}: sign-up and sign-in{}{}.\n\n",
        dir.display(),
        if labels.is_empty() { "" } else { ", " },
        labels.join(", ")
    );
    let _ = writeln!(text, "  Cargo.toml      pow-rs and {}", framework.label());
    text.push_str(
        "\
         \x20 src/main.rs     the app: SQLite database app.db, sessions in memory, home page /\n\
         \x20 .env            a fresh SECRET_KEY_BASE and the other settings (not for git)\n\
         \x20 .gitignore      target/, *.db, .env, mail/\n",
    );
    if templates {
        text.push_str(
            "  templates/pow/  pow-rs' page and mail templates, a start for your own Views; \
             the app\n                  does not read them (templates/pow/README.md)\n",
        );
    }
    let _ = write!(
        text,
        "\nNext steps:\n\n  cd {}\n  cargo run\n\nthen open http://127.0.0.1:8080 and sign up. \
         Mails (confirmation and reset links) are printed\nin the terminal running the app \
         and written to mail/ as .eml files.\n",
        dir.display()
    );
    if extensions.contains(&Ext::Passkeys) {
        text.push_str("Passkeys need a domain: use them at http://localhost:8080.\n");
    }
    if !by_path {
        if PUBLISHED {
            text.push_str(
                "\nThe app depends on pow-rs 0.1 from crates.io; to build against a checkout \
                 instead,\ncreate it with `pow new --path <checkout>`.\n",
            );
        } else {
            let _ = write!(
                text,
                "\nWarning: the app depends on pow-rs 0.1 from crates.io, where it is not \
                 published yet,\nso `cargo run` cannot find it. Create the app with \
                 `pow new --path <checkout>` (a clone\nof https://github.com/pow-rs/pow-rs), \
                 or point each pow-* dependency in Cargo.toml at it:\n  \
                 {} = {{ git = \"https://github.com/pow-rs/pow-rs\", \
                 default-features = false, features = [\"sqlite\"] }}\n",
                framework.package()
            );
        }
    }
    text
}

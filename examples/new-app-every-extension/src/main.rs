//! new-app-every-extension: an actix-web app with pow-rs, made by `pow new`.
//!
//! What it does: sign-up, sign-in, reset password, email confirmation, two-factor,
//! passwordless, passkeys, persistent session, invitation, OAuth, account, organizations,
//! API keys, OAuth provider.
//!
//! Settings come from the environment, else from the `.env` file of the folder it runs
//! in: `SECRET_KEY_BASE` (required; `pow gen secret` makes one), `DATABASE_URL` (default
//! `sqlite://app.db`), `BIND` (default `127.0.0.1:8080`), `BASE_URL` (the address in
//! mailed links; default `http://<BIND>`) and `MAIL_DIR` (default `mail`).

use std::collections::HashMap;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use pow_actix::mailer::{FileMailer, Mail, Mailer};
use pow_actix::session::{PowMiddleware, RequireAuthenticated};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::web::csrf::csrf_token;
use pow_actix::{CurrentUser, MaybeUser, PowConfig, PowError};
use pow_ext_account::Account;
use pow_ext_api_keys::ApiKeys;
use pow_ext_email_confirmation::EmailConfirmation;
use pow_ext_invitation::Invitation;
use pow_ext_oauth::OAuth;
use pow_ext_organizations::Organizations;
use pow_ext_passkeys::Passkeys;
use pow_ext_passwordless::Passwordless;
use pow_ext_persistent_session::PersistentSession;
use pow_ext_provider::Provider;
use pow_ext_reset_password::ResetPassword;
use pow_ext_two_factor::TwoFactor;

/// The app's name, for page titles.
const APP_NAME: &str = "new-app-every-extension";

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dotenv = read_dotenv();
    let setting = |key: &str| {
        std::env::var(key)
            .ok()
            .filter(|value| !value.is_empty())
            .or_else(|| dotenv.get(key).cloned())
    };
    let secret_key_base = setting("SECRET_KEY_BASE")
        .ok_or("SECRET_KEY_BASE is not set: put one in .env (`pow gen secret` makes one)")?;
    let database_url = setting("DATABASE_URL").unwrap_or_else(|| "sqlite://app.db".to_owned());
    let bind = setting("BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let base_url = setting("BASE_URL").unwrap_or_else(|| format!("http://{bind}"));
    let mail_dir = setting("MAIL_DIR").unwrap_or_else(|| "mail".to_owned());

    // Passkeys belong to a domain, and browsers take no IP address as one: open the app
    // at http://localhost:<port> to use them. In production:
    // Passkeys::new("example.com", "https://example.com").
    let port = bind.rsplit(':').next().unwrap_or("8080");
    let passkeys = Passkeys::new("localhost", &format!("http://localhost:{port}"))?;

    let users = DieselUsersContext::connect(&database_url)?;
    // Sessions live in the default cache store, in memory: a restart signs everybody
    // out. guides/cache-stores.md shows the disk and Redis stores.
    let config = PowConfig::builder(secret_key_base)
        .users(users.clone())
        .base_url(base_url)
        .mailer(DevMailer(FileMailer::new(&mail_dir, "no-reply@localhost")?))
        // "Forgot password?" on the sign-in page: a mailed link to choose a new one.
        .extension(ResetPassword::new())
        // New users confirm their address from a mailed link before they sign in.
        .extension(EmailConfirmation::new())
        // A TOTP second factor with recovery codes, set up from the account page; the
        // authenticator app lists it under the app's name.
        .extension(TwoFactor::new().issuer(APP_NAME))
        // Sign-in by a mailed link or code.
        .extension(Passwordless::new())
        // Passkeys (WebAuthn), for the site set above.
        .extension(passkeys)
        // "Keep me signed in"; its tokens live in the cache store (memory here).
        .extension(PersistentSession::new())
        // Signed-in users invite others, who then choose their own password.
        .extension(Invitation::new())
        // Sign-in with OAuth / OpenID Connect providers: add them with
        // `OAuth::new().provider(pow_ext_oauth::Provider::github(id, secret))?`
        // (guides/oauth.md).
        .extension(OAuth::new())
        // Users close their own accounts; `pow accounts purge` (from cron) erases them
        // once the grace period is over.
        .extension(Account::new())
        // Organizations: members with roles, invitations by mail; users make and manage
        // theirs from the account page (guides/organizations.md).
        .extension(Organizations::new())
        // API keys for scripts, made from the account page with the scopes declared here;
        // a handler checks one with `pow_ext_api_keys::actix::ApiKey` (feature "actix",
        // guides/api-keys.md).
        .extension(ApiKeys::new().scopes(["read"]))
        // The app as an OAuth 2.1 / OpenID provider for other software: register clients
        // in the setup or with `pow provider clients add` (guides/provider.md).
        .extension(Provider::new())
        .build()?;
    // Creates the users table and the extensions' columns; safe on every start.
    users.migrate(&config)?;

    let server = HttpServer::new(move || {
        App::new()
            .configure(pow_actix::web::configure(config.clone()))
            .route("/", web::get().to(home))
            .service(
                web::scope("/dashboard")
                    .wrap(RequireAuthenticated::new())
                    .route("", web::get().to(dashboard)),
            )
            .wrap(PowMiddleware::new(config.clone()))
    })
    .bind(&bind)?;
    eprintln!("Listening on http://{bind} (mails: printed here and written to {mail_dir}/)");
    server.run().await?;
    Ok(())
}

/// The home page: the message of the last action (such as "confirm your e-mail"), who is
/// signed in, and the links to go on.
async fn home(req: HttpRequest, MaybeUser(user): MaybeUser) -> HttpResponse {
    let flash = pow_actix::web::flash::take(&req);
    let mut parts = Vec::new();
    if let Some(error) = flash.error {
        parts.push(format!(
            r#"<div class="pow-flash pow-flash-error" role="alert">{}</div>"#,
            escape(&error)
        ));
    }
    if let Some(info) = flash.info {
        parts.push(format!(
            r#"<div class="pow-flash pow-flash-info" role="alert">{}</div>"#,
            escape(&info)
        ));
    }
    if let Some(user) = &user {
        parts.push(format!(
            "<p>Signed in as {}.</p>",
            escape(user.email().unwrap_or_default())
        ));
        parts.push(
            r#"<ul class="pow-links">
<li><a href="/dashboard">Dashboard</a></li>
<li><a href="/registration/edit">Account</a></li>
</ul>"#
                .to_owned(),
        );
        parts.push(format!(
            r#"<form action="/session" method="post">
<input type="hidden" name="_method" value="DELETE">
<input type="hidden" name="_csrf_token" value="{}">
<button type="submit">Sign out</button>
</form>"#,
            escape(&csrf_token(&req))
        ));
    } else {
        parts.push("<p>You are not signed in.</p>".to_owned());
        parts.push(
            r#"<ul class="pow-links">
<li><a href="/registration/new">Sign up</a></li>
<li><a href="/session/new">Sign in</a></li>
</ul>"#
                .to_owned(),
        );
    }
    page(APP_NAME, &parts.join("\n"), user.is_some())
}

/// A page only signed-in users see: `RequireAuthenticated` sends everybody else to the
/// sign-in page, which brings them back here.
async fn dashboard(CurrentUser(user): CurrentUser) -> HttpResponse {
    let body = format!(
        r#"<p>Only signed-in users see this page. Hello, {}!</p>
<ul class="pow-links"><li><a href="/">Home</a></li></ul>"#,
        escape(user.email().unwrap_or_default())
    );
    page("Dashboard", &body, true)
}

/// A page in the layout and style of pow-rs' own pages.
fn page(title: &str, body: &str, signed_in: bool) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    for header in pow_actix::web::page_security_headers() {
        res.insert_header(header);
    }
    if signed_in {
        // Pages that show who is signed in are not for caches or the back button.
        res.insert_header(pow_actix::web::no_store());
    }
    res.content_type("text/html; charset=utf-8").body(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<main class="pow">
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        title = escape(title),
        css = pow_actix::views::STYLESHEET,
    ))
}

/// Text made safe to put into HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The `KEY=value` lines of `.env` (blank lines and `#` comments skipped).
fn read_dotenv() -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(".env") else {
        return HashMap::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            let value = value.trim().trim_matches('"');
            (key.trim().to_owned(), value.to_owned())
        })
        .collect()
}

/// The development mailer: prints each mail here and keeps it as an `.eml` file in the
/// mail folder (open it with any mail client). In production, use
/// `pow_actix::mailer::SmtpMailer` (guides/mailer.md).
struct DevMailer(FileMailer);

#[async_trait::async_trait]
impl Mailer for DevMailer {
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        eprintln!(
            "---- mail to {} (also in {}/) ----\nSubject: {}\n\n{}\n---- end of mail ----",
            mail.to,
            self.0.dir().display(),
            mail.subject,
            mail.text.trim_end()
        );
        self.0.deliver(mail).await
    }
}

//! The pow-rs JSON API example: sign-up, sign-in, token renewal and sign-out for mobile
//! or single-page clients, with bearer tokens instead of cookies, plus email confirmation
//! and password reset over JSON.
//!
//! Users live in SQLite (or PostgreSQL); tokens live in pow-rs's in-memory cache store, so
//! every client has to sign in again after a restart. The endpoints are described by a
//! generated OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`: pow-rs assembles it
//! from the core's and each enabled extension's parts, and the app adds its own routes
//! ([`OPENAPI_APP`]).
//!
//! | Route | What it does |
//! |---|---|
//! | `POST /api/v1/registration` | sign up; mails a confirmation link (no tokens until the address is confirmed) |
//! | `POST /api/v1/session` | sign in; answers a token pair |
//! | `DELETE /api/v1/session` | sign out (revokes the pair of the bearer token) |
//! | `POST /api/v1/session/renew` | exchange the renewal token for a new pair |
//! | `POST /api/v1/two-factor/verify` | finish a sign-in that answered `second_factor_required`, with a code |
//! | `POST /api/v1/passwordless/code`, `/passwordless/link` | mail a sign-in code or link (`202` for every address) |
//! | `POST /api/v1/passwordless/code/verify`, `/passwordless/link/{token}` | trade a code or link for a token pair |
//! | `POST /api/v1/confirm-email/{token}` | confirm the address with the mailed token |
//! | `GET /api/v1/confirm-email` | whether the signed-in user's address is confirmed |
//! | `POST /api/v1/confirm-email` | mail the signed-in user's confirmation link again |
//! | `POST /api/v1/reset-password` | mail a password reset link |
//! | `GET /api/v1/reset-password/{token}` | check a reset token |
//! | `PATCH`, `PUT /api/v1/reset-password/{token}` | set a new password with the mailed token |
//! | `GET /api/v1/me` | the signed-in user (needs an access token) |
//! | `GET /api/v1/sessions` | the user's sessions: browsers, API clients, remember-me families |
//! | `DELETE /api/v1/sessions/{id}` | end one of them (needs a recent password sign-in) |
//! | `DELETE /api/v1/me/sessions` | sign out everywhere: revokes every session and token of the user |
//! | `POST /api/v1/account/close` | close the account (needs a recent password sign-in); erased after 14 days |
//! | `POST /api/v1/account/reactivate` | reopen a closed account with its password |
//! | `GET /api/v1/account/export` | the account's data (needs a recent password sign-in) |
//! | `GET`, `POST /api/v1/api-keys`, ... | the signed-in user's API keys (making one needs a recent password sign-in) |
//! | `GET /api/v1/reports` | for a script with an API key of the scope `reports:read`: its owner |
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.1 document of every route above |
//!
//! The app has no HTML pages, so the links in its mails point at the client app
//! ([`Settings::app_url`]): `<APP_URL>/confirm-email?token=<token>` and
//! `<APP_URL>/reset-password?token=<token>`. The client reads the token from the link
//! and sends it to the matching endpoint. Mails are only logged
//! ([`LogMailer`](pow_actix::mailer::LogMailer)); a real app sets an SMTP mailer.
//!
//! `main.rs` only reads [`Settings`] and starts the server, so tests build the very same
//! app with [`build`], [`api_options`] and [`app`].

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse};
use pow_actix::api::{self, ApiAuthMiddleware, ApiError, BrowserTransport, LinkTemplate};
// The engine's options: the axum twin (`examples/api-axum`) serves the same ones.
use pow_actix::api::ApiOptions;
use pow_actix::session::{self, RequireAuthenticated};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{CurrentUser, PowConfig, PowConfigBuilder, PowError};
use pow_ext_email_confirmation::EmailConfirmation;
use pow_ext_reset_password::ResetPassword;

/// The OpenAPI part of the app's own routes (`/me`, `/me/sessions`), added to the document
/// pow-rs generates ([`ApiOptions::openapi_fragment`]).
pub const OPENAPI_APP: &str = include_str!("../openapi.json");

/// Settings read from the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `DATABASE_URL`; default `sqlite://pow-api.db`.
    pub database_url: String,
    /// `BIND`; default `127.0.0.1:8080`.
    pub bind: String,
    /// `SECRET_KEY_BASE` (at least 64 bytes); if unset, a random one for this run only.
    pub secret_key_base: String,
    /// `APP_URL`: the client app that opens the links in mails; default
    /// `http://localhost:3000`. Links go to `<APP_URL>/confirm-email?token=<token>` and
    /// `<APP_URL>/reset-password?token=<token>`.
    pub app_url: String,
    /// The password reset settings; the extension's defaults (links work 2 hours, 3
    /// mails per address and hour, mails sent in the background, every session and token
    /// revoked by a reset).
    pub reset_password: ResetPassword,
    /// The email confirmation settings; the extension's defaults (strict: no tokens before
    /// the address is confirmed, links work 48 hours, 3 mails per address and hour).
    pub email_confirmation: EmailConfirmation,
}

impl Settings {
    /// Reads the settings. Without `SECRET_KEY_BASE` a random secret is made for this
    /// run, which costs nothing here: the in-memory token store forgets every token on
    /// restart anyway.
    pub fn from_env() -> Self {
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
        let secret_key_base = env("SECRET_KEY_BASE").unwrap_or_else(|| {
            tracing::warn!("SECRET_KEY_BASE is not set: using a random secret for this run");
            (0..4).map(|_| pow_actix::token::generate_uuid()).collect()
        });
        Self {
            database_url: env("DATABASE_URL").unwrap_or_else(|| "sqlite://pow-api.db".into()),
            bind: env("BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            secret_key_base,
            app_url: env("APP_URL").unwrap_or_else(|| "http://localhost:3000".into()),
            reset_password: ResetPassword::new(),
            email_confirmation: EmailConfirmation::new(),
        }
    }
}

/// Builds the setup: config with both extensions (their mailed links pointing at
/// [`Settings::app_url`]), and the migrated users table (with the email confirmation
/// columns). `customize` adjusts the config builder (tests pick a
/// fast password hasher and an in-memory mailer with it).
///
/// # Errors
/// When the database cannot be reached or migrated, or a setting is invalid.
pub fn build(
    settings: &Settings,
    customize: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
) -> Result<PowConfig, PowError> {
    let users = DieselUsersContext::connect(&settings.database_url)?;
    // The app has no HTML pages: mail links asked for over the API open the client app.
    let app_url = settings.app_url.trim_end_matches('/');
    let link = |page: &str| LinkTemplate::new(format!("{app_url}/{page}?token={{token}}"));
    let builder = PowConfig::builder(settings.secret_key_base.clone())
        .base_url("http://localhost")
        .users(users.clone())
        // Before any remember-me extension, were there one: callbacks run in order.
        .extension(
            settings
                .email_confirmation
                .clone()
                .api_link_template(link("confirm-email")?),
        )
        .extension(
            settings
                .reset_password
                .clone()
                .api_link_template(link("reset-password")?),
        )
        // Users who turned on a second factor (on the HTML pages of an app that has them)
        // finish their API sign-in with a code: `POST /api/v1/two-factor/verify`.
        .extension(pow_ext_two_factor::TwoFactor::new())
        // Sign-in by a code or link sent by mail (`/api/v1/passwordless/...`).
        .extension(pow_ext_passwordless::Passwordless::new())
        // Passkeys for the client app's origin (`/api/v1/passkeys/...`).
        .extension(passkeys(&settings.app_url)?)
        // Closing, reopening and exporting the account (`/api/v1/account/...`).
        .extension(pow_ext_account::Account::new())
        // Signed-in users invite others (`/api/v1/invitations`); the mailed link opens the
        // client app, which accepts it over JSON.
        .extension(pow_ext_invitation::Invitation::new())
        // Scripts read the reports with an API key (`/api/v1/api-keys`, `GET /api/v1/reports`).
        .extension(pow_ext_api_keys::ApiKeys::new().scopes([REPORTS_READ]))
        .frontend_link(
            pow_ext_invitation::LINK,
            LinkTemplate::new(format!(
                "{}/invitation?token={{token}}",
                settings.app_url.trim_end_matches('/')
            ))?,
        );
    let config = customize(builder).build()?;
    users.migrate(&config)?;
    Ok(config)
}

/// Passkeys whose relying party is the client app at `app_url` (its host; `localhost`
/// for a loopback address, which browsers take as no relying party id).
fn passkeys(app_url: &str) -> Result<pow_ext_passkeys::Passkeys, PowError> {
    let url = url::Url::parse(app_url).map_err(|err| PowError::Config(err.to_string()))?;
    let rp_id = match url.host() {
        Some(url::Host::Domain(domain)) => domain.to_owned(),
        _ => "localhost".to_owned(),
    };
    let port = url
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let origin = format!("{}://{rp_id}{port}", url.scheme());
    pow_ext_passkeys::Passkeys::new(&rp_id, &origin)
        .map_err(|err| PowError::Config(err.to_string()))
}

/// The JSON endpoints' options: the app's OpenAPI part, and the browser transport open to
/// the pages of [`Settings::app_url`]. The extensions' endpoints come with the config.
///
/// # Errors
/// [`PowError::Config`] when the app's OpenAPI part is not valid JSON.
pub fn api_options(settings: &Settings) -> Result<ApiOptions, PowError> {
    let app_url = settings.app_url.trim_end_matches('/');
    let own = serde_json::from_str(OPENAPI_APP)
        .map_err(|err| PowError::Config(format!("the app's OpenAPI part: {err}")))?;
    Ok(ApiOptions::new()
        .openapi_info("pow-rs API example", env!("CARGO_PKG_VERSION"))
        // The same routes under /api/v1/browser for a single-page app of the client's
        // site: the session cookie instead of tokens, state changes from its origin only.
        .browser(BrowserTransport::new().trusted_origin(app_url))
        .openapi_fragment(own))
}

/// The scope a key needs for `GET /api/v1/reports`.
pub const REPORTS_READ: &str = "reports:read";

/// `GET /api/v1/reports`: for a script with an API key of the scope [`REPORTS_READ`], its
/// owner.
async fn reports(key: pow_ext_api_keys::actix::ApiKey) -> Result<HttpResponse, ApiError> {
    key.scope(REPORTS_READ)?;
    let user = &key.key.user;
    Ok(api::answer(
        StatusCode::OK,
        serde_json::json!({ "id": user.id, "email": user.email() }),
    ))
}

/// `GET /api/v1/me`: the signed-in user.
async fn me(CurrentUser(user): CurrentUser) -> HttpResponse {
    api::answer(
        StatusCode::OK,
        serde_json::json!({ "id": user.id, "email": user.email() }),
    )
}

/// `DELETE /api/v1/me/sessions`: signs the user out everywhere (every browser session
/// and API token, this request's included).
async fn sign_out_everywhere(
    config: web::Data<PowConfig>,
    CurrentUser(user): CurrentUser,
) -> Result<HttpResponse, ApiError> {
    session::revoke_user(&config, &user).await?;
    Ok(api::answer(StatusCode::OK, serde_json::json!({})))
}

/// The example app for `config`, with the JSON endpoints set up by `options` (see
/// [`api_options`]).
pub fn app(
    config: PowConfig,
    options: ApiOptions,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(config.clone()))
        .configure(api::configure(config.clone(), options))
        // A resource of its own (not `App::route`, whose method guard would leave other
        // methods to the 404 default): other methods answer `405`.
        .service(web::resource("/api/v1/reports").route(web::get().to(reports)))
        .service(
            web::scope("/api/v1/me")
                .wrap(RequireAuthenticated::new())
                .route("", web::get().to(me))
                .route("/sessions", web::delete().to(sign_out_everywhere)),
        )
        // Every route: bearer tokens only, no cookies (so no CSRF tokens are needed).
        .wrap(ApiAuthMiddleware::new(config))
}

//! The pow-rs JSON API example.
//!
//! Run it with `cargo run -p example-api`, then try it with curl:
//!
//! ```text
//! curl -s localhost:8080/api/v1/registration -H 'content-type: application/json' \
//!   -d '{"user": {"email": "a@example.com", "password": "secret123", "password_confirmation": "secret123"}}'
//! # The confirmation mail is logged; take the token from its link:
//! curl -s -X POST localhost:8080/api/v1/confirm-email/<token>
//! curl -s localhost:8080/api/v1/session -H 'content-type: application/json' \
//!   -d '{"user": {"email": "a@example.com", "password": "secret123"}}'
//! curl -s localhost:8080/api/v1/me -H "authorization: Bearer <access_token>"
//! curl -s -X POST localhost:8080/api/v1/session/renew -H "authorization: Bearer <renewal_token>"
//! curl -s -X DELETE localhost:8080/api/v1/session -H "authorization: Bearer <access_token>"
//! ```
//!
//! The OpenAPI document is at http://127.0.0.1:8080/api/v1/openapi.json. Settings (all
//! optional): `DATABASE_URL` (default `sqlite://pow-api.db`; a `postgres://` URL works
//! too), `BIND` (default `127.0.0.1:8080`), `SECRET_KEY_BASE` (random for each run if
//! unset), `APP_URL` (the client app the mailed links open, default
//! `http://localhost:3000`).

use actix_web::HttpServer;
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = example_api::Settings::from_env();
    let config = example_api::build(&settings, |b| b).map_err(std::io::Error::other)?;
    let options = example_api::api_options(&settings).map_err(std::io::Error::other)?;
    tracing::info!("pow-rs API example listening on http://{}", settings.bind);
    HttpServer::new(move || example_api::app(config.clone(), options.clone()))
        .bind(&settings.bind)?
        .run()
        .await
}

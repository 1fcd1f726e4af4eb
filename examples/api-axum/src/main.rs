//! The pow-rs JSON API example on axum.
//!
//! Run it with `cargo run -p example-api-axum` and try it with the same curl commands as
//! the actix-web example (`examples/api`): the routes, answers, settings and environment
//! variables are the same (`DATABASE_URL`, default `sqlite://pow-api.db`; `BIND`, default
//! `127.0.0.1:8080`; `SECRET_KEY_BASE`, random for each run if unset; `APP_URL`, the
//! client app the mailed links open, default `http://localhost:3000`). The OpenAPI
//! document is at http://127.0.0.1:8080/api/v1/openapi.json.

use std::net::SocketAddr;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = example_api::Settings::from_env();
    let config = example_api::build(&settings, |b| b).map_err(std::io::Error::other)?;
    let options = example_api::api_options(&settings).map_err(std::io::Error::other)?;
    tracing::info!(
        "pow-rs API example (axum) listening on http://{}",
        settings.bind
    );
    let app = example_api_axum::app(config, options);
    let listener = tokio::net::TcpListener::bind(&settings.bind).await?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

//! The pow-rs example of an app acting as an OpenID provider and a protected MCP server.
//!
//! Run it with `cargo run -p example-provider`: it listens on `BIND` (default
//! `127.0.0.1:8080`), keeps users in `DATABASE_URL` (default `pow-provider.db`) and is its
//! own issuer at `BASE_URL` (default `http://<bind>`). Register at `/registration/new`,
//! then point an OpenID client at `http://127.0.0.1:8080` (client `notes-cli`, redirect
//! `http://127.0.0.1/callback`, PKCE) or an MCP client at `http://127.0.0.1:8080/mcp`.

use std::net::SocketAddr;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = example_provider::Settings::from_env();
    let (config, resource) =
        example_provider::build(&settings, |provider| provider).map_err(std::io::Error::other)?;
    tracing::info!(
        "pow-rs provider example on {}: discovery at {}/.well-known/openid-configuration, MCP at {}",
        settings.bind,
        settings.base_url,
        resource.uri()
    );
    let app = example_provider::app(config, resource);
    let listener = tokio::net::TcpListener::bind(&settings.bind).await?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

//! The pow-rs demo app on axum.
//!
//! Run it with `cargo run -p example-demo-axum`, then open http://127.0.0.1:8080. It reads
//! the actix-web demo's settings, from the same environment variables (all optional):
//! `DATABASE_URL` (default `sqlite://pow-demo.db`; a `postgres://` URL works too), `BIND`
//! (default `127.0.0.1:8080`), `SECRET_KEY_BASE` (generated into `.secret_key_base` if
//! unset), `POW_MAIL_DIR`, `POW_DEV_MAILBOX=1` (loopback `BIND` only), `BASE_URL`,
//! `ADMIN_EMAILS`, `POW_CACHE` (`memory`, `redis` with `REDIS_URL` and `REDIS_PREFIX`, or
//! `disk` with `POW_CACHE_DIR`), `WORKERS` (tokio worker threads; default one per CPU),
//! `POW_HASHER` (`pbkdf2` or `argon2`), `POW_RATE_LIMITS` (`on` or `off`).

use std::net::SocketAddr;
use std::sync::Arc;

use pow_core::mailer::{BackgroundMailer, Mailer};
use tracing_subscriber::EnvFilter;

fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = example_demo::Settings::from_env().map_err(std::io::Error::other)?;
    let server_settings =
        example_demo::ServerSettings::from_env().map_err(std::io::Error::other)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = server_settings.workers {
        runtime.worker_threads(workers);
    }
    runtime.enable_all().build()?.block_on(async move {
        let store = settings.cache.open().await.map_err(std::io::Error::other)?;
        // With POW_DEV_MAILBOX=1 (loopback only), mails stay in memory and show at
        // /dev/mailbox; otherwise they are logged, or written to POW_MAIL_DIR.
        let mailbox = example_demo::dev_mailbox(&settings);
        let mailer = mailbox
            .clone()
            .map(|outbox| Arc::new(BackgroundMailer::new(outbox)) as Arc<dyn Mailer>);
        let config = example_demo::build_for_server(&settings, &server_settings, store, mailer)
            .map_err(std::io::Error::other)?;
        tracing::info!("pow-rs demo (axum) listening on http://{}", settings.bind);
        if mailbox.is_some() {
            tracing::warn!(
                "development mailbox (POW_DEV_MAILBOX=1): every mail the demo sends, sign-in \
                 links included, at http://{}{} for requests from this machine only; never \
                 expose it",
                settings.bind,
                pow_core::pages::mailbox::MAILBOX_PATH
            );
        }
        tokio::spawn(example_demo::purge_closed_accounts(config.clone()));
        let app = example_demo_axum::app(config, mailbox);
        let listener = tokio::net::TcpListener::bind(&settings.bind).await?;
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    })
}

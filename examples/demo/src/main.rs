//! The pow-rs demo app.
//!
//! Run it with `cargo run -p example-demo`, then open http://127.0.0.1:8080. Settings
//! (all optional): `DATABASE_URL` (default `sqlite://pow-demo.db`; a `postgres://` URL
//! works too), `BIND` (default `127.0.0.1:8080`), `SECRET_KEY_BASE` (generated into
//! `.secret_key_base` if unset), `POW_MAIL_DIR` (write mails there as `.eml` instead of
//! keeping them for the mailbox preview at `/dev/mailbox`), `BASE_URL` (for links in mails), `ADMIN_EMAILS` (who gets the admin role), `POW_CACHE` (`memory`, `redis` with
//! `REDIS_URL` and `REDIS_PREFIX`, or `disk` with `POW_CACHE_DIR`), `WORKERS` (actix worker threads; default one
//! per CPU), `POW_HASHER` (`pbkdf2`, the default, or `argon2`), `POW_RATE_LIMITS` (`on`, the
//! default, or `off` for load benchmarks).

use std::sync::Arc;

use actix_web::HttpServer;
use pow_core::mailer::{BackgroundMailer, Mailer, MemoryMailer};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = example_demo::Settings::from_env().map_err(std::io::Error::other)?;
    let server_settings =
        example_demo::ServerSettings::from_env().map_err(std::io::Error::other)?;
    let store = settings.cache.open().await.map_err(std::io::Error::other)?;
    // Without POW_MAIL_DIR, mails stay in memory and show at /dev/mailbox.
    let mailbox = settings.mail_dir.is_none().then(MemoryMailer::new);
    let mailer = mailbox
        .clone()
        .map(|outbox| Arc::new(BackgroundMailer::new(outbox)) as Arc<dyn Mailer>);
    let config = example_demo::build_for_server(&settings, &server_settings, store, mailer)
        .map_err(std::io::Error::other)?;
    tracing::info!("pow-rs demo listening on http://{}", settings.bind);
    if mailbox.is_some() {
        tracing::info!(
            "mails sent by the demo: http://{}{}",
            settings.bind,
            pow_core::mailer::MAILBOX_PATH
        );
    }
    let mut server =
        HttpServer::new(move || example_demo::app_with_mailbox(config.clone(), mailbox.clone()));
    if let Some(workers) = server_settings.workers {
        server = server.workers(workers);
    }
    server.bind(&settings.bind)?.run().await
}

//! The pow-rs demo app.
//!
//! Run it with `cargo run -p example-demo`, then open http://127.0.0.1:8080. Settings
//! (all optional): `DATABASE_URL` (default `sqlite://pow-demo.db`; a `postgres://` URL
//! works too), `BIND` (default `127.0.0.1:8080`), `SECRET_KEY_BASE` (generated into
//! `.secret_key_base` if unset), `POW_MAIL_DIR` (write mails there as `.eml` instead of
//! logging them), `POW_DEV_MAILBOX=1` (keep mails for the development preview at
//! `/dev/mailbox`; loopback `BIND` only), `BASE_URL` (for links in mails), `ADMIN_EMAILS` (who gets the admin role), `POW_CACHE` (`memory`, `redis` with
//! `REDIS_URL` and `REDIS_PREFIX`, or `disk` with `POW_CACHE_DIR`), `WORKERS` (actix worker threads; default one
//! per CPU), `POW_HASHER` (`pbkdf2`, the default, or `argon2`), `POW_RATE_LIMITS` (`on`, the
//! default, or `off` for load benchmarks).

use std::sync::Arc;

use actix_web::HttpServer;
use pow_actix::mailer::{BackgroundMailer, Mailer};
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
    // With POW_DEV_MAILBOX=1 (loopback only), mails stay in memory and show at
    // /dev/mailbox; otherwise they are logged, or written to POW_MAIL_DIR.
    let mailbox = example_demo::dev_mailbox(&settings);
    let mailer = mailbox
        .clone()
        .map(|outbox| Arc::new(BackgroundMailer::new(outbox)) as Arc<dyn Mailer>);
    let config = example_demo::build_for_server(&settings, &server_settings, store, mailer)
        .map_err(std::io::Error::other)?;
    tracing::info!("pow-rs demo listening on http://{}", settings.bind);
    match (&mailbox, &settings.mail_dir) {
        (Some(_), _) => tracing::warn!(
            "development mailbox (POW_DEV_MAILBOX=1): every mail the demo sends, sign-in \
             links included, at http://{}{} for requests from this machine only; never \
             expose it",
            settings.bind,
            pow_actix::web::MAILBOX_PATH
        ),
        (None, Some(dir)) => tracing::info!("mails are written to {}", dir.display()),
        (None, None) => tracing::info!(
            "mails are written to this log; set POW_DEV_MAILBOX=1 to read them at {} \
             (loopback BIND only)",
            pow_actix::web::MAILBOX_PATH
        ),
    }
    actix_web::rt::spawn(example_demo::purge_closed_accounts(config.clone()));
    let mut server =
        HttpServer::new(move || example_demo::app_with_mailbox(config.clone(), mailbox.clone()));
    if let Some(workers) = server_settings.workers {
        server = server.workers(workers);
    }
    server.bind(&settings.bind)?.run().await
}

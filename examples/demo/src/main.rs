//! The pow-rs demo app.
//!
//! Run it with `cargo run -p example-demo`, then open http://127.0.0.1:8080. Settings
//! (all optional): `DATABASE_URL` (default `sqlite://pow-demo.db`; a `postgres://` URL
//! works too), `BIND` (default `127.0.0.1:8080`), `SECRET_KEY_BASE` (generated into
//! `.secret_key_base` if unset), `POW_MAIL_DIR` (write mails there as `.eml` instead of
//! logging them), `POW_DEV_MAILBOX=1` (keep mails for the development preview at
//! `/dev/mailbox`; loopback `BIND` only), `BASE_URL` (for links in mails), `ADMIN_EMAILS` (who gets the admin role), `POW_CACHE` (`memory`, `redis` with
//! `REDIS_URL` and `REDIS_PREFIX`, `disk` with `POW_CACHE_DIR`, or `sql`: a table in `DATABASE_URL`; also read as `POW_STORE`), `POW_LOCAL_CACHE` (records kept in memory in front of Redis or PostgreSQL), `WORKERS` (actix worker threads; default one
//! per CPU), `POW_HASHER` (`pbkdf2`, the default, or `argon2`), `POW_RATE_LIMITS` (`on`, the
//! default, or `off` for load benchmarks).

use actix_web::HttpServer;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    example_demo::init_tracing();
    let example_demo::Server {
        settings,
        server: server_settings,
        config,
        mailbox,
    } = example_demo::server_from_env().await?;
    tracing::info!("pow-rs demo listening on http://{}", settings.bind);
    actix_web::rt::spawn(example_demo::purge_closed_accounts(config.clone()));
    let mut server =
        HttpServer::new(move || example_demo::app_with_mailbox(config.clone(), mailbox.clone()));
    if let Some(workers) = server_settings.workers {
        server = server.workers(workers);
    }
    server.bind(&settings.bind)?.run().await
}

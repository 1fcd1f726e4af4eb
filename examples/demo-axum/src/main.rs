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

fn main() -> std::io::Result<()> {
    example_demo::init_tracing();
    // The worker threads: read before the runtime starts (the rest of the settings after).
    let workers = example_demo::ServerSettings::from_env()
        .map_err(std::io::Error::other)?
        .workers;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        runtime.worker_threads(workers);
    }
    runtime.enable_all().build()?.block_on(async move {
        let example_demo::Server {
            settings,
            config,
            mailbox,
            ..
        } = example_demo::server_from_env().await?;
        tracing::info!("pow-rs demo (axum) listening on http://{}", settings.bind);
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

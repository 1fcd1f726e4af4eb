//! Plugging an application-owned store into pow-rs.
//!
//! Run it with `cargo run -p example-custom-store`. It builds a [`pow_actix::PowConfig`]
//! whose cache store is [`AppStore`] (see `src/lib.rs` for the backend and
//! `tests/conformance.rs` for the test that proves it), then stores and reads back one value
//! through the configuration, the way pow-core's session code does.
//!
//! The one line that matters is `.store(Arc::new(AppStore::new()))`: build the store once,
//! outside `HttpServer::new`, and every worker shares it through the configuration.

use std::sync::Arc;
use std::time::Duration;

use example_custom_store::AppStore;
use pow_actix::store::{Cache, Key};
use pow_actix::PowConfig;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // At least 64 random bytes, from the environment in a real app.
    let secret = std::env::var("SECRET_KEY_BASE")
        .unwrap_or_else(|_| "insecure example secret key base ".repeat(2));
    let config = PowConfig::builder(secret)
        .store(Arc::new(AppStore::new()))
        .build()?;

    let cache = Cache::new(
        Arc::clone(config.store()),
        "example",
        Some(Duration::from_secs(60)),
    );
    cache
        .put(&Key::from("greeting"), "hello from AppStore")
        .await?;
    let greeting: Option<String> = cache.get(&Key::from("greeting")).await?;
    println!("{}", greeting.unwrap_or_default());
    Ok(())
}

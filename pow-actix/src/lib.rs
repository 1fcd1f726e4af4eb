//! # pow-actix
//!
//! pow-rs on [actix-web](https://actix.rs): the session middleware and cookie session,
//! extractors and guards, the pages and controllers, the JSON API with its OpenAPI
//! document, and test helpers, over the framework-free engine
//! [pow-core](https://docs.rs/pow-core), whose app root (`pow_core::app`) this crate
//! re-exports: an actix app names `pow_actix` alone.
//!
//! **Guides**: start with [getting started](https://github.com/pow-rs/pow-rs/blob/main/guides/getting-started.md)
//! (install, users table, config, routes, a whole app driven over HTTP), then
//! [configuration](https://github.com/pow-rs/pow-rs/blob/main/guides/configuration.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides).
//!
//! ## The pieces
//!
//! | module | what it holds |
//! |---|---|
//! | [`session`] | [`PowMiddleware`], the cookie session, [`CurrentUser`] and [`MaybeUser`], guards, sign-in and sign-out of a request; the engine's session items |
//! | [`web`] | the action pipeline ([`web::Action`]), controllers, pages, CSRF, flash, `configure` |
//! | [`api`] | JSON endpoints with bearer tokens, the browser transport, the OpenAPI document |
//! | [`extension`] | the engine's extension contract, re-exported |
//! | [`Error`] | a pow-core error as an actix answer |
//!
//! ## A whole app
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer, Responder};
//! use pow_actix::session::{PowMiddleware, RequireAuthenticated};
//! use pow_actix::users::diesel::DieselUsersContext;
//! use pow_actix::{CurrentUser, PowConfig};
//!
//! async fn dashboard(user: CurrentUser) -> impl Responder {
//!     format!("Hello, {}", user.email().unwrap_or_default())
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // `pow gen secret` or `openssl rand -base64 48` makes one; export it before `cargo run`.
//!     let secret_key_base =
//!         std::env::var("SECRET_KEY_BASE").map_err(|_| "set SECRET_KEY_BASE (pow gen secret)")?;
//!     let users = DieselUsersContext::connect("sqlite://app.db")?;
//!     let config = PowConfig::builder(secret_key_base)
//!         .users(users.clone())
//!         .build()?;
//!     users.migrate(&config)?;
//!
//!     HttpServer::new(move || {
//!         App::new()
//!             .configure(pow_actix::web::configure(config.clone()))
//!             .service(
//!                 web::scope("/dashboard")
//!                     .wrap(RequireAuthenticated::new())
//!                     .route("", web::get().to(dashboard)),
//!             )
//!             // The cookie session and the pow session, in the right order.
//!             .wrap(PowMiddleware::new(config.clone()))
//!     })
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Cargo features
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(no_inline)]
pub use pow_core::app::*;

pub mod api;
pub mod extension;
pub mod session;
pub mod web;

#[cfg(feature = "test-util")]
pub mod test_client;
#[cfg(feature = "test-util")]
pub mod testing;

pub use session::{CurrentUser, MaybeUser, PowMiddleware, PowRequestExt, PowSessionMiddleware};
pub use web::{Error, PowErrorExt, Result};

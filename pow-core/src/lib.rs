//! # pow-core
//!
//! Modular, extension-based authentication for [actix-web](https://actix.rs), in the
//! spirit of Elixir's Pow: sign-up, sign-in, sessions and account pages that work securely
//! out of the box, with every piece replaceable.
//!
//! **Guides**: start with [getting started](https://github.com/pow-rs/pow-rs/blob/main/guides/getting-started.md)
//! (install, users table, config, routes, a whole app driven over HTTP), then
//! [configuration](https://github.com/pow-rs/pow-rs/blob/main/guides/configuration.md)
//! (every setting and its default). [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides):
//! each extension, cache stores, the mailer, the API, testing, production.
//!
//! **Where to start in this API**, each page with an example: [`PowConfig`] and
//! [`PowConfigBuilder`] (the setup, its settings grouped by purpose),
//! [`DieselUsersContext::connect`](users::diesel::DieselUsersContext::connect) and
//! [`migrate`](users::diesel::DieselUsersContext::migrate) (the users table), the
//! [`UsersContext`] trait and [`User`] (reading and writing users), the
//! [`Mailer`](mailer::Mailer) trait (sending mails) and the [`Store`](store::Store) trait
//! (the cache store).
//!
//! ## The pieces
//!
//! | module | what it holds | the seam an app can replace |
//! |---|---|---|
//! | [`config`] | [`PowConfig`] and its builder: one value per setup, no globals | – |
//! | [`users`] | [`User`], changesets, the [`UsersContext`] trait and its diesel implementation | the user store |
//! | [`password`] | PBKDF2-SHA512 (Pow's format) and Argon2id, run on a low-priority, bounded [`HashPool`](password::HashPool) | the hasher, the pool's sizing |
//! | [`token`] | signed tokens in Plug.Crypto's `MessageVerifier` format | – |
//! | [`store`] | the [`Store`](store::Store) trait, in-memory backend, conformance suite | the cache store |
//! | [`session`] | credentials cache, the [`SessionHandle`](session::SessionHandle) service, session middleware, extractors, guards | the session plug |
//! | [`flows`] | sign up, sign in, sign out, account changes as async functions with typed outcomes | the transport (cookie, bearer, none) |
//! | [`request`] | the facts of a request the engine reads ([`RequestSource`](request::RequestSource)) | any web framework |
//! | [`web`] | the action pipeline ([`web::Action`]), controllers, pages, CSRF, flash, routes backend | routes, views |
//! | [`messages`] | fluent texts in English, German and French | the messages backend |
//! | [`mailer`] | SMTP, file, in-memory and log mailers | the mailer |
//! | [`views`] | askama pages | the pages |
//! | [`extension`] | the [`Extension`] trait and the registry that checks requirements at `build()` | extensions |
//! | [`api`] | JSON endpoints with bearer access and renewal tokens, and their middleware | API extensions, error handler |
//!
//! ## A whole app
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer, Responder};
//! use pow_core::session::{PowMiddleware, RequireAuthenticated};
//! use pow_core::users::diesel::DieselUsersContext;
//! use pow_core::{CurrentUser, PowConfig};
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
//!             .configure(pow_core::web::configure(config.clone()))
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
//! ## The engine without actix-web
//!
//! The actix layer (middleware, cookie session, extractors, guards, controllers, pages,
//! JSON endpoints) sits behind the default `actix` feature. With
//! `default-features = false, features = ["sqlite"]` pow-core is the engine alone, and
//! its flows run without HTTP: they read a request through
//! [`RequestSource`](request::RequestSource), which a CLI or a test fills by hand.
//!
//! ```
//! use pow_core::request::RequestFacts;
//! use pow_core::PowConfig;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = PowConfig::builder("s".repeat(64)).build()?;
//! let facts = RequestFacts {
//!     client_ip: Some("203.0.113.9".parse()?),
//!     ..RequestFacts::default()
//! };
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! // A forged unlock link unlocks nothing, in a browser or here.
//! let unlocked = runtime.block_on(pow_core::limits::redeem_unlock_link(&config, &facts, "forged"))?;
//! assert!(unlocked.is_none());
//! # Ok(())
//! # }
//! ```
//!
//! ## Cargo features
//!
//! Read from `Cargo.toml`, so the table cannot drift from it:
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// Puts each item behind the calling crate's `actix` feature, the way pow-core and the
/// extension crates split their actix layer from their engine:
///
/// ```
/// pow_core::with_actix! {
///     mod web {}
///     pub use web::*;
/// }
/// ```
#[macro_export]
macro_rules! with_actix {
    ($($item:item)*) => {
        $(
            #[cfg(feature = "actix")]
            #[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
            $item
        )*
    };
}

pub mod admin;
pub mod api;
pub mod audit;
pub mod captcha;
pub mod config;
pub mod error;
pub mod extension;
pub mod flows;
pub mod limits;
pub mod link;
pub mod mailer;
pub mod messages;
pub mod password;
pub mod pipeline;
pub mod request;
pub mod session;
pub mod store;
pub mod time;
pub mod token;
pub mod users;
pub mod views;
#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod web;

#[cfg(feature = "test-util")]
pub mod test_client;
#[cfg(feature = "test-util")]
pub mod testing;

pub use config::{PasswordPolicy, PowConfig, PowConfigBuilder, SessionConfig};
pub use error::{PowError, PowResult};
pub use extension::{Extension, Extensions, Migrations};
#[cfg(feature = "actix")]
pub use session::{CurrentUser, MaybeUser, PowMiddleware, PowRequestExt, PowSessionMiddleware};
pub use users::{User, UsersContext};

pub use diesel_migrations;

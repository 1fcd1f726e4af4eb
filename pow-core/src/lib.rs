//! # pow-core
//!
//! The engine of pow-rs, modular, extension-based authentication in the spirit of Elixir's
//! Pow: users, sessions, flows, tokens, stores, messages, mails and the extension registry,
//! with no web framework in it. An app uses it through its framework crate,
//! [pow-actix](https://docs.rs/pow-actix) or [pow-axum](https://docs.rs/pow-axum), which
//! re-exports its app root ([`app`]).
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
//! | [`session`] | credentials cache, the [`SessionHandle`](session::SessionHandle) service, step-up rules, authentication methods | the session plug |
//! | [`flows`] | sign up, sign in, sign out, account changes as async functions with typed outcomes | the transport (cookie, bearer, none) |
//! | [`request`] | the facts of a request the engine reads ([`RequestSource`](request::RequestSource)) | any web framework |
//! | [`pipeline`] | the steps of an action and the client they answer ([`pipeline::Step`], [`pipeline::Client`]) | the framework layer |
//! | [`messages`] | fluent texts in English, German and French | the messages backend |
//! | [`mailer`] | SMTP, file, in-memory and log mailers | the mailer |
//! | [`views`] | askama pages | the pages |
//! | [`extension`] | the [`Extension`] trait and the registry that checks requirements at `build()` | extensions |
//! | [`api`] | bearer access and renewal tokens | – |
//!
//! ## Who names what
//!
//! | audience | what it names |
//! |---|---|
//! | an app | its framework crate alone (`pow_actix`, `pow_axum`), which re-exports [`app`]: the setup, users, stores, mailers, messages, pages, flows and the rest of this root, without [`framework`] |
//! | an extension | `pow_core`: the contract in [`extension`], routes in [`pages::routes`] and [`api::routes`], the action's [`pipeline`], the flows and services |
//! | a framework layer | [`framework`]: the page runner, the request's head, the browser's session over a response's cookies, the JSON transport's pieces |
//!
//! ## The engine, any framework
//!
//! pow-core names no web framework. A framework's layer (the `pow-actix` crate: middleware,
//! cookie session, extractors, guards, controllers, pages, JSON endpoints) reads a request
//! into [`RequestSource`](request::RequestSource), hands the flows a
//! [`SessionHandle`](session::SessionHandle) and renders what they answer. A CLI or a test
//! fills the request by hand:
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

/// Puts each item behind the calling crate's `actix` feature, the way the extension crates
/// split their actix layer from their engine:
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
pub mod framework;
pub mod limits;
pub mod link;
pub mod mailer;
pub mod messages;
#[cfg(feature = "outbound")]
pub mod outbound;
pub mod pages;
pub mod password;
pub mod pipeline;
pub mod request;
pub mod session;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod time;
pub mod token;
pub mod users;
pub mod views;

pub use config::{PasswordPolicy, PowConfig, PowConfigBuilder, SessionConfig};
pub use error::{PowError, PowResult};
pub use extension::{Extension, Extensions, Migrations};
pub use users::{User, UsersContext};

pub use diesel_migrations;

/// The root an app sees through its framework crate: every module and entry type of this
/// crate but [`framework`] (which only a framework layer needs), and the macros an app
/// writes. `pow_actix` and `pow_axum` re-export it, so an app depends on one of them
/// alone.
///
/// ```
/// use pow_core::app::{PowConfig, PowError};
///
/// let config = PowConfig::builder("s".repeat(64)).build()?;
/// assert!(config.users_context().is_err(), "no users context was given");
/// # Ok::<(), PowError>(())
/// ```
pub mod app {
    #[cfg(feature = "outbound")]
    pub use crate::outbound;
    #[cfg(feature = "test-util")]
    pub use crate::testing;
    pub use crate::{
        admin, api, audit, captcha, config, error, extension, flows, limits, link, mailer,
        messages, pages, password, pipeline, request, session, store, time, token, users, views,
    };
    pub use crate::{api_act, page_act, sql_migration};
    pub use crate::{
        diesel_migrations, Extension, Extensions, Migrations, PasswordPolicy, PowConfig,
        PowConfigBuilder, PowError, PowResult, SessionConfig, User, UsersContext,
    };
    #[cfg(feature = "sql")]
    pub use crate::{sql_bound, with_connection};
}

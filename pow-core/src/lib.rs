//! # pow-core
//!
//! Modular, extension-based authentication for actix-web.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod error;
pub mod extension;
pub mod mailer;
pub mod messages;
pub mod password;
pub mod session;
pub mod store;
pub mod token;
pub mod users;
pub mod views;
pub mod web;

#[cfg(feature = "test-util")]
pub mod test_client;
#[cfg(feature = "test-util")]
pub mod testing;

pub use config::{PasswordPolicy, PowConfig, PowConfigBuilder, SessionConfig};
pub use error::{PowError, PowResult};
pub use extension::{Extension, Extensions, Migrations};
pub use session::{CurrentUser, MaybeUser, PowRequestExt, PowSessionMiddleware};
pub use users::{User, UsersContext};

pub use diesel_migrations;

//! # pow-core
//!
//! Modular, extension-based authentication for actix-web.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod error;
pub mod extension;
pub mod password;
pub mod store;
pub mod token;
pub mod users;

pub use config::{PasswordPolicy, PowConfig, PowConfigBuilder, SessionConfig};
pub use error::{PowError, PowResult};
pub use extension::{Extension, Extensions, Migrations};
pub use users::{User, UsersContext};

pub use diesel_migrations;

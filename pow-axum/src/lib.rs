//! pow-rs on axum and tower: a [`PowLayer`] that finds who is signed in once per request,
//! and extractors ([`CurrentUser`], [`MaybeUser`], [`Pow`]) over the pow-core engine.
//!
//! The layer reads and writes the same session cookie as the actix-web layer
//! (`pow-actix`), with the same records, renewal, absolute lifetime and live revocation:
//! the two frameworks can serve one app side by side, and an app can move from one to the
//! other without signing anybody out.
//!
//! ```
//! use axum::{routing::get, Router};
//! use pow_axum::{CurrentUser, MaybeUser, PowLayer};
//!
//! let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
//! let app: Router = Router::new()
//!     .route("/", get(|MaybeUser(user): MaybeUser| async move {
//!         match user {
//!             Some(user) => format!("hello, user {}", user.id),
//!             None => "hello".to_owned(),
//!         }
//!     }))
//!     .route("/me", get(|user: CurrentUser| async move { format!("user {}", user.id) }))
//!     .layer(PowLayer::new(config));
//! ```
//!
//! The pages (sign-in, sign-up, the account, sessions, and each enabled extension's) come
//! from [`web::router`]: the engine's page routes, the same table pow-actix mounts, run
//! through the same pipeline (access rules, CSRF, rate limits, CAPTCHA, the extensions'
//! callbacks, audit):
//!
//! ```
//! use axum::Router;
//! use pow_axum::PowLayer;
//!
//! let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
//! let app: Router = Router::new()
//!     .merge(pow_axum::web::router(&config))
//!     .layer(PowLayer::new(config));
//! ```
//!
//! Serve the router with `into_make_service_with_connect_info::<SocketAddr>()` so that
//! rate limits, audit events and session lists see the client's address.
//!
//! Guides: [pow-rs on axum](https://github.com/pow-rs/pow-rs/blob/main/guides/axum.md)
//! (a complete first app: install, users, pages, serving, signing out, a protected page),
//! [getting started](https://github.com/pow-rs/pow-rs/blob/main/guides/getting-started.md)
//! (the same app on actix-web, with more on each step),
//! [configuration](https://github.com/pow-rs/pow-rs/blob/main/guides/configuration.md).
//!
//! ## Features
#![doc = document_features::document_features!()]

pub use pow_core::app::*;

mod access;
pub mod api;
mod extract;
mod facts;
mod guard;
mod layer;
mod response;
pub mod service;
pub mod web;

pub use access::{AccessService, RequireAccess};
pub use api::ApiLayer;
pub use extract::{wants_json, CurrentUser, MaybeUser, Pow, PowFacts, PowRejection, RequestState};
pub use guard::{RequireStepUp, StepUpService};
pub use layer::{PowLayer, PowService};
pub use response::{api_response, error_response, Error};

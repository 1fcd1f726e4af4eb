//! The HTML web layer: core routes and controllers, pages, flash, CSRF, callbacks and the
//! routes backend.
//!
//! Mount everything with one call, inside the session middlewares:
//!
//! ```no_run
//! use actix_web::{App, HttpServer};
//! use pow_actix::{session, web, PowConfig};
//!
//! # async fn run(config: PowConfig) -> std::io::Result<()> {
//! HttpServer::new(move || {
//!     App::new()
//!         .configure(web::configure(config.clone()))
//!         .wrap(session::PowMiddleware::new(config.clone()))
//! })
//! .bind("127.0.0.1:8080")?
//! .run()
//! .await
//! # }
//! ```
//!
//! Routes (Pow's): `GET /session/new`, `POST /session`, `DELETE /session`,
//! `GET /registration/new`, `POST /registration`, `GET /registration/edit`,
//! `PATCH`/`PUT /registration`, `DELETE /registration`, plus each enabled extension's.
//! HTML forms reach PATCH/PUT/DELETE by posting a `_method` field.
//!
//! Every action, core or extension, HTML or JSON, runs through one pipeline, [`Action`]:
//! resolve the setup, let in who may come (through the configured
//! [`ErrorHandler`](crate::session::ErrorHandler)), check the CSRF token of a posted form,
//! run each extension's `before_process`, the action, each `before_respond`, then render
//! the [`Outcome`]. Callbacks see a [`Controller`] with a typed [`ActionId`].

pub(crate) mod action;
pub mod actions;
mod callbacks;
mod controllers;
pub mod csrf;
pub mod flash;
mod forms;
mod mailbox;
mod pages;
pub mod params;
mod registration;
mod unlock;

pub use crate::config::{extension_path, DefaultRoutes, RouteContext, Routes};
pub(crate) use crate::session::facts::origin;
pub use crate::session::facts::routes_ctx;
pub use crate::session::facts::{client_ip, ActixRequest};
pub use crate::session::guard::unavailable_page;
pub use crate::session::guard::PowErrorExt;
pub use crate::session::response_error::{Error, Result};
pub use action::{Access, Action, Format, Outcome, Render};
pub use callbacks::{halted, redirect, ActionId, ActionKind, Assigns, Controller, Flow, Halt};
pub use controllers::{check_csrf, configure, route_config};
pub use forms::{
    extra_fields, field, form, new_password_fields, optional_field, user_id_field, user_id_kind,
};
pub use mailbox::{mailbox_preview, MAILBOX_PATH};
pub use pages::{no_store, outcome, page_security_headers, render_page, serve, Page};
pub use params::FormData;
pub use pow_core::config::returning_to;
pub use pow_core::pages::impersonation::{IMPERSONATION_START, IMPERSONATION_STOP};
pub use registration::signed_up;

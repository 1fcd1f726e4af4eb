//! The JSON API's engine half: bearer access and renewal tokens ([`TokenPair`],
//! [`authenticate`], [`revoke_user_tokens`]), why a pair is issued ([`ApiAction`]), the
//! extensions' say in issuing it ([`TokenHooks`], answering [`Held`] and [`PendingStep`])
//! and where mail links point ([`LinkTemplate`]).
//!
//! The endpoints are the engine's too: [`routes`] is the route table (each [`ApiRoute`] a
//! controller over a step and an [`ApiClient`]) and the pipeline every JSON action runs
//! through, [`ApiService`] one transport's API (settings, tokens, the extensions' hooks and
//! its OpenAPI document), and the error answer ([`ApiError`]: status, code, translated
//! text, pending steps, headers and the JSON envelope) is decided here, so every framework
//! answers alike. A framework layer (pow-actix's `api`, pow-axum's `api`) reads the request,
//! checks the browser transport's origins
//! ([`TrustedOrigins`](crate::framework::api::TrustedOrigins)) and writes the [`ApiAnswer`].

use std::time::Duration;

pub(crate) mod access;
pub(crate) mod call;
mod core;
mod error;
mod hooks;
pub(crate) mod openapi;
pub(crate) mod options;
pub mod routes;
mod service;

pub use self::core::actions;
pub use access::{AccessFuture, AccessGuard};
pub use openapi::{openapi_fragment, OPENAPI_VERSION};
pub use options::{ApiOptions, BrowserTransport, DEFAULT_OPENAPI_PATH, DEFAULT_REPLAY_GRACE};
pub use routes::{json_body, user_params, ApiAnswer, ApiClient, ApiRoute, Reply, UserParams};
pub use service::{ApiService, ApiSide};

pub use crate::error::{Held, PendingStep};
pub use error::{language, text, ApiError};
pub(crate) use hooks::prepare_issue;
pub use hooks::{details, pending_steps, taken_sign_up, Issue, TokenHooks};

pub use crate::link::{LinkKind, LinkTemplate};

pub use crate::session::tokens::{
    authenticate, revoke_user_tokens, TokenPair, ACCESS_TOKEN_SALT, MAX_RENEWAL_TTL,
    RENEWAL_TOKEN_SALT,
};

/// The Fluent files of the API's own texts, as `(language, source)`: `api-not-authenticated`,
/// `api-already-authenticated`, `api-invalid-token`, `api-invalid-request`,
/// `api-user-not-created` and `api-busy`. An app overrides them like any other key, with
/// [`PowConfigBuilder::messages_ftl`](crate::PowConfigBuilder::messages_ftl).
pub const API_FTL: &[(&str, &str)] = &[
    ("en", include_str!("locales/en.ftl")),
    ("de", include_str!("locales/de.ftl")),
    ("fr", include_str!("locales/fr.ftl")),
];

/// The default route prefix.
pub const DEFAULT_PREFIX: &str = "/api/v1";
/// The default lifetime of renewal tokens: 30 days.
pub const DEFAULT_RENEWAL_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Largest request body the endpoints read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a token pair is about to be issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiAction {
    /// A user just signed up (the user exists already).
    Registration,
    /// A user signed in with a user id and password.
    SignIn,
    /// A renewal token was exchanged for a new pair.
    Renewal,
    /// The user changed their account (address, password) and the client gets a new pair
    /// in place of the one it used.
    AccountUpdate,
}

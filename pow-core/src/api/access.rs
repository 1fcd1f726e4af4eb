//! [`AccessGuard`]: a check of a request's bearer token that routes of an app's own (an
//! API, an MCP server) put in front of their handlers, written once on the engine and
//! run by each framework's `RequireAccess` layer.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::pages::HttpAnswer;
use crate::PowConfig;

/// What [`AccessGuard::check`] returns: the access, or the answer to send instead.
pub type AccessFuture<'a, A> = BoxFuture<'a, Result<A, HttpAnswer>>;

/// A check of the `Authorization` header of a request to an app's own route: the access
/// it gives the handler, or the answer to send as it is (a `401` with its challenge, a
/// `403`, a `503`).
///
/// The framework layers run it: pow-axum's and pow-actix's `RequireAccess` wrap routes,
/// call [`check`](Self::check) before the handler, and hand the handler the
/// [`Access`](Self::Access) (an `Extension` on axum, `ReqData` on actix-web). An
/// extension that accepts tokens (the provider's resources) implements it.
///
/// ```
/// use pow_core::api::{AccessFuture, AccessGuard};
/// use pow_core::pages::HttpAnswer;
/// use pow_core::PowConfig;
///
/// /// Lets through the one token a test knows.
/// struct OneToken(&'static str);
///
/// impl AccessGuard for OneToken {
///     type Access = String;
///
///     fn check<'a>(
///         &'a self,
///         _config: &'a PowConfig,
///         authorization: Option<&'a str>,
///     ) -> AccessFuture<'a, String> {
///         let token = authorization.and_then(pow_core::api::routes::bearer_of);
///         let result = match token {
///             Some(token) if token == self.0 => Ok("tester".to_owned()),
///             _ => Err(HttpAnswer::json_document(
///                 401,
///                 &serde_json::json!({ "error": "invalid_token" }),
///                 Some("no-store"),
///             )),
///         };
///         Box::pin(std::future::ready(result))
///     }
/// }
/// ```
pub trait AccessGuard: Send + Sync + 'static {
    /// What a request that passes gives its handler.
    type Access: Clone + Send + Sync + 'static;

    /// The access the request's `Authorization` header (`None` without one) gives, or
    /// the answer to send instead of the handler's.
    fn check<'a>(
        &'a self,
        config: &'a PowConfig,
        authorization: Option<&'a str>,
    ) -> AccessFuture<'a, Self::Access>;
}

/// A guard with the setup it checks under: what each framework's `RequireAccess` holds
/// and runs before a route's handler. Cheap to clone.
pub struct AccessCheck<G> {
    config: PowConfig,
    guard: Arc<G>,
}

impl<G> Clone for AccessCheck<G> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            guard: Arc::clone(&self.guard),
        }
    }
}

impl<G> std::fmt::Debug for AccessCheck<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessCheck")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<G: AccessGuard> AccessCheck<G> {
    /// `guard`, checking under `config`.
    pub fn new(config: PowConfig, guard: G) -> Self {
        Self {
            config,
            guard: Arc::new(guard),
        }
    }

    /// The access a request's `Authorization` header gives, or the answer to send.
    pub fn check<'a>(&'a self, authorization: Option<&'a str>) -> AccessFuture<'a, G::Access> {
        self.guard.check(&self.config, authorization)
    }
}

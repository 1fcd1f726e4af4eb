//! The actix side of the extension contract: routes, request hooks and the JSON side.

use std::sync::Arc;

use actix_web::web::ServiceConfig;
use actix_web::HttpRequest;
use async_trait::async_trait;

use super::{ExtensionBuilder, Extensions};
use crate::api::ApiExtension;
use crate::config::PowConfig;
use crate::error::PowError;

/// Registers the actix routes of an extension (see [`ExtensionBuilder::routes`]).
pub type RoutesFn = dyn Fn(&mut ServiceConfig, &PowConfig) + Send + Sync;

/// Work on requests after the session middleware resolved the session, with or without a
/// signed-in user (e.g. signing a user in from a remember-me cookie). It runs on requests
/// that carry one of its [`cookies`](RequestHook::cookies), so a request with no cookie
/// of interest costs nothing.
#[async_trait(?Send)]
pub trait RequestHook: Send + Sync + 'static {
    /// The names of the cookies the hook reads, under `config`. Read once, when the
    /// middleware is set up.
    fn cookies(&self, config: &PowConfig) -> Vec<String>;

    /// Runs on a request that carries one of [`cookies`](Self::cookies).
    async fn on_request(&self, req: &HttpRequest, config: &PowConfig) -> Result<(), PowError>;
}

/// What an extension registered for the actix layer.
#[derive(Clone, Default)]
pub(crate) struct WebParts {
    pub(crate) routes: Vec<Arc<RoutesFn>>,
    pub(crate) request_hooks: Vec<Arc<dyn RequestHook>>,
    pub(crate) api: Vec<Arc<dyn ApiExtension>>,
}

impl WebParts {
    /// Adds `other`'s registrations after these.
    pub(crate) fn extend(&mut self, other: &WebParts) {
        self.routes.extend(other.routes.iter().cloned());
        self.request_hooks
            .extend(other.request_hooks.iter().cloned());
        self.api.extend(other.api.iter().cloned());
    }
}

impl ExtensionBuilder {
    /// Registers the extension's routes; called by [`crate::web::configure`].
    pub fn routes(
        &mut self,
        routes: impl Fn(&mut ServiceConfig, &PowConfig) + Send + Sync + 'static,
    ) -> &mut Self {
        self.contributions.web.routes.push(Arc::new(routes));
        self
    }

    /// Work on requests carrying the hook's cookies (see [`RequestHook`]).
    pub fn request_hook(&mut self, hook: impl RequestHook) -> &mut Self {
        self.contributions.web.request_hooks.push(Arc::new(hook));
        self
    }

    /// The extension's JSON side: enabling the extension in the config enables it for the
    /// API ([`crate::api::configure`]) too.
    pub fn api(&mut self, api: impl ApiExtension) -> &mut Self {
        self.contributions.web.api.push(Arc::new(api));
        self
    }
}

impl Extensions {
    /// The request hooks, in extension order.
    pub fn request_hooks(&self) -> &[Arc<dyn RequestHook>] {
        &self.web.request_hooks
    }

    /// The route registrations, in extension order.
    pub fn routes(&self) -> &[Arc<RoutesFn>] {
        &self.web.routes
    }

    /// The JSON sides, in extension order.
    pub fn api(&self) -> &[Arc<dyn ApiExtension>] {
        &self.web.api
    }
}

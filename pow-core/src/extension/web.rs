//! The actix side of the extension contract: routes and the JSON side.

use std::sync::Arc;

use actix_web::web::ServiceConfig;

use super::{ExtensionBuilder, Extensions};
use crate::api::ApiExtension;
use crate::config::PowConfig;

/// Registers the actix routes of an extension (see [`ExtensionBuilder::routes`]).
pub type RoutesFn = dyn Fn(&mut ServiceConfig, &PowConfig) + Send + Sync;

/// What an extension registered for the actix layer.
#[derive(Clone, Default)]
pub(crate) struct WebParts {
    pub(crate) routes: Vec<Arc<RoutesFn>>,
    pub(crate) api: Vec<Arc<dyn ApiExtension>>,
}

impl WebParts {
    /// Adds `other`'s registrations after these.
    pub(crate) fn extend(&mut self, other: &WebParts) {
        self.routes.extend(other.routes.iter().cloned());
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

    /// The extension's JSON side: enabling the extension in the config enables it for the
    /// API ([`crate::api::configure`]) too.
    pub fn api(&mut self, api: impl ApiExtension) -> &mut Self {
        self.contributions.web.api.push(Arc::new(api));
        self
    }
}

impl Extensions {
    /// The route registrations, in extension order.
    pub fn routes(&self) -> &[Arc<RoutesFn>] {
        &self.web.routes
    }

    /// The JSON sides, in extension order.
    pub fn api(&self) -> &[Arc<dyn ApiExtension>] {
        &self.web.api
    }
}

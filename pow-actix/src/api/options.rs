//! [`ApiOptions`]: the settings of the JSON endpoints on actix-web.

use std::sync::Arc;
use std::time::Duration;

use super::ApiExtension;

/// Settings of the JSON endpoints: the engine's
/// ([`pow_core::api::ApiOptions`], the same on every framework) and the actix JSON sides
/// added by hand ([`extension`](Self::extension)). Each setter says its default.
#[derive(Clone, Default)]
pub struct ApiOptions {
    pub(super) engine: pow_core::api::ApiOptions,
    pub(super) extensions: Vec<Arc<dyn ApiExtension>>,
}

impl std::fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiOptions")
            .field("engine", &self.engine)
            .field(
                "extensions",
                &self.extensions.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl From<pow_core::api::ApiOptions> for ApiOptions {
    fn from(engine: pow_core::api::ApiOptions) -> Self {
        Self {
            engine,
            extensions: Vec::new(),
        }
    }
}

impl ApiOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The engine's settings.
    pub fn engine(&self) -> &pow_core::api::ApiOptions {
        &self.engine
    }

    fn map(
        mut self,
        set: impl FnOnce(pow_core::api::ApiOptions) -> pow_core::api::ApiOptions,
    ) -> Self {
        self.engine = set(self.engine);
        self
    }

    /// Where the endpoints are mounted
    /// ([`pow_core::api::ApiOptions::prefix`]; `"/api/v1"` by default).
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        self.map(|o| o.prefix(prefix))
    }

    /// How long a renewal token lives
    /// ([`pow_core::api::ApiOptions::renewal_ttl`]; 30 days by default, at most 365).
    pub fn renewal_ttl(self, ttl: Duration) -> Self {
        self.map(|o| o.renewal_ttl(ttl))
    }

    /// How long a used renewal token may come again without alarm
    /// ([`pow_core::api::ApiOptions::renewal_replay_grace`]; 5 seconds by default).
    pub fn renewal_replay_grace(self, grace: Duration) -> Self {
        self.map(|o| o.renewal_replay_grace(grace))
    }

    /// Where the OpenAPI document is served
    /// ([`pow_core::api::ApiOptions::openapi_path`]; `"/openapi.json"` by default).
    pub fn openapi_path(self, path: Option<&str>) -> Self {
        self.map(|o| o.openapi_path(path))
    }

    /// The title and version of the API in its OpenAPI document
    /// ([`pow_core::api::ApiOptions::openapi_info`]).
    pub fn openapi_info(self, title: impl Into<String>, version: impl Into<String>) -> Self {
        self.map(|o| o.openapi_info(title, version))
    }

    /// Documents the app's own JSON routes in the same document
    /// ([`pow_core::api::ApiOptions::openapi_fragment`]).
    pub fn openapi_fragment(self, fragment: serde_json::Value) -> Self {
        self.map(|o| o.openapi_fragment(fragment))
    }

    /// Serves every route a second time for browsers
    /// ([`pow_core::api::ApiOptions::browser`]; off by default).
    pub fn browser(self, transport: super::BrowserTransport) -> Self {
        self.map(|o| o.browser(transport))
    }

    /// Adds a JSON extension. The JSON sides of the extensions enabled in the config
    /// ([`ActixExtensionBuilder::api`](crate::extension::ActixExtensionBuilder::api)) are added already, in config order; an
    /// extension added here replaces the config's of the same name (to give it other
    /// settings, say a [`LinkTemplate`](super::LinkTemplate)) and others come after them. Order matters:
    /// their [`TokenHooks::before_issue`](super::TokenHooks::before_issue) run in that order. The default is none.
    pub fn extension(mut self, extension: impl ApiExtension) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }
}

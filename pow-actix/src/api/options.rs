//! [`ApiOptions`]: the settings of the JSON endpoints.

use std::sync::Arc;
use std::time::Duration;

use super::{ApiExtension, DEFAULT_PREFIX, DEFAULT_RENEWAL_TTL, MAX_RENEWAL_TTL};

/// Where the OpenAPI document is served by default, under the prefix.
pub const DEFAULT_OPENAPI_PATH: &str = "/openapi.json";

/// The default grace for a renewal token sent again right after its use: 5 seconds.
pub const DEFAULT_REPLAY_GRACE: Duration = Duration::from_secs(5);

/// Settings of the JSON endpoints. Each setter says its default.
#[derive(Clone)]
pub struct ApiOptions {
    pub(super) prefix: String,
    pub(super) renewal_ttl: Duration,
    pub(super) replay_grace: Duration,
    pub(super) extensions: Vec<Arc<dyn ApiExtension>>,
    pub(super) openapi_path: Option<String>,
    pub(super) openapi_title: String,
    pub(super) openapi_version: String,
    pub(super) openapi_fragments: Vec<serde_json::Value>,
    pub(super) browser: Option<super::BrowserTransport>,
}

impl std::fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiOptions")
            .field("prefix", &self.prefix)
            .field("renewal_ttl", &self.renewal_ttl)
            .field("replay_grace", &self.replay_grace)
            .field("browser", &self.browser)
            .field(
                "extensions",
                &self.extensions.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            renewal_ttl: DEFAULT_RENEWAL_TTL,
            replay_grace: DEFAULT_REPLAY_GRACE,
            extensions: Vec::new(),
            openapi_path: Some(DEFAULT_OPENAPI_PATH.to_owned()),
            openapi_title: "pow-rs API".to_owned(),
            openapi_version: env!("CARGO_PKG_VERSION").to_owned(),
            openapi_fragments: Vec::new(),
            browser: None,
        }
    }
}

impl ApiOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the endpoints are mounted. The default is `"/api/v1"`; `""` mounts them at
    /// the root (where they clash with the HTML routes of [`crate::web::configure`]).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let trimmed = prefix.trim().trim_matches('/');
        self.prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// How long a renewal token lives. The default is 30 days; values above
    /// [`MAX_RENEWAL_TTL`] (365 days) are capped.
    ///
    /// # Warning
    /// A renewal token is a long-lived credential: a stolen one signs its thief in until
    /// it is used or revoked. Keep it as short as the clients allow.
    pub fn renewal_ttl(mut self, ttl: Duration) -> Self {
        if ttl > MAX_RENEWAL_TTL {
            tracing::warn!("API renewal_ttl above 365 days: capped at 365 days");
        }
        self.renewal_ttl = ttl.min(MAX_RENEWAL_TTL);
        self
    }

    /// How long after a renewal the token it used up may come again without alarm (a
    /// client that sent it twice, or lost the answer). Later, a used renewal token is a
    /// copy in someone else's hands: the whole chain of pairs it belonged to is revoked.
    /// The default is 5 seconds.
    pub fn renewal_replay_grace(mut self, grace: Duration) -> Self {
        self.replay_grace = grace;
        self
    }

    /// Where the OpenAPI 3.1 document of the endpoints is served (`GET`), under the
    /// prefix; `None` serves none ([`ApiContext::openapi`](super::ApiContext::openapi)
    /// still builds it). The default is `"/openapi.json"`. The document lists the core's
    /// endpoints and those of each enabled extension, nothing else.
    pub fn openapi_path(mut self, path: Option<&str>) -> Self {
        self.openapi_path = path.map(|p| format!("/{}", p.trim().trim_start_matches('/')));
        self
    }

    /// The title and version of the API in its OpenAPI document. The default is
    /// `"pow-rs API"` and pow-core's version.
    pub fn openapi_info(mut self, title: impl Into<String>, version: impl Into<String>) -> Self {
        self.openapi_title = title.into();
        self.openapi_version = version.into();
        self
    }

    /// Documents the app's own JSON routes in the same document: an OpenAPI fragment,
    /// `{"paths": {...}, "components": {...}, "tags": [...]}`, with paths under the prefix.
    /// Its components may refer to the core's (`#/components/schemas/Error`). The default
    /// is none.
    pub fn openapi_fragment(mut self, fragment: serde_json::Value) -> Self {
        self.openapi_fragments.push(fragment);
        self
    }

    /// Serves every route a second time for browsers ([`BrowserTransport`](super::BrowserTransport)):
    /// under `<prefix>/browser` by default, signed in by the session cookie instead of a
    /// bearer token, state changes only from trusted origins. Sign-ins there answer
    /// without tokens and set the cookie; `POST /session/renew` is the bearer transport's
    /// alone. The default is off: the API accepts bearer tokens only.
    pub fn browser(mut self, transport: super::BrowserTransport) -> Self {
        self.browser = Some(transport);
        self
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

//! [`ApiOptions`]: the settings of the JSON endpoints, and the browser transport's
//! ([`BrowserTransport`], [`TrustedOrigins`]).

use std::sync::Arc;
use std::time::Duration;

use super::{DEFAULT_PREFIX, DEFAULT_RENEWAL_TTL, MAX_RENEWAL_TTL};
use crate::config::PowConfig;

/// Where the OpenAPI document is served by default, under the prefix.
pub const DEFAULT_OPENAPI_PATH: &str = "/openapi.json";

/// The default grace for a renewal token sent again right after its use: 5 seconds.
pub const DEFAULT_REPLAY_GRACE: Duration = Duration::from_secs(5);

/// Settings of the JSON endpoints, the same on every framework. Each setter says its
/// default.
///
/// ```
/// use pow_core::api::{ApiOptions, BrowserTransport};
///
/// let options = ApiOptions::new()
///     .prefix("/api/v2")
///     .browser(BrowserTransport::new());
/// assert_eq!(options.prefix_path(), "/api/v2");
/// assert_eq!(options.browser_prefix().as_deref(), Some("/api/v2/browser"));
/// ```
#[derive(Clone, Debug)]
pub struct ApiOptions {
    pub(crate) prefix: String,
    pub(crate) renewal_ttl: Duration,
    pub(crate) replay_grace: Duration,
    pub(crate) openapi_path: Option<String>,
    pub(crate) openapi_title: String,
    pub(crate) openapi_version: String,
    pub(crate) openapi_fragments: Vec<serde_json::Value>,
    pub(crate) browser: Option<BrowserTransport>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            renewal_ttl: DEFAULT_RENEWAL_TTL,
            replay_grace: DEFAULT_REPLAY_GRACE,
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
    /// the root (where they clash with the HTML pages).
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
    /// prefix; `None` serves none (it is still built). The default is `"/openapi.json"`.
    /// The document lists the core's endpoints and those of each enabled extension,
    /// nothing else.
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

    /// Serves every route a second time for browsers ([`BrowserTransport`]): under
    /// `<prefix>/browser` by default, signed in by the session cookie instead of a bearer
    /// token, state changes only from trusted origins. Sign-ins there answer without
    /// tokens and set the cookie; `POST /session/renew` is the bearer transport's alone.
    /// The default is off: the API accepts bearer tokens only.
    pub fn browser(mut self, transport: BrowserTransport) -> Self {
        self.browser = Some(transport);
        self
    }

    /// The route prefix (`"/api/v1"` by default, `""` at the root).
    pub fn prefix_path(&self) -> &str {
        &self.prefix
    }

    /// How long renewal tokens live.
    pub fn renewal_lifetime(&self) -> Duration {
        self.renewal_ttl
    }

    /// How long a used renewal token may come again without revoking its chain.
    pub fn replay_grace(&self) -> Duration {
        self.replay_grace
    }

    /// Where the document is served, under the prefix, if it is.
    pub fn document_path(&self) -> Option<&str> {
        self.openapi_path.as_deref()
    }

    /// The browser transport's settings, when it is on.
    pub fn browser_transport(&self) -> Option<&BrowserTransport> {
        self.browser.as_ref()
    }

    /// Where the browser transport's routes are mounted, when it is on.
    pub fn browser_prefix(&self) -> Option<String> {
        let transport = self.browser.as_ref()?;
        Some(
            transport
                .prefix
                .clone()
                .unwrap_or_else(|| format!("{}/browser", self.prefix)),
        )
    }
}

/// The browser transport's settings ([`ApiOptions::browser`]): the API's routes a second
/// time, under their own prefix, for a single-page app served from the same site. The
/// client is signed in by the session cookie (HttpOnly, SameSite, never readable by
/// scripts) and by nothing else: a bearer token opens none of its routes, on either
/// framework, even where the app's bearer layer wraps them (each transport takes only its
/// own credential). Every state-changing request must prove it comes from a trusted
/// origin.
///
/// ```
/// use pow_core::api::{ApiOptions, BrowserTransport};
///
/// // The app's routes at /api/v1 (bearer tokens), the browser's at /api/v1/browser
/// // (session cookie), open to the pages of https://app.example.com as well.
/// let options = ApiOptions::new()
///     .browser(BrowserTransport::new().trusted_origin("https://app.example.com"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct BrowserTransport {
    pub(crate) prefix: Option<String>,
    pub(crate) origins: Vec<String>,
}

impl BrowserTransport {
    /// The transport under `<API prefix>/browser`, trusting the server's own origin and
    /// that of the config's [`base_url`](crate::PowConfigBuilder::base_url).
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the browser's routes are mounted, a path of its own (`"/_auth/browser"`).
    /// The default is the API's prefix followed by `/browser`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let trimmed = prefix.trim().trim_matches('/');
        self.prefix = Some(format!("/{trimmed}"));
        self
    }

    /// Trusts pages of `origin` (`"https://app.example.com"`: scheme, host and port if not
    /// the default) to send state-changing requests, besides the server's own origin and
    /// the config's base URL. For a front end on another host of the same site; a
    /// front end on another site gets no cookie (SameSite) and uses the bearer transport.
    pub fn trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(normalize(&origin.into()));
        self
    }
}

/// `origin` as compared: trimmed, without a trailing slash, lowercase.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The origin (`scheme://host[:port]`) of an absolute URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!scheme.is_empty() && !host.is_empty()).then(|| normalize(&format!("{scheme}://{host}")))
}

/// The origins whose pages may send state-changing requests on the browser transport:
/// the transport's trusted ones, the config's base URL's and the server's own.
#[derive(Clone, Debug)]
pub struct TrustedOrigins {
    origins: Arc<[String]>,
}

/// What [`TrustedOrigins::allows`] reads of a request.
#[derive(Clone, Copy, Debug)]
pub struct OriginFacts<'a> {
    /// Whether the method is `GET`, `HEAD` or `OPTIONS`.
    pub safe_method: bool,
    /// The `Origin` header: `None` without one, `Some(None)` when it is not text.
    pub origin: Option<Option<&'a str>>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a str>,
    /// The server's own origin as the request reached it (`scheme://host`).
    pub own_origin: &'a str,
}

impl TrustedOrigins {
    /// The origins `transport` trusts on `config`.
    pub fn new(config: &PowConfig, transport: &BrowserTransport) -> Self {
        let mut origins = transport.origins.clone();
        origins.extend(config.base_url().and_then(origin_of));
        origins.sort();
        origins.dedup();
        Self {
            origins: origins.into(),
        }
    }

    /// Whether a request may go on: a safe method, an `Origin` that is trusted or the
    /// server's own (never `null`), or without `Origin` the browser's own
    /// `Sec-Fetch-Site: same-origin`.
    pub fn allows(&self, req: OriginFacts<'_>) -> bool {
        if req.safe_method {
            return true;
        }
        if let Some(origin) = req.origin {
            let Some(origin) = origin else {
                return false;
            };
            let origin = normalize(origin);
            if origin == "null" {
                return false;
            }
            return self.origins.contains(&origin) || normalize(req.own_origin) == origin;
        }
        req.sec_fetch_site
            .is_some_and(|site| site.trim().eq_ignore_ascii_case("same-origin"))
    }
}

/// The answer refusing a state change on the browser transport from an untrusted origin:
/// `403` with the code `cross_site_request`.
pub fn cross_site(
    config: Option<&PowConfig>,
    lang: &crate::messages::LanguageIdentifier,
) -> super::ApiError {
    super::ApiError::new(403, super::text(config, lang, "api-cross-site"))
        .with_code("cross_site_request")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(extra: &[&str]) -> TrustedOrigins {
        let config = PowConfig::builder("s".repeat(64))
            .base_url("https://www.example.com/app/")
            .build()
            .unwrap();
        let transport = extra
            .iter()
            .fold(BrowserTransport::new(), |t, o| t.trusted_origin(*o));
        TrustedOrigins::new(&config, &transport)
    }

    fn post<'a>(origin: Option<&'a str>, site: Option<&'a str>) -> OriginFacts<'a> {
        OriginFacts {
            safe_method: false,
            origin: origin.map(Some),
            sec_fetch_site: site,
            own_origin: "http://localhost:8080",
        }
    }

    #[test]
    fn state_changes_need_a_trusted_origin() {
        let trusted = origins(&["https://App.Example.com/"]);
        // Safe methods pass whatever their origin.
        let get = OriginFacts {
            safe_method: true,
            ..post(Some("https://evil.test"), None)
        };
        assert!(trusted.allows(get));
        // The server's own origin, the base URL's and a configured one.
        assert!(trusted.allows(post(Some("http://localhost:8080"), None)));
        assert!(trusted.allows(post(Some("https://www.example.com"), None)));
        assert!(trusted.allows(post(Some("https://app.example.com"), None)));
        // Anything else, `null` (sandboxed frames, some redirects), an origin that is not
        // text and no sign at all.
        assert!(!trusted.allows(post(Some("https://evil.test"), None)));
        assert!(!trusted.allows(post(Some("http://www.example.com"), None)));
        assert!(!trusted.allows(post(Some("null"), None)));
        assert!(!trusted.allows(OriginFacts {
            origin: Some(None),
            ..post(None, Some("same-origin"))
        }));
        assert!(!trusted.allows(post(None, None)));
        // An untrusted origin is refused even when the fetch metadata says same-site.
        assert!(!trusted.allows(post(Some("https://evil.example.com"), Some("same-site"))));
        // Without `Origin`, only the browser's own same-origin mark passes.
        assert!(trusted.allows(post(None, Some("same-origin"))));
        assert!(!trusted.allows(post(None, Some("cross-site"))));
        assert!(!trusted.allows(post(None, Some("none"))));
    }

    #[test]
    fn origins_are_read_from_urls() {
        assert_eq!(
            origin_of("https://Example.com:8443/a?b"),
            Some("https://example.com:8443".to_owned())
        );
        assert_eq!(origin_of("example.com"), None);
        assert_eq!(origin_of("https:///path"), None);
    }
}

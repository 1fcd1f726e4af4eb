//! The browser transport: the API's routes a second time, under their own prefix, for a
//! single-page app served from the same site. The client is signed in by the session
//! cookie (HttpOnly, SameSite, never readable by scripts) instead of a bearer token, and
//! every state-changing request must prove it comes from a trusted origin.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};

use super::error::{language, text, ApiError, ApiErrorHandler};
use super::middleware::{ApiRequest, BearerSource};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::{AuthMiddleware, CookieSource, PowMiddleware, SessionSource};

/// The browser transport's settings ([`ApiOptions::browser`](super::ApiOptions::browser)).
///
/// ```
/// use pow_actix::api::{ApiOptions, BrowserTransport};
///
/// // The app's routes at /api/v1 (bearer tokens), the browser's at /api/v1/browser
/// // (session cookie), open to the pages of https://app.example.com as well.
/// let options = ApiOptions::new()
///     .browser(BrowserTransport::new().trusted_origin("https://app.example.com"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct BrowserTransport {
    pub(super) prefix: Option<String>,
    pub(super) origins: Vec<String>,
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

/// The origins whose pages may send state-changing requests on the browser transport.
#[derive(Clone, Debug)]
pub(crate) struct TrustedOrigins {
    origins: Arc<[String]>,
}

impl TrustedOrigins {
    pub(crate) fn new(config: &PowConfig, transport: &BrowserTransport) -> Self {
        let mut origins = transport.origins.clone();
        origins.extend(config.base_url().and_then(origin_of));
        origins.sort();
        origins.dedup();
        Self {
            origins: origins.into(),
        }
    }

    /// Whether `req` may go on: a safe method, or an unsafe one whose `Origin` is the
    /// server's own or a trusted one; without `Origin`, only a browser's
    /// `Sec-Fetch-Site: same-origin` will do. A request that shows neither is refused: a
    /// cookie alone proves nothing about the page that sent it.
    pub(crate) fn allows(&self, req: &HttpRequest) -> bool {
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return true;
        }
        let headers = req.headers();
        if let Some(origin) = headers.get(header::ORIGIN) {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            let origin = normalize(origin);
            if origin == "null" {
                return false;
            }
            if self.origins.contains(&origin) {
                return true;
            }
            let info = req.connection_info();
            return normalize(&format!("{}://{}", info.scheme(), info.host())) == origin;
        }
        headers
            .get("sec-fetch-site")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|site| site.trim().eq_ignore_ascii_case("same-origin"))
    }
}

/// `403` with the code `cross_site_request` and the translated `api-cross-site` text:
/// a state-changing request on the browser transport from a page that is not trusted.
pub(crate) fn cross_site(req: &HttpRequest) -> ApiError {
    let config = crate::session::config(req);
    let lang = language(req, config.as_ref());
    ApiError::new(
        StatusCode::FORBIDDEN,
        text(config.as_ref(), &lang, "api-cross-site"),
    )
    .with_code("cross_site_request")
}

/// Reads the session of a browser-transport request from the session cookie, after
/// refusing cross-site state changes: the [`SessionSource`] of [`BrowserMiddleware`].
/// Errors answer JSON, as on the bearer transport.
#[derive(Clone)]
pub struct BrowserSource {
    cookie: CookieSource,
    origins: TrustedOrigins,
}

impl SessionSource for BrowserSource {
    fn screen(&self, _config: &PowConfig, req: &ServiceRequest) -> Option<HttpResponse> {
        (!self.origins.allows(req.request())).then(|| {
            tracing::info!(
                origin = ?req.headers().get(header::ORIGIN),
                "refused a cross-site request on the browser transport"
            );
            cross_site(req.request()).error_response()
        })
    }

    fn prepare(&self, req: &ServiceRequest) {
        req.extensions_mut().insert(ApiRequest);
    }

    fn has_work(&self, config: &PowConfig, req: &ServiceRequest) -> bool {
        self.cookie.has_work(config, req)
    }

    async fn load(&self, config: &PowConfig, req: &ServiceRequest) -> Result<(), PowError> {
        self.cookie.load(config, req).await
    }

    async fn after_load(&self, config: &PowConfig, req: &ServiceRequest) -> Result<(), PowError> {
        self.cookie.after_load(config, req).await
    }

    fn error_response(
        &self,
        config: &PowConfig,
        req: ServiceRequest,
        err: PowError,
    ) -> ServiceResponse {
        BearerSource::json_error_response(config, req, err)
    }

    fn finish<B: MessageBody + 'static>(
        &self,
        config: &PowConfig,
        res: ServiceResponse<B>,
    ) -> ServiceResponse<EitherBody<B>> {
        BearerSource::json_finish(config, res)
    }
}

/// The browser transport's middleware: the cookie session, the signed-in user read from
/// it, cross-site state changes refused (`403 cross_site_request`), errors as JSON.
/// [`configure`](super::configure) wraps each route of the transport in one; wrap the
/// app's own browser routes in one too ([`BrowserTransport::middleware`]).
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use pow_actix::api::{self, ApiOptions, BrowserTransport};
/// use pow_actix::session::RequireAuthenticated;
/// use pow_actix::PowConfig;
///
/// let config = PowConfig::builder("s".repeat(64)).build().unwrap();
/// let transport = BrowserTransport::new();
/// let app = App::new()
///     .configure(api::configure(config.clone(), ApiOptions::new().browser(transport.clone())))
///     .service(
///         web::resource("/api/v1/browser/me")
///             .wrap(RequireAuthenticated::new())
///             .wrap(transport.middleware(config.clone()))
///             .to(HttpResponse::Ok),
///     );
/// ```
pub type BrowserMiddleware = PowMiddleware<BrowserSource>;

impl BrowserTransport {
    /// The middleware of this transport for `config`: what wraps each of its routes, and
    /// what to wrap the app's own browser routes in.
    pub fn middleware(&self, config: PowConfig) -> BrowserMiddleware {
        let source = BrowserSource {
            cookie: CookieSource::new(&config),
            origins: TrustedOrigins::new(&config, self),
        };
        PowMiddleware::around(
            AuthMiddleware::with_source(config, source)
                .with_error_handler(Arc::new(ApiErrorHandler)),
        )
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

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

    fn post(headers: &[(&'static str, &'static str)]) -> HttpRequest {
        headers
            .iter()
            .fold(
                TestRequest::post()
                    .uri("http://localhost:8080/api/v1/browser/session")
                    .insert_header((header::HOST, "localhost:8080")),
                |req, header| req.insert_header(*header),
            )
            .to_http_request()
    }

    #[test]
    fn state_changes_need_a_trusted_origin() {
        let trusted = origins(&["https://App.Example.com/"]);
        // Safe methods pass whatever their origin.
        let get = TestRequest::get()
            .insert_header((header::ORIGIN, "https://evil.test"))
            .to_http_request();
        assert!(trusted.allows(&get));
        // The server's own origin, the base URL's and a configured one.
        assert!(trusted.allows(&post(&[("origin", "http://localhost:8080")])));
        assert!(trusted.allows(&post(&[("origin", "https://www.example.com")])));
        assert!(trusted.allows(&post(&[("origin", "https://app.example.com")])));
        // Anything else, `null` (sandboxed frames, some redirects) and no sign at all.
        assert!(!trusted.allows(&post(&[("origin", "https://evil.test")])));
        assert!(!trusted.allows(&post(&[("origin", "http://www.example.com")])));
        assert!(!trusted.allows(&post(&[("origin", "null")])));
        assert!(!trusted.allows(&post(&[])));
        // An untrusted origin is refused even when the fetch metadata says same-site.
        assert!(!trusted.allows(&post(&[
            ("origin", "https://evil.example.com"),
            ("sec-fetch-site", "same-site"),
        ])));
        // Without `Origin`, only the browser's own same-origin mark passes.
        assert!(trusted.allows(&post(&[("sec-fetch-site", "same-origin")])));
        assert!(!trusted.allows(&post(&[("sec-fetch-site", "cross-site")])));
        assert!(!trusted.allows(&post(&[("sec-fetch-site", "none")])));
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

//! The browser transport: the API's routes a second time, under their own prefix, for a
//! single-page app served from the same site. The client is signed in by the session
//! cookie (HttpOnly, SameSite, never readable by scripts) instead of a bearer token, and
//! every state-changing request must prove it comes from a trusted origin.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};

use super::error::{language, ApiError};
use super::middleware::{ApiRequest, BearerSource};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::{AuthMiddleware, CookieSource, PowMiddleware, SessionSource};
pub use pow_core::api::BrowserTransport;
use pow_core::framework::api::TrustedOrigins;

/// Whether `origins` let `req` go on ([`TrustedOrigins::allows`]).
pub(crate) fn allows(origins: &TrustedOrigins, req: &HttpRequest) -> bool {
    let own = crate::web::origin(req);
    let headers = req.headers();
    origins.allows(pow_core::framework::api::OriginFacts {
        safe_method: matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
        origin: headers.get(header::ORIGIN).map(|v| v.to_str().ok()),
        sec_fetch_site: headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        own_origin: &own,
    })
}

/// `403` with the code `cross_site_request` and the translated `api-cross-site` text:
/// a state-changing request on the browser transport from a page that is not trusted.
pub(crate) fn cross_site(req: &HttpRequest) -> ApiError {
    let config = crate::session::config(req);
    let lang = language(req, config.as_ref());
    pow_core::framework::api::cross_site(config.as_ref(), &lang).into()
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
        (!allows(&self.origins, req.request())).then(|| {
            tracing::info!(
                origin = ?req.headers().get(header::ORIGIN),
                "refused a cross-site request on the browser transport"
            );
            cross_site(req.request()).error_response()
        })
    }

    /// On this transport only the session cookie signs a client in: a session an outer
    /// layer read from the request's bearer token (the app's `ApiAuthMiddleware` around
    /// every route) is dropped here, as pow-axum's `ApiLayer` never reads one for these
    /// routes. A session an outer cookie layer read stays.
    fn prepare(&self, req: &ServiceRequest) {
        let mut extensions = req.extensions_mut();
        if super::middleware::bearer_token(req.headers()).is_some() {
            extensions.remove::<crate::session::CurrentSession>();
            extensions.remove::<crate::session::guard::RefusedToken>();
        }
        extensions.insert(ApiRequest);
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
/// app's own browser routes in one too ([`browser_middleware`]).
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
///             .wrap(api::browser_middleware(config.clone(), &transport))
///             .to(HttpResponse::Ok),
///     );
/// ```
pub type BrowserMiddleware = PowMiddleware<BrowserSource>;

/// The middleware of `transport` for `config`: what wraps each of its routes, and what to
/// wrap the app's own browser routes in.
pub fn browser_middleware(config: PowConfig, transport: &BrowserTransport) -> BrowserMiddleware {
    let source = BrowserSource {
        cookie: CookieSource::new(&config),
        origins: TrustedOrigins::new(&config, transport),
    };
    PowMiddleware::around(AuthMiddleware::with_source(config, source).json_refusals())
}

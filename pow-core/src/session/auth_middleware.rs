//! [`AuthMiddleware`]: the one middleware that resolves who is signed in, whatever carries
//! the credentials. The cookie session ([`PowSessionMiddleware`](super::PowSessionMiddleware))
//! and bearer tokens ([`ApiAuthMiddleware`](crate::api::ApiAuthMiddleware)) are two
//! [`SessionSource`]s of it.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::HttpMessage;
use futures_util::future::LocalBoxFuture;

use super::guard::{ErrorHandler, ErrorHandlerRef};
use super::response_cookies::take_queued_cookies;
use super::CurrentSession;
use crate::config::PowConfig;
use crate::error::PowError;

/// Where an [`AuthMiddleware`] finds the session of a request, and how it answers.
///
/// Its futures run on the worker that got the request (actix' workers are single
/// threaded), so they need not be `Send`, and they are not boxed: a request pays no
/// allocation for them.
// A `Send` bound on these futures would only get in the way (see above).
#[allow(async_fn_in_trait)]
pub trait SessionSource: Sized + 'static {
    /// Marks the request for this source (e.g. as an API request). Runs first.
    fn prepare(&self, _req: &ServiceRequest) {}

    /// Resolves the request's session, if any, into the request extensions. Not called when
    /// a [`CurrentSession`] was put there already (tests, an outer middleware).
    async fn load(&self, config: &PowConfig, req: &ServiceRequest) -> Result<(), PowError>;

    /// Runs once the session is resolved, with or without a user, before the route.
    async fn after_load(&self, _config: &PowConfig, _req: &ServiceRequest) -> Result<(), PowError> {
        Ok(())
    }

    /// The answer when [`load`](Self::load) or [`after_load`](Self::after_load) failed.
    fn error_response(
        &self,
        config: &PowConfig,
        req: ServiceRequest,
        err: PowError,
    ) -> ServiceResponse;

    /// Rewrites the route's response on the way out (errors into this source's format).
    fn finish<B: MessageBody + 'static>(
        &self,
        config: &PowConfig,
        res: ServiceResponse<B>,
    ) -> ServiceResponse<EitherBody<B>>;
}

/// Middleware resolving the signed-in user of each request from a [`SessionSource`].
///
/// Per request it puts the [`PowConfig`] and the [`ErrorHandler`] (if one is set) into the
/// request extensions, resolves the session through the source, calls the route, and on
/// the way out lets the source rewrite the response and adds every cookie queued with
/// [`queue_cookie`](super::queue_cookie) — on error pages too.
pub struct AuthMiddleware<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for AuthMiddleware<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> std::fmt::Debug for AuthMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthMiddleware")
            .field("source", &std::any::type_name::<S>())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<S> {
    config: PowConfig,
    source: Arc<S>,
    error_handler: Option<Arc<dyn ErrorHandler>>,
}

impl<S: SessionSource> AuthMiddleware<S> {
    /// The middleware of `config` reading sessions from `source`.
    pub fn with_source(config: PowConfig, source: S) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                source: Arc::new(source),
                error_handler: None,
            }),
        }
    }

    /// Sets the [`ErrorHandler`] that the [`CurrentUser`](super::CurrentUser) extractor, the
    /// guards and the controller actions use on the routes behind this middleware.
    pub fn error_handler(self, handler: impl ErrorHandler) -> Self {
        self.with_error_handler(Arc::new(handler))
    }

    pub(crate) fn with_error_handler(self, handler: Arc<dyn ErrorHandler>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                source: Arc::clone(&self.inner.source),
                error_handler: Some(handler),
            }),
        }
    }

    /// The setup.
    pub fn config(&self) -> &PowConfig {
        &self.inner.config
    }
}

impl<Svc, B, S> Transform<Svc, ServiceRequest> for AuthMiddleware<S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: SessionSource,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = AuthService<Svc, S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(AuthService {
            service: Rc::new(service),
            inner: Arc::clone(&self.inner),
        }))
    }
}

/// The most `Cookie` header bytes a request may carry: browsers keep each cookie under
/// 4 KiB, and pow-rs's own take a few hundred bytes. More is refused before any of it is
/// read (`431 Request Header Fields Too Large`).
pub const MAX_COOKIE_BYTES: usize = 16 * 1024;

fn oversized_cookies(req: &ServiceRequest) -> Option<actix_web::HttpResponse> {
    let total: usize = req
        .headers()
        .get_all(actix_web::http::header::COOKIE)
        .map(|value| value.len())
        .sum();
    (total > MAX_COOKIE_BYTES).then(|| {
        tracing::warn!(bytes = total, "refused a request with oversized cookies");
        actix_web::HttpResponse::build(actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .content_type("text/plain; charset=utf-8")
            .body("The request's cookies are too large. Clear this site's cookies and try again.")
    })
}

/// The service built by [`AuthMiddleware`].
pub struct AuthService<Svc, S> {
    service: Rc<Svc>,
    inner: Arc<Inner<S>>,
}

impl<Svc, B, S> Service<ServiceRequest> for AuthService<Svc, S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: SessionSource,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let inner = Arc::clone(&self.inner);
        let fut = async move {
            if let Some(res) = oversized_cookies(&req) {
                return Ok(req.into_response(res).map_into_right_body());
            }
            let config = &inner.config;
            let preset = {
                let mut extensions = req.extensions_mut();
                extensions.insert(config.clone());
                if let Some(handler) = &inner.error_handler {
                    extensions.insert(ErrorHandlerRef(Arc::clone(handler)));
                }
                extensions.contains::<CurrentSession>()
            };
            inner.source.prepare(&req);
            let loaded = match preset {
                true => Ok(()),
                false => inner.source.load(config, &req).await,
            };
            let loaded = match loaded {
                Ok(()) => inner.source.after_load(config, &req).await,
                Err(err) => Err(err),
            };
            let mut res = match loaded {
                Ok(()) => {
                    let res = service.call(req).await?;
                    inner.source.finish(config, res)
                }
                // Answered here, so outer middleware sees a response (503 for the store).
                Err(err) => inner
                    .source
                    .error_response(config, req, err)
                    .map_into_right_body(),
            };
            // Every response carries the cookies queued for it: a rotated remember-me
            // cookie dropped from an error page would look like theft on its next use.
            for cookie in take_queued_cookies(res.request()) {
                res.response_mut().add_cookie(&cookie)?;
            }
            Ok(res)
        };
        // One allocation per request: keep what `fut` holds across its awaits small (rare
        // paths box their own state), so it stays within the allocator's small sizes.
        Box::pin(fut)
    }
}

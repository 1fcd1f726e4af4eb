//! [`AuthMiddleware`]: the one middleware that resolves who is signed in, whatever carries
//! the credentials. The cookie session ([`PowSessionMiddleware`](super::PowSessionMiddleware))
//! and bearer tokens ([`ApiAuthMiddleware`](crate::api::ApiAuthMiddleware)) are two
//! [`SessionSource`]s of it.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::HttpMessage;
use futures_util::future::LocalBoxFuture;

use super::guard::ErrorHandler;
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
    /// An answer that refuses the request before anything is read (say, a cross-site
    /// request on a cookie transport); `None`, the default, lets it through. Runs first.
    fn screen(
        &self,
        _config: &PowConfig,
        _req: &ServiceRequest,
    ) -> Option<actix_web::HttpResponse> {
        None
    }

    /// Marks the request for this source (e.g. as an API request). Runs after
    /// [`screen`](Self::screen).
    fn prepare(&self, _req: &ServiceRequest) {}

    /// Whether [`load`](Self::load) and [`after_load`](Self::after_load) have anything to do
    /// for this request. When they have not (no session cookie, no hook to run), the request
    /// goes straight to the route: nothing is allocated for it. The default is `true`.
    fn has_work(&self, _config: &PowConfig, _req: &ServiceRequest) -> bool {
        true
    }

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
/// Per request it makes the [`PowConfig`] and the [`ErrorHandler`] (if one is set) known
/// to the request (one shared container of request data, built once per worker: nothing
/// is allocated for it), resolves the session through the source, calls the route, and on
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
    /// Refusals answer the API's JSON whatever the request accepts (the API's middlewares).
    json: bool,
}

impl<S: SessionSource> AuthMiddleware<S> {
    /// The middleware of `config` reading sessions from `source`.
    pub fn with_source(config: PowConfig, source: S) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                source: Arc::new(source),
                error_handler: None,
                json: false,
            }),
        }
    }

    /// Sets the [`ErrorHandler`] that the [`CurrentUser`](super::CurrentUser) extractor, the
    /// guards and the controller actions use on the routes behind this middleware.
    pub fn error_handler(self, handler: impl ErrorHandler) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                source: Arc::clone(&self.inner.source),
                error_handler: Some(Arc::new(handler)),
                json: self.inner.json,
            }),
        }
    }

    /// Refusals behind this middleware answer the API's JSON, whatever the request
    /// accepts (where the app's [`ErrorHandler`] gives no answer).
    pub(crate) fn json_refusals(self) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                source: Arc::clone(&self.inner.source),
                error_handler: self.inner.error_handler.clone(),
                json: true,
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
        let mut setup = actix_web::dev::Extensions::new();
        setup.insert(RequestSetup {
            config: self.inner.config.clone(),
            error_handler: self.inner.error_handler.clone(),
            json: self.inner.json,
        });
        ready(Ok(AuthService {
            service: Rc::new(service),
            inner: Arc::clone(&self.inner),
            setup: Rc::new(setup),
        }))
    }
}

pub use pow_core::session::cookie::MAX_COOKIE_BYTES;

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
            .body(pow_core::session::cookie::OVERSIZED_COOKIES_TEXT)
    })
}

/// What the middleware tells the request it serves: its setup and error handler. Found
/// through the request's app data (see [`request_config`]), where the middleware adds it
/// as a container of its own, shared by every request of a worker.
pub(crate) struct RequestSetup {
    pub(crate) config: PowConfig,
    pub(crate) error_handler: Option<Arc<dyn ErrorHandler>>,
    /// Refusals answer the API's JSON.
    pub(crate) json: bool,
}

/// The setup serving `req`, the one way every part of the actix layer finds it: one put
/// into the request extensions (tests,
/// [`assign_current_user`](crate::testing::assign_current_user)), else the one of the
/// innermost [`AuthMiddleware`] in front of it, else the one that mounted the route
/// ([`web::configure`](crate::web::configure), [`api::configure`](crate::api::configure)
/// and [`ApiContext::resource`](crate::api::ApiContext::resource) register it).
pub(crate) fn request_config(req: &actix_web::HttpRequest) -> Option<PowConfig> {
    if let Some(config) = req.extensions().get::<PowConfig>() {
        return Some(config.clone());
    }
    if let Some(setup) = req.app_data::<RequestSetup>() {
        return Some(setup.config.clone());
    }
    req.app_data::<actix_web::web::Data<PowConfig>>()
        .map(|config| config.get_ref().clone())
}

/// What the innermost [`AuthMiddleware`] in front of `req` tells it, if any.
pub(crate) fn request_setup(req: &actix_web::HttpRequest) -> Option<&RequestSetup> {
    req.app_data::<RequestSetup>()
}

/// The service built by [`AuthMiddleware`].
pub struct AuthService<Svc, S> {
    service: Rc<Svc>,
    inner: Arc<Inner<S>>,
    setup: Rc<actix_web::dev::Extensions>,
}

impl<Svc, B, S> Service<ServiceRequest> for AuthService<Svc, S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: SessionSource,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = AuthFuture<Svc::Future, B, S>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        // The request is not shared yet (routing below needs it unshared as well).
        req.add_data_container(Rc::clone(&self.setup));
        let inner = Arc::clone(&self.inner);
        if let Some(res) = oversized_cookies(&req) {
            return AuthFuture::ready(req.into_response(res).map_into_right_body());
        }
        let config = &inner.config;
        let preset = req.extensions().contains::<CurrentSession>();
        if let Some(refused) = inner.source.screen(config, &req) {
            return AuthFuture::ready(req.into_response(refused).map_into_right_body());
        }
        inner.source.prepare(&req);
        if !preset && !inner.source.has_work(config, &req) {
            // Nothing to resolve: the route's future, finished in place (no allocation).
            return AuthFuture::direct(self.service.call(req), inner);
        }
        let service = Rc::clone(&self.service);
        let fut = async move {
            let config = &inner.config;
            let loaded = match preset {
                true => Ok(()),
                false => inner.source.load(config, &req).await,
            };
            let loaded = match loaded {
                Ok(()) => inner.source.after_load(config, &req).await,
                Err(err) => Err(err),
            };
            let res = match loaded {
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
            with_queued_cookies(res)
        };
        // One allocation per request: keep what `fut` holds across its awaits small (rare
        // paths box their own state), so it stays within the allocator's small sizes.
        AuthFuture::boxed(Box::pin(fut))
    }
}

/// Every response carries the cookies queued for it: a rotated remember-me cookie dropped
/// from an error page would look like theft on its next use.
fn with_queued_cookies<B>(
    mut res: ServiceResponse<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    for cookie in take_queued_cookies(res.request()) {
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
}

/// What the boxed resolution of [`AuthService`] resolves to.
type Answer<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

pin_project_lite::pin_project! {
    /// The future of [`AuthService`]: the route's own future when the request has no
    /// session to resolve (nothing allocated), else the whole resolution, boxed.
    pub struct AuthFuture<F, B, S> {
        #[pin]
        state: State<F, B, S>,
    }
}

impl<F, B, S> AuthFuture<F, B, S> {
    fn ready(res: ServiceResponse<EitherBody<B>>) -> Self {
        Self {
            state: State::Ready {
                res: Some(Box::new(res)),
            },
        }
    }

    fn direct(fut: F, inner: Arc<Inner<S>>) -> Self {
        Self {
            state: State::Direct {
                fut,
                inner: Some(inner),
            },
        }
    }

    fn boxed(fut: LocalBoxFuture<'static, Answer<B>>) -> Self {
        Self {
            state: State::Boxed { fut },
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B, S> {
        /// Answered before the route (oversized cookies); boxed, as it is rare, to keep
        /// the future that every request moves around small.
        Ready { res: Option<Box<ServiceResponse<EitherBody<B>>>> },
        /// The route's future; its response gets the source's finish and queued cookies.
        Direct { #[pin] fut: F, inner: Option<Arc<Inner<S>>> },
        /// Session resolution, then the route.
        Boxed { fut: LocalBoxFuture<'static, Answer<B>> },
    }
}

impl<F, B, S> Future for AuthFuture<F, B, S>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody + 'static,
    S: SessionSource,
{
    type Output = Answer<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Ready { res } => match res.take() {
                Some(res) => Poll::Ready(Ok(*res)),
                None => Poll::Ready(Err(actix_web::error::ErrorInternalServerError(
                    "the pow session future was polled after it finished",
                ))),
            },
            StateProj::Direct { fut, inner } => {
                let res = match fut.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(res) => res?,
                };
                let Some(inner) = inner.take() else {
                    return Poll::Ready(Err(actix_web::error::ErrorInternalServerError(
                        "the pow session future was polled after it finished",
                    )));
                };
                Poll::Ready(with_queued_cookies(inner.source.finish(&inner.config, res)))
            }
            StateProj::Boxed { fut } => fut.as_mut().poll(cx),
        }
    }
}

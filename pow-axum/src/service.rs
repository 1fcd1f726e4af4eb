//! [`Wrapped`]: the one tower service of every pow-axum layer ([`PowLayer`](crate::PowLayer),
//! [`ApiLayer`](crate::ApiLayer), [`RequireAccess`](crate::RequireAccess),
//! [`RequireStepUp`](crate::RequireStepUp)); each layer says only what it does around the
//! route ([`Wrap`]).

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;

/// The future of a wrapped route's answer.
pub type Answer = BoxFuture<'static, Result<Response, Infallible>>;

/// A route a pow-axum layer wraps: a tower service that answers every request (what an
/// axum router and its routes are).
pub trait Route:
    tower_service::Service<
        Request,
        Error = Infallible,
        Response: IntoResponse,
        Future: Send + 'static,
    > + Send
    + 'static
{
}

impl<S> Route for S where
    S: tower_service::Service<
            Request,
            Error = Infallible,
            Response: IntoResponse,
            Future: Send + 'static,
        > + Send
        + 'static
{
}

/// What a pow-axum layer does around the route it wraps: answer the request itself, or
/// pass it (changed) to the route and change the route's response.
pub trait Wrap: Clone + Send + Sync + 'static {
    /// The answer to `req`, with `route` (ready to take it) for the requests the layer lets
    /// through.
    fn wrap(&self, req: Request, route: impl Route) -> Answer;
}

/// A route wrapped by a pow-axum layer `W`: the service [`PowLayer`](crate::PowLayer) and
/// the other layers return from [`Layer::layer`](tower_layer::Layer::layer).
#[derive(Clone)]
pub struct Wrapped<S, W> {
    route: S,
    layer: W,
}

impl<S, W> Wrapped<S, W> {
    pub(crate) fn new(route: S, layer: W) -> Self {
        Self { route, layer }
    }
}

impl<S, W> std::fmt::Debug for Wrapped<S, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wrapped").finish_non_exhaustive()
    }
}

impl<S: Route + Clone, W: Wrap> tower_service::Service<Request> for Wrapped<S, W> {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.route.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer {
        // The clone that was made ready serves this request; the fresh clone waits.
        let fresh = self.route.clone();
        let ready = std::mem::replace(&mut self.route, fresh);
        self.layer.wrap(req, ready)
    }
}

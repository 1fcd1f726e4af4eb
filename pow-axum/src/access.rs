//! [`RequireAccess`]: routes of an app's own that need a bearer token an
//! [`AccessGuard`] accepts.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::{BoxFuture, FutureExt as _};
use pow_core::api::{AccessCheck, AccessGuard};
use pow_core::PowConfig;

/// A tower layer for routes that need a bearer token `G` accepts (a resource of the
/// provider, say): the guard checks the `Authorization` header before the handler runs;
/// a request it refuses gets the guard's answer as it is (`401` with its challenge,
/// `403`, `503`), one it accepts reaches the handler with the access as an
/// `Extension<G::Access>`. The same middleware exists on actix-web (pow-actix's
/// `RequireAccess`, the access as `ReqData`). It needs no [`PowLayer`](crate::PowLayer).
///
/// ```
/// use axum::{routing::post, Extension, Router};
/// use pow_axum::RequireAccess;
/// # struct Anyone;
/// # impl pow_core::api::AccessGuard for Anyone {
/// #     type Access = String;
/// #     fn check<'a>(&'a self, _: &'a pow_axum::PowConfig, _: Option<&'a str>)
/// #         -> pow_core::api::AccessFuture<'a, String> {
/// #         Box::pin(std::future::ready(Ok("anyone".to_owned())))
/// #     }
/// # }
///
/// let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let app: Router = Router::new()
///     .route("/mcp", post(|Extension(who): Extension<String>| async move { who }))
///     .route_layer(RequireAccess::new(config, Anyone));
/// ```
#[derive(Debug)]
pub struct RequireAccess<G>(AccessCheck<G>);

impl<G> Clone for RequireAccess<G> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<G: AccessGuard> RequireAccess<G> {
    /// The layer checking requests with `guard` under `config`.
    pub fn new(config: PowConfig, guard: G) -> Self {
        Self(AccessCheck::new(config, guard))
    }
}

impl<S, G> tower_layer::Layer<S> for RequireAccess<G> {
    type Service = AccessService<S, G>;

    fn layer(&self, inner: S) -> AccessService<S, G> {
        AccessService {
            inner,
            require: self.clone(),
        }
    }
}

/// The service [`RequireAccess`] wraps a route in.
pub struct AccessService<S, G> {
    inner: S,
    require: RequireAccess<G>,
}

impl<S: Clone, G> Clone for AccessService<S, G> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            require: self.require.clone(),
        }
    }
}

impl<S, G> std::fmt::Debug for AccessService<S, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessService").finish_non_exhaustive()
    }
}

impl<S, G> tower_service::Service<Request> for AccessService<S, G>
where
    S: tower_service::Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    G: AccessGuard,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let require = self.require.clone();
        async move {
            let header = req
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            match require.0.check(header.as_deref()).await {
                Ok(access) => {
                    req.extensions_mut().insert(access);
                    Ok(inner.call(req).await?.into_response())
                }
                Err(answer) => Ok(crate::api::response(answer)),
            }
        }
        .boxed()
    }
}

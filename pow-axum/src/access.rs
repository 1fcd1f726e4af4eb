//! [`RequireAccess`]: routes of an app's own that need a bearer token an
//! [`AccessGuard`] accepts.

use axum::extract::Request;
use axum::response::IntoResponse;
use futures_util::future::FutureExt as _;
use pow_core::api::AccessGuard;
use pow_core::framework::api::AccessCheck;
use pow_core::PowConfig;

use crate::service::{Answer, Route, Wrap, Wrapped};

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

    fn layer(&self, route: S) -> AccessService<S, G> {
        Wrapped::new(route, self.clone())
    }
}

/// The service [`RequireAccess`] wraps a route in.
pub type AccessService<S, G> = Wrapped<S, RequireAccess<G>>;

impl<G: AccessGuard> Wrap for RequireAccess<G> {
    fn wrap(&self, mut req: Request, mut inner: impl Route) -> Answer {
        let require = self.clone();
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

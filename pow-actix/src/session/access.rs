//! [`RequireAccess`]: routes of an app's own that need a bearer token an
//! [`AccessGuard`] accepts.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::HttpMessage;
use futures_util::future::LocalBoxFuture;
use pow_core::api::AccessGuard;
use pow_core::framework::api::AccessCheck;
use pow_core::PowConfig;

/// Middleware for routes that need a bearer token `G` accepts (a resource of the
/// provider, say): the guard checks the `Authorization` header before the handler runs;
/// a request it refuses gets the guard's answer as it is (`401` with its challenge,
/// `403`, `503`), one it accepts reaches the handler with the access as
/// `web::ReqData<G::Access>`. The same layer exists on axum (pow-axum's
/// `RequireAccess`, the access as an `Extension`).
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use pow_actix::session::RequireAccess;
/// # struct Anyone;
/// # impl pow_core::api::AccessGuard for Anyone {
/// #     type Access = String;
/// #     fn check<'a>(&'a self, _: &'a pow_actix::PowConfig, _: Option<&'a str>)
/// #         -> pow_core::api::AccessFuture<'a, String> {
/// #         Box::pin(std::future::ready(Ok("anyone".to_owned())))
/// #     }
/// # }
///
/// let config = pow_actix::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let app = App::new().service(
///     web::resource("/mcp")
///         .wrap(RequireAccess::new(config, Anyone))
///         .route(web::post().to(|who: web::ReqData<String>| async move {
///             HttpResponse::Ok().body(who.into_inner())
///         })),
/// );
/// ```
#[derive(Debug)]
pub struct RequireAccess<G>(AccessCheck<G>);

impl<G> Clone for RequireAccess<G> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<G: AccessGuard> RequireAccess<G> {
    /// The middleware checking requests with `guard` under `config`.
    pub fn new(config: PowConfig, guard: G) -> Self {
        Self(AccessCheck::new(config, guard))
    }
}

impl<S, B, G> Transform<S, ServiceRequest> for RequireAccess<G>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
    G: AccessGuard,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = AccessService<S, G>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AccessService {
            service: Rc::new(service),
            require: self.clone(),
        }))
    }
}

/// The service [`RequireAccess`] wraps a route in.
pub struct AccessService<S, G> {
    service: Rc<S>,
    require: RequireAccess<G>,
}

impl<S, B, G> Service<ServiceRequest> for AccessService<S, G>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
    G: AccessGuard,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let require = self.require.clone();
        Box::pin(async move {
            let header = req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            match require.0.check(header.as_deref()).await {
                Ok(access) => {
                    req.extensions_mut().insert(access);
                    Ok(service.call(req).await?.map_into_left_body())
                }
                Err(answer) => {
                    let response = super::guard::respond(answer);
                    Ok(req.into_response(response).map_into_right_body())
                }
            }
        })
    }
}

//! [`ApiAuthMiddleware`]: loads the user of each API request from its bearer token.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpMessage, HttpResponse};
use futures_util::future::LocalBoxFuture;

use super::error::{ApiError, ApiErrorHandler};
use super::tokens::Tokens;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::{CurrentSession, ErrorHandler, ErrorHandlerRef};

/// Longest bearer token considered; ours are about 110 characters. Longer values are
/// anonymous without any work.
const MAX_TOKEN_LEN: usize = 1024;

/// Marks a request served by [`ApiAuthMiddleware`] (in the request extensions), so that
/// app code can tell API requests apart; see [`is_api_request`](super::is_api_request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiRequest;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), if
/// there is one.
///
/// ```
/// use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
/// use pow_core::api::bearer_token;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc.def.ghi"));
/// assert_eq!(bearer_token(&headers), Some("abc.def.ghi"));
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwYXNz"));
/// assert_eq!(bearer_token(&headers), None);
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_LEN)
        .then_some(token)
}

/// Middleware that signs in the user of a valid access token sent as
/// `Authorization: Bearer <token>`.
///
/// Per request it:
///
/// 1. puts the [`PowConfig`], an [`ApiRequest`] marker and the error handler (by default
///    [`ApiErrorHandler`]: JSON answers whatever the `Accept` header) into the request
///    extensions;
/// 2. verifies the token's signature (salt
///    [`ACCESS_TOKEN_SALT`](super::ACCESS_TOKEN_SALT)) before any lookup;
/// 3. loads the session from the [`CredentialsCache`](crate::session::CredentialsCache),
///    checks it was issued by the API and not revoked since, applies the absolute
///    session lifetime and [`reload_user`](crate::SessionConfig::reload_user);
/// 4. puts the resolved [`CurrentSession`] into the request extensions.
///
/// A missing, malformed, forged, expired or revoked token leaves the request anonymous:
/// [`CurrentUser`](crate::CurrentUser) and
/// [`RequireAuthenticated`](crate::session::RequireAuthenticated) then answer `401` JSON.
/// Store failures answer `503` JSON.
///
/// On the way out, a [`PowError`] answered by a wrapped route (say, [`PowError::Busy`]
/// from a handler that hashes a password) is answered as an [`ApiError`] instead: JSON,
/// with `Retry-After` on `503` and the text in the request's language. So is an
/// [`ApiError`] converted from a `PowError` with `?`, whose text is translated here.
///
/// It needs no cookie session: do not wrap API routes in
/// [`cookie_session_middleware`](crate::session::cookie_session_middleware) or
/// [`PowSessionMiddleware`](crate::PowSessionMiddleware), so that API routes accept
/// bearer tokens only (which is why they need no CSRF protection; see the
/// [module docs](super)).
#[derive(Clone)]
pub struct ApiAuthMiddleware {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ApiAuthMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAuthMiddleware")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: PowConfig,
    tokens: Tokens,
    error_handler: Arc<dyn ErrorHandler>,
}

impl ApiAuthMiddleware {
    /// The middleware for `config`.
    pub fn new(config: PowConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                tokens: Tokens::new(&config),
                config,
                error_handler: Arc::new(ApiErrorHandler),
            }),
        }
    }

    /// Sets the [`ErrorHandler`] the extractors and guards use behind this middleware. The
    /// default is [`ApiErrorHandler`].
    pub fn error_handler(self, handler: impl ErrorHandler) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                tokens: self.inner.tokens.clone(),
                error_handler: Arc::new(handler),
            }),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for ApiAuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = ApiAuthService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ApiAuthService {
            service: Rc::new(service),
            inner: Arc::clone(&self.inner),
        }))
    }
}

/// The service built by [`ApiAuthMiddleware`].
pub struct ApiAuthService<S> {
    service: Rc<S>,
    inner: Arc<Inner>,
}

impl<S, B> Service<ServiceRequest> for ApiAuthService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            match inner.load(&req).await {
                Ok(()) => service.call(req).await.map(as_api_error),
                Err(err) => {
                    let err = err.localized(req.request());
                    Ok(req.error_response(err).map_into_right_body())
                }
            }
        })
    }
}

/// Re-answers a response carrying a [`PowError`], or an [`ApiError`] whose text still
/// waits for a language, as a translated [`ApiError`]; other responses pass unchanged.
fn as_api_error<B>(res: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>> {
    let replacement = res.response().error().and_then(|err| {
        if let Some(api) = err.as_error::<ApiError>() {
            api.is_untranslated()
                .then(|| api.clone().localized(res.request()))
        } else {
            // Logged by `PowError`'s own `error_response` already.
            err.as_error::<PowError>()
                .map(|pow| ApiError::of_pow_error(pow).localized(res.request()))
        }
    });
    match replacement {
        Some(err) => {
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, HttpResponse::from_error(err)).map_into_right_body()
        }
        None => res.map_into_left_body(),
    }
}

impl Inner {
    async fn load(&self, req: &ServiceRequest) -> Result<(), ApiError> {
        {
            let mut extensions = req.extensions_mut();
            extensions.insert(self.config.clone());
            extensions.insert(ApiRequest);
            extensions.insert(ErrorHandlerRef(Arc::clone(&self.error_handler)));
            if extensions.contains::<CurrentSession>() {
                // Assigned up front (tests) or by an outer middleware: nothing to look up.
                return Ok(());
            }
        }
        let Some(token) = bearer_token(req.headers()) else {
            return Ok(());
        };
        if let Some(current) = self.tokens.authenticate(token).await? {
            req.extensions_mut().insert(current);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer_token(&with("Bearer a.b.c")), Some("a.b.c"));
        assert_eq!(bearer_token(&with("bearer   a.b.c  ")), Some("a.b.c"));
        assert_eq!(bearer_token(&with("Bearer")), None);
        assert_eq!(bearer_token(&with("Bearer ")), None);
        assert_eq!(bearer_token(&with("Token a.b.c")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        let long: &'static str = Box::leak(format!("Bearer {}", "a".repeat(2000)).into_boxed_str());
        assert_eq!(bearer_token(&with(long)), None);
    }
}

//! [`ApiAuthMiddleware`]: loads the user of each API request from its bearer token.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpMessage, HttpResponse};

use super::error::ApiError;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::guard::RefusedToken;
use crate::session::tokens::Tokens;
use crate::session::{AuthMiddleware, SessionSource};

pub use crate::session::guard::ApiRequest;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), if
/// there is one.
///
/// ```
/// use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
/// use pow_actix::api::bearer_token;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc.def.ghi"));
/// assert_eq!(bearer_token(&headers), Some("abc.def.ghi"));
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwYXNz"));
/// assert_eq!(bearer_token(&headers), None);
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    pow_core::api::routes::bearer_of(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// Middleware that signs in the user of a valid access token sent as
/// `Authorization: Bearer <token>`.
///
/// Per request it:
///
/// 1. puts the [`PowConfig`], an [`ApiRequest`] marker and the error handler (by default
///    the API's JSON answers, whatever the `Accept` header) into the request extensions;
/// 2. verifies the token's signature (salt
///    [`ACCESS_TOKEN_SALT`](super::ACCESS_TOKEN_SALT)) before any lookup;
/// 3. loads the session from the [`CredentialsCache`](crate::session::CredentialsCache),
///    checks it was issued by the API and not revoked since, applies the absolute
///    session lifetime and [`reload_user`](crate::SessionConfig::reload_user);
/// 4. puts the resolved [`CurrentSession`](crate::session::CurrentSession) into the request extensions.
///
/// A missing, malformed, forged, expired or revoked token leaves the request anonymous:
/// [`CurrentUser`](crate::CurrentUser) and
/// [`RequireAuthenticated`](crate::session::RequireAuthenticated) then answer `401` JSON,
/// with the code `not_authenticated` when no token came and `invalid_token` (and
/// `WWW-Authenticate: Bearer error="invalid_token"`) when one came but is no longer good,
/// so that an app knows to sign in again.
/// Store failures answer `503` JSON.
///
/// On the way out, a [`PowError`] answered by a wrapped route (say, [`PowError::Busy`]
/// from a handler that hashes a password) is answered as an [`ApiError`] instead: JSON,
/// with `Retry-After` on `503` and the text in the request's language. So is an
/// [`ApiError`] converted from a `PowError` with `?`, whose text is translated here.
///
/// It needs no cookie session: do not wrap API routes in [`PowMiddleware`](crate::PowMiddleware),
/// [`cookie_session_middleware`](crate::session::cookie_session_middleware) or
/// [`PowSessionMiddleware`](crate::PowSessionMiddleware), so that API routes accept
/// bearer tokens only (which is why they need no CSRF protection; see the
/// [module docs](super)).
pub type ApiAuthMiddleware = AuthMiddleware<BearerSource>;

/// Reads the session of a request from its bearer access token: the [`SessionSource`] of
/// [`ApiAuthMiddleware`].
#[derive(Clone)]
pub struct BearerSource {
    tokens: Tokens,
}

impl AuthMiddleware<BearerSource> {
    /// The middleware for `config`, answering failed guards with the API's JSON errors.
    pub fn new(config: PowConfig) -> Self {
        let source = BearerSource {
            tokens: Tokens::new(&config).with_decode_cache(),
        };
        Self::with_source(config, source).json_refusals()
    }
}

impl SessionSource for BearerSource {
    fn prepare(&self, req: &ServiceRequest) {
        req.extensions_mut().insert(ApiRequest);
    }

    async fn load(&self, _config: &PowConfig, req: &ServiceRequest) -> Result<(), PowError> {
        let Some(token) = bearer_token(req.headers()) else {
            return Ok(());
        };
        // Boxed: its state would otherwise make every request's future large.
        match Box::pin(self.tokens.authenticate(token)).await? {
            Some(current) => {
                req.extensions_mut().insert(current);
            }
            None => {
                req.extensions_mut().insert(RefusedToken);
            }
        }
        Ok(())
    }

    fn error_response(
        &self,
        config: &PowConfig,
        req: ServiceRequest,
        err: PowError,
    ) -> ServiceResponse {
        Self::json_error_response(config, req, err)
    }

    fn finish<B: MessageBody + 'static>(
        &self,
        config: &PowConfig,
        res: ServiceResponse<B>,
    ) -> ServiceResponse<EitherBody<B>> {
        Self::json_finish(config, res)
    }
}

impl BearerSource {
    /// A failed session lookup as a translated [`ApiError`] (`503` for the store).
    pub(crate) fn json_error_response(
        _config: &PowConfig,
        req: ServiceRequest,
        err: PowError,
    ) -> ServiceResponse {
        let err = ApiError::from(err).localized(req.request());
        req.error_response(err)
    }

    /// Re-answers a response carrying a [`PowError`], or an [`ApiError`] whose text still
    /// waits for a language, as a translated [`ApiError`]; other responses pass unchanged.
    pub(crate) fn json_finish<B: MessageBody + 'static>(
        _config: &PowConfig,
        res: ServiceResponse<B>,
    ) -> ServiceResponse<EitherBody<B>> {
        let res = match method_not_allowed(res) {
            Ok(answered) => return answered,
            Err(res) => res,
        };
        let replacement = res.response().error().and_then(|err| {
            if let Some(api) = err.as_error::<ApiError>() {
                api.engine()
                    .is_untranslated()
                    .then(|| api.clone().localized(res.request()))
            } else {
                // Logged by `PowError`'s own `error_response` already.
                err.as_error::<crate::Error>()
                    .map(|pow| ApiError::of_pow_error(&pow.0).localized(res.request()))
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
}

/// A bare `405` (a method the route does not take, answered by actix-web's resource with
/// an empty body) as the API's JSON answer
/// ([`ApiError::method_not_allowed`](pow_core::api::ApiError::method_not_allowed)), its
/// `Allow` header kept; any other answer back as it is.
pub(crate) fn method_not_allowed<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> Result<ServiceResponse<EitherBody<B>>, ServiceResponse<B>> {
    use actix_web::body::BodySize;
    let bare = matches!(
        res.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    );
    if res.status() != actix_web::http::StatusCode::METHOD_NOT_ALLOWED || !bare {
        return Err(res);
    }
    let config = crate::session::config(res.request());
    let lang = super::error::language(res.request(), config.as_ref());
    let allow = res.headers().get(header::ALLOW).cloned();
    let err = pow_core::api::ApiError::method_not_allowed(config.as_ref(), &lang);
    let mut answer = actix_web::ResponseError::error_response(&ApiError::from(err));
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
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

//! The key of an actix-web request: [`ApiKey`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderName};
use actix_web::{FromRequest, HttpRequest, ResponseError as _};
use pow_actix::web::ActixRequest;
use pow_core::api::ApiError;
use pow_core::request::RequestFacts;
use pow_core::PowConfig;

use crate::flows::{self, Authenticated};
use crate::KeyRefusal;

/// The key the request carries (`Authorization: Bearer pow_...` or `X-Api-Key`),
/// authenticated ([`flows::authenticate`]); a request without a working key is refused
/// with the API's JSON answer (`401 api_key_unknown`, ...). It is the key's principal,
/// never a session: check a scope with [`ApiKey::scope`].
///
/// ```no_run
/// use actix_web::HttpResponse;
/// use pow_ext_api_keys::actix::ApiKey;
///
/// async fn report(key: ApiKey) -> Result<HttpResponse, pow_actix::api::ApiError> {
///     key.scope("reports:read")?;
///     Ok(HttpResponse::Ok().body(format!("reports of user {}", key.key.user.id)))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ApiKey {
    /// The key and its owner.
    pub key: Arc<Authenticated>,
    config: PowConfig,
    facts: RequestFacts,
}

impl ApiKey {
    /// `Ok` when the key has `scope`, else the API's `403 insufficient_scope`.
    ///
    /// # Errors
    /// The refusal's answer.
    pub fn scope(&self, scope: &str) -> Result<(), pow_actix::api::ApiError> {
        self.key
            .require(scope)
            .map_err(|refusal| answer(&self.config, &self.facts, refusal).into())
    }
}

/// The API's answer to `refusal`, in the request's language.
fn answer(config: &PowConfig, facts: &RequestFacts, refusal: KeyRefusal) -> ApiError {
    let lang = pow_core::api::language(Some(config), facts);
    refusal.answer(config, &lang)
}

impl FromRequest for ApiKey {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let config = pow_actix::web::route_config(&req).map_err(pow_actix::Error)?;
            let header = |name: HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
            let facts = ActixRequest(&req).facts();
            let refused = |refusal: KeyRefusal| -> actix_web::Error {
                let answer = pow_actix::api::ApiError::from(answer(&config, &facts, refusal));
                actix_web::error::InternalError::from_response(
                    refusal.code(),
                    answer.error_response(),
                )
                .into()
            };
            let Some(presented) = crate::presented(
                header(header::AUTHORIZATION),
                header(HeaderName::from_static(crate::API_KEY_HEADER)),
            ) else {
                return Err(refused(KeyRefusal::Malformed));
            };
            match flows::authenticate(&config, presented, &facts)
                .await
                .map_err(pow_actix::Error)?
            {
                Ok(key) => Ok(Self { key, config, facts }),
                Err(refusal) => Err(refused(refusal)),
            }
        })
    }
}

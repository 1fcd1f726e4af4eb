//! The key of an actix-web request: [`ApiKey`].

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, ResponseError as _};
use pow_actix::web::ActixRequest;
use pow_core::messages::LanguageIdentifier;
use pow_core::PowConfig;

use crate::flows::{self, Authenticated};
use crate::{ApiKeys, KeyRefusal};

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
    pub key: Authenticated,
    config: PowConfig,
    lang: LanguageIdentifier,
}

impl ApiKey {
    /// `Ok` when the key has `scope`, else the API's `403 insufficient_scope`.
    ///
    /// # Errors
    /// The refusal's answer.
    pub fn scope(&self, scope: &str) -> Result<(), pow_actix::api::ApiError> {
        self.key
            .require(scope)
            .map_err(|refusal| refusal.answer(&self.config, &self.lang).into())
    }
}

impl FromRequest for ApiKey {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let config = pow_actix::web::route_config(&req).map_err(pow_actix::Error)?;
            let settings = ApiKeys::of(&config).cloned().ok_or_else(|| {
                pow_actix::Error(pow_core::PowError::Config(
                    "the ApiKey extractor needs the ApiKeys extension in the config".into(),
                ))
            })?;
            let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
            let facts = ActixRequest(&req).facts();
            let lang = pow_core::api::language(Some(&config), &facts);
            let refused = |refusal: KeyRefusal| -> actix_web::Error {
                let answer = pow_actix::api::ApiError::from(refusal.answer(&config, &lang));
                actix_web::error::InternalError::from_response(
                    refusal.code(),
                    answer.error_response(),
                )
                .into()
            };
            let Some(presented) = crate::presented(header("authorization"), header("x-api-key"))
            else {
                return Err(refused(KeyRefusal::Malformed));
            };
            match flows::authenticate(&config, &settings, presented, &facts)
                .await
                .map_err(pow_actix::Error)?
            {
                Ok(key) => Ok(Self { key, config, lang }),
                Err(refusal) => Err(refused(refusal)),
            }
        })
    }
}

//! The key of an axum request: [`ApiKey`].

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderName};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use pow_core::request::RequestFacts;
use pow_core::PowConfig;

use crate::flows::{self, Authenticated};
use crate::KeyRefusal;

/// The key the request carries (`Authorization: Bearer pow_...` or `X-Api-Key`),
/// authenticated ([`flows::authenticate`]); a request without a working key is refused
/// with the API's JSON answer (`401 api_key_unknown`, ...). It is the key's principal,
/// never a session: check a scope with [`ApiKey::scope`]. The route needs a pow-axum layer
/// above it (`PowLayer` or `ApiLayer`), which carries the setup.
///
/// ```no_run
/// use axum::response::{IntoResponse, Response};
/// use pow_ext_api_keys::axum::ApiKey;
///
/// async fn report(key: ApiKey) -> Response {
///     if let Err(refused) = key.scope("reports:read") {
///         return refused;
///     }
///     format!("reports of user {}", key.key.user.id).into_response()
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
    pub fn scope(&self, scope: &str) -> Result<(), Response> {
        self.key
            .require(scope)
            .map_err(|refusal| refused(&self.config, &self.facts, refusal))
    }
}

/// The API's answer to `refusal`, in the request's language.
fn refused(config: &PowConfig, facts: &RequestFacts, refusal: KeyRefusal) -> Response {
    let lang = pow_core::api::language(Some(config), facts);
    pow_axum::api_response(&refusal.answer(config, &lang))
}

impl<S: Send + Sync> FromRequestParts<S> for ApiKey {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let pow_axum::PowFacts { config, facts } =
            pow_axum::PowFacts::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let header = |name: HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let Some(presented) = crate::presented(
            header(header::AUTHORIZATION),
            header(HeaderName::from_static(crate::API_KEY_HEADER)),
        ) else {
            return Err(refused(&config, &facts, KeyRefusal::Malformed));
        };
        match flows::authenticate(&config, presented, &facts).await {
            Ok(Ok(key)) => Ok(Self { key, config, facts }),
            Ok(Err(refusal)) => Err(refused(&config, &facts, refusal)),
            Err(err) => Err(pow_axum::error_response(&err)),
        }
    }
}

//! What the actix JSON handlers of extensions answer with, and how they run through the
//! pipeline ([`ApiContext::run`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::error::ApiError;
use super::ApiContext;
use crate::session::tokens::TokenPair;
use crate::users::Params;
use crate::web::{Action, ActionId, Controller, Outcome};

/// Reads a JSON body that must be an object into `T` (a struct of the endpoint's fields);
/// anything else (not JSON, an array or a string, missing or mistyped fields) answers
/// `400` ([`ApiError::invalid_request`]). Serde would read a struct from an array too;
/// this does not.
///
/// # Errors
/// The `400` answer.
pub fn json_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::invalid_request(req))?;
    if !value.is_object() {
        return Err(ApiError::invalid_request(req));
    }
    serde_json::from_value(value).map_err(|_| ApiError::invalid_request(req))
}

/// A successful answer in the API's envelope, `{"status": 200, "data": ...}`, never
/// cached; errors are [`ApiError`]s, in the same envelope with `errors`.
///
/// ```
/// use actix_web::http::StatusCode;
/// use pow_actix::api::answer;
///
/// let res = answer(StatusCode::ACCEPTED, serde_json::json!({ "message": "Sent." }));
/// assert_eq!(res.status(), StatusCode::ACCEPTED);
/// ```
pub fn answer(status: StatusCode, data: impl serde::Serialize) -> HttpResponse {
    super::respond(pow_core::api::ApiAnswer::data(status.as_u16(), data))
}

/// [`answer`] with `meta`: what describes the data rather than being it
/// (`{"available": false}`, a count).
pub fn answer_with_meta(
    status: StatusCode,
    data: impl serde::Serialize,
    meta: serde_json::Value,
) -> HttpResponse {
    super::respond(pow_core::api::ApiAnswer::data_with_meta(
        status.as_u16(),
        data,
        meta,
    ))
}

/// The answer carrying a new token pair:
/// `{"data": {"access_token": "...", "renewal_token": "..."}}`, never cached.
pub fn token_response(pair: &TokenPair) -> HttpResponse {
    token_response_with(pair, serde_json::Map::new())
}

/// [`token_response`] with more fields in `data`, as the extensions'
/// [`TokenHooks::extend_token_data`](super::TokenHooks::extend_token_data) add them. The two tokens always win over fields of the same name.
pub fn token_response_with(
    pair: &TokenPair,
    mut data: serde_json::Map<String, serde_json::Value>,
) -> HttpResponse {
    data.insert(
        "access_token".to_owned(),
        serde_json::Value::String(pair.access_token.clone()),
    );
    data.insert(
        "renewal_token".to_owned(),
        serde_json::Value::String(pair.renewal_token.clone()),
    );
    answer(StatusCode::OK, data)
}

impl ApiContext {
    /// Runs the JSON action `id` through the one action pipeline
    /// ([`Action`] with [`Format::Json`](crate::web::Format::Json)): extension callbacks
    /// run around `act`, and errors are translated for the request.
    ///
    /// # Errors
    /// The action's or a callback's error, translated.
    pub async fn run(
        &self,
        req: &HttpRequest,
        id: ActionId,
        act: impl AsyncFnOnce(&mut Controller) -> Result<HttpResponse, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        self.run_action(req, Action::new(id), act).await
    }

    /// Like [`run`](Self::run), with the request's `user` params (a JSON body) handed to the
    /// pipeline, so its rate limits see the identifier typed.
    pub async fn run_with_params(
        &self,
        req: &HttpRequest,
        id: ActionId,
        params: Params,
        act: impl AsyncFnOnce(&mut Controller) -> Result<HttpResponse, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        self.run_action(req, Action::new(id).params(params), act)
            .await
    }

    /// Runs `action` (built by the caller: its params, [`Action::captcha`], ...) as a JSON
    /// action, like [`run`](Self::run).
    ///
    /// # Errors
    /// The action's or a callback's error, translated.
    pub async fn run_action(
        &self,
        req: &HttpRequest,
        action: Action,
        act: impl AsyncFnOnce(&mut Controller) -> Result<HttpResponse, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        action
            .json()
            .config(self.config().clone())
            .run(req, async |ctl| act(ctl).await.map(Outcome::Respond))
            .await
            .map_err(|err| err.localized(req))
    }
}

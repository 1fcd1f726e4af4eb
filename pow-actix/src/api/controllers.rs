//! The JSON endpoints: registration, account changes and deletion, sign-in,
//! re-authentication, sign-out and renewal.

use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::bearer::BearerSession;
use super::error::ApiError;
use super::middleware::bearer_token;
use super::{ApiAction, ApiContext};
use crate::error::PowError;
use crate::flows::{self, AccountDeletion, AccountUpdate, SignIn, SignUp};
use crate::session::tokens::TokenPair;
use crate::session::{self, AuthMethod, CurrentSession};
use crate::users::Params;
use crate::web::{Action, ActionId, Controller, Outcome};

/// Reads the `user` object of a JSON body (`{"user": {"email": "...", ...}}`) as params.
///
/// Strings are taken as they are, numbers and booleans as their JSON text; `null` values
/// and a missing `user` are left out. `None` when the body is not a JSON object, `user`
/// is not an object, or a value is an array or object.
///
/// ```
/// use pow_actix::api::user_params;
///
/// let params = user_params(br#"{"user": {"email": "a@example.com", "age": 7}}"#).unwrap();
/// assert_eq!(params["email"], "a@example.com");
/// assert_eq!(params["age"], "7");
/// assert!(user_params(b"user[email]=a").is_none());
/// assert!(user_params(br#"{"user": {"email": ["a"]}}"#).is_none());
/// ```
pub fn user_params(body: &[u8]) -> Option<Params> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.as_object()?.get("user") {
        None | Some(serde_json::Value::Null) => Some(Params::new()),
        Some(serde_json::Value::Object(user)) => params_of(user),
        Some(_) => None,
    }
}

/// The `user` params of a body whose fields all go under `user` (sign-up, sign-in,
/// re-authentication, account changes): as [`user_params`], and also `400
/// invalid_request` when the body has no `user` object, with a text saying that the fields
/// go under `"user"` ([`ApiError::missing_user_params`]). A flat `{"email": ...,
/// "password": ...}` is the client's mistake: answering it as wrong credentials (and
/// counting it as a failed sign-in) would hide that.
pub(crate) fn required_user_params(req: &HttpRequest, body: &[u8]) -> Result<Params, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::invalid_request(req))?;
    let Some(object) = value.as_object() else {
        return Err(ApiError::invalid_request(req));
    };
    match object.get("user") {
        None | Some(serde_json::Value::Null) => Err(ApiError::missing_user_params(req)),
        Some(serde_json::Value::Object(user)) => {
            params_of(user).ok_or_else(|| ApiError::invalid_request(req))
        }
        Some(_) => Err(ApiError::invalid_request(req)),
    }
}

/// The members of a `user` object as params; `None` for an array or object value.
fn params_of(user: &serde_json::Map<String, serde_json::Value>) -> Option<Params> {
    let mut params = Params::new();
    for (name, value) in user {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => return None,
        };
        params.insert(name.clone(), text);
    }
    Some(params)
}

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
    envelope(status, serde_json::json!(data), None)
}

/// [`answer`] with `meta`: what describes the data rather than being it
/// (`{"available": false}`, a count).
pub fn answer_with_meta(
    status: StatusCode,
    data: impl serde::Serialize,
    meta: serde_json::Value,
) -> HttpResponse {
    envelope(status, serde_json::json!(data), Some(meta))
}

fn envelope(
    status: StatusCode,
    data: serde_json::Value,
    meta: Option<serde_json::Value>,
) -> HttpResponse {
    let mut body = serde_json::json!({ "status": status.as_u16(), "data": data });
    if let Some(meta) = meta {
        body["meta"] = meta;
    }
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
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

/// The answer of a sign-in on the browser transport, which set the session cookie:
/// `{"status": 200, "data": {...}}` with the extensions' data and no tokens, never cached.
pub(crate) fn signed_in_response(data: serde_json::Map<String, serde_json::Value>) -> HttpResponse {
    answer(StatusCode::OK, data)
}

/// The API's actions, as extension callbacks see them ([`Step::is_json`](crate::pipeline::Step::is_json) is true).
pub mod actions {
    use crate::web::{ActionId, ActionKind};

    /// `POST <prefix>/registration`: sign up and get a token pair.
    pub const REGISTRATION_CREATE: ActionId =
        ActionId::new("api_registration", "create", ActionKind::SignUp);
    /// `POST <prefix>/session`: sign in and get a token pair.
    pub const SESSION_CREATE: ActionId = ActionId::new("api_session", "create", ActionKind::SignIn);
    /// `DELETE <prefix>/session`: revoke the pair of the bearer token.
    pub const SESSION_DELETE: ActionId =
        ActionId::new("api_session", "delete", ActionKind::SignOut);
    /// `POST <prefix>/session/renew`: exchange a renewal token for a new pair.
    pub const SESSION_RENEW: ActionId = ActionId::new("api_session", "renew", ActionKind::Other);
    /// `GET <prefix>/config`: what the server offers.
    pub const CONFIG_SHOW: ActionId = ActionId::new("api_config", "show", ActionKind::Show);
    /// `GET <prefix>/session`: who is signed in, and how.
    pub const SESSION_SHOW: ActionId = ActionId::new("api_session", "show", ActionKind::Show);
    /// `GET <prefix>/activity`: the account's recent events.
    pub const ACTIVITY_SHOW: ActionId = ActionId::new("api_activity", "show", ActionKind::Show);
    /// `POST <prefix>/session/unlock`: lift a lock with the notice's token.
    pub const SESSION_UNLOCK: ActionId = ActionId::new("api_session", "unlock", ActionKind::Other);
    /// `POST <prefix>/session/reauthenticate`: prove the password again (sudo mode).
    pub const SESSION_REAUTHENTICATE: ActionId =
        ActionId::new("api_session", "reauthenticate", ActionKind::Reauthenticate);
    /// `PATCH <prefix>/registration`: change the account; a new pair replaces the one used.
    pub const REGISTRATION_UPDATE: ActionId =
        ActionId::new("api_registration", "update", ActionKind::UpdateUser);
    /// `DELETE <prefix>/registration`: delete the account.
    pub const REGISTRATION_DELETE: ActionId =
        ActionId::new("api_registration", "delete", ActionKind::DeleteUser);
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

/// `POST <prefix>/registration`: creates the user and answers a token pair; `422` with
/// translated field errors when the params are invalid ([`flows::sign_up`]).
pub(crate) async fn registration_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = required_user_params(&req, &body)?;
    let action = Action::new(actions::REGISTRATION_CREATE)
        .params(params)
        .captcha();
    api.run_action(&req, action, async |ctl| {
        let config = api.config();
        let mut session = BearerSession::new(&api, &req, ApiAction::Registration);
        let outcome = flows::sign_up(config, ctl.params.clone(), &mut *session).await;
        session.write_back();
        match outcome? {
            SignUp::SignedUp(user) => {
                ctl.user = Some(user);
                issued(&req, &session)
            }
            SignUp::Invalid(cs) => {
                if flows::only_taken(config, &cs) && config.prevent_user_enumeration() {
                    if let Some(answer) = api.taken_sign_up(&req).await {
                        // Answered as a new address: the owner learns of it (in the
                        // background, so the answer takes no longer).
                        let taken = ctl.params.get(config.user_id_field());
                        let lang = crate::messages::request_language(
                            &crate::web::ActixRequest(&req).facts(),
                            config.messages(),
                        );
                        let notice = crate::mailer::Notice::SignUpAttempted;
                        let to = taken.map_or("", String::as_str);
                        crate::mailer::send_notice(
                            config,
                            &crate::web::ActixRequest(&req).facts(),
                            &lang,
                            to,
                            notice,
                        )
                        .await;
                        return Err(answer);
                    }
                }
                Err(ApiError::validation(
                    &req,
                    config,
                    "api-user-not-created",
                    &cs,
                ))
            }
        }
    })
    .await
}

/// `POST <prefix>/session`: checks the user id and password and answers a token pair;
/// `401` with the generic `invalid_credentials` text otherwise ([`flows::sign_in`]).
pub(crate) async fn session_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = required_user_params(&req, &body)?;
    let action = Action::new(actions::SESSION_CREATE)
        .params(params)
        .captcha();
    api.run_action(&req, action, async |ctl| {
        let config = api.config();
        let mut session = BearerSession::new(&api, &req, ApiAction::SignIn);
        let outcome = flows::sign_in(
            config,
            &crate::web::ActixRequest(&req).facts(),
            ctl.params.clone(),
            &mut *session,
        )
        .await;
        session.write_back();
        match outcome? {
            SignIn::SignedIn(user) => {
                ctl.user = Some(user);
                issued(&req, &session)
            }
            SignIn::Disabled => Err(PowError::AccountDisabled.into()),
            SignIn::Closed(_) => Err(PowError::AccountClosed.into()),
            // An answer, not an error: the pipeline counts it as a failed sign-in.
            SignIn::InvalidCredentials => {
                Ok(ApiError::invalid_credentials(&req, config).error_response())
            }
        }
    })
    .await
}

/// Sudo mode for a JSON action: the pair's session proved the password within
/// [`sudo_window`](crate::SessionConfig::sudo_window) (its sign-in, or
/// `POST <prefix>/session/reauthenticate`), else `403 reauthentication_required`.
fn require_fresh(api: &ApiContext, current: &CurrentSession) -> Result<(), ApiError> {
    if current
        .metadata
        .is_fresh(api.config().session().sudo_window)
    {
        Ok(())
    } else {
        Err(PowError::ReauthenticationRequired.into())
    }
}

/// `POST <prefix>/session/reauthenticate` with `{"user": {"password": "..."}}`: the
/// client proves the password again, and its session is fresh for sudo mode (and has used
/// the password now, for step-up rules): `204`; `401` with the sign-in's generic
/// invalid-credentials text for a wrong password, counted like a wrong sign-in
/// ([`flows::reauthenticate`]).
pub(crate) async fn session_reauthenticate(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = required_user_params(&req, &body)?;
    let current = api.signed_in(&req).await?;
    api.run_with_params(&req, actions::SESSION_REAUTHENTICATE, params, async |ctl| {
        let config = api.config();
        let password = ctl.params.get("password").cloned().unwrap_or_default();
        let Some(user) = flows::reauthenticate(config, &current.user, &password).await? else {
            // An answer, not an error: the pipeline counts it as a failed check.
            return Ok(ApiError::invalid_credentials(&req, config).error_response());
        };
        session::record_session_method(config, current, AuthMethod::PASSWORD).await?;
        ctl.user = Some(user);
        Ok(HttpResponse::NoContent()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish())
    })
    .await
}

/// `PATCH <prefix>/registration` with `{"user": {"current_password": "...", "email":
/// "...", "password": "...", "password_confirmation": "..."}}` (sudo mode): changes the
/// account ([`flows::update_account`]) and answers a new token pair, in
/// place of the pair used; a new password ends every other session and pair. `422` with
/// field errors when the params are invalid.
pub(crate) async fn registration_update(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = required_user_params(&req, &body)?;
    let current = api.signed_in(&req).await?;
    require_fresh(&api, &current)?;
    api.run_with_params(&req, actions::REGISTRATION_UPDATE, params, async |ctl| {
        let config = api.config();
        let mut session = BearerSession::new(&api, &req, ApiAction::AccountUpdate);
        let params = ctl.params.clone();
        let outcome = flows::update_account(
            config,
            &crate::web::ActixRequest(&req).facts(),
            &current.user,
            params,
            &mut *session,
        )
        .await;
        session.write_back();
        match outcome? {
            AccountUpdate::Updated { user, .. } => {
                ctl.user = Some(user);
                issued(&req, &session)
            }
            AccountUpdate::Invalid(cs) => {
                let answer = ApiError::validation(&req, config, "api-user-not-updated", &cs);
                ctl.changeset = Some(cs);
                Err(answer)
            }
        }
    })
    .await
}

/// `DELETE <prefix>/registration` (sudo mode): deletes the account
/// ([`flows::delete_account`]); every session and pair of the user ends. `204`.
pub(crate) async fn registration_delete(
    req: HttpRequest,
    api: ApiContext,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    require_fresh(&api, &current)?;
    api.run(&req, actions::REGISTRATION_DELETE, async |_| {
        let config = api.config();
        let mut session = BearerSession::new(&api, &req, ApiAction::AccountUpdate);
        let outcome = flows::delete_account(config, &current.user, &mut *session).await;
        session.write_back();
        match outcome? {
            AccountDeletion::Deleted => Ok(HttpResponse::NoContent()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()),
            AccountDeletion::NotDeleted(err) => Err(ApiError::from_pow(&req, err)),
        }
    })
    .await
}

/// The token answer of a flow that signed the client in through `session`.
pub(crate) fn issued(req: &HttpRequest, session: &BearerSession) -> Result<HttpResponse, ApiError> {
    session.response().ok_or_else(|| {
        ApiError::from_pow(
            req,
            PowError::Config("a signed-in flow issued no token pair".into()),
        )
    })
}

/// `DELETE <prefix>/session`: revokes the pair of the bearer token (access or renewal
/// token). Always answers `{"data": {}}`, as there is nothing left to do for a token that
/// is invalid already.
pub(crate) async fn session_delete(
    req: HttpRequest,
    api: ApiContext,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::SESSION_DELETE, async |_| {
        let mut session = BearerSession::new(&api, &req, ApiAction::SignIn);
        flows::sign_out(api.config(), &mut *session).await?;
        Ok(answer(StatusCode::OK, serde_json::json!({})))
    })
    .await
}

/// `POST <prefix>/session/renew`: consumes the renewal token sent as bearer token and
/// answers a new pair; the old access token stops working. `401` for a forged, used,
/// expired or revoked token.
pub(crate) async fn session_renew(
    req: HttpRequest,
    api: ApiContext,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::SESSION_RENEW, async |ctl| {
        let Some(token) = bearer_token(req.headers()) else {
            return Err(ApiError::invalid_token(&req));
        };
        let Some(renewal) = api
            .tokens()
            .renew(token, api.renewal_replay_grace())
            .await?
        else {
            return Err(ApiError::invalid_token(&req));
        };
        let data = api
            .prepare_issue(
                &crate::web::ActixRequest(&req).facts(),
                &super::error::language(&req, Some(api.config())),
                &renewal.user,
                ApiAction::Renewal,
                &[],
            )
            .await?;
        let pair = api
            .tokens()
            .issue(
                &renewal.user,
                Some((renewal.fingerprint, renewal.signed_in_at)),
                renewal.device,
                renewal.methods,
                renewal.generation,
                api.renewal_ttl(),
            )
            .await?;
        crate::audit::record(
            api.config(),
            crate::audit::AuditEvent::new(crate::audit::API_TOKEN_RENEWED)
                .request(api.config(), &crate::web::ActixRequest(&req).facts())
                .user(renewal.user.id),
        );
        ctl.user = Some(renewal.user);
        Ok(token_response_with(&pair, data))
    })
    .await
}

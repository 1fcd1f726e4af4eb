//! The JSON endpoints: enrolment, the list and its changes, sign-in and step-up.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{ApiAction, ApiContext, ApiError, ApiExtension};
use pow_actix::web::Action;
use serde::Deserialize;
use serde_json::json;

use crate::pages::{passkey_id, stored_user};
use crate::routes::*;
use crate::{EnrolAnswer, Kind, PasskeyError, Passkeys, NAME};

/// The JSON side of [`Passkeys`], under the API prefix:
/// - `POST /passkeys/registration/options` (sudo mode; a second factor too when the account
///   has one) with `{}` or `{"kind": "security_key"}`: `{"ceremony", "options"}`;
/// - `POST /passkeys/registration` with `{"ceremony", "name", "credential"}`: `201` and
///   the passkey;
/// - `GET /passkeys`: the list; `PATCH /passkeys/{id}` with `{"name"}`; `DELETE
///   /passkeys/{id}` (sudo mode; `409 last_credential` for the last way into an account);
/// - `POST /passkeys/authentication/options` with `{"email"}` or `{}`;
/// - `POST /passkeys/authentication` with `{"ceremony", "credential"}`: the token pair;
/// - `POST /passkeys/step-up/options` and `POST /passkeys/step-up` with `{"ceremony",
///   "credential"}`: prove a passkey or security key again for a step-up rule (`204`);
/// - `POST /passkeys/recovery/options` and `POST /passkeys/recovery` with the
///   `recovery_token` of a `403 passkey_recovery_required`: enrol a new passkey, then the
///   token pair.
///
/// `credential` is the `PublicKeyCredential` JSON of the browser (`toJSON()`) or app.
/// Refusals answer `{"code": …}` with the codes of [`PasskeyError::code`].
#[derive(Clone, Debug)]
pub struct PasskeysApi {
    ext: Passkeys,
}

impl PasskeysApi {
    pub(crate) fn new(ext: Passkeys) -> Self {
        Self { ext }
    }
}

/// The JSON answer of `err`.
pub(crate) fn api_error(req: &HttpRequest, err: PasskeyError, sign_in: bool) -> ApiError {
    let err = match err {
        PasskeyError::Pow(err) => return ApiError::from_pow(req, err),
        other => other,
    };
    let status = match &err {
        PasskeyError::Config(_) | PasskeyError::UnreadableCredential(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        PasskeyError::NotFound => StatusCode::NOT_FOUND,
        PasskeyError::CredentialTaken | PasskeyError::LastCredential => StatusCode::CONFLICT,
        PasskeyError::InvalidName => StatusCode::UNPROCESSABLE_ENTITY,
        PasskeyError::Malformed => StatusCode::BAD_REQUEST,
        _ if sign_in => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::translated(req, status, &format!("pow_passkeys_error_{}", err.code()))
        .with_code(err.code())
}

#[derive(Deserialize)]
struct Finish {
    ceremony: String,
    #[serde(default)]
    name: String,
    credential: serde_json::Value,
}

#[derive(Deserialize)]
struct Rename {
    name: String,
}

#[derive(Deserialize, Default)]
struct SignInOptions {
    #[serde(default)]
    email: Option<String>,
}

pub(crate) fn body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &Bytes,
) -> Result<T, ApiError> {
    pow_actix::api::json_body(req, body)
}

/// `value` with `status` in the API's envelope, never cached.
fn no_store_json(status: StatusCode, value: serde_json::Value) -> HttpResponse {
    pow_actix::api::answer(status, value)
}

#[derive(Deserialize, Default)]
struct EnrolOptions {
    #[serde(default)]
    kind: Option<Kind>,
}

async fn api_enrol_options(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let options: EnrolOptions = if payload.is_empty() {
        EnrolOptions::default()
    } else {
        body(&req, &payload)?
    };
    let kind = options.kind.unwrap_or(Kind::Passkey);
    let action = Action::new(actions::API_MANAGE).changes_factor();
    api.run_action(&req, action, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        let started = ext
            .start_enrolment(&ctl.config, &user, &current.session_id.to_string(), kind)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(no_store_json(StatusCode::OK, json!(started)))
    })
    .await
}

async fn api_enrol(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let finish: Finish = body(&req, &payload)?;
    let action = Action::new(actions::API_MANAGE).changes_factor();
    api.run_action(&req, action, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        let passkey = ext
            .finish_enrolment(
                &ctl.config,
                &user,
                &current.session_id.to_string(),
                &EnrolAnswer {
                    ceremony: &finish.ceremony,
                    name: &finish.name,
                    credential: &finish.credential.to_string(),
                },
                Some(&ctl.lang),
            )
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(no_store_json(
            StatusCode::CREATED,
            json!({ "passkey": passkey }),
        ))
    })
    .await
}

async fn api_list(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    api.run(&req, actions::API_MANAGE, async |ctl| {
        let passkeys = ext
            .list(&ctl.config, &current.user)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(no_store_json(
            StatusCode::OK,
            json!({ "passkeys": passkeys }),
        ))
    })
    .await
}

async fn api_rename(
    req: HttpRequest,
    api: ApiContext,
    id: web::Path<String>,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let rename: Rename = body(&req, &payload)?;
    api.run(&req, actions::API_MANAGE, async |ctl| {
        ext.rename(&ctl.config, &current.user, passkey_id(&id), &rename.name)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(HttpResponse::NoContent().finish())
    })
    .await
}

async fn api_delete(
    req: HttpRequest,
    api: ApiContext,
    id: web::Path<String>,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let action = Action::new(actions::API_MANAGE).changes_factor();
    api.run_action(&req, action, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        ext.delete(&ctl.config, &user, passkey_id(&id), Some(&ctl.lang))
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(HttpResponse::NoContent().finish())
    })
    .await
}

async fn api_sign_in_options(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let options: SignInOptions = if payload.is_empty() {
        SignInOptions::default()
    } else {
        body(&req, &payload)?
    };
    api.run(&req, actions::API_SIGN_IN, async |ctl| {
        let started = ext
            .start_sign_in(
                &ctl.config,
                &pow_actix::web::ActixRequest(&req).facts(),
                options.email.as_deref(),
            )
            .await
            .map_err(|err| api_error(&req, err, true))?;
        Ok(no_store_json(StatusCode::OK, json!(started)))
    })
    .await
}

async fn api_sign_in(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let finish: Finish = body(&req, &payload)?;
    api.run(&req, actions::API_SIGN_IN, async |ctl| {
        let mut session = api.session(&req, ApiAction::SignIn);
        let credential = finish.credential.to_string();
        ext.sign_in(&ctl.config, &finish.ceremony, &credential, &mut *session)
            .await?
            .map_err(|err| api_error(&req, err, true))?;
        api.issued(&req, &session)
    })
    .await
}

async fn api_step_up_options(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    api.run(&req, actions::API_MANAGE, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        let started = ext
            .start_second_factor(&ctl.config, &user)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(no_store_json(StatusCode::OK, json!(started)))
    })
    .await
}

#[derive(Deserialize)]
struct StepUpFinish {
    ceremony: String,
    credential: serde_json::Value,
}

async fn api_step_up(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let finish: StepUpFinish = body(&req, &payload)?;
    api.run(&req, actions::API_MANAGE, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        let mut session = api.session(&req, ApiAction::SignIn);
        let credential = finish.credential.to_string();
        ext.step_up(
            &ctl.config,
            &user,
            &finish.ceremony,
            &credential,
            &mut *session,
        )
        .await?
        .map_err(|err| api_error(&req, err, true))?;
        Ok(HttpResponse::NoContent().finish())
    })
    .await
}

impl ApiExtension for PasskeysApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../../openapi.json"))
    }

    fn hooks(&self) -> Option<&dyn pow_actix::api::TokenHooks> {
        Some(&self.ext)
    }

    fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
        let data = web::Data::new(self.ext.clone());
        cfg.service(
            api.resource("/passkeys/registration/options")
                .app_data(data.clone())
                .route(web::post().to(api_enrol_options)),
        )
        .service(
            api.resource("/passkeys/registration")
                .app_data(data.clone())
                .route(web::post().to(api_enrol)),
        )
        .service(
            api.resource("/passkeys/authentication/options")
                .app_data(data.clone())
                .route(web::post().to(api_sign_in_options)),
        )
        .service(
            api.resource("/passkeys/authentication")
                .app_data(data.clone())
                .route(web::post().to(api_sign_in)),
        )
        .service(
            api.resource("/passkeys/step-up/options")
                .app_data(data.clone())
                .route(web::post().to(api_step_up_options)),
        )
        .service(
            api.resource("/passkeys/step-up")
                .app_data(data.clone())
                .route(web::post().to(api_step_up)),
        )
        .service(
            api.resource("/passkeys/recovery/options")
                .app_data(data.clone())
                .route(web::post().to(super::recovery::api_options)),
        )
        .service(
            api.resource("/passkeys/recovery")
                .app_data(data.clone())
                .route(web::post().to(super::recovery::api_finish)),
        )
        .service(
            api.resource("/passkeys")
                .app_data(data.clone())
                .route(web::get().to(api_list)),
        )
        .service(
            api.resource("/passkeys/{id}")
                .app_data(data)
                .route(web::patch().to(api_rename))
                .route(web::delete().to(api_delete)),
        );
    }
}

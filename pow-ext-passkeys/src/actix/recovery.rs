//! The JSON endpoints of the recovery of passkey-only accounts (see [`crate::recovery`]);
//! its page is an engine page route (`crate::pages`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{ApiContext, ApiError};
use pow_actix::users::User;
use pow_actix::PowConfig;
use serde::Deserialize;
use serde_json::json;

use super::json::{api_error, body};
use crate::recovery::{enrol_once, sign_in_recovered, user_of, API_RECOVERY};
use crate::{EnrolAnswer, Kind, Passkeys};

#[derive(Deserialize)]
struct RecoveryOptions {
    recovery_token: String,
}

#[derive(Deserialize)]
struct RecoveryFinish {
    recovery_token: String,
    ceremony: String,
    name: String,
    credential: serde_json::Value,
}

fn invalid_token(req: &HttpRequest) -> ApiError {
    ApiError::translated(
        req,
        StatusCode::UNAUTHORIZED,
        "pow_passkeys_recovery_expired",
    )
    .with_code("invalid_token")
}

/// The user of a JSON `recovery_token`, and the ceremony binding; `401 invalid_token` for
/// one that does not verify or expired.
async fn recovering(
    req: &HttpRequest,
    config: &PowConfig,
    token: &str,
) -> Result<(User, String), ApiError> {
    user_of(config, token)
        .await?
        .ok_or_else(|| invalid_token(req))
}

/// `POST <prefix>/passkeys/recovery/options` with `{"recovery_token"}`.
pub(crate) async fn api_options(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let options: RecoveryOptions = body(&req, &payload)?;
    api.run(&req, API_RECOVERY, async |ctl| {
        let (user, binding) = recovering(&req, &ctl.config, &options.recovery_token).await?;
        let started = ext
            .start_enrolment(&ctl.config, &user, &binding, Kind::Passkey)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(pow_actix::api::answer(StatusCode::OK, json!(started)))
    })
    .await
}

/// `POST <prefix>/passkeys/recovery` with `{"recovery_token", "ceremony", "name",
/// "credential"}`: the new passkey, and a token pair.
pub(crate) async fn api_finish(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let finish: RecoveryFinish = body(&req, &payload)?;
    api.run(&req, API_RECOVERY, async |ctl| {
        let (user, binding) = recovering(&req, &ctl.config, &finish.recovery_token).await?;
        let credential = finish.credential.to_string();
        let answer = EnrolAnswer {
            ceremony: &finish.ceremony,
            name: &finish.name,
            credential: &credential,
        };
        let passkey = enrol_once(&ext, &ctl.config, &user, &binding, &answer, &ctl.lang)
            .await
            .map_err(|err| api_error(&req, err, false))?
            .ok_or_else(|| invalid_token(&req))?;
        let mut session = api.session(&req, pow_actix::api::ApiAction::SignIn);
        sign_in_recovered(&ctl.config, &user, passkey.id, &mut *session).await?;
        api.issued(&req, &session)
    })
    .await
}

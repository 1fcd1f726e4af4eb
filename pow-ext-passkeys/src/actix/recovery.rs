//! The recovery page and JSON endpoints of passkey-only accounts (see
//! [`crate::recovery`]).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{ApiContext, ApiError};
use pow_actix::session::{CookieSessionExt as _, CookieSessionHandle};
use pow_actix::users::User;
use pow_actix::views::{Form, Link};
use pow_actix::web::{flash, Action, Controller, FormData, Outcome};
use pow_actix::{PowConfig, PowError};
use serde::Deserialize;
use serde_json::json;

use super::html::{name_field, param, CeremonyPage};
use super::json::{api_error, body};
use crate::recovery::{
    enrol_once, path, pending_key, sign_in_recovered, user_of, API_RECOVERY, RECOVERY,
    RECOVERY_NEW, RECOVERY_PATH,
};
use crate::{EnrolAnswer, Kind, Passkeys, Started, NAME};

/// The user of the browser's pending recovery, and the ceremony binding.
async fn pending(
    req: &HttpRequest,
    config: &PowConfig,
) -> Result<Option<(User, String)>, PowError> {
    let Some(token) = req
        .cookie_session()
        .get::<String>(&pending_key(config))
        .ok()
        .flatten()
    else {
        return Ok(None);
    };
    user_of(config, &token).await
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &Passkeys) {
    let route = config.routes().extension_route(NAME, RECOVERY_PATH);
    cfg.service(
        web::resource(route)
            .app_data(web::Data::new(ext.clone()))
            .route(web::get().to(recovery_new))
            .route(web::post().to(recovery_create)),
    );
}

fn expired(ctl: &Controller) -> Outcome {
    flash::put_error(&ctl.req, Some(ctl.text("pow_passkeys_recovery_expired")));
    Outcome::redirect(&ctl.config.routes().session_path(&ctl.routes_ctx(), "new"))
}

fn recovery_page(ctl: &Controller, started: &Started) -> Result<HttpResponse, PowError> {
    CeremonyPage {
        name: "passkeys/recovery",
        title_key: "pow_passkeys_title_recovery",
        info_key: "pow_passkeys_recovery_info",
        form: Form::new(
            path(&ctl.config, RECOVERY_PATH),
            ctl.text("pow_passkeys_recovery_button"),
            "",
        )
        .field(name_field(ctl)),
        mode: "create",
        started,
        links: vec![Link::new(
            ctl.config.routes().session_path(&ctl.routes_ctx(), "new"),
            ctl.text("title-sign-in"),
        )],
    }
    .render(ctl)
}

async fn recovery_new(
    req: HttpRequest,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(RECOVERY_NEW)
        .signed_out()
        .run(&req, async |ctl| {
            let Some((user, binding)) = pending(&ctl.req, &ctl.config).await? else {
                return Ok(expired(ctl));
            };
            let started = ext
                .start_enrolment(&ctl.config, &user, &binding, Kind::Passkey)
                .await
                .map_err(crate::into_pow)?;
            Ok(Outcome::render(move |ctl: &Controller| {
                recovery_page(ctl, &started)
            }))
        })
        .await
}

async fn recovery_create(
    req: HttpRequest,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(RECOVERY)
        .signed_out()
        .form(FormData::parse(&payload))
        .run(&req, async |ctl| {
            let Some((user, binding)) = pending(&ctl.req, &ctl.config).await? else {
                return Ok(expired(ctl));
            };
            let answer = EnrolAnswer {
                ceremony: &param(ctl, "ceremony"),
                name: &param(ctl, "name"),
                credential: &param(ctl, "credential"),
            };
            let finished = enrol_once(&ext, &ctl.config, &user, &binding, &answer, &ctl.lang).await;
            let passkey = match finished {
                Ok(Some(passkey)) => passkey,
                Ok(None) => return Ok(expired(ctl)),
                Err(err) => {
                    let back = path(&ctl.config, RECOVERY_PATH);
                    return super::html::refused(ctl, err, &back);
                }
            };
            ctl.req.cookie_session().remove(&pending_key(&ctl.config));
            let mut session = CookieSessionHandle::new(&ctl.req);
            sign_in_recovered(&ctl.config, &user, passkey.id, &mut *session).await?;
            flash::put_info(&ctl.req, Some(ctl.text("pow_passkeys_recovered")));
            ctl.user = Some(user);
            let after = ctl.config.routes().after_sign_in_path(&ctl.routes_ctx());
            Ok(Outcome::redirect(&after))
        })
        .await
        .map_err(pow_actix::Error)
}

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

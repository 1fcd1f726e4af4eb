//! The JSON side: a sign-in that needs a second factor answers a short-lived token instead
//! of a token pair; `POST <prefix>/two-factor/verify` trades it and a code for the pair.
//! Signed-in clients enrol (`GET`, then `POST <prefix>/two-factor` with the first code),
//! make new recovery codes (`POST <prefix>/two-factor/recovery-codes`), turn it off
//! (`DELETE <prefix>/two-factor`) and prove it again for a step-up rule
//! (`POST <prefix>/two-factor/step-up`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use pow_actix::api::{ApiAction, ApiContext, ApiError, ApiExtension};
use pow_actix::audit::{self, AuditEvent, EventName};
use pow_actix::mailer::{send_notice, Notice};
use pow_actix::session::AuthMethod;
use pow_actix::users::User;
use pow_actix::web::{Action, ActionId, Controller};
use serde::Deserialize;
use serde_json::json;

use crate::flows::{self as verify, Answer, SecondStep, TOKEN_SALT};
use crate::store::{Pending, Records};
use crate::totp;
use crate::{actions, events};
use crate::{TwoFactor, NAME};

/// The JSON side of [`TwoFactor`] (see the crate docs).
#[derive(Clone, Debug)]
pub struct TwoFactorApi {
    ext: TwoFactor,
}

impl TwoFactorApi {
    pub(crate) fn new(ext: TwoFactor) -> Self {
        Self { ext }
    }
}

impl TwoFactor {
    /// The JSON side, to add to [`ApiOptions`](pow_actix::api::ApiOptions) when the config
    /// does not enable the extension itself.
    pub fn api(&self) -> TwoFactorApi {
        TwoFactorApi::new(self.clone())
    }
}

/// Records one of the extension's audit events about `user_id`, with the request.
fn record(ctl: &Controller, name: EventName, user_id: i64) {
    audit::record(
        &ctl.config,
        AuditEvent::new(name)
            .request(&ctl.config, &pow_actix::web::ActixRequest(&ctl.req).facts())
            .user(user_id),
    );
}

/// Mails `user` a security notice about their second factor (when notices are on).
async fn notify(ctl: &Controller, user: &User, notice: Notice<'_>) {
    let to = user.email().unwrap_or_default();
    send_notice(
        &ctl.config,
        &pow_actix::web::ActixRequest(&ctl.req).facts(),
        &ctl.lang,
        to,
        notice,
    )
    .await;
}

#[derive(Deserialize)]
struct VerifyBody {
    second_factor_token: String,
    #[serde(default)]
    code: String,
    /// Another extension's second factor (`"security_key"`); its answer is in the body.
    #[serde(default)]
    method: Option<String>,
}

#[derive(Deserialize)]
struct ChallengeBody {
    second_factor_token: String,
    method: String,
}

/// The pending sign-in of a `second_factor_token`, and its user.
async fn pending_of(
    req: &HttpRequest,
    config: &pow_actix::PowConfig,
    token: &str,
) -> Result<(String, Pending, User), ApiError> {
    let Some(id) = config.verifier().verify_token(TOKEN_SALT, token) else {
        return Err(expired(req));
    };
    let Some(pending) = Records::new(config).pending(&id).await? else {
        return Err(expired(req));
    };
    let Some(user) = config.users()?.get(pending.user_id).await? else {
        return Err(expired(req));
    };
    Ok((id, pending, user))
}

/// `POST <prefix>/two-factor/challenge` with the `second_factor_token` and the `method`
/// of another extension's second factor: a new challenge to answer at
/// `POST <prefix>/two-factor/verify` (with `method` and the challenge's members).
async fn challenge_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_VERIFY, async |_| {
        let body: ChallengeBody = pow_actix::api::json_body(&req, &body)?;
        let config = api.config().clone();
        let (_, _, user) = pending_of(&req, &config, &body.second_factor_token).await?;
        for factor in verify::enrolled_factors(&config, &user).await? {
            if factor.name() == body.method {
                let challenge = factor.challenge(&config, &user).await?;
                return Ok(answer(json!(challenge)));
            }
        }
        Err(ApiError::invalid_request(&req))
    })
    .await
}

fn invalid_code(req: &HttpRequest) -> ApiError {
    ApiError::translated(req, StatusCode::UNAUTHORIZED, "pow_two_factor_invalid_code")
        .with_code("invalid_code")
}

fn expired(req: &HttpRequest) -> ApiError {
    ApiError::translated(req, StatusCode::UNAUTHORIZED, "pow_two_factor_expired")
        .with_code("invalid_token")
}

async fn verify_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<TwoFactor>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_VERIFY, async |_| {
        let raw: serde_json::Value = pow_actix::api::json_body(&req, &body)?;
        let body: VerifyBody =
            serde_json::from_value(raw.clone()).map_err(|_| ApiError::invalid_request(&req))?;
        let config = api.config().clone();
        let Some(id) = config
            .verifier()
            .verify_token(TOKEN_SALT, &body.second_factor_token)
        else {
            return Err(expired(&req));
        };
        let codes = [
            AuthMethod::TOTP.as_str(),
            AuthMethod::RECOVERY_CODE.as_str(),
        ];
        let answer = match body.method {
            Some(method) if !codes.contains(&method.as_str()) => Answer::Factor(method, raw),
            _ => Answer::Code(body.code.clone()),
        };
        let mut session = api.session(&req, ApiAction::SignIn);
        match verify::second_step(
            &config,
            &pow_actix::web::ActixRequest(&req).facts(),
            &ext,
            &id,
            &answer,
            &mut *session,
        )
        .await?
        {
            SecondStep::SignedIn(_) => api.issued(&req, &session),
            SecondStep::Invalid { .. } => Err(invalid_code(&req)),
            SecondStep::Locked(refused) => Err(refused.into()),
            SecondStep::Expired | SecondStep::TooManyAttempts => Err(expired(&req)),
        }
    })
    .await
}

#[derive(Deserialize)]
struct StepUpBody {
    code: String,
}

/// `POST <prefix>/two-factor/step-up`: the signed-in client proves its second factor
/// again (a step-up rule asked for it); `204`, or `401 invalid_code`.
async fn step_up_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_STEP_UP, async |_| {
        let body: StepUpBody = pow_actix::api::json_body(&req, &body)?;
        api.signed_in(&req).await?;
        let config = api.config().clone();
        let mut session = api.session(&req, ApiAction::SignIn);
        match verify::step_up(
            &config,
            &pow_actix::web::ActixRequest(&req).facts(),
            &body.code,
            &mut *session,
        )
        .await?
        {
            Some(_) => Ok(HttpResponse::NoContent()
                .insert_header(pow_actix::web::no_store())
                .finish()),
            None => Err(invalid_code(&req)),
        }
    })
    .await
}

/// The answer of the settings endpoints, in the API's envelope, never cached.
fn answer(data: serde_json::Value) -> HttpResponse {
    pow_actix::api::answer(StatusCode::OK, data)
}

/// `GET <prefix>/two-factor` (sudo mode): `{"enabled": true, "recovery_codes_left": n}`,
/// or, before it is on, the enrolment's secret and `otpauth://` URL for the app (the same
/// secret until confirmed or 15 minutes pass).
async fn settings(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<TwoFactor>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    api.run_action(
        &req,
        Action::new(actions::API_SETTINGS).sudo(),
        async |ctl| {
            let config = ctl.config.clone();
            // The session's copy of the user has no seed: the row has the state.
            let user = stored(&config, current.user.id).await?;
            if verify::is_enabled(&user) {
                let left = crate::recovery_codes_left(&user);
                return Ok(answer(
                    json!({"enabled": true, "recovery_codes_left": left}),
                ));
            }
            let secret = Records::new(&config).enrol_secret(user.id).await?;
            let account = user
                .user_id(config.user_schema())
                .unwrap_or_default()
                .to_owned();
            let url = totp::otpauth_url(&secret, &ext.issuer, &account);
            Ok(answer(
                json!({"enabled": false, "secret": secret, "otpauth_url": url}),
            ))
        },
    )
    .await
}

#[derive(Deserialize)]
struct EnableBody {
    code: String,
}

/// `POST <prefix>/two-factor` with `{"code"}` (sudo mode): the first code from the app
/// turns the second factor on; answers the recovery codes, once. `422 invalid_code` for a
/// wrong code.
async fn enable(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<TwoFactor>,
) -> Result<HttpResponse, ApiError> {
    let body: EnableBody = pow_actix::api::json_body(&req, &body)?;
    let current = api.signed_in(&req).await?;
    let action = Action::new(actions::API_ENABLE).changes_factor();
    api.run_action(&req, action, async |ctl| {
        let config = ctl.config.clone();
        let user = stored(&config, current.user.id).await?;
        if verify::is_enabled(&user) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Two-factor authentication is on already",
            )
            .with_code("already_enabled"));
        }
        let records = Records::new(&config);
        let secret = records.enrol_secret(user.id).await?;
        let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
        let claimed = match totp::matching_step(&secret, &body.code, now) {
            Some(step) => records.claim_step(user.id, step).await?,
            None => false,
        };
        if !claimed {
            return Err(ApiError::translated(
                &req,
                StatusCode::UNPROCESSABLE_ENTITY,
                "pow_two_factor_invalid_code",
            )
            .with_code("invalid_code"));
        }
        records.take_enrol_secret(user.id).await?;
        let (user, codes) = verify::enable(&ext, &config, &user, &secret).await?;
        record(ctl, events::ENABLED, user.id);
        notify(ctl, &user, Notice::SecondFactorEnabled).await;
        ctl.user = Some(user);
        Ok(answer(json!({"enabled": true, "recovery_codes": codes})))
    })
    .await
}

/// Runs `change` on the signed-in client's enabled second factor (the user as stored), in
/// sudo mode and with one of the user's second factors proved within the sudo window (the
/// engine's rule for every factor change, `Action::changes_factor`); `409 not_enabled`
/// when it is off.
async fn change_enabled(
    req: &HttpRequest,
    api: &ApiContext,
    id: ActionId,
    change: impl AsyncFnOnce(&mut Controller, User) -> Result<serde_json::Value, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(req).await?;
    let action = Action::new(id).changes_factor();
    api.run_action(req, action, async |ctl| {
        let user = stored(&ctl.config, current.user.id).await?;
        if !verify::is_enabled(&user) {
            return Err(not_enabled());
        }
        Ok(answer(change(ctl, user).await?))
    })
    .await
}

/// `POST <prefix>/two-factor/recovery-codes` (sudo mode and a second factor within the
/// sudo window): new recovery codes replace the old ones; answers them, once.
async fn regenerate(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<TwoFactor>,
) -> Result<HttpResponse, ApiError> {
    change_enabled(&req, &api, actions::API_CODES, async |ctl, user| {
        let (user, codes) = verify::regenerate(&ext, &ctl.config, &user).await?;
        record(ctl, events::CODES_REGENERATED, user.id);
        notify(ctl, &user, Notice::RecoveryCodesRegenerated).await;
        ctl.user = Some(user);
        Ok(json!({"recovery_codes": codes}))
    })
    .await
}

/// `DELETE <prefix>/two-factor` (sudo mode and a second factor within the sudo window):
/// turns the second factor off.
async fn disable(req: HttpRequest, api: ApiContext) -> Result<HttpResponse, ApiError> {
    change_enabled(&req, &api, actions::API_DISABLE, async |ctl, user| {
        let user = verify::disable(&ctl.config, &user).await?;
        record(ctl, events::DISABLED, user.id);
        notify(ctl, &user, Notice::SecondFactorDisabled).await;
        ctl.user = Some(user);
        Ok(json!({"enabled": false}))
    })
    .await
}

fn not_enabled() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "Two-factor authentication is off").with_code("not_enabled")
}

/// The user `id` as stored (with the seed and the recovery codes the session's copy lacks).
async fn stored(config: &pow_actix::PowConfig, id: i64) -> Result<User, ApiError> {
    config.users()?.get(id).await?.ok_or_else(|| {
        ApiError::from(pow_actix::PowError::Other(
            "the signed-in user is gone".into(),
        ))
    })
}

impl ApiExtension for TwoFactorApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../../openapi.json"))
    }

    fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
        cfg.service(
            api.resource("/two-factor/verify")
                .app_data(web::Data::new(self.ext.clone()))
                .route(web::post().to(verify_create)),
        )
        .service(
            api.resource("/two-factor/challenge")
                .route(web::post().to(challenge_create)),
        )
        .service(
            api.resource("/two-factor/step-up")
                .route(web::post().to(step_up_create)),
        )
        .service(
            api.resource("/two-factor")
                .app_data(web::Data::new(self.ext.clone()))
                .route(web::get().to(settings))
                .route(web::post().to(enable))
                .route(web::delete().to(disable)),
        )
        .service(
            api.resource("/two-factor/recovery-codes")
                .app_data(web::Data::new(self.ext.clone()))
                .route(web::post().to(regenerate)),
        );
    }

    fn hooks(&self) -> Option<&dyn pow_actix::api::TokenHooks> {
        Some(&self.ext)
    }
}

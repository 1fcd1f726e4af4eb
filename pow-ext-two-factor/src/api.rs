//! The JSON side on the engine: a sign-in that needs a second factor answers a short-lived
//! token instead of a token pair (the [`TokenHooks`](pow_core::api::TokenHooks) of
//! [`TwoFactor`]); `POST <prefix>/two-factor/verify` trades it and a code for the pair.
//! Signed-in clients enrol (`GET`, then `POST <prefix>/two-factor` with the first code),
//! make new recovery codes (`POST <prefix>/two-factor/recovery-codes`), turn it off
//! (`DELETE <prefix>/two-factor`) and prove it again for a step-up rule
//! (`POST <prefix>/two-factor/step-up`). Its routes are the engine's JSON route table,
//! which every framework layer mounts.

use std::sync::Arc;

use pow_core::api::{json_body, ApiAction, ApiClient, ApiError, ApiRoute, Reply};
use pow_core::pages::routes::Verb;
use pow_core::pipeline::Step;
use pow_core::session::AuthMethod;
use pow_core::users::User;
use serde::Deserialize;
use serde_json::json;

use crate::flows::{
    self as verify, Answer, Change, Changed, Confirmed, Enrolment, Pending, SecondStep, TOKEN_SALT,
};
use crate::totp;
use crate::{actions, TwoFactor};

/// The extension's JSON routes, under the API prefix: the second step of a sign-in (and
/// another factor's challenge for it), the step-up proof, and the settings (sudo mode; a
/// change of the factor also needs a second factor within the sudo window).
pub(crate) fn api_routes(ext: &TwoFactor) -> Vec<ApiRoute> {
    let ext = Arc::new(ext.clone());
    vec![
        ApiRoute::new(
            Verb::Post,
            "/two-factor/verify",
            actions::API_VERIFY,
            pow_core::api_act!(ext, verify_create),
        ),
        ApiRoute::new(
            Verb::Post,
            "/two-factor/challenge",
            actions::API_VERIFY,
            |step, call| Box::pin(challenge_create(step, call)),
        ),
        ApiRoute::new(
            Verb::Post,
            "/two-factor/step-up",
            actions::API_STEP_UP,
            |step, call| Box::pin(step_up_create(step, call)),
        ),
        ApiRoute::new(
            Verb::Get,
            "/two-factor",
            actions::API_SETTINGS,
            pow_core::api_act!(ext, settings),
        )
        .sudo(),
        ApiRoute::new(
            Verb::Post,
            "/two-factor",
            actions::API_ENABLE,
            pow_core::api_act!(ext, enable),
        )
        .changes_factor(),
        ApiRoute::new(
            Verb::Delete,
            "/two-factor",
            actions::API_DISABLE,
            pow_core::api_act!(ext, disable),
        )
        .changes_factor(),
        ApiRoute::new(
            Verb::Post,
            "/two-factor/recovery-codes",
            actions::API_CODES,
            pow_core::api_act!(ext, regenerate),
        )
        .changes_factor(),
    ]
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
async fn pending_of(step: &Step, token: &str) -> Result<(String, Pending, User), ApiError> {
    let config = &step.config;
    let Some(id) = config.verifier().verify_token(TOKEN_SALT, token) else {
        return Err(expired(step));
    };
    let Some((pending, user)) = verify::waiting(config, &id).await? else {
        return Err(expired(step));
    };
    Ok((id, pending, user))
}

/// `POST <prefix>/two-factor/challenge` with the `second_factor_token` and the `method`
/// of another extension's second factor: a new challenge to answer at
/// `POST <prefix>/two-factor/verify` (with `method` and the challenge's members).
async fn challenge_create(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let body: ChallengeBody = json_body(&config, &step.lang, call.body())?;
    let (_, _, user) = pending_of(step, &body.second_factor_token).await?;
    for factor in verify::enrolled_factors(&config, &user).await? {
        if factor.name() == body.method {
            let challenge = factor.challenge(&config, &user).await?;
            return Ok(Reply::ok(json!(challenge)));
        }
    }
    Err(ApiError::invalid_request(Some(&config), &step.lang))
}

fn invalid_code(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        401,
        "pow_two_factor_invalid_code",
    )
    .with_code("invalid_code")
}

fn expired(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        401,
        "pow_two_factor_expired",
    )
    .with_code("invalid_token")
}

/// `POST <prefix>/two-factor/verify` with `{"second_factor_token", "code"}` (or another
/// factor's `method` and answer): the second step of a sign-in; answers the token pair.
async fn verify_create(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &TwoFactor,
) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let raw: serde_json::Value = json_body(&config, &step.lang, call.body())?;
    let body: VerifyBody = serde_json::from_value(raw.clone())
        .map_err(|_| ApiError::invalid_request(Some(&config), &step.lang))?;
    let Some(id) = config
        .verifier()
        .verify_token(TOKEN_SALT, &body.second_factor_token)
    else {
        return Err(expired(step));
    };
    let codes = [
        AuthMethod::TOTP.as_str(),
        AuthMethod::RECOVERY_CODE.as_str(),
    ];
    let answer = match body.method {
        Some(method) if !codes.contains(&method.as_str()) => Answer::Factor(method, raw),
        _ => Answer::Code(body.code.clone()),
    };
    let facts = call.facts();
    let session = call.signing_in(ApiAction::SignIn);
    match verify::second_step(&config, &facts, ext, &id, &answer, session).await? {
        SecondStep::SignedIn(_) => call.issued(),
        SecondStep::Invalid { .. } => Err(invalid_code(step)),
        SecondStep::Locked(refused) => Err(refused.into()),
        SecondStep::Expired | SecondStep::TooManyAttempts => Err(expired(step)),
    }
}

#[derive(Deserialize)]
struct StepUpBody {
    code: String,
}

/// `POST <prefix>/two-factor/step-up`: the signed-in client proves its second factor
/// again (a step-up rule asked for it); `204`, or `401 invalid_code`.
async fn step_up_create(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let body: StepUpBody = json_body(&config, &step.lang, call.body())?;
    // After the body: a malformed one answers `400` whoever sends it.
    if call.current_session().is_none() {
        return Err(call.not_authenticated(&step.lang));
    }
    let facts = call.facts();
    let session = call.signing_in(ApiAction::SignIn);
    match verify::step_up(&config, &facts, &body.code, session).await? {
        Some(_) => Ok(Reply::no_content()),
        None => Err(invalid_code(step)),
    }
}

/// The signed-in client's user id.
fn signed_in_id(call: &mut dyn ApiClient) -> Result<i64, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(pow_core::session::nobody_signed_in)?;
    Ok(current.user.id)
}

/// `GET <prefix>/two-factor` (sudo mode): `{"enabled": true, "recovery_codes_left": n}`,
/// or, before it is on, the enrolment's secret and `otpauth://` URL for the app (the same
/// secret until confirmed or 15 minutes pass).
async fn settings(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &TwoFactor,
) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let id = signed_in_id(call)?;
    match verify::enrolment(&config, id).await? {
        Enrolment::On(user) => {
            let left = crate::recovery_codes_left(&user);
            Ok(Reply::ok(
                json!({"enabled": true, "recovery_codes_left": left}),
            ))
        }
        Enrolment::Pending { user, secret } => {
            let account = user
                .user_id(config.user_schema())
                .unwrap_or_default()
                .to_owned();
            let url = totp::otpauth_url(&secret, &ext.issuer, &account);
            Ok(Reply::ok(
                json!({"enabled": false, "secret": secret, "otpauth_url": url}),
            ))
        }
    }
}

#[derive(Deserialize)]
struct EnableBody {
    code: String,
}

/// `POST <prefix>/two-factor` with `{"code"}` (sudo mode and the engine's rule for factor
/// changes): the first code from the app turns the second factor on
/// ([`verify::confirm_enrolment`]); answers the recovery codes, once. `422 invalid_code`
/// for a wrong code.
async fn enable(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &TwoFactor,
) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let body: EnableBody = json_body(&config, &step.lang, call.body())?;
    let id = signed_in_id(call)?;
    let facts = call.facts();
    match verify::confirm_enrolment(ext, step, &facts, id, &body.code).await? {
        Confirmed::AlreadyOn => Err(
            ApiError::new(409, "Two-factor authentication is on already")
                .with_code("already_enabled"),
        ),
        Confirmed::WrongCode { .. } => Err(ApiError::translated(
            Some(&config),
            &step.lang,
            422,
            "pow_two_factor_invalid_code",
        )
        .with_code("invalid_code")),
        Confirmed::On(user, codes) => {
            step.user = Some(user);
            Ok(Reply::ok(json!({"enabled": true, "recovery_codes": codes})))
        }
    }
}

/// Makes `change` to the signed-in client's second factor ([`verify::change`]); `409
/// not_enabled` when it is off. (The routes that change it ask for sudo mode and one of
/// the user's second factors proved within the sudo window: the engine's rule for every
/// factor change.)
async fn changed(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &TwoFactor,
    change: Change,
) -> Result<Vec<String>, ApiError> {
    let id = signed_in_id(call)?;
    let facts = call.facts();
    match verify::change(ext, step, &facts, id, change).await? {
        Changed::NotOn => {
            Err(ApiError::new(409, "Two-factor authentication is off").with_code("not_enabled"))
        }
        Changed::Done(user, codes) => {
            step.user = Some(user);
            Ok(codes)
        }
    }
}

/// `POST <prefix>/two-factor/recovery-codes` (sudo mode and a second factor within the
/// sudo window): new recovery codes replace the old ones; answers them, once.
async fn regenerate(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &TwoFactor,
) -> Result<Reply, ApiError> {
    let codes = changed(step, call, ext, Change::NewRecoveryCodes).await?;
    Ok(Reply::ok(json!({"recovery_codes": codes})))
}

/// `DELETE <prefix>/two-factor` (sudo mode and a second factor within the sudo window):
/// turns the second factor off.
async fn disable(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &TwoFactor,
) -> Result<Reply, ApiError> {
    changed(step, call, ext, Change::TurnOff).await?;
    Ok(Reply::ok(json!({"enabled": false})))
}

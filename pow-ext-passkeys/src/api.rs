//! The JSON side, on the engine: enrolment, the list and its changes, sign-in, step-up
//! and the recovery of passkey-only accounts. Its routes ([`api_routes`]) are the
//! engine's, which every framework mounts under the API prefix:
//!
//! - `POST /passkeys/registration/options` (sudo mode; a second factor too when the account
//!   has one) with `{}` or `{"kind": "security_key"}`: `{"ceremony", "options"}`;
//! - `POST /passkeys/registration` with `{"ceremony", "name", "credential"}`: `201` and
//!   the passkey;
//! - `GET /passkeys`: the list; `PATCH /passkeys/{id}` with `{"name"}`; `DELETE
//!   /passkeys/{id}` (sudo mode; `409 last_credential` for the last way into an account);
//! - `POST /passkeys/authentication/options` with `{"email"}` or `{}`;
//! - `POST /passkeys/authentication` with `{"ceremony", "credential"}`: the token pair;
//! - `POST /passkeys/step-up/options` and `POST /passkeys/step-up` with `{"ceremony",
//!   "credential"}`: prove a passkey or security key again for a step-up rule (`204`);
//! - `POST /passkeys/recovery/options` and `POST /passkeys/recovery` with the
//!   `recovery_token` of a `401 passkey_recovery_required`: enrol a new passkey, then the
//!   token pair.
//!
//! `credential` is the `PublicKeyCredential` JSON of the browser (`toJSON()`) or app.
//! Refusals answer `{"code": …}` with the codes of [`PasskeyError::code`].

use std::sync::Arc;

use pow_core::api::routes::{json_body, ApiClient, ApiRoute, Reply};
use pow_core::api::{ApiAction, ApiError};
use pow_core::pages::routes::{PathParams, Verb};
use pow_core::pipeline::Step;
use pow_core::session;
use pow_core::users::User;
use serde::Deserialize;
use serde_json::json;

use crate::pages::{passkey_id, stored_user};
use crate::recovery::{enrol_once, sign_in_recovered, user_of, API_RECOVERY};
use crate::routes::actions;
use crate::{EnrolAnswer, Kind, PasskeyError, Passkeys};

/// The extension's JSON routes (see the [module](self)), in the order they are mounted.
pub(crate) fn api_routes(ext: &Passkeys) -> Vec<ApiRoute> {
    use pow_core::api_act;
    let ext = Arc::new(ext.clone());
    vec![
        ApiRoute::new(
            Verb::Post,
            "/passkeys/registration/options",
            actions::API_MANAGE,
            api_act!(ext, enrol_options),
        )
        .changes_factor(),
        ApiRoute::new(
            Verb::Post,
            "/passkeys/registration",
            actions::API_MANAGE,
            api_act!(ext, enrol),
        )
        .changes_factor(),
        ApiRoute::new(
            Verb::Post,
            "/passkeys/authentication/options",
            actions::API_SIGN_IN,
            api_act!(ext, sign_in_options),
        ),
        ApiRoute::new(
            Verb::Post,
            "/passkeys/authentication",
            actions::API_SIGN_IN,
            api_act!(ext, sign_in),
        ),
        ApiRoute::new(
            Verb::Post,
            "/passkeys/step-up/options",
            actions::API_MANAGE,
            api_act!(ext, step_up_options),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/passkeys/step-up",
            actions::API_MANAGE,
            api_act!(ext, step_up),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/passkeys/recovery/options",
            API_RECOVERY,
            api_act!(ext, recovery_options),
        ),
        ApiRoute::new(
            Verb::Post,
            "/passkeys/recovery",
            API_RECOVERY,
            api_act!(ext, recovery_finish),
        ),
        ApiRoute::new(
            Verb::Get,
            "/passkeys",
            actions::API_MANAGE,
            api_act!(ext, list),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Patch,
            "/passkeys/{id}",
            actions::API_MANAGE,
            api_act!(ext, rename),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Delete,
            "/passkeys/{id}",
            actions::API_MANAGE,
            api_act!(ext, delete),
        )
        .changes_factor(),
    ]
}

/// The JSON answer of `err`.
fn api_error(step: &Step, err: PasskeyError, sign_in: bool) -> ApiError {
    let err = match err {
        PasskeyError::Pow(err) => return err.into(),
        other => other,
    };
    let status = match &err {
        PasskeyError::Config(_) | PasskeyError::UnreadableCredential(_) => 500,
        PasskeyError::NotFound => 404,
        PasskeyError::CredentialTaken | PasskeyError::LastCredential => 409,
        PasskeyError::InvalidName => 422,
        PasskeyError::Malformed => 400,
        _ if sign_in => 401,
        _ => 400,
    };
    let key = format!("pow_passkeys_error_{}", err.code());
    ApiError::translated(Some(&step.config), &step.lang, status, &key).with_code(err.code())
}

/// The request's body, a JSON object read into `T`; `400` otherwise.
fn body<T: serde::de::DeserializeOwned>(step: &Step, call: &dyn ApiClient) -> Result<T, ApiError> {
    json_body(&step.config, &step.lang, call.body())
}

/// The request's body read into `T`, or `T`'s default for an empty body.
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    step: &Step,
    call: &dyn ApiClient,
) -> Result<T, ApiError> {
    match call.body().is_empty() {
        true => Ok(T::default()),
        false => body(step, call),
    }
}

/// The signed-in user as stored, and the session's id (the route asks for a session).
async fn signed_in(step: &Step, call: &mut dyn ApiClient) -> Result<(User, String), ApiError> {
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let user = stored_user(&step.config, current.user.id).await?;
    Ok((user, current.session_id.to_string()))
}

/// The `{id}` segment of the path, as a passkey id.
fn path_id(step: &Step) -> i64 {
    passkey_id(
        step.assigns
            .get::<PathParams>()
            .and_then(|params| params.get("id"))
            .unwrap_or_default(),
    )
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

#[derive(Deserialize, Default)]
struct EnrolOptions {
    #[serde(default)]
    kind: Option<Kind>,
}

#[derive(Deserialize)]
struct StepUpFinish {
    ceremony: String,
    credential: serde_json::Value,
}

/// `POST <prefix>/passkeys/registration/options`: a started enrolment.
async fn enrol_options(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let options: EnrolOptions = optional_body(step, call)?;
    let kind = options.kind.unwrap_or(Kind::Passkey);
    let (user, session_id) = signed_in(step, call).await?;
    let started = ext
        .start_enrolment(&step.config, &user, &session_id, kind)
        .await
        .map_err(|err| api_error(step, err, false))?;
    Ok(Reply::ok(json!(started)))
}

/// `POST <prefix>/passkeys/registration`: `201` and the new passkey.
async fn enrol(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let finish: Finish = body(step, call)?;
    let (user, session_id) = signed_in(step, call).await?;
    let passkey = ext
        .finish_enrolment(
            &step.config,
            &user,
            &session_id,
            &EnrolAnswer {
                ceremony: &finish.ceremony,
                name: &finish.name,
                credential: &finish.credential.to_string(),
            },
            Some(&step.lang),
        )
        .await
        .map_err(|err| api_error(step, err, false))?;
    Ok(Reply::data(201, json!({ "passkey": passkey })))
}

/// `GET <prefix>/passkeys`: the user's passkeys and security keys.
async fn list(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let passkeys = ext
        .list(&step.config, &current.user)
        .await
        .map_err(|err| api_error(step, err, false))?;
    Ok(Reply::ok(json!({ "passkeys": passkeys })))
}

/// `PATCH <prefix>/passkeys/{id}` with `{"name"}`: `204`.
async fn rename(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let rename: Rename = body(step, call)?;
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    ext.rename(&step.config, &current.user, path_id(step), &rename.name)
        .await
        .map_err(|err| api_error(step, err, false))?;
    Ok(Reply::no_content())
}

/// `DELETE <prefix>/passkeys/{id}`: `204`.
async fn delete(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let (user, _) = signed_in(step, call).await?;
    ext.delete(&step.config, &user, path_id(step), Some(&step.lang))
        .await
        .map_err(|err| api_error(step, err, false))?;
    Ok(Reply::no_content())
}

/// `POST <prefix>/passkeys/authentication/options` with `{"email"}` or `{}`: a started
/// sign-in.
async fn sign_in_options(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let options: SignInOptions = optional_body(step, call)?;
    let started = ext
        .start_sign_in(&step.config, &call.facts(), options.email.as_deref())
        .await
        .map_err(|err| api_error(step, err, true))?;
    Ok(Reply::ok(json!(started)))
}

/// `POST <prefix>/passkeys/authentication`: the token pair.
async fn sign_in(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let finish: Finish = body(step, call)?;
    let config = step.config.clone();
    let credential = finish.credential.to_string();
    let session = call.signing_in(ApiAction::SignIn);
    ext.sign_in(&config, &finish.ceremony, &credential, session)
        .await?
        .map_err(|err| api_error(step, err, true))?;
    call.issued()
}

/// `POST <prefix>/passkeys/step-up/options`: a started second-factor ceremony.
async fn step_up_options(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let (user, _) = signed_in(step, call).await?;
    let started = ext
        .start_second_factor(&step.config, &user)
        .await
        .map_err(|err| api_error(step, err, false))?;
    Ok(Reply::ok(json!(started)))
}

/// `POST <prefix>/passkeys/step-up`: records the passkey or security key on the session;
/// `204`.
async fn step_up(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let finish: StepUpFinish = body(step, call)?;
    let (user, _) = signed_in(step, call).await?;
    let config = step.config.clone();
    let credential = finish.credential.to_string();
    ext.step_up(
        &config,
        &user,
        &finish.ceremony,
        &credential,
        call.session(),
    )
    .await?
    .map_err(|err| api_error(step, err, true))?;
    Ok(Reply::no_content())
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

/// `401 invalid_token`: a recovery token that does not verify, expired or was spent.
fn invalid_token(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        401,
        "pow_passkeys_recovery_expired",
    )
    .with_code("invalid_token")
}

/// The user of a JSON `recovery_token`, and the ceremony binding; `401 invalid_token` for
/// one that does not verify or expired.
async fn recovering(step: &Step, token: &str) -> Result<(User, String), ApiError> {
    user_of(&step.config, token)
        .await?
        .ok_or_else(|| invalid_token(step))
}

/// `POST <prefix>/passkeys/recovery/options` with `{"recovery_token"}`: a started
/// enrolment of the recovery's new passkey.
async fn recovery_options(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let options: RecoveryOptions = body(step, call)?;
    let (user, binding) = recovering(step, &options.recovery_token).await?;
    let started = ext
        .start_enrolment(&step.config, &user, &binding, Kind::Passkey)
        .await
        .map_err(|err| api_error(step, err, false))?;
    Ok(Reply::ok(json!(started)))
}

/// `POST <prefix>/passkeys/recovery` with `{"recovery_token", "ceremony", "name",
/// "credential"}`: the new passkey, and a token pair.
async fn recovery_finish(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Passkeys,
) -> Result<Reply, ApiError> {
    let finish: RecoveryFinish = body(step, call)?;
    let (user, binding) = recovering(step, &finish.recovery_token).await?;
    let credential = finish.credential.to_string();
    let answer = EnrolAnswer {
        ceremony: &finish.ceremony,
        name: &finish.name,
        credential: &credential,
    };
    let passkey = enrol_once(ext, &step.config, &user, &binding, &answer, &step.lang)
        .await
        .map_err(|err| api_error(step, err, false))?
        .ok_or_else(|| invalid_token(step))?;
    let config = step.config.clone();
    let session = call.signing_in(ApiAction::SignIn);
    sign_in_recovered(&config, &user, passkey.id, session).await?;
    call.issued()
}

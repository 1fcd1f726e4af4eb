//! The JSON endpoints (see the [crate docs](crate#json-api)) on the engine: every framework
//! layer serves them from the config's route table, under the API prefix. The extension's
//! say in issuing tokens is [`ConfirmationHooks`](crate::ConfirmationHooks).

use std::sync::Arc;

use pow_core::api::routes::{ApiClient, ApiRoute, Reply};
use pow_core::api::ApiError;
use pow_core::extension::ProvenBy;
use pow_core::messages::LanguageIdentifier;
use pow_core::pages::routes::{PathParams, Verb};
use pow_core::pipeline::Step;
use pow_core::users::User;
use pow_core::PowConfig;
use serde_json::{json, Map, Value};

use crate::flows::{actions, confirm_link, refresh_sessions, Confirmation};
use crate::mail::{self, Sent};
use crate::schema::{has_pending_change, is_unconfirmed, UNCONFIRMED_EMAIL_FIELD};
use crate::tokens::{NOT_CONFIRMED, SENT};
use crate::EmailConfirmation;

const CONFIRMED: &str = "pow_email_confirmation_email_has_been_confirmed";
const FAILED: &str = "pow_email_confirmation_email_confirmation_failed";
const INVALID: &str = "pow_email_confirmation_invalid_token";
const REQUIRED_FOR_UPDATE: &str = "pow_email_confirmation_email_confirmation_required_for_update";

/// The extension's JSON routes.
pub(crate) fn api_routes(ext: &EmailConfirmation) -> Vec<ApiRoute> {
    let ext = Arc::new(ext.clone());
    vec![
        ApiRoute::new(Verb::Get, "/confirm-email", actions::API_SHOW, |s, c| {
            Box::pin(show(s, c))
        })
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/confirm-email",
            actions::API_RESEND,
            pow_core::api_act!(ext, resend),
        )
        .signed_in(),
        ApiRoute::new(
            Verb::Post,
            "/confirm-email/cancel/{token}",
            actions::API_CANCEL,
            |s, c| Box::pin(cancel_token(s, c)),
        ),
        ApiRoute::new(
            Verb::Post,
            "/confirm-email/{token}",
            actions::API_CONFIRM,
            pow_core::api_act!(ext, confirm_token),
        ),
    ]
}

fn text(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> String {
    config.messages().text(lang, key)
}

/// The signed token in the path.
fn path_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|path| path.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// `404 invalid_token` for a forged, unknown, used or expired token.
fn invalid_token(step: &Step) -> ApiError {
    ApiError::translated(Some(&step.config), &step.lang, 404, INVALID).with_code("invalid_token")
}

/// The confirmation state of `user`, as sent to clients.
fn status(user: &User) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("email".into(), json!(user.email()));
    data.insert("email_confirmed".into(), json!(!is_unconfirmed(user)));
    let pending = has_pending_change(user)
        .then(|| user.get_str(UNCONFIRMED_EMAIL_FIELD))
        .flatten();
    data.insert("unconfirmed_email".into(), json!(pending));
    data
}

/// What to tell `user` about its confirmation, if anything.
fn status_message(user: &User) -> Option<&'static str> {
    if is_unconfirmed(user) {
        Some(NOT_CONFIRMED)
    } else if has_pending_change(user) {
        Some(REQUIRED_FOR_UPDATE)
    } else {
        None
    }
}

/// The signed-in user of an API request, freshly read; `401` without one.
async fn signed_in(step: &Step, call: &mut dyn ApiClient) -> Result<User, ApiError> {
    let Some(current) = call.current_session() else {
        return Err(call.not_authenticated(&step.lang));
    };
    match pow_core::flows::stored_user(&step.config, current.user.id).await? {
        Some(user) => Ok(user),
        None => Err(call.not_authenticated(&step.lang)),
    }
}

/// `GET <prefix>/confirm-email`: the signed-in user's confirmation state.
async fn show(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let mut data = status(&user);
    if let Some(key) = status_message(&user) {
        data.insert("message".into(), json!(text(&step.config, &step.lang, key)));
    }
    Ok(Reply::ok(data))
}

/// `POST <prefix>/confirm-email`: mails the signed-in user's link again (to the pending
/// new address if there is one), within the resend limit. Over the limit the answer is
/// the same, without a mail, as on the HTML side.
async fn resend(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &EmailConfirmation,
) -> Result<Reply, ApiError> {
    let user = signed_in(step, call).await?;
    let (config, lang) = (&step.config, &step.lang);
    let pending = has_pending_change(&user);
    let mut data = status(&user);
    let link = ext.api_link.as_ref();
    match mail::send_with_link(ext, &call.facts(), config, lang, user, link).await? {
        Sent::Delivered(_) | Sent::Limited => {
            let key = if pending { REQUIRED_FOR_UPDATE } else { SENT };
            data.insert("message".into(), json!(text(config, lang, key)));
        }
        Sent::NothingToConfirm => {}
    }
    Ok(Reply::ok(data))
}

/// `POST <prefix>/confirm-email/cancel/{token}`: drops the pending address change the
/// token (from the notice mailed to the current address) names, as the notice's page
/// does; `200` with the account's state, or `404 invalid_token` for a forged, used or
/// superseded token. Needs no access token.
async fn cancel_token(step: &mut Step, _call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    // The signature is checked before any lookup.
    let cancelled = match config
        .verifier()
        .verify_token(crate::cancel::CANCEL_SALT, &path_token(step))
    {
        None => None,
        Some(token) => crate::cancel::cancel_pending(&config, &token).await?,
    };
    let Some(user) = cancelled else {
        return Err(invalid_token(step));
    };
    refresh_sessions(&config, &user).await?;
    let data = status(&user);
    step.user = Some(user);
    Ok(Reply::ok(data))
}

/// `POST <prefix>/confirm-email/{token}`: confirms the address the token was issued for.
/// Needs no access token; it does not sign the user in.
async fn confirm_token(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &EmailConfirmation,
) -> Result<Reply, ApiError> {
    let source = call.facts();
    let token = path_token(step);
    let by = ProvenBy::ConfirmationToken;
    match confirm_link(step, &source, ext, &token, by).await? {
        Confirmation::Invalid => Err(invalid_token(step)),
        Confirmation::Taken => {
            Err(
                ApiError::translated(Some(&step.config), &step.lang, 409, FAILED)
                    .with_code("email_taken"),
            )
        }
        Confirmation::Confirmed { user, .. } => {
            let mut data = status(&user);
            data.insert(
                "message".into(),
                json!(text(&step.config, &step.lang, CONFIRMED)),
            );
            Ok(Reply::ok(data))
        }
    }
}

//! The JSON endpoints that close the account, on the engine: every framework layer serves
//! them from the config's route table, under the API prefix.
//!
//! - `POST <prefix>/account/close` (sudo mode): `200` with `erase_after`, or
//!   `{"erased": true}`; every token of the account ends. An account without a password
//!   whose session is not fresh gets `202`: the closing confirmation is mailed;
//! - `POST <prefix>/account/close/{token}` with that mail's token
//!   ([`CLOSE_LINK`](crate::CLOSE_LINK) points it at the app): closes the account, as above;
//! - `POST <prefix>/account/reactivate` with the user id and password (or `{"token"}` from
//!   the mailed link): reopens a closed account; `200 {"reactivated": true}`, then sign in.
//!   The password check asks for the CAPTCHA when the setup has one, and an open account
//!   is answered as wrong credentials are (`401 invalid_credentials`);
//! - `GET <prefix>/account/export` (sudo mode, rate-limited): the export document, as a
//!   download.

use std::sync::Arc;

use pow_core::api::routes::{json_body, ApiClient, ApiRoute, Reply};
use pow_core::api::ApiError;
use pow_core::pages::routes::{PathParams, Verb};
use pow_core::pipeline::Step;
use pow_core::PowError;
use serde_json::json;

use crate::flows::{actions, reopen, stored, Proof, Reopened};
use crate::{Account, Closed};

/// The extension's JSON routes on the engine.
pub(crate) fn api_routes(ext: &Account) -> Vec<ApiRoute> {
    let ext = Arc::new(ext.clone());
    vec![
        // Support access closes nothing, by either proof. Sudo mode is checked by the
        // action: an account without a password may prove itself by mail instead.
        ApiRoute::new(
            Verb::Post,
            "/account/close",
            actions::API_CLOSE,
            pow_core::api_act!(ext, close),
        )
        .owner_only(),
        ApiRoute::new(
            Verb::Post,
            "/account/close/{token}",
            actions::API_CLOSE_LINK,
            pow_core::api_act!(ext, close_link),
        ),
        // The params reach the pipeline (a sign-in's limits see the user id typed); a
        // password check asks for the CAPTCHA as a sign-in does, the mailed link's token
        // checks no password.
        ApiRoute::new(
            Verb::Post,
            "/account/reactivate",
            actions::API_REACTIVATE,
            pow_core::api_act!(ext, reactivate),
        )
        .with_optional_user_params()
        .captcha_when(|body| !has_token(body)),
        ApiRoute::new(
            Verb::Get,
            "/account/export",
            actions::API_EXPORT,
            pow_core::api_act!(ext, export),
        )
        .sudo(),
    ]
}

/// The body of a reopening by the mailed link.
#[derive(serde::Deserialize)]
struct ReactivateBody {
    token: Option<String>,
}

/// Whether a reopening's body carries the mailed link's token.
fn has_token(body: &[u8]) -> bool {
    serde_json::from_slice::<ReactivateBody>(body).is_ok_and(|body| body.token.is_some())
}

/// `POST <prefix>/account/reactivate`: reopens a closed account, by its password or the
/// mailed link's token.
async fn reactivate(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Account,
) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let by_link: ReactivateBody = json_body(&config, &step.lang, call.body())?;
    let proof = match &by_link.token {
        Some(token) => Proof::Link(token),
        None => Proof::Password(step.params.clone()),
    };
    match reopen(&config, ext, proof).await? {
        Reopened::Done(user) => {
            step.user = Some(user);
            Ok(Reply::ok(json!({ "reactivated": true })))
        }
        Reopened::Unknown => {
            Err(
                ApiError::translated(Some(&config), &step.lang, 401, "pow_account_invalid_link")
                    .with_code("invalid_token"),
            )
        }
        Reopened::WrongPassword => Err(ApiError::invalid_credentials(&config, &step.lang)),
    }
}

/// `GET <prefix>/account/export` (sudo mode): the account's data, as a download
/// (`pow-account-export.json`, never stored).
async fn export(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Account,
) -> Result<Reply, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(|| call.not_authenticated(&step.lang))?;
    let user = stored(&step.config, current.user.id).await?;
    let export = ext.export(&step.config, &user).await?;
    Ok(Reply::download(
        "pow-account-export.json",
        "application/json",
        export.to_string().into_bytes(),
    ))
}

/// `POST <prefix>/account/close`: closes the signed-in account in sudo mode; an account
/// without a password whose session is not fresh gets the confirmation mailed (`202`).
async fn close(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Account,
) -> Result<Reply, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(|| call.not_authenticated(&step.lang))?;
    let config = step.config.clone();
    let user = stored(&config, current.user.id).await?;
    // An account without a password proves itself by a mailed link, unless the session is
    // fresh from its sign-in.
    let fresh = current.metadata.is_fresh(config.session().sudo_window);
    if user.password_hash.is_none() && !fresh {
        ext.request_close(&config, &user, &step.lang).await?;
        return Ok(Reply::data(
            202,
            json!({
                "closed": false,
                "confirmation_sent": true,
                "message": step.text("pow_account_confirm_mail_sent"),
            }),
        ));
    }
    if !fresh {
        return Err(PowError::ReauthenticationRequired.into());
    }
    Ok(close_answer(&ext.close(&config, &user, &step.lang).await?))
}

/// The answer to a closed account: when it is erased, or that it is.
fn close_answer(closed: &Closed) -> Reply {
    let data = match closed {
        Closed::Scheduled(at) => json!({ "closed": true, "erase_after": at.to_rfc3339() }),
        Closed::Erased => json!({ "closed": true, "erased": true }),
    };
    Reply::ok(data)
}

/// `POST <prefix>/account/close/{token}`: closes the account of a mailed closing
/// confirmation (an account without a password); `401 invalid_token` for a link that is
/// stale, forged, or of an account closed already.
async fn close_link(
    step: &mut Step,
    _call: &mut dyn ApiClient,
    ext: &Account,
) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let token = step
        .assigns
        .get::<PathParams>()
        .and_then(|path| path.get("token"))
        .unwrap_or_default()
        .to_owned();
    let Some(user) = ext.find_by_confirmation(&config, &token).await? else {
        return Err(ApiError::translated(
            Some(&config),
            &step.lang,
            401,
            "pow_account_invalid_link",
        )
        .with_code("invalid_token"));
    };
    let closed = ext.close(&config, &user, &step.lang).await?;
    step.user = Some(user);
    Ok(close_answer(&closed))
}

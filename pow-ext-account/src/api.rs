//! The JSON endpoints that close the account, on the engine: every framework layer serves
//! them from the config's route table, under the API prefix.
//!
//! - `POST <prefix>/account/close` (sudo mode): `200` with `erase_after`, or
//!   `{"erased": true}`; every token of the account ends. An account without a password
//!   whose session is not fresh gets `202`: the closing confirmation is mailed;
//! - `POST <prefix>/account/close/{token}` with that mail's token
//!   ([`CLOSE_LINK`](crate::CLOSE_LINK) points it at the app): closes the account, as above.

use std::sync::Arc;

use pow_core::api::routes::{ApiClient, ApiRoute, Reply};
use pow_core::api::ApiError;
use pow_core::pages::routes::{PathParams, Verb};
use pow_core::pipeline::Step;
use pow_core::PowError;
use serde_json::json;

use crate::flows::{actions, stored};
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
    ]
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

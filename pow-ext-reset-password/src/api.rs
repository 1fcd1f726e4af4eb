//! The JSON endpoints (see the [crate docs](crate#json-api)) on the engine: every framework
//! layer serves them from the config's route table, under the API prefix.

use std::sync::Arc;

use pow_core::api::routes::{ApiClient, ApiRoute, Reply};
use pow_core::api::{user_params, ApiError};
use pow_core::pages::routes::{PathParams, Verb};
use pow_core::pipeline::Step;
use pow_core::PowConfig;

use crate::flows::{self as flow, Requested, Reset};
use crate::pages::token_path;
use crate::{actions, ResetPassword};

/// The extension's JSON routes.
pub(crate) fn api_routes(ext: &ResetPassword) -> Vec<ApiRoute> {
    let ext = Arc::new(ext.clone());
    let mut routes = vec![
        ApiRoute::new(
            Verb::Post,
            "/reset-password",
            actions::API_CREATE,
            pow_core::api_act!(ext, create),
        )
        .captcha(),
        ApiRoute::new(
            Verb::Get,
            "/reset-password/{token}",
            actions::API_SHOW,
            pow_core::api_act!(ext, show),
        ),
    ];
    for verb in [Verb::Patch, Verb::Put] {
        routes.push(ApiRoute::new(
            verb,
            "/reset-password/{token}",
            actions::API_UPDATE,
            pow_core::api_act!(ext, update),
        ));
    }
    routes
}

/// The mailed link for `signed` token: the extension's
/// [`api_link_template`](ResetPassword::api_link_template), else the setup's frontend link,
/// else the HTML page.
fn mailed_link(
    ext: &ResetPassword,
    call: &dyn ApiClient,
    config: &PowConfig,
    signed: &str,
) -> String {
    match &ext.api_link {
        Some(template) => template.url(signed),
        None => config.mail_link(crate::LINK, signed, || {
            config.url_for(&call.facts(), &token_path(config, signed))
        }),
    }
}

/// `200 {"status": 200, "data": {"message": "..."}}`, never cached.
fn done(step: &Step, key: &str) -> Reply {
    let message = step.config.messages().text(&step.lang, key);
    Reply::ok(serde_json::json!({ "message": message }))
}

/// `404` for a forged, unknown, used or expired reset token.
fn invalid_token(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        404,
        "pow_reset_password_invalid_token",
    )
    .with_code("invalid_token")
}

/// The signed token in the path.
fn signed_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|path| path.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// `POST <prefix>/reset-password`: mails a reset link if an account has the address.
async fn create(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &ResetPassword,
) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let params = user_params(call.body())
        .ok_or_else(|| ApiError::invalid_request(Some(&config), &step.lang))?;
    let email = params.get("email").map_or("", String::as_str);
    ApiError::check_email(&config, &step.lang, "email", email)?;
    let facts = call.facts();
    let link = |signed: &str| mailed_link(ext, &*call, &config, signed);
    let key = match flow::request_link(&facts, &config, ext, &step.lang, email, link).await? {
        Requested::Known => "pow_reset_password_email_has_been_sent",
        Requested::Unknown if !config.prevent_user_enumeration() => {
            return Err(ApiError::translated(
                Some(&config),
                &step.lang,
                404,
                "pow_reset_password_user_not_found",
            )
            .with_code("user_not_found"));
        }
        Requested::Unknown => "pow_reset_password_maybe_email_has_been_sent",
    };
    Ok(done(step, key))
}

/// `GET <prefix>/reset-password/{token}`: whether the token still works.
async fn show(
    step: &mut Step,
    _call: &mut dyn ApiClient,
    ext: &ResetPassword,
) -> Result<Reply, ApiError> {
    let config = &step.config;
    let loaded = flow::check_token(config, ext, &signed_token(step)).await?;
    if loaded.is_none() {
        return Err(invalid_token(step));
    }
    Ok(Reply::ok(serde_json::json!({})))
}

/// `PATCH|PUT <prefix>/reset-password/{token}`: sets the new password.
async fn update(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &ResetPassword,
) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let params = user_params(call.body())
        .ok_or_else(|| ApiError::invalid_request(Some(&config), &step.lang))?;
    let facts = call.facts();
    let source: &dyn pow_core::request::RequestSource = &facts;
    let scope = (&config, source, &step.lang);
    let token = signed_token(step);
    let Some(reset) = flow::reset_with_token(scope, ext, &token, &params).await? else {
        return Err(invalid_token(step));
    };
    match reset {
        Reset::Done(user) => {
            step.user = Some(user);
            Ok(done(step, "pow_reset_password_password_has_been_reset"))
        }
        Reset::Invalid(changeset) => Err(ApiError::validation(
            &config,
            &step.lang,
            "pow_reset_password_password_not_updated",
            &changeset,
        )),
        Reset::TokenGone => Err(invalid_token(step)),
    }
}

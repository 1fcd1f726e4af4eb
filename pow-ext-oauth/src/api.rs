//! The JSON side, on the engine, for apps and single-page clients that open the provider's
//! page themselves: ask for the authorization URL, then trade the code the provider sent
//! to the client's redirect URI for a token pair. Its routes ([`api_routes`]) are the
//! engine's, which every framework mounts under the API prefix.
//!
//! - `POST <prefix>/auth/{provider}/authorize` (`{"redirect_uri": "..."}`, one of
//!   [`OAuth::api_redirect_uri`](crate::OAuth::api_redirect_uri); the first when left out)
//!   answers `{"data": {"url", "state"}}`.
//! - `POST <prefix>/auth/{provider}/callback` (`{"code", "state"}`) answers a token pair
//!   for the linked user, or for a user signed up from the profile. The state works once
//!   and only here (a browser's state is refused, and the other way round).

use std::sync::Arc;

use pow_core::api::routes::{json_body, ApiClient, ApiRoute, Reply};
use pow_core::api::{ApiAction, ApiError};
use pow_core::messages::MessageArg;
use pow_core::pages::routes::{PathParams, Verb};
use pow_core::pipeline::Step;
use pow_core::PowError;
use serde::Deserialize;
use serde_json::json;

use crate::flow::actions;
use crate::flow::{self, check_sign_up, create_linked_user, sign_up_params, Begin, SignUpCheck};
use crate::provider::Provider;
use crate::{OAuth, OAuthError};

/// The extension's JSON routes: the authorization URL, and the code traded for a pair.
pub(crate) fn api_routes(ext: &OAuth) -> Vec<ApiRoute> {
    let ext = Arc::new(ext.clone());
    vec![
        ApiRoute::new(
            Verb::Post,
            "/auth/{provider}/authorize",
            actions::API,
            pow_core::api_act!(ext, authorize),
        ),
        ApiRoute::new(
            Verb::Post,
            "/auth/{provider}/callback",
            actions::API,
            pow_core::api_act!(ext, callback),
        ),
    ]
}

#[derive(Deserialize, Default)]
struct AuthorizeBody {
    #[serde(default)]
    redirect_uri: Option<String>,
}

#[derive(Deserialize)]
struct CallbackBody {
    code: String,
    state: String,
}

/// The status and code the JSON side answers a refusal with, by its message key.
fn refusal(key: &str) -> (u16, &'static str) {
    match key {
        "pow_oauth_provider_unavailable" => (502, "provider_unavailable"),
        "pow_oauth_invalid_state" => (401, "invalid_state"),
        "pow_oauth_invalid_token" => (401, "invalid_id_token"),
        "pow_oauth_email_taken" => (409, "email_taken"),
        "pow_oauth_no_email" => (422, "no_email"),
        "pow_oauth_email_unverified" => (403, "email_unverified"),
        _ => (422, "sign_up_incomplete"),
    }
}

/// The refusal with message `key`, translated and naming the provider, with its status
/// and code ([`refusal`]).
fn error(step: &Step, key: &str, provider: &Provider) -> ApiError {
    let (status, code) = refusal(key);
    let text = step
        .config
        .messages()
        .message(
            &step.lang,
            key,
            &[("provider", MessageArg::from(provider.name()))],
        )
        .unwrap_or_else(|| key.to_owned());
    ApiError::new(status, text).with_code(code)
}

/// The provider of the path, or `404 not_found`.
fn provider(step: &Step, ext: &OAuth) -> Result<Provider, ApiError> {
    let id = step
        .assigns
        .get::<PathParams>()
        .and_then(|path| path.get("provider"))
        .unwrap_or_default();
    ext.find(id).cloned().ok_or_else(|| {
        ApiError::new(404, format!("no OAuth provider `{id}`")).with_code("not_found")
    })
}

/// `400 invalid_redirect_uri`: a redirect URI the setup does not allow, or none allowed.
fn invalid_redirect_uri(step: &Step) -> ApiError {
    ApiError::invalid_request(Some(&step.config), &step.lang).with_code("invalid_redirect_uri")
}

/// `POST <prefix>/auth/{provider}/authorize`: begins a sign-in for the client's redirect
/// URI, and answers the provider's authorization URL and the state it sends back.
async fn authorize(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &OAuth,
) -> Result<Reply, ApiError> {
    let provider = provider(step, ext)?;
    let body: AuthorizeBody = if call.body().iter().all(u8::is_ascii_whitespace) {
        AuthorizeBody::default()
    } else {
        json_body(&step.config, &step.lang, call.body())?
    };
    let redirect_uri = match body.redirect_uri {
        Some(uri) if ext.api_redirect_uris.contains(&uri) => uri,
        Some(_) => return Err(invalid_redirect_uri(step)),
        None => ext
            .api_redirect_uris
            .first()
            .cloned()
            .ok_or_else(|| invalid_redirect_uri(step))?,
    };
    let target = Begin {
        redirect_uri,
        link_user: None,
        request_path: None,
        api: true,
    };
    let Some(opened) = flow::open(&step.config, ext, &provider, target).await? else {
        return Err(error(step, "pow_oauth_provider_unavailable", &provider));
    };
    Ok(Reply::ok(
        json!({ "url": opened.url, "state": opened.state }),
    ))
}

/// `POST <prefix>/auth/{provider}/callback`: trades the provider's code for a token pair,
/// of the linked user or of a user signed up from the profile.
async fn callback(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &OAuth,
) -> Result<Reply, ApiError> {
    let provider = provider(step, ext)?;
    let body: CallbackBody = json_body(&step.config, &step.lang, call.body())?;
    let config = step.config.clone();
    let attempt = flow::take_attempt(&config, &body.state, &provider, true).await?;
    let Some(attempt) = attempt else {
        return Err(error(step, "pow_oauth_invalid_state", &provider));
    };
    let (profile, identity) =
        match flow::finish(&config, ext, &provider, &attempt, body.code).await? {
            Ok(found) => found,
            Err(OAuthError::InvalidIdToken(_)) => {
                return Err(error(step, "pow_oauth_invalid_token", &provider));
            }
            Err(_) => {
                return Err(error(step, "pow_oauth_provider_unavailable", &provider));
            }
        };
    let facts = call.facts();
    if let Some(identity) = identity {
        let user = flow::linked_user(&config, &identity)
            .await?
            .ok_or_else(|| error(step, "pow_oauth_invalid_state", &provider))?;
        if user.is_disabled() {
            return Err(PowError::AccountDisabled.into());
        }
        let session = call.signing_in(ApiAction::SignIn);
        let event = crate::events::SIGNED_IN;
        flow::sign_in(&config, &facts, &user, &provider, event, session).await?;
        return call.issued();
    }
    // An address the provider does not vouch for is linked only once proven in the
    // browser that signed up (staged sign-up, or the confirmation link opened there):
    // JSON clients have no such browser, and get the refusal of unverified addresses,
    // whether or not the address has an account.
    if !profile.email_verified {
        return Err(error(step, "pow_oauth_email_unverified", &provider));
    }
    let email = match check_sign_up(&config, &profile, false).await? {
        SignUpCheck::Create(email) => email,
        SignUpCheck::Refuse(key) => return Err(error(step, key, &provider)),
        SignUpCheck::Staged(_) => {
            return Err(error(step, "pow_oauth_email_unverified", &provider));
        }
    };
    let params = sign_up_params(&email, &profile);
    match create_linked_user(&config, &provider, &profile, params).await? {
        Ok(user) => {
            let session = call.signing_in(ApiAction::Registration);
            let event = crate::events::REGISTERED;
            flow::sign_in(&config, &facts, &user, &provider, event, session).await?;
            call.issued()
        }
        Err(key) => Err(error(step, key, &provider)),
    }
}

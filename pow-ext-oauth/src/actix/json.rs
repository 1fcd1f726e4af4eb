//! The JSON side, for apps and single-page clients that open the provider's page
//! themselves: ask for the authorization URL, then trade the code the provider sent to
//! the client's redirect URI for a token pair.
//!
//! - `POST <prefix>/auth/{provider}/authorize` (`{"redirect_uri": "..."}`, one of
//!   [`OAuth::api_redirect_uri`](crate::OAuth::api_redirect_uri); the first when left out)
//!   answers `{"data": {"url", "state"}}`.
//! - `POST <prefix>/auth/{provider}/callback` (`{"code", "state"}`) answers a token pair
//!   for the linked user, or for a user signed up from the profile. The state works once
//!   and only here (a browser's state is refused, and the other way round).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{ApiAction, ApiContext, ApiError, ApiExtension};
use pow_actix::messages::MessageArg;
use pow_actix::web::Controller;
use serde::Deserialize;
use serde_json::json;

use crate::flow::actions;
use crate::flow::{self, check_sign_up, create_linked_user, sign_up_params, Begin, SignUpCheck};
use crate::provider::Provider;
use crate::store::{Attempt, Records, ATTEMPT};
use crate::{OAuth, OAuthError, NAME};

/// The JSON side of [`OAuth`] (see the module docs of the crate).
#[derive(Clone, Debug)]
pub struct OAuthApi {
    ext: OAuth,
}

impl OAuthApi {
    pub(crate) fn new(ext: OAuth) -> Self {
        Self { ext }
    }
}

impl OAuth {
    /// The JSON side, to add to [`ApiOptions`](pow_actix::api::ApiOptions) when the config
    /// does not enable the extension itself.
    pub fn api(&self) -> OAuthApi {
        OAuthApi::new(self.clone())
    }
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

/// An error whose message names the provider.
/// The status and code the JSON side answers a refusal with, by its message key.
fn refusal(key: &str) -> (StatusCode, &'static str) {
    match key {
        "pow_oauth_provider_unavailable" => (StatusCode::BAD_GATEWAY, "provider_unavailable"),
        "pow_oauth_invalid_state" => (StatusCode::UNAUTHORIZED, "invalid_state"),
        "pow_oauth_invalid_token" => (StatusCode::UNAUTHORIZED, "invalid_id_token"),
        "pow_oauth_email_taken" => (StatusCode::CONFLICT, "email_taken"),
        "pow_oauth_no_email" => (StatusCode::UNPROCESSABLE_ENTITY, "no_email"),
        "pow_oauth_email_unverified" => (StatusCode::FORBIDDEN, "email_unverified"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "sign_up_incomplete"),
    }
}

/// The refusal with message `key`, translated, with its status and code ([`refusal`]).
fn error(ctl: &Controller, key: &str, provider: &Provider) -> ApiError {
    let (status, code) = refusal(key);
    let text = ctl
        .config
        .messages()
        .message(
            &ctl.lang,
            key,
            &[("provider", MessageArg::from(provider.name()))],
        )
        .unwrap_or_else(|| key.to_owned());
    ApiError::new(status, text).with_code(code)
}

fn provider(ext: &OAuth, id: &str) -> Result<Provider, ApiError> {
    ext.find(id).cloned().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no OAuth provider `{id}`"))
            .with_code("not_found")
    })
}

async fn authorize(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    id: web::Path<String>,
    ext: web::Data<OAuth>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API, async |ctl| {
        let provider = provider(&ext, &id)?;
        let body: AuthorizeBody = if body.iter().all(u8::is_ascii_whitespace) {
            AuthorizeBody::default()
        } else {
            pow_actix::api::json_body(&req, &body)?
        };
        let redirect_uri =
            match body.redirect_uri {
                Some(uri) if ext.api_redirect_uris.contains(&uri) => uri,
                Some(_) => {
                    return Err(ApiError::invalid_request(&req).with_code("invalid_redirect_uri"))
                }
                None => ext.api_redirect_uris.first().cloned().ok_or_else(|| {
                    ApiError::invalid_request(&req).with_code("invalid_redirect_uri")
                })?,
            };
        let target = Begin {
            redirect_uri,
            link_user: None,
            request_path: None,
            api: true,
        };
        let Some(opened) = flow::open(&ctl.config, &ext, &provider, target).await? else {
            return Err(error(ctl, "pow_oauth_provider_unavailable", &provider));
        };
        Ok(pow_actix::api::answer(
            actix_web::http::StatusCode::OK,
            json!({ "url": opened.url, "state": opened.state }),
        ))
    })
    .await
}

async fn callback(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    id: web::Path<String>,
    ext: web::Data<OAuth>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API, async |ctl| {
        let provider = provider(&ext, &id)?;
        let body: CallbackBody = pow_actix::api::json_body(&req, &body)?;
        let attempt = Records::new(&ctl.config)
            .take::<Attempt>(ATTEMPT, &body.state)
            .await?
            .filter(|a| a.api && a.provider == provider.id());
        let Some(attempt) = attempt else {
            return Err(error(ctl, "pow_oauth_invalid_state", &provider));
        };
        let (profile, identity) =
            match flow::finish(&ctl.config, &ext, &provider, &attempt, body.code).await? {
                Ok(found) => found,
                Err(OAuthError::InvalidIdToken(_)) => {
                    return Err(error(ctl, "pow_oauth_invalid_token", &provider));
                }
                Err(_) => {
                    return Err(error(ctl, "pow_oauth_provider_unavailable", &provider));
                }
            };
        if let Some(identity) = identity {
            let user = ctl
                .config
                .users()?
                .get(identity.user_id)
                .await?
                .ok_or_else(|| error(ctl, "pow_oauth_invalid_state", &provider))?;
            if user.is_disabled() {
                return Err(pow_actix::PowError::AccountDisabled.into());
            }
            let mut session = api.session(&req, ApiAction::SignIn);
            let event = crate::events::SIGNED_IN;
            crate::flow::sign_in(
                &ctl.config,
                &pow_actix::web::ActixRequest(&req).facts(),
                &user,
                &provider,
                event,
                &mut *session,
            )
            .await?;
            return api.issued(&req, &session);
        }
        // An address the provider does not vouch for is linked only once proven in the
        // browser that signed up (staged sign-up, or the confirmation link opened
        // there): JSON clients have no such browser, and get the refusal of unverified
        // addresses, whether or not the address has an account.
        if !profile.email_verified {
            return Err(error(ctl, "pow_oauth_email_unverified", &provider));
        }
        let email = match check_sign_up(&ctl.config, &profile, false).await? {
            SignUpCheck::Create(email) => email,
            SignUpCheck::Refuse(key) => return Err(error(ctl, key, &provider)),
            SignUpCheck::Staged(_) => {
                return Err(error(ctl, "pow_oauth_email_unverified", &provider));
            }
        };
        let params = sign_up_params(&email, &profile);
        match create_linked_user(&ctl.config, &provider, &profile, params).await? {
            Ok(user) => {
                let mut session = api.session(&req, ApiAction::Registration);
                let event = crate::events::REGISTERED;
                crate::flow::sign_in(
                    &ctl.config,
                    &pow_actix::web::ActixRequest(&req).facts(),
                    &user,
                    &provider,
                    event,
                    &mut *session,
                )
                .await?;
                api.issued(&req, &session)
            }
            Err(key) => Err(error(ctl, key, &provider)),
        }
    })
    .await
}

impl ApiExtension for OAuthApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../../openapi.json"))
    }

    fn hooks(&self) -> Option<&dyn pow_actix::api::TokenHooks> {
        Some(&self.ext)
    }

    fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
        let data = web::Data::new(self.ext.clone());
        cfg.service(
            api.resource("/auth/{provider}/authorize")
                .app_data(data.clone())
                .route(web::post().to(authorize)),
        )
        .service(
            api.resource("/auth/{provider}/callback")
                .app_data(data)
                .route(web::post().to(callback)),
        );
    }
}

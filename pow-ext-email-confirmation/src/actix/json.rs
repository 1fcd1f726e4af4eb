//! The JSON endpoints and token hooks: [`EmailConfirmationApi`].

use actix_web::http::StatusCode;
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{ApiContext, ApiError, ApiExtension, LinkTemplate, TokenHooks};
use pow_actix::messages::LanguageIdentifier;
use pow_actix::users::User;
use pow_actix::PowConfig;
use serde_json::{json, Map, Value};

use crate::flows::{actions, confirm_link, refresh_sessions, Confirmation};
use crate::mail::Sent;
use crate::schema::{has_pending_change, is_unconfirmed, UNCONFIRMED_EMAIL_FIELD};
use crate::tokens::{NOT_CONFIRMED, SENT};
use crate::ConfirmationHooks;
use crate::{EmailConfirmation, NAME};

const CONFIRMED: &str = "pow_email_confirmation_email_has_been_confirmed";
const FAILED: &str = "pow_email_confirmation_email_confirmation_failed";
const INVALID: &str = "pow_email_confirmation_invalid_token";
const REQUIRED_FOR_UPDATE: &str = "pow_email_confirmation_email_confirmation_required_for_update";

/// The email-confirmation extension's side of the JSON API, an [`ApiExtension`]: made
/// with [`EmailConfirmation::api`] and added with
/// [`ApiOptions::extension`](pow_actix::api::ApiOptions::extension). See the
/// [crate docs](crate#json-api).
///
/// The [`EmailConfirmation`] it was made from must be enabled in the config too (it
/// brings the columns, the changeset rules and the texts); the endpoints use its settings
/// (strict or soft, link lifetime, resend limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailConfirmationApi {
    hooks: ConfirmationHooks,
}

impl EmailConfirmation {
    /// The JSON side of this extension, with its settings. Clone the value you enable in
    /// the config, so both agree.
    pub fn api(&self) -> EmailConfirmationApi {
        EmailConfirmationApi {
            hooks: ConfirmationHooks::new(self.clone(), None),
        }
    }
}

impl EmailConfirmationApi {
    /// Where the link in confirmation mails sent by the API points. The default value is
    /// `None`: the config's [`frontend_link`](pow_actix::PowConfigBuilder::frontend_link)
    /// for [`LINK`](crate::LINK) (which mails sent from the pages follow too), else the
    /// extension's HTML route, `<base_url><mount path>/confirm-email/<token>`,
    /// which needs [`pow_actix::web::configure`] mounted. An app without HTML pages points
    /// the link at its client instead, e.g.
    /// `https://app.example.com/confirm-email?token={token}`; the client then sends the
    /// token to `POST <prefix>/confirm-email/{token}`.
    pub fn link_template(mut self, template: LinkTemplate) -> Self {
        self.hooks.link = Some(template);
        self
    }

    /// The settings of the extension.
    pub fn settings(&self) -> &EmailConfirmation {
        &self.hooks.ext
    }

    /// Mails the confirmation link (rate limited per address, as on the HTML side).
    async fn send(
        &self,
        req: &HttpRequest,
        config: &PowConfig,
        lang: &LanguageIdentifier,
        user: User,
    ) -> Result<Sent, ApiError> {
        self.hooks
            .send(
                &pow_actix::web::ActixRequest(req).facts(),
                config,
                lang,
                user,
            )
            .await
            .map_err(|err| ApiError::from_pow(req, err))
    }
}

fn text(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> String {
    config.messages().text(lang, key)
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

/// `200 {"status": 200, "data": {...}}`, never cached.
fn ok(data: Map<String, Value>) -> HttpResponse {
    pow_actix::api::answer(StatusCode::OK, data)
}

impl ApiExtension for EmailConfirmationApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../../openapi.json"))
    }

    fn configure(&self, cfg: &mut ServiceConfig, api: &ApiContext) {
        if !api.config().extensions().contains(NAME) {
            tracing::error!(
                "the email-confirmation JSON endpoints need the EmailConfirmation extension \
                 in the config too (PowConfigBuilder::extension), for its columns and texts"
            );
        }
        let this = web::Data::new(self.clone());
        cfg.service(
            api.resource("/confirm-email")
                .app_data(this.clone())
                .route(web::get().to(show))
                .route(web::post().to(resend)),
        )
        .service(
            api.resource("/confirm-email/cancel/{token}")
                .route(web::post().to(cancel_token)),
        )
        .service(
            api.resource("/confirm-email/{token}")
                .app_data(this)
                .route(web::post().to(confirm_token)),
        );
    }

    fn hooks(&self) -> Option<&dyn TokenHooks> {
        Some(&self.hooks)
    }
}

/// The signed-in user of an API request, freshly read; `401` without one.
async fn signed_in(req: &HttpRequest, api: &ApiContext) -> Result<User, ApiError> {
    let Some(current) = api.current_session(req).await? else {
        return Err(ApiError::not_authenticated(req));
    };
    api.config()
        .users()?
        .get(current.user.id)
        .await?
        .ok_or_else(|| ApiError::not_authenticated(req))
}

/// `GET <prefix>/confirm-email`: the signed-in user's confirmation state.
async fn show(req: HttpRequest, api: ApiContext) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_SHOW, async |ctl| {
        let user = signed_in(&req, &api).await?;
        let mut data = status(&user);
        if let Some(key) = status_message(&user) {
            data.insert("message".into(), json!(text(&ctl.config, &ctl.lang, key)));
        }
        Ok(ok(data))
    })
    .await
}

/// `POST <prefix>/confirm-email`: mails the signed-in user's link again (to the pending
/// new address if there is one), within the resend limit. Over the limit the answer is
/// the same, without a mail, as on the HTML side.
async fn resend(
    req: HttpRequest,
    api: ApiContext,
    this: web::Data<EmailConfirmationApi>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_RESEND, async |ctl| {
        let user = signed_in(&req, &api).await?;
        let (config, lang) = (&ctl.config, &ctl.lang);
        let pending = has_pending_change(&user);
        let mut data = status(&user);
        match this.send(&req, config, lang, user).await? {
            Sent::Delivered(_) | Sent::Limited => {
                let key = if pending { REQUIRED_FOR_UPDATE } else { SENT };
                data.insert("message".into(), json!(text(config, lang, key)));
            }
            Sent::NothingToConfirm => {}
        }
        Ok(ok(data))
    })
    .await
}

/// `POST <prefix>/confirm-email/cancel/{token}`: drops the pending address change the
/// token (from the notice mailed to the current address) names, as the notice's page
/// does; `200` with the account's state, or `404 invalid_token` for a forged, used or
/// superseded token. Needs no access token.
async fn cancel_token(
    req: HttpRequest,
    api: ApiContext,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_CANCEL, async |ctl| {
        let config = api.config();
        // The signature is checked before any lookup.
        let cancelled = match config
            .verifier()
            .verify_token(crate::cancel::CANCEL_SALT, &token)
        {
            None => None,
            Some(token) => crate::cancel::cancel_pending(config, &token).await?,
        };
        let Some(user) = cancelled else {
            return Err(ApiError::translated(&req, StatusCode::NOT_FOUND, INVALID)
                .with_code("invalid_token"));
        };
        refresh_sessions(config, &user).await?;
        let data = status(&user);
        ctl.user = Some(user);
        Ok(ok(data))
    })
    .await
}

/// `POST <prefix>/confirm-email/{token}`: confirms the address the token was issued for.
/// Needs no access token; it does not sign the user in.
async fn confirm_token(
    req: HttpRequest,
    api: ApiContext,
    this: web::Data<EmailConfirmationApi>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_CONFIRM, async |ctl| {
        let config = api.config();
        let source = pow_actix::web::ActixRequest(&req).facts();
        let by = pow_actix::extension::ProvenBy::ConfirmationToken;
        let outcome = confirm_link(&mut ctl.step, &source, &this.hooks.ext, &token, by).await?;
        match outcome {
            Confirmation::Invalid => {
                Err(ApiError::translated(&req, StatusCode::NOT_FOUND, INVALID)
                    .with_code("invalid_token"))
            }
            Confirmation::Taken => {
                Err(ApiError::translated(&req, StatusCode::CONFLICT, FAILED)
                    .with_code("email_taken"))
            }
            Confirmation::Confirmed { user, .. } => {
                let mut data = status(&user);
                data.insert("message".into(), json!(text(config, &ctl.lang, CONFIRMED)));
                Ok(ok(data))
            }
        }
    })
    .await
}

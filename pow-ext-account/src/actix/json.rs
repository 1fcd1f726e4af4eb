//! The JSON endpoints still on actix: reopen and export. (Closing is the engine's,
//! `crate::api`.) They wait on the engine for a reply that is a download (the export) and
//! for a CAPTCHA that only a password check asks for (reopening).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{ApiContext, ApiError, ApiExtension};
use pow_actix::web::Action;
use serde::Deserialize;
use serde_json::json;

use crate::{Account, NAME};

use crate::flows::{actions, stored};

/// The actix JSON side of [`Account`] (closing is on the engine, served on every
/// framework):
/// - `POST <prefix>/account/reactivate` with the user id and password (or `{"token"}` from
///   the mailed link): reopens a closed account; `200 {"reactivated": true}`, then sign in.
///   The password check asks for the CAPTCHA when the setup has one, and an open account
///   is answered as wrong credentials are (`401 invalid_credentials`);
/// - `GET <prefix>/account/export` (sudo mode, rate-limited): the export document.
#[derive(Clone, Debug)]
pub struct AccountApi {
    ext: Account,
}

impl AccountApi {
    pub(crate) fn new(ext: Account) -> Self {
        Self { ext }
    }
}

#[derive(Deserialize)]
struct ReactivateBody {
    token: Option<String>,
}

async fn api_reactivate(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<Account>,
) -> Result<HttpResponse, ApiError> {
    let by_link: ReactivateBody = pow_actix::api::json_body(&req, &body)?;
    let params =
        pow_actix::api::user_params(&body).ok_or_else(|| ApiError::invalid_request(&req))?;
    let action = Action::new(actions::API_REACTIVATE).params(params);
    // A password check is a sign-in's: it asks for the CAPTCHA as a sign-in does. The
    // mailed link's token checks no password.
    let action = match by_link.token {
        Some(_) => action,
        None => action.captcha(),
    };
    api.run_action(&req, action, async |ctl| {
        let config = ctl.config.clone();
        let (user, by) = match &by_link.token {
            Some(token) => {
                let Some(user) = ext.find_by_link(&config, token).await? else {
                    return Err(ApiError::translated(
                        &req,
                        StatusCode::UNAUTHORIZED,
                        "pow_account_invalid_link",
                    )
                    .with_code("invalid_token"));
                };
                (user, "link")
            }
            None => {
                let Some(user) = config.users()?.authenticate(ctl.params.clone()).await? else {
                    return Err(ApiError::invalid_credentials(&req, &config));
                };
                if !user.is_closed() {
                    // Answered as a wrong password: otherwise this route would tell, without
                    // the sign-in's second factor, whether a password is right.
                    return Err(ApiError::invalid_credentials(&req, &config));
                }
                (user, "sign_in")
            }
        };
        let user = ext.reactivate(&config, &user, by).await?;
        ctl.user = Some(user);
        Ok(pow_actix::api::answer(
            StatusCode::OK,
            json!({ "reactivated": true }),
        ))
    })
    .await
}

async fn api_export(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<Account>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let action = Action::new(actions::API_EXPORT).sudo();
    api.run_action(&req, action, async |ctl| {
        let user = stored(&ctl.config, current.user.id).await?;
        Ok(download(&ext.export(&ctl.config, &user).await?))
    })
    .await
}

impl ApiExtension for AccountApi {
    fn name(&self) -> &'static str {
        NAME
    }

    // The whole fragment, as the engine side registers it: this side takes its place on
    // actix-web.
    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../../openapi.json"))
    }

    fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
        let data = web::Data::new(self.ext.clone());
        cfg.service(
            api.resource("/account/reactivate")
                .app_data(data.clone())
                .route(web::post().to(api_reactivate)),
        )
        .service(
            api.resource("/account/export")
                .app_data(data)
                .route(web::get().to(api_export)),
        );
    }
}

/// The export as a download: `pow-account-export.json`, never cached.
fn download(export: &serde_json::Value) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .insert_header(pow_actix::web::no_store())
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            pow_core::pages::Answer::attachment("pow-account-export.json"),
        ))
        .content_type("application/json")
        .body(export.to_string())
}

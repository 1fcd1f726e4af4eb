//! The pages (actix): the confirmation link, and the cancel link of a pending address
//! change.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::extension::ProvenBy;
use pow_actix::views::{Form, PageBody};
use pow_actix::web::{flash, render_page, Action, Controller, FormData, Outcome, Page};
use pow_actix::PowConfig;

use crate::cancel::{cancel_pending, CANCEL_PATH, CANCEL_SALT};
use crate::flows::{actions, confirm_link, Confirmation};
use crate::{EmailConfirmation, CONFIRM_PATH, NAME};

/// Registers the route on `cfg`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &EmailConfirmation) {
    cfg.service(
        web::resource(config.routes().extension_route(NAME, CONFIRM_PATH))
            .app_data(web::Data::new(ext.clone()))
            .route(web::get().to(confirm_email)),
    );
}

/// Confirms the address the token was issued for, signed in or out. Redirects to the
/// account page when someone is signed in, else to sign-in, with a flash saying how it
/// went. The user's sessions, the signed-in one too, see the confirmed address; none is
/// restarted or made fresh (sudo mode still asks for the password).
async fn confirm_email(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<EmailConfirmation>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SHOW)
        .run(&req, async |ctl| {
            let config = ctl.config.clone();
            let ctx = ctl.routes_ctx();
            let target = if ctl.current_user.is_some() {
                config.routes().registration_path(&ctx, "edit")
            } else {
                config.routes().session_path(&ctx, "new")
            };
            let source = pow_actix::web::ActixRequest(&ctl.req).facts();
            let by = ProvenBy::ConfirmationLink;
            match confirm_link(&mut ctl.step, &source, &ext, &token, by).await? {
                Confirmation::Invalid => flash::put_error(
                    &ctl.req,
                    ctl.message("pow_email_confirmation_invalid_token"),
                ),
                Confirmation::Taken => flash::put_error(
                    &ctl.req,
                    ctl.message("pow_email_confirmation_email_confirmation_failed"),
                ),
                Confirmation::Confirmed { .. } => {
                    let text = ctl.message("pow_email_confirmation_email_has_been_confirmed");
                    flash::put_info(&ctl.req, text);
                }
            }
            Ok(Outcome::redirect(&target))
        })
        .await
}

/// The cancel actions, as extension callbacks see them.
mod cancel_actions {
    use pow_actix::pipeline::{ActionId, ActionKind};

    /// `GET /confirm-email/cancel/{token}`: the page with the cancel button.
    pub const SHOW: ActionId = ActionId::new("confirmation_cancel", "show", ActionKind::Other);
    /// `POST /confirm-email/cancel/{token}`: drop the pending change.
    pub const CANCEL: ActionId = ActionId::new("confirmation_cancel", "delete", ActionKind::Other);
}

/// Registers the routes on `cfg`.
pub(crate) fn configure_cancel(cfg: &mut web::ServiceConfig, config: &PowConfig) {
    cfg.service(
        web::resource(config.routes().extension_route(NAME, CANCEL_PATH))
            .route(web::get().to(show))
            .route(web::post().to(cancel)),
    );
}

fn path(config: &PowConfig, token: &str) -> String {
    pow_actix::web::extension_path(config, NAME, CANCEL_PATH, &[("token", token)])
}

async fn show(req: HttpRequest, token: web::Path<String>) -> pow_actix::Result<HttpResponse> {
    Action::new(cancel_actions::SHOW)
        .run(&req, async |_| {
            let token = token.into_inner();
            Ok(Outcome::render(move |ctl: &Controller| {
                let form = Form::new(
                    path(&ctl.config, &token),
                    ctl.text("notice-cancel-email-change"),
                    "",
                );
                let body = PageBody::Form {
                    form,
                    links: Vec::new(),
                    extra_forms: Vec::new(),
                };
                render_page(
                    &ctl.req,
                    &ctl.config,
                    &ctl.lang,
                    Page::new(
                        "email_confirmation/cancel",
                        "pow_email_confirmation_title_cancel",
                        body,
                    ),
                )
            }))
        })
        .await
}

async fn cancel(
    req: HttpRequest,
    body: Bytes,
    token: web::Path<String>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(cancel_actions::CANCEL)
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let config = ctl.config.clone();
            // The signature is checked before any lookup.
            let cancelled = match config.verifier().verify_token(CANCEL_SALT, &token) {
                None => None,
                Some(token) => cancel_pending(&config, &token).await?,
            };
            let target = match &ctl.current_user {
                Some(_) => config.routes().registration_path(&ctl.routes_ctx(), "edit"),
                None => config.routes().session_path(&ctl.routes_ctx(), "new"),
            };
            match cancelled {
                Some(user) => {
                    crate::flows::refresh_sessions(&config, &user).await?;
                    flash::put_info(
                        &ctl.req,
                        ctl.message("pow_email_confirmation_change_cancelled"),
                    );
                }
                None => flash::put_error(
                    &ctl.req,
                    ctl.message("pow_email_confirmation_invalid_token"),
                ),
            }
            Ok(Outcome::redirect(&target))
        })
        .await
}

//! Cancelling a pending email change from the current address.
//!
//! When an account edit leaves a new address waiting in `unconfirmed_email`, the current
//! address gets a security notice with a cancel link. The link carries the pending
//! change's token, signed with [`CANCEL_SALT`], so it cancels that change and no other: a
//! newer change has a new token and a notice of its own. Opening the link shows a button
//! (mail scanners that follow links cancel nothing); pressing it drops the change.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_core::mailer::{send_notice_with_link, Notice};
use pow_core::messages::LanguageIdentifier;
use pow_core::token::secure_compare;
use pow_core::users::{run_blocking, Changes, User, Value, WriteError};
use pow_core::views::{Form, PageBody};
use pow_core::web::{flash, render_page, Action, Controller, FormData, Outcome, Page};
use pow_core::{PowConfig, PowError};

use crate::schema::{
    has_pending_change, EMAIL_FIELD, TOKEN_FIELD, TOKEN_SENT_AT_FIELD, UNCONFIRMED_EMAIL_FIELD,
};
use crate::NAME;

/// The signing salt of cancel links (distinct from confirmation links).
pub const CANCEL_SALT: &str = "pow_email_confirmation cancel";

/// The cancel link's route, relative to the mount path.
pub(crate) const CANCEL_PATH: &str = "/confirm-email/cancel/{token}";

/// The cancel actions, as extension callbacks see them.
pub(crate) mod actions {
    use pow_core::web::{ActionId, ActionKind};

    /// `GET /confirm-email/cancel/{token}`: the page with the cancel button.
    pub const SHOW: ActionId = ActionId::new("confirmation_cancel", "show", ActionKind::Other);
    /// `POST /confirm-email/cancel/{token}`: drop the pending change.
    pub const CANCEL: ActionId = ActionId::new("confirmation_cancel", "delete", ActionKind::Other);
}

/// Registers the routes on `cfg`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig) {
    cfg.service(
        web::resource(config.routes().extension_route(NAME, CANCEL_PATH))
            .route(web::get().to(show))
            .route(web::post().to(cancel)),
    );
}

/// Mails the current address of `user` (whose change to `unconfirmed_email` waits) the
/// notice with the cancel link.
pub(crate) async fn notify_current_address(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    user: &User,
) {
    let (Some(current), Some(pending), Some(token)) = (
        user.get_str(EMAIL_FIELD),
        user.get_str(UNCONFIRMED_EMAIL_FIELD),
        user.get_str(TOKEN_FIELD),
    ) else {
        return;
    };
    let signed = config.verifier().sign_token(CANCEL_SALT, token);
    let url = config.url_for(
        req,
        &pow_core::web::extension_path(config, NAME, CANCEL_PATH, &[("token", &signed)]),
    );
    let label = config.messages().text(lang, "notice-cancel-email-change");
    let notice = Notice::EmailChangeRequested { new_email: pending };
    send_notice_with_link(config, req, lang, current, notice, Some((&label, &url))).await;
}

fn path(config: &PowConfig, token: &str) -> String {
    pow_core::web::extension_path(config, NAME, CANCEL_PATH, &[("token", token)])
}

async fn show(req: HttpRequest, token: web::Path<String>) -> Result<HttpResponse, PowError> {
    Action::new(actions::SHOW)
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
) -> Result<HttpResponse, PowError> {
    Action::new(actions::CANCEL)
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let config = ctl.config.clone();
            // The signature is checked before any lookup.
            let cancelled = match config.verifier().verify_token(CANCEL_SALT, &token) {
                None => None,
                Some(token) => {
                    let cfg = config.clone();
                    run_blocking(move || cancel_change(&cfg, &token)).await?
                }
            };
            let target = match &ctl.current_user {
                Some(_) => config.routes().registration_path(&ctl.routes_ctx(), "edit"),
                None => config.routes().session_path(&ctl.routes_ctx(), "new"),
            };
            match cancelled {
                Some(user) => {
                    crate::controller::refresh_sessions(&config, &user).await?;
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

/// Drops the pending change the token belongs to; `None` when there is none (a used,
/// superseded or unknown token). Blocking.
pub(crate) fn cancel_change(config: &PowConfig, token: &str) -> Result<Option<User>, PowError> {
    let users = config.users()?;
    let Some(user) = users.get_by(config, TOKEN_FIELD, &Value::from(token))? else {
        return Ok(None);
    };
    let stored = user.get_str(TOKEN_FIELD).unwrap_or_default();
    if !secure_compare(stored.as_bytes(), token.as_bytes()) || !has_pending_change(&user) {
        return Ok(None);
    }
    let changes: Changes = [
        (UNCONFIRMED_EMAIL_FIELD.to_owned(), Value::Null),
        (TOKEN_FIELD.to_owned(), Value::Null),
        (TOKEN_SENT_AT_FIELD.to_owned(), Value::Null),
    ]
    .into_iter()
    .collect();
    match users.update_fields(config, &user, &changes) {
        Ok(user) => Ok(Some(user)),
        Err(WriteError::Other(err)) => Err(err),
        Err(err) => Err(PowError::Database(err.to_string())),
    }
}

//! Sudo mode's password confirmation: `GET|POST /session/confirm`.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use super::action::{Action, Outcome};
use super::actions::{SESSION_CONFIRM, SESSION_CONFIRM_CREATE};
use super::callbacks::Controller;
use super::forms::{field, form};
use super::pages::{render_page, Page};
use super::params::FormData;
use crate::session;
use crate::views::{FieldType, PageBody};

fn confirm_page(ctl: &Controller, error: Option<String>) -> crate::error::PowResult<HttpResponse> {
    let ctx = ctl.routes_ctx();
    let action = super::returning_to(
        ctl.config.routes().session_path(&ctx, "confirm"),
        ctl.request_path.as_deref(),
    );
    let mut password = field(
        &ctl.config,
        &ctl.lang,
        "password",
        FieldType::Password,
        None,
        None,
    );
    password.autocomplete = Some("current-password");
    password.required = true;
    let body = PageBody::Form {
        form: form(
            &ctl.req,
            action,
            None,
            vec![password],
            ctl.text("button-confirm"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    let mut page = Page::new(
        crate::views::PageId::SESSION_CONFIRM,
        "title-confirm-password",
        body,
    );
    page.error = error;
    page.info = Some(ctl.text("confirm_password_intro"));
    render_page(&ctl.req, &ctl.config, &ctl.lang, page)
}

pub(super) async fn show(req: HttpRequest) -> crate::Result<HttpResponse> {
    Action::new(SESSION_CONFIRM)
        .signed_in()
        .run(&req, async |_| {
            Ok(Outcome::render(|ctl: &Controller| confirm_page(ctl, None)))
        })
        .await
}

pub(super) async fn create(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    Action::new(SESSION_CONFIRM_CREATE)
        .signed_in()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let password = ctl.params.get("password").cloned().unwrap_or_default();
            if let Some(proved) =
                crate::flows::reauthenticate(&ctl.config, &user, &password).await?
            {
                session::mark_fresh(&ctl.req).await?;
                ctl.user = Some(proved);
                let path = ctl.config.routes().after_sign_in_path(&ctl.routes_ctx());
                return Ok(Outcome::redirect(&path));
            }
            Ok(Outcome::render(|ctl: &Controller| {
                confirm_page(ctl, Some(ctl.text("confirm_password_invalid")))
            }))
        })
        .await
}

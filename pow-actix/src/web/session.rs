//! The session controller (Pow's `SessionController`): sign in and sign out.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use super::action::{Action, Outcome};
use super::actions::{SESSION_CREATE, SESSION_DELETE, SESSION_NEW};
use super::callbacks::Controller;
use super::flash;
use super::forms::{field, form, user_id_kind};
use super::pages::{render_page, Page};
use super::params::FormData;
use crate::flows::{self, SignIn};
use crate::session::CookieSessionHandle;
use crate::views::{FieldType, Link, PageBody};

/// The sign-in page, with the submitted user id and an error after a failed attempt.
fn sign_in_page(ctl: &Controller, error: Option<String>) -> crate::error::PowResult<HttpResponse> {
    let (req, config, lang) = (&ctl.req, &ctl.config, &ctl.lang);
    let ctx = ctl.routes_ctx();
    let mut action = config.routes().session_path(&ctx, "create");
    if let Some(rp) = ctl.request_path.as_deref() {
        action.push('?');
        action.push_str(&serde_urlencoded::to_string([("request_path", rp)]).unwrap_or_default());
    }
    let uid = config.user_id_field();
    let mut pw = field(config, lang, "password", FieldType::Password, None, None);
    pw.autocomplete = Some("current-password");
    let user_id = field(
        config,
        lang,
        uid,
        user_id_kind(config),
        ctl.params.get(uid).map(String::as_str),
        None,
    );
    let body = PageBody::Form {
        form: form(
            req,
            action,
            None,
            vec![user_id, pw],
            ctl.text("button-sign-in"),
        ),
        links: vec![Link {
            href: config.routes().registration_path(&ctx, "new"),
            label: ctl.text("link-register"),
        }],
        extra_forms: Vec::new(),
    };
    let mut page =
        Page::new(crate::views::PageId::SESSION_NEW, "title-sign-in", body).with_captcha();
    page.error = error;
    render_page(req, config, lang, page)
}

pub(super) async fn new(req: HttpRequest) -> crate::Result<HttpResponse> {
    Action::new(SESSION_NEW)
        .signed_out()
        .run(&req, async |_| {
            Ok(Outcome::render(|ctl: &Controller| sign_in_page(ctl, None)))
        })
        .await
}

pub(super) async fn post(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    let form = FormData::parse(&body);
    if form.method_override().as_deref() == Some("DELETE") {
        return delete_form(req, form).await;
    }
    Action::new(SESSION_CREATE)
        .signed_out()
        .captcha()
        .form(form)
        .run(&req, async |ctl| {
            let mut session = CookieSessionHandle::new(&ctl.req);
            let params = ctl.params.clone();
            let outcome = flows::sign_in(
                &ctl.config,
                &crate::web::ActixRequest(&ctl.req).facts(),
                params,
                &mut *session,
            )
            .await;
            session.write_back();
            match outcome? {
                SignIn::SignedIn(user) => {
                    flash::put_info(&ctl.req, ctl.config.messages().signed_in(&ctl.lang));
                    ctl.user = Some(user);
                    let path = ctl.config.routes().after_sign_in_path(&ctl.routes_ctx());
                    Ok(Outcome::redirect(&path))
                }
                // The password was right, but an admin disabled the account: say so.
                SignIn::Disabled => Ok(Outcome::render(|ctl: &Controller| {
                    sign_in_page(ctl, Some(ctl.text("account_disabled")))
                })),
                // The password was right for a closed account: an extension's callback
                // offers reactivation; without one, the page says it is closed.
                SignIn::Closed(user) => {
                    ctl.assigns.insert(flows::ClosedSignIn(user));
                    Ok(Outcome::render(|ctl: &Controller| {
                        sign_in_page(ctl, Some(ctl.text("account_closed")))
                    }))
                }
                SignIn::InvalidCredentials => Ok(Outcome::render(|ctl: &Controller| {
                    let error = ctl.config.messages().invalid_credentials(&ctl.lang);
                    sign_in_page(ctl, error)
                })),
            }
        })
        .await
}

pub(super) async fn delete(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    delete_form(req, FormData::parse(&body)).await
}

async fn delete_form(req: HttpRequest, form: FormData) -> crate::Result<HttpResponse> {
    Action::new(SESSION_DELETE)
        .signed_in()
        .form(form)
        .run(&req, async |ctl| {
            flows::sign_out(&ctl.config, &mut *CookieSessionHandle::new(&ctl.req)).await?;
            flash::put_info(&ctl.req, ctl.config.messages().signed_out(&ctl.lang));
            ctl.user = ctl.current_user.clone();
            let path = ctl.config.routes().after_sign_out_path(&ctl.routes_ctx());
            Ok(Outcome::redirect(&path))
        })
        .await
}

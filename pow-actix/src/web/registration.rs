//! The registration controller (Pow's `RegistrationController`): sign up, edit and
//! delete the account.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use super::action::{Action, Outcome};
use super::actions::{
    REGISTRATION_CREATE, REGISTRATION_DELETE, REGISTRATION_EDIT, REGISTRATION_NEW,
    REGISTRATION_UPDATE,
};
use super::callbacks::{redirect, Controller};
use super::flash;
use super::forms::{extra_fields, field, form, new_password_fields, user_id_field};
use super::pages::{render_page, Page};
use super::params::FormData;
use crate::error::PowError;
use crate::flows::{self, AccountDeletion, AccountUpdate, SignUp};
use crate::session::{self, CookieSessionHandle};
use crate::users::User;
use crate::views::{FieldType, Link, PageBody};

/// The sign-up page, with the submitted values and the changeset's errors.
fn registration_page(ctl: &Controller) -> crate::error::PowResult<HttpResponse> {
    let (req, config, lang) = (&ctl.req, &ctl.config, &ctl.lang);
    let cs = ctl.changeset.as_ref();
    let ctx = ctl.routes_ctx();
    let mut fields = vec![user_id_field(config, lang, &ctl.params, None, cs)];
    fields.extend(extra_fields(config, lang, &ctl.params, cs, None));
    fields.extend(new_password_fields(config, lang, cs, true));
    let body = PageBody::Form {
        form: form(
            req,
            config.routes().registration_path(&ctx, "create"),
            None,
            fields,
            ctl.text("button-register"),
        ),
        links: vec![Link {
            href: config.routes().session_path(&ctx, "new"),
            label: ctl.text("link-sign-in"),
        }],
        extra_forms: Vec::new(),
    };
    render_page(
        req,
        config,
        lang,
        Page::new(
            crate::views::PageId::REGISTRATION_NEW,
            "title-register",
            body,
        )
        .with_captcha(),
    )
}

/// The account page of `user`, with the submitted values and the changeset's errors.
fn edit_page(ctl: &Controller, user: &User) -> crate::error::PowResult<HttpResponse> {
    let (req, config, lang) = (&ctl.req, &ctl.config, &ctl.lang);
    let cs = ctl.changeset.as_ref();
    let mut fields = Vec::new();
    if user.password_hash.is_some() {
        fields.push(field(
            config,
            lang,
            "current_password",
            FieldType::Password,
            None,
            cs,
        ));
    }
    fields.push(user_id_field(config, lang, &ctl.params, Some(user), cs));
    fields.extend(extra_fields(config, lang, &ctl.params, cs, Some(user)));
    fields.extend(new_password_fields(config, lang, cs, false));
    let action = config
        .routes()
        .registration_path(&ctl.routes_ctx(), "update");
    let delete = form(
        req,
        action.clone(),
        Some("DELETE"),
        Vec::new(),
        ctl.text("button-delete-account"),
    );
    let body = PageBody::Form {
        form: form(
            req,
            action,
            Some("PATCH"),
            fields,
            ctl.text("button-update"),
        ),
        links: vec![
            Link {
                href: config
                    .routes()
                    .registration_path(&ctl.routes_ctx(), "sessions"),
                label: ctl.text("link-sessions"),
            },
            Link {
                href: config
                    .routes()
                    .registration_path(&ctl.routes_ctx(), "activity"),
                label: ctl.text("link-activity"),
            },
        ],
        extra_forms: vec![delete],
    };
    render_page(
        req,
        config,
        lang,
        Page::new(
            crate::views::PageId::REGISTRATION_EDIT,
            "title-edit-account",
            body,
        ),
    )
}

/// The account page of the signed-in user.
fn signed_in_edit_page(ctl: &Controller) -> crate::error::PowResult<HttpResponse> {
    edit_page(ctl, ctl.signed_in()?)
}

pub(super) async fn new(req: HttpRequest) -> crate::Result<HttpResponse> {
    Action::new(REGISTRATION_NEW)
        .signed_out()
        .run(&req, async |_| Ok(Outcome::render(registration_page)))
        .await
}

pub(super) async fn edit(req: HttpRequest) -> crate::Result<HttpResponse> {
    Action::new(REGISTRATION_EDIT)
        .sudo()
        .run(&req, async |_| Ok(Outcome::render(signed_in_edit_page)))
        .await
}

pub(super) async fn post(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    let form = FormData::parse(&body);
    match form.method_override().as_deref() {
        Some("PATCH" | "PUT") => update_form(req, form).await,
        Some("DELETE") => delete_form(req, form).await,
        _ => create(req, form).await,
    }
}

async fn create(req: HttpRequest, form: FormData) -> crate::Result<HttpResponse> {
    Action::new(REGISTRATION_CREATE)
        .signed_out()
        .captcha()
        .form(form)
        .run(&req, async |ctl| {
            let mut session = CookieSessionHandle::new(&ctl.req);
            let outcome = flows::sign_up(&ctl.config, ctl.params.clone(), &mut *session).await;
            session.write_back();
            match outcome? {
                SignUp::SignedUp(user) => Ok(after_sign_up(ctl, user)),
                SignUp::Invalid(cs) => {
                    ctl.changeset = Some(cs);
                    Ok(Outcome::render(registration_page))
                }
            }
        })
        .await
}

/// Finishes a successful sign-up (or a completed one, such as an accepted invitation):
/// signs `user` in with a new session, says so in the flash, hands the user to the
/// callbacks and redirects to the routes backend's after-registration path.
///
/// # Errors
/// [`PowError::Store`] when the session cannot be stored.
pub async fn signed_up(ctl: &mut Controller, user: User) -> Result<Outcome, PowError> {
    crate::flows::start_signed_up(
        &ctl.config,
        &user,
        &mut *session::CookieSessionHandle::new(&ctl.req),
    )
    .await?;
    Ok(after_sign_up(ctl, user))
}

/// The answer to a sign-up that signed `user` in: the flash and the redirect.
fn after_sign_up(ctl: &mut Controller, user: User) -> Outcome {
    let text = ctl.config.messages().user_has_been_created(&ctl.lang);
    flash::put_info(&ctl.req, text);
    ctl.user = Some(user);
    let path = ctl
        .config
        .routes()
        .after_registration_path(&ctl.routes_ctx());
    Outcome::redirect(&path)
}

pub(super) async fn update(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    update_form(req, FormData::parse(&body)).await
}

async fn update_form(req: HttpRequest, form: FormData) -> crate::Result<HttpResponse> {
    Action::new(REGISTRATION_UPDATE)
        .sudo()
        .form(form)
        .run(&req, async |ctl| {
            let current = ctl.signed_in()?.clone();
            let mut session = CookieSessionHandle::new(&ctl.req);
            let params = ctl.params.clone();
            let outcome = flows::update_account(
                &ctl.config,
                &crate::web::ActixRequest(&ctl.req).facts(),
                &current,
                params,
                &mut *session,
            )
            .await?;
            session.write_back();
            match outcome {
                AccountUpdate::Updated { user, .. } => {
                    let text = ctl.config.messages().user_has_been_updated(&ctl.lang);
                    flash::put_info(&ctl.req, text);
                    ctl.user = Some(user);
                    let path = ctl
                        .config
                        .routes()
                        .after_user_updated_path(&ctl.routes_ctx());
                    Ok(Outcome::redirect(&path))
                }
                AccountUpdate::Invalid(cs) => {
                    ctl.changeset = Some(cs);
                    Ok(Outcome::render(signed_in_edit_page))
                }
            }
        })
        .await
}

pub(super) async fn delete(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    delete_form(req, FormData::parse(&body)).await
}

async fn delete_form(req: HttpRequest, form: FormData) -> crate::Result<HttpResponse> {
    Action::new(REGISTRATION_DELETE)
        .sudo()
        .form(form)
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let mut session = CookieSessionHandle::new(&ctl.req);
            let outcome = flows::delete_account(&ctl.config, &user, &mut *session).await;
            session.write_back();
            match outcome? {
                AccountDeletion::Deleted => {
                    let text = ctl.config.messages().user_has_been_deleted(&ctl.lang);
                    flash::put_info(&ctl.req, text);
                    ctl.user = Some(user);
                    let path = ctl
                        .config
                        .routes()
                        .after_user_deleted_path(&ctl.routes_ctx());
                    Ok(Outcome::redirect(&path))
                }
                AccountDeletion::NotDeleted(err) => {
                    tracing::error!(error = %err, "deleting the account failed");
                    let text = ctl.config.messages().user_could_not_be_deleted(&ctl.lang);
                    flash::put_error(&ctl.req, text);
                    let path = ctl
                        .config
                        .routes()
                        .registration_path(&ctl.routes_ctx(), "edit");
                    Ok(Outcome::Stop(redirect(&path)))
                }
            }
        })
        .await
}

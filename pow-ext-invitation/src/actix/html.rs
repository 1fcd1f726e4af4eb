//! The invitation pages (Pow's `InvitationController`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::messages::LanguageIdentifier;
use pow_actix::users::{Changeset, Params};
use pow_actix::views::{Link, PageBody};
use pow_actix::web::{
    extra_fields, flash, form, new_password_fields, redirect, render_page, routes_ctx, signed_up,
    user_id_field, Action, ActixRequest, Controller, FormData, Outcome, Page,
};
use pow_actix::{PowConfig, PowError, User};

use crate::flows::{accept, accept_url, actions, invite, path, Invite, Invitee, EDIT_PATH};
use crate::{Invitation, NAME};

/// Registers the routes, each carrying the extension's settings.
pub(crate) fn register(cfg: &mut ServiceConfig, config: &PowConfig, ext: Invitation) {
    let data = web::Data::new(ext);
    let route = |pattern: &str| config.routes().extension_route(NAME, pattern);
    cfg.service(
        web::resource(route(NEW_PATH))
            .app_data(data.clone())
            .route(web::get().to(new)),
    )
    .service(
        web::resource(route(CREATE_PATH))
            .app_data(data.clone())
            .route(web::post().to(create)),
    )
    .service(
        web::resource(route(EDIT_PATH))
            .app_data(data.clone())
            .route(web::get().to(edit)),
    )
    .service(
        web::resource(route(SHOW_PATH))
            .app_data(data)
            .route(web::get().to(show))
            .route(web::post().to(update_post))
            .route(web::patch().to(update))
            .route(web::put().to(update)),
    );
}

// ----- paths, texts, responses -------------------------------------------------------

/// Default routes, relative to the mount path; the routes backend may move them.
const NEW_PATH: &str = "/invitations/new";
const CREATE_PATH: &str = "/invitations";
const SHOW_PATH: &str = "/invitations/{token}";

fn text(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> String {
    config.messages().text(lang, key)
}

fn message(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> Option<String> {
    config.messages().message(lang, key, &[])
}

/// "The invitation doesn't exist.", then to the sign-in page.
fn invalid_invitation(req: &HttpRequest, config: &PowConfig) -> HttpResponse {
    let lang = pow_actix::messages::request_language(
        &pow_actix::web::ActixRequest(req).facts(),
        config.messages(),
    );
    flash::put_error(
        req,
        message(config, &lang, "pow_invitation_invalid_invitation"),
    );
    let ctx = routes_ctx(req, config, None);
    redirect(&config.routes().session_path(&ctx, "new"))
}

/// A `403` page for a signed-in user who may not invite, `None` for one who may.
fn refuse_non_inviter(
    ctl: &Controller,
    ext: &Invitation,
) -> Result<Option<HttpResponse>, PowError> {
    match ctl.signed_in() {
        Ok(user) if ext.may_invite(user) => Ok(None),
        _ => forbidden(&ctl.req, &ctl.config).map(Some),
    }
}

fn forbidden(req: &HttpRequest, config: &PowConfig) -> Result<HttpResponse, PowError> {
    tracing::info!(path = %req.path(), "refused an invitation request: not allowed to invite");
    let lang = pow_actix::messages::request_language(
        &pow_actix::web::ActixRequest(req).facts(),
        config.messages(),
    );
    let body = PageBody::Text {
        paragraphs: vec![text(config, &lang, "pow_invitation_not_allowed")],
        links: Vec::new(),
    };
    let page = Page::new("invitation/forbidden", "pow_invitation_title_new", body);
    let mut res = render_page(req, config, &lang, page)?;
    *res.status_mut() = StatusCode::FORBIDDEN;
    Ok(res)
}

// ----- pages -------------------------------------------------------------------------

fn new_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    cs: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let fields = vec![user_id_field(config, lang, params, None, cs)];
    let body = PageBody::Form {
        form: form(
            req,
            path(config, CREATE_PATH, ""),
            None,
            fields,
            text(config, lang, "pow_invitation_button_invite"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    render_page(
        req,
        config,
        lang,
        Page::new("invitation/new", "pow_invitation_title_new", body),
    )
}

fn edit_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    signed: &str,
    invitee: &User,
    params: &Params,
    cs: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let mut fields = vec![user_id_field(config, lang, params, Some(invitee), cs)];
    fields.extend(extra_fields(config, lang, params, cs, Some(invitee)));
    fields.extend(new_password_fields(config, lang, cs, true));
    let body = PageBody::Form {
        form: form(
            req,
            path(config, SHOW_PATH, signed),
            Some("PATCH"),
            fields,
            text(config, lang, "pow_invitation_button_accept"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    render_page(
        req,
        config,
        lang,
        Page::new("invitation/edit", "pow_invitation_title_edit", body),
    )
}

// ----- inviter actions ---------------------------------------------------------------

async fn new(req: HttpRequest, ext: web::Data<Invitation>) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::NEW)
        .signed_in()
        .run(&req, async |ctl| {
            if let Some(res) = refuse_non_inviter(ctl, &ext)? {
                return Ok(Outcome::Stop(res));
            }
            Ok(Outcome::render(|ctl: &Controller| {
                new_page(&ctl.req, &ctl.config, &ctl.lang, &ctl.params, None)
            }))
        })
        .await
}

async fn create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::CREATE)
        .signed_in()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            if let Some(res) = refuse_non_inviter(ctl, &ext)? {
                return Ok(Outcome::Stop(res));
            }
            let signed_in_id = ctl.signed_in()?.id;
            let source = ActixRequest(&ctl.req).facts();
            match invite(&mut ctl.step, &source, &ext, signed_in_id).await? {
                Invite::InviterGone => {
                    pow_actix::session::sign_out(&ctl.req).await?;
                    let ctx = routes_ctx(&ctl.req, &ctl.config, None);
                    let path = ctl.config.routes().session_path(&ctx, "new");
                    Ok(Outcome::Stop(redirect(&path)))
                }
                Invite::NotAllowed => Ok(Outcome::Stop(forbidden(&ctl.req, &ctl.config)?)),
                Invite::Mailed => {
                    flash::put_info(
                        &ctl.req,
                        ctl.message("pow_invitation_invitation_email_sent"),
                    );
                    Ok(Outcome::redirect(&path(&ctl.config, NEW_PATH, "")))
                }
                Invite::MailFailed(signed) => {
                    flash::put_error(&ctl.req, ctl.message("pow_invitation_email_failed"));
                    Ok(Outcome::redirect(&path(&ctl.config, SHOW_PATH, &signed)))
                }
                Invite::NoAddress(signed) => {
                    Ok(Outcome::redirect(&path(&ctl.config, SHOW_PATH, &signed)))
                }
                Invite::Invalid => Ok(Outcome::render(|ctl: &Controller| {
                    new_page(
                        &ctl.req,
                        &ctl.config,
                        &ctl.lang,
                        &ctl.params,
                        ctl.changeset.as_ref(),
                    )
                })),
            }
        })
        .await
}

async fn show(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SHOW)
        .signed_in()
        .run(&req, async |ctl| {
            if let Some(res) = refuse_non_inviter(ctl, &ext)? {
                return Ok(Outcome::Stop(res));
            }
            let Some(invitee) = ext.find_invitee(&ctl.config, &token).await? else {
                return Ok(Outcome::Stop(invalid_invitation(&ctl.req, &ctl.config)));
            };
            ctl.user = Some(invitee);
            // The signed token from the path, verified: the row keeps only its hash.
            let signed = token.as_str().to_owned();
            Ok(Outcome::render(move |ctl: &Controller| {
                let (req, config) = (&ctl.req, &ctl.config);
                let body = PageBody::Text {
                    paragraphs: vec![
                        ctl.text("pow_invitation_show_intro"),
                        accept_url(&ActixRequest(req).facts(), config, &signed),
                    ],
                    links: vec![Link::new(
                        path(config, NEW_PATH, ""),
                        ctl.text("pow_invitation_link_invite_another"),
                    )],
                };
                let page = Page::new("invitation/show", "pow_invitation_title_show", body);
                render_page(req, config, &ctl.lang, page)
            }))
        })
        .await
}

// ----- invitee actions ---------------------------------------------------------------

/// The accept form of the controller's invitee, with its submitted values and errors.
fn accept_page(ctl: &Controller) -> Result<HttpResponse, PowError> {
    let invitee = ctl
        .assigns
        .get::<Invitee>()
        .ok_or_else(|| PowError::Other("no invitee loaded".into()))?;
    edit_page(
        &ctl.req,
        &ctl.config,
        &ctl.lang,
        &invitee.1,
        &invitee.0,
        &ctl.params,
        ctl.changeset.as_ref(),
    )
}

async fn edit(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::EDIT)
        .signed_out()
        .run(&req, async |ctl| {
            let Some(invitee) = ext.find_invitee(&ctl.config, &token).await? else {
                return Ok(Outcome::Stop(invalid_invitation(&ctl.req, &ctl.config)));
            };
            ctl.user = Some(invitee.clone());
            ctl.assigns
                .insert(Invitee(invitee, token.as_str().to_owned()));
            Ok(Outcome::render(accept_page))
        })
        .await
}

async fn update_post(
    req: HttpRequest,
    token: web::Path<String>,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    let form = FormData::parse(&body);
    match form.method_override().as_deref() {
        Some("PATCH" | "PUT") => Ok(update_form(req, token.into_inner(), form, ext).await?),
        _ => Ok(HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, "GET, PATCH, PUT"))
            .finish()),
    }
}

async fn update(
    req: HttpRequest,
    token: web::Path<String>,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    Ok(update_form(req, token.into_inner(), FormData::parse(&body), ext).await?)
}

async fn update_form(
    req: HttpRequest,
    token: String,
    form: FormData,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::UPDATE)
        .signed_out()
        .form(form)
        .run(&req, async |ctl| {
            let source = ActixRequest(&ctl.req).facts();
            match accept(&mut ctl.step, &source, &ext, &token).await? {
                None => Ok(Outcome::Stop(invalid_invitation(&ctl.req, &ctl.config))),
                Some(Ok(user)) => signed_up(ctl, user).await,
                Some(Err(cs)) => {
                    ctl.changeset = Some(cs);
                    Ok(Outcome::render(accept_page))
                }
            }
        })
        .await
}

//! The invitation controller (Pow's `InvitationController`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_core::mailer::render_mail;
use pow_core::messages::{LanguageIdentifier, MessageArg};
use pow_core::users::{run_blocking, Changeset, Params};
use pow_core::views::{Field, FieldType, Link, PageBody};
use pow_core::web::{
    check_csrf, field, flash, form, redirect, render_page, require_authenticated,
    require_not_authenticated, route_config, routes_ctx, Controller, FormData, Page,
};
use pow_core::{PowConfig, PowError, User};

use crate::{signed_token, Invitation, INVITATION_ACCEPTED_AT};

/// Registers the routes, each carrying the extension's settings.
pub(crate) fn register(cfg: &mut ServiceConfig, ext: Invitation) {
    let data = web::Data::new(ext);
    cfg.service(
        web::resource("/invitations/new")
            .app_data(data.clone())
            .route(web::get().to(new)),
    )
    .service(
        web::resource("/invitations")
            .app_data(data.clone())
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/invitations/{token}/edit")
            .app_data(data.clone())
            .route(web::get().to(edit)),
    )
    .service(
        web::resource("/invitations/{token}")
            .app_data(data)
            .route(web::get().to(show))
            .route(web::post().to(update_post))
            .route(web::patch().to(update))
            .route(web::put().to(update)),
    );
}

// ----- paths, texts, responses -------------------------------------------------------

fn path(req: &HttpRequest, config: &PowConfig, rest: &str) -> String {
    routes_ctx(req, config, None).path(rest)
}

fn text(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> String {
    config.messages().text(lang, key)
}

fn message(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> Option<String> {
    config.messages().message(lang, key, &[])
}

fn user_id_kind(config: &PowConfig) -> FieldType {
    if config.user_id_field() == "email" {
        FieldType::Email
    } else {
        FieldType::Text
    }
}

/// "The invitation doesn't exist.", then to the sign-in page.
fn invalid_invitation(req: &HttpRequest, config: &PowConfig) -> HttpResponse {
    let lang = pow_core::messages::request_language(req, config.messages());
    flash::put_error(
        req,
        message(config, &lang, "pow_invitation_invalid_invitation"),
    );
    let ctx = routes_ctx(req, config, None);
    redirect(&config.routes().session_path(&ctx, "new"))
}

/// The signed-in user allowed to invite, or the response for everyone else: a redirect to
/// sign-in, or a `403` page.
fn require_inviter(
    req: &HttpRequest,
    config: &PowConfig,
    ext: &Invitation,
) -> Result<Result<User, HttpResponse>, PowError> {
    let user = match require_authenticated(req, config) {
        Ok(user) => user,
        Err(res) => return Ok(Err(res)),
    };
    if ext.may_invite(&user) {
        Ok(Ok(user))
    } else {
        forbidden(req, config).map(Err)
    }
}

fn forbidden(req: &HttpRequest, config: &PowConfig) -> Result<HttpResponse, PowError> {
    tracing::info!(path = %req.path(), "refused an invitation request: not allowed to invite");
    let lang = pow_core::messages::request_language(req, config.messages());
    let body = PageBody::Text {
        paragraphs: vec![text(config, &lang, "pow_invitation_not_allowed")],
        links: Vec::new(),
    };
    let page = Page::new("invitation/forbidden", "pow_invitation_title_new", body);
    let mut res = render_page(req, config, &lang, page)?;
    *res.status_mut() = StatusCode::FORBIDDEN;
    Ok(res)
}

fn token_of(config: &PowConfig, invitee: &User) -> Result<String, PowError> {
    signed_token(config, invitee).ok_or_else(|| {
        PowError::Other(format!(
            "invited user {} has no invitation token",
            invitee.id
        ))
    })
}

// ----- pages -------------------------------------------------------------------------

fn new_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    cs: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let uid = config.user_id_field();
    let fields = vec![field(
        config,
        lang,
        uid,
        user_id_kind(config),
        params.get(uid).map(String::as_str),
        cs,
    )];
    let body = PageBody::Form {
        form: form(
            req,
            path(req, config, "/invitations"),
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

/// Castable app and extension fields besides the user id, as optional text inputs.
fn extra_fields(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    cs: Option<&Changeset>,
    invitee: &User,
) -> Vec<Field> {
    config
        .user_fields()
        .iter()
        .filter(|f| f.castable && f.name != config.user_id_field())
        .map(|f| {
            let value = params
                .get(&f.name)
                .map(String::as_str)
                .or_else(|| invitee.get_str(&f.name));
            let kind = if f.name == "email" {
                FieldType::Email
            } else {
                FieldType::Text
            };
            let mut fld = field(config, lang, &f.name, kind, value, cs);
            fld.required = false;
            fld
        })
        .collect()
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
    let uid = config.user_id_field();
    let uid_value = params
        .get(uid)
        .map(String::as_str)
        .or_else(|| invitee.get_str(uid));
    let mut fields = vec![field(
        config,
        lang,
        uid,
        user_id_kind(config),
        uid_value,
        cs,
    )];
    fields.extend(extra_fields(config, lang, params, cs, invitee));
    fields.push(field(
        config,
        lang,
        "password",
        FieldType::Password,
        None,
        cs,
    ));
    fields.push(field(
        config,
        lang,
        "password_confirmation",
        FieldType::Password,
        None,
        cs,
    ));
    let body = PageBody::Form {
        form: form(
            req,
            path(req, config, &format!("/invitations/{signed}")),
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

async fn new(req: HttpRequest, ext: web::Data<Invitation>) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Err(res) = require_inviter(&req, &config, &ext)? {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "invitation", "new", Params::new());
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    new_page(&req, &config, &ctl.lang, &Params::new(), None)
}

/// What creating an invitation came to.
enum Created {
    /// The inviter's row is gone.
    InviterGone,
    /// The inviter, read again, may no longer invite.
    NotAllowed,
    /// The write's result, with the inviter as read from the database.
    Done(Box<(User, Result<User, Changeset>)>),
}

async fn create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, PowError> {
    let form = FormData::parse(&body);
    let config = route_config(&req)?;
    let signed_in = match require_inviter(&req, &config, &ext)? {
        Ok(user) => user,
        Err(res) => return Ok(res),
    };
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "invitation", "create", form.user);
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let users = config.users()?.clone();
    let (cfg, params, settings) = (config.clone(), ctl.params.clone(), ext.clone());
    // The session's copy of the inviter may be stale: read the row for the permission
    // check and for the fields carried over to the invitee.
    let created = run_blocking(move || {
        let Some(inviter) = users.get(&cfg, signed_in.id)? else {
            return Ok(Created::InviterGone);
        };
        if !settings.may_invite(&inviter) {
            return Ok(Created::NotAllowed);
        }
        let result = settings.invite(users.as_ref(), &cfg, &inviter, &params)?;
        Ok(Created::Done(Box::new((inviter, result))))
    })
    .await?;
    let (inviter, result) = match created {
        Created::InviterGone => {
            pow_core::session::sign_out(&req).await?;
            let ctx = routes_ctx(&req, &config, None);
            return Ok(redirect(&config.routes().session_path(&ctx, "new")));
        }
        Created::NotAllowed => return forbidden(&req, &config),
        Created::Done(done) => *done,
    };
    match result {
        Ok(invitee) => {
            ctl.user = Some(invitee.clone());
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            let signed = token_of(&config, &invitee)?;
            let show = path(&req, &config, &format!("/invitations/{signed}"));
            let Some(email) = invitee.email() else {
                return Ok(redirect(&show));
            };
            let edit = path(&req, &config, &format!("/invitations/{signed}/edit"));
            let url = config.url_for(&req, &edit);
            match send_invitation(&config, &ctl.lang, &inviter, email, &url).await {
                Ok(()) => {
                    flash::put_info(
                        &req,
                        message(&config, &ctl.lang, "pow_invitation_invitation_email_sent"),
                    );
                    Ok(redirect(&path(&req, &config, "/invitations/new")))
                }
                Err(err) => {
                    tracing::error!(
                        user.id = invitee.id,
                        error = %err,
                        "the invitation mail could not be sent"
                    );
                    flash::put_error(
                        &req,
                        message(&config, &ctl.lang, "pow_invitation_email_failed"),
                    );
                    Ok(redirect(&show))
                }
            }
        }
        Err(cs) => {
            let hidden_taken = cs.errors.has("email", "taken") && config.prevent_user_enumeration();
            ctl.changeset = Some(cs);
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            if hidden_taken {
                // Looks like success, so invitations don't reveal who has an account.
                flash::put_info(
                    &req,
                    message(&config, &ctl.lang, "pow_invitation_invitation_email_sent"),
                );
                return Ok(redirect(&path(&req, &config, "/invitations/new")));
            }
            new_page(
                &req,
                &config,
                &ctl.lang,
                &ctl.params,
                ctl.changeset.as_ref(),
            )
        }
    }
}

/// Sends "You've been invited" with the accept link, naming the inviter.
async fn send_invitation(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    inviter: &User,
    to: &str,
    url: &str,
) -> Result<(), PowError> {
    let messages = config.messages();
    let inviter_id = inviter.user_id(config).unwrap_or_default();
    let body = messages
        .message(
            lang,
            "pow_invitation_mail_body",
            &[("inviter", MessageArg::from(inviter_id))],
        )
        .unwrap_or_default();
    let paragraphs = [body, messages.text(lang, "pow_invitation_mail_ignore")];
    let button = messages.text(lang, "pow_invitation_mail_button");
    let mail = render_mail(
        lang,
        messages,
        to,
        messages.text(lang, "pow_invitation_mail_subject"),
        &paragraphs,
        Some((&button, url)),
    )?;
    config.mailer().deliver(mail).await
}

async fn show(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Err(res) = require_inviter(&req, &config, &ext)? {
        return Ok(res);
    }
    let Some(invitee) = ext.find_invitee(&config, &token).await? else {
        return Ok(invalid_invitation(&req, &config));
    };
    let mut ctl = Controller::new(&req, &config, "invitation", "show", Params::new());
    ctl.user = Some(invitee.clone());
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let signed = token_of(&config, &invitee)?;
    let edit = path(&req, &config, &format!("/invitations/{signed}/edit"));
    let lang = ctl.lang.clone();
    let body = PageBody::Text {
        paragraphs: vec![
            text(&config, &lang, "pow_invitation_show_intro"),
            config.url_for(&req, &edit),
        ],
        links: vec![Link::new(
            path(&req, &config, "/invitations/new"),
            text(&config, &lang, "pow_invitation_link_invite_another"),
        )],
    };
    render_page(
        &req,
        &config,
        &lang,
        Page::new("invitation/show", "pow_invitation_title_show", body),
    )
}

// ----- invitee actions ---------------------------------------------------------------

async fn edit(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    let Some(invitee) = ext.find_invitee(&config, &token).await? else {
        return Ok(invalid_invitation(&req, &config));
    };
    let mut ctl = Controller::new(&req, &config, "invitation", "edit", Params::new());
    ctl.user = Some(invitee.clone());
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let signed = token_of(&config, &invitee)?;
    edit_page(
        &req,
        &config,
        &ctl.lang,
        &signed,
        &invitee,
        &Params::new(),
        None,
    )
}

async fn update_post(
    req: HttpRequest,
    token: web::Path<String>,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, PowError> {
    let form = FormData::parse(&body);
    match form.method_override().as_deref() {
        Some("PATCH" | "PUT") => update_form(req, token.into_inner(), form, ext).await,
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
) -> Result<HttpResponse, PowError> {
    update_form(req, token.into_inner(), FormData::parse(&body), ext).await
}

async fn update_form(
    req: HttpRequest,
    token: String,
    form: FormData,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let Some(invitee) = ext.find_invitee(&config, &token).await? else {
        return Ok(invalid_invitation(&req, &config));
    };
    let mut ctl = Controller::new(&req, &config, "invitation", "update", form.user);
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let users = config.users()?.clone();
    let (cfg, params, loaded) = (config.clone(), ctl.params.clone(), invitee.clone());
    let result = run_blocking(move || {
        // Read the row again right before writing, so that of two racing accepts the
        // later one sees the first one's acceptance.
        let Some(fresh) = users.get(&cfg, loaded.id)? else {
            return Ok(None);
        };
        if fresh.get_timestamp(INVITATION_ACCEPTED_AT).is_some() {
            return Ok(None);
        }
        users
            .apply(&cfg, Changeset::accept_invitation(&cfg, &fresh, &params))
            .map(Some)
    })
    .await?;
    let Some(result) = result else {
        return Ok(invalid_invitation(&req, &config));
    };
    match result {
        Ok(user) => {
            tracing::info!(user.id = user.id, "invitation accepted");
            pow_core::session::sign_in(&req, &user).await?;
            flash::put_info(&req, config.messages().user_has_been_created(&ctl.lang));
            ctl.user = Some(user);
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            Ok(redirect(
                &config.routes().after_registration_path(&ctl.routes_ctx()),
            ))
        }
        Err(cs) => {
            ctl.changeset = Some(cs);
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            let signed = token_of(&config, &invitee)?;
            edit_page(
                &req,
                &config,
                &ctl.lang,
                &signed,
                &invitee,
                &ctl.params,
                ctl.changeset.as_ref(),
            )
        }
    }
}

//! The reset-password pages (Pow's `ResetPasswordController`), on actix.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::messages::LanguageIdentifier;
use pow_actix::users::Changeset;
use pow_actix::views::{FieldType, Link, PageBody};
use pow_actix::web::{
    extension_path, field, flash, form, new_password_fields, redirect, render_page, routes_ctx,
    Action, Controller, FormData, Outcome, Page,
};
use pow_actix::{PowConfig, PowError};

use crate::flows::{self as flow, Requested, Reset};
use crate::tokens::ResetTokens;
use crate::{actions, NEW_PATH};
use crate::{ResetPassword, NAME};

/// Where the request form posts, relative to the mount path.
const CREATE_PATH: &str = "/reset-password";
/// The new-password form of a token, relative to the mount path.
const TOKEN_PATH: &str = "/reset-password/{token}";

/// Registers the routes; every handler gets the extension's settings.
pub(crate) fn configure(cfg: &mut ServiceConfig, config: &PowConfig, ext: Arc<ResetPassword>) {
    let route = |pattern: &str| config.routes().extension_route(NAME, pattern);
    let (e_new, e_create, e_edit, e_update, e_post) =
        (ext.clone(), ext.clone(), ext.clone(), ext.clone(), ext);
    let e_put = e_update.clone();
    cfg.service(
        web::resource(route(NEW_PATH))
            .route(web::get().to(move |req: HttpRequest| new(req, e_new.clone()))),
    )
    .service(web::resource(route(CREATE_PATH)).route(web::post().to(
        move |req: HttpRequest, body: Bytes| create(req, FormData::parse(&body), e_create.clone()),
    )))
    .service(
        web::resource(route(TOKEN_PATH))
            .route(web::get().to(move |req: HttpRequest| edit(req, e_edit.clone())))
            .route(web::patch().to(move |req: HttpRequest, body: Bytes| {
                update(req, FormData::parse(&body), e_update.clone())
            }))
            .route(web::put().to(move |req: HttpRequest, body: Bytes| {
                update(req, FormData::parse(&body), e_put.clone())
            }))
            .route(web::post().to(move |req: HttpRequest, body: Bytes| {
                update_post(req, FormData::parse(&body), e_post.clone())
            })),
    );
}

/// `pattern` under the setup's mount point, where the routes backend puts it.
fn mounted(config: &PowConfig, pattern: &str) -> String {
    extension_path(config, NAME, pattern, &[])
}

/// The edit/update path of a signed token: the page reset mails link to.
pub(crate) fn token_path(config: &PowConfig, signed: &str) -> String {
    extension_path(config, NAME, TOKEN_PATH, &[("token", signed)])
}

fn sign_in_path(req: &HttpRequest, config: &PowConfig) -> String {
    config
        .routes()
        .session_path(&routes_ctx(req, config, None), "new")
}

// ----- new / create ------------------------------------------------------------------

fn new_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    email: Option<&str>,
    error: Option<String>,
) -> Result<HttpResponse, PowError> {
    let messages = config.messages();
    let fields = vec![field(config, lang, "email", FieldType::Email, email, None)];
    let body = PageBody::Form {
        form: form(
            req,
            mounted(config, CREATE_PATH),
            None,
            fields,
            messages.text(lang, "pow_reset_password_button_request"),
        ),
        links: vec![Link::new(
            sign_in_path(req, config),
            messages.text(lang, "link-sign-in"),
        )],
        extra_forms: Vec::new(),
    };
    let mut page =
        Page::new("reset_password/new", "pow_reset_password_title_new", body).with_captcha();
    page.error = error;
    render_page(req, config, lang, page)
}

async fn new(req: HttpRequest, _ext: Arc<ResetPassword>) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::NEW)
        .signed_out()
        .run(&req, async |_| {
            Ok(Outcome::render(|ctl: &Controller| {
                new_page(&ctl.req, &ctl.config, &ctl.lang, None, None)
            }))
        })
        .await
}

async fn create(
    req: HttpRequest,
    form: FormData,
    ext: Arc<ResetPassword>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::CREATE)
        .signed_out()
        .captcha()
        .form(form)
        .run(&req, async |ctl| {
            let (req, config) = (&ctl.req, &ctl.config);
            let raw_email = ctl.params.get("email").cloned().unwrap_or_default();
            let link = |signed: &str| {
                config.mail_link(crate::LINK, signed, || {
                    config.url_for(
                        &pow_actix::web::ActixRequest(req).facts(),
                        &token_path(config, signed),
                    )
                })
            };
            let requested = flow::request_link(
                &pow_actix::web::ActixRequest(req).facts(),
                config,
                &ext,
                &ctl.lang,
                &raw_email,
                link,
            )
            .await?;
            let flash_key = match requested {
                Requested::Known => "pow_reset_password_email_has_been_sent",
                Requested::Unknown if !config.prevent_user_enumeration() => {
                    return Ok(Outcome::render(|ctl: &Controller| {
                        let error = ctl.message("pow_reset_password_user_not_found");
                        let shown = ctl.params.get("email").map(String::as_str);
                        new_page(&ctl.req, &ctl.config, &ctl.lang, shown, error)
                    }));
                }
                Requested::Unknown => "pow_reset_password_maybe_email_has_been_sent",
            };
            flash::put_info(req, ctl.message(flash_key));
            Ok(Outcome::redirect(&sign_in_path(req, config)))
        })
        .await
}

// ----- edit / update -----------------------------------------------------------------

/// The signed token in the path.
fn signed_token(req: &HttpRequest) -> String {
    req.match_info().query("token").to_owned()
}

/// The answer for a bad, used or expired token.
fn invalid_token(ctl: &Controller) -> HttpResponse {
    flash::put_error(&ctl.req, ctl.message("pow_reset_password_invalid_token"));
    redirect(&mounted(&ctl.config, NEW_PATH))
}

fn edit_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    signed: &str,
    changeset: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let messages = config.messages();
    let fields = new_password_fields(config, lang, changeset, true).to_vec();
    let body = PageBody::Form {
        form: form(
            req,
            token_path(config, signed),
            Some("PATCH"),
            fields,
            messages.text(lang, "pow_reset_password_button_reset"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    let page = Page::new("reset_password/edit", "pow_reset_password_title_edit", body);
    let mut res = render_page(req, config, lang, page)?;
    // The token is in the URL: never send it to another site.
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

async fn edit(req: HttpRequest, ext: Arc<ResetPassword>) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::EDIT)
        .signed_out()
        .run(&req, async |ctl| {
            let signed = signed_token(&ctl.req);
            let Some(loaded) = ResetTokens::new(&ctl.config, ext.ttl())
                .load(&ctl.config, &signed)
                .await?
            else {
                return Ok(Outcome::Stop(invalid_token(ctl)));
            };
            ctl.user = Some(loaded.user);
            Ok(Outcome::render(move |ctl: &Controller| {
                edit_page(&ctl.req, &ctl.config, &ctl.lang, &signed, None)
            }))
        })
        .await
}

async fn update_post(
    req: HttpRequest,
    form: FormData,
    ext: Arc<ResetPassword>,
) -> pow_actix::Result<HttpResponse> {
    match form.method_override().as_deref() {
        Some("PATCH" | "PUT") => update(req, form, ext).await,
        _ => Ok(HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, PATCH, PUT"))
            .finish()),
    }
}

async fn update(
    req: HttpRequest,
    form: FormData,
    ext: Arc<ResetPassword>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::UPDATE)
        .signed_out()
        .form(form)
        .run(&req, async |ctl| {
            let signed = signed_token(&ctl.req);
            let tokens = ResetTokens::new(&ctl.config, ext.ttl());
            let Some(loaded) = tokens.load(&ctl.config, &signed).await? else {
                return Ok(Outcome::Stop(invalid_token(ctl)));
            };
            let params = ctl.params.clone();
            let scope = (
                &ctl.config,
                &pow_actix::web::ActixRequest(&ctl.req).facts()
                    as &dyn pow_actix::request::RequestSource,
                &ctl.lang,
            );
            match flow::reset(scope, &ext, loaded, &params).await? {
                Reset::Done(updated) => {
                    let text = ctl.message("pow_reset_password_password_has_been_reset");
                    flash::put_info(&ctl.req, text);
                    ctl.user = Some(updated);
                    Ok(Outcome::redirect(&sign_in_path(&ctl.req, &ctl.config)))
                }
                // The edit form again, with the changeset's errors; the token stays valid.
                Reset::Invalid(changeset) => {
                    ctl.changeset = Some(changeset);
                    Ok(Outcome::render(move |ctl: &Controller| {
                        edit_page(
                            &ctl.req,
                            &ctl.config,
                            &ctl.lang,
                            &signed,
                            ctl.changeset.as_ref(),
                        )
                    }))
                }
                Reset::TokenGone => Ok(Outcome::Stop(invalid_token(ctl))),
            }
        })
        .await
}

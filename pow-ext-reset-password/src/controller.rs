//! The reset-password controller (Pow's `ResetPasswordController`).

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_core::messages::LanguageIdentifier;
use pow_core::users::{Changeset, Params};
use pow_core::views::{FieldType, Link, PageBody};
use pow_core::web::{
    check_csrf, field, flash, form, redirect, render_page, require_not_authenticated, route_config,
    routes_ctx, Controller, FormData, Page,
};
use pow_core::{PowConfig, PowError};

use crate::flow::{self, Requested, Reset};
use crate::tokens::ResetTokens;
use crate::ResetPassword;

/// Controller name seen by extension callbacks.
const CONTROLLER: &str = "reset_password";
/// The request form, relative to the mount path.
pub(crate) const NEW_PATH: &str = "/reset-password/new";
/// Where the request form posts, relative to the mount path.
const CREATE_PATH: &str = "/reset-password";

/// Registers the routes; every handler gets the extension's settings.
pub(crate) fn configure(cfg: &mut ServiceConfig, ext: Arc<ResetPassword>) {
    let (e_new, e_create, e_edit, e_update, e_post) =
        (ext.clone(), ext.clone(), ext.clone(), ext.clone(), ext);
    let e_put = e_update.clone();
    cfg.service(
        web::resource(NEW_PATH)
            .route(web::get().to(move |req: HttpRequest| new(req, e_new.clone()))),
    )
    .service(web::resource(CREATE_PATH).route(web::post().to(
        move |req: HttpRequest, body: Bytes| create(req, FormData::parse(&body), e_create.clone()),
    )))
    .service(
        web::resource("/reset-password/{token}")
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

/// `path` under the setup's mount point.
fn mounted(config: &PowConfig, path: &str) -> String {
    format!("{}{path}", config.mount_path())
}

/// The edit/update path of a signed token: the page reset mails link to.
pub(crate) fn token_path(config: &PowConfig, signed: &str) -> String {
    mounted(config, &format!("/reset-password/{signed}"))
}

fn sign_in_path(req: &HttpRequest, config: &PowConfig) -> String {
    config
        .routes()
        .session_path(&routes_ctx(req, config, None), "new")
}

fn text(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> Option<String> {
    config.messages().message(lang, key, &[])
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
    let mut page = Page::new("reset_password/new", "pow_reset_password_title_new", body);
    page.error = error;
    render_page(req, config, lang, page)
}

async fn new(req: HttpRequest, _ext: Arc<ResetPassword>) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, CONTROLLER, "new", Params::new());
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    if let Some(res) = ctl.before_respond().await? {
        return Ok(res);
    }
    new_page(&req, &config, &ctl.lang, None, None)
}

async fn create(
    req: HttpRequest,
    form: FormData,
    ext: Arc<ResetPassword>,
) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, CONTROLLER, "create", form.user);
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let raw_email = ctl.params.get("email").cloned().unwrap_or_default();
    let link = |signed: &str| config.url_for(&req, &token_path(&config, signed));
    let requested = flow::request_link(&req, &config, &ext, &ctl.lang, &raw_email, link).await?;
    let flash_key = match requested {
        Requested::Known => "pow_reset_password_email_has_been_sent",
        Requested::Unknown if !config.prevent_user_enumeration() => {
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            let error = text(&config, &ctl.lang, "pow_reset_password_user_not_found");
            let shown = ctl.params.get("email").cloned();
            return new_page(&req, &config, &ctl.lang, shown.as_deref(), error);
        }
        Requested::Unknown => "pow_reset_password_maybe_email_has_been_sent",
    };
    flash::put_info(&req, text(&config, &ctl.lang, flash_key));
    if let Some(res) = ctl.before_respond().await? {
        return Ok(res);
    }
    Ok(redirect(&sign_in_path(&req, &config)))
}

// ----- edit / update -----------------------------------------------------------------

/// The signed token in the path.
fn signed_token(req: &HttpRequest) -> String {
    req.match_info().query("token").to_owned()
}

/// The answer for a bad, used or expired token.
fn invalid_token(req: &HttpRequest, config: &PowConfig, lang: &LanguageIdentifier) -> HttpResponse {
    flash::put_error(req, text(config, lang, "pow_reset_password_invalid_token"));
    redirect(&mounted(config, NEW_PATH))
}

fn edit_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    signed: &str,
    changeset: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let messages = config.messages();
    let fields = vec![
        field(
            config,
            lang,
            "password",
            FieldType::Password,
            None,
            changeset,
        ),
        field(
            config,
            lang,
            "password_confirmation",
            FieldType::Password,
            None,
            changeset,
        ),
    ];
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

async fn edit(req: HttpRequest, ext: Arc<ResetPassword>) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, CONTROLLER, "edit", Params::new());
    let signed = signed_token(&req);
    let Some(loaded) = ResetTokens::new(&config, ext.ttl())
        .load(&config, &signed)
        .await?
    else {
        return Ok(invalid_token(&req, &config, &ctl.lang));
    };
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    ctl.user = Some(loaded.user);
    if let Some(res) = ctl.before_respond().await? {
        return Ok(res);
    }
    edit_page(&req, &config, &ctl.lang, &signed, None)
}

async fn update_post(
    req: HttpRequest,
    form: FormData,
    ext: Arc<ResetPassword>,
) -> Result<HttpResponse, PowError> {
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
) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, CONTROLLER, "update", form.user);
    let signed = signed_token(&req);
    let tokens = ResetTokens::new(&config, ext.ttl());
    let Some(loaded) = tokens.load(&config, &signed).await? else {
        return Ok(invalid_token(&req, &config, &ctl.lang));
    };
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let params = ctl.params.clone();
    let updated = match flow::reset(&config, &ext, loaded, &params).await? {
        Reset::Done(updated) => updated,
        Reset::Invalid(changeset) => {
            return respond_invalid(&req, &config, &mut ctl, &signed, changeset).await;
        }
        Reset::TokenGone => return Ok(invalid_token(&req, &config, &ctl.lang)),
    };
    flash::put_info(
        &req,
        text(
            &config,
            &ctl.lang,
            "pow_reset_password_password_has_been_reset",
        ),
    );
    ctl.user = Some(updated);
    if let Some(res) = ctl.before_respond().await? {
        return Ok(res);
    }
    Ok(redirect(&sign_in_path(&req, &config)))
}

/// The edit form again, with the changeset's errors; the token stays valid.
async fn respond_invalid(
    req: &HttpRequest,
    config: &PowConfig,
    ctl: &mut Controller<'_>,
    signed: &str,
    changeset: Changeset,
) -> Result<HttpResponse, PowError> {
    ctl.changeset = Some(changeset);
    if let Some(res) = ctl.before_respond().await? {
        return Ok(res);
    }
    edit_page(req, config, &ctl.lang, signed, ctl.changeset.as_ref())
}

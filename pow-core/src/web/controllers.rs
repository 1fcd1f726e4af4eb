//! Session and registration controllers (Pow's `SessionController` and
//! `RegistrationController`).

use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};

use super::callbacks::{redirect, Controller};
use super::pages::{render_page, Page};
use super::params::FormData;
use super::routes::RouteContext;
use super::{csrf, flash};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::session;
use crate::users::{run_blocking, Changeset, Params, User};
use crate::views::{Field, FieldType, Form, Link, PageBody};

/// Registers the core routes and every enabled extension's routes, with `config` as the
/// setup that serves them. Use it with `App::configure` or `Scope::configure`.
pub fn configure(config: PowConfig) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg: &mut ServiceConfig| {
        cfg.app_data(web::Data::new(config.clone()));
        cfg.app_data(web::PayloadConfig::new(super::params::MAX_FORM_BYTES));
        cfg.service(web::resource("/session/new").route(web::get().to(session_new)))
            .service(
                web::resource("/session")
                    .route(web::post().to(session_post))
                    .route(web::delete().to(session_delete)),
            )
            .service(web::resource("/registration/new").route(web::get().to(registration_new)))
            .service(web::resource("/registration/edit").route(web::get().to(registration_edit)))
            .service(
                web::resource("/registration")
                    .route(web::post().to(registration_post))
                    .route(web::patch().to(registration_update))
                    .route(web::put().to(registration_update))
                    .route(web::delete().to(registration_delete)),
            );
        for ext in config.extensions().iter() {
            ext.configure(cfg, &config);
        }
    }
}

/// The setup serving this route: the one `configure` registered.
pub fn route_config(req: &HttpRequest) -> Result<PowConfig, PowError> {
    req.app_data::<web::Data<PowConfig>>()
        .map(|d| d.get_ref().clone())
        .or_else(|| session::config(req))
        .ok_or_else(|| {
            PowError::Config(
                "no PowConfig for this route: mount routes with pow_core::web::configure".into(),
            )
        })
}

/// The routes backend's context for `req` on `config`'s mount point.
pub fn routes_ctx<'a>(
    req: &'a HttpRequest,
    config: &'a PowConfig,
    request_path: Option<&'a str>,
) -> RouteContext<'a> {
    RouteContext {
        req,
        mount: config.mount_path(),
        request_path,
    }
}

/// Checks the CSRF token; `Some(403)` when it fails.
pub fn check_csrf(req: &HttpRequest, form: &FormData) -> Option<HttpResponse> {
    if csrf::verify(req, form.csrf_token()) {
        None
    } else {
        tracing::warn!(path = %req.path(), "rejected a request without a valid CSRF token");
        Some(
            HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body("Invalid CSRF token. Reload the page and try again."),
        )
    }
}

/// Redirects a signed-in user away from a signed-out-only page (`Some(redirect)`).
pub fn require_not_authenticated(req: &HttpRequest, config: &PowConfig) -> Option<HttpResponse> {
    if !session::is_signed_in(req) {
        return None;
    }
    let lang = crate::messages::request_language(req, config.messages());
    flash::put_error(req, config.messages().user_already_authenticated(&lang));
    let request_path = super::callbacks::request_path_param(req);
    let path = config.routes().user_already_authenticated_path(&routes_ctx(
        req,
        config,
        request_path.as_deref(),
    ));
    Some(redirect(&path))
}

/// The signed-in user, or a redirect to sign-in.
pub fn require_authenticated(req: &HttpRequest, config: &PowConfig) -> Result<User, HttpResponse> {
    match session::current_user(req) {
        Some(user) => Ok(user),
        None => {
            let lang = crate::messages::request_language(req, config.messages());
            flash::put_error(req, config.messages().user_not_authenticated(&lang));
            let path = config
                .routes()
                .user_not_authenticated_path(&routes_ctx(req, config, None));
            Err(redirect(&path))
        }
    }
}

/// Builds a form field for `user[name]`, labelled `label-<name>` (or, without that
/// message, the humanised name: `date_of_birth` is "Date of birth") and carrying the
/// changeset's translated errors for it.
pub fn field(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    name: &str,
    kind: FieldType,
    value: Option<&str>,
    changeset: Option<&Changeset>,
) -> Field {
    let errors = changeset
        .map(|cs| {
            cs.errors
                .get(name)
                .iter()
                .map(|e| config.messages().validation_error(lang, name, e))
                .collect()
        })
        .unwrap_or_default();
    let autocomplete = match (name, kind) {
        ("current_password", _) => Some("current-password"),
        (_, FieldType::Password) => Some("new-password"),
        ("email", _) => Some("email"),
        ("username", _) => Some("username"),
        _ => None,
    };
    Field {
        name: name.to_owned(),
        label: config.messages().field_label(lang, name),
        kind,
        value: value.unwrap_or_default().to_owned(),
        errors,
        autocomplete,
        required: true,
    }
}

fn user_id_kind(config: &PowConfig) -> FieldType {
    if config.user_id_field() == "email" {
        FieldType::Email
    } else {
        FieldType::Text
    }
}

/// A POST form with a fresh CSRF token (`method_override` becomes a `_method` field).
pub fn form(
    req: &HttpRequest,
    action: String,
    method_override: Option<&'static str>,
    fields: Vec<Field>,
    submit: String,
) -> Form {
    Form {
        action,
        method: "post",
        method_override,
        fields,
        submit,
        csrf_token: csrf::csrf_token(req),
    }
}

// ----- session -----------------------------------------------------------------------

fn sign_in_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    request_path: Option<&str>,
    user_id: Option<&str>,
    error: Option<String>,
) -> Result<HttpResponse, PowError> {
    let ctx = routes_ctx(req, config, request_path);
    let mut action = config.routes().session_path(&ctx, "create");
    if let Some(rp) = request_path {
        action.push('?');
        action.push_str(&serde_urlencoded::to_string([("request_path", rp)]).unwrap_or_default());
    }
    let messages = config.messages();
    let mut pw = field(config, lang, "password", FieldType::Password, None, None);
    pw.autocomplete = Some("current-password");
    let fields = vec![
        field(
            config,
            lang,
            config.user_id_field(),
            user_id_kind(config),
            user_id,
            None,
        ),
        pw,
    ];
    let body = PageBody::Form {
        form: form(
            req,
            action,
            None,
            fields,
            messages.text(lang, "button-sign-in"),
        ),
        links: vec![Link {
            href: config.routes().registration_path(&ctx, "new"),
            label: messages.text(lang, "link-register"),
        }],
        extra_forms: Vec::new(),
    };
    let mut page = Page::new("session/new", "title-sign-in", body);
    page.error = error;
    render_page(req, config, lang, page)
}

async fn session_new(req: HttpRequest) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "session", "new", Params::new());
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    if let Some(res) = ctl.before_respond().await? {
        return Ok(res);
    }
    sign_in_page(
        &req,
        &config,
        &ctl.lang,
        ctl.request_path.as_deref(),
        None,
        None,
    )
}

async fn session_post(req: HttpRequest, body: Bytes) -> Result<HttpResponse, PowError> {
    let form = FormData::parse(&body);
    if form.method_override().as_deref() == Some("DELETE") {
        return session_delete_form(req, form).await;
    }
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "session", "create", form.user);
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let users = config.users()?.clone();
    let (cfg, params) = (config.clone(), ctl.params.clone());
    let user = run_blocking(move || users.authenticate(&cfg, &params)).await?;
    match user {
        Some(user) => {
            session::sign_in(&req, &user).await?;
            flash::put_info(&req, config.messages().signed_in(&ctl.lang));
            ctl.user = Some(user);
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            let path = config.routes().after_sign_in_path(&ctl.routes_ctx());
            Ok(redirect(&path))
        }
        None => {
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            let user_id = ctl.params.get(config.user_id_field()).cloned();
            let error = config.messages().invalid_credentials(&ctl.lang);
            sign_in_page(
                &req,
                &config,
                &ctl.lang,
                ctl.request_path.as_deref(),
                user_id.as_deref(),
                error,
            )
        }
    }
}

async fn session_delete(req: HttpRequest, body: Bytes) -> Result<HttpResponse, PowError> {
    session_delete_form(req, FormData::parse(&body)).await
}

async fn session_delete_form(req: HttpRequest, form: FormData) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    let user = match require_authenticated(&req, &config) {
        Ok(user) => user,
        Err(res) => return Ok(res),
    };
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "session", "delete", form.user);
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    session::sign_out(&req).await?;
    flash::put_info(&req, config.messages().signed_out(&ctl.lang));
    ctl.user = Some(user);
    if let Some(res) = ctl.before_respond().await? {
        return Ok(res);
    }
    Ok(redirect(
        &config.routes().after_sign_out_path(&ctl.routes_ctx()),
    ))
}

// ----- registration ------------------------------------------------------------------

fn value_of<'a>(params: &'a Params, cs: Option<&'a Changeset>, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str).or_else(|| {
        cs.and_then(|c| c.data.as_ref())
            .and_then(|u| u.get_str(name))
    })
}

/// Castable app/extension fields other than the user id, as text inputs.
fn extra_fields(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    cs: Option<&Changeset>,
    user: Option<&User>,
) -> Vec<Field> {
    config
        .user_fields()
        .iter()
        .filter(|f| f.castable && f.name != config.user_id_field())
        .map(|f| {
            let value = params
                .get(&f.name)
                .map(String::as_str)
                .or_else(|| user.and_then(|u| u.get_str(&f.name)));
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

fn registration_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    cs: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let ctx = routes_ctx(req, config, None);
    let messages = config.messages();
    let uid = config.user_id_field();
    let mut fields = vec![field(
        config,
        lang,
        uid,
        user_id_kind(config),
        value_of(params, cs, uid),
        cs,
    )];
    fields.extend(extra_fields(config, lang, params, cs, None));
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
            config.routes().registration_path(&ctx, "create"),
            None,
            fields,
            messages.text(lang, "button-register"),
        ),
        links: vec![Link {
            href: config.routes().session_path(&ctx, "new"),
            label: messages.text(lang, "link-sign-in"),
        }],
        extra_forms: Vec::new(),
    };
    render_page(
        req,
        config,
        lang,
        Page::new("registration/new", "title-register", body),
    )
}

fn edit_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    user: &User,
    params: &Params,
    cs: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let ctx = routes_ctx(req, config, None);
    let messages = config.messages();
    let uid = config.user_id_field();
    let uid_value = params
        .get(uid)
        .map(String::as_str)
        .or_else(|| user.get_str(uid));
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
    fields.push(field(
        config,
        lang,
        uid,
        user_id_kind(config),
        uid_value,
        cs,
    ));
    fields.extend(extra_fields(config, lang, params, cs, Some(user)));
    let mut pw = field(config, lang, "password", FieldType::Password, None, cs);
    pw.required = false;
    let mut confirm = field(
        config,
        lang,
        "password_confirmation",
        FieldType::Password,
        None,
        cs,
    );
    confirm.required = false;
    fields.push(pw);
    fields.push(confirm);
    let action = config.routes().registration_path(&ctx, "update");
    let delete = form(
        req,
        action.clone(),
        Some("DELETE"),
        Vec::new(),
        messages.text(lang, "button-delete-account"),
    );
    let body = PageBody::Form {
        form: form(
            req,
            action,
            Some("PATCH"),
            fields,
            messages.text(lang, "button-update"),
        ),
        links: Vec::new(),
        extra_forms: vec![delete],
    };
    render_page(
        req,
        config,
        lang,
        Page::new("registration/edit", "title-edit-account", body),
    )
}

async fn registration_new(req: HttpRequest) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "registration", "new", Params::new());
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    registration_page(&req, &config, &ctl.lang, &Params::new(), None)
}

async fn registration_post(req: HttpRequest, body: Bytes) -> Result<HttpResponse, PowError> {
    let form = FormData::parse(&body);
    match form.method_override().as_deref() {
        Some("PATCH" | "PUT") => registration_update_form(req, form).await,
        Some("DELETE") => registration_delete_form(req, form).await,
        _ => registration_create(req, form).await,
    }
}

async fn registration_create(req: HttpRequest, form: FormData) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    if let Some(res) = require_not_authenticated(&req, &config) {
        return Ok(res);
    }
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "registration", "create", form.user);
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let users = config.users()?.clone();
    let (cfg, params) = (config.clone(), ctl.params.clone());
    match run_blocking(move || users.create(&cfg, &params)).await? {
        Ok(user) => {
            session::sign_in(&req, &user).await?;
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
            registration_page(
                &req,
                &config,
                &ctl.lang,
                &ctl.params,
                ctl.changeset.as_ref(),
            )
        }
    }
}

async fn registration_edit(req: HttpRequest) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    let user = match require_authenticated(&req, &config) {
        Ok(user) => user,
        Err(res) => return Ok(res),
    };
    let mut ctl = Controller::new(&req, &config, "registration", "edit", Params::new());
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    edit_page(&req, &config, &ctl.lang, &user, &Params::new(), None)
}

async fn registration_update(req: HttpRequest, body: Bytes) -> Result<HttpResponse, PowError> {
    registration_update_form(req, FormData::parse(&body)).await
}

async fn registration_update_form(
    req: HttpRequest,
    form: FormData,
) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    let user = match require_authenticated(&req, &config) {
        Ok(user) => user,
        Err(res) => return Ok(res),
    };
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "registration", "update", form.user);
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let users = config.users()?.clone();
    let (cfg, params, current) = (config.clone(), ctl.params.clone(), user.clone());
    // Re-read the row: the cached user may be stale (e.g. a password changed elsewhere).
    let result = run_blocking(move || {
        let fresh = users.get(&cfg, current.id)?.unwrap_or(current);
        users.update(&cfg, &fresh, &params)
    })
    .await?;
    match result {
        Ok(updated) => {
            if updated.password_hash != user.password_hash {
                // A new password ends every other session and remember-me token.
                session::revoke_user(&config, &updated).await?;
            }
            session::sign_in(&req, &updated).await?;
            flash::put_info(&req, config.messages().user_has_been_updated(&ctl.lang));
            ctl.user = Some(updated);
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            Ok(redirect(
                &config.routes().after_user_updated_path(&ctl.routes_ctx()),
            ))
        }
        Err(cs) => {
            ctl.changeset = Some(cs);
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            edit_page(
                &req,
                &config,
                &ctl.lang,
                &user,
                &ctl.params,
                ctl.changeset.as_ref(),
            )
        }
    }
}

async fn registration_delete(req: HttpRequest, body: Bytes) -> Result<HttpResponse, PowError> {
    registration_delete_form(req, FormData::parse(&body)).await
}

async fn registration_delete_form(
    req: HttpRequest,
    form: FormData,
) -> Result<HttpResponse, PowError> {
    let config = route_config(&req)?;
    let user = match require_authenticated(&req, &config) {
        Ok(user) => user,
        Err(res) => return Ok(res),
    };
    if let Some(res) = check_csrf(&req, &form) {
        return Ok(res);
    }
    let mut ctl = Controller::new(&req, &config, "registration", "delete", form.user);
    if let Some(res) = ctl.before_process().await? {
        return Ok(res);
    }
    let users = config.users()?.clone();
    let (cfg, target) = (config.clone(), user.clone());
    match run_blocking(move || users.delete(&cfg, &target)).await {
        Ok(()) => {
            session::sign_out(&req).await?;
            session::revoke_user(&config, &user).await?;
            flash::put_info(&req, config.messages().user_has_been_deleted(&ctl.lang));
            ctl.user = Some(user);
            if let Some(res) = ctl.before_respond().await? {
                return Ok(res);
            }
            Ok(redirect(
                &config.routes().after_user_deleted_path(&ctl.routes_ctx()),
            ))
        }
        Err(err) => {
            tracing::error!(error = %err, "deleting the account failed");
            flash::put_error(&req, config.messages().user_could_not_be_deleted(&ctl.lang));
            let ctx = routes_ctx(&req, &config, None);
            Ok(redirect(&config.routes().registration_path(&ctx, "edit")))
        }
    }
}

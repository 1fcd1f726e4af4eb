//! The pages (manage, sign in, step up, security key) and the script.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::messages::LanguageIdentifier;
use pow_actix::session::{self, CookieSessionHandle};
use pow_actix::users::User;
use pow_actix::views::{Field, FieldType, Form, Link, PageBody};
use pow_actix::web::{
    flash, render_page, returning_to, Action, Controller, FormData, Outcome, Page,
};
use pow_actix::{PowConfig, PowError};

use crate::routes::*;
use crate::{
    into_pow, EnrolAnswer, Kind, PasskeyError, Passkeys, Started, StoredPasskey, NAME, SCRIPT_PATH,
};

/// The script's text.
const SCRIPT: &str = include_str!("../../assets/passkeys.js");

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &Passkeys) {
    super::recovery::configure(cfg, config, ext);
    let route = |pattern: &str| config.routes().extension_route(NAME, pattern);
    let data = web::Data::new(ext.clone());
    cfg.service(web::resource(route(SCRIPT_PATH)).route(web::get().to(script)))
        .service(
            web::resource(route(SIGN_IN_PATH))
                .app_data(data.clone())
                .route(web::get().to(sign_in_new))
                .route(web::post().to(sign_in_create)),
        )
        .service(
            web::resource(route(MANAGE_PATH))
                .app_data(data.clone())
                .route(web::get().to(manage))
                .route(web::post().to(create)),
        )
        .service(
            web::resource(route(STEP_UP_PATH))
                .app_data(data.clone())
                .route(web::get().to(step_up_new))
                .route(web::post().to(step_up_create)),
        )
        .service(
            web::resource(route(SECURITY_KEY_PATH))
                .app_data(data.clone())
                .route(web::get().to(security_key))
                .route(web::post().to(create)),
        )
        .service(
            web::resource(route(RENAME_PATH))
                .app_data(data.clone())
                .route(web::post().to(rename)),
        )
        .service(
            web::resource(route(DELETE_PATH))
                .app_data(data)
                .route(web::post().to(delete)),
        );
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=3600",
        ))
        .insert_header((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(SCRIPT)
}

/// The translated text of `err`.
fn error_text(config: &PowConfig, lang: &LanguageIdentifier, err: &PasskeyError) -> String {
    config
        .messages()
        .text(lang, &format!("pow_passkeys_error_{}", err.code()))
}

/// A passkey error on a page: its text as a flash, back to `to`. Server failures are the
/// pipeline's.
pub(crate) fn refused(ctl: &Controller, err: PasskeyError, to: &str) -> Result<Outcome, PowError> {
    if let PasskeyError::Pow(err) = err {
        return Err(err);
    }
    if !err.is_client_error() {
        return Err(PowError::Other(err.to_string()));
    }
    flash::put_error(&ctl.req, Some(error_text(&ctl.config, &ctl.lang, &err)));
    Ok(Outcome::redirect(to))
}

/// The hidden fields of a ceremony form: the ceremony, its options, what the script calls,
/// and where it puts the browser's answer.
pub(crate) fn ceremony_fields(mut form: Form, started: &Started, mode: &str) -> Form {
    for (name, value) in [
        ("ceremony", started.ceremony.clone()),
        ("webauthn_options", started.options.to_string()),
        ("webauthn_mode", mode.to_owned()),
        ("credential", String::new()),
    ] {
        form = form.field(Field::new(name, "", FieldType::Hidden).value(value));
    }
    form
}

fn date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn manage_page(
    ctl: &Controller,
    rp_id: &str,
    passkeys: &[StoredPasskey],
    started: &Started,
) -> Result<HttpResponse, PowError> {
    let messages = ctl.config.messages();
    let add = Form::new(
        path(&ctl.config, MANAGE_PATH, &[]),
        ctl.text("pow_passkeys_add_button"),
        "",
    )
    .field(name_field(ctl));
    let add = ceremony_fields(add, started, "create");
    let mut extra_forms = Vec::new();
    for passkey in passkeys {
        let id = passkey.id.to_string();
        let used = passkey
            .last_used_at
            .map_or_else(|| ctl.text("pow_passkeys_never"), date);
        let item = messages
            .message(
                &ctl.lang,
                "pow_passkeys_item",
                &[
                    ("name", passkey.name.as_str().into()),
                    ("created", date(passkey.inserted_at).into()),
                    ("used", used.into()),
                ],
            )
            .unwrap_or_default();
        let mut item = item;
        if passkey.kind == Kind::SecurityKey {
            item = format!("{item} ({})", ctl.text("pow_passkeys_kind_security_key"));
        }
        if passkey.rp_id != rp_id {
            let other = messages
                .message(
                    &ctl.lang,
                    "pow_passkeys_other_site",
                    &[("site", passkey.rp_id.as_str().into())],
                )
                .unwrap_or_default();
            item = format!("{item} ({other})");
        }
        extra_forms.push(
            Form::new(
                path(&ctl.config, RENAME_PATH, &[("id", &id)]),
                ctl.text("pow_passkeys_rename_button"),
                "",
            )
            .field(
                Field::new(format!("name_{id}"), item, FieldType::Text).value(passkey.name.clone()),
            ),
        );
        let delete = messages
            .message(
                &ctl.lang,
                "pow_passkeys_delete_button",
                &[("name", passkey.name.as_str().into())],
            )
            .unwrap_or_default();
        extra_forms.push(Form::new(
            path(&ctl.config, DELETE_PATH, &[("id", &id)]),
            delete,
            "",
        ));
    }
    let account = ctl
        .config
        .routes()
        .registration_path(&ctl.routes_ctx(), "edit");
    let body = PageBody::Form {
        form: add,
        links: vec![
            Link::new(
                path(&ctl.config, SECURITY_KEY_PATH, &[]),
                ctl.text("pow_passkeys_security_key_link"),
            ),
            Link::new(account, ctl.text("pow_passkeys_account_link")),
        ],
        extra_forms,
    };
    let mut page = Page::new("passkeys/index", "pow_passkeys_title", body).with_script(path(
        &ctl.config,
        SCRIPT_PATH,
        &[],
    ));
    let mut info = vec![ctl.text("pow_passkeys_info")];
    if passkeys.is_empty() {
        info.push(ctl.text("pow_passkeys_none"));
    }
    info.push(ctl.text("pow_passkeys_needs_script"));
    page.info = Some(info.join(" "));
    render_page(&ctl.req, &ctl.config, &ctl.lang, page)
}

/// The id binding a ceremony to the signed-in session.
fn binding(req: &HttpRequest) -> Result<String, PowError> {
    session::current_session(req)
        .map(|current| current.session_id.to_string())
        .ok_or_else(|| PowError::Other("nobody is signed in".into()))
}

async fn manage(req: HttpRequest, ext: web::Data<Passkeys>) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::MANAGE)
        .changes_factor()
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let passkeys = ext.list(&ctl.config, &user).await.map_err(into_pow)?;
            let started = ext
                .start_enrolment(&ctl.config, &user, &binding(&ctl.req)?, Kind::Passkey)
                .await
                .map_err(into_pow)?;
            Ok(Outcome::render(move |ctl: &Controller| {
                manage_page(ctl, ext.rp_id(), &passkeys, &started)
            }))
        })
        .await
}

/// `GET /passkeys/security-key`: a started enrolment of a security key.
async fn security_key(
    req: HttpRequest,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::MANAGE)
        .changes_factor()
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let started = ext
                .start_enrolment(&ctl.config, &user, &binding(&ctl.req)?, Kind::SecurityKey)
                .await
                .map_err(into_pow)?;
            Ok(Outcome::render(move |ctl: &Controller| {
                security_key_page(ctl, &started)
            }))
        })
        .await
}

/// A page whose one form runs a WebAuthn ceremony (`mode`: `create` or `get`): `form`
/// with the ceremony's hidden fields, `links` under it, the script, and the text of
/// `info_key` with the note that the page needs JavaScript.
pub(crate) struct CeremonyPage<'a> {
    pub(crate) name: &'static str,
    pub(crate) title_key: &'static str,
    pub(crate) info_key: &'static str,
    pub(crate) form: Form,
    pub(crate) mode: &'static str,
    pub(crate) started: &'a Started,
    pub(crate) links: Vec<Link>,
}

impl CeremonyPage<'_> {
    pub(crate) fn render(self, ctl: &Controller) -> Result<HttpResponse, PowError> {
        let body = PageBody::Form {
            form: ceremony_fields(self.form, self.started, self.mode),
            links: self.links,
            extra_forms: Vec::new(),
        };
        let mut page = Page::new(self.name, self.title_key, body).with_script(path(
            &ctl.config,
            SCRIPT_PATH,
            &[],
        ));
        page.info = Some(format!(
            "{} {}",
            ctl.text(self.info_key),
            ctl.text("pow_passkeys_needs_script")
        ));
        render_page(&ctl.req, &ctl.config, &ctl.lang, page)
    }
}

/// The form field naming a new passkey.
pub(crate) fn name_field(ctl: &Controller) -> Field {
    Field::new("name", ctl.text("pow_passkeys_name_label"), FieldType::Text)
        .autocomplete("off")
        .required()
}

fn security_key_page(ctl: &Controller, started: &Started) -> Result<HttpResponse, PowError> {
    CeremonyPage {
        name: "passkeys/security_key",
        title_key: "pow_passkeys_title_security_key",
        info_key: "pow_passkeys_security_key_info",
        form: Form::new(
            path(&ctl.config, SECURITY_KEY_PATH, &[]),
            ctl.text("pow_passkeys_security_key_add_button"),
            "",
        )
        .field(name_field(ctl)),
        mode: "create",
        started,
        links: vec![Link::new(
            path(&ctl.config, MANAGE_PATH, &[]),
            ctl.text("pow_passkeys_title"),
        )],
    }
    .render(ctl)
}

pub(crate) fn param(ctl: &Controller, name: &str) -> String {
    ctl.params.get(name).cloned().unwrap_or_default()
}

async fn create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::CREATE)
        .changes_factor()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let back = path(&ctl.config, MANAGE_PATH, &[]);
            let finished = ext
                .finish_enrolment(
                    &ctl.config,
                    &user,
                    &binding(&ctl.req)?,
                    &EnrolAnswer {
                        ceremony: &param(ctl, "ceremony"),
                        name: &param(ctl, "name"),
                        credential: &param(ctl, "credential"),
                    },
                    Some(&ctl.lang),
                )
                .await;
            match finished {
                Ok(_) => {
                    flash::put_info(&ctl.req, Some(ctl.text("pow_passkeys_added")));
                    Ok(Outcome::redirect(&back))
                }
                Err(err) => refused(ctl, err, &back),
            }
        })
        .await
        .map_err(pow_actix::Error)
}

pub(crate) fn passkey_id(raw: &str) -> i64 {
    raw.parse().unwrap_or(-1)
}

async fn rename(
    req: HttpRequest,
    id: web::Path<String>,
    body: Bytes,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::RENAME)
        .signed_in()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let back = path(&ctl.config, MANAGE_PATH, &[]);
            let name = param(ctl, &format!("name_{}", id.as_str()));
            match ext.rename(&ctl.config, &user, passkey_id(&id), &name).await {
                Ok(()) => {
                    flash::put_info(&ctl.req, Some(ctl.text("pow_passkeys_renamed")));
                    Ok(Outcome::redirect(&back))
                }
                Err(err) => refused(ctl, err, &back),
            }
        })
        .await
        .map_err(pow_actix::Error)
}

async fn delete(
    req: HttpRequest,
    id: web::Path<String>,
    body: Bytes,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::DELETE)
        .changes_factor()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = stored_user(&ctl.config, ctl.signed_in()?.id).await?;
            let back = path(&ctl.config, MANAGE_PATH, &[]);
            match ext
                .delete(&ctl.config, &user, passkey_id(&id), Some(&ctl.lang))
                .await
            {
                Ok(_) => {
                    flash::put_info(&ctl.req, Some(ctl.text("pow_passkeys_removed")));
                    Ok(Outcome::redirect(&back))
                }
                Err(err) => refused(ctl, err, &back),
            }
        })
        .await
        .map_err(pow_actix::Error)
}

/// The user `id` as stored: whether it has a password decides the last-passkey rule, and
/// the session's copy holds no password hash.
pub(crate) async fn stored_user(config: &PowConfig, id: i64) -> Result<User, PowError> {
    config
        .users()?
        .get(id)
        .await?
        .ok_or_else(|| PowError::Other("nobody is signed in".into()))
}

async fn sign_in_new(
    req: HttpRequest,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SIGN_IN_NEW)
        .signed_out()
        .run(&req, async |ctl| {
            let started = ext
                .start_sign_in(
                    &ctl.config,
                    &pow_actix::web::ActixRequest(&ctl.req).facts(),
                    None,
                )
                .await
                .map_err(into_pow)?;
            Ok(Outcome::render(move |ctl: &Controller| {
                let email = Field::new(
                    "email",
                    ctl.text("pow_passkeys_email_label"),
                    FieldType::Email,
                )
                .autocomplete("username webauthn");
                CeremonyPage {
                    name: "passkeys/sign_in",
                    title_key: "pow_passkeys_title_sign_in",
                    info_key: "pow_passkeys_sign_in_info",
                    form: Form::new(
                        path(&ctl.config, SIGN_IN_PATH, &[]),
                        ctl.text("pow_passkeys_sign_in_button"),
                        "",
                    )
                    .field(email),
                    mode: "get",
                    started: &started,
                    links: vec![Link::new(
                        ctl.config.routes().session_path(&ctl.routes_ctx(), "new"),
                        ctl.text("title-sign-in"),
                    )],
                }
                .render(ctl)
            }))
        })
        .await
}

async fn step_up_new(
    req: HttpRequest,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::STEP_UP_NEW)
        .signed_in()
        .run(&req, async |ctl| {
            let user = stored_user(&ctl.config, ctl.signed_in()?.id).await?;
            let started = ext
                .start_second_factor(&ctl.config, &user)
                .await
                .map_err(into_pow)?;
            Ok(Outcome::render(move |ctl: &Controller| {
                step_up_page(ctl, &started)
            }))
        })
        .await
}

fn step_up_page(ctl: &Controller, started: &Started) -> Result<HttpResponse, PowError> {
    let action = returning_to(
        path(&ctl.config, STEP_UP_PATH, &[]),
        ctl.request_path.as_deref(),
    );
    CeremonyPage {
        name: "passkeys/step_up",
        title_key: "pow_passkeys_title_step_up",
        info_key: "pow_passkeys_step_up_info",
        form: Form::new(action, ctl.text("pow_passkeys_second_factor_button"), ""),
        mode: "get",
        started,
        links: Vec::new(),
    }
    .render(ctl)
}

async fn step_up_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::STEP_UP)
        .signed_in()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = stored_user(&ctl.config, ctl.signed_in()?.id).await?;
            let (ceremony, credential) = (param(ctl, "ceremony"), param(ctl, "credential"));
            let mut session = CookieSessionHandle::new(&ctl.req);
            let finished = ext
                .step_up(&ctl.config, &user, &ceremony, &credential, &mut *session)
                .await?;
            match finished {
                Ok(_) => {
                    let back = ctl
                        .request_path
                        .clone()
                        .unwrap_or_else(|| path(&ctl.config, MANAGE_PATH, &[]));
                    Ok(Outcome::redirect(&back))
                }
                Err(err) => {
                    let again = returning_to(
                        path(&ctl.config, STEP_UP_PATH, &[]),
                        ctl.request_path.as_deref(),
                    );
                    refused(ctl, err, &again)
                }
            }
        })
        .await
        .map_err(pow_actix::Error)
}

async fn sign_in_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SIGN_IN)
        .signed_out()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let back = path(&ctl.config, SIGN_IN_PATH, &[]);
            let (ceremony, credential) = (param(ctl, "ceremony"), param(ctl, "credential"));
            let mut session = CookieSessionHandle::new(&ctl.req);
            let signed_in = match ext
                .sign_in(&ctl.config, &ceremony, &credential, &mut *session)
                .await?
            {
                Ok(signed_in) => signed_in,
                Err(err) => return refused(ctl, err, &back),
            };
            if let Some(text) = ctl.config.messages().signed_in(&ctl.lang) {
                flash::put_info(&ctl.req, Some(text));
            }
            ctl.user = Some(signed_in.user);
            let after = ctl.config.routes().after_sign_in_path(&ctl.routes_ctx());
            Ok(Outcome::redirect(&after))
        })
        .await
        .map_err(pow_actix::Error)
}

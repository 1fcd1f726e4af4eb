//! The actix side: the pages (manage, sign in), the script, and the JSON endpoints.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use async_trait::async_trait;
use pow_actix::api::{ApiAction, ApiContext, ApiError, ApiExtension};
use pow_actix::messages::LanguageIdentifier;
use pow_actix::session::{self, AuthMethod, CookieSessionHandle};
use pow_actix::users::User;
use pow_actix::views::{Field, FieldType, Form, Link, PageBody};
use pow_actix::web::{
    extension_path, flash, render_page, returning_to, Action, Controller, FormData, Outcome, Page,
};
use pow_actix::{PowConfig, PowError};
use serde::Deserialize;
use serde_json::json;

use crate::{
    into_pow, EnrolAnswer, Kind, PasskeyError, Passkeys, Started, StoredPasskey, NAME, SCRIPT_PATH,
};

/// The passkeys page (list, add, rename, delete), relative to the mount path.
pub(crate) const MANAGE_PATH: &str = "/passkeys";
/// Prove a passkey or security key again, for a step-up rule.
pub(crate) const STEP_UP_PATH: &str = "/passkeys/step-up";
/// Enrol a security key (a second factor only).
const SECURITY_KEY_PATH: &str = "/passkeys/security-key";
/// Rename one passkey.
const RENAME_PATH: &str = "/passkeys/{id}/rename";
/// Delete one passkey.
const DELETE_PATH: &str = "/passkeys/{id}/delete";
/// The passkey sign-in page.
const SIGN_IN_PATH: &str = "/passkeys/sign-in";
/// The script's text.
const SCRIPT: &str = include_str!("../assets/passkeys.js");

/// The passkey controllers' actions, as extension callbacks see them.
pub mod actions {
    use pow_actix::web::{ActionId, ActionKind};

    /// `GET /passkeys`: the list, and a started enrolment (sudo mode).
    pub const MANAGE: ActionId = ActionId::new("passkeys", "index", ActionKind::Show);
    /// `POST /passkeys`: finish an enrolment (sudo mode).
    pub const CREATE: ActionId = ActionId::new("passkeys", "create", ActionKind::Other);
    /// `POST /passkeys/{id}/rename`.
    pub const RENAME: ActionId = ActionId::new("passkeys", "update", ActionKind::Other);
    /// `POST /passkeys/{id}/delete` (sudo mode).
    pub const DELETE: ActionId = ActionId::new("passkeys", "delete", ActionKind::Other);
    /// `GET /passkeys/sign-in`: the page, with a started ceremony.
    pub const SIGN_IN_NEW: ActionId = ActionId::new("passkeys_session", "new", ActionKind::Show);
    /// `POST /passkeys/sign-in`: sign in with the browser's assertion.
    pub const SIGN_IN: ActionId = ActionId::new("passkeys_session", "create", ActionKind::SignIn);
    /// `GET /passkeys/step-up`: a started ceremony for a step-up rule.
    pub const STEP_UP_NEW: ActionId = ActionId::new("passkeys_step_up", "new", ActionKind::Show);
    /// `POST /passkeys/step-up`: records the passkey or security key on the session.
    pub const STEP_UP: ActionId = ActionId::new("passkeys_step_up", "create", ActionKind::Other);
    /// The JSON endpoints of enrolment, listing and changes.
    pub const API_MANAGE: ActionId = ActionId::new("api_passkeys", "manage", ActionKind::Other);
    /// The JSON endpoints of sign-in.
    pub const API_SIGN_IN: ActionId =
        ActionId::new("api_passkeys_session", "create", ActionKind::Other);
}

/// The step-up page, for [`ExtensionBuilder::step_up_page`](pow_actix::extension::ExtensionBuilder::step_up_page).
pub(crate) fn step_up_path(config: &PowConfig) -> String {
    path(config, STEP_UP_PATH, &[])
}

fn path(config: &PowConfig, pattern: &str, params: &[(&str, &str)]) -> String {
    extension_path(config, NAME, pattern, params)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &Passkeys) {
    crate::recovery::configure(cfg, config, ext);
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

/// The passkeys link on the account page, and the passkey sign-in link on the sign-in page.
pub(crate) fn page_links(
    page: &str,
    body: &mut PageBody,
    lang: &LanguageIdentifier,
    config: &PowConfig,
) {
    let (target, key) = match page {
        "registration/edit" => (MANAGE_PATH, "pow_passkeys_link"),
        "session/new" => (SIGN_IN_PATH, "pow_passkeys_sign_in_link"),
        _ => return,
    };
    if let PageBody::Form { links, .. } = body {
        links.push(Link::new(
            path(config, target, &[]),
            config.messages().text(lang, key),
        ));
    }
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

fn passkey_id(raw: &str) -> i64 {
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
async fn stored_user(config: &PowConfig, id: i64) -> Result<User, PowError> {
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
                .start_sign_in(&ctl.config, &pow_actix::web::ActixRequest(&ctl.req), None)
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
                .step_up(&ctl.config, &user, &ceremony, &credential, &mut session)
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
                .sign_in(&ctl.config, &ceremony, &credential, &mut session)
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

/// The JSON side of [`Passkeys`], under the API prefix:
/// - `POST /passkeys/registration/options` (sudo mode; a second factor too when the account
///   has one) with `{}` or `{"kind": "security_key"}`: `{"ceremony", "options"}`;
/// - `POST /passkeys/registration` with `{"ceremony", "name", "credential"}`: `201` and
///   the passkey;
/// - `GET /passkeys`: the list; `PATCH /passkeys/{id}` with `{"name"}`; `DELETE
///   /passkeys/{id}` (sudo mode; `409 last_credential` for the last way into an account);
/// - `POST /passkeys/authentication/options` with `{"email"}` or `{}`;
/// - `POST /passkeys/authentication` with `{"ceremony", "credential"}`: the token pair;
/// - `POST /passkeys/step-up/options` and `POST /passkeys/step-up` with `{"ceremony",
///   "credential"}`: prove a passkey or security key again for a step-up rule (`204`);
/// - `POST /passkeys/recovery/options` and `POST /passkeys/recovery` with the
///   `recovery_token` of a `403 passkey_recovery_required`: enrol a new passkey, then the
///   token pair.
///
/// `credential` is the `PublicKeyCredential` JSON of the browser (`toJSON()`) or app.
/// Refusals answer `{"code": …}` with the codes of [`PasskeyError::code`].
#[derive(Clone, Debug)]
pub struct PasskeysApi {
    ext: Passkeys,
}

impl PasskeysApi {
    pub(crate) fn new(ext: Passkeys) -> Self {
        Self { ext }
    }
}

/// The JSON answer of `err`.
pub(crate) fn api_error(req: &HttpRequest, err: PasskeyError, sign_in: bool) -> ApiError {
    let err = match err {
        PasskeyError::Pow(err) => return ApiError::from_pow(req, err),
        other => other,
    };
    let status = match &err {
        PasskeyError::Config(_) | PasskeyError::UnreadableCredential(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        PasskeyError::NotFound => StatusCode::NOT_FOUND,
        PasskeyError::CredentialTaken | PasskeyError::LastCredential => StatusCode::CONFLICT,
        PasskeyError::InvalidName => StatusCode::UNPROCESSABLE_ENTITY,
        PasskeyError::Malformed => StatusCode::BAD_REQUEST,
        _ if sign_in => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::translated(req, status, &format!("pow_passkeys_error_{}", err.code()))
        .with_code(err.code())
}

#[derive(Deserialize)]
struct Finish {
    ceremony: String,
    #[serde(default)]
    name: String,
    credential: serde_json::Value,
}

#[derive(Deserialize)]
struct Rename {
    name: String,
}

#[derive(Deserialize, Default)]
struct SignInOptions {
    #[serde(default)]
    email: Option<String>,
}

pub(crate) fn body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &Bytes,
) -> Result<T, ApiError> {
    pow_actix::api::json_body(req, body)
}

/// `value` with `status` in the API's envelope, never cached.
fn no_store_json(status: StatusCode, value: serde_json::Value) -> HttpResponse {
    pow_actix::api::answer(status, value)
}

#[derive(Deserialize, Default)]
struct EnrolOptions {
    #[serde(default)]
    kind: Option<Kind>,
}

async fn api_enrol_options(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let options: EnrolOptions = if payload.is_empty() {
        EnrolOptions::default()
    } else {
        body(&req, &payload)?
    };
    let kind = options.kind.unwrap_or(Kind::Passkey);
    let action = Action::new(actions::API_MANAGE).changes_factor();
    api.run_action(&req, action, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        let started = ext
            .start_enrolment(&ctl.config, &user, &current.session_id.to_string(), kind)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(no_store_json(StatusCode::OK, json!(started)))
    })
    .await
}

async fn api_enrol(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let finish: Finish = body(&req, &payload)?;
    let action = Action::new(actions::API_MANAGE).changes_factor();
    api.run_action(&req, action, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        let passkey = ext
            .finish_enrolment(
                &ctl.config,
                &user,
                &current.session_id.to_string(),
                &EnrolAnswer {
                    ceremony: &finish.ceremony,
                    name: &finish.name,
                    credential: &finish.credential.to_string(),
                },
                Some(&ctl.lang),
            )
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(no_store_json(
            StatusCode::CREATED,
            json!({ "passkey": passkey }),
        ))
    })
    .await
}

async fn api_list(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    api.run(&req, actions::API_MANAGE, async |ctl| {
        let passkeys = ext
            .list(&ctl.config, &current.user)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(no_store_json(
            StatusCode::OK,
            json!({ "passkeys": passkeys }),
        ))
    })
    .await
}

async fn api_rename(
    req: HttpRequest,
    api: ApiContext,
    id: web::Path<String>,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let rename: Rename = body(&req, &payload)?;
    api.run(&req, actions::API_MANAGE, async |ctl| {
        ext.rename(&ctl.config, &current.user, passkey_id(&id), &rename.name)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(HttpResponse::NoContent().finish())
    })
    .await
}

async fn api_delete(
    req: HttpRequest,
    api: ApiContext,
    id: web::Path<String>,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let action = Action::new(actions::API_MANAGE).changes_factor();
    api.run_action(&req, action, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        ext.delete(&ctl.config, &user, passkey_id(&id), Some(&ctl.lang))
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(HttpResponse::NoContent().finish())
    })
    .await
}

async fn api_sign_in_options(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let options: SignInOptions = if payload.is_empty() {
        SignInOptions::default()
    } else {
        body(&req, &payload)?
    };
    api.run(&req, actions::API_SIGN_IN, async |ctl| {
        let started = ext
            .start_sign_in(
                &ctl.config,
                &pow_actix::web::ActixRequest(&req),
                options.email.as_deref(),
            )
            .await
            .map_err(|err| api_error(&req, err, true))?;
        Ok(no_store_json(StatusCode::OK, json!(started)))
    })
    .await
}

async fn api_sign_in(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let finish: Finish = body(&req, &payload)?;
    api.run(&req, actions::API_SIGN_IN, async |ctl| {
        let mut session = api.session(&req, ApiAction::SignIn);
        let credential = finish.credential.to_string();
        ext.sign_in(&ctl.config, &finish.ceremony, &credential, &mut session)
            .await?
            .map_err(|err| api_error(&req, err, true))?;
        api.issued(&req, &session)
    })
    .await
}

async fn api_step_up_options(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    api.run(&req, actions::API_MANAGE, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        let started = ext
            .start_second_factor(&ctl.config, &user)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(no_store_json(StatusCode::OK, json!(started)))
    })
    .await
}

#[derive(Deserialize)]
struct StepUpFinish {
    ceremony: String,
    credential: serde_json::Value,
}

async fn api_step_up(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let finish: StepUpFinish = body(&req, &payload)?;
    api.run(&req, actions::API_MANAGE, async |ctl| {
        let user = stored_user(&ctl.config, current.user.id).await?;
        let mut session = api.session(&req, ApiAction::SignIn);
        let credential = finish.credential.to_string();
        ext.step_up(
            &ctl.config,
            &user,
            &finish.ceremony,
            &credential,
            &mut session,
        )
        .await?
        .map_err(|err| api_error(&req, err, true))?;
        Ok(HttpResponse::NoContent().finish())
    })
    .await
}

#[async_trait(?Send)]
impl ApiExtension for PasskeysApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../openapi.json"))
    }

    /// An emailed link or code alone, for an account that signs in with passkeys only,
    /// gets no pair: `403 passkey_recovery_required` with a `recovery_token` that may only
    /// enrol a new passkey (`POST <prefix>/passkeys/recovery`).
    async fn before_issue(
        &self,
        req: &HttpRequest,
        api: &ApiContext,
        user: &User,
        action: ApiAction,
    ) -> Result<(), ApiError> {
        if action != ApiAction::SignIn {
            return Ok(());
        }
        let methods: Vec<AuthMethod> = pow_actix::api::sign_in_methods(req)
            .iter()
            .map(|used| used.method)
            .collect();
        let recovery = crate::recovery::is_recovery(&self.ext, api.config(), user, &methods)
            .await
            .map_err(|err| ApiError::from_pow(req, err))?;
        if recovery {
            return Err(crate::recovery::recovery_required(req, api.config(), user));
        }
        Ok(())
    }

    fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
        let data = web::Data::new(self.ext.clone());
        cfg.service(
            api.resource("/passkeys/registration/options")
                .app_data(data.clone())
                .route(web::post().to(api_enrol_options)),
        )
        .service(
            api.resource("/passkeys/registration")
                .app_data(data.clone())
                .route(web::post().to(api_enrol)),
        )
        .service(
            api.resource("/passkeys/authentication/options")
                .app_data(data.clone())
                .route(web::post().to(api_sign_in_options)),
        )
        .service(
            api.resource("/passkeys/authentication")
                .app_data(data.clone())
                .route(web::post().to(api_sign_in)),
        )
        .service(
            api.resource("/passkeys/step-up/options")
                .app_data(data.clone())
                .route(web::post().to(api_step_up_options)),
        )
        .service(
            api.resource("/passkeys/step-up")
                .app_data(data.clone())
                .route(web::post().to(api_step_up)),
        )
        .service(
            api.resource("/passkeys/recovery/options")
                .app_data(data.clone())
                .route(web::post().to(crate::recovery::api_options)),
        )
        .service(
            api.resource("/passkeys/recovery")
                .app_data(data.clone())
                .route(web::post().to(crate::recovery::api_finish)),
        )
        .service(
            api.resource("/passkeys")
                .app_data(data.clone())
                .route(web::get().to(api_list)),
        )
        .service(
            api.resource("/passkeys/{id}")
                .app_data(data)
                .route(web::patch().to(api_rename))
                .route(web::delete().to(api_delete)),
        );
    }
}

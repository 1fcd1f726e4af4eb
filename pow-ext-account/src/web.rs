//! The actix side: the pages (close, reopen, export) and the JSON endpoints.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use async_trait::async_trait;
use chrono::Utc;
use pow_core::api::{ApiContext, ApiError, ApiExtension};
use pow_core::flows::ClosedSignIn;
use pow_core::messages::LanguageIdentifier;
use pow_core::pipeline::{Client, Halt, Step};
use pow_core::session::{
    self, AuthMethod, CookieSessionExt as _, CookieSessionHandle, SessionHandle as _,
    SessionMetadata,
};
use pow_core::users::User;
use pow_core::views::{Field, FieldType, Form, Link, PageBody};
use pow_core::web::{
    extension_path, flash, render_page, Action, Controller, Flow, FormData, Outcome, Page,
};
use pow_core::{PowConfig, PowError};
use serde::Deserialize;
use serde_json::json;

use crate::{
    date_arg, signed_parts, Account, Closed, CONFIRM_LINK_PATH, NAME, REACTIVATE_LINK_PATH,
};

/// The closing page, relative to the mount path.
const CLOSE_PATH: &str = "/account/close";
/// The page offering reactivation after a password sign-in.
const REACTIVATE_PATH: &str = "/account/reactivate";
/// The data export.
const EXPORT_PATH: &str = "/account/export";
/// Salt of the signed pending reactivation in the cookie session.
const PENDING_SALT: &str = "pow account pending reactivation";
/// How long a password sign-in may be followed by its reactivation.
const PENDING_TTL_MS: i64 = 10 * 60 * 1000;
/// The remember-me checkbox of `pow-ext-persistent-session`, carried through.
const PERSIST_FIELD: &str = "persistent_session";

/// The account controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_core::web::{ActionId, ActionKind};

    /// `GET /account/close`: the closing page.
    pub const CLOSE_NEW: ActionId = ActionId::new("account_close", "new", ActionKind::Show);
    /// `POST /account/close`: close the signed-in account (sudo mode), or mail the
    /// confirmation to an account without a password.
    pub const CLOSE: ActionId = ActionId::new("account_close", "create", ActionKind::Other);
    /// `GET /account/close/{token}`: the mailed confirmation's page.
    pub const CLOSE_LINK_NEW: ActionId =
        ActionId::new("account_close_link", "new", ActionKind::Show);
    /// `POST /account/close/{token}`: close through the mailed confirmation.
    pub const CLOSE_LINK: ActionId =
        ActionId::new("account_close_link", "create", ActionKind::Other);
    /// `GET /account/reactivate`: reactivation offered after a password sign-in.
    pub const REACTIVATE_NEW: ActionId =
        ActionId::new("account_reactivate", "new", ActionKind::Show);
    /// `POST /account/reactivate`: reopen and sign in (a sign-in: a second factor applies).
    pub const REACTIVATE: ActionId =
        ActionId::new("account_reactivate", "create", ActionKind::SignIn);
    /// `GET /account/reactivate/{token}`: the mailed link's page.
    pub const REACTIVATE_LINK_NEW: ActionId =
        ActionId::new("account_reactivate_link", "new", ActionKind::Show);
    /// `POST /account/reactivate/{token}`: reopen through the mailed link (no sign-in).
    pub const REACTIVATE_LINK: ActionId =
        ActionId::new("account_reactivate_link", "create", ActionKind::Other);
    /// `GET /account/export`: download the data export (sudo mode).
    pub const EXPORT: ActionId = ActionId::new("account_export", "show", ActionKind::Show);
    /// `POST <api>/account/close` (JSON).
    pub const API_CLOSE: ActionId = ActionId::new("api_account_close", "create", ActionKind::Other);
    /// `POST <api>/account/close/{token}` (JSON): close through the mailed confirmation.
    pub const API_CLOSE_LINK: ActionId =
        ActionId::new("api_account_close_link", "create", ActionKind::Other);
    /// `POST <api>/account/reactivate` (JSON): checks a password like a sign-in (its
    /// rate limits and lock apply), without signing in.
    pub const API_REACTIVATE: ActionId =
        ActionId::new("api_account_reactivate", "create", ActionKind::SignIn);
    /// `GET <api>/account/export` (JSON).
    pub const API_EXPORT: ActionId = ActionId::new("api_account_export", "show", ActionKind::Show);
}

fn path(config: &PowConfig, pattern: &str, params: &[(&str, &str)]) -> String {
    extension_path(config, NAME, pattern, params)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &Account) {
    let route = |pattern: &str| config.routes().extension_route(NAME, pattern);
    let data = web::Data::new(ext.clone());
    cfg.service(
        web::resource(route(CLOSE_PATH))
            .app_data(data.clone())
            .route(web::get().to(close_new))
            .route(web::post().to(close_create)),
    )
    .service(
        web::resource(route(CONFIRM_LINK_PATH))
            .app_data(data.clone())
            .route(web::get().to(close_link_new))
            .route(web::post().to(close_link_create)),
    )
    .service(
        web::resource(route(REACTIVATE_PATH))
            .app_data(data.clone())
            .route(web::get().to(reactivate_new))
            .route(web::post().to(reactivate_create)),
    )
    .service(
        web::resource(route(REACTIVATE_LINK_PATH))
            .app_data(data.clone())
            .route(web::get().to(reactivate_link_new))
            .route(web::post().to(reactivate_link_create)),
    )
    .service(
        web::resource(route(EXPORT_PATH))
            .app_data(data)
            .route(web::get().to(export)),
    );
}

/// The links to the closing page and the export on the account page.
pub(crate) fn account_links(
    page: &str,
    body: &mut PageBody,
    lang: &LanguageIdentifier,
    config: &PowConfig,
) {
    if page != "registration/edit" {
        return;
    }
    if let PageBody::Form { links, .. } = body {
        let messages = config.messages();
        links.push(Link::new(
            path(config, EXPORT_PATH, &[]),
            messages.text(lang, "pow_account_link_export"),
        ));
        links.push(Link::new(
            path(config, CLOSE_PATH, &[]),
            messages.text(lang, "pow_account_link_close"),
        ));
    }
}

/// A page with one button: `info`, then a form posting to `action`.
fn button_page(
    ctl: &Controller,
    name: &'static str,
    title: &'static str,
    info: String,
    action: String,
    button: &str,
    hidden: Vec<Field>,
) -> Result<HttpResponse, PowError> {
    let mut form = Form::new(action, ctl.text(button), "");
    for field in hidden {
        form = form.field(field);
    }
    let body = PageBody::Form {
        form,
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    let mut page = Page::new(name, title, body);
    page.info = Some(info);
    render_page(&ctl.req, &ctl.config, &ctl.lang, page)
}

fn dated(ctl: &Controller, key: &str, user: &User) -> String {
    let date = Account::erase_date(user).unwrap_or_else(Utc::now);
    ctl.config
        .messages()
        .message(&ctl.lang, key, &[("date", date_arg(date))])
        .unwrap_or_default()
}

fn close_page(ctl: &Controller, ext: &Account, action: String) -> Result<HttpResponse, PowError> {
    let info = if ext.grace().is_zero() {
        ctl.text("pow_account_close_info_now")
    } else {
        let date =
            Utc::now() + chrono::Duration::from_std(ext.grace()).unwrap_or(chrono::Duration::MAX);
        ctl.config
            .messages()
            .message(
                &ctl.lang,
                "pow_account_close_info",
                &[("date", date_arg(date))],
            )
            .unwrap_or_default()
    };
    button_page(
        ctl,
        "account/close",
        "pow_account_title_close",
        info,
        action,
        "pow_account_close_button",
        Vec::new(),
    )
}

async fn close_new(req: HttpRequest, ext: web::Data<Account>) -> Result<HttpResponse, PowError> {
    Action::new(actions::CLOSE_NEW)
        .signed_in()
        .run(&req, async |_| {
            let ext = Account::clone(&ext);
            Ok(Outcome::render(move |ctl: &Controller| {
                close_page(ctl, &ext, path(&ctl.config, CLOSE_PATH, &[]))
            }))
        })
        .await
}

/// Whether the signed-in user proves the account by a mailed link rather than sudo mode:
/// no password to confirm, and the session is not fresh from its sign-in.
fn proves_by_mail(req: &HttpRequest, config: &PowConfig) -> bool {
    session::current_user(req).is_some_and(|user| user.password_hash.is_none())
        && !session::is_fresh(req, config)
}

async fn close_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Account>,
) -> Result<HttpResponse, PowError> {
    let config = pow_core::web::route_config(&req)?;
    let by_mail = proves_by_mail(&req, &config);
    // Support access closes nothing, by either proof.
    let action = Action::new(actions::CLOSE)
        .owner_only()
        .form(FormData::parse(&body));
    let action = if by_mail { action } else { action.sudo() };
    action
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            if by_mail {
                ext.request_close(&ctl.config, &user, &ctl.lang).await?;
                flash::put_info(&ctl.req, Some(ctl.text("pow_account_confirm_mail_sent")));
                let back = ctl
                    .config
                    .routes()
                    .registration_path(&ctl.routes_ctx(), "edit");
                return Ok(Outcome::redirect(&back));
            }
            closed(ctl, &ext, &user).await
        })
        .await
}

/// Closes `user`'s account, signs this browser out, and says when it is erased.
async fn closed(ctl: &mut Controller, ext: &Account, user: &User) -> Result<Outcome, PowError> {
    if session::current_session(&ctl.req).is_some() {
        session::sign_out(&ctl.req).await?;
    }
    let text = match ext.close(&ctl.config, user, &ctl.lang).await? {
        Closed::Scheduled(at) => ctl
            .config
            .messages()
            .message(&ctl.lang, "pow_account_closed", &[("date", date_arg(at))])
            .unwrap_or_default(),
        Closed::Erased => ctl.text("pow_account_erased"),
    };
    flash::put_info(&ctl.req, Some(text));
    let sign_in = ctl.config.routes().session_path(&ctl.routes_ctx(), "new");
    Ok(Outcome::redirect(&sign_in))
}

async fn close_link_new(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Account>,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::CLOSE_LINK_NEW)
        .run(&req, async |ctl| {
            if ext
                .find_by_confirmation(&ctl.config, &token)
                .await?
                .is_none()
            {
                return Ok(invalid_link(ctl));
            }
            let action = path(&ctl.config, CONFIRM_LINK_PATH, &[("token", &token)]);
            let ext = Account::clone(&ext);
            Ok(Outcome::render(move |ctl: &Controller| {
                close_page(ctl, &ext, action.clone())
            }))
        })
        .await
}

async fn close_link_create(
    req: HttpRequest,
    token: web::Path<String>,
    body: Bytes,
    ext: web::Data<Account>,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::CLOSE_LINK)
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let Some(user) = ext.find_by_confirmation(&ctl.config, &token).await? else {
                return Ok(invalid_link(ctl));
            };
            closed(ctl, &ext, &user).await
        })
        .await
}

fn invalid_link(ctl: &Controller) -> Outcome {
    flash::put_error(&ctl.req, Some(ctl.text("pow_account_invalid_link")));
    Outcome::redirect(&ctl.config.routes().session_path(&ctl.routes_ctx(), "new"))
}

fn pending_key(config: &PowConfig) -> String {
    config.namespaced("pow_account_pending")
}

/// The closed account a password sign-in in this browser just proved, while fresh, with
/// the remember-me choice of that sign-in.
async fn pending(
    req: &HttpRequest,
    config: &PowConfig,
) -> Result<Option<(User, String)>, PowError> {
    let Some(signed) = req
        .cookie_session()
        .get::<String>(&pending_key(config))
        .ok()
        .flatten()
    else {
        return Ok(None);
    };
    let Some((id, at, persist)) = signed_parts(config, PENDING_SALT, &signed) else {
        return Ok(None);
    };
    if Utc::now().timestamp_millis().saturating_sub(at) > PENDING_TTL_MS {
        return Ok(None);
    }
    let user = config.users()?.get(id).await?;
    Ok(user.filter(User::is_closed).map(|user| (user, persist)))
}

/// After a password sign-in of a closed account: the browser is offered reactivation.
#[async_trait(?Send)]
impl pow_core::extension::Callbacks for Account {
    async fn before_respond(
        &self,
        step: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        if step.is_json() {
            return Ok(Flow::Continue);
        }
        let Some(ClosedSignIn(user)) = step.assigns.remove::<ClosedSignIn>() else {
            return Ok(Flow::Continue);
        };
        let persist = step
            .params
            .get(PERSIST_FIELD)
            .cloned()
            .unwrap_or_else(|| "true".to_owned());
        let payload = format!("{}.{}.{persist}", user.id, Utc::now().timestamp_millis());
        let signed = step.config.verifier().sign_token(PENDING_SALT, &payload);
        client.set_value(&pending_key(&step.config), &signed)?;
        client.discard_flash();
        let reactivate = path(&step.config, REACTIVATE_PATH, &[]);
        Ok(Flow::Halt(Halt::Redirect(reactivate)))
    }
}

async fn reactivate_new(req: HttpRequest) -> Result<HttpResponse, PowError> {
    Action::new(actions::REACTIVATE_NEW)
        .signed_out()
        .run(&req, async |ctl| {
            let Some((user, persist)) = pending(&ctl.req, &ctl.config).await? else {
                return Ok(invalid_link(ctl));
            };
            Ok(Outcome::render(move |ctl: &Controller| {
                button_page(
                    ctl,
                    "account/reactivate",
                    "pow_account_title_reactivate",
                    dated(ctl, "pow_account_reactivate_info", &user),
                    path(&ctl.config, REACTIVATE_PATH, &[]),
                    "pow_account_reactivate_button",
                    vec![Field::new(PERSIST_FIELD, "", FieldType::Hidden).value(persist.clone())],
                )
            }))
        })
        .await
}

async fn reactivate_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Account>,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::REACTIVATE)
        .signed_out()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let Some((user, _)) = pending(&ctl.req, &ctl.config).await? else {
                return Ok(invalid_link(ctl));
            };
            ctl.req.cookie_session().remove(&pending_key(&ctl.config));
            let user = ext.reactivate(&ctl.config, &user, "sign_in").await?;
            let metadata = SessionMetadata::new().with_method(AuthMethod::PASSWORD);
            let mut session = CookieSessionHandle::new(&ctl.req);
            session.start(&ctl.config, &user, metadata).await?;
            flash::put_info(&ctl.req, Some(ctl.text("pow_account_reactivated")));
            ctl.user = Some(user);
            let after = ctl.config.routes().after_sign_in_path(&ctl.routes_ctx());
            Ok(Outcome::redirect(&after))
        })
        .await
}

async fn reactivate_link_new(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Account>,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::REACTIVATE_LINK_NEW)
        .run(&req, async |ctl| {
            let Some(user) = ext.find_by_link(&ctl.config, &token).await? else {
                return Ok(invalid_link(ctl));
            };
            let action = path(&ctl.config, REACTIVATE_LINK_PATH, &[("token", &token)]);
            Ok(Outcome::render(move |ctl: &Controller| {
                button_page(
                    ctl,
                    "account/reactivate",
                    "pow_account_title_reactivate",
                    dated(ctl, "pow_account_reactivate_info", &user),
                    action.clone(),
                    "pow_account_reactivate_button",
                    Vec::new(),
                )
            }))
        })
        .await
}

async fn reactivate_link_create(
    req: HttpRequest,
    token: web::Path<String>,
    body: Bytes,
    ext: web::Data<Account>,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::REACTIVATE_LINK)
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let Some(user) = ext.find_by_link(&ctl.config, &token).await? else {
                return Ok(invalid_link(ctl));
            };
            ext.reactivate(&ctl.config, &user, "link").await?;
            flash::put_info(&ctl.req, Some(ctl.text("pow_account_reactivated_sign_in")));
            Ok(Outcome::redirect(
                &ctl.config.routes().session_path(&ctl.routes_ctx(), "new"),
            ))
        })
        .await
}

/// The export as a download: `pow-account-export.json`, never cached.
fn download(export: &serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(pow_core::web::no_store())
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"pow-account-export.json\"",
        ))
        .content_type("application/json")
        .body(export.to_string())
}

async fn export(req: HttpRequest, ext: web::Data<Account>) -> Result<HttpResponse, PowError> {
    Action::new(actions::EXPORT)
        .signed_in()
        .sudo()
        .run(&req, async |ctl| {
            let user = stored(&ctl.config, ctl.signed_in()?.id).await?;
            let export = ext.export(&ctl.config, &user).await?;
            Ok(Outcome::Respond(download(&export)))
        })
        .await
}

/// The user `id` as stored (the session's copy lacks secret columns; the export reads
/// the row).
async fn stored(config: &PowConfig, id: i64) -> Result<User, PowError> {
    config
        .users()?
        .get(id)
        .await?
        .ok_or_else(|| PowError::Other("the signed-in user is gone".into()))
}

/// The JSON side of [`Account`]:
/// - `POST <prefix>/account/close` (sudo mode): `200` with `erase_after`, or
///   `{"erased": true}`; every token of the account ends. An account without a password
///   whose session is not fresh gets `202`: the closing confirmation is mailed;
/// - `POST <prefix>/account/close/{token}` with that mail's token ([`CLOSE_LINK`](crate::CLOSE_LINK)
///   points it at the app): closes the account, as above;
/// - `POST <prefix>/account/reactivate` with the user id and password (or `{"token"}` from
///   the mailed link): reopens a closed account; `200 {"reactivated": true}`, then sign in.
///   The password check asks for the CAPTCHA when the setup has one, and an open account
///   is answered as wrong credentials are (`401 invalid_credentials`);
/// - `GET <prefix>/account/export` (sudo mode, rate-limited): the export document.
#[derive(Clone, Debug)]
pub struct AccountApi {
    ext: Account,
}

impl AccountApi {
    pub(crate) fn new(ext: Account) -> Self {
        Self { ext }
    }
}

async fn api_close(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<Account>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let user = stored(api.config(), current.user.id).await?;
    // An account without a password proves itself by a mailed link, unless the session is
    // fresh from its sign-in.
    let by_mail = user.password_hash.is_none()
        && !current
            .metadata
            .is_fresh(api.config().session().sudo_window);
    // Support access closes nothing, by either proof.
    let action = Action::new(actions::API_CLOSE).owner_only();
    let action = if by_mail { action } else { action.sudo() };
    api.run_action(&req, action, async |ctl| {
        if by_mail {
            ext.request_close(&ctl.config, &user, &ctl.lang).await?;
            return Ok(pow_core::api::answer(
                StatusCode::ACCEPTED,
                json!({
                    "closed": false,
                    "confirmation_sent": true,
                    "message": ctl.text("pow_account_confirm_mail_sent"),
                }),
            ));
        }
        close_answer(&ext.close(&ctl.config, &user, &ctl.lang).await?)
    })
    .await
}

/// The answer to a closed account: when it is erased, or that it is.
fn close_answer(closed: &Closed) -> Result<HttpResponse, ApiError> {
    let data = match closed {
        Closed::Scheduled(at) => json!({ "closed": true, "erase_after": at.to_rfc3339() }),
        Closed::Erased => json!({ "closed": true, "erased": true }),
    };
    Ok(pow_core::api::answer(StatusCode::OK, data))
}

/// `POST <api>/account/close/{token}`: closes the account of a mailed closing
/// confirmation (an account without a password); `401 invalid_token` for a link that is
/// stale, forged, or of an account closed already.
async fn api_close_link(
    req: HttpRequest,
    api: ApiContext,
    token: web::Path<String>,
    ext: web::Data<Account>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_CLOSE_LINK, async |ctl| {
        let Some(user) = ext.find_by_confirmation(&ctl.config, &token).await? else {
            return Err(ApiError::translated(
                &req,
                StatusCode::UNAUTHORIZED,
                "pow_account_invalid_link",
            )
            .with_code("invalid_token"));
        };
        let closed = ext.close(&ctl.config, &user, &ctl.lang).await?;
        ctl.user = Some(user);
        close_answer(&closed)
    })
    .await
}

#[derive(Deserialize)]
struct ReactivateBody {
    token: Option<String>,
}

async fn api_reactivate(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<Account>,
) -> Result<HttpResponse, ApiError> {
    let by_link: ReactivateBody = pow_core::api::json_body(&req, &body)?;
    let params =
        pow_core::api::user_params(&body).ok_or_else(|| ApiError::invalid_request(&req))?;
    let action = Action::new(actions::API_REACTIVATE).params(params);
    // A password check is a sign-in's: it asks for the CAPTCHA as a sign-in does. The
    // mailed link's token checks no password.
    let action = match by_link.token {
        Some(_) => action,
        None => action.captcha(),
    };
    api.run_action(&req, action, async |ctl| {
        let config = ctl.config.clone();
        let (user, by) = match &by_link.token {
            Some(token) => {
                let Some(user) = ext.find_by_link(&config, token).await? else {
                    return Err(ApiError::translated(
                        &req,
                        StatusCode::UNAUTHORIZED,
                        "pow_account_invalid_link",
                    )
                    .with_code("invalid_token"));
                };
                (user, "link")
            }
            None => {
                let Some(user) = config.users()?.authenticate(ctl.params.clone()).await? else {
                    return Err(ApiError::invalid_credentials(&req, &config));
                };
                if !user.is_closed() {
                    // Answered as a wrong password: otherwise this route would tell, without
                    // the sign-in's second factor, whether a password is right.
                    return Err(ApiError::invalid_credentials(&req, &config));
                }
                (user, "sign_in")
            }
        };
        let user = ext.reactivate(&config, &user, by).await?;
        ctl.user = Some(user);
        Ok(pow_core::api::answer(
            StatusCode::OK,
            json!({ "reactivated": true }),
        ))
    })
    .await
}

async fn api_export(
    req: HttpRequest,
    api: ApiContext,
    ext: web::Data<Account>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    let action = Action::new(actions::API_EXPORT).sudo();
    api.run_action(&req, action, async |ctl| {
        let user = stored(&ctl.config, current.user.id).await?;
        Ok(download(&ext.export(&ctl.config, &user).await?))
    })
    .await
}

#[async_trait(?Send)]
impl ApiExtension for AccountApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_core::api::openapi_fragment(NAME, include_str!("../openapi.json"))
    }

    fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
        let data = web::Data::new(self.ext.clone());
        cfg.service(
            api.resource("/account/close")
                .app_data(data.clone())
                .route(web::post().to(api_close)),
        )
        .service(
            api.resource("/account/close/{token}")
                .app_data(data.clone())
                .route(web::post().to(api_close_link)),
        )
        .service(
            api.resource("/account/reactivate")
                .app_data(data.clone())
                .route(web::post().to(api_reactivate)),
        )
        .service(
            api.resource("/account/export")
                .app_data(data)
                .route(web::get().to(api_export)),
        );
    }
}

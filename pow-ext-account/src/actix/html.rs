//! The pages (actix): close, reopen, export.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use pow_actix::session::{
    self, AuthMethod, CookieSessionExt as _, CookieSessionHandle, SessionHandle as _,
    SessionMetadata,
};
use pow_actix::users::User;
use pow_actix::views::{Field, FieldType, Form, PageBody};
use pow_actix::web::{flash, render_page, Action, Controller, FormData, Outcome, Page};
use pow_actix::{PowConfig, PowError};

use crate::{
    date_arg, signed_parts, Account, Closed, CONFIRM_LINK_PATH, NAME, REACTIVATE_LINK_PATH,
};

use crate::flows::{
    actions, path, pending_key, stored, CLOSE_PATH, EXPORT_PATH, PENDING_SALT, PENDING_TTL_MS,
    PERSIST_FIELD, REACTIVATE_PATH,
};

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

async fn close_new(req: HttpRequest, ext: web::Data<Account>) -> pow_actix::Result<HttpResponse> {
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
pub(crate) fn proves_by_mail(req: &HttpRequest, config: &PowConfig) -> bool {
    session::current_user(req).is_some_and(|user| user.password_hash.is_none())
        && !session::is_fresh(req, config)
}

async fn close_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Account>,
) -> pow_actix::Result<HttpResponse> {
    let config = pow_actix::web::route_config(&req)?;
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
        .map_err(pow_actix::Error)
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
) -> pow_actix::Result<HttpResponse> {
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
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::CLOSE_LINK)
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let Some(user) = ext.find_by_confirmation(&ctl.config, &token).await? else {
                return Ok(invalid_link(ctl));
            };
            closed(ctl, &ext, &user).await
        })
        .await
        .map_err(pow_actix::Error)
}

fn invalid_link(ctl: &Controller) -> Outcome {
    flash::put_error(&ctl.req, Some(ctl.text("pow_account_invalid_link")));
    Outcome::redirect(&ctl.config.routes().session_path(&ctl.routes_ctx(), "new"))
}

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

async fn reactivate_new(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
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
) -> pow_actix::Result<HttpResponse> {
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
) -> pow_actix::Result<HttpResponse> {
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
) -> pow_actix::Result<HttpResponse> {
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
pub(crate) fn download(export: &serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(pow_actix::web::no_store())
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"pow-account-export.json\"",
        ))
        .content_type("application/json")
        .body(export.to_string())
}

async fn export(req: HttpRequest, ext: web::Data<Account>) -> pow_actix::Result<HttpResponse> {
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

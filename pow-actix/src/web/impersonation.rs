//! Support access over HTTP, mounted when the setup has
//! [`impersonation`](crate::PowConfigBuilder::impersonation):
//!
//! - `POST /impersonation` (form fields `user[user_id]` and `user[reason]`, CSRF-checked;
//!   there is no `GET`): an admin with a fresh session opens support access to a user and
//!   lands on the after-sign-in page as them;
//! - `POST /impersonation/stop`: back to the admin's own session.
//!
//! A client asking for JSON (`Accept: application/json`) gets `201` with the session's
//! limits, `403 impersonation_refused` with the refusal's code, or `200` on stop.

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::action::{Action, Outcome};
use super::callbacks::{ActionId, ActionKind, Controller};
use super::params::FormData;
use crate::error::PowError;
use crate::mailer::{send_notice, Notice};
use crate::session::{self, impersonation};

/// `POST /impersonation`: start support access.
pub const IMPERSONATION_START: ActionId =
    ActionId::new("impersonation", "create", ActionKind::Other);
/// `POST /impersonation/stop`: stop it.
pub const IMPERSONATION_STOP: ActionId =
    ActionId::new("impersonation", "delete", ActionKind::Other);

fn refused(ctl: &Controller, refusal: impersonation::Refusal) -> HttpResponse {
    if session::wants_json(&ctl.req) {
        use actix_web::ResponseError as _;
        let status = StatusCode::FORBIDDEN;
        return crate::api::ApiError::translated(&ctl.req, status, "impersonation-refused")
            .with_code("impersonation_refused")
            .with_detail("refusal", refusal.code())
            .error_response();
    }
    let message = ctl.text("impersonation-refused");
    HttpResponse::build(StatusCode::FORBIDDEN)
        .insert_header(super::no_store())
        .content_type("text/plain; charset=utf-8")
        .body(message)
}

pub(super) async fn start(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    Action::new(IMPERSONATION_START)
        .signed_in()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let Some(admin) = session::current_session(&ctl.req) else {
                return Err(PowError::Config("a signed-in action without a session".into()).into());
            };
            let config = ctl.config.clone();
            // Sudo mode, after the nested check (which `start` audits as its own refusal).
            if !admin.metadata.is_impersonation() && !session::is_fresh(&ctl.req, &config) {
                if session::wants_json(&ctl.req) {
                    return Err(PowError::ReauthenticationRequired.into());
                }
                let confirm = config.routes().session_path(&ctl.routes_ctx(), "confirm");
                return Ok(Outcome::redirect(&confirm));
            }
            let target = ctl
                .params
                .get("user_id")
                .and_then(|id| id.trim().parse::<i64>().ok())
                .unwrap_or(0);
            let reason = ctl.params.get("reason").cloned().unwrap_or_default();
            let device = session::device_of(&crate::web::ActixRequest(&ctl.req).facts());
            let started =
                match impersonation::start(&config, &admin, target, &reason, device).await? {
                    Ok(started) => started,
                    Err(refusal) => return Ok(Outcome::Respond(refused(ctl, refusal))),
                };
            let user = started.session.user.clone();
            let impersonator = started.session.metadata.impersonator();
            session::begin_impersonation(&ctl.req, &config, started)?;
            if config.impersonation().is_some_and(|p| p.notifies_user()) {
                let reason = impersonator.as_ref().map_or("", |i| i.reason.as_str());
                let to = user.email().unwrap_or_default();
                send_notice(
                    &config,
                    &crate::web::ActixRequest(&ctl.req).facts(),
                    &ctl.lang,
                    to,
                    Notice::SupportAccess { reason },
                )
                .await;
            }
            if session::wants_json(&ctl.req) {
                let limits =
                    impersonator.map(|i| json!({"ends_at": i.ends_at, "idle_ms": i.idle_ms}));
                return Ok(Outcome::Respond(crate::api::answer(
                    actix_web::http::StatusCode::CREATED,
                    json!({"user_id": user.id, "impersonation": limits}),
                )));
            }
            Ok(Outcome::redirect(
                &config.routes().after_sign_in_path(&ctl.routes_ctx()),
            ))
        })
        .await
}

pub(super) async fn stop(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    Action::new(IMPERSONATION_STOP)
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let stopped = session::stop_impersonation(&ctl.req).await?;
            ctl.current_user = session::current_user(&ctl.req).map(|user| (*user).clone());
            if session::wants_json(&ctl.req) {
                return Ok(Outcome::Respond(crate::api::answer(
                    actix_web::http::StatusCode::OK,
                    json!({
                        "stopped": stopped,
                        "user_id": ctl.current_user.as_ref().map(|user| user.id),
                    }),
                )));
            }
            Ok(Outcome::redirect(
                &ctl.config.routes().after_sign_in_path(&ctl.routes_ctx()),
            ))
        })
        .await
}

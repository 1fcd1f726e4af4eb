//! Support access over HTTP, mounted when the setup has
//! [`impersonation`](crate::PowConfigBuilder::impersonation), the same on every framework:
//!
//! - `POST /impersonation` (form fields `user[user_id]` and `user[reason]`, CSRF-checked;
//!   there is no `GET`): an admin with a fresh session opens support access to a user and
//!   lands on the after-sign-in page as them;
//! - `POST /impersonation/stop`: back to the admin's own session.
//!
//! A client asking for JSON (`Accept: application/json`) gets `201` with the session's
//! limits, `403 impersonation_refused` with the refusal's code, `403
//! reauthentication_required` without a fresh session, or `200` on stop.

use serde_json::json;

use super::routes::{PageRoute, Verb, WantsJson};
use super::Answer;
use crate::api::ApiError;
use crate::error::PowError;
use crate::mailer::{send_notice, Notice};
use crate::pipeline::{ActionId, ActionKind, Client, Step};
use crate::session::{self, impersonation};

/// `POST /impersonation`: start support access.
pub const IMPERSONATION_START: ActionId =
    ActionId::new("impersonation", "create", ActionKind::Other);
/// `POST /impersonation/stop`: stop it.
pub const IMPERSONATION_STOP: ActionId =
    ActionId::new("impersonation", "delete", ActionKind::Other);

/// The two routes.
pub(crate) fn routes() -> [PageRoute; 2] {
    [
        PageRoute::new(Verb::Post, "/impersonation", IMPERSONATION_START, |s, c| {
            Box::pin(start(s, c))
        })
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            "/impersonation/stop",
            IMPERSONATION_STOP,
            |s, c| Box::pin(stop(s, c)),
        ),
    ]
}

/// Whether the client asked for JSON.
fn json(step: &Step) -> bool {
    step.assigns.get::<WantsJson>().is_some()
}

/// `POST /impersonation`: start support access.
async fn start(step: &mut Step, client: &mut dyn Client) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let admin = client
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    // Sudo mode, after the nested check (which `start` audits as its own refusal).
    if !admin.metadata.is_impersonation() && !admin.metadata.is_fresh(config.session().sudo_window)
    {
        if json(step) {
            let err = ApiError::from(PowError::ReauthenticationRequired)
                .localized(Some(&config), &step.lang);
            return Ok(Answer::api_error(&err));
        }
        let confirm = config.routes().session_path(&step.routes_ctx(), "confirm");
        return Ok(Answer::Redirect(confirm));
    }
    let target = step
        .params
        .get("user_id")
        .and_then(|id| id.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let reason = step.params.get("reason").cloned().unwrap_or_default();
    let facts = client.facts();
    let device = session::device_of(&facts);
    let started = match impersonation::start(&config, &admin, target, &reason, device).await? {
        Ok(started) => started,
        Err(refusal) if json(step) => {
            let err = ApiError::translated(Some(&config), &step.lang, 403, "impersonation-refused")
                .with_code("impersonation_refused")
                .with_detail("refusal", refusal.code());
            return Ok(Answer::api_error(&err));
        }
        Err(_) => {
            return Ok(Answer::Text {
                status: 403,
                text: step.text("impersonation-refused"),
            })
        }
    };
    let user = started.session.user.clone();
    let impersonator = started.session.metadata.impersonator();
    client.session().begin_support_access(started)?;
    if config.impersonation().is_some_and(|p| p.notifies_user()) {
        let reason = impersonator.as_ref().map_or("", |i| i.reason.as_str());
        let to = user.email().unwrap_or_default();
        let notice = Notice::SupportAccess { reason };
        send_notice(&config, &facts, &step.lang, to, notice).await;
    }
    if json(step) {
        let limits = impersonator.map(|i| json!({"ends_at": i.ends_at, "idle_ms": i.idle_ms}));
        return Ok(Answer::data(
            201,
            json!({"user_id": user.id, "impersonation": limits}),
        ));
    }
    Ok(Answer::Redirect(
        config.routes().after_sign_in_path(&step.routes_ctx()),
    ))
}

/// `POST /impersonation/stop`: back to the admin's own session.
async fn stop(step: &mut Step, client: &mut dyn Client) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let stopped = client.session().stop_support_access(&config).await?;
    step.current_user = client
        .current_session()
        .map(|current| (*current.user).clone());
    if json(step) {
        return Ok(Answer::data(
            200,
            json!({
                "stopped": stopped,
                "user_id": step.current_user.as_ref().map(|user| user.id),
            }),
        ));
    }
    Ok(Answer::Redirect(
        config.routes().after_sign_in_path(&step.routes_ctx()),
    ))
}

//! `GET <prefix>/sessions` and `DELETE <prefix>/sessions/{id}`: the caller's sessions over
//! JSON, as `/registration/sessions` shows them to browsers.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::ApiContext;
use crate::audit::keyed_hash;
use crate::error::PowError;
use crate::session::{self, CurrentSession};
use crate::web::{ActionId, ActionKind};
use pow_core::pages::account::remembered_handle;

/// `api_sessions#index`.
pub const SESSIONS_INDEX: ActionId = ActionId::new("api_sessions", "index", ActionKind::Show);
/// `api_sessions#delete`: ends one session (needs a fresh password proof).
pub const SESSIONS_DELETE: ActionId = ActionId::new("api_sessions", "delete", ActionKind::Other);

async fn caller(req: &HttpRequest, api: &ApiContext) -> Result<CurrentSession, ApiError> {
    api.current_session(req)
        .await?
        .ok_or_else(|| ApiError::not_authenticated(req))
}

pub(crate) async fn index(req: HttpRequest, api: ApiContext) -> Result<HttpResponse, ApiError> {
    api.run(&req, SESSIONS_INDEX, async |_| {
        let current = caller(&req, &api).await?;
        let config = api.config();
        let mut sessions: Vec<serde_json::Value> = session::user_sessions(config, current.user.id)
            .await?
            .iter()
            .map(|info| {
                json!({
                    "id": keyed_hash(config, "session", &info.id),
                    "kind": if info.api { "api" } else { "browser" },
                    "methods": info.methods,
                    "current": info.id == current.session_id,
                    "signed_in_at": info.signed_in_at,
                    "last_seen_at": info.last_seen_at,
                    "ip": info.device.ip,
                    "user_agent": info.device.user_agent,
                })
            })
            .collect();
        let remembered = session::user_remembered(config, current.user.id).await?;
        sessions.extend(remembered.iter().map(|(extension, info)| {
            json!({
                "id": remembered_handle(config, extension, info),
                "kind": "remember_me",
                "current": false,
                "signed_in_at": info.created_at,
                "ip": info.device.ip,
                "user_agent": info.device.user_agent,
            })
        }));
        Ok(super::answer(actix_web::http::StatusCode::OK, sessions))
    })
    .await
}

pub(crate) async fn delete(
    req: HttpRequest,
    api: ApiContext,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, SESSIONS_DELETE, async |_| {
        let current = caller(&req, &api).await?;
        let config = api.config();
        // Sudo mode: the token pair must come from a password sign-in within the window.
        if !current.metadata.is_fresh(config.session().sudo_window) {
            return Err(PowError::ReauthenticationRequired.into());
        }
        let user_id = current.user.id;
        let target = session::user_sessions(config, user_id)
            .await?
            .into_iter()
            .find(|info| keyed_hash(config, "session", &info.id) == *id);
        let ended = match target {
            Some(info) => session::end_session(config, user_id, &info.id).await?,
            None => {
                let remembered = session::user_remembered(config, user_id)
                    .await?
                    .into_iter()
                    .find(|(extension, info)| remembered_handle(config, extension, info) == *id);
                match remembered {
                    Some((extension, info)) => {
                        session::forget_remembered(config, user_id, extension, &info.id).await?
                    }
                    None => false,
                }
            }
        };
        if !ended {
            return Err(
                ApiError::new(actix_web::http::StatusCode::NOT_FOUND, "No such session")
                    .with_code("unknown_session"),
            );
        }
        Ok(super::answer(actix_web::http::StatusCode::OK, json!({})))
    })
    .await
}

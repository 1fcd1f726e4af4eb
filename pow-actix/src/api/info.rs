//! What a client reads to know where it stands: `GET <prefix>/config` (what this server
//! offers, before signing in), `GET <prefix>/session` (who is signed in, how, and whether
//! sudo mode is met) and `GET <prefix>/activity` (the account's recent events); and
//! `POST <prefix>/session/unlock`, the lock notice's link for app clients.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::controllers::actions;
use super::error::ApiError;
use super::ApiContext;
use crate::time::duration_ms;

fn answer(data: Value) -> HttpResponse {
    super::answer(actix_web::http::StatusCode::OK, data)
}

/// `GET <prefix>/config`: the enabled extensions and what each tells of its settings
/// ([`TokenHooks::describe`](super::TokenHooks::describe): OAuth providers, second
/// factors, ...), the user id field, the password rules, the sudo window, the CAPTCHA
/// widget (its public site key) and the browser transport's prefix, so a client renders
/// its forms without knowing the server's setup.
pub(crate) async fn config(req: HttpRequest, api: ApiContext) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::CONFIG_SHOW, async |_| {
        let config = api.config();
        let policy = config.password_policy();
        let captcha = config.captcha().map(|captcha| {
            let widget = captcha.widget();
            json!({
                "class": widget.class,
                "site_key": widget.site_key,
                "script_src": widget.script_src,
                "header": crate::captcha::CAPTCHA_HEADER,
            })
        });
        let details = pow_core::api::details(
            api.extensions()
                .iter()
                .filter_map(|ext| Some((ext.name(), ext.hooks()?))),
            config,
        );
        Ok(answer(json!({
            "extensions": config.extensions().names(),
            "extension_details": details,
            "browser_transport": api.browser_prefix(),
            "user_id_field": config.user_id_field(),
            "password": {
                "min_length": policy.min_length,
                "max_length": policy.max_length,
                "rejects_common": policy.common_passwords.is_some(),
                "rejects_user_id": policy.reject_user_id,
            },
            "sudo_window_secs": config.session().sudo_window.as_secs(),
            "captcha": captcha,
        })))
    })
    .await
}

/// `GET <prefix>/session`: the signed-in user (id and user id field), when the sign-in
/// was, the methods the session proved and when ([`AuthMethod`](crate::session::AuthMethod)
/// names), sudo mode (`fresh`, and until when) and the steps still pending for the user
/// ([`TokenHooks::pending_steps`](super::TokenHooks::pending_steps)); `401` without a
/// valid access token.
pub(crate) async fn session(req: HttpRequest, api: ApiContext) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::SESSION_SHOW, async |_| {
        let Some(current) = api.current_session(&req).await? else {
            return Err(ApiError::not_authenticated(&req));
        };
        let config = api.config();
        let window = config.session().sudo_window;
        let metadata = &current.metadata;
        let fresh = metadata.is_fresh(window);
        let until = metadata
            .authenticated_at
            .filter(|_| fresh)
            .map(|at| at.saturating_add(duration_ms(window)));
        let field = config.user_id_field();
        let pending = pow_core::api::pending_steps(&api.hooks(), config, &current.user).await?;
        Ok(answer(json!({
            "user": {"id": current.user.id, field: current.user.get_str(field)},
            "session": {
                "signed_in_at": metadata.signed_in_at,
                "methods": metadata.methods,
                "sudo": {"fresh": fresh, "until": until},
            },
            "pending": pending,
        })))
    })
    .await
}

/// How many events `GET <prefix>/activity` lists.
const RECENT: usize = 20;

/// `GET <prefix>/activity`: the signed-in user's recent account events, newest first, each
/// with its name, its translated label, when, and from which address and browser, as the
/// account's activity page lists them. `meta.available` is `false` when the setup's audit
/// log cannot be queried (it only writes to the log).
pub(crate) async fn activity(req: HttpRequest, api: ApiContext) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::ACTIVITY_SHOW, async |_| {
        let Some(current) = api.current_session(&req).await? else {
            return Err(ApiError::not_authenticated(&req));
        };
        let config = api.config();
        let lang = crate::messages::request_language(
            &crate::web::ActixRequest(&req).facts(),
            config.messages(),
        );
        let events = config
            .audit()
            .query(crate::audit::AuditQuery {
                user_id: Some(current.user.id),
                limit: RECENT,
                ..crate::audit::AuditQuery::default()
            })
            .await;
        let available = events.is_ok();
        let data: Vec<Value> = events
            .unwrap_or_default()
            .iter()
            .map(|event| {
                let label =
                    config
                        .messages()
                        .message(&lang, &crate::audit::label_key(&event.name), &[]);
                json!({
                    "name": event.name,
                    "label": label,
                    "at": event.at.to_rfc3339(),
                    "ip": event.ip,
                    "user_agent": event.user_agent,
                })
            })
            .collect();
        Ok(super::answer_with_meta(
            actix_web::http::StatusCode::OK,
            data,
            json!({ "available": available }),
        ))
    })
    .await
}

/// `POST <prefix>/session/unlock` with `{"token": "..."}` (the token of the lock notice's
/// link): lifts the lock once, as the link's page does; `200` with `{"data": {}}`, or
/// `400` with the code `invalid_token` for an unknown or used token.
pub(crate) async fn unlock(
    req: HttpRequest,
    api: ApiContext,
    body: actix_web::web::Bytes,
) -> Result<HttpResponse, ApiError> {
    #[derive(serde::Deserialize)]
    struct Unlock {
        token: String,
    }
    let body: Unlock = super::json_body(&req, &body)?;
    api.run(
        &req,
        actions::SESSION_UNLOCK,
        async |_| match crate::limits::redeem_unlock_link(
            api.config(),
            &crate::web::ActixRequest(&req).facts(),
            &body.token,
        )
        .await?
        {
            Some(_) => Ok(answer(json!({}))),
            None => Err(ApiError::translated(
                &req,
                actix_web::http::StatusCode::BAD_REQUEST,
                "lockout_unlock_invalid",
            )
            .with_code("invalid_token")),
        },
    )
    .await
}

/// `GET <prefix>/openapi.json` ([`ApiOptions::openapi_path`](super::ApiOptions::openapi_path)):
/// the OpenAPI 3.1 document of the endpoints this setup serves.
pub(crate) async fn openapi(req: HttpRequest, api: ApiContext) -> Result<HttpResponse, ApiError> {
    let doc = api.openapi().map_err(|err| ApiError::from_pow(&req, err))?;
    Ok(HttpResponse::Ok().json(doc))
}

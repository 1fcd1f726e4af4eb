//! What a client reads to know where it stands: `GET <prefix>/config` (what this server
//! offers, before signing in) and `GET <prefix>/session` (who is signed in, how, and
//! whether sudo mode is met).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::controllers::actions;
use super::error::ApiError;
use super::ApiContext;
use crate::time::duration_ms;

fn answer(data: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "data": data }))
}

/// `GET <prefix>/config`: the enabled extensions, the user id field, the password rules,
/// the sudo window and the CAPTCHA widget (its public site key), so a client renders its
/// forms without knowing the server's setup.
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
        Ok(answer(json!({
            "extensions": config.extensions().names(),
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
/// names), and sudo mode (`fresh`, and until when); `401` without a valid access token.
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
        Ok(answer(json!({
            "user": {"id": current.user.id, field: current.user.get_str(field)},
            "session": {
                "signed_in_at": metadata.signed_in_at,
                "methods": metadata.methods,
                "sudo": {"fresh": fresh, "until": until},
            },
        })))
    })
    .await
}

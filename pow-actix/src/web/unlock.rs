//! The unlock link's route.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{flash, redirect, route_config, routes_ctx};

/// `GET /session/unlock/{token}`: lifts the lock the link was mailed for, once (see
/// [`redeem_unlock_link`](crate::limits::redeem_unlock_link)), and sends the visitor to the
/// sign-in page.
pub(crate) async fn unlock(
    req: HttpRequest,
    token: web::Path<String>,
) -> crate::Result<HttpResponse> {
    let config = route_config(&req)?;
    let lang = crate::messages::request_language(
        &crate::web::ActixRequest(&req).facts(),
        config.messages(),
    );
    let sign_in_page = config
        .routes()
        .session_path(&routes_ctx(&req, &config, None), "new");
    let messages = config.messages();
    if crate::limits::redeem_unlock_link(&config, &crate::web::ActixRequest(&req).facts(), &token)
        .await?
        .is_some()
    {
        flash::put_info(&req, Some(messages.text(&lang, "lockout_unlocked")));
    } else {
        flash::put_error(&req, Some(messages.text(&lang, "lockout_unlock_invalid")));
    }
    Ok(redirect(&sign_in_page))
}

//! The unlock link's route (the engine's [`pow_core::pages::core::unlock`] on actix-web).

use actix_web::{web, HttpRequest, HttpResponse};

use super::{redirect, route_config};
use crate::session::CookieSessionHandle;

/// `GET /session/unlock/{token}`: lifts the lock the link was mailed for, once, and sends
/// the visitor to the sign-in page.
pub(crate) async fn unlock(
    req: HttpRequest,
    token: web::Path<String>,
) -> crate::Result<HttpResponse> {
    let config = route_config(&req)?;
    let mut client = CookieSessionHandle::client(&req, &config, crate::pipeline::Format::Html);
    let current_page = crate::session::facts::current_page(&req);
    let path = pow_core::pages::core::unlock(&config, &mut *client, current_page, &token).await?;
    Ok(redirect(&path))
}

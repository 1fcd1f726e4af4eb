//! Serving the engine's JSON routes ([`pow_core::api::routes`]) on actix-web: reading the
//! request into an [`ApiCall`], writing the [`ApiAnswer`].

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use pow_core::api::routes::ApiRoute;
use pow_core::framework::api::{run, ApiCall, ApiInput};

pub use crate::session::guard::respond;
use pow_core::pages::routes::{PathParams, QueryParams};

use super::middleware::bearer_token;
use super::ApiContext;
use crate::session::{CookieSessionHandle, CurrentSession, WriteBack};

/// Runs `route` for `req` with `body` on the transport of the route's context.
pub(crate) async fn serve(req: HttpRequest, body: Bytes, route: Arc<ApiRoute>) -> HttpResponse {
    let Some(api) = req.app_data::<actix_web::web::Data<ApiContext>>() else {
        return HttpResponse::InternalServerError().finish();
    };
    let service = api.service().clone();
    let facts = crate::web::ActixRequest(&req).facts();
    let input = ApiInput {
        path: PathParams(
            req.match_info()
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        ),
        query: QueryParams::parse(req.query_string()),
        captcha: req
            .headers()
            .get(pow_core::captcha::CAPTCHA_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let answer = if service.is_browser() {
        let mut session = CookieSessionHandle::served_by(&req, service.config().clone());
        let cookies = crate::session::request_cookies(&req);
        let answer = {
            let mut call =
                ApiCall::new(service, facts, body.to_vec()).browser(&mut session, cookies);
            run(&route, &mut call, input).await
        };
        session.write_back(&req);
        answer
    } else {
        let current = req.extensions().get::<CurrentSession>().cloned();
        let token = bearer_token(req.headers()).map(str::to_owned);
        let mut call = ApiCall::new(service, facts, body.to_vec()).bearer(token, current);
        let answer = run(&route, &mut call, input).await;
        if let Some(current) = call.changed_session() {
            req.extensions_mut().insert(current.clone());
        }
        answer
    };
    respond(answer)
}

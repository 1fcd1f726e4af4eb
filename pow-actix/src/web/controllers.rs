//! Mounting the routes, and what every controller needs: the route's setup, the routes
//! backend's context and the CSRF check.

use std::sync::Arc;

use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_core::pages::routes::{self, PageRoute, PathParams, QueryParams, Verb};

use super::csrf;
use super::params::FormData;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::session;

/// Registers the core routes and every enabled extension's routes, with `config` as the
/// setup that serves them. Use it with `App::configure` or `Scope::configure`.
pub fn configure(config: PowConfig) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg: &mut ServiceConfig| {
        cfg.app_data(web::Data::new(config.clone()));
        cfg.app_data(web::PayloadConfig::new(super::params::MAX_FORM_BYTES));
        mount_pages(cfg, &config, &pow_core::pages::routes::page_routes(&config));
        mount_endpoints(cfg, &config);
        for asset in config.extensions().assets() {
            let asset = *asset;
            let serve = move || async move {
                HttpResponse::Ok()
                    .content_type(asset.content_type)
                    .insert_header((
                        actix_web::http::header::CACHE_CONTROL,
                        routes::Asset::CACHE_CONTROL,
                    ))
                    .insert_header((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .body(asset.body)
            };
            cfg.service(
                web::resource(asset.mounted_path(&config))
                    .route(web::get().to(serve))
                    .route(web::head().to(serve)),
            );
        }
        cfg.service(
            web::resource("/session/unlock/{token}").route(web::get().to(super::unlock::unlock)),
        );
    }
}

/// The setup serving this route, as [`session::config`] finds it, or an error naming the
/// missing setup.
pub fn route_config(req: &HttpRequest) -> Result<PowConfig, PowError> {
    session::config(req).ok_or_else(|| {
        PowError::Config(
            "no PowConfig for this route: mount routes with pow_actix::web::configure".into(),
        )
    })
}

impl crate::config::ServedRequest for crate::web::ActixRequest<'_> {
    fn setup(&self) -> Result<PowConfig, PowError> {
        route_config(self.0)
    }

    fn facts(&self) -> pow_core::request::RequestFacts {
        crate::web::ActixRequest::facts(self)
    }
}

/// Checks the CSRF token (the form's, else the `x-csrf-token` header); `Some(403)` when it
/// fails.
pub fn check_csrf(req: &HttpRequest, form: &FormData) -> Option<HttpResponse> {
    if csrf::verify(req, form.csrf_token()) {
        return None;
    }
    tracing::warn!(path = %req.path(), "rejected a request without a valid CSRF token");
    let refused = pow_core::framework::page::FormRefusal::Csrf;
    Some(session::guard::respond(pow_core::pages::HttpAnswer::text(
        refused.status(),
        refused.text(),
        None,
    )))
}

/// Mounts the engine's page routes of `table` (the core's and the extensions'): one
/// resource per path, each method running its route's action through [`Action`](super::Action).
fn mount_pages(cfg: &mut ServiceConfig, config: &PowConfig, table: &[PageRoute]) {
    for (path, here) in routes::by_path(config, table) {
        let here: Arc<[PageRoute]> = here.into();
        let refused = routes::not_allowed(&here);
        let mut resource = web::resource(path).default_service(web::to(move || {
            let refused = refused.clone();
            async move { session::guard::respond(refused) }
        }));
        for verb in routes::methods(&here) {
            let methods = match verb {
                // A `HEAD` is answered as the `GET` (actix-web sends no body for it), where
                // the `GET` only shows a page.
                Verb::Get if routes::answers_head(&here) => vec![web::get(), web::head()],
                Verb::Get => vec![web::get()],
                Verb::Post => vec![web::post()],
                Verb::Patch => vec![web::patch()],
                Verb::Put => vec![web::put()],
                Verb::Delete => vec![web::delete()],
            };
            for method in methods {
                let here = Arc::clone(&here);
                resource = resource.route(method.to(move |req: HttpRequest, body: Bytes| {
                    let here = Arc::clone(&here);
                    async move { run_page(req, body, verb, &here).await }
                }));
            }
        }
        cfg.service(resource);
    }
}

/// Mounts the extensions' protocol endpoints
/// ([`endpoints`](pow_core::pages::endpoints)): one resource per path, each request read
/// into the engine's neutral request and the handler's answer sent as it is.
fn mount_endpoints(cfg: &mut ServiceConfig, config: &PowConfig) {
    use pow_core::pages::endpoints;
    for (path, here) in endpoints::by_path(config) {
        let here: Arc<[endpoints::EndpointRoute]> = here.into();
        cfg.service(web::resource(path).default_service(web::to(
            move |req: HttpRequest, body: web::Payload| {
                let here = Arc::clone(&here);
                async move { run_endpoint(req, body, &here).await }
            },
        )));
    }
}

/// Runs the endpoint of `here` for the request's method.
async fn run_endpoint(
    req: HttpRequest,
    mut payload: web::Payload,
    here: &[pow_core::pages::endpoints::EndpointRoute],
) -> HttpResponse {
    use futures_util::StreamExt as _;
    use pow_core::pages::endpoints::{self, EndpointRequest, MAX_BODY};
    let verb = Verb::of_method(req.method().as_str());
    let Some(route) = verb.and_then(|verb| endpoints::pick(here, verb)) else {
        return session::guard::respond(endpoints::not_allowed(here));
    };
    let Ok(config) = route_config(&req) else {
        return HttpResponse::InternalServerError().finish();
    };
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return HttpResponse::BadRequest().finish();
        };
        if body.len() + chunk.len() > MAX_BODY {
            return session::guard::respond(endpoints::too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let headers = EndpointRequest::headers_of(
        (req.headers().iter()).map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    let request = EndpointRequest {
        method: verb,
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers,
        body,
        facts: super::ActixRequest(&req).facts(),
        params: PathParams(
            req.match_info()
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        ),
    };
    session::guard::respond(route.call(config, request).await)
}

/// Runs the route of `here` (the routes at one path) that a `verb` request picks; `405`
/// with `Allow` when none does.
async fn run_page(
    req: HttpRequest,
    body: Bytes,
    verb: Verb,
    here: &[PageRoute],
) -> crate::Result<HttpResponse> {
    let form = (verb != Verb::Get).then(|| FormData::parse(&body));
    let method_override = form.as_ref().and_then(FormData::method_override);
    let Some(route) = routes::pick(here, verb, method_override.as_deref()) else {
        return Ok(session::guard::respond(routes::not_allowed(here)));
    };
    let config = route_config(&req)?;
    let current = session::current_session(&req);
    let requirements = route.requirements_for(&config, current.as_ref());
    let mut action = super::Action::new(route.action).requirements(requirements);
    if route.form {
        action = action.form(form.unwrap_or_default());
    }
    let act = Arc::clone(&route.act);
    let path = PathParams(
        req.match_info()
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
    );
    let query = QueryParams::parse(req.query_string());
    let json = session::wants_json(&req);
    action
        .run(&req, async move |ctl| {
            routes::assign_request(&mut ctl.assigns, path, query, json);
            Ok(super::serve(ctl, async |step, client| act(step, client).await).await?)
        })
        .await
}

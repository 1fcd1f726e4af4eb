//! Mounting the routes, and what every controller needs: the route's setup, the routes
//! backend's context and the CSRF check.

use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};

use super::params::FormData;
use super::{csrf, registration, session as session_controller};
use crate::config::PowConfig;
use crate::config::RouteContext;
use crate::error::PowError;
use crate::session;

/// Registers the core routes and every enabled extension's routes, with `config` as the
/// setup that serves them. Use it with `App::configure` or `Scope::configure`.
pub fn configure(config: PowConfig) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg: &mut ServiceConfig| {
        cfg.app_data(web::Data::new(config.clone()));
        cfg.app_data(web::PayloadConfig::new(super::params::MAX_FORM_BYTES));
        cfg.service(web::resource("/session/new").route(web::get().to(session_controller::new)))
            .service(
                web::resource("/session")
                    .route(web::post().to(session_controller::post))
                    .route(web::delete().to(session_controller::delete)),
            )
            .service(
                web::resource("/session/confirm")
                    .route(web::get().to(super::confirm::show))
                    .route(web::post().to(super::confirm::create)),
            )
            .service(
                web::resource("/session/unlock/{token}")
                    .route(web::get().to(super::unlock::unlock)),
            )
            .service(web::resource("/registration/new").route(web::get().to(registration::new)))
            .service(web::resource("/registration/edit").route(web::get().to(registration::edit)))
            .service(
                web::resource("/registration/sessions")
                    .route(web::get().to(super::sessions::show))
                    .route(web::post().to(super::sessions::end)),
            )
            .service(
                web::resource("/registration/activity").route(web::get().to(super::activity::show)),
            )
            .service(
                web::resource("/registration")
                    .route(web::post().to(registration::post))
                    .route(web::patch().to(registration::update))
                    .route(web::put().to(registration::update))
                    .route(web::delete().to(registration::delete)),
            );
        if config.impersonation().is_some() {
            cfg.service(
                web::resource("/impersonation").route(web::post().to(super::impersonation::start)),
            )
            .service(
                web::resource("/impersonation/stop")
                    .route(web::post().to(super::impersonation::stop)),
            );
        }
        for routes in crate::extension::ActixExtensions::routes(config.extensions()) {
            routes(cfg, &config);
        }
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

/// The routes backend's context for `req` on `config`'s mount point.
pub fn routes_ctx<'a>(
    req: &'a HttpRequest,
    config: &'a PowConfig,
    request_path: Option<&'a str>,
) -> RouteContext<'a> {
    RouteContext {
        current_page: current_page(req),
        mount: config.mount_path(),
        request_path,
    }
}

/// The path and query of `req` when it is a `GET` (see [`RouteContext::current_page`]).
pub(crate) fn current_page(req: &HttpRequest) -> Option<&str> {
    (req.method() == actix_web::http::Method::GET).then(|| match req.uri().path_and_query() {
        Some(pq) => pq.as_str(),
        None => req.path(),
    })
}

/// Checks a posted form: sent as `application/x-www-form-urlencoded` (else `415`), with a
/// valid CSRF token (else `403`, see [`check_csrf`]).
pub fn check_form(req: &HttpRequest, form: &FormData) -> Option<HttpResponse> {
    let urlencoded = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !urlencoded {
        tracing::warn!(path = %req.path(), "rejected a form that is not urlencoded");
        return Some(
            HttpResponse::UnsupportedMediaType()
                .content_type("text/plain; charset=utf-8")
                .body("Forms must be sent as application/x-www-form-urlencoded."),
        );
    }
    check_csrf(req, form)
}

/// Checks the CSRF token; `Some(403)` when it fails.
pub fn check_csrf(req: &HttpRequest, form: &FormData) -> Option<HttpResponse> {
    if csrf::verify(req, form.csrf_token()) {
        None
    } else {
        tracing::warn!(path = %req.path(), "rejected a request without a valid CSRF token");
        Some(
            HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body("Invalid CSRF token. Reload the page and try again."),
        )
    }
}

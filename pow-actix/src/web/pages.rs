//! Rendering pages through the configured views, with flash, CSRF token and language.

use crate::web::PowErrorExt as _;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::session::CookieSessionExt as _;

pub use pow_core::pages::Page;

/// The headers every pow-rs page carries: no framing by other sites (clickjacking), in the
/// old and the CSP form, and no content-type sniffing.
pub fn page_security_headers() -> [(header::HeaderName, header::HeaderValue); 3] {
    [
        (
            header::X_FRAME_OPTIONS,
            header::HeaderValue::from_static("DENY"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static("frame-ancestors 'none'"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            header::HeaderValue::from_static("nosniff"),
        ),
    ]
}

/// `Cache-Control: no-store` for auth pages.
pub fn no_store() -> (header::HeaderName, header::HeaderValue) {
    (
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    )
}

/// Renders `page` with the setup's views: language from the request, flash (immediate or
/// queued), a fresh CSRF token, the signed-in user; extensions may add fields and links.
/// The response is `200 OK`, `no-store`.
pub fn render_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    page: Page,
) -> crate::error::PowResult<HttpResponse> {
    let current = crate::session::current_session(req);
    let headers = page.headers.clone();
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
    let html =
        pow_core::pages::render(config, lang, page, &req.cookie_session(), current.as_ref())?;
    let mut res = HttpResponse::build(status);
    for header in page_security_headers() {
        res.insert_header(header);
    }
    for header in headers {
        res.insert_header(header);
    }
    Ok(res
        .insert_header(no_store())
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// The page answering `error`, when it is one a visitor should see: `503 Service
/// Unavailable` (page `"error/unavailable"`) for [`PowError::Busy`] (password hashing
/// saturated), [`PowError::Store`] (the cache store is down) and
/// [`PowError::DatabaseUnavailable`] (the users database is down), `429 Too Many Requests`
/// (page `"error/rate_limited"`) for [`PowError::RateLimited`]. A translated page with
/// `Retry-After`; `None` for other errors and for clients that ask for JSON rather than HTML.
pub fn unavailable_page(
    req: &HttpRequest,
    config: &PowConfig,
    error: &PowError,
) -> Option<HttpResponse> {
    if !accepts_html(req) {
        return None;
    }
    let lang = crate::messages::request_language(
        &crate::web::ActixRequest(req).facts(),
        config.messages(),
    );
    let pow_core::pages::ErrorPage {
        status,
        retry_after,
        page,
    } = pow_core::pages::error_page(config, &lang, error)?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut res = match render_page(req, config, &lang, page) {
        Ok(res) => res,
        Err(err) => {
            tracing::error!(error = %err, "could not render the error page");
            error.error_response()
        }
    };
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
    Some(res)
}

/// Whether the client takes HTML ([`pow_core::pages::accepts_html`]).
fn accepts_html(req: &HttpRequest) -> bool {
    pow_core::pages::accepts_html(
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The actix answer of an engine controller's [`Answer`](pow_core::pages::Answer): a
/// redirect, or the page it builds rendered with [`render_page`] once the callbacks ran.
pub fn outcome(answer: pow_core::pages::Answer) -> super::Outcome {
    use pow_core::pages::Answer;
    match answer {
        Answer::Redirect(path) => super::Outcome::redirect(&path),
        Answer::Stop(path) => super::Outcome::Stop(super::redirect(&path)),
        Answer::Download {
            content_type,
            filename,
            body,
        } => super::Outcome::Respond(
            HttpResponse::Ok()
                .insert_header(no_store())
                .insert_header((header::CONTENT_DISPOSITION, Answer::attachment(&filename)))
                .content_type(content_type)
                .body(body),
        ),
        Answer::Json {
            status,
            headers,
            body,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut res = HttpResponse::build(status);
            for header in headers {
                res.insert_header(header);
            }
            super::Outcome::Respond(res.json(body))
        }
        Answer::Text { status, text } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            super::Outcome::Stop(
                HttpResponse::build(status)
                    .insert_header(no_store())
                    .content_type("text/plain; charset=utf-8")
                    .body(text),
            )
        }
        Answer::Render(build) => super::Outcome::render(move |ctl: &super::Controller| {
            let page = build(&ctl.step, &ctl.req.cookie_session())?;
            render_page(&ctl.req, &ctl.config, &ctl.lang, page)
        }),
    }
}

/// Runs the engine controller `act` over the action's step and the request's client
/// ([`ActixClient`](super::ActixClient), whose changes reach the request before the page
/// renders), and answers what it came to.
///
/// # Errors
/// The controller's error.
pub async fn serve(
    ctl: &mut super::Controller,
    act: impl AsyncFnOnce(
        &mut pow_core::pipeline::Step,
        &mut dyn pow_core::pipeline::Client,
    ) -> Result<pow_core::pages::Answer, PowError>,
) -> Result<super::Outcome, PowError> {
    let mut client = super::ActixClient::served_by(&ctl.req, &ctl.config, ctl.format);
    let answer = act(&mut ctl.step, &mut *client).await;
    drop(client);
    Ok(outcome(answer?))
}

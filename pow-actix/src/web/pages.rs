//! Rendering pages through the configured views, with flash, CSRF token and language.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::session::guard::respond;
use crate::session::CookieSessionExt as _;
use pow_core::framework::page as runner;

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
/// The response has the page's status, `no-store` and the page headers (the engine's
/// [`page_answer`](pow_core::framework::page::page_answer)).
pub fn render_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    page: Page,
) -> crate::error::PowResult<HttpResponse> {
    let current = crate::session::current_session(req);
    let answer = runner::page_answer(config, lang, page, &req.cookie_session(), current.as_ref())?;
    Ok(respond(answer))
}

/// The actix answer of an engine controller's [`Answer`](pow_core::pages::Answer): a
/// redirect, or the page it builds rendered with [`render_page`] once the callbacks ran.
pub fn outcome(answer: pow_core::pages::Answer) -> super::Outcome {
    use pow_core::pages::Answer;
    let stops = matches!(answer, Answer::Stop(_) | Answer::Text { .. });
    match runner::plain(answer) {
        Ok(answer) if stops => super::Outcome::Stop(respond(answer)),
        Ok(answer) => super::Outcome::Respond(respond(answer)),
        Err(build) => super::Outcome::render(move |ctl: &super::Controller| {
            let page = build(&ctl.step, &ctl.req.cookie_session())?;
            render_page(&ctl.req, &ctl.config, &ctl.lang, page)
        }),
    }
}

/// Runs the engine controller `act` over the action's step and the request's client
/// ([`CookieSessionHandle::client`](crate::session::CookieSessionHandle::client), whose
/// changes reach the request before the page renders), and answers what it came to.
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
    let mut client = crate::session::CookieSessionHandle::client(&ctl.req, &ctl.config, ctl.format);
    let answer = act(&mut ctl.step, &mut *client).await;
    drop(client);
    Ok(outcome(answer?))
}

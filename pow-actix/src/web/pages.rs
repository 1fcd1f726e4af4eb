//! Rendering pages through the configured views, with flash, CSRF token and language.

use crate::web::PowErrorExt as _;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::{csrf, flash};
use crate::config::PowConfig;
use crate::error::{PowError, BUSY_RETRY_AFTER_SECS};
use crate::messages::LanguageIdentifier;
use crate::views::{PageBody, PageContext, PageId};

/// A page to render.
pub struct Page {
    /// The page's registered id, e.g. [`PageId::SESSION_NEW`] (apps override pages by
    /// id).
    pub name: PageId,
    /// Message key of the page title, e.g. `"title-sign-in"`.
    pub title_key: &'static str,
    /// The page's content.
    pub body: PageBody,
    /// Flash texts to show now (instead of ones queued by an earlier request).
    pub info: Option<String>,
    /// Error text to show now.
    pub error: Option<String>,
    /// Whether the page's form carries the CAPTCHA widget (when the setup has a
    /// [CAPTCHA](crate::captcha)): the form posts to an action built with
    /// [`Action::captcha`](super::Action::captcha).
    pub captcha: bool,
    /// Same-origin scripts the page loads ([`PageContext::scripts`](crate::views::PageContext)).
    pub scripts: Vec<String>,
}

impl Page {
    /// A page with no immediate flash. `name` is a registered page id (the core's, or
    /// one an extension registers with
    /// [`ExtensionBuilder::pages`](crate::extension::ExtensionBuilder::pages)).
    pub fn new(name: impl Into<PageId>, title_key: &'static str, body: PageBody) -> Self {
        Self {
            name: name.into(),
            title_key,
            body,
            info: None,
            error: None,
            captcha: false,
            scripts: Vec::new(),
        }
    }

    /// Loads the same-origin script at `src` (deferred) on the page.
    pub fn with_script(mut self, src: impl Into<String>) -> Self {
        self.scripts.push(src.into());
        self
    }

    /// Renders the CAPTCHA widget in the page's form (see [`Page::captcha`](Self::captcha)).
    pub fn with_captcha(mut self) -> Self {
        self.captcha = true;
        self
    }
}

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
    mut page: Page,
) -> crate::error::PowResult<HttpResponse> {
    if !config.extensions().is_page(page.name) {
        return Err(PowError::Config(format!(
            "page `{}` is not registered: an extension registers the pages it renders \
             with ExtensionBuilder::pages",
            page.name
        )));
    }
    for extend in config.extensions().page_extensions() {
        extend(page.name, &mut page.body, lang, config);
    }
    let queued = flash::take(req);
    let current = crate::session::current_session(req);
    let current_user = current
        .as_ref()
        .and_then(|c| c.user.user_id(config.user_schema()).map(str::to_owned));
    let impersonation = current.filter(|c| c.metadata.is_impersonation()).map(|c| {
        let shown = c
            .user
            .user_id(config.user_schema())
            .unwrap_or_default()
            .to_owned();
        let messages = config.messages();
        crate::views::ImpersonationBanner {
            text: messages
                .message(lang, "impersonation-banner", &[("user", shown.into())])
                .unwrap_or_default(),
            stop_path: super::routes_ctx(req, config, None).path("/impersonation/stop"),
            stop_label: messages.text(lang, "impersonation-stop"),
        }
    });
    // A form with field errors says so at its top (`form-has-errors`, Pow's "Oops, ..."),
    // above the list of the fields to fix.
    let form_errors = main_form_has_errors(&page.body)
        .then(|| config.messages().message(lang, "form-has-errors", &[]))
        .flatten()
        .filter(|text| !text.is_empty());
    let ctx = PageContext {
        lang: lang.clone(),
        title: config.messages().text(lang, page.title_key),
        flash_info: page.info.or(queued.info),
        flash_error: page.error.or(queued.error).or(form_errors),
        current_user,
        csrf_token: csrf::csrf_token(req),
        captcha: config
            .captcha()
            .filter(|_| page.captcha)
            .map(|captcha| captcha.widget().clone()),
        impersonation,
        scripts: page.scripts,
    };
    let html = config.views().render(page.name, &ctx, &page.body)?;
    let mut res = HttpResponse::Ok();
    for header in page_security_headers() {
        res.insert_header(header);
    }
    Ok(res
        .insert_header(no_store())
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// Whether the page's main form has field errors.
fn main_form_has_errors(body: &PageBody) -> bool {
    match body {
        PageBody::Form { form, .. } | PageBody::Figure { form, .. } => form.has_errors(),
        PageBody::Text { .. } => false,
    }
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
    if !matches!(
        error,
        PowError::Busy
            | PowError::Store(_)
            | PowError::DatabaseUnavailable(_)
            | PowError::CaptchaUnavailable
            | PowError::RateLimited(_)
    ) || !accepts_html(req)
    {
        return None;
    }
    let lang = crate::messages::request_language(
        &crate::web::ActixRequest(req).facts(),
        config.messages(),
    );
    let messages = config.messages();
    let (name, title, text, status, retry_after) = match error {
        PowError::RateLimited(limited) => {
            tracing::info!("pow request refused by a rate limit");
            let key = match limited.reason {
                crate::limits::LimitReason::TooManyAttempts => "rate_limited",
                crate::limits::LimitReason::Locked => "account_locked",
            };
            (
                PageId::ERROR_RATE_LIMITED,
                "title-rate-limited",
                messages.text(&lang, key),
                StatusCode::TOO_MANY_REQUESTS,
                limited.retry_after_secs(),
            )
        }
        _ => {
            // Logged as `PowError`'s own answer would be.
            tracing::error!(error = %error, "pow request failed");
            let text = match error {
                PowError::Busy => messages.hashing_busy(&lang),
                _ => messages.service_unavailable(&lang),
            };
            (
                PageId::ERROR_UNAVAILABLE,
                "title-unavailable",
                text,
                StatusCode::SERVICE_UNAVAILABLE,
                BUSY_RETRY_AFTER_SECS,
            )
        }
    };
    let body = PageBody::Text {
        paragraphs: vec![text],
        links: Vec::new(),
    };
    let page = Page::new(name, title, body);
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

/// Whether the client takes HTML: no `Accept`, or one naming `text/html` or `*/*`, unless
/// it names JSON first.
fn accepts_html(req: &HttpRequest) -> bool {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let html = accept.find("text/html").or_else(|| accept.find("*/*"));
    match (html, accept.find("json")) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

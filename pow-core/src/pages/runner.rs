//! The page runner: a page action's whole run, from a neutral request to a neutral answer,
//! the twin of the JSON runner ([`framework::api::run`](crate::framework::api::run)). Every
//! decision about the answer is made here, once for every framework: the posted form's
//! check (`415`, `403`), a refused action (the sign-in redirect, the password
//! confirmation, a step-up page, support access's `403`), a callback's halt, the CAPTCHA's
//! way back, the redirects and return paths, the rendered page with its headers, and the
//! error pages. A framework layer reads its request into a [`PageRequest`], opens the
//! cookie session, runs [`run`] over its [`ActionHost`], and writes the [`HttpAnswer`].
//!
//! ```text
//! PageRequest ──> PageRequest::start (params, the form's check, the CAPTCHA answer, the step)
//!   ──> run: the access rules ─> the form ─> limits, CAPTCHA ─> before_process ─> the action
//!            ─> audit ─> before_respond ──> PageEnd (an answer, an access refusal, or what ran)
//!   ──> answer (a controller's Answer rendered) ──> HttpAnswer ──> the framework's response
//! ```
//!
//! ```
//! use pow_core::framework::page::PageRequest;
//!
//! let request = PageRequest {
//!     get: true,
//!     path_and_query: "/account?request_path=%2Fbilling".into(),
//!     ..PageRequest::default()
//! };
//! assert_eq!(request.current_page(), Some("/account?request_path=%2Fbilling"));
//! assert_eq!(request.request_path().as_deref(), Some("/billing"));
//! ```

use crate::api::ApiError;
use crate::config::{request_path_param, return_path, returning_to, PowConfig, RouteContext};
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::pipeline::{
    self, ActionHost, ActionId, ActionRequest, Before, Format, Halt, PostedForm, Refusal,
    Requirements, Step, Stop,
};
use crate::request::head::{host, FactHeader, RequestHead};
use crate::session::{flash, CookieSession, CurrentSession};
use crate::users::{Params, User};

use super::{Answer, BuildPage, FormData, Page, PAGE_HEADERS};

/// `Cache-Control` of every answer that shows who is signed in.
pub(crate) const NO_STORE: &str = "no-cache, no-store, must-revalidate";

/// An HTTP answer for a framework to send as it is: status, headers and body. Pages,
/// redirects and the JSON API's answers ([`ApiAnswer`](crate::api::ApiAnswer)) alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status.
    pub status: u16,
    /// The headers, lowercase names (`content-type` when there is a body).
    pub headers: Vec<(&'static str, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl HttpAnswer {
    /// A `302 Found` to `location`, never stored.
    ///
    /// ```
    /// let answer = pow_core::pages::HttpAnswer::redirect("/session/new");
    /// assert_eq!(answer.status, 302);
    /// assert_eq!(answer.header("location"), Some("/session/new"));
    /// ```
    pub fn redirect(location: &str) -> Self {
        Self {
            status: 302,
            headers: vec![
                ("location", location.to_owned()),
                ("cache-control", "no-store".to_owned()),
            ],
            body: None,
        }
    }

    /// `text` as plain text with `status`, with `cache_control` when given.
    pub fn text(status: u16, text: &str, cache_control: Option<&str>) -> Self {
        let mut headers = vec![("content-type", "text/plain; charset=utf-8".to_owned())];
        if let Some(value) = cache_control {
            headers.push(("cache-control", value.to_owned()));
        }
        Self {
            status,
            headers,
            body: Some(text.as_bytes().to_vec()),
        }
    }

    /// `value` as a JSON document of its own (a protocol's, not the API's envelope) with
    /// `status`, and `cache_control` when given (`no-store` for anything holding a token).
    ///
    /// ```
    /// let answer = pow_core::pages::HttpAnswer::json_document(
    ///     400,
    ///     &serde_json::json!({ "error": "invalid_grant" }),
    ///     Some("no-store"),
    /// );
    /// assert_eq!(answer.header("content-type"), Some("application/json"));
    /// ```
    pub fn json_document(
        status: u16,
        value: &serde_json::Value,
        cache_control: Option<&str>,
    ) -> Self {
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if let Some(value) = cache_control {
            headers.push(("cache-control", value.to_owned()));
        }
        Self {
            status,
            headers,
            body: Some(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    /// The JSON API's answer to `err`: its status, headers and envelope.
    pub fn error(err: &ApiError) -> Self {
        let mut headers = vec![("content-type", "application/json".to_owned())];
        headers.extend(err.headers());
        Self {
            status: err.status(),
            headers,
            body: Some(serde_json::to_vec(&err.body()).unwrap_or_default()),
        }
    }

    /// The opaque answer to `err` on a page: its [status](PowError::http_status),
    /// `Retry-After` where it has one, and the status's reason as plain text (nothing about
    /// the failure leaks).
    pub fn failure(err: &PowError) -> Self {
        err.log_answered();
        let status = err.http_status();
        let mut answer = Self::text(status, reason(status), None);
        if let Some(secs) = err.retry_after_secs() {
            answer.headers.push(("retry-after", secs.to_string()));
        }
        answer
    }

    /// The value of header `name` (lowercase), if the answer has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The reason phrase of the statuses a [`PowError`] answers with ([`PowError::http_status`]).
fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// What a framework read of a page request: everything the engine's decisions about the
/// answer need, as plain values.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// A `GET`.
    pub get: bool,
    /// A `HEAD`.
    pub head: bool,
    /// The path and query as the client sent them.
    pub path_and_query: String,
    /// The host the client named (to tell a local `Referer`).
    pub host: String,
    /// The `Referer` header.
    pub referer: Option<String>,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `x-csrf-token` header (a form's token sent by a script).
    pub csrf_header: Option<String>,
    /// The [`CAPTCHA_HEADER`](crate::captcha::CAPTCHA_HEADER).
    pub captcha_header: Option<String>,
}

impl PageRequest {
    /// What the page runner reads of the request `head`: every framework layer reads a
    /// page request with this.
    pub fn read(head: &dyn RequestHead) -> Self {
        let header = |name| head.header(name).map(str::to_owned);
        Self {
            get: head.method() == "GET",
            head: head.method() == "HEAD",
            path_and_query: head.path_and_query().to_owned(),
            host: host(head),
            referer: header(FactHeader::Referer),
            accept: header(FactHeader::Accept),
            content_type: header(FactHeader::ContentType),
            csrf_header: header(FactHeader::CsrfToken),
            captcha_header: header(FactHeader::CaptchaResponse),
        }
    }

    /// A `GET` or `HEAD`: never asked for a CAPTCHA answer.
    pub fn safe(&self) -> bool {
        self.get || self.head
    }

    /// The client asks for JSON or sends it (its `Accept` or `Content-Type` names
    /// `application/json` or a `+json` type).
    pub fn wants_json(&self) -> bool {
        wants_json(self.accept.as_deref(), self.content_type.as_deref())
    }

    /// The path and query of a `GET` ([`RouteContext::current_page`]).
    pub fn current_page(&self) -> Option<&str> {
        self.get.then_some(self.path_and_query.as_str())
    }

    /// The `request_path` query parameter, when it is a local path.
    pub fn request_path(&self) -> Option<String> {
        let query = self.path_and_query.split_once('?').map_or("", |(_, q)| q);
        request_path_param(query)
    }

    /// Where a browser sent elsewhere comes back to ([`return_path`]).
    pub fn back(&self) -> Option<String> {
        return_path(
            self.get,
            &self.path_and_query,
            self.referer.as_deref(),
            &self.host,
        )
    }

    /// The routes backend's context for this request on `config`'s mount point.
    pub fn routes_ctx<'a>(
        &'a self,
        config: &'a PowConfig,
        request_path: Option<&'a str>,
    ) -> RouteContext<'a> {
        RouteContext {
            current_page: self.current_page(),
            mount: config.mount_path(),
            request_path,
        }
    }

    /// What the runner judges of a posted `form`: its type, and its CSRF token (the
    /// `_csrf_token` field, else the `x-csrf-token` header) against `cookie`.
    pub(crate) fn posted_form(&self, form: &FormData, cookie: &CookieSession) -> PostedForm {
        let urlencoded = self
            .content_type
            .as_deref()
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let token = form.csrf_token().or(self.csrf_header.as_deref());
        PostedForm {
            urlencoded,
            csrf_valid: crate::session::csrf::verify(cookie, token),
        }
    }

    /// The start of `action`'s run for this request: its [`Step`] (the params of its
    /// posted form, the return paths, the signed-in user, the language `lang`) and what
    /// [`run`] checks before the action (its rules, the form, the CAPTCHA answer, the
    /// page to go back to).
    pub fn start(
        &self,
        config: &PowConfig,
        action: PageAction,
        cookie: &CookieSession,
        current: Option<&CurrentSession>,
        lang: LanguageIdentifier,
    ) -> (Step, ActionRequest) {
        let safe = self.safe();
        let widget = config
            .captcha()
            .filter(|_| action.requirements.captcha && !safe)
            .map(|captcha| captcha.widget().field);
        let mut request = ActionRequest {
            requirements: action.requirements,
            safe,
            back: match action.format {
                Format::Html => self.back(),
                Format::Json => None,
            },
            ..ActionRequest::default()
        };
        let params = match action.form {
            Some(mut form) => {
                request.captcha_answer = widget.and_then(|field| form.other.remove(field));
                request.form = Some(self.posted_form(&form, cookie));
                std::mem::take(&mut form.user)
            }
            None => action.params,
        };
        if widget.is_some() && request.captcha_answer.is_none() {
            request.captcha_answer = self.captcha_header.clone();
        }
        let mut step = Step::new(config, action.id, params, lang);
        step.request_path = self.request_path();
        step.current_page = self.current_page().map(str::to_owned);
        step.current_user = current.map(|c| User::clone(&c.user));
        step.format = action.format;
        (step, request)
    }
}

/// Whether a client sending `accept` and `content_type` asks for JSON or sends it.
pub fn wants_json(accept: Option<&str>, content_type: Option<&str>) -> bool {
    let names_json = |value: Option<&str>| {
        value.is_some_and(|v| v.contains("application/json") || v.contains("+json"))
    };
    names_json(accept) || names_json(content_type)
}

/// One action a page request runs: its id, its rules, and its input (a posted form, or
/// params that came another way).
#[derive(Debug)]
pub struct PageAction {
    /// The action.
    pub id: ActionId,
    /// Who may run it and what it asks of the client.
    pub requirements: Requirements,
    /// A posted form: its type and CSRF token are checked, its `user[...]` fields are the
    /// step's params.
    pub form: Option<FormData>,
    /// Params that came another way than a posted form (no CSRF check).
    pub params: Params,
    /// The answer's format: a page, or JSON for an app's own JSON action.
    pub format: Format,
}

impl PageAction {
    /// The action `id`, open to anyone, without a form, answering a page.
    pub fn new(id: ActionId) -> Self {
        Self {
            id,
            requirements: Requirements::default(),
            form: None,
            params: Params::default(),
            format: Format::Html,
        }
    }
}

/// What [`run`] came to.
#[derive(Debug)]
pub enum PageEnd<T> {
    /// Answer this (a refusal, a refused form, a callback's halt, the CAPTCHA's way back).
    Answer(HttpAnswer),
    /// The access rule refused the client ([`Refusal::NotAuthenticated`] or
    /// [`Refusal::AlreadyAuthenticated`]): answer [`access_answer`], or an app's own answer.
    Access(Refusal),
    /// The action ran and the callbacks after it let its answer through.
    Ran(T),
}

/// Runs one page action for `request` over `host`, whose step and checks come from
/// [`PageRequest::start`]: the engine's runner (`pipeline::before_action`, `act` inside the
/// admission, `pipeline::after_action`), with every answer but the action's own decided
/// here. `responds` tells whether what the action came to is one the callbacks after it
/// see (not one that stopped before doing anything they react to).
///
/// # Errors
/// The action's, a callback's or the store's error (answer it with [`error_answer`], or
/// as JSON for a JSON action).
pub async fn run<H, T, E>(
    host: &mut H,
    request: &PageRequest,
    checks: ActionRequest,
    current: Option<&CurrentSession>,
    act: impl AsyncFnOnce(&mut H) -> Result<T, E>,
    responds: impl FnOnce(&T) -> bool,
) -> Result<PageEnd<T>, E>
where
    H: ActionHost + ?Sized,
    E: From<PowError>,
{
    let admission = match pipeline::before_action(host, current, checks).await? {
        Before::Go(admission) => admission,
        Before::Stop(stop) => return Ok(stopped(host.step(), request, stop)?),
    };
    let ran = admission.run(act(host)).await?;
    let respond = responds(&ran);
    match pipeline::after_action(host, admission, respond).await? {
        Some(halt) => Ok(PageEnd::Answer(halted(halt, host.step().format))),
        None => Ok(PageEnd::Ran(ran)),
    }
}

/// The answer to an action that stopped before it ran.
fn stopped<T>(step: &Step, request: &PageRequest, stop: Stop) -> Result<PageEnd<T>, PowError> {
    Ok(PageEnd::Answer(match stop {
        Stop::Refused(refusal @ (Refusal::NotAuthenticated | Refusal::AlreadyAuthenticated)) => {
            return Ok(PageEnd::Access(refusal))
        }
        Stop::Refused(refusal) => {
            refusal_answer(&step.config, &step.lang, request, refusal, step.format)?
        }
        Stop::BadForm(refusal) => HttpAnswer::text(refusal.status(), refusal.text(), None),
        Stop::Back(back) => HttpAnswer::redirect(&back),
        Stop::Halted(halt) => halted(halt, step.format),
    }))
}

/// The answer to an action refused by its proof rules, for a client answered in
/// `format`: on a page, support access's `403` (translated into `lang`) and the page
/// confirming the password or performing a step-up method (returning here). JSON, a
/// step-up with no page and the access rules ([`access_answer`]) answer the refusal's
/// error.
///
/// # Errors
/// The refusal's error ([`Refusal::error`]).
pub fn refusal_answer(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    request: &PageRequest,
    refusal: Refusal,
    format: Format,
) -> Result<HttpAnswer, PowError> {
    if format == Format::Json {
        return Err(refusal.error());
    }
    match refusal {
        Refusal::ImpersonationForbidden => Ok(HttpAnswer::text(
            403,
            &config.messages().text(lang, "impersonation-forbidden"),
            Some(NO_STORE),
        )),
        Refusal::Reauthenticate { page }
        | Refusal::StepUp {
            page: Some(page), ..
        } => Ok(HttpAnswer::redirect(&returning_to(
            page,
            request.back().as_deref(),
        ))),
        refusal => Err(refusal.error()),
    }
}

/// The answer of a step-up guard (a scope or route that asks `rule` of every request) to
/// the client signed in with `current`, or `None` to let it through: support access is
/// refused, a browser goes to a page performing an accepted method and back, a JSON
/// client gets `403 step_up_required` with the accepted methods, translated. `read` gives
/// the request, its language and whether it is answered as JSON; it runs only for a
/// client the guard refuses, so a request that meets the rule reads nothing more.
pub fn step_up_answer(
    config: &PowConfig,
    current: &CurrentSession,
    rule: &crate::session::StepUp,
    read: impl FnOnce() -> (PageRequest, LanguageIdentifier, bool),
) -> Option<HttpAnswer> {
    let impersonation = current.metadata.is_impersonation();
    if !impersonation && rule.is_met(&current.metadata, config) {
        return None;
    }
    let (request, lang, json) = read();
    let refusal = if impersonation {
        Refusal::ImpersonationForbidden
    } else {
        let ctx = request.routes_ctx(config, None);
        pipeline::step_up_refusal(config, &ctx, Some(current), rule)?
    };
    let format = if json { Format::Json } else { Format::Html };
    Some(
        match refusal_answer(config, &lang, &request, refusal, format) {
            Ok(answer) => answer,
            Err(err) if json => {
                HttpAnswer::error(&ApiError::from(err).localized(Some(config), &lang))
            }
            Err(err) => HttpAnswer::failure(&err),
        },
    )
}

/// The answer to a callback that halted an action answering `format`.
pub fn halted(halt: Halt, format: Format) -> HttpAnswer {
    let json = format == Format::Json;
    match halt {
        Halt::Redirect(path) => HttpAnswer::redirect(&path),
        Halt::NotFound if json => {
            HttpAnswer::error(&ApiError::new(404, "Not found").with_code("not_found"))
        }
        Halt::NotFound => HttpAnswer {
            status: 404,
            headers: Vec::new(),
            body: None,
        },
        Halt::Status(status, text) if json => HttpAnswer::error(&ApiError::new(status, text)),
        Halt::Status(status, text) => HttpAnswer::text(status, &text, Some("no-store")),
    }
}

/// An app's own answer to a client refused for who is signed in: nobody where someone must
/// be ([`Refusal::NotAuthenticated`]: a guard, the signed-in user's extractor, an action's
/// access rule), or somebody where only visitors may come
/// ([`Refusal::AlreadyAuthenticated`]). One trait for every framework layer: set it on
/// pow-actix's session middleware or a guard (`error_handler`, `with_handler`) or on
/// pow-axum's `PowLayer`/`ApiLayer` (`error_handler`), and both answer alike.
///
/// ```
/// use pow_core::config::PowConfig;
/// use pow_core::messages::LanguageIdentifier;
/// use pow_core::pages::{ErrorHandler, HttpAnswer, PageRequest};
/// use pow_core::pipeline::Refusal;
///
/// /// Browsers that must sign in go to the app's own page; everything else as the engine
/// /// answers it.
/// struct ToLanding;
///
/// impl ErrorHandler for ToLanding {
///     fn answer(
///         &self,
///         _config: &PowConfig,
///         _lang: &LanguageIdentifier,
///         request: &PageRequest,
///         refusal: &Refusal,
///     ) -> Option<HttpAnswer> {
///         let browser = !request.wants_json();
///         (browser && *refusal == Refusal::NotAuthenticated).then(|| HttpAnswer::redirect("/welcome"))
///     }
/// }
///
/// let config = PowConfig::builder("s".repeat(64)).build().unwrap();
/// let lang: LanguageIdentifier = "en".parse().unwrap();
/// let page = PageRequest { get: true, path_and_query: "/billing".into(), ..Default::default() };
/// let answer = ToLanding.answer(&config, &lang, &page, &Refusal::NotAuthenticated).unwrap();
/// assert_eq!(answer.header("location"), Some("/welcome"));
/// ```
pub trait ErrorHandler: Send + Sync + 'static {
    /// The answer to `refusal` of `request` (texts in `lang`); `None` keeps the engine's
    /// ([`access_answer`]).
    fn answer(
        &self,
        config: &PowConfig,
        lang: &LanguageIdentifier,
        request: &PageRequest,
        refusal: &Refusal,
    ) -> Option<HttpAnswer>;
}

impl<H: ErrorHandler + ?Sized> ErrorHandler for std::sync::Arc<H> {
    fn answer(
        &self,
        config: &PowConfig,
        lang: &LanguageIdentifier,
        request: &PageRequest,
        refusal: &Refusal,
    ) -> Option<HttpAnswer> {
        (**self).answer(config, lang, request, refusal)
    }
}

/// The answer to a client an action's access rule, a guard or an extractor refused (see
/// [`PageEnd::Access`]): the app's `handler`'s when it gives one, else the engine's. The
/// engine's: JSON clients ([`PageRequest::wants_json`]) get `401 not_authenticated` or
/// `403 already_authenticated` in the API's envelope; a browser is sent to the setup's
/// [`user_not_authenticated_path`](crate::config::Routes::user_not_authenticated_path)
/// (returning here) or [`user_already_authenticated_path`](crate::config::Routes::user_already_authenticated_path),
/// with the setup's flash text. `bearer` is `Some(token_refused)` where the request came
/// through a transport whose refusals are JSON whatever the client accepts (the bearer
/// transport, an app's routes behind the API's layers): see [`api_access_answer`]. Both
/// framework layers answer every such refusal with this: their guards, their extractors,
/// the page runner's end.
///
/// ```
/// use pow_core::messages::LanguageIdentifier;
/// use pow_core::framework::page::{access_answer, PageRequest};
/// use pow_core::pipeline::Refusal;
/// use pow_core::session::CookieSession;
/// use pow_core::PowConfig;
///
/// let config = PowConfig::builder("s".repeat(64)).build().unwrap();
/// let lang: LanguageIdentifier = "en".parse().unwrap();
/// let cookie = CookieSession::default();
/// let page = PageRequest { get: true, path_and_query: "/account".into(), ..PageRequest::default() };
/// let answer = |bearer| access_answer(&config, &lang, &page, &cookie, &Refusal::NotAuthenticated, None, bearer);
/// assert_eq!(answer(None).status, 302, "a browser goes to the sign-in page");
/// assert_eq!(answer(Some(false)).status, 401, "the bearer transport answers JSON");
/// ```
pub fn access_answer(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    request: &PageRequest,
    cookie: &CookieSession,
    refusal: &Refusal,
    handler: Option<&dyn ErrorHandler>,
    bearer: Option<bool>,
) -> HttpAnswer {
    if let Some(token_refused) = bearer {
        return api_access_answer(config, lang, request, refusal, handler, token_refused);
    }
    if let Some(answer) = handler.and_then(|h| h.answer(config, lang, request, refusal)) {
        return answer;
    }
    let json = request.wants_json();
    match refusal {
        Refusal::AlreadyAuthenticated if json => HttpAnswer::error(
            &ApiError::new(403, "Already authenticated").with_code("already_authenticated"),
        ),
        Refusal::AlreadyAuthenticated => {
            flash::put_error(cookie, config.messages().user_already_authenticated(lang));
            let request_path = request.request_path();
            let ctx = request.routes_ctx(config, request_path.as_deref());
            HttpAnswer::redirect(&config.routes().user_already_authenticated_path(&ctx))
        }
        _ if json => HttpAnswer::error(
            &ApiError::new(401, "Not authenticated").with_code("not_authenticated"),
        ),
        _ => {
            flash::put_error(cookie, config.messages().user_not_authenticated(lang));
            let ctx = request.routes_ctx(config, None);
            HttpAnswer::redirect(&config.routes().user_not_authenticated_path(&ctx))
        }
    }
}

/// The answer to `refusal` where refusals answer the API's JSON whatever the client
/// accepts (the bearer transport, and an app's routes behind the API's layers): the app's
/// `handler`'s, where it gives one; else the API's error in `lang`, `invalid_token` when
/// the request's bearer token was refused (`token_refused`: forged, expired, revoked or
/// signed out), so that a client tells "sign in again" apart from "this needs a sign-in".
/// [`access_answer`] answers with this where its `bearer` says so.
///
/// ```
/// use pow_core::messages::LanguageIdentifier;
/// use pow_core::framework::page::{api_access_answer, PageRequest};
/// use pow_core::pipeline::Refusal;
/// use pow_core::PowConfig;
///
/// let config = PowConfig::builder("s".repeat(64)).build().unwrap();
/// let lang: LanguageIdentifier = "en".parse().unwrap();
/// let page = PageRequest::default();
/// let code = |token_refused| {
///     let answer = api_access_answer(&config, &lang, &page, &Refusal::NotAuthenticated, None, token_refused);
///     (answer.status, String::from_utf8(answer.body.unwrap()).unwrap())
/// };
/// let (status, body) = code(true);
/// assert_eq!(status, 401);
/// assert!(body.contains("invalid_token"), "{body}");
/// assert!(code(false).1.contains("not_authenticated"));
/// ```
pub fn api_access_answer(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    request: &PageRequest,
    refusal: &Refusal,
    handler: Option<&dyn ErrorHandler>,
    token_refused: bool,
) -> HttpAnswer {
    if let Some(answer) = handler.and_then(|h| h.answer(config, lang, request, refusal)) {
        return answer;
    }
    HttpAnswer::error(&match refusal {
        Refusal::AlreadyAuthenticated => ApiError::already_authenticated(Some(config), lang),
        _ if token_refused => ApiError::invalid_token(Some(config), lang),
        _ => ApiError::not_authenticated(Some(config), lang),
    })
}

/// The answer to what an engine controller came to, once the callbacks let it through
/// (`step` as the action and the callbacks left it): a redirect, a download, JSON, text,
/// or the page it builds rendered for `cookie` and the client signed in with `current`.
///
/// # Errors
/// The page's or the views' error.
pub fn answer(
    step: &Step,
    cookie: &CookieSession,
    current: Option<&CurrentSession>,
    answer: Answer,
) -> Result<HttpAnswer, PowError> {
    match plain(answer) {
        Ok(answer) => Ok(answer),
        Err(build) => {
            let page = build(step, cookie)?;
            page_answer(&step.config, &step.lang, page, cookie, current)
        }
    }
}

/// The answer to what an engine controller came to when it is not a page: a redirect, a
/// download, JSON or text; a page to render comes back as its builder.
///
/// # Errors
/// [`Answer::Render`]'s builder.
pub fn plain(answer: Answer) -> Result<HttpAnswer, BuildPage> {
    Ok(match answer {
        Answer::Redirect(path) | Answer::Stop(path) => HttpAnswer::redirect(&path),
        Answer::Text { status, text } => HttpAnswer::text(status, &text, Some(NO_STORE)),
        Answer::Download {
            content_type,
            filename,
            body,
        } => HttpAnswer {
            status: 200,
            headers: vec![
                ("cache-control", NO_STORE.to_owned()),
                ("content-type", content_type.to_owned()),
                ("content-disposition", Answer::attachment(&filename)),
            ],
            body: Some(body),
        },
        Answer::Json {
            status,
            headers,
            body,
        } => {
            let mut all = vec![("content-type", "application/json".to_owned())];
            all.extend(headers);
            HttpAnswer {
                status,
                headers: all,
                body: Some(serde_json::to_vec(&body).unwrap_or_default()),
            }
        }
        Answer::Render(build) => return Err(build),
    })
}

/// `page` rendered for `cookie` (flash, CSRF token) and the client signed in with
/// `current`: its status, HTML, [`PAGE_HEADERS`] and the page's own headers.
///
/// # Errors
/// [`PowError::Config`] when the page is not registered; the views' error.
pub fn page_answer(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    page: Page,
    cookie: &CookieSession,
    current: Option<&CurrentSession>,
) -> Result<HttpAnswer, PowError> {
    let status = page.status;
    let own = page.headers.clone();
    let html = super::render(config, lang, page, cookie, current)?;
    let mut headers = vec![("content-type", "text/html; charset=utf-8".to_owned())];
    for (name, value) in PAGE_HEADERS.into_iter().chain(own) {
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value.to_owned()));
    }
    Ok(HttpAnswer {
        status,
        headers,
        body: Some(html.into_bytes()),
    })
}

/// The answer to an error on a page request: the translated `503`/`429` page with
/// `Retry-After` when the client takes HTML and the error is one a visitor should see
/// ([`error_page`](super::error_page)), else the error's opaque answer
/// ([`HttpAnswer::failure`]).
pub fn error_answer(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    request: &PageRequest,
    cookie: &CookieSession,
    current: Option<&CurrentSession>,
    err: &PowError,
) -> HttpAnswer {
    error_page_answer(
        config,
        lang,
        request.accept.as_deref(),
        cookie,
        current,
        err,
    )
    .unwrap_or_else(|| HttpAnswer::failure(err))
}

/// The translated `503`/`429` page answering `err` to a client sending `accept`, when it
/// takes HTML and the error is one a visitor should see, with `Retry-After`.
pub fn error_page_answer(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    accept: Option<&str>,
    cookie: &CookieSession,
    current: Option<&CurrentSession>,
    err: &PowError,
) -> Option<HttpAnswer> {
    if !super::accepts_html(accept) {
        return None;
    }
    let error_page = super::error_page(config, lang, err)?;
    match page_answer(config, lang, error_page.page, cookie, current) {
        Ok(mut answer) => {
            answer.status = error_page.status;
            if let Some(secs) = error_page.retry_after {
                answer.headers.push(("retry-after", secs.to_string()));
            }
            Some(answer)
        }
        Err(render) => {
            tracing::error!(error = %render, "could not render the error page");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request as a test writes it: a method, a path and headers by name.
    struct Head(
        &'static str,
        &'static str,
        Vec<(&'static str, &'static str)>,
    );

    impl RequestHead for Head {
        fn method(&self) -> &str {
            self.0
        }
        fn path_and_query(&self) -> &str {
            self.1
        }
        fn peer(&self) -> Option<std::net::IpAddr> {
            None
        }
        fn header_values(&self, header: FactHeader) -> Vec<&str> {
            let named = self.2.iter().filter(|(name, _)| *name == header.name());
            named.map(|(_, value)| *value).collect()
        }
        fn header(&self, header: FactHeader) -> Option<&str> {
            self.header_values(header).first().copied()
        }
        fn scheme(&self) -> Option<&str> {
            None
        }
        fn authority(&self) -> Option<&str> {
            None
        }
    }

    #[test]
    fn a_page_request_is_read_from_the_head() {
        let head = Head(
            "POST",
            "/session?x=1",
            vec![
                ("host", "example.com:8080"),
                ("referer", "http://example.com:8080/session/new"),
                ("accept", "text/html"),
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-csrf-token", "t"),
                ("x-captcha-response", "c"),
            ],
        );
        let read = PageRequest::read(&head);
        assert!(!read.get && !read.head && !read.safe());
        assert_eq!(read.path_and_query, "/session?x=1");
        assert_eq!(read.host, "example.com:8080");
        assert_eq!(
            read.referer.as_deref(),
            Some("http://example.com:8080/session/new")
        );
        assert_eq!(read.accept.as_deref(), Some("text/html"));
        assert_eq!(
            read.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(read.csrf_header.as_deref(), Some("t"));
        assert_eq!(read.captcha_header.as_deref(), Some("c"));
        assert_eq!(read.back().as_deref(), Some("/session/new"));
        let get = PageRequest::read(&Head("GET", "/a?b=1", vec![]));
        assert_eq!(get.current_page(), Some("/a?b=1"));
        assert!(PageRequest::read(&Head("HEAD", "/", vec![])).safe());
    }

    #[test]
    fn a_request_path_is_taken_only_when_local() {
        let at = |pq: &str| PageRequest {
            get: true,
            path_and_query: pq.into(),
            ..PageRequest::default()
        };
        assert_eq!(
            at("/session/new?request_path=%2Fa%3Fb%3D1").request_path(),
            Some("/a?b=1".into())
        );
        assert_eq!(
            at("/session/new?request_path=%2F%2Fevil").request_path(),
            None
        );
        assert_eq!(at("/session/new").request_path(), None);
    }

    #[test]
    fn a_form_is_judged_by_its_type_then_its_token() {
        let cookie = CookieSession::default();
        let token = crate::session::csrf::token(&cookie);
        let form = |token: Option<&str>| {
            let body = match token {
                Some(token) => format!("_csrf_token={token}"),
                None => String::new(),
            };
            FormData::parse(body.as_bytes())
        };
        let mut request = PageRequest {
            content_type: Some("application/x-www-form-urlencoded; charset=utf-8".into()),
            ..PageRequest::default()
        };
        assert_eq!(
            request.posted_form(&form(Some(&token)), &cookie).refusal(),
            None
        );
        assert_eq!(
            request.posted_form(&form(None), &cookie).refusal(),
            Some(pipeline::run::FormRefusal::Csrf)
        );
        request.csrf_header = Some(token.clone());
        assert_eq!(request.posted_form(&form(None), &cookie).refusal(), None);
        request.content_type = Some("multipart/form-data".into());
        assert_eq!(
            request.posted_form(&form(Some(&token)), &cookie).refusal(),
            Some(pipeline::run::FormRefusal::NotUrlencoded)
        );
    }

    #[test]
    fn a_halt_answers_as_its_format_does() {
        let page = halted(Halt::Status(409, "taken".into()), Format::Html);
        assert_eq!(
            (page.status, page.header("cache-control")),
            (409, Some("no-store"))
        );
        assert_eq!(page.body.as_deref(), Some(&b"taken"[..]));
        let json = halted(Halt::NotFound, Format::Json);
        assert_eq!(json.status, 404);
        assert_eq!(json.header("content-type"), Some("application/json"));
        assert_eq!(halted(Halt::NotFound, Format::Html).body, None);
    }

    #[test]
    fn an_error_answers_its_status_and_nothing_more() {
        let answer = HttpAnswer::failure(&PowError::Busy);
        assert_eq!(answer.status, 503);
        assert_eq!(answer.body.as_deref(), Some(&b"Service Unavailable"[..]));
        assert!(answer.header("retry-after").is_some());
    }
}

//! The HTML pages on axum: the core's routes ([`router`]) and [`Action`], the pipeline
//! every page action runs through, as pow-actix's `web::Action`:
//!
//! ```text
//! guard (access, support access, sudo, step-up) -> the form's type and CSRF token
//!   -> rate limits -> CAPTCHA -> before_process (each extension) -> the action
//!   -> audit -> before_respond (each extension) -> the page or the redirect
//! ```
//!
//! The pages and controllers are the engine's ([`pow_core::pages`]): the same forms, texts,
//! redirects, flash and headers as on actix-web; this module only reads the request and
//! writes the response.
//!
//! ```
//! use axum::Router;
//! use pow_axum::PowLayer;
//!
//! let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
//! let app: Router = Router::new()
//!     .merge(pow_axum::web::router(&config))
//!     .layer(PowLayer::new(config));
//! ```

use axum::body::to_bytes;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, RawPathParams, Request};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodFilter, MethodRouter};
use axum::RequestExt as _;
use axum::Router;
use futures_util::future::BoxFuture;
use pow_core::framework::page::{self as runner, PageAction, PageEnd};
use pow_core::pages::routes::{self, PageRoute, PathParams, QueryParams, Verb};
use pow_core::pages::{core, Answer, FormData, HttpAnswer, Page, MAX_FORM_BYTES, PAGE_HEADERS};
use pow_core::pipeline::{ActionId, Client, Requirements, Step};
use pow_core::PowError;

use crate::extract::Pow;

/// The pages on axum: the engine's page routes, the core's and
/// every enabled extension's ([`page_routes`](pow_core::pages::routes::page_routes): the
/// same table pow-actix mounts), and `GET /session/unlock/{token}`. HTML forms reach
/// `PATCH`, `PUT` and `DELETE` routes by posting a `_method` field. Put the router behind
/// [`PowLayer`](crate::PowLayer). The paths are relative, as on actix-web: an app that
/// serves them under a prefix nests the router there
/// (`Router::new().nest("/auth", router)`) and tells the setup
/// ([`mount_path`](pow_core::PowConfigBuilder::mount_path)) so that links and redirects
/// point inside it.
///
/// # Example
/// ```
/// use axum::Router;
/// use pow_axum::{PowConfig, PowLayer};
///
/// let config = PowConfig::builder("s".repeat(64)).build()?;
/// // The pages under /auth: /auth/session/new, /auth/registration/new, ...
/// let config_under_auth = PowConfig::builder("s".repeat(64)).mount_path("/auth").build()?;
/// let app: Router = Router::new()
///     .nest("/auth", pow_axum::web::router(&config_under_auth))
///     .layer(PowLayer::new(config_under_auth));
/// // At the root:
/// let root: Router = Router::new()
///     .merge(pow_axum::web::router(&config))
///     .layer(PowLayer::new(config));
/// # Ok::<(), pow_axum::PowError>(())
/// ```
pub fn router<S: Clone + Send + Sync + 'static>(config: &pow_core::PowConfig) -> Router<S> {
    let table = routes::page_routes(config);
    let mut router = Router::new().route("/session/unlock/{token}", get(unlock));
    for asset in config.extensions().assets() {
        let asset = *asset;
        let serve = move || async move {
            (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, routes::Asset::CACHE_CONTROL),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                asset.body,
            )
        };
        router = router.route(&asset.mounted_path(config), get(serve));
    }
    for (path, here) in pow_core::pages::endpoints::by_path(config) {
        let here: Arc<[pow_core::pages::endpoints::EndpointRoute]> = here.into();
        let config = config.clone();
        router = router.route(
            &path,
            axum::routing::any(move |req: Request| run_endpoint(req, config, here)),
        );
    }
    for (path, here) in routes::by_path(config, &table) {
        let here: Arc<[PageRoute]> = here.into();
        let refused = routes::not_allowed(&here);
        let mut methods =
            MethodRouter::new().fallback(move || async move { crate::api::response(refused) });
        for verb in routes::methods(&here) {
            let here = Arc::clone(&here);
            let filter = match verb {
                Verb::Get => MethodFilter::GET,
                Verb::Post => MethodFilter::POST,
                Verb::Patch => MethodFilter::PATCH,
                Verb::Put => MethodFilter::PUT,
                Verb::Delete => MethodFilter::DELETE,
            };
            methods = methods.on(filter, move |req: Request| run_page(req, verb, here));
        }
        router = router.route(&path, methods);
    }
    router
}

/// The development mailbox preview (the engine's
/// [`pages::mailbox`](pow_core::pages::mailbox)) at
/// [`MAILBOX_PATH`](pow_core::pages::mailbox::MAILBOX_PATH): `GET /dev/mailbox` lists
/// the mails `outbox` kept, newest first, `GET /dev/mailbox/{n}` shows one rendered and
/// `GET /dev/mailbox/{n}/text` its plain-text part. For development only, as on
/// actix-web: it answers only a loopback client that no proxy forwarded (serve the app
/// with `into_make_service_with_connect_info::<SocketAddr>()`), `404` to anyone else.
///
/// ```
/// use axum::Router;
/// use pow_axum::mailer::MemoryMailer;
///
/// let outbox = MemoryMailer::new();
/// let app: Router = Router::new().merge(pow_axum::web::mailbox_preview(outbox));
/// ```
pub fn mailbox_preview<S: Clone + Send + Sync + 'static>(
    outbox: pow_core::mailer::MemoryMailer,
) -> Router<S> {
    use pow_core::pages::mailbox::{self, MAILBOX_PATH};
    let serve = move |req: Request, rest: &str| match local(&req) {
        true => crate::api::response(mailbox::answer(&outbox, rest)),
        false => StatusCode::NOT_FOUND.into_response(),
    };
    let list = serve.clone();
    Router::new()
        .route(
            MAILBOX_PATH,
            get(move |req: Request| async move { list(req, "") }),
        )
        .route(
            &format!("{MAILBOX_PATH}/{{*rest}}"),
            get(move |Path(rest): Path<String>, req: Request| async move { serve(req, &rest) }),
        )
}

/// Whether `req` comes straight from this machine (a loopback peer, no proxy's header).
fn local(req: &Request) -> bool {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    pow_core::pages::mailbox::is_local(peer, |name| req.headers().contains_key(name))
}

/// Runs the route of `here` (the routes at one path) that a `verb` request picks; `405`
/// with `Allow` when none does.
async fn run_page(mut req: Request, verb: Verb, here: Arc<[PageRoute]>) -> Response {
    // axum runs a `GET` route for `HEAD` too: only where the `GET` only shows a page.
    if req.method() == axum::http::Method::HEAD && !routes::answers_head(&here) {
        return crate::api::response(routes::not_allowed(&here));
    }
    let template = here.first().map_or("", |route| route.path);
    let path = match path_params(&mut req, template).await {
        Ok(path) => path,
        Err(rejection) => return rejection,
    };
    let (parts, pow, form) = if verb == Verb::Get {
        let (mut parts, _) = req.into_parts();
        match Pow::from_request_parts(&mut parts, &()).await {
            Ok(pow) => (parts, pow, None),
            Err(rejection) => return rejection.into_response(),
        }
    } else {
        match read_form(req).await {
            Ok((parts, pow, form)) => (parts, pow, Some(form)),
            Err(res) => return res,
        }
    };
    let method_override = form.as_ref().and_then(FormData::method_override);
    let Some(route) = routes::pick(&here, verb, method_override.as_deref()) else {
        return crate::api::response(routes::not_allowed(&here));
    };
    let requirements = route.requirements_for(&pow.config, pow.current.as_ref());
    let mut action = Action::new(route.action).requirements(requirements);
    if route.form {
        action = action.form(form.unwrap_or_default());
    }
    let act = Arc::clone(&route.act);
    let query = QueryParams::parse(parts.uri.query().unwrap_or_default());
    let json = crate::wants_json(&parts);
    let run: Act = Box::new(move |step, client| {
        routes::assign_request(&mut step.assigns, path, query, json);
        act(step, client)
    });
    action.run(pow, &parts, run).await
}

/// Runs the protocol endpoint of `here` (the endpoints at one path) for the request's
/// method ([`endpoints`](pow_core::pages::endpoints)): the request read into the engine's
/// neutral request, the handler's answer sent as it is.
async fn run_endpoint(
    mut req: Request,
    config: pow_core::PowConfig,
    here: Arc<[pow_core::pages::endpoints::EndpointRoute]>,
) -> Response {
    use pow_core::pages::endpoints::{self, EndpointRequest, MAX_BODY};
    let verb = Verb::of_method(req.method().as_str());
    let Some(route) = verb.and_then(|verb| endpoints::pick(&here, verb)) else {
        return crate::api::response(endpoints::not_allowed(&here));
    };
    let params = match path_params(&mut req, &route.path).await {
        Ok(params) => params,
        Err(rejection) => return rejection,
    };
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return crate::api::response(endpoints::too_large());
    };
    let headers = EndpointRequest::headers_of(
        (parts.headers.iter()).map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    let request = EndpointRequest {
        method: verb,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
        facts: crate::facts::read(&parts, &config),
        params,
    };
    crate::api::response(route.call(config, request).await)
}

/// `GET /session/unlock/{token}`: lifts the lock the link was mailed for, once, and sends
/// the visitor to the sign-in page.
async fn unlock(Path(token): Path<String>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let mut pow = match Pow::from_request_parts(&mut parts, &()).await {
        Ok(pow) => pow,
        Err(rejection) => return rejection.into_response(),
    };
    let config = pow.config.clone();
    match core::unlock(&config, &mut pow, current_page(&parts), &token).await {
        Ok(path) => redirect(&path),
        Err(err) => error_answer(&pow, &parts, &err),
    }
}

/// `413` for a body over the limit, as text (as actix-web answers it).
pub(crate) fn too_large() -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        "The request body is larger than this address takes.",
    )
        .into_response()
}

/// The path parameters of `req`, a request for the route `template`: percent-decoded, and
/// a parameter that does not decode to UTF-8 (`%ff`) taken as it was sent, as actix-web
/// leaves it; the engine then answers it as any other bad value (an unknown link, say)
/// instead of a bare `400`.
pub(crate) async fn path_params(req: &mut Request, template: &str) -> Result<PathParams, Response> {
    match req.extract_parts::<RawPathParams>().await {
        Ok(params) => Ok(PathParams(
            params
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        )),
        Err(axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(_)) => {
            // Aligned from the end: a router nested under a mount point sees the path
            // under it, the template is the route's own.
            let sent = req.uri().path().rsplit('/');
            Ok(PathParams(
                template
                    .rsplit('/')
                    .zip(sent)
                    .filter_map(|(part, value)| {
                        let name = part.strip_prefix('{')?.strip_suffix('}')?;
                        Some((name.to_owned(), value.to_owned()))
                    })
                    .collect(),
            ))
        }
        Err(rejection) => Err(rejection.into_response()),
    }
}

/// The request's parts, its [`Pow`] and its form (at most [`MAX_FORM_BYTES`]: `413`
/// beyond).
async fn read_form(req: Request) -> Result<(Parts, Pow, FormData), Response> {
    let (mut parts, body) = req.into_parts();
    let pow = Pow::from_request_parts(&mut parts, &())
        .await
        .map_err(IntoResponse::into_response)?;
    let body = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| too_large())?;
    Ok((parts, pow, FormData::parse(&body)))
}

/// An engine controller's action over the step and the client, boxed so that the handler's
/// future stays `Send`.
pub type Act = Box<
    dyn for<'a> FnOnce(&'a mut Step, &'a mut dyn Client) -> BoxFuture<'a, Result<Answer, PowError>>
        + Send,
>;

/// One page action on its way through the engine's page runner (see the [module](self)).
///
/// ```
/// use axum::{extract::Request, response::Response};
/// use pow_axum::pages::Answer;
/// use pow_axum::pipeline::{ActionId, ActionKind};
/// use pow_axum::web::Action;
/// use pow_axum::Pow;
/// use axum::extract::FromRequestParts;
///
/// const HELLO: ActionId = ActionId::new("hello", "show", ActionKind::Show);
///
/// async fn hello(req: Request) -> Response {
///     let (mut parts, _) = req.into_parts();
///     let pow = match Pow::from_request_parts(&mut parts, &()).await {
///         Ok(pow) => pow,
///         Err(rejection) => return axum::response::IntoResponse::into_response(rejection),
///     };
///     // The same rules as pow-actix's `Action`: `.signed_in()`, `.sudo()`, `.step_up(..)`,
///     // `.changes_factor()`, `.owner_only()`, `.captcha()`, or `.requirements(..)` at once.
///     Action::new(HELLO)
///         .signed_in()
///         .run(pow, &parts, Box::new(|_, _| Box::pin(async { Ok(Answer::Redirect("/".into())) })))
///         .await
/// }
/// ```
#[derive(Debug)]
pub struct Action(PageAction);

impl Action {
    /// The action `id`, open to anyone, without a form.
    pub fn new(id: ActionId) -> Self {
        Self(PageAction::new(id))
    }

    /// Sets who may run it and what it asks of the client (access, sudo, step-up, CAPTCHA),
    /// as an engine route declares them ([`PageRoute::requirements`], with
    /// [`PageRoute::signed_in`] and its siblings).
    pub fn requirements(mut self, requirements: Requirements) -> Self {
        self.0.requirements = requirements;
        self
    }

    /// A posted form: its type and CSRF token are checked, its `user[...]` fields are the
    /// step's params.
    pub fn form(mut self, form: FormData) -> Self {
        self.0.form = Some(form);
        self
    }

    /// Changes the rules with one of [`Requirements`]' builders.
    fn rules(mut self, change: impl FnOnce(Requirements) -> Requirements) -> Self {
        self.0.requirements = change(std::mem::take(&mut self.0.requirements));
        self
    }

    pow_core::rule_builders!();

    /// Runs the engine's page runner around `act` for the request of `parts`, served by
    /// `pow`, and answers: the page, a redirect, or the error's page.
    pub async fn run(self, pow: Pow, parts: &Parts, act: Act) -> Response {
        use tracing::Instrument as _;
        let span = tracing::info_span!(
            "pow.action",
            action = %self.0.id,
            user_id = tracing::field::Empty
        );
        let answer = self.run_traced(pow, parts, act).instrument(span).await;
        crate::api::response(answer)
    }

    async fn run_traced(self, pow: Pow, parts: &Parts, act: Act) -> HttpAnswer {
        let config = pow.config.clone();
        let request = crate::facts::page_request(parts);
        let lang = pow_core::messages::request_language(&pow, config.messages());
        let current = pow.current.clone();
        let (step, checks) = request.start(&config, self.0, &pow.cookie, current.as_ref(), lang);
        let mut host = Host { step, pow };
        let ran = runner::run(
            &mut host,
            &request,
            checks,
            current.as_ref(),
            async |host: &mut Host| act(&mut host.step, &mut host.pow).await,
            |answer| !matches!(answer, Answer::Stop(_) | Answer::Text { .. }),
        )
        .await;
        let Host { step, pow } = host;
        let answered = match ran {
            Ok(PageEnd::Answer(answer)) => Ok(answer),
            Ok(PageEnd::Access(refusal)) => Ok(runner::access_answer(
                &config,
                &step.lang,
                &request,
                &pow.cookie,
                &refusal,
                pow.error_handler(),
                None,
            )),
            Ok(PageEnd::Ran(answer)) => {
                runner::answer(&step, &pow.cookie, pow.current.as_ref(), answer)
            }
            Err(err) => Err(err),
        };
        answered.unwrap_or_else(|err| {
            runner::error_answer(
                &config,
                &step.lang,
                &request,
                &pow.cookie,
                pow.current.as_ref(),
                &err,
            )
        })
    }
}

/// `page` rendered for the client of `pow`: `200`, HTML, [`PAGE_HEADERS`].
///
/// # Errors
/// The views' error, or an unregistered page.
pub fn page_response(
    pow: &Pow,
    lang: &pow_core::messages::LanguageIdentifier,
    page: Page,
) -> Result<Response, PowError> {
    runner::page_answer(&pow.config, lang, page, &pow.cookie, pow.current.as_ref())
        .map(crate::api::response)
}

/// The headers every pow-rs page carries, for pages of your own in the same style: no
/// framing by other sites (clickjacking), in the old and the CSP form, and no
/// content-type sniffing (pow-actix's function of the same name).
pub fn page_security_headers() -> impl Iterator<Item = (HeaderName, HeaderValue)> {
    PAGE_HEADERS
        .into_iter()
        .filter(|(name, _)| *name != "cache-control")
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            )
        })
}

/// `Cache-Control: no-store`, for a page that shows who is signed in.
pub fn no_store() -> (HeaderName, HeaderValue) {
    (
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    )
}

/// A `302 Found` to `location`, never stored.
pub fn redirect(location: &str) -> Response {
    crate::api::response(HttpAnswer::redirect(location))
}

/// The axum side of an action the engine runs: its step and the request's [`Pow`].
struct Host {
    step: Step,
    pow: Pow,
}

impl runner::ActionHost for Host {
    fn step(&mut self) -> &mut Step {
        &mut self.step
    }

    fn split(&mut self) -> (&mut Step, &mut dyn Client) {
        (&mut self.step, &mut self.pow)
    }
}

/// The answer to an error outside an action (the unlock link): the translated `503`/`429`
/// page for a browser when it is one a visitor should see, else the error's opaque answer.
fn error_answer(pow: &Pow, parts: &Parts, err: &PowError) -> Response {
    let lang = pow_core::messages::request_language(pow, pow.config.messages());
    crate::api::response(runner::error_answer(
        &pow.config,
        &lang,
        &crate::facts::page_request(parts),
        &pow.cookie,
        pow.current.as_ref(),
        err,
    ))
}

/// The translated `503`/`429` page answering `err` to the request of `parts`, when its
/// client takes HTML and the error is one a visitor should see
/// ([`error_page`](pow_core::pages::error_page)), with `Retry-After`.
pub(crate) fn error_page_answer(
    parts: &Parts,
    config: &pow_core::PowConfig,
    cookie: &pow_core::session::CookieSession,
    current: Option<&pow_core::session::CurrentSession>,
    err: &PowError,
) -> Option<Response> {
    let facts = crate::facts::read(parts, config);
    let lang = pow_core::messages::request_language(&facts, config.messages());
    let accept = header_str(parts, header::ACCEPT.as_str());
    runner::error_page_answer(config, &lang, accept, cookie, current, err).map(crate::api::response)
}

/// Header `name` of the request, when it is text.
fn header_str<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The path and query of a `GET` request
/// ([`RouteContext::current_page`](pow_core::config::RouteContext::current_page)).
fn current_page(parts: &Parts) -> Option<&str> {
    (parts.method == Method::GET).then(|| match parts.uri.path_and_query() {
        Some(pq) => pq.as_str(),
        None => parts.uri.path(),
    })
}

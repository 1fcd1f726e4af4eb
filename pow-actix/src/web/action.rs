//! [`Action`]: the one pipeline every controller action runs through, core and
//! extensions alike.
//!
//! ```text
//! resolve the config -> guard (through the configured ErrorHandler) -> CSRF (posted forms)
//!   -> rate limits -> CAPTCHA (actions marked `captcha()`, when one is configured)
//!   -> before_process (each extension, in order; may halt) -> the action
//!   -> before_respond (each extension, in order; may halt) -> render the outcome
//! ```
//!
//! An action is its own logic and nothing else:
//!
//! ```
//! use actix_web::{web, HttpRequest, HttpResponse};
//! use pow_actix::web::{Action, ActionId, ActionKind, FormData, Outcome};
//! use pow_actix::PowError;
//!
//! const PING: ActionId = ActionId::new("ping", "create", ActionKind::Other);
//!
//! async fn ping(req: HttpRequest, body: web::Bytes) -> pow_actix::Result<HttpResponse> {
//!     Action::new(PING)
//!         .signed_in()
//!         .form(FormData::parse(&body))
//!         .run(&req, async |ctl| {
//!             let name = ctl.signed_in()?.email().unwrap_or_default().to_owned();
//!             Ok(Outcome::Respond(HttpResponse::Ok().body(format!("pong, {name}"))))
//!         })
//!         .await
//! }
//! ```

use actix_web::{HttpRequest, HttpResponse};
use pow_core::framework::page::{self as runner, PageAction, PageEnd};

use super::callbacks::{ActionId, Controller};
use super::controllers::route_config;
use super::params::FormData;
use crate::config::PowConfig;
use crate::error::{PowError, PowResult};
use crate::pipeline::{Refusal, Requirements};
use crate::session::facts::page_request;
use crate::session::guard::{refused, respond};
use crate::session::{self, CookieSessionExt as _};
use crate::users::Params;

pub use crate::pipeline::Access;

/// Renders a response from the controller's final state (after `before_respond`).
pub type Render = Box<dyn FnOnce(&Controller) -> PowResult<HttpResponse>>;

/// What an action came to.
pub enum Outcome {
    /// Run `before_respond`, then answer this (unless a callback halted).
    Respond(HttpResponse),
    /// Run `before_respond`, then render with the controller's final state (a form page
    /// showing the changeset's errors, say).
    Render(Render),
    /// Answer this at once: the action stopped before doing anything callbacks react to
    /// (an invalid token, a refused permission, a failure already reported).
    Stop(HttpResponse),
}

impl Outcome {
    /// [`Outcome::Render`] of `render`.
    pub fn render(render: impl FnOnce(&Controller) -> PowResult<HttpResponse> + 'static) -> Self {
        Self::Render(Box::new(render))
    }

    /// [`Outcome::Respond`] with a `302` redirect to `location`.
    pub fn redirect(location: &str) -> Self {
        Self::Respond(super::redirect(location))
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Respond(res) => f.debug_tuple("Respond").field(&res.status()).finish(),
            Self::Render(_) => f.write_str("Render"),
            Self::Stop(res) => f.debug_tuple("Stop").field(&res.status()).finish(),
        }
    }
}

pub use crate::pipeline::Format;

/// One controller action on its way through the pipeline: resolve the config, guard,
/// CSRF, `before_process`, the action, `before_respond`, render.
#[derive(Debug)]
pub struct Action {
    id: ActionId,
    requirements: Requirements,
    form: Option<FormData>,
    params: Option<Params>,
    format: Format,
    config: Option<PowConfig>,
}

impl Action {
    /// The action `id`, open to anyone, without a form.
    pub fn new(id: ActionId) -> Self {
        Self {
            id,
            requirements: Requirements::default(),
            form: None,
            params: None,
            format: Format::Html,
            config: None,
        }
    }

    /// A JSON action ([`Format::Json`]): callbacks see [`Step::format`](crate::pipeline::Step::format), and errors
    /// are the caller's type (an API error, say).
    pub fn json(mut self) -> Self {
        self.format = Format::Json;
        self
    }

    /// Serves the action with `config` instead of the route's setup (for routes that carry
    /// their setup themselves, as the API's do).
    pub fn config(mut self, config: PowConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Sets who may run it.
    pub fn access(mut self, access: Access) -> Self {
        self.requirements.access = access;
        self
    }

    /// Changes the rules with one of [`Requirements`]' builders.
    fn rules(mut self, change: impl FnOnce(Requirements) -> Requirements) -> Self {
        self.requirements = change(std::mem::take(&mut self.requirements));
        self
    }

    pow_core::rule_builders!();

    /// A posted form: its CSRF token is checked (a `403` otherwise) and its `user[...]`
    /// fields become the controller's params.
    pub fn form(mut self, form: FormData) -> Self {
        self.form = Some(form);
        self
    }

    /// Sets every rule at once, as an engine route declares them
    /// ([`PageRoute::requirements`](pow_core::pages::routes::PageRoute)).
    pub fn requirements(mut self, requirements: Requirements) -> Self {
        self.requirements = requirements;
        self
    }

    /// Params that arrived another way than a posted form (a JSON body): no CSRF check.
    pub fn params(mut self, params: Params) -> Self {
        self.params = Some(params);
        self
    }

    /// Runs the pipeline around `act`.
    ///
    /// # Errors
    /// [`PowError::Config`] when the route has no setup; any error of a callback or the
    /// action, as `E`.
    ///
    /// The whole run is a `tracing` span `pow.action` with the action id and, once known,
    /// the user id, for an app's tracing (OpenTelemetry) exporter.
    pub async fn run<E: From<PowError>>(
        self,
        req: &HttpRequest,
        act: impl AsyncFnOnce(&mut Controller) -> Result<Outcome, E>,
    ) -> Result<HttpResponse, E> {
        use tracing::Instrument as _;
        let span = tracing::info_span!(
            "pow.action",
            action = %self.id,
            user_id = tracing::field::Empty
        );
        self.run_traced(req, act).instrument(span).await
    }

    async fn run_traced<E: From<PowError>>(
        self,
        req: &HttpRequest,
        act: impl AsyncFnOnce(&mut Controller) -> Result<Outcome, E>,
    ) -> Result<HttpResponse, E> {
        let config = match self.config {
            Some(config) => config,
            None => route_config(req)?,
        };
        let request = page_request(req);
        let cookie = req.cookie_session();
        let current = session::current_session(req);
        let lang = crate::messages::request_language(
            &crate::web::ActixRequest(req).facts(),
            config.messages(),
        );
        let action = PageAction {
            id: self.id,
            requirements: self.requirements,
            form: self.form,
            params: self.params.unwrap_or_default(),
            format: self.format,
        };
        let (step, checks) = request.start(&config, action, &cookie, current.as_ref(), lang);
        let mut ctl = Controller {
            req: req.clone(),
            step,
        };
        let mut host = Host {
            ctl: &mut ctl,
            client: None,
        };
        let end = runner::run(
            &mut host,
            &request,
            checks,
            current.as_ref(),
            async |host: &mut Host<'_>| {
                // What the phases before wrote is in the request the action reads.
                host.client = None;
                act(&mut *host.ctl).await
            },
            |outcome| !matches!(outcome, Outcome::Stop(_)),
        )
        .await?;
        // The last phase's client writes back into the request before anything renders.
        drop(host);
        match end {
            PageEnd::Answer(answer) => Ok(respond(answer)),
            PageEnd::Access(refusal) => Ok(access_refused(req, &refusal)),
            PageEnd::Ran(Outcome::Stop(res) | Outcome::Respond(res)) => Ok(res),
            PageEnd::Ran(Outcome::Render(render)) => Ok(render(&ctl)?),
        }
    }
}

/// The answer to a client an action's access rule refused: the route's
/// [`ErrorHandler`](crate::session::ErrorHandler) (the engine's answer by default).
fn access_refused(req: &HttpRequest, refusal: &Refusal) -> HttpResponse {
    refused(req, None, refusal)
}

/// The actix-web side of an action the engine runs: the controller, and the client of the
/// phase under way (written back into the request when the next phase starts, and when
/// the run ends).
struct Host<'c> {
    ctl: &'c mut Controller,
    client: Option<crate::session::InRequest<crate::session::CookieSessionHandle>>,
}

impl runner::ActionHost for Host<'_> {
    fn step(&mut self) -> &mut crate::pipeline::Step {
        &mut self.ctl.step
    }

    fn split(&mut self) -> (&mut crate::pipeline::Step, &mut dyn crate::pipeline::Client) {
        // The last phase's client writes back first.
        self.client = None;
        let client = self
            .client
            .insert(crate::session::CookieSessionHandle::client(
                &self.ctl.req,
                &self.ctl.step.config,
                self.ctl.step.format,
            ));
        (&mut self.ctl.step, &mut **client)
    }
}

//! The state every controller action shares with extension callbacks: [`Controller`],
//! typed [`ActionId`]s, typed per-request [`Assigns`], and the [`Flow`] a callback decides.
//!
//! Actions run through [`Action`](super::Action), over the engine's runner
//! ([`framework::page::run`](pow_core::framework::page::run)), which calls each enabled extension's
//! `before_process` and `before_respond` in config order; the first one that halts wins.

use crate::session::facts::request_path_param;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::config::PowConfig;
use crate::pipeline::Step;
use crate::users::Params;

pub use crate::pipeline::{ActionId, ActionKind, Assigns, Flow, Halt};

/// The state of one controller action, shared with extension callbacks. It owns what it
/// holds (requests and configs are cheap to clone).
pub struct Controller {
    /// The request.
    pub req: HttpRequest,
    /// The engine's state of the action: the config, params, users, assigns, the format
    /// (the controller derefs to it: `ctl.config`, `ctl.params`, `ctl.user`).
    pub step: Step,
}

impl std::ops::Deref for Controller {
    type Target = Step;

    fn deref(&self) -> &Step {
        &self.step
    }
}

impl std::ops::DerefMut for Controller {
    fn deref_mut(&mut self) -> &mut Step {
        &mut self.step
    }
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("id", &self.step.id)
            .field("path", &self.req.path())
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A new controller state for `id`.
    pub fn new(req: &HttpRequest, config: &PowConfig, id: ActionId, params: Params) -> Self {
        let lang = crate::messages::request_language(
            &crate::web::ActixRequest(req).facts(),
            config.messages(),
        );
        let mut step = Step::new(config, id, params, lang);
        step.request_path = request_path_param(req);
        step.current_page = crate::session::facts::current_page(req).map(str::to_owned);
        Self {
            req: req.clone(),
            step,
        }
    }
}

/// The answer of a callback that halted an action answering `format` (the engine's
/// [`halted`](pow_core::framework::page::halted)).
pub fn halted(halt: Halt, format: crate::pipeline::Format) -> HttpResponse {
    crate::session::guard::respond(pow_core::framework::page::halted(halt, format))
}

/// A `302 Found` redirect to `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

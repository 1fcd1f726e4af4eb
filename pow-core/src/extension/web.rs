//! The actix side of the extension contract: routes, controller callbacks, request hooks
//! and the JSON side.

use std::sync::Arc;

use actix_web::web::ServiceConfig;
use actix_web::HttpRequest;
use async_trait::async_trait;

use super::{ExtensionBuilder, Extensions};
use crate::api::ApiExtension;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::session::AuthMethod;
use crate::web::{Controller, Flow};

/// Registers the actix routes of an extension (see [`ExtensionBuilder::routes`]).
pub type RoutesFn = dyn Fn(&mut ServiceConfig, &PowConfig) + Send + Sync;

/// Controller callbacks: they see a [`Controller`] with the request, the params, and
/// after the action the user or the failed changeset, and may halt with their own
/// response. Core controllers run them for `session#new|create|delete` and
/// `registration#new|create|edit|update|delete`; extension controllers run them for their
/// own actions (e.g. `invitation#update`), so extensions hook into each other through
/// these documented names only.
///
/// The hooks receive the request (`HttpRequest` is neither `Send` nor `Sync`), so their
/// futures are not `Send`: implement the trait with `#[async_trait::async_trait(?Send)]`.
#[async_trait(?Send)]
pub trait Callbacks: Send + Sync + 'static {
    /// Runs before a controller action.
    async fn before_process(&self, _ctl: &mut Controller) -> Result<Flow, PowError> {
        Ok(Flow::Continue)
    }

    /// Runs after a controller action, before the response.
    async fn before_respond(&self, _ctl: &mut Controller) -> Result<Flow, PowError> {
        Ok(Flow::Continue)
    }
}

/// Work on requests after the session middleware resolved the session, with or without a
/// signed-in user (e.g. signing a user in from a remember-me cookie). It runs on requests
/// that carry one of its [`cookies`](RequestHook::cookies), so a request with no cookie
/// of interest costs nothing.
#[async_trait(?Send)]
pub trait RequestHook: Send + Sync + 'static {
    /// The names of the cookies the hook reads, under `config`. Read once, when the
    /// middleware is set up.
    fn cookies(&self, config: &PowConfig) -> Vec<String>;

    /// Runs on a request that carries one of [`cookies`](Self::cookies).
    async fn on_request(&self, req: &HttpRequest, config: &PowConfig) -> Result<(), PowError>;
}

/// The path of a page that performs a step-up method (see
/// [`ExtensionBuilder::step_up_page`]).
pub type StepUpPathFn = dyn Fn(&PowConfig) -> String + Send + Sync;

/// What an extension registered for the actix layer.
#[derive(Clone, Default)]
pub(crate) struct WebParts {
    pub(crate) routes: Vec<Arc<RoutesFn>>,
    pub(crate) callbacks: Vec<Arc<dyn Callbacks>>,
    pub(crate) request_hooks: Vec<Arc<dyn RequestHook>>,
    pub(crate) api: Vec<Arc<dyn ApiExtension>>,
    pub(crate) step_up_pages: Vec<(AuthMethod, Arc<StepUpPathFn>)>,
}

impl WebParts {
    /// Adds `other`'s registrations after these.
    pub(crate) fn extend(&mut self, other: &WebParts) {
        self.routes.extend(other.routes.iter().cloned());
        self.callbacks.extend(other.callbacks.iter().cloned());
        self.request_hooks
            .extend(other.request_hooks.iter().cloned());
        self.api.extend(other.api.iter().cloned());
        self.step_up_pages
            .extend(other.step_up_pages.iter().cloned());
    }
}

impl ExtensionBuilder {
    /// Registers the extension's routes; called by [`crate::web::configure`].
    pub fn routes(
        &mut self,
        routes: impl Fn(&mut ServiceConfig, &PowConfig) + Send + Sync + 'static,
    ) -> &mut Self {
        self.contributions.web.routes.push(Arc::new(routes));
        self
    }

    /// Controller callbacks (see [`Callbacks`]).
    pub fn callbacks(&mut self, callbacks: impl Callbacks) -> &mut Self {
        self.contributions.web.callbacks.push(Arc::new(callbacks));
        self
    }

    /// Work on requests carrying the hook's cookies (see [`RequestHook`]).
    pub fn request_hook(&mut self, hook: impl RequestHook) -> &mut Self {
        self.contributions.web.request_hooks.push(Arc::new(hook));
        self
    }

    /// A page where a signed-in user proves `method` for a [`StepUp`](crate::session::StepUp)
    /// rule (a TOTP code, a passkey). A browser refused by a rule accepting `method` is
    /// sent to `path(config)` with `?request_path=` the page it came from; the page
    /// records the method ([`record_method`](crate::session::record_method)) and returns
    /// there. The password's page is the core's confirmation page.
    pub fn step_up_page(
        &mut self,
        method: AuthMethod,
        path: impl Fn(&PowConfig) -> String + Send + Sync + 'static,
    ) -> &mut Self {
        self.contributions
            .web
            .step_up_pages
            .push((method, Arc::new(path)));
        self
    }

    /// The extension's JSON side: enabling the extension in the config enables it for the
    /// API ([`crate::api::configure`]) too.
    pub fn api(&mut self, api: impl ApiExtension) -> &mut Self {
        self.contributions.web.api.push(Arc::new(api));
        self
    }
}

impl Extensions {
    /// The controller callbacks, in extension order.
    pub fn callbacks(&self) -> &[Arc<dyn Callbacks>] {
        &self.web.callbacks
    }

    /// The request hooks, in extension order.
    pub fn request_hooks(&self) -> &[Arc<dyn RequestHook>] {
        &self.web.request_hooks
    }

    /// The route registrations, in extension order.
    pub fn routes(&self) -> &[Arc<RoutesFn>] {
        &self.web.routes
    }

    /// The JSON sides, in extension order.
    pub fn api(&self) -> &[Arc<dyn ApiExtension>] {
        &self.web.api
    }

    /// The page performing `method` for step-up rules, if an extension has one (see
    /// [`ExtensionBuilder::step_up_page`]).
    pub fn step_up_page(&self, method: AuthMethod, config: &PowConfig) -> Option<String> {
        self.web
            .step_up_pages
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, path)| path(config))
    }
}

//! [`RequireStepUp`]: routes that ask for a method proved recently (the password again
//! for sudo mode, a second factor), answered as the actix-web layer's guard of the same
//! name answers.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures_util::future::FutureExt as _;
use pow_core::framework::page::step_up_answer;
use pow_core::session::StepUp;

use crate::extract::{not_authenticated, wants_json, PowRejection, RequestState, StateInner};
use crate::service::{Answer, Route, Wrap, Wrapped};

/// A tower layer for routes that need a [`StepUp`] rule met: a method proved within the
/// rule's window (the password for sudo mode, a second factor, a passkey). Put it on the
/// routes, inside [`PowLayer`](crate::PowLayer):
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use pow_axum::session::{AuthMethod, StepUp};
/// use pow_axum::{PowLayer, RequireStepUp};
///
/// let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let sudo = StepUp::any_of([AuthMethod::PASSWORD], Duration::from_secs(600));
/// let app: Router = Router::new()
///     .route("/payouts", get(|| async { "payouts" }))
///     .route_layer(RequireStepUp::new(sudo))
///     .layer(PowLayer::new(config));
/// ```
///
/// It answers as pow-actix's `RequireStepUp`:
/// - nobody signed in: as [`CurrentUser`](crate::CurrentUser) refuses;
/// - support access: `403` (the translated reason as text; JSON: `impersonation_forbidden`);
/// - a rule not met: a page is sent to the first accepted method's page (the password's
///   confirmation page, an extension's step-up page) with `?request_path=` back to where
///   it came from; a JSON client gets `401` with the code `step_up_required` and the
///   accepted methods as a pending step.
#[derive(Clone, Debug)]
pub struct RequireStepUp {
    rule: Arc<StepUp>,
}

impl RequireStepUp {
    /// The guard of `rule`.
    pub fn new(rule: StepUp) -> Self {
        Self {
            rule: Arc::new(rule),
        }
    }
}

impl<S> tower_layer::Layer<S> for RequireStepUp {
    type Service = StepUpService<S>;

    fn layer(&self, route: S) -> StepUpService<S> {
        Wrapped::new(route, self.clone())
    }
}

/// The service [`RequireStepUp`] wraps a route in.
pub type StepUpService<S> = Wrapped<S, RequireStepUp>;

impl Wrap for RequireStepUp {
    fn wrap(&self, req: Request, mut inner: impl Route) -> Answer {
        let (parts, body) = req.into_parts();
        if let Some(answer) = refusal_answer(&parts, &self.rule) {
            return std::future::ready(Ok(answer)).boxed();
        }
        let req = Request::from_parts(parts, body);
        async move { Ok(inner.call(req).await?.into_response()) }.boxed()
    }
}

/// The answer to a request that does not meet `rule`, or `None` to let it through.
fn refusal_answer(parts: &Parts, rule: &StepUp) -> Option<Response> {
    let Some(state) = parts.extensions.get::<RequestState>() else {
        return Some(PowRejection::MissingLayer("RequireStepUp").into_response());
    };
    let state: &StateInner = &state.0;
    let config = &state.config;
    let Some(current) = &state.current else {
        return Some(not_authenticated(parts, state));
    };
    step_up_answer(config, current, rule, || {
        let facts = crate::facts::read(parts, config);
        let lang = pow_core::messages::request_language(&facts, config.messages());
        // A bearer token's client is answered JSON whatever it accepts, as on actix-web.
        let json = wants_json(parts) || state.bearer.is_some();
        (crate::facts::page_request(parts), lang, json)
    })
    .map(crate::api::response)
}

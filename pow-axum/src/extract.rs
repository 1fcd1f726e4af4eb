//! Extractors: who is signed in, the cookie session and the setup of a request behind
//! [`PowLayer`](crate::PowLayer).

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pow_core::config::RouteContext;
use pow_core::request::RequestFacts;
use pow_core::session::{flash, CookieSession, CurrentSession};
use pow_core::users::User;
use pow_core::PowConfig;

/// Why an extractor refused a request.
#[derive(Debug)]
pub enum PowRejection {
    /// The route is not behind [`PowLayer`](crate::PowLayer): a mistake in the app's
    /// setup, answered `500` with a text that says so (and logged).
    MissingLayer(&'static str),
    /// A signed-in user is required: `401` with the API's error envelope for JSON
    /// requests, a redirect to the sign-in page (with the setup's flash message) for the
    /// others; both `Cache-Control: no-store`.
    NotAuthenticated(Response),
}

impl IntoResponse for PowRejection {
    fn into_response(self) -> Response {
        match self {
            Self::MissingLayer(extractor) => {
                let text = format!(
                    "pow-axum: `{extractor}` was used on a route that is not behind `PowLayer`; \
                     add `.layer(PowLayer::new(config))` to the router after this route"
                );
                tracing::error!("{text}");
                (StatusCode::INTERNAL_SERVER_ERROR, text).into_response()
            }
            Self::NotAuthenticated(res) => res,
        }
    }
}

/// The setup of the [`PowLayer`](crate::PowLayer) serving `parts`.
fn config_of(parts: &Parts, extractor: &'static str) -> Result<PowConfig, PowRejection> {
    parts
        .extensions
        .get::<PowConfig>()
        .cloned()
        .ok_or(PowRejection::MissingLayer(extractor))
}

/// The signed-in user; requests without one are refused (see
/// [`PowRejection::NotAuthenticated`]).
///
/// ```
/// use axum::{routing::get, Router};
/// use pow_axum::{CurrentUser, PowLayer};
///
/// let config = pow_axum::PowConfig::builder("s".repeat(64)).build().unwrap();
/// let app: Router = Router::new()
///     .route("/me", get(|CurrentUser(user): CurrentUser| async move { format!("user {}", user.id) }))
///     .layer(PowLayer::new(config));
/// ```
#[derive(Clone, Debug)]
pub struct CurrentUser(pub Arc<User>);

impl Deref for CurrentUser {
    type Target = User;

    fn deref(&self) -> &User {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = PowRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let config = config_of(parts, "CurrentUser")?;
        match parts.extensions.get::<CurrentSession>() {
            Some(current) => Ok(Self(Arc::clone(&current.user))),
            None => Err(PowRejection::NotAuthenticated(not_authenticated(
                parts, &config,
            ))),
        }
    }
}

/// The signed-in user, if there is one.
#[derive(Clone, Debug)]
pub struct MaybeUser(pub Option<Arc<User>>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = PowRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        config_of(parts, "MaybeUser")?;
        Ok(Self(
            parts
                .extensions
                .get::<CurrentSession>()
                .map(|current| Arc::clone(&current.user)),
        ))
    }
}

/// The request's session as the engine knows it: the setup, the signed-in session (if
/// any), the request's facts and its cookie session. What a handler hands the engine's
/// flows.
#[derive(Clone, Debug)]
pub struct Pow {
    /// The setup of the layer serving the request.
    pub config: PowConfig,
    /// The signed-in session, if any.
    pub current: Option<CurrentSession>,
    /// The request's facts, read once by the layer.
    pub facts: RequestFacts,
    /// The cookie session (flash texts, the CSRF secret, a sign-in under way).
    pub cookie: CookieSession,
}

impl<S: Send + Sync> FromRequestParts<S> for Pow {
    type Rejection = PowRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let config = config_of(parts, "Pow")?;
        let extensions = &parts.extensions;
        Ok(Self {
            config,
            current: extensions.get::<CurrentSession>().cloned(),
            facts: extensions
                .get::<RequestFacts>()
                .cloned()
                .unwrap_or_default(),
            cookie: extensions
                .get::<CookieSession>()
                .cloned()
                .ok_or(PowRejection::MissingLayer("Pow"))?,
        })
    }
}

/// Whether the request asks for JSON (`Accept` or `Content-Type` naming JSON), as the
/// actix-web layer decides it.
pub fn wants_json(parts: &Parts) -> bool {
    let names_json = |value: Option<&HeaderValue>| {
        value
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json") || v.contains("+json"))
    };
    names_json(parts.headers.get(header::ACCEPT))
        || names_json(parts.headers.get(header::CONTENT_TYPE))
}

/// The answer when a signed-in user is required (see [`PowRejection::NotAuthenticated`]).
fn not_authenticated(parts: &Parts, config: &PowConfig) -> Response {
    let no_store = (header::CACHE_CONTROL, "no-store");
    if wants_json(parts) {
        let body = serde_json::json!({
            "status": 401,
            "errors": [{ "code": "not_authenticated", "message": "Not authenticated" }],
        });
        return (StatusCode::UNAUTHORIZED, [no_store], axum::Json(body)).into_response();
    }
    if let (Some(session), Some(facts)) = (
        parts.extensions.get::<CookieSession>(),
        parts.extensions.get::<RequestFacts>(),
    ) {
        let lang = pow_core::messages::request_language(facts, config.messages());
        flash::put_error(session, config.messages().user_not_authenticated(&lang));
    }
    let current_page = (parts.method == Method::GET).then(|| match parts.uri.path_and_query() {
        Some(pq) => pq.as_str(),
        None => parts.uri.path(),
    });
    let location = config.routes().user_not_authenticated_path(&RouteContext {
        current_page,
        mount: config.mount_path(),
        request_path: None,
    });
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.as_str()), no_store],
    )
        .into_response()
}

//! The controller pipeline: `before_process` → action → `before_respond`, with each enabled
//! extension's callbacks run in config order; the first one that halts wins.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use super::routes::RouteContext;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::users::{Changeset, Params, User};

/// What a callback decides.
#[derive(Debug)]
pub enum Flow {
    /// Go on with the next callback and the action.
    Continue,
    /// Stop here and answer with this response.
    Halt(HttpResponse),
}

/// The state of one controller action, shared with extension callbacks.
pub struct Controller<'a> {
    /// The request.
    pub req: &'a HttpRequest,
    /// The setup serving it.
    pub config: &'a PowConfig,
    /// Controller name: `"session"`, `"registration"`, or an extension's (`"invitation"`).
    pub controller: &'static str,
    /// Action name: `"new"`, `"create"`, `"edit"`, `"update"`, `"delete"`, ...
    pub action: &'static str,
    /// The submitted `user[...]` params.
    pub params: Params,
    /// The language of the response.
    pub lang: LanguageIdentifier,
    /// After the action: the signed-in, created or updated user.
    pub user: Option<User>,
    /// After a failed action: the changeset with its errors.
    pub changeset: Option<Changeset>,
    /// The validated local path to return to after sign-in, if any.
    pub request_path: Option<String>,
    /// Scratch values callbacks pass between `before_process` and `before_respond`.
    pub assigns: BTreeMap<String, serde_json::Value>,
}

impl<'a> Controller<'a> {
    /// A new controller state.
    pub fn new(
        req: &'a HttpRequest,
        config: &'a PowConfig,
        controller: &'static str,
        action: &'static str,
        params: Params,
    ) -> Self {
        let lang = crate::messages::request_language(req, config.messages());
        let request_path = request_path_param(req);
        Self {
            req,
            config,
            controller,
            action,
            params,
            lang,
            user: None,
            changeset: None,
            request_path,
            assigns: BTreeMap::new(),
        }
    }

    /// Whether this is `controller#action`.
    pub fn is(&self, controller: &str, action: &str) -> bool {
        self.controller == controller && self.action == action
    }

    /// The context the routes backend needs.
    pub fn routes_ctx(&self) -> RouteContext<'_> {
        RouteContext {
            req: self.req,
            mount: self.config.mount_path(),
            request_path: self.request_path.as_deref(),
        }
    }

    /// Runs every extension's `before_process`; `Some(response)` if one halted.
    pub async fn before_process(&mut self) -> Result<Option<HttpResponse>, PowError> {
        let config = self.config.clone();
        for ext in config.extensions().iter() {
            if let Flow::Halt(res) = ext.before_process(self).await? {
                return Ok(Some(res));
            }
        }
        Ok(None)
    }

    /// Runs every extension's `before_respond`; `Some(response)` if one halted.
    pub async fn before_respond(&mut self) -> Result<Option<HttpResponse>, PowError> {
        let config = self.config.clone();
        for ext in config.extensions().iter() {
            if let Flow::Halt(res) = ext.before_respond(self).await? {
                return Ok(Some(res));
            }
        }
        Ok(None)
    }
}

/// The `request_path` query parameter, if it is a local path.
pub fn request_path_param(req: &HttpRequest) -> Option<String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    pairs
        .into_iter()
        .find(|(k, _)| k == "request_path")
        .map(|(_, v)| v)
        .filter(|v| super::params::local_path(v).is_some())
}

/// A `302 Found` redirect to `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

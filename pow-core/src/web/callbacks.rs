//! The state every controller action shares with extension callbacks: [`Controller`],
//! typed [`ActionId`]s, typed per-request [`Assigns`], and the [`Flow`] a callback decides.
//!
//! Actions run through [`Action`](super::Action), which calls each enabled extension's
//! `before_process` and `before_respond` in config order; the first one that halts wins.

use actix_web::dev::Extensions;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use super::action::Format;
use crate::config::PowConfig;
use crate::config::RouteContext;
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

/// What an action does, in terms other extensions can hook into without naming the crate
/// that defines the action (email confirmation treats every [`SignIn`](Self::SignIn) alike,
/// whichever controller signs the user in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionKind {
    /// Shows a page or form; changes nothing.
    Show,
    /// Signs a user in.
    SignIn,
    /// Signs the current user out.
    SignOut,
    /// Creates a user from submitted params.
    SignUp,
    /// A user created beforehand (invited, say) sets a password and completes the sign-up;
    /// the user's fields (the email, too) may change.
    CompleteSignUp,
    /// Changes the signed-in user's fields (email, password, ...).
    UpdateUser,
    /// Deletes the signed-in user.
    DeleteUser,
    /// The signed-in user proves the password again (sudo mode's confirmation). Runs
    /// through the same rate limits, failure counters and lock as a sign-in; sets
    /// [`Controller::user`] when the password was right.
    Reauthenticate,
    /// Anything else (sending a mail, confirming a token, ...).
    Other,
}

/// A typed controller action id: the controller, the action and what it does.
///
/// Core actions are the constants in [`actions`](super::actions); each extension crate
/// exports its own. Compare ids with `==`, or hook into every action of a kind with
/// [`kind`](Self::kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActionId {
    controller: &'static str,
    action: &'static str,
    kind: ActionKind,
}

impl ActionId {
    /// An action id, e.g. `ActionId::new("invitation", "update", ActionKind::CompleteSignUp)`.
    pub const fn new(controller: &'static str, action: &'static str, kind: ActionKind) -> Self {
        Self {
            controller,
            action,
            kind,
        }
    }

    /// The controller name (`"session"`, `"registration"`, `"invitation"`, ...).
    pub const fn controller(&self) -> &'static str {
        self.controller
    }

    /// The action name (`"new"`, `"create"`, `"update"`, ...).
    pub const fn action(&self) -> &'static str {
        self.action
    }

    /// What the action does.
    pub const fn kind(&self) -> ActionKind {
        self.kind
    }
}

impl std::fmt::Display for ActionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.controller, self.action)
    }
}

/// Typed values callbacks pass between `before_process` and `before_respond` of one
/// action: one value per type, so each extension keys its state by a private type.
///
/// ```
/// use pow_core::web::Assigns;
///
/// struct Remember(bool);
/// let mut assigns = Assigns::default();
/// assigns.insert(Remember(true));
/// assert!(assigns.get::<Remember>().is_some_and(|r| r.0));
/// ```
#[derive(Default)]
pub struct Assigns(Extensions);

impl Assigns {
    /// Stores `value`, replacing and returning one of the same type.
    pub fn insert<T: 'static>(&mut self, value: T) -> Option<T> {
        self.0.insert(value)
    }

    /// The value of type `T`, if any.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.get::<T>()
    }

    /// Removes and returns the value of type `T`, if any.
    pub fn remove<T: 'static>(&mut self) -> Option<T> {
        self.0.remove::<T>()
    }
}

impl std::fmt::Debug for Assigns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assigns").finish_non_exhaustive()
    }
}

/// The state of one controller action, shared with extension callbacks. It owns what it
/// holds (requests and configs are cheap to clone).
pub struct Controller {
    /// The request.
    pub req: HttpRequest,
    /// The setup serving it.
    pub config: PowConfig,
    /// Which action this is.
    pub id: ActionId,
    /// The submitted `user[...]` params.
    pub params: Params,
    /// The language of the response.
    pub lang: LanguageIdentifier,
    /// The user signed in when the action started (none on signed-out-only actions); see
    /// [`signed_in`](Self::signed_in).
    pub current_user: Option<User>,
    /// After the action: the signed-in, created or updated user.
    pub user: Option<User>,
    /// After a failed action: the changeset with its errors.
    pub changeset: Option<Changeset>,
    /// The validated local path to return to after sign-in, if any.
    pub request_path: Option<String>,
    /// Typed values callbacks pass between `before_process` and `before_respond`.
    pub assigns: Assigns,
    /// Whether the action answers HTML or JSON.
    pub format: Format,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("id", &self.id)
            .field("path", &self.req.path())
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A new controller state for `id`.
    pub fn new(req: &HttpRequest, config: &PowConfig, id: ActionId, params: Params) -> Self {
        let lang = crate::messages::request_language(req, config.messages());
        Self {
            req: req.clone(),
            config: config.clone(),
            id,
            params,
            lang,
            current_user: None,
            user: None,
            changeset: None,
            request_path: request_path_param(req),
            assigns: Assigns::default(),
            format: Format::Html,
        }
    }

    /// Whether the action answers JSON (an API endpoint). Callbacks that answer with pages,
    /// redirects or cookies leave JSON actions alone.
    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// Whether this is `controller#action`.
    pub fn is(&self, id: ActionId) -> bool {
        self.id == id
    }

    /// The context the routes backend needs.
    pub fn routes_ctx(&self) -> RouteContext<'_> {
        RouteContext {
            current_page: super::controllers::current_page(&self.req),
            mount: self.config.mount_path(),
            request_path: self.request_path.as_deref(),
        }
    }

    /// A message of the setup's messages backend in the response's language (`None` when
    /// the key is unknown or its text is empty).
    pub fn message(&self, key: &str) -> Option<String> {
        self.config.messages().message(&self.lang, key, &[])
    }

    /// A text of the setup's messages backend in the response's language (the key itself
    /// when unknown).
    pub fn text(&self, key: &str) -> String {
        self.config.messages().text(&self.lang, key)
    }

    /// Runs every extension's `before_process`; `Some(response)` if one halted.
    pub async fn before_process(&mut self) -> Result<Option<HttpResponse>, PowError> {
        let config = self.config.clone();
        for callbacks in config.extensions().callbacks() {
            if let Flow::Halt(res) = callbacks.before_process(self).await? {
                return Ok(Some(res));
            }
        }
        Ok(None)
    }

    /// Runs every extension's `before_respond`; `Some(response)` if one halted.
    pub async fn before_respond(&mut self) -> Result<Option<HttpResponse>, PowError> {
        let config = self.config.clone();
        for callbacks in config.extensions().callbacks() {
            if let Flow::Halt(res) = callbacks.before_respond(self).await? {
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
        .filter(|v| crate::config::local_path(v).is_some())
}

/// A `302 Found` redirect to `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

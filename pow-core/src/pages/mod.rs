//! Pages without a web framework: the page a controller answers ([`Page`]), the fields and
//! forms it is built of, how it renders through the setup's views ([`render`]), and the
//! core's own controllers ([`core`]) as the engine half of an action, answering an
//! [`Answer`]. A framework layer turns an answer into its response: a `302` for
//! [`Answer::Redirect`], the rendered page with [`PAGE_HEADERS`] for [`Answer::Render`].
//!
//! ```
//! use pow_core::pages::{form, render, Page};
//! use pow_core::session::CookieSession;
//! use pow_core::views::{Link, PageBody, PageId};
//!
//! let config = pow_core::PowConfig::builder("s".repeat(64)).build()?;
//! let cookie = CookieSession::default();
//! let lang = config.messages().languages()[0].clone();
//! let body = PageBody::Form {
//!     form: form(&cookie, "/session".into(), None, Vec::new(), "Sign in".into()),
//!     links: vec![Link::new("/registration/new", "Register")],
//!     extra_forms: Vec::new(),
//! };
//! let html = render(&config, &lang, Page::new(PageId::SESSION_NEW, "title-sign-in", body), &cookie, None)?;
//! assert!(html.contains("_csrf_token"));
//! # Ok::<(), pow_core::PowError>(())
//! ```

pub mod account;
pub mod core;
pub mod endpoints;
pub mod impersonation;
pub mod mailbox;
mod params;
pub mod routes;
pub(crate) mod runner;

pub use runner::{ErrorHandler, HttpAnswer, PageRequest};

use crate::config::{PowConfig, RouteContext};
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::pipeline::Step;
use crate::session::{csrf, flash, CookieSession, CurrentSession};
use crate::users::{Changeset, Params, User};
use std::collections::BTreeMap;

use crate::views::{Field, FieldType, Form, ImpersonationBanner, PageBody, PageContext, PageId};

/// A page to render.
pub struct Page {
    /// The page's registered id, e.g. [`PageId::SESSION_NEW`] (apps override pages by
    /// id).
    pub name: PageId,
    /// Message key of the page title, e.g. `"title-sign-in"`.
    pub title_key: &'static str,
    /// The page's content.
    pub body: PageBody,
    /// The page's own info text (what it is for, the state it shows): rendered under the
    /// info text an earlier request queued, which is shown too.
    pub info: Option<String>,
    /// Error text to show now.
    pub error: Option<String>,
    /// Whether the page's form carries the CAPTCHA widget (when the setup has a
    /// [CAPTCHA](crate::captcha)): the form posts to an action that checks it.
    pub captcha: bool,
    /// Same-origin scripts the page loads ([`PageContext::scripts`]).
    pub scripts: Vec<String>,
    /// Headers the page's answer carries besides [`PAGE_HEADERS`] (`Referrer-Policy:
    /// no-referrer` on a page whose URL holds a token, say).
    pub headers: Vec<(&'static str, &'static str)>,
    /// The answer's status: `200`, or another for a page that says no (`403` for a
    /// refused permission).
    pub status: u16,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
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
            headers: Vec::new(),
            status: 200,
        }
    }

    /// Answers the page with `status` instead of `200`.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds header `name` (lower-case) with `value` to the page's answer.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
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

/// The headers every pow-rs page carries, on every framework: no framing by other sites
/// (clickjacking), in the old and the CSP form, no content-type sniffing, and never
/// stored by a cache.
pub const PAGE_HEADERS: [(&str, &str); 4] = [
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-cache, no-store, must-revalidate"),
];

/// What a controller's action came to, for the framework layer to answer.
pub enum Answer {
    /// Run the extensions' `before_respond`, then redirect (`302`, `no-store`) here.
    Redirect(String),
    /// Run `before_respond`, then render the page this builds from the step's final state
    /// and the client's cookie session (a form showing the changeset's errors, say).
    Render(BuildPage),
    /// Redirect here at once, without `before_respond`: the action did nothing callbacks
    /// react to (a failure already reported in the flash).
    Stop(String),
    /// Run `before_respond`, then answer a file to save rather than a page (an account's
    /// data export): `200`, `content_type`, `Content-Disposition: attachment` with
    /// `filename`, never stored.
    Download {
        /// The file's media type (`application/json`).
        content_type: &'static str,
        /// The name a browser saves it under.
        filename: String,
        /// The file.
        body: Vec<u8>,
    },
    /// Run `before_respond`, then answer JSON (to a client that asked for it,
    /// [`WantsJson`](routes::WantsJson)): `status`, `headers` (the API's
    /// `Cache-Control: no-store` among them) and `body`, with `Content-Type:
    /// application/json`.
    Json {
        /// The status.
        status: u16,
        /// The headers besides the content type.
        headers: Vec<(&'static str, String)>,
        /// The body.
        body: serde_json::Value,
    },
    /// Answer `text` at once as plain text with `status`, never stored (a refusal).
    Text {
        /// The status.
        status: u16,
        /// The text.
        text: String,
    },
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redirect(path) => f.debug_tuple("Redirect").field(path).finish(),
            Self::Render(_) => f.write_str("Render"),
            Self::Stop(path) => f.debug_tuple("Stop").field(path).finish(),
            Self::Download { filename, .. } => f
                .debug_struct("Download")
                .field("filename", filename)
                .finish(),
            Self::Json { status, .. } => f.debug_struct("Json").field("status", status).finish(),
            Self::Text { status, .. } => f.debug_struct("Text").field("status", status).finish(),
        }
    }
}

/// Builds a page from an action's final step and the client's cookie session (for the
/// forms' CSRF tokens): see [`Answer::Render`].
pub type BuildPage = Box<dyn FnOnce(&Step, &CookieSession) -> Result<Page, PowError> + Send>;

impl Answer {
    /// The API's success envelope `{"status": status, "data": data}`, never stored.
    pub fn data(status: u16, data: serde_json::Value) -> Self {
        Self::Json {
            status,
            headers: vec![
                ("cache-control", "no-store".to_owned()),
                ("pragma", "no-cache".to_owned()),
            ],
            body: serde_json::json!({ "status": status, "data": data }),
        }
    }

    /// The API's error answer of `err` (translated already): its status, headers and
    /// envelope.
    pub fn api_error(err: &crate::api::ApiError) -> Self {
        Self::Json {
            status: err.status(),
            headers: err.headers(),
            body: err.body(),
        }
    }

    /// The `Content-Disposition` header of a [`Answer::Download`] named `filename` (quotes
    /// and line breaks dropped from the name).
    pub fn attachment(filename: &str) -> String {
        let safe: String = filename
            .chars()
            .filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n'))
            .collect();
        format!("attachment; filename=\"{safe}\"")
    }

    /// [`Answer::Render`] of `build`.
    pub fn render(
        build: impl FnOnce(&Step, &CookieSession) -> Result<Page, PowError> + Send + 'static,
    ) -> Self {
        Self::Render(Box::new(build))
    }
}

/// Renders `page` with the setup's views: the flash (the page's own, else the texts
/// queued in `cookie`, which are taken), a fresh CSRF token of `cookie`, the user signed in
/// with `current` and the support-access banner; extensions may add fields and links.
///
/// # Errors
/// [`PowError::Config`] when the page is not registered; the views' error.
pub fn render(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    mut page: Page,
    cookie: &CookieSession,
    current: Option<&CurrentSession>,
) -> Result<String, PowError> {
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
    let queued = flash::take(cookie);
    let current_user =
        current.and_then(|c| c.user.user_id(config.user_schema()).map(str::to_owned));
    let impersonation = current.filter(|c| c.metadata.is_impersonation()).map(|c| {
        let shown = c
            .user
            .user_id(config.user_schema())
            .unwrap_or_default()
            .to_owned();
        let messages = config.messages();
        let ctx = RouteContext {
            current_page: None,
            mount: config.mount_path(),
            request_path: None,
        };
        ImpersonationBanner {
            text: messages
                .message(lang, "impersonation-banner", &[("user", shown.into())])
                .unwrap_or_default(),
            stop_path: ctx.path("/impersonation/stop"),
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
        page_info: page.info.filter(|own| queued.info.as_ref() != Some(own)),
        flash_info: queued.info,
        flash_error: page.error.or(queued.error).or(form_errors),
        current_user,
        csrf_token: csrf::token(cookie),
        captcha: config
            .captcha()
            .filter(|_| page.captcha)
            .map(|captcha| captcha.widget().clone()),
        impersonation,
        scripts: page.scripts,
    };
    config.views().render(page.name, &ctx, &page.body)
}

/// Whether the page's main form has field errors.
fn main_form_has_errors(body: &PageBody) -> bool {
    match body {
        PageBody::Form { form, .. } | PageBody::Figure { form, .. } => form.has_errors(),
        PageBody::Text { .. } => false,
    }
}

/// A POST form with a fresh CSRF token of `cookie` (`method_override` becomes a `_method`
/// field).
pub fn form(
    cookie: &CookieSession,
    action: String,
    method_override: Option<&'static str>,
    fields: Vec<Field>,
    submit: String,
) -> Form {
    Form {
        action,
        method: "post",
        method_override,
        fields,
        submit,
        csrf_token: csrf::token(cookie),
    }
}

/// Builds a form field for `user[name]`, labelled `label-<name>` (or, without that
/// message, the humanised name: `date_of_birth` is "Date of birth") and carrying the
/// changeset's translated errors for it.
pub fn field(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    name: &str,
    kind: FieldType,
    value: Option<&str>,
    changeset: Option<&Changeset>,
) -> Field {
    let errors = changeset
        .map(|cs| {
            cs.errors
                .get(name)
                .iter()
                .map(|e| config.messages().validation_error(lang, name, e))
                .collect()
        })
        .unwrap_or_default();
    let autocomplete = match (name, kind) {
        ("current_password", _) => Some("current-password"),
        (_, FieldType::Password) => Some("new-password"),
        ("email", _) => Some("email"),
        ("username", _) => Some("username"),
        _ => None,
    };
    Field {
        name: name.to_owned(),
        label: config.messages().field_label(lang, name),
        kind,
        value: value.unwrap_or_default().to_owned(),
        errors,
        autocomplete,
        required: true,
    }
}

/// An optional field ([`field`] with `required` off).
pub fn optional_field(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    name: &str,
    kind: FieldType,
    value: Option<&str>,
    changeset: Option<&Changeset>,
) -> Field {
    let mut fld = field(config, lang, name, kind, value, changeset);
    fld.required = false;
    fld
}

/// The input type of the user id field: `email` for an email user id, else `text`.
pub fn user_id_kind(config: &PowConfig) -> FieldType {
    if config.user_id_field() == "email" {
        FieldType::Email
    } else {
        FieldType::Text
    }
}

/// The user id field, showing the submitted value, else `user`'s.
pub fn user_id_field(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    user: Option<&User>,
    changeset: Option<&Changeset>,
) -> Field {
    let uid = config.user_id_field();
    let value = params
        .get(uid)
        .map(String::as_str)
        .or_else(|| user.and_then(|u| u.get_str(uid)))
        .or_else(|| {
            changeset
                .and_then(|c| c.data.as_ref())
                .and_then(|u| u.get_str(uid))
        });
    field(config, lang, uid, user_id_kind(config), value, changeset)
}

/// Castable app and extension fields other than the user id, as optional text inputs
/// showing the submitted value, else `user`'s.
pub fn extra_fields(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    changeset: Option<&Changeset>,
    user: Option<&User>,
) -> Vec<Field> {
    config
        .user_fields()
        .iter()
        .filter(|f| f.castable && f.name != config.user_id_field())
        .map(|f| {
            let value = params
                .get(&f.name)
                .map(String::as_str)
                .or_else(|| user.and_then(|u| u.get_str(&f.name)));
            let kind = if f.name == "email" {
                FieldType::Email
            } else {
                FieldType::Text
            };
            let mut field = optional_field(config, lang, &f.name, kind, value, changeset);
            // Required on sign-up; an account edit may leave a field as it is.
            field.required = f.required && user.is_none();
            field
        })
        .collect()
}

/// The `password` and `password_confirmation` fields, required or not.
pub fn new_password_fields(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    changeset: Option<&Changeset>,
    required: bool,
) -> [Field; 2] {
    ["password", "password_confirmation"].map(|name| {
        let mut fld = field(config, lang, name, FieldType::Password, None, changeset);
        fld.required = required;
        fld
    })
}

/// Largest form body pow-rs reads (passwords are capped at 4096 bytes; this leaves room).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A parsed form: the `user[...]` params and the top-level fields.
#[derive(Clone, Debug, Default)]
pub struct FormData {
    /// Values of `user[<name>]` fields, by name.
    pub user: Params,
    /// Every other top-level field (`_method`, `_csrf_token`, ...).
    pub other: BTreeMap<String, String>,
}

impl FormData {
    /// Parses an `application/x-www-form-urlencoded` body. Malformed input yields what
    /// could be read; it never panics.
    pub fn parse(body: &[u8]) -> Self {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        Self::from_pairs(pairs)
    }

    /// Builds from decoded key/value pairs. Later duplicates win.
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut form = FormData::default();
        for (key, value) in pairs {
            match key
                .strip_prefix("user[")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                Some(name) if !name.is_empty() && !name.contains(['[', ']']) => {
                    form.user.insert(name.to_owned(), value);
                }
                _ => {
                    form.other.insert(key, value);
                }
            }
        }
        form
    }

    /// The `_method` override, upper-cased (`PATCH`, `PUT`, `DELETE`).
    pub fn method_override(&self) -> Option<String> {
        self.other
            .get("_method")
            .map(|m| m.trim().to_ascii_uppercase())
    }

    /// The submitted CSRF token.
    pub fn csrf_token(&self) -> Option<&str> {
        self.other.get("_csrf_token").map(String::as_str)
    }
}

/// A page answering an error a visitor should see (see [`error_page`]).
#[derive(Debug)]
pub struct ErrorPage {
    /// `503`, `429` or `403`.
    pub status: u16,
    /// The `Retry-After` seconds, for a `503` or a `429`.
    pub retry_after: Option<u64>,
    /// The page.
    pub page: Page,
}

/// The page answering `error`, when it is one a visitor should see: `503 Service
/// Unavailable` (page `"error/unavailable"`) for [`PowError::Busy`] (password hashing
/// saturated), [`PowError::Store`] (the cache store is down),
/// [`PowError::DatabaseUnavailable`] (the users database is down) and
/// [`PowError::CaptchaUnavailable`], `429 Too Many Requests` (page `"error/rate_limited"`)
/// for [`PowError::RateLimited`]; translated, with `Retry-After`; `403 Forbidden` (page
/// `"error/sign_in_refused"`) with the policy's text for [`PowError::SignInRefused`]. `None`
/// for other errors.
pub fn error_page(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    error: &PowError,
) -> Option<ErrorPage> {
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
                messages.text(lang, key),
                429,
                Some(limited.retry_after_secs()),
            )
        }
        PowError::Busy
        | PowError::Store(_)
        | PowError::DatabaseUnavailable(_)
        | PowError::CaptchaUnavailable => {
            // Logged as `PowError`'s own answer would be.
            tracing::error!(error = %error, "pow request failed");
            let text = match error {
                PowError::Busy => messages.hashing_busy(lang),
                _ => messages.service_unavailable(lang),
            };
            (
                PageId::ERROR_UNAVAILABLE,
                "title-unavailable",
                text,
                503,
                Some(crate::error::BUSY_RETRY_AFTER_SECS),
            )
        }
        PowError::SignInRefused(refusal) => {
            tracing::info!(policy = refusal.policy, "pow sign-in refused by a policy");
            (
                PageId::ERROR_SIGN_IN_REFUSED,
                "title-sign-in-refused",
                messages.text(lang, refusal.key),
                403,
                None,
            )
        }
        _ => return None,
    };
    let body = PageBody::Text {
        paragraphs: vec![text],
        links: Vec::new(),
    };
    Some(ErrorPage {
        status,
        retry_after,
        page: Page::new(name, title, body),
    })
}

/// Whether a client sending `accept` takes HTML: no `Accept`, or one naming `text/html` or
/// `*/*`, unless it names JSON first.
pub(crate) fn accepts_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    let html = accept.find("text/html").or_else(|| accept.find("*/*"));
    match (html, accept.find("json")) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

//! Pages: the [`Views`] trait and the built-in [`DefaultViews`].
//!
//! Controllers describe a page as data ([`PageContext`] and a [`PageBody`]: a form with
//! links, or paragraphs) and hand it to the configured [`Views`] with the page's
//! registered id ([`PageId`]).
//! [`DefaultViews`] renders every page in one accessible layout with an embedded
//! stylesheet, no JavaScript, and everything HTML-escaped.
//!
//! An app restyles single pages by matching on the name and delegating the rest:
//!
//! ```
//! use pow_core::views::{DefaultViews, PageBody, PageContext, PageId, Views};
//! use pow_core::PowError;
//!
//! struct MyViews;
//!
//! impl Views for MyViews {
//!     fn render(&self, page: PageId, ctx: &PageContext, body: &PageBody) -> Result<String, PowError> {
//!         match page {
//!             PageId::SESSION_NEW => Ok(format!("<h1>{}</h1>", "My sign-in page")),
//!             _ => DefaultViews.render(page, ctx, body),
//!         }
//!     }
//!
//!     fn pages(&self) -> Vec<PageId> {
//!         vec![PageId::SESSION_NEW]
//!     }
//! }
//! ```
//!
//! Forms post their fields as `user[<name>]`, with a hidden `_csrf_token` field and, for
//! PATCH/PUT/DELETE, a hidden `_method` field (forms can only send GET and POST).

use std::borrow::Cow;

use askama::Template;

use crate::error::PowError;
use crate::messages::LanguageIdentifier;

/// The stylesheet embedded in every page of [`DefaultViews`].
pub const STYLESHEET: &str = include_str!("../assets/pow.css");

/// The template sources pow-core renders pages and mails with, as `(path, source)` under
/// `templates/` (askama syntax), plus the stylesheet: the starting point for an app's own
/// [`Views`] or [`MailViews`](crate::mailer::MailViews) (`pow export templates`).
pub const TEMPLATE_SOURCES: &[(&str, &str)] = &[
    ("page.html", include_str!("../templates/page.html")),
    (
        "mail/layout.html",
        include_str!("../templates/mail/layout.html"),
    ),
    (
        "mail/layout.txt",
        include_str!("../templates/mail/layout.txt"),
    ),
    ("pow.css", STYLESHEET),
];

/// The id of a page: the name apps override it by (`"session/new"`). The core registers
/// its pages ([`PageId::CORE`]); an extension registers those it renders with
/// [`ExtensionBuilder::pages`](crate::extension::ExtensionBuilder::pages), and a framework
/// layer renders no other page. Custom [`Views`] list the pages they restyle
/// ([`Views::pages`]), and the config refuses one it does not know, so a misspelt id
/// fails at start-up instead of never matching.
///
/// ```
/// use pow_core::views::PageId;
///
/// const SMS_CODE: PageId = PageId::new("sms/code");
/// assert_eq!(SMS_CODE.as_str(), "sms/code");
/// assert!(PageId::SESSION_NEW == "session/new");
/// assert!(PageId::CORE.contains(&PageId::SESSION_NEW));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageId(&'static str);

impl PageId {
    /// The sign-in page.
    pub const SESSION_NEW: Self = Self::new("session/new");
    /// The password confirmation page (sudo mode).
    pub const SESSION_CONFIRM: Self = Self::new("session/confirm");
    /// The sign-up page.
    pub const REGISTRATION_NEW: Self = Self::new("registration/new");
    /// The account settings page.
    pub const REGISTRATION_EDIT: Self = Self::new("registration/edit");
    /// The session list.
    pub const REGISTRATION_SESSIONS: Self = Self::new("registration/sessions");
    /// The account's recent activity.
    pub const REGISTRATION_ACTIVITY: Self = Self::new("registration/activity");
    /// The page of a request refused by a rate limit or an account lock.
    pub const ERROR_RATE_LIMITED: Self = Self::new("error/rate_limited");
    /// The page of a request the service could not serve now (busy, store down).
    pub const ERROR_UNAVAILABLE: Self = Self::new("error/unavailable");
    /// The page of a sign-in an extension's policy refused (the policy's text).
    pub const ERROR_SIGN_IN_REFUSED: Self = Self::new("error/sign_in_refused");

    /// The core's pages.
    pub const CORE: [Self; 9] = [
        Self::SESSION_NEW,
        Self::SESSION_CONFIRM,
        Self::REGISTRATION_NEW,
        Self::REGISTRATION_EDIT,
        Self::REGISTRATION_SESSIONS,
        Self::REGISTRATION_ACTIVITY,
        Self::ERROR_RATE_LIMITED,
        Self::ERROR_UNAVAILABLE,
        Self::ERROR_SIGN_IN_REFUSED,
    ];

    /// The page named `name` (`"<extension>/<page>"` by convention).
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// Its name.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for PageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<&str> for PageId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<str> for PageId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl From<&'static str> for PageId {
    fn from(name: &'static str) -> Self {
        Self(name)
    }
}

/// The kind of a form field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldType {
    /// A text input.
    Text,
    /// An email input.
    Email,
    /// A password input; its value is never rendered.
    Password,
    /// A checkbox; checked when the value is `"true"`. Unchecked, it posts `"false"`.
    Checkbox,
    /// A hidden input.
    Hidden,
    /// Text shown in the form, posting nothing: the label, as a paragraph (say, what a
    /// one-button form acts on). When the value is set, it is the accessible name of the
    /// form's submit button (`aria-label`), for a short button label ("End") that needs
    /// the text around it. [`DefaultViews`] lays a form with a note out as one row: the
    /// text, then a small button. See [`Field::note`].
    Note,
}

impl FieldType {
    /// The HTML `type` attribute.
    pub fn input_type(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Email => "email",
            Self::Password => "password",
            Self::Checkbox => "checkbox",
            // A renderer that does not know notes sends nothing visible for them.
            Self::Hidden | Self::Note => "hidden",
        }
    }
}

/// One form field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Param name inside `user[...]`.
    pub name: String,
    /// The visible label.
    pub label: String,
    /// The input kind.
    pub kind: FieldType,
    /// The current value (ignored for passwords).
    pub value: String,
    /// Translated error messages, shown under the field.
    pub errors: Vec<String>,
    /// The `autocomplete` attribute (`"email"`, `"current-password"`, `"new-password"`, ...).
    pub autocomplete: Option<&'static str>,
    /// Whether the field is marked `required`.
    pub required: bool,
}

impl Field {
    /// An empty, optional field.
    pub fn new(name: impl Into<String>, label: impl Into<String>, kind: FieldType) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind,
            value: String::new(),
            errors: Vec::new(),
            autocomplete: None,
            required: false,
        }
    }

    /// A [`FieldType::Note`]: `text` shown in the form, nothing posted.
    ///
    /// ```
    /// use pow_core::views::{Field, Form};
    ///
    /// // One row of a list: what it is about, then a small "End" button that screen
    /// // readers announce with the row's text.
    /// let row = Form::new("/registration/sessions", "End", "")
    ///     .field(Field::note("about", "Firefox on Linux, last active today")
    ///         .value("End: Firefox on Linux, last active today"));
    /// assert_eq!(row.submit, "End");
    /// ```
    pub fn note(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(name, text, FieldType::Note)
    }

    /// Sets the value.
    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    /// Sets the error messages.
    pub fn errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    /// Sets the `autocomplete` attribute.
    pub fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = Some(autocomplete);
        self
    }

    /// Marks the field required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The element id: `user_<name>`.
    pub fn id(&self) -> String {
        format!("user_{}", self.name)
    }

    /// The posted name: `user[<name>]`.
    pub fn param(&self) -> String {
        format!("user[{}]", self.name)
    }

    /// The id of the element holding the errors: `user_<name>_errors`.
    pub fn errors_id(&self) -> String {
        format!("user_{}_errors", self.name)
    }

    fn is_hidden(&self) -> bool {
        self.kind == FieldType::Hidden
    }

    fn is_checkbox(&self) -> bool {
        self.kind == FieldType::Checkbox
    }

    fn is_note(&self) -> bool {
        self.kind == FieldType::Note
    }

    fn shows_value(&self) -> bool {
        self.kind != FieldType::Password && !self.value.is_empty()
    }

    fn is_checked(&self) -> bool {
        self.value == "true"
    }
}

/// A form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    /// Where the form posts.
    pub action: String,
    /// The HTML method, `"post"`.
    pub method: &'static str,
    /// `"patch"`, `"put"` or `"delete"`, sent as a hidden `_method` field.
    pub method_override: Option<&'static str>,
    /// The fields, in order.
    pub fields: Vec<Field>,
    /// The submit button's label.
    pub submit: String,
    /// The CSRF token, sent as a hidden `_csrf_token` field. When empty,
    /// [`DefaultViews`] uses the page's [`PageContext::csrf_token`].
    pub csrf_token: String,
}

impl Form {
    /// A POST form without fields.
    pub fn new(
        action: impl Into<String>,
        submit: impl Into<String>,
        csrf_token: impl Into<String>,
    ) -> Self {
        Self {
            action: action.into(),
            method: "post",
            method_override: None,
            fields: Vec::new(),
            submit: submit.into(),
            csrf_token: csrf_token.into(),
        }
    }

    /// Sends the form as `method` (`"patch"`, `"put"`, `"delete"`) through `_method`.
    pub fn method_override(mut self, method: &'static str) -> Self {
        self.method_override = Some(method);
        self
    }

    /// Adds a field.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// Whether any field has an error.
    pub fn has_errors(&self) -> bool {
        self.fields.iter().any(|f| !f.errors.is_empty())
    }

    /// The fields with errors, in order: what the error summary at the top of the form
    /// lists.
    fn fields_with_errors(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.errors.is_empty())
    }

    /// A form with a [`FieldType::Note`]: laid out as one row, its text then its button.
    fn is_row(&self) -> bool {
        self.fields.iter().any(Field::is_note)
    }

    /// The submit button's accessible name, when a note gives one.
    fn submit_aria_label(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.is_note() && !f.value.is_empty())
            .map(|f| f.value.as_str())
    }
}

/// A link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The URL.
    pub href: String,
    /// The visible text.
    pub label: String,
}

impl Link {
    /// A link to `href` reading `label`.
    pub fn new(href: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            href: href.into(),
            label: label.into(),
        }
    }
}

/// What every page shows around its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageContext {
    /// The page language (`<html lang>`).
    pub lang: LanguageIdentifier,
    /// The page title (`<title>` and heading).
    pub title: String,
    /// An info flash: the text an earlier request queued (what its action did).
    pub flash_info: Option<String>,
    /// The page's own info text ([`Page::info`](crate::pages::Page::info): what the page
    /// is for, the state it shows), shown under the flash, never instead of it.
    pub page_info: Option<String>,
    /// An error flash.
    pub flash_error: Option<String>,
    /// The signed-in user's display id.
    pub current_user: Option<String>,
    /// The CSRF token for forms.
    pub csrf_token: String,
    /// The CAPTCHA widget the page's form carries, if any (its script goes in the head).
    pub captcha: Option<crate::captcha::CaptchaWidget>,
    /// The support-access banner, when the session is an admin's impersonation.
    pub impersonation: Option<ImpersonationBanner>,
    /// Same-origin scripts the page loads (deferred), e.g. an extension's WebAuthn helper.
    /// The page works without them where it can; they only add to it.
    pub scripts: Vec<String>,
}

/// The banner of a page seen during support access: who is impersonated, and a button
/// that stops it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImpersonationBanner {
    /// The translated text (`impersonation-banner`, with the user's display id).
    pub text: String,
    /// Where the stop button posts.
    pub stop_path: String,
    /// The stop button's label.
    pub stop_label: String,
}

/// The body of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageBody {
    /// A form, links under it, then further small forms (e.g. a delete-account button).
    Form {
        /// The main form.
        form: Form,
        /// Links under the form.
        links: Vec<Link>,
        /// Further forms after the links.
        extra_forms: Vec<Form>,
    },
    /// Paragraphs of text and links.
    Text {
        /// The paragraphs.
        paragraphs: Vec<String>,
        /// Links under them.
        links: Vec<Link>,
    },
    /// A figure, paragraphs about it, a form and links (a QR code to scan, say).
    Figure {
        /// Trusted markup rendered as is (an SVG image made by pow-rs or an extension,
        /// never anything a request supplied).
        figure: String,
        /// Paragraphs under the figure.
        paragraphs: Vec<String>,
        /// The form under them.
        form: Form,
        /// Links under the form.
        links: Vec<Link>,
    },
}

/// Renders pages.
pub trait Views: Send + Sync + 'static {
    /// Renders `page` ([`PageId::SESSION_NEW`], [`PageId::REGISTRATION_NEW`], ... or any
    /// extension's, `"reset_password/new"`) as a full HTML document. [`DefaultViews`]
    /// renders `body` in the built-in layout; an app overrides pages by matching on
    /// `page` and delegating the rest to [`DefaultViews`].
    ///
    /// # Errors
    /// [`PowError::Template`] when rendering fails.
    fn render(&self, page: PageId, ctx: &PageContext, body: &PageBody) -> Result<String, PowError>;

    /// The pages this value renders differently from [`DefaultViews`]. The config refuses
    /// one that neither the core nor an enabled extension registers (a misspelt id would
    /// never match). The default is none.
    fn pages(&self) -> Vec<PageId> {
        Vec::new()
    }
}

impl<V: Views + ?Sized> Views for std::sync::Arc<V> {
    fn render(&self, page: PageId, ctx: &PageContext, body: &PageBody) -> Result<String, PowError> {
        (**self).render(page, ctx, body)
    }

    fn pages(&self) -> Vec<PageId> {
        (**self).pages()
    }
}

/// The built-in pages: one layout for every page name.
///
/// A form with field errors starts with a summary (`pow-error-summary`, `role="alert"`):
/// the page's error text ([`PageContext::flash_error`], which `web::render_page` sets to
/// `form-has-errors` when nothing else did) as its heading, then each field to fix, linked
/// to its input. The error text is not shown a second time above the page.
///
/// A form with a [`FieldType::Note`] is one row (`pow-form-row`): its text (`pow-note`),
/// then a small button. Flash texts are `pow-flash pow-flash-info` (neutral blue) and
/// `pow-flash pow-flash-error` (red); the stylesheet also styles `pow-flash-success`
/// (green) for an app's own pages.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultViews;

#[derive(Template)]
#[template(path = "page.html")]
struct PageTemplate<'a> {
    name: &'a str,
    ctx: &'a PageContext,
    css: &'static str,
    form: Option<Cow<'a, Form>>,
    figure: Option<&'a str>,
    paragraphs: &'a [String],
    links: &'a [Link],
    extra_forms: Vec<Cow<'a, Form>>,
    /// No widget: what the extra forms are rendered with.
    no_widget: Option<&'a crate::captcha::CaptchaWidget>,
    /// No heading: the extra forms' error summaries have none (the main form's shows the
    /// error flash).
    no_heading: Option<&'a str>,
}

/// `form`, with the page's CSRF token when it has none of its own.
fn with_token<'a>(form: &'a Form, ctx: &PageContext) -> Cow<'a, Form> {
    if form.csrf_token.is_empty() && !ctx.csrf_token.is_empty() {
        let mut owned = form.clone();
        owned.csrf_token.clone_from(&ctx.csrf_token);
        Cow::Owned(owned)
    } else {
        Cow::Borrowed(form)
    }
}

impl Views for DefaultViews {
    fn render(&self, page: PageId, ctx: &PageContext, body: &PageBody) -> Result<String, PowError> {
        let name = page.as_str();
        let mut figure = None;
        let (form, paragraphs, links, extra_forms): (_, &[String], &[Link], &[Form]) = match body {
            PageBody::Form {
                form,
                links,
                extra_forms,
            } => (Some(form), &[], links, extra_forms),
            PageBody::Text { paragraphs, links } => (None, paragraphs, links, &[]),
            PageBody::Figure {
                figure: markup,
                paragraphs,
                form,
                links,
            } => {
                figure = Some(markup.as_str());
                (Some(form), paragraphs, links, &[])
            }
        };
        Ok(PageTemplate {
            name,
            ctx,
            css: STYLESHEET,
            figure,
            form: form.map(|f| with_token(f, ctx)),
            paragraphs,
            links,
            extra_forms: extra_forms.iter().map(|f| with_token(f, ctx)).collect(),
            no_widget: None,
            no_heading: None,
        }
        .render()?)
    }
}

impl PageTemplate<'_> {
    /// `session/new` -> `pow-page-session-new`: a class naming the page, for app styles.
    fn page_class(&self) -> String {
        let slug: String = self
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("pow-page-{slug}")
    }

    /// Whether the main form has field errors: its error summary then carries the error
    /// flash as its heading, instead of a flash of its own above the page.
    fn form_has_errors(&self) -> bool {
        self.form.as_ref().is_some_and(|form| form.has_errors())
    }
}

/// `text` made safe to put into HTML, as the pages' templates escape it: for pages of an
/// app's own that show a flash message or a user's address.
///
/// ```
/// assert_eq!(
///     pow_core::views::escape_html(r#"<b>"Tom" & 'Jerry'</b>"#),
///     "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
/// );
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

//! # pow-ext-reset-password
//!
//! Lets users who forgot their password choose a new one through a link sent by email
//! (Pow's `PowResetPassword`).
//!
//! **Guide**: [reset password](https://github.com/pow-rs/pow-rs/blob/main/guides/reset-password.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! A visitor asks for a link on `/reset-password/new` with their email address. If an
//! account has that address, a random token is kept in the cache store for
//! [two hours](DEFAULT_TOKEN_TTL) and a mail with a signed link to
//! `/reset-password/<signed token>` goes out. The link opens a form for the new password;
//! once the password is saved the token is gone, every session and remember-me token of
//! the user is revoked, and the user signs in with the new password.
//!
//! ## Enabling it
//!
//! Add the extension to the config; every framework layer mounts its routes with the
//! core's, and it needs no migration (tokens live in the cache store). The users table needs an `email` column, which it has when `email` is
//! the user id field (the default); otherwise declare one with
//! `PowConfigBuilder::user_field`.
//!
//! ```
//! use std::time::Duration;
//! use pow_actix::PowConfig;
//! use pow_actix::store::Limit;
//! use pow_ext_reset_password::ResetPassword;
//!
//! let config = PowConfig::builder("s".repeat(64)).base_url("https://example.com")
//!     .extension(
//!         ResetPassword::new()
//!             .token_ttl(Duration::from_secs(30 * 60))
//!             .mail_rate_limit(Some(Limit::new(5, Duration::from_secs(3600)))),
//!     )
//!     .build()?;
//! assert!(config.extensions().contains("pow_reset_password"));
//! # Ok::<_, pow_actix::PowError>(())
//! ```
//!
//! Configure a real mailer ([`pow_core::mailer::SmtpMailer`]) and a `base_url` for the
//! links in mails (`PowConfigBuilder::base_url`): without one, links are built from the
//! request's `Host` header, which a client controls.
//!
//! ## Settings
//!
//! | Setting | Default |
//! |---|---|
//! | [`token_ttl`](ResetPassword::token_ttl) | 2 hours ([`DEFAULT_TOKEN_TTL`]) |
//! | [`revoke_sessions`](ResetPassword::revoke_sessions) | `true`: a reset signs the user out everywhere |
//! | [`mail_rate_limit`](ResetPassword::mail_rate_limit) | 3 mails per address per hour ([`Limit::MAILS_PER_ADDRESS`](pow_core::store::Limit::MAILS_PER_ADDRESS)) |
//! | [`mail_delivery`](ResetPassword::mail_delivery) | [`MailDelivery::Background`] |
//! | [`api_link_template`](ResetPassword::api_link_template) | `None`: links of mails asked for over the JSON API point where the pages' do |
//!
//! ## Routes
//!
//! Every route is for signed-out visitors only; a signed-in user is redirected away (see
//! `pow_actix::web::require_not_authenticated`).
//!
//! | Method | Path | Action |
//! |---|---|---|
//! | GET | `/reset-password/new` | the form asking for the email (`user[email]`) |
//! | POST | `/reset-password` | sends the link, then redirects to the sign-in page |
//! | GET | `/reset-password/{token}` | the form for the new password (`user[password]`, `user[password_confirmation]`) |
//! | PATCH, PUT | `/reset-password/{token}` | saves the new password (also POST with `_method=PATCH` or `PUT`) |
//!
//! Paths are relative to the config's mount path. The pages render through the configured
//! views as `reset_password/new` and `reset_password/edit`; the sign-in page
//! (`session/new`) gets a "Forgot password?" link. Action callbacks of other
//! extensions run as `reset_password#new|create|edit|update`; `reset_password#create`
//! callbacks never see the user, so they cannot tell known addresses from unknown ones.
//!
//! ## JSON API
//!
//! For mobile and single-page clients, the extension serves the same flow as JSON
//! endpoints under the API prefix (`/api/v1` by default). Enabling the extension in the
//! config as above enables them on every framework, wherever the app mounts the JSON API
//! (the engine's JSON route table, which each framework layer mounts): nothing else to add to the
//! API's options. The endpoints use the extension's settings (link lifetime, rate limit,
//! mail delivery, session revocation), and
//! [`api_link_template`](ResetPassword::api_link_template) says where the mailed link
//! points:
//!
//! ```
//! use pow_core::api::{ApiOptions, ApiService, LinkTemplate};
//! use pow_core::PowConfig;
//! use pow_ext_reset_password::ResetPassword;
//!
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://api.example.com")
//!     .extension(
//!         ResetPassword::new()
//!             // The mailed link opens the app, which sends the token back to the API.
//!             .api_link_template(LinkTemplate::new(
//!                 "https://app.example.com/reset-password?token={token}",
//!             )?),
//!     )
//!     .build()?;
//! let api = ApiService::new(config, ApiOptions::new());
//! assert!(api.routes().iter().any(|route| route.path == "/reset-password/{token}"));
//! # Ok::<_, pow_core::PowError>(())
//! ```
//!
//! | Method | Path | Body | Answer |
//! |---|---|---|---|
//! | POST | `<prefix>/reset-password` | `{"user": {"email": "..."}}` | `200 {"status": 200, "data": {"message": "If an account for the provided email exists, ..."}}`, whether or not an account has the address |
//! | GET | `<prefix>/reset-password/{token}` | – | `200 {"data": {}}` while the token works (to check a link before asking for the new password) |
//! | PATCH, PUT | `<prefix>/reset-password/{token}` | `{"user": {"password": "...", "password_confirmation": "..."}}` | `200 {"data": {"message": "The password has been updated."}}` |
//!
//! Answers use the API's envelope (`{"status", "data"}`, errors `{"status", "errors": [{"code", "message", "param"}]}`),
//! with texts in the request's language:
//!
//! - a forged, unknown, used or expired token: `404`, code `invalid_token`, message
//!   `pow_reset_password_invalid_token`;
//! - invalid params: `422`, message `pow_reset_password_password_not_updated`, with the
//!   errors of each field (`{"password_confirmation": ["does not match confirmation"]}`);
//!   the token stays valid;
//! - with `PowConfigBuilder::prevent_user_enumeration(false)` only, an unknown address:
//!   `404`, code `user_not_found`;
//! - a body that is not a JSON object: `400`.
//!
//! The endpoints need no access token and work the same for signed-in clients. They do
//! what the HTML pages do, with the same code: the same answer, work, rate limit and
//! background mail for known and unknown addresses; single-use tokens bound to the
//! account's state; and, after a reset, every session, API token (access and renewal)
//! and remember-me token of the user revoked. The user is not signed in by a reset: the
//! client signs in with the new password (`POST <prefix>/session`).
//!
//! ### The link in the mail
//!
//! A reset asked for over the API mails a link too; which URL it carries is up to the
//! app ([`ResetPassword::api_link_template`]):
//!
//! - **By default**, the extension's HTML page, `<base_url>/reset-password/<token>`. It
//!   suits an app that also mounts the HTML pages: the user sets the new password in the
//!   browser.
//! - **With a [`LinkTemplate`]**, any URL holding the signed
//!   token: a page of the single-page app
//!   (`https://app.example.com/reset-password?token={token}`), or a universal link or
//!   custom scheme the mobile app opens (`myapp://reset-password/{token}`). The client
//!   takes the token from the link, may check it with `GET`, asks for the new password
//!   and sends it with `PATCH <prefix>/reset-password/{token}`. The token is the same
//!   signed value the HTML page takes (URL-safe: letters, digits, `-`, `_`, `.`), so
//!   both work side by side.
//!
//! The template is fixed in the server's setup; a client can never choose where the link
//! points. Mails asked for on the HTML page always link to the HTML page.
//!
//! ## Security
//!
//! - **No user enumeration.** An unknown address gets the same redirect and flash text as
//!   a known one, and the same work is done for it: a token is generated, the rate limit
//!   is counted and a store write happens. With
//!   `PowConfigBuilder::prevent_user_enumeration(false)` the form says instead that no
//!   account has that address (Pow's behaviour). With the default
//!   [`MailDelivery::Background`] the response does not wait for the mail either.
//! - **Signed tokens.** The link carries the token signed with the salt [`TOKEN_SALT`];
//!   the signature is checked before the store is read. The token lives in the store
//!   namespace `reset_token` (prefixed with the config's name for a named setup).
//! - **Single use.** A successful reset takes the token out of the store in one atomic
//!   step ([`pow_core::store::Store::take`]), so of two concurrent submits only one
//!   succeeds. A failed submit (e.g. the confirmation does not match) keeps the token.
//! - **Bound to the account's state.** A token stops working once the user's password or
//!   email changes, so after a reset every other link sent to the user is dead as well.
//! - **Sessions revoked.** A reset ends every session, API token and remember-me token of
//!   the user (`pow_core::session::revoke_user`); see [`ResetPassword::revoke_sessions`].
//! - **Mail rate limit.** At most a few mails per address and window, counted in the cache
//!   store (so it holds across workers and servers sharing a store backend). Requests
//!   over the limit look the same from outside, send nothing and are logged.
//! - The edit page is sent with `Referrer-Policy: no-referrer`, so the token in its URL
//!   does not leak to other sites.
//!
//! ## Messages
//!
//! Keys, English texts (German and French ship too), overridable with
//! `PowConfigBuilder::messages_ftl`:
//!
//! | Key | English |
//! |---|---|
//! | `pow_reset_password_maybe_email_has_been_sent` | If an account for the provided email exists, an email with reset instructions will be sent to you. Please check your inbox. |
//! | `pow_reset_password_email_has_been_sent` | the same text (keep them equal while user enumeration is prevented) |
//! | `pow_reset_password_user_not_found` | No account exists for the provided email. Please try again. |
//! | `pow_reset_password_invalid_token` | The reset token has expired. |
//! | `pow_reset_password_password_has_been_reset` | The password has been updated. |
//! | `pow_reset_password_password_not_updated` | The password could not be updated. (JSON API, `422`) |
//! | `pow_reset_password_title_new`, `pow_reset_password_title_edit` | Reset password, Choose a new password |
//! | `pow_reset_password_button_request`, `pow_reset_password_button_reset` | Send reset link, Save new password |
//! | `pow_reset_password_link_forgot_password` | Forgot password? |
//! | `pow_reset_password_mail_subject` | Reset password link |
//! | `pow_reset_password_mail_intro`, `pow_reset_password_mail_link` | the mail's first paragraph and its button |
//! | `pow_reset_password_mail_expiry_hours`, `pow_reset_password_mail_expiry_minutes` | how long the link works (`$count`) |
//! | `pow_reset_password_mail_ignore` | the mail's last paragraph |
//!
//! ## Ordering
//!
//! The extension has no controller callbacks of its own, so its place in the extension
//! list does not matter. It calls every extension's `on_credentials_revoked` after a
//! reset (when [`revoke_sessions`](ResetPassword::revoke_sessions) is on), which is how
//! the persistent-session extension drops remember-me tokens.

use std::time::Duration;

use pow_core::api::LinkTemplate;
use pow_core::extension::{ExtensionBuilder, Requirement};
use pow_core::messages::LanguageIdentifier;
use pow_core::store::Limit;
use pow_core::views::{Link, PageBody};
use pow_core::{Extension, PowConfig};

mod api;
// The flows serve every framework side.
pub mod flows;
mod mail;
mod pages;
mod tokens;

/// The reset-password controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_core::pipeline::{ActionId, ActionKind};

    /// `GET /reset-password/new`: the request form.
    pub const NEW: ActionId = ActionId::new("reset_password", "new", ActionKind::Show);
    /// `POST /reset-password`: mail a reset link.
    pub const CREATE: ActionId = ActionId::new("reset_password", "create", ActionKind::Other);
    /// `GET /reset-password/{token}`: the new-password form.
    pub const EDIT: ActionId = ActionId::new("reset_password", "edit", ActionKind::Show);
    /// `PATCH /reset-password/{token}`: set the new password.
    pub const UPDATE: ActionId = ActionId::new("reset_password", "update", ActionKind::Other);
    /// `POST <api prefix>/reset-password`: mail a reset link (JSON).
    pub const API_CREATE: ActionId =
        ActionId::new("api_reset_password", "create", ActionKind::Other);
    /// `GET <api prefix>/reset-password/{token}`: whether a token works (JSON).
    pub const API_SHOW: ActionId = ActionId::new("api_reset_password", "show", ActionKind::Show);
    /// `PATCH <api prefix>/reset-password/{token}`: set the new password (JSON).
    pub const API_UPDATE: ActionId =
        ActionId::new("api_reset_password", "update", ActionKind::Other);
}

/// The extension's name, Pow's `pow_reset_password`; message keys start with it.
pub const NAME: &str = "pow_reset_password";

/// The name of the mail this extension sends (the reset link), under which an app's
/// [`MailViews`](pow_core::mailer::MailViews) can replace its template.
pub const MAIL: &str = "reset_password/reset_password";

/// The reset link's kind, for
/// [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link): the
/// frontend sends the token to `GET` (check) and `PATCH <api>/reset-password/{token}`.
pub const LINK: pow_core::api::LinkKind = pow_core::api::LinkKind::new("reset_password");

/// Salt the reset token in links is signed with (Pow's).
pub const TOKEN_SALT: &str = "Elixir.PowResetPassword.Plug";

/// Store namespace of reset tokens (prefixed with the config's name for a named setup).
pub const TOKEN_NAMESPACE: &str = "reset_token";

/// Rule name of the mail rate limit's counters (see [`pow_core::store::Limiter`]).
pub const RATE_LIMIT_RULE: &str = "reset_password_mails";

/// Audit events of the extension.
pub mod events {
    use pow_core::audit::EventName;

    /// A password reset was requested (`detail.sent`: whether a mail went out).
    pub const REQUESTED: EventName = EventName::new("password_reset.requested");
    /// A password reset completed.
    pub const COMPLETED: EventName = EventName::new("password_reset.completed");
}

/// How long a reset link works by default: 2 hours, as in Pow.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// When the reset mail is delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailDelivery {
    /// Render and deliver the mail in a task of its own, after the response is under way.
    /// The response time then does not depend on whether an account exists, and a
    /// failing mailer cannot tell either (failures are logged at `error`). A mail still
    /// being sent when the server shuts down is lost. The default.
    #[default]
    Background,
    /// Deliver the mail before responding; a mailer error answers `500`. Responses for
    /// known addresses take longer than for unknown ones by the delivery time, which can
    /// reveal which addresses have accounts. Meant for tests that inspect mails right
    /// after the response (with `MemoryMailer`), and for mailers that only queue.
    Inline,
}

/// The reset-password extension. See the [crate docs](crate).
///
/// Built with [`ResetPassword::new`] and the setters below; each setter says its default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetPassword {
    token_ttl: Duration,
    revoke_sessions: bool,
    mail_rate_limit: Option<Limit>,
    mail_delivery: MailDelivery,
    api_link: Option<LinkTemplate>,
}

impl Default for ResetPassword {
    fn default() -> Self {
        Self::new()
    }
}

impl ResetPassword {
    /// The extension with the default settings.
    pub fn new() -> Self {
        Self {
            token_ttl: DEFAULT_TOKEN_TTL,
            revoke_sessions: true,
            mail_rate_limit: Some(Limit::MAILS_PER_ADDRESS),
            mail_delivery: MailDelivery::default(),
            api_link: None,
        }
    }

    /// How long a reset link works. The default value is 2 hours.
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Whether a reset ends every session and remember-me token of the user. The default
    /// value is `true`.
    ///
    /// # Warning
    /// Pow keeps sessions after a reset. A reset is often the answer to a stolen password:
    /// turning this off lets whoever signed in with it stay signed in.
    pub fn revoke_sessions(mut self, revoke: bool) -> Self {
        self.revoke_sessions = revoke;
        self
    }

    /// The per-address mail limit, or `None` for no limit. The default value is 3 mails
    /// per address per hour ([`Limit::MAILS_PER_ADDRESS`]); `Limit::new(0, ..)` sends none.
    ///
    /// The limit is counted per normalised address, whether or not an account has it, by a
    /// [`pow_core::store::Limiter`]: one atomic counter per address in the cache store,
    /// under a keyed hash of the address, living for the window from the first mail. It
    /// holds across workers and servers that share a store.
    ///
    /// # Warning
    /// Without a limit anyone can flood an inbox with reset mails through this form.
    pub fn mail_rate_limit(mut self, limit: Option<Limit>) -> Self {
        self.mail_rate_limit = limit;
        self
    }

    /// When the mail is delivered. The default value is [`MailDelivery::Background`].
    pub fn mail_delivery(mut self, delivery: MailDelivery) -> Self {
        self.mail_delivery = delivery;
        self
    }

    /// Where the link in reset mails asked for over the JSON API points. The default value
    /// is `None`: the config's [`frontend_link`](pow_core::PowConfigBuilder::frontend_link)
    /// for [`LINK`] (which mails asked for on the pages follow too), else the extension's
    /// HTML page, `<base_url><mount path>/reset-password/<token>`, which needs the pages
    /// mounted. An app without HTML pages points the link at its client instead, e.g.
    /// `https://app.example.com/reset-password?token={token}`; the client then sends the
    /// token to `PATCH <prefix>/reset-password/{token}`.
    ///
    /// ```
    /// use pow_core::api::LinkTemplate;
    /// use pow_ext_reset_password::ResetPassword;
    ///
    /// let reset = ResetPassword::new().api_link_template(LinkTemplate::new(
    ///     "https://app.example.com/reset-password?token={token}",
    /// )?);
    /// # Ok::<_, pow_core::PowError>(())
    /// ```
    pub fn api_link_template(mut self, template: LinkTemplate) -> Self {
        self.api_link = Some(template);
        self
    }

    /// How long a reset link works.
    pub fn ttl(&self) -> Duration {
        self.token_ttl
    }

    /// Whether a reset ends every session of the user.
    pub fn revokes_sessions(&self) -> bool {
        self.revoke_sessions
    }

    /// The per-address mail limit.
    pub fn rate_limit(&self) -> Option<Limit> {
        self.mail_rate_limit
    }

    /// When the mail is delivered.
    pub fn delivery(&self) -> MailDelivery {
        self.mail_delivery
    }
}

/// The extension's Fluent files, as `(language, source)`.
pub const FTL: &[(&str, &str)] = &[
    (
        "en",
        include_str!("../locales/en/pow-ext-reset-password.ftl"),
    ),
    (
        "de",
        include_str!("../locales/de/pow-ext-reset-password.ftl"),
    ),
    (
        "fr",
        include_str!("../locales/fr/pow-ext-reset-password.ftl"),
    ),
];

/// The request form, relative to the mount path.
pub(crate) const NEW_PATH: &str = "/reset-password/new";

/// The pages the extension renders, registered in its `build` (restyle them with
/// custom [`Views`](pow_core::views::Views)).
pub const PAGES: [pow_core::views::PageId; 2] = [
    pow_core::views::PageId::new("reset_password/new"),
    pow_core::views::PageId::new("reset_password/edit"),
];

impl Extension for ResetPassword {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.pages(PAGES);
        ext.mails([MAIL])
            .mail_links([LINK])
            .audit_events([events::REQUESTED, events::COMPLETED])
            .messages(FTL.iter().copied())
            .requires(Requirement::UserField("email"))
            .page_extension(forgot_password_link);
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        ext.api_document(pow_core::api::openapi_fragment(
            NAME,
            include_str!("../openapi.json"),
        ));
    }
}

/// The "Forgot password?" link on the sign-in page.
fn forgot_password_link(
    page: pow_core::views::PageId,
    body: &mut PageBody,
    lang: &LanguageIdentifier,
    config: &PowConfig,
) {
    if page != "session/new" {
        return;
    }
    if let PageBody::Form { links, .. } = body {
        links.push(Link::new(
            pow_core::config::extension_path(config, NAME, NEW_PATH, &[]),
            config
                .messages()
                .text(lang, "pow_reset_password_link_forgot_password"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let ext = ResetPassword::new();
        assert_eq!(ext.ttl(), Duration::from_secs(7200));
        assert!(ext.revokes_sessions());
        assert_eq!(
            ext.rate_limit(),
            Some(Limit::new(3, Duration::from_secs(3600)))
        );
        assert_eq!(ext.delivery(), MailDelivery::Background);
        assert_eq!(ext.name(), "pow_reset_password");
    }

    #[test]
    fn setters() {
        let ext = ResetPassword::new()
            .token_ttl(Duration::from_secs(60))
            .revoke_sessions(false)
            .mail_rate_limit(None)
            .mail_delivery(MailDelivery::Inline);
        assert_eq!(ext.ttl(), Duration::from_secs(60));
        assert!(!ext.revokes_sessions());
        assert_eq!(ext.rate_limit(), None);
        assert_eq!(ext.delivery(), MailDelivery::Inline);
    }

    fn keys(source: &str) -> Vec<&str> {
        source
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k))
            .collect()
    }

    #[test]
    fn every_language_has_every_key_with_the_prefix() {
        let english = keys(FTL[0].1);
        assert!(english.len() >= 15);
        for key in &english {
            // Audit labels are keyed by the event's name (`audit-password-reset-...`).
            assert!(
                key.starts_with("pow_reset_password_") || key.starts_with("audit-password-reset-"),
                "{key}"
            );
        }
        for (lang, source) in &FTL[1..] {
            assert_eq!(keys(source), english, "{lang}");
        }
    }

    #[test]
    fn files_parse_and_email_has_been_sent_follows_maybe() {
        let mut builder = pow_core::messages::FluentMessages::builder();
        for (lang, source) in FTL {
            builder = builder.add_ftl(lang, source).unwrap();
        }
        let messages = builder
            .add_ftl(
                "en",
                "pow_reset_password_maybe_email_has_been_sent = Check your inbox.",
            )
            .unwrap()
            .build();
        use pow_core::messages::Messages;
        let en: LanguageIdentifier = "en".parse().unwrap();
        assert_eq!(
            messages
                .message(&en, "pow_reset_password_email_has_been_sent", &[])
                .as_deref(),
            Some("Check your inbox.")
        );
        let de: LanguageIdentifier = "de".parse().unwrap();
        let hours = messages.message(
            &de,
            "pow_reset_password_mail_expiry_hours",
            &[("count", 2usize.into())],
        );
        assert_eq!(
            hours.as_deref(),
            Some("Der Link ist 2 Stunden lang gültig und funktioniert nur einmal.")
        );
    }
}

//! # pow-ext-email-confirmation
//!
//! Email confirmation for pow-rs (Pow's `PowEmailConfirmation`): new users confirm their
//! address through a mailed link before they can sign in, and a changed address only
//! replaces the old one once the new one is confirmed.
//!
//! **Guide**: [email confirmation](https://github.com/pow-rs/pow-rs/blob/main/guides/email-confirmation.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! ## Enabling it
//!
//! Add the extension to the config and run the migrations, which add its columns to the
//! users table:
//!
//! ```
//! # fn main() -> Result<(), pow_actix::PowError> {
//! use std::time::Duration;
//!
//! use pow_actix::users::diesel::DieselUsersContext;
//! use pow_actix::users::{Params, UsersContext};
//! use pow_actix::PowConfig;
//! use pow_ext_email_confirmation::{confirm_user, is_confirmed, EmailConfirmation};
//!
//! let users = DieselUsersContext::connect(":memory:")?;
//! let config = PowConfig::builder("s".repeat(64)).base_url("https://example.com")
//!     .users(users.clone())
//!     .extension(EmailConfirmation::new().token_ttl(Some(Duration::from_secs(24 * 3600))))
//!     .build()?;
//! users.migrate(&config)?;
//!
//! // A user who signs up starts unconfirmed...
//! let params: Params = [
//!     ("email", "jane@example.com"),
//!     ("password", "correct horse"),
//!     ("password_confirmation", "correct horse"),
//! ]
//! .into_iter()
//! .map(|(k, v)| (k.to_owned(), v.to_owned()))
//! .collect();
//! let jane = users.create(config.user_schema(), &params)?.expect("valid sign-up");
//! assert!(!is_confirmed(&jane));
//!
//! // ...until the mailed link is opened (or, in seeds and tests, `confirm_user`).
//! let jane = confirm_user(&config, &jane)?;
//! assert!(is_confirmed(&jane));
//! # Ok(())
//! # }
//! ```
//!
//! Its pages are page routes of the engine's table, like the core's: every framework
//! layer mounts them with its pages, and they answer alike on each.
//!
//! ## Settings
//!
//! | Setter | Default | Meaning |
//! |---|---|---|
//! | [`soft`](EmailConfirmation::soft) | `false` | `false` (Pow): unconfirmed users cannot sign in. `true`: they can; the app checks [`is_confirmed`] where it matters. |
//! | [`token_ttl`](EmailConfirmation::token_ttl) | 48 hours | How long a link works. `None` never expires (Pow). |
//! | [`resend_limit`](EmailConfirmation::resend_limit) | 3 per hour | Most confirmation mails per address in a sliding window, counted in the cache store. `None` has no limit (Pow). |
//! | [`api_link_template`](EmailConfirmation::api_link_template) | `None` | Where the link of mails sent by the JSON API points. `None`: where the pages' do (see [the link in the mail](#json-api)). |
//!
//! ## What it does
//!
//! - **Sign-up** issues a token and mails the link. In strict mode the new user is not
//!   signed in: the flash says a confirmation link was sent. In soft mode the user stays
//!   signed in.
//! - **Sign-up with a taken email**, with user enumeration protection on (the default),
//!   answers exactly like a successful sign-up; no link is mailed, the owner gets a notice
//!   of the attempt (after the answer, so it takes no longer). Soft mode cannot
//!   hide it fully: a new user is signed in, a taken address is not (and over JSON it
//!   answers `422` "has already been taken" where a new address gets tokens).
//! - **Opening the link** confirms the address. It proves the mailbox, not the password:
//!   a signed-in session sees the change but is not restarted or made fresh for sudo mode.
//! - **Sign-in before confirming** (strict mode) is refused after the password check: the
//!   session is ended and the link is mailed again.
//! - **Changing the email** on the account page keeps the current address and puts the new
//!   one in `unconfirmed_email`; the link goes to the new address and the user stays signed
//!   in. Opening it makes the new address the email, unless another account took it in
//!   the meantime (the unique check happens then). Submitting the current address again
//!   drops the pending change. A user who never confirmed has no confirmed address to keep:
//!   their email changes at once and a link for the new address is mailed.
//! - **Accepting an invitation** with a different email works like an account edit.
//!
//! A user counts as confirmed unless they have a token, no pending address change and no
//! confirmation time; users without a token (created before the extension was enabled, or
//! invited) count as confirmed.
//!
//! Tokens are random UUIDs; the link carries them signed with the salt [`TOKEN_SALT`], and
//! the signature is checked before any lookup. `users.email_confirmation_token` holds only
//! a keyed hash of the token (HMAC-SHA256 under a key derived from the secret key base), so
//! a copy of the users table confirms nothing. The token is a random nonce with a keyed MAC
//! of it, the user and the address it confirms; the row keeps the nonce beside the hash,
//! so a mail sent again while the link is valid carries the same link and the earlier
//! mails keep working (people click the first mail they find). Once it expired, the next
//! mail issues a new token with its full validity; a new pending address gets its own
//! token. A token works once: the
//! confirmation clears it, and racing confirmations are serialized by a claim in the cache
//! store. Rows written by Pow hold the raw UUID: their links keep working until used.
//! Tokens stored without an issue time count as expired.
//!
//! ## Routes
//!
//! | Method | Path | |
//! |---|---|---|
//! | GET | `/confirm-email/{token}` | Confirms; works signed in or out. Redirects to `/registration/edit` when signed in, else `/session/new`. |
//! | GET | `/confirm-email/cancel/{token}` | The page of the cancel link mailed to the current address: a button, so that following the link cancels nothing. |
//! | POST | `/confirm-email/cancel/{token}` | Drops the pending address change the token names, once; redirects as the confirmation does. |
//!
//! They run the extension callbacks as `confirmation#show`, `confirmation_cancel#show` and
//! `confirmation_cancel#delete`. The routes backend may move them
//! ([`Routes::extension_route`](pow_core::config::Routes::extension_route)).
//!
//! ## JSON API
//!
//! For mobile and single-page clients, the extension has a JSON side: endpoints under the
//! API prefix (`/api/v1` by default) and its say in issuing tokens. Enabling the extension
//! in the config as above enables it on every framework, wherever the app mounts the JSON
//! API (the engine's JSON route table, which each framework layer mounts): nothing else to add to the
//! API's options. It uses the extension's settings (strict or soft, link lifetime, resend
//! limit), and [`api_link_template`](EmailConfirmation::api_link_template) says where
//! the mailed link points:
//!
//! ```
//! use pow_core::api::{ApiOptions, ApiService, LinkTemplate};
//! use pow_core::PowConfig;
//! use pow_ext_email_confirmation::EmailConfirmation;
//!
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(
//!         EmailConfirmation::new()
//!             // The mailed link opens the app, which sends the token back to the API.
//!             .api_link_template(LinkTemplate::new("myapp://confirm-email/{token}")?),
//!     )
//!     .build()?;
//! let api = ApiService::new(config, ApiOptions::new());
//! assert!(api.routes().iter().any(|route| route.path == "/confirm-email/{token}"));
//! # Ok::<_, pow_core::PowError>(())
//! ```
//!
//! **Issuing tokens.** Sign-up (`POST <prefix>/registration`), sign-in
//! (`POST <prefix>/session`) and renewal behave as on the HTML side:
//!
//! - strict mode: an unconfirmed user gets no tokens. The link is mailed (within the
//!   resend limit) and the answer is `401` with the pending step `confirm_email`:
//!   `{"status": 401, "errors": [{"code": "email_confirmation_required", "message": "You'll need to confirm your e-mail before you can sign in. ..."}], "data": {"pending": [{"step": "confirm_email", "methods": ["email_link"]}]}}`.
//!   The account created by a sign-up stays; the user signs in once confirmed.
//! - soft mode: the tokens are issued. Every token answer carries
//!   `"email_confirmed": true|false` next to the tokens; an unconfirmed user also gets an
//!   `"email_confirmation_message"` (on sign-up the link is mailed and the message says
//!   so).
//!
//! **Endpoints.**
//!
//! | Method | Path | Needs | Answer |
//! |---|---|---|---|
//! | POST | `<prefix>/confirm-email/{token}` | the token from the mail | `200 {"data": {"email", "email_confirmed": true, "unconfirmed_email": null, "message": "The email address has been confirmed."}}` |
//! | GET | `<prefix>/confirm-email` | an access token | the signed-in user's state: `{"data": {"email", "email_confirmed", "unconfirmed_email", "message"?}}`, with a `message` while something waits for confirmation |
//! | POST | `<prefix>/confirm-email` | an access token | mails the link again (to the pending new address if there is one), within the resend limit; answers the state with a `message` saying a link was sent (also over the limit, as on the HTML side) |
//! | POST | `<prefix>/confirm-email/cancel/{token}` | the token of the cancel link mailed to the current address | drops the pending address change once: `200` with the state; `404 invalid_token` for a forged, used or superseded token |
//!
//! An address change over JSON (pow-core's `PATCH <prefix>/registration`) mails as the
//! account page does: the link to the new address, and the notice with the cancel link to
//! the current one.
//!
//! Confirming does not sign anyone in; it updates the user cached for the user's
//! sessions and access tokens, so signed-in clients see the change. A forged, unknown,
//! used or expired token answers `404` with code `invalid_token`; a new address another
//! account took in the meantime `409` with code `email_taken`. Texts follow the request's
//! `Accept-Language`. A signed-in client learns that its user still has to confirm from
//! the token answer's `email_confirmed` and from `GET <prefix>/confirm-email`.
//!
//! **The link in the mail.** Confirmation mails sent because of an API request link, by
//! default, to the HTML route `<base_url>/confirm-email/<token>`, which confirms in the
//! browser (mount the pages for it). An
//! app without HTML pages sets a [`LinkTemplate`] with
//! [`EmailConfirmation::api_link_template`]: the link then opens the single-page app
//! (`https://app.example.com/confirm-email?token={token}`) or the mobile app
//! (`myapp://confirm-email/{token}`), which sends the token to
//! `POST <prefix>/confirm-email/{token}`. The template is part of the server's setup,
//! never chosen by a client. Mails sent by the HTML pages always link to the HTML route.
//!
//! ## Columns
//!
//! The migration (version `20260102000000`, SQLite and PostgreSQL) adds
//! `email_confirmation_token` (unique), `email_confirmation_token_sent_at`,
//! `email_confirmed_at` and `unconfirmed_email`. The users need an `email` field.
//!
//! ## Messages
//!
//! English, German and French; override any key with
//! [`PowConfigBuilder::messages_ftl`](pow_core::PowConfigBuilder::messages_ftl).
//!
//! | Key | English |
//! |---|---|
//! | `pow_email_confirmation_email_has_been_confirmed` | The email address has been confirmed. |
//! | `pow_email_confirmation_email_confirmation_failed` | The email address couldn't be confirmed. |
//! | `pow_email_confirmation_invalid_token` | The confirmation token is invalid or has expired. |
//! | `pow_email_confirmation_email_confirmation_required` | You'll need to confirm your e-mail before you can sign in. An e-mail confirmation link has been sent to you. |
//! | `pow_email_confirmation_email_confirmation_required_for_update` | You'll need to confirm the e-mail before it's updated. An e-mail confirmation link has been sent to you. |
//! | `pow_email_confirmation_email_confirmation_sent` | Please confirm your e-mail address. An e-mail confirmation link has been sent to you. (soft mode) |
//! | `pow_email_confirmation_email_not_confirmed` | Your e-mail address isn't confirmed yet. Please open the link in the confirmation e-mail. (JSON API, soft mode) |
//! | `pow_email_confirmation_mail_subject` | Confirm your email address |
//! | `pow_email_confirmation_mail_intro`, `..._mail_button`, `..._mail_expiry_hours`, `..._mail_expiry_minutes`, `..._mail_ignore` | the mail's body |
//!
//! ## Ordering
//!
//! Add this extension **before** `pow-ext-persistent-session`: callbacks run in config
//! order and the first one that halts wins, so an unconfirmed sign-in is stopped before a
//! remember-me cookie is made for it.
//!
//! ```
//! # use pow_actix::PowConfig;
//! # use pow_ext_email_confirmation::EmailConfirmation;
//! let config = PowConfig::builder("s".repeat(64)).base_url("https://example.com")
//!     .extension(EmailConfirmation::new())
//!     // .extension(PersistentSession::new())  // after email confirmation
//!     .build()
//!     .unwrap();
//! ```

use std::time::Duration;

use chrono::Utc;
use pow_core::api::LinkTemplate;
use pow_core::extension::{AddressProof, ExtensionBuilder, Requirement, SqlMigration};
use pow_core::request::RequestSource;
use pow_core::store::Limit;
use pow_core::users::{User, UsersContext, WriteError};
use pow_core::{Extension, PowConfig, PowError};

mod api;
mod callbacks;
mod cancel;
pub mod flows;
mod pages;
pub use cancel::CANCEL_SALT;
pub use flows::actions;

/// Left in the controller's [`Assigns`](pow_core::pipeline::Assigns) by `confirmation#show`
/// and `api_confirmation#confirm` when a link confirmed an address (the core's type, for
/// other extensions' `before_respond`).
pub use pow_core::extension::AddressProven;
mod mail;
mod schema;
mod tokens;
pub use tokens::ConfirmationHooks;

pub use schema::{
    has_pending_change, CONFIRMED_AT_FIELD, TOKEN_FIELD, TOKEN_SENT_AT_FIELD,
    UNCONFIRMED_EMAIL_FIELD,
};

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_email_confirmation";

/// The name of the mail this extension sends (the confirmation link), under which an app's
/// [`MailViews`](pow_core::mailer::MailViews) can replace its template.
pub const MAIL: &str = "email_confirmation/email_confirmation";

/// The confirmation link's kind, for
/// [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link): the
/// frontend sends the token to `POST <api>/confirm-email/{token}`.
pub const LINK: pow_core::api::LinkKind = pow_core::api::LinkKind::new("confirm_email");

/// The kind of the link that cancels an address change (mailed to the current address):
/// the frontend sends the token to `POST <api>/confirm-email/cancel/{token}`.
pub const CANCEL_LINK: pow_core::api::LinkKind =
    pow_core::api::LinkKind::new("cancel_email_change");

/// The confirmation link, relative to the mount path.
pub(crate) const CONFIRM_PATH: &str = "/confirm-email/{token}";

/// The persistent-session extension's name: it must come after this one.
const PERSISTENT_SESSION: &str = "pow_persistent_session";

/// Salt of the signed token in confirmation links (Pow's).
pub const TOKEN_SALT: &str = "Elixir.PowEmailConfirmation.Plug";

/// Audit events of the extension.
pub mod events {
    use pow_core::audit::EventName;

    /// A confirmation mail was sent.
    pub const SENT: EventName = EventName::new("email_confirmation.sent");
    /// An address was confirmed.
    pub const CONFIRMED: EventName = EventName::new("email_confirmation.confirmed");
}

/// The default link lifetime: 48 hours.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(48 * 3600);

/// The extension's migrations: the four user columns and the token's unique index.
pub const MIGRATIONS: &[SqlMigration] = &[pow_core::sql_migration!(
    "20260102000000",
    "add_pow_email_confirmation_to_users",
    portable
)];

const MESSAGES: &[(&str, &str)] = &[
    (
        "en",
        include_str!("../locales/en/pow-ext-email-confirmation.ftl"),
    ),
    (
        "de",
        include_str!("../locales/de/pow-ext-email-confirmation.ftl"),
    ),
    (
        "fr",
        include_str!("../locales/fr/pow-ext-email-confirmation.ftl"),
    ),
];

/// The email confirmation extension; see the [crate docs](crate). Build it with
/// [`new`](Self::new) and the setters, then pass it to
/// [`PowConfigBuilder::extension`](pow_core::PowConfigBuilder::extension).
///
/// Cheap to clone: keep a clone to call [`send_confirmation`](Self::send_confirmation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailConfirmation {
    soft: bool,
    token_ttl: Option<Duration>,
    resend_limit: Option<Limit>,
    api_link: Option<LinkTemplate>,
}

impl Default for EmailConfirmation {
    fn default() -> Self {
        Self::new()
    }
}

impl EmailConfirmation {
    /// The extension with its defaults: strict, links valid 48 hours, at most three mails
    /// per address and hour.
    pub fn new() -> Self {
        Self {
            soft: false,
            token_ttl: Some(DEFAULT_TOKEN_TTL),
            resend_limit: Some(Limit::MAILS_PER_ADDRESS),
            api_link: None,
        }
    }

    /// Whether unconfirmed users may sign in. The default is `false` (Pow's behaviour):
    /// sign-in is refused until the address is confirmed.
    ///
    /// # Warning
    /// With `true`, unconfirmed users are signed in after sign-up and sign-in; check
    /// [`is_confirmed`] before anything that relies on the address (and offer a resend
    /// button with [`send_confirmation`](Self::send_confirmation)). A sign-up with a taken
    /// address still gets the success flash, but no session, which tells it apart; over
    /// JSON it answers `422` "has already been taken" (a new address gets tokens). Whoever
    /// can sign up learns which addresses have accounts: use strict mode where that matters.
    pub fn soft(mut self, soft: bool) -> Self {
        self.soft = soft;
        self
    }

    /// How long a confirmation link works after its token was issued. The default is 48
    /// hours; `None` never expires (Pow's behaviour).
    pub fn token_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// The per-address limit on confirmation mails, counted in the cache store. The default
    /// is three per hour; `None` sends a mail on every request that asks for one (Pow's
    /// behaviour, which lets anyone flood an inbox by signing in repeatedly). A request over
    /// the limit is answered as usual, without a mail.
    pub fn resend_limit(mut self, limit: Option<Limit>) -> Self {
        self.resend_limit = limit;
        self
    }

    /// Where the link in confirmation mails sent by the JSON API points. The default value
    /// is `None`: the config's [`frontend_link`](pow_core::PowConfigBuilder::frontend_link)
    /// for [`LINK`] (which mails sent from the pages follow too), else the extension's HTML
    /// route, `<base_url><mount path>/confirm-email/<token>`, which needs the pages
    /// mounted. An app without HTML pages points the link at its client instead, e.g.
    /// `https://app.example.com/confirm-email?token={token}`; the client then sends the
    /// token to `POST <prefix>/confirm-email/{token}`.
    ///
    /// ```
    /// use pow_core::api::LinkTemplate;
    /// use pow_ext_email_confirmation::EmailConfirmation;
    ///
    /// let confirmation = EmailConfirmation::new()
    ///     .api_link_template(LinkTemplate::new("myapp://confirm-email/{token}")?);
    /// # Ok::<_, pow_core::PowError>(())
    /// ```
    pub fn api_link_template(mut self, template: LinkTemplate) -> Self {
        self.api_link = Some(template);
        self
    }

    /// Whether unconfirmed users may sign in.
    pub fn is_soft(&self) -> bool {
        self.soft
    }

    /// The link lifetime.
    pub fn ttl(&self) -> Option<Duration> {
        self.token_ttl
    }

    /// The per-address mail limit.
    pub fn limit(&self) -> Option<Limit> {
        self.resend_limit
    }

    /// Mails the confirmation link to `user` again (to the pending new address if there is
    /// one), in the request's language, within the resend limit. For a "resend" button in
    /// soft mode. The user is re-read first; returns whether a mail went out (`false` when
    /// the user is gone, has nothing to confirm, or the address reached its limit).
    ///
    /// # Errors
    /// [`PowError::Config`] without a users context, or the users context's, store's or
    /// mailer's error.
    pub async fn send_confirmation(
        &self,
        config: &PowConfig,
        req: &dyn RequestSource,
        user: &User,
    ) -> Result<bool, PowError> {
        let Some(user) = config.users()?.get(user.id).await? else {
            return Ok(false);
        };
        let lang = pow_core::messages::request_language(req, config.messages());
        let sent = mail::send(self, req, config, &lang, user).await?;
        Ok(matches!(sent, mail::Sent::Delivered(_)))
    }
}

/// Whether `user`'s email is confirmed. Users without a token (created before the
/// extension was enabled, or invited) count as confirmed; a user with a pending address
/// change counts as confirmed for the current address.
pub fn is_confirmed(user: &User) -> bool {
    !schema::is_unconfirmed(user)
}

/// Marks `user` confirmed, as opening the link does (a pending address becomes the
/// email), without any token check: for seeds, tests and admin tools. Blocking: call it
/// through [`Users::run`](pow_core::users::Users::run) from async code.
///
/// # Errors
/// [`PowError::Config`] without a users context, [`PowError::Database`] when the write
/// fails, also when the pending address was taken by another account.
pub fn confirm_user(config: &PowConfig, user: &User) -> Result<User, PowError> {
    confirm_with(config.users_context()?.as_ref(), config, user)
}

fn confirm_with(
    users: &dyn UsersContext,
    config: &PowConfig,
    user: &User,
) -> Result<User, PowError> {
    let changes = schema::confirm_changes(user, Utc::now());
    match users.update_fields(config.user_schema(), user, &changes) {
        Ok(user) => Ok(user),
        Err(WriteError::Other(err)) => Err(err),
        Err(err) => Err(PowError::Database(format!(
            "user {} cannot be confirmed: {err}",
            user.id
        ))),
    }
}

/// The pages the extension renders, registered in its `build` (restyle them with
/// custom [`Views`](pow_core::views::Views)).
pub const PAGES: [pow_core::views::PageId; 1] =
    [pow_core::views::PageId::new("email_confirmation/cancel")];

impl Extension for EmailConfirmation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.pages(PAGES);
        ext.user_fields(schema::user_fields())
            .changeset_hook(schema::EmailConfirmationHook)
            .migrations(MIGRATIONS)
            .mails([MAIL])
            .mail_links([LINK, CANCEL_LINK])
            .audit_events([events::SENT, events::CONFIRMED])
            .messages(MESSAGES.iter().copied())
            .requires(Requirement::UserField(schema::EMAIL_FIELD))
            .requires(Requirement::Before {
                name: PERSISTENT_SESSION,
                why: "it has to end the sign-in of an unconfirmed user before a remember-me \
                      cookie is issued for it",
            })
            .address_proof(Proof {
                ttl: self.token_ttl,
            });
        ext.callbacks(self.clone());
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        ext.api_hooks(ConfirmationHooks::new(self.clone()))
            .api_document(pow_core::api::openapi_fragment(
                NAME,
                include_str!("../openapi.json"),
            ));
    }
}

/// What other extensions rely on: whether an address is confirmed, and confirming one a
/// provider vouches for.
struct Proof {
    ttl: Option<Duration>,
}

impl AddressProof for Proof {
    fn is_proven(&self, user: &User) -> bool {
        is_confirmed(user)
    }

    fn mark_proven(
        &self,
        users: &dyn UsersContext,
        config: &PowConfig,
        user: &User,
    ) -> Result<User, PowError> {
        confirm_with(users, config, user)
    }

    fn link_ttl(&self) -> Option<Duration> {
        self.ttl
    }
}

//! pow-rs extension: sign in with an emailed link or 6-digit code, sign up without a
//! password, and staged sign-up (the address first, the rest of the form after).
//!
//! **Guide**: [passwordless sign-in](https://github.com/pow-rs/pow-rs/blob/main/guides/passwordless.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! One value in the config enables the pages and the JSON endpoints, on every framework:
//!
//! ```
//! use pow_actix::PowConfig;
//! use pow_ext_passwordless::Passwordless;
//!
//! let config = PowConfig::builder("s".repeat(64)).base_url("https://example.com")
//!     .extension(Passwordless::new().sign_up(true))
//!     .build()
//!     .unwrap();
//! assert!(config.extensions().contains("pow_passwordless"));
//! ```
//!
//! ## Pages
//!
//! | Route | What it does |
//! |---|---|
//! | `GET`, `POST /passwordless` | "email me a sign-in link" (linked from the sign-in page) |
//! | `GET /passwordless/link/{token}`, `POST` | the mailed link: a button that signs in (a `GET` never does, so mail scanners that open links use nothing up) |
//! | `GET /passwordless/code/new`, `POST /passwordless/code` | "email me a code" |
//! | `GET /passwordless/code`, `POST /passwordless/code/verify` | type the code |
//! | `GET`, `POST /passwordless/sign-up` | staged sign-up: the address first (linked from the sign-up page) |
//! | `GET`, `POST /passwordless/sign-up/{token}` | the rest of the sign-up form, prefilled |
//!
//! The pages are routes of the engine's page table: every framework layer mounts them with
//! its pages, and they answer alike on each. A
//! routes backend ([`Routes::extension_route`](pow_core::config::Routes::extension_route))
//! may move them; the mailed links follow.
//!
//! ## Security
//!
//! - Links and codes are single use (taken atomically from the store), live
//!   [`ttl`](Passwordless::ttl) (15 minutes), only work for the address they were sent to,
//!   and are stored as keyed hashes. A code also belongs to the browser (or API client) that
//!   asked: it holds the signed id of the code, and another browser cannot use it. Each code
//!   takes at most [`max_code_attempts`](Passwordless::max_code_attempts) (5) tries.
//! - Every wrong code also counts against the account, from any client and across codes,
//!   in the shared cache store ([`pow_core::limits::factor_failed`]): after
//!   [`Lockout::max_factor_failures`](pow_core::limits::Lockout::max_factor_failures) (10)
//!   in a row the account is locked (the lock of failed passwords: an hour, a notice mail
//!   with an unlock link, an audit event). A right code clears the count. A locked
//!   account's codes and links sign nobody in (`429`).
//! - Known and unknown addresses get the same answer and the same work; mails per address
//!   are limited ([`mail_limit`](Passwordless::mail_limit), 3 per hour) on top of the
//!   per-client mail limit of [`RateLimits`](pow_core::limits::RateLimits). Nothing usable
//!   is made without its mail: when a limit stops the mail, the asker is answered the same,
//!   but no link exists and the code id leads to no code.
//! - Sessions record how they were made (`auth_method`: `magic_link`, `email_code`,
//!   `staged_sign_up`) and are not fresh: sudo mode asks for the password before sensitive
//!   changes.
//! - Users made here have a confirmed address (with `pow-ext-email-confirmation`, the
//!   confirmation columns are set).
//!
//! ## JSON
//!
//! The JSON endpoints are routes of the engine's JSON route table, served under the API
//! prefix by every framework layer that mounts the API, once the config enables the
//! extension.
//!
//! `POST <prefix>/passwordless/link` and `/passwordless/code` (`{"email": "..."}`) answer
//! `202` alike for every address; the code answer carries a `code_token`.
//! `POST <prefix>/passwordless/code/verify` (`{"code_token", "code"}`) and
//! `POST <prefix>/passwordless/link/{token}` answer a token pair.
//!
//! A staged sign-up over JSON: `POST <prefix>/passwordless/sign-up` (`{"email"}`, `202`
//! alike for every address) mails the link; the app reads the proven address with
//! `GET <prefix>/passwordless/sign-up/{token}` and completes the sign-up with
//! `POST <prefix>/passwordless/sign-up/{token}` (`{"user": {...}}`, a password optional):
//! a token pair, or `422` with field errors while the link keeps working. Point
//! [`SIGN_UP_LINK`] at the app with
//! [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link).

use std::time::Duration;

use pow_core::extension::ExtensionBuilder;
use pow_core::messages::LanguageIdentifier;
use pow_core::store::Limit;
use pow_core::views::{Link, PageBody};
use pow_core::{Extension, PowConfig};

/// The JSON endpoints on the engine's JSON routes, served by every framework.
mod api;
pub mod flows;
/// The pages on the engine's page routes, served by every framework.
mod pages;
mod store;

pub use flows::METHOD_KEY;

/// The passwordless controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_core::pipeline::{ActionId, ActionKind};

    /// `GET /passwordless`, `/passwordless/code/new`, `/passwordless/sign-up`: the forms.
    pub const NEW: ActionId = ActionId::new("passwordless", "new", ActionKind::Show);
    /// `POST /passwordless`, `/passwordless/code`, `/passwordless/sign-up`: mail a link or
    /// a code.
    pub const REQUEST: ActionId = ActionId::new("passwordless", "request", ActionKind::Other);
    /// `GET /passwordless/link/{token}`, `/passwordless/code`: the page that uses it.
    pub const SHOW: ActionId = ActionId::new("passwordless", "show", ActionKind::Show);
    /// `POST /passwordless/link/{token}`, `/passwordless/code/verify`: sign in.
    pub const SIGN_IN: ActionId = ActionId::new("passwordless", "sign_in", ActionKind::SignIn);
    /// `POST /passwordless/sign-up/{token}`: complete a staged sign-up.
    pub const COMPLETE: ActionId = ActionId::new("passwordless", "complete", ActionKind::Other);
    /// The JSON endpoints.
    pub const API: ActionId = ActionId::new("api_passwordless", "create", ActionKind::Other);
}

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_passwordless";
/// The sign-in link mail.
pub const MAIL_LINK: &str = "passwordless/link";
/// The sign-in code mail.
pub const MAIL_CODE: &str = "passwordless/code";

/// The sign-in link's kind, for
/// [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link): the
/// frontend sends the token to `POST <api>/passwordless/link/{token}`.
pub const LINK: pow_core::api::LinkKind = pow_core::api::LinkKind::new("passwordless_sign_in");

/// The staged sign-up link's kind, for
/// [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link): the
/// frontend reads the address with `GET <api>/passwordless/sign-up/{token}` and completes
/// the sign-up with `POST` to the same path.
pub const SIGN_UP_LINK: pow_core::api::LinkKind =
    pow_core::api::LinkKind::new("passwordless_sign_up");

const MESSAGES: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-passwordless.ftl")),
    ("de", include_str!("../locales/de/pow-ext-passwordless.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-passwordless.ftl")),
];

/// The passwordless extension; see the [crate docs](crate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passwordless {
    ttl: Duration,
    max_code_attempts: u32,
    mail_limit: Option<Limit>,
    sign_up: bool,
}

impl Default for Passwordless {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwordless {
    /// The extension with its defaults: links and codes live 15 minutes, 5 tries per code,
    /// 3 mails per address and hour, no sign-up from the sign-in forms.
    pub fn new() -> Self {
        Self {
            ttl: Duration::from_secs(15 * 60),
            max_code_attempts: 5,
            mail_limit: Some(Limit::MAILS_PER_ADDRESS),
            sign_up: false,
        }
    }

    /// How long a link or code works. The default is 15 minutes.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many tries a code takes before it is gone. The default is 5.
    pub fn max_code_attempts(mut self, attempts: u32) -> Self {
        self.max_code_attempts = attempts;
        self
    }

    /// Mails per address and window; `None` for no limit. The default is 3 per hour.
    pub fn mail_limit(mut self, limit: Option<Limit>) -> Self {
        self.mail_limit = limit;
        self
    }

    /// Whether an unknown address asking for a link or code gets one that creates the
    /// account when used (a user without a password). The default is `false`: unknown
    /// addresses get nothing (and the same answer).
    pub fn sign_up(mut self, enabled: bool) -> Self {
        self.sign_up = enabled;
        self
    }
}

/// The pages the extension renders, registered in its `build` (restyle them with
/// custom [`Views`](pow_core::views::Views)).
pub const PAGES: [pow_core::views::PageId; 6] = [
    pages::NEW_PAGE,
    pages::CODE_NEW_PAGE,
    pages::SIGN_UP_PAGE,
    pages::COMPLETE_PAGE,
    pages::LINK_PAGE,
    pages::CODE_PAGE,
];

impl Extension for Passwordless {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.pages(PAGES);
        ext.messages(MESSAGES.iter().copied())
            .mails([MAIL_LINK, MAIL_CODE])
            .mail_links([LINK, SIGN_UP_LINK])
            .page_extension(sign_in_links)
            .credential_kind("email_link")
            .staged_sign_up(self.clone());
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

/// The sign-in form, relative to the mount path.
pub(crate) const SIGN_IN_PATH: &str = "/passwordless";
/// The staged sign-up form, relative to the mount path.
pub(crate) const STAGED_PATH: &str = "/passwordless/sign-up";

/// The "sign in with a link" and "sign up with a link" links on the core pages.
fn sign_in_links(
    page: pow_core::views::PageId,
    body: &mut PageBody,
    lang: &LanguageIdentifier,
    config: &PowConfig,
) {
    let (key, path) = match page.as_str() {
        "session/new" => ("pow_passwordless_link_sign_in", SIGN_IN_PATH),
        "registration/new" => ("pow_passwordless_link_sign_up", STAGED_PATH),
        _ => return,
    };
    if let PageBody::Form { links, .. } = body {
        let label = config.messages().text(lang, key);
        links.push(Link::new(
            pow_core::config::extension_path(config, NAME, path, &[]),
            label,
        ));
    }
}

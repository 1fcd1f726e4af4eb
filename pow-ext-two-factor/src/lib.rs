//! pow-rs extension: a TOTP second factor (RFC 6238, the codes of authenticator apps) with
//! single-use recovery codes.
//!
//! **Guide**: [two-factor](https://github.com/pow-rs/pow-rs/blob/main/guides/two-factor.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! Enable it with one value; the HTML pages and the JSON endpoints come with it, on every
//! framework:
//!
//! ```
//! use pow_actix::PowConfig;
//! use pow_ext_two_factor::TwoFactor;
//!
//! let config = PowConfig::builder("s".repeat(64))
//!     .extension(TwoFactor::new().issuer("Example"))
//!     .build()
//!     .unwrap();
//! assert!(config.extensions().contains("pow_two_factor"));
//! ```
//!
//! ## What users see
//!
//! - **Enrolment**, `GET /two-factor` (linked from the account page; needs a fresh password,
//!   sudo mode): a QR code drawn on the server as SVG and the key as text, for any
//!   authenticator app; the first code it shows turns the second factor on, and the page
//!   then shows 10 recovery codes, once. Only their keyed hashes are stored.
//! - **Sign-in**: after the right password, a user with a second factor is not signed in
//!   yet. The browser gets a pending sign-in (a random id, signed, in its cookie session;
//!   the record lives [`pending_ttl`](TwoFactor::pending_ttl), 5 minutes by default) and the
//!   page `/two-factor/verify` asks for a code or a recovery code. The right one signs the
//!   user in (a fresh session: sudo mode counts from here) and only then does a ticked
//!   "keep me signed in" get its remember-me cookie. A pending sign-in is used once, takes
//!   at most [`max_attempts`](TwoFactor::max_attempts) codes (5), and belongs to the
//!   browser that started it. A session restored from a remember-me cookie asks for
//!   nothing more. A completed sign-up that signs in (an accepted invitation) asks for
//!   the second factor too.
//! - **Per account**: every wrong code also counts against the account, across pending
//!   sign-ins and clients, in the shared cache store ([`pow_core::limits::factor_failed`]);
//!   a correct password does not clear the count, a right code does. After
//!   [`Lockout::max_factor_failures`](pow_core::limits::Lockout::max_factor_failures) (10)
//!   in a row the account is locked as after too many wrong passwords (an hour, a notice
//!   mail, an audit event), and its pending sign-ins are refused (`429`).
//! - **Codes**: a TOTP code is accepted for its 30-second step and one step either side,
//!   compared in constant time, and works once: the step is claimed atomically in the cache
//!   store, so a replayed code is refused, also under concurrent use. A recovery code works
//!   once (claimed atomically, then removed from the user).
//! - **Settings**: new recovery codes and turning the second factor off, both in sudo mode.
//!
//! The pages are routes of the engine's page table: every framework layer mounts them with
//! its pages, and they answer alike on each.
//!
//! ## JSON
//!
//! The JSON endpoints are routes of the engine's JSON route table, served under the API
//! prefix by every framework layer that mounts the API, once the config enables the
//! extension. `POST <prefix>/session` answers a user with a second
//! factor `401` with code `second_factor_required` and the pending step `second_factor`
//! (`data.pending`: its `methods` and a `token`, signed, single use, 5 minutes);
//! `POST <prefix>/two-factor/verify` with `{"second_factor_token": "<token>", "code":
//! "123456"}` answers the token pair.
//!
//! ## Columns
//!
//! The migration (version `20260301000000`, SQLite and PostgreSQL) adds `totp_secret`,
//! `totp_enabled_at` and `totp_recovery_codes` (a JSON list of keyed hashes).
//!
//! ## Ordering
//!
//! Add it before `pow-ext-persistent-session` (the registry checks): a sign-in that still
//! needs its second step must not get a remember-me cookie.

use std::time::Duration;

use pow_core::extension::{ExtensionBuilder, Requirement, SqlMigration};
use pow_core::messages::LanguageIdentifier;
use pow_core::users::{FieldDef, FieldKind};
use pow_core::views::{Link, PageBody};
use pow_core::{Extension, PowConfig};

/// The JSON endpoints on the engine's JSON routes, served by every framework.
mod api;
pub mod flows;
/// The pages on the engine's page routes, served by every framework.
mod pages;
mod state;
mod store;
pub mod totp;

pub use state::{is_enabled, recovery_codes_left};

/// The second step of a sign-in.
pub(crate) const VERIFY_PATH: &str = "/two-factor/verify";
/// A signed-in user proves the second factor again, for a step-up rule.
pub(crate) const STEP_UP_PATH: &str = "/two-factor/step-up";
/// Salt of the signed pending-sign-in id (in the cookie session, and the API's token).
pub(crate) const PENDING_SALT: &str = "pow two-factor pending sign-in";
/// The checkbox of `pow-ext-persistent-session`, carried through the second step.
pub(crate) const PERSIST_FIELD: &str = "persistent_session";

/// The two-factor controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_core::pipeline::{ActionId, ActionKind};

    /// `GET /two-factor`: enrolment, or the settings once enabled.
    pub const SETTINGS: ActionId = ActionId::new("two_factor", "show", ActionKind::Show);
    /// `POST /two-factor`: confirm the first code and turn the second factor on.
    pub const ENABLE: ActionId = ActionId::new("two_factor", "create", ActionKind::Other);
    /// `POST /two-factor/recovery-codes`: new recovery codes.
    pub const CODES: ActionId = ActionId::new("two_factor", "codes", ActionKind::Other);
    /// `POST /two-factor/disable`: turn the second factor off.
    pub const DISABLE: ActionId = ActionId::new("two_factor", "delete", ActionKind::Other);
    /// `GET /two-factor/verify`: the second step's page.
    pub const VERIFY_NEW: ActionId = ActionId::new("two_factor_verify", "new", ActionKind::Show);
    /// `POST /two-factor/verify`: the second step; a sign-in when it succeeds.
    pub const VERIFY: ActionId = ActionId::new("two_factor_verify", "create", ActionKind::SignIn);
    /// `GET /two-factor/step-up`: the page asking a signed-in user for a code, for a
    /// step-up rule.
    pub const STEP_UP_NEW: ActionId = ActionId::new("two_factor_step_up", "new", ActionKind::Show);
    /// `POST /two-factor/step-up`: a code proving the second factor again.
    pub const STEP_UP: ActionId = ActionId::new("two_factor_step_up", "create", ActionKind::Other);
    /// `POST <api prefix>/two-factor/step-up` (JSON).
    pub const API_STEP_UP: ActionId =
        ActionId::new("api_two_factor_step_up", "create", ActionKind::Other);
    /// `GET <api prefix>/two-factor` (JSON): the state, or a new enrolment's secret.
    pub const API_SETTINGS: ActionId = ActionId::new("api_two_factor", "show", ActionKind::Show);
    /// `POST <api prefix>/two-factor` (JSON): confirm the first code.
    pub const API_ENABLE: ActionId = ActionId::new("api_two_factor", "create", ActionKind::Other);
    /// `POST <api prefix>/two-factor/recovery-codes` (JSON): new recovery codes.
    pub const API_CODES: ActionId = ActionId::new("api_two_factor", "codes", ActionKind::Other);
    /// `DELETE <api prefix>/two-factor` (JSON): turn it off.
    pub const API_DISABLE: ActionId = ActionId::new("api_two_factor", "delete", ActionKind::Other);
    /// `POST <api prefix>/two-factor/verify` (JSON).
    pub const API_VERIFY: ActionId =
        ActionId::new("api_two_factor_verify", "create", ActionKind::Other);
}

pub(crate) fn path(config: &PowConfig, pattern: &str) -> String {
    pow_core::config::extension_path(config, NAME, pattern, &[])
}

pub(crate) fn pending_key(config: &PowConfig) -> String {
    config.namespaced("pow_two_factor_pending")
}

/// Audit events of the extension.
pub mod events {
    use pow_core::audit::EventName;

    /// The second factor was turned on.
    pub const ENABLED: EventName = EventName::new("two_factor.enabled");
    /// The second factor was turned off.
    pub const DISABLED: EventName = EventName::new("two_factor.disabled");
    /// New recovery codes replaced the old ones.
    pub const CODES_REGENERATED: EventName =
        EventName::new("two_factor.recovery_codes_regenerated");
    /// A sign-in passed its second step (`detail.method`: `totp` or `recovery_code`).
    pub const VERIFIED: EventName = EventName::new("two_factor.verified");
    /// A wrong or reused code was given for a pending sign-in.
    pub const FAILED: EventName = EventName::new("two_factor.failed");
}

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_two_factor";
/// Column holding the TOTP secret (base32).
pub const SECRET_FIELD: &str = "totp_secret";
/// Column holding when the second factor was turned on (`NULL`: off).
pub const ENABLED_AT_FIELD: &str = "totp_enabled_at";
/// Column holding the keyed hashes of the unused recovery codes (a JSON list).
pub const RECOVERY_CODES_FIELD: &str = "totp_recovery_codes";

/// The persistent-session extension's name: it must come after this one.
const PERSISTENT_SESSION: &str = "pow_persistent_session";

/// The extension's migrations: the three user columns.
pub const MIGRATIONS: &[SqlMigration] = &[pow_core::sql_migration!(
    "20260301000000",
    "add_pow_two_factor_to_users",
    portable
)];

const MESSAGES: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-two-factor.ftl")),
    ("de", include_str!("../locales/de/pow-ext-two-factor.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-two-factor.ftl")),
];

/// The two-factor extension; see the [crate docs](crate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwoFactor {
    issuer: String,
    pending_ttl: Duration,
    max_attempts: u32,
    recovery_codes: usize,
}

impl Default for TwoFactor {
    fn default() -> Self {
        Self::new()
    }
}

impl TwoFactor {
    /// The extension with its defaults: issuer `"pow-rs"`, pending sign-ins of 5 minutes
    /// taking at most 5 codes, 10 recovery codes.
    pub fn new() -> Self {
        Self {
            issuer: "pow-rs".to_owned(),
            pending_ttl: Duration::from_secs(5 * 60),
            max_attempts: 5,
            recovery_codes: 10,
        }
    }

    /// The name authenticator apps show next to the account (your app's name).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// How long a sign-in waits for its second step. The default is 5 minutes.
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }

    /// How many codes one pending sign-in may try. The default is 5.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// How many recovery codes a user gets. The default is 10.
    pub fn recovery_codes(mut self, count: usize) -> Self {
        self.recovery_codes = count.max(1);
        self
    }
}

/// The pages the extension renders, registered in its `build` (restyle them with
/// custom [`Views`](pow_core::views::Views)).
pub const PAGES: [pow_core::views::PageId; 5] = [
    pow_core::views::PageId::new("two_factor/verify"),
    pow_core::views::PageId::new("two_factor/new"),
    pow_core::views::PageId::new("two_factor/show"),
    pow_core::views::PageId::new("two_factor/codes"),
    pow_core::views::PageId::new("two_factor/step_up"),
];

impl Extension for TwoFactor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.pages(PAGES);
        ext.user_fields([
            // The seed never reaches the session cache: checking a code reads the row.
            FieldDef::new(SECRET_FIELD, FieldKind::Text).secret(),
            FieldDef::new(ENABLED_AT_FIELD, FieldKind::Timestamp),
            FieldDef::new(RECOVERY_CODES_FIELD, FieldKind::Text).not_exported(),
        ])
        .migrations(MIGRATIONS)
        .user_data(state::Export)
        .factor_enrolment(state::Enrolment)
        .audit_events([
            events::ENABLED,
            events::DISABLED,
            events::CODES_REGENERATED,
            events::VERIFIED,
            events::FAILED,
        ])
        .messages(MESSAGES.iter().copied())
        .requires(Requirement::Before {
            name: PERSISTENT_SESSION,
            why: "a sign-in still waiting for its second factor must not get a remember-me \
                  cookie",
        })
        .page_extension(settings_link)
        .callbacks(self.clone())
        .step_up_page(pow_core::session::AuthMethod::TOTP, step_up_path)
        .step_up_page(pow_core::session::AuthMethod::RECOVERY_CODE, step_up_path);
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        ext.api_hooks(self.clone());
        ext.api_document(pow_core::api::openapi_fragment(
            NAME,
            include_str!("../openapi.json"),
        ));
    }
}

/// The page proving a TOTP or recovery code for a step-up rule.
fn step_up_path(config: &PowConfig) -> String {
    pow_core::config::extension_path(config, NAME, STEP_UP_PATH, &[])
}

/// The link to the two-factor settings on the account page.
/// The enrolment and settings page, relative to the mount path.
pub(crate) const SETTINGS_PATH: &str = "/two-factor";

/// The enrolment and settings page.
pub(crate) fn settings_path(config: &PowConfig) -> String {
    pow_core::config::extension_path(config, NAME, SETTINGS_PATH, &[])
}

fn settings_link(
    page: pow_core::views::PageId,
    body: &mut PageBody,
    lang: &LanguageIdentifier,
    config: &PowConfig,
) {
    if page != "registration/edit" {
        return;
    }
    if let PageBody::Form { links, .. } = body {
        let label = config.messages().text(lang, "pow_two_factor_link");
        links.push(Link::new(settings_path(config), label));
    }
}

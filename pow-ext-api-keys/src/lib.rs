//! # pow-ext-api-keys
//!
//! Scoped API keys for scripts, CI jobs and integrations: machine access that is neither a
//! browser session nor an app's token pair.
//!
//! **Guide**: [API keys](https://github.com/pow-rs/pow-rs/blob/main/guides/api-keys.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! - A signed-in user makes a key (a sudo-fresh session: `POST <api>/api-keys`) with a name,
//!   scopes from the list the app declares ([`ApiKeys::scopes`]; an unknown scope is
//!   refused) and a lifetime (90 days by default, at most 365). The key,
//!   `pow_<id>_<secret>`, is shown once: secret scanners and log filters find it by its
//!   prefix, and the database keeps only a keyed hash of its secret under the key ring (a
//!   dump opens nothing; a rotated secret key base keeps keys working).
//! - A client sends it as `Authorization: Bearer pow_...` or `X-Api-Key: pow_...`. The key
//!   is its own kind of principal ([`flows::Authenticated`], the `ApiKey` extractor of the
//!   framework features), never a session: it meets no sudo mode or step-up rule.
//!   Its shape is checked and the rate limit counted (per client and per key, once per
//!   request) before anything is looked up, and a key this setup never made fails a keyed
//!   check without a database query. `last_used` is written at most once a minute.
//! - Keys die with their owner: a closed, disabled or erased account's keys stop working on
//!   their next request. Listing, renaming, revoking and rotating (with an optional
//!   overlap) are JSON endpoints on every framework; making, first use, rotation and
//!   revocation are audited; the account's export lists the keys (names, scopes, dates,
//!   never secrets) and its erasure deletes them.
//!
//! ```
//! use pow_ext_api_keys::ApiKeys;
//!
//! let keys = ApiKeys::new().scopes(["reports:read", "reports:write"]);
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(keys)
//!     .build()?;
//! assert!(config.extensions().contains("pow_api_keys"));
//! # Ok::<_, pow_core::PowError>(())
//! ```
//!
//! ## Pages
//!
//! `GET /api-keys` lists the signed-in user's keys, each with a revoke button, beside a
//! form making a new one (sudo mode); the key made is shown once on the page that follows
//! ([`pages`]).
//!
//! ## JSON API
//!
//! | Method | Path | Action |
//! |---|---|---|
//! | `GET` | `<api>/api-keys` | the signed-in user's keys (`meta.scopes`: the scopes the app offers) |
//! | `POST` | `<api>/api-keys` | `{"name", "scopes": [...], "expires_in_days"}` (sudo mode): `201` with `key`, shown once |
//! | `PATCH` | `<api>/api-keys/{id}` | `{"name"}`: renames it |
//! | `DELETE` | `<api>/api-keys/{id}` | revokes it at once |
//! | `POST` | `<api>/api-keys/{id}/rotate` | `{"overlap_secs"}` (sudo mode): a new key of the same name and scopes; the old one works on for the overlap |
//!
//! ## Organizations' keys
//!
//! With the `organizations` feature and an extension that keeps organizations enabled
//! (`pow-ext-organizations`, which registers them with the core as the
//! [`ORGANIZATION`](pow_core::extension::principal::ORGANIZATION) kind of
//! [`OwningPrincipal`](pow_core::extension::principal::OwningPrincipal); this crate does
//! not depend on it), a member whose role allows `api_keys:manage` (admins and above by
//! default) makes keys of the organization: `GET`/`POST <api>/organizations/{slug}/api-keys`, `DELETE
//! <api>/organizations/{slug}/api-keys/{id}`, and the page `GET
//! /organizations/{slug}/api-keys`. Such a key acts for the organization with at most its
//! maker's role there as stored now ([`flows::Authenticated::organization`]): a demotion
//! limits it at once, and the maker's removal or the organization's closure ends it on its
//! next request.
//!
//! A request with a key is refused with `401` and the code `api_key_malformed`,
//! `api_key_unknown`, `api_key_expired` or `api_key_revoked`, `403 insufficient_scope` for
//! a scope the key lacks, `429 rate_limited` over the limit ([`KeyRefusal`]).
//!
//! ## Features
#![doc = document_features::document_features!()]

use std::sync::Arc;
use std::time::Duration;

use pow_core::extension::{ExtensionBuilder, SqlMigration, UserData};
use pow_core::messages::LanguageIdentifier;
use pow_core::store::Limit;
use pow_core::users::User;
use pow_core::{Extension, PowConfig, PowError};

mod api;
pub mod flows;
pub mod key;
mod mail;
pub mod pages;
mod records;
mod store;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;

pub use store::{queries, StoredKey};

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_api_keys";

/// The extension's migrations: the `api_keys` table (with the organization a key acts for,
/// if any).
pub const MIGRATIONS: &[SqlMigration] = &[
    pow_core::sql_migration!("20270101000000", "create_api_keys", portable),
    pow_core::sql_migration!(
        "20270301000000",
        "add_organization_id_to_api_keys",
        portable
    ),
];

/// The notice mail of a key made for the account.
pub const MAIL_CREATED: &str = "api_keys/created";

/// The default lifetime of a key: 90 days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// The longest lifetime of a key by default: 365 days.
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// The longest overlap of a rotation: 7 days.
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// The extension's Fluent files, as `(language, source)`.
pub const FTL: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-api-keys.ftl")),
    ("de", include_str!("../locales/de/pow-ext-api-keys.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-api-keys.ftl")),
];

/// The extension's audit events.
pub mod events {
    use pow_core::audit::EventName;

    /// A key was made (`detail.key`: its id).
    pub const CREATED: EventName = EventName::new("api_key.created");
    /// A key was used for the first time.
    pub const FIRST_USED: EventName = EventName::new("api_key.first_used");
    /// A key was revoked.
    pub const REVOKED: EventName = EventName::new("api_key.revoked");
    /// A key was replaced by a new one (`detail.new_key`).
    pub const ROTATED: EventName = EventName::new("api_key.rotated");
}

/// The API-keys extension and its settings. Each setter says its default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeys {
    scopes: Vec<String>,
    default_ttl: Duration,
    max_ttl: Duration,
    max_overlap: Duration,
    rate_limit: Limit,
}

impl Default for ApiKeys {
    fn default() -> Self {
        Self {
            scopes: Vec::new(),
            default_ttl: DEFAULT_TTL,
            max_ttl: MAX_TTL,
            max_overlap: MAX_OVERLAP,
            rate_limit: Limit::new(600, Duration::from_secs(60)),
        }
    }
}

impl ApiKeys {
    /// The defaults: no scope declared yet (declare the app's with [`scopes`](Self::scopes)).
    pub fn new() -> Self {
        Self::default()
    }

    /// The scopes a key may have (`"reports:read"`): a key with another is refused. The
    /// default is none, which leaves no key to make.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How long a key lives when its maker says nothing. The default is 90 days; it is
    /// capped at [`max_ttl`](Self::max_ttl).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The longest a key may live. The default is 365 days.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self.default_ttl = self.default_ttl.min(ttl);
        self
    }

    /// Requests with keys a client, and a key, may send (each counted once per request,
    /// before any lookup). The default is 600 a minute.
    pub fn rate_limit(mut self, limit: Limit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// The declared scopes.
    pub fn declared_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `scope` is declared.
    pub fn declares(&self, scope: &str) -> bool {
        self.scopes.iter().any(|have| have == scope)
    }

    /// The settings enabled in `config`, if the extension is.
    pub fn of(config: &PowConfig) -> Option<&ApiKeys> {
        Registered::of(config).and_then(|registered| registered.keys.as_ref())
    }
}

/// The settings, the table's query count and what the process keeps between requests
/// of a setup, kept in the builder's type map.
#[derive(Default)]
pub(crate) struct Registered {
    pub(crate) keys: Option<ApiKeys>,
    pub(crate) queries: Arc<std::sync::atomic::AtomicU64>,
    hot: std::sync::OnceLock<records::Hot>,
}

impl Registered {
    /// What `config`'s extension registered.
    pub(crate) fn of(config: &PowConfig) -> Option<&Registered> {
        config
            .extensions()
            .sides::<Registered>()
            .find(|registered| registered.keys.is_some())
    }

    /// What the process keeps between `config`'s requests, made on the first.
    pub(crate) fn hot(&self, config: &PowConfig) -> &records::Hot {
        self.hot.get_or_init(|| records::Hot::new(config))
    }
}

/// Why a request's key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRefusal {
    /// It does not have a key's shape.
    Malformed,
    /// No key of this setup (made up, or deleted).
    Unknown,
    /// Past its lifetime.
    Expired,
    /// Revoked, or its owner's account is closed, disabled or gone.
    Revoked,
    /// It lacks the scope the route asks for.
    Scope,
    /// The client or the key is over the rate limit.
    RateLimited,
}

impl KeyRefusal {
    /// The JSON answer's code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "api_key_malformed",
            Self::Unknown => "api_key_unknown",
            Self::Expired => "api_key_expired",
            Self::Revoked => "api_key_revoked",
            Self::Scope => "insufficient_scope",
            Self::RateLimited => "rate_limited",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::Scope => 403,
            Self::RateLimited => 429,
            _ => 401,
        }
    }

    /// The API's error answer, translated into `lang`.
    pub fn answer(self, config: &PowConfig, lang: &LanguageIdentifier) -> pow_core::api::ApiError {
        let key = match self {
            Self::Malformed => "pow_api_keys_malformed",
            Self::Unknown => "pow_api_keys_unknown",
            Self::Expired => "pow_api_keys_expired",
            Self::Revoked => "pow_api_keys_revoked_key",
            Self::Scope => "pow_api_keys_scope",
            Self::RateLimited => "api-rate-limited",
        };
        let answer = pow_core::api::ApiError::translated(Some(config), lang, self.status(), key)
            .with_code(self.code());
        match self {
            Self::RateLimited => answer.with_retry_after(60),
            Self::Scope => answer,
            _ => answer.with_challenge("Bearer"),
        }
    }
}

/// The header a key may come in instead of `Authorization: Bearer` (lowercase, as HTTP/2
/// sends header names).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The key a request carries: `Authorization: Bearer pow_...` (a bearer value of another
/// shape is an app token pair's, not a key) or `X-Api-Key`.
pub fn presented<'a>(
    authorization: Option<&'a str>,
    x_api_key: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = authorization
        .and_then(pow_core::api::routes::bearer_of)
        .filter(|token| token.starts_with(key::PREFIX));
    bearer.or(x_api_key.map(str::trim))
}

impl Extension for ApiKeys {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.side::<Registered>().keys = Some(self.clone());
        ext.migrations(MIGRATIONS)
            .messages(FTL.iter().copied())
            .mails([MAIL_CREATED])
            .audit_events([
                events::CREATED,
                events::FIRST_USED,
                events::REVOKED,
                events::ROTATED,
            ])
            .user_table("api_keys", "user_id")
            .user_data(KeyData)
            .on_credentials_revoked(records::ForgetOnRevocation);
        ext.pages([pages::PAGE]).page_extension(pages::account_link);
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        let mut document = pow_core::api::openapi_fragment(NAME, include_str!("../openapi.json"));
        // The organizations' key routes are there with the `organizations` feature only.
        if !cfg!(feature = "organizations") {
            if let Some(paths) = document
                .as_mut()
                .and_then(|doc| doc.get_mut("paths"))
                .and_then(serde_json::Value::as_object_mut)
            {
                paths.retain(|path, _| !path.starts_with("/organizations/"));
            }
        }
        ext.api_document(document);
    }
}

/// The keys in the account's export (never their secrets), and gone with its erasure.
struct KeyData;

#[async_trait::async_trait]
impl UserData for KeyData {
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        Ok(serde_json::json!(flows::list(config, user).await?))
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        let keys = store::Keys::new(config)?;
        for id in keys.ids_of_user(user.id).await? {
            records::forget(config, &id).await?;
        }
        keys.delete_for_user(user.id).await
    }
}

/// The settings, shared by the routes.
pub(crate) type Shared = Arc<ApiKeys>;

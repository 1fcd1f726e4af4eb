//! pow-rs extension: sign in with OAuth 2.0 and OpenID Connect providers — any OpenID
//! Connect issuer, Google, GitHub — and link provider accounts to existing users.
//!
//! **Guide**: [OAuth and OpenID Connect sign-in](https://github.com/pow-rs/pow-rs/blob/main/guides/oauth.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! One value in the config enables it, with its providers:
//!
//! ```
//! use pow_actix::PowConfig;
//! use pow_ext_oauth::{OAuth, Provider};
//!
//! let oauth = OAuth::new()
//!     .provider(Provider::github("client-id", "client-secret"))?
//!     .provider(Provider::openid_connect(
//!         "corp", "Corp SSO", "https://sso.example.com", "client-id", "client-secret",
//!     ))?;
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(oauth)
//!     .build()?;
//! assert!(config.extensions().contains("pow_oauth"));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! Register `https://<your app>/auth/<provider id>/callback` as the redirect URL at each
//! provider. Provider accounts live in the `user_identities` table (provider, uid, user;
//! unique per provider and uid), created by the extension's migrations for SQLite and
//! PostgreSQL.
//!
//! ## Pages
//!
//! | Route | What it does |
//! |---|---|
//! | `GET /auth/{provider}/new` | off to the provider to sign in or sign up (linked from the sign-in and sign-up pages) |
//! | `GET /auth/{provider}/callback` | the provider's answer: signs in, signs up, or links |
//! | `GET /auth/identities` | the linked accounts (linked from the account page) |
//! | `POST /auth/{provider}/link` | off to the provider to link an account (sudo mode) |
//! | `POST /auth/{provider}/unlink` | unlink one (sudo mode); the last way to sign in stays |
//!
//! They are routes of the engine's page table: every framework layer mounts them with its
//! pages, and they answer alike on each. A routes
//! backend may move them; the links and the callback URL follow.
//!
//! ## Flows
//!
//! - A linked provider account signs its user in (a second factor and an unconfirmed
//!   address are handled as for a password sign-in).
//! - An unlinked one signs up a new user without a password, with the provider's address.
//!   An address the provider vouches for (`email_verified`, GitHub's verified primary
//!   address) counts as confirmed and the provider account is linked at once. Otherwise
//!   the provider account is linked only once the address is proven in the browser that
//!   signed up: email confirmation's link opened there, or — with
//!   [`OAuth::staged_sign_up`] — the passwordless extension's link that proves the address
//!   and opens the sign-up form prefilled from the profile. (Linked at once, a stranger's
//!   provider account would sign in to the account the address's owner later confirms or
//!   resets: a pre-account takeover.) Without either, an unverified address is refused.
//! - An address that belongs to an account is never linked silently: the user is asked
//!   to sign in to that account first and link the provider from the account page. When
//!   the provider does not vouch for the address and user enumeration protection is on,
//!   the answer is that of a new address instead, so it does not tell which addresses
//!   have accounts.
//!
//! ## Security
//!
//! - Authorization code flow with PKCE (S256). The `state` is random, bound to the
//!   browser (its cookie session holds it) and single use (the sign-in record is taken
//!   atomically from the store, keyed by the state's SHA-256); a forged, replayed or
//!   another browser's state is refused before any code is exchanged.
//! - ID tokens are checked by `openidconnect`: signature by the provider's published keys
//!   (asymmetric algorithms only), issuer, audience, expiry and the `nonce` of this
//!   sign-in.
//! - Provider requests run on a blocking thread, follow no redirects and time out
//!   ([`OAuth::timeout`]).
//! - Linking and unlinking need sudo mode, and mail the user a security notice. With
//!   email confirmation enabled, only a user with a confirmed address can link; when an
//!   address is confirmed for the first time, provider accounts linked before are
//!   unlinked.
//!
//! ## JSON
//!
//! Enabling the extension in the config enables its JSON endpoints under the API prefix,
//! on every framework that serves the API (the routes are the engine's, like the pages).
//! For apps that open the provider's page themselves (redirect URIs allowed with
//! [`OAuth::api_redirect_uri`]): `POST <prefix>/auth/{provider}/authorize`
//! (`{"redirect_uri"}`, optional) answers `{"url", "state"}`; `POST
//! <prefix>/auth/{provider}/callback` (`{"code", "state"}`) answers a token pair for the
//! linked user or a user signed up from the profile (`409 email_taken` for an address
//! the provider vouches for, `403 email_unverified` for every address it does not, `401 invalid_state` / `invalid_id_token`, `502
//! provider_unavailable` otherwise). The state works once, and only through the API.
//!
//! ## Cargo features
//!
#![doc = document_features::document_features!()]

use std::time::Duration;

use pow_core::extension::{Capability, ExtensionBuilder, Requirement, SqlMigration};
use pow_core::messages::{LanguageIdentifier, MessageArg};
use pow_core::views::{Link, PageBody};
use pow_core::{Extension, PowConfig, PowError};

mod api;
mod callbacks;
// The work of the pages and the JSON endpoints beside its public flows.
pub mod flow;
mod identities;
mod mail;
mod pages;
mod pending;
mod provider;
mod store;

/// For an app's tests, a local OpenID Connect provider (feature `test-util`), on any web
/// framework.
#[cfg(feature = "test-util")]
pub mod testing;
pub use flow::actions;
pub use identities::Identity;
pub use provider::{Profile, Provider};

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_oauth";
/// The notice mailed when a provider account was linked.
pub const MAIL_LINKED: &str = "oauth/linked";
/// The notice mailed when a provider account was unlinked.
pub const MAIL_UNLINKED: &str = "oauth/unlinked";

/// The `user_identities` table, for SQLite and PostgreSQL.
pub const MIGRATIONS: &[SqlMigration] = &[pow_core::sql_migration!(
    "20260401000000",
    "create_user_identities"
)];

const MESSAGES: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-oauth.ftl")),
    ("de", include_str!("../locales/de/pow-ext-oauth.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-oauth.ftl")),
];

/// What went wrong with a provider or the extension's setup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The extension or a provider is set up wrongly.
    #[error("OAuth setup: {0}")]
    Config(String),
    /// The provider could not be reached (network, timeout, discovery).
    #[error("OAuth provider unreachable: {0}")]
    Unreachable(String),
    /// The provider answered with an error (a code it does not accept, say).
    #[error("OAuth provider refused: {0}")]
    Refused(String),
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce).
    #[error("invalid ID token: {0}")]
    InvalidIdToken(String),
    /// The provider's answer could not be read.
    #[error("unreadable OAuth provider answer: {0}")]
    Malformed(String),
}

/// The OAuth extension; see the [crate docs](crate).
#[derive(Clone, Debug)]
pub struct OAuth {
    providers: Vec<Provider>,
    ttl: Duration,
    timeout: Duration,
    staged_sign_up: bool,
    api_redirect_uris: Vec<String>,
    http: provider::Http,
}

impl std::fmt::Debug for provider::Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

/// What a client may offer, listed by `GET /config` under `extension_details.pow_oauth`:
/// `{"providers": [{"id", "name"}]}`.
#[async_trait::async_trait]
impl pow_core::api::TokenHooks for OAuth {
    fn describe(&self, _config: &PowConfig) -> Option<serde_json::Value> {
        let providers: Vec<serde_json::Value> = self
            .providers
            .iter()
            .map(|p| serde_json::json!({ "id": p.id(), "name": p.name() }))
            .collect();
        Some(serde_json::json!({ "providers": providers }))
    }
}

impl Default for OAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl OAuth {
    /// The extension without providers: sign-ins wait 10 minutes for the provider's
    /// answer; provider requests time out after 10 seconds.
    pub fn new() -> Self {
        let timeout = Duration::from_secs(10);
        Self {
            providers: Vec::new(),
            ttl: Duration::from_secs(10 * 60),
            timeout,
            staged_sign_up: false,
            api_redirect_uris: Vec::new(),
            http: provider::Http::new(timeout),
        }
    }

    /// Adds a provider.
    ///
    /// # Errors
    /// [`OAuthError::Config`] when its id is not 1 to 32 characters from `[a-z0-9_-]`, is
    /// taken by another provider, or one of its URLs does not parse.
    pub fn provider(mut self, provider: Provider) -> Result<Self, OAuthError> {
        provider.check().map_err(OAuthError::Config)?;
        if self.providers.iter().any(|p| p.id == provider.id) {
            return Err(OAuthError::Config(format!(
                "two OAuth providers are named `{}`",
                provider.id
            )));
        }
        self.providers.push(provider);
        Ok(self)
    }

    /// The providers, in order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// How long a sign-in waits for the provider's answer. The default is 10 minutes.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a request to a provider may take. The default is 10 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.http = provider::Http::new(timeout);
        self
    }

    /// Signs up users whose provider did not verify their address through a staged sign-up
    /// (the passwordless extension's; enable it in the config too): the address gets a
    /// link, the form opens prefilled from the provider's profile (its `name`, when the
    /// app has such a castable user field), and the provider account is linked when the
    /// form creates the user in the browser that began it.
    pub fn staged_sign_up(mut self, on: bool) -> Self {
        self.staged_sign_up = on;
        self
    }

    /// Allows `uri` as the redirect URI of sign-ins begun through the JSON API (an app's
    /// `com.example.app:/oauth` or a single-page app's `https://app.example.com/oauth`);
    /// register it with each provider. Without one the JSON endpoints refuse to begin.
    pub fn api_redirect_uri(mut self, uri: &str) -> Self {
        self.api_redirect_uris.push(uri.to_owned());
        self
    }

    /// The provider accounts linked to the user, oldest first.
    ///
    /// # Errors
    /// [`PowError::Config`] when the users context is not the diesel one; the database's
    /// error.
    pub async fn identities(
        &self,
        config: &PowConfig,
        user_id: i64,
    ) -> Result<Vec<Identity>, PowError> {
        identities::Identities::new(config)?.for_user(user_id).await
    }
}

/// The pages the extension renders, registered in its `build` (restyle them with
/// custom [`Views`](pow_core::views::Views)): the linked accounts (`oauth/index`) and the
/// `404` page answering a provider the setup does not offer (`oauth/not_found`).
pub const PAGES: [pow_core::views::PageId; 2] = [pages::INDEX_PAGE, pages::NOT_FOUND_PAGE];

impl Extension for OAuth {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.pages(PAGES);
        let pages = self.clone();
        ext.migrations(MIGRATIONS)
            .messages(MESSAGES.iter().copied())
            .mails([MAIL_LINKED, MAIL_UNLINKED])
            .audit_events([
                events::SIGNED_IN,
                events::REGISTERED,
                events::LINKED,
                events::UNLINKED,
            ])
            .page_extension(move |page, body, lang, config| {
                pages.extend_page(page, body, lang, config)
            })
            .credential_kind(CREDENTIAL_KIND)
            .user_data(identities::LinkedAccounts)
            .user_table("user_identities", "user_id")
            .callbacks(self.clone());
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        ext.api_hooks(self.clone())
            .api_document(pow_core::api::openapi_fragment(
                NAME,
                include_str!("../openapi.json"),
            ));
        if self.staged_sign_up {
            ext.requires(Requirement::Capability {
                capability: Capability::StagedSignUp,
                why: "staged_sign_up(true) mails unverified addresses a staged sign-up link",
            });
        }
    }
}

/// Audit events of the extension (`detail.provider`: the provider's id).
pub mod events {
    use pow_core::audit::EventName;

    /// A provider account signed its user in.
    pub const SIGNED_IN: EventName = EventName::new("oauth.signed_in");
    /// A provider account signed a new user up.
    pub const REGISTERED: EventName = EventName::new("oauth.registered");
    /// A provider account was linked to a user.
    pub const LINKED: EventName = EventName::new("oauth.linked");
    /// A provider account was unlinked (`detail.reason` when the extension did it).
    pub const UNLINKED: EventName = EventName::new("oauth.unlinked");
}

/// The linked accounts page, relative to the mount path.
pub(crate) const IDENTITIES_PATH: &str = "/auth/identities";

/// The way to sign in this extension adds: a provider account.
pub(crate) const CREDENTIAL_KIND: &str = "provider";

impl OAuth {
    /// The provider buttons on the sign-in and sign-up pages, and the link to the linked
    /// accounts on the account page.
    fn extend_page(
        &self,
        page: pow_core::views::PageId,
        body: &mut PageBody,
        lang: &LanguageIdentifier,
        config: &PowConfig,
    ) {
        let PageBody::Form { links, .. } = body else {
            return;
        };
        match page.as_str() {
            "session/new" | "registration/new" => {
                for provider in &self.providers {
                    let label = config
                        .messages()
                        .message(
                            lang,
                            "pow_oauth_link_sign_in",
                            &[("provider", MessageArg::from(provider.name()))],
                        )
                        .unwrap_or_else(|| provider.name().to_owned());
                    links.push(Link::new(
                        pow_core::config::extension_path(
                            config,
                            NAME,
                            "/auth/{provider}/new",
                            &[("provider", provider.id())],
                        ),
                        label,
                    ));
                }
            }
            "registration/edit" if !self.providers.is_empty() => {
                let label = config.messages().text(lang, "pow_oauth_link_identities");
                let path = pow_core::config::extension_path(config, NAME, IDENTITIES_PATH, &[]);
                links.push(Link::new(path, label));
            }
            _ => {}
        }
    }
}

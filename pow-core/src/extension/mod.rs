//! The extension contract: the [`Extension`] trait, the [`ExtensionBuilder`] it registers
//! on, the hooks that receive the config, and the registry ([`Extensions`]).
//!
//! An extension is a value implementing [`Extension`]; enabling it is adding it to the
//! config with [`PowConfigBuilder::extension`](crate::PowConfigBuilder::extension), in order.
//! Its [`build`](Extension::build) registers on an [`ExtensionBuilder`] what it
//! contributes: user fields and changeset rules, migrations, routes, page additions,
//! messages, mails, callbacks around actions, request hooks with their cookies, revocation
//! hooks, remembered sign-ins and its JSON side; and what it requires (fields, other
//! extensions, its place in the list), checked when the config is built. The core never
//! names an extension.
//!
//! An extension crate names `pow_core`, never a framework crate, and finds what it needs
//! here and in these modules:
//!
//! | to | it names |
//! |---|---|
//! | register, require, offer | this module: [`Extension`], [`ExtensionBuilder`], the hook traits |
//! | declare pages and protocol endpoints | [`pages::routes`](crate::pages::routes) (`PageRoute`, `page_act!`), [`pages::endpoints`](crate::pages::endpoints) |
//! | declare JSON routes | [`api::routes`](crate::api::routes) (`ApiRoute`, `Reply`, `api_act!`) |
//! | act and answer | [`pipeline`](crate::pipeline) (`Step`, `Client`, `ActionId`, `Requirements`), [`pages`](crate::pages) (`Answer`, `Page`) |
//! | do the work | [`flows`](crate::flows), [`session`](crate::session), [`users`](crate::users), [`store`](crate::store), [`mailer`](crate::mailer), [`audit`](crate::audit), [`limits`](crate::limits), [`token`](crate::token) |
//!
//! What only a framework layer needs is [`framework`](crate::framework); an extension
//! needs none of it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::request::RequestSource;
use crate::users::User;
use crate::views::{PageBody, PageId};

pub use crate::users::{Migrations, SqlMigration};

/// A [`SqlMigration`] from the calling crate's `migrations/` folder: by default its
/// `migrations/{sqlite,postgres}/<version>_<name>/` folders (the ones `embed_migrations!`
/// reads), one `up.sql` and `down.sql` per database; with `portable`, one
/// `migrations/<version>_<name>/` folder whose SQL runs on both as it is.
///
/// An extension lists its migrations once (here the core's own first one, which differs
/// between the two databases); a migration whose SQL is the same for both is written
/// `sql_migration!("20260201000000", "add_note_title", portable)` and kept in
/// `migrations/20260201000000_add_note_title/`.
///
/// ```
/// use pow_core::extension::SqlMigration;
///
/// const MIGRATIONS: &[SqlMigration] = &[pow_core::sql_migration!("00000000000001", "create_users")];
/// assert_ne!(MIGRATIONS[0].sqlite_up, MIGRATIONS[0].postgres_up);
/// assert!(MIGRATIONS[0].postgres_up.contains("CREATE TABLE users"));
/// ```
#[macro_export]
macro_rules! sql_migration {
    (@in $sqlite:literal, $postgres:literal, $version:literal, $name:literal, $file:literal) => {
        (
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), $sqlite, $version, "_", $name, "/", $file
            )),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), $postgres, $version, "_", $name, "/", $file
            )),
        )
    };
    (@from $sqlite:literal, $postgres:literal, $version:literal, $name:literal) => {{
        let (sqlite_up, postgres_up) =
            $crate::sql_migration!(@in $sqlite, $postgres, $version, $name, "up.sql");
        let (sqlite_down, postgres_down) =
            $crate::sql_migration!(@in $sqlite, $postgres, $version, $name, "down.sql");
        $crate::extension::SqlMigration {
            version: $version,
            name: $name,
            sqlite_up,
            sqlite_down,
            postgres_up,
            postgres_down,
        }
    }};
    ($version:literal, $name:literal) => {
        $crate::sql_migration!(@from "/migrations/sqlite/", "/migrations/postgres/", $version, $name)
    };
    ($version:literal, $name:literal, portable) => {
        $crate::sql_migration!(@from "/migrations/", "/migrations/", $version, $name)
    };
}

/// The core's migrations as SQL text (see [`SqlMigration`]).
pub(crate) const CORE_SQL_MIGRATIONS: &[SqlMigration] = &[
    sql_migration!("00000000000001", "create_users"),
    sql_migration!("00000000000002", "create_audit_events"),
    sql_migration!("00000000000003", "add_disabled_at_to_users"),
];

/// Every migration of `config` (the core's and its extensions'), in the order
/// [`migrate`](crate::users::diesel::DieselUsersContext::migrate) applies them.
pub fn all_sql_migrations(config: &PowConfig) -> Vec<SqlMigration> {
    let mut all: Vec<SqlMigration> = CORE_SQL_MIGRATIONS.to_vec();
    all.extend(config.extensions().migrations().copied());
    all.sort_by_key(|m| m.version);
    all
}

/// Adds fields or links to a page before it renders (see
/// [`ExtensionBuilder::page_extension`]).
pub type PageFn = dyn Fn(PageId, &mut PageBody, &LanguageIdentifier, &PowConfig) + Send + Sync;

/// Runs when a user's credentials were revoked (password changed or reset, account
/// deleted, "sign out everywhere"): drop any tokens the extension keeps for the user.
#[async_trait]
pub trait CredentialsRevoked: Send + Sync + 'static {
    /// Drops what can sign `user` in again.
    async fn credentials_revoked(&self, config: &PowConfig, user: &User) -> Result<(), PowError>;

    /// `user` was deprovisioned by an identity provider
    /// ([`session::deprovision`](crate::session::deprovision)): besides what
    /// [`credentials_revoked`](Self::credentials_revoked) drops, end what outlives a
    /// password change on purpose (API keys). The default does nothing more.
    async fn deprovisioned(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        let _ = (config, user);
        Ok(())
    }
}

/// A rule on who may get a session by which method, set by an extension (an organization
/// that requires its single sign-on, say). The engine asks every policy at every session
/// start, whatever the method (password, magic link, passkey, OAuth, a remembered
/// sign-in, an invitation's sign-up, a support-access exit) and at every API token renewal
/// ([`session::admit`](crate::session::admit)): a rule set here holds on every path.
#[async_trait]
pub trait SignInPolicy: Send + Sync + 'static {
    /// `None` when `user` may sign in having proved `methods` (the new session's, in the
    /// order they were proved); else why not.
    ///
    /// # Errors
    /// The policy's own store or database failure: the sign-in fails closed.
    async fn check(
        &self,
        config: &PowConfig,
        user: &User,
        methods: &[crate::session::AuthMethod],
    ) -> Result<Option<crate::session::SignInRefusal>, PowError>;
}

/// What an extension keeps that can sign a user in again later (remember-me families), for
/// the user's session list.
#[async_trait]
pub trait Remembered: Send + Sync + 'static {
    /// The user's remembered sign-ins.
    async fn remembered(
        &self,
        config: &PowConfig,
        user_id: i64,
    ) -> Result<Vec<crate::session::RememberedInfo>, PowError>;

    /// Forgets one of [`remembered`](Self::remembered) by its id, and ends the sessions it
    /// signed in; `false` when the user has no such one.
    async fn forget(&self, config: &PowConfig, user_id: i64, id: &str) -> Result<bool, PowError>;
}

/// What an extension keeps about a user outside the user's row (linked accounts,
/// remember-me tokens), for the user's data export and for erasing an account. Columns
/// the extension adds to the row are exported by the core (see
/// [`FieldDef::exported`](crate::users::FieldDef::exported)) and go with the row.
#[async_trait]
pub trait UserData: Send + Sync + 'static {
    /// What the extension keeps about `user`, as JSON, for the export (under the
    /// extension's name). Leave out what lets someone sign in (tokens, their digests).
    ///
    /// # Errors
    /// The store's or the database's error.
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError>;

    /// Deletes what the extension keeps about `user`.
    ///
    /// # Errors
    /// The store's or the database's error.
    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError>;
}

/// A second factor an extension offers beside the codes of the two-factor extension (a
/// security key): the second step of a sign-in asks for it when the user has one set up,
/// and accepts its answer. The two-factor extension runs the step; others register
/// factors with [`ExtensionBuilder::second_factor`].
#[async_trait]
pub trait SecondFactor: Send + Sync + 'static {
    /// Its name in forms and JSON (`"security_key"`).
    fn name(&self) -> &'static str;

    /// Whether `user` has it set up.
    ///
    /// # Errors
    /// The store's or the database's error.
    async fn is_enrolled(&self, config: &PowConfig, user: &User) -> Result<bool, PowError>;

    /// Starts a challenge for `user`'s second step: the values a client needs to answer
    /// it, as a JSON object of which every member also goes into the page's form as a
    /// hidden field (strings as they are, other values as JSON).
    ///
    /// # Errors
    /// The store's or the database's error.
    async fn challenge(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<serde_json::Map<String, serde_json::Value>, PowError>;

    /// Checks `answer` (the challenge's members as the client sent them back, with its
    /// answer) for `user`: the method it proved, or `None` when it does not verify.
    ///
    /// # Errors
    /// The store's or the database's error.
    async fn verify(
        &self,
        config: &PowConfig,
        user: &User,
        answer: &serde_json::Value,
    ) -> Result<Option<crate::session::AuthMethod>, PowError>;

    /// A same-origin script the page's form needs, if any.
    fn script(&self, config: &PowConfig) -> Option<String> {
        let _ = config;
        None
    }

    /// The message key of its form's button on the second step's page.
    fn button_key(&self) -> &'static str;
}

/// The second factors of one extension that a user has set up, for the one rule that
/// guards every change of a user's factors (`Extensions::factor_change_rule`): adding,
/// replacing or removing a TOTP secret, recovery codes, a passkey or a security key.
///
/// Register it with [`ExtensionBuilder::factor_enrolment`]; an extension offering a new
/// factor (an SMS code, say) registers one too, and every removal path that runs with
/// `Action::changes_factor` then asks for it.
#[async_trait]
pub trait FactorEnrolment: Send + Sync + 'static {
    /// The methods that prove the factors of this extension `user` has set up (empty when
    /// none). `user` is the row as stored.
    ///
    /// # Errors
    /// The store's or the database's error.
    async fn enrolled_methods(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<Vec<crate::session::AuthMethod>, PowError>;
}

/// Whether users' addresses are proven, and how one is proven without a mail: the part of
/// an extension that proves addresses (email confirmation) other extensions rely on
/// (a provider that vouches for an address).
pub trait AddressProof: Send + Sync + 'static {
    /// Whether `user`'s address is proven.
    fn is_proven(&self, user: &User) -> bool;

    /// Marks `user`'s address proven, as a proof link does, and returns the user as
    /// stored. Blocking (database): run it through [`Users::run`](crate::users::Users::run).
    ///
    /// # Errors
    /// When the database fails.
    fn mark_proven(
        &self,
        users: &dyn crate::users::UsersContext,
        config: &PowConfig,
        user: &User,
    ) -> Result<User, PowError>;

    /// How long a proof link works (`None`: until used), for what waits for a proof.
    fn link_ttl(&self) -> Option<std::time::Duration>;
}

/// Starts a staged sign-up: mails `email` a link that proves it and opens the sign-up form
/// prefilled with `prefill` (passwordless sign-up). An extension that offers it registers
/// it; others start one through [`Extensions::staged_sign_up`].
#[async_trait]
pub trait StagedSignUp: Send + Sync + 'static {
    /// Mails the link (within the mail limits).
    ///
    /// # Errors
    /// The store's, users context's or mailer's error; [`PowError::RateLimited`] over the
    /// per-client mail limit.
    async fn start(
        &self,
        config: &PowConfig,
        req: &dyn RequestSource,
        email: &str,
        prefill: crate::users::Params,
    ) -> Result<(), PowError>;
}

/// Left in the controller's [`Assigns`](crate::pipeline::Assigns) by the action that proved a
/// user's address (a confirmation link, a staged sign-up completed), for other extensions'
/// callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressProven {
    /// The user whose address was proven.
    pub user_id: i64,
    /// Whether the account's address was proven for the first time (a sign-up's address,
    /// not a change of a proven one): everything done to the account before was done
    /// without proof of the mailbox.
    pub first: bool,
    /// How it was proven.
    pub by: ProvenBy,
}

/// How an address was proven (see [`AddressProven`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProvenBy {
    /// A confirmation link, opened in a browser.
    ConfirmationLink,
    /// A confirmation token, sent by an API client.
    ConfirmationToken,
    /// A staged sign-up, completed in the browser that opened its link.
    StagedSignUp,
}

/// The path of a page that performs a step-up method (see
/// [`ExtensionBuilder::step_up_page`]).
pub type StepUpPathFn = dyn Fn(&PowConfig) -> String + Send + Sync;

/// The registration of the hooks above, each kept in the extension's list of its kind.
impl ExtensionBuilder {
    /// Adds fields or links to a page before it renders (e.g. a "Forgot password?" link
    /// on [`PageId::SESSION_NEW`]); called with the page's id.
    pub fn page_extension(
        &mut self,
        extend: impl Fn(PageId, &mut PageBody, &LanguageIdentifier, &PowConfig) + Send + Sync + 'static,
    ) -> &mut Self {
        self.add::<Arc<PageFn>>(Arc::new(extend))
    }

    /// Runs when a user's credentials are revoked (see [`CredentialsRevoked`]).
    pub fn on_credentials_revoked(&mut self, hook: impl CredentialsRevoked) -> &mut Self {
        self.add::<Arc<dyn CredentialsRevoked>>(Arc::new(hook))
    }

    /// A rule every session start and API token renewal must pass (see [`SignInPolicy`]).
    pub fn sign_in_policy(&mut self, policy: impl SignInPolicy) -> &mut Self {
        self.add::<Arc<dyn SignInPolicy>>(Arc::new(policy))
    }

    /// Remembered sign-ins for the session list (see [`Remembered`]).
    pub fn remembered(&mut self, source: impl Remembered) -> &mut Self {
        let name = self.name();
        self.add::<(&'static str, Arc<dyn Remembered>)>((name, Arc::new(source)))
    }

    /// What the extension keeps about a user outside the row, for exports and erasure
    /// (see [`UserData`]).
    pub fn user_data(&mut self, data: impl UserData) -> &mut Self {
        let name = self.name();
        self.contributions.exports_user_data = true;
        self.add::<(&'static str, Arc<dyn UserData>)>((name, Arc::new(data)))
    }

    /// A second factor the extension offers (see [`SecondFactor`]); the two-factor
    /// extension asks for it at the second step of a sign-in.
    pub fn second_factor(&mut self, factor: impl SecondFactor) -> &mut Self {
        self.add::<Arc<dyn SecondFactor>>(Arc::new(factor))
    }

    /// Which second factors of this extension a user has set up (see
    /// [`FactorEnrolment`]): every change of a user's factors then asks for a recent one of
    /// them.
    pub fn factor_enrolment(&mut self, enrolment: impl FactorEnrolment) -> &mut Self {
        self.add::<Arc<dyn FactorEnrolment>>(Arc::new(enrolment))
    }

    /// The extension proves addresses (see [`AddressProof`]). One extension of a setup
    /// may register it.
    pub fn address_proof(&mut self, proof: impl AddressProof) -> &mut Self {
        self.contributions.offers.push(Capability::AddressProof);
        self.add::<Arc<dyn AddressProof>>(Arc::new(proof))
    }

    /// The extension offers staged sign-ups (see [`StagedSignUp`]). One extension of a
    /// setup may register it.
    pub fn staged_sign_up(&mut self, staged: impl StagedSignUp) -> &mut Self {
        self.contributions.offers.push(Capability::StagedSignUp);
        self.add::<Arc<dyn StagedSignUp>>(Arc::new(staged))
    }

    /// Accounts beside users the extension keeps, which may own credentials (see
    /// [`OwningPrincipal`](principal::OwningPrincipal)). One extension of a setup may
    /// register each kind.
    pub fn owning_principal(&mut self, principal: impl principal::OwningPrincipal) -> &mut Self {
        self.contributions.principal_kinds.push(principal.kind());
        self.add::<Arc<dyn principal::OwningPrincipal>>(Arc::new(principal))
    }

    /// A page where a signed-in user proves `method` for a [`StepUp`](crate::session::StepUp)
    /// rule (a TOTP code, a passkey). A browser refused by a rule accepting `method` is
    /// sent to `path(config)` with `?request_path=` the page it came from; the page
    /// records the method ([`SessionHandle::record_method`](crate::session::SessionHandle::record_method))
    /// and returns there. The password's page is the core's confirmation page.
    pub fn step_up_page(
        &mut self,
        method: crate::session::AuthMethod,
        path: impl Fn(&PowConfig) -> String + Send + Sync + 'static,
    ) -> &mut Self {
        self.add::<(crate::session::AuthMethod, Arc<StepUpPathFn>)>((method, Arc::new(path)))
    }
}

mod contract;
pub mod principal;
mod registry;

pub use crate::pipeline::{Callbacks, RequestHook};
pub use contract::{
    messages_of, Capability, Extension, ExtensionBuilder, Extensions, Requirement, UserTable,
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;
    use crate::session::{AuthMethod, SessionMetadata, StepUp};

    struct Sms(AuthMethod);

    impl Extension for Sms {
        fn name(&self) -> &'static str {
            "sms"
        }

        fn build(&self, ext: &mut ExtensionBuilder) {
            ext.auth_methods([self.0]);
        }
    }

    #[test]
    fn an_extension_registers_a_second_factor_that_step_ups_accept() {
        const SMS: AuthMethod = AuthMethod::new("sms_code", 200).second_factor();
        let build = |method| {
            PowConfig::builder("s".repeat(64))
                .extension(Sms(method))
                .build()
        };
        let config = build(SMS).unwrap();
        assert_eq!(config.extensions().auth_methods(), &[SMS]);
        assert_eq!(AuthMethod::parse("sms_code"), Some(SMS));
        let rule = StepUp::recent_second_factor();
        let accepted = rule.methods(&config);
        assert_eq!(accepted.first(), Some(&AuthMethod::TOTP));
        assert_eq!(accepted.last(), Some(&SMS), "{accepted:?}");
        assert!(rule.is_met(&SessionMetadata::new().with_method(SMS), &config));
        // A setup without the extension does not offer it.
        let plain = PowConfig::builder("s".repeat(64)).build().unwrap();
        assert!(!rule.methods(&plain).contains(&SMS));

        let refused = |method| build(method).unwrap_err().to_string();
        assert!(refused(AuthMethod::new("pager", 200)).contains("extension `sms`"));
        assert!(refused(AuthMethod::new("pager", 7)).contains("64 to 255"));
        assert!(build(SMS).is_ok(), "the same method, by another config");
    }
}

//! The extension trait and registry.
//!
//! An extension is a value implementing [`Extension`]; enabling it is adding it to the
//! config with [`PowConfigBuilder::extension`](crate::PowConfigBuilder::extension), in order.
//! Its [`build`](Extension::build) registers on an [`ExtensionBuilder`] what it
//! contributes: user fields and changeset rules, migrations, routes, page additions,
//! messages, mails, callbacks around actions, request hooks with their cookies, revocation
//! hooks, remembered sign-ins and its JSON side; and what it requires (fields, other
//! extensions, its place in the list), checked when the config is built. The core never
//! names an extension.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::request::RequestSource;
use crate::users::{ChangesetHook, FieldDef, User};
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

/// A pow-rs extension: a name and a [`build`](Extension::build) that registers what the
/// extension contributes on an [`ExtensionBuilder`]. Having a thing registers it; the
/// config checks the whole setup when it is built. Object safe.
///
/// ```
/// use pow_core::extension::{Extension, ExtensionBuilder};
/// use pow_core::users::{FieldDef, FieldKind};
///
/// struct Nickname;
///
/// impl Extension for Nickname {
///     fn name(&self) -> &'static str {
///         "nickname"
///     }
///
///     fn build(&self, ext: &mut ExtensionBuilder) {
///         ext.user_fields([FieldDef::new("nickname", FieldKind::Text).castable()])
///             .messages([("en", "nickname_label = Nickname")]);
///     }
/// }
///
/// let config = pow_core::PowConfig::builder("s".repeat(64)).extension(Nickname).build()?;
/// assert!(config.user_fields().iter().any(|field| field.name == "nickname"));
/// # Ok::<(), pow_core::PowError>(())
/// ```
pub trait Extension: Send + Sync + 'static {
    /// Unique name, e.g. `"pow_reset_password"`. Two extensions with one name are refused.
    fn name(&self) -> &'static str;

    /// Registers the extension's contributions.
    fn build(&self, ext: &mut ExtensionBuilder);
}

/// The Fluent sources `ext` registers, as `(language, ftl)` pairs: for an app that builds
/// its own [`Messages`](crate::messages::Messages) from the extensions' files.
pub fn messages_of(ext: &dyn Extension) -> Vec<(&'static str, &'static str)> {
    let mut builder = ExtensionBuilder::new(ext.name());
    ext.build(&mut builder);
    builder.contributions.messages
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
/// guards every change of a user's factors ([`Extensions::factor_change_rule`]): adding,
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

/// A table holding rows of one user (see [`ExtensionBuilder::user_table`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserTable {
    /// The table's name.
    pub table: &'static str,
    /// The column holding the user's id.
    pub column: &'static str,
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

/// Callbacks around actions: they see the action's [`Step`](crate::pipeline::Step) (the
/// params, and after the action the user or the failed changeset) and its
/// [`Client`](crate::pipeline::Client) (the session, flash texts, values, cookies), and may
/// halt with a [`Halt`](crate::pipeline::Halt) every framework renders. The core's actions
/// run them for `session#new|create|delete` and
/// `registration#new|create|edit|update|delete`; extensions' actions run them for their own
/// (e.g. `invitation#update`), so extensions hook into each other through these documented
/// names only. Framework-free: one implementation serves every framework layer.
///
/// The futures are `Send` (the step and the client are), so callbacks run on any executor:
/// implement the trait with `#[async_trait::async_trait]`.
#[async_trait]
pub trait Callbacks: Send + Sync + 'static {
    /// Runs before an action.
    async fn before_process(
        &self,
        _step: &mut crate::pipeline::Step,
        _client: &mut dyn crate::pipeline::Client,
    ) -> Result<crate::pipeline::Flow, PowError> {
        Ok(crate::pipeline::Flow::Continue)
    }

    /// Runs after an action, before the response.
    async fn before_respond(
        &self,
        _step: &mut crate::pipeline::Step,
        _client: &mut dyn crate::pipeline::Client,
    ) -> Result<crate::pipeline::Flow, PowError> {
        Ok(crate::pipeline::Flow::Continue)
    }
}

/// Work on requests after the framework layer resolved the session, with or without a
/// signed-in user (e.g. signing a user in from a remember-me cookie), over the request's
/// [`Client`](crate::pipeline::Client). It runs on requests that carry one of its
/// [`cookies`](RequestHook::cookies), so a request with no cookie of interest costs
/// nothing. Framework-free: one hook serves every framework layer.
#[async_trait]
pub trait RequestHook: Send + Sync + 'static {
    /// The names of the cookies the hook reads, under `config`. Read once, when the
    /// middleware is set up.
    fn cookies(&self, config: &PowConfig) -> Vec<String>;

    /// Runs on a request that carries one of [`cookies`](Self::cookies).
    ///
    /// # Errors
    /// The store's or users context's error: the request is answered with it.
    async fn on_request(
        &self,
        config: &PowConfig,
        client: &mut dyn crate::pipeline::Client,
    ) -> Result<(), PowError>;
}

/// The path of a page that performs a step-up method (see
/// [`ExtensionBuilder::step_up_page`]).
pub type StepUpPathFn = dyn Fn(&PowConfig) -> String + Send + Sync;

/// What one extension contributes, as registered by its [`Extension::build`].
#[derive(Default)]
pub(crate) struct Contributions {
    pub(crate) user_fields: Vec<FieldDef>,
    pub(crate) changeset_hooks: Vec<Arc<dyn ChangesetHook>>,
    pub(crate) migrations: Vec<SqlMigration>,
    pub(crate) messages: Vec<(&'static str, &'static str)>,
    pub(crate) mails: Vec<&'static str>,
    pub(crate) requirements: Vec<Requirement>,
    pub(crate) pages: Vec<Arc<PageFn>>,
    pub(crate) page_ids: Vec<PageId>,
    pub(crate) sides: Sides,
    pub(crate) revoked: Vec<Arc<dyn CredentialsRevoked>>,
    pub(crate) sign_in_policies: Vec<Arc<dyn SignInPolicy>>,
    pub(crate) remembered: Vec<Arc<dyn Remembered>>,
    pub(crate) user_data: Vec<Arc<dyn UserData>>,
    pub(crate) user_tables: Vec<UserTable>,
    pub(crate) keeps_user_data: bool,
    pub(crate) address_proof: Option<Arc<dyn AddressProof>>,
    pub(crate) staged_sign_up: Option<Arc<dyn StagedSignUp>>,
    pub(crate) owning_principals: Vec<Arc<dyn principal::OwningPrincipal>>,
    pub(crate) second_factors: Vec<Arc<dyn SecondFactor>>,
    pub(crate) factor_enrolments: Vec<Arc<dyn FactorEnrolment>>,
    pub(crate) credential_kinds: Vec<&'static str>,
    pub(crate) auth_methods: Vec<crate::session::AuthMethod>,
    pub(crate) audit_events: Vec<crate::audit::EventName>,
    pub(crate) mail_links: Vec<crate::link::LinkKind>,
    pub(crate) callbacks: Vec<Arc<dyn Callbacks>>,
    pub(crate) request_hooks: Vec<Arc<dyn RequestHook>>,
    pub(crate) step_up_pages: Vec<(crate::session::AuthMethod, Arc<StepUpPathFn>)>,
    pub(crate) page_routes: Vec<crate::pages::routes::PageRoute>,
    pub(crate) endpoints: Vec<crate::pages::endpoints::EndpointRoute>,
    pub(crate) problems: Vec<String>,
    pub(crate) assets: Vec<crate::pages::routes::Asset>,
    pub(crate) api_routes: Vec<crate::api::routes::ApiRoute>,
    pub(crate) api_side: Option<crate::api::ApiSide>,
}

/// Where an extension registers what it contributes (see [`Extension::build`]). Each
/// method adds to what was registered before; all return the builder, to chain.
pub struct ExtensionBuilder {
    pub(crate) name: &'static str,
    pub(crate) contributions: Contributions,
}

impl ExtensionBuilder {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            contributions: Contributions::default(),
        }
    }

    /// The name of the extension being built.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// User columns the extension adds (its migrations create them).
    pub fn user_fields(&mut self, fields: impl IntoIterator<Item = FieldDef>) -> &mut Self {
        self.contributions.user_fields.extend(fields);
        self
    }

    /// Rules the extension adds to user changesets.
    pub fn changeset_hook(&mut self, hook: impl ChangesetHook) -> &mut Self {
        self.contributions.changeset_hooks.push(Arc::new(hook));
        self
    }

    /// The extension's migrations, declared once: each [`sql_migration!`](crate::sql_migration)
    /// is run by [`migrate`](crate::users::diesel::DieselUsersContext::migrate) (after the
    /// core's, in version order) and exported by `pow export migrations`.
    pub fn migrations(&mut self, migrations: &[SqlMigration]) -> &mut Self {
        self.contributions.migrations.extend_from_slice(migrations);
        self
    }

    /// Fluent sources, as `(language, ftl)` pairs. Keys are prefixed with the extension's
    /// name (`pow_reset_password_invalid_token`); an app overrides them like core keys.
    pub fn messages(
        &mut self,
        sources: impl IntoIterator<Item = (&'static str, &'static str)>,
    ) -> &mut Self {
        self.contributions.messages.extend(sources);
        self
    }

    /// Names of the mails the extension sends (`"reset_password/reset_password"`), each
    /// rendered through [`MailViews`](crate::mailer::MailViews), where an app can replace
    /// its template. An extension that sends mails needs the config's base URL.
    pub fn mails(&mut self, names: impl IntoIterator<Item = &'static str>) -> &mut Self {
        self.contributions.mails.extend(names);
        self
    }

    /// Something the extension needs from the setup: user fields, other extensions, its
    /// place in the list. [`PowConfigBuilder::build`](crate::PowConfigBuilder::build)
    /// refuses a setup that breaks one, with a message naming the fix.
    pub fn requires(&mut self, requirement: Requirement) -> &mut Self {
        self.contributions.requirements.push(requirement);
        self
    }

    /// A setting of the extension that cannot work (a client registered twice, a refused
    /// redirect URI): [`PowConfigBuilder::build`](crate::PowConfigBuilder::build) refuses
    /// the setup with `problem` as its message.
    pub fn invalid(&mut self, problem: impl Into<String>) -> &mut Self {
        self.contributions.problems.push(problem.into());
        self
    }

    /// Registers the pages the extension renders (`"reset_password/new"`): a framework
    /// layer refuses to render a page nobody registered, and custom
    /// [`Views`](crate::views::Views) may only restyle registered ones.
    pub fn pages(&mut self, pages: impl IntoIterator<Item = PageId>) -> &mut Self {
        self.contributions.page_ids.extend(pages);
        self
    }

    /// A static file the extension serves beside its pages (a page's script), mounted by
    /// every framework layer ([`Asset`](crate::pages::routes::Asset)).
    pub fn asset(&mut self, asset: crate::pages::routes::Asset) -> &mut Self {
        self.contributions.assets.push(asset);
        self
    }

    /// A page route the extension serves, written once on the engine
    /// ([`PageRoute`](crate::pages::routes::PageRoute)): every framework layer mounts it
    /// with the core's, under the setup's mount point.
    pub fn page_route(&mut self, route: crate::pages::routes::PageRoute) -> &mut Self {
        self.contributions.page_routes.push(route);
        self
    }

    /// A protocol endpoint the extension serves, written once on the engine
    /// ([`EndpointRoute`](crate::pages::endpoints::EndpointRoute)): every framework layer
    /// mounts it beside the pages, under the setup's mount point, outside the page
    /// pipeline (no cookie session, no CSRF check, no envelope).
    pub fn endpoint(&mut self, route: crate::pages::endpoints::EndpointRoute) -> &mut Self {
        let name = self.name();
        self.contributions.endpoints.push(route.of_extension(name));
        self
    }

    /// A JSON route the extension serves, written once on the engine
    /// ([`ApiRoute`](crate::api::routes::ApiRoute)): every framework layer mounts it with
    /// the core's, under the API prefix, on both transports.
    pub fn api_route(&mut self, route: crate::api::routes::ApiRoute) -> &mut Self {
        let name = self.name();
        self.contributions.api_routes.push(route.of_extension(name));
        self
    }

    /// The extension's say in issuing API tokens ([`TokenHooks`](crate::api::TokenHooks):
    /// refuse a pair, add token data, list pending steps, describe settings), run by every
    /// framework layer.
    pub fn api_hooks(&mut self, hooks: impl crate::api::TokenHooks) -> &mut Self {
        let name = self.name();
        self.contributions
            .api_side
            .get_or_insert_with(|| crate::api::ApiSide::new(name))
            .hooks = Some(Arc::new(hooks));
        self
    }

    /// The extension's part of the OpenAPI document: `{"paths": {...}, "components":
    /// {...}, "tags": [...]}`, paths under the prefix (see
    /// [`openapi_fragment`](crate::api::openapi_fragment)).
    pub fn api_document(&mut self, fragment: Option<serde_json::Value>) -> &mut Self {
        let name = self.name();
        self.contributions
            .api_side
            .get_or_insert_with(|| crate::api::ApiSide::new(name))
            .openapi = fragment;
        self
    }

    /// Adds fields or links to a page before it renders (e.g. a "Forgot password?" link
    /// on [`PageId::SESSION_NEW`]); called with the page's id.
    pub fn page_extension(
        &mut self,
        extend: impl Fn(PageId, &mut PageBody, &LanguageIdentifier, &PowConfig) + Send + Sync + 'static,
    ) -> &mut Self {
        self.contributions.pages.push(Arc::new(extend));
        self
    }

    /// Runs when a user's credentials are revoked (see [`CredentialsRevoked`]).
    pub fn on_credentials_revoked(&mut self, hook: impl CredentialsRevoked) -> &mut Self {
        self.contributions.revoked.push(Arc::new(hook));
        self
    }

    /// A rule every session start and API token renewal must pass (see [`SignInPolicy`]).
    pub fn sign_in_policy(&mut self, policy: impl SignInPolicy) -> &mut Self {
        self.contributions.sign_in_policies.push(Arc::new(policy));
        self
    }

    /// Remembered sign-ins for the session list (see [`Remembered`]).
    pub fn remembered(&mut self, source: impl Remembered) -> &mut Self {
        self.contributions.remembered.push(Arc::new(source));
        self
    }

    /// What the extension keeps about a user outside the row, for exports and erasure
    /// (see [`UserData`]).
    pub fn user_data(&mut self, data: impl UserData) -> &mut Self {
        self.contributions.user_data.push(Arc::new(data));
        self
    }

    /// A table of the extension's own with rows belonging to one user, `column` holding
    /// the user's id. Erasing an account must leave no row there: the erasure checks and
    /// tests read this list. Declaring one (or a migration with a `REFERENCES users`
    /// column) makes [`user_data`](Self::user_data) required: the config refuses the
    /// extension without it.
    pub fn user_table(&mut self, table: &'static str, column: &'static str) -> &mut Self {
        self.contributions
            .user_tables
            .push(UserTable { table, column });
        self
    }

    /// Declares that the extension keeps something about users outside the users row and
    /// its own tables (cache-store records that outlive a session): the config then
    /// refuses the extension unless it registers [`user_data`](Self::user_data).
    pub fn keeps_user_data(&mut self) -> &mut Self {
        self.contributions.keeps_user_data = true;
        self
    }

    /// A second factor the extension offers (see [`SecondFactor`]); the two-factor
    /// extension asks for it at the second step of a sign-in.
    pub fn second_factor(&mut self, factor: impl SecondFactor) -> &mut Self {
        self.contributions.second_factors.push(Arc::new(factor));
        self
    }

    /// Which second factors of this extension a user has set up (see
    /// [`FactorEnrolment`]): every change of a user's factors then asks for a recent one of
    /// them.
    pub fn factor_enrolment(&mut self, enrolment: impl FactorEnrolment) -> &mut Self {
        self.contributions
            .factor_enrolments
            .push(Arc::new(enrolment));
        self
    }

    /// The extension proves addresses (see [`AddressProof`]). One extension of a setup
    /// may register it.
    pub fn address_proof(&mut self, proof: impl AddressProof) -> &mut Self {
        self.contributions.address_proof = Some(Arc::new(proof));
        self
    }

    /// The extension offers staged sign-ups (see [`StagedSignUp`]). One extension of a
    /// setup may register it.
    pub fn staged_sign_up(&mut self, staged: impl StagedSignUp) -> &mut Self {
        self.contributions.staged_sign_up = Some(Arc::new(staged));
        self
    }

    /// Accounts beside users the extension keeps, which may own credentials (see
    /// [`OwningPrincipal`](principal::OwningPrincipal)). One extension of a setup may
    /// register each kind.
    pub fn owning_principal(&mut self, principal: impl principal::OwningPrincipal) -> &mut Self {
        self.contributions
            .owning_principals
            .push(Arc::new(principal));
        self
    }

    /// The audit events the extension records. Each needs a label in the extension's
    /// messages under [`EventName::label_key`](crate::audit::EventName::label_key) (for the
    /// activity page); [`build`](crate::PowConfigBuilder::build) checks the default
    /// language has one.
    pub fn audit_events(
        &mut self,
        events: impl IntoIterator<Item = crate::audit::EventName>,
    ) -> &mut Self {
        self.contributions.audit_events.extend(events);
        self
    }

    /// The kinds of token-carrying links the extension's mails hold, each of which an app
    /// may point at its own frontend with
    /// [`PowConfigBuilder::frontend_link`](crate::PowConfigBuilder::frontend_link)
    /// ([`build`](crate::PowConfigBuilder::build) refuses a kind no extension declares).
    /// Build each link with [`PowConfig::mail_link`].
    pub fn mail_links(
        &mut self,
        kinds: impl IntoIterator<Item = crate::link::LinkKind>,
    ) -> &mut Self {
        self.contributions.mail_links.extend(kinds);
        self
    }

    /// Callbacks around actions (see [`Callbacks`]).
    pub fn callbacks(&mut self, callbacks: impl Callbacks) -> &mut Self {
        self.contributions.callbacks.push(Arc::new(callbacks));
        self
    }

    /// Work on requests carrying the hook's cookies (see [`RequestHook`]).
    pub fn request_hook(&mut self, hook: impl RequestHook) -> &mut Self {
        self.contributions.request_hooks.push(Arc::new(hook));
        self
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
        self.contributions
            .step_up_pages
            .push((method, Arc::new(path)));
        self
    }

    /// The authentication methods the extension adds (see
    /// [`AuthMethod::new`](crate::session::AuthMethod::new)): an SMS code, a hardware
    /// token. Sessions record them, step-up rules accept them (a method declared a
    /// [`second_factor`](crate::session::AuthMethod::second_factor) counts for
    /// [`StepUp::second_factor`](crate::session::StepUp::second_factor)) and the session
    /// list shows them. [`build`](crate::PowConfigBuilder::build) refuses a code of the
    /// core's and a name or code another method has.
    pub fn auth_methods(
        &mut self,
        methods: impl IntoIterator<Item = crate::session::AuthMethod>,
    ) -> &mut Self {
        self.contributions.auth_methods.extend(methods);
        self
    }

    /// A value the extension keeps in the registry under a type `T` of its own (its
    /// settings, found again with [`Extensions::sides`] where only the config is at hand;
    /// or registrations for a layer of the app's own, a command line say), so the engine
    /// names none. Pages, JSON routes and hooks are not kept here: they are the engine's,
    /// and both framework layers mount them.
    ///
    /// ```
    /// # use pow_core::extension::ExtensionBuilder;
    /// #[derive(Default)]
    /// struct CliSide {
    ///     commands: Vec<&'static str>,
    /// }
    ///
    /// fn build(ext: &mut ExtensionBuilder) {
    ///     ext.side::<CliSide>().commands.push("sms-test");
    /// }
    /// ```
    pub fn side<T: Default + Send + Sync + 'static>(&mut self) -> &mut T {
        let side = self
            .contributions
            .sides
            .0
            .entry(std::any::TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        match side.downcast_mut() {
            Some(side) => side,
            // The entry under T's type id holds a T: only this method inserts.
            None => unreachable!("a side is stored under its own type"),
        }
    }

    /// A way to sign in the extension adds besides the password (`"email_link"`,
    /// `"provider"`, `"passkey"`): an account with one of these and no password still has a
    /// way in.
    pub fn credential_kind(&mut self, kind: &'static str) -> &mut Self {
        self.contributions.credential_kinds.push(kind);
        self
    }
}

pub mod principal;
mod registry;

pub use registry::{Capability, Extensions, Requirement};

/// An extension's registrations for web frameworks' layers, one value per layer type (see
/// [`ExtensionBuilder::side`]).
#[derive(Default)]
pub(crate) struct Sides(
    std::collections::HashMap<std::any::TypeId, Box<dyn std::any::Any + Send + Sync>>,
);

impl Sides {
    fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0
            .get(&std::any::TypeId::of::<T>())
            .and_then(|side| side.downcast_ref())
    }
}

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

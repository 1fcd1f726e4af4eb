//! The core of the extension contract: [`Extension`], the [`ExtensionBuilder`] an extension
//! registers its contributions on, and the [`Extensions`] a config holds. It names nothing
//! that runs over a setup: each kind of contribution that does (a page route, a JSON route,
//! callbacks, a hook receiving the config) is registered and read by the module that owns
//! it, which keeps it in the builder's typed lists ([`ExtensionBuilder::add`],
//! [`Extensions::all`]). So the modules that serve the routes and run the callbacks import
//! this one, and this one none of them.

use std::any::{Any, TypeId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::error::PowError;
use crate::users::{ChangesetHook, FieldDef, SqlMigration};
use crate::views::PageId;

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

/// A table holding rows of one user (see [`ExtensionBuilder::user_table`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserTable {
    /// The table's name.
    pub table: &'static str,
    /// The column holding the user's id.
    pub column: &'static str,
}

/// Something an extension needs from the setup it is enabled in
/// ([`ExtensionBuilder::requires`]). A setup that breaks one does not start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// A user field with this name must be declared (by the app, the user id, or another
    /// extension).
    UserField(&'static str),
    /// The named extension must be enabled too.
    Extension {
        /// Its name.
        name: &'static str,
        /// Why, for the error message.
        why: &'static str,
    },
    /// When the named extension is enabled too, this one must be listed before it (its
    /// callbacks have to run first).
    Before {
        /// Its name.
        name: &'static str,
        /// Why, for the error message.
        why: &'static str,
    },
    /// When the named extension is enabled too, this one must be listed after it.
    After {
        /// Its name.
        name: &'static str,
        /// Why, for the error message.
        why: &'static str,
    },
    /// Some enabled extension must offer this capability.
    Capability {
        /// The capability.
        capability: Capability,
        /// Why, for the error message.
        why: &'static str,
    },
}

/// What an extension may offer others through the core (see
/// [`Requirement::Capability`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Capability {
    /// Proving addresses ([`ExtensionBuilder::address_proof`]), e.g. email confirmation.
    AddressProof,
    /// Staged sign-ups ([`ExtensionBuilder::staged_sign_up`]), e.g. passwordless.
    StagedSignUp,
}

/// What one extension contributes, as registered by its [`Extension::build`]: the plain
/// data here, and each kind of hook or route in `kinds` under its own type.
#[derive(Default)]
pub(crate) struct Contributions {
    pub(crate) user_fields: Vec<FieldDef>,
    pub(crate) changeset_hooks: Vec<Arc<dyn ChangesetHook>>,
    pub(crate) migrations: Vec<SqlMigration>,
    pub(crate) messages: Vec<(&'static str, &'static str)>,
    pub(crate) mails: Vec<&'static str>,
    pub(crate) requirements: Vec<Requirement>,
    pub(crate) page_ids: Vec<PageId>,
    pub(crate) sides: Sides,
    pub(crate) kinds: Kinds,
    pub(crate) user_tables: Vec<UserTable>,
    pub(crate) keeps_user_data: bool,
    /// Whether it registered the hook that exports and erases what it keeps about users.
    pub(crate) exports_user_data: bool,
    /// What it offers other extensions.
    pub(crate) offers: Vec<Capability>,
    /// The kinds of accounts beside users it keeps that may own credentials.
    pub(crate) principal_kinds: Vec<&'static str>,
    pub(crate) credential_kinds: Vec<&'static str>,
    pub(crate) auth_methods: Vec<crate::session::AuthMethod>,
    pub(crate) audit_events: Vec<crate::audit::EventName>,
    pub(crate) mail_links: Vec<crate::link::LinkKind>,
    pub(crate) problems: Vec<String>,
}

/// Where an extension registers what it contributes (see [`Extension::build`]). Each
/// method adds to what was registered before; all return the builder, to chain. The
/// methods for the hooks and routes are written beside what they register (the page
/// routes in [`pages::routes`](crate::pages::routes), the callbacks in
/// [`pipeline`](crate::pipeline), ...).
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
    /// Build each link with [`PowConfig::mail_link`](crate::PowConfig::mail_link).
    pub fn mail_links(
        &mut self,
        kinds: impl IntoIterator<Item = crate::link::LinkKind>,
    ) -> &mut Self {
        self.contributions.mail_links.extend(kinds);
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
    /// names none. Pages, JSON routes and hooks have methods of their own: they are the
    /// engine's, and both framework layers mount them.
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

    /// Adds `value` to the extension's list of `T`s: the registrations of one kind of hook
    /// or route, which [`Extensions::all`] reads back, every extension's in order.
    pub(crate) fn add<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.contributions.kinds.push(value);
        self
    }
}

type Boxed = Box<dyn Any + Send + Sync>;

/// An extension's registrations for web frameworks' layers, one value per layer type (see
/// [`ExtensionBuilder::side`]).
#[derive(Default)]
pub(crate) struct Sides(pub(crate) HashMap<TypeId, Boxed>);

impl Sides {
    fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|side| side.downcast_ref())
    }
}

/// One extension's lists of hooks and routes, each a `Vec<T>` under `T`'s type id, with
/// the function that appends it to the setup's list of `T`s.
#[derive(Default)]
pub(crate) struct Kinds(HashMap<TypeId, (Boxed, Append)>);

/// Appends a list of [`Kinds`] to the setup's list of the same type.
type Append = fn(&Boxed, &mut HashMap<TypeId, Boxed>);

impl Kinds {
    fn push<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        let (list, _) = self
            .0
            .entry(TypeId::of::<T>())
            .or_insert_with(|| (Box::new(Vec::<T>::new()), append::<T>));
        if let Some(list) = list.downcast_mut::<Vec<T>>() {
            list.push(value);
        }
    }
}

/// Appends `from` (a `Vec<T>`) to the `Vec<T>` of `into`.
fn append<T: Clone + Send + Sync + 'static>(from: &Boxed, into: &mut HashMap<TypeId, Boxed>) {
    let (Some(from), Some(into)) = (
        from.downcast_ref::<Vec<T>>(),
        into.entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(Vec::<T>::new()))
            .downcast_mut::<Vec<T>>(),
    ) else {
        return;
    };
    into.extend(from.iter().cloned());
}

/// The `Vec<T>` in `list`, as a slice (empty when there is none).
fn list_of<T: 'static>(list: Option<&Boxed>) -> &[T] {
    list.and_then(|list| list.downcast_ref::<Vec<T>>())
        .map_or(&[], Vec::as_slice)
}

/// The enabled extensions, in order, with unique names, and what each registered in its
/// [`build`](Extension::build). Built once by the config
/// ([`Extensions::new`](Extensions::new), which checks the setup).
#[derive(Clone, Default)]
pub struct Extensions {
    pub(crate) list: Vec<Built>,
    /// Every extension's lists of hooks and routes, appended in extension order.
    pub(crate) all: Arc<HashMap<TypeId, Boxed>>,
    pub(crate) page_ids: BTreeSet<PageId>,
    pub(crate) auth_methods: Vec<crate::session::AuthMethod>,
    pub(crate) user_tables: Vec<(&'static str, UserTable)>,
}

/// One extension and its contributions.
#[derive(Clone)]
pub(crate) struct Built {
    pub(crate) name: &'static str,
    pub(crate) parts: Arc<Contributions>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Extensions {
    /// Builds each extension ([`Extension::build`]) and checks names are unique, that an
    /// extension keeping data about users registers the hook that exports and erases it,
    /// and that no two offer what only one may (proving addresses, staged sign-ups, a kind
    /// of owning account).
    ///
    /// # Errors
    /// [`PowError::Config`] naming the extension and the fix.
    pub fn new(list: Vec<Arc<dyn Extension>>) -> Result<Self, PowError> {
        let mut seen = BTreeSet::new();
        let mut built = Self {
            page_ids: PageId::CORE.into_iter().collect(),
            ..Self::default()
        };
        let mut all = HashMap::new();
        for ext in &list {
            let name = ext.name();
            if !seen.insert(name) {
                return Err(PowError::Config(format!(
                    "extension `{name}` is enabled twice; add each extension once"
                )));
            }
            let mut builder = ExtensionBuilder::new(name);
            ext.build(&mut builder);
            let parts = builder.contributions;
            if let Some(problem) = parts.problems.first() {
                return Err(PowError::Config(format!("extension `{name}`: {problem}")));
            }
            let owns_user_data = parts.keeps_user_data
                || !parts.user_tables.is_empty()
                || parts.migrations.iter().any(references_users);
            if owns_user_data && !parts.exports_user_data {
                return Err(PowError::Config(format!(
                    "extension `{name}` keeps data about users outside the users row but \
                     registers no erase and export hook: register one with \
                     ExtensionBuilder::user_data, so closing an account erases it"
                )));
            }
            let twice = |what: &str| {
                PowError::Config(format!(
                    "extension `{name}` {what}, and an extension before it does too; enable \
                     one of them"
                ))
            };
            for capability in &parts.offers {
                if built.offers(*capability) {
                    return Err(twice(match capability {
                        Capability::AddressProof => "proves addresses",
                        Capability::StagedSignUp => "offers staged sign-ups",
                    }));
                }
            }
            for kind in &parts.principal_kinds {
                if built
                    .list
                    .iter()
                    .any(|e| e.parts.principal_kinds.contains(kind))
                {
                    return Err(twice(&format!("keeps accounts of kind `{kind}`")));
                }
            }
            for (list, append) in parts.kinds.0.values() {
                append(list, &mut all);
            }
            built.page_ids.extend(parts.page_ids.iter().copied());
            built
                .user_tables
                .extend(parts.user_tables.iter().map(|table| (name, *table)));
            for method in &parts.auth_methods {
                crate::session::AuthMethod::register(*method)
                    .map_err(|why| PowError::Config(format!("extension `{name}`: {why}")))?;
                if !built.auth_methods.contains(method) {
                    built.auth_methods.push(*method);
                }
            }
            built.list.push(Built {
                name,
                parts: Arc::new(parts),
            });
        }
        built.all = Arc::new(all);
        Ok(built)
    }

    /// Checks every extension's [`Requirement`]s against the list and the setup's user
    /// fields.
    ///
    /// # Errors
    /// [`PowError::Config`] for the first requirement broken, saying how to fix it.
    pub fn validate(&self, user_fields: &[FieldDef]) -> Result<(), PowError> {
        let position = |name: &str| self.list.iter().position(|e| e.name == name);
        for (index, ext) in self.list.iter().enumerate() {
            let me = ext.name;
            for requirement in &ext.parts.requirements {
                match *requirement {
                    Requirement::UserField(field) => {
                        if !user_fields.iter().any(|f| f.name == field) {
                            return Err(PowError::Config(format!(
                                "extension `{me}` needs a user field `{field}`: use `{field}` \
                                 as the user id field or declare it with \
                                 PowConfigBuilder::user_field"
                            )));
                        }
                    }
                    Requirement::Extension { name, why } => {
                        if position(name).is_none() {
                            return Err(PowError::Config(format!(
                                "extension `{me}` needs extension `{name}` enabled too ({why}): \
                                 add it with PowConfigBuilder::extension"
                            )));
                        }
                    }
                    Requirement::Before { name, why } => {
                        if position(name).is_some_and(|other| other < index) {
                            return Err(misordered(me, name, why));
                        }
                    }
                    Requirement::After { name, why } => {
                        if position(name).is_some_and(|other| other > index) {
                            return Err(misordered(name, me, why));
                        }
                    }
                    Requirement::Capability { capability, why } => {
                        let (offered, what) = match capability {
                            Capability::AddressProof => {
                                (self.offers(Capability::AddressProof), "proves addresses")
                            }
                            Capability::StagedSignUp => (
                                self.offers(Capability::StagedSignUp),
                                "offers staged sign-ups",
                            ),
                        };
                        if !offered {
                            return Err(PowError::Config(format!(
                                "extension `{me}` needs an extension that {what} ({why}): \
                                 add one with PowConfigBuilder::extension"
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether an enabled extension offers `capability`.
    fn offers(&self, capability: Capability) -> bool {
        self.list
            .iter()
            .any(|e| e.parts.offers.contains(&capability))
    }

    /// Every enabled extension's `T`s ([`ExtensionBuilder::add`]), in extension order.
    pub(crate) fn all<T: Send + Sync + 'static>(&self) -> &[T] {
        list_of(self.all.get(&TypeId::of::<T>()))
    }

    /// Whether no extension is enabled.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Names in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|e| e.name).collect()
    }

    /// Each extension's registrations for one web framework's layer, of the type the layer
    /// keeps them in (see [`ExtensionBuilder::side`]), in extension order; an extension
    /// that registered none is skipped.
    pub fn sides<T: Send + Sync + 'static>(&self) -> impl Iterator<Item = &T> {
        self.list.iter().filter_map(|e| e.parts.sides.get::<T>())
    }

    /// Whether an extension with `name` is enabled.
    pub fn contains(&self, name: &str) -> bool {
        self.list.iter().any(|e| e.name == name)
    }

    /// The user fields the extensions add, in order.
    pub fn user_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.list.iter().flat_map(|e| e.parts.user_fields.iter())
    }

    /// The changeset rules the extensions add, in order.
    pub(crate) fn changeset_hooks(&self) -> impl Iterator<Item = &Arc<dyn ChangesetHook>> {
        self.list
            .iter()
            .flat_map(|e| e.parts.changeset_hooks.iter())
    }

    /// The extensions' migrations, in extension order.
    pub fn migrations(&self) -> impl Iterator<Item = &SqlMigration> {
        self.list.iter().flat_map(|e| e.parts.migrations.iter())
    }

    /// The extensions' Fluent sources: `(extension, language, ftl)`.
    pub fn messages(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, &'static str)> + '_ {
        self.list.iter().flat_map(|e| {
            e.parts
                .messages
                .iter()
                .map(move |(lang, ftl)| (e.name, *lang, *ftl))
        })
    }

    /// The names of the mails the extensions send: `(extension, mail)`.
    pub fn mails(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.list
            .iter()
            .flat_map(|e| e.parts.mails.iter().map(move |mail| (e.name, *mail)))
    }

    /// The tables with rows of one user the extensions declared
    /// ([`ExtensionBuilder::user_table`]), with the extension's name.
    pub fn user_tables(&self) -> &[(&'static str, UserTable)] {
        &self.user_tables
    }

    /// Whether `page` is the core's or an enabled extension's
    /// ([`ExtensionBuilder::pages`]): a framework layer renders no other.
    pub(crate) fn is_page(&self, page: PageId) -> bool {
        self.page_ids.contains(&page)
    }

    /// Every page id the core and the enabled extensions render.
    pub fn pages(&self) -> impl Iterator<Item = PageId> + '_ {
        self.page_ids.iter().copied()
    }

    /// The authentication methods extensions registered
    /// ([`ExtensionBuilder::auth_methods`]).
    pub fn auth_methods(&self) -> &[crate::session::AuthMethod] {
        &self.auth_methods
    }

    /// Every method of this setup that counts as a second factor: the core's
    /// ([`AuthMethod::SECOND_FACTORS`](crate::session::AuthMethod::SECOND_FACTORS)) and
    /// those its extensions registered, in the order of their codes.
    pub(crate) fn second_factor_methods(&self) -> Vec<crate::session::AuthMethod> {
        let mut methods: Vec<_> = crate::session::AuthMethod::SECOND_FACTORS
            .into_iter()
            .chain(
                self.auth_methods
                    .iter()
                    .copied()
                    .filter(|m| m.is_second_factor()),
            )
            .collect();
        methods.sort();
        methods
    }

    /// The audit events the extensions record: `(extension, event)`.
    pub fn audit_events(
        &self,
    ) -> impl Iterator<Item = (&'static str, crate::audit::EventName)> + '_ {
        self.list.iter().flat_map(|e| {
            e.parts
                .audit_events
                .iter()
                .map(move |event| (e.name, *event))
        })
    }

    /// The kinds of mailed links the extensions declare, with the name of each extension.
    pub fn mail_links(&self) -> impl Iterator<Item = (&'static str, crate::link::LinkKind)> + '_ {
        self.list
            .iter()
            .flat_map(|e| e.parts.mail_links.iter().map(move |kind| (e.name, *kind)))
    }

    /// The ways to sign in the extensions add besides the password.
    pub fn credential_kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.list
            .iter()
            .flat_map(|e| e.parts.credential_kinds.iter().copied())
    }
}

/// `first` has to be listed before `then`.
fn misordered(first: &str, then: &str, why: &str) -> PowError {
    PowError::Config(format!(
        "extension `{first}` must be listed before `{then}` ({why}): call \
         PowConfigBuilder::extension for `{first}` first"
    ))
}

/// Whether a migration adds a column referencing the users table (a foreign key): the
/// extension then keeps rows about users that erasing an account must reach.
fn references_users(migration: &SqlMigration) -> bool {
    [migration.sqlite_up, migration.postgres_up]
        .iter()
        .any(|sql| {
            let words: Vec<String> = sql
                .split(|c: char| c.is_whitespace() || c == '(')
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            words
                .windows(2)
                .any(|pair| pair[0] == "references" && pair[1].trim_matches('"') == "users")
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    /// An extension that registers `values` as its list of `u32`s and, with `offers`,
    /// proves addresses.
    struct Numbers {
        name: &'static str,
        values: &'static [u32],
        offers: bool,
    }

    impl Extension for Numbers {
        fn name(&self) -> &'static str {
            self.name
        }

        fn build(&self, ext: &mut ExtensionBuilder) {
            for value in self.values {
                ext.add(*value);
            }
            if self.offers {
                ext.contributions.offers.push(Capability::AddressProof);
            }
        }
    }

    fn numbers(name: &'static str, values: &'static [u32], offers: bool) -> Arc<dyn Extension> {
        Arc::new(Numbers {
            name,
            values,
            offers,
        })
    }

    #[test]
    fn each_kind_reads_back_every_extensions_values_in_extension_order() {
        let extensions = Extensions::new(vec![
            numbers("first", &[1, 2], false),
            numbers("none", &[], false),
            numbers("second", &[3], false),
        ])
        .unwrap();
        assert_eq!(extensions.all::<u32>(), &[1, 2, 3]);
        // A kind nobody registered is an empty list, not an error.
        assert!(extensions.all::<u64>().is_empty());
        // Clones share the lists.
        assert_eq!(extensions.clone().all::<u32>(), &[1, 2, 3]);
    }

    #[test]
    fn what_only_one_may_offer_is_refused_from_a_second() {
        let err = Extensions::new(vec![
            numbers("first", &[], true),
            numbers("second", &[], true),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("extension `second` proves addresses"),
            "{err}"
        );
        let err = Extensions::new(vec![
            numbers("twice", &[], false),
            numbers("twice", &[], false),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("enabled twice"), "{err}");
    }
}

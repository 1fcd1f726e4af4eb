//! [`Extensions`]: the enabled extensions, in order, checked against each other's
//! [`Requirement`]s when the config is built.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{
    AddressProof, Contributions, CredentialsRevoked, Extension, ExtensionBuilder, FactorEnrolment,
    PageFn, Remembered, SecondFactor, SqlMigration, StagedSignUp, UserData, UserTable,
};
use crate::error::PowError;
use crate::users::{ChangesetHook, FieldDef};
use crate::views::PageId;

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

/// The enabled extensions, in order, with unique names, and what each registered in its
/// [`build`](Extension::build). Built once by the config.
#[derive(Clone, Default)]
pub struct Extensions {
    list: Vec<Built>,
    revoked: Vec<Arc<dyn CredentialsRevoked>>,
    sign_in_policies: Vec<Arc<dyn super::SignInPolicy>>,
    remembered: Vec<(&'static str, Arc<dyn Remembered>)>,
    user_data: Vec<(&'static str, Arc<dyn UserData>)>,
    user_tables: Vec<(&'static str, UserTable)>,
    pages: Vec<Arc<PageFn>>,
    page_ids: BTreeSet<PageId>,
    address_proof: Option<Arc<dyn AddressProof>>,
    staged_sign_up: Option<Arc<dyn StagedSignUp>>,
    owning_principals: Vec<Arc<dyn super::principal::OwningPrincipal>>,
    second_factors: Vec<Arc<dyn SecondFactor>>,
    factor_enrolments: Vec<Arc<dyn FactorEnrolment>>,
    auth_methods: Vec<crate::session::AuthMethod>,
    callbacks: Vec<Arc<dyn super::Callbacks>>,
    request_hooks: Vec<Arc<dyn super::RequestHook>>,
    step_up_pages: Vec<(crate::session::AuthMethod, Arc<super::StepUpPathFn>)>,
    page_routes: Vec<crate::pages::routes::PageRoute>,
    endpoints: Vec<crate::pages::endpoints::EndpointRoute>,
    assets: Vec<crate::pages::routes::Asset>,
    api_routes: Vec<crate::api::routes::ApiRoute>,
    api_sides: Vec<crate::api::ApiSide>,
}

/// One extension and its contributions.
#[derive(Clone)]
struct Built {
    name: &'static str,
    parts: Arc<Contributions>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Extensions {
    /// Builds each extension ([`Extension::build`]) and checks names are unique.
    ///
    /// # Errors
    /// [`PowError::Config`] naming the duplicate.
    pub fn new(list: Vec<Arc<dyn Extension>>) -> Result<Self, PowError> {
        let mut seen = BTreeSet::new();
        let mut built = Self {
            page_ids: PageId::CORE.into_iter().collect(),
            ..Self::default()
        };
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
            if owns_user_data && parts.user_data.is_empty() {
                return Err(PowError::Config(format!(
                    "extension `{name}` keeps data about users outside the users row but \
                     registers no erase and export hook: register one with \
                     ExtensionBuilder::user_data, so closing an account erases it"
                )));
            }
            built
                .user_tables
                .extend(parts.user_tables.iter().map(|table| (name, *table)));
            built.revoked.extend(parts.revoked.iter().cloned());
            built
                .sign_in_policies
                .extend(parts.sign_in_policies.iter().cloned());
            built.page_routes.extend(parts.page_routes.iter().cloned());
            built.endpoints.extend(parts.endpoints.iter().cloned());
            built.assets.extend(parts.assets.iter().copied());
            built.api_routes.extend(parts.api_routes.iter().cloned());
            built.api_sides.extend(parts.api_side.iter().cloned());
            built
                .user_data
                .extend(parts.user_data.iter().map(|data| (name, Arc::clone(data))));
            built.remembered.extend(
                parts
                    .remembered
                    .iter()
                    .map(|source| (name, Arc::clone(source))),
            );
            built.pages.extend(parts.pages.iter().cloned());
            built.page_ids.extend(parts.page_ids.iter().copied());
            built
                .second_factors
                .extend(parts.second_factors.iter().cloned());
            built
                .factor_enrolments
                .extend(parts.factor_enrolments.iter().cloned());
            built.callbacks.extend(parts.callbacks.iter().cloned());
            built
                .request_hooks
                .extend(parts.request_hooks.iter().cloned());
            built
                .step_up_pages
                .extend(parts.step_up_pages.iter().cloned());
            for method in &parts.auth_methods {
                crate::session::AuthMethod::register(*method)
                    .map_err(|why| PowError::Config(format!("extension `{name}`: {why}")))?;
                if !built.auth_methods.contains(method) {
                    built.auth_methods.push(*method);
                }
            }
            let twice = |what: &str| {
                PowError::Config(format!(
                    "extension `{name}` {what}, and an extension before it does too; enable \
                     one of them"
                ))
            };
            if let Some(proof) = &parts.address_proof {
                if built.address_proof.replace(Arc::clone(proof)).is_some() {
                    return Err(twice("proves addresses"));
                }
            }
            if let Some(staged) = &parts.staged_sign_up {
                if built.staged_sign_up.replace(Arc::clone(staged)).is_some() {
                    return Err(twice("offers staged sign-ups"));
                }
            }
            for principal in &parts.owning_principals {
                let kind = principal.kind();
                if built.owning_principal(kind).is_some() {
                    return Err(twice(&format!("keeps accounts of kind `{kind}`")));
                }
                built.owning_principals.push(Arc::clone(principal));
            }
            built.list.push(Built {
                name,
                parts: Arc::new(parts),
            });
        }
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
                                (self.address_proof.is_some(), "proves addresses")
                            }
                            Capability::StagedSignUp => {
                                (self.staged_sign_up.is_some(), "offers staged sign-ups")
                            }
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

    /// The hooks run when a user's credentials are revoked, in extension order.
    pub(crate) fn revocation_hooks(&self) -> &[Arc<dyn CredentialsRevoked>] {
        &self.revoked
    }

    /// The extensions' sign-in policies, in extension order.
    pub(crate) fn sign_in_policies(&self) -> &[Arc<dyn super::SignInPolicy>] {
        &self.sign_in_policies
    }

    /// What the extensions keep about users outside the row, with the name of each
    /// extension.
    pub fn user_data(&self) -> &[(&'static str, Arc<dyn UserData>)] {
        &self.user_data
    }

    /// The tables with rows of one user the extensions declared
    /// ([`ExtensionBuilder::user_table`]), with the extension's name.
    pub fn user_tables(&self) -> &[(&'static str, UserTable)] {
        &self.user_tables
    }

    /// The sources of remembered sign-ins, with the name of their extension.
    pub fn remembered(&self) -> &[(&'static str, Arc<dyn Remembered>)] {
        &self.remembered
    }

    /// The page additions, in extension order.
    pub fn page_extensions(&self) -> &[Arc<PageFn>] {
        &self.pages
    }

    /// Whether `page` is the core's or an enabled extension's
    /// ([`ExtensionBuilder::pages`](super::ExtensionBuilder::pages)): a framework layer
    /// renders no other.
    pub(crate) fn is_page(&self, page: PageId) -> bool {
        self.page_ids.contains(&page)
    }

    /// The static files the enabled extensions serve
    /// ([`ExtensionBuilder::asset`](super::ExtensionBuilder::asset)), in order.
    pub fn assets(&self) -> &[crate::pages::routes::Asset] {
        &self.assets
    }

    /// The page routes the enabled extensions serve
    /// ([`ExtensionBuilder::page_route`](super::ExtensionBuilder::page_route)), in order.
    pub fn page_routes(&self) -> &[crate::pages::routes::PageRoute] {
        &self.page_routes
    }

    /// The protocol endpoints the extensions serve
    /// ([`ExtensionBuilder::endpoint`](super::ExtensionBuilder::endpoint)), in order.
    pub fn endpoints(&self) -> &[crate::pages::endpoints::EndpointRoute] {
        &self.endpoints
    }

    /// The JSON routes the extensions serve
    /// ([`ExtensionBuilder::api_route`](super::ExtensionBuilder::api_route)), in order.
    pub fn api_routes(&self) -> &[crate::api::routes::ApiRoute] {
        &self.api_routes
    }

    /// The extensions' JSON sides (token hooks, OpenAPI fragments), in order.
    pub(crate) fn api_sides(&self) -> &[crate::api::ApiSide] {
        &self.api_sides
    }

    /// Every page id the core and the enabled extensions render.
    pub fn pages(&self) -> impl Iterator<Item = PageId> + '_ {
        self.page_ids.iter().copied()
    }

    /// The second factors extensions offer ([`ExtensionBuilder::second_factor`]), in
    /// registration order.
    ///
    /// [`ExtensionBuilder::second_factor`]: super::ExtensionBuilder::second_factor
    pub fn second_factors(&self) -> &[Arc<dyn SecondFactor>] {
        &self.second_factors
    }

    /// The callbacks around actions, in extension order.
    pub fn callbacks(&self) -> &[Arc<dyn super::Callbacks>] {
        &self.callbacks
    }

    /// The request hooks, in extension order.
    pub fn request_hooks(&self) -> &[Arc<dyn super::RequestHook>] {
        &self.request_hooks
    }

    /// The page performing `method` for step-up rules, if an extension has one (see
    /// [`ExtensionBuilder::step_up_page`](super::ExtensionBuilder::step_up_page)).
    pub fn step_up_page(
        &self,
        method: crate::session::AuthMethod,
        config: &crate::PowConfig,
    ) -> Option<String> {
        self.step_up_pages
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, path)| path(config))
    }

    /// The authentication methods extensions registered
    /// ([`ExtensionBuilder::auth_methods`](super::ExtensionBuilder::auth_methods)).
    pub fn auth_methods(&self) -> &[crate::session::AuthMethod] {
        &self.auth_methods
    }

    /// Every method of this setup that counts as a second factor: the core's
    /// ([`AuthMethod::SECOND_FACTORS`](crate::session::AuthMethod::SECOND_FACTORS)) and
    /// those its extensions registered, in the order of their codes.
    pub fn second_factor_methods(&self) -> Vec<crate::session::AuthMethod> {
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

    /// The rule every change of `user`'s second factors goes through (enrolling, replacing
    /// or removing a TOTP secret, recovery codes, a passkey, a security key): `None` when
    /// `user` (the row as stored) has no second factor set up, so sudo mode suffices;
    /// otherwise a step-up that only a recent proof of one of the factors `user` has meets,
    /// within the sudo window. Someone holding the password alone (a stolen session plus
    /// the password) can then neither remove a factor nor add their own.
    ///
    /// # Errors
    /// The store's or the database's error.
    pub async fn factor_change_rule(
        &self,
        config: &crate::PowConfig,
        user: &crate::users::User,
    ) -> Result<Option<crate::session::StepUp>, PowError> {
        let mut methods = Vec::new();
        for enrolment in &self.factor_enrolments {
            for method in enrolment.enrolled_methods(config, user).await? {
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
        }
        Ok((!methods.is_empty())
            .then(|| crate::session::StepUp::any_of(methods, config.session().sudo_window)))
    }

    /// The extension that proves addresses, if one is enabled.
    pub fn address_proof(&self) -> Option<&Arc<dyn AddressProof>> {
        self.address_proof.as_ref()
    }

    /// The extension that offers staged sign-ups, if one is enabled.
    pub fn staged_sign_up(&self) -> Option<&Arc<dyn StagedSignUp>> {
        self.staged_sign_up.as_ref()
    }

    /// The extension's accounts of `kind` that may own credentials (see
    /// [`OwningPrincipal`](super::principal::OwningPrincipal)), if one is enabled.
    pub fn owning_principal(
        &self,
        kind: &str,
    ) -> Option<&Arc<dyn super::principal::OwningPrincipal>> {
        self.owning_principals.iter().find(|p| p.kind() == kind)
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

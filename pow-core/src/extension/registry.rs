//! The extension hooks that receive the config ([`CredentialsRevoked`], [`UserData`],
//! [`SecondFactor`], ...), read back from a setup's [`Extensions`] in extension order by
//! the code that runs them. The config holds them without naming their types.

use std::sync::Arc;

use super::principal::OwningPrincipal;
use super::{
    AddressProof, CredentialsRevoked, Extensions, FactorEnrolment, PageFn, Remembered,
    SecondFactor, SignInPolicy, StagedSignUp, StepUpPathFn, UserData,
};
use crate::error::PowError;

impl Extensions {
    /// The hooks run when a user's credentials are revoked, in extension order.
    pub(crate) fn revocation_hooks(&self) -> &[Arc<dyn CredentialsRevoked>] {
        self.all()
    }

    /// The extensions' sign-in policies, in extension order.
    pub(crate) fn sign_in_policies(&self) -> &[Arc<dyn SignInPolicy>] {
        self.all()
    }

    /// What the extensions keep about users outside the row, with the name of each
    /// extension.
    pub fn user_data(&self) -> &[(&'static str, Arc<dyn UserData>)] {
        self.all()
    }

    /// The sources of remembered sign-ins, with the name of their extension.
    pub fn remembered(&self) -> &[(&'static str, Arc<dyn Remembered>)] {
        self.all()
    }

    /// The page additions, in extension order.
    pub fn page_extensions(&self) -> &[Arc<PageFn>] {
        self.all()
    }

    /// The second factors extensions offer ([`ExtensionBuilder::second_factor`]), in
    /// registration order.
    ///
    /// [`ExtensionBuilder::second_factor`]: super::ExtensionBuilder::second_factor
    pub fn second_factors(&self) -> &[Arc<dyn SecondFactor>] {
        self.all()
    }

    /// The page performing `method` for step-up rules, if an extension has one (see
    /// [`ExtensionBuilder::step_up_page`](super::ExtensionBuilder::step_up_page)).
    pub fn step_up_page(
        &self,
        method: crate::session::AuthMethod,
        config: &crate::PowConfig,
    ) -> Option<String> {
        self.all::<(crate::session::AuthMethod, Arc<StepUpPathFn>)>()
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, path)| path(config))
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
    pub(crate) async fn factor_change_rule(
        &self,
        config: &crate::PowConfig,
        user: &crate::users::User,
    ) -> Result<Option<crate::session::StepUp>, PowError> {
        let mut methods = Vec::new();
        for enrolment in self.all::<Arc<dyn FactorEnrolment>>() {
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
        self.all().last()
    }

    /// The extension that offers staged sign-ups, if one is enabled.
    pub fn staged_sign_up(&self) -> Option<&Arc<dyn StagedSignUp>> {
        self.all().last()
    }

    /// The extension's accounts of `kind` that may own credentials (see
    /// [`OwningPrincipal`]), if one is enabled.
    pub fn owning_principal(&self, kind: &str) -> Option<&Arc<dyn OwningPrincipal>> {
        self.all::<Arc<dyn OwningPrincipal>>()
            .iter()
            .find(|p| p.kind() == kind)
    }
}

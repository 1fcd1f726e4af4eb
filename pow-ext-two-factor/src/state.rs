//! What a user's row says about the second factor.

use pow_core::users::User;

use crate::{ENABLED_AT_FIELD, RECOVERY_CODES_FIELD, SECRET_FIELD};

/// Whether `user` has a second factor.
pub fn is_enabled(user: &User) -> bool {
    user.get(ENABLED_AT_FIELD).is_some_and(|v| !v.is_null()) && user.get_str(SECRET_FIELD).is_some()
}

/// The stored hashes of the user's unused recovery codes.
pub(crate) fn recovery_hashes(user: &User) -> Vec<String> {
    user.get_str(RECOVERY_CODES_FIELD)
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// How many recovery codes the user has left.
pub fn recovery_codes_left(user: &User) -> usize {
    recovery_hashes(user).len()
}

/// The second factor in the user's data export: whether it is on and since when, and how
/// many recovery codes are left (never the seed nor the codes). Its data lives in the
/// users row, so erasing the row erases it; erasing ends the user's pending sign-ins and
/// drops a secret being set up, in the store.
pub(crate) struct Export;

#[async_trait::async_trait]
impl pow_core::extension::UserData for Export {
    async fn export(
        &self,
        _config: &pow_core::PowConfig,
        user: &User,
    ) -> Result<serde_json::Value, pow_core::PowError> {
        Ok(serde_json::json!({
            "enabled": is_enabled(user),
            "enabled_at": user.get_timestamp(ENABLED_AT_FIELD).map(|at| at.to_rfc3339()),
            "recovery_codes_left": recovery_codes_left(user),
        }))
    }

    async fn erase(
        &self,
        config: &pow_core::PowConfig,
        user: &User,
    ) -> Result<(), pow_core::PowError> {
        crate::store::Records::new(config)
            .forget_user(user.id)
            .await?;
        Ok(())
    }
}

/// The TOTP secret and its recovery codes as second factors, for the rule that guards
/// every change of a user's factors: turning two-factor off, new recovery codes, and any
/// other extension's enrolment or removal then ask for a recent code.
pub(crate) struct Enrolment;

#[async_trait::async_trait]
impl pow_core::extension::FactorEnrolment for Enrolment {
    async fn enrolled_methods(
        &self,
        _config: &pow_core::PowConfig,
        user: &User,
    ) -> Result<Vec<pow_core::session::AuthMethod>, pow_core::PowError> {
        use pow_core::session::AuthMethod;
        Ok(match is_enabled(user) {
            true => vec![AuthMethod::TOTP, AuthMethod::RECOVERY_CODE],
            false => Vec::new(),
        })
    }
}

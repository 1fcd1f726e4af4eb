//! The one admission every new session and every API token renewal passes: the account is
//! neither disabled nor closed, and every extension's
//! [`SignInPolicy`](crate::extension::SignInPolicy) lets the user in by
//! the methods the session proved. Each way of signing in (a browser's cookie session, an
//! API token pair, a store-only session, a renewal) calls [`admit`]: a rule kept here
//! cannot be forgotten on one of them.

use crate::config::PowConfig;
use crate::error::PowError;
use crate::users::User;

use super::MethodUse;

pub use crate::error::SignInRefusal;

/// Whether `user` may get a session having proved `methods` (the new session's, or the
/// renewed chain's): the account is neither disabled nor closed, and no extension's policy
/// refuses.
///
/// # Errors
/// [`PowError::AccountDisabled`], [`PowError::AccountClosed`],
/// [`PowError::SignInRefused`], or a policy's own failure (the sign-in fails closed).
pub async fn admit(config: &PowConfig, user: &User, methods: &[MethodUse]) -> Result<(), PowError> {
    if user.is_disabled() {
        return Err(PowError::AccountDisabled);
    }
    if user.is_closed() {
        return Err(PowError::AccountClosed);
    }
    let policies = config.extensions().sign_in_policies();
    if policies.is_empty() {
        return Ok(());
    }
    let methods: Vec<_> = methods.iter().map(|used| used.method).collect();
    for policy in policies {
        if let Some(refusal) = policy.check(config, user, &methods).await? {
            tracing::info!(
                user.id = user.id,
                policy = refusal.policy,
                "a sign-in policy refused a session"
            );
            return Err(PowError::SignInRefused(refusal));
        }
    }
    Ok(())
}

//! The per-account budget of second factors and mailed codes.
//!
//! A code of 6 digits is guessed in a million tries; with three valid codes at a time (a
//! TOTP step and one either side) far fewer. A limit per pending sign-in or per mailed code
//! does not hold when the attacker can start as many as they like (every correct password
//! starts a new pending sign-in; anybody can ask for codes to any address). So every
//! failure also counts against the account, from every client, in the shared cache store,
//! on a counter of its own:
//!
//! - [`factor_failed`] counts one wrong code (TOTP, recovery code, mailed code). The one
//!   that reaches [`Lockout::max_factor_failures`](super::Lockout::max_factor_failures)
//!   within [`Lockout::failure_window`](super::Lockout::failure_window) locks the account:
//!   the same lock as after too many wrong passwords, with its audit event
//!   (`lockout.locked`, `detail.by = "second_factor"`) and its notice mail.
//! - [`factor_passed`] clears the count; a correct password does **not** (NIST 800-63B
//!   5.2.2: consecutive failed attempts on the authenticator).
//! - [`ensure_not_locked`] refuses a locked account's pending sign-ins, codes and links.
//!
//! Accounts are named by their normalised identifier (the
//! [`user_id_field`](crate::PowConfig::user_id_field)) and counters are keyed by its keyed
//! hash; an unknown identifier counts and locks exactly like a known one. With
//! [`RateLimits::lockout`](super::RateLimits::lockout) off, nothing is counted.

use super::{refused, Counter, LimitReason, Lockouts};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::request::RequestSource;
use crate::users::validation::normalize_user_id;
use crate::users::User;

/// The normalised identifier the account of `user` is counted and locked under, `None`
/// for a user without one.
pub fn account_identifier(config: &PowConfig, user: &User) -> Option<String> {
    user.get_str(config.user_id_field()).map(normalize_user_id)
}

/// Counts a failed second factor or mailed code for the account `identifier` (normalised:
/// see [`account_identifier`]), from any client; the failure that uses up the budget locks
/// the account and mails its owner the lock notice. Call it once per wrong code.
///
/// # Errors
/// The store's error.
pub async fn factor_failed(
    config: &PowConfig,
    req: &dyn RequestSource,
    identifier: &str,
) -> Result<(), PowError> {
    let Some(lockout) = config.rate_limits().lockout else {
        return Ok(());
    };
    let lang = crate::messages::request_language(req, config.messages());
    Lockouts::new(config)
        .record(req, &lang, Counter::Factor, lockout, identifier)
        .await
}

/// Clears the failed second factors of the account `identifier` (after a right code).
///
/// # Errors
/// The store's error.
pub async fn factor_passed(config: &PowConfig, identifier: &str) -> Result<(), PowError> {
    if config.rate_limits().lockout.is_none() {
        return Ok(());
    }
    Lockouts::new(config)
        .forget(Counter::Factor, identifier)
        .await
}

/// Refuses a locked account: [`PowError::RateLimited`] with
/// [`LimitReason::Locked`](super::LimitReason::Locked), as a password sign-in is refused.
///
/// # Errors
/// [`PowError::RateLimited`] when the account `identifier` is locked; the store's error.
pub async fn ensure_not_locked(config: &PowConfig, identifier: &str) -> Result<(), PowError> {
    let Some(lockout) = config.rate_limits().lockout else {
        return Ok(());
    };
    if Lockouts::new(config).is_locked(identifier).await? {
        return Err(refused(LimitReason::Locked, lockout.lock_for));
    }
    Ok(())
}

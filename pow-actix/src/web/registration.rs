//! A completed sign-up on actix-web, for extensions that create the user themselves (an
//! accepted invitation): the engine's [`core::signed_up`].

use pow_core::pages::core;

use super::action::Outcome;
use super::callbacks::Controller;
use super::pages::serve;
use crate::error::PowError;
use crate::users::User;

/// Finishes a successful sign-up (or a completed one, such as an accepted invitation):
/// signs `user` in with a new session, says so in the flash, hands the user to the
/// callbacks and redirects to the routes backend's after-registration path
/// ([`core::signed_up`] on actix-web).
///
/// # Errors
/// [`PowError::Store`] when the session cannot be stored.
pub async fn signed_up(ctl: &mut Controller, user: User) -> Result<Outcome, PowError> {
    serve(ctl, async |step, client| {
        core::signed_up(step, client, user).await
    })
    .await
}

//! The actix side of the extension: the app's way to start a staged sign-up from an
//! actix-web handler. Its pages and JSON endpoints are the engine's routes (`crate::pages`,
//! `crate::api`), which every framework mounts.

use actix_web::HttpRequest;
use pow_actix::users::Params;
use pow_actix::PowError;
use pow_core::extension::StagedSignUp as _;

use crate::Passwordless;

impl Passwordless {
    /// Starts a staged sign-up for `email` from the app (after an external identity gave
    /// the address, say): mails a link that proves the address and opens the sign-up form,
    /// prefilled with `prefill` (castable user fields). An address that has an account gets
    /// a sign-in link instead; the answer is the same. (On another framework, call
    /// [`StagedSignUp::start`](pow_core::extension::StagedSignUp::start) with the request's
    /// facts.)
    ///
    /// # Errors
    /// [`PowError::Config`] outside a pow-rs route; the store's, users context's or mailer's
    /// error; [`PowError::RateLimited`] over the per-client mail limit.
    pub async fn start_staged_sign_up(
        &self,
        req: &HttpRequest,
        email: &str,
        prefill: Params,
    ) -> Result<(), PowError> {
        let config = pow_actix::web::route_config(req)?;
        let facts = pow_actix::web::ActixRequest(req).facts();
        self.start(&config, &facts, email, prefill).await
    }
}

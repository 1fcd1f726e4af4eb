//! The actix side of the extension: its JSON endpoints (`json`) and the app's way to start
//! a staged sign-up from an actix-web handler; its pages are the engine's page routes
//! (`crate::pages`), which every framework mounts.

pub(crate) mod json;

use actix_web::HttpRequest;
use pow_actix::users::Params;
use pow_actix::PowError;

use crate::flows::request_staged;
use crate::{Passwordless, PasswordlessApi};

impl Passwordless {
    /// The JSON side, to add to [`ApiOptions`](pow_actix::api::ApiOptions) when the config
    /// does not enable the extension itself.
    pub fn api(&self) -> PasswordlessApi {
        PasswordlessApi::new(self.clone())
    }

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
        let lang = pow_actix::messages::request_language(&facts, config.messages());
        request_staged(&facts, &config, self, &lang, email, prefill).await
    }
}

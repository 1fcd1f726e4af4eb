//! The extension's say in issuing API tokens ([`ConfirmationHooks`]): engine code, the
//! same for every framework layer's JSON side.

use pow_core::api::{ApiAction, Held, Issue, PendingStep, TokenHooks};
use pow_core::messages::LanguageIdentifier;
use pow_core::users::User;
use pow_core::{PowConfig, PowError};
use serde_json::{json, Map, Value};

use crate::mail::{self, Sent};
use crate::schema::{has_pending_change, is_unconfirmed};
use crate::EmailConfirmation;

pub(crate) const REQUIRED: &str = "pow_email_confirmation_email_confirmation_required";
pub(crate) const SENT: &str = "pow_email_confirmation_email_confirmation_sent";
pub(crate) const NOT_CONFIRMED: &str = "pow_email_confirmation_email_not_confirmed";

/// The email-confirmation extension's [`TokenHooks`]: strict mode holds the pair of an
/// unconfirmed user back (`401 email_confirmation_required`, the link mailed again), every
/// token answer says whether the address is confirmed, `GET /session` lists
/// `confirm_email` while it is not, and a taken address is answered as a new one. The
/// extension registers them for every framework's JSON API; mailed links point where its
/// [`api_link_template`](EmailConfirmation::api_link_template) says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationHooks {
    pub(crate) ext: EmailConfirmation,
}

impl ConfirmationHooks {
    /// The hooks of `ext`, with mail links pointing where its
    /// [`api_link_template`](EmailConfirmation::api_link_template) says (`None`: the
    /// config's [`frontend_link`](pow_core::PowConfigBuilder::frontend_link) for
    /// [`LINK`](crate::LINK), else the HTML route).
    pub fn new(ext: EmailConfirmation) -> Self {
        Self { ext }
    }

    /// Mails the confirmation link (rate limited per address, as on the HTML side).
    pub(crate) async fn send(
        &self,
        req: &dyn pow_core::request::RequestSource,
        config: &PowConfig,
        lang: &LanguageIdentifier,
        user: User,
    ) -> Result<Sent, PowError> {
        let link = self.ext.api_link.as_ref();
        mail::send_with_link(&self.ext, req, config, lang, user, link).await
    }
}

/// `401 email_confirmation_required`, waiting for the mailed link.
fn required(config: &PowConfig, lang: &LanguageIdentifier) -> Held {
    Held::new(401, config.messages().text(lang, REQUIRED))
        .with_code("email_confirmation_required")
        .pending(PendingStep::new("confirm_email").methods(["email_link"]))
}

#[async_trait::async_trait]
impl TokenHooks for ConfirmationHooks {
    /// Strict mode: no tokens for an unconfirmed user. The link is mailed again (within
    /// the resend limit), as the HTML sign-in does, and the answer says so.
    async fn before_issue(&self, issue: &Issue<'_>) -> Result<(), PowError> {
        if self.ext.is_soft() || !is_unconfirmed(issue.user) {
            return Ok(());
        }
        self.send(issue.req, issue.config, issue.lang, issue.user.clone())
            .await?;
        Err(required(issue.config, issue.lang).into())
    }

    /// Every token answer says whether the address is confirmed. Soft mode: an
    /// unconfirmed user gets the tokens, with `email_confirmed: false` and a message; on
    /// sign-up the link is mailed, as the HTML sign-up does.
    async fn extend_token_data(
        &self,
        issue: &Issue<'_>,
        data: &mut Map<String, Value>,
    ) -> Result<(), PowError> {
        let unconfirmed = is_unconfirmed(issue.user);
        data.insert("email_confirmed".into(), json!(!unconfirmed));
        if !unconfirmed {
            return Ok(());
        }
        let message = if issue.action == ApiAction::Registration {
            self.send(issue.req, issue.config, issue.lang, issue.user.clone())
                .await?;
            SENT
        } else {
            NOT_CONFIRMED
        };
        data.insert(
            "email_confirmation_message".into(),
            json!(issue.text(message)),
        );
        Ok(())
    }

    /// Strict mode hides a taken address: the sign-up gets the answer a new address gets
    /// ("confirm your address", `401`), no link goes out, and the core mails the owner a
    /// notice of the attempt in the background.
    async fn taken_sign_up(&self, config: &PowConfig, lang: &LanguageIdentifier) -> Option<Held> {
        (!self.ext.is_soft()).then(|| required(config, lang))
    }

    /// Soft mode signs an unconfirmed user in: `GET /session` lists `confirm_email` until
    /// the link is opened, and `confirm_email_change` while a new address waits.
    async fn pending_steps(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<Vec<PendingStep>, PowError> {
        // As stored now: the session's copy may predate a confirmation.
        let Some(user) = config.users()?.get(user.id).await? else {
            return Ok(Vec::new());
        };
        let mut steps = Vec::new();
        if is_unconfirmed(&user) {
            steps.push(PendingStep::new("confirm_email").methods(["email_link"]));
        }
        if has_pending_change(&user) {
            steps.push(PendingStep::new("confirm_email_change").methods(["email_link"]));
        }
        Ok(steps)
    }
}

//! The reset mail.

use std::time::Duration;

use pow_core::mailer::{compose, validity_text, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::{PowConfig, PowError};

use crate::MailDelivery;

/// Renders and delivers the reset mail to `to` with the link `url`, now or in a task of
/// its own (see [`MailDelivery`]).
pub(crate) async fn send(
    delivery: MailDelivery,
    config: &PowConfig,
    lang: LanguageIdentifier,
    to: String,
    url: String,
    ttl: Duration,
) -> Result<(), PowError> {
    let job = deliver(config.clone(), lang, to, url, ttl);
    match delivery {
        MailDelivery::Inline => job.await,
        MailDelivery::Background => {
            tokio::spawn(async move {
                if let Err(err) = job.await {
                    tracing::error!(error = %err, "sending a password reset mail failed");
                }
            });
            Ok(())
        }
    }
}

async fn deliver(
    config: PowConfig,
    lang: LanguageIdentifier,
    to: String,
    url: String,
    ttl: Duration,
) -> Result<(), PowError> {
    let messages = config.messages();
    let paragraphs = vec![
        messages.text(&lang, "pow_reset_password_mail_intro"),
        validity_text(&config, &lang, "pow_reset_password_mail_expiry", ttl),
        messages.text(&lang, "pow_reset_password_mail_ignore"),
    ];
    let label = messages.text(&lang, "pow_reset_password_mail_link");
    let subject = messages.text(&lang, "pow_reset_password_mail_subject");
    let mail = compose(
        &config,
        &MailContent {
            name: crate::MAIL,
            lang: &lang,
            to: &to,
            subject: &subject,
            paragraphs: &paragraphs,
            link: Some((&label, &url)),
        },
    )?;
    config.mailer().deliver(mail).await
}

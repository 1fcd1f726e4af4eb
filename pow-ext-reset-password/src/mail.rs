//! The reset mail.

use std::time::Duration;

use pow_core::mailer::{compose, MailContent};
use pow_core::messages::{LanguageIdentifier, MessageArg};
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
            actix_web::rt::spawn(async move {
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
    let (expiry_key, count) = expiry(ttl);
    let paragraphs: Vec<String> = [
        messages.message(&lang, "pow_reset_password_mail_intro", &[]),
        messages.message(&lang, expiry_key, &[("count", MessageArg::from(count))]),
        messages.message(&lang, "pow_reset_password_mail_ignore", &[]),
    ]
    .into_iter()
    .flatten()
    .collect();
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

/// The message key and count saying how long a link works: whole hours when the TTL is
/// a whole number of hours, else minutes (rounded up).
fn expiry(ttl: Duration) -> (&'static str, i64) {
    let hours = ttl.as_secs() / 3600;
    if hours > 0 && Duration::from_secs(hours * 3600) == ttl {
        (
            "pow_reset_password_mail_expiry_hours",
            i64::try_from(hours).unwrap_or(i64::MAX),
        )
    } else {
        let minutes = ttl.as_millis().div_ceil(60_000).max(1);
        (
            "pow_reset_password_mail_expiry_minutes",
            i64::try_from(minutes).unwrap_or(i64::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_in_hours_or_minutes() {
        assert_eq!(
            expiry(Duration::from_secs(7200)),
            ("pow_reset_password_mail_expiry_hours", 2)
        );
        assert_eq!(
            expiry(Duration::from_secs(5400)),
            ("pow_reset_password_mail_expiry_minutes", 90)
        );
        assert_eq!(
            expiry(Duration::from_secs(61)),
            ("pow_reset_password_mail_expiry_minutes", 2)
        );
        assert_eq!(
            expiry(Duration::from_millis(10)),
            ("pow_reset_password_mail_expiry_minutes", 1)
        );
    }
}

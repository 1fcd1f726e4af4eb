//! Composing a mail with the setup's views and messages, and the texts for how long a
//! link works.

use std::time::Duration;

use super::{Mail, MailContent};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::{LanguageIdentifier, MessageArg};

/// Renders `mail` with the setup's [`MailViews`](super::MailViews): what extensions call to build the mails
/// they send.
///
/// # Errors
/// [`PowError::Template`] when rendering fails.
pub fn compose(config: &PowConfig, mail: &MailContent<'_>) -> Result<Mail, PowError> {
    config.mail_views().render(config.messages(), mail)
}

/// Composes `mail` and delivers it with the config's mailer, best effort: a failure is
/// logged (`what` could not be sent, with the error), never returned, so a notice that
/// does not go out changes no answer.
pub async fn deliver_best_effort(config: &PowConfig, mail: &MailContent<'_>, what: &str) {
    let sent = match compose(config, mail) {
        Ok(composed) => config.mailer().deliver(composed).await,
        Err(err) => Err(err),
    };
    if let Err(err) = sent {
        tracing::warn!(error = %err, mail = mail.name, "{what} could not be sent");
    }
}

/// How long a link works, in the mail's language: the message `{prefix}_hours` with
/// `count` whole hours when `ttl` is a whole number of hours, else `{prefix}_minutes`
/// with `count` whole minutes, rounded down (a mail never promises more than the link
/// gives) but at least 1. Empty when the messages lack the key.
///
/// ```
/// use std::time::Duration;
/// use pow_core::mailer::validity_text;
///
/// let config = pow_core::PowConfig::builder("a".repeat(64)).build()?;
/// let en = "en".parse()?;
/// let text = validity_text(&config, &en, "pow_reset_password_mail_expiry", Duration::from_secs(5400));
/// assert!(text.is_empty() || text.contains("90"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub fn validity_text(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    prefix: &str,
    ttl: Duration,
) -> String {
    let (unit, count) = validity(ttl);
    let key = format!("{prefix}_{unit}");
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    config
        .messages()
        .message(lang, &key, &[("count", MessageArg::Num(count))])
        .unwrap_or_default()
}

/// `("hours", n)` for a whole number of hours, else `("minutes", n)` rounded down, at least 1.
fn validity(ttl: Duration) -> (&'static str, u64) {
    let secs = ttl.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) && ttl.subsec_nanos() == 0 {
        ("hours", secs / 3600)
    } else {
        ("minutes", (secs / 60).max(1))
    }
}

#[cfg(test)]
mod validity_tests {
    use super::*;

    #[test]
    fn whole_hours_else_minutes_rounded_down() {
        assert_eq!(validity(Duration::from_secs(7200)), ("hours", 2));
        assert_eq!(validity(Duration::from_secs(5400)), ("minutes", 90));
        assert_eq!(validity(Duration::from_secs(119)), ("minutes", 1));
        assert_eq!(validity(Duration::from_millis(10)), ("minutes", 1));
        assert_eq!(validity(Duration::from_millis(3_600_500)), ("minutes", 60));
    }
}

//! [`MailViews`]: the seam that renders mails by name, so an app replaces one mail's
//! template (HTML and text) without forking the extension that sends it.

use std::time::Duration;

use super::{render_mail, Mail};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::{LanguageIdentifier, MessageArg};

/// What a mail says, before it is rendered: a name to pick the template by, and the
/// translated texts.
#[derive(Clone, Debug)]
pub struct MailContent<'a> {
    /// The mail's name, `"<extension>/<mail>"` (`"reset_password/reset_password"`,
    /// `"email_confirmation/email_confirmation"`, `"invitation/invitation"`, ...). Each
    /// extension registers its names with
    /// [`ExtensionBuilder::mails`](crate::extension::ExtensionBuilder::mails).
    pub name: &'a str,
    /// The language of the texts.
    pub lang: &'a LanguageIdentifier,
    /// The recipient.
    pub to: &'a str,
    /// The subject line.
    pub subject: &'a str,
    /// The paragraphs; the first introduces the link.
    pub paragraphs: &'a [String],
    /// The link: button label and absolute URL.
    pub link: Option<(&'a str, &'a str)>,
}

/// Renders mails by name. [`DefaultMailViews`] renders every mail in the built-in layout;
/// an app overrides one mail by matching on [`MailContent::name`] and delegating the rest,
/// as it does for pages with [`Views`](crate::views::Views):
///
/// ```
/// use pow_core::mailer::{DefaultMailViews, Mail, MailContent, MailViews};
/// use pow_core::{PowConfig, PowError};
///
/// struct BrandedInvitation;
///
/// impl MailViews for BrandedInvitation {
///     fn render(&self, config: &PowConfig, mail: &MailContent<'_>) -> Result<Mail, PowError> {
///         if mail.name != "invitation/invitation" {
///             return DefaultMailViews.render(config, mail);
///         }
///         let url = mail.link.map(|(_, url)| url).unwrap_or_default();
///         Ok(Mail {
///             to: mail.to.to_owned(),
///             subject: "Join us at Example".to_owned(),
///             text: format!("Join us: {url}\n"),
///             html: format!("<p>Join us: <a href=\"{url}\">accept</a></p>"),
///         })
///     }
/// }
///
/// let config = PowConfig::builder("s".repeat(64)).mail_views(BrandedInvitation).build().unwrap();
/// ```
pub trait MailViews: Send + Sync + 'static {
    /// Renders `mail` for `config`.
    ///
    /// # Errors
    /// [`PowError::Template`] when rendering fails.
    fn render(&self, config: &PowConfig, mail: &MailContent<'_>) -> Result<Mail, PowError>;
}

/// The built-in mails: one layout ([`render_mail`]) for every name.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultMailViews;

impl MailViews for DefaultMailViews {
    fn render(&self, config: &PowConfig, mail: &MailContent<'_>) -> Result<Mail, PowError> {
        render_mail(
            mail.lang,
            config.messages(),
            mail.to,
            mail.subject.to_owned(),
            mail.paragraphs,
            mail.link,
        )
    }
}

/// Renders `mail` with the setup's [`MailViews`]: what extensions call to build the mails
/// they send.
///
/// # Errors
/// [`PowError::Template`] when rendering fails.
pub fn compose(config: &PowConfig, mail: &MailContent<'_>) -> Result<Mail, PowError> {
    config.mail_views().render(config, mail)
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

//! [`MailViews`]: the seam that renders mails by name, so an app replaces one mail's
//! template (HTML and text) without forking the extension that sends it.

use super::{render_mail, Mail};
use crate::error::PowError;
use crate::messages::{LanguageIdentifier, Messages};

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
/// use pow_core::messages::Messages;
/// use pow_core::{PowConfig, PowError};
///
/// struct BrandedInvitation;
///
/// impl MailViews for BrandedInvitation {
///     fn render(&self, messages: &dyn Messages, mail: &MailContent<'_>) -> Result<Mail, PowError> {
///         if mail.name != "invitation/invitation" {
///             return DefaultMailViews.render(messages, mail);
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
    /// Renders `mail`; `messages` are the setup's, for any text the template adds.
    ///
    /// # Errors
    /// [`PowError::Template`] when rendering fails.
    fn render(&self, messages: &dyn Messages, mail: &MailContent<'_>) -> Result<Mail, PowError>;
}

/// The built-in mails: one layout ([`render_mail`]) for every name.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultMailViews;

impl MailViews for DefaultMailViews {
    fn render(&self, messages: &dyn Messages, mail: &MailContent<'_>) -> Result<Mail, PowError> {
        render_mail(
            mail.lang,
            messages,
            mail.to,
            mail.subject.to_owned(),
            mail.paragraphs,
            mail.link,
        )
    }
}

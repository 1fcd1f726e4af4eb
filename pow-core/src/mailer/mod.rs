//! Sending mails: the [`Mailer`] trait, its transports and the shared mail layout.
//!
//! Extensions describe a mail as [`MailContent`] (a name, translated texts, a link) and
//! render it with [`compose`], through the setup's [`MailViews`]: by default
//! [`DefaultMailViews`], the built-in layout ([`render_mail`]: HTML and plain text, starting
//! with the translated "Hi,"). An app replaces one mail's template by name with
//! [`PowConfigBuilder::mail_views`](crate::PowConfigBuilder::mail_views). The rendered
//! [`Mail`] goes to the configured mailer ([`PowConfig::mailer`](crate::PowConfig::mailer)).
//!
//! | Mailer | Use |
//! |---|---|
//! | [`SmtpMailer`] | Production: sends through an SMTP relay given by URL. |
//! | [`FileMailer`] | Development: writes one `.eml` file per mail into a directory. |
//! | [`MemoryMailer`] | Tests: keeps mails in memory to inspect them. |
//! | [`LogMailer`] | The default, for development: sends nothing; prints each mail to the terminal (stderr) when the app installs no `tracing` subscriber, logs it at `info` through `tracing` otherwise. |
//!
//! A custom mailer (an HTTP mail API, a queue) implements [`Mailer`]:
//!
//! ```
//! use pow_core::mailer::{Mail, Mailer};
//! use pow_core::PowError;
//!
//! struct Queue;
//!
//! #[async_trait::async_trait]
//! impl Mailer for Queue {
//!     async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
//!         // Push `mail` to a job queue here.
//!         let _ = mail;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! # Security
//! Mails carry sign-in capable links (reset, confirmation and invitation tokens). Do not
//! log them in production: [`LogMailer`] is for development only.

mod background;
mod compose;
mod notices;
mod transports;
mod views;

use askama::Template;

pub use background::BackgroundMailer;
pub use compose::{compose, deliver_best_effort, validity_text};
pub(crate) use notices::send_notice_with_facts;
pub use notices::{
    send_extension_notice, send_notice, send_notice_with_link, within_mail_share, Notice,
};
pub use transports::{FileMailer, LogMailer, MemoryMailer, SmtpMailer};
pub use views::{DefaultMailViews, MailContent, MailViews};

use crate::error::PowError;
use crate::messages::{LanguageIdentifier, Messages};

/// A rendered mail, ready to deliver. The sender address belongs to the mailer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Delivers mails. Implementations are shared across requests.
///
/// pow-core ships [`SmtpMailer`], [`FileMailer`], [`MemoryMailer`] and [`LogMailer`] (the
/// default). An app with another way out (an HTTP mail API, a job queue) implements this
/// trait and sets it with
/// [`PowConfigBuilder::mailer`](crate::PowConfigBuilder::mailer):
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use pow_core::mailer::{send_notice, Mail, Mailer, Notice};
/// use pow_core::request::RequestFacts;
/// use pow_core::{PowConfig, PowError};
///
/// /// Keeps each mail's recipient and subject; a real one would call a mail API here.
/// #[derive(Clone, Default)]
/// struct Outbox(Arc<Mutex<Vec<(String, String)>>>);
///
/// #[async_trait::async_trait]
/// impl Mailer for Outbox {
///     async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
///         let mut sent = self.0.lock().map_err(|_| PowError::Mailer("outbox poisoned".into()))?;
///         sent.push((mail.to, mail.subject));
///         Ok(())
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let outbox = Outbox::default();
/// let config = PowConfig::builder("x".repeat(64))
///     .mailer(outbox.clone())
///     .base_url("https://example.com") // where the links in mails point
///     .build()?;
///
/// // pow-rs mails through the config's mailer, e.g. the notice after a password change.
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let en = "en".parse()?;
/// let request = RequestFacts::default();
/// let notice = send_notice(&config, &request, &en, "jane@example.com", Notice::PasswordChanged);
/// runtime.block_on(notice);
///
/// let sent = outbox.0.lock().map_err(|_| "outbox poisoned")?.clone();
/// assert_eq!(sent, [("jane@example.com".to_owned(), "Your password was changed".to_owned())]);
/// # Ok(())
/// # }
/// ```
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Delivers `mail`, or fails with [`PowError::Mailer`] (an invalid recipient address
    /// included). Must not block the async executor.
    async fn deliver(&self, mail: Mail) -> Result<(), PowError>;
}

#[async_trait::async_trait]
impl<M: Mailer + ?Sized> Mailer for std::sync::Arc<M> {
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        (**self).deliver(mail).await
    }
}

/// A link in a mail: button label and absolute URL.
struct MailLink<'a> {
    label: &'a str,
    url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/layout.html")]
struct MailHtml<'a> {
    lang: &'a LanguageIdentifier,
    subject: &'a str,
    greeting: &'a str,
    before: &'a [String],
    link: Option<MailLink<'a>>,
    after: &'a [String],
}

#[derive(Template)]
#[template(path = "mail/layout.txt")]
struct MailText<'a> {
    greeting: &'a str,
    before: &'a [String],
    link: Option<MailLink<'a>>,
    after: &'a [String],
}

/// Renders a mail in the shared layout, HTML and plain text.
///
/// The body starts with the translated greeting (`mail-greeting`, "Hi,"), then the first
/// paragraph, then the link (a button with `label` in HTML, the bare URL in text), then the
/// other paragraphs: the first paragraph introduces the link, as in Pow's mails.
/// Everything is HTML-escaped in the HTML part.
///
/// ```
/// use pow_core::mailer::render_mail;
/// use pow_core::messages::{FluentMessages, LanguageIdentifier};
///
/// let messages = FluentMessages::builder().build();
/// let en: LanguageIdentifier = "en".parse().unwrap();
/// let mail = render_mail(
///     &en,
///     &messages,
///     "jane@example.com",
///     "Reset password link".into(),
///     &["Please use the following link to reset your password:".into()],
///     Some(("Reset password", "https://example.com/reset-password/abc")),
/// )
/// .unwrap();
/// assert!(mail.text.starts_with("Hi,\n\nPlease use the following link"));
/// assert!(mail.html.contains(r#"href="https://example.com/reset-password/abc""#));
/// ```
///
/// # Errors
/// [`PowError::Template`] if rendering fails.
pub fn render_mail(
    lang: &LanguageIdentifier,
    messages: &dyn Messages,
    to: &str,
    subject: String,
    paragraphs: &[String],
    link: Option<(&str, &str)>,
) -> Result<Mail, PowError> {
    let greeting = messages.text(lang, "mail-greeting");
    let split = paragraphs.len().min(1);
    let (before, after) = paragraphs.split_at(split);
    let mail_link = || link.map(|(label, url)| MailLink { label, url });
    let html = MailHtml {
        lang,
        subject: &subject,
        greeting: &greeting,
        before,
        link: mail_link(),
        after,
    }
    .render()?;
    let mut text = MailText {
        greeting: &greeting,
        before,
        link: mail_link(),
        after,
    }
    .render()?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(Mail {
        to: to.to_owned(),
        subject,
        text,
        html,
    })
}

//! The extension's mails: the closing notice with its reactivation link, and the closing
//! confirmation of an account without a password.

use chrono::{DateTime, Utc};
use pow_core::mailer::{compose, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::{PowConfig, PowError};

use crate::{date_arg, MAIL_CLOSED, MAIL_CONFIRM};

/// The notice of a closed account, with the link that reopens it until `erase_after`.
pub(crate) async fn closed(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    to: &str,
    url: &str,
    erase_after: DateTime<Utc>,
) -> Result<(), PowError> {
    let messages = config.messages();
    let intro = messages
        .message(
            lang,
            "pow_account_mail_intro",
            &[("date", date_arg(erase_after))],
        )
        .unwrap_or_default();
    let paragraphs = vec![intro, messages.text(lang, "pow_account_mail_ignore")];
    send(
        config,
        lang,
        to,
        MAIL_CLOSED,
        "pow_account_mail",
        paragraphs,
        url,
    )
    .await
}

/// The link that closes an account without a password.
pub(crate) async fn confirm_close(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    to: &str,
    url: &str,
) -> Result<(), PowError> {
    let messages = config.messages();
    let paragraphs = vec![
        messages.text(lang, "pow_account_confirm_mail_intro"),
        messages.text(lang, "pow_account_confirm_mail_ignore"),
    ];
    send(
        config,
        lang,
        to,
        MAIL_CONFIRM,
        "pow_account_confirm_mail",
        paragraphs,
        url,
    )
    .await
}

async fn send(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    to: &str,
    name: &'static str,
    prefix: &str,
    paragraphs: Vec<String>,
    url: &str,
) -> Result<(), PowError> {
    let messages = config.messages();
    let label = messages.text(lang, &format!("{prefix}_link"));
    let subject = messages.text(lang, &format!("{prefix}_subject"));
    let mail = compose(
        config,
        &MailContent {
            name,
            lang,
            to,
            subject: &subject,
            paragraphs: &paragraphs,
            link: Some((&label, url)),
        },
    )?;
    config.mailer().deliver(mail).await
}

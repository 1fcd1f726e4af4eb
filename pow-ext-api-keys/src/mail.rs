//! The extension's security notice: a key was made.

use pow_core::mailer::{deliver_best_effort, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::users::User;
use pow_core::PowConfig;

use crate::MAIL_CREATED;

/// Mails `user` that the key named `key` was made, in `lang`. Best effort: a failure is
/// logged and never fails the making it reports.
pub(crate) async fn created(config: &PowConfig, lang: &LanguageIdentifier, user: &User, key: &str) {
    let Some(to) = user.email() else {
        return;
    };
    let messages = config.messages();
    let intro = messages
        .message(
            lang,
            "pow_api_keys_mail_created_intro",
            &[("name", key.into())],
        )
        .unwrap_or_default();
    let paragraphs = vec![
        intro,
        messages.text(lang, "pow_api_keys_mail_created_ignore"),
    ];
    let subject = messages.text(lang, "pow_api_keys_mail_created_subject");
    let content = MailContent {
        name: MAIL_CREATED,
        lang,
        to,
        subject: &subject,
        paragraphs: &paragraphs,
        link: None,
    };
    deliver_best_effort(config, &content, "an API key notice").await;
}

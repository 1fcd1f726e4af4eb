//! The extension's security notices: a passkey added, removed, or seen with a counter that
//! went back.

use pow_core::mailer::{deliver_best_effort, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::users::User;
use pow_core::PowConfig;

use crate::{MAIL_ADDED, MAIL_COUNTER, MAIL_REMOVED};

/// Mails `user` the notice `mail` about the passkey named `passkey`, in the user's default
/// language (or the default one). Best effort: a failure is logged and never fails the change it reports.
pub(crate) async fn notice(
    config: &PowConfig,
    lang: Option<&LanguageIdentifier>,
    user: &User,
    mail: &'static str,
    passkey: &str,
) {
    let Some(to) = user.email() else {
        return;
    };
    let prefix = match mail {
        MAIL_ADDED => "pow_passkeys_mail_added",
        MAIL_REMOVED => "pow_passkeys_mail_removed",
        MAIL_COUNTER => "pow_passkeys_mail_counter",
        _ => return,
    };
    let messages = config.messages();
    let lang = lang
        .or_else(|| messages.languages().first())
        .cloned()
        .unwrap_or_default();
    let intro = messages
        .message(
            &lang,
            &format!("{prefix}_intro"),
            &[("name", passkey.into())],
        )
        .unwrap_or_default();
    let paragraphs = vec![intro, messages.text(&lang, &format!("{prefix}_ignore"))];
    let subject = messages.text(&lang, &format!("{prefix}_subject"));
    let content = MailContent {
        name: mail,
        lang: &lang,
        to,
        subject: &subject,
        paragraphs: &paragraphs,
        link: None,
    };
    deliver_best_effort(config, &content, "a passkey notice").await;
}

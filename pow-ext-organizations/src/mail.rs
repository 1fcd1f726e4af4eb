//! The invitation mail.

use pow_core::mailer::{deliver_best_effort, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::PowConfig;

use crate::{Invitation, Organization, MAIL_INVITATION};

/// Mails `invitation`'s address the link `url` to join `org`, working `hours` more hours,
/// in `lang`. Best effort: a
/// failure is logged (the inviter can re-send) and never fails the invitation.
pub(crate) async fn invitation(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    invitation: &Invitation,
    org: &Organization,
    url: &str,
    hours: i64,
) {
    let messages = config.messages();
    let args = [
        ("organization", org.name.clone().into()),
        ("role", invitation.role.clone().into()),
    ];
    let intro = messages
        .message(lang, "pow_organizations_mail_invitation_intro", &args)
        .unwrap_or_default();
    let paragraphs = vec![
        intro,
        messages
            .message(
                lang,
                "pow_organizations_mail_invitation_expiry",
                &[("hours", hours.into())],
            )
            .unwrap_or_default(),
        messages.text(lang, "pow_organizations_mail_invitation_ignore"),
    ];
    let subject = messages
        .message(lang, "pow_organizations_mail_invitation_subject", &args)
        .unwrap_or_default();
    let button = messages.text(lang, "pow_organizations_mail_invitation_button");
    let content = MailContent {
        name: MAIL_INVITATION,
        lang,
        to: &invitation.email,
        subject: &subject,
        paragraphs: &paragraphs,
        link: Some((&button, url)),
    };
    deliver_best_effort(config, &content, "an organization invitation").await;
}

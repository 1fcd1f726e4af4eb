//! The notices: every owner of the organization hears that its named owner signed in
//! around enforced single sign-on (break-glass); a member hears that their account was
//! linked to the organization's identity provider.

use pow_core::mailer::{deliver_best_effort, MailContent};
use pow_core::users::User;
use pow_core::{PowConfig, PowError};

use crate::connections::{Connection, Connections};
use crate::{MAIL_BREAK_GLASS, MAIL_LINKED};

/// Mails every owner of `connection`'s organization that `user` used the break-glass way
/// in. Best effort: a failure is logged and never fails the sign-in (the use is audited).
pub(crate) async fn break_glass(
    config: &PowConfig,
    connection: &Connection,
    user: &User,
) -> Result<(), PowError> {
    let Some(org) =
        pow_ext_organizations::flows::by_id(config, &connection.organization_id).await?
    else {
        return Ok(());
    };
    let owners = Connections::new(config)?
        .member_ids_with_role(&org.id, pow_ext_organizations::OWNER)
        .await?;
    let messages = config.messages();
    let lang =
        pow_core::messages::request_language(&pow_core::request::RequestFacts::default(), messages);
    let args = [
        ("organization", org.name.clone().into()),
        ("email", user.email().unwrap_or_default().to_owned().into()),
    ];
    let subject = messages
        .message(&lang, "pow_sso_mail_break_glass_subject", &args)
        .unwrap_or_default();
    let paragraphs = vec![
        messages
            .message(&lang, "pow_sso_mail_break_glass_intro", &args)
            .unwrap_or_default(),
        messages.text(&lang, "pow_sso_mail_break_glass_advice"),
    ];
    for owner in owners {
        let Some(owner) = pow_core::flows::stored_user(config, owner).await? else {
            continue;
        };
        let Some(to) = owner.email() else {
            continue;
        };
        let content = MailContent {
            name: MAIL_BREAK_GLASS,
            lang: &lang,
            to,
            subject: &subject,
            paragraphs: &paragraphs,
            link: None,
        };
        deliver_best_effort(config, &content, "a break-glass notice").await;
    }
    Ok(())
}

/// Tells `user` their account now signs in through `org`'s identity provider. Best
/// effort: a failure is logged (the link is audited).
pub(crate) async fn linked(
    config: &PowConfig,
    org: &pow_ext_organizations::Organization,
    user: &User,
) {
    let Some(to) = user.email() else {
        return;
    };
    let messages = config.messages();
    let lang =
        pow_core::messages::request_language(&pow_core::request::RequestFacts::default(), messages);
    let args = [("organization", org.name.clone().into())];
    let subject = messages
        .message(&lang, "pow_sso_mail_linked_subject", &args)
        .unwrap_or_default();
    let paragraphs = vec![
        messages
            .message(&lang, "pow_sso_mail_linked_intro", &args)
            .unwrap_or_default(),
        messages.text(&lang, "pow_sso_mail_linked_advice"),
    ];
    let content = MailContent {
        name: MAIL_LINKED,
        lang: &lang,
        to,
        subject: &subject,
        paragraphs: &paragraphs,
        link: None,
    };
    deliver_best_effort(config, &content, "a link notice").await;
}

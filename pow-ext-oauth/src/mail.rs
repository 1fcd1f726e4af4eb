//! Security notices: a provider account was linked to or unlinked from the account.

use pow_core::mailer::{compose, MailContent};
use pow_core::messages::MessageArg;
use pow_core::users::User;
use pow_core::web::Controller;

use crate::provider::Provider;
use crate::{MAIL_LINKED, MAIL_UNLINKED};

/// Mails the user that `provider` was linked (or unlinked), when the config's security
/// notices are on. A failure to send is logged: the change is done and stays done.
pub(crate) async fn notify(ctl: &Controller, user: &User, provider: &Provider, linked: bool) {
    let config = &ctl.config;
    let Some(to) = user.email().filter(|to| !to.is_empty()) else {
        return;
    };
    if !config.security_notices() {
        return;
    }
    let (name, prefix) = if linked {
        (MAIL_LINKED, "pow_oauth_linked_mail")
    } else {
        (MAIL_UNLINKED, "pow_oauth_unlinked_mail")
    };
    let messages = config.messages();
    let args = [("provider", MessageArg::from(provider.name()))];
    let text = |key: &str| {
        messages
            .message(&ctl.lang, key, &args)
            .unwrap_or_else(|| key.to_owned())
    };
    let paragraphs = vec![
        text(&format!("{prefix}_intro")),
        text("pow_oauth_mail_not_you"),
    ];
    let subject = text(&format!("{prefix}_subject"));
    let mail = compose(
        config,
        &MailContent {
            name,
            lang: &ctl.lang,
            to,
            subject: &subject,
            paragraphs: &paragraphs,
            link: None,
        },
    );
    let sent = match mail {
        Ok(mail) => config.mailer().deliver(mail).await,
        Err(err) => Err(err),
    };
    if let Err(err) = sent {
        tracing::warn!(error = %err, "could not mail the OAuth security notice");
    }
}

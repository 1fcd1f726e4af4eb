//! Security notices: a provider account was linked to or unlinked from the account.

use pow_actix::mailer::send_extension_notice;
use pow_actix::messages::MessageArg;
use pow_actix::users::User;
use pow_actix::web::Controller;

use crate::provider::Provider;
use crate::{MAIL_LINKED, MAIL_UNLINKED};

/// Mails the user that `provider` was linked (or unlinked), with the core's notice details
/// (when, from where), when the config's security notices are on.
pub(crate) async fn notify(ctl: &Controller, user: &User, provider: &Provider, linked: bool) {
    let (name, prefix) = if linked {
        (MAIL_LINKED, "pow_oauth_linked_mail")
    } else {
        (MAIL_UNLINKED, "pow_oauth_unlinked_mail")
    };
    let args = [("provider", MessageArg::from(provider.name()))];
    let text = |key: String| {
        ctl.config
            .messages()
            .message(&ctl.lang, &key, &args)
            .unwrap_or(key)
    };
    let (subject, intro) = (
        text(format!("{prefix}_subject")),
        text(format!("{prefix}_intro")),
    );
    let to = user.email().unwrap_or_default();
    send_extension_notice(
        &ctl.config,
        &pow_actix::web::ActixRequest(&ctl.req),
        &ctl.lang,
        to,
        name,
        &subject,
        &intro,
    )
    .await;
}

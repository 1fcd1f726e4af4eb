//! Security notices: a provider account was linked to or unlinked from the account.

use pow_core::mailer::send_extension_notice;
use pow_core::messages::MessageArg;
use pow_core::pipeline::Step;
use pow_core::request::RequestSource;
use pow_core::users::User;

use crate::provider::Provider;
use crate::{MAIL_LINKED, MAIL_UNLINKED};

/// Mails the user that `provider` was linked (or unlinked), with the core's notice details
/// (when, from where), when the config's security notices are on.
pub(crate) async fn notify(
    step: &Step,
    source: &dyn RequestSource,
    user: &User,
    provider: &Provider,
    linked: bool,
) {
    let ctl = step;
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
    send_extension_notice(&ctl.config, source, &ctl.lang, to, name, &subject, &intro).await;
}

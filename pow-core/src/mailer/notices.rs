//! Security notices: a mail to the user when something about their account changed, saying
//! when, from which address and browser, and what to do if it was not them.

use super::{compose, MailContent};
use crate::config::PowConfig;
use crate::messages::{LanguageIdentifier, MessageArg};
use crate::request::RequestSource;

/// What happened to the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice<'a> {
    /// The password was changed (on the account page, or through a reset link).
    PasswordChanged,
    /// The email address was changed to this one; the notice goes to the old address.
    EmailChanged {
        /// The new address.
        new_email: &'a str,
    },
    /// A change of the email address to this one waits for the new address to confirm;
    /// the notice goes to the current address, with a link that cancels the change.
    EmailChangeRequested {
        /// The address waiting for confirmation.
        new_email: &'a str,
    },
    /// A second sign-in factor was turned on.
    SecondFactorEnabled,
    /// The second sign-in factor was turned off.
    SecondFactorDisabled,
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated,
    /// An API client signed in and got a new token pair.
    ApiTokenIssued,
    /// Someone signed in from a browser the account was not used on before (see
    /// [`PowConfigBuilder::new_device_notices`](crate::PowConfigBuilder::new_device_notices)).
    NewDevice,
    /// An admin opened support access to the account ([`session::impersonation`](
    /// crate::session::impersonation), when it notifies users).
    SupportAccess {
        /// Why, as the admin gave it.
        reason: &'a str,
    },
}

impl Notice<'_> {
    fn mail_name(self) -> &'static str {
        match self {
            Self::PasswordChanged => "security/password_changed",
            Self::EmailChanged { .. } => "security/email_changed",
            Self::EmailChangeRequested { .. } => "security/email_change_requested",
            Self::SecondFactorEnabled => "security/second_factor_enabled",
            Self::SecondFactorDisabled => "security/second_factor_disabled",
            Self::RecoveryCodesRegenerated => "security/recovery_codes_regenerated",
            Self::ApiTokenIssued => "security/api_token_issued",
            Self::NewDevice => "security/new_device",
            Self::SupportAccess { .. } => "security/support_access",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::PasswordChanged => "notice-password-changed",
            Self::EmailChanged { .. } => "notice-email-changed",
            Self::EmailChangeRequested { .. } => "notice-email-change-requested",
            Self::SecondFactorEnabled => "notice-second-factor-enabled",
            Self::SecondFactorDisabled => "notice-second-factor-disabled",
            Self::RecoveryCodesRegenerated => "notice-recovery-codes-regenerated",
            Self::ApiTokenIssued => "notice-api-token-issued",
            Self::NewDevice => "notice-new-device",
            Self::SupportAccess { .. } => "notice-support-access",
        }
    }
}

/// Mails `notice` to `to`, in `lang`, when the config's
/// [`security_notices`](crate::PowConfigBuilder::security_notices) are on. A failure to
/// send is logged: the change itself is done and stays done.
pub async fn send_notice(
    config: &PowConfig,
    req: &dyn RequestSource,
    lang: &LanguageIdentifier,
    to: &str,
    notice: Notice<'_>,
) {
    send_notice_with_link(config, req, lang, to, notice, None).await;
}

/// [`send_notice`] with a button: `link` is `(label, url)`, say a link that undoes the
/// change.
pub async fn send_notice_with_link(
    config: &PowConfig,
    req: &dyn RequestSource,
    lang: &LanguageIdentifier,
    to: &str,
    notice: Notice<'_>,
    link: Option<(&str, &str)>,
) {
    if !config.security_notices() || to.is_empty() {
        return;
    }
    let messages = config.messages();
    let intro = match notice {
        Notice::EmailChanged { new_email } | Notice::EmailChangeRequested { new_email } => messages
            .message(
                lang,
                &format!("{}-intro", notice.key()),
                &[("email", MessageArg::from(new_email))],
            ),
        Notice::SupportAccess { reason } => messages.message(
            lang,
            &format!("{}-intro", notice.key()),
            &[("reason", MessageArg::from(reason))],
        ),
        _ => messages.message(lang, &format!("{}-intro", notice.key()), &[]),
    };
    let subject = messages.text(lang, &format!("{}-subject", notice.key()));
    deliver(
        config,
        req,
        lang,
        to,
        (notice.mail_name(), &subject, intro),
        link,
    )
    .await;
}

/// A security notice of an extension (a sign-in method linked, say): mail `mail_name`
/// with `subject` and `intro`, then the same details (when, from which address and
/// browser) and advice as the core's [`Notice`]s, when the config's
/// [`security_notices`](crate::PowConfigBuilder::security_notices) are on. A failure to
/// send is logged.
pub async fn send_extension_notice(
    config: &PowConfig,
    req: &dyn RequestSource,
    lang: &LanguageIdentifier,
    to: &str,
    mail_name: &str,
    subject: &str,
    intro: &str,
) {
    if !config.security_notices() || to.is_empty() {
        return;
    }
    let notice = (mail_name, subject, Some(intro.to_owned()));
    deliver(config, req, lang, to, notice, None).await;
}

/// Mails a notice: `(mail name, subject, intro)`, the details and the advice.
async fn deliver(
    config: &PowConfig,
    req: &dyn RequestSource,
    lang: &LanguageIdentifier,
    to: &str,
    (mail_name, subject, intro): (&str, &str, Option<String>),
    link: Option<(&str, &str)>,
) {
    let messages = config.messages();
    let facts = req.facts(&config.rate_limits().trusted_proxies);
    let unknown = messages.text(lang, "sessions-unknown-device");
    let when = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let ip = facts
        .client_ip
        .map_or_else(|| unknown.clone(), |ip| ip.to_string());
    let browser = facts
        .user_agent
        .as_deref()
        .map_or(unknown, crate::request::browser_summary);
    let details = messages.message(
        lang,
        "notice-details",
        &[
            ("when", MessageArg::from(when.as_str())),
            ("ip", MessageArg::from(ip.as_str())),
            ("browser", MessageArg::from(browser.as_str())),
        ],
    );
    let paragraphs: Vec<String> = [
        intro,
        details,
        messages.message(lang, "notice-not-you", &[]),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mail = compose(
        config,
        &MailContent {
            name: mail_name,
            lang,
            to,
            subject,
            paragraphs: &paragraphs,
            link,
        },
    );
    let sent = match mail {
        Ok(mail) => config.mailer().deliver(mail).await,
        Err(err) => Err(err),
    };
    if let Err(err) = sent {
        tracing::error!(error = %err, "sending a security notice failed");
    }
}

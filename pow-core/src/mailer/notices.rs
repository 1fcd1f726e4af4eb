//! Security notices: a mail to the user when something about their account changed, saying
//! when, from which address and browser, and what to do if it was not them.

use super::{compose, MailContent};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::{LanguageIdentifier, MessageArg};
use crate::request::{RequestFacts, RequestSource};
use crate::store::{Limit, Limiter};

/// Rule name of the per-address limit on [`Notice::SignUpAttempted`] mails.
const SIGN_UP_ATTEMPTED_RULE: &str = "sign_up_attempted_notice";

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
    /// Someone tried to sign up with the account's address (or user id), and the setup
    /// answered as it answers a new one, to hide which accounts exist
    /// ([`prevent_user_enumeration`](crate::PowConfigBuilder::prevent_user_enumeration)):
    /// the owner learns of it, with a link to the sign-in page. `to` is what the sign-up
    /// gave; the notice goes to the address of the account holding it.
    ///
    /// Unlike the other notices it is sent off the request path (the account is looked up
    /// and the mail rendered after the answer, so a taken address answers as fast as a new
    /// one), and at most [`Limit::MAILS_PER_ADDRESS`] go to one address per window.
    SignUpAttempted,
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
            Self::SignUpAttempted => "security/sign_up_attempted",
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
            Self::SignUpAttempted => "notice-sign-up-attempted",
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
    let facts = req.facts();
    send_notice_with_facts(config, &facts, lang, to, notice, link).await;
}

/// [`send_notice_with_link`] with the request's facts already read: its future is `Send`,
/// for a framework layer whose handlers need one.
pub(crate) async fn send_notice_with_facts(
    config: &PowConfig,
    facts: &RequestFacts,
    lang: &LanguageIdentifier,
    to: &str,
    notice: Notice<'_>,
    link: Option<(&str, &str)>,
) {
    if !config.security_notices() || to.is_empty() {
        return;
    }
    if notice == Notice::SignUpAttempted {
        spawn_sign_up_attempted(config, facts, lang, to, link);
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
    let not_you = config.messages().message(lang, "notice-not-you", &[]);
    deliver_with(
        config,
        facts,
        lang,
        to,
        (notice.mail_name(), &subject, intro),
        link,
        not_you,
    )
    .await;
}

/// Sends [`Notice::SignUpAttempted`] in the background: nothing on the request path but
/// reading the request's facts.
fn spawn_sign_up_attempted(
    config: &PowConfig,
    facts: &RequestFacts,
    lang: &LanguageIdentifier,
    given: &str,
    link: Option<(&str, &str)>,
) {
    let facts = facts.clone();
    let link = match link {
        Some((label, url)) => (label.to_owned(), url.to_owned()),
        None => {
            // Never the request's Host header: whoever signs up must not choose where the
            // owner's link points. Without a base URL (only with the logging mailer:
            // `build` refuses a real one) the link is a bare path.
            let path = config.routes().session_path(&config.route_context(), "new");
            let base = config.base_url().unwrap_or_default().trim_end_matches('/');
            (
                config.messages().text(lang, "notice-sign-in"),
                format!("{base}{path}"),
            )
        }
    };
    let (config, lang, given) = (config.clone(), lang.clone(), normalized(given));
    tokio::spawn(async move {
        let link = (link.0.as_str(), link.1.as_str());
        if let Err(err) = sign_up_attempted(&config, &facts, &lang, &given, link).await {
            tracing::error!(error = %err, "sending a sign-up attempt notice failed");
        }
    });
}

/// Mails [`Notice::SignUpAttempted`] to the account holding `given` (its user id, else
/// its address), within the address's limit.
async fn sign_up_attempted(
    config: &PowConfig,
    facts: &RequestFacts,
    lang: &LanguageIdentifier,
    given: &str,
    link: (&str, &str),
) -> Result<(), PowError> {
    let users = config.users()?;
    let id_field = config.user_id_field();
    let mut user = users.get_by(id_field, given.to_owned()).await?;
    if user.is_none() && id_field != "email" {
        user = users.get_by("email", given.to_owned()).await?;
    }
    let Some(to) = user
        .as_ref()
        .and_then(|user| user.email())
        .map(str::to_owned)
    else {
        return Ok(());
    };
    if !within_mail_share(config, SIGN_UP_ATTEMPTED_RULE, &to).await? {
        tracing::info!("sign-up attempt notice not sent: the address had its share of mails");
        return Ok(());
    }
    let notice = Notice::SignUpAttempted;
    let messages = config.messages();
    let subject = messages.text(lang, &format!("{}-subject", notice.key()));
    let intro = messages.message(lang, &format!("{}-intro", notice.key()), &[]);
    let not_you = messages.message(lang, &format!("{}-not-you", notice.key()), &[]);
    let mail = (notice.mail_name(), subject.as_str(), intro);
    deliver_with(config, facts, lang, &to, mail, Some(link), not_you).await;
    Ok(())
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

/// A user id or address as stored: trimmed, lowercase (as
/// `users::validation::normalize_user_id`, a layer above the mailer).
fn normalized(given: &str) -> String {
    given.trim().to_lowercase()
}

/// Counts one mail of the kind `rule` to `address` and says whether it may go: at most
/// [`Limit::MAILS_PER_ADDRESS`] (3 an hour) per kind and address, whoever asks for them.
/// Every mail a client can have sent to an address of its choosing (a link, an
/// invitation, a notice) goes through it, so no form is a mail cannon; a mail over the
/// share is skipped without a word to the client, whose answer stays the same.
///
/// # Errors
/// The store's error.
pub async fn within_mail_share(
    config: &PowConfig,
    rule: &'static str,
    address: &str,
) -> Result<bool, PowError> {
    Ok(Limiter::new(config, rule)
        .hit(Limit::MAILS_PER_ADDRESS, &normalized(address))
        .await?)
}

/// Mails a notice: `(mail name, subject, intro)`, the details and the advice.
async fn deliver(
    config: &PowConfig,
    req: &dyn RequestSource,
    lang: &LanguageIdentifier,
    to: &str,
    notice: (&str, &str, Option<String>),
    link: Option<(&str, &str)>,
) {
    let facts = req.facts();
    let not_you = config.messages().message(lang, "notice-not-you", &[]);
    deliver_with(config, &facts, lang, to, notice, link, not_you).await;
}

/// [`deliver`] with the request's facts read, and the closing advice `not_you`.
async fn deliver_with(
    config: &PowConfig,
    facts: &RequestFacts,
    lang: &LanguageIdentifier,
    to: &str,
    (mail_name, subject, intro): (&str, &str, Option<String>),
    link: Option<(&str, &str)>,
    not_you: Option<String>,
) {
    let messages = config.messages();
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
    let paragraphs: Vec<String> = [intro, details, not_you].into_iter().flatten().collect();
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

//! The confirmation mail: the link's token (the same in every mail while it is valid), the
//! per-address resend limit, rendering and delivery.

use std::time::Duration;

use chrono::Utc;
use pow_core::api::LinkTemplate;
use pow_core::mailer::{compose, validity_text, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::request::RequestSource;
use pow_core::store::Limiter;
use pow_core::users::validation::normalize_user_id;
use pow_core::users::{User, WriteError};
use pow_core::{PowConfig, PowError};

use crate::schema::{current_token, recipient, remaining_validity, token_changes, TOKEN_FIELD};
use crate::{EmailConfirmation, TOKEN_SALT};

/// Rule name of the resend counters (see [`Limiter`]).
const RATE_LIMIT_RULE: &str = "email_confirmation_mails";

/// What [`send`] did.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sent {
    /// The mail went out, with the user as stored now (holding the new token's hash).
    Delivered(User),
    /// The address had its share of mails for now; nothing was sent.
    Limited,
    /// The user has no token or no address: there is nothing to confirm.
    NothingToConfirm,
}

/// Sends the confirmation mail for `user` in `lang`, linking to the HTML confirmation
/// page: counts the mail against the address's resend limit, takes the row's token while
/// it is valid or issues a new one (the row keeps its keyed hash), and delivers it.
pub(crate) async fn send(
    ext: &EmailConfirmation,
    req: &dyn RequestSource,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    user: User,
) -> Result<Sent, PowError> {
    send_with_link(ext, req, config, lang, user, None).await
}

/// [`send`], with the link built from `link` when given (JSON API clients), else the
/// HTML confirmation page.
pub(crate) async fn send_with_link(
    ext: &EmailConfirmation,
    req: &dyn RequestSource,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    user: User,
    link: Option<&LinkTemplate>,
) -> Result<Sent, PowError> {
    let Some(to) = recipient(&user).map(str::to_owned) else {
        tracing::warn!(
            user.id = user.id,
            "no email address to send the confirmation mail to"
        );
        return Ok(Sent::NothingToConfirm);
    };
    if user.get_str(TOKEN_FIELD).is_none() {
        return Ok(Sent::NothingToConfirm);
    }
    match pow_core::limits::hit_mail_request(config, req).await {
        Err(PowError::RateLimited(_)) => {
            tracing::info!(
                user.id = user.id,
                "confirmation mail not sent: the client reached its mail request limit"
            );
            return Ok(Sent::Limited);
        }
        other => other?,
    }
    if let Some(limit) = ext.resend_limit {
        let limiter = Limiter::new(config, RATE_LIMIT_RULE);
        if !limiter.hit(limit, &normalize_user_id(&to)).await? {
            tracing::info!(
                user.id = user.id,
                "confirmation mail not sent: the address reached its resend limit"
            );
            return Ok(Sent::Limited);
        }
    }
    let Some((user, token)) = issue_token(config, ext.token_ttl, user).await? else {
        return Ok(Sent::NothingToConfirm);
    };
    // The address comes from the row the token was written to (the write returns it): a
    // change of address that raced this mail replaced the token, so the link never goes
    // to an address it does not confirm.
    let Some(to) = recipient(&user).map(str::to_owned) else {
        return Ok(Sent::NothingToConfirm);
    };
    let signed = config.verifier().sign_token(TOKEN_SALT, &token);
    let url = match link {
        Some(template) => template.url(&signed),
        None => config.mail_link(crate::LINK, &signed, || {
            config.url_for(
                req,
                &pow_core::config::extension_path(
                    config,
                    crate::NAME,
                    crate::CONFIRM_PATH,
                    &[("token", &signed)],
                ),
            )
        }),
    };
    let messages = config.messages();
    let text = |key: &str| messages.text(lang, key);
    let mut paragraphs = vec![text("pow_email_confirmation_mail_intro")];
    if let Some(remaining) = remaining_validity(&user, ext.token_ttl, Utc::now()) {
        paragraphs.push(validity_text(
            config,
            lang,
            "pow_email_confirmation_mail_expiry",
            shown_validity(remaining),
        ));
    }
    paragraphs.push(text("pow_email_confirmation_mail_ignore"));
    let button = text("pow_email_confirmation_mail_button");
    let subject = text("pow_email_confirmation_mail_subject");
    let mail = compose(
        config,
        &MailContent {
            name: crate::MAIL,
            lang,
            to: &to,
            subject: &subject,
            paragraphs: &paragraphs,
            link: Some((&button, &url)),
        },
    )?;
    config.mailer().deliver(mail).await?;
    pow_core::audit::record(
        config,
        pow_core::audit::AuditEvent::new(crate::events::SENT)
            .request(config, req)
            .user(user.id),
    );
    Ok(Sent::Delivered(user))
}

/// The token for `user`'s link: the one its row holds while it is valid (a mail sent
/// again carries the link of the earlier mails, which keep working), else a new one whose
/// keyed hash is written to the row. Returns the row as it stands with the raw token;
/// `None` when the row is gone or no longer waits for a confirmation.
async fn issue_token(
    config: &PowConfig,
    ttl: Option<Duration>,
    user: User,
) -> Result<Option<(User, String)>, PowError> {
    config
        .users()?
        .run(move |users, cfg| {
            // Read the row right before writing: a confirmation or a cancel since `user` was
            // read must not be undone by a new token.
            let Some(fresh) = users.get(cfg.user_schema(), user.id)? else {
                return Ok(None);
            };
            if fresh.get_str(TOKEN_FIELD).is_none() {
                return Ok(None);
            }
            let now = Utc::now();
            if let Some(token) = current_token(cfg, &fresh, ttl, now) {
                return Ok(Some((fresh, token)));
            }
            let Some((token, changes)) = token_changes(cfg, &fresh, now) else {
                return Ok(None);
            };
            match users.update_fields(cfg.user_schema(), &fresh, &changes) {
                Ok(updated) => Ok(Some((updated, token))),
                Err(WriteError::Other(err)) => Err(err),
                // A collision of two keyed hashes on the token's unique index: not in practice.
                Err(err) => Err(PowError::Database(err.to_string())),
            }
        })
        .await
}

/// `remaining`, for the mail's "valid for" line: rounded down to whole hours once it is an
/// hour or more, after a minute's grace for the time the mail took (a link issued for it
/// reads its full validity, "48 hours", not "47").
fn shown_validity(remaining: Duration) -> Duration {
    const HOUR: u64 = 3600;
    let secs = remaining.as_secs() + 60;
    if secs >= HOUR {
        Duration::from_secs(secs / HOUR * HOUR)
    } else {
        remaining
    }
}

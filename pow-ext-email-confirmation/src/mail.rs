//! The confirmation mail: a fresh token per mail, the per-address resend limit, rendering
//! and delivery.

use actix_web::HttpRequest;
use chrono::Utc;
use pow_core::api::LinkTemplate;
use pow_core::mailer::{compose, validity_text, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::store::{Limit, Limiter};
use pow_core::users::{run_blocking, User, WriteError};
use pow_core::{PowConfig, PowError};

use crate::schema::{new_token_changes, recipient, TOKEN_FIELD};
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
/// page: counts the mail against the address's resend limit, issues a fresh token (the
/// row keeps its keyed hash, so the latest mail's link is the one that works), and
/// delivers it.
pub(crate) async fn send(
    ext: &EmailConfirmation,
    req: &HttpRequest,
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
    req: &HttpRequest,
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
        let limit = Limit::new(limit.max, limit.per);
        if !limiter.hit(limit, &to.trim().to_lowercase()).await? {
            tracing::info!(
                user.id = user.id,
                "confirmation mail not sent: the address reached its resend limit"
            );
            return Ok(Sent::Limited);
        }
    }
    let Some((user, token)) = issue_token(config, user).await? else {
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
        None => config.url_for(
            req,
            &pow_core::web::extension_path(
                config,
                crate::NAME,
                crate::controller::CONFIRM_PATH,
                &[("token", &signed)],
            ),
        ),
    };
    let messages = config.messages();
    let text = |key: &str| messages.text(lang, key);
    let mut paragraphs = vec![text("pow_email_confirmation_mail_intro")];
    if let Some(ttl) = ext.token_ttl {
        paragraphs.push(validity_text(
            config,
            lang,
            "pow_email_confirmation_mail_expiry",
            ttl,
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
        pow_core::audit::AuditEvent::new(pow_core::audit::CONFIRMATION_SENT)
            .request(config, req)
            .user(user.id),
    );
    Ok(Sent::Delivered(user))
}

/// Writes the keyed hash of a fresh token to `user`'s row, if it still waits for a
/// confirmation, and returns the row as written with the raw token; `None` when the row
/// is gone or no longer waits.
async fn issue_token(config: &PowConfig, user: User) -> Result<Option<(User, String)>, PowError> {
    let users = config.users()?.clone();
    let cfg = config.clone();
    run_blocking(move || {
        // Read the row right before writing: a confirmation or a cancel since `user` was
        // read must not be undone by a new token.
        let Some(fresh) = users.get(&cfg, user.id)? else {
            return Ok(None);
        };
        if fresh.get_str(TOKEN_FIELD).is_none() {
            return Ok(None);
        }
        let (token, changes) = new_token_changes(&cfg, Utc::now());
        match users.update_fields(&cfg, &fresh, &changes) {
            Ok(updated) => Ok(Some((updated, token))),
            Err(WriteError::Other(err)) => Err(err),
            // A collision of two keyed hashes on the token's unique index: not in practice.
            Err(err) => Err(PowError::Database(err.to_string())),
        }
    })
    .await
}

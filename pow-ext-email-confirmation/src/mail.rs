//! The confirmation mail: token rotation, the per-address resend limit, rendering and
//! delivery.

use actix_web::HttpRequest;
use chrono::Utc;
use pow_core::api::LinkTemplate;
use pow_core::mailer::{compose, validity_text, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::store::{Limit, Limiter};
use pow_core::users::{run_blocking, User, WriteError};
use pow_core::{PowConfig, PowError};

use crate::schema::{new_token_changes, recipient, token_needs_rotation, TOKEN_FIELD};
use crate::{EmailConfirmation, TOKEN_SALT};

/// Rule name of the resend counters (see [`Limiter`]).
const RATE_LIMIT_RULE: &str = "email_confirmation_mails";

/// What [`send`] did.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sent {
    /// The mail went out, with the user as stored now (its token may have been renewed).
    Delivered(User),
    /// The address had its share of mails for now; nothing was sent.
    Limited,
    /// The user has no token or no address: there is nothing to confirm.
    NothingToConfirm,
}

/// Sends the confirmation mail for `user` in `lang`, linking to the HTML confirmation
/// page: renews a token past half its lifetime, counts the mail against the address's
/// resend limit, and delivers it.
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
    let user = renew_token_if_old(ext, config, user).await?;
    // Address and token come from one read of the row (the renewal's write returns it): a
    // change of address that raced this mail moved the token with it, so the link never
    // goes to an address it does not confirm.
    let (Some(token), Some(to)) = (user.get_str(TOKEN_FIELD), recipient(&user)) else {
        return Ok(Sent::NothingToConfirm);
    };
    let to = to.to_owned();
    let signed = config.verifier().sign_token(TOKEN_SALT, token);
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

/// Writes a fresh token when the current one is past half its lifetime.
async fn renew_token_if_old(
    ext: &EmailConfirmation,
    config: &PowConfig,
    user: User,
) -> Result<User, PowError> {
    let now = Utc::now();
    if !token_needs_rotation(&user, ext.token_ttl, now) {
        return Ok(user);
    }
    let users = config.users()?.clone();
    let cfg = config.clone();
    run_blocking(move || {
        match users.update_fields(&cfg, &user, &new_token_changes(now)) {
            Ok(updated) => Ok(updated),
            Err(WriteError::Other(err)) => Err(err),
            // A UUID collision on the token's unique index: practically impossible.
            Err(err) => Err(PowError::Database(err.to_string())),
        }
    })
    .await
}

//! The confirmation mail: token rotation, the per-address resend limit, rendering and
//! delivery.

use std::time::Duration;

use actix_web::HttpRequest;
use chrono::Utc;
use pow_core::api::LinkTemplate;
use pow_core::mailer::{compose, MailContent};
use pow_core::messages::{LanguageIdentifier, MessageArg};
use pow_core::store::{Cache, Key};
use pow_core::token::hmac_sha256;
use pow_core::users::{run_blocking, User, WriteError};
use pow_core::{PowConfig, PowError};

use crate::schema::{new_token_changes, recipient, token_needs_rotation, TOKEN_FIELD};
use crate::{EmailConfirmation, ResendLimit, TOKEN_SALT};

/// Store namespace of the resend counters (prefixed with the setup's name).
const RATE_LIMIT_NAMESPACE: &str = "email_confirmation_mails";
/// Salt of the key that turns addresses into store keys, so the store never holds them.
const RATE_LIMIT_KEY_SALT: &str = "pow_email_confirmation resend limit";

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
    if let Some(limit) = ext.resend_limit {
        if !allow(config, limit, &to).await? {
            tracing::info!(
                user.id = user.id,
                "confirmation mail not sent: the address reached its resend limit"
            );
            return Ok(Sent::Limited);
        }
    }
    let user = renew_token_if_old(ext, config, user).await?;
    let Some(token) = user.get_str(TOKEN_FIELD) else {
        return Ok(Sent::NothingToConfirm);
    };
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
        paragraphs.push(expiry_text(config, lang, ttl));
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
    Ok(Sent::Delivered(user))
}

/// "The link is valid for N hours" (or minutes, when the expiry is not whole hours).
fn expiry_text(config: &PowConfig, lang: &LanguageIdentifier, ttl: Duration) -> String {
    let secs = ttl.as_secs();
    let (key, count) = if secs >= 3600 && secs.checked_rem(3600) == Some(0) {
        ("pow_email_confirmation_mail_expiry_hours", secs / 3600)
    } else {
        (
            "pow_email_confirmation_mail_expiry_minutes",
            (secs / 60).max(1),
        )
    };
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    config
        .messages()
        .message(lang, key, &[("count", MessageArg::Num(count))])
        .unwrap_or_default()
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

/// Counts one mail to `address`; `false` when the address already had `limit.max` mails
/// in the last `limit.per`.
///
/// The count is read and written in two steps, so concurrent requests for one address
/// may together send a mail or two over the limit; the limit is there to stop floods.
async fn allow(config: &PowConfig, limit: ResendLimit, address: &str) -> Result<bool, PowError> {
    let cache = Cache::new(
        config.store().clone(),
        config.namespaced(RATE_LIMIT_NAMESPACE),
        Some(limit.per),
    );
    let key = Key::from([address_key(config, address)]);
    let now = Utc::now().timestamp_millis();
    let window = i64::try_from(limit.per.as_millis()).unwrap_or(i64::MAX);
    let mut sent: Vec<i64> = cache.get(&key).await?.unwrap_or_default();
    sent.retain(|&at| now.saturating_sub(at) < window);
    if sent.len() >= limit.max as usize {
        return Ok(false);
    }
    sent.push(now);
    cache.put(&key, &sent).await?;
    Ok(true)
}

/// A keyed hash of the normalised address, in hex.
fn address_key(config: &PowConfig, address: &str) -> String {
    let key = config.verifier().derive_key(RATE_LIMIT_KEY_SALT);
    let normalized = address.trim().to_lowercase();
    hmac_sha256(&key, normalized.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

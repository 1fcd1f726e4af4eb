//! Cancelling a pending email change from the current address.
//!
//! When an account edit leaves a new address waiting in `unconfirmed_email`, the current
//! address gets a security notice with a cancel link. The link carries the user id and a
//! keyed hash of the pending address, signed with [`CANCEL_SALT`], so it cancels that
//! change and no other (a change to another address has a notice of its own), and keeps
//! working when the confirmation mail is sent again with a new token. Opening the link
//! shows a button (mail scanners that follow links cancel nothing); pressing it drops the
//! change.

use pow_core::mailer::{send_notice_with_link, Notice};
use pow_core::messages::LanguageIdentifier;
use pow_core::token::secure_compare;
use pow_core::users::{Changes, User, UsersContext, Value, WriteError};
use pow_core::{PowConfig, PowError};

use crate::schema::{
    has_pending_change, EMAIL_FIELD, TOKEN_FIELD, TOKEN_SENT_AT_FIELD, UNCONFIRMED_EMAIL_FIELD,
};
use crate::NAME;

/// The signing salt of cancel links (distinct from confirmation links).
pub const CANCEL_SALT: &str = "pow_email_confirmation cancel";

/// The cancel link's route, relative to the mount path.
pub(crate) const CANCEL_PATH: &str = "/confirm-email/cancel/{token}";

/// Mails the current address of `user` (whose change to `unconfirmed_email` waits) the
/// notice with the cancel link.
pub(crate) async fn notify_current_address(
    req: &dyn pow_core::request::RequestSource,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    user: &User,
) {
    let (Some(current), Some(pending)) = (
        user.get_str(EMAIL_FIELD),
        user.get_str(UNCONFIRMED_EMAIL_FIELD),
    ) else {
        return;
    };
    let change = change_id(user.id, pending);
    let token = format!(
        "{}.{}",
        user.id,
        config.verifier().token_digest(CHANGE_PURPOSE, &change)
    );
    let signed = config.verifier().sign_token(CANCEL_SALT, &token);
    let url = config.mail_link(crate::CANCEL_LINK, &signed, || {
        config.url_for(
            req,
            &pow_core::config::extension_path(config, NAME, CANCEL_PATH, &[("token", &signed)]),
        )
    });
    let label = config.messages().text(lang, "notice-cancel-email-change");
    let notice = Notice::EmailChangeRequested { new_email: pending };
    send_notice_with_link(config, req, lang, current, notice, Some((&label, &url))).await;
}

/// Purpose of the keyed hash naming a pending change in cancel links.
const CHANGE_PURPOSE: &str = "email_change";

/// What a cancel link names: one user's change to one address.
fn change_id(user_id: i64, pending: &str) -> String {
    format!("{user_id}:{pending}")
}

/// Drops the pending change the (verified) token names, under the user's
/// [`pending_claim`](crate::flows::pending_claim) so it cannot race a confirmation;
/// `None` when there is none (a confirmed, cancelled, superseded or unknown change).
pub(crate) async fn cancel_pending(
    config: &PowConfig,
    token: &str,
) -> Result<Option<User>, PowError> {
    let Some((id, digest)) = token
        .split_once('.')
        .and_then(|(id, digest)| Some((id.parse::<i64>().ok()?, digest.to_owned())))
    else {
        return Ok(None);
    };
    let claim = crate::flows::pending_claim(config, id);
    if !claim.take().await? {
        return Ok(None);
    }
    let result = config
        .users()?
        .run(move |users, cfg| cancel_change(users, cfg, id, &digest))
        .await;
    claim.release().await?;
    result
}

/// Drops user `id`'s pending change if `digest` names it. Blocking.
fn cancel_change(
    users: &dyn UsersContext,
    config: &PowConfig,
    id: i64,
    digest: &str,
) -> Result<Option<User>, PowError> {
    let Some(user) = users.get(config.user_schema(), id)? else {
        return Ok(None);
    };
    let Some(pending) = user.get_str(UNCONFIRMED_EMAIL_FIELD) else {
        return Ok(None);
    };
    let names_this_change = config
        .verifier()
        .token_digests(CHANGE_PURPOSE, &change_id(id, pending))
        .iter()
        .any(|expected| secure_compare(expected.as_bytes(), digest.as_bytes()));
    if !names_this_change || !has_pending_change(&user) {
        return Ok(None);
    }
    let changes: Changes = [
        (UNCONFIRMED_EMAIL_FIELD.to_owned(), Value::Null),
        (TOKEN_FIELD.to_owned(), Value::Null),
        (TOKEN_SENT_AT_FIELD.to_owned(), Value::Null),
    ]
    .into_iter()
    .collect();
    match users.update_fields(config.user_schema(), &user, &changes) {
        Ok(user) => Ok(Some(user)),
        Err(WriteError::Other(err)) => Err(err),
        Err(err) => Err(PowError::Database(err.to_string())),
    }
}

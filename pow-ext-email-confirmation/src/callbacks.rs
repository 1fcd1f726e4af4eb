//! Action callbacks: what happens around sign-up, sign-in, account edits and
//! invitation accepts.

use pow_core::extension::Callbacks;
use pow_core::pipeline::{ActionKind, Client, FlashKind, Flow, Halt, Step};
use pow_core::users::validation::normalize_user_id;
use pow_core::users::User;
use pow_core::PowError;

use crate::mail::{self, Sent};
use crate::schema::{
    has_pending_change, is_unconfirmed, EMAIL_FIELD, TOKEN_FIELD, UNCONFIRMED_EMAIL_FIELD,
};
use crate::EmailConfirmation;

/// The signed-in user's token before an account edit.
struct TokenBefore(Option<String>);

const REQUIRED: &str = "pow_email_confirmation_email_confirmation_required";
const REQUIRED_FOR_UPDATE: &str = "pow_email_confirmation_email_confirmation_required_for_update";
const SENT: &str = "pow_email_confirmation_email_confirmation_sent";

/// An account edit, or a sign-up completed on an existing row (an invitation accept).
fn is_edit(ctl: &Step) -> bool {
    matches!(
        ctl.id.kind(),
        ActionKind::UpdateUser | ActionKind::CompleteSignUp
    )
}

/// Before an account edit or invitation accept: remembers the current token, to tell
/// afterwards whether the edit issued a new one.
pub(crate) fn before_process(ctl: &mut Step, client: &mut dyn Client) {
    if ctl.is_json() || !is_edit(ctl) {
        return;
    }
    let token = client
        .current_session()
        .and_then(|current| current.user.get_str(TOKEN_FIELD).map(str::to_owned));
    ctl.assigns.insert(TokenBefore(token));
}

/// After the action, before the response.
pub(crate) async fn before_respond(
    ext: &EmailConfirmation,
    ctl: &mut Step,
    client: &mut dyn Client,
) -> Result<Flow, PowError> {
    // JSON endpoints are served by the extension's API side (`EmailConfirmation::api`);
    // an account change over JSON mails as the page does, and answers as JSON does.
    if ctl.is_json() {
        // An account change, or an invitation accepted with another address.
        if is_edit(ctl) {
            if let Some(user) = ctl.user.clone() {
                mail_submitted_change(ext, ctl, client, user).await?;
            }
        }
        return Ok(Flow::Continue);
    }
    if ctl.id.kind() == ActionKind::SignUp {
        return match ctl.user.clone() {
            Some(user) => registration_created(ext, ctl, client, user).await,
            None => Ok(registration_failed(ext, ctl, client).await),
        };
    }
    if ctl.id.kind() == ActionKind::SignIn {
        return match ctl.user.clone() {
            Some(user) if !ext.soft && is_unconfirmed(&user) => {
                halt_unconfirmed_sign_in(ext, ctl, client, user).await
            }
            _ => Ok(Flow::Continue),
        };
    }
    if is_edit(ctl) {
        if let Some(user) = ctl.user.clone() {
            return account_edited(ext, ctl, client, user).await;
        }
    }
    Ok(Flow::Continue)
}

fn info(ctl: &Step, client: &mut dyn Client, key: &str) {
    client.flash(FlashKind::Info, ctl.message(key));
}

/// Sign-up succeeded: mail the link. Strict mode ends the new session and sends the user
/// on; soft mode keeps them signed in.
async fn registration_created(
    ext: &EmailConfirmation,
    ctl: &mut Step,
    client: &mut dyn Client,
    user: User,
) -> Result<Flow, PowError> {
    if !is_unconfirmed(&user) {
        return Ok(Flow::Continue);
    }
    if ext.soft {
        mail::send(ext, client, &ctl.config, &ctl.lang, user).await?;
        info(ctl, client, SENT);
        return Ok(Flow::Continue);
    }
    client.session().end(&ctl.config).await?;
    mail::send(ext, client, &ctl.config, &ctl.lang, user).await?;
    info(ctl, client, REQUIRED);
    let path = ctl
        .config
        .routes()
        .after_registration_path(&ctl.routes_ctx());
    Ok(Flow::Halt(Halt::Redirect(path)))
}

/// Sign-up failed because the email is taken: with enumeration protection on, answer as
/// a successful sign-up would, and tell the address's owner (a notice mailed in the
/// background, so the answer takes no longer).
async fn registration_failed(
    ext: &EmailConfirmation,
    ctl: &mut Step,
    client: &mut dyn Client,
) -> Flow {
    let taken = ctl
        .changeset
        .as_ref()
        .is_some_and(|cs| cs.errors.has(EMAIL_FIELD, "taken"));
    if !taken || !ctl.config.prevent_user_enumeration() {
        return Flow::Continue;
    }
    let email = ctl.params.get(EMAIL_FIELD).map_or("", String::as_str);
    let notice = pow_core::mailer::Notice::SignUpAttempted;
    pow_core::mailer::send_notice(&ctl.config, client, &ctl.lang, email, notice).await;
    info(ctl, client, if ext.soft { SENT } else { REQUIRED });
    let path = ctl
        .config
        .routes()
        .after_registration_path(&ctl.routes_ctx());
    Flow::Halt(Halt::Redirect(path))
}

/// Strict mode: an unconfirmed user signed in. End the session, mail the link again and
/// send the user on.
async fn halt_unconfirmed_sign_in(
    ext: &EmailConfirmation,
    ctl: &mut Step,
    client: &mut dyn Client,
    user: User,
) -> Result<Flow, PowError> {
    client.session().end(&ctl.config).await?;
    ctl.user = None;
    mail::send(ext, client, &ctl.config, &ctl.lang, user).await?;
    info(ctl, client, REQUIRED);
    let path = ctl.config.routes().after_sign_in_path(&ctl.routes_ctx());
    Ok(Flow::Halt(Halt::Redirect(path)))
}

/// An account edit or invitation accept succeeded. A new address waiting for
/// confirmation gets the link (the user stays signed in with the old address); a user who
/// never confirmed and changed the address gets a link for the new one.
/// When the action just submitted the address now waiting for confirmation: mails it the
/// link and, for an account edit, tells the current address (with a cancel link).
/// Returns whether it did.
async fn mail_submitted_change(
    ext: &EmailConfirmation,
    ctl: &Step,
    client: &dyn Client,
    user: User,
) -> Result<bool, PowError> {
    let submitted = ctl
        .params
        .get(EMAIL_FIELD)
        .map(|raw| normalize_user_id(raw));
    let pending_submitted = has_pending_change(&user)
        && submitted.is_some()
        && submitted.as_deref() == user.get_str(UNCONFIRMED_EMAIL_FIELD);
    if !pending_submitted {
        return Ok(false);
    }
    let sent = mail::send(ext, client, &ctl.config, &ctl.lang, user.clone()).await?;
    if ctl.id.kind() == ActionKind::UpdateUser {
        // The current address learns of the change and can cancel it.
        let user = match sent {
            Sent::Delivered(user) => user,
            _ => user,
        };
        crate::cancel::notify_current_address(client, &ctl.config, &ctl.lang, &user).await;
    }
    Ok(true)
}

async fn account_edited(
    ext: &EmailConfirmation,
    ctl: &mut Step,
    client: &mut dyn Client,
    user: User,
) -> Result<Flow, PowError> {
    if mail_submitted_change(ext, ctl, client, user.clone()).await? {
        info(ctl, client, REQUIRED_FOR_UPDATE);
        let ctx = ctl.routes_ctx();
        let routes = ctl.config.routes();
        let path = if ctl.id.kind() == ActionKind::CompleteSignUp {
            routes.after_registration_path(&ctx)
        } else {
            routes.after_user_updated_path(&ctx)
        };
        return Ok(Flow::Halt(Halt::Redirect(path)));
    }
    let before = ctl
        .assigns
        .get::<TokenBefore>()
        .and_then(|t| t.0.as_deref());
    let token_renewed = user.get_str(TOKEN_FIELD).is_some() && user.get_str(TOKEN_FIELD) != before;
    if is_unconfirmed(&user) && token_renewed {
        if let Sent::Delivered(_) = mail::send(ext, client, &ctl.config, &ctl.lang, user).await? {
            info(ctl, client, SENT);
        }
    }
    Ok(Flow::Continue)
}

#[async_trait::async_trait]
impl Callbacks for EmailConfirmation {
    async fn before_process(
        &self,
        step: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        before_process(step, client);
        Ok(Flow::Continue)
    }

    async fn before_respond(
        &self,
        step: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        before_respond(self, step, client).await
    }
}

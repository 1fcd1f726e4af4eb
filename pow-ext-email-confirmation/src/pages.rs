//! The pages (Pow's `ConfirmationController`) on the engine: the mailed confirmation link,
//! and the cancel link of a pending address change (the page with its button, and the
//! button's action), as page routes that every framework layer mounts from the engine's
//! table.

use std::sync::Arc;

use pow_core::config::extension_path;
use pow_core::error::PowError;
use pow_core::extension::ProvenBy;
use pow_core::pages::routes::{PageRoute, PathParams, Verb};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Step};
use pow_core::views::PageBody;
use pow_core::PowConfig;

use crate::cancel::{cancel_pending, CANCEL_PATH, CANCEL_SALT};
use crate::flows::{actions, confirm_link, refresh_sessions, Confirmation};
use crate::{EmailConfirmation, CONFIRM_PATH, NAME};

const CONFIRMED: &str = "pow_email_confirmation_email_has_been_confirmed";
const FAILED: &str = "pow_email_confirmation_email_confirmation_failed";
const INVALID: &str = "pow_email_confirmation_invalid_token";
const CANCELLED: &str = "pow_email_confirmation_change_cancelled";

/// The cancel actions, as extension callbacks see them.
mod cancel_actions {
    use pow_core::pipeline::{ActionId, ActionKind};

    /// `GET /confirm-email/cancel/{token}`: the page with the cancel button.
    pub const SHOW: ActionId = ActionId::new("confirmation_cancel", "show", ActionKind::Other);
    /// `POST /confirm-email/cancel/{token}`: drop the pending change.
    pub const CANCEL: ActionId = ActionId::new("confirmation_cancel", "delete", ActionKind::Other);
}

/// The extension's page routes: the confirmation link (`confirmation#show`), the cancel
/// link's page (`confirmation_cancel#show`) and its button (`confirmation_cancel#delete`),
/// open to anyone, signed in or out.
pub(crate) fn page_routes(ext: &EmailConfirmation) -> Vec<PageRoute> {
    let ext = Arc::new(ext.clone());
    let routes = vec![
        PageRoute::new(
            Verb::Get,
            CONFIRM_PATH,
            actions::SHOW,
            move |step, client| {
                let ext = Arc::clone(&ext);
                Box::pin(async move { confirm(step, client, &ext).await })
            },
        ),
        PageRoute::new(Verb::Get, CANCEL_PATH, cancel_actions::SHOW, |step, _| {
            Box::pin(async move { Ok(show_cancel(step)) })
        }),
        PageRoute::new(
            Verb::Post,
            CANCEL_PATH,
            cancel_actions::CANCEL,
            |step, client| Box::pin(cancel(step, client)),
        ),
    ];
    routes
        .into_iter()
        .map(|route| route.of_extension(NAME))
        .collect()
}

/// The signed token in the path (empty when there is none, which no check accepts).
fn path_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|path| path.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// Where a link sends the browser on: the account page when someone is signed in, else
/// the sign-in page.
fn onward_path(step: &Step) -> String {
    let ctx = step.routes_ctx();
    if step.current_user.is_some() {
        step.config.routes().registration_path(&ctx, "edit")
    } else {
        step.config.routes().session_path(&ctx, "new")
    }
}

/// The cancel link's path of the signed `token`, where the routes backend puts it.
fn cancel_path(config: &PowConfig, token: &str) -> String {
    extension_path(config, NAME, CANCEL_PATH, &[("token", token)])
}

/// `confirmation#show`: confirms the address the token was issued for, signed in or out,
/// and redirects to the account page when someone is signed in, else to sign-in, with a
/// flash saying how it went. The user's sessions, the signed-in one too, see the
/// confirmed address; none is restarted or made fresh (sudo mode still asks for the
/// password).
async fn confirm(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &EmailConfirmation,
) -> Result<Answer, PowError> {
    let target = onward_path(step);
    let token = path_token(step);
    let facts = client.facts();
    let by = ProvenBy::ConfirmationLink;
    match confirm_link(step, &facts, ext, &token, by).await? {
        Confirmation::Invalid => client.flash(FlashKind::Error, step.message(INVALID)),
        Confirmation::Taken => client.flash(FlashKind::Error, step.message(FAILED)),
        Confirmation::Confirmed { .. } => client.flash(FlashKind::Info, step.message(CONFIRMED)),
    }
    Ok(Answer::Redirect(target))
}

/// `confirmation_cancel#show`: the page with the button that cancels the pending change
/// (opening the link, as a mail scanner does, cancels nothing).
fn show_cancel(step: &Step) -> Answer {
    let token = path_token(step);
    Answer::render(move |step, cookie| {
        let body = PageBody::Form {
            form: form(
                cookie,
                cancel_path(&step.config, &token),
                None,
                Vec::new(),
                step.text("notice-cancel-email-change"),
            ),
            links: Vec::new(),
            extra_forms: Vec::new(),
        };
        Ok(Page::new(
            "email_confirmation/cancel",
            "pow_email_confirmation_title_cancel",
            body,
        ))
    })
}

/// `confirmation_cancel#delete`: drops the pending change the signed token names, once,
/// and redirects as the confirmation link does, with a flash saying how it went.
async fn cancel(step: &mut Step, client: &mut dyn Client) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let token = path_token(step);
    // The signature is checked before any lookup.
    let cancelled = match config.verifier().verify_token(CANCEL_SALT, &token) {
        None => None,
        Some(token) => cancel_pending(&config, &token).await?,
    };
    let target = onward_path(step);
    match cancelled {
        Some(user) => {
            refresh_sessions(&config, &user).await?;
            client.flash(FlashKind::Info, step.message(CANCELLED));
        }
        None => client.flash(FlashKind::Error, step.message(INVALID)),
    }
    Ok(Answer::Redirect(target))
}

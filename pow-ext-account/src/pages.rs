//! The account pages on the engine: closing an account without a password through the
//! mailed confirmation, reopening a closed account after a password sign-in or through the
//! closing mail's link, and their page routes, which every framework layer mounts from the
//! engine's table.
//!
//! The closing page of a signed-in user (`/account/close`) and the export
//! (`/account/export`) are served by the actix side (`crate::actix::html`): closing asks
//! for sudo mode unless the account proves itself by mail, a rule a page route cannot
//! declare, and the export answers a download rather than a page. Their pages and the
//! closing itself are written here, once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pow_core::error::PowError;
use pow_core::pages::routes::{ActFuture, PageRoute, PathParams, Verb};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Requirements, Step};
use pow_core::session::{AuthMethod, CookieSession, CurrentSession, SessionMetadata};
use pow_core::users::User;
use pow_core::views::{Field, FieldType, PageBody, PageId};
use pow_core::PowConfig;

use crate::flows::{
    actions, path, pending, pending_key, reopen, stored, Proof, Reopened, CLOSE_PATH, EXPORT_PATH,
    PERSIST_FIELD, REACTIVATE_PATH,
};
use crate::{date_arg, Account, Closed, CONFIRM_LINK_PATH, NAME, REACTIVATE_LINK_PATH};

/// The closing page's id.
const CLOSE_PAGE: PageId = PageId::new("account/close");
/// The reactivation page's id.
const REACTIVATE_PAGE: PageId = PageId::new("account/reactivate");

/// The extension's page routes: the mailed closing confirmation, and reactivation after a
/// password sign-in and through the closing mail's link.
pub(crate) fn page_routes(ext: &Account) -> Vec<PageRoute> {
    let ext = Arc::new(ext.clone());
    let routes = vec![
        PageRoute::new(
            Verb::Get,
            CONFIRM_LINK_PATH,
            actions::CLOSE_LINK_NEW,
            pow_core::page_act!(ext, close_link_new),
        ),
        PageRoute::new(
            Verb::Post,
            CONFIRM_LINK_PATH,
            actions::CLOSE_LINK,
            pow_core::page_act!(ext, close_link_create),
        ),
        PageRoute::new(
            Verb::Get,
            REACTIVATE_PATH,
            actions::REACTIVATE_NEW,
            |step, client| Box::pin(reactivate_new(step, client)),
        )
        .signed_out(),
        PageRoute::new(
            Verb::Post,
            REACTIVATE_PATH,
            actions::REACTIVATE,
            pow_core::page_act!(ext, reactivate_create),
        )
        .signed_out(),
        PageRoute::new(
            Verb::Get,
            REACTIVATE_LINK_PATH,
            actions::REACTIVATE_LINK_NEW,
            pow_core::page_act!(ext, reactivate_link_new),
        ),
        PageRoute::new(
            Verb::Post,
            REACTIVATE_LINK_PATH,
            actions::REACTIVATE_LINK,
            pow_core::page_act!(ext, reactivate_link_create),
        ),
    ];
    let close_ext = Arc::clone(&ext);
    let export_ext = Arc::clone(&ext);
    let routes = routes.into_iter().chain([
        PageRoute::new(Verb::Get, CLOSE_PATH, actions::CLOSE_NEW, move |_, _| {
            let answer = close_new(&close_ext);
            Box::pin(async move { Ok(answer) }) as ActFuture<'_>
        })
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            CLOSE_PATH,
            actions::CLOSE,
            move |step, client| {
                let ext = Arc::clone(&ext);
                Box::pin(async move {
                    let by_mail = proves_by_mail(&step.config, client.session().current().as_ref());
                    close_create(step, client, &ext, by_mail).await
                }) as ActFuture<'_>
            },
        )
        // Support access closes nothing, by either proof.
        .owner_only()
        .refined_by(close_requirements),
        PageRoute::new(Verb::Get, EXPORT_PATH, actions::EXPORT, move |step, _| {
            let ext = Arc::clone(&export_ext);
            Box::pin(async move { export(step, &ext).await }) as ActFuture<'_>
        })
        .sudo(),
    ]);
    routes.map(|route| route.of_extension(NAME)).collect()
}

/// Whether the signed-in session `current` proves the account by a mailed link rather
/// than sudo mode: no password to confirm, and the session is not fresh from its sign-in.
fn proves_by_mail(config: &PowConfig, current: Option<&CurrentSession>) -> bool {
    current.is_some_and(|current| {
        current.user.password_hash.is_none()
            && !current.metadata.is_fresh(config.session().sudo_window)
    })
}

/// Closing asks for sudo mode, except from an account that proves itself by mail.
fn close_requirements(
    config: &PowConfig,
    current: Option<&CurrentSession>,
    mut requirements: Requirements,
) -> Requirements {
    if !proves_by_mail(config, current) {
        requirements.sudo = true;
    }
    requirements
}

/// `account#export` (sudo mode): the signed-in user's data as a JSON download,
/// `pow-account-export.json`.
async fn export(step: &mut Step, ext: &Account) -> Result<Answer, PowError> {
    let user = stored(&step.config, step.signed_in()?.id).await?;
    let export = ext.export(&step.config, &user).await?;
    Ok(Answer::Download {
        content_type: "application/json",
        filename: "pow-account-export.json".into(),
        body: export.to_string().into_bytes(),
    })
}

/// A page with one button: its text, then a form posting to its action.
struct OneButton {
    name: PageId,
    title: &'static str,
    /// The text above the form.
    info: String,
    /// Where the form posts.
    action: String,
    /// Message key of the button.
    button: &'static str,
    /// Hidden fields the form carries.
    hidden: Vec<Field>,
}

impl OneButton {
    fn page(self, step: &Step, cookie: &CookieSession) -> Page {
        let body = PageBody::Form {
            form: form(
                cookie,
                self.action,
                None,
                self.hidden,
                step.text(self.button),
            ),
            links: Vec::new(),
            extra_forms: Vec::new(),
        };
        let mut page = Page::new(self.name, self.title, body);
        page.info = Some(self.info);
        page
    }
}

/// Message `key` with `date` as its `$date`, in the step's language.
fn dated(step: &Step, key: &str, date: DateTime<Utc>) -> String {
    step.config
        .messages()
        .message(&step.lang, key, &[("date", date_arg(date))])
        .unwrap_or_default()
}

/// The closing page posting to `action`: when an account closed now is erased (`grace`
/// from now), or that it is erased at once.
fn close_page(step: &Step, cookie: &CookieSession, grace: Duration, action: String) -> Page {
    let info = if grace.is_zero() {
        step.text("pow_account_close_info_now")
    } else {
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let date = Utc::now()
            .checked_add_signed(grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        dated(step, "pow_account_close_info", date)
    };
    OneButton {
        name: CLOSE_PAGE,
        title: "pow_account_title_close",
        info,
        action,
        button: "pow_account_close_button",
        hidden: Vec::new(),
    }
    .page(step, cookie)
}

/// The reactivation page of the closed account `user`, posting to `action`: when it is
/// erased unless reopened.
fn reactivate_page(
    step: &Step,
    cookie: &CookieSession,
    user: &User,
    action: String,
    hidden: Vec<Field>,
) -> Page {
    let erased_on = Account::erase_date(user).unwrap_or_else(Utc::now);
    OneButton {
        name: REACTIVATE_PAGE,
        title: "pow_account_title_reactivate",
        info: dated(step, "pow_account_reactivate_info", erased_on),
        action,
        button: "pow_account_reactivate_button",
        hidden,
    }
    .page(step, cookie)
}

/// `account_close#new`: the closing page of the signed-in user (signed-in users only).
pub(crate) fn close_new(ext: &Account) -> Answer {
    let grace = ext.grace();
    Answer::render(move |step, cookie| {
        let action = path(&step.config, CLOSE_PATH, &[]);
        Ok(close_page(step, cookie, grace, action))
    })
}

/// `account_close#create` (sudo mode, or by mail): closes the signed-in user's account,
/// or, when `by_mail` (an account without a password whose session is not fresh), mails
/// the confirmation and returns to the account page.
///
/// # Errors
/// The users context's, the store's or the mailer's error.
pub(crate) async fn close_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Account,
    by_mail: bool,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    if by_mail {
        ext.request_close(&step.config, &user, &step.lang).await?;
        client.flash(
            FlashKind::Info,
            Some(step.text("pow_account_confirm_mail_sent")),
        );
        let back = step
            .config
            .routes()
            .registration_path(&step.routes_ctx(), "edit");
        return Ok(Answer::Redirect(back));
    }
    closed(step, client, ext, &user).await
}

/// Closes `user`'s account, signs this browser out, and says when the account is erased.
async fn closed(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Account,
    user: &User,
) -> Result<Answer, PowError> {
    if client.session().current().is_some() {
        client.session().end(&step.config).await?;
    }
    let text = match ext.close(&step.config, user, &step.lang).await? {
        Closed::Scheduled(at) => dated(step, "pow_account_closed", at),
        Closed::Erased => step.text("pow_account_erased"),
    };
    client.flash(FlashKind::Info, Some(text));
    Ok(Answer::Redirect(sign_in_path(step)))
}

/// The sign-in page.
fn sign_in_path(step: &Step) -> String {
    step.config.routes().session_path(&step.routes_ctx(), "new")
}

/// The signed token in the path.
fn path_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|params| params.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// The answer to a link (or a pending reactivation) that stands for nothing: the sign-in
/// page, which says so.
fn invalid_link(step: &Step, client: &mut dyn Client) -> Answer {
    client.flash(
        FlashKind::Error,
        Some(step.text("pow_account_invalid_link")),
    );
    Answer::Redirect(sign_in_path(step))
}

/// `account_close_link#new`: the closing page of the mailed confirmation, while it works.
async fn close_link_new(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Account,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    if ext
        .find_by_confirmation(&step.config, &token)
        .await?
        .is_none()
    {
        return Ok(invalid_link(step, client));
    }
    let action = path(&step.config, CONFIRM_LINK_PATH, &[("token", &token)]);
    let grace = ext.grace();
    Ok(Answer::render(move |step, cookie| {
        Ok(close_page(step, cookie, grace, action))
    }))
}

/// `account_close_link#create`: closes the account of the mailed confirmation, and signs
/// this browser out.
async fn close_link_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Account,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    let Some(user) = ext.find_by_confirmation(&step.config, &token).await? else {
        return Ok(invalid_link(step, client));
    };
    closed(step, client, ext, &user).await
}

/// `account_reactivate#new` (signed-out visitors only): offers to reopen the closed
/// account a password sign-in just proved, carrying its remember-me choice.
async fn reactivate_new(step: &mut Step, client: &mut dyn Client) -> Result<Answer, PowError> {
    let Some((user, persist)) = pending(&step.config, client).await? else {
        return Ok(invalid_link(step, client));
    };
    Ok(Answer::render(move |step, cookie| {
        let action = path(&step.config, REACTIVATE_PATH, &[]);
        let persist = Field::new(PERSIST_FIELD, "", FieldType::Hidden).value(persist);
        Ok(reactivate_page(step, cookie, &user, action, vec![persist]))
    }))
}

/// `account_reactivate#create` (signed-out visitors only): reopens the pending closed
/// account ([`reopen`]) and signs it in with the password it proved (a sign-in: a second
/// factor applies).
async fn reactivate_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Account,
) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let user = match reopen(&config, ext, Proof::Pending(client)).await? {
        Reopened::Done(user) => user,
        Reopened::Unknown | Reopened::WrongPassword => return Ok(invalid_link(step, client)),
    };
    client.remove_value(&pending_key(&config));
    let metadata = SessionMetadata::new().with_method(AuthMethod::PASSWORD);
    client.session().start(&config, &user, metadata).await?;
    client.flash(FlashKind::Info, Some(step.text("pow_account_reactivated")));
    step.user = Some(user);
    Ok(Answer::Redirect(
        config.routes().after_sign_in_path(&step.routes_ctx()),
    ))
}

/// `account_reactivate_link#new`: the reactivation page of the closing mail's link, while
/// it works.
async fn reactivate_link_new(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Account,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    let Some(user) = ext.find_by_link(&step.config, &token).await? else {
        return Ok(invalid_link(step, client));
    };
    let action = path(&step.config, REACTIVATE_LINK_PATH, &[("token", &token)]);
    Ok(Answer::render(move |step, cookie| {
        Ok(reactivate_page(step, cookie, &user, action, Vec::new()))
    }))
}

/// `account_reactivate_link#create`: reopens the account of the closing mail's link
/// ([`reopen`]), without signing in.
async fn reactivate_link_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Account,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    match reopen(&step.config, ext, Proof::Link(&token)).await? {
        Reopened::Done(_) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_account_reactivated_sign_in")),
            );
            Ok(Answer::Redirect(sign_in_path(step)))
        }
        Reopened::Unknown | Reopened::WrongPassword => Ok(invalid_link(step, client)),
    }
}

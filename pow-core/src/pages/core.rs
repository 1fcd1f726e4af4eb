//! The core's controllers (Pow's `SessionController` and `RegistrationController`, and
//! sudo mode's password confirmation) as the engine half of their actions: each builds its
//! pages from the [`Step`] and answers an [`Answer`] over the engine's
//! [`Client`], so every framework layer serves the same pages and redirects.
//!
//! A framework layer runs each action through its pipeline (access rules, CSRF, limits,
//! CAPTCHA, the extensions' callbacks) with the [`ActionId`] and requirements named here,
//! and renders what it answers.

use super::{extra_fields, field, form, new_password_fields, user_id_field, user_id_kind};
use super::{Answer, Page};
use crate::config::returning_to;
use crate::error::PowError;
use crate::flows::{self, AccountDeletion, AccountUpdate, SignIn, SignUp};
use crate::pipeline::{ActionId, ActionKind, Client, FlashKind, Step};
use crate::session::{AuthMethod, CookieSession};
use crate::users::User;
use crate::views::{FieldType, Link, PageBody, PageId};

/// `GET /session/new`: the sign-in page.
pub const SESSION_NEW: ActionId = ActionId::new("session", "new", ActionKind::Show);
/// `POST /session`: sign in with the user id and password.
pub const SESSION_CREATE: ActionId = ActionId::new("session", "create", ActionKind::SignIn);
/// `DELETE /session`: sign out.
pub const SESSION_DELETE: ActionId = ActionId::new("session", "delete", ActionKind::SignOut);
/// `GET /registration/new`: the sign-up page.
pub const REGISTRATION_NEW: ActionId = ActionId::new("registration", "new", ActionKind::Show);
/// `POST /registration`: sign up.
pub const REGISTRATION_CREATE: ActionId =
    ActionId::new("registration", "create", ActionKind::SignUp);
/// `GET /registration/edit`: the account page.
pub const REGISTRATION_EDIT: ActionId = ActionId::new("registration", "edit", ActionKind::Show);
/// `session#confirm`: the password confirmation page of sudo mode.
pub const SESSION_CONFIRM: ActionId = ActionId::new("session", "confirm", ActionKind::Show);
/// `session#confirm_create`: checks the password and makes the session fresh.
pub const SESSION_CONFIRM_CREATE: ActionId =
    ActionId::new("session", "confirm_create", ActionKind::Reauthenticate);
/// `registration#sessions`: the user's list of sessions.
pub const REGISTRATION_SESSIONS: ActionId =
    ActionId::new("registration", "sessions", ActionKind::Show);
/// `registration#end_sessions`: ends one or all other sessions (sudo mode).
pub const REGISTRATION_SESSIONS_END: ActionId =
    ActionId::new("registration", "end_sessions", ActionKind::Other);
/// `registration#activity`: the account's recent activity (audit log).
pub const REGISTRATION_ACTIVITY: ActionId =
    ActionId::new("registration", "activity", ActionKind::Show);
/// `PATCH /registration`: change the account.
pub const REGISTRATION_UPDATE: ActionId =
    ActionId::new("registration", "update", ActionKind::UpdateUser);
/// `DELETE /registration`: delete the account.
pub const REGISTRATION_DELETE: ActionId =
    ActionId::new("registration", "delete", ActionKind::DeleteUser);

/// The sign-in page, with the submitted user id and `error` after a failed attempt.
pub fn sign_in_page(step: &Step, cookie: &CookieSession, error: Option<String>) -> Page {
    let (config, lang) = (&step.config, &step.lang);
    let ctx = step.routes_ctx();
    let mut action = config.routes().session_path(&ctx, "create");
    if let Some(rp) = step.request_path.as_deref() {
        action.push('?');
        action.push_str(&serde_urlencoded::to_string([("request_path", rp)]).unwrap_or_default());
    }
    let uid = config.user_id_field();
    let mut pw = field(config, lang, "password", FieldType::Password, None, None);
    pw.autocomplete = Some("current-password");
    let user_id = field(
        config,
        lang,
        uid,
        user_id_kind(config),
        step.params.get(uid).map(String::as_str),
        None,
    );
    let body = PageBody::Form {
        form: form(
            cookie,
            action,
            None,
            vec![user_id, pw],
            step.text("button-sign-in"),
        ),
        links: vec![Link {
            href: config.routes().registration_path(&ctx, "new"),
            label: step.text("link-register"),
        }],
        extra_forms: Vec::new(),
    };
    let mut page = Page::new(PageId::SESSION_NEW, "title-sign-in", body).with_captcha();
    page.error = error;
    page
}

/// `session#new`: the sign-in page (signed-out visitors only).
pub(crate) fn new_session() -> Answer {
    Answer::render(|step, cookie| Ok(sign_in_page(step, cookie, None)))
}

/// `session#create`: signs in with the posted user id and password (signed-out visitors
/// only, CAPTCHA-checked): the page again with the reason when it fails.
///
/// # Errors
/// The users context's or the store's error.
pub(crate) async fn create_session(
    step: &mut Step,
    client: &mut dyn Client,
) -> Result<Answer, PowError> {
    let facts = client.facts();
    let outcome =
        flows::sign_in(&step.config, &facts, step.params.clone(), client.session()).await?;
    let error = |key: &'static str| {
        Answer::render(move |step, cookie| Ok(sign_in_page(step, cookie, Some(step.text(key)))))
    };
    Ok(match outcome {
        SignIn::SignedIn(user) => {
            client.flash(
                FlashKind::Info,
                step.config.messages().signed_in(&step.lang),
            );
            step.user = Some(user);
            Answer::Redirect(step.config.routes().after_sign_in_path(&step.routes_ctx()))
        }
        // The password was right, but an admin disabled the account: say so.
        SignIn::Disabled => error("account_disabled"),
        // The password was right for a closed account: an extension's callback offers
        // reactivation; without one, the page says it is closed.
        SignIn::Closed(user) => {
            step.assigns.insert(flows::ClosedSignIn(user));
            error("account_closed")
        }
        SignIn::InvalidCredentials => Answer::render(|step, cookie| {
            let error = step.config.messages().invalid_credentials(&step.lang);
            Ok(sign_in_page(step, cookie, error))
        }),
    })
}

/// `session#delete`: signs out (signed-in users only).
///
/// # Errors
/// The store's error.
pub(crate) async fn delete_session(
    step: &mut Step,
    client: &mut dyn Client,
) -> Result<Answer, PowError> {
    flows::sign_out(&step.config, client.session()).await?;
    client.flash(
        FlashKind::Info,
        step.config.messages().signed_out(&step.lang),
    );
    step.user = step.current_user.clone();
    Ok(Answer::Redirect(
        step.config.routes().after_sign_out_path(&step.routes_ctx()),
    ))
}

/// The password confirmation page of sudo mode, returning to the step's `request_path`.
pub(crate) fn confirm_page(step: &Step, cookie: &CookieSession, error: Option<String>) -> Page {
    let ctx = step.routes_ctx();
    let action = returning_to(
        step.config.routes().session_path(&ctx, "confirm"),
        step.request_path.as_deref(),
    );
    let mut password = field(
        &step.config,
        &step.lang,
        "password",
        FieldType::Password,
        None,
        None,
    );
    password.autocomplete = Some("current-password");
    password.required = true;
    let body = PageBody::Form {
        form: form(
            cookie,
            action,
            None,
            vec![password],
            step.text("button-confirm"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    let mut page = Page::new(PageId::SESSION_CONFIRM, "title-confirm-password", body);
    page.error = error;
    page.info = Some(step.text("confirm_password_intro"));
    page
}

/// `session#confirm`: the password confirmation page (signed-in users only).
pub fn confirm() -> Answer {
    Answer::render(|step, cookie| Ok(confirm_page(step, cookie, None)))
}

/// `session#confirm_create`: checks the posted password and makes the session fresh
/// (signed-in users only), then returns to where the user came from.
///
/// # Errors
/// The users context's or the store's error.
pub(crate) async fn create_confirm(
    step: &mut Step,
    client: &mut dyn Client,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let password = step.params.get("password").cloned().unwrap_or_default();
    if let Some(proved) = flows::reauthenticate(&step.config, &user, &password).await? {
        client
            .session()
            .record_method(&step.config, AuthMethod::PASSWORD)
            .await?;
        step.user = Some(proved);
        return Ok(Answer::Redirect(
            step.config.routes().after_sign_in_path(&step.routes_ctx()),
        ));
    }
    Ok(Answer::render(|step, cookie| {
        Ok(confirm_page(
            step,
            cookie,
            Some(step.text("confirm_password_invalid")),
        ))
    }))
}

/// The sign-up page, with the submitted values and the changeset's errors.
pub(crate) fn registration_page(step: &Step, cookie: &CookieSession) -> Page {
    let (config, lang) = (&step.config, &step.lang);
    let cs = step.changeset.as_ref();
    let ctx = step.routes_ctx();
    let mut fields = vec![user_id_field(config, lang, &step.params, None, cs)];
    fields.extend(extra_fields(config, lang, &step.params, cs, None));
    fields.extend(new_password_fields(config, lang, cs, true));
    let body = PageBody::Form {
        form: form(
            cookie,
            config.routes().registration_path(&ctx, "create"),
            None,
            fields,
            step.text("button-register"),
        ),
        links: vec![Link {
            href: config.routes().session_path(&ctx, "new"),
            label: step.text("link-sign-in"),
        }],
        extra_forms: Vec::new(),
    };
    Page::new(PageId::REGISTRATION_NEW, "title-register", body).with_captcha()
}

/// The account page of the signed-in user, with the submitted values and the changeset's
/// errors.
///
/// # Errors
/// [`PowError::Config`] when nobody is signed in.
pub fn edit_page(step: &Step, cookie: &CookieSession) -> Result<Page, PowError> {
    let user = step.signed_in()?;
    let (config, lang) = (&step.config, &step.lang);
    let cs = step.changeset.as_ref();
    let mut fields = Vec::new();
    if user.password_hash.is_some() {
        fields.push(field(
            config,
            lang,
            "current_password",
            FieldType::Password,
            None,
            cs,
        ));
    }
    fields.push(user_id_field(config, lang, &step.params, Some(user), cs));
    fields.extend(extra_fields(config, lang, &step.params, cs, Some(user)));
    fields.extend(new_password_fields(config, lang, cs, false));
    let ctx = step.routes_ctx();
    let action = config.routes().registration_path(&ctx, "update");
    let delete = form(
        cookie,
        action.clone(),
        Some("DELETE"),
        Vec::new(),
        step.text("button-delete-account"),
    );
    let body = PageBody::Form {
        form: form(
            cookie,
            action,
            Some("PATCH"),
            fields,
            step.text("button-update"),
        ),
        links: vec![
            Link {
                href: config.routes().registration_path(&ctx, "sessions"),
                label: step.text("link-sessions"),
            },
            Link {
                href: config.routes().registration_path(&ctx, "activity"),
                label: step.text("link-activity"),
            },
        ],
        extra_forms: vec![delete],
    };
    Ok(Page::new(
        PageId::REGISTRATION_EDIT,
        "title-edit-account",
        body,
    ))
}

/// `registration#new`: the sign-up page (signed-out visitors only).
pub(crate) fn new_registration() -> Answer {
    Answer::render(|step, cookie| Ok(registration_page(step, cookie)))
}

/// `registration#edit`: the account page (sudo mode).
pub(crate) fn edit_registration() -> Answer {
    Answer::render(edit_page)
}

/// `registration#create`: signs up with the posted params (signed-out visitors only,
/// CAPTCHA-checked), or the page again with the changeset's errors.
///
/// # Errors
/// The users context's or the store's error.
pub(crate) async fn create_registration(
    step: &mut Step,
    client: &mut dyn Client,
) -> Result<Answer, PowError> {
    match flows::sign_up(&step.config, step.params.clone(), client.session()).await? {
        SignUp::SignedUp(user) => Ok(after_sign_up(step, client, user)),
        SignUp::Invalid(cs) => {
            step.changeset = Some(cs);
            Ok(new_registration())
        }
    }
}

/// Finishes a successful sign-up (or a completed one, such as an accepted invitation):
/// signs `user` in with a new session, says so in the flash, hands the user to the
/// callbacks and redirects to the routes backend's after-registration path.
///
/// # Errors
/// [`PowError::Store`] when the session cannot be stored.
pub async fn signed_up(
    step: &mut Step,
    client: &mut dyn Client,
    user: User,
) -> Result<Answer, PowError> {
    flows::start_signed_up(&step.config, &user, client.session()).await?;
    Ok(after_sign_up(step, client, user))
}

/// The answer to a sign-up that signed `user` in: the flash and the redirect.
fn after_sign_up(step: &mut Step, client: &mut dyn Client, user: User) -> Answer {
    let text = step.config.messages().user_has_been_created(&step.lang);
    client.flash(FlashKind::Info, text);
    step.user = Some(user);
    Answer::Redirect(
        step.config
            .routes()
            .after_registration_path(&step.routes_ctx()),
    )
}

/// `registration#update`: changes the account with the posted params (sudo mode), or the
/// page again with the changeset's errors.
///
/// # Errors
/// The users context's or the store's error.
pub(crate) async fn update_registration(
    step: &mut Step,
    client: &mut dyn Client,
) -> Result<Answer, PowError> {
    let current = step.signed_in()?.clone();
    let facts = client.facts();
    let params = step.params.clone();
    match flows::update_account(&step.config, &facts, &current, params, client.session()).await? {
        AccountUpdate::Updated { user, .. } => {
            let text = step.config.messages().user_has_been_updated(&step.lang);
            client.flash(FlashKind::Info, text);
            step.user = Some(user);
            Ok(Answer::Redirect(
                step.config
                    .routes()
                    .after_user_updated_path(&step.routes_ctx()),
            ))
        }
        AccountUpdate::Invalid(cs) => {
            step.changeset = Some(cs);
            Ok(edit_registration())
        }
    }
}

/// `registration#delete`: deletes the account (sudo mode); when that fails, back to the
/// account page with the reason.
///
/// # Errors
/// The store's error.
pub(crate) async fn delete_registration(
    step: &mut Step,
    client: &mut dyn Client,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    match flows::delete_account(&step.config, &user, client.session()).await? {
        AccountDeletion::Deleted => {
            let text = step.config.messages().user_has_been_deleted(&step.lang);
            client.flash(FlashKind::Info, text);
            step.user = Some(user);
            Ok(Answer::Redirect(
                step.config
                    .routes()
                    .after_user_deleted_path(&step.routes_ctx()),
            ))
        }
        AccountDeletion::NotDeleted(err) => {
            tracing::error!(error = %err, "deleting the account failed");
            let text = step.config.messages().user_could_not_be_deleted(&step.lang);
            client.flash(FlashKind::Error, text);
            Ok(Answer::Stop(
                step.config
                    .routes()
                    .registration_path(&step.routes_ctx(), "edit"),
            ))
        }
    }
}

/// `GET /session/unlock/{token}`: lifts the lock the link was mailed for, once (see
/// [`redeem_unlock_link`](crate::limits::redeem_unlock_link)), says so in the flash, and
/// answers where to send the visitor: the sign-in page. `current_page` is the request's
/// path and query ([`RouteContext::current_page`](crate::config::RouteContext)).
///
/// # Errors
/// The store's error.
pub async fn unlock(
    config: &crate::PowConfig,
    client: &mut dyn Client,
    current_page: Option<&str>,
    token: &str,
) -> Result<String, PowError> {
    let facts = client.facts();
    let lang = crate::messages::request_language(&facts, config.messages());
    let ctx = crate::config::RouteContext {
        current_page,
        mount: config.mount_path(),
        request_path: None,
    };
    let sign_in_page = config.routes().session_path(&ctx, "new");
    let messages = config.messages();
    if crate::limits::redeem_unlock_link(config, &facts, token)
        .await?
        .is_some()
    {
        client.flash(
            FlashKind::Info,
            Some(messages.text(&lang, "lockout_unlocked")),
        );
    } else {
        let text = messages.text(&lang, "lockout_unlock_invalid");
        client.flash(FlashKind::Error, Some(text));
    }
    Ok(sign_in_page)
}

//! The invitation pages (Pow's `InvitationController`) on the engine: every page the
//! extension renders ([`new_page`], [`show_page`], [`forbidden_page`], [`accept_page`]),
//! built from the action's step, and the invitee's controllers ([`edit`], [`update`]).
//!
//! They are page routes of the engine's table ([`page_routes`]), which every framework
//! layer mounts: the inviter's form, its action and the show page (for users who may
//! invite; others get the `403` page), the invitee's accept form and its action.

use std::sync::Arc;

use pow_core::config::RouteContext;
use pow_core::error::PowError;
use pow_core::pages::core::signed_up;
use pow_core::pages::routes::{ActFuture, PageRoute, PathParams, Verb};
use pow_core::pages::{extra_fields, form, new_password_fields, user_id_field, Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Step};
use pow_core::request::RequestSource;
use pow_core::session::CookieSession;
use pow_core::views::{Link, PageBody};

use crate::flows::{accept, accept_url, actions, invite, path, Invite, Invitee, EDIT_PATH};
use crate::{Invitation, NAME};

/// The invite form's route, relative to the mount path (the routes backend may move it).
pub(crate) const NEW_PATH: &str = "/invitations/new";
/// Where the invite form posts, relative to the mount path.
pub(crate) const CREATE_PATH: &str = "/invitations";
/// The inviter's show page and the accept action, relative to the mount path.
pub(crate) const SHOW_PATH: &str = "/invitations/{token}";

/// The extension's page routes: the invitee's accept form (`invitation#edit`), for
/// signed-out visitors.
pub(crate) fn page_routes(ext: &Invitation) -> Vec<PageRoute> {
    let ext = Arc::new(ext.clone());
    let with = |act: Act| with_ext(&ext, act);
    let mut routes = vec![
        PageRoute::new(
            Verb::Get,
            NEW_PATH,
            actions::NEW,
            with(|step, _, ext| Box::pin(async move { new(step, &ext) })),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Post,
            CREATE_PATH,
            actions::CREATE,
            with(|step, client, ext| Box::pin(async move { create(step, client, &ext).await })),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Get,
            SHOW_PATH,
            actions::SHOW,
            with(|step, client, ext| Box::pin(async move { show(step, client, &ext).await })),
        )
        .signed_in(),
        PageRoute::new(
            Verb::Get,
            EDIT_PATH,
            actions::EDIT,
            with(|step, client, ext| Box::pin(async move { edit(step, client, &ext).await })),
        )
        .signed_out(),
    ];
    for verb in [Verb::Patch, Verb::Put] {
        routes.push(
            PageRoute::new(
                verb,
                SHOW_PATH,
                actions::UPDATE,
                with(|step, client, ext| Box::pin(async move { update(step, client, &ext).await })),
            )
            .signed_out(),
        );
    }
    routes
        .into_iter()
        .map(|route| route.of_extension(NAME))
        .collect()
}

/// A controller of the extension, given its settings.
type Act = for<'a> fn(&'a mut Step, &'a mut dyn Client, Arc<Invitation>) -> ActFuture<'a>;

/// `act` over the extension's settings `ext`, as a page route runs a controller.
fn with_ext(
    ext: &Arc<Invitation>,
    act: Act,
) -> impl for<'a> Fn(&'a mut Step, &'a mut dyn Client) -> ActFuture<'a> + Send + Sync + 'static {
    let ext = Arc::clone(ext);
    move |step, client| act(step, client, Arc::clone(&ext))
}

/// The answer to a signed-in user who may not invite: the `403` page.
fn forbidden(step: &Step) -> Answer {
    tracing::info!(action = %step.id, "refused an invitation request: not allowed to invite");
    Answer::render(|step, _| Ok(forbidden_page(step).with_status(403)))
}

/// The `403` answer for a signed-in user who may not invite, `None` for one who may.
fn refuse_non_inviter(step: &Step, ext: &Invitation) -> Option<Answer> {
    match step.signed_in() {
        Ok(user) if ext.may_invite(user) => None,
        _ => Some(forbidden(step)),
    }
}

/// `invitation#new`: the invite form, for users who may invite.
fn new(step: &mut Step, ext: &Invitation) -> Result<Answer, PowError> {
    if let Some(refused) = refuse_non_inviter(step, ext) {
        return Ok(refused);
    }
    Ok(Answer::render(|step, cookie| Ok(new_page(step, cookie))))
}

/// `invitation#create`: invites the posted address (the inviter's row read afresh for the
/// permission), mails the link, or shows the link to hand over when it cannot be mailed.
async fn create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Invitation,
) -> Result<Answer, PowError> {
    if let Some(refused) = refuse_non_inviter(step, ext) {
        return Ok(refused);
    }
    let signed_in_id = step.signed_in()?.id;
    let source = client.facts();
    Ok(match invite(step, &source, ext, signed_in_id).await? {
        Invite::InviterGone => {
            client.session().end(&step.config).await?;
            Answer::Stop(sign_in_path(step))
        }
        Invite::NotAllowed => forbidden(step),
        Invite::Mailed => {
            client.flash(
                FlashKind::Info,
                step.message("pow_invitation_invitation_email_sent"),
            );
            Answer::Redirect(path(&step.config, NEW_PATH, ""))
        }
        Invite::MailFailed(signed) => {
            client.flash(
                FlashKind::Error,
                step.message("pow_invitation_email_failed"),
            );
            Answer::Redirect(path(&step.config, SHOW_PATH, &signed))
        }
        Invite::NoAddress(signed) => Answer::Redirect(path(&step.config, SHOW_PATH, &signed)),
        Invite::Invalid => Answer::render(|step, cookie| Ok(new_page(step, cookie))),
    })
}

/// `invitation#show`: the accept link of an invitation, to hand over, for users who may
/// invite.
async fn show(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Invitation,
) -> Result<Answer, PowError> {
    if let Some(refused) = refuse_non_inviter(step, ext) {
        return Ok(refused);
    }
    let token = path_token(step);
    let Some(invitee) = ext.find_invitee(&step.config, &token).await? else {
        return Ok(invalid_invitation(step, client));
    };
    step.user = Some(invitee);
    // The signed token from the path, verified: the row keeps only its hash.
    let source = client.facts();
    Ok(Answer::render(move |step, _| {
        Ok(show_page(step, &source, &token))
    }))
}

/// The sign-in page, where a visitor with no pending invitation is sent (without a
/// return path).
pub(crate) fn sign_in_path(step: &Step) -> String {
    let ctx = RouteContext {
        request_path: None,
        ..step.routes_ctx()
    };
    step.config.routes().session_path(&ctx, "new")
}

/// The signed token in the path (empty when there is none, which no check accepts).
fn path_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|path| path.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// The answer for a link with no pending invitation behind it: "The invitation doesn't
/// exist.", then to the sign-in page, without the after-callbacks.
pub(crate) fn invalid_invitation(step: &Step, client: &mut dyn Client) -> Answer {
    client.flash(
        FlashKind::Error,
        step.message("pow_invitation_invalid_invitation"),
    );
    Answer::Stop(sign_in_path(step))
}

/// The invite form (`invitation/new`): the user id field, with the submitted value and
/// the step's changeset errors.
pub(crate) fn new_page(step: &Step, cookie: &CookieSession) -> Page {
    let (config, lang) = (&step.config, &step.lang);
    let cs = step.changeset.as_ref();
    let fields = vec![user_id_field(config, lang, &step.params, None, cs)];
    let body = PageBody::Form {
        form: form(
            cookie,
            path(config, CREATE_PATH, ""),
            None,
            fields,
            step.text("pow_invitation_button_invite"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    Page::new("invitation/new", "pow_invitation_title_new", body)
}

/// The inviter's show page (`invitation/show`): the accept link of the signed token, to
/// hand over, and a link to invite another.
pub(crate) fn show_page(step: &Step, source: &dyn RequestSource, signed: &str) -> Page {
    let config = &step.config;
    let body = PageBody::Text {
        paragraphs: vec![
            step.text("pow_invitation_show_intro"),
            accept_url(source, config, signed),
        ],
        links: vec![Link::new(
            path(config, NEW_PATH, ""),
            step.text("pow_invitation_link_invite_another"),
        )],
    };
    Page::new("invitation/show", "pow_invitation_title_show", body)
}

/// The page refusing a user who may not invite (`invitation/forbidden`), answered with
/// `403 Forbidden`.
pub(crate) fn forbidden_page(step: &Step) -> Page {
    let body = PageBody::Text {
        paragraphs: vec![step.text("pow_invitation_not_allowed")],
        links: Vec::new(),
    };
    Page::new("invitation/forbidden", "pow_invitation_title_new", body)
}

/// The accept form (`invitation/edit`) of the step's invitee: the user id, the castable
/// fields and the new password with its confirmation, showing the submitted values (else
/// the invitee's) and the changeset's errors; it posts `PATCH` to the invitation.
///
/// # Errors
/// [`PowError::Other`] when the action loaded no invitee.
pub(crate) fn accept_page(step: &Step, cookie: &CookieSession) -> Result<Page, PowError> {
    let Invitee(invitee, signed) = step
        .assigns
        .get::<Invitee>()
        .ok_or_else(|| PowError::Other("no invitee loaded".into()))?;
    let (config, lang, params) = (&step.config, &step.lang, &step.params);
    let cs = step.changeset.as_ref();
    let mut fields = vec![user_id_field(config, lang, params, Some(invitee), cs)];
    // The invitee's row exists already, yet accepting is their sign-up: the app's
    // required fields are marked required, as on the registration form.
    fields.extend(
        extra_fields(config, lang, params, cs, Some(invitee))
            .into_iter()
            .map(|mut field| {
                field.required = config
                    .user_fields()
                    .iter()
                    .any(|def| def.name == field.name && def.required);
                field
            }),
    );
    fields.extend(new_password_fields(config, lang, cs, true));
    let body = PageBody::Form {
        form: form(
            cookie,
            path(config, SHOW_PATH, signed),
            Some("PATCH"),
            fields,
            step.text("pow_invitation_button_accept"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    Ok(Page::new(
        "invitation/edit",
        "pow_invitation_title_edit",
        body,
    ))
}

/// `invitation#edit`: the accept form of a pending invitation (signed-out visitors only).
async fn edit(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Invitation,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    let Some(invitee) = ext.find_invitee(&step.config, &token).await? else {
        return Ok(invalid_invitation(step, client));
    };
    step.user = Some(invitee.clone());
    step.assigns.insert(Invitee(invitee, token));
    Ok(Answer::render(accept_page))
}

/// `invitation#update`: accepts a pending invitation with the posted user id, fields and
/// password (signed-out visitors only), then signs the invitee in as a sign-up does; the
/// accept form again with the changeset's errors.
///
/// # Errors
/// The users context's or the store's error.
pub(crate) async fn update(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Invitation,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    let facts = client.facts();
    match accept(step, &facts, ext, &token).await? {
        None => Ok(invalid_invitation(step, client)),
        Some(Ok(user)) => signed_up(step, client, user).await,
        Some(Err(cs)) => {
            step.changeset = Some(cs);
            Ok(Answer::render(accept_page))
        }
    }
}

//! The invitation controller (Pow's `InvitationController`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::mailer::{compose, MailContent};
use pow_actix::messages::{LanguageIdentifier, MessageArg};
use pow_actix::store::Claim;
use pow_actix::users::{Changeset, Params};
use pow_actix::views::{Link, PageBody};
use pow_actix::web::{
    extension_path, extra_fields, flash, form, new_password_fields, redirect, render_page,
    routes_ctx, signed_up, user_id_field, Action, Controller, FormData, Outcome, Page,
};
use pow_actix::{PowConfig, PowError, User};

use crate::{Invitation, Invited, INVITATION_ACCEPTED_AT, NAME};

/// Registers the routes, each carrying the extension's settings.
pub(crate) fn register(cfg: &mut ServiceConfig, config: &PowConfig, ext: Invitation) {
    let data = web::Data::new(ext);
    let route = |pattern: &str| config.routes().extension_route(NAME, pattern);
    cfg.service(
        web::resource(route(NEW_PATH))
            .app_data(data.clone())
            .route(web::get().to(new)),
    )
    .service(
        web::resource(route(CREATE_PATH))
            .app_data(data.clone())
            .route(web::post().to(create)),
    )
    .service(
        web::resource(route(EDIT_PATH))
            .app_data(data.clone())
            .route(web::get().to(edit)),
    )
    .service(
        web::resource(route(SHOW_PATH))
            .app_data(data)
            .route(web::get().to(show))
            .route(web::post().to(update_post))
            .route(web::patch().to(update))
            .route(web::put().to(update)),
    );
}

// ----- paths, texts, responses -------------------------------------------------------

/// Default routes, relative to the mount path; the routes backend may move them.
const NEW_PATH: &str = "/invitations/new";
const CREATE_PATH: &str = "/invitations";
const SHOW_PATH: &str = "/invitations/{token}";
const EDIT_PATH: &str = "/invitations/{token}/edit";

/// The path of route `pattern` with `token` filled in, where the routes backend puts it.
fn path(config: &PowConfig, pattern: &str, token: &str) -> String {
    extension_path(config, NAME, pattern, &[("token", token)])
}

fn text(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> String {
    config.messages().text(lang, key)
}

fn message(config: &PowConfig, lang: &LanguageIdentifier, key: &str) -> Option<String> {
    config.messages().message(lang, key, &[])
}

/// "The invitation doesn't exist.", then to the sign-in page.
fn invalid_invitation(req: &HttpRequest, config: &PowConfig) -> HttpResponse {
    let lang = pow_actix::messages::request_language(
        &pow_actix::web::ActixRequest(req),
        config.messages(),
    );
    flash::put_error(
        req,
        message(config, &lang, "pow_invitation_invalid_invitation"),
    );
    let ctx = routes_ctx(req, config, None);
    redirect(&config.routes().session_path(&ctx, "new"))
}

/// A `403` page for a signed-in user who may not invite, `None` for one who may.
fn refuse_non_inviter(
    ctl: &Controller,
    ext: &Invitation,
) -> Result<Option<HttpResponse>, PowError> {
    match ctl.signed_in() {
        Ok(user) if ext.may_invite(user) => Ok(None),
        _ => forbidden(&ctl.req, &ctl.config).map(Some),
    }
}

fn forbidden(req: &HttpRequest, config: &PowConfig) -> Result<HttpResponse, PowError> {
    tracing::info!(path = %req.path(), "refused an invitation request: not allowed to invite");
    let lang = pow_actix::messages::request_language(
        &pow_actix::web::ActixRequest(req),
        config.messages(),
    );
    let body = PageBody::Text {
        paragraphs: vec![text(config, &lang, "pow_invitation_not_allowed")],
        links: Vec::new(),
    };
    let page = Page::new("invitation/forbidden", "pow_invitation_title_new", body);
    let mut res = render_page(req, config, &lang, page)?;
    *res.status_mut() = StatusCode::FORBIDDEN;
    Ok(res)
}

// ----- pages -------------------------------------------------------------------------

fn new_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    params: &Params,
    cs: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let fields = vec![user_id_field(config, lang, params, None, cs)];
    let body = PageBody::Form {
        form: form(
            req,
            path(config, CREATE_PATH, ""),
            None,
            fields,
            text(config, lang, "pow_invitation_button_invite"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    render_page(
        req,
        config,
        lang,
        Page::new("invitation/new", "pow_invitation_title_new", body),
    )
}

fn edit_page(
    req: &HttpRequest,
    config: &PowConfig,
    lang: &LanguageIdentifier,
    signed: &str,
    invitee: &User,
    params: &Params,
    cs: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let mut fields = vec![user_id_field(config, lang, params, Some(invitee), cs)];
    fields.extend(extra_fields(config, lang, params, cs, Some(invitee)));
    fields.extend(new_password_fields(config, lang, cs, true));
    let body = PageBody::Form {
        form: form(
            req,
            path(config, SHOW_PATH, signed),
            Some("PATCH"),
            fields,
            text(config, lang, "pow_invitation_button_accept"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    render_page(
        req,
        config,
        lang,
        Page::new("invitation/edit", "pow_invitation_title_edit", body),
    )
}

/// The invitation controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_actix::web::{ActionId, ActionKind};

    /// `GET /invitations/new`: the invite form.
    pub const NEW: ActionId = ActionId::new("invitation", "new", ActionKind::Show);
    /// `POST /invitations`: invite someone.
    pub const CREATE: ActionId = ActionId::new("invitation", "create", ActionKind::Other);
    /// `GET /invitations/{token}`: the accept link, for the inviter to pass on.
    pub const SHOW: ActionId = ActionId::new("invitation", "show", ActionKind::Show);
    /// `GET /invitations/{token}/edit`: the accept form.
    pub const EDIT: ActionId = ActionId::new("invitation", "edit", ActionKind::Show);
    /// `PATCH /invitations/{token}`: accept, setting a password.
    pub const UPDATE: ActionId = ActionId::new("invitation", "update", ActionKind::CompleteSignUp);
    /// `POST <api>/invitations`: invite someone, over JSON.
    pub const API_CREATE: ActionId = ActionId::new("api_invitation", "create", ActionKind::Other);
    /// `GET <api>/invitations/{token}`: a pending invitation, for the invitee's form.
    pub const API_SHOW: ActionId = ActionId::new("api_invitation", "show", ActionKind::Show);
    /// `PATCH <api>/invitations/{token}`: accept over JSON; answers a token pair.
    pub const API_UPDATE: ActionId =
        ActionId::new("api_invitation", "update", ActionKind::CompleteSignUp);
}

// ----- inviter actions ---------------------------------------------------------------

async fn new(req: HttpRequest, ext: web::Data<Invitation>) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::NEW)
        .signed_in()
        .run(&req, async |ctl| {
            if let Some(res) = refuse_non_inviter(ctl, &ext)? {
                return Ok(Outcome::Stop(res));
            }
            Ok(Outcome::render(|ctl: &Controller| {
                new_page(&ctl.req, &ctl.config, &ctl.lang, &ctl.params, None)
            }))
        })
        .await
}

/// What creating an invitation came to.
enum Created {
    /// The inviter's row is gone.
    InviterGone,
    /// The inviter, read again, may no longer invite.
    NotAllowed,
    /// The write's result, with the inviter as read from the database.
    Done(Box<(User, Result<Invited, Changeset>)>),
}

async fn create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::CREATE)
        .signed_in()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            if let Some(res) = refuse_non_inviter(ctl, &ext)? {
                return Ok(Outcome::Stop(res));
            }
            let signed_in_id = ctl.signed_in()?.id;
            match invite(ctl, &ext, signed_in_id).await? {
                Invite::InviterGone => {
                    pow_actix::session::sign_out(&ctl.req).await?;
                    let ctx = routes_ctx(&ctl.req, &ctl.config, None);
                    let path = ctl.config.routes().session_path(&ctx, "new");
                    Ok(Outcome::Stop(redirect(&path)))
                }
                Invite::NotAllowed => Ok(Outcome::Stop(forbidden(&ctl.req, &ctl.config)?)),
                Invite::Mailed => {
                    flash::put_info(
                        &ctl.req,
                        ctl.message("pow_invitation_invitation_email_sent"),
                    );
                    Ok(Outcome::redirect(&path(&ctl.config, NEW_PATH, "")))
                }
                Invite::MailFailed(signed) => {
                    flash::put_error(&ctl.req, ctl.message("pow_invitation_email_failed"));
                    Ok(Outcome::redirect(&path(&ctl.config, SHOW_PATH, &signed)))
                }
                Invite::NoAddress(signed) => {
                    Ok(Outcome::redirect(&path(&ctl.config, SHOW_PATH, &signed)))
                }
                Invite::Invalid => Ok(Outcome::render(|ctl: &Controller| {
                    new_page(
                        &ctl.req,
                        &ctl.config,
                        &ctl.lang,
                        &ctl.params,
                        ctl.changeset.as_ref(),
                    )
                })),
            }
        })
        .await
}

/// What inviting someone came to, for the page or the JSON answer to say.
pub(crate) enum Invite {
    /// The inviter's row is gone.
    InviterGone,
    /// The inviter, read again, may no longer invite.
    NotAllowed,
    /// The invitation mail went out (or, for an address that has an account, a look-alike
    /// of it with a sign-in link: the inviter cannot tell them apart).
    Mailed,
    /// The invitee has no address: the signed token of the link to hand over.
    NoAddress(String),
    /// The mail failed: the signed token, so the link can be handed over instead.
    MailFailed(String),
    /// The params were refused: the changeset with its errors is in `ctl.changeset`.
    Invalid,
}

/// Invites the user of `ctl.params` on behalf of user `inviter_id` and mails the link:
/// the one logic of `POST /invitations` and `POST <api>/invitations`. Sets `ctl.user` to
/// the invitee and `ctl.changeset` to a refused changeset.
pub(crate) async fn invite(
    ctl: &mut Controller,
    ext: &Invitation,
    inviter_id: i64,
) -> Result<Invite, PowError> {
    let (params, settings) = (ctl.params.clone(), ext.clone());
    // The session's copy of the inviter may be stale: read the row for the permission
    // check and for the fields carried over to the invitee.
    let created = ctl
        .config
        .users()?
        .run(move |users, cfg| {
            let Some(inviter) = users.get(cfg, inviter_id)? else {
                return Ok(Created::InviterGone);
            };
            if !settings.may_invite(&inviter) {
                return Ok(Created::NotAllowed);
            }
            let result = settings.invite(users, cfg, &inviter, &params)?;
            Ok(Created::Done(Box::new((inviter, result))))
        })
        .await?;
    let (inviter, result) = match created {
        Created::InviterGone => return Ok(Invite::InviterGone),
        Created::NotAllowed => return Ok(Invite::NotAllowed),
        Created::Done(done) => *done,
    };
    match result {
        Ok(invited_user) => {
            ctl.user = Some(invited_user.user.clone());
            Ok(invited(ctl, &inviter, &invited_user).await)
        }
        Err(cs) => {
            let hidden_taken =
                cs.errors.has("email", "taken") && ctl.config.prevent_user_enumeration();
            let to = cs
                .changes
                .get("email")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            ctl.changeset = Some(cs);
            if !hidden_taken {
                return Ok(Invite::Invalid);
            }
            // Looks like success, so invitations don't reveal who has an account, and
            // does the same work as one (the write was tried): the same mail is composed
            // and queued, to the owner, with a sign-in link instead of an accept link.
            if let Some(to) = to {
                let ctx = routes_ctx(&ctl.req, &ctl.config, None);
                let sign_in = ctl.config.routes().session_path(&ctx, "new");
                let url = ctl
                    .config
                    .url_for(&pow_actix::web::ActixRequest(&ctl.req), &sign_in);
                let mail = InvitationMail::Existing { url: &url };
                if let Err(err) = send_invitation(&ctl.config, &ctl.lang, &inviter, &to, mail).await
                {
                    tracing::error!(
                        error = %err,
                        "the invitation mail to an existing account could not be sent"
                    );
                }
            }
            Ok(Invite::Mailed)
        }
    }
}

/// The accept link of `signed`: the app's frontend when
/// [`frontend_link`](pow_actix::PowConfigBuilder::frontend_link) has one for
/// [`LINK`](crate::LINK), else the accept page.
pub(crate) fn accept_url(req: &HttpRequest, config: &PowConfig, signed: &str) -> String {
    config.mail_link(crate::LINK, signed, || {
        config.url_for(
            &pow_actix::web::ActixRequest(req),
            &path(config, EDIT_PATH, signed),
        )
    })
}

/// Mails the accept link to a new invitee with an address, and says how that went.
async fn invited(ctl: &Controller, inviter: &User, invited: &Invited) -> Invite {
    let (invitee, signed) = (&invited.user, &invited.signed_token);
    let Some(email) = invitee.email() else {
        return Invite::NoAddress(signed.clone());
    };
    let url = accept_url(&ctl.req, &ctl.config, signed);
    let mail = InvitationMail::New { url: &url };
    match send_invitation(&ctl.config, &ctl.lang, inviter, email, mail).await {
        Ok(()) => Invite::Mailed,
        Err(err) => {
            tracing::error!(
                user.id = invitee.id,
                error = %err,
                "the invitation mail could not be sent"
            );
            Invite::MailFailed(signed.clone())
        }
    }
}

/// Which invitation mail goes out.
#[derive(Clone, Copy)]
enum InvitationMail<'a> {
    /// To a new invitee: the accept link.
    New { url: &'a str },
    /// To the owner of an address that has an account: a sign-in link.
    Existing { url: &'a str },
}

/// Sends "You've been invited", naming the inviter: with the accept link to a new
/// invitee, with a sign-in link to an address that has an account (the same template and
/// work, so the inviter cannot tell them apart).
async fn send_invitation(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    inviter: &User,
    to: &str,
    mail: InvitationMail<'_>,
) -> Result<(), PowError> {
    let (body_key, button_key, url) = match mail {
        InvitationMail::New { url } => (
            "pow_invitation_mail_body",
            "pow_invitation_mail_button",
            url,
        ),
        InvitationMail::Existing { url } => (
            "pow_invitation_mail_body_existing",
            "pow_invitation_mail_button_sign_in",
            url,
        ),
    };
    let messages = config.messages();
    let inviter_id = inviter.user_id(config).unwrap_or_default();
    let body = messages
        .message(lang, body_key, &[("inviter", MessageArg::from(inviter_id))])
        .unwrap_or_default();
    let paragraphs = [body, messages.text(lang, "pow_invitation_mail_ignore")];
    let button = messages.text(lang, button_key);
    let subject = messages.text(lang, "pow_invitation_mail_subject");
    let mail = compose(
        config,
        &MailContent {
            name: crate::MAIL,
            lang,
            to,
            subject: &subject,
            paragraphs: &paragraphs,
            link: Some((&button, url)),
        },
    )?;
    config.mailer().deliver(mail).await?;
    pow_actix::audit::record(
        config,
        pow_actix::audit::AuditEvent::new(crate::events::SENT)
            .user(inviter.id)
            .identifier(config, to),
    );
    Ok(())
}

async fn show(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SHOW)
        .signed_in()
        .run(&req, async |ctl| {
            if let Some(res) = refuse_non_inviter(ctl, &ext)? {
                return Ok(Outcome::Stop(res));
            }
            let Some(invitee) = ext.find_invitee(&ctl.config, &token).await? else {
                return Ok(Outcome::Stop(invalid_invitation(&ctl.req, &ctl.config)));
            };
            ctl.user = Some(invitee);
            // The signed token from the path, verified: the row keeps only its hash.
            let signed = token.as_str().to_owned();
            Ok(Outcome::render(move |ctl: &Controller| {
                let (req, config) = (&ctl.req, &ctl.config);
                let body = PageBody::Text {
                    paragraphs: vec![
                        ctl.text("pow_invitation_show_intro"),
                        accept_url(req, config, &signed),
                    ],
                    links: vec![Link::new(
                        path(config, NEW_PATH, ""),
                        ctl.text("pow_invitation_link_invite_another"),
                    )],
                };
                let page = Page::new("invitation/show", "pow_invitation_title_show", body);
                render_page(req, config, &ctl.lang, page)
            }))
        })
        .await
}

// ----- invitee actions ---------------------------------------------------------------

/// The accept form of the controller's invitee, with its submitted values and errors.
fn accept_page(ctl: &Controller) -> Result<HttpResponse, PowError> {
    let invitee = ctl
        .assigns
        .get::<Invitee>()
        .ok_or_else(|| PowError::Other("no invitee loaded".into()))?;
    edit_page(
        &ctl.req,
        &ctl.config,
        &ctl.lang,
        &invitee.1,
        &invitee.0,
        &ctl.params,
        ctl.changeset.as_ref(),
    )
}

/// The invitee an accept action works on, and the verified signed token from the path
/// (the row keeps only its hash).
struct Invitee(User, String);

async fn edit(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::EDIT)
        .signed_out()
        .run(&req, async |ctl| {
            let Some(invitee) = ext.find_invitee(&ctl.config, &token).await? else {
                return Ok(Outcome::Stop(invalid_invitation(&ctl.req, &ctl.config)));
            };
            ctl.user = Some(invitee.clone());
            ctl.assigns
                .insert(Invitee(invitee, token.as_str().to_owned()));
            Ok(Outcome::render(accept_page))
        })
        .await
}

async fn update_post(
    req: HttpRequest,
    token: web::Path<String>,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    let form = FormData::parse(&body);
    match form.method_override().as_deref() {
        Some("PATCH" | "PUT") => Ok(update_form(req, token.into_inner(), form, ext).await?),
        _ => Ok(HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, "GET, PATCH, PUT"))
            .finish()),
    }
}

async fn update(
    req: HttpRequest,
    token: web::Path<String>,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> pow_actix::Result<HttpResponse> {
    Ok(update_form(req, token.into_inner(), FormData::parse(&body), ext).await?)
}

async fn update_form(
    req: HttpRequest,
    token: String,
    form: FormData,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, PowError> {
    Action::new(actions::UPDATE)
        .signed_out()
        .form(form)
        .run(&req, async |ctl| match accept(ctl, &ext, &token).await? {
            None => Ok(Outcome::Stop(invalid_invitation(&ctl.req, &ctl.config))),
            Some(Ok(user)) => signed_up(ctl, user).await,
            Some(Err(cs)) => {
                ctl.changeset = Some(cs);
                Ok(Outcome::render(accept_page))
            }
        })
        .await
}

/// Accepts the invitation of the signed `token` with `ctl.params` (user id, password and
/// confirmation, fields): the one logic of the accept page and `PATCH <api>/invitations/{token}`.
/// `None` when there is no pending invitation (or a racing accept won); the accepted user,
/// audited, or the refused changeset.
pub(crate) async fn accept(
    ctl: &mut Controller,
    ext: &Invitation,
    token: &str,
) -> Result<Option<Result<User, Changeset>>, PowError> {
    let Some(invitee) = ext.find_invitee(&ctl.config, token).await? else {
        return Ok(None);
    };
    ctl.assigns
        .insert(Invitee(invitee.clone(), token.to_owned()));
    // One accept at a time per invitee: of racing accepts exactly one writes.
    let claim = Claim::new(
        &ctl.config,
        "invitation",
        ["accept".to_owned(), invitee.id.to_string()],
    );
    if !claim.take().await? {
        return Ok(None);
    }
    let params = ctl.params.clone();
    let result = ctl
        .config
        .users()?
        .run(move |users, cfg| {
            // Read the row again right before writing: an invitation accepted, or a
            // password set through a reset, since the link was opened ends it.
            let Some(fresh) = users.get(cfg, invitee.id)? else {
                return Ok(None);
            };
            if fresh.get_timestamp(INVITATION_ACCEPTED_AT).is_some()
                || fresh.password_hash.is_some()
            {
                return Ok(None);
            }
            users
                .apply(cfg, crate::accept_changeset(cfg, &fresh, &params))
                .map(Some)
        })
        .await;
    // The write is done (or refused): others may try again, and find it accepted.
    claim.release().await?;
    let result = result?;
    if let Some(Ok(user)) = &result {
        tracing::info!(user.id = user.id, "invitation accepted");
        pow_actix::audit::record(
            &ctl.config,
            pow_actix::audit::AuditEvent::new(crate::events::ACCEPTED)
                .request(&ctl.config, &pow_actix::web::ActixRequest(&ctl.req))
                .user(user.id),
        );
    }
    Ok(result)
}

/// Ends an open invitation once its invitee signs in another way.
pub(crate) struct EndOnSignIn;

#[async_trait::async_trait(?Send)]
impl pow_actix::extension::Callbacks for EndOnSignIn {
    /// An invitee who signs in any other way (a magic link, a provider, a password set
    /// through a reset) has an account in use: the invitation ends, so its link can no
    /// longer set a password or sign anyone in (past a second factor added since).
    async fn before_respond(
        &self,
        step: &mut pow_actix::pipeline::Step,
        _client: &mut dyn pow_actix::pipeline::Client,
    ) -> Result<pow_actix::pipeline::Flow, PowError> {
        use pow_actix::pipeline::{ActionKind, Flow};
        if step.id.kind() != ActionKind::SignIn {
            return Ok(Flow::Continue);
        }
        let Some(user) = &step.user else {
            return Ok(Flow::Continue);
        };
        // Only invitees with an open invitation cost a database write.
        if user.get_str(crate::INVITATION_TOKEN).is_none()
            || user.get_timestamp(crate::INVITATION_ACCEPTED_AT).is_some()
        {
            return Ok(Flow::Continue);
        }
        let id = user.id;
        step.config
            .users()?
            .run(move |users, cfg| end_invitation(users, cfg, id))
            .await?;
        Ok(Flow::Continue)
    }
}

/// Ends `user_id`'s invitation, if it is still open, because the account is in use (the
/// invitee signed in another way): sets `invitation_accepted_at`, so the link stops
/// working. Reads the row first; blocks (database).
fn end_invitation(
    users: &dyn pow_actix::users::UsersContext,
    config: &PowConfig,
    user_id: i64,
) -> Result<(), PowError> {
    let Some(user) = users.get(config, user_id)? else {
        return Ok(());
    };
    if user.get_str(crate::INVITATION_TOKEN).is_none()
        || user.get_timestamp(crate::INVITATION_ACCEPTED_AT).is_some()
    {
        return Ok(());
    }
    let mut changes = pow_actix::users::Changes::new();
    changes.insert(
        crate::INVITATION_ACCEPTED_AT.to_owned(),
        pow_actix::users::Value::Timestamp(chrono::Utc::now()),
    );
    users
        .update_fields(config, &user, &changes)
        .map_err(|err| match err {
            pow_actix::users::WriteError::Other(err) => err,
            err => PowError::Database(err.to_string()),
        })?;
    tracing::info!(
        user.id = user_id,
        "invitation ended: the invitee signed in another way"
    );
    Ok(())
}

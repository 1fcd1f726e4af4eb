//! The invitation flows, on the engine: invite someone and mail the link ([`invite`]),
//! accept an invitation ([`accept`]), and end an open invitation once its invitee signs in
//! another way. The pages and the JSON endpoints run these and render their outcome; a
//! CLI, a job or a test runs them without HTTP, with a
//! [`StoreSession`](pow_core::session::StoreSession) to sign the invitee in:
//!
//! ```
//! use pow_core::mailer::MemoryMailer;
//! use pow_core::messages::LanguageIdentifier;
//! use pow_core::pipeline::Step;
//! use pow_core::request::RequestFacts;
//! use pow_core::session::{SessionHandle, StoreSession};
//! use pow_core::users::diesel::DieselUsersContext;
//! use pow_core::users::Params;
//! use pow_core::PowConfig;
//! use pow_ext_invitation::flows::{accept, actions, invite, Invite};
//! use pow_ext_invitation::Invitation;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (users, mailer, ext) = (DieselUsersContext::connect(":memory:")?, MemoryMailer::new(), Invitation::new());
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .mailer(mailer.clone())
//!     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
//!     .extension(ext.clone())
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "a long passphrase")?;
//! let (facts, lang) = (RequestFacts::default(), "en".parse::<LanguageIdentifier>()?);
//!
//! // Ada invites Bo, who gets the link by mail.
//! let params = Params::from([("email".into(), "bo@example.com".into())]);
//! let mut step = Step::new(&config, actions::CREATE, params, lang.clone());
//! assert!(matches!(invite(&mut step, &facts, &ext, ada.id).await?, Invite::Mailed));
//! let mail = mailer.last_to("bo@example.com").expect("the invitation");
//! let link = mail.text.split_whitespace().find(|w| w.contains("/invitations/")).unwrap();
//! let token = link.trim_end_matches("/edit").rsplit('/').next().unwrap();
//!
//! // Bo accepts with a password and is signed in.
//! let params = Params::from([
//!     ("email".into(), "bo@example.com".into()),
//!     ("password".into(), "another long passphrase".into()),
//!     ("password_confirmation".into(), "another long passphrase".into()),
//! ]);
//! let mut step = Step::new(&config, actions::UPDATE, params, lang);
//! let Some(Ok(bo)) = accept(&mut step, &facts, &ext, token).await? else { panic!("accepted") };
//! let mut session = StoreSession::new();
//! pow_core::flows::start_signed_up(&config, &bo, &mut session).await?;
//! assert_eq!(session.current().map(|s| s.user.id), Some(bo.id));
//! // The link works once.
//! assert!(accept(&mut step, &facts, &ext, token).await?.is_none());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use pow_core::extension::Callbacks;
use pow_core::mailer::{compose, MailContent};
use pow_core::messages::{LanguageIdentifier, MessageArg};
use pow_core::pipeline::{Client, Flow, Step};
use pow_core::request::RequestSource;
use pow_core::store::Claim;
use pow_core::users::{Changeset, UsersContext};
use pow_core::{PowConfig, PowError, User};

use crate::{Invitation, Invited, INVITATION_ACCEPTED_AT, NAME};

/// The accept page's route, relative to the mount path (the routes backend may move it):
/// the mailed link points there unless the app sets a frontend link.
pub(crate) const EDIT_PATH: &str = "/invitations/{token}/edit";

/// The path of route `pattern` with `token` filled in, where the routes backend puts it.
pub(crate) fn path(config: &PowConfig, pattern: &str, token: &str) -> String {
    pow_core::config::extension_path(config, NAME, pattern, &[("token", token)])
}

/// The invitation controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_core::pipeline::{ActionId, ActionKind};

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

/// What creating an invitation came to.
enum Created {
    /// The inviter's row is gone.
    InviterGone,
    /// The inviter, read again, may no longer invite.
    NotAllowed,
    /// The write's result, with the inviter as read from the database.
    Done(Box<(User, Result<Invited, Changeset>)>),
}

/// What inviting someone came to, for the page or the JSON answer to say.
#[derive(Debug)]
pub enum Invite {
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
    /// The params were refused: the changeset with its errors is in `step.changeset`.
    Invalid,
}

/// Invites the user of `step.params` on behalf of user `inviter_id` and mails the link:
/// the one logic of `POST /invitations` and `POST <api>/invitations`. Sets `step.user` to
/// the invitee and `step.changeset` to a refused changeset.
pub async fn invite(
    step: &mut Step,
    source: &dyn RequestSource,
    ext: &Invitation,
    inviter_id: i64,
) -> Result<Invite, PowError> {
    let (params, settings) = (step.params.clone(), ext.clone());
    // The session's copy of the inviter may be stale: read the row for the permission
    // check and for the fields carried over to the invitee.
    let created = step
        .config
        .users()?
        .run(move |users, cfg| {
            let Some(inviter) = users.get(cfg.user_schema(), inviter_id)? else {
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
            step.user = Some(invited_user.user.clone());
            Ok(invited(step, source, &inviter, &invited_user).await)
        }
        Err(cs) => {
            let hidden_taken =
                cs.errors.has("email", "taken") && step.config.prevent_user_enumeration();
            let to = cs
                .changes
                .get("email")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            step.changeset = Some(cs);
            if !hidden_taken {
                return Ok(Invite::Invalid);
            }
            // Looks like success, so invitations don't reveal who has an account, and
            // does the same work as one (the write was tried): the same mail is composed
            // and queued, to the owner, with a sign-in link instead of an accept link.
            if let Some(to) = to {
                // The mail is the invitee's: it carries none of the inviter's return path.
                let ctx = pow_core::config::RouteContext {
                    request_path: None,
                    ..step.routes_ctx()
                };
                let sign_in = step.config.routes().session_path(&ctx, "new");
                let url = step.config.url_for(source, &sign_in);
                let mail = InvitationMail::Existing { url: &url };
                if let Err(err) =
                    send_invitation(&step.config, &step.lang, &inviter, &to, mail).await
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
/// [`frontend_link`](pow_core::PowConfigBuilder::frontend_link) has one for
/// [`LINK`](crate::LINK), else the accept page.
pub fn accept_url(source: &dyn RequestSource, config: &PowConfig, signed: &str) -> String {
    config.mail_link(crate::LINK, signed, || {
        config.url_for(source, &path(config, EDIT_PATH, signed))
    })
}

/// Mails the accept link to a new invitee with an address, and says how that went.
async fn invited(
    step: &Step,
    source: &dyn RequestSource,
    inviter: &User,
    invited: &Invited,
) -> Invite {
    let (invitee, signed) = (&invited.user, &invited.signed_token);
    let Some(email) = invitee.email() else {
        return Invite::NoAddress(signed.clone());
    };
    let url = accept_url(source, &step.config, signed);
    let mail = InvitationMail::New { url: &url };
    match send_invitation(&step.config, &step.lang, inviter, email, mail).await {
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
    let inviter_id = inviter.user_id(config.user_schema()).unwrap_or_default();
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
    // Within the address's share of invitation mails (3 an hour): re-inviting is no way
    // to flood an address; past it nothing is sent and the answer is the same.
    if !pow_core::mailer::within_mail_share(config, "invitation_mail", to).await? {
        tracing::info!("invitation not mailed: the address had its share of mails");
        return Ok(());
    }
    config.mailer().deliver(mail).await?;
    pow_core::audit::record(
        config,
        pow_core::audit::AuditEvent::new(crate::events::SENT)
            .user(inviter.id)
            .identifier(config, to),
    );
    Ok(())
}

/// The invitee an accept action works on, and the verified signed token from the path
/// (the row keeps only its hash).
pub(crate) struct Invitee(pub(crate) User, pub(crate) String);

/// Accepts the invitation of the signed `token` with `step.params` (user id, password and
/// confirmation, fields): the one logic of the accept page and `PATCH <api>/invitations/{token}`.
/// `None` when there is no pending invitation (or a racing accept won); the accepted user,
/// audited, or the refused changeset.
pub async fn accept(
    step: &mut Step,
    source: &dyn RequestSource,
    ext: &Invitation,
    token: &str,
) -> Result<Option<Result<User, Changeset>>, PowError> {
    let Some(invitee) = ext.find_invitee(&step.config, token).await? else {
        return Ok(None);
    };
    step.assigns
        .insert(Invitee(invitee.clone(), token.to_owned()));
    // One accept at a time per invitee: of racing accepts exactly one writes.
    let claim = Claim::new(
        &step.config,
        "invitation",
        ["accept".to_owned(), invitee.id.to_string()],
    );
    if !claim.take().await? {
        return Ok(None);
    }
    let params = step.params.clone();
    let result = step
        .config
        .users()?
        .run(move |users, cfg| {
            // Read the row again right before writing: an invitation accepted, or a
            // password set through a reset, since the link was opened ends it.
            let Some(fresh) = users.get(cfg.user_schema(), invitee.id)? else {
                return Ok(None);
            };
            if fresh.get_timestamp(INVITATION_ACCEPTED_AT).is_some()
                || fresh.password_hash.is_some()
            {
                return Ok(None);
            }
            users
                .apply(
                    cfg.user_schema(),
                    crate::accept_changeset(cfg, &fresh, &params),
                )
                .map(Some)
        })
        .await;
    // The write is done (or refused): others may try again, and find it accepted.
    claim.release().await?;
    let result = result?;
    if let Some(Ok(user)) = &result {
        tracing::info!(user.id = user.id, "invitation accepted");
        pow_core::audit::record(
            &step.config,
            pow_core::audit::AuditEvent::new(crate::events::ACCEPTED)
                .request(&step.config, source)
                .user(user.id),
        );
    }
    Ok(result)
}

/// Ends an open invitation once its invitee signs in another way.
pub(crate) struct EndOnSignIn;

#[async_trait::async_trait]
impl Callbacks for EndOnSignIn {
    /// An invitee who signs in any other way (a magic link, a provider, a password set
    /// through a reset) has an account in use: the invitation ends, so its link can no
    /// longer set a password or sign anyone in (past a second factor added since).
    async fn before_respond(
        &self,
        step: &mut Step,
        _client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        use pow_core::pipeline::ActionKind;
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
    users: &dyn UsersContext,
    config: &PowConfig,
    user_id: i64,
) -> Result<(), PowError> {
    let Some(user) = users.get(config.user_schema(), user_id)? else {
        return Ok(());
    };
    if user.get_str(crate::INVITATION_TOKEN).is_none()
        || user.get_timestamp(crate::INVITATION_ACCEPTED_AT).is_some()
    {
        return Ok(());
    }
    let mut changes = pow_core::users::Changes::new();
    changes.insert(
        crate::INVITATION_ACCEPTED_AT.to_owned(),
        pow_core::users::Value::Timestamp(chrono::Utc::now()),
    );
    users
        .update_fields(config.user_schema(), &user, &changes)
        .map_err(|err| match err {
            pow_core::users::WriteError::Other(err) => err,
            err => PowError::Database(err.to_string()),
        })?;
    tracing::info!(
        user.id = user_id,
        "invitation ended: the invitee signed in another way"
    );
    Ok(())
}

//! # pow-ext-invitation
//!
//! Invitations for pow-rs (Pow's `PowInvitation`): a signed-in user invites someone by
//! user id (usually an e-mail address). The invitee gets a link, chooses a password on it
//! and is signed in. Until then the invited user exists without a password and cannot
//! sign in.
//!
//! **Guide**: [invitations](https://github.com/pow-rs/pow-rs/blob/main/guides/invitation.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! # Enabling it
//!
//! Add the extension to the config and run the migrations (they add the columns below):
//!
//! ```
//! # fn main() -> Result<(), pow_actix::PowError> {
//! use std::time::Duration;
//!
//! use pow_actix::users::diesel::DieselUsersContext;
//! use pow_actix::PowConfig;
//! use pow_ext_invitation::Invitation;
//!
//! let users = DieselUsersContext::connect(":memory:")?;
//! let config = PowConfig::builder("s".repeat(64)).base_url("http://localhost")
//!     .users(users.clone())
//!     .extension(
//!         Invitation::new()
//!             .token_ttl(Some(Duration::from_secs(3 * 24 * 3600)))
//!             .who_may_invite(|user| user.get_str("email") == Some("admin@example.com")),
//!     )
//!     .build()?;
//! users.migrate(&config)?;
//! # Ok(())
//! # }
//! ```
//!
//! The pages are page routes of the engine's table, like the core's: every framework
//! layer mounts them with its pages, and they answer alike on each. Link to
//! `/invitations/new` from your app for users who may invite.
//!
//! # Settings
//!
//! | Setting | Default | Meaning |
//! |---|---|---|
//! | [`token_ttl`](Invitation::token_ttl) | 7 days | How long an invitation link works. `None`: until accepted (Pow's behaviour). |
//! | [`who_may_invite`](Invitation::who_may_invite) | every signed-in user | Who may open the inviter pages; others get `403 Forbidden`. |
//! | [`carry_fields`](Invitation::carry_fields) | nothing | Copies fields (an organization id, a team) from the inviter to the invitee. |
//!
//! # Routes
//!
//! | Method | Path | Who | What |
//! |---|---|---|---|
//! | GET | `/invitations/new` | signed in, allowed to invite | form with the user id field |
//! | POST | `/invitations` | signed in, allowed to invite | creates the invited user |
//! | GET | `/invitations/{token}` | signed in, allowed to invite | shows the link to hand over |
//! | GET | `/invitations/{token}/edit` | signed out | the invitee's form: user id, password, confirmation |
//! | PATCH, PUT | `/invitations/{token}` | signed out | accepts (forms POST with `_method=PATCH`) |
//!
//! The routes backend ([`Routes::extension_route`](pow_core::config::Routes::extension_route))
//! may move the paths; links follow. A `HEAD` of the accept form's link answers `405`.
//!
//! # JSON API
//!
//! Enabling the extension in the config enables its JSON endpoints under the API prefix,
//! on every framework that serves the API, the same flows as the pages (the routes are the
//! engine's, like the pages):
//!
//! | Method | Path | Who | Answer |
//! |---|---|---|---|
//! | POST | `<api>/invitations` | bearer token, allowed to invite | `{"user": {"email": ...}}`: `202` once mailed (an address with an account looks the same); `201` with the link's `token` and `url` for an invitee without an address or when the mail failed; `403 invitation_not_allowed`; `422` |
//! | GET | `<api>/invitations/{token}` | anyone with the link | `{"user": {"email": ...}, "expires_at": ...}` to prefill the form; `404 invalid_invitation` |
//! | PATCH, PUT | `<api>/invitations/{token}` | anyone with the link | `{"user": {"email", "password", "password_confirmation"}}`: a token pair; `404 invalid_invitation`; `422` |
//!
//! The mailed link opens the accept page, or the app's own frontend when the setup points
//! [`LINK`] there with
//! [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link):
//!
//! ```
//! # fn main() -> Result<(), pow_actix::PowError> {
//! use pow_actix::api::LinkTemplate;
//! use pow_actix::PowConfig;
//! use pow_ext_invitation::{Invitation, LINK};
//!
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://api.example.com")
//!     .extension(Invitation::new())
//!     .frontend_link(LINK, LinkTemplate::new("https://app.example.com/invitation?token={token}")?)
//!     .build()?;
//! # let _ = config;
//! # Ok(())
//! # }
//! ```
//!
//! `{token}` is the invitation token signed with the salt [`INVITATION_SALT`]; the
//! signature is checked before any database lookup.
//!
//! - **create** inserts a user with only the user id, the keyed hash of a fresh token in
//!   `invitation_token` and `invited_by_id`; the link exists only in the mail or on the
//!   show page it leads to (a copy of the users table opens no invitation). When the new user has an `email`, the invitation mail goes out
//!   ("You've been invited", naming the inviter), the flash says "An e-mail with invitation
//!   link has been sent." and the inviter is sent back to `/invitations/new`; otherwise
//!   (username setups) the inviter is sent to the show page to copy the link. An e-mail
//!   that is already taken looks like success unless user enumeration protection is off,
//!   and costs the same: the insert is tried, and the same invitation mail is composed
//!   and queued to the owner, with a link to the sign-in page instead of an accept link
//!   (`pow_invitation_mail_body_existing`), so neither the answer nor its timing tells
//!   the inviter which addresses have accounts. Should the mail fail, the inviter lands on the show page with an
//!   error flash, so the link can still be handed over.
//! - **show**, **edit** and **update** need a pending invitation: a valid signature, a
//!   user with that token, not yet accepted and not expired, and an account not yet in
//!   use (see below). Otherwise the flash says "The invitation doesn't exist." and the
//!   browser goes to `/session/new`.
//! - **An invitation ends once the account is in use**: when the invitee has a password
//!   (set through a reset link, say), has signed in any other way (every action of kind
//!   [`ActionKind::SignIn`](pow_core::pipeline::ActionKind::SignIn): a magic link, a provider, a code; the extension then sets
//!   `invitation_accepted_at`), or has a live session or API token. The link can then
//!   neither set a password nor sign anyone in, so it never skips a second factor the
//!   invitee added meanwhile.
//! - **update** runs the sign-up rules on the invited user
//!   ([`accept_changeset`]: user id, castable fields, password with
//!   confirmation, hooks) and sets `invitation_accepted_at`. On success the invitee is
//!   signed in and sent to the after-registration path; the link no longer works.
//!
//! Extension callbacks see controller `"invitation"`: `before_process` runs for `new`,
//! `create`, `show`, `edit` and `update`, `before_respond` for `create` and `update` (with
//! the invitee, or the failed changeset). For example the e-mail confirmation extension
//! hooks into `invitation#update` when the invitee changed the e-mail address while
//! accepting. App changeset hooks see [`ChangesetAction::Provision`] and
//! [`ChangesetAction::CompleteSignUp`]: a field required on sign-up usually wants the
//! same rule on acceptance.
//!
//! # Database columns
//!
//! Migration `20260104000000_add_pow_invitation_to_users` (SQLite and PostgreSQL):
//!
//! | Column | Type | Notes |
//! |---|---|---|
//! | `invitation_token` | text, unique | keyed hash of the link's token (Pow's rows: the raw UUID, accepted until used); set on invite, kept after acceptance |
//! | `invitation_sent_at` | timestamp | when the invitation was made; expiry counts from it |
//! | `invitation_accepted_at` | timestamp | set on acceptance, or at the invitee's first sign-in by another method; the link stops working |
//! | `invited_by_id` | integer, references `users(id)` | `NULL` once the inviter is deleted (Pow keeps the reference and refuses the delete) |
//!
//! List who a user invited with [`invited_users`], and the inviter with [`invited_by`].
//!
//! # Messages
//!
//! English, German and French, keys prefixed with `pow_invitation_`:
//! `pow_invitation_invalid_invitation` ("The invitation doesn't exist."),
//! `pow_invitation_invitation_email_sent` ("An e-mail with invitation link has been
//! sent."), `pow_invitation_email_failed`, `pow_invitation_not_allowed`, page texts
//! (`pow_invitation_title_*`, `pow_invitation_button_*`, `pow_invitation_show_intro`,
//! `pow_invitation_link_invite_another`) and mail texts (`pow_invitation_mail_subject`,
//! `pow_invitation_mail_body` with `$inviter`, `pow_invitation_mail_button`,
//! `pow_invitation_mail_body_existing` with `$inviter` and
//! `pow_invitation_mail_button_sign_in` (to an address that has an account),
//! `pow_invitation_mail_ignore`). Accepting shows the core `user_has_been_created`
//! message (nothing by default).
//!
//! # Ordering
//!
//! The extension's one callback (`before_respond` on sign-ins, ending an open invitation)
//! changes no response, so its place in the extension list only decides the order of
//! its routes and messages. (When an earlier extension halts a sign-in, the live session
//! check still ends the invitation while the invitee is signed in.) Enable extensions that hook into
//! `invitation#update` (e-mail confirmation) alongside it in any order.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pow_core::extension::{ExtensionBuilder, SqlMigration};
use pow_core::users::{
    new_column_token, Changeset, ChangesetAction, ChangesetHook, FieldDef, FieldKind, Params,
    UserSchema, UsersContext, Value,
};
use pow_core::{Extension, PowConfig, PowError, User};

mod api;
pub mod flows;
mod pages;
pub use flows::actions;

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_invitation";

/// The name of the mail this extension sends (the invitation with its accept link), under which an app's
/// [`MailViews`](pow_core::mailer::MailViews) can replace its template.
pub const MAIL: &str = "invitation/invitation";

/// The accept link's kind, for
/// [`PowConfigBuilder::frontend_link`](pow_core::PowConfigBuilder::frontend_link): the
/// frontend reads the invitation with `GET <api>/invitations/{token}` and accepts it with
/// `PATCH <api>/invitations/{token}`.
pub const LINK: pow_core::api::LinkKind = pow_core::api::LinkKind::new("invitation");

/// The changeset of accepting an invitation: the sign-up rules run against the invited
/// user's row (user id, castable fields, password required with confirmation), then the
/// hooks, which add their own changes (such as when the invitation was accepted). Checking
/// the password runs the hasher: call it off the async executor.
pub fn accept_changeset(config: &PowConfig, user: &User, params: &Params) -> Changeset {
    let mut cs = Changeset::new(
        ChangesetAction::CompleteSignUp,
        Some(user.clone()),
        params.clone(),
    );
    cs.cast_user_id(config.user_schema());
    cs.cast_fields(config.user_schema());
    cs.validate_password(config.user_schema(), true);
    cs.run_hooks(config.user_schema());
    cs
}

/// Salt of signed invitation tokens (Pow's, so links stay compatible).
pub const INVITATION_SALT: &str = "Elixir.PowInvitation.Plug";

/// Purpose of the keyed hash an invitation token is stored as.
const TOKEN_PURPOSE: &str = "invitation";

/// Column holding the invitation token, as a keyed hash (the raw UUID in rows written by
/// Pow).
pub const INVITATION_TOKEN: &str = "invitation_token";
/// Column holding when the invitation was made.
pub const INVITATION_SENT_AT: &str = "invitation_sent_at";
/// Column holding when the invitation was accepted.
pub const INVITATION_ACCEPTED_AT: &str = "invitation_accepted_at";
/// Column holding the inviter's id.
pub const INVITED_BY_ID: &str = "invited_by_id";

/// Audit events of the extension.
pub mod events {
    use pow_core::audit::EventName;

    /// An invitation was sent (`user_id`: the inviter, `detail.invitee`).
    pub const SENT: EventName = EventName::new("invitation.sent");
    /// An invitation was accepted (`user_id`: the invitee).
    pub const ACCEPTED: EventName = EventName::new("invitation.accepted");
}

/// Default lifetime of an invitation link: 7 days.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The extension's migrations (SQLite and PostgreSQL).
pub const MIGRATIONS: &[SqlMigration] = &[pow_core::sql_migration!(
    "20260104000000",
    "add_pow_invitation_to_users"
)];

/// The Fluent files, as `(language, source)`.
const FTL: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow_invitation.ftl")),
    ("de", include_str!("../locales/de/pow_invitation.ftl")),
    ("fr", include_str!("../locales/fr/pow_invitation.ftl")),
];

type WhoMayInvite = dyn Fn(&User) -> bool + Send + Sync;
type CarryFields = dyn Fn(&User, &mut Changeset) + Send + Sync;

/// The invitation extension and its settings. See the [crate docs](crate).
#[derive(Clone)]
pub struct Invitation {
    token_ttl: Option<Duration>,
    who_may_invite: Arc<WhoMayInvite>,
    carry_fields: Option<Arc<CarryFields>>,
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("token_ttl", &self.token_ttl)
            .field("carry_fields", &self.carry_fields.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Invitation {
    fn default() -> Self {
        Self::new()
    }
}

impl Invitation {
    /// The extension with its defaults: links work for 7 days, every signed-in user may
    /// invite, no fields are carried over.
    pub fn new() -> Self {
        Self {
            token_ttl: Some(DEFAULT_TOKEN_TTL),
            who_may_invite: Arc::new(|_: &User| true),
            carry_fields: None,
        }
    }

    /// How long an invitation link works, counted from the invitation. The default is 7
    /// days ([`DEFAULT_TOKEN_TTL`]); `None` keeps links valid until they are used, as Pow
    /// does.
    ///
    /// # Warning
    /// Without expiry, a forgotten invitation mail keeps working forever: whoever reads it
    /// can take over the invited account.
    pub fn token_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Who may invite: users for whom `allowed` returns `true`. The default lets every
    /// signed-in user invite. Others get `403 Forbidden` on the inviter pages.
    pub fn who_may_invite(
        mut self,
        allowed: impl Fn(&User) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.who_may_invite = Arc::new(allowed);
        self
    }

    /// Copies fields from the inviter (first argument, freshly read from the database) to
    /// the invitee's changeset, e.g. an organization id. Runs before the changeset hooks.
    /// The default copies nothing.
    pub fn carry_fields(
        mut self,
        carry: impl Fn(&User, &mut Changeset) + Send + Sync + 'static,
    ) -> Self {
        self.carry_fields = Some(Arc::new(carry));
        self
    }

    /// The configured link lifetime.
    pub fn ttl(&self) -> Option<Duration> {
        self.token_ttl
    }

    /// Whether `user` may invite.
    pub fn may_invite(&self, user: &User) -> bool {
        (self.who_may_invite)(user)
    }

    /// Whether `invitee`'s row still holds a working invitation at `now`: it has a token,
    /// is not accepted (nor ended by a sign-in), has no password and is not expired.
    /// [`find_invitee`](Self::find_invitee) also refuses an invitee with a live session.
    pub fn is_pending(&self, invitee: &User, now: DateTime<Utc>) -> bool {
        invitee.get_str(INVITATION_TOKEN).is_some()
            && invitee.get_timestamp(INVITATION_ACCEPTED_AT).is_none()
            // A password set some other way (a reset link) ends the invitation: whoever
            // holds the link must not overwrite it.
            && invitee.password_hash.is_none()
            && !self.is_expired(invitee, now)
    }

    /// Whether `invitee`'s invitation is older than the link lifetime at `now`. Counts
    /// from `invitation_sent_at`, else from when the row was inserted.
    pub fn is_expired(&self, invitee: &User, now: DateTime<Utc>) -> bool {
        let Some(ttl) = self.token_ttl else {
            return false;
        };
        let Ok(ttl) = chrono::Duration::from_std(ttl) else {
            // Longer than chrono can count: never in practice.
            return false;
        };
        let sent = invitee
            .get_timestamp(INVITATION_SENT_AT)
            .unwrap_or(invitee.inserted_at);
        sent.checked_add_signed(ttl).is_some_and(|end| now > end)
    }

    /// The changeset inviting a user: the user id from `params` (nothing else is cast, no
    /// password), a new invitation token, `invited_by_id` = `inviter`, then
    /// [`carry_fields`](Self::carry_fields), then the changeset hooks (action
    /// [`ChangesetAction::Provision`]). Returns the signed token of the link with it: the
    /// changeset holds only a keyed hash of the token, so the link exists only here.
    pub fn invite_changeset(
        &self,
        config: &PowConfig,
        inviter: &User,
        params: &Params,
    ) -> (Changeset, String) {
        let (raw, stored) = new_column_token(config.user_schema(), TOKEN_PURPOSE);
        let mut cs = Changeset::new(ChangesetAction::Provision, None, params.clone());
        cs.cast_user_id(config.user_schema());
        cs.put_change(INVITATION_TOKEN, stored);
        cs.put_change(INVITATION_SENT_AT, Utc::now());
        cs.put_change(INVITED_BY_ID, inviter.id);
        if let Some(carry) = &self.carry_fields {
            carry(inviter, &mut cs);
        }
        cs.run_hooks(config.user_schema());
        (cs, config.verifier().sign_token(INVITATION_SALT, &raw))
    }

    /// Invites a user on `inviter`'s behalf: builds [`invite_changeset`](Self::invite_changeset)
    /// and writes it. Sends no mail (the `POST /invitations` route does): the link
    /// `<base_url>/invitations/<signed_token>/edit` is the app's to hand over, and cannot be
    /// read back later. Blocks: call it through [`Users::run`](pow_core::users::Users::run)
    /// from async code.
    ///
    /// # Errors
    /// [`PowError`] when the database fails; validation errors (including `taken`) come
    /// back as `Ok(Err(changeset))`.
    pub fn invite(
        &self,
        users: &dyn UsersContext,
        config: &PowConfig,
        inviter: &User,
        params: &Params,
    ) -> Result<Result<Invited, Changeset>, PowError> {
        let (cs, signed_token) = self.invite_changeset(config, inviter, params);
        Ok(users
            .apply(config.user_schema(), cs)?
            .map(|user| Invited { user, signed_token }))
    }

    /// The pending invitee for a signed token from a link: the signature is checked first,
    /// then the user whose stored token matches (a keyed hash, or the raw token of a row
    /// written by Pow) is read and must still be pending ([`is_pending`](Self::is_pending)).
    ///
    /// # Errors
    /// [`PowError`] when the database fails.
    pub async fn find_invitee(
        &self,
        config: &PowConfig,
        signed: &str,
    ) -> Result<Option<User>, PowError> {
        let Some(token) = config.verifier().verify_token(INVITATION_SALT, signed) else {
            return Ok(None);
        };
        let user = config
            .users()?
            .get_by_column_token(INVITATION_TOKEN, TOKEN_PURPOSE, &token)
            .await?;
        let Some(user) = user.filter(|u| self.is_pending(u, Utc::now())) else {
            return Ok(None);
        };
        // An invitation ends with its inviter's account (closed, erased).
        if user.get_int(INVITED_BY_ID).is_some()
            && invited_by(config, &user)
                .await?
                .is_none_or(|inviter| inviter.is_closed() || inviter.is_disabled())
        {
            return Ok(None);
        }
        // A live session or API token: the account is in use, however it was signed in
        // (a sign-in that skipped the extension's callback ends the invitation here).
        let sessions = pow_core::session::CredentialsCache::new(config)
            .sessions(user.id)
            .await?;
        Ok(sessions.is_empty().then_some(user))
    }
}

/// An invitation just written: the invitee, and the signed token of its accept link. The
/// database keeps only a keyed hash of the token, so this is the one place the link
/// exists.
#[derive(Clone, Debug)]
pub struct Invited {
    /// The invited user's row.
    pub user: User,
    /// The signed token for `<base_url>/invitations/<token>/edit`.
    pub signed_token: String,
}

/// Every user `user` invited (accepted or not), through
/// [`UsersContext::list_by`] on `invited_by_id`.
///
/// # Errors
/// [`PowError`] when the database fails.
pub async fn invited_users(config: &PowConfig, user: &User) -> Result<Vec<User>, PowError> {
    config
        .users()?
        .list_by(INVITED_BY_ID, Value::Int(user.id))
        .await
}

/// The user who invited `user`, if any (and still there).
///
/// # Errors
/// [`PowError`] when the database fails.
pub async fn invited_by(config: &PowConfig, user: &User) -> Result<Option<User>, PowError> {
    let Some(inviter_id) = user.get_int(INVITED_BY_ID) else {
        return Ok(None);
    };
    config.users()?.get(inviter_id).await
}

/// The invitations a user sent, for the data export and erasure: erasing the inviter
/// deletes the invitees who never accepted (accounts nobody can sign in to) and clears
/// `invited_by_id` on the others.
struct SentInvitations(Invitation);

#[async_trait::async_trait]
impl pow_core::extension::UserData for SentInvitations {
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        let invited = invited_users(config, user).await?;
        let now = Utc::now();
        let pending = invited.iter().filter(|u| self.0.is_pending(u, now)).count();
        Ok(serde_json::json!({
            "invited_by_id": user.get_int(INVITED_BY_ID),
            "invitations_sent": invited.len(),
            "invitations_pending": pending,
        }))
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        let users = config.users()?;
        for invitee in invited_users(config, user).await? {
            let never_accepted = invitee.get_timestamp(INVITATION_ACCEPTED_AT).is_none()
                && invitee.password_hash.is_none();
            if never_accepted {
                users.delete(&invitee).await?;
            } else {
                let mut changes = pow_core::users::Changes::new();
                changes.insert(INVITED_BY_ID.to_owned(), Value::Null);
                pow_core::admin::update_user(config, &invitee, changes).await?;
            }
        }
        Ok(())
    }
}

/// Marks accepted invitations: `invitation_accepted_at` = now on
/// [`ChangesetAction::CompleteSignUp`] changesets.
struct AcceptHook;

impl ChangesetHook for AcceptHook {
    fn changeset(&self, changeset: &mut Changeset, _schema: &UserSchema) {
        if changeset.action == ChangesetAction::CompleteSignUp {
            changeset.put_change(INVITATION_ACCEPTED_AT, Utc::now());
        }
    }
}

/// The pages the extension renders, registered in its `build` (restyle them with
/// custom [`Views`](pow_core::views::Views)).
pub const PAGES: [pow_core::views::PageId; 4] = [
    pow_core::views::PageId::new("invitation/new"),
    pow_core::views::PageId::new("invitation/edit"),
    pow_core::views::PageId::new("invitation/show"),
    pow_core::views::PageId::new("invitation/forbidden"),
];

impl Extension for Invitation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.pages(PAGES);
        ext.user_fields([
            FieldDef::new(INVITATION_TOKEN, FieldKind::Text)
                .unique()
                .not_exported(),
            FieldDef::new(INVITATION_SENT_AT, FieldKind::Timestamp),
            FieldDef::new(INVITATION_ACCEPTED_AT, FieldKind::Timestamp),
            FieldDef::new(INVITED_BY_ID, FieldKind::Int),
        ])
        .changeset_hook(AcceptHook)
        .migrations(MIGRATIONS)
        .user_data(SentInvitations(self.clone()))
        .mails([MAIL])
        .mail_links([LINK])
        .audit_events([events::SENT, events::ACCEPTED])
        .messages(FTL.iter().copied())
        .callbacks(flows::EndOnSignIn);
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        ext.api_document(pow_core::api::openapi_fragment(
            NAME,
            include_str!("../openapi.json"),
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn user(fields: &[(&str, Value)]) -> User {
        let now = Utc::now();
        User {
            id: 1,
            password_hash: None,
            inserted_at: now - chrono::Duration::days(30),
            updated_at: now,
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn every_language_has_every_english_key() {
        let keys = |src: &str| -> Vec<String> {
            src.lines()
                .filter(|l| l.starts_with("pow_invitation_"))
                .filter_map(|l| l.split_once(" =").map(|(k, _)| k.to_owned()))
                .collect()
        };
        let english = keys(FTL[0].1);
        assert_eq!(english.len(), 17);
        for (lang, src) in &FTL[1..] {
            assert_eq!(keys(src), english, "{lang}");
        }
    }

    #[test]
    fn messages_parse_in_the_config() {
        let config = PowConfig::builder("s".repeat(64))
            .base_url("http://localhost")
            .extension(Invitation::new())
            .build()
            .unwrap();
        for lang in ["en", "de", "fr"] {
            let lang = lang.parse().unwrap();
            assert!(config
                .messages()
                .message(&lang, "pow_invitation_invalid_invitation", &[])
                .is_some());
        }
        let en = "en".parse().unwrap();
        assert_eq!(
            config
                .messages()
                .message(&en, "pow_invitation_invitation_email_sent", &[])
                .as_deref(),
            Some("An e-mail with invitation link has been sent.")
        );
    }

    #[test]
    fn expiry_counts_from_sent_at_then_inserted_at() {
        let now = Utc::now();
        let ext = Invitation::new().token_ttl(Some(Duration::from_secs(3600)));
        let fresh = user(&[
            (INVITATION_TOKEN, Value::from("t")),
            (
                INVITATION_SENT_AT,
                Value::Timestamp(now - chrono::Duration::minutes(59)),
            ),
        ]);
        assert!(ext.is_pending(&fresh, now));
        let old = user(&[
            (INVITATION_TOKEN, Value::from("t")),
            (
                INVITATION_SENT_AT,
                Value::Timestamp(now - chrono::Duration::minutes(61)),
            ),
        ]);
        assert!(ext.is_expired(&old, now));
        assert!(!ext.is_pending(&old, now));
        // No sent_at: the row's age counts (30 days here).
        let legacy = user(&[(INVITATION_TOKEN, Value::from("t"))]);
        assert!(ext.is_expired(&legacy, now));
        // Without a lifetime, only acceptance ends an invitation.
        let forever = Invitation::new().token_ttl(None);
        assert!(forever.is_pending(&old, now));
        let accepted = user(&[
            (INVITATION_TOKEN, Value::from("t")),
            (INVITATION_ACCEPTED_AT, Value::Timestamp(now)),
        ]);
        assert!(!forever.is_pending(&accepted, now));
        assert!(!forever.is_pending(&user(&[]), now));
    }

    #[test]
    fn accept_hook_only_marks_acceptance() {
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let mut params = Params::new();
        params.insert("email".into(), "a@example.com".into());
        let mut create = Changeset::create(config.user_schema(), &params);
        AcceptHook.changeset(&mut create, config.user_schema());
        assert!(!create.changes.contains_key(INVITATION_ACCEPTED_AT));
        let invitee = user(&[(INVITATION_TOKEN, Value::from("t"))]);
        let mut accept = accept_changeset(&config, &invitee, &params);
        AcceptHook.changeset(&mut accept, config.user_schema());
        assert!(accept.changes.contains_key(INVITATION_ACCEPTED_AT));
    }

    #[test]
    fn invite_changeset_takes_the_user_id_only() {
        let config = PowConfig::builder("s".repeat(64))
            .base_url("http://localhost")
            .extension(Invitation::new())
            .build()
            .unwrap();
        let ext = Invitation::new().carry_fields(|inviter, cs| {
            cs.put_change("team", inviter.get_str("team").unwrap_or_default());
        });
        let mut inviter = user(&[("team", Value::from("blue"))]);
        inviter.id = 7;
        let mut params = Params::new();
        params.insert("email".into(), " Bob@Example.com ".into());
        params.insert("password".into(), "secret password".into());
        params.insert(INVITED_BY_ID.into(), "1".into());
        let (cs, signed) = ext.invite_changeset(&config, &inviter, &params);
        assert!(cs.is_valid(), "{:?}", cs.errors);
        assert_eq!(cs.action, ChangesetAction::Provision);
        assert_eq!(
            cs.changes.get("email"),
            Some(&Value::from("bob@example.com"))
        );
        assert_eq!(cs.changes.get(INVITED_BY_ID), Some(&Value::Int(7)));
        assert_eq!(cs.changes.get("team"), Some(&Value::from("blue")));
        assert!(cs.password.is_none());
        let token = cs
            .changes
            .get(INVITATION_TOKEN)
            .and_then(Value::as_str)
            .unwrap();
        // The row holds the keyed hash of the link's token, never the token.
        let raw = config
            .verifier()
            .verify_token(INVITATION_SALT, &signed)
            .unwrap();
        assert_ne!(token, raw);
        assert_eq!(token, config.verifier().token_digest(TOKEN_PURPOSE, &raw));

        params.insert("email".into(), "not an email".into());
        let (cs, _) = ext.invite_changeset(&config, &inviter, &params);
        assert!(cs.errors.has("email", "format"));
    }
}

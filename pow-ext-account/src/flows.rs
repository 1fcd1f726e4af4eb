//! The extension's engine side: its paths and actions, the account page's links, the
//! reactivation offered after a password sign-in (a callback), and the stored user.

use async_trait::async_trait;
use chrono::Utc;
use pow_core::flows::ClosedSignIn;
use pow_core::messages::LanguageIdentifier;
use pow_core::pipeline::{Client, Flow, Halt, Step};
use pow_core::users::User;
use pow_core::views::{Link, PageBody};
use pow_core::{PowConfig, PowError};

use crate::{Account, NAME};

/// The closing page, relative to the mount path.
pub(crate) const CLOSE_PATH: &str = "/account/close";
/// The page offering reactivation after a password sign-in.
pub(crate) const REACTIVATE_PATH: &str = "/account/reactivate";
/// The data export.
pub(crate) const EXPORT_PATH: &str = "/account/export";
/// Salt of the signed pending reactivation in the cookie session.
pub(crate) const PENDING_SALT: &str = "pow account pending reactivation";
/// How long a password sign-in may be followed by its reactivation.
pub(crate) const PENDING_TTL_MS: i64 = 10 * 60 * 1000;
/// The remember-me checkbox of `pow-ext-persistent-session`, carried through.
pub(crate) const PERSIST_FIELD: &str = "persistent_session";

/// The account controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_core::pipeline::{ActionId, ActionKind};

    /// `GET /account/close`: the closing page.
    pub const CLOSE_NEW: ActionId = ActionId::new("account_close", "new", ActionKind::Show);
    /// `POST /account/close`: close the signed-in account (sudo mode), or mail the
    /// confirmation to an account without a password.
    pub const CLOSE: ActionId = ActionId::new("account_close", "create", ActionKind::Other);
    /// `GET /account/close/{token}`: the mailed confirmation's page.
    pub const CLOSE_LINK_NEW: ActionId =
        ActionId::new("account_close_link", "new", ActionKind::Show);
    /// `POST /account/close/{token}`: close through the mailed confirmation.
    pub const CLOSE_LINK: ActionId =
        ActionId::new("account_close_link", "create", ActionKind::Other);
    /// `GET /account/reactivate`: reactivation offered after a password sign-in.
    pub const REACTIVATE_NEW: ActionId =
        ActionId::new("account_reactivate", "new", ActionKind::Show);
    /// `POST /account/reactivate`: reopen and sign in (a sign-in: a second factor applies).
    pub const REACTIVATE: ActionId =
        ActionId::new("account_reactivate", "create", ActionKind::SignIn);
    /// `GET /account/reactivate/{token}`: the mailed link's page.
    pub const REACTIVATE_LINK_NEW: ActionId =
        ActionId::new("account_reactivate_link", "new", ActionKind::Show);
    /// `POST /account/reactivate/{token}`: reopen through the mailed link (no sign-in).
    pub const REACTIVATE_LINK: ActionId =
        ActionId::new("account_reactivate_link", "create", ActionKind::Other);
    /// `GET /account/export`: download the data export (sudo mode).
    pub const EXPORT: ActionId = ActionId::new("account_export", "show", ActionKind::Show);
    /// `POST <api>/account/close` (JSON).
    pub const API_CLOSE: ActionId = ActionId::new("api_account_close", "create", ActionKind::Other);
    /// `POST <api>/account/close/{token}` (JSON): close through the mailed confirmation.
    pub const API_CLOSE_LINK: ActionId =
        ActionId::new("api_account_close_link", "create", ActionKind::Other);
    /// `POST <api>/account/reactivate` (JSON): checks a password like a sign-in (its
    /// rate limits and lock apply), without signing in.
    pub const API_REACTIVATE: ActionId =
        ActionId::new("api_account_reactivate", "create", ActionKind::SignIn);
    /// `GET <api>/account/export` (JSON).
    pub const API_EXPORT: ActionId = ActionId::new("api_account_export", "show", ActionKind::Show);
}

pub(crate) fn path(config: &PowConfig, pattern: &str, params: &[(&str, &str)]) -> String {
    pow_core::config::extension_path(config, NAME, pattern, params)
}

/// The links to the closing page and the export on the account page.
pub(crate) fn account_links(
    page: pow_core::views::PageId,
    body: &mut PageBody,
    lang: &LanguageIdentifier,
    config: &PowConfig,
) {
    if page != "registration/edit" {
        return;
    }
    if let PageBody::Form { links, .. } = body {
        let messages = config.messages();
        links.push(Link::new(
            path(config, EXPORT_PATH, &[]),
            messages.text(lang, "pow_account_link_export"),
        ));
        links.push(Link::new(
            path(config, CLOSE_PATH, &[]),
            messages.text(lang, "pow_account_link_close"),
        ));
    }
}

pub(crate) fn pending_key(config: &PowConfig) -> String {
    config.namespaced("pow_account_pending")
}

/// After a password sign-in of a closed account: the browser is offered reactivation.
#[async_trait]
impl pow_core::extension::Callbacks for Account {
    async fn before_respond(
        &self,
        step: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        if step.is_json() {
            return Ok(Flow::Continue);
        }
        let Some(ClosedSignIn(user)) = step.assigns.remove::<ClosedSignIn>() else {
            return Ok(Flow::Continue);
        };
        let persist = step
            .params
            .get(PERSIST_FIELD)
            .cloned()
            .unwrap_or_else(|| "true".to_owned());
        let payload = format!("{}.{}.{persist}", user.id, Utc::now().timestamp_millis());
        let signed = step.config.verifier().sign_token(PENDING_SALT, &payload);
        client.set_value(&pending_key(&step.config), &signed)?;
        client.discard_flash();
        let reactivate = path(&step.config, REACTIVATE_PATH, &[]);
        Ok(Flow::Halt(Halt::Redirect(reactivate)))
    }
}

/// The user `id` as stored (the session's copy lacks secret columns; the export reads
/// the row).
pub(crate) async fn stored(config: &PowConfig, id: i64) -> Result<User, PowError> {
    config
        .users()?
        .get(id)
        .await?
        .ok_or_else(|| PowError::Other("the signed-in user is gone".into()))
}

/// How a closed account proves it may reopen (see [`reopen`]).
pub(crate) enum Proof<'a> {
    /// A password sign-in in this browser just proved it: the pending reactivation the
    /// sign-in left in the client's cookie session, while fresh.
    Pending(&'a dyn Client),
    /// The closing mail's link.
    Link(&'a str),
    /// The account's user id and password (a JSON client's sign-in params).
    Password(pow_core::users::Params),
}

/// What [`reopen`] came to.
pub(crate) enum Reopened {
    /// The account is open again: the user as stored now.
    Done(User),
    /// The link or the pending reactivation stands for nothing (used, expired, forged).
    Unknown,
    /// A wrong user id or password, or an account that is not closed: answered alike, so
    /// that this does not tell without the sign-in's second factor whether a password is
    /// right.
    WrongPassword,
}

/// Reopens the closed account `proof` names, recording how (`sign_in` or `link`). Every
/// reopening runs this, pages and JSON alike; a page then signs the account in, as the
/// password sign-in it continues would have.
///
/// # Errors
/// The users context's or the store's error.
pub(crate) async fn reopen(
    config: &PowConfig,
    ext: &Account,
    proof: Proof<'_>,
) -> Result<Reopened, PowError> {
    let (user, by) = match proof {
        Proof::Pending(client) => match pending(config, client).await? {
            Some((user, _)) => (user, "sign_in"),
            None => return Ok(Reopened::Unknown),
        },
        Proof::Link(token) => match ext.find_by_link(config, token).await? {
            Some(user) => (user, "link"),
            None => return Ok(Reopened::Unknown),
        },
        Proof::Password(params) => match config.users()?.authenticate(params).await? {
            Some(user) if user.is_closed() => (user, "sign_in"),
            _ => return Ok(Reopened::WrongPassword),
        },
    };
    Ok(Reopened::Done(ext.reactivate(config, &user, by).await?))
}

/// The closed account a password sign-in in this browser just proved, while fresh, with
/// the remember-me choice of that sign-in.
///
/// # Errors
/// The users context's error.
pub(crate) async fn pending(
    config: &PowConfig,
    client: &dyn Client,
) -> Result<Option<(User, String)>, PowError> {
    let Some(signed) = client.value(&pending_key(config)) else {
        return Ok(None);
    };
    let Some((id, at, persist)) = crate::signed_parts(config, PENDING_SALT, &signed) else {
        return Ok(None);
    };
    if Utc::now().timestamp_millis().saturating_sub(at) > PENDING_TTL_MS {
        return Ok(None);
    }
    let user = config.users()?.get(id).await?;
    Ok(user.filter(User::is_closed).map(|user| (user, persist)))
}

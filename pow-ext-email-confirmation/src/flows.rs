//! The extension's flows, on the engine: confirming an address by its token, and what a
//! confirmation changes (sessions refreshed, the replaced address told). The page and the
//! JSON endpoint (both engine routes) run [`confirm_link`]; a CLI, a job or a test
//! runs it without HTTP. Here Ada's open session (a
//! [`StoreSession`](pow_core::session::StoreSession)) sees her address confirmed:
//!
//! ```
//! use pow_core::extension::ProvenBy;
//! use pow_core::mailer::MemoryMailer;
//! use pow_core::messages::LanguageIdentifier;
//! use pow_core::pipeline::Step;
//! use pow_core::request::RequestFacts;
//! use pow_core::session::{AuthMethod, CredentialsCache, SessionHandle, SessionMetadata, StoreSession};
//! use pow_core::users::diesel::DieselUsersContext;
//! use pow_core::PowConfig;
//! use pow_ext_email_confirmation::flows::{actions, confirm_link, Confirmation};
//! use pow_ext_email_confirmation::{is_confirmed, EmailConfirmation};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (users, mailer, confirmation) =
//!     (DieselUsersContext::connect(":memory:")?, MemoryMailer::new(), EmailConfirmation::new());
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .mailer(mailer.clone())
//!     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
//!     .extension(confirmation.clone())
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "a long passphrase")?;
//! let mut session = StoreSession::new();
//! let password = SessionMetadata::new().with_method(AuthMethod::PASSWORD);
//! session.start(&config, &ada, password).await?;
//!
//! let facts = RequestFacts::default();
//! assert!(confirmation.send_confirmation(&config, &facts, &ada).await?);
//! let mail = mailer.last_to("ada@example.com").expect("the confirmation link");
//! let url = mail.text.split_whitespace().find(|w| w.starts_with("https://")).unwrap();
//! let token = url.rsplit('/').next().unwrap();
//!
//! let lang: LanguageIdentifier = "en".parse()?;
//! let mut step = Step::new(&config, actions::SHOW, Default::default(), lang);
//! let confirmed = confirm_link(&mut step, &facts, &confirmation, token, ProvenBy::ConfirmationLink);
//! assert!(matches!(confirmed.await?, Confirmation::Confirmed { .. }));
//! // Her open session sees the confirmed address; the link works once.
//! let current = session.current().unwrap();
//! let (cached, _) = CredentialsCache::new(&config).get(&current.session_id).await?.unwrap();
//! assert!(is_confirmed(&cached));
//! let again = confirm_link(&mut step, &facts, &confirmation, token, ProvenBy::ConfirmationLink);
//! assert!(matches!(again.await?, Confirmation::Invalid));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use chrono::Utc;
use pow_core::extension::{AddressProven, ProvenBy};
use pow_core::pipeline::Step;
use pow_core::request::RequestSource;
use pow_core::session::CredentialsCache;
use pow_core::store::Claim;
use pow_core::token::secure_compare;
use pow_core::users::{User, UsersContext, WriteError};
use pow_core::{PowConfig, PowError};

use crate::schema::{confirm_changes, token_expired, EMAIL_FIELD, TOKEN_FIELD, TOKEN_PURPOSE};
use crate::{EmailConfirmation, NAME, TOKEN_SALT};

/// What a confirmation attempt came to.
#[derive(Debug)]
pub enum Confirmation {
    /// Bad signature, unknown or expired token.
    Invalid,
    /// The new address was taken by another account in the meantime.
    Taken,
    /// Confirmed: the user as stored now, the address it replaced (if it changed), and
    /// whether the account's address was proven for the first time.
    Confirmed {
        /// The user as stored now.
        user: User,
        /// The address the confirmed one replaced, if it changed.
        replaced: Option<String>,
        /// Whether the account's address was proven for the first time.
        first: bool,
    },
}

/// Confirms the address of a mailed link's signed `token`, once: the signature is checked
/// before any lookup. A confirmation tells the replaced address (if any), is audited, and
/// shows in the user's open sessions (none is made fresh: the link proves the mailbox, not
/// the password); `step` gets the user and the [`AddressProven`] (`by` what) that the
/// callbacks see. The flow of the confirmation page and of its JSON endpoint.
///
/// # Errors
/// The store's or users context's error.
pub async fn confirm_link(
    step: &mut Step,
    source: &dyn RequestSource,
    ext: &EmailConfirmation,
    token: &str,
    by: ProvenBy,
) -> Result<Confirmation, PowError> {
    let config = step.config.clone();
    let outcome = match config.verifier().verify_token(TOKEN_SALT, token) {
        None => Confirmation::Invalid,
        Some(token) => confirm(&config, token, ext.ttl()).await?,
    };
    if let Confirmation::Confirmed {
        user,
        replaced,
        first,
    } = &outcome
    {
        step.assigns.insert(AddressProven {
            user_id: user.id,
            first: *first,
            by,
        });
        notify_replaced(source, &config, &step.lang, user, replaced.clone()).await;
        pow_core::audit::record(
            &config,
            pow_core::audit::AuditEvent::new(crate::events::CONFIRMED)
                .request(&config, source)
                .user(user.id),
        );
        refresh_sessions(&config, user).await?;
        step.user = Some(user.clone());
    }
    Ok(outcome)
}

/// The email-confirmation controller's actions, as extension callbacks see them.
pub mod actions {
    use pow_core::pipeline::{ActionId, ActionKind};

    /// `GET /confirm-email/{token}`: confirm the address the token was issued for.
    pub const SHOW: ActionId = ActionId::new("confirmation", "show", ActionKind::Other);
    /// `GET <api prefix>/confirm-email`: the signed-in user's confirmation state (JSON).
    pub const API_SHOW: ActionId = ActionId::new("api_confirmation", "show", ActionKind::Show);
    /// `POST <api prefix>/confirm-email`: mail the link again (JSON).
    pub const API_RESEND: ActionId = ActionId::new("api_confirmation", "resend", ActionKind::Other);
    /// `POST <api prefix>/confirm-email/{token}`: confirm an address (JSON).
    pub const API_CONFIRM: ActionId =
        ActionId::new("api_confirmation", "confirm", ActionKind::Other);
    /// `POST <api prefix>/confirm-email/cancel/{token}`: drop a pending address change
    /// with the notice's token (JSON).
    pub const API_CANCEL: ActionId =
        ActionId::new("api_confirmation_cancel", "delete", ActionKind::Other);
}

/// The right to act on `user_id`'s pending confirmation (confirm it, cancel it): of
/// racing requests one acts, the others find the token used.
pub(crate) fn pending_claim(config: &PowConfig, user_id: i64) -> Claim {
    Claim::new(config, NAME, ["pending".to_owned(), user_id.to_string()])
}

/// Looks the (verified) token up and confirms its user, once: the token is matched by
/// its keyed hash (or as a raw UUID, in rows written by Pow), then, under the user's
/// [`pending_claim`], read again and cleared with the confirmation.
pub(crate) async fn confirm(
    config: &PowConfig,
    token: String,
    ttl: Option<std::time::Duration>,
) -> Result<Confirmation, PowError> {
    let users = config.users()?;
    let found = users
        .get_by_column_token(TOKEN_FIELD, TOKEN_PURPOSE, &token)
        .await?;
    let Some(found) = found else {
        return Ok(Confirmation::Invalid);
    };
    let claim = pending_claim(config, found.id);
    if !claim.take().await? {
        return Ok(Confirmation::Invalid);
    }
    let result = users
        .run(move |users, cfg| confirm_found(users, cfg, &found, ttl))
        .await;
    claim.release().await?;
    result
}

/// Confirms `found` if its row still holds the token it was found by. Blocking.
fn confirm_found(
    users: &dyn UsersContext,
    config: &PowConfig,
    found: &User,
    ttl: Option<std::time::Duration>,
) -> Result<Confirmation, PowError> {
    // Read again under the claim: a confirmation, a cancel or a newer mail since the
    // lookup replaced the token, and the link no longer works.
    // A closed account's links find nothing: closing ends every way in.
    let Some(user) = users
        .get(config.user_schema(), found.id)?
        .filter(|user| !user.is_closed())
    else {
        return Ok(Confirmation::Invalid);
    };
    let (Some(stored), Some(matched)) = (user.get_str(TOKEN_FIELD), found.get_str(TOKEN_FIELD))
    else {
        return Ok(Confirmation::Invalid);
    };
    let now = Utc::now();
    if !secure_compare(stored.as_bytes(), matched.as_bytes()) || token_expired(&user, ttl, now) {
        return Ok(Confirmation::Invalid);
    }
    let before = user.get_str(EMAIL_FIELD).map(str::to_owned);
    let first = crate::schema::is_unconfirmed(&user);
    match users.update_fields(config.user_schema(), &user, &confirm_changes(&user, now)) {
        Ok(user) => {
            let replaced = before.filter(|old| user.get_str(EMAIL_FIELD) != Some(old.as_str()));
            Ok(Confirmation::Confirmed {
                user,
                replaced,
                first,
            })
        }
        Err(WriteError::Unique(field)) if field == EMAIL_FIELD => Ok(Confirmation::Taken),
        Err(WriteError::Other(err)) => Err(err),
        Err(err) => Err(PowError::Database(err.to_string())),
    }
}

/// Updates the user cached for the user's other sessions, so they see the confirmation.
pub(crate) async fn refresh_sessions(config: &PowConfig, user: &User) -> Result<(), PowError> {
    let credentials = CredentialsCache::new(config);
    if !credentials.sessions(user.id).await?.is_empty() {
        credentials.update_user(user).await?;
    }
    Ok(())
}

/// Mails the address a confirmation replaced the "email changed" notice.
pub(crate) async fn notify_replaced(
    req: &dyn pow_core::request::RequestSource,
    config: &PowConfig,
    lang: &pow_core::messages::LanguageIdentifier,
    user: &User,
    replaced: Option<String>,
) {
    let (Some(old), Some(new_email)) = (replaced, user.get_str(EMAIL_FIELD)) else {
        return;
    };
    let notice = pow_core::mailer::Notice::EmailChanged { new_email };
    pow_core::mailer::send_notice(config, req, lang, &old, notice).await;
}

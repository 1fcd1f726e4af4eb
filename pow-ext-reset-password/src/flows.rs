//! The work behind both front ends (HTML pages and JSON endpoints): asking for a link and
//! setting the new password. A CLI, a job or a test runs them without HTTP; here a reset
//! ends the session Ada had open on a [`StoreSession`](pow_core::session::StoreSession):
//!
//! ```
//! use pow_core::mailer::MemoryMailer;
//! use pow_core::messages::LanguageIdentifier;
//! use pow_core::request::RequestFacts;
//! use pow_core::session::{user_sessions, AuthMethod, SessionHandle, SessionMetadata, StoreSession};
//! use pow_core::users::diesel::DieselUsersContext;
//! use pow_core::users::Params;
//! use pow_core::PowConfig;
//! use pow_ext_reset_password::flows::{request_link, reset_with_token, Requested, Reset};
//! use pow_ext_reset_password::{MailDelivery, ResetPassword};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (users, mailer) = (DieselUsersContext::connect(":memory:")?, MemoryMailer::new());
//! // The mail goes out before the flow returns (by default a task of its own sends it).
//! let reset = ResetPassword::new().mail_delivery(MailDelivery::Inline);
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .mailer(mailer.clone())
//!     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
//!     .extension(reset.clone())
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "a long passphrase")?;
//! let mut session = StoreSession::new();
//! let password = SessionMetadata::new().with_method(AuthMethod::PASSWORD);
//! session.start(&config, &ada, password).await?;
//! let (facts, lang) = (RequestFacts::default(), "en".parse::<LanguageIdentifier>()?);
//!
//! let link = |signed: &str| format!("https://example.com/reset-password/{signed}");
//! let asked = request_link(&facts, &config, &reset, &lang, "ada@example.com", link).await?;
//! assert_eq!(asked, Requested::Known);
//! let mail = mailer.last_to("ada@example.com").expect("the reset link");
//! let url = mail.text.split_whitespace().find(|w| w.starts_with("https://")).unwrap();
//! let token = url.rsplit('/').next().unwrap();
//!
//! let params = Params::from([
//!     ("password".into(), "a new long passphrase".into()),
//!     ("password_confirmation".into(), "a new long passphrase".into()),
//! ]);
//! let done = reset_with_token((&config, &facts, &lang), &reset, token, &params).await?;
//! assert!(matches!(done, Some(Reset::Done(_))));
//! // The reset signed Ada out everywhere, and the link works once.
//! assert!(user_sessions(&config, ada.id).await?.is_empty());
//! assert!(reset_with_token((&config, &facts, &lang), &reset, token, &params).await?.is_none());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use pow_core::messages::LanguageIdentifier;
use pow_core::request::RequestSource;
use pow_core::store::Limiter;
use pow_core::token::generate_uuid;
use pow_core::users::validation::normalize_user_id;
use pow_core::users::{Changeset, ChangesetAction, Params, User, Value};
use pow_core::{PowConfig, PowError};

use crate::tokens::{Loaded, ResetTokens};
use crate::{mail, ResetPassword, RATE_LIMIT_RULE};

/// Whether an account had the address a link was asked for. Front ends answer both alike
/// unless user enumeration protection is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    /// An account has the address (a mail went out unless its rate limit was reached).
    Known,
    /// No account has the address; nothing was sent.
    Unknown,
}

/// The password-reset changeset: a new password with confirmation; nothing else changes.
/// Hashing the password runs the hasher: call it off the async executor.
pub(crate) fn reset_changeset(config: &PowConfig, user: &User, params: &Params) -> Changeset {
    let mut cs = Changeset::new(
        ChangesetAction::SetPassword,
        Some(user.clone()),
        params.clone(),
    );
    cs.validate_password(config.user_schema(), true);
    cs.run_hooks(config.user_schema());
    cs
}

/// Asks for a reset link for `raw_email` (normalised here). The same work is done for
/// every address, known or not: a token, the rate limit count, a lookup and a store
/// write. Only the mail differs. `link` turns the signed token into the mailed URL.
///
/// # Errors
/// A rate limit's refusal, the store's, the users context's or the mailer's error.
pub async fn request_link(
    req: &dyn RequestSource,
    config: &PowConfig,
    ext: &ResetPassword,
    lang: &LanguageIdentifier,
    raw_email: &str,
    link: impl FnOnce(&str) -> String,
) -> Result<Requested, PowError> {
    pow_core::limits::hit_mail_request(config, req).await?;
    let email = normalize_user_id(raw_email);
    pow_core::audit::record(
        config,
        pow_core::audit::AuditEvent::new(crate::events::REQUESTED)
            .request(config, req)
            .identifier(config, &email),
    );
    let token = generate_uuid();
    let allowed = match ext.rate_limit() {
        Some(limit) => {
            Limiter::new(config, RATE_LIMIT_RULE)
                .hit(limit, &email)
                .await?
        }
        None => true,
    };
    let users = config.users()?;
    let user = users.get_by("email", Value::Text(email.clone())).await?;
    let tokens = ResetTokens::new(config, ext.ttl());

    match user {
        Some(user) if allowed => {
            let signed = tokens.issue(config, &user, &token).await?;
            let to = user.email().unwrap_or(&email).to_owned();
            mail::send(
                ext.delivery(),
                config,
                lang.clone(),
                to,
                link(&signed),
                ext.ttl(),
            )
            .await?;
            Ok(Requested::Known)
        }
        user => {
            tokens.decoy(config, &token).await?;
            if !allowed {
                let peer = req.facts().client_ip;
                tracing::warn!(
                    peer = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
                    "password reset mail not sent: the rate limit for this address is reached"
                );
            }
            Ok(match user {
                Some(_) => Requested::Known,
                None => Requested::Unknown,
            })
        }
    }
}

/// What setting the new password came to.
#[derive(Debug)]
pub enum Reset {
    /// The params are invalid (e.g. the confirmation does not match); the token stays
    /// valid.
    Invalid(Changeset),
    /// Another request used the token first.
    TokenGone,
    /// The password is saved and the token used up; the user as stored now.
    Done(User),
}

/// The user of the signed `token` of a mailed link, while it works (the signature first,
/// then the store, then the user and the account's stamp); `None` for a token that is
/// forged, unknown, used or expired.
///
/// # Errors
/// The store's or users context's error.
pub(crate) async fn check_token(
    config: &PowConfig,
    ext: &ResetPassword,
    token: &str,
) -> Result<Option<Loaded>, PowError> {
    ResetTokens::new(config, ext.ttl())
        .load(config, token)
        .await
}

/// Checks the signed `token` of a mailed link and, when it holds, sets its user's password
/// from `params` ([`Reset`]); `None` for a token that is forged, unknown, used or expired.
///
/// # Errors
/// The store's or users context's error.
pub async fn reset_with_token(
    (config, req, lang): (&PowConfig, &dyn RequestSource, &LanguageIdentifier),
    ext: &ResetPassword,
    token: &str,
    params: &Params,
) -> Result<Option<Reset>, PowError> {
    let Some(loaded) = check_token(config, ext, token).await? else {
        return Ok(None);
    };
    reset((config, req, lang), ext, loaded, params)
        .await
        .map(Some)
}

/// Sets the password of a checked token's user from `params` (`password`,
/// `password_confirmation`). The token is used up only by a successful reset (of two
/// concurrent ones, one wins); afterwards the user's sessions, API tokens and
/// remember-me tokens are revoked when the extension says so.
pub(crate) async fn reset(
    (config, req, lang): (&PowConfig, &dyn RequestSource, &LanguageIdentifier),
    ext: &ResetPassword,
    loaded: Loaded,
    params: &Params,
) -> Result<Reset, PowError> {
    let user = loaded.user.clone();
    let tokens = ResetTokens::new(config, ext.ttl());

    // Validate first: an invalid submit keeps the token.
    let users = config.users()?;
    let params = params.clone();
    let changeset = users
        .run(move |_, cfg| Ok(reset_changeset(cfg, &user, &params)))
        .await?;
    if !changeset.is_valid() {
        return Ok(Reset::Invalid(changeset));
    }

    // Single use: of two concurrent submits, only the one that takes the token goes on.
    if !tokens.consume(config, &loaded).await? {
        return Ok(Reset::TokenGone);
    }
    let updated = match users.apply(changeset).await {
        Ok(Ok(updated)) => updated,
        Ok(Err(changeset)) => {
            tokens.restore(&loaded).await;
            return Ok(Reset::Invalid(changeset));
        }
        Err(err) => {
            tokens.restore(&loaded).await;
            return Err(err);
        }
    };

    // Proving control of the mailbox lifts a sign-in lock.
    pow_core::limits::unlock_account(config, &updated).await?;
    pow_core::audit::record(
        config,
        pow_core::audit::AuditEvent::new(crate::events::COMPLETED).user(updated.id),
    );
    pow_core::audit::record(
        config,
        pow_core::audit::AuditEvent::new(pow_core::audit::PASSWORD_CHANGED)
            .user(updated.id)
            .detail("by", "reset"),
    );
    if ext.revokes_sessions() {
        let revoked = pow_core::session::revoke_user(config, &updated).await?;
        tracing::info!(
            user.id = updated.id,
            sessions = revoked,
            "password reset: revoked the user's sessions"
        );
    }
    let to = updated.email().unwrap_or_default().to_owned();
    pow_core::mailer::send_notice(
        config,
        req,
        lang,
        &to,
        pow_core::mailer::Notice::PasswordChanged,
    )
    .await;
    Ok(Reset::Done(updated))
}

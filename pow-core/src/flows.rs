//! The core's flows as plain async functions: sign up, sign in, sign out, change and
//! delete the account.
//!
//! A flow takes the config, what the client sent (params), the request's facts through a
//! [`RequestSource`] and the client's [`SessionHandle`], and returns a typed outcome. It
//! knows nothing of HTTP: the HTML controllers render an outcome as a page or redirect
//! (handing over pow-actix's `CookieSessionHandle`), the JSON
//! endpoints as JSON ([`ApiCall`](crate::framework::api::ApiCall) issues token pairs),
//! and a CLI, a job or a test runs the same flow with a
//! [`StoreSession`](crate::session::StoreSession) and a
//! [`RequestFacts`](crate::request::RequestFacts) filled by hand.
//!
//! The action pipeline's rate limits, CSRF check and extension callbacks stay around the
//! flow in the actix layer (pow-actix's `Action`): a flow run without HTTP is
//! trusted code, as the CLI is.
//!
//! A flow's future is `Send` (the session handle, the request's facts and every hook it
//! runs are): it runs on a multi-threaded executor, in an axum handler or a spawned task,
//! as below.
//!
//! ```
//! use pow_core::flows::{self, SignIn, SignUp};
//! use pow_core::request::RequestFacts;
//! use pow_core::session::StoreSession;
//! use pow_core::users::{diesel::DieselUsersContext, Params};
//! use pow_core::PowConfig;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let users = DieselUsersContext::connect(":memory:")?;
//! let config = PowConfig::builder("s".repeat(64))
//!     .users(users.clone())
//!     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
//!     .build()?;
//! users.migrate(&config)?;
//! let params = Params::from([
//!     ("email".to_owned(), "ada@example.com".to_owned()),
//!     ("password".to_owned(), "correct horse battery".to_owned()),
//!     ("password_confirmation".to_owned(), "correct horse battery".to_owned()),
//! ]);
//! let mut session = StoreSession::new();
//! let SignUp::SignedUp(user) = flows::sign_up(&config, params.clone(), &mut session).await? else {
//!     panic!("the sign-up was refused");
//! };
//! flows::sign_out(&config, &mut session).await?;
//!
//! // On another worker thread: the flow's future is `Send`.
//! let outcome = tokio::spawn(async move {
//!     let facts = RequestFacts::default();
//!     flows::sign_in(&config, &facts, params, &mut session).await
//! })
//! .await??;
//! assert!(matches!(outcome, SignIn::SignedIn(signed_in) if signed_in.id == user.id));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use crate::config::PowConfig;
use crate::error::PowError;
use crate::mailer::{send_notice, Notice};
use crate::messages::request_language;
use crate::request::RequestSource;
use crate::session::{revoke_user, AuthMethod, SessionHandle, SessionMetadata};
use crate::users::{Changeset, Params, User};

/// What a sign-in came to.
#[derive(Clone, Debug, PartialEq)]
pub enum SignIn {
    /// The user id and password matched: the client is signed in as this user.
    SignedIn(User),
    /// The password was right, but an admin disabled the account: nobody is signed in.
    Disabled,
    /// The password was right, but the user closed the account: nobody is signed in. The
    /// account extension offers reactivation (see [`ClosedSignIn`]).
    Closed(User),
    /// Unknown user id, wrong password, or a password changed while this sign-in was
    /// checked: nobody is signed in. Say nothing more to the client.
    InvalidCredentials,
}

/// Left in the controller's [`Assigns`](crate::pipeline::Assigns) by a browser sign-in whose
/// password was right for a closed account ([`SignIn::Closed`]): nobody is signed in, and
/// an extension's callback may offer reactivation to the user it names.
#[derive(Clone, Debug)]
pub struct ClosedSignIn(pub User);

/// What a sign-up came to.
#[derive(Clone, Debug)]
pub enum SignUp {
    /// The user was created and the client is signed in as them.
    SignedUp(User),
    /// The params were refused: the changeset carries the errors (a taken user id
    /// among them, which a renderer may hide to prevent user enumeration).
    Invalid(Changeset),
}

/// What an account change came to.
#[derive(Clone, Debug)]
pub enum AccountUpdate {
    /// The account was changed; the client holds a new session as the updated user.
    Updated {
        /// The user as stored now.
        user: User,
        /// The password changed: every other session and remembered sign-in ended, and
        /// the owner was sent a notice.
        password_changed: bool,
        /// The user id (email) changed: the old address was sent a notice.
        email_changed: bool,
    },
    /// The params were refused (a wrong current password among them).
    Invalid(Changeset),
}

/// Signs a client in with a user id and password (`params` as a form or JSON body sends
/// them).
///
/// A matching password starts a new session through `session`. When the stored password
/// changed while this one was checked (a reset or change racing the sign-in), the new
/// session is ended again and the answer is [`SignIn::InvalidCredentials`]: a revocation
/// that ran before the session was stored would otherwise miss it.
///
/// # Errors
/// The users context's or the store's error, or `session`'s refusal to start.
pub async fn sign_in<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    req: &dyn RequestSource,
    params: Params,
    session: &mut H,
) -> Result<SignIn, H::Error> {
    let users = config.users()?;
    let Some(user) = users.authenticate(params).await? else {
        return Ok(SignIn::InvalidCredentials);
    };
    if user.is_disabled() {
        return Ok(SignIn::Disabled);
    }
    if user.is_closed() {
        return Ok(SignIn::Closed(user));
    }
    let metadata = SessionMetadata {
        device: Some(crate::session::device_of(req)),
        ..SessionMetadata::new().with_method(AuthMethod::PASSWORD)
    };
    session.start(config, &user, metadata).await?;
    let stored = users.get(user.id).await?;
    if stored.map(|u| u.password_hash) != Some(user.password_hash.clone()) {
        session.end(config).await?;
        return Ok(SignIn::InvalidCredentials);
    }
    Ok(SignIn::SignedIn(user))
}

/// Checks that the signed-in `user` knows their password (sudo mode's confirmation, a
/// re-authentication): the user as stored when it is right, `None` when it is wrong. The
/// identifier is the user's own, whatever a form says; the check costs what a sign-in
/// costs.
///
/// # Errors
/// [`PowError::Config`] for a user without an identifier; the users context's error.
pub async fn reauthenticate(
    config: &PowConfig,
    user: &User,
    password: &str,
) -> Result<Option<User>, PowError> {
    let field = config.user_id_field().to_owned();
    let Some(identifier) = user.get_str(&field).map(str::to_owned) else {
        return Err(PowError::Config(format!(
            "the signed-in user has no `{field}` to confirm the password with"
        )));
    };
    let mut params = Params::new();
    params.insert(field, identifier);
    params.insert("password".to_owned(), password.to_owned());
    let proved = config.users()?.authenticate(params).await?;
    Ok(proved.filter(|proved| proved.id == user.id))
}

/// Creates a user from `params` and signs the client in as them.
///
/// # Errors
/// The users context's or the store's error, or `session`'s refusal to start.
pub async fn sign_up<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    params: Params,
    session: &mut H,
) -> Result<SignUp, H::Error> {
    match config.users()?.create(params).await? {
        Ok(user) => {
            start_signed_up(config, &user, session).await?;
            Ok(SignUp::SignedUp(user))
        }
        Err(changeset) => Ok(SignUp::Invalid(changeset)),
    }
}

/// Signs the client in as `user`, who just signed up (a sign-up form, an accepted
/// invitation): the password they chose is as fresh as a password sign-in.
///
/// # Errors
/// The store's error, or `session`'s refusal to start.
pub async fn start_signed_up<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    user: &User,
    session: &mut H,
) -> Result<(), H::Error> {
    let mut metadata = SessionMetadata::new();
    if user.password_hash.is_some() {
        metadata.record_method(AuthMethod::PASSWORD);
    }
    session.start(config, user, metadata).await
}

/// Signs the client out: its session ends.
///
/// # Errors
/// The store's error.
pub async fn sign_out<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    session: &mut H,
) -> Result<(), H::Error> {
    session.end(config).await
}

/// Changes the account of `current` with `params` (checked against the stored row, not
/// a cached copy: the current password is the one stored now).
///
/// A new password ends every session and remembered sign-in of the user and mails the
/// owner a notice; a new address mails the old one a notice. Either way the client gets
/// a new session as the updated user.
///
/// # Errors
/// The users context's or the store's error, or `session`'s refusal to start.
pub async fn update_account<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    req: &dyn RequestSource,
    current: &User,
    params: Params,
    session: &mut H,
) -> Result<AccountUpdate, H::Error> {
    let loaded = current.clone();
    let (old_hash, result) = config
        .users()?
        .run(move |users, cfg| {
            let fresh = users.get(cfg.user_schema(), loaded.id)?.unwrap_or(loaded);
            let old_hash = fresh.password_hash.clone();
            Ok((old_hash, users.update(cfg.user_schema(), &fresh, &params)?))
        })
        .await?;
    let updated = match result {
        Ok(updated) => updated,
        Err(changeset) => return Ok(AccountUpdate::Invalid(changeset)),
    };
    let lang = request_language(req, config.messages());
    let old_email = current.email().unwrap_or_default();
    let new_email = updated.email().unwrap_or_default();
    let password_changed = updated.password_hash != old_hash;
    let email_changed = new_email != old_email;
    if password_changed {
        revoke_user(config, &updated).await?;
        send_notice(config, req, &lang, new_email, Notice::PasswordChanged).await;
    }
    if email_changed {
        // To the old address: its owner learns of it, whoever changed it.
        let notice = Notice::EmailChanged { new_email };
        send_notice(config, req, &lang, old_email, notice).await;
    }
    // The new session keeps what the client proved before (a second factor), and the
    // current password it just gave (a user without one gave none).
    let proved = session
        .current()
        .map(|current| current.metadata.methods.clone())
        .unwrap_or_default();
    let mut metadata = SessionMetadata::new().with_methods(proved);
    if old_hash.is_some() {
        metadata.record_method(AuthMethod::PASSWORD);
    }
    session.start(config, &updated, metadata).await?;
    Ok(AccountUpdate::Updated {
        user: updated,
        password_changed,
        email_changed,
    })
}

/// What deleting an account came to.
#[derive(Debug)]
pub enum AccountDeletion {
    /// The row is gone, the client is signed out and every credential of the user ended.
    Deleted,
    /// The users context could not delete the row (a foreign key of the app's, say). The
    /// account's credentials and extension data are gone already and its password is
    /// cleared, so what is left of it cannot sign in; the client is signed out.
    NotDeleted(PowError),
}

/// Deletes the account of `user` in the order every path that ends an account takes
/// (erasure's): every credential ends (sessions, token pairs, API keys and the other
/// things extensions revoke, found while the row still exists), each extension erases its
/// data (organizations pass ownership on, so no organization is left without an owner),
/// the devices are forgotten, the row goes, and the client's session ends. The audit
/// events stay (erasure anonymises them).
///
/// # Errors
/// The store's error, an extension's, or a missing users context.
pub async fn delete_account<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    user: &User,
    session: &mut H,
) -> Result<AccountDeletion, H::Error> {
    let users = config.users()?;
    crate::admin::end_account_data(config, user).await?;
    let deleted = users.delete(user).await;
    if let Err(err) = &deleted {
        // What is left of the row must not sign in with less than it had (its second
        // factors and linked accounts are gone): its password goes too.
        let mut changes = crate::users::Changes::new();
        changes.insert("password_hash".to_owned(), crate::users::Value::Null);
        if let Err(cleared) = users.update_fields(user, changes).await {
            tracing::error!(error = %cleared, "clearing the password of an account whose row could not be deleted failed");
        }
        tracing::error!(error = %err, user = user.id, "the account's row could not be deleted; its credentials and extension data are gone");
    }
    session.end(config).await?;
    crate::admin::forget_ended_account(config, user).await?;
    Ok(match deleted {
        Ok(()) => AccountDeletion::Deleted,
        Err(err) => AccountDeletion::NotDeleted(err),
    })
}

/// Whether a refused sign-up was refused only because the user id is taken: the case a
/// renderer hides when [`PowConfig::prevent_user_enumeration`] is on.
pub fn only_taken(config: &PowConfig, changeset: &Changeset) -> bool {
    let field = config.user_id_field();
    changeset.errors.0.len() == 1
        && changeset.errors.get(field).len() == 1
        && changeset.errors.has(field, "taken")
}

/// The user `id` as stored now, with the columns a session's copy leaves out (hashes,
/// second-factor secrets); `None` once it is gone. What a controller reads before a change
/// that depends on them, through this flow rather than the users context.
///
/// # Errors
/// The users context's error.
pub async fn stored_user(config: &PowConfig, id: i64) -> Result<Option<User>, PowError> {
    config.users()?.get(id).await
}

/// Creates a user without a password from `params` (the address, the name), as an
/// identity provider's first sign-in does. `vouched`: the provider vouches for the
/// address, so it is provisioned and, when an extension proves addresses, marked proven;
/// otherwise it is signed up as by the sign-up form (email confirmation, when enabled,
/// gives it a token and mails the link). The refused changeset comes back as `Err`
/// (`email` `taken`, a missing field).
///
/// # Errors
/// The users context's error.
pub async fn provision_user(
    config: &PowConfig,
    params: Params,
    vouched: bool,
) -> Result<Result<User, Changeset>, PowError> {
    use crate::users::ChangesetAction;
    let action = if vouched {
        ChangesetAction::Provision
    } else {
        ChangesetAction::Create
    };
    let created = config
        .users()?
        .run(move |users, cfg| {
            let mut cs = Changeset::new(action, None, params);
            cs.cast_user_id(cfg.user_schema());
            cs.cast_fields(cfg.user_schema());
            cs.run_hooks(cfg.user_schema());
            users.apply(cfg.user_schema(), cs)
        })
        .await?;
    let user = match created {
        Ok(user) => user,
        Err(cs) => return Ok(Err(cs)),
    };
    let Some(proof) = config.extensions().address_proof().cloned() else {
        return Ok(Ok(user));
    };
    if !vouched {
        return Ok(Ok(user));
    }
    let proven = config
        .users()?
        .run(move |users, cfg| proof.mark_proven(users, cfg, &user))
        .await?;
    Ok(Ok(proven))
}

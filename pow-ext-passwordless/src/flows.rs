//! The work behind both front ends: asking for a link or code, and using one. The pages
//! and the JSON endpoints run these flows; a CLI, a job or a test runs
//! them without HTTP, here a mailed link signing its user in on a
//! [`StoreSession`](pow_core::session::StoreSession):
//!
//! ```
//! use pow_core::mailer::MemoryMailer;
//! use pow_core::messages::LanguageIdentifier;
//! use pow_core::request::RequestFacts;
//! use pow_core::session::{SessionHandle, StoreSession};
//! use pow_core::users::diesel::DieselUsersContext;
//! use pow_core::PowConfig;
//! use pow_ext_passwordless::{flows, Passwordless};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (users, mailer, passwordless) =
//!     (DieselUsersContext::connect(":memory:")?, MemoryMailer::new(), Passwordless::new());
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .mailer(mailer.clone())
//!     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
//!     .extension(passwordless.clone())
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "a long passphrase")?;
//! let (facts, lang) = (RequestFacts::default(), "en".parse::<LanguageIdentifier>()?);
//!
//! flows::request_link(&config, &facts, &passwordless, &lang, "ada@example.com").await?;
//! let mail = mailer.last_to("ada@example.com").expect("the sign-in link");
//! let link = mail.text.split_whitespace().find(|w| w.starts_with("https://")).unwrap();
//! let token = link.rsplit('/').next().unwrap();
//!
//! let mut session = StoreSession::new();
//! let signed_in = flows::sign_in_with_link(&config, &facts, &passwordless, token, &mut session);
//! assert_eq!(signed_in.await?.map(|user| user.id), Some(ada.id));
//! assert_eq!(session.current().map(|s| s.user.id), Some(ada.id));
//! // A link works once.
//! let mut again = StoreSession::new();
//! assert!(flows::sign_in_with_link(&config, &facts, &passwordless, token, &mut again).await?.is_none());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;

use pow_core::mailer::{compose, validity_text, MailContent};
use pow_core::messages::LanguageIdentifier;
use pow_core::request::RequestSource;
use pow_core::session::{AuthMethod, SessionHandle, SessionMetadata};
use pow_core::store::Limiter;
use pow_core::token::{generate_uuid, secure_compare};
use pow_core::users::validation::{normalize_user_id, validate_deliverable_email};
use pow_core::users::{Changeset, ChangesetAction, Params, User};
use pow_core::{PowConfig, PowError};
use rand::Rng as _;

pub(crate) use crate::store::Grant;
use crate::store::{Purpose, Records};
use crate::{Passwordless, MAIL_CODE, MAIL_LINK};

/// Salt of the signed code id a browser or API client holds.
pub(crate) const CODE_SALT: &str = "pow passwordless code";
/// Session metadata key naming how a session was signed in.
pub const METHOD_KEY: &str = "auth_method";

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Link,
    Code,
}

pub(crate) fn audit_event(name: &'static str) -> pow_core::audit::AuditEvent {
    pow_core::audit::AuditEvent::new(pow_core::audit::EventName::new(name))
}

/// Asks for a link or code for `raw_email`. The same work is done for every address,
/// known or not, allowed by the limits or not: a lookup, the counts, a store write. Only
/// whether a mail goes out differs, and nothing usable is made without a mail: an address
/// that gets no mail gets no link, and its code record holds no code (the asker gets a
/// code id all the same, for which every code is wrong).
/// For codes, returns the signed code id the asker must hold. `staged` asks for a staged
/// sign-up (an existing account gets a sign-in link instead); `link` makes the mailed URL
/// of a token and purpose.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn request(
    req: &dyn RequestSource,
    config: &PowConfig,
    ext: &Passwordless,
    lang: &LanguageIdentifier,
    raw_email: &str,
    via: Via,
    staged: Option<Params>,
    link: impl FnOnce(&str, Purpose) -> String,
) -> Result<Option<String>, PowError> {
    pow_core::limits::hit_mail_request(config, req).await?;
    let email = normalize_user_id(raw_email);
    pow_core::audit::record(
        config,
        audit_event("passwordless.requested")
            .request(config, req)
            .identifier(config, &email)
            .detail("via", if via == Via::Link { "link" } else { "code" }),
    );
    let allowed = match ext.mail_limit {
        Some(limit) => {
            Limiter::new(config, "passwordless_mail")
                .hit(limit, &email)
                .await?
        }
        None => true,
    };
    let user = config.users()?.get_by("email", email.as_str()).await?;
    let purpose = match (&user, &staged) {
        (Some(_), _) => Some(Purpose::SignIn),
        (None, Some(_)) => Some(Purpose::Staged),
        (None, None) if ext.sign_up => Some(Purpose::SignUp),
        (None, None) => None,
    };
    let records = Records::new(config, ext.ttl);
    // Only to addresses registration would accept: the mailer can send to those.
    let deliverable = validate_deliverable_email(&email).is_ok();
    let send = allowed && purpose.is_some() && deliverable;
    let purpose = purpose.unwrap_or(Purpose::SignIn);
    let grant = |code_hash| Grant {
        email: email.clone(),
        purpose,
        code_hash,
        prefill: staged.clone().unwrap_or_default(),
    };
    match via {
        Via::Link => {
            let token = generate_uuid();
            if send {
                records.put_link(&token, &grant(None)).await?;
                let url = link(&token, purpose);
                deliver(config, ext, lang, &email, MAIL_LINK, Some(&url), None).await?;
            }
            Ok(None)
        }
        Via::Code => {
            let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
            let id = generate_uuid();
            // Without a mail a record is still stored, so the asker is answered exactly as
            // when it was sent, but it holds no code: no code is usable without its mail.
            let code_hash = send.then(|| records.hash(&code));
            records.put_code(&id, &grant(code_hash)).await?;
            if send {
                deliver(config, ext, lang, &email, MAIL_CODE, None, Some(&code)).await?;
            }
            Ok(Some(config.verifier().sign_token(CODE_SALT, &id)))
        }
    }
}

async fn deliver(
    config: &PowConfig,
    ext: &Passwordless,
    lang: &LanguageIdentifier,
    to: &str,
    name: &str,
    url: Option<&str>,
    code: Option<&str>,
) -> Result<(), PowError> {
    let messages = config.messages();
    let prefix = if code.is_some() {
        "pow_passwordless_code"
    } else {
        "pow_passwordless_link"
    };
    let mut paragraphs = vec![messages.text(lang, &format!("{prefix}_mail_intro"))];
    if let Some(code) = code {
        paragraphs.push(code.to_owned());
    }
    paragraphs.push(validity_text(
        config,
        lang,
        "pow_passwordless_mail_expiry",
        ext.ttl,
    ));
    paragraphs.push(messages.text(lang, "pow_passwordless_mail_ignore"));
    let label = messages.text(lang, "pow_passwordless_link_mail_button");
    let subject = messages.text(lang, &format!("{prefix}_mail_subject"));
    let mail = compose(
        config,
        &MailContent {
            name,
            lang,
            to,
            subject: &subject,
            paragraphs: &paragraphs,
            link: url.map(|url| (label.as_str(), url)),
        },
    )?;
    config.mailer().deliver(mail).await
}

/// The identifier the account a grant is for is counted and locked under: the user's
/// identifier when the address has an account, else the address.
pub(crate) async fn grant_account(config: &PowConfig, grant: &Grant) -> Result<String, PowError> {
    let user = config
        .users()?
        .get_by("email", grant.email.as_str())
        .await?;
    Ok(user
        .and_then(|user| pow_core::limits::account_identifier(config, &user))
        .unwrap_or_else(|| grant.email.clone()))
}

/// Refuses a grant for a locked account ([`PowError::RateLimited`]).
pub(crate) async fn ensure_not_locked(config: &PowConfig, grant: &Grant) -> Result<(), PowError> {
    let account = grant_account(config, grant).await?;
    pow_core::limits::ensure_not_locked(config, &account).await
}

/// Uses a code: the signed id the asker holds and the code typed. Attempts per code are
/// limited, every wrong code also counts against the account from any client (the budget
/// of [`pow_core::limits::factor_failed`], which may lock it), and a locked account's codes
/// are refused; the code works once.
///
/// # Errors
/// [`PowError::RateLimited`] when the account is locked; the store's and users context's.
pub(crate) async fn use_code(
    config: &PowConfig,
    req: &dyn RequestSource,
    ext: &Passwordless,
    signed_id: &str,
    code: &str,
) -> Result<(Option<Grant>, bool), PowError> {
    let Some(id) = config.verifier().verify_token(CODE_SALT, signed_id) else {
        return Ok((None, false));
    };
    let records = Records::new(config, ext.ttl);
    let Some(grant) = records.code(&id).await? else {
        return Ok((None, false));
    };
    let account = grant_account(config, &grant).await?;
    pow_core::limits::ensure_not_locked(config, &account).await?;
    if !records.code_attempt(&id, ext.max_code_attempts).await? {
        return Ok((None, true));
    }
    let typed: String = code.chars().filter(char::is_ascii_digit).collect();
    let right = grant.code_hash.as_deref().is_some_and(|stored| {
        records.hashes(&typed).fold(false, |found, hash| {
            found | secure_compare(stored.as_bytes(), hash.as_bytes())
        })
    });
    if !right {
        // Counted for every record, with a code or without (its mail never went out, an
        // unknown address): the lock must not tell which addresses have an account.
        pow_core::limits::factor_failed(config, req, &account).await?;
        return Ok((None, false));
    }
    let taken = records.take_code(&id).await?;
    if taken.is_some() {
        pow_core::limits::factor_passed(config, &account).await?;
    }
    Ok((taken, false))
}

/// The user a sign-in or sign-up grant stands for, created for a sign-up.
pub(crate) async fn user_for(config: &PowConfig, grant: &Grant) -> Result<Option<User>, PowError> {
    match grant.purpose {
        // A closed account's links sign nobody in: closing ends every way in.
        Purpose::SignIn => Ok(config
            .users()?
            .get_by("email", grant.email.as_str())
            .await?
            .filter(|user| !user.is_closed())),
        Purpose::SignUp => {
            let mut params = Params::new();
            params.insert("email".to_owned(), grant.email.clone());
            match create(config, &grant.email, params).await? {
                Ok(user) => Ok(Some(user)),
                // Created meanwhile (another link, a sign-up): that account.
                Err(_) => config.users()?.get_by("email", grant.email.as_str()).await,
            }
        }
        Purpose::Staged => Ok(None),
    }
}

/// Creates a user with `params` for the proven `email`: a provisioned user (the password is
/// optional), whose address counts as confirmed.
pub(crate) async fn create(
    config: &PowConfig,
    email: &str,
    mut params: Params,
) -> Result<Result<User, Changeset>, PowError> {
    params.insert("email".to_owned(), email.to_owned());
    let created = config
        .users()?
        .run(move |users, cfg| {
            let mut cs = Changeset::new(ChangesetAction::Provision, None, params);
            cs.cast_user_id(cfg.user_schema());
            cs.cast_fields(cfg.user_schema());
            cs.validate_password(cfg.user_schema(), false);
            cs.run_hooks(cfg.user_schema());
            users.apply(cfg.user_schema(), cs)
        })
        .await?;
    match created {
        Ok(user) => Ok(Ok(confirm_address(config, &user).await?)),
        Err(cs) => Ok(Err(cs)),
    }
}

/// What completing a staged sign-up came to.
pub(crate) enum Staged {
    /// No working staged link for the token.
    Invalid,
    /// The account was made (and its `account.registered` event recorded); `with_password`
    /// when the user chose one.
    Created { user: User, with_password: bool },
    /// Field errors: nothing was made and the link works again. The address and the params
    /// (prefill and typed), to show the form again.
    Refused {
        changeset: Changeset,
        email: String,
        params: Params,
    },
}

/// The method a staged sign-up records (sessions, audit events).
pub(crate) const STAGED_METHOD: &str = "staged_sign_up";

/// The proven address (and the app's prefill) of the staged sign-up link `token`, while
/// it works; it is not used up.
///
/// # Errors
/// The store's error.
pub(crate) async fn staged_grant(
    config: &PowConfig,
    ext: &Passwordless,
    token: &str,
) -> Result<Option<Grant>, PowError> {
    Ok(Records::new(config, ext.ttl)
        .link(token)
        .await?
        .filter(|grant| grant.purpose == Purpose::Staged))
}

/// Completes the staged sign-up of link `token` with what the user `typed` over the app's
/// prefill: the link is taken first (two submissions cannot both create) and put back when
/// the fields are refused. The pages and the JSON side answer the outcome each their way.
///
/// # Errors
/// The store's or the users context's error.
pub(crate) async fn complete_staged(
    req: &dyn RequestSource,
    config: &PowConfig,
    ext: &Passwordless,
    token: &str,
    typed: Params,
) -> Result<Staged, PowError> {
    let records = Records::new(config, ext.ttl);
    let grant = records
        .take_link(token)
        .await?
        .filter(|grant| grant.purpose == Purpose::Staged);
    let Some(grant) = grant else {
        return Ok(Staged::Invalid);
    };
    let mut params = grant.prefill.clone();
    params.extend(typed);
    let with_password = params.get("password").is_some_and(|p| !p.is_empty());
    match create(config, &grant.email, params.clone()).await? {
        Ok(user) => {
            pow_core::audit::record(
                config,
                pow_core::audit::AuditEvent::new(pow_core::audit::REGISTERED)
                    .request(config, req)
                    .user(user.id)
                    .detail("method", STAGED_METHOD),
            );
            Ok(Staged::Created {
                user,
                with_password,
            })
        }
        Err(changeset) => {
            records.put_link(token, &grant).await?;
            Ok(Staged::Refused {
                changeset,
                email: grant.email,
                params,
            })
        }
    }
}

/// The address was proven by the mail: with email confirmation enabled, mark it so.
async fn confirm_address(config: &PowConfig, user: &User) -> Result<User, PowError> {
    let Some(proof) = config.extensions().address_proof().cloned() else {
        return Ok(user.clone());
    };
    let user = user.clone();
    config
        .users()?
        .run(move |users, cfg| proof.mark_proven(users, cfg, &user))
        .await
}

/// Mails a sign-in link to `email`: the same work for every address, known or not (see
/// the request flow's rules), and only a known one gets a mail (or, with sign-up on, a new one a
/// sign-up link).
///
/// # Errors
/// A rate limit's refusal, the store's or the mailer's error.
pub async fn request_link(
    config: &PowConfig,
    source: &dyn RequestSource,
    ext: &Passwordless,
    lang: &LanguageIdentifier,
    email: &str,
) -> Result<(), PowError> {
    let link = |token: &str, purpose| link_url(config, token, purpose);
    request(source, config, ext, lang, email, Via::Link, None, link)
        .await
        .map(|_| ())
}

/// Takes the mailed sign-in link `token` (it works once) and signs its user in through
/// `session`: the flow of the link's page and of its JSON endpoint. `None` for a link that
/// is unknown, used, expired or a staged sign-up's, or whose account is locked.
///
/// # Errors
/// The store's or users context's error, or `session`'s refusal to start.
pub async fn sign_in_with_link<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    source: &dyn RequestSource,
    ext: &Passwordless,
    token: &str,
    session: &mut H,
) -> Result<Option<User>, H::Error> {
    let grant = Records::new(config, ext.ttl)
        .take_link(token)
        .await
        .map_err(PowError::from)?
        .filter(|grant| grant.purpose != Purpose::Staged);
    finish_sign_in(config, source, grant, "magic_link", session).await
}

/// Signs the client in as the user of `grant` (a mailed link or code, already taken):
/// `None` when the grant is gone or its account is locked, and nobody is signed in.
/// Records `passwordless.signed_in` with `method` (`"magic_link"`, `"email_code"`).
///
/// # Errors
/// The store's or users context's error, or `session`'s refusal to start.
pub(crate) async fn finish_sign_in<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    req: &dyn RequestSource,
    grant: Option<Grant>,
    method: &str,
    session: &mut H,
) -> Result<Option<User>, H::Error> {
    let user = match grant {
        Some(grant) => {
            // A locked account's links and codes sign nobody in.
            ensure_not_locked(config, &grant).await?;
            user_for(config, &grant).await?
        }
        None => None,
    };
    let Some(user) = user else {
        return Ok(None);
    };
    sign_in(config, &user, method, false, session).await?;
    pow_core::audit::record(
        config,
        audit_event("passwordless.signed_in")
            .request(config, req)
            .user(user.id)
            .detail("method", method),
    );
    Ok(Some(user))
}

/// Signs `user` in, recording how. For a user with a password such a session is not fresh
/// (sudo mode asks for the password before sensitive changes), unless the password was
/// just chosen (`with_password`, a staged sign-up's form). For a user without one the
/// mailed proof is the only factor there is: the session is fresh, so the account page can
/// set a first password.
///
/// # Errors
/// `session`'s refusal to start, or the store's error.
pub(crate) async fn sign_in<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    user: &User,
    method: &str,
    with_password: bool,
    session: &mut H,
) -> Result<(), H::Error> {
    let mut extra = BTreeMap::new();
    extra.insert(METHOD_KEY.to_owned(), serde_json::Value::from(method));
    let mut metadata = SessionMetadata {
        authenticated_at: (user.password_hash.is_none() || with_password)
            .then(pow_core::time::now_ms),
        extra,
        ..SessionMetadata::new().with_method(AuthMethod::MAGIC_LINK)
    };
    if with_password {
        metadata.record_method(AuthMethod::PASSWORD);
    }
    session.start(config, user, metadata).await
}

/// A mailed link's page, relative to the mount path.
pub(crate) const LINK_PATH: &str = "/passwordless/link/{token}";
/// A staged sign-up's form, relative to the mount path.
pub(crate) const STAGED_TOKEN_PATH: &str = "/passwordless/sign-up/{token}";

pub(crate) fn token_path(config: &PowConfig, pattern: &str, token: &str) -> String {
    pow_core::config::extension_path(config, crate::NAME, pattern, &[("token", token)])
}

/// The mailed URL of a link token: staged sign-ups open the form, the others sign in.
pub(crate) fn link_url(config: &PowConfig, token: &str, purpose: Purpose) -> String {
    let pattern = if purpose == Purpose::Staged {
        STAGED_TOKEN_PATH
    } else {
        LINK_PATH
    };
    let html = || {
        let path = token_path(config, pattern, token);
        match config.base_url() {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => path,
        }
    };
    let kind = if purpose == Purpose::Staged {
        crate::SIGN_UP_LINK
    } else {
        crate::LINK
    };
    config.mail_link(kind, token, html)
}

/// Tells the extensions that the mailed link of a staged sign-up proved `user`'s address
/// (the first proof: the account was just made).
pub(crate) fn staged_proven(ctl: &mut pow_core::pipeline::Step, user: &pow_core::users::User) {
    ctl.assigns.insert(pow_core::extension::AddressProven {
        user_id: user.id,
        first: true,
        by: pow_core::extension::ProvenBy::StagedSignUp,
    });
}

#[async_trait::async_trait]
impl pow_core::extension::StagedSignUp for Passwordless {
    async fn start(
        &self,
        config: &PowConfig,
        req: &dyn RequestSource,
        email: &str,
        prefill: Params,
    ) -> Result<(), PowError> {
        let lang = pow_core::messages::request_language(req, config.messages());
        let link = |token: &str, purpose| link_url(config, token, purpose);
        let prefill = Some(prefill);
        request(req, config, self, &lang, email, Via::Link, prefill, link).await?;
        Ok(())
    }
}

impl Passwordless {
    /// Starts a staged sign-up for `email` from the app's own handler (after an external
    /// identity gave the address, say): mails a link that proves the address and opens the
    /// sign-up form, prefilled with `prefill` (castable user fields). An address that has an
    /// account gets a sign-in link instead; the answer is the same. `req` is the request as
    /// the app's framework layer hands it: each layer's request type is a
    /// [`ServedRequest`](pow_core::config::ServedRequest).
    ///
    /// # Errors
    /// [`PowError::Config`] outside a pow-rs route; the store's, users context's or mailer's
    /// error; [`PowError::RateLimited`] over the per-client mail limit.
    pub async fn start_staged_sign_up(
        &self,
        req: &impl pow_core::config::ServedRequest,
        email: &str,
        prefill: Params,
    ) -> Result<(), PowError> {
        let config = req.setup()?;
        let facts = req.facts();
        pow_core::extension::StagedSignUp::start(self, &config, &facts, email, prefill).await
    }
}

//! Checking a second factor: a TOTP code (once per time step), a recovery code (once) or
//! the answer to another extension's second factor (a security key),
//! with the attempts of one pending sign-in limited, and every wrong code counted against
//! the account ([`pow_core::limits::factor_failed`]), whichever pending sign-in it came in.
//!
//! The pages (engine page routes, on every framework) and the JSON endpoints (the `actix`
//! feature) run these flows; a CLI, a job or a test runs them without HTTP, here a step-up
//! on a [`StoreSession`](pow_core::session::StoreSession):
//!
//! ```
//! use std::time::{SystemTime, UNIX_EPOCH};
//!
//! use pow_core::request::RequestFacts;
//! use pow_core::session::{AuthMethod, SessionHandle, SessionMetadata, StepUp, StoreSession};
//! use pow_core::users::diesel::DieselUsersContext;
//! use pow_core::PowConfig;
//! use pow_ext_two_factor::{flows, totp, TwoFactor};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (users, two_factor) = (DieselUsersContext::connect(":memory:")?, TwoFactor::new());
//! let config = PowConfig::builder("s".repeat(64))
//!     .users(users.clone())
//!     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
//!     .extension(two_factor.clone())
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "a long passphrase")?;
//! let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
//! let (ada, recovery_codes) = flows::enable(&two_factor, &config, &ada, secret).await?;
//! assert!(!recovery_codes.is_empty());
//!
//! // Ada signed in with her password: a rule asking for a recent second factor is not met.
//! let mut session = StoreSession::new();
//! let password = SessionMetadata::new().with_method(AuthMethod::PASSWORD);
//! session.start(&config, &ada, password).await?;
//! let rule = StepUp::recent_second_factor();
//! assert!(!rule.is_met(&session.current().unwrap().metadata, &config));
//!
//! // A wrong code changes nothing; her app's code records TOTP on the session.
//! let facts = RequestFacts::default();
//! assert!(flows::step_up(&config, &facts, "000000x", &mut session).await?.is_none());
//! let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
//! let code = totp::code_at(secret, now).unwrap();
//! assert!(flows::step_up(&config, &facts, &code, &mut session).await?.is_some());
//! assert!(rule.is_met(&session.current().unwrap().metadata, &config));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::sync::Arc;

use chrono::Utc;
use pow_core::audit::{self, AuditEvent, EventName};
use pow_core::extension::SecondFactor;
use pow_core::mailer::{send_notice, Notice};
use pow_core::pipeline::{ActionKind, Client, Flow, Halt, Step};
use pow_core::request::{RequestFacts, RequestSource};
use pow_core::session::{AuthMethod, SessionHandle, SessionMetadata};
use pow_core::token::secure_compare;
use pow_core::users::{Changes, User, Value};
use pow_core::{PowConfig, PowError};

pub(crate) use crate::store::Pending;
use crate::store::Records;
use crate::{
    events, totp, TwoFactor, ENABLED_AT_FIELD, PENDING_SALT, PERSIST_FIELD, RECOVERY_CODES_FIELD,
    SECRET_FIELD,
};

/// How a code checked out.
pub(crate) enum Checked {
    /// Right, and now used up: the user as stored now (a recovery code is gone from it),
    /// and [`AuthMethod::TOTP`] or [`AuthMethod::RECOVERY_CODE`].
    Valid(User, AuthMethod),
    /// Wrong, or used already.
    Invalid,
}

pub(crate) use crate::state::{is_enabled, recovery_hashes};

/// What the second step of a sign-in got: a code (TOTP or recovery), or the answer to the
/// challenge of another extension's second factor (a security key), with its name.
pub(crate) enum Answer {
    Code(String),
    Factor(String, serde_json::Value),
}

/// What the second step of a sign-in came to (see [`second_step`]).
pub(crate) enum SecondStep {
    /// The pending sign-in is gone (used, expired, or its user deleted): start again.
    Expired,
    /// Too many wrong answers for this pending sign-in: start again.
    TooManyAttempts,
    /// The account is locked: its pending sign-in is over; the lock's refusal.
    Locked(PowError),
    /// A wrong answer (counted against the account); the pending sign-in waits for another.
    Invalid {
        /// The user the pending sign-in is for.
        user: User,
        /// Whether the sign-in asked to be remembered.
        persist: bool,
    },
    /// The client is signed in as the user, with the first step's methods and this one's.
    SignedIn(User),
}

/// The second step of the pending sign-in `id`: checks `answer` and, when it is right,
/// ends the pending sign-in (single use: of two requests racing with right answers, one
/// signs in) and starts the client's session through `session`, with the methods of
/// both steps. A locked account's pending sign-in ends.
///
/// # Errors
/// The store's or users context's error, or `session`'s refusal to start.
pub(crate) async fn second_step<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    req: &dyn RequestSource,
    ext: &TwoFactor,
    id: &str,
    answer: &Answer,
    session: &mut H,
) -> Result<SecondStep, H::Error> {
    let records = Records::new(config);
    let Some(pending) = records.pending(id).await.map_err(PowError::from)? else {
        return Ok(SecondStep::Expired);
    };
    let Some(user) = config.users()?.get(pending.user_id).await? else {
        return Ok(SecondStep::Expired);
    };
    // A locked account's pending sign-ins are over.
    if let Err(err) = ensure_not_locked(config, &user).await {
        records.finish(id).await.map_err(PowError::from)?;
        return Ok(SecondStep::Locked(err));
    }
    if !attempt_allowed(ext, config, id).await? {
        return Ok(SecondStep::TooManyAttempts);
    }
    let (user, method) = match check(config, req, &user, answer).await? {
        Checked::Valid(user, method) => (user, method),
        Checked::Invalid => {
            audit::record(
                config,
                AuditEvent::new(events::FAILED)
                    .request(config, req)
                    .user(user.id),
            );
            let persist = pending.persist;
            return Ok(SecondStep::Invalid { user, persist });
        }
    };
    if records.finish(id).await.map_err(PowError::from)?.is_none() {
        return Ok(SecondStep::Expired);
    }
    audit::record(
        config,
        AuditEvent::new(events::VERIFIED)
            .request(config, req)
            .user(user.id)
            .detail("method", method.as_str()),
    );
    let metadata = SessionMetadata::new()
        .with_methods(pending.methods)
        .with_method(method);
    session.start(config, &user, metadata).await?;
    Ok(SecondStep::SignedIn(user))
}

/// Checks `code` for the user signed in through `session` (a browser's or an API token's)
/// and, when right, records the method on that session: the user as stored now, or `None`
/// for a wrong code. Wrong codes count against the account like the sign-in's.
///
/// # Errors
/// A locked account's refusal, nobody signed in, the store's or users context's error.
pub async fn step_up<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    req: &dyn RequestSource,
    code: &str,
    session: &mut H,
) -> Result<Option<User>, H::Error> {
    let Some(current) = session.current() else {
        return Err(PowError::Config("a step-up needs a signed-in session".into()).into());
    };
    let user_id = current.user.id;
    // The session's copy of the user has no seed: the row has.
    let Some(user) = config.users()?.get(user_id).await? else {
        return Ok(None);
    };
    ensure_not_locked(config, &user).await?;
    let event = |name: EventName| {
        AuditEvent::new(name)
            .request(config, req)
            .user(user_id)
            .detail("step", "step_up")
    };
    let answer = Answer::Code(code.to_owned());
    match check(config, req, &user, &answer).await? {
        Checked::Valid(user, method) => {
            session.record_method(config, method).await?;
            audit::record(
                config,
                event(events::VERIFIED).detail("method", method.as_str()),
            );
            Ok(Some(user))
        }
        Checked::Invalid => {
            audit::record(config, event(events::FAILED));
            Ok(None)
        }
    }
}

/// The other extensions' second factors `user` has set up.
pub(crate) async fn enrolled_factors(
    config: &PowConfig,
    user: &User,
) -> Result<Vec<Arc<dyn SecondFactor>>, PowError> {
    let mut enrolled = Vec::new();
    for factor in config.extensions().second_factors() {
        if factor.is_enrolled(config, user).await? {
            enrolled.push(Arc::clone(factor));
        }
    }
    Ok(enrolled)
}

/// Whether a sign-in of `user` takes a second step: a TOTP secret, or another extension's
/// second factor (a security key, a passkey).
pub(crate) async fn needs_second_step(config: &PowConfig, user: &User) -> Result<bool, PowError> {
    Ok(is_enabled(user) || !enrolled_factors(config, user).await?.is_empty())
}

/// The names of the ways `user` can pass the second step, for clients.
pub(crate) async fn accepted(config: &PowConfig, user: &User) -> Result<Vec<String>, PowError> {
    let mut names = Vec::new();
    if is_enabled(user) {
        names.push(AuthMethod::TOTP.as_str().to_owned());
        names.push(AuthMethod::RECOVERY_CODE.as_str().to_owned());
    }
    for factor in enrolled_factors(config, user).await? {
        names.push(factor.name().to_owned());
    }
    Ok(names)
}

/// Counts an attempt at the pending sign-in `id`: `false` once over the limit, and the
/// pending sign-in is then gone.
pub(crate) async fn attempt_allowed(
    ext: &TwoFactor,
    config: &PowConfig,
    id: &str,
) -> Result<bool, PowError> {
    Ok(Records::new(config)
        .attempt(id, ext.pending_ttl, ext.max_attempts)
        .await?)
}

/// The identifier the account of `user` is counted and locked under (its id for a user
/// without an identifier, so that it still has a budget).
fn account(config: &PowConfig, user: &User) -> String {
    pow_core::limits::account_identifier(config, user)
        .unwrap_or_else(|| format!("\u{0}user:{}", user.id))
}

/// Refuses `user` while their account is locked (after too many wrong passwords or codes).
pub(crate) async fn ensure_not_locked(config: &PowConfig, user: &User) -> Result<(), PowError> {
    pow_core::limits::ensure_not_locked(config, &account(config, user)).await
}

/// Checks `code` for `user`: a TOTP code of the current step (or one either side), used
/// at most once per step, or one of the user's recovery codes, used at most once. A wrong
/// code counts against the account's budget (and may lock it); a right one clears it.
pub(crate) async fn check(
    config: &PowConfig,
    req: &dyn RequestSource,
    user: &User,
    answer: &Answer,
) -> Result<Checked, PowError> {
    let checked = match answer {
        Answer::Code(code) => check_code(config, user, code).await?,
        Answer::Factor(name, answer) => check_factor(config, user, name, answer).await?,
    };
    let identifier = account(config, user);
    match checked {
        Checked::Valid(..) => pow_core::limits::factor_passed(config, &identifier).await?,
        Checked::Invalid => pow_core::limits::factor_failed(config, req, &identifier).await?,
    }
    Ok(checked)
}

async fn check_factor(
    config: &PowConfig,
    user: &User,
    name: &str,
    answer: &serde_json::Value,
) -> Result<Checked, PowError> {
    for factor in enrolled_factors(config, user).await? {
        if factor.name() == name {
            return Ok(match factor.verify(config, user, answer).await? {
                Some(method) => Checked::Valid(user.clone(), method),
                None => Checked::Invalid,
            });
        }
    }
    Ok(Checked::Invalid)
}

async fn check_code(config: &PowConfig, user: &User, code: &str) -> Result<Checked, PowError> {
    let Some(secret) = user.get_str(SECRET_FIELD).filter(|_| is_enabled(user)) else {
        return Ok(Checked::Invalid);
    };
    let records = Records::new(config);
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
    if let Some(step) = totp::matching_step(secret, code, now) {
        return Ok(if records.claim_step(user.id, step).await? {
            Checked::Valid(user.clone(), AuthMethod::TOTP)
        } else {
            Checked::Invalid
        });
    }
    let typed = totp::recovery_hashes_of(config, code);
    let hashes = recovery_hashes(user);
    // Every stored hash is compared with the code's hash under each key, in constant time.
    let mut found = None;
    for stored in &hashes {
        for hash in &typed {
            if secure_compare(stored.as_bytes(), hash.as_bytes()) {
                found = Some(stored.clone());
            }
        }
    }
    let Some(hash) = found else {
        return Ok(Checked::Invalid);
    };
    if !records.claim_recovery(user.id, &hash).await? {
        return Ok(Checked::Invalid);
    }
    let left: Vec<&String> = hashes.iter().filter(|h| **h != hash).collect();
    let mut changes = Changes::new();
    changes.insert(
        RECOVERY_CODES_FIELD.to_owned(),
        Value::from(serde_json::to_string(&left).map_err(|e| PowError::Other(e.to_string()))?),
    );
    let updated = pow_core::admin::update_user(config, user, changes).await?;
    Ok(Checked::Valid(updated, AuthMethod::RECOVERY_CODE))
}

/// Where the TOTP enrolment of a signed-in user stands (see [`enrolment`]).
pub(crate) enum Enrolment {
    /// The second factor is on: the user as stored.
    On(User),
    /// Not on yet: the user as stored and the secret to show (the same until it is
    /// confirmed or 15 minutes pass).
    Pending {
        /// The user as stored.
        user: User,
        /// The secret the app is set up with.
        secret: String,
    },
}

/// The enrolment of the user `id` (read as stored: the session's copy has no secret).
///
/// # Errors
/// The store's or users context's error; a user that is gone.
pub(crate) async fn enrolment(config: &PowConfig, id: i64) -> Result<Enrolment, PowError> {
    let user = stored_user(config, id).await?;
    if is_enabled(&user) {
        return Ok(Enrolment::On(user));
    }
    let secret = Records::new(config).enrol_secret(user.id).await?;
    Ok(Enrolment::Pending { user, secret })
}

/// What the first code of an enrolment came to (see [`confirm_enrolment`]).
pub(crate) enum Confirmed {
    /// The second factor was on already.
    AlreadyOn,
    /// The code does not match the pending secret, or its time step was used already:
    /// the enrolment waits for another.
    WrongCode {
        /// The user as stored.
        user: User,
        /// The pending secret.
        secret: String,
    },
    /// The second factor is on: the user as stored now, and the recovery codes to show
    /// once.
    On(User, Vec<String>),
}

/// The first code from the app turns the second factor of the user `id` on: the pending
/// secret must match `code` in a time step not claimed before (a code seen on the wire
/// cannot enable it twice); then the pending secret goes, the secret and new recovery
/// codes are stored, the event is recorded and the user is told by mail. Every page and
/// JSON enrolment runs this.
///
/// # Errors
/// The store's or users context's error; a user that is gone.
pub(crate) async fn confirm_enrolment(
    ext: &TwoFactor,
    step: &Step,
    facts: &RequestFacts,
    id: i64,
    code: &str,
) -> Result<Confirmed, PowError> {
    let config = &step.config;
    let (user, secret) = match enrolment(config, id).await? {
        Enrolment::On(_) => return Ok(Confirmed::AlreadyOn),
        Enrolment::Pending { user, secret } => (user, secret),
    };
    let records = Records::new(config);
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
    let claimed = match totp::matching_step(&secret, code, now) {
        Some(matched) => records.claim_step(user.id, matched).await?,
        None => false,
    };
    if !claimed {
        return Ok(Confirmed::WrongCode { user, secret });
    }
    records.take_enrol_secret(user.id).await?;
    let (user, codes) = enable(ext, config, &user, &secret).await?;
    told(
        step,
        facts,
        &user,
        events::ENABLED,
        Notice::SecondFactorEnabled,
    )
    .await;
    Ok(Confirmed::On(user, codes))
}

/// A change of a second factor that is on (see [`change`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// New recovery codes replace the old ones.
    NewRecoveryCodes,
    /// The second factor goes off.
    TurnOff,
}

/// What [`change`] came to.
pub(crate) enum Changed {
    /// The second factor is off: nothing to change.
    NotOn,
    /// Done: the user as stored now, and the new recovery codes to show once (none when
    /// it was turned off).
    Done(User, Vec<String>),
}

/// Makes `change` to the second factor of the user `id` (read as stored), records it and
/// tells the user by mail. Pages and JSON alike run this; their routes ask for sudo mode
/// and the engine's rule for factor changes.
///
/// # Errors
/// The store's or users context's error; a user that is gone.
pub(crate) async fn change(
    ext: &TwoFactor,
    step: &Step,
    facts: &RequestFacts,
    id: i64,
    change: Change,
) -> Result<Changed, PowError> {
    let config = &step.config;
    let user = stored_user(config, id).await?;
    if !is_enabled(&user) {
        return Ok(Changed::NotOn);
    }
    let (user, codes, name, notice) = match change {
        Change::NewRecoveryCodes => {
            let (user, codes) = regenerate(ext, config, &user).await?;
            let notice = Notice::RecoveryCodesRegenerated;
            (user, codes, events::CODES_REGENERATED, notice)
        }
        Change::TurnOff => {
            let user = disable(config, &user).await?;
            let notice = Notice::SecondFactorDisabled;
            (user, Vec::new(), events::DISABLED, notice)
        }
    };
    told(step, facts, &user, name, notice).await;
    Ok(Changed::Done(user, codes))
}

/// Records the extension's event `name` about `user` with the request's `facts`, and mails
/// the user the security `notice` (when notices are on).
async fn told(step: &Step, facts: &RequestFacts, user: &User, name: EventName, notice: Notice<'_>) {
    let config = &step.config;
    audit::record(
        config,
        AuditEvent::new(name).request(config, facts).user(user.id),
    );
    let to = user.email().unwrap_or_default();
    send_notice(config, facts, &step.lang, to, notice).await;
}

/// The user `id` as stored (with the seed and the recovery codes the session's copy
/// lacks); an error when it is gone.
///
/// # Errors
/// The users context's error.
pub(crate) async fn stored_user(config: &PowConfig, id: i64) -> Result<User, PowError> {
    pow_core::flows::stored_user(config, id)
        .await?
        .ok_or_else(|| PowError::Other("the signed-in user is gone".into()))
}

/// The pending sign-in `id` and its user, while both are there.
///
/// # Errors
/// The store's or users context's error.
pub(crate) async fn waiting(
    config: &PowConfig,
    id: &str,
) -> Result<Option<(Pending, User)>, PowError> {
    let Some(pending) = Records::new(config).pending(id).await? else {
        return Ok(None);
    };
    let user = pow_core::flows::stored_user(config, pending.user_id).await?;
    Ok(user.map(|user| (pending, user)))
}

/// Stores a confirmed secret and new recovery codes for the user; returns the user and the
/// codes to show once.
///
/// # Errors
/// The users context's error.
pub async fn enable(
    ext: &TwoFactor,
    config: &PowConfig,
    user: &User,
    secret: &str,
) -> Result<(User, Vec<String>), PowError> {
    let codes = totp::new_recovery_codes(ext.recovery_codes);
    let mut changes = recovery_changes(config, &codes)?;
    changes.insert(SECRET_FIELD.to_owned(), Value::from(secret.to_owned()));
    changes.insert(ENABLED_AT_FIELD.to_owned(), Value::Timestamp(Utc::now()));
    let user = pow_core::admin::update_user(config, user, changes).await?;
    Ok((user, codes))
}

/// Replaces the user's recovery codes; returns the user and the new codes.
pub(crate) async fn regenerate(
    ext: &TwoFactor,
    config: &PowConfig,
    user: &User,
) -> Result<(User, Vec<String>), PowError> {
    let codes = totp::new_recovery_codes(ext.recovery_codes);
    let changes = recovery_changes(config, &codes)?;
    let user = pow_core::admin::update_user(config, user, changes).await?;
    Ok((user, codes))
}

/// Turns the second factor off.
pub(crate) async fn disable(config: &PowConfig, user: &User) -> Result<User, PowError> {
    let mut changes = Changes::new();
    for field in [SECRET_FIELD, ENABLED_AT_FIELD, RECOVERY_CODES_FIELD] {
        changes.insert(field.to_owned(), Value::Null);
    }
    pow_core::admin::update_user(config, user, changes).await
}

fn recovery_changes(config: &PowConfig, codes: &[String]) -> Result<Changes, PowError> {
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| totp::recovery_hash(config, c))
        .collect();
    let mut changes = Changes::new();
    changes.insert(
        RECOVERY_CODES_FIELD.to_owned(),
        Value::from(serde_json::to_string(&hashes).map_err(|e| PowError::Other(e.to_string()))?),
    );
    Ok(changes)
}

/// After a password sign-in: a user with a second factor is signed out again and sent to
/// the second step, with a pending sign-in bound to this browser.
#[async_trait::async_trait]
impl pow_core::extension::Callbacks for TwoFactor {
    async fn before_respond(
        &self,
        step: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        // Every sign-in: a password sign-in, and a completed sign-up that signs in (an
        // accepted invitation, say) of a user who has a second factor already.
        let signs_in = matches!(
            step.id.kind(),
            ActionKind::SignIn | ActionKind::CompleteSignUp
        );
        if step.is_json() || !signs_in || step.id == crate::actions::VERIFY {
            return Ok(Flow::Continue);
        }
        let Some(user) = step.user.clone() else {
            return Ok(Flow::Continue);
        };
        let Some(current) = client.current_session() else {
            return Ok(Flow::Continue);
        };
        if !needs_second_step(&step.config, &user).await? {
            return Ok(Flow::Continue);
        }
        let methods = current.metadata.methods.clone();
        // A sign-in that proved a second factor already (a passkey with user verification)
        // asks for no other.
        if methods.iter().any(|used| used.method.is_second_factor()) {
            return Ok(Flow::Continue);
        }
        client.session().end(&step.config).await?;
        let persist = step.params.get(PERSIST_FIELD).map(String::as_str) != Some("false");
        let pending = crate::store::Pending {
            user_id: user.id,
            persist,
            methods,
        };
        let id = Records::new(&step.config)
            .start(&pending, self.pending_ttl)
            .await?;
        let signed = step.config.verifier().sign_token(PENDING_SALT, &id);
        client.set_value(&crate::pending_key(&step.config), &signed)?;
        // Not signed in yet: no "signed in" flash.
        client.discard_flash();
        let verify = crate::path(&step.config, crate::VERIFY_PATH);
        Ok(Flow::Halt(Halt::Redirect(verify)))
    }
}

/// Salt of the signed `second_factor_token` an API sign-in gets for its second step.
pub(crate) const TOKEN_SALT: &str = "pow two-factor api token";

/// A password sign-in of a user with a second factor gets no pair: `401` with code
/// `second_factor_required`, a `second_factor_token` for the second step and the
/// `methods` it accepts (`totp`, `recovery_code`, other extensions' factors).
#[async_trait::async_trait]
impl pow_core::api::TokenHooks for TwoFactor {
    async fn before_issue(&self, issue: &pow_core::api::Issue<'_>) -> Result<(), PowError> {
        // A sign-in that proved a second factor (this extension's second step) goes on.
        if issue.action != pow_core::api::ApiAction::SignIn
            || issue
                .methods
                .iter()
                .any(|used| used.method.is_second_factor())
        {
            return Ok(());
        }
        let accepted = accepted(issue.config, issue.user).await?;
        if accepted.is_empty() {
            return Ok(());
        }
        let pending = crate::store::Pending {
            user_id: issue.user.id,
            persist: false,
            methods: issue.methods.to_vec(),
        };
        let id = Records::new(issue.config)
            .start(&pending, self.pending_ttl)
            .await?;
        let token = issue.config.verifier().sign_token(TOKEN_SALT, &id);
        let key = if is_enabled(issue.user) {
            "pow_two_factor_required"
        } else {
            "pow_two_factor_required_key"
        };
        Err(pow_core::api::Held::new(401, issue.text(key))
            .with_code("second_factor_required")
            .pending(
                pow_core::api::PendingStep::new("second_factor")
                    .methods(accepted)
                    .token(token),
            )
            .into())
    }
}

//! The crate's error types.

use std::time::Duration;

/// Seconds a client is asked to wait (`Retry-After`) when pow-core answers
/// `503 Service Unavailable` ([`PowError::Busy`], or a cache store that is down).
pub const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// Why an extension's [sign-in policy](crate::extension::SignInPolicy) refused a sign-in:
/// the message key of the text the user sees (the extension's Fluent files hold it), and
/// the name of the policy, for the logs. Pages answer `403` with the text; JSON answers
/// `403` with the code `sign_in_refused`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInRefusal {
    /// The message key of the text shown (`"pow_sso_required"`).
    pub key: &'static str,
    /// Which policy refused (`"pow_sso enforcement"`), for the logs.
    pub policy: &'static str,
}

/// Errors raised by pow-core.
///
/// Clients never see the text of these errors: a framework layer (pow-actix's `Error`)
/// answers with an opaque page. Developers see the message in logs, and it names the fix
/// where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PowError {
    /// The configuration is invalid; the message says which setting and how to fix it.
    #[error("invalid pow configuration: {0}")]
    Config(String),
    /// The users database failed (a query or a migration).
    #[error("users database error: {0}")]
    Database(String),
    /// The users database cannot be reached (no pooled connection within the checkout
    /// timeout, or the connection broke): `503 Service Unavailable` with `Retry-After`,
    /// like a cache store that is down.
    #[error("users database unavailable: {0}")]
    DatabaseUnavailable(String),
    /// The cache store failed or is unreachable.
    #[error("cache store error: {0}")]
    Store(#[from] StoreError),
    /// A stored password hash could not be parsed. It never counts as a match.
    /// ([`HashError::Busy`](crate::password::HashError::Busy) converts to [`PowError::Busy`].)
    #[error("password hash error: {0}")]
    Hash(crate::password::HashError),
    /// Sending a mail failed.
    #[error("mailer error: {0}")]
    Mailer(String),
    /// Rendering a page or mail template failed.
    #[error("template error: {0}")]
    Template(String),
    /// The blocking thread pool was shut down or the task panicked.
    #[error("blocking task failed: {0}")]
    Blocking(String),
    /// The service is saturated and asks the client to come back later.
    #[error("service busy, retry later")]
    Busy,
    /// The user is disabled: no sign-in is accepted (`403`, with a page saying so).
    #[error("the account is disabled")]
    AccountDisabled,
    /// The user closed the account: no session starts for it (`403`, code
    /// `account_closed`). A password sign-in is offered reactivation instead.
    #[error("the account is closed")]
    AccountClosed,
    /// An extension's [sign-in policy](crate::extension::SignInPolicy) refused the session
    /// (`403`, a page with the policy's text; code `sign_in_refused`).
    #[error("a sign-in policy refused the session: {}", .0.policy)]
    SignInRefused(SignInRefusal),
    /// A sensitive action needs the password confirmed first (sudo mode): `403` for JSON,
    /// a redirect to the confirmation page for browsers.
    #[error("the password has to be confirmed first")]
    ReauthenticationRequired,
    /// The action needs the user's own proof and the session is support access
    /// (impersonation): `403` with the code `impersonation_forbidden`.
    #[error("not allowed during support access")]
    ImpersonationForbidden,
    /// A [step-up rule](crate::session::StepUp) wants one of these methods (their names,
    /// `"totp"`, …) proved recently first: `403` with the code `step_up_required` and the
    /// accepted methods for JSON, a redirect to a page performing one for browsers.
    #[error("one of these methods has to be proved first: {0:?}")]
    StepUpRequired(Vec<&'static str>),
    /// The CAPTCHA answer was missing or refused (`400`; a form is shown again with an
    /// error).
    #[error("the CAPTCHA answer is missing or invalid")]
    CaptchaInvalid,
    /// The CAPTCHA service failed or did not answer in time, and the check fails closed
    /// (`503` with `Retry-After`).
    #[error("the CAPTCHA service could not verify the answer")]
    CaptchaUnavailable,
    /// A rate limit or an account lock refused the request (`429` with `Retry-After`).
    #[error("too many requests, retry later")]
    RateLimited(RateLimited),
    /// A token hook held an API sign-in back ([`Held`]): its status,
    /// code and pending steps are the answer, in place of a token pair.
    #[error("token pair held back: {}", .0.message())]
    Held(Box<Held>),
    /// Any other internal failure.
    #[error("{0}")]
    Other(String),
}

impl PowError {
    /// Builds a [`PowError::Database`] from any displayable error.
    pub fn database(err: impl std::fmt::Display) -> Self {
        Self::Database(err.to_string())
    }

    /// The HTTP status every framework layer answers this error with: `503` for a service
    /// that is down or busy, `429` for a limit, `400` for a refused CAPTCHA, `403` for a
    /// refusal that signing in again or proving a method can lift, `500` for the rest.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Store(_)
            | Self::DatabaseUnavailable(_)
            | Self::Busy
            | Self::CaptchaUnavailable => 503,
            Self::RateLimited(_) => 429,
            Self::CaptchaInvalid => 400,
            Self::ReauthenticationRequired
            | Self::StepUpRequired(_)
            | Self::ImpersonationForbidden
            | Self::AccountDisabled
            | Self::AccountClosed
            | Self::SignInRefused(_) => 403,
            _ => 500,
        }
    }

    /// The `Retry-After` seconds of the answer: a limit's window, or
    /// [`BUSY_RETRY_AFTER_SECS`] for a service that is down or busy.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited(limited) => Some(limited.retry_after_secs()),
            _ if self.http_status() == 503 => Some(BUSY_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// Logs the error as a framework layer answers it: refusals at `info`, failures at
    /// `error` (and on stderr when the app set no `tracing` subscriber, so that a bare
    /// error page is never the only trace of an SMTP server that is not there, say).
    pub fn log_answered(&self) {
        match self {
            Self::RateLimited(_) => tracing::info!("pow request refused by a rate limit"),
            Self::CaptchaInvalid
            | Self::StepUpRequired(_)
            | Self::ImpersonationForbidden
            | Self::AccountClosed
            | Self::SignInRefused(_) => tracing::info!("pow request refused: {self}"),
            _ => {
                tracing::error!(error = %self, "pow request failed");
                if !tracing::dispatcher::has_been_set() {
                    eprintln!("pow request failed: {self}");
                }
            }
        }
    }
}

impl From<crate::password::HashError> for PowError {
    fn from(err: crate::password::HashError) -> Self {
        match err {
            crate::password::HashError::Busy => Self::Busy,
            err => Self::Hash(err),
        }
    }
}

impl From<askama::Error> for PowError {
    fn from(err: askama::Error) -> Self {
        Self::Template(err.to_string())
    }
}

/// Errors raised by a store backend ([`crate::store`] re-exports it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached (connection refused, timeout). Requests answer 503.
    #[error("cache store unavailable: {0}")]
    Unavailable(String),
    /// A value could not be (de)serialised.
    #[error("cache store value could not be (de)serialised: {0}")]
    Serde(#[from] serde_json::Error),
    /// Any other backend failure.
    #[error("cache store backend error: {0}")]
    Backend(String),
    /// The backend does not implement this operation (a custom store written before it
    /// existed). Features that need it fail with this error instead of running unsafely.
    #[error("the cache store does not support `{0}`; implement it to use this feature")]
    Unsupported(&'static str),
}

/// Why a request was refused with `429` ([`crate::limits`] re-exports it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitReason {
    /// A rate limit: too many requests from this client or for this identifier.
    TooManyAttempts,
    /// The identifier's account is locked after too many failed sign-ins.
    Locked,
}

/// A refused request: `429 Too Many Requests`, try again after `retry_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimited {
    /// Why.
    pub reason: LimitReason,
    /// When to try again (the rule's window, at most).
    pub retry_after: Duration,
}

impl RateLimited {
    /// `Retry-After` in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().max(1)
    }
}

/// Result alias used across pow-core.
pub type PowResult<T> = Result<T, PowError>;

/// A step a sign-in (or a sensitive action) still waits for, listed under `data.pending`
/// of a `401` answer: what it is, what it accepts, and the token that carries the sign-in
/// so far, if the step needs one.
///
/// | `step` | accepts (`methods`) | the client goes on with |
/// |---|---|---|
/// | `confirm_email` | `email_link` | the mailed link (`POST /confirm-email/{token}`) |
/// | `second_factor` | `totp`, `recovery_code`, `webauthn`, ... | `POST /two-factor/verify` with `token` |
/// | `reauthenticate` | `password` | `POST /session/reauthenticate` |
/// | `step_up` | the methods the action accepts | `POST /two-factor/step-up`, or a re-authentication |
///
/// ```
/// use pow_core::api::PendingStep;
///
/// let step = PendingStep::new("second_factor").methods(["totp", "recovery_code"]).token("SFMy.a.b");
/// assert_eq!(
///     serde_json::to_value(&step).unwrap(),
///     serde_json::json!({"step": "second_factor", "methods": ["totp", "recovery_code"], "token": "SFMy.a.b"})
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PendingStep {
    step: &'static str,
    methods: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl PendingStep {
    /// The step named `step` (`"second_factor"`), accepting nothing listed yet.
    pub fn new(step: &'static str) -> Self {
        Self {
            step,
            methods: Vec::new(),
            token: None,
        }
    }

    /// What the step accepts (`["totp", "recovery_code"]`).
    #[must_use]
    pub fn methods(mut self, methods: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// The token the client sends with the step (the sign-in so far).
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The step's name.
    pub fn step(&self) -> &'static str {
        self.step
    }
}

/// The answer a [`TokenHooks`](crate::api::TokenHooks) gives instead of a token pair: a status, a stable code, a
/// text in the client's language and the steps still pending. Every framework layer
/// answers it in its JSON envelope; returned as [`PowError::Held`] so a hook can use `?`
/// on the store's errors too.
///
/// ```
/// use pow_core::api::{Held, PendingStep};
///
/// let held = Held::new(403, "Account locked")
///     .with_code("account_locked")
///     .pending(PendingStep::new("confirm_email").methods(["email_link"]));
/// assert_eq!(held.status(), 401, "a pending step means: not signed in yet");
/// assert_eq!(held.code(), Some("account_locked"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    status: u16,
    code: Option<&'static str>,
    message: String,
    steps: Vec<PendingStep>,
}

impl Held {
    /// An answer with the HTTP `status` and the client-facing `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            code: None,
            message: message.into(),
            steps: Vec::new(),
        }
    }

    /// Adds a stable, machine-readable code (`"second_factor_required"`).
    #[must_use]
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Lists `step` as pending, and makes the answer a `401`: the client is not signed in
    /// yet, and this is what it takes.
    #[must_use]
    pub fn pending(mut self, step: PendingStep) -> Self {
        self.status = 401;
        self.steps.push(step);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The code, if one was set.
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }

    /// The client-facing text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The steps still pending.
    pub fn steps(&self) -> &[PendingStep] {
        &self.steps
    }
}

impl From<Held> for PowError {
    fn from(held: Held) -> Self {
        Self::Held(Box::new(held))
    }
}

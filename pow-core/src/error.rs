//! The crate's error types.

use std::time::Duration;

/// Seconds a client is asked to wait (`Retry-After`) when pow-core answers
/// `503 Service Unavailable` ([`PowError::Busy`], or a cache store that is down).
pub const BUSY_RETRY_AFTER_SECS: u64 = 5;

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
    /// Any other internal failure.
    #[error("{0}")]
    Other(String),
}

impl PowError {
    /// Builds a [`PowError::Database`] from any displayable error.
    pub fn database(err: impl std::fmt::Display) -> Self {
        Self::Database(err.to_string())
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

//! The crate's error type.

/// Seconds a client is asked to wait (`Retry-After`) when pow-core answers
/// `503 Service Unavailable` ([`PowError::Busy`], or a cache store that is down).
pub const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// Errors raised by pow-core.
///
/// Clients never see the text of these errors: with the `actix` feature, its
/// `ResponseError` answers with an opaque page. Developers see the message in logs, and it names the fix where there is one.
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
    Store(#[from] crate::store::StoreError),
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
    /// A sensitive action needs the password confirmed first (sudo mode): `403` for JSON,
    /// a redirect to the confirmation page for browsers.
    #[error("the password has to be confirmed first")]
    ReauthenticationRequired,
    /// A rate limit or an account lock refused the request (`429` with `Retry-After`).
    #[error("too many requests, retry later")]
    RateLimited(crate::limits::RateLimited),
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

/// Result alias used across pow-core.
pub type PowResult<T> = Result<T, PowError>;

//! [`RedisStoreOptions`]: connection settings.

use std::time::Duration;

use super::RedisStore;

/// Connection settings for [`RedisStore`].
#[derive(Clone, Debug)]
pub struct RedisStoreOptions {
    pub(super) prefix: String,
    pub(super) connection_timeout: Duration,
    pub(super) response_timeout: Duration,
    pub(super) reconnect_attempts: usize,
}

impl Default for RedisStoreOptions {
    fn default() -> Self {
        Self {
            prefix: RedisStore::DEFAULT_PREFIX.to_owned(),
            connection_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            reconnect_attempts: 2,
        }
    }
}

impl RedisStoreOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefix of every key the store writes. Give each application sharing one Redis its own
    /// prefix. It must not contain `{` or `}`. The default value is `"pow"`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Longest wait for a TCP connection to a Redis server. The default value is 2 seconds.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Longest wait for the reply to a command. The default value is 2 seconds.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many times a lost connection is retried (with a short backoff) before a command
    /// fails with [`StoreError::Unavailable`]. Later commands try again. The default value is 2.
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }
}

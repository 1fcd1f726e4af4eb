//! [`RedisStoreOptions`]: connection settings.

use std::time::Duration;

use super::RedisStore;

/// How long a value stays in the local read cache at most, by default.
const DEFAULT_LOCAL_MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// Connection settings for [`RedisStore`].
#[derive(Clone, Debug)]
pub struct RedisStoreOptions {
    pub(super) prefix: String,
    pub(super) connection_timeout: Duration,
    pub(super) response_timeout: Duration,
    pub(super) reconnect_attempts: usize,
    /// Values the local read cache holds at most (0: no cache).
    pub(super) local_cache: usize,
    pub(super) local_cache_max_age: Duration,
    #[cfg(feature = "redis-tls")]
    pub(super) tls: Option<Tls>,
}

/// The certificates of a TLS connection (`rediss://`), PEM-encoded.
#[cfg(feature = "redis-tls")]
#[derive(Clone)]
pub(super) struct Tls {
    pub(super) root_cert: Option<Vec<u8>>,
    pub(super) client: Option<(Vec<u8>, Vec<u8>)>,
}

#[cfg(feature = "redis-tls")]
impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the client key.
        f.debug_struct("Tls")
            .field("root_cert", &self.root_cert.is_some())
            .field("client_cert", &self.client.is_some())
            .finish()
    }
}

#[cfg(feature = "redis-tls")]
impl Tls {
    fn empty() -> Self {
        Self {
            root_cert: None,
            client: None,
        }
    }

    pub(super) fn certificates(&self) -> ::redis::TlsCertificates {
        ::redis::TlsCertificates {
            client_tls: self.client.clone().map(|(client_cert, client_key)| {
                ::redis::ClientTlsConfig {
                    client_cert,
                    client_key,
                }
            }),
            root_cert: self.root_cert.clone(),
        }
    }
}

impl Default for RedisStoreOptions {
    fn default() -> Self {
        Self {
            prefix: RedisStore::DEFAULT_PREFIX.to_owned(),
            connection_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            reconnect_attempts: 2,
            local_cache: 0,
            local_cache_max_age: DEFAULT_LOCAL_MAX_AGE,
            #[cfg(feature = "redis-tls")]
            tls: None,
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
    /// fails with [`StoreError::Unavailable`](crate::store::StoreError::Unavailable). Later commands try again. The default value is 2.
    pub fn reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// Keeps up to `capacity` values read by signed-in requests (sessions and their users)
    /// in this process, so that a signed-in request costs no Redis round trip while its
    /// records are unchanged. Off by default (`0`). Single server only: a cluster store refuses
    /// it.
    ///
    /// Redis tells the store when a kept value changes (server-assisted client-side
    /// caching: `CLIENT TRACKING` over RESP3, Redis 6 or newer), and the store drops it.
    /// This process sees its own writes (a sign-out, a revocation) on its next request;
    /// another process's change takes effect here once Redis' message arrives, typically
    /// well under a millisecond, so a request racing a revocation made elsewhere can still
    /// pass during that moment. A lost connection empties the cache, and no value is kept
    /// past its Redis TTL or [`local_cache_max_age`](Self::local_cache_max_age). Each value
    /// costs its bytes plus about 100 bytes of bookkeeping.
    pub fn local_cache(mut self, capacity: usize) -> Self {
        self.local_cache = capacity;
        self
    }

    /// The longest a value stays in the [`local_cache`](Self::local_cache), a bound on
    /// staleness should Redis' messages ever fail to arrive on a connection that stays up.
    /// The default value is 5 minutes.
    pub fn local_cache_max_age(mut self, max_age: Duration) -> Self {
        self.local_cache_max_age = max_age;
        self
    }

    /// Trusts the CA certificate(s) in `pem` (PEM-encoded) for `rediss://` connections,
    /// instead of the system's roots: for a server with a private CA. The server's name in
    /// the URL must match its certificate.
    #[cfg(feature = "redis-tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.get_or_insert_with(Tls::empty).root_cert = Some(pem.into());
        self
    }

    /// Presents a client certificate and its private key (both PEM-encoded) on
    /// `rediss://` connections, for servers that require one (`tls-auth-clients yes`).
    #[cfg(feature = "redis-tls")]
    pub fn tls_client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.get_or_insert_with(Tls::empty).client = Some((cert_pem.into(), key_pem.into()));
        self
    }
}

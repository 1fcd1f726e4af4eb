//! The one way the engine and its extensions fetch a URL that came from outside the app's
//! own settings (a client's metadata document, an identity provider's discovery document,
//! a SAML metadata URL): [`OutboundClient`].
//!
//! It resolves the host once and refuses the fetch when any address is private, loopback,
//! link-local, shared (carrier-grade NAT), multicast, reserved or unspecified (loopback only
//! when the app allows it, for development and tests), then connects to exactly the
//! addresses it checked (a second lookup cannot move it: no DNS rebinding). It takes `https`
//! only (plain `http` only to an allowed loopback address), follows no redirect, uses no
//! proxy from the environment, and caps the answer's size and the whole fetch's time. The
//! fetch runs on a blocking thread, never on the async executor.
//!
//! ```
//! use std::time::Duration;
//! use pow_core::outbound::{OutboundClient, OutboundError};
//!
//! # async fn example() -> Result<(), OutboundError> {
//! let client = OutboundClient::new().max_bytes(5 * 1024).timeout(Duration::from_secs(2));
//! // A private address is refused before anything is sent.
//! let refused = client.get("https://10.0.0.1/metadata.json").await;
//! assert!(matches!(refused, Err(OutboundError::Refused(_))));
//! # Ok(())
//! # }
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The `http` crate's request and response types [`OutboundClient::execute`] takes and
/// answers (the version openidconnect and oauth2 use).
pub use ureq::http;

/// Why a fetch was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Not an `https` URL (or `http` to an allowed loopback address), or no host.
    #[error("only https URLs are fetched")]
    Scheme,
    /// The host resolves to an address that is not public.
    #[error("{0} is not a public address")]
    Refused(IpAddr),
    /// The host does not resolve.
    #[error("the host does not resolve")]
    Unresolved,
    /// The answer is a redirect: redirects are not followed.
    #[error("the answer is a redirect ({0}); redirects are not followed")]
    Redirect(u16),
    /// The answer is longer than the limit.
    #[error("the answer is over {0} bytes")]
    TooLarge(u64),
    /// The connection, TLS or the HTTP exchange failed, or the time ran out.
    #[error("the fetch failed: {0}")]
    Failed(String),
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The status.
    pub status: u16,
    /// The headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Fetched {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(have, _)| have == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A client for URLs that came from outside: see the [module](self).
#[derive(Clone, Debug)]
pub struct OutboundClient {
    max_bytes: u64,
    timeout: Duration,
    allow_loopback: bool,
    roots: Vec<Vec<u8>>,
}

impl Default for OutboundClient {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            timeout: Duration::from_secs(5),
            allow_loopback: false,
            roots: Vec::new(),
        }
    }
}

impl OutboundClient {
    /// At most 64 KiB in at most 5 seconds, public addresses only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest answer read.
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max;
        self
    }

    /// The longest a whole fetch may take: resolving, connecting, TLS, the answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Allows loopback addresses (and plain `http` to them): for development and tests
    /// only, never in production.
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }

    /// Trusts only these root certificates (DER), instead of the public web's: a
    /// company's private CA, or a test's. The default is the public web's roots.
    pub fn root_certificates(mut self, roots: Vec<Vec<u8>>) -> Self {
        self.roots = roots;
        self
    }

    /// `GET url`.
    ///
    /// # Errors
    /// [`OutboundError`]: refused before sending, or failed.
    pub async fn get(&self, url: &str) -> Result<Fetched, OutboundError> {
        let client = self.clone();
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || client.get_blocking(&url))
            .await
            .map_err(|err| OutboundError::Failed(err.to_string()))?
    }

    /// [`get`](Self::get), on the calling thread.
    fn get_blocking(&self, url: &str) -> Result<Fetched, OutboundError> {
        let request = http::Request::get(url)
            .body(Vec::new())
            .map_err(|_| OutboundError::Scheme)?;
        let response = self.execute_blocking(request)?;
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        Ok(Fetched {
            status: response.status().as_u16(),
            headers,
            body: response.into_body(),
        })
    }

    /// Sends `request` (any method, with its headers and body) under the same rules as
    /// [`get`](Self::get): the URL's host resolved once and every address checked, the
    /// connection pinned to them, `https` only, no redirect followed, the answer capped.
    ///
    /// # Errors
    /// [`OutboundError`]: refused before sending, or failed.
    pub async fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let client = self.clone();
        tokio::task::spawn_blocking(move || client.execute_blocking(request))
            .await
            .map_err(|err| OutboundError::Failed(err.to_string()))?
    }

    /// [`execute`](Self::execute) on the calling thread, for a library whose HTTP client
    /// is synchronous (openidconnect's `SyncHttpClient` is any `Fn(Request) -> Result<Response, E>`):
    /// call it from a blocking thread, never on the async executor.
    ///
    /// # Errors
    /// [`OutboundError`]: refused before sending, or failed.
    pub fn execute_blocking(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let url = request.uri().to_string();
        let parsed = url::Url::parse(&url).map_err(|_| OutboundError::Scheme)?;
        if !matches!(parsed.scheme(), "https" | "http") || !parsed.username().is_empty() {
            return Err(OutboundError::Scheme);
        }
        let host = parsed.host_str().ok_or(OutboundError::Scheme)?;
        let port = parsed
            .port_or_known_default()
            .ok_or(OutboundError::Scheme)?;
        let addrs =
            self.checked_addresses(host.trim_start_matches('[').trim_end_matches(']'), port)?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_loopback && addrs.iter().all(|addr| addr.ip().is_loopback()) => {}
            _ => return Err(OutboundError::Scheme),
        }
        let mut tls = ureq::tls::TlsConfig::builder();
        if !self.roots.is_empty() {
            let roots: Vec<_> = self
                .roots
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect();
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
        }
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(self.timeout))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            Pinned(addrs),
        );
        let failed = |err: ureq::Error| OutboundError::Failed(err.to_string());
        let mut response = agent.run(request).map_err(failed)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(OutboundError::Redirect(status.as_u16()));
        }
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_bytes)
            .read_to_vec()
            .map_err(|err| match err {
                ureq::Error::BodyExceedsLimit(_) => OutboundError::TooLarge(self.max_bytes),
                err => failed(err),
            })?;
        let mut answer = http::Response::new(body);
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        Ok(answer)
    }

    /// The addresses of `host`, each one checked: all or nothing. The lookup counts
    /// against the fetch's time: a resolver that does not answer in time is a failure.
    fn checked_addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let name = host.to_owned();
        std::thread::spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.take(16).collect::<Vec<SocketAddr>>());
            let _ = tx.send(found);
        });
        let addrs = match rx.recv_timeout(self.timeout) {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(_)) => return Err(OutboundError::Unresolved),
            Err(_) => {
                return Err(OutboundError::Failed(
                    "the host's lookup took too long".into(),
                ))
            }
        };
        if addrs.is_empty() {
            return Err(OutboundError::Unresolved);
        }
        for addr in &addrs {
            let ip = addr.ip();
            let allowed = is_public(ip) || self.allow_loopback && ip.is_loopback();
            if !allowed {
                return Err(OutboundError::Refused(ip));
            }
        }
        Ok(addrs)
    }
}

/// A resolver answering the addresses checked before: the connection goes there.
#[derive(Debug)]
struct Pinned(Vec<SocketAddr>);

impl ureq::unversioned::resolver::Resolver for Pinned {
    fn resolve(
        &self,
        _: &ureq::http::Uri,
        _: &ureq::config::Config,
        _: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        for addr in &self.0 {
            if out.try_push(*addr).is_err() {
                break;
            }
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

/// Whether `ip` is a public unicast address: not private, loopback, link-local, shared
/// (100.64.0.0/10), benchmarking, documentation, multicast, broadcast, reserved,
/// unspecified, unique-local, or an IPv4-mapped or -translated form of one.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // 64:ff9b::/96 (NAT64) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
        return is_public_v4(v4);
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || segments[0] == 0x2001 && segments[1] == 0x0db8
        || segments[..6] == [0, 0, 0, 0, 0, 0])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn private_and_loopback_hosts_are_refused_before_anything_is_sent() {
        let client = OutboundClient::new();
        for url in [
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://10.0.0.1/x",
            "https://localhost/x",
        ] {
            let refused = client.get_blocking(url);
            assert!(
                matches!(refused, Err(OutboundError::Refused(_))),
                "{url}: {refused:?}"
            );
        }
        assert!(matches!(
            client.get_blocking("http://93.184.216.34/x"),
            Err(OutboundError::Scheme)
        ));
        assert!(matches!(
            client.get_blocking("ftp://93.184.216.34/x"),
            Err(OutboundError::Scheme)
        ));
        // Allowed loopback still refuses private ranges.
        let dev = OutboundClient::new().allow_loopback(true);
        assert!(matches!(
            dev.get_blocking("https://192.168.0.1/x"),
            Err(OutboundError::Refused(_))
        ));
    }
}

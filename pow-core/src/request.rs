//! What the engine knows about a request, without a web framework.
//!
//! Flows that record, limit or mail (audit events, rate limits per client, security
//! notices, links in mails, the language of a mail) read the request through
//! [`RequestSource`]. The actix layer implements it for `HttpRequest` (the facts are read
//! once per request, the first time a flow asks); a CLI, a test or another framework fills a
//! [`RequestFacts`] by hand.
//!
//! ```
//! use pow_core::request::{RequestFacts, RequestSource};
//!
//! let facts = RequestFacts {
//!     client_ip: Some("203.0.113.9".parse().unwrap()),
//!     user_agent: Some("curl/8.5".into()),
//!     ..RequestFacts::default()
//! };
//! assert_eq!(facts.facts(&[]).client_ip, facts.client_ip);
//! ```

use std::net::IpAddr;

use ipnet::IpNet;
use unic_langid::LanguageIdentifier;

/// Longest user-agent summary kept (with a session, in an audit event, in a notice).
pub const USER_AGENT_MAX: usize = 120;

/// The facts of one request that flows use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The client's address: the peer, or behind trusted proxies the nearest untrusted
    /// address in `X-Forwarded-For`.
    pub client_ip: Option<IpAddr>,
    /// The start of the user agent ([`USER_AGENT_MAX`] characters).
    pub user_agent: Option<String>,
    /// The `Accept-Language` header.
    pub accept_language: Option<String>,
    /// A language the app chose for this request; it wins over `Accept-Language` when the
    /// messages offer it.
    pub language: Option<LanguageIdentifier>,
    /// Scheme and host the request was sent to (`https://example.com`), for links in mails
    /// when no base URL is configured.
    pub origin: Option<String>,
    /// The session the request is signed in with: `(session id, user id)`.
    pub session: Option<(String, i64)>,
}

impl RequestFacts {
    /// Shortens a user agent to [`USER_AGENT_MAX`] characters.
    pub fn user_agent_summary(user_agent: &str) -> String {
        user_agent.chars().take(USER_AGENT_MAX).collect()
    }
}

/// Where the engine reads a request's facts from.
pub trait RequestSource {
    /// The facts of the request; `trusted_proxies` are the proxies whose
    /// `X-Forwarded-For` is believed.
    fn facts(&self, trusted_proxies: &[IpNet]) -> RequestFacts;
}

impl RequestSource for RequestFacts {
    fn facts(&self, _trusted_proxies: &[IpNet]) -> RequestFacts {
        self.clone()
    }
}

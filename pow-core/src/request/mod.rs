//! What the engine knows about a request, without a web framework.
//!
//! Flows that record, limit or mail (audit events, rate limits per client, security
//! notices, links in mails, the language of a mail) read the request through
//! [`RequestSource`]. A framework layer implements it for its requests (pow-actix's
//! `ActixRequest`, which reads the facts once per request, the first time a flow asks); a
//! CLI or a test fills a [`RequestFacts`] by hand.
//!
//! ```
//! use pow_core::request::{RequestFacts, RequestSource};
//!
//! let facts = RequestFacts {
//!     client_ip: Some("203.0.113.9".parse().unwrap()),
//!     user_agent: Some("curl/8.5".into()),
//!     ..RequestFacts::default()
//! };
//! assert_eq!(facts.facts().client_ip, facts.client_ip);
//! ```

use std::net::IpAddr;

use unic_langid::LanguageIdentifier;

pub(crate) mod head;

pub(crate) use head::RequestCookies;

/// Longest raw user agent kept (in an audit event).
pub const USER_AGENT_MAX: usize = 120;

/// Longest user agent read from a request: enough for any real browser's, so that
/// [`browser_summary`] sees the tokens at its end.
pub const USER_AGENT_READ_MAX: usize = 512;

/// The facts of one request that flows use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The client's address: the peer, or behind trusted proxies the nearest untrusted
    /// address in `X-Forwarded-For`.
    pub client_ip: Option<IpAddr>,
    /// The `User-Agent` header, [`USER_AGENT_READ_MAX`] characters at most. What is kept
    /// of it is shorter: its [`browser_summary`] with a session and in notices, its first
    /// [`USER_AGENT_MAX`] characters in an audit event.
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

/// A readable summary of a user agent for people: the browser and the system
/// (`"Firefox on Linux"`, `"Safari on iPhone"`), the browser alone when the system is not
/// known, and the user agent itself (shortened) when neither is, or when it is an HTTP
/// library or a bot, whose own name says more (`"curl/8.5.0"`).
///
/// ```
/// use pow_core::request::browser_summary;
///
/// let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
/// assert_eq!(browser_summary(firefox), "Firefox on Linux");
/// assert_eq!(browser_summary("curl/8.5.0"), "curl/8.5.0");
/// ```
pub fn browser_summary(user_agent: &str) -> String {
    const UNKNOWN: &str = "UNKNOWN";
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    let Some(parsed) = parsed.filter(|p| {
        p.name != UNKNOWN
            && matches!(
                p.category,
                "pc" | "smartphone" | "mobilephone" | "appliance"
            )
    }) else {
        return RequestFacts::user_agent_summary(user_agent);
    };
    match parsed.os {
        UNKNOWN | "" => parsed.name.to_owned(),
        os => format!("{} on {os}", parsed.name),
    }
}

/// Where the engine reads a request's facts from.
///
/// A framework layer reads the facts that do not change while a request runs (the
/// client's address through the setup's trusted proxies, the user agent, the languages,
/// the origin) once per request, and adds the session and language as they are when
/// asked. A source is `Send + Sync`, so the engine's futures that read it are `Send` and
/// run on a multi-threaded executor (an axum handler, `tokio::spawn`): a framework whose
/// request is neither (actix-web's) hands the engine the facts it read
/// ([`RequestFacts`]) or a client built from them.
pub trait RequestSource: Send + Sync {
    /// The facts of the request.
    fn facts(&self) -> RequestFacts;
}

impl RequestSource for RequestFacts {
    fn facts(&self) -> RequestFacts {
        self.clone()
    }
}

//! What the engine reads of an actix request: its facts, for the flows (see
//! [`crate::request`]), and what the page runner and the routes backend read of it.

use std::net::IpAddr;

use actix_web::{HttpMessage, HttpRequest};
use ipnet::IpNet;

use crate::config::{PowConfig, RouteContext};
use crate::messages::LanguageIdentifier;
use crate::request::RequestFacts;
#[cfg(doc)]
use crate::request::RequestSource;
use crate::session::CurrentSession;
use pow_core::framework::page::PageRequest;
use pow_core::framework::request::{self as engine, read_facts, FactHeader, RequestHead};

/// The facts of a request that do not change while it runs, read once (see
/// [`RequestSource`]): the session and the chosen language are added at each ask.
#[derive(Clone)]
struct ReadOnce(RequestFacts);

/// An actix request as the engine reads it: pass `&ActixRequest(&req).facts()` to a flow.
/// The facts that do not change while the request runs (the client's address through the
/// serving setup's trusted proxies, the user agent, the languages, the origin) are read
/// once per request and kept in it; the session and language are added as they are when
/// asked.
///
/// It is not itself a [`RequestSource`]: an actix request is neither `Send` nor `Sync`,
/// and the engine's futures are, so the engine takes the facts it read
/// ([`RequestFacts`] is a source) or a client built from them
/// ([`CookieSessionHandle`](crate::session::CookieSessionHandle)).
///
/// ```
/// use actix_web::test::TestRequest;
/// use pow_actix::web::ActixRequest;
///
/// let req = TestRequest::get().peer_addr("203.0.113.9:4000".parse().unwrap()).to_http_request();
/// let facts = ActixRequest(&req).facts();
/// assert_eq!(facts.client_ip, Some("203.0.113.9".parse().unwrap()));
/// ```
#[derive(Clone, Copy)]
pub struct ActixRequest<'a>(pub &'a HttpRequest);

impl ActixRequest<'_> {
    /// The facts of the request as they are now.
    pub fn facts(&self) -> RequestFacts {
        let ActixRequest(req) = *self;
        let cached = req.extensions().get::<ReadOnce>().cloned();
        let mut facts = match cached {
            Some(ReadOnce(facts)) => facts,
            None => {
                let facts = read_once(req);
                req.extensions_mut().insert(ReadOnce(facts.clone()));
                facts
            }
        };
        let extensions = req.extensions();
        facts.language = extensions.get::<LanguageIdentifier>().cloned();
        facts.session = extensions
            .get::<CurrentSession>()
            .map(|current| (current.session_id.clone(), current.user.id));
        facts
    }
}

/// Reads the facts of `req` that do not change while it runs, with the trusted proxies of
/// the setup serving it.
fn read_once(req: &HttpRequest) -> RequestFacts {
    #[cfg(test)]
    READS.with(|reads| reads.set(reads.get() + 1));
    let trusted_proxies = crate::session::config(req)
        .map(|config| config.rate_limits().trusted_proxies.clone())
        .unwrap_or_default();
    read_facts(&Head(req), &trusted_proxies)
}

/// An actix request as the engine reads its facts.
struct Head<'a>(&'a HttpRequest);

impl RequestHead for Head<'_> {
    fn method(&self) -> &str {
        self.0.method().as_str()
    }

    fn path_and_query(&self) -> &str {
        let uri = self.0.uri();
        uri.path_and_query()
            .map_or_else(|| self.0.path(), |pq| pq.as_str())
    }

    fn peer(&self) -> Option<IpAddr> {
        self.0.peer_addr().map(|addr| addr.ip())
    }

    fn header_values(&self, header: FactHeader) -> Vec<&str> {
        let values = self
            .0
            .headers()
            .get_all(pow_core::fact_header_name!(header, actix_web::http::header));
        values.filter_map(|value| value.to_str().ok()).collect()
    }

    fn header(&self, header: FactHeader) -> Option<&str> {
        let value = self
            .0
            .headers()
            .get(pow_core::fact_header_name!(header, actix_web::http::header))?;
        value.to_str().ok()
    }

    fn scheme(&self) -> Option<&str> {
        let secure = self.0.app_config().secure();
        (self.0.uri().scheme_str()).or(secure.then_some("https"))
    }

    fn authority(&self) -> Option<&str> {
        let authority = self.0.uri().authority().map(|authority| authority.as_str());
        authority.or_else(|| Some(self.0.app_config().host()))
    }
}

/// The request's origin (the engine's [`origin`](engine::origin)).
pub(crate) fn origin(req: &HttpRequest) -> String {
    engine::origin(&Head(req))
}

#[cfg(test)]
thread_local! {
    /// How many times this thread read a request's facts.
    static READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The client's address: the peer, or behind trusted proxies the nearest untrusted address
/// in `X-Forwarded-For`. `None` without a peer address.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok());
    Some(engine::client_address(
        req.peer_addr()?.ip(),
        forwarded,
        trusted_proxies,
    ))
}

/// What the engine's page runner reads of `req`.
pub(crate) fn page_request(req: &HttpRequest) -> PageRequest {
    PageRequest::read(&Head(req))
}

/// The routes backend's context for `req` on `config`'s mount point.
pub fn routes_ctx<'a>(
    req: &'a HttpRequest,
    config: &'a PowConfig,
    request_path: Option<&'a str>,
) -> RouteContext<'a> {
    RouteContext {
        current_page: current_page(req),
        mount: config.mount_path(),
        request_path,
    }
}

/// The path and query of `req` when it is a `GET` (see [`RouteContext::current_page`]).
pub(crate) fn current_page(req: &HttpRequest) -> Option<&str> {
    (req.method() == actix_web::http::Method::GET).then(|| match req.uri().path_and_query() {
        Some(pq) => pq.as_str(),
        None => req.path(),
    })
}

/// The `request_path` query parameter, if it is a local path.
pub(crate) fn request_path_param(req: &HttpRequest) -> Option<String> {
    crate::config::request_path_param(req.query_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(forwarded) = forwarded {
            req = req.insert_header(("x-forwarded-for", forwarded));
        }
        req.to_http_request()
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let direct = request("203.0.113.9:5000", Some("198.51.100.1"));
        assert_eq!(
            client_ip(&direct, &proxies),
            Some("203.0.113.9".parse().unwrap()),
            "an untrusted peer's header is ignored"
        );
        let proxied = request("10.1.2.3:5000", Some("198.51.100.1, 203.0.113.7, 10.9.9.9"));
        assert_eq!(
            client_ip(&proxied, &proxies),
            Some("203.0.113.7".parse().unwrap()),
            "the nearest untrusted hop is the client; what it forwarded is not believed"
        );
        let no_header = request("10.1.2.3:5000", None);
        assert_eq!(
            client_ip(&no_header, &proxies),
            Some("10.1.2.3".parse().unwrap())
        );
    }

    #[test]
    fn facts_are_read_twice_from_one_request() {
        // The connection info caches itself in the extensions on first use.
        let req = TestRequest::default()
            .insert_header(("host", "example.com"))
            .to_http_request();
        assert_eq!(ActixRequest(&req).facts(), ActixRequest(&req).facts());
    }

    #[test]
    fn facts_carry_the_user_agent_language_and_origin() {
        let req = TestRequest::default()
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .insert_header(("user-agent", "x".repeat(600)))
            .insert_header(("accept-language", "fr, en;q=0.5"))
            .insert_header(("host", "example.com"))
            .to_http_request();
        let facts = ActixRequest(&req).facts();
        assert_eq!(facts.client_ip, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(facts.user_agent.map(|ua| ua.len()), Some(512));
        assert_eq!(facts.accept_language.as_deref(), Some("fr, en;q=0.5"));
        assert_eq!(facts.origin.as_deref(), Some("http://example.com"));
        assert_eq!(facts.session, None);
    }

    #[test]
    fn facts_are_read_once_per_request_behind_the_setups_proxies() {
        let limits = crate::limits::RateLimits {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..crate::limits::RateLimits::default()
        };
        let config = crate::PowConfig::builder("s".repeat(64))
            .rate_limits(limits)
            .build()
            .unwrap();
        let req = TestRequest::default()
            .peer_addr("10.1.2.3:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.7"))
            .to_http_request();
        req.extensions_mut().insert(config);
        let before = READS.with(std::cell::Cell::get);
        for _ in 0..7 {
            assert_eq!(
                ActixRequest(&req).facts().client_ip,
                Some("203.0.113.7".parse().unwrap()),
                "the setup's trusted proxy forwarded the client's address"
            );
        }
        assert_eq!(READS.with(std::cell::Cell::get) - before, 1, "read once");
        // What changes while the request runs is read at each ask.
        req.extensions_mut()
            .insert("fr".parse::<LanguageIdentifier>().unwrap());
        assert_eq!(
            ActixRequest(&req).facts().language,
            Some("fr".parse().unwrap())
        );
    }
}

//! The facts of a request, read when a handler or the engine asks for them (the signed-in
//! path of [`PowLayer`](crate::PowLayer) does not need them).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::header::HeaderMap;
use axum::http::request::Parts;
use axum::http::{Method, Uri};
use pow_core::framework::page::PageRequest;
use pow_core::framework::request::{self as engine, read_facts, FactHeader, RequestHead};
use pow_core::request::RequestFacts;
use pow_core::PowConfig;

/// An axum request as the engine reads it.
struct Head<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    uri: &'a Uri,
    peer: Option<IpAddr>,
}

impl RequestHead for Head<'_> {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn path_and_query(&self) -> &str {
        (self.uri.path_and_query()).map_or_else(|| self.uri.path(), |pq| pq.as_str())
    }

    fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    fn header_values(&self, header: FactHeader) -> Vec<&str> {
        let values = self
            .headers
            .get_all(pow_core::fact_header_name!(header, axum::http::header))
            .into_iter();
        values.filter_map(|value| value.to_str().ok()).collect()
    }

    fn header(&self, header: FactHeader) -> Option<&str> {
        let value = self
            .headers
            .get(pow_core::fact_header_name!(header, axum::http::header))?;
        value.to_str().ok()
    }

    fn scheme(&self) -> Option<&str> {
        self.uri.scheme_str()
    }

    fn authority(&self) -> Option<&str> {
        self.uri.authority().map(|authority| authority.as_str())
    }
}

impl<'a> Head<'a> {
    /// The head of the request `parts`, with its peer's address where axum gives it.
    fn of(parts: &'a Parts) -> Self {
        let peer = (parts.extensions.get::<ConnectInfo<SocketAddr>>()).map(|info| info.0.ip());
        Self {
            method: &parts.method,
            headers: &parts.headers,
            uri: &parts.uri,
            peer,
        }
    }
}

/// The facts of the request `parts` (the engine's [`read_facts`]), with `config`'s
/// trusted proxies; the session is the caller's to add.
pub(crate) fn read(parts: &Parts, config: &PowConfig) -> RequestFacts {
    read_facts(&Head::of(parts), &config.rate_limits().trusted_proxies)
}

/// The request's origin (the engine's [`origin`](engine::origin)).
pub(crate) fn origin(method: &Method, headers: &HeaderMap, uri: &Uri) -> String {
    let head = Head {
        method,
        headers,
        uri,
        peer: None,
    };
    engine::origin(&head)
}

/// What the engine's page runner reads of the request `parts`.
pub(crate) fn page_request(parts: &Parts) -> PageRequest {
    PageRequest::read(&Head::of(parts))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn request(headers: &[(&str, &str)]) -> Parts {
        let mut req = axum::http::Request::builder().uri("/x");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo("10.0.0.2:5000".parse::<SocketAddr>().unwrap()));
        parts
    }

    #[test]
    fn facts_carry_the_user_agent_language_and_origin() {
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let ua = "x".repeat(600);
        let req = request(&[
            ("user-agent", &ua),
            ("accept-language", "fr, en;q=0.5"),
            ("host", "example.com"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        let facts = read(&req, &config);
        assert_eq!(
            facts.client_ip,
            Some("10.0.0.2".parse().unwrap()),
            "no trusted proxy"
        );
        assert_eq!(facts.user_agent.map(|ua| ua.len()), Some(512));
        assert_eq!(facts.accept_language.as_deref(), Some("fr, en;q=0.5"));
        assert_eq!(facts.origin.as_deref(), Some("http://example.com"));
        assert_eq!(facts.session, None);
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_client_counts() {
        let limits = pow_core::limits::RateLimits {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..Default::default()
        };
        let config = PowConfig::builder("s".repeat(64))
            .rate_limits(limits)
            .build()
            .unwrap();
        let req = request(&[("x-forwarded-for", "198.51.100.7, 10.0.0.9")]);
        assert_eq!(
            read(&req, &config).client_ip,
            Some("198.51.100.7".parse().unwrap())
        );
    }

    #[test]
    fn the_origin_follows_the_forwarding_headers() {
        let uri: axum::http::Uri = "/x".parse().unwrap();
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, value.parse().unwrap());
            }
            map
        };
        assert_eq!(
            origin(&Method::GET, &headers(&[("host", "a.example")]), &uri),
            "http://a.example"
        );
        assert_eq!(
            origin(
                &Method::GET,
                &headers(&[
                    ("host", "a.example"),
                    ("x-forwarded-proto", "https"),
                    ("x-forwarded-host", "b.example")
                ]),
                &uri
            ),
            "https://b.example"
        );
        assert_eq!(
            origin(
                &Method::GET,
                &headers(&[
                    ("host", "a.example"),
                    ("forwarded", "for=1.2.3.4;proto=https;host=\"c.example\"")
                ]),
                &uri
            ),
            "https://c.example"
        );
    }
}

//! The facts of a request, read when a handler or the engine asks for them (the signed-in
//! path of [`PowLayer`](crate::PowLayer) does not need them).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::header::{self, HeaderMap, HeaderName};
use axum::http::request::Parts;
use pow_core::request::{client_address, RequestFacts, USER_AGENT_READ_MAX};
use pow_core::PowConfig;

/// Header names read per request, made once (a name given as a string is parsed on
/// every lookup).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The facts of the request `parts`, with `config`'s trusted proxies; the session is the
/// caller's to add.
pub(crate) fn read(parts: &Parts, config: &PowConfig) -> RequestFacts {
    let headers = &parts.headers;
    let header = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let forwarded_for = headers
        .get_all(X_FORWARDED_FOR)
        .into_iter()
        .filter_map(|value| value.to_str().ok());
    RequestFacts {
        client_ip: peer
            .map(|peer| client_address(peer, forwarded_for, &config.rate_limits().trusted_proxies)),
        user_agent: header(header::USER_AGENT)
            .map(|ua| ua.chars().take(USER_AGENT_READ_MAX).collect()),
        accept_language: header(header::ACCEPT_LANGUAGE).map(str::to_owned),
        language: None,
        origin: Some(origin(headers, &parts.uri)),
        session: None,
    }
}

/// Scheme and host the request was sent to, read as actix-web's connection info reads
/// them: the `Forwarded` header's `proto` and `host`, then `X-Forwarded-Proto` and
/// `X-Forwarded-Host`, then the `Host` header and the URI.
pub(crate) fn origin(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let first = |name: HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let forwarded_values = headers.get_all(header::FORWARDED);
    let forwarded = |key: &str| {
        forwarded_values
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([';', ',']))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case(key)
                    .then(|| value.trim().trim_matches('"'))
            })
    };
    let scheme = forwarded("proto")
        .or_else(|| first(X_FORWARDED_PROTO))
        .or(uri.scheme_str())
        .unwrap_or("http");
    let host = forwarded("host")
        .or_else(|| first(X_FORWARDED_HOST))
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
        .or(uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost:8080");
    let mut origin = String::with_capacity(scheme.len() + 3 + host.len());
    for part in [scheme, "://", host] {
        origin.push_str(part);
    }
    origin
}

/// The host the request was sent to, read as [`origin`] reads it (what actix-web's
/// connection info calls the host).
pub(crate) fn host(parts: &Parts) -> String {
    let origin = origin(&parts.headers, &parts.uri);
    match origin.split_once("://") {
        Some((_, host)) => host.to_owned(),
        None => origin,
    }
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
            origin(&headers(&[("host", "a.example")]), &uri),
            "http://a.example"
        );
        assert_eq!(
            origin(
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

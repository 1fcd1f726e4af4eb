//! How a framework layer reads a request's head for the engine: the client's address
//! through trusted proxies, the cookies, the headers the facts come from, and the facts
//! themselves ([`read_facts`]). Reached as [`framework::request`](crate::framework::request).

use std::net::IpAddr;

use super::{RequestFacts, USER_AGENT_READ_MAX};

/// The client's address: the `peer`, or behind trusted proxies the nearest address in the
/// `X-Forwarded-For` header values that no trusted proxy added. Every framework layer
/// reads it this way.
///
/// ```
/// use pow_core::framework::request::client_address;
///
/// let proxy = "10.0.0.2".parse().unwrap();
/// let trusted = ["10.0.0.0/8".parse().unwrap()];
/// let client = client_address(proxy, ["198.51.100.7, 10.0.0.9"], &trusted);
/// assert_eq!(client, "198.51.100.7".parse::<std::net::IpAddr>().unwrap());
/// // From an untrusted peer the header is not believed.
/// let peer = "203.0.113.9".parse().unwrap();
/// assert_eq!(client_address(peer, ["198.51.100.7"], &trusted), peer);
/// ```
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted_proxies: &[ipnet::IpNet],
) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    // Walk from the proxy outwards: the first address no trusted proxy added is the client.
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

/// The cookies a request carries, as `(name, value)` pairs in the order its `Cookie`
/// headers list them: how every framework layer reads them for the engine (a cookie
/// that is not `name=value` is skipped; values are kept as sent).
///
/// ```
/// use pow_core::framework::request::RequestCookies;
///
/// let cookies = RequestCookies::from_headers(["a=1; b=2", "a=3"]);
/// assert_eq!(cookies.get("a"), Some("1"), "the first, as browsers send the most specific first");
/// assert_eq!(cookies.get("b"), Some("2"));
/// assert_eq!(cookies.get("c"), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCookies(Vec<(String, String)>);

impl RequestCookies {
    /// The cookies of a request's `Cookie` header values.
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            values
                .into_iter()
                .flat_map(|value| value.split(';'))
                .filter_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    Some((name.to_owned(), value.to_owned()))
                })
                .collect(),
        )
    }

    /// The value of the first cookie named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(cookie, _)| cookie == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the request carries no cookie.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<(String, String)>> for RequestCookies {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }
}

/// A header the engine reads of a request (for its [facts](read_facts), or for a page
/// request's [`PageRequest::read`](crate::framework::page::PageRequest::read)), by which a
/// layer looks it up (its own header-name constants: no name is parsed per request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FactHeader {
    /// `Forwarded` (RFC 7239).
    Forwarded,
    /// `X-Forwarded-For`.
    XForwardedFor,
    /// `X-Forwarded-Proto`.
    XForwardedProto,
    /// `X-Forwarded-Host`.
    XForwardedHost,
    /// `Host`.
    Host,
    /// `User-Agent`.
    UserAgent,
    /// `Accept-Language`.
    AcceptLanguage,
    /// `Referer`.
    Referer,
    /// `Accept`.
    Accept,
    /// `Content-Type`.
    ContentType,
    /// `X-CSRF-Token`: a form's token sent by a script.
    CsrfToken,
    /// `X-Captcha-Response` ([`CAPTCHA_HEADER`](crate::captcha::CAPTCHA_HEADER)).
    CaptchaResponse,
}

impl FactHeader {
    /// The header's name, in lower case.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::XForwardedFor => "x-forwarded-for",
            Self::XForwardedProto => "x-forwarded-proto",
            Self::XForwardedHost => "x-forwarded-host",
            Self::Host => "host",
            Self::UserAgent => "user-agent",
            Self::AcceptLanguage => "accept-language",
            Self::Referer => "referer",
            Self::Accept => "accept",
            Self::ContentType => "content-type",
            Self::CsrfToken => "x-csrf-token",
            Self::CaptchaResponse => crate::captcha::CAPTCHA_HEADER,
        }
    }
}

/// A [`FactHeader`]'s name as a framework's `HeaderName` constant, for a layer's
/// [`RequestHead`]: `fact_header_name!(header, axum::http::header)` (the module with the
/// framework's `HeaderName` and its standard names). Constants, so no name is parsed per
/// request.
///
/// ```
/// use pow_core::framework::request::FactHeader;
///
/// /// A framework's header names, as the `http` crate has them.
/// mod header {
///     #[derive(Debug, PartialEq)]
///     pub struct HeaderName(pub &'static str);
///     impl HeaderName {
///         pub const fn from_static(name: &'static str) -> Self {
///             Self(name)
///         }
///     }
///     pub const FORWARDED: HeaderName = HeaderName("forwarded");
///     pub const HOST: HeaderName = HeaderName("host");
///     pub const USER_AGENT: HeaderName = HeaderName("user-agent");
///     pub const ACCEPT_LANGUAGE: HeaderName = HeaderName("accept-language");
///     pub const REFERER: HeaderName = HeaderName("referer");
///     pub const ACCEPT: HeaderName = HeaderName("accept");
///     pub const CONTENT_TYPE: HeaderName = HeaderName("content-type");
/// }
///
/// let name = pow_core::fact_header_name!(FactHeader::XForwardedFor, header);
/// assert_eq!(name, header::HeaderName("x-forwarded-for"));
/// assert_eq!(pow_core::fact_header_name!(FactHeader::Host, header), header::HOST);
/// ```
#[macro_export]
macro_rules! fact_header_name {
    ($header:expr, $($module:ident)::+) => {{
        use $($module)::+ as names;
        const X_FORWARDED_FOR: names::HeaderName = names::HeaderName::from_static("x-forwarded-for");
        const X_FORWARDED_PROTO: names::HeaderName =
            names::HeaderName::from_static("x-forwarded-proto");
        const X_FORWARDED_HOST: names::HeaderName =
            names::HeaderName::from_static("x-forwarded-host");
        const X_CSRF_TOKEN: names::HeaderName = names::HeaderName::from_static("x-csrf-token");
        const X_CAPTCHA_RESPONSE: names::HeaderName =
            names::HeaderName::from_static($crate::captcha::CAPTCHA_HEADER);
        match $header {
            $crate::framework::request::FactHeader::Forwarded => names::FORWARDED,
            $crate::framework::request::FactHeader::XForwardedFor => X_FORWARDED_FOR,
            $crate::framework::request::FactHeader::XForwardedProto => X_FORWARDED_PROTO,
            $crate::framework::request::FactHeader::XForwardedHost => X_FORWARDED_HOST,
            $crate::framework::request::FactHeader::Host => names::HOST,
            $crate::framework::request::FactHeader::UserAgent => names::USER_AGENT,
            $crate::framework::request::FactHeader::AcceptLanguage => names::ACCEPT_LANGUAGE,
            $crate::framework::request::FactHeader::Referer => names::REFERER,
            $crate::framework::request::FactHeader::Accept => names::ACCEPT,
            $crate::framework::request::FactHeader::ContentType => names::CONTENT_TYPE,
            $crate::framework::request::FactHeader::CsrfToken => X_CSRF_TOKEN,
            $crate::framework::request::FactHeader::CaptchaResponse => X_CAPTCHA_RESPONSE,
            other => names::HeaderName::from_static(other.name()),
        }
    }};
}

/// What a framework layer reads of a request for its [facts](read_facts) and for the page
/// runner ([`PageRequest::read`](crate::framework::page::PageRequest::read)): the method,
/// the path, the peer's address, the URI's scheme and authority, and the headers (values
/// that are not visible ASCII are passed over).
pub trait RequestHead {
    /// The request's method (`GET`), as sent.
    fn method(&self) -> &str;

    /// The request's path and query (`/session/new?request_path=%2F`), as sent.
    fn path_and_query(&self) -> &str;

    /// The address of the connection's peer (a proxy, or the client).
    fn peer(&self) -> Option<IpAddr>;

    /// Every value of the header, in order.
    fn header_values(&self, header: FactHeader) -> Vec<&str>;

    /// The first value of the header.
    fn header(&self, header: FactHeader) -> Option<&str>;

    /// The scheme of the request's URI (`https`) when it has one, else the connection's
    /// (`https` for a TLS listener), if known.
    fn scheme(&self) -> Option<&str>;

    /// The authority of the request's URI (`example.com:8443`), if it has one.
    fn authority(&self) -> Option<&str>;
}

/// The facts of the request `head` (the client's address through `trusted_proxies`, the
/// user agent cut to [`USER_AGENT_READ_MAX`] characters, the `Accept-Language` header,
/// the [`origin`]), without session or chosen language, which a layer adds as they are
/// when asked. Every framework layer reads a request's facts with this.
///
/// ```
/// use pow_core::framework::request::{read_facts, FactHeader, RequestHead};
///
/// /// A request as a test writes it.
/// struct Head(Vec<(&'static str, &'static str)>);
///
/// impl RequestHead for Head {
///     fn method(&self) -> &str {
///         "GET"
///     }
///     fn path_and_query(&self) -> &str {
///         "/"
///     }
///     fn peer(&self) -> Option<std::net::IpAddr> {
///         "10.0.0.2".parse().ok()
///     }
///     fn header_values(&self, header: FactHeader) -> Vec<&str> {
///         let named = self.0.iter().filter(|(name, _)| *name == header.name());
///         named.map(|(_, value)| *value).collect()
///     }
///     fn header(&self, header: FactHeader) -> Option<&str> {
///         self.header_values(header).first().copied()
///     }
///     fn scheme(&self) -> Option<&str> {
///         None
///     }
///     fn authority(&self) -> Option<&str> {
///         None
///     }
/// }
///
/// let head = Head(vec![("host", "example.com"), ("x-forwarded-for", "198.51.100.7")]);
/// let facts = read_facts(&head, &["10.0.0.0/8".parse().unwrap()]);
/// assert_eq!(facts.client_ip, "198.51.100.7".parse().ok());
/// assert_eq!(facts.origin.as_deref(), Some("http://example.com"));
/// // Without a trusted proxy the peer is the client.
/// assert_eq!(read_facts(&head, &[]).client_ip, "10.0.0.2".parse().ok());
/// ```
pub fn read_facts(head: &dyn RequestHead, trusted_proxies: &[ipnet::IpNet]) -> RequestFacts {
    // Read only when the peer is a trusted proxy (`client_address` iterates it then).
    let forwarded_for =
        std::iter::once(FactHeader::XForwardedFor).flat_map(|header| head.header_values(header));
    RequestFacts {
        client_ip: head
            .peer()
            .map(|peer| client_address(peer, forwarded_for, trusted_proxies)),
        user_agent: head
            .header(FactHeader::UserAgent)
            .map(|ua| ua.chars().take(USER_AGENT_READ_MAX).collect()),
        accept_language: head.header(FactHeader::AcceptLanguage).map(str::to_owned),
        language: None,
        origin: Some(origin(head)),
        session: None,
    }
}

/// The request's origin (`https://example.com`) as its proxies forward it: scheme and host
/// from the `Forwarded` header, else `X-Forwarded-Proto` / `X-Forwarded-Host` (their first
/// value), else the URI and the `Host` header (`http`, `localhost:8080` when nothing says).
/// What a browser transport compares a request's `Origin` with, and a mail's links start
/// with when the setup has no `base_url` (configure one in production: these headers are
/// the client's to write where no proxy overwrites them).
pub fn origin(head: &dyn RequestHead) -> String {
    let first = |header: FactHeader| {
        head.header(header)
            .and_then(|value| value.split(',').next())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let forwarded_values = head.header_values(FactHeader::Forwarded);
    let forwarded = |key: &str| {
        forwarded_values
            .iter()
            .flat_map(|value| value.split([';', ',']))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case(key)
                    .then(|| value.trim().trim_matches('"'))
            })
    };
    let scheme = forwarded("proto")
        .or_else(|| first(FactHeader::XForwardedProto))
        .or_else(|| head.scheme())
        .unwrap_or("http");
    let host = forwarded("host")
        .or_else(|| first(FactHeader::XForwardedHost))
        .or_else(|| head.header(FactHeader::Host))
        .or_else(|| head.authority())
        .unwrap_or("localhost:8080");
    let mut origin = String::with_capacity(scheme.len() + 3 + host.len());
    for part in [scheme, "://", host] {
        origin.push_str(part);
    }
    origin
}

/// The host (and port) of the request's [`origin`].
pub fn host(head: &dyn RequestHead) -> String {
    let origin = origin(head);
    match origin.split_once("://") {
        Some((_, host)) => host.to_owned(),
        None => origin,
    }
}

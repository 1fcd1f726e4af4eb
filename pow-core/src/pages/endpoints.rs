//! Protocol endpoints: routes that speak a protocol of their own rather than pages or the
//! JSON API's envelope (an OAuth token endpoint, a JWKS document, discovery metadata, a
//! SAML assertion consumer, SCIM resources).
//!
//! An [`EndpointRoute`] is written once, on the engine: its handler takes the neutral
//! [`EndpointRequest`] (method, path, query, headers, body, the request's facts) and answers
//! an [`HttpAnswer`]. It runs outside the page pipeline: no cookie session, no CSRF check
//! (a protocol endpoint authenticates its caller itself: a client secret, a signed
//! message, a bearer token), no envelope. Every framework layer mounts the endpoints of the
//! enabled extensions beside the pages, under the setup's mount point, and only translates.
//!
//! ```
//! use pow_core::pages::endpoints::{EndpointRequest, EndpointRoute};
//! use pow_core::pages::routes::Verb;
//! use pow_core::pages::HttpAnswer;
//!
//! let route = EndpointRoute::new(Verb::Get, "/.well-known/example", |_config, req| {
//!     Box::pin(async move {
//!         let hello = serde_json::json!({ "path": req.path });
//!         HttpAnswer::json_document(200, &hello, Some("public, max-age=60"))
//!     })
//! });
//! assert_eq!(route.path, "/.well-known/example");
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::routes::{PathParams, QueryParams, Verb};
use super::HttpAnswer;
use crate::config::PowConfig;
use crate::request::RequestFacts;

/// The largest body an endpoint reads (64 KiB); a framework layer answers `413` to a
/// longer one before any handler runs.
pub const MAX_BODY: usize = 64 * 1024;

/// The most headers an endpoint request keeps; the rest are dropped unread.
pub const MAX_HEADERS: usize = 64;

/// A request to a protocol endpoint, as a framework layer read it.
#[derive(Clone, Debug, Default)]
pub struct EndpointRequest {
    /// The method.
    pub method: Option<Verb>,
    /// The path, as the client sent it.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// The headers that are valid text, lowercase names, in order (at most
    /// [`MAX_HEADERS`]).
    pub headers: Vec<(String, String)>,
    /// The body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
    /// The request's facts: the client's address through the setup's trusted proxies,
    /// its user agent, the origin.
    pub facts: RequestFacts,
    /// The path's `{name}` segments.
    pub params: PathParams,
}

impl EndpointRequest {
    /// The headers a framework layer keeps of a request's `(name, value)` pairs: those whose
    /// value is visible ASCII (tabs too), at most [`MAX_HEADERS`], in order.
    ///
    /// ```
    /// use pow_core::pages::endpoints::EndpointRequest;
    ///
    /// let kept = EndpointRequest::headers_of([
    ///     ("content-type", b"application/json".as_slice()),
    ///     ("x-binary", b"\xff\xfe".as_slice()),
    /// ]);
    /// assert_eq!(kept, [("content-type".to_owned(), "application/json".to_owned())]);
    /// ```
    pub fn headers_of<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Vec<(String, String)> {
        pairs
            .into_iter()
            .filter(|(_, value)| value.iter().all(|&b| b == b'\t' || (32..127).contains(&b)))
            .filter_map(|(name, value)| {
                Some((name.to_owned(), std::str::from_utf8(value).ok()?.to_owned()))
            })
            .take(MAX_HEADERS)
            .collect()
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(have, _)| have == name)
            .map(|(_, value)| value.as_str())
    }

    /// The query's parameters.
    pub fn query_params(&self) -> QueryParams {
        QueryParams::parse(&self.query)
    }

    /// The body's parameters when it is a form (`application/x-www-form-urlencoded`),
    /// else `None`.
    pub fn form(&self) -> Option<Vec<(String, String)>> {
        let media = self.header("content-type")?.split(';').next()?.trim();
        media
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            .then(|| {
                url::form_urlencoded::parse(&self.body)
                    .into_owned()
                    .collect()
            })
    }

    /// The request's origin (`https://example.com`), as its facts read it.
    pub fn origin(&self) -> Option<&str> {
        self.facts.origin.as_deref()
    }
}

/// What an endpoint's handler returns.
pub type EndpointFuture = Pin<Box<dyn Future<Output = HttpAnswer> + Send>>;

/// An endpoint's handler: the serving setup and the request.
pub type EndpointHandler = Arc<dyn Fn(PowConfig, EndpointRequest) -> EndpointFuture + Send + Sync>;

/// One protocol endpoint: see the [module](self).
#[derive(Clone)]
pub struct EndpointRoute {
    /// The method.
    pub verb: Verb,
    /// The path under the setup's mount point, with `{name}` for a path segment (made
    /// from settings for some: a protected resource's metadata path).
    pub path: Cow<'static, str>,
    /// The extension serving it (`None`: the core).
    pub extension: Option<&'static str>,
    /// The handler.
    pub handler: EndpointHandler,
}

impl std::fmt::Debug for EndpointRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRoute")
            .field("verb", &self.verb)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EndpointRoute {
    /// An endpoint of `verb` at `path` answered by `handler`.
    pub fn new<F>(verb: Verb, path: impl Into<Cow<'static, str>>, handler: F) -> Self
    where
        F: Fn(PowConfig, EndpointRequest) -> EndpointFuture + Send + Sync + 'static,
    {
        Self {
            verb,
            path: path.into(),
            extension: None,
            handler: Arc::new(handler),
        }
    }

    /// An endpoint of extension `name`, whose path the routes backend may move.
    pub fn of_extension(mut self, name: &'static str) -> Self {
        self.extension = Some(name);
        self
    }

    /// Where the endpoint is mounted under the setup's mount point.
    pub fn mounted_path(&self, config: &PowConfig) -> String {
        match self.extension {
            Some(name) => config.routes().extension_route(name, &self.path),
            None => self.path.to_string(),
        }
    }

    /// Runs the handler.
    pub fn call(&self, config: PowConfig, request: EndpointRequest) -> EndpointFuture {
        (self.handler)(config, request)
    }
}

/// The enabled extensions' endpoints grouped by mounted path, in order: what a framework
/// layer mounts, one resource per path. An endpoint at a page route's path is left out
/// (and logged): a path is either a page or an endpoint.
pub fn by_path(config: &PowConfig) -> Vec<(String, Vec<EndpointRoute>)> {
    let pages: Vec<String> = super::routes::page_routes(config)
        .iter()
        .map(|route| route.mounted_path(config))
        .collect();
    let mut grouped: Vec<(String, Vec<EndpointRoute>)> = Vec::new();
    for route in config.extensions().endpoints() {
        let path = route.mounted_path(config);
        if pages.contains(&path) {
            tracing::error!(%path, "an endpoint at a page route's path is not mounted");
            continue;
        }
        match grouped.iter_mut().find(|(have, _)| *have == path) {
            Some((_, routes)) => routes.push(route.clone()),
            None => grouped.push((path, vec![route.clone()])),
        }
    }
    grouped
}

/// The route of `routes` (one path's) for `verb`; `HEAD` runs a `GET`'s.
pub fn pick(routes: &[EndpointRoute], verb: Verb) -> Option<&EndpointRoute> {
    routes.iter().find(|route| route.verb == verb)
}

/// The `405` answer for a path whose routes take other methods, with `Allow`.
pub fn not_allowed(routes: &[EndpointRoute]) -> HttpAnswer {
    let allow = routes
        .iter()
        .map(|route| route.verb.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut answer = HttpAnswer::text(405, "Method Not Allowed", Some("no-store"));
    answer.headers.push(("allow", allow));
    answer
}

/// The `413` answer to a body over [`MAX_BODY`].
pub fn too_large() -> HttpAnswer {
    HttpAnswer::text(413, "Payload Too Large", Some("no-store"))
}

/// The registration of extensions' protocol endpoints, and where the setup's are read.
impl crate::extension::ExtensionBuilder {
    /// A protocol endpoint the extension serves, written once on the engine
    /// ([`EndpointRoute`]): every framework layer
    /// mounts it beside the pages, under the setup's mount point, outside the page
    /// pipeline (no cookie session, no CSRF check, no envelope).
    pub fn endpoint(&mut self, route: EndpointRoute) -> &mut Self {
        let name = self.name();
        self.add(route.of_extension(name))
    }
}

impl crate::extension::Extensions {
    /// The protocol endpoints the extensions serve
    /// ([`ExtensionBuilder::endpoint`](crate::extension::ExtensionBuilder::endpoint)), in
    /// order.
    pub fn endpoints(&self) -> &[EndpointRoute] {
        self.all()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(content_type: &str, body: &str) -> EndpointRequest {
        EndpointRequest {
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
            ..EndpointRequest::default()
        }
    }

    #[test]
    fn a_form_is_read_only_from_a_form_body() {
        let form = request(
            "application/x-www-form-urlencoded; charset=utf-8",
            "a=1&b=x+y",
        )
        .form()
        .unwrap();
        assert_eq!(
            form,
            vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
        );
        assert!(request("application/json", "{\"a\":1}").form().is_none());
        assert!(EndpointRequest::default().form().is_none());
    }

    #[test]
    fn not_allowed_names_the_methods_there_are() {
        let route = EndpointRoute::new(Verb::Post, "/token", |_, _| {
            Box::pin(async { HttpAnswer::text(200, "ok", None) })
        });
        let answer = not_allowed(std::slice::from_ref(&route));
        assert_eq!(answer.status, 405);
        assert_eq!(answer.header("allow"), Some("POST"));
        assert!(pick(&[route], Verb::Get).is_none());
    }
}

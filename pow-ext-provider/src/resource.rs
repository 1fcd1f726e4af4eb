//! Resource servers: an API or an MCP server that accepts this provider's access tokens.
//!
//! A [`Resource`] is declared on the provider; a client names it in its authorization
//! request (`resource`, RFC 8707) and the tokens it gets are bound to it (their audience):
//! a token for one resource is refused by every other. The resource's metadata (RFC 9728)
//! is served at `/.well-known/oauth-protected-resource` followed by the resource's path, and
//! a refused request is answered `401` with `WWW-Authenticate: Bearer resource_metadata=…`,
//! which is how an MCP client finds the authorization server.
//!
//! [`Resource::guard`] is the guard, on the engine: each framework layer's `RequireAccess`
//! runs it before a route's handler and hands the handler the [`ResourceAccess`]; [`Resource::check`] is the same check for a
//! handler that reads the header itself.
//!
//! Its access tokens are opaque unless it asks for JWTs ([`Resource::jwt_access_tokens`]):
//! then they are JWT access tokens (RFC 9068, `typ: at+jwt`, `aud` the resource) signed
//! with the provider's key, which a resource server of its own can read. They are recorded
//! in the store all the same, so the guard, introspection and revocation treat both forms
//! alike and a revoked JWT is refused at its next use.
//!
//! ```
//! use pow_ext_provider::{Provider, Resource};
//!
//! let mcp = Resource::new("https://example.com/mcp").scopes(["notes:read"]);
//! let provider = Provider::new().scopes(["notes:read"]).resource(mcp.clone());
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(provider)
//!     .build()?;
//! assert_eq!(
//!     mcp.metadata_url(&config),
//!     "https://example.com/.well-known/oauth-protected-resource/mcp"
//! );
//! # Ok::<_, pow_core::PowError>(())
//! ```
//!
//! A handler sends the refusal as it is, with the function its framework layer has for an
//! engine's answer ([`HttpAnswer`]): the guide's
//! [protecting an MCP server](https://github.com/pow-rs/pow-rs/blob/main/guides/provider.md#protecting-an-mcp-server-or-an-api)
//! shows it on both frameworks.

use pow_core::api::routes::bearer_of;
use pow_core::api::{AccessFuture, AccessGuard};
use pow_core::pages::HttpAnswer;
use pow_core::{PowConfig, PowError};
use serde_json::{json, Value};

use crate::tokens::Tokens;
use crate::Provider;

/// The path the metadata of every resource is served under, followed by its own path.
pub const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// A resource server the provider issues tokens for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    uri: String,
    scopes: Vec<String>,
    name: Option<String>,
    jwt: bool,
    open: bool,
}

/// What a valid token gives a resource's handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceAccess {
    /// The user the token acts for; `None` for a client acting for itself (the client
    /// credentials grant).
    pub user_id: Option<i64>,
    /// The client that holds it.
    pub client_id: String,
    /// Its scopes.
    pub scopes: Vec<String>,
}

impl Resource {
    /// The resource at `uri` (`https://example.com/mcp`): an absolute `https` URI (or
    /// `http` to a loopback address) without a fragment, as clients send it.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            scopes: Vec::new(),
            name: None,
            jwt: false,
            open: false,
        }
    }

    /// The scopes its metadata lists (each one the provider offers). The default is none.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The name its metadata and the consent page show. The default is its URI.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Its access tokens are JWTs (RFC 9068): header `typ: at+jwt`, claims `iss`, `sub`
    /// (the user's id, or the client's for a client acting for itself), `aud` (this URI),
    /// `client_id`, `scope`, `iat`, `exp`, `jti` and `auth_time` with a user, signed with the
    /// provider's current key (its `kid`; the JWKS publishes it). Each is still recorded
    /// in the store, so revocation, introspection and the guard stay current. A refreshed
    /// grant gets JWTs again. The default is opaque tokens.
    ///
    /// ```
    /// use pow_ext_provider::{Provider, Resource, SigningAlgorithm};
    ///
    /// let api = Resource::new("https://api.example.com").jwt_access_tokens();
    /// assert!(api.issues_jwt_access_tokens());
    /// let provider = Provider::new()
    ///     .resource(api)
    ///     .signing_algorithm(SigningAlgorithm::Es256);
    /// let config = pow_core::PowConfig::builder("s".repeat(64))
    ///     .base_url("https://example.com")
    ///     .extension(provider)
    ///     .build()?;
    /// let provider = Provider::of(&config).expect("enabled");
    /// let discovery = pow_ext_provider::endpoints::metadata(&config, provider);
    /// assert_eq!(
    ///     discovery["id_token_signing_alg_values_supported"],
    ///     serde_json::json!(["ES256"])
    /// );
    /// # Ok::<_, pow_core::PowError>(())
    /// ```
    pub fn jwt_access_tokens(mut self) -> Self {
        self.jwt = true;
        self
    }

    /// Lets clients nobody vouched for get its tokens: clients known by their metadata
    /// document (CIMD, [`Provider::client_metadata_documents`]) and clients that
    /// registered themselves ([`Provider::dynamic_registration`]), as MCP clients are.
    /// Such clients have no list of resources of their own, so they may ask only for the
    /// resources open to them; a registered client needs the resource in its own list
    /// ([`ClientRegistration::resource`](crate::ClientRegistration::resource)) either way.
    /// The user still consents to each resource. The default is closed.
    ///
    /// ```
    /// use pow_ext_provider::Resource;
    ///
    /// let mcp = Resource::new("https://example.com/mcp").open_to_self_described_clients(true);
    /// assert!(mcp.is_open_to_self_described_clients());
    /// ```
    pub fn open_to_self_described_clients(mut self, open: bool) -> Self {
        self.open = open;
        self
    }

    /// Whether clients known by a metadata document or registered by themselves may get
    /// its tokens ([`open_to_self_described_clients`](Self::open_to_self_described_clients)).
    pub fn is_open_to_self_described_clients(&self) -> bool {
        self.open
    }

    /// Whether its access tokens are JWTs ([`jwt_access_tokens`](Self::jwt_access_tokens)).
    pub fn issues_jwt_access_tokens(&self) -> bool {
        self.jwt
    }

    /// Its URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The name shown for it.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.uri)
    }

    /// The path of its metadata under the setup's mount point.
    pub fn metadata_path(&self) -> String {
        let path = url::Url::parse(&self.uri)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("{METADATA_PREFIX}{path}")
    }

    /// The absolute URL of its metadata.
    pub fn metadata_url(&self, config: &PowConfig) -> String {
        crate::endpoints::url(config, &self.metadata_path())
    }

    /// Its metadata (RFC 9728).
    pub fn metadata(&self, config: &PowConfig, provider: &Provider) -> Value {
        let mut doc = json!({
            "resource": self.uri,
            "authorization_servers": [provider.issuer_of(config)],
            "bearer_methods_supported": ["header"],
            "scopes_supported": self.scopes,
        });
        if let Some(name) = &self.name {
            doc["resource_name"] = json!(name);
        }
        doc
    }

    /// Checks the registration against the provider's `offered` scopes.
    pub(crate) fn check_setting(&self, offered: &[String]) -> Result<(), String> {
        let uri = &self.uri;
        let parsed =
            url::Url::parse(uri).map_err(|_| format!("resource `{uri}` is not an absolute URI"))?;
        let loopback = matches!(parsed.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || parsed.host_str() == Some("localhost");
        if parsed.fragment().is_some()
            || !(parsed.scheme() == "https" || parsed.scheme() == "http" && loopback)
        {
            return Err(format!("resource `{uri}` must be https (or http to a loopback address), without a fragment"));
        }
        if let Some(unknown) = self.scopes.iter().find(|scope| !offered.contains(scope)) {
            return Err(format!(
                "resource `{uri}` lists `{unknown}`, which the provider does not offer"
            ));
        }
        Ok(())
    }

    /// The access an `Authorization` header's bearer token gives to this resource with
    /// every one of `scopes`, or the refusal to send as it is: `401` (no token, or one that
    /// is unknown, expired, revoked, or for another resource) with `WWW-Authenticate:
    /// Bearer resource_metadata="…"`, `403 insufficient_scope`, `503` when the store fails.
    ///
    /// A JWT access token's signature (against the provider's keys, current and retired),
    /// `typ`, `iss`, `aud` and `exp` are checked before the store is read; then, as for an
    /// opaque token, its record and its family.
    pub async fn check(
        &self,
        config: &PowConfig,
        authorization: Option<&str>,
        scopes: &[&str],
    ) -> Result<ResourceAccess, HttpAnswer> {
        // The metadata's URL goes into refusals only: a request that passes builds nothing.
        let metadata = || self.metadata_url(config);
        let Some(token) = authorization.and_then(bearer_of) else {
            return Err(refusal(401, None, &metadata(), scopes));
        };
        let found = match Provider::of(config) {
            Some(provider) => {
                Tokens::new(config, provider)
                    .access_for(token, Some(&self.uri))
                    .await
            }
            None => Err(PowError::Config(
                "pow-ext-provider is not enabled in this setup".into(),
            )),
        };
        let record = match found {
            Ok(Some(record)) if record.audience.as_deref() == Some(self.uri.as_str()) => record,
            Ok(_) => return Err(refusal(401, Some("invalid_token"), &metadata(), scopes)),
            Err(err) => {
                err.log_answered();
                return Err(HttpAnswer::json_document(
                    503,
                    &json!({ "error": "temporarily_unavailable" }),
                    Some("no-store"),
                ));
            }
        };
        if !scopes
            .iter()
            .all(|scope| record.scopes.iter().any(|have| have == scope))
        {
            return Err(refusal(
                403,
                Some("insufficient_scope"),
                &metadata(),
                scopes,
            ));
        }
        Ok(ResourceAccess {
            user_id: record.user_id,
            client_id: record.client_id,
            scopes: record.scopes,
        })
    }
}

/// The guard of a [`Resource`] for routes that need some of its scopes: an
/// [`AccessGuard`], which each framework layer's `RequireAccess` runs before a route's
/// handler, handing the handler the [`ResourceAccess`] (the guide shows it on both). It
/// checks what [`Resource::check`] checks.
///
/// ```
/// use pow_core::api::AccessGuard;
/// use pow_ext_provider::{Provider, Resource};
///
/// let mcp = Resource::new("https://example.com/mcp").scopes(["notes:read"]);
/// let config = pow_core::PowConfig::builder("s".repeat(64))
///     .base_url("https://example.com")
///     .extension(Provider::new().scopes(["notes:read"]).resource(mcp.clone()))
///     .build()?;
/// let guard = mcp.guard(["notes:read"]);
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// // No bearer token: `401`, and the challenge names the resource's metadata.
/// let refused = runtime.block_on(guard.check(&config, None)).unwrap_err();
/// assert_eq!(refused.status, 401);
/// assert!(refused
///     .header("www-authenticate")
///     .is_some_and(|challenge| challenge.contains("oauth-protected-resource/mcp")));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceGuard {
    resource: Resource,
    scopes: Vec<String>,
}

impl Resource {
    /// The guard of this resource for requests that need every one of `scopes`.
    pub fn guard<S: Into<String>>(&self, scopes: impl IntoIterator<Item = S>) -> ResourceGuard {
        ResourceGuard {
            resource: self.clone(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }
}

impl AccessGuard for ResourceGuard {
    type Access = ResourceAccess;

    fn check<'a>(
        &'a self,
        config: &'a PowConfig,
        authorization: Option<&'a str>,
    ) -> AccessFuture<'a, ResourceAccess> {
        Box::pin(async move {
            let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
            self.resource.check(config, authorization, &scopes).await
        })
    }
}

/// A refusal of a resource: `status`, the bearer challenge naming the metadata and the
/// scopes needed.
fn refusal(status: u16, error: Option<&str>, metadata: &str, scopes: &[&str]) -> HttpAnswer {
    let mut challenge = format!("Bearer resource_metadata=\"{metadata}\"");
    if let Some(error) = error {
        challenge.push_str(&format!(", error=\"{error}\""));
    }
    if !scopes.is_empty() {
        challenge.push_str(&format!(", scope=\"{}\"", scopes.join(" ")));
    }
    let body = json!({ "error": error.unwrap_or("invalid_request") });
    let mut answer = HttpAnswer::json_document(status, &body, Some("no-store"));
    answer.headers.push(("www-authenticate", challenge));
    answer
}

//! The clients the app registers, and how a client proves who it is at the token endpoint.

use base64::Engine as _;
use pow_core::token::secure_compare;
use pow_core::PowConfig;
use sha2::{Digest, Sha256};

use crate::registry::StoredSecret;

/// Whether a client can keep a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A browser app, a mobile or desktop app, a command-line tool: no secret, PKCE alone.
    Public,
    /// A server that keeps a secret and sends it to the token endpoint.
    Confidential,
}

/// A grant a client may use at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// The authorization code flow (with its refresh tokens): every client's by default.
    AuthorizationCode,
    /// The device authorization grant (RFC 8628): a device without a browser.
    DeviceCode,
    /// The client credentials grant: a confidential client acting for itself, no user.
    ClientCredentials,
}

impl GrantType {
    /// Its name in registrations and listings (`authorization_code`, `device_code`,
    /// `client_credentials`).
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::DeviceCode => "device_code",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// The grant named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::AuthorizationCode,
            Self::DeviceCode,
            Self::ClientCredentials,
        ]
        .into_iter()
        .find(|grant| grant.name() == name)
    }
}

/// How a client's secret is checked.
#[derive(Clone)]
enum Secret {
    /// No secret (a public client).
    None,
    /// A secret given too short: refused when the setup is built.
    TooShort,
    /// SHA-256 of a secret the setup gives.
    Given([u8; 32]),
    /// The keyed hashes of a registered client's secrets.
    Stored(StoredSecret),
}

/// The shortest client secret accepted: 32 characters.
pub const MIN_SECRET_LEN: usize = 32;

/// A client of the provider, registered by the app.
///
/// ```
/// use pow_ext_provider::ClientRegistration;
///
/// let spa = ClientRegistration::public("notes-web")
///     .name("Notes for the web")
///     .redirect_uri("https://notes.example/callback");
/// assert_eq!(spa.id(), "notes-web");
/// ```
#[derive(Clone)]
pub struct ClientRegistration {
    id: String,
    name: Option<String>,
    kind: ClientKind,
    /// What is kept of the secret.
    secret: Secret,
    redirect_uris: Vec<String>,
    post_logout_uris: Vec<String>,
    scopes: Option<Vec<String>>,
    /// The resources it may get tokens for (RFC 8707).
    resources: Vec<String>,
    grants: Vec<GrantType>,
    document: bool,
    /// Registered by the client itself (RFC 7591).
    dynamic: bool,
    /// A registered client whose last use was noted long enough ago to note it again.
    use_stale: bool,
}

impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

impl ClientRegistration {
    /// A public client with id `id`: it proves nothing but PKCE at the token endpoint.
    pub fn public(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            kind: ClientKind::Public,
            secret: Secret::None,
            redirect_uris: Vec::new(),
            post_logout_uris: Vec::new(),
            scopes: None,
            resources: Vec::new(),
            grants: vec![GrantType::AuthorizationCode],
            document: false,
            dynamic: false,
            use_stale: false,
        }
    }

    /// A confidential client with id `id` and its `secret` (at least 32 characters; it is
    /// kept only as a digest). It sends the secret by HTTP Basic authentication or in the
    /// token request's form, and uses PKCE as well.
    pub fn confidential(id: impl Into<String>, secret: &str) -> Self {
        Self {
            kind: ClientKind::Confidential,
            secret: match secret.len() < MIN_SECRET_LEN {
                true => Secret::TooShort,
                false => Secret::Given(Sha256::digest(secret.as_bytes()).into()),
            },
            ..Self::public(id)
        }
    }

    /// A registered confidential client, whose secrets [`stored`](Self::stored) gives.
    pub(crate) fn stored_confidential(id: String) -> Self {
        Self {
            kind: ClientKind::Confidential,
            ..Self::public(id)
        }
    }

    /// A registered client's secrets (for a confidential one), and whether the client
    /// registered itself.
    pub(crate) fn stored(mut self, secret: StoredSecret, dynamic: bool) -> Self {
        self.use_stale = secret.use_stale;
        if self.kind == ClientKind::Confidential {
            self.secret = Secret::Stored(secret);
        }
        self.dynamic = dynamic;
        self
    }

    /// Adds `grant`.
    pub(crate) fn with_grant(mut self, grant: GrantType) -> Self {
        if !self.grants.contains(&grant) {
            self.grants.push(grant);
        }
        self
    }

    /// Whether the client registered itself (RFC 7591): it never skips the consent page.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic
    }

    /// The name the consent page shows. The default is the client's id.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a redirect URI, compared exactly (a loopback `http` URI matches with any
    /// port, as native apps pick one when they start).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Adds an address the browser may go back to after the client sends it to sign out
    /// (RP-initiated logout), compared as redirect URIs are. The default is none: the
    /// user stays on the provider's "signed out" page.
    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_uris.push(uri.into());
        self
    }

    /// `uri` when it is one of the client's post-logout redirect URIs.
    pub(crate) fn post_logout_redirect_matches(&self, uri: &str) -> bool {
        self.post_logout_uris
            .iter()
            .any(|registered| registered == uri || loopback_match(registered, uri))
    }

    /// The scopes the client may ask for. The default is every scope the provider offers.
    pub fn allowed_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Lets the client get tokens for the declared resource at `uri` ([`Resource`],
    /// named with `resource`, RFC 8707); repeat for more. A resource outside this list is
    /// refused with `invalid_target` at the authorization endpoint, the token endpoint
    /// (every grant) and the device endpoint. The default is none: the client gets tokens
    /// bound to no resource (userinfo, the app's own API), never a resource's.
    ///
    /// ```
    /// use pow_ext_provider::ClientRegistration;
    ///
    /// let agent = ClientRegistration::public("agent")
    ///     .redirect_uri("http://127.0.0.1/callback")
    ///     .resource("https://example.com/mcp");
    /// assert_eq!(agent.allowed_resources(), ["https://example.com/mcp"]);
    /// ```
    ///
    /// [`Resource`]: crate::Resource
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        let uri = uri.into();
        if !self.resources.contains(&uri) {
            self.resources.push(uri);
        }
        self
    }

    /// The resources the client may get tokens for ([`resource`](Self::resource)).
    pub fn allowed_resources(&self) -> &[String] {
        &self.resources
    }

    /// Whether the client may get tokens for the declared resource `uri`: one of its own
    /// list, or for a client nobody vouched for (known by its metadata document, or
    /// registered by itself) a resource open to such clients
    /// ([`Resource::open_to_self_described_clients`](crate::Resource::open_to_self_described_clients)).
    pub(crate) fn may_use_resource(&self, provider: &crate::Provider, uri: &str) -> bool {
        let Some(resource) = provider.find_resource(uri) else {
            return false;
        };
        match self.document || self.dynamic {
            true => resource.is_open_to_self_described_clients(),
            false => self.resources.iter().any(|have| have == uri),
        }
    }

    /// Lets the client use the device authorization grant (RFC 8628) as well: a device
    /// shows a code, the user enters it here. Such a client needs no redirect URI.
    pub fn device_grant(self) -> Self {
        self.with_grant(GrantType::DeviceCode)
    }

    /// Lets a confidential client get tokens for itself (the client credentials grant): no
    /// user, at most the scopes given with [`allowed_scopes`](Self::allowed_scopes), which
    /// such a client must name.
    pub fn client_credentials(self) -> Self {
        self.with_grant(GrantType::ClientCredentials)
    }

    /// The scopes the client was given for itself: its allowed scopes, without the ones
    /// that need a user.
    pub(crate) fn given_scopes(&self) -> Vec<String> {
        self.scopes
            .iter()
            .flatten()
            .filter(|scope| !matches!(scope.as_str(), "openid" | "offline_access"))
            .cloned()
            .collect()
    }

    /// A client known by its metadata document (its id is the document's URL).
    pub(crate) fn known_by_metadata_document(mut self) -> Self {
        self.document = true;
        self
    }

    /// Whether the client is known by its metadata document rather than registered.
    pub fn is_metadata_document(&self) -> bool {
        self.document
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name the consent page shows.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// Whether it is public or confidential.
    pub fn kind(&self) -> ClientKind {
        self.kind
    }

    /// Its redirect URIs.
    pub fn redirect_uris(&self) -> &[String] {
        &self.redirect_uris
    }

    /// Whether the client may ask for `scope`.
    pub(crate) fn allows_scope(&self, scope: &str) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|have| have == scope))
    }

    /// `uri` when it is one of the client's redirect URIs.
    pub(crate) fn redirect_matches(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri || loopback_match(registered, uri))
    }

    /// Checks the registration against the provider's `offered` scopes and declared
    /// `resources`.
    pub(crate) fn check(
        &self,
        offered: &[String],
        resources: &[crate::Resource],
    ) -> Result<(), String> {
        let id = &self.id;
        if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control()) {
            return Err(format!(
                "client id `{id}` is empty, too long or has control characters"
            ));
        }
        if self.kind == ClientKind::Confidential
            && matches!(self.secret, Secret::None | Secret::TooShort)
        {
            return Err(format!(
                "client `{id}`: a confidential client's secret needs {MIN_SECRET_LEN} characters or more"
            ));
        }
        if self.allows_grant(GrantType::ClientCredentials) {
            if self.kind != ClientKind::Confidential {
                return Err(format!(
                    "client `{id}`: only a confidential client may use client credentials"
                ));
            }
            if self.scopes.is_none() {
                return Err(format!(
                    "client `{id}`: a client-credentials client names the scopes it is given (allowed_scopes)"
                ));
            }
        }
        let browserless = self.allows_grant(GrantType::DeviceCode)
            || self.allows_grant(GrantType::ClientCredentials);
        if self.redirect_uris.is_empty() && !browserless {
            return Err(format!("client `{id}` has no redirect URI"));
        }
        for uri in self.redirect_uris.iter().chain(&self.post_logout_uris) {
            check_redirect_uri(uri).map_err(|why| format!("client `{id}`: {uri}: {why}"))?;
        }
        if let Some(scopes) = &self.scopes {
            if let Some(unknown) = scopes.iter().find(|scope| !offered.contains(scope)) {
                return Err(format!(
                    "client `{id}` may ask for `{unknown}`, which the provider does not offer"
                ));
            }
        }
        if let Some(unknown) = self.resources.iter().find(|uri| {
            !resources
                .iter()
                .any(|resource| resource.uri() == uri.as_str())
        }) {
            return Err(format!(
                "client `{id}` may get tokens for `{unknown}`, which the provider does not declare (Provider::resource)"
            ));
        }
        Ok(())
    }

    /// Whether `secret` is the client's (compared in constant time): a registered
    /// client's current secret before it expires, or its previous one during a rotation's
    /// overlap.
    pub(crate) fn secret_matches(&self, config: &PowConfig, secret: &str) -> bool {
        match &self.secret {
            Secret::Given(digest) => {
                let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
                secure_compare(&presented, digest)
            }
            Secret::Stored(stored) => stored.matches(config, secret),
            Secret::None | Secret::TooShort => false,
        }
    }
}

/// Why a redirect URI cannot be registered, if it cannot: it must be absolute, without a
/// fragment, and `https`, `http` to a loopback address, or a private-use scheme
/// (`com.example.app:/callback`, a dot in the scheme); never `javascript:`, `data:`,
/// `file:` or `vbscript:`.
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > 2048 || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a redirect URI is at most 2048 characters, without spaces");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err("a redirect URI has no fragment");
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err("plain http only to a loopback address (127.0.0.1, [::1], localhost)"),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            Err("this scheme is never a redirect URI")
        }
        scheme if scheme.contains('.') => Ok(()),
        _ => Err("use https, loopback http, or a private-use scheme with a dot (com.example.app)"),
    }
}

/// Whether `url` is `http` to a loopback host.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `uri` is the loopback `registered` URI on another port (RFC 8252 §7.3).
fn loopback_match(registered: &str, uri: &str) -> bool {
    let (Ok(mut registered), Ok(mut uri)) = (url::Url::parse(registered), url::Url::parse(uri))
    else {
        return false;
    };
    if registered.scheme() != "http" || !is_loopback(&registered) || uri.fragment().is_some() {
        return false;
    }
    (registered.set_port(None).is_ok() && uri.set_port(None).is_ok()) && registered == uri
}

/// The client with id `id`: one the setup names, else one registered in the table, else
/// (when the provider takes them) the client whose metadata document is at that URL.
///
/// # Errors
/// The database's, the store's.
pub(crate) async fn resolve(
    config: &PowConfig,
    provider: &crate::Provider,
    id: &str,
) -> Result<Option<ClientRegistration>, pow_core::PowError> {
    if let Some(client) = provider.find(id) {
        return Ok(Some(client.clone()));
    }
    if crate::metadata_document::is_document_url(provider, id) {
        return crate::metadata_document::client(config, provider, id).await;
    }
    if id.is_empty() || id.len() > 200 {
        return Ok(None);
    }
    match crate::registry::Registry::new(config) {
        Ok(registry) => registry.find(provider, id).await,
        // Without the diesel users context there is no table of registered clients (the
        // consents need it too, and say so when they are first read).
        Err(_) => Ok(None),
    }
}

/// The name pages show for client `id`: a setup's or a registered client's, else the id
/// itself (a metadata document's client is not fetched again for it).
///
/// # Errors
/// The database's.
pub(crate) async fn name_of(
    config: &PowConfig,
    provider: &crate::Provider,
    id: &str,
) -> Result<String, pow_core::PowError> {
    if let Some(client) = provider.find(id) {
        return Ok(client.display_name().to_owned());
    }
    let registered = match crate::registry::Registry::new(config) {
        Ok(registry) => registry.get(id).await?,
        Err(_) => None,
    };
    Ok(registered
        .and_then(|client| client.name)
        .unwrap_or_else(|| id.to_owned()))
}

/// The client a token request names, authenticated: HTTP Basic (`client_secret_basic`),
/// the form's `client_id` and `client_secret` (`client_secret_post`), or for a public
/// client its `client_id` alone (`none`). `None` for an unknown client, a wrong secret, a
/// confidential client without one, or two ways at once.
///
/// # Errors
/// The store's (a metadata document's client is looked up there).
pub(crate) async fn authenticate(
    config: &PowConfig,
    provider: &crate::Provider,
    authorization: Option<&str>,
    form: &[(String, String)],
) -> Result<Option<ClientRegistration>, pow_core::PowError> {
    let Some((id, secret)) = presented(authorization, form) else {
        return Ok(None);
    };
    let Some(client) = resolve(config, provider, &id).await? else {
        return Ok(None);
    };
    let client = match (client.kind, secret) {
        (ClientKind::Public, None) => client,
        (ClientKind::Confidential, Some(secret)) if client.secret_matches(config, &secret) => {
            client
        }
        _ => return Ok(None),
    };
    if client.use_stale {
        crate::registry::Registry::new(config)?
            .mark_used(client.id())
            .await?;
    }
    Ok(Some(client))
}

/// The client id and secret a token request presents, one way only.
fn presented(
    authorization: Option<&str>,
    form: &[(String, String)],
) -> Option<(String, Option<String>)> {
    let field = |name: &str| {
        form.iter()
            .find(|(have, _)| have == name)
            .map(|(_, value)| value.as_str())
    };
    let basic = authorization.and_then(basic_credentials);
    match (basic, field("client_secret")) {
        (Some(_), Some(_)) => None,
        (Some((id, secret)), None) => {
            if field("client_id").is_some_and(|named| named != id) {
                return None;
            }
            Some((id, Some(secret)))
        }
        (None, secret) => Some((field("client_id")?.to_owned(), secret.map(str::to_owned))),
    }
}

/// The id and secret of an `Authorization: Basic` value (each form-urlencoded, RFC 6749
/// §2.3.1).
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |part: &str| {
        url::form_urlencoded::parse(format!("v={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

/// A keyed digest of `value` for the store, under `config`'s key ring.
pub(crate) fn digest(config: &PowConfig, purpose: &str, value: &str) -> String {
    config.verifier().token_digest(purpose, value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_loopback_or_private_use_schemes() {
        for good in [
            "https://app.example/callback",
            "http://127.0.0.1/callback",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://app.example/cb#frag",
            "http://app.example/cb",
            "/relative",
            "myapp:/cb",
            "file:///etc/passwd",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_loopback_redirect_matches_on_any_port_and_nothing_else_does() {
        let client = ClientRegistration::public("cli")
            .redirect_uri("http://127.0.0.1/callback")
            .redirect_uri("https://app.example/cb");
        assert!(client.redirect_matches("http://127.0.0.1:49152/callback"));
        assert!(client.redirect_matches("https://app.example/cb"));
        assert!(!client.redirect_matches("https://app.example:444/cb"));
        assert!(!client.redirect_matches("https://app.example/cb?x=1"));
        assert!(!client.redirect_matches("http://127.0.0.1:49152/other"));
        assert!(!client.redirect_matches("http://localhost:49152/callback"));
    }

    #[test]
    fn clients_authenticate_one_way_at_a_time() {
        let secret = "x".repeat(40);
        let provider = crate::Provider::new()
            .client(ClientRegistration::public("spa").redirect_uri("https://a.example/cb"))
            .client(
                ClientRegistration::confidential("srv", &secret)
                    .redirect_uri("https://b.example/cb"),
            );
        let form = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("srv:{secret}"))
        );
        let config = pow_core::PowConfig::builder("s".repeat(64))
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let authenticate =
            |provider: &crate::Provider, auth: Option<&str>, form: &[(String, String)]| {
                rt.block_on(super::authenticate(&config, provider, auth, form))
                    .unwrap()
            };
        assert!(authenticate(&provider, Some(&basic), &[]).is_some());
        assert!(authenticate(
            &provider,
            None,
            &form(&[("client_id", "srv"), ("client_secret", &secret)])
        )
        .is_some());
        assert!(authenticate(&provider, None, &form(&[("client_id", "srv")])).is_none());
        assert!(authenticate(
            &provider,
            None,
            &form(&[("client_id", "srv"), ("client_secret", "nope")])
        )
        .is_none());
        assert!(authenticate(
            &provider,
            Some(&basic),
            &form(&[("client_secret", &secret)])
        )
        .is_none());
        assert!(authenticate(&provider, None, &form(&[("client_id", "spa")])).is_some());
        assert!(authenticate(
            &provider,
            None,
            &form(&[("client_id", "spa"), ("client_secret", "x")])
        )
        .is_none());
        assert!(authenticate(&provider, None, &form(&[("client_id", "who")])).is_none());
    }

    #[test]
    fn a_short_secret_or_a_bad_redirect_is_refused_at_build() {
        let offered = vec!["openid".to_owned()];
        let short =
            ClientRegistration::confidential("srv", "short").redirect_uri("https://a.example/cb");
        assert!(short.check(&offered, &[]).is_err());
        let public = ClientRegistration::public("cli")
            .allowed_scopes(["openid"])
            .client_credentials();
        assert!(public
            .check(&offered, &[])
            .unwrap_err()
            .contains("confidential"));
        let secret = "s".repeat(40);
        let unscoped = ClientRegistration::confidential("robot", &secret).client_credentials();
        assert!(unscoped
            .check(&offered, &[])
            .unwrap_err()
            .contains("allowed_scopes"));
        let js = ClientRegistration::public("spa").redirect_uri("javascript:alert(1)");
        assert!(js.check(&offered, &[]).unwrap_err().contains("never"));
    }
}

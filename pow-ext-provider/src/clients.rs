//! The clients the app registers, and how a client proves who it is at the token endpoint.

use base64::Engine as _;
use pow_core::token::secure_compare;
use pow_core::PowConfig;
use sha2::{Digest, Sha256};

/// Whether a client can keep a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// A browser app, a mobile or desktop app, a command-line tool: no secret, PKCE alone.
    Public,
    /// A server that keeps a secret and sends it to the token endpoint.
    Confidential,
}

/// A grant a client may use at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    /// The authorization code flow (with its refresh tokens): every client's by default.
    AuthorizationCode,
    /// The device authorization grant (RFC 8628): a device without a browser.
    DeviceCode,
    /// The client credentials grant: a confidential client acting for itself, no user.
    ClientCredentials,
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
    /// SHA-256 of the secret: what the setup keeps of it.
    secret_digest: Option<[u8; 32]>,
    redirect_uris: Vec<String>,
    scopes: Option<Vec<String>>,
    grants: Vec<GrantType>,
    document: bool,
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
            secret_digest: None,
            redirect_uris: Vec::new(),
            scopes: None,
            grants: vec![GrantType::AuthorizationCode],
            document: false,
        }
    }

    /// A confidential client with id `id` and its `secret` (at least 32 characters; it is
    /// kept only as a digest). It sends the secret by HTTP Basic authentication or in the
    /// token request's form, and uses PKCE as well.
    pub fn confidential(id: impl Into<String>, secret: &str) -> Self {
        Self {
            kind: ClientKind::Confidential,
            secret_digest: Some(Sha256::digest(secret.as_bytes()).into()),
            ..Self::public(id)
        }
        .with_secret_len(secret.len())
    }

    /// Marks a secret too short, for [`check`](Self::check) to refuse.
    fn with_secret_len(mut self, len: usize) -> Self {
        if len < MIN_SECRET_LEN {
            self.secret_digest = None;
        }
        self
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

    /// The scopes the client may ask for. The default is every scope the provider offers.
    pub fn allowed_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Lets the client use the device authorization grant (RFC 8628) as well: a device
    /// shows a code, the user enters it here. Such a client needs no redirect URI.
    pub fn device_grant(mut self) -> Self {
        if !self.grants.contains(&GrantType::DeviceCode) {
            self.grants.push(GrantType::DeviceCode);
        }
        self
    }

    /// Lets a confidential client get tokens for itself (the client credentials grant): no
    /// user, at most the scopes given with [`allowed_scopes`](Self::allowed_scopes), which
    /// such a client must name.
    pub fn client_credentials(mut self) -> Self {
        if !self.grants.contains(&GrantType::ClientCredentials) {
            self.grants.push(GrantType::ClientCredentials);
        }
        self
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

    /// Checks the registration against the provider's `offered` scopes.
    pub(crate) fn check(&self, offered: &[String]) -> Result<(), String> {
        let id = &self.id;
        if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control()) {
            return Err(format!(
                "client id `{id}` is empty, too long or has control characters"
            ));
        }
        if self.kind == ClientKind::Confidential && self.secret_digest.is_none() {
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
        for uri in &self.redirect_uris {
            check_redirect_uri(uri).map_err(|why| format!("client `{id}`: {uri}: {why}"))?;
        }
        if let Some(scopes) = &self.scopes {
            if let Some(unknown) = scopes.iter().find(|scope| !offered.contains(scope)) {
                return Err(format!(
                    "client `{id}` may ask for `{unknown}`, which the provider does not offer"
                ));
            }
        }
        Ok(())
    }

    /// Whether `secret` is the client's (compared in constant time).
    pub(crate) fn secret_matches(&self, secret: &str) -> bool {
        let Some(digest) = &self.secret_digest else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        secure_compare(&presented, digest)
    }
}

/// Why a redirect URI cannot be registered, if it cannot: it must be absolute, without a
/// fragment, and `https`, `http` to a loopback address, or a private-use scheme
/// (`com.example.app:/callback`, a dot in the scheme); never `javascript:`, `data:`,
/// `file:` or `vbscript:`.
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
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

/// The client with id `id`: a registered one, else (when the provider takes them) the
/// client whose metadata document is at that URL.
///
/// # Errors
/// The store's.
pub(crate) async fn resolve(
    config: &PowConfig,
    provider: &crate::Provider,
    id: &str,
) -> Result<Option<ClientRegistration>, pow_core::PowError> {
    match provider.find(id) {
        Some(client) => Ok(Some(client.clone())),
        None => crate::metadata_document::client(config, provider, id).await,
    }
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
    Ok(match (client.kind, secret) {
        (ClientKind::Public, None) => Some(client),
        (ClientKind::Confidential, Some(secret)) if client.secret_matches(&secret) => Some(client),
        _ => None,
    })
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
        assert!(short.check(&offered).is_err());
        let public = ClientRegistration::public("cli")
            .allowed_scopes(["openid"])
            .client_credentials();
        assert!(public.check(&offered).unwrap_err().contains("confidential"));
        let secret = "s".repeat(40);
        let unscoped = ClientRegistration::confidential("robot", &secret).client_credentials();
        assert!(unscoped
            .check(&offered)
            .unwrap_err()
            .contains("allowed_scopes"));
        let js = ClientRegistration::public("spa").redirect_uri("javascript:alert(1)");
        assert!(js.check(&offered).unwrap_err().contains("never"));
    }
}

//! SAML 2.0 connections (feature `saml`), on the pure-Rust `saml` crate: the identity
//! provider's metadata checked at import (its signing certificate is what every answer is
//! verified against, pinned in the stored document), this app's service provider metadata,
//! the AuthnRequest (HTTP-Redirect binding) with its request kept server-side to bind
//! `InResponseTo`, and the Response (HTTP-POST binding) verified: signature by a pinned
//! certificate over exactly the element read (SHA-1 is not compiled in), exactly one
//! assertion, issuer, audience, recipient, destination and time checks, and the assertion
//! id single-use in the cache store until it expires.
//!
//! The crate does no I/O: metadata URLs are fetched through the engine's address-checked
//! client by the flows, and the replay cache is the setup's store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pow_core::config::extension_path;
use pow_core::pages::endpoints::{EndpointRequest, EndpointRoute};
use pow_core::pages::routes::Verb;
use pow_core::pages::HttpAnswer;
use pow_core::store::{Key, Store};
use pow_core::PowConfig;
use saml::{
    Binding, ConsumeResponse, DigestAlgorithm, Dispatch, IdpDescriptor, KeyPair, LoginTracker,
    NameIdFormat, PeerCryptoPolicy, ReplayCache, ReplayEntry, ReplayMode, ServiceProvider,
    ServiceProviderConfig, SignatureAlgorithm, SpWantSigned, SsoResponseBinding,
    SsoResponseEndpoint, StartLogin, X509Certificate,
};

use crate::oidc::Claims;
use crate::NAME;

/// The service provider's metadata of an organization's SAML connection, by the
/// organization's id (known before the connection is set up, stable when it is set up
/// again): its entity id too.
pub const METADATA_PATH: &str = "/sso/saml/{org}/metadata";
/// The assertion consumer service of an organization's SAML connection (HTTP-POST binding).
pub const ACS_PATH: &str = "/sso/saml/{org}/acs";

/// The largest identity provider metadata document taken (256 KiB).
pub const MAX_METADATA: usize = 256 * 1024;

/// The clock skew allowed on an assertion's times.
pub const CLOCK_SKEW: Duration = Duration::from_secs(120);

/// The store namespace of used assertion ids.
const REPLAY_NAMESPACE: &str = "pow_sso_saml_assertions";

/// The salt of the key sealing a sign-in's request between start and answer.
const TRACKER_SALT: &str = "pow sso saml tracker";

/// Why a SAML step failed.
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    /// The metadata document could not be read as an identity provider's.
    #[error("the identity provider metadata is not usable: {0}")]
    Metadata(String),
    /// The metadata names no signing certificate: nothing would be verified.
    #[error("the identity provider metadata names no signing certificate")]
    NoCertificate,
    /// The metadata has no single sign-on service on the HTTP-Redirect binding.
    #[error("the identity provider has no HTTP-Redirect single sign-on service")]
    NoRedirectService,
    /// The answer is not a usable SAML message (encoding, size).
    #[error("the SAML answer is not readable")]
    Unreadable,
    /// The app's service provider key or certificate is not usable.
    #[error("the SAML service provider key is not usable: {0}")]
    Key(String),
    /// The crate refused the message (signature, conditions, replay, correlation).
    #[error("the SAML answer was refused: {0}")]
    Refused(#[from] saml::Error),
    /// The assertion's subject is transient: it names nobody twice.
    #[error("the assertion's NameID is transient")]
    TransientSubject,
}

/// The service provider's URLs of organization `org`'s connection: its entity id (the
/// metadata's URL) and its assertion consumer service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpUrls {
    /// The entity id, which is the metadata's URL.
    pub entity_id: String,
    /// The assertion consumer service's URL.
    pub acs: String,
}

impl SpUrls {
    /// The URLs of organization `org`'s connection, on the setup's base URL (else
    /// `origin`).
    pub fn of(config: &PowConfig, origin: Option<&str>, org: &str) -> Self {
        let base = config
            .base_url()
            .map(str::to_owned)
            .or_else(|| origin.map(str::to_owned))
            .unwrap_or_default();
        let base = base.trim_end_matches('/');
        let path = |template| extension_path(config, NAME, template, &[("org", org)]);
        Self {
            entity_id: format!("{base}{}", path(METADATA_PATH)),
            acs: format!("{base}{}", path(ACS_PATH)),
        }
    }
}

/// Reads an identity provider's metadata: one `IDPSSODescriptor`, at least one signing
/// certificate (a document without one would leave answers unverified, so it is
/// refused), and a single sign-on service on the HTTP-Redirect binding. Bounded: at most
/// [`MAX_METADATA`] bytes, and the crate's depth and node limits.
///
/// # Errors
/// [`SamlError::Metadata`], [`SamlError::NoCertificate`], [`SamlError::NoRedirectService`].
pub fn read_metadata(xml: &str) -> Result<IdpDescriptor, SamlError> {
    if xml.len() > MAX_METADATA {
        return Err(SamlError::Metadata("larger than 256 KiB".into()));
    }
    let idp = IdpDescriptor::from_metadata_xml(xml.as_bytes())
        .map_err(|err| SamlError::Metadata(err.to_string()))?;
    if idp.signing_certs.is_empty() {
        return Err(SamlError::NoCertificate);
    }
    if !idp
        .sso_endpoints
        .iter()
        .any(|endpoint| endpoint.binding == Binding::HttpRedirect)
    {
        return Err(SamlError::NoRedirectService);
    }
    Ok(idp)
}

/// The service provider of a connection: signed assertions required (nothing in the
/// provider's metadata turns that off), strong algorithms only, unsolicited answers only
/// where `idp_initiated`; with the app's key, signed AuthnRequests and encrypted
/// assertions.
fn service_provider(
    config: &PowConfig,
    urls: &SpUrls,
    idp_initiated: bool,
) -> Result<ServiceProvider, SamlError> {
    let key = match crate::Sso::of(config).and_then(|sso| sso.saml_key.as_ref()) {
        Some(key) => Some(key_pair(key)?),
        None => None,
    };
    Ok(ServiceProvider::new(ServiceProviderConfig {
        entity_id: urls.entity_id.clone(),
        acs: vec![SsoResponseEndpoint::post(urls.acs.clone(), 0, true)],
        slo: Vec::new(),
        name_id_formats: vec![NameIdFormat::Persistent, NameIdFormat::EmailAddress],
        sign_authn_requests: key.is_some(),
        signing_key: key.clone(),
        decryption_key: key,
        want_signed: SpWantSigned {
            response: false,
            assertions: true,
        },
        allow_unsolicited: idp_initiated,
        default_peer_crypto_policy: PeerCryptoPolicy::strong_defaults(),
        outbound_signature_algorithm: SignatureAlgorithm::RsaSha256,
        outbound_digest_algorithm: DigestAlgorithm::Sha256,
    })?)
}

/// The app's key pair, with its certificate.
fn key_pair(key: &crate::SamlKey) -> Result<KeyPair, SamlError> {
    let pem = key.private_key_pem.trim().as_bytes();
    let pair = if key.private_key_pem.contains("BEGIN RSA PRIVATE KEY") {
        KeyPair::from_pkcs1_pem(pem)
    } else {
        KeyPair::from_pkcs8_pem(pem)
    }
    .map_err(|err| SamlError::Key(err.to_string()))?;
    let cert = X509Certificate::from_pem(key.certificate_pem.trim().as_bytes())
        .map_err(|err| SamlError::Key(err.to_string()))?;
    pair.with_certificate(cert)
        .map_err(|err| SamlError::Key(err.to_string()))
}

/// The service provider's metadata document of a connection.
///
/// # Errors
/// The crate's, for URLs it cannot take.
pub fn sp_metadata(config: &PowConfig, urls: &SpUrls) -> Result<String, SamlError> {
    Ok(service_provider(config, urls, false)?.metadata_xml(false)?)
}

/// A sign-in begun: the identity provider's URL with the AuthnRequest, and the request
/// sealed for the answer's check.
pub(crate) struct Started {
    pub url: String,
    pub tracker: String,
}

/// Begins a sign-in at the identity provider of `metadata`, with `relay_state`.
pub(crate) fn start(
    config: &PowConfig,
    metadata: &str,
    urls: &SpUrls,
    relay_state: &str,
) -> Result<Started, SamlError> {
    let idp = read_metadata(metadata)?;
    let sp = service_provider(config, urls, false)?;
    let started = sp.start_login(
        &idp,
        StartLogin {
            relay_state: Some(relay_state),
            binding: Binding::HttpRedirect,
            force_authn: false,
            is_passive: false,
            requested_name_id_format: None,
            requested_authn_context: None,
            acs_index: None,
            acs_url: None,
            response_binding: None,
        },
    )?;
    let Dispatch::Redirect(url) = started.dispatch else {
        return Err(SamlError::NoRedirectService);
    };
    let key = config
        .verifier()
        .derive_key(&config.namespaced(TRACKER_SALT));
    Ok(Started {
        url: url.to_string(),
        tracker: started.tracker.to_payload().seal(&key)?,
    })
}

/// What a connection's answer is checked with.
pub(crate) struct Answer<'a> {
    pub metadata: &'a str,
    pub urls: &'a SpUrls,
    pub idp_initiated: bool,
    /// The `SAMLResponse` form field (base64).
    pub response: &'a str,
    /// The sealed request of the sign-in it answers; `None` for an unsolicited one.
    pub tracker: Option<&'a str>,
}

/// Verifies an answer and reads the claims (on a blocking thread: the caller's). The
/// assertion id is claimed in `replay` after every other check passed.
pub(crate) fn consume(
    config: &PowConfig,
    answer: &Answer<'_>,
    replay: &dyn ReplayCache,
) -> Result<Claims, SamlError> {
    let compact: String = answer
        .response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let xml = STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| SamlError::Unreadable)?;
    let idp = read_metadata(answer.metadata)?;
    let sp = service_provider(config, answer.urls, answer.idp_initiated)?;
    let now = SystemTime::now();
    let tracker = match answer.tracker {
        Some(sealed) => Some(open_tracker(config, sealed, now)?),
        None => None,
    };
    let identity = sp.consume_response(ConsumeResponse {
        idp: &idp,
        peer_crypto_policy: None,
        saml_response: &xml,
        binding: SsoResponseBinding::HttpPost,
        relay_state: None,
        tracker: tracker.as_ref(),
        expected_destination: &answer.urls.acs,
        now,
        clock_skew: CLOCK_SKEW,
        replay_cache: Some(replay),
        replay_mode: ReplayMode::All,
        holder_of_key_cert: None,
    })?;
    let name_id = identity.name_id();
    if name_id.format == NameIdFormat::Transient {
        return Err(SamlError::TransientSubject);
    }
    let attribute = |names: &[&str]| {
        identity
            .attributes()
            .iter()
            .find(|attribute| names.iter().any(|name| attribute.name == *name))
            .and_then(|attribute| attribute.values.first())
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let email = attribute(EMAIL_ATTRIBUTES).or_else(|| {
        (name_id.format == NameIdFormat::EmailAddress).then(|| name_id.value.trim().to_owned())
    });
    let name = attribute(NAME_ATTRIBUTES).or_else(|| {
        let given = attribute(GIVEN_NAME_ATTRIBUTES)?;
        Some(match attribute(SURNAME_ATTRIBUTES) {
            Some(surname) => format!("{given} {surname}"),
            None => given,
        })
    });
    Ok(Claims {
        subject: name_id.value.clone(),
        // The organization's own provider, verified against its pinned certificate: its
        // addresses count as vouched for; a first sign-in still links or creates only at
        // the organization's verified domains.
        email_verified: email.is_some(),
        email,
        name,
        amr: Vec::new(),
        acr: identity.authn_context_class_ref().map(str::to_owned),
    })
}

/// Attribute names an address comes in (Okta, Entra ID, Google, ADFS, LDAP OIDs).
const EMAIL_ATTRIBUTES: &[&str] = &[
    "email",
    "mail",
    "emailAddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
];
/// Attribute names a display name comes in.
const NAME_ATTRIBUTES: &[&str] = &[
    "name",
    "displayName",
    "http://schemas.microsoft.com/identity/claims/displayname",
    "urn:oid:2.16.840.1.113730.3.1.241",
];
/// Attribute names a given name comes in.
const GIVEN_NAME_ATTRIBUTES: &[&str] = &[
    "firstName",
    "givenName",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "urn:oid:2.5.4.42",
];
/// Attribute names a surname comes in.
const SURNAME_ATTRIBUTES: &[&str] = &[
    "lastName",
    "surname",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "urn:oid:2.5.4.4",
];

/// Opens a sealed request with any secret of the key ring (a rotation between start and
/// answer keeps it).
fn open_tracker(
    config: &PowConfig,
    sealed: &str,
    now: SystemTime,
) -> Result<LoginTracker, SamlError> {
    let mut last = None;
    for key in config
        .verifier()
        .derive_keys(&config.namespaced(TRACKER_SALT))
    {
        match LoginTracker::open(sealed, &key, now, crate::flows::ATTEMPT_TTL) {
            Ok(tracker) => return Ok(tracker),
            Err(err) => last = Some(err),
        }
    }
    Err(last.map_or(SamlError::Unreadable, SamlError::Refused))
}

/// Used assertion ids in the setup's store: one atomic insert per id, kept until the
/// assertion's expiry (skew included), so a replay is refused on every node sharing it.
/// Runs on the blocking thread the answer is checked on, driving the store's future on
/// the runtime it came from.
pub(crate) struct StoreReplay {
    store: Arc<dyn Store>,
    namespace: String,
    runtime: tokio::runtime::Handle,
}

impl StoreReplay {
    /// The replay cache of `config`'s store, driven on the current runtime.
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced(REPLAY_NAMESPACE),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl ReplayCache for StoreReplay {
    fn check_and_insert(
        &self,
        entries: &[ReplayEntry<'_>],
        now: SystemTime,
    ) -> Result<bool, saml::Error> {
        // A response carries exactly one assertion: one entry. Each is claimed on its own;
        // a refused one stops the sign-in whatever the others did.
        for entry in entries {
            let ttl = entry
                .expires_at
                .duration_since(now)
                .unwrap_or_default()
                .max(Duration::from_secs(1));
            let record = (Key::from(["assertion", entry.id]), b"1".to_vec());
            let fresh = self
                .runtime
                .block_on(
                    self.store
                        .insert_if_absent(&self.namespace, record, Some(ttl)),
                )
                .map_err(|err| {
                    tracing::error!(error = %err, "the SAML replay cache is unavailable");
                    saml::Error::ReplayCacheFull
                })?;
            if !fresh {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The protocol endpoints: each connection's service provider metadata (served while it
/// is off too, so the provider can be set up before it is turned on) and its assertion
/// consumer service.
pub(crate) fn endpoint_routes() -> Vec<EndpointRoute> {
    vec![
        EndpointRoute::new(Verb::Get, METADATA_PATH, |config, req| {
            Box::pin(async move { metadata_answer(&config, &req).await })
        })
        .of_extension(NAME),
        EndpointRoute::new(Verb::Post, ACS_PATH, |config, req| {
            Box::pin(async move { acs_answer(&config, &req).await })
        })
        .of_extension(NAME),
    ]
}

async fn metadata_answer(config: &PowConfig, req: &EndpointRequest) -> HttpAnswer {
    let org = req.params.get("org").unwrap_or_default();
    match pow_ext_organizations::flows::by_id(config, org).await {
        Ok(Some(org)) => match sp_metadata(config, &SpUrls::of(config, req.origin(), &org.id)) {
            Ok(xml) => {
                let mut answer = HttpAnswer::text(200, &xml, Some("public, max-age=300"));
                answer.headers[0].1 = "application/samlmetadata+xml".to_owned();
                answer
            }
            Err(err) => {
                tracing::error!(error = %err, "SAML metadata not made");
                HttpAnswer::text(500, "Internal Server Error", Some("no-store"))
            }
        },
        Ok(None) => HttpAnswer::text(404, "Not Found", Some("no-store")),
        Err(err) => HttpAnswer::failure(&err),
    }
}

/// `POST <acs>`: the checked answer handed to the browser's callback (`303`), where its
/// cookie session shows whether the sign-in began there.
async fn acs_answer(config: &PowConfig, req: &EndpointRequest) -> HttpAnswer {
    let org = req.params.get("org").unwrap_or_default();
    let form = req.form().unwrap_or_default();
    let field = |name: &str| {
        form.iter()
            .find(|(have, _)| have == name)
            .map(|(_, value)| value.clone())
    };
    let decided = crate::flows::saml_answer(
        config,
        org,
        req.origin(),
        field("SAMLResponse"),
        field("RelayState"),
    )
    .await;
    match decided {
        Ok((key, state)) => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("saml", &key);
            if let Some(state) = &state {
                query.append_pair("state", state);
            }
            let path = extension_path(config, NAME, crate::pages::CALLBACK_PATH, &[]);
            let mut answer = HttpAnswer::redirect(&format!("{path}?{}", query.finish()));
            answer.status = 303;
            answer
        }
        Err(err) => HttpAnswer::failure(&err),
    }
}

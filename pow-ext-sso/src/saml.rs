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
use pow_core::{PowConfig, PowError};
use saml::{
    Binding, ConsumeResponse, DigestAlgorithm, Dispatch, Endpoint, IdpDescriptor, KeyPair,
    LoginTracker, NameId, NameIdFormat, PeerCryptoPolicy, ReplayCache, ReplayEntry, ReplayMode,
    ServiceProvider, ServiceProviderConfig, SignatureAlgorithm, SpLogoutSigning,
    SpLogoutWantSigned, SpWantSigned, SsoResponseBinding, SsoResponseEndpoint, StartLogin,
    X509Certificate,
};

use crate::oidc::Claims;
use crate::NAME;

/// The service provider's metadata of an organization's SAML connection, by the
/// organization's id (known before the connection is set up, stable when it is set up
/// again): its entity id too.
pub const METADATA_PATH: &str = "/sso/saml/{org}/metadata";
/// The assertion consumer service of an organization's SAML connection (HTTP-POST binding).
pub const ACS_PATH: &str = "/sso/saml/{org}/acs";
/// The single logout service of an organization's SAML connection (HTTP-Redirect binding):
/// the identity provider's logout requests, and its answers to this app's.
pub const SLO_PATH: &str = "/sso/saml/{org}/slo";

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
    /// The single logout service's URL.
    pub slo: String,
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
            slo: format!("{base}{}", path(SLO_PATH)),
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
    let signs = key.is_some();
    Ok(ServiceProvider::new(ServiceProviderConfig {
        entity_id: urls.entity_id.clone(),
        acs: vec![SsoResponseEndpoint::post(urls.acs.clone(), 0, true)],
        slo: vec![Endpoint {
            url: urls.slo.clone(),
            binding: Binding::HttpRedirect,
            index: None,
            is_default: false,
        }],
        name_id_formats: vec![NameIdFormat::Persistent, NameIdFormat::EmailAddress],
        sign_authn_requests: key.is_some(),
        signing_key: key.clone(),
        decryption_key: key,
        want_signed: SpWantSigned {
            response: false,
            assertions: true,
        },
        allow_unsolicited: idp_initiated,
        // The provider's logout messages are verified against its pinned certificate;
        // this app's are signed when it has a key.
        logout_signing: SpLogoutSigning {
            sign_requests: signs,
            sign_responses: signs,
        },
        logout_want_signed: SpLogoutWantSigned {
            requests: true,
            responses: true,
        },
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
        name_id_format: Some(name_id.format.as_uri().to_owned()),
        session_index: identity.session_index().map(str::to_owned),
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
        EndpointRoute::new(Verb::Get, SLO_PATH, |config, req| {
            Box::pin(async move { slo_answer(&config, &req).await })
        })
        .of_extension(NAME),
    ]
}

async fn metadata_answer(config: &PowConfig, req: &EndpointRequest) -> HttpAnswer {
    let org = req.params.get("org").unwrap_or_default();
    match pow_ext_organizations::flows::by_id(config, org).await {
        Ok(Some(org)) => {
            // The key's PEM is parsed and the document written: off the async executor.
            let (setup, urls) = (config.clone(), SpUrls::of(config, req.origin(), &org.id));
            let made = tokio::task::spawn_blocking(move || sp_metadata(&setup, &urls))
                .await
                .unwrap_or(Err(SamlError::Unreadable));
            metadata_document(made)
        }
        Ok(None) => HttpAnswer::text(404, "Not Found", Some("no-store")),
        Err(err) => HttpAnswer::failure(&err),
    }
}

/// The answer carrying the service provider's metadata, or `500` (logged).
fn metadata_document(made: Result<String, SamlError>) -> HttpAnswer {
    match made {
        Ok(xml) => {
            let mut answer = HttpAnswer::text(200, &xml, Some("public, max-age=300"));
            answer.headers[0].1 = "application/samlmetadata+xml".to_owned();
            answer
        }
        Err(err) => {
            tracing::error!(error = %err, "SAML metadata not made");
            HttpAnswer::text(500, "Internal Server Error", Some("no-store"))
        }
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

/// A single logout this app began, kept until the provider answers.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingLogout {
    organization: String,
    tracker: saml::logout::LogoutTracker,
}

/// How long the provider may take to answer a logout.
const LOGOUT_TTL: Duration = Duration::from_secs(10 * 60);

fn pending_logouts(config: &PowConfig) -> pow_core::store::OneTimeSecrets {
    pow_core::store::OneTimeSecrets::new(config, "sso", "saml_logout", LOGOUT_TTL)
}

/// The identity provider's logout URL for the `ending` session, which signed in through
/// `connection` (its NameID and format, the provider's session); `None` when the provider
/// has no HTTP-Redirect single logout service. The request is kept for its answer.
pub(crate) async fn logout_url(
    config: &PowConfig,
    connection: &crate::Connection,
    ending: EndingSession,
) -> Result<Option<String>, SamlError> {
    let Some(metadata) = connection.saml_metadata.clone() else {
        return Ok(None);
    };
    let EndingSession {
        subject,
        session_index,
        origin,
        ..
    } = ending;
    let urls = SpUrls::of(config, origin.as_deref(), &connection.organization_id);
    let relay = pow_core::token::generate_uuid();
    let setup = config.clone();
    let relay_state = relay.clone();
    let started = tokio::task::spawn_blocking(move || -> Result<_, SamlError> {
        let idp = read_metadata(&metadata)?;
        if idp.slo_endpoint(Binding::HttpRedirect).is_none() {
            return Ok(None);
        }
        let sp = service_provider(&setup, &urls, false)?;
        let name_id = NameId::new(subject.0, name_id_format(&subject.1));
        let started = sp.start_logout(
            &idp,
            saml::logout::StartLogout {
                name_id: &name_id,
                session_index: session_index.as_deref(),
                relay_state: Some(&relay_state),
                reason: None,
                binding: Binding::HttpRedirect,
            },
        )?;
        let Dispatch::Redirect(url) = started.dispatch else {
            return Ok(None);
        };
        Ok(Some((url.to_string(), started.tracker)))
    })
    .await
    .map_err(|_| SamlError::Unreadable)??;
    let Some((url, tracker)) = started else {
        return Ok(None);
    };
    let pending = PendingLogout {
        organization: connection.organization_id.clone(),
        tracker,
    };
    pending_logouts(config)
        .put(&relay, &pending)
        .await
        .map_err(|err| SamlError::Metadata(err.to_string()))?;
    Ok(Some(url))
}

/// The NameID format of URI `uri`.
fn name_id_format(uri: &str) -> NameIdFormat {
    [
        NameIdFormat::Persistent,
        NameIdFormat::EmailAddress,
        NameIdFormat::Unspecified,
        NameIdFormat::Transient,
    ]
    .into_iter()
    .find(|format| format.as_uri() == uri)
    .unwrap_or_else(|| NameIdFormat::Custom(uri.to_owned()))
}

/// `GET <slo>`: the identity provider's logout request (its subject's sessions signed in
/// through the connection end; the provider is answered) or its answer to this app's
/// (the browser goes on to the setup's signed-out page). Signed messages only, against
/// the pinned certificate; a connection that is off takes no request.
async fn slo_answer(config: &PowConfig, req: &EndpointRequest) -> HttpAnswer {
    let org = req.params.get("org").unwrap_or_default().to_owned();
    let query = req.query_params();
    let signed_out = pow_core::config::extension_path(config, NAME, crate::pages::SSO_PATH, &[]);
    if query.get("SAMLResponse").is_some() {
        // The answer to a logout this app began: this browser is signed out already.
        let relay = query.get("RelayState").unwrap_or_default().to_owned();
        if let Err(err) = finish_logout(config, req, &org, &relay).await {
            tracing::info!(error = %err, "SAML logout answer not taken");
            if let Ok(connection) = connection_of(config, &org).await {
                crate::flows::audit_refused_answer(config, &connection, &err.to_string());
            }
        }
        return HttpAnswer::redirect(&signed_out);
    }
    match idp_logout(config, req, &org).await {
        Ok(Some(url)) => HttpAnswer::redirect(&url),
        Ok(None) => HttpAnswer::text(400, "Bad Request", Some("no-store")),
        Err(err) => HttpAnswer::failure(&err),
    }
}

/// The provider's answer to this app's logout: checked against the request kept under
/// `relay` (`InResponseTo`, issuer, signature).
async fn finish_logout(
    config: &PowConfig,
    req: &EndpointRequest,
    org: &str,
    relay: &str,
) -> Result<(), SamlError> {
    let pending = pending_logouts(config)
        .take::<PendingLogout>(relay)
        .await
        .map_err(|err| SamlError::Metadata(err.to_string()))?
        .filter(|pending| pending.organization == org)
        .ok_or(SamlError::Unreadable)?;
    let connection = connection_of(config, org).await?;
    let metadata = connection.saml_metadata.clone().unwrap_or_default();
    let urls = SpUrls::of(config, req.origin(), org);
    let setup = config.clone();
    let raw = req.query.clone();
    tokio::task::spawn_blocking(move || -> Result<(), SamlError> {
        let idp = read_metadata(&metadata)?;
        let sp = service_provider(&setup, &urls, false)?;
        sp.consume_logout_response(
            &idp,
            saml::logout::ConsumeLogoutResponse {
                peer_crypto_policy: None,
                body: raw.as_bytes(),
                binding: Binding::HttpRedirect,
                detached_signature: None,
                tracker: &pending.tracker,
                expected_destination: &urls.slo,
                now: SystemTime::now(),
                clock_skew: CLOCK_SKEW,
            },
        )?;
        Ok(())
    })
    .await
    .map_err(|_| SamlError::Unreadable)?
}

async fn connection_of(config: &PowConfig, org: &str) -> Result<crate::Connection, SamlError> {
    crate::Connections::new(config)
        .map_err(|err| SamlError::Metadata(err.to_string()))?
        .of_organization(org)
        .await
        .map_err(|err| SamlError::Metadata(err.to_string()))?
        .filter(crate::Connection::is_saml)
        .ok_or(SamlError::Unreadable)
}

/// The provider's logout request: verified, the subject's sessions signed in through
/// single sign-on ended, and the provider's URL with the answer. `None` for a request
/// that is refused (audited): not signed by the pinned certificate, for another
/// destination, or for a connection that is off.
async fn idp_logout(
    config: &PowConfig,
    req: &EndpointRequest,
    org: &str,
) -> Result<Option<String>, PowError> {
    let Ok(connection) = connection_of(config, org).await else {
        return Ok(None);
    };
    if !connection.enabled {
        crate::flows::audit_refused_answer(config, &connection, "the connection is off");
        return Ok(None);
    }
    let metadata = connection.saml_metadata.clone().unwrap_or_default();
    let urls = SpUrls::of(config, req.origin(), org);
    let setup = config.clone();
    let raw = req.query.clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<_, SamlError> {
        let idp = read_metadata(&metadata)?;
        let sp = service_provider(&setup, &urls, false)?;
        let parsed = sp.consume_logout_request(
            &idp,
            saml::logout::ConsumeLogoutRequest {
                peer_crypto_policy: None,
                body: raw.as_bytes(),
                binding: Binding::HttpRedirect,
                detached_signature: None,
                expected_destination: &urls.slo,
                now: SystemTime::now(),
                clock_skew: CLOCK_SKEW,
            },
        )?;
        let answer = sp.build_logout_response(
            &idp,
            &parsed,
            saml::logout::LogoutStatus::Success,
            parsed.relay_state.as_deref(),
            Binding::HttpRedirect,
        )?;
        let Dispatch::Redirect(url) = answer else {
            return Err(SamlError::NoRedirectService);
        };
        Ok((parsed.name_id.value, url.to_string()))
    })
    .await
    .map_err(|err| PowError::Blocking(err.to_string()))?;
    let (subject, url): (String, String) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            tracing::warn!(connection = %connection.id, error = %err, "SAML logout request refused");
            crate::flows::audit_refused_answer(config, &connection, &err.to_string());
            return Ok(None);
        }
    };
    crate::flows::single_logout(config, &connection, &subject).await?;
    Ok(Some(url))
}

/// Sign-out of a session that signed in through a SAML connection goes on to the
/// identity provider's single logout (a browser's sign-out; the JSON API's is local).
pub(crate) struct SignOutAtIdp;

/// What the sign-out's first half saw of the session it ends.
pub(crate) struct EndingSession {
    connection: String,
    subject: (String, String),
    session_index: Option<String>,
    origin: Option<String>,
}

#[async_trait::async_trait]
impl pow_core::extension::Callbacks for SignOutAtIdp {
    async fn before_process(
        &self,
        step: &mut pow_core::pipeline::Step,
        client: &mut dyn pow_core::pipeline::Client,
    ) -> Result<pow_core::pipeline::Flow, PowError> {
        if step.id == pow_core::pages::core::SESSION_DELETE {
            if let Some(current) = client.session().current() {
                let extra = &current.metadata.extra;
                let connection = extra
                    .get(crate::flows::CONNECTION_KEY)
                    .and_then(|v| v.as_str());
                let subject = extra
                    .get(crate::flows::SAML_SUBJECT_KEY)
                    .and_then(|v| serde_json::from_value::<(String, String)>(v.clone()).ok());
                if let (Some(connection), Some(subject)) = (connection, subject) {
                    step.assigns.insert(EndingSession {
                        connection: connection.to_owned(),
                        subject,
                        session_index: extra
                            .get(crate::flows::SAML_SESSION_KEY)
                            .and_then(|v| v.as_str())
                            .map(str::to_owned),
                        origin: client.facts().origin,
                    });
                }
            }
        }
        Ok(pow_core::pipeline::Flow::Continue)
    }

    async fn before_respond(
        &self,
        step: &mut pow_core::pipeline::Step,
        _client: &mut dyn pow_core::pipeline::Client,
    ) -> Result<pow_core::pipeline::Flow, PowError> {
        if step.id != pow_core::pages::core::SESSION_DELETE || step.is_json() {
            return Ok(pow_core::pipeline::Flow::Continue);
        }
        let Some(ending) = step.assigns.remove::<EndingSession>() else {
            return Ok(pow_core::pipeline::Flow::Continue);
        };
        let connection = crate::Connections::new(&step.config)?
            .get(&ending.connection)
            .await?
            .filter(|connection| connection.enabled && connection.is_saml());
        let Some(connection) = connection else {
            return Ok(pow_core::pipeline::Flow::Continue);
        };
        match logout_url(&step.config, &connection, ending).await {
            Ok(Some(url)) => Ok(pow_core::pipeline::Flow::Halt(
                pow_core::pipeline::Halt::Redirect(url),
            )),
            Ok(None) => Ok(pow_core::pipeline::Flow::Continue),
            Err(err) => {
                tracing::warn!(connection = %connection.id, error = %err, "SAML logout not begun");
                Ok(pow_core::pipeline::Flow::Continue)
            }
        }
    }
}

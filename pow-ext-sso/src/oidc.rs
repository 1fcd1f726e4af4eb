//! The OpenID Connect side of a connection: discovery, the authorization request (PKCE
//! S256, `state`, `nonce`), the code exchange and the ID token's checks (signature by the
//! provider's published keys, issuer, audience, expiry, `nonce`; `none` and HMAC refused).
//! Every request goes through the engine's address-checked client
//! ([`OutboundClient`]): the issuer's host resolved once, private, loopback, link-local
//! and shared ranges refused, no redirect followed, answers capped. Blocking: run on a
//! blocking thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
};
use pow_core::outbound::OutboundClient;
use serde::{Deserialize, Serialize};

/// How long a discovery document (and its key set) is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(10 * 60);
/// Discovery documents kept at most (one per connection in use).
const MAX_CACHED: usize = 1024;

/// Why talking to a connection's provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The connection's settings are not usable (an issuer that is not a URL).
    #[error("the connection's settings: {0}")]
    Settings(String),
    /// The provider could not be reached, or its answer was refused by the address check.
    #[error("the provider is unreachable: {0}")]
    Unreachable(String),
    /// The provider refused the code (or the client's credentials).
    #[error("the provider refused: {0}")]
    Refused(String),
    /// The ID token failed a check.
    #[error("the ID token failed its checks: {0}")]
    InvalidIdToken(String),
}

/// What the provider asserts about the person who signed in, from a verified ID token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The provider's stable id of the account (`sub`): identities are keyed on it.
    pub subject: String,
    /// The address it asserts, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether it vouches for the address (`email_verified`).
    pub email_verified: bool,
    /// The display name, if shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How the person authenticated there (`amr`), as signed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The authentication context class (`acr`), as signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// SAML: the NameID's format URI (single logout names the subject with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_id_format: Option<String>,
    /// SAML: the identity provider's session (`SessionIndex`), for single logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_index: Option<String>,
}

/// A sign-in begun: the provider's URL, and what the callback needs.
pub(crate) struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// The settings of one provider call.
pub(crate) struct Settings<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: Option<String>,
    pub redirect_uri: &'a str,
}

/// Discovery documents by issuer, shared by the extension's calls.
#[derive(Clone, Default)]
pub(crate) struct Discovery {
    cached: Arc<Mutex<HashMap<String, (Instant, CoreProviderMetadata)>>>,
}

type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

impl Discovery {
    /// `issuer`'s discovery document, fetched at most every [`DISCOVERY_TTL`] (`fresh`
    /// forces a fetch: a key set without the ID token's key may have been rotated).
    fn metadata(
        &self,
        http: &OutboundClient,
        issuer: &str,
        fresh: bool,
    ) -> Result<CoreProviderMetadata, OidcError> {
        if !fresh {
            if let Ok(cached) = self.cached.lock() {
                if let Some((at, metadata)) = cached.get(issuer) {
                    if at.elapsed() < DISCOVERY_TTL {
                        return Ok(metadata.clone());
                    }
                }
            }
        }
        let url = IssuerUrl::new(issuer.to_owned())
            .map_err(|err| OidcError::Settings(format!("issuer `{issuer}`: {err}")))?;
        let client = |request| http.execute_blocking(request);
        let metadata = CoreProviderMetadata::discover(&url, &client)
            .map_err(|err| OidcError::Unreachable(format!("discovery of {issuer}: {err}")))?;
        if let Ok(mut cached) = self.cached.lock() {
            if cached.len() >= MAX_CACHED {
                cached.retain(|_, (at, _)| at.elapsed() < DISCOVERY_TTL);
                if cached.len() >= MAX_CACHED {
                    cached.clear();
                }
            }
            cached.insert(issuer.to_owned(), (Instant::now(), metadata.clone()));
        }
        Ok(metadata)
    }

    fn client(
        metadata: CoreProviderMetadata,
        settings: &Settings<'_>,
    ) -> Result<OidcClient, OidcError> {
        let redirect = RedirectUrl::new(settings.redirect_uri.to_owned())
            .map_err(|err| OidcError::Settings(err.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.to_owned()),
            settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Begins a sign-in: fresh `state`, `nonce` and PKCE (S256) values and the provider's
    /// authorization URL asking for `openid email profile`.
    pub(crate) fn start(
        &self,
        http: &OutboundClient,
        settings: &Settings<'_>,
    ) -> Result<Started, OidcError> {
        let metadata = self.metadata(http, settings.issuer, false)?;
        let client = Self::client(metadata, settings)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: trades `code` (with the PKCE verifier) for tokens and checks the
    /// ID token.
    pub(crate) fn finish(
        &self,
        http: &OutboundClient,
        settings: &Settings<'_>,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Claims, OidcError> {
        let client_fn = |request| http.execute_blocking(request);
        let metadata = self.metadata(http, settings.issuer, false)?;
        let client = Self::client(metadata.clone(), settings)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|err| OidcError::Settings(err.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request(&client_fn)
            .map_err(|err| OidcError::Refused(format!("{err:?}")))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| OidcError::InvalidIdToken("the token answer has no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let verified = {
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(asymmetric(&metadata));
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verified {
            Ok(claims) => claims,
            // The provider may have rotated its key since discovery: fetch once more.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let metadata = self.metadata(http, settings.issuer, true)?;
                let client = Self::client(metadata.clone(), settings)?;
                let verifier = client
                    .id_token_verifier()
                    .set_allowed_algs(asymmetric(&metadata));
                id_token
                    .claims(&verifier, &nonce)
                    .map_err(|err| OidcError::InvalidIdToken(err.to_string()))?
                    .clone()
            }
            Err(err) => return Err(OidcError::InvalidIdToken(err.to_string())),
        };
        Ok(Claims {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|email| email.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.as_str().to_owned()),
            amr: claims
                .auth_method_refs()
                .map(|amr| amr.iter().map(|m| m.as_str().to_owned()).collect())
                .unwrap_or_default(),
            acr: claims.auth_context_ref().map(|acr| acr.as_str().to_owned()),
            name_id_format: None,
            session_index: None,
        })
    }
}

/// The provider's advertised ID token algorithms that the engine's rule allows
/// ([`public_key_algs`](pow_core::token::public_key_algs): no `none`, no HMAC).
fn asymmetric(metadata: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    pow_core::token::public_key_algs(metadata.id_token_signing_alg_values_supported())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// openidconnect's algorithms reach the engine's rule by their JOSE names: `none` and
    /// the HMAC ones are dropped, public-key ones kept, in order.
    #[test]
    fn only_public_key_algorithms_verify_id_tokens() {
        use CoreJwsSigningAlgorithm as Alg;
        let advertised = [
            Alg::None,
            Alg::RsaSsaPkcs1V15Sha256,
            Alg::HmacSha256,
            Alg::HmacSha384,
            Alg::HmacSha512,
            Alg::EcdsaP256Sha256,
            Alg::EdDsa,
        ];
        assert_eq!(
            pow_core::token::public_key_algs(&advertised),
            [Alg::RsaSsaPkcs1V15Sha256, Alg::EcdsaP256Sha256, Alg::EdDsa]
        );
    }
}

//! JWT access tokens (RFC 9068), for the resources that ask for them
//! ([`Resource::jwt_access_tokens`](crate::Resource::jwt_access_tokens)): a JWS of the
//! token's claims, typed `at+jwt`, signed with the key ring's current key.
//!
//! A JWT access token is recorded in the store as an opaque one is (under its `jti`, in its
//! family), so it is only as good as its record: whoever reads it here first checks the
//! signature against the ring's keys (current and retired), `typ`, `iss` and `exp`, then
//! the record and the family, which revocation and reuse end.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::PrivateSigningKey as _;
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};

use crate::{jws, keys};

/// The longest `jti` read.
const MAX_JTI_LEN: usize = 200;

/// The `typ` of JWT access tokens (RFC 9068 §2.1).
pub(crate) const TYP: &str = "at+jwt";

/// The claims of a JWT access token (RFC 9068 §2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) iss: String,
    /// The user's id, or the client's for a client acting for itself.
    pub(crate) sub: String,
    /// The resource it is for.
    pub(crate) aud: String,
    pub(crate) client_id: String,
    /// The scopes, space-separated.
    pub(crate) scope: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    /// The token's id: its record is kept under it.
    pub(crate) jti: String,
    /// When the user last proved who they are; absent without a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auth_time: Option<i64>,
}

/// The JOSE header written.
#[derive(Debug, Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// Signs `claims` with the ring's current key.
pub(crate) fn sign(config: &PowConfig, claims: &Claims) -> Result<String, PowError> {
    let broken =
        |what: String| PowError::Config(format!("the access token cannot be made: {what}"));
    let key = keys::current(config)?;
    let header = Header {
        alg: key.algorithm().name(),
        typ: TYP,
        kid: key.kid(),
    };
    let header = encoded(&header).map_err(|err| broken(err.to_string()))?;
    let payload = encoded(claims).map_err(|err| broken(err.to_string()))?;
    let signing_input = format!("{header}.{payload}");
    let signature = key
        .sign(&key.algorithm().jws(), signing_input.as_bytes())
        .map_err(|err| broken(err.to_string()))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// The claims of `token` when it is a JWT access token this provider signed (a key of the
/// ring, current or retired, of the algorithm it signs with: [`jws::verified`]), typed
/// `at+jwt`, from `issuer`, not expired at `now`: the signature is checked before anything
/// else of it is believed. `None` for anything else; an error only when the keys cannot be
/// derived.
pub(crate) fn verify(
    config: &PowConfig,
    issuer: &str,
    token: &str,
    now: i64,
) -> Result<Option<Claims>, PowError> {
    let Some((header, payload)) = jws::verified(config, token)? else {
        return Ok(None);
    };
    let typ = header.typ.unwrap_or_default().to_ascii_lowercase();
    if typ != TYP && typ != "application/at+jwt" {
        return Ok(None);
    }
    let Ok(claims) = serde_json::from_slice::<Claims>(&payload) else {
        return Ok(None);
    };
    if claims.iss != issuer
        || claims.exp <= now
        || claims.jti.is_empty()
        || claims.jti.len() > MAX_JTI_LEN
    {
        return Ok(None);
    }
    Ok(Some(claims))
}

/// `value`'s JSON, base64url without padding.
fn encoded<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(value)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Provider, SigningAlgorithm};

    fn config(secret: &str, algorithm: SigningAlgorithm) -> PowConfig {
        PowConfig::builder(secret.repeat(64))
            .extension(Provider::new().signing_algorithm(algorithm))
            .build()
            .unwrap()
    }

    fn claims() -> Claims {
        Claims {
            iss: "https://example.com".into(),
            sub: "42".into(),
            aud: "https://example.com/mcp".into(),
            client_id: "agent".into(),
            scope: "notes:read".into(),
            iat: 1_000,
            exp: 2_000,
            jti: "the-id".into(),
            auth_time: Some(900),
        }
    }

    fn header_of(token: &str) -> serde_json::Value {
        let part = token.split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_with_each_algorithm() {
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let config = config("s", algorithm);
            let token = sign(&config, &claims()).unwrap();
            assert!(jws::looks_like(&token));
            let header = header_of(&token);
            assert_eq!(header["typ"], "at+jwt");
            assert_eq!(header["alg"], algorithm.name());
            assert_eq!(header["kid"], keys::current(&config).unwrap().kid());
            let verified = verify(&config, "https://example.com", &token, 1_500).unwrap();
            assert_eq!(verified, Some(claims()), "{algorithm:?}");
            // Expired, another issuer, another setup's keys.
            assert_eq!(
                verify(&config, "https://example.com", &token, 2_000).unwrap(),
                None
            );
            assert_eq!(
                verify(&config, "https://other.example", &token, 1_500).unwrap(),
                None
            );
            let other = self::config("t", algorithm);
            assert_eq!(
                verify(&other, "https://example.com", &token, 1_500).unwrap(),
                None
            );
        }
    }

    #[test]
    fn a_retired_key_s_token_still_verifies() {
        let old = config("s", SigningAlgorithm::Es256);
        let token = sign(&old, &claims()).unwrap();
        let rotated = PowConfig::builder("t".repeat(64))
            .extension(Provider::new().signing_algorithm(SigningAlgorithm::Es256))
            .retired_secret_key_base("2026", "s".repeat(64))
            .build()
            .unwrap();
        assert!(verify(&rotated, "https://example.com", &token, 1_500)
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_tampered_or_retyped_token_is_refused() {
        let config = config("s", SigningAlgorithm::EdDsa);
        let token = sign(&config, &claims()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut changed = claims();
        changed.aud = "https://example.com/api".into();
        parts[1] = encoded(&changed).unwrap();
        let tampered = parts.join(".");
        assert_eq!(
            verify(&config, "https://example.com", &tampered, 1_500).unwrap(),
            None
        );
        // An ID-token-like `typ`, signed by the same key: not an access token.
        let key = keys::current(&config).unwrap();
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": key.kid() });
        let input = format!(
            "{}.{}",
            encoded(&header).unwrap(),
            encoded(&claims()).unwrap()
        );
        let signature = key.sign(&key.algorithm().jws(), input.as_bytes()).unwrap();
        let retyped = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
        assert_eq!(
            verify(&config, "https://example.com", &retyped, 1_500).unwrap(),
            None
        );
        for junk in [
            "",
            "a.b.c",
            "eyJ.eyJ.",
            "eyJhbGciOiJub25lIn0.e30.",
            "powat_x",
        ] {
            assert_eq!(
                verify(&config, "https://example.com", junk, 1_500).unwrap(),
                None
            );
        }
    }
}

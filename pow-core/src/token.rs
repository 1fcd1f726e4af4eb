//! Signed tokens in the Plug.Crypto `MessageVerifier` format, and random token generation.
//!
//! Every token that leaves the server (session ids, remember-me tokens, reset, confirmation
//! and invitation tokens) is signed with a key derived from the secret key base and a
//! per-purpose salt. A token is verified before any store or database lookup, so a forged
//! token costs one HMAC and never reaches a backend.
//!
//! ```
//! use pow_core::token::MessageVerifier;
//! let secret = "abcdefghijklmnopqrstuvxyz0123456789abcdefghijklmnopqrstuvxyz0123456789";
//! let verifier = MessageVerifier::new(secret.as_bytes());
//! let signed = verifier.sign("salt", b"token");
//! assert_eq!(signed, "SFMyNTY.dG9rZW4._S20NAvts2f0wK-mzK4VyVId_AjdsO0viuavhBkptDo");
//! assert_eq!(verifier.verify("salt", &signed).as_deref(), Some(&b"token"[..]));
//! assert!(verifier.verify("other salt", &signed).is_none());
//! ```

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};

/// Pow's salt for session tokens. pow-rs's cookie session is signed as a whole and keeps
/// the session id unsigned inside it; the salt stays for tools and tests that sign ids the
/// way Pow does.
pub const SESSION_SALT: &str = "Elixir.Pow.Plug.Session";

/// Iterations of PBKDF2-SHA256 used to derive signing keys (Plug.Crypto's default).
pub(crate) const KEY_ITERATIONS: u32 = 1000;
/// Length in bytes of a derived signing key (Plug.Crypto's default).
pub(crate) const KEY_LENGTH: usize = 32;

/// Signs and verifies tokens with keys derived from the secret key base.
///
/// Derived keys are cached per salt, so signing costs one HMAC after the first use.
#[derive(Clone)]
pub struct MessageVerifier {
    secret: Arc<[u8]>,
    keys: Arc<RwLock<HashMap<String, Derived>>>,
    /// Retired secrets of the key ring, newest first: they still verify, never sign.
    retired: Arc<[RetiredKey]>,
}

/// A retired secret of the key ring, with the id it is known by in logs.
/// A key derived for a salt, with its HMAC-SHA256 state keyed once: an HMAC under it then
/// hashes the message alone, not the key's two padded blocks again.
#[derive(Clone)]
struct Derived {
    key: [u8; KEY_LENGTH],
    mac: Hmac<Sha256>,
}

#[derive(Clone)]
struct RetiredKey {
    id: Arc<str>,
    verifier: MessageVerifier,
}

impl std::fmt::Debug for MessageVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageVerifier").finish_non_exhaustive()
    }
}

impl MessageVerifier {
    /// Creates a verifier for a secret key base. The length is checked by
    /// [`PowConfig`](crate::PowConfig), which refuses secrets shorter than 64 bytes.
    pub fn new(secret_key_base: &[u8]) -> Self {
        Self {
            secret: Arc::from(secret_key_base),
            keys: Arc::default(),
            retired: Arc::from([]),
        }
    }

    /// A key ring: signs with `current`; verifies with `current`, then with each retired
    /// secret in order (`(id, secret)`, newest first). Retiring a secret for good is
    /// dropping it from the list.
    ///
    /// ```
    /// use pow_core::token::MessageVerifier;
    /// let (old, new) = ("a".repeat(64), "b".repeat(64));
    /// let signed = MessageVerifier::new(old.as_bytes()).sign_token("salt", "t");
    /// let ring = MessageVerifier::with_retired(new.as_bytes(), &[("2026-01", old.as_bytes())]);
    /// assert_eq!(ring.verify_token("salt", &signed).as_deref(), Some("t"));
    /// assert!(MessageVerifier::new(new.as_bytes()).verify_token("salt", &signed).is_none());
    /// ```
    pub fn with_retired(current: &[u8], retired: &[(&str, &[u8])]) -> Self {
        let mut verifier = Self::new(current);
        verifier.retired = retired
            .iter()
            .map(|(id, secret)| RetiredKey {
                id: Arc::from(*id),
                verifier: Self::new(secret),
            })
            .collect();
        verifier
    }

    /// The keyed hash under which a token for `purpose` is kept at rest (store key or
    /// database column), so a dump of the store or the users table holds no usable token.
    /// Uses the current secret; look a token up with [`token_digests`](Self::token_digests).
    pub fn token_digest(&self, purpose: &str, token: &str) -> String {
        keyed_digest_with(self.mac(&token_salt(purpose)), token)
    }

    /// [`token_digest`](Self::token_digest) under every secret of the ring, the current one
    /// first: try each when looking a token up.
    pub fn token_digests(&self, purpose: &str, token: &str) -> Vec<String> {
        let salt = token_salt(purpose);
        self.ring()
            .map(|verifier| keyed_digest_with(verifier.mac(&salt), token))
            .collect()
    }

    /// The ids of the retired secrets, newest first.
    pub fn retired_ids(&self) -> impl Iterator<Item = &str> {
        self.retired.iter().map(|key| &*key.id)
    }

    /// Every secret's verifier, the current one first, then the retired ones: what keyed
    /// hashes and cookies are checked against.
    pub fn ring(&self) -> impl Iterator<Item = &MessageVerifier> {
        std::iter::once(self).chain(self.retired.iter().map(|key| &key.verifier))
    }

    /// The key derived for `salt` from every secret of the ring, the current one first
    /// (see [`derive_key`](Self::derive_key)): check a keyed hash against each.
    pub fn derive_keys(&self, salt: &str) -> Vec<[u8; KEY_LENGTH]> {
        self.ring()
            .map(|verifier| verifier.derive_key(salt))
            .collect()
    }

    /// The HS256 signature of `message` for `salt`.
    fn hs256(&self, salt: &str, message: &[u8]) -> Vec<u8> {
        let mut mac = self.mac(salt);
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    /// Derives the signing key for `salt`: PBKDF2-HMAC-SHA256, 1000 iterations, 32 bytes.
    pub fn derive_key(&self, salt: &str) -> [u8; KEY_LENGTH] {
        self.derived(salt).key
    }

    /// The HMAC-SHA256 state keyed with [`derive_key`](Self::derive_key)`(salt)`, keyed
    /// once and cloned for each use (see [`keyed_digest_with`]).
    pub fn mac(&self, salt: &str) -> Hmac<Sha256> {
        self.derived(salt).mac
    }

    fn derived(&self, salt: &str) -> Derived {
        let cached = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(salt)
            .cloned();
        if let Some(derived) = cached {
            return derived;
        }
        let mut key = [0u8; KEY_LENGTH];
        pbkdf2::pbkdf2_hmac::<Sha256>(&self.secret, salt.as_bytes(), KEY_ITERATIONS, &mut key);
        let derived = Derived {
            key,
            mac: hmac_state(&key),
        };
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(salt.to_owned(), derived.clone());
        derived
    }

    /// Signs `message` for `salt` as `SFMyNTY.<payload>.<signature>` (HS256).
    pub fn sign(&self, salt: &str, message: &[u8]) -> String {
        let mut out = String::with_capacity(8 + message.len() * 2 + 44);
        out.push_str("SFMyNTY.");
        URL_SAFE_NO_PAD.encode_string(message, &mut out);
        let tag = self.hs256(salt, out.as_bytes());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// Signs a UTF-8 token; shorthand for [`sign`](Self::sign).
    pub fn sign_token(&self, salt: &str, token: &str) -> String {
        self.sign(salt, token.as_bytes())
    }

    /// Verifies a signed token and returns its payload. The signature is compared in
    /// constant time. HS256, HS384 and HS512 protected headers are accepted.
    pub fn verify(&self, salt: &str, signed: &str) -> Option<Vec<u8>> {
        if let Some(message) = self.verify_one(salt, signed) {
            return Some(message);
        }
        self.retired.iter().find_map(|key| {
            let message = key.verifier.verify_one(salt, signed)?;
            tracing::debug!(key = %key.id, "a token verified with a retired secret");
            Some(message)
        })
    }

    /// [`verify`](Self::verify) with this secret alone.
    fn verify_one(&self, salt: &str, signed: &str) -> Option<Vec<u8>> {
        let mut parts = signed.split('.');
        let (protected, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let message = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signed_part = &signed[..protected.len() + 1 + payload.len()];
        let ok = match protected {
            "SFMyNTY" => secure_compare(&self.hs256(salt, signed_part.as_bytes()), &signature),
            "SFMzODQ" => check::<Hmac<Sha384>>(&self.derive_key(salt), signed_part, &signature),
            "SFM1MTI" => check::<Hmac<Sha512>>(&self.derive_key(salt), signed_part, &signature),
            _ => false,
        };
        ok.then_some(message)
    }

    /// Verifies a signed token whose payload must be UTF-8.
    pub fn verify_token(&self, salt: &str, signed: &str) -> Option<String> {
        self.verify(salt, signed)
            .and_then(|bytes| String::from_utf8(bytes).ok())
    }
}

fn token_salt(purpose: &str) -> String {
    format!("pow token at rest {purpose}")
}

fn check<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &str, signature: &[u8]) -> bool {
    match <M as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message.as_bytes());
            mac.verify_slice(signature).is_ok()
        }
        Err(_) => false,
    }
}

/// `value`'s HMAC-SHA256 under `key`, in unpadded base64url: how pow-rs keys the store and
/// the audit log by identifiers, addresses and session ids it must recognise but never hold.
pub fn keyed_digest(key: &[u8], value: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256(key, value.as_bytes()))
}

/// [`keyed_digest`] under a keyed HMAC state (a [`MessageVerifier::mac`], cloned): the same
/// digest, without hashing the key again.
pub fn keyed_digest_with(mut mac: Hmac<Sha256>, value: &str) -> String {
    mac.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// HMAC-SHA256 of `message` under `key`. HMAC takes keys of any length, so this cannot fail.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = hmac_state(key);
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// An HMAC-SHA256 state keyed with `key`, to clone per message when one key signs many.
pub(crate) fn hmac_state(key: &[u8]) -> Hmac<Sha256> {
    // `new_from_slice` takes keys of any length for HMAC; the fallback is never reached.
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()))
}

/// Generates a random version-4 UUID as 36 lowercase characters, as Pow's tokens are.
pub fn generate_uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// Whether `alg` (a JWS algorithm as JOSE names it) may sign an ID token another server
/// issued: only a public-key algorithm. `none` proves nothing, and with an HMAC one
/// (`HS256`, `HS384`, `HS512`) the client secret, which the client holds too, would be a key
/// that signs tokens. The one rule of every relying party here (`pow-ext-oauth`'s providers,
/// `pow-ext-sso`'s OpenID connections).
///
/// ```
/// use pow_core::token::is_public_key_jws;
///
/// assert!(is_public_key_jws("RS256") && is_public_key_jws("ES256") && is_public_key_jws("EdDSA"));
/// assert!(!is_public_key_jws("none") && !is_public_key_jws("HS256") && !is_public_key_jws("HS512"));
/// ```
pub fn is_public_key_jws(alg: &str) -> bool {
    alg != "none" && !alg.starts_with("HS")
}

/// Of `advertised` (a provider's ID token algorithms, of any type that serializes to its
/// JOSE name, as openidconnect's do), those [`is_public_key_jws`] allows, in order.
///
/// ```
/// use pow_core::token::public_key_algs;
///
/// assert_eq!(public_key_algs(&["RS256", "none", "HS256", "ES256"]), ["RS256", "ES256"]);
/// ```
pub fn public_key_algs<A: serde::Serialize + Clone>(advertised: &[A]) -> Vec<A> {
    advertised
        .iter()
        .filter(|alg| {
            serde_json::to_value(alg)
                .ok()
                .as_ref()
                .and_then(serde_json::Value::as_str)
                .is_some_and(is_public_key_jws)
        })
        .cloned()
        .collect()
}

/// Compares two byte strings in constant time (for their common length).
pub fn secure_compare(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

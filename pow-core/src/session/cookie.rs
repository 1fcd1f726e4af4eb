//! The cookie session's format, for every framework layer: a small signed cookie carrying
//! the session id (and whatever else pow-rs or the app keeps per browser: the CSRF secret,
//! flash texts, a sign-in under way).
//!
//! One cookie, read by scanning the `Cookie` header for its name (no cookie jar, no
//! percent-decoding), checked with one HMAC-SHA256, its state a JSON map of JSON values
//! (embedded as JSON, not as strings):
//!
//! ```text
//! pow_session=<base64url(JSON map)>.<base64url(HMAC-SHA256(key, name NUL payload))>
//! ```
//!
//! The key is derived from the secret key base (see [`cookie_key`]); a cookie that only
//! verifies with a retired secret of the key ring is read, and signed again with the
//! current one in the response. A cookie that does not verify is ignored (an empty
//! session). The cookie is written only when the state changed.
//!
//! A framework layer holds one [`CookieCodec`] per setup and one [`CookieState`] per
//! request: it finds the value with [`CookieCodec::find`], opens it with
//! [`CookieCodec::open_remembered`], lets the request change the state, and sets the
//! cookie [`CookieState::response_cookie`] answers. So every framework writes the same
//! bytes, and a cookie set by one is read by the other.
//!
//! ```
//! use pow_core::session::cookie::{CookieCodec, CookieState};
//!
//! let config = pow_core::PowConfig::builder("s".repeat(64)).build().unwrap();
//! let codec = CookieCodec::new(&config);
//! let mut state = CookieState::empty();
//! state.insert("greeting", "hi").unwrap();
//! let cookie = state.response_cookie(&codec, false).unwrap();
//!
//! let header = format!("{}={}", cookie.name(), cookie.value());
//! let value = codec.find([header.as_bytes()]).unwrap();
//! let opened = codec.open_remembered(value).unwrap();
//! assert_eq!(opened.get::<String>("greeting").unwrap().as_deref(), Some("hi"));
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac as _};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::Sha256;

use super::{
    check_loaded, next_cookie_id, stored_session_id, CredentialsCache, CurrentSession,
    SessionMetadata,
};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::time::{duration_ms, now_ms};
use crate::token::MessageVerifier;
use crate::users::User;

/// Salts deriving the cookie key from the secret key base; a named setup prefixes them
/// with its name, so two setups in one app sign their cookies with different keys.
const SIGNING_SALT: &str = "pow cookie session signing";
const ENCRYPTION_SALT: &str = "pow cookie session encryption";

/// Largest cookie value read (browsers keep at most 4 KiB per cookie).
pub(crate) const MAX_VALUE: usize = 8192;

/// The most `Cookie` header bytes a request may carry: browsers keep each cookie under
/// 4 KiB, and pow-rs's own take a few hundred bytes. Every framework layer refuses more
/// before reading any of it, with `431 Request Header Fields Too Large` and
/// [`OVERSIZED_COOKIES_TEXT`].
pub const MAX_COOKIE_BYTES: usize = 16 * 1024;

/// The text of the `431` answer to a request with more than [`MAX_COOKIE_BYTES`] of cookies.
pub const OVERSIZED_COOKIES_TEXT: &str =
    "The request's cookies are too large. Clear this site's cookies and try again.";

/// The 64-byte key of the cookie session, derived from the secret key base: the first
/// 32 bytes sign (the rest is reserved for an encrypted variant). Stable across restarts
/// and workers as long as the secret key base is.
pub fn cookie_key(config: &PowConfig) -> [u8; 64] {
    key_of(config, config.verifier())
}

fn key_of(config: &PowConfig, verifier: &MessageVerifier) -> [u8; 64] {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&verifier.derive_key(&config.namespaced(SIGNING_SALT)));
    bytes[32..].copy_from_slice(&verifier.derive_key(&config.namespaced(ENCRYPTION_SALT)));
    bytes
}

/// Why a value could not be read from or written to the cookie session.
#[derive(Debug, thiserror::Error)]
#[error("cookie session value for `{key}`: {source}")]
pub struct CookieSessionError {
    key: String,
    #[source]
    source: serde_json::Error,
}

impl From<CookieSessionError> for PowError {
    fn from(err: CookieSessionError) -> Self {
        Self::Other(format!("cannot write the cookie session: {err}"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Unchanged,
    Changed,
    Purged,
}

/// The values of a cookie session, by key (JSON texts).
pub type Values = BTreeMap<String, String>;

/// The cookie session of one request: a map of JSON values, and whether it changed.
///
/// The values are shared with the codec's memo of verified cookies until the request
/// changes them (copy on write).
#[derive(Clone, Debug)]
pub struct CookieState {
    values: Arc<Values>,
    status: Status,
}

impl Default for CookieState {
    fn default() -> Self {
        Self::empty()
    }
}

impl CookieState {
    /// A session without values (a request without the cookie, or with one that does not
    /// verify).
    pub fn empty() -> Self {
        Self {
            values: Arc::default(),
            status: Status::Unchanged,
        }
    }

    /// The value under `key`, if there is one.
    ///
    /// # Errors
    /// When the stored JSON is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CookieSessionError> {
        match self.values.get(key) {
            Some(json) => {
                serde_json::from_str(json)
                    .map(Some)
                    .map_err(|source| CookieSessionError {
                        key: key.to_owned(),
                        source,
                    })
            }
            None => Ok(None),
        }
    }

    /// Calls `f` with the text under `key` when it holds a JSON string: borrowed from the
    /// state when the string has no escapes (a session id never has).
    pub fn with_str<R>(&self, key: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
        let json = self.values.get(key)?;
        // The state was written by serde_json (its signature says so), which escapes
        // control characters: a string without quotes or backslashes inside is plain.
        let plain = json
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .filter(|text| memchr::memchr2(b'"', b'\\', text.as_bytes()).is_none());
        match plain {
            Some(text) => Some(f(text)),
            None => serde_json::from_str::<String>(json)
                .ok()
                .map(|text| f(&text)),
        }
    }

    /// Whether there is a value under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// Puts `value` under `key`.
    ///
    /// # Errors
    /// When `value` cannot be serialized to JSON.
    pub fn insert<T: Serialize>(
        &mut self,
        key: impl Into<String>,
        value: T,
    ) -> Result<(), CookieSessionError> {
        let key = key.into();
        let json = serde_json::to_string(&value).map_err(|source| CookieSessionError {
            key: key.clone(),
            source,
        })?;
        self.mark_changed();
        Arc::make_mut(&mut self.values).insert(key, json);
        Ok(())
    }

    /// Removes the value under `key` and returns its JSON. Removing nothing changes nothing.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        // Checked first: removing nothing must not copy a state shared with the memo.
        if !self.values.contains_key(key) {
            return None;
        }
        let removed = Arc::make_mut(&mut self.values).remove(key);
        self.mark_changed();
        removed
    }

    /// Removes the value under `key` and reads it as a `T` (`Err` holds the JSON when it is
    /// not one).
    pub fn remove_as<T: DeserializeOwned>(&mut self, key: &str) -> Option<Result<T, String>> {
        self.remove(key)
            .map(|json| serde_json::from_str(&json).map_err(|_| json))
    }

    /// Sends the cookie again even if nothing changed (the session id inside changed
    /// meaning, at sign-in). The state is kept.
    pub fn renew(&mut self) {
        self.mark_changed();
    }

    /// Empties the session; the cookie is removed from the browser.
    pub fn purge(&mut self) {
        self.values = Arc::default();
        self.status = Status::Purged;
    }

    /// The keys held, in order.
    pub fn keys(&self) -> Vec<String> {
        self.values.keys().cloned().collect()
    }

    fn mark_changed(&mut self) {
        if self.status != Status::Purged {
            self.status = Status::Changed;
        }
    }

    /// The cookie the response sets for this state, if any: the sealed state when it
    /// changed, a removal when it was emptied and the request `had_cookie`, nothing when
    /// nothing changed.
    pub fn response_cookie(
        &self,
        codec: &CookieCodec,
        had_cookie: bool,
    ) -> Option<Cookie<'static>> {
        match self.status {
            Status::Unchanged => None,
            Status::Changed if !self.values.is_empty() => {
                codec.seal(&self.values).map(|value| codec.cookie(value))
            }
            Status::Changed | Status::Purged if had_cookie => {
                let mut removal = codec.cookie(String::new());
                removal.make_removal();
                Some(removal)
            }
            Status::Changed | Status::Purged => None,
        }
    }
}

/// Slots of a codec's memo of verified values.
const VERIFIED_SLOTS: usize = 1024;

/// Longest cookie value the memo keeps (longer ones are verified on every request).
pub const VERIFIED_MAX_VALUE: usize = 1024;

/// Reads and writes one setup's session cookie: its name, attributes and keys (the
/// current one and the key ring's retired ones), and a memo of the values it verified
/// lately.
///
/// The memo: the next request of the same browser (the same value, compared in constant
/// time) is neither verified nor decoded again, and its state is shared until the session
/// changes. A value is only taken from the memo when it equals a value whose signature was
/// checked with these keys: exactly as trustworthy as checking it again. Direct-mapped by
/// a randomly seeded hash, at most 1,024 values of at most [`VERIFIED_MAX_VALUE`] bytes (a
/// new value takes its slot's place), allocated on first use. Only what the cookie says is
/// kept: whether its session is still live is read from the store on every request.
pub struct CookieCodec {
    name: String,
    /// Finds `name` in a `Cookie` header (built once).
    finder: memchr::memmem::Finder<'static>,
    secure: bool,
    /// Keyed once; cloned per use.
    current: Hmac<Sha256>,
    retired: Vec<Hmac<Sha256>>,
    hasher: foldhash::fast::RandomState,
    slots: Mutex<Vec<Option<VerifiedValue>>>,
}

struct VerifiedValue {
    hash: u64,
    value: Box<[u8]>,
    values: Arc<Values>,
    resign: bool,
}

impl std::fmt::Debug for CookieCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieCodec")
            .field("name", &self.name)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl CookieCodec {
    /// The codec of `config`'s cookie session:
    ///
    /// - cookie name: [`SessionConfig::cookie_name`](crate::config::SessionConfig::cookie_name)
    ///   (`pow_session`, or `<name>_session` for a named setup);
    /// - content signed, not encrypted: it holds the session id (random, looked up by its
    ///   hash) and small values; the signature stops tampering;
    /// - `HttpOnly`, `SameSite=Lax`, path `/`, and `Secure` when
    ///   [`SessionConfig::cookie_secure`](crate::config::SessionConfig::cookie_secure) is on;
    /// - a browser-session cookie (no `Max-Age`): how long a sign-in lasts is decided on
    ///   the server by the credentials TTL, renewal and absolute lifetime.
    pub fn new(config: &PowConfig) -> Self {
        // The first 32 bytes of the cookie key sign.
        let signer = |key: &[u8; 64]| crate::token::hmac_state(&key[..32]);
        let session = config.session();
        Self::with_keys(
            &session.cookie_name,
            session.cookie_secure,
            signer(&cookie_key(config)),
            config
                .verifier()
                .ring()
                .skip(1)
                .map(|verifier| signer(&key_of(config, verifier)))
                .collect(),
        )
    }

    fn with_keys(
        name: &str,
        secure: bool,
        current: Hmac<Sha256>,
        retired: Vec<Hmac<Sha256>>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            finder: memchr::memmem::Finder::new(name.as_bytes()).into_owned(),
            secure,
            current,
            retired,
            hasher: foldhash::fast::RandomState::default(),
            slots: Mutex::new(Vec::new()),
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the cookie is sent over HTTPS only.
    pub fn secure(&self) -> bool {
        self.secure
    }

    fn tag(&self, mac: &Hmac<Sha256>, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = mac.clone();
        mac.update(self.name.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// The request's cookie value, if it carries one: the first cookie of that name in
    /// the `Cookie` headers given. Finds the name with a substring search, then checks it
    /// starts a cookie (the header's start, or `;` and spaces before it) and is followed
    /// by `=`.
    pub fn find<'a>(&self, cookie_headers: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
        let name = self.name.as_bytes();
        cookie_headers.into_iter().find_map(|bytes| {
            self.finder.find_iter(bytes).find_map(|at| {
                let before = bytes[..at].trim_ascii_end();
                let starts = before.is_empty() || before.ends_with(b";");
                let rest = bytes[at + name.len()..].strip_prefix(b"=")?;
                let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
                starts.then(|| rest[..end].trim_ascii_end())
            })
        })
    }

    /// The state of a cookie value, and whether it must be signed again (retired key).
    pub fn open(&self, value: &[u8]) -> Option<(Values, bool)> {
        if value.len() > MAX_VALUE {
            return None;
        }
        let value = std::str::from_utf8(value).ok()?;
        let (payload, tag) = value.split_once('.')?;
        let mut tag_bytes = [0u8; 48];
        let tag_len = URL_SAFE_NO_PAD.decode_slice(tag, &mut tag_bytes).ok()?;
        let tag = &tag_bytes[..tag_len];
        let resign = if self
            .tag(&self.current, payload.as_bytes())
            .verify_slice(tag)
            .is_ok()
        {
            false
        } else if self
            .retired
            .iter()
            .any(|mac| self.tag(mac, payload.as_bytes()).verify_slice(tag).is_ok())
        {
            true
        } else {
            return None;
        };
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        // Values are embedded as JSON, not as strings holding JSON: nothing to unescape.
        let raw: BTreeMap<String, &RawValue> = serde_json::from_slice(&json).ok()?;
        let values = raw
            .into_iter()
            .map(|(key, value)| (key, value.get().to_owned()))
            .collect();
        Some((values, resign))
    }

    /// The request's session from its cookie value: verified (or taken from the memo), a
    /// value signed with a retired key marked for a new seal. `None` when the value does
    /// not verify.
    pub fn open_remembered(&self, value: &[u8]) -> Option<CookieState> {
        let (values, resign) = self.open_shared(value)?;
        Some(CookieState {
            values,
            status: if resign {
                Status::Changed
            } else {
                Status::Unchanged
            },
        })
    }

    fn open_shared(&self, value: &[u8]) -> Option<(Arc<Values>, bool)> {
        use std::hash::BuildHasher as _;
        if value.len() > VERIFIED_MAX_VALUE {
            return self
                .open(value)
                .map(|(values, resign)| (Arc::new(values), resign));
        }
        let hash = self.hasher.hash_one(value);
        let slot = usize::try_from(hash % VERIFIED_SLOTS as u64).unwrap_or(0);
        {
            let slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(Some(known)) = slots.get(slot) {
                if known.hash == hash && constant_time_eq::constant_time_eq(&known.value, value) {
                    return Some((Arc::clone(&known.values), known.resign));
                }
            }
        }
        let (values, resign) = self.open(value)?;
        let values = Arc::new(values);
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slots.is_empty() {
            slots.resize_with(VERIFIED_SLOTS, || None);
        }
        if let Some(place) = slots.get_mut(slot) {
            *place = Some(VerifiedValue {
                hash,
                value: value.into(),
                values: Arc::clone(&values),
                resign,
            });
        }
        Some((values, resign))
    }

    /// The signed cookie value of `values`.
    pub(crate) fn seal(&self, values: &Values) -> Option<String> {
        let raw: BTreeMap<&str, &RawValue> = values
            .iter()
            .map(|(key, json)| Some((key.as_str(), serde_json::from_str(json).ok()?)))
            .collect::<Option<_>>()?;
        let json = serde_json::to_vec(&raw).ok()?;
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = self
            .tag(&self.current, payload.as_bytes())
            .finalize()
            .into_bytes();
        Some(format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag)))
    }

    /// The cookie holding `value`, with the session cookie's attributes.
    pub fn cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build(self.name.clone(), value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish()
    }
}

/// The cookie session of a request: a map of JSON values, written back to the cookie when
/// it changed. A framework layer puts it into each request it serves. Cheap to clone
/// (clones share the state), and `Send`: a handler may hold it across `.await`.
#[derive(Clone, Debug, Default)]
pub struct CookieSession(Arc<Mutex<CookieState>>);

impl CookieSession {
    /// The session of a request, opened from its cookie (or [`CookieState::empty`]).
    pub fn new(state: CookieState) -> Self {
        Self(Arc::new(Mutex::new(state)))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CookieState> {
        // A panic while the state was held leaves it as it was: still a valid map.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cookie the response sets, as [`CookieState::response_cookie`].
    pub fn response_cookie(
        &self,
        codec: &CookieCodec,
        had_cookie: bool,
    ) -> Option<Cookie<'static>> {
        self.state().response_cookie(codec, had_cookie)
    }

    /// The value under `key`, if there is one.
    ///
    /// # Errors
    /// When the stored JSON is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CookieSessionError> {
        self.state().get(key)
    }

    /// Calls `f` with the text under `key` when it holds a JSON string: borrowed from the
    /// session's state when the string has no escapes (a session id never has).
    pub fn with_str<R>(&self, key: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
        self.state().with_str(key, f)
    }

    /// Whether there is a value under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.state().contains_key(key)
    }

    /// Puts `value` under `key`.
    ///
    /// # Errors
    /// When `value` cannot be serialized to JSON.
    pub fn insert<T: Serialize>(
        &self,
        key: impl Into<String>,
        value: T,
    ) -> Result<(), CookieSessionError> {
        self.state().insert(key, value)
    }

    /// Removes the value under `key` and returns its JSON. Removing nothing changes nothing.
    pub fn remove(&self, key: &str) -> Option<String> {
        self.state().remove(key)
    }

    /// Removes the value under `key` and reads it as a `T` (`Err` holds the JSON when it is
    /// not one).
    pub fn remove_as<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, String>> {
        self.state().remove_as(key)
    }

    /// Sends the cookie again even if nothing changed (the session id inside changed
    /// meaning, at sign-in). The state is kept.
    pub fn renew(&self) {
        self.state().renew();
    }

    /// Empties the session; the cookie is removed from the browser.
    pub fn purge(&self) {
        self.state().purge();
    }

    /// The keys held, in order.
    pub fn keys(&self) -> Vec<String> {
        self.state().keys()
    }
}

/// How long a rotated session id keeps answering for the session that replaced it.
const ROTATION_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The signed-in session of a request's cookie session, for any framework layer: the id
/// under [`SessionConfig::session_key`](crate::config::SessionConfig::session_key) looked
/// up in `credentials`, ended past the absolute lifetime, and rotated once it is older
/// than the renewal interval (one of parallel requests rotates; the others are served, and
/// a client still holding an id rotated moments ago is moved to the live one).
///
/// # Errors
/// [`PowError::Store`] when the store fails.
pub async fn resolve(
    config: &PowConfig,
    credentials: &CredentialsCache,
    session: &CookieSession,
) -> Result<Option<CurrentSession>, PowError> {
    let settings = config.session();
    // The cookie's signature was checked before this: a forged id never reaches the store.
    // The id is read in place (no copy).
    let Some(stored_id) = session.with_str(&settings.session_key, |cookie_id| {
        credentials.stored_id(config, cookie_id)
    }) else {
        return Ok(None);
    };
    let Some(resolved) = credentials.resolve(stored_id).await? else {
        return Ok(None);
    };
    let now = now_ms();
    let metadata = resolved.metadata;
    let Some(user) = check_loaded(
        config,
        credentials,
        &resolved.session_id,
        resolved.user,
        &metadata,
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    let due = resolved.via_rotation
        || settings
            .ttl_renewal
            .is_some_and(|every| now.saturating_sub(metadata.inserted_at) >= duration_ms(every));
    // The cookie's own id, read again only when the session moves to a new id.
    let cookie_id = due
        .then(|| session.with_str(&settings.session_key, str::to_owned))
        .flatten();
    let Some(cookie_id) = cookie_id else {
        return Ok(Some(CurrentSession {
            user,
            session_id: resolved.session_id,
            metadata,
        }));
    };

    if resolved.via_rotation {
        // The cookie holds an id rotated moments ago by a parallel request: move this
        // client to the live id too, and never rotate again from an old id.
        let live = resolved.handoffs.iter().fold(cookie_id, |id, handoff| {
            next_cookie_id(config, &id, handoff)
        });
        if stored_session_id(config, &live) == resolved.session_id {
            session.insert(&settings.session_key, &live)?;
        }
        return Ok(Some(CurrentSession {
            user,
            session_id: resolved.session_id,
            metadata,
        }));
    }

    // Due for renewal. Boxed: a renewal is rare, and its state would otherwise grow every
    // request's future past the allocator's small sizes.
    let renewed = Box::pin(renew(
        config,
        credentials,
        session,
        &cookie_id,
        &user,
        &resolved.session_id,
        &metadata,
    ))
    .await?;
    if let Some(renewed) = renewed {
        return Ok(Some(renewed));
    }
    // A parallel request is rotating this id: serve the user as is.
    Ok(Some(CurrentSession {
        user,
        session_id: resolved.session_id,
        metadata,
    }))
}

/// Rotates the session id of a session due for renewal, unless a parallel request claimed
/// it first (`None`).
async fn renew(
    config: &PowConfig,
    credentials: &CredentialsCache,
    session: &CookieSession,
    cookie_id: &str,
    user: &Arc<User>,
    session_id: &str,
    metadata: &SessionMetadata,
) -> Result<Option<CurrentSession>, PowError> {
    if !credentials.claim_renewal(user.id, session_id).await? {
        return Ok(None);
    }
    let renewed = SessionMetadata {
        inserted_at: now_ms(),
        ..metadata.clone()
    };
    let handoff = crate::token::generate_uuid();
    let new_cookie_id = next_cookie_id(config, cookie_id, &handoff);
    let new_id = stored_session_id(config, &new_cookie_id);
    if let Err(err) = credentials
        .put_renewal(&new_id, user, &renewed, session_id)
        .await
    {
        // Best effort: let a later request try again.
        let _ = credentials.release_renewal(user.id, session_id).await;
        return Err(err.into());
    }
    credentials
        .mark_rotated(
            session_id,
            user.id,
            metadata,
            (&new_id, Some(&handoff)),
            ROTATION_GRACE,
        )
        .await?;
    session.renew();
    session.insert(&config.session().session_key, &new_cookie_id)?;
    crate::audit::record(
        config,
        crate::audit::AuditEvent::new(crate::audit::SESSION_RENEWED)
            .user(user.id)
            .detail(
                "session",
                crate::audit::keyed_hash(config, "session", &new_id),
            ),
    );
    Ok(Some(CurrentSession {
        user: Arc::clone(user),
        session_id: new_id,
        metadata: Arc::new(renewed),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn codec(secret: &str, retired: Option<&str>) -> CookieCodec {
        let mut builder = PowConfig::builder(secret.repeat(64));
        if let Some(old) = retired {
            builder = builder.retired_secret_key_base("old", old.repeat(64));
        }
        CookieCodec::new(&builder.build().unwrap())
    }

    fn values() -> Values {
        BTreeMap::from([("auth".to_owned(), "\"abc.1\"".to_owned())])
    }

    #[test]
    fn values_are_embedded_as_json_and_round_trip() {
        let s = codec("a", None);
        let mut values = values();
        values.insert(
            "flash".into(),
            serde_json::to_string(&("say \"hi\" ✓", [1, 2])).unwrap(),
        );
        let value = s.seal(&values).unwrap();
        let payload = URL_SAFE_NO_PAD
            .decode(value.split_once('.').unwrap().0)
            .unwrap();
        let text = String::from_utf8(payload).unwrap();
        assert!(text.contains(r#""auth":"abc.1""#), "{text}");
        assert_eq!(s.open(value.as_bytes()), Some((values, false)));
    }

    #[test]
    fn a_sealed_state_opens_and_nothing_else_does() {
        let s = codec("a", None);
        let value = s.seal(&values()).unwrap();
        assert_eq!(s.open(value.as_bytes()), Some((values(), false)));

        let (payload, tag) = value.split_once('.').unwrap();
        let mut other = values();
        other.insert("auth".into(), "\"xyz.2\"".into());
        let swapped = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap())
        );
        assert_eq!(
            s.open(swapped.as_bytes()),
            None,
            "a changed state under the old tag"
        );
        assert_eq!(s.open(payload.as_bytes()), None, "no tag");
        assert_eq!(
            s.open(format!("{payload}.{payload}").as_bytes()),
            None,
            "a wrong tag"
        );
        assert_eq!(
            codec("b", None).open(value.as_bytes()),
            None,
            "another secret"
        );
        let huge = format!("{}.{tag}", "A".repeat(MAX_VALUE));
        assert_eq!(s.open(huge.as_bytes()), None, "oversized");
    }

    #[test]
    fn a_retired_secret_still_opens_and_asks_for_a_new_seal() {
        let value = codec("o", None).seal(&values()).unwrap();
        let rotated = codec("n", Some("o"));
        assert_eq!(rotated.open(value.as_bytes()), Some((values(), true)));
        let state = rotated.open_remembered(value.as_bytes()).unwrap();
        let again = state.response_cookie(&rotated, true).unwrap();
        assert_eq!(
            rotated.open(again.value().as_bytes()),
            Some((values(), false))
        );
        assert!(
            rotated.open_remembered(value.as_bytes()).unwrap().status == Status::Changed,
            "the memo remembers that the value needs a new seal"
        );
    }

    #[test]
    fn the_tag_is_bound_to_the_cookie_name() {
        let s = codec("a", None);
        let value = s.seal(&values()).unwrap();
        let renamed = CookieCodec::with_keys("other_session", false, s.current.clone(), Vec::new());
        assert_eq!(renamed.open(value.as_bytes()), None);
    }

    #[test]
    fn only_the_named_cookie_is_read() {
        let s = codec("a", None);
        let name = s.name().to_owned();
        let header = format!("{name}_other=1; x={name}=2;  {name}=right ; last=3");
        assert_eq!(s.find([header.as_bytes()]), Some(&b"right"[..]));
        let none = format!("{name}x=1; a={name}=2; {name}");
        assert_eq!(s.find([none.as_bytes()]), None);
        let second = format!("{name}=v");
        assert_eq!(s.find([&b"a=1"[..], second.as_bytes()]), Some(&b"v"[..]));
        let first = format!("{name}=one;{name}=two");
        assert_eq!(s.find([first.as_bytes()]), Some(&b"one"[..]));
    }

    #[test]
    fn a_verified_value_is_remembered_and_only_that_value() {
        let s = codec("a", None);
        let value = s.seal(&values()).unwrap();
        let (first, resign) = s.open_shared(value.as_bytes()).unwrap();
        assert!(!resign);
        let (again, _) = s.open_shared(value.as_bytes()).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same value is served from the memo"
        );
        assert_eq!(*again, values());

        // A value differing in one byte is verified on its own, and fails.
        let mut forged = value.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(s.open_shared(&forged).is_none());
        assert!(
            s.open_shared(&forged).is_none(),
            "a failed value is not remembered"
        );
        let (still, _) = s.open_shared(value.as_bytes()).unwrap();
        assert!(Arc::ptr_eq(&first, &still));

        // Another key does not verify it.
        assert!(codec("b", None).open_shared(value.as_bytes()).is_none());
    }

    #[test]
    fn changing_a_session_leaves_the_remembered_state_alone() {
        let s = codec("a", None);
        let value = s.seal(&values()).unwrap();
        let mut session = s.open_remembered(value.as_bytes()).unwrap();
        session.insert("flash", "hi").unwrap();
        assert_eq!(session.remove("auth").as_deref(), Some("\"abc.1\""));
        let remembered = s.open_remembered(value.as_bytes()).unwrap();
        assert_eq!(
            remembered.keys(),
            vec!["auth".to_owned()],
            "the next request sees the cookie's own state"
        );
        assert_eq!(session.keys(), vec!["flash".to_owned()]);
    }

    #[test]
    fn with_str_reads_plain_and_escaped_strings_and_nothing_else() {
        let mut session = CookieState::empty();
        session.insert("plain", "abc.1").unwrap();
        session.insert("escaped", "a\"b\\c\n").unwrap();
        session.insert("number", 7).unwrap();
        assert_eq!(
            session.with_str("plain", str::to_owned).as_deref(),
            Some("abc.1")
        );
        assert_eq!(
            session.with_str("escaped", str::to_owned).as_deref(),
            Some("a\"b\\c\n")
        );
        assert_eq!(session.with_str("number", str::to_owned), None);
        assert_eq!(session.with_str("missing", str::to_owned), None);
    }

    #[test]
    fn long_values_are_verified_every_time() {
        let s = codec("a", None);
        let mut long = values();
        long.insert(
            "pad".into(),
            serde_json::to_string(&"x".repeat(VERIFIED_MAX_VALUE)).unwrap(),
        );
        let value = s.seal(&long).unwrap();
        let (a, _) = s.open_shared(value.as_bytes()).unwrap();
        let (b, _) = s.open_shared(value.as_bytes()).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(*a, long);
        assert!(
            s.slots.lock().unwrap().is_empty(),
            "nothing allocated for it"
        );
    }

    #[test]
    fn the_response_sets_the_cookie_only_when_the_state_changed() {
        let s = codec("a", None);
        let mut state = CookieState::empty();
        assert!(
            state.response_cookie(&s, false).is_none(),
            "nothing changed"
        );
        assert!(state.remove("missing").is_none());
        assert!(
            state.response_cookie(&s, true).is_none(),
            "removing nothing changes nothing"
        );
        state.insert("k", 1).unwrap();
        let set = state.response_cookie(&s, false).unwrap();
        assert_eq!(set.http_only(), Some(true));
        assert_eq!(set.same_site(), Some(SameSite::Lax));
        assert_eq!(set.path(), Some("/"));
        state.purge();
        assert!(
            state.response_cookie(&s, false).is_none(),
            "no cookie to remove"
        );
        let removal = state.response_cookie(&s, true).unwrap();
        assert_eq!(removal.value(), "");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
    }
}

//! The cookie session: a small signed cookie carrying the session id (and whatever else
//! pow-rs or the app keeps per browser: the CSRF secret, flash texts, a sign-in under way).
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
//! Each worker remembers the values it verified lately, with their decoded state: the
//! same browser's next request (the same value, compared in constant time) is neither
//! verified nor decoded again, and its state is shared until the session changes.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::COOKIE;
use actix_web::{HttpMessage, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::config::PowConfig;

/// Salts deriving the cookie key from the secret key base; a named setup prefixes them
/// with its name, so two setups in one app sign their cookies with different keys.
const SIGNING_SALT: &str = "pow cookie session signing";
const ENCRYPTION_SALT: &str = "pow cookie session encryption";

/// Largest cookie value read (browsers keep at most 4 KiB per cookie).
const MAX_VALUE: usize = 8192;

/// The 64-byte key of the cookie session, derived from the secret key base: the first
/// 32 bytes sign (the rest is reserved for an encrypted variant). Stable across restarts
/// and workers as long as the secret key base is.
pub fn cookie_key(config: &PowConfig) -> [u8; 64] {
    key_of(config, config.verifier())
}

fn key_of(config: &PowConfig, verifier: &crate::token::MessageVerifier) -> [u8; 64] {
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

impl From<CookieSessionError> for crate::error::PowError {
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
type State = BTreeMap<String, String>;

#[derive(Debug)]
struct Inner {
    /// Shared with the worker's memo of verified cookies until the session is changed.
    state: Rc<State>,
    status: Status,
}

/// The cookie session of a request: a map of JSON values, written back to the cookie when
/// it changed. Get it with [`CookieSessionExt::cookie_session`]. Cheap to clone (clones
/// share the state).
#[derive(Clone, Debug)]
pub struct CookieSession(Rc<RefCell<Inner>>);

impl CookieSession {
    fn new(state: Rc<State>, status: Status) -> Self {
        Self(Rc::new(RefCell::new(Inner { state, status })))
    }

    /// The value under `key`, if there is one.
    ///
    /// # Errors
    /// When the stored JSON is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CookieSessionError> {
        let inner = self.0.borrow();
        match inner.state.get(key) {
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
    /// session's state when the string has no escapes (a session id never has).
    pub(crate) fn with_str<R>(&self, key: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
        let inner = self.0.borrow();
        let json = inner.state.get(key)?;
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
        self.0.borrow().state.contains_key(key)
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
        let key = key.into();
        let json = serde_json::to_string(&value).map_err(|source| CookieSessionError {
            key: key.clone(),
            source,
        })?;
        let mut inner = self.0.borrow_mut();
        if inner.status != Status::Purged {
            inner.status = Status::Changed;
        }
        Rc::make_mut(&mut inner.state).insert(key, json);
        Ok(())
    }

    /// Removes the value under `key` and returns its JSON. Removing nothing changes nothing.
    pub fn remove(&self, key: &str) -> Option<String> {
        let mut inner = self.0.borrow_mut();
        // Checked first: removing nothing must not copy a state shared with the memo.
        if !inner.state.contains_key(key) {
            return None;
        }
        let removed = Rc::make_mut(&mut inner.state).remove(key);
        if inner.status != Status::Purged {
            inner.status = Status::Changed;
        }
        removed
    }

    /// Removes the value under `key` and reads it as a `T` (`Err` holds the JSON when it is
    /// not one).
    pub fn remove_as<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, String>> {
        self.remove(key)
            .map(|json| serde_json::from_str(&json).map_err(|_| json))
    }

    /// Sends the cookie again even if nothing changed (the session id inside changed
    /// meaning, at sign-in). The state is kept.
    pub fn renew(&self) {
        let mut inner = self.0.borrow_mut();
        if inner.status != Status::Purged {
            inner.status = Status::Changed;
        }
    }

    /// Empties the session; the cookie is removed from the browser.
    pub fn purge(&self) {
        let mut inner = self.0.borrow_mut();
        inner.state = Rc::default();
        inner.status = Status::Purged;
    }

    /// The keys held, in order.
    pub fn keys(&self) -> Vec<String> {
        self.0.borrow().state.keys().cloned().collect()
    }
}

/// The cookie session of a request or response (an empty one outside the middleware,
/// whose changes go nowhere).
pub trait CookieSessionExt {
    /// The cookie session.
    fn cookie_session(&self) -> CookieSession;
}

fn session_of(extensions: &mut actix_web::dev::Extensions) -> CookieSession {
    if let Some(session) = extensions.get::<CookieSession>() {
        return session.clone();
    }
    let session = CookieSession::new(Rc::default(), Status::Unchanged);
    extensions.insert(session.clone());
    session
}

impl CookieSessionExt for HttpRequest {
    fn cookie_session(&self) -> CookieSession {
        session_of(&mut self.extensions_mut())
    }
}

impl CookieSessionExt for ServiceRequest {
    fn cookie_session(&self) -> CookieSession {
        session_of(&mut self.extensions_mut())
    }
}

impl<B> CookieSessionExt for ServiceResponse<B> {
    fn cookie_session(&self) -> CookieSession {
        session_of(&mut self.request().extensions_mut())
    }
}

/// The cookie session middleware for `config` (see the [module docs](crate::session)):
///
/// - cookie name: [`SessionConfig::cookie_name`](crate::SessionConfig::cookie_name)
///   (`pow_session`, or `<name>_session` for a named setup);
/// - content signed, not encrypted: it holds the session id (random, looked up by its
///   hash) and small values; the signature stops tampering;
/// - `HttpOnly`, `SameSite=Lax`, path `/`, and `Secure` when
///   [`SessionConfig::cookie_secure`](crate::SessionConfig::cookie_secure) is on;
/// - a browser-session cookie (no `Max-Age`): how long a sign-in lasts is decided on the
///   server by the credentials TTL, renewal and absolute lifetime.
///
/// [`PowMiddleware`](super::PowMiddleware) wraps it outside the pow session for you. Used
/// on its own, wrap it *outside* [`PowSessionMiddleware`](super::PowSessionMiddleware),
/// i.e. call `.wrap(cookie_session_middleware(&config))` after
/// `.wrap(PowSessionMiddleware::new(..))`.
pub fn cookie_session_middleware(config: &PowConfig) -> CookieSessionMiddleware {
    // The first 32 bytes of the cookie key sign.
    let signer = |key: &[u8; 64]| crate::token::hmac_state(&key[..32]);
    let current = signer(&cookie_key(config));
    let retired = config
        .verifier()
        .ring()
        .skip(1)
        .map(|verifier| signer(&key_of(config, verifier)))
        .collect();
    let session = config.session();
    CookieSessionMiddleware {
        settings: Rc::new(Settings {
            name: session.cookie_name.clone(),
            finder: memchr::memmem::Finder::new(session.cookie_name.as_bytes()).into_owned(),
            secure: session.cookie_secure,
            current,
            retired,
        }),
    }
}

struct Settings {
    name: String,
    /// Finds `name` in a `Cookie` header (built once).
    finder: memchr::memmem::Finder<'static>,
    secure: bool,
    /// Keyed once; cloned per use.
    current: Hmac<Sha256>,
    retired: Vec<Hmac<Sha256>>,
}

impl Settings {
    fn tag(&self, mac: &Hmac<Sha256>, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = mac.clone();
        mac.update(self.name.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// The request's cookie value, if it carries one: the first cookie of that name in the
    /// `Cookie` headers. Finds the name with a substring search, then checks it starts a
    /// cookie (the header's start, or `;` and spaces before it) and is followed by `=`.
    fn find<'a>(&self, req: &'a ServiceRequest) -> Option<&'a [u8]> {
        let name = self.name.as_bytes();
        req.headers().get_all(COOKIE).find_map(|header| {
            let bytes = header.as_bytes();
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
    fn open(&self, value: &[u8]) -> Option<(State, bool)> {
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
        let state = raw
            .into_iter()
            .map(|(key, value)| (key, value.get().to_owned()))
            .collect();
        Some((state, resign))
    }

    fn seal(&self, state: &State) -> Option<String> {
        let raw: BTreeMap<&str, &RawValue> = state
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

    fn cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build(self.name.clone(), value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish()
    }
}

/// The cookie session middleware; see [`cookie_session_middleware`].
#[derive(Clone)]
pub struct CookieSessionMiddleware {
    settings: Rc<Settings>,
}

impl std::fmt::Debug for CookieSessionMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSessionMiddleware")
            .field("name", &self.settings.name)
            .field("secure", &self.settings.secure)
            .finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for CookieSessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = CookieSessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CookieSessionService {
            service: Rc::new(service),
            settings: Rc::clone(&self.settings),
            verified: Verified::default(),
        }))
    }
}

/// The service of [`CookieSessionMiddleware`].
pub struct CookieSessionService<S> {
    service: Rc<S>,
    settings: Rc<Settings>,
    verified: Verified,
}

impl<S, B> Service<ServiceRequest> for CookieSessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = CookieSessionFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let settings = Rc::clone(&self.settings);
        let had_cookie = match settings.find(&req) {
            Some(value) => {
                let (state, status) = match self.verified.open(&settings, value) {
                    Some((state, true)) => (state, Status::Changed),
                    Some((state, false)) => (state, Status::Unchanged),
                    None => (Rc::default(), Status::Unchanged),
                };
                req.extensions_mut()
                    .insert(CookieSession::new(state, status));
                true
            }
            None => false,
        };
        CookieSessionFuture {
            fut: self.service.call(req),
            settings,
            had_cookie,
        }
    }
}

/// Slots of a worker's [`Verified`] memo.
const VERIFIED_SLOTS: usize = 1024;

/// Longest cookie value the memo keeps (longer ones are verified on every request).
const VERIFIED_MAX_VALUE: usize = 1024;

/// The cookie values one worker verified lately, with their state: the next request of
/// the same browser (the same value, byte for byte) is neither verified nor decoded again.
///
/// A value is only taken from here when it equals, in constant time, a value whose
/// signature was checked with this middleware's keys: exactly as trustworthy as checking
/// it again. Direct-mapped by a randomly seeded hash, at most [`VERIFIED_SLOTS`] values of
/// at most [`VERIFIED_MAX_VALUE`] bytes (a new value takes its slot's place), allocated on
/// first use. Only what the cookie says is kept here: whether its session is still live is
/// read from the store on every request.
struct Verified {
    hasher: foldhash::fast::RandomState,
    slots: RefCell<Vec<Option<VerifiedValue>>>,
}

struct VerifiedValue {
    hash: u64,
    value: Box<[u8]>,
    state: Rc<State>,
    resign: bool,
}

impl Default for Verified {
    fn default() -> Self {
        Self {
            hasher: foldhash::fast::RandomState::default(),
            slots: RefCell::new(Vec::new()),
        }
    }
}

impl Verified {
    /// [`Settings::open`], remembered.
    fn open(&self, settings: &Settings, value: &[u8]) -> Option<(Rc<State>, bool)> {
        use std::hash::BuildHasher as _;
        if value.len() > VERIFIED_MAX_VALUE {
            return settings
                .open(value)
                .map(|(state, resign)| (Rc::new(state), resign));
        }
        let hash = self.hasher.hash_one(value);
        let slot = usize::try_from(hash % VERIFIED_SLOTS as u64).unwrap_or(0);
        if let Some(Some(known)) = self.slots.borrow().get(slot) {
            if known.hash == hash && constant_time_eq::constant_time_eq(&known.value, value) {
                return Some((Rc::clone(&known.state), known.resign));
            }
        }
        let (state, resign) = settings.open(value)?;
        let state = Rc::new(state);
        let mut slots = self.slots.borrow_mut();
        if slots.is_empty() {
            slots.resize_with(VERIFIED_SLOTS, || None);
        }
        if let Some(place) = slots.get_mut(slot) {
            *place = Some(VerifiedValue {
                hash,
                value: value.into(),
                state: Rc::clone(&state),
                resign,
            });
        }
        Some((state, resign))
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CookieSessionService`]: the route's own future, whose response gets
    /// the cookie when the session changed (nothing allocated for it).
    pub struct CookieSessionFuture<F> {
        #[pin]
        fut: F,
        settings: Rc<Settings>,
        had_cookie: bool,
    }
}

impl<F, B> std::future::Future for CookieSessionFuture<F>
where
    F: std::future::Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut res = match this.fut.poll(cx) {
            std::task::Poll::Pending => return std::task::Poll::Pending,
            std::task::Poll::Ready(res) => res?,
        };
        let session = res.request().extensions().get::<CookieSession>().cloned();
        let Some(session) = session else {
            return std::task::Poll::Ready(Ok(res));
        };
        let inner = session.0.borrow();
        let settings = this.settings;
        let cookie = match inner.status {
            Status::Unchanged => None,
            Status::Changed if !inner.state.is_empty() => settings
                .seal(&inner.state)
                .map(|value| settings.cookie(value)),
            Status::Changed | Status::Purged if *this.had_cookie => {
                let mut removal = settings.cookie(String::new());
                removal.make_removal();
                Some(removal)
            }
            Status::Changed | Status::Purged => None,
        };
        drop(inner);
        if let Some(cookie) = cookie {
            res.response_mut().add_cookie(&cookie)?;
        }
        std::task::Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use actix_web::test::TestRequest;

    use super::*;

    fn settings(secret: &str, retired: Option<&str>) -> Rc<Settings> {
        let mut builder = PowConfig::builder(secret.repeat(64));
        if let Some(old) = retired {
            builder = builder.retired_secret_key_base("old", old.repeat(64));
        }
        let config = builder.build().unwrap();
        cookie_session_middleware(&config).settings
    }

    fn state() -> BTreeMap<String, String> {
        BTreeMap::from([("auth".to_owned(), "\"abc.1\"".to_owned())])
    }

    #[test]
    fn values_are_embedded_as_json_and_round_trip() {
        let s = settings("a", None);
        let mut state = state();
        state.insert(
            "flash".into(),
            serde_json::to_string(&("say \"hi\" ✓", [1, 2])).unwrap(),
        );
        let value = s.seal(&state).unwrap();
        let payload = URL_SAFE_NO_PAD
            .decode(value.split_once('.').unwrap().0)
            .unwrap();
        let text = String::from_utf8(payload).unwrap();
        assert!(text.contains(r#""auth":"abc.1""#), "{text}");
        assert_eq!(s.open(value.as_bytes()), Some((state, false)));
    }

    #[test]
    fn a_sealed_state_opens_and_nothing_else_does() {
        let s = settings("a", None);
        let value = s.seal(&state()).unwrap();
        assert_eq!(s.open(value.as_bytes()), Some((state(), false)));

        let (payload, tag) = value.split_once('.').unwrap();
        let mut other = state();
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
            settings("b", None).open(value.as_bytes()),
            None,
            "another secret"
        );
        let huge = format!("{}.{tag}", "A".repeat(MAX_VALUE));
        assert_eq!(s.open(huge.as_bytes()), None, "oversized");
    }

    #[test]
    fn a_retired_secret_still_opens_and_asks_for_a_new_seal() {
        let old = settings("o", None);
        let value = old.seal(&state()).unwrap();
        let rotated = settings("n", Some("o"));
        assert_eq!(rotated.open(value.as_bytes()), Some((state(), true)));
    }

    #[test]
    fn the_tag_is_bound_to_the_cookie_name() {
        let s = settings("a", None);
        let value = s.seal(&state()).unwrap();
        let renamed = Settings {
            name: "other_session".into(),
            finder: memchr::memmem::Finder::new("other_session").into_owned(),
            secure: false,
            current: s.current.clone(),
            retired: Vec::new(),
        };
        assert_eq!(renamed.open(value.as_bytes()), None);
    }

    #[test]
    fn only_the_named_cookie_is_read() {
        let s = settings("a", None);
        let name = s.name.clone();
        let req = TestRequest::default()
            .insert_header((
                COOKIE,
                format!("{name}_other=1; x={name}=2;  {name}=right ; last=3"),
            ))
            .to_srv_request();
        assert_eq!(s.find(&req), Some(&b"right"[..]));
        let none = TestRequest::default()
            .insert_header((COOKIE, format!("{name}x=1; a={name}=2; {name}")))
            .to_srv_request();
        assert_eq!(s.find(&none), None);
        let second_header = TestRequest::default()
            .append_header((COOKIE, "a=1"))
            .append_header((COOKIE, format!("{name}=v")))
            .to_srv_request();
        assert_eq!(s.find(&second_header), Some(&b"v"[..]));
        let first = TestRequest::default()
            .insert_header((COOKIE, format!("{name}=one;{name}=two")))
            .to_srv_request();
        assert_eq!(s.find(&first), Some(&b"one"[..]));
    }

    #[test]
    fn a_verified_value_is_remembered_and_only_that_value() {
        let s = settings("a", None);
        let memo = Verified::default();
        let value = s.seal(&state()).unwrap();
        let (first, resign) = memo.open(&s, value.as_bytes()).unwrap();
        assert!(!resign);
        let (again, _) = memo.open(&s, value.as_bytes()).unwrap();
        assert!(
            Rc::ptr_eq(&first, &again),
            "the same value is served from the memo"
        );
        assert_eq!(*again, state());

        // A value differing in one byte is verified on its own, and fails.
        let mut forged = value.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(memo.open(&s, &forged), None);
        assert_eq!(
            memo.open(&s, &forged),
            None,
            "a failed value is not remembered"
        );
        let (still, _) = memo.open(&s, value.as_bytes()).unwrap();
        assert!(Rc::ptr_eq(&first, &still));

        // Another worker's memo (another middleware instance) knows nothing of it, and
        // another key does not verify it.
        assert_eq!(
            Verified::default().open(&settings("b", None), value.as_bytes()),
            None
        );
    }

    #[test]
    fn changing_a_session_leaves_the_remembered_state_alone() {
        let s = settings("a", None);
        let memo = Verified::default();
        let value = s.seal(&state()).unwrap();
        let (state_rc, _) = memo.open(&s, value.as_bytes()).unwrap();
        let session = CookieSession::new(state_rc, Status::Unchanged);
        session.insert("flash", "hi").unwrap();
        assert_eq!(session.remove("auth").as_deref(), Some("\"abc.1\""));
        let (remembered, _) = memo.open(&s, value.as_bytes()).unwrap();
        assert_eq!(
            *remembered,
            state(),
            "the next request sees the cookie's own state"
        );
        assert_eq!(session.keys(), vec!["flash".to_owned()]);
    }

    #[test]
    fn with_str_reads_plain_and_escaped_strings_and_nothing_else() {
        let session = CookieSession::new(Rc::default(), Status::Unchanged);
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
    fn a_retired_key_is_remembered_as_needing_a_new_seal() {
        let value = settings("o", None).seal(&state()).unwrap();
        let rotated = settings("n", Some("o"));
        let memo = Verified::default();
        assert!(memo.open(&rotated, value.as_bytes()).unwrap().1);
        assert!(memo.open(&rotated, value.as_bytes()).unwrap().1);
    }

    #[test]
    fn long_values_are_verified_every_time() {
        let s = settings("a", None);
        let memo = Verified::default();
        let mut long = state();
        long.insert(
            "pad".into(),
            serde_json::to_string(&"x".repeat(VERIFIED_MAX_VALUE)).unwrap(),
        );
        let value = s.seal(&long).unwrap();
        let (a, _) = memo.open(&s, value.as_bytes()).unwrap();
        let (b, _) = memo.open(&s, value.as_bytes()).unwrap();
        assert!(!Rc::ptr_eq(&a, &b));
        assert_eq!(*a, long);
        assert!(memo.slots.borrow().is_empty(), "nothing allocated for it");
    }
}

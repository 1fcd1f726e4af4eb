//! The browser's session of one request as the engine's flows take it (a
//! [`SessionHandle`]), for every framework layer: what the layer read of the request, the
//! session lifecycle over it ([`browser`](super::browser)'s steps), and what changed for
//! the layer to write back.

use cookie::Cookie;

use super::browser::{self, RecordedDevice};
use super::cookie::CookieSession;
use super::{nobody_signed_in, record_session_method, AuthMethod, CurrentSession};
use super::{SessionHandle, SessionMetadata};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::request::{RequestCookies, RequestFacts};
use crate::users::User;

/// The cookies a response sets, as a framework layer keeps them for one request: a
/// [`BrowserSession`] queues the cookies its sign-ins set there.
pub trait CookieQueue: Send + Sync {
    /// Sets `cookie` on the response, in place of one of the same name and path.
    fn queue(&mut self, cookie: Cookie<'static>);

    /// Sets no cookie named `name` after all.
    fn unqueue(&mut self, name: &str);

    /// The value of the cookie named `name` the response sets so far, if any.
    fn queued_value(&self, name: &str) -> Option<String>;
}

/// The browser's session of one request as a [`SessionHandle`]: starting is a sign-in (a
/// new session, the cookie session renewed, CSRF rotated, the device recorded), ending a
/// sign-out (support access stopped first), a method proved later is recorded on the
/// signed-in session. A framework layer reads it from its request (the setup, the cookie
/// session, the facts, the device cookie, who is signed in, its response's cookie queue
/// `Q`) and writes back what [`take_changes`](Self::take_changes) says changed.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use pow_core::request::RequestFacts;
/// use pow_core::framework::session::{BrowserSession, CookieQueue};
/// use pow_core::session::{CookieSession, SessionHandle};
///
/// /// The response's cookies, as a test keeps them.
/// #[derive(Default)]
/// struct Queue(Vec<cookie::Cookie<'static>>);
///
/// impl CookieQueue for Queue {
///     fn queue(&mut self, cookie: cookie::Cookie<'static>) {
///         self.0.push(cookie);
///     }
///     fn unqueue(&mut self, name: &str) {
///         self.0.retain(|c| c.name() != name);
///     }
///     fn queued_value(&self, name: &str) -> Option<String> {
///         let found = self.0.iter().find(|c| c.name() == name);
///         found.map(|c| c.value().to_owned())
///     }
/// }
///
/// let config = pow_core::PowConfig::builder("s".repeat(64)).build()?;
/// let ada = pow_core::User { id: 1, password_hash: None, inserted_at: chrono::Utc::now(),
///     updated_at: chrono::Utc::now(), fields: Default::default() };
/// let cookie = CookieSession::default();
/// let mut browser =
///     BrowserSession::new(config.clone(), cookie, RequestFacts::default(), Queue::default());
/// browser.start(&config, &ada, Default::default()).await?;
/// assert_eq!(browser.current().map(|current| current.user.id), Some(1));
/// assert_eq!(browser.facts().session.map(|(_, user)| user), Some(1));
/// assert!(browser.take_changes().current.is_some(), "the layer writes the session back");
/// browser.end(&config).await?;
/// assert!(browser.current().is_none());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BrowserSession<Q> {
    /// The setup serving the request.
    pub config: PowConfig,
    /// The request's cookie session.
    pub cookie: CookieSession,
    /// Who is signed in now (after this handle's sign-in or sign-out).
    pub current: Option<CurrentSession>,
    /// The request's facts, with the session signed in now.
    pub facts: RequestFacts,
    cookies: RequestCookies,
    json: bool,
    device: Option<RecordedDevice>,
    queue: Q,
    current_changed: bool,
    device_changed: bool,
}

/// What changed in a [`BrowserSession`] since it was read (or since the last
/// [`take_changes`](BrowserSession::take_changes)), for its layer to write back.
#[derive(Debug, Default)]
pub struct BrowserChanges {
    /// Who is signed in now, when that changed.
    pub current: Option<Option<CurrentSession>>,
    /// The device a sign-in of this request recorded, when that changed.
    pub device: Option<Option<RecordedDevice>>,
}

impl<Q> std::fmt::Debug for BrowserSession<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserSession")
            .field("signed_in", &self.current.is_some())
            .finish_non_exhaustive()
    }
}

impl<Q: CookieQueue> BrowserSession<Q> {
    /// The browser session of a request served by `config`, with its cookie session,
    /// its `facts` and its response's cookie `queue`; nobody signed in, no request
    /// cookies, answered as a page (see [`signed_in_as`](Self::signed_in_as),
    /// [`request_cookies`](Self::request_cookies) and
    /// [`answered_in_json`](Self::answered_in_json)).
    pub fn new(config: PowConfig, cookie: CookieSession, facts: RequestFacts, queue: Q) -> Self {
        let mut read = Self {
            config,
            cookie,
            current: None,
            facts,
            cookies: RequestCookies::default(),
            json: false,
            device: None,
            queue,
            current_changed: false,
            device_changed: false,
        };
        read.facts.session = None;
        read
    }

    /// As signed in with `current` (the session the layer resolved for the request).
    #[must_use]
    pub fn signed_in_as(mut self, current: Option<CurrentSession>) -> Self {
        self.facts.session = current.as_ref().map(session_fact);
        self.current = current;
        self
    }

    /// With the request's cookies (its [device cookie](browser::device_cookie_name)
    /// among them, which a sign-in reads).
    #[must_use]
    pub fn request_cookies(mut self, cookies: RequestCookies) -> Self {
        self.cookies = cookies;
        self
    }

    /// As the browser of an action answered in JSON (the browser transport): as a
    /// `Client` (the engine's pipeline client) its flash texts, session values and response
    /// cookies do nothing; its sign-in and sign-out are the browser's as ever.
    #[must_use]
    pub fn answered_in_json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    /// Whether the action is answered in JSON ([`answered_in_json`](Self::answered_in_json)).
    pub(crate) fn answers_json(&self) -> bool {
        self.json
    }

    /// The value of the request's cookie `name`.
    pub(crate) fn request_cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name)
    }

    /// With the device a sign-in earlier in this request recorded.
    #[must_use]
    pub fn recorded(mut self, device: Option<RecordedDevice>) -> Self {
        self.device = device;
        self
    }

    /// The request's facts, with the session signed in now.
    pub fn facts(&self) -> RequestFacts {
        self.facts.clone()
    }

    /// The response's cookie queue.
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// The response's cookie queue, to set a cookie of the layer's own.
    pub fn queue_mut(&mut self) -> &mut Q {
        &mut self.queue
    }

    /// What changed since the session was read or this was last called.
    pub fn take_changes(&mut self) -> BrowserChanges {
        BrowserChanges {
            current: std::mem::take(&mut self.current_changed).then(|| self.current.clone()),
            device: std::mem::take(&mut self.device_changed).then(|| self.device.clone()),
        }
    }

    /// Serves the rest of the request as `current` (nothing is stored).
    pub fn serve_once(&mut self, current: CurrentSession) {
        self.set_current(Some(current));
    }

    fn set_current(&mut self, current: Option<CurrentSession>) {
        self.facts.session = current.as_ref().map(session_fact);
        self.current = current;
        self.current_changed = true;
    }

    /// Signs `user` in with a new session carrying `metadata`
    /// ([`browser::sign_in`]): the cookie session renewed, CSRF rotated, the device
    /// recorded and its cookie queued.
    ///
    /// # Errors
    /// As [`browser::sign_in`].
    pub async fn sign_in(
        &mut self,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), PowError> {
        let browser = browser::Browser {
            config: &self.config,
            cookie: &self.cookie,
            facts: &self.facts,
            device_cookie: self
                .request_cookie(&browser::device_cookie_name(&self.config))
                .map(str::to_owned),
        };
        let signed_in = browser::sign_in(&browser, self.current.as_ref(), user, metadata).await?;
        if let Some(cookie) = signed_in.set_cookie {
            self.queue.queue(cookie);
        }
        if signed_in.device.is_some() {
            self.device = signed_in.device;
            self.device_changed = true;
        }
        self.set_current(Some(signed_in.current));
        Ok(())
    }

    /// Signs the browser out ([`browser::end`]): support access stopped, or the session
    /// ended and a device this request recorded taken back with its cookie.
    ///
    /// # Errors
    /// The store's error; the cookie session's.
    pub async fn sign_out(&mut self) -> Result<(), PowError> {
        let recorded = self.device.as_ref();
        let ended =
            browser::end(&self.config, &self.cookie, self.current.as_ref(), recorded).await?;
        if ended.device_forgotten {
            if let Some(name) = self
                .device
                .take()
                .and_then(|r| r.cookie_name().map(str::to_owned))
            {
                self.queue.unqueue(&name);
            }
            self.device_changed = true;
        }
        self.set_current(ended.current);
        Ok(())
    }

    /// Records that the signed-in session just proved `method`.
    ///
    /// # Errors
    /// [`PowError::Config`] when nobody is signed in; the store's error.
    pub async fn record(&mut self, method: AuthMethod) -> Result<(), PowError> {
        let current = self.current.clone().ok_or_else(nobody_signed_in)?;
        let current = record_session_method(&self.config, current, method).await?;
        self.set_current(Some(current));
        Ok(())
    }

    /// Moves this browser, signed in as an admin, into the support-access session
    /// `started` (`browser::begin_impersonation`).
    ///
    /// # Errors
    /// [`PowError::Config`] without a signed-in browser session; the cookie session's
    /// error.
    pub fn begin_support_access(
        &mut self,
        started: super::impersonation::Started,
    ) -> Result<(), PowError> {
        browser::begin_impersonation(&self.config, &self.cookie, &started)?;
        self.set_current(Some(started.session));
        Ok(())
    }

    /// Stops support access ([`browser::stop_impersonation`]): the admin's own session
    /// is the browser's again when it still exists. Whether there was support access to
    /// stop or to come back from.
    ///
    /// # Errors
    /// The store's error; the cookie session's.
    pub async fn stop_impersonation(&mut self) -> Result<bool, PowError> {
        let stopped =
            browser::stop_impersonation(&self.config, &self.cookie, self.current.as_ref()).await?;
        if let browser::Stopped::Back(current) = &stopped {
            self.set_current(current.clone());
        }
        Ok(stopped.stopped())
    }
}

/// The `session` fact of a signed-in session.
fn session_fact(current: &CurrentSession) -> (String, i64) {
    (current.session_id.clone(), current.user.id)
}

/// A framework layer's value that holds a request's [`BrowserSession`] (pow-actix's
/// cookie session handle, pow-axum's `Pow` extractor): it is a [`SessionHandle`] by
/// that, the one way a browser's session starts, ends and records a method on every
/// framework.
pub trait HoldsBrowserSession: Send + Sync {
    /// Where the response's cookies are queued.
    type Queue: CookieQueue;

    /// The browser session.
    fn browser(&self) -> &BrowserSession<Self::Queue>;

    /// The browser session, to change.
    fn browser_mut(&mut self) -> &mut BrowserSession<Self::Queue>;
}

impl<Q: CookieQueue> HoldsBrowserSession for BrowserSession<Q> {
    type Queue = Q;

    fn browser(&self) -> &Self {
        self
    }

    fn browser_mut(&mut self) -> &mut Self {
        self
    }
}

#[async_trait::async_trait]
impl<T: HoldsBrowserSession> SessionHandle for T {
    type Error = PowError;

    fn begin_support_access(
        &mut self,
        started: super::impersonation::Started,
    ) -> Result<(), PowError> {
        self.browser_mut().begin_support_access(started)
    }

    async fn stop_support_access(&mut self, _config: &PowConfig) -> Result<bool, PowError> {
        self.browser_mut().stop_impersonation().await
    }

    fn current(&self) -> Option<CurrentSession> {
        self.browser().current.clone()
    }

    async fn start(
        &mut self,
        _config: &PowConfig,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), PowError> {
        self.browser_mut().sign_in(user, metadata).await
    }

    async fn end(&mut self, _config: &PowConfig) -> Result<(), PowError> {
        self.browser_mut().sign_out().await
    }

    async fn record_method(
        &mut self,
        _config: &PowConfig,
        method: AuthMethod,
    ) -> Result<(), PowError> {
        self.browser_mut().record(method).await
    }
}

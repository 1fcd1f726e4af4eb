//! A browser's sign-in and sign-out, for every framework layer: the engine decides what
//! changes (the session record, the cookie session, the CSRF secret, the known devices, the
//! new-device notice) and answers what the layer has to apply to its request and response
//! (the [`CurrentSession`] its handlers see next, a cookie to set or to take back).

use std::sync::Arc;

use cookie::{time, Cookie, SameSite};

use super::cookie::CookieSession;
use super::devices::{KnownDevices, Seen, DEVICE_SALT, DEVICE_TTL};
use super::{
    csrf, device_of, new_cookie_id, put_new_session, stored_session_id, CredentialsCache,
    CurrentSession, SessionMetadata,
};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::request::RequestFacts;
use crate::users::User;

/// One browser request as the engine's session lifecycle needs it.
pub struct Browser<'a> {
    /// The setup serving the request.
    pub config: &'a PowConfig,
    /// The request's cookie session.
    pub cookie: &'a CookieSession,
    /// The request's facts (the device of a new session, the notice's language and link).
    pub facts: &'a RequestFacts,
    /// The value of the request's [device cookie](device_cookie_name), if it carries one.
    pub device_cookie: Option<String>,
}

/// The name of the cookie that tells a browser the user signed in from before.
pub fn device_cookie_name(config: &PowConfig) -> String {
    config.cookie_name(&config.namespaced("device"))
}

/// The device a sign-in recorded, kept by the framework layer for the rest of the request
/// so that a sign-out in the same request (the sign-up's own sign-in, ended at once by
/// strict email confirmation) takes it back (`forget_device`): a sign-in that does not
/// stand leaves no device cookie and no known device.
#[derive(Clone, Debug)]
pub struct RecordedDevice {
    user_id: i64,
    device_id: String,
    /// The device cookie's name, when this request set it.
    cookie: Option<String>,
    seen: Seen,
}

impl RecordedDevice {
    /// The name of the device cookie this request set, if it set one: the layer drops it
    /// from the response when the sign-in is taken back.
    pub fn cookie_name(&self) -> Option<&str> {
        self.cookie.as_deref()
    }
}

/// What a sign-in leaves for the framework layer to apply.
#[derive(Debug)]
pub struct SignedIn {
    /// The new session: what the request's handlers see from now on.
    pub current: CurrentSession,
    /// The device the sign-in recorded (with new-device notices on).
    pub device: Option<RecordedDevice>,
    /// A cookie to set on the response (the device cookie of a browser seen first).
    pub set_cookie: Option<Cookie<'static>>,
}

/// Signs `user` in with a new session carrying `metadata` (its fingerprint and values;
/// both timestamps now; the request's device when it names none), replacing `previous`.
///
/// The cookie session is renewed (against session fixation), the CSRF secret rotated and
/// the new signed id written. With new-device notices on, the device is recorded and a
/// device seen first is announced by mail (best effort: a store failure is logged and
/// never fails the sign-in).
///
/// # Errors
/// [`PowError::AccountDisabled`], [`PowError::AccountClosed`] and
/// [`PowError::SignInRefused`] for a user who may not sign in ([`admit`](super::admit));
/// [`PowError::Store`] when the store fails.
pub async fn sign_in(
    browser: &Browser<'_>,
    previous: Option<&CurrentSession>,
    user: &User,
    metadata: SessionMetadata,
) -> Result<SignedIn, PowError> {
    let config = browser.config;
    super::admit(config, user, &metadata.methods).await?;
    let credentials = CredentialsCache::new(config);
    if let Some(previous) = previous {
        credentials.delete(&previous.session_id).await?;
    }
    let now = crate::time::now_ms();
    let device = metadata
        .device
        .clone()
        .or_else(|| Some(device_of(browser.facts)));
    let metadata = SessionMetadata {
        inserted_at: now,
        signed_in_at: now,
        device,
        ..metadata
    };
    let cookie_id = new_cookie_id(config, user.id);
    let session_id = stored_session_id(config, &cookie_id);
    put_new_session(config, &credentials, &session_id, user, &metadata).await?;
    let session = browser.cookie;
    session.renew();
    csrf::rotate(session);
    session.insert(config.session().session_key.clone(), &cookie_id)?;
    let mut signed_in = SignedIn {
        current: CurrentSession {
            user: Arc::new(user.clone()),
            session_id,
            metadata: Arc::new(metadata),
        },
        device: None,
        set_cookie: None,
    };
    if config.new_device_notices() {
        recognise_device(browser, user, &mut signed_in).await;
    }
    Ok(signed_in)
}

/// Records the device `user` signs in from (reading the device cookie, or setting one)
/// and mails the new-device notice when the user signed in from other devices before.
async fn recognise_device(browser: &Browser<'_>, user: &User, signed_in: &mut SignedIn) {
    let config = browser.config;
    let name = device_cookie_name(config);
    let verifier = config.verifier();
    let carried = browser
        .device_cookie
        .as_deref()
        .and_then(|value| verifier.verify_token(DEVICE_SALT, value));
    let id = carried.clone().unwrap_or_else(crate::token::generate_uuid);
    let seen = match KnownDevices::new(config).signed_in(user.id, &id).await {
        Ok(seen) => seen,
        Err(err) => {
            tracing::warn!(error = %err, "recording the sign-in's device failed");
            return;
        }
    };
    signed_in.device = Some(RecordedDevice {
        user_id: user.id,
        device_id: id.clone(),
        cookie: carried.is_none().then(|| name.clone()),
        seen,
    });
    if carried.is_none() {
        let max_age = i64::try_from(DEVICE_TTL.as_secs()).unwrap_or(i64::MAX);
        signed_in.set_cookie = Some(
            Cookie::build(name, verifier.sign_token(DEVICE_SALT, &id))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(config.session().cookie_secure)
                .max_age(time::Duration::seconds(max_age))
                .finish(),
        );
    }
    if seen == Seen::New {
        let lang = crate::messages::request_language(browser.facts, config.messages());
        let sessions = config
            .routes()
            .registration_path(&config.route_context(), "sessions");
        let url = config.url_for(browser.facts, &sessions);
        let label = config.messages().text(&lang, "notice-review-sessions");
        let to = user.email().unwrap_or_default();
        crate::mailer::send_notice_with_facts(
            config,
            browser.facts,
            &lang,
            to,
            crate::mailer::Notice::NewDevice,
            Some((&label, &url)),
        )
        .await;
    }
}

/// Takes back the device a sign-in of this same request recorded (see
/// [`RecordedDevice`]): a device that was new to the user is forgotten again. Best
/// effort, like the recording.
pub(crate) async fn forget_device(config: &PowConfig, recorded: &RecordedDevice) {
    if recorded.seen == Seen::Known {
        return;
    }
    let devices = KnownDevices::new(config);
    if let Err(err) = devices
        .forget_device(recorded.user_id, &recorded.device_id)
        .await
    {
        tracing::warn!(error = %err, "forgetting the ended sign-in's device failed");
    }
}

/// What [`end`] left of a browser's session.
#[derive(Clone, Debug)]
pub struct Ended {
    /// Who the rest of the request is served as: the admin again after support access,
    /// nobody after a sign-out.
    pub current: Option<CurrentSession>,
    /// Whether the device a sign-in of this same request recorded was taken back: the
    /// framework layer then drops the device cookie it queued.
    pub device_forgotten: bool,
}

/// Signs a browser out, whatever it is signed in with: support access is stopped (the
/// admin is back in their own session, see [`stop_impersonation`]); any other session is
/// [signed out](sign_out), after the device a sign-in of this same request recorded
/// (`recorded`) is taken back. Every framework layer's sign-out is this.
///
/// # Errors
/// The store's error; the cookie session's.
pub async fn end(
    config: &PowConfig,
    cookie: &CookieSession,
    current: Option<&CurrentSession>,
    recorded: Option<&RecordedDevice>,
) -> Result<Ended, PowError> {
    if current.is_some_and(|current| current.metadata.is_impersonation()) {
        let current = match stop_impersonation(config, cookie, current).await? {
            Stopped::Back(back) => back,
            Stopped::Ended | Stopped::Nothing => current.cloned(),
        };
        return Ok(Ended {
            current,
            device_forgotten: false,
        });
    }
    if let Some(recorded) = recorded {
        forget_device(config, recorded).await;
    }
    sign_out(config, cookie, current).await?;
    Ok(Ended {
        current: None,
        device_forgotten: recorded.is_some(),
    })
}

/// Signs the browser's session out: deletes it in the store (and the session the cookie
/// names, when that is an older, rotated id of it) and removes the id from the cookie
/// session, whose CSRF secret is rotated. The old cookie, replayed, is anonymous
/// afterwards.
///
/// # Errors
/// [`PowError::Store`] when the store fails.
pub async fn sign_out(
    config: &PowConfig,
    cookie: &CookieSession,
    current: Option<&CurrentSession>,
) -> Result<(), PowError> {
    let credentials = CredentialsCache::new(config);
    let key = &config.session().session_key;
    // The id in the cookie may be an older, rotated id of the current session.
    let cookie_id = cookie
        .get::<String>(key)
        .ok()
        .flatten()
        .map(|cookie_id| stored_session_id(config, &cookie_id));
    if let Some(id) = &cookie_id {
        credentials.delete(id).await?;
    }
    if let Some(current) = current {
        if cookie_id.as_deref() != Some(current.session_id.as_str()) {
            credentials.delete(&current.session_id).await?;
        }
    }
    cookie.remove(key);
    csrf::rotate(cookie);
    Ok(())
}

/// The cookie-session key keeping the admin's own cookie id during support access.
pub(crate) fn impersonator_key(config: &PowConfig) -> String {
    format!("{}_impersonator", config.session().session_key)
}

/// Moves a browser signed in as an admin (its cookie session is `cookie`) into the
/// support-access session `started` ([`impersonation::start`](super::impersonation::start)):
/// the cookie carries it, the admin's own cookie id waits beside it for
/// [`stop_impersonation`]; the cookie session is renewed and CSRF rotated, as at a sign-in.
/// The framework layer serves the rest of the request as `started.session`.
///
/// # Errors
/// [`PowError::Config`] without a signed-in session in the cookie; the cookie session's
/// error.
pub(crate) fn begin_impersonation(
    config: &PowConfig,
    cookie: &CookieSession,
    started: &super::impersonation::Started,
) -> Result<(), PowError> {
    let key = &config.session().session_key;
    let Some(admin_cookie_id) = cookie.get::<String>(key).ok().flatten() else {
        return Err(PowError::Config(
            "support access starts from a signed-in browser session".into(),
        ));
    };
    cookie.renew();
    csrf::rotate(cookie);
    cookie.insert(impersonator_key(config), admin_cookie_id)?;
    cookie.insert(key.clone(), &started.cookie_id)?;
    Ok(())
}

/// What [`stop_impersonation`] did.
#[derive(Clone, Debug)]
pub enum Stopped {
    /// Nothing: the browser is signed in as someone (not support access), or is anonymous
    /// with no admin session kept to come back to.
    Nothing,
    /// Support access ended in the store; the browser keeps the (now ended) session id,
    /// anonymous from its next request.
    Ended,
    /// The browser came back: signed in with the admin's own session again (`Some`), or
    /// with nobody when that session is gone or is not the one support access recorded.
    Back(Option<CurrentSession>),
}

impl Stopped {
    /// Whether there was support access to stop or to come back from.
    pub fn stopped(&self) -> bool {
        !matches!(self, Self::Nothing)
    }
}

/// Stops support access in a browser whose cookie session is `cookie` and that is signed
/// in with `current`: the support-access session ends, and the admin's own session, when
/// it still exists, is the browser's again (CSRF rotated). Also puts the admin back after
/// support access ended by itself (idle, timeout), when the cookie session still keeps the
/// admin's id.
///
/// # Errors
/// The store's error; the cookie session's.
pub async fn stop_impersonation(
    config: &PowConfig,
    cookie: &CookieSession,
    current: Option<&CurrentSession>,
) -> Result<Stopped, PowError> {
    let stash = impersonator_key(config);
    let admin_stored = match current {
        Some(current) if current.metadata.is_impersonation() => {
            super::impersonation::stop(config, current).await?
        }
        // Signed in as someone: nothing to stop.
        Some(_) => return Ok(Stopped::Nothing),
        None => None,
    };
    let Some(admin_cookie_id) = cookie.get::<String>(&stash).ok().flatten() else {
        return Ok(match admin_stored {
            Some(_) => Stopped::Ended,
            None => Stopped::Nothing,
        });
    };
    let key = &config.session().session_key;
    cookie.remove(&stash);
    cookie.remove(key);
    csrf::rotate(cookie);
    let admin_id = stored_session_id(config, &admin_cookie_id);
    if admin_stored
        .as_ref()
        .is_some_and(|stored| *stored != admin_id)
    {
        // The cookie's admin is not the one this session recorded: sign out.
        return Ok(Stopped::Back(None));
    }
    let Some((user, metadata)) = CredentialsCache::new(config).get(&admin_id).await? else {
        return Ok(Stopped::Back(None));
    };
    cookie.insert(key.clone(), &admin_cookie_id)?;
    Ok(Stopped::Back(Some(CurrentSession {
        user: Arc::new(user),
        session_id: admin_id,
        metadata: Arc::new(metadata),
    })))
}

//! The actix layer's [`Client`]: what the extensions' callbacks read and change of the
//! client an actix request comes from.

use actix_web::cookie::Cookie;
use actix_web::HttpRequest;

use crate::config::PowConfig;
use crate::error::PowError;
use crate::pipeline::{Client, ClientCookie, FlashKind, Format};
use crate::request::{RequestFacts, RequestSource};
use crate::session::{no_config, CookieSessionHandle, InRequest, SessionHandle, WriteBack};
use pow_core::session::flash;

/// The client of an actix request: its facts, its cookie session (as a
/// [`CookieSessionHandle`]), the flash texts and values kept in the cookie session, and the
/// cookies of the request and the response. On a JSON action the browser-only parts (flash,
/// values, cookies) do nothing.
///
/// It holds what it read of the request, so a callback's future over it is `Send`;
/// [`new`](Self::new) hands it out beside the request, which sees its changes (the
/// session, the queued cookies) once it is dropped.
pub struct ActixClient {
    session: CookieSessionHandle,
    /// The request's cookies, by name.
    cookies: Vec<(String, String)>,
    browser: bool,
    secure: bool,
}

impl ActixClient {
    /// The client of `req`, answered as `format` (the setup serving it is looked up for
    /// the cookies' `Secure` flag).
    ///
    /// # Errors
    /// [`PowError::Config`] when no setup serves `req`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(req: &HttpRequest, format: Format) -> Result<InRequest<Self>, PowError> {
        let config = crate::session::config(req).ok_or_else(no_config)?;
        Ok(Self::served_by(req, &config, format))
    }

    /// The client of `req` served by `config`, answered as `format`.
    pub fn served_by(req: &HttpRequest, config: &PowConfig, format: Format) -> InRequest<Self> {
        InRequest::new(req, Self::read(req, format, config))
    }

    fn read(req: &HttpRequest, format: Format, config: &PowConfig) -> Self {
        let cookies = req
            .cookies()
            .map(|cookies| {
                cookies
                    .iter()
                    .map(|cookie| (cookie.name().to_owned(), cookie.value().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            session: CookieSessionHandle::served_by(req, config.clone()),
            cookies,
            browser: format == Format::Html,
            secure: config.session().cookie_secure,
        }
    }
}

impl WriteBack for ActixClient {
    fn write_back(&mut self, req: &HttpRequest) {
        self.session.write_back(req);
    }
}

impl std::fmt::Debug for ActixClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActixClient")
            .field("browser", &self.browser)
            .finish_non_exhaustive()
    }
}

impl RequestSource for ActixClient {
    fn facts(&self) -> RequestFacts {
        self.session.facts()
    }
}

impl Client for ActixClient {
    fn session(&mut self) -> &mut dyn SessionHandle<Error = PowError> {
        &mut self.session
    }

    fn flash(&mut self, kind: FlashKind, text: Option<String>) {
        if !self.browser {
            return;
        }
        let session = self.session.cookie_session();
        match kind {
            FlashKind::Info => flash::put_info(session, text),
            FlashKind::Error => flash::put_error(session, text),
        }
    }

    fn discard_flash(&mut self) {
        if self.browser {
            let _ = flash::take(self.session.cookie_session());
        }
    }

    fn value(&self, key: &str) -> Option<String> {
        if !self.browser {
            return None;
        }
        self.session
            .cookie_session()
            .get::<String>(key)
            .ok()
            .flatten()
    }

    fn set_value(&mut self, key: &str, value: &str) -> Result<(), PowError> {
        if self.browser {
            self.session
                .cookie_session()
                .insert(key.to_owned(), value)?;
        }
        Ok(())
    }

    fn remove_value(&mut self, key: &str) {
        if self.browser {
            self.session.cookie_session().remove(key);
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(cookie, _)| cookie == name)
            .map(|(_, value)| value.clone())
    }

    fn sent_cookie(&self, name: &str) -> Option<String> {
        self.session.queued_value(name)
    }

    fn serve_once(&mut self, current: crate::session::CurrentSession) {
        self.session.serve_once(current);
    }

    fn set_cookie(&mut self, cookie: ClientCookie) {
        if self.browser {
            self.session.queue_cookie(actix_cookie(cookie, self.secure));
        }
    }
}

/// `cookie` as actix sets it: `HttpOnly`, path `/`, `SameSite=Lax`, `Secure` as the setup
/// says (the engine's [`ClientCookie::to_cookie`], which every framework layer uses).
pub fn actix_cookie(cookie: ClientCookie, secure: bool) -> Cookie<'static> {
    cookie.to_cookie(secure)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::cookie::{time, SameSite};

    use super::*;

    #[test]
    fn the_client_can_be_held_across_an_await_on_any_thread() {
        fn assert_send<T: Send + Sync>() {}
        assert_send::<ActixClient>();
    }

    #[test]
    fn a_client_cookie_is_set_http_only_lax_on_the_whole_site() {
        let cookie = ClientCookie::new("remember_me", "v", Duration::from_secs(2_592_000));
        let set = actix_cookie(cookie, true);
        assert_eq!(set.http_only(), Some(true));
        assert_eq!(set.same_site(), Some(SameSite::Lax));
        assert_eq!(set.secure(), Some(true));
        assert_eq!(set.path(), Some("/"));
        assert_eq!(set.max_age(), Some(time::Duration::seconds(2_592_000)));
        assert_eq!(
            actix_cookie(ClientCookie::removal("remember_me"), false).secure(),
            Some(false)
        );
    }

    #[test]
    fn a_removal_expires_the_cookie() {
        let set = actix_cookie(ClientCookie::removal("remember_me"), false);
        assert_eq!(set.value(), "");
        assert_eq!(set.max_age(), Some(time::Duration::ZERO));
        assert!(set.expires().is_some());
    }
}

//! The actix layer's [`Client`]: what the extensions' callbacks read and change of the
//! client an actix request comes from.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::{HttpMessage as _, HttpRequest};

use crate::config::PowConfig;
use crate::error::PowError;
use crate::pipeline::{Client, ClientCookie, FlashKind, Format};
use crate::request::{RequestFacts, RequestSource};
use crate::session::{CookieSessionExt as _, CookieSessionHandle, SessionHandle};
use crate::web::ActixRequest;

/// The client of an actix request: its facts, its cookie session (as a
/// [`CookieSessionHandle`]), the flash texts and values kept in the cookie session, and the
/// cookies of the request and the response. On a JSON action the browser-only parts (flash,
/// values, cookies) do nothing.
pub struct ActixClient<'a> {
    req: &'a HttpRequest,
    session: CookieSessionHandle<'a>,
    browser: bool,
    secure: bool,
}

impl<'a> ActixClient<'a> {
    /// The client of `req`, answered as `format` (the setup serving it is looked up for
    /// the cookies' `Secure` flag).
    pub fn new(req: &'a HttpRequest, format: Format) -> Self {
        match crate::session::config(req) {
            Some(config) => Self::served_by(req, &config, format),
            None => Self::with_secure(req, format, true),
        }
    }

    /// The client of `req` served by `config`, answered as `format`.
    pub fn served_by(req: &'a HttpRequest, config: &PowConfig, format: Format) -> Self {
        Self::with_secure(req, format, config.session().cookie_secure)
    }

    fn with_secure(req: &'a HttpRequest, format: Format, secure: bool) -> Self {
        Self {
            req,
            session: CookieSessionHandle::new(req),
            browser: format == Format::Html,
            secure,
        }
    }
}

impl std::fmt::Debug for ActixClient<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActixClient")
            .field("path", &self.req.path())
            .field("browser", &self.browser)
            .finish_non_exhaustive()
    }
}

impl RequestSource for ActixClient<'_> {
    fn facts(&self) -> RequestFacts {
        ActixRequest(self.req).facts()
    }
}

impl Client for ActixClient<'_> {
    fn session(&mut self) -> &mut dyn SessionHandle<Error = PowError> {
        &mut self.session
    }

    fn flash(&mut self, kind: FlashKind, text: Option<String>) {
        if !self.browser {
            return;
        }
        match kind {
            FlashKind::Info => super::flash::put_info(self.req, text),
            FlashKind::Error => super::flash::put_error(self.req, text),
        }
    }

    fn discard_flash(&mut self) {
        if self.browser {
            let _ = super::flash::take(self.req);
        }
    }

    fn value(&self, key: &str) -> Option<String> {
        if !self.browser {
            return None;
        }
        self.req.cookie_session().get::<String>(key).ok().flatten()
    }

    fn set_value(&mut self, key: &str, value: &str) -> Result<(), PowError> {
        if self.browser {
            self.req.cookie_session().insert(key.to_owned(), value)?;
        }
        Ok(())
    }

    fn remove_value(&mut self, key: &str) {
        if self.browser {
            self.req.cookie_session().remove(key);
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.req
            .cookie(name)
            .map(|cookie| cookie.value().to_owned())
    }

    fn sent_cookie(&self, name: &str) -> Option<String> {
        crate::session::queued_value(self.req, name)
    }

    fn serve_once(&mut self, current: crate::session::CurrentSession) {
        self.req.extensions_mut().insert(current);
    }

    fn set_cookie(&mut self, cookie: ClientCookie) {
        if self.browser {
            crate::session::queue_cookie(self.req, actix_cookie(cookie, self.secure));
        }
    }
}

/// `cookie` as actix sets it: `HttpOnly`, path `/`, `SameSite=Lax`, `Secure` as the setup
/// says.
pub fn actix_cookie(cookie: ClientCookie, secure: bool) -> Cookie<'static> {
    let mut built = Cookie::build(cookie.name, cookie.value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure);
    if let Some(max_age) = cookie.max_age {
        let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        built = built.max_age(time::Duration::seconds(seconds));
    }
    let mut built = built.finish();
    if cookie.max_age.is_some_and(|age| age.is_zero()) {
        built.make_removal();
    }
    built
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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

//! A framework layer's browser session as the request's [`Client`]: the pipeline's side
//! of [`session::BrowserSession`](crate::session::BrowserSession), so that every layer's
//! client is the engine's.

use super::{Client, ClientCookie, FlashKind};
use crate::error::PowError;
use crate::request::{RequestFacts, RequestSource};
use crate::session::{flash, CookieQueue, CurrentSession, HoldsBrowserSession, SessionHandle};

/// A framework layer's browser session is the request's client: the flash texts and
/// values kept in its cookie session, the request's cookies, and cookies set on the
/// response as every layer sets them ([`ClientCookie::to_cookie`], `Secure` as the setup
/// says). Answered in JSON
/// ([`BrowserSession::answered_in_json`](crate::framework::session::BrowserSession::answered_in_json)),
/// the browser-only parts do nothing: no flash, no values, no response cookies.
impl<T: HoldsBrowserSession> RequestSource for T {
    fn facts(&self) -> RequestFacts {
        self.browser().facts()
    }
}

impl<T: HoldsBrowserSession> Client for T {
    fn session(&mut self) -> &mut dyn SessionHandle<Error = PowError> {
        self
    }

    fn flash(&mut self, kind: FlashKind, text: Option<String>) {
        let browser = self.browser();
        if browser.answers_json() {
            return;
        }
        match kind {
            FlashKind::Info => flash::put_info(&browser.cookie, text),
            FlashKind::Error => flash::put_error(&browser.cookie, text),
        }
    }

    fn discard_flash(&mut self) {
        let browser = self.browser();
        if !browser.answers_json() {
            let _ = flash::take(&browser.cookie);
        }
    }

    fn value(&self, key: &str) -> Option<String> {
        let browser = self.browser();
        if browser.answers_json() {
            return None;
        }
        browser.cookie.get::<String>(key).ok().flatten()
    }

    fn set_value(&mut self, key: &str, value: &str) -> Result<(), PowError> {
        let browser = self.browser();
        if !browser.answers_json() {
            browser.cookie.insert(key.to_owned(), value)?;
        }
        Ok(())
    }

    fn remove_value(&mut self, key: &str) {
        let browser = self.browser();
        if !browser.answers_json() {
            browser.cookie.remove(key);
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.browser().request_cookie(name).map(str::to_owned)
    }

    fn sent_cookie(&self, name: &str) -> Option<String> {
        self.browser().queue().queued_value(name)
    }

    fn set_cookie(&mut self, cookie: ClientCookie) {
        let browser = self.browser_mut();
        if !browser.answers_json() {
            let secure = browser.config.session().cookie_secure;
            browser.queue_mut().queue(cookie.to_cookie(secure));
        }
    }

    fn serve_once(&mut self, current: CurrentSession) {
        self.browser_mut().serve_once(current);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::config::PowConfig;
    use crate::request::RequestCookies;
    use crate::session::browser_session::BrowserSession;
    use crate::session::CookieSession;

    /// The response's cookies, as a test keeps them.
    #[derive(Default)]
    struct Queue(Vec<cookie::Cookie<'static>>);

    impl CookieQueue for Queue {
        fn queue(&mut self, cookie: cookie::Cookie<'static>) {
            self.0.retain(|c| c.name() != cookie.name());
            self.0.push(cookie);
        }
        fn unqueue(&mut self, name: &str) {
            self.0.retain(|c| c.name() != name);
        }
        fn queued_value(&self, name: &str) -> Option<String> {
            let found = self.0.iter().find(|c| c.name() == name);
            found.map(|c| c.value().to_owned())
        }
    }

    /// A browser carrying the cookie `remember_me=r1`, answered as a page or in JSON.
    fn browser(json: bool) -> BrowserSession<Queue> {
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let cookies = RequestCookies::from_headers(["theme=dark; remember_me=r1"]);
        BrowserSession::new(
            config,
            CookieSession::default(),
            Default::default(),
            Queue::default(),
        )
        .request_cookies(cookies)
        .answered_in_json(json)
    }

    /// What `client` is left with after a callback flashed, kept a value and set a cookie.
    fn after_a_callback(client: &mut dyn Client) -> (Option<String>, Option<String>) {
        client.flash(FlashKind::Info, Some("Welcome".into()));
        client.set_value("return_to", "/inbox").unwrap();
        client.set_cookie(ClientCookie::new(
            "remember_me",
            "r2",
            Duration::from_secs(60),
        ));
        (client.value("return_to"), client.sent_cookie("remember_me"))
    }

    #[test]
    fn a_browser_session_is_the_page_client() {
        let mut page = browser(false);
        let (value, sent) = after_a_callback(&mut page);
        assert_eq!(value.as_deref(), Some("/inbox"));
        assert_eq!(sent.as_deref(), Some("r2"));
        assert_eq!(page.cookie("remember_me").as_deref(), Some("r1"));
        assert_eq!(flash::take(&page.cookie).info.as_deref(), Some("Welcome"));
        let set = &page.queue().0[0];
        assert_eq!(set.http_only(), Some(true));
        assert_eq!(set.secure(), Some(page.config.session().cookie_secure));
        page.remove_value("return_to");
        assert_eq!(page.value("return_to"), None);
        page.set_cookie(ClientCookie::removal("remember_me"));
        assert_eq!(page.sent_cookie("remember_me").as_deref(), Some(""));
        // A removal expires the cookie on the whole site, as a set cookie is scoped.
        let removal = &page.queue().0[0];
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        assert!(removal.expires().is_some());
        assert_eq!(removal.path(), Some("/"));
        assert_eq!(removal.same_site(), Some(cookie::SameSite::Lax));
    }

    #[test]
    fn answered_in_json_the_browser_only_parts_do_nothing() {
        let mut json = browser(true);
        let (value, sent) = after_a_callback(&mut json);
        assert_eq!((value, sent), (None, None));
        assert!(
            json.cookie.keys().is_empty(),
            "no flash, no value in the cookie session"
        );
        assert!(json.queue().0.is_empty(), "no cookie on the answer");
        assert_eq!(
            json.cookie("remember_me").as_deref(),
            Some("r1"),
            "the request's cookies are read still"
        );
    }
}

//! Key rotation for the cookie session: a session cookie signed with a retired secret of
//! the key ring is re-signed with the current one before actix-session reads it, so a
//! changed `secret_key_base` signs nobody out. The browser gets the re-signed cookie the
//! next time the session is written (at the latest when the session id is renewed).

use std::rc::Rc;

use actix_web::cookie::{Cookie, CookieJar, Key};
use actix_web::dev::{forward_ready, Service, ServiceRequest};
use actix_web::http::header::{HeaderValue, COOKIE};

/// The current cookie key, the retired ones and the cookie's name.
pub(crate) struct Rekey {
    pub(crate) name: String,
    pub(crate) current: Key,
    pub(crate) retired: Vec<Key>,
}

/// Wraps the cookie session service; does nothing when the ring has no retired secret.
pub struct RekeyService<S> {
    pub(crate) service: S,
    pub(crate) rekey: Option<Rc<Rekey>>,
}

impl<S> Service<ServiceRequest> for RekeyService<S>
where
    S: Service<ServiceRequest>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        if let Some(rekey) = &self.rekey {
            rekey.apply(&mut req);
        }
        self.service.call(req)
    }
}

impl Rekey {
    /// Rewrites the request's `Cookie` header when the session cookie verifies only with
    /// a retired key. The header is parsed here, not through `req.cookie()`, whose cache
    /// would keep the old value for actix-session.
    fn apply(&self, req: &mut ServiceRequest) {
        let header = req
            .headers()
            .get_all(COOKIE)
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ");
        let mut cookies: Vec<Cookie<'static>> = header
            .split(';')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| Cookie::parse_encoded(pair.to_owned()).ok())
            .collect();
        let Some(position) = cookies.iter().position(|c| c.name() == self.name) else {
            return;
        };
        let Some(resigned) = self.resign(&cookies[position]) else {
            return;
        };
        cookies[position] = resigned;
        let joined = cookies
            .iter()
            .map(|c| c.encoded().stripped().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        if let Ok(value) = HeaderValue::from_str(&joined) {
            req.headers_mut().insert(COOKIE, value);
        }
    }

    /// The cookie signed with the current key, if it verifies only with a retired one.
    fn resign(&self, cookie: &Cookie<'static>) -> Option<Cookie<'static>> {
        let mut jar = CookieJar::new();
        jar.add_original(cookie.clone());
        if jar.signed(&self.current).get(&self.name).is_some() {
            return None;
        }
        let plain = self
            .retired
            .iter()
            .find_map(|key| jar.signed(key).get(&self.name))?;
        let mut fresh = CookieJar::new();
        fresh
            .signed_mut(&self.current)
            .add(Cookie::new(self.name.clone(), plain.value().to_owned()));
        fresh.get(&self.name).cloned()
    }
}

//! Cookies queued during a request and set on its response by
//! [`PowSessionMiddleware`](super::PowSessionMiddleware).

use actix_web::cookie::Cookie;
use actix_web::{HttpMessage, HttpRequest};

/// The cookies queued on one request, in order, at most one per name and path.
#[derive(Default)]
struct QueuedCookies(Vec<Cookie<'static>>);

/// Queues `cookie` to be set on the response to `req`.
///
/// Extensions and handlers call this from code that has no response at hand (an
/// [`RequestHook`](crate::extension::RequestHook) or a controller callback);
/// [`PowSessionMiddleware`](super::PowSessionMiddleware) adds the queued cookies to the
/// response once the handler has answered. A later cookie with the same name and path
/// replaces an earlier one, so "set, then expire" during one request sends only the
/// removal. Queue a removal with [`Cookie::make_removal`].
///
/// Cookies queued on a request that is not behind the middleware are never sent.
pub fn queue_cookie(req: &HttpRequest, cookie: Cookie<'static>) {
    let mut extensions = req.extensions_mut();
    let queued = &mut extensions.get_or_insert_with(QueuedCookies::default).0;
    queued.retain(|c| c.name() != cookie.name() || c.path() != cookie.path());
    queued.push(cookie);
}

/// Drops the cookie named `name` queued on `req`, if any.
pub(crate) fn unqueue_cookie(req: &HttpRequest, name: &str) {
    if let Some(queued) = req.extensions_mut().get_mut::<QueuedCookies>() {
        queued.0.retain(|c| c.name() != name);
    }
}

/// The cookies queued on `req` so far.
pub(crate) fn queued_cookies(req: &HttpRequest) -> Vec<Cookie<'static>> {
    req.extensions()
        .get::<QueuedCookies>()
        .map(|queued| queued.0.clone())
        .unwrap_or_default()
}

/// Removes and returns the cookies queued on `req`.
pub(crate) fn take_queued_cookies(req: &HttpRequest) -> Vec<Cookie<'static>> {
    req.extensions_mut()
        .remove::<QueuedCookies>()
        .map(|queued| queued.0)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_later_cookie_replaces_one_with_the_same_name_and_path() {
        let req = TestRequest::get().to_http_request();
        queue_cookie(&req, Cookie::build("a", "1").path("/").finish());
        queue_cookie(&req, Cookie::build("b", "2").path("/").finish());
        let mut removal = Cookie::build("a", "").path("/").finish();
        removal.make_removal();
        queue_cookie(&req, removal);
        let queued = take_queued_cookies(&req);
        let names: Vec<(&str, &str)> = queued.iter().map(|c| (c.name(), c.value())).collect();
        assert_eq!(names, [("b", "2"), ("a", "")]);
        assert!(take_queued_cookies(&req).is_empty());
    }
}

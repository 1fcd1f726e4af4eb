//! [`PowSessionMiddleware`]: loads the signed-in user of each request from the cookie
//! session.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::HttpMessage;
use pow_core::session::CookieSession as Session;

use super::auth_middleware::{AuthMiddleware, SessionSource};
use super::guard::unavailable_page;
use super::CredentialsCache;
use crate::config::PowConfig;
use crate::error::PowError;
use pow_core::extension::RequestHook;

/// Reads the session of a request from the cookie session: the [`SessionSource`] of
/// [`PowSessionMiddleware`].
#[derive(Clone)]
pub struct CookieSource {
    credentials: CredentialsCache,
    /// The extensions' request hooks, each with the names of the cookies it reads
    /// (resolved once, under the config).
    hooks: Box<[HookWithCookies]>,
    /// The extensions' static files, answered without a session.
    assets: pow_core::pages::routes::AssetPaths,
}

/// A request hook and the names of the cookies it reads.
type HookWithCookies = (Arc<dyn RequestHook>, Box<[String]>);

impl CookieSource {
    /// Whether `hook`'s cookies are on `req`.
    fn wants(cookies: &[String], req: &ServiceRequest) -> bool {
        cookies.iter().any(|name| req.cookie(name).is_some())
    }
}

/// Middleware that loads the signed-in user from the session cookie.
///
/// Wrap it inside [`cookie_session_middleware`](super::cookie_session_middleware), or use
/// [`PowMiddleware`](super::PowMiddleware), which does both in the right order; see the
/// [module docs](super) for what happens per request.
pub type PowSessionMiddleware = AuthMiddleware<CookieSource>;

impl AuthMiddleware<CookieSource> {
    /// The middleware for `config`.
    pub fn new(config: PowConfig) -> Self {
        let source = CookieSource::new(&config);
        Self::with_source(config, source)
    }
}

impl CookieSource {
    /// The cookie session of `config`, with its extensions' request hooks.
    pub(crate) fn new(config: &PowConfig) -> Self {
        let hooks = config
            .extensions()
            .request_hooks()
            .iter()
            .map(|hook| (Arc::clone(hook), hook.cookies(config).into_boxed_slice()))
            .collect();
        CookieSource {
            credentials: CredentialsCache::new(config).with_decode_cache(),
            hooks,
            assets: pow_core::pages::routes::AssetPaths::new(config),
        }
    }
}

impl SessionSource for CookieSource {
    /// Without a session cookie, and without a cookie an extension's request hook reads,
    /// there is nothing to resolve; an extension's static file is answered without a
    /// session (no renewal, no remembered sign-in: no cookie on a cacheable answer).
    fn has_work(&self, _config: &PowConfig, req: &ServiceRequest) -> bool {
        if self.assets.contains(req.path()) {
            return false;
        }
        req.extensions().contains::<Session>()
            || (!self.hooks.is_empty()
                && self
                    .hooks
                    .iter()
                    .any(|(_, cookies)| Self::wants(cookies, req)))
    }

    async fn load(&self, config: &PowConfig, req: &ServiceRequest) -> Result<(), PowError> {
        // No session cookie on the request: nothing to read, nothing to allocate.
        let Some(session) = req.extensions().get::<Session>().cloned() else {
            return Ok(());
        };
        if let Some(current) =
            pow_core::session::cookie::resolve(config, &self.credentials, &session).await?
        {
            req.extensions_mut().insert(current);
        }
        Ok(())
    }

    /// Runs each extension's [`RequestHook`] whose cookies the request carries, in order,
    /// once the session is resolved.
    async fn after_load(&self, config: &PowConfig, req: &ServiceRequest) -> Result<(), PowError> {
        for (hook, cookies) in self.hooks.iter() {
            if Self::wants(cookies, req) {
                let format = crate::pipeline::Format::Html;
                let mut client = super::CookieSessionHandle::client(req.request(), config, format);
                hook.on_request(config, &mut *client).await?;
            }
        }
        Ok(())
    }

    fn error_response(
        &self,
        config: &PowConfig,
        req: ServiceRequest,
        err: PowError,
    ) -> ServiceResponse {
        match unavailable_page(req.request(), config, &err) {
            Some(page) => req.into_response(page),
            None => req.error_response(super::response_error::Error(err)),
        }
    }

    /// A saturated hashing pool or a store that is down, anywhere below: a translated page
    /// rather than plain text.
    fn finish<B: MessageBody + 'static>(
        &self,
        config: &PowConfig,
        res: ServiceResponse<B>,
    ) -> ServiceResponse<EitherBody<B>> {
        let unavailable = res
            .response()
            .error()
            .and_then(|e| e.as_error::<super::response_error::Error>())
            .and_then(|e| unavailable_page(res.request(), config, &e.0));
        match unavailable {
            Some(page) => res.into_response(page).map_into_right_body(),
            None => res.map_into_left_body(),
        }
    }
}

//! [`PowSessionMiddleware`]: loads the signed-in user of each request from the cookie
//! session.

use std::sync::Arc;
use std::time::Duration;

use super::cookie::CookieSession as Session;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::HttpMessage;

use super::auth_middleware::{AuthMiddleware, SessionSource};
use super::CredentialsCache;
use super::{
    check_loaded, next_cookie_id, stored_session_id, write_session_id, CurrentSession,
    SessionMetadata,
};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::time::{duration_ms, now_ms};
use crate::users::User;
use crate::web::unavailable_page;
use pow_core::extension::RequestHook;

/// How long a rotated session id keeps answering for the session that replaced it.
const ROTATION_GRACE: Duration = Duration::from_secs(60);

/// Reads the session of a request from the cookie session: the [`SessionSource`] of
/// [`PowSessionMiddleware`].
#[derive(Clone)]
pub struct CookieSource {
    credentials: CredentialsCache,
    /// The extensions' request hooks, each with the names of the cookies it reads
    /// (resolved once, under the config).
    hooks: Box<[HookWithCookies]>,
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
        }
    }
}

impl SessionSource for CookieSource {
    /// Without a session cookie, and without a cookie an extension's request hook reads,
    /// there is nothing to resolve.
    fn has_work(&self, _config: &PowConfig, req: &ServiceRequest) -> bool {
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
        if let Some(current) = self.resolve(config, &session).await? {
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
                let mut client = crate::web::ActixClient::served_by(req.request(), config, format);
                hook.on_request(config, &mut client).await?;
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
            None => req.error_response(crate::Error(err)),
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
            .and_then(|e| e.as_error::<crate::Error>())
            .and_then(|e| unavailable_page(res.request(), config, &e.0));
        match unavailable {
            Some(page) => res.into_response(page).map_into_right_body(),
            None => res.map_into_left_body(),
        }
    }
}

impl CookieSource {
    async fn resolve(
        &self,
        config: &PowConfig,
        session: &Session,
    ) -> Result<Option<CurrentSession>, PowError> {
        let settings = config.session();
        // The cookie's signature was checked by the cookie session before this: a forged
        // id never reaches the store. The id is read in place (no copy).
        let Some(stored_id) = session.with_str(&settings.session_key, |cookie_id| {
            stored_session_id(config, cookie_id)
        }) else {
            return Ok(None);
        };
        let Some(resolved) = self.credentials.resolve(stored_id).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let metadata = resolved.metadata;
        let Some(user) = check_loaded(
            config,
            &self.credentials,
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
            || settings.ttl_renewal.is_some_and(|every| {
                now.saturating_sub(metadata.inserted_at) >= duration_ms(every)
            });
        // The cookie's own id, read again only when the session moves to a new id.
        let cookie_id = due
            .then(|| session.get::<String>(&settings.session_key).ok().flatten())
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
                write_session_id(session, config, &live)?;
            }
            return Ok(Some(CurrentSession {
                user,
                session_id: resolved.session_id,
                metadata,
            }));
        }

        // Due for renewal. Boxed: a renewal is rare, and its state would otherwise grow every
        // request's future past the allocator's small sizes.
        let renewed = Box::pin(self.renew(
            config,
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

    /// Rotates the session id of a session due for renewal, unless a parallel request
    /// claimed it first (`None`).
    async fn renew(
        &self,
        config: &PowConfig,
        session: &Session,
        cookie_id: &str,
        user: &Arc<User>,
        session_id: &str,
        metadata: &SessionMetadata,
    ) -> Result<Option<CurrentSession>, PowError> {
        if !self.credentials.claim_renewal(user.id, session_id).await? {
            return Ok(None);
        }
        let renewed = SessionMetadata {
            inserted_at: now_ms(),
            ..metadata.clone()
        };
        let handoff = crate::token::generate_uuid();
        let new_cookie_id = next_cookie_id(config, cookie_id, &handoff);
        let new_id = stored_session_id(config, &new_cookie_id);
        if let Err(err) = self
            .credentials
            .put_renewal(&new_id, user, &renewed, session_id)
            .await
        {
            // Best effort: let a later request try again.
            let _ = self.credentials.release_renewal(user.id, session_id).await;
            return Err(err.into());
        }
        self.credentials
            .mark_rotated(
                session_id,
                user.id,
                metadata,
                (&new_id, Some(&handoff)),
                ROTATION_GRACE,
            )
            .await?;
        session.renew();
        write_session_id(session, config, &new_cookie_id)?;
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
}

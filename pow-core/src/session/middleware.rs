//! [`PowSessionMiddleware`]: loads the signed-in user of each request.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_session::{Session, SessionExt};
use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::HttpMessage;
use futures_util::future::LocalBoxFuture;

use super::credentials::{duration_ms, now_ms, CredentialsCache};
use super::guard::{ErrorHandler, ErrorHandlerRef};
use super::response_cookies::take_queued_cookies;
use super::{new_session_id, write_session_id, CurrentSession, SessionMetadata};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::token::SESSION_SALT;
use crate::users::{run_blocking, User};
use crate::web::unavailable_page;

/// How long a rotated session id keeps answering for the session that replaced it.
const ROTATION_GRACE: Duration = Duration::from_secs(60);

/// Middleware that loads the signed-in user from the session cookie.
///
/// Wrap it inside [`cookie_session_middleware`](super::cookie_session_middleware); see the
/// [module docs](super) for the order and what happens per request.
#[derive(Clone)]
pub struct PowSessionMiddleware {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PowSessionMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowSessionMiddleware")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: PowConfig,
    credentials: CredentialsCache,
    error_handler: Option<Arc<dyn ErrorHandler>>,
}

impl PowSessionMiddleware {
    /// The middleware for `config`.
    pub fn new(config: PowConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                credentials: CredentialsCache::new(&config).with_decode_cache(),
                config,
                error_handler: None,
            }),
        }
    }

    /// Sets the [`ErrorHandler`] that the [`CurrentUser`](super::CurrentUser) extractor and
    /// the guards use on the routes behind this middleware. The default is
    /// [`DefaultErrorHandler`](super::DefaultErrorHandler).
    pub fn error_handler(self, handler: impl ErrorHandler) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                credentials: self.inner.credentials.clone(),
                error_handler: Some(Arc::new(handler)),
            }),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for PowSessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = PowSessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(PowSessionService {
            service: Rc::new(service),
            inner: Arc::clone(&self.inner),
        }))
    }
}

/// The service built by [`PowSessionMiddleware`].
pub struct PowSessionService<S> {
    service: Rc<S>,
    inner: Arc<Inner>,
}

impl<S, B> Service<ServiceRequest> for PowSessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let loaded = match inner.load(&req).await {
                Ok(()) => inner.run_extensions(&req).await,
                Err(err) => Err(err),
            };
            match loaded {
                Ok(()) => {
                    let mut res = service.call(req).await?;
                    // A saturated hashing pool or a store that is down, anywhere below:
                    // a translated page rather than plain text.
                    let unavailable = res
                        .response()
                        .error()
                        .and_then(|e| e.as_error::<PowError>())
                        .and_then(|e| unavailable_page(res.request(), &inner.config, e));
                    if let Some(page) = unavailable {
                        return Ok(res.into_response(page).map_into_right_body());
                    }
                    for cookie in take_queued_cookies(res.request()) {
                        res.response_mut().add_cookie(&cookie)?;
                    }
                    Ok(res.map_into_left_body())
                }
                // Answered here, so outer middleware sees a response (503 for the store).
                Err(err) => {
                    let res = match unavailable_page(req.request(), &inner.config, &err) {
                        Some(page) => req.into_response(page),
                        None => req.error_response(err),
                    };
                    Ok(res.map_into_right_body())
                }
            }
        })
    }
}

impl Inner {
    /// Runs each enabled extension's [`Extension::on_request`](crate::Extension::on_request)
    /// hook, in order, once the session is resolved.
    async fn run_extensions(&self, req: &ServiceRequest) -> Result<(), PowError> {
        for ext in self.config.extensions().iter() {
            ext.on_request(req.request(), &self.config).await?;
        }
        Ok(())
    }

    /// Resolves the request's session and records it in the request extensions.
    async fn load(&self, req: &ServiceRequest) -> Result<(), PowError> {
        {
            let mut extensions = req.extensions_mut();
            extensions.insert(self.config.clone());
            if let Some(handler) = &self.error_handler {
                extensions.insert(ErrorHandlerRef(Arc::clone(handler)));
            }
            if extensions.contains::<CurrentSession>() {
                // Assigned up front (tests): nothing to look up.
                return Ok(());
            }
        }
        let session = req.get_session();
        if let Some(current) = self.resolve(&session).await? {
            req.extensions_mut().insert(current);
        }
        Ok(())
    }

    async fn resolve(&self, session: &Session) -> Result<Option<CurrentSession>, PowError> {
        let config = &self.config;
        let settings = config.session();
        let Some(token) = session.get::<String>(&settings.session_key).ok().flatten() else {
            return Ok(None);
        };
        // Signature first: a forged id never reaches the store.
        let Some(session_id) = config.verifier().verify_token(SESSION_SALT, &token) else {
            return Ok(None);
        };
        let Some(resolved) = self.credentials.resolve(&session_id).await? else {
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
        )
        .await?
        else {
            return Ok(None);
        };

        if resolved.via_rotation {
            // The cookie holds an id rotated moments ago by a parallel request: move this
            // client to the live id too, and never rotate again from an old id.
            write_session_id(session, config, &resolved.session_id)?;
            return Ok(Some(CurrentSession {
                user,
                session_id: resolved.session_id,
                metadata,
            }));
        }

        let due = settings
            .ttl_renewal
            .is_some_and(|every| now.saturating_sub(metadata.inserted_at) >= duration_ms(every));
        if due
            && self
                .credentials
                .claim_renewal(user.id, &resolved.session_id)
                .await?
        {
            let renewed = SessionMetadata {
                inserted_at: now,
                ..metadata.clone()
            };
            let new_id = new_session_id(config);
            if let Err(err) = self.credentials.put(&new_id, &user, &renewed).await {
                // Best effort: let a later request try again.
                let _ = self
                    .credentials
                    .release_renewal(user.id, &resolved.session_id, &metadata)
                    .await;
                return Err(err.into());
            }
            self.credentials
                .mark_rotated(
                    &resolved.session_id,
                    user.id,
                    &metadata,
                    &new_id,
                    ROTATION_GRACE,
                )
                .await?;
            session.renew();
            write_session_id(session, config, &new_id)?;
            return Ok(Some(CurrentSession {
                user,
                session_id: new_id,
                metadata: renewed,
            }));
        }
        // Not due, or a parallel request is rotating this id: serve the user as is.
        Ok(Some(CurrentSession {
            user,
            session_id: resolved.session_id,
            metadata,
        }))
    }
}

/// Applies the session rules that do not depend on where the session id came from (the
/// cookie, or a bearer token): ends a session older than the absolute lifetime and, with
/// [`reload_user`](crate::SessionConfig::reload_user), re-reads the user. Returns the
/// user to serve, or `None` after deleting a session that has to end.
pub(crate) async fn check_loaded(
    config: &PowConfig,
    credentials: &CredentialsCache,
    session_id: &str,
    user: User,
    metadata: &SessionMetadata,
) -> Result<Option<User>, PowError> {
    let settings = config.session();
    if let Some(max) = settings.absolute_lifetime {
        if now_ms().saturating_sub(metadata.signed_in_at) > duration_ms(max) {
            credentials.delete(session_id).await?;
            return Ok(None);
        }
    }
    if !settings.reload_user {
        return Ok(Some(user));
    }
    let users = Arc::clone(config.users()?);
    let reload_config = config.clone();
    let id = user.id;
    match run_blocking(move || users.get(&reload_config, id)).await? {
        Some(fresh) => Ok(Some(fresh)),
        None => {
            credentials.delete(session_id).await?;
            Ok(None)
        }
    }
}

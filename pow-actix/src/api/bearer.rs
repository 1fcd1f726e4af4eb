//! An API client's session as a [`SessionHandle`]: a bearer token pair.

use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use async_trait::async_trait;

use super::controllers::{signed_in_response, token_response_with};
use super::error::ApiError;
use super::middleware::bearer_token;
use super::{ApiAction, ApiContext};
use crate::config::PowConfig;
use crate::session::tokens::TokenPair;
use crate::session::{CookieSessionHandle, CurrentSession, SessionHandle, SessionMetadata};
use crate::users::User;

/// The session of an API client, carried by a bearer token pair (or, on the
/// [browser transport](super::BrowserTransport), by the session cookie): what the JSON
/// endpoints hand to the [`flows`](crate::flows).
///
/// [`start`](SessionHandle::start) runs every [`TokenHooks::before_issue`] (which may
/// refuse, say while a second factor is pending), collects their token data and issues a
/// new pair from the request's device; [`response`](Self::response) is then the token
/// answer. [`end`](SessionHandle::end) revokes the pair issued by this request, or else
/// the pair of the request's bearer token. On the browser transport, the same hooks run,
/// then the cookie session starts or ends as on the HTML pages, and the answer carries the
/// extensions' data without tokens.
///
/// [`TokenHooks::before_issue`]: super::TokenHooks::before_issue
pub struct BearerSession<'a> {
    api: &'a ApiContext,
    req: &'a HttpRequest,
    action: ApiAction,
    issued: Option<Issued>,
}

/// What a sign-in of this request gave the client.
enum Issued {
    /// A token pair, with the extensions' data.
    Pair(TokenPair, serde_json::Map<String, serde_json::Value>),
    /// A cookie session (the browser transport), with the extensions' data.
    Cookie(serde_json::Map<String, serde_json::Value>),
}

impl std::fmt::Debug for BearerSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerSession")
            .field("action", &self.action)
            .field("issued", &self.issued.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> BearerSession<'a> {
    /// The session of the API request `req`; a pair it issues is issued for `action`.
    pub fn new(api: &'a ApiContext, req: &'a HttpRequest, action: ApiAction) -> Self {
        Self {
            api,
            req,
            action,
            issued: None,
        }
    }

    /// The token answer for the pair this request issued
    /// ([`token_response_with`], with the extensions' token data), if it issued one.
    pub fn response(&self) -> Option<HttpResponse> {
        self.issued.as_ref().map(|issued| match issued {
            Issued::Pair(pair, data) => token_response_with(pair, data.clone()),
            Issued::Cookie(data) => signed_in_response(data.clone()),
        })
    }
}

#[async_trait(?Send)]
impl SessionHandle for BearerSession<'_> {
    type Error = ApiError;

    fn current(&self) -> Option<CurrentSession> {
        self.req.extensions().get::<CurrentSession>().cloned()
    }

    async fn start(
        &mut self,
        config: &PowConfig,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), ApiError> {
        let data = self
            .api
            .prepare_issue(self.req, user, self.action, &metadata.methods)
            .await?;
        if self.api.is_browser() {
            CookieSessionHandle::new(self.req)
                .start(config, user, metadata)
                .await?;
            self.issued = Some(Issued::Cookie(data));
            return Ok(());
        }
        // The new pair replaces the one the client used (an account change).
        if self.action == ApiAction::AccountUpdate {
            if let Some(token) = bearer_token(self.req.headers()) {
                self.api.tokens().sign_out(token).await?;
            }
        }
        let pair = self
            .api
            .issue_tokens(self.req, user, metadata.methods)
            .await?;
        self.issued = Some(Issued::Pair(pair, data));
        // A browser's sign-in mails its own new-device notice (the cookie session's).
        if self.action == ApiAction::SignIn {
            self.api.notify_sign_in(self.req, user).await;
        }
        Ok(())
    }

    async fn end(&mut self, config: &PowConfig) -> Result<(), ApiError> {
        if self.api.is_browser() {
            self.issued = None;
            CookieSessionHandle::new(self.req).end(config).await?;
            return Ok(());
        }
        if let Some(Issued::Pair(pair, _)) = self.issued.take() {
            self.api.tokens().sign_out(&pair.access_token).await?;
            return Ok(());
        }
        if let Some(token) = bearer_token(self.req.headers()) {
            if self.api.tokens().sign_out(token).await? {
                crate::audit::record(
                    config,
                    crate::audit::AuditEvent::new(crate::audit::API_TOKEN_REVOKED)
                        .request(config, &crate::web::ActixRequest(self.req)),
                );
            }
        }
        Ok(())
    }

    async fn record_method(
        &mut self,
        config: &PowConfig,
        method: crate::session::AuthMethod,
    ) -> Result<(), ApiError> {
        // The browser transport's session is the cookie session; a bearer token's is the
        // access token's record: both are the request's current session.
        let current = self
            .current()
            .ok_or_else(crate::session::nobody_signed_in)?;
        let current = crate::session::record_session_method(config, current, method).await?;
        self.req.extensions_mut().insert(current);
        Ok(())
    }
}

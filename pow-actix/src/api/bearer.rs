//! An API client's session as a [`SessionHandle`]: a bearer token pair.

use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use async_trait::async_trait;

use super::controllers::{signed_in_response, token_response_with};
use super::error::ApiError;
use super::middleware::bearer_token;
use super::{ApiAction, ApiContext};
use crate::config::PowConfig;
use crate::messages::LanguageIdentifier;
use crate::request::RequestFacts;
use crate::session::tokens::TokenPair;
use crate::session::{
    CookieSessionHandle, CurrentSession, InRequest, SessionHandle, SessionMetadata, WriteBack,
};
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
pub struct BearerSession {
    api: ApiContext,
    action: ApiAction,
    issued: Option<Issued>,
    facts: RequestFacts,
    lang: LanguageIdentifier,
    /// The request's bearer access token.
    bearer: Option<String>,
    /// The token's session (the bearer transport).
    current: Option<CurrentSession>,
    current_changed: bool,
    /// The cookie session (the browser transport).
    browser: Option<CookieSessionHandle>,
}

/// What a sign-in of this request gave the client.
enum Issued {
    /// A token pair, with the extensions' data.
    Pair(TokenPair, serde_json::Map<String, serde_json::Value>),
    /// A cookie session (the browser transport), with the extensions' data.
    Cookie(serde_json::Map<String, serde_json::Value>),
}

impl std::fmt::Debug for BearerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerSession")
            .field("action", &self.action)
            .field("issued", &self.issued.is_some())
            .finish_non_exhaustive()
    }
}

impl BearerSession {
    /// The session of the API request `req`; a pair it issues is issued for `action`. It
    /// holds what it read of `req` (so a flow over it is `Send`) and writes the session it
    /// changed back into `req` when dropped.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(api: &ApiContext, req: &HttpRequest, action: ApiAction) -> InRequest<Self> {
        let browser = api.is_browser().then(|| CookieSessionHandle::read(req));
        let session = Self {
            api: api.clone(),
            action,
            issued: None,
            facts: crate::web::ActixRequest(req).facts(),
            lang: super::error::language(req, Some(api.config())),
            bearer: bearer_token(req.headers()).map(str::to_owned),
            current: req.extensions().get::<CurrentSession>().cloned(),
            current_changed: false,
            browser,
        };
        InRequest::new(req, session)
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

impl WriteBack for BearerSession {
    fn write_back(&mut self, req: &HttpRequest) {
        if let Some(browser) = &mut self.browser {
            browser.write_back(req);
        }
        if std::mem::take(&mut self.current_changed) {
            if let Some(current) = &self.current {
                req.extensions_mut().insert(current.clone());
            }
        }
    }
}

#[async_trait]
impl SessionHandle for BearerSession {
    type Error = ApiError;

    fn current(&self) -> Option<CurrentSession> {
        match &self.browser {
            Some(browser) => browser.current(),
            None => self.current.clone(),
        }
    }

    async fn start(
        &mut self,
        config: &PowConfig,
        user: &User,
        metadata: SessionMetadata,
    ) -> Result<(), ApiError> {
        let data = self
            .api
            .prepare_issue(
                &self.facts,
                &self.lang,
                user,
                self.action,
                &metadata.methods,
            )
            .await?;
        if let Some(browser) = &mut self.browser {
            browser.start(config, user, metadata).await?;
            self.issued = Some(Issued::Cookie(data));
            return Ok(());
        }
        // The new pair replaces the one the client used (an account change).
        if self.action == ApiAction::AccountUpdate {
            if let Some(token) = &self.bearer {
                self.api.tokens().sign_out(token).await?;
            }
        }
        let pair = self
            .api
            .service()
            .issue_tokens(self.current.as_ref(), &self.facts, user, metadata.methods)
            .await?;
        self.issued = Some(Issued::Pair(pair, data));
        // A browser's sign-in mails its own new-device notice (the cookie session's).
        if self.action == ApiAction::SignIn {
            self.api
                .service()
                .notify_sign_in(&self.facts, &self.lang, user)
                .await;
        }
        Ok(())
    }

    async fn end(&mut self, config: &PowConfig) -> Result<(), ApiError> {
        if let Some(browser) = &mut self.browser {
            self.issued = None;
            browser.end(config).await?;
            return Ok(());
        }
        if let Some(Issued::Pair(pair, _)) = self.issued.take() {
            self.api.tokens().sign_out(&pair.access_token).await?;
            return Ok(());
        }
        if let Some(token) = &self.bearer {
            if self.api.tokens().sign_out(token).await? {
                crate::audit::record(
                    config,
                    crate::audit::AuditEvent::new(crate::audit::API_TOKEN_REVOKED)
                        .request(config, &self.facts),
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
        if let Some(browser) = &mut self.browser {
            browser.record_method(config, method).await?;
            return Ok(());
        }
        let current = self
            .current
            .clone()
            .ok_or_else(crate::session::nobody_signed_in)?;
        self.current = Some(crate::session::record_session_method(config, current, method).await?);
        self.current_changed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_can_be_held_across_an_await_on_any_thread() {
        fn assert_send<T: Send + Sync>() {}
        assert_send::<BearerSession>();
    }
}

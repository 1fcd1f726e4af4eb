//! How a framework layer runs a JSON route: the request read into an [`ApiCall`] (the
//! engine's [`ApiClient`]) and an [`ApiInput`], and [`run`], the JSON twin of the page
//! runner. Reached as [`framework::api`](crate::framework::api).

use async_trait::async_trait;
use serde_json::Value;

use super::routes::{
    required_user_params, user_params, ApiAnswer, ApiClient, ApiRoute, Reply, UserParams,
};
use super::{ApiAction, ApiError, ApiService};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::LanguageIdentifier;
use crate::pages::routes::{PathParams, QueryParams, Verb};
use crate::pipeline::{
    self, ActionRequest, Before, Client, ClientCookie, FlashKind, Format, Refusal, Step, Stop,
};
use crate::request::{RequestCookies, RequestFacts, RequestSource};
use crate::session::tokens::TokenPair;
use crate::session::{CurrentSession, SessionHandle, SessionMetadata};
use crate::users::{Params, User};

/// The framework-free [`ApiClient`]: what a framework layer read of the request (facts,
/// body, bearer token and its session, or the browser's cookie session).
pub struct ApiCall<'c> {
    api: ApiService,
    facts: RequestFacts,
    body: Vec<u8>,
    bearer: Option<String>,
    /// The bearer token's session (the bearer transport).
    current: Option<CurrentSession>,
    current_changed: bool,
    /// The cookie session (the browser transport).
    browser: Option<&'c mut (dyn SessionHandle<Error = PowError> + Send + Sync)>,
    cookies: RequestCookies,
    action: ApiAction,
    issued: Option<Issued>,
}

/// What a sign-in of this request gave the client.
enum Issued {
    /// A token pair, with the extensions' data.
    Pair(TokenPair, serde_json::Map<String, Value>),
    /// A cookie session (the browser transport), with the extensions' data.
    Cookie(serde_json::Map<String, Value>),
}

impl std::fmt::Debug for ApiCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCall")
            .field("api", &self.api)
            .field("browser", &self.browser.is_some())
            .finish_non_exhaustive()
    }
}

impl<'c> ApiCall<'c> {
    /// A request to `api` with `facts` and `body`, carrying no credentials yet.
    pub fn new(api: ApiService, facts: RequestFacts, body: Vec<u8>) -> Self {
        Self {
            api,
            facts,
            body,
            bearer: None,
            current: None,
            current_changed: false,
            browser: None,
            cookies: RequestCookies::default(),
            action: ApiAction::SignIn,
            issued: None,
        }
    }

    /// The bearer transport's credentials: the request's bearer `token`, and its session
    /// when a layer resolved it already (else [`resolve`](Self::resolve) does).
    pub fn bearer(mut self, token: Option<String>, current: Option<CurrentSession>) -> Self {
        self.bearer = token;
        self.current = current;
        self
    }

    /// The browser transport's credentials: the cookie `session` and the request's
    /// cookies.
    pub fn browser(
        mut self,
        session: &'c mut (dyn SessionHandle<Error = PowError> + Send + Sync),
        cookies: RequestCookies,
    ) -> Self {
        self.browser = Some(session);
        self.cookies = cookies;
        self
    }

    /// Resolves the bearer token's session when no layer did.
    ///
    /// # Errors
    /// The store's error.
    pub async fn resolve(&mut self) -> Result<(), PowError> {
        if self.browser.is_none() && self.current.is_none() {
            if let Some(token) = &self.bearer {
                self.current = self.api.authenticate(token).await?;
            }
        }
        Ok(())
    }

    /// The bearer session, when this request changed it (a method recorded): the layer
    /// serves the rest of the request with it.
    pub fn changed_session(&self) -> Option<&CurrentSession> {
        self.current.as_ref().filter(|_| self.current_changed)
    }

    fn lang(&self) -> LanguageIdentifier {
        super::language(Some(self.api.config()), &self.facts)
    }
}

impl RequestSource for ApiCall<'_> {
    fn facts(&self) -> RequestFacts {
        let mut facts = self.facts.clone();
        facts.session = self
            .current()
            .map(|current| (current.session_id.clone(), current.user.id));
        facts
    }
}

impl Client for ApiCall<'_> {
    fn session(&mut self) -> &mut dyn SessionHandle<Error = PowError> {
        self
    }

    // A JSON client shows no flash and keeps no values or cookies: its answers are data.
    fn flash(&mut self, _kind: FlashKind, _text: Option<String>) {}

    fn discard_flash(&mut self) {}

    fn value(&self, _key: &str) -> Option<String> {
        None
    }

    fn set_value(&mut self, _key: &str, _value: &str) -> Result<(), PowError> {
        Ok(())
    }

    fn remove_value(&mut self, _key: &str) {}

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.get(name).map(str::to_owned)
    }

    fn sent_cookie(&self, _name: &str) -> Option<String> {
        None
    }

    fn set_cookie(&mut self, _cookie: ClientCookie) {}

    fn serve_once(&mut self, current: CurrentSession) {
        if self.browser.is_none() {
            self.current = Some(current);
            self.current_changed = true;
        }
    }
}

impl ApiClient for ApiCall<'_> {
    fn api(&self) -> &ApiService {
        &self.api
    }

    fn body(&self) -> &[u8] {
        &self.body
    }

    fn bearer_token(&self) -> Option<&str> {
        self.bearer.as_deref()
    }

    fn signing_in(&mut self, action: ApiAction) -> &mut dyn SessionHandle<Error = PowError> {
        self.action = action;
        self
    }

    fn issued(&self) -> Result<Reply, ApiError> {
        match &self.issued {
            Some(Issued::Pair(pair, data)) => Ok(Reply::tokens(pair, data.clone())),
            Some(Issued::Cookie(data)) => Ok(Reply::ok(data.clone())),
            None => Err(PowError::Config("a signed-in flow issued no token pair".into()).into()),
        }
    }

    fn not_authenticated(&self, lang: &LanguageIdentifier) -> ApiError {
        let config = Some(self.api.config());
        if self.bearer.is_some() && self.current.is_none() && self.browser.is_none() {
            ApiError::invalid_token(config, lang)
        } else {
            ApiError::not_authenticated(config, lang)
        }
    }
}

#[async_trait]
impl SessionHandle for ApiCall<'_> {
    type Error = PowError;

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
    ) -> Result<(), PowError> {
        let lang = self.lang();
        // (The browser transport admits in its own start, below.)
        if self.browser.is_none() {
            crate::session::admit(config, user, &metadata.methods).await?;
        }
        let data = self
            .api
            .prepare_issue(&self.facts, &lang, user, self.action, &metadata.methods)
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
            .issue_tokens(self.current.as_ref(), &self.facts, user, metadata.methods)
            .await?;
        self.issued = Some(Issued::Pair(pair, data));
        // A browser's sign-in mails its own new-device notice (the cookie session's).
        if self.action == ApiAction::SignIn {
            self.api.notify_sign_in(&self.facts, &lang, user).await;
        }
        Ok(())
    }

    async fn end(&mut self, config: &PowConfig) -> Result<(), PowError> {
        if let Some(browser) = &mut self.browser {
            self.issued = None;
            return browser.end(config).await;
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
    ) -> Result<(), PowError> {
        // The browser transport's session is the cookie session; a bearer token's is the
        // access token's record: both are the request's current session.
        if let Some(browser) = &mut self.browser {
            return browser.record_method(config, method).await;
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

/// What a framework read of a request besides the [`ApiCall`]: the path's segments, the
/// query, and the CAPTCHA answer header.
#[derive(Clone, Debug, Default)]
pub struct ApiInput {
    /// The route's path segments.
    pub path: PathParams,
    /// The query string's pairs.
    pub query: QueryParams,
    /// The [`CAPTCHA_HEADER`](crate::captcha::CAPTCHA_HEADER) of the request.
    pub captcha: Option<String>,
}

/// Runs `route` for `call` through the pipeline (see [`api::routes`](crate::api::routes)) and answers,
/// errors translated into the request's language.
pub async fn run(route: &ApiRoute, call: &mut ApiCall<'_>, input: ApiInput) -> ApiAnswer {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "pow.action",
        action = %route.action,
        user_id = tracing::field::Empty
    );
    let config = call.api.config().clone();
    let lang = call.lang();
    match run_traced(route, call, input, &config, &lang)
        .instrument(span)
        .await
    {
        Ok(reply) => reply.answer(&config, &lang),
        Err(err) => ApiAnswer::error(&err.localized(Some(&config), &lang)),
    }
}

async fn run_traced(
    route: &ApiRoute,
    call: &mut ApiCall<'_>,
    input: ApiInput,
    config: &PowConfig,
    lang: &LanguageIdentifier,
) -> Result<Reply, ApiError> {
    let params = match route.user_params {
        UserParams::Required => required_user_params(config, lang, &call.body)?,
        UserParams::Optional => {
            user_params(&call.body).ok_or_else(|| ApiError::invalid_request(Some(config), lang))?
        }
        UserParams::Unread => Params::default(),
    };
    call.resolve().await?;
    let current = call.current();
    let mut requirements = route.requirements.clone();
    requirements.captcha =
        requirements.captcha || route.captcha_when.is_some_and(|asks| asks(&call.body));
    let mut step = Step::new(config, route.action, params, lang.clone());
    step.format = Format::Json;
    step.current_user = current.as_ref().map(|c| User::clone(&c.user));
    step.assigns.insert(input.path);
    step.assigns.insert(input.query);
    let request = ActionRequest {
        requirements,
        safe: route.verb == Verb::Get,
        captcha_answer: input.captcha,
        ..ActionRequest::default()
    };
    let mut host = JsonHost { step, call };
    let admission = match pipeline::before_action(&mut host, current.as_ref(), request).await? {
        Before::Go(admission) => admission,
        Before::Stop(Stop::Halted(halt)) => return Ok(Reply::halted(halt)),
        Before::Stop(Stop::Refused(Refusal::NotAuthenticated)) => {
            return Err(host.call.not_authenticated(lang))
        }
        Before::Stop(Stop::Refused(Refusal::AlreadyAuthenticated)) => {
            return Err(ApiError::already_authenticated(Some(config), lang))
        }
        Before::Stop(Stop::Refused(refusal)) => return Err(refusal.error().into()),
        // No form and no page to go back to on JSON.
        Before::Stop(Stop::BadForm(_) | Stop::Back(_)) => {
            return Err(ApiError::invalid_request(Some(config), lang))
        }
    };
    let reply = admission
        .run((route.act)(&mut host.step, &mut *host.call))
        .await?;
    match pipeline::after_action(&mut host, admission, true).await? {
        Some(halt) => Ok(Reply::halted(halt)),
        None => Ok(reply),
    }
}

/// The JSON side of an action the engine runs: its step and the request's [`ApiCall`].
struct JsonHost<'s, 'a> {
    step: Step,
    call: &'s mut ApiCall<'a>,
}

impl pipeline::ActionHost for JsonHost<'_, '_> {
    fn step(&mut self) -> &mut Step {
        &mut self.step
    }

    fn split(&mut self) -> (&mut Step, &mut dyn Client) {
        (&mut self.step, &mut *self.call)
    }
}

//! The JSON API on actix-web, with bearer tokens: sign-up, sign-in, renewal and sign-out for mobile and
//! single-page clients, following Pow's API guide.
//!
//! A client signs in and gets two signed tokens:
//!
//! - an **access token**, sent as `Authorization: Bearer <access token>` on every API
//!   request. It is a session in the [`CredentialsCache`](crate::session::CredentialsCache)
//!   and lives as long as one
//!   ([`credentials_ttl`](crate::SessionConfig::credentials_ttl), 30 minutes by default);
//! - a **renewal token**, kept by the client and sent (also as a bearer token) to
//!   `POST <prefix>/session/renew` when the access token has expired. It answers a new
//!   pair, works **once**, and lives 30 days ([`ApiOptions::renewal_ttl`]).
//!
//! Both are random UUIDs signed like every pow-rs token ([`crate::token`]), each with its
//! own salt ([`ACCESS_TOKEN_SALT`], [`RENEWAL_TOKEN_SALT`]): the signature is checked before
//! any lookup, and one kind of token never passes for the other.
//!
//! # Setup
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use pow_actix::api::{self, ApiAuthMiddleware, ApiOptions};
//! use pow_actix::session::RequireAuthenticated;
//! use pow_actix::{CurrentUser, PowConfig};
//!
//! async fn me(CurrentUser(user): CurrentUser) -> HttpResponse {
//!     // The API's envelope: {"status": 200, "data": {...}}.
//!     api::answer(actix_web::http::StatusCode::OK, serde_json::json!({ "email": user.email() }))
//! }
//!
//! let config = PowConfig::builder("s".repeat(64)).build().unwrap();
//! let app = App::new()
//!     // POST /api/v1/registration, POST|DELETE /api/v1/session, POST /api/v1/session/renew
//!     .configure(api::configure(config.clone(), ApiOptions::new()))
//!     .service(
//!         web::resource("/api/v1/me")
//!             .wrap(RequireAuthenticated::new())
//!             .route(web::get().to(me)),
//!     )
//!     // Loads the user of the bearer token for every route of the app.
//!     .wrap(ApiAuthMiddleware::new(config.clone()));
//! ```
//!
//! [`ApiAuthMiddleware`] puts the signed-in [`CurrentSession`](crate::session::CurrentSession) and the [`PowConfig`](crate::PowConfig) into
//! the request extensions exactly as [`PowSessionMiddleware`](crate::PowSessionMiddleware)
//! does, so [`CurrentUser`](crate::CurrentUser), [`MaybeUser`](crate::MaybeUser),
//! [`current_user`](crate::session::current_user) and
//! [`RequireAuthenticated`](crate::session::RequireAuthenticated) work unchanged. Behind
//! it, failed guards answer the API's JSON even without an `Accept` header (or what an
//! [`ErrorHandler`](crate::session::ErrorHandler) set on it answers).
//! The endpoints themselves read the bearer token directly, so they work whether or not
//! the middleware wraps them.
//!
//! # Endpoints
//!
//! Bodies are JSON; user params go under `user`. Every answer, success or error, is one
//! envelope, never cached:
//!
//! ```json
//! {"status": 200, "data": {"access_token": "...", "renewal_token": "..."}}
//! {"status": 200, "data": [...], "meta": {"available": true}}
//! {"status": 422, "errors": [{"code": "user_not_created", "message": "Couldn't create user"},
//!                            {"code": "taken", "param": "email", "message": "has already been taken"}]}
//! ```
//!
//! `status` repeats the HTTP status; `data` is what was asked for ([`answer`]); `meta`
//! describes it, where there is something to say. An error lists `errors`: first the
//! answer's own stable `code` and translated `message` ([`ApiError`]), then one entry per
//! field error with the field as `param` and the validation's message id as `code`.
//! Clients branch on `status` and `code`, never on `message`; texts follow the request's
//! `Accept-Language`.
//!
//! **Pending steps.** A sign-in that needs more than it got (a confirmed address, a second
//! factor) and an action that needs a fresher proof (sudo mode, a step-up) answer `401`
//! with the step's code and `data.pending`, a list of [`PendingStep`]s: what each step is,
//! which methods it accepts, and the token that carries the sign-in so far:
//!
//! ```json
//! {"status": 401,
//!  "errors": [{"code": "second_factor_required", "message": "Enter the code ..."}],
//!  "data": {"pending": [{"step": "second_factor", "methods": ["totp", "recovery_code"], "token": "SFMy..."}]}}
//! ```
//!
//! So a client walks any flow without knowing which extensions are on: it shows the step
//! and posts the proof. `401` without `data.pending` is `not_authenticated` (no
//! credentials) or `invalid_token` (sign in again).
//!
//! | Route | Body / token | Answer |
//! |---|---|---|
//! | `POST <prefix>/registration` | `{"user": {"email", "password", "password_confirmation", ...}}` | a pair; `422` with per-field errors |
//! | `POST <prefix>/session` | `{"user": {"email", "password"}}` | a pair; `401` with the generic `invalid_credentials` text |
//! | `DELETE <prefix>/session` | access or renewal token | `{"status": 200, "data": {}}`; both tokens of the pair are revoked |
//! | `POST <prefix>/session/renew` | renewal token | a new pair; `401` `Invalid token` |
//!
//! A body that is not a JSON object answers `400`. The default prefix is `/api/v1`
//! ([`ApiOptions::prefix`]).
//!
//! When the service sheds load ([`PowError::Busy`](crate::PowError::Busy), e.g. a full password-hashing queue),
//! any endpoint answers `503` with `Retry-After: 5` ([`BUSY_RETRY_AFTER_SECS`]) and
//! `{"status": 503, "errors": [{"code": "busy", "message": "<translated api-busy text>"}]}`;
//! clients should wait that long before trying again. A cache store that is down answers
//! `503` too.
//!
//! # Renewal and revocation
//!
//! Renewing consumes the renewal token ([`Store::take`](crate::store::Store::take): of two
//! concurrent renewals with one token exactly one succeeds) and **deletes the access token
//! issued with it**, as Pow's guide does: after a renewal only the new pair works. The new
//! pair continues the sign-in (same fingerprint and sign-in time), so the
//! [absolute session lifetime](crate::SessionConfig::absolute_lifetime) (14 days by
//! default) caps a chain of renewals as it caps browser sessions; set it to `None` for
//! Pow's behaviour (renewals forever).
//!
//! [`revoke_user`](crate::session::revoke_user), which pow-rs runs on a password change or
//! reset and account deletion, and
//! [`sign_out_everywhere`](crate::session::sign_out_everywhere) also revoke every API
//! token of the user ([`revoke_user_tokens`]), renewal tokens included, at once: the user
//! moves to a new revocation generation that every token is checked against, so even a
//! pair issued by a request racing the revocation is refused. The access tokens, as
//! sessions, are listed by
//! [`CredentialsCache::sessions`](crate::session::CredentialsCache::sessions) next to the
//! browser sessions; their metadata holds an `api_renewal_token` entry.
//!
//! # Why the bearer transport needs no CSRF protection
//!
//! CSRF works because browsers attach cookies to cross-site requests by themselves. These
//! endpoints authenticate with the `Authorization` header only, which a browser never adds
//! on its own and which a page from another origin cannot set on a request to this one
//! without CORS permission; the token answers are in response bodies, which another origin
//! cannot read. So a forged cross-site request carries no credentials, and signing a
//! victim in to an attacker's account gives the attacker nothing. This only holds while
//! the bearer transport's routes accept no cookie: do not wrap them in the cookie session
//! middlewares, and do not allow credentials (cookies) in a CORS policy for them. The
//! [browser transport](#the-browser-transport) takes the cookie, and checks origins.
//!
//! # The browser transport
//!
//! A single-page app served from the same site can skip tokens altogether:
//! [`ApiOptions::browser`] serves every route a second time, under `<prefix>/browser` by
//! default ([`BrowserTransport`]), where the client is signed in by the session cookie
//! (HttpOnly, so no script can read it) exactly as the HTML pages are. Sign-up and sign-in
//! there answer `{"status": 200, "data": {...}}` without tokens and set the cookie (a new session id,
//! against fixation); sign-out and a new password end or move it; everything else answers
//! as on the bearer transport, pending steps included. `POST /session/renew` is not served
//! there: the cookie session renews itself.
//!
//! A cookie is sent by the browser whoever's page asks, so on this transport every
//! request but `GET`, `HEAD` and `OPTIONS` must show where it comes from: an `Origin`
//! that is the server's own, the config's [`base_url`](crate::PowConfigBuilder::base_url)
//! or one of [`BrowserTransport::trusted_origin`]; without `Origin`, the browser's own
//! `Sec-Fetch-Site: same-origin`. Anything else (another site, a sandboxed frame's `null`,
//! a client that says nothing) answers `403` with the code `cross_site_request` before
//! the cookie is read, sign-ins included (so no page can sign a visitor in to an account
//! of its choosing). No CSRF token is needed: every browser in use sends `Origin` on such
//! requests ([`BrowserMiddleware`] wraps each route; wrap the app's own browser routes in
//! one too).
//!
//! # Extensions
//!
//! The endpoints are the engine's route table ([`pow_core::api::routes`]), the same one
//! pow-axum mounts: every endpoint runs through the engine's JSON pipeline, where each
//! enabled [`Extension`](crate::Extension)'s `before_process` and `before_respond` see the
//! API's [`actions`] with [`Step::is_json`](crate::pipeline::Step::is_json) set, and
//! changeset hooks run as part of creating a user. An extension adds its own JSON routes
//! ([`ExtensionBuilder::api_route`](crate::extension::ExtensionBuilder::api_route)), its
//! [`TokenHooks`] (`api_hooks`: refuse a pair, e.g. until an email address is confirmed,
//! add fields to token answers, list pending steps) and its part of the document
//! (`api_document`): enabling it in the config enables them on every framework. Links in
//! the mails they send point wherever a [`LinkTemplate`] says, so that a mobile or
//! single-page app can open them.
//!
//! An app's own actix-web JSON routes under the prefix are ordinary routes;
//! [`ApiContext::resource`] mounts one with the context (for its handlers to extract) and
//! the API's `405` answer.
//!
//! # Texts
//!
//! Besides the core's `invalid_credentials` and validation errors, the API uses the keys
//! `api-not-authenticated`, `api-already-authenticated`, `api-invalid-token`,
//! `api-invalid-request`, `api-user-not-created` and `api-busy` ([`API_FTL`]: English,
//! German, French), overridable with
//! [`PowConfigBuilder::messages_ftl`](crate::PowConfigBuilder::messages_ftl).

#[doc(no_inline)]
pub use pow_core::api::*;

mod browser;
mod context;
mod controllers;
mod error;
mod middleware;
mod serve;

pub use crate::session::guard::is_api_request;
pub use browser::{browser_middleware, BrowserMiddleware, BrowserSource, BrowserTransport};
pub use context::{configure, register, ApiContext};
pub use controllers::{answer, answer_with_meta, json_body, token_response, token_response_with};
pub use error::{ApiError, BUSY_RETRY_AFTER_SECS};
pub use middleware::{bearer_token, ApiAuthMiddleware, ApiRequest, BearerSource};
pub use serve::respond;

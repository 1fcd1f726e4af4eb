//! The core's JSON routes: registration, account changes and deletion, sign-in,
//! re-authentication, sign-out and renewal; what a client reads to know where it stands
//! (`/config`, `/session`, `/activity`), the lock notice's unlock, the sessions list and
//! the OpenAPI document.

use serde_json::{json, Value};

use super::routes::{json_body, ApiClient, ApiFuture, ApiRoute, Reply};
use super::{ApiAction, ApiError, ApiOptions};
use crate::config::PowConfig;
use crate::flows::{self, AccountDeletion, AccountUpdate, SignIn, SignUp};
use crate::pages::account::remembered_handle;
use crate::pages::routes::{PathParams, Verb};
use crate::pipeline::Step;
use crate::session::{self, AuthMethod};
use crate::time::duration_ms;

/// The API's actions, as extension callbacks see them
/// ([`Step::is_json`](crate::pipeline::Step::is_json) is true).
pub mod actions {
    use crate::pipeline::{ActionId, ActionKind};

    /// `POST <prefix>/registration`: sign up and get a token pair.
    pub const REGISTRATION_CREATE: ActionId =
        ActionId::new("api_registration", "create", ActionKind::SignUp);
    /// `POST <prefix>/session`: sign in and get a token pair.
    pub const SESSION_CREATE: ActionId = ActionId::new("api_session", "create", ActionKind::SignIn);
    /// `DELETE <prefix>/session`: revoke the pair of the bearer token.
    pub const SESSION_DELETE: ActionId =
        ActionId::new("api_session", "delete", ActionKind::SignOut);
    /// `POST <prefix>/session/renew`: exchange a renewal token for a new pair.
    pub const SESSION_RENEW: ActionId = ActionId::new("api_session", "renew", ActionKind::Other);
    /// `GET <prefix>/config`: what the server offers.
    pub const CONFIG_SHOW: ActionId = ActionId::new("api_config", "show", ActionKind::Show);
    /// `GET <prefix>/session`: who is signed in, and how.
    pub const SESSION_SHOW: ActionId = ActionId::new("api_session", "show", ActionKind::Show);
    /// `GET <prefix>/activity`: the account's recent events.
    pub const ACTIVITY_SHOW: ActionId = ActionId::new("api_activity", "show", ActionKind::Show);
    /// `POST <prefix>/session/unlock`: lift a lock with the notice's token.
    pub const SESSION_UNLOCK: ActionId = ActionId::new("api_session", "unlock", ActionKind::Other);
    /// `POST <prefix>/session/reauthenticate`: prove the password again (sudo mode).
    pub const SESSION_REAUTHENTICATE: ActionId =
        ActionId::new("api_session", "reauthenticate", ActionKind::Reauthenticate);
    /// `PATCH <prefix>/registration`: change the account; a new pair replaces the one used.
    pub const REGISTRATION_UPDATE: ActionId =
        ActionId::new("api_registration", "update", ActionKind::UpdateUser);
    /// `DELETE <prefix>/registration`: delete the account.
    pub const REGISTRATION_DELETE: ActionId =
        ActionId::new("api_registration", "delete", ActionKind::DeleteUser);
    /// `GET <prefix>/sessions`: the user's sessions, API clients and remembered browsers.
    pub const SESSIONS_INDEX: ActionId = ActionId::new("api_sessions", "index", ActionKind::Show);
    /// `DELETE <prefix>/sessions/{id}`: end one of them.
    pub const SESSIONS_DELETE: ActionId =
        ActionId::new("api_sessions", "delete", ActionKind::Other);
    /// `GET <prefix>/openapi.json`: the OpenAPI document.
    pub const OPENAPI_SHOW: ActionId = ActionId::new("api_openapi", "show", ActionKind::Show);
}

/// The routes of one transport: the core's, then every enabled extension's
/// ([`ExtensionBuilder::api_route`](crate::extension::ExtensionBuilder::api_route)); on the
/// browser transport, all but those of the bearer transport alone (renewal) and the
/// document.
pub(crate) fn api_routes(config: &PowConfig, options: &ApiOptions, browser: bool) -> Vec<ApiRoute> {
    use actions::*;
    let mut routes = vec![
        ApiRoute::new(Verb::Post, "/registration", REGISTRATION_CREATE, |s, c| {
            Box::pin(registration_create(s, c))
        })
        .with_user_params()
        .captcha(),
        ApiRoute::new(
            Verb::Patch,
            "/registration",
            REGISTRATION_UPDATE,
            registration_update,
        )
        .with_user_params()
        .sudo(),
        ApiRoute::new(
            Verb::Put,
            "/registration",
            REGISTRATION_UPDATE,
            registration_update,
        )
        .with_user_params()
        .sudo(),
        ApiRoute::new(
            Verb::Delete,
            "/registration",
            REGISTRATION_DELETE,
            |s, c| Box::pin(registration_delete(s, c)),
        )
        .sudo(),
        ApiRoute::new(Verb::Get, "/config", CONFIG_SHOW, |s, c| {
            Box::pin(config_show(s, c))
        }),
        ApiRoute::new(Verb::Get, "/session", SESSION_SHOW, |s, c| {
            Box::pin(session_show(s, c))
        })
        .signed_in(),
        ApiRoute::new(Verb::Post, "/session", SESSION_CREATE, |s, c| {
            Box::pin(session_create(s, c))
        })
        .with_user_params()
        .captcha(),
        ApiRoute::new(Verb::Delete, "/session", SESSION_DELETE, |s, c| {
            Box::pin(session_delete(s, c))
        }),
        ApiRoute::new(Verb::Get, "/activity", ACTIVITY_SHOW, |s, c| {
            Box::pin(activity(s, c))
        })
        .signed_in(),
        ApiRoute::new(Verb::Post, "/session/unlock", SESSION_UNLOCK, |s, c| {
            Box::pin(unlock(s, c))
        }),
        ApiRoute::new(
            Verb::Post,
            "/session/reauthenticate",
            SESSION_REAUTHENTICATE,
            |s, c| Box::pin(reauthenticate(s, c)),
        )
        .with_user_params()
        .signed_in(),
        ApiRoute::new(Verb::Get, "/sessions", SESSIONS_INDEX, |s, c| {
            Box::pin(sessions(s, c))
        })
        .signed_in(),
        ApiRoute::new(Verb::Delete, "/sessions/{id}", SESSIONS_DELETE, |s, c| {
            Box::pin(end_session(s, c))
        })
        .sudo(),
        ApiRoute::new(Verb::Post, "/session/renew", SESSION_RENEW, |s, c| {
            Box::pin(renew(s, c))
        })
        .bearer_only(),
    ];
    routes.extend(config.extensions().api_routes().iter().cloned());
    if let Some(path) = options.document_path() {
        // Route paths are static: a path other than the default is kept for the life of
        // the process (one short string per API an app builds).
        let path: &'static str = match path {
            super::DEFAULT_OPENAPI_PATH => super::DEFAULT_OPENAPI_PATH,
            other => Box::leak(other.to_owned().into_boxed_str()),
        };
        routes.push(
            ApiRoute::new(Verb::Get, path, OPENAPI_SHOW, |_, c| Box::pin(document(c)))
                .bearer_only(),
        );
    }
    routes.retain(|route| !(browser && route.bearer_only));
    routes
}

fn registration_update<'a>(step: &'a mut Step, call: &'a mut dyn ApiClient) -> ApiFuture<'a> {
    Box::pin(update_account(step, call))
}

/// `POST <prefix>/registration`: creates the user and answers a token pair; `422` with
/// translated field errors when the params are invalid ([`flows::sign_up`]).
async fn registration_create(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let params = step.params.clone();
    match flows::sign_up(&config, params, call.signing_in(ApiAction::Registration)).await? {
        SignUp::SignedUp(user) => {
            step.user = Some(user);
            call.issued()
        }
        SignUp::Invalid(cs) => {
            if flows::only_taken(&config, &cs) && config.prevent_user_enumeration() {
                if let Some(answer) = call.api().taken_sign_up(&step.lang).await {
                    // Answered as a new address: the owner learns of it.
                    let to = step
                        .params
                        .get(config.user_id_field())
                        .map_or("", String::as_str);
                    let notice = crate::mailer::Notice::SignUpAttempted;
                    crate::mailer::send_notice(&config, &call.facts(), &step.lang, to, notice)
                        .await;
                    return Err(answer);
                }
            }
            Err(ApiError::validation(
                &config,
                &step.lang,
                "api-user-not-created",
                &cs,
            ))
        }
    }
}

/// `POST <prefix>/session`: checks the user id and password and answers a token pair;
/// `401` with the generic `invalid_credentials` text otherwise ([`flows::sign_in`]).
async fn session_create(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let facts = call.facts();
    let params = step.params.clone();
    match flows::sign_in(&config, &facts, params, call.signing_in(ApiAction::SignIn)).await? {
        SignIn::SignedIn(user) => {
            step.user = Some(user);
            call.issued()
        }
        SignIn::Disabled => Err(crate::PowError::AccountDisabled.into()),
        SignIn::Closed(_) => Err(crate::PowError::AccountClosed.into()),
        // An answer, not an error: the pipeline counts it as a failed sign-in.
        SignIn::InvalidCredentials => Ok(Reply::refused(ApiError::invalid_credentials(
            &config, &step.lang,
        ))),
    }
}

/// `POST <prefix>/session/reauthenticate` with `{"user": {"password": "..."}}`: the
/// client proves the password again, and its session is fresh for sudo mode (and has used
/// the password now, for step-up rules): `204`; `401` with the sign-in's generic
/// invalid-credentials text for a wrong password, counted like a wrong sign-in
/// ([`flows::reauthenticate`]).
async fn reauthenticate(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let password = step.params.get("password").cloned().unwrap_or_default();
    let Some(user) = flows::reauthenticate(&config, &current.user, &password).await? else {
        // An answer, not an error: the pipeline counts it as a failed check.
        return Ok(Reply::refused(ApiError::invalid_credentials(
            &config, &step.lang,
        )));
    };
    call.session()
        .record_method(&config, AuthMethod::PASSWORD)
        .await?;
    step.user = Some(user);
    Ok(Reply::no_content())
}

/// `PATCH|PUT <prefix>/registration` (sudo mode): changes the account
/// ([`flows::update_account`]) and answers a new token pair in place of the pair used; a
/// new password ends every other session and pair. `422` with field errors when the
/// params are invalid.
async fn update_account(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let facts = call.facts();
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let params = step.params.clone();
    let session = call.signing_in(ApiAction::AccountUpdate);
    match flows::update_account(&config, &facts, &current.user, params, session).await? {
        AccountUpdate::Updated { user, .. } => {
            step.user = Some(user);
            call.issued()
        }
        AccountUpdate::Invalid(cs) => {
            let answer = ApiError::validation(&config, &step.lang, "api-user-not-updated", &cs);
            step.changeset = Some(cs);
            Err(answer)
        }
    }
}

/// `DELETE <prefix>/registration` (sudo mode): deletes the account
/// ([`flows::delete_account`]); every session and pair of the user ends. `204`.
async fn registration_delete(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let session = call.signing_in(ApiAction::AccountUpdate);
    match flows::delete_account(&config, &current.user, session).await? {
        AccountDeletion::Deleted => Ok(Reply::no_content()),
        AccountDeletion::NotDeleted(err) => Err(err.into()),
    }
}

/// `DELETE <prefix>/session`: revokes the pair of the bearer token (access or renewal
/// token). Always answers `{"data": {}}`, as there is nothing left to do for a token that
/// is invalid already.
async fn session_delete(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    flows::sign_out(&config, call.signing_in(ApiAction::SignIn)).await?;
    Ok(Reply::ok(json!({})))
}

/// `POST <prefix>/session/renew`: consumes the renewal token sent as bearer token and
/// answers a new pair; the old access token stops working. `401` for a forged, used,
/// expired or revoked token.
async fn renew(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = step.config.clone();
    let invalid = || ApiError::invalid_token(Some(&config), &step.lang);
    let Some(token) = call.bearer_token().map(str::to_owned) else {
        return Err(invalid());
    };
    let api = call.api().clone();
    let Some(renewal) = api
        .tokens()
        .renew(&token, api.renewal_replay_grace())
        .await?
    else {
        return Err(invalid());
    };
    // A renewal is a sign-in again: the account's state and the sign-in policies now, not
    // when the chain began.
    crate::session::admit(&config, &renewal.user, &renewal.methods).await?;
    let facts = call.facts();
    let data = api
        .prepare_issue(&facts, &step.lang, &renewal.user, ApiAction::Renewal, &[])
        .await?;
    let pair = api
        .tokens()
        .issue(
            &renewal.user,
            Some((renewal.fingerprint, renewal.signed_in_at)),
            renewal.device,
            renewal.methods,
            renewal.generation,
            api.renewal_ttl(),
        )
        .await?;
    crate::audit::record(
        &config,
        crate::audit::AuditEvent::new(crate::audit::API_TOKEN_RENEWED)
            .request(&config, &facts)
            .user(renewal.user.id),
    );
    step.user = Some(renewal.user);
    Ok(Reply::tokens(&pair, data))
}

/// `GET <prefix>/config`: the enabled extensions and what each tells of its settings
/// ([`TokenHooks::describe`](super::TokenHooks::describe): OAuth providers, second
/// factors, ...), the user id field, the password rules, the sudo window, the CAPTCHA
/// widget (its public site key) and the browser transport's prefix, so a client renders
/// its forms without knowing the server's setup.
async fn config_show(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let config = &step.config;
    let policy = config.password_policy();
    let captcha = config.captcha().map(|captcha| {
        let widget = captcha.widget();
        json!({
            "class": widget.class,
            "site_key": widget.site_key,
            "script_src": widget.script_src,
            "header": crate::captcha::CAPTCHA_HEADER,
        })
    });
    let details = super::details(call.api().hooks(), config);
    Ok(Reply::ok(json!({
        "extensions": config.extensions().names(),
        "extension_details": details,
        "browser_transport": call.api().options().browser_prefix(),
        "user_id_field": config.user_id_field(),
        "password": {
            "min_length": policy.min_length,
            "max_length": policy.max_length,
            "rejects_common": policy.common_passwords.is_some(),
            "rejects_user_id": policy.reject_user_id,
        },
        "sudo_window_secs": config.session().sudo_window.as_secs(),
        "captcha": captcha,
    })))
}

/// `GET <prefix>/session`: the signed-in user (id and user id field), when the sign-in
/// was, the methods the session proved and when ([`AuthMethod`] names), sudo mode
/// (`fresh`, and until when) and the steps still pending for the user
/// ([`TokenHooks::pending_steps`](super::TokenHooks::pending_steps)).
async fn session_show(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let config = &step.config;
    let window = config.session().sudo_window;
    let metadata = &current.metadata;
    let fresh = metadata.is_fresh(window);
    let until = metadata
        .authenticated_at
        .filter(|_| fresh)
        .map(|at| at.saturating_add(duration_ms(window)));
    let field = config.user_id_field();
    let pending = super::pending_steps(&call.api().hook_list(), config, &current.user).await?;
    Ok(Reply::ok(json!({
        "user": {"id": current.user.id, field: current.user.get_str(field)},
        "session": {
            "signed_in_at": metadata.signed_in_at,
            "methods": metadata.methods,
            "sudo": {"fresh": fresh, "until": until},
        },
        "pending": pending,
    })))
}

/// How many events `GET <prefix>/activity` lists.
const RECENT: usize = 20;

/// `GET <prefix>/activity`: the signed-in user's recent account events, newest first, each
/// with its name, its translated label, when, and from which address and browser, as the
/// account's activity page lists them. `meta.available` is `false` when the setup's audit
/// log cannot be queried (it only writes to the log).
async fn activity(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let config = &step.config;
    let events = config
        .audit()
        .query(crate::audit::AuditQuery {
            user_id: Some(current.user.id),
            limit: RECENT,
            ..crate::audit::AuditQuery::default()
        })
        .await;
    let available = events.is_ok();
    let data: Vec<Value> = events
        .unwrap_or_default()
        .iter()
        .map(|event| {
            let label =
                config
                    .messages()
                    .message(&step.lang, &crate::audit::label_key(&event.name), &[]);
            json!({
                "name": event.name,
                "label": label,
                "at": event.at.to_rfc3339(),
                "ip": event.ip,
                "user_agent": event.user_agent,
            })
        })
        .collect();
    Ok(Reply::with_meta(data, json!({ "available": available })))
}

/// `POST <prefix>/session/unlock` with `{"token": "..."}` (the token of the lock notice's
/// link): lifts the lock once, as the link's page does; `200` with `{"data": {}}`, or
/// `400` with the code `invalid_token` for an unknown or used token.
async fn unlock(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    #[derive(serde::Deserialize)]
    struct Unlock {
        token: String,
    }
    let config = &step.config;
    let body: Unlock = json_body(config, &step.lang, call.body())?;
    match crate::limits::redeem_unlock_link(config, &call.facts(), &body.token).await? {
        Some(_) => Ok(Reply::ok(json!({}))),
        None => Err(
            ApiError::translated(Some(config), &step.lang, 400, "lockout_unlock_invalid")
                .with_code("invalid_token"),
        ),
    }
}

/// `GET <prefix>/sessions`: the signed-in user's sessions (browsers and API clients) and
/// remembered browsers, each with an opaque id for `DELETE <prefix>/sessions/{id}`, and
/// which one is the caller's.
async fn sessions(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let config = &step.config;
    let keyed = |id: &str| crate::audit::keyed_hash(config, "session", id);
    let mut sessions: Vec<Value> = session::user_sessions(config, current.user.id)
        .await?
        .iter()
        .map(|info| {
            json!({
                "id": keyed(&info.id),
                "kind": if info.api { "api" } else { "browser" },
                "methods": info.methods,
                "current": info.id == current.session_id,
                "signed_in_at": info.signed_in_at,
                "last_seen_at": info.last_seen_at,
                "ip": info.device.ip,
                "user_agent": info.device.user_agent,
            })
        })
        .collect();
    let remembered = session::user_remembered(config, current.user.id).await?;
    sessions.extend(remembered.iter().map(|(extension, info)| {
        json!({
            "id": remembered_handle(config, extension, info),
            "kind": "remember_me",
            "current": false,
            "signed_in_at": info.created_at,
            "ip": info.device.ip,
            "user_agent": info.device.user_agent,
        })
    }));
    Ok(Reply::ok(sessions))
}

/// `DELETE <prefix>/sessions/{id}` (sudo mode): ends the session or forgets the
/// remembered browser with that id; `404 unknown_session` for an id the user has none of.
async fn end_session(step: &mut Step, call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let current = call
        .current_session()
        .ok_or_else(session::nobody_signed_in)?;
    let config = &step.config;
    let id = step
        .assigns
        .get::<PathParams>()
        .and_then(|params| params.get("id"))
        .unwrap_or_default()
        .to_owned();
    let user_id = current.user.id;
    let target = session::user_sessions(config, user_id)
        .await?
        .into_iter()
        .find(|info| crate::audit::keyed_hash(config, "session", &info.id) == id);
    let ended = match target {
        Some(info) => session::end_session(config, user_id, &info.id).await?,
        None => {
            let remembered = session::user_remembered(config, user_id)
                .await?
                .into_iter()
                .find(|(extension, info)| remembered_handle(config, extension, info) == id);
            match remembered {
                Some((extension, info)) => {
                    session::forget_remembered(config, user_id, extension, &info.id).await?
                }
                None => false,
            }
        }
    };
    if !ended {
        return Err(ApiError::new(404, "No such session").with_code("unknown_session"));
    }
    Ok(Reply::ok(json!({})))
}

/// `GET <prefix>/openapi.json`: the OpenAPI 3.1 document of the endpoints this setup
/// serves.
async fn document(call: &mut dyn ApiClient) -> Result<Reply, ApiError> {
    let document = call.api().openapi()?;
    Ok(Reply::document(document.clone()))
}

//! Passkey-only accounts: after a staged sign-up without a password, the new user is sent
//! to enrol a passkey; an account that signs in with passkeys alone and lost them signs in
//! with an emailed link or code (`pow-ext-passwordless`) into a recovery that may only
//! enrol a new passkey.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use async_trait::async_trait;
use pow_actix::api::{ApiContext, ApiError, PendingStep};
use pow_actix::audit::{self, AuditEvent};
use pow_actix::extension::{AddressProven, ProvenBy};
use pow_actix::pipeline::{Client, FlashKind, Halt, Step};
use pow_actix::session::{
    AuthMethod, CookieSessionExt as _, CookieSessionHandle, SessionHandle, SessionMetadata,
};
use pow_actix::store::Key;
use pow_actix::users::User;
use pow_actix::views::{Form, Link};
use pow_actix::web::{
    extension_path, flash, Action, ActionId, ActionKind, Controller, Flow, FormData, Outcome,
};
use pow_actix::{PowConfig, PowError};
use serde::Deserialize;
use serde_json::json;

use crate::web::{api_error, body, name_field, param, CeremonyPage, MANAGE_PATH};
use crate::{events, EnrolAnswer, Kind, Passkeys, Started, NAME, TOTP_ENABLED_AT};

/// The recovery page, relative to the mount path.
pub(crate) const RECOVERY_PATH: &str = "/passkeys/recovery";
/// Salt of the signed recovery grant (cookie session and `recovery_token`).
const SALT: &str = "pow passkeys recovery";
/// How long a recovery grant lasts: 15 minutes.
const TTL_MS: i64 = 15 * 60 * 1000;

/// `GET /passkeys/recovery`.
pub(crate) const RECOVERY_NEW: ActionId =
    ActionId::new("passkeys_recovery", "new", ActionKind::Show);
/// `POST /passkeys/recovery`: enrol the new passkey, then sign in.
pub(crate) const RECOVERY: ActionId =
    ActionId::new("passkeys_recovery", "create", ActionKind::SignIn);
/// The JSON recovery endpoints.
pub(crate) const API_RECOVERY: ActionId =
    ActionId::new("api_passkeys_recovery", "create", ActionKind::Other);

fn path(config: &PowConfig, pattern: &str) -> String {
    extension_path(config, NAME, pattern, &[])
}

fn pending_key(config: &PowConfig) -> String {
    config.namespaced("pow_passkeys_recovery")
}

/// A signed grant to recover `user_id`'s account: the user, when, and a nonce that binds
/// the enrolment ceremony to it.
fn grant(config: &PowConfig, user_id: i64) -> String {
    let nonce = pow_actix::token::generate_uuid();
    let payload = format!("{user_id}.{}.{nonce}", pow_actix::time::now_ms());
    config.verifier().sign_token(SALT, &payload)
}

/// The user and nonce of a grant that verifies and has not expired.
fn read_grant(config: &PowConfig, token: &str) -> Option<(i64, String)> {
    let payload = config.verifier().verify_token(SALT, token)?;
    let mut parts = payload.splitn(3, '.');
    let user_id = parts.next()?.parse().ok()?;
    let at: i64 = parts.next()?.parse().ok()?;
    let nonce = parts.next()?.to_owned();
    (pow_actix::time::now_ms().saturating_sub(at) <= TTL_MS).then_some((user_id, nonce))
}

/// Whether a sign-in of `user` that proved only `methods` is a recovery: an emailed link
/// or code alone, for an account without a password or a TOTP second factor that has
/// passkeys. Such a sign-in may only enrol a new passkey.
pub(crate) async fn is_recovery(
    ext: &Passkeys,
    config: &PowConfig,
    user: &User,
    methods: &[AuthMethod],
) -> Result<bool, PowError> {
    if methods.is_empty() || methods.iter().any(|m| *m != AuthMethod::MAGIC_LINK) {
        return Ok(false);
    }
    let Some(stored) = config.users()?.get(user.id).await? else {
        return Ok(false);
    };
    if stored.password_hash.is_some() || stored.get(TOTP_ENABLED_AT).is_some_and(|v| !v.is_null()) {
        return Ok(false);
    }
    let passkeys = ext
        .usable(config, stored.id)
        .await
        .map_err(crate::into_pow)?;
    Ok(passkeys.iter().any(|passkey| passkey.kind == Kind::Passkey))
}

/// The user of the browser's pending recovery, and the ceremony binding.
async fn pending(
    req: &HttpRequest,
    config: &PowConfig,
) -> Result<Option<(User, String)>, PowError> {
    let Some(token) = req
        .cookie_session()
        .get::<String>(&pending_key(config))
        .ok()
        .flatten()
    else {
        return Ok(None);
    };
    user_of(config, &token).await
}

/// The user of a grant that verifies, has not expired and was not spent, and the
/// ceremony binding.
async fn user_of(config: &PowConfig, token: &str) -> Result<Option<(User, String)>, PowError> {
    let Some((user_id, nonce)) = read_grant(config, token) else {
        return Ok(None);
    };
    let spent = config
        .store()
        .get(&spent_namespace(config), &Key(vec![nonce.clone()]))
        .await?;
    if spent.is_some() {
        return Ok(None);
    }
    let user = config.users()?.get(user_id).await?;
    Ok(user.map(|user| (user, format!("{BINDING_PREFIX}{nonce}"))))
}

/// The ceremony binding of a recovery is this and the grant's nonce.
const BINDING_PREFIX: &str = "recovery:";

/// Where spent grants' nonces are kept (for as long as a grant lasts).
fn spent_namespace(config: &PowConfig) -> String {
    config.namespaced("passkeys_recovery_spent")
}

/// Enrols the recovery's new passkey, once per grant: the grant (cookie value or
/// `recovery_token`) is spent before the enrolment is stored, so a copy of it recovers
/// nothing afterwards, and of two racing uses one wins. `Ok(None)` when it was spent
/// already; an enrolment that fails gives the grant back, to try again.
async fn enrol_once(
    ext: &Passkeys,
    config: &PowConfig,
    user: &User,
    binding: &str,
    answer: &EnrolAnswer<'_>,
    lang: &pow_actix::messages::LanguageIdentifier,
) -> Result<Option<crate::StoredPasskey>, crate::PasskeyError> {
    let nonce = binding.strip_prefix(BINDING_PREFIX).unwrap_or(binding);
    let key = Key(vec![nonce.to_owned()]);
    let ttl = std::time::Duration::from_millis(TTL_MS.unsigned_abs());
    let namespace = spent_namespace(config);
    let store = config.store();
    let first = store
        .insert_if_absent(&namespace, (key.clone(), b"1".to_vec()), Some(ttl))
        .await
        .map_err(PowError::from)?;
    if !first {
        return Ok(None);
    }
    match ext
        .finish_enrolment(config, user, binding, answer, Some(lang))
        .await
    {
        Ok(passkey) => Ok(Some(passkey)),
        Err(err) => {
            if let Err(store_err) = store.delete(&namespace, &key).await {
                tracing::warn!(error = %store_err, "giving a recovery grant back failed");
            }
            Err(err)
        }
    }
}

/// After a sign-up without a password, the new user is sent to enrol a passkey; a sign-in
/// that is a recovery (an emailed link alone, for an account that signs in with passkeys
/// only) becomes one.
#[async_trait(?Send)]
impl pow_actix::extension::Callbacks for Passkeys {
    async fn before_respond(
        &self,
        step: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        if step.is_json() {
            return Ok(Flow::Continue);
        }
        let staged = step
            .assigns
            .get::<AddressProven>()
            .is_some_and(|proven| proven.first && proven.by == ProvenBy::StagedSignUp);
        let Some(user) = step.user.clone() else {
            return Ok(Flow::Continue);
        };
        let current = client.current_session();
        if staged && user.password_hash.is_none() && current.is_some() {
            client.flash(FlashKind::Info, Some(step.text("pow_passkeys_enrol_now")));
            let manage = path(&step.config, MANAGE_PATH);
            return Ok(Flow::Halt(Halt::Redirect(manage)));
        }
        if step.id.kind() != ActionKind::SignIn || step.id == RECOVERY {
            return Ok(Flow::Continue);
        }
        let Some(current) = current else {
            return Ok(Flow::Continue);
        };
        let methods: Vec<AuthMethod> = current.metadata.methods.iter().map(|u| u.method).collect();
        if !is_recovery(self, &step.config, &user, &methods).await? {
            return Ok(Flow::Continue);
        }
        client.session().end(&step.config).await?;
        client.set_value(&pending_key(&step.config), &grant(&step.config, user.id))?;
        client.discard_flash();
        let recovery = path(&step.config, RECOVERY_PATH);
        Ok(Flow::Halt(Halt::Redirect(recovery)))
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &Passkeys) {
    let route = config.routes().extension_route(NAME, RECOVERY_PATH);
    cfg.service(
        web::resource(route)
            .app_data(web::Data::new(ext.clone()))
            .route(web::get().to(recovery_new))
            .route(web::post().to(recovery_create)),
    );
}

fn expired(ctl: &Controller) -> Outcome {
    flash::put_error(&ctl.req, Some(ctl.text("pow_passkeys_recovery_expired")));
    Outcome::redirect(&ctl.config.routes().session_path(&ctl.routes_ctx(), "new"))
}

fn recovery_page(ctl: &Controller, started: &Started) -> Result<HttpResponse, PowError> {
    CeremonyPage {
        name: "passkeys/recovery",
        title_key: "pow_passkeys_title_recovery",
        info_key: "pow_passkeys_recovery_info",
        form: Form::new(
            path(&ctl.config, RECOVERY_PATH),
            ctl.text("pow_passkeys_recovery_button"),
            "",
        )
        .field(name_field(ctl)),
        mode: "create",
        started,
        links: vec![Link::new(
            ctl.config.routes().session_path(&ctl.routes_ctx(), "new"),
            ctl.text("title-sign-in"),
        )],
    }
    .render(ctl)
}

async fn recovery_new(
    req: HttpRequest,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(RECOVERY_NEW)
        .signed_out()
        .run(&req, async |ctl| {
            let Some((user, binding)) = pending(&ctl.req, &ctl.config).await? else {
                return Ok(expired(ctl));
            };
            let started = ext
                .start_enrolment(&ctl.config, &user, &binding, Kind::Passkey)
                .await
                .map_err(crate::into_pow)?;
            Ok(Outcome::render(move |ctl: &Controller| {
                recovery_page(ctl, &started)
            }))
        })
        .await
}

/// Signs the client in to the account it just recovered with the new passkey
/// `passkey_id`, through `session`: the session records the emailed proof and the new
/// passkey, and is fresh.
async fn sign_in_recovered<H: SessionHandle + ?Sized>(
    config: &PowConfig,
    user: &User,
    passkey_id: i64,
    session: &mut H,
) -> Result<(), H::Error> {
    audit::record(
        config,
        AuditEvent::new(events::RECOVERED)
            .user(user.id)
            .detail("passkey_id", passkey_id),
    );
    let metadata = SessionMetadata {
        authenticated_at: Some(pow_actix::time::now_ms()),
        ..SessionMetadata::new()
            .with_method(AuthMethod::MAGIC_LINK)
            .with_method(AuthMethod::PASSKEY)
    };
    session.start(config, user, metadata).await
}

async fn recovery_create(
    req: HttpRequest,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(RECOVERY)
        .signed_out()
        .form(FormData::parse(&payload))
        .run(&req, async |ctl| {
            let Some((user, binding)) = pending(&ctl.req, &ctl.config).await? else {
                return Ok(expired(ctl));
            };
            let answer = EnrolAnswer {
                ceremony: &param(ctl, "ceremony"),
                name: &param(ctl, "name"),
                credential: &param(ctl, "credential"),
            };
            let finished = enrol_once(&ext, &ctl.config, &user, &binding, &answer, &ctl.lang).await;
            let passkey = match finished {
                Ok(Some(passkey)) => passkey,
                Ok(None) => return Ok(expired(ctl)),
                Err(err) => {
                    let back = path(&ctl.config, RECOVERY_PATH);
                    return crate::web::refused(ctl, err, &back);
                }
            };
            ctl.req.cookie_session().remove(&pending_key(&ctl.config));
            let mut session = CookieSessionHandle::new(&ctl.req);
            sign_in_recovered(&ctl.config, &user, passkey.id, &mut session).await?;
            flash::put_info(&ctl.req, Some(ctl.text("pow_passkeys_recovered")));
            ctl.user = Some(user);
            let after = ctl.config.routes().after_sign_in_path(&ctl.routes_ctx());
            Ok(Outcome::redirect(&after))
        })
        .await
        .map_err(pow_actix::Error)
}

/// The answer to a JSON sign-in that is a recovery: `401 passkey_recovery_required` with
/// the pending step `enrol_passkey`, whose token (15 minutes) goes to
/// `POST <prefix>/passkeys/recovery` as `recovery_token`.
pub(crate) fn recovery_required(req: &HttpRequest, config: &PowConfig, user: &User) -> ApiError {
    ApiError::translated(req, StatusCode::UNAUTHORIZED, "pow_passkeys_recovery_info")
        .with_code("passkey_recovery_required")
        .pending(
            PendingStep::new("enrol_passkey")
                .methods(["webauthn"])
                .token(grant(config, user.id)),
        )
}

#[derive(Deserialize)]
struct RecoveryOptions {
    recovery_token: String,
}

#[derive(Deserialize)]
struct RecoveryFinish {
    recovery_token: String,
    ceremony: String,
    name: String,
    credential: serde_json::Value,
}

fn invalid_token(req: &HttpRequest) -> ApiError {
    ApiError::translated(
        req,
        StatusCode::UNAUTHORIZED,
        "pow_passkeys_recovery_expired",
    )
    .with_code("invalid_token")
}

/// The user of a JSON `recovery_token`, and the ceremony binding; `401 invalid_token` for
/// one that does not verify or expired.
async fn recovering(
    req: &HttpRequest,
    config: &PowConfig,
    token: &str,
) -> Result<(User, String), ApiError> {
    user_of(config, token)
        .await?
        .ok_or_else(|| invalid_token(req))
}

/// `POST <prefix>/passkeys/recovery/options` with `{"recovery_token"}`.
pub(crate) async fn api_options(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let options: RecoveryOptions = body(&req, &payload)?;
    api.run(&req, API_RECOVERY, async |ctl| {
        let (user, binding) = recovering(&req, &ctl.config, &options.recovery_token).await?;
        let started = ext
            .start_enrolment(&ctl.config, &user, &binding, Kind::Passkey)
            .await
            .map_err(|err| api_error(&req, err, false))?;
        Ok(pow_actix::api::answer(StatusCode::OK, json!(started)))
    })
    .await
}

/// `POST <prefix>/passkeys/recovery` with `{"recovery_token", "ceremony", "name",
/// "credential"}`: the new passkey, and a token pair.
pub(crate) async fn api_finish(
    req: HttpRequest,
    api: ApiContext,
    payload: Bytes,
    ext: web::Data<Passkeys>,
) -> Result<HttpResponse, ApiError> {
    let finish: RecoveryFinish = body(&req, &payload)?;
    api.run(&req, API_RECOVERY, async |ctl| {
        let (user, binding) = recovering(&req, &ctl.config, &finish.recovery_token).await?;
        let credential = finish.credential.to_string();
        let answer = EnrolAnswer {
            ceremony: &finish.ceremony,
            name: &finish.name,
            credential: &credential,
        };
        let passkey = enrol_once(&ext, &ctl.config, &user, &binding, &answer, &ctl.lang)
            .await
            .map_err(|err| api_error(&req, err, false))?
            .ok_or_else(|| invalid_token(&req))?;
        let mut session = api.session(&req, pow_actix::api::ApiAction::SignIn);
        sign_in_recovered(&ctl.config, &user, passkey.id, &mut session).await?;
        api.issued(&req, &session)
    })
    .await
}

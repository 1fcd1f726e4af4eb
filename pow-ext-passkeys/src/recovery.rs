//! Passkey-only accounts: after a staged sign-up without a password, the new user is sent
//! to enrol a passkey; an account that signs in with passkeys alone and lost them signs in
//! with an emailed link or code (`pow-ext-passwordless`) into a recovery that may only
//! enrol a new passkey. The grant, its checks, the enrolment and the sign-in are the
//! engine's; the page is in `pages.rs` (an engine page route), the JSON endpoints in
//! `api.rs` (engine JSON routes).

use async_trait::async_trait;
use pow_core::audit::{self, AuditEvent};
use pow_core::config::extension_path;
use pow_core::extension::{AddressProven, Callbacks, ProvenBy};
use pow_core::pipeline::{ActionId, ActionKind, Client, FlashKind, Flow, Halt, Step};
use pow_core::session::{AuthMethod, SessionHandle, SessionMetadata};
use pow_core::store::Key;
use pow_core::users::User;
use pow_core::{PowConfig, PowError};

use crate::routes::MANAGE_PATH;
use crate::{events, EnrolAnswer, Kind, Passkeys, NAME, TOTP_ENABLED_AT};

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

pub(crate) fn path(config: &PowConfig, pattern: &str) -> String {
    extension_path(config, NAME, pattern, &[])
}

pub(crate) fn pending_key(config: &PowConfig) -> String {
    config.namespaced("pow_passkeys_recovery")
}

/// A signed grant to recover `user_id`'s account: the user, when, and a nonce that binds
/// the enrolment ceremony to it.
pub(crate) fn grant(config: &PowConfig, user_id: i64) -> String {
    let nonce = pow_core::token::generate_uuid();
    let payload = format!("{user_id}.{}.{nonce}", pow_core::time::now_ms());
    config.verifier().sign_token(SALT, &payload)
}

/// The user and nonce of a grant that verifies and has not expired.
fn read_grant(config: &PowConfig, token: &str) -> Option<(i64, String)> {
    let payload = config.verifier().verify_token(SALT, token)?;
    let mut parts = payload.splitn(3, '.');
    let user_id = parts.next()?.parse().ok()?;
    let at: i64 = parts.next()?.parse().ok()?;
    let nonce = parts.next()?.to_owned();
    (pow_core::time::now_ms().saturating_sub(at) <= TTL_MS).then_some((user_id, nonce))
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

/// The user of a grant that verifies, has not expired and was not spent, and the
/// ceremony binding.
pub(crate) async fn user_of(
    config: &PowConfig,
    token: &str,
) -> Result<Option<(User, String)>, PowError> {
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
pub(crate) async fn enrol_once(
    ext: &Passkeys,
    config: &PowConfig,
    user: &User,
    binding: &str,
    answer: &EnrolAnswer<'_>,
    lang: &pow_core::messages::LanguageIdentifier,
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
#[async_trait]
impl Callbacks for Passkeys {
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

/// Signs the client in to the account it just recovered with the new passkey
/// `passkey_id`, through `session`: the session records the emailed proof and the new
/// passkey, and is fresh.
pub(crate) async fn sign_in_recovered<H: SessionHandle + ?Sized>(
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
        authenticated_at: Some(pow_core::time::now_ms()),
        ..SessionMetadata::new()
            .with_method(AuthMethod::MAGIC_LINK)
            .with_method(AuthMethod::PASSKEY)
    };
    session.start(config, user, metadata).await
}

/// An emailed link or code alone, for an account that signs in with passkeys only, gets
/// no API pair: `401 passkey_recovery_required` with a `recovery_token` that may only
/// enrol a new passkey (`POST <prefix>/passkeys/recovery`).
#[async_trait]
impl pow_core::api::TokenHooks for Passkeys {
    async fn before_issue(&self, issue: &pow_core::api::Issue<'_>) -> Result<(), PowError> {
        if issue.action != pow_core::api::ApiAction::SignIn {
            return Ok(());
        }
        let methods: Vec<AuthMethod> = issue.methods.iter().map(|used| used.method).collect();
        if is_recovery(self, issue.config, issue.user, &methods).await? {
            return Err(recovery_required(issue).into());
        }
        Ok(())
    }
}

/// The answer holding a recovery sign-in's pair back, with the grant to enrol a passkey.
fn recovery_required(issue: &pow_core::api::Issue<'_>) -> pow_core::api::Held {
    pow_core::api::Held::new(401, issue.text("pow_passkeys_recovery_info"))
        .with_code("passkey_recovery_required")
        .pending(
            pow_core::api::PendingStep::new("enrol_passkey")
                .methods(["webauthn"])
                .token(grant(issue.config, issue.user.id)),
        )
}

//! The hard per-account lock, its notice mail and its unlock link.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::Lockout;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::mailer::{compose, MailContent};
use crate::messages::LanguageIdentifier;
use crate::store::{Cache, Key, Limit, Limiter, Store};
use crate::token::{generate_uuid, keyed_digest};
use crate::users::validation::normalize_user_id;
use crate::users::{run_blocking, User, Value};
use crate::web::{flash, redirect, routes_ctx, Controller};

/// Name of the lock notice mail (see [`MailViews`](crate::mailer::MailViews)).
pub const UNLOCK_MAIL: &str = "lockout/unlock";
/// Rule name of the consecutive-failure counters.
const ACCOUNT_FAILURES: &str = "account_failures";
/// Store namespace of the locks.
const NAMESPACE: &str = "lockout";
/// Salt the unlock link is signed with.
const UNLOCK_SALT: &str = "pow account unlock";

/// Purpose of the keyed hash a lock keeps of its unlock link's nonce.
const NONCE_PURPOSE: &str = "unlock";

/// A lock: the keyed hash of the nonce its unlock link carries (a copy of the store
/// unlocks nothing).
#[derive(Serialize, Deserialize)]
struct Lock {
    nonce: String,
}

/// What an unlock link says.
#[derive(Serialize, Deserialize)]
struct UnlockClaim {
    #[serde(rename = "u")]
    user_id: i64,
    #[serde(rename = "n")]
    nonce: String,
}

/// The locks of one setup.
pub(crate) struct Lockouts {
    config: PowConfig,
    store: Arc<dyn Store>,
    namespace: String,
    key: [u8; 32],
}

impl Lockouts {
    pub(crate) fn new(config: &PowConfig) -> Self {
        Self {
            config: config.clone(),
            store: Arc::clone(config.store()),
            namespace: config.namespaced(NAMESPACE),
            key: config.verifier().derive_key("pow lockout"),
        }
    }

    fn lock_key(&self, identifier: &str) -> Key {
        let digest = keyed_digest(&self.key, identifier);
        Key::from(["lock", digest.as_str()])
    }

    fn failures(&self) -> Limiter {
        Limiter::new(&self.config, ACCOUNT_FAILURES)
    }

    /// Whether password sign-in for `identifier` is locked.
    pub(crate) async fn is_locked(&self, identifier: &str) -> Result<bool, PowError> {
        Ok(self
            .store
            .get(&self.namespace, &self.lock_key(identifier))
            .await?
            .is_some())
    }

    /// Clears the consecutive failures of `identifier` (after a successful sign-in).
    pub(crate) async fn forget_failures(&self, identifier: &str) -> Result<(), PowError> {
        Ok(self.failures().reset(identifier).await?)
    }

    /// Lifts the lock of `identifier` and clears its failures.
    async fn lift(&self, identifier: &str) -> Result<(), PowError> {
        self.store
            .delete(&self.namespace, &self.lock_key(identifier))
            .await?;
        self.forget_failures(identifier).await
    }

    /// Counts a failed sign-in for `identifier`; the one that reaches the limit locks the
    /// account and mails its owner (if there is one) an unlock link, off the request path.
    pub(crate) async fn record_failure(
        &self,
        ctl: &Controller,
        lockout: Lockout,
        identifier: &str,
    ) -> Result<(), PowError> {
        let window = Limit::new(lockout.max_failures, lockout.failure_window);
        let failures = self.failures().add(window, identifier).await?;
        if failures < u64::from(lockout.max_failures) {
            return Ok(());
        }
        let nonce = generate_uuid();
        let lock = Cache::new(
            Arc::clone(&self.store),
            self.namespace.clone(),
            Some(lockout.lock_for),
        );
        let locked = lock
            .insert_if_absent(
                &self.lock_key(identifier),
                &Lock {
                    nonce: self.config.verifier().token_digest(NONCE_PURPOSE, &nonce),
                },
            )
            .await?;
        // The lock starts a new count: once it ends, the next lock needs as many failures.
        self.forget_failures(identifier).await?;
        if locked {
            tracing::warn!("a sign-in identifier was locked after too many failed sign-ins");
            crate::audit::record(
                &self.config,
                crate::audit::AuditEvent::new(crate::audit::LOCKED)
                    .request(&self.config, &ctl.req)
                    .identifier(&self.config, identifier),
            );
            let notice = Notice {
                config: self.config.clone(),
                identifier: identifier.to_owned(),
                nonce,
                unlock_base: format!(
                    "{}/unlock/",
                    self.config
                        .routes()
                        .session_path(&routes_ctx(&ctl.req, &ctl.config, None), "create")
                ),
                url_base: self.config.url_for(&ctl.req, ""),
                lang: ctl.lang.clone(),
                lock_for: lockout.lock_for,
            };
            actix_web::rt::spawn(async move {
                if let Err(err) = notice.send().await {
                    tracing::error!(error = %err, "sending the lock notice failed");
                }
            });
        }
        Ok(())
    }
}

/// The lock notice, sent after the response (the same work for known and unknown
/// identifiers happens on the request path).
struct Notice {
    config: PowConfig,
    identifier: String,
    nonce: String,
    unlock_base: String,
    url_base: String,
    lang: LanguageIdentifier,
    lock_for: Duration,
}

impl Notice {
    async fn send(self) -> Result<(), PowError> {
        let users = Arc::clone(self.config.users()?);
        let (cfg, field, id) = (
            self.config.clone(),
            self.config.user_id_field().to_owned(),
            self.identifier.clone(),
        );
        let Some(user) = run_blocking(move || users.get_by(&cfg, &field, &Value::Text(id))).await?
        else {
            return Ok(());
        };
        let Some(to) = user.get_str("email").map(str::to_owned) else {
            return Ok(());
        };
        let claim = serde_json::to_vec(&UnlockClaim {
            user_id: user.id,
            nonce: self.nonce,
        })
        .map_err(|err| PowError::Other(err.to_string()))?;
        let token = self.config.verifier().sign(UNLOCK_SALT, &claim);
        let url = format!(
            "{}{}{}",
            self.url_base.trim_end_matches('/'),
            self.unlock_base,
            token
        );
        let messages = self.config.messages();
        let lang = &self.lang;
        let paragraphs = vec![
            messages.text(lang, "lockout_mail_intro"),
            crate::mailer::validity_text(&self.config, lang, "lockout_mail_expiry", self.lock_for),
            messages.text(lang, "lockout_mail_reset"),
        ];
        let subject = messages.text(lang, "lockout_mail_subject");
        let button = messages.text(lang, "lockout_mail_button");
        let mail = compose(
            &self.config,
            &MailContent {
                name: UNLOCK_MAIL,
                lang,
                to: &to,
                subject: &subject,
                paragraphs: &paragraphs,
                link: Some((&button, &url)),
            },
        )?;
        self.config.mailer().deliver(mail).await
    }
}

/// Lifts the lock on `user`'s identifier and clears its failed sign-ins, as a password
/// reset does (an extension that proves the owner's identity calls it).
///
/// # Errors
/// The store's error.
pub async fn unlock_account(config: &PowConfig, user: &User) -> Result<(), PowError> {
    let Some(identifier) = user.get_str(config.user_id_field()) else {
        return Ok(());
    };
    Lockouts::new(config)
        .lift(&normalize_user_id(identifier))
        .await
}

/// `GET /session/unlock/{token}`: lifts the lock the link was mailed for and signs its owner
/// in. A forged, used or expired link changes nothing.
pub(crate) async fn unlock(
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, PowError> {
    let config = crate::web::route_config(&req)?;
    let ctx = routes_ctx(&req, &config, None);
    let lang = crate::messages::request_language(&req, config.messages());
    let sign_in_page = config.routes().session_path(&ctx, "new");
    let claim = config
        .verifier()
        .verify(UNLOCK_SALT, &token)
        .and_then(|bytes| serde_json::from_slice::<UnlockClaim>(&bytes).ok());
    let user = match claim {
        Some(claim) => claimed_user(&config, claim).await?,
        None => None,
    };
    let Some(user) = user else {
        flash::put_error(
            &req,
            Some(config.messages().text(&lang, "lockout_unlock_invalid")),
        );
        return Ok(redirect(&sign_in_page));
    };
    crate::audit::record(
        &config,
        crate::audit::AuditEvent::new(crate::audit::UNLOCKED)
            .request(&config, &req)
            .user(user.id)
            .detail("by", "link"),
    );
    crate::session::sign_in(&req, &user).await?;
    flash::put_info(
        &req,
        Some(config.messages().text(&lang, "lockout_unlocked")),
    );
    Ok(redirect(&config.routes().after_sign_in_path(&ctx)))
}

/// The user a verified claim unlocks, once: the lock is taken, so the link works once.
async fn claimed_user(config: &PowConfig, claim: UnlockClaim) -> Result<Option<User>, PowError> {
    let users = Arc::clone(config.users()?);
    let (cfg, id) = (config.clone(), claim.user_id);
    let Some(user) = run_blocking(move || users.get(&cfg, id)).await? else {
        return Ok(None);
    };
    let Some(identifier) = user.get_str(config.user_id_field()).map(normalize_user_id) else {
        return Ok(None);
    };
    let lockouts = Lockouts::new(config);
    let key = lockouts.lock_key(&identifier);
    let current = config.store().get(&lockouts.namespace, &key).await?;
    let lock: Option<Lock> = current.and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let digests = config.verifier().token_digests(NONCE_PURPOSE, &claim.nonce);
    let matches = lock.is_some_and(|lock| {
        digests
            .iter()
            .any(|digest| bool::from(lock.nonce.as_bytes().ct_eq(digest.as_bytes())))
    });
    // Taking the lock makes the link single-use: of two concurrent uses one wins.
    if !matches
        || config
            .store()
            .take(&lockouts.namespace, &key)
            .await?
            .is_none()
    {
        return Ok(None);
    }
    lockouts.forget_failures(&identifier).await?;
    Ok(Some(user))
}

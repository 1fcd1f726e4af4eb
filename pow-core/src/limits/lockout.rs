//! The hard per-account lock, its notice mail and its unlock link.
//!
//! Two counters lead to the same lock: consecutive failed passwords, and consecutive
//! failed second factors and mailed codes ([`Counter`]). A correct password clears only
//! the first; a passed second factor clears only the second; lifting a lock clears both.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::Lockout;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::mailer::{compose, MailContent};
use crate::messages::LanguageIdentifier;
use crate::request::RequestSource;
use crate::store::{Cache, Key, Limit, Limiter, Store};
use crate::token::{generate_uuid, keyed_digest};
use crate::users::validation::normalize_user_id;
use crate::users::{User, Value};

/// Name of the lock notice mail (see [`MailViews`](crate::mailer::MailViews)).
pub const UNLOCK_MAIL: &str = "lockout/unlock";
/// Rule name of the consecutive failed-password counters.
const ACCOUNT_FAILURES: &str = "account_failures";
/// Rule name of the consecutive failed-second-factor counters (TOTP, mailed codes).
const FACTOR_FAILURES: &str = "factor_failures";
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

/// Which consecutive failures an account's lock counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Wrong passwords ([`Lockout::max_failures`]); a correct password clears it.
    Password,
    /// Wrong second factors and mailed codes ([`Lockout::max_factor_failures`]); only a
    /// passed second factor clears it, a correct password does not.
    Factor,
}

impl Counter {
    fn rule(self) -> &'static str {
        match self {
            Self::Password => ACCOUNT_FAILURES,
            Self::Factor => FACTOR_FAILURES,
        }
    }

    fn max(self, lockout: Lockout) -> u32 {
        match self {
            Self::Password => lockout.max_failures,
            Self::Factor => lockout
                .max_factor_failures
                .clamp(1, super::MAX_FACTOR_FAILURES),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Factor => "second_factor",
        }
    }
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

    fn failures(&self, counter: Counter) -> Limiter {
        Limiter::new(&self.config, counter.rule())
    }

    /// Whether the account `identifier` is locked.
    pub(crate) async fn is_locked(&self, identifier: &str) -> Result<bool, PowError> {
        Ok(self
            .store
            .get(&self.namespace, &self.lock_key(identifier))
            .await?
            .is_some())
    }

    /// Clears the consecutive failed passwords of `identifier` (after a successful
    /// sign-in); its failed second factors stay.
    pub(crate) async fn forget_failures(&self, identifier: &str) -> Result<(), PowError> {
        self.forget(Counter::Password, identifier).await
    }

    /// Clears the consecutive failures of `identifier` on `counter` (after a success of
    /// that kind).
    pub(crate) async fn forget(&self, counter: Counter, identifier: &str) -> Result<(), PowError> {
        Ok(self.failures(counter).reset(identifier).await?)
    }

    /// Clears both counters of `identifier`.
    async fn forget_all_failures(&self, identifier: &str) -> Result<(), PowError> {
        self.forget(Counter::Password, identifier).await?;
        self.forget(Counter::Factor, identifier).await
    }

    /// Lifts the lock of `identifier` and clears its failures.
    async fn lift(&self, identifier: &str) -> Result<(), PowError> {
        self.store
            .delete(&self.namespace, &self.lock_key(identifier))
            .await?;
        self.forget_all_failures(identifier).await
    }

    /// Counts a failure on `counter` for `identifier`; the one that reaches the limit locks
    /// the account (from every client, for passwords, second factors and mailed codes
    /// alike) and mails its owner (if there is one) an unlock link, off the request path.
    pub(crate) async fn record(
        &self,
        req: &dyn RequestSource,
        lang: &LanguageIdentifier,
        counter: Counter,
        lockout: Lockout,
        identifier: &str,
    ) -> Result<(), PowError> {
        let max = counter.max(lockout);
        let window = Limit::new(max, lockout.failure_window);
        let failures = self.failures(counter).add(window, identifier).await?;
        if failures < u64::from(max) {
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
        self.forget_all_failures(identifier).await?;
        if locked {
            tracing::warn!(
                by = counter.name(),
                "a sign-in identifier was locked after too many failures"
            );
            crate::audit::record(
                &self.config,
                crate::audit::AuditEvent::new(crate::audit::LOCKED)
                    .request(&self.config, req)
                    .identifier(&self.config, identifier)
                    .detail("by", counter.name()),
            );
            let notice = Notice {
                config: self.config.clone(),
                identifier: identifier.to_owned(),
                nonce,
                unlock_base: format!(
                    "{}/unlock/",
                    self.config
                        .routes()
                        .session_path(&self.config.route_context(), "create")
                ),
                // Never the request's Host header: a client must not choose where the
                // owner's unlock link points. Without a base URL (only with the logging
                // mailer: `build` refuses a real one) the link is a bare path.
                url_base: self.config.base_url().unwrap_or_default().to_owned(),
                lang: lang.clone(),
                lock_for: lockout.lock_for,
                counter,
            };
            tokio::spawn(async move {
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
    counter: Counter,
}

impl Notice {
    async fn send(self) -> Result<(), PowError> {
        let field = self.config.user_id_field();
        let found = self.config.users()?;
        let Some(user) = found
            .get_by(field, Value::Text(self.identifier.clone()))
            .await?
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
        let url = self
            .config
            .mail_link(crate::link::LinkKind::UNLOCK, &token, || {
                format!(
                    "{}{}{}",
                    self.url_base.trim_end_matches('/'),
                    self.unlock_base,
                    token
                )
            });
        let messages = self.config.messages();
        let lang = &self.lang;
        let intro = match self.counter {
            Counter::Password => "lockout_mail_intro",
            Counter::Factor => "lockout_mail_intro_factor",
        };
        let paragraphs = vec![
            messages.text(lang, intro),
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

/// Redeems an unlock link's `token`: lifts the lock it was mailed for, once, and returns
/// its user. It signs nobody in: a mailed link is not a factor, so the owner then signs in
/// with every factor the account has. A forged, used or expired link changes nothing
/// (`None`).
///
/// # Errors
/// The store's or the users context's error.
pub async fn redeem_unlock_link(
    config: &PowConfig,
    req: &dyn RequestSource,
    token: &str,
) -> Result<Option<User>, PowError> {
    let claim = config
        .verifier()
        .verify(UNLOCK_SALT, token)
        .and_then(|bytes| serde_json::from_slice::<UnlockClaim>(&bytes).ok());
    let user = match claim {
        Some(claim) => claimed_user(config, claim).await?,
        None => None,
    };
    if let Some(user) = &user {
        crate::audit::record(
            config,
            crate::audit::AuditEvent::new(crate::audit::UNLOCKED)
                .request(config, req)
                .user(user.id)
                .detail("by", "link"),
        );
    }
    Ok(user)
}

/// The user a verified claim unlocks, once: the lock is taken, so the link works once.
async fn claimed_user(config: &PowConfig, claim: UnlockClaim) -> Result<Option<User>, PowError> {
    let Some(user) = config.users()?.get(claim.user_id).await? else {
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
    lockouts.forget_all_failures(&identifier).await?;
    Ok(Some(user))
}

//! The extension's flows, on the engine: making, listing, renaming, revoking and rotating a
//! user's keys, and authenticating a request by one. A page, a JSON endpoint, a CLI or a
//! test runs the same code:
//!
//! ```
//! use pow_core::request::RequestFacts;
//! use pow_ext_api_keys::{flows, ApiKeys, KeyRefusal};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let keys = ApiKeys::new().scopes(["reports:read", "reports:write"]);
//! let users = pow_core::users::diesel::DieselUsersContext::connect(":memory:")?;
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .extension(keys.clone())
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "correct horse")?;
//!
//! let made = flows::create(&config, &keys, &ada, "CI", &["reports:read"], None)
//!     .await?
//!     .map_err(|err| format!("{err:?}"))?;
//! let facts = RequestFacts::default();
//! let key = flows::authenticate(&config, &keys, &made.key, &facts).await?.unwrap();
//! assert_eq!(key.user.id, ada.id);
//! assert!(key.require("reports:read").is_ok());
//! assert_eq!(key.require("reports:write"), Err(KeyRefusal::Scope));
//!
//! flows::revoke(&config, &ada, &made.stored.id).await?;
//! let refused = flows::authenticate(&config, &keys, &made.key, &facts).await?;
//! assert_eq!(refused.err(), Some(KeyRefusal::Revoked));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use pow_core::audit::{self, AuditEvent};
use pow_core::request::RequestFacts;
use pow_core::store::Limiter;
use pow_core::users::User;
use pow_core::{PowConfig, PowError};
use serde::Serialize;

use crate::store::{Keys, StoredKey};
use crate::{events, key, ApiKeys, KeyRefusal};

/// Longest key name.
pub const MAX_NAME: usize = 100;

/// A key just made: the whole key, shown once, and what is stored of it.
#[derive(Clone, Debug, Serialize)]
pub struct Created {
    /// The key (`pow_<id>_<secret>`): shown once, kept nowhere.
    pub key: String,
    /// What is stored.
    #[serde(flatten)]
    pub stored: StoredKey,
}

/// Why a key was not made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// The name is empty or longer than [`MAX_NAME`].
    Name,
    /// No scope, or a scope the app does not declare (named).
    Scope(String),
    /// A lifetime beyond the setting's longest.
    Lifetime,
}

/// Makes a key of `user` named `name` with `scopes` (each one the app declares), living
/// `ttl` (the setting's default when `None`, at most its longest); audited, and the user is
/// mailed a notice (in the setup's first language; [`create_in`] names one).
///
/// # Errors
/// The database's error.
pub async fn create(
    config: &PowConfig,
    settings: &ApiKeys,
    user: &User,
    name: &str,
    scopes: &[&str],
    ttl: Option<Duration>,
) -> Result<Result<Created, Invalid>, PowError> {
    let lang = config
        .messages()
        .languages()
        .first()
        .cloned()
        .unwrap_or_default();
    create_in(config, settings, user, name, scopes, ttl, &lang).await
}

/// [`create`], with the notice in `lang`.
///
/// # Errors
/// The database's error.
pub async fn create_in(
    config: &PowConfig,
    settings: &ApiKeys,
    user: &User,
    name: &str,
    scopes: &[&str],
    ttl: Option<Duration>,
    lang: &pow_core::messages::LanguageIdentifier,
) -> Result<Result<Created, Invalid>, PowError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Ok(Err(Invalid::Name));
    }
    if scopes.is_empty() {
        return Ok(Err(Invalid::Scope(String::new())));
    }
    if let Some(unknown) = scopes.iter().find(|s| !settings.declares(s)) {
        return Ok(Err(Invalid::Scope((*unknown).to_owned())));
    }
    let ttl = ttl.unwrap_or(settings.default_ttl);
    if ttl > settings.max_ttl || ttl.is_zero() {
        return Ok(Err(Invalid::Lifetime));
    }
    let mut scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    scopes.sort();
    scopes.dedup();
    let made = make(config, user, name, scopes, ttl).await?;
    audit::record(
        config,
        AuditEvent::new(events::CREATED)
            .user(user.id)
            .detail("key", made.stored.id.clone()),
    );
    crate::mail::created(config, lang, user, &made.stored.name).await;
    Ok(Ok(made))
}

/// Makes and stores a key.
async fn make(
    config: &PowConfig,
    user: &User,
    name: &str,
    scopes: Vec<String>,
    ttl: Duration,
) -> Result<Created, PowError> {
    let (id, whole) = key::generate(config);
    let secret = key::parse(&whole)
        .map(|presented| presented.secret.to_owned())
        .ok_or_else(|| PowError::Other("a generated key does not parse".into()))?;
    let now = now();
    let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let stored = StoredKey {
        id,
        user_id: user.id,
        name: name.to_owned(),
        scopes,
        secret_hash: key::hash(config, &secret),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    Keys::new(config)?.insert(stored.clone()).await?;
    Ok(Created { key: whole, stored })
}

/// The user's keys, newest first (revoked and expired ones too, marked).
///
/// # Errors
/// The database's error.
pub async fn list(config: &PowConfig, user: &User) -> Result<Vec<StoredKey>, PowError> {
    Keys::new(config)?.for_user(user.id).await
}

/// Renames the user's key `id`; whether the user has it.
///
/// # Errors
/// The database's error.
pub async fn rename(
    config: &PowConfig,
    user: &User,
    id: &str,
    name: &str,
) -> Result<Result<bool, Invalid>, PowError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Ok(Err(Invalid::Name));
    }
    Ok(Ok(Keys::new(config)?.rename(id, user.id, name).await?))
}

/// Revokes the user's key `id` at once; whether the user had it unrevoked. Audited.
///
/// # Errors
/// The database's error.
pub async fn revoke(config: &PowConfig, user: &User, id: &str) -> Result<bool, PowError> {
    let revoked = Keys::new(config)?.revoke(id, user.id, now()).await?;
    if revoked {
        audit::record(
            config,
            AuditEvent::new(events::REVOKED)
                .user(user.id)
                .detail("key", id.to_owned()),
        );
    }
    Ok(revoked)
}

/// Replaces the user's key `id` with a new one of the same name and scopes (living the
/// setting's default): the old one works on for `overlap` (none: it stops at once), so
/// a deployment can switch over. `None` when the user has no such working key.
///
/// # Errors
/// The database's error.
pub async fn rotate(
    config: &PowConfig,
    settings: &ApiKeys,
    user: &User,
    id: &str,
    overlap: Duration,
) -> Result<Option<Created>, PowError> {
    let keys = Keys::new(config)?;
    let Some(old) = keys.get(id).await?.filter(|k| k.user_id == user.id) else {
        return Ok(None);
    };
    let now = now();
    if !old.is_active(now) {
        return Ok(None);
    }
    let overlap = overlap.min(settings.max_overlap);
    let until = now + chrono::Duration::from_std(overlap).unwrap_or_default();
    if !keys.revoke(id, user.id, until).await? {
        return Ok(None);
    }
    let made = make(config, user, &old.name, old.scopes, settings.default_ttl).await?;
    audit::record(
        config,
        AuditEvent::new(events::ROTATED)
            .user(user.id)
            .detail("key", id.to_owned())
            .detail("new_key", made.stored.id.clone()),
    );
    Ok(Some(made))
}

/// A request authenticated by a key: its own kind of principal, never a session (it meets
/// no sudo mode or step-up rule).
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The key's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The user who owns it, as stored now.
    pub user: User,
}

impl Authenticated {
    /// Whether the key has `scope`.
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|have| have == scope)
    }

    /// `Ok` when the key has `scope`, else [`KeyRefusal::Scope`].
    ///
    /// # Errors
    /// The refusal.
    pub fn require(&self, scope: &str) -> Result<(), KeyRefusal> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(KeyRefusal::Scope)
        }
    }
}

/// Authenticates `presented` (the value of `Authorization: Bearer` or `X-Api-Key`) for a
/// request with `facts`:
///
/// 1. its shape is checked, and the attempt counted per client and per key id (the rate
///    limit, once per request) — a malformed key or a client over its limit is refused
///    here;
/// 2. its check is verified under the key ring: a key this setup never made is refused
///    without a lookup;
/// 3. the key is looked up, its secret compared (constant time) with the stored hash, its
///    revocation and expiry read, and its owner loaded: a closed, disabled or deleted
///    owner's key works no more;
/// 4. its last use is written, at most once a minute (and its first use audited).
///
/// # Errors
/// The store's or the database's error.
pub async fn authenticate(
    config: &PowConfig,
    settings: &ApiKeys,
    presented: &str,
    facts: &RequestFacts,
) -> Result<Result<Authenticated, KeyRefusal>, PowError> {
    let limiter = Limiter::new(config, "api_keys");
    let client = facts
        .client_ip
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    if !limiter
        .hit(settings.rate_limit, &format!("client {client}"))
        .await?
    {
        return Ok(Err(KeyRefusal::RateLimited));
    }
    let Some(key) = key::parse(presented) else {
        return Ok(Err(KeyRefusal::Malformed));
    };
    if !limiter
        .hit(settings.rate_limit, &format!("key {}", key.id))
        .await?
    {
        return Ok(Err(KeyRefusal::RateLimited));
    }
    if !key::checks(config, &key) {
        return Ok(Err(KeyRefusal::Unknown));
    }
    let keys = Keys::new(config)?;
    let Some(stored) = keys.get(key.id).await? else {
        return Ok(Err(KeyRefusal::Unknown));
    };
    if !key::matches(config, key.secret, &stored.secret_hash) {
        return Ok(Err(KeyRefusal::Unknown));
    }
    let now = now();
    if stored.revoked_at.is_some_and(|at| at <= now) {
        return Ok(Err(KeyRefusal::Revoked));
    }
    if stored.expires_at <= now {
        return Ok(Err(KeyRefusal::Expired));
    }
    let Some(user) = config.users()?.get(stored.user_id).await? else {
        return Ok(Err(KeyRefusal::Revoked));
    };
    if user.is_closed() || user.is_disabled() {
        return Ok(Err(KeyRefusal::Revoked));
    }
    let stale = stored
        .last_used_at
        .is_none_or(|at| now - at >= chrono::Duration::seconds(60));
    if stale {
        if stored.last_used_at.is_none() {
            audit::record(
                config,
                AuditEvent::new(events::FIRST_USED)
                    .request(config, facts)
                    .user(user.id)
                    .detail("key", stored.id.clone()),
            );
        }
        keys.touch(&stored.id, user.id, now).await?;
    }
    Ok(Ok(Authenticated {
        id: stored.id,
        name: stored.name,
        scopes: stored.scopes,
        expires_at: stored.expires_at,
        user,
    }))
}

/// Now, to the second (as the table keeps it).
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

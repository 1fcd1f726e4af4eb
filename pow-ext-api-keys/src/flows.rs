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
//! let key = flows::authenticate(&config, &made.key, &facts).await?.unwrap();
//! assert_eq!(key.user.id, ada.id);
//! assert!(key.require("reports:read").is_ok());
//! assert_eq!(key.require("reports:write"), Err(KeyRefusal::Scope));
//!
//! flows::revoke(&config, &ada, &made.stored.id).await?;
//! let refused = flows::authenticate(&config, &made.key, &facts).await?;
//! assert_eq!(refused.err(), Some(KeyRefusal::Revoked));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pow_core::audit::{self, AuditEvent};
use pow_core::extension::principal::ORGANIZATION;
use pow_core::request::RequestFacts;
use pow_core::users::User;
use pow_core::{PowConfig, PowError};
use serde::Serialize;

use crate::records::{self, Hot, Record};
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
    let (name, scopes, ttl) = match checked(settings, name, scopes, ttl) {
        Ok(checked) => checked,
        Err(invalid) => return Ok(Err(invalid)),
    };
    let made = make(config, user, name, scopes, ttl, None).await?;
    audit::record(
        config,
        AuditEvent::new(events::CREATED)
            .user(user.id)
            .detail("key", made.stored.id.clone()),
    );
    crate::mail::created(config, lang, user, &made.stored.name).await;
    Ok(Ok(made))
}

/// The name, scopes (sorted, once each) and lifetime of a key to make, checked.
fn checked<'a>(
    settings: &ApiKeys,
    name: &'a str,
    scopes: &[&str],
    ttl: Option<Duration>,
) -> Result<(&'a str, Vec<String>, Duration), Invalid> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(Invalid::Name);
    }
    if scopes.is_empty() {
        return Err(Invalid::Scope(String::new()));
    }
    if let Some(unknown) = scopes.iter().find(|s| !settings.declares(s)) {
        return Err(Invalid::Scope((*unknown).to_owned()));
    }
    let ttl = ttl.unwrap_or(settings.default_ttl);
    if ttl > settings.max_ttl || ttl.is_zero() {
        return Err(Invalid::Lifetime);
    }
    let mut scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    scopes.sort();
    scopes.dedup();
    Ok((name, scopes, ttl))
}

/// Makes and stores a key (of `organization` when given).
async fn make(
    config: &PowConfig,
    user: &User,
    name: &str,
    scopes: Vec<String>,
    ttl: Duration,
    organization: Option<String>,
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
        organization_id: organization,
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
    let renamed = Keys::new(config)?.rename(id, user.id, name).await?;
    records::forget(config, id).await?;
    Ok(Ok(renamed))
}

/// Revokes the user's key `id` at once; whether the user had it unrevoked. Audited.
///
/// # Errors
/// The database's error.
pub async fn revoke(config: &PowConfig, user: &User, id: &str) -> Result<bool, PowError> {
    let revoked = Keys::new(config)?.revoke(id, user.id, now()).await?;
    records::forget(config, id).await?;
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
    let own = |k: &StoredKey| k.user_id == user.id && k.organization_id.is_none();
    let Some(old) = keys.get(id).await?.filter(own) else {
        return Ok(None);
    };
    let now = now();
    if !old.is_active(now) {
        return Ok(None);
    }
    let overlap = overlap.min(settings.max_overlap);
    let until = now + chrono::Duration::from_std(overlap).unwrap_or_default();
    let revoked = keys.revoke(id, user.id, until).await?;
    records::forget(config, id).await?;
    if !revoked {
        return Ok(None);
    }
    let made = make(
        config,
        user,
        &old.name,
        old.scopes,
        settings.default_ttl,
        None,
    )
    .await?;
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
    /// The user who owns it (who made it, for an organization's key), as stored now.
    pub user: Arc<User>,
    /// The organization an organization's key acts for, with its maker's role there now:
    /// the key can do at most what that role can.
    pub organization: Option<OrganizationKey>,
}

/// The organization an organization's key acts for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrganizationKey {
    /// The organization's id.
    pub id: String,
    /// Its slug.
    pub slug: String,
    /// The role of the key's maker in it, as stored now.
    pub role: String,
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
/// 1. the attempt is counted per client and its shape checked: a client over its limit
///    or a malformed key is refused here;
/// 2. the record of a user's own key verified within the minute is read from the cache
///    store; without one, the key's check is verified under the key ring (a key this setup
///    never made is refused without a database query) and the key read from the database;
/// 3. its secret is compared (constant time) with the stored hash, its revocation and
///    expiry read, and its owner loaded: a closed, disabled or deleted owner's key works no
///    more (their revocation drops the record at once);
/// 4. a verified key's request is counted against the key's own limit; a secret that is
///    not the key's is counted per presented id apart from it, so made-up secrets naming
///    a key's id never lock its owner out;
/// 5. its last use is written, at most once a minute (and its first use audited).
///
/// # Errors
/// The store's or the database's error.
pub async fn authenticate(
    config: &PowConfig,
    presented: &str,
    facts: &RequestFacts,
) -> Result<Result<Arc<Authenticated>, KeyRefusal>, PowError> {
    let Some((settings, registered)) = crate::Registered::of(config)
        .and_then(|registered| Some((registered.keys.as_ref()?, registered)))
    else {
        return Err(PowError::Config(
            "API keys need the ApiKeys extension in the config".into(),
        ));
    };
    let hot = registered.hot(config);
    let client = hot.client_counter(facts.client_ip);
    if !hot.limiter.hit_at(settings.rate_limit, &client).await? {
        return Ok(Err(KeyRefusal::RateLimited));
    }
    let Some(key) = key::parse(presented) else {
        return Ok(Err(KeyRefusal::Malformed));
    };
    let known = hot.decoded(key.id);
    let now = now();
    // A user's own key verified within the minute: no database read (its secret is
    // compared with the recorded hash below, so its check need not be).
    if let Some(record) = hot.record(key.id, known).await? {
        if !record.verifies(config, key.secret) {
            return unknown(hot, settings, key.id).await;
        }
        // The key's own budget is spent by its verified requests only: made-up secrets
        // naming its id (the visible part of a key, the one that reaches logs) never
        // lock its owner out.
        if !hot
            .limiter
            .hit_at(settings.rate_limit, &record.counter)
            .await?
        {
            return Ok(Err(KeyRefusal::RateLimited));
        }
        if let Err(refusal) = usable(&record.key, &record.user, now) {
            return Ok(Err(refusal));
        }
        if touch(config, &record.key, &record.user, facts, now).await? {
            // The record is not written again: a renewal would give the owner as it was
            // read then a new lifetime, so a request just before the record's end would
            // keep a disabled or deleted owner's key working past the bound. The next
            // request reads the key and its owner from the database.
            hot.forget(key.id).await?;
        }
        return Ok(Ok(Arc::clone(&record.authenticated)));
    }
    // Before the database: a key this setup never made fails its check here.
    if !key::checks(config, &key) {
        return unknown(hot, settings, key.id).await;
    }
    let keys = Keys::new(config)?;
    let Some(stored) = keys.get(key.id).await? else {
        return unknown(hot, settings, key.id).await;
    };
    if !key::matches(config, key.secret, &stored.secret_hash) {
        return unknown(hot, settings, key.id).await;
    }
    if !hot
        .limiter
        .hit_at(settings.rate_limit, &Hot::key_counter(key.id))
        .await?
    {
        return Ok(Err(KeyRefusal::RateLimited));
    }
    let Some(user) = config.users()?.get(stored.user_id).await? else {
        return Ok(Err(KeyRefusal::Revoked));
    };
    if let Err(refusal) = usable(&stored, &user, now) {
        return Ok(Err(refusal));
    }
    // An organization's key works while its maker is a member of the open organization,
    // with their role as stored now.
    let organization = match &stored.organization_id {
        None => None,
        Some(org_id) => match organization_of(config, org_id, user.id).await? {
            Some((organization, joined_at)) if joined_at <= stored.created_at => Some(organization),
            Some((organization, _)) => {
                // The maker left (or was removed) after making it and joined again: the
                // removal ended the key for good, and the list says so from now on.
                if keys
                    .revoke_in_organization(key.id, &organization.id, now)
                    .await?
                {
                    audit::record(
                        config,
                        AuditEvent::new(events::REVOKED)
                            .user(user.id)
                            .detail("key", key.id.to_owned()),
                    );
                }
                return Ok(Err(KeyRefusal::Revoked));
            }
            None => return Ok(Err(KeyRefusal::Revoked)),
        },
    };
    let mut stored = stored;
    if touch(config, &stored, &user, facts, now).await? {
        stored.last_used_at = Some(now);
    }
    if organization.is_none() {
        // Recorded, then read again: a revocation that dropped the record while this
        // request read the database must not leave it behind.
        hot.records
            .put(key.id, &Record::of(config, &stored, &user))
            .await?;
        let key_now = keys.get(key.id).await?;
        let user_now = config.users()?.get(stored.user_id).await?;
        let still = match (&key_now, &user_now) {
            (Some(key_now), Some(user_now)) => usable(key_now, user_now, now).is_ok(),
            _ => false,
        };
        if !still {
            hot.forget(key.id).await?;
            return Ok(Err(KeyRefusal::Revoked));
        }
    }
    Ok(Ok(Arc::new(authenticated(
        &stored,
        Arc::new(user),
        organization,
    ))))
}

/// Whether `stored` of `user` works at `now`: neither revoked nor expired, its owner neither
/// closed nor disabled.
fn usable(stored: &StoredKey, user: &User, now: DateTime<Utc>) -> Result<(), KeyRefusal> {
    if stored.revoked_at.is_some_and(|at| at <= now) {
        return Err(KeyRefusal::Revoked);
    }
    if stored.expires_at <= now {
        return Err(KeyRefusal::Expired);
    }
    if user.is_closed() || user.is_disabled() {
        return Err(KeyRefusal::Revoked);
    }
    Ok(())
}

/// Writes the key's last use when the one stored is a minute old or more (and audits its
/// first use); whether it wrote.
async fn touch(
    config: &PowConfig,
    stored: &StoredKey,
    user: &User,
    facts: &RequestFacts,
    now: DateTime<Utc>,
) -> Result<bool, PowError> {
    let stale = stored
        .last_used_at
        .is_none_or(|at| now - at >= chrono::Duration::seconds(60));
    if !stale {
        return Ok(false);
    }
    if stored.last_used_at.is_none() {
        audit::record(
            config,
            AuditEvent::new(events::FIRST_USED)
                .request(config, facts)
                .user(user.id)
                .detail("key", stored.id.clone()),
        );
    }
    Keys::new(config)?.touch(&stored.id, user.id, now).await?;
    Ok(true)
}

pub(crate) fn authenticated(
    stored: &StoredKey,
    user: Arc<User>,
    organization: Option<OrganizationKey>,
) -> Authenticated {
    Authenticated {
        id: stored.id.clone(),
        name: stored.name.clone(),
        scopes: stored.scopes.clone(),
        expires_at: stored.expires_at,
        user,
        organization,
    }
}

/// Now, to the second (as the table keeps it).
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

/// A key refused for a presented secret that is not the key's: counted per presented id,
/// apart from the key's own budget (a flood of them is refused as rate limited, and its
/// owner's verified requests go on).
async fn unknown(
    hot: &Hot,
    settings: &crate::ApiKeys,
    id: &str,
) -> Result<Result<Arc<Authenticated>, KeyRefusal>, PowError> {
    if !hot
        .limiter
        .hit_at(settings.rate_limit, &Hot::failed_counter(id))
        .await?
    {
        return Ok(Err(KeyRefusal::RateLimited));
    }
    Ok(Err(KeyRefusal::Unknown))
}

/// The organization `org_id` with `user_id`'s role in it, and when they joined it, while
/// they are a member of it and it is open (asked of the extension that keeps
/// organizations, through the core; none without one).
async fn organization_of(
    config: &PowConfig,
    org_id: &str,
    user_id: i64,
) -> Result<Option<(OrganizationKey, DateTime<Utc>)>, PowError> {
    let Some(organizations) = config.extensions().owning_principal(ORGANIZATION) else {
        return Ok(None);
    };
    let membership = organizations.membership(config, org_id, user_id).await?;
    Ok(membership.map(|m| {
        let key = OrganizationKey {
            id: m.id,
            slug: m.slug,
            role: m.role,
        };
        (key, m.joined_at)
    }))
}

pub use organizations::{create_for_organization, list_for_organization, revoke_for_organization};

/// The keys of organizations, kept by the extension registered for them
/// ([`ORGANIZATION`]'s owning principal, e.g. `pow-ext-organizations`).
mod organizations {
    use pow_core::extension::principal::{PrincipalMembership, PrincipalRefusal};

    use super::*;

    /// The permission a member's role needs to manage their organization's keys.
    pub(crate) const MANAGE: &str = "api_keys:manage";

    /// `actor`'s membership of `slug` when their role may manage its keys.
    async fn manager(
        config: &PowConfig,
        actor: &User,
        slug: &str,
    ) -> Result<Result<PrincipalMembership, PrincipalRefusal>, PowError> {
        match config.extensions().owning_principal(ORGANIZATION) {
            Some(organizations) => organizations.authorize(config, actor, slug, MANAGE).await,
            None => Ok(Err(PrincipalRefusal::NotFound)),
        }
    }

    /// Makes a key of the organization `slug`, by `actor` (whose role must allow
    /// `api_keys:manage`): it acts for the organization with at most its maker's role
    /// there, while they are a member of the open organization. Audited; the maker is
    /// mailed a notice in `lang`.
    ///
    /// # Errors
    /// The database's error.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_for_organization(
        config: &PowConfig,
        settings: &ApiKeys,
        actor: &User,
        slug: &str,
        name: &str,
        scopes: &[&str],
        ttl: Option<Duration>,
        lang: &pow_core::messages::LanguageIdentifier,
    ) -> Result<Result<Created, Result<PrincipalRefusal, Invalid>>, PowError> {
        let membership = match manager(config, actor, slug).await? {
            Ok(membership) => membership,
            Err(refused) => return Ok(Err(Ok(refused))),
        };
        let (name, scopes, ttl) = match checked(settings, name, scopes, ttl) {
            Ok(checked) => checked,
            Err(invalid) => return Ok(Err(Err(invalid))),
        };
        let org = membership.id;
        let made = make(config, actor, name, scopes, ttl, Some(org.clone())).await?;
        audit::record(
            config,
            AuditEvent::new(events::CREATED)
                .user(actor.id)
                .detail("key", made.stored.id.clone())
                .detail("organization", org),
        );
        crate::mail::created(config, lang, actor, &made.stored.name).await;
        Ok(Ok(made))
    }

    /// The keys of the organization `slug` (`api_keys:manage`), newest first.
    ///
    /// # Errors
    /// The database's error.
    pub async fn list_for_organization(
        config: &PowConfig,
        actor: &User,
        slug: &str,
    ) -> Result<Result<Vec<StoredKey>, PrincipalRefusal>, PowError> {
        match manager(config, actor, slug).await? {
            Ok(m) => Ok(Ok(Keys::new(config)?.for_organization(&m.id).await?)),
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// Revokes the key `id` of the organization `slug` at once (`api_keys:manage`).
    /// Audited.
    ///
    /// # Errors
    /// The database's error.
    pub async fn revoke_for_organization(
        config: &PowConfig,
        actor: &User,
        slug: &str,
        id: &str,
    ) -> Result<Result<(), PrincipalRefusal>, PowError> {
        let org = match manager(config, actor, slug).await? {
            Ok(m) => m.id,
            Err(refused) => return Ok(Err(refused)),
        };
        if !Keys::new(config)?
            .revoke_in_organization(id, &org, now())
            .await?
        {
            return Ok(Err(PrincipalRefusal::NotFound));
        }
        audit::record(
            config,
            AuditEvent::new(events::REVOKED)
                .user(actor.id)
                .detail("key", id.to_owned())
                .detail("organization", org),
        );
        Ok(Ok(()))
    }
}

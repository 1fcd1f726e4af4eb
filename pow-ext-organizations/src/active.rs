//! The active organization of a session.
//!
//! A session's choice is kept in the cache store under the user and the session's
//! fingerprint (which lasts through renewals, so a renewed session keeps it); the last
//! organization a member chose is their default, which a new session starts with. It is
//! read with the membership as stored each time it is asked for: a removed member's
//! sessions lose the organization on their next request, and a changed role counts at
//! once.
//!
//! ```
//! use pow_core::session::CurrentSession;
//! use pow_ext_organizations::{active, flows, Organizations};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let users = pow_core::users::diesel::DieselUsersContext::connect(":memory:")?;
//! let config = pow_core::PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .users(users.clone())
//!     .extension(pow_ext_email_confirmation::EmailConfirmation::new())
//!     .extension(Organizations::new())
//!     .build()?;
//! users.migrate(&config)?;
//! let ada = pow_core::testing::create_user(&config, "ada@example.com", "correct horse")?;
//! let settings = Organizations::of(&config).unwrap();
//!
//! let acme = flows::create(&config, &ada, "Acme", "acme").await?.unwrap();
//! let session = pow_core::session::SessionMetadata::new();
//! let member = active::current(&config, &ada, &session.fingerprint).await?.unwrap();
//! assert_eq!(member.organization.id, acme.id);
//! assert!(settings.at_least(&member.role, "admin"));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use pow_core::store::{Cache, Key};
use pow_core::users::User;
use pow_core::{PowConfig, PowError};

use crate::store::Store;
use crate::Membership;

/// How long a session's choice is kept without a session lifetime: 30 days.
const DEFAULT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

fn choices(config: &PowConfig) -> Cache {
    let ttl = config.session().absolute_lifetime.unwrap_or(DEFAULT_TTL);
    Cache::new(
        Arc::clone(config.store()),
        config.namespaced("organizations_active"),
        Some(ttl),
    )
}

fn key(user_id: i64, fingerprint: &str) -> Key {
    Key::from([user_id.to_string(), fingerprint.to_owned()])
}

/// The active organization of `user`'s session of `fingerprint` (its
/// [`SessionMetadata::fingerprint`](pow_core::session::SessionMetadata)), with the
/// membership as stored now: the session's choice while they are a member of it, else
/// their default (the organization they chose last, else the one they joined last); `None`
/// when they belong to none.
///
/// # Errors
/// The store's or the database's error.
pub async fn current(
    config: &PowConfig,
    user: &User,
    fingerprint: &str,
) -> Result<Option<Membership>, PowError> {
    let store = Store::new(config)?;
    let chosen: Option<String> = choices(config).get(&key(user.id, fingerprint)).await?;
    if let Some(org_id) = chosen {
        if let Some(membership) = store.membership(&org_id, user.id).await? {
            return Ok(Some(membership));
        }
    }
    let memberships = store.memberships(user.id).await?;
    Ok(memberships
        .into_iter()
        .max_by_key(|m| (m.activated_at, m.joined_at)))
}

/// Makes the organization of `slug` the active one of `user`'s session of `fingerprint`,
/// and their default for the sessions they start next; `None` (nothing changed) when they
/// are not a member of it.
///
/// # Errors
/// The store's or the database's error.
pub async fn switch(
    config: &PowConfig,
    user: &User,
    fingerprint: &str,
    slug: &str,
) -> Result<Option<Membership>, PowError> {
    let store = Store::new(config)?;
    let Some(org) = store.by_slug(slug).await? else {
        return Ok(None);
    };
    let Some(membership) = store.membership(&org.id, user.id).await? else {
        return Ok(None);
    };
    // To the microsecond: of two switches within a second, the later is the default.
    let at = chrono::Utc::now();
    store.activate(&org.id, user.id, at).await?;
    choices(config)
        .put(&key(user.id, fingerprint), &org.id)
        .await?;
    Ok(Some(Membership {
        activated_at: Some(at),
        ..membership
    }))
}

/// Forgets `user`'s sessions' choices (their erasure).
///
/// # Errors
/// The store's error.
pub(crate) async fn forget(config: &PowConfig, user_id: i64) -> Result<(), PowError> {
    let choices = choices(config);
    let pattern = [
        pow_core::store::KeyPattern::exact(user_id.to_string()),
        pow_core::store::KeyPattern::Any,
    ];
    for (key, _) in choices.all::<String>(&pattern).await? {
        choices.delete(&key).await?;
    }
    Ok(())
}

/// The signed-in member of a request's active organization, as the framework extractors
/// (`Member`) give it to app handlers: the membership as stored now, and checks of its
/// role that answer the API's JSON refusals.
#[derive(Clone, Debug)]
pub struct ActiveMember {
    /// The membership: the organization and the member's role.
    pub membership: Membership,
    /// The signed-in user.
    pub user: Arc<User>,
    settings: crate::Organizations,
    config: PowConfig,
    lang: pow_core::messages::LanguageIdentifier,
}

impl ActiveMember {
    /// `Ok` when the member's role allows `permission` ([`crate::Permissions`]), else
    /// `403 forbidden`.
    ///
    /// # Errors
    /// The refusal.
    pub fn require(&self, permission: &str) -> Result<(), pow_core::api::ApiError> {
        if self.settings.allows(&self.membership.role, permission) {
            Ok(())
        } else {
            Err(self.forbidden())
        }
    }

    /// `Ok` when the member's role ranks at least as high as `role`, else `403 forbidden`.
    ///
    /// # Errors
    /// The refusal.
    pub fn at_least(&self, role: &str) -> Result<(), pow_core::api::ApiError> {
        if self.settings.at_least(&self.membership.role, role) {
            Ok(())
        } else {
            Err(self.forbidden())
        }
    }

    fn forbidden(&self) -> pow_core::api::ApiError {
        pow_core::api::ApiError::translated(
            Some(&self.config),
            &self.lang,
            403,
            "pow_organizations_forbidden",
        )
        .with_code("forbidden")
    }
}

/// The member of `current`'s active organization: `401 not_authenticated` without a
/// signed-in session, `403 no_active_organization` when the user belongs to none (or was
/// just removed from it).
///
/// # Errors
/// The refusal, or the store's or the database's error as the API answers it.
pub async fn member(
    config: &PowConfig,
    current: Option<&pow_core::session::CurrentSession>,
    facts: &pow_core::request::RequestFacts,
) -> Result<ActiveMember, pow_core::api::ApiError> {
    use pow_core::api::ApiError;
    let lang = pow_core::api::language(Some(config), facts);
    let settings = crate::Organizations::of(config).cloned().ok_or_else(|| {
        PowError::Config("the Member extractor needs the Organizations extension".into())
    })?;
    let Some(current) = current else {
        return Err(ApiError::not_authenticated(Some(config), &lang));
    };
    let fingerprint = &current.metadata.fingerprint;
    match self::current(config, &current.user, fingerprint).await? {
        Some(membership) => Ok(ActiveMember {
            membership,
            user: Arc::clone(&current.user),
            settings,
            config: config.clone(),
            lang,
        }),
        None => Err(
            ApiError::translated(Some(config), &lang, 403, "pow_organizations_no_active")
                .with_code("no_active_organization"),
        ),
    }
}

//! Accounts beside users that may own credentials (an organization), as one extension
//! keeps them and another makes credentials for them, without either naming the other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::PowConfig;
use crate::error::PowError;
use crate::users::User;

/// The kind of owning principal an organizations extension registers (see
/// [`OwningPrincipal::kind`]).
pub const ORGANIZATION: &str = "organization";

/// A member's place in an owning principal, as its keeper stores it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalMembership {
    /// The principal's id.
    pub id: String,
    /// Its slug, as its paths name it.
    pub slug: String,
    /// The member's role in it.
    pub role: String,
    /// When they joined it (a later date than a credential's means they left in between).
    pub joined_at: DateTime<Utc>,
}

/// Why a member may not act for a principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalRefusal {
    /// No open principal of that slug, or the user is not a member of it (alike, so the
    /// answer does not tell which exist).
    NotFound,
    /// A member whose role does not have the permission.
    Forbidden,
}

/// An account beside users that may own credentials: registered by the extension that
/// keeps such accounts ([`ExtensionBuilder::owning_principal`](super::ExtensionBuilder::owning_principal)),
/// found by kind by the extensions that make credentials for them
/// ([`Extensions::owning_principal`](super::Extensions::owning_principal)). Each answer is
/// about an open principal only.
///
/// ```
/// use pow_core::extension::principal::{
///     OwningPrincipal, PrincipalMembership, PrincipalRefusal, ORGANIZATION,
/// };
/// use pow_core::extension::{Extension, ExtensionBuilder};
/// use pow_core::users::User;
/// use pow_core::{PowConfig, PowError};
///
/// /// One organization, `acme`, whose only member (user 1) is its owner.
/// struct Acme;
///
/// #[async_trait::async_trait]
/// impl OwningPrincipal for Acme {
///     fn kind(&self) -> &'static str {
///         ORGANIZATION
///     }
///     fn home(&self) -> (&'static str, &'static str) {
///         ("acme", "/")
///     }
///     fn forbidden_message(&self) -> &'static str {
///         "acme_forbidden"
///     }
///     async fn membership(
///         &self,
///         _: &PowConfig,
///         id: &str,
///         user_id: i64,
///     ) -> Result<Option<PrincipalMembership>, PowError> {
///         Ok((id == "acme" && user_id == 1).then(|| PrincipalMembership {
///             id: "acme".into(),
///             slug: "acme".into(),
///             role: "owner".into(),
///             joined_at: chrono::DateTime::UNIX_EPOCH,
///         }))
///     }
///     async fn authorize(
///         &self,
///         config: &PowConfig,
///         user: &User,
///         slug: &str,
///         _permission: &str,
///     ) -> Result<Result<PrincipalMembership, PrincipalRefusal>, PowError> {
///         Ok(self
///             .membership(config, slug, user.id)
///             .await?
///             .ok_or(PrincipalRefusal::NotFound))
///     }
/// }
///
/// struct AcmeExtension;
///
/// impl Extension for AcmeExtension {
///     fn name(&self) -> &'static str {
///         "acme"
///     }
///     fn build(&self, ext: &mut ExtensionBuilder) {
///         ext.owning_principal(Acme);
///     }
/// }
///
/// let config = PowConfig::builder("s".repeat(64)).extension(AcmeExtension).build()?;
/// assert!(config.extensions().owning_principal(ORGANIZATION).is_some());
/// assert!(config.extensions().owning_principal("team").is_none());
/// # Ok::<(), PowError>(())
/// ```
#[async_trait]
pub trait OwningPrincipal: Send + Sync + 'static {
    /// What kind of account it is ([`ORGANIZATION`]); one extension of a setup keeps each
    /// kind.
    fn kind(&self) -> &'static str;

    /// The page that lists a user's principals of this kind, as `(extension, path)` for
    /// [`extension_path`](crate::config::extension_path): where a refused page goes
    /// back to.
    fn home(&self) -> (&'static str, &'static str);

    /// The message key of the answer to a member whose role may not.
    fn forbidden_message(&self) -> &'static str;

    /// `user_id`'s membership in the open principal of id `id`, if they are a member.
    ///
    /// # Errors
    /// The store's error.
    async fn membership(
        &self,
        config: &PowConfig,
        id: &str,
        user_id: i64,
    ) -> Result<Option<PrincipalMembership>, PowError>;

    /// `user`'s membership in the open principal of `slug` when their role there has
    /// `permission`.
    ///
    /// # Errors
    /// The store's error.
    async fn authorize(
        &self,
        config: &PowConfig,
        user: &User,
        slug: &str,
        permission: &str,
    ) -> Result<Result<PrincipalMembership, PrincipalRefusal>, PowError>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;
    use crate::extension::{Extension, ExtensionBuilder};

    /// Keeps accounts of its kind, with no members.
    struct Empty(&'static str);

    #[async_trait]
    impl OwningPrincipal for Empty {
        fn kind(&self) -> &'static str {
            self.0
        }
        fn home(&self) -> (&'static str, &'static str) {
            ("keeper", "/")
        }
        fn forbidden_message(&self) -> &'static str {
            "keeper_forbidden"
        }
        async fn membership(
            &self,
            _: &PowConfig,
            _: &str,
            _: i64,
        ) -> Result<Option<PrincipalMembership>, PowError> {
            Ok(None)
        }
        async fn authorize(
            &self,
            _: &PowConfig,
            _: &User,
            _: &str,
            _: &str,
        ) -> Result<Result<PrincipalMembership, PrincipalRefusal>, PowError> {
            Ok(Err(PrincipalRefusal::NotFound))
        }
    }

    struct Keeper(&'static str, &'static str);

    impl Extension for Keeper {
        fn name(&self) -> &'static str {
            self.0
        }
        fn build(&self, ext: &mut ExtensionBuilder) {
            ext.owning_principal(Empty(self.1));
        }
    }

    #[test]
    fn one_extension_keeps_each_kind_of_principal() {
        let config = |second: &'static str| {
            PowConfig::builder("s".repeat(64))
                .extension(Keeper("orgs", ORGANIZATION))
                .extension(Keeper("teams", second))
                .build()
        };
        let both = config("team").unwrap();
        let found = |kind| both.extensions().owning_principal(kind).map(|p| p.kind());
        assert_eq!(found(ORGANIZATION), Some(ORGANIZATION));
        assert_eq!(found("team"), Some("team"));
        assert_eq!(found("project"), None);

        let refused = config(ORGANIZATION).unwrap_err().to_string();
        assert!(
            refused.contains("extension `teams` keeps accounts of kind `organization`"),
            "{refused}"
        );
    }
}

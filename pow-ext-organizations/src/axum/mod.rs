//! The active organization of an axum request: [`Member`].

use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::active::{self, ActiveMember};

/// The signed-in member of the session's active organization ([`active::member`]): a
/// request without a session is refused with `401`, one whose user belongs to no
/// organization (or was just removed from it) with `403 no_active_organization`. Check a
/// permission or a role with [`Member::require`] and [`Member::at_least`]. The route needs
/// a pow-axum layer above it (`PowLayer` or `ApiLayer`).
///
/// ```no_run
/// use axum::response::{IntoResponse, Response};
/// use pow_ext_organizations::axum::Member;
///
/// async fn invoices(member: Member) -> Response {
///     if let Err(refused) = member.at_least("admin") {
///         return refused;
///     }
///     format!("invoices of {}", member.membership.organization.name).into_response()
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Member(pub ActiveMember);

impl Deref for Member {
    type Target = ActiveMember;

    fn deref(&self) -> &ActiveMember {
        &self.0
    }
}

impl Member {
    /// [`ActiveMember::require`], answered as a response.
    ///
    /// # Errors
    /// The refusal.
    pub fn require(&self, permission: &str) -> Result<(), Response> {
        self.0
            .require(permission)
            .map_err(|refused| pow_axum::api_response(&refused))
    }

    /// [`ActiveMember::at_least`], answered as a response.
    ///
    /// # Errors
    /// The refusal.
    pub fn at_least(&self, role: &str) -> Result<(), Response> {
        self.0
            .at_least(role)
            .map_err(|refused| pow_axum::api_response(&refused))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let pow = pow_axum::Pow::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match active::member(&pow.config, pow.current.as_ref(), &pow.facts).await {
            Ok(member) => Ok(Self(member)),
            Err(refused) => Err(pow_axum::api_response(&refused)),
        }
    }
}

//! The active organization of an actix-web request: [`Member`].

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, ResponseError as _};
use pow_actix::web::ActixRequest;

use crate::active::{self, ActiveMember};

/// The signed-in member of the session's active organization ([`active::member`]): a
/// request without a session is refused with `401`, one whose user belongs to no
/// organization (or was just removed from it) with `403 no_active_organization`. Check a
/// permission or a role with [`ActiveMember::require`] and [`ActiveMember::at_least`].
///
/// ```no_run
/// use actix_web::HttpResponse;
/// use pow_ext_organizations::actix::Member;
///
/// async fn invoices(member: Member) -> Result<HttpResponse, pow_actix::api::ApiError> {
///     member.at_least("admin")?;
///     Ok(HttpResponse::Ok().body(format!("invoices of {}", member.membership.organization.name)))
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
    /// [`ActiveMember::require`], as pow-actix's API error.
    ///
    /// # Errors
    /// The refusal.
    pub fn require(&self, permission: &str) -> Result<(), pow_actix::api::ApiError> {
        self.0.require(permission).map_err(Into::into)
    }

    /// [`ActiveMember::at_least`], as pow-actix's API error.
    ///
    /// # Errors
    /// The refusal.
    pub fn at_least(&self, role: &str) -> Result<(), pow_actix::api::ApiError> {
        self.0.at_least(role).map_err(Into::into)
    }
}

impl FromRequest for Member {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let config = pow_actix::web::route_config(&req).map_err(pow_actix::Error)?;
            let current = pow_actix::session::current_session(&req);
            let facts = ActixRequest(&req).facts();
            match active::member(&config, current.as_ref(), &facts).await {
                Ok(member) => Ok(Self(member)),
                Err(refused) => {
                    let answer = pow_actix::api::ApiError::from(refused);
                    Err(actix_web::error::InternalError::from_response(
                        "not a member",
                        answer.error_response(),
                    )
                    .into())
                }
            }
        })
    }
}

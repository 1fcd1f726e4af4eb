//! The JSON side: invite someone, look a pending invitation up, accept it.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{user_params, ApiAction, ApiContext, ApiError, ApiExtension};
use pow_actix::web::{Action, ActixRequest, Controller};
use pow_actix::{PowConfig, PowError};
use serde_json::{json, Value};

use crate::flows::{accept, accept_url, actions, invite, Invite};
use crate::{Invitation, INVITATION_SENT_AT, NAME};

/// The JSON side of [`Invitation`], enabled with it (see the
/// [crate docs](crate#json-api)).
#[derive(Clone, Debug)]
pub struct InvitationApi {
    ext: Invitation,
}

impl Invitation {
    /// The JSON side of this extension, with its settings. Enabling the extension in the
    /// config enables it already; use this to add it to other
    /// [`ApiOptions`](pow_actix::api::ApiOptions).
    pub fn api(&self) -> InvitationApi {
        InvitationApi { ext: self.clone() }
    }
}

/// `data` with `status` in the API's envelope, never cached.
fn answer(status: StatusCode, data: Value) -> HttpResponse {
    pow_actix::api::answer(status, data)
}

/// `404 invalid_invitation`: no pending invitation for the token.
fn invalid(req: &HttpRequest) -> ApiError {
    ApiError::translated(
        req,
        StatusCode::NOT_FOUND,
        "pow_invitation_invalid_invitation",
    )
    .with_code("invalid_invitation")
}

/// `403 invitation_not_allowed`: the signed-in user may not invite.
fn not_allowed(req: &HttpRequest) -> ApiError {
    ApiError::translated(req, StatusCode::FORBIDDEN, "pow_invitation_not_allowed")
        .with_code("invitation_not_allowed")
}

/// The token and link of an invitation the inviter hands over.
fn hand_over(ctl: &Controller, signed: &str, message: Option<String>) -> Value {
    json!({
        "token": signed,
        "url": accept_url(&ActixRequest(&ctl.req).facts(), &ctl.config, signed),
        "message": message,
    })
}

/// `POST <api>/invitations` with `{"user": {"email": ...}}` (the user id field): a signed-in
/// client invites someone. `202` once the mail is out (also, looking the same, for an
/// address that has an account); `201` with the link's `token` and `url` for an invitee
/// without an address, or when the mail failed; `422` with field errors.
async fn create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, ApiError> {
    let current = api.signed_in(&req).await?;
    if !ext.may_invite(&current.user) {
        return Err(not_allowed(&req));
    }
    let params = user_params(&body).ok_or_else(|| ApiError::invalid_request(&req))?;
    let action = Action::new(actions::API_CREATE).params(params);
    api.run_action(&req, action, async |ctl| {
        let source = ActixRequest(&ctl.req).facts();
        match invite(&mut ctl.step, &source, &ext, current.user.id).await? {
            Invite::InviterGone => Err(ApiError::not_authenticated(&req)),
            Invite::NotAllowed => Err(not_allowed(&req)),
            Invite::Mailed => Ok(answer(
                StatusCode::ACCEPTED,
                json!({ "message": ctl.text("pow_invitation_invitation_email_sent") }),
            )),
            Invite::NoAddress(signed) => {
                Ok(answer(StatusCode::CREATED, hand_over(ctl, &signed, None)))
            }
            Invite::MailFailed(signed) => {
                let failed = ctl.text("pow_invitation_email_failed");
                Ok(answer(
                    StatusCode::CREATED,
                    hand_over(ctl, &signed, Some(failed)),
                ))
            }
            Invite::Invalid => Err(refused(&req, &ctl.config, ctl)),
        }
    })
    .await
}

/// `422` with the field errors of the refused changeset.
fn refused(req: &HttpRequest, config: &PowConfig, ctl: &Controller) -> ApiError {
    match &ctl.changeset {
        Some(cs) => ApiError::validation(req, config, "api-user-not-created", cs),
        None => ApiError::from_pow(req, PowError::Other("no changeset to report".into())),
    }
}

/// `GET <api>/invitations/{token}`: the pending invitation, for the invitee's form:
/// `{"data": {"user": {"email": ...}, "expires_at": ...}}`; `404 invalid_invitation`.
async fn show(
    req: HttpRequest,
    api: ApiContext,
    token: web::Path<String>,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_SHOW, async |ctl| {
        let Some(invitee) = ext.find_invitee(&ctl.config, &token).await? else {
            return Err(invalid(&req));
        };
        let field = ctl.config.user_id_field();
        let expires_at = ext.ttl().and_then(|ttl| {
            let sent = invitee
                .get_timestamp(INVITATION_SENT_AT)
                .unwrap_or(invitee.inserted_at);
            sent.checked_add_signed(chrono::Duration::from_std(ttl).ok()?)
        });
        let data = json!({
            "user": { field: invitee.get_str(field) },
            "expires_at": expires_at,
        });
        ctl.user = Some(invitee);
        Ok(answer(StatusCode::OK, data))
    })
    .await
}

/// `PATCH`/`PUT <api>/invitations/{token}` with `{"user": {"email", "password",
/// "password_confirmation", ...}}`: accepts, as the page does, and answers a token pair
/// (after every extension's say: a new address to confirm in strict mode answers `403
/// email_confirmation_required`); `404 invalid_invitation`; `422` with field errors.
async fn update(
    req: HttpRequest,
    api: ApiContext,
    token: web::Path<String>,
    body: Bytes,
    ext: web::Data<Invitation>,
) -> Result<HttpResponse, ApiError> {
    let params = user_params(&body).ok_or_else(|| ApiError::invalid_request(&req))?;
    let action = Action::new(actions::API_UPDATE).params(params);
    api.run_action(&req, action, async |ctl| {
        let source = ActixRequest(&ctl.req).facts();
        match accept(&mut ctl.step, &source, &ext, &token).await? {
            None => Err(invalid(&req)),
            Some(Ok(user)) => {
                let mut session = api.session(&req, ApiAction::Registration);
                pow_actix::flows::start_signed_up(&ctl.config, &user, &mut *session).await?;
                ctl.user = Some(user);
                api.issued(&req, &session)
            }
            Some(Err(cs)) => {
                ctl.changeset = Some(cs);
                Err(refused(&req, &ctl.config, ctl))
            }
        }
    })
    .await
}

impl ApiExtension for InvitationApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../../openapi.json"))
    }

    fn configure(&self, cfg: &mut ServiceConfig, api: &ApiContext) {
        let data = web::Data::new(self.ext.clone());
        cfg.service(
            api.resource("/invitations")
                .app_data(data.clone())
                .route(web::post().to(create)),
        )
        .service(
            api.resource("/invitations/{token}")
                .app_data(data)
                .route(web::get().to(show))
                .route(web::patch().to(update))
                .route(web::put().to(update)),
        );
    }
}

//! The JSON side, on the engine: invite someone, look a pending invitation up, accept it.
//! Its routes ([`api_routes`]) are the engine's, which every framework mounts under the
//! API prefix.

use std::sync::Arc;

use pow_core::api::routes::{ApiClient, ApiRoute, Reply};
use pow_core::api::{ApiAction, ApiError};
use pow_core::pages::routes::{PathParams, Verb};
use pow_core::pipeline::Step;
use pow_core::request::RequestFacts;
use pow_core::PowError;
use serde_json::{json, Value};

use crate::flows::{accept, accept_url, actions, invite, Invite};
use crate::{Invitation, INVITATION_SENT_AT};

/// The extension's JSON routes: inviting (signed-in clients), and the invitation's lookup
/// and acceptance (anyone with the link).
pub(crate) fn api_routes(ext: &Invitation) -> Vec<ApiRoute> {
    let ext = Arc::new(ext.clone());
    let mut routes = vec![
        ApiRoute::new(
            Verb::Post,
            "/invitations",
            actions::API_CREATE,
            pow_core::api_act!(ext, create),
        )
        .with_user_params()
        .signed_in(),
        ApiRoute::new(
            Verb::Get,
            "/invitations/{token}",
            actions::API_SHOW,
            pow_core::api_act!(ext, show),
        ),
    ];
    for verb in [Verb::Patch, Verb::Put] {
        routes.push(
            ApiRoute::new(
                verb,
                "/invitations/{token}",
                actions::API_UPDATE,
                pow_core::api_act!(ext, update),
            )
            .with_user_params(),
        );
    }
    routes
}

/// The signed token in the path (empty when there is none, which no check accepts).
fn path_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|path| path.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// `404 invalid_invitation`: no pending invitation for the token.
fn invalid(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        404,
        "pow_invitation_invalid_invitation",
    )
    .with_code("invalid_invitation")
}

/// `403 invitation_not_allowed`: the signed-in user may not invite.
fn not_allowed(step: &Step) -> ApiError {
    ApiError::translated(
        Some(&step.config),
        &step.lang,
        403,
        "pow_invitation_not_allowed",
    )
    .with_code("invitation_not_allowed")
}

/// `422` with the field errors of the refused changeset.
fn refused(step: &Step) -> ApiError {
    match &step.changeset {
        Some(cs) => ApiError::validation(&step.config, &step.lang, "api-user-not-created", cs),
        None => PowError::Other("no changeset to report".into()).into(),
    }
}

/// The token and link of an invitation the inviter hands over.
fn hand_over(step: &Step, facts: &RequestFacts, signed: &str, message: Option<String>) -> Value {
    json!({
        "token": signed,
        "url": accept_url(facts, &step.config, signed),
        "message": message,
    })
}

/// `POST <api>/invitations` with `{"user": {"email": ...}}` (the user id field): a signed-in
/// client invites someone. `202` once the mail is out (also, looking the same, for an
/// address that has an account); `201` with the link's `token` and `url` for an invitee
/// without an address, or when the mail failed; `422` with field errors.
async fn create(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Invitation,
) -> Result<Reply, ApiError> {
    let Some(current) = call.current_session() else {
        return Err(call.not_authenticated(&step.lang));
    };
    if !ext.may_invite(&current.user) {
        return Err(not_allowed(step));
    }
    let facts = call.facts();
    match invite(step, &facts, ext, current.user.id).await? {
        Invite::InviterGone => Err(ApiError::not_authenticated(Some(&step.config), &step.lang)),
        Invite::NotAllowed => Err(not_allowed(step)),
        Invite::Mailed => Ok(Reply::data(
            202,
            json!({ "message": step.text("pow_invitation_invitation_email_sent") }),
        )),
        Invite::NoAddress(signed) => Ok(Reply::data(201, hand_over(step, &facts, &signed, None))),
        Invite::MailFailed(signed) => {
            let failed = step.text("pow_invitation_email_failed");
            Ok(Reply::data(
                201,
                hand_over(step, &facts, &signed, Some(failed)),
            ))
        }
        Invite::Invalid => Err(refused(step)),
    }
}

/// `GET <api>/invitations/{token}`: the pending invitation, for the invitee's form:
/// `{"data": {"user": {"email": ...}, "expires_at": ...}}`; `404 invalid_invitation`.
async fn show(
    step: &mut Step,
    _call: &mut dyn ApiClient,
    ext: &Invitation,
) -> Result<Reply, ApiError> {
    let token = path_token(step);
    let Some(invitee) = ext.find_invitee(&step.config, &token).await? else {
        return Err(invalid(step));
    };
    let field = step.config.user_id_field();
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
    step.user = Some(invitee);
    Ok(Reply::ok(data))
}

/// `PATCH`/`PUT <api>/invitations/{token}` with `{"user": {"email", "password",
/// "password_confirmation", ...}}`: accepts, as the page does, and answers a token pair
/// (after every extension's say: a new address to confirm in strict mode answers `403
/// email_confirmation_required`); `404 invalid_invitation`; `422` with field errors.
async fn update(
    step: &mut Step,
    call: &mut dyn ApiClient,
    ext: &Invitation,
) -> Result<Reply, ApiError> {
    let token = path_token(step);
    let facts = call.facts();
    match accept(step, &facts, ext, &token).await? {
        None => Err(invalid(step)),
        Some(Ok(user)) => {
            let config = step.config.clone();
            let session = call.signing_in(ApiAction::Registration);
            pow_core::flows::start_signed_up(&config, &user, session).await?;
            step.user = Some(user);
            call.issued()
        }
        Some(Err(cs)) => {
            step.changeset = Some(cs);
            Err(refused(step))
        }
    }
}

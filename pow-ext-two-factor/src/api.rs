//! The JSON side: a sign-in that needs a second factor answers a short-lived token instead
//! of a token pair; `POST <prefix>/two-factor/verify` trades it and a code for the pair.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use async_trait::async_trait;
use pow_core::api::{ApiAction, ApiContext, ApiError, ApiExtension};
use pow_core::audit::{self, AuditEvent};
use pow_core::session::MethodUse;
use pow_core::users::User;
use serde::Deserialize;

use crate::store::{Pending, Records};
use crate::verify::{self, Checked};
use crate::web::{actions, events};
use crate::{TwoFactor, NAME};

/// Salt of the signed `second_factor_token`.
const TOKEN_SALT: &str = "pow two-factor api token";

/// Set on a request whose user just passed the second step: the sign-in may go on.
struct Passed;

/// The JSON side of [`TwoFactor`] (see the crate docs).
#[derive(Clone, Debug)]
pub struct TwoFactorApi {
    ext: TwoFactor,
}

impl TwoFactorApi {
    pub(crate) fn new(ext: TwoFactor) -> Self {
        Self { ext }
    }
}

#[derive(Deserialize)]
struct VerifyBody {
    second_factor_token: String,
    code: String,
}

fn invalid_code(req: &HttpRequest) -> ApiError {
    ApiError::translated(req, StatusCode::UNAUTHORIZED, "pow_two_factor_invalid_code")
        .with_code("invalid_code")
}

fn expired(req: &HttpRequest) -> ApiError {
    ApiError::translated(req, StatusCode::UNAUTHORIZED, "pow_two_factor_expired")
        .with_code("invalid_token")
}

async fn verify_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<TwoFactor>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_VERIFY, async |_| {
        let body: VerifyBody =
            serde_json::from_slice(&body).map_err(|_| ApiError::invalid_request(&req))?;
        let config = api.config().clone();
        let Some(id) = config
            .verifier()
            .verify_token(TOKEN_SALT, &body.second_factor_token)
        else {
            return Err(expired(&req));
        };
        let records = Records::new(&config);
        let Some(pending) = records.pending(&id).await? else {
            return Err(expired(&req));
        };
        let Some(user) = config.users()?.get(pending.user_id).await? else {
            return Err(expired(&req));
        };
        // A locked account's pending sign-ins are over.
        if let Err(err) = verify::ensure_not_locked(&config, &user).await {
            records.finish(&id).await?;
            return Err(err.into());
        }
        if !verify::attempt_allowed(&ext, &config, &id).await? {
            return Err(expired(&req));
        }
        let (user, method) = match verify::check(&config, &req, &user, &body.code).await? {
            Checked::Valid(user, method) => (user, method),
            Checked::Invalid => {
                audit::record(
                    &config,
                    AuditEvent::new(events::FAILED)
                        .request(&config, &req)
                        .user(user.id),
                );
                return Err(invalid_code(&req));
            }
        };
        if records.finish(&id).await?.is_none() {
            return Err(expired(&req));
        }
        audit::record(
            &config,
            AuditEvent::new(events::VERIFIED)
                .request(&config, &req)
                .user(user.id)
                .detail("method", method.as_str()),
        );
        req.extensions_mut().insert(Passed);
        let methods = pending
            .methods
            .into_iter()
            .chain([MethodUse::now(method)])
            .collect();
        api.sign_in_response(&req, &user, ApiAction::SignIn, methods)
            .await
    })
    .await
}

#[derive(Deserialize)]
struct StepUpBody {
    code: String,
}

/// `POST <prefix>/two-factor/step-up`: the signed-in client proves its second factor
/// again (a step-up rule asked for it); `204`, or `401 invalid_code`.
async fn step_up_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_STEP_UP, async |_| {
        let body: StepUpBody =
            serde_json::from_slice(&body).map_err(|_| ApiError::invalid_request(&req))?;
        let Some(current) = api.current_session(&req).await? else {
            return Err(ApiError::not_authenticated(&req));
        };
        let config = api.config().clone();
        match crate::web::step_up(&config, &req, current, &body.code).await? {
            Some(_) => Ok(HttpResponse::NoContent()
                .insert_header(pow_core::web::no_store())
                .finish()),
            None => Err(invalid_code(&req)),
        }
    })
    .await
}

#[async_trait(?Send)]
impl ApiExtension for TwoFactorApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
        cfg.service(
            api.resource("/two-factor/verify")
                .app_data(web::Data::new(self.ext.clone()))
                .route(web::post().to(verify_create)),
        )
        .service(
            api.resource("/two-factor/step-up")
                .route(web::post().to(step_up_create)),
        );
    }

    /// A password sign-in of a user with a second factor gets no pair: `403` with code
    /// `second_factor_required` and a `second_factor_token` for the second step.
    async fn before_issue(
        &self,
        req: &HttpRequest,
        api: &ApiContext,
        user: &User,
        action: ApiAction,
    ) -> Result<(), ApiError> {
        if action != ApiAction::SignIn
            || !verify::is_enabled(user)
            || req.extensions().get::<Passed>().is_some()
        {
            return Ok(());
        }
        let config = api.config();
        let pending = Pending {
            user_id: user.id,
            persist: false,
            methods: pow_core::api::sign_in_methods(req),
        };
        let id = Records::new(config)
            .start(&pending, self.ext.pending_ttl)
            .await
            .map_err(|err| ApiError::from_pow(req, err.into()))?;
        let token = config.verifier().sign_token(TOKEN_SALT, &id);
        Err(
            ApiError::translated(req, StatusCode::FORBIDDEN, "pow_two_factor_required")
                .with_code("second_factor_required")
                .with_detail("second_factor_token", token),
        )
    }
}

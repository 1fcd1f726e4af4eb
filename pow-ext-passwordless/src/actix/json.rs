//! The JSON side: ask for a link or code, and trade either for a token pair; a staged
//! sign-up (the address proven first, then the rest of the form).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{ApiAction, ApiContext, ApiError, ApiExtension};
use serde::Deserialize;
use serde_json::json;

use crate::actions;
use crate::flows::{self as flow, link_url, staged_proven, Staged, Via};
use crate::store::{Grant, Purpose, Records};
use crate::{Passwordless, NAME};

/// The JSON side of [`Passwordless`] (see the crate docs).
#[derive(Clone, Debug)]
pub struct PasswordlessApi {
    ext: Passwordless,
}

impl PasswordlessApi {
    pub(crate) fn new(ext: Passwordless) -> Self {
        Self { ext }
    }
}

#[derive(Deserialize)]
struct AskBody {
    email: String,
}

#[derive(Deserialize)]
struct CodeBody {
    code_token: String,
    code: String,
}

fn invalid(req: &HttpRequest, key: &str) -> ApiError {
    ApiError::translated(req, StatusCode::UNAUTHORIZED, key).with_code("invalid_token")
}

/// Mails a link or a code (`staged`: a staged sign-up's link) to the body's address; the
/// same answer for every address.
async fn ask(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<Passwordless>,
    via: Via,
    staged: bool,
) -> Result<HttpResponse, ApiError> {
    let action = pow_actix::web::Action::new(actions::API).captcha();
    api.run_action(&req, action, async |ctl| {
        let body: AskBody = pow_actix::api::json_body(&req, &body)?;
        let config = api.config().clone();
        ApiError::check_email(&req, &config, "email", &body.email)?;
        let link = |token: &str, purpose| link_url(&config, token, purpose);
        let staged = staged.then(pow_actix::users::Params::new);
        let code_token = flow::request(
            &pow_actix::web::ActixRequest(&req).facts(),
            &config,
            &ext,
            &ctl.lang,
            &body.email,
            via,
            staged,
            link,
        )
        .await?;
        let key = match via {
            Via::Link => "pow_passwordless_link_sent",
            Via::Code => "pow_passwordless_code_sent",
        };
        let mut data = json!({ "message": ctl.text(key) });
        if let Some(token) = code_token {
            data["code_token"] = json!(token);
        }
        Ok(pow_actix::api::answer(
            actix_web::http::StatusCode::ACCEPTED,
            data,
        ))
    })
    .await
}

async fn link_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<Passwordless>,
) -> Result<HttpResponse, ApiError> {
    ask(req, api, body, ext, Via::Link, false).await
}

async fn code_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<Passwordless>,
) -> Result<HttpResponse, ApiError> {
    ask(req, api, body, ext, Via::Code, false).await
}

/// Signs the client in as the user of `grant` (a pair, after every extension's
/// `before_issue`).
async fn issue(
    req: &HttpRequest,
    api: &ApiContext,
    grant: Option<Grant>,
    method: &str,
) -> Result<HttpResponse, ApiError> {
    let mut session = api.session(req, ApiAction::SignIn);
    match flow::finish_sign_in(
        api.config(),
        &pow_actix::web::ActixRequest(req).facts(),
        grant,
        method,
        &mut *session,
    )
    .await?
    {
        Some(_) => api.issued(req, &session),
        None => Err(invalid(req, "pow_passwordless_invalid")),
    }
}

async fn link_use(
    req: HttpRequest,
    api: ApiContext,
    token: web::Path<String>,
    ext: web::Data<Passwordless>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API, async |_| {
        let mut session = api.session(&req, ApiAction::SignIn);
        let source = pow_actix::web::ActixRequest(&req).facts();
        let signed_in =
            flow::sign_in_with_link(api.config(), &source, &ext, &token, &mut *session).await?;
        match signed_in {
            Some(_) => api.issued(&req, &session),
            None => Err(invalid(&req, "pow_passwordless_invalid")),
        }
    })
    .await
}

async fn code_use(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<Passwordless>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API, async |_| {
        let body: CodeBody = pow_actix::api::json_body(&req, &body)?;
        let (grant, exhausted) = flow::use_code(
            api.config(),
            &pow_actix::web::ActixRequest(&req).facts(),
            &ext,
            &body.code_token,
            &body.code,
        )
        .await?;
        if exhausted {
            return Err(invalid(&req, "pow_passwordless_too_many_attempts"));
        }
        if grant.is_none() {
            return Err(ApiError::translated(
                &req,
                StatusCode::UNAUTHORIZED,
                "pow_passwordless_invalid_code",
            )
            .with_code("invalid_code"));
        }
        issue(&req, &api, grant, "email_code").await
    })
    .await
}

/// `POST <prefix>/passwordless/sign-up`: mails a staged sign-up's link (an address with an
/// account gets a sign-in link instead); `202` alike for every address.
async fn staged_create(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    ext: web::Data<Passwordless>,
) -> Result<HttpResponse, ApiError> {
    ask(req, api, body, ext, Via::Link, true).await
}

/// `GET <prefix>/passwordless/sign-up/{token}`: the proven address (and the app's
/// prefill), to show the rest of the form; `401 invalid_token` for a used, expired or
/// unknown link. Uses nothing up.
async fn staged_show(
    req: HttpRequest,
    api: ApiContext,
    token: web::Path<String>,
    ext: web::Data<Passwordless>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API, async |_| {
        let grant = Records::new(api.config(), ext.ttl)
            .link(&token)
            .await?
            .filter(|grant| grant.purpose == Purpose::Staged);
        let Some(grant) = grant else {
            return Err(invalid(&req, "pow_passwordless_invalid"));
        };
        Ok(pow_actix::api::answer(
            StatusCode::OK,
            json!({ "email": grant.email, "user": grant.prefill }),
        ))
    })
    .await
}

/// `POST <prefix>/passwordless/sign-up/{token}`: completes a staged sign-up with
/// `{"user": {...}}` (a password is optional): the account is made for the proven address
/// and signed in, as a registration; `422` with field errors (the link keeps working).
async fn staged_complete(
    req: HttpRequest,
    api: ApiContext,
    body: Bytes,
    token: web::Path<String>,
    ext: web::Data<Passwordless>,
) -> Result<HttpResponse, ApiError> {
    let Some(typed) = pow_actix::api::user_params(&body) else {
        return Err(ApiError::invalid_request(&req));
    };
    api.run(&req, actions::COMPLETE, async |ctl| {
        let config = api.config();
        let (user, with_password) = match flow::complete_staged(
            &pow_actix::web::ActixRequest(&req).facts(),
            config,
            &ext,
            &token,
            typed,
        )
        .await?
        {
            Staged::Invalid => return Err(invalid(&req, "pow_passwordless_invalid")),
            Staged::Refused { changeset, .. } => {
                return Err(ApiError::validation(
                    &req,
                    config,
                    "api-user-not-created",
                    &changeset,
                ));
            }
            Staged::Created {
                user,
                with_password,
            } => (user, with_password),
        };
        staged_proven(ctl, &user);
        let mut session = api.session(&req, ApiAction::Registration);
        let method = flow::STAGED_METHOD;
        flow::sign_in(config, &user, method, with_password, &mut *session).await?;
        ctl.user = Some(user);
        api.issued(&req, &session)
    })
    .await
}

impl ApiExtension for PasswordlessApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../../openapi.json"))
    }

    fn configure(&self, cfg: &mut web::ServiceConfig, api: &ApiContext) {
        let data = web::Data::new(self.ext.clone());
        cfg.service(
            api.resource("/passwordless/link")
                .app_data(data.clone())
                .route(web::post().to(link_create)),
        )
        .service(
            api.resource("/passwordless/link/{token}")
                .app_data(data.clone())
                .route(web::post().to(link_use)),
        )
        .service(
            api.resource("/passwordless/code")
                .app_data(data.clone())
                .route(web::post().to(code_create)),
        )
        .service(
            api.resource("/passwordless/code/verify")
                .app_data(data.clone())
                .route(web::post().to(code_use)),
        )
        .service(
            api.resource("/passwordless/sign-up")
                .app_data(data.clone())
                .route(web::post().to(staged_create)),
        )
        .service(
            api.resource("/passwordless/sign-up/{token}")
                .app_data(data)
                .route(web::get().to(staged_show))
                .route(web::post().to(staged_complete)),
        );
    }
}

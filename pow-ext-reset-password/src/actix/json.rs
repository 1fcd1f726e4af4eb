//! The JSON endpoints: [`ResetPasswordApi`].

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::api::{user_params, ApiContext, ApiError, ApiExtension, LinkTemplate};
use pow_actix::messages::request_language;
use pow_actix::web::Controller;
use pow_actix::PowConfig;

use crate::actions;
use crate::flows::{self as flow, Requested, Reset};
use crate::pages::token_path;
use crate::tokens::ResetTokens;
use crate::{ResetPassword, NAME};

/// The reset-password extension's JSON endpoints, an
/// [`ApiExtension`]: made with [`ResetPassword::api`] and added with
/// [`ApiOptions::extension`](pow_actix::api::ApiOptions::extension). See the
/// [crate docs](crate#json-api) for the endpoints.
///
/// The [`ResetPassword`] it was made from must be enabled in the config too (it brings
/// the texts and mails); the endpoints use its settings (link lifetime, rate limit, mail
/// delivery, session revocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetPasswordApi {
    ext: ResetPassword,
    link: Option<LinkTemplate>,
}

impl ResetPassword {
    /// The JSON endpoints of this extension, with its settings. Clone the value you enable
    /// in the config, so both agree:
    ///
    /// ```
    /// use pow_actix::api::{ApiOptions, LinkTemplate};
    /// use pow_actix::PowConfig;
    /// use pow_ext_reset_password::ResetPassword;
    ///
    /// let reset = ResetPassword::new();
    /// let config = PowConfig::builder("s".repeat(64))
    ///     .base_url("https://example.com")
    ///     .extension(reset.clone())
    ///     .build()?;
    /// let options = ApiOptions::new().extension(reset.api().link_template(LinkTemplate::new(
    ///     "https://app.example.com/reset-password?token={token}",
    /// )?));
    /// # Ok::<_, pow_actix::PowError>(())
    /// ```
    pub fn api(&self) -> ResetPasswordApi {
        ResetPasswordApi {
            ext: self.clone(),
            link: None,
        }
    }
}

impl ResetPasswordApi {
    /// Where the link in reset mails asked for over the API points. The default value is
    /// `None`: the config's [`frontend_link`](pow_actix::PowConfigBuilder::frontend_link)
    /// for [`LINK`](crate::LINK) (which mails asked for on the pages follow too), else the
    /// extension's HTML page, `<base_url><mount path>/reset-password/<token>`,
    /// which needs [`pow_actix::web::configure`] mounted. An app without HTML pages points
    /// the link at its client instead, e.g.
    /// `https://app.example.com/reset-password?token={token}`; the client then sends the
    /// token to `PATCH <prefix>/reset-password/{token}`.
    pub fn link_template(mut self, template: LinkTemplate) -> Self {
        self.link = Some(template);
        self
    }

    /// The settings of the extension.
    pub fn settings(&self) -> &ResetPassword {
        &self.ext
    }

    /// The mailed link for `signed` token.
    fn link(&self, req: &HttpRequest, config: &PowConfig, signed: &str) -> String {
        match &self.link {
            Some(template) => template.url(signed),
            None => config.mail_link(crate::LINK, signed, || {
                config.url_for(
                    &pow_actix::web::ActixRequest(req).facts(),
                    &token_path(config, signed),
                )
            }),
        }
    }
}

impl ApiExtension for ResetPasswordApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn openapi(&self) -> Option<serde_json::Value> {
        pow_actix::api::openapi_fragment(NAME, include_str!("../../openapi.json"))
    }

    fn configure(&self, cfg: &mut ServiceConfig, api: &ApiContext) {
        if !api.config().extensions().contains(NAME) {
            tracing::error!(
                "the reset-password JSON endpoints need the ResetPassword extension in the \
                 config too (PowConfigBuilder::extension), for their texts"
            );
        }
        let this = web::Data::new(self.clone());
        cfg.service(
            api.resource("/reset-password")
                .app_data(this.clone())
                .route(web::post().to(create)),
        )
        .service(
            api.resource("/reset-password/{token}")
                .app_data(this)
                .route(web::get().to(show))
                .route(web::patch().to(update))
                .route(web::put().to(update)),
        );
    }
}

/// A translated text of the config.
fn text(req: &HttpRequest, config: &PowConfig, key: &str) -> String {
    let lang = request_language(
        &pow_actix::web::ActixRequest(req).facts(),
        config.messages(),
    );
    config.messages().text(&lang, key)
}

/// `200 {"status": 200, "data": {"message": "..."}}`, never cached.
fn done(message: String) -> HttpResponse {
    pow_actix::api::answer(StatusCode::OK, serde_json::json!({ "message": message }))
}

/// `404` for a forged, unknown, used or expired reset token.
fn invalid_token(req: &HttpRequest) -> ApiError {
    ApiError::translated(
        req,
        StatusCode::NOT_FOUND,
        "pow_reset_password_invalid_token",
    )
    .with_code("invalid_token")
}

/// `POST <prefix>/reset-password`: mails a reset link if an account has the address.
async fn create(
    req: HttpRequest,
    api: ApiContext,
    this: web::Data<ResetPasswordApi>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let action = pow_actix::web::Action::new(actions::API_CREATE).captcha();
    api.run_action(&req, action, async |_| {
        request_link(&req, &api, &this, &body).await
    })
    .await
}

async fn request_link(
    req: &HttpRequest,
    api: &ApiContext,
    this: &ResetPasswordApi,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let params = user_params(body).ok_or_else(|| ApiError::invalid_request(req))?;
    let config = api.config();
    let lang = request_language(
        &pow_actix::web::ActixRequest(req).facts(),
        config.messages(),
    );
    let email = params.get("email").map_or("", String::as_str);
    ApiError::check_email(req, config, "email", email)?;
    let link = |signed: &str| this.link(req, config, signed);
    let key = match flow::request_link(
        &pow_actix::web::ActixRequest(req).facts(),
        config,
        &this.ext,
        &lang,
        email,
        link,
    )
    .await?
    {
        Requested::Known => "pow_reset_password_email_has_been_sent",
        Requested::Unknown if !config.prevent_user_enumeration() => {
            return Err(ApiError::translated(
                req,
                StatusCode::NOT_FOUND,
                "pow_reset_password_user_not_found",
            )
            .with_code("user_not_found"));
        }
        Requested::Unknown => "pow_reset_password_maybe_email_has_been_sent",
    };
    Ok(done(text(req, config, key)))
}

/// `GET <prefix>/reset-password/{token}`: whether the token still works.
async fn show(
    req: HttpRequest,
    api: ApiContext,
    this: web::Data<ResetPasswordApi>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_SHOW, async |_| {
        let config = api.config();
        let loaded = ResetTokens::new(config, this.ext.ttl())
            .load(config, &token)
            .await?;
        if loaded.is_none() {
            return Err(invalid_token(&req));
        }
        Ok(pow_actix::api::answer(
            StatusCode::OK,
            serde_json::json!({}),
        ))
    })
    .await
}

/// `PATCH|PUT <prefix>/reset-password/{token}`: sets the new password.
async fn update(
    req: HttpRequest,
    api: ApiContext,
    this: web::Data<ResetPasswordApi>,
    token: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    api.run(&req, actions::API_UPDATE, async |ctl| {
        set_password(ctl, &api, &this, &token, &body).await
    })
    .await
}

async fn set_password(
    ctl: &mut Controller,
    api: &ApiContext,
    this: &ResetPasswordApi,
    signed: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let req = &ctl.req.clone();
    let params = user_params(body).ok_or_else(|| ApiError::invalid_request(req))?;
    let config = api.config();
    let Some(loaded) = ResetTokens::new(config, this.ext.ttl())
        .load(config, signed)
        .await?
    else {
        return Err(invalid_token(req));
    };
    let source = pow_actix::web::ActixRequest(req).facts();
    let source: &dyn pow_actix::request::RequestSource = &source;
    match flow::reset((config, source, &ctl.lang), &this.ext, loaded, &params).await? {
        Reset::Done(user) => {
            ctl.user = Some(user);
            Ok(done(text(
                req,
                config,
                "pow_reset_password_password_has_been_reset",
            )))
        }
        Reset::Invalid(changeset) => Err(ApiError::validation(
            req,
            config,
            "pow_reset_password_password_not_updated",
            &changeset,
        )),
        Reset::TokenGone => Err(invalid_token(req)),
    }
}

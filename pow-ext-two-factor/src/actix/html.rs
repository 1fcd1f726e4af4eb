//! The HTML side (actix): the second step of a sign-in, enrolment and settings, as pages.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use pow_actix::audit::{self, AuditEvent, EventName};
use pow_actix::mailer::{send_notice, Notice};
use pow_actix::session::CookieSessionExt as _;
use pow_actix::session::CookieSessionHandle;
use pow_actix::users::User;
use pow_actix::views::{Field, FieldType, Form, Link, PageBody};
use pow_actix::web::{
    flash, render_page, returning_to, Action, Controller, FormData, Outcome, Page,
};
use pow_actix::{PowConfig, PowError};

use crate::flows::{self as verify, Answer, SecondStep};
use crate::store::Records;
use crate::{
    actions, path, pending_key, settings_path, TwoFactorApi, PENDING_SALT, PERSIST_FIELD,
    SETTINGS_PATH, STEP_UP_PATH, VERIFY_PATH,
};

const CODES_PATH: &str = "/two-factor/recovery-codes";
const DISABLE_PATH: &str = "/two-factor/disable";
use crate::{totp, TwoFactor, NAME};

pub(crate) use crate::events;

impl TwoFactor {
    /// The JSON side, to add to [`ApiOptions`](pow_actix::api::ApiOptions) when the config
    /// does not enable the extension itself.
    pub fn api(&self) -> TwoFactorApi {
        TwoFactorApi::new(self.clone())
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &TwoFactor) {
    let route = |pattern: &str| config.routes().extension_route(NAME, pattern);
    let data = web::Data::new(ext.clone());
    cfg.service(
        web::resource(route(SETTINGS_PATH))
            .app_data(data.clone())
            .route(web::get().to(settings))
            .route(web::post().to(enable)),
    )
    .service(
        web::resource(route(CODES_PATH))
            .app_data(data.clone())
            .route(web::post().to(regenerate)),
    )
    .service(
        web::resource(route(DISABLE_PATH))
            .app_data(data.clone())
            .route(web::post().to(disable)),
    )
    .service(
        web::resource(route(STEP_UP_PATH))
            .route(web::get().to(step_up_new))
            .route(web::post().to(step_up_create)),
    )
    .service(
        web::resource(route(VERIFY_PATH))
            .app_data(data)
            .route(web::get().to(verify_new))
            .route(web::post().to(verify_create)),
    );
}

/// The pending sign-in id in the browser's cookie session, if its signature holds.
fn pending_id(req: &HttpRequest, config: &PowConfig) -> Option<String> {
    let signed = req
        .cookie_session()
        .get::<String>(&pending_key(config))
        .ok()??;
    config.verifier().verify_token(PENDING_SALT, &signed)
}

fn forget_pending(req: &HttpRequest, config: &PowConfig) {
    req.cookie_session().remove(&pending_key(config));
}

/// Records one of the extension's audit events about `user_id`, with the request.
pub(crate) fn record(ctl: &Controller, name: EventName, user_id: i64) {
    audit::record(
        &ctl.config,
        AuditEvent::new(name)
            .request(&ctl.config, &pow_actix::web::ActixRequest(&ctl.req).facts())
            .user(user_id),
    );
}

/// Mails `user` a security notice about their second factor (when notices are on).
pub(crate) async fn notify(ctl: &Controller, user: &User, notice: Notice<'_>) {
    let to = user.email().unwrap_or_default();
    send_notice(
        &ctl.config,
        &pow_actix::web::ActixRequest(&ctl.req).facts(),
        &ctl.lang,
        to,
        notice,
    )
    .await;
}

fn back_to_sign_in(ctl: &Controller, key: &str) -> Outcome {
    forget_pending(&ctl.req, &ctl.config);
    flash::put_error(&ctl.req, ctl.message(key));
    Outcome::redirect(&ctl.config.routes().session_path(&ctl.routes_ctx(), "new"))
}

/// A page asking for a code: the sign-in's second step, or a step-up. The form posts to
/// `action` with the code and `hidden` fields; `info_key` says why it is asked.
struct CodePage<'a> {
    name: &'static str,
    action: String,
    hidden: Option<Field>,
    links: Vec<Link>,
    info_key: &'a str,
    /// The forms of other second factors, and the scripts they need.
    extra_forms: Vec<Form>,
    scripts: Vec<String>,
}

impl CodePage<'_> {
    fn render(self, ctl: &Controller, error: Option<String>) -> Result<HttpResponse, PowError> {
        let code = Field::new(
            "code",
            ctl.text("pow_two_factor_verify_label"),
            FieldType::Text,
        )
        .autocomplete("one-time-code")
        .required()
        .errors(error.into_iter().collect());
        let mut form =
            Form::new(self.action, ctl.text("pow_two_factor_verify_button"), "").field(code);
        if let Some(hidden) = self.hidden {
            form = form.field(hidden);
        }
        let body = PageBody::Form {
            form,
            links: self.links,
            extra_forms: self.extra_forms,
        };
        let mut page = Page::new(self.name, "pow_two_factor_title_verify", body);
        page.scripts = self.scripts;
        page.info = Some(ctl.text(self.info_key));
        render_page(&ctl.req, &ctl.config, &ctl.lang, page)
    }
}

/// Another extension's second factor on the second step's page: a new challenge.
pub(crate) struct FactorChallenge {
    name: &'static str,
    button_key: &'static str,
    fields: serde_json::Map<String, serde_json::Value>,
    script: Option<String>,
}

/// A new challenge of each other second factor `user` has.
async fn factor_challenges(
    config: &PowConfig,
    user: &User,
) -> Result<Vec<FactorChallenge>, PowError> {
    let mut challenges = Vec::new();
    for factor in verify::enrolled_factors(config, user).await? {
        challenges.push(FactorChallenge {
            name: factor.name(),
            button_key: factor.button_key(),
            fields: factor.challenge(config, user).await?,
            script: factor.script(config),
        });
    }
    Ok(challenges)
}

/// The second step's page: the code form when the user has TOTP, then a form per other
/// factor (the first of them in the code form's place when the user has no TOTP).
fn verify_page(
    ctl: &Controller,
    persist: bool,
    error: Option<String>,
    totp: bool,
    factors: &[FactorChallenge],
) -> Result<HttpResponse, PowError> {
    let action = path(&ctl.config, VERIFY_PATH);
    let persist_field =
        || Field::new(PERSIST_FIELD, "", FieldType::Hidden).value(persist.to_string());
    let mut extra_forms = Vec::new();
    let mut scripts = Vec::new();
    for factor in factors {
        let mut form = Form::new(action.clone(), ctl.text(factor.button_key), "")
            .field(Field::new("factor", "", FieldType::Hidden).value(factor.name))
            .field(persist_field());
        for (name, value) in &factor.fields {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            form = form.field(Field::new(name.clone(), "", FieldType::Hidden).value(value));
        }
        extra_forms.push(form);
        scripts.extend(factor.script.clone());
    }
    let links = vec![Link::new(
        ctl.config.routes().session_path(&ctl.routes_ctx(), "new"),
        ctl.text("pow_two_factor_cancel"),
    )];
    if !totp && !extra_forms.is_empty() {
        let form = extra_forms.remove(0);
        let body = PageBody::Form {
            form,
            links,
            extra_forms,
        };
        let mut page = Page::new("two_factor/verify", "pow_two_factor_title_verify", body);
        page.scripts = scripts;
        page.info = Some(ctl.text("pow_two_factor_required_key"));
        page.error = error;
        return render_page(&ctl.req, &ctl.config, &ctl.lang, page);
    }
    CodePage {
        name: "two_factor/verify",
        action,
        hidden: Some(persist_field()),
        links,
        info_key: "pow_two_factor_required",
        extra_forms,
        scripts,
    }
    .render(ctl, error)
}

/// What the second step's form sent: another factor's answer (its form's fields, as a
/// JSON object) or a code.
fn form_answer(ctl: &Controller) -> Answer {
    match ctl.params.get("factor") {
        Some(name) => {
            let fields: serde_json::Map<String, serde_json::Value> = ctl
                .params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
                .collect();
            Answer::Factor(name.clone(), serde_json::Value::Object(fields))
        }
        None => Answer::Code(ctl.params.get("code").cloned().unwrap_or_default()),
    }
}

async fn verify_new(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::VERIFY_NEW)
        .signed_out()
        .run(&req, async |ctl| {
            let waiting = match pending_id(&ctl.req, &ctl.config) {
                Some(id) => Records::new(&ctl.config).pending(&id).await?,
                None => None,
            };
            let Some(pending) = waiting else {
                return Ok(back_to_sign_in(ctl, "pow_two_factor_expired"));
            };
            let Some(user) = ctl.config.users()?.get(pending.user_id).await? else {
                return Ok(back_to_sign_in(ctl, "pow_two_factor_expired"));
            };
            let factors = factor_challenges(&ctl.config, &user).await?;
            let totp = verify::is_enabled(&user);
            Ok(Outcome::render(move |ctl: &Controller| {
                verify_page(ctl, pending.persist, None, totp, &factors)
            }))
        })
        .await
}

async fn verify_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<TwoFactor>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::VERIFY)
        .signed_out()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let config = ctl.config.clone();
            let Some(id) = pending_id(&ctl.req, &config) else {
                return Ok(back_to_sign_in(ctl, "pow_two_factor_expired"));
            };
            let answer = form_answer(ctl);
            let mut session = CookieSessionHandle::new(&ctl.req);
            let source = pow_actix::web::ActixRequest(&ctl.req).facts();
            let step = verify::second_step(&config, &source, &ext, &id, &answer, &mut *session);
            let step = step.await;
            session.write_back();
            match step {
                Ok(SecondStep::SignedIn(user)) => {
                    forget_pending(&ctl.req, &config);
                    flash::put_info(&ctl.req, config.messages().signed_in(&ctl.lang));
                    ctl.user = Some(user);
                    Ok(Outcome::redirect(
                        &config.routes().after_sign_in_path(&ctl.routes_ctx()),
                    ))
                }
                Ok(SecondStep::Invalid { user, persist }) => {
                    let factors = factor_challenges(&config, &user).await?;
                    let totp = verify::is_enabled(&user);
                    Ok(Outcome::render(move |ctl: &Controller| {
                        let error = Some(ctl.text("pow_two_factor_invalid_code"));
                        verify_page(ctl, persist, error, totp, &factors)
                    }))
                }
                Ok(SecondStep::TooManyAttempts) => {
                    Ok(back_to_sign_in(ctl, "pow_two_factor_too_many_attempts"))
                }
                Ok(SecondStep::Expired) => Ok(back_to_sign_in(ctl, "pow_two_factor_expired")),
                Ok(SecondStep::Locked(refused)) => {
                    forget_pending(&ctl.req, &config);
                    Err(refused)
                }
                Err(err) => Err(err),
            }
        })
        .await
        .map_err(pow_actix::Error)
}

fn step_up_page(ctl: &Controller, error: Option<String>) -> Result<HttpResponse, PowError> {
    CodePage {
        name: "two_factor/step_up",
        action: returning_to(path(&ctl.config, STEP_UP_PATH), ctl.request_path.as_deref()),
        hidden: None,
        links: Vec::new(),
        info_key: "pow_two_factor_step_up",
        extra_forms: Vec::new(),
        scripts: Vec::new(),
    }
    .render(ctl, error)
}

async fn step_up_new(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::STEP_UP_NEW)
        .signed_in()
        .run(&req, async |ctl| {
            if !verify::is_enabled(ctl.signed_in()?) {
                return Ok(Outcome::redirect(&settings_path(&ctl.config)));
            }
            Ok(Outcome::render(|ctl: &Controller| step_up_page(ctl, None)))
        })
        .await
}

async fn step_up_create(req: HttpRequest, body: Bytes) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::STEP_UP)
        .signed_in()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let config = ctl.config.clone();
            let code = ctl.params.get("code").cloned().unwrap_or_default();
            let mut session = CookieSessionHandle::new(&ctl.req);
            match verify::step_up(
                &config,
                &pow_actix::web::ActixRequest(&ctl.req).facts(),
                &code,
                &mut *session,
            )
            .await?
            {
                Some(user) => {
                    ctl.user = Some(user);
                    let back = ctl.request_path.clone();
                    Ok(Outcome::redirect(
                        &back.unwrap_or_else(|| settings_path(&config)),
                    ))
                }
                None => Ok(Outcome::render(|ctl: &Controller| {
                    step_up_page(ctl, Some(ctl.text("pow_two_factor_invalid_code")))
                })),
            }
        })
        .await
}

fn account_link(ctl: &Controller) -> Link {
    Link::new(
        ctl.config
            .routes()
            .registration_path(&ctl.routes_ctx(), "edit"),
        ctl.text("link-edit-account"),
    )
}

/// The enrolment page: the QR code and key of `secret`, and the first code's form.
fn enrol_page(
    ctl: &Controller,
    ext: &TwoFactor,
    user: &User,
    secret: &str,
    error: Option<String>,
) -> Result<HttpResponse, PowError> {
    let account = user
        .user_id(ctl.config.user_schema())
        .unwrap_or_default()
        .to_owned();
    let url = totp::otpauth_url(secret, &ext.issuer, &account)
        .ok_or_else(|| PowError::Other("the enrolment secret does not decode".into()))?;
    let figure = totp::qr_svg(&url).unwrap_or_default();
    let key = ctl
        .config
        .messages()
        .message(
            &ctl.lang,
            "pow_two_factor_setup_key",
            &[("key", pow_actix::messages::MessageArg::from(secret))],
        )
        .unwrap_or_else(|| secret.to_owned());
    let code = Field::new(
        "code",
        ctl.text("pow_two_factor_code_label"),
        FieldType::Text,
    )
    .autocomplete("one-time-code")
    .required()
    .errors(error.into_iter().collect());
    let form = Form::new(
        settings_path(&ctl.config),
        ctl.text("pow_two_factor_enable_button"),
        "",
    )
    .field(code);
    let body = PageBody::Figure {
        figure,
        paragraphs: vec![ctl.text("pow_two_factor_setup_intro"), key],
        form,
        links: vec![account_link(ctl)],
    };
    render_page(
        &ctl.req,
        &ctl.config,
        &ctl.lang,
        Page::new("two_factor/new", "pow_two_factor_title_settings", body),
    )
}

/// The settings page of a user with a second factor.
fn enabled_page(ctl: &Controller, user: &User) -> Result<HttpResponse, PowError> {
    let left = ctl.config.messages().message(
        &ctl.lang,
        "pow_two_factor_enabled",
        &[(
            "count",
            pow_actix::messages::MessageArg::from(crate::recovery_codes_left(user) as i64),
        )],
    );
    let regenerate = Form::new(
        path(&ctl.config, CODES_PATH),
        ctl.text("pow_two_factor_regenerate_button"),
        "",
    );
    let disable = Form::new(
        path(&ctl.config, DISABLE_PATH),
        ctl.text("pow_two_factor_disable_button"),
        "",
    );
    let mut page = Page::new(
        "two_factor/show",
        "pow_two_factor_title_settings",
        PageBody::Form {
            form: regenerate,
            links: vec![account_link(ctl)],
            extra_forms: vec![disable],
        },
    );
    page.info = left;
    render_page(&ctl.req, &ctl.config, &ctl.lang, page)
}

/// The recovery codes, shown once.
fn codes_page(ctl: &Controller, codes: &[String]) -> Result<HttpResponse, PowError> {
    let mut page = Page::new(
        "two_factor/codes",
        "pow_two_factor_title_codes",
        PageBody::Text {
            paragraphs: codes.to_vec(),
            links: vec![
                Link::new(settings_path(&ctl.config), ctl.text("pow_two_factor_link")),
                account_link(ctl),
            ],
        },
    );
    page.info = Some(ctl.text("pow_two_factor_codes_intro"));
    render_page(&ctl.req, &ctl.config, &ctl.lang, page)
}

async fn settings(req: HttpRequest, ext: web::Data<TwoFactor>) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SETTINGS)
        .sudo()
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            if verify::is_enabled(&user) {
                return Ok(Outcome::render(move |ctl: &Controller| {
                    enabled_page(ctl, &user)
                }));
            }
            let secret = Records::new(&ctl.config).enrol_secret(user.id).await?;
            let ext = ext.get_ref().clone();
            Ok(Outcome::render(move |ctl: &Controller| {
                enrol_page(ctl, &ext, &user, &secret, None)
            }))
        })
        .await
}

async fn enable(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<TwoFactor>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::ENABLE)
        .changes_factor()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let config = ctl.config.clone();
            if verify::is_enabled(&user) {
                return Ok(Outcome::redirect(&settings_path(&config)));
            }
            let records = Records::new(&config);
            let secret = records.enrol_secret(user.id).await?;
            let code = ctl.params.get("code").cloned().unwrap_or_default();
            let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
            let step = totp::matching_step(&secret, &code, now);
            let claimed = match step {
                Some(step) => records.claim_step(user.id, step).await?,
                None => false,
            };
            if !claimed {
                let ext = ext.get_ref().clone();
                return Ok(Outcome::render(move |ctl: &Controller| {
                    let error = Some(ctl.text("pow_two_factor_invalid_code"));
                    enrol_page(ctl, &ext, &user, &secret, error)
                }));
            }
            records.take_enrol_secret(user.id).await?;
            let (user, codes) = verify::enable(&ext, &config, &user, &secret).await?;
            record(ctl, events::ENABLED, user.id);
            notify(ctl, &user, Notice::SecondFactorEnabled).await;
            ctl.user = Some(user);
            Ok(Outcome::render(move |ctl: &Controller| {
                codes_page(ctl, &codes)
            }))
        })
        .await
}

async fn regenerate(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<TwoFactor>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::CODES)
        .changes_factor()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let config = ctl.config.clone();
            if !verify::is_enabled(&user) {
                return Ok(Outcome::redirect(&settings_path(&config)));
            }
            let (user, codes) = verify::regenerate(&ext, &config, &user).await?;
            record(ctl, events::CODES_REGENERATED, user.id);
            notify(ctl, &user, Notice::RecoveryCodesRegenerated).await;
            ctl.user = Some(user);
            Ok(Outcome::render(move |ctl: &Controller| {
                codes_page(ctl, &codes)
            }))
        })
        .await
}

async fn disable(req: HttpRequest, body: Bytes) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::DISABLE)
        .changes_factor()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user = ctl.signed_in()?.clone();
            let config = ctl.config.clone();
            let user = verify::disable(&config, &user).await?;
            record(ctl, events::DISABLED, user.id);
            notify(ctl, &user, Notice::SecondFactorDisabled).await;
            ctl.user = Some(user);
            flash::put_info(&ctl.req, ctl.message("pow_two_factor_disabled"));
            Ok(Outcome::redirect(
                &config.routes().registration_path(&ctl.routes_ctx(), "edit"),
            ))
        })
        .await
}

//! The HTML pages.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use pow_actix::session::CookieSessionExt as _;
use pow_actix::session::CookieSessionHandle;
use pow_actix::users::{Changeset, Params};
use pow_actix::views::{Field, FieldType, Form, Link, PageBody};
use pow_actix::web::{
    extension_path, extra_fields, flash, new_password_fields, render_page, Action, Controller,
    FormData, Outcome, Page,
};
use pow_actix::{PowConfig, PowError};

use crate::flows::{
    self as flow, link_url, request_staged, staged_proven, token_path, Staged, Via, LINK_PATH,
    STAGED_TOKEN_PATH,
};
use crate::store::{Grant, Purpose, Records};
use crate::{actions, Passwordless, PasswordlessApi, NAME, SIGN_IN_PATH, STAGED_PATH};

const CODE_NEW_PATH: &str = "/passwordless/code/new";
const CODE_PATH: &str = "/passwordless/code";
const CODE_VERIFY_PATH: &str = "/passwordless/code/verify";

impl Passwordless {
    /// The JSON side, to add to [`ApiOptions`](pow_actix::api::ApiOptions) when the config
    /// does not enable the extension itself.
    pub fn api(&self) -> PasswordlessApi {
        PasswordlessApi::new(self.clone())
    }

    /// Starts a staged sign-up for `email` from the app (after an external identity gave
    /// the address, say): mails a link that proves the address and opens the sign-up form,
    /// prefilled with `prefill` (castable user fields). An address that has an account gets
    /// a sign-in link instead; the answer is the same.
    ///
    /// # Errors
    /// [`PowError::Config`] outside a pow-rs route; the store's, users context's or mailer's
    /// error; [`PowError::RateLimited`] over the per-client mail limit.
    pub async fn start_staged_sign_up(
        &self,
        req: &HttpRequest,
        email: &str,
        prefill: Params,
    ) -> Result<(), PowError> {
        let config = pow_actix::web::route_config(req)?;
        let lang = pow_actix::messages::request_language(
            &pow_actix::web::ActixRequest(req).facts(),
            config.messages(),
        );
        request_staged(
            &pow_actix::web::ActixRequest(req).facts(),
            &config,
            self,
            &lang,
            email,
            prefill,
        )
        .await
    }
}

pub(crate) fn path(config: &PowConfig, pattern: &str) -> String {
    extension_path(config, NAME, pattern, &[])
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig, config: &PowConfig, ext: &Passwordless) {
    let route = |pattern: &str| config.routes().extension_route(NAME, pattern);
    let data = web::Data::new(ext.clone());
    let resource = |pattern: &str| web::resource(route(pattern)).app_data(data.clone());
    cfg.service(
        resource(SIGN_IN_PATH)
            .route(web::get().to(link_new))
            .route(web::post().to(link_create)),
    )
    .service(
        resource(LINK_PATH)
            .route(web::get().to(link_show))
            .route(web::post().to(link_use)),
    )
    .service(resource(CODE_NEW_PATH).route(web::get().to(code_new)))
    .service(
        resource(CODE_PATH)
            .route(web::get().to(code_show))
            .route(web::post().to(code_create)),
    )
    .service(resource(CODE_VERIFY_PATH).route(web::post().to(code_use)))
    .service(
        resource(STAGED_PATH)
            .route(web::get().to(staged_new))
            .route(web::post().to(staged_create)),
    )
    .service(
        resource(STAGED_TOKEN_PATH)
            .route(web::get().to(staged_show))
            .route(web::post().to(staged_complete)),
    );
}

fn code_key(config: &PowConfig) -> String {
    config.namespaced("pow_passwordless_code")
}

fn email_form(ctl: &Controller, action: &str, submit: &str) -> Form {
    let email = Field::new("email", ctl.text("label-email"), FieldType::Email)
        .autocomplete("email")
        .required();
    Form::new(path(&ctl.config, action), ctl.text(submit), "").field(email)
}

fn render(
    ctl: &Controller,
    name: &'static str,
    title: &'static str,
    body: PageBody,
) -> Result<HttpResponse, PowError> {
    render_page(
        &ctl.req,
        &ctl.config,
        &ctl.lang,
        Page::new(name, title, body).with_captcha(),
    )
}

fn sign_in_link(ctl: &Controller) -> Link {
    Link::new(
        ctl.config.routes().session_path(&ctl.routes_ctx(), "new"),
        ctl.text("link-sign-in"),
    )
}

/// One of the pages asking for an address: which form, button, page and title, and
/// whether it offers a code instead.
struct EmailPage {
    action: &'static str,
    button: &'static str,
    name: &'static str,
    title: &'static str,
    code_instead: bool,
}

async fn email_page(req: HttpRequest, page: EmailPage) -> Result<HttpResponse, PowError> {
    Action::new(actions::NEW)
        .signed_out()
        .run(&req, async |_| {
            Ok(Outcome::render(move |ctl: &Controller| {
                let mut links = Vec::new();
                if page.code_instead {
                    links.push(Link::new(
                        path(&ctl.config, CODE_NEW_PATH),
                        ctl.text("pow_passwordless_link_code_instead"),
                    ));
                }
                links.push(sign_in_link(ctl));
                let body = PageBody::Form {
                    form: email_form(ctl, page.action, page.button),
                    links,
                    extra_forms: Vec::new(),
                };
                render(ctl, page.name, page.title, body)
            }))
        })
        .await
}

async fn link_new(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    let page = EmailPage {
        action: SIGN_IN_PATH,
        button: "pow_passwordless_button_link",
        name: "passwordless/new",
        title: "pow_passwordless_title_link",
        code_instead: true,
    };
    email_page(req, page).await.map_err(pow_actix::Error)
}

async fn code_new(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    let page = EmailPage {
        action: CODE_PATH,
        button: "pow_passwordless_button_code",
        name: "passwordless/code_new",
        title: "pow_passwordless_title_code",
        code_instead: false,
    };
    email_page(req, page).await.map_err(pow_actix::Error)
}

async fn staged_new(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    let page = EmailPage {
        action: STAGED_PATH,
        button: "pow_passwordless_button_staged",
        name: "passwordless/sign_up",
        title: "pow_passwordless_title_staged",
        code_instead: false,
    };
    email_page(req, page).await.map_err(pow_actix::Error)
}

/// Asks for a link or code, then answers with the same flash for every address.
async fn ask(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Passwordless>,
    via: Via,
    staged: bool,
    back: &'static str,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::REQUEST)
        .signed_out()
        .captcha()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let email = ctl.params.get("email").cloned().unwrap_or_default();
            let config = ctl.config.clone();
            let staged = staged.then(Params::new);
            let link = |token: &str, purpose| link_url(&config, token, purpose);
            let code_id = flow::request(
                &pow_actix::web::ActixRequest(&ctl.req).facts(),
                &config,
                &ext,
                &ctl.lang,
                &email,
                via,
                staged,
                link,
            )
            .await?;
            let key = match via {
                Via::Link => "pow_passwordless_link_sent",
                Via::Code => "pow_passwordless_code_sent",
            };
            if let Some(signed) = code_id {
                ctl.req.cookie_session().insert(code_key(&config), signed)?;
            }
            flash::put_info(&ctl.req, ctl.message(key));
            Ok(Outcome::redirect(&path(&config, back)))
        })
        .await
        .map_err(pow_actix::Error)
}

async fn link_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Passwordless>,
) -> pow_actix::Result<HttpResponse> {
    ask(req, body, ext, Via::Link, false, SIGN_IN_PATH).await
}

async fn code_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Passwordless>,
) -> pow_actix::Result<HttpResponse> {
    ask(req, body, ext, Via::Code, false, CODE_PATH).await
}

async fn staged_create(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Passwordless>,
) -> pow_actix::Result<HttpResponse> {
    ask(req, body, ext, Via::Link, true, STAGED_PATH).await
}

fn invalid(ctl: &Controller, key: &str) -> Outcome {
    flash::put_error(&ctl.req, ctl.message(key));
    Outcome::redirect(&path(&ctl.config, SIGN_IN_PATH))
}

/// A `GET` of the mailed link uses nothing: it shows the button that does.
async fn link_show(req: HttpRequest, token: web::Path<String>) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SHOW)
        .signed_out()
        .run(&req, async |_| {
            let token = token.into_inner();
            Ok(Outcome::render(move |ctl: &Controller| {
                let form = Form::new(
                    token_path(&ctl.config, LINK_PATH, &token),
                    ctl.text("pow_passwordless_button_sign_in"),
                    "",
                );
                let body = PageBody::Form {
                    form,
                    links: vec![sign_in_link(ctl)],
                    extra_forms: Vec::new(),
                };
                render(
                    ctl,
                    "passwordless/link",
                    "pow_passwordless_title_link",
                    body,
                )
            }))
        })
        .await
}

async fn link_use(
    req: HttpRequest,
    body: Bytes,
    token: web::Path<String>,
    ext: web::Data<Passwordless>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SIGN_IN)
        .signed_out()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let mut session = CookieSessionHandle::new(&ctl.req);
            let source = pow_actix::web::ActixRequest(&ctl.req).facts();
            let signed_in =
                flow::sign_in_with_link(&ctl.config, &source, &ext, &token, &mut *session).await?;
            answer_sign_in(ctl, signed_in)
        })
        .await
        .map_err(pow_actix::Error)
}

async fn finish_sign_in(
    ctl: &mut Controller,
    grant: Option<Grant>,
    method: &str,
) -> Result<Outcome, PowError> {
    let mut session = CookieSessionHandle::new(&ctl.req);
    let source = pow_actix::web::ActixRequest(&ctl.req).facts();
    let signed_in = flow::finish_sign_in(&ctl.config, &source, grant, method, &mut *session);
    let signed_in = signed_in.await?;
    answer_sign_in(ctl, signed_in)
}

/// The page's answer to a link or code that signed `user` in, or to one that did not.
fn answer_sign_in(
    ctl: &mut Controller,
    user: Option<pow_actix::User>,
) -> Result<Outcome, PowError> {
    let Some(user) = user else {
        return Ok(invalid(ctl, "pow_passwordless_invalid"));
    };
    flash::put_info(&ctl.req, ctl.config.messages().signed_in(&ctl.lang));
    ctl.user = Some(user);
    Ok(Outcome::redirect(
        &ctl.config.routes().after_sign_in_path(&ctl.routes_ctx()),
    ))
}

fn code_page(ctl: &Controller, error: Option<String>) -> Result<HttpResponse, PowError> {
    let code = Field::new(
        "code",
        ctl.text("pow_passwordless_label_code"),
        FieldType::Text,
    )
    .autocomplete("one-time-code")
    .required()
    .errors(error.into_iter().collect());
    let form = Form::new(
        path(&ctl.config, CODE_VERIFY_PATH),
        ctl.text("pow_passwordless_button_sign_in"),
        "",
    )
    .field(code);
    let body = PageBody::Form {
        form,
        links: vec![
            Link::new(
                path(&ctl.config, CODE_NEW_PATH),
                ctl.text("pow_passwordless_link_new_code"),
            ),
            sign_in_link(ctl),
        ],
        extra_forms: Vec::new(),
    };
    render(
        ctl,
        "passwordless/code",
        "pow_passwordless_title_code",
        body,
    )
}

async fn code_show(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SHOW)
        .signed_out()
        .run(&req, async |_| {
            Ok(Outcome::render(|ctl: &Controller| code_page(ctl, None)))
        })
        .await
}

async fn code_use(
    req: HttpRequest,
    body: Bytes,
    ext: web::Data<Passwordless>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SIGN_IN)
        .signed_out()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let key = code_key(&ctl.config);
            let signed = ctl.req.cookie_session().get::<String>(&key).ok().flatten();
            let code = ctl.params.get("code").cloned().unwrap_or_default();
            let (grant, exhausted) = match signed {
                Some(signed) => {
                    flow::use_code(
                        &ctl.config,
                        &pow_actix::web::ActixRequest(&ctl.req).facts(),
                        &ext,
                        &signed,
                        &code,
                    )
                    .await?
                }
                None => (None, false),
            };
            if exhausted {
                ctl.req.cookie_session().remove(&key);
                return Ok(invalid(ctl, "pow_passwordless_too_many_attempts"));
            }
            if grant.is_none() {
                return Ok(Outcome::render(|ctl: &Controller| {
                    code_page(ctl, Some(ctl.text("pow_passwordless_invalid_code")))
                }));
            }
            ctl.req.cookie_session().remove(&key);
            finish_sign_in(ctl, grant, "email_code").await
        })
        .await
        .map_err(pow_actix::Error)
}

/// The rest of the sign-up form for a proven address: castable fields prefilled from the
/// app's payload (or what was typed), an optional password.
fn staged_page(
    ctl: &Controller,
    token: &str,
    email: &str,
    params: &Params,
    changeset: Option<&Changeset>,
) -> Result<HttpResponse, PowError> {
    let mut fields = extra_fields(&ctl.config, &ctl.lang, params, changeset, None);
    fields.retain(|f| f.name != "email");
    fields.extend(new_password_fields(
        &ctl.config,
        &ctl.lang,
        changeset,
        false,
    ));
    let mut form = Form::new(
        token_path(&ctl.config, STAGED_TOKEN_PATH, token),
        ctl.text("pow_passwordless_button_complete"),
        "",
    );
    form.fields = fields;
    let body = PageBody::Form {
        form,
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    let mut page = Page::new(
        "passwordless/complete",
        "pow_passwordless_title_staged",
        body,
    );
    page.info = ctl.config.messages().message(
        &ctl.lang,
        "pow_passwordless_staged_for",
        &[("email", pow_actix::messages::MessageArg::from(email))],
    );
    render_page(&ctl.req, &ctl.config, &ctl.lang, page)
}

async fn staged_show(
    req: HttpRequest,
    token: web::Path<String>,
    ext: web::Data<Passwordless>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::SHOW)
        .signed_out()
        .run(&req, async |ctl| {
            let token = token.into_inner();
            let grant = Records::new(&ctl.config, ext.ttl)
                .link(&token)
                .await?
                .filter(|grant| grant.purpose == Purpose::Staged);
            let Some(grant) = grant else {
                return Ok(invalid(ctl, "pow_passwordless_invalid"));
            };
            Ok(Outcome::render(move |ctl: &Controller| {
                staged_page(ctl, &token, &grant.email, &grant.prefill, None)
            }))
        })
        .await
}

async fn staged_complete(
    req: HttpRequest,
    body: Bytes,
    token: web::Path<String>,
    ext: web::Data<Passwordless>,
) -> pow_actix::Result<HttpResponse> {
    Action::new(actions::COMPLETE)
        .signed_out()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let token = token.into_inner();
            let typed = ctl.params.clone();
            match flow::complete_staged(
                &pow_actix::web::ActixRequest(&ctl.req).facts(),
                &ctl.config,
                &ext,
                &token,
                typed,
            )
            .await?
            {
                Staged::Invalid => Ok(invalid(ctl, "pow_passwordless_invalid")),
                Staged::Created {
                    user,
                    with_password,
                } => {
                    let mut session = CookieSessionHandle::new(&ctl.req);
                    let method = flow::STAGED_METHOD;
                    flow::sign_in(&ctl.config, &user, method, with_password, &mut *session).await?;
                    staged_proven(ctl, &user);
                    ctl.user = Some(user);
                    Ok(Outcome::redirect(
                        &ctl.config
                            .routes()
                            .after_registration_path(&ctl.routes_ctx()),
                    ))
                }
                Staged::Refused {
                    changeset,
                    email,
                    params,
                } => Ok(Outcome::render(move |ctl: &Controller| {
                    staged_page(ctl, &token, &email, &params, Some(&changeset))
                })),
            }
        })
        .await
}

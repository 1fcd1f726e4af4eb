//! The passwordless pages on the engine: asking for a link or a code, the mailed link's
//! button, typing the code, and the staged sign-up (the address first, the rest of the form
//! from the mailed link), with their page routes, which every framework layer mounts from
//! the engine's table.

use std::sync::Arc;

use pow_core::error::PowError;
use pow_core::messages::MessageArg;
use pow_core::pages::routes::{PageRoute, PathParams, Verb};
use pow_core::pages::{extra_fields, form, new_password_fields, Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Step};
use pow_core::session::CookieSession;
use pow_core::users::{Changeset, Params, User};
use pow_core::views::{Field, FieldType, Link, PageBody, PageId};
use pow_core::PowConfig;

use crate::flows::Grant;
use crate::flows::{
    self as flow, link_url, staged_proven, token_path, Staged, Via, LINK_PATH, STAGED_TOKEN_PATH,
};
use crate::{actions, Passwordless, NAME, SIGN_IN_PATH, STAGED_PATH};

/// "Email me a code", relative to the mount path.
const CODE_NEW_PATH: &str = "/passwordless/code/new";
/// Where a code is asked for (`POST`) and typed (`GET`), relative to the mount path.
const CODE_PATH: &str = "/passwordless/code";
/// Where the typed code is sent, relative to the mount path.
const CODE_VERIFY_PATH: &str = "/passwordless/code/verify";

/// The page asking for an address to mail a sign-in link to.
pub(crate) const NEW_PAGE: PageId = PageId::new("passwordless/new");
/// The page asking for an address to mail a code to.
pub(crate) const CODE_NEW_PAGE: PageId = PageId::new("passwordless/code_new");
/// The staged sign-up's first page: the address.
pub(crate) const SIGN_UP_PAGE: PageId = PageId::new("passwordless/sign_up");
/// The rest of a staged sign-up's form.
pub(crate) const COMPLETE_PAGE: PageId = PageId::new("passwordless/complete");
/// The mailed link's page, with the button that signs in.
pub(crate) const LINK_PAGE: PageId = PageId::new("passwordless/link");
/// The page the code is typed on.
pub(crate) const CODE_PAGE: PageId = PageId::new("passwordless/code");

/// The extension's page routes, all for signed-out visitors: the forms asking for a link,
/// a code or a staged sign-up (CAPTCHA-checked when they post), the mailed link's page and
/// its button, the code's page and its check, and the staged sign-up's form.
pub(crate) fn page_routes(ext: &Passwordless) -> Vec<PageRoute> {
    let ext = Arc::new(ext.clone());
    let routes = [
        PageRoute::show(SIGN_IN_PATH, actions::NEW, link_new),
        PageRoute::new(
            Verb::Post,
            SIGN_IN_PATH,
            actions::REQUEST,
            pow_core::page_act!(ext, ask, Via::Link, false, SIGN_IN_PATH),
        )
        .captcha(),
        // A `GET` of the mailed link uses nothing: it shows the button that does.
        PageRoute::show(LINK_PATH, actions::SHOW, link_show),
        PageRoute::new(
            Verb::Post,
            LINK_PATH,
            actions::SIGN_IN,
            pow_core::page_act!(ext, link_use),
        ),
        PageRoute::show(CODE_NEW_PATH, actions::NEW, code_new),
        PageRoute::show(CODE_PATH, actions::SHOW, code_show),
        PageRoute::new(
            Verb::Post,
            CODE_PATH,
            actions::REQUEST,
            pow_core::page_act!(ext, ask, Via::Code, false, CODE_PATH),
        )
        .captcha(),
        PageRoute::new(
            Verb::Post,
            CODE_VERIFY_PATH,
            actions::SIGN_IN,
            pow_core::page_act!(ext, code_use),
        ),
        PageRoute::show(STAGED_PATH, actions::NEW, staged_new),
        PageRoute::new(
            Verb::Post,
            STAGED_PATH,
            actions::REQUEST,
            pow_core::page_act!(ext, ask, Via::Link, true, STAGED_PATH),
        )
        .captcha(),
        // Reads the link without using it up, but answers a redirect for a bad one: not a
        // route that only shows a page.
        PageRoute::new(
            Verb::Get,
            STAGED_TOKEN_PATH,
            actions::SHOW,
            pow_core::page_act!(ext, staged_show),
        ),
        PageRoute::new(
            Verb::Post,
            STAGED_TOKEN_PATH,
            actions::COMPLETE,
            pow_core::page_act!(ext, staged_complete),
        ),
    ];
    routes
        .into_iter()
        .map(|route| route.signed_out().of_extension(NAME))
        .collect()
}

/// `pattern` under the setup's mount point, where the routes backend puts it.
fn path(config: &PowConfig, pattern: &str) -> String {
    pow_core::config::extension_path(config, NAME, pattern, &[])
}

/// The cookie-session key holding the signed id of the code this browser asked for.
fn code_key(config: &PowConfig) -> String {
    config.namespaced("pow_passwordless_code")
}

/// The `{token}` segment of the request's path.
fn path_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|params| params.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// The link to the sign-in page.
fn sign_in_link(step: &Step) -> Link {
    Link::new(
        step.config.routes().session_path(&step.routes_ctx(), "new"),
        step.text("link-sign-in"),
    )
}

/// One of the pages asking for an address: which form, button, page and title, and
/// whether it offers a code instead.
struct EmailPage {
    action: &'static str,
    button: &'static str,
    name: PageId,
    title: &'static str,
    code_instead: bool,
}

impl EmailPage {
    /// The page, its form posting the address to its action.
    fn page(self, step: &Step, cookie: &CookieSession) -> Page {
        let email = Field::new("email", step.text("label-email"), FieldType::Email)
            .autocomplete("email")
            .required();
        let mut links = Vec::new();
        if self.code_instead {
            links.push(Link::new(
                path(&step.config, CODE_NEW_PATH),
                step.text("pow_passwordless_link_code_instead"),
            ));
        }
        links.push(sign_in_link(step));
        let body = PageBody::Form {
            form: form(
                cookie,
                path(&step.config, self.action),
                None,
                vec![email],
                step.text(self.button),
            ),
            links,
            extra_forms: Vec::new(),
        };
        Page::new(self.name, self.title, body).with_captcha()
    }

    /// [`Answer::Render`] of the page.
    fn answer(self) -> Answer {
        Answer::render(move |step, cookie| Ok(self.page(step, cookie)))
    }
}

/// `passwordless#new` at `/passwordless`: "email me a sign-in link".
fn link_new() -> Answer {
    EmailPage {
        action: SIGN_IN_PATH,
        button: "pow_passwordless_button_link",
        name: NEW_PAGE,
        title: "pow_passwordless_title_link",
        code_instead: true,
    }
    .answer()
}

/// `passwordless#new` at `/passwordless/code/new`: "email me a code".
fn code_new() -> Answer {
    EmailPage {
        action: CODE_PATH,
        button: "pow_passwordless_button_code",
        name: CODE_NEW_PAGE,
        title: "pow_passwordless_title_code",
        code_instead: false,
    }
    .answer()
}

/// `passwordless#new` at `/passwordless/sign-up`: the staged sign-up's address.
fn staged_new() -> Answer {
    EmailPage {
        action: STAGED_PATH,
        button: "pow_passwordless_button_staged",
        name: SIGN_UP_PAGE,
        title: "pow_passwordless_title_staged",
        code_instead: false,
    }
    .answer()
}

/// `passwordless#request`: mails a link or a code (`staged`: a staged sign-up's link) to
/// the posted address, then answers every address with the same flash and the redirect to
/// `back`. A code's signed id is kept in this browser's session.
///
/// # Errors
/// A rate limit's refusal, the store's, users context's or mailer's error.
async fn ask(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passwordless,
    via: Via,
    staged: bool,
    back: &'static str,
) -> Result<Answer, PowError> {
    let email = step.params.get("email").cloned().unwrap_or_default();
    let config = step.config.clone();
    let facts = client.facts();
    let staged = staged.then(Params::new);
    let link = |token: &str, purpose| link_url(&config, token, purpose);
    let code_id =
        flow::request(&facts, &config, ext, &step.lang, &email, via, staged, link).await?;
    let key = match via {
        Via::Link => "pow_passwordless_link_sent",
        Via::Code => "pow_passwordless_code_sent",
    };
    if let Some(signed) = code_id {
        client.set_value(&code_key(&config), &signed)?;
    }
    client.flash(FlashKind::Info, step.message(key));
    Ok(Answer::Redirect(path(&config, back)))
}

/// The answer to a link or code that stands for nothing (`key` says why): the form asking
/// for a link, which shows it.
fn invalid(step: &Step, client: &mut dyn Client, key: &str) -> Answer {
    client.flash(FlashKind::Error, step.message(key));
    Answer::Redirect(path(&step.config, SIGN_IN_PATH))
}

/// `passwordless#show` of the mailed link: the button that signs in (the `GET` uses
/// nothing).
fn link_show() -> Answer {
    Answer::render(|step, cookie| {
        let token = path_token(step);
        let body = PageBody::Form {
            form: form(
                cookie,
                token_path(&step.config, LINK_PATH, &token),
                None,
                Vec::new(),
                step.text("pow_passwordless_button_sign_in"),
            ),
            links: vec![sign_in_link(step)],
            extra_forms: Vec::new(),
        };
        Ok(Page::new(LINK_PAGE, "pow_passwordless_title_link", body).with_captcha())
    })
}

/// `passwordless#sign_in` of the mailed link: takes it (it works once) and signs its user
/// in.
///
/// # Errors
/// [`PowError::RateLimited`] for a locked account; the store's or users context's error.
async fn link_use(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passwordless,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    let facts = client.facts();
    let signed_in =
        flow::sign_in_with_link(&step.config, &facts, ext, &token, client.session()).await?;
    Ok(answer_sign_in(step, client, signed_in))
}

/// The answer to a link or code that signed `user` in, or to one that did not.
fn answer_sign_in(step: &mut Step, client: &mut dyn Client, user: Option<User>) -> Answer {
    let Some(user) = user else {
        return invalid(step, client, "pow_passwordless_invalid");
    };
    client.flash(
        FlashKind::Info,
        step.config.messages().signed_in(&step.lang),
    );
    step.user = Some(user);
    Answer::Redirect(step.config.routes().after_sign_in_path(&step.routes_ctx()))
}

/// The page the code is typed on, with `error` under the field after a wrong one.
fn code_page(step: &Step, cookie: &CookieSession, error: Option<String>) -> Page {
    let code = Field::new(
        "code",
        step.text("pow_passwordless_label_code"),
        FieldType::Text,
    )
    .autocomplete("one-time-code")
    .required()
    .errors(error.into_iter().collect());
    let body = PageBody::Form {
        form: form(
            cookie,
            path(&step.config, CODE_VERIFY_PATH),
            None,
            vec![code],
            step.text("pow_passwordless_button_sign_in"),
        ),
        links: vec![
            Link::new(
                path(&step.config, CODE_NEW_PATH),
                step.text("pow_passwordless_link_new_code"),
            ),
            sign_in_link(step),
        ],
        extra_forms: Vec::new(),
    };
    Page::new(CODE_PAGE, "pow_passwordless_title_code", body).with_captcha()
}

/// `passwordless#show` of a code: the page it is typed on.
fn code_show() -> Answer {
    Answer::render(|step, cookie| Ok(code_page(step, cookie, None)))
}

/// `passwordless#sign_in` with a code: checks the typed code against the one this browser
/// asked for (its signed id in the session) and signs its user in; the page again after a
/// wrong code, the link form once the code's tries are used up.
///
/// # Errors
/// [`PowError::RateLimited`] for a locked account; the store's or users context's error.
async fn code_use(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passwordless,
) -> Result<Answer, PowError> {
    let key = code_key(&step.config);
    let signed = client.value(&key);
    let code = step.params.get("code").cloned().unwrap_or_default();
    let (grant, exhausted) = match signed {
        Some(signed) => {
            let facts = client.facts();
            flow::use_code(&step.config, &facts, ext, &signed, &code).await?
        }
        None => (None, false),
    };
    if exhausted {
        client.remove_value(&key);
        return Ok(invalid(step, client, "pow_passwordless_too_many_attempts"));
    }
    if grant.is_none() {
        return Ok(Answer::render(|step, cookie| {
            let error = step.text("pow_passwordless_invalid_code");
            Ok(code_page(step, cookie, Some(error)))
        }));
    }
    client.remove_value(&key);
    finish_sign_in(step, client, grant, "email_code").await
}

/// Signs the client in as the user of `grant` (taken already), recording `method`.
async fn finish_sign_in(
    step: &mut Step,
    client: &mut dyn Client,
    grant: Option<Grant>,
    method: &str,
) -> Result<Answer, PowError> {
    let facts = client.facts();
    let signed_in =
        flow::finish_sign_in(&step.config, &facts, grant, method, client.session()).await?;
    Ok(answer_sign_in(step, client, signed_in))
}

/// The rest of the sign-up form for a proven address: castable fields prefilled from the
/// app's payload (or what was typed), an optional password.
fn staged_page(
    step: &Step,
    cookie: &CookieSession,
    token: &str,
    email: &str,
    params: &Params,
    changeset: Option<&Changeset>,
) -> Page {
    let (config, lang) = (&step.config, &step.lang);
    let mut fields = extra_fields(config, lang, params, changeset, None);
    fields.retain(|f| f.name != "email");
    fields.extend(new_password_fields(config, lang, changeset, false));
    let body = PageBody::Form {
        form: form(
            cookie,
            token_path(config, STAGED_TOKEN_PATH, token),
            None,
            fields,
            step.text("pow_passwordless_button_complete"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    let mut page = Page::new(COMPLETE_PAGE, "pow_passwordless_title_staged", body);
    page.info = config.messages().message(
        lang,
        "pow_passwordless_staged_for",
        &[("email", MessageArg::from(email))],
    );
    page
}

/// `passwordless#show` of a staged sign-up's link: the rest of the form, while the link
/// works (it is not used up).
///
/// # Errors
/// The store's error.
async fn staged_show(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passwordless,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    let grant = flow::staged_grant(&step.config, ext, &token).await?;
    let Some(grant) = grant else {
        return Ok(invalid(step, client, "pow_passwordless_invalid"));
    };
    Ok(Answer::render(move |step, cookie| {
        Ok(staged_page(
            step,
            cookie,
            &token,
            &grant.email,
            &grant.prefill,
            None,
        ))
    }))
}

/// `passwordless#complete`: makes the account of a staged sign-up with the posted fields
/// and signs it in; the form again with its errors (the link still works).
///
/// # Errors
/// The store's or users context's error, or the session's refusal to start.
async fn staged_complete(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passwordless,
) -> Result<Answer, PowError> {
    let token = path_token(step);
    let typed = step.params.clone();
    let facts = client.facts();
    match flow::complete_staged(&facts, &step.config, ext, &token, typed).await? {
        Staged::Invalid => Ok(invalid(step, client, "pow_passwordless_invalid")),
        Staged::Created {
            user,
            with_password,
        } => {
            let method = flow::STAGED_METHOD;
            flow::sign_in(&step.config, &user, method, with_password, client.session()).await?;
            staged_proven(step, &user);
            step.user = Some(user);
            Ok(Answer::Redirect(
                step.config
                    .routes()
                    .after_registration_path(&step.routes_ctx()),
            ))
        }
        Staged::Refused {
            changeset,
            email,
            params,
        } => Ok(Answer::render(move |step, cookie| {
            Ok(staged_page(
                step,
                cookie,
                &token,
                &email,
                &params,
                Some(&changeset),
            ))
        })),
    }
}

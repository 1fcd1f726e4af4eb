//! The reset-password pages (Pow's `ResetPasswordController`) on the engine: the request
//! form, the mailed link's new-password form, and their page routes, which every framework
//! layer mounts from the engine's table.

use std::sync::Arc;

use pow_core::config::extension_path;
use pow_core::error::PowError;
use pow_core::messages::LanguageIdentifier;
use pow_core::pages::routes::{PageRoute, PathParams, Verb};
use pow_core::pages::{field, form, new_password_fields, Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Step};
use pow_core::session::CookieSession;
use pow_core::users::Changeset;
use pow_core::views::{FieldType, Link, PageBody};
use pow_core::PowConfig;

use crate::flows::{self as flow, Requested, Reset};
use crate::{actions, ResetPassword, NAME, NEW_PATH};

/// Where the request form posts, relative to the mount path.
const CREATE_PATH: &str = "/reset-password";
/// The new-password form of a token, relative to the mount path.
const TOKEN_PATH: &str = "/reset-password/{token}";

/// The extension's page routes.
pub(crate) fn page_routes(ext: &ResetPassword) -> Vec<PageRoute> {
    let ext = Arc::new(ext.clone());
    let (create_ext, edit_ext) = (Arc::clone(&ext), Arc::clone(&ext));
    let mut routes = vec![
        PageRoute::show(NEW_PATH, actions::NEW, new).signed_out(),
        PageRoute::new(
            Verb::Post,
            CREATE_PATH,
            actions::CREATE,
            move |step, client| {
                let ext = Arc::clone(&create_ext);
                Box::pin(async move { create(step, client, &ext).await })
            },
        )
        .signed_out()
        .captcha(),
        PageRoute::new(Verb::Get, TOKEN_PATH, actions::EDIT, move |step, client| {
            let ext = Arc::clone(&edit_ext);
            Box::pin(async move { edit(step, client, &ext).await })
        })
        .signed_out(),
    ];
    for verb in [Verb::Patch, Verb::Put] {
        let ext = Arc::clone(&ext);
        routes.push(
            PageRoute::new(verb, TOKEN_PATH, actions::UPDATE, move |step, client| {
                let ext = Arc::clone(&ext);
                Box::pin(async move { update(step, client, &ext).await })
            })
            .signed_out(),
        );
    }
    routes
        .into_iter()
        .map(|route| route.of_extension(NAME))
        .collect()
}

/// `pattern` under the setup's mount point, where the routes backend puts it.
fn mounted(config: &PowConfig, pattern: &str) -> String {
    extension_path(config, NAME, pattern, &[])
}

/// The edit/update path of a signed token: the page reset mails link to.
pub(crate) fn token_path(config: &PowConfig, signed: &str) -> String {
    extension_path(config, NAME, TOKEN_PATH, &[("token", signed)])
}

fn sign_in_path(step: &Step) -> String {
    step.config.routes().session_path(&step.routes_ctx(), "new")
}

fn new_page(
    step: &Step,
    cookie: &CookieSession,
    email: Option<&str>,
    error: Option<String>,
) -> Page {
    let (config, lang) = (&step.config, &step.lang);
    let messages = config.messages();
    let fields = vec![field(config, lang, "email", FieldType::Email, email, None)];
    let body = PageBody::Form {
        form: form(
            cookie,
            mounted(config, CREATE_PATH),
            None,
            fields,
            messages.text(lang, "pow_reset_password_button_request"),
        ),
        links: vec![Link::new(
            sign_in_path(step),
            messages.text(lang, "link-sign-in"),
        )],
        extra_forms: Vec::new(),
    };
    let mut page =
        Page::new("reset_password/new", "pow_reset_password_title_new", body).with_captcha();
    page.error = error;
    page
}

/// `reset_password#new`: the request form.
fn new() -> Answer {
    Answer::render(|step, cookie| Ok(new_page(step, cookie, None, None)))
}

/// `reset_password#create`: mails a reset link to the posted address when it is a user's;
/// the answer does not say whether it is, unless the setup allows user enumeration.
async fn create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &ResetPassword,
) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let facts = client.facts();
    let raw_email = step.params.get("email").cloned().unwrap_or_default();
    let link = |signed: &str| {
        config.mail_link(crate::LINK, signed, || {
            config.url_for(&facts, &token_path(&config, signed))
        })
    };
    let requested = flow::request_link(&facts, &config, ext, &step.lang, &raw_email, link).await?;
    let flash_key = match requested {
        Requested::Known => "pow_reset_password_email_has_been_sent",
        Requested::Unknown if !config.prevent_user_enumeration() => {
            return Ok(Answer::render(|step, cookie| {
                let error = step.message("pow_reset_password_user_not_found");
                let shown = step.params.get("email").map(String::as_str);
                Ok(new_page(step, cookie, shown, error))
            }));
        }
        Requested::Unknown => "pow_reset_password_maybe_email_has_been_sent",
    };
    client.flash(FlashKind::Info, step.message(flash_key));
    Ok(Answer::Redirect(sign_in_path(step)))
}

/// The signed token in the path.
fn signed_token(step: &Step) -> String {
    step.assigns
        .get::<PathParams>()
        .and_then(|path| path.get("token"))
        .unwrap_or_default()
        .to_owned()
}

/// The answer for a bad, used or expired token: back to the request form, which says so.
fn invalid_token(step: &Step, client: &mut dyn Client) -> Answer {
    client.flash(
        FlashKind::Error,
        step.message("pow_reset_password_invalid_token"),
    );
    Answer::Stop(mounted(&step.config, NEW_PATH))
}

fn edit_page(
    config: &PowConfig,
    lang: &LanguageIdentifier,
    cookie: &CookieSession,
    signed: &str,
    changeset: Option<&Changeset>,
) -> Page {
    let messages = config.messages();
    let fields = new_password_fields(config, lang, changeset, true).to_vec();
    let body = PageBody::Form {
        form: form(
            cookie,
            token_path(config, signed),
            Some("PATCH"),
            fields,
            messages.text(lang, "pow_reset_password_button_reset"),
        ),
        links: Vec::new(),
        extra_forms: Vec::new(),
    };
    Page::new("reset_password/edit", "pow_reset_password_title_edit", body)
        // The token is in the URL: never send it to another site.
        .with_header("referrer-policy", "no-referrer")
}

/// `reset_password#edit`: the new-password form of a working token.
async fn edit(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &ResetPassword,
) -> Result<Answer, PowError> {
    let signed = signed_token(step);
    let Some(loaded) = flow::check_token(&step.config, ext, &signed).await? else {
        return Ok(invalid_token(step, client));
    };
    step.user = Some(loaded.user);
    Ok(Answer::render(move |step, cookie| {
        Ok(edit_page(&step.config, &step.lang, cookie, &signed, None))
    }))
}

/// `reset_password#update`: sets the posted password with a working token, once.
async fn update(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &ResetPassword,
) -> Result<Answer, PowError> {
    let signed = signed_token(step);
    let params = step.params.clone();
    let facts = client.facts();
    let scope = (
        &step.config,
        &facts as &dyn pow_core::request::RequestSource,
        &step.lang,
    );
    let Some(reset) = flow::reset_with_token(scope, ext, &signed, &params).await? else {
        return Ok(invalid_token(step, client));
    };
    match reset {
        Reset::Done(updated) => {
            let text = step.message("pow_reset_password_password_has_been_reset");
            client.flash(FlashKind::Info, text);
            step.user = Some(updated);
            Ok(Answer::Redirect(sign_in_path(step)))
        }
        // The edit form again, with the changeset's errors; the token stays valid.
        Reset::Invalid(changeset) => {
            step.changeset = Some(changeset);
            Ok(Answer::render(move |step, cookie| {
                Ok(edit_page(
                    &step.config,
                    &step.lang,
                    cookie,
                    &signed,
                    step.changeset.as_ref(),
                ))
            }))
        }
        Reset::TokenGone => Ok(invalid_token(step, client)),
    }
}

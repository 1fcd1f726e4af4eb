//! The two-factor pages on the engine: the second step of a sign-in, the step-up page,
//! enrolment and the settings (new recovery codes, turning it off), with their page routes,
//! which every framework layer mounts from the engine's table.

use std::sync::Arc;

use pow_core::config::returning_to;
use pow_core::error::PowError;
use pow_core::messages::MessageArg;
use pow_core::pages::routes::{ActFuture, PageRoute, Verb};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Step};
use pow_core::session::CookieSession;
use pow_core::users::User;
use pow_core::views::{Field, FieldType, Form, Link, PageBody, PageId};
use pow_core::PowConfig;

use crate::flows::{
    self as verify, Answer as Given, Change, Changed, Confirmed, Enrolment, SecondStep,
};
use crate::{
    actions, path, pending_key, settings_path, totp, TwoFactor, NAME, PENDING_SALT, PERSIST_FIELD,
    SETTINGS_PATH, STEP_UP_PATH, VERIFY_PATH,
};

/// New recovery codes, relative to the mount path.
const CODES_PATH: &str = "/two-factor/recovery-codes";
/// Turning the second factor off, relative to the mount path.
const DISABLE_PATH: &str = "/two-factor/disable";

/// The second step's page.
const VERIFY_PAGE: PageId = PageId::new("two_factor/verify");
/// The enrolment page: the QR code, the key and the first code's form.
const NEW_PAGE: PageId = PageId::new("two_factor/new");
/// The settings of a user with a second factor.
const SHOW_PAGE: PageId = PageId::new("two_factor/show");
/// The recovery codes, shown once.
const CODES_PAGE: PageId = PageId::new("two_factor/codes");
/// The step-up page.
const STEP_UP_PAGE: PageId = PageId::new("two_factor/step_up");

/// The extension's page routes: the settings and their changes (sudo mode; the changes
/// are factor changes), the step-up page (signed in) and the second step of a sign-in
/// (signed out). Every `GET` here has an effect (a secret set up, a challenge issued, a
/// redirect), so none answers `HEAD`.
pub(crate) fn page_routes(ext: &TwoFactor) -> Vec<PageRoute> {
    let ext = Arc::new(ext.clone());
    let routes = [
        PageRoute::new(
            Verb::Get,
            SETTINGS_PATH,
            actions::SETTINGS,
            pow_core::page_act!(ext, settings),
        )
        .sudo(),
        PageRoute::new(
            Verb::Post,
            SETTINGS_PATH,
            actions::ENABLE,
            pow_core::page_act!(ext, enable),
        )
        .changes_factor(),
        PageRoute::new(
            Verb::Post,
            CODES_PATH,
            actions::CODES,
            pow_core::page_act!(ext, regenerate),
        )
        .changes_factor(),
        PageRoute::new(
            Verb::Post,
            DISABLE_PATH,
            actions::DISABLE,
            pow_core::page_act!(ext, disable),
        )
        .changes_factor(),
        PageRoute::new(Verb::Get, STEP_UP_PATH, actions::STEP_UP_NEW, |s, c| {
            Box::pin(step_up_new(s, c)) as ActFuture<'_>
        })
        .signed_in(),
        PageRoute::new(Verb::Post, STEP_UP_PATH, actions::STEP_UP, |s, c| {
            Box::pin(step_up_create(s, c)) as ActFuture<'_>
        })
        .signed_in(),
        PageRoute::new(Verb::Get, VERIFY_PATH, actions::VERIFY_NEW, |s, c| {
            Box::pin(verify_new(s, c)) as ActFuture<'_>
        })
        .signed_out(),
        PageRoute::new(
            Verb::Post,
            VERIFY_PATH,
            actions::VERIFY,
            pow_core::page_act!(ext, verify_create),
        )
        .signed_out(),
    ];
    routes
        .into_iter()
        .map(|route| route.of_extension(NAME))
        .collect()
}

/// The pending sign-in id in the browser's cookie session, if its signature holds.
fn pending_id(client: &dyn Client, config: &PowConfig) -> Option<String> {
    let signed = client.value(&pending_key(config))?;
    config.verifier().verify_token(PENDING_SALT, &signed)
}

/// Ends the browser's pending sign-in and sends it to the sign-in page, with the error
/// `key` says.
fn back_to_sign_in(step: &Step, client: &mut dyn Client, key: &str) -> Answer {
    client.remove_value(&pending_key(&step.config));
    client.flash(FlashKind::Error, step.message(key));
    Answer::Redirect(step.config.routes().session_path(&step.routes_ctx(), "new"))
}

/// A page asking for a code: the sign-in's second step, or a step-up. The form posts to
/// `action` with the code and `hidden` fields; `info_key` says why it is asked.
struct CodePage<'a> {
    name: PageId,
    action: String,
    hidden: Option<Field>,
    links: Vec<Link>,
    info_key: &'a str,
    /// The forms of other second factors, and the scripts they need.
    extra_forms: Vec<Form>,
    scripts: Vec<String>,
}

impl CodePage<'_> {
    /// The page, with `error` under the code field.
    fn page(self, step: &Step, cookie: &CookieSession, error: Option<String>) -> Page {
        let code = Field::new(
            "code",
            step.text("pow_two_factor_verify_label"),
            FieldType::Text,
        )
        .autocomplete("one-time-code")
        .required()
        .errors(error.into_iter().collect());
        let mut fields = vec![code];
        fields.extend(self.hidden);
        let body = PageBody::Form {
            form: form(
                cookie,
                self.action,
                None,
                fields,
                step.text("pow_two_factor_verify_button"),
            ),
            links: self.links,
            extra_forms: self.extra_forms,
        };
        let mut page = Page::new(self.name, "pow_two_factor_title_verify", body);
        page.scripts = self.scripts;
        page.info = Some(step.text(self.info_key));
        page
    }
}

/// Another extension's second factor on the second step's page: a new challenge.
struct FactorChallenge {
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
    step: &Step,
    cookie: &CookieSession,
    persist: bool,
    error: Option<String>,
    totp: bool,
    factors: &[FactorChallenge],
) -> Page {
    let action = path(&step.config, VERIFY_PATH);
    let persist_field =
        || Field::new(PERSIST_FIELD, "", FieldType::Hidden).value(persist.to_string());
    let mut extra_forms = Vec::new();
    let mut scripts = Vec::new();
    for factor in factors {
        let mut fields = vec![
            Field::new("factor", "", FieldType::Hidden).value(factor.name),
            persist_field(),
        ];
        for (name, value) in &factor.fields {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            fields.push(Field::new(name.clone(), "", FieldType::Hidden).value(value));
        }
        extra_forms.push(form(
            cookie,
            action.clone(),
            None,
            fields,
            step.text(factor.button_key),
        ));
        scripts.extend(factor.script.clone());
    }
    let links = vec![Link::new(
        step.config.routes().session_path(&step.routes_ctx(), "new"),
        step.text("pow_two_factor_cancel"),
    )];
    if !totp && !extra_forms.is_empty() {
        let form = extra_forms.remove(0);
        let body = PageBody::Form {
            form,
            links,
            extra_forms,
        };
        let mut page = Page::new(VERIFY_PAGE, "pow_two_factor_title_verify", body);
        page.scripts = scripts;
        page.info = Some(step.text("pow_two_factor_required_key"));
        page.error = error;
        return page;
    }
    CodePage {
        name: VERIFY_PAGE,
        action,
        hidden: Some(persist_field()),
        links,
        info_key: "pow_two_factor_required",
        extra_forms,
        scripts,
    }
    .page(step, cookie, error)
}

/// What the second step's form sent: another factor's answer (its form's fields, as a
/// JSON object) or a code.
fn form_answer(step: &Step) -> Given {
    match step.params.get("factor") {
        Some(name) => {
            let fields: serde_json::Map<String, serde_json::Value> = step
                .params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
                .collect();
            Given::Factor(name.clone(), serde_json::Value::Object(fields))
        }
        None => Given::Code(step.params.get("code").cloned().unwrap_or_default()),
    }
}

/// `two_factor_verify#new`: the second step's page for the browser's pending sign-in (a
/// new challenge of each other factor the user has); the sign-in page when there is none.
///
/// # Errors
/// The store's or users context's error, or another factor's challenge's.
async fn verify_new(step: &mut Step, client: &mut dyn Client) -> Result<Answer, PowError> {
    let waiting = match pending_id(client, &step.config) {
        Some(id) => verify::waiting(&step.config, &id).await?,
        None => None,
    };
    let Some((pending, user)) = waiting else {
        return Ok(back_to_sign_in(step, client, "pow_two_factor_expired"));
    };
    let factors = factor_challenges(&step.config, &user).await?;
    let totp = verify::is_enabled(&user);
    Ok(Answer::render(move |step, cookie| {
        Ok(verify_page(
            step,
            cookie,
            pending.persist,
            None,
            totp,
            &factors,
        ))
    }))
}

/// `two_factor_verify#create`: checks the answer for the browser's pending sign-in and,
/// when it is right, signs its user in; the page again after a wrong one, the sign-in page
/// once the pending sign-in is over.
///
/// # Errors
/// A locked account's refusal; the store's or users context's error.
async fn verify_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &TwoFactor,
) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let Some(id) = pending_id(client, &config) else {
        return Ok(back_to_sign_in(step, client, "pow_two_factor_expired"));
    };
    let answer = form_answer(step);
    let facts = client.facts();
    let outcome = verify::second_step(&config, &facts, ext, &id, &answer, client.session()).await?;
    match outcome {
        SecondStep::SignedIn(user) => {
            client.remove_value(&pending_key(&config));
            client.flash(FlashKind::Info, config.messages().signed_in(&step.lang));
            step.user = Some(user);
            Ok(Answer::Redirect(
                config.routes().after_sign_in_path(&step.routes_ctx()),
            ))
        }
        SecondStep::Invalid { user, persist } => {
            let factors = factor_challenges(&config, &user).await?;
            let totp = verify::is_enabled(&user);
            Ok(Answer::render(move |step, cookie| {
                let error = Some(step.text("pow_two_factor_invalid_code"));
                Ok(verify_page(step, cookie, persist, error, totp, &factors))
            }))
        }
        SecondStep::TooManyAttempts => Ok(back_to_sign_in(
            step,
            client,
            "pow_two_factor_too_many_attempts",
        )),
        SecondStep::Expired => Ok(back_to_sign_in(step, client, "pow_two_factor_expired")),
        SecondStep::Locked(refused) => {
            client.remove_value(&pending_key(&config));
            Err(refused)
        }
    }
}

/// The step-up page, its form returning to the step's `request_path`.
fn step_up_page(step: &Step, cookie: &CookieSession, error: Option<String>) -> Page {
    CodePage {
        name: STEP_UP_PAGE,
        action: returning_to(
            path(&step.config, STEP_UP_PATH),
            step.request_path.as_deref(),
        ),
        hidden: None,
        links: Vec::new(),
        info_key: "pow_two_factor_step_up",
        extra_forms: Vec::new(),
        scripts: Vec::new(),
    }
    .page(step, cookie, error)
}

/// `two_factor_step_up#new`: the page asking a signed-in user for a code; the settings
/// for a user without a second factor.
///
/// # Errors
/// Nobody signed in (the route is for signed-in users).
async fn step_up_new(step: &mut Step, _client: &mut dyn Client) -> Result<Answer, PowError> {
    if !verify::is_enabled(step.signed_in()?) {
        return Ok(Answer::Redirect(settings_path(&step.config)));
    }
    Ok(Answer::render(|step, cookie| {
        Ok(step_up_page(step, cookie, None))
    }))
}

/// `two_factor_step_up#create`: a right code records the method on the session and
/// returns to the step's `request_path` (else the settings); the page again after a wrong
/// one.
///
/// # Errors
/// A locked account's refusal; the store's or users context's error.
async fn step_up_create(step: &mut Step, client: &mut dyn Client) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let code = step.params.get("code").cloned().unwrap_or_default();
    let facts = client.facts();
    match verify::step_up(&config, &facts, &code, client.session()).await? {
        Some(user) => {
            step.user = Some(user);
            let back = step.request_path.clone();
            Ok(Answer::Redirect(
                back.unwrap_or_else(|| settings_path(&config)),
            ))
        }
        None => Ok(Answer::render(|step, cookie| {
            let error = Some(step.text("pow_two_factor_invalid_code"));
            Ok(step_up_page(step, cookie, error))
        })),
    }
}

/// The link back to the account page.
fn account_link(step: &Step) -> Link {
    Link::new(
        step.config
            .routes()
            .registration_path(&step.routes_ctx(), "edit"),
        step.text("link-edit-account"),
    )
}

/// The enrolment page: the QR code and key of `secret`, and the first code's form.
///
/// # Errors
/// [`PowError::Other`] when the secret does not decode.
fn enrol_page(
    step: &Step,
    cookie: &CookieSession,
    ext: &TwoFactor,
    user: &User,
    secret: &str,
    error: Option<String>,
) -> Result<Page, PowError> {
    let account = user
        .user_id(step.config.user_schema())
        .unwrap_or_default()
        .to_owned();
    let url = totp::otpauth_url(secret, &ext.issuer, &account)
        .ok_or_else(|| PowError::Other("the enrolment secret does not decode".into()))?;
    let figure = totp::qr_svg(&url).unwrap_or_default();
    let key = step
        .config
        .messages()
        .message(
            &step.lang,
            "pow_two_factor_setup_key",
            &[("key", MessageArg::from(secret))],
        )
        .unwrap_or_else(|| secret.to_owned());
    let code = Field::new(
        "code",
        step.text("pow_two_factor_code_label"),
        FieldType::Text,
    )
    .autocomplete("one-time-code")
    .required()
    .errors(error.into_iter().collect());
    let body = PageBody::Figure {
        figure,
        paragraphs: vec![step.text("pow_two_factor_setup_intro"), key],
        form: form(
            cookie,
            settings_path(&step.config),
            None,
            vec![code],
            step.text("pow_two_factor_enable_button"),
        ),
        links: vec![account_link(step)],
    };
    Ok(Page::new(NEW_PAGE, "pow_two_factor_title_settings", body))
}

/// The settings page of a user with a second factor.
fn enabled_page(step: &Step, cookie: &CookieSession, user: &User) -> Page {
    let left = step.config.messages().message(
        &step.lang,
        "pow_two_factor_enabled",
        &[(
            "count",
            MessageArg::from(crate::recovery_codes_left(user) as i64),
        )],
    );
    let regenerate = form(
        cookie,
        path(&step.config, CODES_PATH),
        None,
        Vec::new(),
        step.text("pow_two_factor_regenerate_button"),
    );
    let disable = form(
        cookie,
        path(&step.config, DISABLE_PATH),
        None,
        Vec::new(),
        step.text("pow_two_factor_disable_button"),
    );
    let mut page = Page::new(
        SHOW_PAGE,
        "pow_two_factor_title_settings",
        PageBody::Form {
            form: regenerate,
            links: vec![account_link(step)],
            extra_forms: vec![disable],
        },
    );
    page.info = left;
    page
}

/// The recovery codes, shown once.
fn codes_page(step: &Step, codes: &[String]) -> Page {
    let mut page = Page::new(
        CODES_PAGE,
        "pow_two_factor_title_codes",
        PageBody::Text {
            paragraphs: codes.to_vec(),
            links: vec![
                Link::new(
                    settings_path(&step.config),
                    step.text("pow_two_factor_link"),
                ),
                account_link(step),
            ],
        },
    );
    page.info = Some(step.text("pow_two_factor_codes_intro"));
    page
}

/// `two_factor#show`: the enrolment page (a secret set up for the user, waiting for its
/// first code), or the settings once the second factor is on (sudo mode).
///
/// # Errors
/// The store's error.
async fn settings(
    step: &mut Step,
    _client: &mut dyn Client,
    ext: &TwoFactor,
) -> Result<Answer, PowError> {
    let id = step.signed_in()?.id;
    let ext = ext.clone();
    Ok(match verify::enrolment(&step.config, id).await? {
        Enrolment::On(user) => {
            Answer::render(move |step, cookie| Ok(enabled_page(step, cookie, &user)))
        }
        Enrolment::Pending { user, secret } => {
            Answer::render(move |step, cookie| enrol_page(step, cookie, &ext, &user, &secret, None))
        }
    })
}

/// `two_factor#create`: the first code turns the second factor on and shows the recovery
/// codes, once ([`verify::confirm_enrolment`]); the enrolment page again after a wrong
/// code.
///
/// # Errors
/// The store's or users context's error.
async fn enable(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &TwoFactor,
) -> Result<Answer, PowError> {
    let id = step.signed_in()?.id;
    let code = step.params.get("code").cloned().unwrap_or_default();
    let facts = client.facts();
    match verify::confirm_enrolment(ext, step, &facts, id, &code).await? {
        Confirmed::AlreadyOn => Ok(Answer::Redirect(settings_path(&step.config))),
        Confirmed::WrongCode { user, secret } => {
            let ext = ext.clone();
            Ok(Answer::render(move |step, cookie| {
                let error = Some(step.text("pow_two_factor_invalid_code"));
                enrol_page(step, cookie, &ext, &user, &secret, error)
            }))
        }
        Confirmed::On(user, codes) => {
            step.user = Some(user);
            Ok(Answer::render(move |step, _| Ok(codes_page(step, &codes))))
        }
    }
}

/// `two_factor#codes`: new recovery codes replace the old ones, shown once.
///
/// # Errors
/// The users context's error.
async fn regenerate(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &TwoFactor,
) -> Result<Answer, PowError> {
    let id = step.signed_in()?.id;
    let facts = client.facts();
    match verify::change(ext, step, &facts, id, Change::NewRecoveryCodes).await? {
        Changed::NotOn => Ok(Answer::Redirect(settings_path(&step.config))),
        Changed::Done(user, codes) => {
            step.user = Some(user);
            Ok(Answer::render(move |step, _| Ok(codes_page(step, &codes))))
        }
    }
}

/// `two_factor#delete`: turns the second factor off and returns to the account page.
///
/// # Errors
/// The users context's error.
async fn disable(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &TwoFactor,
) -> Result<Answer, PowError> {
    let id = step.signed_in()?.id;
    let facts = client.facts();
    match verify::change(ext, step, &facts, id, Change::TurnOff).await? {
        Changed::NotOn => Ok(Answer::Redirect(settings_path(&step.config))),
        Changed::Done(user, _) => {
            step.user = Some(user);
            client.flash(FlashKind::Info, step.message("pow_two_factor_disabled"));
            Ok(Answer::Redirect(
                step.config
                    .routes()
                    .registration_path(&step.routes_ctx(), "edit"),
            ))
        }
    }
}

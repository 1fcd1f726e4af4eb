//! The passkey pages on the engine: the list (add, rename, delete), adding a security key,
//! the passkey sign-in, the step-up page and the recovery of a passkey-only account, with
//! their page routes, which every framework layer mounts from the engine's table. Each page
//! whose form runs a WebAuthn ceremony carries the ceremony's options in hidden fields and
//! loads the extension's script ([`SCRIPT`](crate::SCRIPT)), which posts the browser's
//! answer with the form.

use std::sync::Arc;

use pow_core::config::returning_to;
use pow_core::error::PowError;
use pow_core::pages::routes::{PageRoute, PathParams, Verb};
use pow_core::pages::{Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Step};
use pow_core::users::User;
use pow_core::views::{Field, FieldType, Form, Link, PageBody, PageId};
use pow_core::PowConfig;

use crate::recovery::{
    enrol_once, pending_key, sign_in_recovered, user_of, RECOVERY, RECOVERY_NEW, RECOVERY_PATH,
};
use crate::routes::{
    actions, path, DELETE_PATH, MANAGE_PATH, RENAME_PATH, SECURITY_KEY_PATH, SIGN_IN_PATH,
    STEP_UP_PATH,
};
use crate::{
    into_pow, script_path, EnrolAnswer, Kind, PasskeyError, Passkeys, Started, StoredPasskey, NAME,
    PAGES,
};

/// The list of a user's passkeys, with the form adding one.
const MANAGE_PAGE: PageId = PAGES[0];
/// Adding a security key.
const SECURITY_KEY_PAGE: PageId = PAGES[1];
/// The passkey sign-in.
const SIGN_IN_PAGE: PageId = PAGES[2];
/// Proving a passkey or security key again, for a step-up rule.
const STEP_UP_PAGE: PageId = PAGES[3];
/// Enrolling a new passkey in a recovery.
const RECOVERY_PAGE: PageId = PAGES[4];

/// The extension's page routes: the list and enrolment (a factor change), renaming
/// (signed in) and deleting (a factor change), the security key's page (a factor change),
/// the step-up page (signed in), and the passkey sign-in and the recovery (signed out).
/// Every `GET` here starts a ceremony (in the store, counted for the anonymous sign-in), so
/// none answers `HEAD`.
pub(crate) fn page_routes(ext: &Passkeys) -> Vec<PageRoute> {
    use Verb::{Get, Post};
    let ext = Arc::new(ext.clone());
    let routes = [
        PageRoute::new(
            Get,
            SIGN_IN_PATH,
            actions::SIGN_IN_NEW,
            pow_core::page_act!(ext, sign_in_new),
        )
        .signed_out(),
        PageRoute::new(
            Post,
            SIGN_IN_PATH,
            actions::SIGN_IN,
            pow_core::page_act!(ext, sign_in_create),
        )
        .signed_out(),
        PageRoute::new(
            Get,
            MANAGE_PATH,
            actions::MANAGE,
            pow_core::page_act!(ext, manage),
        )
        .changes_factor(),
        PageRoute::new(
            Post,
            MANAGE_PATH,
            actions::CREATE,
            pow_core::page_act!(ext, create),
        )
        .changes_factor(),
        PageRoute::new(
            Get,
            STEP_UP_PATH,
            actions::STEP_UP_NEW,
            pow_core::page_act!(ext, step_up_new),
        )
        .signed_in(),
        PageRoute::new(
            Post,
            STEP_UP_PATH,
            actions::STEP_UP,
            pow_core::page_act!(ext, step_up_create),
        )
        .signed_in(),
        PageRoute::new(
            Get,
            SECURITY_KEY_PATH,
            actions::MANAGE,
            pow_core::page_act!(ext, security_key),
        )
        .changes_factor(),
        PageRoute::new(
            Post,
            SECURITY_KEY_PATH,
            actions::CREATE,
            pow_core::page_act!(ext, create),
        )
        .changes_factor(),
        PageRoute::new(
            Post,
            RENAME_PATH,
            actions::RENAME,
            pow_core::page_act!(ext, rename),
        )
        .signed_in(),
        PageRoute::new(
            Post,
            DELETE_PATH,
            actions::DELETE,
            pow_core::page_act!(ext, delete),
        )
        .changes_factor(),
        PageRoute::new(
            Get,
            RECOVERY_PATH,
            RECOVERY_NEW,
            pow_core::page_act!(ext, recovery_new),
        )
        .signed_out(),
        PageRoute::new(
            Post,
            RECOVERY_PATH,
            RECOVERY,
            pow_core::page_act!(ext, recovery_create),
        )
        .signed_out(),
    ];
    routes
        .into_iter()
        .map(|route| route.of_extension(NAME))
        .collect()
}

/// The translated text of `err`.
fn error_text(step: &Step, err: &PasskeyError) -> String {
    step.text(&format!("pow_passkeys_error_{}", err.code()))
}

/// A passkey error on a page: its text as a flash, back to `to`. Server failures are the
/// pipeline's.
///
/// # Errors
/// The store's or database's error, and a failure that is not the client's.
fn refused(
    step: &Step,
    client: &mut dyn Client,
    err: PasskeyError,
    to: &str,
) -> Result<Answer, PowError> {
    if let PasskeyError::Pow(err) = err {
        return Err(err);
    }
    if !err.is_client_error() {
        return Err(PowError::Other(err.to_string()));
    }
    client.flash(FlashKind::Error, Some(error_text(step, &err)));
    Ok(Answer::Redirect(to.to_owned()))
}

/// The hidden fields of a ceremony form: the ceremony, its options, what the script calls,
/// and where it puts the browser's answer.
fn ceremony_fields(mut form: Form, started: &Started, mode: &str) -> Form {
    for (name, value) in [
        ("ceremony", started.ceremony.clone()),
        ("webauthn_options", started.options.to_string()),
        ("webauthn_mode", mode.to_owned()),
        ("credential", String::new()),
    ] {
        form = form.field(Field::new(name, "", FieldType::Hidden).value(value));
    }
    form
}

/// A time as the list shows it.
fn date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The list of `passkeys` (each with its rename and delete forms) and the form adding one
/// with `started`; passkeys of a site other than `rp_id` say so.
fn manage_page(step: &Step, rp_id: &str, passkeys: &[StoredPasskey], started: &Started) -> Page {
    let (config, lang) = (&step.config, &step.lang);
    let messages = config.messages();
    let add = Form::new(
        path(config, MANAGE_PATH, &[]),
        step.text("pow_passkeys_add_button"),
        "",
    )
    .field(name_field(step));
    let add = ceremony_fields(add, started, "create");
    let mut extra_forms = Vec::new();
    for passkey in passkeys {
        let id = passkey.id.to_string();
        let used = passkey
            .last_used_at
            .map_or_else(|| step.text("pow_passkeys_never"), date);
        let mut item = messages
            .message(
                lang,
                "pow_passkeys_item",
                &[
                    ("name", passkey.name.as_str().into()),
                    ("created", date(passkey.inserted_at).into()),
                    ("used", used.into()),
                ],
            )
            .unwrap_or_default();
        if passkey.kind == Kind::SecurityKey {
            item = format!("{item} ({})", step.text("pow_passkeys_kind_security_key"));
        }
        if passkey.rp_id != rp_id {
            let other = messages
                .message(
                    lang,
                    "pow_passkeys_other_site",
                    &[("site", passkey.rp_id.as_str().into())],
                )
                .unwrap_or_default();
            item = format!("{item} ({other})");
        }
        extra_forms.push(
            Form::new(
                path(config, RENAME_PATH, &[("id", &id)]),
                step.text("pow_passkeys_rename_button"),
                "",
            )
            .field(
                Field::new(format!("name_{id}"), item, FieldType::Text).value(passkey.name.clone()),
            ),
        );
        let delete = messages
            .message(
                lang,
                "pow_passkeys_delete_button",
                &[("name", passkey.name.as_str().into())],
            )
            .unwrap_or_default();
        extra_forms.push(Form::new(
            path(config, DELETE_PATH, &[("id", &id)]),
            delete,
            "",
        ));
    }
    let account = config
        .routes()
        .registration_path(&step.routes_ctx(), "edit");
    let body = PageBody::Form {
        form: add,
        links: vec![
            Link::new(
                path(config, SECURITY_KEY_PATH, &[]),
                step.text("pow_passkeys_security_key_link"),
            ),
            Link::new(account, step.text("pow_passkeys_account_link")),
        ],
        extra_forms,
    };
    let mut page =
        Page::new(MANAGE_PAGE, "pow_passkeys_title", body).with_script(script_path(config));
    let mut info = vec![step.text("pow_passkeys_info")];
    if passkeys.is_empty() {
        info.push(step.text("pow_passkeys_none"));
    }
    info.push(step.text("pow_passkeys_needs_script"));
    page.info = Some(info.join(" "));
    page
}

/// The id binding an enrolment ceremony to the signed-in session.
///
/// # Errors
/// [`PowError::Other`] when nobody is signed in.
fn binding(client: &mut dyn Client) -> Result<String, PowError> {
    client
        .current_session()
        .map(|current| current.session_id)
        .ok_or_else(|| PowError::Other("nobody is signed in".into()))
}

/// `passkeys#index`: the list, with a started enrolment of a passkey (a factor change).
///
/// # Errors
/// The store's or database's error.
async fn manage(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let passkeys = ext.list(&step.config, &user).await.map_err(into_pow)?;
    let started = ext
        .start_enrolment(&step.config, &user, &binding(client)?, Kind::Passkey)
        .await
        .map_err(into_pow)?;
    let rp_id = ext.rp_id().to_owned();
    Ok(Answer::render(move |step, _| {
        Ok(manage_page(step, &rp_id, &passkeys, &started))
    }))
}

/// `passkeys#index` at `/passkeys/security-key`: a started enrolment of a security key (a
/// factor change).
///
/// # Errors
/// The store's or database's error.
async fn security_key(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let started = ext
        .start_enrolment(&step.config, &user, &binding(client)?, Kind::SecurityKey)
        .await
        .map_err(into_pow)?;
    Ok(Answer::render(move |step, _| {
        Ok(security_key_page(step, &started))
    }))
}

/// A page whose one form runs a WebAuthn ceremony (`mode`: `create` or `get`): `form`
/// with the ceremony's hidden fields, `links` under it, the script, and the text of
/// `info_key` with the note that the page needs JavaScript.
struct CeremonyPage<'a> {
    /// The page's id.
    name: PageId,
    /// Message key of its title.
    title_key: &'static str,
    /// Message key of what it says above the form.
    info_key: &'static str,
    /// The form, without the ceremony's fields.
    form: Form,
    /// `create` (an enrolment) or `get` (an assertion).
    mode: &'static str,
    /// The ceremony.
    started: &'a Started,
    /// The links under the form.
    links: Vec<Link>,
}

impl CeremonyPage<'_> {
    /// The page.
    fn page(self, step: &Step) -> Page {
        let body = PageBody::Form {
            form: ceremony_fields(self.form, self.started, self.mode),
            links: self.links,
            extra_forms: Vec::new(),
        };
        let mut page =
            Page::new(self.name, self.title_key, body).with_script(script_path(&step.config));
        page.info = Some(format!(
            "{} {}",
            step.text(self.info_key),
            step.text("pow_passkeys_needs_script")
        ));
        page
    }
}

/// The form field naming a new passkey.
fn name_field(step: &Step) -> Field {
    Field::new(
        "name",
        step.text("pow_passkeys_name_label"),
        FieldType::Text,
    )
    .autocomplete("off")
    .required()
}

/// The security key's page: its name and the ceremony.
fn security_key_page(step: &Step, started: &Started) -> Page {
    CeremonyPage {
        name: SECURITY_KEY_PAGE,
        title_key: "pow_passkeys_title_security_key",
        info_key: "pow_passkeys_security_key_info",
        form: Form::new(
            path(&step.config, SECURITY_KEY_PATH, &[]),
            step.text("pow_passkeys_security_key_add_button"),
            "",
        )
        .field(name_field(step)),
        mode: "create",
        started,
        links: vec![Link::new(
            path(&step.config, MANAGE_PATH, &[]),
            step.text("pow_passkeys_title"),
        )],
    }
    .page(step)
}

/// The posted field `name` (`user[name]`), or nothing.
fn param(step: &Step, name: &str) -> String {
    step.params.get(name).cloned().unwrap_or_default()
}

/// `passkeys#create` (the passkeys page's form and the security key's): stores the
/// enrolled passkey or key and returns to the list (a factor change).
///
/// # Errors
/// The store's or database's error.
async fn create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let back = path(&step.config, MANAGE_PATH, &[]);
    let finished = ext
        .finish_enrolment(
            &step.config,
            &user,
            &binding(client)?,
            &EnrolAnswer {
                ceremony: &param(step, "ceremony"),
                name: &param(step, "name"),
                credential: &param(step, "credential"),
            },
            Some(&step.lang),
        )
        .await;
    match finished {
        Ok(_) => {
            client.flash(FlashKind::Info, Some(step.text("pow_passkeys_added")));
            Ok(Answer::Redirect(back))
        }
        Err(err) => refused(step, client, err, &back),
    }
}

/// A passkey id of a path, or one no passkey has.
pub(crate) fn passkey_id(raw: &str) -> i64 {
    raw.parse().unwrap_or(-1)
}

/// The `{id}` segment of the request's path, as a passkey id, and as it was sent.
fn path_id(step: &Step) -> (i64, String) {
    let raw = step
        .assigns
        .get::<PathParams>()
        .and_then(|params| params.get("id"))
        .unwrap_or_default()
        .to_owned();
    (passkey_id(&raw), raw)
}

/// `passkeys#update`: renames one passkey of the signed-in user, from its field
/// `name_{id}`.
///
/// # Errors
/// The store's or database's error.
async fn rename(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let back = path(&step.config, MANAGE_PATH, &[]);
    let (id, raw) = path_id(step);
    let name = param(step, &format!("name_{raw}"));
    match ext.rename(&step.config, &user, id, &name).await {
        Ok(()) => {
            client.flash(FlashKind::Info, Some(step.text("pow_passkeys_renamed")));
            Ok(Answer::Redirect(back))
        }
        Err(err) => refused(step, client, err, &back),
    }
}

/// `passkeys#delete`: deletes one passkey of the signed-in user (a factor change; never
/// the last way into an account without a password).
///
/// # Errors
/// The store's or database's error.
async fn delete(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let user = stored_user(&step.config, step.signed_in()?.id).await?;
    let back = path(&step.config, MANAGE_PATH, &[]);
    let (id, _) = path_id(step);
    match ext.delete(&step.config, &user, id, Some(&step.lang)).await {
        Ok(_) => {
            client.flash(FlashKind::Info, Some(step.text("pow_passkeys_removed")));
            Ok(Answer::Redirect(back))
        }
        Err(err) => refused(step, client, err, &back),
    }
}

/// The user `id` as stored: whether it has a password decides the last-passkey rule, and
/// the session's copy holds no password hash.
///
/// # Errors
/// The database's error; [`PowError::Other`] when the user is gone.
pub(crate) async fn stored_user(config: &PowConfig, id: i64) -> Result<User, PowError> {
    pow_core::flows::stored_user(config, id)
        .await?
        .ok_or_else(|| PowError::Other("nobody is signed in".into()))
}

/// `passkeys_session#new`: the sign-in page, with a started ceremony without an address
/// (the browser offers what it holds, in the address field's autofill too).
///
/// # Errors
/// The limit on anonymous ceremonies' refusal; the store's error.
async fn sign_in_new(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let facts = client.facts();
    let started = ext
        .start_sign_in(&step.config, &facts, None)
        .await
        .map_err(into_pow)?;
    Ok(Answer::render(move |step, _| {
        let email = Field::new(
            "email",
            step.text("pow_passkeys_email_label"),
            FieldType::Email,
        )
        .autocomplete("username webauthn");
        Ok(CeremonyPage {
            name: SIGN_IN_PAGE,
            title_key: "pow_passkeys_title_sign_in",
            info_key: "pow_passkeys_sign_in_info",
            form: Form::new(
                path(&step.config, SIGN_IN_PATH, &[]),
                step.text("pow_passkeys_sign_in_button"),
                "",
            )
            .field(email),
            mode: "get",
            started: &started,
            links: vec![Link::new(
                step.config.routes().session_path(&step.routes_ctx(), "new"),
                step.text("title-sign-in"),
            )],
        }
        .page(step))
    }))
}

/// `passkeys_session#create`: signs in with the browser's assertion; back to the sign-in
/// page with the refusal's text.
///
/// # Errors
/// The session's refusal to start; the store's or database's error.
async fn sign_in_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let back = path(&step.config, SIGN_IN_PATH, &[]);
    let (ceremony, credential) = (param(step, "ceremony"), param(step, "credential"));
    let signed_in = match ext
        .sign_in(&step.config, &ceremony, &credential, client.session())
        .await?
    {
        Ok(signed_in) => signed_in,
        Err(err) => return refused(step, client, err, &back),
    };
    client.flash(
        FlashKind::Info,
        step.config.messages().signed_in(&step.lang),
    );
    step.user = Some(signed_in.user);
    Ok(Answer::Redirect(
        step.config.routes().after_sign_in_path(&step.routes_ctx()),
    ))
}

/// `passkeys_step_up#new`: a started ceremony with the signed-in user's passkeys and
/// security keys, for a step-up rule.
///
/// # Errors
/// The store's or database's error.
async fn step_up_new(
    step: &mut Step,
    _client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let user = stored_user(&step.config, step.signed_in()?.id).await?;
    let started = ext
        .start_second_factor(&step.config, &user)
        .await
        .map_err(into_pow)?;
    Ok(Answer::render(move |step, _| {
        Ok(step_up_page(step, &started))
    }))
}

/// The step-up page, its form returning to the step's `request_path`.
fn step_up_page(step: &Step, started: &Started) -> Page {
    let action = returning_to(
        path(&step.config, STEP_UP_PATH, &[]),
        step.request_path.as_deref(),
    );
    CeremonyPage {
        name: STEP_UP_PAGE,
        title_key: "pow_passkeys_title_step_up",
        info_key: "pow_passkeys_step_up_info",
        form: Form::new(action, step.text("pow_passkeys_second_factor_button"), ""),
        mode: "get",
        started,
        links: Vec::new(),
    }
    .page(step)
}

/// `passkeys_step_up#create`: a passkey or security key of the user records its method on
/// the session and returns to the step's `request_path` (else the list); the step-up page
/// again with the refusal's text.
///
/// # Errors
/// The session's or store's error.
async fn step_up_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let user = stored_user(&step.config, step.signed_in()?.id).await?;
    let (ceremony, credential) = (param(step, "ceremony"), param(step, "credential"));
    let finished = ext
        .step_up(
            &step.config,
            &user,
            &ceremony,
            &credential,
            client.session(),
        )
        .await?;
    match finished {
        Ok(_) => {
            let back = step
                .request_path
                .clone()
                .unwrap_or_else(|| path(&step.config, MANAGE_PATH, &[]));
            Ok(Answer::Redirect(back))
        }
        Err(err) => {
            let again = returning_to(
                path(&step.config, STEP_UP_PATH, &[]),
                step.request_path.as_deref(),
            );
            refused(step, client, err, &again)
        }
    }
}

/// The user of the browser's pending recovery (its grant in the cookie session), and the
/// ceremony binding.
///
/// # Errors
/// The store's or database's error.
async fn pending(
    client: &dyn Client,
    config: &PowConfig,
) -> Result<Option<(User, String)>, PowError> {
    let Some(token) = client.value(&pending_key(config)) else {
        return Ok(None);
    };
    user_of(config, &token).await
}

/// The answer to a recovery that is over (used, expired or never granted): the sign-in
/// page, which says so.
fn expired(step: &Step, client: &mut dyn Client) -> Answer {
    client.flash(
        FlashKind::Error,
        Some(step.text("pow_passkeys_recovery_expired")),
    );
    Answer::Redirect(step.config.routes().session_path(&step.routes_ctx(), "new"))
}

/// The recovery page: the new passkey's name and the ceremony.
fn recovery_page(step: &Step, started: &Started) -> Page {
    CeremonyPage {
        name: RECOVERY_PAGE,
        title_key: "pow_passkeys_title_recovery",
        info_key: "pow_passkeys_recovery_info",
        form: Form::new(
            path(&step.config, RECOVERY_PATH, &[]),
            step.text("pow_passkeys_recovery_button"),
            "",
        )
        .field(name_field(step)),
        mode: "create",
        started,
        links: vec![Link::new(
            step.config.routes().session_path(&step.routes_ctx(), "new"),
            step.text("title-sign-in"),
        )],
    }
    .page(step)
}

/// `passkeys_recovery#new`: a started enrolment for the browser's pending recovery; the
/// sign-in page when there is none.
///
/// # Errors
/// The store's or database's error.
async fn recovery_new(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let Some((user, binding)) = pending(client, &step.config).await? else {
        return Ok(expired(step, client));
    };
    let started = ext
        .start_enrolment(&step.config, &user, &binding, Kind::Passkey)
        .await
        .map_err(into_pow)?;
    Ok(Answer::render(move |step, _| {
        Ok(recovery_page(step, &started))
    }))
}

/// `passkeys_recovery#create`: enrols the new passkey once per grant, then signs in to
/// the recovered account; the recovery page again with the refusal's text, the sign-in
/// page once the grant is spent.
///
/// # Errors
/// The session's refusal to start; the store's or database's error.
async fn recovery_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Passkeys,
) -> Result<Answer, PowError> {
    let Some((user, binding)) = pending(client, &step.config).await? else {
        return Ok(expired(step, client));
    };
    let answer = EnrolAnswer {
        ceremony: &param(step, "ceremony"),
        name: &param(step, "name"),
        credential: &param(step, "credential"),
    };
    let finished = enrol_once(ext, &step.config, &user, &binding, &answer, &step.lang).await;
    let passkey = match finished {
        Ok(Some(passkey)) => passkey,
        Ok(None) => return Ok(expired(step, client)),
        Err(err) => {
            let back = path(&step.config, RECOVERY_PATH, &[]);
            return refused(step, client, err, &back);
        }
    };
    client.remove_value(&pending_key(&step.config));
    sign_in_recovered(&step.config, &user, passkey.id, client.session()).await?;
    client.flash(FlashKind::Info, Some(step.text("pow_passkeys_recovered")));
    step.user = Some(user);
    Ok(Answer::Redirect(
        step.config.routes().after_sign_in_path(&step.routes_ctx()),
    ))
}

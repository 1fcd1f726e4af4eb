//! The account's API keys page, on the engine (every framework mounts it):
//!
//! - `GET /api-keys` (signed in): the user's keys (name, scopes, dates), each with a
//!   revoke button, and a form making a new one;
//! - `POST /api-keys` (sudo mode: a stale session confirms its password first): makes a
//!   key and shows it, this once;
//! - `POST /api-keys/revoke` (signed in): revokes one.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pow_core::config::extension_path;
#[cfg(feature = "organizations")]
use pow_core::extension::principal::PrincipalRefusal;
use pow_core::pages::routes::{PageRoute, Verb};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{ActionId, ActionKind, Client, FlashKind, Step};
use pow_core::session::CookieSession;
use pow_core::views::{Field, FieldType, Form, PageBody, PageId};
use pow_core::PowError;

use crate::flows::{self, Invalid};
use crate::{ApiKeys, StoredKey, NAME};

/// The page.
pub const PAGE: PageId = PageId::new("api_keys");

/// `GET /api-keys`.
pub const SHOW: ActionId = ActionId::new("api_keys", "show", ActionKind::Show);
/// `POST /api-keys`.
pub const CREATE: ActionId = ActionId::new("api_keys", "create", ActionKind::Other);
/// `POST /api-keys/revoke`.
pub const REVOKE: ActionId = ActionId::new("api_keys", "revoke", ActionKind::Other);

/// The routes.
pub(crate) fn page_routes(ext: &ApiKeys) -> Vec<PageRoute> {
    let ext = Arc::new(ext.clone());
    #[allow(unused_mut)]
    let mut routes = vec![
        PageRoute::new(Verb::Get, "/api-keys", SHOW, pow_core::page_act!(ext, show))
            .signed_in()
            .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            "/api-keys",
            CREATE,
            pow_core::page_act!(ext, create),
        )
        .sudo()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            "/api-keys/revoke",
            REVOKE,
            pow_core::page_act!(ext, revoke),
        )
        .signed_in()
        .of_extension(NAME),
    ];
    #[cfg(feature = "organizations")]
    routes.extend([
        PageRoute::new(
            Verb::Get,
            ORGANIZATION_PATH,
            ORGANIZATION_SHOW,
            pow_core::page_act!(ext, organization_show),
        )
        .signed_in()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            ORGANIZATION_PATH,
            ORGANIZATION_CREATE,
            pow_core::page_act!(ext, organization_create),
        )
        .sudo()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            "/organizations/{slug}/api-keys/revoke",
            ORGANIZATION_REVOKE,
            pow_core::page_act!(ext, organization_revoke),
        )
        .signed_in()
        .of_extension(NAME),
    ]);
    routes
}

/// The page of an organization's keys.
#[cfg(feature = "organizations")]
const ORGANIZATION_PATH: &str = "/organizations/{slug}/api-keys";
/// `GET /organizations/{slug}/api-keys`.
pub const ORGANIZATION_SHOW: ActionId =
    ActionId::new("api_keys", "organization_show", ActionKind::Show);
/// `POST /organizations/{slug}/api-keys`.
pub const ORGANIZATION_CREATE: ActionId =
    ActionId::new("api_keys", "organization_create", ActionKind::Other);
/// `POST /organizations/{slug}/api-keys/revoke`.
pub const ORGANIZATION_REVOKE: ActionId =
    ActionId::new("api_keys", "organization_revoke", ActionKind::Other);

/// The "API keys" link on the account page.
pub(crate) fn account_link(
    page: PageId,
    body: &mut PageBody,
    lang: &pow_core::messages::LanguageIdentifier,
    config: &pow_core::PowConfig,
) {
    if page != "registration/edit" {
        return;
    }
    if let PageBody::Form { links, .. } = body {
        links.push(pow_core::views::Link::new(
            extension_path(config, NAME, "/api-keys", &[]),
            config.messages().text(lang, "pow_api_keys_title"),
        ));
    }
}

/// The user's keys' page.
fn own(step: &Step) -> String {
    path(step, "/api-keys")
}

fn path(step: &Step, pattern: &str) -> String {
    extension_path(&step.config, NAME, pattern, &[])
}

/// When, as the page shows it.
fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A key's row: what it is, then its revoke button (posting to `<base>/revoke`).
fn row(step: &Step, cookie: &CookieSession, base: &str, key: &StoredKey) -> Form {
    let now = Utc::now();
    let last = key
        .last_used_at
        .map_or_else(|| step.text("pow_api_keys_never"), when);
    let state = if key.is_active(now) {
        format!(
            "{} {}",
            step.text("pow_api_keys_expires"),
            when(key.expires_at)
        )
    } else {
        step.text("pow_api_keys_revoked")
    };
    let text = format!(
        "{} ({}): {}; {} {}",
        key.name,
        key.scopes.join(", "),
        state,
        step.text("pow_api_keys_last_used"),
        last
    );
    let revoke = step.text("pow_api_keys_revoke");
    let id = Field::new("id", "", FieldType::Hidden).value(key.id.clone());
    let about = Field::note("about", text.clone()).value(format!("{revoke}: {text}"));
    form(
        cookie,
        format!("{base}/revoke"),
        None,
        vec![id, about],
        revoke,
    )
}

/// The page of the keys at `base` (the user's `/api-keys`, or an organization's): `made` is
/// a key just made (shown this once), `errors` a refused form's.
#[allow(clippy::too_many_arguments)]
fn page(
    step: &Step,
    cookie: &CookieSession,
    ext: &ApiKeys,
    base: &str,
    keys: &[StoredKey],
    made: Option<&str>,
    errors: &[(&'static str, String)],
) -> Page {
    let errors_of = |name: &str| {
        errors
            .iter()
            .filter(|(field, _)| *field == name)
            .map(|(_, text)| text.clone())
            .collect::<Vec<_>>()
    };
    let name = Field::new("name", step.text("pow_api_keys_name"), FieldType::Text)
        .value(step.params.get("name").cloned().unwrap_or_default())
        .errors(errors_of("name"));
    let scopes_label = format!(
        "{} ({})",
        step.text("pow_api_keys_scopes"),
        ext.declared_scopes().join(" ")
    );
    let scopes = Field::new("scopes", scopes_label, FieldType::Text)
        .value(step.params.get("scopes").cloned().unwrap_or_default())
        .errors(errors_of("scopes"));
    let create = form(
        cookie,
        base.to_owned(),
        None,
        vec![name, scopes],
        step.text("pow_api_keys_create"),
    );
    let mut extra_forms: Vec<Form> = keys
        .iter()
        .map(|key| row(step, cookie, base, key))
        .collect();
    if let Some(made) = made {
        let shown = Field::new("key", step.text("pow_api_keys_created"), FieldType::Text)
            .value(made.to_owned());
        let mut once = form(cookie, base.to_owned(), None, vec![shown], String::new());
        once.submit = String::new();
        extra_forms.insert(0, once);
    }
    let mut page = Page::new(
        PAGE,
        "pow_api_keys_title",
        PageBody::Form {
            form: create,
            links: Vec::new(),
            extra_forms,
        },
    );
    if keys.is_empty() && made.is_none() {
        page.info = Some(step.text("pow_api_keys_none"));
    }
    if made.is_some() {
        page.info = Some(step.text("pow_api_keys_created"));
    }
    page
}

/// `GET /api-keys`.
async fn show(step: &mut Step, _: &mut dyn Client, ext: &ApiKeys) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let keys = flows::list(&step.config, &user).await?;
    let ext = ext.clone();
    Ok(Answer::render(move |step, cookie| {
        Ok(page(step, cookie, &ext, &own(step), &keys, None, &[]))
    }))
}

/// `POST /api-keys` (sudo mode): makes a key with the form's name and scopes (separated by
/// spaces or commas) and shows it once.
async fn create(step: &mut Step, _: &mut dyn Client, ext: &ApiKeys) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let name = step.params.get("name").cloned().unwrap_or_default();
    let scopes = form_scopes(step);
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let outcome =
        flows::create_in(&step.config, ext, &user, &name, &scopes, None, &step.lang).await?;
    let keys = flows::list(&step.config, &user).await?;
    let ext = ext.clone();
    match outcome {
        Ok(made) => {
            step.user = Some(user);
            // Shown once: the page, like every account page, is never stored.
            Ok(Answer::render(move |step, cookie| {
                Ok(page(
                    step,
                    cookie,
                    &ext,
                    &own(step),
                    &keys,
                    Some(&made.key),
                    &[],
                ))
            }))
        }
        Err(refused) => Ok(refused_form(ext, own(step), keys, &refused)),
    }
}

/// The form's scopes, separated by spaces or commas.
fn form_scopes(step: &Step) -> Vec<String> {
    let scopes = step.params.get("scopes").cloned().unwrap_or_default();
    scopes
        .split([' ', ','])
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The page at `base` again, `422`, with the refused form's error.
fn refused_form(ext: ApiKeys, base: String, keys: Vec<StoredKey>, refused: &Invalid) -> Answer {
    let (field, key) = match refused {
        Invalid::Name => ("name", "pow_api_keys_invalid_name"),
        Invalid::Scope(_) => ("scopes", "pow_api_keys_invalid_scope"),
        Invalid::Lifetime => ("scopes", "pow_api_keys_invalid_lifetime"),
    };
    Answer::render(move |step, cookie| {
        let errors = [(field, step.text(key))];
        Ok(page(step, cookie, &ext, &base, &keys, None, &errors).with_status(422))
    })
}

/// `POST /api-keys/revoke`: revokes the key of the form's `id`.
async fn revoke(step: &mut Step, client: &mut dyn Client, _: &ApiKeys) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let id = step.params.get("id").cloned().unwrap_or_default();
    if flows::revoke(&step.config, &user, &id).await? {
        client.flash(FlashKind::Info, Some(step.text("pow_api_keys_revoked")));
    } else {
        client.flash(FlashKind::Error, Some(step.text("pow_api_keys_not_found")));
    }
    Ok(Answer::Redirect(path(step, "/api-keys")))
}

/// The page of the organization `slug`'s keys.
#[cfg(feature = "organizations")]
fn organization_base(step: &Step, slug: &str) -> String {
    extension_path(&step.config, NAME, ORGANIZATION_PATH, &[("slug", slug)])
}

/// The answer to a member who may not manage the organization's keys (or no
/// organization): back to the organizations' page, in the words of the extension that
/// keeps them.
#[cfg(feature = "organizations")]
fn organization_refused(step: &Step, client: &mut dyn Client, refused: PrincipalRefusal) -> Answer {
    let organizations = step
        .config
        .extensions()
        .owning_principal(pow_core::extension::principal::ORGANIZATION);
    let Some(organizations) = organizations else {
        client.flash(FlashKind::Error, Some(step.text("pow_api_keys_not_found")));
        return Answer::Stop(path(step, "/api-keys"));
    };
    let key = match refused {
        PrincipalRefusal::Forbidden => organizations.forbidden_message(),
        PrincipalRefusal::NotFound => "pow_api_keys_not_found",
    };
    client.flash(FlashKind::Error, Some(step.text(key)));
    let (extension, home) = organizations.home();
    Answer::Stop(extension_path(&step.config, extension, home, &[]))
}

/// `GET /organizations/{slug}/api-keys` (`api_keys:manage`).
#[cfg(feature = "organizations")]
async fn organization_show(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &ApiKeys,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let keys = match flows::list_for_organization(&step.config, &user, &slug).await? {
        Ok(keys) => keys,
        Err(refused) => return Ok(organization_refused(step, client, refused)),
    };
    let (ext, base) = (ext.clone(), organization_base(step, &slug));
    Ok(Answer::render(move |step, cookie| {
        Ok(page(step, cookie, &ext, &base, &keys, None, &[]))
    }))
}

/// `POST /organizations/{slug}/api-keys` (sudo mode): a key of the organization, shown once.
#[cfg(feature = "organizations")]
async fn organization_create(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &ApiKeys,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let name = step.params.get("name").cloned().unwrap_or_default();
    let scopes = form_scopes(step);
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let lang = step.lang.clone();
    let outcome = flows::create_for_organization(
        &step.config,
        ext,
        &user,
        &slug,
        &name,
        &scopes,
        None,
        &lang,
    )
    .await?;
    let made = match outcome {
        Ok(made) => made,
        Err(Ok(refused)) => return Ok(organization_refused(step, client, refused)),
        Err(Err(invalid)) => {
            let keys = flows::list_for_organization(&step.config, &user, &slug)
                .await?
                .unwrap_or_default();
            let base = organization_base(step, &slug);
            return Ok(refused_form(ext.clone(), base, keys, &invalid));
        }
    };
    let keys = flows::list_for_organization(&step.config, &user, &slug)
        .await?
        .unwrap_or_default();
    step.user = Some(user);
    let (ext, base) = (ext.clone(), organization_base(step, &slug));
    Ok(Answer::render(move |step, cookie| {
        Ok(page(step, cookie, &ext, &base, &keys, Some(&made.key), &[]))
    }))
}

/// `POST /organizations/{slug}/api-keys/revoke`: revokes the key of the form's `id`.
#[cfg(feature = "organizations")]
async fn organization_revoke(
    step: &mut Step,
    client: &mut dyn Client,
    _: &ApiKeys,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let id = step.params.get("id").cloned().unwrap_or_default();
    match flows::revoke_for_organization(&step.config, &user, &slug, &id).await? {
        Ok(()) => client.flash(FlashKind::Info, Some(step.text("pow_api_keys_revoked"))),
        Err(PrincipalRefusal::NotFound) => {
            client.flash(FlashKind::Error, Some(step.text("pow_api_keys_not_found")));
        }
        Err(refused) => return Ok(organization_refused(step, client, refused)),
    }
    Ok(Answer::Redirect(organization_base(step, &slug)))
}

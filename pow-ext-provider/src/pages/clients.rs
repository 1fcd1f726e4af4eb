//! The clients page (`/oauth/clients`), for the users the app's admin check accepts: the
//! registered clients, a form to register one, and per client a secret rotation and a
//! removal. A new secret is shown once, on the answer to the form that made it. Every
//! decision is the flows' and the registry's; this renders them.

use std::time::Duration;

use pow_core::config::extension_path;
use pow_core::pages::routes::WantsJson;
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Step};
use pow_core::session::CookieSession;
use pow_core::views::{Field, FieldType, Form, PageBody, PageId};
use pow_core::PowError;
use serde_json::json;

use crate::registry::{ClientSpec, Refusal, Registry, StoredClient};
use crate::{flows, ClientKind, GrantType, Provider, NAME};

/// The clients page.
pub const CLIENTS_PAGE: PageId = PageId::new("provider/clients");
/// Its path; a `POST` registers a client.
pub const CLIENTS_PATH: &str = "/oauth/clients";
/// Where a secret rotation is posted.
pub const CLIENT_ROTATE_PATH: &str = "/oauth/clients/rotate";
/// Where a removal is posted.
pub const CLIENT_REMOVE_PATH: &str = "/oauth/clients/remove";

/// How long a rotated secret keeps working beside the new one: a day.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// The registry and the signed-in admin's id, or the `403` page for anyone else.
fn registry(step: &Step, ext: &Provider) -> Result<Result<(Registry, i64), Answer>, PowError> {
    let user = step.signed_in()?.clone();
    Ok(match flows::client_registry(&step.config, ext, &user)? {
        Some(registry) => Ok((registry, user.id)),
        None => Err(super::refused_here(403, "pow_provider_clients_forbidden")),
    })
}

/// The step's registry and admin, or return the `403` page from the controller.
macro_rules! admin_or_refuse {
    ($step:expr, $ext:expr) => {
        match registry($step, $ext)? {
            Ok(admin) => admin,
            Err(answer) => return Ok(answer),
        }
    };
}

/// `GET /oauth/clients`: the list and the registration form; JSON to a client that asks.
pub(crate) async fn show(
    step: &mut Step,
    _: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let (registry, _) = admin_or_refuse!(step, ext);
    let clients = registry.list().await?;
    if step.assigns.get::<WantsJson>().is_some() {
        return Ok(super::json_answer(200, json!({ "clients": clients })));
    }
    Ok(Answer::render(move |step, cookie| {
        Ok(page(step, cookie, &clients, None, None))
    }))
}

/// `POST /oauth/clients` (sudo mode): registers the form's client and shows its secret once.
pub(crate) async fn create(
    step: &mut Step,
    _: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let (registry, by) = admin_or_refuse!(step, ext);
    let field = |name: &str| step.params.get(name).cloned().unwrap_or_default();
    let kind = match field("confidential").as_str() {
        "true" => ClientKind::Confidential,
        _ => ClientKind::Public,
    };
    let mut spec = ClientSpec::new(kind).name(field("name"));
    spec.redirect_uris = words(&field("redirect_uris"));
    spec.post_logout_redirect_uris = words(&field("post_logout_redirect_uris"));
    let scopes = words(&field("scopes"));
    spec.scopes = (!scopes.is_empty()).then_some(scopes);
    spec.resources = words(&field("resources"));
    let mut problem = None;
    for name in words(&field("grants")) {
        match GrantType::from_name(&name) {
            Some(grant) => spec.grants.push(grant),
            None => problem = Some(format!("`{name}` is no grant a client may be given")),
        }
    }
    let days = field("secret_days");
    let days = days.trim();
    match days.parse::<u32>() {
        Ok(days) if days > 0 => spec.secret_days = Some(days),
        _ if days.is_empty() => {}
        _ => problem = Some(format!("`{days}` is not a number of days")),
    }
    let outcome = match problem {
        Some(problem) => Err(Refusal::Invalid(problem)),
        None => registry.register(ext, spec, false, Some(by)).await?,
    };
    let clients = registry.list().await?;
    Ok(match outcome {
        Ok(created) => Answer::render(move |step, cookie| {
            let secret = created
                .secret
                .as_deref()
                .map(|secret| (created.client.id.as_str(), secret));
            Ok(page(step, cookie, &clients, secret, None))
        }),
        Err(refusal) => Answer::render(move |step, cookie| {
            let problem = match refusal {
                Refusal::Taken => step.text("pow_provider_client_taken"),
                Refusal::Invalid(problem) => problem,
            };
            Ok(page(step, cookie, &clients, None, Some(problem)).with_status(422))
        }),
    })
}

/// `POST /oauth/clients/rotate` (sudo mode): a new secret for the form's `client`, shown
/// once; the previous one works for [`ROTATION_OVERLAP`] more.
pub(crate) async fn rotate(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let (registry, by) = admin_or_refuse!(step, ext);
    let id = step.params.get("client").cloned().unwrap_or_default();
    let Some(secret) = registry
        .rotate_secret(&id, ROTATION_OVERLAP, None, Some(by))
        .await?
    else {
        return Ok(back_to_list(
            step,
            client,
            FlashKind::Error,
            "pow_provider_client_not_found",
        ));
    };
    let clients = registry.list().await?;
    Ok(Answer::render(move |step, cookie| {
        Ok(page(step, cookie, &clients, Some((&id, &secret)), None))
    }))
}

/// `POST /oauth/clients/remove` (sudo mode): removes the form's `client` and ends its
/// tokens.
pub(crate) async fn remove(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let (registry, by) = admin_or_refuse!(step, ext);
    let id = step.params.get("client").cloned().unwrap_or_default();
    let (kind, key) = match registry.remove(ext, &id, Some(by)).await? {
        true => (FlashKind::Info, "pow_provider_client_removed"),
        false => (FlashKind::Error, "pow_provider_client_not_found"),
    };
    Ok(back_to_list(step, client, kind, key))
}

/// Back to the clients page, with the text of `key` as a flash.
fn back_to_list(step: &Step, client: &mut dyn Client, kind: FlashKind, key: &str) -> Answer {
    client.flash(kind, Some(step.text(key)));
    Answer::Redirect(extension_path(&step.config, NAME, CLIENTS_PATH, &[]))
}

/// The words of a form field (separated by spaces, commas or line breaks).
fn words(text: &str) -> Vec<String> {
    text.split([' ', ',', '\n', '\r'])
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The page: `secret` a client's new secret (shown this once), `problem` a refused form's.
fn page(
    step: &Step,
    cookie: &CookieSession,
    clients: &[StoredClient],
    secret: Option<(&str, &str)>,
    problem: Option<String>,
) -> Page {
    let base = extension_path(&step.config, NAME, CLIENTS_PATH, &[]);
    let value = |name: &str| match secret {
        // A registration went through: the form starts empty again.
        Some(_) => String::new(),
        None => step.params.get(name).cloned().unwrap_or_default(),
    };
    let fields = vec![
        Field::new(
            "name",
            step.text("pow_provider_client_name"),
            FieldType::Text,
        )
        .value(value("name")),
        Field::new(
            "redirect_uris",
            step.text("pow_provider_client_redirect_uris"),
            FieldType::Text,
        )
        .value(value("redirect_uris"))
        .errors(problem.into_iter().collect()),
        Field::new(
            "post_logout_redirect_uris",
            step.text("pow_provider_client_post_logout_uris"),
            FieldType::Text,
        )
        .value(value("post_logout_redirect_uris")),
        Field::new(
            "scopes",
            step.text("pow_provider_client_scopes"),
            FieldType::Text,
        )
        .value(value("scopes")),
        Field::new(
            "resources",
            step.text("pow_provider_client_resources"),
            FieldType::Text,
        )
        .value(value("resources")),
        Field::new(
            "grants",
            step.text("pow_provider_client_grants"),
            FieldType::Text,
        )
        .value(value("grants")),
        Field::new(
            "confidential",
            step.text("pow_provider_client_confidential"),
            FieldType::Checkbox,
        )
        .value(value("confidential")),
        Field::new(
            "secret_days",
            step.text("pow_provider_client_secret_days"),
            FieldType::Text,
        )
        .value(value("secret_days")),
    ];
    let create = form(
        cookie,
        base.clone(),
        None,
        fields,
        step.text("pow_provider_client_create"),
    );
    let mut extra_forms: Vec<Form> = clients
        .iter()
        .flat_map(|client| rows(step, cookie, client))
        .collect();
    if let Some((id, secret)) = secret {
        let shown = Field::new(
            "secret",
            format!("{} {id}", step.text("pow_provider_client_secret_once")),
            FieldType::Text,
        )
        .value(secret.to_owned());
        let mut once = form(cookie, base, None, vec![shown], String::new());
        once.submit = String::new();
        extra_forms.insert(0, once);
    }
    let mut page = Page::new(
        CLIENTS_PAGE,
        "pow_provider_title_clients",
        PageBody::Form {
            form: create,
            links: Vec::new(),
            extra_forms,
        },
    );
    if clients.is_empty() {
        page.info = Some(step.text("pow_provider_clients_none"));
    }
    if secret.is_some() {
        page.info = Some(step.text("pow_provider_client_secret_once"));
    }
    page
}

/// A client's rows: what it is, with Remove, and for a confidential one a secret rotation.
fn rows(step: &Step, cookie: &CookieSession, client: &StoredClient) -> Vec<Form> {
    let used = match client.last_used_at {
        Some(at) => format!(
            "{} {}",
            step.text("pow_provider_client_last_used"),
            at.format("%Y-%m-%d")
        ),
        None => step.text("pow_provider_client_never_used"),
    };
    let kind = match client.kind {
        ClientKind::Public => "public",
        ClientKind::Confidential => "confidential",
    };
    let resources = match client.resources.is_empty() {
        true => String::new(),
        false => format!(
            "; {} {}",
            step.text("pow_provider_client_resources"),
            client.resources.join(" ")
        ),
    };
    let grants = match client.grants.is_empty() {
        true => String::new(),
        false => format!(
            "; {} {}",
            step.text("pow_provider_client_grants_given"),
            client
                .grants
                .iter()
                .map(|grant| grant.name())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    let expiry = match client.secret_expires_at {
        Some(at) => format!(
            "; {} {}",
            step.text("pow_provider_client_secret_until"),
            at.format("%Y-%m-%d")
        ),
        None => String::new(),
    };
    let about = format!(
        "{} ({}, {kind}): {}{resources}{grants}{expiry}; {used}",
        client.name.as_deref().unwrap_or(&client.id),
        client.id,
        client.redirect_uris.join(" "),
    );
    let hidden = || Field::new("client", "", FieldType::Hidden).value(client.id.clone());
    let mut forms = vec![form(
        cookie,
        extension_path(&step.config, NAME, CLIENT_REMOVE_PATH, &[]),
        None,
        vec![Field::note("about", about), hidden()],
        step.text("pow_provider_client_remove"),
    )];
    if client.kind == ClientKind::Confidential {
        forms.push(form(
            cookie,
            extension_path(&step.config, NAME, CLIENT_ROTATE_PATH, &[]),
            None,
            vec![hidden()],
            step.text("pow_provider_client_rotate"),
        ));
    }
    forms
}

//! The pages: identifier-first sign-in (`/sso`), the provider's callback, and an
//! organization's connection page for its admins. Every decision is the flows'; these
//! controllers render it as a page, a redirect, or JSON for a client that asks.

use std::sync::Arc;

use pow_core::config::extension_path;
use pow_core::pages::routes::{PageRoute, QueryParams, Verb, WantsJson};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{ActionId, ActionKind, Client, FlashKind, Step};
use pow_core::request::RequestSource;
use pow_core::session::CookieSession;
use pow_core::token::secure_compare;
use pow_core::views::{Field, FieldType, Form, Link, PageBody, PageId};
use pow_core::{PowConfig, PowError};
use serde_json::json;

use crate::connections::ConnectionSpec;
use crate::flows::{self, Callback, Change, Finished, Intent, Managed, Shared, Switch};
use crate::NAME;

/// The identifier-first page.
pub const SSO_PAGE: PageId = PageId::new("sso/new");
/// An organization's connection page.
pub const MANAGE_PAGE: PageId = PageId::new("sso/manage");
/// The claims an admin's test sign-in gave.
pub const TESTED_PAGE: PageId = PageId::new("sso/tested");

/// The identifier-first page's path.
pub const SSO_PATH: &str = "/sso";
/// The callback's path: the redirect URI to register at the provider.
pub const CALLBACK_PATH: &str = "/sso/callback";
/// An organization's connection page.
pub const MANAGE_PATH: &str = "/organizations/{slug}/sso";
/// A switch of an organization's connection.
pub const SWITCH_PATH: &str = "/organizations/{slug}/sso/{switch}";

/// The extension's page actions.
pub mod actions {
    use super::{ActionId, ActionKind};

    /// `GET /sso`.
    pub const NEW: ActionId = ActionId::new("sso", "new", ActionKind::Show);
    /// `POST /sso`: off to the provider.
    pub const START: ActionId = ActionId::new("sso", "start", ActionKind::Other);
    /// `GET /sso/callback`.
    pub const CALLBACK: ActionId = ActionId::new("sso", "callback", ActionKind::SignIn);
    /// `GET /organizations/{slug}/sso`.
    pub const MANAGE: ActionId = ActionId::new("sso", "manage", ActionKind::Show);
    /// `POST /organizations/{slug}/sso`.
    pub const SAVE: ActionId = ActionId::new("sso", "save", ActionKind::Other);
    /// `POST /organizations/{slug}/sso/{switch}`.
    pub const SWITCH: ActionId = ActionId::new("sso", "switch", ActionKind::Other);
}

/// The routes.
pub(crate) fn page_routes(shared: &Arc<Shared>) -> Vec<PageRoute> {
    let ext = Arc::clone(shared);
    vec![
        PageRoute::new(
            Verb::Get,
            SSO_PATH,
            actions::NEW,
            pow_core::page_act!(ext, show),
        )
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            SSO_PATH,
            actions::START,
            pow_core::page_act!(ext, start),
        )
        .of_extension(NAME),
        PageRoute::new(
            Verb::Get,
            CALLBACK_PATH,
            actions::CALLBACK,
            pow_core::page_act!(ext, callback),
        )
        .of_extension(NAME),
        PageRoute::new(
            Verb::Get,
            MANAGE_PATH,
            actions::MANAGE,
            pow_core::page_act!(ext, manage),
        )
        .signed_in()
        .no_support_access()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            MANAGE_PATH,
            actions::SAVE,
            pow_core::page_act!(ext, save),
        )
        .signed_in()
        .sudo()
        .no_support_access()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            SWITCH_PATH,
            actions::SWITCH,
            pow_core::page_act!(ext, switch),
        )
        .signed_in()
        .sudo()
        .no_support_access()
        .of_extension(NAME),
    ]
}

/// The "Sign in with your organization" link on the sign-in page.
pub(crate) fn sign_in_link(
    page: PageId,
    body: &mut PageBody,
    lang: &pow_core::messages::LanguageIdentifier,
    config: &PowConfig,
) {
    if page != PageId::SESSION_NEW {
        return;
    }
    if let PageBody::Form { links, .. } = body {
        links.push(Link::new(
            extension_path(config, NAME, SSO_PATH, &[]),
            config.messages().text(lang, "pow_sso_sign_in_link"),
        ));
    }
}

/// The callback URL the provider sends the browser back to.
pub(crate) fn callback_url(config: &PowConfig, source: &dyn RequestSource) -> String {
    let path = extension_path(config, NAME, CALLBACK_PATH, &[]);
    match config.base_url() {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => format!("{}{path}", source.facts().origin.unwrap_or_default()),
    }
}

/// The cookie-session key holding the state of the sign-in this browser began.
fn state_key(config: &PowConfig) -> String {
    config.namespaced("pow_sso_state")
}

/// `GET /sso`: the form asking for an address or an organization.
async fn show(_: &mut Step, _: &mut dyn Client, _: &Shared) -> Result<Answer, PowError> {
    Ok(Answer::render(|step, cookie| {
        Ok(identifier_page(step, cookie, None))
    }))
}

fn identifier_page(step: &Step, cookie: &CookieSession, problem: Option<String>) -> Page {
    let field = Field::new(
        "identifier",
        step.text("pow_sso_identifier"),
        FieldType::Text,
    )
    .value(step.params.get("identifier").cloned().unwrap_or_default())
    .errors(problem.into_iter().collect());
    let body = PageBody::Form {
        form: form(
            cookie,
            extension_path(&step.config, NAME, SSO_PATH, &[]),
            None,
            vec![field],
            step.text("pow_sso_continue"),
        ),
        links: vec![Link::new(
            step.config.routes().session_path(&step.routes_ctx(), "new"),
            step.text("pow_sso_other_ways"),
        )],
        extra_forms: Vec::new(),
    };
    Page::new(SSO_PAGE, "pow_sso_title", body)
}

/// `POST /sso`: the address or organization's connection, off to its provider; the form
/// again when it has none.
async fn start(
    step: &mut Step,
    client: &mut dyn Client,
    shared: &Shared,
) -> Result<Answer, PowError> {
    let facts = client.facts();
    flows::count_start(&step.config, &shared.settings, &facts).await?;
    let identifier = step.params.get("identifier").cloned().unwrap_or_default();
    let Some(connection) = flows::route(&step.config, &identifier).await? else {
        if step.assigns.get::<WantsJson>().is_some() {
            return Ok(Answer::data(200, json!({ "sso": false })));
        }
        return Ok(Answer::render(|step, cookie| {
            let problem = step.text("pow_sso_no_connection");
            Ok(identifier_page(step, cookie, Some(problem)).with_status(422))
        }));
    };
    let back = extension_path(&step.config, NAME, SSO_PATH, &[]);
    let intent = Intent::sign_in(step.request_path.clone());
    redirect_to_provider(step, client, shared, &connection, intent, back).await
}

/// Begins a sign-in for `intent` and sends the browser to the provider; back to
/// `back` with an error when it cannot be reached.
async fn redirect_to_provider(
    step: &Step,
    client: &mut dyn Client,
    shared: &Shared,
    connection: &crate::Connection,
    intent: Intent,
    back: String,
) -> Result<Answer, PowError> {
    let facts = client.facts();
    let redirect_uri = callback_url(&step.config, &facts);
    let begun = flows::begin(&step.config, shared, connection, redirect_uri, intent).await?;
    let Some(begun) = begun else {
        client.flash(
            FlashKind::Error,
            Some(step.text("pow_sso_provider_unavailable")),
        );
        return Ok(Answer::Redirect(back));
    };
    client.set_value(&state_key(&step.config), &begun.state)?;
    if step.assigns.get::<WantsJson>().is_some() {
        return Ok(Answer::data(200, json!({ "sso": true, "url": begun.url })));
    }
    Ok(Answer::Redirect(begun.url))
}

/// `GET /sso/callback`: the provider's answer. Signs the user in, shows an admin's test,
/// or refuses with the reason.
async fn callback(
    step: &mut Step,
    client: &mut dyn Client,
    shared: &Shared,
) -> Result<Answer, PowError> {
    let query = step
        .assigns
        .get::<QueryParams>()
        .cloned()
        .unwrap_or_default();
    let key = state_key(&step.config);
    let held = client.value(&key);
    client.remove_value(&key);
    // The state must be the one this browser began with, whatever the store holds.
    let state = query
        .get("state")
        .filter(|state| {
            held.as_deref()
                .is_some_and(|held| secure_compare(held.as_bytes(), state.as_bytes()))
        })
        .map(str::to_owned);
    let finished = match query.get("saml") {
        // A SAML answer its assertion consumer service checked and handed over.
        Some(handoff) => flows::finish_saml(&step.config, handoff, state.as_deref()).await?,
        None => {
            let answer = Callback {
                state,
                code: query.get("code").map(str::to_owned),
                error: query.get("error").map(str::to_owned),
                iss: query.get("iss").map(str::to_owned),
            };
            flows::finish(&step.config, shared, answer).await?
        }
    };
    match finished {
        Finished::SignIn {
            user,
            connection,
            claims,
            request_path,
        } => {
            if step
                .current_user
                .as_ref()
                .is_some_and(|current| current.id != user.id)
            {
                client.session().end(&step.config).await?;
            }
            let facts = client.facts();
            flows::sign_in(
                &step.config,
                &facts,
                &user,
                &connection,
                &claims,
                client.session(),
            )
            .await?;
            client.flash(
                FlashKind::Info,
                step.config.messages().signed_in(&step.lang),
            );
            step.request_path = request_path;
            step.user = Some(user);
            Ok(Answer::Redirect(
                step.config.routes().after_sign_in_path(&step.routes_ctx()),
            ))
        }
        Finished::Tested { claims, slug, .. } => Ok(Answer::render(move |step, _| {
            let mut paragraphs = vec![step.text("pow_sso_test_passed")];
            paragraphs.push(format!("sub: {}", claims.subject));
            if let Some(email) = &claims.email {
                paragraphs.push(format!(
                    "email: {email} (email_verified: {})",
                    claims.email_verified
                ));
            }
            if let Some(name) = &claims.name {
                paragraphs.push(format!("name: {name}"));
            }
            if !claims.amr.is_empty() {
                paragraphs.push(format!("amr: {}", claims.amr.join(" ")));
            }
            if let Some(acr) = &claims.acr {
                paragraphs.push(format!("acr: {acr}"));
            }
            let links = vec![Link::new(
                manage_path(&step.config, &slug),
                step.text("pow_sso_back_to_connection"),
            )];
            Ok(Page::new(
                TESTED_PAGE,
                "pow_sso_title_tested",
                PageBody::Text { paragraphs, links },
            ))
        })),
        Finished::Linked { slug } => {
            client.flash(FlashKind::Info, Some(step.text("pow_sso_linked")));
            Ok(Answer::Redirect(extension_path(
                &step.config,
                pow_ext_organizations::NAME,
                "/organizations/{slug}",
                &[("slug", &slug)],
            )))
        }
        Finished::Refused(refusal) => {
            client.flash(FlashKind::Error, Some(step.text(refusal.key())));
            Ok(Answer::Redirect(extension_path(
                &step.config,
                NAME,
                SSO_PATH,
                &[],
            )))
        }
    }
}

/// The connection page of organization `slug`.
pub(crate) fn manage_path(config: &PowConfig, slug: &str) -> String {
    extension_path(config, NAME, MANAGE_PATH, &[("slug", slug)])
}

/// The answer to a refused change: `404` for no such organization (or not a member),
/// `403` for a member who may not, the page with the problem for a form's; the API's
/// error to a client that asks for JSON.
fn refused(step: &Step, client: &mut dyn Client, slug: &str, change: Change) -> Answer {
    let (status, code, key) = change.answer();
    if step.assigns.get::<WantsJson>().is_some() {
        let error =
            pow_core::api::ApiError::translated(Some(&step.config), &step.lang, status, key)
                .with_code(code);
        return Answer::api_error(&error);
    }
    if matches!(status, 403 | 404) {
        let text = step.text(key);
        return Answer::render(move |_, _| {
            Ok(Page::new(
                MANAGE_PAGE,
                "pow_sso_title_manage",
                PageBody::Text {
                    paragraphs: vec![text],
                    links: Vec::new(),
                },
            )
            .with_status(status))
        });
    }
    client.flash(FlashKind::Error, Some(step.text(key)));
    Answer::Redirect(manage_path(&step.config, slug))
}

/// `GET /organizations/{slug}/sso`: the connection, its form and switches; JSON to a
/// client that asks.
async fn manage(step: &mut Step, client: &mut dyn Client, _: &Shared) -> Result<Answer, PowError> {
    let slug = step.path_param("slug");
    let admin = step.signed_in()?.clone();
    let facts = client.facts();
    let redirect_uri = callback_url(&step.config, &facts);
    let managed = match flows::managed(&step.config, &admin, &slug, redirect_uri).await? {
        Ok(managed) => managed,
        Err(change) => return Ok(refused(step, client, &slug, change)),
    };
    if step.assigns.get::<WantsJson>().is_some() {
        return Ok(Answer::Json {
            status: 200,
            headers: vec![("cache-control", "no-store".to_owned())],
            body: json!(managed),
        });
    }
    Ok(Answer::render(move |step, cookie| {
        Ok(manage_page(step, cookie, &managed))
    }))
}

/// `POST /organizations/{slug}/sso` (sudo mode): sets the connection up or changes it.
async fn save(
    step: &mut Step,
    client: &mut dyn Client,
    shared: &Shared,
) -> Result<Answer, PowError> {
    let slug = step.path_param("slug");
    let admin = step.signed_in()?.clone();
    let Some(spec) = ConnectionSpec::from_fields(|name| step.params.get(name).cloned()) else {
        return Ok(refused(
            step,
            client,
            &slug,
            Change::Invalid("pow_sso_invalid_protocol"),
        ));
    };
    match flows::save(&step.config, &shared.settings, &admin, &slug, spec).await? {
        Ok(connection) => {
            if step.assigns.get::<WantsJson>().is_some() {
                return Ok(Answer::data(200, json!(connection)));
            }
            client.flash(FlashKind::Info, Some(step.text("pow_sso_saved")));
            Ok(Answer::Redirect(manage_path(&step.config, &slug)))
        }
        Err(change) => Ok(refused(step, client, &slug, change)),
    }
}

/// `POST /organizations/{slug}/sso/{switch}` (sudo mode): `enable`, `disable`,
/// `enforce`, `relax`, `test` (off to the provider), `break-glass` (the form's `owner`,
/// a user id, or nobody) or `remove`; and, for any member, `link` (off to the provider to
/// link their own account).
async fn switch(
    step: &mut Step,
    client: &mut dyn Client,
    shared: &Shared,
) -> Result<Answer, PowError> {
    let slug = step.path_param("slug");
    let admin = step.signed_in()?.clone();
    let config = step.config.clone();
    let back = manage_path(&config, &slug);
    let json = step.assigns.get::<WantsJson>().is_some();
    let done = |step: &Step, client: &mut dyn Client, key: &str, data: serde_json::Value| {
        if json {
            return Answer::data(200, data);
        }
        client.flash(FlashKind::Info, Some(step.text(key)));
        Answer::Redirect(back.clone())
    };
    let name = step.path_param("switch");
    let turned = match name.as_str() {
        "enable" => Switch::Enable,
        "disable" => Switch::Disable,
        "enforce" => Switch::Enforce,
        "relax" => Switch::Relax,
        "test" => {
            let connection = match flows::testable(&config, &admin, &slug).await? {
                Ok(connection) => connection,
                Err(change) => return Ok(refused(step, client, &slug, change)),
            };
            let intent = Intent {
                test_by: Some(admin.id),
                ..Intent::default()
            };
            return redirect_to_provider(step, client, shared, &connection, intent, back.clone())
                .await;
        }
        "link" => {
            let connection = match flows::linkable(&config, &admin, &slug).await? {
                Ok(connection) => connection,
                Err(change) => return Ok(refused(step, client, &slug, change)),
            };
            let intent = Intent {
                link_for: Some(admin.id),
                ..Intent::default()
            };
            let back = extension_path(&config, NAME, SSO_PATH, &[]);
            return redirect_to_provider(step, client, shared, &connection, intent, back).await;
        }
        "break-glass" => {
            let owner = step
                .params
                .get("owner")
                .and_then(|id| id.trim().parse::<i64>().ok());
            return Ok(
                match flows::set_break_glass(&config, &admin, &slug, owner).await? {
                    Ok(connection) => {
                        done(step, client, "pow_sso_break_glass_saved", json!(connection))
                    }
                    Err(change) => refused(step, client, &slug, change),
                },
            );
        }
        "remove" => {
            return Ok(match flows::remove(&config, &admin, &slug).await? {
                Ok(()) => done(step, client, "pow_sso_removed", json!({ "removed": true })),
                Err(change) => refused(step, client, &slug, change),
            });
        }
        _ => {
            return Ok(refused(
                step,
                client,
                &slug,
                Change::Refused(pow_ext_organizations::Refused::NotFound),
            ))
        }
    };
    Ok(match flows::switch(&config, &admin, &slug, turned).await? {
        Ok(connection) => {
            let key = match turned {
                Switch::Enable => "pow_sso_enabled",
                Switch::Disable => "pow_sso_disabled",
                Switch::Enforce => "pow_sso_enforced",
                Switch::Relax => "pow_sso_relaxed",
            };
            done(step, client, key, json!(connection))
        }
        Err(change) => refused(step, client, &slug, change),
    })
}

/// The SAML settings (feature `saml`): what to give the identity provider, and its
/// metadata by URL or as a document.
fn saml_form(
    step: &Step,
    cookie: &CookieSession,
    base: &str,
    managed: &Managed,
    sp: &flows::ServiceProviderUrls,
) -> Form {
    let saml = managed.connection.as_ref().filter(|c| c.is_saml());
    let fields = vec![
        Field::new("protocol", String::new(), FieldType::Hidden).value("saml".to_owned()),
        Field::note(
            "saml_entity_id",
            format!("{} {}", step.text("pow_sso_saml_entity_id"), sp.entity_id),
        ),
        Field::note(
            "saml_acs_url",
            format!("{} {}", step.text("pow_sso_saml_acs_url"), sp.acs_url),
        ),
        Field::new(
            "metadata_url",
            step.text("pow_sso_saml_metadata_url"),
            FieldType::Text,
        ),
        Field::new(
            "metadata_xml",
            step.text("pow_sso_saml_metadata_xml"),
            FieldType::Text,
        ),
        Field::new(
            "idp_initiated",
            step.text("pow_sso_saml_idp_initiated"),
            FieldType::Checkbox,
        )
        .value(saml.is_some_and(|c| c.idp_initiated).to_string()),
        Field::new(
            "default_role",
            step.text("pow_sso_default_role"),
            FieldType::Text,
        )
        .value(
            saml.map(|c| c.default_role.clone())
                .unwrap_or_else(|| pow_ext_organizations::MEMBER.to_owned()),
        ),
    ];
    form(
        cookie,
        base.to_owned(),
        None,
        fields,
        step.text("pow_sso_saml_save"),
    )
}

/// The connection page: its state, the settings form, and one button per switch.
fn manage_page(step: &Step, cookie: &CookieSession, managed: &Managed) -> Page {
    let slug = &managed.organization.slug;
    let base = manage_path(&step.config, slug);
    let connection = managed.connection.as_ref();
    let value = |name: &str, stored: Option<String>| {
        step.params
            .get(name)
            .cloned()
            .or(stored)
            .unwrap_or_default()
    };
    let fields = vec![
        Field::note(
            "redirect_uri",
            format!(
                "{} {}",
                step.text("pow_sso_redirect_uri"),
                managed.redirect_uri
            ),
        ),
        Field::new("issuer", step.text("pow_sso_issuer"), FieldType::Text)
            .value(value("issuer", connection.map(|c| c.issuer.clone()))),
        Field::new("client_id", step.text("pow_sso_client_id"), FieldType::Text)
            .value(value("client_id", connection.map(|c| c.client_id.clone()))),
        Field::new(
            "client_secret",
            step.text(if connection.is_some_and(|c| c.has_client_secret) {
                "pow_sso_client_secret_kept"
            } else {
                "pow_sso_client_secret"
            }),
            FieldType::Password,
        ),
        Field::new(
            "default_role",
            step.text("pow_sso_default_role"),
            FieldType::Text,
        )
        .value(value(
            "default_role",
            Some(
                connection
                    .map(|c| c.default_role.clone())
                    .unwrap_or_else(|| pow_ext_organizations::MEMBER.to_owned()),
            ),
        )),
    ];
    let settings = form(
        cookie,
        base.clone(),
        None,
        fields,
        step.text("pow_sso_save"),
    );
    let mut extra_forms: Vec<Form> = Vec::new();
    if let Some(sp) = &managed.saml_service_provider {
        extra_forms.push(saml_form(step, cookie, &base, managed, sp));
    }
    let mut info = vec![format!(
        "{} {}",
        step.text("pow_sso_verified_domains"),
        if managed.verified_domains.is_empty() {
            "-".to_owned()
        } else {
            managed.verified_domains.join(", ")
        }
    )];
    if let Some(connection) = connection {
        info.push(step.text(match (connection.enabled, connection.enforced) {
            (false, _) => "pow_sso_state_off",
            (true, false) => "pow_sso_state_on",
            (true, true) => "pow_sso_state_enforced",
        }));
        info.push(step.text(if connection.validated_at.is_some() {
            "pow_sso_state_validated"
        } else {
            "pow_sso_state_not_validated"
        }));
        let button = |name: &str, key: &str, fields: Vec<Field>| {
            form(
                cookie,
                extension_path(
                    &step.config,
                    NAME,
                    SWITCH_PATH,
                    &[("slug", slug), ("switch", name)],
                ),
                None,
                fields,
                step.text(key),
            )
        };
        extra_forms.push(button("test", "pow_sso_test", Vec::new()));
        if connection.enabled {
            extra_forms.push(button("disable", "pow_sso_disable", Vec::new()));
            if connection.enforced {
                extra_forms.push(button("relax", "pow_sso_relax", Vec::new()));
            } else if connection.validated_at.is_some() {
                extra_forms.push(button("enforce", "pow_sso_enforce", Vec::new()));
            }
        } else {
            extra_forms.push(button("enable", "pow_sso_enable", Vec::new()));
        }
        let owner = Field::new(
            "owner",
            step.text("pow_sso_break_glass_owner"),
            FieldType::Text,
        )
        .value(
            connection
                .break_glass_user_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        );
        extra_forms.push(button(
            "break-glass",
            "pow_sso_break_glass_save",
            vec![owner],
        ));
        extra_forms.push(button("remove", "pow_sso_remove", Vec::new()));
    }
    let mut page = Page::new(
        MANAGE_PAGE,
        "pow_sso_title_manage",
        PageBody::Form {
            form: settings,
            links: Vec::new(),
            extra_forms,
        },
    );
    page.info = Some(info.join(" · "));
    page
}

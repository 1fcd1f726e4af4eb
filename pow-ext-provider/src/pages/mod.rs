//! The authorization endpoint and its consent page, on the engine's page runner: every
//! framework layer serves them from the config's route table. The decisions are the flows'
//! ([`crate::flows`]); these controllers render them as a page, a redirect, or JSON for a
//! client that asks for it.

use std::sync::Arc;

use pow_core::config::{extension_path, returning_to, RouteContext};
use pow_core::pages::routes::{PageRoute, QueryParams, Verb, WantsJson};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{ActionId, ActionKind, Client, Step};
use pow_core::views::{Field, FieldType, PageBody, PageId};
use pow_core::PowError;
use serde_json::json;

use crate::flows::{self, AuthorizationRequest, Next, Refused};

pub mod clients;
pub mod device;
pub mod logout;
use crate::{Provider, NAME};

/// The consent page.
pub const CONSENT_PAGE: PageId = PageId::new("provider/consent");
/// The page of a request that cannot go back to its client.
pub const ERROR_PAGE: PageId = PageId::new("provider/error");
/// The signed-in user's applications: the clients they allowed, each with a revoke button.
pub const GRANTS_PAGE: PageId = PageId::new("provider/grants");

/// The applications page's path.
pub const GRANTS_PATH: &str = "/oauth/grants";
/// Where the applications page posts a revocation.
pub const GRANT_REVOKE_PATH: &str = "/oauth/grants/revoke";

/// The authorization endpoint's path.
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";

/// The extension's page actions.
pub mod actions {
    use super::{ActionId, ActionKind};

    /// `GET /oauth/authorize`.
    pub const AUTHORIZE: ActionId = ActionId::new("provider", "authorize", ActionKind::Show);
    /// `POST /oauth/authorize`: the consent page's answer.
    pub const CONSENT: ActionId = ActionId::new("provider", "consent", ActionKind::Other);
    /// `GET /oauth/grants`.
    pub const GRANTS: ActionId = ActionId::new("provider", "grants", ActionKind::Show);
    /// `GET /oauth/device`.
    pub const DEVICE: ActionId = ActionId::new("provider", "device", ActionKind::Show);
    /// `POST /oauth/device`: a device's code entered.
    pub const DEVICE_ENTER: ActionId = ActionId::new("provider", "device_enter", ActionKind::Other);
    /// `POST /oauth/device/confirm`.
    pub const DEVICE_CONFIRM: ActionId =
        ActionId::new("provider", "device_confirm", ActionKind::Other);
    /// `POST /oauth/grants/revoke`.
    pub const REVOKE_GRANT: ActionId = ActionId::new("provider", "revoke_grant", ActionKind::Other);
    /// `GET /oauth/logout`: RP-initiated logout's confirmation.
    pub const LOGOUT: ActionId = ActionId::new("provider", "logout", ActionKind::Show);
    /// `POST /oauth/logout`: the session ends.
    pub const LOGOUT_CONFIRM: ActionId =
        ActionId::new("provider", "logout_confirm", ActionKind::SignOut);
    /// `GET /oauth/clients`.
    pub const CLIENTS: ActionId = ActionId::new("provider", "clients", ActionKind::Show);
    /// `POST /oauth/clients`.
    pub const CLIENT_CREATE: ActionId =
        ActionId::new("provider", "client_create", ActionKind::Other);
    /// `POST /oauth/clients/rotate`.
    pub const CLIENT_ROTATE: ActionId =
        ActionId::new("provider", "client_rotate", ActionKind::Other);
    /// `POST /oauth/clients/remove`.
    pub const CLIENT_REMOVE: ActionId =
        ActionId::new("provider", "client_remove", ActionKind::Other);
}

/// The routes: the authorization endpoint, open to anyone (a signed-out visitor goes to
/// sign in and comes back; `prompt=none` answers the client instead), and the consent
/// page's answer (signed in, never during support access).
pub(crate) fn page_routes(ext: &Arc<Provider>) -> Vec<PageRoute> {
    let admin = ext.client_admins.is_some();
    let ext = Arc::clone(ext);
    let mut routes = vec![
        PageRoute::new(
            Verb::Get,
            AUTHORIZE_PATH,
            actions::AUTHORIZE,
            pow_core::page_act!(ext, authorize),
        )
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            AUTHORIZE_PATH,
            actions::CONSENT,
            pow_core::page_act!(ext, consent),
        )
        .signed_in()
        .no_support_access()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Get,
            crate::device::DEVICE_PATH,
            actions::DEVICE,
            pow_core::page_act!(ext, device::show),
        )
        .signed_in()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            crate::device::DEVICE_PATH,
            actions::DEVICE_ENTER,
            pow_core::page_act!(ext, device::enter),
        )
        .signed_in()
        .no_support_access()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            crate::device::DEVICE_CONFIRM_PATH,
            actions::DEVICE_CONFIRM,
            pow_core::page_act!(ext, device::confirm),
        )
        .signed_in()
        .no_support_access()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Get,
            GRANTS_PATH,
            actions::GRANTS,
            pow_core::page_act!(ext, grants),
        )
        .signed_in()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            GRANT_REVOKE_PATH,
            actions::REVOKE_GRANT,
            pow_core::page_act!(ext, revoke_grant),
        )
        .signed_in()
        .no_support_access()
        .of_extension(NAME),
        PageRoute::new(
            Verb::Get,
            crate::logout::LOGOUT_PATH,
            actions::LOGOUT,
            pow_core::page_act!(ext, logout::show),
        )
        .of_extension(NAME),
        PageRoute::new(
            Verb::Post,
            crate::logout::LOGOUT_PATH,
            actions::LOGOUT_CONFIRM,
            pow_core::page_act!(ext, logout::confirm),
        )
        .of_extension(NAME),
    ];
    if admin {
        routes.push(
            PageRoute::new(
                Verb::Get,
                clients::CLIENTS_PATH,
                actions::CLIENTS,
                pow_core::page_act!(ext, clients::show),
            )
            .signed_in()
            .no_support_access()
            .of_extension(NAME),
        );
        let change = |route: PageRoute| {
            route
                .signed_in()
                .sudo()
                .no_support_access()
                .of_extension(NAME)
        };
        routes.extend([
            change(PageRoute::new(
                Verb::Post,
                clients::CLIENTS_PATH,
                actions::CLIENT_CREATE,
                pow_core::page_act!(ext, clients::create),
            )),
            change(PageRoute::new(
                Verb::Post,
                clients::CLIENT_ROTATE_PATH,
                actions::CLIENT_ROTATE,
                pow_core::page_act!(ext, clients::rotate),
            )),
            change(PageRoute::new(
                Verb::Post,
                clients::CLIENT_REMOVE_PATH,
                actions::CLIENT_REMOVE,
                pow_core::page_act!(ext, clients::remove),
            )),
        ]);
    }
    routes
}

/// The "Applications" link on the account page.
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
            extension_path(config, NAME, GRANTS_PATH, &[]),
            config.messages().text(lang, "pow_provider_title_grants"),
        ));
    }
}

/// `GET /oauth/grants`: the clients the user allowed, each with a revoke button; JSON to a
/// client that asks.
async fn grants(step: &mut Step, _: &mut dyn Client, ext: &Provider) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let grants = flows::grants(&step.config, ext, user.id).await?;
    if step.assigns.get::<WantsJson>().is_some() {
        return Ok(json_answer(200, json!({ "grants": grants })));
    }
    Ok(Answer::render(move |step, cookie| {
        let action = extension_path(&step.config, NAME, GRANT_REVOKE_PATH, &[]);
        let rows = grants
            .iter()
            .map(|grant| {
                let resources = match grant.resources.is_empty() {
                    true => String::new(),
                    false => format!(
                        "; {} {}",
                        step.text("pow_provider_grant_resources"),
                        grant.resources.join(", ")
                    ),
                };
                let text = format!(
                    "{} ({}{resources}), {} {}",
                    grant.client_name,
                    grant.scopes.join(", "),
                    step.text("pow_provider_grant_since"),
                    grant.created_at.format("%Y-%m-%d")
                );
                let fields = vec![
                    Field::note("about", text),
                    Field::new("client", "", FieldType::Hidden).value(grant.client_id.clone()),
                ];
                form(
                    cookie,
                    action.clone(),
                    None,
                    fields,
                    step.text("pow_provider_grant_revoke"),
                )
            })
            .collect::<Vec<_>>();
        let mut rows = rows.into_iter();
        let body = match rows.next() {
            Some(first) => PageBody::Form {
                form: first,
                links: Vec::new(),
                extra_forms: rows.collect(),
            },
            None => PageBody::Text {
                paragraphs: vec![step.text("pow_provider_grants_none")],
                links: Vec::new(),
            },
        };
        Ok(Page::new(GRANTS_PAGE, "pow_provider_title_grants", body))
    }))
}

/// `POST /oauth/grants/revoke`: withdraws the consent and ends the client's tokens.
async fn revoke_grant(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let client_id = step.params.get("client").cloned().unwrap_or_default();
    let revoked = flows::revoke_grant(&step.config, ext, user.id, &client_id).await?;
    let (kind, key) = match revoked {
        true => (
            pow_core::pipeline::FlashKind::Info,
            "pow_provider_grant_revoked",
        ),
        false => (
            pow_core::pipeline::FlashKind::Error,
            "pow_provider_grant_not_found",
        ),
    };
    client.flash(kind, Some(step.text(key)));
    Ok(Answer::Redirect(extension_path(
        &step.config,
        NAME,
        GRANTS_PATH,
        &[],
    )))
}

/// A page of ours saying the request cannot continue: `status`, the text of `key`.
fn refused_here(status: u16, key: &'static str) -> Answer {
    Answer::render(move |step, _| {
        let body = PageBody::Text {
            paragraphs: vec![step.text(key)],
            links: Vec::new(),
        };
        Ok(Page::new(ERROR_PAGE, "pow_provider_title_error", body).with_status(status))
    })
}

/// JSON with `status`, never stored: every JSON answer of the provider's pages.
pub(crate) fn json_answer(status: u16, body: serde_json::Value) -> Answer {
    Answer::Json {
        status,
        headers: vec![("cache-control", "no-store".to_owned())],
        body,
    }
}

/// The route context of `step`.
fn ctx(step: &Step) -> RouteContext<'_> {
    RouteContext {
        current_page: step.current_page.as_deref(),
        mount: step.config.mount_path(),
        request_path: step.request_path.as_deref(),
    }
}

/// `GET /oauth/authorize`.
async fn authorize(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let query = step
        .assigns
        .get::<QueryParams>()
        .cloned()
        .unwrap_or_default();
    let requested = flows::requested_client(&step.config, ext, &query).await?;
    let request = match flows::check_request(ext, requested.as_ref(), &query) {
        Ok(request) => request,
        Err(Refused::Here(key)) => return Ok(refused_here(400, key)),
        Err(Refused::There {
            redirect_uri,
            error,
            description,
            state,
        }) => {
            let params = [("error", error), ("error_description", description)];
            let url =
                flows::redirect_with(ext, &step.config, &redirect_uri, state.as_deref(), &params);
            return Ok(Answer::Stop(url));
        }
    };
    let config = step.config.clone();
    let Some(current) = client.current_session() else {
        if request.no_prompt {
            return Ok(Answer::Stop(flows::error_redirect(
                ext,
                &config,
                &request,
                "login_required",
            )));
        }
        return Ok(Answer::Stop(
            config.routes().user_not_authenticated_path(&ctx(step)),
        ));
    };
    if current.metadata.is_impersonation() {
        return Ok(refused_here(403, "pow_provider_support_access"));
    }
    if !flows::fresh_enough(&config, &request, &current) {
        if request.no_prompt {
            return Ok(Answer::Stop(flows::error_redirect(
                ext,
                &config,
                &request,
                "login_required",
            )));
        }
        let confirm = config.routes().session_path(&ctx(step), "confirm");
        return Ok(Answer::Stop(returning_to(
            confirm,
            step.current_page.as_deref(),
        )));
    }
    if let Some(rule) = request.acr.as_deref().and_then(|acr| ext.acr_rule(acr)) {
        let refusal =
            pow_core::pipeline::step_up_refusal(&config, &ctx(step), Some(&current), rule);
        if let Some(refusal) = refusal {
            let page = match refusal {
                pow_core::pipeline::Refusal::StepUp { page, .. } => page,
                _ => None,
            };
            let error = match (&page, request.no_prompt) {
                (None, _) => "unmet_authentication_requirements",
                (Some(_), true) => "interaction_required",
                (Some(page), false) => {
                    return Ok(Answer::Stop(returning_to(
                        page.clone(),
                        step.current_page.as_deref(),
                    )))
                }
            };
            return Ok(Answer::Stop(flows::error_redirect(
                ext, &config, &request, error,
            )));
        }
    }
    match flows::decide(&config, ext, &current, request).await? {
        Next::Redirect(url) => Ok(Answer::Redirect(url)),
        Next::Consent { pending, request } => Ok(consent_page(step, ext, pending, request)),
    }
}

/// The consent page for `request`, kept under `pending`: the client's name, the host it
/// sends the browser back to, each scope, allow and deny. JSON to a client that asks.
fn consent_page(
    step: &Step,
    ext: &Provider,
    pending: String,
    request: AuthorizationRequest,
) -> Answer {
    let name = match &request.client_host {
        Some(host) => format!("{} ({host})", request.client_name),
        None => request.client_name.clone(),
    };
    let host = url::Url::parse(&request.redirect_uri)
        .ok()
        .map(|url| match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
            (Some(host), None) => format!("{}://{host}", url.scheme()),
            (None, _) => format!("{}:", url.scheme()),
        })
        .unwrap_or_default();
    if step.assigns.get::<WantsJson>().is_some() {
        let body = json!({
            "client": { "id": request.client_id, "name": name, "verified": !request.unverified },
            "redirect_host": host,
            "scopes": request.scopes,
            "resource": request.resource,
            "request": pending,
        });
        return json_answer(200, body);
    }
    let resources = ext.resources().to_vec();
    Answer::render(move |step, cookie| {
        let action = extension_path(&step.config, NAME, AUTHORIZE_PATH, &[]);
        let mut fields = vec![
            Field::note(
                "client",
                format!("{}: {name}", step.text("pow_provider_consent_intro")),
            ),
            Field::note(
                "redirect",
                format!("{} {host}", step.text("pow_provider_consent_redirect")),
            ),
        ];
        if request.unverified {
            fields.push(Field::note(
                "unverified",
                step.text("pow_provider_consent_unverified"),
            ));
        }
        let resource = request
            .resource
            .as_deref()
            .map(|uri| ext_resource_name(&resources, uri));
        let body = allow_or_deny(
            step,
            cookie,
            action,
            &pending,
            fields,
            resource,
            &request.scopes,
        );
        Ok(Page::new(CONSENT_PAGE, "pow_provider_title_consent", body))
    })
}

/// `POST /oauth/authorize`: the consent page's answer.
async fn consent(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let Some(current) = client.current_session() else {
        return Ok(refused_here(401, "pow_provider_request_gone"));
    };
    let pending = step.params.get("request").cloned().unwrap_or_default();
    let allow = step.params.get("decision").map(String::as_str) == Some("allow");
    let config = step.config.clone();
    match flows::answer(&config, ext, &current, &pending, allow).await? {
        Some(url) if step.assigns.get::<WantsJson>().is_some() => {
            Ok(json_answer(200, json!({ "redirect_to": url })))
        }
        Some(url) => Ok(Answer::Redirect(url)),
        None => Ok(refused_here(400, "pow_provider_request_gone")),
    }
}

/// The name shown for resource `uri`.
fn ext_resource_name(resources: &[crate::Resource], uri: &str) -> String {
    resources
        .iter()
        .find(|resource| resource.uri() == uri)
        .map_or(uri, crate::Resource::display_name)
        .to_owned()
}

/// The body of a page asking the user to allow or deny a client: `notes` (who asks, from
/// where), the resource, one note per scope, then Allow and Deny, each posting `pending`
/// and the decision to `action`.
pub(crate) fn allow_or_deny(
    step: &Step,
    cookie: &pow_core::session::CookieSession,
    action: String,
    pending: &str,
    mut notes: Vec<Field>,
    resource: Option<String>,
    scopes: &[String],
) -> PageBody {
    if let Some(resource) = resource {
        let text = format!("{} {resource}", step.text("pow_provider_consent_resource"));
        notes.push(Field::note("resource", text));
    }
    for scope in scopes {
        let text = match crate::STANDARD_SCOPES.contains(&scope.as_str()) {
            true => step.text(&format!("pow_provider_scope_{scope}")),
            false => format!("{} {scope}", step.text("pow_provider_scope_other")),
        };
        notes.push(Field::note(format!("scope_{scope}"), text));
    }
    let hidden = |decision: &str| {
        vec![
            Field::new("request", "", FieldType::Hidden).value(pending.to_owned()),
            Field::new("decision", "", FieldType::Hidden).value(decision.to_owned()),
        ]
    };
    notes.extend(hidden("allow"));
    let allow = form(
        cookie,
        action.clone(),
        None,
        notes,
        step.text("pow_provider_allow"),
    );
    let deny = form(
        cookie,
        action,
        None,
        hidden("deny"),
        step.text("pow_provider_deny"),
    );
    PageBody::Form {
        form: allow,
        links: Vec::new(),
        extra_forms: vec![deny],
    }
}

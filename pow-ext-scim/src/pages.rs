//! An organization's provisioning page (`/organizations/{slug}/scim`), for its admins: the
//! SCIM URL to give the provider, the tokens (a new one shown once), the groups with their
//! role, and the last provisioning events. Every decision is [`crate::admin`]'s.

use std::sync::Arc;

use pow_core::config::extension_path;
use pow_core::pages::routes::{PageRoute, Verb, WantsJson};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{ActionId, ActionKind, Client, FlashKind, Step};
use pow_core::session::CookieSession;
use pow_core::views::{Field, FieldType, Form, PageBody, PageId};
use pow_core::PowError;
use pow_ext_organizations::Refused;
use serde_json::json;

use crate::admin::{self, Overview};
use crate::{Scim, NAME};

/// The provisioning page.
pub const PROVISIONING_PAGE: PageId = PageId::new("scim/provisioning");
/// Its path.
pub const PROVISIONING_PATH: &str = "/organizations/{slug}/scim";
/// Where a new token is asked for.
pub const TOKEN_CREATE_PATH: &str = "/organizations/{slug}/scim/tokens";
/// Where a rotation is posted (the form's `token`).
pub const TOKEN_ROTATE_PATH: &str = "/organizations/{slug}/scim/tokens/rotate";
/// Where a revocation is posted (the form's `token`).
pub const TOKEN_REVOKE_PATH: &str = "/organizations/{slug}/scim/tokens/revoke";
/// Where a group's role is posted (the form's `group` and `role`).
pub const GROUP_ROLE_PATH: &str = "/organizations/{slug}/scim/groups/role";
/// Where a group's team is posted (the form's `group` and `team`, a team id).
pub const GROUP_TEAM_PATH: &str = "/organizations/{slug}/scim/groups/team";

/// The extension's page actions.
pub mod actions {
    use super::{ActionId, ActionKind};

    /// `GET /organizations/{slug}/scim`.
    pub const SHOW: ActionId = ActionId::new("scim", "show", ActionKind::Show);
    /// `POST /organizations/{slug}/scim/tokens`.
    pub const TOKEN_CREATE: ActionId = ActionId::new("scim", "token_create", ActionKind::Other);
    /// `POST /organizations/{slug}/scim/tokens/rotate`.
    pub const TOKEN_ROTATE: ActionId = ActionId::new("scim", "token_rotate", ActionKind::Other);
    /// `POST /organizations/{slug}/scim/tokens/revoke`.
    pub const TOKEN_REVOKE: ActionId = ActionId::new("scim", "token_revoke", ActionKind::Other);
    /// `POST /organizations/{slug}/scim/groups/role`.
    pub const GROUP_ROLE: ActionId = ActionId::new("scim", "group_role", ActionKind::Other);
    /// `POST /organizations/{slug}/scim/groups/team`.
    pub const GROUP_TEAM: ActionId = ActionId::new("scim", "group_team", ActionKind::Other);
}

/// The routes: the page for the organization's admins, its changes in sudo mode, never
/// during support access.
pub(crate) fn page_routes(scim: &Arc<Scim>) -> Vec<PageRoute> {
    let ext = Arc::clone(scim);
    let change = |route: PageRoute| {
        route
            .signed_in()
            .sudo()
            .no_support_access()
            .of_extension(NAME)
    };
    vec![
        PageRoute::new(
            Verb::Get,
            PROVISIONING_PATH,
            actions::SHOW,
            pow_core::page_act!(ext, show),
        )
        .signed_in()
        .no_support_access()
        .of_extension(NAME),
        change(PageRoute::new(
            Verb::Post,
            TOKEN_CREATE_PATH,
            actions::TOKEN_CREATE,
            pow_core::page_act!(ext, create_token),
        )),
        change(PageRoute::new(
            Verb::Post,
            TOKEN_ROTATE_PATH,
            actions::TOKEN_ROTATE,
            pow_core::page_act!(ext, rotate_token),
        )),
        change(PageRoute::new(
            Verb::Post,
            TOKEN_REVOKE_PATH,
            actions::TOKEN_REVOKE,
            pow_core::page_act!(ext, revoke_token),
        )),
        change(PageRoute::new(
            Verb::Post,
            GROUP_ROLE_PATH,
            actions::GROUP_ROLE,
            pow_core::page_act!(ext, group_role),
        )),
        change(PageRoute::new(
            Verb::Post,
            GROUP_TEAM_PATH,
            actions::GROUP_TEAM,
            pow_core::page_act!(ext, group_team),
        )),
    ]
}

/// The SCIM root URL the provider is given.
pub(crate) fn scim_url(step: &Step, origin: Option<&str>) -> String {
    let config = &step.config;
    let base = config
        .base_url()
        .map(str::to_owned)
        .or_else(|| origin.map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{}{}",
        base.trim_end_matches('/'),
        extension_path(config, NAME, crate::endpoints::ROOT, &[])
    )
}

fn page_path(step: &Step, pattern: &str) -> String {
    let slug = step.path_param("slug");
    extension_path(&step.config, NAME, pattern, &[("slug", &slug)])
}

/// The page of a refusal: `404` for no such organization (or not a member), `403` for a
/// member who may not; the API's error to a client that asks for JSON.
fn refused(step: &Step, refused: Refused) -> Answer {
    let (status, code, key) = match refused {
        Refused::Forbidden => (403, "forbidden", "pow_scim_forbidden"),
        Refused::UnknownRole => (422, "unknown_role", "pow_scim_unknown_role"),
        _ => (404, "not_found", "pow_scim_not_found"),
    };
    if step.assigns.get::<WantsJson>().is_some() {
        let error =
            pow_core::api::ApiError::translated(Some(&step.config), &step.lang, status, key)
                .with_code(code);
        return Answer::api_error(&error);
    }
    let text = step.text(key);
    Answer::render(move |_, _| {
        Ok(Page::new(
            PROVISIONING_PAGE,
            "pow_scim_title",
            PageBody::Text {
                paragraphs: vec![text],
                links: Vec::new(),
            },
        )
        .with_status(status))
    })
}

async fn overview(
    step: &Step,
    client: &dyn Client,
    scim: &Scim,
) -> Result<Result<Overview, Refused>, PowError> {
    let admin = step.signed_in()?.clone();
    let facts = client.facts();
    let url = scim_url(step, facts.origin.as_deref());
    admin::overview(&step.config, scim, &admin, &step.path_param("slug"), url).await
}

/// `GET /organizations/{slug}/scim`; JSON to a client that asks.
async fn show(step: &mut Step, client: &mut dyn Client, scim: &Scim) -> Result<Answer, PowError> {
    let overview = match overview(step, client, scim).await? {
        Ok(overview) => overview,
        Err(refusal) => return Ok(refused(step, refusal)),
    };
    if step.assigns.get::<WantsJson>().is_some() {
        return Ok(Answer::Json {
            status: 200,
            headers: vec![("cache-control", "no-store".to_owned())],
            body: json!(overview),
        });
    }
    Ok(Answer::render(move |step, cookie| {
        Ok(page(step, cookie, &overview, None))
    }))
}

/// Shows the page with `token` (a new one's value, this once).
async fn with_new_token(
    step: &Step,
    client: &dyn Client,
    scim: &Scim,
    token: String,
) -> Result<Answer, PowError> {
    let overview = match overview(step, client, scim).await? {
        Ok(overview) => overview,
        Err(refusal) => return Ok(refused(step, refusal)),
    };
    Ok(Answer::render(move |step, cookie| {
        Ok(page(step, cookie, &overview, Some(&token)))
    }))
}

/// `POST /organizations/{slug}/scim/tokens` (sudo mode): a new token, shown once.
async fn create_token(
    step: &mut Step,
    client: &mut dyn Client,
    scim: &Scim,
) -> Result<Answer, PowError> {
    let admin = step.signed_in()?.clone();
    let name = step.params.get("name").cloned().unwrap_or_default();
    match admin::create_token(&step.config, &admin, &step.path_param("slug"), &name).await? {
        Ok((_, token)) => with_new_token(step, client, scim, token).await,
        Err(refusal) => Ok(refused(step, refusal)),
    }
}

/// `POST /organizations/{slug}/scim/tokens/rotate` (sudo mode).
async fn rotate_token(
    step: &mut Step,
    client: &mut dyn Client,
    scim: &Scim,
) -> Result<Answer, PowError> {
    let admin = step.signed_in()?.clone();
    let id = step.params.get("token").cloned().unwrap_or_default();
    match admin::rotate_token(&step.config, &admin, &step.path_param("slug"), &id).await? {
        Ok(Some((_, token))) => with_new_token(step, client, scim, token).await,
        Ok(None) => Ok(back(
            step,
            client,
            FlashKind::Error,
            "pow_scim_token_not_found",
        )),
        Err(refusal) => Ok(refused(step, refusal)),
    }
}

/// `POST /organizations/{slug}/scim/tokens/revoke` (sudo mode).
async fn revoke_token(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Scim,
) -> Result<Answer, PowError> {
    let admin = step.signed_in()?.clone();
    let id = step.params.get("token").cloned().unwrap_or_default();
    Ok(
        match admin::revoke_token(&step.config, &admin, &step.path_param("slug"), &id).await? {
            Ok(true) => back(step, client, FlashKind::Info, "pow_scim_token_revoked"),
            Ok(false) => back(step, client, FlashKind::Error, "pow_scim_token_not_found"),
            Err(refusal) => refused(step, refusal),
        },
    )
}

/// `POST /organizations/{slug}/scim/groups/role` (sudo mode): the form's `group` gets
/// `role` (empty: none).
async fn group_role(
    step: &mut Step,
    client: &mut dyn Client,
    scim: &Scim,
) -> Result<Answer, PowError> {
    let admin = step.signed_in()?.clone();
    let id = step.params.get("group").cloned().unwrap_or_default();
    let role = step
        .params
        .get("role")
        .map(|role| role.trim().to_owned())
        .filter(|role| !role.is_empty());
    Ok(
        match admin::map_group(
            &step.config,
            scim,
            &admin,
            &step.path_param("slug"),
            &id,
            role,
        )
        .await?
        {
            Ok(true) => back(step, client, FlashKind::Info, "pow_scim_group_mapped"),
            Ok(false) => back(step, client, FlashKind::Error, "pow_scim_group_not_found"),
            Err(refusal) => refused(step, refusal),
        },
    )
}

/// `POST /organizations/{slug}/scim/groups/team` (sudo mode): the form's `group` fills
/// `team` (a team id; empty: none).
async fn group_team(
    step: &mut Step,
    client: &mut dyn Client,
    scim: &Scim,
) -> Result<Answer, PowError> {
    let admin = step.signed_in()?.clone();
    let id = step.params.get("group").cloned().unwrap_or_default();
    let team = step
        .params
        .get("team")
        .map(|team| team.trim().to_owned())
        .filter(|team| !team.is_empty());
    Ok(
        match admin::map_group_team(
            &step.config,
            scim,
            &admin,
            &step.path_param("slug"),
            &id,
            team,
        )
        .await?
        {
            Ok(true) => back(step, client, FlashKind::Info, "pow_scim_group_mapped"),
            Ok(false) => back(step, client, FlashKind::Error, "pow_scim_group_not_found"),
            Err(refusal) => refused(step, refusal),
        },
    )
}

fn back(step: &Step, client: &mut dyn Client, kind: FlashKind, key: &str) -> Answer {
    client.flash(kind, Some(step.text(key)));
    Answer::Redirect(page_path(step, PROVISIONING_PATH))
}

/// The page: the URL, a new token's value (this once), the token form, each token with
/// rotate and revoke, each group with its role, the last events.
fn page(step: &Step, cookie: &CookieSession, overview: &Overview, token: Option<&str>) -> Page {
    let mut fields = vec![Field::note(
        "url",
        format!("{} {}", step.text("pow_scim_url"), overview.base_url),
    )];
    if let Some(token) = token {
        fields.push(
            Field::new(
                "new_token",
                step.text("pow_scim_token_once"),
                FieldType::Text,
            )
            .value(token.to_owned()),
        );
    }
    fields.push(Field::new(
        "name",
        step.text("pow_scim_token_name"),
        FieldType::Text,
    ));
    let create = form(
        cookie,
        page_path(step, TOKEN_CREATE_PATH),
        None,
        fields,
        step.text("pow_scim_token_create"),
    );
    let mut extra_forms: Vec<Form> = Vec::new();
    for info in &overview.tokens {
        let used = info
            .last_used_at
            .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| step.text("pow_scim_never_used"));
        let about = format!(
            "{} ({}: {used})",
            info.name,
            step.text("pow_scim_last_used")
        );
        let hidden = || Field::new("token", "", FieldType::Hidden).value(info.id.clone());
        extra_forms.push(form(
            cookie,
            page_path(step, TOKEN_ROTATE_PATH),
            None,
            vec![Field::note("about", about), hidden()],
            step.text("pow_scim_token_rotate"),
        ));
        extra_forms.push(form(
            cookie,
            page_path(step, TOKEN_REVOKE_PATH),
            None,
            vec![hidden()],
            step.text("pow_scim_token_revoke"),
        ));
    }
    for group in &overview.groups {
        let about = format!(
            "{} ({} {})",
            group.display_name,
            group.members,
            step.text("pow_scim_members")
        );
        extra_forms.push(form(
            cookie,
            page_path(step, GROUP_ROLE_PATH),
            None,
            vec![
                Field::note("about", about),
                Field::new("group", "", FieldType::Hidden).value(group.id.clone()),
                Field::new("role", step.text("pow_scim_group_role"), FieldType::Text)
                    .value(group.role.clone().unwrap_or_default()),
            ],
            step.text("pow_scim_group_role_save"),
        ));
        extra_forms.push(form(
            cookie,
            page_path(step, GROUP_TEAM_PATH),
            None,
            vec![
                Field::new("group", "", FieldType::Hidden).value(group.id.clone()),
                Field::new("team", step.text("pow_scim_group_team"), FieldType::Text)
                    .value(group.team_id.clone().unwrap_or_default()),
            ],
            step.text("pow_scim_group_team_save"),
        ));
    }
    let mut page = Page::new(
        PROVISIONING_PAGE,
        "pow_scim_title",
        PageBody::Form {
            form: create,
            links: Vec::new(),
            extra_forms,
        },
    );
    let events: Vec<String> = overview
        .events
        .iter()
        .map(|event| format!("{} {}", event.at.format("%Y-%m-%d %H:%M"), event.name))
        .collect();
    page.info = Some(if events.is_empty() {
        step.text("pow_scim_no_events")
    } else {
        format!("{} {}", step.text("pow_scim_events"), events.join(" · "))
    });
    page
}

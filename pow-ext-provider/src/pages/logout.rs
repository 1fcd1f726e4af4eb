//! The RP-initiated logout page (`/oauth/logout`): the checks are
//! [`crate::logout::check`]'s; a signed-in user confirms on this page before the session
//! ends (a link alone signs nobody out), then goes back to the client when it asked for
//! an address it registered, or sees that they are signed out. A client that asks for JSON
//! gets the same steps as JSON: what the confirmation shows and the fields to post back,
//! then `{"signed_out": true, "redirect_to": …}`.

use pow_core::config::extension_path;
use pow_core::pages::routes::{QueryParams, WantsJson};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{Client, Step};
use pow_core::views::{Field, FieldType, PageBody, PageId};
use pow_core::PowError;
use serde_json::{json, Value};

use crate::logout::{self, LOGOUT_PATH};
use crate::{Provider, NAME};

/// The confirmation page, and the "signed out" one.
pub const LOGOUT_PAGE: PageId = PageId::new("provider/logout");

/// The request's fields, carried from the query to the confirmation's form.
const FIELDS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

/// The "you are signed out" page.
fn signed_out() -> Answer {
    Answer::render(|step, _| {
        let body = PageBody::Text {
            paragraphs: vec![step.text("pow_provider_logout_done")],
            links: Vec::new(),
        };
        Ok(Page::new(LOGOUT_PAGE, "pow_provider_title_logout", body))
    })
}

/// What a client that asks for JSON hears once nobody is signed in: where to send the
/// browser, if anywhere.
fn signed_out_json(redirect: Option<String>) -> Answer {
    super::json_answer(200, json!({ "signed_out": true, "redirect_to": redirect }))
}

/// A refused request: the page, or `400` with the reason for a client that asks for JSON.
fn refused(step: &Step, json: bool, key: &'static str) -> Answer {
    match json {
        true => super::json_answer(
            400,
            json!({ "error": "invalid_request", "error_description": step.text(key) }),
        ),
        false => super::refused_here(400, key),
    }
}

/// `GET /oauth/logout`: the confirmation for a signed-in user; otherwise straight back
/// to the client (or the "signed out" page). A client that asks for JSON gets what the
/// page shows (the client, where the browser goes after) and the fields to post back.
pub(crate) async fn show(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let query = step
        .assigns
        .get::<QueryParams>()
        .cloned()
        .unwrap_or_default();
    let param = |name: &str| query.get(name).map(str::to_owned);
    let json = step.assigns.get::<WantsJson>().is_some();
    let request = match logout::check(&step.config, ext, param).await? {
        Ok(request) => request,
        Err(key) => return Ok(refused(step, json, key)),
    };
    if client.current_session().is_none() {
        return Ok(match (request.redirect, json) {
            (redirect, true) => signed_out_json(redirect),
            (Some(url), false) => Answer::Stop(url),
            (None, false) => signed_out(),
        });
    }
    let carried: Vec<(&'static str, String)> = FIELDS
        .iter()
        .filter_map(|name| query.get(name).map(|value| (*name, value.to_owned())))
        .collect();
    if json {
        let fields: serde_json::Map<String, Value> = carried
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Value::from(value.as_str())))
            .collect();
        return Ok(super::json_answer(
            200,
            json!({
                "client": { "id": request.client_id, "name": request.client_name },
                "redirect_to": request.redirect,
                "confirm": fields,
            }),
        ));
    }
    Ok(Answer::render(move |step, cookie| {
        let mut fields = vec![Field::note("intro", step.text("pow_provider_logout_intro"))];
        if let Some(name) = &request.client_name {
            fields.push(Field::note(
                "client",
                format!("{} {name}", step.text("pow_provider_logout_client")),
            ));
        }
        for (name, value) in &carried {
            fields.push(Field::new(*name, "", FieldType::Hidden).value(value.clone()));
        }
        let action = extension_path(&step.config, NAME, LOGOUT_PATH, &[]);
        let confirm = form(
            cookie,
            action,
            None,
            fields,
            step.text("pow_provider_logout_button"),
        );
        let body = PageBody::Form {
            form: confirm,
            links: Vec::new(),
            extra_forms: Vec::new(),
        };
        Ok(Page::new(LOGOUT_PAGE, "pow_provider_title_logout", body))
    }))
}

/// `POST /oauth/logout`: the confirmation's answer, checked again: the session ends, then
/// back to the client or the "signed out" page.
pub(crate) async fn confirm(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let params = step.params.clone();
    let param = |name: &str| params.get(name).cloned();
    let json = step.assigns.get::<WantsJson>().is_some();
    let request = match logout::check(&step.config, ext, param).await? {
        Ok(request) => request,
        Err(key) => return Ok(refused(step, json, key)),
    };
    if client.current_session().is_some() {
        pow_core::flows::sign_out(&step.config, client.session()).await?;
        step.user = None;
    }
    // `Redirect`, not `Stop`: the extensions see the sign-out (a remembered sign-in's
    // cookie goes with it).
    Ok(match (request.redirect, json) {
        (redirect, true) => signed_out_json(redirect),
        (Some(url), false) => Answer::Redirect(url),
        (None, false) => signed_out(),
    })
}

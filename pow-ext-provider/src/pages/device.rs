//! The device grant's pages: the user enters the code a device shows, sees which client asks
//! and where the request came from, and allows or refuses. JSON to a client that asks.

use pow_core::config::extension_path;
use pow_core::pages::routes::{QueryParams, WantsJson};
use pow_core::pages::{form, Answer, Page};
use pow_core::pipeline::{Client, FlashKind, Step};
use pow_core::views::{Field, FieldType, PageBody, PageId};
use pow_core::PowError;
use serde_json::json;

use crate::device::{self, Entered, DEVICE_CONFIRM_PATH, DEVICE_PATH};
use crate::{Provider, NAME};

/// The page where the user enters a device's code.
pub const DEVICE_PAGE: PageId = PageId::new("provider/device");
/// The page confirming a device's request.
pub const DEVICE_CONFIRM_PAGE: PageId = PageId::new("provider/device_confirm");

/// `GET /oauth/device`: the form for the code (filled from `?user_code=`).
pub(super) async fn show(
    step: &mut Step,
    _: &mut dyn Client,
    _: &Provider,
) -> Result<Answer, PowError> {
    let typed = step
        .assigns
        .get::<QueryParams>()
        .and_then(|query| query.get("user_code").map(str::to_owned))
        .unwrap_or_default();
    Ok(entry_page(typed, None, 200))
}

/// The code's form, with `error` when the last code was refused.
fn entry_page(typed: String, error: Option<&'static str>, status: u16) -> Answer {
    Answer::render(move |step, cookie| {
        let action = extension_path(&step.config, NAME, DEVICE_PATH, &[]);
        let mut field = Field::new(
            "user_code",
            step.text("pow_provider_device_code"),
            FieldType::Text,
        )
        .value(typed);
        if let Some(key) = error {
            field = field.errors(vec![step.text(key)]);
        }
        let body = PageBody::Form {
            form: form(
                cookie,
                action,
                None,
                vec![field],
                step.text("pow_provider_device_continue"),
            ),
            links: Vec::new(),
            extra_forms: Vec::new(),
        };
        Ok(Page::new(DEVICE_PAGE, "pow_provider_title_device", body).with_status(status))
    })
}

/// `POST /oauth/device`: the code entered; the confirmation page when a request waits.
pub(super) async fn enter(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Provider,
) -> Result<Answer, PowError> {
    let Some(current) = client.current_session() else {
        return Ok(entry_page(
            String::new(),
            Some("pow_provider_request_gone"),
            401,
        ));
    };
    let typed = step.params.get("user_code").cloned().unwrap_or_default();
    let address = client
        .facts()
        .client_ip
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let json = step.assigns.get::<WantsJson>().is_some();
    match device::enter(&step.config, ext, &current, &typed, &address).await? {
        Entered::Confirm {
            pending,
            client,
            scopes,
            resource,
            from,
        } if json => Ok(super::json_answer(
            200,
            json!({ "client": client, "scopes": scopes, "resource": resource, "from": from, "request": pending }),
        )),
        Entered::Confirm {
            pending,
            client,
            scopes,
            resource,
            from,
        } => Ok(Answer::render(move |step, cookie| {
            let action = extension_path(&step.config, NAME, DEVICE_CONFIRM_PATH, &[]);
            let fields = vec![
                Field::note(
                    "client",
                    format!("{}: {client}", step.text("pow_provider_consent_intro")),
                ),
                Field::note(
                    "from",
                    format!("{} {from}", step.text("pow_provider_device_from")),
                ),
            ];
            let body =
                super::allow_or_deny(step, cookie, action, &pending, fields, resource, &scopes);
            Ok(Page::new(
                DEVICE_CONFIRM_PAGE,
                "pow_provider_title_consent",
                body,
            ))
        })),
        Entered::Unknown if json => Ok(super::json_answer(404, json!({ "error": "unknown_code" }))),
        Entered::Unknown => Ok(entry_page(typed, Some("pow_provider_device_unknown"), 422)),
        Entered::Limited if json => Ok(super::json_answer(429, json!({ "error": "rate_limited" }))),
        Entered::Limited => Ok(entry_page(typed, Some("pow_provider_device_limited"), 429)),
    }
}

/// `POST /oauth/device/confirm`: the user's answer; the device gets its tokens at its next
/// poll.
pub(super) async fn confirm(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Provider,
) -> Result<Answer, PowError> {
    let Some(current) = client.current_session() else {
        return Ok(entry_page(
            String::new(),
            Some("pow_provider_request_gone"),
            401,
        ));
    };
    let pending = step.params.get("request").cloned().unwrap_or_default();
    let allow = step.params.get("decision").map(String::as_str) == Some("allow");
    let answered = device::confirm(&step.config, &current, &pending, allow).await?;
    if step.assigns.get::<WantsJson>().is_some() {
        return Ok(match answered {
            Some(allowed) => super::json_answer(200, json!({ "allowed": allowed })),
            None => super::json_answer(404, json!({ "error": "unknown_request" })),
        });
    }
    let key = match answered {
        Some(true) => "pow_provider_device_allowed",
        Some(false) => "pow_provider_device_denied",
        None => {
            return Ok(entry_page(
                String::new(),
                Some("pow_provider_request_gone"),
                400,
            ))
        }
    };
    client.flash(FlashKind::Info, Some(step.text(key)));
    Ok(Answer::Redirect(extension_path(
        &step.config,
        NAME,
        DEVICE_PATH,
        &[],
    )))
}

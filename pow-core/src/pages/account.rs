//! The core's account pages as the engine half of their actions: the signed-in user's
//! sessions and remembered browsers, ending them (`/registration/sessions`), and the
//! account's recent activity (`/registration/activity`).

use chrono::DateTime;

use super::{Answer, Page};
use crate::audit::{keyed_hash, AuditEvent, AuditQuery};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::messages::MessageArg;
use crate::pipeline::{Client, FlashKind, Step};
use crate::session::{self, CookieSession, Device, RememberedInfo, SessionInfo};
use crate::views::{Field, FieldType, Form, Link, PageBody, PageId};

/// How many events the activity page shows.
const RECENT: usize = 20;

/// The handle of a session in forms: a keyed hash, never the id itself.
fn handle(config: &PowConfig, session_id: &str) -> String {
    keyed_hash(config, "session", session_id)
}

/// The handle of a remembered browser (see `session::user_remembered`) in forms and in
/// the JSON API's session list: a keyed hash, never the id itself.
pub fn remembered_handle(config: &PowConfig, extension: &str, info: &RememberedInfo) -> String {
    keyed_hash(config, "remembered", &format!("{extension}:{}", info.id))
}

/// A session's row: what the page shows (`sessions-row*`) and the accessible name of its
/// "End" button (`sessions-end-*`, the same facts after the action).
fn describe(step: &Step, info: &SessionInfo, current: bool) -> (String, String) {
    let (row, action) = match (current, info.api) {
        (true, _) => ("sessions-row-this", "sessions-end-this"),
        (false, true) => ("sessions-row-api", "sessions-end-api"),
        (false, false) => ("sessions-row", "sessions-end-one"),
    };
    let row = label(step, row, &info.device, info.last_seen_at);
    let action = label(step, action, &info.device, info.last_seen_at);
    if info.methods.is_empty() {
        return (row, action);
    }
    let methods: Vec<String> = info
        .methods
        .iter()
        .map(|method| {
            step.text(&format!(
                "auth-method-{}",
                method.as_str().replace('_', "-")
            ))
        })
        .collect();
    let with = step
        .config
        .messages()
        .message(
            &step.lang,
            "sessions-signed-in-with",
            &[("methods", MessageArg::from(methods.join(", ").as_str()))],
        )
        .unwrap_or_default();
    (format!("{row}, {with}"), format!("{action}, {with}"))
}

fn label(step: &Step, key: &str, device: &Device, at: i64) -> String {
    let when = DateTime::from_timestamp_millis(at)
        .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let unknown = step.text("sessions-unknown-device");
    let ip = device.ip.clone().unwrap_or_else(|| unknown.clone());
    let device = device
        .user_agent
        .as_deref()
        .map_or(unknown, crate::request::browser_summary);
    step.config
        .messages()
        .message(
            &step.lang,
            key,
            &[
                ("device", MessageArg::from(device.as_str())),
                ("ip", MessageArg::from(ip.as_str())),
                ("when", MessageArg::from(when.as_str())),
            ],
        )
        .unwrap_or_else(|| format!("{device} ({ip}), {when}"))
}

fn end_form(step: &Step, cookie: &CookieSession, name: &str, value: &str, label: String) -> Form {
    let action = step
        .config
        .routes()
        .registration_path(&step.routes_ctx(), "sessions");
    let mut field = Field::new(name, "", FieldType::Hidden);
    field.value = value.to_owned();
    super::form(cookie, action, None, vec![field], label)
}

/// One row of the list: `text` (the session or browser), then a small button reading
/// `button` whose accessible name is `action` (the whole action, "End: Firefox on ...").
fn row_form(
    step: &Step,
    cookie: &CookieSession,
    (name, value): (&str, &str),
    text: String,
    button: &str,
    action: String,
) -> Form {
    let mut form = end_form(step, cookie, name, value, step.text(button));
    form.fields.push(Field::note("about", text).value(action));
    form
}

/// The sessions page: each session (the one of this browser, `current`, named so), each
/// remembered browser, and a button ending all the others.
fn sessions_page(
    step: &Step,
    cookie: &CookieSession,
    current: Option<&str>,
    sessions: &[SessionInfo],
    remembered: &[(&'static str, RememberedInfo)],
) -> Page {
    let config = &step.config;
    let mut forms: Vec<Form> = sessions
        .iter()
        .map(|info| {
            let this = current == Some(info.id.as_str());
            let (text, action) = describe(step, info, this);
            let handle = handle(config, &info.id);
            let field = ("session", handle.as_str());
            row_form(step, cookie, field, text, "sessions-end-button", action)
        })
        .collect();
    forms.extend(remembered.iter().map(|(extension, info)| {
        let at = info.created_at;
        let handle = remembered_handle(config, extension, info);
        row_form(
            step,
            cookie,
            ("remembered", &handle),
            label(step, "sessions-row-remembered", &info.device, at),
            "sessions-forget-button",
            label(step, "sessions-forget-remembered", &info.device, at),
        )
    }));
    let others = step.text("sessions-end-others");
    let body = PageBody::Form {
        form: end_form(step, cookie, "scope", "others", others),
        links: vec![Link {
            href: config
                .routes()
                .registration_path(&step.routes_ctx(), "edit"),
            label: step.text("link-edit-account"),
        }],
        extra_forms: forms,
    };
    let mut page = Page::new(PageId::REGISTRATION_SESSIONS, "title-sessions", body);
    page.info = Some(step.text("sessions-intro"));
    page
}

/// `registration#sessions`: the signed-in user's sessions and remembered browsers
/// (signed-in users only).
///
/// # Errors
/// The store's error.
pub async fn sessions(step: &mut Step, client: &mut dyn Client) -> Result<Answer, PowError> {
    let user_id = step.signed_in()?.id;
    let sessions = session::user_sessions(&step.config, user_id).await?;
    let remembered = session::user_remembered(&step.config, user_id).await?;
    let current = client.session().current().map(|c| c.session_id);
    Ok(Answer::render(move |step, cookie| {
        Ok(sessions_page(
            step,
            cookie,
            current.as_deref(),
            &sessions,
            &remembered,
        ))
    }))
}

/// `registration#end_sessions` (sudo mode): ends one session (`user[session]`, a handle
/// from the page), forgets one remembered browser (`user[remembered]`), or ends every other
/// session and remembered browser (`user[scope]=others`). Ending this browser's own
/// session signs it out.
///
/// # Errors
/// The store's error.
pub(crate) async fn end_sessions(
    step: &mut Step,
    client: &mut dyn Client,
) -> Result<Answer, PowError> {
    let config = step.config.clone();
    let user_id = step.signed_in()?.id;
    let current = client.session().current();
    let current_id = current.as_ref().map(|c| c.session_id.clone());
    let fingerprint = current.map(|c| c.metadata.fingerprint.clone());
    let sessions = session::user_sessions(&config, user_id).await?;
    let others = step.params.get("scope").is_some_and(|s| s == "others");
    let wanted = step.params.get("session").cloned();
    let mut ended: i64 = 0;
    let mut signed_out = false;
    for info in &sessions {
        let this = current_id.as_deref() == Some(info.id.as_str());
        let chosen = if others {
            !this
        } else {
            wanted.as_deref() == Some(handle(&config, &info.id).as_str())
        };
        if !chosen {
            continue;
        }
        if this {
            client.session().end(&config).await?;
            signed_out = true;
        } else if session::end_session(&config, user_id, &info.id).await? {
            ended += 1;
        }
    }
    let wanted = step.params.get("remembered").cloned();
    for (extension, info) in session::user_remembered(&config, user_id).await? {
        let chosen = if others {
            fingerprint.as_deref() != Some(info.fingerprint.as_str())
        } else {
            wanted.as_deref() == Some(remembered_handle(&config, extension, &info).as_str())
        };
        if chosen && session::forget_remembered(&config, user_id, extension, &info.id).await? {
            ended += 1;
        }
    }
    let ctx = step.routes_ctx();
    if signed_out {
        return Ok(Answer::Redirect(config.routes().after_sign_out_path(&ctx)));
    }
    let text = config.messages().message(
        &step.lang,
        "sessions-ended",
        &[("count", MessageArg::from(ended))],
    );
    client.flash(FlashKind::Info, text);
    Ok(Answer::Redirect(
        config.routes().registration_path(&ctx, "sessions"),
    ))
}

/// `registration#activity`: the signed-in user's recent account activity (signed-in users
/// only); the page says so when the audit log cannot be read.
///
/// # Errors
/// [`PowError::Config`] when nobody is signed in.
pub async fn activity(step: &mut Step, _client: &mut dyn Client) -> Result<Answer, PowError> {
    let user_id = step.signed_in()?.id;
    let events = step
        .config
        .audit()
        .query(AuditQuery {
            user_id: Some(user_id),
            limit: RECENT,
            ..AuditQuery::default()
        })
        .await;
    Ok(Answer::render(move |step, _| {
        Ok(activity_page(step, events.ok()))
    }))
}

/// One line per event: when, what (translated), from where.
fn line(step: &Step, event: &AuditEvent) -> String {
    let key = crate::audit::label_key(&event.name);
    let messages = step.config.messages();
    let what = messages
        .message(&step.lang, &key, &[])
        .unwrap_or_else(|| event.name.clone());
    let when = event.at.format("%Y-%m-%d %H:%M UTC").to_string();
    match &event.ip {
        Some(ip) => messages
            .message(
                &step.lang,
                "activity-line",
                &[
                    ("when", MessageArg::from(when.as_str())),
                    ("what", MessageArg::from(what.as_str())),
                    ("ip", MessageArg::from(ip.as_str())),
                ],
            )
            .unwrap_or_else(|| format!("{when}: {what} ({ip})")),
        None => format!("{when}: {what}"),
    }
}

fn activity_page(step: &Step, events: Option<Vec<AuditEvent>>) -> Page {
    let paragraphs = match events {
        None => vec![step.text("activity-unavailable")],
        Some(events) if events.is_empty() => vec![step.text("activity-empty")],
        Some(events) => events.iter().map(|event| line(step, event)).collect(),
    };
    let body = PageBody::Text {
        paragraphs,
        links: vec![Link {
            href: step
                .config
                .routes()
                .registration_path(&step.routes_ctx(), "edit"),
            label: step.text("link-edit-account"),
        }],
    };
    Page::new(PageId::REGISTRATION_ACTIVITY, "title-activity", body)
}

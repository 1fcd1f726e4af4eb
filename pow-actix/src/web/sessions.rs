//! `GET|POST /registration/sessions`: the signed-in user's sessions, and ending them.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use chrono::DateTime;

use super::action::{Action, Outcome};
use super::actions::{REGISTRATION_SESSIONS, REGISTRATION_SESSIONS_END};
use super::callbacks::Controller;
use super::pages::{render_page, Page};
use super::params::FormData;
use crate::audit::keyed_hash;
use crate::messages::MessageArg;
use crate::session::{self, Device, RememberedInfo, SessionInfo};
use crate::views::{Field, FieldType, Form, Link, PageBody};

/// The handle of a session in forms: a keyed hash, never the id itself.
fn handle(ctl: &Controller, session_id: &str) -> String {
    keyed_hash(&ctl.config, "session", session_id)
}

/// The handle of a remembered browser (see [`session::user_remembered`]) in forms.
pub(crate) fn remembered_handle(
    config: &crate::PowConfig,
    extension: &str,
    info: &RememberedInfo,
) -> String {
    keyed_hash(config, "remembered", &format!("{extension}:{}", info.id))
}

fn current_id(ctl: &Controller) -> Option<String> {
    session::current_session(&ctl.req).map(|s| s.session_id)
}

fn current_fingerprint(ctl: &Controller) -> Option<String> {
    session::current_session(&ctl.req).map(|s| s.metadata.fingerprint.clone())
}

/// A session's row: what the page shows (`sessions-row*`) and the accessible name of its
/// "End" button (`sessions-end-*`, the same facts after the action).
fn describe(ctl: &Controller, info: &SessionInfo, current: bool) -> (String, String) {
    let (row, action) = match (current, info.api) {
        (true, _) => ("sessions-row-this", "sessions-end-this"),
        (false, true) => ("sessions-row-api", "sessions-end-api"),
        (false, false) => ("sessions-row", "sessions-end-one"),
    };
    let row = label(ctl, row, &info.device, info.last_seen_at);
    let action = label(ctl, action, &info.device, info.last_seen_at);
    if info.methods.is_empty() {
        return (row, action);
    }
    let methods: Vec<String> = info
        .methods
        .iter()
        .map(|method| {
            ctl.text(&format!(
                "auth-method-{}",
                method.as_str().replace('_', "-")
            ))
        })
        .collect();
    let with = ctl
        .config
        .messages()
        .message(
            &ctl.lang,
            "sessions-signed-in-with",
            &[("methods", MessageArg::from(methods.join(", ").as_str()))],
        )
        .unwrap_or_default();
    (format!("{row}, {with}"), format!("{action}, {with}"))
}

fn label(ctl: &Controller, key: &str, device: &Device, at: i64) -> String {
    let when = DateTime::from_timestamp_millis(at)
        .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let unknown = ctl.text("sessions-unknown-device");
    let ip = device.ip.clone().unwrap_or_else(|| unknown.clone());
    let device = device
        .user_agent
        .as_deref()
        .map_or(unknown, crate::request::browser_summary);
    ctl.config
        .messages()
        .message(
            &ctl.lang,
            key,
            &[
                ("device", MessageArg::from(device.as_str())),
                ("ip", MessageArg::from(ip.as_str())),
                ("when", MessageArg::from(when.as_str())),
            ],
        )
        .unwrap_or_else(|| format!("{device} ({ip}), {when}"))
}

fn end_form(ctl: &Controller, name: &str, value: &str, label: String) -> Form {
    let action = ctl
        .config
        .routes()
        .registration_path(&ctl.routes_ctx(), "sessions");
    let mut field = Field::new(name, "", FieldType::Hidden);
    field.value = value.to_owned();
    Form {
        action,
        method: "post",
        method_override: None,
        fields: vec![field],
        submit: label,
        csrf_token: crate::web::csrf::csrf_token(&ctl.req),
    }
}

/// One row of the list: `text` (the session or browser), then a small button reading
/// `button` whose accessible name is `action` (the whole action, "End: Firefox on ...").
fn row_form(
    ctl: &Controller,
    (name, value): (&str, &str),
    text: String,
    button: &str,
    action: String,
) -> Form {
    let mut form = end_form(ctl, name, value, ctl.text(button));
    form.fields.push(Field::note("about", text).value(action));
    form
}

fn sessions_page(
    ctl: &Controller,
    sessions: &[SessionInfo],
    remembered: &[(&'static str, RememberedInfo)],
) -> crate::error::PowResult<HttpResponse> {
    let current = current_id(ctl);
    let mut forms: Vec<Form> = sessions
        .iter()
        .map(|info| {
            let this = current.as_deref() == Some(info.id.as_str());
            let (text, action) = describe(ctl, info, this);
            let handle = handle(ctl, &info.id);
            row_form(
                ctl,
                ("session", &handle),
                text,
                "sessions-end-button",
                action,
            )
        })
        .collect();
    forms.extend(remembered.iter().map(|(extension, info)| {
        let at = info.created_at;
        let handle = remembered_handle(&ctl.config, extension, info);
        row_form(
            ctl,
            ("remembered", &handle),
            label(ctl, "sessions-row-remembered", &info.device, at),
            "sessions-forget-button",
            label(ctl, "sessions-forget-remembered", &info.device, at),
        )
    }));
    let body = PageBody::Form {
        form: end_form(ctl, "scope", "others", ctl.text("sessions-end-others")),
        links: vec![Link {
            href: ctl
                .config
                .routes()
                .registration_path(&ctl.routes_ctx(), "edit"),
            label: ctl.text("link-edit-account"),
        }],
        extra_forms: forms,
    };
    let mut page = Page::new(
        crate::views::PageId::REGISTRATION_SESSIONS,
        "title-sessions",
        body,
    );
    page.info = Some(ctl.text("sessions-intro"));
    render_page(&ctl.req, &ctl.config, &ctl.lang, page)
}

pub(super) async fn show(req: HttpRequest) -> crate::Result<HttpResponse> {
    Action::new(REGISTRATION_SESSIONS)
        .signed_in()
        .run(&req, async |ctl| {
            let user_id = ctl.signed_in()?.id;
            let sessions = session::user_sessions(&ctl.config, user_id).await?;
            let remembered = session::user_remembered(&ctl.config, user_id).await?;
            Ok(Outcome::render(move |ctl: &Controller| {
                sessions_page(ctl, &sessions, &remembered)
            }))
        })
        .await
}

/// Ends one session (`user[session]`, a handle from the page), forgets one remembered
/// browser (`user[remembered]`), or ends every other session and remembered browser
/// (`user[scope]=others`). Sudo mode: this needs a fresh password.
pub(super) async fn end(req: HttpRequest, body: Bytes) -> crate::Result<HttpResponse> {
    Action::new(REGISTRATION_SESSIONS_END)
        .sudo()
        .form(FormData::parse(&body))
        .run(&req, async |ctl| {
            let user_id = ctl.signed_in()?.id;
            let current = current_id(ctl);
            let sessions = session::user_sessions(&ctl.config, user_id).await?;
            let others = ctl.params.get("scope").is_some_and(|s| s == "others");
            let wanted = ctl.params.get("session").cloned();
            let mut ended: i64 = 0;
            let mut signed_out = false;
            for info in &sessions {
                let this = current.as_deref() == Some(info.id.as_str());
                let chosen = if others {
                    !this
                } else {
                    wanted.as_deref() == Some(handle(ctl, &info.id).as_str())
                };
                if !chosen {
                    continue;
                }
                if this {
                    session::sign_out(&ctl.req).await?;
                    signed_out = true;
                } else if session::end_session(&ctl.config, user_id, &info.id).await? {
                    ended += 1;
                }
            }
            let fingerprint = current_fingerprint(ctl);
            let wanted = ctl.params.get("remembered").cloned();
            for (extension, info) in session::user_remembered(&ctl.config, user_id).await? {
                let chosen = if others {
                    fingerprint.as_deref() != Some(info.fingerprint.as_str())
                } else {
                    wanted.as_deref()
                        == Some(remembered_handle(&ctl.config, extension, &info).as_str())
                };
                if chosen
                    && session::forget_remembered(&ctl.config, user_id, extension, &info.id).await?
                {
                    ended += 1;
                }
            }
            let ctx = ctl.routes_ctx();
            if signed_out {
                return Ok(Outcome::redirect(
                    &ctl.config.routes().after_sign_out_path(&ctx),
                ));
            }
            let text = ctl.config.messages().message(
                &ctl.lang,
                "sessions-ended",
                &[("count", MessageArg::from(ended))],
            );
            super::flash::put_info(&ctl.req, text);
            Ok(Outcome::redirect(
                &ctl.config.routes().registration_path(&ctx, "sessions"),
            ))
        })
        .await
}

//! `GET /registration/activity`: the signed-in user's recent account activity.

use actix_web::{HttpRequest, HttpResponse};

use super::action::{Action, Outcome};
use super::actions::REGISTRATION_ACTIVITY;
use super::callbacks::Controller;
use super::pages::{render_page, Page};
use crate::audit::{AuditEvent, AuditQuery};
use crate::messages::MessageArg;
use crate::views::{Link, PageBody};

/// How many events the page shows.
const RECENT: usize = 20;

pub(super) async fn show(req: HttpRequest) -> crate::Result<HttpResponse> {
    Action::new(REGISTRATION_ACTIVITY)
        .signed_in()
        .run(&req, async |ctl| {
            let user_id = ctl.signed_in()?.id;
            let events = ctl
                .config
                .audit()
                .query(AuditQuery {
                    user_id: Some(user_id),
                    limit: RECENT,
                    ..AuditQuery::default()
                })
                .await;
            Ok(Outcome::render(move |ctl: &Controller| {
                activity_page(ctl, events.ok())
            }))
        })
        .await
}

/// One line per event: when, what (translated), from where.
fn line(ctl: &Controller, event: &AuditEvent) -> String {
    let key = crate::audit::label_key(&event.name);
    let what = ctl
        .config
        .messages()
        .message(&ctl.lang, &key, &[])
        .unwrap_or_else(|| event.name.clone());
    let when = event.at.format("%Y-%m-%d %H:%M UTC").to_string();
    match &event.ip {
        Some(ip) => ctl
            .config
            .messages()
            .message(
                &ctl.lang,
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

fn activity_page(
    ctl: &Controller,
    events: Option<Vec<AuditEvent>>,
) -> crate::error::PowResult<HttpResponse> {
    let paragraphs = match events {
        None => vec![ctl.text("activity-unavailable")],
        Some(events) if events.is_empty() => vec![ctl.text("activity-empty")],
        Some(events) => events.iter().map(|event| line(ctl, event)).collect(),
    };
    let ctx = ctl.routes_ctx();
    let body = PageBody::Text {
        paragraphs,
        links: vec![Link {
            href: ctl.config.routes().registration_path(&ctx, "edit"),
            label: ctl.text("link-edit-account"),
        }],
    };
    render_page(
        &ctl.req,
        &ctl.config,
        &ctl.lang,
        Page::new(
            crate::views::PageId::REGISTRATION_ACTIVITY,
            "title-activity",
            body,
        ),
    )
}

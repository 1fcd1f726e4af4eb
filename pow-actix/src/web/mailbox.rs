//! A mailbox preview for development: the mails a [`MemoryMailer`] kept, as web pages.
//! (An actix route, so it sits in the actix layer rather than in [`crate::mailer`].)

use actix_web::guard::{self, GuardContext};
use actix_web::{web, HttpResponse};

use super::no_store;
use crate::mailer::{Mail, MemoryMailer};

/// Where the preview is mounted.
pub const MAILBOX_PATH: &str = "/dev/mailbox";

/// Mounts the mailbox preview at [`MAILBOX_PATH`]: `GET /dev/mailbox` lists the mails
/// `outbox` kept (newest first), `GET /dev/mailbox/{n}` shows one rendered (its links
/// clickable) and `GET /dev/mailbox/{n}/text` its plain-text part.
///
/// For development only: it shows every mail the app sent, sign-in links included. It
/// answers only requests from a loopback address that no proxy forwarded (no
/// `Forwarded`, `X-Forwarded-For`, `X-Forwarded-Host` or `X-Real-IP` header); any other
/// request gets `404`, as if it were not mounted. pow-rs never mounts it by itself; the
/// demo mounts it when `POW_DEV_MAILBOX=1` is set, and only on a loopback address.
///
/// ```
/// use actix_web::App;
/// use pow_actix::mailer::MemoryMailer;
/// use pow_actix::web::mailbox_preview;
///
/// let outbox = MemoryMailer::new();
/// let app = App::new().configure(mailbox_preview(outbox.clone()));
/// ```
pub fn mailbox_preview(outbox: MemoryMailer) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let local = || web::get().guard(guard::fn_guard(local_request));
        cfg.app_data(web::Data::new(outbox))
            .route(MAILBOX_PATH, local().to(list))
            .route(&format!("{MAILBOX_PATH}/{{n}}"), local().to(show))
            .route(&format!("{MAILBOX_PATH}/{{n}}/text"), local().to(text));
    }
}

/// Headers a proxy adds to what it forwards.
const FORWARDING_HEADERS: [&str; 4] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
];

/// Whether a request comes straight from this machine: a loopback peer, and no header a
/// proxy adds.
fn local_request(ctx: &GuardContext<'_>) -> bool {
    let head = ctx.head();
    head.peer_addr.is_some_and(|peer| peer.ip().is_loopback())
        && !FORWARDING_HEADERS
            .iter()
            .any(|name| head.headers().contains_key(*name))
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(no_store())
        .content_type("text/html; charset=utf-8")
        .body(body)
}

async fn list(outbox: web::Data<MemoryMailer>) -> HttpResponse {
    let mails = outbox.deliveries();
    let rows: String = mails
        .iter()
        .enumerate()
        .rev()
        .map(|(n, mail)| {
            format!(
                "<li><span class=\"pow-mailbox-n\">{n}</span>\
                 <a class=\"pow-mailbox-subject\" href=\"{MAILBOX_PATH}/{n}\">{}</a>\
                 <a class=\"pow-mailbox-text\" href=\"{MAILBOX_PATH}/{n}/text\">plain text</a>\
                 <span class=\"pow-mailbox-to\">to {}</span></li>",
                escape(&mail.subject),
                escape(&mail.to)
            )
        })
        .collect();
    let content = if mails.is_empty() {
        "<p class=\"pow-text\">No mail sent yet.</p>".to_owned()
    } else {
        format!("<ul class=\"pow-mailbox-list\">{rows}</ul>")
    };
    html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Mailbox</title><style>{}</style></head>\
         <body class=\"pow-page-dev-mailbox\"><main class=\"pow pow-mailbox\"><h1>Mailbox</h1>\
         <p class=\"pow-text\">Mails sent by this development server, newest first.</p>\
         {content}</main></body></html>",
        crate::views::STYLESHEET
    ))
}

fn mail(outbox: &MemoryMailer, n: &str) -> Option<Mail> {
    outbox.deliveries().into_iter().nth(n.parse().ok()?)
}

async fn show(outbox: web::Data<MemoryMailer>, n: web::Path<String>) -> HttpResponse {
    match mail(&outbox, &n) {
        Some(mail) => html(mail.html),
        None => HttpResponse::NotFound().body("no such mail"),
    }
}

async fn text(outbox: web::Data<MemoryMailer>, n: web::Path<String>) -> HttpResponse {
    match mail(&outbox, &n) {
        Some(mail) => HttpResponse::Ok()
            .insert_header(no_store())
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "To: {}\nSubject: {}\n\n{}",
                mail.to, mail.subject, mail.text
            )),
        None => HttpResponse::NotFound().body("no such mail"),
    }
}

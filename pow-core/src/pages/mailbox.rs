//! The development mailbox preview, without a web framework: the mails a
//! [`MemoryMailer`] kept, as pages. Each framework layer mounts it at [`MAILBOX_PATH`]
//! (pow-actix's `web::mailbox_preview`, pow-axum's `web::mailbox_preview`) and sends
//! [`answer`] to requests that [`is_local`], `404` to others.

use std::net::IpAddr;

use super::runner::{HttpAnswer, NO_STORE};
use crate::mailer::{Mail, MemoryMailer};

/// Where the preview is mounted.
pub const MAILBOX_PATH: &str = "/dev/mailbox";

/// Headers a proxy adds to what it forwards.
const FORWARDING_HEADERS: [&str; 4] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
];

/// Whether a request comes straight from this machine: a loopback `peer`, and none of the
/// headers a proxy adds (`has_header` answers for a lower-case header name).
pub fn is_local(peer: Option<IpAddr>, has_header: impl Fn(&str) -> bool) -> bool {
    peer.is_some_and(|peer| peer.is_loopback())
        && !FORWARDING_HEADERS.iter().any(|name| has_header(name))
}

/// The list page: every mail `outbox` kept, newest first, each linking to its rendered
/// and its plain-text form.
pub fn list_page(outbox: &MemoryMailer) -> String {
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
                crate::views::escape_html(&mail.subject),
                crate::views::escape_html(&mail.to)
            )
        })
        .collect();
    let content = if mails.is_empty() {
        "<p class=\"pow-text\">No mail sent yet.</p>".to_owned()
    } else {
        format!("<ul class=\"pow-mailbox-list\">{rows}</ul>")
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Mailbox</title><style>{}</style></head>\
         <body class=\"pow-page-dev-mailbox\"><main class=\"pow pow-mailbox\"><h1>Mailbox</h1>\
         <p class=\"pow-text\">Mails sent by this development server, newest first.</p>\
         {content}</main></body></html>",
        crate::views::STYLESHEET
    )
}

/// Mail number `n` (as the list numbers them, from 0).
fn mail(outbox: &MemoryMailer, n: &str) -> Option<Mail> {
    outbox.deliveries().into_iter().nth(n.parse().ok()?)
}

/// Mail `n` rendered (its HTML part), if there is one.
pub(crate) fn mail_html(outbox: &MemoryMailer, n: &str) -> Option<String> {
    mail(outbox, n).map(|mail| mail.html)
}

/// Mail `n` as plain text with its recipient and subject, if there is one.
pub(crate) fn mail_text(outbox: &MemoryMailer, n: &str) -> Option<String> {
    mail(outbox, n).map(|mail| {
        format!(
            "To: {}\nSubject: {}\n\n{}",
            mail.to, mail.subject, mail.text
        )
    })
}

/// The preview's answer to a `GET` of [`MAILBOX_PATH`] followed by `/{rest}` (`rest`
/// empty for the path itself): the list, mail `n` rendered (`n`), its plain text
/// (`n/text`), else `404`. Every page is HTML or text that is never stored.
///
/// ```
/// use pow_core::pages::mailbox;
///
/// let outbox = pow_core::mailer::MemoryMailer::new();
/// assert_eq!(mailbox::answer(&outbox, "").status, 200);
/// assert_eq!(mailbox::answer(&outbox, "0/text").status, 404);
/// ```
pub fn answer(outbox: &MemoryMailer, rest: &str) -> HttpAnswer {
    let page = |content_type: &str, body: String| HttpAnswer {
        status: 200,
        headers: vec![
            ("cache-control", NO_STORE.to_owned()),
            ("content-type", content_type.to_owned()),
        ],
        body: Some(body.into_bytes()),
    };
    let found = match rest.split_once('/') {
        None if rest.is_empty() => Some(page("text/html; charset=utf-8", list_page(outbox))),
        None => mail_html(outbox, rest).map(|html| page("text/html; charset=utf-8", html)),
        Some((n, "text")) => {
            mail_text(outbox, n).map(|text| page("text/plain; charset=utf-8", text))
        }
        Some(_) => None,
    };
    found.unwrap_or_else(|| HttpAnswer::text(404, "no such mail", None))
}

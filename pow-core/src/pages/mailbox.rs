//! The development mailbox preview, without a web framework: the mails a
//! [`MemoryMailer`] kept, as pages. Each framework layer mounts it at [`MAILBOX_PATH`]
//! (pow-actix's `web::mailbox_preview`, pow-axum's `web::mailbox_preview`) for requests
//! that [`is_local`] only.

use std::net::IpAddr;

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
pub fn mail_html(outbox: &MemoryMailer, n: &str) -> Option<String> {
    mail(outbox, n).map(|mail| mail.html)
}

/// Mail `n` as plain text with its recipient and subject, if there is one.
pub fn mail_text(outbox: &MemoryMailer, n: &str) -> Option<String> {
    mail(outbox, n).map(|mail| {
        format!(
            "To: {}\nSubject: {}\n\n{}",
            mail.to, mail.subject, mail.text
        )
    })
}

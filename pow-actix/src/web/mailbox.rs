//! A mailbox preview for development: the mails a [`MemoryMailer`] kept, as web pages.
//! (The engine's [`pow_core::pages::mailbox`] on actix-web.)

use actix_web::guard::{self, GuardContext};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::mailer::MemoryMailer;
use pow_core::pages::mailbox;

pub use pow_core::pages::mailbox::MAILBOX_PATH;

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
            .route(MAILBOX_PATH, local().to(serve))
            .route(&format!("{MAILBOX_PATH}/{{rest:.*}}"), local().to(serve));
    }
}

/// Whether a request comes straight from this machine (the engine's
/// [`is_local`](mailbox::is_local)).
fn local_request(ctx: &GuardContext<'_>) -> bool {
    let head = ctx.head();
    mailbox::is_local(head.peer_addr.map(|peer| peer.ip()), |name| {
        head.headers().contains_key(name)
    })
}

/// The engine's answer to the path after [`MAILBOX_PATH`].
async fn serve(outbox: web::Data<MemoryMailer>, req: HttpRequest) -> HttpResponse {
    let rest = req.match_info().get("rest").unwrap_or_default();
    crate::session::guard::respond(mailbox::answer(&outbox, rest))
}

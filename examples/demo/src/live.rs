//! A live connection that ends with the session: `/live` is a page holding a server-sent
//! events stream (`/live/events`), which says `ended` and closes as soon as the session is
//! signed out or revoked anywhere (another tab, the session list, an admin, another
//! process sharing the Redis store).

use std::pin::pin;
use std::time::Duration;

use actix_web::rt::time::{interval_at, Instant};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::future::{select, Either};
use futures_util::stream::{self, StreamExt as _};
use pow_actix::session::{current_session, LiveSessions, RequireAuthenticated};

/// A comment line at this interval keeps proxies from closing an idle stream, and lets the
/// server notice a client that went away.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// `/live` (the page) and `/live/events` (the stream), for signed-in users.
pub fn scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/live")
        .wrap(RequireAuthenticated::new())
        .route("", web::get().to(page))
        .route("/events", web::get().to(events))
}

async fn page(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    crate::page_with(
        &req,
        "Live connection",
        vec![crate::LIVE_TEXT.to_owned()],
        true,
        true,
    )
}

/// How often an open stream checks the store as well.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// The event stream: `open` with the live session id, `ended` when the session ends.
async fn events(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    let config = pow_actix::web::route_config(&req)?;
    let Some(session) = current_session(&req) else {
        return Ok(HttpResponse::Unauthorized().finish());
    };
    // Ends reach the stream at once through the store's broadcast (Redis, PostgreSQL);
    // a store without one (an SQLite file shared by processes on one machine) is checked
    // every few seconds.
    let live = LiveSessions::new(&config).recheck_every(RECHECK);
    let id = session.live_id();
    let open = Bytes::from(format!("event: open\ndata: {id}\n\n"));
    let ended = Box::pin(async move { live.ended(&id).await });
    let beat = interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
    let rest = stream::unfold(Some((ended, beat)), |state| async move {
        let (mut ended, mut beat) = state?;
        let has_ended = {
            let tick = pin!(beat.tick());
            matches!(select(&mut ended, tick).await, Either::Left(_))
        };
        Some(if has_ended {
            (
                Bytes::from_static(b"event: ended\ndata: signed out\n\n"),
                None,
            )
        } else {
            (Bytes::from_static(b": heartbeat\n\n"), Some((ended, beat)))
        })
    });
    let body = stream::once(async move { open })
        .chain(rest)
        .map(Ok::<_, actix_web::Error>);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

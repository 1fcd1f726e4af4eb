//! The pow-rs demo app on axum: the same setup, settings and pages as the actix-web demo
//! (`examples/demo`, whose setup code it shares), served by pow-axum. `main.rs` only reads
//! the settings and starts the server, so tests build the very same app.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use pow_axum::mailer::MemoryMailer;
use pow_axum::pages::PAGE_HEADERS;
use pow_axum::session::{csrf, flash, LiveSessions};
use pow_axum::PowConfig;
use pow_axum::{CurrentUser, MaybeUser, Pow, PowLayer};

/// A comment line at this interval keeps proxies from closing an idle event stream, and
/// lets the server notice a client that went away.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The demo app for `config`, with the development mailbox preview at `/dev/mailbox` when
/// mails are kept in `mailbox`.
pub fn app(config: PowConfig, mailbox: Option<MemoryMailer>) -> Router {
    let mut router = Router::new()
        .merge(pow_axum::web::router(&config))
        .route("/", get(home))
        .route("/protected", get(protected))
        .route("/admin", get(admin))
        .route("/live", get(live))
        .route("/live/events", get(live_events));
    if let Some(outbox) = mailbox {
        router = router.merge(pow_axum::web::mailbox_preview(outbox));
    }
    router.layer(PowLayer::new(config))
}

/// One of the demo's pages, as the actix-web demo answers it.
fn page(pow: &Pow, title: &str, paragraphs: Vec<String>, signed_in: bool, live: bool) -> Response {
    let html = match example_demo::render_page(title, paragraphs, signed_in, live, || {
        csrf::token(&pow.cookie)
    }) {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(error = %err, "could not render the demo page");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    // The pages' framing and sniffing headers; `no-store` on pages that show who is
    // signed in.
    let headers = PAGE_HEADERS
        .iter()
        .filter(|(name, _)| signed_in || *name != "cache-control");
    for (name, value) in headers {
        res.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    res
}

async fn home(pow: Pow, MaybeUser(user): MaybeUser) -> Response {
    let flash = flash::take(&pow.cookie);
    let paragraphs = example_demo::home_paragraphs(flash, user.as_deref());
    page(&pow, "pow-rs demo", paragraphs, user.is_some(), false)
}

async fn protected(user: CurrentUser, pow: Pow) -> Response {
    let text = example_demo::protected_text(&user);
    page(&pow, "Protected page", vec![text], true, false)
}

async fn admin(user: CurrentUser, pow: Pow) -> Response {
    if !example_demo::is_admin(&user) {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Admins only.",
        )
            .into_response();
    }
    match example_demo::admin_lines(&pow.config).await {
        Ok(lines) => page(&pow, example_demo::ADMIN_TITLE, lines, true, false),
        Err(err) => pow_axum::error_response(&err),
    }
}

async fn live(_: CurrentUser, pow: Pow) -> Response {
    let text = example_demo::LIVE_TEXT.to_owned();
    page(&pow, "Live connection", vec![text], true, true)
}

/// The live connection's event stream: `open` with the live session id, `ended` as soon as
/// the session is signed out or revoked anywhere, then the stream closes.
async fn live_events(_: CurrentUser, pow: Pow) -> Response {
    let Some(session) = pow.current.clone() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let live = LiveSessions::new(&pow.config);
    let id = session.live_id();
    let events = stream::unfold(Some((0, live, id)), |state| async move {
        let (step, live, id) = state?;
        match step {
            0 => {
                let open = Event::default().event("open").data(id.to_string());
                Some((Ok::<_, Infallible>(open), Some((1, live, id))))
            }
            _ => {
                live.ended(&id).await;
                let ended = Event::default().event("ended").data("signed out");
                Some((Ok(ended), None))
            }
        }
    });
    sse(events)
}

fn sse(events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    let keep_alive = KeepAlive::new().interval(HEARTBEAT).text("heartbeat");
    let mut res = Sse::new(events).keep_alive(keep_alive).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    res
}

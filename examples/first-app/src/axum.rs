use std::net::SocketAddr;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use pow_axum::users::diesel::DieselUsersContext;
use pow_axum::views::escape_html;
use pow_axum::{CurrentUser, MaybeUser, Pow, PowConfig, PowLayer};

async fn home(pow: Pow, MaybeUser(user): MaybeUser) -> Html<String> {
    let mut html = match user {
        // Signing out is a form: a DELETE (HTML forms send it as `_method`) with the
        // session's CSRF token.
        Some(user) => format!(
            r#"<p>Signed in as user {}</p>
<form action="/session" method="post">
<input type="hidden" name="_method" value="DELETE">
<input type="hidden" name="_csrf_token" value="{}">
<button>Sign out</button>
</form>"#,
            user.id,
            escape_html(&pow.csrf_token())
        ),
        None => r#"<p>Not signed in</p>
<a href="/registration/new">Sign up</a> <a href="/session/new">Sign in</a>"#
            .to_owned(),
    };
    // The message a pow page left for the next page ("Welcome!" after a sign-up, ...).
    let flash = pow.take_flash();
    for message in flash.info.into_iter().chain(flash.error) {
        html.push_str(&format!("\n<p>{}</p>", escape_html(&message)));
    }
    Html(html)
}

async fn dashboard(CurrentUser(user): CurrentUser) -> String {
    format!("Hello, {}", user.email().unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Optional: log through `tracing` (add `tracing-subscriber = "0.3"` to Cargo.toml).
    // Mails of the default mailer then go to that log at info level instead of stderr.
    // tracing_subscriber::fmt::init();

    let secret_key_base =
        std::env::var("SECRET_KEY_BASE").map_err(|_| "set SECRET_KEY_BASE (pow gen secret)")?;
    let users = DieselUsersContext::connect("sqlite://app.db")?;
    let config = PowConfig::builder(secret_key_base)
        .users(users.clone())
        .build()?;
    users.migrate(&config)?;

    let app = Router::new()
        // The pages: sign-in, sign-up, the account, sign-out.
        .merge(pow_axum::web::router(&config))
        .route("/", get(home))
        // `CurrentUser` sends visitors to the sign-in page, and back here after it.
        .route("/dashboard", get(dashboard))
        // Last: a layer wraps the routes added before it.
        .layer(PowLayer::new(config));
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(bind).await?;
    // With the client's address, for rate limits, audit events and session lists.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

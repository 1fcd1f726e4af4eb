use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use pow_actix::session::{PowMiddleware, RequireAuthenticated};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::views::escape_html;
use pow_actix::web::csrf::csrf_token;
use pow_actix::{CurrentUser, MaybeUser, PowConfig};

async fn home(req: HttpRequest, MaybeUser(user): MaybeUser) -> HttpResponse {
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
            escape_html(&csrf_token(&req))
        ),
        None => r#"<p>Not signed in</p>
<a href="/registration/new">Sign up</a> <a href="/session/new">Sign in</a>"#
            .to_owned(),
    };
    // The message a pow page left for the next page ("Welcome!" after a sign-up, ...).
    let flash = pow_actix::web::flash::take(&req);
    for message in flash.info.into_iter().chain(flash.error) {
        html.push_str(&format!("\n<p>{}</p>", escape_html(&message)));
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

async fn dashboard(CurrentUser(user): CurrentUser) -> HttpResponse {
    HttpResponse::Ok().body(format!("Hello, {}", user.email().unwrap_or_default()))
}

#[actix_web::main]
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

    HttpServer::new(move || {
        App::new()
            .configure(pow_actix::web::configure(config.clone()))
            .route("/", web::get().to(home))
            .service(
                web::scope("/dashboard")
                    .wrap(RequireAuthenticated::new())
                    .route("", web::get().to(dashboard)),
            )
            .wrap(PowMiddleware::new(config.clone()))
    })
    .bind(std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned()))?
    .run()
    .await?;
    Ok(())
}

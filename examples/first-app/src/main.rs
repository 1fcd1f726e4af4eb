use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use pow_actix::session::{PowMiddleware, RequireAuthenticated};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{CurrentUser, MaybeUser, PowConfig};

async fn home(req: HttpRequest, MaybeUser(user): MaybeUser) -> HttpResponse {
    let mut text = match user {
        Some(user) => format!("Signed in as user {}", user.id),
        None => "Not signed in".to_owned(),
    };
    // The message a pow page left for the next page ("Welcome!" after a sign-up, ...).
    let flash = pow_actix::web::flash::take(&req);
    for message in flash.info.into_iter().chain(flash.error) {
        text.push('\n');
        text.push_str(&message);
    }
    HttpResponse::Ok().body(text)
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

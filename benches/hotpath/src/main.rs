//! Servers for the hot-path benchmark (`benches/load/hotpath.py`), each with one actix
//! worker:
//!
//! - `bare PORT`: actix-web alone, `GET /hello` answers a tiny body (the physical limit);
//! - `cookie PORT`: only pow-rs's cookie session (one signed cookie): `POST /sign_in` puts a
//!   session id in it, `GET /protected` reads it back. What the cookie layer alone costs,
//!   without any store lookup.
//! - `actix-cookie PORT`: the same with actix-session's signed cookie store, configured as
//!   pow-rs configured it before it had its own (for comparison).
//! - `identity PORT`: the best peer, actix-identity over actix-session's signed cookie
//!   store: `POST /sign_in` logs an id in, `GET /protected` answers it through the
//!   `Identity` extractor.
//! - `pow PORT [STORE_URL]`: the same `GET /hello` behind [`PowMiddleware`], `GET /protected`
//!   answering a tiny body through the [`CurrentUser`] extractor after the session lookup
//!   (as the peer's route), `GET /guarded` the same behind [`RequireAuthenticated`],
//!   `POST /sign_in` signing the one seeded user in (to get a session cookie without forms)
//!   and `POST /sign_out` ending the request's session. The cache store is in memory, Redis
//!   for a `redis://` URL, or the SQL store for a `postgres://` URL (in schema `pow_bench`,
//!   created if missing) or a `sqlite://` file; a fourth argument `local-cache` turns on
//!   the Redis or PostgreSQL store's local read cache. Servers given the same store URL share their sessions (the
//!   revocation benchmark, `benches/load/revocation.py`, runs two).
//! - `axum-bare PORT`: axum alone, `GET /hello` (axum's physical limit).
//! - `axum-login PORT`: the axum peer, axum-login over tower-sessions' memory store:
//!   `POST /sign_in` logs the one user in, `GET /protected` answers it through
//!   `AuthSession`.
//! - `pow-axum PORT`: `GET /hello` and `GET /protected` behind [`pow_axum::PowLayer`] (the
//!   [`pow_axum::CurrentUser`] extractor), and `POST /sign_in`.
//! - `pow-axum-bearer PORT`: `GET /protected` behind [`pow_axum::ApiLayer`] (a bearer access
//!   token's user); `POST /sign_in` answers the header line to send
//!   (`Authorization: Bearer ...`).
//! - `pow-axum-key PORT`: `GET /protected` through the API-keys extension's `ApiKey`
//!   extractor; `POST /sign_in` makes a key and answers `X-Api-Key: ...`.
//!
//! The axum servers run on the same single-threaded runtime as the actix worker.

use actix_session::SessionExt as _;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use pow_actix::session::CookieSessionExt as _;
use pow_actix::session::{self, CurrentUser, PowMiddleware, RequireAuthenticated};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::{sign_up_params, UsersContext};
use pow_actix::{PowConfig, PowError};

const EMAIL: &str = "bench@example.com";

async fn hello() -> &'static str {
    "hello"
}

async fn protected(CurrentUser(user): CurrentUser) -> HttpResponse {
    HttpResponse::Ok().body(format!("hi {}", user.id))
}

async fn sign_in(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    let config = session::config(&req).ok_or_else(|| PowError::Other("no pow config".into()))?;
    let user = config
        .users()?
        .get_by("email", EMAIL)
        .await?
        .ok_or_else(|| PowError::Other("the bench user is missing".into()))?;
    session::sign_in(&req, &user).await?;
    Ok(HttpResponse::Ok().body("signed in"))
}

async fn sign_out(req: HttpRequest) -> pow_actix::Result<HttpResponse> {
    session::sign_out(&req).await?;
    Ok(HttpResponse::Ok().body("signed out"))
}

/// The cache store a `pow` server runs on: see the module documentation.
async fn open_store(
    url: &str,
    local_cache: bool,
) -> Result<std::sync::Arc<dyn pow_actix::store::Store>, Box<dyn std::error::Error>> {
    if url.starts_with("redis") {
        let prefix = std::env::var("POW_BENCH_PREFIX")
            .unwrap_or_else(|_| format!("pow-bench-{}", pow_actix::token::generate_uuid()));
        let mut options = pow_actix::store::RedisStoreOptions::new().prefix(prefix);
        if local_cache {
            options = options.local_cache(100_000);
        }
        return Ok(std::sync::Arc::new(
            pow_actix::store::RedisStore::connect_with_options(url, options).await?,
        ));
    }
    let url = if url.starts_with("postgres") {
        pow_actix::users::diesel::Database::connect(url)?
            .batch_execute("CREATE SCHEMA IF NOT EXISTS pow_bench")?;
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-csearch_path%3Dpow_bench")
    } else {
        url.to_owned()
    };
    let store = pow_actix::store::SqlStore::connect(&url)?;
    store.migrate()?;
    if local_cache {
        let store = store.with_local_cache(100_000, std::time::Duration::from_secs(60))?;
        return Ok(std::sync::Arc::new(store));
    }
    Ok(std::sync::Arc::new(store))
}

async fn cookie_sign_in(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    let id = format!("{}.1", pow_actix::token::generate_uuid());
    req.cookie_session()
        .insert("auth", id)
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::Ok().body("signed in"))
}

async fn cookie_protected(req: HttpRequest) -> HttpResponse {
    match req.cookie_session().get::<String>("auth") {
        Ok(Some(id)) => HttpResponse::Ok().body(format!("hi {}", id.len())),
        _ => HttpResponse::Unauthorized().finish(),
    }
}

async fn actix_cookie_sign_in(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    let token = pow_actix::token::MessageVerifier::new(&[b'b'; 64]).sign_token(
        pow_actix::token::SESSION_SALT,
        &pow_actix::token::generate_uuid(),
    );
    req.get_session().insert("auth", token)?;
    Ok(HttpResponse::Ok().body("signed in"))
}

async fn actix_cookie_protected(req: HttpRequest) -> HttpResponse {
    match req.get_session().get::<String>("auth") {
        Ok(Some(token)) => HttpResponse::Ok().body(format!("hi {}", token.len())),
        _ => HttpResponse::Unauthorized().finish(),
    }
}

async fn identity_sign_in(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    use actix_web::HttpMessage as _;
    actix_identity::Identity::login(&req.extensions(), "1".to_owned())
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::Ok().body("signed in"))
}

async fn identity_protected(user: Option<actix_identity::Identity>) -> HttpResponse {
    match user.and_then(|user| user.id().ok()) {
        Some(id) => HttpResponse::Ok().body(format!("hi {id}")),
        None => HttpResponse::Unauthorized().finish(),
    }
}

/// actix-session's signed cookie store as pow-rs configured it.
fn actix_session_layer(
    config: &PowConfig,
) -> actix_session::SessionMiddleware<actix_session::storage::CookieSessionStore> {
    use actix_session::config::{BrowserSession, CookieContentSecurity};
    let key = actix_web::cookie::Key::from(&session::cookie_key(config));
    actix_session::SessionMiddleware::builder(
        actix_session::storage::CookieSessionStore::default(),
        key,
    )
    .cookie_name(config.session().cookie_name.clone())
    .cookie_content_security(CookieContentSecurity::Signed)
    .cookie_http_only(true)
    .cookie_same_site(actix_web::cookie::SameSite::Lax)
    .cookie_secure(false)
    .cookie_path("/".to_owned())
    .session_lifecycle(BrowserSession::default())
    .build()
}

async fn pow_config(
    store: Option<&str>,
    local_cache: bool,
) -> Result<PowConfig, Box<dyn std::error::Error>> {
    let users = DieselUsersContext::connect(":memory:")?;
    let mut builder = PowConfig::builder("b".repeat(64))
        .users(users.clone())
        .cookie_secure(false)
        .hasher(pow_actix::password::Pbkdf2Hasher::new(1));
    if let Some(url) = store {
        builder = builder.store(open_store(url, local_cache).await?);
    }
    let config = builder.build()?;
    users.migrate(&config)?;
    let params = sign_up_params(config.user_schema(), EMAIL, "correct horse battery staple");
    users
        .create(config.user_schema(), &params)?
        .map_err(|cs| format!("the bench user is invalid: {:?}", cs.errors))?;
    Ok(config)
}

/// The setup of [`pow_config`] with API keys (the limit out of the way of the load).
async fn key_config() -> Result<PowConfig, Box<dyn std::error::Error>> {
    let users = DieselUsersContext::connect(":memory:")?;
    let keys = pow_ext_api_keys::ApiKeys::new()
        .scopes(["bench"])
        .rate_limit(pow_actix::store::Limit::new(
            u32::MAX,
            std::time::Duration::from_secs(60),
        ));
    let config = PowConfig::builder("b".repeat(64))
        .users(users.clone())
        .cookie_secure(false)
        .base_url("http://localhost")
        .mailer(std::sync::Arc::new(pow_actix::mailer::MemoryMailer::new()))
        .hasher(pow_actix::password::Pbkdf2Hasher::new(1))
        .extension(keys)
        .build()?;
    users.migrate(&config)?;
    let params = sign_up_params(config.user_schema(), EMAIL, "correct horse battery staple");
    users
        .create(config.user_schema(), &params)?
        .map_err(|cs| format!("the bench user is invalid: {:?}", cs.errors))?;
    Ok(config)
}

/// The axum servers of the benchmark.
mod on_axum {
    use std::net::SocketAddr;

    use axum::routing::{get, post};
    use axum::Router;
    use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend};
    use pow_axum::session::{self, CredentialsCache, SessionMetadata};
    use pow_axum::{CurrentUser, Pow, PowConfig, PowError, PowLayer};
    use tower_sessions::{MemoryStore, SessionManagerLayer};

    use super::{hello, EMAIL};

    pub async fn serve(router: Router, port: u16) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    }

    pub fn bare() -> Router {
        Router::new().route("/hello", get(hello))
    }

    async fn protected(CurrentUser(user): CurrentUser) -> String {
        format!("hi {}", user.id)
    }

    /// Signs the bench user in with the engine's own steps (a new session record, its id
    /// in the renewed cookie session).
    async fn sign_in(pow: Pow) -> Result<&'static str, pow_axum::Error> {
        let config = &pow.config;
        let user = config
            .users()?
            .get_by("email", EMAIL)
            .await?
            .ok_or_else(|| PowError::Other("the bench user is missing".into()))?;
        let cookie_id = session::new_cookie_id(config, user.id);
        let id = session::stored_session_id(config, &cookie_id);
        let credentials = CredentialsCache::new(config);
        session::put_new_session(config, &credentials, &id, &user, &SessionMetadata::new()).await?;
        pow.cookie.renew();
        pow.cookie
            .insert(config.session().session_key.clone(), cookie_id)
            .map_err(PowError::from)?;
        Ok("signed in")
    }

    async fn bench_user(config: &PowConfig) -> Result<pow_axum::users::User, PowError> {
        config
            .users()?
            .get_by("email", EMAIL)
            .await?
            .ok_or_else(|| PowError::Other("the bench user is missing".into()))
    }

    /// `POST /sign_in` of the bearer server: a token pair for the bench user; answers the
    /// header line that carries its access token.
    async fn bearer_sign_in(config: PowConfig) -> Result<String, pow_axum::Error> {
        let user = bench_user(&config).await?;
        let api = pow_axum::api::ApiService::new(config, pow_axum::api::ApiOptions::new());
        let facts = pow_axum::request::RequestFacts::default();
        let pair = api.issue_tokens(None, &facts, &user, Vec::new()).await?;
        Ok(format!("Authorization: Bearer {}", pair.access_token))
    }

    /// Bearer access tokens ([`pow_axum::ApiLayer`]).
    pub fn bearer(config: PowConfig) -> Router {
        let signing = config.clone();
        Router::new()
            .route("/hello", get(hello))
            .route("/sign_in", post(move || bearer_sign_in(signing.clone())))
            .route("/protected", get(protected))
            .layer(pow_axum::ApiLayer::new(config))
    }

    /// `POST /sign_in` of the key server: a key of the bench user; answers the header line
    /// that carries it.
    async fn key_sign_in(config: PowConfig) -> Result<String, pow_axum::Error> {
        let user = bench_user(&config).await?;
        let keys = pow_ext_api_keys::ApiKeys::of(&config)
            .cloned()
            .ok_or_else(|| PowError::Other("no API keys".into()))?;
        let made =
            pow_ext_api_keys::flows::create(&config, &keys, &user, "bench", &["bench"], None)
                .await?
                .map_err(|err| PowError::Other(format!("{err:?}")))?;
        Ok(format!("X-Api-Key: {}", made.key))
    }

    async fn key_protected(key: pow_ext_api_keys::axum::ApiKey) -> String {
        format!("hi {}", key.key.user.id)
    }

    /// API keys (the extension's `ApiKey` extractor, behind the bearer layer that carries the
    /// setup).
    pub fn key(config: PowConfig) -> Router {
        let signing = config.clone();
        Router::new()
            .route("/hello", get(hello))
            .route("/sign_in", post(move || key_sign_in(signing.clone())))
            .route("/protected", get(key_protected))
            .layer(pow_axum::ApiLayer::new(config))
    }

    pub fn pow(config: PowConfig) -> Router {
        Router::new()
            .route("/hello", get(hello))
            .route("/sign_in", post(sign_in))
            .route("/protected", get(protected))
            .layer(PowLayer::new(config))
    }

    /// axum-login's user: one, kept in memory.
    #[derive(Clone, Debug)]
    pub struct BenchUser {
        id: i64,
        hash: Vec<u8>,
    }

    impl AuthUser for BenchUser {
        type Id = i64;

        fn id(&self) -> i64 {
            self.id
        }

        fn session_auth_hash(&self) -> &[u8] {
            &self.hash
        }
    }

    #[derive(Clone, Debug)]
    pub struct Backend {
        user: BenchUser,
    }

    impl AuthnBackend for Backend {
        type User = BenchUser;
        type Credentials = ();
        type Error = std::convert::Infallible;

        async fn authenticate(&self, (): ()) -> Result<Option<BenchUser>, Self::Error> {
            Ok(Some(self.user.clone()))
        }

        async fn get_user(&self, id: &i64) -> Result<Option<BenchUser>, Self::Error> {
            Ok((*id == self.user.id).then(|| self.user.clone()))
        }
    }

    async fn login_sign_in(mut auth: AuthSession<Backend>) -> Result<&'static str, String> {
        let user = auth.authenticate(()).await.map_err(|e| e.to_string())?;
        let user = user.ok_or("no user")?;
        auth.login(&user).await.map_err(|e| e.to_string())?;
        Ok("signed in")
    }

    async fn login_protected(auth: AuthSession<Backend>) -> Result<String, axum::http::StatusCode> {
        match auth.user {
            Some(user) => Ok(format!("hi {}", user.id)),
            None => Err(axum::http::StatusCode::UNAUTHORIZED),
        }
    }

    pub fn login() -> Router {
        let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
        let backend = Backend {
            user: BenchUser {
                id: 1,
                hash: b"bench password hash".to_vec(),
            },
        };
        Router::new()
            .route("/hello", get(hello))
            .route("/sign_in", post(login_sign_in))
            .route("/protected", get(login_protected))
            .layer(AuthManagerLayerBuilder::new(backend, sessions).build())
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, port) =
        match args.as_slice() {
            [mode, port, ..] => (mode.as_str(), port.parse::<u16>()?),
            _ => return Err(
                "usage: pow-bench-hotpath bare|cookie|actix-cookie|identity|pow|axum-bare|axum-login|pow-axum PORT [REDIS_URL [local-cache]]"
                    .into(),
            ),
        };
    match mode {
        "bare" => {
            HttpServer::new(|| App::new().route("/hello", web::get().to(hello)))
                .workers(1)
                .bind(("127.0.0.1", port))?
                .run()
                .await?;
        }
        "cookie" => {
            let config = PowConfig::builder("b".repeat(64))
                .cookie_secure(false)
                .build()?;
            HttpServer::new(move || {
                App::new()
                    .wrap(session::cookie_session_middleware(&config))
                    .route("/hello", web::get().to(hello))
                    .route("/sign_in", web::post().to(cookie_sign_in))
                    .route("/protected", web::get().to(cookie_protected))
            })
            .workers(1)
            .bind(("127.0.0.1", port))?
            .run()
            .await?;
        }
        "actix-cookie" => {
            let config = PowConfig::builder("b".repeat(64))
                .cookie_secure(false)
                .build()?;
            HttpServer::new(move || {
                App::new()
                    .wrap(actix_session_layer(&config))
                    .route("/hello", web::get().to(hello))
                    .route("/sign_in", web::post().to(actix_cookie_sign_in))
                    .route("/protected", web::get().to(actix_cookie_protected))
            })
            .workers(1)
            .bind(("127.0.0.1", port))?
            .run()
            .await?;
        }
        "identity" => {
            let config = PowConfig::builder("b".repeat(64))
                .cookie_secure(false)
                .build()?;
            HttpServer::new(move || {
                App::new()
                    .wrap(actix_identity::IdentityMiddleware::default())
                    .wrap(actix_session_layer(&config))
                    .route("/hello", web::get().to(hello))
                    .route("/sign_in", web::post().to(identity_sign_in))
                    .route("/protected", web::get().to(identity_protected))
            })
            .workers(1)
            .bind(("127.0.0.1", port))?
            .run()
            .await?;
        }
        "pow" => {
            let local_cache = args.get(3).is_some_and(|arg| arg == "local-cache");
            let config = pow_config(args.get(2).map(String::as_str), local_cache).await?;
            HttpServer::new(move || {
                App::new()
                    .wrap(PowMiddleware::new(config.clone()))
                    .route("/hello", web::get().to(hello))
                    .route("/sign_in", web::post().to(sign_in))
                    .route("/sign_out", web::post().to(sign_out))
                    // As the peer's: the extractor alone refuses anonymous requests.
                    .route("/protected", web::get().to(protected))
                    .service(
                        web::scope("/guarded")
                            .wrap(RequireAuthenticated::new())
                            .route("", web::get().to(protected)),
                    )
            })
            .workers(1)
            .bind(("127.0.0.1", port))?
            .run()
            .await?;
        }
        "axum-bare" => on_axum::serve(on_axum::bare(), port).await?,
        "axum-login" => on_axum::serve(on_axum::login(), port).await?,
        "pow-axum" => {
            let config = pow_config(args.get(2).map(String::as_str), false).await?;
            on_axum::serve(on_axum::pow(config), port).await?;
        }
        "pow-axum-bearer" => {
            let config = pow_config(args.get(2).map(String::as_str), false).await?;
            on_axum::serve(on_axum::bearer(config), port).await?;
        }
        "pow-axum-key" => {
            let config = key_config().await?;
            on_axum::serve(on_axum::key(config), port).await?;
        }
        other => return Err(format!("unknown mode `{other}`").into()),
    }
    Ok(())
}

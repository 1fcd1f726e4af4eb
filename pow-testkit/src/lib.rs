//! The HTTP suites' harness: [`serve`] starts an app of one setup on the framework the
//! running test was started for ([`Framework`]), and [`on_both!`] runs each listed test
//! once on actix-web and once on axum. The suites speak HTTP to a loopback socket (with
//! pow-actix's test client), so one source proves both frameworks.
//!
//! ```no_run
//! fn signs_in() {
//!     let config = pow_core::PowConfig::builder("s".repeat(64)).build().unwrap();
//!     let addr = pow_testkit::serve(config);
//!     let mut client = pow_actix::test_client::Client::new(addr);
//!     assert_eq!(client.get("/session/new").status, 200);
//! }
//!
//! pow_testkit::on_both!(signs_in);
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::net::SocketAddr;

use pow_core::PowConfig;

/// The framework serving a test's app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    /// `pow-actix`.
    Actix,
    /// `pow-axum`.
    Axum,
}

thread_local! {
    static FRAMEWORK: Cell<Framework> = const { Cell::new(Framework::Actix) };
}

/// The framework this test thread serves its apps on ([`on_both!`] sets it).
pub fn framework() -> Framework {
    FRAMEWORK.with(Cell::get)
}

/// Serves this thread's apps on `framework` from now on.
pub fn set_framework(framework: Framework) {
    FRAMEWORK.with(|cell| cell.set(framework));
}

/// Serves `config`'s pages, under its mount path, with the session layer and a
/// `GET /protected` page (`secret` for signed-in users, the sign-in redirect for others),
/// on the test's [`framework`], on a loopback port.
pub fn serve(config: PowConfig) -> SocketAddr {
    serve_on(framework(), config)
}

/// [`serve`] on `framework`.
pub fn serve_on(framework: Framework, config: PowConfig) -> SocketAddr {
    let mount = config.mount_path().to_owned();
    match framework {
        Framework::Actix => pow_actix::test_client::serve(move || {
            use actix_web::{web, App, HttpResponse};
            // `/protected` first: a scope mounted at the root takes every path after it.
            App::new()
                .service(
                    web::scope("/protected")
                        .wrap(pow_actix::session::RequireAuthenticated::new())
                        .route(
                            "",
                            web::get().to(|| async { HttpResponse::Ok().body("secret") }),
                        ),
                )
                .service(web::scope(&mount).configure(pow_actix::web::configure(config.clone())))
                .wrap(pow_actix::session::PowMiddleware::new(config.clone()))
        }),
        Framework::Axum => {
            use axum::routing::get;
            let pages = pow_axum::web::router(&config);
            let app = match mount.as_str() {
                "" => axum::Router::new().merge(pages),
                mount => axum::Router::new().nest(mount, pages),
            }
            .route(
                "/protected",
                get(|_: pow_axum::CurrentUser| async { "secret" }),
            )
            .layer(pow_axum::PowLayer::new(config));
            serve_axum(app)
        }
    }
}

/// Serves the axum `app` on a loopback port (with the client's address, as an app
/// serves it), on a runtime of its own.
pub fn serve_axum(app: axum::Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
    });
    rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap()
}

/// Runs each named test function (a plain `fn()` of the suite, without `#[test]`) once on
/// actix-web (`on_actix::<name>`) and once on axum (`on_axum::<name>`): the function's
/// [`serve`] calls serve on that framework.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_actix {
            $(
                #[test]
                fn $name() {
                    $crate::set_framework($crate::Framework::Actix);
                    super::$name()
                }
            )*
        }
        mod on_axum {
            $(
                #[test]
                fn $name() {
                    $crate::set_framework($crate::Framework::Axum);
                    super::$name()
                }
            )*
        }
    };
}

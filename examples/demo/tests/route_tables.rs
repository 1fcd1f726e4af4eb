//! Both frameworks serve the same routes: every page route of the demo's setup (the core's
//! and each enabled extension's, support access included), every asset and every JSON
//! route of both transports is asked once of the actix-web app and once of the axum app,
//! by an anonymous client, and both answer alike (status, redirect, content type, the JSON
//! error's code); a method no route has answers `405` on both. A route mounted by one
//! framework only would answer `404` on the other and fail here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use pow_actix::mailer::MemoryMailer;
use pow_core::api::{ApiOptions, ApiService, BrowserTransport};
use pow_core::pages::routes::{self, Verb};
use pow_testkit::Framework;

/// The demo's setup, with a store and database of its own.
fn config() -> pow_actix::PowConfig {
    let db = std::env::temp_dir().join(format!(
        "pow-route-tables-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let settings = example_demo::Settings {
        database_url: db.display().to_string(),
        bind: "127.0.0.1:0".into(),
        secret_key_base: "r".repeat(64),
        mail_dir: None,
        dev_mailbox: false,
        base_url: "http://localhost".into(),
        admin_emails: vec!["admin@example.com".into()],
        cache: example_demo::CacheSetting::Memory,
        oidc: None,
    };
    let mailer = Arc::new(MemoryMailer::new());
    example_demo::build(
        &settings,
        pow_actix::store::MemoryStore::shared(),
        Some(mailer),
    )
    .unwrap()
}

/// What is compared of an answer.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    location: Option<String>,
    content_type: Option<String>,
    code: Option<String>,
}

/// Asks `method path` of the app at `addr`, as an anonymous client (a JSON body `{}` on
/// the API, a form without a CSRF token on the pages).
async fn ask(addr: SocketAddr, method: &str, path: &str, json: bool, origin: bool) -> Seen {
    let mut headers = vec![("Accept-Language".to_owned(), "en".to_owned())];
    let body: &[u8] = match (json, method) {
        (_, "GET") => b"",
        (true, _) => b"{}",
        (false, _) => b"",
    };
    if json {
        headers.push(("Content-Type".into(), "application/json".into()));
        headers.push(("Accept".into(), "application/json".into()));
        if origin {
            headers.push(("Origin".into(), "http://localhost".into()));
        }
    } else if method != "GET" {
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    let answer = pow_testkit::http(addr, method, path, &headers, body).await;
    let header = |name: &str| {
        answer
            .headers
            .iter()
            .find(|(have, _)| have.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    let code = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|body| body["errors"][0]["code"].as_str().map(str::to_owned));
    Seen {
        status: answer.status,
        location: header("location"),
        // The media type, without parameters a framework may add or leave out.
        content_type: header("content-type")
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned()),
        code,
    }
}

/// A concrete path for a route's template (`/reset-password/{token}`).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "x" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

fn serve_pages(framework: Framework, config: pow_actix::PowConfig) -> SocketAddr {
    match framework {
        Framework::Actix => pow_actix::test_client::serve(move || {
            example_demo::app_with_mailbox(config.clone(), None)
        }),
        Framework::Axum => pow_testkit::serve_axum(example_demo_axum::app(config, None)),
    }
}

fn serve_api(
    framework: Framework,
    config: pow_actix::PowConfig,
    options: ApiOptions,
) -> SocketAddr {
    pow_testkit::set_framework(framework);
    pow_testkit::serve_api(config, options)
}

#[test]
fn both_frameworks_serve_every_route_alike() {
    actix_web::rt::System::new().block_on(async {
        let options = ApiOptions::new().browser(BrowserTransport::new());
        let mut differences = Vec::new();
        let mut asked = 0;

        // The pages, the assets and the support-access routes.
        let (actix_config, axum_config) = (config(), config());
        let table = routes::page_routes(&actix_config);
        assert!(
            table.iter().any(|route| route.path == "/impersonation"),
            "the demo has support access"
        );
        let actix = serve_pages(Framework::Actix, actix_config.clone());
        let axum = serve_pages(Framework::Axum, axum_config);
        let mut paths = BTreeSet::new();
        for (path, here) in routes::by_path(&actix_config, &table) {
            let path = concrete(&path);
            for verb in routes::methods(&here) {
                let on_actix = ask(actix, verb.as_str(), &path, false, false).await;
                let on_axum = ask(axum, verb.as_str(), &path, false, false).await;
                asked += 1;
                if on_actix.status == 404 {
                    differences.push(format!("{} {path}: 404 on actix-web", verb.as_str()));
                }
                if on_actix != on_axum {
                    differences.push(format!(
                        "{} {path}: {on_actix:?} / {on_axum:?}",
                        verb.as_str()
                    ));
                }
            }
            // A method no route of the path has.
            let verbs = routes::methods(&here);
            if !verbs.contains(&Verb::Put) && !verbs.contains(&Verb::Post) {
                let on_actix = ask(actix, "PUT", &path, false, false).await;
                let on_axum = ask(axum, "PUT", &path, false, false).await;
                if (on_actix.status, on_axum.status) != (405, 405) {
                    differences.push(format!("PUT {path}: {on_actix:?} / {on_axum:?}"));
                }
            }
            paths.insert(path);
        }
        for asset in actix_config.extensions().assets() {
            let path = asset.mounted_path(&actix_config);
            let on_actix = ask(actix, "GET", &path, false, false).await;
            let on_axum = ask(axum, "GET", &path, false, false).await;
            asked += 1;
            if on_actix.status != 200 || on_actix != on_axum {
                differences.push(format!("GET {path}: {on_actix:?} / {on_axum:?}"));
            }
        }

        // The JSON routes of both transports.
        let (actix_config, axum_config) = (config(), config());
        let bearer = ApiService::new(actix_config.clone(), options.clone());
        let browser = bearer.browser().unwrap();
        let actix = serve_api(Framework::Actix, actix_config, options.clone());
        let axum = serve_api(Framework::Axum, axum_config, options);
        for api in [&bearer, &browser] {
            for (path, here) in pow_core::api::routes::by_path(api.routes()) {
                let path = concrete(&api.path(path));
                for route in here {
                    let method = route.verb.as_str();
                    let on_actix = ask(actix, method, &path, true, api.is_browser()).await;
                    let on_axum = ask(axum, method, &path, true, api.is_browser()).await;
                    asked += 1;
                    if on_actix.status == 404 && on_actix.code.is_none() {
                        differences.push(format!("{method} {path}: not mounted on actix-web"));
                    }
                    if on_actix != on_axum {
                        differences.push(format!("{method} {path}: {on_actix:?} / {on_axum:?}"));
                    }
                }
            }
        }
        // The browser transport serves no renewal.
        let renew = browser.path("/session/renew");
        let on_actix = ask(actix, "POST", &renew, true, true).await;
        let on_axum = ask(axum, "POST", &renew, true, true).await;
        assert_eq!((on_actix.status, on_axum.status), (404, 404), "{renew}");

        assert!(asked > 100, "{asked} routes asked");
        assert!(paths.len() > 30, "{} page paths", paths.len());
        assert!(
            differences.is_empty(),
            "the frameworks differ on {} of {asked} routes:\n{}",
            differences.len(),
            differences.join("\n")
        );
    });
}

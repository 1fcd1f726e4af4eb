//! The provider against an independent relying party: openid-client (npm, the version
//! pinned in `conformance/openid-client/package-lock.json`, installed by `.ci/run` with
//! `npm ci`) reads the discovery document, sends the authorization request with PKCE,
//! checks `iss` on the response, exchanges the code, verifies the ID token's EdDSA
//! signature against the JWKS, calls userinfo, refreshes, and sees the spent refresh token
//! refused and its family ended. This test plays the user: it signs in and consents.
//! On actix-web and on axum.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::Client;
use pow_actix::PowConfig;
use pow_ext_provider::{ClientRegistration, Provider};
use serde_json::Value;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "https://rp.example/callback";

/// The relying party's folder, or `None` (with a notice) when its packages are not
/// installed outside CI; under CI a missing install fails the test.
fn relying_party() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/openid-client");
    if dir.join("node_modules/openid-client").is_dir() {
        return Some(dir);
    }
    let hint = "run `npm ci` in conformance/openid-client";
    assert!(
        std::env::var("CI").is_err(),
        "openid-client is not installed: {hint}"
    );
    eprintln!("skipped: openid-client is not installed ({hint})");
    None
}

fn an_openid_client_relying_party_completes_the_flow() {
    let Some(dir) = relying_party() else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let users = pow_testkit::sqlite("provider-openid-client");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url(&issuer)
        .store(Arc::new(MemoryStore::new()))
        .extension(
            Provider::new()
                .device_poll_interval(std::time::Duration::from_secs(1))
                .client(
                    ClientRegistration::public("rp")
                        .name("openid-client")
                        .redirect_uri(REDIRECT)
                        .device_grant(),
                ),
        )
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = pow_testkit::serve(config);
    pow_testkit::forward(listener, addr);

    let mut rp = Command::new("node")
        .arg(dir.join("rp.mjs"))
        .args([issuer.as_str(), "rp", REDIRECT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let mut said = BufReader::new(rp.stdout.take().unwrap()).lines();
    let mut next = || -> Value {
        let line = said
            .next()
            .expect("the relying party says something")
            .unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    };
    let asked = next();
    let authorize = asked["authorize"]
        .as_str()
        .unwrap_or_else(|| panic!("{asked}"));
    let url = url::Url::parse(authorize).unwrap();
    assert_eq!(url.origin().ascii_serialization(), issuer);
    let path = format!("{}?{}", url.path(), url.query().unwrap());

    // The user: signs in, sees the consent page, allows.
    let mut browser = Client::new(addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let page = browser.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    let marker = "name=\"user[request]\" value=\"";
    let start = page.body.find(marker).unwrap() + marker.len();
    let pending = &page.body[start..start + page.body[start..].find('"').unwrap()];
    let back = browser.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[request]", pending),
            ("user[decision]", "allow"),
        ],
    );
    assert_eq!(back.status, 302);
    assert!(back.location().starts_with(REDIRECT), "{}", back.location());
    let mut stdin = rp.stdin.take().unwrap();
    writeln!(stdin, "{}", back.location()).unwrap();

    let result = next();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["sub"], user.id.to_string());
    assert_eq!(result["aud"], serde_json::json!(["rp"]));
    assert_eq!(result["iss"], issuer.as_str());
    assert_eq!(result["email"], EMAIL);
    assert_eq!(result["id_token_alg"], "EdDSA");
    assert_eq!(result["refreshed"], true);
    assert_eq!(result["reuse"], "invalid_grant", "{result}");
    assert_eq!(result["after_reuse"], "401", "{result}");
    assert!(rp.wait().unwrap().success());

    // The device grant: openid-client asks for codes and polls; the user enters the code.
    let mut device = Command::new("node")
        .arg(dir.join("rp.mjs"))
        .args([issuer.as_str(), "rp", "device"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let mut said = BufReader::new(device.stdout.take().unwrap()).lines();
    let mut next = || -> Value {
        let line = said.next().expect("the device says something").unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    };
    let codes = next();
    assert_eq!(
        codes["verification_uri"],
        format!("{issuer}/oauth/device"),
        "{codes}"
    );
    assert_eq!(codes["interval"], 1);
    let user_code = codes["user_code"].as_str().unwrap();
    let page = browser.get("/oauth/device");
    let confirm = browser.post(
        "/oauth/device",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[user_code]", user_code),
        ],
    );
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let start = confirm.body.find(marker).unwrap() + marker.len();
    let pending = &confirm.body[start..start + confirm.body[start..].find('"').unwrap()];
    let allowed = browser.post(
        "/oauth/device/confirm",
        &[
            ("_csrf_token", &confirm.csrf()),
            ("user[request]", pending),
            ("user[decision]", "allow"),
        ],
    );
    assert_eq!(allowed.status, 302, "{}", allowed.body);
    let polled = next();
    assert_eq!(polled["ok"], true, "{polled}");
    assert_eq!(polled["sub"], user.id.to_string());
    assert_eq!(polled["email"], EMAIL);
    assert!(device.wait().unwrap().success());
}

pow_testkit::on_both!(an_openid_client_relying_party_completes_the_flow);

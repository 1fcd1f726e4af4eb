//! The example against the official MCP TypeScript SDK's client (npm, the version pinned
//! in `conformance/mcp-client/package-lock.json`, installed by `.ci/run` with `npm ci`):
//! the SDK meets the MCP server's `401`, follows `resource_metadata` to the protected
//! resource's metadata and the authorization server's, identifies itself by a client ID
//! metadata document served over HTTPS on loopback (a test CA the provider is told to
//! trust), sends the user to authorize with PKCE and the resource, exchanges the code,
//! connects again with the token and calls the example's tool, whose answer names the
//! user. And against openid-client (`conformance/openid-client`, the same relying party
//! the extension's suite runs): code, refresh, RP-initiated logout and a device flow. These
//! tests play the user.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use pow_actix::test_client::Client;
use pow_testkit::Tool;
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "http://127.0.0.1/callback";

/// The SDK's folder, or `None` (with a notice) when its packages are not installed
/// outside CI; under CI a missing install fails the test.
fn sdk() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/mcp-client");
    if dir.join("node_modules/@modelcontextprotocol/sdk").is_dir() {
        return Some(dir);
    }
    let hint = "run `npm ci` in conformance/mcp-client";
    assert!(
        std::env::var("CI").is_err(),
        "the MCP SDK is not installed: {hint}"
    );
    eprintln!("skipped: the MCP SDK is not installed ({hint})");
    None
}

/// Serves the client's metadata document over HTTPS on loopback with a certificate of its
/// own: its URL and the certificate (DER) to trust.
fn serve_document() -> (String, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/client.json", listener.local_addr().unwrap());
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = certified.cert.der().to_vec();
    let key = certified.signing_key.serialize_der();
    let crypto = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert.clone())],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .unwrap();
    let tls = Arc::new(tls);
    let document = json!({
        "client_id": url,
        "client_name": "MCP conformance client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
    .to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&tls)) else {
                continue;
            };
            let mut stream = rustls::StreamOwned::new(conn, stream);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=300\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{document}",
                document.len()
            );
            let _ = stream.write_all(answer.as_bytes());
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    });
    (url, cert)
}

/// The example on a loopback port it knew before it was built (its issuer and its MCP
/// server's URL name it), trusting `cert` for metadata documents.
fn serve_example(
    tweak: impl FnOnce(pow_ext_provider::Provider) -> pow_ext_provider::Provider,
) -> (SocketAddr, pow_axum::PowConfig) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = std::env::temp_dir().join(format!(
        "pow-provider-example-{}",
        pow_axum::token::generate_uuid()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = example_provider::Settings {
        bind: addr.to_string(),
        base_url: format!("http://{addr}"),
        database_url: dir.join("provider.db").display().to_string(),
        secret_key_base: "k".repeat(64),
    };
    let (config, resource) = example_provider::build(&settings, tweak).unwrap();
    let app = example_provider::app(config.clone(), resource);
    let served = pow_testkit::serve_axum(app);
    pow_testkit::forward(listener, served);
    (addr, config)
}

#[test]
fn the_mcp_sdk_client_authorizes_and_calls_the_example_s_tool() {
    let Some(dir) = sdk() else {
        return;
    };
    let (document, cert) = serve_document();
    let (addr, config) = serve_example(|provider| {
        provider
            .allow_loopback_fetches(true)
            .fetch_root_certificates(vec![cert])
    });
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let mcp_url = format!("http://{addr}/mcp");

    let mut sdk = Tool::start(
        "the MCP SDK client",
        Command::new("node").arg(dir.join("client.mjs")).args([
            mcp_url.as_str(),
            document.as_str(),
            REDIRECT,
        ]),
    );
    let next = |sdk: &mut Tool| -> Value {
        let line = sdk.line("its next step");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    };
    let asked = next(&mut sdk);
    let authorize = asked["authorize"]
        .as_str()
        .unwrap_or_else(|| panic!("{asked}"));
    let url = url::Url::parse(authorize).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        param("client_id"),
        Some(document.as_str()),
        "identified by its document"
    );
    assert_eq!(
        param("resource"),
        Some(mcp_url.as_str()),
        "the resource named"
    );
    assert_eq!(param("code_challenge_method"), Some("S256"));

    // The user: signs in, sees the consent page naming the document's host, allows.
    let mut browser = Client::new(addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let page = browser.get(&format!("{}?{}", url.path(), url.query().unwrap()));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("MCP conformance client (127.0.0.1)"));
    assert!(
        page.body.contains("Notes MCP server"),
        "the resource is named"
    );
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
    assert_eq!(back.status, 302, "{}", back.body);
    writeln!(sdk.stdin(), "{}", back.location()).unwrap();

    let result = next(&mut sdk);
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["client_id"], document.as_str());
    assert_eq!(result["tools"], json!(["whoami"]));
    assert_eq!(result["tool"], format!("user:{}", user.id));
    assert!(sdk.finish().success());
}

#[path = "../../../conformance/openid-client/driver.rs"]
mod driver;

/// openid-client against the example as it ships (its `notes-cli` client; polls every
/// second rather than five): code + PKCE, the ID token against the JWKS, userinfo, refresh
/// and its reuse, RP-initiated logout, then a device flow.
#[test]
fn an_openid_client_relying_party_completes_the_flows_against_the_example() {
    let Some(dir) = driver::relying_party(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")) else {
        return;
    };
    let (addr, config) =
        serve_example(|provider| provider.device_poll_interval(std::time::Duration::from_secs(1)));
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let issuer = format!("http://{addr}");
    let party = driver::Party {
        dir: &dir,
        issuer: &issuer,
        addr,
        client: "notes-cli",
        redirect: REDIRECT,
        email: EMAIL,
        password: PASSWORD,
        user_id: user.id,
    };
    let mut browser = party.code_flow_and_logout();
    party.device_flow(&mut browser);
}

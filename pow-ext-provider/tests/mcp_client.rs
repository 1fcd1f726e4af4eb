//! The provider protecting an MCP server, against the official MCP TypeScript SDK's client
//! (npm, the version pinned in `conformance/mcp-client/package-lock.json`, installed by
//! `.ci/run` with `npm ci`): the SDK meets the server's `401`, follows
//! `resource_metadata` to the protected resource's metadata and the authorization server's,
//! identifies itself by a client ID metadata document served over HTTPS on loopback (a test
//! CA the provider is told to trust), sends the user to authorize with PKCE and the
//! resource, exchanges the code, connects again with the token and calls a tool, whose
//! answer names the user. This test plays the user and serves the MCP server (a tool list
//! and one tool behind `Resource::check`). On actix-web and on axum.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::Client;
use pow_actix::PowConfig;
use pow_ext_provider::{Provider, Resource, ResourceAccess};
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "http://127.0.0.1/callback";

/// The SDK's folder, or `None` (with a notice) when its packages are not installed
/// outside CI; under CI a missing install fails the test.
fn sdk() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/mcp-client");
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

/// The MCP server's answer to a JSON-RPC message from `access`: the status and the body.
/// `initialize`, `tools/list`, and `tools/call` of the one tool, `whoami`; a notification
/// is accepted with `202`.
fn mcp_answer(body: &[u8], access: &ResourceAccess) -> (u16, Option<Value>) {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return (400, None);
    };
    let Some(id) = message.get("id").cloned() else {
        return (202, None);
    };
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "pow-provider-test", "version": "1.0.0" },
        }),
        "tools/list" => json!({ "tools": [{
            "name": "whoami",
            "description": "The user the token acts for.",
            "inputSchema": { "type": "object", "properties": {} },
        }]}),
        "tools/call" => json!({ "content": [{
            "type": "text",
            "text": format!("user:{}", access.user_id.unwrap_or_default()),
        }]}),
        _ => {
            let error = json!({ "code": -32601, "message": "method not found" });
            return (
                200,
                Some(json!({ "jsonrpc": "2.0", "id": id, "error": error })),
            );
        }
    };
    (
        200,
        Some(json!({ "jsonrpc": "2.0", "id": id, "result": result })),
    )
}

/// The MCP server at `/mcp` on the test's framework: `Resource::check`, then
/// [`mcp_answer`]; the refusal sent as it is. `GET` (a server-sent stream) is `405`.
fn serve_mcp(config: PowConfig, resource: Resource) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
            use actix_web::web::{self, Bytes};
            use actix_web::{App, HttpRequest, HttpResponse};
            let (config, resource) = (config.clone(), resource.clone());
            App::new().route(
                "/mcp",
                web::route().to(move |req: HttpRequest, body: Bytes| {
                    let (config, resource) = (config.clone(), resource.clone());
                    async move {
                        if req.method() != actix_web::http::Method::POST {
                            return HttpResponse::MethodNotAllowed().finish();
                        }
                        let header = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok());
                        let access = match resource.check(&config, header, &["notes:read"]).await {
                            Ok(access) => access,
                            Err(refused) => return pow_actix::api::respond(refused),
                        };
                        match mcp_answer(&body, &access) {
                            (status, Some(body)) => HttpResponse::build(
                                actix_web::http::StatusCode::from_u16(status).unwrap(),
                            )
                            .json(body),
                            (status, None) => HttpResponse::build(
                                actix_web::http::StatusCode::from_u16(status).unwrap(),
                            )
                            .finish(),
                        }
                    }
                }),
            )
        }),
        pow_testkit::Framework::Axum => {
            use axum::body::Bytes;
            use axum::http::{HeaderMap, Method, StatusCode};
            use axum::response::IntoResponse;
            let app = axum::Router::new().route(
                "/mcp",
                axum::routing::any(move |method: Method, headers: HeaderMap, body: Bytes| {
                    let (config, resource) = (config.clone(), resource.clone());
                    async move {
                        if method != Method::POST {
                            return StatusCode::METHOD_NOT_ALLOWED.into_response();
                        }
                        let header = headers.get("authorization").and_then(|v| v.to_str().ok());
                        let access = match resource.check(&config, header, &["notes:read"]).await {
                            Ok(access) => access,
                            Err(refused) => return pow_axum::api::response(refused),
                        };
                        match mcp_answer(&body, &access) {
                            (status, Some(body)) => {
                                (StatusCode::from_u16(status).unwrap(), axum::Json(body))
                                    .into_response()
                            }
                            (status, None) => StatusCode::from_u16(status).unwrap().into_response(),
                        }
                    }
                }),
            );
            pow_testkit::serve_axum(app)
        }
    }
}

fn the_mcp_sdk_client_authorizes_and_calls_a_tool() {
    let Some(dir) = sdk() else {
        return;
    };
    let (document, cert) = serve_document();
    let pages_at = TcpListener::bind("127.0.0.1:0").unwrap();
    let mcp_at = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", pages_at.local_addr().unwrap());
    let mcp_url = format!("http://{}/mcp", mcp_at.local_addr().unwrap());
    let resource = Resource::new(&mcp_url)
        .name("Notes MCP")
        .scopes(["notes:read"]);
    let users = pow_testkit::sqlite("provider-mcp");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url(&issuer)
        .store(Arc::new(MemoryStore::new()))
        .extension(
            Provider::new()
                .scopes(["notes:read"])
                .resource(resource.clone())
                .client_metadata_documents(true)
                .allow_loopback_fetches(true)
                .fetch_root_certificates(vec![cert]),
        )
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let pages = pow_testkit::serve(config.clone());
    pow_testkit::forward(pages_at, pages);
    pow_testkit::forward(mcp_at, serve_mcp(config, resource));

    let mut sdk = Command::new("node")
        .arg(dir.join("client.mjs"))
        .args([mcp_url.as_str(), document.as_str(), REDIRECT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let mut said = BufReader::new(sdk.stdout.take().unwrap()).lines();
    let mut next = || -> Value {
        let line = said.next().expect("the client says something").unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    };
    let asked = next();
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
    let mut browser = Client::new(pages);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let page = browser.get(&format!("{}?{}", url.path(), url.query().unwrap()));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("MCP conformance client (127.0.0.1)"));
    assert!(page.body.contains("Notes MCP"), "the resource is named");
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
    let mut stdin = sdk.stdin.take().unwrap();
    writeln!(stdin, "{}", back.location()).unwrap();

    let result = next();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["client_id"], document.as_str());
    assert_eq!(result["tools"], json!(["whoami"]));
    assert_eq!(result["tool"], format!("user:{}", user.id));
    assert!(sdk.wait().unwrap().success());
}

pow_testkit::on_both!(the_mcp_sdk_client_authorizes_and_calls_a_tool);

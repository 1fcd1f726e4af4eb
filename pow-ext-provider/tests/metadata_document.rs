//! Client ID metadata documents over HTTP, on actix-web and on axum: a client known only by
//! the URL of its document signs a user in (the consent page names the host serving it),
//! the document is fetched once while its `Cache-Control` lasts, and documents that name
//! another `client_id`, ask for a secret, redirect, or sit on a loopback address the
//! provider was not allowed to fetch from are refused: the client is unknown. An `https`
//! client ID at a private, shared, link-local or loopback address is refused before any
//! connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::Client;
use pow_actix::PowConfig;
use pow_ext_provider::Provider;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "a-pkce-verifier-of-forty-three-characters-or-more-0123";

/// A server of metadata documents on loopback, counting the fetches of `/good.json`.
fn documents() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fetched = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&fetched);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
            let own = format!("http://{addr}{path}");
            let doc = |extra: Value| {
                let mut doc = json!({ "client_id": own, "client_name": "Doc App", "redirect_uris": [REDIRECT] });
                for (k, v) in extra.as_object().unwrap() {
                    doc[k] = v.clone();
                }
                doc.to_string()
            };
            let (status, body) = match path.as_str() {
                "/good.json" => {
                    counted.fetch_add(1, Ordering::SeqCst);
                    ("200 OK", doc(json!({})))
                }
                "/other.json" => (
                    "200 OK",
                    doc(json!({ "client_id": "http://127.0.0.1/elsewhere.json" })),
                ),
                "/secret.json" => (
                    "200 OK",
                    doc(json!({ "token_endpoint_auth_method": "client_secret_basic" })),
                ),
                "/moved.json" => ("302 Found", String::new()),
                _ => ("404 Not Found", String::new()),
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: max-age=60\r\n\
                 Location: http://169.254.169.254/\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (addr, fetched)
}

fn start(loopback: bool) -> SocketAddr {
    let users = pow_testkit::sqlite("provider-cimd");
    let config = PowConfig::builder("k".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        .extension(
            Provider::new()
                .client_metadata_documents(true)
                .allow_loopback_fetches(loopback),
        )
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    pow_testkit::serve(config)
}

fn authorize_path(client_id: &str) -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(VERIFIER.as_bytes()));
    let params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(params).unwrap()
    )
}

fn a_client_known_by_its_document_signs_a_user_in() {
    let (docs, fetched) = documents();
    let addr = start(true);
    let discovery = Client::new(addr).get("/.well-known/oauth-authorization-server");
    let meta: Value = serde_json::from_str(&discovery.body).unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let client_id = format!("http://{docs}/good.json");
    let mut browser = Client::new(addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let page = browser.get(&authorize_path(&client_id));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Doc App (127.0.0.1)"),
        "the name is the document's claim; the host is ours"
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
    let code = url::Url::parse(back.location())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let res = Client::new(addr).post(
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        fetched.load(Ordering::SeqCst),
        1,
        "fetched once, kept for its max-age"
    );
}

fn documents_that_do_not_hold_are_refused() {
    let (docs, _) = documents();
    let addr = start(true);
    let mut browser = Client::new(addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    for path in [
        "/other.json",
        "/secret.json",
        "/moved.json",
        "/missing.json",
    ] {
        let res = browser.get(&authorize_path(&format!("http://{docs}{path}")));
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        assert!(res.body.contains("not known here"), "{path}");
    }
    // Not a document's URL at all.
    let res = browser.get(&authorize_path("http://127.0.0.1/"));
    assert_eq!(res.status, 400);
}

fn loopback_documents_need_the_app_s_leave() {
    let (docs, fetched) = documents();
    let addr = start(false);
    let mut browser = Client::new(addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let res = browser.get(&authorize_path(&format!("http://{docs}/good.json")));
    assert_eq!(res.status, 400);
    assert_eq!(fetched.load(Ordering::SeqCst), 0, "nothing was fetched");
}

/// A listener that counts the connections it is offered (and answers none).
fn connection_counter() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (addr, connections)
}

/// An `https` client ID at a private, shared, link-local or loopback address is refused at
/// the authorization endpoint by the address check, before any connection (the loopback
/// one's listener is never reached), even with loopback fetches allowed for the private
/// ones: the page says the client is not known here and nothing is redirected.
fn documents_at_private_addresses_are_refused_unfetched() {
    let (listener, connections) = connection_counter();
    for loopback in [false, true] {
        let addr = start(loopback);
        let mut browser = Client::new(addr);
        assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
        let mut ids = vec![
            "https://10.0.0.1/client.json".to_owned(),
            "https://192.168.1.10/client.json".to_owned(),
            "https://100.64.0.1/client.json".to_owned(),
            "https://169.254.169.254/client.json".to_owned(),
            "https://[fe80::1]/client.json".to_owned(),
        ];
        if !loopback {
            ids.push(format!("https://{listener}/client.json"));
            ids.push(format!("https://localhost:{}/client.json", listener.port()));
        }
        for id in ids {
            let res = browser.get(&authorize_path(&id));
            assert_eq!(res.status, 400, "{id}: {}", res.body);
            assert!(res.body.contains("not known here"), "{id}: {}", res.body);
            assert!(res.header("location").is_none(), "{id}: never redirected");
        }
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no connection was opened to a refused address"
    );
}

/// Fetches are counted per host: past 30 a minute, a document of that host is not fetched,
/// even a good one, and its client is unknown.
fn document_fetches_are_limited_per_host() {
    let (docs, fetched) = documents();
    let addr = start(true);
    let mut browser = Client::new(addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    // Thirty documents that are not there, each fetched (a missing one is not kept).
    for n in 0..30 {
        let res = browser.get(&authorize_path(&format!("http://{docs}/missing-{n}.json")));
        assert_eq!(res.status, 400, "{n}");
    }
    let res = browser.get(&authorize_path(&format!("http://{docs}/good.json")));
    assert_eq!(res.status, 400, "over the limit: {}", res.body);
    assert!(res.body.contains("not known here"));
    assert_eq!(
        fetched.load(Ordering::SeqCst),
        0,
        "the good one was not fetched"
    );
}

pow_testkit::on_both!(
    document_fetches_are_limited_per_host,
    documents_at_private_addresses_are_refused_unfetched,
    a_client_known_by_its_document_signs_a_user_in,
    documents_that_do_not_hold_are_refused,
    loopback_documents_need_the_app_s_leave,
);

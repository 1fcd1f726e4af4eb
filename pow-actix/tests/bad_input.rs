//! Bad input over raw sockets: bodies over the size limit, a 100 KB cookie, invalid UTF-8,
//! wrong content types, huge and deeply nested forms. Each gets a clear 4xx answer (or the
//! form's own error), nothing is created, and the server keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::Value;
use pow_actix::PowConfig;

fn start() -> (PowConfig, SocketAddr) {
    let db = std::env::temp_dir().join(format!("pow-bad-{}.db", pow_actix::token::generate_uuid()));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("b".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .rate_limits(pow_actix::limits::RateLimits::disabled())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let served = config.clone();
    (config, pow_testkit::serve(served.clone()))
}

/// Sends `head` (request line and headers, without the blank line) and `body`; returns the
/// status and the raw answer.
fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    // The server may answer and close before reading a large body.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

/// A registration form body with a CSRF token and cookie from a real form.
fn registration(addr: SocketAddr, email: &str) -> (String, String) {
    let mut c = Client::new(addr);
    let csrf = c.get("/registration/new").csrf();
    let cookie = c
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let body = format!(
        "_csrf_token={}&user%5Bemail%5D={}&user%5Bpassword%5D=correct+horse+battery&user%5Bpassword_confirmation%5D=correct+horse+battery",
        csrf.replace('=', "%3D"),
        email.replace('@', "%40"),
    );
    (cookie, body)
}

fn exists(config: &PowConfig, email: &str) -> bool {
    config
        .users_context()
        .unwrap()
        .get_by(
            config.user_schema(),
            "email",
            &Value::Text(email.to_owned()),
        )
        .unwrap()
        .is_some()
}

fn post(addr: SocketAddr, cookie: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    raw(
        addr,
        &format!("POST /registration HTTP/1.1\r\nCookie: {cookie}\r\nContent-Type: {content_type}"),
        body,
    )
}

const FORM: &str = "application/x-www-form-urlencoded";

fn a_body_over_the_limit_is_refused_and_creates_nothing() {
    let (config, addr) = start();
    let (cookie, body) = registration(addr, "big@example.com");
    let padded = format!("{body}&pad={}", "x".repeat(200 * 1024));
    let (status, _) = post(addr, &cookie, FORM, padded.as_bytes());
    assert_eq!(status, 413);
    assert!(!exists(&config, "big@example.com"));
    // The same form within the limit works.
    let (status, _) = post(addr, &cookie, FORM, body.as_bytes());
    assert_eq!(status, 302);
    assert!(exists(&config, "big@example.com"));
}

fn a_huge_cookie_is_refused_cleanly() {
    let (_, addr) = start();
    let cookie = format!("pow_session={}", "a".repeat(100 * 1024));
    let (status, text) = raw(
        addr,
        &format!("GET /session/new HTTP/1.1\r\nCookie: {cookie}"),
        b"",
    );
    assert_eq!(status, 431, "{text}");
    assert!(text.contains("cookies are too large"));
    // A large but legal cookie (4 KB of garbage) is anonymous, not an error.
    let cookie = format!("pow_session={}", "a".repeat(4 * 1024));
    let (status, text) = raw(
        addr,
        &format!("GET /session/new HTTP/1.1\r\nCookie: {cookie}"),
        b"",
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        Client::new(addr).get("/session/new").status,
        200,
        "still serving"
    );
}

fn invalid_utf8_and_wrong_content_types_create_nothing() {
    let (config, addr) = start();
    let (cookie, body) = registration(addr, "utf@example.com");
    // Invalid UTF-8 in a value: read as replacement characters, never a server error.
    let mut invalid = body.clone().into_bytes();
    invalid.extend_from_slice(b"&user%5Bname%5D=\xff\xfe%FF%FE");
    let (status, _) = post(addr, &cookie, FORM, &invalid);
    assert!(status < 500, "{status}");
    // In the address itself: a form error, no account.
    let (cookie2, body2) = registration(addr, "placeholder@example.com");
    let bad_email = body2.replace("placeholder%40example.com", "%FF%FE%40example.com");
    let (status, text) = post(addr, &cookie2, FORM, bad_email.as_bytes());
    assert_eq!(status, 200, "the form again: {text}");
    assert!(text.contains("pow-errors"), "{text}");

    let (cookie, body) = registration(addr, "json@example.com");
    for content_type in [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let (status, text) = post(addr, &cookie, content_type, body.as_bytes());
        assert_eq!(status, 415, "{content_type}: {text}");
        assert!(text.contains("application/x-www-form-urlencoded"));
    }
    let json = br#"{"user": {"email": "json@example.com"}}"#;
    let (status, _) = post(addr, &cookie, "application/json", json);
    assert_eq!(status, 415);
    assert!(
        !exists(&config, "json@example.com"),
        "no account from another content type"
    );
    // With the right type (and a charset parameter) the same form works.
    let (status, _) = post(
        addr,
        &cookie,
        &format!("{FORM}; charset=UTF-8"),
        body.as_bytes(),
    );
    assert_eq!(status, 302);
    assert!(exists(&config, "json@example.com"));
}

fn huge_and_deeply_nested_forms_are_answered_without_harm() {
    let (config, addr) = start();
    let (cookie, body) = registration(addr, "nested@example.com");
    // Deep brackets and thousands of fields, within the size limit.
    let deep = format!("{body}&user{}=1", "%5Bx%5D".repeat(2000));
    let (status, _) = post(addr, &cookie, FORM, deep.as_bytes());
    assert!(status < 500, "{status}");
    let many: String = (0..4000).map(|i| format!("&f{i}=v")).collect();
    let (cookie, body) = registration(addr, "many@example.com");
    let (status, _) = post(addr, &cookie, FORM, format!("{body}{many}").as_bytes());
    assert!(status < 500, "{status}");
    assert!(exists(&config, "many@example.com") || exists(&config, "nested@example.com"));
    assert_eq!(
        Client::new(addr).get("/session/new").status,
        200,
        "still serving"
    );
}

pow_testkit::on_both!(
    a_body_over_the_limit_is_refused_and_creates_nothing,
    a_huge_cookie_is_refused_cleanly,
    invalid_utf8_and_wrong_content_types_create_nothing,
    huge_and_deeply_nested_forms_are_answered_without_harm,
);

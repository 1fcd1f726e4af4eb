//! A small HTTP/1.1 client with a cookie jar, to drive an app over a real loopback socket
//! in tests (feature `test-util`): [`serve`] starts the app, [`Client`] browses it.
//!
//! Panics on I/O errors and malformed responses: it is test support.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn location(&self) -> &str {
        self.header("location").unwrap_or_default()
    }

    /// The first `_csrf_token` value in the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"_csrf_token\" value=\"";
        let start = self.body.find(marker).expect("page has a CSRF token") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }
}

/// A response read as it arrives: headers and (chunked) body, raw.
pub struct EventStream {
    stream: TcpStream,
    /// Everything received so far.
    pub received: String,
}

impl EventStream {
    /// Reads until `needle` has arrived and returns how long that took; `None` if it did
    /// not arrive within `within` (or the server closed the connection first).
    pub fn wait_for(&mut self, needle: &str, within: Duration) -> Option<Duration> {
        let started = std::time::Instant::now();
        let deadline = started + within;
        let mut buf = [0u8; 4096];
        while !self.received.contains(needle) {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.received.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(err) => panic!("reading the stream: {err}"),
            }
        }
        Some(started.elapsed())
    }

    /// Whether the server closes the stream within `within` (what arrives meanwhile is
    /// kept in [`received`](Self::received)).
    pub fn closes_within(&mut self, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                return false;
            };
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self.received.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => return false,
            }
        }
    }
}

/// A browser-like client: one cookie jar, one server.
pub struct Client {
    addr: SocketAddr,
    pub cookies: BTreeMap<String, String>,
    pub accept_language: Option<String>,
    /// More headers sent with every request (`X-Forwarded-For`, say).
    pub headers: Vec<(String, String)>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            cookies: BTreeMap::new(),
            accept_language: None,
            headers: Vec::new(),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, None)
    }

    /// Signs in through pow's sign-in form (`/session/new` for the CSRF token, then
    /// `POST /session`) with the default `email` user id field.
    pub fn sign_in(&mut self, email: &str, password: &str) -> Response {
        let csrf = self.get("/session/new").csrf();
        self.post(
            "/session",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", email),
                ("user[password]", password),
            ],
        )
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let body = serde_urlencoded(form);
        self.request("POST", path, Some(body))
    }

    pub fn request(&mut self, method: &str, path: &str, body: Option<String>) -> Response {
        let mut stream = self.send(method, path, body);
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let res = parse(&raw);
        for (k, v) in &res.headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap_or_default();
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let expired = v.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
                if expired {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
        res
    }

    /// Opens `path` with a GET and hands back the connection, to read a response that
    /// streams (server-sent events) as it arrives.
    pub fn open_stream(&mut self, path: &str) -> EventStream {
        EventStream {
            stream: self.send("GET", path, None),
            received: String::new(),
        }
    }

    /// Connects and writes one request with the jar's cookies and the extra headers.
    fn send(&mut self, method: &str, path: &str, body: Option<String>) -> TcpStream {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        if let Some(lang) = &self.accept_language {
            req.push_str(&format!("Accept-Language: {lang}\r\n"));
        }
        for (name, value) in &self.headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        let body = body.unwrap_or_default();
        if method != "GET" {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        stream.write_all(req.as_bytes()).unwrap();
        stream
    }
}

fn serde_urlencoded(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn parse(raw: &[u8]) -> Response {
    let (status, headers, body) = parse_raw(raw, false);
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

/// A raw HTTP/1.1 response, read to its end: its status, its headers in order, and its
/// body (de-chunked; none when it answers a `HEAD` request, `head_only`). Test code: it
/// panics on a response that is not complete.
pub fn parse_raw(raw: &[u8], head_only: bool) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked && !head_only {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = out;
    }
    (status, headers, body)
}

/// Starts the app built by `factory` on a free loopback port, in a background thread with
/// its own actix system and one worker; returns its address. The server lives until the
/// test process ends.
pub fn serve<F, T, B>(factory: F) -> SocketAddr
where
    F: Fn() -> actix_web::App<T> + Send + Clone + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(factory)
                .workers(1)
                .bind("127.0.0.1:0")
                .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(30)).unwrap()
}

//! The outbound client against a real server on loopback (allowed for the test): it reads
//! an answer, follows no redirect, stops at its size limit and its time limit; without
//! loopback allowed the same server is refused before anything is sent; any request (a
//! `POST` with a body) goes out under the same rules.

#![cfg(feature = "outbound")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pow_core::outbound::{OutboundClient, OutboundError};

/// A server answering each path: `/ok` a small JSON, `/moved` a redirect, `/big` 100 KiB,
/// `/slow` nothing for 5 seconds. Counts the requests it read.
fn serve() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let counted = Arc::clone(&counted);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut n = stream.read(&mut buf).unwrap_or(0);
                counted.fetch_add(1, Ordering::SeqCst);
                // The whole request: its head, then as many bytes as it says it has.
                let wanted = |got: &[u8]| {
                    let text = String::from_utf8_lossy(got).to_ascii_lowercase();
                    let Some(end) = text.find("\r\n\r\n") else {
                        return usize::MAX;
                    };
                    let length = text
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    end + 4 + length
                };
                while n < buf.len() && n < wanted(&buf[..n]) {
                    match stream.read(&mut buf[n..]) {
                        Ok(0) | Err(_) => break,
                        Ok(more) => n += more,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let answer = match path.as_str() {
                    "/echo" => {
                        let method = head.split(' ').next().unwrap_or_default();
                        let body = head.split("\r\n\r\n").nth(1).unwrap_or_default();
                        let echoed = format!("{method} {body}");
                        format!("HTTP/1.1 201 Created\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{echoed}", echoed.len())
                    }
                    "/ok" => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=60\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"a\": true}".to_owned(),
                    "/moved" => "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                    "/big" => {
                        let body = "x".repeat(100 * 1024);
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    }
                    _ => {
                        std::thread::sleep(Duration::from_secs(5));
                        String::new()
                    }
                };
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    (addr, seen)
}

/// Any request goes out under the same rules: a `POST` with its body reaches the server;
/// to an address not allowed, nothing is sent; a redirect is not followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_sends_any_request_under_the_same_rules() {
    use pow_core::outbound::http;
    let (addr, seen) = serve();
    let client = OutboundClient::new().allow_loopback(true);
    let post = |path: &str| {
        http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b"grant_type=authorization_code&code=abc".to_vec())
            .unwrap()
    };
    let answer = client.execute(post("/echo")).await.unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(
        answer.body().as_slice(),
        b"POST grant_type=authorization_code&code=abc"
    );
    let moved = client.execute(post("/moved")).await;
    assert!(
        matches!(moved, Err(OutboundError::Redirect(302))),
        "{moved:?}"
    );
    let before = seen.load(Ordering::SeqCst);
    let refused = OutboundClient::new().execute(post("/echo")).await;
    assert!(
        matches!(refused, Err(OutboundError::Refused(_))),
        "{refused:?}"
    );
    let private = OutboundClient::new()
        .execute(
            http::Request::post("https://10.1.2.3/token")
                .body(Vec::new())
                .unwrap(),
        )
        .await;
    assert!(
        matches!(private, Err(OutboundError::Refused(_))),
        "{private:?}"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        before,
        "nothing reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_reads_within_its_limits_and_follows_no_redirect() {
    let (addr, seen) = serve();
    let client = OutboundClient::new()
        .allow_loopback(true)
        .max_bytes(5 * 1024)
        .timeout(Duration::from_millis(1500));
    let ok = client.get(&format!("http://{addr}/ok")).await.unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, b"{\"a\": true}");
    assert_eq!(ok.header("cache-control"), Some("max-age=60"));
    let moved = client.get(&format!("http://{addr}/moved")).await;
    assert!(
        matches!(moved, Err(OutboundError::Redirect(302))),
        "{moved:?}"
    );
    let big = client.get(&format!("http://{addr}/big")).await;
    assert!(matches!(big, Err(OutboundError::TooLarge(5120))), "{big:?}");
    let slow = client.get(&format!("http://{addr}/slow")).await;
    assert!(matches!(slow, Err(OutboundError::Failed(_))), "{slow:?}");
    let before = seen.load(Ordering::SeqCst);
    // Loopback not allowed: refused before connecting.
    let refused = OutboundClient::new()
        .get(&format!("https://{addr}/ok"))
        .await;
    assert!(
        matches!(refused, Err(OutboundError::Refused(_))),
        "{refused:?}"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        before,
        "nothing reached the server"
    );
}

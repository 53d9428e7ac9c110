//! Limits that keep one anonymous client from exhausting the server (issue 11): what a client
//! sends never becomes a metric label, and no client address can hold every connection.

mod common;

use berth_testkit::TestServer;
use common::{raw, raw_get, server};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// How long a client waits for anything before it gives up. Generous: only "answered at all"
/// is asserted, never speed.
const PATIENCE: Duration = Duration::from_secs(10);

/// The value at the end of a `/metrics` line.
fn value(line: &str) -> u64 {
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Issue 11, item 2: every request method a client invents is counted under
/// `method="other"`, so a flood of invented methods adds no metric series (each series lives as
/// long as the process).
#[test]
fn invented_methods_add_no_metric_series() {
    const REQUESTS: usize = 300;
    let s = server(&[]);
    let paths = ["/v2/", "/v2/some/repo/manifests/latest", "/healthz", "/nowhere"];
    for i in 0..REQUESTS {
        let method = format!("INVENTED{i:04}{}", "X".repeat(200));
        let path = paths[i % paths.len()];
        let request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", s.addr);
        let (status, text) = raw(&s.addr, request.as_bytes());
        assert!(status >= 400, "{method} {path}: {text}");
    }
    let (status, text) = raw_get(&s, "/metrics");
    assert_eq!(status, 200, "{text}");
    let leaked = text.lines().filter(|l| l.contains("INVENTED")).count();
    assert_eq!(leaked, 0, "{leaked} metric lines carry a method a client invented");
    let requests: Vec<&str> = text.lines().filter(|l| l.starts_with("berth_http_requests_total{")).collect();
    let other: u64 = requests.iter().filter(|l| l.contains("method=\"other\"")).map(|l| value(l)).sum();
    assert_eq!(other, REQUESTS as u64, "every invented method is counted as other:\n{text}");
    // One series per (route, method, status) the server produced: a handful, not one per request.
    assert!(requests.len() <= 2 * paths.len(), "{} request series:\n{text}", requests.len());
    let latency = text.lines().filter(|l| l.starts_with("berth_http_request_duration_seconds_count{")).count();
    assert!(latency <= 2 * paths.len(), "{latency} latency series:\n{text}");
}

/// A server with `[limits]` set through `BERTH__LIMITS__KEY` variables.
fn server_with_limits(limits: &[(&str, &str)]) -> TestServer {
    let env: Vec<(String, &str)> = limits.iter().map(|(k, v)| (format!("BERTH__LIMITS__{k}"), *v)).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &[], "info", &env)
}

/// A TCP connection to `server` from the loopback address `from` (`127.0.0.2`, …), so that the
/// server sees another client address.
async fn connect_from(from: &str, server: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    timeout(PATIENCE, socket.connect(server.parse().unwrap())).await.expect("connect timed out").unwrap()
}

/// `n` connections from `from` that never send anything, as plain sockets whose state can be
/// read without waiting.
async fn idle_from(from: &str, server: &str, n: usize) -> Vec<std::net::TcpStream> {
    let mut idle = Vec::with_capacity(n);
    for _ in 0..n {
        idle.push(connect_from(from, server).await.into_std().unwrap());
    }
    idle
}

/// Whether the server has closed `s` (end of stream or reset; `s` is non-blocking).
fn closed(mut s: &std::net::TcpStream) -> bool {
    !matches!(s.read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Waits (at most [`PATIENCE`]) until `done` holds; whether it did.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Reads one response to a request without a body; its head and body as text.
async fn response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let read = async {
        loop {
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .map_or(0, |v| v.parse::<usize>().unwrap());
                if head.starts_with("HTTP/1.1 100") || body.len() >= length {
                    return text.into_owned();
                }
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before a whole response: {text}");
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    timeout(PATIENCE, read).await.expect("no response in time")
}

/// `GET /healthz` on a new connection from `from`; the response.
async fn healthz_from(from: &str, server: &str) -> String {
    let mut s = connect_from(from, server).await;
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    response(&mut s).await
}

/// Issue 11, item 7: idle sockets from one address hold at most that address's share of the
/// connections, so another client is still answered. (Before, they held every one of
/// `max_connections` until the header timeout, and the other client waited in the backlog.)
#[tokio::test]
async fn one_address_holds_only_its_share_of_connections() {
    const SHARE: usize = 8;
    const SOCKETS: usize = 200;
    let s = server_with_limits(&[
        ("MAX_CONNECTIONS", "100"),
        ("MAX_CONNECTIONS_PER_ADDRESS", &SHARE.to_string()),
        ("HEADER_TIMEOUT_SECS", "120"),
    ]);
    let idle = idle_from("127.0.0.2", &s.addr, SOCKETS).await;
    let answer = healthz_from("127.0.0.1", &s.addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let open = || idle.iter().filter(|c| !closed(c)).count();
    assert!(eventually(|| open() <= SHARE).await, "{} idle connections from one address still open", open());
}

/// Issue 11, item 7: with the global cap full of idle connections from other addresses, a new
/// client is answered because the connections idle longest are closed to make room, while a
/// connection with a request in flight (an upload whose body the server is reading, older than
/// all the idle ones) is left alone and keeps serving.
#[tokio::test]
async fn idle_connections_make_room_and_requests_in_flight_keep_theirs() {
    let s = server_with_limits(&[
        ("MAX_CONNECTIONS", "20"),
        ("MAX_CONNECTIONS_PER_ADDRESS", "16"),
        ("HEADER_TIMEOUT_SECS", "120"),
        ("BODY_RATE_WINDOW_SECS", "300"),
    ]);
    let (host, auth) = (s.addr.clone(), s.basic());
    let mut upload = connect_from("127.0.0.1", &s.addr).await;
    let start = format!(
        "POST /v2/limits/upload/blobs/uploads/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Length: 0\r\n\r\n"
    );
    upload.write_all(start.as_bytes()).await.unwrap();
    let started = response(&mut upload).await;
    assert!(started.starts_with("HTTP/1.1 202"), "{started}");
    let location = started
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("location:").then(|| l[9..].trim().to_owned()))
        .unwrap();
    let patch = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 8\r\nExpect: 100-continue\r\n\r\n"
    );
    upload.write_all(patch.as_bytes()).await.unwrap();
    // 100 Continue comes when the handler starts reading the body: the request is in flight.
    let go_on = response(&mut upload).await;
    assert!(go_on.starts_with("HTTP/1.1 100"), "{go_on}");

    let mut idle = idle_from("127.0.0.2", &s.addr, 16).await;
    idle.extend(idle_from("127.0.0.3", &s.addr, 16).await);
    let answer = healthz_from("127.0.0.1", &s.addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(eventually(|| closed(&idle[0])).await, "the connection idle longest was not closed");

    upload.write_all(b"12345678").await.unwrap();
    let appended = response(&mut upload).await;
    assert!(appended.starts_with("HTTP/1.1 202"), "{appended}");
    assert!(!appended.to_ascii_lowercase().contains("connection: close"), "{appended}");
    upload.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes()).await.unwrap();
    let again = response(&mut upload).await;
    assert!(again.starts_with("HTTP/1.1 200"), "the upload's connection serves on: {again}");
}

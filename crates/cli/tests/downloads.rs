//! Issue 12: blob downloads over plain HTTP are sent with `sendfile(2)`, so they hold no
//! buffer in the server, and keep every HTTP detail: keep-alive and pipelining, `Range`
//! (206), HEAD, `Content-Length`, digest headers and the response-bytes metric.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::image::{Blob, random_bytes};
use berth_testkit::oci::push_blob;
use common::started;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const REPO: &str = "downloads/app";
const PATIENCE: Duration = Duration::from_secs(30);

/// One response read off a connection: status line and headers (lowercased names), body.
struct Response {
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads HTTP/1.1 responses one after another from one connection; bytes past a response
/// stay for the next one (pipelining).
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    async fn fill(&mut self) {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = timeout(PATIENCE, self.stream.read(&mut chunk)).await.expect("no bytes in time").unwrap();
        assert!(n > 0, "connection closed mid-response");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// The next response; `head_request` when it answers a HEAD (no body follows).
    async fn next(&mut self, head_request: bool) -> Response {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.buf.drain(..end).collect()).unwrap();
        let mut r = Response { head, body: Vec::new() };
        let len = if head_request { 0 } else { r.header("content-length").map_or(0, |v| v.parse().unwrap()) };
        while self.buf.len() < len {
            self.fill().await;
        }
        r.body = self.buf.drain(..len).collect();
        r
    }
}

fn get(s: &TestServer, path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n{extra}\r\n", s.addr, s.basic())
}

/// Full GETs, a `Range`, a HEAD, an empty blob and a manifest miss, pipelined on one
/// keep-alive connection: every answer has exactly its own bytes, in order, with its headers.
#[tokio::test]
async fn pipelined_blob_gets_on_one_connection_each_get_their_bytes() {
    let (s, c) = started();
    // 2.5 MiB: more than one 1 MiB stand-in frame, and a partial last one.
    let big = Blob::new(Algorithm::Sha256, "application/octet-stream", random_bytes(12, 2_621_440 + 17));
    let small = Blob::new(Algorithm::Sha256, "application/octet-stream", random_bytes(13, 1000));
    let empty = Blob::new(Algorithm::Sha256, "application/octet-stream", Vec::new());
    for b in [&big, &small, &empty] {
        push_blob(&c, &s.base, REPO, b).await;
    }
    let url = |b: &Blob| format!("/v2/{REPO}/blobs/{}", b.digest);
    let requests = [
        get(&s, &url(&big), ""),
        get(&s, &url(&small), ""),
        get(&s, &url(&big), "Range: bytes=1048570-2097160\r\n"),
        get(&s, &url(&empty), ""),
        format!("HEAD {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\r\n", url(&big), s.addr, s.basic()),
        get(&s, &format!("/v2/{REPO}/manifests/missing"), ""),
        get(&s, &url(&big), "Range: bytes=2621450-\r\n"),
    ];
    let mut reader = Reader { stream: TcpStream::connect(&s.addr).await.unwrap(), buf: Vec::new() };
    reader.stream.write_all(requests.concat().as_bytes()).await.unwrap();

    let r = reader.next(false).await;
    assert!(r.head.starts_with("HTTP/1.1 200"), "{}", r.head);
    assert_eq!(r.header("content-length"), Some(big.bytes.len().to_string().as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(big.digest.to_string().as_str()));
    assert!(r.body == big.bytes, "the whole blob, byte for byte");
    let r = reader.next(false).await;
    assert!(r.head.starts_with("HTTP/1.1 200"), "{}", r.head);
    assert_eq!(r.body, small.bytes);
    let r = reader.next(false).await;
    assert!(r.head.starts_with("HTTP/1.1 206"), "{}", r.head);
    assert_eq!(r.header("content-range"), Some(format!("bytes 1048570-2097160/{}", big.bytes.len()).as_str()));
    assert!(r.body == big.bytes[1_048_570..=2_097_160], "the range, byte for byte");
    let r = reader.next(false).await;
    assert!(r.head.starts_with("HTTP/1.1 200"), "{}", r.head);
    assert_eq!(r.header("content-length"), Some("0"));
    let r = reader.next(true).await;
    assert!(r.head.starts_with("HTTP/1.1 200"), "{}", r.head);
    assert_eq!(r.header("content-length"), Some(big.bytes.len().to_string().as_str()));
    let r = reader.next(false).await;
    assert!(r.head.starts_with("HTTP/1.1 404"), "{}", r.head);
    let r = reader.next(false).await;
    assert!(r.head.starts_with("HTTP/1.1 206"), "{}", r.head);
    assert_eq!(r.body, big.bytes[2_621_450..]);

    let metrics = c.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    let sent: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("berth_http_response_body_bytes_total "))
        .expect("response bytes metric")
        .parse()
        .unwrap();
    let blob_bytes = 2 * big.bytes.len() + small.bytes.len() + (2_097_160 - 1_048_570 + 1) + 7;
    assert!(sent >= blob_bytes as f64, "the metric counts the bytes sent by sendfile: {sent} < {blob_bytes}");
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Downloads whose clients stop reading hold no buffer in the server: 24 of them, each
/// stalled with megabytes still to send, raise its resident memory by less than 8 MiB.
/// (Streamed through 512 KiB reads, each held two buffers and hyper's queue: 24+ MiB.)
#[tokio::test]
async fn stalled_plain_http_downloads_hold_no_buffers() {
    if std::env::var("BERTH_TEST_STORAGE").is_ok_and(|v| v == "s3") {
        return; // Only files are sent with sendfile; S3 blobs are streamed.
    }
    let (s, c) = started();
    let blob = Blob::new(Algorithm::Sha256, "application/octet-stream", random_bytes(14, 48 << 20));
    push_blob(&c, &s.base, REPO, &blob).await;
    let pid = s.pid().expect("server runs");
    let request = get(&s, &format!("/v2/{REPO}/blobs/{}", blob.digest), "");
    // One download first, so the server's one-time costs (connection, stand-in block,
    // allocator pools) are paid before the baseline.
    let mut warm = Reader { stream: TcpStream::connect(&s.addr).await.unwrap(), buf: Vec::new() };
    warm.stream.write_all(request.as_bytes()).await.unwrap();
    assert!(warm.next(false).await.body == blob.bytes);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let mut stalled = Vec::new();
    for _ in 0..24 {
        let mut stream = TcpStream::connect(&s.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut first = [0u8; 4096];
        let n = timeout(PATIENCE, stream.read(&mut first)).await.unwrap().unwrap();
        assert!(first[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first[..n]));
        stalled.push(stream);
    }
    // Let every sender fill its socket buffers and stop.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(grown < 8 * 1024, "24 stalled downloads grew the server by {grown} KiB");
    drop(stalled);
}

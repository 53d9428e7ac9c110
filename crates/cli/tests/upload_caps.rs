//! Open upload sessions are capped per principal and per repository (`limits.
//! max_uploads_per_principal`, `limits.max_uploads_per_repository`): one more is refused with
//! 429 TOOMANYREQUESTS until an upload is finished, cancelled or expired. A monolithic upload
//! holds a slot only while its request lasts, however that request ends.

use berth_core::Algorithm;
use berth_testkit::image::Blob;
use berth_testkit::oci::absolute;
use berth_testkit::{TestServer, basic, http_client};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A server with the caps (and any other limits) set through the environment.
fn capped(env: &[(&str, &str)]) -> TestServer {
    TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &[], "info", env)
}

fn as_user(user: &str, password: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, basic(user, password).parse().unwrap());
    http_client().default_headers(headers).build().unwrap()
}

/// A refused request: status, OCI code, detail, and whether it said when to retry.
#[derive(Debug)]
struct Refused {
    status: u16,
    code: String,
    detail: String,
    retry_after: bool,
}

/// Opens an upload session in `repo` as `c`: its absolute location, or the refusal.
async fn open(s: &TestServer, c: &Client, repo: &str) -> Result<String, Refused> {
    let r = c.post(format!("{}/v2/{repo}/blobs/uploads/", s.base)).send().await.unwrap();
    if r.status() == StatusCode::ACCEPTED {
        return Ok(absolute(&s.base, r.headers()["location"].to_str().unwrap()));
    }
    let (status, retry_after) = (r.status().as_u16(), r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap_or_default();
    let text = |k: &str| v["errors"][0][k].as_str().unwrap_or_default().to_owned();
    Err(Refused { status, code: text("code"), detail: text("detail"), retry_after })
}

/// Asserts `outcome` is the 429 of the cap configured as `key`.
fn assert_capped(outcome: Result<String, Refused>, key: &str) {
    let e = outcome.expect_err("one more than the cap");
    assert_eq!((e.status, e.code.as_str()), (429, "TOOMANYREQUESTS"), "{e:?}");
    assert!(e.detail.contains(key) && e.detail.contains("finishing or cancelling"), "{e:?}");
    assert!(e.retry_after, "a 429 says when to retry");
}

/// Opens a session as soon as a slot is free, within 10 s (a slot may be freed by a task or
/// by expiry, a moment after the request that frees it).
async fn open_when_free(s: &TestServer, c: &Client, repo: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open(s, c, repo).await {
            Ok(location) => return location,
            Err(e) if e.status == 429 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no slot came free: {e:?}"),
        }
    }
}

fn blob(seed: u8) -> Blob {
    Blob::new(Algorithm::Sha256, "application/octet-stream", vec![seed; 1000])
}

/// Stores `blob` in `repo` with one POST; the status.
async fn monolithic(s: &TestServer, c: &Client, repo: &str, blob: &Blob) -> StatusCode {
    let url = format!("{}/v2/{repo}/blobs/uploads/?digest={}", s.base, blob.digest);
    c.post(url)
        .header("content-type", "application/octet-stream")
        .body(blob.bytes.clone())
        .send()
        .await
        .unwrap()
        .status()
}

/// A monolithic POST that announces all of `blob` but sends half, then hangs up.
async fn monolithic_cut_short(s: &TestServer, user: &str, password: &str, repo: &str, blob: &Blob) {
    let head = format!(
        "POST /v2/{repo}/blobs/uploads/?digest={} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        blob.digest,
        s.addr,
        basic(user, password),
        blob.bytes.len()
    );
    let (addr, half) = (s.addr.clone(), blob.bytes[..blob.bytes.len() / 2].to_vec());
    tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&half).unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = conn.read_to_end(&mut Vec::new());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_uploads_are_capped_per_principal() {
    let s = capped(&[("BERTH__LIMITS__MAX_UPLOADS_PER_PRINCIPAL", "5")]);
    let owner = s.client();
    let (a_id, a_pw) = s.create_sp(&owner, "pusher-a", Some(("AcrPush", "/"))).await;
    let (b_id, b_pw) = s.create_sp(&owner, "pusher-b", Some(("AcrPush", "/"))).await;
    let (a, b) = (as_user(&a_id, &a_pw), as_user(&b_id, &b_pw));

    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(open(&s, &a, "caps/one").await.expect("under the cap"));
    }
    assert_capped(open(&s, &a, "caps/one").await, "max_uploads_per_principal");
    assert_capped(open(&s, &a, "caps/two").await, "max_uploads_per_principal");
    let r = monolithic(&s, &a, "caps/one", &blob(1)).await;
    assert_eq!(r, StatusCode::TOO_MANY_REQUESTS, "a monolithic upload needs a slot while it runs");
    // Another principal is not held back, in another repository or in the same.
    open(&s, &b, "caps/two").await.expect("another principal, another repository");
    open(&s, &b, "caps/one").await.expect("another principal, the same repository");

    // Cancelling one frees its slot; so does finishing one.
    let r = a.delete(held.pop().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    held.push(open(&s, &a, "caps/one").await.expect("a cancelled upload frees its slot"));
    assert_capped(open(&s, &a, "caps/one").await, "max_uploads_per_principal");
    let finished = blob(2);
    let location = held.pop().unwrap();
    let sep = if location.contains('?') { '&' } else { '?' };
    let r =
        a.put(format!("{location}{sep}digest={}", finished.digest)).body(finished.bytes.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // With four held, monolithic uploads come and go without keeping a slot, whether they
    // complete or their client hangs up halfway.
    for seed in 3..6 {
        assert_eq!(monolithic(&s, &a, "caps/one", &blob(seed)).await, StatusCode::CREATED);
    }
    monolithic_cut_short(&s, &a_id, &a_pw, "caps/one", &blob(6)).await;
    let r = a.head(format!("{}/v2/caps/one/blobs/{}", s.base, blob(6).digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "half a blob is not stored");
    held.push(open_when_free(&s, &a, "caps/one").await);
    assert_capped(open(&s, &a, "caps/one").await, "max_uploads_per_principal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_uploads_are_capped_per_repository() {
    let s = capped(&[("BERTH__LIMITS__MAX_UPLOADS_PER_REPOSITORY", "4")]);
    let owner = s.client();
    let (a_id, a_pw) = s.create_sp(&owner, "pusher-a", Some(("AcrPush", "/"))).await;
    let (b_id, b_pw) = s.create_sp(&owner, "pusher-b", Some(("AcrPush", "/"))).await;
    let (a, b) = (as_user(&a_id, &a_pw), as_user(&b_id, &b_pw));

    for _ in 0..3 {
        open(&s, &a, "caps/one").await.expect("under the cap");
    }
    let bs = open(&s, &b, "caps/one").await.expect("under the cap");
    assert_capped(open(&s, &a, "caps/one").await, "max_uploads_per_repository");
    assert_capped(open(&s, &b, "caps/one").await, "max_uploads_per_repository");
    open(&s, &a, "caps/two").await.expect("another repository");
    let r = b.delete(bs).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    open(&s, &a, "caps/one").await.expect("a cancelled upload frees the repository's slot");
    assert_capped(open(&s, &b, "caps/one").await, "max_uploads_per_repository");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_uploads_free_their_slots() {
    let s = capped(&[("BERTH__LIMITS__MAX_UPLOADS_PER_PRINCIPAL", "2"), ("BERTH__LIMITS__UPLOAD_EXPIRY_SECS", "2")]);
    let owner = s.client();
    let (id, pw) = s.create_sp(&owner, "pusher", Some(("AcrPush", "/"))).await;
    let c = as_user(&id, &pw);
    for _ in 0..2 {
        open(&s, &c, "caps/one").await.expect("under the cap");
    }
    assert_capped(open(&s, &c, "caps/one").await, "max_uploads_per_principal");
    open_when_free(&s, &c, "caps/one").await;
}

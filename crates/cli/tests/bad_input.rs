//! Bad input: every refusal has the exact status and OCI error code, and loses nothing.
//! Requests that an HTTP library would normalise (`..`, `//`, lying lengths) go over raw TCP.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::image::{Blob, Image, random_bytes};
use berth_testkit::oci::{absolute, error_code, push_blob, push_image, put_manifest};
use common::{raw, raw_get, server, started};
use reqwest::StatusCode;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

const REPO: &str = "bad/input";

/// The `code` of the first error in a raw response.
fn raw_code(response: &str) -> String {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not OCI JSON: {response}"));
    v["errors"][0]["code"].as_str().unwrap_or_default().to_owned()
}

fn assert_raw(s: &TestServer, path: &str, status: u16, code: &str) {
    let (got, text) = raw_get(s, path);
    assert_eq!((got, raw_code(&text)), (status, code.to_owned()), "GET {path}: {text}");
}

#[test]
fn invalid_repository_names_are_name_invalid() {
    let s = server(&[]);
    let long = "a".repeat(256);
    for name in ["Upper", "a/../b", "a//b", long.as_str(), "a%2Fb", "a/./b", "-a", "a_", ".."] {
        assert_raw(&s, &format!("/v2/{name}/tags/list"), 400, "NAME_INVALID");
        assert_raw(&s, &format!("/v2/{name}/manifests/latest"), 400, "NAME_INVALID");
    }
    let (status, _) = raw_get(&s, &format!("/v2/{}/tags/list", "a".repeat(255)));
    assert_eq!(status, 404, "255 characters is a valid (unknown) name");
}

#[test]
fn invalid_digests_and_unknown_algorithms_are_digest_invalid() {
    let s = server(&[]);
    for d in ["sha256:xyz", "sha256:ABCDEF", "sha256", "sha256:", "md5:d41d8cd98f00b204e9800998ecf8427e", "SHA256:00"] {
        assert_raw(&s, &format!("/v2/{REPO}/blobs/{d}"), 400, "DIGEST_INVALID");
        assert_raw(&s, &format!("/v2/{REPO}/referrers/{d}"), 400, "DIGEST_INVALID");
    }
    assert_raw(&s, &format!("/v2/{REPO}/manifests/sha256:nothex"), 400, "DIGEST_INVALID");
}

#[test]
fn path_traversal_in_any_segment_is_refused() {
    let s = server(&[]);
    let cases = [
        ("/v2/../../etc/passwd", 404, "NAME_UNKNOWN"),
        ("/v2/a/../../../etc/passwd/tags/list", 400, "NAME_INVALID"),
        ("/v2/a/blobs/uploads/../../../../etc/passwd", 404, "NAME_UNKNOWN"),
        ("/v2/a/blobs/uploads/..%2F..%2Fetc", 404, "BLOB_UPLOAD_UNKNOWN"),
        ("/v2/a/manifests/..%2F..%2Fetc%2Fpasswd", 404, "MANIFEST_UNKNOWN"),
        ("/v2/a/manifests/..", 404, "MANIFEST_UNKNOWN"),
        ("/v2/a/blobs/sha256:..%2F..%2Fetc", 400, "DIGEST_INVALID"),
        ("/v2/%2E%2E/tags/list", 400, "NAME_INVALID"),
    ];
    for (path, status, code) in cases {
        assert_raw(&s, path, status, code);
    }
}

/// The released conformance suite (v1.1.0, v1.1.1) reads `.INVALID_MANIFEST_NAME` and wants
/// 404: a reference that is neither a tag nor a digest names nothing. Pushing to one is 400.
#[tokio::test]
async fn invalid_manifest_references_are_unknown_to_reads_and_invalid_to_pushes() {
    let (s, c) = started();
    let url = format!("{}/v2/{REPO}/manifests/.INVALID_MANIFEST_NAME", s.base);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    assert_eq!(c.head(&url).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let img = Image::oci(Algorithm::Sha256, 81, &[64], "amd64");
    let r = c
        .put(&url)
        .header("content-type", berth_core::media::OCI_MANIFEST)
        .body(img.manifest.bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
}

#[tokio::test]
async fn wrong_digest_on_put_stores_nothing() {
    let (s, c) = started();
    let content = random_bytes(1, 4000);
    let claimed = Blob::new(Algorithm::Sha256, "x", random_bytes(2, 4000)).digest;
    let actual = Blob::new(Algorithm::Sha256, "x", content.clone()).digest;
    let r = c.post(format!("{}/v2/{REPO}/blobs/uploads/", s.base)).send().await.unwrap();
    let loc = absolute(&s.base, r.headers()["location"].to_str().unwrap());
    let r = c.put(format!("{loc}?digest={claimed}")).body(content.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for d in [&claimed, &actual] {
        let r = c.head(format!("{}/v2/{REPO}/blobs/{d}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{d} must not be stored");
    }
    assert_eq!(c.get(&loc).send().await.unwrap().status(), StatusCode::NOT_FOUND, "the upload is discarded");
    let r = c.post(format!("{}/v2/{REPO}/blobs/uploads/?digest={claimed}", s.base)).body(content).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = c.put(format!("{loc}?digest=sha256:zz")).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    assert!(s.berth(&["fsck"]).status.success());
}

/// Sends headers announcing `announced` body bytes, then only `sent`, then half-closes.
fn lying_request(addr: &str, head: &str, announced: usize, sent: usize) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(tcp, "{head}Host: {addr}\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n").unwrap();
    tcp.write_all(&vec![b'x'; sent]).unwrap();
    tcp.shutdown(Shutdown::Write).unwrap();
    let mut out = String::new();
    let _ = tcp.read_to_string(&mut out);
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

#[tokio::test]
async fn a_content_length_that_lies_is_refused_and_keeps_nothing() {
    let (s, c) = started();
    let auth = s.basic();
    let r = c.post(format!("{}/v2/{REPO}/blobs/uploads/", s.base)).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let (status, text) = lying_request(&s.addr, &format!("PATCH {loc} HTTP/1.1\r\nAuthorization: {auth}\r\n"), 100, 50);
    assert_eq!((status, raw_code(&text)), (400, "BLOB_UPLOAD_INVALID".to_owned()), "{text}");
    let r = c.get(absolute(&s.base, &loc)).send().await.unwrap();
    assert_eq!(r.headers()["range"], "0-0", "the short body left nothing behind");

    let (status, text) = raw(
        &s.addr,
        format!("PATCH {loc} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Range: 0-99\r\nContent-Length: 10\r\n\r\n0123456789")
            .as_bytes(),
    );
    assert_eq!((status, raw_code(&text)), (400, "SIZE_INVALID".to_owned()), "{text}");

    let digest = Blob::new(Algorithm::Sha256, "x", vec![b'x'; 100]).digest;
    let head = format!("POST /v2/{REPO}/blobs/uploads/?digest={digest} HTTP/1.1\r\nAuthorization: {auth}\r\n");
    let (status, text) = lying_request(&s.addr, &head, 100, 60);
    assert_eq!((status, raw_code(&text)), (400, "BLOB_UPLOAD_INVALID".to_owned()), "{text}");
    let r = c.head(format!("{}/v2/{REPO}/blobs/{digest}", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn manifest_refusals() {
    let (s, c) = started();
    let img = Image::oci(Algorithm::Sha256, 3, &[100], "amd64");
    let put = |reference: String, content_type: &'static str, body: Vec<u8>| {
        let (c, base) = (c.clone(), s.base.clone());
        async move {
            let r = c
                .put(format!("{base}/v2/{REPO}/manifests/{reference}"))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, error_code(r).await)
        }
    };
    let oci = berth_core::media::OCI_MANIFEST;
    let too_big = vec![b' '; 4 * 1024 * 1024 + 1];
    assert_eq!(put("v1".into(), oci, too_big).await, (413, "PAYLOAD_TOO_LARGE".into()));
    assert_eq!(put("v1".into(), oci, b"{\"schemaVersion\":2,".to_vec()).await, (400, "MANIFEST_INVALID".into()));
    let body = img.manifest.bytes.clone();
    assert_eq!(put("v1".into(), berth_core::media::OCI_INDEX, body.clone()).await, (400, "MANIFEST_INVALID".into()));
    assert_eq!(put("v1".into(), oci, body.clone()).await, (400, "MANIFEST_BLOB_UNKNOWN".into()));
    for b in img.blobs() {
        push_blob(&c, &s.base, REPO, b).await;
    }
    assert_eq!(put("t".repeat(129), oci, body.clone()).await, (400, "MANIFEST_INVALID".into()));
    let wrong = Blob::new(Algorithm::Sha256, "x", b"other".to_vec()).digest;
    assert_eq!(put(wrong.to_string(), oci, body.clone()).await, (400, "DIGEST_INVALID".into()));
    let r = put_manifest(&c, &s.base, REPO, &"t".repeat(128), &img.manifest).await;
    assert_eq!(r.status(), StatusCode::CREATED, "128 characters is a valid tag");
    let r = c.get(format!("{}/v2/{REPO}/tags/list", s.base)).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["tags"], serde_json::json!(["t".repeat(128)]));
}

#[tokio::test]
async fn refused_methods_are_unsupported() {
    let (s, c) = started();
    push_image(&c, &s.base, REPO, &Image::oci(Algorithm::Sha256, 4, &[10], "amd64"), "v1").await;
    let r = c.post(format!("{}/v2/{REPO}/manifests/v1", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
}

/// Query parameters are validated when the endpoint is parsed, but answered only to a caller
/// authorised for the endpoint: an anonymous caller learns nothing but 401, the Owner gets the
/// exact error. A mount from a repository that cannot exist is never authorised.
#[tokio::test]
async fn invalid_query_parameters_are_answered_after_authorisation() {
    let (s, owner) = started();
    let (anon, b) = (common::anonymous(), s.base.clone());
    let upload = owner.post(format!("{b}/v2/{REPO}/blobs/uploads/")).send().await.unwrap();
    let location = absolute(&b, upload.headers()["location"].to_str().unwrap());
    let sep = if location.contains('?') { '&' } else { '?' };
    let cases = [
        (reqwest::Method::POST, format!("{b}/v2/{REPO}/blobs/uploads/?mount=sha256:xyz"), 400, "DIGEST_INVALID"),
        (reqwest::Method::POST, format!("{b}/v2/{REPO}/blobs/uploads/?digest=md5:00"), 400, "DIGEST_INVALID"),
        (reqwest::Method::POST, format!("{b}/v2/{REPO}/blobs/uploads/?digest-algorithm=md5"), 400, "DIGEST_INVALID"),
        (reqwest::Method::PUT, format!("{location}{sep}digest=nope"), 400, "DIGEST_INVALID"),
        (reqwest::Method::PUT, format!("{b}/v2/{REPO}/manifests/v1?tag=v2"), 400, "MANIFEST_INVALID"),
        (reqwest::Method::GET, format!("{b}/v2/{REPO}/tags/list?n=-1"), 400, "PAGINATION_NUMBER_INVALID"),
        (reqwest::Method::GET, format!("{b}/v2/_catalog?n=x"), 400, "PAGINATION_NUMBER_INVALID"),
        (reqwest::Method::POST, format!("{b}/v2/{REPO}/tags/list"), 405, "UNSUPPORTED"),
        (
            reqwest::Method::POST,
            format!("{b}/v2/{REPO}/blobs/uploads/?mount=sha256:xyz&from=No/Such"),
            401,
            "UNAUTHORIZED",
        ),
    ];
    for (method, url, status, code) in cases {
        let r = anon.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "anonymous {method} {url}");
        let r = owner.request(method.clone(), &url).send().await.unwrap();
        assert_eq!((r.status().as_u16(), error_code(r).await), (status, code.to_owned()), "Owner {method} {url}");
    }
}

#[test]
fn a_slow_client_does_not_hold_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.toml");
    std::fs::write(
        &config,
        "[limits]\nheader_timeout_secs = 2\nbody_rate_window_secs = 2\nbody_min_bytes_per_window = 1024\n",
    )
    .unwrap();
    let s = server(&["--config", config.to_str().unwrap()]);
    let auth = s.basic();

    // Headers one byte a second: the connection is closed after the header timeout.
    let started = Instant::now();
    let mut slow = TcpStream::connect(&s.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let closed = "GET /v2/ HTTP/1.1\r\nHost: x\r\n".bytes().any(|b| {
        if slow.write_all(&[b]).is_err() {
            return true;
        }
        let mut buf = [0u8; 256];
        slow.read(&mut buf).is_ok()
    });
    assert!(closed, "the server must give up on slow headers");
    assert!(started.elapsed() < Duration::from_secs(15));

    // A body one byte a second: the upload is cut off after one rate window.
    let (_, text) = raw(
        &s.addr,
        format!(
            "POST /v2/{REPO}/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    let loc = text.lines().find_map(|l| l.strip_prefix("location: "));
    let loc = loc.unwrap_or_else(|| panic!("POST of an upload answered {text:?}")).trim().to_owned();
    let mut tcp = TcpStream::connect(&s.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    write!(tcp, "PATCH {loc} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 1000\r\n\r\n").unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    while started.elapsed() < Duration::from_secs(15) {
        let _ = tcp.write_all(b"x");
        let mut buf = [0u8; 4096];
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
        if answer.contains("\r\n\r\n") {
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 400"), "slow body answered with: {answer:?}");
    assert_eq!(raw_code(&answer), "BLOB_UPLOAD_INVALID");
    // The server still serves others.
    assert_eq!(raw_get(&s, "/v2/").0, 200);
}

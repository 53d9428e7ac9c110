//! Operating the server: graceful shutdown, TLS, health and readiness, metrics, fsck and
//! configuration checks.

mod common;

use berth_core::Algorithm;
use berth_testkit::image::{Image, random_bytes};
use berth_testkit::oci::{absolute, patch_chunk, push_image};
use common::{server, started};
use reqwest::StatusCode;
use std::process::Command;
use std::time::Duration;

fn berth(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth")).args(args).envs(env.iter().copied()).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits() {
    let (mut s, c) = started();
    let r = c.post(format!("{}/v2/slow/upload/blobs/uploads/", s.base)).send().await.unwrap();
    let loc = absolute(&s.base, r.headers()["location"].to_str().unwrap());
    // A body that takes about a second to arrive.
    let body = trickle((0..10).map(|i| random_bytes(i, 64 * 1024)).collect(), Duration::from_millis(100));
    let patch = tokio::spawn({
        let c = c.clone();
        async move { c.patch(&loc).body(reqwest::Body::wrap_stream(body)).send().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.signal("TERM");
    let r = patch.await.unwrap().expect("the in-flight request completes");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], format!("0-{}", 10 * 64 * 1024 - 1));
    let status = tokio::task::spawn_blocking(move || s.wait(Duration::from_secs(20))).await.unwrap();
    assert!(status.is_some_and(|s| s.success()), "berth exits cleanly after SIGTERM: {status:?}");
}

/// A request body that yields `items` with `gap` before each.
fn trickle(items: Vec<Vec<u8>>, gap: Duration) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::unfold(items.into_iter(), move |mut items| async move {
        let item = items.next()?;
        tokio::time::sleep(gap).await;
        Some((Ok(item), items))
    })
}

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl (scripts/install-test-deps)")
}

#[test]
fn self_signed_tls_keeps_its_ca_and_files_mode_serves_a_given_certificate() {
    let mut s = server(&["--tls", "self-signed", "--hostname", "localhost"]);
    assert!(s.base.starts_with("https://"), "{}", s.base);
    let banner = s.banner.join("\n");
    let ca = s.data_dir().join("data/tls/ca.pem");
    assert!(banner.contains(&ca.display().to_string()), "the CA path is printed: {banner}");
    assert!(
        banner.contains("hosts.toml")
            && banner.contains(&format!("[host.\"https://localhost:{}\"]", s.addr.split(':').nth(1).unwrap()))
    );
    let port = s.addr.rsplit(':').next().unwrap().to_owned();
    let listening = s.banner.last().unwrap();
    assert_eq!(
        listening,
        &format!("berth: listening on https://localhost:{port} (bound to 127.0.0.1:{port})"),
        "the printed URL is one the certificate covers"
    );
    let url = format!("https://localhost:{port}/v2/");
    let user = format!("{}:{}", s.owner.0, s.owner.1);
    let ok = curl(&["-u", &user, "--cacert", ca.to_str().unwrap(), "-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200", "{}", String::from_utf8_lossy(&ok.stderr));
    // Listening on loopback, the certificate also covers the loopback IP.
    let by_ip = format!("https://127.0.0.1:{port}/v2/");
    let ok = curl(&["-u", &user, "--cacert", ca.to_str().unwrap(), "-o", "/dev/null", "-w", "%{http_code}", &by_ip]);
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200", "{}", String::from_utf8_lossy(&ok.stderr));
    let untrusted = curl(&["-o", "/dev/null", &url]);
    assert!(!untrusted.status.success(), "without the CA the certificate is not trusted");

    let before = std::fs::read(&ca).unwrap();
    s.restart();
    assert_eq!(std::fs::read(&ca).unwrap(), before, "the CA is kept across restarts");
    let url = format!("https://localhost:{}/v2/", s.addr.rsplit(':').next().unwrap());
    let ok = curl(&["-u", &user, "--cacert", ca.to_str().unwrap(), "-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200");

    let tls = s.data_dir().join("data/tls");
    let (cert, key) = (tls.join("server.pem"), tls.join("server-key.pem"));
    let files = server(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let url = format!("https://localhost:{}/v2/", files.addr.rsplit(':').next().unwrap());
    let user = format!("{}:{}", files.owner.0, files.owner.1);
    let ok = curl(&["-u", &user, "--cacert", ca.to_str().unwrap(), "-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let (s, c) = started();
    assert_eq!(c.get(format!("{}/healthz", s.base)).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(c.get(format!("{}/readyz", s.base)).send().await.unwrap().status(), StatusCode::OK);
    let img = Image::oci(Algorithm::Sha256, 1, &[5000], "amd64");
    push_image(&c, &s.base, "ops/app", &img, "v1").await;
    assert_eq!(c.get(format!("{}/v2/ops/app/manifests/v1", s.base)).send().await.unwrap().status(), StatusCode::OK);

    let blobs = s.data_dir().join("data/blobs");
    let moved = s.data_dir().join("data/blobs-away");
    std::fs::rename(&blobs, &moved).unwrap();
    let r = c.get(format!("{}/readyz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "storage unreachable");
    assert_eq!(berth_testkit::oci::error_code(r).await, "UNAVAILABLE");
    std::fs::rename(&moved, &blobs).unwrap();
    assert_eq!(c.get(format!("{}/readyz", s.base)).send().await.unwrap().status(), StatusCode::OK, "recovers");

    let text = c.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    for needle in [
        r#"berth_http_requests_total{route="manifest",method="GET",status="200"} 1"#,
        r#"berth_http_requests_total{route="manifest",method="PUT",status="201"} 1"#,
        r#"berth_http_request_duration_seconds_bucket{le="#,
        r#"berth_upload_sessions_total{event="completed"} 2"#,
        "berth_http_request_body_bytes_total",
        "berth_http_response_body_bytes_total",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
}

#[tokio::test]
async fn fsck_reports_damage_and_never_repairs() {
    let (mut s, c) = started();
    let img = Image::oci(Algorithm::Sha256, 2, &[4000, 3000], "amd64");
    push_image(&c, &s.base, "ops/fsck", &img, "v1").await;
    s.kill();
    let clean = s.berth(&["fsck"]);
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stdout));

    let layer = &img.layers[0].digest;
    let path = s.data_dir().join("data/blobs/sha256").join(&layer.hex()[..2]).join(layer.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let gone = &img.layers[1].digest;
    std::fs::remove_file(s.data_dir().join("data/blobs/sha256").join(&gone.hex()[..2]).join(gone.hex())).unwrap();

    let out = s.berth(&["fsck"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("ERROR: blob {layer}: bytes hash to")), "{text}");
    assert!(text.contains(&format!("ERROR: blob {gone}: recorded but missing")), "{text}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "fsck never repairs");
}

#[test]
fn config_check_validates_files_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:5555\"\n[limits]\nmax_connections = 10\n").unwrap();
    let out = berth(&["config", "check", "--config", good.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let effective: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(effective["server"]["listen"], "127.0.0.1:5555");
    assert_eq!(effective["limits"]["max_connections"], 10);

    let out =
        berth(&["config", "check", "--config", good.to_str().unwrap()], &[("BERTH__SERVER__LISTEN", "127.0.0.1:6000")]);
    let effective: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(effective["server"]["listen"], "127.0.0.1:6000", "environment overrides the file");
    let out = berth(&["config", "check", "--listen", "127.0.0.1:7000"], &[("BERTH__SERVER__LISTEN", "127.0.0.1:6000")]);
    let effective: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(effective["server"]["listen"], "127.0.0.1:7000", "flags override the environment");

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[server]\nlisen = \"127.0.0.1:5555\"\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["config", "check", "--config", typo.to_str().unwrap()], "lisen"),
        (&["config", "check", "--listen", "nonsense"], "listen"),
        (&["config", "check", "--tls", "self-signed"], "--hostname"),
        (&["config", "check", "--config", "/nonexistent/berth.toml"], "does not exist"),
    ];
    for (args, mentions) in cases {
        let out = berth(args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(err.starts_with("berth: ") && err.contains(mentions), "{args:?}: {err}");
    }
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let s = server(&[]);
    let data = s.data_dir().join("data");
    let out = berth(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("another berth server is using"), "{err}");
}

/// Starts an upload in `repo`; its location.
async fn start_upload(c: &reqwest::Client, base: &str, repo: &str) -> String {
    let r = c.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    absolute(base, r.headers()["location"].to_str().unwrap())
}

/// An upload without a new chunk for `limits.upload_expiry_secs` is dropped with its bytes; one
/// that keeps receiving chunks is not, and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_uploads_expire_with_their_bytes() {
    let s = tokio::task::block_in_place(|| {
        berth_testkit::TestServer::start_with_env(
            std::path::Path::new(env!("CARGO_BIN_EXE_berth")),
            &[],
            "info",
            &[("BERTH__LIMITS__UPLOAD_EXPIRY_SECS", "3")],
        )
    });
    let (c, base) = (s.client(), s.base.as_str());
    let idle = start_upload(&c, base, "ops/up").await;
    let idle = patch_chunk(&c, base, &idle, 0, &random_bytes(1, 1000)).await;
    let id = idle.rsplit('/').next().unwrap().split('?').next().unwrap();
    let idle_dir = s.data_dir().join("data/uploads").join(id);
    assert!(idle_dir.exists(), "the upload's bytes are in {}", idle_dir.display());

    // The active upload gets a chunk every 250 ms for 6 s, twice the expiry.
    let data = random_bytes(2, 24 * 100);
    let mut active = start_upload(&c, base, "ops/up").await;
    for (i, chunk) in data.chunks(100).enumerate() {
        active = patch_chunk(&c, base, &active, i * 100, chunk).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let r = c.get(absolute(base, &idle)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "the idle upload is gone");
    assert_eq!(berth_testkit::oci::error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    assert!(!idle_dir.exists(), "its bytes are gone too");
    assert!(s.log().contains("dropped uploads idle for 3s"), "{}", s.log());

    let digest = berth_core::Digest::of(Algorithm::Sha256, &data);
    let sep = if active.contains('?') { '&' } else { '?' };
    let r = c.put(format!("{}{sep}digest={digest}", absolute(base, &active))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "the active upload completes");
    let r = c.get(format!("{base}/v2/ops/up/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), data);
}

#[tokio::test]
async fn the_log_is_plain_in_a_file_and_json_on_request() {
    // The test server's stderr goes to a file: no terminal, so no colour codes.
    let (s, c) = started();
    c.get(format!("{}/v2/", s.base)).send().await.unwrap();
    let text = s.log();
    assert!(text.contains("INFO") && text.contains("listening"), "{text}");
    assert!(!text.contains('\x1b'), "escape codes in a log file: {text:?}");

    let j = server(&["--log-format", "json"]);
    let lines: Vec<serde_json::Value> = j
        .log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object a line ({e}): {l:?}")))
        .collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l["level"].is_string() && l["fields"].is_object()), "{lines:?}");
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "listening" && l["fields"]["address"] == j.addr),
        "{lines:?}"
    );
    let bad = berth(&["config", "check", "--log-format", "xml"], &[]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("xml"));
}

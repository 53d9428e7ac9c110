//! PostgreSQL or Garage going away mid-run: requests get 503 with an OCI error body and
//! `/readyz` fails; once the backend is back the registry serves again without a restart, and
//! every push that got a 201 is still pullable.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::garage::Garage;
use berth_testkit::image::Image;
use berth_testkit::oci::push_image;
use berth_testkit::postgres::Postgres;
use reqwest::StatusCode;
use std::path::Path;
use std::time::{Duration, Instant};

async fn status(c: &reqwest::Client, url: &str) -> StatusCode {
    c.get(url).send().await.map(|r| r.status()).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// Waits (at most 60 s) until `url` answers `want`.
async fn until(c: &reqwest::Client, url: &str, want: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(c, url).await != want {
        assert!(Instant::now() < deadline, "{url} never answered {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every image pulls whole: manifest by tag, and each blob with its bytes.
async fn all_pull(c: &reqwest::Client, base: &str, images: &[(&str, &Image)]) {
    for (tag, img) in images {
        let m = c.get(format!("{base}/v2/team/app/manifests/{tag}")).send().await.unwrap();
        assert_eq!(m.status(), StatusCode::OK, "manifest {tag}");
        for b in img.blobs() {
            let got = c.get(format!("{base}/v2/team/app/blobs/{}", b.digest)).send().await.unwrap();
            assert!(got.bytes().await.unwrap() == b.bytes, "blob {} of {tag}", b.digest);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_of_postgres_and_garage_give_503_then_recover() {
    let mut pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("outage");
    let mut garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let mut env = garage.env();
    env.push(("BERTH__DATABASE__URL".into(), url.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = tokio::task::block_in_place(|| {
        TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &[], "info", &env)
    });
    let c = s.client();
    let ready = format!("{}/readyz", s.base);
    let (a, b, d) = (
        Image::oci(Algorithm::Sha256, 91, &[300_000], "amd64"),
        Image::oci(Algorithm::Sha256, 92, &[200_000], "amd64"),
        Image::oci(Algorithm::Sha256, 93, &[100_000], "amd64"),
    );
    push_image(&c, &s.base, "team/app", &a, "a").await;

    // PostgreSQL dies: 503 with an OCI error body, /readyz fails; back: served again.
    tokio::task::block_in_place(|| pg.kill());
    let r = c.get(format!("{}/v2/team/app/manifests/a", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAVAILABLE", "{body}");
    assert_eq!(status(&c, &ready).await, StatusCode::SERVICE_UNAVAILABLE);
    tokio::task::block_in_place(|| pg.restart());
    until(&c, &ready, StatusCode::OK).await;
    push_image(&c, &s.base, "team/app", &b, "b").await;
    all_pull(&c, &s.base, &[("a", &a), ("b", &b)]).await;

    // Garage dies: blob reads and uploads get 503, /readyz fails; back: served again.
    tokio::task::block_in_place(|| garage.kill());
    let blob = c.get(format!("{}/v2/team/app/blobs/{}", s.base, a.layers[0].digest)).send().await.unwrap();
    assert_eq!(blob.status(), StatusCode::SERVICE_UNAVAILABLE);
    let upload = c.post(format!("{}/v2/team/app/blobs/uploads/", s.base)).send().await.unwrap();
    assert_eq!(upload.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status(&c, &ready).await, StatusCode::SERVICE_UNAVAILABLE);
    tokio::task::block_in_place(|| garage.restart());
    until(&c, &ready, StatusCode::OK).await;
    push_image(&c, &s.base, "team/app", &d, "d").await;
    all_pull(&c, &s.base, &[("a", &a), ("b", &b), ("d", &d)]).await;
}

/// Damage is not an outage: a row that does not decode answers 500 `UNKNOWN` (which clients do
/// not retry) naming the request ID that its `X-Request-Id` header and the log line carry, and
/// `berth` shows that ID; every other response carries an ID too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_metadata_is_a_500_naming_its_request_id() {
    let mut s = tokio::task::block_in_place(|| common::server(&[]));
    let c = s.client();
    let img = Image::oci(Algorithm::Sha256, 94, &[1000], "amd64");
    push_image(&c, &s.base, "team/app", &img, "v1").await;
    let missing = c.get(format!("{}/v2/team/app/manifests/nope", s.base)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let other = missing.headers()["x-request-id"].to_str().unwrap().to_owned();

    // The restart drops the manifest cache, so the damaged row is read.
    tokio::task::block_in_place(|| {
        s.sql("UPDATE manifests SET subject = 'not-a-digest'");
        s.restart();
    });
    let r = c.get(format!("{}/v2/team/app/manifests/v1", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()) && id != other, "{id} after {other}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNKNOWN", "{body}");
    let detail = body["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains(&id) && !detail.contains("not-a-digest"), "the cause stays in the log: {detail}");
    let log = s.log();
    let line = log.lines().find(|l| l.contains(&id)).unwrap_or_else(|| panic!("no log line names {id}:\n{log}"));
    assert!(line.contains("internal error") && line.contains("not-a-digest"), "{line}");

    let tmp = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}", tmp.path().join("out").display());
    let out = tokio::task::block_in_place(|| common::berth_copy(&s, &[&format!("{}/team/app:v1", s.addr), &layout]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let named = err.split("request ID ").nth(1).map(|t| t.trim_end_matches(|c: char| !c.is_ascii_hexdigit()));
    let named = named.unwrap_or_else(|| panic!("berth names no request ID: {err}"));
    assert!(err.contains("500") && named != id, "{err}");
    assert!(s.log().lines().any(|l| l.contains(named) && l.contains("internal error")), "{named} is not in the log");

    // A credential that does not decode is damage too: its login is a 500, not a 503.
    tokio::task::block_in_place(|| {
        s.sql("UPDATE credentials SET secret_hash = x'00'");
        s.restart();
    });
    let r = c.get(format!("{}/v2/team/app/tags/list", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNKNOWN", "{body}");
    assert!(s.log().lines().any(|l| l.contains(&id) && l.contains("credential hash")), "{id} is not in the log");
}

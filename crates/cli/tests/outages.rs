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

//! What S3 storage changes on the wire: uploads advertise `OCI-Chunk-Min-Length` (S3's 5 MiB
//! part minimum), and with `storage.s3.redirect` whole-blob GETs answer 307 to a short-lived
//! presigned URL on the bucket, while HEAD and Range requests are answered by the registry.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::garage::Garage;
use berth_testkit::image::Image;
use berth_testkit::oci::push_image;
use reqwest::StatusCode;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_gets_redirect_to_presigned_urls() {
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let mut env = garage.env();
    env.push(("BERTH__STORAGE__S3__REDIRECT".into(), "true".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = tokio::task::block_in_place(|| {
        TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &[], "info", &env)
    });
    let c = s.client();
    let post = c.post(format!("{}/v2/team/app/blobs/uploads/", s.base)).send().await.unwrap();
    assert_eq!(post.headers()["oci-chunk-min-length"], "5242880");
    let img = Image::oci(Algorithm::Sha256, 121, &[100_000], "amd64");
    push_image(&c, &s.base, "team/app", &img, "v1").await;
    let layer = &img.layers[0];
    let url = format!("{}/v2/team/app/blobs/{}", s.base, layer.digest);

    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&garage.endpoint) && location.contains("X-Amz-Signature"), "{location}");
    // The presigned URL needs no registry credentials.
    let direct = berth_testkit::http_client().build().unwrap().get(&location).send().await.unwrap();
    assert_eq!(direct.status(), StatusCode::OK);
    assert!(direct.bytes().await.unwrap() == layer.bytes);

    assert_eq!(c.head(&url).send().await.unwrap().status(), StatusCode::OK, "HEAD is never redirected");
    let ranged = c.get(&url).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT, "Range is never redirected");
    assert!(ranged.bytes().await.unwrap() == layer.bytes[10..20]);

    // A real client follows the redirect: berth pull verifies every byte.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let pulled = tokio::task::block_in_place(|| {
        common::berth_copy(&s, &[&format!("{}/team/app:v1", s.addr), &format!("oci:{}:v1", out.display())])
    });
    assert_eq!(common::ok(&pulled), img.manifest.digest.to_string());
}

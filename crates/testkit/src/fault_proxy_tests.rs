//! The proxy in front of an open [`Distribution`]: a push passes through it, and every fault
//! does what it says, switched while it runs.

use super::*;
use crate::distribution::Distribution;
use crate::image::Image;
use crate::oci::push_image;
use berth_core::Algorithm;
use std::time::Duration;

fn client() -> reqwest::Client {
    crate::http_client().timeout(Duration::from_secs(5)).build().expect("client")
}

#[tokio::test]
async fn counts_requests_and_injects_each_fault() {
    let upstream = Distribution::start();
    let proxy = FaultProxy::start(&upstream.base);
    let c = client();
    let img = Image::oci(Algorithm::Sha256, 7, &[10_000], "amd64");
    push_image(&c, &proxy.base, "team/app", &img, "v1").await;
    let layer = &img.layers[0];
    let blob = format!("/v2/team/app/blobs/{}", layer.digest);
    let get = || c.get(format!("{}{blob}", proxy.base)).send();

    let whole = get().await.expect("pass").bytes().await.expect("body");
    assert_eq!(whole, layer.bytes, "passed through byte for byte");
    assert_eq!(proxy.count("GET", &blob), 1);
    assert!(proxy.count_prefix("/v2/team/app/blobs/uploads/") >= 2, "the push's POST and PUT");

    proxy.set(Fault::Status(429), Paths::Manifests);
    let limited = c.get(format!("{}/v2/team/app/manifests/v1", proxy.base)).send().await.expect("429");
    assert_eq!(limited.status(), 429);
    assert_eq!(get().await.expect("blobs still pass").status(), 200);

    proxy.set(Fault::Corrupt, Paths::Blobs);
    let corrupt = get().await.expect("corrupt").bytes().await.expect("a whole body");
    assert_eq!(corrupt.len(), layer.bytes.len());
    assert_ne!(corrupt, layer.bytes);

    proxy.set(Fault::Cut, Paths::Blobs);
    let cut = get().await.expect("headers arrive");
    assert_eq!(cut.content_length(), Some(layer.bytes.len() as u64), "the full length is announced");
    assert!(cut.bytes().await.is_err(), "the body ends with an error");

    proxy.set(Fault::Slow(40_000), Paths::Blobs);
    let started = std::time::Instant::now();
    let slow = get().await.expect("headers at once");
    assert_eq!(slow.bytes().await.expect("a whole body"), layer.bytes, "slowed, not changed");
    assert!(started.elapsed() >= Duration::from_millis(250), "4,000 bytes every 100 ms: {:?}", started.elapsed());

    proxy.set(Fault::Hang, Paths::All);
    let hung = c.get(format!("{}/v2/", proxy.base)).timeout(Duration::from_millis(500)).send().await;
    assert!(hung.is_err_and(|e| e.is_timeout()));

    proxy.pass();
    assert_eq!(get().await.expect("pass again").bytes().await.expect("body"), layer.bytes);
    assert_eq!(proxy.count("GET", &blob), 6, "every GET counted, faults included");
    assert_eq!(proxy.count("GET", "/v2/"), 1);
    assert_eq!(proxy.answered("GET", &blob, 200), 6, "the upstream answered every GET of the blob");
    assert_eq!(proxy.answered("GET", "/v2/team/app/manifests/v1", 429), 1, "the injected status counts");
    assert_eq!(proxy.answered_any(429), 1);
    assert_eq!(proxy.answered("GET", "/v2/", 200), 0, "a hung request has no answer");
}

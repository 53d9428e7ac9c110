//! The pull-through cache's upstream (`berth_client::upstream`) against real registries on
//! loopback: CNCF distribution behind htpasswd (Basic), a Berth with its token flow, the same
//! Berth behind the fault proxy in each of its modes, and distribution in proxy mode.

mod common;

use berth_client::upstream::{HttpConnector, UpstreamTimeouts};
use berth_core::cache::RegistryHost;
use berth_core::upstream::{Upstream, UpstreamBlob, UpstreamConnector, UpstreamError, UpstreamLogin};
use berth_core::{Algorithm, Digest, Reference, RepoName, media};
use berth_testkit::distribution::{Distribution, Remote};
use berth_testkit::fault_proxy::{Fault, FaultProxy, Paths};
use berth_testkit::image::Image;
use berth_testkit::oci::{push_image, put_manifest};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPO: &str = "team/app";
const MAX: usize = 4 << 20;

fn upstream(host: &str, credentials: Option<(&str, &str)>) -> Arc<dyn Upstream> {
    let http = berth_testkit::http_client().redirect(reqwest::redirect::Policy::limited(5)).build().unwrap();
    let timeouts = UpstreamTimeouts { request: Duration::from_secs(2), idle: Duration::from_secs(1) };
    HttpConnector::new(http, timeouts).connect(&UpstreamLogin {
        registry: RegistryHost::parse(host).unwrap(),
        credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
    })
}

fn repo() -> RepoName {
    RepoName::parse(REPO).unwrap()
}

fn tag(t: &str) -> Reference {
    Reference::parse(t).unwrap()
}

fn image(seed: u64) -> Image {
    Image::oci(Algorithm::Sha256, seed, &[60_000, 3_000], "amd64")
}

async fn read(blob: UpstreamBlob) -> std::io::Result<Vec<u8>> {
    let mut body = blob.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Everything of `img` (tagged `v1`) arrives from `up` byte for byte, and what it lacks is
/// `NotFound`.
async fn serves(up: &dyn Upstream, img: &Image) {
    let head = up.head_manifest(&repo(), &tag("v1")).await.expect("HEAD");
    assert_eq!(
        (&head.digest, head.media_type.as_str(), head.size),
        (&img.manifest.digest, media::OCI_MANIFEST, img.manifest.bytes.len() as u64)
    );
    for reference in [tag("v1"), Reference::Digest(img.manifest.digest.clone())] {
        let m = up.manifest(&repo(), &reference, MAX).await.expect("GET manifest");
        assert_eq!((&m.digest, m.media_type.as_str()), (&img.manifest.digest, media::OCI_MANIFEST));
        assert_eq!(m.bytes, img.manifest.bytes);
    }
    for b in img.blobs().into_iter().filter(|b| b.digest != img.manifest.digest) {
        let blob = up.blob(&repo(), &b.digest).await.expect("GET blob");
        assert_eq!(blob.size, Some(b.bytes.len() as u64));
        assert_eq!(read(blob).await.expect("the whole body"), b.bytes, "{}", b.digest);
    }
    assert_eq!(up.manifest(&repo(), &tag("v9"), MAX).await, Err(UpstreamError::NotFound));
    let absent = Digest::of(Algorithm::Sha256, b"absent");
    assert_eq!(up.blob(&repo(), &absent).await.err(), Some(UpstreamError::NotFound));
}

#[tokio::test]
async fn distribution_with_htpasswd() {
    let d = Distribution::with_htpasswd("dist", "dist-secret");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, berth_testkit::basic("dist", "dist-secret").parse().unwrap());
    let c = berth_testkit::http_client().default_headers(headers).build().unwrap();
    let img = image(1);
    push_image(&c, &d.base, REPO, &img, "v1").await;
    assert_eq!(put_manifest(&c, &d.base, REPO, "v1", &img.manifest).await.status(), 201, "distribution ignores ?tag=");

    serves(&*upstream(&d.addr, Some(("dist", "dist-secret"))), &img).await;
    let refused = UpstreamError::Status { status: 401, detail: " (it refused the credentials)".into() };
    let wrong = upstream(&d.addr, Some(("dist", "wrong"))).manifest(&repo(), &tag("v1"), MAX).await;
    assert_eq!(wrong, Err(refused));
    let anonymous = upstream(&d.addr, None).head_manifest(&repo(), &tag("v1")).await;
    assert!(matches!(anonymous, Err(UpstreamError::Status { status: 401, .. })), "{anonymous:?}");
}

#[tokio::test]
async fn berth_with_its_token_flow_through_every_fault() {
    let s = common::server(&[]);
    let img = image(2);
    push_image(&s.client(), &s.base, REPO, &img, "v1").await;
    let proxy = FaultProxy::start(&s.base);
    let owner = (s.owner.0.as_str(), s.owner.1.as_str());
    let up = upstream(&proxy.addr, Some(owner));
    serves(&*up, &img).await;

    // The token is kept: a second GET of the manifest is one request, not a 401 and a retry.
    let path = format!("/v2/{REPO}/manifests/v1");
    let before = proxy.count("GET", &path);
    up.manifest(&repo(), &tag("v1"), MAX).await.expect("again");
    assert_eq!(proxy.count("GET", &path), before + 1);

    let layer = &img.layers[0];
    for status in [429, 503] {
        proxy.set(Fault::Status(status), Paths::Manifests);
        let e = up.manifest(&repo(), &tag("v1"), MAX).await.expect_err("refused");
        assert!(matches!(&e, UpstreamError::Status { status: s, .. } if *s == status) && e.is_outage(), "{e:?}");
        let e = up.head_manifest(&repo(), &tag("v1")).await.expect_err("refused");
        assert!(matches!(e, UpstreamError::Status { status: s, .. } if s == status), "{e:?}");
        assert!(up.blob(&repo(), &layer.digest).await.is_ok(), "blobs pass while manifests fail");
    }
    proxy.set(Fault::Status(503), Paths::Blobs);
    let e = up.blob(&repo(), &layer.digest).await.err();
    assert!(matches!(e, Some(UpstreamError::Status { status: 503, .. })), "{e:?}");

    proxy.set(Fault::Hang, Paths::All);
    let started = Instant::now();
    let e = up.manifest(&repo(), &tag("v1"), MAX).await.expect_err("hung");
    assert!(matches!(e, UpstreamError::Unreachable(_)) && e.is_outage(), "{e:?}");
    let e = up.blob(&repo(), &layer.digest).await.err();
    assert!(matches!(e, Some(UpstreamError::Unreachable(_))), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(6), "two timeouts of 2 s: {:?}", started.elapsed());

    proxy.set(Fault::Cut, Paths::Blobs);
    let cut = up.blob(&repo(), &layer.digest).await.expect("the headers arrive");
    assert_eq!(cut.size, Some(layer.bytes.len() as u64));
    assert!(read(cut).await.is_err(), "a cut body ends with an error, never short");

    proxy.set(Fault::Corrupt, Paths::Blobs);
    let corrupt = read(up.blob(&repo(), &layer.digest).await.expect("corrupt")).await.expect("a whole body");
    assert_eq!(corrupt.len(), layer.bytes.len());
    assert_ne!(corrupt, layer.bytes, "the bytes differ (the registry's digest check catches them)");

    proxy.pass();
    assert_eq!(read(up.blob(&repo(), &layer.digest).await.expect("pass")).await.expect("whole"), layer.bytes);
    let blob = format!("/v2/{REPO}/blobs/{}", layer.digest);
    assert!(proxy.count("GET", &blob) >= 8, "every blob GET went through the proxy");
}

#[tokio::test]
async fn distribution_in_proxy_mode_pulls_through_from_berth() {
    let s = common::server(&[]);
    let img = image(3);
    push_image(&s.client(), &s.base, REPO, &img, "v1").await;
    let remote = Remote { url: &s.base, login: Some((s.owner.0.as_str(), s.owner.1.as_str())) };
    let d = Distribution::start_with(None, Some(remote));
    serves(&*upstream(&d.addr, None), &img).await;
}

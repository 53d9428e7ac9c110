//! The pull-through cache over HTTP, against real upstream registries on loopback: CNCF
//! distribution behind htpasswd, a second Berth with its token flow, and a fault-injecting
//! proxy in front of them (429, 503, hangs, cut and corrupt bodies). Requests to the upstream
//! are counted on the proxy.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::distribution::Distribution;
use berth_testkit::fault_proxy::{Fault, FaultProxy, Paths};
use berth_testkit::image::Image;
use common::cache::{ACCEPT, get_manifest, pull, push, rule, with_basic};
use reqwest::StatusCode;
use serde_json::Value;

/// A Berth with a pull-through cache that checks tags every `revalidate` seconds and gives up
/// on an upstream after two; `endpoints` sends requests for a registry name elsewhere (so
/// that `docker.io` can be a registry on loopback).
fn cache_server(revalidate: u64, endpoints: &[(&str, &str)]) -> TestServer {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut toml = String::from("[cache]\nupstream_timeout_secs = 2\nupstream_idle_secs = 2\nfill_lease_secs = 3\n");
    toml.push_str(&format!("revalidate_after_secs = {revalidate}\n"));
    // A key file of the test's own, so that the suite's PostgreSQL runs have a cache too.
    toml.push_str(&format!("credential_key_file = {:?}\n", common::key_file(&dir).display().to_string()));
    if !endpoints.is_empty() {
        toml.push_str("[cache.endpoints]\n");
        for (name, url) in endpoints {
            toml.push_str(&format!("{name:?} = {url:?}\n"));
        }
    }
    let file = dir.join("berth.toml");
    std::fs::write(&file, toml).unwrap();
    common::server(&["--config", file.to_str().unwrap()])
}

async fn metric(s: &TestServer, name: &str) -> f64 {
    let text = s.client().get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_behind_htpasswd_fills_the_cache_once_for_sixteen_concurrent_pulls() {
    let dist = tokio::task::block_in_place(|| Distribution::with_htpasswd("puller", "s3cret-upstream"));
    let upstream = with_basic("puller", "s3cret-upstream");
    let img = Image::oci(Algorithm::Sha256, 14, &[30_000; 20], "amd64");
    push(&upstream, &dist.base, "team/app", &img, "v1").await;
    let proxy = tokio::task::block_in_place(|| FaultProxy::start(&dist.base));
    let s = tokio::task::block_in_place(|| cache_server(3600, &[]));
    rule(&s, "dist", &format!("{}/*", proxy.addr), "dist/*", Some((&proxy.addr, "puller", "s3cret-upstream"))).await;

    let c = s.client();
    let pulls = (0..16).map(|_| pull(&c, &s.base, "dist/team/app", "v1", &img));
    futures_util::future::join_all(pulls).await;
    for b in img.blobs() {
        assert_eq!(
            proxy.count("GET", &format!("/v2/team/app/blobs/{}", b.digest)),
            1,
            "one upstream GET of {}",
            b.digest
        );
    }
    // The first request upstream is answered with distribution's Basic challenge, the
    // second with the manifest; the blobs' requests carry the credentials at once.
    assert_eq!(proxy.count("GET", "/v2/team/app/manifests/v1"), 2);
    assert!(metric(&s, "berth_cache_joins").await >= 1.0, "later requests joined the first one's fetch");
    let before = proxy.count_prefix("/v2/");
    pull(&c, &s.base, "dist/team/app", "v1", &img).await;
    assert_eq!(proxy.count_prefix("/v2/"), before, "a warm pull asks the upstream nothing");
    assert!(!s.log().contains("s3cret-upstream"), "the upstream password is never logged");

    // A push into the cache is refused with a sentence naming its rule.
    let r = c.post(format!("{}/v2/dist/team/app/blobs/uploads/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("cache rule dist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_berth_upstream_with_its_token_flow_serves_stale_tags_while_it_rate_limits() {
    let origin = tokio::task::block_in_place(|| common::server(&[]));
    let img = Image::oci(Algorithm::Sha256, 15, &[5_000, 7_000], "amd64");
    let other = Image::oci(Algorithm::Sha256, 16, &[3_000], "amd64");
    push(&origin.client(), &origin.base, "library/app", &img, "v1").await;
    push(&origin.client(), &origin.base, "library/app", &other, "v2").await;
    let (app_id, password) = origin.create_sp(&origin.client(), "cache-puller", Some(("acrpull", "/"))).await;
    let proxy = tokio::task::block_in_place(|| FaultProxy::start(&origin.base));
    let s = tokio::task::block_in_place(|| cache_server(1, &[]));
    rule(&s, "hub", &format!("{}/*", proxy.addr), "hub/*", Some((&proxy.addr, &app_id, &password))).await;
    let c = s.client();
    pull(&c, &s.base, "hub/library/app", "v1", &img).await;
    assert!(proxy.count_prefix("/oauth2/token") == 0, "the token flow goes to the realm the upstream names");

    proxy.set(Fault::Status(429), Paths::All);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    pull(&c, &s.base, "hub/library/app", "v1", &img).await;
    assert!(proxy.count("HEAD", "/v2/library/app/manifests/v1") >= 1, "the tag was checked upstream");
    assert!(metric(&s, "berth_cache_stale_serves").await >= 1.0);
    assert!(s.log().contains("serving a cached tag stale"), "{}", s.log());

    let r = get_manifest(&c, &s.base, "hub/library/app", "v2").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = r.text().await.unwrap();
    assert!(text.contains(&proxy.addr) && text.contains("429"), "names the upstream and its answer: {text}");

    proxy.set(Fault::Status(503), Paths::All);
    let r = get_manifest(&c, &s.base, "hub/library/app", "v2").await;
    assert!(r.text().await.unwrap().contains("503"));
    proxy.pass();
    pull(&c, &s.base, "hub/library/app", "v2", &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_cut_and_hung_blobs_are_never_stored_and_a_retry_completes() {
    let dist = tokio::task::block_in_place(Distribution::start);
    let img = Image::oci(Algorithm::Sha256, 17, &[200_000; 3], "amd64");
    push(&berth_testkit::http_client().build().unwrap(), &dist.base, "team/app", &img, "v1").await;
    let proxy = tokio::task::block_in_place(|| FaultProxy::start(&dist.base));
    let s = tokio::task::block_in_place(|| cache_server(3600, &[]));
    rule(&s, "dist", &format!("{}/team/app", proxy.addr), "app", None).await;
    let c = s.client();
    assert_eq!(get_manifest(&c, &s.base, "app", "v1").await.status(), StatusCode::OK);
    for (fault, layer) in [Fault::Corrupt, Fault::Cut, Fault::Hang].into_iter().zip(&img.layers) {
        let url = format!("{}/v2/app/blobs/{}", s.base, layer.digest);
        proxy.set(fault, Paths::Blobs);
        match c.get(&url).send().await {
            Ok(r) if r.status() == StatusCode::OK => {
                let body = r.bytes().await;
                assert!(body.is_err() || body.unwrap() != layer.bytes, "{fault:?}: never the whole of a bad blob");
            }
            Ok(r) => assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{fault:?}"),
            Err(_) => {}
        }
        proxy.pass();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let head = c.head(&url).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "{fault:?}: fetched again, whole, on the next request");
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap(), layer.bytes);
        let upstream_gets = proxy.count("GET", &format!("/v2/team/app/blobs/{}", layer.digest));
        assert_eq!(upstream_gets, 2, "{fault:?}: the bad answer was not kept, the good one was");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_requests_name_the_upstream_registry_and_nothing_else_is_dialled() {
    let dist = tokio::task::block_in_place(Distribution::start);
    let img = Image::oci(Algorithm::Sha256, 18, &[4_000], "amd64");
    push(&berth_testkit::http_client().build().unwrap(), &dist.base, "library/app", &img, "v1").await;
    let proxy = tokio::task::block_in_place(|| FaultProxy::start(&dist.base));
    let s = tokio::task::block_in_place(|| cache_server(3600, &[("docker.io", &proxy.base)]));
    rule(&s, "hub", "docker.io/*", "hub/*", None).await;
    let c = s.client();
    let r = c
        .get(format!("{}/v2/library/app/manifests/v1?ns=docker.io", s.base))
        .header("accept", ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), img.manifest.bytes);
    let r = get_manifest(&c, &s.base, "hub/library/app", "v1").await;
    assert_eq!(r.status(), StatusCode::OK, "the same repository without ns");

    let before = proxy.count_prefix("/");
    for ns in ["quay.io", "registry.example", "127.0.0.1:1", "https://docker.io", "a/../b"] {
        let r = c.get(format!("{}/v2/library/app/manifests/v1?ns={}", s.base, ns)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{ns}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], "NAME_UNKNOWN", "{ns}");
        assert!(v["errors"][0]["detail"].as_str().unwrap().contains("no cache rule"), "{ns}: {v}");
    }
    let r = c.post(format!("{}/v2/library/app/blobs/uploads/?ns=docker.io", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "a mirror request only pulls");
    assert_eq!(proxy.count_prefix("/"), before, "no registry without a rule was dialled");

    // Pull permission on the target repository is what a mirror request needs.
    let (app_id, password) = s.create_sp(&c, "elsewhere", Some(("acrpull", "repositories/team/*"))).await;
    let r = with_basic(&app_id, &password)
        .get(format!("{}/v2/library/app/manifests/v1?ns=docker.io", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

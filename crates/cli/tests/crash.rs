//! Crash safety: SIGKILL during 20 concurrent pushes, restart, and check that every push that
//! got its 201 is pullable with the right digests, that storage verifies (`berth fsck`), and
//! that an interrupted chunked upload resumes.

mod common;

use berth_core::Algorithm;
use berth_testkit::image::{Blob, Image, random_bytes};
use berth_testkit::oci::{absolute, push_blob, put_manifest};
use common::started;
use reqwest::{Client, StatusCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Pushes `img` with chunked PATCHes of `chunk` bytes; `true` if the manifest PUT got 201.
async fn push_chunked(c: &Client, base: &str, repo: &str, img: &Image, chunk: usize) -> bool {
    for b in img.blobs() {
        let Ok(r) = c.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await else { return false };
        let Some(mut loc) = r.headers().get("location").map(|l| absolute(base, l.to_str().unwrap())) else {
            return false;
        };
        for (i, part) in b.bytes.chunks(chunk).enumerate() {
            let start = i * chunk;
            let range = format!("{start}-{}", start + part.len() - 1);
            let sent = c.patch(&loc).header("content-range", range).body(part.to_vec()).send().await;
            match sent {
                Ok(r) if r.status() == StatusCode::ACCEPTED => {
                    loc = absolute(base, r.headers()["location"].to_str().unwrap())
                }
                _ => return false,
            }
        }
        match c.put(format!("{loc}?digest={}", b.digest)).send().await {
            Ok(r) if r.status() == StatusCode::CREATED => {}
            _ => return false,
        }
    }
    let reference = format!("{}?tag=v1", img.manifest.digest);
    matches!(put_manifest_soft(c, base, repo, &reference, &img.manifest).await, Some(StatusCode::CREATED))
}

async fn put_manifest_soft(c: &Client, base: &str, repo: &str, reference: &str, m: &Blob) -> Option<StatusCode> {
    let r = c
        .put(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("content-type", m.media_type.as_str())
        .body(m.bytes.clone())
        .send()
        .await
        .ok()?;
    Some(r.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_pushes_loses_nothing_acknowledged() {
    let (mut s, c) = started();

    // An upload interrupted by the crash: its first chunk is acknowledged before the kill.
    let resumable = Blob::new(Algorithm::Sha256, "application/octet-stream", random_bytes(99, 300_000));
    let r = c.post(format!("{}/v2/crash/resume/blobs/uploads/", s.base)).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let r = c
        .patch(absolute(&s.base, &loc))
        .header("content-range", "0-99999")
        .body(resumable.bytes[..100_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    let acknowledged: Arc<Mutex<Vec<(String, Image)>>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let (c, base, acknowledged) = (c.clone(), s.base.clone(), acknowledged.clone());
        let alg = if i % 4 == 0 { Algorithm::Sha512 } else { Algorithm::Sha256 };
        tasks.push(tokio::spawn(async move {
            let repo = format!("crash/app{i}");
            let img = Image::oci(alg, 100 + i, &[700_000 + i as usize * 10_000, 400_000, 1_000], "amd64");
            if push_chunked(&c, &base, &repo, &img, 128 * 1024).await {
                acknowledged.lock().unwrap().push((repo, img));
            }
        }));
    }
    // Kill once some pushes are acknowledged and others are surely still in flight.
    for _ in 0..400 {
        if acknowledged.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 3 && acknowledged.len() < 20,
        "the kill must land mid-way: {} acknowledged",
        acknowledged.len()
    );

    s.restart();
    for (repo, img) in &acknowledged {
        let r = c.get(format!("{}/v2/{repo}/manifests/v1", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{repo} was acknowledged");
        assert_eq!(r.bytes().await.unwrap().as_ref(), img.manifest.bytes.as_slice());
        for b in img.blobs() {
            let r = c.get(format!("{}/v2/{repo}/blobs/{}", s.base, b.digest)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let got = r.bytes().await.unwrap();
            assert_eq!(Blob::new(b.digest.algorithm(), "", got.to_vec()).digest, b.digest, "{repo}: blob bytes");
        }
    }
    let fsck = s.berth(&["fsck"]);
    assert!(fsck.status.success(), "fsck after the crash: {}", String::from_utf8_lossy(&fsck.stdout));

    // The interrupted upload resumes where its acknowledged chunk ended.
    let url = absolute(&s.base, &loc);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["range"], "0-99999");
    let r = c
        .patch(&url)
        .header("content-range", "100000-299999")
        .body(resumable.bytes[100_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = c.put(format!("{url}?digest={}", resumable.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let got = c.get(format!("{}/v2/crash/resume/blobs/{}", s.base, resumable.digest)).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), resumable.bytes.as_slice());
    push_blob(&c, &s.base, "crash/after", &Blob::new(Algorithm::Sha256, "x", b"alive".to_vec())).await;
    let _ = put_manifest;
}

/// A server killed while a PATCH holds its upload's claim does not refuse that upload after
/// its restart: the claim of the dead process (its lease would last a minute) ends when the
/// new one starts, as this process alone holds the data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_held_when_the_server_died_ends_with_it() {
    use futures_util::StreamExt;
    const MIB: usize = 1 << 20;
    // On SQLite whatever the test matrix asks (an empty database URL is the embedded default):
    // replicas sharing PostgreSQL cannot tell a dead holder's claim from a live one's, so
    // there a claim ends only with its lease.
    let mut s = tokio::task::block_in_place(|| {
        berth_testkit::TestServer::start_with_env(
            std::path::Path::new(env!("CARGO_BIN_EXE_berth")),
            &[],
            "info",
            &[("BERTH__DATABASE__URL", "")],
        )
    });
    let c = s.client();
    let blob = random_bytes(81, 26 * MIB);
    let post = c.post(format!("{}/v2/crash/claim/blobs/uploads/", s.base)).send().await.unwrap();
    let url = absolute(&s.base, post.headers()["location"].to_str().unwrap());
    let first = c.patch(&url).header("content-range", format!("0-{}", MIB - 1)).body(blob[..MIB].to_vec());
    assert_eq!(first.send().await.unwrap().status(), StatusCode::ACCEPTED);

    // 24 MiB is more than the sockets buffer: the server is reading this body, and holds the
    // upload's claim, when it stalls.
    let (stalled_tx, stalled) = tokio::sync::oneshot::channel::<()>();
    let head = futures_util::stream::iter(
        blob[MIB..25 * MIB].chunks(MIB).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let stall = futures_util::stream::once(async move {
        let _ = stalled_tx.send(());
        std::future::pending::<Result<Vec<u8>, std::io::Error>>().await
    });
    let body = reqwest::Body::wrap_stream(head.chain(stall));
    let slow = tokio::spawn(c.patch(&url).header("content-type", "application/octet-stream").body(body).send());
    stalled.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| s.restart());
    assert!(slow.await.unwrap().is_err(), "the killed server never answered");

    let status = c.get(&url).send().await.unwrap();
    assert_eq!(status.headers()["range"], format!("0-{}", MIB - 1), "only the acknowledged chunk is held");
    let rest = c.patch(&url).header("content-range", format!("{MIB}-{}", blob.len() - 1)).body(blob[MIB..].to_vec());
    let rest = rest.send().await.unwrap();
    assert_eq!(rest.status(), StatusCode::ACCEPTED, "{}", rest.text().await.unwrap_or_default());
    let digest = berth_core::Digest::of(Algorithm::Sha256, &blob);
    assert_eq!(c.put(format!("{url}?digest={digest}")).send().await.unwrap().status(), StatusCode::CREATED);
    let got = c.get(format!("{}/v2/crash/claim/blobs/{digest}", s.base)).send().await.unwrap();
    assert!(got.bytes().await.unwrap() == blob, "the blob is whole");
}

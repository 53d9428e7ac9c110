//! The registry's rules on real stores without the binary: `MemoryBlobStore` for the bytes,
//! `SqliteMeta` on a temporary directory for the metadata, and a `ManualClock` moved on
//! instead of sleeping through grace periods and expiry.

use berth_core::range::ByteRange;
use berth_core::{Algorithm, BlobStore, Digest, Reference, RepoName, StorageError, Tag, UploadStore};
use berth_meta::SqliteMeta;
use berth_registry::{Chunk, Clock, GcReport, Limits, ManualClock, MountOutcome, RegistryError, RegistryService};
use berth_storage::MemoryBlobStore;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const OWNER: &str = "tester";
const HOUR: Duration = Duration::from_secs(3600);
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A service on fresh stores, with handles on its blob store and clock.
struct Registry {
    service: RegistryService,
    meta: Arc<SqliteMeta>,
    blobs: Arc<MemoryBlobStore>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn registry() -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(SqliteMeta::open(&dir.path().join("meta.db")).await.unwrap());
    let blobs = Arc::new(MemoryBlobStore::new());
    let clock = Arc::new(ManualClock::starting_now());
    let service = RegistryService::new(blobs.clone(), meta.clone(), Limits::default()).with_clock(clock.clone());
    Registry { service, meta, blobs, clock, _dir: dir }
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

fn sha256(bytes: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, bytes)
}

fn body(bytes: &[u8]) -> berth_core::ByteStream {
    futures_util::stream::iter([Ok(Bytes::copy_from_slice(bytes))]).boxed()
}

fn streamed() -> Chunk {
    Chunk { range: None, length: None }
}

async fn collect(mut s: berth_core::ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Pushes `bytes` into `name` in one request; its digest.
async fn push_blob(r: &Registry, name: &str, bytes: &[u8]) -> Digest {
    let d = sha256(bytes);
    r.service.upload_whole(&repo(name), &d, Some(bytes.len() as u64), body(bytes), OWNER).await.unwrap();
    d
}

/// An OCI image manifest with this config and these layers (digest and size).
fn manifest(config: (&Digest, usize), layers: &[(&Digest, usize)]) -> Bytes {
    let descriptor =
        |media: &str, (d, size): (&Digest, usize)| json!({"mediaType": media, "digest": d.to_string(), "size": size});
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": layers.iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", *l)).collect::<Vec<_>>(),
    });
    Bytes::from(m.to_string())
}

/// A config and one layer pushed into `name` and a manifest of them tagged `tag`: the digests
/// of the config, the layer and the manifest, and the blobs' total size.
async fn push_image(r: &Registry, name: &str, seed: &str, tag: &str) -> ([Digest; 3], u64) {
    let config = format!("{{\"seed\":\"{seed}\"}}");
    let layer = format!("layer of {seed}").repeat(50);
    let c = push_blob(r, name, config.as_bytes()).await;
    let l = push_blob(r, name, layer.as_bytes()).await;
    let bytes = manifest((&c, config.len()), &[(&l, layer.len())]);
    let reference = Reference::Tag(Tag::parse(tag).unwrap());
    let put = r.service.put_manifest(&repo(name), &reference, &[], OCI_MANIFEST, bytes).await.unwrap();
    ([c, l, put.digest], (config.len() + layer.len()) as u64)
}

#[tokio::test]
async fn a_chunked_upload_commits_under_its_digest() {
    let r = registry().await;
    let app = repo("team/app");
    let data = b"chunk one, chunk two, and the last chunk";
    let s = r.service.start_upload(&app, Algorithm::Sha256, OWNER).await.unwrap();
    let first = Chunk { range: Some(ByteRange { start: 0, end: 9 }), length: Some(10) };
    let s = r.service.append(&app, &s.id, first, body(&data[..10])).await.unwrap();
    assert_eq!(s.offset, 10);
    let stale = Chunk { range: Some(ByteRange { start: 0, end: 9 }), length: Some(10) };
    let refused = r.service.append(&app, &s.id, stale, body(&data[..10])).await;
    assert!(matches!(refused, Err(RegistryError::RangeInvalid { current: 10 })), "{refused:?}");
    let s = r.service.append(&app, &s.id, streamed(), body(&data[10..22])).await.unwrap();
    assert_eq!(s.offset, 22);
    assert_eq!(r.service.blob_size(&app, &sha256(data)).await.ok(), None, "not a blob before the final PUT");

    let d = sha256(data);
    let size = r.service.finish(&app, &s.id, &d, streamed(), Some(body(&data[22..]))).await.unwrap();
    assert_eq!(size, data.len() as u64);
    assert_eq!(r.service.blob_size(&app, &d).await.unwrap(), data.len() as u64);
    assert_eq!(collect(r.service.read_blob(&d, None).await.unwrap()).await, data);
    assert!(matches!(r.service.upload(&app, &s.id).await, Err(RegistryError::UploadUnknown)), "session ended");
    assert!(matches!(r.service.blob_size(&repo("team/other"), &d).await, Err(RegistryError::BlobUnknown)));
}

#[tokio::test]
async fn a_wrong_digest_stores_nothing() {
    let r = registry().await;
    let app = repo("team/app");
    let data = b"the bytes the client sent";
    let s = r.service.start_upload(&app, Algorithm::Sha256, OWNER).await.unwrap();
    let s = r.service.append(&app, &s.id, streamed(), body(&data[..8])).await.unwrap();
    let claimed = sha256(b"what the client claims");
    let refused = r.service.finish(&app, &s.id, &claimed, streamed(), Some(body(&data[8..]))).await;
    assert!(matches!(refused, Err(RegistryError::DigestInvalid(_))), "{refused:?}");
    for d in [&claimed, &sha256(data)] {
        assert!(matches!(r.service.blob_size(&app, d).await, Err(RegistryError::BlobUnknown)), "{d}");
        assert_eq!(r.blobs.stat(d).await.unwrap(), None, "{d} is not in the blob store");
    }
    assert!(r.blobs.list().await.unwrap().is_empty());
    assert!(matches!(r.service.upload(&app, &s.id).await, Err(RegistryError::UploadUnknown)), "session dropped");
    assert!(matches!(r.blobs.read_upload(&s.id, data.len() as u64).await, Err(StorageError::NotFound)));
}

#[tokio::test]
async fn a_mount_links_from_a_repository_that_holds_the_blob() {
    let r = registry().await;
    let (src, dst) = (repo("team/base"), repo("team/app"));
    let d = push_blob(&r, "team/base", b"a shared layer").await;

    let mounted = r.service.mount(&dst, &d, Some(&src), OWNER).await.unwrap();
    assert!(matches!(mounted, MountOutcome::Mounted), "{mounted:?}");
    assert_eq!(r.service.blob_size(&dst, &d).await.unwrap(), 14);
    assert_eq!(r.service.repositories_holding(&d, 10).await.unwrap(), vec![dst.clone(), src.clone()]);

    // Without `from`, or from a repository without the blob: an ordinary upload begins.
    let absent = sha256(b"nowhere");
    for (digest, from) in [(&d, None), (&absent, Some(&src))] {
        let other = repo("team/third");
        match r.service.mount(&other, digest, from, OWNER).await.unwrap() {
            MountOutcome::Session(s) => {
                assert_eq!((s.offset, &s.repo), (0, &other));
                assert_eq!(r.service.upload(&other, &s.id).await.unwrap().id, s.id);
            }
            MountOutcome::Mounted => panic!("{digest} from {from:?} must not mount"),
        }
        assert!(matches!(r.service.blob_size(&other, digest).await, Err(RegistryError::BlobUnknown)));
    }
}

#[tokio::test]
async fn a_manifest_needs_its_blobs_in_the_repository() {
    let r = registry().await;
    let app = repo("team/app");
    let (config, layer) = (b"{\"architecture\":\"amd64\"}".as_slice(), b"layer bytes".as_slice());
    let (c, l) = (sha256(config), sha256(layer));
    let bytes = manifest((&c, config.len()), &[(&l, layer.len())]);
    let v1 = Reference::Tag(Tag::parse("v1").unwrap());

    push_blob(&r, "team/app", config).await;
    push_blob(&r, "team/elsewhere", layer).await;
    let refused = r.service.put_manifest(&app, &v1, &[], OCI_MANIFEST, bytes.clone()).await;
    match refused {
        Err(RegistryError::ManifestBlobUnknown(missing)) => assert_eq!(missing, vec![l.clone()]),
        other => panic!("a layer another repository holds is missing here: {other:?}"),
    }
    assert!(matches!(r.service.get_manifest(&app, &v1).await, Err(RegistryError::ManifestUnknown)), "nothing written");

    push_blob(&r, "team/app", layer).await;
    let put = r.service.put_manifest(&app, &v1, &[], OCI_MANIFEST, bytes.clone()).await.unwrap();
    assert_eq!(put.digest, sha256(&bytes));
    let got = r.service.get_manifest(&app, &v1).await.unwrap();
    assert_eq!((got.bytes, got.media_type.as_str()), (bytes, OCI_MANIFEST));
    let by_digest = r.service.get_manifest(&app, &Reference::Digest(put.digest.clone())).await.unwrap();
    assert_eq!(by_digest.digest, put.digest);
}

/// Moved from the end-to-end test (cli/tests/gc.rs), which slept through the grace period:
/// what no manifest references goes once the grace is over (links, then blobs with their
/// bytes), what a tag reaches stays, and what was linked within the grace stays.
#[tokio::test]
async fn garbage_goes_only_after_the_grace_period() {
    let r = registry().await;
    let (kept, _) = push_image(&r, "team/app", "a", "a").await;
    let (dropped, dropped_size) = push_image(&r, "team/app", "b", "b").await;
    let orphan = push_blob(&r, "team/app", b"never referenced").await;
    let mounted = r.service.mount(&repo("team/other"), &kept[1], Some(&repo("team/app")), OWNER).await.unwrap();
    assert!(matches!(mounted, MountOutcome::Mounted));
    r.service.delete_manifest(&repo("team/app"), &Reference::Digest(dropped[2].clone())).await.unwrap();

    let nothing = |dry_run| GcReport { dry_run, ..GcReport::default() };
    assert_eq!(r.service.collect_garbage(HOUR, true).await.unwrap(), nothing(true));
    r.clock.advance(HOUR / 2);
    assert_eq!(r.service.collect_garbage(HOUR, false).await.unwrap(), nothing(false), "within the grace period");

    r.clock.advance(HOUR / 2 + Duration::from_secs(2));
    let garbage = [&dropped[0], &dropped[1], &orphan];
    let freed = dropped_size + b"never referenced".len() as u64;
    let expected = |dry_run| GcReport { dry_run, links_dropped: 4, blobs_deleted: 3, bytes_freed: freed };
    assert_eq!(r.service.collect_garbage(HOUR, true).await.unwrap(), expected(true));
    for d in garbage {
        assert!(r.blobs.stat(d).await.unwrap().is_some(), "a dry run deletes nothing: {d}");
    }
    assert_eq!(r.service.collect_garbage(HOUR, false).await.unwrap(), expected(false));

    for d in garbage {
        assert!(matches!(r.service.blob_size(&repo("team/app"), d).await, Err(RegistryError::BlobUnknown)), "{d}");
        assert_eq!(r.blobs.stat(d).await.unwrap(), None, "{d}'s bytes are deleted");
    }
    assert!(
        matches!(r.service.blob_size(&repo("team/other"), &kept[1]).await, Err(RegistryError::BlobUnknown)),
        "the link no manifest of team/other uses"
    );
    let tagged = r.service.get_manifest(&repo("team/app"), &Reference::Tag(Tag::parse("a").unwrap())).await.unwrap();
    assert_eq!(tagged.digest, kept[2]);
    for d in &kept[..2] {
        let size = r.service.blob_size(&repo("team/app"), d).await.unwrap();
        assert_eq!(collect(r.service.read_blob(d, None).await.unwrap()).await.len() as u64, size, "{d} is intact");
    }
    assert_eq!(r.blobs.list().await.unwrap().len(), 2, "only the tagged image's blobs are left");
    assert_eq!(r.service.collect_garbage(HOUR, false).await.unwrap(), nothing(false), "a second run finds nothing");
}

/// Moved from the end-to-end test (cli/tests/gc.rs): a manifest untagged for longer than the
/// purge age goes (a younger one, or a tagged one, stays), and its blobs go at the next
/// collection after the grace.
#[tokio::test]
async fn a_purge_takes_old_untagged_manifests_and_gc_their_blobs() {
    let r = registry().await;
    let app = repo("team/app");
    let (old, _) = push_image(&r, "team/app", "old", "latest").await;
    let (new, _) = push_image(&r, "team/app", "new", "latest").await;
    let week = Duration::from_secs(7 * 24 * 3600);

    assert!(r.service.purge_untagged(week, None, false).await.unwrap().manifests_deleted.is_empty(), "too young");
    r.clock.advance(week + Duration::from_secs(1));
    let gone = vec![format!("team/app@{}", old[2])];
    let dry = r.service.purge_untagged(week, None, true).await.unwrap();
    assert_eq!((dry.dry_run, &dry.manifests_deleted), (true, &gone));
    assert!(
        r.service.get_manifest(&app, &Reference::Digest(old[2].clone())).await.is_ok(),
        "a dry run deletes nothing"
    );
    assert!(
        r.service.purge_untagged(week, Some(&repo("team/other")), false).await.unwrap().manifests_deleted.is_empty()
    );
    assert_eq!(r.service.purge_untagged(week, None, false).await.unwrap().manifests_deleted, gone);
    assert!(matches!(
        r.service.get_manifest(&app, &Reference::Digest(old[2].clone())).await,
        Err(RegistryError::ManifestUnknown)
    ));
    assert_eq!(r.service.get_manifest(&app, &Reference::Digest(new[2].clone())).await.unwrap().digest, new[2]);

    // The clock is a week on, past any grace: the purged image's config and layer go.
    assert_eq!(r.service.collect_garbage(HOUR, false).await.unwrap().blobs_deleted, 2);
    for d in &old[..2] {
        assert_eq!(r.blobs.stat(d).await.unwrap(), None, "{d}");
    }
    for d in &new[..2] {
        assert!(r.service.blob_size(&app, d).await.is_ok(), "{d}");
    }
}

#[tokio::test]
async fn an_idle_upload_expires() {
    let r = registry().await;
    let app = repo("team/app");
    let s = r.service.start_upload(&app, Algorithm::Sha256, OWNER).await.unwrap();
    let s = r.service.append(&app, &s.id, streamed(), body(b"half of it")).await.unwrap();

    assert_eq!(r.service.expire_uploads(HOUR).await.unwrap(), 0);
    r.clock.advance(HOUR - Duration::from_secs(60));
    assert_eq!(r.service.expire_uploads(HOUR).await.unwrap(), 0, "idle for less than the expiry");
    assert_eq!(r.service.upload(&app, &s.id).await.unwrap().offset, 10);

    r.clock.advance(Duration::from_secs(120));
    assert_eq!(r.service.expire_uploads(HOUR).await.unwrap(), 1);
    assert!(matches!(r.service.upload(&app, &s.id).await, Err(RegistryError::UploadUnknown)));
    assert!(matches!(r.blobs.read_upload(&s.id, 10).await, Err(StorageError::NotFound)), "its bytes are dropped");
    let late = r.service.append(&app, &s.id, streamed(), body(b", the rest")).await;
    assert!(matches!(late, Err(RegistryError::UploadUnknown)), "{late:?}");
    assert_eq!(r.service.expire_uploads(HOUR).await.unwrap(), 0);
}

/// What storage's "not found" means is decided where it is asked: an upload whose bytes are
/// gone (another request ended it) is unknown to the client (404), a blob the metadata records
/// and storage lost is unknown too and logged, and a hash state that does not decode is
/// damage (500), not an outage (503).
#[tokio::test]
async fn storage_not_found_means_what_its_call_site_says() {
    let r = registry().await;
    let app = repo("team/app");
    let s = r.service.start_upload(&app, Algorithm::Sha256, OWNER).await.unwrap();
    r.blobs.abort(&s.id).await.unwrap();
    let append = r.service.append(&app, &s.id, streamed(), body(b"bytes")).await;
    assert!(matches!(append, Err(RegistryError::UploadUnknown)), "{append:?}");

    let d = push_blob(&r, "team/app", b"kept in the metadata only").await;
    r.blobs.delete(&d).await.unwrap();
    assert!(matches!(r.service.read_blob(&d, None).await, Err(RegistryError::BlobUnknown)));

    let s = r.service.start_upload(&app, Algorithm::Sha256, OWNER).await.unwrap();
    let damaged = berth_core::UploadSession { hash_state: b"not a hash state".to_vec(), ..s.clone() };
    r.meta.advance_upload(&damaged, 0).await.unwrap();
    let append = r.service.append(&app, &s.id, streamed(), body(b"bytes")).await;
    match append {
        Err(e @ RegistryError::Internal(_)) => assert_eq!(e.code(), berth_core::ErrorCode::Unknown),
        other => panic!("a damaged hash state is a 500: {other:?}"),
    }
}

/// Two services over the same stores, as two replicas sharing a database and a bucket: each
/// has its own busy set, so only the metadata store's claims keep their requests apart.
struct Replicas {
    a: RegistryService,
    b: RegistryService,
    meta: Arc<SqliteMeta>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn replicas() -> Replicas {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(SqliteMeta::open(&dir.path().join("meta.db")).await.unwrap());
    let blobs = Arc::new(MemoryBlobStore::new());
    let clock = Arc::new(ManualClock::starting_now());
    let replica = || RegistryService::new(blobs.clone(), meta.clone(), Limits::default()).with_clock(clock.clone());
    Replicas { a: replica(), b: replica(), meta, clock, _dir: dir }
}

#[tokio::test]
async fn two_replicas_never_work_on_one_upload_at_once() {
    let r = replicas().await;
    let app = repo("team/app");
    let s = r.a.start_upload(&app, Algorithm::Sha256, OWNER).await.unwrap();
    r.a.append(&app, &s.id, streamed(), body(b"head:")).await.unwrap();

    // A's body stalls until B has been answered (or a few seconds, should B wait instead).
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let (answered, gate) = tokio::sync::oneshot::channel::<()>();
    let stalled = futures_util::stream::once(async move {
        let _ = started_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), gate).await;
        Ok(Bytes::from_static(b"first-one!"))
    })
    .boxed();
    let first = r.a.append(&app, &s.id, streamed(), stalled);
    let second = async {
        started.await.unwrap();
        let appended = r.b.append(&app, &s.id, streamed(), body(b"other-one!")).await;
        // A cancel would drop the upload under A's append; it waits its turn like a chunk.
        let cancelled = r.b.cancel_upload(&app, &s.id).await;
        let _ = answered.send(());
        (appended, cancelled)
    };
    let (first, (appended, cancelled)) = tokio::join!(first, second);
    assert_eq!(first.unwrap().offset, 15);
    assert!(matches!(appended, Err(RegistryError::RangeInvalid { current: 5 })), "{appended:?}");
    assert!(matches!(cancelled, Err(RegistryError::RangeInvalid { current: 5 })), "{cancelled:?}");

    // A released its claim when its append ended: B finishes the upload with A's bytes.
    let d = sha256(b"head:first-one!");
    assert_eq!(r.b.finish(&app, &s.id, &d, streamed(), None).await.unwrap(), 15);
    assert_eq!(collect(r.a.read_blob(&d, None).await.unwrap()).await, b"head:first-one!");
    assert_eq!(r.a.blob_size(&app, &d).await.unwrap(), 15);
}

/// A process that alone uses its stores keeps its claims in memory: while its append runs the
/// store holds no claim (nothing written per chunk), yet a second request on the upload is
/// refused, and the upload ends whole.
#[tokio::test]
async fn one_process_alone_keeps_its_claims_in_memory() {
    let r = registry().await;
    let service = RegistryService::new(r.blobs.clone(), r.meta.clone(), Limits::default()).with_stores_alone();
    let app = repo("team/app");
    let s = service.start_upload(&app, Algorithm::Sha256, OWNER).await.unwrap();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let (answered, gate) = tokio::sync::oneshot::channel::<()>();
    let stalled = futures_util::stream::once(async move {
        let _ = started_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), gate).await;
        Ok(Bytes::from_static(b"alone"))
    })
    .boxed();
    let first = service.append(&app, &s.id, streamed(), stalled);
    let second = async {
        started.await.unwrap();
        let now = r.clock.now();
        let store_free = r.meta.claim_upload(&s.id, 0, "probe", now + 60, now).await.unwrap();
        r.meta.release_upload(&s.id, "probe").await.unwrap();
        let appended = service.append(&app, &s.id, streamed(), body(b"other")).await;
        let _ = answered.send(());
        (store_free, appended)
    };
    let (first, (store_free, appended)) = tokio::join!(first, second);
    assert!(store_free, "no claim was written to the store");
    assert!(matches!(appended, Err(RegistryError::RangeInvalid { current: 0 })), "{appended:?}");
    assert_eq!(first.unwrap().offset, 5);
    assert_eq!(service.finish(&app, &s.id, &sha256(b"alone"), streamed(), None).await.unwrap(), 5);
}

#[tokio::test]
async fn a_claim_left_by_a_dead_replica_expires() {
    let r = replicas().await;
    let app = repo("team/app");
    let s = r.a.start_upload(&app, Algorithm::Sha256, OWNER).await.unwrap();
    let s = r.a.append(&app, &s.id, streamed(), body(b"half")).await.unwrap();
    // A replica that claimed the upload for a minute, then died without releasing it.
    let now = r.clock.now();
    assert!(r.meta.claim_upload(&s.id, 4, "dead", now + 60, now).await.unwrap());

    let held = r.b.append(&app, &s.id, streamed(), body(b" more")).await;
    assert!(matches!(held, Err(RegistryError::RangeInvalid { current: 4 })), "{held:?}");
    r.clock.advance(Duration::from_secs(59));
    let held = r.b.append(&app, &s.id, streamed(), body(b" more")).await;
    assert!(matches!(held, Err(RegistryError::RangeInvalid { current: 4 })), "still leased: {held:?}");

    r.clock.advance(Duration::from_secs(2));
    assert_eq!(r.b.append(&app, &s.id, streamed(), body(b" more")).await.unwrap().offset, 9, "the lease ended");
    let d = sha256(b"half more");
    assert_eq!(r.a.finish(&app, &s.id, &d, streamed(), None).await.unwrap(), 9);
}

#[tokio::test]
async fn a_caller_naming_its_uploads_continues_one_its_dead_run_held() {
    let r = replicas().await;
    let app = repo("team/app");
    let id = berth_core::UploadId::from_seed([7; 16]);
    let (s, resumed) = r.a.continue_or_open_upload(&app, &id, Algorithm::Sha256, OWNER).await.unwrap();
    assert!(!resumed);
    let s = r.a.append(&app, &s.id, streamed(), body(b"half")).await.unwrap();
    // The run that opened it died holding its claim; the next run continues at once.
    let now = r.clock.now();
    assert!(r.meta.claim_upload(&id, 4, "dead run", now + 60, now).await.unwrap());
    let (s, resumed) = r.b.continue_or_open_upload(&app, &s.id, Algorithm::Sha256, OWNER).await.unwrap();
    assert!(resumed && s.offset == 4, "{s:?}");
    assert_eq!(r.b.append(&app, &id, streamed(), body(b" more")).await.unwrap().offset, 9);
    assert_eq!(r.b.finish(&app, &id, &sha256(b"half more"), streamed(), None).await.unwrap(), 9);
}

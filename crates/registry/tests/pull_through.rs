//! The pull-through cache's rules on real stores, with a second real registry (in this
//! process, on stores of its own) as the upstream: `Origin` answers the `Upstream` calls from
//! it, counts them, and can fail them as a misbehaving upstream would (429, cut bodies, bytes
//! that are not their digest). The HTTP side (a real upstream behind its token flow, a fault
//! proxy, containerd) is in crates/cli/tests.

use async_trait::async_trait;
use berth_core::cache_store::{CacheRuleRecord, CacheStore, RulePut};
use berth_core::upstream::{
    ManifestHead, Upstream, UpstreamBlob, UpstreamConnector, UpstreamError, UpstreamLogin, UpstreamManifest,
};
use berth_core::{Algorithm, ByteStream, Digest, LockChange, Reference, RepoName, Tag};
use berth_meta::SqliteMeta;
use berth_registry::cache::seal::CredentialKey;
use berth_registry::cache::{BlobPull, CacheSettings, PullThrough};
use berth_registry::{Limits, ManualClock, RegistryError, RegistryService};
use berth_storage::MemoryBlobStore;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const REVALIDATE: Duration = Duration::from_secs(300);

/// How the origin misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Every request answered with this status.
    Status(u16),
    /// Blob bodies have their last byte flipped.
    Corrupt,
    /// Blob bodies stop half-way with an error.
    Cut,
}

/// The upstream: a registry of its own, with a log of the calls made to it.
struct Origin {
    registry: Arc<RegistryService>,
    calls: Mutex<BTreeMap<String, usize>>,
    fault: Mutex<Fault>,
    /// Each blob body is sent in chunks of this size, with a pause between them, so that
    /// concurrent requests overlap with a fetch.
    chunk: usize,
}

impl Origin {
    fn count(&self, call: &str) -> usize {
        self.calls.lock().unwrap().get(call).copied().unwrap_or(0)
    }

    fn total(&self, prefix: &str) -> usize {
        self.calls.lock().unwrap().iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, n)| n).sum()
    }

    fn set(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
    }

    fn log(&self, call: String) -> Result<(), UpstreamError> {
        *self.calls.lock().unwrap().entry(call).or_default() += 1;
        match *self.fault.lock().unwrap() {
            Fault::Status(status) => Err(UpstreamError::Status { status, detail: String::new() }),
            _ => Ok(()),
        }
    }
}

fn origin_error(e: RegistryError) -> UpstreamError {
    match e {
        RegistryError::ManifestUnknown | RegistryError::BlobUnknown => UpstreamError::NotFound,
        e => UpstreamError::Unreachable(e.to_string()),
    }
}

#[async_trait]
impl Upstream for Origin {
    async fn head_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<ManifestHead, UpstreamError> {
        self.log(format!("HEAD manifest {repo}:{reference}"))?;
        let m = self.registry.get_manifest(repo, reference).await.map_err(origin_error)?;
        Ok(ManifestHead { digest: m.digest, media_type: m.media_type, size: m.bytes.len() as u64 })
    }

    async fn manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        _max: usize,
    ) -> Result<UpstreamManifest, UpstreamError> {
        self.log(format!("GET manifest {repo}:{reference}"))?;
        let m = self.registry.get_manifest(repo, reference).await.map_err(origin_error)?;
        Ok(UpstreamManifest { digest: m.digest, media_type: m.media_type, bytes: m.bytes })
    }

    async fn blob(&self, repo: &RepoName, digest: &Digest) -> Result<UpstreamBlob, UpstreamError> {
        self.log(format!("GET blob {digest}"))?;
        let size = self.registry.blob_size(repo, digest).await.map_err(origin_error)?;
        let mut bytes = collect(self.registry.read_blob(digest, None).await.map_err(origin_error)?).await;
        let fault = *self.fault.lock().unwrap();
        if fault == Fault::Corrupt {
            *bytes.last_mut().unwrap() ^= 0xff;
        }
        let chunks: Vec<Bytes> = bytes.chunks(self.chunk).map(Bytes::copy_from_slice).collect();
        let half = chunks.len() / 2;
        let body = futures_util::stream::iter(chunks.into_iter().enumerate()).then(move |(i, c)| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if fault == Fault::Cut && i == half {
                return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"));
            }
            Ok(c)
        });
        Ok(UpstreamBlob { size: Some(size), body: body.boxed() })
    }
}

struct Connector(Arc<Origin>);

impl UpstreamConnector for Connector {
    fn connect(&self, _login: &UpstreamLogin) -> Arc<dyn Upstream> {
        self.0.clone()
    }
}

/// A cache over fresh stores in front of `origin`, with the rule `origin.test/*` → `hub/*`.
struct Cache {
    service: Arc<RegistryService>,
    meta: Arc<SqliteMeta>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn origin(chunk: usize) -> (Arc<Origin>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(SqliteMeta::open(&dir.path().join("origin.db")).await.unwrap());
    let registry = Arc::new(RegistryService::new(Arc::new(MemoryBlobStore::new()), meta, Limits::default()));
    let origin = Origin { registry, calls: Mutex::default(), fault: Mutex::new(Fault::None), chunk };
    (Arc::new(origin), dir)
}

fn settings() -> CacheSettings {
    CacheSettings {
        revalidate_after: REVALIDATE,
        fill_lease: Duration::from_secs(3),
        upstream_timeout: Duration::from_secs(5),
        rules_refresh: Duration::from_secs(60),
    }
}

async fn cache(origin: &Arc<Origin>, allow_push: bool) -> Cache {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(SqliteMeta::open(&dir.path().join("cache.db")).await.unwrap());
    add_rule(&meta, "hub", "origin.test/*", "hub/*", allow_push).await;
    let clock = Arc::new(ManualClock::starting_now());
    let service = replica(&meta, Arc::new(MemoryBlobStore::new()), origin, &clock);
    Cache { service, meta, clock, _dir: dir }
}

fn replica(
    meta: &Arc<SqliteMeta>,
    blobs: Arc<MemoryBlobStore>,
    origin: &Arc<Origin>,
    clock: &Arc<ManualClock>,
) -> Arc<RegistryService> {
    let key = CredentialKey::from_bytes(&CredentialKey::generate());
    let cache = PullThrough::new(Arc::new(Connector(origin.clone())), key, settings());
    Arc::new(
        RegistryService::new(blobs, meta.clone(), Limits::default()).with_clock(clock.clone()).with_pull_through(cache),
    )
}

async fn add_rule(meta: &SqliteMeta, name: &str, source: &str, target: &str, allow_push: bool) {
    let rule = CacheRuleRecord {
        name: name.into(),
        source: source.into(),
        target: target.into(),
        credential_set: None,
        allow_push,
        created_at: 0,
        updated_at: 0,
    };
    assert_eq!(meta.put_cache_rule(&rule, false, &|_| Ok(())).await.unwrap(), RulePut::Stored);
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

fn tag(t: &str) -> Reference {
    Reference::Tag(Tag::parse(t).unwrap())
}

async fn collect(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// Pushes an image of `layers` layers (each `layer_size` bytes) into `name:t` of `r`: the
/// manifest's digest and the blobs' digests with their bytes.
async fn push_image(
    r: &RegistryService,
    name: &str,
    t: &str,
    seed: &str,
    layers: usize,
    layer_size: usize,
) -> (Digest, Vec<(Digest, Vec<u8>)>) {
    let mut blobs = vec![(format!("{{\"seed\":\"{seed}\"}}").into_bytes())];
    for i in 0..layers {
        blobs.push(format!("{seed} layer {i} ").repeat(layer_size / 12 + 1).into_bytes()[..layer_size].to_vec());
    }
    let mut stored = Vec::new();
    for b in blobs {
        let d = Digest::of(Algorithm::Sha256, &b);
        let body = futures_util::stream::iter([Ok(Bytes::from(b.clone()))]).boxed();
        r.upload_whole(&repo(name), &d, Some(b.len() as u64), body, "pusher").await.unwrap();
        stored.push((d, b));
    }
    let descriptor =
        |media: &str, (d, b): &(Digest, Vec<u8>)| json!({"mediaType": media, "digest": d.to_string(), "size": b.len()});
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &stored[0]),
        "layers": stored[1..].iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    });
    let put = r.put_manifest(&repo(name), &tag(t), &[], OCI_MANIFEST, Bytes::from(m.to_string())).await.unwrap();
    (put.digest, stored)
}

/// Pulls blob `d` of `name` as a client would, streaming when it arrives.
async fn pull(service: &Arc<RegistryService>, name: &str, d: &Digest) -> Result<Vec<u8>, RegistryError> {
    match service.pull_blob(&repo(name), d, true).await? {
        BlobPull::Stored(_) => Ok(collect(service.read_blob(d, None).await?).await),
        BlobPull::Arriving { body, .. } => Ok(collect(body).await),
    }
}

#[tokio::test]
async fn concurrent_first_pulls_fetch_each_manifest_and_blob_once() {
    let (origin, _o) = origin(4096).await;
    let (manifest, blobs) = push_image(&origin.registry, "library/app", "v1", "app", 20, 40_000).await;
    let c = cache(&origin, false).await;
    let pulls = (0..16).map(|_| {
        let (service, blobs) = (c.service.clone(), blobs.clone());
        async move {
            let m = service.get_manifest(&repo("hub/library/app"), &tag("v1")).await.unwrap();
            let bodies =
                futures_util::future::join_all(blobs.iter().map(|(d, _)| pull(&service, "hub/library/app", d)));
            (m.digest, bodies.await)
        }
    });
    for (digest, bodies) in futures_util::future::join_all(pulls).await {
        assert_eq!(digest, manifest);
        for ((_, want), got) in blobs.iter().zip(bodies) {
            assert_eq!(&got.unwrap(), want);
        }
    }
    assert_eq!(origin.count("GET manifest library/app:v1"), 1);
    for (d, _) in &blobs {
        assert_eq!(origin.count(&format!("GET blob {d}")), 1, "{d} was fetched once");
    }
    // Everything is here now: another pull asks the upstream nothing.
    let before = origin.total("");
    c.service.get_manifest(&repo("hub/library/app"), &tag("v1")).await.unwrap();
    pull(&c.service, "hub/library/app", &blobs[3].0).await.unwrap();
    assert_eq!(origin.total(""), before);
}

#[tokio::test]
async fn two_replicas_share_one_fetch_through_the_fill_lease() {
    let (origin, _o) = origin(2048).await;
    let (_, blobs) = push_image(&origin.registry, "library/app", "v1", "app", 2, 300_000).await;
    let c = cache(&origin, false).await;
    let blob_store = Arc::new(MemoryBlobStore::new());
    let (a, b) =
        (replica(&c.meta, blob_store.clone(), &origin, &c.clock), replica(&c.meta, blob_store, &origin, &c.clock));
    a.get_manifest(&repo("hub/library/app"), &tag("v1")).await.unwrap();
    let layer = &blobs[1];
    let (from_a, from_b) = tokio::join!(pull(&a, "hub/library/app", &layer.0), pull(&b, "hub/library/app", &layer.0));
    assert_eq!(from_a.unwrap(), layer.1);
    assert_eq!(from_b.unwrap(), layer.1);
    assert_eq!(origin.count(&format!("GET blob {}", layer.0)), 1, "one fetch for both replicas");
}

#[tokio::test]
async fn a_tag_is_checked_upstream_at_most_once_per_interval_and_fetched_only_when_it_moved() {
    let (origin, _o) = origin(4096).await;
    let (first, _) = push_image(&origin.registry, "library/app", "v1", "one", 1, 100).await;
    let c = cache(&origin, false).await;
    let app = repo("hub/library/app");
    assert_eq!(c.service.get_manifest(&app, &tag("v1")).await.unwrap().digest, first);
    c.clock.advance(REVALIDATE / 2);
    c.service.get_manifest(&app, &tag("v1")).await.unwrap();
    assert_eq!(origin.count("HEAD manifest library/app:v1"), 0, "fresh: not asked");

    c.clock.advance(REVALIDATE);
    assert_eq!(c.service.get_manifest(&app, &tag("v1")).await.unwrap().digest, first);
    assert_eq!(origin.count("HEAD manifest library/app:v1"), 1);
    assert_eq!(origin.count("GET manifest library/app:v1"), 1, "the same digest costs no GET");
    c.service.get_manifest(&app, &tag("v1")).await.unwrap();
    assert_eq!(origin.count("HEAD manifest library/app:v1"), 1, "checked: fresh again");

    let (second, _) = push_image(&origin.registry, "library/app", "v1", "two", 1, 100).await;
    c.clock.advance(REVALIDATE * 2);
    assert_eq!(c.service.get_manifest(&app, &tag("v1")).await.unwrap().digest, second, "the tag moved");
    assert_eq!(origin.count("GET manifest library/app:v1"), 2);
    let old = c.service.get_manifest(&app, &Reference::Digest(first.clone())).await.unwrap();
    assert_eq!(old.digest, first, "the old digest stays readable");
}

#[tokio::test]
async fn a_cached_tag_is_served_stale_while_the_upstream_rate_limits_and_an_uncached_one_fails() {
    let (origin, _o) = origin(4096).await;
    let (digest, _) = push_image(&origin.registry, "library/app", "v1", "app", 1, 100).await;
    push_image(&origin.registry, "library/app", "v2", "other", 1, 100).await;
    let c = cache(&origin, false).await;
    let app = repo("hub/library/app");
    c.service.get_manifest(&app, &tag("v1")).await.unwrap();
    origin.set(Fault::Status(429));
    c.clock.advance(REVALIDATE * 2);
    assert_eq!(c.service.get_manifest(&app, &tag("v1")).await.unwrap().digest, digest, "served stale");
    assert_eq!(origin.count("HEAD manifest library/app:v1"), 1);
    c.service.get_manifest(&app, &tag("v1")).await.unwrap();
    assert_eq!(origin.count("HEAD manifest library/app:v1"), 1, "a failed check counts: no hammering");

    let failed = c.service.get_manifest(&app, &tag("v2")).await.unwrap_err();
    let text = failed.to_string();
    assert!(matches!(failed, RegistryError::UpstreamFailed(_)), "{failed:?}");
    assert!(text.contains("origin.test") && text.contains("429"), "names the upstream and its status: {text}");

    origin.set(Fault::None);
    let missing = c.service.get_manifest(&app, &tag("v3")).await.unwrap_err();
    assert!(matches!(missing, RegistryError::UpstreamMissing { manifest: true, .. }), "{missing:?}");
}

#[tokio::test]
async fn a_blob_that_is_not_its_digest_is_neither_stored_nor_served_whole() {
    let (origin, _o) = origin(1024).await;
    let (_, blobs) = push_image(&origin.registry, "library/app", "v1", "app", 1, 50_000).await;
    let c = cache(&origin, false).await;
    let app = repo("hub/library/app");
    c.service.get_manifest(&app, &tag("v1")).await.unwrap();
    let (d, want) = &blobs[1];

    for fault in [Fault::Corrupt, Fault::Cut] {
        origin.set(fault);
        let BlobPull::Arriving { size, body } = c.service.pull_blob(&app, d, true).await.unwrap() else {
            panic!("a blob not here arrives from upstream");
        };
        assert_eq!(size, want.len() as u64);
        let chunks: Vec<_> = body.collect().await;
        let got: usize = chunks.iter().filter_map(|c| c.as_ref().ok()).map(Bytes::len).sum();
        assert!(got < want.len(), "{fault:?}: the client never gets the whole blob ({got} bytes)");
        assert!(chunks.last().unwrap().is_err(), "{fault:?}: the body ends with an error");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(c.service.blob_size(&app, d).await, Err(RegistryError::BlobUnknown)), "{fault:?}");
    }
    origin.set(Fault::None);
    assert_eq!(&pull(&c.service, "hub/library/app", d).await.unwrap(), want, "a retry completes");
}

#[tokio::test]
async fn pushes_into_a_cache_are_refused_unless_its_rule_allows_them() {
    let (origin, _o) = origin(4096).await;
    let c = cache(&origin, false).await;
    let refused = c.service.start_upload(&repo("hub/library/app"), Algorithm::Sha256, "pusher").await.unwrap_err();
    assert!(matches!(refused, RegistryError::CacheReadOnly(_)), "{refused:?}");
    assert!(refused.to_string().contains("cache rule hub"), "{refused}");
    c.service.start_upload(&repo("team/app"), Algorithm::Sha256, "pusher").await.unwrap();

    let open = cache(&origin, true).await;
    open.service.start_upload(&repo("hub/library/app"), Algorithm::Sha256, "pusher").await.unwrap();
}

#[tokio::test]
async fn a_mirror_request_finds_the_repository_that_caches_it_and_nothing_else() {
    let (origin, _o) = origin(4096).await;
    let c = cache(&origin, false).await;
    let target = c.service.mirror_target("origin.test", &repo("library/app")).await.unwrap();
    assert_eq!(target.as_str(), "hub/library/app");
    for ns in ["docker.io", "elsewhere.test", "https://origin.test", "../x"] {
        let refused = c.service.mirror_target(ns, &repo("library/app")).await.unwrap_err();
        assert!(matches!(refused, RegistryError::NotMirrored(_)), "{ns}: {refused:?}");
    }
    assert_eq!(origin.total(""), 0, "nothing was dialled");
}

#[tokio::test]
async fn fsck_takes_content_not_yet_fetched_for_what_it_is() {
    let (origin, _o) = origin(4096).await;
    push_image(&origin.registry, "library/app", "v1", "app", 2, 1000).await;
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(SqliteMeta::open(&dir.path().join("cache.db")).await.unwrap());
    add_rule(&meta, "hub", "origin.test/*", "hub/*", false).await;
    let blobs = Arc::new(MemoryBlobStore::new());
    let service = replica(&meta, blobs.clone(), &origin, &Arc::new(ManualClock::starting_now()));
    service.get_manifest(&repo("hub/library/app"), &tag("v1")).await.unwrap();
    let report = berth_registry::fsck::run(blobs.as_ref(), meta.as_ref()).await.unwrap();
    assert_eq!(report.manifests_checked, 1);
    assert!(
        report.findings.iter().all(|f| !f.is_error()),
        "blobs not fetched yet are no damage: {:?}",
        report.findings
    );
}

#[tokio::test]
async fn cached_content_obeys_locks_and_garbage_collection() {
    let (origin, _o) = origin(4096).await;
    let (first, blobs) = push_image(&origin.registry, "library/app", "v1", "one", 2, 1000).await;
    let c = cache(&origin, false).await;
    let app = repo("hub/library/app");
    let v1 = Tag::parse("v1").unwrap();
    let lock = |write: bool| LockChange { write_enabled: Some(write), delete_enabled: None };
    c.service.get_manifest(&app, &tag("v1")).await.unwrap();
    for (d, want) in &blobs {
        assert_eq!(&pull(&c.service, "hub/library/app", d).await.unwrap(), want);
    }

    // A locked tag stays where it is when upstream's moves.
    c.service.set_locks(&app, Some(&v1), lock(false)).await.unwrap();
    push_image(&origin.registry, "library/app", "v1", "two", 1, 100).await;
    c.clock.advance(REVALIDATE * 2);
    assert_eq!(c.service.get_manifest(&app, &tag("v1")).await.unwrap().digest, first);
    // A write-disabled repository takes nothing new from upstream.
    c.service.set_locks(&app, None, lock(false)).await.unwrap();
    push_image(&origin.registry, "library/app", "v2", "three", 1, 100).await;
    let refused = c.service.get_manifest(&app, &tag("v2")).await.unwrap_err();
    assert!(matches!(refused, RegistryError::Locked(_)), "{refused:?}");
    c.service.set_locks(&app, None, lock(true)).await.unwrap();
    c.service.set_locks(&app, Some(&v1), lock(true)).await.unwrap();

    // Garbage collection keeps what a cached manifest uses, and takes it once it is deleted.
    c.clock.advance(Duration::from_secs(48 * 3600));
    let kept = c.service.collect_garbage(Duration::from_secs(3600), false).await.unwrap();
    assert_eq!(kept.blobs_deleted, 0, "{kept:?}");
    c.service.delete_manifest(&app, &Reference::Digest(first)).await.unwrap();
    c.clock.advance(Duration::from_secs(48 * 3600));
    let collected = c.service.collect_garbage(Duration::from_secs(3600), false).await.unwrap();
    assert_eq!(collected.blobs_deleted, blobs.len() as u64, "{collected:?}");
}

#[tokio::test]
async fn replicas_check_a_stale_tag_upstream_once_between_them() {
    let (origin, _o) = origin(4096).await;
    push_image(&origin.registry, "library/app", "v1", "app", 1, 100).await;
    let c = cache(&origin, false).await;
    let blob_store = Arc::new(MemoryBlobStore::new());
    let (a, b) =
        (replica(&c.meta, blob_store.clone(), &origin, &c.clock), replica(&c.meta, blob_store, &origin, &c.clock));
    let (app, v1) = (repo("hub/library/app"), tag("v1"));
    a.get_manifest(&app, &v1).await.unwrap();
    for round in 1..=3 {
        c.clock.advance(REVALIDATE * 2);
        let (x, y) = tokio::join!(a.get_manifest(&app, &v1), b.get_manifest(&app, &v1));
        assert_eq!(x.unwrap().digest, y.unwrap().digest);
        assert_eq!(origin.count("HEAD manifest library/app:v1"), round, "one HEAD per interval for both replicas");
    }
}

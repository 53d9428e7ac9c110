//! Pulls of cached repositories: what is here is served from here; what is missing is
//! fetched upstream once (see `flight`), verified, stored as pushed content is, and served.
//!
//! - A manifest by digest is immutable: once here it is never asked for upstream again.
//! - A tag is compared with upstream by one `HEAD` at most once per
//!   [`CacheSettings::revalidate_after`](super::CacheSettings): the same digest costs nothing
//!   more, a digest already here only moves the tag, another is fetched. When the upstream
//!   is down (429, 5xx, no answer) the cached tag is served stale, logged and counted; only a
//!   tag never cached fails, with an error naming the upstream and its answer.
//! - A blob streams to the first client while it is stored: its last bytes are sent only
//!   once the whole blob is verified and committed, so a client never receives the whole of a
//!   blob whose bytes are not its digest (nor is such a blob stored).

use super::flight::{Entry, Failure, Outcome, joined};
use super::{OpenUpstream, PullThrough};
use crate::error::RegistryError;
use crate::service::RegistryService;
use crate::uploads::Chunk;
use berth_core::cache::{CacheRule, RegistryHost};
use berth_core::manifest;
use berth_core::upstream::{UpstreamError, UpstreamLogin, UpstreamManifest};
use berth_core::{ByteStream, Digest, ManifestRecord, ManifestRefs, Reference, RepoName, Tag};
use bytes::Bytes;
use futures_util::StreamExt;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A client that has not taken a chunk for this long stops receiving the blob it led the
/// fetch of (the fetch goes on for the others).
const CLIENT_STALL: Duration = Duration::from_secs(30);

/// Chunks buffered for the client that leads a blob's fetch.
const CLIENT_BUFFER: usize = 16;

/// What a pull of a blob gets.
pub enum BlobPull {
    /// The blob is here (linked into the repository), this many bytes: serve it as any blob.
    Stored(u64),
    /// It is arriving from upstream: `body` yields its `size` bytes as they arrive, the last
    /// ones only once the whole blob is verified and stored; a blob that fails (cut, or not
    /// its digest) ends `body` with an error before its last bytes.
    Arriving {
        /// `Content-Length` upstream.
        size: u64,
        /// The bytes.
        body: ByteStream,
    },
}

/// Asks an upstream (within the cache's timeout), counts the answer, and words a failure
/// naming the upstream (`host`) and `what` was asked for.
pub(crate) async fn ask<T>(
    cache: &PullThrough,
    host: &str,
    what: &str,
    manifest: bool,
    request: impl Future<Output = Result<T, UpstreamError>>,
) -> Result<T, RegistryError> {
    let timeout = cache.settings.upstream_timeout;
    let answer = tokio::time::timeout(timeout, request)
        .await
        .unwrap_or_else(|_| Err(UpstreamError::Unreachable(format!("no answer within {} s", timeout.as_secs()))));
    cache.observer.upstream_request(status_of(&answer));
    answer.map_err(|e| match e {
        UpstreamError::NotFound => {
            RegistryError::UpstreamMissing { manifest, detail: format!("upstream {host} has no {what}") }
        }
        e => RegistryError::UpstreamFailed(format!("{what} is not here, and upstream {host} {e}")),
    })
}

/// Checks a manifest fetched as `asked` against its digest (and the digest asked for).
pub(crate) fn verify(
    host: &str,
    what: &str,
    asked: &Reference,
    m: UpstreamManifest,
) -> Result<UpstreamManifest, RegistryError> {
    let actual = Digest::of(m.digest.algorithm(), &m.bytes);
    if actual != m.digest || matches!(asked, Reference::Digest(d) if d != &actual) {
        return Err(RegistryError::UpstreamFailed(format!(
            "upstream {host} sent {what}, but its bytes are {actual}, not the digest it was asked or named for"
        )));
    }
    Ok(m)
}

/// A blob that failed to arrive whole and verified, in words naming the upstream.
pub(crate) fn broken_blob(host: &str, what: &str, e: RegistryError) -> RegistryError {
    match e {
        RegistryError::DigestInvalid(why) => {
            RegistryError::UpstreamFailed(format!("upstream {host} sent {what}, but {why}; nothing was stored"))
        }
        RegistryError::UploadInvalid(why) | RegistryError::SizeInvalid(why) => {
            RegistryError::UpstreamFailed(format!("upstream {host} broke off {what}: {why}"))
        }
        e => e,
    }
}

/// What a fetch in flight is of, in this process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FlightKey {
    /// A manifest by tag or digest.
    Manifest(RepoName, String),
    /// A tag's comparison with upstream.
    Check(RepoName, Tag),
    /// A blob.
    Blob(RepoName, Digest),
}

/// A repository a cache rule covers.
pub(crate) struct Covered {
    cache: Arc<PullThrough>,
    rule: CacheRule,
    /// The repository upstream.
    upstream: RepoName,
}

impl Covered {
    /// Where a message says the content comes from.
    fn host(&self) -> &str {
        self.rule.source.registry.api_host()
    }
}

/// The references a manifest records, all of them (a cached manifest's need not be here).
pub(crate) fn refs_of(media_type: &str, bytes: &[u8]) -> Result<ManifestRefs, manifest::ManifestError> {
    let parsed = manifest::parse(media_type, bytes)?;
    Ok(ManifestRefs { blobs: parsed.blobs, children: parsed.children, foreign: parsed.foreign })
}

fn status_of<T>(r: &Result<T, UpstreamError>) -> u16 {
    match r {
        Ok(_) | Err(UpstreamError::Invalid(_)) => 200,
        Err(UpstreamError::NotFound) => 404,
        Err(UpstreamError::Status { status, .. }) => *status,
        Err(UpstreamError::Unreachable(_)) => 0,
    }
}

impl RegistryService {
    /// The rule covering `repo`, when this registry has a pull-through cache and one does.
    pub(crate) async fn covered(&self, repo: &RepoName) -> Result<Option<Covered>, RegistryError> {
        let Some(cache) = &self.cache else { return Ok(None) };
        let rules = cache.rules.get(self.meta.as_ref()).await?;
        Ok(rules.for_target(repo).map(|m| Covered { cache: cache.clone(), rule: m.rule.clone(), upstream: m.upstream }))
    }

    /// The repository that caches `name` of registry `ns` (a mirror request's
    /// `?ns=<registry>`): refused, and never dialled, when no rule caches it.
    pub async fn mirror_target(&self, ns: &str, name: &RepoName) -> Result<RepoName, RegistryError> {
        let not_mirrored = || {
            RegistryError::NotMirrored(format!(
                "this registry mirrors no {name} of {ns:?}: no cache rule has it as its source, and \
                 other registries are not proxied"
            ))
        };
        let Some(cache) = &self.cache else { return Err(not_mirrored()) };
        let Ok(registry) = RegistryHost::parse(ns) else { return Err(not_mirrored()) };
        let rules = cache.rules.get(self.meta.as_ref()).await?;
        rules.for_upstream(&registry, name).map(|m| m.target).ok_or_else(not_mirrored)
    }

    /// Refuses a push into a repository a cache rule covers, unless the rule allows pushes.
    pub(crate) async fn refuse_push_into_cache(&self, repo: &RepoName) -> Result<(), RegistryError> {
        match self.covered(repo).await? {
            Some(c) if !c.rule.allow_push => Err(RegistryError::CacheReadOnly(format!(
                "repository {repo} is a pull-through cache of {}/{} (cache rule {}) and takes no pushes; \
                 allow them with: berth cache update -n {} --allow-push true",
                c.rule.source.registry, c.upstream, c.rule.name, c.rule.name
            ))),
            _ => Ok(()),
        }
    }

    /// The username and password of credential set `name` (opened with the credential key),
    /// `None` for an anonymous set; the set must log in to `registry`.
    pub(crate) async fn set_login(
        &self,
        cache: &PullThrough,
        name: &str,
        registry: &RegistryHost,
    ) -> Result<Option<(String, String)>, RegistryError> {
        let set = self
            .meta
            .credential_set(name)
            .await?
            .ok_or_else(|| RegistryError::UpstreamFailed(format!("credential set {name} does not exist")))?;
        if RegistryHost::parse(&set.login_server).ok().as_ref() != Some(registry) {
            return Err(RegistryError::UpstreamFailed(format!(
                "credential set {name} logs in to {}, not to {registry}",
                set.login_server
            )));
        }
        let credentials = match (set.username, set.sealed_password) {
            (Some(user), Some(sealed)) => Some((
                user,
                cache.key.open(name, &sealed).map_err(|_| {
                    RegistryError::Internal(format!(
                        "credential set {name} does not open with this registry's credential key \
                     (every replica needs the same cache.credential_key_file)"
                    ))
                })?,
            )),
            _ => None,
        };
        Ok(credentials)
    }

    /// The upstream for `c`'s rule, logged in with its credential set: the one opened
    /// before while the login is the same (so its tokens are reused).
    async fn upstream(&self, c: &Covered) -> Result<OpenUpstream, RegistryError> {
        let registry = c.rule.source.registry.clone();
        let credentials = match &c.rule.credential_set {
            None => None,
            Some(name) => self.set_login(&c.cache, name, &registry).await.map_err(|e| match e {
                RegistryError::UpstreamFailed(why) => RegistryError::UpstreamFailed(format!(
                    "cache rule {} cannot log in to {}: {why}",
                    c.rule.name,
                    c.host()
                )),
                e => e,
            })?,
        };
        let key = (registry.clone(), c.rule.credential_set.clone());
        let mut open = c.cache.upstreams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((login, u)) = open.get(&key)
            && login.credentials == credentials
        {
            return Ok(u.clone());
        }
        let login = UpstreamLogin { registry, credentials };
        let u = c.cache.connector.connect(&login);
        open.insert(key, (login, u.clone()));
        Ok(u)
    }

    /// Manifest `reference` of the cached repository `repo`.
    pub(crate) async fn cached_manifest(
        &self,
        c: Covered,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestRecord, RegistryError> {
        let observer = &c.cache.observer;
        let tag = match reference {
            Reference::Digest(d) => {
                if let Some(m) = self.meta.manifest_by_digest(repo, d).await? {
                    observer.hit("manifest");
                    return Ok(m);
                }
                observer.miss("manifest");
                return self.fill_manifest(&c, repo, reference).await;
            }
            Reference::Tag(t) => t,
        };
        let Some(cached) = self.meta.manifest_by_tag(repo, tag).await? else {
            observer.miss("manifest");
            return self.fill_manifest(&c, repo, reference).await;
        };
        let fresh = match self.meta.tag_checked_at(repo, tag).await? {
            // Pushed here (a rule that allows pushes): not upstream's to change.
            None => true,
            Some(at) => self.clock.now().saturating_sub(at) < c.cache.settings.revalidate_after.as_secs() as i64,
        };
        observer.hit("manifest");
        if fresh {
            return Ok(cached);
        }
        match c.cache.flights.enter(&FlightKey::Check(repo.clone(), tag.clone())) {
            Entry::Join(rx) => {
                observer.joined();
                joined(rx).await;
                Ok(self.meta.manifest_by_tag(repo, tag).await?.unwrap_or(cached))
            }
            Entry::Lead(leader) => {
                // One check per interval across replicas too: under a lease, and not at all
                // when another replica checked the tag since this one found it stale.
                let started = self.clock.now();
                let checked_since = || self.tag_checked_since(repo, tag, started);
                let lease_key = format!("check {repo} {tag}");
                let check = self.check_tag(&c, repo, tag, cached);
                let checked =
                    self.under_fill_lease(&lease_key, c.cache.settings.fill_lease, checked_since, check).await;
                leader.finish(Outcome::Stored);
                checked
            }
        }
    }

    /// Compares cached tag `tag` with upstream: one `HEAD`, and a `GET` only for a digest
    /// not here. Whatever the upstream answers, the tag counts as checked now.
    async fn check_tag(
        &self,
        c: &Covered,
        repo: &RepoName,
        tag: &Tag,
        cached: ManifestRecord,
    ) -> Result<ManifestRecord, RegistryError> {
        let what = format!("manifest {}:{tag}", c.upstream);
        let head = match self.upstream(c).await {
            Ok(u) => {
                ask(&c.cache, c.host(), &what, true, u.head_manifest(&c.upstream, &Reference::Tag(tag.clone()))).await
            }
            Err(e) => Err(e),
        };
        let now = self.clock.now();
        let current = match head {
            Ok(h) if h.digest == cached.digest => Ok(cached.clone()),
            Ok(h) => match self.meta.manifest_by_digest(repo, &h.digest).await? {
                Some(known) => {
                    let refs = refs_of(&known.media_type, &known.bytes)
                        .map_err(|e| RegistryError::Internal(format!("a stored manifest does not parse: {e}")))?;
                    self.meta
                        .put_cached_manifest(repo, &known, &refs, Some(tag), now)
                        .await
                        .map(|()| known)
                        .map_err(Into::into)
                }
                None => self.fill_manifest(c, repo, &Reference::Tag(tag.clone())).await,
            },
            Err(e) => Err(e),
        };
        match current {
            Ok(m) => {
                if m.digest == cached.digest {
                    self.meta.mark_tag_checked(repo, tag, now).await?;
                }
                Ok(m)
            }
            Err(e) => {
                match &e {
                    RegistryError::UpstreamMissing { .. } => {
                        tracing::info!(%repo, %tag, "the upstream no longer has this tag; its cached copy is served")
                    }
                    RegistryError::Locked(_) => {
                        tracing::info!(%repo, %tag, "the tag moved upstream but is locked here; its cached copy is served")
                    }
                    e => {
                        tracing::warn!(%repo, %tag, error = %e, "serving a cached tag stale: its upstream could not be asked");
                        c.cache.observer.stale();
                    }
                }
                self.meta.mark_tag_checked(repo, tag, now).await?;
                Ok(cached)
            }
        }
    }

    /// The manifest of tag `tag` of `repo` when the tag was compared with (or fetched from)
    /// upstream at `since` or later: by another request or replica, after this one began.
    async fn tag_checked_since(
        &self,
        repo: &RepoName,
        tag: &Tag,
        since: i64,
    ) -> Result<Option<ManifestRecord>, RegistryError> {
        match self.meta.tag_checked_at(repo, tag).await? {
            Some(at) if at >= since => Ok(self.meta.manifest_by_tag(repo, tag).await?),
            _ => Ok(None),
        }
    }

    /// Fetches manifest `reference` of the cached `repo` once, however many ask at once here
    /// and on other replicas, and stores it byte for byte (with its tag, for a tag).
    async fn fill_manifest(
        &self,
        c: &Covered,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestRecord, RegistryError> {
        let key = FlightKey::Manifest(repo.clone(), reference.to_string());
        let started = self.clock.now();
        let stored = || async move {
            match reference {
                Reference::Digest(d) => Ok(self.meta.manifest_by_digest(repo, d).await?),
                Reference::Tag(t) => self.tag_checked_since(repo, t, started).await,
            }
        };
        match c.cache.flights.enter(&key) {
            Entry::Join(rx) => {
                c.cache.observer.joined();
                match joined(rx).await {
                    Outcome::Stored => stored().await?.ok_or(RegistryError::ManifestUnknown),
                    Outcome::Failed(f) => Err(f.into()),
                }
            }
            Entry::Lead(leader) => {
                let lease_key = format!("manifest {repo} {reference}");
                let filled = self
                    .under_fill_lease(
                        &lease_key,
                        c.cache.settings.fill_lease,
                        stored,
                        self.fetch_manifest(c, repo, reference),
                    )
                    .await;
                leader.finish(match &filled {
                    Ok(_) => Outcome::Stored,
                    Err(e) => Outcome::Failed(Failure::from(e)),
                });
                filled
            }
        }
    }

    async fn fetch_manifest(
        &self,
        c: &Covered,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestRecord, RegistryError> {
        let what = format!("manifest {}:{reference}", c.upstream);
        let upstream = self.upstream(c).await?;
        let max = self.limits.max_manifest_bytes;
        let got = ask(&c.cache, c.host(), &what, true, upstream.manifest(&c.upstream, reference, max)).await?;
        c.cache.observer.fetched(got.bytes.len() as u64);
        let got = verify(c.host(), &what, reference, got)?;
        let parsed = manifest::parse(&got.media_type, &got.bytes)
            .map_err(|e| RegistryError::UpstreamFailed(format!("upstream {} sent {what}, but {e}", c.host())))?;
        let record = ManifestRecord {
            digest: got.digest,
            media_type: parsed.media_type,
            bytes: got.bytes,
            artifact_type: parsed.artifact_type,
            subject: parsed.subject,
            annotations: parsed.annotations,
        };
        let refs = ManifestRefs { blobs: parsed.blobs, children: parsed.children, foreign: parsed.foreign };
        let tag = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        self.meta.put_cached_manifest(repo, &record, &refs, tag, self.clock.now()).await?;
        Ok(record)
    }

    /// Blob `digest` of `repo` for a pull: here, or (in a cached repository) fetched upstream.
    /// With `stream`, a blob fetched for this request arrives as it is stored; without, the
    /// answer waits until it is stored.
    ///
    /// A blob another repository holds is fetched all the same, never linked: a manifest
    /// upstream may name any digest (anyone can push one to Docker Hub), and linking on its
    /// word would hand out another repository's blob to whoever may pull this one. The
    /// upstream's answer for this repository is the proof; the bytes are stored once.
    pub async fn pull_blob(
        self: &Arc<Self>,
        repo: &RepoName,
        digest: &Digest,
        stream: bool,
    ) -> Result<BlobPull, RegistryError> {
        if let Some(size) = self.meta.repo_blob(repo, digest).await? {
            return Ok(BlobPull::Stored(size));
        }
        let Some(c) = self.covered(repo).await? else { return Err(RegistryError::BlobUnknown) };
        // What a request that waited for the fetch (another's, or its own task's) answers.
        let after = |rx| async move {
            match joined(rx).await {
                Outcome::Stored => {
                    self.meta.repo_blob(repo, digest).await?.map(BlobPull::Stored).ok_or(RegistryError::BlobUnknown)
                }
                Outcome::Failed(f) => Err(f.into()),
            }
        };
        let leader = match c.cache.flights.enter(&FlightKey::Blob(repo.clone(), digest.clone())) {
            Entry::Join(rx) => {
                c.cache.observer.joined();
                return after(rx).await;
            }
            Entry::Lead(leader) => leader,
        };
        c.cache.observer.miss("blob");
        let outcome = leader.subscribe();
        let (start_tx, start_rx) = oneshot::channel();
        let (this, repo2, digest2) = (self.clone(), repo.clone(), digest.clone());
        // A task of its own: the fetch goes on when this request's client goes away.
        tokio::spawn(async move {
            let filled = this.fill_blob(&c, &repo2, &digest2, stream.then_some(start_tx)).await;
            leader.finish(match &filled {
                Ok(_) => Outcome::Stored,
                Err(e) => {
                    tracing::warn!(repo = %repo2, digest = %digest2, error = %e, "a cached blob could not be fetched");
                    Outcome::Failed(Failure::from(e))
                }
            });
        });
        if let Ok((size, body)) = start_rx.await {
            return Ok(BlobPull::Arriving { size, body });
        }
        after(outcome).await
    }

    /// Fetches blob `digest` of the cached `repo` once across replicas, through an upload
    /// session (verified, then committed and linked). With `client`, the bytes are also sent
    /// there as they arrive (see [`BlobPull::Arriving`]), when the upstream gives a length.
    async fn fill_blob(
        &self,
        c: &Covered,
        repo: &RepoName,
        digest: &Digest,
        client: Option<oneshot::Sender<(u64, ByteStream)>>,
    ) -> Result<u64, RegistryError> {
        let lease_key = format!("blob {repo} {digest}");
        let stored = || async { Ok(self.meta.repo_blob(repo, digest).await?) };
        let fetch = async {
            let what = format!("blob {digest} of {}", c.upstream);
            let upstream = self.upstream(c).await?;
            let blob = ask(&c.cache, c.host(), &what, false, upstream.blob(&c.upstream, digest)).await?;
            let session = self.open_upload(repo, digest.algorithm(), &format!("cache:{}", c.rule.name)).await?;
            let tx = match (client, blob.size) {
                (Some(client), Some(size)) if size > 0 => {
                    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
                    let _ = client.send((size, receiver_stream(rx)));
                    Some(tx)
                }
                _ => None,
            };
            let last: LastChunk = Arc::new(Mutex::new(None));
            let body = tee(read_ahead(blob.body), tx, last.clone(), c.cache.clone());
            let chunk = Chunk { range: None, length: blob.size };
            // The last bytes go to the client once the digest is verified, while the commit
            // syncs: a verified blob is right even if storing it then fails.
            let (verified, on_verified) = oneshot::channel();
            let release = async {
                if on_verified.await.is_ok() {
                    let held = last.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some((tx, chunk)) = held {
                        let _ = tokio::time::timeout(CLIENT_STALL, tx.send(Ok(chunk))).await;
                    }
                }
            };
            let finishing = self.finish_announcing(repo, &session.id, digest, chunk, Some(body), Some(verified));
            let (stored, ()) = tokio::join!(finishing, release);
            let held = last.lock().unwrap_or_else(|p| p.into_inner()).take();
            match stored {
                Ok(size) => Ok(size),
                Err(e) => {
                    if let Some((tx, _)) = held {
                        let _ = tx.try_send(Err(io::Error::other("the blob failed verification upstream")));
                    }
                    let _ = self.cancel_upload(repo, &session.id).await;
                    Err(broken_blob(c.host(), &what, e))
                }
            }
        };
        self.under_fill_lease(&lease_key, c.cache.settings.fill_lease, stored, fetch).await
    }
}

/// Chunks read from upstream ahead of the upload that stores them.
const READ_AHEAD: usize = 64;

/// `body` read by a task of its own, up to [`READ_AHEAD`] chunks ahead: the upstream keeps
/// sending while a chunk is written to storage.
fn read_ahead(mut body: ByteStream) -> ByteStream {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::spawn(async move {
        while let Some(chunk) = body.next().await {
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    receiver_stream(rx)
}

/// What `rx` receives, as a stream.
fn receiver_stream(rx: mpsc::Receiver<io::Result<Bytes>>) -> ByteStream {
    futures_util::stream::unfold(rx, |mut rx| async { rx.recv().await.map(|x| (x, rx)) }).boxed()
}

/// The slot where [`tee`] leaves the client's sender and the last chunk, held back until the
/// blob is verified.
type LastChunk = Arc<Mutex<Option<(mpsc::Sender<io::Result<Bytes>>, Bytes)>>>;

/// The upstream's bytes as the upload reads them, each chunk but the last also sent to
/// `client` (a client slower than [`CLIENT_STALL`] is let go); counts the bytes fetched.
fn tee(
    upstream: ByteStream,
    client: Option<mpsc::Sender<io::Result<Bytes>>>,
    last: LastChunk,
    cache: Arc<PullThrough>,
) -> ByteStream {
    struct Tee {
        upstream: ByteStream,
        client: Option<mpsc::Sender<io::Result<Bytes>>>,
        held: Option<Bytes>,
        last: LastChunk,
        cache: Arc<PullThrough>,
        failed: bool,
    }
    async fn give(client: &mut Option<mpsc::Sender<io::Result<Bytes>>>, item: io::Result<Bytes>) {
        let Some(tx) = client else { return };
        // A timer only when the client is behind (the usual chunk finds room at once).
        let sent = match tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(item)) => {
                matches!(tokio::time::timeout(CLIENT_STALL, tx.send(item)).await, Ok(Ok(())))
            }
        };
        if !sent {
            *client = None;
        }
    }
    let state = Tee { upstream, client, held: None, last, cache, failed: false };
    futures_util::stream::unfold(state, |mut t| async move {
        if t.failed {
            return None;
        }
        match t.upstream.next().await {
            Some(Ok(chunk)) => {
                t.cache.observer.fetched(chunk.len() as u64);
                if let Some(previous) = t.held.replace(chunk.clone()) {
                    give(&mut t.client, Ok(previous)).await;
                }
                Some((Ok(chunk), t))
            }
            Some(Err(e)) => {
                t.failed = true;
                give(&mut t.client, Err(io::Error::new(e.kind(), e.to_string()))).await;
                t.client = None;
                Some((Err(e), t))
            }
            None => {
                if let (Some(tx), Some(chunk)) = (t.client.take(), t.held.take()) {
                    *t.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((tx, chunk));
                }
                None
            }
        }
    })
    .boxed()
}

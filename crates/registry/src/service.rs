//! [`RegistryService`]: the registry's operations on repositories, blobs, tags and referrers.
//! Uploads and manifests are in their own modules, as further `impl` blocks.

use crate::cache::PullThrough;
use crate::claims::BusySet;
use crate::clock::{Clock, SystemClock};
use crate::error::RegistryError;
use crate::gc::DigestLocks;
use crate::tag_lists::{TagLists, TagPage};
use berth_core::range::ByteRange;
use berth_core::{
    BlobFile, BlobStore, ByteStream, DeletedRepository, Digest, LockChange, Locks, MetadataStore, Page, Referrer,
    RepoName, RepositoryInfo, StorageError, Tag, TagInfo, UploadCaps, UploadSession,
};
use std::sync::Arc;

/// Limits the service enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// Upload sessions open at once, per principal and per repository.
    pub uploads: UploadCaps,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: berth_core::manifest::MAX_MANIFEST_BYTES,
            uploads: UploadCaps { per_owner: 200, per_repository: 1000 },
        }
    }
}

/// The registry: everything the OCI endpoints do, on top of the storage traits.
pub struct RegistryService {
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) meta: Arc<dyn MetadataStore>,
    pub(crate) limits: Limits,
    /// What upload expiry, garbage collection and purges take as now.
    pub(crate) clock: Arc<dyn Clock>,
    /// Uploads with a request in flight here: a second concurrent request on one upload is
    /// refused rather than interleaved (see crate::claims for other replicas').
    pub(crate) busy: BusySet,
    /// Whether other processes use these stores (replicas): then a claim on an upload is also
    /// taken in the metadata store (see crate::claims).
    pub(crate) shared: bool,
    tag_lists: TagLists,
    /// Serialises what links a blob with what garbage collection deletes, per digest.
    pub(crate) digest_locks: DigestLocks,
    /// The pull-through cache, when there is one.
    pub(crate) cache: Option<Arc<PullThrough>>,
}

/// What a mount request became.
#[derive(Debug)]
pub enum MountOutcome {
    /// The blob is now linked into the repository (201).
    Mounted,
    /// It could not be mounted; an ordinary upload session began (202).
    Session(UploadSession),
}

impl RegistryService {
    /// A service over the given stores, on the system clock.
    pub fn new(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetadataStore>, limits: Limits) -> Self {
        RegistryService {
            blobs,
            meta,
            limits,
            clock: Arc::new(SystemClock),
            busy: BusySet::default(),
            shared: true,
            tag_lists: TagLists::default(),
            digest_locks: DigestLocks::default(),
            cache: None,
        }
    }

    /// The service with a pull-through cache: repositories its rules cover are filled from
    /// upstream on demand.
    pub fn with_pull_through(mut self, cache: PullThrough) -> Self {
        self.cache = Some(Arc::new(cache));
        self
    }

    /// The service going by `clock` instead (for an upload's start, upload expiry, garbage
    /// collection's grace and purge ages).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The service for a process that alone uses its stores (SQLite under the data directory's
    /// lock): an upload's claim stays in this process, which saves two metadata writes (two
    /// fsyncs on SQLite) per chunk; the offset the caller read is still checked once claimed.
    pub fn with_stores_alone(mut self) -> Self {
        self.shared = false;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether both stores answer (for `/readyz`).
    pub async fn ready(&self) -> Result<(), RegistryError> {
        self.meta.ping().await?;
        self.blobs.ping().await?;
        Ok(())
    }

    /// What the registry holds, counted ([`berth_core::usage::Usage`]).
    pub async fn usage(&self) -> Result<berth_core::usage::Usage, RegistryError> {
        Ok(self.meta.usage().await?)
    }

    /// Each store's answer to a ping, with how long it took: the metadata store's, then the
    /// blob store's.
    pub async fn store_health(&self) -> [(&'static str, Result<std::time::Duration, RegistryError>); 2] {
        let started = std::time::Instant::now();
        let meta = self.meta.ping().await.map(|()| started.elapsed()).map_err(RegistryError::from);
        let started = std::time::Instant::now();
        let blobs = self.blobs.ping().await.map(|()| started.elapsed()).map_err(RegistryError::from);
        [("metadata", meta), ("blobs", blobs)]
    }

    /// Size of a blob linked into `repo`.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64, RegistryError> {
        self.meta.repo_blob(repo, digest).await?.ok_or(RegistryError::BlobUnknown)
    }

    /// The chunk size the blob store would like at least (`OCI-Chunk-Min-Length`), 0 for none.
    pub fn min_chunk_len(&self) -> u64 {
        self.blobs.min_chunk_len()
    }

    /// Where a client may fetch blob `digest` directly, when the blob store hands out URLs.
    pub async fn blob_redirect(&self, digest: &Digest) -> Result<Option<String>, RegistryError> {
        Ok(self.blobs.redirect_url(digest).await?)
    }

    /// Streams a blob of `repo` (all of it, or `range`).
    pub async fn read_blob(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, RegistryError> {
        match self.blobs.read(digest, range).await {
            Ok(s) => Ok(s),
            Err(StorageError::NotFound) => {
                tracing::error!(%digest, "blob recorded in metadata is missing from storage");
                Err(RegistryError::BlobUnknown)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The blob (all of it, or `range`) as a local file, when the blob store keeps it in one;
    /// `None` means stream it with [`RegistryService::read_blob`].
    pub async fn blob_file(
        &self,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<Option<BlobFile>, RegistryError> {
        match self.blobs.open_file(digest, range).await {
            Ok(f) => Ok(f),
            Err(StorageError::NotFound) => {
                tracing::error!(%digest, "blob recorded in metadata is missing from storage");
                Err(RegistryError::BlobUnknown)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Unlinks a blob from `repo`. The bytes stay until garbage collection finds them unused.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        if self.meta.unlink_blob(repo, digest).await? { Ok(()) } else { Err(RegistryError::BlobUnknown) }
    }

    /// Up to `limit` repositories holding blob `digest`, in name order: the candidates a mount
    /// without `from` chooses among (only those the caller may read; the server decides which).
    pub async fn repositories_holding(&self, digest: &Digest, limit: u32) -> Result<Vec<RepoName>, RegistryError> {
        Ok(self.meta.repositories_holding(digest, limit).await?)
    }

    /// Links `digest` from `from` into `repo` when `from` holds it; otherwise starts an upload
    /// owned by `owner`, within the upload caps as [`Self::start_upload`]. The caller must be
    /// allowed to read `from`: mounting gives `repo` its content.
    pub async fn mount(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
        owner: &str,
    ) -> Result<MountOutcome, RegistryError> {
        self.refuse_if_write_disabled(repo).await?;
        self.refuse_push_into_cache(repo).await?;
        if let Some(from) = from {
            // Under the digest's lock: garbage collection must not delete the blob between
            // the check and the link (see crate::gc).
            let mounted = self
                .under_digest_lock(digest, async {
                    let Some(size) = self.meta.repo_blob(from, digest).await? else { return Ok(false) };
                    self.meta.link_blob(repo, digest, size).await?;
                    Ok(true)
                })
                .await?;
            if mounted {
                return Ok(MountOutcome::Mounted);
            }
        }
        Ok(MountOutcome::Session(self.open_upload(repo, digest.algorithm(), owner).await?))
    }

    /// Tags of `repo` in byte order, paged: always the database's current list, usually from
    /// this replica's copy (see the `tag_lists` module).
    pub async fn tags(&self, repo: &RepoName, page: &Page) -> Result<TagPage, RegistryError> {
        self.tag_lists.page(self.meta.as_ref(), repo, page).await?.ok_or(RegistryError::NameUnknown)
    }

    /// Deletes every tag, manifest and blob link of `repo` at once, as ACR's
    /// `DELETE /acr/v1/{name}`; the bytes stay until garbage collection finds them unused.
    pub async fn delete_repository(&self, repo: &RepoName) -> Result<DeletedRepository, RegistryError> {
        self.meta.delete_repository(repo).await?.ok_or(RegistryError::NameUnknown)
    }

    /// A known repository's counts and locks.
    pub async fn repository_info(&self, repo: &RepoName) -> Result<RepositoryInfo, RegistryError> {
        self.meta.repository_info(repo).await?.ok_or(RegistryError::NameUnknown)
    }

    /// `Locked` while `repo` is write-disabled: pushes stop at their first request rather than
    /// after every blob is uploaded (the manifest PUT would be refused anyway).
    pub(crate) async fn refuse_if_write_disabled(&self, repo: &RepoName) -> Result<(), RegistryError> {
        if self.meta.repository_writable(repo).await? {
            Ok(())
        } else {
            Err(RegistryError::Locked(format!("repository {repo}")))
        }
    }

    /// A tag's manifest and locks.
    pub async fn tag_info(&self, repo: &RepoName, tag: &Tag) -> Result<TagInfo, RegistryError> {
        self.meta.tag_info(repo, tag).await?.ok_or(RegistryError::ManifestUnknown)
    }

    /// Changes the locks of a repository, or of one of its tags (ACR's image locking); the
    /// locks now. See [`berth_core::ContentStore::set_locks`] for what they forbid.
    pub async fn set_locks(
        &self,
        repo: &RepoName,
        tag: Option<&Tag>,
        change: LockChange,
    ) -> Result<Locks, RegistryError> {
        let unknown = if tag.is_some() { RegistryError::ManifestUnknown } else { RegistryError::NameUnknown };
        self.meta.set_locks(repo, tag, change).await?.ok_or(unknown)
    }

    /// Repository names in byte order, paged.
    pub async fn catalog(&self, page: &Page) -> Result<Vec<String>, RegistryError> {
        Ok(self.meta.list_repos(page).await?)
    }

    /// Manifests of `repo` whose subject is `subject`, optionally filtered by artifact type.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, RegistryError> {
        Ok(self.meta.referrers(repo, subject, artifact_type).await?)
    }
}

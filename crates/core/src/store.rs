//! The storage traits: [`BlobStore`] holds bytes by digest, [`MetadataStore`] holds what
//! repositories, tags, manifests and uploads mean, in parts: [`ContentStore`] (what
//! repositories hold), [`UploadStore`] (upload sessions) and [`MaintenanceStore`] (garbage
//! collection, purge, fsck and migration). Implementations live in `berth-storage` and
//! `berth-meta`; the registry sees only these traits.

use crate::browse::BrowseStore;
use crate::cache_store::CacheStore;
use crate::digest::{Digest, Hasher};
use crate::name::{RepoName, Tag};
use crate::range::ByteRange;
use crate::upload::{UploadId, UploadSession};
use crate::usage::UsageStore;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::io;

/// A stream of bytes, as read from a client or from storage.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// Bytes of a committed blob that sit in a local file: `len` bytes from `start` of `file`.
/// A server may send them straight from the page cache (`sendfile(2)`) instead of streaming
/// them through user space.
#[derive(Debug)]
pub struct BlobFile {
    /// The blob's file, open for reading.
    pub file: std::fs::File,
    /// Offset of the first byte to send.
    pub start: u64,
    /// Bytes to send.
    pub len: u64,
}

/// Size of a stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// Errors of a [`BlobStore`]. No HTTP in here: the server maps them.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The blob or upload does not exist.
    #[error("not found")]
    NotFound,
    /// An append did not start where the upload ends.
    #[error("offset mismatch: upload holds {current} bytes")]
    OffsetMismatch {
        /// Bytes the upload holds.
        current: u64,
    },
    /// The client's body failed (disconnect, timeout, short body). Nothing was kept.
    #[error("request body: {0}")]
    Body(io::Error),
    /// The append would exceed the caller's limit.
    #[error("more bytes than announced")]
    TooLong,
    /// The backend failed or is unreachable.
    #[error("storage unavailable: {0}")]
    Unavailable(io::Error),
}

/// Content-addressed bytes. Knows nothing about repositories, tags or callers.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Size of a committed blob, `None` if absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError>;

    /// Streams a committed blob, or the inclusive `range` of it. `NotFound` if absent.
    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StorageError>;

    /// The committed blob (or the inclusive `range` of it) as a local file, for stores that
    /// keep blobs in files; `None` (the default) means use [`BlobStore::read`]. `NotFound` if
    /// absent.
    async fn open_file(&self, _digest: &Digest, _range: Option<ByteRange>) -> Result<Option<BlobFile>, StorageError> {
        Ok(None)
    }

    /// Removes a committed blob. Idempotent: an absent blob is `Ok`.
    async fn delete(&self, digest: &Digest) -> Result<(), StorageError>;

    /// Every committed blob (for `fsck` and garbage collection).
    async fn list(&self) -> Result<Vec<Digest>, StorageError>;

    /// Creates an empty upload. Idempotent.
    async fn begin_upload(&self, id: &UploadId) -> Result<(), StorageError>;

    /// Appends `body` at `offset`, feeding every byte to `hasher`, and returns the new size
    /// and the hasher. Bytes beyond `offset` left by an earlier failed append are discarded
    /// first; fewer bytes than `offset` is `OffsetMismatch`. Past `max_len` total bytes the
    /// append stops with `TooLong`. The appended bytes are durable when this returns `Ok`;
    /// on error the upload's durable length is still `offset`.
    ///
    /// The caller serialises appends to one upload (the registry claims the upload in the
    /// metadata store first, see [`UploadStore::claim_upload`]). A store may refuse a
    /// concurrent append itself with `OffsetMismatch` (the file-system and in-memory stores
    /// do); one that cannot (S3, whose racing appends would write the same keys) relies on
    /// the caller.
    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        body: ByteStream,
        hasher: Hasher,
        max_len: Option<u64>,
    ) -> Result<(u64, Hasher), StorageError>;

    /// Makes the first `size` bytes of the upload the blob `digest` (already verified by the
    /// caller from the hash state) and removes the upload. Atomic: the blob is either absent
    /// or complete and durable. Committing a blob that already exists just drops the upload.
    async fn commit(&self, id: &UploadId, size: u64, digest: &Digest) -> Result<(), StorageError>;

    /// Streams the first `size` bytes of an upload (to re-hash it under another algorithm).
    async fn read_upload(&self, id: &UploadId, size: u64) -> Result<ByteStream, StorageError>;

    /// Discards an upload. Idempotent.
    async fn abort(&self, id: &UploadId) -> Result<(), StorageError>;

    /// Fails when the backend cannot serve (for `/readyz`).
    async fn ping(&self) -> Result<(), StorageError>;

    /// The smallest chunk (but the last) this store would like in a chunked upload, advertised
    /// to clients as `OCI-Chunk-Min-Length`; 0 for none. Smaller chunks are still accepted.
    fn min_chunk_len(&self) -> u64 {
        0
    }

    /// A short-lived URL a client may fetch the whole committed blob from directly, when this
    /// store hands them out (an S3 presigned URL); `None` means stream it through the registry.
    async fn redirect_url(&self, _digest: &Digest) -> Result<Option<String>, StorageError> {
        Ok(None)
    }
}

/// Errors of a [`MetadataStore`].
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// A manifest references blobs or manifests the repository does not hold.
    #[error("missing references")]
    MissingReferences(Vec<Digest>),
    /// A conditional update lost a race (another request moved the upload first).
    #[error("conflict")]
    Conflict,
    /// A lock forbids the change: the text names what is locked (`repository team/app`,
    /// `tag v1`).
    #[error("{0} is locked")]
    Locked(String),
    /// A tag still reaches what was to be removed (a blob its manifest uses, a child manifest
    /// its index lists): the text names it (`tag v1`).
    #[error("{0} still uses it")]
    InUse(String),
    /// The database failed or is unreachable: clients may retry (503).
    #[error("metadata unavailable: {0}")]
    Unavailable(String),
    /// A stored value is unreadable or breaks an invariant the store keeps: damage or a bug,
    /// which a retry does not cure (500). The text names what, never a secret.
    #[error("metadata corrupt: {0}")]
    Corrupt(String),
}

/// ACR's changeable attributes that Berth enforces on a repository or a tag (image locking): a
/// write-disabled one takes no new content and no deletes, a delete-disabled one no deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locks {
    /// Pushes (and deletes) allowed.
    pub write_enabled: bool,
    /// Deletes allowed (when writes are too).
    pub delete_enabled: bool,
}

impl Default for Locks {
    fn default() -> Self {
        Locks { write_enabled: true, delete_enabled: true }
    }
}

/// A change of [`Locks`]; `None` leaves that flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockChange {
    /// New `write_enabled`.
    pub write_enabled: Option<bool>,
    /// New `delete_enabled`.
    pub delete_enabled: Option<bool>,
}

/// What `az acr repository show` tells of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryInfo {
    /// When it was created (seconds since the epoch).
    pub created_at: i64,
    /// Manifests it holds.
    pub manifest_count: u64,
    /// Tags it holds.
    pub tag_count: u64,
    /// Its locks.
    pub locks: Locks,
}

/// What `az acr repository show --image R:TAG` tells of a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// The manifest it names.
    pub digest: Digest,
    /// When it last moved (seconds since the epoch).
    pub updated_at: i64,
    /// Its locks.
    pub locks: Locks,
}

/// A manifest as stored: exact bytes plus what the registry indexes about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRecord {
    /// Digest of `bytes`.
    pub digest: Digest,
    /// Media type served as `Content-Type`.
    pub media_type: String,
    /// The bytes exactly as pushed.
    pub bytes: Bytes,
    /// `artifactType`, else the config media type.
    pub artifact_type: Option<String>,
    /// Subject digest, for the referrers index.
    pub subject: Option<Digest>,
    /// Annotations as JSON text.
    pub annotations: Option<String>,
}

/// What a manifest references: each must be present in its repository when it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestRefs {
    /// Blobs (config and layers) that must be linked in the repository.
    pub blobs: Vec<Digest>,
    /// Child manifests of an index that must exist in the repository.
    pub children: Vec<Digest>,
    /// Layers that may live elsewhere (with `urls`, or non-distributable): need not be
    /// present, but those the repository holds are recorded as references like any blob, so
    /// garbage collection keeps the bytes the client pushed.
    pub foreign: Vec<Digest>,
}

/// A time a repository keeps, for [`MaintenanceStore::all_times`] and [`MaintenanceStore::set_time`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dated {
    /// The repository's creation time.
    Repository,
    /// A manifest's creation time (what `purge --untagged --ago` counts from).
    Manifest(Digest),
    /// When a tag last moved.
    Tag(Tag),
}

/// One entry of a referrers response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The referring manifest's digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its annotations as JSON text.
    pub annotations: Option<String>,
}

/// What [`ContentStore::delete_repository`] removed, each list in byte order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedRepository {
    /// Digests of the manifests deleted.
    pub manifests: Vec<String>,
    /// Names of the tags deleted.
    pub tags: Vec<String>,
}

/// One page request: at most `n` items strictly after `last`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Results start strictly after this value.
    pub last: Option<String>,
    /// At most this many results; `None` means all.
    pub n: Option<u32>,
}

/// How many upload sessions may be open at once, for [`UploadStore::create_upload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadCaps {
    /// Sessions one owner (the subject that opened them) may hold.
    pub per_owner: u32,
    /// Sessions one repository may hold, whoever opened them.
    pub per_repository: u32,
}

/// The cap that refused a new upload session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadCap {
    /// [`UploadCaps::per_owner`].
    Owner,
    /// [`UploadCaps::per_repository`].
    Repository,
}

/// A lock on one digest across processes, from [`ContentStore::lock_digest`]. Dropping it
/// unreleased also frees it, less cheaply (the store gives up the connection holding it).
#[async_trait]
pub trait DigestLease: Send {
    /// Frees the lock.
    async fn release(self: Box<Self>) -> Result<(), MetaError>;
}

/// What repositories hold: blob links, manifests, tags, referrers, the repositories
/// themselves with their locks, and the digest locks that keep linking a blob apart from
/// deleting it. What the registry reads and writes to serve the distribution API.
#[async_trait]
pub trait ContentStore: Send + Sync + 'static {
    /// Fails when the database cannot serve (for `/readyz`).
    async fn ping(&self) -> Result<(), MetaError>;

    /// Size of `digest` if it is a committed blob anywhere in the registry.
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, MetaError>;

    /// Size of `digest` if it is linked into `repo`.
    async fn repo_blob(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>, MetaError>;

    /// Up to `limit` repositories that hold blob `digest`, in name order (the candidates of a
    /// mount without `from`).
    async fn repositories_holding(&self, digest: &Digest, limit: u32) -> Result<Vec<RepoName>, MetaError>;

    /// The blobs recorded as references of manifest `digest` in `repo` (what garbage
    /// collection keeps for it: its config and layers, and the foreign layers the repository
    /// held when it was pushed), in digest order; empty for an unknown manifest.
    async fn manifest_blob_refs(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<Digest>, MetaError>;

    /// Links a committed blob into `repo` (creating the repository). Idempotent.
    async fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<(), MetaError>;

    /// Unlinks a blob from `repo`; `false` if it was not linked.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError>;

    /// In one transaction: checks every reference in `refs` is present in `repo`
    /// (`MissingReferences` otherwise, nothing written), stores the manifest, indexes its
    /// subject and points every tag of `tags` at it.
    async fn put_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        refs: &ManifestRefs,
        tags: &[Tag],
    ) -> Result<(), MetaError>;

    /// The manifest a tag points to.
    async fn manifest_by_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<ManifestRecord>, MetaError>;

    /// A manifest of `repo` by digest.
    async fn manifest_by_digest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ManifestRecord>, MetaError>;

    /// Deletes a manifest and every tag pointing at it; `false` if absent.
    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError>;

    /// Deletes a tag; `false` if absent.
    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool, MetaError>;

    /// In one transaction: deletes every tag, manifest and blob link of `repo` (the blobs
    /// themselves are left to garbage collection); `None` if it held none. Writes to `repo`
    /// that race with it land wholly before or wholly after it.
    async fn delete_repository(&self, repo: &RepoName) -> Result<Option<DeletedRepository>, MetaError>;

    /// A known repository's counts and locks.
    async fn repository_info(&self, repo: &RepoName) -> Result<Option<RepositoryInfo>, MetaError>;

    /// Whether `repo` takes new content: false only while it is write-disabled (an unknown
    /// repository takes it).
    async fn repository_writable(&self, repo: &RepoName) -> Result<bool, MetaError>;

    /// A tag's manifest and locks.
    async fn tag_info(&self, repo: &RepoName, tag: &Tag) -> Result<Option<TagInfo>, MetaError>;

    /// Changes the locks of known repository `repo`, or of its tag `tag`; the locks now, `None`
    /// if there is no such repository or tag. While a repository or tag is write-disabled,
    /// [`Self::put_manifest`] refuses to add to the repository or move the tag (naming the
    /// manifest it already names is no change); while it is write- or delete-disabled the
    /// deletes refuse to remove it (a manifest goes with its tags, a repository with all of
    /// them). Refusals are [`MetaError::Locked`] and change nothing.
    async fn set_locks(
        &self,
        repo: &RepoName,
        tag: Option<&Tag>,
        change: LockChange,
    ) -> Result<Option<Locks>, MetaError>;

    /// Tags of `repo` in byte order, paged; `None` if the repository is unknown.
    ///
    /// A repository is known while it holds a manifest or a blob link: one emptied by
    /// [`Self::delete_repository`] (or by deletes and garbage collection) is unknown here, in
    /// [`Self::tag_generation`] and in [`Self::list_repos`].
    async fn list_tags(&self, repo: &RepoName, page: &Page) -> Result<Option<Vec<String>>, MetaError>;

    /// A number that changes whenever a tag name is added to `repo` or removed from it, and
    /// never returns to an earlier value; `None` if the repository is unknown. Moving a tag to
    /// another manifest need not change it: it tells whether [`Self::list_tags`] would answer
    /// differently, so a replica may keep a list as long as the number stays the same.
    async fn tag_generation(&self, repo: &RepoName) -> Result<Option<u64>, MetaError>;

    /// Names of the known repositories in byte order, paged.
    async fn list_repos(&self, page: &Page) -> Result<Vec<String>, MetaError>;

    /// Manifests of `repo` whose subject is `subject`, optionally of one artifact type.
    async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, MetaError>;

    /// Locks `digest` for every process sharing this store, until the lease is released:
    /// linking a blob (with committing its bytes) and deleting it (record and bytes) run under
    /// it. A store one process owns answers `None`; that process's own lock is enough.
    async fn lock_digest(&self, _digest: &Digest) -> Result<Option<Box<dyn DigestLease>>, MetaError> {
        Ok(None)
    }
}

/// Upload sessions: their caps, the claims that let one request at a time append, and
/// their expiry.
#[async_trait]
pub trait UploadStore: Send + Sync + 'static {
    /// Records a new upload session unless its owner already holds `caps.per_owner` sessions
    /// (`Ok(Err(UploadCap::Owner))`) or its repository `caps.per_repository`
    /// (`Ok(Err(UploadCap::Repository))`); a refused session is not recorded. Every session
    /// stored counts, until it is completed, deleted or expired.
    ///
    /// The count and the insert are one serialised step per owner and per repository, also
    /// across processes sharing the store: concurrent calls never take more sessions than
    /// the caps allow.
    async fn create_upload(&self, s: &UploadSession, caps: UploadCaps) -> Result<Result<(), UploadCap>, MetaError>;

    /// An upload session by id.
    async fn upload(&self, id: &UploadId) -> Result<Option<UploadSession>, MetaError>;

    /// Moves an upload from `from_offset` to `s.offset` with `s.hash_state`; `Conflict` if
    /// its stored offset is no longer `from_offset` (a concurrent request won).
    async fn advance_upload(&self, s: &UploadSession, from_offset: u64) -> Result<(), MetaError>;

    /// Claims upload `id` for `holder` until `until` (seconds since the epoch), so that one
    /// request at a time, across every process sharing the store, appends to it or ends it.
    /// `true` only when the session exists, its offset is still `offset` (what the caller read
    /// before claiming: a request that read a stale offset is refused) and no other holder's
    /// claim lasts past `now`. A holder's claim may be taken again by the same holder.
    async fn claim_upload(
        &self,
        id: &UploadId,
        offset: u64,
        holder: &str,
        until: i64,
        now: i64,
    ) -> Result<bool, MetaError>;

    /// Extends `holder`'s claim on upload `id` to `until`; `false` when `holder` no longer
    /// holds it (another took it over after it expired, or the session is gone).
    async fn renew_upload_claim(&self, id: &UploadId, holder: &str, until: i64) -> Result<bool, MetaError>;

    /// Ends `holder`'s claim on upload `id`, if it still holds it; anyone may claim it then.
    async fn release_upload(&self, id: &UploadId, holder: &str) -> Result<(), MetaError>;

    /// Ends every upload claim: for a server that owns the store alone (SQLite under the data
    /// directory's lock) at start, so the claims of a process that died mid-append (held until
    /// their lease ran out) do not refuse its clients' next chunk.
    async fn drop_upload_claims(&self) -> Result<u64, MetaError>;

    /// In one transaction: removes the upload and links blob `digest` into its repository.
    async fn complete_upload(
        &self,
        id: &UploadId,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), MetaError>;

    /// Removes an upload session; `false` if absent.
    async fn delete_upload(&self, id: &UploadId) -> Result<bool, MetaError>;

    /// Removes up to `limit` upload sessions last created or advanced before `idle_since`
    /// (seconds since the epoch) and returns their IDs, so their bytes can be dropped. A
    /// session advanced meanwhile is kept; two callers never both get the same ID.
    async fn expire_uploads(&self, idle_since: i64, limit: u32) -> Result<Vec<UploadId>, MetaError>;
}

/// What garbage collection, `purge`, `fsck` and `berth migrate` need beyond the content
/// itself: the bulk reads over every repository, the removals of what nothing uses, and the
/// times a migration carries over.
#[async_trait]
pub trait MaintenanceStore: ContentStore {
    /// Garbage collection, step 1: removes the links of blobs into repositories that no
    /// manifest of that repository references and that were last linked before
    /// `linked_before` (seconds since the epoch); how many. With `dry_run`, only counts them.
    async fn drop_unreferenced_links(&self, linked_before: i64, dry_run: bool) -> Result<u64, MetaError>;

    /// Garbage collection, step 2: blobs recorded before `created_before` that no manifest
    /// references and that no link keeps (a link keeps a blob when it is newer than
    /// `created_before` or referenced in its repository), with their sizes. The same answer
    /// before and after step 1, so a dry run can report it.
    async fn unused_blobs(&self, created_before: i64) -> Result<Vec<(Digest, u64)>, MetaError>;

    /// Manifests created at or before `created_before` (seconds since the epoch) that no tag names,
    /// no index of their repository lists, and that refer to no subject (referrers stay with
    /// what they describe): `(repository, digest)` in order. Candidates for a purge.
    async fn untagged_manifests(&self, created_before: i64) -> Result<Vec<(String, Digest)>, MetaError>;

    /// Deletes manifest `digest` of `repo` if it is still such a candidate (checked in the
    /// deleting transaction, so a tag pushed meanwhile saves it); whether it did. A locked
    /// repository refuses, as in [`ContentStore::delete_manifest`].
    async fn delete_untagged_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError>;

    /// Removes blob `digest`'s record if no link and no manifest refers to it any more; whether
    /// it did. The caller deletes the bytes afterwards, holding the digest's lock across both.
    async fn drop_unused_blob(&self, digest: &Digest) -> Result<bool, MetaError>;

    /// Every time [`Self::set_time`] sets: `(repository, what, seconds since the epoch)` for
    /// every repository, manifest and tag, ordered by repository.
    async fn all_times(&self) -> Result<Vec<(String, Dated, i64)>, MetaError>;

    /// Sets the time `what` of repository `repo` keeps to `at` (seconds since the epoch);
    /// `false` if there is no such repository, manifest or tag. For `berth migrate`, which
    /// keeps the source's times. Locks do not refuse it: it changes no content.
    async fn set_time(&self, repo: &RepoName, what: &Dated, at: i64) -> Result<bool, MetaError>;

    /// Every blob known to the registry with its recorded size (for `fsck`).
    async fn all_blobs(&self) -> Result<Vec<(Digest, u64)>, MetaError>;

    /// Every manifest of every repository (for `fsck`), as (repository, record).
    async fn all_manifests(&self) -> Result<Vec<(String, ManifestRecord)>, MetaError>;
}

/// Repository-scoped metadata, whole: the source of truth for what is visible where. Every
/// type that is each of its parts ([`ContentStore`], [`UploadStore`], [`MaintenanceStore`],
/// [`CacheStore`], [`BrowseStore`], [`UsageStore`]) is one; callers that need a single part take
/// that part.
pub trait MetadataStore: ContentStore + UploadStore + MaintenanceStore + CacheStore + BrowseStore + UsageStore {}

impl<T: ContentStore + UploadStore + MaintenanceStore + CacheStore + BrowseStore + UsageStore> MetadataStore for T {}

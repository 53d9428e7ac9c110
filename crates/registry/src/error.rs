//! The registry's domain errors. The server turns each into the spec's error JSON.

use berth_core::{Digest, ErrorCode, MetaError, StorageError};

/// Why a registry operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The blob is not in the repository.
    #[error("blob unknown to registry")]
    BlobUnknown,
    /// No such upload session in this repository.
    #[error("blob upload unknown to registry")]
    UploadUnknown,
    /// The upload request is malformed or its body failed.
    #[error("{0}")]
    UploadInvalid(String),
    /// The content does not match the digest given, or the digest is malformed.
    #[error("{0}")]
    DigestInvalid(String),
    /// The digest's algorithm is well formed but not one Berth verifies.
    #[error("unsupported digest algorithm {0:?}")]
    DigestUnsupported(String),
    /// A manifest references blobs or manifests missing from the repository.
    #[error("manifest references unknown blobs or manifests: {}", list(.0))]
    ManifestBlobUnknown(Vec<Digest>),
    /// The manifest is malformed or inconsistent.
    #[error("{0}")]
    ManifestInvalid(String),
    /// No such manifest or tag.
    #[error("manifest unknown to registry")]
    ManifestUnknown,
    /// The repository does not exist.
    #[error("repository name not known to registry")]
    NameUnknown,
    /// `Content-Length` disagrees with `Content-Range` or the body.
    #[error("{0}")]
    SizeInvalid(String),
    /// A chunk does not start where the upload ends; `current` bytes are held.
    #[error("chunk does not start at offset {current}")]
    RangeInvalid {
        /// Bytes the upload holds.
        current: u64,
    },
    /// The body exceeds a limit.
    #[error("{0}")]
    TooLarge(String),
    /// A lock (ACR's writeEnabled/deleteEnabled) forbids the change.
    #[error("{0} is locked (writeEnabled or deleteEnabled is false); unlock it first")]
    Locked(String),
    /// A tag still reaches the blob or child manifest to be deleted.
    #[error("{0} of this repository still uses it; delete or move that tag (or the index that lists it) first")]
    InUse(String),
    /// The caller or the repository holds as many open upload sessions as allowed; the text
    /// says which cap and how to free a slot.
    #[error("{0}")]
    TooManyUploads(String),
    /// A cached repository's upstream has no such manifest (`manifest`) or blob; the text
    /// names the upstream.
    #[error("{detail}")]
    UpstreamMissing {
        /// A manifest (else a blob).
        manifest: bool,
        /// What the upstream said, naming it.
        detail: String,
    },
    /// A cached repository's upstream could not give what is not cached (it is down, rate
    /// limits, refuses the login, or sent bad data); the text names it and its answer (503).
    #[error("{0}")]
    UpstreamFailed(String),
    /// An import would move a tag that points at another image (without `force`).
    #[error("{0}")]
    TagExists(String),
    /// A mirror request names a registry, or a repository of it, that no cache rule caches.
    #[error("{0}")]
    NotMirrored(String),
    /// The repository is a pull-through cache that takes no pushes; the text names its rule.
    #[error("{0}")]
    CacheReadOnly(String),
    /// Storage or metadata is unreachable: the client may retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// Stored data is damaged or an invariant is broken: a bug or damage, not an outage, so
    /// the client must not retry (500). The text is for the log only.
    #[error("{0}")]
    Internal(String),
}

fn list(d: &[Digest]) -> String {
    d.iter().map(Digest::to_string).collect::<Vec<_>>().join(", ")
}

impl RegistryError {
    /// The spec error code, which decides the HTTP status.
    pub fn code(&self) -> ErrorCode {
        match self {
            RegistryError::BlobUnknown => ErrorCode::BlobUnknown,
            RegistryError::UploadUnknown => ErrorCode::BlobUploadUnknown,
            RegistryError::UploadInvalid(_) => ErrorCode::BlobUploadInvalid,
            RegistryError::DigestInvalid(_) | RegistryError::DigestUnsupported(_) => ErrorCode::DigestInvalid,
            RegistryError::ManifestBlobUnknown(_) => ErrorCode::ManifestBlobUnknown,
            RegistryError::ManifestInvalid(_) => ErrorCode::ManifestInvalid,
            RegistryError::ManifestUnknown => ErrorCode::ManifestUnknown,
            RegistryError::NameUnknown => ErrorCode::NameUnknown,
            RegistryError::SizeInvalid(_) => ErrorCode::SizeInvalid,
            RegistryError::RangeInvalid { .. } => ErrorCode::RangeInvalid,
            RegistryError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            RegistryError::Locked(_) | RegistryError::InUse(_) => ErrorCode::Denied,
            RegistryError::TooManyUploads(_) => ErrorCode::TooManyRequests,
            RegistryError::Unavailable(_) | RegistryError::UpstreamFailed(_) => ErrorCode::Unavailable,
            RegistryError::UpstreamMissing { manifest: true, .. } => ErrorCode::ManifestUnknown,
            RegistryError::UpstreamMissing { manifest: false, .. } => ErrorCode::BlobUnknown,
            RegistryError::CacheReadOnly(_) => ErrorCode::Denied,
            RegistryError::NotMirrored(_) => ErrorCode::NameUnknown,
            RegistryError::TagExists(_) => ErrorCode::Conflict,
            RegistryError::Internal(_) => ErrorCode::Unknown,
        }
    }
}

impl From<MetaError> for RegistryError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::MissingReferences(d) => RegistryError::ManifestBlobUnknown(d),
            MetaError::Conflict => RegistryError::UploadInvalid("the upload was changed concurrently".into()),
            MetaError::Locked(what) => RegistryError::Locked(what),
            MetaError::InUse(what) => RegistryError::InUse(what),
            MetaError::Unavailable(s) => RegistryError::Unavailable(s),
            MetaError::Corrupt(s) => RegistryError::Internal(s),
        }
    }
}

/// A storage error of an upload's bytes: "not found" there means the session ended meanwhile
/// (finished, cancelled or expired by another request), which the client hears as
/// `BLOB_UPLOAD_UNKNOWN`.
pub(crate) fn upload_gone(e: StorageError) -> RegistryError {
    match e {
        StorageError::NotFound => RegistryError::UploadUnknown,
        e => e.into(),
    }
}

/// Every call site decides what "not found" means there (`upload_gone`, or the blob reads in
/// `service.rs`); one that did not is a store that lost what the metadata records: 500.
impl From<StorageError> for RegistryError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => RegistryError::Internal("storage lost an object the metadata records".into()),
            StorageError::OffsetMismatch { current } => RegistryError::RangeInvalid { current },
            StorageError::Body(e) => RegistryError::UploadInvalid(format!("request body failed: {e}")),
            StorageError::TooLong => {
                RegistryError::SizeInvalid("body longer than its Content-Length or Content-Range".into())
            }
            StorageError::Unavailable(e) => RegistryError::Unavailable(e.to_string()),
        }
    }
}

//! An upstream registry as the pull-through cache sees it: resolve a manifest, fetch it,
//! stream a blob. `berth-client` implements it with the registry's own token flow; the
//! registry sees only this trait.

use crate::cache::RegistryHost;
use crate::digest::Digest;
use crate::name::{Reference, RepoName};
use crate::store::ByteStream;
use async_trait::async_trait;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// Who to be at an upstream registry: anonymous, or a username and password (from a
/// credential set). `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamLogin {
    /// The registry.
    pub registry: RegistryHost,
    /// Username and password, when not anonymous.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for UpstreamLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.credentials.as_ref().map(|(u, _)| u.as_str());
        f.debug_struct("UpstreamLogin").field("registry", &self.registry).field("username", &user).finish()
    }
}

/// What a `HEAD` of a manifest tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// `Docker-Content-Digest`.
    pub digest: Digest,
    /// The media type (essence of `Content-Type`).
    pub media_type: String,
    /// `Content-Length`.
    pub size: u64,
}

/// A manifest fetched upstream, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamManifest {
    /// Digest of `bytes` (checked against the reference, or against the upstream's
    /// `Docker-Content-Digest` for a tag).
    pub digest: Digest,
    /// Its media type: `Content-Type`'s essence, or the body's `mediaType`.
    pub media_type: String,
    /// The bytes.
    pub bytes: Bytes,
}

/// A blob as it arrives from upstream: not yet verified (the caller hashes what it stores).
pub struct UpstreamBlob {
    /// `Content-Length`, when sent.
    pub size: Option<u64>,
    /// The bytes; the stream ends with an error when the upstream stops sending for longer
    /// than the connector's idle timeout or cuts the body.
    pub body: ByteStream,
}

/// Why an upstream request failed. `Display` is the rest of a sentence whose subject is the
/// upstream ("upstream ghcr.io answered 429 …"; the registry adds the name), and never holds a
/// credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream has no such manifest or blob (404).
    #[error("has no such manifest or blob")]
    NotFound,
    /// The upstream answered with another error status.
    #[error("answered {status}{detail}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The upstream's error, parenthesised and escaped, or empty.
        detail: String,
    },
    /// No answer: connection refused, DNS, TLS or a timeout.
    #[error("could not be reached: {0}")]
    Unreachable(String),
    /// The answer was unusable: a digest that does not match, a manifest too large.
    #[error("gave an unusable answer: {0}")]
    Invalid(String),
}

impl UpstreamError {
    /// Whether this is an outage rather than an answer about the content: rate limiting
    /// (429), a server error (5xx) or no answer. A cached tag is served stale on these.
    pub fn is_outage(&self) -> bool {
        match self {
            UpstreamError::Status { status, .. } => *status == 429 || *status >= 500,
            UpstreamError::Unreachable(_) => true,
            UpstreamError::NotFound | UpstreamError::Invalid(_) => false,
        }
    }
}

/// One upstream registry, logged in as one [`UpstreamLogin`]. Implementations keep their
/// tokens between calls (logging in on every pull burns an upstream's rate limit).
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// `HEAD` of manifest `reference` of `repo` (free of Docker Hub's pull limit).
    async fn head_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<ManifestHead, UpstreamError>;

    /// `GET` of manifest `reference` of `repo`, at most `max_bytes` long.
    async fn manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        max_bytes: usize,
    ) -> Result<UpstreamManifest, UpstreamError>;

    /// `GET` of blob `digest` of `repo`, streamed.
    async fn blob(&self, repo: &RepoName, digest: &Digest) -> Result<UpstreamBlob, UpstreamError>;
}

/// Opens [`Upstream`]s. The registry keeps what it opens for as long as the login stays the
/// same, so a connector need not cache.
pub trait UpstreamConnector: Send + Sync + 'static {
    /// The upstream `login.registry`, logged in as `login`.
    fn connect(&self, login: &UpstreamLogin) -> Arc<dyn Upstream>;
}

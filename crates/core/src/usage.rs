//! How much the registry holds, as its status page reports it: repositories, tags, manifests,
//! and the blobs stored with their bytes (compressed, each blob once however many
//! repositories link it, including blobs no manifest names until garbage collection removes
//! them), and the uploads in progress.

use crate::store::MetaError;
use async_trait::async_trait;

/// The registry's contents, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Repositories holding anything.
    pub repositories: u64,
    /// Tags.
    pub tags: u64,
    /// Manifests (one per repository that holds it).
    pub manifests: u64,
    /// Distinct blobs stored.
    pub blobs: u64,
    /// Their bytes, each blob counted once.
    pub blob_bytes: u64,
    /// Upload sessions not yet finished or expired.
    pub uploads: u64,
}

/// Counts the registry's contents, answered by the metadata store of either database.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// The counts now (each read on its own; a push running meanwhile may show in some).
    async fn usage(&self) -> Result<Usage, MetaError>;
}

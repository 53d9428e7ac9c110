//! berth-core: the vocabulary every other Berth crate shares.
//!
//! Identifiers with validating constructors ([`Digest`], [`RepoName`], [`Tag`], [`Reference`],
//! [`UploadId`]), the OCI error-code table ([`ErrorCode`]), manifest parsing and validation,
//! `Range`/`Content-Range` grammar, the access grammar with the pure policy function
//! [`access::grant`], roles and the permissions they add up to ([`roles`]), the principal,
//! credential and token records with the [`IdentityStore`] trait that keeps them
//! ([`principals`]), the web UI's sessions ([`sessions`]) and what it browses ([`browse`]),
//! the admin API's request and response bodies ([`admin_api`]), the
//! storage traits [`BlobStore`] and [`MetadataStore`], and the pull-through cache's rules
//! ([`cache`]), records ([`cache_store`]) and upstream registries ([`upstream`]).
//!
//! Dependency rule: this crate is below everything. It knows no HTTP framework, no database
//! driver and no cloud SDK.
#![deny(missing_docs)]

pub mod access;
pub mod admin_api;
pub mod browse;
pub mod cache;
pub mod cache_store;
pub mod digest;
pub mod error;
pub mod federation;
pub mod manifest;
pub mod media;
pub mod name;
pub mod principals;
pub mod range;
pub mod roles;
pub mod scopemap;
pub mod sessions;
pub mod store;
pub mod upload;
pub mod upstream;
pub mod usage;

pub use cache_store::CacheStore;
pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use error::ErrorCode;
pub use name::{NameError, Reference, RepoName, Tag};
pub use principals::IdentityStore;
pub use store::{
    BlobFile, BlobMeta, BlobStore, ByteStream, ContentStore, Dated, DeletedRepository, DigestLease, LockChange, Locks,
    MaintenanceStore, ManifestRecord, ManifestRefs, MetaError, MetadataStore, Page, Referrer, RepositoryInfo,
    StorageError, TagInfo, UploadCap, UploadCaps, UploadStore,
};
pub use upload::{UploadId, UploadSession};
pub use upstream::{Upstream, UpstreamConnector, UpstreamError};

//! berth-registry: what the registry does, independent of HTTP and of storage engines.
//!
//! [`RegistryService`] implements push, pull, uploads, mount, referrers and deletes on top of
//! the `BlobStore` and `MetadataStore` traits; [`admin`] administers identities (principals,
//! credentials, roles, tokens, scope maps, settings); [`cache`] is the pull-through cache;
//! [`fsck`] checks stored data against itself; [`browse`] reads what the web UI shows.
//!
//! Dependency rule: depends on `berth-core` only. It never names a concrete store, an HTTP type
//! or a database driver; `cli` wires the implementations in.

pub mod admin;
pub mod auth;
pub mod browse;
pub mod cache;
mod claims;
pub mod clock;
mod error;
pub mod fsck;
mod gc;
mod manifests;
mod service;
mod tag_lists;
mod uploads;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::RegistryError;
pub use gc::{GcReport, PurgeReport};
pub use manifests::PutManifest;
pub use service::{Limits, MountOutcome, RegistryService};
pub use tag_lists::TagPage;
pub use uploads::Chunk;

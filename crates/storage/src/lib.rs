//! berth-storage: implementations of [`berth_core::BlobStore`].
//!
//! Dependency rule: depends on `berth-core` only; the registry never names these types,
//! only `cli` wires them in (the registry's own tests take [`MemoryBlobStore`] as a
//! dev-dependency).

pub mod fs;
pub mod memory;
pub mod s3;
pub mod testsuite;

pub use fs::FsBlobStore;
pub use memory::MemoryBlobStore;
pub use s3::{S3BlobStore, S3Settings};

//! berth-storage: implementations of [`berth_core::BlobStore`].
//!
//! Dependency rule: depends on `berth-core` only; the registry never names these types,
//! only `cli` wires them in.

pub mod fs;
pub mod testsuite;

pub use fs::FsBlobStore;

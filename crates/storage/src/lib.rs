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

use berth_core::{Hasher, StorageError};
use bytes::Bytes;

/// One chunk of an append's body, counted into `end` and fed to `hasher`: the body's failure
/// is `Body`, a chunk that takes `end` past `max_len` is `TooLong` (and is not hashed).
pub(crate) fn received(
    chunk: std::io::Result<Bytes>,
    end: &mut u64,
    max_len: Option<u64>,
    hasher: &mut Hasher,
) -> Result<Bytes, StorageError> {
    let chunk = chunk.map_err(StorageError::Body)?;
    *end += chunk.len() as u64;
    if max_len.is_some_and(|max| *end > max) {
        return Err(StorageError::TooLong);
    }
    hasher.update(&chunk);
    Ok(chunk)
}

//! Blobs in memory: a complete [`BlobStore`] in one process, for tests of what the registry
//! does (uploads, mounts, manifests, garbage collection) without a disk or a network.
//!
//! It keeps the contract of the other stores and runs their testsuite: an append starts at the
//! upload's length or before it (discarding what lies past it), a failed append keeps the
//! upload at its earlier length, a second append while one is in flight on the same upload is
//! refused with [`StorageError::OffsetMismatch`], a commit makes the blob visible whole and at
//! once. Nothing is durable beyond the value itself; it has no files ([`BlobStore::open_file`]
//! answers `None`) and hands out no redirects.

use async_trait::async_trait;
use berth_core::range::ByteRange;
use berth_core::{BlobStore, ByteStream, Digest, Hasher, StorageError, UploadId};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

/// Committed blobs and uploads in progress, in memory.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    blobs: BTreeMap<Digest, Bytes>,
    uploads: HashMap<UploadId, Upload>,
}

#[derive(Debug, Default)]
struct Upload {
    data: Vec<u8>,
    /// An append is receiving its body: another one on this upload is refused.
    appending: bool,
}

/// Clears an upload's `appending` mark however the append ends, also when it is dropped.
struct Appending<'a> {
    store: &'a MemoryBlobStore,
    id: UploadId,
}

impl Drop for Appending<'_> {
    fn drop(&mut self) {
        if let Some(upload) = self.store.lock().uploads.get_mut(&self.id) {
            upload.appending = false;
        }
    }
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryBlobStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The inclusive `range` of `bytes` (clamped to them), or all of them.
fn slice(bytes: &Bytes, range: Option<ByteRange>) -> Bytes {
    let len = bytes.len() as u64;
    match range {
        Some(r) => bytes.slice(r.start.min(len) as usize..r.end.saturating_add(1).min(len) as usize),
        None => bytes.clone(),
    }
}

fn stream(bytes: Bytes) -> ByteStream {
    futures_util::stream::iter([Ok(bytes)]).boxed()
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        Ok(self.lock().blobs.get(digest).map(|b| b.len() as u64))
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let bytes = self.lock().blobs.get(digest).map(|b| slice(b, range)).ok_or(StorageError::NotFound)?;
        Ok(stream(bytes))
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        self.lock().blobs.remove(digest);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Digest>, StorageError> {
        Ok(self.lock().blobs.keys().cloned().collect())
    }

    async fn begin_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        self.lock().uploads.entry(id.clone()).or_default();
        Ok(())
    }

    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        mut body: ByteStream,
        mut hasher: Hasher,
        max_len: Option<u64>,
    ) -> Result<(u64, Hasher), StorageError> {
        {
            let mut state = self.lock();
            let upload = state.uploads.get_mut(id).ok_or(StorageError::NotFound)?;
            let len = upload.data.len() as u64;
            if upload.appending || len < offset {
                return Err(StorageError::OffsetMismatch { current: len });
            }
            upload.data.truncate(offset as usize);
            upload.appending = true;
        }
        let _appending = Appending { store: self, id: id.clone() };
        let mut received = Vec::new();
        let mut end = offset;
        while let Some(chunk) = body.next().await {
            received.extend_from_slice(&crate::received(chunk, &mut end, max_len, &mut hasher)?);
        }
        // Aborted meanwhile: nothing to append to.
        self.lock().uploads.get_mut(id).ok_or(StorageError::NotFound)?.data.extend_from_slice(&received);
        Ok((end, hasher))
    }

    async fn commit(&self, id: &UploadId, size: u64, digest: &Digest) -> Result<(), StorageError> {
        let mut state = self.lock();
        let upload = state.uploads.get(id).ok_or(StorageError::NotFound)?;
        let len = upload.data.len() as u64;
        if len < size {
            return Err(StorageError::OffsetMismatch { current: len });
        }
        let mut upload = state.uploads.remove(id).unwrap_or_default();
        upload.data.truncate(size as usize);
        state.blobs.entry(digest.clone()).or_insert_with(|| Bytes::from(upload.data));
        Ok(())
    }

    async fn read_upload(&self, id: &UploadId, size: u64) -> Result<ByteStream, StorageError> {
        let state = self.lock();
        let upload = state.uploads.get(id).ok_or(StorageError::NotFound)?;
        let len = upload.data.len() as u64;
        if len < size {
            return Err(StorageError::OffsetMismatch { current: len });
        }
        Ok(stream(Bytes::copy_from_slice(&upload.data[..size as usize])))
    }

    async fn abort(&self, id: &UploadId) -> Result<(), StorageError> {
        self.lock().uploads.remove(id);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn passes_the_storage_testsuite() {
        let store = super::MemoryBlobStore::new();
        crate::testsuite::run(&store).await;
        crate::testsuite::concurrent_appends_one_wins(&store).await;
    }
}

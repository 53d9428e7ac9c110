//! The filesystem blob store, the embedded default.
//!
//! ```text
//! <root>/
//!   blobs/<algorithm>/<first two hex>/<hex>   committed blobs, immutable
//!   uploads/<uuid>                            uploads in progress
//! ```
//!
//! Both trees sit on one filesystem so a commit is a `rename`. Every path is built from a
//! validated [`Digest`] or [`UploadId`] (lowercase hex and a canonical UUID), so no input can
//! name a file outside the root. A commit syncs the file, renames it into place and syncs the
//! directory: a blob is visible only when complete and durable.

use async_trait::async_trait;
use berth_core::range::ByteRange;
use berth_core::{Algorithm, BlobFile, ByteStream, Digest, Hasher, StorageError, UploadId};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Bytes gathered before one write (and one hash update) on the blocking writer thread.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Bytes per read when streaming a blob out (over TLS, or an upload being re-hashed; plain
/// HTTP sends blob files with `sendfile(2)` instead). Two per download are in memory.
const READ_BUFFER: usize = 128 * 1024;

/// Blobs and uploads under one directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

fn unavailable(e: io::Error) -> StorageError {
    StorageError::Unavailable(e)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StorageError::Unavailable(io::Error::other(e)))?
}

/// A committed blob's file and size; `NotFound` if absent.
fn open_blob(path: &Path) -> Result<(File, u64), StorageError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StorageError::NotFound,
        _ => unavailable(e),
    })?;
    let size = file.metadata().map_err(unavailable)?.len();
    Ok((file, size))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl FsBlobStore {
    /// Opens (creating if needed) a store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs"))?;
        fs::create_dir_all(root.join("uploads"))?;
        Ok(FsBlobStore { root })
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join(d.algorithm().as_str()).join(&d.hex()[..2]).join(d.hex())
    }

    fn upload_path(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }
}

/// Streams bytes `start..end` of `file`. Each read runs as its own blocking task and the next
/// one starts before the current chunk is yielded, so disk reads overlap with the network, no
/// thread waits on a slow client, and at most two chunks per download are in memory. A chunk
/// the consumer has dropped is read into again (so a download reuses two buffers instead of
/// allocating, faulting in and zeroing a fresh one per chunk).
fn stream_file(file: File, start: u64, end: u64) -> ByteStream {
    struct Reader {
        file: Arc<File>,
        pos: u64,
        end: u64,
        next: Option<JoinHandle<io::Result<Bytes>>>,
        /// Chunks handed out earlier: once the consumer drops its copy, the buffer is ours again.
        spare: Vec<Bytes>,
    }
    impl Reader {
        /// A buffer of `n` bytes: a spare one nobody else holds, or a new one.
        fn buffer(&mut self, n: usize) -> BytesMut {
            let mut reused = None;
            self.spare.retain_mut(|b| {
                if reused.is_some() || !b.is_unique() {
                    return true;
                }
                reused = std::mem::take(b).try_into_mut().ok();
                false
            });
            let mut buf = reused.unwrap_or_default();
            if buf.len() >= n {
                buf.truncate(n);
            } else {
                buf.resize(n, 0);
            }
            buf
        }

        fn read_next(&mut self) {
            if self.pos >= self.end {
                return;
            }
            let n = (self.end - self.pos).min(READ_BUFFER as u64) as usize;
            let (file, pos, mut buf) = (self.file.clone(), self.pos, self.buffer(n));
            self.next = Some(tokio::task::spawn_blocking(move || {
                file.read_exact_at(&mut buf, pos)?;
                Ok(buf.freeze())
            }));
        }
    }
    let mut reader = Reader { file: Arc::new(file), pos: start, end, next: None, spare: Vec::with_capacity(2) };
    reader.read_next();
    futures_util::stream::unfold(reader, |mut r| async move {
        let chunk = r.next.take()?.await.unwrap_or_else(|e| Err(io::Error::other(e)));
        if let Ok(bytes) = &chunk {
            r.pos += bytes.len() as u64;
            if r.spare.len() == 2 {
                r.spare.remove(0);
            }
            r.spare.push(bytes.clone());
            r.read_next();
        }
        Some((chunk, r))
    })
    .boxed()
}

/// Hashes and writes an upload's buffers, one blocking task at a time, while the caller
/// receives the next buffer: no thread waits on a slow client.
struct ChunkWriter {
    file: Arc<File>,
    pos: u64,
    hasher: Option<Hasher>,
    inflight: Option<JoinHandle<io::Result<Hasher>>>,
}

impl ChunkWriter {
    fn new(file: File, pos: u64, hasher: Hasher) -> Self {
        ChunkWriter { file: Arc::new(file), pos, hasher: Some(hasher), inflight: None }
    }

    async fn wait(&mut self) -> io::Result<()> {
        if let Some(task) = self.inflight.take() {
            self.hasher = Some(task.await.map_err(io::Error::other)??);
        }
        Ok(())
    }

    /// Queues `buf` after the previous write has finished.
    async fn push(&mut self, buf: Bytes) -> io::Result<()> {
        self.wait().await?;
        let mut hasher = self.hasher.take().ok_or_else(|| io::Error::other("upload writer lost its hash state"))?;
        let (file, pos) = (self.file.clone(), self.pos);
        self.pos += buf.len() as u64;
        self.inflight = Some(tokio::task::spawn_blocking(move || {
            hasher.update(&buf);
            file.write_all_at(&buf, pos)?;
            Ok(hasher)
        }));
        Ok(())
    }

    /// Waits for the last write and syncs the file; the hash of everything written.
    async fn finish(mut self) -> io::Result<Hasher> {
        self.wait().await?;
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data()).await.map_err(io::Error::other)??;
        self.hasher.take().ok_or_else(|| io::Error::other("upload writer lost its hash state"))
    }
}

#[async_trait]
impl berth_core::BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let path = self.blob_path(digest);
        let (file, size) = blocking(move || open_blob(&path)).await?;
        Ok(match range {
            Some(r) => stream_file(file, r.start, (r.end + 1).min(size)),
            None => stream_file(file, 0, size),
        })
    }

    async fn open_file(&self, digest: &Digest, range: Option<ByteRange>) -> Result<Option<BlobFile>, StorageError> {
        let path = self.blob_path(digest);
        let (file, size) = blocking(move || open_blob(&path)).await?;
        let (start, end) = match range {
            Some(r) => (r.start.min(size), (r.end + 1).min(size)),
            None => (0, size),
        };
        Ok(Some(BlobFile { file, start, len: end.saturating_sub(start) }))
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn list(&self) -> Result<Vec<Digest>, StorageError> {
        let root = self.root.join("blobs");
        blocking(move || {
            let mut out = Vec::new();
            for alg in [Algorithm::Sha256, Algorithm::Sha512] {
                let dir = root.join(alg.as_str());
                let Ok(prefixes) = fs::read_dir(&dir) else { continue };
                for prefix in prefixes {
                    for entry in fs::read_dir(prefix.map_err(unavailable)?.path()).map_err(unavailable)? {
                        let name = entry.map_err(unavailable)?.file_name();
                        if let Ok(d) = Digest::parse(&format!("{}:{}", alg.as_str(), name.to_string_lossy())) {
                            out.push(d);
                        }
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }

    async fn begin_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        let path = self.upload_path(id);
        blocking(move || {
            OpenOptions::new().create(true).append(true).open(&path).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        mut body: ByteStream,
        hasher: Hasher,
        max_len: Option<u64>,
    ) -> Result<(u64, Hasher), StorageError> {
        let path = self.upload_path(id);
        let file = blocking(move || {
            let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StorageError::NotFound,
                _ => unavailable(e),
            })?;
            let len = file.metadata().map_err(unavailable)?.len();
            // Held until the append ends (the file closes): a concurrent append on this
            // upload is refused before it touches a byte.
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Err(StorageError::OffsetMismatch { current: len }),
                Err(std::fs::TryLockError::Error(e)) => return Err(unavailable(e)),
            }
            if len < offset {
                return Err(StorageError::OffsetMismatch { current: len });
            }
            if len > offset {
                file.set_len(offset).map_err(unavailable)?;
            }
            Ok(file)
        })
        .await?;

        let mut writer = ChunkWriter::new(file, offset, hasher);
        let mut total = offset;
        let mut pending = BytesMut::new();
        let mut failure = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    failure = Some(StorageError::Body(e));
                    break;
                }
            };
            total += chunk.len() as u64;
            if max_len.is_some_and(|m| total > m) {
                failure = Some(StorageError::TooLong);
                break;
            }
            pending.extend_from_slice(&chunk);
            if pending.len() >= WRITE_BUFFER
                && let Err(e) = writer.push(pending.split().freeze()).await
            {
                failure = Some(unavailable(e));
                break;
            }
        }
        if failure.is_none() && !pending.is_empty() {
            failure = writer.push(pending.freeze()).await.err().map(unavailable);
        }
        let written = match failure {
            None => writer.finish().await.map_err(unavailable),
            Some(failure) => {
                // No write may land after the truncation below, nor hold the lock past it.
                let _ = writer.wait().await;
                drop(writer);
                Err(failure)
            }
        };
        match written {
            Ok(hasher) => Ok((total, hasher)),
            Err(failure) => {
                // Leave the upload at its durable length `offset`.
                let path = self.upload_path(id);
                blocking(move || {
                    OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(offset)).map_err(unavailable)
                })
                .await?;
                Err(failure)
            }
        }
    }

    async fn commit(&self, id: &UploadId, size: u64, digest: &Digest) -> Result<(), StorageError> {
        let from = self.upload_path(id);
        let to = self.blob_path(digest);
        blocking(move || {
            let file = OpenOptions::new().write(true).open(&from).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StorageError::NotFound,
                _ => unavailable(e),
            })?;
            let len = file.metadata().map_err(unavailable)?.len();
            if len < size {
                return Err(StorageError::OffsetMismatch { current: len });
            }
            if to.exists() {
                fs::remove_file(&from).map_err(unavailable)?;
                return Ok(());
            }
            if len > size {
                file.set_len(size).map_err(unavailable)?;
            }
            file.sync_all().map_err(unavailable)?;
            let dir = to.parent().expect("blob paths have a parent");
            fs::create_dir_all(dir).map_err(unavailable)?;
            fs::rename(&from, &to).map_err(unavailable)?;
            sync_dir(dir).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn read_upload(&self, id: &UploadId, size: u64) -> Result<ByteStream, StorageError> {
        let path = self.upload_path(id);
        let file = blocking(move || {
            File::open(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StorageError::NotFound,
                _ => unavailable(e),
            })
        })
        .await?;
        Ok(stream_file(file, 0, size))
    }

    async fn abort(&self, id: &UploadId) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn ping(&self) -> Result<(), StorageError> {
        let root = self.root.clone();
        blocking(move || {
            for dir in ["blobs", "uploads"] {
                let m = fs::metadata(root.join(dir)).map_err(unavailable)?;
                if !m.is_dir() {
                    return Err(unavailable(io::Error::other(format!("{dir} is not a directory"))));
                }
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use berth_core::range::ByteRange;
    use berth_core::{Algorithm, BlobStore, Digest, Hasher, StorageError, UploadId};
    use bytes::Bytes;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn passes_the_storage_testsuite() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::FsBlobStore::open(dir.path()).unwrap();
        crate::testsuite::run(&store).await;
        crate::testsuite::concurrent_appends_one_wins(&store).await;
    }

    /// A blob of several read buffers and an odd tail, committed into a fresh store.
    async fn stored(len: usize) -> (tempfile::TempDir, super::FsBlobStore, Digest, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let store = super::FsBlobStore::open(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let digest = Digest::of(Algorithm::Sha256, &bytes);
        let id = UploadId::generate();
        store.begin_upload(&id).await.unwrap();
        let body = futures_util::stream::iter([Ok(Bytes::from(bytes.clone()))]).boxed();
        store.append(&id, 0, body, Hasher::new(Algorithm::Sha256), None).await.unwrap();
        store.commit(&id, len as u64, &digest).await.unwrap();
        (dir, store, digest, bytes)
    }

    /// Issue 12: chunks are read into buffers the consumer has dropped, never into one it
    /// still holds: a consumer that keeps every chunk and one that drops each get the same bytes.
    #[tokio::test]
    async fn streaming_reuses_only_buffers_the_consumer_dropped() {
        let (_dir, store, digest, bytes) = stored(3 * super::READ_BUFFER + 5).await;
        let kept: Vec<Bytes> = store.read(&digest, None).await.unwrap().map(Result::unwrap).collect().await;
        assert!(kept.len() >= 4);
        assert!(kept.concat() == bytes, "chunks still held were never overwritten");
        let mut dropped = Vec::new();
        let mut stream = store.read(&digest, None).await.unwrap();
        while let Some(chunk) = stream.next().await {
            dropped.extend_from_slice(&chunk.unwrap());
        }
        assert!(dropped == bytes);
    }

    /// Issue 12: the file a blob is sent from, with the offset and length of a range.
    #[tokio::test]
    async fn open_file_gives_the_range() {
        use std::os::unix::fs::FileExt;
        let (_dir, store, digest, bytes) = stored(1000).await;
        let whole = store.open_file(&digest, None).await.unwrap().unwrap();
        assert_eq!((whole.start, whole.len), (0, 1000));
        let part = store.open_file(&digest, Some(ByteRange { start: 100, end: 199 })).await.unwrap().unwrap();
        assert_eq!((part.start, part.len), (100, 100));
        let mut buf = vec![0u8; 100];
        part.file.read_exact_at(&mut buf, part.start).unwrap();
        assert_eq!(buf, bytes[100..200]);
        let missing = Digest::of(Algorithm::Sha256, b"absent");
        assert!(matches!(store.open_file(&missing, None).await, Err(StorageError::NotFound)));
    }
}

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
use berth_core::{Algorithm, ByteStream, Digest, Hasher, StorageError, UploadId};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Bytes gathered before one write (and one hash update) on the blocking writer thread.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Bytes per read when streaming a blob out.
const READ_BUFFER: usize = 512 * 1024;

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

/// Reads `len` bytes from `file` on a blocking thread into a bounded channel.
fn stream_file(mut file: File, mut len: u64) -> ByteStream {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        while len > 0 {
            let want = len.min(READ_BUFFER as u64) as usize;
            let mut buf = BytesMut::zeroed(want);
            let item = match file.read(&mut buf) {
                Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than recorded")),
                Ok(n) => {
                    buf.truncate(n);
                    len -= n as u64;
                    Ok(buf.freeze())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) }).boxed()
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
        let (file, len) = blocking(move || {
            let mut file = File::open(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StorageError::NotFound,
                _ => unavailable(e),
            })?;
            let size = file.metadata().map_err(unavailable)?.len();
            let len = match range {
                Some(r) => {
                    file.seek(SeekFrom::Start(r.start)).map_err(unavailable)?;
                    r.len().min(size.saturating_sub(r.start))
                }
                None => size,
            };
            Ok((file, len))
        })
        .await?;
        Ok(stream_file(file, len))
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
        mut hasher: Hasher,
        max_len: Option<u64>,
    ) -> Result<(u64, Hasher), StorageError> {
        let path = self.upload_path(id);
        let mut file = blocking(move || {
            let mut file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StorageError::NotFound,
                _ => unavailable(e),
            })?;
            let len = file.metadata().map_err(unavailable)?.len();
            if len < offset {
                return Err(StorageError::OffsetMismatch { current: len });
            }
            if len > offset {
                file.set_len(offset).map_err(unavailable)?;
            }
            file.seek(SeekFrom::Start(offset)).map_err(unavailable)?;
            Ok(file)
        })
        .await?;

        // The network side gathers buffers; a blocking thread hashes and writes them, so
        // receiving the next megabyte overlaps with hashing and writing the last one.
        let (tx, mut rx) = mpsc::channel::<Bytes>(4);
        let writer = tokio::task::spawn_blocking(move || -> io::Result<(File, Hasher)> {
            while let Some(buf) = rx.blocking_recv() {
                hasher.update(&buf);
                file.write_all(&buf)?;
            }
            file.sync_data()?;
            Ok((file, hasher))
        });

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
            if pending.len() >= WRITE_BUFFER && tx.send(pending.split().freeze()).await.is_err() {
                break;
            }
        }
        if failure.is_none() && !pending.is_empty() {
            let _ = tx.send(pending.freeze()).await;
        }
        drop(tx);
        let written = writer.await.map_err(|e| unavailable(io::Error::other(e)))?;
        match (failure, written) {
            (None, Ok((_, hasher))) => Ok((total, hasher)),
            (failure, written) => {
                // Leave the upload at its durable length `offset`.
                let path = self.upload_path(id);
                blocking(move || {
                    OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(offset)).map_err(unavailable)
                })
                .await?;
                Err(failure.unwrap_or_else(|| {
                    unavailable(written.err().unwrap_or_else(|| io::Error::other("writer stopped")))
                }))
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
        Ok(stream_file(file, size))
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
    #[tokio::test]
    async fn passes_the_storage_testsuite() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::FsBlobStore::open(dir.path()).unwrap();
        crate::testsuite::run(&store).await;
    }
}

//! Blobs in an S3-compatible bucket (Garage, MinIO, AWS), through `object_store`'s S3 client
//! on our reqwest (rustls with ring).
//!
//! Keys: `blobs/<alg>/<hex>` for committed blobs; under `uploads/<id>/` an upload's state and
//! bytes. An upload becomes an S3 multipart upload (`uploads/<id>/data`) once it holds a part's
//! worth of bytes; fewer bytes wait in a tail object. Every append writes a new state object
//! named by the length it covers (`state-<offset>`, with `tail-<offset>`), and never changes an
//! older one: the metadata store's conditional advance of the offset decides which state is
//! current, so any replica can take the next chunk, and a failed append leaves the previous
//! state intact. Commit completes the multipart upload and copies it to its digest's key in one
//! server-side step; a blob appears only whole.

use async_trait::async_trait;
use berth_core::range::ByteRange;
use berth_core::{BlobStore, ByteStream, Digest, Hasher, StorageError, UploadId};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use std::io;
use std::sync::Arc;

/// Bytes sent per multipart part (S3 wants at least 5 MiB for all but the last).
const PART_SIZE: usize = 8 << 20;
/// The smallest part S3 accepts, but for the last.
const MIN_PART: usize = 5 << 20;

/// Where the bucket is and how to sign for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `http://host:port` (Garage, MinIO) or empty for AWS.
    pub endpoint: String,
    /// The region the endpoint expects (`garage` for Garage).
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// Access key ID.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// `https://host/bucket/key` rather than `https://bucket.host/key`.
    pub path_style: bool,
    /// Hand out presigned GET URLs for committed blobs ([`BlobStore::redirect_url`]).
    pub redirect: bool,
}

/// How long a presigned blob URL stays valid (S3 checks it when the request starts).
const REDIRECT_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Blobs in a bucket.
pub struct S3BlobStore {
    s3: Arc<AmazonS3>,
    redirect: bool,
}

/// An upload's state after `offset` bytes: the multipart upload and its parts, and the tail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UploadState {
    /// The multipart upload, once one exists.
    multipart: Option<String>,
    /// Its parts' ETags, in order.
    parts: Vec<String>,
    /// Bytes in `tail-<offset>` (not yet in a part).
    tail: u64,
}

fn unavailable(e: object_store::Error) -> StorageError {
    StorageError::Unavailable(io::Error::other(e.to_string()))
}

fn blob_path(d: &Digest) -> Path {
    Path::from(format!("blobs/{}/{}", d.algorithm().as_str(), d.hex()))
}

fn upload_dir(id: &UploadId) -> Path {
    Path::from(format!("uploads/{}", id.as_str()))
}

fn state_path(id: &UploadId, offset: u64) -> Path {
    Path::from(format!("uploads/{}/state-{offset}", id.as_str()))
}

fn tail_path(id: &UploadId, offset: u64) -> Path {
    Path::from(format!("uploads/{}/tail-{offset}", id.as_str()))
}

fn data_path(id: &UploadId) -> Path {
    Path::from(format!("uploads/{}/data", id.as_str()))
}

impl S3BlobStore {
    /// A store on the bucket `settings` names (no request is made yet).
    pub fn new(settings: &S3Settings) -> Result<Self, StorageError> {
        // The one crypto provider of the workspace, for the client object_store builds.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_virtual_hosted_style_request(!settings.path_style);
        if !settings.endpoint.is_empty() {
            builder =
                builder.with_endpoint(&settings.endpoint).with_allow_http(settings.endpoint.starts_with("http://"));
        }
        let s3 = builder.build().map_err(unavailable)?;
        Ok(S3BlobStore { s3: Arc::new(s3), redirect: settings.redirect })
    }

    async fn state(&self, id: &UploadId, offset: u64) -> Result<UploadState, StorageError> {
        match self.s3.get(&state_path(id, offset)).await {
            Ok(r) => {
                let bytes = r.bytes().await.map_err(unavailable)?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| StorageError::Unavailable(io::Error::other(format!("upload state: {e}"))))
            }
            Err(object_store::Error::NotFound { .. }) => Err(self.mismatch(id).await?),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// What to say when no state covers the asked offset: the upload is gone, or it holds
    /// another length (the longest state written).
    async fn mismatch(&self, id: &UploadId) -> Result<StorageError, StorageError> {
        let mut states = self.s3.list(Some(&upload_dir(id)));
        let mut longest = None;
        while let Some(meta) = states.try_next().await.map_err(unavailable)? {
            let name = meta.location.filename().unwrap_or_default().to_owned();
            if let Some(n) = name.strip_prefix("state-").and_then(|n| n.parse::<u64>().ok()) {
                longest = Some(longest.map_or(n, |l: u64| l.max(n)));
            }
        }
        Ok(match longest {
            Some(current) => StorageError::OffsetMismatch { current },
            None => StorageError::NotFound,
        })
    }

    async fn put_state(&self, id: &UploadId, offset: u64, state: &UploadState) -> Result<(), StorageError> {
        let body = serde_json::to_vec(state).map_err(|e| StorageError::Unavailable(io::Error::other(e)))?;
        self.s3.put(&state_path(id, offset), PutPayload::from(body)).await.map_err(unavailable)?;
        Ok(())
    }

    async fn tail_bytes(&self, id: &UploadId, offset: u64, state: &UploadState) -> Result<Bytes, StorageError> {
        if state.tail == 0 {
            return Ok(Bytes::new());
        }
        let r = self.s3.get(&tail_path(id, offset)).await.map_err(unavailable)?;
        r.bytes().await.map_err(unavailable)
    }

    async fn put_part(&self, id: &UploadId, state: &mut UploadState, bytes: Bytes) -> Result<(), StorageError> {
        let multipart = match &state.multipart {
            Some(m) => m.clone(),
            None => {
                let m = self.s3.create_multipart(&data_path(id)).await.map_err(unavailable)?;
                state.multipart = Some(m.clone());
                m
            }
        };
        let part = self
            .s3
            .put_part(&data_path(id), &multipart, state.parts.len(), PutPayload::from(bytes))
            .await
            .map_err(unavailable)?;
        state.parts.push(part.content_id);
        Ok(())
    }

    /// Deletes everything under `uploads/<id>/`, aborting the multipart upload if `state` has one.
    async fn remove_upload(&self, id: &UploadId, multipart: Option<&str>) -> Result<(), StorageError> {
        if let Some(m) = multipart {
            let _ = self.s3.abort_multipart(&data_path(id), &m.to_owned()).await;
        }
        let keys: Vec<Path> =
            self.s3.list(Some(&upload_dir(id))).map_ok(|m| m.location).try_collect().await.map_err(unavailable)?;
        for k in keys {
            match self.s3.delete(&k).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(())
    }

    /// The longest state of an upload, for abort (any replica may have written it).
    async fn any_multipart(&self, id: &UploadId) -> Result<Option<String>, StorageError> {
        match self.mismatch(id).await? {
            StorageError::OffsetMismatch { current } => Ok(self.state(id, current).await?.multipart),
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match self.s3.head(&blob_path(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let options =
            GetOptions { range: range.map(|r| GetRange::Bounded(r.start..r.end + 1)), ..GetOptions::default() };
        match self.s3.get_opts(&blob_path(digest), options).await {
            Ok(r) => Ok(r.into_stream().map_err(|e| io::Error::other(e.to_string())).boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match self.s3.delete(&blob_path(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn list(&self) -> Result<Vec<Digest>, StorageError> {
        let metas: Vec<_> = self.s3.list(Some(&Path::from("blobs"))).try_collect().await.map_err(unavailable)?;
        Ok(metas
            .iter()
            .filter_map(|m| {
                let parts: Vec<&str> = m.location.as_ref().split('/').collect();
                match parts.as_slice() {
                    ["blobs", alg, hex] => Digest::parse(&format!("{alg}:{hex}")).ok(),
                    _ => None,
                }
            })
            .collect())
    }

    async fn begin_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        self.put_state(id, 0, &UploadState::default()).await
    }

    async fn append(
        &self,
        id: &UploadId,
        offset: u64,
        mut body: ByteStream,
        mut hasher: Hasher,
        max_len: Option<u64>,
    ) -> Result<(u64, Hasher), StorageError> {
        let mut state = self.state(id, offset).await?;
        let mut buf = BytesMut::from(self.tail_bytes(id, offset, &state).await?.as_ref());
        let mut end = offset;
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&crate::received(chunk, &mut end, max_len, &mut hasher)?);
            while buf.len() >= PART_SIZE {
                let part = buf.split_to(PART_SIZE).freeze();
                self.put_part(id, &mut state, part).await?;
            }
        }
        if end == offset {
            return Ok((offset, hasher));
        }
        if buf.len() >= MIN_PART {
            self.put_part(id, &mut state, buf.split().freeze()).await?;
        }
        state.tail = buf.len() as u64;
        if !buf.is_empty() {
            self.s3.put(&tail_path(id, end), PutPayload::from(buf.freeze())).await.map_err(unavailable)?;
        }
        self.put_state(id, end, &state).await?;
        Ok((end, hasher))
    }

    async fn commit(&self, id: &UploadId, size: u64, digest: &Digest) -> Result<(), StorageError> {
        let state = self.state(id, size).await?;
        if self.stat(digest).await?.is_some() {
            return self.remove_upload(id, state.multipart.as_deref()).await;
        }
        {
            let tail = self.tail_bytes(id, size, &state).await?;
            match &state.multipart {
                None => {
                    self.s3.put(&blob_path(digest), PutPayload::from(tail)).await.map_err(unavailable)?;
                }
                Some(m) => {
                    let mut state = state.clone();
                    if !tail.is_empty() {
                        self.put_part(id, &mut state, tail).await?;
                    }
                    let parts: Vec<PartId> = state.parts.iter().map(|p| PartId { content_id: p.clone() }).collect();
                    self.s3.complete_multipart(&data_path(id), m, parts).await.map_err(unavailable)?;
                    self.s3.copy(&data_path(id), &blob_path(digest)).await.map_err(unavailable)?;
                }
            }
        }
        self.remove_upload(id, None).await
    }

    async fn read_upload(&self, id: &UploadId, size: u64) -> Result<ByteStream, StorageError> {
        // Parts cannot be read before their multipart upload completes: only an upload still
        // wholly in its tail can be read back.
        let state = self.state(id, size).await?;
        if state.multipart.is_some() {
            return Err(StorageError::Unavailable(io::Error::other(
                "an upload on S3 larger than one part can be hashed only with its own algorithm",
            )));
        }
        let tail = self.tail_bytes(id, size, &state).await?;
        Ok(futures_util::stream::once(async move { Ok(tail) }).boxed())
    }

    async fn abort(&self, id: &UploadId) -> Result<(), StorageError> {
        let multipart = self.any_multipart(id).await?;
        self.remove_upload(id, multipart.as_deref()).await
    }

    fn min_chunk_len(&self) -> u64 {
        MIN_PART as u64
    }

    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>, StorageError> {
        use object_store::signer::{Method, Signer};
        if !self.redirect {
            return Ok(None);
        }
        let url = self.s3.signed_url(Method::GET, &blob_path(digest), REDIRECT_TTL).await.map_err(unavailable)?;
        Ok(Some(url.to_string()))
    }

    async fn ping(&self) -> Result<(), StorageError> {
        match self.s3.head(&Path::from("berth-ping")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

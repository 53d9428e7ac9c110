//! Blob uploads: start, append (chunked or streamed), finish with digest verification, cancel.
//!
//! The session's offset and serialized hash state are stored in the metadata store after each
//! durable append, so any later request (after a restart, or on another replica) continues
//! from there without re-reading what was received.

use crate::error::{RegistryError, upload_gone};
use crate::service::RegistryService;
use berth_core::range::ByteRange;
use berth_core::{
    Algorithm, BlobStore, ByteStream, Digest, Hasher, MetaError, RepoName, UploadCap, UploadId, UploadSession,
    UploadStore,
};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// How a chunk positions itself.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    /// `Content-Range`, when sent.
    pub range: Option<ByteRange>,
    /// `Content-Length`, when sent.
    pub length: Option<u64>,
}

impl RegistryService {
    /// Starts an upload session for `repo` owned by `owner` (the authenticated subject),
    /// hashing with `algorithm`; refused while `repo` is write-disabled, and with
    /// `TooManyUploads` while `owner` or `repo` holds as many open sessions as
    /// [`crate::Limits::uploads`] allows. A session holds its slot until it is
    /// finished, cancelled or expired.
    pub async fn start_upload(
        &self,
        repo: &RepoName,
        algorithm: Algorithm,
        owner: &str,
    ) -> Result<UploadSession, RegistryError> {
        self.refuse_if_write_disabled(repo).await?;
        self.refuse_push_into_cache(repo).await?;
        self.open_upload(repo, algorithm, owner).await
    }

    /// The upload session `id` of `repo`, opened for `owner` hashing with `algorithm` if there is
    /// none (under the caps, as in [`Self::start_upload`]; the repository's lock is not asked):
    /// for a caller that names its uploads itself, to continue one after a crash where it
    /// stopped (`berth migrate` names one per blob with [`UploadId::from_seed`]). A session of
    /// that id for another repository or algorithm is dropped with its bytes and opened afresh.
    /// A claim the crashed run left on the session is broken (see
    /// [`Self::break_upload_claim`]). Whether it continues: the session, and `true` when it
    /// existed.
    pub async fn continue_or_open_upload(
        &self,
        repo: &RepoName,
        id: &UploadId,
        algorithm: Algorithm,
        owner: &str,
    ) -> Result<(UploadSession, bool), RegistryError> {
        if let Some(s) = self.meta.upload(id).await? {
            self.break_upload_claim(&s).await?;
            if &s.repo == repo && s.algorithm == algorithm {
                return Ok((s, true));
            }
            self.cancel_upload(&s.repo, id).await?;
        }
        Ok((self.open_upload_as(id.clone(), repo, algorithm, owner).await?, false))
    }

    /// [`Self::start_upload`] for a caller that has checked the repository's lock already.
    pub(crate) async fn open_upload(
        &self,
        repo: &RepoName,
        algorithm: Algorithm,
        owner: &str,
    ) -> Result<UploadSession, RegistryError> {
        self.open_upload_as(UploadId::generate(), repo, algorithm, owner).await
    }

    async fn open_upload_as(
        &self,
        id: UploadId,
        repo: &RepoName,
        algorithm: Algorithm,
        owner: &str,
    ) -> Result<UploadSession, RegistryError> {
        let session = UploadSession {
            id,
            repo: repo.clone(),
            owner: owner.to_owned(),
            offset: 0,
            algorithm,
            hash_state: Hasher::new(algorithm).save(),
            started_at: self.clock.now(),
        };
        let caps = self.limits.uploads;
        // The row first: a refused session leaves no bytes behind.
        if let Err(cap) = self.meta.create_upload(&session, caps).await? {
            return Err(match cap {
                UploadCap::Owner => RegistryError::TooManyUploads(format!(
                    "{owner} has {} uploads open, the most one principal may (limits.max_uploads_per_principal); \
                     finishing or cancelling one of them frees a slot, and idle ones expire",
                    caps.per_owner
                )),
                UploadCap::Repository => RegistryError::TooManyUploads(format!(
                    "repository {repo} has {} uploads open, the most one repository may \
                     (limits.max_uploads_per_repository); finishing or cancelling one of them frees a slot, \
                     and idle ones expire",
                    caps.per_repository
                )),
            });
        }
        if let Err(e) = self.blobs.begin_upload(&session.id).await {
            self.meta.delete_upload(&session.id).await?;
            return Err(e.into());
        }
        Ok(session)
    }

    /// The session `id` of `repo`.
    pub async fn upload(&self, repo: &RepoName, id: &UploadId) -> Result<UploadSession, RegistryError> {
        match self.meta.upload(id).await? {
            Some(s) if &s.repo == repo => Ok(s),
            _ => Err(RegistryError::UploadUnknown),
        }
    }

    /// Appends a chunk. With `Content-Range` it must start at the current offset (else 416)
    /// and match `Content-Length`; without, the body is streamed at the current offset.
    pub async fn append(
        &self,
        repo: &RepoName,
        id: &UploadId,
        chunk: Chunk,
        body: ByteStream,
    ) -> Result<UploadSession, RegistryError> {
        let session = self.upload(repo, id).await?;
        let claim = self.claim(id, session.offset).await?;
        let appended = self.append_claimed(session, chunk, body).await;
        claim.release().await;
        appended
    }

    async fn append_claimed(
        &self,
        session: UploadSession,
        chunk: Chunk,
        body: ByteStream,
    ) -> Result<UploadSession, RegistryError> {
        let max_len = match (chunk.range, chunk.length) {
            (Some(r), _) if r.start != session.offset => {
                return Err(RegistryError::RangeInvalid { current: session.offset });
            }
            (Some(r), Some(len)) if r.len() != len => {
                return Err(RegistryError::SizeInvalid(format!(
                    "Content-Length {len} does not match Content-Range {}-{}",
                    r.start, r.end
                )));
            }
            (Some(r), _) => Some(r.end + 1),
            (None, Some(len)) => Some(session.offset + len),
            (None, None) => None,
        };
        let hasher = Hasher::restore(session.algorithm, &session.hash_state)
            .ok_or_else(|| RegistryError::Internal("stored hash state is unreadable".into()))?;
        let (offset, hasher) =
            self.blobs.append(&session.id, session.offset, body, hasher, max_len).await.map_err(upload_gone)?;
        if let Some(max) = max_len
            && offset != max
        {
            // The body was shorter than announced; forget what it sent.
            self.blobs
                .append(
                    &session.id,
                    session.offset,
                    futures_util::stream::empty().boxed(),
                    Hasher::new(session.algorithm),
                    None,
                )
                .await
                .map_err(upload_gone)?;
            return Err(RegistryError::SizeInvalid(format!(
                "body ended after {} of {} bytes",
                offset - session.offset,
                max - session.offset
            )));
        }
        let next = UploadSession { offset, hash_state: hasher.save(), ..session.clone() };
        match self.meta.advance_upload(&next, session.offset).await {
            Ok(()) => Ok(next),
            Err(MetaError::Conflict) => Err(RegistryError::RangeInvalid { current: session.offset }),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends the final chunk (if any), verifies the whole upload against `digest`, makes the
    /// blob visible in `repo`, and ends the session. On a digest mismatch the upload is
    /// discarded and nothing is stored.
    pub async fn finish(
        &self,
        repo: &RepoName,
        id: &UploadId,
        digest: &Digest,
        chunk: Chunk,
        body: Option<ByteStream>,
    ) -> Result<u64, RegistryError> {
        self.finish_announcing(repo, id, digest, chunk, body, None).await
    }

    /// [`Self::finish`], telling `verified` as soon as the bytes are known to be `digest`
    /// (before they are committed): a pull-through fill then releases the last bytes to its
    /// client without waiting for the commit's sync.
    pub(crate) async fn finish_announcing(
        &self,
        repo: &RepoName,
        id: &UploadId,
        digest: &Digest,
        chunk: Chunk,
        body: Option<ByteStream>,
        verified: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<u64, RegistryError> {
        let session = self.upload(repo, id).await?;
        let claim = self.claim(id, session.offset).await?;
        let finished = self.finish_claimed(session, digest, chunk, body, verified).await;
        claim.release().await;
        finished
    }

    async fn finish_claimed(
        &self,
        session: UploadSession,
        digest: &Digest,
        chunk: Chunk,
        body: Option<ByteStream>,
        verified: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<u64, RegistryError> {
        let session = match body {
            Some(body) => self.append_claimed(session, chunk, body).await?,
            None => session,
        };
        let (id, repo) = (&session.id, &session.repo);
        let actual = if session.algorithm == digest.algorithm() {
            Hasher::restore(session.algorithm, &session.hash_state)
                .ok_or_else(|| RegistryError::Internal("stored hash state is unreadable".into()))?
                .finish()
        } else {
            self.rehash(&session, digest.algorithm()).await?
        };
        if &actual != digest {
            self.blobs.abort(id).await.map_err(upload_gone)?;
            self.meta.delete_upload(id).await?;
            return Err(RegistryError::DigestInvalid(format!("content digest is {actual}, not {digest}")));
        }
        if let Some(verified) = verified {
            let _ = verified.send(());
        }
        // Under the digest's lock: garbage collection must not delete these bytes between
        // the commit and the link (see crate::gc).
        self.under_digest_lock(digest, async {
            self.blobs.commit(id, session.offset, digest).await.map_err(upload_gone)?;
            Ok(self.meta.complete_upload(id, repo, digest, session.offset).await?)
        })
        .await?;
        Ok(session.offset)
    }

    /// Stores a whole blob in one request (`POST ?digest=`) for `owner`, through an upload
    /// session that lives only as long as the request: it takes a slot under the caps (see
    /// [`Self::start_upload`]) and gives it back however the request ends, even when the
    /// request is dropped midway.
    pub async fn upload_whole(
        &self,
        repo: &RepoName,
        digest: &Digest,
        length: Option<u64>,
        body: ByteStream,
        owner: &str,
    ) -> Result<u64, RegistryError> {
        let session = self.start_upload(repo, digest.algorithm(), owner).await?;
        let discard = Discard { id: Some(session.id.clone()), meta: self.meta.clone(), blobs: self.blobs.clone() };
        let chunk = Chunk { range: None, length };
        let stored = self.finish(repo, &session.id, digest, chunk, Some(body)).await;
        match stored {
            Ok(_) => discard.disarm(),
            Err(_) => discard.now().await,
        }
        stored
    }

    /// Cancels an upload.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &UploadId) -> Result<(), RegistryError> {
        let session = self.upload(repo, id).await?;
        let claim = self.claim(id, session.offset).await?;
        let deleted = self.meta.delete_upload(id).await;
        claim.release().await;
        deleted?;
        self.blobs.abort(id).await.map_err(upload_gone)?;
        Ok(())
    }

    /// Drops every upload session that has not advanced for `max_idle`: the session first
    /// (so no replica continues it), then its bytes. Safe to run on every replica at once:
    /// each session is expired by one of them. How many were dropped.
    pub async fn expire_uploads(&self, max_idle: Duration) -> Result<usize, RegistryError> {
        const BATCH: u32 = 100;
        let idle_since = self.clock.now().saturating_sub(max_idle.as_secs() as i64);
        let mut expired = 0;
        loop {
            let ids = self.meta.expire_uploads(idle_since, BATCH).await?;
            for id in &ids {
                self.blobs.abort(id).await.map_err(upload_gone)?;
            }
            expired += ids.len();
            if ids.len() < BATCH as usize {
                return Ok(expired);
            }
        }
    }

    /// The digest of an upload under another algorithm than its session's (the client chose
    /// the algorithm only on the final PUT): one read of the bytes.
    async fn rehash(&self, session: &UploadSession, algorithm: Algorithm) -> Result<Digest, RegistryError> {
        let mut stream = self.blobs.read_upload(&session.id, session.offset).await.map_err(upload_gone)?;
        let mut hasher = Hasher::new(algorithm);
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk.map_err(|e| RegistryError::Unavailable(e.to_string()))?);
        }
        Ok(hasher.finish())
    }
}

/// A session nobody else knows the ID of (a monolithic upload's), so nobody could finish or
/// cancel it: dropped with its bytes unless disarmed, at once on [`Discard::now`], or from a
/// task of its own when the request that opened it is dropped (a client that hangs up).
/// Best effort: what fails here is left to expiry.
struct Discard {
    id: Option<UploadId>,
    meta: Arc<dyn UploadStore>,
    blobs: Arc<dyn BlobStore>,
}

impl Discard {
    /// The upload completed: nothing to drop.
    fn disarm(mut self) {
        self.id = None;
    }

    /// Drops the session and its bytes now.
    async fn now(mut self) {
        if let Some(id) = self.id.take() {
            discard(self.meta.as_ref(), self.blobs.as_ref(), &id).await;
        }
    }
}

impl Drop for Discard {
    fn drop(&mut self) {
        let (Some(id), Ok(runtime)) = (self.id.take(), tokio::runtime::Handle::try_current()) else { return };
        let (meta, blobs) = (self.meta.clone(), self.blobs.clone());
        runtime.spawn(async move { discard(meta.as_ref(), blobs.as_ref(), &id).await });
    }
}

async fn discard(meta: &dyn UploadStore, blobs: &dyn BlobStore, id: &UploadId) {
    let dropped = match meta.delete_upload(id).await {
        Ok(_) => blobs.abort(id).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = dropped {
        tracing::warn!(%error, upload = %id, "cannot drop a failed upload now; it will expire");
    }
}

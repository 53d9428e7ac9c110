//! The blobs of `berth migrate`. Each is copied through an upload session in the destination's
//! metadata store, the path a push takes ([`RegistryService`]'s uploads), so the destination's
//! upload expiry and caps see it and a commit links it as a push does. The session is named
//! after the digest, so a re-run finds the one a killed run left and continues from its last
//! durable append rather than from byte zero.

use crate::serve::Stores;
use anyhow::{Context, Result, bail};
use berth_core::range::ByteRange;
use berth_core::{Algorithm, Digest, RepoName, UploadId};
use berth_registry::{Chunk, Limits, RegistryError, RegistryService};

/// The owner of a migration's upload sessions in the destination (the caps count them there).
pub(super) const OWNER: &str = "berth-migrate";

/// Bytes per append: each is durable and recorded before the next, so a killed run loses at
/// most this much of the blob it was copying.
const BATCH: u64 = 32 << 20;

/// A blob to copy, and the repository its session (and first link) is in.
pub(super) struct Wanted {
    /// Its digest.
    pub(super) digest: Digest,
    /// Its size in the source.
    pub(super) size: u64,
    /// A repository of the source whose manifests use it.
    pub(super) repo: RepoName,
}

/// The upload session that copies `digest` into a destination: the same on every run.
pub(super) fn session_id(digest: &Digest) -> UploadId {
    let hex = Digest::of(Algorithm::Sha256, format!("berth migrate {digest}").as_bytes()).hex().to_owned();
    let mut seed = [0u8; 16];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or_default();
    }
    UploadId::from_seed(seed)
}

/// Copies every blob of `wanted` the destination lacks, verifying its digest, and ends the
/// session an earlier run left for a blob that is complete; prints how many bytes it read.
pub(super) async fn copy(src: &Stores, dst: &Stores, wanted: &[Wanted], limits: Limits) -> Result<()> {
    let registry = RegistryService::new(dst.blobs.clone(), dst.meta.clone(), limits);
    let (mut copied, mut read) = (0u64, 0u64);
    for w in wanted {
        let id = session_id(&w.digest);
        if dst.blobs.stat(&w.digest).await? == Some(w.size) {
            // Committed by a run killed before it ended the session: nothing is left to send.
            if let Some(s) = dst.meta.upload(&id).await? {
                registry.break_upload_claim(&s).await?;
                registry.cancel_upload(&s.repo, &id).await?;
            }
            continue;
        }
        read += copy_one(&registry, src, w, &id).await?;
        copied += 1;
    }
    eprintln!("berth: blobs: {copied} copied ({read} bytes read), {} already there", wanted.len() as u64 - copied);
    Ok(())
}

/// Copies one blob through session `id`, continuing it if an earlier run left it; the bytes
/// read from the source.
async fn copy_one(registry: &RegistryService, src: &Stores, w: &Wanted, id: &UploadId) -> Result<u64> {
    let d = &w.digest;
    let open = || registry.continue_or_open_upload(&w.repo, id, d.algorithm(), OWNER);
    let (mut session, mut resumed) = open().await.with_context(|| format!("cannot start copying blob {d}"))?;
    if resumed && session.offset > w.size {
        registry.cancel_upload(&w.repo, id).await?;
        (session, resumed) = open().await?;
    }
    if resumed {
        eprintln!("berth: blob {d}: resuming at byte {} of {}", session.offset, w.size);
    }
    let mut read = 0;
    while session.offset < w.size {
        let (start, end) = (session.offset, (session.offset + BATCH).min(w.size));
        let body = src
            .blobs
            .read(d, Some(ByteRange { start, end: end - 1 }))
            .await
            .with_context(|| format!("cannot read blob {d}"))?;
        match registry.append(&w.repo, id, Chunk { range: None, length: Some(end - start) }, body).await {
            Ok(s) => {
                session = s;
                read += end - start;
            }
            // The bytes an earlier run stored are gone (removed by hand, expired): start over.
            Err(e) if resumed => {
                eprintln!("berth: blob {d}: cannot continue ({e}); starting over");
                registry.cancel_upload(&w.repo, id).await?;
                (session, resumed) = open().await?;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot copy blob {d}")),
        }
    }
    match registry.finish(&w.repo, id, d, Chunk { range: None, length: None }, None).await {
        Ok(_) => Ok(read),
        Err(RegistryError::DigestInvalid(why)) => bail!("blob {d}: {why}; the source is damaged"),
        Err(e) => Err(e).with_context(|| format!("cannot store blob {d}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_has_one_session_name() {
        let (a, b) = (Digest::of(Algorithm::Sha256, b"a"), Digest::of(Algorithm::Sha256, b"b"));
        assert_eq!(session_id(&a), session_id(&a));
        assert_ne!(session_id(&a), session_id(&b));
        assert_eq!(UploadId::parse(session_id(&a).as_str()), Some(session_id(&a)), "a canonical UUID");
    }
}

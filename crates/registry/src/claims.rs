//! One request at a time on an upload session, in this process and across every replica
//! sharing the metadata store: [`RegistryService::claim`] and the [`UploadClaim`] it returns.
//!
//! Two requests appending at once would interleave their bytes, or on S3 write the same keys
//! (the last writer's bytes winning while the session keeps the first one's hash state: a blob
//! whose bytes are not its digest). So a request first marks the upload busy in this process
//! (cheap, and it refuses a second local request without a database write), then claims it in
//! the metadata store as a lease that a task renews while the request runs, and releases it
//! when done. A replica that dies holding a claim leaves it to expire after [`LEASE_SECS`].

use crate::clock::Clock;
use crate::error::RegistryError;
use crate::service::RegistryService;
use berth_core::{UploadId, UploadSession, UploadStore};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a claim lasts unless renewed, in seconds.
pub(crate) const LEASE_SECS: i64 = 60;

/// How often a held claim is renewed: well within [`LEASE_SECS`], so a renewal late by a slow
/// database round trip or two still lands before the lease ends.
const RENEW_EVERY: Duration = Duration::from_secs(20);

/// The uploads this process has a request in flight on.
#[derive(Default)]
pub(crate) struct BusySet(Mutex<HashSet<UploadId>>);

impl BusySet {
    /// Marks `id` busy until the guard drops; `None` if it is busy already.
    fn take(&self, id: &UploadId) -> Option<BusyGuard<'_>> {
        let inserted = self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone());
        inserted.then(|| BusyGuard { set: self, id: id.clone() })
    }
}

/// Marks an upload busy in this process until dropped.
struct BusyGuard<'a> {
    set: &'a BusySet,
    id: UploadId,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.set.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// An upload claimed for one request. [`UploadClaim::release`] ends the claim; dropped
/// without it (a request cancelled midway), the claim is released from a task of its own,
/// and failing that expires.
pub(crate) struct UploadClaim<'a> {
    /// Freed after the store's claim is released (or its release spawned).
    _busy: BusyGuard<'a>,
    held: Option<Held>,
}

/// The claim in the metadata store and the task renewing it.
struct Held {
    meta: Arc<dyn UploadStore>,
    id: UploadId,
    holder: String,
    renewal: JoinHandle<()>,
}

impl Held {
    async fn release(self) {
        self.renewal.abort();
        if let Err(error) = self.meta.release_upload(&self.id, &self.holder).await {
            tracing::warn!(%error, upload = %self.id, "cannot release an upload's claim; it will expire");
        }
    }
}

impl UploadClaim<'_> {
    /// Ends the claim: the next request, on any replica, may claim the upload.
    pub(crate) async fn release(mut self) {
        if let Some(held) = self.held.take() {
            held.release().await;
        }
    }
}

impl Drop for UploadClaim<'_> {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else { return };
        held.renewal.abort();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(held.release());
        }
    }
}

impl RegistryService {
    /// Claims upload `id`, whose session the caller read at `offset`, for one request.
    /// Refused with `RangeInvalid` (and the upload's current offset) while another request
    /// holds it here or on another replica, or when the session moved on since it was read;
    /// `UploadUnknown` when it is gone.
    pub(crate) async fn claim(&self, id: &UploadId, offset: u64) -> Result<UploadClaim<'_>, RegistryError> {
        let busy = self.busy.take(id).ok_or(RegistryError::RangeInvalid { current: offset })?;
        if !self.shared {
            // The busy set is every claim there is; only the offset read before it is checked.
            return match self.meta.upload(id).await? {
                Some(s) if s.offset == offset => Ok(UploadClaim { _busy: busy, held: None }),
                Some(s) => Err(RegistryError::RangeInvalid { current: s.offset }),
                None => Err(RegistryError::UploadUnknown),
            };
        }
        let holder = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now();
        if !self.meta.claim_upload(id, offset, &holder, now + LEASE_SECS, now).await? {
            return Err(match self.meta.upload(id).await? {
                Some(s) => RegistryError::RangeInvalid { current: s.offset },
                None => RegistryError::UploadUnknown,
            });
        }
        let renewal = tokio::spawn(renew(self.meta.clone(), self.clock.clone(), id.clone(), holder.clone()));
        Ok(UploadClaim { _busy: busy, held: Some(Held { meta: self.meta.clone(), id: id.clone(), holder, renewal }) })
    }

    /// Breaks any claim on the upload session `s` (as just read), for a caller that names its
    /// uploads itself and so knows no other request uses this one: a claim on it was left by
    /// an earlier run of its own that died, and would refuse this run until its lease ended.
    /// See [`Self::continue_or_open_upload`], which breaks it already.
    pub async fn break_upload_claim(&self, s: &UploadSession) -> Result<(), RegistryError> {
        let holder = uuid::Uuid::new_v4().to_string();
        // Taken as if every lease had ended (now is the end of time), then given up.
        if self.meta.claim_upload(&s.id, s.offset, &holder, 0, i64::MAX).await? {
            self.meta.release_upload(&s.id, &holder).await?;
        }
        Ok(())
    }
}

/// Renews `holder`'s claim on `id` every [`RENEW_EVERY`] until aborted, or until the claim
/// turns out lost (its lease ended unrenewed and another request took it over).
async fn renew(meta: Arc<dyn UploadStore>, clock: Arc<dyn Clock>, id: UploadId, holder: String) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match meta.renew_upload_claim(&id, &holder, clock.now() + LEASE_SECS).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(upload = %id, "an upload's claim was lost while its request ran");
                return;
            }
            Err(error) => tracing::warn!(%error, upload = %id, "cannot renew an upload's claim; retrying"),
        }
    }
}

//! Single flight: one fetch per key in this process ([`Flights`]), and across every replica
//! sharing the metadata store ([`RegistryService::under_fill_lease`]), so that however many
//! clients and replicas ask for a missing manifest or blob at once, the upstream is asked once.
//!
//! In this process the first request for a key leads and the others join: they wait for its
//! outcome, then read what it stored. Across replicas the leader of each process then takes a
//! fill lease in the metadata store: the one that gets it fetches (renewing the lease while it
//! does), the others poll until the content is stored or the lease lapses (its holder died),
//! when one of them takes it over. Nothing a failed fetch left is visible: blobs go through an
//! upload session, which becomes visible only when verified and committed.

use crate::error::RegistryError;
use crate::service::RegistryService;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// How a fetch ended, as the requests that joined it hear it.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Stored: read it from the store.
    Stored,
    /// Failed with this error (rebuilt for each joiner).
    Failed(Failure),
}

/// A fetch's error in a form every joiner can have a copy of.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// The upstream has no such content: `MANIFEST_UNKNOWN` (true) or `BLOB_UNKNOWN`.
    Missing { manifest: bool, detail: String },
    /// The upstream could not give it: 503.
    Upstream(String),
    /// A lock forbids storing it.
    Locked(String),
    /// Anything else, as a 500 (the cause was logged by the leader).
    Internal(String),
}

impl From<Failure> for RegistryError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Missing { manifest, detail } => RegistryError::UpstreamMissing { manifest, detail },
            Failure::Upstream(s) => RegistryError::UpstreamFailed(s),
            Failure::Locked(s) => RegistryError::Locked(s),
            Failure::Internal(s) => RegistryError::Internal(s),
        }
    }
}

impl From<&RegistryError> for Failure {
    fn from(e: &RegistryError) -> Self {
        match e {
            RegistryError::UpstreamMissing { manifest, detail } => {
                Failure::Missing { manifest: *manifest, detail: detail.clone() }
            }
            RegistryError::UpstreamFailed(s) => Failure::Upstream(s.clone()),
            RegistryError::Unavailable(s) => Failure::Upstream(s.clone()),
            RegistryError::Locked(s) => Failure::Locked(s.clone()),
            other => Failure::Internal(other.to_string()),
        }
    }
}

/// The fetches running in this process, by key.
pub(crate) struct Flights<K> {
    running: Arc<Mutex<HashMap<K, watch::Receiver<Option<Outcome>>>>>,
}

impl<K> Default for Flights<K> {
    fn default() -> Self {
        Flights { running: Arc::new(Mutex::new(HashMap::new())) }
    }
}

/// What [`Flights::enter`] found.
pub(crate) enum Entry<K: Hash + Eq + Clone> {
    /// No fetch of the key runs: the caller leads it, and ends it with [`Leader::finish`]
    /// (dropping the leader ends it as failed).
    Lead(Leader<K>),
    /// One runs: wait for it with [`joined`].
    Join(watch::Receiver<Option<Outcome>>),
}

/// The one fetch of a key in this process. It may move to a task of its own.
pub(crate) struct Leader<K: Hash + Eq + Clone> {
    running: Arc<Mutex<HashMap<K, watch::Receiver<Option<Outcome>>>>>,
    key: K,
    done: Option<watch::Sender<Option<Outcome>>>,
}

impl<K: Hash + Eq + Clone> Flights<K> {
    /// Leads the fetch of `key`, or joins the one running.
    pub(crate) fn enter(&self, key: &K) -> Entry<K> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = running.get(key) {
            return Entry::Join(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        running.insert(key.clone(), rx);
        Entry::Lead(Leader { running: self.running.clone(), key: key.clone(), done: Some(tx) })
    }
}

impl<K: Hash + Eq + Clone> Leader<K> {
    /// A receiver of the outcome, as a joiner has.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<Outcome>> {
        self.done.as_ref().expect("a leader not yet finished").subscribe()
    }

    /// Ends the fetch: every joiner hears `outcome`, and the next request for the key starts
    /// afresh.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.end(outcome);
    }

    fn end(&mut self, outcome: Outcome) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
        if let Some(tx) = self.done.take() {
            tx.send_replace(Some(outcome));
        }
    }
}

impl<K: Hash + Eq + Clone> Drop for Leader<K> {
    fn drop(&mut self) {
        if self.done.is_some() {
            self.end(Outcome::Failed(Failure::Internal("the fetch was abandoned".into())));
        }
    }
}

/// Waits for the fetch `rx` follows to end.
pub(crate) async fn joined(mut rx: watch::Receiver<Option<Outcome>>) -> Outcome {
    match rx.wait_for(Option::is_some).await {
        Ok(v) => v.clone().expect("waited for Some"),
        Err(_) => Outcome::Failed(Failure::Internal("the fetch ended without an outcome".into())),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// How often a replica waiting for another's fetch looks whether it is done.
const POLL: Duration = Duration::from_millis(100);

impl RegistryService {
    /// Runs `fetch` as the only fetcher of `key` among the replicas sharing the metadata
    /// store, unless `stored` finds the content there first (another replica fetched it, or
    /// fetches it while this one waits for the lease; `stored` is asked again once the lease
    /// is taken, as its holder before may have stored the content just then). A process alone on its stores runs
    /// `fetch` at once: [`Flights`] already made it the only one.
    pub(crate) async fn under_fill_lease<T, S, SF, F>(
        &self,
        key: &str,
        lease: Duration,
        stored: S,
        fetch: F,
    ) -> Result<T, RegistryError>
    where
        S: Fn() -> SF,
        SF: Future<Output = Result<Option<T>, RegistryError>>,
        F: Future<Output = Result<T, RegistryError>>,
    {
        if !self.shared {
            return fetch.await;
        }
        let holder = uuid::Uuid::new_v4().to_string();
        let holder = holder.as_str();
        let ms = lease.as_millis() as i64;
        loop {
            if let Some(found) = stored().await? {
                return Ok(found);
            }
            let now = now_ms();
            if self.meta.take_fill_lease(key, holder, now, now + ms).await? {
                // The holder before may have stored the content and let go of the lease
                // between the look above and the take: look again before fetching.
                if let Some(found) = stored().await? {
                    self.release_fill_lease(key, holder).await;
                    return Ok(found);
                }
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let renew = async {
            loop {
                tokio::time::sleep(lease / 3).await;
                match self.meta.renew_fill_lease(key, holder, now_ms() + ms).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(key, "a fill lease was taken over while its fetch ran"),
                    Err(e) => tracing::warn!(key, error = %e, "cannot renew a fill lease"),
                }
            }
        };
        let out = tokio::select! {
            out = fetch => out,
            _ = renew => unreachable!("renewing never ends"),
        };
        self.release_fill_lease(key, holder).await;
        out
    }

    /// Gives up `holder`'s fill lease `key`; one that cannot be given up lapses by itself.
    async fn release_fill_lease(&self, key: &str, holder: &str) {
        if let Err(e) = self.meta.release_fill_lease(key, holder).await {
            tracing::warn!(key, error = %e, "cannot release a fill lease; it lapses by itself");
        }
    }
}

#[cfg(test)]
#[path = "flight_tests.rs"]
mod tests;

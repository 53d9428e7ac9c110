//! The pull-through cache: repositories that cache an upstream registry's (see
//! [`berth_core::cache`] for the rules), filled on demand through an [`Upstream`].
//!
//! - [`seal`]: the credential key that seals credential-set passwords at rest.
//! - `rules`: this process's copy of the rules, refreshed from the store.
//! - `admin`: credential sets and cache rules, as the admin API changes them.
//! - `fill`: pulls of cached repositories, and what they fetch upstream.
//! - `flight`: one fetch of each missing thing, in this process and across replicas.
//! - `import`: images copied from another registry, server-side.
//!
//! A [`RegistryService`](crate::RegistryService) has a pull-through cache only when built
//! [`with_pull_through`](crate::RegistryService::with_pull_through); without, no repository
//! is a cache and nothing is ever fetched upstream.

mod admin;
mod fill;
mod flight;
mod import;
mod rules;
pub mod seal;

pub use admin::{CacheAdmin, CacheRuleDetail, CredentialSetDetail};
pub use fill::BlobPull;
pub use import::{Import, ImportLogin, Imported};

use berth_core::cache::RegistryHost;
use berth_core::upstream::{Upstream, UpstreamConnector, UpstreamLogin};
use fill::FlightKey;
use flight::Flights;
use rules::RuleCache;
use seal::CredentialKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the cache behaves.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// A cached tag is compared with upstream (one `HEAD`) at most this often.
    pub revalidate_after: Duration,
    /// A fill lease lasts this long unless renewed: how long the others wait for a fetcher
    /// that died before one of them takes over.
    pub fill_lease: Duration,
    /// An upstream that has not answered a manifest request within this time is down (a
    /// cached tag is then served stale).
    pub upstream_timeout: Duration,
    /// Another replica's rule changes are seen within this time.
    pub rules_refresh: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            revalidate_after: Duration::from_secs(300),
            fill_lease: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(20),
            rules_refresh: Duration::from_secs(2),
        }
    }
}

/// What the cache counts, for metrics. Every method has a no-op default.
pub trait CacheObserver: Send + Sync + 'static {
    /// A pull of a cached repository found what it asked for here (`manifest` or `blob`).
    fn hit(&self, _what: &'static str) {}
    /// ...or had to fetch it upstream.
    fn miss(&self, _what: &'static str) {}
    /// An upstream request ended: `status` is the HTTP status, or 0 for no answer.
    fn upstream_request(&self, _status: u16) {}
    /// Bytes of blobs and manifests that arrived from upstream.
    fn fetched(&self, _bytes: u64) {}
    /// A cached tag was served without its upstream check, the upstream being down.
    fn stale(&self) {}
    /// A request waited for another's fetch instead of fetching itself.
    fn joined(&self) {}
}

/// Counts nothing.
pub struct NoObserver;
impl CacheObserver for NoObserver {}

/// The pull-through cache of a registry: how to reach upstreams, the key of credential
/// sets, the settings, and the state shared by requests.
pub struct PullThrough {
    pub(crate) connector: Arc<dyn UpstreamConnector>,
    pub(crate) key: CredentialKey,
    pub(crate) settings: CacheSettings,
    pub(crate) rules: RuleCache,
    pub(crate) observer: Arc<dyn CacheObserver>,
    /// The fetches running here.
    pub(crate) flights: Flights<FlightKey>,
    /// The upstreams opened.
    pub(crate) upstreams: Mutex<OpenUpstreams>,
}

impl PullThrough {
    /// A cache reaching upstreams through `connector`, sealing passwords with `key`.
    pub fn new(connector: Arc<dyn UpstreamConnector>, key: CredentialKey, settings: CacheSettings) -> Self {
        let rules = RuleCache::new(settings.rules_refresh);
        PullThrough {
            connector,
            key,
            settings,
            rules,
            observer: Arc::new(NoObserver),
            flights: Flights::default(),
            upstreams: Mutex::new(HashMap::new()),
        }
    }

    /// The cache reporting to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn CacheObserver>) -> Self {
        self.observer = observer;
        self
    }
}

/// An opened upstream, for the rule that opened it.
pub(crate) type OpenUpstream = Arc<dyn Upstream>;

/// The upstreams opened, by registry and credential set, with the login each was opened
/// with (a changed password opens a new one).
pub(crate) type OpenUpstreams = HashMap<(RegistryHost, Option<String>), (UpstreamLogin, OpenUpstream)>;

//! The pull-through cache's metrics: hits and misses, upstream requests by status, bytes
//! fetched, stale serves, single-flight joins and mirror requests. Labels come from closed
//! sets.

use berth_registry::cache::CacheObserver;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of a cache look-up.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    /// `manifest` or `blob`.
    pub kind: &'static str,
}

/// Labels of an upstream request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// The answer's class: `2xx`, `401`, `403`, `404`, `429`, `4xx`, `5xx`, or `none` (no
    /// answer, a timeout).
    pub status: &'static str,
}

/// The label of an upstream's status (0 for no answer).
pub fn status_label(status: u16) -> &'static str {
    match status {
        0 => "none",
        200..=299 => "2xx",
        401 => "401",
        403 => "403",
        404 => "404",
        429 => "429",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// The cache's counters.
#[derive(Default)]
pub struct CacheMetrics {
    hits: Family<LookupLabels, Counter>,
    misses: Family<LookupLabels, Counter>,
    upstream: Family<UpstreamLabels, Counter>,
    fetched: Counter,
    stale: Counter,
    joined: Counter,
    mirrored: Counter,
}

impl CacheMetrics {
    /// Registers the counters in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("cache_hits", "Pulls of cached repositories served from here", self.hits.clone());
        registry.register("cache_misses", "Pulls of cached repositories fetched upstream", self.misses.clone());
        registry.register("cache_upstream_requests", "Requests to upstream registries", self.upstream.clone());
        registry.register("cache_fetched_bytes", "Bytes fetched from upstream registries", self.fetched.clone());
        registry.register("cache_stale_serves", "Cached tags served unchecked, upstream down", self.stale.clone());
        registry.register("cache_joins", "Requests that waited for another's upstream fetch", self.joined.clone());
        registry.register(
            "cache_mirror_requests",
            "Requests for another registry's image (?ns=)",
            self.mirrored.clone(),
        );
    }

    /// Counts a mirror request (containerd's `?ns=<registry>`) that a cache rule took.
    pub fn mirrored(&self) {
        self.mirrored.inc();
    }
}

fn kind(what: &'static str) -> LookupLabels {
    LookupLabels { kind: if what == "manifest" { "manifest" } else { "blob" } }
}

impl CacheObserver for CacheMetrics {
    fn hit(&self, what: &'static str) {
        self.hits.get_or_create(&kind(what)).inc();
    }
    fn miss(&self, what: &'static str) {
        self.misses.get_or_create(&kind(what)).inc();
    }
    fn upstream_request(&self, status: u16) {
        self.upstream.get_or_create(&UpstreamLabels { status: status_label(status) }).inc();
    }
    fn fetched(&self, bytes: u64) {
        self.fetched.inc_by(bytes);
    }
    fn stale(&self) {
        self.stale.inc();
    }
    fn joined(&self) {
        self.joined.inc();
    }
}

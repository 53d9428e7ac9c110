//! Prometheus metrics: requests by route, method and status; latency histograms; bytes in
//! and out; upload sessions; garbage collection; the pull-through cache ([`CacheMetrics`]).
//!
//! Every label value comes from a closed set the server defines (`&'static str` or a status
//! the server itself answered with), never from request text: a series, once created, lives
//! as long as the process, so a label a client could choose would let any anonymous client
//! grow the server's memory without bound.

use crate::cache_metrics::CacheMetrics;
use berth_registry::GcReport;
use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route label (`manifest`, `blob`, …, `other`).
    pub route: &'static str,
    /// HTTP method, from [`method_label`].
    pub method: &'static str,
    /// HTTP status code of the response the server produced.
    pub status: u16,
}

/// Labels of a latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route label.
    pub route: &'static str,
    /// HTTP method, from [`method_label`].
    pub method: &'static str,
}

/// The label of a request method: the name of a method RFC 9110 or RFC 5789 defines, and
/// `other` for every other (invented) method.
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// Labels of an upload-session event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UploadLabels {
    /// `started`, `completed`, `cancelled` or `failed`.
    pub event: &'static str,
}

/// Labels of a garbage-collection run.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GcLabels {
    /// `ok` or `failed`.
    pub outcome: &'static str,
}

/// Every metric the server records.
pub struct Metrics {
    registry: Registry,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Time to response headers.
    pub latency: Family<RouteLabels, Histogram>,
    /// Request body bytes received.
    pub bytes_in: Counter,
    /// Response body bytes announced by `Content-Length`.
    pub bytes_out: Counter,
    /// Upload-session events.
    pub uploads: Family<UploadLabels, Counter>,
    /// Garbage-collection runs that deleted (not dry runs), by outcome.
    pub gc_runs: Family<GcLabels, Counter>,
    /// Blob links dropped by garbage collection.
    pub gc_links: Counter,
    /// Blobs deleted by garbage collection.
    pub gc_blobs: Counter,
    /// Bytes those blobs held.
    pub gc_bytes: Counter,
    /// The pull-through cache's counters.
    pub cache: std::sync::Arc<CacheMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("berth");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.5, 16))
        });
        let (bytes_in, bytes_out) = (Counter::default(), Counter::default());
        let uploads = Family::<UploadLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "Time to response headers", latency.clone());
        registry.register("http_request_body_bytes", "Request body bytes received", bytes_in.clone());
        registry.register("http_response_body_bytes", "Response body bytes sent", bytes_out.clone());
        registry.register("upload_sessions", "Upload sessions started and ended", uploads.clone());
        let gc_runs = Family::<GcLabels, Counter>::default();
        let (gc_links, gc_blobs, gc_bytes) = (Counter::default(), Counter::default(), Counter::default());
        registry.register("gc_runs", "Garbage collections run (dry runs not counted)", gc_runs.clone());
        registry.register("gc_links_dropped", "Blob links dropped by garbage collection", gc_links.clone());
        registry.register("gc_blobs_deleted", "Blobs deleted by garbage collection", gc_blobs.clone());
        registry.register("gc_freed_bytes", "Bytes of the blobs garbage collection deleted", gc_bytes.clone());
        let cache = std::sync::Arc::new(CacheMetrics::default());
        cache.register(&mut registry);
        Metrics {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            uploads,
            gc_runs,
            gc_links,
            gc_blobs,
            gc_bytes,
            cache,
        }
    }
}

impl Metrics {
    /// Counts an upload-session event.
    pub fn upload(&self, event: &'static str) {
        self.uploads.get_or_create(&UploadLabels { event }).inc();
    }

    /// Counts a garbage collection that was not a dry run: its outcome and, when it ran
    /// through, what it removed.
    pub fn gc<E>(&self, outcome: &Result<GcReport, E>) {
        let label = if outcome.is_ok() { "ok" } else { "failed" };
        self.gc_runs.get_or_create(&GcLabels { outcome: label }).inc();
        if let Ok(r) = outcome {
            self.gc_links.inc_by(r.links_dropped);
            self.gc_blobs.inc_by(r.blobs_deleted);
            self.gc_bytes.inc_by(r.bytes_freed);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"DELETE").unwrap()), "DELETE");
        for invented in ["get", "PROPFIND", "X-ANYTHING-1234567890"] {
            assert_eq!(method_label(&Method::from_bytes(invented.as_bytes()).unwrap()), "other", "{invented}");
        }
    }
}

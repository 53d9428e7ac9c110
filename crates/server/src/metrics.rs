//! Prometheus metrics: requests by route, method and status; latency histograms; bytes in
//! and out; upload sessions.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route label (`manifest`, `blob`, …).
    pub route: &'static str,
    /// HTTP method.
    pub method: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of a latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route label.
    pub route: &'static str,
    /// HTTP method.
    pub method: String,
}

/// Labels of an upload-session event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UploadLabels {
    /// `started`, `completed`, `cancelled` or `failed`.
    pub event: &'static str,
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
        Metrics { registry, requests, latency, bytes_in, bytes_out, uploads }
    }
}

impl Metrics {
    /// Counts an upload-session event.
    pub fn upload(&self, event: &'static str) {
        self.uploads.get_or_create(&UploadLabels { event }).inc();
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

//! The HTTP surface: one router, one dispatcher for everything under `/v2/` (and ACR's
//! `/acr/v1/<name>`), and the per-resource handlers. Every such request is parsed by
//! [`OciRoute::parse`] and [`Endpoint::parse`] (its query parameters validated there), passes
//! the single authorisation point ([`crate::auth::authorize`]) and only then reaches a handler,
//! which receives the resulting [`Authorized`] and the endpoint's parameters.

mod admin;
mod admin_cache;
mod admin_import;
mod admin_tokens;
mod admin_views;
mod blobs;
mod discovery;
mod manifests;
mod repositories;
mod token;
mod uploads;

use crate::auth::{Authorized, Challenge, authenticate, authorize};
use crate::body::MinRate;
use crate::endpoint::{Endpoint, Rejected};
use crate::error::ApiError;
use crate::metrics::{Metrics, RequestLabels, RouteLabels, method_label};
use crate::ratelimit::FailureLimiter;
use crate::request_id::{self, RequestId};
use crate::route::{OciRoute, RouteError};
use crate::zerocopy::ZeroCopy;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use berth_core::ErrorCode;
use berth_registry::RegistryService;
use berth_registry::auth::AuthService;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use std::sync::Arc;
use std::time::Instant;

/// Everything a request handler can reach.
pub struct AppState {
    /// The registry.
    pub registry: Arc<RegistryService>,
    /// Authentication, permissions and tokens.
    pub auth: Arc<AuthService>,
    /// Failed-authentication limiting per client address.
    pub limiter: FailureLimiter,
    /// The 401 challenge.
    pub challenge: Challenge,
    /// Minimum rate of request bodies.
    pub min_rate: MinRate,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The grace period of garbage collection.
    pub gc_grace: std::time::Duration,
}

/// The client's address, set on every request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

/// The route label a handler leaves on its response for metrics.
#[derive(Clone, Copy)]
struct RouteLabel(&'static str);

/// Builds the router with its middleware.
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, Router::new())
}

/// Builds the router with `extra` routes (the web UI's) beside the registry's, under the same
/// middleware and fallback.
pub fn router_with(state: Arc<AppState>, extra: Router<Arc<AppState>>) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .route("/acr/v1/{*rest}", any(dispatch))
        .route("/oauth2/token", get(token::get).post(token::post))
        .route("/oauth2/exchange", post(token::exchange))
        .route("/admin/v1/{*rest}", any(admin::admin))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(extra)
        .fallback(|| async { ApiError::new(ErrorCode::NameUnknown).detail("no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    match st.registry.ready().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], st.metrics.encode())
        .into_response()
}

/// Times and counts every request, gives it a request ID (in `X-Request-Id` and in the log
/// line of a server error), and sets the header distribution puts on every response.
async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let id = RequestId::next();
    let mut response = id.scope(next.run(req)).await;
    let route = response.extensions().get::<RouteLabel>().map_or("other", |l| l.0);
    let status = response.status().as_u16();
    st.metrics.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    st.metrics.latency.get_or_create(&RouteLabels { route, method }).observe(started.elapsed().as_secs_f64());
    if let Some(len) = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        st.metrics.bytes_out.inc_by(len);
    }
    let headers = response.headers_mut();
    headers.insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
    headers.insert(request_id::HEADER, HeaderValue::from_str(&id.to_string()).expect("hex digits"));
    response
}

/// RFC 3339 for seconds since the epoch (UTC), whole seconds: `2009-11-16T21:00:00Z`. A value
/// beyond the years 9999 BC to 9999 AD that RFC 3339 can write is shown as the nearest of them.
pub(crate) fn rfc3339(secs: i64) -> String {
    let secs = secs.clamp(jiff::Timestamp::MIN.as_second(), jiff::Timestamp::MAX.as_second());
    jiff::Timestamp::from_second(secs).expect("clamped to the range jiff represents").to_string()
}

/// Query parameters in order, repeated keys kept.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(form_urlencoded::parse(q.unwrap_or("").as_bytes()).into_owned().collect())
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A header as text.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Content-Length` as a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, &header::CONTENT_LENGTH).and_then(|v| v.parse().ok())
}

/// A header value from text Berth produced (always visible ASCII).
pub(crate) fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn unsupported() -> ApiError {
    ApiError::new(ErrorCode::Unsupported).detail("method not allowed on this endpoint")
}

/// The answer to a path the route parser refused. A manifest read by a reference that is
/// neither a tag nor a digest is 404 `MANIFEST_UNKNOWN` (nothing can be stored under such a
/// name, and the released conformance suite, v1.1.x, expects 404); a push to one stays 400.
fn route_error(e: RouteError, method: &Method, path: &str) -> ApiError {
    let read = *method == Method::GET || *method == Method::HEAD;
    match e {
        RouteError::ReferenceInvalid if read && path.starts_with("/v2/") => {
            ApiError::new(ErrorCode::ManifestUnknown).detail("reference is neither a valid tag nor a digest")
        }
        e => ApiError::from(e),
    }
}

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let route = match OciRoute::parse(parts.uri.path()) {
        Ok(r) => r,
        Err(e) => return route_error(e, &parts.method, parts.uri.path()).into_response(),
    };
    let label = route.label();
    // Invalid query parameters are answered only to a caller authorised for the endpoint.
    let (mut endpoint, rejected) = match Endpoint::parse(&parts.method, route, parts.uri.query()) {
        Ok(endpoint) => (endpoint, None),
        Err(Rejected { gate, error }) => (*gate, Some(error)),
    };
    if let Some(ns) = Query::parse(parts.uri.query()).get("ns")
        && let Err(e) = mirror(&st, ns, &mut endpoint).await
    {
        let mut response = e.into_response();
        response.extensions_mut().insert(RouteLabel(label));
        return response;
    }
    let remote = parts.extensions.get::<ClientAddr>().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |c| c.0);
    let authorized = match authenticate(&st.auth, &st.limiter, &st.challenge, &parts.headers, remote).await {
        Ok(caller) => authorize(caller, endpoint, &st.challenge),
        Err(e) => Err(e),
    };
    let peer = Peer { remote, zero_copy: parts.extensions.get::<ZeroCopy>().cloned() };
    let mut response = match (authorized, rejected) {
        (Ok(_), Some(e)) | (Err(e), _) => e.into_response(),
        (Ok(auth), None) => {
            handle(&st, auth, &parts.headers, &peer, body).await.unwrap_or_else(IntoResponse::into_response)
        }
    };
    response.extensions_mut().insert(RouteLabel(label));
    response
}

/// Points a mirror request (containerd's `?ns=<registry>`, for an image named on another
/// registry) at the repository a cache rule keeps for it, before it is authorised: the
/// caller needs pull on that repository. A registry no rule caches is refused and never
/// dialled; a mirror request may only read. Those a rule takes are counted
/// (`berth_cache_mirror_requests`).
async fn mirror(st: &AppState, ns: &str, endpoint: &mut Endpoint) -> Result<(), ApiError> {
    let Some(name) = endpoint.mirrored_name() else {
        return Err(ApiError::new(ErrorCode::Unsupported)
            .detail("a mirror request (with ?ns=) may only pull: manifests, blobs, tag lists and referrers"));
    };
    *name = st.registry.mirror_target(ns, name).await?;
    st.metrics.cache.mirrored();
    Ok(())
}

/// The client's side of a request: its address, and (on plain HTTP) the connection's
/// zero-copy handle.
struct Peer {
    remote: std::net::IpAddr,
    zero_copy: Option<ZeroCopy>,
}

/// Routes an authorised request to its handler, matching every endpoint. Handlers take the
/// [`Authorized`] value (proof the check ran) along with the endpoint's parameters, borrowed
/// from it.
async fn handle(
    st: &AppState,
    auth: Authorized,
    headers: &HeaderMap,
    peer: &Peer,
    body: Body,
) -> Result<Response, ApiError> {
    let (a, remote) = (&auth, peer.remote);
    match a.endpoint() {
        Endpoint::Base => Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response()),
        Endpoint::Catalog { page } => discovery::catalog(st, a, page).await,
        Endpoint::GetManifest { name, reference, head } => manifests::get(st, a, name, reference, *head).await,
        Endpoint::PutManifest { name, reference, tags } => {
            manifests::put(st, a, name, reference, tags, headers, body).await
        }
        Endpoint::DeleteManifest { name, reference } => manifests::delete(st, a, name, reference, remote).await,
        Endpoint::GetBlob { name, digest, head } => {
            blobs::get(st, a, name, digest, headers, *head, peer.zero_copy.as_ref()).await
        }
        Endpoint::DeleteBlob { name, digest } => blobs::delete(st, a, name, digest, remote).await,
        Endpoint::StartUpload { name, algorithm } => uploads::start(st, a, name, *algorithm).await,
        Endpoint::UploadWhole { name, digest } => uploads::whole(st, a, name, digest, headers, body).await,
        Endpoint::Mount { name, digest, from } => uploads::mount(st, a, name, digest, from).await,
        Endpoint::UploadStatus { name, id } => uploads::status(st, a, name, id).await,
        Endpoint::AppendUpload { name, id } => uploads::patch(st, a, name, id, headers, body).await,
        Endpoint::FinishUpload { name, id, digest } => uploads::put(st, a, name, id, digest, headers, body).await,
        Endpoint::CancelUpload { name, id } => uploads::cancel(st, a, name, id).await,
        Endpoint::ListTags { name, page } => discovery::tags(st, a, name, page).await,
        Endpoint::Referrers { name, digest, artifact_type } => {
            discovery::referrers(st, a, name, digest, artifact_type.as_deref()).await
        }
        Endpoint::ShowRepository { name } => repositories::show(st, a, name, None).await,
        Endpoint::ShowTag { name, tag } => repositories::show(st, a, name, Some(tag)).await,
        Endpoint::UpdateRepository { name } => repositories::update(st, a, name, None, remote, body).await,
        Endpoint::UpdateTag { name, tag } => repositories::update(st, a, name, Some(tag), remote, body).await,
        Endpoint::DeleteRepository { name } => repositories::delete(st, a, name, remote).await,
        Endpoint::Unsupported { .. } => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_258_405_200), "2009-11-16T21:00:00Z");
        assert_eq!(super::rfc3339(1_795_996_800), "2026-11-30T00:00:00Z");
        assert_eq!(super::rfc3339(i64::MAX), "9999-12-30T22:00:00Z");
    }
}

//! The HTTP surface: one router, one dispatcher for everything under `/v2/`, and the
//! per-resource handlers. Every `/v2/` request is parsed by [`OciRoute::parse`], passes the
//! single authorisation point ([`crate::auth::authorize`]) and only then reaches a handler,
//! which receives the resulting [`Authorized`].

mod blobs;
mod discovery;
mod manifests;
mod uploads;

use crate::auth::{Authorized, Caller, Challenge, authorize};
use crate::body::MinRate;
use crate::error::ApiError;
use crate::metrics::{Metrics, RequestLabels, RouteLabels};
use crate::route::OciRoute;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use berth_core::ErrorCode;
use berth_core::access::Policy;
use berth_registry::RegistryService;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use std::sync::Arc;
use std::time::Instant;

/// Everything a request handler can reach.
pub struct AppState {
    /// The registry.
    pub registry: Arc<RegistryService>,
    /// The access policy.
    pub policy: Policy,
    /// The 401 challenge.
    pub challenge: Challenge,
    /// Minimum rate of request bodies.
    pub min_rate: MinRate,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// The route label a handler leaves on its response for metrics.
#[derive(Clone, Copy)]
struct RouteLabel(&'static str);

/// Builds the router with its middleware.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
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

/// Times and counts every request, and sets the header distribution puts on every response.
async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let mut response = next.run(req).await;
    let route = response.extensions().get::<RouteLabel>().map_or("other", |l| l.0);
    let status = response.status().as_u16();
    st.metrics.requests.get_or_create(&RequestLabels { route, method: method.clone(), status }).inc();
    st.metrics.latency.get_or_create(&RouteLabels { route, method }).observe(started.elapsed().as_secs_f64());
    if let Some(len) = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        st.metrics.bytes_out.inc_by(len);
    }
    response.headers_mut().insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
    response
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

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let route = match OciRoute::parse(parts.uri.path()) {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let label = route.label();
    let query = Query::parse(parts.uri.query());
    let caller = parts.extensions.get::<Caller>().cloned().unwrap_or(Caller::Anonymous);
    let mount_from = query.get("mount").and(query.get("from"));
    let mut response = match authorize(&st.policy, caller, route, &parts.method, mount_from, &st.challenge) {
        Ok(auth) => handle(&st, auth, &parts.method, &parts.headers, &query, body)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(RouteLabel(label));
    response
}

/// Routes an authorised request to its handler. Handlers take the [`Authorized`] value (proof
/// the check ran) along with the route's parts, borrowed from it.
async fn handle(
    st: &AppState,
    auth: Authorized,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> Result<Response, ApiError> {
    let a = &auth;
    let head = method == Method::HEAD;
    match (method.clone(), a.route()) {
        (Method::GET, OciRoute::Base) => {
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response())
        }
        (Method::GET, OciRoute::Catalog) => discovery::catalog(st, a, query).await,
        (Method::GET | Method::HEAD, OciRoute::Manifest { name, reference }) => {
            manifests::get(st, a, name, reference, head).await
        }
        (Method::PUT, OciRoute::Manifest { name, reference }) => {
            manifests::put(st, a, name, reference, headers, query, body).await
        }
        (Method::DELETE, OciRoute::Manifest { name, reference }) => manifests::delete(st, a, name, reference).await,
        (Method::GET | Method::HEAD, OciRoute::Blob { name, digest }) => {
            blobs::get(st, a, name, digest, headers, head).await
        }
        (Method::DELETE, OciRoute::Blob { name, digest }) => blobs::delete(st, a, name, digest).await,
        (Method::POST, OciRoute::Uploads { name }) => uploads::post(st, a, name, headers, query, body).await,
        (Method::GET, OciRoute::Upload { name, id }) => uploads::status(st, a, name, id).await,
        (Method::PATCH, OciRoute::Upload { name, id }) => uploads::patch(st, a, name, id, headers, body).await,
        (Method::PUT, OciRoute::Upload { name, id }) => uploads::put(st, a, name, id, headers, query, body).await,
        (Method::DELETE, OciRoute::Upload { name, id }) => uploads::cancel(st, a, name, id).await,
        (Method::GET, OciRoute::Tags { name }) => discovery::tags(st, a, name, query).await,
        (Method::GET, OciRoute::Referrers { name, digest }) => discovery::referrers(st, a, name, digest, query).await,
        _ => Err(unsupported()),
    }
}

//! A reverse proxy in front of an upstream registry that counts what it is asked and injects
//! faults on demand: a status, a hang, a body cut half-way, a body with its bytes flipped, or
//! a body sent slowly.
//! It runs on a runtime of its own, so sync and async tests alike can hold one.

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderName};
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};

/// What the proxy does to the requests its [`Paths`] select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes them through.
    Pass,
    /// Answers this status (429, 503, …) with an OCI error body, never asking upstream.
    Status(u16),
    /// Accepts them and never answers.
    Hang,
    /// Sends the upstream's headers (with the full `Content-Length`) and half the body of a
    /// successful GET, then closes the connection.
    Cut,
    /// Sends a successful GET's body with every byte flipped (same length).
    Corrupt,
    /// Sends the upstream's headers at once and a successful GET's body at this many bytes
    /// a second (a tenth of it every 100 ms), so a test can act while it arrives.
    Slow(u32),
}

/// Which requests a [`Fault`] applies to, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paths {
    /// `…/manifests/…`.
    Manifests,
    /// `…/blobs/<digest>` (not uploads).
    Blobs,
    /// Every request.
    All,
}

impl Paths {
    fn matches(self, path: &str) -> bool {
        match self {
            Paths::Manifests => path.contains("/manifests/"),
            Paths::Blobs => path.contains("/blobs/") && !path.contains("/blobs/uploads/"),
            Paths::All => true,
        }
    }
}

type ProxyBody = BoxBody<Bytes, io::Error>;

struct State {
    upstream: String,
    http: reqwest::Client,
    fault: Mutex<(Fault, Paths)>,
    counts: Mutex<HashMap<(String, String), u64>>,
    answers: Mutex<HashMap<(String, String, u16), u64>>,
}

/// A running proxy on `127.0.0.1`; stopped (hung requests and all) when dropped.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://host:port`), passing everything through.
    pub fn start(upstream: &str) -> Self {
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: crate::http_client().build().expect("HTTP client"),
            fault: Mutex::new((Fault::Pass, Paths::All)),
            counts: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the proxy's runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address").to_string();
        listener.set_nonblocking(true).expect("non-blocking listener");
        let serving = state.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((conn, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                    let io = hyper_util::rt::TokioIo::new(conn);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        FaultProxy { base: format!("http://{addr}"), addr, state, runtime: Some(runtime) }
    }

    /// From now on, does `fault` to the requests `paths` selects (the others pass).
    pub fn set(&self, fault: Fault, paths: Paths) {
        *self.state.fault.lock().unwrap_or_else(|p| p.into_inner()) = (fault, paths);
    }

    /// From now on, passes everything through.
    pub fn pass(&self) {
        self.set(Fault::Pass, Paths::All);
    }

    /// How many `method` requests for exactly `path` (no query) arrived, faults included.
    pub fn count(&self, method: &str, path: &str) -> u64 {
        let counts = self.state.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&(method.to_owned(), path.to_owned())).copied().unwrap_or(0)
    }

    /// How many `method` requests for exactly `path` (no query) were answered `status`: by
    /// the upstream, or by an injected [`Fault::Status`]. A request that hangs or whose
    /// upstream cannot be reached has no answer.
    pub fn answered(&self, method: &str, path: &str, status: u16) -> u64 {
        let answers = self.state.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.get(&(method.to_owned(), path.to_owned(), status)).copied().unwrap_or(0)
    }

    /// How many requests of any method and path were answered `status` (see
    /// [`FaultProxy::answered`]).
    pub fn answered_any(&self, status: u16) -> u64 {
        let answers = self.state.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.iter().filter(|((_, _, s), _)| *s == status).map(|(_, n)| n).sum()
    }

    /// How many requests of any method for a path starting with `prefix` arrived.
    pub fn count_prefix(&self, prefix: &str) -> u64 {
        let counts = self.state.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.iter().filter(|((_, path), _)| path.starts_with(prefix)).map(|(_, n)| n).sum()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Headers that belong to one connection, not to the message.
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
    ]
    .contains(name)
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    *state.counts.lock().unwrap_or_else(|p| p.into_inner()).entry((method.to_string(), path.clone())).or_default() += 1;
    let (fault, paths) = *state.fault.lock().unwrap_or_else(|p| p.into_inner());
    let fault = if paths.matches(&path) { fault } else { Fault::Pass };
    let answered = |status: u16| {
        let mut answers = state.answers.lock().unwrap_or_else(|p| p.into_inner());
        *answers.entry((method.to_string(), path.clone(), status)).or_default() += 1;
    };
    match fault {
        Fault::Status(status) => {
            answered(status);
            return Ok(refusal(status));
        }
        Fault::Hang => std::future::pending::<()>().await,
        Fault::Pass | Fault::Cut | Fault::Corrupt | Fault::Slow(_) => {}
    }
    let upstream = match forward(&state, req).await {
        Ok(r) => r,
        Err(e) => return Ok(text(StatusCode::BAD_GATEWAY, format!("the fault proxy's upstream failed: {e}"))),
    };
    answered(upstream.status().as_u16());
    let mut answer = Response::builder().status(upstream.status().as_u16());
    for (name, value) in upstream.headers() {
        if !hop_by_hop(name) {
            answer = answer.header(name, value);
        }
    }
    let tampered = method == hyper::Method::GET && upstream.status().is_success();
    let body = match fault {
        Fault::Cut if tampered => match upstream.bytes().await {
            Ok(all) => {
                let half = all.slice(..all.len() / 2);
                // The error waits a moment, so hyper flushes the headers and the half first.
                let cut = futures_util::stream::once(async {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    Err(io::Error::new(io::ErrorKind::ConnectionAborted, "cut by the fault proxy"))
                });
                let frames = futures_util::stream::iter([Ok(Frame::data(half))]).chain(cut);
                BodyExt::boxed(StreamBody::new(frames))
            }
            Err(e) => return Ok(text(StatusCode::BAD_GATEWAY, e.to_string())),
        },
        Fault::Corrupt if tampered => match upstream.bytes().await {
            Ok(all) => Full::new(all.iter().map(|b| !b).collect::<Bytes>()).map_err(|e| match e {}).boxed(),
            Err(e) => return Ok(text(StatusCode::BAD_GATEWAY, e.to_string())),
        },
        Fault::Slow(rate) if tampered => match upstream.bytes().await {
            Ok(all) => {
                let step = (rate as usize / 10).max(1);
                let pieces: Vec<Bytes> =
                    (0..all.len()).step_by(step).map(|at| all.slice(at..all.len().min(at + step))).collect();
                let frames = futures_util::stream::iter(pieces).then(|piece| async move {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    Ok(Frame::data(piece))
                });
                BodyExt::boxed(StreamBody::new(frames))
            }
            Err(e) => return Ok(text(StatusCode::BAD_GATEWAY, e.to_string())),
        },
        _ => BodyExt::boxed(StreamBody::new(upstream.bytes_stream().map_ok(Frame::data).map_err(io::Error::other))),
    };
    Ok(answer.body(body).expect("a response from upstream's parts"))
}

/// `req` sent upstream, its body streamed.
async fn forward(state: &State, req: Request<Incoming>) -> reqwest::Result<reqwest::Response> {
    let (parts, body) = req.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = state.http.request(parts.method, format!("{}{target}", state.upstream));
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) && name != header::HOST {
            out = out.header(name, value);
        }
    }
    if !hyper::body::Body::is_end_stream(&body) {
        let data = BodyStream::new(body).try_filter_map(|frame| async move { Ok(frame.into_data().ok()) });
        out = out.body(reqwest::Body::wrap_stream(data));
    }
    out.send().await
}

fn text(status: StatusCode, words: String) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(words)).map_err(|e| match e {}).boxed();
    Response::builder().status(status).body(body).expect("a plain response")
}

/// `status` with an OCI error body, as a registry refuses.
fn refusal(status: u16) -> Response<ProxyBody> {
    let code = match status {
        429 => "TOOMANYREQUESTS",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"injected by the fault proxy"}}]}}"#);
    let body = Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("an injected refusal")
}

#[cfg(test)]
#[path = "fault_proxy_tests.rs"]
mod tests;

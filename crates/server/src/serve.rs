//! The accept loop: connection limits, optional TLS, header timeout, graceful shutdown.
//!
//! `axum::serve` cannot bound connections or time out slow headers, so connections are served
//! with hyper directly, under these rules ([`crate::conns`] keeps the counts):
//! - One client address (IPv6: one /64) holds at most `max_connections_per_address`
//!   connections. One more is closed at once after accept, without a response: a 503 would
//!   cost a write (and over TLS a whole handshake) for a client already over its share.
//! - At most `max_connections` are served at once. When a new connection finds them all
//!   taken, the connection idle longest (in its TLS handshake, waiting for its first request
//!   headers, or between keep-alive requests) is closed to make room, and the newcomer waits
//!   until it has gone; while none is idle the newcomer waits for a slot, and later clients
//!   wait in the kernel backlog. A connection with a request in flight is never shed: hyper's
//!   graceful shutdown closes an idle connection at once, and one that has read part of a
//!   request's headers is dropped after [`SHED_GRACE`] unless that request has started.
//! - A client gets `header_timeout` to send its request headers (and to finish a TLS
//!   handshake).
//! - On shutdown the listener closes, in-flight requests finish, and idle connections are
//!   closed; after `grace` the rest are dropped.

use crate::conns::{Conn, Conns, InFlight};
use crate::handlers::ClientAddr;
use crate::zerocopy::{PlainStream, ZeroCopy};
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long a shed connection that does not close by itself (it has read part of a request's
/// headers) gets before it is dropped, unless that request has started meanwhile. It also
/// covers the flush of a response that has just ended.
pub const SHED_GRACE: Duration = Duration::from_millis(250);

/// How connections are served.
#[derive(Clone)]
pub struct ServeOptions {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one client address (IPv6: one /64) may hold at once.
    pub max_connections_per_address: usize,
    /// Time allowed for request headers and the TLS handshake.
    pub header_timeout: Duration,
    /// Time in-flight requests get after shutdown begins.
    pub grace: Duration,
    /// TLS, or plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What every connection task shares.
#[derive(Clone)]
struct Serving {
    app: Router,
    http: http1::Builder,
    /// `http` with vectored writes forced, which [`crate::zerocopy`] relies on.
    http_plain: http1::Builder,
    tls: Option<TlsAcceptor>,
    header_timeout: Duration,
    /// Changes once, when the server stops; the server waits until every receiver is gone.
    stop: watch::Receiver<()>,
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn serve(listener: TcpListener, app: Router, opts: ServeOptions, shutdown: impl Future<Output = ()>) {
    let conns = Conns::new(opts.max_connections, opts.max_connections_per_address);
    let (stop, stop_rx) = watch::channel(());
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(opts.header_timeout).keep_alive(true);
    let mut http_plain = http.clone();
    http_plain.writev(true);
    let serving = Serving {
        app,
        http,
        http_plain,
        tls: opts.tls.clone().map(TlsAcceptor::from),
        header_timeout: opts.header_timeout,
        stop: stop_rx,
    };
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = conns.admit(peer.ip()) else {
            tracing::debug!(client = %peer.ip(), "closed a connection over its address's share");
            continue;
        };
        let conn = tokio::select! {
            c = conns.slot(admitted) => c,
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, peer.ip(), conn, serving.clone()));
    }
    drop(listener);
    drop(serving);
    let _ = stop.send(());
    tokio::select! {
        () = stop.closed() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(opts.grace) => tracing::warn!("shutdown grace period over; dropping remaining connections"),
    }
}

/// One connection: its TLS handshake, if any, then HTTP/1.1. Plain connections send blob
/// files with `sendfile(2)` ([`crate::zerocopy`]).
async fn connection(stream: TcpStream, peer: IpAddr, conn: Arc<Conn>, mut serving: Serving) {
    let Some(acceptor) = serving.tls.clone() else {
        let (stream, zero_copy) = PlainStream::new(stream);
        serving.http = serving.http_plain.clone();
        return http(TokioIo::new(stream), peer, Some(zero_copy), conn, serving).await;
    };
    let handshake = tokio::time::timeout(serving.header_timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        r = handshake => match r {
            Ok(Ok(tls)) => tls,
            _ => return,
        },
        () = conn.shed_requested() => return,
        _ = serving.stop.changed() => return,
    };
    http(TokioIo::new(tls), peer, None, conn, serving).await;
}

/// Serves HTTP/1.1 on `io` until the client leaves, the server stops (in-flight requests
/// finish) or the accept loop sheds the connection.
async fn http<I>(io: TokioIo<I>, peer: IpAddr, zero_copy: Option<ZeroCopy>, conn: Arc<Conn>, mut serving: Serving)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (app, tracked) = (serving.app.clone(), conn.clone());
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ClientAddr(peer));
        if let Some(zc) = &zero_copy {
            req.extensions_mut().insert(zc.clone());
        }
        let in_flight = tracked.request();
        let app = app.clone();
        async move {
            let response = app.oneshot(req).await?;
            Ok::<_, Infallible>(response.map(|body| TrackedBody { body, _in_flight: in_flight }))
        }
    });
    let served = serving.http.serve_connection(io, service);
    tokio::pin!(served);
    let shed = tokio::select! {
        _ = served.as_mut() => return,
        () = conn.shed_requested() => true,
        _ = serving.stop.changed() => false,
    };
    served.as_mut().graceful_shutdown();
    if !shed {
        let _ = served.await;
        return;
    }
    if tokio::time::timeout(SHED_GRACE, served.as_mut()).await.is_err() && conn.in_flight() {
        // A request started after all: it finishes, then hyper closes the connection.
        let _ = served.await;
    }
}

/// A response body that keeps its request in flight (so its connection is not shed) until
/// hyper drops it: sent in full, or abandoned with the connection.
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

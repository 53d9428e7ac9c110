//! The accept loop: connection limit, optional TLS, header timeout, graceful shutdown.
//!
//! `axum::serve` cannot bound connections or time out slow headers, so connections are served
//! with hyper directly. At most `max_connections` are served at once (the rest wait in the
//! kernel backlog); a client gets `header_timeout` to send its request headers (and to finish
//! a TLS handshake). On shutdown the listener closes, in-flight requests finish, and idle
//! keep-alive connections are closed; after `grace` the rest are dropped.

use crate::handlers::ClientAddr;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// How connections are served.
#[derive(Clone)]
pub struct ServeOptions {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed for request headers and the TLS handshake.
    pub header_timeout: Duration,
    /// Time in-flight requests get after shutdown begins.
    pub grace: Duration,
    /// TLS, or plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn serve(listener: TcpListener, app: Router, opts: ServeOptions, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(opts.max_connections));
    let acceptor = opts.tls.clone().map(TlsAcceptor::from);
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(opts.header_timeout).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
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
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone().layer(Extension(ClientAddr(peer.ip()))));
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let header_timeout = opts.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => {
                    let _ = watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await;
                }
                Some(acceptor) => {
                    let Ok(Ok(tls)) = tokio::time::timeout(header_timeout, acceptor.accept(stream)).await else {
                        return;
                    };
                    let _ = watcher.watch(builder.serve_connection(TokioIo::new(tls), service)).await;
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(opts.grace) => tracing::warn!("shutdown grace period over; dropping remaining connections"),
    }
}

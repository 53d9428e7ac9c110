//! Request bodies as byte streams, guarded against clients that trickle.
//!
//! A client that sends fewer than `min_bytes` in any `window` is cut off: one byte a second
//! cannot hold an upload (and its file, hash state and connection) open forever, while any
//! real transfer passes untouched.

use axum::body::Body;
use berth_core::ByteStream;
use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;
use std::io;
use std::time::Duration;
use tokio::time::Instant;

/// The minimum transfer rate a request body must keep.
#[derive(Debug, Clone, Copy)]
pub struct MinRate {
    /// Window over which the rate is measured.
    pub window: Duration,
    /// Bytes required per window.
    pub min_bytes: u64,
}

struct State {
    inner: axum::body::BodyDataStream,
    rate: MinRate,
    window_start: Instant,
    seen: u64,
    done: bool,
    counter: Counter,
}

/// The body as a [`ByteStream`] that fails with `TimedOut` when it falls below `rate`, and
/// counts its bytes into `counter`.
pub fn guarded(body: Body, rate: MinRate, counter: Counter) -> ByteStream {
    let state =
        State { inner: body.into_data_stream(), rate, window_start: Instant::now(), seen: 0, done: false, counter };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let deadline = st.window_start + st.rate.window;
            match tokio::time::timeout_at(deadline, st.inner.next()).await {
                Ok(Some(Ok(bytes))) => {
                    st.seen += bytes.len() as u64;
                    st.counter.inc_by(bytes.len() as u64);
                    return Some((Ok(bytes), st));
                }
                Ok(Some(Err(e))) => {
                    st.done = true;
                    return Some((Err(io::Error::other(e)), st));
                }
                Ok(None) => return None,
                Err(_) if st.seen < st.rate.min_bytes => {
                    st.done = true;
                    let msg = format!(
                        "request body slower than {} bytes per {} s",
                        st.rate.min_bytes,
                        st.rate.window.as_secs_f64()
                    );
                    return Some((Err(io::Error::new(io::ErrorKind::TimedOut, msg)), st));
                }
                Err(_) => {
                    st.window_start = Instant::now();
                    st.seen = 0;
                }
            }
        }
    })
    .boxed()
}

/// Why [`read_to_limit`] gave up.
#[derive(Debug)]
pub enum LimitedError {
    /// More than the limit was sent.
    TooLarge,
    /// The body failed.
    Body(String),
}

/// Reads a whole body of at most `max` bytes. A larger body is still read (and thrown away)
/// up to `drain` bytes, so the client, still sending, receives the 413 instead of a reset
/// connection; beyond `drain` the connection is given up.
pub async fn read_to_limit(body: Body, max: usize, drain: usize) -> Result<bytes::Bytes, LimitedError> {
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| LimitedError::Body(e.to_string()))?;
        total += frame.len();
        if total > drain {
            return Err(LimitedError::TooLarge);
        }
        if total <= max {
            buf.extend_from_slice(&frame);
        }
    }
    if total > max { Err(LimitedError::TooLarge) } else { Ok(buf.freeze()) }
}

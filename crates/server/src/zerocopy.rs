//! Blob files sent with `sendfile(2)` on plain-HTTP connections: page cache to socket, with
//! no copy through user space and no buffer per download.
//!
//! hyper writes every response and owns the HTTP/1.1 framing (headers, keep-alive,
//! `Content-Length` accounting), but it only writes bytes it is given. So a file-backed
//! response body ([`file_body`]) hands hyper *stand-ins*: slices of one shared, never-written
//! block of memory (`MARKER`), as many bytes as the file range holds, and queues the file
//! range on its connection. The connection's stream (`PlainStream`) recognises those slices
//! by address when hyper writes them and sends the same number of bytes from the file with
//! `sendfile(2)` instead. Bytes reach the socket in the order hyper writes them, so the queued
//! ranges are consumed in order; stand-ins with no range queued fail the connection instead of
//! sending anything.
//!
//! This relies on hyper passing body bytes through to the stream without copying them, which
//! it does with vectored writes (its "queue" strategy); the plain-HTTP connection builder
//! asks for them explicitly (`http1::Builder::writev(true)`). TLS connections never see a
//! [`ZeroCopy`] handle: their blobs are streamed through buffers (`BlobStore::read`).

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Bytes one stand-in frame covers (and so at most one `sendfile` call sends).
const MARKER_LEN: usize = 1024 * 1024;

/// The stand-in bytes. Allocated zeroed (fresh pages the kernel maps on first touch, and
/// nothing ever touches them), so they cost address space but no memory.
static MARKER: LazyLock<&'static [u8]> = LazyLock::new(|| Vec::leak(vec![0u8; MARKER_LEN]));

fn is_marker(buf: &[u8]) -> bool {
    !buf.is_empty() && MARKER.as_ptr_range().contains(&buf.as_ptr())
}

/// A file range waiting to be sent on a connection.
struct Pending {
    file: std::fs::File,
    offset: u64,
    left: u64,
}

type Queue = Arc<Mutex<VecDeque<Pending>>>;

/// A plain-HTTP connection's handle for zero-copy responses, set on each of its requests.
#[derive(Clone)]
pub struct ZeroCopy(Queue);

/// The connection's TCP stream, which sends stand-in bytes from the queued files.
pub(crate) struct PlainStream {
    tcp: TcpStream,
    queue: Queue,
}

impl PlainStream {
    /// Wraps `tcp`; the handle goes on every request of the connection.
    pub(crate) fn new(tcp: TcpStream) -> (Self, ZeroCopy) {
        let queue = Queue::default();
        (PlainStream { tcp, queue: queue.clone() }, ZeroCopy(queue))
    }

    /// Sends up to `max` bytes of the first queued file range.
    fn poll_sendfile(&self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(job) = queue.front_mut() else {
            return Poll::Ready(Err(io::Error::other("zero-copy stand-in bytes with no file queued")));
        };
        let count = usize::try_from(job.left).unwrap_or(usize::MAX).min(max);
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let sent = self.tcp.try_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(&self.tcp, &job.file, Some(&mut job.offset), count).map_err(io::Error::from)
            });
            match sent {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob file ended early")));
                }
                Ok(n) => {
                    job.left -= n as u64;
                    if job.left == 0 {
                        queue.pop_front();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for PlainStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for PlainStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if is_marker(buf) {
            return self.poll_sendfile(cx, buf.len());
        }
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    /// Writes the slices before the first stand-in; a stand-in first is sent from its file.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match bufs.iter().position(|b| is_marker(b)) {
            Some(i) if bufs[..i].iter().all(|b| b.is_empty()) => this.poll_sendfile(cx, bufs[i].len()),
            Some(i) => Pin::new(&mut this.tcp).poll_write_vectored(cx, &bufs[..i]),
            None => Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// A response body of `len` bytes from `offset` of `file`, sent by the connection `zc`
/// belongs to. The range is queued when hyper first asks for the body, that is, after every
/// earlier response on the connection has handed over its last byte.
pub fn file_body(zc: &ZeroCopy, file: std::fs::File, offset: u64, len: u64) -> axum::body::Body {
    axum::body::Body::new(FileBody { queue: zc.0.clone(), file: Some(Pending { file, offset, left: len }), left: len })
}

struct FileBody {
    queue: Queue,
    /// The range, until it is queued.
    file: Option<Pending>,
    /// Stand-in bytes still to hand to hyper.
    left: u64,
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        if let Some(pending) = this.file.take() {
            this.queue.lock().unwrap_or_else(PoisonError::into_inner).push_back(pending);
        }
        let n = usize::try_from(this.left).unwrap_or(usize::MAX).min(MARKER_LEN);
        this.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&MARKER[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

//! A job's inference socket with a cap on open connections: past it, the next
//! connection is accepted only when one closes, so a job cannot exhaust the node's file
//! descriptors through its proxy.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A job's socket with at most a fixed number of connections open: past it, the next
/// connection is accepted only when one closes.
pub(super) struct LimitedListener {
    inner: UnixListener,
    open: Arc<Semaphore>,
}

impl LimitedListener {
    /// Listens on `socket` with at most `max_connections` open at once.
    pub fn bind(socket: &Path, max_connections: usize) -> std::io::Result<Self> {
        Ok(Self {
            inner: UnixListener::bind(socket)?,
            open: Arc::new(Semaphore::new(max_connections.max(1))),
        })
    }
}

/// A connection holding its place until it closes.
pub(super) struct LimitedStream {
    inner: UnixStream,
    _place: OwnedSemaphorePermit,
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let place = match self.open.clone().acquire_owned().await {
            Ok(place) => place,
            // Never closed; a closed semaphore would mean the socket is going away.
            Err(_) => std::future::pending().await,
        };
        let (inner, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (
            LimitedStream {
                inner,
                _place: place,
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

//! What the tokio driver runs over: any `AsyncRead + AsyncWrite`, plain or upgraded to TLS in
//! place.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A byte stream the tokio driver can run a machine over: TCP, a Unix socket, an in-memory
/// duplex pipe, or your own type.
///
/// [`poll_read_ready`](Self::poll_read_ready) lets an idle connection wait without holding a
/// read buffer. The default says "ready at once", which is always correct: the driver then
/// waits in a read with a small buffer instead.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {
    /// Ready when a read would not block (or the stream has failed or ended).
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for tokio::net::TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::TcpStream::poll_read_ready(self, cx)
    }
}

#[cfg(unix)]
impl Transport for tokio::net::UnixStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::UnixStream::poll_read_ready(self, cx)
    }
}

impl Transport for tokio::io::DuplexStream {}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_read_ready(cx)
    }
}

/// A transport in plaintext or after the TLS handshake (either side).
pub(crate) enum Stream<T> {
    Plain(T),
    #[cfg(feature = "rustls")]
    Client(Box<tokio_rustls::client::TlsStream<T>>),
    #[cfg(feature = "rustls")]
    Server(Box<tokio_rustls::server::TlsStream<T>>),
    /// Only while the handshake runs, or after it failed.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    Broken,
}

impl<T: Transport> Stream<T> {
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_) | Self::Broken)
    }

    /// The transport's readiness, seen through the TLS layer.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Plain(io) => io.poll_read_ready(cx),
            #[cfg(feature = "rustls")]
            Self::Client(tls) => {
                let (io, session) = tls.get_ref();
                ready_under_tls(io, session.wants_read(), cx)
            }
            #[cfg(feature = "rustls")]
            Self::Server(tls) => {
                let (io, session) = tls.get_ref();
                ready_under_tls(io, session.wants_read(), cx)
            }
            Self::Broken => Poll::Ready(Ok(())),
        }
    }
}

/// Under TLS: ready at once while rustls holds plaintext not yet read (records that came with
/// the handshake, or several records in one segment); otherwise when the socket is.
#[cfg(feature = "rustls")]
fn ready_under_tls<T: Transport>(
    io: &T,
    wants_read: bool,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if wants_read {
        io.poll_read_ready(cx)
    } else {
        Poll::Ready(Ok(()))
    }
}

macro_rules! dispatch {
    ($self:ident, $io:ident => $call:expr) => {
        match $self.get_mut() {
            Stream::Plain($io) => $call,
            #[cfg(feature = "rustls")]
            Stream::Client($io) => $call,
            #[cfg(feature = "rustls")]
            Stream::Server($io) => $call,
            Stream::Broken => Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected))),
        }
    };
}

impl<T: Transport> AsyncRead for Stream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        dispatch!(self, io => Pin::new(io).poll_read(cx, buf))
    }
}

impl<T: Transport> AsyncWrite for Stream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        dispatch!(self, io => Pin::new(io).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self, io => Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        dispatch!(self, io => Pin::new(io).poll_shutdown(cx))
    }
}

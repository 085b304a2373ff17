//! A connection that starts in plaintext or TLS and can be upgraded in band.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

/// A TCP connection, in plaintext or TLS (either side).
pub enum Conn {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS, this side the server.
    Server(Box<server::TlsStream<TcpStream>>),
    /// TLS, this side the client.
    Client(Box<client::TlsStream<TcpStream>>),
    /// Between states (only while upgrading).
    Gone,
}

impl Conn {
    /// Starts TLS as the server (STARTTLS, STLS, or implicit TLS).
    pub async fn accept_tls(self, acceptor: &TlsAcceptor) -> io::Result<Self> {
        match self {
            Self::Plain(tcp) => Ok(Self::Server(Box::new(acceptor.accept(tcp).await?))),
            _ => Err(io::Error::other("TLS is already up")),
        }
    }

    /// Starts TLS as the client.
    pub async fn connect_tls(
        self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> io::Result<Self> {
        match self {
            Self::Plain(tcp) => Ok(Self::Client(Box::new(connector.connect(name, tcp).await?))),
            _ => Err(io::Error::other("TLS is already up")),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $io:ident => $call:expr) => {
        match $self.get_mut() {
            Conn::Plain($io) => $call,
            Conn::Server($io) => $call,
            Conn::Client($io) => $call,
            Conn::Gone => Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected))),
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        dispatch!(self, io => Pin::new(io).poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
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

//! The clients' connection (`send`, `fetch`): plaintext or TLS, upgraded in band.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsConnector, client};

/// A TCP connection, in plaintext or TLS (the client side).
pub enum Conn {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS, this side the client.
    Client(Box<client::TlsStream<TcpStream>>),
    /// Between states (only while upgrading).
    Gone,
}

/// How long a TLS handshake, or one write to a peer that does not read, may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// One read from the connection.
pub enum Input {
    /// This many octets arrived.
    Data(usize),
    /// The peer closed (or the connection broke).
    Eof,
    /// The peer was silent for the machine's timeout.
    Timeout,
}

impl Conn {
    /// Starts TLS as the client, in place, within [`IO_TIMEOUT`].
    pub async fn connect_tls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> io::Result<()> {
        self.flush().await?;
        let Self::Plain(tcp) = std::mem::replace(self, Self::Gone) else {
            return Err(io::Error::other("TLS is already up"));
        };
        let tls = tokio::time::timeout(IO_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        *self = Self::Client(Box::new(tls));
        Ok(())
    }

    /// Writes everything within [`IO_TIMEOUT`]: a peer that stops reading cannot hold a
    /// session (and a POP3 maildrop lock) for ever.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        tokio::time::timeout(IO_TIMEOUT, self.write_all(bytes))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))?
    }

    /// Reads once, waiting at most `timeout` (an hour when the machine states none).
    pub async fn read_for(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Input {
        let timeout = timeout.unwrap_or(Duration::from_secs(3600));
        match tokio::time::timeout(timeout, self.read(buf)).await {
            Err(_) => Input::Timeout,
            Ok(Ok(0)) | Ok(Err(_)) => Input::Eof,
            Ok(Ok(n)) => Input::Data(n),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $io:ident => $call:expr) => {
        match $self.get_mut() {
            Conn::Plain($io) => $call,
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

//! What can go wrong on a connection, beside what the machines report as events.

use std::io;
use std::time::Duration;

/// Why a connection failed at the I/O edge. What the peer said (refusals, protocol violations)
/// comes from the machines as events; this is what the driver itself ran into.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting failed (refused, unreachable, no address).
    #[error("connecting: {0}")]
    Connect(#[source] io::Error),
    /// Connecting took longer than [`IoConfig::connect_timeout`](crate::IoConfig::connect_timeout).
    #[error("connecting took longer than {0:?}")]
    ConnectTimeout(Duration),
    /// A read or write failed.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// The peer did not take what was written within
    /// [`IoConfig::write_timeout`](crate::IoConfig::write_timeout).
    #[error("the peer did not read for {0:?}")]
    WriteTimeout(Duration),
    /// The TLS handshake did not finish within
    /// [`IoConfig::handshake_timeout`](crate::IoConfig::handshake_timeout).
    #[error("the TLS handshake took longer than {0:?}")]
    HandshakeTimeout(Duration),
    /// The TLS handshake failed (certificate, protocol, or the peer spoke something else).
    #[error("TLS handshake: {0}")]
    Tls(#[source] io::Error),
    /// The machine asked for TLS (STARTTLS, STLS) and the connection has no TLS settings, or
    /// it runs over TLS already.
    #[error("TLS was asked for and is not available on this connection")]
    TlsUnavailable,
    /// The application misused a machine (the machine's own `ApiError`, as text).
    #[error("API misuse: {0}")]
    Api(String),
}

impl Error {
    /// Whether a timer of the driver ran out (connect, write or handshake).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout(_) | Self::WriteTimeout(_) | Self::HandshakeTimeout(_)
        )
    }

    pub(crate) fn api(error: impl std::fmt::Display) -> Self {
        Self::Api(error.to_string())
    }
}

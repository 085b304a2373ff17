//! Drivers for the sans-IO mail machines of this workspace: the I/O loop, written once.
//!
//! `smtp-proto` and `pop3-proto` hold pure state machines (SMTP/LMTP client and server, POP3
//! client and server) that never touch a socket, a clock or a file. This crate runs them over
//! real connections, so nobody writes that loop again:
//!
//! - [`Connection`] (tokio, default feature `tokio`) drives any machine that implements
//!   [`mail_wire::machine::Machine`] over any [`Transport`]: one write per drain, flushed before
//!   each wait; read, write and TLS handshake timeouts; back-pressure without loss; buffers
//!   given back when idle; STARTTLS/STLS and implicit TLS with rustls (feature `rustls`);
//!   a [`Shutdown`] signal.
//!
//! Nothing here decides policy: that stays with the application (or with the handler traits of
//! the servers).
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![forbid(unsafe_code)]

#[cfg(feature = "blocking")]
pub mod blocking;
mod config;
mod error;
mod shutdown;
#[cfg(feature = "rustls")]
pub mod tls;

#[cfg(feature = "tokio")]
mod accept;
#[cfg(feature = "tokio")]
mod connection;
#[cfg(feature = "tokio")]
pub mod pop3;
#[cfg(feature = "tokio")]
pub mod smtp;
#[cfg(feature = "tokio")]
mod transport;

pub use config::IoConfig;
pub use error::Error;
pub use shutdown::Shutdown;
#[cfg(feature = "rustls")]
pub use tls::{TlsClient, TlsServer};

#[cfg(feature = "tokio")]
pub use accept::ServeOptions;
#[cfg(feature = "tokio")]
pub use connection::Connection;
#[cfg(feature = "tokio")]
pub use transport::Transport;

/// The machine trait the drivers run, re-exported.
pub use mail_wire::machine::{Machine, Output};

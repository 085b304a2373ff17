//! Drivers for the sans-IO mail machines of this workspace: the I/O loop, written once.
//!
//! `smtp-proto` and `pop3-proto` hold pure state machines (SMTP/LMTP client and server, POP3
//! client and server) that never touch a socket, a clock or a file. This crate runs them over
//! real connections, so nobody writes that loop again. An SMTP server that takes every message,
//! and a client that sends it one, in process:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mail_io::smtp::{serve, Client, Envelope, Handler, Mailbox, ServerConfig};
//! use mail_io::ServeOptions;
//!
//! struct Sink; // every decision keeps its default: accept
//! impl Handler for Sink {}
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?.to_string();
//! let options = ServeOptions::new();
//! let shutdown = options.shutdown.clone();
//! let server = tokio::spawn(serve(listener, ServerConfig::default(), options, |_| Sink));
//!
//! let mut client = Client::connect(address).plaintext().await?;
//! let envelope = Envelope::new(Mailbox::parse("alice@example.org")?)
//!     .to(Mailbox::parse("bob@example.com")?);
//! let report = client.send(envelope, &b"Subject: hi\r\n\r\nHello.\r\n"[..]).await?;
//! assert!(report.is_delivered_to_all());
//! client.quit().await?;
//!
//! shutdown.trigger(); // open sessions get 421; the accept loop ends
//! server.await?;
//! # Ok(())
//! # }
//! ```
//!
//! - [`smtp`]: [`smtp::Client`] (connect, STARTTLS or implicit TLS, AUTH, send messages with
//!   streamed bodies, per-recipient reports) and [`smtp::serve`] with a [`smtp::Handler`] (one
//!   async method per decision, safe defaults).
//! - [`pop3`]: [`pop3::Client`] (login, STAT/LIST/UIDL, RETR/TOP streamed, DELE, QUIT with the
//!   commit outcome) and [`pop3::serve`] over a [`pop3::Maildrop`].
//! - [`Connection`]: the driver underneath, for any machine implementing [`Machine`] over any
//!   [`Transport`]: every transmission of one drain in one write, flushed before each wait;
//!   `TCP_NODELAY`; read timeouts from the machine, write and TLS handshake timeouts from
//!   [`IoConfig`]; back-pressure without loss; no read buffer held while idle; STARTTLS/STLS and
//!   implicit TLS with rustls ([`TlsClient`], [`TlsServer`]); a [`Shutdown`] signal.
//! - `blocking` (feature `blocking`): the same for threads over `std::net::TcpStream`.
//!
//! Features: `tokio` (default), `rustls` (default), `blocking`. Nothing here decides policy:
//! that stays with the application, through the handler traits.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![forbid(unsafe_code)]

#[cfg(feature = "blocking")]
pub mod blocking;
mod config;
mod error;
// What the tokio and blocking sides share.
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod pop3_client;
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod pop3_server;
mod serve_options;
mod shutdown;
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod smtp_client;
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
pub use serve_options::ServeOptions;
pub use shutdown::Shutdown;
#[cfg(feature = "rustls")]
pub use tls::{TlsClient, TlsServer};

#[cfg(feature = "tokio")]
pub use accept::SessionLimit;
#[cfg(feature = "tokio")]
pub use connection::Connection;
#[cfg(feature = "tokio")]
pub use transport::Transport;

/// The machine trait the drivers run, re-exported.
pub use mail_wire::machine::{Machine, Output};

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
//! Nothing here decides policy: that stays with the application, through the handler traits.
//!
//! # The driving loop
//!
//! [`Connection`] is the loop that `smtp-proto` and `pop3-proto` describe, written once: it
//! feeds what the socket read to the machine (keeping what the machine did not take, first in
//! line), drains `poll_output` after every input, writes every transmission of one drain in one
//! write and flushes before it waits, starts TLS when the machine says so, and waits for input
//! no longer than the machine's `timeout()`. Events come out of [`Connection::next_event`] for
//! the application to answer on the machine ([`Connection::machine_mut`]); the high-level
//! clients and servers above are built on it.
//!
//! # Features
//!
//! - `tokio` (default): the tokio driver ([`Connection`], [`Transport`]) and the async clients
//!   and servers ([`smtp`], [`pop3`]).
//! - `rustls` (default): TLS with rustls (STARTTLS, STLS, implicit TLS; [`TlsClient`],
//!   [`TlsServer`], the [`tls`] module), with tokio-rustls under `tokio`, and Mozilla's roots
//!   from webpki-roots for [`TlsClient::webpki`].
//! - `blocking`: the blocking driver, clients and POP3 server for std threads (the `blocking`
//!   module); `default-features = false, features = ["blocking"]` builds it without tokio's
//!   runtime.
//!
//! # Examples
//!
//! In `mail-io/examples/` of the repository (run from a clone; `.ci/examples.sh` runs them all
//! against real peers):
//!
//! - `smtp_send.rs`: send one message with STARTTLS and AUTH PLAIN, print the outcome per
//!   recipient (`cargo run -p mail-io --example smtp_send -- HOST:PORT USER PASSWORD FROM TO
//!   [CA.pem] < message.eml`).
//! - `smtp_sink.rs`: an SMTP server that accepts every message and prints a line per message
//!   (`cargo run -p mail-io --example smtp_sink -- 2525`).
//! - `pop3_memory.rs`: a POP3 server over a maildrop in memory
//!   (`cargo run -p mail-io --example pop3_memory -- 1110`, log in as `alice` / `secret`).
//! - `pop3_blocking_memory.rs`: the same, one thread per connection
//!   (`cargo run -p mail-io --features blocking --example pop3_blocking_memory -- 1100`).
//!
//! The `post-office` program of the same repository is a whole mail server and client on this
//! crate.
//!
//! # Out of scope, and where to find it
//!
//! - Building and parsing messages: a body is opaque bytes here. Use
//!   [mail-builder](https://docs.rs/mail-builder) to build one (its bytes go to
//!   [`smtp::Client::send`]) and [mail-parser](https://docs.rs/mail-parser) to read one,
//!   delivery status reports (RFC 3464 `multipart/report`) included.
//! - DNS: the SMTP client connects to the host it is given; finding a domain's mail exchangers
//!   (MX records, RFC 5321 5.1) is for a resolver such as
//!   [hickory-resolver](https://docs.rs/hickory-resolver).
//! - Queues, retries, relaying, DKIM, SPF and DMARC: policy for the application.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

// The README's examples run as doc tests too, so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "blocking")]
pub mod blocking;
mod client_limits;
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod closing;
mod config;
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod deadline;
mod error;
// What the tokio and blocking sides share.
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod pop3_client;
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod pop3_server;
#[cfg(any(feature = "tokio", feature = "blocking"))]
mod refusals;
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
#[cfg(all(test, feature = "tokio"))]
mod test_support;
#[cfg(feature = "tokio")]
mod transport;

pub use client_limits::{ClientLimits, ClientRefusals, Network, NetworkError};
pub use config::IoConfig;
pub use error::Error;
pub use serve_options::{SERVER_SESSION_TIMEOUT, ServeOptions};
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

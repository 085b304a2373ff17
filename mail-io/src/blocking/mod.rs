//! The blocking driver (std threads): the same as the tokio one over `std::net::TcpStream` (or
//! any [`Transport`]) and rustls's blocking API, for thread-per-connection programs.
//!
//! - [`Connection`] drives any machine that implements [`Machine`](crate::Machine), with the
//!   methods and guarantees of the tokio [`Connection`](crate::Connection): one write per
//!   drain, flushed before each wait; read, write and TLS handshake timeouts (deadlines, so a
//!   trickling peer cannot stretch them); back-pressure without loss; buffers given back when
//!   idle; STARTTLS/STLS and implicit TLS with rustls (feature `rustls`); a
//!   [`Shutdown`](crate::Shutdown) signal, looked at every 250 ms while waiting.
//! - [`smtp::Client`] sends messages; [`pop3::Client`] lists, retrieves and deletes.
//! - [`pop3::serve`] runs a POP3 server over a [`pop3::Maildrop`], one thread per connection;
//!   [`pop3::run_session`] runs one session over any connection.
//!
//! Nothing here needs tokio: build with `default-features = false, features = ["blocking"]`
//! (and `"rustls"` for TLS).
//!
//! ```no_run
//! use mail_io::blocking::smtp::{Client, Envelope, Mailbox};
//! use mail_io::TlsClient;
//!
//! let mut client = Client::connect("mail.example.com:587")
//!     .starttls(TlsClient::webpki("mail.example.com")?)
//!     .credentials("alice", "secret")
//!     .connect()?;
//! let envelope = Envelope::new(Mailbox::parse("alice@example.com")?)
//!     .to(Mailbox::parse("bob@example.org")?);
//! let report = client.send(envelope, &b"Subject: hi\r\n\r\nHello.\r\n"[..])?;
//! assert!(report.is_delivered_to_all());
//! client.quit()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accept;
mod connection;
pub mod pop3;
mod refuse;
pub mod smtp;
mod transport;

pub use crate::ServeOptions;
pub use connection::Connection;
pub use transport::Transport;
